"""Tests of securindex.methods.weight: hand computations, published values and contracts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.errors import DataError, SpecError
from securindex.methods.weight import (
    RANDOM_INDEX,
    Weights,
    ahp,
    benefit_of_doubt,
    budget_allocation,
    equal,
    explicit,
    overall_weights,
    pca_loadings,
    pca_rotated,
    variance_shares,
    varimax,
    weighters,
)

# Technology Achievement Index: the OECD/JRC Handbook's worked example (2008, Part II,
# section 6.1; 23 countries x 8 indicators: patents, royalties, internet, tech exports,
# telephones (log), electricity (log), schooling, university), Finland to Slovenia.
TAI = np.array(
    [
        [187, 125.6, 200.2, 50.7, 3.08, 4.15, 10.0, 27.4],
        [289, 130.0, 179.1, 66.2, 3.00, 4.07, 12.0, 13.9],
        [271, 156.6, 125.8, 59.7, 3.10, 4.14, 11.4, 15.3],
        [994, 64.6, 49.0, 80.8, 3.00, 3.86, 9.5, 10.0],
        [779, 9.8, 4.8, 66.7, 2.97, 3.65, 10.8, 23.2],
        [189, 151.2, 136.0, 50.9, 3.02, 3.77, 9.4, 9.5],
        [82, 134.0, 57.4, 61.9, 3.02, 3.73, 9.4, 14.9],
        [31, 38.6, 108.0, 48.7, 2.94, 4.18, 11.6, 14.2],
        [75, 18.2, 125.9, 16.2, 2.94, 3.94, 10.9, 25.3],
        [8, 25.5, 72.3, 74.9, 2.95, 3.83, 7.1, 24.2],
        [235, 36.8, 41.2, 64.2, 2.94, 3.75, 10.2, 14.4],
        [103, 20.2, 193.6, 19.0, 3.12, 4.39, 11.9, 11.2],
        [106, 110.3, 48.6, 53.6, 2.97, 3.68, 9.4, 12.3],
        [72, 73.9, 58.9, 47.6, 2.91, 3.86, 9.3, 13.6],
        [103, 13.0, 146.7, 15.4, 2.86, 3.91, 11.7, 13.1],
        [165, 14.8, 84.2, 50.3, 2.99, 3.79, 8.4, 13.6],
        [205, 33.6, 36.4, 58.9, 2.97, 3.80, 7.9, 12.6],
        [74, 43.6, 43.2, 45.0, 2.96, 3.74, 9.6, 11.0],
        [42, 8.6, 21.0, 53.4, 2.86, 3.62, 7.3, 15.6],
        [13, 9.8, 30.4, 51.0, 3.00, 3.65, 7.2, 13.0],
        [28, 4.2, 25.0, 51.7, 2.75, 3.68, 9.5, 8.2],
        [26, 6.2, 21.6, 63.5, 2.73, 3.46, 9.1, 7.7],
        [105, 4.0, 20.3, 49.5, 2.84, 3.71, 7.1, 10.6],
    ]
)


def _with_correlation(R: np.ndarray, n_rows: int = 40, seed: int = 0) -> np.ndarray:
    """Data whose sample correlation matrix is exactly R (whitened noise times chol(R)')."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n_rows, R.shape[0]))
    Z -= Z.mean(axis=0)
    Q, _ = np.linalg.qr(Z)  # orthonormal, centred columns: identity correlation
    return 50.0 + 10.0 * Q @ np.linalg.cholesky(R).T


# --------------------------------------------------------------------------------------
# explicit, equal, budget allocation
# --------------------------------------------------------------------------------------


def test_explicit_normalises_nominal_weights() -> None:
    w = explicit(np.zeros((2, 3)), nominal=np.array([40.0, 40.0, 20.0]))
    np.testing.assert_allclose(w.values, [0.4, 0.4, 0.2])
    np.testing.assert_array_equal(w.info["nominal"], [40.0, 40.0, 20.0])


@pytest.mark.parametrize(
    ("nominal", "message"),
    [
        (None, "nominal weights"),
        ([1.0, -1.0, 1.0], "negative"),
        ([0.0, 0.0, 0.0], "all zero"),
        ([1.0, 1.0], r"shape \(3,\)"),
        ([1.0, np.nan, 1.0], "NaN"),
    ],
)
def test_explicit_validation(nominal: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        explicit(np.zeros((2, 3)), nominal=nominal)


def test_equal() -> None:
    np.testing.assert_allclose(equal(np.zeros((5, 4))).values, [0.25] * 4)


def test_budget_allocation_by_hand() -> None:
    # Shares per expert: (0.5, 0.3, 0.2), (0.4, 0.4, 0.2), (0.3, 0.3, 0.4);
    # means: (1.2/3, 1.0/3, 0.8/3) = (0.4, 0.3333, 0.2667).
    allocations = [[50, 30, 20], [40, 40, 20], [30, 30, 40]]
    w = budget_allocation(np.zeros((1, 3)), allocations=allocations, budget=100)
    np.testing.assert_allclose(w.values, [0.4, 1 / 3, 0.8 / 3])
    assert w.info["n_experts"] == 3
    # Between-expert sd of the first weight: sd(0.5, 0.4, 0.3) = 0.1.
    assert w.info["sd"][0] == pytest.approx(0.1)


def test_budget_allocation_normalises_each_expert_first() -> None:
    # Expert totals differ (10 vs 100): each expert counts equally.
    w = budget_allocation(np.zeros((1, 2)), allocations=[[10, 0], [0, 100]])
    np.testing.assert_allclose(w.values, [0.5, 0.5])


def test_budget_allocation_validation() -> None:
    with pytest.raises(SpecError, match=r"experts \[1\] spend \[90.0\] points"):
        budget_allocation(np.zeros((1, 2)), allocations=[[50, 50], [45, 45]], budget=100)
    with pytest.raises(SpecError, match="negative"):
        budget_allocation(np.zeros((1, 2)), allocations=[[50, -50]])
    with pytest.raises(SpecError, match=r"shape \(n_experts, 3\)"):
        budget_allocation(np.zeros((1, 3)), allocations=[[50, 50]])


# --------------------------------------------------------------------------------------
# AHP
# --------------------------------------------------------------------------------------

SAATY = np.array([[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]])


def test_ahp_saaty_textbook_example() -> None:
    # Published: weights ~ (0.637, 0.258, 0.105), CR ~ 0.033.
    w = ahp(np.zeros((1, 3)), pairwise=SAATY)
    np.testing.assert_allclose(w.values, [0.637, 0.258, 0.105], atol=5e-4)
    assert w.info["consistency_ratio"] == pytest.approx(0.033, abs=5e-4)
    # Our own computation, independent of numpy's eig: power iteration for the principal
    # eigenvector, lambda_max = mean of (A w)_i / w_i, CI = (lambda - 3)/2, CR = CI/0.58.
    v = np.ones(3)
    for _ in range(200):
        v = SAATY @ v
        v /= v.sum()
    lambda_max = float(np.mean(SAATY @ v / v))
    np.testing.assert_allclose(w.values, v, rtol=1e-10)
    assert w.info["lambda_max"] == pytest.approx(lambda_max, rel=1e-10)
    assert w.info["consistency_index"] == pytest.approx((lambda_max - 3) / 2, rel=1e-8)
    assert w.info["consistency_ratio"] == pytest.approx((lambda_max - 3) / 2 / 0.58, rel=1e-8)


def test_ahp_consistent_matrix_recovers_the_weights() -> None:
    target = np.array([0.1, 0.2, 0.3, 0.4])
    w = ahp(np.zeros((1, 4)), pairwise=target[:, None] / target[None, :])
    np.testing.assert_allclose(w.values, target, rtol=1e-10)
    assert w.info["consistency_ratio"] == pytest.approx(0.0, abs=1e-10)


def test_ahp_accepts_rounded_reciprocals() -> None:
    rounded = [[1, 3, 5], [0.33, 1, 3], [0.2, 0.33, 1]]
    w = ahp(np.zeros((1, 3)), pairwise=rounded)
    np.testing.assert_allclose(w.values, [0.637, 0.258, 0.105], atol=2e-3)


def test_ahp_inconsistent_judgements_name_the_pairs() -> None:
    # a > b (9), b > c (9) but c > a (9): a cycle, maximally inconsistent.
    cyclic = [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]
    with pytest.raises(SpecError, match=r"CR = \d+\.\d+ > 0.1.*'crime' vs 'social'") as error:
        ahp(np.zeros((1, 3)), pairwise=cyclic, labels=["crime", "social", "environment"])
    assert "Revisit first" in str(error.value)


def test_ahp_rejects_non_reciprocal_matrix() -> None:
    bad = [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 3, 1]]
    with pytest.raises(SpecError, match=r"a\[1\]\[2\] = 3 but a\[2\]\[1\] = 3, expected 0.333"):
        ahp(np.zeros((1, 3)), pairwise=bad)


def test_ahp_size_limits() -> None:
    w = ahp(np.zeros((1, 2)), pairwise=[[1, 4], [0.25, 1]])
    np.testing.assert_allclose(w.values, [0.8, 0.2])
    assert w.info["consistency_ratio"] == 0.0
    with pytest.raises(SpecError, match="sub-nodes"):
        ahp(np.zeros((1, 11)), pairwise=np.ones((11, 11)))
    with pytest.raises(SpecError, match="shape"):
        ahp(np.zeros((1, 3)), pairwise=np.ones((2, 2)))


def test_random_index_table() -> None:
    assert [RANDOM_INDEX[n] for n in range(1, 11)] == [
        0.0,
        0.0,
        0.58,
        0.90,
        1.12,
        1.24,
        1.32,
        1.41,
        1.45,
        1.49,
    ]


# --------------------------------------------------------------------------------------
# PCA loadings (COINr's variant)
# --------------------------------------------------------------------------------------


def test_pca_loadings_on_a_known_correlation_matrix() -> None:
    # R = [[1, r, 0], [r, 1, 0], [0, 0, 1]]: eigenvalues 1 + r, 1, 1 - r; the first
    # eigenvector is (1, 1, 0)/sqrt(2), so the weights are (0.5, 0.5, 0).
    r = 0.6
    R = np.array([[1, r, 0], [r, 1, 0], [0, 0, 1.0]])
    w = pca_loadings(_with_correlation(R))
    np.testing.assert_allclose(w.values, [0.5, 0.5, 0.0], atol=1e-10)
    np.testing.assert_allclose(w.info["eigenvalues"], [1 + r, 1, 1 - r], atol=1e-10)
    np.testing.assert_allclose(w.info["explained_variance"], [(1 + r) / 3, 1 / 3, (1 - r) / 3])
    # Loadings = correlations with the component: sqrt((1 + r)/2) = sqrt(0.8).
    np.testing.assert_allclose(np.abs(w.info["loadings"][:2]), np.sqrt(0.8), atol=1e-10)


def test_pca_loadings_unequal_correlations() -> None:
    # R with r12 = 0.8, r13 = r23 = 0.4: v1 = (a, a, b) with the largest eigenvalue
    # lambda = 1 + (0.8 + sqrt(0.8^2 + 8 * 0.4^2)) / 2 and b/a = 2 * 0.4 / (lambda - 1).
    R = np.array([[1, 0.8, 0.4], [0.8, 1, 0.4], [0.4, 0.4, 1.0]])
    lam = 1 + (0.8 + np.sqrt(0.8**2 + 8 * 0.4**2)) / 2
    ratio = 2 * 0.4 / (lam - 1)
    expected = np.array([1, 1, ratio]) / (2 + ratio)
    w = pca_loadings(_with_correlation(R))
    np.testing.assert_allclose(w.values, expected, rtol=1e-10)
    assert w.info["eigenvalues"][0] == pytest.approx(lam)


def test_pca_loadings_drops_incomplete_rows_and_is_scale_free() -> None:
    R = np.array([[1, 0.5, 0.3], [0.5, 1, 0.2], [0.3, 0.2, 1.0]])
    X = _with_correlation(R)
    base = pca_loadings(X).values
    rescaled = pca_loadings(X * np.array([1.0, 1000.0, 0.01])).values
    np.testing.assert_allclose(rescaled, base, rtol=1e-10)
    X_missing = np.vstack([X, [[np.nan, 1.0, 2.0]]])
    w = pca_loadings(X_missing)
    assert w.info["n_complete_rows"] == X.shape[0]
    np.testing.assert_allclose(w.values, base, rtol=1e-10)


def test_pca_loadings_warns_on_negative_loadings() -> None:
    R = np.array([[1, 0.7, -0.5], [0.7, 1, -0.5], [-0.5, -0.5, 1.0]])
    with pytest.warns(UserWarning, match=r"children \[2\] load negatively"):
        w = pca_loadings(_with_correlation(R))
    assert np.all(w.values > 0)
    np.testing.assert_array_equal(w.info["negative"], [2])


def test_pca_needs_enough_complete_rows_and_variance() -> None:
    with pytest.raises(DataError, match="complete rows"):
        pca_loadings(np.array([[1.0, 2.0, 3.0], [2.0, np.nan, 1.0], [3.0, 1.0, 2.0]]))
    X = np.column_stack([np.arange(6.0), np.ones(6), np.arange(6.0) ** 2])
    with pytest.raises(DataError, match=r"children \[1\] are constant"):
        pca_loadings(X)


# --------------------------------------------------------------------------------------
# Varimax and the Handbook's rotated-factor weights
# --------------------------------------------------------------------------------------


def _varimax_criterion(L: np.ndarray) -> float:
    h = np.sqrt((L**2).sum(axis=1, keepdims=True))
    A = L / h
    return float(np.sum((A**2).var(axis=0)))


def test_varimax_recovers_a_rotated_simple_structure() -> None:
    simple = np.array([[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.0, 0.85], [0.6, 0.0]])
    angle = 0.6
    T0 = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated, T = varimax(simple @ T0)
    np.testing.assert_allclose(T @ T.T, np.eye(2), atol=1e-12)
    # Recovered up to the order and sign of the factors.
    recovered = np.abs(rotated)
    if recovered[0, 0] < recovered[0, 1]:
        recovered = recovered[:, ::-1]
    np.testing.assert_allclose(recovered, simple, atol=1e-8)


def test_varimax_increases_the_criterion_and_keeps_communalities() -> None:
    rng = np.random.default_rng(4)
    L = rng.uniform(-1, 1, size=(8, 3)) * 0.6
    rotated, _ = varimax(L)
    np.testing.assert_allclose((rotated**2).sum(axis=1), (L**2).sum(axis=1), rtol=1e-10)
    assert _varimax_criterion(rotated) >= _varimax_criterion(L) - 1e-12


def test_pca_rotated_two_blocks_by_hand() -> None:
    # Two uncorrelated pairs with within-pair correlations 0.8 and 0.4: eigenvalues 1.8,
    # 1.4, 0.6, 0.2, so two factors (eigenvalue > 1), already simple: loadings sqrt(0.9)
    # on factor A and sqrt(0.7) on factor B. Explained variance 1.8 and 1.4 -> factor
    # weights 1.8/3.2 and 1.4/3.2; scaled squared loadings 0.5 each, so
    # w = (0.5 * 0.5625, 0.5 * 0.5625, 0.5 * 0.4375, 0.5 * 0.4375).
    R = np.eye(4)
    R[0, 1] = R[1, 0] = 0.8
    R[2, 3] = R[3, 2] = 0.4
    w = pca_rotated(_with_correlation(R))
    assert w.info["n_factors"] == 2
    np.testing.assert_allclose(w.values, [0.28125, 0.28125, 0.21875, 0.21875], atol=1e-10)
    np.testing.assert_allclose(w.info["factor_weights"], [0.5625, 0.4375], atol=1e-10)
    np.testing.assert_array_equal(w.info["factor"], [0, 0, 1, 1])


def test_pca_rotated_reproduces_the_handbook_tai_example() -> None:
    # Handbook Table 16: eigenvalues (printed to one decimal; 3.35 is printed 3.3) and
    # variance explained [%]. The Handbook keeps four factors (each > 10 % of variance).
    w = pca_rotated(TAI, min_variance_share=0.10)
    np.testing.assert_allclose(
        w.info["eigenvalues"], [3.3, 1.7, 1.0, 0.9, 0.5, 0.3, 0.2, 0.1], atol=0.06
    )
    np.testing.assert_allclose(
        100 * w.info["explained_variance"][:4], [41.9, 21.8, 12.3, 11.1], atol=0.11
    )
    np.testing.assert_allclose(
        100 * np.cumsum(w.info["explained_variance"])[:4], [41.9, 63.7, 76.0, 87.2], atol=0.11
    )
    assert w.info["n_factors"] == 4
    np.testing.assert_array_equal(pca_rotated(TAI, n_factors=4).values, w.values)
    # The default (Kaiser rule, then 60 % cumulative) keeps two: 3.35 and 1.75, 63.8 %.
    assert pca_rotated(TAI).info["n_factors"] == 2
    # Table 17, Patents: rotated loadings 0.07, 0.97, 0.06, 0.06 (factor order and sign are
    # arbitrary); squared loading scaled to unity sum within its factor: 0.67.
    patents = np.abs(w.info["rotated_loadings"][0])
    np.testing.assert_allclose(np.sort(patents), [0.06, 0.06, 0.07, 0.97], atol=0.015)
    patents_factor = int(w.info["factor"][0])
    assert w.info["squared_loadings_scaled"][0, patents_factor] == pytest.approx(0.67, abs=0.005)
    # Royalties load 0.07 on the patents factor (Table 17, second row).
    assert abs(w.info["rotated_loadings"][1, patents_factor]) == pytest.approx(0.07, abs=0.01)
    np.testing.assert_allclose(w.values.sum(), 1.0)


def test_pca_rotated_explicit_number_of_factors() -> None:
    w = pca_rotated(TAI, n_factors=2)
    assert w.info["rotated_loadings"].shape == (8, 2)
    with pytest.raises(SpecError, match="n_factors"):
        pca_rotated(TAI, n_factors=9)


# --------------------------------------------------------------------------------------
# Benefit of the doubt
# --------------------------------------------------------------------------------------

BOD_X = np.array([[1.0, 0.2], [0.2, 1.0], [0.5, 0.5]])


def test_benefit_of_doubt_three_rows_by_hand() -> None:
    # Row 2: max 0.5 w1 + 0.5 w2 s.t. w1 + 0.2 w2 <= 1, 0.2 w1 + w2 <= 1, 0.5 w1 + 0.5 w2
    # <= 1. The first two constraints bind at w1 = w2 = 1/1.2, score 1/1.2 = 0.8333 (unique
    # vertex: the objective is parallel to neither binding constraint). Rows 0 and 1 are
    # on the frontier (score 1).
    w = benefit_of_doubt(BOD_X)
    np.testing.assert_allclose(w.info["scores"], [1.0, 1.0, 1 / 1.2], rtol=1e-9)
    np.testing.assert_allclose(w.info["multipliers"][2], [1 / 1.2, 1 / 1.2], rtol=1e-9)
    np.testing.assert_allclose(w.values[2], [0.5, 0.5], rtol=1e-9)
    np.testing.assert_allclose(w.info["shares"][2], [0.5, 0.5], rtol=1e-9)
    assert w.values.shape == BOD_X.shape
    np.testing.assert_allclose(w.values.sum(axis=1), 1.0)
    # No row can score above 1 with any row's weights.
    assert np.all(BOD_X @ w.info["multipliers"].T <= 1 + 1e-9)


def test_benefit_of_doubt_share_bounds_by_hand() -> None:
    # Row 0 with shares in [0.4, 0.6]: contributions a = w1, b = 0.2 w2, score s = a + b,
    # b = beta s, beta in [0.4, 0.6]. Row 1's constraint 0.2 w1 + w2 = s (0.2 (1 - beta)
    # + 5 beta) <= 1 binds first, loosest at beta = 0.4: s = 1 / 2.12.
    w = benefit_of_doubt(BOD_X, bounds=(0.4, 0.6))
    assert w.info["scores"][0] == pytest.approx(1 / 2.12, rel=1e-9)
    np.testing.assert_allclose(w.info["shares"][0], [0.6, 0.4], rtol=1e-9)


def test_benefit_of_doubt_frontier_per_period() -> None:
    X = np.vstack([BOD_X, BOD_X * 0.5])
    groups = np.array([0, 0, 0, 1, 1, 1])
    per_period = benefit_of_doubt(X, groups=groups).info["scores"]
    np.testing.assert_allclose(per_period[3:], per_period[:3], rtol=1e-9)
    pooled = benefit_of_doubt(X).info["scores"]
    np.testing.assert_allclose(pooled[3:], 0.5 * pooled[:3], rtol=1e-9)


def test_benefit_of_doubt_missing_child() -> None:
    # Row 0 has only child 0, compared with rows where child 0 is present:
    # max w1 s.t. w1 <= 1, 0.5 w1 <= 1, 0.25 w1 <= 1 -> score 1, all weight on child 0.
    X = np.array([[1.0, np.nan], [0.5, 1.0], [0.25, 0.2], [np.nan, np.nan]])
    w = benefit_of_doubt(X)
    assert w.info["scores"][0] == pytest.approx(1.0)
    np.testing.assert_allclose(w.values[0], [1.0, 0.0])
    assert np.isnan(w.info["scores"][3])
    np.testing.assert_allclose(w.values.sum(axis=1), 1.0)


def test_benefit_of_doubt_validation() -> None:
    with pytest.raises(DataError, match="negative"):
        benefit_of_doubt(np.array([[1.0, -0.1], [0.5, 0.5]]))
    with pytest.raises(SpecError, match="cannot be met"):
        benefit_of_doubt(BOD_X, bounds=[(0.6, 1.0), (0.6, 1.0)])


# --------------------------------------------------------------------------------------
# Contract: every weighter gives non-negative weights summing to 1
# --------------------------------------------------------------------------------------


def _params(name: str, n_children: int, rng: np.random.Generator) -> dict[str, Any]:
    if "nominal" in weighters.get(name).requires:  # explicit, none
        return {"nominal": rng.uniform(0.1, 5.0, n_children)}
    if name == "budget_allocation":
        return {"allocations": rng.integers(0, 20, size=(3, n_children)) + 1}
    if name == "ahp":
        target = rng.uniform(0.5, 2.0, n_children)
        return {"pairwise": target[:, None] / target[None, :]}
    if name == "benefit_of_doubt":
        return {"bounds": (0.05, 0.9)} if rng.random() < 0.5 else {}
    if name == "bod_undesirable":
        labels = [f"c{j}" for j in range(n_children)]
        return {"undesirable": labels[-1:], "labels": labels}
    return {}


CONTRACT_METHODS = [
    "explicit",
    "equal",
    "budget_allocation",
    "ahp",
    "pca_loadings",
    "pca_rotated",
    "benefit_of_doubt",
    "none",
    "bod_directional",
    "bod_order_m",
    "bod_undesirable",
]


def test_every_weighter_is_in_the_contract() -> None:
    assert set(CONTRACT_METHODS) == set(weighters.names())


@pytest.mark.filterwarnings("ignore:weight method 'pca_loadings'")
@pytest.mark.parametrize("name", CONTRACT_METHODS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_children=st.integers(2, 5))
def test_weights_are_non_negative_and_sum_to_one(name: str, seed: int, n_children: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.uniform(1.0, 100.0, size=(12, n_children))
    X_before = X.copy()
    result = weighters.get(name)(X, **_params(name, n_children, rng))
    assert isinstance(result, Weights)
    assert result.values.shape[-1] == n_children
    if np.isnan(result.values).all():  # a frontier without weights (order-m): its scores
        assert weighters.get(name).scores_node and np.isfinite(result.info["scores"]).all()
        return
    assert np.all(result.values >= 0)
    np.testing.assert_allclose(result.values.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(X, X_before)


def test_weighters_record_what_they_learn() -> None:
    for method in weighters:
        assert isinstance(method.learns, bool)
        assert isinstance(method.parameters, tuple)
    assert weighters.get("pca_rotated").learns
    assert not weighters.get("ahp").learns


# --------------------------------------------------------------------------------------
# Overall weights through the tree, variance shares
# --------------------------------------------------------------------------------------

TREE = {
    "index": ["crime", "social"],
    "crime": ["homicide", "robbery", "assault"],
    "social": ["unemployment", "poverty"],
}


def test_overall_weights_by_hand() -> None:
    # index (0.4, 0.6); crime (2, 1, 1)/4; social (1, 1)/2:
    # homicide 0.4 * 0.5 = 0.2, robbery 0.4 * 0.25 = 0.1, assault 0.1, each social 0.3.
    weights = {"index": [0.4, 0.6], "crime": [2, 1, 1], "social": [1, 1]}
    overall = overall_weights(TREE, weights)
    assert overall == pytest.approx(
        {"homicide": 0.2, "robbery": 0.1, "assault": 0.1, "unemployment": 0.3, "poverty": 0.3}
    )
    assert list(overall) == ["homicide", "robbery", "assault", "unemployment", "poverty"]
    inner = overall_weights(TREE, weights, include_inner=True)
    assert inner["index"] == 1.0
    assert inner["crime"] == pytest.approx(0.4)
    assert inner["social"] == pytest.approx(0.6)


def test_overall_weights_validation() -> None:
    with pytest.raises(SpecError, match="exactly one root"):
        overall_weights({"a": ["x"], "b": ["y"]}, {"a": [1], "b": [1]})
    # a DAG: x is reached through a (weight 1/2) and through b (1/2)
    assert overall_weights(
        {"r": ["a", "b"], "a": ["x"], "b": ["x"]}, {"r": [1, 1], "a": [1], "b": [1]}
    ) == {"x": 1.0}
    with pytest.raises(SpecError, match="cycle"):
        overall_weights({"r": ["a"], "a": ["b"], "b": ["a"]}, {"r": [1], "a": [1], "b": [1]})
    with pytest.raises(SpecError, match="root"):
        overall_weights({"a": ["b"], "b": ["a"]}, {"a": [1], "b": [1]})
    with pytest.raises(SpecError, match="3 children"):
        overall_weights(TREE, {"index": [1, 1], "crime": [1, 1], "social": [1, 1]})


def test_variance_shares_by_hand() -> None:
    # Parts w_i x_i: (0, 0.5, 1) and (0, 1, 2); y = (0, 1.5, 3). Centred cross-products:
    # cov(part 1, y) ~ 0.5*1.5 + 0.5*1.5 = 1.5; cov(part 2, y) ~ 1*1.5 + 1*1.5 = 3.
    X = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [np.nan, 1.0]])
    np.testing.assert_allclose(variance_shares(X, np.array([1.0, 1.0])), [1 / 3, 2 / 3])


def test_variance_shares_uncorrelated_children() -> None:
    # Uncorrelated children: share_i = w_i^2 var_i / sum_j w_j^2 var_j.
    Z = _with_correlation(np.eye(3)) - 50.0  # sd 10/sqrt(n)-scaled, equal variances
    X = Z * np.array([1.0, 2.0, 3.0])
    w = np.array([0.5, 0.3, 0.2])
    expected = (w * np.array([1.0, 2.0, 3.0])) ** 2
    np.testing.assert_allclose(variance_shares(X, w), expected / expected.sum(), rtol=1e-10)


def test_variance_shares_broadcast_over_replicates() -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(3, 20, 4))
    w = rng.dirichlet(np.ones(4), size=3)
    stacked = variance_shares(X, w)
    assert stacked.shape == (3, 4)
    for r in range(3):
        np.testing.assert_allclose(stacked[r], variance_shares(X[r], w[r]), rtol=1e-12)
    np.testing.assert_allclose(stacked.sum(axis=-1), 1.0)
