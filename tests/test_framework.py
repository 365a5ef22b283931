"""Tests of securindex.framework and securindex.spec.framework: the tree and its checks.

Every load-time error is checked for its message and its ``file:line``: the line is found
in the YAML text by a marker, so the tests say which line a user is sent to.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from securindex.errors import SpecError
from securindex.framework import PIPELINE_OPTIONS, Framework, split_options
from securindex.spec.framework import FrameworkSpec, Step
from securindex.validate import validate_paths

EXAMPLES = Path(__file__).resolve().parents[1] / "indicators" / "examples"

BASE = """\
id: idx
columns:
  a: positive
  b: {polarity: negative, weight: 2}
  c: positive
  d: positive
"""


def _write(tmp_path: Path, text: str, name: str = "framework.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _line(path: Path, marker: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``path`` containing ``marker``."""
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if marker in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{marker!r} not in {path}")


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        Framework.load(path)
    return [str(issue) for issue in info.value.issues]


def _one_problem(path: Path, marker: str, *fragments: str, occurrence: int = 1) -> str:
    problems = _problems(path)
    line = _line(path, marker, occurrence)
    located = [p for p in problems if p.startswith(f"{path}:{line}:")]
    assert located, f"no problem at line {line}: {problems}"
    for fragment in fragments:
        assert fragment in located[0], located[0]
    return located[0]


# -- a valid framework --------------------------------------------------------------------


