"""Place-based evaluation of a crime-prevention initiative from before/after counts.

The small functions take the counts of a treated (target) area, its control, and
optionally a displacement buffer, before and after the initiative, and return frozen
results with a plain-language ``summary()``:

* :func:`pre_post_comparison` — change in the treated area against the control trend:
  expected count and crimes prevented;
* :func:`relative_effect_size` — the RES (odds ratio) of Farrington et al. with its CI;
* :func:`rate_ratio_test` — exact conditional Poisson test of two rates with exposure;
* :func:`weighted_displacement_quotient` — the WDQ of Bowers & Johnson with its reading
  and the total net effect;
* :func:`weighted_displacement_difference` — the WDD test of Wheeler & Ratcliffe.

Counts may be harm-weighted everywhere: pass a :class:`WeightedCount` (see
:func:`harm_weighted_count`) instead of a number. :func:`evaluate_initiative` runs all of
them from a tidy (entity, period, count[, offence]) DataFrame.

References
----------
.. [1] Farrington, D. P., Gill, M., Waples, S. J., & Argomaniz, J. (2007). The effects of
   closed-circuit television on crime: meta-analysis of an English national
   quasi-experimental multi-site evaluation. *Journal of Experimental Criminology*, 3,
   21–38. doi:10.1007/s11292-007-9024-2
.. [2] Bowers, K. J., & Johnson, S. D. (2003). Measuring the geographical displacement and
   diffusion of benefit effects of crime prevention activity. *Journal of Quantitative
   Criminology*, 19(3), 275–301. doi:10.1023/A:1024909009240
.. [3] Wheeler, A. P., & Ratcliffe, J. H. (2018). A simple weighted displacement difference
   test to evaluate place based crime interventions. *Crime Science*, 7, 11.
   doi:10.1186/s40163-018-0085-5
.. [4] Guerette, R. T. (2009). *Analyzing crime displacement and diffusion*. Problem-Oriented
   Guides for Police, Problem-Solving Tools Series No. 10. Washington, DC: COPS Office.
.. [5] Gu, K., Ng, H. K. T., Tang, M. L., & Schucany, W. R. (2008). Testing the ratio of
   two Poisson rates. *Biometrical Journal*, 50(2), 283–298.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    CountLike,
    EvaluationResult,
    Polarity,
    WeightedCount,
    as_weighted,
    check_confidence,
    check_polarity,
    fmt,
    fmt_p,
    two_sided_p,
    z_critical,
)
from securindex.evaluation.spec import DesignSpec, InitiativeSpec, SMSLevel, maryland_sms_level

__all__ = [
    "InitiativeEvaluation",
    "PrePostComparison",
    "RateRatioTest",
    "RelativeEffectSize",
    "WeightedDisplacementDifference",
    "WeightedDisplacementQuotient",
    "evaluate_initiative",
    "evaluate_initiative_spec",
    "pre_post_comparison",
    "rate_ratio_test",
    "relative_effect_size",
    "weighted_displacement_difference",
    "weighted_displacement_quotient",
]

Alternative = Literal["two-sided", "greater", "less"]


def _significance_phrase(p: float, confidence: float) -> str:
    if math.isnan(p):
        return "its statistical significance cannot be assessed"
    if p < 1.0 - confidence:
        return "larger than chance variation in the counts would explain"
    return "within what chance variation in the counts could produce"


def _direction_word(desirable: bool | None) -> str:
    if desirable is None:
        return ""
    return ", in the desirable direction" if desirable else ", in the undesirable direction"


def _desirable(change_sign: float, polarity: str) -> bool | None:
    """Is a change of this sign progress? For crime (negative polarity) a fall is."""
    if polarity == "none" or change_sign == 0 or math.isnan(change_sign):
        return None
    return (change_sign < 0) if polarity == "negative" else (change_sign > 0)


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
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        sentence = (
            f"Crime in the treated area went from {fmt(self.treated_before, 1)} to "
            f"{fmt(self.treated_after, 1)} ({fmt(self.treated_change_percent, 1)} %), while the "
            f"control area changed by {fmt(self.control_change_percent, 1)} %. Had the treated "
            f"area followed the control trend it would have recorded "
            f"{fmt(self.expected_after, 1)}; the difference is {fmt(self.estimate, 1)} crimes "
            f"{'prevented' if self.estimate >= 0 else 'added'} ({level} % CI "
            f"{fmt(self.ci_low, 1)} to {fmt(self.ci_high, 1)}, {fmt_p(self.p_value)}), "
            f"{_significance_phrase(self.p_value, self.confidence)}."
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
    Poisson counts (delta method; harm-weighted counts use their own variances). The
    period lengths cancel in ``d / c`` as long as treated and control share the periods.

    Examples
    --------
    >>> r = pre_post_comparison(50, 30, 60, 55)
    >>> round(r.expected_after, 4), round(r.estimate, 4)
    (45.8333, 15.8333)
    """
    check_confidence(confidence)
    check_polarity(polarity)
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
    var = expected**2 * rel_var + b.variance
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
        treated_change_percent=(b.value / a.value - 1.0) * 100.0,
        control_change_percent=(d.value / c.value - 1.0) * 100.0,
        percent_vs_expected=(b.value / expected - 1.0) * 100.0 if expected > 0 else math.nan,
        confidence=confidence,
        polarity=polarity,
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
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        desirable = _desirable(-self.log_estimate, self.polarity)
        sentence = (
            f"Relative to the control area, recorded crime in the treated area changed by "
            f"{fmt(self.percent_change, 1)} % ({level} % CI {fmt(self.percent_change_ci_low, 1)} "
            f"to {fmt(self.percent_change_ci_high, 1)} %){_direction_word(desirable)}. "
            f"RES = {fmt(self.estimate)} ({level} % CI {fmt(self.ci_low)} to "
            f"{fmt(self.ci_high)}; z = {fmt(self.z)}, {fmt_p(self.p_value)}): the change is "
            f"{_significance_phrase(self.p_value, self.confidence)}."
        )
        return " ".join([sentence, *self.notes])


