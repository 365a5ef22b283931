"""Benchmark: a composite index over 10^6 and 10^7 entity-periods × 30 indicators.

One command::

    python benchmarks/bench_dask_index.py           # 10^6 and 10^7 rows
    python benchmarks/bench_dask_index.py --quick   # 10^4 and 10^5 rows (CI smoke run)

The framework is a realistic JRC pipeline over 30 indicators in 5 pillars: screening
(availability >= 0.5), mean imputation, winsorisation by the skewness–kurtosis rule,
pooled min-max to [1, 100], arithmetic pillars and a geometric root. The panel (lognormal
indicators with a heavy tail and 5 % gaps, seeded) is written as Parquet files of whole
entities. For each size it measures:

* ``numpy_pass``: one pass over the matrix (``np.nansum`` of every column), the unit;
* ``pandas``: ``Framework.compute`` on the panel in memory (skipped, with the reason
  printed, when its estimated peak would not fit in the machine's available memory);
* ``hand_pandas``: the same index as a plain pandas script (no screening, imputation or
  treatment, no audit);
* ``dask``: :func:`securindex.engines.dask.compute_dask` on a LocalCluster of 2 worker
  processes, reading the Parquet files and writing the scores as partitioned Parquet. The
  workers first import securindex and build the unit registry, as the process timing the
  in-memory engine has before its timer starts (``dask_worker_warmup_s``: what a cold
  cluster adds once, per worker in parallel).

It prints ``name = value`` lines (times in s), the ratio of each time to one numpy pass and
to the hand-written script, ``dask_over_pandas`` (the aim: at most 1.5 at 10^6 rows), the
partitions per worker (at least 1), the learning passes over the data and the graph size,
each worker's peak memory against its limit, and checks that Dask and pandas give the same
scores where both ran (to 1e-12).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from securindex import Framework, Panel
from securindex.engines.dask import compute_dask

N_INDICATORS = 30
N_PILLARS = 5
N_PERIODS = 10


def framework() -> Framework:
    columns = {
        f"x{j:02d}": {"polarity": "positive" if j % 3 else "negative", "unit": "count"}
        for j in range(N_INDICATORS)
    }
    per = N_INDICATORS // N_PILLARS
    structure = [
        {"id": f"pillar{p}", "children": [f"x{j:02d}" for j in range(p * per, (p + 1) * per)]}
        for p in range(N_PILLARS)
    ]
    return Framework.from_spec(
        {
            "id": "bench_index",
            "columns": columns,
            "pipeline": {
                "screen": {"method": "availability", "min_share": 0.5},
                "impute": {"method": "mean"},
                "treat": {"method": "winsorise", "winmax": 5},
                "normalise": {"method": "minmax", "lo": 1, "hi": 100},
                "aggregate": {"method": "arithmetic"},
            },
            "root": {"aggregate": {"method": "geometric"}},
            "structure": structure,
        }
    )


def write_panel(folder: Path, n_rows: int, seed: int = 11) -> dict[str, Any]:
    """Parquet files of whole entities, about 10^6 rows each; returns the dictionary."""
    rng = np.random.default_rng(seed)
    n_entities = n_rows // N_PERIODS
    per_file = max(1, 1_000_000 // N_PERIODS)
    for k, first in enumerate(range(0, n_entities, per_file)):
        count = min(per_file, n_entities - first)
        rows = count * N_PERIODS
        entity = np.repeat(np.arange(first, first + count), N_PERIODS)
        frame = {"entity": entity, "period": np.tile(np.arange(2011, 2011 + N_PERIODS), count)}
        values = rng.lognormal(0.0, 0.6, (rows, N_INDICATORS))
        values[rng.random((rows, N_INDICATORS)) < 0.0005] *= 50.0  # a heavy tail
        values[rng.random((rows, N_INDICATORS)) < 0.05] = np.nan  # gaps
        for j in range(N_INDICATORS):
            frame[f"x{j:02d}"] = values[:, j]
        pd.DataFrame(frame).to_parquet(folder / f"panel-{k:04d}.parquet", index=False)
    return {
        "entity": "entity",
        "period": "period",
        "variables": {f"x{j:02d}": {"unit": "count"} for j in range(N_INDICATORS)},
    }


def numpy_pass(matrix: np.ndarray) -> float:
    start = time.perf_counter()
    np.nansum(matrix, axis=0)
    return time.perf_counter() - start


def hand_pandas(frame: pd.DataFrame) -> float:
    """The index as a user might write it in pandas: min-max, pillar means, geometric root."""
    start = time.perf_counter()
    x = frame[[f"x{j:02d}" for j in range(N_INDICATORS)]]
    lo, hi = x.min(), x.max()
    scaled = 1 + 99 * (x - lo) / (hi - lo)
    negative = [f"x{j:02d}" for j in range(N_INDICATORS) if j % 3 == 0]
    scaled[negative] = 101 - scaled[negative]
    per = N_INDICATORS // N_PILLARS
    pillars = pd.concat(
        [scaled.iloc[:, p * per : (p + 1) * per].mean(axis=1) for p in range(N_PILLARS)], axis=1
    )
    root = np.exp(np.log(pillars).mean(axis=1))
    _ = root.groupby(frame["period"]).rank(ascending=False, method="min")
    return time.perf_counter() - start


def _peak_rss_mb() -> float:
    """This process's peak resident memory [MiB] (a worker's, through ``client.run``)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def available_mb() -> float:
    try:
        import psutil

        return float(psutil.virtual_memory().available) / 2**20
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return float("inf")


