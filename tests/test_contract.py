"""One contract for every registered method on every engine (issue #10).

Generated from the registries: for every method of every family (and for user methods
defined here, registered through the public decorators), a framework using it is built on
generated panels (hypothesis) in memory, as the zero-noise Monte-Carlo replicate, and on
Dask with a 2-worker LocalCluster. The three agree to 1e-12 — benefit of the doubt included
in memory and under Monte Carlo — or the Dask engine refuses the method before reading any
data, saying why. A new method without an entry in :data:`PARAMS` fails
:func:`test_every_registered_method_is_in_the_contract`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securindex import Framework, Panel
from securindex.analysis.uncertainty import run_uncertainty
from securindex.errors import SpecError
from securindex.framework import FAMILIES
from securindex.methods._statistics import Sample
from securindex.methods.aggregate import register_aggregator
from securindex.methods.normalise import register_normaliser
from securindex.methods.treat import register_treater
from securindex.plan import rank_within_periods

TOL = 1e-12

# The parameters each method needs in the contract framework: pipeline keys of its step.
# Weighting and aggregation apply at node "p1" (three children).
PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "screen": {"none": {}, "availability": {"min_share": 0.5}},
    "impute": {
        "none": {},
        "mean": {"group": "region"},
        "median": {"within_period": True},
        "locf": {},
        "nocb": {},
        "locf_nocb": {},
        "linear": {"ends": "constant"},
    },
    "treat": {
        "none": {},
        "log": {"transform": "log_CT"},
        "boxcox": {"lmbda": 0.5},
        "winsorise": {"winmax": 3},
    },
    "normalise": {
        "minmax": {"lo": 1, "hi": 100},
        "zscore": {"mean": 50, "sd": 10, "reference": "per_period"},
        "goalposts": {"lo": 0.0, "hi": 20.0, "scale": 100},
        "rank": {"reference": "base", "base_period": 2021},
        "percentile_rank": {},
        "borda": {},
        "distance_to_target": {"target": 5.0},
        "distance_to_reference": {
            "reference_entity": "e00",
            "reference": "base",
            "base_period": 2020,
        },
        "distance_to_leader": {},
        "fraction_of_max": {},
        "ratio_to_mean": {},
        "banding": {"thresholds": [0.5, 1.0, 2.0]},
        "none": {},
        "ampi": {},
    },
    "weight": {
        "explicit": {},
        "equal": {},
        "budget_allocation": {"allocations": [[40, 40, 20], [20, 50, 30]]},
        "ahp": {"pairwise": [[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 1 / 2, 1]]},
        "pca_loadings": {},
        "pca_rotated": {"n_factors": 1},
        "benefit_of_doubt": {},
        "none": {},
        "bod_directional": {},
        "bod_order_m": {"m": 5, "draws": 20},
        "bod_undesirable": {"undesirable": ["c"]},
    },
    "aggregate": {
        "arithmetic": {},
        "geometric": {},
        "harmonic": {},
        "generalised": {"p": 0.5},
        "mazziotta_pareto": {},
        "copeland": {},
        "minimum": {},
        "median": {},
        "none": {},
        "mean_min": {"alpha": 0.5},
        "owa": {"j": 2},
        "wroclaw": {},
        "factor_scores": {"components": "all"},
    },
}

# -- user methods, registered as a user would (the docs' forms) ------------------------------


def _percent_learn(reference: np.ndarray, /) -> dict[str, np.ndarray]:
    return {"mean": np.nanmean(reference, axis=0)}


def _cap_learn(reference: np.ndarray, /, *, q: float = 0.95) -> dict[str, np.ndarray]:
    return {"cap": np.nanquantile(reference, q, axis=0)}


def _register_user_methods() -> None:
    @register_normaliser("contract_percent", learns=True, learn=_percent_learn, columnwise=True)
    def contract_percent(x: Any, /, *, learnt: Any, direction: Any) -> Any:
        """Percent of the reference mean (its inverse for negative polarity)."""
        ratio = x / learnt["mean"]
        return 100.0 * np.where(np.asarray(direction) > 0, ratio, 1.0 / ratio)

    @register_treater("contract_sqrt", columnwise=True)
    def contract_sqrt(x: Any, /) -> Any:
        """Square root of every value: learns nothing, runs on any block."""
        return np.sqrt(x)

    @register_treater(
        "contract_cap", columnwise=True, learns=True, learn=_cap_learn, statistic=Sample()
    )
    def contract_cap(x: Any, /, *, learnt: Any, q: float = 0.95) -> Any:
        """Values above the reference's q-quantile set to it."""
        return np.where(np.isnan(x), x, np.minimum(x, learnt["cap"]))

    @register_aggregator("contract_weakest_two", compensatory=False, compensability="none")
    def contract_weakest_two(X: Any, w: Any, /) -> Any:
        """Mean of each row's two lowest children (NaN sort last)."""
        ordered = np.sort(X, axis=-1)
        return np.nanmean(ordered[..., :2], axis=-1)


