"""Tests of securindex._yaml (YAML with positions) and securindex.errors (error messages)."""

from __future__ import annotations

import builtins
import time
from pathlib import Path

import pytest
import yaml

from securindex._yaml import (
    MAX_YAML_ALIASES,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    Located,
    iter_yaml_files,
    read_yaml,
)
from securindex.errors import (
    DataError,
    FormulaError,
    Issue,
    SecurindexError,
    SpecError,
    UnitError,
)

NESTED = """\
a:
  b: [1, 2]
  c:
    - d: 3
      e: text
"""


# --------------------------------------------------------------------------------------------
# read_yaml: values and positions
# --------------------------------------------------------------------------------------------
def test_read_yaml_builds_plain_values() -> None:
    located = read_yaml("x.yaml", NESTED)
    assert located.value == {"a": {"b": [1, 2], "c": [{"d": 3, "e": "text"}]}}
    assert located.file == "x.yaml"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # a key points at the key itself (line 1, column 1)
        (("a",), (1, 1)),
        # "  b: [1, 2]": key b at column 3 of line 2
        (("a", "b"), (2, 3)),
        # the list items: "1" at column 7, "2" at column 10 of line 2
        (("a", "b", 0), (2, 7)),
        (("a", "b", 1), (2, 10)),
        # "    - d: 3": the mapping item starts at "d", column 7 of line 4
        (("a", "c", 0), (4, 7)),
        (("a", "c", 0, "d"), (4, 7)),
        # "      e: text": key e at column 7 of line 5
        (("a", "c", 0, "e"), (5, 7)),
    ],
)
def test_read_yaml_positions_are_one_based_line_and_column(
    path: tuple[str | int, ...], expected: tuple[int, int]
) -> None:
    assert read_yaml("x.yaml", NESTED).position(path) == expected


def test_position_of_unknown_path_falls_back_to_nearest_ancestor() -> None:
    located = read_yaml("x.yaml", NESTED)
    # ("a", "c", 0, "zz") does not exist: its nearest known ancestor is ("a", "c", 0) at 4:7
    assert located.position(("a", "c", 0, "zz")) == (4, 7)
    assert located.position(("nothing", "here")) == (1, 1)  # the document root


def test_position_in_empty_located_is_unknown() -> None:
    assert Located(None, "f.yaml").position(("a",)) == (None, None)


def test_issue_formats_file_line_column_and_dotted_field() -> None:
    issue = read_yaml("x.yaml", NESTED).issue(("a", "c", 0, "e"), "bad value")
    assert (issue.file, issue.line, issue.column, issue.field) == ("x.yaml", 5, 7, "a.c.0.e")
    assert str(issue) == "x.yaml:5:7: a.c.0.e: bad value"


def test_sub_reroots_value_and_positions() -> None:
    sub = read_yaml("x.yaml", NESTED).sub(("a", "c", 0))
    assert sub.value == {"d": 3, "e": "text"}
    assert sub.file == "x.yaml"
    # positions keep the file's real lines: e is still on line 5
    assert sub.position(("e",)) == (5, 7)
    assert str(sub.issue(("e",), "m")) == "x.yaml:5:7: e: m"


def test_read_yaml_from_file(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("# comment\n\nid: x\n", encoding="utf-8")
    located = read_yaml(path)
    assert located.value == {"id": "x"}
    assert located.file == str(path)
    assert located.position(("id",)) == (3, 1)  # after a comment and a blank line


def test_empty_document_is_none() -> None:
    located = read_yaml("e.yaml", "")
    assert located.value is None
    assert located.positions == {}


def test_yaml_anchors_and_merge_keys_are_resolved() -> None:
    text = "base: &b {unit: count}\nx:\n  <<: *b\n  description: merged\n"
    assert read_yaml("m.yaml", text).value["x"] == {"unit": "count", "description": "merged"}


# --------------------------------------------------------------------------------------------
# read_yaml: errors, located
# --------------------------------------------------------------------------------------------
def test_syntax_error_names_file_and_line() -> None:
    # line 3 "  bad: indent": the ':' at column 6 is a mapping value inside a plain scalar
    with pytest.raises(SpecError) as info:
        read_yaml("broken.yaml", "id: ok\nname: x\n  bad: indent\n")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.column) == ("broken.yaml", 3, 6)
    assert str(info.value).startswith("broken.yaml:3:6: YAML syntax error: ")
    assert "mapping values are not allowed" in str(info.value)