def relative_effect_size(
    a: CountLike,
    b: CountLike,
    c: CountLike,
    d: CountLike,
    *,
    overdispersion: float = 1.0,
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
        monthly counts. 1 assumes Poisson counts.
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
    if not (math.isfinite(overdispersion) and overdispersion > 0):
        raise SpecError(
            f"overdispersion must be a positive number (1 = Poisson); got {overdispersion}"
        )
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
    if overdispersion != 1.0:
        notes.append(f"Var(ln RES) multiplied by an overdispersion factor of {overdispersion:g}.")
    va, vb, vc, vd = values
    log_res = math.log(va) + math.log(vd) - math.log(vb) - math.log(vc)
    var_log = overdispersion * float(np.sum(variances / values**2))
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
        overdispersion=float(overdispersion),
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

    ``estimate`` is the rate ratio [unitless]; ``rate0``/``rate1`` are events per unit of
    exposure [count per exposure unit, e.g. per person-year]. ``method`` says which test
    was used: ``"exact conditional (binomial)"`` for plain counts, ``"wald (log scale)"``
    for harm-weighted ones. ``z`` is always the Wald statistic on the log scale.
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
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        desirable = _desirable(self.estimate - 1.0, self.polarity)
        sentence = (
            f"The rate {self.label1} is {fmt(self.estimate)} times the rate {self.label0} "
            f"({self.rate1:.4g} vs {self.rate0:.4g} per unit of exposure, "
            f"{fmt(self.percent_change, 1)} %{_direction_word(desirable)}); {level} % CI "
            f"{fmt(self.ci_low)} to {fmt(self.ci_high)}; {self.method} test {fmt_p(self.p_value)}"
            f" ({self.alternative}): the difference is "
            f"{_significance_phrase(self.p_value, self.confidence)}."
        )
        return " ".join([sentence, *self.notes])


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
        se_log = math.sqrt(w0.variance / w0.value**2 + w1.variance / w1.value**2)
        z = (math.log(ratio) - math.log(null_ratio)) / se_log
    else:
        se_log, z = math.nan, math.nan
        notes.append("One count is zero: the Wald z is undefined; the exact test still applies.")
    plain = w0.is_plain and w1.is_plain
    if plain:
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
                "harm-weighted rate ratio with a zero count: the Wald test is undefined; use "
                "plain counts (exact test) or pool more periods"
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
        rate0=rate0,
        rate1=rate1,
        percent_change=(ratio - 1.0) * 100.0,
        null_ratio=float(null_ratio),
        alternative=alternative,
        method=method,
        confidence=confidence,
        polarity=polarity,
        label0=labels[0],
        label1=labels[1],
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------
# weighted displacement quotient
# --------------------------------------------------------------------------------------

WDQReading = Literal[
    "diffusion of benefits larger than the direct effect",
    "diffusion of benefits",
    "no displacement or diffusion",
    "displacement smaller than the direct effect (net benefit)",
    "displacement larger than the direct effect (net harm)",
    "not interpretable",
]


def _wdq_reading(wdq: float) -> str:
    if wdq > 1:
        return "diffusion of benefits larger than the direct effect"
    if wdq > 0:
        return "diffusion of benefits"
    if wdq == 0:
        return "no displacement or diffusion"
    if wdq >= -1:
        return "displacement smaller than the direct effect (net benefit)"
    return "displacement larger than the direct effect (net harm)"


@dataclass(frozen=True)
class WeightedDisplacementQuotient(EvaluationResult):
    """The WDQ with its two parts and the total net effect.

    ``success_measure = R1/C1 − R0/C0`` [unitless] must be negative (the treated area
    improved relative to the control) for the WDQ to be interpretable;
    ``buffer_displacement_measure = D1/C1 − D0/C0`` [unitless] is positive when the buffer
    worsened (possible displacement). ``estimate`` is ``buffer/success`` when
    interpretable and NaN otherwise (``raw_quotient`` keeps the arithmetic).
    ``total_net_effect`` [count] is crimes prevented in treated plus buffer areas against
    the control trend (positive = net crimes prevented).
    """

    measure: ClassVar[str] = "weighted_displacement_quotient"

    estimate: float
    success_measure: float
    buffer_displacement_measure: float
    raw_quotient: float
    interpretable: bool
    reading: str
    total_net_effect: float
    treated_net_effect: float
    buffer_net_effect: float
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        tne = (
            f"Counting the buffer, the total net effect is {fmt(self.total_net_effect, 1)} crimes "
            f"{'prevented' if self.total_net_effect >= 0 else 'added'} "
            f"({fmt(self.treated_net_effect, 1)} in the treated area, "
            f"{fmt(self.buffer_net_effect, 1)} in the buffer)."
        )
        if not self.interpretable:
            sentence = (
                f"The WDQ is not interpretable: the treated area did not improve relative to the "
                f"control area (success measure = {fmt(self.success_measure, 3)}, it must be "
                "negative), so changes in the buffer cannot be attributed to displacement."
            )
        else:
            sentence = (
                f"WDQ = {fmt(self.estimate)}: {self.reading} (success measure "
                f"{fmt(self.success_measure, 3)}, buffer displacement measure "
                f"{fmt(self.buffer_displacement_measure, 3)})."
            )
        return " ".join([sentence, tne, *self.notes])


def weighted_displacement_quotient(
    r0: CountLike,
    r1: CountLike,
    d0: CountLike,
    d1: CountLike,
    c0: CountLike,
    c1: CountLike,
) -> WeightedDisplacementQuotient:
    """Weighted displacement quotient of Bowers & Johnson (2003) and the total net effect.

    Parameters
    ----------
    r0, r1
        Crimes in the response (treated) area before / after [count or
        :class:`WeightedCount`].
    d0, d1
        Crimes in the displacement buffer around it before / after [count].
    c0, c1
        Crimes in the control area before / after [count]; both must be > 0.

    Returns
    -------
    WeightedDisplacementQuotient

    Raises
    ------
    DataError
        Negative counts, or a control area with no crime in one period.

    Notes
    -----
    ``WDQ = (D1/C1 − D0/C0) / (R1/C1 − R0/C0)`` [1]_. Only interpretable when the success
    measure (denominator) is negative. Reading [2]_: WDQ > 1 diffusion of benefits larger
    than the direct effect; 0 < WDQ ≤ 1 diffusion of benefits; WDQ = 0 no effect on the
    buffer; −1 ≤ WDQ < 0 displacement smaller than the direct effect; WDQ < −1
    displacement exceeds the direct effect (net harm). Total net effect
    ``TNE = (R0·C1/C0 − R1) + (D0·C1/C0 − D1)`` [2]_. The WDQ has no sampling variance; use
    :func:`weighted_displacement_difference` for a test.

    References
    ----------
    .. [1] Bowers, K. J., & Johnson, S. D. (2003). Measuring the geographical displacement
       and diffusion of benefit effects of crime prevention activity. *Journal of
       Quantitative Criminology*, 19(3), 275–301. doi:10.1023/A:1024909009240
    .. [2] Guerette, R. T. (2009). *Analyzing crime displacement and diffusion*. POP Center
       Problem-Solving Tools Series No. 10, appendices B–C.

    Examples
    --------
    >>> r = weighted_displacement_quotient(100, 60, 80, 72, 200, 200)
    >>> round(r.estimate, 3), r.reading
    (0.2, 'diffusion of benefits')
    """
    R0 = as_weighted(r0, "r0", "treated area, before").value
    R1 = as_weighted(r1, "r1", "treated area, after").value
    D0 = as_weighted(d0, "d0", "buffer area, before").value
    D1 = as_weighted(d1, "d1", "buffer area, after").value
    C0 = as_weighted(c0, "c0", "control area, before").value
    C1 = as_weighted(c1, "c1", "control area, after").value
    if C0 == 0 or C1 == 0:
        raise DataError(
            f"the control area must record crime in both periods for the WDQ (c0 = {C0}, "
            f"c1 = {C1}); choose a larger control area"
        )
    success = R1 / C1 - R0 / C0
    buffer = D1 / C1 - D0 / C0
    raw = buffer / success if success != 0 else math.nan
    interpretable = success < 0
    notes: list[str] = []
    if D0 == 0 and D1 == 0:
        notes.append("The buffer recorded no crime in either period.")
    treated_net = R0 * C1 / C0 - R1
    buffer_net = D0 * C1 / C0 - D1
    return WeightedDisplacementQuotient(
        estimate=raw if interpretable else math.nan,
        success_measure=success,
        buffer_displacement_measure=buffer,
        raw_quotient=raw,
        interpretable=interpretable,
        reading=_wdq_reading(raw) if interpretable else "not interpretable",
        total_net_effect=treated_net + buffer_net,
        treated_net_effect=treated_net,
        buffer_net_effect=buffer_net,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------
# weighted displacement difference
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightedDisplacementDifference(EvaluationResult):
    """The WDD test: difference in differences of counts with its Poisson standard error.

    ``estimate`` [crimes per unit time of the periods' length unit; crimes when the periods
    are equal and lengths 1] is negative when crime fell in the treated (and buffer) area
    relative to the controls. ``crimes_prevented`` = −estimate × after_length [count].
    """

    measure: ClassVar[str] = "weighted_displacement_difference"

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    local_estimate: float
    local_se: float
    displacement_estimate: float
    displacement_se: float
    crimes_prevented: float
    before_length: float
    after_length: float
    confidence: float
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        sentence = (
            f"WDD = {fmt(self.estimate, 1)} (se {fmt(self.se, 1)}; {level} % CI "
            f"{fmt(self.ci_low, 1)} to {fmt(self.ci_high, 1)}; z = {fmt(self.z)}, "
            f"{fmt_p(self.p_value)}): about {fmt(abs(self.crimes_prevented), 1)} crimes "
            f"{'prevented' if self.crimes_prevented >= 0 else 'added'} in the after period "
            f"relative to the controls, counting displacement; the change is "
            f"{_significance_phrase(self.p_value, self.confidence)}."
        )
        return " ".join([sentence, *self.notes])


def weighted_displacement_difference(
    r0: CountLike,
    r1: CountLike,
    c0: CountLike,
    c1: CountLike,
    d0: CountLike = 0,
    d1: CountLike = 0,
    cd0: CountLike = 0,
    cd1: CountLike = 0,
    *,
    before_length: float = 1.0,
    after_length: float = 1.0,
    confidence: float = 0.95,
) -> WeightedDisplacementDifference:
    """Weighted displacement difference test of Wheeler & Ratcliffe (2018).

    Parameters
    ----------
    r0, r1
        Crimes in the treated area before / after [count or :class:`WeightedCount`].
    c0, c1
        Crimes in the treated area's control before / after [count].
    d0, d1
        Crimes in the displacement (buffer) area before / after [count]; 0 if none.
    cd0, cd1
        Crimes in the buffer's own control area before / after [count]; 0 if none.
    before_length, after_length
        Lengths of the before and after periods [any time unit, e.g. months]. When they
        differ, every count is divided by its period's length (rates per unit time) and
        its variance by the length squared, and the result says so.
    confidence
        Confidence level [unitless, 0–1].

    Returns
    -------
    WeightedDisplacementDifference

    Raises
    ------
    DataError
        Negative counts or non-positive period lengths.

    Notes
    -----
    With ``L0``, ``L1`` the period lengths: ``WDD = ΔT − ΔCt + ΔD − ΔCd`` where
    ``ΔT = r1/L1 − r0/L0`` etc.; ``Var(WDD) = Σ Var(x)/L²`` with ``Var(x) = x`` for
    Poisson counts (``Σ w² n`` when harm-weighted) [1]_ [2]_. ``z = WDD/√Var``, two-sided
    normal p-value and CI. The normal approximation is poor for very small counts.

    References
    ----------
    .. [1] Wheeler, A. P., & Ratcliffe, J. H. (2018). A simple weighted displacement
       difference test to evaluate place based crime interventions. *Crime Science*, 7,
       11. doi:10.1186/s40163-018-0085-5
    .. [2] Wheeler, A. P. (2021). The WDD test with different pre/post time periods.
       andrewpwheeler.com, 9 January 2021.

    Examples
    --------
    >>> r = weighted_displacement_difference(20, 10, 20, 20)
    >>> r.estimate, round(r.se, 3)
    (-10.0, 8.367)
    """
    check_confidence(confidence)
    lengths = np.array([before_length, after_length], dtype="float64")
    if not np.all(np.isfinite(lengths)) or (lengths <= 0).any():
        raise DataError(
            f"period lengths must be > 0; got before_length={before_length}, "
            f"after_length={after_length}"
        )
    L0, L1 = float(lengths[0]), float(lengths[1])
    cells = [
        as_weighted(r0, "r0", "treated area, before"),
        as_weighted(r1, "r1", "treated area, after"),
        as_weighted(c0, "c0", "control area, before"),
        as_weighted(c1, "c1", "control area, after"),
        as_weighted(d0, "d0", "buffer area, before"),
        as_weighted(d1, "d1", "buffer area, after"),
        as_weighted(cd0, "cd0", "buffer control area, before"),
        as_weighted(cd1, "cd1", "buffer control area, after"),
    ]
    v = np.array([x.value for x in cells])
    var = np.array([x.variance for x in cells])
    scale = np.array([L0, L1] * 4)
    rate = v / scale
    rate_var = var / scale**2
    notes: list[str] = []
    if L0 != L1:
        notes.append(
            f"The before and after periods differ in length ({L0:g} vs {L1:g}): counts were "
            "rescaled to rates per unit of time, so the WDD is a change per unit of time."
        )
    if not all(x.is_plain for x in cells):
        notes.append("Counts are harm-weighted; the variance is Σ w² n.")
    if (v[4] > 0 or v[5] > 0) and v[6] == 0 and v[7] == 0:
        notes.append(
            "The buffer has no control area of its own: its raw change counts as displacement."
        )
    local = (rate[1] - rate[0]) - (rate[3] - rate[2])
    disp = (rate[5] - rate[4]) - (rate[7] - rate[6])
    local_var = float(rate_var[:4].sum())
    disp_var = float(rate_var[4:].sum())
    total = float(local + disp)
    se = math.sqrt(local_var + disp_var)
    if se == 0:
        raise DataError("all counts are zero: the WDD and its variance are undefined")
    zc = z_critical(confidence)
    z = total / se
    return WeightedDisplacementDifference(
        estimate=total,
        se=se,
        ci_low=total - zc * se,
        ci_high=total + zc * se,
        z=z,
        p_value=two_sided_p(z),
        local_estimate=float(local),
        local_se=math.sqrt(local_var),
        displacement_estimate=float(disp),
        displacement_se=math.sqrt(disp_var),
        crimes_prevented=-total * L1,
        before_length=L0,
        after_length=L1,
        confidence=confidence,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------
# a whole initiative from a tidy frame
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitiativeEvaluation(EvaluationResult):
    """Every place-based statistic of one initiative, from the same area totals.

    ``totals`` is a tidy frame, one row per (role, phase): ``role`` in treated / control /
    buffer / buffer_control, ``phase`` in before / after, ``count`` [count], ``value``
    [count or harm units], ``variance``, ``n_periods``, ``exposure`` and ``rate_per_period``.
    Results that do not apply (no control, no buffer) are None.
    """

    measure: ClassVar[str] = "initiative"

    name: str
    totals: pd.DataFrame
    sms: SMSLevel
    treated_rate_ratio: RateRatioTest
    pre_post: PrePostComparison | None = None
    relative_effect: RelativeEffectSize | None = None
    control_rate_ratio: RateRatioTest | None = None
    displacement_quotient: WeightedDisplacementQuotient | None = None
    displacement_difference: WeightedDisplacementDifference | None = None
    polarity: str = "negative"
    notes: tuple[str, ...] = ()

    def results(self) -> dict[str, EvaluationResult]:
        """The statistics that apply, by name."""
        named: dict[str, EvaluationResult | None] = {
            "pre_post": self.pre_post,
            "relative_effect": self.relative_effect,
            "treated_rate_ratio": self.treated_rate_ratio,
            "control_rate_ratio": self.control_rate_ratio,
            "displacement_quotient": self.displacement_quotient,
            "displacement_difference": self.displacement_difference,
        }
        return {k: v for k, v in named.items() if v is not None}

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per statistic, with ``initiative`` and ``result`` columns."""
        rows = []
        for key, result in self.results().items():
            frame = result.to_frame()
            frame.insert(0, "result", key)
            rows.append(frame)
        out = pd.concat(rows, ignore_index=True, sort=False)
        out.insert(0, "initiative", self.name)
        out["sms_level"] = self.sms.level
        return out

    def summary(self) -> str:
        lines = [f"Evaluation of {self.name} — {self.sms.summary()}"]
        titles = {
            "pre_post": "Before/after with control",
            "relative_effect": "Relative effect size",
            "treated_rate_ratio": "Treated area rate ratio",
            "control_rate_ratio": "Control area rate ratio",
            "displacement_quotient": "Displacement (WDQ)",
            "displacement_difference": "Displacement difference test (WDD)",
        }
        for key, result in self.results().items():
            lines.append(f"- {titles[key]}: {result.summary()}")
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Before/after bars, treated vs control (see ``plot_before_after``)."""
        from securindex.evaluation.plots import plot_before_after

        return plot_before_after(self, ax=ax)


def _labels(values: pd.Series) -> pd.Series:
    """Entity/period labels as text, so YAML ``2019`` matches a data column of 2019.0."""
    if pd.api.types.is_float_dtype(values) and bool(
        np.all(np.isnan(values) | (values == np.round(values)))
    ):
        return values.astype("Int64").astype(str)
    return values.astype(str)


def _as_label_list(items: Collection[object] | object, name: str) -> list[str]:
    if isinstance(items, (str, int, np.integer)):
        items = [items]
    if not isinstance(items, Collection):
        raise SpecError(f"{name} must be a list of labels; got {items!r}")
    out = [str(int(x)) if isinstance(x, float) and x == int(x) else str(x) for x in items]
    dup = sorted({x for x in out if out.count(x) > 1})
    if dup:
        raise SpecError(f"{name} lists {dup} more than once")
    return out


def _check_disjoint(groups: Mapping[str, list[str]], what: str) -> None:
    names = list(groups)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            both = sorted(set(groups[first]) & set(groups[second]))
            if both:
                why = (
                    "an area cannot be its own comparison"
                    if what == "area(s)"
                    else "a period cannot be both before and after the initiative"
                )
                raise SpecError(
                    f"{what} {both} listed both as {first} and as {second}; {why} — remove "
                    "the overlap"
                )


def evaluate_initiative(
    data: pd.DataFrame,
    *,
    treated: Collection[object],
    before: Collection[object],
    after: Collection[object],
    control: Collection[object] = (),
    buffer: Collection[object] = (),
    buffer_control: Collection[object] = (),
    entity: str = "entity",
    period: str = "period",
    count: str = "count",
    offence: str | None = None,
    harm_weights: Mapping[str, float] | None = None,
    exposure: str | None = None,
    comparable_control: bool = True,
    randomised: bool = False,
    overdispersion: float = 1.0,
    confidence: float = 0.95,
    polarity: Polarity = "negative",
    name: str = "initiative",
) -> InitiativeEvaluation:
    """Evaluate a place-based initiative from a tidy panel of crime counts.

    Parameters
    ----------
    data
        Long frame, one row per (entity, period[, offence]) with a count column.
    treated, control, buffer, buffer_control
        Entity labels of the target area, its control area(s), the displacement buffer and
        the buffer's own control. Each group's counts are summed. They must not overlap.
    before, after
        Period labels of the before and after phases (must not overlap). When they have a
        different number of periods, statistics that depend on it use rates per period and
        say so.
    entity, period, count
        Column names [count column: count of recorded crimes].
    offence
        Column with the offence type, when the frame has one row per offence.
    harm_weights
        Harm weight per offence type [harm units per crime]; needs ``offence``. Every
        statistic then uses harm-weighted totals and their Poisson variances.
    exposure
        Column with the population at risk per entity and period [inhabitants]; the rate
        ratio tests then use population × periods as exposure. Without it the exposure is
        the number of periods.
    comparable_control, randomised
        Design facts used for the Maryland SMS level.
    overdispersion
        Factor multiplying Var(ln RES) [unitless].
    confidence
        Confidence level [unitless, 0–1].
    polarity
        ``"negative"`` for crime counts.
    name
        Name of the initiative in summaries and tables.

    Returns
    -------
    InitiativeEvaluation

    Raises
    ------
    SpecError
        Overlapping area or period definitions; harm weights without an offence column.
    DataError
        Missing columns, unknown entities, periods with no data, missing (entity, period)
        rows, negative or missing counts, offence types without a weight.

    Examples
    --------
    >>> frame = pd.DataFrame({"entity": ["t", "t", "c", "c"], "period": [1, 2, 1, 2],
    ...                       "count": [50, 30, 60, 55]})
    >>> ev = evaluate_initiative(frame, treated=["t"], control=["c"], before=[1], after=[2])
    >>> round(ev.relative_effect.estimate, 4)
    1.5278
    """
    check_polarity(polarity)
    check_confidence(confidence)
    groups = {
        "treated": _as_label_list(treated, "treated"),
        "control": _as_label_list(control, "control"),
        "buffer": _as_label_list(buffer, "buffer"),
        "buffer_control": _as_label_list(buffer_control, "buffer_control"),
    }
    if not groups["treated"]:
        raise SpecError("treated must name at least one area")
    if groups["buffer_control"] and not groups["buffer"]:
        raise SpecError("buffer_control is given but buffer is empty; name the buffer area(s)")
    phases = {"before": _as_label_list(before, "before"), "after": _as_label_list(after, "after")}
    if not phases["before"] or not phases["after"]:
        raise SpecError("before and after must each name at least one period")
    _check_disjoint(groups, "area(s)")
    _check_disjoint(phases, "period(s)")
    if harm_weights is not None and offence is None:
        raise SpecError(
            "harm_weights need an offence column (one row per entity, period and offence "
            "type); pass offence='<column>'"
        )
    needed = [entity, period, count] + [c for c in (offence, exposure) if c is not None]
    missing_cols = [c for c in needed if c not in data.columns]
    if missing_cols:
        raise DataError(
            f"missing column(s) {missing_cols}; the frame has {list(data.columns)}. Name the "
            "columns with entity=, period=, count=, offence=, exposure="
        )

    ent = _labels(data[entity])
    per = _labels(data[period])
    role_of = {e: role for role, members in groups.items() for e in members}
    phase_of = {p: ph for ph, members in phases.items() for p in members}
    known = set(ent.unique())
    unknown = sorted(set(role_of) - known)
    if unknown:
        raise DataError(
            f"area(s) {unknown} do not appear in column '{entity}'; check their spelling",
            column=entity,
        )
    role = ent.map(role_of)
    phase = per.map(phase_of)
    chosen = role.notna() & phase.notna()
    # periods with no data at all for the chosen areas
    present = set(per[role.notna()].unique())
    empty = {ph: [p for p in members if p not in present] for ph, members in phases.items()}
    for ph, periods in empty.items():
        if periods:
            hint = (
                "a baseline (before) period needs data"
                if ph == "before"
                else "drop them or extend the data"
            )
            raise DataError(
                f"{ph} period(s) {periods} have no data for the chosen areas; {hint}",
                column=period,
            )
    sub = pd.DataFrame(
        {
            "entity": ent[chosen].to_numpy(),
            "period": per[chosen].to_numpy(),
            "role": role[chosen].to_numpy(),
            "phase": phase[chosen].to_numpy(),
            "n": pd.to_numeric(data.loc[chosen, count], errors="coerce").to_numpy(dtype="float64"),
        }
    )
    bad = ~np.isfinite(sub["n"].to_numpy()) | (sub["n"].to_numpy() < 0)
    if bad.any():
        rows = [f"{e} {p}" for e, p in sub.loc[bad, ["entity", "period"]].itertuples(index=False)]
        raise DataError(
            "counts must be finite and >= 0 (a negative or missing count of crimes is a data "
            "error, not a value to evaluate)",
            column=count,
            rows=rows,
        )
    # every chosen area must have every chosen period
    expected_pairs = pd.MultiIndex.from_product(
        [sorted(role_of), sorted(phase_of)], names=["entity", "period"]
    )
    have = pd.MultiIndex.from_frame(sub[["entity", "period"]].drop_duplicates())
    gaps = expected_pairs.difference(have)
    if len(gaps):
        raise DataError(
            f"{len(gaps)} (area, period) combination(s) have no row; a missing row is not a "
            "zero — add it explicitly if no crime was recorded",
            rows=[f"{e} {p}" for e, p in gaps],
        )
    notes: list[str] = []
    if offence is not None:
        off = data.loc[chosen, offence].astype(str).to_numpy()
        sub["offence"] = off
        if harm_weights is not None:
            missing_w = sorted(set(off) - {str(k) for k in harm_weights})
            if missing_w:
                raise DataError(
                    f"no harm weight for offence type(s) {missing_w}",
                    column=offence,
                )
            weights = {str(k): float(v) for k, v in harm_weights.items()}
            if any(w < 0 for w in weights.values()):
                raise SpecError("harm weights must be >= 0")
            sub["w"] = sub["offence"].map(weights).astype("float64")
            notes.append(
                "Counts are harm-weighted by offence type; every statistic uses weighted totals."
            )
    elif sub.duplicated(["entity", "period"]).any():
        dup = sub.loc[sub.duplicated(["entity", "period"]), ["entity", "period"]]
        raise DataError(
            "several rows for the same (area, period); if the frame has one row per offence "
            "type, name that column with offence=",
            rows=[f"{e} {p}" for e, p in dup.itertuples(index=False)],
        )
    if "w" not in sub:
        sub["w"] = 1.0
    sub["value"] = sub["w"] * sub["n"]
    sub["variance"] = sub["w"] ** 2 * sub["n"]
    agg = sub.groupby(["role", "phase"], sort=False)[["n", "value", "variance"]].sum()

    n_periods = {ph: len(members) for ph, members in phases.items()}
    if exposure is not None:
        pop = pd.DataFrame(
            {
                "entity": ent[chosen].to_numpy(),
                "period": per[chosen].to_numpy(),
                "role": role[chosen].to_numpy(),
                "phase": phase[chosen].to_numpy(),
                "exposure": pd.to_numeric(data.loc[chosen, exposure], errors="coerce").to_numpy(
                    dtype="float64"
                ),
            }
        )
        spread = pop.groupby(["entity", "period"])["exposure"].agg(["min", "max"])
        if (spread["min"] != spread["max"]).any():
            raise DataError(
                "the exposure differs between rows of the same (area, period)",
                column=exposure,
                rows=[f"{e} {p}" for e, p in spread.index[spread["min"] != spread["max"]]],
            )
        pop = pop.drop_duplicates(["entity", "period"])
        ex = pop["exposure"].to_numpy()
        if (~np.isfinite(ex) | (ex <= 0)).any():
            raise DataError(
                "exposure (population) must be > 0",
                column=exposure,
                rows=pop.loc[~np.isfinite(ex) | (ex <= 0), "entity"].tolist(),
            )
        agg["exposure"] = pop.groupby(["role", "phase"], sort=False)["exposure"].sum()
    else:
        idx = agg.index.get_level_values("phase")
        agg["exposure"] = np.array([float(n_periods[p]) for p in idx])
    totals = agg.reset_index().rename(columns={"n": "count"})
    totals["n_periods"] = totals["phase"].map(n_periods).astype("int64")
    totals["rate_per_period"] = totals["value"] / totals["n_periods"]
    order = {"treated": 0, "control": 1, "buffer": 2, "buffer_control": 3}
    totals = (
        totals.assign(
            _r=totals["role"].map(order), _p=totals["phase"].map({"before": 0, "after": 1})
        )
        .sort_values(["_r", "_p"])
        .drop(columns=["_r", "_p"])
        .reset_index(drop=True)
    )

    def cell(r: str, ph: str) -> WeightedCount:
        row = agg.loc[(r, ph)]
        return WeightedCount(float(row["value"]), float(row["variance"]), float(row["n"]))

    def expo(r: str, ph: str) -> float:
        return float(agg.loc[(r, ph), "exposure"])

    if n_periods["before"] != n_periods["after"]:
        notes.append(
            f"The before and after phases have {n_periods['before']} and {n_periods['after']} "
            "periods: the rate ratios use exposure per period and the WDD uses rates per "
            "period; the RES, expected counts and WDQ are ratios within a phase, where the "
            "lengths cancel."
        )
    labels = ("before", "after")
    t0, t1 = cell("treated", "before"), cell("treated", "after")
    treated_rr = rate_ratio_test(
        t0,
        expo("treated", "before"),
        t1,
        expo("treated", "after"),
        confidence=confidence,
        polarity=polarity,
        labels=labels,
    )
    has_control = bool(groups["control"])
    has_buffer = bool(groups["buffer"])
    pre_post = res = control_rr = wdq = wdd = None
    if has_control:
        c0, c1 = cell("control", "before"), cell("control", "after")
        pre_post = pre_post_comparison(t0, t1, c0, c1, confidence=confidence, polarity=polarity)
        res = relative_effect_size(
            t0, t1, c0, c1, overdispersion=overdispersion, confidence=confidence, polarity=polarity
        )
        control_rr = rate_ratio_test(
            c0,
            expo("control", "before"),
            c1,
            expo("control", "after"),
            confidence=confidence,
            polarity=polarity,
            labels=labels,
        )
        b0 = cell("buffer", "before") if has_buffer else 0
        b1 = cell("buffer", "after") if has_buffer else 0
        if has_buffer:
            wdq = weighted_displacement_quotient(t0, t1, b0, b1, c0, c1)
        has_bc = bool(groups["buffer_control"])
        if has_buffer and not has_bc:
            notes.append(
                "No control for the buffer: the WDD covers the treated area only (its "
                "displacement part needs buffer_control); the WDQ uses the main control."
            )
        wdd = weighted_displacement_difference(
            t0,
            t1,
            c0,
            c1,
            b0 if has_bc else 0,
            b1 if has_bc else 0,
            cell("buffer_control", "before") if has_bc else 0,
            cell("buffer_control", "after") if has_bc else 0,
            before_length=n_periods["before"],
            after_length=n_periods["after"],
            confidence=confidence,
        )
    else:
        notes.append(
            "No control area: only the treated area's before/after change can be measured, "
            "which cannot separate the initiative from the general trend."
        )
    kind = (
        "randomised"
        if randomised
        else ("controlled_before_after" if has_control else "before_after")
    )
    sms = maryland_sms_level(
        kind,
        has_control=has_control,
        comparable_control=comparable_control,
        n_treated=len(groups["treated"]),
        n_control=len(groups["control"]),
    )
    return InitiativeEvaluation(
        name=name,
        totals=totals,
        sms=sms,
        treated_rate_ratio=treated_rr,
        pre_post=pre_post,
        relative_effect=res,
        control_rate_ratio=control_rr,
        displacement_quotient=wdq,
        displacement_difference=wdd,
        polarity=polarity,
        notes=tuple(notes),
    )


def evaluate_initiative_spec(
    data: pd.DataFrame,
    spec: InitiativeSpec,
    design: DesignSpec | None = None,
    *,
    entity: str = "entity",
    period: str = "period",
    count: str = "count",
    offence: str | None = None,
    overdispersion: float = 1.0,
    confidence: float = 0.95,
    polarity: Polarity = "negative",
) -> InitiativeEvaluation:
    """:func:`evaluate_initiative` driven by the ``initiative:`` (and ``design:``) blocks."""
    return evaluate_initiative(
        data,
        treated=spec.treated,
        control=spec.control,
        buffer=spec.buffer,
        buffer_control=spec.buffer_control,
        before=spec.before,
        after=spec.after,
        entity=entity,
        period=period,
        count=count,
        offence=spec.offence_column or offence,
        harm_weights=spec.harm_weights,
        exposure=spec.exposure,
        comparable_control=design.comparable_control if design is not None else True,
        randomised=design is not None and design.kind == "randomised",
        overdispersion=overdispersion,
        confidence=confidence,
        polarity=polarity,
        name=spec.name,
    )
