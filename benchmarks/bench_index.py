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

Run ``python benchmarks/bench_index.py`` (``--quick`` for a CI-sized run of 10³ and 10⁴
rows; ``--sizes 1000 100000`` for chosen sizes).
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run: 10^3 and 10^4 rows")
    parser.add_argument("--sizes", type=int, nargs="*", help="numbers of entity-periods")
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


if __name__ == "__main__":
    main()