def test_unclosed_flow_sequence_is_a_syntax_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "unclosed.yaml"
    # the '[' on line 2 is never closed; the parser gives up at the end of the stream (line 3)
    path.write_text("id: ok\nname: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        read_yaml(path)
    (issue,) = info.value.issues
    assert issue.file == str(path)
    assert issue.line == 3
    assert f"{path}:3:" in str(info.value)


def test_duplicate_key_is_located_at_the_second_occurrence() -> None:
    with pytest.raises(SpecError) as info:
        read_yaml("dup.yaml", "id: ok\nname: x\nname: y\n")
    assert str(info.value) == "dup.yaml:3:1: key 'name' appears twice"


def test_non_text_mapping_key_is_located() -> None:
    # "? [1, 2]" on line 1 makes a list a mapping key. The error must say where, like every
    # other YAML error: file and line 1.
    with pytest.raises(SpecError) as info:
        read_yaml("keys.yaml", "? [1, 2]\n: 3\n")
    (issue,) = info.value.issues
    assert "mapping keys must be text" in issue.message
    assert issue.file == "keys.yaml"
    assert issue.line == 1
    assert str(info.value).startswith("keys.yaml:1")


def test_unknown_tag_is_a_located_error() -> None:
    with pytest.raises(SpecError) as info:
        read_yaml("tag.yaml", "id: ok\nx: !!python/object:os.system ls\n")
    (issue,) = info.value.issues
    assert (issue.file, issue.line) == ("tag.yaml", 2)


def test_unreadable_file_is_a_spec_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SpecError, match="cannot read file") as info:
        read_yaml(missing)
    assert info.value.issues[0].file == str(missing)


