"""Tests of securindex.methods.normalise: hand cases, a published HDI value, the contract."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from securindex.errors import DataError, SpecError
from securindex.methods.normalise import normalise_by_period, normalisers, output_range

nan = np.nan


def readonly(a: object) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def norm(method: str, X: object, direction: object, **params: Any) -> np.ndarray:
    return np.asarray(normalisers.get(method)(readonly(X), direction=direction, **params).values)


# --------------------------------------------------------------------------------------
# Hand-computed cases, one per method
# --------------------------------------------------------------------------------------


def test_minmax() -> None:
    # x = 2, 4, 10: min 2, max 10, span 8 → (x - 2) / 8 * 100 = 0, 25, 100;
    # reversed: (10 - x) / 8 * 100 = 100, 75, 0; with lo, hi = 1, 5: 1 + 4 * 0.25 = 2
    X = [[2.0, 2.0, 2.0], [4.0, 4.0, 4.0], [10.0, 10.0, 10.0]]
    out = norm("minmax", X, [1, -1, 1])
    np.testing.assert_allclose(out[:, 0], [0, 25, 100])
    np.testing.assert_allclose(out[:, 1], [100, 75, 0])
    np.testing.assert_allclose(norm("minmax", X, [1, 1, 1], lo=1, hi=5)[:, 2], [1, 2, 5])


def test_minmax_over_the_whole_float_range() -> None:
    # issue #15: max - min = 2e308 overflowed to inf and every value became 0. By hand:
    # x = -1e308, 1e308, 0, 5e307 → (x + 1e308) / 2e308 * 100 = 0, 100, 50, 75
    X = [[-1e308], [1e308], [0.0], [5e307]]
    np.testing.assert_allclose(norm("minmax", X, [1]).ravel(), [0, 100, 50, 75])
    np.testing.assert_allclose(norm("minmax", X, [-1]).ravel(), [100, 0, 50, 25])


def test_minmax_constant_column_scores_the_midpoint_and_is_flagged() -> None:
    result = normalisers.get("minmax")(readonly([[3.0, 1.0], [3.0, 2.0]]), direction=[1, 1])
    np.testing.assert_array_equal(result.values[:, 0], [50, 50])
    np.testing.assert_array_equal(result.flags["constant"], [True, False])


def test_zscore() -> None:
    # x = 2, 4, 9: mean 5, sd (n - 1) = sqrt((9 + 1 + 16) / 2) = sqrt(13) = 3.6055513
    # z = -3/√13, -1/√13, 4/√13 = -0.8320503, -0.2773501, 1.1094004; target 100 ± 10
    X = [[2.0], [4.0], [9.0]]
    z = np.array([-3.0, -1.0, 4.0]) / math.sqrt(13.0)
    np.testing.assert_allclose(norm("zscore", X, [1]).ravel(), z)
    np.testing.assert_allclose(norm("zscore", X, [-1]).ravel(), -z)
    np.testing.assert_allclose(norm("zscore", X, [1], mean=100, sd=10).ravel(), 100 + 10 * z)


def test_rank_and_percentile_rank_and_borda() -> None:
    # x = 5, 1, 5, 3: ascending average ranks 3.5, 1, 3.5, 2; min ranks 3, 1, 3, 2
    # percentile (min ties, COINr n_prank): (r - 1) / (n - 1) * 100 = 66.67, 0, 66.67, 33.33
    # Borda: entities strictly beaten = 2, 0, 2, 1
    X = [[5.0], [1.0], [5.0], [3.0]]
    np.testing.assert_allclose(norm("rank", X, [1]).ravel(), [3.5, 1, 3.5, 2])
    np.testing.assert_allclose(norm("rank", X, [1], ties="min").ravel(), [3, 1, 3, 2])
    np.testing.assert_allclose(norm("rank", X, [-1]).ravel(), [1.5, 4, 1.5, 3])
    np.testing.assert_allclose(
        norm("percentile_rank", X, [1]).ravel(), [200 / 3, 0, 200 / 3, 100 / 3]
    )
    np.testing.assert_allclose(norm("borda", X, [1]).ravel(), [2, 0, 2, 1])
    np.testing.assert_allclose(norm("borda", X, [-1]).ravel(), [0, 3, 0, 2])


def test_rank_matches_scipy_rankdata() -> None:
    rng = np.random.default_rng(11)
    X = rng.integers(0, 6, size=(25, 3)).astype(float)
    X[[2, 9], [0, 2]] = nan
    out = norm("rank", X, [1, -1, 1])
    for j, d in enumerate([1, -1, 1]):
        ok = ~np.isnan(X[:, j])
        np.testing.assert_allclose(out[ok, j], stats.rankdata(d * X[ok, j]))
        assert np.isnan(out[~ok, j]).all()


def test_goalposts() -> None:
    # lo 20, hi 85 (HDI life expectancy): (72.5 - 20) / 65 = 0.8077; 90 clipped to 1
    # reversed: (85 - 72.5) / 65 = 0.1923; scale 100 → 80.77
    X = [[72.5], [90.0], [10.0]]
    np.testing.assert_allclose(norm("goalposts", X, [1], lo=20, hi=85).ravel(), [52.5 / 65, 1, 0])
    np.testing.assert_allclose(norm("goalposts", X, [-1], lo=20, hi=85)[0], [12.5 / 65])
    np.testing.assert_allclose(
        norm("goalposts", X, [1], lo=20, hi=85, clip=False).ravel(), [52.5 / 65, 70 / 65, -10 / 65]
    )
    np.testing.assert_allclose(norm("goalposts", X, [1], lo=20, hi=85, scale=100)[0], [5250 / 65])


def test_hdi_income_index_published_value() -> None:
    # UNDP HDR 2020 Technical notes, worked example: GNI per capita 3,829 (2017 PPP $)
    # income index = (ln 3829 - ln 100) / (ln 75000 - ln 100)
    #              = (8.250358 - 4.605170) / (11.225243 - 4.605170) = 3.645188 / 6.620073
    #              = 0.5506 (published, to 4 decimals)
    out = norm("goalposts", [[3829.0]], [1], lo=100, hi=75000, log=True)
    assert out[0, 0] == pytest.approx(0.5506, abs=5e-5)
    assert out[0, 0] == pytest.approx(3.645188 / 6.620073, rel=1e-6)


def test_goalposts_per_indicator_lists() -> None:
    X = [[50.0, 5.0]]
    out = norm("goalposts", X, [1, 1], lo=[0, 0], hi=[100, 10])
    np.testing.assert_allclose(out, [[0.5, 0.5]])


def test_distance_to_target() -> None:
    # positive: 50 / 100 = 0.5, 200 / 100 = 2 → capped 1; negative: 10 / 5 = 2 → 1, 10 / 20
    X = [[50.0, 5.0], [200.0, 20.0]]
    np.testing.assert_allclose(
        norm("distance_to_target", X, [1, -1], target=[100, 10]), [[0.5, 1], [1, 0.5]]
    )
    np.testing.assert_allclose(
        norm("distance_to_target", X, [1, -1], target=[100, 10], cap=False), [[0.5, 2], [2, 0.5]]
    )


def test_distance_to_reference() -> None:
    # reference row 1 holds 4 and 10: 2 / 4, 8 / 4; reversed: 10 / 5, 10 / 20
    X = [[2.0, 5.0], [4.0, 10.0], [8.0, 20.0]]
    out = norm("distance_to_reference", X, [1, -1], reference_row=1)
    np.testing.assert_allclose(out, [[0.5, 2], [1, 1], [2, 0.5]])


def test_distance_to_leader_and_fraction_of_max() -> None:
    # positive: x / max = 1/4, 2/4, 4/4; negative: min / x = 2/2, 2/4, 2/8
    X = [[1.0, 2.0], [2.0, 4.0], [4.0, 8.0]]
    np.testing.assert_allclose(
        norm("distance_to_leader", X, [1, -1]), [[0.25, 1], [0.5, 0.5], [1, 0.25]]
    )
    np.testing.assert_allclose(
        norm("fraction_of_max", X, [1, -1]), [[25, 100], [50, 50], [100, 25]]
    )


def test_ratio_to_mean() -> None:
    # mean of 1, 2, 6 = 3: 100 x / 3 = 33.3, 66.7, 200; reversed 100 * 3 / x = 300, 150, 50
    X = [[1.0, 1.0], [2.0, 2.0], [6.0, 6.0]]
    np.testing.assert_allclose(
        norm("ratio_to_mean", X, [1, -1]), [[100 / 3, 300], [200 / 3, 150], [200, 50]]
    )


def test_banding() -> None:
    # cut points 1, 2, 3 → bands [-inf, 1) = 1, [1, 2) = 2, [2, 3) = 3, [3, inf) = 4
    # reversed: k + 1 - band with k = 4
    X = [[0.5, 0.5], [1.0, 1.0], [2.5, 2.5], [9.0, 9.0]]
    out = norm("banding", X, [1, -1], thresholds=[1, 2, 3])
    np.testing.assert_array_equal(out, [[1, 4], [2, 3], [3, 2], [4, 1]])
    # per-indicator cut points of different lengths: column 1 has k = 2
    out = norm("banding", X, [1, -1], thresholds=[[1, 2, 3], [2]])
    np.testing.assert_array_equal(out[:, 1], [2, 2, 1, 1])


def test_ratio_methods_refuse_negative_values() -> None:
    with pytest.raises(DataError, match="ratio scale"):
        norm("fraction_of_max", [[-1.0], [2.0]], [1])
    with pytest.raises(DataError, match="ratio scale"):
        norm("distance_to_leader", [[0.0], [2.0]], [-1])


# --------------------------------------------------------------------------------------
# Learn first, apply second; reference modes
# --------------------------------------------------------------------------------------


def test_learnt_statistics_reapply_to_new_data() -> None:
    # learn min 0 and max 10 from the base sample, then score new data with them
    base = readonly([[0.0], [10.0]])
    learnt = normalisers.get("minmax")(base, direction=[1]).learnt
    np.testing.assert_array_equal(learnt["min"], [0.0])
    new = normalisers.get("minmax")(readonly([[5.0], [20.0]]), direction=[1], learnt=learnt)
    np.testing.assert_allclose(new.values.ravel(), [50, 200])
    clipped = normalisers.get("minmax")(
        readonly([[5.0], [20.0]]), direction=[1], learnt=learnt, clip=True
    )
    np.testing.assert_allclose(clipped.values.ravel(), [50, 100])


def test_reference_sample_and_learnt_are_exclusive() -> None:
    X = readonly([[1.0], [2.0]])
    with pytest.raises(SpecError, match="not both"):
        normalisers.get("minmax")(X, direction=[1], reference=X, learnt={"min": [0], "max": [1]})
    with pytest.raises(SpecError, match="without"):
        normalisers.get("minmax")(X, direction=[1], learnt={"min": [0]})


def test_rank_against_a_reference_sample() -> None:
    # reference 10, 20, 30: 25 beats two (Borda 2), 5 beats none, 40 beats all three
    ref = readonly([[10.0], [20.0], [30.0]])
    X = readonly([[25.0], [5.0], [40.0], [20.0]])
    out = normalisers.get("borda")(X, direction=[1], reference=ref).values.ravel()
    np.testing.assert_array_equal(out, [2, 0, 3, 1])
    pr = normalisers.get("percentile_rank")(X, direction=[1], reference=ref).values.ravel()
    np.testing.assert_allclose(pr, [100, 0, 100, 50])  # (3 - 1) / 2, clipped outside


def test_normalise_by_period_modes() -> None:
    # period 0: 0, 10; period 1: 5, 20
    X = readonly([[0.0], [10.0], [5.0], [20.0]])
    periods = np.array([0, 0, 1, 1])
    per = normalise_by_period("minmax", X, periods, [1], mode="per_period")
    np.testing.assert_allclose(per.values.ravel(), [0, 100, 0, 100])
    np.testing.assert_array_equal(per.learnt["min"], [[0.0], [5.0]])
    np.testing.assert_array_equal(per.learnt["period"], [0, 1])
    pooled = normalise_by_period("minmax", X, periods, [1], mode="pooled")
    np.testing.assert_allclose(pooled.values.ravel(), [0, 50, 25, 100])
    base = normalise_by_period("minmax", X, periods, [1], mode="base", base_period=0)
    np.testing.assert_allclose(base.values.ravel(), [0, 100, 50, 200])
    with pytest.raises(SpecError, match="base_period"):
        normalise_by_period("minmax", X, periods, [1], mode="base", base_period=7)
    with pytest.raises(SpecError, match="'reference' parameter"):
        normalise_by_period("minmax", X, periods, [1], mode="rolling")


def test_normalise_by_period_pads_ragged_learnt_statistics() -> None:
    X = readonly([[1.0], [2.0], [3.0], [4.0], [5.0]])
    out = normalise_by_period("rank", X, np.array([0, 0, 0, 1, 1]), [1], mode="per_period")
    np.testing.assert_array_equal(out.values.ravel(), [1, 2, 3, 1, 2])
    assert out.learnt["reference"].shape == (2, 3, 1)
    assert np.isnan(out.learnt["reference"][1, 2, 0])


# --------------------------------------------------------------------------------------
# Output ranges and parameter errors
# --------------------------------------------------------------------------------------


def test_output_range() -> None:
    assert output_range("minmax") == (0.0, 100.0)
    assert output_range("minmax", {"lo": 1, "hi": 10}) == (1.0, 10.0)
    assert output_range("percentile_rank") == (0.0, 100.0)
    assert output_range("goalposts", {"lo": 0, "hi": 1, "scale": 100}) == (0.0, 100.0)
    assert output_range("goalposts", {"clip": False}) is None
    assert output_range("distance_to_target", {"target": 5}) == (0.0, 1.0)
    assert output_range("distance_to_target", {"target": 5, "cap": False}) is None
    assert output_range("banding", {"thresholds": [1, 2, 3, 4]}) == (1.0, 5.0)
    assert output_range("banding", {"thresholds": [[1], [1, 2]]}) == (1.0, 3.0)
    for method in ("zscore", "rank", "borda", "ratio_to_mean"):
        assert output_range(method) is None
    with pytest.raises(SpecError, match="'hi' parameter of normalise method 'minmax'"):
        output_range("minmax", {"lo": 5, "hi": 1})
    with pytest.raises(SpecError, match="unknown normalise method"):
        output_range("min_max")


def test_parameter_errors() -> None:
    X = readonly([[1.0], [2.0]])
    with pytest.raises(SpecError, match=r"direction = \+1 or -1"):
        normalisers.get("minmax")(X, direction=[2])
    with pytest.raises(SpecError, match="needs the 'lo' parameter"):
        normalisers.get("goalposts")(X, direction=[1], hi=5)
    with pytest.raises(SpecError, match="list of 1 finite numbers"):
        normalisers.get("goalposts")(X, direction=[1], lo=[0, 1], hi=5)
    with pytest.raises(SpecError, match="unknown parameter"):
        normalisers.get("minmax")(X, direction=[1], range=[0, 1])
    with pytest.raises(SpecError, match="'thresholds' parameter"):
        normalisers.get("banding")(X, direction=[1], thresholds=[3, 1])
    with pytest.raises(SpecError, match="'reference_row' parameter"):
        normalisers.get("distance_to_reference")(X, direction=[1], reference_row=5)


# --------------------------------------------------------------------------------------
# Contract over every registered normaliser
# --------------------------------------------------------------------------------------

# The parameters each method needs (for 3 indicators). A new normaliser must be added here.
CONTRACT_PARAMS: dict[str, dict[str, Any]] = {
    "minmax": {},
    "zscore": {},
    "rank": {},
    "percentile_rank": {},
    "borda": {},
    "goalposts": {"lo": [0.0, 10.0, 1.0], "hi": 500.0},
    "distance_to_target": {"target": [50.0, 100.0, 500.0]},
    "distance_to_reference": {"reference_row": 0},
    "distance_to_leader": {},
    "fraction_of_max": {},
    "ratio_to_mean": {},
    "banding": {"thresholds": [10.0, 100.0, 300.0]},
    "none": {},
    "ampi": {},
}


def test_every_normaliser_has_contract_parameters() -> None:
    assert set(CONTRACT_PARAMS) == set(normalisers.names())


def _is_monotonic(x: np.ndarray, y: np.ndarray, sign: float) -> bool:
    """With sign +1, a larger x never gets a smaller y (and equal x get equal y)."""
    order = np.argsort(sign * x, kind="stable")
    xs, ys = sign * x[order], y[order]
    tol = 1e-9 * max(1.0, float(np.max(np.abs(ys))))
    steps_ok = np.all(np.diff(ys) >= -tol)
    ties_ok = np.all(np.abs(np.diff(ys)[np.diff(xs) == 0]) <= tol)
    return bool(steps_ok and ties_ok)


@pytest.mark.parametrize("method", sorted(CONTRACT_PARAMS))
@settings(max_examples=20, deadline=None)
@given(
    values=hnp.arrays(
        np.float64, (9, 3), elements=st.floats(0.01, 1000.0, allow_nan=False, allow_subnormal=False)
    ),
    missing=hnp.arrays(np.bool_, (9, 3)),
    direction=hnp.arrays(np.int64, 3, elements=st.sampled_from([-1, 1])),
    shift=st.floats(-500.0, 0.0),
)
def test_contract(
    method: str, values: np.ndarray, missing: np.ndarray, direction: np.ndarray, shift: float
) -> None:
    entry = normalisers.get(method)
    params = CONTRACT_PARAMS[method]
    if not entry.flag("requires_positive"):
        values = values + shift  # interval-scale methods also see negative values
    missing = missing.copy()
    missing[0] = False  # row 0 is the reference row of distance_to_reference
    X = readonly(np.where(missing, nan, values))
    before = X.copy()
    result = entry(X, direction=direction, **params)
    np.testing.assert_array_equal(X, before)  # input untouched
    assert result.values.shape == X.shape and result.values.dtype == np.float64
    assert np.isnan(result.values[np.isnan(X)]).all()  # NaN stays NaN
    assert not np.isnan(result.values[~np.isnan(X)]).any()  # and nothing else becomes NaN
    bounds = output_range(method, params)
    if bounds is not None:
        lo, hi = bounds
        observed = result.values[~np.isnan(X)]
        assert np.all((observed >= lo - 1e-9) & (observed <= hi + 1e-9))
    for j in range(X.shape[1]):
        ok = ~np.isnan(X[:, j])
        sign = float(direction[j]) if entry.applies_direction else 1.0  # none keeps values
        assert _is_monotonic(X[ok, j], result.values[ok, j], sign)
    # learn first, apply second: re-applying what was learnt reproduces the scores
    again = entry(X, direction=direction, learnt=result.learnt, **params)
    np.testing.assert_allclose(again.values, result.values, rtol=1e-12, equal_nan=True)
    # learnt statistics are in the original units, independent of direction
    flipped = entry(X, direction=-direction, **params)
    for key, stat in result.learnt.items():
        np.testing.assert_array_equal(flipped.learnt[key], stat)


# -- goalposts onto [a, b], z-scores with ddof --------------------------------------------------


def test_goalposts_onto_a_score_range() -> None:
    x = np.array([[0.0], [5.0], [20.0], [30.0]])
    result = normalisers.get("goalposts")(x, direction=[1], lo=0, hi=20, scores=[1, 5])
    assert result.values.ravel().tolist() == [1.0, 2.0, 5.0, 5.0]  # capped at the goalpost
    assert output_range("goalposts", {"lo": 0, "hi": 20, "scores": [1, 5]}) == (1.0, 5.0)
    with pytest.raises(SpecError, match="scores"):
        normalisers.get("goalposts")(x, direction=[1], lo=0, hi=20, scores=[1, 5], scale=100)


def test_zscore_ddof_zero_is_the_population_standard_deviation() -> None:
    # Mazziotta & Pareto standardise with the population sd (divisor n); R's sd uses n - 1
    x = np.array([[2.0], [4.0], [4.0], [4.0], [5.0], [5.0], [7.0], [9.0]])  # sd_pop = 2
    pop = normalisers.get("zscore")(x, direction=[1], mean=100, sd=10, ddof=0)
    np.testing.assert_allclose(pop.values.ravel(), 100 + 10 * (x.ravel() - 5) / 2, rtol=1e-12)
    sample = normalisers.get("zscore")(x, direction=[1], mean=100, sd=10)
    np.testing.assert_allclose(sample.learnt["sd"], [np.std(x, ddof=1)], rtol=1e-12)
    with pytest.raises(SpecError, match="ddof"):
        normalisers.get("zscore")(x, direction=[1], ddof=2)