USER: dict[str, dict[str, dict[str, Any]]] = {
    "normalise": {"contract_percent": {}},
    "treat": {"contract_sqrt": {}, "contract_cap": {"q": 0.9}},
    "aggregate": {"contract_weakest_two": {}},
}


@pytest.fixture(scope="module", autouse=True)
def user_methods() -> Iterator[None]:
    _register_user_methods()
    yield
    for family, methods in USER.items():
        for name in methods:
            FAMILIES[family].unregister(name)


def test_every_registered_method_is_in_the_contract() -> None:
    for family, registry in FAMILIES.items():
        names = set(registry.names()) - set(USER.get(family, {}))
        assert names == set(PARAMS[family]), family


CASES = [
    (family, name, params)
    for table in (PARAMS, USER)
    for family, methods in table.items()
    for name, params in methods.items()
]


# -- the framework and panels ------------------------------------------------------------------


def _framework(family: str, method: str, params: dict[str, Any]) -> Framework:
    step = {"method": method, **params}
    entry = FAMILIES[family].get(method)
    pipeline: dict[str, Any] = {"normalise": {"method": "minmax", "lo": 1, "hi": 100}}
    p1: dict[str, Any] = {"id": "p1", "weight": 2, "children": ["a", "b", "c"]}
    if family in ("weight", "aggregate"):
        p1["weighting" if family == "weight" else "aggregate"] = step
    else:
        pipeline[family] = step
    if family == "normalise":
        pipeline["aggregate"] = {"method": "arithmetic"}
    if family == "aggregate" and entry.max_children == 1:  # the identity: one child
        p1["children"] = ["a"]
    # values kept as they are (normalise: none) need one direction under a mean
    kept = family == "normalise" and not entry.applies_direction
    negative = "positive" if kept else "negative"
    return Framework.from_spec(
        {
            "id": "idx",
            "columns": {
                "a": "positive",
                "b": {"polarity": negative, "weight": 2},
                "c": "positive",
                "d": "positive",
                "e": negative,
            },
            "pipeline": pipeline,
            "root": {"aggregate": {"method": "arithmetic"}},
            "structure": [p1, {"id": "p2", "children": ["d", "e"]}],
        }
    )


def _panel(seed: int, n_entities: int = 16) -> Panel:
    rng = np.random.default_rng(seed)
    periods = (2020, 2021, 2022)
    rows = n_entities * len(periods)
    values = rng.lognormal(0.0, 0.5, size=(rows, 5)) + 0.1
    values[rng.random(values.shape) < 0.003] *= 40.0  # a heavy tail now and then
    gaps = rng.random(values.shape) < 0.08
    gaps[: len(periods)] = False  # e00, the reference entity, is complete
    values[gaps] = np.nan
    frame = pd.DataFrame(values, columns=list("abcde"))
    frame["entity"] = np.repeat([f"e{i:02d}" for i in range(n_entities)], len(periods))
    frame["period"] = np.tile(periods, n_entities)
    frame["region"] = np.repeat(rng.choice(["north", "south"], n_entities), len(periods))
    dictionary = {
        "entity": "entity",
        "period": "period",
        "groups": ["region"],
        "variables": {k: {"unit": "dimensionless"} for k in "abcde"},
    }
    return Panel.from_frame(frame, dictionary=dictionary)


def _root(table: pd.DataFrame) -> np.ndarray:
    ordered = table.sort_values(["entity", "period"], key=lambda s: s.astype(str))
    return ordered["idx"].to_numpy(dtype=np.float64, na_value=np.nan)


# -- in memory == the zero-noise Monte-Carlo replicate --------------------------------------------


@pytest.mark.parametrize(
    ("family", "method", "params"), CASES, ids=[f"{f}-{m}" for f, m, _ in CASES]
)
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**16))
def test_memory_equals_the_zero_noise_monte_carlo_replicate(
    family: str, method: str, params: dict[str, Any], seed: int
) -> None:
    framework = _framework(family, method, params)
    nominal = framework.compute(_panel(seed))
    expected = nominal.scores["idx"].to_numpy()
    # zero input noise: every replicate re-imputes, re-treats, re-normalises and re-scores
    spec = {
        "inputs": [{"indicators": "all", "sd": 0.0}],
        "weights": {"noise": 0.0, "nodes": ["p2", "idx"]},
    }
    result = run_uncertainty(nominal, spec, n_replicates=2, seed=seed, chunk_size=2)
    assert result.scores is not None
    np.testing.assert_allclose(
        result.scores.to_numpy(), np.tile(expected, (2, 1)), rtol=TOL, atol=TOL, equal_nan=True
    )


# -- in memory == Dask on a 2-worker LocalCluster (or a refusal with the reason) --------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "method", "params"), CASES, ids=[f"{f}-{m}" for f, m, _ in CASES]
)
@settings(
    max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**16))
