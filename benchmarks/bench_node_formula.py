"""Benchmark: node formulas and DAGs against hand-written numpy, measured in the same run.

A gender-inequality-style index (issue #13): 8 indicators kept as they are, five formula
nodes (two of them under two parents: a DAG) and a formula root, over synthetic panels of
10⁴, 10⁵ and 10⁶ entity-periods. For each size, ``name = value`` lines:

* ``rows_<n>.aggregate_over_hand``: scoring the nodes (``Framework.score_nodes`` over the
  normalised matrix: the node rules, formula parsing excluded, every undefined row
  explained) over the same arithmetic written by hand in numpy, best of several runs each;
* ``rows_<n>.formula_root_over_mean_root``: the same tree with a weighted-mean root in
  place of the formula root, over the formula version (about 1: a formula costs no more
  than a mean);
* ``rows_<n>.monte_carlo_replicate_over_memory``: the cost of one more zero-noise
  Monte-Carlo replicate, from runs of 10 and 60 replicates (the engine's set-up excluded),
  over one in-memory scoring of the nodes (up to 10⁵ rows). A replicate redraws the input
  noise and re-imputes, re-treats and re-normalises before scoring the nodes (a chunk of
  replicates is one formula evaluation), so most of it is the data steps: profiled at 10⁵
  rows, the formulas take about 7 % of the run.

Run ``python benchmarks/bench_node_formula.py`` (``--quick``: 10⁴ rows only).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from securindex.analysis.uncertainty import run_uncertainty
from securindex.catalogue import IndicatorValues
from securindex.framework import Framework
from securindex.plan import compile_plan

COLUMNS = ["mmr", "abr", "se_f", "se_m", "pr_f", "pr_m", "lfpr_f", "lfpr_m"]
STRUCTURE = [
    {"id": "health_f", "formula": "sqrt(10 / clip(mmr, 10, 1000) * 1 / abr)"},
    {"id": "emp_f", "formula": "sqrt(pr_f / 100 * se_f / 100)"},
    {"id": "emp_m", "formula": "sqrt(pr_m / 100 * se_m / 100)"},
    {"id": "g_f", "formula": "(health_f * emp_f * lfpr_f / 100) ** (1 / 3)"},
    {"id": "g_m", "formula": "(emp_m * lfpr_m / 100) ** (1 / 3)"},
    {
        "id": "g_fm",
        "formula": "((health_f + 1) / 2 * (emp_f + emp_m) / 2 * (lfpr_f + lfpr_m) / 200) "
        "** (1 / 3)",
    },
]


def _framework(formula_root: bool) -> Framework:
    root: dict[str, Any] = (
        {"formula": "1 - 2 / (1 / g_f + 1 / g_m) / g_fm"}
        if formula_root
        else {"children": ["g_f", "g_m", "g_fm"]}
    )
    return Framework.from_spec(
        {
            "id": "gii",
            "columns": dict.fromkeys(COLUMNS, "positive"),
            "pipeline": {"normalise": {"method": "none"}},
            "root": root,
            "structure": STRUCTURE,
        }
    )


def _data(n_rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "mmr": rng.uniform(2, 1500, n_rows),
            "abr": rng.uniform(1, 150, n_rows),
            "se_f": rng.uniform(5, 100, n_rows),
            "se_m": rng.uniform(5, 100, n_rows),
            "pr_f": rng.uniform(0.01, 60, n_rows),
            "pr_m": rng.uniform(40, 99.99, n_rows),
            "lfpr_f": rng.uniform(10, 80, n_rows),
            "lfpr_m": rng.uniform(40, 90, n_rows),
        }
    )
    n_periods = 5
    entities = np.arange(n_rows) // n_periods
    index = pd.MultiIndex.from_arrays(
        [entities.astype(str), np.tile(np.arange(2000, 2000 + n_periods), n_rows // n_periods)],
        names=["entity", "period"],
    )
    frame.index = index
    return frame


def _hand(x: dict[str, np.ndarray]) -> np.ndarray:
    health = np.sqrt(10 / np.clip(x["mmr"], 10, 1000) / x["abr"])
    emp_f = np.sqrt(x["pr_f"] / 100 * x["se_f"] / 100)
    emp_m = np.sqrt(x["pr_m"] / 100 * x["se_m"] / 100)
    g_f = (health * emp_f * x["lfpr_f"] / 100) ** (1 / 3)
    g_m = (emp_m * x["lfpr_m"] / 100) ** (1 / 3)
    g_fm = ((health + 1) / 2 * (emp_f + emp_m) / 2 * (x["lfpr_f"] + x["lfpr_m"]) / 200) ** (1 / 3)
    return 1 - 2 / (1 / g_f + 1 / g_m) / g_fm


def _best(run: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(n: int) -> dict[str, float]:
    frame = _data(n)
    groups = pd.DataFrame(index=frame.index)
    columns = {c: frame[c].to_numpy() for c in COLUMNS}
    timed: dict[str, float] = {}
    for name, formula_root in (("formula", True), ("mean", False)):
        framework = _framework(formula_root)
        plan = compile_plan(framework)
        x = frame[list(plan.indicators)].to_numpy(dtype=np.float64)

        def score(f: Framework = framework, p: Any = plan, m: np.ndarray = x) -> Any:
            return f.score_nodes(p, m, frame.index, groups)

        timed[name] = _best(score)
        if formula_root:  # the same numbers as the hand-written arithmetic
            assert np.allclose(score()[:, 0], _hand(columns), rtol=1e-12, equal_nan=True)
    timed["hand"] = _best(lambda: _hand(columns))
    if n <= 100_000:
        framework = _framework(True)
        units = dict.fromkeys(COLUMNS, "dimensionless")
        nominal = framework.compute_values(
            IndicatorValues(frame=frame[COLUMNS], units=units), groups
        )
        spec = {"inputs": [{"indicators": "all", "sd": 0.0}]}
        few, many = (
            _best(
                lambda k=k: run_uncertainty(nominal, spec, n_replicates=k, seed=1, chunk_size=k),
                repeat=2,
            )
            for k in (10, 60)
        )
        timed["mc"] = (many - few) / 50  # one replicate, the engine's set-up excluded
    return timed


def main(sizes: list[int]) -> None:
    for n in sizes:
        timed = _measure(n)
        print(f"rows_{n}.aggregate_over_hand = {timed['formula'] / timed['hand']:.2f}")
        print(f"rows_{n}.formula_root_over_mean_root = {timed['mean'] / timed['formula']:.2f}")
        if "mc" in timed:
            ratio = timed["mc"] / timed["formula"]
            print(f"rows_{n}.monte_carlo_replicate_over_memory = {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 rows only")
    args = parser.parse_args()
    main([10_000] if args.quick else [10_000, 100_000, 1_000_000])
