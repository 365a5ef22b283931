"""Tests of securindex.analysis.uncertainty: the spec, the vectorised engine, its summaries.

The key check: every replicate of the vectorised engine equals the full pipeline re-run
with the same sampled choices (:func:`rebuild_replicate`), for every kind of factor.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.analysis.uncertainty import (
    ReplicateEngine,
    UncertaintySpec,
    _matrix_mean,
    _poisson_quantile,
    estimate_uncertainty,
    load_uncertainty_spec,
    rebuild_replicate,
    run_uncertainty,
    sample_factors,
    uncertainty_factors,
)
from securindex.dataset import Panel
from securindex.errors import DataError, SpecError
from securindex.framework import Framework
from securindex.methods.aggregate import arithmetic, geometric
from securindex.result import IndexResult, rank_within_periods

# --------------------------------------------------------------------------------------
# A small synthetic framework: 6 column indicators, 2 pillars, the root
# --------------------------------------------------------------------------------------

FRAMEWORK: dict[str, Any] = {
    "id": "idx",
    "columns": {
        "a": {"polarity": "positive"},
        "b": {"polarity": "negative"},
        "c": {"polarity": "positive", "weight": 2},
        "d": {"polarity": "positive"},
        "e": {"polarity": "negative"},
        "f": {"polarity": "positive"},
    },
    "pipeline": {
        "impute": {"method": "none"},
        "treat": {"method": "winsorise", "winmax": 2},
        "normalise": {"method": "minmax", "lo": 1, "hi": 100},
    },
    "structure": [
        {"id": "p1", "weight": 1, "children": ["a", "b", "c"]},
        {"id": "p2", "weight": 2, "children": ["d", "e", "f"]},
    ],
}


def build(
    tmp_path: Path,
    *,
    n_entities: int = 24,
    periods: tuple[int, ...] = (2020,),
    missing: bool = True,
    seed: int = 0,
    framework: dict[str, Any] | None = None,
) -> IndexResult:
    """Write the framework in ``tmp_path`` and build it over a lognormal synthetic panel."""
    path = tmp_path / "framework.yaml"
    path.write_text(yaml.safe_dump(framework or FRAMEWORK, sort_keys=False))
    rng = np.random.default_rng(seed)
    rows = n_entities * len(periods)
    frame = pd.DataFrame(rng.lognormal(size=(rows, 6)), columns=list("abcdef"))
    frame["entity"] = np.tile([f"e{i:02d}" for i in range(n_entities)], len(periods))
    frame["period"] = np.repeat(periods, n_entities)
    frame["region"] = np.tile(["north", "south"], rows // 2 + 1)[:rows]
    if missing:
        frame.loc[3, "a"] = np.nan
        frame.loc[7, "e"] = np.nan
    dictionary = {
        "entity": "entity",
        "period": "period",
        "groups": ["region"],
        "variables": {k: {"unit": "dimensionless"} for k in "abcdef"},
    }
    panel = Panel.from_frame(frame, dictionary=dictionary)
    return Framework.load(path).compute(panel)


@pytest.fixture(scope="module")
def nominal(tmp_path_factory: pytest.TempPathFactory) -> IndexResult:
    return build(tmp_path_factory.mktemp("nominal"))


@pytest.fixture(scope="module")
def panel_nominal(tmp_path_factory: pytest.TempPathFactory) -> IndexResult:
    return build(tmp_path_factory.mktemp("panel"), periods=(2019, 2020), n_entities=15)


# --------------------------------------------------------------------------------------
# The specification: models, YAML, and validation against the framework
# --------------------------------------------------------------------------------------


def test_shorthands_expand() -> None:
    spec = UncertaintySpec.model_validate(
        {"aggregate": {"p1": [{"method": "arithmetic"}, {"method": "median"}]}, "exclude": True}
    )
    assert spec.aggregate[0].nodes == ["p1"]
    assert spec.exclude is not None and spec.exclude.indicators == "all"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"weights": {"noise": 1.5}}, "uniform weight noise must be <= 1"),
        ({"inputs": [{"indicators": ["a"]}]}, "needs exactly one of sd"),
        ({"inputs": [{"indicators": ["a"], "distribution": "poisson", "sd": 1}]}, "poisson"),
        ({"normalise": [{"method": "minmax"}]}, "at least 2"),
        ({"wieghts": {"noise": 0.1}}, "wieghts"),
    ],
)
def test_model_errors(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UncertaintySpec.model_validate(block)


def test_yaml_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text("uncertainty:\n  n_replicates: 10\n  bogus: 1\n")
    with pytest.raises(SpecError) as caught:
        load_uncertainty_spec(path)
    assert caught.value.issues[0].line == 3
    assert "unknown field" in str(caught.value)


def test_block_read_from_framework_file_or_own_file(tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text("weights: {noise: 0.2}\n")
    inside = tmp_path / "framework.yaml"
    inside.write_text(yaml.safe_dump({**FRAMEWORK, "uncertainty": {"weights": {"noise": 0.2}}}))
    assert load_uncertainty_spec(own) == load_uncertainty_spec(inside)


def test_every_semantic_problem_reported_at_once(nominal: IndexResult, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "target": "nowhere",
                "weights": {"noise": 0.2, "nodes": ["p9"]},
                "normalise": [{"method": "minmux"}, {"method": "rank"}],
                "parameters": [{"step": "treat", "parameter": "wimax", "values": [1, 2]}],
                "aggregate": [
                    {"nodes": ["p7"], "methods": [{"method": "sum"}, {"method": "median"}]}
                ],
                "exclude": {"indicators": ["zz", "a"]},
                "inputs": [{"indicators": ["qq"], "sd": 1.0}],
            }
        )
    )
    with pytest.raises(SpecError) as caught:
        uncertainty_factors(nominal, path)
    text = str(caught.value)
    for needle in ("nowhere", "p9", "minmux", "wimax", "p7", "'sum'", "'zz'", "'qq'"):
        assert needle in text
    assert all(issue.file == str(path) and issue.line for issue in caught.value.issues)


def test_conflicting_and_impossible_choices(nominal: IndexResult) -> None:
    both = {
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
        "parameters": [{"step": "normalise", "parameter": "lo", "values": [1, 2]}],
    }
    with pytest.raises(SpecError, match="vary either the method or its parameter"):
        uncertainty_factors(nominal, both)
    zero = {
        "normalise": [{"method": "minmax", "lo": 0, "hi": 100}, {"method": "rank"}],
        "aggregate": {"all": [{"method": "arithmetic"}, {"method": "geometric"}]},
    }
    with pytest.raises(SpecError, match="strictly positive"):
        uncertainty_factors(nominal, zero)
    single = {"weights": {"noise": 0.1, "nodes": ["p1"]}, "exclude": {"indicators": []}}
    with pytest.raises(SpecError, match="at least two alternatives"):
        uncertainty_factors(nominal, single)


def test_alternative_failing_on_data_is_reported(nominal: IndexResult) -> None:
    spec = {"impute": [{"method": "none"}, {"method": "mean", "group": "county"}]}
    with pytest.raises(SpecError, match="county"):
        uncertainty_factors(nominal, spec)


def test_factor_table_lists_dimensions(nominal: IndexResult) -> None:
    spec = {
        "weights": {"noise": 0.1, "per_node": True},
        "treat": [{"method": "none"}, {"method": "winsorise"}],
        "exclude": True,
        "inputs": [{"indicators": ["a", "b"], "relative_sd": 0.1}],
    }
    table = uncertainty_factors(nominal, spec)
    dims = dict(zip(table["factor"], table["dimensions"], strict=True))
    n_rows = len(nominal.raw)
    assert dims == {
        "treat": 1,
        "weights:p1": 3,
        "weights:p2": 3,
        "weights:idx": 2,
        "exclude": 1,
        "inputs:a,b": 2 * n_rows,
    }
    assert table["first_column"].tolist() == [0, 1, 4, 7, 9, 10]
    assert table.loc[table["factor"] == "exclude", "levels"].item() == 7  # none + 6


# --------------------------------------------------------------------------------------
# The key check: the vectorised engine equals the full pipeline, replicate by replicate
# --------------------------------------------------------------------------------------

SPECS: dict[str, dict[str, Any]] = {
    "weights_normalise_aggregate": {
        "weights": {"noise": 0.3, "per_node": True},
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
        "aggregate": {
            "p2": [{"method": "arithmetic"}, {"method": "geometric"}, {"method": "median"}]
        },
    },
    "data_steps_and_exclusion": {
        "impute": [{"method": "none"}, {"method": "mean", "group": "region"}, {"method": "median"}],
        "parameters": [{"step": "treat", "parameter": "winmax", "values": [0, 1, 3]}],
        "exclude": True,
        "aggregate": {"all": [{"method": "arithmetic"}, {"method": "harmonic"}]},
    },
    "weight_sets": {
        "weight_sets": [
            {"p1": {"a": 1, "b": 1, "c": 1}, "idx": {"p1": 3, "p2": 1}},
            {"p1": {"a": 4, "b": 1, "c": 0}},
            {"idx": {"p1": 1, "p2": 4}},
        ],
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "zscore"}],
    },
    "dirichlet_and_input_noise": {
        "weights": {"noise": 0.4, "distribution": "dirichlet"},
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "zscore"}],
        "inputs": [
            {"indicators": ["a", "c"], "relative_sd": 0.1},
            {"indicators": ["d"], "margin": 0.2, "lower": 0.0},
            {"indicators": ["f"], "distribution": "poisson", "scale": 20.0},
        ],
    },
}


@pytest.mark.parametrize("name", list(SPECS))
def test_vectorised_equals_full_pipeline(nominal: IndexResult, name: str) -> None:
    spec = SPECS[name]
    n = 6
    points = sample_factors(nominal, spec, n, seed=11)
    result = run_uncertainty(nominal, spec, n_replicates=n, seed=11, chunk_size=4)
    assert result.scores is not None and result.ranks is not None
    assert result.replicates["mean_rank_shift"].min() > 0  # every replicate moved the ranks
    for i in range(n):
        rebuilt = rebuild_replicate(nominal, spec, points[i])
        expected = rebuilt.scores["idx"].to_numpy()
        np.testing.assert_allclose(result.scores.iloc[i].to_numpy(), expected, rtol=0, atol=1e-10)
        np.testing.assert_array_equal(
            result.ranks.iloc[i].to_numpy(), rebuilt.ranks["idx"].to_numpy()
        )


def test_vectorised_equals_full_pipeline_on_a_panel_with_coverage(tmp_path: Path) -> None:
    framework = {
        **FRAMEWORK,
        "pipeline": {
            **FRAMEWORK["pipeline"],
            "missing": {"policy": "coverage", "min_coverage": 0.8},
        },
    }
    nominal = build(tmp_path, periods=(2019, 2020), n_entities=12, framework=framework)
    # row 3 misses a (weight 1 of 1 + 1 + 2 in p1): 3/4 < 0.8 of p1's weight is present;
    # row 7 misses e (1 of 3 equal weights in p2): 2/3 < 0.8 present; neither is scored
    assert nominal.scores["p1"].isna().sum() == 1
    assert nominal.scores["p2"].isna().sum() == 1
    spec = {
        "weights": {"noise": 0.5},
        "normalise": [
            {"method": "minmax", "lo": 1, "hi": 100},
            {"method": "minmax", "lo": 1, "hi": 100, "reference": "per_period"},
        ],
        "exclude": {"indicators": ["a", "d"]},
    }
    points = sample_factors(nominal, spec, 5, seed=2)
    result = run_uncertainty(nominal, spec, n_replicates=5, seed=2)
    assert result.scores is not None
    for i in range(5):
        rebuilt = rebuild_replicate(nominal, spec, points[i])
        np.testing.assert_allclose(
            result.scores.iloc[i].to_numpy(), rebuilt.scores["idx"].to_numpy(), atol=1e-10
        )


def test_target_node(nominal: IndexResult) -> None:
    spec = {"target": "p1", "weights": {"noise": 0.3}}
    points = sample_factors(nominal, spec, 3, seed=5)
    result = run_uncertainty(nominal, spec, n_replicates=3, seed=5)
    assert result.target == "p1" and result.scores is not None
    for i in range(3):
        rebuilt = rebuild_replicate(nominal, spec, points[i])
        np.testing.assert_allclose(
            result.scores.iloc[i].to_numpy(), rebuilt.scores["p1"].to_numpy(), atol=1e-10
        )


# --------------------------------------------------------------------------------------
# Zero noise, intervals, reproducibility, streaming summaries
# --------------------------------------------------------------------------------------


def test_zero_noise_replicates_equal_the_nominal_build(nominal: IndexResult) -> None:
    spec = {
        "weights": {"noise": 0.0},
        "inputs": [{"indicators": "all", "sd": 0.0}],
        "parameters": [{"step": "treat", "parameter": "winmax", "values": [2, 2]}],
    }
    result = run_uncertainty(nominal, spec, n_replicates=50, seed=1, chunk_size=16)
    assert result.scores is not None and result.ranks is not None
    expected = nominal.scores["idx"].to_numpy()
    np.testing.assert_allclose(result.scores.to_numpy(), np.tile(expected, (50, 1)), atol=1e-10)
    np.testing.assert_array_equal(result.ranks.to_numpy()[0], nominal.ranks["idx"].to_numpy())
    assert result.mean_rank_shift == 0.0
    assert (result.summary["rank_low"] == result.summary["nominal_rank"]).all()
    assert (result.summary["mean_abs_rank_shift"] == 0).all()


def test_rank_intervals_contain_the_nominal_rank(nominal: IndexResult) -> None:
    # every level includes the nominal choice, and 300 draws of 2 x 7 combinations sample
    # the nominal one (prob. of missing it: (13/14)^300 < 1e-9): min <= nominal <= max
    spec = {
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
        "exclude": True,
    }
    result = run_uncertainty(nominal, spec, n_replicates=300, seed=4, interval=(0.0, 1.0))
    summary = result.summary
    assert (summary["rank_low"] <= summary["nominal_rank"]).all()
    assert (summary["nominal_rank"] <= summary["rank_high"]).all()
    assert (summary["score_low"] <= summary["nominal_score"] + 1e-12).all()
    assert (summary["rank_low"] <= summary["median_rank"]).all()
    assert (summary["median_rank"] <= summary["rank_high"]).all()


def test_small_weight_noise_keeps_nominal_rank_within_5_95(nominal: IndexResult) -> None:
    result = run_uncertainty(nominal, {"weights": {"noise": 0.05}}, n_replicates=400, seed=8)
    summary = result.summary
    inside = (summary["rank_low"] <= summary["nominal_rank"]) & (
        summary["nominal_rank"] <= summary["rank_high"]
    )
    assert inside.all()


def test_seed_reproducible_and_independent_of_chunk_size(nominal: IndexResult) -> None:
    spec = SPECS["dirichlet_and_input_noise"]
    one = run_uncertainty(nominal, spec, n_replicates=40, seed=3, chunk_size=7)
    two = run_uncertainty(nominal, spec, n_replicates=40, seed=3, chunk_size=40)
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    pd.testing.assert_frame_equal(one.summary, two.summary)
    other = run_uncertainty(nominal, spec, n_replicates=40, seed=4)
    assert not one.replicates["mean_rank_shift"].equals(other.replicates["mean_rank_shift"])
    generator = run_uncertainty(nominal, spec, n_replicates=40, seed=np.random.default_rng(3))
    pd.testing.assert_frame_equal(one.replicates, generator.replicates)


def test_spec_seed_and_replicates_are_defaults(nominal: IndexResult) -> None:
    spec = {"n_replicates": 12, "seed": 9, "weights": {"noise": 0.2}}
    a = run_uncertainty(nominal, spec)
    b = run_uncertainty(nominal, {"weights": {"noise": 0.2}}, n_replicates=12, seed=9)
    assert a.n_replicates == 12
    pd.testing.assert_frame_equal(a.replicates, b.replicates)


def test_streaming_summaries_match_exact_ones(panel_nominal: IndexResult) -> None:
    spec = {
        "weights": {"noise": 0.4},
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
    }
    exact = run_uncertainty(panel_nominal, spec, n_replicates=500, seed=6, chunk_size=64)
    streamed = run_uncertainty(
        panel_nominal, spec, n_replicates=500, seed=6, chunk_size=64, keep_replicates=False
    )
    assert exact.exact and not streamed.exact and streamed.scores is None
    rank_columns = ["median_rank", "rank_low", "rank_high", "mean_rank", "mean_abs_rank_shift"]
    pd.testing.assert_frame_equal(exact.summary[rank_columns], streamed.summary[rank_columns])
    # score quantiles within one histogram bin: 3 x the first chunk's range / 1000 bins
    span = exact.scores.max() - exact.scores.min()  # type: ignore[union-attr]
    for column in ("median_score", "score_low", "score_high"):
        error = (exact.summary[column] - streamed.summary[column]).abs().to_numpy()
        assert (error <= 3 * span.to_numpy() / 1000 + 1e-9).all()


def test_ranks_are_within_period(panel_nominal: IndexResult) -> None:
    result = run_uncertainty(panel_nominal, {"weights": {"noise": 0.3}}, n_replicates=20, seed=1)
    assert result.ranks is not None
    assert result.ranks.to_numpy().max() == 15  # 15 entities per period, not 30
    assert list(result.ranks.columns[:2]) == ["e00@2019", "e01@2019"]


def test_replicate_table_and_files(nominal: IndexResult, tmp_path: Path) -> None:
    spec = {
        "weights": {"noise": 0.2, "nodes": ["p1"]},
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
        "exclude": True,
    }
    result = run_uncertainty(nominal, spec, n_replicates=30, seed=2)
    table = result.replicates
    assert list(table.columns) == [
        "replicate",
        "normalise",
        "weight:p1:a",
        "weight:p1:b",
        "weight:p1:c",
        "exclude",
        "mean_rank_shift",
    ]
    assert set(table["normalise"]) <= {"minmax(hi=100, lo=1)", "rank"}
    weights = table[["weight:p1:a", "weight:p1:b", "weight:p1:c"]].to_numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # uniform noise 0.2 around (1, 1, 2)/4 stays within the noise band after rescaling
    assert weights[:, 2].min() > 0.5 * 0.8 / 1.2 - 1e-12
    long = result.long()
    assert len(long) == 30 * len(nominal.raw)
    row = long.iloc[len(nominal.raw) + 2]  # replicate 1, third row
    assert (row["replicate"], row["entity"]) == (1, "e02")
    assert row["score"] == result.scores.iloc[1, 2]  # type: ignore[union-attr]
    streamed = run_uncertainty(nominal, spec, n_replicates=5, seed=2, keep_replicates=False)
    with pytest.raises(DataError, match="not kept"):
        streamed.long()
    written = result.write(tmp_path / "out")
    assert {p.name for p in written.values()} == {
        "summary.csv",
        "replicates.csv",
        "factors.csv",
        "uncertainty.json",
    }
    assert len(pd.read_csv(written["summary"])) == len(nominal.raw)
    assert "UncertaintyResult(idx: 30 replicates" in repr(result)


def test_invalid_run_arguments(nominal: IndexResult) -> None:
    with pytest.raises(SpecError, match="n_replicates"):
        run_uncertainty(nominal, {"weights": {"noise": 0.1}}, n_replicates=0)
    with pytest.raises(SpecError, match="interval"):
        run_uncertainty(nominal, {"weights": {"noise": 0.1}}, interval=(0.9, 0.1))
    with pytest.raises(SpecError, match="chunk_size"):
        run_uncertainty(nominal, {"weights": {"noise": 0.1}}, chunk_size=0)


def test_failing_policy_raises_at_run_time(tmp_path: Path) -> None:
    framework = {**FRAMEWORK, "pipeline": {**FRAMEWORK["pipeline"], "impute": {"method": "median"}}}
    framework["root"] = {"missing": {"policy": "fail"}}
    framework["structure"] = [
        {**FRAMEWORK["structure"][0], "missing": {"policy": "fail"}},
        {**FRAMEWORK["structure"][1], "missing": {"policy": "fail"}},
    ]
    nominal = build(tmp_path, framework=framework)
    spec = {"impute": [{"method": "median"}, {"method": "none"}]}
    with pytest.raises(DataError, match="'fail'"):
        run_uncertainty(nominal, spec, n_replicates=20, seed=0)


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


def test_dirichlet_weights_are_centred_with_the_requested_spread(nominal: IndexResult) -> None:
    # 3 equal children: concentration (3 - 1) / 0.2^2 - 1 = 49 per unit of weight, so each
    # weight is Beta(49/3, 98/3) with mean 1/3 and cv sqrt((2/3) / ((1/3) * 50)) = 0.2
    spec = {"weights": {"noise": 0.2, "distribution": "dirichlet", "nodes": ["p2"]}}
    result = run_uncertainty(nominal, spec, n_replicates=4000, seed=1)
    w = result.replicates[["weight:p2:d", "weight:p2:e", "weight:p2:f"]].to_numpy()
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w.mean(axis=0), 1 / 3, atol=0.005)
    np.testing.assert_allclose(w.std(axis=0) / w.mean(axis=0), 0.2, atol=0.01)


def test_poisson_quantile_equals_scipy() -> None:
    rng = np.random.default_rng(0)
    u = rng.random(5000)
    lam = rng.choice([0.0, 0.3, 2.0, 17.5, 400.0], size=5000)
    expected = np.where(lam > 0, scipy.stats.poisson.ppf(u, lam), 0.0)
    np.testing.assert_array_equal(_poisson_quantile(u, lam), expected)


def test_engine_ranks_equal_the_pipeline_ranks(panel_nominal: IndexResult) -> None:
    engine = ReplicateEngine(panel_nominal, UncertaintySpec())
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=(4, len(panel_nominal.raw))).astype(float)  # many ties
    scores[0, 3] = np.nan
    ranks = engine.ranks(scores)
    expected = rank_within_periods(scores.T, engine.period_codes).T
    np.testing.assert_array_equal(ranks, expected)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shared=st.booleans(),
    method=st.sampled_from(["arithmetic", "geometric"]),
)
def test_matrix_means_equal_the_registry_aggregators(seed: int, shared: bool, method: str) -> None:
    rng = np.random.default_rng(seed)
    n_replicates, n_rows, k = 5, 7, 4
    x = rng.uniform(1.0, 100.0, size=(n_rows, k) if shared else (n_replicates, n_rows, k))
    x[rng.random(x.shape) < 0.2] = np.nan
    w = rng.random((n_replicates, 1, k))
    w[0, 0, 1] = 0.0  # a left-out child
    fast = _matrix_mean(method, {}, x, w, n_replicates)
    assert fast is not None
    aggregator = arithmetic if method == "arithmetic" else geometric
    block = np.broadcast_to(x, (n_replicates, n_rows, k))
    np.testing.assert_allclose(fast, aggregator(block, w), rtol=1e-12, equal_nan=True)


def test_matrix_means_defer_to_the_registry_when_they_must() -> None:
    w = np.ones((2, 1, 2))
    x = np.array([[0.0, 1.0]])
    assert _matrix_mean("geometric", {}, x, w, 2) is None  # the aggregator raises for 0
    assert _matrix_mean("generalised", {"p": 2}, x, w, 2) is None
    assert _matrix_mean("arithmetic", {}, x, np.ones((1, 2)), 2) is None  # per-row weights


# --------------------------------------------------------------------------------------
# Command line (the commands are registered on a fresh Typer app, as cli.py does)
# --------------------------------------------------------------------------------------


def _cli_files(tmp_path: Path) -> tuple[Path, Path]:
    """A framework file carrying an uncertainty block, and a CSV panel beside it."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.lognormal(size=(20, 6)), columns=list("abcdef"))
    frame["entity"] = [f"e{i:02d}" for i in range(20)]
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    dictionary = {
        "entity": "entity",
        "period": None,
        "variables": {k: {"unit": "dimensionless"} for k in "abcdef"},
    }
    (tmp_path / "data.dictionary.yaml").write_text(yaml.safe_dump(dictionary))
    block = {
        "seed": 1,
        "weights": {"noise": 0.2},
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
    }
    framework = tmp_path / "framework.yaml"
    framework.write_text(yaml.safe_dump({**FRAMEWORK, "uncertainty": block}, sort_keys=False))
    return framework, data


