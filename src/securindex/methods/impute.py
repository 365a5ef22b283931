"""Imputation methods: fill missing indicator values, and say which cells were filled.

Every imputer has the signature::

    f(X, /, *, groups=None, entity=None, period=None, **params) -> Imputed

* ``X`` has shape ``(n_rows, n_indicators)``; rows are (entity, period) pairs in any order,
  ``NaN`` marks a missing value. It is never modified.
* ``groups``, ``entity`` and ``period`` are integer codes of shape ``(n_rows,)``: a
  grouping of the rows (region, city size class …), the entity of each row and its period.
  ``period`` is also the time axis of linear interpolation, so equally spaced codes mean
  equally spaced periods. The pipeline always passes ``entity`` and ``period``.
* The result holds the filled matrix and a mask of the filled cells. A cell that a method
  cannot fill (a group with no observed value, an entity never observed) stays ``NaN``;
  :attr:`Imputed.n_missing` counts them, and the pipeline's missing-data rules handle them.

Imputation is a modelling choice that changes the index (OECD/JRC Handbook 2008, step 3):
every filled cell is flagged so the result can report it, and the uncertainty analysis can
switch imputation off.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, Step 3 and Part II, section 1. OECD Publishing.
   doi:10.1787/9789264043466-en
.. [2] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. and Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open Source
   Software*, 7(78), 4567. doi:10.21105/joss.04567
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.methods._registry import Protocol, Registry
from securindex.methods._statistics import Moments, Sample
from securindex.methods._types import (
    BoolArray,
    FloatArray,
    Imputed,
    IntArray,
    as_matrix,
    check_bool,
    check_choice,
    check_int,
    reject_unknown,
)

__all__ = [
    "Imputer",
    "imputers",
    "linear",
    "locf",
    "locf_nocb",
    "mean",
    "median",
    "nocb",
    "none",
    "register_imputer",
]

Imputer = Callable[..., Imputed]

imputers: Registry[Imputer] = Registry(
    "impute",
    Protocol(
        fields=frozenset({"learns", "columnwise", "uses_groups", "panel", "statistic"}),
        keywords=("entity", "period", "groups"),
    ),
)
"""The imputation registry: method name → imputer function."""

register_imputer = imputers.register
"""Decorator adding a user imputer (same signature as the built-ins, returns Imputed)."""

HANDBOOK = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, Part I Step 3 and "
    "Part II section 1. doi:10.1787/9789264043466-en"
)
COINR = (
    "Becker et al. (2022). COINr: An R package for developing composite indicators. JOSS "
    "7(78), 4567. doi:10.21105/joss.04567"
)


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def _codes(values: Any, n_rows: int, name: str, method: str) -> IntArray | None:
    """Row codes of shape (n_rows,) as int64, or None when not given."""
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.shape != (n_rows,):
        raise DataError(
            f"impute method '{method}': '{name}' must hold one code per row, shape ({n_rows},); "
            f"got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise DataError(f"impute method '{method}': '{name}' codes must not be missing")
        return arr.astype(np.float64)  # numeric periods (years) keep their spacing
    if arr.dtype.kind not in "iub":
        raise DataError(
            f"impute method '{method}': '{name}' must be integer codes; got dtype {arr.dtype}"
        )
    return arr.astype(np.int64)


def _result(X: FloatArray, filled: FloatArray) -> Imputed:
    """Imputed values and the mask of the cells that were missing and are now filled."""
    imputed: BoolArray = np.isnan(X) & ~np.isnan(filled)
    return Imputed(values=filled, imputed=imputed)


# --------------------------------------------------------------------------------------
# No imputation
# --------------------------------------------------------------------------------------


@imputers.register("none", columnwise=True, reference=HANDBOOK, parameters=())
def none(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Leave missing values missing (the aggregation's missing-data rule handles them).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    groups, entity, period : IntArray, shape (n_rows,), optional
        Accepted for a uniform signature and ignored.

    Returns
    -------
    Imputed
        A copy of ``X`` and an all-False mask.

    Examples
    --------
    >>> none(np.array([[1.0], [np.nan]])).n_imputed
    0
    """
    reject_unknown(params, "impute", "none", [])
    X = as_matrix(X, "impute", "none", allow_inf=True)
    return Imputed(values=X.copy(), imputed=np.zeros(X.shape, dtype=bool))


