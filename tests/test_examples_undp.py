"""The shipped GDI, GII, IHDI and PHDI frameworks reproduce UNDP's published values.

Each index is ONE framework YAML (node formulas, a DAG for the GII, higher_is: worse for
the GII) reading UNDP's official file as published — one column per variable and year —
through ``undp_hdr.dictionary.yaml`` (wide input, the ``ZZ`` aggregates dropped by a row
filter): no pandas step. Oracle: the HDR 2023/24 composite-indices time series
(../shared/data/undp_hdr_composite_indices, CC BY 3.0 IGO), which holds the inputs and the
published indices to 3 decimals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from securindex.dataset import Panel
from securindex.framework import Framework
from securindex.result import IndexResult
from securindex.shipped import framework_file

EXAMPLES = Path(__file__).resolve().parents[1] / "indicators" / "examples"
FILE = "undp_hdr_composite_indices/HDR23-24_Composite_indices_complete_time_series.csv.gz"


@pytest.fixture(scope="module")
def panel(shared_data: Path) -> Panel:
    path = shared_data / FILE
    if not path.exists():
        pytest.skip(f"oracle data not found: {path}")
    return Panel.read(path, dictionary=EXAMPLES / "undp_hdr.dictionary.yaml")


def _build(name: str, panel: Panel) -> IndexResult:
    return Framework.load(EXAMPLES / f"{name}.yaml").compute(panel)


def _compare(result: IndexResult, published: pd.Series) -> tuple[int, int, float]:
    """(rows published, rows equal to the published value, largest difference)."""
    ours = result.index.reindex(published.index)
    shown = published.notna()
    assert ours[shown].notna().sum() >= shown.sum() - 1
    both = shown & ours.notna()
    diff = (ours[both] - published[both]).abs()
    return int(shown.sum()), int((diff < 1e-12).sum()), float(diff.max())


def test_the_official_file_reads_as_a_panel_without_its_aggregates(panel: Panel) -> None:
    assert len(panel.entities) == 195 and not any(e.startswith("ZZ") for e in panel.entities)
    assert list(panel.periods) == list(range(1990, 2023))
    assert panel.frame.loc[("NOR", 2022), "hdi"] == 0.966


def test_the_gdi_is_reproduced_exactly(panel: Panel) -> None:
    result = _build("gdi", panel)
    n, equal, _ = _compare(result, panel.frame["gdi"])
    assert (n, equal) == (4710, 4710)  # every published country-year, to 3 decimals
    # the women's HDI equals the published full-precision value
    female = result.scores["female"].reindex(panel.frame.index)
    np.testing.assert_allclose(female, panel.frame["hdi_f"], atol=1e-9)


def test_the_gii_a_dag_of_node_formulas_is_reproduced_exactly(panel: Panel) -> None:
    framework = Framework.load(EXAMPLES / "gii.yaml")
    assert framework.parents["health_f"] == ("g_f", "g_fm")  # shared by two parents
    result = framework.compute(panel)
    n, equal, _ = _compare(result, panel.frame["gii"])
    assert (n, equal) == (4405, 4405)
    # higher is worse: rank 1 is the lowest GII (Denmark in 2022, as published)
    ranks = result.ranks["gii"].xs(2022, level="period")
    published = panel.frame["gii_rank"].xs(2022, level="period").dropna()
    assert ranks.idxmin() == published.idxmin() == "DNK"
    # UNDP breaks ties of the rounded index with more decimals: 97 % of ranks agree
    agree = (ranks.reindex(published.index) == published).mean()
    assert agree > 0.97


def test_the_ihdi_is_reproduced_exactly(panel: Panel) -> None:
    n, equal, _ = _compare(_build("ihdi", panel), panel.frame["ihdi"])
    assert (n, equal) == (1963, 1963)


def test_the_phdi_is_reproduced_to_the_last_published_decimal(panel: Panel) -> None:
    result = _build("phdi", panel)
    n, equal, largest = _compare(result, panel.frame["phdi"])
    # 5 country-years lie within 1e-6 of a rounding half (UNDP computes from more digits of
    # the inputs than it publishes) and come out 0.001 apart
    assert n == 4739 and equal == 4733 and largest == pytest.approx(0.001)
    # Rwanda 1994: life expectancy at its natural zero, HDI not scored (published 0.000)
    assert np.isnan(result.index.loc[("RWA", 1994)])
    assert result.audit.query("entity == 'RWA' and period == 1994").shape[0] >= 1


@pytest.mark.parametrize("name", ["gdi", "gii", "ihdi", "phdi"])
def test_the_examples_ship_by_name(name: str) -> None:
    assert framework_file(name).name == f"{name}.yaml"
    assert Framework.load(name).id == name
