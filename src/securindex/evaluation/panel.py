"""Panel designs: difference-in-differences and interrupted time series (statsmodels).

Both take a long (tidy) DataFrame with entity, period and value columns named by
parameters, build the design matrix with numpy/pandas and fit it with statsmodels, which
is an optional extra (``pip install securindex[stats]``) imported only inside the
functions.

* :func:`difference_in_differences` — two-way fixed effects (entity and period) with a
  treated × post term, cluster-robust standard errors by entity; ``model="poisson"`` fits
  counts with ``log(population)`` as offset. A pre-trend check
  (:func:`pre_trend_test`) and a placebo (:func:`placebo_test`) come with it.
* :func:`interrupted_time_series` — segmented regression of one (summed) series: level and
  slope change at the intervention, with Newey–West (HAC) standard errors.

References
----------
.. [1] Angrist, J. D., & Pischke, J.-S. (2009). *Mostly Harmless Econometrics*, ch. 5.
   Princeton University Press.
.. [2] Bertrand, M., Duflo, E., & Mullainathan, S. (2004). How much should we trust
   differences-in-differences estimates? *Quarterly Journal of Economics*, 119(1),
   249–275. doi:10.1162/003355304772839588
.. [3] Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust
   inference. *Journal of Human Resources*, 50(2), 317–372. doi:10.3368/jhr.50.2.317
.. [4] Wagner, A. K., Soumerai, S. B., Zhang, F., & Ross-Degnan, D. (2002). Segmented
   regression analysis of interrupted time series studies in medication use research.
   *Journal of Clinical Pharmacy and Therapeutics*, 27(4), 299–309.
.. [5] Newey, W. K., & West, K. D. (1994). Automatic lag selection in covariance matrix
   estimation. *Review of Economic Studies*, 61(4), 631–653.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

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

__all__ = [
    "Coefficient",
    "DifferenceInDifferences",
    "InterruptedTimeSeries",
    "PreTrendTest",
    "difference_in_differences",
    "interrupted_time_series",
    "placebo_test",
    "pre_trend_test",
]

Model = Literal["ols", "poisson"]


def _statsmodels() -> Any:
    try:
        import statsmodels.api as sm
    except ImportError as exc:  # pragma: no cover - the test environment has statsmodels
        raise ImportError(
            "panel designs (difference-in-differences, interrupted time series) need "
            "statsmodels: pip install securindex[stats]"
        ) from exc
    return sm


@dataclass(frozen=True)
class Coefficient:
    """One regression coefficient with its (robust) inference [unit of the outcome, or log
    rate ratio for Poisson models]."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float


def _coefficient(fit: Any, name: str, confidence: float) -> Coefficient:
    params = fit.params
    ci = fit.conf_int(alpha=1.0 - confidence)
    return Coefficient(
        estimate=float(params[name]),
        se=float(fit.bse[name]),
        ci_low=float(ci.loc[name].iloc[0]),
        ci_high=float(ci.loc[name].iloc[1]),
        z=float(fit.tvalues[name]),
        p_value=float(fit.pvalues[name]),
    )


def _cluster_coefficient(
    fit: Any, name: str, confidence: float, *, n_clusters: int, n_nested: int, use_t: bool
) -> Coefficient:
    """Coefficient with CR1 cluster-robust inference in fixest's convention, t(G − 1).

    statsmodels scales the cluster covariance by ``G/(G−1) · (N−1)/(N−K)`` with ``K`` all
    columns of the dummy design. fixest, pyfixest and Stata's ``reghdfe`` do not count
    fixed effects nested in the clusters (the entity effects, clustered by entity) beyond
    one, so ``K_nested = K − n_nested``; the covariance is rescaled to that convention and
    the t statistic referred to Student's t with ``G − 1`` degrees of freedom
    (Cameron & Miller 2015, section VI) for linear models; Poisson models use the normal,
    as fixest and Stata's ``poisson, vce(cluster)`` do (``use_t=False``).
    """
    n_obs = float(fit.nobs)
    k_full = float(len(fit.params))
    rescale = (n_obs - k_full) / (n_obs - (k_full - n_nested))
    se = float(fit.bse[name]) * math.sqrt(rescale)
    est = float(fit.params[name])
    df = n_clusters - 1 if use_t else math.inf
    t = est / se if se > 0 else math.nan
    q = float(_t_ppf(0.5 + confidence / 2.0, df))
    p = float(2.0 * _t_sf(abs(t), df)) if math.isfinite(t) else math.nan
    return Coefficient(
        estimate=est, se=se, ci_low=est - q * se, ci_high=est + q * se, z=t, p_value=p
    )


def _t_ppf(q: float, df: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q) if math.isinf(df) else stats.t.ppf(q, df))


def _t_sf(x: float, df: float) -> float:
    from scipy import stats

    return float(stats.norm.sf(x) if math.isinf(df) else stats.t.sf(x, df))


def _significance(p: float, confidence: float) -> str:
    return "statistically significant" if p < 1.0 - confidence else "not statistically significant"


# --------------------------------------------------------------------------------------
# input checks and design matrices
# --------------------------------------------------------------------------------------


