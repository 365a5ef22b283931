"""Synthetic control: one treated city or district against a weighted pool of donors.

When a single area adopted an initiative, the synthetic control method (Abadie &
Gardeazabal 2003; Abadie, Diamond & Hainmueller 2010) builds its counterfactual as a
convex combination of untreated *donor* areas — weights ``w ≥ 0`` summing to one — chosen
so that the combination reproduces the treated area before the start. The effect is the gap
between the treated area and its synthetic twin afterwards.

* **Weights**: by default the donors are fitted on the treated area's whole
  pre-intervention path (every pre period a predictor, equal importance): the
  simplex-constrained least-squares problem is solved exactly (an SLSQP start polished by
  the KKT conditions on its support). With ``predictors`` (variables averaged over the pre
  periods, scaled by their standard deviation across areas, as ``Synth``/pysyncon do) the
  importance matrix ``V`` is chosen to minimise the pre-period outcome error (the nested
  optimisation of Abadie et al.).
* **Inference**: placebo in space — every donor in turn plays the treated area against
  the other donors; the p-value is the rank of the treated area's ratio of post- to
  pre-period RMSPE among all of them (Abadie et al. 2010, section 2.4).
* **Fit**: the pre-period RMSPE is reported, also relative to the treated area's mean; a
  poor fit lowers the evidence level.

References
----------
.. [1] Abadie, A., & Gardeazabal, J. (2003). The economic costs of conflict: a case study
   of the Basque Country. *American Economic Review*, 93(1), 113–132.
   doi:10.1257/000282803321455188
.. [2] Abadie, A., Diamond, A., & Hainmueller, J. (2010). Synthetic control methods for
   comparative case studies. *Journal of the American Statistical Association*, 105(490),
   493–505. doi:10.1198/jasa.2009.ap08746
.. [3] Abadie, A. (2021). Using synthetic controls: feasibility, data requirements, and
   methodological aspects. *Journal of Economic Literature*, 59(2), 391–425.
   doi:10.1257/jel.20191450
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    EvaluationResult,
    Polarity,
    check_polarity,
    desirable,
    direction_word,
    fmt,
)
from securindex.evaluation.spec import SMSLevel, maryland_sms_level

__all__ = ["SyntheticControl", "simplex_least_squares", "synthetic_control"]

IDENTIFYING_ASSUMPTION = (
    "the weighted combination of donors that tracked the treated area before the start "
    "would have kept tracking it without the initiative; no donor was itself affected by "
    "the initiative or by a shock of its own"
)

#: Above this pre-period RMSPE (share of the treated area's pre-period mean) the fit is poor.
POOR_FIT = 0.10


def simplex_least_squares(A: np.ndarray, b: np.ndarray, *, max_iter: int = 500) -> np.ndarray:
    """``argmin ||A w − b||²`` subject to ``w ≥ 0`` and ``Σ w = 1``, solved exactly.

    A primal active-set method (Nocedal & Wright 2006, algorithm 16.3) started from the
    support of a non-negative least-squares fit with the sum constraint as a heavily
    weighted extra row; each step solves the equality-constrained problem on the current
    support from its KKT system, so the result is exact to rounding.

    Parameters
    ----------
    A
        (m, k) matrix, one column per donor.
    b
        (m,) target.
    max_iter
        Active-set iterations allowed [count].

    Returns
    -------
    numpy.ndarray
        (k,) weights.

    Examples
    --------
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> simplex_least_squares(A, np.array([0.2, 0.8])).round(6).tolist()
    [0.2, 0.8]
    """
    k = A.shape[1]
    if k == 1:
        return np.ones(1)
    P = A.T @ A
    q = A.T @ b
    big = 1e3 * math.sqrt(max(float(np.max(np.diag(P))), 1e-300))
    start, _ = optimize.nnls(np.vstack([A, np.full((1, k), big)]), np.append(b, big))
    if start.sum() <= 0:
        start = np.full(k, 1.0 / k)
    w = start / start.sum()
    active = w > 0  # the support: coordinates free to move
    tol = 1e-12 * max(1.0, float(np.abs(P).max()))
    for _ in range(max_iter):
        S = np.flatnonzero(active)
        n_s = len(S)
        kkt = np.zeros((n_s + 1, n_s + 1))
        kkt[:n_s, :n_s] = P[np.ix_(S, S)]
        kkt[:n_s, n_s] = 1.0
        kkt[n_s, :n_s] = 1.0
        sol = np.linalg.lstsq(kkt, np.append(q[S], 1.0), rcond=None)[0]
        target = np.zeros(k)
        target[S] = sol[:n_s]
        if (target[S] < -1e-15).any():
            # step from w towards the target until a coordinate reaches 0; drop it
            direction = target - w
            falling = S[direction[S] < 0]
            steps = w[falling] / -direction[falling]
            j = int(np.argmin(steps))
            w = np.clip(w + steps[j] * direction, 0.0, None)
            w[falling[j]] = 0.0
            w = w / w.sum()
            active[falling[j]] = False
            continue
        w = np.clip(target, 0.0, None)
        w = w / w.sum()
        lam = -sol[n_s]
        grad = P @ w - q
        mu = grad + lam  # multipliers of the bounds w_j >= 0 off the support
        off = np.flatnonzero(~active)
        if len(off) == 0 or mu[off].min() >= -tol:
            return w
        active[off[int(np.argmin(mu[off]))]] = True
    return w  # pragma: no cover - the active set converges in at most a few k steps


@dataclass(frozen=True)
class SyntheticControl(EvaluationResult):
    """A synthetic-control estimate with its placebo-in-space inference.

    ``estimate`` is the mean post-period gap, treated minus synthetic [outcome unit, see
    ``outcome_label``]; ``percent_change`` that gap relative to the synthetic level [%].
    ``p_value`` is the placebo-in-space rank of the post/pre RMSPE ratio (smallest
    possible ``1/(n_donors + 1)``). ``weights`` (donor, weight), ``path`` (period,
    treated, synthetic, gap, post) and ``placebos`` (entity, pre_rmspe, post_rmspe, ratio,
    mean_post_gap) are frames.
    """

    measure: ClassVar[str] = "synthetic_control"

    estimate: float
    p_value: float
    percent_change: float
    pre_rmspe: float
    pre_rmspe_relative: float
    post_rmspe: float
    rmspe_ratio: float
    rank: int
    n_donors: int
    treated: str
    intervention: str
    outcome_label: str
    weights: pd.DataFrame
    path: pd.DataFrame
    placebos: pd.DataFrame | None
    sms: SMSLevel
    identifying_assumption: str
    polarity: str
    predictors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        main = self.weights.sort_values("weight", ascending=False)
        main = main[main["weight"] >= 0.01].head(4)
        made = ", ".join(
            f"{d} ({w:.0%})" for d, w in zip(main["donor"], main["weight"], strict=True)
        )
        good = desirable(self.estimate, self.polarity)
        fit = (
            f"pre-period fit RMSPE {fmt(self.pre_rmspe, 3)} "
            f"({fmt(100 * self.pre_rmspe_relative, 1)} % of the treated area's pre-period mean)"
        )
        parts = [
            f"Synthetic control for {self.treated} from {self.n_donors} donors (mainly "
            f"{made}; {fit}): from {self.intervention} on, {self.outcome_label} was on "
            f"average {fmt(abs(self.estimate), 3)} {'above' if self.estimate > 0 else 'below'} "
            f"its synthetic twin ({self.percent_change:+.1f} %){direction_word(good)}."
        ]
        if self.placebos is not None and math.isfinite(self.p_value):
            parts.append(
                f"Placebo in space: the treated area's post/pre RMSPE ratio "
                f"({fmt(self.rmspe_ratio, 2)}) ranks {self.rank} of {self.n_donors + 1}, "
                f"p = {self.p_value:.3f} — "
                + (
                    "larger than for almost every donor."
                    if self.p_value <= 0.1
                    else "within the range of the donors' placebo gaps, so it could be chance."
                )
            )
        parts.append(f"Identifying assumption: {self.identifying_assumption}.")
        parts.append(self.sms.summary() + ".")
        return " ".join([*parts, *self.notes])

    def plot(self, ax: Any = None) -> Any:
        """Treated vs synthetic path (see ``plot_synthetic_control``)."""
        from securindex.evaluation.plots import plot_synthetic_control

        return plot_synthetic_control(self, ax=ax)


@dataclass(frozen=True)
class _Fit:
    weights: np.ndarray
    synthetic: np.ndarray  # (T,)
    v: np.ndarray | None


def _fit_weights(
    y_treated: np.ndarray,
    y_donors: np.ndarray,
    pre: np.ndarray,
    x_treated: np.ndarray | None,
    x_donors: np.ndarray | None,
    v_given: np.ndarray | None = None,
) -> _Fit:
    """Donor weights for one treated series (outcomes: T; donors: T × J)."""
    if x_treated is None or x_donors is None:
        w = simplex_least_squares(y_donors[pre], y_treated[pre])
        return _Fit(w, y_donors @ w, None)
    # predictors scaled by their standard deviation across areas; V by nested optimisation
    X = np.column_stack([x_donors, x_treated])
    sd = X.std(axis=1, ddof=1)
    sd[sd == 0] = 1.0
    X0 = x_donors / sd[:, None]
    X1 = x_treated / sd
    k = X0.shape[0]

    def weights_for(v: np.ndarray) -> np.ndarray:
        root = np.sqrt(np.abs(v) / np.abs(v).sum())
        return simplex_least_squares(X0 * root[:, None], X1 * root)

    def loss(v: np.ndarray) -> float:
        w = weights_for(v)
        gap = y_treated[pre] - y_donors[pre] @ w
        return float(gap @ gap / pre.sum())

    if v_given is not None:
        v = v_given / v_given.sum()
    else:
        best = optimize.minimize(loss, np.full(k, 1.0 / k), method="Nelder-Mead")
        v = np.abs(best.x) / np.abs(best.x).sum()
    w = weights_for(v)
    return _Fit(w, y_donors @ w, v)


def _rmspe(gap: np.ndarray) -> float:
    return float(np.sqrt(np.mean(gap**2))) if gap.size else math.nan


def synthetic_control(
    frame: pd.DataFrame,
    *,
    treated: object,
    intervention: object,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    donors: Collection[object] | None = None,
    exposure: str | None = None,
    rate_scale: float = 100_000.0,
    predictors: Collection[str] | None = None,
    v: Collection[float] | None = None,
    placebo: bool = True,
    polarity: Polarity = "negative",
) -> SyntheticControl:
    """Synthetic-control estimate for one treated area, with placebo-in-space inference.

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period); every donor needs every period.
    treated
        The treated entity (compared as text).
    intervention
        First period under treatment.
    entity, period, value
        Column names [value: count of crimes or another outcome].
    donors
        Donor entities (default: every other entity).
    exposure
        Population column [inhabitants]: the outcome becomes a rate per ``rate_scale``
        (recommended: donors of different size are then comparable).
    rate_scale
        Rate denominator [inhabitants, default 100 000].
    predictors
        Columns averaged over the pre-period as predictors (with a data-driven ``V``);
        default the pre-period outcome path itself.
    v
        Importance of each predictor (the diagonal of ``V``) [unitless, ≥ 0]; default
        chosen to minimise the pre-period outcome error.
    placebo
        Run the placebo-in-space inference (one fit per donor).
    polarity
        ``"negative"`` for crime.

    Returns
    -------
    SyntheticControl

    Raises
    ------
    DataError
        Missing columns or values, a donor without every period, fewer than two donors,
        fewer than two pre-intervention periods, no post period.
    SpecError
        The treated area among the donors.

    Notes
    -----
    ``w* = argmin Σ_{t<t*} (Y_1t − Σ_j w_j Y_jt)²`` over the simplex (default), the gap
    ``Y_1t − Σ w*_j Y_jt`` for ``t ≥ t*``; RMSPE ``√(mean gap²)`` before and after; p-value
    ``#{j : ratio_j ≥ ratio_1} / (J + 1)`` over the treated area and its J donors [2]_.

    Examples
    --------
    >>> import numpy as np
    >>> years = np.arange(2000, 2012)
    >>> rows = [("a", y, 10 + 0.5 * i - (3 if y >= 2008 else 0)) for i, y in enumerate(years)]
    >>> rows += [("b", y, 8 + 0.5 * i) for i, y in enumerate(years)]
    >>> rows += [("c", y, 12 + 0.5 * i) for i, y in enumerate(years)]
    >>> df = pd.DataFrame(rows, columns=["entity", "period", "value"])
    >>> r = synthetic_control(df, treated="a", intervention=2008, placebo=False)
    >>> round(r.estimate, 6), r.weights["weight"].round(3).tolist()
    (-3.0, [0.5, 0.5])
    """
    check_polarity(polarity)
    cols = [entity, period, value] + ([exposure] if exposure else []) + list(predictors or [])
    missing = [c for c in dict.fromkeys(cols) if c not in frame.columns]
    if missing:
        raise DataError(
            f"synthetic_control: missing column(s) {missing}; the frame has {list(frame.columns)}"
        )
    data = frame[list(dict.fromkeys(cols))].copy()
    data["_e"] = data[entity].astype(str)
    target = str(treated)
    entities = sorted(data["_e"].unique())
    if target not in entities:
        raise DataError(
            f"synthetic_control: treated entity {target!r} not in the data", column=entity
        )
    pool = [e for e in entities if e != target] if donors is None else [str(d) for d in donors]
    if target in pool:
        raise SpecError(f"the treated entity {target!r} cannot be its own donor")
    unknown = sorted(set(pool) - set(entities))
    if unknown:
        raise DataError(f"donor(s) {unknown} not in the data", column=entity)
    if len(pool) < 2:
        raise DataError("synthetic control needs at least two donors")
    data = data[data["_e"].isin([target, *pool])]
    y = pd.to_numeric(data[value], errors="coerce").astype("float64")
    label = value
    if exposure:
        ex = pd.to_numeric(data[exposure], errors="coerce").astype("float64")
        if (~np.isfinite(ex) | (ex <= 0)).any():
            raise DataError("exposure (population) must be > 0 in every row", column=exposure)
        y = y / ex * rate_scale
        label = f"{value} per {rate_scale:,.0f} {exposure}".replace(",", " ")
    data["_y"] = y
    if not np.isfinite(data["_y"]).all():
        raise DataError("missing or non-numeric outcome values", column=value)
    wide = data.pivot_table(index=period, columns="_e", values="_y", aggfunc="first")
    wide = wide.reindex(columns=[target, *pool]).sort_index()
    holes = wide.isna()
    if holes.to_numpy().any():
        where = [f"{e} {p}" for p, e in wide.stack(future_stack=True)[holes.stack()].index]
        raise DataError(
            "synthetic control needs every area in every period (a missing row is not a zero)",
            rows=where,
        )
    periods = wide.index.to_numpy()
    try:
        post = periods >= intervention
    except TypeError:
        raise SpecError(
            f"the intervention period {intervention!r} cannot be compared with the periods"
        ) from None
    pre = ~post
    if pre.sum() < 2 or post.sum() < 1:
        raise DataError(
            f"synthetic control needs at least two periods before and one from the start; got "
            f"{int(pre.sum())} before and {int(post.sum())} after"
        )
    Y = wide.to_numpy(dtype="float64")
    v_arr = None
    if v is not None:
        if not predictors:
            raise SpecError("v (predictor importances) needs predictors")
        v_arr = np.asarray(list(v), dtype="float64")
        if v_arr.shape != (len(list(predictors)),) or (v_arr < 0).any() or v_arr.sum() <= 0:
            raise SpecError("v needs one importance >= 0 per predictor, not all 0")
    x_all = None
    if predictors:
        pre_rows = data[data[period].isin(periods[pre])]
        means = pre_rows.groupby("_e")[list(predictors)].mean().reindex([target, *pool])
        if means.isna().to_numpy().any():
            raise DataError("predictors have missing values in the pre-period")
        x_all = means.to_numpy(dtype="float64").T  # (k, 1 + J)

    def fit_one(i: int, others: list[int]) -> tuple[_Fit, np.ndarray]:
        xt = None if x_all is None else x_all[:, i]
        xd = None if x_all is None else x_all[:, others]
        f = _fit_weights(Y[:, i], Y[:, others], pre, xt, xd, v_arr)
        return f, Y[:, i] - f.synthetic

    donors_idx = list(range(1, Y.shape[1]))
    main, gap = fit_one(0, donors_idx)
    pre_rmspe, post_rmspe = _rmspe(gap[pre]), _rmspe(gap[post])
    ratio = post_rmspe / pre_rmspe if pre_rmspe > 0 else math.inf
    notes: list[str] = []
    placebos = None
    rank, p_value = 0, math.nan
    if placebo:
        rows = [
            {
                "entity": target,
                "pre_rmspe": pre_rmspe,
                "post_rmspe": post_rmspe,
                "ratio": ratio,
                "mean_post_gap": float(gap[post].mean()),
                "treated": True,
            }
        ]
        for j in donors_idx:  # one small fit per donor (J ≤ a few hundred)
            _, g = fit_one(j, [d for d in donors_idx if d != j])
            pr, po = _rmspe(g[pre]), _rmspe(g[post])
            rows.append(
                {
                    "entity": pool[j - 1],
                    "pre_rmspe": pr,
                    "post_rmspe": po,
                    "ratio": po / pr if pr > 0 else math.inf,
                    "mean_post_gap": float(g[post].mean()),
                    "treated": False,
                }
            )
        placebos = pd.DataFrame(rows)
        rank = int((placebos["ratio"] >= ratio).sum())
        p_value = rank / len(placebos)
        if len(placebos) < 20:
            notes.append(
                f"With {len(placebos) - 1} donors the smallest attainable placebo p-value is "
                f"{1 / len(placebos):.3f}."
            )
    mean_pre = float(np.mean(np.abs(Y[pre, 0])))
    rel = pre_rmspe / mean_pre if mean_pre > 0 else math.inf
    synthetic_post = float(main.synthetic[post].mean())
    estimate = float(gap[post].mean())
    poor = rel > POOR_FIT
    if poor:
        notes.append(
            f"The synthetic control tracks the treated area poorly before the start (RMSPE "
            f"{100 * rel:.1f} % of its mean, above {100 * POOR_FIT:.0f} %): the treated area "
            "lies outside what the donors can reproduce, so the gap is not a credible effect."
        )
    sms = maryland_sms_level(
        "controlled_before_after",
        has_control=True,
        comparable_control=not poor,
        n_treated=1,
        n_control=len(pool),
    )
    weights = pd.DataFrame({"donor": pool, "weight": main.weights})
    path = pd.DataFrame(
        {
            "period": periods,
            "treated": Y[:, 0],
            "synthetic": main.synthetic,
            "gap": gap,
            "post": post,
        }
    )
    return SyntheticControl(
        estimate=estimate,
        p_value=p_value,
        percent_change=estimate / synthetic_post * 100.0 if synthetic_post else math.nan,
        pre_rmspe=pre_rmspe,
        pre_rmspe_relative=rel,
        post_rmspe=post_rmspe,
        rmspe_ratio=ratio,
        rank=rank,
        n_donors=len(pool),
        treated=target,
        intervention=str(intervention),
        outcome_label=label,
        weights=weights,
        path=path,
        placebos=placebos,
        sms=sms,
        identifying_assumption=IDENTIFYING_ASSUMPTION,
        polarity=polarity,
        predictors=tuple(predictors or ()),
        notes=tuple(notes),
    )
