"""The installed package, as an analyst uses it: a non-editable ``pip install .`` into a fresh
virtual environment, every command run from an empty folder outside the checkout.

First on a core install (no extras: the demo writes its results and says the report was
skipped; commands needing an extra fail at once with one line), then with the ``report``
extra's packages added (the demo and ``securindex report`` write the HTML report).
"""

from __future__ import annotations

import os
import subprocess
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install <checkout>`` (core only)."""
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not run from a checkout")
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir", str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return env_dir


@pytest.fixture(scope="module")
def run(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run the installed ``securindex`` in an empty folder outside the checkout."""
    cwd = tmp_path_factory.mktemp("empty")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def invoke(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(installed / "bin" / "securindex"), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        return done

    invoke.cwd = cwd  # type: ignore[attr-defined]
    invoke.python = str(installed / "bin" / "python")  # type: ignore[attr-defined]
    return invoke


def test_the_installed_package_is_not_the_checkout(installed: Path) -> None:
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import securindex; print(securindex.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed,
    ).stdout.strip()
    assert str(installed) in where and str(ROOT) not in where


def test_every_command_on_a_core_install(run: Run) -> None:
    cwd: Path = run.cwd  # type: ignore[attr-defined]
    assert run("--version").stdout.startswith("securindex ")
    listing = run("--help").stdout
    commands = [
        "validate", "schema", "examples", "indicators", "catalogue", "compute", "demo",
        "evaluate", "report", "analyse", "uncertainty", "scale", "incidents",
    ]  # fmt: skip
    for command in commands:
        assert command in listing
        assert "Usage" in run(command, "--help").stdout
    for sub in ("panel", "report"):
        assert "Usage" in run("incidents", sub, "--help").stdout

    demo = run("demo")
    assert "HTML report skipped" in demo.stdout
    results = cwd / "securindex-results"
    assert (results / "scores.csv").exists() and not (results / "report.html").exists()

    assert "iusi" in run("examples").stdout
    assert "OK" in run("validate", "iusi").stdout
    assert '"formula"' in run("schema").stdout
    assert "homicide_rate" in run("catalogue", "crime").stdout
    run("compute", "iusi", "uci_communities", "-o", "scores.csv")
    assert (cwd / "scores.csv").read_text().count("\n") == 2216
    assert "skipped" in run("indicators", "uci_communities", "-o", "values.csv").stdout
    run("evaluate", "berlin_drug_enforcement")
    assert (results / "evaluation").is_dir()
    run("analyse", "iusi", "uci_communities")
    assert (results / "coherence" / "cronbach.csv").exists()
    run("uncertainty", "iusi", "uci_communities", "-n", "64", "--seed", "1")
    assert (results / "uncertainty").is_dir()
    run("scale", "iusi", str(_example_csv(run)), "-o", "scaled")
    assert (cwd / "scaled" / "scores.csv").exists()

    # an extra that is missing: one line, before any work, nothing written
    for args, extra in (
        (("report",), "'report' extra"),
        (("compute", "iusi", "uci_communities", "-o", "x.parquet"), "'parquet' extra"),
        (("uncertainty", "iusi", "uci_communities", "--sobol", "-o", "sobol"), "'sensitivity'"),
    ):
        failed = run(*args, check=False)
        assert failed.returncode == 1
        assert extra in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    assert not (cwd / "x.parquet").exists() and not (cwd / "sobol").exists()


def _example_csv(run: Run) -> Path:
    """The shipped UCI data written as a plain CSV with its dictionary beside it."""
    cwd: Path = run.cwd  # type: ignore[attr-defined]
    target = cwd / "communities.csv"
    script = (
        "import shutil, sys\n"
        "from securindex.datasets import read_example_frame, example_dir\n"
        "read_example_frame('uci_communities').to_csv(sys.argv[1], index=False)\n"
        "shutil.copy(str(example_dir('uci_communities') / 'dictionary.yaml'), sys.argv[2])\n"
    )
    dictionary = cwd / "communities.dictionary.yaml"
    subprocess.run([run.python, "-c", script, target, dictionary], cwd=cwd, check=True)  # type: ignore[attr-defined]
    return target


def test_the_report_extra_writes_the_report(installed: Path, run: Run) -> None:
    subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "matplotlib",
            "jinja2",
        ],
        check=True,
        capture_output=True,
    )
    cwd: Path = run.cwd  # type: ignore[attr-defined]
    demo = run("demo", "-o", "with-report")
    assert "HTML report skipped" not in demo.stdout
    assert (cwd / "with-report" / "report.html").stat().st_size > 10_000
    run("report", "with-report", "-o", "again.html")
    assert (cwd / "again.html").exists()