def _prepare(
    frame: pd.DataFrame,
    *,
    entity: str,
    period: str,
    value: str,
    exposure: str | None,
    model: str,
    caller: str,
) -> pd.DataFrame:
    if model not in ("ols", "poisson"):
        raise SpecError(f"{caller}: model must be 'ols' or 'poisson'; got {model!r}")
    cols = [entity, period, value] + ([exposure] if exposure else [])
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"{caller}: missing column(s) {missing}; the frame has {list(frame.columns)}. "
            "Name them with entity=, period=, value=, exposure="
        )
    data = frame[cols].copy()
    data[value] = pd.to_numeric(data[value], errors="coerce").astype("float64")
    bad = ~np.isfinite(data[value].to_numpy())
    if bad.any():
        raise DataError(
            f"{caller}: {int(bad.sum())} missing or non-numeric value(s); drop those rows or "
            "impute them first",
            column=value,
            rows=data.loc[bad, [entity, period]].astype(str).agg(" ".join, axis=1).tolist(),
        )
    if model == "poisson" and (data[value] < 0).any():
        raise DataError(f"{caller}: a Poisson model needs counts >= 0", column=value)
    if exposure:
        data[exposure] = pd.to_numeric(data[exposure], errors="coerce").astype("float64")
        ex = data[exposure].to_numpy()
        if (~np.isfinite(ex) | (ex <= 0)).any():
            raise DataError(
                f"{caller}: exposure (population) must be > 0 in every row",
                column=exposure,
                rows=data.loc[~np.isfinite(ex) | (ex <= 0), entity].astype(str).tolist(),
            )
    dup = data.duplicated([entity, period])
    if dup.any():
        raise DataError(
            f"{caller}: several rows for the same (entity, period); aggregate them first",
            rows=data.loc[dup, [entity, period]].astype(str).agg(" ".join, axis=1).tolist(),
        )
    return data


def _label_set(values: Collection[object]) -> set[str]:
    if isinstance(values, (str, int)):
        values = [values]
    return {str(v) for v in values}


def _sorted_periods(series: pd.Series) -> np.ndarray:
    return np.sort(series.unique())


def _fit(
    sm: Any,
    y: np.ndarray,
    X: pd.DataFrame,
    *,
    model: str,
    offset: np.ndarray | None,
    cov_type: str,
    cov_kwds: dict[str, Any],
) -> Any:
    if model == "ols":
        return sm.OLS(y, X).fit(cov_type=cov_type, cov_kwds=cov_kwds)
    return sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit(
        cov_type=cov_type, cov_kwds=cov_kwds
    )


def _fixed_effects(codes: pd.Series, prefix: str) -> pd.DataFrame:
    """Dummies for all levels but the first (the constant takes the first)."""
    return pd.get_dummies(codes, prefix=prefix, drop_first=True, dtype="float64")


