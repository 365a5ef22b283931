"""The shipped ASEM framework reproduces COINr's example index (``build_example_coin()``).

Oracles:

* COINr's own published output, in the rendered vignettes of the COINr repository
  (github.com/bluefoxr/COINr, commit cb1fa25c65ecd09bf92ba7c1a980a96ba1556e8f, package
  1.1.14 data): ``articles/results.md`` (``get_results()``: the six top-ranked units with
  every aggregate to 2 decimals, India's ``get_unit_summary()`` with ranks, ranks within
  GDP-per-capita groups), ``articles/aggregate.md`` (the first five rows of the aggregated
  data set, 3 significant digits) and ``articles/treat.md`` (``Treat()`` on the raw data:
  skewness, kurtosis and winsorised points);
* an independent step-by-step recomputation with pandas, written here from COINr's R
  source (``R/examples.R``, ``R/treat.R``), compared on every unit, indicator and node.

The data are COINr's ASEM example data (../shared/data/coinr_asem, see its SOURCE.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from securindex.dataset import Panel
from securindex.framework import Framework
from securindex.result import IndexResult

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "indicators" / "examples"


@pytest.fixture(scope="module")
def asem_data(shared_data: Path) -> Path:
    """COINr's ASEM example files (``../shared/data/coinr_asem``), or skip."""
    folder = shared_data / "coinr_asem"
    if not (folder / "ASEM_iData.csv").exists():
        pytest.skip(f"COINr example data not found in {folder}")
    return folder


NODES = [
    "Index",
    "Conn",
    "Sust",
    "Physical",
    "ConEcFin",
    "Political",
    "Instit",
    "P2P",
    "Environ",
    "Social",
    "SusEcFin",
]

# articles/results.md: get_results(coin, dset = "Aggregated", tab_type = "Aggs"), head()
RESULTS_TOP_SIX = {
    "CHE": [68.38, 62.79, 73.98, 63.41, 32.87, 74.78, 85.94, 56.93, 77.21, 87.85, 56.88],
    "NLD": [64.82, 61.94, 67.70, 64.87, 46.62, 84.55, 71.74, 41.92, 58.73, 86.58, 57.78],
    "DNK": [64.80, 57.10, 72.51, 50.52, 30.43, 78.13, 75.35, 51.04, 69.83, 86.40, 61.29],
    "NOR": [64.47, 57.44, 71.50, 58.18, 25.70, 80.03, 89.46, 33.80, 70.90, 87.00, 56.59],
    "BEL": [63.54, 63.99, 63.09, 71.97, 48.22, 80.84, 75.60, 43.32, 53.01, 86.17, 50.09],
    "SWE": [63.00, 53.87, 72.12, 51.51, 23.87, 80.98, 74.51, 38.50, 66.37, 87.74, 62.27],
}

# articles/results.md: get_unit_summary(coin, usel = "IND", Levels = c(4, 3, 2))
INDIA = {
    "Index": (39.79, 45),
    "Conn": (28.60, 44),
    "Sust": (50.99, 43),
    "Physical": (18.78, 48),
    "ConEcFin": (6.38, 49),
    "Political": (51.90, 33),
    "Instit": (59.84, 37),
    "P2P": (6.07, 47),
    "Environ": (75.34, 6),
    "Social": (22.74, 51),
    "SusEcFin": (54.88, 36),
}

# articles/results.md: get_results(..., use_group = "GDPpc_group", use = "groupranks"),
# head() of the "XL" and "L" groups, columns in NODES order
GROUP_RANKS = {
    "CHE": [1, 2, 1, 3, 5, 8, 2, 2, 1, 1, 8],
    "NLD": [2, 3, 6, 2, 4, 2, 10, 6, 8, 4, 7],
    "DNK": [3, 6, 2, 8, 6, 6, 6, 5, 3, 5, 5],
    "NOR": [4, 5, 4, 4, 8, 4, 1, 11, 2, 3, 10],
    "SWE": [5, 10, 3, 7, 10, 3, 8, 10, 5, 2, 3],
    "AUT": [6, 7, 5, 11, 7, 5, 4, 4, 4, 9, 2],
    "BEL": [1, 1, 2, 1, 2, 4, 7, 3, 10, 1, 9],
    "MLT": [2, 2, 5, 3, 1, 12, 4, 1, 2, 10, 3],
    "SVN": [3, 4, 1, 2, 6, 9, 6, 5, 5, 3, 2],
    "GBR": [4, 3, 3, 4, 8, 5, 5, 7, 3, 2, 8],
    "CZE": [5, 5, 4, 9, 5, 8, 10, 6, 12, 9, 1],
    "ESP": [6, 7, 7, 7, 10, 2, 3, 9, 6, 6, 10],
}

