"""Run a framework's pipeline: screen → impute → treat → normalise → weight → aggregate.

Every step works on the whole (rows × indicators) matrix, never looping over entities
(the one documented exception is the benefit-of-the-doubt weighting, one linear programme
per row). Two kinds of blocking keep the cost of a build a small multiple of one pass over
the matrix and its peak memory a small multiple of the matrix:

* column blocks: treat, impute and normalise methods work column by column (every
  built-in method does; a user method says so with ``columnwise=True`` in its registry
  entry), so the pipeline feeds them blocks of columns of about ``_BLOCK_BYTES``. The
  methods' temporaries then stay small and are recycled by the allocator instead of being
  mapped fresh from the operating system for every operation;
* row blocks of about ``_ROW_BLOCK_BYTES``, whose temporaries stay in cache: aggregation
  methods that combine each row's children on their own (every built-in one but those
  comparing rows, i.e. taking ``groups``; a user method says so with ``rowwise=True``),
  and the application of normalisation statistics learnt beforehand from whole columns
  (learn first, apply second).

Treat methods that leave indicators passing the JRC skewness–kurtosis rule untouched only
receive the failing ones: the pipeline tests the rule once per indicator. Stages that
change nothing are not copied (without imputation the imputed stage is the raw matrix
itself), and audit rows are built only from the cells a step actually changed.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, steps 3–6. OECD Publishing. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, PERIOD
from securindex.errors import DataError, SpecError
from securindex.methods._registry import Method
from securindex.methods._types import BoolArray, FloatArray, IntArray
from securindex.methods.normalise import normalise_by_period, run_normaliser
from securindex.methods.treat import run_treater, treat_by_period
from securindex.methods.weight import overall_weights
from securindex.plan import NodePlan, Plan, compile_plan, node_weights, score_node
from securindex.plan.rules import (
    REASONS,
    AuditRows,
    audit_join,
    audit_rows,
    audit_table,
    column_audit,
    impute_node,
    node_is_rowwise,
    normalisation_rows,
    normalise_node,
    weight_total,
)
from securindex.result import Filled, IndexResult
from securindex.spec.framework import Step

if TYPE_CHECKING:
    from securindex.catalogue import IndicatorValues
    from securindex.dataset import Panel
    from securindex.framework import Framework

__all__ = [
    "build_index",
    "normalisation_rows",
    "run_pipeline",
    "score_nodes",
]

_BLOCK_BYTES = 8 * 2**20
"""Target size of a block of whole columns [bytes]: below glibc's largest mmap threshold
(32 MiB), so temporaries of that size are reused rather than page-faulted anew."""

_ROW_BLOCK_BYTES = 2**20
"""Target size of a block of rows [bytes]: small enough for the temporaries of a
row-wise method to stay in the processor's cache."""

STAGES = ("screen", "impute", "treat", "normalise")
"""Stages whose output a re-run can reuse when their settings did not change."""


def build_index(
    framework: Framework, data: Panel, **steps: Step | Mapping[str, Any]
) -> IndexResult:
    """Compute the framework's indicators over ``data`` and build the index.

    Parameters
    ----------
    framework
        A validated framework.
    data
        The panel holding the variables the indicators read.
    **steps
        Steps replacing the framework's for this run (see :meth:`Framework.with_steps`).

    Returns
    -------
    IndexResult
        Every stage, the scores and ranks of every node, weights and the audit.
    """
    framework = framework.replace_steps(steps)
    values = framework.catalogue.compute(data, indicators=list(framework.indicators))
    result = run_pipeline(framework, values, data.groups, data_name=data.name)
    areas = getattr(data, "areas", None)  # the polygons, for maps and hot spots
    return dataclasses.replace(result, id_names=data.id_names, areas=areas)  # the data's own names


@dataclass
class _Stages:
    """What the pipeline has computed so far (internal and mutable during one run)."""

    index: pd.MultiIndex
    rows: IntArray | None
    raw: FloatArray
    imputed: Filled | None = None
    treated: FloatArray | None = None
    treatment: pd.DataFrame | None = None
    normalised: FloatArray | None = None
    normalisation: pd.DataFrame | None = None
    learnt: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: dict[str, list[AuditRows | pd.DataFrame]] = field(
        default_factory=lambda: {s: [] for s in (*STAGES, "aggregate")}
    )
    _periods: tuple[pd.MultiIndex, IntArray, np.ndarray] | None = None

    def periods(self) -> tuple[IntArray, np.ndarray]:
        """Codes of each row's period and the sorted labels (computed once per index)."""
        if self._periods is None or self._periods[0] is not self.index:
            self._periods = (self.index, *_period_codes(self.index))
        return self._periods[1], self._periods[2]


