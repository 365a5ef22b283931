"""The command line's conventions, held for every command (the table in
``securindex._console``): ``--help`` works, ``-q``/``-v`` everywhere, ``-o`` semantics,
``--version``, one meaning per short flag, shipped things by name, extras checked first."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from securindex import _extras
from securindex.cli import app

runner = CliRunner()


def _commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    root = typer.main.get_command(app)  # typer vendors click: duck-typed below

    def walk(prefix: tuple[str, ...], command: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
        yield prefix, command
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk((*prefix, name), sub)

    yield from walk((), root)


COMMANDS = [path for path, _ in _commands()]
LEAVES = [(path, cmd) for path, cmd in _commands() if not hasattr(cmd, "commands")]


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path in COMMANDS}
    expected = {"compute", "demo", "examples", "report", "uncertainty", "incidents panel", "scale"}
    assert expected <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "securindex")
def test_every_command_help_works(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "Traceback" not in result.output


def _options(command: Any) -> dict[str, list[str]]:
    return {p.name or "": list(p.opts) for p in command.params if p.param_type_name == "option"}


@pytest.mark.parametrize("path,command", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_follows_the_option_table(path: tuple[str, ...], command: Any) -> None:
    options = _options(command)
    assert options["quiet"] == ["--quiet", "-q"]
    assert options["verbose"] == ["--verbose", "-v"]
    meanings = {
        "-o": "--output",
        "-d": "--dictionary",
        "-c": "--catalogue",
        "-i": "--indicator",
        "-e": "--entity",
        "-n": "--replicates",
        "-q": "--quiet",
        "-v": "--verbose",
    }
    for opts in options.values():
        short = [o for o in opts if not o.startswith("--")]
        long = [o for o in opts if o.startswith("--")]
        for flag in short:
            assert flag in meanings, (path, opts)
            assert meanings[flag] in long, (path, opts)
    if "output" in options:
        assert "-o" in options["output"]
        output = next(p for p in command.params if p.name == "output")
        assert not output.required, f"{path}: -o has a default everywhere"
    if "engine" in options:
        assert options["engine"] == ["--engine"]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"securindex {version('securindex')}"


def test_completion_is_enabled() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.output


def test_version_has_one_source() -> None:
    import securindex

    assert securindex.__version__ == version("securindex")


# -- -o semantics ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["compute", "iusi", "uci_communities", "-o", "scores.xlsx"],
        ["indicators", "uci_communities", "-o", "values.json"],
        ["demo", "-o", "results.csv"],
        ["analyse", "iusi", "uci_communities", "-o", "x.txt"],
        ["uncertainty", "iusi", "uci_communities", "-o", "x.csv"],
        ["report", "-o", "report.pdf"],
    ],
)
def test_unknown_output_suffix_is_an_error_before_any_work(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "unknown output type" in result.stderr or "give a" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a folder


def test_output_file_where_a_folder_exists_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "out.csv").mkdir()
    result = runner.invoke(
        app, ["compute", "iusi", "uci_communities", "-o", str(tmp_path / "out.csv")]
    )
    assert result.exit_code == 1
    assert "existing folder" in result.stderr


# -- shipped things by name, from any folder --------------------------------------------------
def test_compute_by_shipped_names_from_an_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compute", "iusi", "uci_communities", "-o", "scores.csv"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 2215
    default = runner.invoke(app, ["compute", "iusi", "uci_communities", "-q"])
    assert default.exit_code == 0, default.output
    assert default.stdout == ""  # -q: errors only
    assert (tmp_path / "securindex-results" / "scores.csv").exists()


def test_unknown_shipped_name_suggests_the_closest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compute", "iusy", "uci_communities"])
    assert result.exit_code == 1
    assert "did you mean 'iusi'" in result.stderr
    result = runner.invoke(app, ["compute", "iusi", "uci_comunities"])
    assert result.exit_code == 1
    assert "no such file, nor a shipped dataset" in result.stderr


def test_evaluate_a_shipped_job_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["evaluate", "berlin_drug_enforcement", "--no-plots"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "securindex-results" / "evaluation").iterdir())
    assert written, "the evaluation tables are written by default"


def test_examples_lists_every_kind() -> None:
    result = runner.invoke(app, ["examples"])
    assert result.exit_code == 0, result.output
    for name in ("iusi", "uci_communities", "berlin_drug_enforcement", "crime"):
        assert name in result.stdout


def test_indicators_over_the_shipped_catalogue_computes_what_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["indicators", "uci_communities", "-o", "values.csv"])
    assert result.exit_code == 0, result.output
    values = pd.read_csv(tmp_path / "values.csv")
    computed = [c for c in values.columns if c not in ("entity", "period")]
    assert "homicide_rate" in computed
    assert "feeling_safe_night" not in computed  # a survey indicator: no input in these data
    assert "skipped" in result.stdout and "feeling_safe_night: missing variable(s)" in result.stdout


# -- extras checked before work ----------------------------------------------------------------
@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Pretend an extra is not installed (its modules cannot be found)."""

    absent: set[str] = set()
    found = _extras._found
    monkeypatch.setattr(_extras, "_found", lambda module: module not in absent and found(module))

    def remove(extra: str) -> None:
        absent.update(module for module, _ in _extras.EXTRAS[extra])

    return remove