# articles/aggregate.md: the first five rows of the Aggregated data set, signif(3); COINr
# lists units by uCode, so these are AUS, AUT, BEL, BGD and BGR
AGGREGATED_HEAD = {
    "AUS": {"ConEcFin": 12.6, "Environ": 31.9, "Instit": 52.4, "P2P": 39.5, "Physical": 34.8,
            "Political": 52.5, "Social": 71.9, "SusEcFin": 55.7, "Conn": 38.4, "Sust": 53.2,
            "Index": 45.8},
    "AUT": {"ConEcFin": 26.2, "Environ": 69.5, "Instit": 77.5, "P2P": 54.1, "Physical": 41.1,
            "Political": 78.2, "Social": 72.8, "SusEcFin": 62.9, "Conn": 55.4, "Sust": 68.4,
            "Index": 61.9},
    "BEL": {"ConEcFin": 48.2, "Environ": 53.0, "Instit": 75.6, "P2P": 43.3, "Physical": 72.0,
            "Political": 80.8, "Social": 86.2, "SusEcFin": 50.1, "Conn": 64.0, "Sust": 63.1,
            "Index": 63.5},
    "BGD": {"ConEcFin": 13.3, "Environ": 81.7, "Instit": 26.5, "P2P": 5.85, "Physical": 22.9,
            "Political": 32.4, "Social": 27.5, "SusEcFin": 64.6, "Conn": 20.2, "Sust": 57.9,
            "Index": 39.0},
    "BGR": {"ConEcFin": 24.6, "Environ": 55.7, "Instit": 75.9, "P2P": 27.1, "Physical": 28.4,
            "Political": 67.5, "Social": 53.3, "SusEcFin": 61.7, "Conn": 44.7, "Sust": 56.9,
            "Index": 50.8},
}  # fmt: skip

# articles/treat.md: Treat(coin, dset = "Raw") (no denomination), Dets_Table:
# skewness and kurtosis before, points winsorised (NaN: passed), after
TREAT_RAW = {
    "LPI": (-0.3042681, -0.6567514, np.nan, np.nan, np.nan),
    "Flights": (2.1032872, 4.5088794, 1, 1.900658, 3.336065),
    "Ship": (-0.5756680, -0.6814795, np.nan, np.nan, np.nan),
    "Bord": (2.1482360, 5.7914905, 1, 1.899211, 4.346298),
    "Elec": (2.2252736, 5.7910268, 1, 1.717744, 2.586062),
    "Gas": (2.8294486, 10.3346494, 1, 1.602518, 1.525576),
    "ConSpeed": (0.4622037, 0.1873214, np.nan, np.nan, np.nan),
    "Cov4G": (-1.3725191, 0.5419314, np.nan, np.nan, np.nan),
    "Goods": (2.6499733, 8.2666095, 2, 1.140608, 0.1572047),
    "Services": (1.7010849, 2.3756557, np.nan, np.nan, np.nan),
}


@pytest.fixture(scope="module")
def framework() -> Framework:
    return Framework.load(EXAMPLES / "asem.yaml")


@pytest.fixture(scope="module")
def panel(framework: Framework, asem_data: Path) -> Panel:
    assert framework.dictionary_path is not None
    return Panel.read(asem_data / "ASEM_iData.csv", dictionary=framework.dictionary_path)


@pytest.fixture(scope="module")
def result(framework: Framework, panel: Panel) -> IndexResult:
    return framework.compute(panel)


