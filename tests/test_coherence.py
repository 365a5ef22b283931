"""Tests of securindex.analysis.coherence: hand computations and numpy/scipy oracles."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

from securindex.analysis import coherence as co
from securindex.dataset import Panel
from securindex.errors import DataError, SpecError
from securindex.framework import Framework
from securindex.result import IndexResult

matplotlib.use("Agg")

FRAMEWORK = {
    "id": "idx",
    "columns": {
        "a": {"polarity": "positive"},
        "b": {"polarity": "positive"},
        "c": {"polarity": "negative"},
        "d": {"polarity": "positive"},
        "e": {"polarity": "positive"},
    },
    "pipeline": {"normalise": {"method": "minmax", "lo": 0, "hi": 100}},
    "structure": [
        {"id": "p1", "children": ["a", "b", "c"]},
        {"id": "p2", "children": ["d", "e"]},
        {"id": "sub", "children": ["p1", "p2"]},
    ],
}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> IndexResult:
    """40 entities × 2 periods. a and b are nearly collinear; c is 'negative' but is built
    to rise with a, so after polarity it runs against its pillar."""
    folder = tmp_path_factory.mktemp("coherence")
    (folder / "framework.yaml").write_text(yaml.safe_dump(FRAMEWORK, sort_keys=False))
    rng = np.random.default_rng(42)
    n = 80
    base = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "a": base,
            "b": base + 0.05 * rng.normal(size=n),
            "c": base + 0.8 * rng.normal(size=n),
            "d": rng.lognormal(size=n),
            "e": rng.normal(size=n),
        }
    )
    frame.loc[5, "d"] = np.nan
    frame.loc[9, "e"] = np.nan
    frame["entity"] = np.tile([f"u{i:02d}" for i in range(40)], 2)
    frame["period"] = np.repeat([2020, 2021], 40)
    units = dict.fromkeys("abcde", "dimensionless")
    panel = Panel.from_frame(frame, entity="entity", period="period", units=units)
    return Framework.load(folder / "framework.yaml").compute(panel)


def test_levels(result: IndexResult) -> None:
    level = co.levels(result.framework)
    assert [level[i] for i in "abcde"] == [1] * 5
    assert (level["p1"], level["p2"], level["sub"], level["idx"]) == (2, 2, 3, 4)


def test_cronbach_alpha_by_hand() -> None:
    # items x1 = (1, 2, 3, 4), x2 = (2, 3, 5, 4): variances (ddof 1) 5/3 and 5/3;
    # their sum (3, 5, 8, 8) has mean 6 and variance (9 + 1 + 4 + 4)/3 = 6;
    # alpha = 2/1 * (1 - (10/3)/6) = 2 * 4/9 = 8/9
    x = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 4.0]])
    assert co._alpha(x) == pytest.approx(8 / 9)
    assert np.isnan(co._alpha(x[:, :1]))


def test_cronbach_alpha_per_node(result: IndexResult) -> None:
    table = co.cronbach_alpha(result)
    values = pd.concat([result.normalised, result.scores], axis=1)
    complete = values[["a", "b", "c"]].dropna().to_numpy()
    k = 3
    expected = (
        k / (k - 1) * (1 - complete.var(axis=0, ddof=1).sum() / complete.sum(axis=1).var(ddof=1))
    )
    assert table.loc["p1", "alpha"] == pytest.approx(expected)
    assert table.loc["p2", "n_rows"] == 78  # two rows miss d or e
    whole = co.cronbach_alpha(result, of="indicators")
    assert whole.loc["idx", "n_items"] == 5


def test_pca_against_eigen_decomposition(result: IndexResult) -> None:
    found = co.pca(result)
    x = result.normalised[["a", "b", "c"]].dropna().to_numpy()
    eigenvalues = np.sort(np.linalg.eigvalsh(np.corrcoef(x, rowvar=False)))[::-1]
    explained = found.explained[found.explained["node"] == "p1"]
    np.testing.assert_allclose(explained["eigenvalue"], eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(explained["explained"], eigenvalues / 3, rtol=1e-10)
    assert explained["cumulative"].iloc[-1] == pytest.approx(1.0)
    loadings = found.loadings[found.loadings["node"] == "p1"]
    # the squared loadings of a component sum to its eigenvalue
    by_component = (loadings["loading"] ** 2).groupby(loadings["component"]).sum()
    np.testing.assert_allclose(by_component.to_numpy(), eigenvalues, rtol=1e-10)
    # against numpy's SVD of the standardised matrix, up to sign
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    first = loadings[loadings["component"] == 1]["coefficient"].to_numpy()
    np.testing.assert_allclose(np.abs(first), np.abs(vt[0]), rtol=1e-10)
    assert first.sum() > 0
    np.testing.assert_allclose(explained["eigenvalue"], s**2 / (len(x) - 1), rtol=1e-10)


def test_describe_against_scipy(result: IndexResult) -> None:
    table = co.describe(result)
    a = result.raw["d"].dropna().to_numpy()
    assert table.loc["d", "n"] == 79 and table.loc["d", "n_missing"] == 1
    assert table.loc["d", "skewness"] == pytest.approx(scipy.stats.skew(a, bias=False))
    assert table.loc["d", "kurtosis"] == pytest.approx(scipy.stats.kurtosis(a, bias=False))
    assert table.loc["d", "median"] == pytest.approx(np.median(a))
    assert table.loc["d", "sd"] == pytest.approx(a.std(ddof=1))
    assert table.loc["d", "outliers"] == bool(
        abs(table.loc["d", "skewness"]) >= 2 and table.loc["d", "kurtosis"] >= 3.5
    )
    one = co.describe(result, period=2021, stage="normalised")
    assert one.loc["a", "n"] == 40
    with pytest.raises(SpecError, match="stage"):
        co.describe(result, stage="cooked")
    with pytest.raises(DataError, match="no rows for period"):
        co.describe(result, period=1999)


def test_availability(result: IndexResult) -> None:
    table = co.availability(result)
    row = table.loc[("u05", 2020)]
    assert row["n_missing"] == 1 and row["availability"] == pytest.approx(4 / 5)
    assert row["p2"] == pytest.approx(0.5) and row["p1"] == 1.0
    assert row["idx"] == pytest.approx(0.8)
    assert table["kept"].all()


def test_correlations_against_numpy_and_scipy(result: IndexResult) -> None:
    pearson = co.correlations(result, rows=1)
    x = result.normalised[["a", "b", "c"]].to_numpy()
    np.testing.assert_allclose(
        pearson.loc[["a", "b", "c"], ["a", "b", "c"]], np.corrcoef(x, rowvar=False)
    )
    spearman = co.correlations(result, rows=1, method="spearman")
    rho = scipy.stats.spearmanr(x).statistic
    np.testing.assert_allclose(spearman.loc[["a", "b", "c"], ["a", "b", "c"]], rho)
    across = co.correlations(result, rows=1, columns=2)
    assert list(across.columns) == ["p1", "p2"] and list(across.index) == list("abcde")
    assert across.loc["a", "p1"] == pytest.approx(
        np.corrcoef(result.normalised["a"], result.scores["p1"])[0, 1]
    )
    with pytest.raises(SpecError, match="no item at level"):
        co.correlations(result, rows=9)
    with pytest.raises(SpecError, match="pearson"):
        co.correlations(result, method="kendal")  # type: ignore[arg-type]


def test_node_correlations(result: IndexResult) -> None:
    table = co.node_correlations(result)
    assert table.loc["d", "parent"] == "p2"
    assert table.loc["d", "with_parent"] == table.loc["d", "p2"]
    assert list(table.columns[2:]) == ["p1", "p2", "sub", "idx"]


def test_flags(result: IndexResult) -> None:
    flags = co.correlation_flags(result, method="pearson")
    collinear = flags[flags["flag"] == "collinear"]
    assert set(zip(collinear["item"], collinear["other"], strict=True)) == {("a", "b")}
    assert collinear["same_parent"].all()
    negative = flags[flags["flag"] == "negative_with_parent"]
    assert list(negative["item"]) == ["c"] and list(negative["other"]) == ["p1"]
    both = co.correlation_flags(result)
    assert set(both["method"]) == {"pearson", "spearman"}


def test_unit_profiles_by_hand(result: IndexResult) -> None:
    profiles = co.unit_profiles(result, n=2, period=2020)
    entity = profiles[(profiles["entity"] == "u05")]
    normalised = result.normalised.xs(2020, level="period")
    ranks = normalised.rank(ascending=False, method="min").loc["u05"]
    expected_best = ranks.dropna().sort_values(kind="stable").index[:2].tolist()
    expected_worst = (-ranks.dropna()).sort_values(kind="stable").index[:2].tolist()
    strengths = entity[entity["kind"] == "strength"]
    weaknesses = entity[entity["kind"] == "weakness"]
    assert strengths["indicator"].tolist() == expected_best
    assert weaknesses["indicator"].tolist() == expected_worst
    assert "d" not in entity["indicator"].tolist()  # u05 has no value for d in 2020
    # d misses u05 in 2020 and e misses u09: each is ranked among 39 entities, others 40
    assert strengths["n_ranked"].tolist() == normalised[expected_best].notna().sum().tolist()
    with pytest.raises(SpecError):
        co.unit_profiles(result, n=0)


def test_everything_at_once(result: IndexResult, tmp_path: Path) -> None:
    report = co.coherence_report(result, period=2021)
    assert "pearson_1_2" in report.correlations and "spearman_3_4" in report.correlations
    written = report.write(tmp_path)
    assert written["cronbach"].exists() and written["correlation_pearson_1_1"].exists()
    assert len(pd.read_csv(written["profiles"])) == 40 * 2 * 3


def test_cli_analyse(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from securindex.analysis._cli import register

    app = typer.Typer()
    register(app)
    (tmp_path / "framework.yaml").write_text(yaml.safe_dump(FRAMEWORK, sort_keys=False))
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(30, 5)), columns=list("abcde"))
    frame["entity"] = [f"u{i}" for i in range(30)]
    frame.to_csv(tmp_path / "data.csv", index=False)
    dictionary = {
        "entity": "entity",
        "period": None,
        "variables": {k: {"unit": "dimensionless"} for k in "abcde"},
    }
    (tmp_path / "data.dictionary.yaml").write_text(yaml.safe_dump(dictionary))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["analyse", str(tmp_path / "framework.yaml"), str(tmp_path / "data.csv"), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert (out / "cronbach.csv").exists() and (out / "correlation_pearson_1_1.png").exists()
    assert "Cronbach's alpha per node" in result.output


# -- collinearity on r, and profiles with ties at the best value ------------------------------


def _built(columns: dict[str, np.ndarray], polarity: dict[str, str]) -> IndexResult:
    frame = pd.DataFrame(columns)
    frame["entity"] = [f"e{i:02d}" for i in range(len(frame))]
    frame["period"] = 2020
    panel = Panel.from_frame(
        frame,
        dictionary={
            "entity": "entity",
            "period": "period",
            "variables": {c: {"unit": "dimensionless"} for c in columns},
        },
    )
    fw = Framework.from_spec(
        {
            "id": "idx",
            "columns": polarity,
            "structure": [{"id": "p", "children": list(columns)}],
        }
    )
    return fw.compute(panel)


def test_a_strongly_negative_pair_is_not_called_collinear() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=40)
    built = _built(
        {"a": a, "b": -a + 0.01 * rng.normal(size=40), "c": a + 0.01 * rng.normal(size=40)},
        {"a": "positive", "b": "negative", "c": "positive"},
    )
    # normalised (polarity applied) b runs with a, so a and b are collinear as scores; on
    # raw values a pair with r = -1 would not be, but r > 0.9 is
    flags = co.correlation_flags(built, method="pearson")
    collinear = flags[flags["flag"] == "collinear"]
    assert (collinear["r"] > 0.9).all() and len(collinear) == 3
    raw = _built(
        {"a": a, "b": -a + 0.01 * rng.normal(size=40)},
        {"a": "positive", "b": "positive"},  # b kept the wrong way: r(a, b) = -1
    )
    flags = co.correlation_flags(raw, method="pearson")
    assert flags[flags["flag"] == "collinear"].empty
    assert "negative_with_parent" in set(flags["flag"])


def test_a_best_value_shared_by_many_is_never_a_weakness() -> None:
    n = 10
    capped = np.r_[np.full(7, 100.0), [10.0, 20.0, 30.0]]  # 7 entities tie at the best
    other = np.arange(n, dtype=float)
    built = _built({"capped": capped, "other": other}, {"capped": "positive", "other": "positive"})
    profiles = co.unit_profiles(built, n=2)
    weak = profiles[profiles["kind"] == "weakness"]
    tied = [f"e{i:02d}" for i in range(7)]
    assert not ((weak["entity"].isin(tied)) & (weak["indicator"] == "capped")).any()
    strong = profiles[(profiles["kind"] == "strength") & (profiles["entity"] == "e00")]
    assert "capped" in set(strong["indicator"])
