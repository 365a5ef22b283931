"""The Dask engine: the same framework YAML, computed on a dask.dataframe.

A framework is built in the same order as :func:`securindex.pipeline.run_pipeline`
(screen → impute → treat → normalise → weight → aggregate), but over a partitioned,
lazily read panel, on a ``dask.distributed`` cluster (or dask's local threads). Each step is
split the way the OECD/JRC "learn first, apply second" rule allows:

* **learn** — statistics over *all* rows, computed as exact tree reductions of per-partition
  summaries (map → combine → finish, like dask's own ``groupby.agg``):
  counts, sums, min/max and the central moments up to the 4th (merged with the pairwise
  formulas of Pébay [3]_, so the mean, standard deviation, skewness and kurtosis equal the
  pandas engine's to rounding), the k most extreme distinct values of each column with
  their counts (what winsorising needs), and group-by sums for group means;
* **apply** — the registry's own functions per partition, re-applying what was learnt
  (normalisers take ``learnt=``), and aggregation row-wise per partition.

Methods that need an exact global *sort* — median imputation, the rank normalisers
(``rank``, ``percentile_rank``, ``borda``) and the ranks of the scores within each
period — gather one column at a time (its non-missing values, 8 bytes per row) on the
client, sort it there, and broadcast the sorted array to the workers, which rank their
partition by binary search. This is exact; it needs O(n_rows) memory per column on the
client and on each worker (80 MB per indicator for 10⁷ rows).

Formulas with ``lag`` or ``mean_over`` need each entity's whole history in one partition:
the panel is shuffled by entity first (unless it is already partitioned by entity), and
periods are numbered over the whole panel, so gaps are handled exactly as in pandas. The
entity-local imputers (``locf``, ``nocb``, ``locf_nocb``, ``linear``) use the same
partitioning.

The supported methods are listed in :data:`SUPPORTED`; a framework using anything else is
refused before any data is read, with a :class:`~securindex.errors.SpecError` naming the
method and the engine.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Part I, Steps 3–6.
   doi:10.1787/9789264043466-en
.. [2] Dask Development Team (2016). Dask: Library for dynamic task scheduling.
   https://dask.org
.. [3] Pébay, P. (2008). Formulas for robust, one-pass parallel computation of covariances
   and arbitrary-order statistical moments. Sandia Report SAND2008-6212.
   doi:10.2172/1028931
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, LABEL, PERIOD, Panel
from securindex.errors import DataError, SecurindexError, SpecError
from securindex.formula import PanelLayout, parse_formula
from securindex.framework import Framework
from securindex.methods._statistics import (
    ColumnSummary,
    Moments,
    Sample,
    Statistic,
    column_moments,
    merge_summaries,
    moment_shape,
    statistic_of,
    summarise,
)
from securindex.methods.normalise import run_normaliser
from securindex.methods.treat import fails_rule, treaters
from securindex.methods.weight import overall_weights
from securindex.plan import AUDIT_COLUMNS, Plan, StepPlan, audit_frame, compile_plan
from securindex.plan.rules import node_weights, normalisation_rows, score_node, weight_total

if TYPE_CHECKING:
    from securindex.catalogue import Catalogue
    from securindex.incidents import IncidentPanel, IncidentSpec
    from securindex.spec.dictionary import DataDictionary
    from securindex.spec.framework import Step

__all__ = [
    "DASK_HINT",
    "DaskIndexResult",
    "DaskPanel",
    "check_supported",
    "compute_dask",
    "incidents_to_panel_dask",
    "read_panel_dask",
    "supported",
]

DASK_HINT = "pip install 'securindex[dask]'"

_META = (ENTITY, PERIOD)


# =============================================================================================
# Dask, clients and reductions
# =============================================================================================
def _dask() -> Any:
    """Import dask lazily: it is an optional extra."""
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:
        raise ImportError(
            f"the Dask engine needs dask[dataframe] and distributed: {DASK_HINT} ({exc})"
        ) from None
    return dask


@contextlib.contextmanager
def _scheduler(client: Any, scheduler: str | None) -> Iterator[Any]:
    """Run the enclosed computations on ``client``, or on a new Client(``scheduler``)."""
    dask = _dask()
    if client is None and scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ImportError(
                f"connecting to a scheduler needs distributed: {DASK_HINT} ({exc})"
            ) from None
        with Client(scheduler) as created, dask.config.set(scheduler=created):
            yield created
        return
    if client is not None:
        with dask.config.set(scheduler=client):
            yield client
        return
    yield _current_client()


def _n_workers(client: Any) -> int:
    """Workers of the cluster (cores of this machine for dask's local threads)."""
    if client is not None:
        try:
            return max(1, len(client.scheduler_info()["workers"]))
        except Exception:
            return 2
    import os

    return os.cpu_count() or 2


def _current_client() -> Any:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _tree_reduce(parts: Sequence[Any], combine: Any, split_every: int = 8) -> Any:
    """Combine delayed partial results in a tree (the combine step of a group-by)."""
    from dask import delayed

    level = list(parts)
    if not level:
        raise DataError("the data have no partitions")
    while len(level) > 1:
        level = [
            delayed(combine)(level[i : i + split_every]) for i in range(0, len(level), split_every)
        ]
    return level[0]


def _compute(*collections: Any) -> Any:
    dask = _dask()
    return dask.compute(*collections)


def _shared(value: Any) -> Any:
    """One graph key for an object every task reads (a plan, sorted references)."""
    from dask import delayed

    return delayed(value, pure=False, name=f"securindex-shared-{uuid.uuid4().hex}")


# =============================================================================================
# The panel as a dask DataFrame
# =============================================================================================
@dataclass
class DaskPanel:
    """A panel held as a dask DataFrame with columns ``entity``, ``period``, group columns
    and one float64 column per variable.

    Attributes
    ----------
    frame : dask.dataframe.DataFrame
        The rows, lazily read.
    units : dict
        Unit of each variable.
    groups : list of str
        Group columns (region, district …; ``label`` for display names).
    by_entity : bool
        True when each entity's rows are all in one partition (needed by ``lag``,
        ``mean_over`` and the entity-local imputers; otherwise the engine shuffles).
    name : str or None
        The dataset's name.
    schema : DataFrame
        One row per source file whose column types differed and were harmonised.
    """

    frame: Any
    units: dict[str, str]
    groups: list[str]
    by_entity: bool = False
    name: str | None = None
    schema: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "schema"]))
    periods: np.ndarray | None = None  # sorted periods, when known without reading
    n_rows: int | None = None

    @property
    def variables(self) -> list[str]:
        return list(self.units)


def _from_pandas_by_entity(frame: pd.DataFrame, npartitions: int) -> Any:
    """A dask DataFrame whose partitions hold whole entities (sorted by entity)."""
    _dask()
    import dask.dataframe as dd

    codes, _ = pd.factorize(frame[ENTITY], sort=True)
    indexed = frame.assign(__entity_code__=codes.astype(np.int64)).set_index("__entity_code__")
    return dd.from_pandas(indexed.sort_index(kind="stable"), npartitions=npartitions, sort=True)


def _panel_frame(panel: Panel) -> pd.DataFrame:
    frame = panel.frame.reset_index()
    groups = panel.groups.reset_index(drop=True) if len(panel.groups.columns) else None
    if groups is not None:
        frame = pd.concat([frame, groups], axis=1)
    return frame


def _read_panel_file(path: str, spec: DataDictionary, text_ids: bool) -> pd.DataFrame:
    """Read one panel file into the canonical columns; types harmonised across files."""
    from securindex.dataset import read_table

    raw = read_table(Path(path))
    columns = {spec.column_of(v): v for v in spec.variables}
    out = pd.DataFrame(
        {
            ENTITY: raw[spec.entity].astype(str) if text_ids else raw[spec.entity],
            PERIOD: raw[spec.period] if spec.period else spec.period_value,
        }
    )
    for group in spec.groups:
        out[group] = raw[group].to_numpy()
    if spec.label:
        out[LABEL] = raw[spec.label].astype(str).to_numpy()
    for column, variable in columns.items():
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() & raw[column].notna()
        if bad.any():
            examples = raw.loc[bad, column].astype(str).unique()[:3].tolist()
            raise DataError(
                f"{int(bad.sum())} non-numeric value(s) such as {examples}",
                column=column,
                source=path,
            )
        out[variable] = values.to_numpy(dtype=np.float64)
    return out


