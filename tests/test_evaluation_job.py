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


# ------------------------------------------------------------------ every design from a job

ALL_DESIGNS = """\
name: Maryland roll-out (illustrative)
data: {example: maryland_counties}
measures: [robberies]
evaluation:
  initiative:
    name: Pilot counties
    treated: [Baltimore County, Howard County]
    control: [Anne Arundel County, Harford County, Carroll County]
    before: {start: 2005, end: 2009}
    after: {start: 2010, end: 2014}
  analyses:
    - kind: staggered_did
      name: rollout
      exposure: population
      treatment:
        Baltimore County: 2005
        Howard County: 2005
        Harford County: 2010
        Carroll County: 2010
        Frederick County: 2012
    - kind: difference_in_differences
      model: poisson
      exposure: population
      check_pre_trend: false
    - kind: interrupted_time_series
      exposure: population
      comparison: {all_except: [treated, Baltimore City]}
    - kind: synthetic_control
      treated: Howard County
      exposure: population
      donors: {all_except: [treated, Baltimore County, Baltimore City]}
"""


def test_job_runs_every_design_with_the_python_api_keys(tmp_path: Path) -> None:
    from securindex.evaluation import (
        difference_in_differences,
        interrupted_time_series,
        staggered_did,
        synthetic_control,
    )

    job = tmp_path / "job.yaml"
    job.write_text(ALL_DESIGNS)
    outcome = run_evaluation(load_job(job))
    assert set(outcome.analyses) == {
        "rollout",
        "difference_in_differences",
        "interrupted_time_series",
        "synthetic_control",
    }
    frame = Panel.example("maryland_counties").frame.reset_index()
    frame["entity"] = frame["entity"].astype(str)
    starts = {
        "Baltimore County": 2005,
        "Howard County": 2005,
        "Harford County": 2010,
        "Carroll County": 2010,
        "Frederick County": 2012,
    }
    direct = staggered_did(frame, treatment=starts, value="robberies", exposure="population")
    assert outcome.analyses["rollout"].estimate == direct.estimate
    assert outcome.analyses["rollout"].event_study.equals(direct.event_study)
    # defaults from the initiative: treated, controls, periods, intervention = first after
    keep = ["Baltimore County", "Howard County", "Anne Arundel County", "Harford County",
            "Carroll County"]  # fmt: skip
    sub = frame[frame["entity"].isin(keep) & frame["period"].between(2005, 2014)]
    did = difference_in_differences(
        sub,
        treated=["Baltimore County", "Howard County"],
        intervention=2010,
        value="robberies",
        exposure="population",
        model="poisson",
        check_pre_trend=False,
    )
    assert outcome.analyses["difference_in_differences"].estimate == pytest.approx(did.estimate)
    comparison = sorted(set(frame["entity"]) - {"Baltimore County", "Howard County",
                                                 "Baltimore City"})  # fmt: skip
    its = interrupted_time_series(
        frame,
        intervention=2010,
        entity="entity",
        entities=["Baltimore County", "Howard County"],
        comparison=comparison,
        value="robberies",
        exposure="population",
    )
    assert outcome.analyses["interrupted_time_series"].estimate == pytest.approx(its.estimate)
    assert outcome.analyses["interrupted_time_series"].sms.level == 3
    donors = sorted(set(comparison) - {"Howard County"})
    sc = synthetic_control(
        frame,
        treated="Howard County",
        intervention=2010,
        value="robberies",
        exposure="population",
        donors=donors,
    )
    assert outcome.analyses["synthetic_control"].estimate == pytest.approx(sc.estimate)
    assert outcome.analyses["synthetic_control"].n_donors == len(donors)
    text = outcome.summary()
    assert "rollout: Callaway–Sant'Anna" in text and "Synthetic control for Howard County" in text
    assert "the strongest of the designs run" in text
    # tables and plots in the output folder
    written = outcome.write(tmp_path / "out", plots=True)
    out = tmp_path / "out"
    for name in (
        "rollout.csv",
        "rollout_event_study.csv",
        "rollout_group_time.csv",
        "synthetic_control_path.csv",
        "synthetic_control_placebos.csv",
        "interrupted_time_series_series.csv",
        "rollout.png",
        "synthetic_control.png",
        "interrupted_time_series.png",
        "before_after.png",
    ):
        assert (out / name).exists(), name
    assert written["plot_rollout"].stat().st_size > 5000