def test_shape_of_the_build(framework: Framework, result: IndexResult) -> None:
    assert framework.id == "Index"
    assert list(result.scores.columns) == NODES
    assert len(framework.indicators) == 49
    assert len(result.scores) == 51  # screening the imputed data keeps every unit
    assert set(result.scores.index.get_level_values("entity")) >= set(RESULTS_TOP_SIX)
    table = result.table()
    assert list(table.columns[:3]) == ["entity", "period", "Index"]
    assert "rank_Index" in table.columns


def test_top_six_as_published_by_coinr(result: IndexResult) -> None:
    top = result.period(2018).head(6).set_index("entity")
    assert list(top.index) == list(RESULTS_TOP_SIX)
    assert top["rank_Index"].tolist() == [1, 2, 3, 4, 5, 6]
    for unit, published in RESULTS_TOP_SIX.items():
        ours = top.loc[unit, NODES].to_numpy(dtype=float)
        np.testing.assert_allclose(ours, published, atol=0.005 + 1e-9, err_msg=unit)


def test_india_as_published_by_coinr(result: IndexResult) -> None:
    for node, (score, rank) in INDIA.items():
        assert result.scores.loc[("IND", 2018), node] == pytest.approx(score, abs=0.005 + 1e-9)
        assert result.ranks.loc[("IND", 2018), node] == rank, node


def test_ranks_within_income_groups_as_published(result: IndexResult, panel: Panel) -> None:
    group = panel.groups["GDPpc_group"].reindex(result.scores.index)
    ranks = result.scores.groupby(group.to_numpy()).rank(ascending=False, method="min")
    for unit, published in GROUP_RANKS.items():
        assert ranks.loc[(unit, 2018), NODES].tolist() == published, unit


def test_first_rows_of_the_aggregated_set_as_published(result: IndexResult) -> None:
    for unit, published in AGGREGATED_HEAD.items():
        for node, value in published.items():
            ours = float(f"{result.scores.loc[(unit, 2018), node]:.3g}")
            assert ours == value, (unit, node)


def test_treatment_of_the_raw_data_as_published(framework: Framework, panel: Panel) -> None:
    # COINr's treat vignette treats the raw (not denominated) indicators: rebuild the
    # framework without denominators; the report's 'pass_before' columns are computed by the
    # pipeline itself (it tests the rule before calling winsorise)
    spec = framework.spec.model_dump()
    for column in spec["columns"].values():
        column["denominator"] = None
    spec["pipeline"]["impute"] = {"method": "none"}  # the vignette treats the raw data
    spec["pipeline"]["screen"] = {"method": "none"}
    raw = Framework.from_spec(spec, base_dir=EXAMPLES)
    report = raw.compute(panel).treatment.set_index("indicator")
    for code, (skew0, kurt0, n_win, skew1, kurt1) in TREAT_RAW.items():
        row = report.loc[code]
        assert row["skew_before"] == pytest.approx(skew0, abs=5e-7), code
        assert row["kurt_before"] == pytest.approx(kurt0, abs=5e-7), code
        if np.isnan(n_win):
            assert row["n_winsorised"] == 0 and bool(row["pass_before"]), code
        else:
            assert row["n_winsorised"] == n_win, code
            assert row["skew_after"] == pytest.approx(skew1, abs=5e-6), code
            assert row["kurt_after"] == pytest.approx(kurt1, abs=5e-6), code


def test_screening_before_imputation_would_drop_five_units(
    framework: Framework, panel: Panel
) -> None:
    # COINr screens the imputed data (build_example_coin: Impute, then Screen); screening
    # the raw data instead drops the units with under 90 % of their indicators
    early = framework.with_steps(screen={"method": "availability", "min_share": 0.9})
    result = early.compute(panel)
    excluded = result.audit[result.audit["action"] == "excluded"]
    assert sorted(excluded["entity"]) == ["BGD", "BRN", "KHM", "LAO", "MMR"]
    assert excluded.set_index("entity").loc["BRN", "before"] == pytest.approx(39 / 49)


