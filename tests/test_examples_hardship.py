"""The shipped hardship-index framework: one framework with a second rescaling of an
average, higher is worse, over the Chicago portal's file with its city-total row dropped
by the data dictionary. The published index is not exactly reproducible from the published
components (its second rescaling refers to a wider reference), so it is a close benchmark:
checked here by rank correlation and mean difference, and by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from securindex.dataset import Panel
from securindex.framework import Framework

EXAMPLES = Path(__file__).resolve().parents[1] / "indicators" / "examples"


@pytest.fixture(scope="module")
def panel(shared_data: Path) -> Panel:
    path = (
        shared_data / "chicago_hardship_index_2008_2012" / "chicago_census_hardship_2008_2012.csv"
    )
    if not path.exists():
        pytest.skip(f"data not found: {path}")
    return Panel.read(path, dictionary=EXAMPLES / "hardship.dictionary.yaml")


def test_the_city_total_row_is_not_an_area(panel: Panel) -> None:
    assert len(panel.entities) == 77 and "CHICAGO" not in set(panel.groups["label"])


def test_the_index_by_hand_and_against_the_published_one(panel: Panel) -> None:
    result = Framework.load(EXAMPLES / "hardship.yaml").compute(panel)
    x = panel.frame.drop(columns="hardship_index")
    scaled = 100 * (x - x.min()) / (x.max() - x.min())
    scaled["per_capita_income"] = 100 - scaled["per_capita_income"]  # more income, less hardship
    mean = scaled.mean(axis=1)
    by_hand = np.floor(1 + 99 * (mean - mean.min()) / (mean.max() - mean.min()) + 0.5)
    np.testing.assert_array_equal(result.index.to_numpy(), by_hand.to_numpy())
    published = panel.frame["hardship_index"]
    rho = stats.spearmanr(result.index, published).statistic
    assert rho > 0.99 and float(np.abs(result.index - published).mean()) < 6
    # higher is worse: the area with the least hardship ranks first
    assert result.ranks["hardship"].idxmin() == result.index.idxmin()


def test_the_same_framework_runs_on_the_shipped_dataset(panel: Panel) -> None:
    framework = Framework.load("hardship")
    shipped = framework.compute(Panel.example("chicago_hardship"))
    raw = framework.compute(panel)
    np.testing.assert_array_equal(shipped.index.to_numpy(), raw.index.to_numpy())
