"""Tests of securindex.methods.impute: hand-computed cases and a contract over the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from securindex.errors import DataError, SpecError
from securindex.methods.impute import imputers

nan = np.nan


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only copy: any in-place write by a method raises."""
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------------------
# A small panel: 2 entities × 5 periods, rows deliberately shuffled
# --------------------------------------------------------------------------------------
#
#   entity 0: periods 0..4 →  nan, 1.0, nan, nan, 7.0     (column 0)
#                              2.0, nan, nan, nan, nan     (column 1)
#   entity 1: periods 0..4 →  10., nan, 30., nan, nan     (column 0)
#                              nan, nan, nan, nan, nan     (column 1)

ENTITY_SORTED = np.repeat([0, 1], 5)
PERIOD_SORTED = np.tile(np.arange(5), 2)
X_SORTED = np.array(
    [
        [nan, 2.0],
        [1.0, nan],
        [nan, nan],
        [nan, nan],
        [7.0, nan],
        [10.0, nan],
        [nan, nan],
        [30.0, nan],
        [nan, nan],
        [nan, nan],
    ]
)
SHUFFLE = np.array([7, 2, 9, 0, 5, 3, 8, 1, 6, 4])


def shuffled() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return readonly(X_SORTED[SHUFFLE]), ENTITY_SORTED[SHUFFLE], PERIOD_SORTED[SHUFFLE]


def run_panel(method: str, **params: object) -> np.ndarray:
    """Impute the shuffled panel and return the result back in (entity, period) order."""
    X, entity, period = shuffled()
    result = imputers.get(method)(X, entity=entity, period=period, **params)
    assert np.array_equal(result.imputed, np.isnan(X) & ~np.isnan(result.values))
    out = np.empty_like(result.values)
    out[SHUFFLE] = result.values
    return out


def test_locf_over_shuffled_panel() -> None:
    # entity 0 col 0: nan (leading gap stays), 1, 1, 1, 7; col 1: 2 carried to the end
    # entity 1 col 0: 10, 10, 30, 30, 30; col 1 never observed → stays nan
    expected = np.array(
        [
            [nan, 2.0],
            [1.0, 2.0],
            [1.0, 2.0],
            [1.0, 2.0],
            [7.0, 2.0],
            [10.0, nan],
            [10.0, nan],
            [30.0, nan],
            [30.0, nan],
            [30.0, nan],
        ]
    )
    np.testing.assert_array_equal(run_panel("locf"), expected)


def test_nocb_over_shuffled_panel() -> None:
    # entity 0 col 0: 1 (from period 1), 1, 7, 7, 7; col 1: only period 0 observed
    # entity 1 col 0: 10, 30, 30, nan, nan (trailing gaps stay)
    expected = np.array(
        [
            [1.0, 2.0],
            [1.0, nan],
            [7.0, nan],
            [7.0, nan],
            [7.0, nan],
            [10.0, nan],
            [30.0, nan],
            [30.0, nan],
            [nan, nan],
            [nan, nan],
        ]
    )
    np.testing.assert_array_equal(run_panel("nocb"), expected)


def test_locf_nocb_over_shuffled_panel() -> None:
    # forward first, then the leading gap of entity 0 col 0 takes period 1's value (1.0)
    out = run_panel("locf_nocb")
    np.testing.assert_array_equal(out[:, 0], [1, 1, 1, 1, 7, 10, 10, 30, 30, 30])
    np.testing.assert_array_equal(out[:5, 1], [2, 2, 2, 2, 2])
    assert np.isnan(out[5:, 1]).all()  # an entity never observed stays missing


def test_linear_over_shuffled_panel() -> None:
    # entity 0 col 0 between (1, 1.0) and (4, 7.0): slope 2 per period → 3.0 at 2, 5.0 at 3
    # entity 1 col 0 between (0, 10) and (2, 30) → 20 at 1; periods 3, 4: no extrapolation
    out = run_panel("linear")
    np.testing.assert_allclose(out[:, 0], [nan, 1, 3, 5, 7, 10, 20, 30, nan, nan])
    np.testing.assert_array_equal(out[:5, 1], [2, nan, nan, nan, nan])


