"""Tests of securindex.evaluation.plots and of the package surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import securindex.evaluation as evaluation
from securindex.errors import DataError
from securindex.evaluation import (
    evaluate_initiative,
    interrupted_time_series,
    plot_before_after,
    plot_interrupted_time_series,
    plot_trajectory,
    progress_to_target,
)

matplotlib = pytest.importorskip(
    "matplotlib", reason="matplotlib (securindex[report]) not installed"
)
matplotlib.use("Agg")


def test_every_public_name_exists() -> None:
    for name in evaluation.__all__:
        assert hasattr(evaluation, name), name
    assert len(set(evaluation.__all__)) == len(evaluation.__all__)


def test_import_loads_neither_statsmodels_nor_matplotlib() -> None:
    code = (
        "import sys, securindex.evaluation; "
        "print('statsmodels' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_plot_trajectory(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "entity": ["a"] * 4 + ["b"] * 4,
            "period": [2015, 2016, 2017, 2018] * 2,
            "value": [10.0, 9.0, 8.0, 7.5, 9.0, 9.5, 9.0, 8.0],
        }
    )
    out = progress_to_target(
        frame, 5.0, baseline_period=2015, target_year=2025, polarity="negative"
    )
    ax = plot_trajectory(out, entity="a", target_year=2025)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "observed" in labels and "linear trajectory" in labels
    traj = next(line for line in ax.get_lines() if line.get_label() == "linear trajectory")
    np.testing.assert_allclose(traj.get_ydata()[-1], 5.0)  # ends on the target
    ax.figure.savefig(tmp_path / "trajectory.png")
    assert (tmp_path / "trajectory.png").stat().st_size > 1000
    with pytest.raises(DataError, match="say which one"):
        plot_trajectory(out)


def test_plot_before_after_and_its(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "entity": ["t", "t", "c", "c", "b", "b"],
            "period": [1, 2] * 3,
            "count": [50, 30, 60, 55, 20, 18],
        }
    )
    ev = evaluate_initiative(
        frame, treated=["t"], control=["c"], buffer=["b"], before=[1], after=[2]
    )
    ax = ev.plot()
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == sorted([50, 30, 60, 55, 20, 18])
    assert plot_before_after(ev).get_title().endswith("before and after")
    pytest.importorskip("statsmodels")
    t = np.arange(16)
    series = pd.DataFrame({"period": 2000 + t, "value": 20 + t - 6 * (t >= 8) + 0.3 * (-1.0) ** t})
    its = interrupted_time_series(series, intervention=2008)
    ax = plot_interrupted_time_series(its)
    assert len(ax.get_lines()) >= 3
    ax.figure.savefig(tmp_path / "its.png")


def test_plot_event_study_draws_band_and_intervals(tmp_path: Path) -> None:
    from securindex.datasets.synthetic import staggered_panel_example
    from securindex.evaluation import callaway_santanna, plot_event_study

    r = callaway_santanna(
        staggered_panel_example(seed=1, effect="dynamic"),
        treatment="first_treated",
        value="outcome",
    )
    ax = plot_event_study(r)
    assert ax.get_title().startswith("Event study")
    # one shaded band spanning every event time, one errorbar per event time
    band = ax.collections[0]
    xs = band.get_paths()[0].vertices[:, 0]
    assert xs.min() == r.event_study["event_time"].min()
    assert xs.max() == r.event_study["event_time"].max()
    points = ax.lines[0].get_xydata()
    np.testing.assert_allclose(points[:, 1], r.event_study["estimate"])
    ax.figure.savefig(tmp_path / "event.png")
    assert (tmp_path / "event.png").stat().st_size > 5000
