"""Staggered-adoption estimators behind one entry point, and the TWFE diagnostic.

:func:`staggered_did` runs any estimator of a registry on the same prepared panel
(:func:`~securindex.evaluation.treatment.staggered_panel`) and returns a
:class:`~securindex.evaluation.staggered.StaggeredDiD`: an overall effect on the treated
and an event-study profile with pointwise intervals and simultaneous bands.

================== ========================================================================
``callaway_santanna`` group-time ATTs against never- or not-yet-treated entities [1]_
``sun_abraham``      interaction-weighted event study: a cohort × event-time saturated
                     two-way fixed-effects regression, aggregated with cohort shares [2]_
``did2s``            Gardner's two-stage DiD: fixed effects fitted on untreated rows only,
                     then the residuals regressed on treatment, GMM standard errors [3]_
``twfe``             the static (and dynamic) two-way fixed-effects regression — biased
                     when effects differ between cohorts or grow over time; kept for
                     comparison, always reported with :func:`twfe_weights`
================== ========================================================================

Users add estimators with :func:`register_staggered_estimator`. Regression estimators use
CR1 cluster-robust standard errors by entity and t(G − 1) inference
(:mod:`securindex.evaluation._fe`); the tests hold ``sun_abraham``, ``did2s`` and
``twfe`` equal to pyfixest's ``SaturatedEventStudy``, ``did2s`` and ``feols`` to 1e-8.

References
----------
.. [1] Callaway, B., & Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
   time periods. *Journal of Econometrics*, 225(2), 200–230.
   doi:10.1016/j.jeconom.2020.12.001
.. [2] Sun, L., & Abraham, S. (2021). Estimating dynamic treatment effects in event studies
   with heterogeneous treatment effects. *Journal of Econometrics*, 225(2), 175–199.
   doi:10.1016/j.jeconom.2020.09.006
.. [3] Gardner, J. (2022). Two-stage differences in differences. arXiv:2207.05943; Butts,
   K., & Gardner, J. (2022). did2s: Two-stage difference-in-differences. *The R Journal*,
   14(3), 162–173. doi:10.32614/RJ-2022-048
.. [4] de Chaisemartin, C., & D'Haultfœuille, X. (2020). Two-way fixed effects estimators
   with heterogeneous treatment effects. *American Economic Review*, 110(9), 2964–2996.
   doi:10.1257/aer.20181169
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import linalg, stats

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    EvaluationResult,
    Polarity,
    check_confidence,
    check_polarity,
    fmt,
)
from securindex.evaluation._fe import Inference, TwoWayFE, cluster_covariance, linear_combination
from securindex.evaluation.spec import maryland_sms_level, sms_after_pre_trend_check
from securindex.evaluation.staggered import (
    IDENTIFYING_ASSUMPTION,
    StaggeredDiD,
    callaway_santanna,
)
from securindex.evaluation.treatment import (
    Outcome,
    StaggeredPanel,
    Treatment,
    TreatmentTiming,
    staggered_panel,
)
from securindex.evaluation.uncertainty import Seed

__all__ = [
    "STAGGERED_ESTIMATORS",
    "StaggeredEstimator",
    "TWFEWeights",
    "register_staggered_estimator",
    "staggered_did",
    "twfe_weights",
]


@dataclass(frozen=True)
class _Options:
    confidence: float
    control_group: str
    anticipation: int
    n_bootstrap: int
    seed: Seed
    polarity: str
    comparable_control: bool
    frame: pd.DataFrame
    columns: Mapping[str, Any]


@dataclass(frozen=True)
class StaggeredEstimator:
    """A registered staggered-adoption estimator.

    ``function(panel, options) -> StaggeredDiD``; ``reference`` is the paper;
    ``valid_under_heterogeneity`` says whether the estimate stays valid when effects differ
    between cohorts and over time (False only for the static TWFE).
    """

    name: str
    label: str
    function: Callable[[StaggeredPanel, _Options], StaggeredDiD]
    reference: str
    valid_under_heterogeneity: bool = True


STAGGERED_ESTIMATORS: dict[str, StaggeredEstimator] = {}


def register_staggered_estimator(
    name: str, *, label: str, reference: str, valid_under_heterogeneity: bool = True
) -> Callable[[Callable[[StaggeredPanel, _Options], StaggeredDiD]], Any]:
    """Decorator adding an estimator to :data:`STAGGERED_ESTIMATORS` under ``name``."""

    def decorate(
        function: Callable[[StaggeredPanel, _Options], StaggeredDiD],
    ) -> Callable[[StaggeredPanel, _Options], StaggeredDiD]:
        if name in STAGGERED_ESTIMATORS:
            raise SpecError(f"a staggered estimator named {name!r} is already registered")
        STAGGERED_ESTIMATORS[name] = StaggeredEstimator(
            name, label, function, reference, valid_under_heterogeneity
        )
        return function

    return decorate


# --------------------------------------------------------------------------------------
# the TWFE diagnostic
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TWFEWeights(EvaluationResult):
    """How a static two-way fixed-effects coefficient weights the treated observations.

    Under parallel trends the TWFE coefficient is ``Σ w_it τ_it`` over treated
    observations with weights summing to 1 [4]_. Negative weights mean that some effects
    enter with the wrong sign: with heterogeneous effects the coefficient can then lie
    outside the range of the true effects. ``weights`` keeps one row per treated
    observation (entity, period, event_time, weight).
    """

    measure: ClassVar[str] = "twfe_weights"
    _internal: ClassVar[tuple[str, ...]] = ("weights",)

    estimate: float  # the static TWFE coefficient
    n_treated_observations: int
    n_negative: int
    negative_share: float
    negative_sum: float
    weights: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        if self.n_negative == 0:
            return (
                f"The static two-way fixed-effects coefficient ({fmt(self.estimate, 3)}) gives "
                f"every one of the {self.n_treated_observations} treated observations a "
                "positive weight."
            )
        return (
            f"The static two-way fixed-effects coefficient ({fmt(self.estimate, 3)}) gives "
            f"{self.n_negative} of {self.n_treated_observations} treated observations a "
            f"negative weight (sum {fmt(self.negative_sum, 3)}): it compares later adopters "
            "with already-treated entities, so with effects that differ between cohorts or "
            "grow over time it is biased and can even have the wrong sign (de Chaisemartin "
            "& D'Haultfœuille 2020)."
        )


def _codes(panel: StaggeredPanel) -> tuple[np.ndarray, np.ndarray]:
    n, t = panel.y.shape
    return np.repeat(np.arange(n), t), np.tile(np.arange(t), n)


def _treated_rows(panel: StaggeredPanel) -> tuple[np.ndarray, np.ndarray]:
    n, t = panel.y.shape
    coh = np.repeat(panel.cohort, t)
    pos = np.tile(np.arange(t), n)
    event = np.where(coh >= 0, pos - coh, np.iinfo(np.int64).min)
    return (coh >= 0) & (pos >= coh), event


def _twfe_weights(panel: StaggeredPanel) -> TWFEWeights:
    ent, per = _codes(panel)
    D, event = _treated_rows(panel)
    fe = TwoWayFE(ent, per)
    d_tilde = fe.residualise(D.astype("float64")[:, None])[:, 0]
    y_tilde = fe.residualise(panel.y.ravel()[:, None])[:, 0]
    beta = float(d_tilde @ y_tilde / (d_tilde @ d_tilde))
    w = d_tilde[D] / d_tilde[D].sum()
    negative = w < -1e-12
    n_t = int(D.sum())
    table = pd.DataFrame(
        {
            "entity": np.array(panel.entities, dtype=object)[ent[D]],
            "period": np.array(panel.periods, dtype=object)[per[D]],
            "event_time": event[D],
            "weight": w,
        }
    )
    return TWFEWeights(
        estimate=beta,
        n_treated_observations=n_t,
        n_negative=int(negative.sum()),
        negative_share=float(negative.sum() / n_t) if n_t else math.nan,
        negative_sum=float(w[negative].sum()),
        weights=table,
    )


def twfe_weights(
    frame: pd.DataFrame,
    *,
    treatment: Treatment | TreatmentTiming,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
) -> TWFEWeights:
    """Weights of the static TWFE coefficient on each treated observation (de Chaisemartin
    & D'Haultfœuille 2020).

    ``w_it = ε_it / Σ_{D=1} ε_it`` with ``ε`` the residual of the treatment dummy on
    entity and period fixed effects. Parameters as in :func:`staggered_did`.

    Returns
    -------
    TWFEWeights
    """
    panel = staggered_panel(
        frame, treatment, entity=entity, period=period, value=value, caller="twfe_weights"
    )
    return _twfe_weights(panel)


# --------------------------------------------------------------------------------------
# shared pieces of the regression estimators
# --------------------------------------------------------------------------------------


def _critical_t(confidence: float, df: int) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2.0, df))


def _sup_t(vcov: np.ndarray, confidence: float, seed: Seed, n_draws: int) -> float:
    """Sup-t critical value of a simultaneous band from the estimates' covariance."""
    from securindex.evaluation.uncertainty import _rng

    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    ok = se > 0
    if not ok.any():
        return math.nan
    corr = vcov[np.ix_(ok, ok)] / np.outer(se[ok], se[ok])
    vals, vecs = linalg.eigh(corr)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    draws = _rng(seed).standard_normal((n_draws, len(vals))) @ root.T
    return float(np.quantile(np.max(np.abs(draws), axis=1), confidence))


def _event_table(
    event_times: np.ndarray,
    inference: Inference,
    weights: np.ndarray,
    confidence: float,
    seed: Seed,
    n_draws: int,
    n_cohorts: list[int],
    reference: int | None = -1,
) -> tuple[pd.DataFrame, float, np.ndarray]:
    """Event-time estimates as linear combinations ``weights @ coef`` (rows = event times)."""
    est = weights @ inference.coef
    vcov = weights @ inference.vcov @ weights.T
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    q = _critical_t(confidence, inference.df)
    crit = max(_sup_t(vcov, confidence, seed, n_draws), q)
    table = pd.DataFrame(
        {
            "event_time": event_times.astype("int64"),
            "estimate": est,
            "se": se,
            "ci_low": est - q * se,
            "ci_high": est + q * se,
            "band_low": est - crit * se,
            "band_high": est + crit * se,
            "n_cohorts": n_cohorts,
        }
    )
    if reference is not None and reference not in set(event_times.tolist()):
        ref = pd.DataFrame(
            {
                "event_time": [reference],
                "estimate": [0.0],
                "se": [0.0],
                "ci_low": [0.0],
                "ci_high": [0.0],
                "band_low": [0.0],
                "band_high": [0.0],
                "n_cohorts": [0],
            }
        )
        table = (
            pd.concat([table, ref], ignore_index=True)
            .sort_values("event_time")
            .reset_index(drop=True)
        )
    return table, crit, vcov


def _pre_wald(table_est: np.ndarray, vcov: np.ndarray, pre: np.ndarray) -> tuple[float, int, float]:
    if not pre.any():
        return math.nan, 0, math.nan
    V = vcov[np.ix_(pre, pre)]
    rank = int(np.linalg.matrix_rank(V))
    if rank == 0:
        return math.nan, 0, math.nan
    stat = float(table_est[pre] @ np.linalg.pinv(V) @ table_est[pre])
    return stat, rank, float(stats.chi2.sf(stat, rank))


def _result(
    panel: StaggeredPanel,
    options: _Options,
    *,
    name: str,
    overall: dict[str, float],
    table: pd.DataFrame,
    crit: float,
    pre_test: tuple[float, int, float],
    inference: str,
    control_group: str,
    notes: list[str],
) -> StaggeredDiD:
    n_treated = int((panel.cohort >= 0).sum())
    n_never = int((panel.cohort < 0).sum())
    if n_treated < 10:
        notes.append(
            f"Only {n_treated} treated entities: cluster-robust standard errors are "
            "unreliable with few treated clusters (Cameron & Miller 2015)."
        )
    sms = maryland_sms_level(
        "panel",
        has_control=True,
        comparable_control=options.comparable_control,
        n_treated=n_treated,
        n_control=n_never if n_never else panel.n_entities - n_treated,
    )
    _stat, df, p_pre = pre_test
    sms = sms_after_pre_trend_check(
        sms, None if df == 0 or not math.isfinite(p_pre) else p_pre >= 1.0 - options.confidence
    )
    spec = STAGGERED_ESTIMATORS[name]
    return StaggeredDiD(
        estimate=overall["estimate"],
        se=overall["se"],
        ci_low=overall["ci_low"],
        ci_high=overall["ci_high"],
        z=overall["t"],
        p_value=overall["p"],
        estimator=name,
        estimator_label=spec.label,
        event_study=table,
        group_time=None,
        by_cohort=None,
        aggregations=None,
        pre_trend_statistic=pre_test[0],
        pre_trend_df=pre_test[1],
        pre_trend_p_value=pre_test[2],
        band_critical_value=crit,
        control_group=control_group,
        outcome_label=panel.outcome_label,
        n_entities=panel.n_entities,
        n_treated=n_treated,
        n_never_treated=n_never,
        cohorts=panel.timing.cohorts,
        sms=sms,
        identifying_assumption=IDENTIFYING_ASSUMPTION,
        confidence=options.confidence,
        polarity=options.polarity,
        inference=inference,
        notes=tuple(notes),
    )


def _cell_dummies(
    panel: StaggeredPanel, keys: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """0/1 columns, one per distinct key among ``rows``; returns (X, distinct keys)."""
    distinct, inverse = np.unique(keys[rows], return_inverse=True, axis=0)
    X = np.zeros((len(keys), len(distinct)))
    X[np.flatnonzero(rows), inverse.ravel()] = 1.0
    return X, distinct


# --------------------------------------------------------------------------------------
# the estimators
# --------------------------------------------------------------------------------------


@register_staggered_estimator(
    "callaway_santanna",
    label="Callaway–Sant'Anna staggered difference-in-differences",
    reference="Callaway & Sant'Anna (2021), doi:10.1016/j.jeconom.2020.12.001",
)
def _callaway_santanna(panel: StaggeredPanel, options: _Options) -> StaggeredDiD:
    c = options.columns
    return callaway_santanna(
        options.frame,
        treatment=panel.timing,
        entity=c["entity"],
        period=c["period"],
        value=c["value"],
        exposure=c["exposure"],
        rate_scale=c["rate_scale"],
        outcome=c["outcome"],
        control_group=options.control_group,  # type: ignore[arg-type]
        anticipation=options.anticipation,
        confidence=options.confidence,
        n_bootstrap=options.n_bootstrap,
        seed=options.seed,
        polarity=options.polarity,  # type: ignore[arg-type]
        comparable_control=options.comparable_control,
    )


@register_staggered_estimator(
    "sun_abraham",
    label="Sun–Abraham interaction-weighted event study",
    reference="Sun & Abraham (2021), doi:10.1016/j.jeconom.2020.09.006",
)
def _sun_abraham(panel: StaggeredPanel, options: _Options) -> StaggeredDiD:
    ent, per = _codes(panel)
    n, T = panel.y.shape
    coh = np.repeat(panel.cohort, T)
    notes: list[str] = []
    keep = np.ones(n * T, dtype=bool)
    control = "never_treated"
    if not (panel.cohort < 0).any():
        # no never-treated: the last cohort is the comparison, observed before it starts
        last = int(panel.cohort.max())
        keep = per < last
        coh = np.where(coh == last, -1, coh)
        control = "last_treated"
        notes.append(
            "No never-treated entities: the last cohort to adopt serves as the comparison, "
            "and periods from its start on are dropped (Sun & Abraham 2021)."
        )
    event = np.where(coh >= 0, per - coh, 0)
    cell = (coh >= 0) & (event != -1) & keep
    keys = np.column_stack([coh, event])
    X, cells = _cell_dummies(panel, keys, cell)
    y = panel.y.ravel()
    rows = np.flatnonzero(keep)
    fe = TwoWayFE(ent[rows], per[rows])
    Xt = fe.residualise(X[rows])
    yt = fe.residualise(y[rows][:, None])[:, 0]
    bread = linalg.pinvh(Xt.T @ Xt)
    coef = bread @ (Xt.T @ yt)
    resid = yt - Xt @ coef
    k = X.shape[1] + fe.n_periods  # slopes + period effects (entity effects nested)
    vcov, df = cluster_covariance(Xt, resid, ent[rows], n_parameters=k, bread=bread)
    inf = Inference(coef, vcov, df)
    # cohort shares per event time (cells of a balanced panel: shares of entities)
    size = np.array([(panel.cohort == g).sum() for g in cells[:, 0]], dtype="float64")
    event_times = np.unique(cells[:, 1])
    W = np.zeros((len(event_times), len(cells)))
    for i, e in enumerate(event_times.tolist()):
        here = cells[:, 1] == e
        W[i, here] = size[here] / size[here].sum()
    n_coh = [int((cells[:, 1] == e).sum()) for e in event_times.tolist()]
    table, crit, vcov_e = _event_table(
        event_times, inf, W, options.confidence, options.seed, options.n_bootstrap * 10, n_coh
    )
    post = cells[:, 1] >= 0
    w_all = np.where(post, size, 0.0)
    overall = linear_combination(w_all / w_all.sum(), inf, options.confidence)
    pre_test = _pre_wald(W @ coef, vcov_e, event_times < -1)
    notes.append(
        "The overall effect averages every post-adoption cohort × period effect, weighted by "
        "cohort size; the cohort shares are treated as known in its standard error."
    )
    return _result(
        panel,
        options,
        name="sun_abraham",
        overall=overall,
        table=table,
        crit=crit,
        pre_test=pre_test,
        inference=f"CR1 cluster-robust by entity, t({df}); reference period e = -1",
        control_group=control,
        notes=notes,
    )


@dataclass(frozen=True)
class _Fitted:
    """A regression estimator's static effect and event study, ready for :func:`_result`."""

    overall: dict[str, float]
    table: pd.DataFrame
    crit: float
    pre_test: tuple[float, int, float]
    df: int


def _static_and_event_study(
    panel: StaggeredPanel,
    options: _Options,
    D: np.ndarray,
    event: np.ndarray,
    fit: Callable[[np.ndarray], Inference],
) -> _Fitted:
    """The static effect (one treatment dummy) and the event study (one dummy per event
    time of the treated entities, e = -1 the reference) of one regression ``fit``, with
    its simultaneous band and the pre-trend Wald test (did2s and TWFE share it)."""
    static = fit(D.astype("float64")[:, None])
    overall = linear_combination(np.array([1.0]), static, options.confidence)
    treated_ever = np.repeat(panel.cohort >= 0, panel.n_periods)
    rows = treated_ever & (event != -1)
    X2, events = _cell_dummies(panel, event[:, None], rows)
    events = events[:, 0]
    dyn = fit(X2)
    cohorts = np.repeat(panel.cohort, panel.n_periods)
    n_coh = [len(np.unique(cohorts[rows & (event == e)])) for e in events.tolist()]
    table, crit, vcov_e = _event_table(
        events,
        dyn,
        np.eye(len(events)),
        options.confidence,
        options.seed,
        options.n_bootstrap * 10,
        n_coh,
    )
    pre_test = _pre_wald(dyn.coef, vcov_e, events < -1)
    return _Fitted(overall, table, crit, pre_test, static.df)


@register_staggered_estimator(
    "did2s",
    label="Gardner two-stage difference-in-differences",
    reference="Gardner (2022), arXiv:2207.05943; Butts & Gardner (2022), doi:10.32614/RJ-2022-048",
)
def _did2s(panel: StaggeredPanel, options: _Options) -> StaggeredDiD:
    ent, per = _codes(panel)
    D, event = _treated_rows(panel)
    y = panel.y.ravel()
    untreated = ~D
    fe = TwoWayFE(ent, per, fit_rows=untreated)
    y_tilde = fe.residualise(y[:, None])[:, 0]
    X1 = fe.design
    X10 = X1.multiply(untreated[:, None].astype("float64")).tocsr()

    def fit(X2: np.ndarray) -> Inference:
        gram2 = X2.T @ X2
        bread = linalg.pinvh(gram2)
        coef = bread @ (X2.T @ y_tilde)
        e2 = y_tilde - X2 @ coef
        e1 = np.where(untreated, y_tilde, 0.0)
        proj = fe.solve(np.asarray(X1.T @ X2)).T  # (k, p): (X2'X1)(X10'X10)⁻¹
        G_codes, inverse = np.unique(ent, return_inverse=True)
        s2 = np.zeros((len(G_codes), X2.shape[1]))
        np.add.at(s2, inverse, X2 * e2[:, None])
        # per-entity sums of the first-stage scores (sparse rows grouped by entity)
        contrib = X10.multiply(e1[:, None]).tocsr()
        s1 = (_group_matrix(inverse, len(G_codes)) @ contrib).toarray()
        W = s2 - s1 @ proj.T
        vcov = bread @ (W.T @ W) @ bread
        return Inference(coef, vcov, len(G_codes) - 1)

    fitted = _static_and_event_study(panel, options, D, event, fit)
    return _result(
        panel,
        options,
        name="did2s",
        overall=fitted.overall,
        table=fitted.table,
        crit=fitted.crit,
        pre_test=fitted.pre_test,
        inference=f"GMM cluster-robust by entity (Butts & Gardner 2022), t({fitted.df})",
        control_group="not_yet_treated",
        notes=[
            "Entity and period effects are estimated on untreated observations only "
            "(never-treated and not-yet-treated)."
        ],
    )


def _group_matrix(inverse: np.ndarray, n_groups: int) -> Any:
    from scipy import sparse

    return sparse.csr_matrix(
        (np.ones(len(inverse)), (inverse, np.arange(len(inverse)))),
        shape=(n_groups, len(inverse)),
    )


@register_staggered_estimator(
    "twfe",
    label="Static two-way fixed-effects regression",
    reference="Angrist & Pischke (2009), ch. 5; see de Chaisemartin & D'Haultfœuille (2020)",
    valid_under_heterogeneity=False,
)
def _twfe(panel: StaggeredPanel, options: _Options) -> StaggeredDiD:
    ent, per = _codes(panel)
    D, event = _treated_rows(panel)
    y = panel.y.ravel()
    fe = TwoWayFE(ent, per)
    yt = fe.residualise(y[:, None])[:, 0]

    def fit(X: np.ndarray) -> Inference:
        Xt = fe.residualise(X)
        bread = linalg.pinvh(Xt.T @ Xt)
        coef = bread @ (Xt.T @ yt)
        resid = yt - Xt @ coef
        vcov, df = cluster_covariance(
            Xt, resid, ent, n_parameters=X.shape[1] + fe.n_periods, bread=bread
        )
        return Inference(coef, vcov, df)

    fitted = _static_and_event_study(panel, options, D, event, fit)
    weights = _twfe_weights(panel)
    notes = []
    if panel.timing.staggered:
        notes.append(
            "Treatment started at different times: the static two-way fixed-effects "
            "coefficient is not a valid average effect when effects differ between cohorts "
            "or over time. " + weights.summary() + " Use a staggered estimator "
            "(callaway_santanna, sun_abraham, did2s) as the estimate."
        )
    return _result(
        panel,
        options,
        name="twfe",
        overall=fitted.overall,
        table=fitted.table,
        crit=fitted.crit,
        pre_test=fitted.pre_test,
        inference=f"CR1 cluster-robust by entity, t({fitted.df})",
        control_group="never_treated_and_not_yet_treated",
        notes=notes,
    )


def staggered_did(
    frame: pd.DataFrame,
    *,
    treatment: Treatment | TreatmentTiming,
    estimator: str = "callaway_santanna",
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    exposure: str | None = None,
    rate_scale: float = 100_000.0,
    outcome: Outcome = "level",
    control_group: str = "never_treated",
    anticipation: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 999,
    seed: Seed = 0,
    polarity: Polarity = "negative",
    comparable_control: bool = True,
) -> StaggeredDiD:
    """Effect of an initiative rolled out at different times, by a registered estimator.

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period); balanced.
    treatment
        First treated period per entity: a column (start period, 0 = never; or a 0/1
        indicator) or a mapping entity → period.
    estimator
        A key of :data:`STAGGERED_ESTIMATORS`: ``callaway_santanna`` (default),
        ``sun_abraham``, ``did2s`` or ``twfe`` (biased under heterogeneity: comparison only).
    entity, period, value, exposure, rate_scale, outcome
        As in :func:`~securindex.evaluation.treatment.staggered_panel`.
    control_group
        ``never_treated`` or ``not_yet_treated`` (Callaway–Sant'Anna only; the regression
        estimators use their own comparisons, named in the result).
    anticipation
        Periods of anticipation allowed before the start [periods].
    confidence
        Confidence level [unitless, 0–1].
    n_bootstrap
        Bootstrap replicates for the simultaneous band [count] (×10 normal draws for the
        regression estimators' sup-t band).
    seed
        Seed of the band's simulation.
    polarity
        ``"negative"`` for crime.
    comparable_control
        Whether the comparisons were shown comparable (Maryland SMS level).

    Returns
    -------
    StaggeredDiD

    Raises
    ------
    SpecError
        Unknown estimator or option.
    DataError
        See :func:`~securindex.evaluation.treatment.staggered_panel`.

    Examples
    --------
    >>> from securindex.datasets.synthetic import staggered_panel_example
    >>> df = staggered_panel_example(seed=2, effect="dynamic")
    >>> robust = staggered_did(df, treatment="first_treated", value="outcome",
    ...                        estimator="did2s")
    >>> robust.estimator
    'did2s'
    """
    check_confidence(confidence)
    check_polarity(polarity)
    if estimator not in STAGGERED_ESTIMATORS:
        raise SpecError(
            f"unknown staggered estimator {estimator!r}; choose one of "
            f"{sorted(STAGGERED_ESTIMATORS)} (or register your own with "
            "register_staggered_estimator)"
        )
    if control_group not in ("never_treated", "not_yet_treated"):
        raise SpecError(
            f"control_group must be 'never_treated' or 'not_yet_treated'; got {control_group!r}"
        )
    panel = staggered_panel(
        frame,
        treatment,
        entity=entity,
        period=period,
        value=value,
        exposure=exposure,
        rate_scale=rate_scale,
        outcome=outcome,
        caller=f"staggered_did({estimator})",
    )
    if int(panel.cohort.max()) < 1:
        raise DataError("no treated entity has an untreated period before its start")
    options = _Options(
        confidence=confidence,
        control_group=control_group,
        anticipation=anticipation,
        n_bootstrap=n_bootstrap,
        seed=seed,
        polarity=polarity,
        comparable_control=comparable_control,
        frame=frame,
        columns={
            "entity": entity,
            "period": period,
            "value": value,
            "exposure": exposure,
            "rate_scale": rate_scale,
            "outcome": outcome,
        },
    )
    return STAGGERED_ESTIMATORS[estimator].function(panel, options)