def test_linear_uses_period_values_as_time_axis() -> None:
    # years 2010, 2011, 2015: 2011 lies 1/5 of the way → 10 + (60 - 10) / 5 = 20
    X = readonly([[10.0], [nan], [60.0]])
    result = imputers.get("linear")(
        X, entity=np.zeros(3, dtype=np.int64), period=np.array([2010, 2011, 2015])
    )
    np.testing.assert_allclose(result.values.ravel(), [10, 20, 60])


def test_max_time_limits_the_distance_to_the_donor() -> None:
    # entity 0 col 0: donor at period 1 may fill period 2 (distance 1) but not 3 (distance 2)
    out = run_panel("locf", max_time=1)
    np.testing.assert_array_equal(out[:5, 0], [nan, 1, 1, nan, 7])
    out = run_panel("linear", max_time=2)
    # period 2: donors at distances 1 and 2 → ok; period 3: distances 2 and 1 → ok
    np.testing.assert_allclose(out[:5, 0], [nan, 1, 3, 5, 7])
    out = run_panel("linear", max_time=1)
    np.testing.assert_allclose(out[:5, 0], [nan, 1, nan, nan, 7])


def test_panel_methods_need_entity_and_period() -> None:
    with pytest.raises(SpecError, match="entity and period"):
        imputers.get("locf")(readonly([[1.0], [nan]]))


def test_duplicate_entity_period_is_a_data_error() -> None:
    with pytest.raises(DataError, match="same entity and period"):
        imputers.get("linear")(
            readonly([[1.0], [nan], [2.0]]),
            entity=np.array([0, 0, 0]),
            period=np.array([0, 1, 1]),
        )


# --------------------------------------------------------------------------------------
# Column statistics
# --------------------------------------------------------------------------------------


def test_mean_overall() -> None:
    # column 0: mean of 1, 2, 6 = 3; column 1: mean of 4, 8 = 6
    X = readonly([[1.0, nan], [2.0, 4.0], [nan, 8.0], [6.0, nan]])
    result = imputers.get("mean")(X)
    np.testing.assert_array_equal(result.values, [[1, 6], [2, 4], [3, 8], [6, 6]])
    np.testing.assert_array_equal(result.imputed, np.isnan(X))
    assert result.n_imputed == 3 and result.n_missing == 0


def test_mean_by_group_leaves_empty_group_missing() -> None:
    # group 0 column 0: (1 + 3) / 2 = 2; group 1 column 0: no observed value → stays NaN
    X = readonly([[1.0], [3.0], [nan], [nan], [nan]])
    groups = np.array([0, 0, 0, 1, 1])
    result = imputers.get("mean")(X, groups=groups)
    np.testing.assert_array_equal(result.values.ravel(), [1, 3, 2, nan, nan])
    np.testing.assert_array_equal(result.imputed.ravel(), [False, False, True, False, False])
    assert result.n_missing == 2


def test_median_by_group() -> None:
    # group 5: 1, 2, 10 → median 2; group 7: 4, 6 → median (4 + 6) / 2 = 5
    X = readonly([[1.0], [10.0], [nan], [2.0], [4.0], [nan], [6.0]])
    groups = np.array([5, 5, 5, 5, 7, 7, 7])
    result = imputers.get("median")(X, groups=groups)
    np.testing.assert_array_equal(result.values.ravel(), [1, 10, 2, 2, 4, 5, 6])


def test_mean_within_period() -> None:
    # period 0: (1 + 3) / 2 = 2; period 1: 10 only
    X = readonly([[1.0], [3.0], [nan], [10.0], [nan]])
    period = np.array([0, 0, 0, 1, 1])
    result = imputers.get("mean")(X, period=period, within_period=True)
    np.testing.assert_array_equal(result.values.ravel(), [1, 3, 2, 10, 10])


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, (12, 3), elements=st.floats(-100, 100, allow_nan=False)),
    hnp.arrays(np.bool_, (12, 3)),
    hnp.arrays(np.int64, 12, elements=st.integers(0, 3)),
)
def test_group_statistics_match_pandas(
    values: np.ndarray, missing: np.ndarray, groups: np.ndarray
) -> None:
    X = readonly(np.where(missing, nan, values))
    frame = pd.DataFrame(X)
    for name in ("mean", "median"):
        expected = frame.groupby(groups).transform(name).to_numpy()
        expected = np.where(np.isnan(X), expected, X)
        np.testing.assert_allclose(
            imputers.get(name)(X, groups=groups).values, expected, rtol=1e-12, atol=1e-9
        )


