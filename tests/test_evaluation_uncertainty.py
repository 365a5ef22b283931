"""Tests of securindex.evaluation.uncertainty: is an index change beyond its own uncertainty?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from securindex.errors import DataError, SpecError
from securindex.evaluation import bootstrap_change, bootstrap_replicates, change_uncertainty

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared real-data folder not found at {DATA}"
)


def _replicates(n: int = 40) -> pd.DataFrame:
    # entity "up": change 1..n in replicate r (always > 0); entity "flat": change r - n/2
    rows = []
    for r in range(n):
        rows += [
            {"replicate": r, "entity": "up", "period": 2015, "score": 50.0},
            {"replicate": r, "entity": "up", "period": 2020, "score": 50.0 + r + 1},
            {"replicate": r, "entity": "flat", "period": 2015, "score": 60.0},
            {"replicate": r, "entity": "flat", "period": 2020, "score": 60.0 + r - n / 2},
        ]
    return pd.DataFrame(rows)


def test_change_uncertainty_hand_computed() -> None:
    out = change_uncertainty(_replicates(), baseline_period=2015, current_period=2020)
    out = out.set_index("entity")
    up_deltas = np.arange(1, 41, dtype=float)
    assert out.loc["up", "ci_low"] == pytest.approx(np.quantile(up_deltas, 0.025))
    assert out.loc["up", "ci_high"] == pytest.approx(np.quantile(up_deltas, 0.975))
    assert out.loc["up", "change"] == pytest.approx(np.median(50 + up_deltas) - 50)
    assert out.loc["up", "exceeds_uncertainty"]
    assert out.loc["up", "verdict"] == "improvement beyond methodological uncertainty"
    assert out.loc["up", "share_improved"] == pytest.approx(1.0)
    assert not out.loc["flat", "exceeds_uncertainty"]
    assert out.loc["flat", "verdict"] == "change within methodological uncertainty"
    assert out.loc["flat", "share_improved"] == pytest.approx(19 / 40)  # deltas 1..19 > 0
    assert (out["n_replicates"] == 40).all()


def test_change_uncertainty_polarity_and_nominal() -> None:
    nominal = pd.DataFrame(
        {
            "entity": ["up", "up", "flat", "flat"],
            "period": [2015, 2020] * 2,
            "score": [50.0, 80.0, 60.0, 61.0],
        }
    )
    out = change_uncertainty(
        _replicates(),
        baseline_period=2015,
        current_period=2020,
        nominal=nominal,
        polarity="negative",
    ).set_index("entity")
    # for a negative score a rise is a deterioration
    assert out.loc["up", "verdict"] == "deterioration beyond methodological uncertainty"
    assert out.loc["up", "change"] == 30.0
    assert out.loc["up", "share_improved"] == 0.0
    # a nominal change of 30 lies inside [1.975, 39.025]; flat's 1.0 too
    assert out["note"].eq("").all()
    none = change_uncertainty(
        _replicates(), baseline_period=2015, current_period=2020, polarity="none"
    ).set_index("entity")
    assert none.loc["up", "verdict"] == "increase beyond methodological uncertainty"


def test_change_uncertainty_errors() -> None:
    reps = _replicates()
    with pytest.raises(DataError, match="have no scores"):
        change_uncertainty(reps, baseline_period=2010, current_period=2020)
    with pytest.raises(DataError, match="fewer than 50 replicates"):
        change_uncertainty(reps, baseline_period=2015, current_period=2020, min_replicates=50)
    with pytest.raises(DataError, match="several scores"):
        change_uncertainty(
            pd.concat([reps, reps.iloc[:1]]), baseline_period=2015, current_period=2020
        )
    with pytest.raises(SpecError, match="must differ"):
        change_uncertainty(reps, baseline_period=2015, current_period=2015)
    with pytest.raises(DataError, match="missing column"):
        change_uncertainty(
            reps.rename(columns={"score": "value"}), baseline_period=2015, current_period=2020
        )


def _toy_indicators() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for e in range(8):
        for p in (2015, 2020):
            for i in ("robbery", "burglary", "assault"):
                rows.append(
                    {
                        "entity": f"e{e}",
                        "period": p,
                        "indicator": i,
                        "value": float(rng.poisson(50 + 10 * e - (5 * e if p == 2020 else 0))),
                    }
                )
    return pd.DataFrame(rows)


def _index(data: pd.DataFrame) -> pd.DataFrame:
    """A tiny composite: 100 minus the mean of per-period min-max normalised crime counts."""
    g = data.groupby(["period", "indicator"])["value"]
    lo, hi = g.transform("min"), g.transform("max")
    norm = (data["value"] - lo) / (hi - lo).replace(0, np.nan) * 100
    scores = data.assign(norm=norm).groupby(["entity", "period"], as_index=False)["norm"].mean()
    return scores.assign(score=100 - scores["norm"])[["entity", "period", "score"]]


def test_bootstrap_replicates_seeded_and_labelled() -> None:
    data = _toy_indicators()
    a = bootstrap_replicates(data, _index, n_replicates=8, seed=42)
    b = bootstrap_replicates(data, _index, n_replicates=8, seed=42)
    c = bootstrap_replicates(data, _index, n_replicates=8, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == ["replicate", "entity", "period", "score"]
    assert set(a["entity"]) <= set(data["entity"])  # copies ("e1~1") are never reported
    assert a.groupby("replicate")["entity"].nunique().lt(8).any()  # some entities not drawn
    gen = np.random.default_rng(42)
    pd.testing.assert_frame_equal(a, bootstrap_replicates(data, _index, n_replicates=8, seed=gen))


def test_bootstrap_leave_indicators_out() -> None:
    data = _toy_indicators()
    reps = bootstrap_replicates(data, _index, over="indicators", n_replicates=6, seed=1)
    # every replicate still scores every entity in both periods
    assert (reps.groupby("replicate").size() == 16).all()
    with pytest.raises(SpecError, match="drop must be"):
        bootstrap_replicates(data, _index, over="indicators", drop=3)
    with pytest.raises(SpecError, match="over"):
        bootstrap_replicates(data, _index, over="weights")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="recompute must return a DataFrame"):
        bootstrap_replicates(data, lambda d: d["value"], n_replicates=1)  # type: ignore[arg-type,return-value]


def test_bootstrap_change_end_to_end() -> None:
    out = bootstrap_change(
        _toy_indicators(),
        _index,
        baseline_period=2015,
        current_period=2020,
        n_replicates=40,
        seed=3,
        min_replicates=10,
    )
    assert len(out) == 8
    assert set(out["verdict"]) <= {
        "improvement beyond methodological uncertainty",
        "deterioration beyond methodological uncertainty",
        "change within methodological uncertainty",
    }
    assert (out["ci_low"] <= out["ci_high"]).all()
    assert ((out["exceeds_uncertainty"]) == ((out["ci_low"] > 0) | (out["ci_high"] < 0))).all()


@needs_data
def test_bootstrap_change_berlin() -> None:
    # Real panel (Polizei Berlin, Kriminalitätsatlas): a small "security" index of 4 offence
    # counts over the 138 regions, 2013 vs 2019, with entity bootstrap replicates.
    berlin = pd.read_csv(DATA / "berlin_crime_atlas_2012_2019" / "berlin_crimes_2012_2019.csv")
    berlin = berlin.loc[~berlin["Location"].str.contains("nicht zuzuordnen")]
    long = berlin.melt(
        id_vars=["Year", "Location"],
        value_vars=["Robbery", "Burglary", "Bike", "Drugs"],
        var_name="indicator",
        value_name="value",
    )
    long = long.rename(columns={"Year": "period", "Location": "entity"})
    long = long.loc[long.period.isin([2013, 2019])]
    out = bootstrap_change(
        long,
        _index,
        baseline_period=2013,
        current_period=2019,
        n_replicates=30,
        seed=11,
        min_replicates=5,
    )
    assert len(out) == long["entity"].nunique()
    assert out["n_replicates"].between(5, 30).all()
    assert out["exceeds_uncertainty"].any()
    assert not out["exceeds_uncertainty"].all()