def run_pipeline(
    framework: Framework,
    values: IndicatorValues,
    groups: pd.DataFrame,
    *,
    previous: IndexResult | None = None,
    data_name: str | None = None,
) -> IndexResult:
    """Build the index from already computed indicator values.

    Parameters
    ----------
    framework
        A validated framework.
    values
        Indicator values over the panel, one column per indicator, indexed by
        ``(entity, period)`` [declared units].
    groups
        Group columns of the panel (region, state …) on the same index, used by grouped
        imputation.
    previous
        A result built from the same ``values``; stages whose settings did not change are
        taken from it instead of being recomputed (see :meth:`IndexResult.rerun`).
    data_name
        Name of the dataset, recorded in the result.

    Returns
    -------
    IndexResult

    Raises
    ------
    DataError
        Screening removed every row, a group column is missing, the base period is not in
        the data, a node with policy ``fail`` has missing children, or a method met values
        it cannot handle (e.g. a 0 under a geometric mean).
    """
    plan = compile_plan(framework)
    ids = list(plan.indicators)
    settings = framework.settings()
    screen_on = plan.screen_on
    reuse = _reusable(previous, settings, values, groups, screen_on)
    if reuse:
        assert previous is not None
        stages = _stages_from(previous, reuse)
    else:
        stages = _Stages(index=values.frame.index, rows=None, raw=_matrix(values.frame, ids))
    if "screen" not in reuse and screen_on == "raw":
        _screen(plan, stages, stages.raw)
    if "impute" not in reuse:
        _impute(plan, stages, groups)
    if "screen" not in reuse and screen_on == "imputed":
        assert stages.imputed is not None
        _screen(plan, stages, stages.imputed.matrix())
    if "treat" not in reuse:
        _treat(plan, stages)
    # the audit rows so far as one compact table before the last two matrices are made
    early = [a for stage in ("screen", "impute", "treat") for a in stages.audit[stage]]
    stages.audit.update(screen=[audit_join(early)], impute=[], treat=[])
    if "normalise" not in reuse:
        _normalise(plan, stages)
    return _aggregate_all(framework, plan, stages, values, groups, settings, data_name)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _matrix(frame: pd.DataFrame, ids: Sequence[str]) -> FloatArray:
    """The indicator columns as a float64 (rows × indicators) matrix, a view when possible."""
    if list(frame.columns) == list(ids):
        return np.asarray(frame.to_numpy(dtype=np.float64, copy=False))
    return np.asarray(frame[list(ids)].to_numpy(dtype=np.float64, copy=False))


