"""Benchmark: the vectorised Monte-Carlo uncertainty analysis against re-building the index.

COINr's uncertainty and sensitivity analysis re-builds the whole index for every replicate
(about 0.1 s each on the ASEM example: 10 000 replicates take about 17 minutes). securindex
decodes chunks of replicates at once (see ``securindex.analysis.uncertainty``). This script
runs the same kind of analysis as COINr's ASEM example — imputation (group mean or group
median), normalisation (min-max to [1, 100] or z-scores with mean 10 and sd 2; sd 1 over
10 000 entities, where sd 2 reaches 0), uniform
weight noise of 25 % at every node and arithmetic or geometric aggregation at every node —
and prints ``name = value`` lines for

* ``asem``: COINr's ASEM index (51 countries × 49 indicators, 8 pillars, 2 sub-indices),
  from ``indicators/examples/asem.yaml`` and the COINr data when both are present, else a
  synthetic framework and panel of the same shape (``asem.data`` says which);
* ``entities_10000``: the same framework shape over 10 000 synthetic entities;

with, for N = 1 000 and 10 000 replicates: ``seconds``, ``replicates_per_second`` and
``peak_memory_mib`` (tracemalloc, a separate run); and ``naive_seconds_per_replicate`` (a
full pipeline run per replicate — the framework variant plus ``run_pipeline`` — timed on
``--naive`` replicates and extrapolated), ``speedup_over_naive`` and, for ASEM,
``speedup_over_coinr`` (at COINr's 0.1 s per replicate).

The aim: 10 000 ASEM replicates in under 2 s on 2 cores (>= 500 times COINr) and >= 50 times
the naive loop; memory bounded by the chunk size, not by N.

Run ``python benchmarks/bench_uncertainty.py`` (``--quick``: N = 1 000 only, small naive
sample).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from securindex.analysis.uncertainty import (
    ReplicateEngine,
    UncertaintySpec,
    _rebuild,
    run_uncertainty,
)
from securindex.dataset import Panel
from securindex.framework import Framework
from securindex.result import IndexResult

ROOT = Path(__file__).resolve().parents[1]
ASEM_FRAMEWORK = ROOT / "indicators" / "examples" / "asem.yaml"
ASEM_DATA = ROOT.parent / "shared" / "data" / "coinr_asem" / "ASEM_iData.csv"  # ../shared/data
COINR_SECONDS_PER_REPLICATE = 0.1

PILLARS = {  # the ASEM shape: pillar -> number of indicators, sub-index of each pillar
    "Physical": (8, "Conn"),
    "ConEcFin": (5, "Conn"),
    "Political": (3, "Conn"),
    "Instit": (6, "Conn"),
    "P2P": (8, "Conn"),
    "Environ": (5, "Sust"),
    "Social": (9, "Sust"),
    "SusEcFin": (5, "Sust"),
}


def spec(group: str, sd: float = 2.0) -> UncertaintySpec:
    """COINr's ASEM sensitivity example, written as an uncertainty block.

    z-scores are rescaled to mean 10 and standard deviation ``sd`` (COINr: 2), which keeps
    them positive for the geometric mean unless a value lies more than 10/sd sd below the
    mean; over 10 000 entities a smaller ``sd`` is needed.
    """
    return UncertaintySpec.model_validate(
        {
            "impute": [
                {"method": "mean", "group": group},
                {"method": "median", "group": group},
            ],
            "normalise": [
                {"method": "minmax", "lo": 1, "hi": 100},
                {"method": "zscore", "mean": 10, "sd": sd},
            ],
            "weights": {"noise": 0.25},
            "aggregate": {"all": [{"method": "arithmetic"}, {"method": "geometric"}]},
        }
    )


def synthetic(n_entities: int, seed: int = 0) -> IndexResult:
    """A framework of the ASEM shape over log-normal data with 2.5 % missing values."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    structure: list[dict[str, Any]] = []
    k = 0
    for pillar, (size, _) in PILLARS.items():
        codes = [f"i{k + j:02d}" for j in range(size)]
        k += size
        for j, code in enumerate(codes):
            columns[code] = {"polarity": "negative" if j % 4 == 3 else "positive"}
        structure.append({"id": pillar, "children": codes})
    for sub in ("Conn", "Sust"):
        structure.append({"id": sub, "children": [p for p, (_, s) in PILLARS.items() if s == sub]})
    framework = Framework.from_spec(
        {
            "id": "Index",
            "columns": columns,
            "pipeline": {
                "impute": {"method": "mean", "group": "region"},
                "treat": {"method": "winsorise", "winmax": 5, "fallback": "log_CT"},
                "normalise": {"method": "minmax", "lo": 0, "hi": 100},
            },
            "structure": structure,
        }
    )
    frame = pd.DataFrame(rng.lognormal(size=(n_entities, len(columns))), columns=list(columns))
    frame = frame.mask(rng.random(frame.shape) < 0.025)
    frame["entity"] = [f"e{i:05d}" for i in range(n_entities)]
    frame["region"] = np.where(np.arange(n_entities) % 5 < 3, "north", "south")
    dictionary = {
        "entity": "entity",
        "period": None,
        "groups": ["region"],
        "variables": {c: {"unit": "dimensionless"} for c in columns},
    }
    return framework.compute(Panel.from_frame(frame, dictionary=dictionary))


