"""Outlier treatment: winsorisation by the skewness–kurtosis rule, log and Box-Cox transforms.

Every treater has the signature::

    f(X, /, *, skew_max=2.0, kurt_max=3.5, **params) -> Treated

* ``X`` has shape ``(n_rows, n_indicators)``; ``NaN`` marks a missing value and is ignored
  by every statistic. ``X`` is never modified.
* An indicator *fails* the JRC outlier rule when its absolute skewness is at least
  ``skew_max`` **and** its excess kurtosis is at least ``kurt_max``; it passes when
  ``|skew| < skew_max`` or ``kurtosis < kurt_max``. Both statistics are the bias-corrected
  sample estimators (see :func:`skewness` and :func:`kurtosis`). An indicator with fewer
  than four observed values, or no spread, has undefined moments and always passes.
* The result (:class:`~securindex.methods._types.Treated`) holds the treated values, the
  mask of winsorised cells, the transform applied to each transformed column, and one
  report record per column (statistics before and after, number of winsorised points,
  transform and its parameters), so that every treated point can be reported.

Statistics are computed for all columns at once; the winsorisation loop runs at most
``winmax`` times, each pass treating every still-failing column together.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, Step 5 (normalisation, where skewed indicators and extreme values
   are discussed). OECD Publishing.
   doi:10.1787/9789264043466-en
.. [2] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. and Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open Source
   Software*, 7(78), 4567. doi:10.21105/joss.04567 (``Treat``, ``winsorise``, ``log_CT``)
.. [3] Joanes, D. N. and Gill, C. A. (1998). Comparing measures of sample skewness and
   kurtosis. *Journal of the Royal Statistical Society D*, 47(1), 183–189.
   doi:10.1111/1467-9884.00122
.. [4] Box, G. E. P. and Cox, D. R. (1964). An analysis of transformations. *Journal of the
   Royal Statistical Society B*, 26(2), 211–252. doi:10.1111/j.2517-6161.1964.tb00553.x
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.methods._registry import Method, Protocol, Registry
from securindex.methods._statistics import (
    ColumnSummary,
    Moments,
    column_moments,
    moment_shape,
    summarise,
)
from securindex.methods._types import (
    BoolArray,
    FloatArray,
    Treated,
    as_matrix,
    check_bool,
    check_choice,
    check_float,
    check_int,
    reject_unknown,
)

__all__ = [
    "FALLBACKS",
    "TRANSFORMS",
    "ColumnTreatment",
    "Treater",
    "apply_treatment",
    "boxcox",
    "fails_rule",
    "kurtosis",
    "log",
    "none",
    "register_treater",
    "run_treater",
    "skewness",
    "transform",
    "treat_by_period",
    "treaters",
    "winsorise",
]

Treater = Callable[..., Treated]

treaters: Registry[Treater] = Registry(
    "treat",
    Protocol(
        fields=frozenset(
            {
                "learns",
                "learn",
                "columnwise",
                "treats_only_failing",
                "statistic",
                "learn_from",
                "apply",
            }
        )
    ),
)
"""The outlier-treatment registry: method name → treater function."""

register_treater = treaters.register
"""Decorator adding a user treater (same signature as the built-ins, returns Treated)."""

HANDBOOK = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, Part I Step 5. "
    "doi:10.1787/9789264043466-en"
)
COINR = (
    "Becker et al. (2022). COINr: An R package for developing composite indicators. JOSS "
    "7(78), 4567. doi:10.21105/joss.04567"
)
BOXCOX = (
    "Box, G. E. P. and Cox, D. R. (1964). An analysis of transformations. JRSS B 26(2), "
    "211-252. doi:10.1111/j.2517-6161.1964.tb00553.x"
)

TRANSFORMS = ("ln", "log_CT", "log_CT_plus", "log_CT_orig", "boxcox")
"""Whole-column transforms, by name (see :func:`transform`)."""

FALLBACKS = ("log_CT", "log_CT_plus", "log_CT_orig", "boxcox", "none")
"""Transforms that :func:`winsorise` may fall back to (``none`` keeps the winsorised data)."""

# Relative size under which a second moment counts as zero (a constant column whose mean
# was rounded); the same guard as scipy.stats.skew.
_RESOLUTION = float(np.finfo(np.float64).resolution)

_RULE_PARAMS = ("skew_max", "kurt_max")


# --------------------------------------------------------------------------------------
# Moments and the outlier rule
# --------------------------------------------------------------------------------------


def _moments(X: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Count, and the 2nd, 3rd and 4th central moments (divisor n) of each column."""
    observed = ~np.isnan(X)
    n = observed.sum(axis=0).astype(np.float64)
    safe_n = np.where(n > 0, n, 1.0)
    mean = np.where(observed, X, 0.0).sum(axis=0) / safe_n
    d = np.where(observed, X - mean, 0.0)
    d2 = d * d
    m2 = d2.sum(axis=0) / safe_n
    m3 = (d2 * d).sum(axis=0) / safe_n
    m4 = (d2 * d2).sum(axis=0) / safe_n
    # a constant column whose mean was rounded has a tiny, meaningless m2: treat it as 0
    m2 = np.where(m2 <= (_RESOLUTION * np.abs(mean)) ** 2, 0.0, m2)
    return n, m2, m3, m4


