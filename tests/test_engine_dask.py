"""Tests of the Dask engine: results equal the pandas engine's to 1e-12 on the same data.

A dask.distributed LocalCluster with 2 in-process workers runs every build. The frameworks
exercise each supported method family: screening (on raw and imputed values), mean, median
and entity-local imputation (by group and period), JRC winsorisation and log transforms,
pooled / per-period / base normalisation with moment, fixed and rank methods, lag and
mean_over formulas (whole entity histories), coverage rules and non-arithmetic means. The
mergeable summaries behind the global statistics are also checked on their own, by hand and
against the treat methods with hypothesis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex import Framework, Panel, framework_file
from securindex.catalogue import Catalogue
from securindex.errors import DataError, SpecError
from securindex.methods.treat import kurtosis, skewness, winsorise
from securindex.spec.indicator import Indicator

pytest.importorskip("dask")
pytest.importorskip("distributed")

from securindex.engines import dask as engine
from securindex.engines.dask import compute_dask, read_panel_dask

pytestmark = pytest.mark.dask

TOL = 1e-12


@pytest.fixture(scope="module")
def client() -> Any:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


# -- data and frameworks ----------------------------------------------------------------------
def synthetic_panel(seed: int = 7, n_entities: int = 60) -> Panel:
    """Skewed counts with gaps, one missing entity-year (a gap for lag), four regions."""
    rng = np.random.default_rng(seed)
    years = np.arange(2015, 2021)
    entity = np.repeat([f"E{i:02d}" for i in range(n_entities)], len(years))
    year = np.tile(years, n_entities)
    population = np.repeat(rng.lognormal(np.log(20_000), 0.4, n_entities).round(), len(years))
    crimes = np.round(rng.lognormal(3.0, 0.9, len(entity)))
    crimes[rng.choice(len(entity), 4, replace=False)] *= 40  # a heavy tail to winsorise
    thefts = np.round(rng.lognormal(4.0, 0.5, len(entity)))
    thefts[rng.random(len(entity)) < 0.12] = np.nan
    unemployed = rng.integers(200, 3000, len(entity)).astype(float)
    unemployed[rng.random(len(entity)) < 0.05] = np.nan
    frame = pd.DataFrame(
        {
            "entity": entity,
            "year": year,
            "region": np.repeat(rng.integers(0, 4, n_entities), len(years)),
            "crimes": crimes,
            "thefts": thefts,
            "population": population,
            "unemployed": unemployed,
            "labour": population * 0.5,
        }
    )
    frame = frame.drop(index=[13, 14 * 6 + 2]).reset_index(drop=True)  # entity-years absent
    dictionary = {
        "entity": "entity",
        "period": "year",
        "groups": ["region"],
        "variables": {
            "crimes": {"unit": "count"},
            "thefts": {"unit": "count"},
            "population": {"unit": "inhabitant"},
            "unemployed": {"unit": "person"},
            "labour": {"unit": "person"},
        },
    }
    return Panel.from_frame(frame, dictionary=dictionary)


def indicators() -> Catalogue:
    common = {"category": "crime", "polarity": "negative"}
    return Catalogue(
        [
            Indicator(
                id="crime_rate",
                name="Crime rate",
                formula="crimes / population",
                unit="count / (1000 inhabitant)",
                inputs={"crimes": {"unit": "count"}, "population": {"unit": "inhabitant"}},
                **common,
            ),
            Indicator(
                id="theft_rate",
                name="Theft rate",
                formula="thefts / population",
                unit="count / (1000 inhabitant)",
                inputs={"thefts": {"unit": "count"}, "population": {"unit": "inhabitant"}},
                **common,
            ),
            Indicator(
                id="crime_change",
                name="Change in crimes",
                formula="crimes - lag(crimes, 1)",
                unit="count",
                inputs={"crimes": {"unit": "count"}},
                **common,
            ),
            Indicator(
                id="theft_mean",
                name="Two-year mean of thefts",
                formula="mean_over(thefts, 2)",
                unit="count",
                inputs={"thefts": {"unit": "count"}},
                **common,
            ),
            Indicator(
                id="unemployment",
                name="Unemployment",
                formula="unemployed / labour",
                unit="percent",
                category="social",
                polarity="negative",
                inputs={"unemployed": {"unit": "person"}, "labour": {"unit": "person"}},
            ),
        ]
    )


def framework(**pipeline: Any) -> Framework:
    spec = {
        "id": "test_index",
        "pipeline": {
            "screen": {"method": "availability", "min_share": 0.6},
            "impute": {"method": "mean", "group": "region", "within_period": True},
            "treat": {"method": "winsorise", "winmax": 3, "fallback": "none"},
            "normalise": {"method": "minmax", "lo": 1, "hi": 100},
            **pipeline,
        },
        "overrides": {
            "theft_rate": {"normalise": {"method": "zscore", "reference": "per_period"}},
            "unemployment": {
                "normalise": {"method": "percentile_rank"},
                "treat": {"method": "log", "transform": "log_CT_plus"},
            },
            "crime_change": {
                "normalise": {"method": "rank", "reference": "base", "base_period": 2017}
            },
            "theft_mean": {"normalise": {"method": "goalposts", "lo": 0, "hi": 200, "scale": 100}},
        },
        "root": {"aggregate": {"method": "generalised", "p": 2}},
        "structure": [
            {
                "id": "crime",
                "weight": 2,
                "children": ["crime_rate", "crime_change", "theft_rate"],
                "missing": {"policy": "coverage", "min_coverage": 0.7},
            },
            {
                "id": "context",
                "children": ["theft_mean", "unemployment"],
                "aggregate": {"method": "minimum"},
            },
        ],
    }
    return Framework.from_spec(spec, catalogue=indicators())


def assert_same(dask_result: Any, pandas_result: Any) -> None:
    """Scores, ranks, every stage, the learnt statistics and the audit agree."""
    expected = pandas_result.table().sort_values(["entity", "period"]).reset_index(drop=True)
    got = dask_result.to_pandas()
    assert list(got.columns) == list(expected.columns)
    assert got[["entity", "period"]].astype(str).equals(expected[["entity", "period"]].astype(str))
    for column in expected.columns[2:]:
        a = got[column].to_numpy(dtype=np.float64, na_value=np.nan)
        b = expected[column].to_numpy(dtype=np.float64, na_value=np.nan)
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, equal_nan=True, err_msg=column)
    for name in ("raw", "imputed", "treated", "normalised"):
        stage = pandas_result.stage(name).reset_index().sort_values(["entity", "period"])
        mine = dask_result.to_pandas(name)
        np.testing.assert_allclose(
            mine[stage.columns[2:]].to_numpy(),
            stage[stage.columns[2:]].to_numpy(),
            rtol=TOL,
            atol=TOL,
            equal_nan=True,
            err_msg=name,
        )
    pd.testing.assert_frame_equal(
        dask_result.normalisation.sort_index(axis=1),
        pandas_result.normalisation.sort_index(axis=1),
        check_like=True,
        rtol=TOL,
        atol=TOL,
        check_dtype=False,
    )
    pd.testing.assert_frame_equal(
        dask_result.treatment, pandas_result.treatment, rtol=1e-9, atol=1e-9, check_dtype=False
    )
    pd.testing.assert_series_equal(dask_result.effective_weights, pandas_result.effective_weights)
    audit = dask_result.audit.compute()
    keys = ["stage", "action", "item"]
    assert (
        audit.groupby(keys).size().to_dict() == pandas_result.audit.groupby(keys).size().to_dict()
    )
    before_after = ["before", "after"]
    mine = audit.sort_values([*keys, "entity", "period"], key=lambda s: s.astype(str))[before_after]
    theirs = pandas_result.audit.sort_values(
        [*keys, "entity", "period"], key=lambda s: s.astype(str)
    )
    np.testing.assert_allclose(
        mine.to_numpy(dtype=float),
        theirs[before_after].to_numpy(dtype=float),
        rtol=TOL,
        atol=TOL,
        equal_nan=True,
    )


# -- equality with the pandas engine -------------------------------------------------------------
def test_shipped_iusi_on_real_data_equals_pandas(client: Any) -> None:
    """The shipped IUSI (screen, median by state, JRC winsorise/log, geometric root) on the
    2 215 UCI communities."""
    fw = Framework.load(framework_file("iusi"))
    panel = Panel.example("uci_communities")
    assert_same(compute_dask(fw, panel, client=client, npartitions=3), fw.compute(panel))


@pytest.mark.parametrize(
    "steps",
    [
        {"impute": {"method": "median", "group": "region"}},
        {
            "impute": {"method": "linear"},
            "screen": {"method": "availability", "min_share": 0.6, "stage": "imputed"},
        },
        {"impute": {"method": "locf_nocb"}, "treat": {"method": "winsorise", "winmax": 2}},
        {"impute": {"method": "none"}, "treat": {"method": "none"}},
    ],
    ids=["median", "linear-screen-imputed", "locf-winsorise-log", "none"],
)
def test_synthetic_framework_equals_pandas(client: Any, steps: dict[str, Any]) -> None:
    fw = framework(**steps)
    panel = synthetic_panel()
    assert_same(compute_dask(fw, panel, client=client, npartitions=4), fw.compute(panel))


def test_panel_from_files_partitioned_by_period_is_shuffled(client: Any, tmp_path: Path) -> None:
    """Mean imputation by region and period, from Parquet files of one year each."""
    panel = synthetic_panel(seed=3)
    frame = panel.frame.reset_index().join(panel.groups.reset_index(drop=True))
    frame = frame.rename(columns={"period": "year"})
    for year, part in frame.groupby("year"):  # one file per year: entities span files
        part.to_parquet(tmp_path / f"panel-{year}.parquet", index=False)
    dictionary = {
        "entity": "entity",
        "period": "year",
        "groups": ["region"],
        "variables": {k: {"unit": v} for k, v in panel.units.items()},
    }
    fw = framework()
    result = compute_dask(
        fw, str(tmp_path / "panel-*.parquet"), dictionary=dictionary, client=client
    )
    assert result.info["shuffled_by_entity"] and result.info["npartitions"] == 6
    assert_same(result, fw.compute(panel))
    written = result.write(tmp_path / "out", stages=["normalised"])
    scores = pd.read_parquet(written["scores"])
    assert len(list(written["scores"].glob("*.parquet"))) == 6  # partitioned output
    assert len(scores) == len(result.to_pandas())
    assert (tmp_path / "out" / "normalisation.csv").exists()


def test_schema_differences_between_files_are_harmonised(tmp_path: Path) -> None:
    pd.DataFrame({"id": [1, 2], "year": [2020, 2020], "x": [1.0, 2.0]}).to_parquet(
        tmp_path / "a.parquet"
    )
    pd.DataFrame({"id": ["3"], "year": [2020], "x": ["4"]}).to_csv(tmp_path / "b.csv", index=False)
    dictionary = {"entity": "id", "period": "year", "variables": {"x": {"unit": "count"}}}
    panel = read_panel_dask([tmp_path / "a.parquet", tmp_path / "b.csv"], dictionary=dictionary)
    frame = panel.frame.compute()
    assert frame["entity"].tolist() == ["1", "2", "3"]
    assert frame["x"].dtype == np.float64
    assert "read as text" in panel.schema["schema"].iloc[0]
    pd.DataFrame({"id": [5], "year": [2020]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match=r"c\.csv: missing \['x'\]"):
        read_panel_dask(str(tmp_path / "*.*"), dictionary=dictionary)


def test_unsupported_methods_are_refused_before_reading(client: Any) -> None:
    fw = framework(weight={"method": "pca_loadings"})
    with pytest.raises(
        SpecError, match="weight method 'pca_loadings' is not supported by the dask engine"
    ):
        compute_dask(fw, "no/such/file.parquet", dictionary={"variables": {}}, client=client)
    fw = framework(treat={"method": "boxcox"})
    with pytest.raises(SpecError, match="fixed 'lmbda'"):
        compute_dask(fw, synthetic_panel(), client=client)


@pytest.mark.parametrize("declared", [True, False], ids=["grid-declared", "grid-from-data"])
def test_incidents_on_dask_equal_pandas(client: Any, tmp_path: Path, declared: bool) -> None:
    """Declared areas and periods: each worker folds chunks into a grid; otherwise the
    counts are split into blocks of areas summed in separate trees."""
    from securindex.datasets.synthetic import synthetic_areas, synthetic_incidents
    from securindex.incidents import incidents_to_panel

    areas = synthetic_areas(40, seed=1)
    data = synthetic_incidents(30_000, areas, n_months=24, seed=2)
    data.loc[data.index[:50], "offence"] = "ZZ-UNKNOWN"
    data.loc[data.index[50:60], ["area", "offence"]] = ["NOWHERE", "BU-RES"]
    for k in range(3):
        part = data.iloc[k * 10_000 : (k + 1) * 10_000]
        part.to_parquet(tmp_path / f"incidents-{k}.parquet", row_group_size=4_000)
    block = {
        "source": "incidents-*.parquet",
        "date": "occurred",
        "offence": "offence",
        "area": "area",
        "grain": "quarter",
        "periods": {"start": "2015Q1", "end": "2016Q4"},
        "areas": {"ids": areas["area"].tolist()},
        "variables": {"burglaries": {"codes": ["BU-*"]}, "violence": {"codes": ["VI-*", "SX-*"]}},
    }
    if not declared:
        del block["areas"], block["periods"]
    expected = incidents_to_panel(block, base_dir=tmp_path)
    got = incidents_to_panel(
        block, base_dir=tmp_path, engine="dask", client=client, rows_per_chunk=5_000
    )
    pd.testing.assert_frame_equal(got.panel.frame, expected.panel.frame)
    pd.testing.assert_frame_equal(got.report.issues, expected.report.issues)
    pd.testing.assert_frame_equal(got.report.files, expected.report.files)
    assert got.report.n_counted == expected.report.n_counted
    assert got.report.balanced
    issues = got.report.issues.set_index(["issue", "item"])["n_records"]
    assert issues[("unknown offence code", "ZZ-UNKNOWN")] == 50
    if declared:
        assert issues[("unknown area id", "NOWHERE")] == 10
    else:  # an area of its own, taken from the records
        assert "NOWHERE" in got.panel.entities


def test_one_yaml_one_call_from_incident_files(client: Any, tmp_path: Path) -> None:
    """A framework file holding the engine and the from_incidents block, run on both engines."""
    from securindex.datasets.synthetic import synthetic_areas, synthetic_incidents
    from securindex.engines import run

    areas = synthetic_areas(30, seed=5)
    areas.to_csv(tmp_path / "areas.csv", index=False)
    synthetic_incidents(8_000, areas, n_months=36, seed=6).to_parquet(
        tmp_path / "incidents.parquet"
    )
    (tmp_path / "index.yaml").write_text(
        """\
