"""The shipped HDI framework reproduces every published Human Development Index value.

Oracle: UNDP's HDR 2023/24 composite-indices time series (see
../shared/data/undp_hdr_composite_indices/SOURCE.md), which holds both the inputs and
the published HDI, rounded to 3 decimals, for 195 countries and 11 aggregates, 1990–2022.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securindex.dataset import Panel
from securindex.framework import Framework
from securindex.result import IndexResult

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK = ROOT / "indicators" / "examples" / "hdi.yaml"
HDI_FILE = "undp_hdr_composite_indices/hdi_components_long.csv.gz"


@pytest.fixture(scope="module")
def built(shared_data: Path) -> tuple[Panel, IndexResult]:
    data = shared_data / HDI_FILE
    if not data.exists():
        pytest.skip(f"oracle data not found: {data}")
    framework = Framework.load(FRAMEWORK)
    assert framework.dictionary_path is not None
    panel = Panel.read(data, dictionary=framework.dictionary_path)
    return panel, framework.compute(panel)


def test_the_framework_is_the_published_formula() -> None:
    fw = Framework.load(FRAMEWORK)
    assert fw.node_order == ("hdi", "health", "education", "income")
    assert fw.aggregate_step("hdi").method == "geometric"
    assert fw.aggregate_step("education").method == "arithmetic"
    goalposts = {i: fw.normalise_step(i).params for i in fw.indicators}
    assert goalposts == {
        "life_expectancy": {"lo": 20, "hi": 85},
        "expected_years_schooling": {"lo": 0, "hi": 18},
        "mean_years_schooling": {"lo": 0, "hi": 15},
        "gni_per_capita": {"lo": 100, "hi": 75000, "log": True},
    }


def test_every_published_hdi_is_reproduced_to_three_decimals(
    built: tuple[Panel, IndexResult],
) -> None:
    panel, result = built
    published = panel.frame["hdi_published"]
    ours = result.index.reindex(published.index)
    inputs = panel.frame[
        ["life_expectancy", "expected_years_schooling", "mean_years_schooling", "gni_per_capita"]
    ]
    complete = inputs.notna().all(axis=1)
    compared = complete & published.notna()
    assert int(compared.sum()) == 6171  # every country-year and aggregate with an HDI
    assert (published.notna() & ~complete).sum() == 0
    difference = (ours[compared] - published[compared]).abs()
    assert difference.max() <= 0.0005 + 1e-12
    assert (np.round(ours[compared], 3) == published[compared]).all()


def test_country_years_without_a_published_hdi(built: tuple[Panel, IndexResult]) -> None:
    panel, result = built
    published = panel.frame["hdi_published"]
    inputs_complete = (
        panel.frame[
            [
                "life_expectancy",
                "expected_years_schooling",
                "mean_years_schooling",
                "gni_per_capita",
            ]
        ]
        .notna()
        .all(axis=1)
    )
    unpublished = inputs_complete & published.isna()
    # only Rwanda 1990-1994 have all inputs but no HDI; 1994 (life expectancy 14.1 years,
    # below the 20-year goalpost) scores a health index of 0, so the geometric mean is not
    # taken there: the country-year is not scored and the audit says why
    assert sorted(published.index[unpublished]) == [("RWA", y) for y in range(1990, 1995)]
    assert np.isnan(result.index.loc[("RWA", 1994)])
    assert result.scores.loc[("RWA", 1994), "health"] == 0.0
    audit = result.audit[(result.audit["action"] == "not scored") & (result.audit["item"] == "hdi")]
    zero = audit[audit["detail"].str.contains("lower goalpost")]
    assert zero[["entity", "period"]].values.tolist() == [["RWA", 1994]]
    assert not result.index[~inputs_complete.reindex(result.index.index)].notna().any()


def test_goalposts_cap_the_dimension_indices(built: tuple[Panel, IndexResult]) -> None:
    panel, result = built
    # Hong Kong's life expectancy passes 85 years in 2018-2021: the health index is capped
    assert panel.frame.loc[("HKG", 2019), "life_expectancy"] > 85
    assert result.scores.loc[("HKG", 2019), "health"] == 1.0
    # a hand computation for Norway 2022 (HDR 2023/24 table 1: HDI 0.966)
    le, eys, mys, gni = panel.frame.loc[
        ("NOR", 2022),
        ["life_expectancy", "expected_years_schooling", "mean_years_schooling", "gni_per_capita"],
    ]
    health = (le - 20) / 65
    education = (min(eys / 18, 1) + min(mys / 15, 1)) / 2
    income = (np.log(gni) - np.log(100)) / (np.log(75000) - np.log(100))
    expected = (health * education * min(income, 1.0)) ** (1 / 3)
    assert result.index.loc[("NOR", 2022)] == pytest.approx(expected, rel=1e-12)
    assert round(result.index.loc[("NOR", 2022)], 3) == 0.966
    assert result.ranks.loc[("NOR", 2022), "hdi"] <= 3
