"""What the report reads, gathered from an :class:`IndexResult` or from a results folder.

The report never touches the pipeline. It works on :class:`ReportData`, a flat, immutable
view of a result that can be built from two sources:

* :func:`from_result` — an :class:`~securindex.result.IndexResult` in memory (every field
  is available, including indicator names, units and the pipeline's methods);
* :func:`from_folder` — a folder written by :meth:`IndexResult.write` (``scores.csv``,
  ``raw.csv``, ``imputed.csv``, ``treated.csv``, ``normalised.csv``, ``audit.csv``,
  ``indicator_audit.csv`` and ``result.json``). Names, units and polarities are read from
  ``result.json`` when it carries them (``framework.indicators``, ``framework.nodes``,
  ``framework.pipeline``, ``data.name``, ``created``); otherwise ids stand in for names.

Entity labels are turned into text in both cases, so an entity id ``1001`` read back from
a CSV file and the same id held as an integer in memory render the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.errors import DataError

if TYPE_CHECKING:
    from securindex.result import IndexResult

__all__ = ["ReportData", "from_folder", "from_result", "load"]

ENTITY = "entity"
PERIOD = "period"
AUDIT_COLUMNS = ["stage", "entity", "period", "item", "action", "detail"]
INDICATOR_AUDIT_COLUMNS = [ENTITY, PERIOD, "indicator", "reason"]

# Files of a results folder the report cannot do without; the others are optional.
REQUIRED_FILES = ("scores.csv", "raw.csv", "treated.csv", "normalised.csv", "result.json")


@dataclass(frozen=True)
class ReportData:
    """A flat view of one composite-index result, as the report needs it.

    Every frame is indexed by ``(entity, period)`` with entity labels as text.

    Attributes
    ----------
    framework_id
        Id of the root node (the composite index's score column).
    name, version, description
        Identification of the framework.
    tree
        Children of every inner node, the root included, in framework order.
    labels
        Readable name of every node and indicator (the id when none is known).
    units
        Declared unit of every indicator (``""`` when unknown).
    polarity
        ``positive`` or ``negative`` for every indicator (``""`` when unknown).
    indicators
        Indicator ids in the order of the tree's leaves.
    raw, treated, normalised
        Indicator values at three stages [declared units / treated units / score].
    imputed_mask
        True where a raw value was missing and filled by imputation.
    scores, ranks
        One column per inner node [score] and its rank within the period (1 = best).
    weights
        For each inner node, its children's weights [unitless, sum 1].
    effective_weights
        Each indicator's overall weight through the tree [unitless, sum 1].
    treatment, normalisation
        What outlier treatment did and what each normaliser learnt, one row per indicator.
    audit
        ``stage, entity, period, item, action, detail``: every action taken on the data.
    indicator_audit
        ``entity, period, indicator, reason``: values that could not be computed.
    pipeline
        Each pipeline step's method and parameters as text (empty when unknown).
    data_name, created
        Name of the dataset and when the result was computed, when known.
    id_names
        The data's own names of the id columns (``entity``, ``period``, ``label`` keys).
    entity_labels
        Display name of each entity (from the data dictionary's ``label:`` column); an
        entity without one is shown by its id.
    root_aggregation
        The aggregation method of the index itself (``arithmetic``, ``geometric`` …; empty
        when unknown): whether the pillar decomposition is exact or approximate.
    """

    framework_id: str
    name: str
    version: str
    description: str
    tree: dict[str, tuple[str, ...]]
    labels: dict[str, str]
    units: dict[str, str]
    polarity: dict[str, str]
    indicators: tuple[str, ...]
    raw: pd.DataFrame
    treated: pd.DataFrame
    normalised: pd.DataFrame
    imputed_mask: pd.DataFrame
    scores: pd.DataFrame
    ranks: pd.DataFrame
    weights: dict[str, pd.Series]
    effective_weights: pd.Series
    treatment: pd.DataFrame
    normalisation: pd.DataFrame
    audit: pd.DataFrame
    indicator_audit: pd.DataFrame
    pipeline: dict[str, str] = field(default_factory=dict)
    data_name: str | None = None
    created: str | None = None
    id_names: dict[str, str] = field(default_factory=dict)
    entity_labels: dict[str, str] = field(default_factory=dict)
    root_aggregation: str = ""
    areas: Any = None  # the entities' polygons (securindex.geo.Areas), for the map sections

    @property
    def pillars(self) -> tuple[str, ...]:
        """The root's children (top-level pillars)."""
        return self.tree[self.framework_id]

    @property
    def periods(self) -> list[Any]:
        """Periods present in the scores, sorted."""
        return sorted(self.scores.index.unique(PERIOD))

    @property
    def entities(self) -> list[str]:
        """Entities present in the scores, sorted."""
        return sorted(self.scores.index.unique(ENTITY))

    def label(self, item: str) -> str:
        """Readable name of a node or indicator."""
        return self.labels.get(item) or item

    def display(self, entity: str) -> str:
        """Display name of an entity: its label, else its id."""
        return self.entity_labels.get(entity) or entity

    def resolve_entity(self, name: str) -> str | None:
        """The entity id of ``name``, given as an id or as a label (None: neither)."""
        if name in self.entity_labels or name in set(self.entities):
            return name
        matches = [e for e, label in self.entity_labels.items() if label == name]
        if not matches:
            folded = name.casefold()
            matches = [e for e, label in self.entity_labels.items() if label.casefold() == folded]
        return matches[0] if len(matches) == 1 else None

    def values_of(self, item: str) -> pd.Series:
        """Score of an inner node, or normalised value of an indicator [score]."""
        if item in self.scores.columns:
            return self.scores[item]
        return self.normalised[item]


# -- helpers -------------------------------------------------------------------------------
def _text_entities(frame: pd.DataFrame) -> pd.DataFrame:
    """The same frame with the entity level of its index as text."""
    index = frame.index
    entities = index.get_level_values(ENTITY).astype(str)
    periods = index.get_level_values(PERIOD)
    out = frame.copy()
    out.index = pd.MultiIndex.from_arrays([entities, periods], names=[ENTITY, PERIOD])
    return out


def _leaves(tree: Mapping[str, tuple[str, ...]], root: str) -> list[str]:
    """Leaves of the tree, depth first, in the order children are listed."""
    out: list[str] = []

    def visit(node: str) -> None:
        for child in tree.get(node, ()):
            if child in tree:
                visit(child)
            else:
                out.append(child)

    visit(root)
    return out


def _step_text(method: str, params: Mapping[str, Any]) -> str:
    """``method (a=1, b=2)``; only the parameters for a setting without a method."""
    inner = ", ".join(f"{k}={v}" for k, v in params.items())
    if not method:
        return inner
    return f"{method} ({inner})" if inner else method


# -- from an IndexResult ---------------------------------------------------------------------
def from_result(result: IndexResult, *, data_name: str | None = None) -> ReportData:
    """Gather what the report needs from an :class:`IndexResult` in memory."""
    framework = result.framework
    spec = framework.spec
    root = framework.id
    tree = {node: tuple(children) for node, children in framework.children.items()}
    indicators = tuple(framework.indicators)
    labels: dict[str, str] = {root: spec.name or root}
    labels.update({node_id: node.name or node_id for node_id, node in framework.nodes.items()})
    units: dict[str, str] = {}
    polarity: dict[str, str] = {}
    for indicator_id in indicators:
        definition = framework.catalogue[indicator_id]
        labels[indicator_id] = definition.name or indicator_id
        units[indicator_id] = str(definition.unit)
        polarity[indicator_id] = framework.polarity(indicator_id)
    pipeline = {
        step: _step_text(getattr(spec.pipeline, step).method, getattr(spec.pipeline, step).params)
        for step in ("screen", "impute", "treat", "normalise", "weight", "aggregate")
    }
    missing = getattr(spec.pipeline, "missing", None)
    if missing is not None and hasattr(missing, "model_dump"):
        pipeline["missing"] = _step_text("", missing.model_dump())
    name = data_name or getattr(result, "data_name", None)
    indicator_audit = getattr(result.indicator_values, "audit", None)
    if indicator_audit is None:
        indicator_audit = pd.DataFrame(columns=INDICATOR_AUDIT_COLUMNS)
    audit = result.audit if len(result.audit.columns) else pd.DataFrame(columns=AUDIT_COLUMNS)
    id_names = {"entity": ENTITY, "period": PERIOD, **getattr(result, "id_names", {})}
    entity_labels: dict[str, str] = {}
    if "label" in result.groups.columns:
        by_entity = result.groups["label"].droplevel(PERIOD)
        by_entity = by_entity[~by_entity.index.duplicated()]
        entity_labels = {str(e): str(v) for e, v in by_entity.items() if pd.notna(v)}
    return ReportData(
        framework_id=root,
        name=spec.name or root,
        version=str(spec.version),
        description=spec.description,
        tree=tree,
        labels=labels,
        units=units,
        polarity=polarity,
        indicators=indicators,
        raw=_text_entities(result.raw),
        treated=_text_entities(result.treated),
        normalised=_text_entities(result.normalised),
        imputed_mask=_text_entities(result.imputed_mask.astype(bool)),
        scores=_text_entities(result.scores),
        ranks=_text_entities(result.ranks),
        weights={k: v.astype(np.float64) for k, v in result.weights.items()},
        effective_weights=result.effective_weights.astype(np.float64),
        treatment=result.treatment.copy(),
        normalisation=result.normalisation.copy(),
        audit=audit.copy(),
        indicator_audit=indicator_audit.copy(),
        pipeline=pipeline,
        data_name=str(name) if name else None,
        created=None,
        id_names=id_names,
        entity_labels=entity_labels,
        root_aggregation=str(framework.aggregate_step(root).method),
    )


# -- from a folder ------------------------------------------------------------------------
def _read_stage(path: Path, ids: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A stage file, indexed by (entity, period); ``ids`` are the file's id column names."""
    entity = (ids or {}).get(ENTITY, ENTITY)
    period = (ids or {}).get(PERIOD, PERIOD)
    frame = pd.read_csv(path, dtype={entity: str})
    frame = frame.rename(columns={entity: ENTITY, period: PERIOD})
    label = (ids or {}).get("label")
    if label and label in frame.columns:
        frame = frame.drop(columns=label)
    missing = [c for c in (ENTITY, PERIOD) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: column(s) {missing} not found; columns are {list(frame.columns)[:10]}. "
            "Expected a file written by IndexResult.write (securindex compute ... -o FOLDER)."
        )
    return frame.set_index([ENTITY, PERIOD])


def _records(value: Any) -> pd.DataFrame:
    return pd.DataFrame(value if isinstance(value, list) else [])


def from_folder(folder: str | Path, *, data_name: str | None = None) -> ReportData:
    """Read a results folder written by :meth:`IndexResult.write`.

    Raises
    ------
    DataError
        The folder or one of the required files (``scores.csv``, ``raw.csv``,
        ``treated.csv``, ``normalised.csv``, ``result.json``) is missing or malformed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"results folder '{folder}' not found (or not a folder); write one with "
            "'securindex compute FRAMEWORK DATA -o FOLDER' or IndexResult.write(FOLDER)"
        )
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"results folder '{folder}' lacks {missing}; expected the files written by "
            "IndexResult.write (securindex compute FRAMEWORK DATA -o FOLDER)"
        )
    try:
        meta = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder / 'result.json'}: not readable JSON ({exc})") from None
    framework = meta.get("framework") or {}
    root = str(framework.get("id") or "")
    raw_tree = framework.get("tree") or {}
    if not root or root not in raw_tree:
        raise DataError(
            f"{folder / 'result.json'}: 'framework.id' and 'framework.tree' (with the root "
            f"'{root}') are required; found keys {sorted(framework)}"
        )
    tree = {str(k): tuple(str(c) for c in v) for k, v in raw_tree.items()}
    data_meta = meta.get("data") or {}
    ids = {ENTITY: ENTITY, PERIOD: PERIOD}
    if isinstance(data_meta, Mapping) and isinstance(data_meta.get("ids"), Mapping):
        ids.update({str(k): str(v) for k, v in data_meta["ids"].items() if v})
    entity_labels: dict[str, str] = {}
    if ids.get("label"):
        named = pd.read_csv(folder / "scores.csv", dtype=str)
        if {ids[ENTITY], ids["label"]} <= set(named.columns):
            pairs = named[[ids[ENTITY], ids["label"]]].dropna().drop_duplicates(ids[ENTITY])
            entity_labels = dict(zip(pairs[ids[ENTITY]], pairs[ids["label"]], strict=True))

    table = _read_stage(folder / "scores.csv", ids)
    rank_columns = [c for c in table.columns if c.startswith("rank_")]
    scores = table.drop(columns=rank_columns).astype(np.float64)
    ranks = table[rank_columns].rename(columns=lambda c: c[len("rank_") :]).astype(np.float64)
    if root not in scores.columns:
        raise DataError(
            f"{folder / 'scores.csv'}: no column '{root}' (the index); columns are "
            f"{list(scores.columns)[:10]}"
        )
    raw = _read_stage(folder / "raw.csv", ids).astype(np.float64)
    treated = _read_stage(folder / "treated.csv", ids).astype(np.float64)
    normalised = _read_stage(folder / "normalised.csv", ids).astype(np.float64)
    if (folder / "imputed.csv").is_file():
        imputed = _read_stage(folder / "imputed.csv", ids).astype(np.float64)
        imputed_mask = raw.isna() & imputed.reindex_like(raw).notna()
    else:
        imputed_mask = pd.DataFrame(False, index=raw.index, columns=raw.columns)

    leaves = _leaves(tree, root)
    indicators = tuple(i for i in leaves if i in raw.columns) or tuple(raw.columns)

    described = framework.get("indicators") or {}
    nodes = framework.get("nodes") or {}
    labels: dict[str, str] = {root: str(framework.get("name") or root)}
    for node in tree:
        if node != root:
            labels[node] = str((nodes.get(node) or {}).get("name") or node)
    units: dict[str, str] = {}
    polarity: dict[str, str] = {}
    for indicator_id in indicators:
        info = described.get(indicator_id) or {}
        labels[indicator_id] = str(info.get("name") or indicator_id)
        units[indicator_id] = str(info.get("unit") or "")
        polarity[indicator_id] = str(info.get("polarity") or "")
    pipeline_meta = framework.get("pipeline") or {}
    pipeline = {}
    for step, value in pipeline_meta.items():
        if isinstance(value, Mapping):
            params = {k: v for k, v in value.items() if k != "method"}
            pipeline[str(step)] = _step_text(str(value.get("method", "")), params)
        else:
            pipeline[str(step)] = str(value)

    weights = {
        str(node): pd.Series(children, dtype=np.float64, name=node)
        for node, children in (meta.get("weights") or {}).items()
    }
    effective = pd.Series(meta.get("effective_weights") or {}, dtype=np.float64)
    normalisation = _records(meta.get("normalisation"))
    if "indicator" in normalisation.columns:
        normalisation = normalisation.set_index("indicator")
    back = {ids[ENTITY]: ENTITY, ids[PERIOD]: PERIOD}
    audit = (
        pd.read_csv(
            folder / "audit.csv", dtype={ids[ENTITY]: str, "item": str, "detail": str}
        ).rename(columns=back)
        if (folder / "audit.csv").is_file()
        else pd.DataFrame(columns=AUDIT_COLUMNS)
    )
    indicator_audit = (
        pd.read_csv(folder / "indicator_audit.csv", dtype={ids[ENTITY]: str}).rename(columns=back)
        if (folder / "indicator_audit.csv").is_file()
        else pd.DataFrame(columns=INDICATOR_AUDIT_COLUMNS)
    )
    name = data_name or (data_meta.get("name") if isinstance(data_meta, Mapping) else None)
    return ReportData(
        framework_id=root,
        name=str(framework.get("name") or root),
        version=str(framework.get("version") or ""),
        description=str(framework.get("description") or ""),
        tree=tree,
        labels=labels,
        units=units,
        polarity=polarity,
        indicators=indicators,
        raw=raw,
        treated=treated,
        normalised=normalised,
        imputed_mask=imputed_mask.astype(bool),
        scores=scores,
        ranks=ranks,
        weights=weights,
        effective_weights=effective,
        treatment=_records(meta.get("treatment")),
        normalisation=normalisation,
        audit=audit,
        indicator_audit=indicator_audit,
        pipeline=pipeline,
        data_name=str(name) if name else None,
        created=str(meta["created"]) if meta.get("created") else None,
        id_names=ids,
        entity_labels=entity_labels,
        root_aggregation=str(
            (nodes.get(root) or {}).get("aggregate")
            or (pipeline_meta.get("aggregate") or {}).get("method")
            or ""
        ),
    )


def load(
    source: IndexResult | ReportData | str | Path, *, data_name: str | None = None
) -> ReportData:
    """A :class:`ReportData` from a result in memory, a results folder, or itself."""
    if isinstance(source, ReportData):
        return source
    from securindex.report._spatial import folder_areas

    if isinstance(source, (str, Path)):
        folder = from_folder(source, data_name=data_name)
        return replace(folder, areas=folder_areas(Path(source)))
    from securindex.result import IndexResult

    if isinstance(source, IndexResult):
        return replace(from_result(source, data_name=data_name), areas=source.areas)
    raise TypeError(
        f"expected an IndexResult or the path of a results folder, got {type(source).__name__}"
    )