def read_panel_dask(
    data: Any,
    *,
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
    npartitions: int | None = None,
    by_entity: bool = False,
) -> DaskPanel:
    """The panel of ``data`` as a :class:`DaskPanel`, read lazily.

    Parameters
    ----------
    data : Panel, DataFrame, dask DataFrame, path, glob or list of paths
        A :class:`~securindex.dataset.Panel` or pandas frame (split into ``npartitions``
        partitions of whole entities), a dask DataFrame, or CSV/Parquet files (one
        partition per file; a glob such as ``"panel/*.parquet"``).
    dictionary : DataDictionary, mapping or path, optional
        Names the entity, period, group and variable columns and their units (required
        unless ``data`` is a Panel).
    npartitions : int, optional
        Partitions of an in-memory panel (default: about 1 per 250 000 rows).
    by_entity : bool, default False
        Declare that files or a dask DataFrame are already partitioned by entity.

    Raises
    ------
    DataError
        Files missing a column the dictionary names (all listed), or no file found.
    """
    _dask()
    import dask.dataframe as dd

    if isinstance(data, Panel):
        frame = _panel_frame(data)
        n = npartitions or max(1, len(frame) // 250_000)
        return DaskPanel(
            _from_pandas_by_entity(frame, n),
            dict(data.units),
            list(data.groups.columns),
            by_entity=True,
            name=data.name,
            periods=np.asarray(data.periods),
            n_rows=len(frame),
        )
    if dictionary is None:
        raise DataError(
            "the Dask engine needs a data dictionary (entity, period, variables with units) "
            "to read this data; give dictionary=..."
        )
    from securindex.dataset import read_dictionary
    from securindex.spec.dictionary import DataDictionary

    if isinstance(dictionary, DataDictionary):
        spec = dictionary
    elif isinstance(dictionary, (str, Path)):
        spec = read_dictionary(dictionary)
    else:
        spec = DataDictionary.model_validate(dict(dictionary))
    units = {name: v.unit for name, v in spec.variables.items()}
    groups = list(spec.groups) + ([LABEL] if spec.label else [])
    if isinstance(data, pd.DataFrame):
        return read_panel_dask(Panel.from_frame(data, dictionary=spec), npartitions=npartitions)
    if isinstance(data, dd.DataFrame):
        renamed = data.rename(
            columns={
                spec.entity: ENTITY,
                **({spec.period: PERIOD} if spec.period else {}),
                **{spec.column_of(v): v for v in spec.variables},
                **({spec.label: LABEL} if spec.label else {}),
            }
        )
        keep = [ENTITY, PERIOD, *groups, *units]
        missing = [c for c in keep if c not in renamed.columns]
        if missing:
            raise DataError(f"column(s) {missing} not in the dask DataFrame")
        renamed = renamed[keep].astype(dict.fromkeys(units, np.float64))
        return DaskPanel(renamed, units, groups, by_entity=by_entity, name=spec.name)
    from securindex.incidents.reading import expand_sources, file_schema

    sources = [data] if isinstance(data, (str, Path)) else list(data)
    paths = expand_sources(sources, Path("."))
    needed = [spec.entity, *([spec.period] if spec.period else []), *spec.groups]
    needed += [spec.column_of(v) for v in spec.variables] + ([spec.label] if spec.label else [])
    problems = []
    entity_types = set()
    notes = []
    for path in paths:
        schema = file_schema(path)
        absent = [c for c in needed if c not in schema]
        if absent:
            problems.append(f"{path.name}: missing {absent}")
            continue
        entity_types.add(schema[spec.entity])
    if problems:
        raise DataError(
            f"{len(problems)} file(s) lack columns the data dictionary names:\n  "
            + "\n  ".join(problems)
        )
    text_ids = len(entity_types) > 1
    if text_ids:
        notes.append(
            {"file": "*", "schema": f"entity ids typed {sorted(entity_types)} → read as text"}
        )
    first = _read_panel_file(str(paths[0]), spec, text_ids)
    frame = dd.from_map(
        _read_panel_file, [str(p) for p in paths], spec=spec, text_ids=text_ids, meta=first.iloc[:0]
    )
    return DaskPanel(
        frame,
        units,
        groups,
        by_entity=by_entity,
        name=spec.name,
        schema=pd.DataFrame(notes, columns=["file", "schema"]),
    )


# =============================================================================================
# What runs on partitions: decided by the methods' registry records, never by their names
# =============================================================================================
def _partition_problem(step: StepPlan) -> str | None:
    """Why a step cannot run on partitions (None: it can), read from its registry record."""
    method = step.method
    family = step.family
    if family == "normalise":
        if step.options.get("reference_entity") is not None:
            return (
                "normalise option 'reference_entity' is not supported by the dask engine (it needs "
                "the position of one entity's row in the reference sample); use engine: pandas"
            )
        return None
    if family == "treat":
        if method.learn_from is not None and method.apply is not None:
            try:
                statistic_of(method, step.params)
            except SpecError as exc:
                return f"{exc.args[0] if exc.args else exc}; or use engine: pandas"
            return None
        if method.learn is not None or not method.learns:
            return None
        why = (
            "it learns from whole columns in one call; register it with statistic=, "
            "learn_from= and apply= (or as a learn/apply pair) to run on partitions"
        )
    elif family == "impute":
        if method.panel or not method.learns or method.statistic is not None:
            return None
        why = "it learns from the data but declares no statistic= to learn from partitions"
    elif family == "weight":
        if not method.learns:
            return None
        why = "it learns weights from the whole matrix"
    elif family == "aggregate":
        if method.rowwise:
            return None
        why = "it compares rows with each other"
    else:
        return None
    return (
        f"{family} method '{method.name}' is not supported by the dask engine ({why}). Use "
        "engine: pandas for this framework, or choose another method"
    )


def check_supported(framework: Framework) -> None:
    """Raise one :class:`SpecError` listing every step the Dask engine cannot run.

    What a method needs is read from its registry record: a normaliser or imputer that
    learns gathers its reference sample unless it declares a mergeable ``statistic``; a
    treat method learns from merged summaries (``statistic``, ``learn_from``, ``apply``)
    or is a learn/apply pair; weighting methods that learn from the whole matrix and
    aggregators that compare rows are refused, with the reason.

    Examples
    --------
    >>> # a framework whose weights are PCA-derived would raise:
    >>> # SpecError: pipeline.weight: weight method 'pca_loadings' is not supported by the
    >>> # dask engine (it learns weights from the whole matrix) ...
    """
    issues = []
    for path, family, step in framework._steps():
        if path[0] in ("structure", "root") and path[-1] in ("impute", "normalise"):
            continue  # a node's own impute/normalise step: refused below with the reason
        problem = _partition_problem(StepPlan.of(family, step))
        if problem:
            issues.append(framework._issue((*path, "method"), problem))
        if family == "treat" and step.params.get("per_period", False) is True:
            issues.append(
                framework._issue(
                    (*path, "per_period"),
                    "treat option 'per_period' is not supported by the dask engine yet (its "
                    "treatment summaries are merged over all periods); use engine: pandas",
                )
            )
    for node in framework.node_order:  # node formulas, DAGs and ranges run on partitions
        for key, value in (
            ("impute", framework.node_impute_step(node)),
            ("normalise", framework.node_normalise_step(node)),
        ):
            if value is not None:
                issues.append(
                    framework._issue(
                        (*framework._node_path(node), key),
                        f"node '{node}' has its own {key} step, which learns from all rows "
                        "of the node's scores; the dask engine does not run it yet (use "
                        "engine: pandas)",
                    )
                )
    if issues:
        raise SpecError(issues)


def supported(family: str) -> list[str]:
    """The registered methods of ``family`` that run on partitions with their defaults."""
    from securindex.plan.steps import FAMILIES

    out = []
    for method in FAMILIES[family]:
        step = StepPlan(family, method, {}, {}, method.name)
        try:
            problem = _partition_problem(step)
        except SecurindexError:  # pragma: no cover - defaults are valid
            problem = "invalid defaults"
        if problem is None:
            out.append(method.name)
    return out


# the mergeable summaries live with the methods; these names are the engine's own tests'
_summarise = summarise
_merge_summaries = merge_summaries
_column_moments = column_moments
_shape = moment_shape


# =============================================================================================
# What every partition needs to apply the pipeline: the plan and what was learnt
# =============================================================================================
@dataclass
class _TreatGroup:
    """A treat group and what its method learnt from the merged summaries."""

    columns: list[int]
    method: str
    params: dict[str, Any]
    learnt: Any

    @property
    def report(self) -> list[dict[str, Any]]:
        return list(getattr(self.learnt, "report", []))

    @property
    def transform(self) -> list[str]:
        """Per column, the transform applied (a method without a learnt treatment
        transforms its whole columns, as :func:`run_treater` records it)."""
        return list(getattr(self.learnt, "transform", [self.method] * len(self.columns)))


def _plan_columns(
    method: str,
    params: Mapping[str, Any],
    summary: ColumnSummary,
    columns: list[int],
    skew_max: float,
    kurt_max: float,
    winmax: int,
) -> _TreatGroup:
    """The treatment of some columns learnt from their merged summary by the method itself."""
    entry = treaters.get(method)
    assert entry.learn_from is not None
    full = {"skew_max": skew_max, "kurt_max": kurt_max, **dict(params)}
    return _TreatGroup(list(columns), method, dict(params), entry.learn_from(summary, **full))


def _treat_apply(X: np.ndarray, groups: Sequence[_TreatGroup]) -> np.ndarray:
    out = X.copy()
    for group in groups:
        entry = treaters.get(group.method)
        cols = group.columns
        if entry.apply is not None:
            out[:, cols] = entry.apply(X[:, cols], learnt=group.learnt, **group.params)
        elif entry.learn is not None:  # a learn/apply pair: func applies
            out[:, cols] = _values(entry.func(X[:, cols], learnt=group.learnt, **group.params))
        else:  # learns nothing: the method itself, on the partition
            out[:, cols] = _values(entry.func(X[:, cols], **group.params))
    return out


def _values(result: Any) -> np.ndarray:
    """A treat method's values (a Treated, or a plain array)."""
    return np.asarray(getattr(result, "values", result), dtype=np.float64)


@dataclass
class _NormaliseGroup:
    columns: list[int]
    method: str
    params: dict[str, Any]
    mode: str
    learnt: dict[Any, dict[str, np.ndarray]]  # reference key (None, or a period) → learnt


@dataclass
class _Plan:
    ids: list[str]
    groups: list[str]
    plan: Plan
    screen_on: str = "raw"  # screen the raw values, or the imputed ones
    impute_periods: np.ndarray | None = None  # sorted periods of the rows imputed
    impute: dict[str, Any] | None = None
    treat: list[_TreatGroup] | None = None
    normalise: list[_NormaliseGroup] | None = None
    weights: dict[str, np.ndarray] | None = None
    n_rows: int = 0  # rows of the panel, to size what is gathered at once
    periods: np.ndarray | None = None  # sorted periods of the screened rows


def _stage_frame(
    part: pd.DataFrame, X: np.ndarray, ids: Sequence[str], carry: Sequence[str] = ()
) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=list(ids), index=part.index)
    return pd.concat([part[[ENTITY, PERIOD, *carry]], frame], axis=1).reset_index(drop=True)