def skewness(X: FloatArray) -> FloatArray:
    """Bias-corrected sample skewness of each column, ignoring NaN.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Values [any unit]; NaN is ignored.

    Returns
    -------
    FloatArray, shape (n_indicators,)
        :math:`G_1` [unitless]; NaN for a column with fewer than 3 observed values or no
        spread.

    Notes
    -----
    With :math:`m_k = \\frac1n\\sum (x_i-\\bar x)^k`, :math:`g_1 = m_3 / m_2^{3/2}` and
    :math:`G_1 = g_1 \\sqrt{n(n-1)}/(n-2)`: the estimator of Excel's ``SKEW``, SAS, SPSS,
    ``e1071::skewness(type = 2)``, COINr's ``skew`` and ``scipy.stats.skew(bias=False)``
    (Joanes and Gill 1998, doi:10.1111/1467-9884.00122).

    Examples
    --------
    >>> round(float(skewness(np.array([[1.0], [2.0], [3.0], [10.0]]))[0]), 6)
    1.763633
    """
    X = np.asarray(X, dtype=np.float64)
    n, m2, m3, _ = _moments(X)
    with np.errstate(invalid="ignore", divide="ignore"):
        g1 = m3 / m2**1.5
        G1 = g1 * np.sqrt(n * (n - 1.0)) / (n - 2.0)
    return np.where((n >= 3) & (m2 > 0), G1, np.nan)


def kurtosis(X: FloatArray) -> FloatArray:
    """Bias-corrected sample excess kurtosis of each column, ignoring NaN.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Values [any unit]; NaN is ignored.

    Returns
    -------
    FloatArray, shape (n_indicators,)
        :math:`G_2` [unitless], 0 for a normal distribution; NaN for a column with fewer
        than 4 observed values or no spread.

    Notes
    -----
    With :math:`g_2 = m_4/m_2^2 - 3`,
    :math:`G_2 = \\frac{n-1}{(n-2)(n-3)}\\left[(n+1) g_2 + 6\\right]`: Excel's ``KURT``,
    ``e1071::kurtosis(type = 2)``, COINr's ``kurt`` and
    ``scipy.stats.kurtosis(bias=False)`` (Joanes and Gill 1998).

    Examples
    --------
    >>> round(float(kurtosis(np.array([[1.0], [2.0], [3.0], [10.0]]))[0]), 6)
    3.228
    """
    X = np.asarray(X, dtype=np.float64)
    n, m2, _, m4 = _moments(X)
    with np.errstate(invalid="ignore", divide="ignore"):
        g2 = m4 / m2**2 - 3.0
        G2 = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * g2 + 6.0)
    return np.where((n >= 4) & (m2 > 0), G2, np.nan)