# --------------------------------------------------------------------------------------
# Column statistics, optionally by group
# --------------------------------------------------------------------------------------


def _group_index(
    n_rows: int, groups: Any, period: Any, within_period: bool, method: str
) -> tuple[IntArray, int]:
    """Dense group index of each row (0..n_groups-1) combining groups and, optionally, period."""
    keys = []
    group_codes = _codes(groups, n_rows, "groups", method)
    if group_codes is not None:
        keys.append(group_codes.astype(np.float64))
    if within_period:
        period_codes = _codes(period, n_rows, "period", method)
        if period_codes is None:
            raise SpecError(
                f"impute method '{method}' with within_period: true needs the period code of "
                "each row (period=...)"
            )
        keys.append(period_codes.astype(np.float64))
    if not keys:
        return np.zeros(n_rows, dtype=np.int64), 1
    _, inverse = np.unique(np.column_stack(keys), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    return inverse, int(inverse.max()) + 1 if n_rows else 0


def _group_sums(values: FloatArray, index: IntArray, n_groups: int) -> FloatArray:
    """Column sums of ``values`` per group, shape (n_groups, n_indicators), via one bincount."""
    n_cols = values.shape[1]
    if n_groups == 1 and len(index):
        # one group: each column's running sum in row order (the same additions, in the
        # same order, as the bincount below, without its (rows × columns) index)
        column_sums = np.empty((1, n_cols), dtype=np.float64)
        for j in range(n_cols):
            column_sums[0, j] = np.cumsum(values[:, j], dtype=np.float64)[-1]
        return column_sums
    flat = (index[:, None] * n_cols + np.arange(n_cols)[None, :]).reshape(-1)
    sums = np.bincount(flat, weights=values.reshape(-1), minlength=n_groups * n_cols)
    return np.asarray(sums, dtype=np.float64).reshape(n_groups, n_cols)


def _group_means(X: FloatArray, index: IntArray, n_groups: int) -> FloatArray:
    """Mean of the observed values of each column within each group (NaN for no values)."""
    observed = ~np.isnan(X)
    sums = _group_sums(np.where(observed, X, 0.0), index, n_groups)
    counts = _group_sums(observed.astype(np.float64), index, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)


def _group_medians(X: FloatArray, index: IntArray, n_groups: int) -> FloatArray:
    """Median of the observed values of each column within each group (NaN for no values).

    Rows are sorted once per column by (group, value) with missing values last inside each
    group; the median of a group with ``c`` observed values then sits at offsets
    ``(c - 1) // 2`` and ``c // 2`` from the group's first row.
    """
    n_rows, n_cols = X.shape
    observed = ~np.isnan(X)
    counts = _group_sums(observed.astype(np.float64), index, n_groups).astype(np.int64)
    sizes = np.bincount(index, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # lexsort along the last axis: primary key group, secondary the value (NaN as +inf).
    values_t = np.where(observed, X, np.inf).T
    groups_t = np.broadcast_to(index, (n_cols, n_rows))
    order = np.lexsort((values_t, groups_t), axis=-1)
    ordered = np.take_along_axis(values_t, order, axis=-1).T  # (n_rows, n_cols)
    if n_rows == 0:
        return np.full((n_groups, n_cols), np.nan)
    low = np.clip(starts[:, None] + (counts - 1) // 2, 0, n_rows - 1)
    high = np.clip(starts[:, None] + counts // 2, 0, n_rows - 1)
    columns = np.arange(n_cols)[None, :]
    medians = 0.5 * (ordered[low, columns] + ordered[high, columns])
    return np.where(counts > 0, medians, np.nan)


def _statistic_impute(
    X: Any,
    groups: Any,
    period: Any,
    params: dict[str, Any],
    method: str,
    statistic: Callable[[FloatArray, IntArray, int], FloatArray],
) -> Imputed:
    within_period = check_bool(
        params.pop("within_period", False), "within_period", "impute", method
    )
    reject_unknown(params, "impute", method, ["within_period"])
    X = as_matrix(X, "impute", method)
    index, n_groups = _group_index(X.shape[0], groups, period, within_period, method)
    stats = statistic(X, index, n_groups)
    if not X.shape[0]:
        return _result(X, X.copy())
    missing = np.isnan(X)
    # one group: its statistics broadcast over the rows (no (rows × columns) gather)
    fill = stats[0] if n_groups == 1 else stats[index]
    filled = np.where(missing, fill, X)
    return Imputed(values=filled, imputed=missing & ~np.isnan(filled))


@imputers.register(
    "mean",
    columnwise=True,
    learns=True,
    statistic=Moments(keys=("mean",)),
    reference=HANDBOOK,
    uses_groups=True,
    parameters=("within_period",),
)
def mean(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Fill a gap with the mean of the indicator's observed values (within its group).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    groups : IntArray, shape (n_rows,), optional
        Group code of each row. When given, the mean is taken within the row's group
        (COINr's ``i_mean_grp``); otherwise over all rows.
    entity : IntArray, shape (n_rows,), optional
        Ignored.
    period : IntArray, shape (n_rows,), optional
        Period code of each row; used only with ``within_period``.
    within_period : bool, default False
        Take the statistic within each period (and group), so a 2015 gap is never filled
        with values from 2023.

    Returns
    -------
    Imputed
        Filled values and the mask of filled cells. A group in which an indicator has no
        observed value leaves its gaps NaN.

    Notes
    -----
    For a missing :math:`x_{ij}` in group :math:`g`,
    :math:`\\hat x_{ij} = \\frac{1}{n_{gj}} \\sum_{k \\in g,\\, x_{kj} \\text{ observed}} x_{kj}`.
    Mean substitution shrinks the variance and the correlations of the indicator
    (Handbook, Part II, section 1); prefer group means over the overall mean when the
    groups are comparable units.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part II, section 1 (single imputation).
       doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``i_mean`` and ``i_mean_grp``.
       doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[1.0], [3.0], [np.nan], [10.0], [np.nan]])
    >>> mean(X, groups=np.array([0, 0, 0, 1, 1])).values.ravel().tolist()
    [1.0, 3.0, 2.0, 10.0, 10.0]
    """
    return _statistic_impute(X, groups, period, params, "mean", _group_means)


@imputers.register(
    "median",
    columnwise=True,
    learns=True,
    statistic=Sample(),
    reference=HANDBOOK,
    uses_groups=True,
    parameters=("within_period",),
)
def median(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Fill a gap with the median of the indicator's observed values (within its group).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    groups : IntArray, shape (n_rows,), optional
        Group code of each row (COINr's ``i_median_grp``); all rows form one group when
        omitted.
    entity : IntArray, shape (n_rows,), optional
        Ignored.
    period : IntArray, shape (n_rows,), optional
        Period code of each row; used only with ``within_period``.
    within_period : bool, default False
        Take the statistic within each period (and group).

    Returns
    -------
    Imputed
        Filled values and the mask of filled cells.

    Notes
    -----
    The median of an even number of values is the mean of the two middle ones (as R's
    ``median`` and ``numpy.median``). Robust to the outliers that treatment has not yet
    removed (imputation runs before treatment).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part II, section 1. doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``i_median`` and ``i_median_grp``.
       doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[1.0], [2.0], [9.0], [np.nan]])
    >>> float(median(X).values[3, 0])
    2.0
    """
    return _statistic_impute(X, groups, period, params, "median", _group_medians)


# --------------------------------------------------------------------------------------
# Over time, within entity
# --------------------------------------------------------------------------------------


def _panel_neighbours(
    X: FloatArray, entity: Any, period: Any, method: str
) -> tuple[IntArray, FloatArray, FloatArray, IntArray, IntArray, IntArray]:
    """Sort rows by (entity, period); find each cell's previous and next observation.

    Returns ``order`` (sorted position → original row), sorted ``values`` and ``time``, and
    per sorted cell the sorted position of the previous observed cell of the same entity
    (``prev``, -1 if none) and of the next one (``next_``, n_rows if none).
    """
    n_rows = X.shape[0]
    entity_codes = _codes(entity, n_rows, "entity", method)
    period_codes = _codes(period, n_rows, "period", method)
    if entity_codes is None or period_codes is None:
        raise SpecError(
            f"impute method '{method}' works over time within each entity and needs the "
            "entity and period code of every row (entity=..., period=...)"
        )
    order = np.lexsort((period_codes, entity_codes))
    ent = entity_codes[order]
    time = np.asarray(period_codes[order], dtype=np.float64)
    values = X[order]
    same_entity = ent[1:] == ent[:-1]
    duplicate = same_entity & (time[1:] == time[:-1])
    if duplicate.any():
        rows = order[1:][duplicate]
        raise DataError(
            f"impute method '{method}': several rows share the same entity and period "
            "(each entity needs one row per period; aggregate or drop the duplicates)",
            rows=[int(r) for r in rows],
        )
    positions = np.arange(n_rows)
    block_start = np.maximum.accumulate(np.where(np.r_[True, ~same_entity], positions, 0))
    block_end = np.minimum.accumulate(np.where(np.r_[~same_entity, True], positions, n_rows)[::-1])[
        ::-1
    ]
    observed = ~np.isnan(values)
    prev = np.maximum.accumulate(np.where(observed, positions[:, None], -1), axis=0)
    next_ = np.minimum.accumulate(np.where(observed, positions[:, None], n_rows)[::-1], axis=0)[
        ::-1
    ]
    prev = np.where(prev >= block_start[:, None], prev, -1)
    next_ = np.where(next_ <= block_end[:, None], next_, n_rows)
    return order, values, time, prev, next_, np.arange(X.shape[1])[None, :]


def _max_time(params: dict[str, Any], method: str) -> float | None:
    value = params.pop("max_time", None)
    if value is None:
        return None
    return float(check_int(value, "max_time", "impute", method, minimum=1))


def _donor(
    values: FloatArray,
    time: FloatArray,
    index: IntArray,
    valid: BoolArray,
    columns: IntArray,
    max_time: float | None,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Value and time of the donor cells ``index`` (where ``valid``), within ``max_time``."""
    safe = np.clip(index, 0, values.shape[0] - 1)
    donor_value = values[safe, columns]
    donor_time = time[safe]
    if max_time is not None:
        valid = valid & (np.abs(time[:, None] - donor_time) <= max_time)
    return donor_value, donor_time, valid


def _carry(X: Any, entity: Any, period: Any, params: dict[str, Any], method: str) -> Imputed:
    max_time = _max_time(params, method)
    reject_unknown(params, "impute", method, ["max_time"])
    X = as_matrix(X, "impute", method)
    n_rows = X.shape[0]
    if n_rows == 0:
        return _result(X, X.copy())
    order, values, time, prev, next_, columns = _panel_neighbours(X, entity, period, method)
    missing = np.isnan(values)
    filled = values.copy()
    if method in ("locf", "locf_nocb"):
        donor, _, ok = _donor(values, time, prev, prev >= 0, columns, max_time)
        take = missing & ok
        filled = np.where(take, donor, filled)
        missing = missing & ~take
    if method in ("nocb", "locf_nocb"):
        donor, _, ok = _donor(values, time, next_, next_ < n_rows, columns, max_time)
        filled = np.where(missing & ok, donor, filled)
    out = np.empty_like(filled)
    out[order] = filled
    return _result(X, out)


@imputers.register("locf", columnwise=True, reference=COINR, panel=True, parameters=("max_time",))
def locf(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Last observation carried forward: fill a gap with the entity's latest earlier value.

    Leading gaps (before an entity's first observation) stay missing.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing. Rows may come in any order.
    groups : IntArray, shape (n_rows,), optional
        Ignored.
    entity : IntArray, shape (n_rows,)
        Entity code of each row (required).
    period : IntArray, shape (n_rows,)
        Period code of each row (required), increasing with time.
    max_time : int, optional
        Largest distance [periods] between a gap and an observation that fills it (COINr's
        ``impute_panel(max_time=)``); no limit when omitted.

    Returns
    -------
    Imputed
        Filled values and the mask of filled cells.

    Raises
    ------
    SpecError
        If ``entity`` or ``period`` is missing, or a parameter is invalid.
    DataError
        If two rows share an entity and a period.

    Notes
    -----
    Rows are sorted by (entity, period) with ``numpy.lexsort``; the position of the latest
    observed cell is propagated down each column with ``numpy.maximum.accumulate`` and
    discarded when it belongs to another entity, so no loop runs over rows or entities.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part II, section 1. doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``impute_panel``. doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[np.nan], [1.0], [np.nan], [4.0], [np.nan]])
    >>> r = locf(X, entity=np.array([0, 0, 0, 1, 1]), period=np.array([0, 1, 2, 0, 1]))
    >>> r.values.ravel().tolist()
    [nan, 1.0, 1.0, 4.0, 4.0]
    """
    return _carry(X, entity, period, params, "locf")


@imputers.register("nocb", columnwise=True, reference=COINR, panel=True, parameters=("max_time",))
def nocb(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Next observation carried backward: fill a gap with the entity's next later value.

    Trailing gaps (after an entity's last observation) stay missing.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing. Rows may come in any order.
    groups : IntArray, shape (n_rows,), optional
        Ignored.
    entity : IntArray, shape (n_rows,)
        Entity code of each row (required).
    period : IntArray, shape (n_rows,)
        Period code of each row (required), increasing with time.
    max_time : int, optional
        Largest distance [periods] between a gap and an observation that fills it (COINr's
        ``impute_panel(max_time=)``); no limit when omitted.

    Returns
    -------
    Imputed
        Filled values and the mask of filled cells.

    Raises
    ------
    SpecError
        If ``entity`` or ``period`` is missing, or a parameter is invalid.
    DataError
        If two rows share an entity and a period.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part II, section 1. doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``impute_panel``. doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[np.nan], [1.0], [np.nan]])
    >>> nocb(X, entity=np.zeros(3, dtype=np.int64), period=np.arange(3)).values.ravel().tolist()
    [1.0, 1.0, nan]
    """
    return _carry(X, entity, period, params, "nocb")


@imputers.register(
    "locf_nocb", columnwise=True, reference=COINR, panel=True, parameters=("max_time",)
)
def locf_nocb(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Carry forward, then carry the first observation backward into leading gaps.

    Both donors are observed values (a value carried forward never serves as a donor for
    the backward pass). Without ``max_time``, only entities never observed stay missing.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing. Rows may come in any order.
    groups : IntArray, shape (n_rows,), optional
        Ignored.
    entity : IntArray, shape (n_rows,)
        Entity code of each row (required).
    period : IntArray, shape (n_rows,)
        Period code of each row (required), increasing with time.
    max_time : int, optional
        Largest distance [periods] between a gap and an observation that fills it (COINr's
        ``impute_panel(max_time=)``); no limit when omitted.

    Returns
    -------
    Imputed
        Filled values and the mask of filled cells.

    Raises
    ------
    SpecError
        If ``entity`` or ``period`` is missing, or a parameter is invalid.
    DataError
        If two rows share an entity and a period.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part II, section 1. doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``impute_panel``. doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[np.nan], [1.0], [np.nan]])
    >>> r = locf_nocb(X, entity=np.zeros(3, dtype=np.int64), period=np.arange(3))
    >>> r.values.ravel().tolist()
    [1.0, 1.0, 1.0]
    """
    return _carry(X, entity, period, params, "locf_nocb")


@imputers.register(
    "linear",
    columnwise=True,
    reference=HANDBOOK + " COINr impute_panel(imp_type = 'linear-constant') for ends: constant.",
    panel=True,
    parameters=("max_time", "ends"),
)
def linear(
    X: FloatArray,
    /,
    *,
    groups: IntArray | None = None,
    entity: IntArray | None = None,
    period: IntArray | None = None,
    **params: Any,
) -> Imputed:
    """Linear interpolation over periods within each entity; no extrapolation.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing. Rows may come in any order.
    groups : IntArray, shape (n_rows,), optional
        Ignored.
    entity : IntArray, shape (n_rows,)
        Entity code of each row (required).
    period : IntArray, shape (n_rows,)
        Period code of each row (required), increasing with time.
    max_time : int, optional
        Largest distance [periods] between a gap and an observation that fills it (COINr's
        ``impute_panel(max_time=)``); no limit when omitted.
    ends : {"none", "constant"}, default "none"
        Gaps before an entity's first or after its last observation: left missing
        (``none``), or given the nearest observed value (``constant``: COINr's
        ``"linear-constant"``).

    Returns
    -------
    Imputed
        Filled values and the mask of filled cells.

    Raises
    ------
    SpecError
        If ``entity`` or ``period`` is missing, or a parameter is invalid.
    DataError
        If two rows share an entity and a period.

    Notes
    -----
    A gap at period :math:`t` between observations :math:`(t_0, x_0)` and
    :math:`(t_1, x_1)` of the same entity gets
    :math:`x_0 + (x_1 - x_0)(t - t_0)/(t_1 - t_0)`. The period codes are the time axis:
    pass years to respect uneven spacing. Gaps before the first or after the last
    observation stay missing; with ``max_time``, both observations must lie within
    ``max_time`` periods of the gap.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part II, section 1. doi:10.1787/9789264043466-en

    Examples
    --------
    >>> X = np.array([[1.0], [np.nan], [np.nan], [7.0]])
    >>> r = linear(X, entity=np.zeros(4, dtype=np.int64), period=np.arange(4))
    >>> r.values.ravel().tolist()
    [1.0, 3.0, 5.0, 7.0]
    >>> X = np.array([[np.nan], [2.0], [np.nan], [4.0], [np.nan]])
    >>> e = np.zeros(5, dtype=np.int64)
    >>> linear(X, entity=e, period=np.arange(5), ends="constant").values.ravel().tolist()
    [2.0, 2.0, 3.0, 4.0, 4.0]
    """
    max_time = _max_time(params, "linear")
    ends = check_choice(
        params.pop("ends", "none"), ("none", "constant"), "ends", "impute", "linear"
    )
    reject_unknown(params, "impute", "linear", ["max_time", "ends"])
    X = as_matrix(X, "impute", "linear")
    if X.shape[0] == 0:
        return _result(X, X.copy())
    order, values, time, prev, next_, columns = _panel_neighbours(X, entity, period, "linear")
    x0, t0, ok0 = _donor(values, time, prev, prev >= 0, columns, max_time)
    x1, t1, ok1 = _donor(values, time, next_, next_ < X.shape[0], columns, max_time)
    take = np.isnan(values) & ok0 & ok1
    with np.errstate(invalid="ignore", divide="ignore"):
        interpolated = x0 + (x1 - x0) * (time[:, None] - t0) / (t1 - t0)
    filled = np.where(take, interpolated, values)
    if ends == "constant":  # held at the nearest observation outside the observed span
        _, _, before = _donor(values, time, prev, prev >= 0, columns, None)
        _, _, after = _donor(values, time, next_, next_ < X.shape[0], columns, None)
        gap = np.isnan(filled)
        filled = np.where(gap & ok0 & ~after, x0, filled)
        filled = np.where(gap & ok1 & ~before, x1, filled)
    out = np.empty_like(filled)
    out[order] = filled
    return _result(X, out)
