"""Tests of securindex.validate.validate_paths: every YAML kind, every problem at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from securindex.validate import validate_paths

WriteCatalogue = Callable[[Mapping[str, str]], Path]
MakeIndicator = Callable[..., str]

FRAMEWORK = """\
id: idx
name: Index
indicators: [crime]
structure:
  - id: violence
    children: [homicide_rate, burglary_rate]
"""


def test_good_folder_has_no_issues(fixture_catalogue: Path, fixtures_dir: Path) -> None:
    (fixture_catalogue / "framework.yaml").write_text(FRAMEWORK, encoding="utf-8")
    (fixture_catalogue / "dictionary.yaml").write_bytes(
        (fixtures_dir / "panel.dictionary.yaml").read_bytes()
    )
    issues, counts = validate_paths([fixture_catalogue])
    assert issues == []
    # five indicator files (one holds two indicators), one framework, one dictionary
    assert counts == {"indicators": 5, "framework": 1, "dictionary": 1}


def test_indicator_files_are_checked_together(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    text = make_indicator("dup", "x", "count", {"x": "count"})
    root = write_catalogue({"a/one.yaml": text, "b/two.yaml": text})
    # given as two separate folders: the duplicate across them is still found
    issues, _ = validate_paths([root / "a", root / "b"])
    (issue,) = issues
    assert issue.file == str(root / "b" / "two.yaml")
    assert "duplicate indicator id 'dup'" in issue.message
    assert str(root / "a" / "one.yaml") in issue.message


def test_bad_folder_reports_every_problem_located(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            # undeclared name, formula on line 5
            "crime/a.yaml": make_indicator(
                "a",
                "homicide / population",
                "count / (100000 inhabitant)",
                {"homicides": "count", "population": "inhabitant"},
            ),
            # unit mismatch, unit on line 6
            "crime/b.yaml": make_indicator(
                "b",
                "homicides / area",
                "count / (100000 inhabitant)",
                {"homicides": "count", "area": "km**2"},
            ),
            # YAML syntax error: the flow sequence opened on line 2 never closes
            "crime/c.yaml": "id: c\nname: [oops\n",
            # unknown unit in a data dictionary, line 3
            "data/dictionary.yaml": "entity: city\nvariables:\n  x: {unit: kount}\n",
            # none of the three kinds, line 1
            "misc/other.yaml": "hello: world\n",
        }
    )
    issues, counts = validate_paths([root])
    located = {(Path(i.file).name, i.line) for i in issues if i.file}
    assert located == {
        ("a.yaml", 5),
        ("b.yaml", 6),
        ("c.yaml", 3),
        ("dictionary.yaml", 3),
        ("other.yaml", 1),
    }
    by_file = {Path(i.file).name: i.message for i in issues if i.file}
    assert "did you mean 'homicides'" in by_file["a.yaml"]
    assert "100000 inhabitant" in by_file["b.yaml"]
    assert "YAML syntax error" in by_file["c.yaml"]
    assert "unknown unit 'kount'" in by_file["dictionary.yaml"]
    assert "not an indicator, framework, evaluation or data dictionary" in by_file["other.yaml"]
    assert counts == {"indicators": 2, "dictionary": 1, "unknown": 1}


def test_bad_framework_is_reported(fixture_catalogue: Path) -> None:
    text = FRAMEWORK.replace("burglary_rate]", "burglary_rat]")
    (fixture_catalogue / "framework.yaml").write_text(text, encoding="utf-8")
    issues, _ = validate_paths([fixture_catalogue])
    (issue,) = issues
    # "    children: [homicide_rate, burglary_rat]" is line 6
    assert (issue.file, issue.line) == (str(fixture_catalogue / "framework.yaml"), 6)
    assert "burglary_rat" in issue.message


def test_missing_path(tmp_path: Path) -> None:
    issues, counts = validate_paths([tmp_path / "nowhere"])
    assert [i.message for i in issues] == ["no such file or folder"]
    assert counts == {}


def test_empty_file_is_not_a_known_kind(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    issues, counts = validate_paths([tmp_path])
    (issue,) = issues
    assert issue.file == str(tmp_path / "empty.yaml")
    assert counts == {"unknown": 1}


def test_unit_bomb_is_a_located_error_within_a_second(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    # issue #15: ``9**9**9`` was computed as an exact integer, and validate hung
    folder = write_catalogue(
        {
            "crime/a.yaml": make_indicator(
                "a_rate",
                "homicides / population",
                "9**9**9 count",
                {"homicides": "count", "population": "inhabitant"},
            ),
            "crime/b.yaml": make_indicator(
                "b_rate",
                "homicides / population",
                "count / (100000 inhabitant)",
                {"homicides": "10**10**10 count", "population": "inhabitant"},
            ),
        }
    )
    started = time.perf_counter()
    issues, _ = validate_paths([folder])
    assert time.perf_counter() - started < 1.0
    by_file = {Path(i.file or "").name: i for i in issues}
    assert set(by_file) == {"a.yaml", "b.yaml"}
    assert by_file["a.yaml"].field == "unit"
    assert by_file["b.yaml"].field == "inputs.homicides.unit"
    assert all(i.line is not None and "out of range" in i.message for i in issues)
