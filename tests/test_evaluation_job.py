"""Evaluation jobs: the YAML that ties data, monitoring, targets and an initiative together."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from securindex import Panel, SpecError, catalogue_dir
from securindex.cli import app
from securindex.errors import DataError
from securindex.evaluation import load_job, relative_effect_size, run_evaluation

JOB = catalogue_dir() / "evaluations" / "berlin_drug_enforcement.yaml"


def test_shipped_job_runs_on_real_berlin_data() -> None:
    outcome = run_evaluation(load_job(JOB))
    assert outcome.initiative is not None
    # the area totals are the sums of the shipped counts (before 2013-14, after 2016-17):
    # treated 020304: 767 + 996 = 1763 -> 1078 + 781 = 1859;
    # controls 080101-080104: (929+519)+(200+176)+(232+129)+(110+124) = 2419 -> 1847
    res = outcome.initiative.relative_effect
    assert res is not None
    assert (res.a, res.b, res.c, res.d) == (1763.0, 1859.0, 2419.0, 1847.0)
    direct = relative_effect_size(1763, 1859, 2419, 1847)
    assert res.estimate == pytest.approx(direct.estimate, rel=1e-12)
    assert res.estimate == pytest.approx((1763 * 1847) / (1859 * 2419), rel=1e-12)
    assert outcome.sms is not None and outcome.sms.level == 3
    # monitoring: one row per (series, entity, period) of the three monitored entities
    monitored = outcome.monitoring
    assert set(monitored["indicator"]) == {"drug_offences", "robberies", "street_robberies"}
    assert set(monitored["entity"]) == {"020304", "020303", "020202"}
    row = monitored[
        (monitored["indicator"] == "robberies")
        & (monitored["entity"] == "020304")
        & (monitored["period"] == 2017)
    ].iloc[0]
    # 96 robberies in 2017 against 171 in the 2014 baseline
    assert row["absolute_change"] == pytest.approx(96 - 171)
    assert row["direction"] == "improved"
    targets = outcome.targets
    assert targets is not None
    last = targets[(targets["entity"] == "020304") & (targets["period"] == 2019)].iloc[0]
    # 182 in 2019: (182 - 171) / (120 - 171) * 100 = -21.57 % of the target: moving away
    assert last["percent_of_target"] == pytest.approx((182 - 171) / (120 - 171) * 100)
    assert last["status"] == "moving_away"


def test_job_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text(
        "name: x\ndata: {example: berlin_crime}\nmeasures: [robbery]\n"
        "evaluation:\n  initiative:\n    name: y\n    treated: ['020304']\n"
        "    control: ['020304']\n    before: [2013]\n    after: [2016]\n"
    )
    with pytest.raises(SpecError) as info:
        load_job(bad)
    message = str(info.value)
    assert "job.yaml:5" in message and "cannot be its own comparison" in message
    bad.write_text(
        "name: x\ndata: {example: berlin_crime}\nmeasures: [robbery]\n"
        "evaluation:\n  initiative:\n    name: y\n    treated: ['020304']\n"
        "    control: ['080101']\n    before: [2013]\n    after: [2016]\n"
    )
    with pytest.raises(DataError, match="robbery"):
        run_evaluation(load_job(bad))


def test_job_with_framework_monitors_index_nodes_and_checks_change(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        "name: Maryland violence\n"
        "data: {example: maryland_counties}\n"
        "framework: fw.yaml\n"
        "change_check: {replicates: 60, seed: 1, baseline_period: 2010, current_period: 2020}\n"
        "evaluation:\n  baseline: {kind: period, periods: [2010]}\n"
    )
    (tmp_path / "fw.yaml").write_text(
        "id: md_safety\n"
        f"indicators: ['{catalogue_dir() / 'crime'}']\n"
        "pipeline:\n  normalise: {method: minmax, lo: 0, hi: 100, reference: pooled}\n"
        "structure:\n  - id: violence\n    children: [homicide_rate, robbery_rate, assault_rate]\n"
        "  - id: property\n    children: [burglary_rate, vehicle_theft_rate]\n"
    )
    outcome = run_evaluation(load_job(job), base_dir=tmp_path)
    assert outcome.index is not None
    nodes = set(outcome.monitoring["indicator"])
    assert {"md_safety", "violence", "property", "homicide_rate"} <= nodes
    check = outcome.change_check
    assert check is not None
    assert len(check) == len(Panel.example("maryland_counties").entities)
    assert {"change", "ci_low", "ci_high", "exceeds_uncertainty"} <= set(check.columns)
    # the reported change is the nominal index's own change
    scores = outcome.index.scores["md_safety"].unstack("period")
    first = check.iloc[0]
    expected = scores.loc[first["entity"], 2020] - scores.loc[first["entity"], 2010]
    assert first["change"] == pytest.approx(expected)


def test_cli_evaluate_writes_results(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(JOB), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Maryland SMS level 3" in result.output
    for name in ("monitoring.csv", "targets.csv", "initiative.csv", "evaluation.json"):
        assert (tmp_path / "out" / name).exists()
