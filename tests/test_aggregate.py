"""Tests of securindex.methods.aggregate: hand computations, limits and registry contracts."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.errors import DataError, SpecError
from securindex.methods.aggregate import (
    aggregators,
    arithmetic,
    copeland,
    generalised,
    geometric,
    harmonic,
    mazziotta_pareto,
    median,
    minimum,
    requires_positive,
)

# One row with a missing child; weights (0.5, 0.25, 0.25) renormalise over the two present
# children to (0.5/0.75, 0.25/0.75) = (2/3, 1/3).
ROW = np.array([[10.0, 20.0, np.nan]])
W = np.array([0.5, 0.25, 0.25])


# --------------------------------------------------------------------------------------
# Hand-computed means with a missing value
# --------------------------------------------------------------------------------------


def test_arithmetic_renormalises_over_present_children() -> None:
    # 2/3 * 10 + 1/3 * 20 = 40/3
    assert arithmetic(ROW, W) == pytest.approx([40 / 3])


def test_geometric_renormalises_over_present_children() -> None:
    # 10^(2/3) * 20^(1/3) = (10^2 * 20)^(1/3) = 2000^(1/3)
    assert geometric(ROW, W) == pytest.approx([2000 ** (1 / 3)])


def test_harmonic_renormalises_over_present_children() -> None:
    # 1 / (2/3 / 10 + 1/3 / 20) = 1 / (4/60 + 1/60) = 12
    assert harmonic(ROW, W) == pytest.approx([12.0])


def test_generalised_order_two_by_hand() -> None:
    # sqrt(2/3 * 10^2 + 1/3 * 20^2) = sqrt(200/3 + 400/3) = sqrt(200)
    assert generalised(ROW, W, p=2) == pytest.approx([np.sqrt(200.0)])


def test_equal_weights_when_none() -> None:
    # (1 + 2 + 6) / 3 = 3; (1 * 2 * 6)^(1/3) = 12^(1/3)
    X = np.array([[1.0, 2.0, 6.0]])
    assert arithmetic(X, None) == pytest.approx([3.0])
    assert geometric(X, None) == pytest.approx([12 ** (1 / 3)])


@pytest.mark.parametrize("name", aggregators.names())
def test_row_without_present_child_is_nan(name: str) -> None:
    k = _cols(name, 2)
    X = np.array([[50.0, 60.0], [np.nan, np.nan], [70.0, 80.0], [55.0, 75.0], [65.0, 62.0]])[:, :k]
    out = aggregators.get(name)(X, np.full(k, 1 / k))
    assert np.isnan(out[1])
    assert np.all(np.isfinite(out[[0, 2, 3, 4]]))


def test_child_of_weight_zero_is_ignored() -> None:
    # The zero value has weight 0, so the geometric mean is defined: 4^0.5 * 16^0.5 = 8.
    X = np.array([[4.0, 16.0, 0.0]])
    assert geometric(X, np.array([1.0, 1.0, 0.0])) == pytest.approx([8.0])
    # Row with only zero-weight children present: no information, NaN.
    assert np.isnan(arithmetic(np.array([[np.nan, np.nan, 5.0]]), np.array([1.0, 1.0, 0.0])))[0]


def test_weights_need_not_sum_to_one() -> None:
    X = np.array([[10.0, 20.0]])
    assert arithmetic(X, np.array([3.0, 1.0])) == pytest.approx(arithmetic(X, [0.75, 0.25]))


# --------------------------------------------------------------------------------------
# Domain errors and the requires_positive metadata
# --------------------------------------------------------------------------------------


def test_geometric_rejects_non_positive_values_and_says_how_many() -> None:
    X = np.array([[0.0, 5.0], [-1.0, 3.0], [2.0, 2.0]])
    with pytest.raises(DataError, match=r"2 value\(s\).*\[1, 100\]"):
        geometric(X, None)


@pytest.mark.parametrize(("p", "ok"), [(-1.0, False), (0.0, False), (2.0, True), (0.5, True)])
def test_generalised_domain_with_zero(p: float, ok: bool) -> None:
    X = np.array([[0.0, 4.0]])
    if ok:
        assert generalised(X, None, p=p) == pytest.approx([(0.5 * 4.0**p) ** (1 / p)])
    else:
        with pytest.raises(DataError):
            generalised(X, None, p=p)


def test_generalised_negative_values_only_for_p_one() -> None:
    X = np.array([[-2.0, 4.0]])
    assert generalised(X, None, p=1) == pytest.approx([1.0])
    with pytest.raises(DataError):
        generalised(X, None, p=2)


def test_requires_positive_metadata() -> None:
    assert requires_positive("geometric")
    assert requires_positive("harmonic")
    assert not requires_positive("arithmetic")
    assert requires_positive("generalised", {"p": 0})
    assert requires_positive("generalised", {"p": -2})
    assert not requires_positive("generalised", {"p": 0.5})
    assert requires_positive("mazziotta_pareto")
    assert not requires_positive("mazziotta_pareto", {"standardise": True})
    with pytest.raises(SpecError, match="available"):
        requires_positive("no_such_method")


def test_every_method_declares_its_metadata() -> None:
    for method in aggregators:
        assert isinstance(method.compensatory, bool), method.name
        assert method.compensability in {"full", "partial", "none"}, method.name
        assert method.compensatory == (method.compensability != "none"), method.name
        assert isinstance(method.parameters, tuple), method.name
        assert isinstance(method.idempotent, bool), method.name


# --------------------------------------------------------------------------------------
# Invalid weights and data
# --------------------------------------------------------------------------------------


def test_negative_weight_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="negative"):
        arithmetic(np.ones((2, 2)), np.array([1.0, -1.0]))


def test_weights_of_wrong_length() -> None:
    with pytest.raises(SpecError, match="length 3"):
        arithmetic(np.ones((2, 3)), np.array([0.5, 0.5]))


def test_per_replicate_weights_must_keep_a_row_axis() -> None:
    X = np.ones((4, 5, 3))
    with pytest.raises(SpecError, match=r"w\[:, None, :\]"):
        arithmetic(X, np.ones((4, 3)))


def test_infinite_value_is_a_data_error() -> None:
    with pytest.raises(DataError, match="infinite"):
        arithmetic(np.array([[1.0, np.inf]]), None)


# --------------------------------------------------------------------------------------
# Generalised mean limits
# --------------------------------------------------------------------------------------

LIMIT_X = np.array([[1.0, 4.0, 9.0], [2.0, np.nan, 50.0], [3.0, 3.0, 3.0]])
LIMIT_W = np.array([0.2, 0.3, 0.5])


def test_generalised_p_one_is_arithmetic() -> None:
    np.testing.assert_array_equal(generalised(LIMIT_X, LIMIT_W, p=1), arithmetic(LIMIT_X, LIMIT_W))


def test_generalised_p_minus_one_is_harmonic() -> None:
    np.testing.assert_allclose(
        generalised(LIMIT_X, LIMIT_W, p=-1), harmonic(LIMIT_X, LIMIT_W), rtol=1e-12
    )


@pytest.mark.parametrize("p", [1e-7, -1e-7])
def test_generalised_tends_to_geometric_as_p_tends_to_zero(p: float) -> None:
    np.testing.assert_allclose(
        generalised(LIMIT_X, LIMIT_W, p=p), geometric(LIMIT_X, LIMIT_W), rtol=1e-5
    )
    np.testing.assert_array_equal(generalised(LIMIT_X, LIMIT_W, p=0), geometric(LIMIT_X, LIMIT_W))


def test_generalised_tends_to_minimum_and_maximum() -> None:
    np.testing.assert_allclose(
        generalised(LIMIT_X, LIMIT_W, p=-400), minimum(LIMIT_X, LIMIT_W), rtol=1e-2
    )
    np.testing.assert_array_equal(
        generalised(LIMIT_X, LIMIT_W, p=-np.inf), minimum(LIMIT_X, LIMIT_W)
    )
    np.testing.assert_array_equal(generalised(LIMIT_X, LIMIT_W, p=np.inf), [9.0, 50.0, 3.0])
    # Large |p| does not overflow thanks to the per-row scaling.
    assert np.all(np.isfinite(generalised(LIMIT_X * 1e3, LIMIT_W, p=-2000)))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0.5, 200.0), min_size=2, max_size=6),
    p=st.floats(-8.0, 8.0),
    q=st.floats(-8.0, 8.0),
)
def test_power_mean_inequality(values: list[float], p: float, q: float) -> None:
    # M_p is non-decreasing in p for positive values.
    X = np.array([values])
    low, high = sorted((p, q))
    assert generalised(X, None, p=low)[0] <= generalised(X, None, p=high)[0] * (1 + 1e-9)


# --------------------------------------------------------------------------------------
# Mazziotta-Pareto Index on a 3 x 3 hand example
# --------------------------------------------------------------------------------------

Z = np.array([[100.0, 100.0, 100.0], [90.0, 100.0, 110.0], [80.0, 110.0, 110.0]])


def test_mpi_negative_by_hand() -> None:
    # Every row has mean M = 100.
    # Row 0: S = 0                                  -> 100.
    # Row 1: S^2 = (100 + 0 + 100)/3 = 200/3;  S*cv = S^2/M = 2/3   -> 100 - 2/3.
    # Row 2: S^2 = (400 + 100 + 100)/3 = 200;  S*cv = 2             -> 98.
    np.testing.assert_allclose(mazziotta_pareto(Z, None), [100.0, 100 - 2 / 3, 98.0])


def test_mpi_positive_by_hand() -> None:
    np.testing.assert_allclose(
        mazziotta_pareto(Z, None, penalty="positive"), [100.0, 100 + 2 / 3, 102.0]
    )


def test_mpi_sample_sd() -> None:
    # ddof=1: S^2 = 200/2 = 100 -> 99; S^2 = 600/2 = 300 -> 97.
    np.testing.assert_allclose(mazziotta_pareto(Z, None, ddof=1), [100.0, 99.0, 97.0])


def test_mpi_weighted_by_hand() -> None:
    # Row 2 with w = (0.5, 0.25, 0.25): M = 40 + 27.5 + 27.5 = 95; deviations -15, 15, 15,
    # S^2 = 225; MPI- = 95 - 225/95.
    out = mazziotta_pareto(Z[2:], np.array([0.5, 0.25, 0.25]))
    assert out == pytest.approx([95 - 225 / 95])


def test_mpi_standardise_matches_manual_z_scores() -> None:
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 10, size=(7, 3))
    z = 100 + 10 * (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(
        mazziotta_pareto(X, None, standardise=True), mazziotta_pareto(z, None)
    )
    # Per period: each group standardised on its own rows.
    groups = np.array([0, 0, 0, 1, 1, 1, 1])
    zg = np.vstack(
        [
            100 + 10 * (X[g] - X[g].mean(axis=0)) / X[g].std(axis=0)
            for g in (slice(0, 3), slice(3, 7))
        ]
    )
    np.testing.assert_allclose(
        mazziotta_pareto(X, None, standardise=True, groups=groups), mazziotta_pareto(zg, None)
    )


def test_mpi_rejects_unscaled_inputs_and_bad_parameters() -> None:
    with pytest.raises(DataError, match="standardise=True"):
        mazziotta_pareto(np.array([[-5.0, 1.0]]), None)
    with pytest.raises(SpecError, match="penalty"):
        mazziotta_pareto(Z, None, penalty="up")
    with pytest.raises(SpecError, match="ddof"):
        mazziotta_pareto(Z, None, ddof=2)
    with pytest.raises(DataError, match="constant"):
        mazziotta_pareto(np.array([[1.0, 2.0], [1.0, 3.0]]), None, standardise=True)


def test_mpi_can_decrease_when_an_outlying_child_grows() -> None:
    # The documented non-monotonicity: z_k - M > M (1 + cv^2) / 2.
    X = np.array([[70.0, 70, 70, 70, 130], [70.0, 70, 70, 70, 131]])
    out = mazziotta_pareto(X, None)
    assert out[1] < out[0]


# --------------------------------------------------------------------------------------
# Copeland
# --------------------------------------------------------------------------------------


def _copeland_by_loops(X: np.ndarray, w: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Reference implementation straight from the outranking-matrix definition."""
    n = X.shape[0]
    scores = np.zeros(n)
    for j, k in itertools.permutations(range(n), 2):
        if groups[j] != groups[k]:
            continue
        e_jk = e_kj = 0.0
        for i in range(X.shape[1]):
            a, b = X[j, i], X[k, i]
            if np.isnan(a) or np.isnan(b):
                continue
            e_jk += w[i] * (a > b) + 0.5 * w[i] * (a == b)
            e_kj += w[i] * (b > a) + 0.5 * w[i] * (a == b)
        scores[j] += np.sign(round(e_jk - e_kj, 12))
    return scores


