"""A whole place-based initiative from a tidy panel of counts.

:func:`evaluate_initiative` sums the counts of the treated, control, buffer and buffer
control areas before and after, estimates the overdispersion of the counts, and runs every
statistic that applies (:mod:`~securindex.evaluation.before_after`,
:mod:`~securindex.evaluation.displacement`) from the same totals, with the Maryland SMS
level of the design.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    EvaluationResult,
    Polarity,
    WeightedCount,
    check_confidence,
    check_polarity,
)
from securindex.evaluation.before_after import (
    PrePostComparison,
    RateRatioTest,
    RelativeEffectSize,
    pre_post_comparison,
    rate_ratio_test,
    relative_effect_size,
)
from securindex.evaluation.dispersion import (
    POISSON,
    Dispersion,
    dispersion_from_counts,
    resolve_dispersion,
)
from securindex.evaluation.displacement import (
    WeightedDisplacementDifference,
    WeightedDisplacementQuotient,
    weighted_displacement_difference,
    weighted_displacement_quotient,
)
from securindex.evaluation.spec import DesignSpec, InitiativeSpec, SMSLevel, maryland_sms_level

__all__ = ["InitiativeEvaluation", "evaluate_initiative", "evaluate_initiative_spec"]

BEFORE_AFTER_ASSUMPTION = (
    "without the initiative the treated area's crime would have changed in the same "
    "proportion as the control area's (no other change specific to either area)"
)
NO_CONTROL_ASSUMPTION = (
    "without the initiative crime would have stayed at its before level — general trends, "
    "seasonality and regression to the mean are not ruled out"
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
    Results that do not apply (no control, no buffer) are None. ``dispersion`` is the
    variance factor used by every test (estimated from the before periods by default).
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
    displacement_difference_scaled: WeightedDisplacementDifference | None = None
    dispersion: Dispersion = POISSON
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
            "displacement_difference_scaled": self.displacement_difference_scaled,
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
        lines = [
            f"Evaluation of {self.name} — {self.sms.summary()}",
            f"Identifying assumption: {BEFORE_AFTER_ASSUMPTION if self.pre_post is not None else NO_CONTROL_ASSUMPTION}.",
            f"Counts: {self.dispersion.phrase()}.",
        ]
        titles = {
            "pre_post": "Before/after with control",
            "relative_effect": "Relative effect size",
            "treated_rate_ratio": "Treated area rate ratio",
            "control_rate_ratio": "Control area rate ratio",
            "displacement_quotient": "Displacement (WDQ)",
            "displacement_difference": "Displacement difference test (WDD)",
            "displacement_difference_scaled": "WDD scaled to the areas' sizes",
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
    overdispersion: float | str | Dispersion = "estimate",
    confidence: float = 0.95,
    polarity: Polarity = "negative",
    name: str = "initiative",
    rate_scale: float = 100_000.0,
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
        ratio tests then use population × periods as exposure, with rates per
        ``rate_scale`` inhabitants per period, and an exposure-scaled WDD is added.
        Without it the exposure is the number of periods (rates per period).
    comparable_control, randomised
        Design facts used for the Maryland SMS level.
    overdispersion
        Variance factor ``φ`` of the counts [unitless]: ``"estimate"`` (default: Pearson
        χ²/df of the entity + period Poisson model over the before periods of the areas
        compared, floored at 1; see
        :func:`~securindex.evaluation.dispersion.estimate_dispersion`), ``"poisson"`` (1),
        a number, or a :class:`~securindex.evaluation.dispersion.Dispersion`. Every test
        uses it, and the summary says which.
    rate_scale
        Rates are reported per this many inhabitants when ``exposure`` is given
        [inhabitants, default 100 000].
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
    phi = _initiative_dispersion(sub, pop if exposure is not None else None, overdispersion, notes)
    if exposure is not None:
        rate_kw: dict[str, Any] = {
            "rate_scale": rate_scale,
            "rate_unit": f"per {rate_scale:,.0f} inhabitants per period".replace(",", " "),
        }
    else:
        rate_kw = {"rate_scale": 1.0, "rate_unit": "per period"}
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
        overdispersion=phi,
        **rate_kw,
    )
    has_control = bool(groups["control"])
    has_buffer = bool(groups["buffer"])
    pre_post = res = control_rr = wdq = wdd = wdd_scaled = None
    if has_control:
        c0, c1 = cell("control", "before"), cell("control", "after")
        pre_post = pre_post_comparison(
            t0,
            t1,
            c0,
            c1,
            confidence=confidence,
            polarity=polarity,
            overdispersion=phi,
            before_length=n_periods["before"],
            after_length=n_periods["after"],
        )
        res = relative_effect_size(
            t0, t1, c0, c1, overdispersion=phi, confidence=confidence, polarity=polarity
        )
        control_rr = rate_ratio_test(
            c0,
            expo("control", "before"),
            c1,
            expo("control", "after"),
            confidence=confidence,
            polarity=polarity,
            labels=labels,
            overdispersion=phi,
            **rate_kw,
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
        wdd_cells = (
            t0,
            t1,
            c0,
            c1,
            b0 if has_bc else 0,
            b1 if has_bc else 0,
            cell("buffer_control", "before") if has_bc else 0,
            cell("buffer_control", "after") if has_bc else 0,
        )
        wdd_kw: dict[str, Any] = {
            "before_length": n_periods["before"],
            "after_length": n_periods["after"],
            "confidence": confidence,
            "overdispersion": phi,
        }
        wdd = weighted_displacement_difference(*wdd_cells, **wdd_kw)
        if exposure is not None:
            # each role's mean population over the before periods: the areas' sizes
            size = (
                (pop.loc[pop["phase"] == "before"].groupby(["role", "period"])["exposure"].sum())
                .groupby("role")
                .mean()
            )
            roles = ["treated", "control"] + (["buffer", "buffer_control"] if has_bc else [])
            wdd_scaled = weighted_displacement_difference(
                *wdd_cells, exposure={r: float(size[r]) for r in roles}, **wdd_kw
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
        displacement_difference_scaled=wdd_scaled,
        dispersion=phi,
        polarity=polarity,
        notes=tuple(notes),
    )


def _initiative_dispersion(
    sub: pd.DataFrame,
    pop: pd.DataFrame | None,
    requested: float | str | Dispersion,
    notes: list[str],
) -> Dispersion:
    """The dispersion every test of the initiative uses, estimated or as requested."""
    before = sub.loc[sub["phase"] == "before"]
    counts = before.pivot_table(index="entity", columns="period", values="n", aggfunc="sum")
    exposure = None
    if pop is not None:
        exposure = (
            pop.loc[pop["phase"] == "before"]
            .pivot_table(index="entity", columns="period", values="exposure", aggfunc="first")
            .reindex_like(counts)
            .to_numpy(dtype="float64")
        )
    estimated = dispersion_from_counts(
        counts.to_numpy(dtype="float64"),
        exposure,
        description=(
            f"the before periods of the {counts.shape[0]} area(s) compared "
            f"({counts.shape[1]} period(s))"
        ),
    )
    if isinstance(requested, str) and requested == "estimate":
        if estimated.method == "poisson":
            notes.append(
                "The dispersion of the counts could not be estimated (one before period, or "
                "no crime): Poisson variance is assumed, which understates the uncertainty "
                "if the counts are overdispersed; pass overdispersion= (e.g. from a longer "
                "series with estimate_dispersion)."
            )
        return estimated
    used = resolve_dispersion(requested)
    if used.value == 1.0 and estimated.overdispersed:
        notes.append(
            f"Warning: the counts are overdispersed (Pearson dispersion "
            f"{estimated.estimate:.3g} on {estimated.description}) but Poisson variance was "
            "requested: every interval is too narrow and every p-value too small; use "
            "overdispersion='estimate'."
        )
    return used


def evaluate_initiative_spec(
    data: pd.DataFrame,
    spec: InitiativeSpec,
    design: DesignSpec | None = None,
    *,
    entity: str = "entity",
    period: str = "period",
    count: str = "count",
    offence: str | None = None,
    overdispersion: float | str | Dispersion | None = None,
    confidence: float = 0.95,
    polarity: Polarity = "negative",
) -> InitiativeEvaluation:
    """:func:`evaluate_initiative` driven by the ``initiative:`` (and ``design:``) blocks."""
    selectors = [
        role
        for role in ("treated", "control", "buffer", "buffer_control")
        if not isinstance(getattr(spec, role), list)
    ]
    if selectors:
        raise SpecError(
            f"initiative {selectors} are area selectors: resolve them against the data first "
            "(run_evaluation does, with securindex.evaluation.areas.select_areas)"
        )
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
        overdispersion=spec.overdispersion if overdispersion is None else overdispersion,
        confidence=confidence,
        polarity=polarity,
        name=spec.name,
    )