def asem() -> tuple[IndexResult, str, str]:
    """The ASEM index over COINr's data, or the synthetic stand-in."""
    if ASEM_FRAMEWORK.exists() and ASEM_DATA.exists():
        framework = Framework.load(ASEM_FRAMEWORK)
        panel = Panel.read(ASEM_DATA, dictionary=framework.dictionary_path)
        return framework.compute(panel), "EurAsia_group", "coinr"
    return synthetic(51), "region", "synthetic"


def timed(nominal: IndexResult, block: UncertaintySpec, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run_uncertainty(nominal, block, n_replicates=n, seed=1)
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory(nominal: IndexResult, block: UncertaintySpec, n: int) -> float:
    gc.collect()
    tracemalloc.start()
    run_uncertainty(nominal, block, n_replicates=n, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def naive_seconds(nominal: IndexResult, block: UncertaintySpec, n: int) -> float:
    """Seconds per replicate of the full pipeline re-run (framework variant + pipeline)."""
    engine = ReplicateEngine(nominal, block)
    points = engine.draw(engine.streams(1), n)
    _rebuild(engine, points[0])  # warm up
    start = time.perf_counter()
    for point in points:
        _rebuild(engine, point)
    return (time.perf_counter() - start) / n


def report(
    name: str,
    nominal: IndexResult,
    block: UncertaintySpec,
    sizes: list[int],
    n_naive: int,
    *,
    coinr: bool = False,
) -> None:
    print(f"{name}.entities = {len(nominal.raw)}")
    print(f"{name}.indicators = {len(nominal.framework.indicators)}")
    naive = naive_seconds(nominal, block, n_naive)
    print(f"{name}.naive_seconds_per_replicate = {naive:.4g}")
    for n in sizes:
        seconds = timed(nominal, block, n, repeats=3 if n <= 1000 else 2)
        print(f"{name}.n_{n}.seconds = {seconds:.4g}")
        print(f"{name}.n_{n}.replicates_per_second = {n / seconds:.4g}")
        print(f"{name}.n_{n}.speedup_over_naive = {naive * n / seconds:.4g}")
        if coinr:  # COINr's 0.1 s per replicate is for the ASEM size
            ratio = COINR_SECONDS_PER_REPLICATE * n / seconds
            print(f"{name}.n_{n}.speedup_over_coinr = {ratio:.4g}")
        print(f"{name}.n_{n}.peak_memory_mib = {peak_memory(nominal, block, n):.4g}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1 000 only, 10 naive runs")
    parser.add_argument("--naive", type=int, default=50, help="naive replicates to time")
    args = parser.parse_args(argv)
    sizes = [1000] if args.quick else [1000, 10_000]
    n_naive = 10 if args.quick else args.naive

    nominal, group, source = asem()
    print(f"asem.data = {source}")
    report("asem", nominal, spec(group), sizes, n_naive, coinr=True)
    if not args.quick:
        seconds = timed(nominal, spec(group), 10_000, repeats=2)
        print(f"asem.meets_aim_2s = {seconds < 2.0}")
    big = synthetic(10_000, seed=1)
    report("entities_10000", big, spec("region", sd=1.0), sizes, max(3, n_naive // 10))


if __name__ == "__main__":
    main()