id: city_safety
engine: dask
from_incidents:
  source: incidents.parquet
  date: occurred
  offence: offence
  area: area
  grain: year
  areas: {file: areas.csv, id: area, groups: [district],
          variables: {population: {unit: inhabitant}}}
  variables:
    burglaries: {codes: ["BU-*"]}
    robberies: {codes: ["RO-*"]}
columns:
  burglary_rate: {polarity: negative, column: burglaries, unit: count,
                  denominator: population, denominator_unit: inhabitant}
  robbery_rate: {polarity: negative, column: robberies, unit: count,
                 denominator: population, denominator_unit: inhabitant}
pipeline:
  normalise: {method: minmax, lo: 0, hi: 100}
structure:
  - id: crime
    children: [burglary_rate, robbery_rate]
"""
    )
    on_dask = run(tmp_path / "index.yaml", client=client)
    on_pandas = run(tmp_path / "index.yaml", engine="pandas")
    assert on_dask.engine == "dask" and on_pandas.engine == "pandas"
    report = on_dask.report
    assert report is not None and report.n_records == 8_000 and report.balanced
    # only burglary and robbery codes are mapped: every other record is an unknown code
    assert report.n_counted == report.totals.sum()
    assert report.n_excluded == 8_000 - report.n_counted
    expected = on_pandas.result.table().sort_values(["entity", "period"]).reset_index(drop=True)
    got = on_dask.result.to_pandas()
    # areas with population 0 have undefined rates: NaN in both engines
    np.testing.assert_allclose(
        got["city_safety"].to_numpy(dtype=float),
        expected["city_safety"].to_numpy(dtype=float),
        rtol=TOL,
        atol=TOL,
        equal_nan=True,
    )
    written = on_dask.write(tmp_path / "results")
    assert written["incident_report"].exists() and written["scores"].is_dir()


# -- the mergeable summaries, without a cluster ----------------------------------------------------
def test_moments_merge_by_hand() -> None:
    # [1, 2, 3, 10]: mean 4, Σd² = 9 + 4 + 1 + 36 = 50, Σd³ = -27 - 8 - 1 + 216 = 180
    x = np.array([[1.0], [2.0], [3.0], [10.0]])
    left, right = engine._summarise(x[:2], 1), engine._summarise(x[2:], 1)
    merged = engine._merge_summaries([left, right])
    n, mean, m2, m3, _ = engine._column_moments(merged, 0)
    assert (n[0], mean[0], m2[0], m3[0]) == (4.0, 4.0, 50.0, 180.0)
    skew, kurt = engine._shape(engine._column_moments(merged, 0))
    assert skew == pytest.approx(1.763633, abs=1e-6)  # treat.skewness's doctest value
    assert kurt == pytest.approx(float(kurtosis(x)[0]), rel=1e-12)


@given(
    st.lists(st.integers(0, 60), min_size=6, max_size=80),
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.integers(0, 4),
)
@settings(max_examples=120, deadline=None)
def test_winsorise_replay_equals_the_treat_method(
    values: list[int], cuts: list[int], winmax: int
) -> None:
    """Winsorising from merged partition summaries gives winsorise()'s result exactly."""
    x = np.asarray(values, dtype=np.float64) ** 2  # squares: skewed, with ties
    x[::7] = np.nan
    column = x[:, None]
    bounds = np.unique(np.clip(np.cumsum(cuts), 0, len(x)))
    parts = [engine._summarise(p, winmax + 1) for p in np.split(column, bounds)]
    summary = engine._merge_summaries(parts)
    group = engine._plan_columns(
        "winsorise", {"fallback": "none", "winmax": winmax}, summary, [0], 2.0, 3.5, winmax
    )
    expected = winsorise(column, winmax=winmax, fallback="none")
    got = engine._treat_apply(column, [group])
    np.testing.assert_array_equal(got, expected.values)
    record = expected.report[0]
    assert group.report[0]["n_winsorised"] == record["n_winsorised"]
    for key in ("skew_before", "kurt_before", "skew_after", "kurt_after"):
        np.testing.assert_allclose(group.report[0][key], record[key], rtol=1e-9, atol=1e-9)
    assert np.isnan(skewness(column[:0])).all()


