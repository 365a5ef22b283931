"""Tests of securindex.report.evaluation: the HTML report of an evaluation job."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from securindex.evaluation import load_job, run_evaluation

pytest.importorskip("jinja2", reason="the report needs securindex[report]")
pytest.importorskip("matplotlib", reason="the report needs securindex[report]")

JOB = """\
name: Staggered pilot <&> synthetic twin
description: Illustrative roll-out on the shipped Maryland counties.
data: {example: maryland_counties}
measures: [robberies]
evaluation:
  analyses:
    - kind: event_study
      name: rollout
      exposure: population
      treatment: {Baltimore County: 2005, Howard County: 2005, Harford County: 2010,
                  Carroll County: 2010, Frederick County: 2012}
    - kind: synthetic_control
      treated: Howard County
      exposure: population
      intervention: 2010
      donors: {all_except: [Howard County, Baltimore County, Baltimore City]}
    - kind: interrupted_time_series
      entities: [Howard County]
      comparison: [Anne Arundel County, Harford County]
      exposure: population
      intervention: 2010
  emmie:
    mechanism: More patrols raise the perceived risk of arrest.
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evaluation-report")
    (folder / "job.yaml").write_text(JOB)
    outcome = run_evaluation(load_job(folder / "job.yaml"))
    from securindex.report.evaluation import write_evaluation_report

    outcome.write(folder / "out", plots=True)
    return write_evaluation_report(outcome, folder / "out" / "report.html")


def test_report_holds_every_design_with_its_plot_and_assumption(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    # one section per design, each with an embedded PNG and its identifying assumption
    for section in ("rollout", "synthetic-control", "interrupted-time-series"):
        assert f'id="{section}"' in html
    assert html.count('src="data:image/png;base64,') == 3
    assert html.count("Identifying assumption") >= 3
    assert "Evidence: Maryland Scientific Methods Scale level" in html
    assert "Event study" in html and "Weights" in html
    # escaped, self-contained, no network
    assert "Staggered pilot &lt;&amp;&gt; synthetic twin" in html
    assert not re.search(r"(src|href)=\"https?://", html)
    assert "default-src 'none'" in html
    # the composite-index report's style sheet is reused, not copied
    assert "--accent: #1f5f99" in html
    assert "More patrols raise" in html


@pytest.mark.browser
def test_report_loads_in_headless_chromium(report: Path, chromium: Any) -> None:
    completed = chromium.dump_dom(report)
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom = completed.stdout
    assert "Synthetic control for Howard County" in dom
    assert dom.count("<img") == 3
    console = [line for line in completed.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
