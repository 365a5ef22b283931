"""The user's own names are kept: id and period column names and entity labels in every file
written, in the report, and for ``--entity``; ``to_long`` is tidy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from securindex import Framework, Panel
from securindex.cli import app
from securindex.result import IndexResult, read_scores

runner = CliRunner()


def _own_panel() -> Panel:
    """Six districts over two years, with the user's own column names and labels."""
    rows = []
    for year, bump in ((2021, 0.0), (2022, 1.0)):
        for i, (code, name) in enumerate(
            [("D1", "Old Town"), ("D2", "Harbour"), ("D3", "Hillside"), ("D4", "Riverside"),
             ("D5", "North End"), ("D6", "Station")]
        ):  # fmt: skip
            rows.append(
                {"district_id": code, "district": name, "yr": year,
                 "murders": 2 + i + bump, "people": 10_000 + 500 * i,
                 "robberies": 20 + 3 * i - bump}
            )  # fmt: skip
    dictionary = {
        "name": "my_city",
        "entity": "district_id",
        "label": "district",
        "period": "yr",
        "variables": {
            "homicides": {"column": "murders", "unit": "count"},
            "population": {"column": "people", "unit": "inhabitant"},
            "robberies": {"column": "robberies", "unit": "count"},
        },
    }
    return Panel.from_frame(pd.DataFrame(rows), dictionary=dictionary)


FRAMEWORK = {
    "id": "city_index",
    "name": "City index",
    "indicators": ["crime/homicide_rate.yaml", "crime/robbery_rate.yaml"],
    "pipeline": {"normalise": {"method": "minmax", "reference": "pooled"}},
    "structure": [
        {"id": "safety", "children": ["homicide_rate"]},
        {"id": "property", "children": ["robbery_rate"]},
    ],
}


@pytest.fixture(scope="module")
def result() -> IndexResult:
    from securindex.shipped import catalogue_dir

    framework = Framework.from_spec(FRAMEWORK, base_dir=catalogue_dir())
    return framework.compute(_own_panel())


def test_id_names_come_from_the_dictionary(result: IndexResult) -> None:
    assert result.id_names == {"entity": "district_id", "period": "yr", "label": "district"}
    assert result.rerun(normalise={"method": "zscore"}).id_names == result.id_names


def test_every_written_file_keeps_the_users_names(result: IndexResult, tmp_path: Path) -> None:
    written = result.write(tmp_path)
    scores = pd.read_csv(written["scores"])
    assert list(scores.columns[:3]) == ["district_id", "district", "yr"]
    assert dict(zip(scores["district_id"], scores["district"], strict=True))["D1"] == "Old Town"
    for name in ("raw", "imputed", "treated", "normalised"):
        assert list(pd.read_csv(written[name]).columns[:2]) == ["district_id", "yr"]
    meta = json.loads(written["json"].read_text())
    assert meta["data"]["ids"] == {"entity": "district_id", "period": "yr", "label": "district"}
    assert len(meta["scores"]) == 12  # result.json carries the scores too
    # and they read back as the table the API returns
    back = read_scores(written["scores"])
    pd.testing.assert_frame_equal(back, result.table(), check_dtype=False)
    pd.testing.assert_frame_equal(read_scores(written["json"]), result.table(), check_dtype=False)


def test_to_long_is_tidy(result: IndexResult) -> None:
    tidy = result.to_long(stages=("raw", "scores"))
    assert list(tidy.columns) == ["district_id", "district", "yr", "stage", "item", "value", "rank"]
    n_rows = len(result.scores)
    assert len(tidy) == n_rows * (result.raw.shape[1] + result.scores.shape[1])
    one = tidy[
        (tidy["district_id"] == "D2") & (tidy["yr"] == 2022) & (tidy["item"] == "homicide_rate")
    ]
    # D2 in 2022: 2 + 1 + 1 = 4 homicides per 10 500 inhabitants, per 100 000
    assert one["value"].iloc[0] == pytest.approx(4 / 10_500 * 1e5)
    root = tidy[(tidy["stage"] == "scores") & (tidy["item"] == "city_index")]
    assert root["rank"].notna().all() and root["rank"].min() == 1
    assert list(result.to_long(names=False).columns[:2]) == ["entity", "period"]