# -- an independent recomputation with pandas ------------------------------------------------


def _skew(x: np.ndarray) -> float:
    # e1071::skewness(type = 2), as COINr's skew()
    x = x[~np.isnan(x)]
    n, d = len(x), x - x.mean()
    g = np.sqrt(n) * np.sum(d**3) / np.sum(d**2) ** 1.5
    return float(g * np.sqrt(n * (n - 1)) / (n - 2))


def _kurt(x: np.ndarray) -> float:
    # e1071::kurtosis(type = 2), as COINr's kurt()
    x = x[~np.isnan(x)]
    n, d = len(x), x - x.mean()
    r = n * np.sum(d**4) / np.sum(d**2) ** 2
    return float(((n + 1) * (r - 3) + 6) * (n - 1) / ((n - 2) * (n - 3)))


def _passes(x: np.ndarray) -> bool:
    return abs(_skew(x)) < 2 or _kurt(x) < 3.5


def _coinr_treat(x: np.ndarray, winmax: int = 5) -> np.ndarray:
    """COINr's Treat.numeric with winsorise (f1) and log_CT (f2), one indicator."""
    if _passes(x):
        return x
    w = x.copy()
    n_win = 0
    while not _passes(w) and n_win < winmax:
        if _skew(w) >= 0:
            top = w == np.nanmax(w)
            w[top] = np.nanmax(w[~top])
            n_win = int(np.sum(top))
        else:
            bottom = w == np.nanmin(w)
            w[bottom] = np.nanmin(w[~bottom])
            n_win = int(np.sum(bottom))
    if _passes(w):
        return w
    low, high = np.nanmin(x), np.nanmax(x)
    return np.log(x - low + 0.01 * (high - low))


def test_whole_build_against_a_pandas_recomputation(result: IndexResult, asem_data: Path) -> None:
    data = pd.read_csv(asem_data / "ASEM_iData.csv").set_index("uCode")
    meta = pd.read_csv(asem_data / "ASEM_iMeta.csv")
    indicators = meta[meta["Type"] == "Indicator"]
    # Denominate
    x = data[indicators["iCode"]].astype(float).copy()
    for _, row in indicators.dropna(subset=["Denominator"]).iterrows():
        x[row["iCode"]] = x[row["iCode"]] / data[row["Denominator"]]
    # Impute: the mean of the indicator within the unit's EurAsia_group
    imputed = x.fillna(x.groupby(data["EurAsia_group"]).transform("mean"))
    # Screen (on the imputed data): every unit has all its indicators
    assert imputed.notna().all().all()
    # Treat, column by column
    treated = imputed.apply(lambda col: pd.Series(_coinr_treat(col.to_numpy()), col.index))
    # Normalise: directions, then min-max to [0, 100]
    directed = treated * indicators.set_index("iCode")["Direction"]
    normalised = 100 * (directed - directed.min()) / (directed.max() - directed.min())
    # Aggregate: weighted arithmetic mean at every level
    scores = normalised.copy()
    aggregates = meta[meta["Type"] == "Aggregate"]
    for level in (2, 3, 4):
        for _, node in aggregates[aggregates["Level"] == level].iterrows():
            children = meta[meta["Parent"] == node["iCode"]]
            weights = children["Weight"].to_numpy(dtype=float)
            scores[node["iCode"]] = scores[children["iCode"]].to_numpy() @ weights / weights.sum()

    ours = result.scores.droplevel("period")
    pd.testing.assert_frame_equal(
        ours[NODES].sort_index(), scores[NODES].sort_index(), check_names=False, rtol=1e-10
    )
    for stage, expected in (("imputed", imputed), ("treated", treated)):
        got = getattr(result, stage).droplevel("period")
        pd.testing.assert_frame_equal(
            got.sort_index(), expected.sort_index(), check_names=False, rtol=1e-12
        )
    # every imputed cell is flagged: 63 missing indicator values + Elec and Gas of the
    # unit whose energy denominator is missing
    assert int(result.imputed_mask.to_numpy().sum()) == int(x.isna().sum().sum()) == 65
