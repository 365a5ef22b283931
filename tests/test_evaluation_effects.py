"""Tests of securindex.evaluation.before_after, .displacement and .initiative: RES, rate ratio, WDQ, WDD, pre/post, initiatives."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from securindex.errors import DataError, SpecError
from securindex.evaluation import (
    WeightedCount,
    evaluate_initiative,
    evaluate_initiative_spec,
    harm_weighted_count,
    pre_post_comparison,
    rate_ratio_test,
    relative_effect_size,
    weighted_displacement_difference,
    weighted_displacement_quotient,
)
from securindex.evaluation.spec import DesignSpec, InitiativeSpec

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared real-data folder not found at {DATA}"
)

counts = st.integers(min_value=1, max_value=5000)


# ----------------------------------------------------------------------------- RES


def test_res_hand_computed_and_wilson_example() -> None:
    # Published worked example (Wheeler 2021, "Comparing the WDD vs the Wilson log IRR
    # estimator", andrewpwheeler.com/2021/03/18/, after D. B. Wilson 2021, J. Quant. Criminol.):
    # treated 50 -> 30, control 60 -> 55: IRR = (30/50)/(55/60) = 0.6545455, so
    # RES = 1/IRR = (50*55)/(30*60) = 2750/1800 = 1.527778.
    r = relative_effect_size(50, 30, 60, 55)
    assert r.estimate == pytest.approx(2750 / 1800)
    assert 1 / r.estimate == pytest.approx(0.6545455, abs=1e-7)
    # Var(ln RES) = 1/50 + 1/30 + 1/60 + 1/55 = 0.0881818
    var = 1 / 50 + 1 / 30 + 1 / 60 + 1 / 55
    assert r.se_log == pytest.approx(math.sqrt(var))
    assert r.z == pytest.approx(math.log(2750 / 1800) / math.sqrt(var))
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(r.z)))
    z = stats.norm.ppf(0.975)
    assert r.ci_low == pytest.approx(math.exp(math.log(2750 / 1800) - z * math.sqrt(var)))
    assert r.ci_high == pytest.approx(math.exp(math.log(2750 / 1800) + z * math.sqrt(var)))
    # percent change relative to control = (1/RES - 1) * 100 = -34.545 %
    assert r.percent_change == pytest.approx(-34.545454, abs=1e-5)
    assert r.percent_change_ci_low < r.percent_change < r.percent_change_ci_high
    assert not r.zero_corrected
    assert "desirable" in r.summary()
    assert "within what chance" in r.summary()  # p = 0.15


def test_res_overdispersion_inflates_variance() -> None:
    base = relative_effect_size(50, 30, 60, 55)
    inflated = relative_effect_size(50, 30, 60, 55, overdispersion=2.0)
    assert inflated.estimate == base.estimate
    assert inflated.se_log == pytest.approx(base.se_log * math.sqrt(2))
    assert "quasi-Poisson variance with the dispersion given (2)" in inflated.summary()
    assert "Poisson variance assumed" in base.summary()


def test_res_zero_cell_is_corrected_and_said() -> None:
    # a=10, b=0, c=20, d=25 -> +0.5 everywhere: 10.5*25.5/(0.5*20.5) = 26.12195
    r = relative_effect_size(10, 0, 20, 25)
    assert r.zero_corrected
    assert r.estimate == pytest.approx(10.5 * 25.5 / (0.5 * 20.5))
    assert "Haldane" in r.summary()
    with pytest.raises(DataError, match="zero"):
        relative_effect_size(10, 0, 20, 25, zero_correction=0)


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ((0, 0, 20, 25), "treated area recorded no crime"),
        ((10, 5, 0, 0), "control area recorded no crime"),
        ((-1, 5, 20, 25), "cannot be negative|must be finite"),
        ((float("nan"), 5, 20, 25), "must be finite"),
    ],
)
def test_res_bad_counts(cells: tuple[float, ...], match: str) -> None:
    with pytest.raises(DataError, match=match):
        relative_effect_size(*cells)


def test_res_bad_options() -> None:
    with pytest.raises(SpecError):
        relative_effect_size(1, 2, 3, 4, overdispersion=0)
    with pytest.raises(SpecError):
        relative_effect_size(1, 2, 3, 4, confidence=1.5)
    with pytest.raises(SpecError, match="polarity"):
        relative_effect_size(1, 2, 3, 4, polarity="good")  # type: ignore[arg-type]


@given(counts, counts, counts, counts)
@settings(max_examples=40)
def test_res_swapping_areas_inverts(a: int, b: int, c: int, d: int) -> None:
    # Exchanging treated and control areas inverts RES and keeps its standard error.
    r = relative_effect_size(a, b, c, d)
    s = relative_effect_size(c, d, a, b)
    assert s.estimate == pytest.approx(1 / r.estimate, rel=1e-9)
    assert s.se_log == pytest.approx(r.se_log, rel=1e-9)
    assert r.ci_low <= r.estimate <= r.ci_high


@given(counts, counts, counts, counts, st.floats(min_value=0.1, max_value=50))
@settings(max_examples=40)
def test_res_harm_weights_uniform_scaling_changes_nothing(
    a: int, b: int, c: int, d: int, w: float
) -> None:
    # Weighting every crime by the same w multiplies value by w and variance by w²,
    # so RES and Var(ln RES) are unchanged.
    plain = relative_effect_size(a, b, c, d)
    weighted = relative_effect_size(*[WeightedCount(w * n, w * w * n, n) for n in (a, b, c, d)])
    assert weighted.estimate == pytest.approx(plain.estimate, rel=1e-9)
    assert weighted.se_log == pytest.approx(plain.se_log, rel=1e-9)


def test_harm_weighted_count() -> None:
    # 10 burglaries (weight 1) + 2 robberies (weight 5): value 10 + 10 = 20,
    # variance 1*10 + 25*2 = 60, events 12
    wc = harm_weighted_count({"burglary": 10, "robbery": 2}, {"burglary": 1.0, "robbery": 5.0})
    assert wc == WeightedCount(20.0, 60.0, 12.0)
    with pytest.raises(DataError, match="no harm weight"):
        harm_weighted_count({"burglary": 10, "arson": 1}, {"burglary": 1.0})
    with pytest.raises(SpecError, match=">= 0"):
        harm_weighted_count({"burglary": 10}, {"burglary": -1.0})
    with pytest.raises(DataError):
        harm_weighted_count({"burglary": -3}, {"burglary": 1.0})


# ----------------------------------------------------------------------------- rate ratio


def test_rate_ratio_gu_et_al_example() -> None:
    # Gu, Ng, Tang & Schucany (2008), Biometrical Journal 50(2):283, example 1:
    # 60 events in 51477.5 person-years vs 30 in 54308.7.
    r = rate_ratio_test(30, 54308.7, 60, 51477.5)
    # ratio (60/51477.5)/(30/54308.7) = 2.10999757 (R exactci::poisson.exact estimate)
    assert r.estimate == pytest.approx(2.10999757175465, rel=1e-12)
    # two-sided exact conditional p from R exactci::poisson.exact(tsmethod="minlike"):
    # 0.000675182658686321
    assert r.p_value == pytest.approx(0.000675182658686321, rel=1e-9)
    # one-sided exact conditional p reported by Gu et al. (2008): 0.000428
    greater = rate_ratio_test(30, 54308.7, 60, 51477.5, alternative="greater")
    assert greater.p_value == pytest.approx(0.000428, abs=5e-6)
    # Clopper-Pearson CI of pi = x1/n, n = 90, mapped to rho = pi/(1-pi) * e0/e1
    lo_pi = stats.beta.ppf(0.025, 60, 31)
    hi_pi = stats.beta.ppf(0.975, 61, 30)
    assert r.ci_low == pytest.approx(lo_pi / (1 - lo_pi) * 54308.7 / 51477.5, rel=1e-6)
    assert r.ci_high == pytest.approx(hi_pi / (1 - hi_pi) * 54308.7 / 51477.5, rel=1e-6)
    assert r.method.startswith("exact")
    assert "undesirable" in r.summary()  # crime rate doubled


def test_rate_ratio_hand_cases() -> None:
    # equal counts, equal exposure: ratio 1, two-sided p = 1
    r = rate_ratio_test(10, 1.0, 10, 1.0)
    assert r.estimate == 1.0
    assert r.p_value == pytest.approx(1.0)
    # zero in the after period: ratio 0, lower limit 0, still an exact test
    z = rate_ratio_test(12, 1.0, 0, 1.0)
    assert z.estimate == 0.0
    assert z.ci_low == 0.0
    assert z.p_value == pytest.approx(2 * 0.5**12)  # Binomial(12, 1/2): P(X=0) doubled
    assert any("Wald z is undefined" in n for n in z.notes)


def test_rate_ratio_harm_weighted_uses_wald() -> None:
    r = rate_ratio_test(WeightedCount(40, 200, 10), 1.0, WeightedCount(20, 100, 5), 1.0)
    assert r.method.startswith("wald")
    # ln(0.5) / sqrt(200/40² + 100/20²)
    assert r.z == pytest.approx(math.log(0.5) / math.sqrt(200 / 1600 + 100 / 400))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 1.0, 0, 1.0), "no events"),
        ((10, 0.0, 5, 1.0), "exposure"),
        ((10, 1.0, 5.5, 1.0), "whole counts"),
        ((-2, 1.0, 5, 1.0), "must be finite and >= 0|cannot be negative"),
    ],
)
def test_rate_ratio_bad_input(args: tuple[float, ...], match: str) -> None:
    with pytest.raises(DataError, match=match):
        rate_ratio_test(*args)


# ----------------------------------------------------------------------------- WDQ


def test_wdq_readings_hand_computed() -> None:
    # r 100 -> 60, c 200 -> 200: success = 60/200 - 100/200 = -0.2
    # d 80 -> 72: buffer = 72/200 - 80/200 = -0.04, WDQ = 0.2: diffusion of benefits
    # TNE = (100*200/200 - 60) + (80*200/200 - 72) = 40 + 8 = 48
    r = weighted_displacement_quotient(100, 60, 80, 72, 200, 200)
    assert r.success_measure == pytest.approx(-0.2)
    assert r.buffer_displacement_measure == pytest.approx(-0.04)
    assert r.estimate == pytest.approx(0.2)
    assert r.reading == "diffusion of benefits"
    assert r.total_net_effect == pytest.approx(48)
    # d 80 -> 100: buffer = +0.1, WDQ = -0.5: displacement smaller than the benefit; TNE 40-20
    r = weighted_displacement_quotient(100, 60, 80, 100, 200, 200)
    assert r.estimate == pytest.approx(-0.5)
    assert "net benefit" in r.reading
    assert r.total_net_effect == pytest.approx(20)
    # d 80 -> 130: buffer = +0.25, WDQ = -1.25: net harm; TNE = 40 - 50 = -10
    r = weighted_displacement_quotient(100, 60, 80, 130, 200, 200)
    assert r.estimate == pytest.approx(-1.25)
    assert "net harm" in r.reading
    assert r.total_net_effect == pytest.approx(-10)
    # no double negative ("-10 crimes added"): the net harm reads as crimes more than expected
    assert "total net effect is 10.0 crimes more than expected" in r.summary()
    assert "-10" not in r.summary()
    # d 80 -> 40 with control 200 -> 100: buffer = 0.4 - 0.4 = 0 -> no displacement
    # success = 60/100 - 100/200 = 0.1 > 0 though -> not interpretable
    r = weighted_displacement_quotient(100, 60, 80, 40, 200, 100)
    assert not r.interpretable
    # diffusion larger than the direct effect: d 80 -> 20 -> buffer -0.3, WDQ 1.5
    r = weighted_displacement_quotient(100, 60, 80, 20, 200, 200)
    assert r.estimate == pytest.approx(1.5)
    assert r.reading.startswith("diffusion of benefits larger")


def test_wdq_only_interpretable_when_treated_improved() -> None:
    # r 100 -> 120 with a flat control: success = +0.1 -> not interpretable, NaN estimate
    r = weighted_displacement_quotient(100, 120, 80, 90, 200, 200)
    assert not r.interpretable
    assert math.isnan(r.estimate)
    assert r.raw_quotient == pytest.approx((90 / 200 - 80 / 200) / 0.1)
    assert "not interpretable" in r.summary()


def test_wdq_needs_control_crime() -> None:
    with pytest.raises(DataError, match="control area must record crime"):
        weighted_displacement_quotient(10, 5, 3, 3, 0, 4)


# ----------------------------------------------------------------------------- WDD


def test_wdd_ptools_examples() -> None:
    # ptools::wdd documentation (Wheeler), no displacement: control (20, 20), treated (20, 10)
    # WDD = (10 - 20) - (20 - 20) = -10; Var = 10 + 20 + 20 + 20 = 70
    r = weighted_displacement_difference(20, 10, 20, 20)
    assert r.estimate == -10
    assert r.se == pytest.approx(math.sqrt(70))
    assert r.z == pytest.approx(-10 / math.sqrt(70))
    assert r.crimes_prevented == 10
    # with displacement: treated buffer (30, 20), buffer control (30, 30)
    # displacement part = (20 - 30) - (30 - 30) = -10 with variance 20 + 30 + 30 + 30 = 110;
    # total -20 with variance 70 + 110 = 180
    r = weighted_displacement_difference(20, 10, 20, 20, 30, 20, 30, 30)
    assert r.local_estimate == -10
    assert r.displacement_estimate == -10
    assert r.estimate == -20
    assert r.displacement_se == pytest.approx(math.sqrt(110))
    assert r.se == pytest.approx(math.sqrt(180))
    z90 = stats.norm.ppf(0.95)
    r90 = weighted_displacement_difference(20, 10, 20, 20, 30, 20, 30, 30, confidence=0.90)
    assert r90.ci_low == pytest.approx(-20 - z90 * math.sqrt(180))


def test_wdd_unequal_periods_wheeler_2021() -> None:
    # Wheeler (2021) "The WDD test with different pre/post time periods": treated 80 -> 20,
    # control 100 -> 50, two years before and one after.
    raw = weighted_displacement_difference(80, 20, 100, 50)
    assert raw.estimate == -10  # (20 - 80) - (50 - 100)
    assert raw.se == pytest.approx(math.sqrt(250))  # 20 + 80 + 50 + 100
    per_year = weighted_displacement_difference(80, 20, 100, 50, before_length=2, after_length=1)
    assert per_year.estimate == -20  # (20 - 40) - (50 - 50)
    assert per_year.se == pytest.approx(math.sqrt(115))  # 20/1 + 80/4 + 50/1 + 100/4
    assert per_year.ci_low == pytest.approx(-20 - 1.959964 * math.sqrt(115), abs=1e-5)  # ≈ -41
    assert per_year.ci_high == pytest.approx(1.0, abs=0.05)  # ≈ +1
    assert any("differ in length" in n for n in per_year.notes)
    assert "rescaled" in per_year.summary()


def test_wdd_harm_weighted_variance() -> None:
    # Treated before: harm 20 (variance 60); after: harm 5 (variance 5); controls plain 10, 10.
    r = weighted_displacement_difference(WeightedCount(20, 60, 12), WeightedCount(5, 5, 5), 10, 10)
    assert r.estimate == -15  # (5 - 20) - (10 - 10)
    assert r.se == pytest.approx(math.sqrt(60 + 5 + 10 + 10))


def test_wdd_bad_input() -> None:
    with pytest.raises(DataError, match="period lengths"):
        weighted_displacement_difference(1, 2, 3, 4, before_length=0)
    with pytest.raises(DataError, match="all counts are zero"):
        weighted_displacement_difference(0, 0, 0, 0)
    with pytest.raises(DataError):
        weighted_displacement_difference(-1, 2, 3, 4)


@given(counts, counts, counts, counts)
@settings(max_examples=40)
def test_wdd_swapping_treated_and_control_negates(a: int, b: int, c: int, d: int) -> None:
    r = weighted_displacement_difference(a, b, c, d)
    s = weighted_displacement_difference(c, d, a, b)
    assert s.estimate == pytest.approx(-r.estimate)
    assert s.se == pytest.approx(r.se)


# ----------------------------------------------------------------------------- pre/post


def test_pre_post_hand_computed() -> None:
    # expected = 50 * 55 / 60 = 45.8333; prevented = 45.8333 - 30 = 15.8333
    # Var = E²(1/50 + 1/60 + 1/55) + 30
    r = pre_post_comparison(50, 30, 60, 55)
    expected = 50 * 55 / 60
    assert r.expected_after == pytest.approx(expected)
    assert r.estimate == pytest.approx(expected - 30)
    se = math.sqrt(expected**2 * (1 / 50 + 1 / 60 + 1 / 55) + 30)
    assert r.z == pytest.approx((expected - 30) / se)
    assert r.treated_change_percent == pytest.approx(-40.0)
    assert r.control_change_percent == pytest.approx(-100 * 5 / 60)
    # the same relative change as RES: b / E - 1 = 1/RES - 1
    assert r.percent_vs_expected == pytest.approx(
        relative_effect_size(50, 30, 60, 55).percent_change
    )
    with pytest.raises(DataError, match="no trend"):
        pre_post_comparison(50, 30, 0, 55)
    with pytest.raises(DataError, match="nothing to prevent"):
        pre_post_comparison(0, 3, 10, 12)


# ----------------------------------------------------------------------------- initiative


def _toy_panel() -> pd.DataFrame:
    rows = []
    # treated t1,t2; controls c1,c2; buffer b1; buffer control bc1; periods 1..4
    series = {
        "t1": [30, 28, 15, 16],
        "t2": [20, 22, 12, 10],
        "c1": [40, 42, 41, 39],
        "c2": [20, 18, 20, 21],
        "b1": [25, 24, 20, 21],
        "bc1": [30, 31, 30, 29],
    }
    for e, values in series.items():
        for p, v in enumerate(values, start=1):
            rows.append({"area": e, "year": p, "n": v, "pop": 1000.0})
    return pd.DataFrame(rows)


def test_evaluate_initiative_matches_the_small_functions() -> None:
    frame = _toy_panel()
    ev = evaluate_initiative(
        frame,
        treated=["t1", "t2"],
        control=["c1", "c2"],
        buffer=["b1"],
        buffer_control=["bc1"],
        before=[1, 2],
        after=[3, 4],
        entity="area",
        period="year",
        count="n",
        exposure="pop",
        name="toy",
    )
    # a = 30+28+20+22 = 100, b = 15+16+12+10 = 53, c = 40+42+20+18 = 120, d = 41+39+20+21 = 121
    assert ev.relative_effect.estimate == pytest.approx(100 * 121 / (53 * 120))
    assert ev.pre_post.expected_after == pytest.approx(100 * 121 / 120)
    # buffer 49 -> 41, buffer control 61 -> 59
    wdq = weighted_displacement_quotient(100, 53, 49, 41, 120, 121)
    assert ev.displacement_quotient.estimate == pytest.approx(wdq.estimate)
    wdd = weighted_displacement_difference(
        100, 53, 120, 121, 49, 41, 61, 59, before_length=2, after_length=2
    )
    assert ev.displacement_difference.estimate == pytest.approx(wdd.estimate)
    # exposure: 2 areas x 2 periods x 1000 inhabitants in each phase
    assert ev.treated_rate_ratio.e0 == 4000.0
    assert ev.treated_rate_ratio.estimate == pytest.approx(53 / 100)
    assert ev.sms.level == 3
    table = ev.to_frame()
    assert set(table["result"]) == {
        "pre_post",
        "relative_effect",
        "treated_rate_ratio",
        "control_rate_ratio",
        "displacement_quotient",
        "displacement_difference",
        "displacement_difference_scaled",
    }
    assert list(table.columns[:8]) == [
        "initiative",
        "result",
        "measure",
        "estimate",
        "ci_low",
        "ci_high",
        "z",
        "p_value",
    ]
    text = ev.summary()
    assert text.startswith("Evaluation of toy")
    assert "Maryland SMS level 3" in text
    payload = json.loads(ev.to_json())
    assert payload["relative_effect"]["estimate"] == pytest.approx(ev.relative_effect.estimate)
    assert len(payload["totals"]) == 8


def test_evaluate_initiative_exports(tmp_path: Path) -> None:
    ev = evaluate_initiative(
        _toy_panel(),
        treated=["t1"],
        control=["c1"],
        before=[1, 2],
        after=[3, 4],
        entity="area",
        period="year",
        count="n",
    )
    ev.to_csv(tmp_path / "ev.csv")
    back = pd.read_csv(tmp_path / "ev.csv")
    assert len(back) == len(ev.to_frame())
    ev.to_json(tmp_path / "ev.json")
    assert json.loads((tmp_path / "ev.json").read_text())["name"] == "initiative"
    ev.relative_effect.to_json(tmp_path / "res.json")
    assert json.loads((tmp_path / "res.json").read_text())["measure"] == "relative_effect_size"


def test_evaluate_initiative_unequal_periods_are_rates_and_said() -> None:
    ev = evaluate_initiative(
        _toy_panel(),
        treated=["t1"],
        control=["c1"],
        before=[1, 2],
        after=[3],
        entity="area",
        period="year",
        count="n",
    )
    # WDD per period: (15/1 - 58/2) - (41/1 - 82/2) = -14 - 0 = -14
    assert ev.displacement_difference.estimate == pytest.approx(-14)
    assert any("2 and 1 periods" in n for n in ev.notes)
    assert ev.treated_rate_ratio.estimate == pytest.approx(15 / 29)  # rate per period


def test_evaluate_initiative_without_control_is_level_2() -> None:
    ev = evaluate_initiative(
        _toy_panel(),
        treated=["t1"],
        before=[1, 2],
        after=[3, 4],
        entity="area",
        period="year",
        count="n",
    )
    assert ev.relative_effect is None
    assert ev.sms.level == 2
    assert "No control area" in ev.summary()


def test_evaluate_initiative_harm_weights() -> None:
    frame = pd.DataFrame(
        {
            "entity": ["t", "t", "t", "t", "c", "c", "c", "c"],
            "period": [1, 1, 2, 2, 1, 1, 2, 2],
            "offence": ["burglary", "robbery"] * 4,
            "count": [10, 2, 8, 1, 20, 4, 20, 4],
        }
    )
    ev = evaluate_initiative(
        frame,
        treated=["t"],
        control=["c"],
        before=[1],
        after=[2],
        offence="offence",
        harm_weights={"burglary": 1.0, "robbery": 5.0},
    )
    # treated: before 10 + 2*5 = 20 (var 10 + 2*25 = 60); after 8 + 5 = 13 (var 8 + 25 = 33)
    # control: before 20 + 20 = 40 (var 20 + 100 = 120); after the same
    expected = relative_effect_size(
        WeightedCount(20, 60, 12),
        WeightedCount(13, 33, 9),
        WeightedCount(40, 120, 24),
        WeightedCount(40, 120, 24),
    )
    assert ev.relative_effect.estimate == pytest.approx(expected.estimate)
    assert ev.relative_effect.se_log == pytest.approx(expected.se_log)
    assert ev.treated_rate_ratio.method.startswith("wald")
    assert any("harm-weighted" in n for n in ev.notes)
    with pytest.raises(DataError, match="no harm weight"):
        evaluate_initiative(
            frame,
            treated=["t"],
            control=["c"],
            before=[1],
            after=[2],
            offence="offence",
            harm_weights={"burglary": 1.0},
        )
    with pytest.raises(SpecError, match="offence column"):
        evaluate_initiative(
            frame,
            treated=["t"],
            control=["c"],
            before=[1],
            after=[2],
            harm_weights={"burglary": 1.0},
        )
    with pytest.raises(DataError, match="several rows"):
        evaluate_initiative(frame, treated=["t"], control=["c"], before=[1], after=[2])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"control": ["t1", "c1"]}, SpecError, "cannot be its own comparison"),
        ({"buffer": ["c1"]}, SpecError, "both as control and as buffer"),
        ({"after": [2, 3]}, SpecError, "both before and after"),
        ({"control": ["c9"]}, DataError, "do not appear"),
        ({"before": [0, 1]}, DataError, "baseline \\(before\\) period needs data"),
        ({"count": "missing"}, DataError, "missing column"),
    ],
)
def test_evaluate_initiative_bad_input(kwargs: dict, error: type, match: str) -> None:
    args = {
        "treated": ["t1"],
        "control": ["c1"],
        "before": [1, 2],
        "after": [3, 4],
        "entity": "area",
        "period": "year",
        "count": "n",
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        evaluate_initiative(_toy_panel(), **args)


def test_evaluate_initiative_missing_row_and_negative_count() -> None:
    frame = _toy_panel()
    gap = frame.drop(index=frame.index[(frame.area == "c1") & (frame.year == 2)])
    with pytest.raises(DataError, match="a missing row is not a zero") as info:
        evaluate_initiative(
            gap,
            treated=["t1"],
            control=["c1"],
            before=[1, 2],
            after=[3, 4],
            entity="area",
            period="year",
            count="n",
        )
    assert info.value.rows == ("c1 2",)
    bad = frame.copy()
    bad.loc[0, "n"] = -5
    with pytest.raises(DataError, match="finite and >= 0"):
        evaluate_initiative(
            bad,
            treated=["t1"],
            control=["c1"],
            before=[1, 2],
            after=[3, 4],
            entity="area",
            period="year",
            count="n",
        )


def test_evaluate_initiative_from_spec() -> None:
    spec = InitiativeSpec(
        name="toy patrols",
        treated=["t1"],
        control=["c1"],
        before={"start": 1, "end": 2},
        after=[3, 4],
    )
    ev = evaluate_initiative_spec(
        _toy_panel(),
        spec,
        DesignSpec(comparable_control=False),
        entity="area",
        period="year",
        count="n",
    )
    assert ev.name == "toy patrols"
    assert ev.sms.level == 2  # control not shown comparable


@needs_data
def test_evaluate_initiative_on_berlin_crime_atlas() -> None:
    # Real panel (Polizei Berlin, Kriminalitätsatlas; see shared/data SOURCE.md). Pseudo
    # initiative: the Alexanderplatz region treated from 2016, its Mitte neighbours as buffer,
    # and three Charlottenburg-Wilmersdorf regions as control. The point is the machinery on
    # real counts: totals must equal pandas sums and RES the formula on them.
    berlin = pd.read_csv(DATA / "berlin_crime_atlas_2012_2019" / "berlin_crimes_2012_2019.csv")
    mitte = berlin.loc[berlin["District"] == "Mitte", "Location"].unique()
    treated = ["Alexanderplatz"]
    buffer = [x for x in mitte if x not in treated and "nicht zuzuordnen" not in x][:3]
    charl = berlin.loc[berlin["District"] == "Charlottenburg-Wilmersdorf", "Location"].unique()
    control = [x for x in charl if "nicht zuzuordnen" not in x][:3]
    ev = evaluate_initiative(
        berlin,
        treated=treated,
        buffer=buffer,
        control=control,
        before=[2014, 2015],
        after=[2016, 2017],
        entity="Location",
        period="Year",
        count="Robbery",
        name="Alex",
    )

    def total(areas: list[str], years: list[int]) -> int:
        sel = berlin["Location"].isin(areas) & berlin["Year"].isin(years)
        return int(berlin.loc[sel, "Robbery"].sum())

    a, b = total(treated, [2014, 2015]), total(treated, [2016, 2017])
    c, d = total(control, [2014, 2015]), total(control, [2016, 2017])
    assert ev.relative_effect.estimate == pytest.approx(a * d / (b * c))
    # the before-period dispersion of the 7 areas (2 years) is estimated and used
    phi = ev.dispersion.value
    assert ev.dispersion.method == "pearson_two_way" and ev.dispersion.df == 6
    assert ev.relative_effect.se_log == pytest.approx(
        math.sqrt(phi * (1 / a + 1 / b + 1 / c + 1 / d))
    )
    row = ev.totals.set_index(["role", "phase"]).loc[("buffer", "after"), "count"]
    assert row == total(buffer, [2016, 2017])
    assert np.isfinite(ev.displacement_difference.z)