COPELAND_X = np.array([[3.0, 1.0, 2.0], [3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])


def test_copeland_three_rows_with_a_tie() -> None:
    # Equal weights 1/3. Rows 0 and 1: tie on child 0, each wins one child:
    # e_01 = 1/3 + 1/2 * 1/3 = 1/2 = e_10 -> tie (0). Row 0 vs 2: wins children 0 and 2, ties
    # child 1 -> e_02 = 5/6 > e_20 = 1/6. Row 1 vs 2 likewise. Scores: 1, 1, -2.
    np.testing.assert_array_equal(copeland(COPELAND_X, None), [1.0, 1.0, -2.0])


def test_copeland_weights_break_the_tie() -> None:
    # w = (0.2, 0.5, 0.3): e_01 = 0.3 + 0.1 = 0.4 < e_10 = 0.5 + 0.1 = 0.6 -> row 1 beats 0.
    np.testing.assert_array_equal(copeland(COPELAND_X, np.array([0.2, 0.5, 0.3])), [0, 2, -2])


def test_copeland_compares_within_groups_only() -> None:
    X = np.vstack([COPELAND_X, COPELAND_X[::-1] + 10])
    groups = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(copeland(X, None, groups=groups), [1, 1, -2, -2, 1, 1])
    # Pooled, the second period's rows beat every first-period row.
    pooled = copeland(X, None)
    assert np.all(pooled[3:] > pooled[:3].max())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(2, 9), n_children=st.integers(1, 5))
