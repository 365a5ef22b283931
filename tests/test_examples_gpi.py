"""The shipped Global Peace Index framework reproduces IEP's published 2018 scores.

One framework: the 23 published banded indicator scores kept as they are (``normalise:
none``), a DAG (each indicator under internal/external peace and under a domain),
``higher_is: worse``. Oracle: IEP's GPI 2018 data release (../shared/data/gpi_2018_indicators;
not redistributed), which holds the indicator scores and the published domain, sub-index
and overall scores to 3 decimals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securindex.dataset import Panel
from securindex.formula import round_half_away
from securindex.framework import Framework
from securindex.result import IndexResult

EXAMPLES = Path(__file__).resolve().parents[1] / "indicators" / "examples"


@pytest.fixture(scope="module")
def built(shared_data: Path) -> tuple[Panel, IndexResult]:
    path = shared_data / "gpi_2018_indicators" / "gpi_detail_2008_2018.csv"
    if not path.exists():
        pytest.skip(f"oracle data not found: {path}")
    framework = Framework.load(EXAMPLES / "gpi.yaml")
    panel = Panel.read(path, dictionary=framework.dictionary_path)
    return panel, framework.compute(panel)


@pytest.mark.parametrize(
    ("node", "column", "exact"),
    [
        ("internal", "internal_published", 1782),
        ("external", "external_published", 1781),  # Taiwan 2009: the source disagrees
        ("safety_security", "safety_published", 1782),
        ("ongoing_conflict", "conflict_published", 1782),
        ("militarisation", "militarisation_published", 1781),
        # 7 rows where the source's overall score is not 0.6 internal + 0.4 external
        ("gpi", "overall_published", 1775),
    ],
)
def test_published_scores_to_three_decimals(
    built: tuple[Panel, IndexResult], node: str, column: str, exact: int
) -> None:
    panel, result = built
    published = panel.frame[column]
    shown = published.notna().to_numpy()
    assert int(shown.sum()) == 1782
    ours = round_half_away(result.scores[node].to_numpy(), 3)
    assert int((np.abs(ours[shown] - published.to_numpy()[shown]) < 1e-9).sum()) == exact


def test_the_published_scale_and_the_ranks_of_a_higher_is_worse_index(
    built: tuple[Panel, IndexResult],
) -> None:
    panel, result = built
    assert result.index.loc[("Afghanistan", 2008)] == pytest.approx(3.247, abs=5e-4)  # not 56.5
    ranks = result.ranks["gpi"]
    published = panel.frame["rank_published"]
    for year in range(2008, 2019):  # the most peaceful country of each year ranks first
        ours = ranks.xs(year, level="period")
        assert ours.idxmin() == published.xs(year, level="period").idxmin()
    assert result.effective_weights.sum() == pytest.approx(1.0)  # the domains weigh 0
