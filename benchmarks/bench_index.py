"""Benchmark: the cost of building a composite index, relative to one pass over its matrix.

Builds a 3-level index (50 indicators → 10 pillars → 5 dimensions → index) over synthetic
panels of 10³, 10⁵ and 10⁶ entity-periods × 50 indicators, and prints for each size
``name = value`` lines:

* ``<size>.build_over_pass``: the time of the full build (screen, impute, treat,
  normalise, weight, aggregate, ranks, audit: ``run_pipeline`` from indicator values to an
  ``IndexResult``) divided by the time of one vectorised numpy pass over the same matrix,
  ``np.nanmean(X, axis=1)`` (best of several runs each);
* ``<size>.peak_memory_over_matrix``: the peak memory allocated during the build
  (``tracemalloc``, the input matrix excluded) divided by the size of the matrix;
* ``<size>.ranks_over_pass``: the ranks of every node within each period, which a result
  computes on first use (``IndexResult.ranks``, one sort per node and period), in the same
  unit.

The aim at 10⁶ entity-periods is a build of at most 20 passes and a peak of at most 4
matrices. The synthetic data are realistic for the treatment step, which dominates: 5 of the
50 indicators are heavy-tailed (log-normal, they fail the skewness–kurtosis rule, are
winsorised up to 5 points and then log-transformed), 0.5 % of the values are missing
(aggregation renormalises the weights over the present children).

Then the figures of issue #10, against a hand-written pandas script of the same index measured
in the same run (30 indicators in 5 pillars, min-max to [1, 100] with polarities, pillar
means, a geometric root, ranks of the root within each period), at 10⁵, 10⁶ and 3·10⁶ rows:

* ``hand.rows_<n>.full_over_hand``: ``run_pipeline`` with the full pipeline (screening,
  mean imputation, JRC winsorisation, the audit) and the ranks, over the script's time (aim
  at 10⁶: at most 4);
* ``hand.rows_<n>.own_steps_over_hand``: the same framework with the script's steps only
  (no screening, imputation or treatment) (aim at 10⁶: at most 1.5);
* ``hand.rows_<n>.peak_memory_over_matrix``: the full build's peak (``tracemalloc``) over the
  matrix (aim: at most 2.5);
* ``hand.scaling_exponent``: the slope of log(time) on log(rows) of the full build from 10⁵
  to 3·10⁶ rows (aim: at most 1.05).

Run ``python benchmarks/bench_index.py`` (``--quick`` for a CI-sized run of 10³ and 10⁴
rows; ``--sizes 1000 100000`` for chosen sizes; ``--hand-sizes`` for the issue's figures).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from securindex.catalogue import IndicatorValues
from securindex.framework import Framework
from securindex.pipeline import run_pipeline
from securindex.result import rank_within_periods

N_INDICATORS = 50
N_PERIODS = 5
N_PILLARS = 10
N_DIMENSIONS = 5
HEAVY = 5
MISSING = 0.005


def synthetic_values(n_rows: int, seed: int = 0) -> IndicatorValues:
    """A panel of ``n_rows`` entity-periods × 50 indicators, float64, column-major."""
    rng = np.random.default_rng(seed)
    n_entities = max(1, n_rows // N_PERIODS)
    entity = np.repeat(np.arange(n_entities), N_PERIODS)[:n_rows]
    period = np.tile(np.arange(2015, 2015 + N_PERIODS), n_entities)[:n_rows]
    x = np.empty((n_rows, N_INDICATORS), order="F")
    x[:, :HEAVY] = rng.lognormal(mean=0.0, sigma=1.5, size=(n_rows, HEAVY))
    x[:, HEAVY:] = rng.normal(loc=50.0, scale=10.0, size=(n_rows, N_INDICATORS - HEAVY))
    holes = rng.random((n_rows, N_INDICATORS)) < MISSING
    x[holes] = np.nan
    index = pd.MultiIndex.from_arrays([entity, period], names=["entity", "period"])
    codes = [f"i{k:02d}" for k in range(N_INDICATORS)]
    frame = pd.DataFrame(x, index=index, columns=codes, copy=False)
    return IndicatorValues(frame=frame, units=dict.fromkeys(codes, "dimensionless"))


def framework() -> Framework:
    """The 3-level benchmark framework (JRC treatment, min-max, arithmetic means)."""
    codes = [f"i{k:02d}" for k in range(N_INDICATORS)]
    per_pillar = N_INDICATORS // N_PILLARS
    pillars = [
        {"id": f"p{p}", "children": codes[p * per_pillar : (p + 1) * per_pillar]}
        for p in range(N_PILLARS)
    ]
    per_dimension = N_PILLARS // N_DIMENSIONS
    dimensions = [
        {
            "id": f"d{d}",
            "children": [f"p{p}" for p in range(d * per_dimension, (d + 1) * per_dimension)],
        }
        for d in range(N_DIMENSIONS)
    ]
    spec = {
        "id": "bench",
        "columns": {
            c: {"polarity": "positive" if k % 3 else "negative"} for k, c in enumerate(codes)
        },
        "pipeline": {
            "screen": {"method": "availability", "min_share": 0.5},
            "impute": {"method": "none"},
            "treat": {"method": "winsorise", "winmax": 5, "fallback": "log_CT"},
            "normalise": {"method": "minmax", "lo": 0, "hi": 100, "reference": "pooled"},
            "weight": {"method": "explicit"},
            "aggregate": {"method": "arithmetic"},
        },
        "structure": dimensions + pillars,
    }
    return Framework.from_spec(spec)


def _best(func: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n_rows: int, repeats: int) -> dict[str, float]:
    """Time and peak memory of one build over ``n_rows`` entity-periods."""
    fw = framework()
    values = synthetic_values(n_rows)
    groups = pd.DataFrame(index=values.frame.index)
    x = values.frame.to_numpy()  # the matrix the pipeline reads (a view)
    np.nanmean(x, axis=1)  # warm up the allocator, as the build's own first pass would
    one_pass = _best(lambda: np.nanmean(x, axis=1), max(3, repeats))
    build = _best(lambda: run_pipeline(fw, values, groups), repeats)
    gc.collect()
    tracemalloc.start()
    result = run_pipeline(fw, values, groups)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.scores.shape == (n_rows, 1 + N_DIMENSIONS + N_PILLARS)
    scores = result.scores.to_numpy()
    codes = pd.factorize(result.scores.index.get_level_values("period"), sort=True)[0]
    ranks = _best(lambda: rank_within_periods(scores, codes), repeats)
    return {
        "build_seconds": build,
        "pass_seconds": one_pass,
        "build_over_pass": build / one_pass,
        "peak_memory_mib": peak / 2**20,
        "matrix_mib": x.nbytes / 2**20,
        "peak_memory_over_matrix": peak / x.nbytes,
        "ranks_over_pass": ranks / one_pass,
    }


# --------------------------------------------------------------------------------------
# Against a hand-written pandas script (issue #10)
# --------------------------------------------------------------------------------------

HAND_INDICATORS = 30
HAND_PILLARS = 5


def hand_values(n_rows: int, seed: int = 11) -> IndicatorValues:
    """Log-normal indicators with a heavy tail and 5 % gaps, 10 periods per entity."""
    rng = np.random.default_rng(seed)
    n_periods = 10
    n_entities = max(1, n_rows // n_periods)
    entity = np.repeat(np.arange(n_entities), n_periods)[:n_rows]
    period = np.tile(np.arange(2011, 2011 + n_periods), n_entities)[:n_rows]
    x = rng.lognormal(0.0, 0.6, (n_rows, HAND_INDICATORS))
    x[rng.random(x.shape) < 0.0005] *= 50.0
    x[rng.random(x.shape) < 0.05] = np.nan
    index = pd.MultiIndex.from_arrays([entity, period], names=["entity", "period"])
    codes = [f"x{j:02d}" for j in range(HAND_INDICATORS)]
    frame = pd.DataFrame(np.asfortranarray(x), index=index, columns=codes, copy=False)
    return IndicatorValues(frame=frame, units=dict.fromkeys(codes, "dimensionless"))


def hand_framework(*, full: bool) -> Framework:
    """The index of the hand script; ``full`` adds screening, imputation and treatment."""
    codes = [f"x{j:02d}" for j in range(HAND_INDICATORS)]
    per = HAND_INDICATORS // HAND_PILLARS
    pipeline: dict[str, Any] = {
        "normalise": {"method": "minmax", "lo": 1, "hi": 100},
        "aggregate": {"method": "arithmetic"},
    }
    if full:
        pipeline.update(
            screen={"method": "availability", "min_share": 0.5},
            impute={"method": "mean"},
            treat={"method": "winsorise", "winmax": 5},
        )
    return Framework.from_spec(
        {
            "id": "hand",
            "columns": {c: "positive" if j % 3 else "negative" for j, c in enumerate(codes)},
            "pipeline": pipeline,
            "root": {"aggregate": {"method": "geometric"}},
            "structure": [
                {"id": f"pillar{p}", "children": codes[p * per : (p + 1) * per]}
                for p in range(HAND_PILLARS)
            ],
        }
    )


def hand_script(frame: pd.DataFrame) -> pd.Series:
    """The index as a user would write it in pandas (no screening, imputation, treatment)."""
    lo, hi = frame.min(), frame.max()
    scaled = 1 + 99 * (frame - lo) / (hi - lo)
    negative = [c for j, c in enumerate(frame.columns) if j % 3 == 0]
    scaled[negative] = 101 - scaled[negative]
    per = HAND_INDICATORS // HAND_PILLARS
    pillars = pd.concat(
        [scaled.iloc[:, p * per : (p + 1) * per].mean(axis=1) for p in range(HAND_PILLARS)],
        axis=1,
    )
    root = np.exp(np.log(pillars).mean(axis=1))
    return root.groupby(level="period").rank(ascending=False, method="min")


def hand_figures(n_rows: int, repeats: int) -> dict[str, float]:
    values = hand_values(n_rows)
    groups = pd.DataFrame(index=values.frame.index)
    full, own = hand_framework(full=True), hand_framework(full=False)

    def build(framework: Framework) -> None:
        result = run_pipeline(framework, values, groups)
        _ = result.ranks

    hand = _best(lambda: hand_script(values.frame), repeats)
    full_s = _best(lambda: build(full), repeats)
    own_s = _best(lambda: build(own), repeats)
    # the script's own steps give the script's scores
    result = run_pipeline(own, values, groups)
    expected = np.exp(
        np.log(result.scores[[f"pillar{p}" for p in range(HAND_PILLARS)]]).mean(axis=1)
    )
    assert np.allclose(result.scores["hand"], expected, rtol=1e-12, equal_nan=True)
    gc.collect()
    tracemalloc.start()
    run_pipeline(full, values, groups)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "hand_seconds": hand,
        "full_seconds": full_s,
        "own_steps_seconds": own_s,
        "full_over_hand": full_s / hand,
        "own_steps_over_hand": own_s / hand,
        "peak_memory_over_matrix": peak / values.frame.to_numpy().nbytes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run: 10^3 and 10^4 rows")
    parser.add_argument("--sizes", type=int, nargs="*", help="numbers of entity-periods")
    parser.add_argument(
        "--hand-sizes", type=int, nargs="*", help="sizes for the figures against the script"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1_000, 10_000] if args.quick else [1_000, 100_000, 1_000_000])
    for n_rows in sizes:
        repeats = 5 if n_rows <= 100_000 else 2
        figures = measure(n_rows, repeats)
        for name, value in figures.items():
            print(f"rows_{n_rows}.{name} = {value:.4g}")
        if n_rows >= 1_000_000:
            ok = figures["build_over_pass"] <= 20 and figures["peak_memory_over_matrix"] <= 4
            print(f"rows_{n_rows}.meets_aim = {ok}")
    hand_sizes = args.hand_sizes or (
        [10_000, 30_000, 100_000] if args.quick else [100_000, 1_000_000, 3_000_000]
    )
    times = []
    for n_rows in hand_sizes:
        figures = hand_figures(n_rows, 3 if n_rows <= 100_000 else 1)
        times.append(figures["full_seconds"])
        for name, value in figures.items():
            print(f"hand.rows_{n_rows}.{name} = {value:.4g}")
    if len(hand_sizes) > 1:
        slope = np.polyfit(np.log(hand_sizes), np.log(times), 1)[0]
        print(f"hand.scaling_exponent = {slope:.3f}")


if __name__ == "__main__":
    main()
