"""Tests of securindex.explain: the defaults table and the effective pipeline (what
``securindex validate --explain`` prints), each setting with its source."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from securindex.cli import app
from securindex.explain import DEFAULTS, explain, explain_text
from securindex.framework import Framework
from securindex.spec.framework import Pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "indicators" / "examples"


def test_the_defaults_table_is_the_pipeline_model() -> None:
    assert set(DEFAULTS) == {*Pipeline.model_fields, "higher_is"}
    assert DEFAULTS["normalise"][0] == "minmax lo=0.0 hi=100.0"
    assert DEFAULTS["aggregate"][0] == "arithmetic"


def test_every_setting_says_where_it_comes_from() -> None:
    rows = {
        (r.item, r.setting.split(":")[0]): r for r in explain(Framework.load(EXAMPLES / "hdi.yaml"))
    }
    assert rows[("pipeline", "normalise")].source == "default"  # the file never writes it
    assert rows[("pipeline", "impute")].source == "file"
    assert rows[("life_expectancy", "normalise")].setting == "normalise: goalposts lo=20 hi=85"
    assert rows[("life_expectancy", "normalise")].source == "override"
    assert rows[("hdi", "aggregate")].source == "node"
    assert rows[("education", "aggregate")].source == "file"


def test_a_formula_node_shows_its_formula() -> None:
    fw = Framework.from_spec(
        {
            "id": "gdi",
            "higher_is": "better",
            "columns": {"f": "positive", "m": "positive"},
            "root": {"formula": "f / m"},
        }
    )
    text = explain_text(fw)
    assert "formula: f / m" in text and "higher_is: better" in text
    assert "aggregate" not in text.split("gdi ", 2)[-1]


def test_validate_explain_prints_the_effective_pipeline() -> None:
    result = CliRunner().invoke(app, ["validate", str(EXAMPLES / "hdi.yaml"), "--explain"])
    assert result.exit_code == 0, result.output
    assert "normalise: minmax lo=0.0 hi=100.0" in result.output
    assert "[default]" in result.output and "[override]" in result.output
