"""Tests of securindex.analysis.sensitivity: Sobol indices against analytic values.

The estimators are SALib's; what is tested here is the way securindex feeds them: grouped
factors on the unit hypercube, chunked evaluation, output bookkeeping, and the route from
an uncertainty specification through the vectorised index engine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

from securindex.analysis.plots import plot_correlation, plot_rank_intervals, plot_sobol
from securindex.analysis.sensitivity import run_sensitivity, sobol_indices
from securindex.analysis.uncertainty import run_uncertainty
from securindex.dataset import Panel
from securindex.errors import SpecError
from securindex.framework import Framework
from securindex.result import IndexResult

matplotlib.use("Agg")


def ishigami(u: np.ndarray) -> np.ndarray:
    """Ishigami & Homma (1990) with a = 7, b = 0.1 on [-pi, pi]^3."""
    x = -np.pi + 2.0 * np.pi * u
    return np.sin(x[:, 0]) + 7.0 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


# Analytic indices (Sobol' & Levitan 1999; SALib's test_functions/Ishigami.py):
# V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2, V1 = (1 + b pi^4/5)^2 / 2, V2 = a^2/8,
# V13 = b^2 pi^8 (1/18 - 1/50); S1 = V1/V, S2 = V2/V, S3 = 0, ST1 = (V1 + V13)/V,
# ST2 = S2, ST3 = V13/V.
ISHIGAMI_S1 = [0.3139, 0.4424, 0.0]
ISHIGAMI_ST = [0.5576, 0.4424, 0.2437]


def test_ishigami_indices() -> None:
    result = sobol_indices(
        {"x1": 1, "x2": 1, "x3": 1}, ishigami, n_base=2048, seed=1, chunk_size=3000
    )
    table = result.table("y").loc[["x1", "x2", "x3"]]
    np.testing.assert_allclose(table["S1"], ISHIGAMI_S1, atol=0.04)
    np.testing.assert_allclose(table["ST"], ISHIGAMI_ST, atol=0.04)
    assert (table["S1_conf"] > 0).all() and (table["S1_conf"] < 0.1).all()
    assert result.n_evaluations == 2048 * (3 + 2)


def test_grouped_linear_model() -> None:
    # y = u0 + u1 + 2 u2 with u ~ U(0, 1): Var = (1 + 1 + 4)/12; group A = {u0, u1}
    # explains 2/6 = 1/3, B = {u2} 4/6 = 2/3; additive, so ST = S1.
    result = sobol_indices(
        {"A": 2, "B": 1}, lambda u: u[:, 0] + u[:, 1] + 2 * u[:, 2], n_base=2048, seed=5
    )
    table = result.table("y")
    np.testing.assert_allclose(table.loc[["A", "B"], "S1"], [1 / 3, 2 / 3], atol=0.03)
    np.testing.assert_allclose(table.loc[["A", "B"], "ST"], [1 / 3, 2 / 3], atol=0.03)


def test_several_outputs_and_constant_output() -> None:
    def model(u: np.ndarray) -> np.ndarray:
        return np.column_stack([u[:, 0], np.ones(len(u))])

    result = sobol_indices({"a": 1, "b": 1}, model, outputs=["first", "flat"], n_base=256, seed=2)
    assert result.table("first").loc["a", "ST"] == pytest.approx(1.0, abs=0.05)
    assert result.table("flat")["S1"].isna().all()
    with pytest.raises(KeyError, match="no output"):
        result.table("missing")


def test_seeded_and_validated() -> None:
    one = sobol_indices({"x1": 1, "x2": 1, "x3": 1}, ishigami, n_base=128, seed=9)
    two = sobol_indices({"x1": 1, "x2": 1, "x3": 1}, ishigami, n_base=128, seed=9)
    pd.testing.assert_frame_equal(one.indices, two.indices)
    with pytest.raises(SpecError, match="at least one factor"):
        sobol_indices({}, ishigami)
    with pytest.raises(SpecError, match="no coordinate"):
        sobol_indices({"x": 0}, ishigami)
    with pytest.raises(SpecError, match="input noise takes one per value"):
        sobol_indices({"inputs:a": 20_000}, ishigami)


# --------------------------------------------------------------------------------------
# Through the index engine: a linear index with known indices
# --------------------------------------------------------------------------------------

LINEAR = {
    "id": "idx",
    "columns": {"a": {"polarity": "positive", "weight": 2}, "b": {"polarity": "positive"}},
    # fixed, wide goalposts: the score is linear in the values (nothing learnt, no clipping)
    "pipeline": {"normalise": {"method": "goalposts", "lo": -100, "hi": 100, "scale": 100}},
    "structure": [{"id": "pillar", "children": ["a", "b"]}],
}


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> IndexResult:
    folder = tmp_path_factory.mktemp("linear")
    (folder / "framework.yaml").write_text(yaml.safe_dump(LINEAR))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(12, 2)), columns=["a", "b"])
    frame["entity"] = [f"e{i:02d}" for i in range(12)]
    panel = Panel.from_frame(
        frame, entity="entity", units={"a": "dimensionless", "b": "dimensionless"}
    )
    return Framework.load(folder / "framework.yaml").compute(panel)


def test_linear_index_through_the_engine(linear: IndexResult) -> None:
    # score_e = 100 * (2/3 (x_a + sa za - lo) + 1/3 (x_b + sb zb - lo)) / (hi - lo): the
    # variance from a is (2/3 sa)^2, from b (1/3 sb)^2; with sa = 1, sb = 2 they are equal
    # (4/9 each), so S_a = S_b = 1/2, and additive: ST = S1.
    spec: dict[str, Any] = {
        "inputs": [
            {"indicators": ["a"], "sd": 1.0, "name": "noise_a"},
            {"indicators": ["b"], "sd": 2.0, "name": "noise_b"},
        ]
    }
    result = run_sensitivity(
        linear, spec, n_base=1024, seed=3, entities=["e00", "e05"], output="score"
    )
    assert set(result.indices["output"]) == {"mean_rank_shift", "e00", "e05"}
    for entity in ("e00", "e05"):
        table = result.table(entity).loc[["noise_a", "noise_b"]]
        np.testing.assert_allclose(table["S1"], [0.5, 0.5], atol=0.05)
        np.testing.assert_allclose(table["ST"], [0.5, 0.5], atol=0.05)
    # sa = 2, sb = 1: (4/3)^2 = 16/9 against 1/9, S_a = 16/17
    spec["inputs"][0]["sd"], spec["inputs"][1]["sd"] = 2.0, 1.0
    table = run_sensitivity(
        linear, spec, n_base=1024, seed=3, entities=["e03"], output="score"
    ).table("e03")
    assert table.loc["noise_a", "S1"] == pytest.approx(16 / 17, abs=0.04)


def test_sensitivity_outputs_and_errors(linear: IndexResult) -> None:
    spec = {
        "weights": {"noise": 0.5},
        "normalise": [
            {"method": "goalposts", "lo": -100, "hi": 100, "scale": 100},
            {"method": "rank"},
        ],
    }
    result = run_sensitivity(linear, spec, n_base=64, seed=1)
    assert result.factors == ("normalise", "weights")
    assert len(result.indices) == 2 * (1 + 12)
    assert "SobolResult(2 factors, 13 outputs" in repr(result)
    none = run_sensitivity(linear, spec, n_base=64, seed=1, entities=None)
    assert set(none.indices["output"]) == {"mean_rank_shift"}
    with pytest.raises(SpecError, match="unknown entities"):
        run_sensitivity(linear, spec, n_base=64, entities=["nowhere"])
    with pytest.raises(SpecError, match="varies nothing"):
        run_sensitivity(linear, {}, n_base=64)


def test_files_and_plots(linear: IndexResult, tmp_path: Path) -> None:
    spec = {"weights": {"noise": 0.5}, "exclude": True}
    sobol = run_sensitivity(linear, spec, n_base=64, seed=1)
    assert sobol.write(tmp_path)["sobol"].exists()
    uncertainty = run_uncertainty(linear, spec, n_replicates=50, seed=1)
    ax = plot_rank_intervals(uncertainty)
    assert len(ax.get_xticklabels()) == 12
    ax = plot_sobol(sobol)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(sobol.table().index)
    ax = plot_correlation(linear.normalised.corr(), title="r")
    assert ax.get_title() == "r"
    with pytest.raises(SpecError, match="summary column"):
        plot_rank_intervals(uncertainty, order="nope")


def test_one_factor_is_refused_before_salib_fails() -> None:
    # issue #15: SALib's sampler and analyser disagree on one group with several
    # coordinates (RuntimeError "Incorrect number of samples"); alone, a factor explains all
    with pytest.raises(SpecError, match="at least two factors; only 'weights' varies"):
        sobol_indices({"weights": 3}, lambda u: u.sum(axis=1), n_base=8)


def test_one_factor_through_the_engine(linear: IndexResult) -> None:
    with pytest.raises(SpecError, match="at least two factors"):
        run_sensitivity(linear, {"weights": {"noise": 0.5}}, n_base=8)


def test_sobol_design_above_the_replicate_limit_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError, match=r"n_base × \(factors \+ 2\) = 1048576 × 5") as info:
        sobol_indices({"x1": 1, "x2": 1, "x3": 1}, ishigami, n_base=2**20, max_replicates=1000)
    assert time.perf_counter() - started < 1.0
    assert "5,242,880 replicates: about" in str(info.value)