def test_copeland_matches_the_definition(seed: int, n_rows: int, n_children: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, size=(n_rows, n_children)).astype(float)  # many ties
    X[rng.random(X.shape) < 0.15] = np.nan
    w = rng.dirichlet(np.ones(n_children))
    groups = rng.integers(0, 2, size=n_rows)
    expected = _copeland_by_loops(X, w, groups)
    empty = np.isnan(X).all(axis=1)
    expected[empty] = np.nan
    np.testing.assert_array_equal(copeland(X, w, groups=groups), expected)
    # Chunking (a tiny memory budget) changes nothing.
    np.testing.assert_array_equal(copeland(X, w, groups=groups, max_elements=1), expected)


def test_copeland_rejects_per_row_weights() -> None:
    with pytest.raises(SpecError, match="shared by all rows"):
        copeland(COPELAND_X, np.ones((3, 3)))


def test_copeland_is_monotone_for_the_improving_row() -> None:
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, size=(6, 3))
    before = copeland(X, None)
    X2 = X.copy()
    X2[2, 1] += 0.5
    assert copeland(X2, None)[2] >= before[2]


# --------------------------------------------------------------------------------------
# Minimum and median
# --------------------------------------------------------------------------------------


def test_minimum_by_hand() -> None:
    np.testing.assert_array_equal(minimum(np.array([[3.0, np.nan, 2.0]]), None), [2.0])
    # Weight 0 excludes the child holding 1.
    np.testing.assert_array_equal(minimum(np.array([[3.0, 5.0, 1.0]]), [1.0, 1.0, 0.0]), [3.0])


