"""Tests of securindex.result: the table, ranks, exports that round-trip, and rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from typer.testing import CliRunner

from securindex.catalogue import IndicatorValues
from securindex.cli import app
from securindex.errors import DataError, SpecError
from securindex.framework import Framework
from securindex.pipeline import run_pipeline
from securindex.result import IndexResult, rank_within_periods, read_scores


def _values() -> IndicatorValues:
    rng = np.random.default_rng(11)
    entities = [f"c{i}" for i in range(8)]
    index = pd.MultiIndex.from_product([entities, [2019, 2020]], names=["entity", "period"])
    x = rng.lognormal(2.0, 0.5, size=(16, 5))
    x[3, 1] = np.nan
    frame = pd.DataFrame(x, index=index, columns=["a", "b", "c", "d", "e"])
    return IndicatorValues(frame=frame, units=dict.fromkeys(frame.columns, "dimensionless"))


def _framework(**pipeline_steps: Any) -> Framework:
    return Framework.from_spec(
        {
            "id": "city_index",
            "name": "City index",
            "columns": {
                "a": "positive",
                "b": "negative",
                "c": "positive",
                "d": {"polarity": "positive", "name": "Dee"},
                "e": "negative",
            },
            "pipeline": {"treat": {"method": "winsorise"}, **pipeline_steps},
            "structure": [
                {"id": "safety", "name": "Safety", "children": ["a", "b", "c"]},
                {"id": "context", "weight": 0.5, "children": ["d", "e"]},
            ],
        }
    )


@pytest.fixture
def result() -> IndexResult:
    values = _values()
    return run_pipeline(_framework(), values, pd.DataFrame(index=values.frame.index))


def test_table_has_a_row_per_entity_period_and_a_column_per_node(result: IndexResult) -> None:
    table = result.table()
    assert len(table) == 16
    assert not table.duplicated(["entity", "period"]).any()
    assert list(table.columns) == [
        "entity",
        "period",
        "city_index",
        "safety",
        "context",
        "rank_city_index",
        "rank_safety",
        "rank_context",
    ]
    assert str(table["rank_city_index"].dtype) == "Int64"
    for _, group in table.groupby("period"):
        assert sorted(group["rank_city_index"]) == list(range(1, 9))
        best = group.loc[group["rank_city_index"] == 1, "city_index"].item()
        assert best == group["city_index"].max()


def test_period_view_is_sorted_best_first(result: IndexResult) -> None:
    view = result.period(2020)
    assert view["rank_city_index"].tolist() == list(range(1, 9))
    with pytest.raises(DataError, match="no results for period 1999; periods are"):
        result.period(1999)


def test_stage_and_repr(result: IndexResult) -> None:
    assert result.stage("normalised") is result.normalised
    with pytest.raises(KeyError, match="no stage 'final'"):
        result.stage("final")
    assert "city_index: 8 entities × 2 periods, 5 indicators" in repr(result)


def test_ranks_by_hand() -> None:
    # period 0: 3.0, 5.0, 5.0, 1.0 -> ranks 3, 1, 1, 4 (ties share the best rank);
    # period 1: NaN is not ranked, 2.0 -> 1
    scores = np.array([[3.0], [5.0], [5.0], [1.0], [np.nan], [2.0]])
    periods = np.array([0, 0, 0, 0, 1, 1])
    ranks = rank_within_periods(scores, periods)
    np.testing.assert_array_equal(ranks[:, 0], [3, 1, 1, 4, np.nan, 1])


@settings(max_examples=60, deadline=None)
@given(
    scores=arrays(
        np.float64, (12, 2), elements=st.one_of(st.just(np.nan), st.sampled_from([0.0, 1, 2, 3]))
    ),
    periods=arrays(np.int64, 12, elements=st.integers(0, 2)),
)
def test_ranks_match_pandas(scores: np.ndarray, periods: np.ndarray) -> None:
    ours = rank_within_periods(scores, periods)
    theirs = pd.DataFrame(scores).groupby(periods).rank(ascending=False, method="min")
    np.testing.assert_array_equal(ours, theirs.to_numpy())


# -- exports -------------------------------------------------------------------------------


def _same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    for column in expected.columns:
        if column.startswith("rank_"):
            assert str(got[column].dtype) == "Int64"


def test_csv_round_trip(result: IndexResult, tmp_path: Path) -> None:
    path = result.to_csv(tmp_path / "scores.csv")
    _same_table(read_scores(path), result.table())


def test_parquet_round_trip(result: IndexResult, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = result.to_parquet(tmp_path / "scores.parquet")
    back = read_scores(path)
    pd.testing.assert_frame_equal(back, result.table())  # exact, dtypes included


def test_json_round_trip_keeps_every_float(result: IndexResult, tmp_path: Path) -> None:
    path = result.to_json(tmp_path / "result.json")
    back = read_scores(path)
    _same_table(back, result.table())
    np.testing.assert_array_equal(back["city_index"], result.index.to_numpy())
    data = json.loads(path.read_text())
    assert data["framework"]["id"] == "city_index"
    assert data["framework"]["tree"]["city_index"] == ["safety", "context"]
    assert data["framework"]["indicators"]["d"] == {
        "name": "Dee",
        "unit": "dimensionless",
        "polarity": "positive",
    }
    assert data["framework"]["nodes"]["safety"] == {"name": "Safety", "aggregate": "arithmetic"}
    assert data["framework"]["pipeline"]["treat"]["method"] == "winsorise"
    assert data["effective_weights"]["a"] == pytest.approx(2 / 3 / 3)
    assert {r["indicator"] for r in data["treatment"]} == set("abcde")


def test_unknown_export_type(tmp_path: Path) -> None:
    (tmp_path / "scores.xlsx").write_text("")
    with pytest.raises(DataError, match="unknown file type"):
        read_scores(tmp_path / "scores.xlsx")


def test_write_folder(result: IndexResult, tmp_path: Path) -> None:
    written = result.write(tmp_path / "out")
    assert set(written) == {
        "scores",
        "raw",
        "imputed",
        "treated",
        "normalised",
        "weights",
        "audit",
        "indicator_audit",
        "json",
    }
    _same_table(read_scores(written["scores"]), result.table())
    weights = pd.read_csv(written["weights"])
    assert set(weights["node"]) == {"city_index", "safety", "context"}
    # result.json in a results folder holds the scores too (issue 14)
    _same_table(read_scores(written["json"]), result.table())
    without = result.to_json(tmp_path / "no-scores.json", include_scores=False)
    with pytest.raises(DataError, match="no 'scores' in this JSON file"):
        read_scores(without)


# -- rerun -----------------------------------------------------------------------------------


def test_rerun_of_the_aggregation_reuses_every_earlier_stage(result: IndexResult) -> None:
    again = result.rerun(aggregate={"method": "minimum"})
    for stage in ("raw", "imputed", "treated", "normalised"):
        assert np.shares_memory(getattr(again, stage).to_numpy(), getattr(result, stage).to_numpy())
    pd.testing.assert_frame_equal(again.treatment, result.treatment)
    children = result.normalised[["a", "b", "c"]].min(axis=1)
    np.testing.assert_allclose(again.scores["safety"], children)
    assert not np.allclose(again.index, result.index)
    assert result.framework.aggregate_step("safety").method == "arithmetic"  # unchanged


def test_rerun_of_the_normalisation_keeps_the_treatment(result: IndexResult) -> None:
    again = result.rerun(normalise={"method": "zscore"})
    assert np.shares_memory(again.treated.to_numpy(), result.treated.to_numpy())
    assert not np.allclose(
        again.normalised.to_numpy(), result.normalised.to_numpy(), equal_nan=True
    )
    z = again.normalised["a"]
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0)
    # the same framework built from scratch gives the same scores
    fresh = run_pipeline(again.framework, result.indicator_values, result.groups)
    pd.testing.assert_frame_equal(fresh.scores, again.scores)


def test_rerun_of_the_treatment_recomputes_from_there(result: IndexResult) -> None:
    again = result.rerun(treat={"method": "none"})
    assert np.shares_memory(again.imputed.to_numpy(), result.imputed.to_numpy())
    assert set(again.treatment["method"]) == {"none"}
    # nothing is treated: the treated stage is the imputed one, not a copy
    assert np.shares_memory(again.treated.to_numpy(), again.imputed.to_numpy())
    np.testing.assert_array_equal(again.treated.to_numpy(), result.imputed.to_numpy())


def test_rerun_is_validated(result: IndexResult) -> None:
    with pytest.raises(SpecError, match="needs strictly positive values"):
        result.rerun(aggregate={"method": "geometric"})
    fixed = result.rerun(
        aggregate={"method": "geometric"}, normalise={"method": "minmax", "lo": 1, "hi": 100}
    )
    assert fixed.normalised.min().min() == 1.0


# -- the command line --------------------------------------------------------------------------


def test_cli_compute_writes_one_row_per_entity_period(tmp_path: Path) -> None:
    data = pd.DataFrame(
        {
            "city": ["p", "q", "r", "p", "q", "r"],
            "year": [2020, 2020, 2020, 2021, 2021, 2021],
            "a": [1.0, 2.0, 3.0, 2.0, 3.0, 5.0],
            "b": [3.0, 2.0, 1.0, 2.0, 2.0, 1.0],
        }
    )
    data.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "data.dictionary.yaml").write_text(
        "entity: city\nperiod: year\nvariables:\n  a: {unit: dimensionless}\n"
        "  b: {unit: dimensionless}\n"
    )
    (tmp_path / "fw.yaml").write_text(
        "id: town\ncolumns: {a: positive, b: negative}\n"
        "structure:\n  - {id: pillar, children: [a, b]}\n"
    )
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(
        app, ["compute", str(tmp_path / "fw.yaml"), str(tmp_path / "data.csv"), "-o", str(out)]
    )
    assert run.exit_code == 0, run.output
    table = pd.read_csv(out)
    # the data's own id column names are kept (issue 14)
    assert list(table.columns) == ["city", "year", "town", "pillar", "rank_town", "rank_pillar"]
    assert len(table) == 6 and not table.duplicated(["city", "year"]).any()
    # r is best in both years (highest a, lowest b)
    assert table.loc[table["city"] == "r", "rank_town"].tolist() == [1, 1]
