"""Benchmark: synthetic incident records → the (area × month) panel, pandas vs Dask.

One command::

    python benchmarks/bench_incidents.py            # 10^7 incidents, 10^4 areas, 120 months
    python benchmarks/bench_incidents.py --quick    # 2·10^5 incidents (CI smoke run)

It writes the incidents as Parquet files (seeded, realistic: skewed offence mix, hot-spot
areas, seasonality; see :func:`securindex.datasets.synthetic.synthetic_incidents`), then measures, each
in a fresh process so that peak memory is its own:

* ``pandas_frame``: the pandas engine on the records already loaded in one DataFrame;
* ``pandas_files``: the pandas engine reading the files chunk by chunk;
* ``hand_pandas``: the same job as a plain pandas script (read all, ``groupby().size()``,
  ``unstack``, reindex to the full grid);
* ``dask``: the Dask engine on a LocalCluster of 2 worker processes, each with a memory
  limit below the size of the records in memory, sampling each worker's memory.

It prints ``name = value`` lines (times in s, memory in MB) and checks that every engine
gives the same panel.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from securindex.datasets.synthetic import synthetic_areas, synthetic_incidents
from securindex.incidents import incidents_to_panel

CATEGORIES = {
    "burglaries": ["BU-*"],
    "robberies": ["RO-*"],
    "violence": ["VI-*", "SX-*"],
    "thefts": ["TH-*"],
    "vehicle_crime": ["VE-*"],
    "criminal_damage": ["CD-*"],
    "drug_offences": ["DR-*"],
}


def block(folder: Path, n_months: int) -> dict[str, Any]:
    return {
        "source": str(folder / "incidents-*.parquet"),
        "date": "occurred",
        "offence": "offence",
        "area": "area",
        "grain": "month",
        "periods": {
            "start": "2015-01",
            "end": (pd.Period("2015-01", "M") + (n_months - 1)).strftime("%Y-%m"),
        },
        "areas": {
            "file": str(folder / "areas.csv"),
            "id": "area",
            "variables": {"population": {"unit": "inhabitant"}},
        },
        "variables": {name: {"codes": codes} for name, codes in CATEGORIES.items()},
    }


def generate(
    folder: Path, n_incidents: int, n_areas: int, n_months: int, n_files: int
) -> dict[str, float]:
    """Write the areas and the incident files; return sizes [MB]."""
    rng = np.random.default_rng(20240601)
    areas = synthetic_areas(n_areas, seed=rng)
    areas.to_csv(folder / "areas.csv", index=False)
    memory = 0.0
    needed = 0.0
    per_file = n_incidents // n_files
    statuses = np.array(["recorded", "recorded", "recorded", "no further action", "charged"])
    first_id = 0
    for k, child in enumerate(rng.spawn(n_files)):
        size = per_file if k < n_files - 1 else n_incidents - per_file * (n_files - 1)
        part = synthetic_incidents(size, areas, n_months=n_months, seed=child, points=True)
        needed += part[["occurred", "area", "offence"]].memory_usage(deep=True).sum() / 2**20
        # the other columns of a police export: an id, the outcome (read by nobody here)
        part.insert(0, "incident_id", np.arange(first_id, first_id + size, dtype=np.int64))
        part["outcome"] = statuses[child.integers(0, len(statuses), size)]
        first_id += size
        memory += part.memory_usage(deep=True).sum() / 2**20
        part.to_parquet(folder / f"incidents-{k:03d}.parquet", row_group_size=100_000, index=False)
    disk = sum(p.stat().st_size for p in folder.glob("incidents-*.parquet")) / 2**20
    return {"input_memory_mb": memory, "needed_columns_memory_mb": needed, "input_disk_mb": disk}


# -- the measured jobs, each run in a child process -------------------------------------------
def job_pandas_frame(folder: Path, n_months: int) -> dict[str, Any]:
    start = time.perf_counter()
    frame = pd.read_parquet(sorted(folder.glob("incidents-*.parquet")))
    read = time.perf_counter() - start
    start = time.perf_counter()
    panel, report = incidents_to_panel(block(folder, n_months), frame)
    count = time.perf_counter() - start
    panel.frame.to_parquet(folder / "panel-pandas.parquet")
    return {"read_s": read, "count_s": count, "n_counted": report.n_counted}


def job_pandas_files(folder: Path, n_months: int) -> dict[str, Any]:
    start = time.perf_counter()
    _, report = incidents_to_panel(block(folder, n_months), rows_per_chunk=1_000_000)
    return {"total_s": time.perf_counter() - start, "n_counted": report.n_counted}


def job_hand_pandas(folder: Path, n_months: int) -> dict[str, Any]:
    """What a user would write by hand for the same panel (no report, no checks)."""
    start = time.perf_counter()
    df = pd.read_parquet(sorted(folder.glob("incidents-*.parquet")))
    areas = pd.read_csv(folder / "areas.csv")
    prefix = {code.rstrip("*"): name for name, codes in CATEGORIES.items() for code in codes}
    df["category"] = df["offence"].str[:3].map(prefix)
    df["period"] = df["occurred"].dt.strftime("%Y-%m")
    counts = df.dropna(subset=["category"]).groupby(["area", "period", "category"]).size()
    wide = counts.unstack("category", fill_value=0)
    months = pd.period_range("2015-01", periods=n_months, freq="M").strftime("%Y-%m")
    grid = pd.MultiIndex.from_product([areas["area"], months], names=["area", "period"])
    wide = wide.reindex(grid, fill_value=0)
    return {"total_s": time.perf_counter() - start, "n_counted": int(wide.to_numpy().sum())}


def run_child(name: str, folder: Path, n_months: int) -> dict[str, Any]:
    """Run one job in a fresh interpreter; its peak resident memory is its own."""
    here = str(Path(__file__).parent)
    code = (
        f"import json, resource, sys; sys.path.insert(0, {here!r}); import bench_incidents as b; "
        f"from pathlib import Path; out = b.job_{name}(Path({str(folder)!r}), {n_months}); "
        "out['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        "print(json.dumps(out))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_dask(
    folder: Path, n_months: int, memory_limit_mb: int, workers: int, copies: int = 1
) -> dict[str, Any]:
    """The Dask engine on ``copies`` copies of the files (symbolic links): worker memory
    must not grow with the amount of data."""
    sources = [str(folder / "incidents-*.parquet")]
    for copy in range(1, copies):
        target = folder / f"copy-{copy}"
        target.mkdir(exist_ok=True)
        for path in folder.glob("incidents-*.parquet"):
            link = target / path.name
            if not link.exists():
                link.symlink_to(path)
        sources.append(str(target / "incidents-*.parquet"))
    import dask
    from distributed import Client, LocalCluster

    # nothing is kept in worker memory between tasks, so no spilling; a worker pauses only
    # near its limit (its ~200 MB of imported libraries count against it)
    memory = {"target": False, "spill": False, "pause": 0.9, "terminate": 0.98}
    settings: dict[str, Any] = {f"distributed.worker.memory.{k}": v for k, v in memory.items()}
    # Arrow's default allocator keeps freed buffers; the system one returns them
    settings["distributed.nanny.pre-spawn-environ.ARROW_DEFAULT_MEMORY_POOL"] = "system"
    with (
        dask.config.set(settings),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=f"{memory_limit_mb}MB",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        peaks: dict[str, float] = {}
        stop = threading.Event()

        def sample() -> None:
            import psutil  # noqa: F401 - imported on the workers by the lambda below

            while not stop.is_set():
                try:
                    rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
                except Exception:
                    rss = {}
                for worker, value in rss.items():
                    peaks[worker] = max(peaks.get(worker, 0.0), value / 2**20)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        panel, report = incidents_to_panel(
            block(folder, n_months), sources, engine="dask", client=client, rows_per_chunk=100_000
        )
        elapsed = time.perf_counter() - start
        stop.set()
        sampler.join()
    expected = pd.read_parquet(folder / "panel-pandas.parquet")
    counted = list(CATEGORIES)
    same = bool(
        np.array_equal(panel.frame[counted].to_numpy(), copies * expected[counted].to_numpy())
    )
    return {
        "total_s": elapsed,
        "worker_peak_mb": max(peaks.values()) if peaks else float("nan"),
        "n_counted": report.n_counted,
        "equal_to_pandas": same,
        "balanced": report.balanced,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--areas", type=int, default=None)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="per-worker limit (default: 60%% of the records' in-memory size, >= 450 MB)",
    )
    parser.add_argument("--folder", type=Path, default=None, help="keep the data here")
    args = parser.parse_args()
    n_incidents = args.incidents or (200_000 if args.quick else 10_000_000)
    n_areas = args.areas or (500 if args.quick else 10_000)
    n_months = 24 if args.quick and args.months == 120 else args.months
    folder = args.folder or Path(tempfile.mkdtemp(prefix="securindex-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"n_incidents = {n_incidents}")
    print(f"n_areas = {n_areas}")
    print(f"n_months = {n_months}")
    print(f"n_cells = {n_areas * n_months}")
    start = time.perf_counter()
    sizes = generate(
        folder, n_incidents, n_areas, n_months, n_files=max(2, n_incidents // 1_000_000)
    )
    print(f"generate_s = {time.perf_counter() - start:.2f}")
    print(f"input_memory_mb = {sizes['input_memory_mb']:.0f}")
    print(f"input_disk_mb = {sizes['input_disk_mb']:.0f}")
    for name in ("pandas_frame", "pandas_files", "hand_pandas"):
        out = run_child(name, folder, n_months)
        for key, value in out.items():
            print(
                f"{name}_{key} = {value:.2f}"
                if isinstance(value, float)
                else f"{name}_{key} = {value}"
            )
    print(f"needed_columns_memory_mb = {sizes['needed_columns_memory_mb']:.0f}")
    limit = args.memory_limit_mb or max(450, int(0.6 * sizes["input_memory_mb"]))
    print(f"dask_workers = {args.workers}")
    print(f"dask_memory_limit_per_worker_mb = {limit}")
    for copies in (1, 2):  # twice the records: the same worker memory
        out = run_dask(folder, n_months, limit, args.workers, copies)
        prefix = "dask" if copies == 1 else "dask_2x"
        for key, value in out.items():
            text = f"{value:.2f}" if isinstance(value, float) else value
            print(f"{prefix}_{key} = {text}")
    print(f"dask_limit_below_input = {limit < sizes['input_memory_mb']}")
    print(f"peak_self_mb = {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