def test_median_by_hand() -> None:
    # Even count, equal weights: (2 + 5)/2 = 3.5. Odd count after the NaN: 2.
    X = np.array([[1.0, 5.0, 2.0, 9.0], [1.0, 5.0, 2.0, np.nan]])
    np.testing.assert_array_equal(median(X, None), [3.5, 2.0])
    # Weighted: cumulative weights over sorted (1, 2, 3).
    x = np.array([[1.0, 2.0, 3.0]])
    assert median(x, np.array([0.6, 0.2, 0.2]))[0] == 1.0  # 0.6 >= 0.5 at 1
    assert median(x, np.array([0.2, 0.2, 0.6]))[0] == 3.0  # 0.4 < 0.5, 1.0 at 3
    assert median(x, np.array([0.25, 0.25, 0.5]))[0] == 2.5  # exactly 0.5 at 2 -> (2 + 3)/2


# --------------------------------------------------------------------------------------
# Contracts over every registered method
# --------------------------------------------------------------------------------------

# Parameters that exercise each method; a new method must be added here.
METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "arithmetic": {},
    "geometric": {},
    "harmonic": {},
    "generalised": {"p": -2.5},
    "mazziotta_pareto": {},
    "copeland": {},
    "minimum": {},
    "median": {},
    "none": {},
    "mean_min": {"alpha": 0.5, "beta": 1.0},
    "owa": {"j": 2},
    "wroclaw": {},
    "factor_scores": {},
}


def _cols(name: str, k: int) -> int:
    """``k`` children, or fewer for a method that takes at most ``max_children``."""
    most = aggregators.get(name).max_children
    return k if most is None else min(k, most)


def test_every_method_has_contract_parameters() -> None:
    assert set(METHOD_PARAMS) == set(aggregators.names())


