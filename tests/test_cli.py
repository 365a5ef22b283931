"""Tests of the ``securindex`` command line (typer's CliRunner, one real subprocess)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from securindex.cli import app

WriteCatalogue = Callable[[Mapping[str, str]], Path]
MakeIndicator = Callable[..., str]

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------
def test_validate_good_folder_exits_0(fixtures_dir: Path) -> None:
    result = invoke("validate", fixtures_dir / "catalogue")
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert result.stderr == ""


def _bad_catalogue(write_catalogue: WriteCatalogue, make_indicator: MakeIndicator) -> Path:
    return write_catalogue(
        {
            "a.yaml": make_indicator(
                "a",
                "homicide / population",
                "count / (100000 inhabitant)",
                {"homicides": "count", "population": "inhabitant"},
            ),
            "b.yaml": make_indicator(
                "b",
                "homicides / area",
                "count / (100000 inhabitant)",
                {"homicides": "count", "area": "km**2"},
            ),
            "c.yaml": "id: c\nname: [oops\n",
        }
    )


def test_validate_bad_folder_exits_1_with_file_line_messages(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = _bad_catalogue(write_catalogue, make_indicator)
    result = invoke("validate", root)
    assert result.exit_code == 1
    assert result.stdout == ""
    stderr = result.stderr
    # a: formula on line 5; b: unit on line 6; c: unclosed '[' reported at the end (line 3)
    for prefix in (f"{root / 'a.yaml'}:5:", f"{root / 'b.yaml'}:6:", f"{root / 'c.yaml'}:3:"):
        assert any(line.startswith(prefix) for line in stderr.splitlines()), (prefix, stderr)
    assert "3 problem(s) found." in stderr
    # every line that names a file starts with file:line:
    file_lines = [line for line in stderr.splitlines() if ".yaml" in line.split(" ")[0]]
    assert len(file_lines) == 3
    assert all(re.match(r"^\S+\.yaml:\d+:", line) for line in file_lines)


def test_validate_missing_path_exits_1(tmp_path: Path) -> None:
    result = invoke("validate", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr


# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "required"),
    [
        ("indicator", {"id", "name", "category", "polarity", "formula", "unit"}),
        ("framework", {"id"}),  # a flat index needs no structure
        ("dictionary", set()),
    ],
)
def test_schema_prints_valid_json(kind: str, required: set[str]) -> None:
    result = invoke("schema", kind)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert required <= set(schema.get("required", []))
    assert schema.get("additionalProperties") is False  # extra="forbid": typos are errors
    expected_property = {
        "indicator": "formula",
        "framework": "structure",
        "dictionary": "variables",
    }[kind]
    assert expected_property in schema["properties"]


def test_schema_default_is_indicator() -> None:
    assert "formula" in json.loads(invoke("schema").stdout)["properties"]


def test_schema_unknown_kind_exits_2() -> None:
    result = invoke("schema", "nope")
    assert result.exit_code == 2
    assert "unknown kind 'nope'" in result.stderr


# --------------------------------------------------------------------------------------------
# indicators
# --------------------------------------------------------------------------------------------
def test_indicators_writes_values_and_audit(
    fixtures_dir: Path, fixture_panel_files: tuple[Path, Path], tmp_path: Path
) -> None:
    csv, dictionary = fixture_panel_files
    out = tmp_path / "out" / "values.csv"
    out.parent.mkdir()
    result = invoke(
        "indicators", csv, "-c", fixtures_dir / "catalogue", "-o", out, "-d", dictionary
    )
    assert result.exit_code == 0, result.output
    values = pd.read_csv(out)
    assert list(values.columns[:2]) == ["city", "year"]  # the data's own names
    assert len(values) == 4
    by_row = values.set_index(["city", "year"])
    # hand values, see tests/test_catalogue.py::test_fixture_catalogue_values
    assert by_row.loc[("A", 2019), "homicide_rate"] == pytest.approx(10.0, rel=1e-12)
    assert by_row.loc[("A", 2020), "crime_density"] == pytest.approx(5.4, rel=1e-12)
    assert by_row.loc[("B", 2019), "green_space_per_capita"] == pytest.approx(30.0, rel=1e-12)
    assert by_row.loc[("B", 2020), "unemployment_rate"] == pytest.approx(6.0, rel=1e-12)
    assert pd.isna(by_row.loc[("B", 2020), "homicide_rate"])

    audit = pd.read_csv(tmp_path / "out" / "values.audit.csv")
    assert list(audit.columns) == ["city", "year", "indicator", "reason"]
    # B 2020 has population 0: homicide, burglary, green space (division by zero) and the
    # weighted homicide rate (its dependency is NaN)
    assert set(audit["indicator"]) == {
        "homicide_rate",
        "burglary_rate",
        "green_space_per_capita",
        "weighted_homicide_rate",
    }
    assert set(zip(audit["city"], audit["year"], strict=True)) == {("B", 2020)}
    homicide = audit.loc[audit["indicator"] == "homicide_rate", "reason"].item()
    assert "division by zero" in homicide
    assert "4 value(s) could not be computed" in result.stdout


def test_indicators_finds_the_dictionary_beside_the_data(
    fixtures_dir: Path, fixture_panel_files: tuple[Path, Path], tmp_path: Path
) -> None:
    csv, _ = fixture_panel_files
    out = tmp_path / "v.csv"
    result = invoke(
        "indicators", csv, "-c", fixtures_dir / "catalogue", "-o", out, "-i", "unemployment_rate"
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out).columns.tolist() == ["city", "year", "unemployment_rate"]
    # nothing to audit: an empty audit file with its header
    assert (tmp_path / "v.audit.csv").read_text().strip() == "city,year,indicator,reason"


def test_indicators_selected_ids_pull_dependencies(
    fixtures_dir: Path, fixture_panel_files: tuple[Path, Path], tmp_path: Path
) -> None:
    csv, dictionary = fixture_panel_files
    out = tmp_path / "v.csv"
    result = invoke(
        "indicators",
        csv,
        "-c",
        fixtures_dir / "catalogue",
        "-o",
        out,
        "-d",
        dictionary,
        "-i",
        "weighted_homicide_rate",
    )
    assert result.exit_code == 0, result.output
    columns = pd.read_csv(out).columns.tolist()
    assert columns == ["city", "year", "homicide_rate", "weighted_homicide_rate"]


# Each failing run: (files to write under tmp_path/catalogue, changes to the data, changes
# to the dictionary text, texts expected on stderr). The output must not exist afterwards.
HOMICIDE = """\
id: homicide_rate
name: Homicide rate
category: crime
polarity: negative
formula: homicides / population
unit: count / (100000 inhabitant)
inputs:
  homicides: {unit: count}
  population: {unit: inhabitant}
