"""One rule over the public API and every command (issue #15): a failure caused by input is a
SecurindexError with a location, foreign errors kept as ``__cause__``, and the command line
exits non-zero with a message and never with a traceback."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from securindex import Catalogue, Framework, Panel, read_dictionary
from securindex.analysis.uncertainty import load_uncertainty_spec
from securindex.cli import app
from securindex.errors import DataError, OutputError, SecurindexError, SpecError
from securindex.evaluation.job import load_job

FRAMEWORK = """\
id: idx
columns:
  a: {polarity: positive}
  b: {polarity: negative}
structure:
  - id: p
    children: [a, b]
uncertainty:
  weights: {noise: 0.2}
"""

# ten levels of ten aliases: 10**10 leaves if expanded
BOMB = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 11)
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Good and hostile inputs, by name."""
    out: dict[str, Path] = {}

    def write(name: str, content: str | bytes) -> None:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        out[name] = path

    write("framework.yaml", FRAMEWORK)
    write("data.csv", "entity,a,b\nx,1,2\ny,2,3\nz,3,1\n")
    write(
        "data.dictionary.yaml",
        "entity: entity\nperiod: null\nvariables:\n"
        "  a: {unit: dimensionless}\n  b: {unit: dimensionless}\n",
    )
    write("bomb.yaml", BOMB)
    write(
        "unit_bomb.yaml",
        FRAMEWORK.replace("{polarity: positive}", '{polarity: positive, unit: "9**9**9 count"}'),
    )
    write("latin1.csv", "entity,a,b\nMalmö,1,2\n".encode("latin-1"))
    whole = gzip.compress(b"entity,a,b\n" + b"x,1,2\n" * 1000)
    write("truncated.csv.gz", whole[: len(whole) // 2])
    write("garbage.parquet", b"PAR1 not really")
    for name in ("latin1", "truncated", "garbage"):
        write(f"{name}.dictionary.yaml", out["data.dictionary.yaml"].read_text())
    (tmp_path / "catalogue").mkdir()
    write("catalogue/bomb.yaml", BOMB)
    (tmp_path / "file").write_text("")
    out["under_a_file"] = tmp_path / "file" / "out"
    out["out"] = tmp_path / "out"
    return out


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------
COMMANDS: list[tuple[str, list[str], str]] = [
    ("validate", ["validate", "{bomb.yaml}"], "{bomb.yaml}:"),
    ("validate", ["validate", "{unit_bomb.yaml}"], "{unit_bomb.yaml}:3:"),
    ("catalogue", ["catalogue", "{catalogue/bomb.yaml}"], "{catalogue/bomb.yaml}:"),
    ("indicators", ["indicators", "{latin1.csv}", "-c", "crime", "-o", "{out}"], "{latin1.csv}"),
    ("compute", ["compute", "{bomb.yaml}", "{data.csv}", "-o", "{out}"], "{bomb.yaml}:"),
    ("compute", ["compute", "{unit_bomb.yaml}", "{data.csv}", "-o", "{out}"], "{unit_bomb.yaml}:3"),
    ("compute", ["compute", "{framework.yaml}", "{latin1.csv}", "-o", "{out}"], "{latin1.csv}"),
    (
        "compute",
        ["compute", "{framework.yaml}", "{truncated.csv.gz}", "-o", "{out}"],
        "{truncated.csv.gz}",
    ),
    (
        "compute",
        ["compute", "{framework.yaml}", "{garbage.parquet}", "-o", "{out}"],
        "{garbage.parquet}",
    ),
    (
        "compute",
        ["compute", "{framework.yaml}", "{data.csv}", "-o", "{under_a_file}"],
        "{under_a_file}",
    ),
    ("analyse", ["analyse", "{bomb.yaml}", "{data.csv}", "-o", "{out}"], "{bomb.yaml}:"),
    (
        "analyse",
        ["analyse", "{framework.yaml}", "{truncated.csv.gz}", "-o", "{out}"],
        "{truncated.csv.gz}",
    ),
    ("uncertainty", ["uncertainty", "{bomb.yaml}", "{data.csv}", "-o", "{out}"], "{bomb.yaml}:"),
    (
        "uncertainty",
        ["uncertainty", "{framework.yaml}", "{data.csv}", "-n", "1000000000", "-o", "{out}"],
        "above the limit",
    ),
    ("scale", ["scale", "{bomb.yaml}", "-o", "{out}"], "{bomb.yaml}:"),
    ("evaluate", ["evaluate", "{bomb.yaml}", "-o", "{out}"], "{bomb.yaml}:"),
    ("report", ["report", "{out}"], "{out}"),
    ("incidents panel", ["incidents", "panel", "{bomb.yaml}", "-o", "{out}/p.csv"], "{bomb.yaml}:"),
    ("incidents report", ["incidents", "report", "{bomb.yaml}"], "{bomb.yaml}:"),
    ("demo", ["demo", "-o", "{under_a_file}"], "{under_a_file}"),
    ("map", ["map", "{bomb.yaml}", "{data.csv}", "-o", "{out}/map.png"], "{bomb.yaml}:"),
    (
        "hotspots",
        ["hotspots", "{framework.yaml}", "{truncated.csv.gz}", "-o", "{out}"],
        "{truncated.csv.gz}",
    ),
]


def _fill(text: str, files: dict[str, Path]) -> str:
    for name, path in files.items():
        text = text.replace("{" + name + "}", str(path))
    return text


def test_every_command_is_covered() -> None:
    import typer.main

    group = typer.main.get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    names -= {"schema", "examples"}  # read no user file
    names = (names - {"incidents"}) | {"incidents panel", "incidents report"}
    assert names <= {name for name, _, _ in COMMANDS}


@pytest.mark.parametrize(("name", "args", "where"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_command_given_bad_input_exits_with_a_located_message(
    files: dict[str, Path], name: str, args: list[str], where: str
) -> None:
    result = CliRunner().invoke(app, [_fill(a, files) for a in args])
    # an exception other than SystemExit would be a traceback in a terminal
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        name,
        result.exception,
    )
    assert result.exit_code not in (0, None), result.output
    assert _fill(where, files) in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# the public API
# --------------------------------------------------------------------------------------------
API: list[tuple[str, Callable[[dict[str, Path]], Any], type[SecurindexError], str]] = [
    ("Framework.load", lambda f: Framework.load(f["bomb.yaml"]), SpecError, "bomb.yaml:"),
    (
        "Framework.load unit",
        lambda f: Framework.load(f["unit_bomb.yaml"]),
        SpecError,
        "unit_bomb.yaml:3:",
    ),
    (
        "Framework.from_spec",
        lambda f: Framework.from_spec(
            {
                "id": "i",
                "columns": {"a": {"polarity": "positive", "weight": float("nan")}},
                "structure": [{"id": "p", "children": ["a"]}],
            }
        ),
        SpecError,
        "columns.a.weight",
    ),
    (
        "Framework.from_spec self child",
        lambda f: Framework.from_spec(
            {
                "id": "i",
                "columns": {"a": {"polarity": "positive"}},
                "structure": [{"id": "p", "children": ["a", "p"]}],
            }
        ),
        SpecError,
        "node cycle: p -> p",
    ),
    (
        "Framework.from_spec column",
        lambda f: Framework.from_spec(
            {
                "id": "i",
                "columns": {"a": {"column": "Header"}},
                "structure": [{"id": "p", "children": ["a"]}],
            }
        ),
        SpecError,
        "columns.a.polarity",
    ),
    (
        "Framework.from_spec own id as child",
        lambda f: Framework.from_spec(
            {"id": "i", "columns": {}, "structure": [{"id": "p", "children": ["i"]}]}
        ),
        SpecError,
        "unknown id 'i'",
    ),  # found by the fuzz suite: a KeyError in the cycle check
    ("Catalogue.load", lambda f: Catalogue.load(f["catalogue/bomb.yaml"]), SpecError, "bomb.yaml:"),
    ("read_dictionary", lambda f: read_dictionary(f["bomb.yaml"]), SpecError, "bomb.yaml:"),
    (
        "load_uncertainty_spec",
        lambda f: load_uncertainty_spec(f["bomb.yaml"]),
        SpecError,
        "bomb.yaml:",
    ),
    ("load_job", lambda f: load_job(f["bomb.yaml"]), SpecError, "bomb.yaml:"),
    ("Panel.read latin-1", lambda f: Panel.read(f["latin1.csv"]), DataError, "latin1.csv"),
    ("Panel.read gzip", lambda f: Panel.read(f["truncated.csv.gz"]), DataError, "truncated.csv.gz"),
    (
        "Panel.read parquet",
        lambda f: Panel.read(f["garbage.parquet"]),
        DataError,
        "garbage.parquet",
    ),
]


@pytest.mark.parametrize(("name", "call", "kind", "where"), API, ids=[a[0] for a in API])
def test_an_api_call_given_bad_input_raises_a_located_library_error(
    files: dict[str, Path],
    name: str,
    call: Callable[[dict[str, Path]], Any],
    kind: type[SecurindexError],
    where: str,
) -> None:
    with pytest.raises(kind) as info:
        call(files)
    assert where in str(info.value)
    cause = info.value.__cause__
    assert cause is None or not isinstance(cause, SecurindexError) or cause is not info.value


def test_foreign_errors_are_kept_as_the_cause(files: dict[str, Path]) -> None:
    import pandas as pd
    import pydantic

    with pytest.raises(SpecError) as spec:
        Framework.from_spec({"id": "i", "columns": {"a": {"column": "Header"}}, "structure": []})
    assert isinstance(spec.value.__cause__, pydantic.ValidationError)
    with pytest.raises(DataError) as data:
        Panel.read(files["truncated.csv.gz"])
    assert isinstance(data.value.__cause__, EOFError)
    empty = files["data.csv"].with_name("empty.csv")
    empty.write_text("")
    with pytest.raises(DataError) as table:
        Panel.read(empty, dictionary=files["data.dictionary.yaml"])
    assert isinstance(table.value.__cause__, pd.errors.EmptyDataError)
    with pytest.raises(OutputError):
        from securindex._output import check_target

        check_target(files["under_a_file"], kind="folder")