def run_size(n_rows: int, client: Any, root: Path) -> dict[str, Any]:
    folder = root / f"rows-{n_rows}"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    dictionary = write_panel(folder, n_rows)
    out["generate_s"] = time.perf_counter() - start
    matrix_mb = n_rows * N_INDICATORS * 8 / 2**20
    out["matrix_mb"] = matrix_mb
    fw = framework()
    pandas_scores = None
    # the pandas engine holds the panel, the indicator values and four stages of the matrix,
    # plus the file frame while reading: about 8 copies at its peak
    estimate = 8 * matrix_mb
    if estimate < 0.7 * available_mb():
        frame = pd.read_parquet(sorted(folder.glob("panel-*.parquet")))
        matrix = frame[[f"x{j:02d}" for j in range(N_INDICATORS)]].to_numpy()
        out["numpy_pass_s"] = min(numpy_pass(matrix) for _ in range(3))
        del matrix
        out["hand_pandas_s"] = hand_pandas(frame)
        start = time.perf_counter()
        panel = Panel.from_frame(frame, dictionary=dictionary)
        result = fw.compute(panel)
        out["pandas_s"] = time.perf_counter() - start
        pandas_scores = result.table().sort_values(["entity", "period"])["bench_index"].to_numpy()
        del panel, result, frame
    else:
        out["pandas_skipped"] = (
            f"estimated peak {estimate:.0f} MB (8 copies of the {matrix_mb:.0f} MB matrix) "
            f"exceeds 70% of the {available_mb():.0f} MB available"
        )
        # one pass over the same matrix, one file (10^6 rows) at a time
        out["numpy_pass_s"] = 0.0
        for path in sorted(folder.glob("panel-*.parquet")):
            part = pd.read_parquet(path).iloc[:, 2:].to_numpy()
            out["numpy_pass_s"] += min(numpy_pass(part) for _ in range(3))
    start = time.perf_counter()
    result = compute_dask(
        fw,
        str(folder / "panel-*.parquet"),
        dictionary=dictionary,
        client=client,
        by_entity=True,
        ranks="root",
    )
    out["dask_plan_s"] = time.perf_counter() - start
    # the scores only, as before the write gained every stage (the pandas side writes nothing)
    result.write(folder / "results", stages=(), audit=False, include_scores=False)
    out["dask_s"] = time.perf_counter() - start
    out["dask_partitions"] = result.info["npartitions"]
    out["dask_partitions_per_worker"] = result.info["npartitions"] / result.info["workers"]
    out["dask_passes"] = result.info["passes"]
    out["dask_graph_size"] = result.info["graph_size"]
    peaks = client.run(_peak_rss_mb)
    limits = {w: i["memory_limit"] / 2**20 for w, i in client.scheduler_info()["workers"].items()}
    out["dask_worker_peak_mb"] = max(peaks.values())
    out["dask_worker_limit_mb"] = min(limits.values())
    out["dask_workers_under_limit"] = all(peaks[w] < limits[w] for w in peaks)
    if pandas_scores is not None:
        got = (
            pd.read_parquet(folder / "results" / "scores")
            .sort_values(["entity", "period"])["bench_index"]
            .to_numpy()
        )
        out["dask_equals_pandas"] = bool(
            np.allclose(got, pandas_scores, rtol=1e-12, atol=1e-12, equal_nan=True)
        )
    for key in ("pandas_s", "hand_pandas_s", "dask_s"):
        if key in out:
            out[key.replace("_s", "_over_numpy_pass")] = out[key] / out["numpy_pass_s"]
    if "hand_pandas_s" in out:
        out["pandas_over_hand"] = out["pandas_s"] / out["hand_pandas_s"]
        out["dask_over_hand"] = out["dask_s"] / out["hand_pandas_s"]
        out["dask_over_pandas"] = out["dask_s"] / out["pandas_s"]
    shutil.rmtree(folder, ignore_errors=True)
    return out


def _warm_worker() -> None:
    """Import the engine and build the unit registry (once per process)."""
    import securindex.catalogue
    import securindex.engines.dask  # noqa: F401
    from securindex.units import registry

    registry()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--rows", type=int, nargs="*", default=None, help="entity-periods")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = args.rows or ([10_000, 100_000] if args.quick else [1_000_000, 10_000_000])
    from distributed import Client, LocalCluster

    root = Path(tempfile.mkdtemp(prefix="securindex-bench-index-"))
    print(f"n_indicators = {N_INDICATORS}")
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"dask_workers = {args.workers}")
        start = time.perf_counter()
        client.run(_warm_worker)
        print(f"dask_worker_warmup_s = {time.perf_counter() - start:.3f}")
        for n_rows in sizes:
            for key, value in run_size(n_rows, client, root).items():
                text = f"{value:.3f}" if isinstance(value, float) else value
                print(f"rows_{n_rows}_{key} = {text}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