def _outcome(
    data: pd.DataFrame, value: str, exposure: str | None, model: str, rate_scale: float
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    notes: list[str] = []
    y = data[value].to_numpy(dtype="float64")
    offset = None
    if exposure is not None:
        ex = data[exposure].to_numpy(dtype="float64")
        if model == "poisson":
            offset = np.log(ex)
            notes.append(f"Poisson model with log({exposure}) as offset: effects are rate ratios.")
        else:
            y = y / ex * rate_scale
            notes.append(f"Outcome analysed as a rate per {rate_scale:,.0f} {exposure}.")
    return y, offset, notes


# --------------------------------------------------------------------------------------
# difference in differences
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreTrendTest(EvaluationResult):
    """Do treated and control entities already diverge before the intervention?

    ``estimate`` is the difference in linear trend per period between treated and control
    entities in the pre-intervention periods [unit of the outcome per period; log rate
    ratio per period for Poisson]. ``passed`` is True when it is not significant at the
    chosen level — no evidence against parallel trends (which is not proof of them).
    """

    measure: ClassVar[str] = "pre_trend"
    _internal: ClassVar[tuple[str, ...]] = ("fit",)

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    passed: bool
    n_pre_periods: int
    model: str
    confidence: float
    fit: Any = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        verdict = (
            "no evidence that treated and control entities were already diverging"
            if self.passed
            else "treated and control entities were already diverging before the "
            "intervention, so the parallel-trends assumption is doubtful"
        )
        return (
            f"Pre-trend check over {self.n_pre_periods} pre-intervention periods: differential "
            f"trend {fmt(self.estimate, 3)} per period ({fmt_p(self.p_value)}): {verdict}."
        )


@dataclass(frozen=True)
class DifferenceInDifferences(EvaluationResult):
    """Two-way fixed-effects difference-in-differences estimate.

    ``estimate`` is the treated × post coefficient [unit of the outcome for OLS (a rate
    when ``exposure`` is given); log rate ratio for Poisson], with cluster-robust (by
    entity) ``se``, CI, ``z`` (the t statistic) and ``p_value`` (Student's t with
    ``n_entities − 1`` degrees of freedom). For Poisson models ``rate_ratio`` =
    exp(estimate) and ``percent_change`` = (rate_ratio − 1) × 100 [%].

    With a staggered roll-out (one start period per entity) ``robust`` holds the
    Callaway–Sant'Anna estimate (:class:`~securindex.evaluation.staggered.StaggeredDiD`)
    and ``twfe_weights`` the weights this static coefficient puts on each treated
    observation (:class:`~securindex.evaluation.event_study.TWFEWeights`); the summary
    leads with the warning and the robust estimate.
    """

    measure: ClassVar[str] = "difference_in_differences"
    _internal: ClassVar[tuple[str, ...]] = ("fit",)

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    model: str
    rate_ratio: float
    rate_ratio_ci_low: float
    rate_ratio_ci_high: float
    percent_change: float
    n_obs: int
    n_entities: int
    n_treated: int
    n_periods: int
    n_pre_periods: int
    n_post_periods: int
    intervention: str
    sms: SMSLevel
    pre_trend: PreTrendTest | None
    confidence: float
    polarity: str
    placebo: bool = False
    robust: Any = None
    twfe_weights: Any = None
    notes: tuple[str, ...] = ()
    fit: Any = field(default=None, repr=False, compare=False)

    def _test_phrase(self) -> str:
        if self.model == "ols":
            return (
                f"t = {fmt(self.z)}, {fmt_p(self.p_value)} (Student's t with "
                f"{self.n_entities - 1} degrees of freedom, standard errors clustered by entity)"
            )
        return f"z = {fmt(self.z)}, {fmt_p(self.p_value)} (standard errors clustered by entity)"

    def summary(self) -> str:
        level = round(self.confidence * 100)
        what = "Placebo difference-in-differences" if self.placebo else "Difference-in-differences"
        if self.model == "poisson":
            effect = (
                f"the treated entities' crime rate changed by {fmt(self.percent_change, 1)} % "
                f"relative to the controls (rate ratio {fmt(self.rate_ratio, 3)}, {level} % CI "
                f"{fmt(self.rate_ratio_ci_low, 3)} to {fmt(self.rate_ratio_ci_high, 3)})"
            )
        else:
            effect = (
                f"the treated entities changed by {fmt(self.estimate, 3)} relative to the "
                f"controls ({level} % CI {fmt(self.ci_low, 3)} to {fmt(self.ci_high, 3)})"
            )
        staggered = self.intervention == "staggered"
        timing = (
            f"{self.n_pre_periods} periods before the first start, staggered starts after"
            if staggered
            else f"{self.n_pre_periods} periods before and {self.n_post_periods} from "
            f"{self.intervention}"
        )
        sentence = (
            f"{what} ({self.n_treated} treated of {self.n_entities} entities, {timing}): "
            f"{effect}; {self._test_phrase()} — {_significance(self.p_value, self.confidence)}."
        )
        # a staggered roll-out: the warning and the robust estimate come first
        lead = [n for n in self.notes if n.startswith(_STAGGERED_WARNING)]
        rest = [n for n in self.notes if not n.startswith(_STAGGERED_WARNING)]
        parts = [*lead, sentence]
        if self.pre_trend is not None:
            parts.append(self.pre_trend.summary())
        parts.append(f"Identifying assumption: {DID_ASSUMPTION}.")
        parts.append(self.sms.summary() + ".")
        return " ".join([*parts, *rest])


_STAGGERED_WARNING = "Treatment started at different times (a staggered roll-out)"

DID_ASSUMPTION = (
    "parallel trends: without the initiative the treated entities' outcome would have moved "
    "like the controls' (same change over time, whatever their levels), and the effect is "
    "the same for every treated entity and period (else see the staggered estimators)"
)


def _did_frame(
    frame: pd.DataFrame,
    treated: Collection[object] | None,
    intervention: object,
    entity: str,
    period: str,
    value: str,
    exposure: str | None,
    model: str,
    caller: str,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, dict[str, object] | None]:
    """Validated data, treated-entity mask, treatment indicator D_it, labels, starts.

    ``intervention`` is one first treated period for every treated entity, or a mapping /
    Series ``entity → first treated period`` (a staggered roll-out; ``treated`` may then
    be omitted). The last element is that mapping (None for a common date).
    """
    data = _prepare(
        frame,
        entity=entity,
        period=period,
        value=value,
        exposure=exposure,
        model=model,
        caller=caller,
    )
    labels = data[entity].astype(str)
    starts: dict[str, object] | None = None
    if isinstance(intervention, (Mapping, pd.Series)):
        starts = {
            str(k): v
            for k, v in dict(intervention).items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
        if treated is not None and _label_set(treated) != set(starts):
            raise SpecError(
                f"{caller}: with one start period per entity, 'treated' must name the same "
                f"entities as the starts (or be omitted); starts given for {sorted(starts)}, "
                f"treated {sorted(_label_set(treated))}"
            )
        wanted = set(starts)
    elif treated is None:
        raise SpecError(
            f"{caller}: name the treated entities (treated=[...]) or give one start period "
            "per entity (intervention={entity: period})"
        )
    else:
        wanted = _label_set(treated)
    unknown = sorted(wanted - set(labels.unique()))
    if unknown:
        raise DataError(f"{caller}: treated entit(ies) {unknown} not in the data", column=entity)
    is_treated = labels.isin(wanted).to_numpy()
    if is_treated.all():
        raise DataError(f"{caller}: every entity is treated; a control group is needed")
    periods = data[period]
    try:
        if starts is None:
            on = is_treated & (periods >= intervention).to_numpy()
        else:
            start = labels.map(starts)
            on = np.zeros(len(data), dtype=bool)
            rows = start.notna().to_numpy()
            on[rows] = (periods[rows].to_numpy() >= start[rows].to_numpy()).astype(bool)
    except TypeError:
        shown = intervention if starts is None else sorted(set(map(str, starts.values())))
        raise SpecError(
            f"{caller}: the intervention period(s) {shown!r} cannot be compared with the "
            f"period column (dtype {periods.dtype})"
        ) from None
    treated_rows = on[is_treated]
    if treated_rows.all() or not treated_rows.any():
        what = "pre" if treated_rows.all() else "post"
        raise DataError(
            f"{caller}: the intervention period(s) leave the treated entities no "
            f"{what}-intervention periods in the data"
        )
    return data, is_treated, on, labels.to_numpy(), starts


def pre_trend_test(
    frame: pd.DataFrame,
    *,
    treated: Collection[object] | None,
    intervention: object,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    exposure: str | None = None,
    model: Model = "ols",
    rate_scale: float = 100_000.0,
    confidence: float = 0.95,
) -> PreTrendTest:
    """Test for a differential linear pre-trend between treated and control entities.

    Fits, on the periods before ``intervention`` only, ``y ~ entity FE + period FE +
    treated × t`` with ``t`` the period's rank, and tests the ``treated × t`` coefficient
    with standard errors clustered by entity. Parameters are those of
    :func:`difference_in_differences`.

    Returns
    -------
    PreTrendTest

    Raises
    ------
    DataError
        Fewer than two pre-intervention periods.
    """
    sm = _statsmodels()
    check_confidence(confidence)
    data, is_treated, _on, labels, starts = _did_frame(
        frame, treated, intervention, entity, period, value, exposure, model, "pre_trend_test"
    )
    if starts is not None:
        raise SpecError(
            "pre_trend_test needs one common intervention period; for a staggered roll-out "
            "use the pre-period placebo effects of staggered_did (event study)"
        )
    pre = (data[period] < intervention).to_numpy()
    data = data.loc[pre].reset_index(drop=True)
    is_treated = is_treated[pre]
    labels = labels[pre]
    periods = _sorted_periods(data[period])
    if len(periods) < 2:
        raise DataError(
            "pre_trend_test: at least two pre-intervention periods are needed to compare trends"
        )
    rank = pd.Series(np.searchsorted(periods, data[period].to_numpy()), dtype="float64")
    y, offset, _ = _outcome(data, value, exposure, model, rate_scale)
    X = pd.concat(
        [
            pd.Series(1.0, index=data.index, name="const"),
            pd.Series(is_treated * rank.to_numpy(), index=data.index, name="treated_trend"),
            _fixed_effects(pd.Series(labels), "entity"),
            _fixed_effects(data[period].astype(str), "period"),
        ],
        axis=1,
    )
    groups = pd.factorize(labels)[0]
    fit = _fit(
        sm, y, X, model=model, offset=offset, cov_type="cluster", cov_kwds={"groups": groups}
    )
    n_groups = int(groups.max()) + 1
    c = _cluster_coefficient(
        fit,
        "treated_trend",
        confidence,
        n_clusters=n_groups,
        n_nested=n_groups - 1,
        use_t=model == "ols",
    )
    return PreTrendTest(
        estimate=c.estimate,
        se=c.se,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
        z=c.z,
        p_value=c.p_value,
        passed=c.p_value >= 1.0 - confidence,
        n_pre_periods=len(periods),
        model=model,
        confidence=confidence,
        fit=fit,
    )


def difference_in_differences(
    frame: pd.DataFrame,
    *,
    treated: Collection[object] | None = None,
    intervention: object,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    exposure: str | None = None,
    model: Model = "ols",
    rate_scale: float = 100_000.0,
    check_pre_trend: bool = True,
    comparable_control: bool = True,
    confidence: float = 0.95,
    polarity: Polarity = "negative",
) -> DifferenceInDifferences:
    """Difference-in-differences on a panel of many entities (two-way fixed effects).

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period).
    treated
        Labels of the treated entities (compared as text); all others are controls. May be
        omitted when ``intervention`` maps entities to their start periods.
    intervention
        First period under treatment: periods ``>= intervention`` are post. A mapping or
        Series ``entity → first treated period`` describes a staggered roll-out: the
        static coefficient is then reported with a warning, its TWFE weights and the
        Callaway–Sant'Anna estimate (for Poisson models on log rates).
    entity, period, value
        Column names [value: count of crimes, or any outcome for OLS].
    exposure
        Column with the population at risk [inhabitants]. Poisson: ``log(exposure)`` is the
        offset. OLS: the outcome becomes ``value / exposure × rate_scale``.
    model
        ``"ols"`` (linear, effect in the outcome's unit) or ``"poisson"`` (counts, effect as
        a rate ratio).
    rate_scale
        Rate denominator for OLS with exposure [inhabitants, default 100 000].
    check_pre_trend
        Also run :func:`pre_trend_test` (needs two or more pre periods).
    comparable_control
        Whether the controls were shown comparable (for the Maryland SMS level).
    confidence
        Confidence level [unitless, 0–1].
    polarity
        ``"negative"`` for crime: a negative estimate is then progress.

    Returns
    -------
    DifferenceInDifferences

    Raises
    ------
    DataError
        Missing columns or values, duplicated rows, unknown treated entities, no control
        entity, no pre or post periods, non-positive exposure, negative counts (Poisson).
    ImportError
        statsmodels is not installed (``pip install securindex[stats]``).

    Notes
    -----
    ``y_it = α_i + γ_t + δ · D_i · Post_t + ε_it``, fitted by OLS or Poisson GLM (with
    ``log(pop_it)`` offset), ``δ`` with cluster-robust (CR1) standard errors by entity
    [2]_ [3]_: ``G/(G−1) · (N−1)/(N−K)`` with ``K`` counting the slopes and the period
    effects but not the entity effects nested in the entity clusters (fixest / pyfixest
    ``ssc(k_fixef="nonnested")``, Stata ``reghdfe``), and p-values and intervals from
    Student's t with ``G − 1`` degrees of freedom for OLS (normal for Poisson, as fixest
    and Stata do). With few treated clusters (fewer than about 10) those standard errors
    are too small; the result says so.

    References
    ----------
    .. [2] Bertrand, Duflo & Mullainathan (2004), doi:10.1162/003355304772839588
    .. [3] Cameron & Miller (2015), doi:10.3368/jhr.50.2.317
    """
    sm = _statsmodels()
    check_confidence(confidence)
    check_polarity(polarity)
    data, is_treated, on, labels, starts = _did_frame(
        frame,
        treated,
        intervention,
        entity,
        period,
        value,
        exposure,
        model,
        "difference_in_differences",
    )
    y, offset, notes = _outcome(data, value, exposure, model, rate_scale)
    X = pd.concat(
        [
            pd.Series(1.0, index=data.index, name="const"),
            pd.Series(on.astype("float64"), index=data.index, name="did"),
            _fixed_effects(pd.Series(labels, index=data.index), "entity"),
            _fixed_effects(data[period].astype(str), "period"),
        ],
        axis=1,
    )
    groups = pd.factorize(labels)[0]
    fit = _fit(
        sm, y, X, model=model, offset=offset, cov_type="cluster", cov_kwds={"groups": groups}
    )
    n_groups = int(groups.max()) + 1
    c = _cluster_coefficient(
        fit, "did", confidence, n_clusters=n_groups, n_nested=n_groups - 1, use_t=model == "ols"
    )
    n_treated = len(set(labels[is_treated]))
    n_entities = len(set(labels))
    periods = _sorted_periods(data[period])
    first_start = intervention if starts is None else min(starts.values())  # type: ignore[type-var]
    n_pre = int(np.sum(periods < first_start))
    robust: Any = None
    twfe_diagnostic: Any = None
    staggered = starts is not None and len(set(map(str, starts.values()))) > 1
    if staggered:
        from securindex.evaluation.event_study import staggered_did, twfe_weights

        assert starts is not None
        timing = dict(starts)
        outcome_kw = {
            "entity": entity,
            "period": period,
            "value": value,
            "exposure": exposure,
            "rate_scale": rate_scale,
            "outcome": "log" if model == "poisson" else "level",
        }
        try:
            twfe_diagnostic = twfe_weights(
                frame, treatment=timing, entity=entity, period=period, value=value
            )
            robust = staggered_did(
                frame,
                treatment=timing,
                estimator="callaway_santanna",
                confidence=confidence,
                polarity=polarity,
                comparable_control=comparable_control,
                **outcome_kw,  # type: ignore[arg-type]
            )
        except DataError as exc:
            notes.append(
                "Treatment started at different times, but the staggered-adoption estimate "
                f"could not be computed: {exc}"
            )
        notes.insert(
            0,
            f"{_STAGGERED_WARNING}: this static two-way fixed-effects coefficient is not a "
            "valid average effect (Goodman-Bacon 2021)."
            + (f" {twfe_diagnostic.summary()}" if twfe_diagnostic is not None else "")
            + (
                f" The staggered-adoption estimate (Callaway–Sant'Anna, on "
                f"{robust.outcome_label}) is {fmt(robust.estimate, 3)} ({round(confidence * 100)} "
                f"% CI {fmt(robust.ci_low, 3)} to {fmt(robust.ci_high, 3)}, "
                f"{fmt_p(robust.p_value)}): report that one, see `robust`."
                if robust is not None
                else ""
            ),
        )
        if check_pre_trend:
            notes.append(
                "With staggered starts the linear pre-trend check does not apply; the "
                "robust estimate's pre-period placebo effects test parallel trends instead."
            )
        check_pre_trend = False
    if n_treated < 10:
        notes.append(
            f"Only {n_treated} treated entit{'y' if n_treated == 1 else 'ies'}: cluster-robust "
            "standard errors are unreliable with few treated clusters (Cameron & Miller 2015); "
            "read the p-value with caution or use a randomisation/placebo check."
        )
    counts = data.groupby(labels).size()
    if counts.nunique() > 1:
        notes.append("The panel is unbalanced (entities have different numbers of periods).")
    pre_trend = None
    if check_pre_trend:
        if n_pre >= 2:
            pre_trend = pre_trend_test(
                frame,
                treated=treated,
                intervention=intervention,
                entity=entity,
                period=period,
                value=value,
                exposure=exposure,
                model=model,
                rate_scale=rate_scale,
                confidence=confidence,
            )
        else:
            notes.append("Only one pre-intervention period: parallel pre-trends cannot be checked.")
    if model == "poisson":
        rr, lo, hi = math.exp(c.estimate), math.exp(c.ci_low), math.exp(c.ci_high)
        pct = (rr - 1.0) * 100.0
    else:
        rr = lo = hi = pct = math.nan
    sms = maryland_sms_level(
        "panel",
        has_control=True,
        comparable_control=comparable_control,
        n_treated=n_treated,
        n_control=n_entities - n_treated,
    )
    sms = sms_after_pre_trend_check(sms, None if pre_trend is None else pre_trend.passed)
    if model == "poisson":
        phi = float(fit.pearson_chi2 / fit.df_resid) if fit.df_resid > 0 else math.nan
        if math.isfinite(phi):
            notes.append(
                f"Pearson dispersion of the Poisson fit {phi:.3g}"
                + (
                    " (overdispersed counts): the cluster-robust standard errors do not "
                    "assume Poisson variance, so they remain valid; a non-robust Poisson test "
                    "would overstate the evidence."
                    if phi > 1.5
                    else "."
                )
            )
    return DifferenceInDifferences(
        estimate=c.estimate,
        se=c.se,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
        z=c.z,
        p_value=c.p_value,
        model=model,
        rate_ratio=rr,
        rate_ratio_ci_low=lo,
        rate_ratio_ci_high=hi,
        percent_change=pct,
        n_obs=len(data),
        n_entities=n_entities,
        n_treated=n_treated,
        n_periods=len(periods),
        n_pre_periods=n_pre,
        n_post_periods=len(periods) - n_pre,
        intervention=str(intervention) if starts is None else "staggered",
        sms=sms,
        pre_trend=pre_trend,
        robust=robust,
        twfe_weights=twfe_diagnostic,
        confidence=confidence,
        polarity=polarity,
        notes=tuple(notes),
        fit=fit,
    )


def placebo_test(
    frame: pd.DataFrame,
    *,
    treated: Collection[object],
    intervention: object,
    placebo_intervention: object,
    period: str = "period",
    **kwargs: Any,
) -> DifferenceInDifferences:
    """Difference-in-differences with a fake intervention date inside the pre period.

    Only the periods before the real ``intervention`` are used, and ``placebo_intervention``
    plays its part. A significant "effect" there signals diverging trends or anticipation,
    not an initiative. Other keyword arguments go to :func:`difference_in_differences`.

    Raises
    ------
    SpecError
        The placebo date is not strictly inside the pre-intervention periods.
    """
    pre = frame.loc[frame[period] < intervention]
    periods = np.sort(pre[period].unique())
    if len(periods) < 2 or not periods[0] < placebo_intervention <= periods[-1]:
        raise SpecError(
            f"placebo_intervention ({placebo_intervention!r}) must fall strictly inside the "
            f"pre-intervention periods ({periods[0] if len(periods) else '–'} to "
            f"{periods[-1] if len(periods) else '–'})"
        )
    kwargs.setdefault("check_pre_trend", False)
    result = difference_in_differences(
        pre, treated=treated, intervention=placebo_intervention, period=period, **kwargs
    )
    return _replace(result, placebo=True)


def _replace(result: DifferenceInDifferences, **changes: Any) -> DifferenceInDifferences:
    import dataclasses

    return dataclasses.replace(result, **changes)


# --------------------------------------------------------------------------------------
# interrupted time series
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterruptedTimeSeries(EvaluationResult):
    """Segmented regression of one series: level and slope change at the intervention.

    ``estimate`` (with ``se``, CI, ``z``, ``p_value``) is the immediate level change at the
    intervention [unit of the outcome; log rate ratio for Poisson]; ``slope_change`` the
    change in trend per period; ``pre_slope`` the trend before. Standard errors are
    Newey–West (HAC) with ``maxlags`` lags. ``periods``, ``observed``, ``fitted`` and
    ``counterfactual`` (the pre-intervention line carried forward) are kept for plots.
    """

    measure: ClassVar[str] = "interrupted_time_series"
    _internal: ClassVar[tuple[str, ...]] = ("fit",)

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    slope_change: Coefficient
    pre_slope: Coefficient
    model: str
    maxlags: int
    n_pre: int
    n_post: int
    intervention: str
    durbin_watson: float
    periods: tuple[Any, ...]
    observed: tuple[float, ...]
    fitted: tuple[float, ...]
    counterfactual: tuple[float, ...]
    confidence: float
    polarity: str
    sms: SMSLevel | None = None
    comparison: tuple[str, ...] = ()
    identifying_assumption: str = ""
    notes: tuple[str, ...] = ()
    fit: Any = field(default=None, repr=False, compare=False)

    @property
    def autocorrelated(self) -> bool:
        """Durbin–Watson outside 1.5–2.5: residuals are serially correlated."""
        return not 1.5 <= self.durbin_watson <= 2.5

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows for the level change, the slope change and the pre-intervention slope."""
        rows = []
        for term, c in (
            (
                "level_change",
                Coefficient(
                    self.estimate, self.se, self.ci_low, self.ci_high, self.z, self.p_value
                ),
            ),
            ("slope_change", self.slope_change),
            ("pre_slope", self.pre_slope),
        ):
            rows.append(
                {
                    "measure": self.measure,
                    "estimate": c.estimate,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "z": c.z,
                    "p_value": c.p_value,
                    "term": term,
                    "se": c.se,
                    "model": self.model,
                    "maxlags": self.maxlags,
                    "intervention": self.intervention,
                    "durbin_watson": self.durbin_watson,
                    "sms_level": self.sms.level if self.sms is not None else math.nan,
                    "comparison": "; ".join(self.comparison),
                    "notes": "; ".join(self.notes),
                }
            )
        return pd.DataFrame(rows)

    def series_frame(self) -> pd.DataFrame:
        """Observed, fitted and counterfactual values per period (for plots and export)."""
        return pd.DataFrame(
            {
                "period": list(self.periods),
                "observed": self.observed,
                "fitted": self.fitted,
                "counterfactual": self.counterfactual,
            }
        )

    def summary(self) -> str:
        level = round(self.confidence * 100)
        if self.model == "poisson":
            lvl = (
                f"an immediate change of {fmt((math.exp(self.estimate) - 1) * 100, 1)} % "
                f"(rate ratio {fmt(math.exp(self.estimate), 3)}, {level} % CI "
                f"{fmt(math.exp(self.ci_low), 3)} to {fmt(math.exp(self.ci_high), 3)})"
            )
            slope = f"{fmt((math.exp(self.slope_change.estimate) - 1) * 100, 2)} % per period"
        else:
            lvl = (
                f"an immediate level change of {fmt(self.estimate, 3)} ({level} % CI "
                f"{fmt(self.ci_low, 3)} to {fmt(self.ci_high, 3)})"
            )
            slope = f"{fmt(self.slope_change.estimate, 3)} per period"
        what = (
            f"Comparative interrupted time series (treated minus {len(self.comparison)} "
            "comparison series"
            if self.comparison
            else "Interrupted time series (no comparison series"
        )
        significant = self.p_value < 1.0 - self.confidence
        if significant and self.autocorrelated:
            verdict = (
                "nominally statistically significant, but the residuals are autocorrelated "
                f"(Durbin–Watson {fmt(self.durbin_watson)}), so the standard errors may still "
                "understate the uncertainty and the evidence is weaker than the p-value says"
            )
        else:
            verdict = _significance(self.p_value, self.confidence)
        sentence = (
            f"{what}; {self.n_pre} periods before, {self.n_post} from {self.intervention}): "
            f"{lvl}, {fmt_p(self.p_value)} — {verdict}; the trend changed by {slope} "
            f"({fmt_p(self.slope_change.p_value)}). Newey–West standard errors with "
            f"{self.maxlags} lag(s); Durbin–Watson {fmt(self.durbin_watson)}."
        )
        parts = [sentence]
        if self.identifying_assumption:
            parts.append(f"Identifying assumption: {self.identifying_assumption}.")
        if self.sms is not None:
            parts.append(self.sms.summary() + ".")
        return " ".join([*parts, *self.notes])


def _summed_series(
    data: pd.DataFrame,
    entity: str,
    period: str,
    value: str,
    exposure: str | None,
    entities: Collection[object],
) -> tuple[pd.DataFrame, int]:
    """Sum the chosen entities' values (and exposures) per period; every cell must exist."""
    wanted = _label_set(entities)
    labels = data[entity].astype(str)
    unknown = sorted(wanted - set(labels.unique()))
    if unknown:
        raise DataError(f"entit(ies) {unknown} not in the data", column=entity)
    data = data.loc[labels.isin(wanted)]
    n_ent = data[entity].nunique()
    if n_ent > 1:
        full = pd.MultiIndex.from_product(
            [data[entity].unique(), data[period].unique()], names=[entity, period]
        )
        have = pd.MultiIndex.from_frame(data[[entity, period]])
        gaps = full.difference(have)
        if len(gaps):
            raise DataError(
                "summing several entities into one series needs every entity in every "
                "period; missing rows would read as falls in crime",
                rows=[f"{e} {p}" for e, p in gaps],
            )
    agg_cols = [value] + ([exposure] if exposure else [])
    summed = data.groupby(period, sort=True)[agg_cols].sum(min_count=1).reset_index()
    return summed, int(n_ent)


def interrupted_time_series(
    frame: pd.DataFrame,
    *,
    intervention: object,
    period: str = "period",
    value: str = "value",
    entity: str | None = None,
    entities: Collection[object] | None = None,
    exposure: str | None = None,
    model: Model = "ols",
    rate_scale: float = 100_000.0,
    maxlags: int | None = None,
    confidence: float = 0.95,
    polarity: Polarity = "negative",
    comparison: Collection[object] | None = None,
) -> InterruptedTimeSeries:
    """Segmented regression of an interrupted time series with autocorrelation-robust errors.

    Parameters
    ----------
    frame
        Long frame with ``period`` and ``value`` (and ``entity`` when it holds several
        series: the selected entities' values and exposures are summed per period).
    intervention
        First period under the intervention.
    period, value, entity
        Column names.
    entities
        Which entities to sum (default: all). Every one needs every period.
    exposure
        Population column [inhabitants]: offset for Poisson, rate denominator for OLS.
    model
        ``"ols"`` or ``"poisson"`` (counts; effects as rate ratios).
    rate_scale
        Rate denominator for OLS with exposure [inhabitants].
    maxlags
        Newey–West lags; default ``floor(4 (n/100)^{2/9})``, at least 1 (Newey & West 1994).
    confidence
        Confidence level [unitless, 0–1].
    polarity
        ``"negative"`` for crime (a fall is progress).
    comparison
        Entities whose summed series is the comparison (needs ``entity``): the model is
        then fitted to the treated-minus-comparison series — rates per ``rate_scale`` when
        ``exposure`` is given, otherwise the comparison scaled to the treated series'
        pre-intervention mean — so a change shared by both (a national fall in crime) is
        not credited to the initiative. Needs ``model="ols"``.

    Returns
    -------
    InterruptedTimeSeries

    Raises
    ------
    DataError
        Missing columns or values, gaps in a summed series, fewer than three periods on
        either side of the intervention.
    ImportError
        statsmodels is not installed.

    Notes
    -----
    ``y_t = β0 + β1 t + β2 P_t + β3 (t − t*) P_t + ε_t`` with ``P_t = 1`` from the
    intervention ``t*``; ``β2`` is the level change and ``β3`` the slope change (Wagner et
    al. 2002). ``t`` is the period itself when periods are numbers (gaps respected),
    otherwise its rank.
    """
    sm = _statsmodels()
    check_confidence(confidence)
    check_polarity(polarity)
    if model not in ("ols", "poisson"):
        raise SpecError(f"model must be 'ols' or 'poisson'; got {model!r}")
    cols = [period, value] + ([entity] if entity else []) + ([exposure] if exposure else [])
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"interrupted_time_series: missing column(s) {missing}; the frame has "
            f"{list(frame.columns)}"
        )
    data = frame[cols].copy()
    notes: list[str] = []
    if comparison is not None:
        if entity is None:
            raise SpecError("a comparison series needs entity= (the column naming the areas)")
        if model != "ols":
            raise SpecError(
                "a comparison series is analysed as the treated-minus-comparison difference "
                "with model='ols' (on rates when exposure is given); got model='poisson'"
            )
        both = _label_set(comparison) & (
            _label_set(entities) if entities is not None else set(map(str, data[entity]))
        )
        if both:
            raise SpecError(
                f"entit(ies) {sorted(both)} are both in the treated series and the comparison"
            )
    if entity is not None:
        treated_entities = (
            entities
            if entities is not None
            else sorted(set(map(str, data[entity])) - _label_set(comparison or []))
        )
        data, n_ent = _summed_series(data, entity, period, value, exposure, treated_entities)
        if n_ent > 1:
            notes.append(f"Series = sum over {n_ent} entities.")
    comparison_labels: tuple[str, ...] = ()
    if comparison is not None:
        assert entity is not None
        other, n_cmp = _summed_series(
            frame[cols].copy(), entity, period, value, exposure, comparison
        )
        comparison_labels = tuple(sorted(_label_set(comparison)))
        merged = data.merge(other, on=period, suffixes=("", "_cmp"), validate="one_to_one")
        if len(merged) != len(data) or len(merged) != len(other):
            raise DataError(
                "the treated and comparison series must cover the same periods", column=period
            )
        if exposure:
            treated_rate = merged[value] / merged[exposure] * rate_scale
            cmp_rate = merged[f"{value}_cmp"] / merged[f"{exposure}_cmp"] * rate_scale
            merged[value] = treated_rate - cmp_rate
            notes.append(
                f"Outcome: the treated series' rate per {rate_scale:,.0f} {exposure} minus the "
                f"comparison series' ({n_cmp} entities)."
            )
        else:
            try:
                pre_rows = (merged[period] < intervention).to_numpy()
            except TypeError:
                raise SpecError(
                    f"the intervention period {intervention!r} cannot be compared with the "
                    "period column"
                ) from None
            base_t = float(merged.loc[pre_rows, value].mean())
            base_c = float(merged.loc[pre_rows, f"{value}_cmp"].mean())
            if not (np.isfinite(base_c) and base_c > 0):
                raise DataError(
                    "the comparison series has no positive pre-intervention mean to scale by"
                )
            k = base_t / base_c
            merged[value] = merged[value] - k * merged[f"{value}_cmp"]
            notes.append(
                f"Outcome: the treated series minus the comparison series ({n_cmp} entities) "
                f"scaled to the treated series' pre-intervention mean (× {k:.3g})."
            )
        data = merged[[period, value]]
        exposure = None
    data = (
        _prepare(
            data.assign(_e="series"),
            entity="_e",
            period=period,
            value=value,
            exposure=exposure,
            model=model,
            caller="interrupted_time_series",
        )
        .sort_values(period)
        .reset_index(drop=True)
    )
    try:
        post = (data[period] >= intervention).to_numpy()
    except TypeError:
        raise SpecError(
            f"the intervention period {intervention!r} cannot be compared with the period column"
        ) from None
    n_pre, n_post = int((~post).sum()), int(post.sum())
    if n_pre < 3 or n_post < 3:
        raise DataError(
            f"an interrupted time series needs at least 3 periods on each side of the "
            f"intervention; got {n_pre} before and {n_post} after"
        )
    if pd.api.types.is_numeric_dtype(data[period]):
        raw = data[period].to_numpy(dtype="float64")
        t = raw - raw[0]
        t_star = float(raw[post].min() - raw[0])
    else:
        t = np.arange(len(data), dtype="float64")
        t_star = float(np.flatnonzero(post)[0])
    y, offset, more = _outcome(data, value, exposure, model, rate_scale)
    notes.extend(more)
    X = pd.DataFrame(
        {
            "const": 1.0,
            "time": t,
            "level_change": post.astype("float64"),
            "slope_change": np.where(post, t - t_star, 0.0),
        }
    )
    n = len(data)
    lags = maxlags if maxlags is not None else max(1, math.floor(4 * (n / 100) ** (2 / 9)))
    fit = _fit(sm, y, X, model=model, offset=offset, cov_type="HAC", cov_kwds={"maxlags": lags})
    level = _coefficient(fit, "level_change", confidence)
    slope = _coefficient(fit, "slope_change", confidence)
    pre_slope = _coefficient(fit, "time", confidence)
    params = fit.params
    lin_cf = params["const"] + params["time"] * t
    lin_fit = X.to_numpy() @ params.to_numpy()
    if model == "poisson":
        off = offset if offset is not None else 0.0
        fitted, counterfactual = np.exp(lin_fit + off), np.exp(lin_cf + off)
    else:
        fitted, counterfactual = lin_fit, lin_cf
    from statsmodels.stats.stattools import durbin_watson

    resid = y - fitted
    dw = float(durbin_watson(resid))
    if comparison_labels:
        assumption = (
            "without the initiative the gap between the treated and the comparison series "
            "would have kept its pre-intervention level and trend"
        )
    else:
        assumption = (
            "without the initiative the pre-intervention level and trend would have "
            "continued — nothing else changed at the same time (a national trend would be "
            "credited to the initiative)"
        )
    sms = maryland_sms_level(
        "interrupted_time_series",
        has_control=bool(comparison_labels),
        n_treated=1,
        n_control=len(comparison_labels),
    )
    return InterruptedTimeSeries(
        estimate=level.estimate,
        se=level.se,
        ci_low=level.ci_low,
        ci_high=level.ci_high,
        z=level.z,
        p_value=level.p_value,
        slope_change=slope,
        pre_slope=pre_slope,
        model=model,
        maxlags=lags,
        n_pre=n_pre,
        n_post=n_post,
        intervention=str(intervention),
        durbin_watson=dw,
        periods=tuple(data[period].tolist()),
        observed=tuple(float(v) for v in y),
        fitted=tuple(float(v) for v in fitted),
        counterfactual=tuple(float(v) for v in counterfactual),
        confidence=confidence,
        polarity=polarity,
        sms=sms,
        comparison=comparison_labels,
        identifying_assumption=assumption,
        notes=tuple(notes),
        fit=fit,
    )