def test_a_valid_framework_and_its_tree(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
        structure:
          - {id: top, weight: 3, children: [p1, p2]}
          - {id: p1, children: [a, b]}
          - {id: p2, name: Second, children: [c, d]}
        """.replace("        ", ""),
    )
    fw = Framework.load(path)
    assert fw.id == "idx"
    assert fw.node_order == ("idx", "top", "p1", "p2")  # root first, breadth-first
    assert fw.indicators == ("a", "b", "c", "d")  # depth-first leaves
    assert fw.top_level == ("top",)
    assert set(fw.nodes) == {"top", "p1", "p2"}
    assert fw.children["p1"] == ("a", "b")
    assert fw.parent["a"] == "p1" and fw.parent["top"] == "idx"
    assert fw.postorder() == ["p1", "p2", "top", "idx"]
    assert fw.nominal_weight("b") == 2.0 and fw.nominal_weight("top") == 3.0
    assert fw.polarity("b") == "negative"
    assert fw.node_name("p2") == "Second" and fw.node_name("p1") == "p1"
    assert fw.normalise_step("a").method == "minmax"
    assert fw.aggregate_step("idx").method == "arithmetic"
    assert fw.missing_policy("p1").policy == "renormalise"
    assert "4 indicators, 3 nodes" in repr(fw)


def test_the_examples_validate() -> None:
    issues, counts = validate_paths([EXAMPLES])
    assert issues == []
    assert counts == {"framework": 9, "dictionary": 5}


def test_columns_polarity_shorthand() -> None:
    spec = FrameworkSpec.model_validate(
        {"id": "x", "columns": {"a": "negative"}, "structure": [{"id": "n", "children": ["a"]}]}
    )
    assert spec.columns["a"].polarity == "negative"


def test_split_options() -> None:
    step = Step(method="minmax", lo=1, hi=100, reference="base", base_period=2015)
    options, params = split_options("normalise", step)
    assert options == {"reference": "base", "base_period": 2015}
    assert params == {"lo": 1, "hi": 100}
    assert set(PIPELINE_OPTIONS) == {"screen", "impute", "treat", "normalise", "aggregate"}


# -- load-time errors, each with message and file:line ---------------------------------------


def test_unknown_id(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "structure:\n  - {id: p, children: [a, bb, c]}\n")
    _one_problem(path, "bb", "unknown id 'bb' in the children of 'p'", "did you mean 'b'?")


def test_an_indicator_under_two_parents_is_a_dag(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "structure:\n  - {id: p1, children: [a, b]}\n  - {id: p2, children: [c, a]}\n",
    )
    fw = Framework.load(path)
    assert fw.indicators == ("a", "b", "c")  # each leaf once
    assert fw.parents["a"] == ("p1", "p2") and fw.parent["a"] == "p1"
    assert fw.postorder() == ["p1", "p2", "idx"]


def test_a_node_under_two_parents_is_computed_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "structure:\n  - {id: top1, children: [p]}\n  - {id: top2, children: [p, d]}\n"
        "  - {id: p, children: [a, b, c]}\n",
    )
    fw = Framework.load(path)
    assert fw.postorder() == ["p", "top1", "top2", "idx"]
    assert fw.parents["p"] == ("top1", "top2")


def test_child_listed_twice_in_one_node(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "structure:\n  - id: p\n    children: [a, a, b]\n")
    _one_problem(path, "children: [a, a, b]", "children listed more than once: ['a']")


def test_empty_node(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "structure:\n  - id: p\n    children: []\n")
    _one_problem(path, "id: p", "node 'p' has no children", "or give the node a 'formula'")


def test_negative_node_weight(tmp_path: Path) -> None:
    path = _write(
        tmp_path, BASE + "structure:\n  - id: p\n    weight: -0.5\n    children: [a, b]\n"
    )
    _one_problem(path, "weight: -0.5", "weight must be >= 0", "got -0.5", "polarity: negative")


def test_negative_column_and_override_weights(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "id: idx\ncolumns:\n  a: {polarity: positive, weight: -1}\n  b: positive\n"
        "overrides:\n  b:\n    weight: -2\nstructure:\n  - {id: p, children: [a, b]}\n",
    )
    _one_problem(path, "weight: -1", "columns.a.weight", "weight must be >= 0")
    _one_problem(path, "weight: -2", "overrides.b.weight", "weight must be >= 0")


def test_geometric_over_minmax_from_zero_says_how_to_fix(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: minmax, lo: 0, hi: 100}\n"
        "structure:\n  - id: p\n    aggregate: {method: geometric}\n    children: [a, b]\n"
        "  - {id: q, children: [c, d]}\n",
    )
    message = _one_problem(
        path,
        "aggregate: {method: geometric}",
        "node 'p' aggregates with 'geometric', which needs strictly positive values",
        "'a' in [0, 100] (minmax at pipeline.normalise)",
        "normalise: {method: minmax, lo: 1, hi: 100}",
        "allow_zero: true",
    )
    assert "structure.0.aggregate" in message


def test_harmonic_root_over_minmax_from_zero(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "root:\n  aggregate: {method: harmonic}\nstructure:\n"
        "  - {id: p, children: [a, b]}\n  - {id: q, children: [c, d]}\n",
    )
    _one_problem(path, "aggregate: {method: harmonic}", "node 'idx' aggregates with 'harmonic'")


def test_positive_range_passes(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: minmax, lo: 1, hi: 100}\n"
        "  aggregate: {method: geometric}\n"
        "structure:\n  - {id: p, children: [a, b]}\n  - {id: q, children: [c, d]}\n",
    )
    assert Framework.load(path).aggregate_step("p").method == "geometric"


def test_allow_zero_accepts_zero_but_not_negative_ranges(tmp_path: Path) -> None:
    zero = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: goalposts, lo: 0, hi: 10}\n"
        "  aggregate: {method: geometric, allow_zero: true}\n"
        "structure:\n  - {id: p, children: [a, b, c, d]}\n",
    )
    assert Framework.load(zero).id == "idx"
    negative = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: minmax, lo: -1, hi: 1}\n"
        "  aggregate: {method: geometric, allow_zero: true}\n"
        "structure:\n  - {id: p, children: [a, b, c, d]}\n",
        name="negative.yaml",
    )
    message = _one_problem(negative, "allow_zero", "'a' in [-1, 1]")
    assert "allow_zero: true to this aggregate" not in message  # no such advice below 0


def test_unknown_method(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + "pipeline:\n  normalise: {method: minmaxx}\nstructure:\n  - {id: p, children: [a]}\n",
    )
    _one_problem(
        path,
        "method: minmaxx",
        "pipeline.normalise.method",
        "unknown normalise method 'minmaxx'",
        "did you mean 'minmax'?",
        "available:",
    )


def test_unknown_node_method(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "structure:\n  - id: p\n    weighting: {method: pca}\n    children: [a, b]\n",
    )
    _one_problem(path, "method: pca", "unknown weight method 'pca'", "pca_loadings")


def test_node_cycle(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "structure:\n  - {id: top, children: [d]}\n  - {id: p, children: [a, q]}\n"
        "  - {id: q, children: [b, p]}\n",
    )
    problems = _problems(path)
    line = _line(path, "id: q")
    assert any(
        p.startswith(f"{path}:{line}:") and "node cycle: p -> q -> p" in p for p in problems
    ), problems


def test_context_indicator_in_the_tree(tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    (catalogue / "density.yaml").write_text(
        textwrap.dedent(
            """\
            id: density
            name: Population density
            category: context
            polarity: none
            formula: population / area
            unit: inhabitant / km**2
            inputs:
              population: {unit: inhabitant}
              area: {unit: km**2}
            """
        )
    )
    path = _write(
        tmp_path,
        BASE + "indicators: [catalogue]\nstructure:\n  - id: p\n    children:\n      - a\n"
        "      - density\n",
    )
    _one_problem(
        path,
        "- density",
        "indicator 'density' has polarity 'none'",
        "overrides: {density: {polarity: positive}}",
    )
    fixed = _write(
        tmp_path,
        path.read_text() + "overrides:\n  density: {polarity: negative}\n",
        name="fixed.yaml",
    )
    assert Framework.load(fixed).polarity("density") == "negative"


def test_override_of_an_indicator_not_in_the_tree(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "overrides:\n  zz: {weight: 2}\nstructure:\n  - {id: p, children: [a]}\n",
    )
    _one_problem(path, "zz:", "override for 'zz', which is not an indicator of the structure")


def test_node_ids_unique_and_not_the_root(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "structure:\n  - {id: p, children: [a]}\n  - {id: p, children: [b]}\n"
        "  - {id: idx, children: [c]}\n",
    )
    problems = _problems(path)
    assert any(f":{_line(path, 'id: p', 2)}:" in p and "used twice" in p for p in problems)
    assert any(f":{_line(path, 'id: idx, ')}:" in p and "framework id" in p for p in problems)


def test_bad_method_parameter_is_found_at_load_time(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  treat: {method: winsorise, winmax: -1}\n"
        "structure:\n  - {id: p, children: [a, b]}\n",
    )
    _one_problem(path, "winmax: -1", "'winmax' parameter of treat method 'winsorise'", "-1")


def test_unknown_aggregate_parameter(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  aggregate: {method: arithmetic, p: 2}\n"
        "structure:\n  - {id: p, children: [a, b]}\n",
    )
    _one_problem(path, "p: 2", "aggregate method 'arithmetic' got unknown parameter(s) ['p']")


def test_pipeline_option_checked(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: minmax, reference: yearly}\n"
        "structure:\n  - {id: p, children: [a, b]}\n",
    )
    _one_problem(path, "reference: yearly", "'reference' must be one of", "'per_period'")
    base = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: minmax, reference: base}\n"
        "structure:\n  - {id: p, children: [a, b]}\n",
        name="base.yaml",
    )
    _one_problem(base, "reference: base", "needs base_period")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "structure:\n  - {id: p, children: [a, nope]}\n  - {id: q, children: [a, bb]}\n",
    )
    problems = _problems(path)
    assert len(problems) == 2
    assert any("unknown id 'nope'" in p for p in problems)
    assert any("unknown id 'bb'" in p for p in problems)


def test_column_clashing_with_a_catalogue_id(tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    (catalogue / "a.yaml").write_text(
        "id: a\nname: A\ncategory: crime\npolarity: negative\nformula: x\nunit: count\n"
        "inputs:\n  x: {unit: count}\n"
    )
    path = _write(
        tmp_path, BASE + "indicators: [catalogue]\nstructure:\n  - {id: p, children: [a]}\n"
    )
    _one_problem(path, "a: positive", "column 'a' has the id of a catalogue indicator")


# -- replacing steps ------------------------------------------------------------------------


def _overridden() -> Framework:
    return Framework.from_spec(
        {
            "id": "idx",
            "columns": dict.fromkeys("abc", "positive"),
            "pipeline": {"normalise": {"method": "minmax", "lo": 1, "hi": 100}},
            "overrides": {"a": {"normalise": {"method": "goalposts", "lo": 0, "hi": 10}}},
            "structure": [
                {"id": "p", "aggregate": {"method": "geometric"}, "children": ["b", "c"]},
                {"id": "q", "children": ["a"]},
            ],
        }
    )


def test_with_steps_replaces_overrides_by_default() -> None:
    fw = _overridden()
    changed = fw.with_steps(normalise={"method": "zscore"}, aggregate={"method": "minimum"})
    assert {changed.normalise_step(i).method for i in "abc"} == {"zscore"}
    assert changed.aggregate_step("p").method == "minimum"
    assert fw.normalise_step("a").method == "goalposts"  # the original is unchanged


def test_with_steps_can_keep_overrides() -> None:
    fw = _overridden()
    kept = fw.with_steps(keep_overrides=True, normalise={"method": "minmax", "lo": 2, "hi": 3})
    assert kept.normalise_step("a").method == "goalposts"
    assert kept.normalise_step("b").params == {"lo": 2, "hi": 3}
    assert kept.aggregate_step("p").method == "geometric"


def test_with_steps_missing_policy() -> None:
    fw = Framework.from_spec(
        {
            "id": "idx",
            "columns": {"a": "positive"},
            "root": {"missing": {"policy": "coverage", "min_coverage": 1.0}},
            "structure": [{"id": "p", "missing": {"policy": "fail"}, "children": ["a"]}],
        }
    )
    assert fw.missing_policy("p").policy == "fail"
    assert fw.missing_policy("idx").min_coverage == 1.0
    changed = fw.with_steps(missing={"policy": "renormalise"})
    assert {changed.missing_policy(n).policy for n in ("p", "idx")} == {"renormalise"}


def test_with_steps_validates_again() -> None:
    fw = _overridden()
    with pytest.raises(SpecError, match="needs strictly positive values"):
        fw.with_steps(normalise={"method": "minmax", "lo": 0, "hi": 100}, keep_overrides=True)
    with pytest.raises(SpecError, match="unknown pipeline step"):
        fw.with_steps(normalize={"method": "zscore"})


def test_settings_fingerprint_changes_with_the_stage() -> None:
    fw = _overridden()
    changed = fw.with_steps(aggregate={"method": "arithmetic"})
    assert fw.settings() == changed.settings()  # aggregation is not a reusable stage
    renormalised = fw.with_steps(normalise={"method": "zscore"})
    assert fw.settings()["treat"] == renormalised.settings()["treat"]
    assert fw.settings()["normalise"] != renormalised.settings()["normalise"]


def test_a_column_naming_a_file_header_is_a_located_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'id: x\ncolumns:\n  crowd: {polarity: negative, column: "PERCENT OF HOUSING CROWDED"}\n'
        "root: {children: [crowd]}\n",
    )
    _one_problem(
        path,
        "crowd:",
        "is not a variable name",
        "Map the header to a variable in the data dictionary",
    )


def test_a_flat_framework_file_is_recognised_as_a_framework(tmp_path: Path) -> None:
    path = _write(tmp_path, "id: flat\ncolumns: {a: positive}\nroot: {children: [a]}\n")
    issues, counts = validate_paths([path])
    assert issues == [] and counts == {"framework": 1}


def test_treat_per_period_is_an_option_of_the_pipeline(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  treat: {method: winsorise, per_period: yes please}\n"
        "structure:\n  - {id: p, children: [a, b]}\n",
    )
    _one_problem(path, "per_period", "'per_period' must be true or false")


def test_benefit_of_the_doubt_with_another_aggregator_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "pipeline:\n  normalise: {method: minmax, lo: 1, hi: 100}\n"
        "structure:\n  - id: p\n    children: [a, b]\n"
        "    weighting: {method: benefit_of_doubt}\n"
        "    aggregate: {method: geometric}\n",
    )
    _one_problem(
        path,
        "aggregate: {method: geometric}",
        "is scored by its weighting method 'benefit_of_doubt'",
        "aggregate 'geometric' would be ignored",
    )


def test_pipeline_wide_share_bounds_meet_a_one_child_root() -> None:
    # the root has one child: one (lower, upper) pair for all children cannot bind it
    spec = {
        "id": "idx",
        "columns": {"a": "positive", "b": "positive"},
        "pipeline": {"weight": {"method": "benefit_of_doubt", "bounds": [0.1, 0.6]}},
        "structure": [{"id": "p", "children": ["a", "b"]}],
    }
    fw = Framework.from_spec(spec)
    assert fw.children["idx"] == ("p",)
