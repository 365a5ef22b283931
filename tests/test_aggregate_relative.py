"""Tests of securindex.methods.aggregate_relative: the Wrocław taxonomy and factor-score
composites — by hand, against Compind 3.4's ``ci_wroclaw`` algorithm transliterated from its
R source, and against an independent principal-component computation."""

from __future__ import annotations

import numpy as np
import pytest

from securindex.errors import DataError, SpecError
from securindex.methods.aggregate import aggregators
from securindex.methods.weight import varimax

RNG = np.random.default_rng(9)
X = RNG.normal(size=(15, 4)) @ np.array(
    [[1, 0.6, 0.2, 0.1], [0, 1, 0.3, 0.2], [0, 0, 1, 0.5], [0, 0, 0, 1]]
)


def _compind_wroclaw(x: np.ndarray) -> np.ndarray:
    """ci_wroclaw (Compind 3.4): distance to the column maxima, over mean + 2 sd (R's var)."""
    d = np.sqrt(((x - x.max(axis=0)) ** 2).sum(axis=1))
    return d / (d.mean() + 2 * d.std(ddof=1))


def test_wroclaw_is_one_minus_compinds_distance_ratio() -> None:
    out = aggregators.get("wroclaw")(X, None)
    np.testing.assert_allclose(out, 1 - _compind_wroclaw(X), rtol=1e-12)


def test_wroclaw_compares_rows_within_each_period_and_over_replicates() -> None:
    groups = np.repeat([0, 1, 2], 5)
    out = aggregators.get("wroclaw")(X, None, groups=groups)
    for g in range(3):
        rows = groups == g
        np.testing.assert_allclose(out[rows], 1 - _compind_wroclaw(X[rows]), rtol=1e-12)
    stacked = aggregators.get("wroclaw")(np.stack([X, 2 * X]), None, groups=groups)
    np.testing.assert_allclose(stacked[0], out, rtol=1e-12)


def _principal(x: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Regression component scores by SVD of the standardised data (psych::principal's
    definition: loadings V sqrt(lambda), scores Z R^-1 L), varimax for q > 1."""
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    _u, sing, vt = np.linalg.svd(z / np.sqrt(len(z) - 1), full_matrices=False)
    loadings = vt[:q].T * sing[:q]
    if q > 1:
        loadings, _ = varimax(loadings)
    loadings = loadings * np.where(loadings.sum(axis=0) < 0, -1, 1)
    corr = np.corrcoef(x, rowvar=False)
    return z @ np.linalg.solve(corr, loadings), loadings


def test_factor_scores_one_component() -> None:
    out = aggregators.get("factor_scores")(X, None)
    scores, loadings = _principal(X, 1)
    np.testing.assert_allclose(out, scores[:, 0], rtol=1e-10)
    assert out.std(ddof=1) == pytest.approx(1.0) and abs(out.mean()) < 1e-12
    assert loadings.sum() > 0  # a composite that rises with its children


def test_factor_scores_of_rotated_components_weighted_by_their_variance() -> None:
    out = aggregators.get("factor_scores")(X, None, components="all")
    scores, loadings = _principal(X, 4)
    share = (loadings**2).sum(axis=0) / 4
    np.testing.assert_allclose(out, scores @ share, rtol=1e-8)
    # rotated regression scores stay uncorrelated with unit variance
    np.testing.assert_allclose(np.corrcoef(scores, rowvar=False), np.eye(4), atol=1e-8)


def test_factor_scores_refuse_bad_input() -> None:
    with pytest.raises(SpecError, match="components"):
        aggregators.get("factor_scores")(X, None, components=9)
    with pytest.raises(DataError, match="constant"):
        aggregators.get("factor_scores")(np.c_[X[:, :2], np.ones(15)], None)
