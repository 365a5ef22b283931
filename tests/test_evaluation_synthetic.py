"""Tests of securindex.evaluation.synthetic: weights, placebo inference, pysyncon agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from securindex import Panel
from securindex.errors import DataError, SpecError
from securindex.evaluation import synthetic_control
from securindex.evaluation.synthetic import simplex_least_squares


def test_simplex_least_squares_is_exact_and_optimal() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        A = rng.normal(size=(15, 8))
        b = rng.normal(size=15)
        w = simplex_least_squares(A, b)
        assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
        # no feasible point does better (SLSQP from many starts), and the KKT conditions hold
        P, q = A.T @ A, A.T @ b
        grad = P @ w - q
        support = w > 1e-12
        lam = -grad[support].mean()
        assert np.allclose(grad[support] + lam, 0.0, atol=1e-9)
        assert (grad[~support] + lam >= -1e-9).all()
        ref = optimize.minimize(
            lambda x, A=A, b=b: float(np.sum((A @ x - b) ** 2)),
            np.full(8, 1 / 8),
            method="SLSQP",
            bounds=[(0, 1)] * 8,
            constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
            options={"ftol": 1e-12, "maxiter": 1000},
        )
        assert np.sum((A @ w - b) ** 2) <= ref.fun + 1e-10


def _exact_mixture() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    years = np.arange(2000, 2016)
    donors = {
        f"d{j}": 50 + rng.normal(0, 5) + rng.normal(0, 3, len(years)).cumsum() for j in range(8)
    }
    treated = 0.6 * donors["d1"] + 0.4 * donors["d5"]
    treated = treated - 10.0 * (years >= 2010)  # a true effect of -10 from 2010
    rows = [("t", y, v) for y, v in zip(years, treated, strict=True)]
    for name, series in donors.items():
        rows += [(name, y, v) for y, v in zip(years, series, strict=True)]
    return pd.DataFrame(rows, columns=["entity", "period", "value"])


def test_synthetic_control_recovers_weights_effect_and_placebo_rank() -> None:
    r = synthetic_control(_exact_mixture(), treated="t", intervention=2010)
    w = r.weights.set_index("donor")["weight"]
    assert w["d1"] == pytest.approx(0.6, abs=1e-9) and w["d5"] == pytest.approx(0.4, abs=1e-9)
    assert r.pre_rmspe == pytest.approx(0.0, abs=1e-8)
    assert r.estimate == pytest.approx(-10.0, abs=1e-8)
    # the treated area's post/pre RMSPE ratio is the largest: rank 1 of 9
    assert r.rank == 1 and r.p_value == pytest.approx(1 / 9)
    assert len(r.placebos) == 9 and r.placebos["treated"].sum() == 1
    text = r.summary()
    assert "ranks 1 of 9" in text and "Identifying assumption" in text
    assert "Maryland SMS level 3" in text
    assert "smallest attainable placebo p-value is 0.111" in text
    path = r.path
    assert np.allclose(path.loc[path["post"], "gap"], -10.0)


def test_synthetic_control_errors() -> None:
    df = _exact_mixture()
    with pytest.raises(SpecError, match="its own donor"):
        synthetic_control(df, treated="t", intervention=2010, donors=["t", "d1"])
    with pytest.raises(DataError, match="at least two donors"):
        synthetic_control(df, treated="t", intervention=2010, donors=["d1"])
    with pytest.raises(DataError, match="every area in every period") as info:
        synthetic_control(df.iloc[1:], treated="t", intervention=2010)
    assert "t 2000" in info.value.rows
    with pytest.raises(DataError, match="two periods before"):
        synthetic_control(df, treated="t", intervention=2001)


def test_synthetic_control_matches_pysyncon_on_maryland(shared_data) -> None:  # type: ignore[no-untyped-def]
    pysyncon = pytest.importorskip("pysyncon", reason="pysyncon (test extra) is the reference")
    md = pd.read_csv(
        shared_data / "maryland_crime_by_county_1975_2020" / "md_crime_by_county_1975_2020.csv.gz"
    )
    md = md[md["YEAR"].between(1995, 2020)].copy()
    for c in ("ROBBERY", "B & E", "LARCENY THEFT"):
        md[f"{c}_rate"] = md[c] / md["POPULATION"] * 1e5
    predictors = ["ROBBERY_rate", "B & E_rate", "LARCENY THEFT_rate"]
    treated = "Baltimore County"
    donors = sorted(set(md["JURISDICTION"]) - {treated, "Baltimore City"})
    ours = synthetic_control(
        md,
        treated=treated,
        intervention=2010,
        entity="JURISDICTION",
        period="YEAR",
        value="ROBBERY_rate",
        donors=donors,
        predictors=predictors,
        v=[1.0, 1.0, 1.0],
        placebo=False,
    )
    prep = pysyncon.Dataprep(
        foo=md,
        predictors=predictors,
        predictors_op="mean",
        dependent="ROBBERY_rate",
        unit_variable="JURISDICTION",
        time_variable="YEAR",
        treatment_identifier=treated,
        controls_identifier=donors,
        time_predictors_prior=range(1995, 2010),
        time_optimize_ssr=range(1995, 2010),
    )
    ref = pysyncon.Synth()
    ref.fit(dataprep=prep, custom_V=np.array([1.0, 1.0, 1.0]))
    # the same objective (predictors scaled by their sd across areas, V = I): our exact
    # solution is at least as good as pysyncon's SLSQP one, and the fitted predictors agree
    X0, X1 = prep.make_covariate_mats()
    X = pd.concat([X0, X1], axis=1)
    scaled = X.divide(X.std(axis=1), axis=0)
    A = scaled.drop(columns=X1.name)[donors].to_numpy()
    b = scaled[X1.name].to_numpy()
    w_ours = ours.weights.set_index("donor").loc[donors, "weight"].to_numpy()
    w_ref = pd.Series(ref.W, index=X0.columns).loc[donors].to_numpy()

    def loss(w: np.ndarray) -> float:
        return float(0.5 * w @ A.T @ A @ w - b @ A @ w)

    assert loss(w_ours) <= loss(w_ref) + 1e-9
    assert loss(w_ours) == pytest.approx(ref.loss_W, rel=1e-8)
    np.testing.assert_allclose(A @ w_ours, A @ w_ref, atol=1e-4)


def test_synthetic_control_on_shipped_maryland_counties_reports_a_poor_fit() -> None:
    frame = Panel.example("maryland_counties").frame.reset_index()
    frame = frame[frame["period"] >= 1995]
    r = synthetic_control(
        frame,
        treated="Baltimore City",
        intervention=2015,
        value="homicides",
        exposure="population",
        placebo=False,
    )
    # Baltimore City's murder rate is far above every county's: no convex combination of
    # counties reproduces it, and the result says the gap is not a credible effect
    assert r.pre_rmspe_relative > 0.10
    assert r.sms.level == 2
    assert any("tracks the treated area poorly" in n for n in r.notes)
    assert r.outcome_label == "homicides per 100 000 population"