def test_cli_uncertainty(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from securindex.analysis._cli import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    framework, data = _cli_files(tmp_path)
    out = tmp_path / "out"
    dry = runner.invoke(
        app, ["uncertainty", str(framework), str(data), "--dry-run", "-o", str(out)]
    )
    assert dry.exit_code == 0, dry.output
    assert "2 factor(s), 9 dimensions" in dry.output and not out.exists()
    run = runner.invoke(
        app,
        [
            "uncertainty",
            str(framework),
            str(data),
            "-n",
            "64",
            "--sobol",
            "--sobol-base",
            "32",
            "--no-plots",
            "-o",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    assert {p.name for p in out.iterdir()} == {
        "summary.csv",
        "replicates.csv",
        "factors.csv",
        "uncertainty.json",
        "sobol.csv",
    }
    assert len(pd.read_csv(out / "replicates.csv")) == 64
    spec = tmp_path / "bad.yaml"
    spec.write_text("weights: {noise: 0.2, nodes: [p9]}\n")
    bad = runner.invoke(
        app, ["uncertainty", str(framework), str(data), "--spec", str(spec), "-o", str(out)]
    )
    assert bad.exit_code == 1
    assert "bad.yaml:1:" in bad.output and "unknown node 'p9'" in bad.output


def test_column_quantiles_equal_numpy() -> None:
    from securindex.analysis.uncertainty import _column_quantiles

    rng = np.random.default_rng(3)
    data = rng.normal(size=(37, 6))
    data[rng.random(data.shape) < 0.3] = np.nan
    data[:, 5] = np.nan  # an all-missing column
    probabilities = [0.0, 0.05, 0.5, 0.95, 1.0]
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanquantile(data, probabilities, axis=0)
    np.testing.assert_allclose(_column_quantiles(data, probabilities), expected, equal_nan=True)


# --------------------------------------------------------------------------------------
# Benefit of the doubt: the node is the LP optimum in every engine (issue #10)
# --------------------------------------------------------------------------------------

BOD_FRAMEWORK: dict[str, Any] = {
    **FRAMEWORK,
    "structure": [
        {
            "id": "p1",
            "weight": 1,
            "children": ["a", "b", "c"],
            "weighting": {"method": "benefit_of_doubt"},
        },
        {"id": "p2", "weight": 2, "children": ["d", "e", "f"]},
    ],
}


@pytest.fixture(scope="module")
def bod_nominal(tmp_path_factory: pytest.TempPathFactory) -> IndexResult:
    return build(tmp_path_factory.mktemp("bod"), periods=(2019, 2020), framework=BOD_FRAMEWORK)


def test_zero_noise_replicates_equal_the_nominal_build_with_benefit_of_the_doubt(
    bod_nominal: IndexResult,
) -> None:
    # the divergence of issue #10: replicates scored p1 as a weighted mean with the row's
    # normalised LP weights (and the LP had per-period frontiers), the build as 100 × the
    # LP optimum over all periods; now both are the optimum
    spec = {"weights": {"noise": 0.0, "nodes": ["p2", "idx"]}}
    result = run_uncertainty(bod_nominal, spec, n_replicates=8, seed=3, chunk_size=4)
    assert result.scores is not None
    expected = bod_nominal.scores["idx"].to_numpy()
    np.testing.assert_allclose(result.scores.to_numpy(), np.tile(expected, (8, 1)), atol=1e-12)
    assert result.mean_rank_shift == 0.0


def test_benefit_of_the_doubt_is_re_solved_on_each_replicate(bod_nominal: IndexResult) -> None:
    # other normalisations and a left-out indicator: each replicate's p1 is the LP optimum
    # over its own children, as the full pipeline rebuild computes it
    spec = {
        "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "rank"}],
        "exclude": {"indicators": ["a", "d"]},
        "aggregate": {"p2": [{"method": "arithmetic"}, {"method": "geometric"}]},
    }
    points = sample_factors(bod_nominal, spec, 12, seed=5)
    result = run_uncertainty(bod_nominal, spec, n_replicates=12, seed=5, chunk_size=5)
    assert result.scores is not None
    for i in range(12):
        rebuilt = rebuild_replicate(bod_nominal, spec, points[i])
        np.testing.assert_allclose(
            result.scores.to_numpy()[i], rebuilt.scores["idx"].to_numpy(), atol=1e-9
        )


# --------------------------------------------------------------------------------------------
# the replicate limit (issue #15): an estimate and a refusal at once, a flag to go past it
# --------------------------------------------------------------------------------------------
SPEC_WEIGHTS = {"seed": 1, "weights": {"noise": 0.2}}


def test_a_billion_replicates_are_refused_at_once_with_an_estimate(nominal: IndexResult) -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError, match="is above the limit of 100,000 replicates") as info:
        run_uncertainty(nominal, SPEC_WEIGHTS, n_replicates=10**9)
    assert time.perf_counter() - started < 2.0
    message = str(info.value)
    assert "n_replicates = 1,000,000,000" in message
    assert re.search(
        r"estimated 1,000,000,000 replicates: about [\d.]+ (s|min|h|days) and", message
    )
    assert "--max-replicates 1000000000" in message


def test_the_limit_can_be_raised_or_lifted(nominal: IndexResult) -> None:
    with pytest.raises(SpecError, match="above the limit of 10 replicates"):
        run_uncertainty(nominal, SPEC_WEIGHTS, n_replicates=11, max_replicates=10)
    assert (
        run_uncertainty(nominal, SPEC_WEIGHTS, n_replicates=11, max_replicates=None).n_replicates
        == 11
    )


def test_estimate_scales_with_the_replicates(
    nominal: IndexResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a clock that advances 1 s per reading: each pilot is timed as exactly 1 s, so the
    # estimate is the per-replicate time scaled to the run, whatever the machine's load
    from securindex.analysis import _budget

    ticks = iter(range(10**6))
    monkeypatch.setattr(_budget.time, "perf_counter", lambda: float(next(ticks)))
    small = estimate_uncertainty(nominal, SPEC_WEIGHTS, n_replicates=1000)
    large = estimate_uncertainty(nominal, SPEC_WEIGHTS, n_replicates=10**6)
    assert small.seconds == pytest.approx(1000 / 16)
    assert large.seconds == pytest.approx(1000 * small.seconds)
    # 10**6 × rows cells are above 2**22: only the sampled factors are kept per replicate
    n_dims = int(uncertainty_factors(nominal, SPEC_WEIGHTS)["dimensions"].sum())
    assert large.memory_bytes == 10**6 * 8.0 * (n_dims + 2)


def test_cli_refuses_a_billion_replicates_without_running(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from securindex.analysis._cli import register

    app = typer.Typer()
    register(app)
    framework, data = _cli_files(tmp_path)
    out = tmp_path / "out"
    started = time.perf_counter()
    run = CliRunner().invoke(
        app, ["uncertainty", str(framework), str(data), "-n", "1000000000", "-o", str(out)]
    )
    assert time.perf_counter() - started < 60.0  # the estimate takes seconds; the run, days
    assert run.exit_code == 1
    assert "above the limit of 100,000 replicates (estimated 1,000,000,000 replicates: about" in (
        run.output
    )
    assert "Traceback" not in run.output and not out.exists()
    flagged = CliRunner().invoke(
        app,
        [
            "uncertainty",
            str(framework),
            str(data),
            "-n",
            "20",
            "--max-replicates",
            "10",
            "--no-plots",
            "-o",
            str(out),
        ],
    )
    assert flagged.exit_code == 1 and "--max-replicates 20" in flagged.output
    lifted = CliRunner().invoke(
        app,
        ["uncertainty", str(framework), str(data), "-n", "10001", "--max-replicates", "0",
         "--no-plots", "--chunk-size", "4096", "-o", str(out)],
    )  # fmt: skip
    assert lifted.exit_code == 0, lifted.output
    assert "estimated: 10,001 replicates: about" in lifted.output


def test_a_list_of_weight_sets_is_one_discrete_factor(nominal: IndexResult) -> None:
    # COINr's get_sensitivity with a list of alternative weight sets: each replicate is the
    # build with one whole set of weights (nodes a set leaves out keep their own)
    sets = [{"p1": {"a": 1, "b": 1, "c": 1}}, {"p1": {"a": 4, "b": 1, "c": 0}}]
    spec = {"weight_sets": {"sets": sets, "name": "expert_sets"}}
    points = sample_factors(nominal, spec, 8, seed=2)
    result = run_uncertainty(nominal, spec, n_replicates=8, seed=2)
    assert result.scores is not None
    framework = nominal.framework
    for i in range(8):
        level = int(points[i, 0] * 2)
        chosen = framework.with_weights("p1", sets[level]["p1"])
        from securindex.pipeline import run_pipeline

        built = run_pipeline(chosen, nominal.indicator_values, nominal.groups)
        np.testing.assert_allclose(
            result.scores.iloc[i].to_numpy(), built.scores["idx"].to_numpy(), atol=1e-10
        )
    assert set(uncertainty_factors(nominal, spec)["factor"]) == {"expert_sets"}


def test_weight_sets_are_checked_against_the_framework(nominal: IndexResult) -> None:
    spec = {
        "weights": {"noise": 0.1, "nodes": ["p1"]},
        "weight_sets": [{"p1": {"a": 1, "b": 1, "c": 1}}, {"p9": {"x": 1}}],
    }
    with pytest.raises(SpecError) as info:
        run_uncertainty(nominal, spec, n_replicates=2)
    text = str(info.value)
    assert "already has weight noise" in text and "unknown node 'p9'" in text