def _labels(part: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [part[ENTITY].to_numpy(), part[PERIOD].to_numpy()], names=[ENTITY, PERIOD]
    )


def _screen_apply(
    X: np.ndarray, part: pd.DataFrame, plan: _Plan, audit: list[pd.DataFrame] | None
) -> np.ndarray:
    step = plan.plan.screen
    params = step.kwargs()
    keep = np.asarray(step.method(X, **params), dtype=bool)
    if audit is not None and not keep.all():
        dropped = np.flatnonzero(~keep)
        share = (~np.isnan(X[dropped])).mean(axis=1)
        audit.append(
            audit_frame(
                "screen",
                _labels(part),
                dropped,
                "row",
                "excluded",
                share,
                np.nan,
                f"{step.name} {params}: share of indicators present",
            )
        )
    return keep


def _run_partition(
    part: pd.DataFrame, plan: _Plan, upto: str, carry: Sequence[str] = (), arrays: bool = False
) -> Any:
    """Apply the planned steps to one partition of indicator values.

    ``upto`` picks the output: a stage (``raw``, ``imputed``, ``treated``, ``normalised``),
    the node ``scores``, or the ``audit`` rows of this partition; ``carry`` adds group
    columns to a stage.
    """
    ids = plan.ids
    audit: list[pd.DataFrame] | None = [] if upto == "audit" else None
    X = part[ids].to_numpy(dtype=np.float64, copy=True)
    if plan.screen_on == "raw":
        keep = _screen_apply(X, part, plan, audit)
        part, X = part.loc[keep], X[keep]
        if upto == "raw":
            return (part, X) if arrays else _stage_frame(part, X, ids, carry)
        X, imputed = _impute_apply(X, part, plan)
    else:
        if upto == "raw" and plan.impute is None:
            return (part, X) if arrays else _stage_frame(part, X, ids, carry)
        filled, imputed = _impute_apply(X, part, plan)
        keep = _screen_apply(filled, part, plan, audit)
        part, raw, X, imputed = part.loc[keep], X[keep], filled[keep], imputed[keep]
        if upto == "raw":
            return (part, raw) if arrays else _stage_frame(part, raw, ids, carry)
    return _from_imputed(part, X, imputed, plan, upto, carry, arrays, audit)


def _from_imputed(
    part: pd.DataFrame,
    X: np.ndarray,
    imputed: np.ndarray,
    plan: _Plan,
    upto: str,
    carry: Sequence[str],
    arrays: bool,
    audit: list[pd.DataFrame] | None,
) -> Any:
    """The steps after imputation on one partition (see :func:`_run_partition`)."""
    ids = plan.ids
    labels = _labels(part) if audit is not None else None
    if audit is not None and labels is not None:
        rows, cols = np.nonzero(imputed)
        if len(rows):
            audit.append(
                audit_frame(
                    "impute",
                    labels,
                    rows,
                    np.asarray(ids, dtype=object)[cols],
                    "imputed",
                    np.nan,
                    X[rows, cols],
                    plan.plan.impute.name,
                )
            )
    if upto == "imputed":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    if plan.treat is None:
        raise RuntimeError("treatment not planned")  # pragma: no cover - engine order
    before = X
    X = _treat_apply(X, plan.treat)
    if audit is not None and labels is not None:
        for group in plan.treat:
            cols = np.asarray(group.columns)
            changed = ~np.isnan(before[:, cols]) & (X[:, cols] != before[:, cols])
            changed[:, [t != "none" for t in group.transform]] = False
            rows, local = np.nonzero(changed)
            if len(rows):
                c = cols[local]
                audit.append(
                    audit_frame(
                        "treat",
                        labels,
                        rows,
                        np.asarray(ids, dtype=object)[c],
                        "winsorised",
                        before[rows, c],
                        X[rows, c],
                        group.method,
                    )
                )
    if upto == "treated":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    if plan.normalise is None:
        raise RuntimeError("normalisation not planned")  # pragma: no cover - engine order
    X = _normalise_apply(X, part, plan)
    if upto == "normalised":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    scores = _aggregate_apply(X, part, plan, audit)
    if audit is not None:
        frames = [a for a in audit if len(a)]
        if not frames:
            return _empty_audit()
        return _audit_types(pd.concat(frames, ignore_index=True))
    frame = pd.DataFrame(scores, columns=list(plan.plan.node_order), index=part.index)
    return pd.concat([part[[ENTITY, PERIOD]], frame], axis=1).reset_index(drop=True)