"""

FAILURES: dict[
    str, tuple[dict[str, str], dict[str, list[object]], tuple[str, str] | None, list[str]]
] = {
    "unit mismatch": (
        {
            "rate.yaml": HOMICIDE.replace("/ population", "/ area").replace(
                "population: {unit: inhabitant}", "area: {unit: km**2}"
            )
        },
        {},
        None,
        ["rate.yaml:6:", "100000 inhabitant", "[length]"],
    ),
    "cycle": (
        {
            "a.yaml": HOMICIDE.replace("id: homicide_rate", "id: a").replace(
                "formula: homicides / population", "formula: b + homicides / population"
            ),
            "b.yaml": HOMICIDE.replace("id: homicide_rate", "id: b").replace(
                "formula: homicides / population", "formula: a + homicides / population"
            ),
        },
        {},
        None,
        ["indicator cycle", "a -> b", "b -> a"],
    ),
    "duplicate id": (
        {"one.yaml": HOMICIDE, "two.yaml": HOMICIDE},
        {},
        None,
        ["two.yaml:1:", "one.yaml:1", "duplicate indicator id 'homicide_rate'"],
    ),
    "yaml syntax": (
        {"rate.yaml": HOMICIDE.replace("name: Homicide rate", "name: [Homicide rate")},
        {},
        None,
        ["rate.yaml:", "YAML syntax error"],
    ),
    "import in formula": (
        {"rate.yaml": HOMICIDE.replace("homicides / population", "__import__('os')")},
        {},
        None,
        ["rate.yaml:5:", "'__import__' is not an allowed function"],
    ),
    "attribute in formula": (
        {"rate.yaml": HOMICIDE.replace("homicides / population", "homicides.real")},
        {},
        None,
        ["rate.yaml:5:", "attribute access"],
    ),
    "subscript in formula": (
        {"rate.yaml": HOMICIDE.replace("homicides / population", "homicides[0]")},
        {},
        None,
        ["rate.yaml:5:", "subscripts"],
    ),
    "undeclared name": (
        {"rate.yaml": HOMICIDE.replace("homicides / population", "homicide / population")},
        {},
        None,
        ["rate.yaml:5:", "did you mean 'homicides'"],
    ),
    "missing column": (
        {"rate.yaml": HOMICIDE},
        {"drop": ["murders"]},
        None,
        ["homicides (column 'murders')"],
    ),
    "text in numeric column": (
        {"rate.yaml": HOMICIDE},
        {"murders": [2, "many", 0, 1]},
        None,
        ["column 'murders'", "non-numeric", "('A', 2020)"],
    ),
    "duplicate rows": (
        {"rate.yaml": HOMICIDE},
        {"year": [2019, 2019, 2019, 2020]},
        None,
        ["appear more than once", "('A', 2019)"],
    ),
    "negative count": (
        {"rate.yaml": HOMICIDE},
        {"murders": [2, 3, -1, 1]},
        None,
        ["column 'murders'", "negative", "('B', 2019)"],
    ),
    "unknown unit in dictionary": (
        {"rate.yaml": HOMICIDE},
        {},
        ("{column: murders, unit: count}", "{column: murders, unit: kount}"),
        ["panel.dictionary.yaml:5:32:", "unknown unit 'kount'"],
    ),
    "variable not in the dictionary": (
        {"rate.yaml": HOMICIDE.replace("homicides", "robberies")},
        {},
        None,
        ["'robberies' (needed by homicide_rate)"],
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failing_indicators_run_writes_nothing(
    case: str,
    write_catalogue: WriteCatalogue,
    fixture_panel_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    files, data_changes, dictionary_change, expected = FAILURES[case]
    root = write_catalogue(files)
    csv, dictionary = fixture_panel_files
    if data_changes:
        data = pd.read_csv(csv)
        for column, values in data_changes.items():
            if column == "drop":
                data = data.drop(columns=values)
            else:
                data[column] = values
        data.to_csv(csv, index=False)
    if dictionary_change:
        text = dictionary.read_text()
        assert dictionary_change[0] in text
        dictionary.write_text(text.replace(*dictionary_change))
    out = tmp_path / "values.csv"
    result = invoke("indicators", csv, "-c", root, "-o", out, "-d", dictionary)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert not out.exists()
    assert not (tmp_path / "values.audit.csv").exists()


def test_indicators_unknown_id_is_a_clean_error(
    fixtures_dir: Path, fixture_panel_files: tuple[Path, Path], tmp_path: Path
) -> None:
    csv, dictionary = fixture_panel_files
    out = tmp_path / "v.csv"
    result = invoke(
        "indicators",
        csv,
        "-c",
        fixtures_dir / "catalogue",
        "-o",
        out,
        "-d",
        dictionary,
        "-i",
        "homicide_rat",
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "homicide_rat" in result.stderr
    assert "did you mean" in result.stderr
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# catalogue
# --------------------------------------------------------------------------------------------
def _markdown_ids(text: str) -> list[str]:
    return re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.MULTILINE)


def test_catalogue_markdown(fixtures_dir: Path) -> None:
    result = invoke("catalogue", fixtures_dir / "catalogue", "--markdown")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "| id | name | polarity | unit | formula | references | source |"
    assert lines[1] == "| --- | --- | --- | --- | --- | --- | --- |"
    assert sorted(_markdown_ids(result.stdout)) == [
        "burglary_rate",
        "crime_density",
        "green_space_per_capita",
        "homicide_rate",
        "unemployment_rate",
        "weighted_homicide_rate",
    ]
    row = next(line for line in lines if line.startswith("| `homicide_rate`"))
    assert "| `homicides / population` |" in row
    assert "| SDG 16.1.1 |" in row


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        (["--category", "environmental"], ["green_space_per_capita"]),
        (["--category", "social"], ["unemployment_rate"]),
        (["--reference", "SDG 16"], ["homicide_rate"]),
        (["--reference", "sdg"], ["homicide_rate", "unemployment_rate"]),
        (["--reference", "ISO 37120"], ["burglary_rate"]),
        (["--tag", "violent"], ["homicide_rate"]),
        (["--category", "crime", "--tag", "property"], ["burglary_rate"]),
        (["--category", "institutional"], []),
    ],
)
def test_catalogue_filters(fixtures_dir: Path, options: list[str], ids: list[str]) -> None:
    result = invoke("catalogue", fixtures_dir / "catalogue", "--markdown", *options)
    assert result.exit_code == 0, result.output
    assert sorted(_markdown_ids(result.stdout)) == ids


def test_catalogue_table_title_counts(fixtures_dir: Path) -> None:
    result = invoke("catalogue", fixtures_dir / "catalogue", "--reference", "SDG 16")
    assert result.exit_code == 0, result.output
    assert "1 of 6 indicators" in result.stdout
    assert "homicide_rate" in result.stdout


def test_catalogue_default_is_the_shipped_catalogue_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from securindex import Catalogue
    from securindex.shipped import catalogue_path

    monkeypatch.chdir(tmp_path)  # an empty folder: no ./indicators
    result = invoke("catalogue", "--markdown", "--category", "social")
    assert result.exit_code == 0, result.output
    shipped = sorted(Catalogue.load(catalogue_path("social")))
    assert len(shipped) > 5
    assert sorted(_markdown_ids(result.stdout)) == shipped


def test_catalogue_by_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("catalogue", "crime", "--markdown")
    assert result.exit_code == 0, result.output
    assert "homicide_rate" in _markdown_ids(result.stdout)
    assert "unemployment_rate" not in _markdown_ids(result.stdout)


def test_catalogue_bad_folder_exits_1(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = _bad_catalogue(write_catalogue, make_indicator)
    result = invoke("catalogue", root, "--markdown")
    assert result.exit_code == 1
    assert f"{root / 'a.yaml'}:5:" in result.stderr
    assert result.stdout == ""


def test_catalogue_write_readmes(fixture_catalogue: Path) -> None:
    result = invoke("catalogue", fixture_catalogue, "--write-readmes")
    assert result.exit_code == 0, result.output
    readmes = sorted(
        p.relative_to(fixture_catalogue).as_posix() for p in fixture_catalogue.rglob("README.md")
    )
    # one per folder holding indicator files; none at the root (it holds no YAML)
    assert readmes == ["crime/README.md", "environmental/README.md", "social/README.md"]
    crime = (fixture_catalogue / "crime" / "README.md").read_text()
    assert crime.startswith("# Crime indicators\n")
    assert "Do not edit by hand" in crime
    assert "4 indicator(s)." in crime
    # sorted by id, only this folder's indicators
    assert _markdown_ids(crime) == [
        "burglary_rate",
        "crime_density",
        "homicide_rate",
        "weighted_homicide_rate",
    ]
    environmental = (fixture_catalogue / "environmental" / "README.md").read_text()
    assert _markdown_ids(environmental) == ["green_space_per_capita"]
    assert "1 indicator(s)." in environmental
    for readme in readmes:
        assert str(fixture_catalogue / readme) in result.stdout
    # regenerating gives the same files
    before = crime
    assert invoke("catalogue", fixture_catalogue, "--write-readmes").exit_code == 0
    assert (fixture_catalogue / "crime" / "README.md").read_text() == before


# --------------------------------------------------------------------------------------------
# outputs (issue #15): targets checked before work, nothing partial on failure, no traceback
# --------------------------------------------------------------------------------------------
def test_demo_output_under_a_file_is_refused_before_work(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = invoke("demo", "-o", tmp_path / "file" / "results", "--no-report")
    assert result.exit_code == 1
    assert "which is a file" in result.output and "Traceback" not in result.output


def test_indicators_output_that_is_a_folder_is_refused(
    fixtures_dir: Path, fixture_panel_files: tuple[Path, Path], tmp_path: Path
) -> None:
    csv, dictionary = fixture_panel_files
    out = tmp_path / "values.csv"
    out.mkdir()
    result = invoke(
        "indicators", csv, "-c", fixtures_dir / "catalogue", "-o", out, "-d", dictionary
    )
    assert result.exit_code == 1
    assert f"{out}: is an existing folder; give a file name" in result.output


def test_demo_on_a_full_disk_leaves_no_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from securindex.result import IndexResult

    def full(self: IndexResult, folder: Path) -> dict[str, Path]:
        (Path(folder) / "scores.csv").write_text("cut at 1 MiB")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(IndexResult, "write", full)
    out = tmp_path / "results"
    result = invoke("demo", "-o", out, "--no-report")
    assert result.exit_code == 1
    assert "cannot write (no space left on the device); nothing was written" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
