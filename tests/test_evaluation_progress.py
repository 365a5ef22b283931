"""Tests of securindex.evaluation.progress: baselines, CAGR, targets, trajectory, status."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.errors import DataError, SpecError
from securindex.evaluation import (
    BenchmarkBaseline,
    PeriodBaseline,
    ReferenceBaseline,
    TargetSpec,
    change_from_baseline,
    compound_annual_growth_rate,
    percent_of_target,
    progress_to_target,
    progress_to_targets,
    target_trajectory,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared real-data folder not found at {DATA}"
)


# ----------------------------------------------------------------------------- CAGR


def test_cagr_hand_computed() -> None:
    # 100 -> 121 in 2 years: sqrt(1.21) - 1 = 0.1
    assert compound_annual_growth_rate(100.0, 121.0, 2) == pytest.approx(0.1)
    # 8 -> 4 in 3 years: 0.5**(1/3) - 1 = -0.2063
    assert compound_annual_growth_rate(8.0, 4.0, 3) == pytest.approx(0.5 ** (1 / 3) - 1)
    out = compound_annual_growth_rate(np.array([1.0, 2.0]), np.array([2.0, 2.0]), 1.0)
    np.testing.assert_allclose(out, [1.0, 0.0])


@pytest.mark.parametrize(("start", "end", "years"), [(0.0, 5.0, 2), (-1.0, 5.0, 2), (5.0, 6.0, 0)])
def test_cagr_undefined(start: float, end: float, years: float) -> None:
    with pytest.raises(DataError):
        compound_annual_growth_rate(start, end, years)


# ----------------------------------------------------------------------------- targets


def test_percent_of_target_hand_computed_statuses() -> None:
    # homicide rate 10 (2020) -> target 5 (2030), negative polarity. In 2025 half the time
    # has elapsed (expected 50 %, trajectory value 7.5).
    kw = {"polarity": "negative", "baseline_year": 2020, "current_year": 2025, "target_year": 2030}
    off = percent_of_target(10.0, 8.0, 5.0, **kw)  # (8-10)/(5-10) = 40 %, ratio 0.8
    assert off.estimate == pytest.approx(40.0)
    assert off.expected_percent == pytest.approx(50.0)
    assert off.trajectory_value == pytest.approx(7.5)
    assert off.progress_ratio == pytest.approx(0.8)
    assert off.status == "off_track"
    on = percent_of_target(10.0, 7.0, 5.0, **kw)  # 60 %, ratio 1.2
    assert on.status == "on_track"
    away = percent_of_target(10.0, 11.0, 5.0, **kw)  # -20 %: moved away
    assert away.estimate == pytest.approx(-20.0)
    assert away.status == "moving_away"
    done = percent_of_target(10.0, 4.0, 5.0, **kw)  # 120 %
    assert done.target_met and done.status == "achieved"
    assert "target is met" in done.summary()
    # thresholds are configurable: with on_track = 0.75 a ratio of 0.8 is on track
    assert percent_of_target(10.0, 8.0, 5.0, on_track=0.75, **kw).status == "on_track"
    assert "linear trajectory expected 50.0 %" in off.summary()


def test_percent_of_target_positive_polarity() -> None:
    # share feeling safe 60 % -> target 75 %; now 66 %: (66-60)/(75-60) = 40 %
    p = percent_of_target(60.0, 66.0, 75.0, polarity="positive")
    assert p.estimate == pytest.approx(40.0)
    assert p.status is None  # no years, no status
    assert p.remaining_change == pytest.approx(9.0)


def test_target_already_met_or_equal_at_baseline() -> None:
    with pytest.raises(SpecError, match="already met at baseline"):
        percent_of_target(5.0, 4.0, 8.0, polarity="negative")
    with pytest.raises(SpecError, match="already met at baseline"):
        percent_of_target(80.0, 82.0, 75.0, polarity="positive")
    with pytest.raises(SpecError, match="already met at baseline"):
        percent_of_target(5.0, 4.0, 5.0)
    with pytest.raises(SpecError, match="together"):
        percent_of_target(10.0, 8.0, 5.0, baseline_year=2020)
    with pytest.raises(DataError, match="after the baseline"):
        percent_of_target(10.0, 8.0, 5.0, baseline_year=2020, current_year=2020, target_year=2030)
    with pytest.raises(DataError, match="finite"):
        percent_of_target(10.0, float("nan"), 5.0)


def test_eurostat_ratio_of_actual_to_required_growth() -> None:
    # actual CAGR 2020-2025: (8/10)**(1/5) - 1 = -0.04363; required 2020-2030:
    # (5/10)**(1/10) - 1 = -0.06697; ratio 0.6515 -> moderate progress (0.60 <= r < 0.95)
    kw = {"baseline_year": 2020, "current_year": 2025, "target_year": 2030, "polarity": "negative"}
    p = percent_of_target(10.0, 8.0, 5.0, method="eurostat", **kw)
    actual = 0.8 ** (1 / 5) - 1
    required = 0.5 ** (1 / 10) - 1
    assert p.actual_growth_rate == pytest.approx(actual)
    assert p.required_growth_rate == pytest.approx(required)
    assert p.progress_ratio == pytest.approx(actual / required)
    assert p.eurostat_category == "moderate progress"
    assert p.status == "off_track"
    assert percent_of_target(10.0, 7.0, 5.0, method="eurostat", **kw).eurostat_category == (
        "significant progress"
    )
    assert percent_of_target(10.0, 9.5, 5.0, method="eurostat", **kw).eurostat_category == (
        "insufficient progress"
    )
    away = percent_of_target(10.0, 11.0, 5.0, method="eurostat", **kw)
    assert away.eurostat_category == "movement away"
    assert away.status == "moving_away"
    with pytest.raises(DataError, match="positive"):
        percent_of_target(0.0, 1.0, 5.0, method="eurostat", **{**kw, "polarity": "positive"})
    with pytest.raises(SpecError, match="moderate"):
        percent_of_target(10.0, 8.0, 5.0, method="eurostat", moderate=0.99, **kw)


finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


@given(finite, finite, finite)
@settings(max_examples=60)
def test_percent_of_target_complements(b: float, c: float, t: float) -> None:
    # (c-b)/(t-b) + (c-t)/(b-t) = 1: progress from b to t and from t to b add to 100 %
    if abs(t - b) < 1e-3:
        return
    forward = percent_of_target(b, c, t).estimate
    backward = percent_of_target(t, c, b).estimate
    assert forward + backward == pytest.approx(100.0, rel=1e-6, abs=1e-6)
    # flipping signs and polarity leaves the percent unchanged
    pol = "negative" if t < b else "positive"
    mirrored = "positive" if pol == "negative" else "negative"
    assert percent_of_target(-b, -c, -t, polarity=mirrored).estimate == pytest.approx(
        percent_of_target(b, c, t, polarity=pol).estimate, rel=1e-9, abs=1e-9
    )


def test_target_trajectory() -> None:
    np.testing.assert_allclose(
        target_trajectory(10.0, 2020, 5.0, 2030, [2020, 2022, 2025, 2030, 2035]),
        [10.0, 9.0, 7.5, 5.0, 5.0],
    )
    with pytest.raises(SpecError):
        target_trajectory(10.0, 2030, 5.0, 2020, [2025])


def _panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": ["a"] * 4 + ["b"] * 4 + ["n"] * 4,
            "year": [2015, 2016, 2017, 2018] * 3,
            "rate": [10.0, 9.0, 8.0, 7.5, 4.0, 4.4, 4.0, 3.0, 6.0, 6.0, 5.0, 5.0],
        }
    )


def test_progress_to_target_tidy() -> None:
    frame = _panel().loc[lambda d: d.city != "b"]
    out = progress_to_target(
        frame,
        5.0,
        baseline_period=2015,
        target_year=2025,
        entity="city",
        period="year",
        value="rate",
        polarity="negative",
    )
    a = out.loc[out.city == "a"].set_index("year")
    # city a: 10 -> 7.5 in 3 of 10 years: 50 % achieved, 30 % expected -> on track
    assert a.loc[2018, "percent_of_target"] == pytest.approx(50.0)
    assert a.loc[2018, "expected_percent"] == pytest.approx(30.0)
    assert a.loc[2018, "trajectory"] == pytest.approx(10 - 5 * 0.3)
    assert a.loc[2018, "status"] == "on_track"
    assert pd.isna(a.loc[2015, "status"])
    # city n: 6 -> 6 in 2016: 0 % vs 10 % expected: off track
    n = out.loc[out.city == "n"].set_index("year")
    assert n.loc[2016, "status"] == "off_track"
    # each row agrees with the scalar function
    p = percent_of_target(
        6.0, 5.0, 5.0, polarity="negative", baseline_year=2015, current_year=2017, target_year=2025
    )
    assert n.loc[2017, "percent_of_target"] == pytest.approx(p.estimate)
    assert n.loc[2017, "status"] == p.status == "achieved"


def test_progress_to_target_reports_entities_already_at_target_as_achieved() -> None:
    # city b starts at 4.0, below the target 5.0 of a negative indicator: achieved, and the
    # other cities are still evaluated (the bug: one city-wide target aborted all)
    out = progress_to_target(
        _panel(),
        5.0,
        baseline_period=2015,
        target_year=2025,
        entity="city",
        period="year",
        value="rate",
        polarity="negative",
    )
    b = out[out["city"] == "b"]
    assert (b["status"] == "achieved").all() and b["already_met_at_baseline"].all()
    assert b["percent_of_target"].isna().all()
    others = out[out["city"] != "b"]
    assert not others["already_met_at_baseline"].any()
    assert others.loc[others["year"] > 2015, "status"].notna().all()
    assert np.isfinite(others["percent_of_target"]).all()


def test_progress_to_target_with_spec_and_errors() -> None:
    spec = TargetSpec(
        value=5.0, year=2025, baseline_year=2015, method="eurostat", polarity="negative"
    )
    frame = _panel().loc[lambda d: d.city == "a"]
    out = progress_to_target(frame, spec, entity="city", period="year", value="rate")
    row = out.set_index("year").loc[2018]
    assert row["actual_growth_rate"] == pytest.approx((7.5 / 10) ** (1 / 3) - 1)
    assert row["eurostat_category"] == "significant progress"
    with pytest.raises(DataError, match="baseline period 2014 has no data"):
        progress_to_target(
            frame,
            5.0,
            baseline_period=2014,
            target_year=2025,
            entity="city",
            period="year",
            value="rate",
        )
    with pytest.raises(DataError, match="numeric periods"):
        progress_to_target(
            frame.assign(year=frame.year.astype(str)),
            5.0,
            baseline_period=2015,
            target_year=2025,
            entity="city",
            period="year",
            value="rate",
        )


def test_progress_to_targets_per_indicator() -> None:
    long = pd.concat(
        [
            _panel().assign(indicator="homicide_rate"),
            _panel().assign(indicator="feel_safe", rate=lambda d: 100 - d.rate * 5),
        ]
    )
    out = progress_to_targets(
        long.loc[long.city == "a"],
        {
            "homicide_rate": TargetSpec(value=5.0, year=2025, polarity="negative"),
            "feel_safe": TargetSpec(value=75.0, year=2025, polarity="positive"),  # 100 - 5 * 5
        },
        baseline_period=2015,
        entity="city",
        period="year",
        value="rate",
    )
    assert out.columns[0] == "indicator"
    # both are mirror images: same percent of target
    h = out.loc[out.indicator == "homicide_rate", "percent_of_target"].to_numpy()
    f = out.loc[out.indicator == "feel_safe", "percent_of_target"].to_numpy()
    np.testing.assert_allclose(h, f)
    with pytest.raises(DataError, match="not in the data"):
        progress_to_targets(
            long,
            {"nope": TargetSpec(value=1.0, year=2025)},
            baseline_period=2015,
            entity="city",
            period="year",
            value="rate",
        )


# ----------------------------------------------------------------------------- baselines


def test_change_from_period_baseline_mean_of_two() -> None:
    # city a: baseline = mean(10, 9) = 9.5; 2018: 7.5 -> -2.0 absolute, -21.05 %
    out = change_from_baseline(
        _panel(),
        PeriodBaseline(periods=[2015, 2016]),
        entity="city",
        period="year",
        value="rate",
        polarity="negative",
    )
    row = out.loc[(out.city == "a") & (out.year == 2018)].iloc[0]
    assert row["baseline"] == pytest.approx(9.5)
    assert row["absolute_change"] == pytest.approx(-2.0)
    assert row["relative_change"] == pytest.approx(-2.0 / 9.5 * 100)
    assert row["progress"] == pytest.approx(2.0)  # a fall is progress for a negative indicator
    assert row["direction"] == "improved"
    # CAGR from the mean baseline period 2015.5 to 2018: (7.5/9.5)**(1/2.5) - 1
    assert row["cagr"] == pytest.approx((7.5 / 9.5) ** (1 / 2.5) - 1)
    assert "mean of periods" in row["note"]
    worse = out.loc[(out.city == "b") & (out.year == 2016)].iloc[0]
    assert worse["direction"] == "worsened"  # 4.4 vs 4.2


def test_change_from_reference_and_benchmark() -> None:
    # reference "n" (national value) in the same period: a in 2017 is 8.0 vs 5.0
    out = change_from_baseline(
        _panel(),
        ReferenceBaseline(entities=["n"], label="national"),
        entity="city",
        period="year",
        value="rate",
        polarity="negative",
    )
    row = out.loc[(out.city == "a") & (out.year == 2017)].iloc[0]
    assert row["baseline"] == 5.0
    assert row["absolute_change"] == 3.0
    assert row["direction"] == "worsened"
    assert math.isnan(row["cagr"])
    # peer group mean over 2015-2016: a and b -> mean(mean(10, 9), mean(4, 4.4)) = 6.85
    peers = change_from_baseline(
        _panel(),
        ReferenceBaseline(entities=["a", "b"], periods=[2015, 2016]),
        entity="city",
        period="year",
        value="rate",
    )
    assert peers["baseline"].unique().tolist() == [pytest.approx(6.85)]
    assert set(peers["direction"]) <= {"changed", "unchanged"}  # polarity none: no judgement
    bench = change_from_baseline(
        _panel(),
        BenchmarkBaseline(value=0.0, source="zero"),
        entity="city",
        period="year",
        value="rate",
    )
    assert bench["relative_change"].isna().all()
    assert bench["note"].str.contains("relative change undefined").all()


def test_change_from_baseline_polarity_per_indicator() -> None:
    long = pd.concat(
        [_panel().assign(ind="crime"), _panel().assign(ind="safe", rate=lambda d: 100 - d.rate)]
    )
    out = change_from_baseline(
        long,
        PeriodBaseline(periods=[2015]),
        entity="city",
        period="year",
        value="rate",
        indicator="ind",
        polarity={"crime": "negative", "safe": "positive"},
    )
    sel = (out.city == "a") & (out.year == 2018)
    assert set(out.loc[sel, "direction"]) == {"improved"}
    with pytest.raises(DataError, match="no polarity"):
        change_from_baseline(
            long,
            PeriodBaseline(periods=[2015]),
            entity="city",
            period="year",
            value="rate",
            indicator="ind",
            polarity={"crime": "negative"},
        )


def test_change_from_baseline_errors() -> None:
    with pytest.raises(DataError, match="have no data"):
        change_from_baseline(
            _panel(), PeriodBaseline(periods=[2010]), entity="city", period="year", value="rate"
        )
    gap = _panel().drop(index=0)  # city a has no 2015 value
    with pytest.raises(DataError, match="needs a value in every baseline period") as info:
        change_from_baseline(
            gap, PeriodBaseline(periods=[2015]), entity="city", period="year", value="rate"
        )
    assert info.value.rows == ("a",)
    with pytest.raises(DataError, match="do not appear"):
        change_from_baseline(
            _panel(), ReferenceBaseline(entities=["zz"]), entity="city", period="year", value="rate"
        )
    with pytest.raises(DataError, match="missing column"):
        change_from_baseline(_panel(), PeriodBaseline(periods=[2015]))
    with pytest.raises(SpecError, match="polarity"):
        change_from_baseline(
            _panel(),
            PeriodBaseline(periods=[2015]),
            entity="city",
            period="year",
            value="rate",
            polarity="bad",
        )  # type: ignore[arg-type]


@needs_data
def test_maryland_homicide_rate_against_2015_and_a_target() -> None:
    # Real panel (Maryland Open Data, violent crime by county; see shared/data SOURCE.md):
    # murders per 100 000 inhabitants, baseline 2015, target: halve it by 2030.
    md = pd.read_csv(
        DATA / "maryland_crime_by_county_1975_2020" / "md_crime_by_county_1975_2020.csv.gz"
    )
    md = md.loc[md.YEAR.between(2015, 2020)].assign(rate=lambda d: d.MURDER / d.POPULATION * 1e5)
    city = md.loc[md.JURISDICTION == "Baltimore City"]
    base = float(city.loc[city.YEAR == 2015, "rate"].iloc[0])
    out = progress_to_target(
        city,
        base / 2,
        baseline_period=2015,
        target_year=2030,
        entity="JURISDICTION",
        period="YEAR",
        value="rate",
        polarity="negative",
    )
    now = float(city.loc[city.YEAR == 2020, "rate"].iloc[0])
    row = out.set_index("YEAR").loc[2020]
    assert row["percent_of_target"] == pytest.approx((now - base) / (base / 2 - base) * 100)
    assert row["expected_percent"] == pytest.approx(5 / 15 * 100)
    assert row["status"] in {"on_track", "off_track", "moving_away"}
    changes = change_from_baseline(
        md,
        PeriodBaseline(periods=[2015]),
        entity="JURISDICTION",
        period="YEAR",
        value="rate",
        polarity="negative",
    )
    assert len(changes) == len(md)
    assert changes.loc[changes.YEAR == 2015, "absolute_change"].abs().max() == 0