def test_job_bugs_fixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1. data paths are relative to the job file, not to the current directory
    folder = tmp_path / "jobs"
    (folder / "data").mkdir(parents=True)
    frame = Panel.example("maryland_counties").frame.reset_index()
    frame = frame[frame["period"].between(2008, 2016)]
    frame.to_csv(folder / "data" / "md.csv", index=False)
    (folder / "data" / "md.dictionary.yaml").write_text(
        "entity: entity\nperiod: period\nvariables:\n"
        "  robberies: {column: robberies, unit: count}\n"
        "  population: {column: population, unit: inhabitant}\n"
    )
    job = folder / "job.yaml"
    job.write_text(
        "name: relative paths\n"
        "data: {path: data/md.csv, dictionary: data/md.dictionary.yaml}\n"
        "measures: [robberies]\n"
        "evaluation:\n"
        "  baseline: {kind: period, periods: [2010]}\n"
        # 2. a target without baseline_year uses the single baseline period
        # 3. Kent County already has fewer robberies than 200 in 2010: achieved, no abort
        "  targets:\n    robberies: {value: 200, year: 2020, polarity: negative}\n"
        "  initiative:\n    name: pilot\n"
        "    treated: [Baltimore County, Howard County]\n"
        "    control: [Anne Arundel County, Harford County]\n"
        "    before: [2008, 2009]\n    after: [2010, 2011, 2012]\n"
        # 4. design kind panel runs the panel design
        "  design: {kind: panel}\n"
    )
    monkeypatch.chdir(tmp_path)  # elsewhere: the job must still find its data
    outcome = run_evaluation(load_job(job))
    targets = outcome.targets
    assert targets is not None
    kent = targets[targets["entity"] == "Kent County"]
    assert (kent["status"] == "achieved").all() and kent["already_met_at_baseline"].all()
    baltimore = targets[(targets["entity"] == "Baltimore County") & (targets["period"] == 2016)]
    assert baltimore["status"].iloc[0] in {"on_track", "off_track", "moving_away", "achieved"}
    assert "panel" in outcome.analyses
    assert outcome.analyses["panel"].measure == "difference_in_differences"
    assert outcome.sms is not None and outcome.sms.level == 4
    assert any("design kind 'panel'" in n for n in outcome.notes)
    # 5. unequal windows: per-period changes; rates in the declared unit
    pre_post = outcome.initiative.pre_post
    assert pre_post.per_period and "per period" in pre_post.summary()
    assert "per unit of exposure" not in outcome.summary()


def test_job_analysis_errors_name_the_field(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        "name: x\ndata: {example: maryland_counties}\nmeasures: [robberies]\n"
        "evaluation:\n  analyses:\n    - kind: synthetic_control\n"
        "      treated: [Atlantis]\n      intervention: 2010\n"
    )
    with pytest.raises(
        SpecError, match=r"evaluation.analyses\[0\].treated: area\(s\) \['Atlantis'\]"
    ):
        run_evaluation(load_job(job))
    job.write_text(
        "name: x\ndata: {example: maryland_counties}\nmeasures: [robberies]\n"
        "evaluation:\n  analyses:\n    - kind: synthetic_contol\n"
    )
    with pytest.raises(SpecError) as info:
        load_job(job)
    assert "job.yaml:6" in str(info.value)


def test_initiative_areas_go_through_the_area_selectors(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        "name: selectors\ndata: {example: maryland_counties}\nmeasures: [robberies]\n"
        "evaluation:\n  initiative:\n    name: pilot\n"
        "    treated: [Howard County]\n"
        "    control: {all_except: [treated, Baltimore City, Baltimore County]}\n"
        "    before: [2008, 2009]\n    after: [2011, 2012]\n"
    )
    outcome = run_evaluation(load_job(job))
    counties = set(Panel.example("maryland_counties").entities)
    expected = counties - {"Howard County", "Baltimore City", "Baltimore County"}
    totals = outcome.initiative.totals.set_index(["role", "phase"])
    frame = Panel.example("maryland_counties").frame.reset_index()
    control_before = frame[frame["entity"].isin(expected) & frame["period"].isin([2008, 2009])]
    assert totals.loc[("control", "before"), "count"] == control_before["robberies"].sum()
    job.write_text(job.read_text().replace("{all_except: [treated", "{nearest: [treated"))
    with pytest.raises(SpecError, match=r"evaluation.initiative.control: unknown area selector"):
        run_evaluation(load_job(job))
