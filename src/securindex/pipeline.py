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

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, PERIOD
from securindex.errors import DataError, SpecError
from securindex.framework import Framework, split_options
from securindex.methods._registry import Method
from securindex.methods._types import BoolArray, FloatArray, IntArray
from securindex.methods.aggregate import aggregators, requires_positive
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalise_by_period, normalisers
from securindex.methods.screen import screeners
from securindex.methods.treat import treaters
from securindex.methods.weight import overall_weights, weighters
from securindex.result import AUDIT_COLUMNS, IndexResult
from securindex.spec.framework import Step

if TYPE_CHECKING:
    from securindex.catalogue import IndicatorValues
    from securindex.dataset import Panel

__all__ = [
    "build_index",
    "normalisation_rows",
    "run_pipeline",
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
    return run_pipeline(framework, values, data.groups, data_name=data.name)


@dataclass
class _Stages:
    """What the pipeline has computed so far (internal and mutable during one run)."""

    index: pd.MultiIndex
    rows: IntArray | None
    raw: FloatArray
    imputed: FloatArray | None = None
    imputed_mask: BoolArray | None = None
    treated: FloatArray | None = None
    treatment: pd.DataFrame | None = None
    normalised: FloatArray | None = None
    normalisation: pd.DataFrame | None = None
    learnt: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: dict[str, list[pd.DataFrame]] = field(
        default_factory=lambda: {s: [] for s in (*STAGES, "aggregate")}
    )


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
    ids = list(framework.indicators)
    settings = framework.settings()
    screen_on = split_options("screen", framework.spec.pipeline.screen)[0].get("stage", "raw")
    reuse = _reusable(previous, settings, values, groups, screen_on)
    if reuse:
        assert previous is not None
        stages = _stages_from(previous, reuse)
    else:
        stages = _Stages(index=values.frame.index, rows=None, raw=_matrix(values.frame, ids))
    if "screen" not in reuse and screen_on == "raw":
        _screen(framework, stages, stages.raw, ids)
    if "impute" not in reuse:
        _impute(framework, stages, groups, ids)
    if "screen" not in reuse and screen_on == "imputed":
        assert stages.imputed is not None
        _screen(framework, stages, stages.imputed, ids)
    if "treat" not in reuse:
        _treat(framework, stages, ids)
    if "normalise" not in reuse:
        _normalise(framework, stages, ids)
    return _aggregate_all(framework, stages, values, groups, settings, data_name)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _matrix(frame: pd.DataFrame, ids: Sequence[str]) -> FloatArray:
    """The indicator columns as a float64 (rows × indicators) matrix, a view when possible."""
    if list(frame.columns) == list(ids):
        return np.asarray(frame.to_numpy(dtype=np.float64, copy=False))
    return np.asarray(frame[list(ids)].to_numpy(dtype=np.float64, copy=False))


def _builtin(method: Method[Any]) -> bool:
    return method.func.__module__.startswith("securindex.methods.")


def _columnwise(method: Method[Any], params: Mapping[str, Any]) -> bool:
    """Whether ``method`` may be run on blocks of columns with these parameters.

    Built-in treat, impute and normalise methods treat each column on its own; user methods
    must say so with ``columnwise=True``. Parameters given as one value per indicator
    (lists) are not split, so such steps run on all their columns at once.
    """
    flag = bool(method.extra.get("columnwise", _builtin(method)))
    return flag and not any(isinstance(v, (list, tuple)) for v in params.values())


def _rowwise(method: Method[Any]) -> bool:
    """Whether an aggregator combines each row's children on its own (no ``groups``)."""
    if "rowwise" in method.extra:
        return bool(method.extra["rowwise"])
    return _builtin(method) and "groups" not in method.extra.get("parameters", ())


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


def _grouped(steps: Sequence[Step]) -> dict[str, list[int]]:
    """Positions of the indicators that share the same step settings."""
    groups: dict[str, list[int]] = {}
    for position, step in enumerate(steps):
        groups.setdefault(step.key(), []).append(position)
    return groups


def _codes(values: Any) -> IntArray:
    codes, _ = pd.factorize(np.asarray(values), sort=True)
    return np.asarray(codes, dtype=np.int64)


def _period_codes(index: pd.MultiIndex) -> tuple[IntArray, np.ndarray]:
    """Codes of each row's period (0 = earliest) and the sorted period labels."""
    labels = index.get_level_values(PERIOD)
    codes, uniques = pd.factorize(labels, sort=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def _audit(
    stage: str,
    index: pd.MultiIndex,
    rows: IntArray,
    item: Any,
    action: str,
    before: Any = np.nan,
    after: Any = np.nan,
    detail: Any = "",
) -> pd.DataFrame:
    """Audit rows for the cells ``rows`` (positions in ``index``) that a step changed."""
    return pd.DataFrame(
        {
            "stage": stage,
            "entity": index.get_level_values(ENTITY)[rows],
            "period": index.get_level_values(PERIOD)[rows],
            "item": item,
            "action": action,
            "before": before,
            "after": after,
            "detail": detail,
        },
        columns=AUDIT_COLUMNS,
    )


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
        stages.imputed = previous.imputed.to_numpy()
        stages.imputed_mask = previous.imputed_mask.to_numpy()
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


def _screen(framework: Framework, stages: _Stages, x: FloatArray, ids: list[str]) -> None:
    """Drop rows with too little data (OECD/JRC Handbook step 3; COINr ``Screen``)."""
    step = framework.spec.pipeline.screen
    _, params = split_options("screen", step)
    keep = np.asarray(screeners.get(step.method)(x, **params), dtype=bool)
    if keep.shape != (x.shape[0],):
        raise SpecError(
            f"screen method '{step.method}' returned shape {keep.shape}; expected one "
            f"boolean per row, shape ({x.shape[0]},)"
        )
    if keep.all():
        return
    if not keep.any():
        raise DataError(
            f"screening ({step.method}, {params}) removed every row; lower the threshold "
            "or check the data"
        )
    dropped = np.flatnonzero(~keep)
    share = (~np.isnan(x[dropped])).mean(axis=1)
    stages.audit["screen"].append(
        _audit(
            "screen",
            stages.index,
            dropped,
            "row",
            "excluded",
            share,
            np.nan,
            f"{step.method} {params}: share of indicators present",
        )
    )
    kept = np.flatnonzero(keep)
    stages.rows = kept if stages.rows is None else stages.rows[kept]
    stages.index = stages.index[kept]
    stages.raw = stages.raw[kept]
    if stages.imputed is not None:
        assert stages.imputed_mask is not None
        stages.imputed = stages.imputed[kept]
        stages.imputed_mask = stages.imputed_mask[kept]


# --------------------------------------------------------------------------------------
# Impute
# --------------------------------------------------------------------------------------


def _impute(framework: Framework, stages: _Stages, groups: pd.DataFrame, ids: list[str]) -> None:
    """Fill gaps; only columns with gaps are passed to the method (others have nothing
    to fill), and the imputed stage is a copy of the raw one only if something was filled."""
    step = framework.spec.pipeline.impute
    options, params = split_options("impute", step)
    method = imputers.get(step.method)
    x = stages.raw
    n_rows = x.shape[0]
    mask = np.zeros(x.shape, dtype=bool, order="F")
    if _builtin(method) and method.name == "none":  # fills nothing: the raw stage is kept
        stages.imputed, stages.imputed_mask, stages.audit["impute"] = x, mask, []
        return
    imputed: FloatArray | None = None
    kwargs: dict[str, Any] = {}
    audit: list[pd.DataFrame] = []
    for block in _blocks(range(len(ids)), n_rows, _columnwise(method, params)):
        part = _take(x, block)
        gaps = np.isnan(part).any(axis=0)
        if not gaps.any():
            continue
        if not kwargs:
            kwargs = _impute_codes(stages, groups, options, step.method)
        columns = [c for c, g in zip(block, np.asarray(gaps).tolist(), strict=True) if g]
        result = method(_take(x, columns), **kwargs, **params)
        filled = np.asarray(result.imputed, dtype=bool)
        if not filled.any():
            continue
        if imputed is None:
            imputed = np.array(x, dtype=np.float64, order="F", copy=True)
        imputed[:, columns] = result.values
        mask[:, columns] = filled
        rows, local = np.nonzero(filled)
        cols = np.asarray(columns)[local]
        audit.append(
            _audit(
                "impute",
                stages.index,
                rows,
                np.asarray(ids, dtype=object)[cols],
                "imputed",
                np.nan,
                imputed[rows, cols],
                step.method,
            )
        )
    stages.imputed = x if imputed is None else imputed
    stages.imputed_mask = mask
    stages.audit["impute"] = audit


def _impute_codes(
    stages: _Stages, groups: pd.DataFrame, options: Mapping[str, Any], method: str
) -> dict[str, Any]:
    """Entity, period and group codes of the rows, as the imputers take them."""
    index = stages.index
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
    column = options.get("group")
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


_TREATS_ONLY_FAILING = frozenset({"none", "winsorise"})
"""Built-in treat methods that leave a column passing the skewness–kurtosis rule as it is
(the JRC procedure treats only the failing indicators); ``log`` and ``boxcox`` do too with
``only_failing: true``. A user method says so with ``treats_only_failing=True``."""

_RULE_MARGIN = 1e-6
"""A column is passed over only if it passes the rule by this margin [unitless]; columns
closer to the thresholds are left to the method, which decides exactly."""


def _treats_only_failing(method: Method[Any], params: Mapping[str, Any]) -> bool:
    if "treats_only_failing" in method.extra:
        return bool(method.extra["treats_only_failing"])
    if not _builtin(method):
        return False
    return method.name in _TREATS_ONLY_FAILING or params.get("only_failing") is True


def _clear_passes(
    x: FloatArray, positions: list[int], skew_max: float, kurt_max: float
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """Columns ``positions`` of ``x`` that clearly pass the JRC rule, with their statistics.

    The statistics are the bias-corrected sample skewness :math:`G_1` and excess kurtosis
    :math:`G_2` (Joanes and Gill 1998, doi:10.1111/1467-9884.00122), the estimators of
    :func:`securindex.methods.treat.skewness` and :func:`~securindex.methods.treat.kurtosis`,
    from one set of central moments accumulated over blocks of rows (two passes: the mean,
    then the moments). A column passes when :math:`|G_1| <` ``skew_max`` or
    :math:`G_2 <` ``kurt_max``; columns within ``_RULE_MARGIN`` of a threshold, with fewer
    than 4 values or almost no spread are not "clear" and are left to the method.
    """
    k = len(positions)
    contiguous = positions == list(range(positions[0], positions[-1] + 1))

    def chunks() -> Iterator[FloatArray]:
        for rows in _row_blocks(x.shape[0], k):
            yield x[rows, positions[0] : positions[-1] + 1] if contiguous else x[rows][:, positions]

    n = np.zeros(k)
    total = np.zeros(k)
    for part in chunks():
        observed = ~np.isnan(part)
        n += observed.sum(axis=0)
        total += np.where(observed, part, 0.0).sum(axis=0)
    safe_n = np.where(n > 0, n, 1.0)
    mean = total / safe_n
    m2, m3, m4 = np.zeros(k), np.zeros(k), np.zeros(k)
    for part in chunks():
        d = part - mean
        d[np.isnan(d)] = 0.0
        d2 = d * d
        m2 += d2.sum(axis=0)
        m3 += (d2 * d).sum(axis=0)
        m4 += (d2 * d2).sum(axis=0)
    m2, m3, m4 = m2 / safe_n, m3 / safe_n, m4 / safe_n
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


def _treat(framework: Framework, stages: _Stages, ids: list[str]) -> None:
    """Outlier treatment per group of indicators sharing settings, in column blocks.

    For methods that treat only the indicators failing the skewness–kurtosis rule, the
    rule is tested once per column here and only the failing columns go to the method.
    """
    x = stages.imputed
    assert x is not None
    treated: FloatArray | None = None  # a copy of the imputed stage once a column changes
    records: list[dict[str, Any]] = []
    audit: list[pd.DataFrame] = []
    names = np.asarray(ids, dtype=object)
    for positions in _grouped([framework.treat_step(i) for i in ids]).values():
        step = framework.treat_step(ids[positions[0]])
        _, params = split_options("treat", step)
        method = treaters.get(step.method)
        skip = _treats_only_failing(method, params)
        skew_max = float(params.get("skew_max", 2.0))
        kurt_max = float(params.get("kurt_max", 3.5))
        if skip:
            clear, skew, kurt = _clear_passes(x, positions, skew_max, kurt_max)
            for k in np.flatnonzero(clear):
                record = _untouched_record(float(skew[k]), float(kurt[k]))
                records.append({"indicator": ids[positions[k]], **record, "method": step.method})
            positions = [c for c, ok in zip(positions, clear, strict=True) if not ok]
            if not positions:
                continue
        for block in _blocks(positions, x.shape[0], _columnwise(method, params)):
            before = _take(x, block)
            result = method(before, **params)
            changed = np.asarray(result.winsorised, dtype=bool)
            transformed = dict(result.transformed)
            if changed.any() or transformed:
                if treated is None:
                    treated = np.array(x, dtype=np.float64, order="F", copy=True)
                treated[:, block] = result.values
            for record in result.report:
                record = dict(record)
                indicator = ids[block[int(record.pop("column", 0))]]
                records.append({"indicator": indicator, **record, "method": step.method})
            rows, local = np.nonzero(changed)
            if len(rows):
                assert treated is not None
                cols = np.asarray(block)[local]
                audit.append(
                    _audit(
                        "treat",
                        stages.index,
                        rows,
                        names[cols],
                        "winsorised",
                        before[rows, local],
                        treated[rows, cols],
                        step.method,
                    )
                )
            for local_column, transform in transformed.items():
                audit.append(
                    pd.DataFrame(
                        [
                            [
                                "treat",
                                None,
                                None,
                                ids[block[local_column]],
                                "transformed",
                                np.nan,
                                np.nan,
                                transform,
                            ]
                        ],
                        columns=AUDIT_COLUMNS,
                    )
                )
    treatment = pd.DataFrame(records)
    if not treatment.empty:
        order = {i: k for k, i in enumerate(ids)}
        treatment = treatment.sort_values("indicator", key=lambda s: s.map(order), kind="stable")
        treatment = treatment.reset_index(drop=True)
    stages.treated = x if treated is None else treated
    stages.treatment = treatment
    stages.audit["treat"] = audit


# --------------------------------------------------------------------------------------
# Normalise
# --------------------------------------------------------------------------------------


def _normalise(framework: Framework, stages: _Stages, ids: list[str]) -> None:
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
    period_codes, period_labels = _period_codes(index)
    direction = np.array(
        [1.0 if framework.polarity(i) == "positive" else -1.0 for i in ids], dtype=np.float64
    )
    out = np.empty(x.shape, dtype=np.float64, order="F")
    learnt: dict[str, dict[str, Any]] = {i: {} for i in ids}
    table: list[dict[str, Any]] = []
    for positions in _grouped([framework.normalise_step(i) for i in ids]).values():
        step = framework.normalise_step(ids[positions[0]])
        options, params = split_options("normalise", step)
        mode = str(options.get("reference", "pooled"))
        base_code = None
        if mode == "base":
            base_code = _base_code(options.get("base_period"), period_labels, step.method)
        entity = options.get("reference_entity")
        method = normalisers.get(step.method)
        columnwise = _columnwise(method, params)
        if entity is not None:
            values, stats = _normalise_to_entity(
                step.method,
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
                    step.method,
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
                    step.method,
                    mode,
                    learnt[indicator],
                    period_labels,
                    options.get("base_period"),
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
        first = method(columns[:1], direction=direction[block], reference=reference, **params)
        parts.append({**first.learnt, **first.flags})
    stats = _join_stats(parts)
    learnt = {k: v for k, v in stats.items() if k in parts[0] and k not in _flag_names(parts)}
    contiguous = positions == list(range(positions[0], positions[-1] + 1))
    d = direction[positions]
    for rows in _row_blocks(x.shape[0], len(positions)):
        part = x[rows, positions[0] : positions[-1] + 1] if contiguous else x[rows][:, positions]
        result = method(part, direction=d, learnt=learnt, **params)
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
    method: str,
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
            result = normalisers.get(method)(
                x[rows], direction=direction, reference_row=int(here[0]), **params
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
    result = normalisers.get(method)(
        x, direction=direction, reference=x[reference_rows], reference_row=int(here[0]), **params
    )
    return result.values, {**result.learnt, **result.flags}


def normalisation_rows(
    indicator: str,
    method: str,
    mode: str,
    stats: Mapping[str, np.ndarray],
    period_labels: np.ndarray,
    base_period: Any,
) -> list[dict[str, Any]]:
    """Rows of the normalisation table: one per indicator (per period for per_period)."""
    if mode == "per_period":
        periods = stats.get("period")
        labels: Any = (
            period_labels[np.asarray(periods, dtype=np.int64)] if periods is not None else []
        )
        rows = []
        for k, label in enumerate(labels):
            row: dict[str, Any] = {
                "indicator": indicator,
                "method": method,
                "reference": mode,
                "period": label,
            }
            for name, value in stats.items():
                arr = np.asarray(value)
                if name != "period" and arr.ndim == 1 and arr.shape[0] == len(labels):
                    row[name] = arr[k].item()
            rows.append(row)
        return rows
    row = {"indicator": indicator, "method": method, "reference": mode}
    if mode == "base":
        row["period"] = base_period
    for name, value in stats.items():
        arr = np.asarray(value)
        if arr.ndim == 0:
            row[name] = arr.item()
    return [row]


# --------------------------------------------------------------------------------------
# Weight and aggregate
# --------------------------------------------------------------------------------------


def _aggregate_all(
    framework: Framework,
    stages: _Stages,
    values: IndicatorValues,
    groups: pd.DataFrame,
    settings: Mapping[str, tuple[str, ...]],
    data_name: str | None,
) -> IndexResult:
    """Weight and aggregate every node, children before parents, then rank."""
    x = stages.normalised
    assert x is not None
    index = stages.index
    ids = list(framework.indicators)
    position = {i: k for k, i in enumerate(ids)}
    order = list(framework.node_order)
    column = {node: k for k, node in enumerate(order)}
    n_rows = x.shape[0]
    period_codes, _ = _period_codes(index)
    scores = np.empty((n_rows, len(order)), dtype=np.float64, order="F")
    weights: dict[str, pd.Series] = {}
    weight_info: dict[str, dict[str, Any]] = {}
    audit: list[pd.DataFrame] = []
    for node in framework.postorder():
        children = framework.children[node]
        block = _children_block(children, x, position, scores, column)
        w, info = _weights(framework, node, block)
        mean_w = w if w.ndim == 1 else np.nanmean(w, axis=0)
        weights[node] = pd.Series(mean_w, index=list(children), name=node)
        weight_info[node] = info
        if framework.weight_step(node).method == "benefit_of_doubt":
            # the benefit-of-the-doubt composite is the LP optimum itself (share of the
            # best-practice frontier), not a weighted mean with the row's normalised weights
            scores[:, column[node]] = 100.0 * np.asarray(info["scores"], dtype=np.float64)
        else:
            scores[:, column[node]] = _aggregate_node(
                framework, node, block, w, period_codes, index, audit
            )
    stages.audit["aggregate"] = audit
    effective = pd.Series(
        overall_weights(dict(framework.children), {k: v.to_numpy() for k, v in weights.items()}),
        name="effective_weight",
    ).reindex(ids)
    parts = [a for stage in (*STAGES, "aggregate") for a in stages.audit[stage] if len(a)]
    audit_frame = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=AUDIT_COLUMNS)
    )
    assert stages.imputed is not None and stages.imputed_mask is not None
    assert stages.treated is not None and stages.treatment is not None
    assert stages.normalisation is not None

    def frame(matrix: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame(matrix, index=index, columns=list(columns), copy=False)

    return IndexResult(
        framework=framework,
        indicator_values=values,
        groups=groups,
        raw=frame(stages.raw, ids),
        imputed=frame(stages.imputed, ids),
        imputed_mask=frame(stages.imputed_mask, ids),
        treated=frame(stages.treated, ids),
        normalised=frame(x, ids),
        scores=frame(scores, order),
        weights=weights,
        effective_weights=effective,
        normalisation=stages.normalisation,
        treatment=stages.treatment,
        audit=audit_frame,
        weight_info=weight_info,
        learnt=stages.learnt,
        kept_rows=stages.rows,
        settings=dict(settings),
        data_name=data_name,
    )


def _children_block(
    children: Sequence[str],
    x: FloatArray,
    position: Mapping[str, int],
    scores: FloatArray,
    column: Mapping[str, int],
) -> FloatArray:
    """The node's children as a (rows × children) matrix; a view when they are adjacent."""
    if all(c in position for c in children):
        return _take(x, [position[c] for c in children])
    if all(c in column for c in children):
        return _take(scores, [column[c] for c in children])
    return np.column_stack(
        [x[:, position[c]] if c in position else scores[:, column[c]] for c in children]
    )


def _accepts(func: Any, name: str) -> bool:
    return name in inspect.signature(func).parameters


def _weights(
    framework: Framework, node: str, block: FloatArray
) -> tuple[FloatArray, dict[str, Any]]:
    """The node's children weights: (n_children,), or (n_rows, n_children) per row."""
    step = framework.weight_step(node)
    _, params = split_options("weight", step)
    method = weighters.get(step.method)
    children = framework.children[node]
    nominal = np.array([framework.nominal_weight(c) for c in children], dtype=np.float64)
    extra: dict[str, Any] = {}
    # weights are learnt from all periods together (one benefit-of-the-doubt frontier, one
    # PCA), so that they, like pooled normalisation, do not change the scale over time
    if _accepts(method.func, "labels") and "labels" not in params:
        extra["labels"] = list(children)
    try:
        result = method(block, nominal=nominal, **params, **extra)
    except SpecError as exc:
        raise SpecError(f"node '{node}': {exc}") from None
    except DataError as exc:
        raise DataError(f"node '{node}': {exc}") from None
    return np.asarray(result.values, dtype=np.float64), dict(result.info)


def _aggregate_node(
    framework: Framework,
    node: str,
    block: FloatArray,
    w: FloatArray,
    period_codes: IntArray,
    index: pd.MultiIndex,
    audit: list[pd.DataFrame],
) -> FloatArray:
    """Apply the node's missing-data policy and aggregator, in row blocks when possible."""
    step = framework.aggregate_step(node)
    options, params = split_options("aggregate", step)
    method = aggregators.get(step.method)
    zero_floor = bool(options.get("allow_zero", False)) and requires_positive(step.method, params)
    policy = framework.missing_policy(node)
    extra = {"groups": period_codes} if _accepts(method.func, "groups") else {}
    n_rows, n_children = block.shape
    slices = list(_row_blocks(n_rows, n_children)) if _rowwise(method) else [slice(0, n_rows)]
    out = np.empty(n_rows, dtype=np.float64)
    total = float(np.sum(w)) / (n_rows if w.ndim == 2 else 1)
    for rows in slices:
        part = block[rows]
        part_w = w[rows] if w.ndim == 2 else w
        missing = np.isnan(part)
        if missing.any():
            part = _apply_missing_policy(
                node, policy, part, part_w, missing, total, index, rows, audit
            )
        if zero_floor:
            part = _not_scored_at_zero(node, step.method, part, index, rows, audit)
        try:
            score = method(part, part_w, **params, **extra)
        except DataError as exc:
            raise DataError(
                f"node '{node}' ({step.method}): {exc}", rows=_offending(part, index, rows)
            ) from None
        out[rows] = score
    return out


def _not_scored_at_zero(
    node: str,
    method: str,
    part: FloatArray,
    index: pd.MultiIndex,
    rows: slice,
    audit: list[pd.DataFrame],
) -> FloatArray:
    """With ``allow_zero``: rows where a child is exactly 0 are not scored (NaN)."""
    with np.errstate(invalid="ignore"):
        zero = (part == 0).any(axis=1)
    if not zero.any():
        return part
    local = np.flatnonzero(zero)
    audit.append(
        _audit(
            "aggregate",
            index,
            np.arange(rows.start, rows.stop)[local],
            node,
            "not scored",
            0.0,
            np.nan,
            f"a child is 0 (its lower goalpost): the {method} mean is undefined",
        )
    )
    part = part.copy()
    part[zero] = np.nan
    return part


def _offending(part: FloatArray, index: pd.MultiIndex, rows: slice) -> list[Any]:
    """Row labels of a block where a child is <= 0 (for messages of positive-only means)."""
    bad = np.flatnonzero((part <= 0).any(axis=1))[:5]
    return list(index[rows][bad])


def _apply_missing_policy(
    node: str,
    policy: Any,
    part: FloatArray,
    w: FloatArray,
    missing: BoolArray,
    total: float,
    index: pd.MultiIndex,
    rows: slice,
    audit: list[pd.DataFrame],
) -> FloatArray:
    """Enforce the node's missing-data policy on one block of rows."""
    if policy.policy == "fail":
        bad = np.flatnonzero(missing.any(axis=1))
        raise DataError(
            f"node '{node}' has missing children in {len(bad)} row(s) and its missing-data "
            "policy is 'fail'; impute first, or use policy renormalise or coverage",
            rows=list(index[rows][bad][:20]),
        )
    if policy.policy == "coverage":
        present = np.where(missing, 0.0, w).sum(axis=1) / total if total > 0 else 0.0
        short = present < policy.min_coverage - 1e-12
        if np.any(short):
            local = np.flatnonzero(short)
            audit.append(
                _audit(
                    "aggregate",
                    index,
                    np.arange(rows.start, rows.stop)[local],
                    node,
                    "not scored",
                    np.asarray(present)[local],
                    np.nan,
                    f"weight share of present children < {policy.min_coverage:g}",
                )
            )
            part = part.copy()
            part[short] = np.nan
    return part
