"""Difference-in-differences with staggered adoption: Callaway & Sant'Anna (2021).

When entities start an initiative in different periods, a static two-way fixed-effects
regression compares late adopters with early adopters that are already treated, and
heterogeneous or growing effects then bias it, even to the wrong sign (Goodman-Bacon
2021; de Chaisemartin & D'Haultfœuille 2020). Callaway & Sant'Anna estimate one
average treatment effect on the treated per cohort ``g`` (first treated period) and
period ``t``, each a clean 2×2 comparison of cohort ``g`` with entities not (yet)
treated, and aggregate them:

* **simple**: the overall ATT, every post-treatment ``ATT(g, t)`` weighted by cohort size;
* **event study** (dynamic): ``ATT(e)`` by periods since adoption ``e = t − g``, with
  pre-period placebo coefficients (``e < 0``) and simultaneous confidence bands from the
  multiplier bootstrap;
* **by cohort** (group).

This module implements the unconditional estimator (no covariates), for which the
outcome-regression, inverse-probability and doubly robust variants coincide, with the
analytical influence-function standard errors of the ``did`` R package; it is checked
against the ``csdid`` port to 1e-8 in the tests. Importing it needs only numpy.

References
----------
.. [1] Callaway, B., & Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
   time periods. *Journal of Econometrics*, 225(2), 200–230.
   doi:10.1016/j.jeconom.2020.12.001
.. [2] Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment
   timing. *Journal of Econometrics*, 225(2), 254–277. doi:10.1016/j.jeconom.2021.03.014
.. [3] Mammen, E. (1993). Bootstrap and wild bootstrap for high dimensional linear models.
   *Annals of Statistics*, 21(1), 255–285. doi:10.1214/aos/1176349025
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    EvaluationResult,
    Polarity,
    check_confidence,
    check_polarity,
    fmt,
    fmt_p,
)
from securindex.evaluation.spec import SMSLevel, maryland_sms_level, sms_after_pre_trend_check
from securindex.evaluation.treatment import (
    Outcome,
    StaggeredPanel,
    Treatment,
    TreatmentTiming,
    staggered_panel,
)
from securindex.evaluation.uncertainty import Seed, _rng

__all__ = [
    "IDENTIFYING_ASSUMPTION",
    "StaggeredDiD",
    "callaway_santanna",
]

ControlGroup = Literal["never_treated", "not_yet_treated"]
BasePeriod = Literal["varying", "universal"]

IDENTIFYING_ASSUMPTION = (
    "parallel trends: without the initiative, each cohort's outcome would have moved like "
    "that of the comparison entities, and no entity changed its behaviour before its start "
    "(no anticipation beyond the periods allowed)"
)


@dataclass(frozen=True)
class StaggeredDiD(EvaluationResult):
    """An estimate valid under staggered adoption, with its event-study profile.

    ``estimate`` is the overall average treatment effect on the treated [outcome unit, see
    ``outcome_label``; for ``log`` outcomes a difference in logs ≈ proportional change],
    with ``se``, pointwise CI, ``z`` (the t statistic) and ``p_value``.

    ``event_study`` has one row per periods-since-adoption ``event_time`` (negative:
    placebo periods before the start): ``estimate``, ``se``, pointwise ``ci_low``/``ci_high``
    and simultaneous ``band_low``/``band_high`` (the whole profile is covered with
    probability ``confidence``). ``group_time`` (Callaway–Sant'Anna only) holds every
    ``ATT(g, t)``, ``by_cohort`` the effect per cohort and ``aggregations`` the overall
    summaries (``group``: the cohort-share-weighted mean of the cohort effects, the
    headline ``estimate``; ``simple``: every post-period ``ATT(g, t)`` weighted by cohort
    size; ``dynamic``: the mean of the post-period event-study effects). ``pre_trend_p_value`` is the joint test that all pre-period placebo
    effects are zero.
    """

    measure: ClassVar[str] = "staggered_did"

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    estimator: str
    estimator_label: str
    event_study: pd.DataFrame
    group_time: pd.DataFrame | None
    by_cohort: pd.DataFrame | None
    aggregations: pd.DataFrame | None
    pre_trend_statistic: float
    pre_trend_df: int
    pre_trend_p_value: float
    band_critical_value: float
    control_group: str
    outcome_label: str
    n_entities: int
    n_treated: int
    n_never_treated: int
    cohorts: tuple[Any, ...]
    sms: SMSLevel
    identifying_assumption: str
    confidence: float
    polarity: str
    inference: str = ""
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        level = round(self.confidence * 100)
        significant = self.p_value < 1.0 - self.confidence
        effect = (
            f"overall effect on the treated {fmt(self.estimate, 3)} ({self.outcome_label}; "
            f"{level} % CI {fmt(self.ci_low, 3)} to {fmt(self.ci_high, 3)}, "
            f"{fmt_p(self.p_value)})"
        )
        verdict = "a detectable effect" if significant else "no detectable effect at this level"
        parts = [
            f"{self.estimator_label} ({self.n_treated} treated entities in {len(self.cohorts)} "
            f"cohort{'s' if len(self.cohorts) != 1 else ''}, compared with "
            f"{self.control_group.replace('_', '-')} entities): {effect} — {verdict}."
        ]
        post = self.event_study[self.event_study["event_time"] >= 0]
        if len(post) > 1:
            first, last = post.iloc[0], post.iloc[-1]
            parts.append(
                f"The effect is {fmt(first['estimate'], 3)} in the first period and "
                f"{fmt(last['estimate'], 3)} {int(last['event_time'])} periods after adoption "
                f"({level} % simultaneous bands in the event-study table)."
            )
        if self.pre_trend_df > 0 and math.isfinite(self.pre_trend_p_value):
            ok = self.pre_trend_p_value >= 1.0 - self.confidence
            parts.append(
                f"Pre-period placebo effects ({self.pre_trend_df} tested jointly): "
                f"{fmt_p(self.pre_trend_p_value)} — "
                + (
                    "no evidence against parallel pre-trends (which is not proof of them)."
                    if ok
                    else "the cohorts already diverged before adoption, so parallel trends "
                    "are doubtful and the estimate should not be trusted as causal."
                )
            )
        parts.append(f"Identifying assumption: {self.identifying_assumption}.")
        parts.append(self.sms.summary() + ".")
        return " ".join([*parts, *self.notes])

    def plot(self, ax: Any = None) -> Any:
        """Event-study profile with pointwise CIs and simultaneous bands."""
        from securindex.evaluation.plots import plot_event_study

        return plot_event_study(self, ax=ax)


# --------------------------------------------------------------------------------------
# aggregation of influence functions (the ``aggte`` of the did R package)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Aggregate:
    estimate: float
    influence: np.ndarray  # (n,)


def _weight_influence(member: np.ndarray, pg: np.ndarray, keep_groups: np.ndarray) -> np.ndarray:
    """Influence of estimating the cohort-share weights (``wif`` of Callaway & Sant'Anna).

    ``member`` is (n, n_groups) 0/1; ``keep_groups`` the group index of each kept cell;
    returns (n, n_kept).
    """
    pk = pg[keep_groups]
    total = pk.sum()
    centred = member[:, keep_groups] - pk  # (n, k)
    if1 = centred / total
    if2 = centred.sum(axis=1, keepdims=True) * (pk / total**2)
    return if1 - if2


def _aggregate_cells(
    att: np.ndarray,
    psi: np.ndarray,
    cells: np.ndarray,
    cell_group: np.ndarray,
    member: np.ndarray,
    pg: np.ndarray,
) -> _Aggregate:
    """Cohort-size-weighted mean of the chosen cells, with the weights' own influence."""
    g = cell_group[cells]
    w = pg[g] / pg[g].sum()
    estimate = float(w @ att[cells])
    influence = psi[:, cells] @ w + _weight_influence(member, pg, g) @ att[cells]
    return _Aggregate(estimate, influence)


def _se(influence: np.ndarray) -> np.ndarray:
    n = influence.shape[0]
    return np.sqrt(np.mean(influence**2, axis=0) / n)


def _mammen(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Mammen's two-point multiplier weights: mean 0, variance 1, third moment 1."""
    s5 = math.sqrt(5.0)
    low, high = (1.0 - s5) / 2.0, (1.0 + s5) / 2.0
    p_low = (s5 + 1.0) / (2.0 * s5)
    return np.where(rng.random(size) < p_low, low, high)


def simultaneous_critical_value(
    influence: np.ndarray,
    se: np.ndarray,
    *,
    confidence: float,
    n_bootstrap: int,
    seed: Seed,
) -> float:
    """Critical value of a sup-t band over several estimates (multiplier bootstrap).

    ``influence`` is (n, k) (one column per estimate), ``se`` their standard errors. The
    band ``estimate ± c · se`` covers all k at once with probability ``confidence``.
    """
    ok = se > 0
    if not ok.any():
        return math.nan
    n = influence.shape[0]
    rng = _rng(seed)
    draws = np.empty(n_bootstrap)
    chunk = max(1, min(n_bootstrap, 2_000_000 // max(n, 1)))
    inf = influence[:, ok]
    for start in range(0, n_bootstrap, chunk):  # bounded memory: chunks of replicates
        v = _mammen(rng, (min(chunk, n_bootstrap - start), n))
        dev = (v @ inf) / n
        draws[start : start + len(v)] = np.max(np.abs(dev) / se[ok], axis=1)
    return float(np.quantile(draws, confidence))


# --------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GroupTime:
    group: np.ndarray  # cohort position per cell
    time: np.ndarray  # current period position per cell
    base: np.ndarray  # base period position per cell
    att: np.ndarray
    psi: np.ndarray  # (n, cells)
    n_control: np.ndarray


def _group_time(
    panel: StaggeredPanel, control_group: str, anticipation: int, base_period: str
) -> _GroupTime:
    y, cohort = panel.y, panel.cohort
    n, T = y.shape
    groups = np.unique(cohort[cohort >= 0])
    gs, ts, bs = [], [], []
    for g in groups.tolist():  # a few cohorts × periods: the cell list is small
        post_base = g - anticipation - 1
        if post_base < 0:
            continue
        for t in range(T):
            if base_period == "varying":
                if t == 0:
                    continue
                b = t - 1 if t < g - anticipation else post_base
            else:
                b = post_base
                if t == b:
                    continue
            gs.append(g)
            ts.append(t)
            bs.append(b)
    if not gs:
        raise DataError(
            "no cohort has a period before its start (given the anticipation allowed) to "
            "compare with"
        )
    g_arr, t_arr, b_arr = np.array(gs), np.array(ts), np.array(bs)
    dy = y[:, t_arr] - y[:, b_arr]  # (n, cells)
    treated = cohort[:, None] == g_arr[None, :]
    never = (cohort < 0)[:, None]
    if control_group == "never_treated":
        control = np.broadcast_to(never, treated.shape)
    else:
        later = cohort[:, None] > (np.maximum(t_arr, b_arr) + anticipation)[None, :]
        control = never | (later & ~treated)
    n_t = treated.sum(axis=0).astype("float64")
    n_c = control.sum(axis=0).astype("float64")
    usable = n_c > 0
    if not usable.any():
        raise DataError(
            f"no comparison entities: with control_group='{control_group}' no entity is "
            "untreated when the cohorts start; use 'not_yet_treated' or add never-treated "
            "entities"
        )
    g_arr, t_arr, b_arr = g_arr[usable], t_arr[usable], b_arr[usable]
    dy, treated, control = dy[:, usable], treated[:, usable], control[:, usable]
    n_t, n_c = n_t[usable], n_c[usable]
    mu_t = (dy * treated).sum(axis=0) / n_t
    mu_c = (dy * control).sum(axis=0) / n_c
    att = mu_t - mu_c
    psi = treated * (dy - mu_t) * (n / n_t) - control * (dy - mu_c) * (n / n_c)
    return _GroupTime(g_arr, t_arr, b_arr, att, psi, n_c)


def _wald(estimates: np.ndarray, influence: np.ndarray) -> tuple[float, int, float]:
    """Joint Wald test that all ``estimates`` are 0, from their influence functions."""
    if estimates.size == 0:
        return math.nan, 0, math.nan
    n = influence.shape[0]
    V = influence.T @ influence / n / n
    rank = int(np.linalg.matrix_rank(V))
    if rank == 0:
        return math.nan, 0, math.nan
    stat = float(estimates @ np.linalg.pinv(V) @ estimates)
    return stat, rank, float(stats.chi2.sf(stat, rank))


def callaway_santanna(
    frame: pd.DataFrame,
    *,
    treatment: Treatment | TreatmentTiming,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    exposure: str | None = None,
    rate_scale: float = 100_000.0,
    outcome: Outcome = "level",
    control_group: ControlGroup = "never_treated",
    anticipation: int = 0,
    base_period: BasePeriod = "varying",
    confidence: float = 0.95,
    n_bootstrap: int = 999,
    seed: Seed = 0,
    polarity: Polarity = "negative",
    comparable_control: bool = True,
) -> StaggeredDiD:
    """Callaway & Sant'Anna's group-time ATTs and their aggregations.

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period); the panel must be balanced.
    treatment
        Each entity's first treated period: a column (start period, 0 = never; or a 0/1
        indicator) or a mapping entity → period (see
        :func:`~securindex.evaluation.treatment.treatment_timing`).
    entity, period, value
        Column names [value: count of crimes or another outcome].
    exposure
        Population column [inhabitants]: the outcome becomes a rate per ``rate_scale``.
    rate_scale
        Rate denominator [inhabitants, default 100 000].
    outcome
        ``"level"`` or ``"log"`` (log of the value or rate: effects ≈ proportional).
    control_group
        ``"never_treated"`` (default) or ``"not_yet_treated"`` entities as comparisons.
    anticipation
        Number of periods before its start in which a cohort may already react [periods].
    base_period
        ``"varying"`` (pre-period placebo effects are period-on-period changes, as in the
        ``did`` package) or ``"universal"`` (all relative to the period before the start).
    confidence
        Confidence level [unitless, 0–1].
    n_bootstrap
        Multiplier-bootstrap replicates for the simultaneous band [count].
    seed
        Seed of the band's bootstrap (``int``, ``Generator`` or None).
    polarity
        ``"negative"`` for crime (a negative effect is progress).
    comparable_control
        Whether the comparison entities were shown comparable (Maryland SMS level).

    Returns
    -------
    StaggeredDiD

    Raises
    ------
    DataError
        Unbalanced panel, missing values, no comparison entities, no treated cohort with
        a pre-period.
    SpecError
        Invalid option values.

    Notes
    -----
    For cohort ``g``, period ``t`` and base period ``b`` (``g − δ − 1`` after the start;
    ``t − 1`` before it with a varying base)::

        ATT(g, t) = mean_{G = g}(Y_t − Y_b) − mean_{comparison}(Y_t − Y_b)

    The influence function of entity ``i`` is ``ψ_i = n/n_g · 1{G_i = g}(ΔY_i − μ_g) −
    n/n_c · 1{C_i}(ΔY_i − μ_c)`` and ``se = √(Σ ψ_i²)/n`` [1]_. Aggregations weight cells
    by cohort shares ``P(G = g)`` and add the influence of estimating those shares
    (``wif`` in [1]_). p-values and pointwise intervals are normal; the simultaneous band
    uses the sup-t critical value of a Mammen multiplier bootstrap [3]_ studentised by the
    analytical standard errors. Event time counts periods, not calendar units.

    Examples
    --------
    >>> from securindex.datasets.synthetic import staggered_panel_example
    >>> df = staggered_panel_example(seed=1)
    >>> r = callaway_santanna(df, treatment="first_treated", value="outcome")
    >>> abs(r.estimate - 1.0) < 3 * r.se
    True
    """
    check_confidence(confidence)
    check_polarity(polarity)
    if control_group not in ("never_treated", "not_yet_treated"):
        raise SpecError(
            f"control_group must be 'never_treated' or 'not_yet_treated'; got {control_group!r}"
        )
    if base_period not in ("varying", "universal"):
        raise SpecError(f"base_period must be 'varying' or 'universal'; got {base_period!r}")
    if isinstance(anticipation, bool) or not isinstance(anticipation, int) or anticipation < 0:
        raise SpecError(
            f"anticipation must be a whole number of periods >= 0; got {anticipation!r}"
        )
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 100:
        raise SpecError(f"n_bootstrap must be a whole number >= 100; got {n_bootstrap!r}")
    panel = staggered_panel(
        frame,
        treatment,
        entity=entity,
        period=period,
        value=value,
        exposure=exposure,
        rate_scale=rate_scale,
        outcome=outcome,
        caller="callaway_santanna",
    )
    notes = list(panel.notes)
    if control_group == "never_treated" and not (panel.cohort < 0).any():
        raise DataError(
            "every entity is treated at some point, so there are no never-treated "
            "comparisons; use control_group='not_yet_treated'"
        )
    gt = _group_time(panel, control_group, anticipation, base_period)
    n = panel.n_entities
    groups = np.unique(panel.cohort[panel.cohort >= 0])
    member = (panel.cohort[:, None] == groups[None, :]).astype("float64")
    pg = member.mean(axis=0)
    cell_group = np.searchsorted(groups, gt.group)
    se_cells = _se(gt.psi)
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    post = gt.time >= gt.group
    if not post.any():
        raise DataError("no post-treatment period with comparison entities")

    simple = _aggregate_cells(gt.att, gt.psi, np.flatnonzero(post), cell_group, member, pg)
    # event study (dynamic aggregation)
    event = gt.time - gt.group
    event_times = np.unique(event)
    agg_e = [
        _aggregate_cells(gt.att, gt.psi, np.flatnonzero(event == e), cell_group, member, pg)
        for e in event_times.tolist()
    ]
    est_e = np.array([a.estimate for a in agg_e])
    inf_e = np.column_stack([a.influence for a in agg_e])
    se_e = _se(inf_e)
    crit = simultaneous_critical_value(
        inf_e, se_e, confidence=confidence, n_bootstrap=n_bootstrap, seed=seed
    )
    n_cohorts_e = [len(np.unique(gt.group[event == e])) for e in event_times.tolist()]
    event_study = pd.DataFrame(
        {
            "event_time": event_times.astype("int64"),
            "estimate": est_e,
            "se": se_e,
            "ci_low": est_e - z * se_e,
            "ci_high": est_e + z * se_e,
            "band_low": est_e - crit * se_e,
            "band_high": est_e + crit * se_e,
            "n_cohorts": n_cohorts_e,
        }
    )
    # by cohort (group aggregation): equal weights over each cohort's post periods
    est_g, inf_g = [], []
    for k in range(len(groups)):
        cells = np.flatnonzero(post & (cell_group == k))
        if len(cells) == 0:
            est_g.append(math.nan)
            inf_g.append(np.zeros(n))
            continue
        est_g.append(float(gt.att[cells].mean()))
        inf_g.append(gt.psi[:, cells].mean(axis=1))
    est_g_arr = np.array(est_g)
    inf_g_arr = np.column_stack(inf_g)
    se_g = _se(inf_g_arr)
    periods = panel.periods
    by_cohort = pd.DataFrame(
        {
            "cohort": [periods[g] for g in groups.tolist()],
            "n_entities": member.sum(axis=0).astype("int64"),
            "estimate": est_g_arr,
            "se": se_g,
            "ci_low": est_g_arr - z * se_g,
            "ci_high": est_g_arr + z * se_g,
        }
    )
    group_time = pd.DataFrame(
        {
            "cohort": [periods[g] for g in gt.group.tolist()],
            "period": [periods[t] for t in gt.time.tolist()],
            "base_period": [periods[b] for b in gt.base.tolist()],
            "event_time": event.astype("int64"),
            "estimate": gt.att,
            "se": se_cells,
            "ci_low": gt.att - z * se_cells,
            "ci_high": gt.att + z * se_cells,
            "n_comparison": gt.n_control.astype("int64"),
        }
    )
    # overall summaries: by cohort (the headline, as recommended in [1]_), simple, dynamic
    has_post = np.isfinite(est_g_arr)
    k_post = np.flatnonzero(has_post)
    overall = _aggregate_cells(est_g_arr, inf_g_arr, k_post, np.arange(len(groups)), member, pg)
    e_post = np.flatnonzero(event_times >= 0)
    dynamic = _Aggregate(float(est_e[e_post].mean()), inf_e[:, e_post].mean(axis=1))
    summaries = {"group": overall, "simple": simple, "dynamic": dynamic}
    se_all = {k: float(_se(a.influence[:, None])[0]) for k, a in summaries.items()}
    aggregations = pd.DataFrame(
        {
            "aggregation": list(summaries),
            "estimate": [a.estimate for a in summaries.values()],
            "se": list(se_all.values()),
        }
    )
    aggregations["ci_low"] = aggregations["estimate"] - z * aggregations["se"]
    aggregations["ci_high"] = aggregations["estimate"] + z * aggregations["se"]
    pre_cells = np.flatnonzero(gt.time < gt.group - anticipation)
    stat, df, p_pre = _wald(gt.att[pre_cells], gt.psi[:, pre_cells])
    se = se_all["group"]
    t_stat = overall.estimate / se if se > 0 else math.nan
    n_treated = int((panel.cohort >= 0).sum())
    n_never = int((panel.cohort < 0).sum())
    if n_treated < 10 or (control_group == "never_treated" and n_never < 10):
        notes.append(
            f"Few entities ({n_treated} treated, {n_never} never treated): the "
            "influence-function standard errors are asymptotic and may be too small; read "
            "the p-value with caution."
        )
    sms = maryland_sms_level(
        "panel",
        has_control=True,
        comparable_control=comparable_control,
        n_treated=n_treated,
        n_control=n_never if control_group == "never_treated" else n - 1,
    )
    sms = sms_after_pre_trend_check(sms, None if df == 0 else p_pre >= 1.0 - confidence)
    return StaggeredDiD(
        estimate=overall.estimate,
        se=se,
        ci_low=overall.estimate - z * se,
        ci_high=overall.estimate + z * se,
        z=t_stat,
        p_value=float(2.0 * stats.norm.sf(abs(t_stat))) if math.isfinite(t_stat) else math.nan,
        estimator="callaway_santanna",
        estimator_label="Callaway–Sant'Anna staggered difference-in-differences",
        event_study=event_study,
        group_time=group_time,
        by_cohort=by_cohort,
        aggregations=aggregations,
        pre_trend_statistic=stat,
        pre_trend_df=df,
        pre_trend_p_value=p_pre,
        band_critical_value=crit,
        control_group=control_group,
        outcome_label=panel.outcome_label,
        n_entities=n,
        n_treated=n_treated,
        n_never_treated=n_never,
        cohorts=panel.timing.cohorts,
        sms=sms,
        identifying_assumption=IDENTIFYING_ASSUMPTION,
        confidence=confidence,
        polarity=polarity,
        inference=(
            "influence-function standard errors (did R package, analytical); normal "
            "p-values; simultaneous bands from a Mammen multiplier bootstrap"
        ),
        notes=tuple(notes),
    )
