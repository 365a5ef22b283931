"""Tests of securindex.methods.frontier: directional, robust (order-m) and undesirable-
output benefit of the doubt — by hand, against the plain benefit of the doubt, and against
independent free-disposal-hull computations."""

from __future__ import annotations

import numpy as np
import pytest

from securindex.dataset import Panel
from securindex.errors import SpecError
from securindex.framework import Framework
from securindex.methods.weight import weighters

RNG = np.random.default_rng(3)
X = RNG.uniform(0.1, 1.0, size=(20, 3))


def test_directional_with_the_observed_direction_is_the_benefit_of_the_doubt() -> None:
    ours = weighters.get("bod_directional")(X, direction_vector="observed").info["scores"]
    plain = weighters.get("benefit_of_doubt")(X).info["scores"]
    np.testing.assert_allclose(ours, plain, rtol=1e-9)


def test_directional_along_ones_by_hand() -> None:
    x = np.array([[1.0, 0.2], [0.2, 1.0], [0.5, 0.5]])
    r = weighters.get("bod_directional")(x)
    # the midpoint of the two frontier rows is (0.6, 0.6): beta = 0.1 for (0.5, 0.5)
    np.testing.assert_allclose(r.info["beta"], [0.0, 0.0, 0.1], atol=1e-12)
    np.testing.assert_allclose(r.values.sum(axis=1), 1.0)
    with pytest.raises(SpecError, match="direction_vector"):
        weighters.get("bod_directional")(x, direction_vector=[1.0])


def test_order_m_tends_to_the_free_disposal_hull() -> None:
    # FDH output efficiency: max over peers of min_j y_kj / y_oj
    ratio = np.min(X[None, :, :] / X[:, None, :], axis=2)
    fdh = 1.0 / ratio.max(axis=1)
    r = weighters.get("bod_order_m")(X, m=400, draws=20, seed=1)
    np.testing.assert_allclose(r.info["scores"], fdh, rtol=1e-12)


def test_order_m_is_the_expected_best_of_m_draws() -> None:
    r = weighters.get("bod_order_m")(X, m=3, draws=50, seed=7)
    rng = np.random.default_rng(7)  # the same draws, row by row
    expected = []
    for o in range(len(X)):
        ratio = np.min(X / X[o], axis=1)
        sample = rng.integers(0, len(X), size=(50, 3))
        expected.append(np.mean(ratio[sample].max(axis=1)))
    np.testing.assert_allclose(r.info["theta"], expected, rtol=1e-12)
    assert (r.info["scores"] > 1).any()  # rows better than most samples: super-efficient
    again = weighters.get("bod_order_m")(X, m=3, draws=50, seed=7)
    np.testing.assert_array_equal(again.info["scores"], r.info["scores"])  # one seed, one result


def test_undesirable_by_hand_and_its_refusals() -> None:
    x = np.array([[4.0, 1.0], [2.0, 1.0], [4.0, 2.0]])  # (good, bad)
    r = weighters.get("bod_undesirable")(x, undesirable=["bad"], labels=["good", "bad"])
    # (2, 1): expand the good and contract the bad by 1/3 reaches (4, 1)'s ray: beta = 1/3
    np.testing.assert_allclose(r.info["beta"], [0.0, 1 / 3, 1 / 3], atol=1e-12)
    with pytest.raises(SpecError, match="at least one and not all"):
        weighters.get("bod_undesirable")(x, undesirable=["good", "bad"], labels=["good", "bad"])


def test_a_frontier_node_with_undesirable_children_in_a_framework() -> None:
    frame = np.c_[X[:, :2], RNG.uniform(0.1, 1.0, 20)]
    import pandas as pd

    data = pd.DataFrame(frame, columns=["jobs", "income", "emissions"])
    data["entity"] = [f"e{i}" for i in range(20)]
    data["period"] = 2020
    panel = Panel.from_frame(
        data,
        dictionary={
            "entity": "entity",
            "period": "period",
            "variables": {c: {"unit": "dimensionless"} for c in ["jobs", "income", "emissions"]},
        },
    )
    fw = Framework.from_spec(
        {
            "id": "green",
            "columns": {"jobs": "positive", "income": "positive", "emissions": "negative"},
            "pipeline": {"normalise": {"method": "none"}},
            "root": {
                "children": ["jobs", "income", "emissions"],
                "weighting": {"method": "bod_undesirable", "undesirable": ["emissions"]},
            },
        }
    )
    result = fw.compute(panel)
    direct = weighters.get("bod_undesirable")(
        frame, undesirable=["emissions"], labels=["jobs", "income", "emissions"]
    )
    np.testing.assert_allclose(result.index.to_numpy(), 100 * direct.info["scores"], rtol=1e-12)


def test_undesirable_children_must_be_positive() -> None:
    from securindex.errors import DataError

    x = np.array([[4.0, 1.0], [2.0, 0.0]])
    with pytest.raises(DataError, match="no undesirable output at all"):
        weighters.get("bod_undesirable")(x, undesirable=["bad"], labels=["good", "bad"])
