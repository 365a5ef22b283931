"""Tests of securindex.plan: compiling a framework into its plan, and the node rules every
engine calls (missing-data policy, not scored at zero, benefit of the doubt as the LP
optimum, ranks within periods, audit rows), checked by hand and against pandas."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from securindex.catalogue import IndicatorValues
from securindex.errors import DataError
from securindex.framework import Framework
from securindex.pipeline import run_pipeline
from securindex.plan import (
    NODE_KIND_FRONTIER,
    NODE_KIND_WEIGHTED,
    NODE_RULES,
    REASONS,
    NodeRule,
    NodeScore,
    Unscored,
    audit_frame,
    audit_join,
    audit_rows,
    audit_table,
    column_audit,
    compile_plan,
    rank_within_periods,
    register_node_rule,
    score_node,
)
from securindex.plan.rules import apply_missing_policy, weight_total, zero_rows
from securindex.spec.framework import MissingPolicy


def _framework(**extra: Any) -> Framework:
    spec: dict[str, Any] = {
        "id": "idx",
        "columns": {"a": "positive", "b": {"polarity": "negative", "weight": 3}, "c": "positive"},
        "pipeline": {"normalise": {"method": "minmax", "lo": 1, "hi": 100}},
        "overrides": {"c": {"normalise": {"method": "zscore", "reference": "per_period"}}},
        "structure": [
            {"id": "p1", "weight": 2, "children": ["a", "b"]},
            {
                "id": "p2",
                "children": ["c"],
                "aggregate": {"method": "geometric", "allow_zero": True},
            },
        ],
        **extra,
    }
    return Framework.from_spec(spec)


def test_a_framework_compiles_into_its_plan() -> None:
    plan = compile_plan(_framework())
    assert plan.indicators == ("a", "b", "c")
    assert plan.direction == (1.0, -1.0, 1.0)
    assert [g.positions for g in plan.normalise] == [(0, 1), (2,)]
    assert [g.mode for g in plan.normalise] == ["pooled", "per_period"]
    assert dict(plan.normalise[0].step.params) == {"lo": 1, "hi": 100}
    assert [n.id for n in plan.nodes] == ["p1", "p2", "idx"]
    assert plan.node_order == ("idx", "p1", "p2")
    p1, p2, root = plan.nodes
    assert p1.sources == (("indicator", 0), ("indicator", 1)) and p1.nominal == (1.0, 3.0)
    assert root.sources == (("node", 1), ("node", 2)) and root.column == 0
    assert p2.zero_floor and not p1.zero_floor  # allow_zero on a mean needing positives
    assert {n.kind for n in plan.nodes} == {NODE_KIND_WEIGHTED}
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.framework_id = "other"  # type: ignore[misc]


def test_a_benefit_of_the_doubt_node_is_a_frontier_node() -> None:
    framework = _framework(
        root={"weighting": {"method": "benefit_of_doubt"}},
    )
    assert compile_plan(framework).node("idx").kind == NODE_KIND_FRONTIER


def _node(policy: str = "renormalise", min_coverage: float = 0.5) -> Any:
    node = compile_plan(_framework()).node("p1")
    return dataclasses.replace(
        node, missing=MissingPolicy(policy=policy, min_coverage=min_coverage)
    )


def test_coverage_policy_by_hand() -> None:
    node = _node("coverage", 0.6)
    x = np.array([[10.0, np.nan], [np.nan, 20.0], [30.0, 40.0]])
    w = np.array([0.25, 0.75])
    out, unscored = apply_missing_policy(node, x, w, weight_total(w))
    # row 0 keeps 0.25 of the weight (< 0.6): not scored; row 1 keeps 0.75
    assert unscored is not None and unscored.rows.tolist() == [0]
    assert unscored.reason == "low_coverage" and unscored.reason in REASONS
    assert unscored.before.tolist() == [0.25]
    assert np.isnan(out[0]).all() and out[1, 1] == 20.0 and out[2].tolist() == [30.0, 40.0]
    # the same over a leading replicate axis with one weight vector per replicate
    w3 = np.array([[[0.25, 0.75]], [[0.7, 0.3]]])
    out3, _ = apply_missing_policy(node, np.broadcast_to(x, (2, 3, 2)), w3, weight_total(w3))
    assert np.isnan(out3[0, 0]).all() and not np.isnan(out3[1, 0, 0])  # 0.7 >= 0.6
    assert np.isnan(out3[1, 1]).all()  # 0.3 < 0.6


def test_fail_policy_names_the_rows() -> None:
    node = _node("fail")
    x = np.array([[1.0, np.nan], [1.0, 2.0]])
    with pytest.raises(DataError, match="node 'p1' has missing children in 1 row") as info:
        apply_missing_policy(node, x, np.ones(2), 2.0, labels=lambda rows: [f"r{r}" for r in rows])
    assert info.value.rows == ("r0",)


def test_zero_children_are_not_scored_under_allow_zero() -> None:
    node = compile_plan(_framework()).node("p2")
    out, unscored = zero_rows(node, np.array([[0.0], [4.0]]))
    assert (
        unscored is not None and unscored.rows.tolist() == [0] and unscored.reason == "zero_child"
    )
    assert np.isnan(out[0, 0]) and out[1, 0] == 4.0
    assert zero_rows(compile_plan(_framework()).node("p1"), np.zeros((1, 2)))[1] is None


def test_a_weighted_node_scores_by_hand() -> None:
    node = _node("renormalise")
    x = np.array([[10.0, np.nan], [20.0, 40.0]])
    result = score_node(node, x, np.array([0.25, 0.75]), {}, total=1.0, period_codes=np.zeros(2))
    np.testing.assert_allclose(result.values, [10.0, 35.0])  # renormalised over present


def test_benefit_of_the_doubt_scores_are_the_lp_optimum_by_hand() -> None:
    # children (1, .2), (.2, 1), (.5, .5), (.4, .4) after normalisation to [0, 1]: the
    # first two span the frontier, the facet x + y = 1.2 (any w1 = w2 = t is bound by
    # 1.2 t <= 1); the others' optimum is max (x + y) t = (x + y) / 1.2: 1/1.2 and .8/1.2
    index = pd.MultiIndex.from_product([["p", "q", "r", "s"], [2020]], names=["entity", "period"])
    frame = pd.DataFrame({"a": [1.0, 0.2, 0.5, 0.4], "b": [0.2, 1.0, 0.5, 0.4]}, index=index)
    values = IndicatorValues(frame=frame, units=dict.fromkeys(frame.columns, "dimensionless"))
    framework = Framework.from_spec(
        {
            "id": "idx",
            "columns": {"a": "positive", "b": "positive"},
            "pipeline": {"normalise": {"method": "goalposts", "lo": 0, "hi": 1}},
            "structure": [
                {"id": "p", "children": ["a", "b"], "weighting": {"method": "benefit_of_doubt"}}
            ],
        }
    )
    result = run_pipeline(framework, values, pd.DataFrame(index=index))
    np.testing.assert_allclose(result.scores["p"], [100.0, 100.0, 100 / 1.2, 80 / 1.2], rtol=1e-9)


def test_ranks_within_periods_equal_pandas() -> None:
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, size=(40, 3)).astype(float)
    scores[rng.random(scores.shape) < 0.1] = np.nan
    periods = np.repeat([0, 1, 2, 3], 10)
    frame = pd.DataFrame(scores)
    expected = frame.groupby(periods).rank(method="min", ascending=False).to_numpy()
    np.testing.assert_array_equal(rank_within_periods(scores, periods), expected)


def test_audit_rows_are_built_from_the_rows_concerned_only() -> None:
    index = pd.MultiIndex.from_tuples([("x", 1), ("y", 1), ("z", 1)], names=["entity", "period"])
    frame = audit_frame("aggregate", index, np.array([2]), "p1", "not scored", 0.25, np.nan, "why")
    records = frame.to_dict("records")
    assert np.isnan(records[0].pop("after"))
    assert records == [
        {
            "stage": "aggregate",
            "entity": "z",
            "period": 1,
            "item": "p1",
            "action": "not scored",
            "before": 0.25,
            "detail": "why",
        }
    ]
    # labels are stored once (categories); a whole-column row has no entity or period
    joined = audit_table([frame, column_audit("treat", index, "a", "transformed", "log")])
    assert isinstance(joined["item"].dtype, pd.CategoricalDtype)
    assert joined["item"].tolist() == ["p1", "a"]
    assert joined["entity"].iloc[0] == "z" and pd.isna(joined["entity"].iloc[1])
    assert list(joined["entity"].cat.categories) == ["z"]  # unused categories dropped


def test_audit_parts_join_to_the_rows_pandas_gives() -> None:
    """Parts with different, unsorted categories (and one from an earlier table) joined by
    their codes equal the plain concatenation of their values."""
    index = pd.MultiIndex.from_product([["b", "a", "c"], [2020, 2019]], names=["entity", "period"])

    def parts() -> list[Any]:  # joining consumes the parts: made twice
        return [
            audit_rows(
                "impute",
                index,
                np.array([5, 0]),
                pd.Categorical(["y", "x"]),
                "imputed",
                np.nan,
                np.array([1.0, 2.0]),
                "mean",
            ),
            audit_rows("treat", index, np.array([3]), "w", "winsorised", 9.0, 4.0, "winsorise"),
            audit_frame("screen", index, np.array([1, 2]), "row", "excluded", np.array([0.1, 0.2])),
        ]

    expected = pd.concat([p if isinstance(p, pd.DataFrame) else p.frame() for p in parts()])
    expected = expected.astype(object).reset_index(drop=True)
    built = parts()
    early = audit_join(built[:2])
    table = audit_table([early, built[2], column_audit("treat", index, "a", "transformed", "log")])
    assert len(table) == 6
    got = table.astype(object)
    pd.testing.assert_frame_equal(got.iloc[:5], expected, check_dtype=False)
    assert got.iloc[5]["item"] == "a" and pd.isna(got.iloc[5]["entity"])
    for name in ("stage", "entity", "period", "item", "detail"):
        categories = list(table[name].cat.categories)
        assert categories == sorted(categories)  # sorted, each used
        assert set(categories) == set(table[name].dropna())


def test_a_new_node_kind_is_a_rule_in_the_table() -> None:
    class Maximum(NodeRule):
        def score(self, node: Any, x: Any, w: Any, info: Any, **kwargs: Any) -> NodeScore:
            return NodeScore(values=np.nanmax(x, axis=-1))

    register_node_rule("test_maximum", Maximum())
    try:
        node = dataclasses.replace(_node(), kind="test_maximum")
        out = score_node(
            node, np.array([[1.0, 3.0]]), np.ones(2), {}, total=2.0, period_codes=np.zeros(1)
        )
        assert out.values.tolist() == [3.0]
    finally:
        NODE_RULES.pop("test_maximum")


# -- every unscored row says why (issue #15) -----------------------------------------------
def test_rows_without_a_score_are_explained() -> None:
    from securindex.plan.rules import _explain_missing

    node = _node("renormalise")
    # row 0: no child; row 1: a rule that gave +inf; row 2: NaN from the rule itself;
    # row 3: scored; row 4: already reported by the rule (kept as it is)
    x = np.array([[np.nan, np.nan], [1.0, 1.0], [1.0, 2.0], [20.0, 40.0], [1.0, np.nan]])
    reported = NodeScore(
        values=np.array([np.nan, np.inf, np.nan, 35.0, np.nan]),
        unscored=[Unscored(np.array([4]), "low_coverage", 0.25, "below")],
    )
    result = _explain_missing(node, x, reported)
    assert np.isnan(result.values[[0, 1, 2, 4]]).all() and result.values[3] == 35.0
    reasons = {event.reason: event.rows.tolist() for event in result.unscored}
    assert reasons == {
        "low_coverage": [4],
        "non_finite_score": [1],
        "no_child_value": [0],
        "undefined_score": [2],
    }
    scored = score_node(
        node, x[3:4], np.array([0.25, 0.75]), {}, total=1.0, period_codes=np.zeros(1)
    )
    assert scored.unscored == []


def test_an_all_missing_framework_says_why_for_every_entity() -> None:
    from securindex.dataset import Panel

    framework = Framework.from_spec(
        {
            "id": "idx",
            "columns": {"a": "positive", "b": "negative"},
            "structure": [{"id": "p", "children": ["a", "b"]}],
        }
    )
    frame = pd.DataFrame({"entity": list("wxyz"), "a": [np.nan] * 4, "b": [np.nan] * 4})
    panel = Panel.from_frame(frame, entity="entity", units=dict.fromkeys("ab", "dimensionless"))
    result = framework.compute(panel)
    assert result.scores["idx"].isna().all()
    audit = result.audit[result.audit["action"] == "not scored"]
    for node in ("p", "idx"):
        rows = audit[audit["item"] == node]
        assert sorted(rows["entity"]) == ["w", "x", "y", "z"]
        assert (rows["detail"] == REASONS["no_child_value"]).all()
