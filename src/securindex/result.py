"""IndexResult: every stage of a composite-index build, its scores, ranks and audit.

A result is immutable. It keeps the indicator values it was built from, so
:meth:`IndexResult.rerun` rebuilds the index with one step changed without reading or
computing anything again (and reuses the stages before the first changed step). Its
:meth:`~IndexResult.table` — one row per (entity, period), one score column per node named
by the node id (the root's column is the framework id), then ``rank_<node>`` columns — is
what :meth:`~IndexResult.to_csv`, :meth:`~IndexResult.to_parquet` and
:meth:`~IndexResult.to_json` write, and :func:`read_scores` reads any of them back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.errors import DataError
from securindex.plan.rules import AUDIT_COLUMNS, rank_within_periods

if TYPE_CHECKING:
    from securindex.catalogue import IndicatorValues
    from securindex.framework import Framework
    from securindex.spec.framework import Step

__all__ = ["AUDIT_COLUMNS", "Filled", "IndexResult", "rank_within_periods", "read_scores"]


STAGE_NAMES = ("raw", "imputed", "treated", "normalised", "scores")


@dataclass(frozen=True, eq=False)
class Filled:
    """A stage equal to its base matrix but in a few cells: the cells imputation filled.

    The filled cells are kept column by column (compressed sparse columns: row positions
    and values, with each column's start), so the stage costs its filled cells, not a
    matrix; the matrix (and the mask of filled cells) is built on first use and kept,
    shared by every result that reuses the stage.

    Attributes
    ----------
    base : ndarray, shape (n_rows, n_columns)
        The stage before (the raw indicator values) [declared units].
    starts : ndarray of int64, shape (n_columns + 1,)
        Column ``j``'s cells are ``rows[starts[j]:starts[j + 1]]``.
    rows : ndarray of int, shape (n_filled,)
        Row positions of the filled cells, increasing within each column.
    values : ndarray of float64, shape (n_filled,)
        Their values [declared units].
    """

    base: np.ndarray
    starts: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_cells(
        cls, base: np.ndarray, rows: np.ndarray, columns: np.ndarray, values: np.ndarray
    ) -> Filled:
        """The stage from its filled cells ``(rows, columns)``, ordered by column then row."""
        counts = np.bincount(np.asarray(columns, dtype=np.int64), minlength=base.shape[1])
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        small = np.int32 if base.shape[0] < 2**31 else np.int64
        return cls(base, starts, np.asarray(rows, dtype=small), np.asarray(values, np.float64))

    @classmethod
    def nothing(cls, base: np.ndarray) -> Filled:
        """The stage equal to ``base`` (nothing filled)."""
        empty = np.empty(0, dtype=np.int64)
        return cls.from_cells(base, empty, empty, np.empty(0))

    def _columns(self) -> np.ndarray:
        """The column of each filled cell."""
        return np.repeat(np.arange(self.base.shape[1]), np.diff(self.starts))

    def block(self, columns: list[int]) -> np.ndarray:
        """The stage's columns ``columns`` (a view of ``base`` when none was filled)."""
        spans = [slice(int(self.starts[c]), int(self.starts[c + 1])) for c in columns]
        if all(s.start == s.stop for s in spans):
            if columns == list(range(columns[0], columns[-1] + 1)):
                return self.base[:, columns[0] : columns[-1] + 1]
            return self.base[:, columns]
        out = np.array(self.base[:, columns], dtype=np.float64, order="F")
        for local, span in enumerate(spans):
            out[self.rows[span], local] = self.values[span]
        return out

    def copy(self) -> np.ndarray:
        """A fresh (Fortran-ordered) matrix of the stage."""
        out = np.array(self.base, dtype=np.float64, order="F", copy=True)
        for column in range(self.base.shape[1]):
            span = slice(int(self.starts[column]), int(self.starts[column + 1]))
            out[self.rows[span], column] = self.values[span]
        return out

    def matrix(self) -> np.ndarray:
        """The stage as a matrix: ``base`` itself when nothing was filled; built once."""
        if not len(self.values):
            return self.base
        if "matrix" not in self._cache:
            self._cache["matrix"] = self.copy()
        return self._cache["matrix"]

    def mask(self) -> np.ndarray:
        """True at the filled cells, shape of ``base``; built once."""
        if "mask" not in self._cache:
            mask = np.zeros(self.base.shape, dtype=bool, order="F")
            mask[self.rows, self._columns()] = True
            self._cache["mask"] = mask
        return self._cache["mask"]

    def take_rows(self, kept: np.ndarray, base: np.ndarray) -> Filled:
        """The stage on the rows ``kept`` (sorted positions), over ``base`` (those rows)."""
        keep = np.zeros(self.base.shape[0], dtype=bool)
        keep[kept] = True
        here = keep[self.rows]
        new_row = np.cumsum(keep) - 1
        return Filled.from_cells(
            base, new_row[self.rows[here]], self._columns()[here], self.values[here]
        )


@dataclass(frozen=True)
class IndexResult:
    """The outcome of :meth:`Framework.compute`; immutable.

    Every stage is a DataFrame indexed by ``(entity, period)`` (the rows kept by
    screening) with one column per indicator, in the order of the framework's leaves.

    Attributes
    ----------
    framework : Framework
        The framework that was built (with any step replaced for this run).
    indicator_values : IndicatorValues
        Indicator values over the whole panel, before screening [declared units].
    groups : DataFrame
        The panel's group columns (used by grouped imputation).
    raw : DataFrame
        Indicator values of the rows kept by screening [declared units].
    fills : Filled
        The cells imputation filled, over the raw stage (the imputed stage costs its
        filled cells until ``imputed`` is first read).
    imputed : DataFrame
        After imputation [declared units]; ``imputed_mask`` marks the filled cells.
    imputed_mask : DataFrame of bool
        True where a missing value was imputed.
    treated : DataFrame
        After outlier treatment [declared units, or the transform's for log/Box-Cox columns].
    normalised : DataFrame
        After normalisation, oriented so that higher is more secure [score of the method].
    scores : DataFrame
        One column per node, the root first (its column is the framework id) [score].
    ranks : DataFrame
        Rank of each row's score within its period, 1 = highest; ties share the best rank.
    weights : dict[str, Series]
        For each node, its children's weights after the weighting method [unitless, sum 1];
        the mean over rows for per-row weights (benefit of the doubt).
    effective_weights : Series
        Each indicator's overall weight through the tree: the product of the weights on its
        path (COINr's effective weights) [unitless, sum 1].
    normalisation : DataFrame
        What each indicator's normaliser learnt (goalposts, mean, sd …), indexed by
        indicator; one row per indicator and period with ``reference: per_period``.
    treatment : DataFrame
        The outlier-treatment report, one row per indicator: skewness and kurtosis before
        and after, points winsorised, transform.
    audit : DataFrame
        One row per action taken on the data (:data:`AUDIT_COLUMNS`): rows excluded by
        screening, imputed cells, winsorised cells (``before``/``after``), transformed
        columns, rows a node did not score for lack of coverage.
    weight_info : dict[str, dict]
        What each node's weighting method learnt (PCA loadings, AHP consistency, BoD scores).
    learnt : dict[str, dict]
        Each indicator's normalisation statistics as arrays (including those with a period
        or reference axis), to apply the same normalisation to other data.
    kept_rows : ndarray or None
        Positions, in ``indicator_values.frame``, of the rows kept by screening (None: all).
    settings : dict
        A fingerprint of each stage's settings, used by :meth:`rerun` to reuse stages.
    data_name : str or None
        Name of the dataset.
    areas : securindex.geo.Areas or None
        The entities' polygons when the panel had them (maps, hot spots, GeoPackage and
        GeoParquet export: :meth:`to_geofile`).
    id_names : dict
        The data's own names of the id columns (``entity``, ``period`` and, when the data
        have labels, ``label`` keys → column names, from the data dictionary), used by
        every file written and by ``table(names=True)`` and :meth:`to_long`.
    """

    framework: Framework
    indicator_values: IndicatorValues
    groups: pd.DataFrame
    raw: pd.DataFrame
    fills: Filled
    treated: pd.DataFrame
    normalised: pd.DataFrame
    scores: pd.DataFrame
    weights: dict[str, pd.Series]
    effective_weights: pd.Series
    normalisation: pd.DataFrame
    treatment: pd.DataFrame
    audit: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AUDIT_COLUMNS))
    weight_info: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    learnt: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    kept_rows: np.ndarray | None = field(default=None, repr=False)
    settings: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    data_name: str | None = None
    areas: Any = field(default=None, repr=False)
    id_names: dict[str, str] = field(default_factory=dict, repr=False)

    # -- views ----------------------------------------------------------------------------
    @cached_property
    def imputed(self) -> pd.DataFrame:
        """After imputation [declared units] (the raw stage when nothing was filled)."""
        if not len(self.fills.values):
            return self.raw
        return pd.DataFrame(
            self.fills.matrix(), index=self.raw.index, columns=self.raw.columns, copy=False
        )

    @cached_property
    def imputed_mask(self) -> pd.DataFrame:
        """True where a missing value was imputed."""
        return pd.DataFrame(
            self.fills.mask(), index=self.raw.index, columns=self.raw.columns, copy=False
        )

    @cached_property
    def ranks(self) -> pd.DataFrame:
        """Rank of each row's score within its period, per node: 1 = best.

        The best is the highest score, or the lowest for a node with ``higher_is: worse``
        (a peace or hardship index). Ties share the best rank (1, 2, 2, 4); NaN where the
        node has no score. Computed on first use (one sort per node and period) and kept.
        """
        periods = self.scores.index.get_level_values("period")
        codes, _ = pd.factorize(periods, sort=True)
        better = [self.framework.higher_is(str(n)) == "better" for n in self.scores.columns]
        ranks = rank_within_periods(
            self.scores.to_numpy(), np.asarray(codes, dtype=np.int64), better
        )
        return pd.DataFrame(ranks, index=self.scores.index, columns=self.scores.columns, copy=False)

    @property
    def index(self) -> pd.Series:
        """The root node's score (the composite index) [score]."""
        return self.scores[self.framework.id]

    def stage(self, name: str) -> pd.DataFrame:
        """A stage by name: ``raw``, ``imputed``, ``treated``, ``normalised`` or ``scores``."""
        if name not in STAGE_NAMES:
            raise KeyError(f"no stage '{name}'; stages are {list(STAGE_NAMES)}")
        frame: pd.DataFrame = getattr(self, name)
        return frame

    def table(self, *, names: bool = False) -> pd.DataFrame:
        """One row per (entity, period): every node's score, then ``rank_<node>`` columns.

        Score columns are named by node id, the root's by the framework id, root first;
        ranks are integers (missing where the node has no score).

        Parameters
        ----------
        names
            False (default): the id columns are ``entity`` and ``period``. True: they carry
            the data's own names (``community_id``, ``year``) and the entity's label
            follows the id when the data have one, as in the files :meth:`write` writes.
        """
        ranks = self.ranks.astype("Int64").add_prefix("rank_")
        table = pd.concat([self.scores, ranks], axis=1).reset_index()
        return self._named(table, label=True) if names else table

    def _labels(self) -> pd.Series | None:
        """Each entity's label (None when the data have none)."""
        if "label" not in self.groups.columns or "label" not in self.id_names:
            return None
        labels = self.groups["label"].droplevel("period")
        return labels[~labels.index.duplicated()]

    def _named(self, frame: pd.DataFrame, *, label: bool = False) -> pd.DataFrame:
        """``frame`` (with ``entity``/``period`` columns) in the data's own column names."""
        entity = self.id_names.get("entity", "entity")
        period = self.id_names.get("period", "period")
        taken = set(frame.columns) - {"entity", "period"}
        out = frame
        labels = self._labels() if label else None
        label_name = self.id_names.get("label")
        if labels is not None and label_name and label_name not in taken | {entity, period}:
            position = list(frame.columns).index("entity") + 1
            out = frame.copy()
            out.insert(position, label_name, frame["entity"].map(labels).to_numpy())
        mapping = {k: v for k, v in (("entity", entity), ("period", period)) if v not in taken}
        return out.rename(columns=mapping)

    def to_long(self, *, stages: tuple[str, ...] = STAGE_NAMES, names: bool = True) -> pd.DataFrame:
        """Every value of the chosen stages as one tidy table, one row per value.

        Columns: the entity id (and label, when the data have one), the period, ``stage``
        (``raw`` … ``normalised`` for indicators, ``scores`` for nodes), ``item`` (the
        indicator or node id), ``value`` and, for scores, ``rank``. Missing values are
        kept (as NaN), so every (entity, period, item) of a stage has its row.

        Parameters
        ----------
        stages
            Any of ``raw``, ``imputed``, ``treated``, ``normalised``, ``scores``.
        names
            True (default): the id columns carry the data's own names (as the files written
            by :meth:`write`); False: ``entity`` and ``period``.

        Examples
        --------
        >>> from securindex import Framework, Panel
        >>> result = Framework.load("iusi").compute(Panel.example("uci_communities"))
        >>> tidy = result.to_long(stages=("scores",))
        >>> list(tidy.columns)
        ['community_id', 'year', 'stage', 'item', 'value', 'rank']
        >>> len(tidy) == len(result.scores) * result.scores.shape[1]
        True
        """
        parts = []
        for stage in stages:
            frame = self.stage(stage)
            long = frame.rename_axis(columns="item").stack(future_stack=True).rename("value")
            part = long.reset_index()
            part.insert(2, "stage", stage)
            if stage == "scores":
                ranks = self.ranks.rename_axis(columns="item").stack(future_stack=True)
                part["rank"] = ranks.to_numpy()
                part["rank"] = part["rank"].astype("Int64")
            parts.append(part)
        tidy = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if "rank" not in tidy.columns:
            tidy["rank"] = pd.array([pd.NA] * len(tidy), dtype="Int64")
        return self._named(tidy, label=True) if names else tidy

    def period(self, period: object) -> pd.DataFrame:
        """Scores and ranks of one period, best first."""
        table = self.table()
        table = table[table["period"] == period]
        if table.empty:
            periods = sorted(self.scores.index.unique("period"))
            raise DataError(f"no results for period {period!r}; periods are {periods}")
        return table.sort_values(f"rank_{self.framework.id}").reset_index(drop=True)

    # -- re-running ---------------------------------------------------------------------------
    def rerun(
        self, *, keep_overrides: bool = False, **steps: Step | Mapping[str, Any]
    ) -> IndexResult:
        """Rebuild from the stored indicator values with some pipeline steps replaced.

        Examples: ``result.rerun(normalise={"method": "zscore"})``,
        ``result.rerun(aggregate={"method": "geometric"}, normalise={"method": "minmax",
        "lo": 1, "hi": 100})``. Data are not reloaded and indicators not recomputed, and the
        stages before the first changed step are reused as they are.

        Parameters
        ----------
        keep_overrides
            False (default): a replaced step applies to every indicator and node (per-
            indicator and per-node settings of that family are dropped). True: only the
            pipeline default changes.
        **steps
            ``family={"method": ..., <parameters>}`` (see :meth:`Framework.with_steps`).

        Raises
        ------
        SpecError
            The changed framework does not validate.
        """
        framework = self.framework.replace_steps(steps, keep_overrides=keep_overrides)
        rebuilt = framework.compute_values(
            self.indicator_values, self.groups, previous=self, data_name=self.data_name
        )
        return replace(rebuilt, id_names=dict(self.id_names), areas=self.areas)

    # -- export -----------------------------------------------------------------------------
    def to_csv(self, path: str | Path) -> Path:
        """Write ``table(names=True)`` as CSV (read it back with :func:`read_scores`)."""
        path = Path(path)
        self.table(names=True).to_csv(path, index=False)
        return path

    def to_parquet(self, path: str | Path) -> Path:
        """Write :meth:`table` as Parquet (needs pyarrow: ``securindex[parquet]``)."""
        path = Path(path)
        try:
            self.table(names=True).to_parquet(path, index=False)
        except ImportError as exc:
            raise DataError(
                f"writing Parquet needs pyarrow: pip install 'securindex[parquet]' ({exc})"
            ) from None
        return path

    def to_dict(self, *, include_scores: bool = True) -> dict[str, Any]:
        """Everything a report or another tool needs, as JSON-ready Python values.

        Floats are kept exactly (NaN becomes ``null``), so :func:`read_scores` gives back
        the same table.
        """
        return result_record(
            self.framework,
            data={
                "name": self.data_name,
                "ids": {"entity": "entity", "period": "period", **self.id_names},
            },
            table=self.table(names=True) if include_scores else None,
            weights=self.weights,
            effective_weights=self.effective_weights,
            normalisation=self.normalisation,
            treatment=self.treatment,
            audit=self._named(self.audit),
        )

    def to_json(self, path: str | Path, *, include_scores: bool = True) -> Path:
        """Write :meth:`to_dict` as JSON (read the scores back with :func:`read_scores`)."""
        path = Path(path)
        text = json.dumps(self.to_dict(include_scores=include_scores), indent=1, allow_nan=False)
        path.write_text(text, encoding="utf-8")
        return path

    def to_geofile(self, path: str | Path, *, period: object | None = None) -> Path:
        """Write the scores and ranks with the areas' polygons, for QGIS and other GIS.

        The format follows the suffix: ``.gpkg`` (GeoPackage, one layer ``scores``) or
        ``.parquet`` (GeoParquet). One row per (area, period) — or only ``period``'s rows
        — with the columns of :meth:`table`; polygons without data are kept with missing
        scores. See :func:`securindex.geo.write_geofile`.

        Raises
        ------
        DataError
            The result has no areas (the data dictionary names no polygons).
        """
        from securindex.geo.export import write_geofile

        table = self.table()
        if period is not None:
            table = table[table["period"] == period]
        return write_geofile(self.areas, table, path, source=self.data_name or "result")

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write scores, every stage, weights and the audit as CSV files into ``folder``.

        Files: ``scores.csv`` (``table(names=True)``), ``raw.csv``, ``imputed.csv``,
        ``treated.csv``, ``normalised.csv``, ``weights.csv``, ``audit.csv``,
        ``indicator_audit.csv`` and ``result.json`` (framework, the id column names,
        weights, normalisation, treatment, audit and the scores). The id columns carry the
        data's own names (:attr:`id_names`).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {"scores": self.to_csv(folder / "scores.csv")}
        for name in ("raw", "imputed", "treated", "normalised"):
            target = folder / f"{name}.csv"
            self._named(self.stage(name).reset_index()).to_csv(target, index=False)
            written[name] = target
        weights_table(self.weights, self.effective_weights).to_csv(
            folder / "weights.csv", index=False
        )
        written["weights"] = folder / "weights.csv"
        self._named(self.audit).to_csv(folder / "audit.csv", index=False)
        written["audit"] = folder / "audit.csv"
        indicator_audit = self._named(self.indicator_values.audit)
        indicator_audit.to_csv(folder / "indicator_audit.csv", index=False)
        written["indicator_audit"] = folder / "indicator_audit.csv"
        written["json"] = self.to_json(folder / "result.json")
        if self.areas is not None:  # the scores with the polygons, for a GIS and the report's map
            from securindex._extras import has_extra

            if has_extra("geo"):
                written["geopackage"] = self.to_geofile(folder / "scores.gpkg")
        return written

    def __repr__(self) -> str:
        n_entities = len(self.scores.index.unique("entity"))
        n_periods = len(self.scores.index.unique("period"))
        return (
            f"IndexResult({self.framework.id}: {n_entities} entities × {n_periods} periods, "
            f"{len(self.framework.indicators)} indicators, {len(self.audit)} audit rows)"
        )


