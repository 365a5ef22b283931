"""Tests of securindex.evaluation.panel: difference-in-differences and interrupted time series."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from securindex.errors import DataError, SpecError
from securindex.evaluation import (
    difference_in_differences,
    interrupted_time_series,
    placebo_test,
    pre_trend_test,
    relative_effect_size,
)

sm = pytest.importorskip("statsmodels.api", reason="statsmodels (securindex[stats]) not installed")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared real-data folder not found at {DATA}"
)


def _two_by_two() -> pd.DataFrame:
    # treated T1 10 -> 6, T2 14 -> 8; control C1 20 -> 19, C2 16 -> 17
    return pd.DataFrame(
        {
            "entity": ["T1", "T1", "T2", "T2", "C1", "C1", "C2", "C2"],
            "period": [1, 2] * 4,
            "value": [10.0, 6.0, 14.0, 8.0, 20.0, 19.0, 16.0, 17.0],
        }
    )


def test_did_two_by_two_hand_computed() -> None:
    # DiD = mean(-4, -6) - mean(-1, +1) = -5 - 0 = -5
    r = difference_in_differences(_two_by_two(), treated=["T1", "T2"], intervention=2)
    assert r.estimate == pytest.approx(-5.0)
    assert r.n_treated == 2 and r.n_entities == 4 and r.n_obs == 8
    assert r.pre_trend is None
    assert any("cannot be checked" in n for n in r.notes)
    assert r.sms.level == 4
    assert "Difference-in-differences" in r.summary()
    assert "Identifying assumption: parallel trends" in r.summary()


def test_poisson_did_with_two_periods_equals_log_res() -> None:
    # With entity fixed effects and two periods the Poisson MLE of the treated x post term is
    # ln[(ΣT_after/ΣT_before)/(ΣC_after/ΣC_before)] = -ln RES: here ln((14/24)/(36/36)).
    r = difference_in_differences(
        _two_by_two(), treated=["T1", "T2"], intervention=2, model="poisson"
    )
    assert r.estimate == pytest.approx(math.log(14 / 24), abs=1e-6)
    assert r.estimate == pytest.approx(-relative_effect_size(24, 14, 36, 36).log_estimate, abs=1e-6)
    assert r.rate_ratio == pytest.approx(14 / 24, rel=1e-5)
    assert r.percent_change == pytest.approx((14 / 24 - 1) * 100, rel=1e-4)


def _nypd() -> pd.DataFrame:
    nypd = pd.read_csv(
        DATA
        / "nypd_seven_major_felonies_by_precinct"
        / "nypd_seven_major_felonies_by_precinct_2000_2022.csv",
        dtype={"precinct": str},
    )
    # One recording system (2006+), pre-COVID; drop precincts whose boundaries changed
    # (077, 078, 088 in 2012; 121 created 2013) and the DOC rows (SOURCE.md).
    keep = ~nypd.precinct.isin({"121", "DOC", "77", "78", "88"}) & nypd.year.between(2006, 2019)
    return nypd.loc[keep].reset_index(drop=True)


@needs_data
def test_did_nypd_precinct_split_matches_statsmodels_directly() -> None:
    # Real "intervention": on 1 July 2013 precinct 121 was carved out of precincts 120 and 122
    # (NYPD notes, SOURCE.md), so from 2014 they cover less ground and record fewer felonies.
    d = _nypd()
    r = difference_in_differences(
        d,
        treated=["120", "122"],
        intervention=2014,
        entity="precinct",
        period="year",
        value="total_seven_major",
    )
    # statsmodels directly: two-way dummies, cluster-robust by precinct
    did = (d.precinct.isin(["120", "122"]) & (d.year >= 2014)).astype(float)
    X = pd.get_dummies(d[["precinct", "year"]].astype(str), drop_first=True, dtype=float)
    X.insert(0, "did", did)
    X = sm.add_constant(X)
    groups = pd.factorize(d.precinct)[0]
    direct = sm.OLS(d.total_seven_major.astype(float), X).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert r.estimate == pytest.approx(direct.params["did"], rel=1e-9)
    # statsmodels counts every dummy in K; the documented convention does not count the
    # precinct effects nested in the precinct clusters: se differ by exactly that factor
    n, k = direct.nobs, len(direct.params)
    n_nested = d.precinct.nunique() - 1
    factor = np.sqrt((n - k) / (n - k + n_nested))
    assert r.se == pytest.approx(direct.bse["did"] * factor, rel=1e-9)
    # ... and that convention is pyfixest's default CRV1, with t(G - 1) p-values and CIs
    pf = pytest.importorskip("pyfixest")
    ref = pf.feols(
        "total_seven_major ~ did | precinct + year",
        data=d.assign(did=did),
        vcov={"CRV1": "precinct"},
    )
    assert r.se == pytest.approx(ref.se()["did"], rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue()["did"], rel=1e-6)
    assert r.ci_low == pytest.approx(ref.confint().loc["did"].iloc[0], rel=1e-9)
    # independent point estimate: two-way within transformation of the balanced panel
    y = d.pivot(index="precinct", columns="year", values="total_seven_major").to_numpy(float)
    D = d.assign(did=did).pivot(index="precinct", columns="year", values="did").to_numpy(float)

    def within(a: np.ndarray) -> np.ndarray:
        return a - a.mean(axis=1, keepdims=True) - a.mean(axis=0, keepdims=True) + a.mean()

    yw, Dw = within(y), within(D)
    assert r.estimate == pytest.approx(float((yw * Dw).sum() / (Dw * Dw).sum()), rel=1e-9)
    # the lost territory shows as a large fall; pre-trends were parallel
    assert r.estimate < 0 and r.p_value < 0.001
    assert r.pre_trend is not None and r.pre_trend.passed
    assert r.sms.level == 4
    assert any("Only 2 treated" in n for n in r.notes)
    row = r.to_frame().iloc[0]
    assert row["sms_level"] == 4 and bool(row["pre_trend_passed"])
    assert json.loads(r.to_json())["pre_trend"]["passed"] is True


@needs_data
def test_poisson_did_nypd_matches_statsmodels_and_placebo_is_null() -> None:
    # Queens and Staten Island precincts only (100-123), to keep the Poisson fits quick
    d = _nypd()
    d = d.loc[d.precinct.astype(int) >= 100].reset_index(drop=True)
    kw = {
        "treated": ["120", "122"],
        "entity": "precinct",
        "period": "year",
        "value": "total_seven_major",
        "model": "poisson",
    }
    r = difference_in_differences(d, intervention=2014, check_pre_trend=False, **kw)
    did = (d.precinct.isin(["120", "122"]) & (d.year >= 2014)).astype(float)
    X = pd.get_dummies(d[["precinct", "year"]].astype(str), drop_first=True, dtype=float)
    X.insert(0, "did", did)
    X = sm.add_constant(X)
    direct = sm.GLM(d.total_seven_major.astype(float), X, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d.precinct)[0]}
    )
    assert r.estimate == pytest.approx(direct.params["did"], rel=1e-6)
    pf = pytest.importorskip("pyfixest")
    ref = pf.fepois(
        "total_seven_major ~ did | precinct + year",
        data=d.assign(did=did),
        vcov={"CRV1": "precinct"},
    )
    assert r.estimate == pytest.approx(ref.coef()["did"], rel=1e-6)
    assert r.se == pytest.approx(ref.se()["did"], rel=1e-5)
    assert r.p_value == pytest.approx(ref.pvalue()["did"], rel=1e-4)
    assert r.rate_ratio == pytest.approx(math.exp(direct.params["did"]), rel=1e-6)
    assert r.rate_ratio < 0.8
    # precinct felony counts are overdispersed; the summary says so and why the robust
    # standard errors still hold
    dispersion = [n for n in r.notes if n.startswith("Pearson dispersion of the Poisson fit")]
    assert dispersion and "overdispersed" in dispersion[0]
    assert direct.pearson_chi2 / direct.df_resid > 1.5
    # placebo: pretend the split happened in 2010, using 2006-2013 only -> no effect
    placebo = placebo_test(d, intervention=2014, placebo_intervention=2010, **kw)
    assert placebo.placebo
    assert placebo.p_value > 0.05
    assert placebo.summary().startswith("Placebo")
    with pytest.raises(SpecError, match="strictly inside"):
        placebo_test(d, intervention=2014, placebo_intervention=2016, **kw)


@needs_data
def test_pre_trend_check_can_fail_maryland() -> None:
    # Baltimore City murders per inhabitant were already rising faster than in the other
    # Maryland jurisdictions before 2015, so the parallel-trends check must flag it.
    md = pd.read_csv(
        DATA / "maryland_crime_by_county_1975_2020" / "md_crime_by_county_1975_2020.csv.gz"
    )
    md = md.loc[md.YEAR.between(2008, 2019)]
    r = difference_in_differences(
        md,
        treated=["Baltimore City"],
        intervention=2015,
        entity="JURISDICTION",
        period="YEAR",
        value="MURDER",
        exposure="POPULATION",
        model="poisson",
    )
    assert r.pre_trend is not None
    assert not r.pre_trend.passed
    assert "doubtful" in r.summary()
    # a single treated unit earns level 3 at most; the failed pre-trend check lowers it to 2
    assert r.sms.level == 2
    assert "rejects parallel trends" in r.sms.reason and "would earn level 3" in r.sms.reason
    direct = pre_trend_test(
        md,
        treated=["Baltimore City"],
        intervention=2015,
        entity="JURISDICTION",
        period="YEAR",
        value="MURDER",
        exposure="POPULATION",
        model="poisson",
    )
    assert direct.estimate == pytest.approx(r.pre_trend.estimate)
    # OLS on the rate per 100 000 uses value / exposure * 100 000
    ols = difference_in_differences(
        md,
        treated=["Baltimore City"],
        intervention=2015,
        entity="JURISDICTION",
        period="YEAR",
        value="MURDER",
        exposure="POPULATION",
        check_pre_trend=False,
    )
    assert any("rate per 100,000" in n for n in ols.notes)


@pytest.mark.parametrize(
    ("mutate", "kwargs", "match"),
    [
        (lambda f: f, {"treated": ["X"]}, "not in the data"),
        (lambda f: f, {"treated": ["T1", "T2", "C1", "C2"]}, "control group"),
        (lambda f: f, {"intervention": 5}, "no post"),
        (lambda f: f, {"intervention": 1}, "no pre"),
        (lambda f: pd.concat([f, f.iloc[:1]]), {}, "several rows"),
        (lambda f: f.assign(value=[np.nan] + [1.0] * 7), {}, "missing or non-numeric"),
        (lambda f: f.assign(value=-f.value), {"model": "poisson"}, "counts >= 0"),
        (lambda f: f.assign(pop=0.0), {"exposure": "pop"}, "must be > 0"),
        (lambda f: f, {"value": "nope"}, "missing column"),
    ],
)
def test_did_bad_input(mutate, kwargs: dict, match: str) -> None:  # type: ignore[no-untyped-def]
    args = {"treated": ["T1", "T2"], "intervention": 2}
    args.update(kwargs)
    with pytest.raises((DataError, SpecError), match=match):
        difference_in_differences(mutate(_two_by_two()), **args)


def test_did_unknown_model() -> None:
    with pytest.raises(SpecError, match="model"):
        difference_in_differences(_two_by_two(), treated=["T1"], intervention=2, model="probit")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- ITS


def test_its_recovers_known_level_and_slope_change() -> None:
    # y = 10 + 1.0 t + 5 P + 0.5 (t - 10) P + e, with a fixed ±0.2 alternating e, t = 0..19
    t = np.arange(20, dtype=float)
    post = t >= 10
    noise = 0.2 * np.where(np.arange(20) % 2 == 0, 1.0, -1.0)
    y = 10 + 1.0 * t + 5 * post + 0.5 * (t - 10) * post + noise
    frame = pd.DataFrame({"period": 2000 + t.astype(int), "value": y})
    r = interrupted_time_series(frame, intervention=2010)
    assert r.estimate == pytest.approx(5.0, abs=0.3)
    assert r.slope_change.estimate == pytest.approx(0.5, abs=0.05)
    assert r.pre_slope.estimate == pytest.approx(1.0, abs=0.05)
    assert r.n_pre == 10 and r.n_post == 10
    assert r.maxlags == max(1, math.floor(4 * (20 / 100) ** (2 / 9)))
    # counterfactual = the pre-period line carried on
    cf = np.array(r.counterfactual)
    assert cf[15] == pytest.approx(r.fit.params["const"] + r.fit.params["time"] * 15)
    table = r.to_frame()
    assert table["term"].tolist() == ["level_change", "slope_change", "pre_slope"]
    assert "Newey–West" in r.summary()


@needs_data
def test_its_nypd_precinct_matches_statsmodels_directly() -> None:
    d = _nypd()
    r = interrupted_time_series(
        d,
        intervention=2014,
        entity="precinct",
        entities=["122"],
        period="year",
        value="total_seven_major",
    )
    s = d.loc[d.precinct == "122"].sort_values("year")
    t = (s.year - s.year.iloc[0]).to_numpy(float)
    post = (s.year >= 2014).to_numpy(float)
    X = pd.DataFrame(
        {"const": 1.0, "time": t, "level_change": post, "slope_change": post * (t - 8)}
    )
    direct = sm.OLS(s.total_seven_major.to_numpy(float), X).fit(
        cov_type="HAC", cov_kwds={"maxlags": 2}
    )
    assert r.maxlags == 2  # floor(4 * (14/100)^(2/9)) = 2
    assert r.estimate == pytest.approx(direct.params["level_change"], rel=1e-9)
    assert r.se == pytest.approx(direct.bse["level_change"], rel=1e-9)
    assert r.slope_change.estimate == pytest.approx(direct.params["slope_change"], rel=1e-9)
    assert r.estimate < 0 and r.p_value < 0.01  # precinct 122 lost territory in mid-2013
    pois = interrupted_time_series(
        d,
        intervention=2014,
        entity="precinct",
        entities=["122"],
        period="year",
        value="total_seven_major",
        model="poisson",
    )
    assert math.exp(pois.estimate) < 1
    assert "%" in pois.summary()
    # summing several precincts needs complete series
    gap = d.drop(index=d.index[(d.precinct == "120") & (d.year == 2010)])
    with pytest.raises(DataError, match="every entity in every period"):
        interrupted_time_series(
            gap,
            intervention=2014,
            entity="precinct",
            entities=["120", "122"],
            period="year",
            value="total_seven_major",
        )


def test_its_bad_input() -> None:
    frame = pd.DataFrame({"period": range(2000, 2008), "value": np.arange(8.0)})
    with pytest.raises(DataError, match="at least 3 periods"):
        interrupted_time_series(frame, intervention=2006)
    with pytest.raises(DataError, match="missing column"):
        interrupted_time_series(frame, intervention=2004, value="count")
    with pytest.raises(SpecError, match="model"):
        interrupted_time_series(frame, intervention=2004, model="arima")  # type: ignore[arg-type]


def _national_shock() -> pd.DataFrame:
    # every area falls by 20 at 2015 (a national change); area "t" is the "treated" one
    rng = np.random.default_rng(8)
    rows = []
    for area, level in (("t", 200.0), ("c1", 180.0), ("c2", 220.0)):
        for year in range(2005, 2021):
            shock = -20.0 if year >= 2015 else 0.0
            rows.append(
                {
                    "area": area,
                    "year": year,
                    "n": level - 1.5 * (year - 2005) + shock + rng.normal(0, 2.0),
                }
            )
    return pd.DataFrame(rows)


def test_its_without_comparison_credits_a_national_shock_with_it_does_not() -> None:
    d = _national_shock()
    kw = {"intervention": 2015, "period": "year", "value": "n", "entity": "area"}
    alone = interrupted_time_series(d, entities=["t"], **kw)
    assert alone.estimate < -10 and alone.p_value < 0.01  # the shock, credited
    assert alone.sms.level == 2 and not alone.comparison
    assert "no comparison series" in alone.summary()
    assert "a national trend would be credited" in alone.summary()
    compared = interrupted_time_series(d, entities=["t"], comparison=["c1", "c2"], **kw)
    assert abs(compared.estimate) < 5 and compared.p_value > 0.05
    assert compared.sms.level == 3 and compared.comparison == ("c1", "c2")
    # equals the segmented OLS of the treated-minus-comparison series, by hand
    wide = d.pivot(index="year", columns="area", values="n")
    cmp_series = wide["c1"] + wide["c2"]
    pre = wide.index < 2015
    gap = wide["t"] - cmp_series * wide.loc[pre, "t"].mean() / cmp_series[pre].mean()
    t = np.arange(len(gap), dtype=float)
    post = (wide.index >= 2015).astype(float)
    X = np.column_stack([np.ones_like(t), t, post, post * (t - 10)])
    beta = np.linalg.lstsq(X, gap.to_numpy(), rcond=None)[0]
    assert compared.estimate == pytest.approx(beta[2], rel=1e-9)
    assert compared.slope_change.estimate == pytest.approx(beta[3], rel=1e-9)
    with pytest.raises(SpecError, match="model='ols'"):
        interrupted_time_series(d, entities=["t"], comparison=["c1"], model="poisson", **kw)
    with pytest.raises(SpecError, match="both in the treated series"):
        interrupted_time_series(d, entities=["t", "c1"], comparison=["c1"], **kw)


def test_its_autocorrelation_lowers_the_claim() -> None:
    # AR(1) residuals with rho = 0.9 and a real level change: Durbin–Watson well below 1.5
    rng = np.random.default_rng(2)
    e = np.zeros(40)
    for i in range(1, 40):
        e[i] = 0.9 * e[i - 1] + rng.normal(0, 1.0)
    years = np.arange(1981, 2021)
    y = 50 + 0.2 * (years - 1981) - 8.0 * (years >= 2001) + e
    r = interrupted_time_series(
        pd.DataFrame({"period": years, "value": y}), intervention=2001, model="ols"
    )
    assert r.durbin_watson < 1.5 and r.autocorrelated
    assert r.p_value < 0.05
    assert "nominally statistically significant, but the residuals are autocorrelated" in (
        r.summary()
    )
    assert "Maryland SMS level 2" in r.summary()
