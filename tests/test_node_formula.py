"""Tests of securindex.node_formula and of the structures it opens: node formulas, DAGs,
identity steps, higher_is, node ranges and node imputation — checked by hand, in memory
and under a zero-noise Monte Carlo (which must equal the in-memory build)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from securindex.analysis.uncertainty import run_uncertainty
from securindex.dataset import Panel
from securindex.errors import DataError, FormulaError, SpecError
from securindex.framework import Framework
from securindex.node_formula import parse_node_formula
from securindex.plan import NODE_KIND_FORMULA, compile_plan

# -- parsing, intervals, evaluation -------------------------------------------------------


def test_a_node_formula_names_ids() -> None:
    f = parse_node_formula("1 - sqrt(a * b) / max(a, c)", {"a", "b", "c"})
    assert f.order == ("a", "b", "c")


@pytest.mark.parametrize(
    ("text", "message", "span"),
    [
        ("female / mal", "unknown id 'mal'", "mal"),
        ("lag(female, 1)", "lag() is not available in a node formula", "lag(female, 1)"),
        ("female / ", "syntax error", None),
    ],
)
def test_bad_node_formulas_point_at_the_fault(text: str, message: str, span: str | None) -> None:
    with pytest.raises(FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_node_formula(text, {"female", "male"})
    if span is not None:
        assert e.value.formula[e.value.start : e.value.end] == span
    if text.endswith("mal"):
        assert "did you mean 'male'" in str(e.value)


@pytest.mark.parametrize(
    ("text", "ranges", "expected"),
    [
        ("a / b", {"a": (0.0, 1.0), "b": (0.5, 2.0)}, (0.0, 2.0)),
        ("a / b", {"a": (0.0, 1.0), "b": (0.0, 1.0)}, (0.0, math.inf)),
        ("1 - sqrt(a * b)", {"a": (0.0, 1.0), "b": (0.0, 1.0)}, (0.0, 1.0)),
        ("a - b", {"a": (1.0, 5.0), "b": (1.0, 5.0)}, (-4.0, 4.0)),
        ("round(a * 100, 0)", {"a": (0.001, 0.999)}, (0.0, 100.0)),
        ("clip(a, 0, 1)", {"a": None}, (0.0, 1.0)),
        ("a ** 2", {"a": (-2.0, 1.0)}, (0.0, 4.0)),
        ("log(a)", {"a": (1.0, math.e)}, (0.0, 1.0)),
        ("where(a > 0, a, 0 - a)", {"a": (-1.0, 2.0)}, (-2.0, 2.0)),  # both branches
    ],
)
def test_interval_arithmetic(
    text: str, ranges: dict[str, Any], expected: tuple[float, float]
) -> None:
    f = parse_node_formula(text, set(ranges))
    assert f.interval(ranges) == pytest.approx(expected)


def test_evaluation_broadcasts_over_replicates_and_reports_undefined_rows() -> None:
    f = parse_node_formula("female / male", {"female", "male"})
    x = np.array([[[0.8, 0.9], [0.5, 0.0]], [[0.4, 0.8], [np.nan, 0.5]]])  # (2, 2, 2)
    values, problems = f.evaluate(("female", "male"), x)
    assert values.shape == (2, 2)
    np.testing.assert_allclose(values, [[0.8 / 0.9, np.nan], [0.5, np.nan]])
    assert problems["division by zero in 'female / male'"].tolist() == [
        [False, True],
        [False, False],
    ]


# -- frameworks with formula nodes --------------------------------------------------------

DATA = pd.DataFrame(
    {
        "entity": ["A", "B", "C", "D"],
        "period": 2022,
        "le_f": [80.0, 70.0, 60.0, 50.0],
        "le_m": [75.0, 70.0, 62.0, 45.0],
        "inc_f": [30.0, 10.0, 5.0, 1.0],
        "inc_m": [40.0, 12.0, 4.0, 2.0],
    }
)
DICTIONARY = {
    "entity": "entity",
    "period": "period",
    "variables": {c: {"unit": "dimensionless"} for c in ("le_f", "le_m", "inc_f", "inc_m")},
}


def _panel(frame: pd.DataFrame = DATA) -> Panel:
    return Panel.from_frame(frame, dictionary=DICTIONARY)


def _gdi(**root: Any) -> dict[str, Any]:
    """A gender-development-style index: two sub-indices and their ratio, rounded."""
    return {
        "id": "gdi",
        "columns": dict.fromkeys(("le_f", "le_m", "inc_f", "inc_m"), "positive"),
        "pipeline": {"normalise": {"method": "goalposts", "lo": 0, "hi": 100}},
        "root": {"formula": "round(female, 3) / round(male, 3)", **root},
        "structure": [
            {"id": "female", "children": ["le_f", "inc_f"]},
            {"id": "male", "children": ["le_m", "inc_m"]},
        ],
    }


def test_a_ratio_of_two_sub_indices_by_hand() -> None:
    fw = Framework.from_spec(_gdi())
    assert compile_plan(fw).node("gdi").kind == NODE_KIND_FORMULA
    assert fw.top_level == ("female", "male")
    result = fw.compute(_panel())
    female = (DATA.le_f / 100 + DATA.inc_f / 100) / 2
    male = (DATA.le_m / 100 + DATA.inc_m / 100) / 2
    expected = np.round(female.to_numpy(), 3) / np.round(male.to_numpy(), 3)
    np.testing.assert_allclose(result.scores["gdi"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(result.scores["female"].to_numpy(), female, rtol=1e-12)
    # a formula has no weights: the effective weights below it are undefined, said as NaN
    assert result.effective_weights.isna().all()
    assert result.weights["gdi"].isna().all()


def test_formula_nodes_with_aggregate_or_weighting_are_refused() -> None:
    with pytest.raises(SpecError, match="scored by the formula, so aggregate would be ignored"):
        Framework.from_spec(_gdi(aggregate={"method": "geometric"}))


def test_an_undefined_formula_row_is_audited(tmp_path: Path) -> None:
    frame = DATA.copy()
    frame.loc[3, ["le_m", "inc_m"]] = 0.0  # male index 0: the ratio is undefined
    result = Framework.from_spec(_gdi()).compute(_panel(frame))
    assert np.isnan(result.scores["gdi"].iloc[3])
    audit = result.audit[result.audit["item"] == "gdi"]
    assert list(audit["entity"]) == ["D"] and audit["action"].tolist() == ["not scored"]
    assert "division by zero" in audit["detail"].iloc[0]


def test_a_declared_range_is_checked_at_load_and_on_the_scores() -> None:
    with pytest.raises(SpecError, match=r"never meet the declared range \[2, 3\]"):
        Framework.from_spec(_gdi(formula="female - male - 5", range=[2, 3]))
    fw = Framework.from_spec(_gdi(range=[0, 1]))
    with pytest.raises(DataError, match=r"1 score\(s\) outside its declared range \[0, 1\]"):
        fw.compute(_panel())  # D: female 0.255 / male 0.235 > 1


def test_formula_range_feeds_the_geometric_mean_check(tmp_path: Path) -> None:
    spec = _gdi()
    spec["root"] = {"aggregate": {"method": "geometric"}}
    spec["structure"].append({"id": "gap", "formula": "female - male"})  # can be < 0
    spec["structure"] = [
        {"id": "female", "children": ["le_f", "inc_f"]},
        {"id": "male", "children": ["le_m", "inc_m"]},
        {"id": "gap", "formula": "1 + female - male", "weight": 1},
        {"id": "top", "children": ["gap"], "aggregate": {"method": "geometric"}},
    ]
    spec["root"] = {"children": ["top"]}
    with pytest.raises(SpecError) as info:
        Framework.from_spec(spec)
    text = str(info.value)
    assert "'gap' in [0, 2]" in text and "needs strictly positive" in text


def test_a_node_under_two_parents_and_effective_weights() -> None:
    spec = {
        "id": "idx",
        "columns": dict.fromkeys(("le_f", "le_m", "inc_f"), "positive"),
        "pipeline": {"normalise": {"method": "goalposts", "lo": 0, "hi": 100}},
        "root": {"aggregate": {"method": "arithmetic"}},
        "structure": [
            {"id": "p1", "weight": 3, "children": ["le_f", "inc_f"]},
            {"id": "p2", "weight": 1, "children": ["inc_f", "le_m"]},
        ],
    }
    result = Framework.from_spec(spec).compute(_panel())
    eff = result.effective_weights
    # inc_f: 3/4 * 1/2 + 1/4 * 1/2 = 1/2; le_f 3/8; le_m 1/8
    assert eff.to_dict() == pytest.approx({"le_f": 0.375, "inc_f": 0.5, "le_m": 0.125})
    by_hand = 0.375 * DATA.le_f / 100 + 0.5 * DATA.inc_f / 100 + 0.125 * DATA.le_m / 100
    np.testing.assert_allclose(result.index.to_numpy(), by_hand, rtol=1e-12)


def test_indicators_directly_under_the_root() -> None:
    spec = {
        "id": "flat",
        "columns": {"le_f": "positive", "inc_f": {"polarity": "positive", "weight": 3}},
        "pipeline": {"normalise": {"method": "goalposts", "lo": 0, "hi": 100}},
        "root": {"children": ["le_f", "inc_f"]},
    }
    result = Framework.from_spec(spec).compute(_panel())
    np.testing.assert_allclose(
        result.index.to_numpy(), (DATA.le_f + 3 * DATA.inc_f) / 400, rtol=1e-12
    )


def test_a_node_nobody_refers_to_with_explicit_root_children_is_an_error() -> None:
    spec = _gdi()
    spec["root"] = {"children": ["female"]}
    with pytest.raises(SpecError, match="node 'male' is nobody's child"):
        Framework.from_spec(spec)


# -- identity steps and higher_is ---------------------------------------------------------

PEACE = {
    "id": "peace",
    "higher_is": "worse",
    "columns": {"a": "negative", "b": {"polarity": "negative", "weight": 3}},
    "pipeline": {"normalise": {"method": "none", "range": [1, 5]}, "weight": {"method": "none"}},
    "root": {"children": ["a", "b"]},
}
PEACE_DATA = pd.DataFrame(
    {"entity": list("PQRS"), "period": 2018, "a": [1.5, 4.0, 2.0, 1.0], "b": [1.0, 3.0, 2.5, 1.0]}
)
PEACE_DICTIONARY = {
    "entity": "entity",
    "period": "period",
    "variables": {c: {"unit": "dimensionless"} for c in "ab"},
}


def test_a_higher_is_worse_index_keeps_its_scale_and_ranks_the_lowest_first() -> None:
    result = Framework.from_spec(PEACE).compute(
        Panel.from_frame(PEACE_DATA, dictionary=PEACE_DICTIONARY)
    )
    expected = (PEACE_DATA.a + 3 * PEACE_DATA.b) / 4  # 1.125, 3.25, 2.375, 1
    np.testing.assert_allclose(result.index.to_numpy(), expected, rtol=1e-12)
    assert result.ranks["peace"].tolist() == [2.0, 4.0, 3.0, 1.0]


def test_higher_is_worse_orients_normalisation_the_other_way() -> None:
    spec = {**PEACE, "pipeline": {"normalise": {"method": "minmax", "lo": 0, "hi": 100}}}
    spec["columns"] = {"a": "negative", "b": "positive"}
    result = Framework.from_spec(spec).compute(
        Panel.from_frame(PEACE_DATA, dictionary=PEACE_DICTIONARY)
    )
    # a: more is worse, so the most a scores 100; b: more is better, so the least b scores 100
    assert result.normalised["a"].tolist() == pytest.approx([100 / 6, 100, 100 / 3, 0])
    assert result.normalised["b"].tolist() == pytest.approx([100, 0, 25, 100])


def test_identity_over_values_of_the_wrong_direction_is_refused() -> None:
    spec = {**PEACE, "higher_is": "better"}
    with pytest.raises(SpecError, match="does not apply polarity") as info:
        Framework.from_spec(spec)
    assert "higher_is: better" in str(info.value)


def test_identity_range_is_checked_on_the_data() -> None:
    frame = PEACE_DATA.assign(a=[1.5, 6.0, 2.0, 1.0])
    with pytest.raises(DataError, match=r"outside the declared range \[1, 5\]"):
        Framework.from_spec(PEACE).compute(Panel.from_frame(frame, dictionary=PEACE_DICTIONARY))


def test_aggregate_none_takes_one_child_and_refuses_more(tmp_path: Path) -> None:
    spec = _gdi()
    spec.pop("root")
    spec["pipeline"]["aggregate"] = {"method": "none"}
    path = tmp_path / "f.yaml"
    import yaml

    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SpecError, match="passes one child's value through, but the node has 2"):
        Framework.load(path)


# -- node imputation ----------------------------------------------------------------------


def test_a_dimension_with_no_data_for_an_entity_is_imputed_at_node_level() -> None:
    frame = DATA.copy()
    frame.loc[1, ["le_m", "inc_m"]] = np.nan  # B has no male data at all
    spec = _gdi()
    spec["structure"][1]["impute"] = {"method": "mean"}
    result = Framework.from_spec(spec).compute(_panel(frame))
    male = ((DATA.le_m + DATA.inc_m) / 200).to_numpy()
    filled = np.mean(male[[0, 2, 3]])
    assert result.scores["male"].iloc[1] == pytest.approx(filled, rel=1e-12)
    rows = result.audit[(result.audit["item"] == "male") & (result.audit["action"] == "imputed")]
    assert rows["entity"].tolist() == ["B"] and "imputed" in rows["detail"].iloc[0]


# -- the same in memory and under a zero-noise Monte Carlo ----------------------------------


def test_zero_noise_monte_carlo_equals_the_in_memory_build() -> None:
    frame = pd.concat([DATA.assign(period=2021), DATA.assign(period=2022)], ignore_index=True)
    frame.loc[1, ["le_m", "inc_m"]] = np.nan
    frame.loc[4:, ["le_f"]] *= 1.05
    spec = _gdi()
    spec["structure"][1]["impute"] = {"method": "mean"}
    spec["structure"].append(
        {
            "id": "shared",
            "children": ["inc_f", "le_m"],  # a DAG
            "normalise": {"method": "minmax", "lo": 1, "hi": 2, "reference": "per_period"},
        }
    )
    spec["root"] = {"formula": "round(female, 3) / round(male, 3) * shared"}
    spec["higher_is"] = "better"
    nominal = Framework.from_spec(spec).compute(_panel(frame))
    mc = run_uncertainty(
        nominal, {"weights": {"noise": 0.0}}, n_replicates=3, seed=1, keep_replicates=True
    )
    assert mc.scores is not None
    for replicate in range(3):
        np.testing.assert_allclose(
            mc.scores.iloc[replicate].to_numpy(), nominal.index.to_numpy(), rtol=0, atol=1e-12
        )


def test_monte_carlo_refuses_weight_noise_on_a_formula_node() -> None:
    nominal = Framework.from_spec(_gdi()).compute(_panel())
    with pytest.raises(SpecError, match="scored by its formula"):
        run_uncertainty(nominal, {"weights": {"noise": 0.1, "nodes": ["gdi"]}}, n_replicates=2)


def test_dask_runs_formulas_but_refuses_node_steps_that_learn_from_all_rows() -> None:
    pytest.importorskip("dask")
    from securindex.engines.dask import check_supported

    check_supported(Framework.from_spec(_gdi()))  # a formula node runs on partitions
    check_supported(Framework.from_spec({**PEACE, "pipeline": {}}))  # and higher_is: worse
    spec = _gdi()
    spec["structure"][1]["impute"] = {"method": "mean"}
    with pytest.raises(SpecError, match="has its own impute step, which learns from all rows"):
        check_supported(Framework.from_spec(spec))


def test_load_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            id: gdi
            columns: {a: positive, b: positive}
            root:
              formula: a / bb
            structure:
              - {id: p, children: [a, b]}
            """
        )
    )
    with pytest.raises(SpecError) as info:
        Framework.load(path)
    text = str(info.value)
    assert f"{path}:4:" in text and "unknown id 'bb'" in text and "did you mean 'b'" in text