def _blocks(columns: Sequence[int], n_rows: int, columnwise: bool) -> Iterator[list[int]]:
    """Blocks of column positions of about ``_BLOCK_BYTES`` each."""
    columns = list(columns)
    if not columnwise:
        yield columns
        return
    size = max(1, _BLOCK_BYTES // max(1, 8 * n_rows))
    for start in range(0, len(columns), size):
        yield columns[start : start + size]


def _row_blocks(n_rows: int, n_columns: int) -> Iterator[slice]:
    """Slices of about ``_ROW_BLOCK_BYTES`` of a (rows × n_columns) float64 matrix."""
    size = max(1, _ROW_BLOCK_BYTES // max(1, 8 * n_columns))
    for start in range(0, n_rows, size):
        yield slice(start, min(n_rows, start + size))


def _take(x: FloatArray, columns: list[int]) -> FloatArray:
    """Columns of ``x``: a view for a contiguous run, else a (small) copy."""
    if columns == list(range(columns[0], columns[-1] + 1)):
        return x[:, columns[0] : columns[-1] + 1]
    return x[:, columns]


def _codes(values: Any) -> IntArray:
    codes, _ = pd.factorize(np.asarray(values), sort=True)
    return np.asarray(codes, dtype=np.int64)


def _period_codes(index: pd.MultiIndex) -> tuple[IntArray, np.ndarray]:
    """Codes of each row's period (0 = earliest) and the sorted period labels."""
    labels = index.get_level_values(PERIOD)
    codes, uniques = pd.factorize(labels, sort=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def _reusable(
    previous: IndexResult | None,
    settings: Mapping[str, tuple[str, ...]],
    values: IndicatorValues,
    groups: pd.DataFrame,
    screen_on: str,
) -> tuple[str, ...]:
    """Leading stages of ``previous`` whose settings equal ``settings``.

    Screening decides the rows, so nothing is reused when it changed; when it screens the
    imputed data it also depends on the imputation.
    """
    if previous is None or previous.indicator_values is not values or previous.groups is not groups:
        return ()
    old = previous.settings
    if old.get("screen") != settings["screen"]:
        return ()
    if screen_on == "imputed" and old.get("impute") != settings["impute"]:
        return ()
    same: list[str] = []
    for stage in STAGES:
        if old.get(stage) != settings[stage]:
            break
        same.append(stage)
    return tuple(same)


def _stages_from(previous: IndexResult, reuse: tuple[str, ...]) -> _Stages:
    """The stages of an earlier result up to the last reusable one."""
    index = previous.raw.index
    assert isinstance(index, pd.MultiIndex)
    stages = _Stages(index=index, rows=previous.kept_rows, raw=previous.raw.to_numpy())
    audit = previous.audit
    for stage in reuse:
        part = audit[audit["stage"] == stage]
        if len(part):
            stages.audit[stage].append(part)
    if "impute" in reuse:
        stages.imputed = previous.fills
    if "treat" in reuse:
        stages.treated = previous.treated.to_numpy()
        stages.treatment = previous.treatment
    if "normalise" in reuse:
        stages.normalised = previous.normalised.to_numpy()
        stages.normalisation = previous.normalisation
        stages.learnt = previous.learnt
    return stages


# --------------------------------------------------------------------------------------
# Screen
# --------------------------------------------------------------------------------------


def _screen(plan: Plan, stages: _Stages, x: FloatArray) -> None:
    """Drop rows with too little data (OECD/JRC Handbook step 3; COINr ``Screen``)."""
    step = plan.screen
    params = step.kwargs()
    keep = np.asarray(step.method(x, **params), dtype=bool)
    if keep.shape != (x.shape[0],):
        raise SpecError(
            f"screen method '{step.name}' returned shape {keep.shape}; expected one "
            f"boolean per row, shape ({x.shape[0]},)"
        )
    if keep.all():
        return
    if not keep.any():
        raise DataError(
            f"screening ({step.name}, {params}) removed every row; lower the threshold "
            "or check the data"
        )
    dropped = np.flatnonzero(~keep)
    share = (~np.isnan(x[dropped])).mean(axis=1)
    stages.audit["screen"].append(
        audit_rows(
            "screen",
            stages.index,
            dropped,
            "row",
            "excluded",
            share,
            np.nan,
            f"{step.name} {params}: share of indicators present",
        )
    )
    kept = np.flatnonzero(keep)
    stages.rows = kept if stages.rows is None else stages.rows[kept]
    stages.index = stages.index[kept]
    stages.raw = stages.raw[kept]
    if stages.imputed is not None:
        stages.imputed = stages.imputed.take_rows(kept, stages.raw)


# --------------------------------------------------------------------------------------
# Impute
# --------------------------------------------------------------------------------------


def _impute(plan: Plan, stages: _Stages, groups: pd.DataFrame) -> None:
    """Fill gaps; only columns with gaps are passed to the method (others have nothing
    to fill), and the imputed stage keeps the filled cells only (:class:`Filled`)."""
    step = plan.impute
    params = step.kwargs()
    method = step.method
    ids = list(plan.indicators)
    x = stages.raw
    n_rows = x.shape[0]
    fills: list[tuple[IntArray, IntArray, FloatArray]] = []
    kwargs: dict[str, Any] = {}
    audit: list[AuditRows | pd.DataFrame] = []
    for block in _blocks(range(len(ids)), n_rows, step.columnwise):
        part = _take(x, block)
        gaps = np.isnan(part).any(axis=0)
        if not gaps.any():
            continue
        if not kwargs:
            kwargs = _impute_codes(stages, groups, plan.impute_group)
        columns = [c for c, g in zip(block, np.asarray(gaps).tolist(), strict=True) if g]
        result = method(_take(x, columns), **kwargs, **params)
        filled = np.asarray(result.imputed, dtype=bool)
        if not filled.any():
            continue
        values = np.asarray(result.values, dtype=np.float64)
        by_column, by_row = np.nonzero(filled.T)  # the stage's order: column, then row
        fills.append((by_row, np.asarray(columns)[by_column], values[by_row, by_column]))
        rows, local = np.nonzero(filled)
        audit.append(
            audit_rows(
                "impute",
                stages.index,
                rows,
                pd.Categorical.from_codes(local, categories=[ids[c] for c in columns]),
                "imputed",
                np.nan,
                values[rows, local],
                step.name,
            )
        )
    if fills:
        rows, cols, values = (np.concatenate(part) for part in zip(*fills, strict=True))
        stages.imputed = Filled.from_cells(x, rows, cols, values)
    else:
        stages.imputed = Filled.nothing(x)
    stages.audit["impute"] = audit


def _impute_codes(stages: _Stages, groups: pd.DataFrame, column: str | None) -> dict[str, Any]:
    """Entity, period and group codes of the rows, as the imputers take them."""
    return _row_codes(stages.index, groups, column)


def _row_codes(index: pd.MultiIndex, groups: pd.DataFrame, column: str | None) -> dict[str, Any]:
    """Entity, period and group codes of the rows ``index``, as the imputers take them."""
    periods = index.get_level_values(PERIOD)
    # numeric periods (years) keep their spacing for interpolation; others get codes
    period = (
        np.asarray(periods, dtype=np.float64)
        if pd.api.types.is_numeric_dtype(periods)
        else _period_codes(index)[0]
    )
    codes: dict[str, Any] = {
        "entity": _codes(index.get_level_values(ENTITY)),
        "period": period,
        "groups": None,
    }
    if column is not None:
        if column not in groups.columns:
            raise DataError(
                f"impute group column '{column}' is not a group of the data; groups are "
                f"{list(groups.columns)} (declare it under 'groups' in the data dictionary)"
            )
        values = groups[column]
        if not values.index.equals(index):  # screened rows, or groups in another order
            values = values.reindex(index)
        codes["groups"] = _codes(values.to_numpy())
    return codes


# --------------------------------------------------------------------------------------
# Treat
# --------------------------------------------------------------------------------------


_RULE_MARGIN = 1e-6
"""A column is passed over only if it passes the rule by this margin [unitless]; columns
closer to the thresholds are left to the method, which decides exactly."""


def _clear_passes(
    part: FloatArray, skew_max: float, kurt_max: float
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """Columns of ``part`` that clearly pass the JRC rule, with their statistics.

    The statistics are the bias-corrected sample skewness :math:`G_1` and excess kurtosis
    :math:`G_2` (Joanes and Gill 1998, doi:10.1111/1467-9884.00122), the estimators of
    :func:`securindex.methods.treat.skewness` and :func:`~securindex.methods.treat.kurtosis`,
    from one set of central moments (two passes over the block: the mean, then the
    moments). A column passes when :math:`|G_1| <` ``skew_max`` or
    :math:`G_2 <` ``kurt_max``; columns within ``_RULE_MARGIN`` of a threshold, with fewer
    than 4 values or almost no spread are not "clear" and are left to the method.
    """
    observed = ~np.isnan(part)
    n = observed.sum(axis=0).astype(np.float64)
    safe_n = np.where(n > 0, n, 1.0)
    mean = np.where(observed, part, 0.0).sum(axis=0) / safe_n
    d = part - mean
    d[~observed] = 0.0
    d2 = d * d
    m2 = d2.sum(axis=0) / safe_n
    d *= d2
    m3 = d.sum(axis=0) / safe_n
    d2 *= d2
    m4 = d2.sum(axis=0) / safe_n
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = m3 / m2**1.5 * np.sqrt(n * (n - 1.0)) / (n - 2.0)
        kurt = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * (m4 / m2**2 - 3.0) + 6.0)
        spread = np.sqrt(m2) > 1e-6 * np.abs(mean)
        clear = (
            (n >= 4)
            & spread
            & ((np.abs(skew) < skew_max - _RULE_MARGIN) | (kurt < kurt_max - _RULE_MARGIN))
        )
    return clear, skew, kurt


def _untouched_record(skew: float, kurt: float) -> dict[str, Any]:
    """The report of a column the rule passes, in the treat methods' format."""
    return {
        "skew_before": skew,
        "kurt_before": kurt,
        "pass_before": True,
        "n_winsorised": 0,
        "winsorised_low": np.nan,
        "winsorised_high": np.nan,
        "transform": "none",
        "shift": np.nan,
        "lambda": np.nan,
        "skew_after": skew,
        "kurt_after": kurt,
        "pass_after": True,
    }


def _treat(plan: Plan, stages: _Stages) -> None:
    """Outlier treatment per group of indicators sharing settings, in column blocks.

    For methods that treat only the indicators failing the skewness–kurtosis rule, the
    rule is tested once per column here and only the failing columns go to the method.
    """
    imputed = stages.imputed
    assert imputed is not None
    n_rows = imputed.base.shape[0]
    treated: FloatArray | None = None  # a copy of the imputed stage once a column changes
    records: list[dict[str, Any]] = []
    audit: list[AuditRows | pd.DataFrame] = []
    ids = list(plan.indicators)
    period_codes, period_labels = stages.periods()
    for group in plan.treat:
        step = group.step
        positions = list(group.positions)
        params = step.kwargs()
        method = step.method
        by_period = bool(step.options.get("per_period", False))
        skip = step.flag("treats_only_failing") and not by_period
        skew_max = float(params.get("skew_max", 2.0))
        kurt_max = float(params.get("kurt_max", 3.5))
        for block in _blocks(positions, n_rows, step.columnwise):
            before = imputed.block(block)
            if skip:
                clear, skew, kurt = _clear_passes(before, skew_max, kurt_max)
                for k in np.flatnonzero(clear):
                    record = _untouched_record(float(skew[k]), float(kurt[k]))
                    records.append({"indicator": ids[block[k]], **record, "method": step.name})
                if clear.all():
                    continue
                if clear.any():
                    before = before[:, ~clear]
                    block = [c for c, ok in zip(block, clear.tolist(), strict=True) if not ok]
            if by_period:  # each period's rows on their own (COINr's per-year treatment)
                result = treat_by_period(method, before, period_codes, **params)
            else:
                result = run_treater(method, before, **params)
            changed = np.asarray(result.winsorised, dtype=bool)
            transformed = dict(result.transformed)
            if changed.any() or transformed:
                if treated is None:
                    treated = imputed.copy()
                treated[:, block] = result.values
            for record in result.report:
                record = dict(record)
                indicator = ids[block[int(record.pop("column", 0))]]
                if "period" in record:
                    record["period"] = period_labels[int(record["period"])]
                records.append({"indicator": indicator, **record, "method": step.name})
            rows, local = np.nonzero(changed)
            if len(rows):
                assert treated is not None
                cols = np.asarray(block)[local]
                audit.append(
                    audit_rows(
                        "treat",
                        stages.index,
                        rows,
                        pd.Categorical.from_codes(local, categories=[ids[c] for c in block]),
                        "winsorised",
                        before[rows, local],
                        treated[rows, cols],
                        step.name,
                    )
                )
            for local_column, transform in transformed.items():
                audit.append(
                    column_audit(
                        "treat", stages.index, ids[block[local_column]], "transformed", transform
                    )
                )
    # in indicator order (a stable sort of the records), columns in order of first appearance
    columns = list(dict.fromkeys(key for record in records for key in record))
    order = {i: k for k, i in enumerate(ids)}
    records.sort(key=lambda record: order[record["indicator"]])
    treatment = pd.DataFrame(records, columns=columns) if records else pd.DataFrame()
    stages.treated = imputed.matrix() if treated is None else treated
    stages.treatment = treatment
    stages.audit["treat"] = audit


# --------------------------------------------------------------------------------------
# Normalise
# --------------------------------------------------------------------------------------


def _normalise(plan: Plan, stages: _Stages) -> None:
    """Normalise per group of indicators sharing settings; polarity is applied here.

    The reference sample is all rows (``pooled``), each period's rows (``per_period``) or
    the base period's rows (``base``): only pooled and base scores compare over time.
    Learn first, apply second: for pooled and base references the statistics are learnt
    from whole columns, then applied to blocks of rows (``learnt=``), which keeps the
    method's temporaries small.
    """
    x = stages.treated
    assert x is not None
    index = stages.index
    period_codes, period_labels = stages.periods()
    ids = list(plan.indicators)
    direction = plan.directions
    out = np.empty(x.shape, dtype=np.float64, order="F")
    learnt: dict[str, dict[str, Any]] = {i: {} for i in ids}
    table: list[dict[str, Any]] = []
    for group in plan.normalise:
        step = group.step
        positions = list(group.positions)
        params = step.kwargs()
        mode = group.mode
        base_code = None
        if mode == "base":
            base_code = _base_code(group.base_period, period_labels, step.name)
        entity = group.reference_entity
        method = step.method
        columnwise = step.columnwise
        if entity is not None:
            values, stats = _normalise_to_entity(
                method,
                _take(x, positions),
                index,
                period_codes,
                direction[positions],
                mode,
                base_code,
                entity,
                params,
            )
            out[:, positions] = values
        elif mode == "per_period" or not columnwise:
            stats = {}
            parts = []
            for block in _blocks(positions, x.shape[0], columnwise):
                result = normalise_by_period(
                    method,
                    _take(x, block),
                    period_codes,
                    direction[block],
                    mode=mode,
                    base_period=base_code,
                    **params,
                )
                out[:, block] = result.values
                parts.append({**result.learnt, **result.flags})
            stats = _join_stats(parts)
        else:
            reference_rows = None if mode == "pooled" else period_codes == base_code
            stats = _learn_then_apply(method, x, out, positions, direction, reference_rows, params)
        for local, column in enumerate(positions):
            indicator = ids[column]
            learnt[indicator] = _column_stats(stats, local, len(positions))
            table.extend(
                normalisation_rows(
                    indicator,
                    step.name,
                    mode,
                    learnt[indicator],
                    period_labels,
                    group.base_period,
                )
            )
    normalisation = pd.DataFrame(table)
    if not normalisation.empty:
        normalisation = normalisation.set_index("indicator")
    stages.normalised = out
    stages.normalisation = normalisation
    stages.learnt = learnt


def _learn_then_apply(
    method: Method[Any],
    x: FloatArray,
    out: FloatArray,
    positions: list[int],
    direction: FloatArray,
    reference_rows: BoolArray | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Learn a normaliser's statistics column block by column block, apply them row block
    by row block into ``out``; returns the statistics (and flags) of all the columns."""
    parts = []
    for block in _blocks(positions, x.shape[0], True):
        columns = _take(x, block)
        reference = columns if reference_rows is None else columns[reference_rows]
        first = run_normaliser(
            method, columns[:1], direction=direction[block], reference=reference, **params
        )
        parts.append({**first.learnt, **first.flags})
    stats = _join_stats(parts)
    learnt = {k: v for k, v in stats.items() if k in parts[0] and k not in _flag_names(parts)}
    contiguous = positions == list(range(positions[0], positions[-1] + 1))
    d = direction[positions]
    for rows in _row_blocks(x.shape[0], len(positions)):
        part = x[rows, positions[0] : positions[-1] + 1] if contiguous else x[rows][:, positions]
        result = run_normaliser(method, part, direction=d, learnt=learnt, **params)
        if contiguous:
            out[rows, positions[0] : positions[-1] + 1] = result.values
        else:
            out[rows, positions] = result.values
    return stats


def _flag_names(parts: Sequence[Mapping[str, Any]]) -> set[str]:
    """Keys that are flags (boolean arrays), not learnt statistics."""
    return {k for k, v in parts[0].items() if np.asarray(v).dtype == bool}


def _join_stats(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Statistics of column blocks joined along their last (column) axis."""
    if not parts:
        return {}
    if len(parts) == 1:
        return dict(parts[0])
    joined: dict[str, Any] = {}
    for key in parts[0]:
        arrays = [np.asarray(p[key]) for p in parts]
        if key == "period":
            joined[key] = arrays[0]
        elif all(a.ndim >= 1 for a in arrays) and len({a.shape[:-1] for a in arrays}) == 1:
            joined[key] = np.concatenate(arrays, axis=-1)
    return joined


def _column_stats(stats: Mapping[str, Any], local: int, n_columns: int) -> dict[str, Any]:
    """One column's share of what a normaliser learnt (the last axis is the column)."""
    out: dict[str, Any] = {}
    for name, value in stats.items():
        arr = np.asarray(value)
        if name == "period":  # per-period mode: the period codes, shared by all columns
            out[name] = arr
        elif arr.ndim >= 1 and arr.shape[-1] == n_columns:
            out[name] = arr[..., local]
    return out


def _base_code(base_period: Any, period_labels: np.ndarray, method: str) -> int:
    matches = np.flatnonzero(period_labels == base_period)
    if not len(matches):
        raise DataError(
            f"normalise method '{method}' with reference: base needs base_period in the data; "
            f"got {base_period!r}, periods are {period_labels.tolist()}"
        )
    return int(matches[0])


def _normalise_to_entity(
    method: Method[Any],
    x: FloatArray,
    index: pd.MultiIndex,
    period_codes: IntArray,
    direction: FloatArray,
    mode: str,
    base_code: int | None,
    entity: Any,
    params: Mapping[str, Any],
) -> tuple[FloatArray, dict[str, Any]]:
    """Normalise against one entity's values (``reference_entity``), per the reference mode."""
    is_entity = np.asarray(index.get_level_values(ENTITY) == entity)
    if not is_entity.any():
        raise DataError(f"reference_entity {entity!r} is not an entity of the data")
    if mode == "per_period":
        values = np.full(x.shape, np.nan)
        for code in np.unique(period_codes):  # a loop over periods, never entities
            rows = period_codes == code
            here = np.flatnonzero(is_entity[rows])
            if not len(here):
                raise DataError(
                    f"reference_entity {entity!r} has no row in period code {int(code)}; "
                    "every period needs the reference entity with reference: per_period"
                )
            result = run_normaliser(
                method, x[rows], direction=direction, reference_row=int(here[0]), **params
            )
            values[rows] = result.values
        return values, {}
    reference_rows = np.ones(len(x), dtype=bool) if mode == "pooled" else period_codes == base_code
    here = np.flatnonzero(is_entity[reference_rows])
    if len(here) != 1:
        raise DataError(
            f"reference_entity {entity!r} has {len(here)} rows in the reference sample "
            f"({mode}); it needs exactly one: use reference: base with a base_period"
        )
    result = run_normaliser(
        method,
        x,
        direction=direction,
        reference=x[reference_rows],
        reference_row=int(here[0]),
        **params,
    )
    return result.values, {**result.learnt, **result.flags}


# --------------------------------------------------------------------------------------
# Weight and aggregate
# --------------------------------------------------------------------------------------


def _aggregate_all(
    framework: Framework,
    plan: Plan,
    stages: _Stages,
    values: IndicatorValues,
    groups: pd.DataFrame,
    settings: Mapping[str, tuple[str, ...]],
    data_name: str | None,
) -> IndexResult:
    """Weight and score every node with its rule, children before parents."""
    x = stages.normalised
    assert x is not None
    index = stages.index
    ids = list(plan.indicators)
    order = list(plan.node_order)
    audit: list[AuditRows | pd.DataFrame] = []
    period_codes, _ = stages.periods()
    scores, weights, weight_info, node_learnt = score_nodes(
        plan, x, index, groups, audit, period_codes=period_codes
    )
    stages.learnt.update(node_learnt)
    stages.audit["aggregate"] = audit
    effective = pd.Series(
        overall_weights(
            {n.id: n.children for n in plan.nodes},
            {k: v.to_numpy() for k, v in weights.items()},
        ),
        name="effective_weight",
    ).reindex(ids)
    audit = audit_table([a for stage in (*STAGES, "aggregate") for a in stages.audit[stage]])
    assert stages.imputed is not None
    assert stages.treated is not None and stages.treatment is not None
    assert stages.normalisation is not None

    def frame(matrix: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame(matrix, index=index, columns=list(columns), copy=False)

    return IndexResult(
        framework=framework,
        indicator_values=values,
        groups=groups,
        raw=frame(stages.raw, ids),
        fills=stages.imputed,
        treated=frame(stages.treated, ids),
        normalised=frame(x, ids),
        scores=frame(scores, order),
        weights=weights,
        effective_weights=effective,
        normalisation=stages.normalisation,
        treatment=stages.treatment,
        audit=audit,
        weight_info=weight_info,
        learnt=stages.learnt,
        kept_rows=stages.rows,
        settings=dict(settings),
        data_name=data_name,
    )


def score_nodes(
    plan: Plan,
    x: FloatArray,
    index: pd.MultiIndex,
    groups: pd.DataFrame,
    audit: list[AuditRows | pd.DataFrame] | None = None,
    scores: FloatArray | None = None,
    period_codes: IntArray | None = None,
) -> tuple[FloatArray, dict[str, pd.Series], dict[str, dict[str, Any]], dict[str, Any]]:
    """Weight and score every node of ``plan`` over normalised values, children first.

    Parameters
    ----------
    plan : Plan
        The compiled framework (its nodes may be altered copies: other weights).
    x : FloatArray, shape (n_rows, n_indicators)
        The normalised indicators [score].
    index : pandas.MultiIndex
        ``(entity, period)`` of the rows.
    groups : pandas.DataFrame
        The panel's group columns (node imputation within groups).
    audit : list, optional
        Where the audit rows of the nodes go.
    scores : FloatArray, optional
        Scores computed before, updated in place: only the nodes of ``plan.nodes`` are
        scored again (a plan holding some of the nodes: those whose weights changed and
        their ancestors).
    period_codes : IntArray, optional
        Each row's period code (:func:`_period_codes` of ``index``), when the caller has it.

    Returns
    -------
    scores : FloatArray, shape (n_rows, n_nodes)
        Columns in ``plan.node_order`` [score].
    weights, weight_info : dict
        Per node, the weights used (their mean over rows when per row) and what the
        weighting learnt.
    learnt : dict
        Per node with a ``normalise`` step, what it learnt.
    """
    if period_codes is None:
        period_codes, _ = _period_codes(index)
    if scores is None:
        scores = np.empty((x.shape[0], len(plan.node_order)), dtype=np.float64, order="F")
    weights: dict[str, pd.Series] = {}
    weight_info: dict[str, dict[str, Any]] = {}
    learnt: dict[str, Any] = {}
    audit = [] if audit is None else audit
    for node in plan.nodes:
        block = _children_block(node, x, scores)
        w, info = node_weights(node, block)
        if w.ndim == 1:
            mean_w = w
        elif np.isnan(w).all():  # a frontier without weights (order-m)
            mean_w = np.full(w.shape[-1], np.nan)
        else:
            mean_w = np.nanmean(w, axis=0)
        weights[node.id] = pd.Series(mean_w, index=list(node.children), name=node.id)
        weight_info[node.id] = info
        column = scores[:, node.column]  # scored in place
        _score_node(node, block, w, info, period_codes, index, audit, column)
        node_scores = column
        if node.impute is not None:
            node_scores = _impute_node(node, node_scores, index, groups, audit)
        if node.normalise is not None:
            node_scores, stats = normalise_node(node, node_scores, period_codes)
            learnt[node.id] = _column_stats(stats, 0, 1)
        if node_scores is not column:
            scores[:, node.column] = node_scores
    return scores, weights, weight_info, learnt


def _children_block(node: NodePlan, x: FloatArray, scores: FloatArray) -> FloatArray:
    """The node's children as a (rows × children) matrix; a view when they are adjacent."""
    kinds = {kind for kind, _ in node.sources}
    if kinds == {"indicator"}:
        return _take(x, [k for _, k in node.sources])
    if kinds == {"node"}:
        return _take(scores, [k for _, k in node.sources])
    return np.column_stack(
        [x[:, k] if kind == "indicator" else scores[:, k] for kind, k in node.sources]
    )


def _impute_node(
    node: NodePlan,
    values: FloatArray,
    index: pd.MultiIndex,
    groups: pd.DataFrame,
    audit: list[AuditRows | pd.DataFrame],
) -> FloatArray:
    """Impute the rows a node could not score (its ``impute`` step); audit them."""
    assert node.impute is not None
    codes = _row_codes(index, groups, node.impute_group)
    filled_values, filled = impute_node(node, values, codes)
    rows = np.flatnonzero(filled)
    if len(rows):
        audit.append(
            audit_rows(
                "aggregate",
                index,
                rows,
                node.id,
                "imputed",
                np.nan,
                filled_values[rows],
                f"{REASONS['node_imputed']} ({node.impute.name})",
            )
        )
    return filled_values


def _score_node(
    node: NodePlan,
    block: FloatArray,
    w: FloatArray,
    info: Mapping[str, Any],
    period_codes: IntArray,
    index: pd.MultiIndex,
    audit: list[AuditRows | pd.DataFrame],
    out: FloatArray,
) -> None:
    """Score a node with its rule into ``out``, in row blocks when the rule allows; audit
    what it did not score."""
    n_rows, n_children = block.shape
    slices = list(_row_blocks(n_rows, n_children)) if node_is_rowwise(node) else [slice(0, n_rows)]
    total = weight_total(w)
    for rows in slices:
        part_w = w[rows] if w.ndim == 2 else w
        start = rows.start

        def labels(positions: IntArray, start: int = start) -> list[Any]:
            return list(index[positions + start])

        result = score_node(
            node,
            block[rows],
            part_w,
            info,
            total=total,
            period_codes=period_codes[rows],
            labels=labels,
        )
        for event in result.unscored:
            audit.append(
                audit_rows(
                    "aggregate",
                    index,
                    event.rows + start,
                    node.id,
                    "not scored",
                    event.before,
                    np.nan,
                    event.detail,
                )
            )
        out[rows] = result.values