def _shape_of(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`skewness` and :func:`kurtosis` of every column from one set of moments."""
    n, m2, m3, m4 = _moments(np.asarray(X, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        g1 = m3 / m2**1.5
        G1 = g1 * np.sqrt(n * (n - 1.0)) / (n - 2.0)
        g2 = m4 / m2**2 - 3.0
        G2 = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * g2 + 6.0)
    skew = np.where((n >= 3) & (m2 > 0), G1, np.nan)
    return skew, np.where((n >= 4) & (m2 > 0), G2, np.nan)


def fails_rule(skew: FloatArray, kurt: FloatArray, skew_max: float, kurt_max: float) -> BoolArray:
    """True where a column fails the JRC rule: ``|skew| >= skew_max`` and ``kurt >= kurt_max``.

    Undefined statistics (NaN) pass, as in COINr, which leaves such indicators untreated.
    """
    with np.errstate(invalid="ignore"):
        out: BoolArray = (np.abs(skew) >= skew_max) & (kurt >= kurt_max)
    return out


def _rule(params: dict[str, Any], method: str) -> tuple[float, float]:
    skew_max = check_float(params.pop("skew_max", 2.0), "skew_max", "treat", method, minimum=0)
    kurt_max = check_float(params.pop("kurt_max", 3.5), "kurt_max", "treat", method)
    return skew_max, kurt_max


# --------------------------------------------------------------------------------------
# Whole-column transforms
# --------------------------------------------------------------------------------------


def _col_min_max(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    observed = ~np.isnan(X)
    lo = np.where(observed, X, np.inf).min(axis=0, initial=np.inf)
    hi = np.where(observed, X, -np.inf).max(axis=0, initial=-np.inf)
    return lo, hi


def transform(
    X: FloatArray,
    name: str,
    *,
    lmbda: float | None = None,
    makepos: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray, list[str]]:
    """Apply the whole-column transform ``name`` to every column of ``X``.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Values [indicator units]; NaN stays NaN.
    name : str
        One of :data:`TRANSFORMS`:

        ``ln``
            :math:`\\ln x`; every observed value must be > 0.
        ``log_CT``
            COINr's default fallback, the modified "COIN Tool" log
            :math:`\\ln(x - \\min x + a)` with :math:`a = 0.01(\\max x - \\min x)`.
            It ignores the direction of skew, so it can make a negatively skewed column
            worse (use ``log_CT_plus`` for those).
        ``log_CT_plus``
            COINr's skew-aware variant: ``log_CT`` when the skewness is > 0, else
            :math:`-\\ln(\\max x + a - x)`, which reduces a negative skew.
        ``log_CT_orig``
            The original COIN Tool log :math:`\\ln(x - \\min x + 1)` (not unit-free).
        ``boxcox``
            :math:`(y^\\lambda - 1)/\\lambda` (:math:`\\ln y` for :math:`\\lambda = 0`) with
            :math:`y = x - \\min x + 1` when ``makepos`` (COINr's shift), else
            :math:`y = x` (must be > 0). :math:`\\lambda` maximises the Box-Cox
            log-likelihood of each column (``scipy.stats.boxcox``) unless ``lmbda`` is given.
    lmbda : float, optional
        Fixed Box-Cox exponent [unitless].
    makepos : bool, default True
        Shift Box-Cox input to start at 1.

    Returns
    -------
    values : FloatArray, shape (n_rows, n_indicators)
        Transformed values [transformed units].
    shift : FloatArray, shape (n_indicators,)
        The constant added to ``x`` before the log (``log_CT``, ``log_CT_orig``, Box-Cox
        ``makepos``), or :math:`\\max x + a` for a negatively skewed ``log_CT_plus`` column;
        0 for ``ln``.
    lmbda : FloatArray, shape (n_indicators,)
        The Box-Cox exponent of each column (NaN for the log transforms).
    names : list of str
        The transform applied to each column (``log_CT_neg`` for the negative branch of
        ``log_CT_plus``; ``none`` for a column left unchanged because it has no spread or
        fewer than two observed values).

    Raises
    ------
    DataError
        If ``ln`` (or Box-Cox without ``makepos``) meets a value <= 0.

    Examples
    --------
    >>> values, shift, _, names = transform(np.array([[0.0], [1.0], [100.0]]), "log_CT")
    >>> float(shift[0]), names
    (1.0, ['log_CT'])
    """
    X = np.asarray(X, dtype=np.float64)
    n_cols = X.shape[1]
    lo, hi = _col_min_max(X)
    observed = ~np.isnan(X)
    count = observed.sum(axis=0)
    spread = (count >= 2) & (hi > lo)
    out = X.copy()
    shift = np.zeros(n_cols)
    lambdas = np.full(n_cols, np.nan)
    names = [name if s else "none" for s in spread]
    a = 0.01 * np.where(spread, hi - lo, 0.0)
    if name == "ln":
        bad = np.flatnonzero((np.where(observed, X, 1.0) <= 0).any(axis=0) & spread)
        if bad.size:
            raise DataError(
                f"treat transform 'ln' needs values > 0, but column(s) {bad.tolist()} hold "
                "values <= 0; use transform 'log_CT' (shifted log) instead"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(spread, np.log(X), X)
    elif name in ("log_CT", "log_CT_orig"):
        shift = np.where(spread, -lo + (a if name == "log_CT" else 1.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(spread, np.log(X + shift), X)
    elif name == "log_CT_plus":
        positive = skewness(X) > 0
        shift = np.where(spread, np.where(positive, -lo + a, hi + a), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            transformed = np.where(positive, np.log(X + shift), -np.log(shift - X))
        out = np.where(spread, transformed, X)
        names = [
            ("log_CT" if p else "log_CT_neg") if s else "none"
            for p, s in zip(positive, spread, strict=True)
        ]
    elif name == "boxcox":
        out, shift, lambdas = _boxcox(X, spread, lo, lmbda=lmbda, makepos=makepos)
    else:  # pragma: no cover - guarded by check_choice in every caller
        raise ValueError(f"unknown transform {name!r}")
    return out, shift, lambdas, names


def _boxcox(
    X: FloatArray,
    spread: BoolArray,
    lo: FloatArray,
    *,
    lmbda: float | None,
    makepos: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Box-Cox of each column with spread; λ by maximum likelihood unless fixed."""
    from scipy import stats  # a heavy import, only needed here

    n_cols = X.shape[1]
    observed = ~np.isnan(X)
    shift = np.where(spread & makepos, 1.0 - lo, 0.0)
    Y = X + shift
    bad = np.flatnonzero((np.where(observed, Y, 1.0) <= 0).any(axis=0) & spread)
    if bad.size:
        raise DataError(
            f"treat transform 'boxcox' with makepos: false needs values > 0, but column(s) "
            f"{bad.tolist()} hold values <= 0; set makepos: true"
        )
    lambdas = np.full(n_cols, np.nan)
    if lmbda is not None:
        lambdas[spread] = lmbda
    else:
        # λ is a one-dimensional likelihood maximisation per column (not per row)
        for j in np.flatnonzero(spread):
            lambdas[j] = float(stats.boxcox_normmax(Y[observed[:, j], j], method="mle"))
    lam = np.where(np.isnan(lambdas), 1.0, lambdas)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_lam = np.where(lam == 0, 1.0, lam)
        power = (Y**safe_lam - 1.0) / safe_lam
        out = np.where(lam == 0, np.log(Y), power)
    return np.where(spread, out, X), shift, lambdas


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _report(
    before: FloatArray,
    after: FloatArray,
    skew_max: float,
    kurt_max: float,
    n_winsorised: Any,
    names: list[str],
    shift: FloatArray,
    lambdas: FloatArray,
    bounds: tuple[FloatArray, FloatArray] | None = None,
    shapes: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None,
) -> list[dict[str, Any]]:
    """One record per column: statistics before/after and what was done (``shapes``:
    skewness and kurtosis before and after when the caller already has them)."""
    if shapes is not None:
        sk0, ku0, sk1, ku1 = shapes
    else:
        sk0, ku0 = _shape_of(before)
        sk1, ku1 = (sk0, ku0) if after is before else _shape_of(after)
    pass0 = ~fails_rule(sk0, ku0, skew_max, kurt_max)
    pass1 = ~fails_rule(sk1, ku1, skew_max, kurt_max)
    n_cols = before.shape[1]
    lo, hi = bounds if bounds is not None else (np.full(n_cols, np.nan), np.full(n_cols, np.nan))
    return [
        {
            "column": j,
            "skew_before": float(sk0[j]),
            "kurt_before": float(ku0[j]),
            "pass_before": bool(pass0[j]),
            "n_winsorised": int(n_winsorised[j]),
            "winsorised_low": float(lo[j]),
            "winsorised_high": float(hi[j]),
            "transform": names[j],
            "shift": float(shift[j]),
            "lambda": float(lambdas[j]),
            "skew_after": float(sk1[j]),
            "kurt_after": float(ku1[j]),
            "pass_after": bool(pass1[j]),
        }
        for j in range(n_cols)
    ]


# --------------------------------------------------------------------------------------
# The blocked form: learning a treatment from merged column summaries
#
# An engine holding the data in blocks (Dask partitions) summarises each block
# (securindex.methods._statistics.Moments: moments plus the extreme distinct values),
# merges the summaries, lets the method learn the treatment of each column from the merged
# summary (``learn_from``) and applies it to every block (``apply``). The result equals
# the method's own run on the whole column (tests check it with hypothesis).
# --------------------------------------------------------------------------------------


@dataclass
class ColumnTreatment:
    """What a treat method learnt for a group of columns, to apply to any block of rows.

    Attributes
    ----------
    floor, cap : FloatArray, shape (n_columns,)
        Winsorisation bounds (-inf/+inf where a column is not winsorised) [unit of x].
    transform : list of str
        Per column, the transform applied (``none``, ``ln``, ``log_CT`` …).
    shift, lmbda : FloatArray, shape (n_columns,)
        The transform's shift and Box-Cox exponent (NaN when not applicable).
    report : list of dict
        One record per column, in the format of :attr:`Treated.report`.
    """

    floor: FloatArray
    cap: FloatArray
    transform: list[str]
    shift: FloatArray
    lmbda: FloatArray
    report: list[dict[str, Any]] = field(default_factory=list)


def _column_record(j: int, skew0: float, kurt0: float, fails0: bool) -> dict[str, Any]:
    return {
        "column": j,
        "skew_before": skew0,
        "kurt_before": kurt0,
        "pass_before": not fails0,
        "n_winsorised": 0,
        "winsorised_low": np.nan,
        "winsorised_high": np.nan,
        "transform": "none",
        "shift": np.nan,
        "lambda": np.nan,
        "skew_after": skew0,
        "kurt_after": kurt0,
        "pass_after": not fails0,
    }


_Decide = Callable[
    [ColumnTreatment, int, ColumnSummary, float, float, bool, dict[str, Any]], str | None
]


def _learn_columns(
    summary: ColumnSummary, params: Mapping[str, Any], decide: _Decide
) -> ColumnTreatment:
    """The treatment of every column of ``summary``; ``decide`` picks the method's action
    for one column and returns the transform to apply (or None)."""
    skew_max, kurt_max = _rule(dict(params), "treat")
    lmbda = params.get("lmbda")
    makepos = bool(params.get("makepos", True))
    k = len(summary.levels)
    plan = ColumnTreatment(
        floor=np.full(k, -np.inf),
        cap=np.full(k, np.inf),
        transform=["none"] * k,
        shift=np.full(k, np.nan),
        lmbda=np.full(k, np.nan),
    )
    for j in range(k):
        values, _ = summary.levels[j]
        lo = float(values[0]) if len(values) else np.nan
        hi = float(values[-1]) if len(values) else np.nan
        skew0, kurt0 = moment_shape(column_moments(summary, j))
        fails0 = bool(fails_rule(np.array(skew0), np.array(kurt0), skew_max, kurt_max))
        record = _column_record(j, skew0, kurt0, fails0)
        name = decide(plan, j, summary, skew_max, kurt_max, fails0, record)
        if name is not None:
            applied, shift, lam = _plan_transform(
                name, lo, hi, summary.count[j], skew0, lmbda, makepos, j
            )
            plan.transform[j] = applied
            plan.shift[j], plan.lmbda[j] = shift, lam
            record.update(transform=applied, shift=shift, **{"lambda": lam})
            if applied == "none":
                record.update(skew_after=skew0, kurt_after=kurt0, pass_after=not fails0)
        plan.report.append(record)
    return plan


def _winsorise_column(
    summary: ColumnSummary, j: int, skew_max: float, kurt_max: float, winmax: int
) -> tuple[float, float, int, float, float]:
    """Replay the JRC/COINr winsorisation loop of :func:`winsorise` on one column's extreme
    values: each pass moves all values tied at the failing tail to the next value."""
    values, counts = summary.levels[j]
    if not len(values):
        return -np.inf, np.inf, 0, np.nan, np.nan
    floor, cap = -np.inf, np.inf
    n_changed = 0
    while True:
        skew, kurt = moment_shape(column_moments(summary, j, floor, cap))
        failing = (
            bool(fails_rule(np.array(skew), np.array(kurt), skew_max, kurt_max))
            and n_changed < winmax
        )
        if not failing:
            return floor, cap, n_changed, skew, kurt
        current = np.unique(np.clip(values, floor, cap))
        if skew >= 0:
            cap = float(current[-2]) if len(current) > 1 else -np.inf
        else:
            floor = float(current[1]) if len(current) > 1 else np.inf
        n_changed = int(counts[(values > cap) | (values < floor)].sum())


def _plan_transform(
    name: str, lo: float, hi: float, count: float, skew: float, lmbda: Any, makepos: bool, j: int
) -> tuple[str, float, float]:
    """Transform, shift and λ of one column, as :func:`transform` decides them."""
    spread = count >= 2 and hi > lo
    if not spread:
        return "none", 0.0, np.nan
    a = 0.01 * (hi - lo)
    if name == "ln":
        if lo <= 0:
            raise DataError(
                f"treat transform 'ln' needs values > 0, but column(s) [{j}] hold values <= 0; "
                "use transform 'log_CT' (shifted log) instead"
            )
        return "ln", 0.0, np.nan
    if name == "log_CT":
        return "log_CT", -lo + a, np.nan
    if name == "log_CT_orig":
        return "log_CT_orig", -lo + 1.0, np.nan
    if name == "log_CT_plus":
        if skew > 0:
            return "log_CT", -lo + a, np.nan
        return "log_CT_neg", hi + a, np.nan
    if name == "boxcox":
        if lmbda is None:
            raise SpecError(
                "treat transform 'boxcox' learnt from summaries needs a fixed 'lmbda' (the "
                "maximum-likelihood λ needs the whole column in memory)"
            )
        shift = 1.0 - lo if makepos else 0.0
        if lo + shift <= 0:
            raise DataError(
                f"treat transform 'boxcox' with makepos: false needs values > 0, but column(s) "
                f"[{j}] hold values <= 0; set makepos: true"
            )
        return "boxcox", shift, float(lmbda)
    raise SpecError(f"unknown transform {name!r}")  # pragma: no cover - checked by the methods


def _fixed_lambda(params: Mapping[str, Any], method: str = "boxcox") -> Moments:
    """Box-Cox learns from summaries only with a fixed λ."""
    if params.get("lmbda") is None:
        raise SpecError(
            f"treat method '{method}' with a maximum-likelihood Box-Cox λ cannot learn from "
            "summaries of blocks (the likelihood needs the whole column in memory); give a "
            "fixed 'lmbda'"
        )
    return Moments()


def _winsorise_statistic(params: Mapping[str, Any]) -> Moments:
    """Winsorising ``winmax`` points needs the ``winmax + 1`` most extreme values."""
    if params.get("fallback", "log_CT") == "boxcox":
        _fixed_lambda(params, "winsorise")
    return Moments(depth=int(params.get("winmax", 5)) + 1)


def _learn_none(summary: ColumnSummary, /, **params: Any) -> ColumnTreatment:
    return _learn_columns(summary, params, lambda *args: None)


def _learn_log(summary: ColumnSummary, /, **params: Any) -> ColumnTreatment:
    only = bool(params.get("only_failing", False))
    name = str(params.get("transform", "ln"))
    return _learn_columns(
        summary,
        params,
        lambda plan, j, s, sm, km, fails0, record: name if fails0 or not only else None,
    )


def _learn_boxcox(summary: ColumnSummary, /, **params: Any) -> ColumnTreatment:
    only = bool(params.get("only_failing", False))
    return _learn_columns(
        summary,
        params,
        lambda plan, j, s, sm, km, fails0, record: "boxcox" if fails0 or not only else None,
    )


def _learn_winsorise(summary: ColumnSummary, /, **params: Any) -> ColumnTreatment:
    winmax = int(params.get("winmax", 5))
    fallback = str(params.get("fallback", "log_CT"))

    def decide(
        plan: ColumnTreatment,
        j: int,
        s: ColumnSummary,
        skew_max: float,
        kurt_max: float,
        fails0: bool,
        record: dict[str, Any],
    ) -> str | None:
        floor, cap, _, skew, kurt = _winsorise_column(s, j, skew_max, kurt_max, winmax)
        fails = bool(fails_rule(np.array(skew), np.array(kurt), skew_max, kurt_max))
        if fallback != "none" and fails:
            return fallback
        values, counts = s.levels[j]
        plan.floor[j], plan.cap[j] = floor, cap
        raised, lowered = values < floor, values > cap
        record.update(
            n_winsorised=int(counts[raised].sum() + counts[lowered].sum()),
            winsorised_low=floor if raised.any() else np.nan,
            winsorised_high=cap if lowered.any() else np.nan,
            skew_after=skew,
            kurt_after=kurt,
            pass_after=not fails,
        )
        return None

    return _learn_columns(summary, params, decide)


def _transform_column(x: FloatArray, name: str, shift: float, lam: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _COLUMN_TRANSFORMS[name](x, shift, lam)


def _boxcox_column(x: FloatArray, shift: float, lam: float) -> FloatArray:
    y = x + shift
    return np.log(y) if lam == 0 else (y**lam - 1.0) / lam


_COLUMN_TRANSFORMS: dict[str, Callable[[FloatArray, float, float], FloatArray]] = {
    "ln": lambda x, shift, lam: np.log(x),
    "log_CT": lambda x, shift, lam: np.log(x + shift),
    "log_CT_orig": lambda x, shift, lam: np.log(x + shift),
    "log_CT_neg": lambda x, shift, lam: -np.log(shift - x),
    "boxcox": _boxcox_column,
}
"""A learnt whole-column transform applied to a block, by the name :func:`transform`
reports (the column's statistics are in the learnt shift and λ)."""


def apply_treatment(x: FloatArray, /, *, learnt: ColumnTreatment, **params: Any) -> FloatArray:
    """Apply a learnt :class:`ColumnTreatment` to a block of rows (its columns in order).

    Parameters
    ----------
    x : FloatArray, shape (n_rows, n_columns)
        Values [unit of the indicator].
    learnt : ColumnTreatment
        What the method learnt from the whole columns.

    Returns
    -------
    FloatArray
        Winsorised or transformed values; NaN stays NaN.
    """
    out = np.array(x, dtype=np.float64, copy=True)
    for j, name in enumerate(learnt.transform):
        column = x[:, j]
        if name == "none":
            floor, cap = learnt.floor[j], learnt.cap[j]
            if np.isfinite(floor) or np.isfinite(cap):
                out[:, j] = np.where(np.isnan(column), column, np.clip(column, floor, cap))
            continue
        out[:, j] = _transform_column(column, name, learnt.shift[j], learnt.lmbda[j])
    return out


def run_treater(method: str | Method[Any], X: FloatArray, /, **params: Any) -> Treated:
    """Run a treat method of any registered form on a block of whole columns.

    A treat method is one function returning a :class:`Treated` (the built-in form), a
    function returning a plain array (a transform of whole columns), or a learn/apply pair
    registered with ``learn=`` (``learn(reference, /, **params) -> learnt``, ``apply(x, /,
    *, learnt, **params) -> array``). Every engine calls it; a plain array counts as a
    transform of every column it was given, named after the method.

    Raises
    ------
    SpecError
        The method returned something else than a ``Treated`` or a float array of the
        input's shape.
    """
    entry = treaters.get(method) if isinstance(method, str) else method
    if entry.learn is not None:
        result = entry.func(X, learnt=entry.learn(X, **params), **params)
    else:
        result = entry.func(X, **params)
    if isinstance(result, Treated):
        return result
    shape = np.shape(X)
    if isinstance(result, np.ndarray) and result.shape == shape:
        values = np.asarray(result, dtype=np.float64)
        return Treated(
            values=values,
            winsorised=np.zeros(shape, dtype=bool),
            transformed=dict.fromkeys(range(shape[1]), entry.name),
        )
    got = (
        f"an array of shape {result.shape}"
        if isinstance(result, np.ndarray)
        else f"a {type(result).__name__}"
    )
    raise SpecError(
        f"treat method '{entry.name}' returned {got}; it must return a Treated or a float "
        f"array of the input's shape {shape}"
    )


def _only_failing(params: Mapping[str, Any]) -> bool:
    """``log`` and ``boxcox`` leave passing columns alone with ``only_failing: true``."""
    return params.get("only_failing") is True


# --------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------


@treaters.register(
    "none",
    columnwise=True,
    learns=True,
    treats_only_failing=True,
    statistic=Moments(),
    learn_from=_learn_none,
    apply=apply_treatment,
    reference=HANDBOOK,
    parameters=_RULE_PARAMS,
)
def none(
    X: FloatArray, /, *, skew_max: float = 2.0, kurt_max: float = 3.5, **params: Any
) -> Treated:
    """No treatment; the report still gives each column's skewness and kurtosis.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    skew_max, kurt_max : float
        Thresholds of the outlier rule, used for ``pass_before``/``pass_after`` in the
        report only.

    Returns
    -------
    Treated
        A copy of ``X``, nothing winsorised or transformed.

    Examples
    --------
    >>> none(np.array([[1.0], [2.0], [3.0], [50.0]])).report[0]["transform"]
    'none'
    """
    params.update(skew_max=skew_max, kurt_max=kurt_max)
    skew_max, kurt_max = _rule(params, "none")
    reject_unknown(params, "treat", "none", _RULE_PARAMS)
    X = as_matrix(X, "treat", "none")
    n_cols = X.shape[1]
    nan = np.full(n_cols, np.nan)
    report = _report(X, X, skew_max, kurt_max, np.zeros(n_cols), ["none"] * n_cols, nan, nan)
    return Treated(values=X.copy(), winsorised=np.zeros(X.shape, dtype=bool), report=report)


def _transform_method(
    X: Any, params: dict[str, Any], method: str, name: str, lmbda: float | None, makepos: bool
) -> Treated:
    """Shared body of ``log`` and ``boxcox``: transform all (or only failing) columns."""
    skew_max, kurt_max = _rule(params, method)
    only_failing = check_bool(params.pop("only_failing", False), "only_failing", "treat", method)
    X = as_matrix(X, "treat", method)
    n_cols = X.shape[1]
    selected = np.ones(n_cols, dtype=bool)
    if only_failing:
        selected = fails_rule(skewness(X), kurtosis(X), skew_max, kurt_max)
    values = X.copy()
    shift = np.full(n_cols, np.nan)
    lambdas = np.full(n_cols, np.nan)
    names = ["none"] * n_cols
    if selected.any():
        cols = np.flatnonzero(selected)
        out, s, lam, applied = transform(X[:, cols], name, lmbda=lmbda, makepos=makepos)
        values[:, cols] = out
        shift[cols] = s
        lambdas[cols] = lam
        for k, j in enumerate(cols):
            names[j] = applied[k]
    transformed = {j: names[j] for j in range(n_cols) if names[j] != "none"}
    report = _report(X, values, skew_max, kurt_max, np.zeros(n_cols), names, shift, lambdas)
    return Treated(
        values=values,
        winsorised=np.zeros(X.shape, dtype=bool),
        transformed=transformed,
        report=report,
    )


@treaters.register(
    "log",
    columnwise=True,
    learns=True,
    treats_only_failing=_only_failing,
    statistic=Moments(),
    learn_from=_learn_log,
    apply=apply_treatment,
    reference=COINR,
    parameters=(*_RULE_PARAMS, "transform", "only_failing"),
)
def log(
    X: FloatArray, /, *, skew_max: float = 2.0, kurt_max: float = 3.5, **params: Any
) -> Treated:
    """Log-transform every indicator (or only those failing the outlier rule).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    skew_max : float, default 2.0
        Absolute-skewness threshold of the outlier rule [unitless].
    kurt_max : float, default 3.5
        Excess-kurtosis threshold of the outlier rule [unitless].
    transform : str, default "ln"
        ``ln`` (values must be > 0), ``log_CT``, ``log_CT_plus`` or ``log_CT_orig``; see
        :func:`transform`.
    only_failing : bool, default False
        Transform only the columns failing the rule, instead of all of them.

    Returns
    -------
    Treated
        Log-transformed values [log of the indicator unit], with each column's transform
        and shift in ``transformed`` and ``report``. A column without spread is left as is.

    Raises
    ------
    DataError
        If ``ln`` meets a value <= 0.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5. doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``log_CT``. doi:10.21105/joss.04567

    Examples
    --------
    >>> r = log(np.array([[1.0], [np.e], [np.e**2]]))
    >>> r.values.ravel().round(12).tolist(), r.transformed
    ([0.0, 1.0, 2.0], {0: 'ln'})
    """
    params.update(skew_max=skew_max, kurt_max=kurt_max)
    name = check_choice(params.pop("transform", "ln"), TRANSFORMS[:-1], "transform", "treat", "log")
    allowed = [*_RULE_PARAMS, "transform", "only_failing"]
    extra = {k: params.pop(k) for k in list(params) if k not in allowed}
    reject_unknown(extra, "treat", "log", allowed)
    return _transform_method(X, params, "log", name, None, True)


def _boxcox_params(params: dict[str, Any], method: str) -> tuple[float | None, bool]:
    raw = params.pop("lmbda", None)
    lmbda = None if raw is None else check_float(raw, "lmbda", "treat", method)
    makepos = check_bool(params.pop("makepos", True), "makepos", "treat", method)
    return lmbda, makepos


@treaters.register(
    "boxcox",
    columnwise=True,
    learns=True,
    treats_only_failing=_only_failing,
    statistic=_fixed_lambda,
    learn_from=_learn_boxcox,
    apply=apply_treatment,
    reference=BOXCOX,
    parameters=(*_RULE_PARAMS, "lmbda", "makepos", "only_failing"),
)
def boxcox(
    X: FloatArray, /, *, skew_max: float = 2.0, kurt_max: float = 3.5, **params: Any
) -> Treated:
    """Box-Cox-transform every indicator (or only those failing the outlier rule).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    skew_max, kurt_max : float, default 2.0 and 3.5
        Thresholds of the outlier rule [unitless].
    lmbda : float, optional
        Fixed exponent λ [unitless]; by default each column's λ maximises the Box-Cox
        log-likelihood (``scipy.stats.boxcox_normmax(method="mle")``).
    makepos : bool, default True
        Shift each column to start at 1 first, :math:`y = x - \\min x + 1` (COINr's
        ``boxcox(makepos = TRUE)``), so any data can be transformed. With ``false`` the
        values must be > 0 and are used as they are.
    only_failing : bool, default False
        Transform only the columns failing the rule.

    Returns
    -------
    Treated
        Transformed values [unitless]; λ and the shift of each column in ``report``.

    Notes
    -----
    :math:`y^{(\\lambda)} = (y^\\lambda - 1)/\\lambda` for :math:`\\lambda \\ne 0`, and
    :math:`\\ln y` for :math:`\\lambda = 0` (Box and Cox 1964). The transform is increasing
    in :math:`y`, so it keeps the order of the entities.

    References
    ----------
    .. [1] Box, G. E. P. and Cox, D. R. (1964). An analysis of transformations. JRSS B,
       26(2), 211–252. doi:10.1111/j.2517-6161.1964.tb00553.x
    .. [2] OECD/JRC (2008), Handbook, Part I, Step 5. doi:10.1787/9789264043466-en

    Examples
    --------
    >>> r = boxcox(np.array([[1.0], [2.0], [3.0]]), lmbda=1.0, makepos=False)
    >>> r.values.ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    params.update(skew_max=skew_max, kurt_max=kurt_max)
    lmbda, makepos = _boxcox_params(params, "boxcox")
    allowed = [*_RULE_PARAMS, "lmbda", "makepos", "only_failing"]
    extra = {k: params.pop(k) for k in list(params) if k not in allowed}
    reject_unknown(extra, "treat", "boxcox", allowed)
    return _transform_method(X, params, "boxcox", "boxcox", lmbda, makepos)


@treaters.register(
    "winsorise",
    columnwise=True,
    learns=True,
    treats_only_failing=True,
    statistic=_winsorise_statistic,
    learn_from=_learn_winsorise,
    apply=apply_treatment,
    reference=COINR,
    parameters=(*_RULE_PARAMS, "winmax", "fallback", "lmbda", "makepos"),
)
def winsorise(
    X: FloatArray,
    /,
    *,
    skew_max: float = 2.0,
    kurt_max: float = 3.5,
    winmax: int = 5,
    fallback: str = "log_CT",
    **params: Any,
) -> Treated:
    """Winsorise outliers one at a time until the skewness–kurtosis rule passes.

    The JRC/COINr procedure (``COINr::Treat`` with its defaults). For each indicator
    failing the rule:

    1. If the skewness is >= 0, the highest value (all values tied at the highest) is set
       to the highest of the remaining values; otherwise the lowest value is set to the
       lowest remaining one.
    2. The skewness and kurtosis are recomputed; steps 1–2 repeat while the indicator
       fails and fewer than ``winmax`` points have been changed.
    3. If it still fails, the winsorisation is discarded and the ``fallback`` transform is
       applied to the *original* column (COINr's ``combine_treat = FALSE``). With
       ``fallback: none`` the winsorised column is kept.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing and ignored.
    skew_max : float, default 2.0
        Absolute-skewness threshold [unitless].
    kurt_max : float, default 3.5
        Excess-kurtosis threshold [unitless].
    winmax : int, default 5
        Largest number of points to winsorise per indicator [count]. Tied extremes are
        changed together, so the count can exceed ``winmax`` by the size of the last tie.
    fallback : str, default "log_CT"
        Transform for indicators that winsorisation cannot fix: ``log_CT`` (COINr's
        default), ``log_CT_plus``, ``log_CT_orig``, ``boxcox`` or ``none``; see
        :func:`transform`. ``lmbda`` and ``makepos`` are passed to ``boxcox``.

    Returns
    -------
    Treated
        Treated values [indicator units, or transformed units for fallback columns]; the
        mask of winsorised cells; ``transformed`` for fallback columns; one report record
        per column with ``n_winsorised`` and the final winsorisation bounds: the floor the
        low tail was raised to (``winsorised_low``) and the cap the high tail was lowered to
        (``winsorised_high``), NaN for an untouched tail.

    Notes
    -----
    All columns are processed together: each pass computes the statistics of every column,
    then moves the extreme of every column still failing. A pass changes at least one
    point per failing column, so the loop runs at most ``winmax`` times. A column that
    becomes constant has undefined moments and stops (passes).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, Step 5 (extreme values and normalisation).
       doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr: ``Treat``, ``winsorise``, ``check_SkewKurt``,
       ``log_CT``. doi:10.21105/joss.04567

    Examples
    --------
    >>> x = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [8.0], [100.0]])
    >>> r = winsorise(x)
    >>> r.values.ravel().tolist(), r.report[0]["n_winsorised"]
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.0], 1)
    """
    params.update(skew_max=skew_max, kurt_max=kurt_max)
    skew_max, kurt_max = _rule(params, "winsorise")
    winmax = check_int(winmax, "winmax", "treat", "winsorise", minimum=0)
    fallback = check_choice(fallback, FALLBACKS, "fallback", "treat", "winsorise")
    lmbda, makepos = _boxcox_params(params, "winsorise")
    reject_unknown(
        params, "treat", "winsorise", [*_RULE_PARAMS, "winmax", "fallback", "lmbda", "makepos"]
    )
    X = as_matrix(X, "treat", "winsorise")
    n_cols = X.shape[1]
    values = X.copy()
    # the JRC/COINr loop (each pass moves all values tied at the failing tail to the next
    # value, until the rule passes or winmax points moved) replayed on one summary per
    # column: its moments and its winmax + 1 most extreme distinct values (one pass over
    # the data instead of two moment passes per moved point); the replay also gives the
    # skewness and kurtosis before and after, so the data are not read again for them
    summary = summarise(X, winmax + 1)
    floor = np.full(n_cols, -np.inf)
    cap = np.full(n_cols, np.inf)
    before = np.full((2, n_cols), np.nan)  # skewness, kurtosis of X
    after = np.full((2, n_cols), np.nan)  # of the winsorised column, then of the result
    for column in range(n_cols):  # a loop over indicators; the replay sees only extremes
        before[:, column] = moment_shape(column_moments(summary, column))
        floor[column], cap[column], _, after[0, column], after[1, column] = _winsorise_column(
            summary, column, skew_max, kurt_max, winmax
        )
    still_failing = fails_rule(after[0], after[1], skew_max, kurt_max)
    names = ["none"] * n_cols
    shift = np.full(n_cols, np.nan)
    lambdas = np.full(n_cols, np.nan)
    redone = still_failing if fallback != "none" else np.zeros(n_cols, dtype=bool)
    if redone.any():  # the winsorisation is discarded: the fallback transforms X
        cols = np.flatnonzero(redone)
        out, s, lam, applied = transform(X[:, cols], fallback, lmbda=lmbda, makepos=makepos)
        values[:, cols] = out
        after[:, cols] = _shape_of(out)
        shift[cols] = s
        lambdas[cols] = lam
        for k, j in enumerate(cols):
            names[j] = applied[k]
    # the final winsorisation bounds, for the record (the high tail was pulled down to a
    # cap, the low tail pushed up to a floor), from the kept winsorised columns only
    changed: BoolArray = np.zeros(X.shape, dtype=bool)
    win_lo = np.full(n_cols, np.inf)
    win_hi = np.full(n_cols, -np.inf)
    for j in np.flatnonzero((np.isfinite(floor) | np.isfinite(cap)) & ~redone):
        original = X[:, j]
        clipped = np.clip(original, floor[j], cap[j])  # NaN stays NaN
        values[:, j] = clipped
        up, down = clipped > original, clipped < original
        changed[:, j] = up | down
        win_lo[j] = clipped[up].min(initial=np.inf)
        win_hi[j] = clipped[down].max(initial=-np.inf)
    bounds = (
        np.where(np.isfinite(win_lo), win_lo, np.nan),
        np.where(np.isfinite(win_hi), win_hi, np.nan),
    )
    transformed = {j: names[j] for j in range(n_cols) if names[j] != "none"}
    report = _report(
        X,
        values,
        skew_max,
        kurt_max,
        changed.sum(axis=0),
        names,
        shift,
        lambdas,
        bounds,
        shapes=(before[0], before[1], after[0], after[1]),
    )
    return Treated(values=values, winsorised=changed, transformed=transformed, report=report)


def treat_by_period(
    method: str | Method[Any], X: FloatArray, period_codes: Any, /, **params: Any
) -> Treated:
    """Treat each period's rows on their own (COINr's per-year treatment of a panel).

    The skewness–kurtosis rule is tested, and winsorisation bounds or transforms are
    chosen, within each period: a year whose distribution is skewed is treated without
    treating the other years' values by that year's outliers.

    Parameters
    ----------
    method : str or Method
        A registered treat method.
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values of all periods [indicator units].
    period_codes : IntArray, shape (n_rows,)
        Period code of each row.
    **params
        The method's parameters.

    Returns
    -------
    Treated
        Values and winsorised cells of every row; ``transformed`` names a column's
        transform if any period applied one (``"log_CT (some periods)"`` when not all did);
        ``report`` has one record per column and period, with a ``period`` key (the code).

    References
    ----------
    .. [1] Becker et al. (2022), COINr, ``Treat`` on panel data by year.
       doi:10.21105/joss.04567

    Examples
    --------
    >>> x = np.array([[1.0], [2.0], [3.0], [10.0], [20.0], [30.0]])
    >>> treat_by_period("none", x, np.array([0, 0, 0, 1, 1, 1])).values.ravel().tolist()
    [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]
    """
    entry = treaters.get(method) if isinstance(method, str) else method
    X = np.asarray(X, dtype=np.float64)
    codes = np.asarray(period_codes)
    values = np.array(X, copy=True)
    winsorised = np.zeros(X.shape, dtype=bool)
    applied: dict[int, set[str]] = {}
    report: list[dict[str, Any]] = []
    periods = np.unique(codes)
    for code in periods:  # a loop over periods; each call is vectorised over rows and columns
        rows = np.flatnonzero(codes == code)
        part = run_treater(entry, X[rows], **params)
        values[rows] = part.values
        winsorised[rows] = part.winsorised
        for column, name in part.transformed.items():
            applied.setdefault(int(column), set()).add(name)
        report.extend({**record, "period": int(code)} for record in part.report)
    transformed = {}
    for column, names in applied.items():
        every = all(
            any(
                r["column"] == column and r["period"] == int(c) and r["transform"] != "none"
                for r in report
            )
            for c in periods
        )
        name = "+".join(sorted(names))
        transformed[column] = name if every else f"{name} (some periods)"
    return Treated(values=values, winsorised=winsorised, transformed=transformed, report=report)
