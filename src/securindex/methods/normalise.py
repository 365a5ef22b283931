"""Normalisation methods: bring indicators onto a common scale, with polarity applied.

Every normaliser has the signature::

    f(X, /, *, direction, reference=None, learnt=None, **params) -> Normalised

* ``X`` has shape ``(n_rows, n_indicators)``; ``NaN`` marks a missing value and stays
  ``NaN``. ``X`` is never modified.
* ``direction`` holds +1 or −1 per indicator (the polarity): −1 means that more is worse,
  so the score is reversed. After normalisation a higher score is always better.
* **Learn first, apply second.** A normaliser learns per-indicator statistics (minimum
  and maximum, mean and standard deviation, the sorted reference values …) from the
  ``reference`` sample (rows × indicators; ``X`` itself by default) and applies them to
  ``X``. It returns what it learnt in :attr:`Normalised.learnt`; passing that back as
  ``learnt=`` applies the same transformation to other data without learning again (new
  periods, chunks of a large panel). Learnt statistics are kept in the original units, so
  they do not depend on ``direction``.
* Which rows form the reference (each period alone, all periods pooled, or a base period)
  is the choice that makes scores comparable over time or not: scores normalised per
  period only rank entities within that period. :func:`normalise_by_period` runs the three
  modes; prefer ``pooled`` or ``base`` (or fixed goalposts) to compare periods.

What a pipeline must know before running a method is in its registry entry:
``output_range`` and ``learns``, and in ``extra``: ``range_of`` (the range as a function
of the parameters; use :func:`output_range`), ``requires_positive`` (ratio methods need
values >= 0, and > 0 where ``direction`` is −1) and ``parameters``.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, Step 5 ("Normalisation of data", whose table of methods is on p. 30).
   OECD Publishing. doi:10.1787/9789264043466-en
.. [2] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. and Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open Source
   Software*, 7(78), 4567. doi:10.21105/joss.04567
.. [3] UNDP (2020). *Human Development Report 2020, Technical notes*, Technical note 1
   (HDI goalposts). https://hdr.undp.org/sites/default/files/hdr2020_technical_notes.pdf
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.methods._registry import Method, Protocol, Registry
from securindex.methods._statistics import Moments
from securindex.methods._types import (
    BoolArray,
    FloatArray,
    IntArray,
    Normalised,
    as_matrix,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_per_column,
    param_error,
    reject_unknown,
)

__all__ = [
    "MODES",
    "Normaliser",
    "ampi",
    "banding",
    "borda",
    "distance_to_leader",
    "distance_to_reference",
    "distance_to_target",
    "fraction_of_max",
    "goalposts",
    "identity",
    "minmax",
    "normalise_by_period",
    "normalisers",
    "output_range",
    "percentile_rank",
    "rank",
    "ratio_to_mean",
    "register_normaliser",
    "run_normaliser",
    "zscore",
]

Normaliser = Callable[..., Normalised]


def _check_normaliser(method: Method[Any]) -> None:
    """A normaliser that learns must be able to learn and to re-apply what it learnt."""
    if method.learn is not None:
        if not method.learns:
            raise SpecError(
                f"normalise method '{method.name}' has a learn function: declare learns=True"
            )
        return
    if method.learns and not (method.takes("reference") and method.takes("learnt")):
        raise SpecError(
            f"normalise method '{method.name}' declares learns=True, so it must either take "
            "reference= (the sample to learn from) and learnt= (statistics learnt before) "
            "and return a Normalised, or be registered as a pair: "
            "register_normaliser(name, learns=True, learn=<learn function>) on "
            "apply(x, /, *, learnt, direction, **params) -> array"
        )


normalisers: Registry[Normaliser] = Registry(
    "normalise",
    Protocol(
        fields=frozenset(
            {
                "learns",
                "learn",
                "columnwise",
                "output_range",
                "range_of",
                "requires_positive",
                "applies_direction",
                "statistic",
            }
        ),
        keywords=("direction",),
    ),
    check=_check_normaliser,
)
"""The normalisation registry: method name → normaliser function."""

register_normaliser = normalisers.register
"""Decorator adding a user normaliser (same signature as the built-ins, returns Normalised)."""

MODES = ("per_period", "pooled", "base")
"""Reference modes of :func:`normalise_by_period`."""

HANDBOOK = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, Part I Step 5, "
    "p. 30. doi:10.1787/9789264043466-en"
)
COINR = (
    "Becker et al. (2022). COINr: An R package for developing composite indicators. JOSS "
    "7(78), 4567. doi:10.21105/joss.04567"
)
HDR = "UNDP (2020). Human Development Report 2020, Technical notes, Technical note 1."

_TIES = ("average", "min", "max")
_Stats = dict[str, FloatArray]
_Flags = dict[str, BoolArray]


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def _direction(direction: Any, n_cols: int, method: str) -> FloatArray:
    """``direction`` as a float array of ±1, shape (n_cols,)."""
    arr = np.asarray(direction)
    if arr.ndim == 0:
        arr = np.full(n_cols, arr)
    ok = arr.shape == (n_cols,) and arr.dtype.kind in "iuf" and bool(np.all(np.abs(arr) == 1))
    if not ok:
        raise SpecError(
            f"normalise method '{method}' needs direction = +1 or -1 for each of its "
            f"{n_cols} indicator(s) (-1 when more is worse); got {direction!r}"
        )
    return arr.astype(np.float64)


def _col_count(R: FloatArray) -> FloatArray:
    return np.asarray((~np.isnan(R)).sum(axis=0), dtype=np.float64)


def _col_min(R: FloatArray) -> FloatArray:
    out = np.where(np.isnan(R), np.inf, R).min(axis=0, initial=np.inf)
    return np.where(np.isfinite(out), out, np.nan)


def _col_max(R: FloatArray) -> FloatArray:
    out = np.where(np.isnan(R), -np.inf, R).max(axis=0, initial=-np.inf)
    return np.where(np.isfinite(out), out, np.nan)


def _col_mean(R: FloatArray) -> FloatArray:
    n = _col_count(R)
    total = np.where(np.isnan(R), 0.0, R).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1.0), np.nan)


def _col_sd(R: FloatArray, ddof: int = 1) -> FloatArray:
    """Standard deviation, divisor n − ddof (ddof 1: the sample one, as R's ``sd``); NaN for
    n <= ddof values."""
    n = _col_count(R)
    d = np.where(np.isnan(R), 0.0, R - _col_mean(R))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > ddof, np.sqrt((d * d).sum(axis=0) / (n - ddof)), np.nan)


def _check_learnt(
    learnt: Mapping[str, Any], keys: Sequence[str], n_cols: int, method: str
) -> _Stats:
    """Copies of the learnt statistics, checked for the keys and the indicator axis."""
    missing = [k for k in keys if k not in learnt]
    if missing:
        raise SpecError(
            f"normalise method '{method}' was given learnt statistics without {missing}; "
            f"it needs {list(keys)} (pass the .learnt of an earlier '{method}' run)"
        )
    stats = {k: np.array(learnt[k], dtype=np.float64) for k in keys}
    for key, value in stats.items():
        if value.ndim == 0 or value.shape[-1] != n_cols:
            raise SpecError(
                f"normalise method '{method}': learnt '{key}' has shape {value.shape}, but the "
                f"data have {n_cols} indicator(s) (the last axis must match)"
            )
    return stats


def _run(
    method: str,
    X: FloatArray,
    direction: Any,
    reference: Any,
    learnt: Mapping[str, Any] | None,
    keys: Sequence[str],
    learn: Callable[[FloatArray], _Stats],
    apply: Callable[[FloatArray, FloatArray, _Stats], tuple[FloatArray, _Flags]],
) -> Normalised:
    """Learn from the reference (or take ``learnt``), apply, keep NaN as NaN."""
    n_cols = X.shape[1]
    d = _direction(direction, n_cols, method)
    if learnt is not None:
        if reference is not None:
            raise SpecError(
                f"normalise method '{method}' got both reference and learnt; pass reference "
                "to learn the statistics, or learnt to reuse them, not both"
            )
        stats = _check_learnt(learnt, keys, n_cols, method)
    else:
        R = X if reference is None else as_matrix(reference, "normalise", method)
        if R.shape[1] != n_cols:
            raise DataError(
                f"normalise method '{method}': the reference sample has {R.shape[1]} "
                f"indicator(s) but the data have {n_cols}"
            )
        stats = learn(R)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        values, flags = apply(X, d, stats)
    values = np.where(np.isnan(X), np.nan, values)
    return Normalised(values=np.asarray(values, dtype=np.float64), learnt=stats, flags=flags)


def _no_flags(n_cols: int) -> _Flags:
    return {"constant": np.zeros(n_cols, dtype=bool)}


def _check_ratio_domain(X: FloatArray, d: FloatArray, method: str, what: str = "data") -> None:
    """Ratio methods need x >= 0 (x > 0 where direction is −1, as x sits in a denominator)."""
    with np.errstate(invalid="ignore"):
        bad_value = np.where(d < 0, X <= 0, X < 0)
    bad = np.flatnonzero(bad_value.any(axis=0))
    if bad.size:
        raise DataError(
            f"normalise method '{method}' divides values, so it needs a ratio scale: values "
            f">= 0 (> 0 for indicators where more is worse); the {what} of column(s) "
            f"{bad.tolist()} break this. Use minmax or goalposts for interval-scale data"
        )


def _bounds(lo: Any, hi: Any, method: str) -> tuple[float, float]:
    lo_f = check_float(lo, "lo", "normalise", method)
    hi_f = check_float(hi, "hi", "normalise", method)
    if not lo_f < hi_f:
        raise param_error("normalise", method, "hi", f"greater than lo ({lo_f:g})", hi)
    return lo_f, hi_f


# --------------------------------------------------------------------------------------
# Output ranges
# --------------------------------------------------------------------------------------


def output_range(
    method: str, params: Mapping[str, Any] | None = None
) -> tuple[float, float] | None:
    """The range of the scores of ``method`` with ``params``, or None when it is not fixed.

    For methods that learn from a reference sample, the range holds for the reference data
    (and for any data with ``clip``/``cap`` where the method has one). The pipeline uses it
    before running anything, e.g. to refuse a geometric mean over scores that can be 0.

    Parameters
    ----------
    method : str
        A registered normaliser name.
    params : mapping, optional
        The method's parameters as in the framework file (without ``reference``).

    Returns
    -------
    tuple of float or None
        ``(lowest, highest)`` score [score units].

    Raises
    ------
    SpecError
        If the method is unknown or a parameter that fixes the range is invalid.

    Examples
    --------
    >>> output_range("minmax", {"lo": 1, "hi": 10})
    (1.0, 10.0)
    >>> output_range("zscore") is None
    True
    """
    entry = normalisers.get(method)
    if entry.range_of is not None:
        return entry.range_of(dict(params or {}))
    return entry.output_range


def _fixed(low: float, high: float) -> Callable[[dict[str, Any]], tuple[float, float]]:
    return lambda params: (low, high)


def _range_minmax(params: dict[str, Any]) -> tuple[float, float]:
    return _bounds(params.get("lo", 0.0), params.get("hi", 100.0), "minmax")


def _range_capped(
    method: str, default: bool, high: float = 1.0
) -> Callable[[dict[str, Any]], tuple[float, float] | None]:
    def range_of(params: dict[str, Any]) -> tuple[float, float] | None:
        cap = check_bool(params.get("cap", default), "cap", "normalise", method)
        return (0.0, high) if cap else None

    return range_of


def _range_goalposts(params: dict[str, Any]) -> tuple[float, float] | None:
    clip = check_bool(params.get("clip", True), "clip", "normalise", "goalposts")
    low, high = _goalpost_scores(params.get("scores"), params.get("scale", 1.0))
    return (low, high) if clip else None


def _goalpost_scores(scores: Any, scale: Any) -> tuple[float, float]:
    """The scores the lower and upper goalposts map to: ``scores`` or ``[0, scale]``."""
    s = check_float(scale, "scale", "normalise", "goalposts", minimum=0, strict=True)
    if scores is None:
        return 0.0, s
    if s != 1.0:
        raise param_error(
            "normalise", "goalposts", "scores", "given without scale (scores replaces it)", scores
        )
    if not isinstance(scores, (list, tuple)) or len(scores) != 2:
        raise param_error("normalise", "goalposts", "scores", "a list [low, high]", scores)
    return _bounds(scores[0], scores[1], "goalposts")


def _range_banding(params: dict[str, Any]) -> tuple[float, float]:
    thresholds = params.get("thresholds")
    if not isinstance(thresholds, (list, tuple)) or not thresholds:
        raise param_error(
            "normalise",
            "banding",
            "thresholds",
            "a non-empty list of numbers (or lists)",
            thresholds,
        )
    if all(isinstance(t, (list, tuple)) for t in thresholds):
        k = max(len(t) for t in thresholds) + 1
    else:
        k = len(thresholds) + 1
    return 1.0, float(k)


# --------------------------------------------------------------------------------------
# Identity
# --------------------------------------------------------------------------------------


def _range_identity(params: dict[str, Any]) -> tuple[float, float] | None:
    given = params.get("range")
    if given is None:
        return None
    return _declared_range(given)


def _declared_range(given: Any) -> tuple[float, float]:
    if not isinstance(given, (list, tuple)) or len(given) != 2:
        raise param_error("normalise", "none", "range", "a list [low, high]", given)
    return _bounds(given[0], given[1], "none")


@normalisers.register(
    "none",
    columnwise=True,
    reference="Identity: the values are already on the index's scale (e.g. the GPI's banded "
    "1-5 indicator scores, Institute for Economics & Peace 2018, Methodology annex).",
    range_of=_range_identity,
    requires_positive=False,
    applies_direction=False,
    parameters=("range",),
)
def identity(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    range: Sequence[float] | None = None,
) -> Normalised:
    """No normalisation: the values are kept as they are, polarity included.

    For indicators that already are scores on the index's scale (published indicator
    scores, a second stage fed by a first). Polarity is *not* applied, so a weighted mean
    over such values is only meaningful when they all point the index's way (the framework
    checks this when it loads: see ``higher_is``).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Values [score]; NaN is missing.
    direction : array_like of ±1
        Ignored (the values keep their direction).
    reference, learnt : optional
        Ignored (nothing is learnt).
    range : [float, float], optional
        The interval the values lie in [score], e.g. ``[1, 5]``: known at load time (so a
        geometric mean above can be checked), and checked on the data.

    Returns
    -------
    Normalised
        ``values`` equal to ``X`` (a copy); nothing learnt.

    Raises
    ------
    DataError
        A value outside ``range``.

    Examples
    --------
    >>> identity(np.array([[1.5], [4.0]]), direction=[-1]).values.ravel().tolist()
    [1.5, 4.0]
    """
    X = as_matrix(X, "normalise", "none")
    if range is not None:
        low, high = _declared_range(range)
        with np.errstate(invalid="ignore"):
            outside = (low > X) | (high < X)
        if outside.any():
            columns = np.flatnonzero(outside.any(axis=0)).tolist()
            raise DataError(
                f"normalise method 'none': {int(outside.sum())} value(s) of column(s) "
                f"{columns} lie outside the declared range [{low:g}, {high:g}]"
            )
    return Normalised(
        values=np.array(X, dtype=np.float64, copy=True), learnt={}, flags=_no_flags(X.shape[1])
    )


# --------------------------------------------------------------------------------------
# Linear rescalings
# --------------------------------------------------------------------------------------


@normalisers.register(
    "minmax",
    statistic=Moments(keys=("min", "max")),
    columnwise=True,
    reference=HANDBOOK,
    output_range=(0.0, 100.0),
    learns=True,
    range_of=_range_minmax,
    requires_positive=False,
    parameters=("lo", "hi", "clip"),
)
def minmax(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    lo: float = 0.0,
    hi: float = 100.0,
    clip: bool = False,
    **params: Any,
) -> Normalised:
    """Min-max: rescale each indicator linearly onto ``[lo, hi]``.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; −1 reverses the scale (the minimum scores ``hi``).
    reference : FloatArray, shape (n_reference_rows, n_indicators), optional
        Rows to learn the minimum and maximum from (default ``X``).
    learnt : mapping, optional
        ``{"min", "max"}`` [indicator units] of an earlier run, applied without learning.
    lo, hi : float, default 0 and 100
        Target interval [score].
    clip : bool, default False
        Clip scores to ``[lo, hi]``; useful when applying learnt bounds to new data.

    Returns
    -------
    Normalised
        Scores [score ``lo``–``hi``]; ``learnt`` = ``{"min", "max"}``; ``flags["constant"]``
        marks indicators without spread in the reference, which score the midpoint
        ``(lo + hi) / 2`` (COINr returns NaN there; a constant indicator says nothing about
        the ranking, and the midpoint keeps the rows in the aggregate).

    Notes
    -----
    :math:`y = lo + (hi - lo)\\,\\frac{x - \\min x}{\\max x - \\min x}` for direction +1, and
    :math:`y = lo + (hi - lo)\\,\\frac{\\max x - x}{\\max x - \\min x}` for −1, which equals
    COINr's ``n_minmax`` applied to :math:`-x`. Sensitive to outliers: treat them first
    (Handbook, Part I, Step 5).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Min-Max").
       doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``n_minmax``. doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[2.0, 2.0], [4.0, 4.0], [6.0, 6.0]])
    >>> minmax(X, direction=[1, -1]).values.tolist()
    [[0.0, 100.0], [50.0, 50.0], [100.0, 0.0]]
    """
    reject_unknown(params, "normalise", "minmax", ["lo", "hi", "clip"])
    lo, hi = _bounds(lo, hi, "minmax")
    clip = check_bool(clip, "clip", "normalise", "minmax")
    X = as_matrix(X, "normalise", "minmax")

    def learn(R: FloatArray) -> _Stats:
        return {"min": _col_min(R), "max": _col_max(R)}

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        # halves where the range itself overflows (values near ±1.8e308): exact, as
        # halving is, and it keeps such an indicator from turning into 0 everywhere
        with np.errstate(over="ignore", invalid="ignore"):
            huge = np.isinf(s["max"] - s["min"]) & np.isfinite(s["max"]) & np.isfinite(s["min"])
        scale = np.where(huge, 0.5, 1.0)
        low, high = s["min"] * scale, s["max"] * scale
        span = high - low
        constant = span == 0
        x = X * scale
        t = np.where(d > 0, x - low, high - x) / np.where(constant, 1.0, span)
        y = np.where(constant, 0.5 * (lo + hi), lo + (hi - lo) * t)
        if clip:
            y = np.clip(y, lo, hi)
        return y, {"constant": constant}

    return _run("minmax", X, direction, reference, learnt, ("min", "max"), learn, apply)


@normalisers.register(
    "zscore",
    statistic=Moments(keys=("mean", "sd")),
    columnwise=True,
    reference=HANDBOOK,
    learns=True,
    requires_positive=False,
    parameters=("mean", "sd", "ddof"),
)
def zscore(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    mean: float = 0.0,
    sd: float = 1.0,
    ddof: int = 1,
    **params: Any,
) -> Normalised:
    """Standardisation (z-score), rescaled to a target mean and standard deviation.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; −1 flips the sign of the z-score.
    reference : FloatArray, optional
        Rows to learn the mean and standard deviation from (default ``X``).
    learnt : mapping, optional
        ``{"mean", "sd"}`` [indicator units] of an earlier run.
    mean : float, default 0
        Target mean :math:`m` [score].
    sd : float, default 1
        Target standard deviation :math:`s` > 0 [score].
    ddof : {1, 0}, default 1
        Delta degrees of freedom of the standard deviation: 1, the sample standard
        deviation (divisor :math:`n - 1`: R's ``sd``, COINr, Compind's ``normalise_ci``); 0,
        the population one (divisor :math:`n`: Mazziotta & Pareto's own definition of the
        MPI standardisation).

    Returns
    -------
    Normalised
        Scores [score]; ``learnt`` = ``{"mean", "sd"}``; ``flags["constant"]`` marks
        indicators whose reference standard deviation is 0 or undefined, which score
        ``mean``.

    Notes
    -----
    :math:`y = m + s \\cdot d \\cdot (x - \\bar x) / \\sigma_x` with the sample standard
    deviation :math:`\\sigma_x` (divisor :math:`n-1`), as COINr's ``n_zscore(m_sd = c(m, s))``,
    or with ``ddof=0`` the population one (divisor :math:`n`).
    Unbounded: a geometric mean cannot take z-scores.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Standardisation").
       doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``n_zscore``. doi:10.21105/joss.04567

    Examples
    --------
    >>> zscore(np.array([[1.0], [2.0], [3.0]]), direction=[1]).values.ravel().tolist()
    [-1.0, 0.0, 1.0]
    """
    reject_unknown(params, "normalise", "zscore", ["mean", "sd", "ddof"])
    target_mean = check_float(mean, "mean", "normalise", "zscore")
    target_sd = check_float(sd, "sd", "normalise", "zscore", minimum=0, strict=True)
    dof = check_int(ddof, "ddof", "normalise", "zscore", minimum=0)
    if dof > 1:
        raise param_error("normalise", "zscore", "ddof", "0 or 1", ddof)
    X = as_matrix(X, "normalise", "zscore")

    def learn(R: FloatArray) -> _Stats:
        return {"mean": _col_mean(R), "sd": _col_sd(R, ddof=dof)}

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        constant = ~(s["sd"] > 0) & ~np.isnan(s["mean"])
        z = d * (X - s["mean"]) / np.where(constant, 1.0, s["sd"])
        return np.where(constant, target_mean, target_mean + target_sd * z), {"constant": constant}

    return _run("zscore", X, direction, reference, learnt, ("mean", "sd"), learn, apply)


@normalisers.register(
    "goalposts",
    columnwise=True,
    reference=HDR,
    output_range=(0.0, 1.0),
    range_of=_range_goalposts,
    requires_positive=False,
    parameters=("lo", "hi", "log", "clip", "scale", "scores"),
)
def goalposts(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    lo: Any = None,
    hi: Any = None,
    log: bool = False,
    clip: bool = True,
    scale: float = 1.0,
    scores: Sequence[float] | None = None,
    **params: Any,
) -> Normalised:
    """Distance between fixed goalposts (HDI style): nothing is learnt from the data.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; for −1 the upper goalpost ``hi`` scores 0 and ``lo`` scores ``scale``.
    reference : FloatArray, optional
        Ignored (goalposts are fixed).
    learnt : mapping, optional
        ``{"lo", "hi"}`` of an earlier run (same as giving ``lo`` and ``hi``).
    lo, hi : float or list of float
        Lower and upper goalposts [indicator units], one number for all indicators or a list
        with one per indicator; ``lo < hi``, both > 0 with ``log``.
    log : bool, default False
        Measure distances on :math:`\\ln x` (the HDI income index).
    clip : bool, default True
        Truncate values outside the goalposts to 0 or ``scale`` (COINr's ``trunc2posts``).
    scale : float, default 1
        Multiply the result by ``scale`` > 0 (100 gives a 0–100 score) [score].
    scores : [float, float], optional
        The scores ``[a, b]`` the goalposts map to instead of ``[0, scale]`` (the GPI's
        banded indicators run from 1 to 5: ``scores: [1, 5]``) [score].

    Returns
    -------
    Normalised
        Scores [score ``a``–``b``, default 0–``scale``]; ``learnt`` = ``{"lo", "hi"}`` (the
        goalposts).

    Raises
    ------
    DataError
        With ``log``, if a value is <= 0.

    Notes
    -----
    :math:`y = a + (b - a)\\,\\frac{x - lo}{hi - lo}` for direction +1 and
    :math:`y = a + (b - a)\\,\\frac{hi - x}{hi - lo}` for −1, with :math:`[a, b]` = ``scores``
    (default :math:`[0, s]`; COINr's ``n_goalposts``); with ``log``,
    :math:`x, lo, hi` are replaced by their natural logarithms. The HDI income index is
    :math:`(\\ln x - \\ln 100) / (\\ln 75\\,000 - \\ln 100)` with GNI per capita :math:`x`
    in 2017 PPP $ (UNDP 2020, Technical note 1). Fixed goalposts make scores comparable
    over time and across samples, which the Handbook recommends for tracking progress.

    References
    ----------
    .. [1] UNDP (2020). Human Development Report 2020, Technical notes, Technical note 1.
    .. [2] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30. doi:10.1787/9789264043466-en
    .. [3] Becker et al. (2022), COINr, ``n_goalposts``. doi:10.21105/joss.04567

    Examples
    --------
    >>> gni = np.array([[3829.0]])  # GNI per capita, 2017 PPP $
    >>> r = goalposts(gni, direction=[1], lo=100, hi=75000, log=True)
    >>> round(float(r.values[0, 0]), 4)
    0.5506
    """
    allowed = ["lo", "hi", "log", "clip", "scale", "scores"]
    reject_unknown(params, "normalise", "goalposts", allowed)
    use_log = check_bool(log, "log", "normalise", "goalposts")
    clip = check_bool(clip, "clip", "normalise", "goalposts")
    score_lo, score_hi = _goalpost_scores(scores, scale)
    X = as_matrix(X, "normalise", "goalposts")
    n_cols = X.shape[1]
    given: _Stats = {}
    if learnt is None:
        for name, value in (("lo", lo), ("hi", hi)):
            if value is None:
                raise SpecError(
                    f"normalise method 'goalposts' needs the '{name}' parameter: a number, or a "
                    f"list of {n_cols} numbers (one per indicator) [indicator units]"
                )
            given[name] = check_per_column(value, n_cols, name, "normalise", "goalposts")

    def learn(R: FloatArray) -> _Stats:
        return given

    def apply(X: FloatArray, d: FloatArray, st: _Stats) -> tuple[FloatArray, _Flags]:
        low, high = st["lo"], st["hi"]
        if np.any(~(low < high)):
            raise param_error(
                "normalise", "goalposts", "hi", "greater than lo for every indicator", high.tolist()
            )
        if use_log:
            if np.any(low <= 0):
                raise param_error(
                    "normalise", "goalposts", "lo", "> 0 with log: true", low.tolist()
                )
            bad = np.flatnonzero((X <= 0).any(axis=0))
            if bad.size:
                raise DataError(
                    f"normalise method 'goalposts' with log: true needs values > 0; column(s) "
                    f"{bad.tolist()} hold values <= 0"
                )
            X, low, high = np.log(X), np.log(low), np.log(high)
        t = np.where(d > 0, X - low, high - X) / (high - low)
        if clip:
            t = np.clip(t, 0.0, 1.0)
        return score_lo + (score_hi - score_lo) * t, _no_flags(X.shape[1])

    return _run("goalposts", X, direction, None, learnt, ("lo", "hi"), learn, apply)


@normalisers.register(
    "ampi",
    columnwise=True,
    reference=(
        "Mazziotta, M. & Pareto, A. (2018). Measuring well-being over time: the adjusted "
        "Mazziotta-Pareto index versus other non-compensatory indices. Social Indicators "
        "Research 136(3), 967-976. doi:10.1007/s11205-017-1577-5; Compind 3.4 ci_ampi"
    ),
    learns=True,
    requires_positive=False,
    parameters=("centre",),
)
def ampi(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    centre: Any = None,
    **params: Any,
) -> Normalised:
    """Goalposts of the adjusted Mazziotta–Pareto index (AMPI): 70–130 around a centre.

    Each indicator is rescaled between goalposts placed half its range below and above a
    reference value (the centre, e.g. its mean in a base year), so that the centre scores
    100 and a range of values as wide as the observed one spans 70–130. Aggregating with
    ``mazziotta_pareto`` (population standard deviation) gives the AMPI; unlike the MPI's
    z-scores, the goalposts make the scores comparable over time.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; −1 mirrors the scale (the upper goalpost scores 70).
    reference : FloatArray, optional
        Rows whose range fixes the goalposts' spread (default ``X``: all periods pooled,
        as Compind).
    learnt : mapping, optional
        ``{"lo", "hi"}`` (the goalposts) of an earlier run.
    centre : float or list of float, optional
        The reference value of each indicator [indicator units] (Compind's ``gp``); default
        the mean of the reference rows.

    Returns
    -------
    Normalised
        Scores [score, 100 at the centre; 70–130 over the reference rows when the centre
        is their mid-range, wider otherwise]; ``learnt`` =
        ``{"lo", "hi"}``, the goalposts ``centre ∓ (max − min) / 2``.

    Notes
    -----
    :math:`r = 70 + 60\\,(x - lo)/(hi - lo)` for direction +1, :math:`70 + 60\\,(hi - x)/(hi
    - lo)` for −1, with :math:`lo, hi = c \\mp (\\max x - \\min x)/2`; then
    AMPI\\ :sup:`∓` = :math:`M_r \\mp S_r \\cdot cv_r` over each row's scores
    (``aggregate: {method: mazziotta_pareto, ddof: 0}``).

    References
    ----------
    .. [1] Mazziotta, M. & Pareto, A. (2018). doi:10.1007/s11205-017-1577-5
    .. [2] Mazziotta, M. & Pareto, A. (2016). On a generalized non-compensatory composite
       index for measuring socio-economic phenomena. Social Indicators Research 127,
       983-1003. doi:10.1007/s11205-015-0998-2
    .. [3] Compind 3.4, ``ci_ampi`` (the normalisation; its aggregation always applies the
       negative penalty).

    Examples
    --------
    >>> x = np.array([[2.0], [4.0], [6.0]])
    >>> ampi(x, direction=[1], centre=4.0).values.ravel().tolist()
    [70.0, 100.0, 130.0]
    """
    reject_unknown(params, "normalise", "ampi", ["centre"])
    X = as_matrix(X, "normalise", "ampi")
    n_cols = X.shape[1]
    given = (
        None if centre is None else check_per_column(centre, n_cols, "centre", "normalise", "ampi")
    )

    def learn(R: FloatArray) -> _Stats:
        half = (_col_max(R) - _col_min(R)) / 2.0
        middle = _col_mean(R) if given is None else given
        return {"lo": middle - half, "hi": middle + half}

    def apply(X: FloatArray, d: FloatArray, st: _Stats) -> tuple[FloatArray, _Flags]:
        low, high = st["lo"], st["hi"]
        constant = ~(high > low)
        t = np.where(d > 0, X - low, high - X) / np.where(constant, 1.0, high - low)
        return np.where(constant, 100.0, 70.0 + 60.0 * t), {"constant": constant}

    return _run("ampi", X, direction, reference, learnt, ("lo", "hi"), learn, apply)


# --------------------------------------------------------------------------------------
# Ranks
# --------------------------------------------------------------------------------------


def _less_equal(values: FloatArray, reference: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per cell of ``values``, how many observed reference values of its column are < and <= it.

    Reference and values of each column are sorted together once (``numpy.lexsort`` along
    rows, all columns at once); the count of reference values before a value in that order
    is the answer. Ties put the value before (for <) or after (for <=) equal references.
    """
    n, k = values.shape
    m = reference.shape[0]
    ref_ok = ~np.isnan(reference)
    Z = np.concatenate([np.where(ref_ok, reference, np.inf), np.nan_to_num(values, nan=np.inf)]).T
    weight = np.concatenate([ref_ok, np.zeros((n, k), dtype=bool)]).T.astype(np.int64)
    is_value = np.broadcast_to(np.r_[np.zeros(m), np.ones(n)], Z.shape)

    def before(tiebreak: FloatArray) -> FloatArray:
        order = np.lexsort((tiebreak, Z), axis=-1)
        w = np.take_along_axis(weight, order, axis=-1)
        count = np.cumsum(w, axis=-1) - w
        out = np.empty_like(count)
        np.put_along_axis(out, order, count, axis=-1)
        return np.asarray(out[:, m:].T, dtype=np.float64)

    return before(1.0 - is_value), before(is_value)


def _rank_stats(R: FloatArray) -> _Stats:
    return {"reference": np.sort(R, axis=0)}


def _ranks(
    X: FloatArray, d: FloatArray, ref: FloatArray, ties: str
) -> tuple[FloatArray, FloatArray]:
    """Ascending ranks (1 = worst) of the oriented values within the oriented reference.

    A value counts as one of its own ties, so for values that belong to the reference these
    are the usual ranks; a new value gets the rank it would take among the reference.
    """
    less, leq = _less_equal(X * d, ref * d)
    ties_n = np.maximum(leq - less, 1.0)
    if ties == "min":
        r = less + 1.0
    elif ties == "max":
        r = less + ties_n
    else:
        r = less + (ties_n + 1.0) / 2.0
    n_ref = _col_count(ref)
    return np.where(n_ref > 0, r, np.nan), n_ref


@normalisers.register(
    "rank",
    columnwise=True,
    reference=HANDBOOK,
    learns=True,
    requires_positive=False,
    parameters=("ties",),
)
def rank(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    ties: str = "average",
    **params: Any,
) -> Normalised:
    """Ranking: the rank of each value among the reference values, 1 = worst.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing and not ranked.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; with −1 the highest value gets rank 1.
    reference : FloatArray, optional
        Rows to rank against (default ``X``).
    learnt : mapping, optional
        ``{"reference"}``: the sorted reference values, shape (n_reference_rows,
        n_indicators), NaN last.
    ties : {"average", "min", "max"}, default "average"
        Rank given to tied values (COINr's ``n_rank`` uses ``"min"``).

    Returns
    -------
    Normalised
        Ranks [rank, 1 … n_reference]; higher is better.

    Notes
    -----
    Ranks are ascending on :math:`d \\cdot x`, so the best entity has the highest rank and
    ranks aggregate in the same direction as other scores. Ranks drop the distances between
    entities and are robust to outliers (Handbook, Part I, Step 5).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Ranking").
       doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``n_rank``. doi:10.21105/joss.04567

    Examples
    --------
    >>> rank(np.array([[5.0], [1.0], [5.0], [3.0]]), direction=[1]).values.ravel().tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    reject_unknown(params, "normalise", "rank", ["ties"])
    ties = check_choice(ties, _TIES, "ties", "normalise", "rank")
    X = as_matrix(X, "normalise", "rank")

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        return _ranks(X, d, s["reference"], ties)[0], _no_flags(X.shape[1])

    return _run("rank", X, direction, reference, learnt, ("reference",), _rank_stats, apply)


@normalisers.register(
    "percentile_rank",
    columnwise=True,
    reference=COINR,
    output_range=(0.0, 100.0),
    learns=True,
    range_of=_fixed(0.0, 100.0),
    requires_positive=False,
    parameters=("ties",),
)
def percentile_rank(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    ties: str = "min",
    **params: Any,
) -> Normalised:
    """Percentile rank: the share of reference values below each value, 0–100.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; with −1 the lowest value scores 100.
    reference : FloatArray, optional
        Rows to rank against (default ``X``).
    learnt : mapping, optional
        ``{"reference"}``: the sorted reference values.
    ties : {"min", "average", "max"}, default "min"
        Rank of tied values; ``"min"`` matches COINr's ``n_prank`` (ties share the lowest
        percentile).

    Returns
    -------
    Normalised
        Scores [score 0–100]; ``flags["constant"]`` marks indicators with a single
        reference value, which score 50.

    Notes
    -----
    :math:`y = 100\\,(r - 1)/(n - 1)` with :math:`r` the rank of :math:`d \\cdot x` among the
    :math:`n` reference values (COINr's ``n_prank`` times 100). New values outside the
    reference range are clipped to 0 or 100.

    References
    ----------
    .. [1] Becker et al. (2022), COINr, ``n_prank``. doi:10.21105/joss.04567
    .. [2] OECD/JRC (2008), Handbook, Part I, Step 5.
       doi:10.1787/9789264043466-en

    Examples
    --------
    >>> X = np.array([[10.0], [20.0], [30.0], [40.0], [50.0]])
    >>> percentile_rank(X, direction=[1]).values.ravel().tolist()
    [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    reject_unknown(params, "normalise", "percentile_rank", ["ties"])
    ties = check_choice(ties, _TIES, "ties", "normalise", "percentile_rank")
    X = as_matrix(X, "normalise", "percentile_rank")

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        r, n_ref = _ranks(X, d, s["reference"], ties)
        single = n_ref == 1
        y = np.clip(100.0 * (r - 1.0) / np.where(single, 1.0, n_ref - 1.0), 0.0, 100.0)
        return np.where(single, 50.0, y), {"constant": single}

    return _run(
        "percentile_rank", X, direction, reference, learnt, ("reference",), _rank_stats, apply
    )


@normalisers.register(
    "borda", columnwise=True, reference=COINR, learns=True, requires_positive=False, parameters=()
)
def borda(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    **params: Any,
) -> Normalised:
    """Borda score: the number of reference entities each value beats.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; with −1, lower values beat higher ones.
    reference : FloatArray, optional
        Rows to compare with (default ``X``).
    learnt : mapping, optional
        ``{"reference"}``: the sorted reference values.

    Returns
    -------
    Normalised
        Points [count, 0 … n_reference − 1]: the number of reference values strictly worse.

    Notes
    -----
    :math:`y_i = \\#\\{j : d x_j < d x_i\\}`, that is :math:`r_{\\min} - 1` with ascending
    ranks (COINr's ``n_borda``), or :math:`n - r` with descending ranks when there are no
    ties. Tied entities beat the same entities and get the same points.

    References
    ----------
    .. [1] Becker et al. (2022), COINr, ``n_borda``. doi:10.21105/joss.04567
    .. [2] OECD/JRC (2008), Handbook, Part II, non-compensatory aggregation (Borda and Condorcet
       rules).
       doi:10.1787/9789264043466-en

    Examples
    --------
    >>> borda(np.array([[5.0], [1.0], [5.0], [3.0]]), direction=[1]).values.ravel().tolist()
    [2.0, 0.0, 2.0, 1.0]
    """
    reject_unknown(params, "normalise", "borda", [])
    X = as_matrix(X, "normalise", "borda")

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        less, _ = _less_equal(X * d, s["reference"] * d)
        n_ref = _col_count(s["reference"])
        return np.where(n_ref > 0, less, np.nan), _no_flags(X.shape[1])

    return _run("borda", X, direction, reference, learnt, ("reference",), _rank_stats, apply)


# --------------------------------------------------------------------------------------
# Ratios (distance to target, reference, leader; ratio to mean)
# --------------------------------------------------------------------------------------


def _ratio(X: FloatArray, d: FloatArray, base: FloatArray) -> FloatArray:
    """``x / base`` for direction +1 and ``base / x`` for −1."""
    return np.where(d > 0, X / base, base / X)


@normalisers.register(
    "distance_to_target",
    columnwise=True,
    reference=HANDBOOK,
    output_range=(0.0, 1.0),
    range_of=_range_capped("distance_to_target", True),
    requires_positive=True,
    parameters=("target", "cap"),
)
def distance_to_target(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    target: Any = None,
    cap: bool = True,
    **params: Any,
) -> Normalised:
    """Distance to a target: the fraction of the target reached.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; >= 0, and > 0 where direction is −1.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; −1 means the target is a ceiling to get under.
    reference : FloatArray, optional
        Ignored (the target is fixed).
    learnt : mapping, optional
        ``{"target"}`` of an earlier run.
    target : float or list of float
        Target value > 0 [indicator units], one for all indicators or one per indicator.
    cap : bool, default True
        Cap the score at 1 (the target is met; overshooting earns nothing more).

    Returns
    -------
    Normalised
        Scores [fraction of target, 0–1 with ``cap``].

    Notes
    -----
    :math:`y = x / x_{target}` for direction +1 and :math:`y = x_{target} / x` for −1, so
    that 1 means the target is met either way. COINr's ``n_dist2targ`` is a different,
    min-anchored formula, :math:`1 - (x_{target} - x)/(x_{target} - \\min x)`; the ratio
    form here needs no reference sample and is comparable over time.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Distance to a
       reference"). doi:10.1787/9789264043466-en

    Examples
    --------
    >>> X = np.array([[50.0, 5.0], [200.0, 20.0]])
    >>> distance_to_target(X, direction=[1, -1], target=[100, 10]).values.tolist()
    [[0.5, 1.0], [1.0, 0.5]]
    """
    reject_unknown(params, "normalise", "distance_to_target", ["target", "cap"])
    cap = check_bool(cap, "cap", "normalise", "distance_to_target")
    X = as_matrix(X, "normalise", "distance_to_target")
    given: _Stats = {}
    if learnt is None:
        if target is None:
            raise SpecError(
                "normalise method 'distance_to_target' needs the 'target' parameter: a number "
                f"> 0, or a list of {X.shape[1]} (one per indicator) [indicator units]"
            )
        given["target"] = check_per_column(
            target, X.shape[1], "target", "normalise", "distance_to_target"
        )

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        if np.any(~(s["target"] > 0)):
            raise param_error(
                "normalise",
                "distance_to_target",
                "target",
                "> 0 for every indicator",
                s["target"].tolist(),
            )
        _check_ratio_domain(X, d, "distance_to_target")
        y = _ratio(X, d, s["target"])
        return (np.minimum(y, 1.0) if cap else y), _no_flags(X.shape[1])

    return _run(
        "distance_to_target", X, direction, None, learnt, ("target",), lambda R: given, apply
    )


@normalisers.register(
    "distance_to_reference",
    columnwise=True,
    reference=HANDBOOK,
    learns=True,
    range_of=_range_capped("distance_to_reference", False),
    requires_positive=True,
    parameters=("reference_row", "cap"),
)
def distance_to_reference(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    reference_row: Any = None,
    cap: bool = False,
    **params: Any,
) -> Normalised:
    """Distance to a reference entity: each value relative to one row's value.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; >= 0, and > 0 where direction is −1.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity.
    reference : FloatArray, optional
        The reference sample (default ``X``); ``reference_row`` indexes its rows.
    learnt : mapping, optional
        ``{"reference_value"}`` of an earlier run.
    reference_row : int
        Row (0-based) of the reference sample holding the reference entity (the pipeline
        resolves an entity and period to this index).
    cap : bool, default False
        Cap the score at 1.

    Returns
    -------
    Normalised
        Scores [ratio; 1 = as good as the reference]; ``learnt`` =
        ``{"reference_value"}``; ``flags["no_reference"]`` marks indicators where the
        reference row is missing (their scores are NaN).

    Notes
    -----
    :math:`y = x / x_{ref}` for direction +1 and :math:`x_{ref} / x` for −1. COINr's
    ``n_dist2ref`` is min-anchored instead: :math:`1 - (x_{ref} - x)/(x_{ref} - \\min x)`.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Distance to a
       reference"). doi:10.1787/9789264043466-en

    Examples
    --------
    >>> X = np.array([[2.0], [4.0], [8.0]])
    >>> distance_to_reference(X, direction=[1], reference_row=1).values.ravel().tolist()
    [0.5, 1.0, 2.0]
    """
    reject_unknown(params, "normalise", "distance_to_reference", ["reference_row", "cap"])
    cap = check_bool(cap, "cap", "normalise", "distance_to_reference")
    X = as_matrix(X, "normalise", "distance_to_reference")
    row = None
    if learnt is None:
        if reference_row is None:
            raise SpecError(
                "normalise method 'distance_to_reference' needs the 'reference_row' parameter: "
                "the 0-based row of the reference entity in the reference sample"
            )
        row = check_int(
            reference_row, "reference_row", "normalise", "distance_to_reference", minimum=0
        )

    def learn(R: FloatArray) -> _Stats:
        assert row is not None
        if row >= R.shape[0]:
            raise param_error(
                "normalise",
                "distance_to_reference",
                "reference_row",
                f"a row of the reference sample, 0 … {R.shape[0] - 1}",
                row,
            )
        return {"reference_value": R[row].copy()}

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        base = s["reference_value"]
        missing = np.isnan(base)
        _check_ratio_domain(X, d, "distance_to_reference")
        _check_ratio_domain(
            np.where(missing, 1.0, base)[None, :],
            -np.ones_like(d),
            "distance_to_reference",
            "reference value",
        )
        y = _ratio(X, d, base)
        y = np.minimum(y, 1.0) if cap else y
        return y, {"constant": np.zeros(X.shape[1], dtype=bool), "no_reference": missing}

    return _run(
        "distance_to_reference", X, direction, reference, learnt, ("reference_value",), learn, apply
    )


def _leader(
    method: str,
    X: FloatArray,
    direction: Any,
    reference: Any,
    learnt: Mapping[str, Any] | None,
    scale: float,
) -> Normalised:
    def learn(R: FloatArray) -> _Stats:
        _check_ratio_domain(
            R, _direction(direction, R.shape[1], method), method, "reference values"
        )
        return {"min": _col_min(R), "max": _col_max(R)}

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        _check_ratio_domain(X, d, method)
        leader = np.where(d > 0, s["max"], s["min"])
        degenerate = ~(leader > 0) & ~np.isnan(leader)  # every reference value is 0
        y = scale * _ratio(X, d, np.where(degenerate, 1.0, leader))
        return np.where(degenerate, scale, y), {"constant": degenerate}

    return _run(method, X, direction, reference, learnt, ("min", "max"), learn, apply)


@normalisers.register(
    "distance_to_leader",
    statistic=Moments(keys=("min", "max")),
    columnwise=True,
    reference=HANDBOOK,
    output_range=(0.0, 1.0),
    learns=True,
    range_of=_fixed(0.0, 1.0),
    requires_positive=True,
    parameters=(),
)
def distance_to_leader(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    **params: Any,
) -> Normalised:
    """Distance to the leader: each value as a fraction of the best reference value.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; >= 0, and > 0 where direction is −1.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; the leader is the maximum for +1 and the minimum for −1.
    reference : FloatArray, optional
        Rows in which to find the leader (default ``X``).
    learnt : mapping, optional
        ``{"min", "max"}`` of an earlier run.

    Returns
    -------
    Normalised
        Scores [fraction of the leader, 0–1 on the reference; the leader scores 1];
        ``flags["constant"]`` marks indicators whose reference values are all 0 (score 1).

    Notes
    -----
    :math:`y = x / \\max x` for direction +1 and :math:`y = \\min x / x` for −1: the leader
    scores 1 and an entity twice as bad as the leader scores 0.5 in both directions. New
    values better than the reference leader score above 1.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Distance to a
       reference": the reference can be the leading country). doi:10.1787/9789264043466-en

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 8.0]])
    >>> distance_to_leader(X, direction=[1, -1]).values.tolist()
    [[0.25, 1.0], [0.5, 0.5], [1.0, 0.25]]
    """
    reject_unknown(params, "normalise", "distance_to_leader", [])
    X = as_matrix(X, "normalise", "distance_to_leader")
    return _leader("distance_to_leader", X, direction, reference, learnt, 1.0)


@normalisers.register(
    "fraction_of_max",
    statistic=Moments(keys=("min", "max")),
    columnwise=True,
    reference=COINR,
    output_range=(0.0, 100.0),
    learns=True,
    range_of=_fixed(0.0, 100.0),
    requires_positive=True,
    parameters=(),
)
def fraction_of_max(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    **params: Any,
) -> Normalised:
    """Fraction of the maximum, in percent: :func:`distance_to_leader` times 100.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; >= 0, and > 0 where direction is −1.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; for −1 the score is :math:`100 \\min x / x`.
    reference : FloatArray, optional
        Rows in which to find the maximum (default ``X``).
    learnt : mapping, optional
        ``{"min", "max"}`` of an earlier run.

    Returns
    -------
    Normalised
        Scores [% of the best value, 0–100 on the reference].

    Notes
    -----
    :math:`y = 100\\,x / \\max x` (COINr's ``n_fracmax`` times 100). COINr reverses polarity
    by negating :math:`x`, which breaks a ratio; here direction −1 gives
    :math:`100 \\min x / x`.

    References
    ----------
    .. [1] Becker et al. (2022), COINr, ``n_fracmax``. doi:10.21105/joss.04567

    Examples
    --------
    >>> fraction_of_max(np.array([[1.0], [4.0]]), direction=[1]).values.ravel().tolist()
    [25.0, 100.0]
    """
    reject_unknown(params, "normalise", "fraction_of_max", [])
    X = as_matrix(X, "normalise", "fraction_of_max")
    return _leader("fraction_of_max", X, direction, reference, learnt, 100.0)


@normalisers.register(
    "ratio_to_mean",
    statistic=Moments(keys=("mean",)),
    columnwise=True,
    reference=HANDBOOK,
    learns=True,
    requires_positive=True,
    parameters=(),
)
def ratio_to_mean(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    **params: Any,
) -> Normalised:
    """Ratio to the mean, in percent (100 = as good as the average).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; >= 0, and > 0 where direction is −1.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; for −1 the score is :math:`100\\,\\bar x / x`.
    reference : FloatArray, optional
        Rows to take the mean of (default ``X``).
    learnt : mapping, optional
        ``{"mean"}`` of an earlier run.

    Returns
    -------
    Normalised
        Scores [% of the mean]; ``flags["constant"]`` marks indicators whose reference mean
        is 0 (score 100).

    Notes
    -----
    :math:`y = 100\\,x / \\bar x` for +1 and :math:`100\\,\\bar x / x` for −1 (Handbook,
    Step 5, "distance to a reference": the reference is the average).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30.
       doi:10.1787/9789264043466-en

    Examples
    --------
    >>> ratio_to_mean(np.array([[1.0], [3.0]]), direction=[1]).values.ravel().tolist()
    [50.0, 150.0]
    """
    reject_unknown(params, "normalise", "ratio_to_mean", [])
    X = as_matrix(X, "normalise", "ratio_to_mean")

    def learn(R: FloatArray) -> _Stats:
        _check_ratio_domain(R, np.ones(R.shape[1]), "ratio_to_mean", "reference values")
        return {"mean": _col_mean(R)}

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        _check_ratio_domain(X, d, "ratio_to_mean")
        zero = s["mean"] == 0
        y = 100.0 * _ratio(X, d, np.where(zero, 1.0, s["mean"]))
        return np.where(zero, 100.0, y), {"constant": zero}

    return _run("ratio_to_mean", X, direction, reference, learnt, ("mean",), learn, apply)


# --------------------------------------------------------------------------------------
# Categorical scales
# --------------------------------------------------------------------------------------


def _thresholds(value: Any, n_cols: int) -> FloatArray:
    """Thresholds as shape (n_thresholds, n_cols), NaN-padded; strictly increasing per column."""
    expected = (
        "a non-empty list of increasing numbers, or a list of such lists (one per indicator, "
        f"{n_cols} in all)"
    )
    if not isinstance(value, (list, tuple)) or not value:
        raise param_error("normalise", "banding", "thresholds", expected, value)
    if all(isinstance(v, (list, tuple)) for v in value):
        if len(value) != n_cols or any(len(v) == 0 for v in value):
            raise param_error("normalise", "banding", "thresholds", expected, value)
        columns = list(value)
    else:
        columns = [value] * n_cols
    width = max(len(c) for c in columns)
    out = np.full((width, n_cols), np.nan)
    for j, col in enumerate(columns):  # a handful of indicators, not rows
        try:
            arr = np.asarray(col, dtype=np.float64)
        except (TypeError, ValueError):
            raise param_error("normalise", "banding", "thresholds", expected, value) from None
        if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
            raise param_error("normalise", "banding", "thresholds", expected, value)
        out[: arr.size, j] = arr
    return out


@normalisers.register(
    "banding",
    columnwise=True,
    reference=HANDBOOK,
    output_range=(1.0, 5.0),
    range_of=_range_banding,
    requires_positive=False,
    parameters=("thresholds",),
)
def banding(
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, FloatArray] | None = None,
    thresholds: Any = None,
    **params: Any,
) -> Normalised:
    """Categorical scale: the band (1 … k) each value falls in, 1 = worst.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity; with −1 the highest band of values scores 1.
    reference : FloatArray, optional
        Ignored (the thresholds are fixed).
    learnt : mapping, optional
        ``{"thresholds"}`` of an earlier run, shape (k − 1, n_indicators), NaN-padded.
    thresholds : list of float, or list of lists
        The k − 1 increasing cut points [indicator units] shared by all indicators, or one
        list per indicator (which may differ in length).

    Returns
    -------
    Normalised
        Bands [category 1 … k]; higher is better.

    Notes
    -----
    With cut points :math:`t_1 < \\dots < t_{k-1}`, a value in :math:`[t_{b-1}, t_b)` falls
    in band :math:`b` (a value equal to a cut point goes to the upper band); direction −1
    maps band :math:`b` to :math:`k + 1 - b`. The Global Peace Index scores qualitative
    indicators on such 1–5 bands. Banding discards the differences within a band
    (Handbook, Part I, Step 5, "Categorical scales").

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5, p. 30 ("Categorical scales").
       doi:10.1787/9789264043466-en
    .. [2] Institute for Economics and Peace (2023). Global Peace Index 2023, Annex
       (indicator bands 1–5).

    Examples
    --------
    >>> X = np.array([[0.5], [1.0], [2.5], [9.0]])
    >>> banding(X, direction=[1], thresholds=[1, 2, 3]).values.ravel().tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    reject_unknown(params, "normalise", "banding", ["thresholds"])
    X = as_matrix(X, "normalise", "banding")
    given: _Stats = {}
    if learnt is None:
        if thresholds is None:
            raise SpecError(
                "normalise method 'banding' needs the 'thresholds' parameter: a list of "
                "increasing cut points [indicator units]"
            )
        given["thresholds"] = _thresholds(thresholds, X.shape[1])

    def apply(X: FloatArray, d: FloatArray, s: _Stats) -> tuple[FloatArray, _Flags]:
        t = s["thresholds"]
        k = (~np.isnan(t)).sum(axis=0) + 1.0
        above = (X[:, None, :] >= t[None, :, :]).sum(axis=1)  # NaN thresholds never count
        return np.where(d > 0, 1.0 + above, k - above), _no_flags(X.shape[1])

    return _run("banding", X, direction, None, learnt, ("thresholds",), lambda R: given, apply)


# --------------------------------------------------------------------------------------
# Reference modes over periods
# --------------------------------------------------------------------------------------


def _stack(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-period dicts of arrays on a new first axis, NaN/False-padding ragged ones."""
    out: dict[str, np.ndarray] = {}
    for key in parts[0] if parts else ():
        arrays = [np.asarray(p[key]) for p in parts]
        if len({a.shape for a in arrays}) > 1:  # e.g. sorted references of different lengths
            length = max(a.shape[0] for a in arrays)
            fill: Any = False if arrays[0].dtype == bool else np.nan
            arrays = [
                np.concatenate(
                    [a, np.full((length - a.shape[0], *a.shape[1:]), fill, dtype=a.dtype)]
                )
                for a in arrays
            ]
        out[key] = np.stack(arrays)
    return out


def run_normaliser(
    method: str | Method[Any],
    X: FloatArray,
    /,
    *,
    direction: Any,
    reference: FloatArray | None = None,
    learnt: Mapping[str, Any] | None = None,
    **params: Any,
) -> Normalised:
    """Run a normaliser of either registered form; every engine calls it.

    A normaliser is either one function that learns and applies (the built-in form,
    ``f(X, /, *, direction, reference=None, learnt=None, **params) -> Normalised``) or a
    learn/apply pair registered with ``learn=`` (``learn(reference, /, **params) ->
    dict`` of per-column statistics, ``apply(x, /, *, learnt, direction, **params) ->
    array``). A method that does not learn may return a plain array.

    Parameters
    ----------
    method : str or Method
        A registered normaliser (name or registry record).
    X : FloatArray, shape (n_rows, n_indicators)
        The values to normalise [indicator units].
    direction : array_like of ±1, shape (n_indicators,)
        Polarity of each indicator.
    reference : FloatArray, optional
        The sample to learn from (default: ``X``).
    learnt : mapping, optional
        Statistics learnt before (then nothing is learnt).
    **params
        The method's parameters.

    Returns
    -------
    Normalised

    Raises
    ------
    SpecError
        The method returned something else than a ``Normalised`` or a float array of the
        input's shape.
    """
    entry = normalisers.get(method) if isinstance(method, str) else method
    if entry.learn is not None:
        if learnt is None:
            sample = X if reference is None else reference
            learnt = {k: np.asarray(v) for k, v in dict(entry.learn(sample, **params)).items()}
        values = entry.func(X, learnt=learnt, direction=direction, **params)
        return _as_normalised(entry, values, X, learnt)
    kwargs: dict[str, Any] = {}
    if reference is not None and entry.accepts("reference"):
        kwargs["reference"] = reference
    if learnt is not None and entry.accepts("learnt"):
        kwargs["learnt"] = learnt
    result = entry.func(X, direction=direction, **kwargs, **params)
    return _as_normalised(entry, result, X, {})


def _as_normalised(
    entry: Method[Any], result: Any, X: FloatArray, learnt: Mapping[str, Any]
) -> Normalised:
    """A normaliser's return value as a :class:`Normalised`, checked."""
    if isinstance(result, Normalised):
        return result
    shape = np.shape(X)
    if isinstance(result, np.ndarray) and result.shape == shape:
        try:
            values = np.asarray(result, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is not None:
            return Normalised(values=values, learnt=dict(learnt))
    got = (
        f"an array of shape {result.shape} and dtype {result.dtype}"
        if isinstance(result, np.ndarray)
        else f"a {type(result).__name__}"
    )
    raise SpecError(
        f"normalise method '{entry.name}' returned {got}; it must return a Normalised or a "
        f"float array of the input's shape {shape}"
    )


def normalise_by_period(
    method: str | Method[Any],
    X: FloatArray,
    period_codes: IntArray,
    direction: Any,
    mode: str = "pooled",
    base_period: int | None = None,
    **params: Any,
) -> Normalised:
    """Normalise with the reference sample chosen by ``mode``; the pipeline's entry point.

    Parameters
    ----------
    method : str or Method
        A registered normaliser (name or registry record).
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; rows of all periods.
    period_codes : IntArray, shape (n_rows,)
        Period code of each row.
    direction : array_like of ±1, shape (n_indicators,)
        Polarity of each indicator.
    mode : {"pooled", "per_period", "base"}, default "pooled"
        ``pooled``: learn once from all rows, so scores are comparable across periods.
        ``per_period``: learn within each period and apply to that period only (scores
        compare entities within a period; a change over time may only reflect others'
        changes). ``base``: learn from the rows of ``base_period`` and apply to every
        period (scores track change against the base year).
    base_period : int, optional
        Period code of the base period (required for ``mode="base"``).
    **params
        The method's parameters. For ``distance_to_reference``, ``reference_row`` indexes
        the reference sample: all rows (pooled), the base period's rows (base) or, in
        ``per_period`` mode, the rows of each period in turn.

    Returns
    -------
    Normalised
        Scores for every row. For ``per_period``, each learnt statistic and flag gains a
        leading period axis (NaN-padded when lengths differ) and ``learnt["period"]`` lists
        the period codes in that order.

    Raises
    ------
    SpecError
        If the mode is unknown or the base period is missing from the data.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5 (normalisation and comparisons over
       time). doi:10.1787/9789264043466-en

    Examples
    --------
    >>> X = np.array([[0.0], [10.0], [5.0], [20.0]])
    >>> periods = np.array([0, 0, 1, 1])
    >>> r = normalise_by_period("minmax", X, periods, [1], mode="base", base_period=0)
    >>> r.values.ravel().tolist()
    [0.0, 100.0, 50.0, 200.0]
    """
    entry = normalisers.get(method) if isinstance(method, str) else method
    method = entry.name
    mode = check_choice(mode, MODES, "reference", "normalise", method)
    X = as_matrix(X, "normalise", method)
    codes = np.asarray(period_codes)
    if codes.shape != (X.shape[0],):
        raise DataError(
            f"normalise_by_period: period_codes must have one code per row, shape "
            f"({X.shape[0]},); got shape {codes.shape}"
        )
    if mode == "pooled":
        return run_normaliser(entry, X, direction=direction, **params)
    if mode == "base":
        rows = codes == base_period
        if base_period is None or not rows.any():
            raise SpecError(
                f"normalise method '{method}' with reference 'base' needs a base_period present "
                f"in the data, one of {np.unique(codes).tolist()}; got {base_period!r}"
            )
        return run_normaliser(entry, X, direction=direction, reference=X[rows], **params)
    periods = np.unique(codes)
    values = np.full(X.shape, np.nan)
    learnt_parts: list[_Stats] = []
    flag_parts: list[_Flags] = []
    for p in periods:  # a loop over periods; each call is vectorised over rows and columns
        rows = codes == p
        part = run_normaliser(entry, X[rows], direction=direction, **params)
        values[rows] = part.values
        learnt_parts.append(part.learnt)
        flag_parts.append(part.flags)
    learnt = _stack(learnt_parts)
    learnt["period"] = periods.astype(np.float64)
    return Normalised(values=values, learnt=learnt, flags=_stack(flag_parts))
