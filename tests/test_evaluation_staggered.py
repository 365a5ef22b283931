"""Tests of staggered adoption: treatment timing, Callaway–Sant'Anna, Sun–Abraham, did2s, TWFE.

References run on the same data: ``csdid`` (the Python port of the ``did`` R package) for
Callaway–Sant'Anna, ``pyfixest`` (its own ``df_het`` example panel) for Sun–Abraham
(``SaturatedEventStudy``), Gardner's ``did2s`` and ``feols``; simulated panels with known
homogeneous, dynamic and cohort-heterogeneous effects for bias and coverage.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from securindex.datasets.synthetic import staggered_panel_example
from securindex.errors import DataError, SpecError
from securindex.evaluation import (
    STAGGERED_ESTIMATORS,
    callaway_santanna,
    staggered_did,
    treatment_timing,
    twfe_weights,
)

# --------------------------------------------------------------------------------------
# treatment timing
# --------------------------------------------------------------------------------------


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": np.repeat(["a", "b", "c", "d"], 4),
            "period": np.tile([2001, 2002, 2003, 2004], 4),
            "start": np.repeat([2003, 0, 2001, 2002], 4),
        }
    )


def test_timing_from_column_mapping_and_indicator_agree() -> None:
    df = _tiny()
    by_column = treatment_timing(df, "start")
    assert by_column.treated == ("a", "d")
    assert by_column.never_treated == ("b",)
    assert by_column.always_treated == ("c",)
    assert any("excluded" in n for n in by_column.notes)
    assert by_column.cohorts == (2002, 2003) and by_column.staggered
    by_mapping = treatment_timing(df, {"a": 2003, "c": 2001, "d": 2002})
    df["on"] = ((df["start"] > 0) & (df["period"] >= df["start"])).astype(int)
    by_indicator = treatment_timing(df, "on")
    for other in (by_mapping, by_indicator):
        assert other.cohort.sort_index().to_dict() == by_column.cohort.sort_index().to_dict()
    assert "2 treated entities (1 in 2002, 1 in 2003) and 1 never treated" in (by_column.summary())


def test_timing_errors_are_located() -> None:
    df = _tiny()
    df["on"] = [0, 1, 0, 1] + [0] * 12  # switches off again
    with pytest.raises(DataError, match="switches off") as info:
        treatment_timing(df, "on")
    assert info.value.rows == ("a",)
    with pytest.raises(SpecError, match="not in column 'entity'"):
        treatment_timing(df, {"zz": 2002})
    with pytest.raises(DataError, match="not periods of the panel"):
        treatment_timing(df, {"a": "spring"})
    df["start"] = np.arange(16)
    with pytest.raises(DataError, match="one start period per entity"):
        treatment_timing(df, "start")
    late = treatment_timing(_tiny(), {"a": 2010, "d": 2002})
    assert late.treated == ("d",) and late.never_treated == ("a", "b", "c")
    assert any("after the last period" in n for n in late.notes)


def test_unbalanced_panel_and_log_of_zero_are_refused() -> None:
    df = staggered_panel_example(seed=0)
    with pytest.raises(DataError, match="unbalanced") as info:
        callaway_santanna(df.iloc[1:], treatment="first_treated", value="outcome")
    assert "e000 1" in info.value.rows
    with pytest.raises(DataError, match="outcome='log' needs values > 0"):
        callaway_santanna(df, treatment="first_treated", value="outcome", outcome="log")
    with pytest.raises(SpecError, match="unknown staggered estimator"):
        staggered_did(df, treatment="first_treated", value="outcome", estimator="magic")


# --------------------------------------------------------------------------------------
# Callaway–Sant'Anna against csdid
# --------------------------------------------------------------------------------------


def _csdid(df: pd.DataFrame, control_group: str) -> tuple[pd.DataFrame, dict[str, dict]]:
    pytest.importorskip("csdid", reason="csdid (test extra) is the Callaway–Sant'Anna reference")
    from csdid.att_gt import ATTgt

    data = df.assign(id=df["entity"].str[1:].astype(int))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ATTgt(
            yname="outcome",
            gname="first_treated",
            idname="id",
            tname="period",
            data=data,
            control_group=control_group,
            bstrap=False,
        ).fit(est_method="reg", bstrap=False)
        aggregated = {
            kind: dict(fit.aggte(typec=kind, bstrap=False).atte)
            for kind in ("simple", "dynamic", "group")
        }
    res = fit.results
    cells = pd.DataFrame(
        {"cohort": res["group"], "period": res["year"], "att": res["att"], "se": res["se"]}
    )
    return cells, aggregated


@pytest.mark.parametrize(
    ("ours", "theirs"), [("never_treated", "nevertreated"), ("not_yet_treated", "notyettreated")]
)
def test_callaway_santanna_equals_csdid(ours: str, theirs: str) -> None:
    df = staggered_panel_example(seed=3, effect="dynamic", n_entities=48)
    r = callaway_santanna(df, treatment="first_treated", value="outcome", control_group=ours)
    cells, agg = _csdid(df, theirs)
    both = r.group_time.merge(cells, on=["cohort", "period"], validate="one_to_one")
    assert len(both) == len(r.group_time) == len(cells)
    np.testing.assert_allclose(both["estimate"], both["att"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(both["se_x"], both["se_y"], rtol=1e-10)
    table = r.aggregations.set_index("aggregation")
    for kind in ("simple", "dynamic", "group"):
        assert table.loc[kind, "estimate"] == pytest.approx(agg[kind]["overall_att"], abs=1e-10)
        assert table.loc[kind, "se"] == pytest.approx(agg[kind]["overall_se"], rel=1e-10)
    np.testing.assert_allclose(r.event_study["estimate"], agg["dynamic"]["att_egt"], atol=1e-10)
    np.testing.assert_allclose(r.event_study["se"], np.ravel(agg["dynamic"]["se_egt"]), rtol=1e-10)
    np.testing.assert_allclose(r.by_cohort["estimate"], agg["group"]["att_egt"], atol=1e-10)
    assert r.estimate == pytest.approx(agg["group"]["overall_att"], abs=1e-10)


def test_callaway_santanna_band_is_simultaneous_and_seeded() -> None:
    df = staggered_panel_example(seed=4)
    a = callaway_santanna(df, treatment="first_treated", value="outcome", seed=7)
    b = callaway_santanna(df, treatment="first_treated", value="outcome", seed=7)
    assert a.band_critical_value == b.band_critical_value
    # the sup-t critical value over 17 event times lies between the pointwise and the
    # Bonferroni critical values
    from scipy import stats

    k = len(a.event_study)
    assert stats.norm.ppf(0.975) < a.band_critical_value < stats.norm.ppf(1 - 0.025 / k)
    es = a.event_study
    assert (es["band_low"] <= es["ci_low"]).all() and (es["band_high"] >= es["ci_high"]).all()


# --------------------------------------------------------------------------------------
# regression estimators against pyfixest on its own df_het example
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def df_het() -> pd.DataFrame:
    pytest.importorskip("pyfixest", reason="pyfixest (test extra) is the reference")
    path = importlib.resources.files("pyfixest.did") / "data" / "df_het.csv"
    with path.open() as fh:
        df = pd.read_csv(fh)
    return df.loc[df["unit"] <= 400].reset_index(drop=True)  # 12 400 rows: quick


def _pf_quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_sun_abraham_and_twfe_equal_pyfixest(df_het: pd.DataFrame) -> None:
    import pyfixest as pf

    kw = {"treatment": "g", "entity": "unit", "period": "year", "value": "dep_var"}
    sa = staggered_did(df_het, estimator="sun_abraham", **kw)
    sat = _pf_quiet(
        pf.event_study,
        df_het,
        yname="dep_var",
        idname="unit",
        tname="year",
        gname="g",
        estimator="saturated",
    )
    agg = _pf_quiet(sat.aggregate)
    agg.index = agg.index.astype(float).astype(int)
    ours = sa.event_study.set_index("event_time").loc[agg.index]
    np.testing.assert_allclose(ours["estimate"], agg["Estimate"].astype(float), atol=1e-10)
    np.testing.assert_allclose(ours["se"], agg["Std. Error"].astype(float), rtol=1e-8)
    # the static TWFE: coefficient, CR1 se (fixest's nested-FE K) and t(G-1) p-value
    tw = staggered_did(df_het, estimator="twfe", **kw)
    ref = pf.feols(
        "dep_var ~ treat | unit + year",
        data=df_het.assign(treat=df_het["treat"].astype(float)),
        vcov={"CRV1": "unit"},
    )
    assert tw.estimate == pytest.approx(ref.coef().iloc[0], abs=1e-10)
    assert tw.se == pytest.approx(ref.se().iloc[0], rel=1e-10)
    assert tw.ci_low == pytest.approx(ref.confint().iloc[0, 0], rel=1e-10)
    assert any("not a valid average effect" in n for n in tw.notes)


def test_did2s_equals_pyfixest(df_het: pd.DataFrame) -> None:
    import pyfixest as pf

    df_het = df_het.loc[df_het["unit"] <= 150].reset_index(drop=True)  # pyfixest's did2s is slow
    r = staggered_did(
        df_het, treatment="g", entity="unit", period="year", value="dep_var", estimator="did2s"
    )
    ref = _pf_quiet(
        pf.did2s,
        df_het,
        yname="dep_var",
        first_stage="~ 0 | unit + year",
        second_stage="~ treat",
        treatment="treat",
        cluster="unit",
    )
    # pyfixest's first stage demeans iteratively (tolerance 1e-8): estimates agree to it
    assert r.estimate == pytest.approx(ref.coef().iloc[0], abs=1e-7)
    assert r.se == pytest.approx(ref.se().iloc[0], rel=1e-7)
    # exact first stage (dense least squares on entity and year dummies of untreated rows):
    # the residuals' mean over treated rows is the static did2s estimate
    dummies = pd.get_dummies(df_het[["unit", "year"]].astype(str), drop_first=True, dtype=float)
    X = np.column_stack([np.ones(len(df_het)), dummies.to_numpy()])
    untreated = ~df_het["treat"].astype(bool).to_numpy()
    beta, *_ = np.linalg.lstsq(X[untreated], df_het["dep_var"].to_numpy()[untreated], rcond=None)
    resid = df_het["dep_var"].to_numpy() - X @ beta
    assert r.estimate == pytest.approx(float(resid[~untreated].mean()), abs=1e-10)
    ev = _pf_quiet(
        pf.did2s,
        df_het,
        yname="dep_var",
        first_stage="~ 0 | unit + year",
        second_stage="~ i(rel_year, ref=-1.0)",
        treatment="treat",
        cluster="unit",
    )
    names = [n for n in ev.coef().index if "inf" not in n]
    times = [int(float(n.split("::")[1].rstrip("]"))) for n in names]
    ours = r.event_study.set_index("event_time").loc[times]
    np.testing.assert_allclose(ours["estimate"], ev.coef()[names], atol=1e-7)
    np.testing.assert_allclose(ours["se"], ev.se()[names], rtol=1e-6)


# --------------------------------------------------------------------------------------
# simulated panels with known effects: TWFE biased, robust estimators recover the truth
# --------------------------------------------------------------------------------------


def _truth(df: pd.DataFrame, estimator: str) -> float:
    treated = df.loc[df["treated"] == 1]
    if estimator == "callaway_santanna":  # cohort-share-weighted mean of cohort effects
        by = treated.groupby("first_treated")["true_effect"].mean()
        size = df.drop_duplicates("entity").groupby("first_treated").size().loc[by.index]
        return float((by * size).sum() / size.sum())
    return float(treated["true_effect"].mean())  # mean over treated observations


@pytest.mark.parametrize("effect", ["homogeneous", "dynamic", "heterogeneous"])
def test_robust_estimators_recover_known_effects(effect: str) -> None:
    df = staggered_panel_example(
        seed=11, effect=effect, n_entities=80, n_periods=12, cohorts=(3, 6, 9), noise=0.3
    )
    for name in ("callaway_santanna", "sun_abraham", "did2s"):
        r = staggered_did(df, treatment="first_treated", value="outcome", estimator=name)
        truth = _truth(df, name)
        assert r.ci_low <= truth <= r.ci_high, (effect, name, r.estimate, truth)
        # the event-study profile covers the true dynamic effects inside the band
        if effect == "dynamic":
            post = r.event_study[r.event_study["event_time"] >= 0]
            true_e = post["event_time"] + 1.0
            assert ((post["band_low"] <= true_e) & (true_e <= post["band_high"])).all(), name
    tw = staggered_did(df, treatment="first_treated", value="outcome", estimator="twfe")
    truth = _truth(df, "twfe")
    if effect == "homogeneous":
        assert tw.ci_low <= truth <= tw.ci_high
    else:  # heterogeneity: the static TWFE misses the truth by far more than its CI
        assert not tw.ci_low <= truth <= tw.ci_high
        assert abs(tw.estimate - truth) > 5 * tw.se


def test_twfe_weights_identity_and_negative_weights() -> None:
    # noise-free outcome = FE + τ: the TWFE coefficient is exactly Σ w τ
    df = staggered_panel_example(
        seed=5, effect="dynamic", n_entities=30, n_periods=10, cohorts=(2, 8),
        never_treated_share=0.0, noise=0.0,
    )  # fmt: skip
    w = twfe_weights(df, treatment="first_treated", value="outcome")
    tau = df.set_index(["entity", "period"])["true_effect"]
    merged = w.weights.join(tau, on=["entity", "period"])
    assert w.estimate == pytest.approx(float((merged["weight"] * merged["true_effect"]).sum()))
    assert merged["weight"].sum() == pytest.approx(1.0)
    # early adopters' late periods get negative weights: the coefficient falls outside the
    # range of the true effects (all between 1 and 9)
    assert w.n_negative > 0 and w.negative_sum < 0
    assert w.estimate < merged["true_effect"].min()
    assert "negative weight" in w.summary()


def test_registry_and_summary_say_what_was_assumed() -> None:
    assert {"callaway_santanna", "sun_abraham", "did2s", "twfe"} <= set(STAGGERED_ESTIMATORS)
    assert not STAGGERED_ESTIMATORS["twfe"].valid_under_heterogeneity
    df = staggered_panel_example(seed=2, effect="dynamic")
    r = staggered_did(df, treatment="first_treated", value="outcome")
    text = r.summary()
    assert "Identifying assumption: parallel trends" in text
    assert "Maryland SMS level 4" in text
    assert "Pre-period placebo effects" in text
    row = r.to_frame().iloc[0]
    assert row["estimator"] == "callaway_santanna" and row["sms_level"] == 4


def test_static_did_with_per_entity_starts_warns_and_shows_robust_estimate() -> None:
    # the bug: a mapping raised a SpecError and a Series a raw pandas ValueError
    from securindex.evaluation import difference_in_differences

    df = staggered_panel_example(
        seed=11, effect="dynamic", n_entities=80, n_periods=12, cohorts=(3, 6, 9), noise=0.3
    )
    starts = df.loc[df["first_treated"] > 0].drop_duplicates("entity")
    starts = starts.set_index("entity")["first_treated"]
    by_series = difference_in_differences(df, intervention=starts, value="outcome")
    by_mapping = difference_in_differences(df, intervention=starts.to_dict(), value="outcome")
    assert by_series.estimate == by_mapping.estimate
    # the statsmodels dummy regression equals the within (FWL) TWFE of the registry
    tw = staggered_did(df, treatment="first_treated", value="outcome", estimator="twfe")
    assert by_series.estimate == pytest.approx(tw.estimate, rel=1e-9)
    assert by_series.se == pytest.approx(tw.se, rel=1e-9)
    assert by_series.p_value == pytest.approx(tw.p_value, rel=1e-6)
    text = by_series.summary()
    assert text.index("staggered roll-out") < text.index("Difference-in-differences")
    assert "report that one" in text
    assert by_series.robust is not None and by_series.robust.estimator == "callaway_santanna"
    truth = _truth(df, "callaway_santanna")
    assert by_series.robust.ci_low <= truth <= by_series.robust.ci_high
    assert not by_series.ci_low <= truth <= by_series.ci_high
    assert by_series.pre_trend is None and by_series.intervention == "staggered"
    with pytest.raises(SpecError, match="same entities"):
        difference_in_differences(df, treated=["e000"], intervention=starts, value="outcome")


def test_failed_pre_trend_check_lowers_the_evidence_level() -> None:
    df = staggered_panel_example(seed=6, n_entities=80, noise=0.2)
    # treated cohorts already trend upwards before they start: parallel trends fail
    treated = df["first_treated"] > 0
    df.loc[treated, "outcome"] += 0.4 * df.loc[treated, "period"]
    for name in ("callaway_santanna", "sun_abraham"):
        r = staggered_did(df, treatment="first_treated", value="outcome", estimator=name)
        assert r.pre_trend_p_value < 0.01, name
        assert r.sms.level == 2 and "rejects parallel trends" in r.sms.reason
        assert "should not be trusted as causal" in r.summary()