_AUDIT_TEXT = ("stage", "entity", "period", "item", "action", "detail")


def _audit_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Audit rows with text ids (entity and period as written) and float before/after, so
    that every partition and the Parquet files share one schema."""
    types: dict[str, Any] = dict.fromkeys(_AUDIT_TEXT, "string")
    types.update(before=np.float64, after=np.float64)
    out = frame.astype(types)
    return out


def _empty_audit() -> pd.DataFrame:
    return _audit_types(pd.DataFrame({c: pd.Series(dtype=object) for c in AUDIT_COLUMNS}))


# -- impute ----------------------------------------------------------------------------------
def _key_index(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Index:
    """The imputation key of each row: (group, period) values, or a single key 0."""
    if not keys:
        return pd.Index(np.zeros(len(frame), dtype=np.int64), name="all")
    return pd.MultiIndex.from_arrays([frame[c].to_numpy() for c in keys], names=list(keys))


def _impute_apply(X: np.ndarray, part: pd.DataFrame, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    spec = plan.impute
    if spec is None or not len(X) or not np.isnan(X).any():
        return X, np.zeros(X.shape, dtype=bool)
    step = plan.plan.impute
    if spec["kind"] == "table":  # a statistic per key, learnt from every partition
        table: pd.DataFrame = spec["table"]
        rows = table.index.get_indexer(_key_index(part, spec["keys"]))
        stats = np.full((len(X), X.shape[1]), np.nan)
        found = rows >= 0
        stats[found] = table.to_numpy()[rows[found]]
        filled = np.where(np.isnan(X), stats, X)
        return filled, np.isnan(X) & ~np.isnan(filled)
    # entity-local (whole entities in the partition) or row-local: the method itself
    entity, _ = pd.factorize(part[ENTITY], sort=True)
    periods = part[PERIOD]
    if pd.api.types.is_numeric_dtype(periods):  # years keep their spacing, as in pandas
        period = periods.to_numpy(dtype=np.float64)
    else:
        assert plan.impute_periods is not None
        period = np.searchsorted(plan.impute_periods, periods.to_numpy()).astype(np.int64)
    result = step.method(
        X, entity=entity.astype(np.int64), period=period, groups=None, **step.kwargs()
    )
    return result.values, result.imputed


# -- normalise -------------------------------------------------------------------------------
def _normalise_apply(X: np.ndarray, part: pd.DataFrame, plan: _Plan) -> np.ndarray:
    assert plan.normalise is not None
    direction = plan.plan.directions
    out = np.full_like(X, np.nan)
    periods = part[PERIOD].to_numpy()
    for group in plan.normalise:
        cols = np.asarray(group.columns)
        if group.mode == "per_period":
            keys = list(pd.unique(periods))
            masks = [periods == p for p in keys]
        else:
            keys, masks = [None], [np.ones(len(X), dtype=bool)]
        for key, rows in zip(keys, masks, strict=True):  # a loop over periods, not rows
            block = X[np.ix_(rows, cols)]
            values = run_normaliser(
                group.method,
                block,
                direction=direction[cols],
                learnt=group.learnt[key],
                **group.params,
            ).values
            out[np.ix_(rows, cols)] = values
    return out


# -- aggregate -------------------------------------------------------------------------------
def _aggregate_apply(
    X: np.ndarray, part: pd.DataFrame, plan: _Plan, audit: list[pd.DataFrame] | None
) -> np.ndarray:
    """Score every node with the node rules every engine uses, on this partition's rows."""
    assert plan.weights is not None
    nodes = plan.plan.nodes
    scores = np.empty((len(X), len(plan.plan.node_order)), dtype=np.float64)
    labels = _labels(part)
    codes = np.zeros(len(X), dtype=np.int64)  # row-wise rules never compare rows
    for node in nodes:
        if len(X):
            block = np.column_stack(
                [X[:, k] if kind == "indicator" else scores[:, k] for kind, k in node.sources]
            )
        else:
            block = np.zeros((0, len(node.children)))
        w = plan.weights[node.id]
        result = score_node(
            node,
            block,
            w,
            {},
            total=weight_total(w),
            period_codes=codes,
            labels=lambda rows: list(labels[rows]),
        )
        if audit is not None:
            for event in result.unscored:
                audit.append(
                    audit_frame(
                        "aggregate",
                        labels,
                        event.rows,
                        node.id,
                        "not scored",
                        event.before,
                        np.nan,
                        event.detail,
                    )
                )
        scores[:, node.column] = result.values
    return scores


