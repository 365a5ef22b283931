"""Tests of securindex.evaluation.dispersion and of overdispersion used by the count tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from securindex.errors import DataError
from securindex.evaluation import (
    evaluate_initiative,
    rate_ratio_test,
    relative_effect_size,
    weighted_displacement_difference,
)
from securindex.evaluation.dispersion import (
    Dispersion,
    dispersion_from_counts,
    estimate_dispersion,
    resolve_dispersion,
)

sm = pytest.importorskip("statsmodels.api", reason="statsmodels is the reference")


def _maryland(shared_data: Path) -> pd.DataFrame:
    md = pd.read_csv(
        shared_data / "maryland_crime_by_county_1975_2020" / "md_crime_by_county_1975_2020.csv.gz"
    )
    return md.loc[md["YEAR"].between(2010, 2014), ["JURISDICTION", "YEAR", "POPULATION", "ROBBERY"]]


def _statsmodels_pearson(d: pd.DataFrame, offset: bool) -> float:
    X = pd.get_dummies(d[["JURISDICTION", "YEAR"]].astype(str), drop_first=True, dtype=float)
    X = sm.add_constant(X)
    fit = sm.GLM(
        d["ROBBERY"].astype(float),
        X,
        family=sm.families.Poisson(),
        offset=np.log(d["POPULATION"].astype(float)) if offset else None,
    ).fit(tol=1e-13)
    return float(fit.pearson_chi2 / fit.df_resid)


@pytest.mark.parametrize("offset", [False, True])
def test_two_way_pearson_dispersion_equals_statsmodels_on_maryland(
    shared_data: Path, offset: bool
) -> None:
    d = _maryland(shared_data)
    ours = estimate_dispersion(
        d,
        entity="JURISDICTION",
        period="YEAR",
        count="ROBBERY",
        exposure="POPULATION" if offset else None,
    )
    assert ours.method == "pearson_two_way"
    assert ours.df == (d["JURISDICTION"].nunique() - 1) * 4
    assert ours.estimate == pytest.approx(_statsmodels_pearson(d, offset), rel=1e-8)
    # county robbery counts are far from Poisson
    assert ours.overdispersed and ours.value == ours.estimate > 1.5
    assert "quasi-Poisson variance, dispersion" in ours.phrase()


def test_index_of_dispersion_for_one_series_and_edge_cases() -> None:
    y = np.array([12.0, 30.0, 8.0, 22.0, 15.0])
    d = dispersion_from_counts(y)
    assert d.method == "index_of_dispersion" and d.df == 4
    assert d.estimate == pytest.approx(y.var(ddof=1) / y.mean())
    # under-dispersion is not used to narrow intervals
    flat = dispersion_from_counts(np.array([[10.0, 10.0], [20.0, 20.0]]))
    assert flat.estimate == 0.0 and flat.value == 1.0
    assert "not above 1" in flat.phrase()
    assert dispersion_from_counts(np.array([[5.0], [7.0]])).method == "poisson"
    with pytest.raises(DataError):
        dispersion_from_counts(np.array([[-1.0, 2.0]]))
    assert resolve_dispersion("poisson").value == 1.0
    assert resolve_dispersion(2.5) == Dispersion(2.5, math.nan, "given", 0) or (
        resolve_dispersion(2.5).value == 2.5
    )


def test_quasi_poisson_rate_ratio_and_res_widen_by_sqrt_phi() -> None:
    base = rate_ratio_test(300, 1.0, 240, 1.0)
    quasi = rate_ratio_test(300, 1.0, 240, 1.0, overdispersion=4.0)
    assert base.method.startswith("exact") and quasi.method.startswith("quasi-Poisson")
    assert quasi.estimate == base.estimate
    se = math.sqrt(4.0 * (1 / 300 + 1 / 240))
    z = 1.959963984540054
    assert quasi.ci_low == pytest.approx(0.8 * math.exp(-z * se))
    assert quasi.ci_high == pytest.approx(0.8 * math.exp(z * se))
    assert quasi.p_value > base.p_value
    res = relative_effect_size(300, 240, 3000, 3000, overdispersion=4.0)
    assert res.se_log == pytest.approx(2 * relative_effect_size(300, 240, 3000, 3000).se_log)


def test_wdd_warns_about_a_much_larger_control_and_offers_the_scaled_variant() -> None:
    # the case: the treated area fell by 25 %, its 9x larger control by 10 %
    raw = weighted_displacement_difference(1000, 750, 9000, 8100)
    assert raw.estimate == 650.0  # (-250) - (-900): raw counts say "crime rose"
    assert any("9.0 times as many crimes" in n for n in raw.notes)
    assert "exposure=" in raw.summary()
    scaled = weighted_displacement_difference(
        1000, 750, 9000, 8100, exposure={"treated": 1.0, "control": 9.0}
    )
    assert scaled.scaled
    assert scaled.estimate == pytest.approx(-150.0)  # (-250) - (-900/9)
    assert scaled.se == pytest.approx(math.sqrt(1000 + 750 + (9000 + 8100) / 81))
    text = scaled.summary()
    assert text.startswith("Exposure-scaled WDD")
    assert "150.0 crimes fewer than expected (prevented)" in text
    assert "-150" not in text.split("(se")[1]  # no "-150 crimes prevented"


def _overdispersed_panel() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(12):
        mean = 200.0 * (1 + i % 3)
        for year in range(2010, 2018):
            lam = mean * rng.gamma(20.0, 1 / 20.0)  # extra-Poisson variation ≈ 10 × mean
            if i < 2 and year >= 2015:
                lam *= 0.8
            rows.append({"area": f"a{i}", "year": year, "n": int(rng.poisson(lam))})
    return pd.DataFrame(rows)


def test_evaluate_initiative_estimates_and_uses_the_dispersion() -> None:
    frame = _overdispersed_panel()
    kw = {
        "treated": ["a0", "a1"],
        "control": [f"a{i}" for i in range(2, 12)],
        "before": list(range(2010, 2015)),
        "after": [2015, 2016, 2017],
        "entity": "area",
        "period": "year",
        "count": "n",
    }
    ev = evaluate_initiative(frame, **kw)
    before = frame[frame["year"] < 2015].pivot(index="area", columns="year", values="n")
    expected = dispersion_from_counts(before.to_numpy(float))
    assert ev.dispersion.estimate == pytest.approx(expected.estimate)
    assert ev.dispersion.value > 1.5
    poisson = evaluate_initiative(frame, overdispersion="poisson", **kw)
    ratio = ev.relative_effect.se_log / poisson.relative_effect.se_log
    assert ratio == pytest.approx(math.sqrt(ev.dispersion.value))
    assert ev.treated_rate_ratio.method.startswith("quasi-Poisson")
    assert ev.displacement_difference.se == pytest.approx(
        poisson.displacement_difference.se * math.sqrt(ev.dispersion.value)
    )
    assert "quasi-Poisson variance, dispersion" in ev.summary()
    assert any(n.startswith("Warning: the counts are overdispersed") for n in poisson.notes)
    # 5 years before, 3 after: changes are per period and rates read "per period"
    assert ev.pre_post.per_period
    assert "per period" in ev.pre_post.summary()
    assert "per period" in ev.treated_rate_ratio.summary()
    assert "per unit of exposure" not in ev.summary()