# -- a second normalisation of a node's scores (a hardship index) ------------------------------


def test_a_node_normalises_its_own_scores_again() -> None:
    spec = {
        "id": "hardship",
        "higher_is": "worse",
        "columns": {"le_f": "positive", "inc_f": "positive"},
        "pipeline": {"normalise": {"method": "minmax", "lo": 0, "hi": 100}},
        "root": {
            "children": ["le_f", "inc_f"],
            "normalise": {"method": "minmax", "lo": 1, "hi": 100},
        },
    }
    result = Framework.from_spec(spec).compute(_panel())
    # more is better for both, so under higher_is: worse both are reversed
    le = 100 * (80 - DATA.le_f) / 30
    inc = 100 * (30 - DATA.inc_f) / 29
    mean = (le + inc) / 2
    by_hand = 1 + 99 * (mean - mean.min()) / (mean.max() - mean.min())
    np.testing.assert_allclose(result.index.to_numpy(), by_hand, rtol=1e-12)
    assert result.ranks["hardship"].tolist() == [1.0, 2.0, 3.0, 4.0]  # least hardship first
    assert result.learnt["hardship"]["min"] == pytest.approx(mean.min())


def test_a_node_normalise_step_refuses_indicator_options() -> None:
    spec = _gdi()
    spec["structure"][0]["normalise"] = {
        "method": "minmax",
        "reference": "base",
        "base_period": 2022,
    }
    with pytest.raises(SpecError, match="'base_period' is only read by indicators"):
        Framework.from_spec(spec)
