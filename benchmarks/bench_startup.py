"""Benchmark: a fast start and a fast small build (issue 14, item 7).

Prints ``name = value`` lines, every ratio against a baseline measured in the same run:

* ``import.securindex_over_pandas``: wall time of ``python -c "import securindex"`` over
  ``python -c "import pandas"``, each in a fresh interpreter, run alternately (best of
  ``--repeats``); the aim is at most 1.3. ``import.build_api_over_pandas`` does the same
  for ``from securindex import Framework, Panel`` followed by touching what a build uses
  (the framework, pipeline and dataset modules), which is what a script pays;
  ``import.cli_help_over_pandas`` for ``securindex --help``.
* ``asem.build_ms``: one in-process build of COINr's ASEM example (``Framework.compute``
  on the 51 × 49 panel: indicators, screening, imputation, treatment, normalisation,
  weights, aggregation, ranks, audit), best of ``--repeats`` after one warm-up; the aim is
  at most 10 ms. ``asem.load_ms`` is ``Framework.load`` (YAML read, validation, catalogue;
  ``asem.first_load_ms`` the first one in the process, which builds the unit registry)
  and ``asem.parse_unit_calls_per_build`` counts unit parses per build (cached: only the
  first build parses).
* ``cli.asem_compute_s``: a one-shot ``securindex compute asem ASEM_iData.csv -o x.csv``
  (fresh interpreter, wall time, best of ``--repeats``) and ``cli.asem_compute_over_import
  _pandas`` relative to ``import pandas``; with R and COINr installed, also
  ``cli.asem_compute_over_rscript_coinr`` against ``Rscript`` building the same index with
  COINr (``new_coin`` + ``Normalise`` + ``Aggregate``); the aim is at most 1.0.

The ASEM data are COINr's example files in ``../shared/data/coinr_asem`` (see the tests);
without them the ASEM lines say so. Run ``python benchmarks/bench_startup.py``
(``--repeats 3`` for a quicker run).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASEM = ROOT.parent / "shared" / "data" / "coinr_asem" / "ASEM_iData.csv"  # ../shared/data

BUILD_API = (
    "from securindex import Framework, Panel\n"
    "import securindex.pipeline, securindex.result, securindex.dataset, securindex.catalogue"
)

R_SCRIPT = """
suppressMessages(library(COINr))
coin <- new_coin(ASEM_iData, ASEM_iMeta, quietly = TRUE)
coin <- Normalise(coin, dset = "Raw", quietly = TRUE)
coin <- Aggregate(coin, dset = "Normalised", quietly = TRUE)
write.csv(get_dset(coin, "Aggregated"), "coinr.csv")
"""


def _wall(command: list[str], *, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def _alternate(
    commands: dict[str, list[str]], repeats: int, cwd: Path | None = None
) -> dict[str, float]:
    """Best wall time of each command, the commands run in turn so load affects all alike."""
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(repeats):
        for name, command in commands.items():
            best[name] = min(best[name], _wall(command, cwd=cwd))
    return best


def bench_import(repeats: int) -> None:
    python = sys.executable
    script = shutil.which("securindex") or str(Path(python).with_name("securindex"))
    times = _alternate(
        {
            "pandas": [python, "-c", "import pandas"],
            "securindex": [python, "-c", "import securindex"],
            "build_api": [python, "-c", BUILD_API],
            "cli_help": [script, "--help"],
        },
        repeats,
    )
    print(f"import.pandas_s = {times['pandas']:.3f}")
    print(f"import.securindex_s = {times['securindex']:.3f}")
    print(f"import.securindex_over_pandas = {times['securindex'] / times['pandas']:.2f}")
    print(f"import.build_api_over_pandas = {times['build_api'] / times['pandas']:.2f}")
    print(f"import.cli_help_over_pandas = {times['cli_help'] / times['pandas']:.2f}")


def bench_asem_in_process(repeats: int) -> None:
    from securindex import Framework, Panel, units

    start = time.perf_counter()
    framework = Framework.load("asem")
    load_first = time.perf_counter() - start
    load = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        Framework.load("asem")
        load = min(load, time.perf_counter() - start)
    panel = Panel.read(ASEM, dictionary=framework.dictionary_path)
    before = units._parse_unit.cache_info()
    framework.compute(panel)  # warm-up: first parses of every unit
    first = units._parse_unit.cache_info()
    best = float("inf")
    for _ in range(max(repeats, 5)):
        start = time.perf_counter()
        framework.compute(panel)
        best = min(best, time.perf_counter() - start)
    after = units._parse_unit.cache_info()
    n_builds = max(repeats, 5)
    print(f"asem.first_load_ms = {load_first * 1e3:.1f}")
    print(f"asem.load_ms = {load * 1e3:.1f}")
    print(f"asem.build_ms = {best * 1e3:.1f}")
    print(
        f"asem.parse_unit_calls_per_build = {(after.hits + after.misses - first.hits - first.misses) / n_builds:.0f}"
    )
    print(
        f"asem.parse_unit_parses_per_build_after_the_first = {(after.misses - first.misses) / n_builds:.0f}"
    )
    print(f"asem.parse_unit_parses_first_build = {first.misses - before.misses}")


def bench_cli(repeats: int) -> None:
    python = sys.executable
    script = shutil.which("securindex") or str(Path(python).with_name("securindex"))
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        commands = {
            "pandas": [python, "-c", "import pandas"],
            "compute": [script, "compute", "asem", str(ASEM), "-o", "x.csv", "-q"],
        }
        rscript = shutil.which("Rscript")
        has_coinr = (
            rscript is not None
            and subprocess.run(
                [rscript, "-e", "library(COINr)"], capture_output=True, check=False
            ).returncode
            == 0
        )
        if has_coinr:
            (cwd / "build.R").write_text(R_SCRIPT)
            commands["rscript"] = [str(rscript), "build.R"]
        times = _alternate(commands, repeats, cwd=cwd)
    print(f"cli.asem_compute_s = {times['compute']:.3f}")
    print(f"cli.asem_compute_over_import_pandas = {times['compute'] / times['pandas']:.2f}")
    if has_coinr:
        print(f"cli.rscript_coinr_s = {times['rscript']:.3f}")
        print(f"cli.asem_compute_over_rscript_coinr = {times['compute'] / times['rscript']:.2f}")
    else:
        print("cli.asem_compute_over_rscript_coinr = n/a (Rscript with COINr not installed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    bench_import(args.repeats)
    if not ASEM.exists():
        print(f"asem = n/a ({ASEM} not found)")
        return
    bench_asem_in_process(args.repeats)
    bench_cli(args.repeats)


if __name__ == "__main__":
    main()
