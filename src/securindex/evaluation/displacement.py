"""Displacement and diffusion of benefits around a treated area: the WDQ and the WDD test.

* :func:`weighted_displacement_quotient` — the WDQ of Bowers & Johnson with its reading and
  the total net effect;
* :func:`weighted_displacement_difference` — the WDD test of Wheeler & Ratcliffe (and its
  exposure-scaled variant for areas of different size).

References
----------
.. [1] Bowers, K. J., & Johnson, S. D. (2003). Measuring the geographical displacement and
   diffusion of benefit effects of crime prevention activity. *Journal of Quantitative
   Criminology*, 19(3), 275–301. doi:10.1023/A:1024909009240
.. [2] Wheeler, A. P., & Ratcliffe, J. H. (2018). A simple weighted displacement difference
   test to evaluate place based crime interventions. *Crime Science*, 7, 11.
   doi:10.1186/s40163-018-0085-5
.. [3] Guerette, R. T. (2009). *Analyzing crime displacement and diffusion*. Problem-Oriented
   Guides for Police, Problem-Solving Tools Series No. 10. Washington, DC: COPS Office.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    CountLike,
    EvaluationResult,
    as_weighted,
    check_confidence,
    crimes_phrase,
    fmt,
    fmt_p,
    significance_phrase,
    two_sided_p,
    z_critical,
)
from securindex.evaluation.dispersion import POISSON, Dispersion, resolve_dispersion

__all__ = [
    "WeightedDisplacementDifference",
    "WeightedDisplacementQuotient",
    "weighted_displacement_difference",
    "weighted_displacement_quotient",
]


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
            f"Counting the buffer, the total net effect is "
            f"{crimes_phrase(self.total_net_effect)} from the control trend (treated area: "
            f"{crimes_phrase(self.treated_net_effect)}; buffer: "
            f"{crimes_phrase(self.buffer_net_effect)})."
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
    ``scaled`` is True for the exposure-scaled variant, where each control's counts were
    rescaled to its area's size (``exposure``) before differencing.
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
    scaled: bool = False
    dispersion: Dispersion = POISSON
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        what = "Exposure-scaled WDD" if self.scaled else "WDD"
        sentence = (
            f"{what} = {fmt(self.estimate, 1)} (se {fmt(self.se, 1)}; {level} % CI "
            f"{fmt(self.ci_low, 1)} to {fmt(self.ci_high, 1)}; z = {fmt(self.z)}, "
            f"{fmt_p(self.p_value)}; {self.dispersion.phrase(short=True)}): in the after period, "
            f"{crimes_phrase(self.crimes_prevented)} from the controls' change, counting "
            f"displacement; the change is {significance_phrase(self.p_value, self.confidence)}."
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
    overdispersion: float | str | Dispersion = 1.0,
    exposure: Mapping[str, float] | None = None,
    size_ratio_warning: float = 3.0,
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
    overdispersion
        Variance factor ``φ`` of the counts [unitless]: multiplies ``Var(WDD)``.
    exposure
        Size of each area — ``{"treated": …, "control": …, "buffer": …,
        "buffer_control": …}`` [inhabitants, km², or any unit shared by all]. When given,
        each control's counts are rescaled to the size of the area it controls for
        (``c × E_treated / E_control``, variance × the square of that factor): the
        exposure-scaled variant, for areas of very different size.
    size_ratio_warning
        Warn when an area's before count (or exposure) is more than this many times its
        control's, or less than its inverse [unitless].

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
    normal p-value and CI, and ``Var`` times ``φ`` for overdispersed counts. The normal
    approximation is poor for very small counts. The WDD subtracts raw counts: a control
    much larger than its treated area weighs its own change in proportion, so the result
    warns, and the exposure-scaled variant compares the areas at the same size.

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
    phi = resolve_dispersion(overdispersion)
    v = np.array([x.value for x in cells])
    var = np.array([x.variance for x in cells]) * phi.value
    notes_size: list[str] = []
    names = {"treated": "treated area", "buffer": "buffer"}
    pairs = [("treated", "control", 0, 2), ("buffer", "buffer_control", 4, 6)]
    if exposure is not None:
        unknown = sorted(set(exposure) - {"treated", "control", "buffer", "buffer_control"})
        if unknown:
            raise SpecError(
                f"exposure keys must be treated, control, buffer, buffer_control; got {unknown}"
            )
        for area, control, _, j in pairs:
            if control not in exposure or area not in exposure:
                continue
            e_a, e_c = float(exposure[area]), float(exposure[control])
            if not (math.isfinite(e_a) and math.isfinite(e_c) and e_a > 0 and e_c > 0):
                raise DataError(f"exposure of {area} and {control} must be > 0")
            k = e_a / e_c
            v[j : j + 2] *= k
            var[j : j + 2] *= k**2
    for area, control, i, j in pairs:
        base_a, base_c = v[i], v[j]
        if base_a > 0 and base_c > 0:
            ratio = base_c / base_a
            if ratio > size_ratio_warning or ratio < 1.0 / size_ratio_warning:
                fix = (
                    ""
                    if exposure is not None
                    else " Give each area's size (exposure=…) for the exposure-scaled WDD, or "
                    "choose a control of similar size."
                )
                notes_size.append(
                    f"Before the initiative the {control.replace('_', ' ')} recorded "
                    f"{fmt(ratio, 1)} times as many crimes as the {names[area]}: the WDD "
                    "subtracts raw counts, so the control's own change weighs in that "
                    f"proportion.{fix}"
                )
    scale = np.array([L0, L1] * 4)
    rate = v / scale
    rate_var = var / scale**2
    notes: list[str] = list(notes_size)
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
        scaled=exposure is not None,
        dispersion=phi,
        notes=tuple(notes),
    )
