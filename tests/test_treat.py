"""Tests of securindex.methods.treat: moments, the JRC winsorisation loop, transforms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from securindex.errors import DataError, SpecError
from securindex.methods.treat import kurtosis, skewness, transform, treaters, winsorise

nan = np.nan


def readonly(a: object) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def column(values: object) -> np.ndarray:
    return readonly(np.asarray(values, dtype=np.float64)[:, None])


# --------------------------------------------------------------------------------------
# Skewness and kurtosis
# --------------------------------------------------------------------------------------


def test_moments_by_hand() -> None:
    # x = 1, 2, 3, 10: mean 4, deviations -3, -2, -1, 6
    # m2 = (9 + 4 + 1 + 36) / 4 = 12.5, m3 = (-27 - 8 - 1 + 216) / 4 = 45,
    # m4 = (81 + 16 + 1 + 1296) / 4 = 348.5
    # g1 = 45 / 12.5**1.5 = 1.0182338, G1 = g1 * sqrt(4 * 3) / 2 = 1.7636326
    # g2 = 348.5 / 12.5**2 - 3 = -0.7696, G2 = 3 / (2 * 1) * (5 * g2 + 6) = 3.228
    X = column([1, 2, 3, 10])
    assert skewness(X)[0] == pytest.approx(1.7636326, abs=1e-7)
    assert kurtosis(X)[0] == pytest.approx(3.228, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, (15, 3), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    hnp.arrays(np.bool_, (15, 3)),
)
def test_moments_equal_scipy_bias_corrected(values: np.ndarray, missing: np.ndarray) -> None:
    X = np.where(missing, nan, values)
    sk, ku = skewness(X), kurtosis(X)
    for j in range(X.shape[1]):
        x = X[~np.isnan(X[:, j]), j]
        spread = x.size > 0 and np.ptp(x) > 1e-6 * max(1.0, np.abs(x).max())
        if x.size >= 3 and spread:
            assert sk[j] == pytest.approx(stats.skew(x, bias=False), rel=1e-6, abs=1e-6)
        if x.size >= 4 and spread:
            assert ku[j] == pytest.approx(stats.kurtosis(x, bias=False), rel=1e-6, abs=1e-6)
        if x.size < 3:
            assert np.isnan(sk[j])
        if x.size < 4:
            assert np.isnan(ku[j])


def test_constant_column_has_undefined_moments() -> None:
    X = column([0.1] * 7)  # 0.1 is not exact in binary: the mean is rounded
    assert np.isnan(skewness(X)[0]) and np.isnan(kurtosis(X)[0])


# --------------------------------------------------------------------------------------
# Winsorisation
# --------------------------------------------------------------------------------------


def test_winsorise_one_huge_outlier() -> None:
    # x = 1, 2, …, 19, 1000 (n = 20)
    # before: skew G1 = 4.4676, kurtosis G2 = 19.971 → fails (|4.47| >= 2 and 19.97 >= 3.5)
    # step 1: skew > 0, so the maximum 1000 takes the next-highest value, 19
    # after:  1, …, 19, 19 → skew -0.0430, kurtosis -1.2523 → passes; one point changed
    x = np.r_[np.arange(1.0, 20.0), 1000.0]
    result = treaters.get("winsorise")(column(x))
    np.testing.assert_array_equal(result.values.ravel(), np.r_[np.arange(1.0, 20.0), 19.0])
    np.testing.assert_array_equal(result.winsorised.ravel(), np.r_[np.zeros(19, bool), True])
    record = result.report[0]
    assert record["skew_before"] == pytest.approx(4.4675766, abs=1e-6)
    assert record["kurt_before"] == pytest.approx(19.971459, abs=1e-5)
    assert record["skew_after"] == pytest.approx(-0.0430319, abs=1e-6)
    assert record["kurt_after"] == pytest.approx(-1.2523261, abs=1e-6)
    assert not record["pass_before"] and record["pass_after"]
    assert record["n_winsorised"] == 1
    assert record["winsorised_high"] == 19.0 and np.isnan(record["winsorised_low"])
    assert record["transform"] == "none" and result.transformed == {}


def test_winsorise_tied_maxima_move_together() -> None:
    # two points at 1000: both take the highest remaining value, 19 (COINr's x[imax] rule)
    x = np.r_[np.arange(1.0, 20.0), 1000.0, 1000.0]
    result = treaters.get("winsorise")(column(x))
    np.testing.assert_array_equal(result.values.ravel()[-3:], [19, 19, 19])
    assert result.report[0]["n_winsorised"] == 2


def test_winsorise_negative_skew_treats_the_low_tail() -> None:
    # the mirror image of the one-outlier case: -1000 is raised to -19
    x = -np.r_[np.arange(1.0, 20.0), 1000.0]
    result = treaters.get("winsorise")(column(x))
    assert result.values[-1, 0] == -19.0
    assert result.report[0]["winsorised_low"] == -19.0


def test_winsorise_iterates_point_by_point() -> None:
    # 1..10, 30, 100 (COINr's vignette vector): skew 3.06, kurt 9.74 fails.
    # Pass 1: 100 → 30 gives skew 1.71 (< 2): passes after one point, so 30 is kept.
    x = np.r_[np.arange(1.0, 11.0), 30.0, 100.0]
    result = treaters.get("winsorise")(column(x))
    np.testing.assert_array_equal(result.values.ravel()[-2:], [30, 30])
    assert result.report[0]["skew_after"] == pytest.approx(
        stats.skew(np.r_[np.arange(1.0, 11.0), 30.0, 30.0], bias=False)
    )


def test_winsorise_falls_back_to_log_ct_on_the_original_column() -> None:
    # twelve zeros and 1, 2, 5, 10, 100, 1000: with winmax = 1, one point is not enough,
    # so the original column gets log_CT: ln(x - min + a), a = 0.01 * (1000 - 0) = 10
    x = np.r_[np.zeros(12), 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0]
    result = treaters.get("winsorise")(column(x), winmax=1)
    np.testing.assert_allclose(result.values.ravel(), np.log(x + 10.0))
    assert result.values[0, 0] == pytest.approx(2.302585093)  # ln 10
    assert result.values[-1, 0] == pytest.approx(6.917705609)  # ln 1010
    assert result.transformed == {0: "log_CT"}
    assert not result.winsorised.any()  # the winsorisation was discarded
    assert result.report[0]["shift"] == pytest.approx(10.0)


def test_winsorise_fallback_none_keeps_the_winsorised_column() -> None:
    x = np.r_[np.zeros(12), 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0]
    result = treaters.get("winsorise")(column(x), winmax=1, fallback="none")
    assert result.values[-1, 0] == 100.0 and result.winsorised[-1, 0]
    assert result.transformed == {} and not result.report[0]["pass_after"]


def test_winsorise_works_column_by_column() -> None:
    # columns are treated together but independently: the same as one at a time
    rng = np.random.default_rng(7)
    X = rng.lognormal(0.0, 1.6, size=(30, 4))
    X[5, 1] = nan
    X = readonly(X)
    together = treaters.get("winsorise")(X, winmax=3)
    for j in range(X.shape[1]):
        alone = treaters.get("winsorise")(X[:, [j]], winmax=3)
        np.testing.assert_array_equal(together.values[:, j], alone.values[:, 0])
        np.testing.assert_array_equal(together.winsorised[:, j], alone.winsorised[:, 0])
        assert together.report[j]["transform"] == alone.report[0]["transform"]
    assert np.isnan(together.values[5, 1])


def test_passing_columns_are_untouched() -> None:
    X = readonly(np.c_[np.arange(10.0), np.arange(10.0) ** 2])
    result = treaters.get("winsorise")(X)
    np.testing.assert_array_equal(result.values, X)
    assert not result.winsorised.any()


# --------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------


def test_log_ct_plus_handles_negative_skew() -> None:
    # negative skew: -ln(max + a - x), a = 0.01 * (10 - (-990)) = 10 → -ln(20 - x)
    x = np.r_[-990.0, np.arange(1.0, 11.0)]
    values, shift, _, names = transform(x[:, None], "log_CT_plus")
    np.testing.assert_allclose(values.ravel(), -np.log(20.0 - x))
    assert names == ["log_CT_neg"] and shift[0] == pytest.approx(20.0)
    assert abs(skewness(values)[0]) < abs(skewness(x[:, None])[0])


def test_log_method_natural_log_and_its_domain() -> None:
    result = treaters.get("log")(column([1.0, np.e, np.e**2, nan]))
    np.testing.assert_allclose(result.values.ravel(), [0, 1, 2, nan])
    with pytest.raises(DataError, match="log_CT"):
        treaters.get("log")(column([0.0, 1.0, 2.0]))


def test_log_only_failing_columns() -> None:
    x = np.r_[np.arange(1.0, 20.0), 1000.0]
    X = readonly(np.c_[x, np.arange(1.0, 21.0)])
    result = treaters.get("log")(X, only_failing=True, transform="log_CT")
    assert result.transformed == {0: "log_CT"}
    np.testing.assert_array_equal(result.values[:, 1], X[:, 1])


def test_boxcox_matches_scipy() -> None:
    # makepos: y = x - min + 1, then λ by maximum likelihood as scipy.stats.boxcox
    rng = np.random.default_rng(3)
    x = rng.lognormal(0.0, 1.0, 50)
    result = treaters.get("boxcox")(column(x))
    expected, lam = stats.boxcox(x - x.min() + 1.0)
    np.testing.assert_allclose(result.values.ravel(), expected, rtol=1e-6)
    assert result.report[0]["lambda"] == pytest.approx(lam, rel=1e-6)
    # fixed λ = 0.5 by hand without shift: (4**0.5 - 1) / 0.5 = 2
    fixed = treaters.get("boxcox")(column([1.0, 4.0, 9.0]), lmbda=0.5, makepos=False)
    np.testing.assert_allclose(fixed.values.ravel(), [0.0, 2.0, 4.0])


# --------------------------------------------------------------------------------------
# Parameters and contract
# --------------------------------------------------------------------------------------


def test_parameter_messages() -> None:
    with pytest.raises(
        SpecError,
        match=r"The 'winmax' parameter of treat method 'winsorise' must be an int >= 0; got -1",
    ):
        treaters.get("winsorise")(column([1.0, 2.0]), winmax=-1)
    with pytest.raises(SpecError, match=r"'fallback' parameter .* one of"):
        treaters.get("winsorise")(column([1.0, 2.0]), fallback="sqrt")
    with pytest.raises(SpecError, match="unknown parameter"):
        treaters.get("winsorise")(column([1.0, 2.0]), max_skew=2)


@pytest.mark.parametrize("method", treaters.names())
@settings(max_examples=15, deadline=None)
@given(
    values=hnp.arrays(np.float64, (14, 3), elements=st.floats(0.5, 1e4, allow_nan=False)),
    missing=hnp.arrays(np.bool_, (14, 3)),
)
def test_contract(method: str, values: np.ndarray, missing: np.ndarray) -> None:
    X = readonly(np.where(missing, nan, values))
    before = X.copy()
    result = treaters.get(method)(X)
    np.testing.assert_array_equal(X, before)
    assert result.values.shape == X.shape and result.winsorised.shape == X.shape
    np.testing.assert_array_equal(np.isnan(result.values), np.isnan(X))
    assert len(result.report) == X.shape[1]
    assert [r["column"] for r in result.report] == list(range(X.shape[1]))
    for j in range(X.shape[1]):
        ok = ~np.isnan(X[:, j])
        x, y = X[ok, j], result.values[ok, j]
        order = np.argsort(x, kind="stable")
        assert np.all(np.diff(y[order]) >= -1e-9)  # every treatment keeps the order
        if j not in result.transformed:
            assert np.array_equal(result.winsorised[ok, j], x != y)


# -- treatment period by period --------------------------------------------------------------


def test_treat_by_period_treats_each_period_alone() -> None:
    from securindex.methods.treat import treat_by_period

    rng = np.random.default_rng(4)
    calm = rng.normal(10.0, 1.0, size=(20, 1))
    skewed = np.vstack([rng.normal(10.0, 1.0, size=(19, 1)), [[60.0]]])  # one outlier
    x = np.vstack([calm, skewed])
    codes = np.repeat([0, 1], 20)
    result = treat_by_period("winsorise", x, codes, winmax=3)
    # the calm period is untouched, the skewed one winsorised within itself
    np.testing.assert_array_equal(result.values[:20], calm)
    alone = treaters.get("winsorise")(skewed, winmax=3)
    np.testing.assert_array_equal(result.values[20:], alone.values)
    assert result.winsorised[20:].sum() == alone.winsorised.sum() >= 1
    assert [r["period"] for r in result.report] == [0, 1]
    pooled = treaters.get("winsorise")(x, winmax=3)
    assert not np.array_equal(pooled.values, result.values)  # pooled treatment differs


# --------------------------------------------------------------------------------------
# The summary replay of winsorise() against the loop it replaces (issue #10)
# --------------------------------------------------------------------------------------


def _loop_winsorise(X: np.ndarray, skew_max: float, kurt_max: float, winmax: int) -> np.ndarray:
    """The JRC/COINr loop written plainly: recompute skewness and kurtosis after moving all
    values tied at the failing tail to the next value, until the rule passes or ``winmax``
    points moved (the reference the one-pass replay must equal exactly)."""
    from securindex.methods.treat import fails_rule

    observed = ~np.isnan(X)
    values = X.copy()
    n_changed = np.zeros(X.shape[1], dtype=np.int64)
    while True:
        skew = skewness(values)
        failing = fails_rule(skew, kurtosis(values), skew_max, kurt_max) & (n_changed < winmax)
        if not failing.any():
            return values
        high, low = failing & (skew >= 0), failing & (skew < 0)
        lo = np.where(observed, values, np.inf).min(axis=0)
        hi = np.where(observed, values, -np.inf).max(axis=0)
        at_hi, at_lo = (values == hi) & high, (values == lo) & low
        next_hi = np.where(observed & ~at_hi, values, -np.inf).max(axis=0, initial=-np.inf)
        next_lo = np.where(observed & ~at_lo, values, np.inf).min(axis=0, initial=np.inf)
        values = np.where(at_hi, next_hi, np.where(at_lo, next_lo, values))
        n_changed = (observed & (values != X)).sum(axis=0)


@given(
    st.lists(st.integers(0, 60), min_size=6, max_size=80),
    st.integers(0, 6),
    st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_winsorise_equals_the_plain_loop(values: list[int], winmax: int, negative: bool) -> None:
    x = np.asarray(values, dtype=np.float64) ** 2  # squares: skewed, with ties
    if negative:
        x = -x  # a long left tail
    x[::7] = np.nan
    column = np.column_stack([x, np.roll(x, 3)])
    expected = _loop_winsorise(column, 2.0, 3.5, winmax)
    got = winsorise(column, winmax=winmax, fallback="none")
    np.testing.assert_array_equal(got.values, expected)
    np.testing.assert_array_equal(got.winsorised, ~np.isnan(column) & (expected != column))