# -- the output folder: the in-memory engine's files -------------------------------------------
def _own_names(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The synthetic panel as a CSV file whose id columns have the user's own names."""
    panel = synthetic_panel()
    frame = panel.frame.reset_index().join(panel.groups.reset_index(drop=True))
    frame = frame.rename(columns={"entity": "district", "period": "yr"})
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    dictionary = {
        "entity": "district",
        "period": "yr",
        "groups": ["region"],
        "variables": {k: {"unit": v} for k, v in panel.units.items()},
    }
    return path, dictionary


def _by_ids(frame: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Ids as text, values as floats (ranks: NaN for missing), rows sorted by the ids."""
    out = frame.astype({c: (str if c in ids else "float64") for c in frame.columns})
    return out.sort_values(list(out.columns[:2])).reset_index(drop=True)


def test_output_folder_has_the_in_memory_engines_files(client: Any, tmp_path: Path) -> None:
    from securindex.result import read_scores

    path, dictionary = _own_names(tmp_path)
    fw = framework()
    on_pandas = fw.compute(Panel.read(path, dictionary=dictionary)).write(tmp_path / "pandas")
    on_dask = compute_dask(fw, str(path), dictionary=dictionary, client=client).write(
        tmp_path / "dask"
    )
    # the same names: each CSV table of the pandas folder is a Parquet dataset on Dask
    names = {p.name.removesuffix(".csv") for p in on_pandas.values()}
    assert names == {
        "scores", "raw", "imputed", "treated", "normalised", "weights", "audit",
        "indicator_audit", "result.json",
    }  # fmt: skip
    dask_names = {p.name.removesuffix(".csv") for p in on_dask.values()}
    assert dask_names - names == {"normalisation", "treatment"} and names <= dask_names
    for name in ("scores", "raw", "imputed", "treated", "normalised"):
        expected = pd.read_csv(on_pandas[name])
        got = pd.read_parquet(on_dask[name])
        assert list(got.columns) == list(expected.columns)  # the user's id names first
        assert list(got.columns[:2]) == ["district", "yr"]
        expected, got = _by_ids(expected, ["district", "yr"]), _by_ids(got, ["district", "yr"])
        pd.testing.assert_frame_equal(got, expected, rtol=TOL, atol=TOL, check_dtype=False)
    for name, key in (
        ("audit", ["stage", "district", "yr", "item", "action"]),
        ("indicator_audit", ["district", "yr", "indicator", "reason"]),
    ):
        expected = pd.read_csv(on_pandas[name], dtype=str, keep_default_na=False)
        got = pd.read_parquet(on_dask[name]).astype(object).fillna("").astype(str)
        assert list(got.columns) == list(expected.columns)
        assert len(got) == len(expected) > 0
        assert sorted(map(tuple, got[key].to_numpy().tolist())) == sorted(
            map(tuple, expected[key].to_numpy().tolist())
        )
    pd.testing.assert_frame_equal(
        pd.read_csv(on_dask["weights"]), pd.read_csv(on_pandas["weights"]), rtol=TOL
    )
    memory = json.loads(on_pandas["json"].read_text())
    dask = json.loads(on_dask["json"].read_text())
    assert set(dask) - set(memory) == {"engine", "info"} and set(memory) <= set(dask)
    assert dask["framework"] == memory["framework"] and dask["data"] == memory["data"]
    assert dask["data"]["ids"] == {"entity": "district", "period": "yr"}
    assert len(dask["audit"]) == len(memory["audit"])
    scores = _by_ids(read_scores(on_dask["json"]), ["entity", "period"])
    expected = _by_ids(read_scores(on_pandas["json"]), ["entity", "period"])
    pd.testing.assert_frame_equal(scores, expected, rtol=TOL, atol=TOL, check_dtype=False)


def test_progress_over_the_passes(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from securindex import _progress

    screen = io.StringIO()
    monkeypatch.setattr(
        _progress, "_stderr", lambda: Console(file=screen, force_terminal=True, width=150)
    )
    panel = synthetic_panel(n_entities=20)
    result = compute_dask(framework(), panel, client=client, progress=True)
    shown = screen.getvalue()
    for label in ("pass 1", "pass 2", "pass 3", "pass 4"):
        assert label in shown
    result.write(tmp_path / "out", progress=True)
    assert "writing scores, raw" in screen.getvalue()
    quiet = io.StringIO()
    monkeypatch.setattr(
        _progress, "_stderr", lambda: Console(file=quiet, force_terminal=True, width=150)
    )
    compute_dask(framework(), panel, client=client)  # progress=False: nothing drawn
    assert quiet.getvalue() == ""


def test_scale_shows_dask_progress_unless_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import securindex.engines
    from securindex.cli import app
    from securindex.engines import EngineRun

    seen: list[tuple[str, bool]] = []

    class Written:
        def write(self, folder: Path, *, progress: bool = False) -> dict[str, Path]:
            seen.append(("write", progress))
            return {}

    def fake_run(*args: Any, progress: bool = False, **kwargs: Any) -> EngineRun:
        seen.append(("run", progress))
        return EngineRun(Written(), None, "dask")

    monkeypatch.setattr(securindex.engines, "run", fake_run)
    data = tmp_path / "panel.csv"
    data.write_text("id,year\n")
    for flags, shown in (([], True), (["-q"], False)):
        seen.clear()
        args = ["scale", "iusi", str(data), "--engine", "dask", "-o", str(tmp_path / "o"), *flags]
        outcome = CliRunner().invoke(app, args)
        assert outcome.exit_code == 0, outcome.output
        assert seen == [("run", shown), ("write", shown)]