def weights_table(weights: Mapping[str, pd.Series], effective_weights: pd.Series) -> pd.DataFrame:
    """``weights.csv`` of every engine: one row per (node, child) with the node's weight
    and the child's effective weight in the index."""
    table = pd.DataFrame(
        [
            {"node": node, "child": child, "weight": w}
            for node, series in weights.items()
            for child, w in series.items()
        ]
    )
    table["effective_weight"] = table["child"].map(effective_weights)
    return table


def result_record(
    fw: Framework,
    *,
    data: Mapping[str, Any],
    table: pd.DataFrame | None,
    weights: Mapping[str, pd.Series],
    effective_weights: pd.Series,
    normalisation: pd.DataFrame,
    treatment: pd.DataFrame,
    audit: pd.DataFrame | None,
    **extra: Any,
) -> dict[str, Any]:
    """What ``result.json`` holds, JSON-ready: one record for every engine's results.

    ``data`` names the dataset and its id columns; ``table`` is the score table in the
    data's own names (None: the scores are not included); ``extra`` keys (an engine's
    run information) follow the tables.
    """
    spec = fw.spec
    pipeline: dict[str, Any] = {
        family: {
            "method": getattr(spec.pipeline, family).method,
            **getattr(spec.pipeline, family).params,
        }
        for family in ("screen", "impute", "treat", "normalise", "weight", "aggregate")
    }
    pipeline["missing"] = spec.pipeline.missing.model_dump()
    framework = {
        "id": fw.id,
        "name": spec.name,
        "version": spec.version,
        "description": spec.description,
        "tree": {k: list(v) for k, v in fw.children.items()},
        "nodes": {
            n: {"name": fw.node_name(n), "aggregate": fw.aggregate_step(n).method}
            for n in fw.node_order
        },
        "indicators": {
            i: {
                "name": fw.catalogue[i].name,
                "unit": fw.catalogue[i].unit,
                "polarity": fw.polarity(i),
            }
            for i in fw.indicators
        },
        "pipeline": pipeline,
    }
    out: dict[str, Any] = {"framework": framework, "data": dict(data)}
    if table is not None:
        out["columns"] = [str(c) for c in table.columns]
        out["scores"] = _records(table)
    out["weights"] = {k: {str(c): float(w) for c, w in v.items()} for k, v in weights.items()}
    out["effective_weights"] = {str(k): float(v) for k, v in effective_weights.items()}
    out["normalisation"] = _records(normalisation.reset_index())
    out["treatment"] = _records(treatment)
    if audit is not None:
        out["audit"] = _records(audit)
    out.update(extra)
    return dict(_plain(out))


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a table written by :meth:`IndexResult.to_csv`, ``to_parquet`` or ``to_json``.

    The id columns of a written table carry the data's own names (``community_id``,
    ``year``, then the label column when there is one); they are the first columns of
    every table securindex writes, and are read back as ``entity`` and ``period`` (a
    label column is dropped), so the table is the one :meth:`IndexResult.table` returns.

    Returns
    -------
    DataFrame
        ``entity``, ``period``, a score column per node and ``rank_<node>`` columns
        (nullable integers), as :meth:`IndexResult.table` returns them.

    Raises
    ------
    DataError
        The file type is unknown, or a JSON file holds no scores.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = pd.read_parquet(path)
    elif suffix == ".csv":
        table = pd.read_csv(path)
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if "scores" not in data:
            raise DataError(
                f"{path}: no 'scores' in this JSON file (written with include_scores=False; "
                "the scores are in scores.csv beside it)"
            )
        table = pd.DataFrame(data["scores"], columns=data.get("columns"))
    else:
        raise DataError(f"{path}: unknown file type; expected .csv, .parquet or .json")
    table = _canonical_ids(table, source=path)
    for column in table.columns:
        if str(column).startswith("rank_"):
            table[column] = table[column].astype("Int64")
        elif column not in ("entity", "period"):
            table[column] = table[column].astype(np.float64)
    return table


def _canonical_ids(table: pd.DataFrame, *, source: object) -> pd.DataFrame:
    """A written score table with its first columns named ``entity`` and ``period``.

    The scores follow the ids (and the label), so the columns before the first score
    column are the ids: two of them, or three with a label between entity and period.
    """
    if {"entity", "period"} <= set(table.columns):
        return table
    columns = list(table.columns)
    ranks = [i for i, c in enumerate(columns) if str(c).startswith("rank_")]
    n_nodes = len(ranks)
    first_score = (ranks[0] - n_nodes) if ranks else 2
    if first_score not in (2, 3):
        raise DataError(
            f"{source}: cannot tell the id columns from the scores (columns {columns[:6]}); "
            "expected a table written by IndexResult.to_csv"
        )
    if first_score == 3:  # id, label, period
        table = table.drop(columns=columns[1])
        columns = list(table.columns)
    return table.rename(columns={columns[0]: "entity", columns[1]: "period"})


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    return records


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars, arrays, NaN and pandas NA made JSON-ready."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
