"""Before/after counts of a treated area against its control: expected count, RES, rates.

* :func:`pre_post_comparison` — change in the treated area against the control trend:
  expected count and crimes prevented;
* :func:`relative_effect_size` — the RES (odds ratio) of Farrington et al. with its CI;
* :func:`rate_ratio_test` — exact conditional Poisson test of two rates with exposure
  (a quasi-Poisson Wald test when the counts are overdispersed).

Counts may be harm-weighted: pass a :class:`~securindex.evaluation.WeightedCount`.
Overdispersion (variance ``φ`` times the Poisson variance; see
:mod:`~securindex.evaluation.dispersion`) widens every interval by ``√φ``.

References
----------
.. [1] Farrington, D. P., Gill, M., Waples, S. J., & Argomaniz, J. (2007). The effects of
   closed-circuit television on crime: meta-analysis of an English national
   quasi-experimental multi-site evaluation. *Journal of Experimental Criminology*, 3,
   21–38. doi:10.1007/s11292-007-9024-2
.. [2] Gu, K., Ng, H. K. T., Tang, M. L., & Schucany, W. R. (2008). Testing the ratio of
   two Poisson rates. *Biometrical Journal*, 50(2), 283–298.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from scipy import stats

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    CountLike,
    EvaluationResult,
    Polarity,
    as_weighted,
    check_confidence,
    check_polarity,
    crimes_phrase,
    desirable,
    direction_word,
    fmt,
    fmt_p,
    significance_phrase,
    two_sided_p,
    z_critical,
)
from securindex.evaluation.dispersion import POISSON, Dispersion, resolve_dispersion

__all__ = [
    "PrePostComparison",
    "RateRatioTest",
    "RelativeEffectSize",
    "pre_post_comparison",
    "rate_ratio_test",
    "relative_effect_size",
]

Alternative = Literal["two-sided", "greater", "less"]


# --------------------------------------------------------------------------------------
# pre/post change with a control trend
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrePostComparison(EvaluationResult):
    """Treated-area change against the change expected from the control area's trend.

    ``estimate`` is the number of crimes prevented in the after period [count, or harm
    units]: ``expected_after − treated_after`` with ``expected_after = treated_before ×
    control_after / control_before``. Positive means fewer crimes than the control trend
    predicts. Its CI uses the delta method under Poisson counts.
    """

    measure: ClassVar[str] = "crimes_prevented"

    estimate: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    treated_before: float
    treated_after: float
    control_before: float
    control_after: float
    expected_after: float
    treated_change_percent: float
    control_change_percent: float
    percent_vs_expected: float
    confidence: float
    polarity: str
    per_period: bool = False
    before_length: float = 1.0
    after_length: float = 1.0
    dispersion: Dispersion = POISSON
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        if self.per_period:
            went = (
                f"went from {fmt(self.treated_before, 1)} in {self.before_length:g} periods to "
                f"{fmt(self.treated_after, 1)} in {self.after_length:g} "
                f"({_pct(self.treated_change_percent)} per period)"
            )
            rate = " per period"
        else:
            went = (
                f"went from {fmt(self.treated_before, 1)} to {fmt(self.treated_after, 1)} "
                f"({_pct(self.treated_change_percent)})"
            )
            rate = ""
        sentence = (
            f"Crime in the treated area {went}, while the control area changed by "
            f"{_pct(self.control_change_percent)}{rate}. Had the treated "
            f"area followed the control trend it would have recorded "
            f"{fmt(self.expected_after, 1)}: {crimes_phrase(self.estimate)} ({level} % CI of "
            f"crimes prevented {fmt(self.ci_low, 1)} to {fmt(self.ci_high, 1)}, "
            f"{fmt_p(self.p_value)}; {self.dispersion.phrase(short=True)}), "
            f"{significance_phrase(self.p_value, self.confidence)}."
        )
        return " ".join([sentence, *self.notes])


def pre_post_comparison(
    treated_before: CountLike,
    treated_after: CountLike,
    control_before: CountLike,
    control_after: CountLike,
    *,
    confidence: float = 0.95,
    polarity: Polarity = "negative",
    overdispersion: float | str | Dispersion = 1.0,
    before_length: float = 1.0,
    after_length: float = 1.0,
) -> PrePostComparison:
    """Crimes prevented in the treated area relative to the control area's trend.

    Parameters
    ----------
    treated_before, treated_after
        Crimes in the treated area before / after [count or :class:`WeightedCount`].
    control_before, control_after
        Crimes in the control area before / after [count or :class:`WeightedCount`].
    confidence
        Confidence level of the interval [unitless, 0–1].
    polarity
        ``"negative"`` for crime counts (a fall is progress).
    overdispersion
        Variance factor ``φ`` of the counts [unitless]: a number, ``"poisson"`` (1) or a
        :class:`~securindex.evaluation.dispersion.Dispersion`; multiplies ``Var(P)``.
    before_length, after_length
        Number (or length) of the before and after periods [periods]. When they differ,
        the treated and control changes are reported as changes of the rate per period;
        the expected count and crimes prevented are unaffected (the lengths cancel).

    Returns
    -------
    PrePostComparison

    Raises
    ------
    DataError
        A negative count, or no crime in the control area before (no trend to follow).

    Notes
    -----
    ``E = a · d / c``; prevented ``P = E − b``; ``Var(P) ≈ E² (1/a + 1/c + 1/d) + b`` under
    Poisson counts (delta method; harm-weighted counts use their own variances), times
    ``φ`` for overdispersed counts. The period lengths cancel in ``d / c`` as long as
    treated and control share the periods.

    Examples
    --------
    >>> r = pre_post_comparison(50, 30, 60, 55)
    >>> round(r.expected_after, 4), round(r.estimate, 4)
    (45.8333, 15.8333)
    """
    check_confidence(confidence)
    check_polarity(polarity)
    disp = resolve_dispersion(overdispersion)
    if not (before_length > 0 and after_length > 0):
        raise DataError(
            f"period lengths must be > 0; got before_length={before_length}, "
            f"after_length={after_length}"
        )
    length_ratio = float(before_length) / float(after_length)
    a = as_weighted(treated_before, "treated_before", "treated area, before")
    b = as_weighted(treated_after, "treated_after", "treated area, after")
    c = as_weighted(control_before, "control_before", "control area, before")
    d = as_weighted(control_after, "control_after", "control area, after")
    if c.value == 0:
        raise DataError(
            "the control area recorded no crime before the initiative, so it has no trend to "
            "compare with; choose a larger control area or a longer before period"
        )
    if a.value == 0:
        raise DataError(
            "the treated area recorded no crime before the initiative: there was nothing to "
            "prevent; check the area definition or the before period"
        )
    expected = a.value * d.value / c.value
    prevented = expected - b.value
    rel_var = a.variance / a.value**2 + c.variance / c.value**2
    rel_var += d.variance / d.value**2 if d.value > 0 else 0.0
    var = disp.value * (expected**2 * rel_var + b.variance)
    se = math.sqrt(var)
    zc = z_critical(confidence)
    z = prevented / se if se > 0 else math.nan
    return PrePostComparison(
        estimate=prevented,
        ci_low=prevented - zc * se,
        ci_high=prevented + zc * se,
        z=z,
        p_value=two_sided_p(z),
        treated_before=a.value,
        treated_after=b.value,
        control_before=c.value,
        control_after=d.value,
        expected_after=expected,
        treated_change_percent=(b.value / a.value * length_ratio - 1.0) * 100.0,
        control_change_percent=(d.value / c.value * length_ratio - 1.0) * 100.0,
        per_period=before_length != after_length,
        before_length=float(before_length),
        after_length=float(after_length),
        percent_vs_expected=(b.value / expected - 1.0) * 100.0 if expected > 0 else math.nan,
        confidence=confidence,
        polarity=polarity,
        dispersion=disp,
    )


# --------------------------------------------------------------------------------------
# relative effect size
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelativeEffectSize(EvaluationResult):
    """The relative effect size RES = (a·d)/(b·c) and its confidence interval.

    ``estimate`` > 1 means crime fell in the treated area relative to the control area
    [unitless]. ``percent_change`` = (1/RES − 1) × 100 is the change in the treated area
    relative to the control area [%] (negative: fewer crimes than the control trend).
    ``a``, ``b``, ``c``, ``d`` are the cells used (after any zero correction).
    """

    measure: ClassVar[str] = "relative_effect_size"

    estimate: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    log_estimate: float
    se_log: float
    percent_change: float
    percent_change_ci_low: float
    percent_change_ci_high: float
    a: float
    b: float
    c: float
    d: float
    overdispersion: float
    zero_corrected: bool
    confidence: float
    polarity: str
    dispersion: Dispersion = POISSON
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        good = desirable(-self.log_estimate, self.polarity)
        sentence = (
            f"Relative to the control area, recorded crime in the treated area changed by "
            f"{fmt(self.percent_change, 1)} % ({level} % CI {fmt(self.percent_change_ci_low, 1)} "
            f"to {fmt(self.percent_change_ci_high, 1)} %){direction_word(good)}. "
            f"RES = {fmt(self.estimate)} ({level} % CI {fmt(self.ci_low)} to "
            f"{fmt(self.ci_high)}; z = {fmt(self.z)}, {fmt_p(self.p_value)}; "
            f"{self.dispersion.phrase(short=True)}): the change is "
            f"{significance_phrase(self.p_value, self.confidence)}."
        )
        return " ".join([sentence, *self.notes])


def relative_effect_size(
    a: CountLike,
    b: CountLike,
    c: CountLike,
    d: CountLike,
    *,
    overdispersion: float | str | Dispersion = 1.0,
    confidence: float = 0.95,
    zero_correction: float = 0.5,
    polarity: Polarity = "negative",
) -> RelativeEffectSize:
    """Relative effect size (odds ratio) of a treated area against its control.

    Parameters
    ----------
    a, b
        Crimes in the treated (experimental) area before / after [count or
        :class:`WeightedCount`].
    c, d
        Crimes in the control area before / after [count or :class:`WeightedCount`].
    overdispersion
        Factor ``D ≥ 1`` multiplying ``Var(ln RES)`` when crimes are more variable than
        Poisson [unitless]; Farrington et al. [1]_ estimated it from the variance of
        monthly counts. 1 (or ``"poisson"``) assumes Poisson counts; a
        :class:`~securindex.evaluation.dispersion.Dispersion` (from
        :func:`~securindex.evaluation.dispersion.estimate_dispersion`) is used and stated.
    confidence
        Confidence level [unitless, 0–1].
    zero_correction
        Added to all four cells when one is zero (Haldane–Anscombe correction) [count];
        0 refuses zero cells instead.
    polarity
        ``"negative"`` for crime (RES > 1 is then an improvement).

    Returns
    -------
    RelativeEffectSize

    Raises
    ------
    DataError
        Negative counts; an area with no crime in both periods; a zero cell with
        ``zero_correction=0``.

    Notes
    -----
    ``RES = (a·d)/(b·c)``; ``Var(ln RES) = D (1/a + 1/b + 1/c + 1/d)`` [1]_; for
    harm-weighted cells ``1/n`` becomes ``Var(S)/S²`` (delta method). CI
    ``exp(ln RES ± z·se)``, ``z = ln RES / se``, two-sided normal p-value. RES = 2 means
    the control area's after/before ratio is twice the treated area's.

    References
    ----------
    .. [1] Farrington, D. P., Gill, M., Waples, S. J., & Argomaniz, J. (2007). The effects
       of closed-circuit television on crime. *Journal of Experimental Criminology*, 3,
       21–38. doi:10.1007/s11292-007-9024-2

    Examples
    --------
    >>> r = relative_effect_size(50, 30, 60, 55)
    >>> round(r.estimate, 4), round(r.percent_change, 2)
    (1.5278, -34.55)
    """
    check_confidence(confidence)
    check_polarity(polarity)
    disp = resolve_dispersion(overdispersion)
    if zero_correction < 0:
        raise SpecError(f"zero_correction must be >= 0; got {zero_correction}")
    cells = [
        as_weighted(a, "a", "treated area, before"),
        as_weighted(b, "b", "treated area, after"),
        as_weighted(c, "c", "control area, before"),
        as_weighted(d, "d", "control area, after"),
    ]
    if cells[0].value == 0 and cells[1].value == 0:
        raise DataError(
            "the treated area recorded no crime before or after (a = b = 0): there is no "
            "effect to estimate; check the area definition and periods"
        )
    if cells[2].value == 0 and cells[3].value == 0:
        raise DataError(
            "the control area recorded no crime before or after (c = d = 0): it cannot serve as "
            "a comparison; choose a larger or busier control area"
        )
    notes: list[str] = []
    values = np.array([x.value for x in cells])
    variances = np.array([x.variance for x in cells])
    zero = values == 0
    corrected = bool(zero.any())
    if corrected:
        names = [n for n, z in zip("abcd", zero, strict=True) if z]
        if zero_correction == 0:
            raise DataError(
                f"cell(s) {names} are zero, so RES and its variance are undefined; allow the "
                "Haldane–Anscombe correction (zero_correction=0.5) or pool more periods/areas"
            )
        events = sum(x.n_events for x in cells)
        mean_weight = float(values.sum() / events) if events > 0 else 1.0
        values = values + zero_correction * mean_weight
        variances = variances + zero_correction * mean_weight**2
        notes.append(
            f"Cell(s) {', '.join(names)} were zero: {zero_correction:g} was added to all four "
            "cells (Haldane–Anscombe correction), so the estimate is approximate."
        )
    if not all(x.is_plain for x in cells):
        notes.append("Counts are harm-weighted; Var(ln RES) uses the weighted Poisson variances.")

    va, vb, vc, vd = values
    log_res = math.log(va) + math.log(vd) - math.log(vb) - math.log(vc)
    var_log = disp.value * float(np.sum(variances / values**2))
    se = math.sqrt(var_log)
    zc = z_critical(confidence)
    lo, hi = math.exp(log_res - zc * se), math.exp(log_res + zc * se)
    res = math.exp(log_res)
    z = log_res / se
    return RelativeEffectSize(
        estimate=res,
        ci_low=lo,
        ci_high=hi,
        z=z,
        p_value=two_sided_p(z),
        log_estimate=log_res,
        se_log=se,
        percent_change=(1.0 / res - 1.0) * 100.0,
        percent_change_ci_low=(1.0 / hi - 1.0) * 100.0,
        percent_change_ci_high=(1.0 / lo - 1.0) * 100.0,
        a=float(va),
        b=float(vb),
        c=float(vc),
        d=float(vd),
        overdispersion=disp.value,
        dispersion=disp,
        zero_corrected=corrected,
        confidence=confidence,
        polarity=polarity,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------
# rate ratio
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRatioTest(EvaluationResult):
    """Ratio of two Poisson rates, ``(x1/e1)/(x0/e0)``, with an exact conditional test.

    ``estimate`` is the rate ratio [unitless]; ``rate0``/``rate1`` are events per
    ``rate_scale`` units of exposure, in ``rate_unit`` (e.g. "per 100 000 inhabitants per
    period"). ``method`` says which test was used: ``"exact conditional (binomial)"`` for
    plain Poisson counts, ``"wald (log scale)"`` for harm-weighted ones and
    ``"quasi-Poisson wald (log scale)"`` for overdispersed counts. ``z`` is always the Wald
    statistic on the log scale.
    """

    measure: ClassVar[str] = "rate_ratio"

    estimate: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    x0: float
    e0: float
    x1: float
    e1: float
    rate0: float
    rate1: float
    percent_change: float
    null_ratio: float
    alternative: str
    method: str
    confidence: float
    polarity: str
    label0: str = "before"
    label1: str = "after"
    rate_unit: str = "per unit of exposure"
    dispersion: Dispersion = POISSON
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        good = desirable(self.estimate - 1.0, self.polarity)
        sentence = (
            f"The rate {self.label1} is {fmt(self.estimate)} times the rate {self.label0} "
            f"({_rate(self.rate1)} vs {_rate(self.rate0)} {self.rate_unit}, "
            f"{fmt(self.percent_change, 1)} %{direction_word(good)}); {level} % CI "
            f"{fmt(self.ci_low)} to {fmt(self.ci_high)}; {self.method} test {fmt_p(self.p_value)}"
            f" ({self.alternative}; {self.dispersion.phrase(short=True)}): the difference is "
            f"{significance_phrase(self.p_value, self.confidence)}."
        )
        return " ".join([sentence, *self.notes])


def _pct(x: float) -> str:
    """A signed percentage for a sentence: ``+44.6 %``, ``-3.5 %``."""
    return "n/a" if math.isnan(x) else f"{x:+.1f} %"


def _rate(x: float) -> str:
    """A rate for a sentence: 3 significant digits below 1 000, whole numbers above."""
    if not math.isfinite(x):
        return fmt(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}".replace(",", " ")
    if x == 0 or abs(x) >= 0.001:
        return f"{x:.3g}"
    return f"{x:.3g}"


def _check_exposure(e: float, name: str) -> float:
    if isinstance(e, bool) or not isinstance(e, (int, float, np.integer, np.floating)):
        raise DataError(f"{name} must be a positive number (population × time); got {e!r}")
    x = float(e)
    if not math.isfinite(x) or x <= 0:
        raise DataError(
            f"{name} is {x}; exposure (population × time, or just the length of the period) "
            "must be > 0"
        )
    return x


def rate_ratio_test(
    x0: CountLike,
    e0: float,
    x1: CountLike,
    e1: float,
    *,
    null_ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    polarity: Polarity = "negative",
    labels: tuple[str, str] = ("before", "after"),
    overdispersion: float | str | Dispersion = 1.0,
    rate_scale: float = 1.0,
    rate_unit: str | None = None,
) -> RateRatioTest:
    """Compare two Poisson rates with exposure: exact conditional test and CI.

    Parameters
    ----------
    x0, x1
        Events in period/group 0 and 1 [count, or :class:`WeightedCount`].
    e0, e1
        Exposure of each [person-years, area-months, or simply the period length]: any
        unit, the same for both.
    null_ratio
        Rate ratio under the null hypothesis [unitless].
    alternative
        ``"two-sided"``, ``"greater"`` (rate1 > null × rate0) or ``"less"``.
    confidence
        Confidence level [unitless, 0–1].
    polarity
        ``"negative"`` for crime (a ratio below 1 is progress).
    labels
        Names of group 0 and 1 used in :meth:`RateRatioTest.summary`.
    overdispersion
        Variance factor ``φ`` of the counts [unitless] (a number, ``"poisson"`` or a
        :class:`~securindex.evaluation.dispersion.Dispersion`). Above 1 the exact
        Poisson test does not apply: a quasi-Poisson Wald test on ``ln ρ`` with the
        variance times ``φ`` is used instead, and said.
    rate_scale
        Rates are reported per ``rate_scale`` units of exposure (e.g. 100 000 with an
        exposure in person-periods) [unitless].
    rate_unit
        How the rates read in the summary (default ``"per unit of exposure"``, or
        ``"per <rate_scale> units of exposure"``).

    Returns
    -------
    RateRatioTest

    Raises
    ------
    DataError
        Negative or non-whole counts, non-positive exposure, or no events at all.

    Notes
    -----
    Given ``n = x0 + x1``, ``x1 ~ Binomial(n, π)`` with ``π = ρ e1 / (e0 + ρ e1)`` under
    the rate ratio ``ρ``. The test is ``scipy.stats.binomtest`` at ``ρ = null_ratio`` and
    the CI inverts the Clopper–Pearson interval ``[πl, πu]`` of ``π``:
    ``ρ = π e0 / ((1 − π) e1)`` (Gu et al. 2008). Harm-weighted counts are not integers,
    so they get a Wald test on ``ln ρ`` with ``Var = Var(S0)/S0² + Var(S1)/S1²``.

    References
    ----------
    .. [1] Gu, K., Ng, H. K. T., Tang, M. L., & Schucany, W. R. (2008). Testing the ratio of
       two Poisson rates. *Biometrical Journal*, 50(2), 283–298.

    Examples
    --------
    >>> r = rate_ratio_test(30, 54308.7, 60, 51477.5)
    >>> round(r.estimate, 4)
    2.11
    """
    check_confidence(confidence)
    check_polarity(polarity)
    if alternative not in ("two-sided", "greater", "less"):
        raise SpecError(
            f"alternative must be 'two-sided', 'greater' or 'less'; got {alternative!r}"
        )
    if not (math.isfinite(null_ratio) and null_ratio > 0):
        raise SpecError(f"null_ratio must be > 0; got {null_ratio}")
    disp = resolve_dispersion(overdispersion)
    if not (math.isfinite(rate_scale) and rate_scale > 0):
        raise SpecError(f"rate_scale must be > 0; got {rate_scale}")
    if rate_unit is None:
        rate_unit = (
            "per unit of exposure"
            if rate_scale == 1.0
            else f"per {rate_scale:,.0f} units of exposure".replace(",", " ")
        )
    w0 = as_weighted(x0, "x0", f"events {labels[0]}")
    w1 = as_weighted(x1, "x1", f"events {labels[1]}")
    exp0 = _check_exposure(e0, "e0")
    exp1 = _check_exposure(e1, "e1")
    if w0.value == 0 and w1.value == 0:
        raise DataError(
            f"no events {labels[0]} or {labels[1]} (x0 = x1 = 0): there is no rate to compare"
        )
    notes: list[str] = []
    rate0, rate1 = w0.value / exp0, w1.value / exp1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.divide(rate1, rate0)) if rate0 > 0 else math.inf
    if w0.value > 0 and w1.value > 0:
        se_log = math.sqrt(disp.value * (w0.variance / w0.value**2 + w1.variance / w1.value**2))
        z = (math.log(ratio) - math.log(null_ratio)) / se_log
    else:
        se_log, z = math.nan, math.nan
        notes.append("One count is zero: the Wald z is undefined; the exact test still applies.")
    plain = w0.is_plain and w1.is_plain
    if plain and disp.value == 1.0:
        k0, k1 = w0.value, w1.value
        if k0 != round(k0) or k1 != round(k1):
            raise DataError(
                f"the exact test needs whole counts of events; got x0 = {k0}, x1 = {k1}. Pass "
                "harm-weighted totals as WeightedCount to use the Wald test instead."
            )
        n = round(k0 + k1)
        pi0 = null_ratio * exp1 / (exp0 + null_ratio * exp1)
        test = stats.binomtest(round(k1), n, pi0, alternative=alternative)
        ci = test.proportion_ci(confidence_level=confidence, method="exact")
        with np.errstate(divide="ignore"):
            lo = float(np.divide(ci.low, 1.0 - ci.low)) * exp0 / exp1
            hi = float(np.divide(ci.high, 1.0 - ci.high)) * exp0 / exp1 if ci.high < 1 else math.inf
        p = float(test.pvalue)
        method = "exact conditional (binomial)"
    else:
        if math.isnan(se_log):
            raise DataError(
                "rate ratio with a zero count: the (quasi-Poisson or harm-weighted) Wald test "
                "is undefined; pool more periods or areas"
            )
        zc = z_critical(confidence)
        if alternative == "two-sided":
            lo, hi = (
                math.exp(math.log(ratio) - zc * se_log),
                math.exp(math.log(ratio) + zc * se_log),
            )
            p = two_sided_p(z)
        elif alternative == "greater":
            lo = math.exp(math.log(ratio) - float(stats.norm.ppf(confidence)) * se_log)
            hi, p = math.inf, float(stats.norm.sf(z))
        else:
            lo = 0.0
            hi = math.exp(math.log(ratio) + float(stats.norm.ppf(confidence)) * se_log)
            p = float(stats.norm.cdf(z))
        if disp.value > 1.0:
            method = "quasi-Poisson wald (log scale)"
            notes.append(
                "The counts are overdispersed, so the exact Poisson test does not apply; a "
                "Wald test with the variance scaled by the dispersion was used."
            )
        else:
            method = "wald (log scale)"
            notes.append(
                "Counts are harm-weighted, so the exact test does not apply; a Wald test was used."
            )
    return RateRatioTest(
        estimate=ratio,
        ci_low=lo,
        ci_high=hi,
        z=z,
        p_value=p,
        x0=w0.value,
        e0=exp0,
        x1=w1.value,
        e1=exp1,
        rate0=rate0 * rate_scale,
        rate1=rate1 * rate_scale,
        percent_change=(ratio - 1.0) * 100.0,
        null_ratio=float(null_ratio),
        alternative=alternative,
        method=method,
        confidence=confidence,
        polarity=polarity,
        label0=labels[0],
        label1=labels[1],
        rate_unit=rate_unit,
        dispersion=disp,
        notes=tuple(notes),
    )