# =============================================================================================
# Indicators per partition
# =============================================================================================
class _PartitionPanel(Panel):
    """A partition of a panel whose period codes count over the *whole* panel's periods,
    so ``lag``/``mean_over`` see the same gaps as on the full panel."""

    def __init__(self, *args: Any, all_periods: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.all_periods = all_periods

    def layout(self) -> PanelLayout:
        entity_codes, entities = pd.factorize(self.frame.index.get_level_values(ENTITY))
        period_codes = np.searchsorted(
            self.all_periods, self.frame.index.get_level_values(PERIOD).to_numpy()
        )
        return PanelLayout(
            entity_codes=entity_codes.astype(np.int64),
            period_codes=period_codes.astype(np.int64),
            n_entities=len(entities),
            n_periods=len(self.all_periods),
        )


def _indicator_partition(
    part: pd.DataFrame,
    indicators: list[Any],
    ids: list[str],
    units: dict[str, str],
    groups: list[str],
    all_periods: np.ndarray | None,
) -> pd.DataFrame:
    part = part.reset_index(drop=True)
    out = part[[ENTITY, PERIOD, *groups]].copy()
    if not len(part):
        for i in ids:
            out[i] = np.zeros(0)
        return out
    index = pd.MultiIndex.from_arrays(
        [part[ENTITY].to_numpy(), part[PERIOD].to_numpy()], names=[ENTITY, PERIOD]
    )
    frame = pd.DataFrame({v: part[v].to_numpy(dtype=np.float64) for v in units}, index=index)
    periods = (
        all_periods if all_periods is not None else np.sort(pd.unique(part[PERIOD].to_numpy()))
    )
    panel = _PartitionPanel(frame, units, all_periods=periods)
    # the catalogue is rebuilt from its (picklable) indicator specs on the worker: pint units
    # of the project's registry do not survive pickling (see docs/scale.md)
    from securindex.catalogue import Catalogue

    values = Catalogue(indicators).compute(panel, indicators=ids)
    for i in ids:
        out[i] = values.frame[i].to_numpy()
    return out


def _uses_panel(catalogue: Catalogue) -> bool:
    return any(parse_formula(indicator.formula).uses_panel for indicator in catalogue.values())


# =============================================================================================
# Learning passes: summaries of every partition merged by tree reduction, fused per stage
# =============================================================================================
@dataclass(frozen=True)
class _Request:
    """One statistic to learn in a pass: columns of a stage, summarised per key.

    ``by`` splits the rows by a column's values (a per-period reference, imputation keys);
    ``only`` keeps the rows of one period (a base period).
    """

    statistic: Statistic
    columns: tuple[int, ...]
    by: tuple[str, ...] = ()
    only: Any = None


def _summary_chunk(
    part: pd.DataFrame, plan: _Plan, upto: str | None, requests: Sequence[_Request]
) -> tuple[list[dict[Any, Any]], np.ndarray, int]:
    """One partition's summaries for every request, its distinct periods and its rows.

    ``upto`` None: the partition already is the stage (persisted); else the steps up to
    ``upto`` are applied first.
    """
    if upto is None:
        rows, X = part, part[plan.ids].to_numpy(dtype=np.float64)
    else:
        rows, X = _run_partition(part, plan, upto, carry=plan.groups, arrays=True)
    out: list[dict[Any, Any]] = []
    for request in requests:
        block = X[:, list(request.columns)]
        keep = None
        if request.only is not None:
            keep = rows[PERIOD].to_numpy() == request.only
            block = block[keep]
        if not request.by:
            out.append({None: request.statistic.summarise(block)})
            continue
        frame = rows if keep is None else rows.loc[keep]
        if len(request.by) == 1:
            codes, uniques = pd.factorize(frame[request.by[0]].to_numpy())
        else:
            codes, uniques = pd.factorize(_key_index(frame, list(request.by)))
        out.append(
            {
                uniques[c]: request.statistic.summarise(block[codes == c])
                for c in range(len(uniques))
            }
        )
    return out, np.asarray(pd.unique(rows[PERIOD].to_numpy())), len(part)


def _merge_chunks(
    parts: Sequence[tuple[list[dict[Any, Any]], np.ndarray, int]], requests: Sequence[_Request]
) -> tuple[list[dict[Any, Any]], np.ndarray, int]:
    merged: list[dict[Any, Any]] = []
    for r, request in enumerate(requests):
        by_key: dict[Any, list[Any]] = {}
        for summaries, _, _ in parts:
            for key, summary in summaries[r].items():
                by_key.setdefault(key, []).append(summary)
        merged.append({key: request.statistic.combine(items) for key, items in by_key.items()})
    periods = np.asarray(pd.unique(np.concatenate([p for _, p, _ in parts])))
    return merged, periods, sum(n for *_, n in parts)


def _learning_pass(
    stage: Any, plan: _Plan, upto: str | None, requests: Sequence[_Request], info: dict[str, Any]
) -> tuple[list[dict[Any, Any]], np.ndarray, int]:
    """Every request of a stage in one pass over its partitions (read once), merged by a
    tree reduction; with the stage's sorted periods and number of rows."""
    from dask import delayed

    shared, requests = _shared(plan), list(requests)
    chunks = [delayed(_summary_chunk)(p, shared, upto, requests) for p in stage.to_delayed()]
    tree = _tree_reduce(chunks, lambda parts: _merge_chunks(parts, requests))
    (result,) = _compute(tree)
    info["passes"] += 1
    merged, periods, n_rows = result
    return merged, np.sort(periods), int(n_rows)


def _stage(
    source: Any, plan: _Plan, upto: str, persist: bool, client: Any, carry: Sequence[str] = ()
) -> Any:
    """A stage's partitions (with group columns), persisted when asked: the next learning
    pass reads it once instead of re-running the earlier steps."""
    meta = _run_partition(source._meta, plan, upto, carry)
    frame = source.map_partitions(_run_partition, _shared(plan), upto, carry, meta=meta)
    if not persist:
        return frame
    return client.persist(frame) if client is not None else frame.persist()


def _apply_stage(source: Any, plan: _Plan, persist: bool, client: Any, name: str) -> Any:
    """The next stage computed from a persisted one (``treated`` from ``imputed`` …)."""
    meta = _next_stage(source._meta, plan, name)
    frame = source.map_partitions(_next_stage, _shared(plan), name, meta=meta)
    if not persist:
        return frame
    return client.persist(frame) if client is not None else frame.persist()


def _next_stage(part: pd.DataFrame, plan: _Plan, name: str) -> pd.DataFrame:
    X = part[plan.ids].to_numpy(dtype=np.float64)
    if name == "treated":
        assert plan.treat is not None
        Y = _treat_apply(X, plan.treat)
    elif name == "normalised":
        Y = _normalise_apply(X, part, plan)
    else:  # scores
        Y = _aggregate_apply(X, part, plan, None)
        frame = pd.DataFrame(Y, columns=list(plan.plan.node_order), index=part.index)
        return pd.concat([part[[ENTITY, PERIOD]], frame], axis=1).reset_index(drop=True)
    out = part.copy()
    out[plan.ids] = Y
    return out


# -- impute ----------------------------------------------------------------------------------
def _impute_request(plan: _Plan) -> _Request | None:
    """The statistic imputation learns (per group and period key), or None."""
    step = plan.plan.impute
    method = step.method
    if method.panel or not method.learns:
        plan.impute = {"kind": "rows"}
        return None
    group = plan.plan.impute_group
    if group is not None and group not in plan.groups:
        raise SpecError(
            f"impute group column '{group}' is not a group of the data; groups are "
            f"{plan.groups} (declare it under 'groups' in the data dictionary)"
        )
    keys = ([group] if group else []) + ([PERIOD] if step.params.get("within_period") else [])
    statistic = statistic_of(method, step.params) or Sample()
    return _Request(statistic, tuple(range(len(plan.ids))), by=tuple(keys))


def _learn_impute(plan: _Plan, request: _Request, merged: dict[Any, Any]) -> None:
    """Fill values per key: a statistic's own (moments: the mean) or, from the gathered
    sample, what the method itself fills a missing row of the key with."""
    step = plan.plan.impute
    keys = list(request.by)
    labels = list(merged)
    if isinstance(request.statistic, Moments):
        table = np.vstack(
            [request.statistic.learnt(merged[key])[request.statistic.keys[0]] for key in labels]
        )
    else:  # the method on each key's sample with one extra missing row to fill
        rows = []
        for key in labels:
            values = np.vstack([merged[key], np.full((1, len(plan.ids)), np.nan)])
            codes = np.zeros(len(values), dtype=np.int64)
            result = step.method(values, groups=codes, entity=codes, period=codes, **step.kwargs())
            rows.append(np.asarray(result.values)[-1])
        table = np.vstack(rows) if rows else np.zeros((0, len(plan.ids)))
    if keys:
        index: pd.Index = pd.MultiIndex.from_tuples(
            [k if isinstance(k, tuple) else (k,) for k in labels], names=keys
        )
    else:
        index = pd.Index([0] * len(labels), name="all")
    plan.impute = {
        "kind": "table",
        "table": pd.DataFrame(table, index=index, columns=plan.ids),
        "keys": keys,
    }


# -- treat -----------------------------------------------------------------------------------
def _treat_requests(plan: _Plan) -> list[_Request]:
    requests = []
    for group in plan.plan.treat:
        method = group.step.method
        if method.learn_from is not None:
            statistic = statistic_of(method, group.step.params) or Moments()
        elif method.learn is not None:
            statistic = Sample()
        else:
            continue
        requests.append(_Request(statistic, group.positions))
    return requests


def _learn_treat(plan: _Plan, merged: Sequence[dict[Any, Any]]) -> pd.DataFrame:
    ids = plan.ids
    planned: list[_TreatGroup] = []
    records: list[dict[str, Any]] = []
    summaries = iter(merged)
    for group in plan.plan.treat:
        step, columns = group.step, list(group.positions)
        method, params = step.method, step.kwargs()
        if method.learn_from is not None:
            summary = next(summaries)[None]
            planned.append(_plan_columns(step.name, params, summary, columns, 2.0, 3.5, 0))
        elif method.learn is not None:
            sample = next(summaries)[None]
            planned.append(_TreatGroup(columns, step.name, params, method.learn(sample, **params)))
        else:
            probe = method.func(np.ones((2, len(columns))), **params)
            planned.append(_TreatGroup(columns, step.name, params, None))
            report = getattr(probe, "report", [])
            if report:
                raise SpecError(
                    f"treat method '{step.name}' reports statistics of whole columns but does "
                    "not learn them from partitions; declare statistic= and learn_from="
                )
        for record in planned[-1].report:
            fields = {k: v for k, v in record.items() if k != "column"}
            indicator = ids[columns[int(record.get("column", 0))]]
            records.append({"indicator": indicator, **fields, "method": step.name})
    plan.treat = planned
    frame = pd.DataFrame(records)
    if not frame.empty:
        order = {i: k for k, i in enumerate(ids)}
        frame = frame.sort_values("indicator", key=lambda s: s.map(order), kind="stable")
    return frame.reset_index(drop=True)


def _after_transform(plan: _Plan) -> _Request | None:
    """Statistics of the transformed columns after treatment (for the report)."""
    transformed = sorted(
        {g.columns[j] for g in plan.treat or [] for j, t in enumerate(g.transform) if t != "none"}
    )
    return _Request(Moments(), tuple(transformed)) if transformed else None


def _report_after(
    plan: _Plan, treatment: pd.DataFrame, request: _Request, summary: ColumnSummary
) -> pd.DataFrame:
    ids = plan.ids
    for group in plan.treat or []:
        skew_max = float(group.params.get("skew_max", 2.0))
        kurt_max = float(group.params.get("kurt_max", 3.5))
        for local, record in enumerate(group.report):
            if group.transform[local] == "none":
                continue
            j = request.columns.index(group.columns[local])
            skew, kurt = moment_shape(column_moments(summary, j))
            passes = bool(~fails_rule(np.array(skew), np.array(kurt), skew_max, kurt_max))
            record.update(skew_after=skew, kurt_after=kurt, pass_after=passes)
            rows = treatment["indicator"] == ids[group.columns[local]]
            treatment.loc[rows, ["skew_after", "kurt_after", "pass_after"]] = [skew, kurt, passes]
    return treatment


# -- normalise -------------------------------------------------------------------------------
def _normalise_requests(plan: _Plan) -> list[_Request | None]:
    """Per normalise group, what it learns from its reference sample (None: nothing)."""
    requests: list[_Request | None] = []
    assert plan.periods is not None
    for group in plan.plan.normalise:
        method = group.step.method
        if not method.learns:
            requests.append(None)
            continue
        if group.mode == "base" and group.base_period not in set(plan.periods.tolist()):
            raise DataError(
                f"normalise method '{method.name}' with reference: base needs base_period in "
                f"the data; got {group.base_period!r}, periods are {plan.periods.tolist()}"
            )
        statistic = statistic_of(method, group.step.params) or Sample()
        requests.append(
            _Request(
                statistic,
                group.positions,
                by=(PERIOD,) if group.mode == "per_period" else (),
                only=group.base_period if group.mode == "base" else None,
            )
        )
    return requests


def _learn_normalise(
    plan: _Plan, requests: Sequence[_Request | None], merged: Sequence[dict[Any, Any]]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Each group's statistics, learnt exactly from its reference rows; the normalisation
    table and per-indicator statistics in the pandas engine's format."""
    ids = plan.ids
    assert plan.periods is not None
    periods = plan.periods.tolist()
    direction = plan.plan.directions
    learnt: dict[str, dict[str, Any]] = {}
    table: list[dict[str, Any]] = []
    planned = []
    summaries = iter(merged)
    for group, request in zip(plan.plan.normalise, requests, strict=True):
        step, columns = group.step, list(group.positions)
        params, d = step.kwargs(), direction[columns]
        keys: list[Any] = periods if group.mode == "per_period" else [None]
        found = next(summaries) if request is not None else {}
        state = _NormaliseGroup(columns, step.name, params, group.mode, learnt={})
        stats_by_key: dict[Any, dict[str, np.ndarray]] = {}
        for key in keys:
            if request is None:  # learns nothing from the data: what a probe returns
                result = run_normaliser(
                    step.method, np.ones((1, len(columns))), direction=d, **params
                )
                state.learnt[key] = dict(result.learnt)
            elif isinstance(request.statistic, Moments) and request.statistic.keys:
                state.learnt[key] = request.statistic.learnt(found[key])
                result = run_normaliser(
                    step.method,
                    np.ones((1, len(columns))),
                    direction=d,
                    learnt=state.learnt[key],
                    **params,
                )
            else:  # the method learns from the gathered reference sample itself
                sample = found[key]
                result = run_normaliser(
                    step.method, sample[:1], direction=d, reference=sample, **params
                )
                state.learnt[key] = dict(result.learnt)
            stats_by_key[key] = {**state.learnt[key], **result.flags}
        for local, column in enumerate(columns):
            indicator = ids[column]
            stats = _indicator_stats(stats_by_key, keys, local, group.mode, plan.periods)
            learnt[indicator] = stats
            table.extend(
                normalisation_rows(
                    indicator, step.name, group.mode, stats, plan.periods, group.base_period
                )
            )
        planned.append(state)
    plan.normalise = planned
    normalisation = pd.DataFrame(table)
    if not normalisation.empty:
        normalisation = normalisation.set_index("indicator")
    return normalisation, learnt


def _indicator_stats(
    stats_by_key: Mapping[Any, Mapping[str, np.ndarray]],
    keys: Sequence[Any],
    local: int,
    mode: str,
    periods: np.ndarray,
) -> dict[str, Any]:
    """One indicator's learnt statistics and flags, as the pandas engine records them
    (a leading period axis and the period codes for ``per_period``)."""

    def one(key: Any) -> dict[str, Any]:
        return {name: np.asarray(v)[..., local] for name, v in stats_by_key[key].items()}

    if mode != "per_period":
        return one(None)
    parts = [one(key) for key in keys]
    stats: dict[str, Any] = {}
    for name in parts[0]:
        arrays = [np.asarray(p[name]) for p in parts]
        if name == "reference" and len({a.shape for a in arrays}) > 1:
            width = max(a.shape[0] for a in arrays)
            arrays = [np.pad(a, (0, width - a.shape[0]), constant_values=np.nan) for a in arrays]
        stats[name] = np.stack(arrays)
    stats["period"] = np.searchsorted(periods, np.asarray(keys)).astype(np.float64)
    return stats


# -- weights ---------------------------------------------------------------------------------
def _plan_weights(plan: _Plan) -> tuple[dict[str, pd.Series], dict[str, dict[str, Any]]]:
    """Weights of every node (methods that run here learn nothing from the data)."""
    weights: dict[str, pd.Series] = {}
    info: dict[str, dict[str, Any]] = {}
    plan.weights = {}
    for node in plan.plan.nodes:
        w, learnt = node_weights(node, np.ones((1, len(node.children))))
        plan.weights[node.id] = w
        weights[node.id] = pd.Series(w, index=list(node.children), name=node.id)
        info[node.id] = learnt
    return weights, info


def _effective_weights(plan: Plan, weights: Mapping[str, pd.Series]) -> pd.Series:
    children = {n.id: n.children for n in plan.nodes}
    overall = overall_weights(children, {k: v.to_numpy() for k, v in weights.items()})
    return pd.Series(overall, name="effective_weight").reindex(list(plan.indicators))


# =============================================================================================
# Ranks of the scores within each period (an exact global sort, gathered)
# =============================================================================================
def _ranks_partition(
    part: pd.DataFrame,
    sorted_scores: Mapping[str, Mapping[Any, np.ndarray]],
    signs: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Ranks within each period, 1 = best: the highest score, or the lowest for a node with
    ``higher_is: worse`` (its scores enter with sign −1, here and in ``sorted_scores``)."""
    out = part.copy()
    periods = part[PERIOD].to_numpy()
    for node, by_period in sorted_scores.items():
        rank = np.full(len(part), np.nan)
        values = (signs or {}).get(node, 1.0) * part[node].to_numpy(dtype=np.float64)
        for period in pd.unique(periods):  # a loop over periods
            rows = periods == period
            reference = by_period.get(period, np.zeros(0))
            greater = len(reference) - np.searchsorted(reference, values[rows], side="right")
            rank[rows] = np.where(np.isnan(values[rows]), np.nan, 1.0 + greater)
        out[f"rank_{node}"] = pd.array(rank, dtype="Float64").astype("Int64")
    return out


# =============================================================================================
# The result
# =============================================================================================
@dataclass(frozen=True)
class DaskIndexResult:
    """The outcome of :func:`compute_dask`: lazy frames of every stage, what was learnt.

    Attributes
    ----------
    framework : Framework
        The framework built.
    table : dask DataFrame
        ``entity, period``, one score column per node (children before parents, the root
        last) [score], then ``rank_<node>`` columns (1 = best within the period) — the
        same columns as :meth:`IndexResult.table`.
    stages : dict of dask DataFrame
        ``raw``, ``imputed``, ``treated``, ``normalised``: ``entity, period`` and one column
        per indicator [declared units; score for ``normalised``].
    audit : dask DataFrame
        The audit rows (``stage, entity, period, item, action, detail``) of every
        partition, plus one row per transformed indicator.
    weights, effective_weights, weight_info, normalisation, treatment, learnt
        As in :class:`~securindex.result.IndexResult`.
    info : dict
        How the engine ran: partitions, whether it shuffled by entity, passes over the data.
    """

    framework: Framework
    table: Any
    stages: dict[str, Any]
    audit: Any
    weights: dict[str, pd.Series]
    effective_weights: pd.Series
    normalisation: pd.DataFrame
    treatment: pd.DataFrame
    weight_info: dict[str, dict[str, Any]]
    learnt: dict[str, dict[str, Any]]
    info: dict[str, Any]

    def stage(self, name: str) -> Any:
        """A lazy stage by name: raw, imputed, treated, normalised, or scores (the table)."""
        if name == "scores":
            return self.table
        if name not in self.stages:
            raise KeyError(f"no stage '{name}'; stages are {[*self.stages, 'scores']}")
        return self.stages[name]

    def to_pandas(self, stage: str = "scores") -> pd.DataFrame:
        """Compute one stage into memory, sorted by entity and period."""
        (frame,) = _compute(self.stage(stage))
        return frame.sort_values([ENTITY, PERIOD], kind="stable").reset_index(drop=True)

    def write(
        self, folder: str | Path, *, stages: Sequence[str] = (), audit: bool = True
    ) -> dict[str, Path]:
        """Write the scores (and ``stages``, and the audit) as partitioned Parquet datasets,
        and the small tables (weights, normalisation, treatment) as CSV and JSON.

        Returns the path of everything written.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        jobs = [("scores", self.table)] + [(s, self.stage(s)) for s in stages]
        if audit:
            jobs.append(("audit", self.audit))
        writes = [
            frame.to_parquet(folder / name, write_index=False, compute=False)
            for name, frame in jobs
        ]
        _compute(*writes)
        written.update({name: folder / name for name, _ in jobs})
        weights = pd.DataFrame(
            [
                {"node": n, "child": c, "weight": w}
                for n, s in self.weights.items()
                for c, w in s.items()
            ]
        )
        weights["effective_weight"] = weights["child"].map(self.effective_weights)
        weights.to_csv(folder / "weights.csv", index=False)
        self.normalisation.to_csv(folder / "normalisation.csv")
        self.treatment.to_csv(folder / "treatment.csv", index=False)
        written.update(
            weights=folder / "weights.csv",
            normalisation=folder / "normalisation.csv",
            treatment=folder / "treatment.csv",
        )
        summary = {
            "framework": {
                "id": self.framework.id,
                "name": self.framework.spec.name,
                "tree": {k: list(v) for k, v in self.framework.children.items()},
            },
            "engine": "dask",
            "info": self.info,
        }
        (folder / "result.json").write_text(json.dumps(summary, indent=2, default=str))
        written["json"] = folder / "result.json"
        return written

    def __repr__(self) -> str:
        return (
            f"DaskIndexResult({self.framework.id}: {len(self.framework.indicators)} indicators, "
            f"{self.info.get('npartitions')} partitions)"
        )


# =============================================================================================
# Entry point
# =============================================================================================
def compute_dask(
    framework: Framework | str | Path,
    data: Any,
    *,
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    npartitions: int | None = None,
    by_entity: bool = False,
    persist: bool = True,
    ranks: Literal["all", "root", "none"] = "all",
    **steps: Step | Mapping[str, Any],
) -> DaskIndexResult:
    """Build a composite index on Dask: exact, and equal to :meth:`Framework.compute`.

    Parameters
    ----------
    framework : Framework or path
        The framework (or its YAML file).
    data : Panel, DataFrame, dask DataFrame, DaskPanel, path, glob or list of paths
        The panel; files are read lazily, one partition per file (see
        :func:`read_panel_dask`).
    dictionary : DataDictionary, mapping or path, optional
        How to read ``data`` (required unless it is a Panel or DaskPanel).
    client : distributed.Client, optional
        The cluster to run on.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); a ``Client`` is connected for
        the planning passes (the returned lazy frames then need a live client to compute).
        Without client or scheduler, the current client is used, else dask's threads.
    npartitions : int, optional
        Partitions of an in-memory panel.
    by_entity : bool, default False
        Files or dask frames already hold each entity in one partition.
    persist : bool, default True
        Keep the indicator values in (cluster) memory between passes; with ``False`` each
        pass re-reads the sources (for data larger than the cluster's memory).
    ranks : {"all", "root", "none"}, default "all"
        Which nodes get ranks within each period. Ranks gather each node's scores on the
        client (8 bytes per row per node).
    **steps
        Pipeline steps replaced for this run (as :meth:`Framework.compute`).

    Returns
    -------
    DaskIndexResult

    Raises
    ------
    SpecError
        A method the Dask engine does not support (see :data:`SUPPORTED`), before any data
        is read.
    ImportError
        dask or distributed missing (``pip install 'securindex[dask]'``).
    """
    _dask()
    if not isinstance(framework, Framework):
        from securindex.engines import load_framework

        framework = load_framework(framework).framework
    framework = framework.with_steps(**steps)  # type: ignore[arg-type]
    check_supported(framework)
    with _scheduler(client, scheduler) as active:
        panel = (
            data
            if isinstance(data, DaskPanel)
            else read_panel_dask(
                data, dictionary=dictionary, npartitions=npartitions, by_entity=by_entity
            )
        )
        return _build(framework, panel, active, persist, ranks)


def _build(
    fw: Framework, panel: DaskPanel, client: Any, persist: bool, ranks: str
) -> DaskIndexResult:
    """Read, learn stage by stage (one pass over a persisted stage each), write lazily."""
    compiled = compile_plan(fw)
    ids = list(compiled.indicators)
    catalogue = fw.catalogue.select(ids)
    frame = panel.frame
    by_entity = panel.by_entity
    n_workers = _n_workers(client)
    if frame.npartitions < n_workers:  # at least one partition per worker
        frame = frame.repartition(npartitions=n_workers)
        by_entity = False
    uses_panel = _uses_panel(catalogue)
    needs_entity = uses_panel or compiled.impute.method.panel
    shuffled = False
    if needs_entity and not by_entity:  # whole entity histories in one partition
        frame = frame.shuffle(on=ENTITY, npartitions=frame.npartitions)
        shuffled = True
    all_periods = None
    if uses_panel and panel.periods is not None:
        all_periods = np.sort(panel.periods)
    elif uses_panel:  # lag/mean_over count periods over the whole panel
        (periods,) = _compute(frame[PERIOD].unique())
        all_periods = np.sort(np.asarray(periods))
    meta = frame._meta[[ENTITY, PERIOD, *panel.groups]].copy()
    for i in ids:
        meta[i] = np.zeros(0)
    indicators = frame.map_partitions(
        _indicator_partition,
        _shared(list(catalogue.values())),
        ids,
        panel.units,
        panel.groups,
        all_periods,
        meta=meta,
    )
    if persist:
        indicators = client.persist(indicators) if client is not None else indicators.persist()
    plan = _Plan(ids=ids, groups=list(panel.groups), plan=compiled, screen_on=compiled.screen_on)
    info: dict[str, Any] = {"passes": 0}
    # pass 1 over the raw values: the periods, the number of rows, imputation statistics
    impute_request = _impute_request(plan)
    requests = [impute_request] if impute_request is not None else []
    upto = "raw" if plan.screen_on == "raw" else None
    merged, plan.impute_periods, plan.n_rows = _learning_pass(
        indicators, plan, upto, requests, info
    )
    if plan.screen_on != "raw":  # every row is imputed before screening
        plan.impute_periods = np.sort(plan.impute_periods)
    if impute_request is not None:
        _learn_impute(plan, impute_request, merged[0])
    # pass 2 over the imputed (and screened) values: the treatment of every column
    imputed = _stage(indicators, plan, "imputed", persist, client, carry=plan.groups)
    treat_requests = _treat_requests(plan)
    merged, plan.periods, _ = _learning_pass(imputed, plan, None, treat_requests, info)
    if not len(plan.periods):
        raise DataError(
            f"screening ({compiled.screen.name}, {dict(compiled.screen.params)}) removed every "
            "row; lower the threshold or check the data"
        )
    treatment = _learn_treat(plan, merged)
    # pass 3 over the treated values: normalisation, and the report of transformed columns
    treated = _apply_stage(imputed, plan, persist, client, "treated")
    del imputed
    normalise_requests = _normalise_requests(plan)
    after = _after_transform(plan)
    wanted = [r for r in normalise_requests if r is not None] + ([after] if after else [])
    merged, _, _ = _learning_pass(treated, plan, None, wanted, info)
    if after is not None:
        treatment = _report_after(plan, treatment, after, merged[-1][None])
        merged = merged[:-1]
    normalisation, learnt = _learn_normalise(plan, normalise_requests, merged)
    weights, weight_info = _plan_weights(plan)
    # the scores, computed once from the treated values; ranks gathered from them
    normalised = _apply_stage(treated, plan, False, client, "normalised")
    scores = _apply_stage(normalised, plan, persist, client, "scores")
    del treated, normalised
    shared = _shared(plan)

    def stage(upto: str) -> Any:
        meta_frame = _run_partition(indicators._meta, plan, upto)
        return indicators.map_partitions(_run_partition, shared, upto, meta=meta_frame)

    stages = {name: stage(name) for name in ("raw", "imputed", "treated", "normalised")}
    rank_nodes = {"all": list(compiled.node_order), "root": [fw.id], "none": []}[ranks]
    table = scores
    if rank_nodes:  # an exact sort per node and period: gathered, then binary search
        (gathered,) = _compute(scores[[PERIOD, *rank_nodes]])
        info["passes"] += 1
        sorted_scores: dict[str, dict[Any, np.ndarray]] = {}
        positions = gathered.groupby(PERIOD, sort=False).indices
        signs = {
            n: 1.0 if better else -1.0
            for n, better in zip(compiled.node_order, compiled.higher_is_better, strict=True)
        }
        for node in rank_nodes:
            values = signs[node] * gathered[node].to_numpy(dtype=np.float64)
            sorted_scores[node] = {}
            for period, rows in positions.items():
                v = values[rows]
                sorted_scores[node][period] = np.sort(v[~np.isnan(v)])
        ranks_meta = _ranks_partition(scores._meta, {n: {} for n in rank_nodes})
        table = scores.map_partitions(
            _ranks_partition, _shared(sorted_scores), signs, meta=ranks_meta
        )
    audit = indicators.map_partitions(_run_partition, shared, "audit", meta=_empty_audit())
    transformed = [
        ["treat", None, None, ids[g.columns[j]], "transformed", np.nan, np.nan, name]
        for g in plan.treat or []
        for j, name in enumerate(g.transform)
        if name != "none"
    ]
    if transformed:
        import dask.dataframe as dd

        rows = _audit_types(pd.DataFrame(transformed, columns=AUDIT_COLUMNS))
        audit = dd.concat([audit, dd.from_pandas(rows, npartitions=1)])
    info.update(
        npartitions=indicators.npartitions,
        workers=n_workers,
        shuffled_by_entity=shuffled,
        persisted=persist,
        periods=len(plan.periods),
        graph_size=len(table.__dask_graph__()),
        schema_notes=panel.schema.to_dict(orient="records"),
    )
    return DaskIndexResult(
        framework=fw,
        table=table,
        stages=stages,
        audit=audit,
        weights=weights,
        effective_weights=_effective_weights(compiled, weights),
        normalisation=normalisation,
        treatment=treatment,
        weight_info=weight_info,
        learnt=learnt,
        info=info,
    )


# =============================================================================================
# Incidents on Dask: a distributed group-by of the incident files
# =============================================================================================
def _fold_counted(acc: Any, counter: Any, item: Any, plan: Any) -> Any:
    """Count one chunk and add it into the chain's grid (one task: no partial waits)."""
    from securindex.incidents.counting import fold_counts

    return fold_counts(acc, counter(item, plan), plan)


def _count_frame(frame: pd.DataFrame, plan: Any) -> Any:
    from securindex.incidents.counting import count_records

    part = count_records(frame, plan)
    part.sources = {"<DataFrame>": part.n_records}
    return part


def incidents_to_panel_dask(
    spec: IncidentSpec,
    data: Any = None,
    *,
    areas: Any = None,
    base_dir: str | Path = ".",
    name: str | None = None,
    client: Any = None,
    scheduler: str | None = None,
    rows_per_chunk: int = 2_000_000,
) -> IncidentPanel:
    """Count incident files into a panel as a distributed group-by (same result as pandas).

    Each task reads one chunk (a CSV file, or at most ``rows_per_chunk`` rows of row groups
    of a Parquet file) and counts it into (area, period) cells with the same vectorised
    kernel as the pandas engine (the map step of the group-by). The combine step: when the
    areas and periods are declared the grid is known, and each worker folds its chunks'
    counts into one dense (cells × variables) grid, so a worker holds one grid and one
    chunk whatever the amount of data; otherwise each chunk's counts are split into blocks
    of areas, each block summed in its own tree. The client sums the grids (or blocks) and
    builds the panel and the report. Data larger than the cluster's memory work.

    See :func:`securindex.incidents.incidents_to_panel` for the parameters.
    """
    dask = _dask()
    from securindex.incidents.counting import (
        count_chunk,
        grid_known,
        merge_counts,
        plan_counts,
        split_counts,
        unfold_counts,
    )
    from securindex.incidents.panel import finish_panel
    from securindex.incidents.reading import expand_sources, read_units, scan_files

    base = Path(base_dir)
    plan = plan_counts(spec, base, areas)
    with _scheduler(client, scheduler) as active:
        client = active
        shared = _shared(plan)
        import dask.dataframe as dd

        if isinstance(data, pd.DataFrame):
            data = dd.from_pandas(data, npartitions=max(1, len(data) // rows_per_chunk + 1))
        if isinstance(data, dd.DataFrame):
            items: list[tuple[Any, Any]] = [(_count_frame, p) for p in data.to_delayed()]
            files = pd.DataFrame({"file": ["<DataFrame>"], "schema": ["ok"]})
        else:
            sources = (
                spec.source
                if data is None
                else ([data] if isinstance(data, (str, Path)) else list(data))
            )
            if not sources:
                raise SpecError(
                    "no incident data: give data= or 'source' in the from_incidents block"
                )
            paths = expand_sources(sources, base)
            files = scan_files(paths, spec)
            items = [(count_chunk, c) for c in read_units(paths, rows_per_chunk)]
        if grid_known(plan):
            # the grid is known: one chain per worker, each task reading and counting one
            # chunk straight into the chain's dense grid, so a worker holds one grid and one
            # chunk however much data there is; the client sums the chains' grids
            n_chains = max(1, min(len(items), _n_workers(client)))
            ends = []
            for chain in range(n_chains):
                acc = None
                for counter, item in items[chain::n_chains]:
                    acc = dask.delayed(_fold_counted)(acc, counter, item, shared)
                ends.append(acc)
            total = unfold_counts(list(_compute(*ends)), plan)
        else:
            # a group-by with split output: each chunk's counts are split into blocks of
            # areas, each block summed in its own tree
            tasks = [dask.delayed(counter)(item, shared) for counter, item in items]
            n_blocks = max(1, min(16, len(tasks)))
            split = [dask.delayed(split_counts, nout=n_blocks)(t, n_blocks) for t in tasks]
            roots = [
                _tree_reduce([pieces[b] for pieces in split], merge_counts, split_every=4)
                for b in range(n_blocks)
            ]
            total = merge_counts(list(_compute(*roots)))
    files["n_records"] = files["file"].map(total.sources).fillna(0).astype(np.int64)
    return finish_panel(total, plan, files, name)