def test_memory_equals_dask(
    client: Any, family: str, method: str, params: dict[str, Any], seed: int
) -> None:
    from securindex.engines.dask import compute_dask

    framework = _framework(family, method, params)
    panel = _panel(seed)
    expected = framework.compute(panel)
    try:
        result = compute_dask(framework, panel, client=client, npartitions=3)
    except SpecError as exc:
        assert "is not supported by the dask engine" in str(exc)
        entry = FAMILIES[family].get(method)
        # the refusal is the record's truth: learning weights, comparing rows, or a row
        # position in the reference sample
        assert (
            (family == "weight" and entry.learns)
            or (family == "aggregate" and not entry.rowwise)
            or "reference_entity" in params
        ), str(exc)
        return
    got = _root(result.to_pandas())
    np.testing.assert_allclose(got, _root(expected.table()), rtol=TOL, atol=TOL, equal_nan=True)
    stage = expected.normalised.reset_index().sort_values(["entity", "period"])
    mine = result.to_pandas("normalised")
    columns = list(framework.indicators)
    np.testing.assert_allclose(
        mine[columns].to_numpy(),
        stage[columns].to_numpy(),
        rtol=TOL,
        atol=TOL,
        equal_nan=True,
    )


# -- structures: node formulas, a DAG, higher_is, node steps ------------------------------------

STRUCTURES: dict[str, dict[str, Any]] = {
    "formula": {
        "root": {"formula": "round(p1 / (p2 + 1), 6) * sqrt(p1)", "range": [0, 1000]},
    },
    "dag": {
        "structure": [
            {"id": "p1", "weight": 2, "children": ["a", "b", "c"]},
            {"id": "p2", "children": ["c", "d", "e"]},  # c under two parents
        ],
    },
    "higher_is_worse": {"higher_is": "worse"},
    "flat": {"root": {"children": ["a", "b", "c", "d", "e"]}, "structure": []},
    "node_impute": {
        "structure": [
            {"id": "p1", "children": ["a", "b", "c"], "impute": {"method": "mean"}},
            {"id": "p2", "children": ["d", "e"]},
        ],
    },
    "node_normalise": {
        "structure": [
            {"id": "p1", "children": ["a", "b", "c"]},
            {"id": "p2", "children": ["d", "e"], "normalise": {"method": "minmax", "lo": 1}},
        ],
    },
    "per_period_treat": {"pipeline": {"treat": {"method": "winsorise", "per_period": True}}},
}
"""Structures every engine runs alike (or that Dask refuses, saying why)."""

_DASK_REFUSES = {"node_impute", "node_normalise", "per_period_treat"}


def _structure(name: str) -> Framework:
    spec: dict[str, Any] = {
        "id": "idx",
        "columns": {
            "a": "positive",
            "b": {"polarity": "negative", "weight": 2},
            "c": "positive",
            "d": "positive",
            "e": "negative",
        },
        "pipeline": {"normalise": {"method": "minmax", "lo": 1, "hi": 100}},
        "structure": [
            {"id": "p1", "weight": 2, "children": ["a", "b", "c"]},
            {"id": "p2", "children": ["d", "e"]},
        ],
    }
    change = STRUCTURES[name]
    spec.update({k: v for k, v in change.items() if k != "pipeline"})
    spec["pipeline"] = {**spec["pipeline"], **change.get("pipeline", {})}
    return Framework.from_spec(spec)


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_structures_in_memory_equal_the_zero_noise_monte_carlo(name: str) -> None:
    framework = _structure(name)
    nominal = framework.compute(_panel(7))
    spec = {"inputs": [{"indicators": "all", "sd": 0.0}]}
    result = run_uncertainty(nominal, spec, n_replicates=2, seed=1, chunk_size=2)
    assert result.scores is not None
    expected = nominal.scores["idx"].to_numpy()
    np.testing.assert_allclose(
        result.scores.to_numpy(), np.tile(expected, (2, 1)), rtol=TOL, atol=TOL, equal_nan=True
    )
    ranks = rank_within_periods(
        expected[:, None], nominal.raw.index.codes[1], framework.higher_is("idx") == "better"
    )
    np.testing.assert_array_equal(nominal.ranks["idx"].to_numpy(), ranks[:, 0])


@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_structures_in_memory_equal_dask(client: Any, name: str) -> None:
    from securindex.engines.dask import compute_dask

    framework = _structure(name)
    panel = _panel(11)
    expected = framework.compute(panel)
    if name in _DASK_REFUSES:
        with pytest.raises(SpecError, match="dask engine"):
            compute_dask(framework, panel, client=client, npartitions=3)
        return
    result = compute_dask(framework, panel, client=client, npartitions=3)
    table = result.to_pandas()
    np.testing.assert_allclose(
        _root(table), _root(expected.table()), rtol=TOL, atol=TOL, equal_nan=True
    )
    ordered = table.sort_values(["entity", "period"], key=lambda s: s.astype(str))
    mine = expected.table().sort_values(["entity", "period"], key=lambda s: s.astype(str))
    np.testing.assert_array_equal(
        ordered["rank_idx"].to_numpy(dtype=np.float64, na_value=np.nan),
        mine["rank_idx"].to_numpy(dtype=np.float64, na_value=np.nan),
    )