def test_demo_without_the_report_extra_writes_results_and_a_note(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    without,  # type: ignore[no-untyped-def]
) -> None:
    without("report")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert (
        "HTML report skipped" in result.stdout and "pip install matplotlib jinja2" in result.stdout
    )
    folder = tmp_path / "securindex-results"
    assert (folder / "scores.csv").exists() and not (folder / "report.html").exists()


def test_demo_asked_for_a_report_without_the_extra_fails_first(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    without,  # type: ignore[no-untyped-def]
) -> None:
    without("report")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--report"])
    assert result.exit_code == 1
    assert "the 'report' extra" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_sobol_without_salib_fails_before_the_replicates(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    without,  # type: ignore[no-untyped-def]
) -> None:
    without("sensitivity")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["uncertainty", "iusi", "uci_communities", "--sobol"])
    assert result.exit_code == 1
    assert "SALib" in result.stderr and "pip install SALib" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_parquet_output_without_pyarrow_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    without,  # type: ignore[no-untyped-def]
) -> None:
    without("parquet")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compute", "iusi", "uci_communities", "-o", "x.parquet"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: writing x.parquet needs pyarrow (the 'parquet' extra): pip install pyarrow"
    ]


# -- logging -------------------------------------------------------------------------------------
def test_verbose_turns_on_the_securindex_logger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compute", "iusi", "uci_communities", "-vv", "-o", "s.csv"])
    assert result.exit_code == 0, result.output
    assert logging.getLogger("securindex").level == logging.DEBUG
    assert "shipped framework 'iusi'" in result.stderr and "catalogue:" in result.stderr
    runner.invoke(app, ["compute", "iusi", "uci_communities", "-o", "s.csv"])
    assert logging.getLogger("securindex").level == logging.NOTSET


# -- plugins -------------------------------------------------------------------------------------
PLUGIN = '''
import numpy as np
from securindex.methods.aggregate import register_aggregator


@register_aggregator("lowest_child_plugin_test", compensatory=False)
def lowest_child(X, w, /):
    """The lowest child's score."""
    return np.min(X, axis=-1)
'''


@pytest.mark.parametrize("how", ["file", "module"])
def test_a_method_registered_by_a_plugin_is_usable_from_the_cli(tmp_path: Path, how: str) -> None:
    import subprocess
    import sys

    (tmp_path / "mymethods.py").write_text(PLUGIN)
    pd.DataFrame(
        {"town": ["p", "q", "r"], "year": [2020] * 3, "a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]}
    ).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.dictionary.yaml").write_text(
        "entity: town\nperiod: year\nvariables:\n  a: {unit: dimensionless}\n"
        "  b: {unit: dimensionless}\n"
    )
    (tmp_path / "fw.yaml").write_text(
        "id: idx\ncolumns: {a: positive, b: positive}\n"
        "structure:\n  - {id: p, children: [a, b], aggregate: {method: lowest_child_plugin_test}}\n"
    )
    command = [sys.executable, "-m", "securindex.cli"]
    args = ["compute", "fw.yaml", "d.csv", "-o", "s.csv"]
    without = subprocess.run([*command, *args], cwd=tmp_path, capture_output=True, text=True)
    assert without.returncode == 1 and "lowest_child_plugin_test" in without.stderr
    plugin = "mymethods.py" if how == "file" else "mymethods"
    done = subprocess.run(
        [*command, "--plugin", plugin, *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    scores = pd.read_csv(tmp_path / "s.csv").set_index("town")
    # min-max over three towns: a → 0, 50, 100; b → 100, 0, 50; the lowest child wins
    assert scores["p"].tolist() == pytest.approx([0.0, 0.0, 50.0])


def test_debug_adds_the_traceback_of_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nformula: [unclosed\n")
    plain = runner.invoke(app, ["compute", str(bad), "uci_communities"])
    assert plain.exit_code == 1 and "Traceback" not in plain.output
    debug = runner.invoke(app, ["--debug", "compute", str(bad), "uci_communities"])
    assert debug.exit_code == 1
    assert "Traceback" in debug.output and "SpecError" in debug.output


def test_an_internal_error_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    import securindex.validate
    from securindex.cli import main

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an unforeseen state")

    monkeypatch.setattr(securindex.validate, "validate_paths", broken)
    monkeypatch.setattr(sys, "argv", ["securindex", "validate", "iusi"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: an unforeseen state" in err
    assert "securindex --debug" in err and "Traceback" not in err
    monkeypatch.setattr(sys, "argv", ["securindex", "--debug", "validate", "iusi"])
    with pytest.raises(RuntimeError, match="unforeseen"):
        main()