def test_report_shows_labels_and_takes_a_label_for_entity(
    result: IndexResult, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("jinja2")
    result.write(tmp_path / "results")
    outcome = runner.invoke(
        app, ["report", str(tmp_path / "results"), "-e", "Old Town", "-o", str(tmp_path / "r.html")]
    )
    assert outcome.exit_code == 0, outcome.output
    html = (tmp_path / "r.html").read_text()
    assert "Old Town" in html and "Harbour" in html
    assert "<th>district</th>" in html
    bad = runner.invoke(app, ["report", str(tmp_path / "results"), "-e", "Old Twon"])
    assert bad.exit_code == 1
    assert "did you mean 'Old Town'" in bad.stderr


def test_compute_writes_the_users_names(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"uCode": ["A", "B", "C"], "Time": [2020] * 3, "x": [1.0, 2.0, 3.0], "y": [3.0, 1.0, 2.0]}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.dictionary.yaml").write_text(
        "entity: uCode\nperiod: Time\nvariables:\n  x: {unit: count}\n  y: {unit: count}\n"
    )
    (tmp_path / "c.yaml").write_text(
        "- {id: xi, name: X, category: social, polarity: positive, formula: x, unit: count,"
        " inputs: {x: {unit: count}}}\n"
        "- {id: yi, name: Y, category: social, polarity: negative, formula: y, unit: count,"
        " inputs: {y: {unit: count}}}\n"
    )
    (tmp_path / "f.yaml").write_text(
        "id: idx\nindicators: [c.yaml]\nstructure:\n  - {id: p, children: [xi, yi]}\n"
    )
    out = tmp_path / "s.csv"
    done = runner.invoke(
        app, ["compute", str(tmp_path / "f.yaml"), str(tmp_path / "d.csv"), "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert list(pd.read_csv(out).columns[:2]) == ["uCode", "Time"]
    values = tmp_path / "v.csv"
    done = runner.invoke(
        app,
        ["indicators", str(tmp_path / "d.csv"), "-c", str(tmp_path / "c.yaml"), "-o", str(values)],
    )
    assert done.exit_code == 0, done.output
    assert list(pd.read_csv(values).columns[:2]) == ["uCode", "Time"]


def test_uncertainty_files_keep_the_users_names(result: IndexResult, tmp_path: Path) -> None:
    from securindex.analysis.uncertainty import run_uncertainty
    from securindex.report._uncertainty import load_uncertainty

    run = run_uncertainty(result, {"weights": {"noise": 0.2}}, n_replicates=40, seed=3)
    assert list(run.summary.index.names) == ["entity", "period"]  # in memory: canonical
    written = run.write(tmp_path)
    summary = pd.read_csv(written["summary"], dtype={"district_id": str})
    assert list(summary.columns[:2]) == ["district_id", "yr"]
    assert sorted(summary["district_id"].unique()) == [f"D{i}" for i in range(1, 7)]
    assert sorted(summary["yr"].unique()) == [2021, 2022]
    meta = json.loads(written["meta"].read_text())
    assert meta["ids"] == {"entity": "district_id", "period": "yr"}
    # the values are the run's own, row for row
    by_id = summary.set_index(["district_id", "yr"])
    for column in ("median_rank", "rank_low", "rank_high", "nominal_score"):
        assert by_id[column].to_dict() == run.summary[column].to_dict()
    # the report reads the folder back onto its canonical ids
    loaded = load_uncertainty(tmp_path)
    assert list(loaded.summary.index.names) == ["entity", "period"]
    assert loaded.summary["rank_high"].to_dict() == run.summary["rank_high"].to_dict()