# --------------------------------------------------------------------------------------------
# read_yaml: hostile documents are refused quickly, with a location (issue #15)
# --------------------------------------------------------------------------------------------
def _bomb(levels: int) -> str:
    """``levels`` levels of ten aliases each: 10**levels leaves if expanded."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_ten_level_alias_bomb_is_refused_within_a_second() -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError, match="aliases expand to more than") as info:
        read_yaml("bomb.yaml", _bomb(10))
    assert time.perf_counter() - started < 1.0
    (issue,) = info.value.issues
    # l1..l3 add 110 + 1 110 + 11 110 values; each alias of l4 (line 5) adds 11 111, and the
    # eighth passes 100 000: l4's eighth alias "*l3" starts at column 10 + 7 * 5 = 45
    assert (issue.file, issue.line, issue.column) == ("bomb.yaml", 5, 45)


def test_alias_count_is_bounded() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n"
    with pytest.raises(SpecError, match=f"more than {MAX_YAML_ALIASES} aliases"):
        read_yaml("many.yaml", text)


def test_aliases_are_copies_with_the_anchor_positions() -> None:
    located = read_yaml("a.yaml", "base: &b\n  unit: count\nx: *b\n")
    assert located.value == {"base": {"unit": "count"}, "x": {"unit": "count"}}
    assert located.value["x"] is not located.value["base"]  # a copy: editing one keeps the other
    assert located.position(("x",)) == (3, 1)
    assert located.position(("x", "unit")) == (2, 3)  # where the value was typed


def test_explicit_keys_override_merged_ones() -> None:
    located = read_yaml("m.yaml", "b: &b {u: 1, v: 2}\nx:\n  <<: *b\n  v: 3\n")
    assert located.value["x"] == {"u": 1, "v": 3}
    assert located.position(("x", "u")) == (3, 3)  # a merged key points at its '<<'


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="inside its own anchor") as info:
        read_yaml("r.yaml", "id: x\ntags: &t [a, *t]\n")
    assert (info.value.issues[0].line, info.value.issues[0].column) == (2, 14)


def test_undefined_alias_is_located() -> None:
    with pytest.raises(SpecError, match="names no anchor") as info:
        read_yaml("u.yaml", "a: 1\nb: *nowhere\n")
    assert info.value.issues[0].line == 2


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_deep_nesting_is_refused(opener: str) -> None:
    text = "x: " + opener * (MAX_YAML_DEPTH + 5) + "1"
    with pytest.raises(SpecError, match="deeper than") as info:
        read_yaml("deep.yaml", text)
    assert info.value.issues[0].line == 1


def test_nesting_up_to_the_limit_is_read() -> None:
    text = "[" * (MAX_YAML_DEPTH - 1) + "1" + "]" * (MAX_YAML_DEPTH - 1)
    value = read_yaml("ok.yaml", text).value
    for _ in range(MAX_YAML_DEPTH - 2):
        value = value[0]
    assert value == [1]


def test_nul_byte_is_located(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"id: x\nname: a\x00b\n")
    with pytest.raises(SpecError, match="NUL character") as info:
        read_yaml(path)
    (issue,) = info.value.issues
    assert (issue.line, issue.column) == (2, 8)


def test_latin1_file_is_located_at_its_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: x\nname: Malmö\n".encode("latin-1"))
    with pytest.raises(
        SpecError, match=r"not UTF-8 text \(byte 0xF6\); save the file as UTF-8"
    ) as info:
        read_yaml(path)
    (issue,) = info.value.issues
    assert (issue.line, issue.column) == (2, 11)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_unicode_files_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("id: x\nname: Malmö\n".encode(encoding))
    assert read_yaml(path).value == {"id": "x", "name": "Malmö"}


def test_utf16_without_a_byte_order_mark_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_bytes("id: x\n".encode("utf-16-le"))
    with pytest.raises(SpecError, match="UTF-16 without a byte-order mark"):
        read_yaml(path)


def test_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_YAML_BYTES + 10)  # sparse: costs no disk
    with pytest.raises(SpecError, match="larger than"):
        read_yaml(path)


def test_second_document_is_located() -> None:
    with pytest.raises(SpecError, match="more than one YAML document") as info:
        read_yaml("two.yaml", "a: 1\n---\nb: 2\n")
    assert info.value.issues[0].line == 2


def test_an_empty_explicit_integer_is_located() -> None:
    # found by the fuzz suite: PyYAML's int constructor raised IndexError on ""
    with pytest.raises(SpecError, match="cannot read the value ''") as info:
        read_yaml("i.yaml", "a: 1\nb: !!int \n")
    assert info.value.issues[0].line == 2


def test_impossible_date_is_located() -> None:
    with pytest.raises(SpecError, match="cannot read the value '2020-02-30'") as info:
        read_yaml("d.yaml", "id: x\nstart: 2020-02-30\n")
    assert (info.value.issues[0].line, info.value.issues[0].column) == (2, 8)


@pytest.mark.parametrize(
    "document",
    [
        'x: !!python/object/apply:builtins.exec [\'open("{canary}", "w")\']',
        'x: !!python/object/new:builtins.exec [\'open("{canary}", "w")\']',
        '!!python/object/apply:builtins.exec\nargs: [\'open("{canary}", "w")\']',
        "x: !!python/name:builtins.exec",
        "x: !!binary aGVsbG8=",
        "x: !custom {a: 1}",
    ],
)
def test_no_tag_ever_runs_anything(tmp_path: Path, document: str) -> None:
    # the canary: a file the document would create if any constructor ran it
    canary = tmp_path / "canary"
    with pytest.raises(SpecError, match="is not allowed"):
        read_yaml("evil.yaml", document.replace("{canary}", str(canary)))
    assert not canary.exists()


def test_implicit_types_match_pyyaml_safe_load() -> None:
    text = (
        "a: [1, 1.5, .inf, ~, null, '', yes, No, on, 0x1F, 1_000, 2020-01-02, "
        "2020-01-02T10:00:00Z, '1', \"x\", 12:30:00, '=']\n"
    )
    assert read_yaml("t.yaml", text).value == yaml.safe_load(text)
    # a plain '=' (YAML 1.1's !!value, which safe_load refuses) is the text '='
    assert read_yaml("t.yaml", "a: =").value == {"a": "="}


# --------------------------------------------------------------------------------------------
# iter_yaml_files
# --------------------------------------------------------------------------------------------
def test_iter_yaml_files_recursive_sorted_and_once(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ["b/z.yaml", "a/deep/y.yml", "a/x.yaml", "a/notes.txt", "top.yaml"]:
        (tmp_path / name).write_text("x: 1\n", encoding="utf-8")
    found = list(iter_yaml_files([tmp_path, tmp_path / "a" / "x.yaml"]))
    relative = [p.relative_to(tmp_path).as_posix() for p in found]
    # sorted paths, .txt ignored, a/x.yaml listed once although given twice
    assert relative == ["a/deep/y.yml", "a/x.yaml", "b/z.yaml", "top.yaml"]


def test_iter_yaml_files_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file or folder") as info:
        list(iter_yaml_files([tmp_path / "nowhere"]))
    assert info.value.issues[0].file == str(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------
# errors: hierarchy and messages
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (SpecError("x"), builtins.ValueError),
        (FormulaError("x", "a + b"), builtins.ValueError),
        (UnitError("x"), builtins.TypeError),
        (DataError("x"), builtins.ValueError),
    ],
)
def test_errors_inherit_the_base_and_a_builtin(error: Exception, builtin: type) -> None:
    assert isinstance(error, SecurindexError)
    assert isinstance(error, builtin)


def test_error_codes_are_distinct() -> None:
    codes = [cls.code for cls in (SpecError, FormulaError, UnitError, DataError)]
    assert codes == ["spec", "formula", "unit", "data"]


@pytest.mark.parametrize(
    ("issue", "text"),
    [
        (Issue("m"), "m"),
        (Issue("m", file="f.yaml"), "f.yaml: m"),
        (Issue("m", file="f.yaml", line=3), "f.yaml:3: m"),
        (Issue("m", file="f.yaml", line=3, column=4, field="unit"), "f.yaml:3:4: unit: m"),
        # a column without a line is meaningless and not shown
        (Issue("m", file="f.yaml", column=4), "f.yaml: m"),
        (Issue("m", field="inputs.x"), "inputs.x: m"),
    ],
)
def test_issue_str(issue: Issue, text: str) -> None:
    assert str(issue) == text


def test_spec_error_lists_every_issue() -> None:
    error = SpecError([Issue("one", file="a.yaml", line=1), Issue("two", file="b.yaml", line=2)])
    assert str(error) == "2 problems found:\n  a.yaml:1: one\n  b.yaml:2: two"
    assert len(error.issues) == 2
    assert str(SpecError("plain")) == "plain"


def test_formula_error_puts_carets_under_the_span() -> None:
    # "homicide" is characters 0..8 of the formula
    error = FormulaError("unknown name", "homicide / population", 0, 8)
    assert str(error) == "unknown name\n    homicide / population\n    ^^^^^^^^"
    # an empty span still gets one caret; a negative start is clamped to 0
    assert str(FormulaError("m", "ab", 1, 1)).endswith("\n     ^")
    assert FormulaError("m", "ab", -3, 1).start == 0


def test_data_error_names_source_column_and_at_most_five_rows() -> None:
    error = DataError("negative", column="pop", rows=list(range(7)), source="d.csv")
    assert str(error) == "d.csv: column 'pop': negative (rows: 0, 1, 2, 3, 4 and 2 more)"
    assert error.rows == tuple(range(7))
    assert str(DataError("m", rows=[("a", 2020)])) == "m (rows: ('a', 2020))"