def test_none_returns_a_copy() -> None:
    X = readonly([[1.0, nan]])
    result = imputers.get("none")(X, entity=np.array([0]), period=np.array([0]))
    np.testing.assert_array_equal(result.values, X)
    assert not result.imputed.any()
    assert result.values is not X


def test_parameter_errors() -> None:
    with pytest.raises(SpecError, match="unknown parameter"):
        imputers.get("mean")(readonly([[1.0]]), by="region")
    with pytest.raises(
        SpecError,
        match=r"The 'max_time' parameter of impute method 'locf' must be an int >= 1; got 0",
    ):
        imputers.get("locf")(readonly([[1.0]]), entity=[0], period=[0], max_time=0)
    with pytest.raises(DataError, match="one code per row"):
        imputers.get("mean")(readonly([[1.0], [2.0]]), groups=np.array([0]))


# --------------------------------------------------------------------------------------
# Contract over every registered imputer
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", imputers.names())
@settings(max_examples=25, deadline=None)
@given(
    values=hnp.arrays(np.float64, (8, 2), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    missing=hnp.arrays(np.bool_, (8, 2)),
    order=st.permutations(range(8)),
)
def test_contract(method: str, values: np.ndarray, missing: np.ndarray, order: list[int]) -> None:
    X = readonly(np.where(missing, nan, values)[order])
    entity = np.repeat([0, 1], 4)[order]
    period = np.tile(np.arange(4), 2)[order]
    groups = np.array([0, 1, 0, 1, 0, 1, 0, 1])[order]
    before = X.copy()
    result = imputers.get(method)(X, groups=groups, entity=entity, period=period)
    np.testing.assert_array_equal(X, before)  # input untouched
    assert result.values.shape == X.shape and result.imputed.shape == X.shape
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(result.values[observed], X[observed])  # observed kept
    assert not result.imputed[observed].any()  # only gaps are flagged
    np.testing.assert_array_equal(result.imputed, ~observed & ~np.isnan(result.values))
    # an imputed value lies within the range of its column's observed values
    for j in range(X.shape[1]):
        if result.imputed[:, j].any():
            lo, hi = np.nanmin(X[:, j]), np.nanmax(X[:, j])
            filled = result.values[result.imputed[:, j], j]
            assert np.all((filled >= lo - 1e-9) & (filled <= hi + 1e-9))


def test_linear_with_constant_ends_is_coinrs_linear_constant() -> None:
    # COINr impute_panel(imp_type = "linear-constant"): interpolate inside the observed span,
    # hold the first/last observation outside it
    x = np.array([[nan], [2.0], [nan], [nan], [8.0], [nan]])
    e = np.zeros(6, dtype=np.int64)
    method = imputers.get("linear")
    result = method(readonly(x), entity=e, period=np.arange(6), ends="constant")
    assert result.values.ravel().tolist() == [2.0, 2.0, 4.0, 6.0, 8.0, 8.0]
    assert result.imputed.ravel().tolist() == [True, False, True, True, False, True]
    plain = method(readonly(x), entity=e, period=np.arange(6))
    assert np.isnan(plain.values[[0, 5], 0]).all()
    with pytest.raises(SpecError, match="'ends' parameter"):
        method(readonly(x), entity=e, period=np.arange(6), ends="linear")


def test_one_group_sums_are_the_row_order_sums() -> None:
    """The one-group path adds each column's values in row order, as the grouped
    bincount does: equal to a plain Python loop, bit for bit."""
    from securindex.methods.impute import _group_sums

    rng = np.random.default_rng(5)
    values = np.asfortranarray(
        rng.lognormal(0.0, 2.0, (997, 4)) * rng.choice([-1.0, 1.0], (997, 4))
    )
    got = _group_sums(values, np.zeros(997, dtype=np.int64), 1)
    for j in range(4):
        total = 0.0
        for v in values[:, j]:
            total += float(v)
        assert got[0, j] == total
