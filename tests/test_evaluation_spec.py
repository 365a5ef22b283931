"""Tests of securindex.evaluation.spec: the `evaluation:` YAML block and the Maryland SMS."""

from __future__ import annotations

import pydantic
import pytest
import yaml

from securindex.errors import SpecError
from securindex.evaluation import (
    BenchmarkBaseline,
    EvaluationSpec,
    InitiativeSpec,
    PeriodBaseline,
    ReferenceBaseline,
    TargetSpec,
    maryland_sms_level,
    parse_evaluation,
)

FULL = """
evaluation:
  baseline: {kind: period, periods: [2015]}
  targets:
    homicide_rate: {value: 2.0, year: 2030}
    iusi: {value: 70, year: 2030, method: eurostat, polarity: positive}
  initiative:
    name: Hot-spot foot patrols
    treated: [75]
    control: [73, 77]
    buffer: [69]
    before: {start: 2010, end: 2012}
    after: [2013, 2014]
    offence_column: offence
    harm_weights: {robbery: 365, burglary: 60}
  design: {kind: controlled_before_after, comparable_control: true}
  emmie:
    effect: {summary: RES 1.3 on robbery, strength: moderate}
    mechanism: Increased guardianship
    economic_cost: {summary: Overtime, cost: 1.2e6, currency: USD}
"""


def _block(text: str = FULL) -> dict:
    return yaml.safe_load(text)["evaluation"]


def test_full_block_parses() -> None:
    spec = parse_evaluation(_block())
    assert isinstance(spec.baseline, PeriodBaseline)
    assert spec.initiative is not None
    assert spec.initiative.treated == ["75"]  # YAML ints become text labels
    assert spec.initiative.before == [2010, 2011, 2012]
    assert spec.target_baseline_year("homicide_rate") == 2015
    assert spec.targets["iusi"].method == "eurostat"
    assert spec.emmie is not None and spec.emmie.mechanism is not None
    assert spec.emmie.mechanism.summary == "Increased guardianship"
    assert spec.emmie.economic_cost is not None and spec.emmie.economic_cost.cost == 1.2e6
    sms = spec.sms_level()
    assert sms is not None and sms.level == 3
    assert "SMS level 3" in sms.summary()
    with pytest.raises(pydantic.ValidationError):
        spec.initiative.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("baseline", "kind"),
    [
        ({"period": 2015}, PeriodBaseline),
        ({"periods": [2014, 2015]}, PeriodBaseline),
        ({"entities": ["Berlin", "Hamburg"], "statistic": "median"}, ReferenceBaseline),
        ({"entity": "national"}, ReferenceBaseline),
        ({"value": 3.1, "source": "Eurostat"}, BenchmarkBaseline),
        ({"kind": "benchmark", "value": {"homicide_rate": 1.0}}, BenchmarkBaseline),
    ],
)
def test_baseline_kinds_inferred(baseline: dict, kind: type) -> None:
    spec = EvaluationSpec.model_validate({"baseline": baseline})
    assert isinstance(spec.baseline, kind)


def _error(block: dict) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_evaluation(block)
    return info.value


def test_overlapping_areas_and_periods_are_reported_together() -> None:
    block = _block()
    block["initiative"]["control"] = [75, 73]
    block["initiative"]["after"] = [2012, 2013]
    err = _error(block)
    text = str(err)
    assert "evaluation.initiative" in text
    assert "cannot be its own comparison" in text
    assert "both before and after" in text


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("initiative", "colour"), "red", "unknown field"),
        (("initiative", "after"), [2009], "must follow the before periods"),
        (
            ("initiative", "before"),
            {"start": 2012, "end": 2010},
            "ends \\(2010\\) before it starts",
        ),
        (("initiative", "before"), {"from": 2010}, "start: <year>, end: <year>"),
        (("initiative", "harm_weights"), {"robbery": -1}, "harm weights must be >= 0"),
        (("initiative", "treated"), [], "at least 1"),
        (("targets", "homicide_rate"), {"value": 2.0, "year": 2010}, "must be after the baseline"),
        (
            ("targets", "x"),
            {"value": 1, "year": 2030, "on_track": 0.1, "moving_away": 0.2},
            "on_track",
        ),
        (("design", "kind"), "panel", "at least two treated"),
        (("design", "kind"), "quasi", "Input should be"),
        (("emmie", "effect"), {"summary": "x", "strength": "huge"}, "Input should be"),
        (("baseline",), {"colour": 1}, "a baseline needs"),
    ],
)
def test_invalid_blocks_say_where_and_what(path: tuple, value: object, match: str) -> None:
    block = _block()
    node = block
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    err = _error(block)
    assert err.issues and all(i.field and i.field.startswith("evaluation") for i in err.issues)
    assert any(__import__("re").search(match, i.message) for i in err.issues), str(err)


def test_harm_weights_need_an_offence_column() -> None:
    with pytest.raises(pydantic.ValidationError, match="offence_column"):
        InitiativeSpec(name="x", treated=["a"], before=[1], after=[2], harm_weights={"r": 1.0})


def test_targets_need_a_baseline_year() -> None:
    err = _error(
        {"baseline": {"periods": [2014, 2015]}, "targets": {"x": {"value": 1, "year": 2030}}}
    )
    assert "baseline_year is needed" in str(err)
    ok = parse_evaluation(
        {
            "baseline": {"periods": [2014, 2015]},
            "targets": {"x": {"value": 1, "year": 2030, "baseline_year": 2015}},
        }
    )
    assert ok.target_baseline_year("x") == 2015
    assert TargetSpec(value=1.0, year=2030).method == "linear"


def test_design_kind_inferred_and_monitoring_only() -> None:
    spec = parse_evaluation(
        {"initiative": {"name": "x", "treated": ["a"], "before": [1], "after": [2]}}
    )
    assert spec.design_kind() == "before_after"
    assert spec.sms_level().level == 2  # type: ignore[union-attr]
    assert parse_evaluation({"baseline": {"period": 2015}}).sms_level() is None
    not_comparable = parse_evaluation(
        {
            "initiative": {
                "name": "x",
                "treated": ["a"],
                "control": ["b"],
                "before": [1],
                "after": [2],
            },
            "design": {"comparable_control": False},
        }
    )
    assert not_comparable.sms_level().level == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "kwargs", "level"),
    [
        ("cross_sectional", {"has_control": False}, 1),
        ("before_after", {"has_control": False}, 2),
        ("interrupted_time_series", {"has_control": False}, 2),
        ("interrupted_time_series", {"has_control": True}, 3),
        ("controlled_before_after", {"has_control": True}, 3),
        ("controlled_before_after", {"has_control": True, "comparable_control": False}, 2),
        ("controlled_before_after", {"has_control": False}, 2),
        ("panel", {"has_control": True, "n_treated": 5, "n_control": 20}, 4),
        ("panel", {"has_control": True, "n_treated": 1, "n_control": 20}, 3),
        ("randomised", {"has_control": True, "n_treated": 30, "n_control": 30}, 5),
    ],
)
def test_maryland_sms_levels(kind: str, kwargs: dict, level: int) -> None:
    # Sherman et al. (1998): before/after only = 2, comparable control = 3,
    # many units with controls = 4, randomised = 5.
    result = maryland_sms_level(kind, **kwargs)
    assert result.level == level
    assert result.reason


def test_maryland_sms_errors() -> None:
    with pytest.raises(SpecError, match="design kind"):
        maryland_sms_level("anecdote", has_control=False)
    with pytest.raises(SpecError, match="control group"):
        maryland_sms_level("randomised", has_control=False)