IDEMPOTENT = [m.name for m in aggregators if m.idempotent]
MEANS = [m.name for m in aggregators if m.preserves_range]


@pytest.mark.parametrize("name", IDEMPOTENT)
@settings(max_examples=25, deadline=None)
@given(
    c=st.floats(85.0, 115.0),
    n_rows=st.integers(1, 4),
    weights=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda w: sum(w) > 0.01),
)
def test_idempotence(name: str, c: float, n_rows: int, weights: list[float]) -> None:
    k = _cols(name, 3)
    X = np.full((n_rows, k), c)
    out = aggregators.get(name)(X, np.array(weights[:k]), **METHOD_PARAMS[name])
    np.testing.assert_allclose(out, c, rtol=1e-12)


@pytest.mark.parametrize("name", [*MEANS, "mazziotta_pareto"])
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    child=st.integers(0, 3),
    step=st.floats(0.01, 10.0),
)
def test_monotone_in_each_child(name: str, seed: int, child: int, step: float) -> None:
    # Values within 100 ± 15 so that the MPI is monotone too (see its Notes).
    rng = np.random.default_rng(seed)
    k = _cols(name, 4)
    child = min(child, k - 1)
    X = rng.uniform(85.0, 105.0, size=(5, k))
    w = rng.dirichlet(np.ones(k))
    f = aggregators.get(name)
    before = f(X, w, **METHOD_PARAMS[name])
    X2 = X.copy()
    X2[:, child] += step
    after = f(X2, w, **METHOD_PARAMS[name])
    assert np.all(after >= before - 1e-9 * np.abs(before))


@pytest.mark.parametrize("name", MEANS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_means_stay_within_the_children_range(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = _cols(name, 4)
    X = rng.uniform(1.0, 100.0, size=(6, k))
    X[rng.random(X.shape) < 0.2] = np.nan
    out = aggregators.get(name)(X, rng.dirichlet(np.ones(k)), **METHOD_PARAMS[name])
    ok = ~np.isnan(out)
    assert np.array_equal(ok, ~np.isnan(X).all(axis=1))
    assert np.all(out[ok] >= np.nanmin(X[ok], axis=1) - 1e-9)
    assert np.all(out[ok] <= np.nanmax(X[ok], axis=1) + 1e-9)


@pytest.mark.parametrize("name", aggregators.names())
@pytest.mark.parametrize("per_replicate_weights", [False, True])
def test_broadcasting_over_replicates(name: str, per_replicate_weights: bool) -> None:
    rng = np.random.default_rng(11)
    n_replicates, n_rows, n_children = 4, 7, _cols(name, 3)
    X = rng.uniform(80.0, 120.0, size=(n_replicates, n_rows, n_children))
    X[rng.random(X.shape) < 0.1] = np.nan
    if per_replicate_weights:
        w = rng.dirichlet(np.ones(n_children), size=n_replicates)[:, None, :]
    else:
        w = rng.dirichlet(np.ones(n_children))
    X_before, w_before = X.copy(), w.copy()
    f = aggregators.get(name)
    stacked = f(X, w, **METHOD_PARAMS[name])
    assert stacked.shape == (n_replicates, n_rows)
    for r in range(n_replicates):
        w_r = w[r, 0] if per_replicate_weights else w
        np.testing.assert_allclose(stacked[r], f(X[r], w_r, **METHOD_PARAMS[name]), rtol=1e-12)
    # Inputs are never modified.
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(w, w_before)


@pytest.mark.parametrize("name", [m.name for m in aggregators if m.rowwise])
def test_per_row_weights(name: str) -> None:
    # Per-row weights (benefit of the doubt) equal one call per row.
    rng = np.random.default_rng(2)
    k = _cols(name, 3)
    X = rng.uniform(80.0, 120.0, size=(5, k))
    w = rng.dirichlet(np.ones(k), size=5)
    f = aggregators.get(name)
    out = f(X, w, **METHOD_PARAMS[name])
    for j in range(5):
        assert out[j] == pytest.approx(f(X[j : j + 1], w[j], **METHOD_PARAMS[name])[0])


def test_copeland_groups_broadcast_over_replicates() -> None:
    rng = np.random.default_rng(8)
    X = rng.integers(0, 3, size=(3, 6, 2)).astype(float)
    groups = np.array([0, 0, 1, 1, 1, 0])
    stacked = copeland(X, None, groups=groups, max_elements=5)
    for r in range(3):
        np.testing.assert_array_equal(stacked[r], copeland(X[r], None, groups=groups))
