"""Tests of securindex.incidents: incident records → the (entity, period) panel and report.

Every count is checked by hand on small tables (the arithmetic is in the comments), every
kind of bad input is checked to be counted and reported (never silently dropped), and the
round trip on real-shaped data: NYPD yearly counts expanded into one row per incident
(synthetic dates, real totals) are counted back to exactly the published counts.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.datasets.synthetic import (
    HARM_DAYS,
    OFFENCE_MIX,
    incidents_from_counts,
    synthetic_areas,
    synthetic_incidents,
)
from securindex.errors import DataError, SpecError
from securindex.incidents import (
    IncidentSpec,
    incidents_to_panel,
    parse_period,
    period_codes,
    period_labels,
    read_incident_dictionary,
)

BLOCK = {
    "date": "day",
    "offence": "code",
    "area": "area",
    "grain": "month",
    "areas": {"ids": ["a", "b", "c"]},
    "variables": {
        "burglaries": {"codes": ["BU*"]},
        "robberies": {"codes": ["ROB"]},
    },
}


def records(rows: list[tuple[str | None, str | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["day", "code", "area"])


# -- periods -------------------------------------------------------------------------------
def test_period_codes_and_labels_by_hand() -> None:
    dates = np.array(
        ["1970-01-01", "2019-12-31", "2020-01-01", "2021-01-03"], dtype="datetime64[D]"
    )
    # months since 1970-01: 0, 49*12+11 = 599, 600, 612
    assert period_codes(dates, "month").tolist() == [0, 599, 600, 612]
    assert period_labels([0, 599, 600, 612], "month") == [
        "1970-01",
        "2019-12",
        "2020-01",
        "2021-01",
    ]
    # quarters: 599 // 3 = 199 → 2019Q4
    assert period_labels(period_codes(dates, "quarter"), "quarter") == [
        "1970Q1",
        "2019Q4",
        "2020Q1",
        "2021Q1",
    ]
    assert period_labels(period_codes(dates, "year"), "year") == [1970, 2019, 2020, 2021]
    # ISO weeks: 2019-12-31 is in 2020-W01; 2021-01-03 (a Sunday) is in 2020-W53
    assert period_labels(period_codes(dates, "week"), "week") == [
        "1970-W01",
        "2020-W01",
        "2020-W01",
        "2020-W53",
    ]


@pytest.mark.parametrize(
    ("label", "grain", "expected"),
    [
        ("2015", "year", 45),
        ("2015Q2", "quarter", 181),
        ("2015-02", "month", 541),
        ("2015-03-15", "month", 542),
        ("2020-W53", "week", None),
    ],
)
def test_parse_period(label: str, grain: str, expected: int | None) -> None:
    code = parse_period(label, grain)
    if expected is not None:
        assert code == expected
    assert period_labels([code], grain)[0] == (
        int(label) if grain == "year" else label if grain != "month" else label[:7]
    )


def test_bad_period_label_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="not a month label"):
        incidents_to_panel(
            {**BLOCK, "periods": {"start": "2020-13", "end": "2021-01"}}, records([])
        )


@given(
    st.lists(st.integers(-20000, 40000), min_size=1, max_size=30),
    st.sampled_from(["year", "quarter", "month", "week"]),
)
@settings(max_examples=60, deadline=None)
def test_labels_parse_back_to_their_codes(days: list[int], grain: str) -> None:
    codes = period_codes(np.asarray(days, dtype="datetime64[D]"), grain)
    labels = period_labels(codes, grain)
    assert [parse_period(label, grain) for label in labels] == codes.tolist()
    # labels sort in time order
    assert (
        sorted(zip(codes.tolist(), map(str, labels), strict=True))
        == sorted(zip(codes.tolist(), map(str, labels), strict=True), key=lambda t: t[1])
        or grain == "year"
    )


# -- counting ------------------------------------------------------------------------------
def test_counts_zero_fill_and_balance_by_hand() -> None:
    data = records(
        [
            ("2020-01-03", "BU1", "a"),
            ("2020-01-20", "BU2", "a"),
            ("2020-02-10", "ROB", "b"),
            ("2020-02-11", "ROB", "b"),
            ("2020-03-01", "BU1", "c"),
        ]
    )
    panel, report = incidents_to_panel(BLOCK, data)
    # 3 areas × 3 months (2020-01 … 2020-03, the observed range) = 9 rows
    assert len(panel) == 9
    frame = panel.frame
    assert frame.loc[("a", "2020-01"), "burglaries"] == 2.0
    assert frame.loc[("b", "2020-02"), "robberies"] == 2.0
    assert frame.loc[("c", "2020-03"), "burglaries"] == 1.0
    # every other cell is 0, not missing: 5 records in 3 non-empty cells
    assert frame.to_numpy().sum() == 5.0
    assert not frame.isna().any().any()
    assert panel.units == {"burglaries": "count", "robberies": "count"}
    assert report.n_records == 5 and report.n_counted == 5 and report.balanced
    assert report.periods == ("2020-01", "2020-03")


def test_declared_areas_without_incidents_get_zero_rows() -> None:
    panel, _ = incidents_to_panel(
        {
            **BLOCK,
            "areas": {"ids": ["a", "b", "zz"]},
            "periods": {"start": "2020-01", "end": "2020-02"},
        },
        records([("2020-01-03", "BU1", "a")]),
    )
    assert panel.frame.xs("zz", level="entity")["burglaries"].tolist() == [0.0, 0.0]


def test_every_bad_record_is_counted_once_with_its_reason() -> None:
    data = pd.DataFrame(
        {
            "day": [
                "2020-01-05",
                "2019-12-31",
                "2021-01-01",
                None,
                "not a date",
                "2020-01-07",
                "2020-01-08",
                "2020-01-09",
                "2020-01-10",
                "2020-01-11",
                "2020-01-12",
            ],
            "code": ["BU1", "BU1", "ROB", "BU1", "BU1", "XX9", "XX9", None, "ROB", "BU3", "ROB"],
            "area": ["a", "a", "a", "a", "a", "a", "b", "a", "nowhere", None, "c"],
            "status": ["ok"] * 10 + ["void"],
        }
    )
    block = {
        **BLOCK,
        "periods": {"start": "2020-01", "end": "2020-12"},
        "filters": [{"column": "status", "not_in": ["void"]}],
    }
    panel, report = incidents_to_panel(block, data)
    issues = report.issues.set_index(["issue", "item"])["n_records"]
    # record by record: 0 counted; 10 filtered; 3 missing date; 4 unparseable; 1 before,
    # 2 after the periods; 7 missing code; 5, 6 unknown code XX9; 8 unknown area; 9 no area
    assert report.n_records == 11
    assert report.n_counted == 1
    assert issues[("filtered out by status not in ['void']", "")] == 1
    assert issues[("missing date", "")] == 1
    assert issues[("unparseable date", "")] == 1
    assert issues[("date before the declared periods (start 2020-01)", "")] == 1
    assert issues[("date after the declared periods (end 2020-12)", "")] == 1
    assert issues[("missing offence code", "")] == 1
    assert issues[("unknown offence code", "")] == 2
    assert issues[("unknown offence code", "XX9")] == 2
    assert issues[("unknown area id", "nowhere")] == 1
    assert issues[("missing area", "")] == 1
    assert report.balanced and report.n_excluded == 10
    assert panel.frame["burglaries"].sum() == 1.0
    assert "unknown codes, most frequent first: XX9 (2)" in report.summary()
    # codes table: XX9 feeds nothing
    offences = report.offences.set_index("code")
    assert offences.loc["XX9", "variables"] == ""
    assert offences.loc["BU1", "variables"] == "burglaries"


def test_unknown_offences_error_policy() -> None:
    with pytest.raises(DataError, match="XX9 \\(1\\)"):
        incidents_to_panel(
            {**BLOCK, "unknown_offences": "error"},
            records([("2020-01-05", "BU1", "a"), ("2020-01-05", "XX9", "a")]),
        )


def test_nothing_counted_is_a_data_error_with_the_report() -> None:
    with pytest.raises(DataError, match="no incident record could be counted"):
        incidents_to_panel(BLOCK, records([("2020-01-05", "XX9", "a")]))


def test_harm_weights_and_count_column_by_hand() -> None:
    block = {
        **BLOCK,
        "count": "victims",
        "variables": {
            "burglaries": {"codes": ["BU*"]},
            "harm": {"weights": {"ROB": 365, "BU1": 40, "BU*": 20}, "unit": "day"},
        },
    }
    data = records(
        [("2020-01-03", "BU1", "a"), ("2020-01-04", "BU2", "a"), ("2020-01-05", "ROB", "a")]
    )
    data["victims"] = [1, 3, 2]
    panel, report = incidents_to_panel(block, data)
    row = panel.frame.loc[("a", "2020-01")]
    # burglaries: 1 + 3 victims = 4; harm: 40·1 + 20·3 (first matching pattern) + 365·2 = 830
    assert row["burglaries"] == 4.0
    assert row["harm"] == 830.0
    assert panel.units["harm"] == "day"
    assert report.totals["harm"] == 830.0


def test_a_code_feeds_several_variables() -> None:
    block = {**BLOCK, "variables": {"violence": {"codes": ["V*"]}, "assaults": {"codes": ["VA"]}}}
    panel, _ = incidents_to_panel(
        block, records([("2020-01-01", "VA", "a"), ("2020-01-01", "VX", "a")])
    )
    assert panel.frame.loc[("a", "2020-01"), "violence"] == 2.0
    assert panel.frame.loc[("a", "2020-01"), "assaults"] == 1.0


def test_numeric_area_ids_match_text_and_float_forms() -> None:
    block = {**BLOCK, "areas": {"ids": [1, 2]}}
    data = pd.DataFrame(
        {"day": ["2020-01-01"] * 3, "code": ["BU1"] * 3, "area": [1.0, 2.0, np.nan]}
    )
    panel, report = incidents_to_panel(block, data)
    assert panel.frame["burglaries"].tolist() == [1.0, 1.0]
    assert report.issues.set_index("issue").loc["missing area", "n_records"] == 1


def test_area_table_variables_groups_and_no_population(tmp_path: Path) -> None:
    areas = pd.DataFrame(
        {
            "code": ["010111", "010112", "020201"],
            "pop": [1000, 0, None],
            "district": ["Mitte", "Mitte", "Kreuzberg"],
            "name": ["Tiergarten", "Moabit", "SO36"],
        }
    )
    areas.to_csv(tmp_path / "areas.csv", index=False)
    block = {
        **BLOCK,
        "grain": "year",
        "areas": {
            "file": "areas.csv",
            "id": "code",
            "label": "name",
            "groups": ["district"],
            "variables": {"population": {"column": "pop", "unit": "inhabitant"}},
        },
    }
    data = records([("2019-05-01", "BU1", "010111"), ("2019-05-01", "BU1", "10111")])
    panel, report = incidents_to_panel(block, data, base_dir=tmp_path)
    # the leading zero is kept: "010111" matches, "10111" is an unknown area
    assert panel.frame.loc[("010111", 2019), "burglaries"] == 1.0
    assert panel.frame["population"].tolist()[:2] == [1000.0, 0.0]
    assert np.isnan(panel.frame.loc[("020201", 2019), "population"])
    assert panel.groups["district"].tolist() == ["Mitte", "Mitte", "Kreuzberg"]
    assert panel.label("010112") == "Moabit"
    issues = report.issues.set_index("issue")
    assert "010112" in issues.loc["area variable 'population' is zero", "item"]
    assert "020201" in issues.loc["area variable 'population' is missing", "item"]
    assert issues.loc["unknown area id", "n_records"].max() == 1


def test_duplicate_area_ids_are_refused() -> None:
    with pytest.raises(DataError, match="not unique"):
        incidents_to_panel({**BLOCK, "areas": {"ids": ["a", "a"]}}, records([]))


def test_spec_validation_messages() -> None:
    with pytest.raises(ValueError, match="either 'codes'"):
        IncidentSpec.model_validate({**BLOCK, "variables": {"x": {}}})
    with pytest.raises(ValueError, match="either 'area'"):
        IncidentSpec.model_validate({**BLOCK, "points": {"x": "lon", "y": "lat"}})
    with pytest.raises(ValueError, match="end '2019-01' is before start"):
        IncidentSpec.model_validate({**BLOCK, "periods": {"start": "2020-01", "end": "2019-01"}})


# -- files ---------------------------------------------------------------------------------
def test_files_glob_schema_differences_and_per_file_counts(tmp_path: Path) -> None:
    folder = tmp_path / "incidents"
    folder.mkdir()
    first = pd.DataFrame(
        {
            "day": pd.to_datetime(["2020-01-01", "2020-02-01"]),
            "code": ["BU1", "ROB"],
            "area": ["1", "2"],
        }
    )
    second = pd.DataFrame({"day": pd.to_datetime(["2020-02-03"]), "code": ["BU1"], "area": [1]})
    first.to_parquet(folder / "part-1.parquet")
    second.to_parquet(folder / "part-2.parquet")
    pd.DataFrame({"day": ["2020-03-01"], "code": ["BU1"], "area": ["2"]}).to_csv(
        folder / "part-3.csv", index=False
    )
    block = {**BLOCK, "source": "incidents/part-*", "areas": {"ids": ["1", "2"]}}
    panel, report = incidents_to_panel(block, base_dir=tmp_path)
    assert panel.frame["burglaries"].sum() == 3.0
    assert report.files["n_records"].tolist() == [2, 1, 1]
    harmonised = report.issues[report.issues["action"] == "harmonised"]
    assert len(harmonised) == 1 and "part-2.parquet: area: int64" in harmonised["item"].iloc[0]


def test_file_missing_a_column_lists_every_bad_file(tmp_path: Path) -> None:
    pd.DataFrame({"day": ["2020-01-01"], "code": ["BU1"]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"day": ["2020-01-01"], "offence": ["BU1"], "area": ["a"]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    with pytest.raises(DataError, match="2 incident file\\(s\\) lack required columns") as info:
        incidents_to_panel({**BLOCK, "source": "*.csv"}, base_dir=tmp_path)
    assert "a.csv: missing ['area']" in str(info.value)
    assert "b.csv: missing ['code']" in str(info.value)


def test_no_file_matches() -> None:
    with pytest.raises(DataError, match="no incident file matches"):
        incidents_to_panel({**BLOCK, "source": "nothing/*.csv"}, base_dir="/tmp")


def test_dictionary_file_with_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: city_incidents
            from_incidents:
              source: data.csv
              date: day
              offence: code
              area: area
              grain: fortnight
              variables:
                burglaries: {codes: [BU1]}
            """
        )
    )
    with pytest.raises(SpecError) as info:
        read_incident_dictionary(path)
    assert f"{path}:7:" in str(info.value) and "grain" in str(info.value)
    path.write_text(path.read_text().replace("fortnight", "month"))
    records([("2020-01-01", "BU1", "a")]).to_csv(tmp_path / "data.csv", index=False)
    spec, base, name = read_incident_dictionary(path)
    assert spec.grain == "month" and base == tmp_path and name == "city_incidents"
    panel, report = incidents_to_panel(path)
    assert panel.name == "city_incidents" and report.n_counted == 1


# -- points in polygons (needs securindex[geo]) ---------------------------------------------
def test_points_spatial_join_outside_and_boundary() -> None:
    pytest.importorskip("geopandas")
    areas = synthetic_areas(4, seed=0, polygons=True)  # a 2 × 2 grid of 1 km squares
    block = {
        "date": "day",
        "offence": "code",
        "grain": "year",
        "points": {"x": "x", "y": "y", "crs": "EPSG:3035"},
        "areas": {"file": "unused", "id": "area"},
        "variables": {"burglaries": {"codes": ["BU*"]}},
    }
    x0, y0 = 4_000_000.0, 3_000_000.0
    data = pd.DataFrame(
        {
            "day": ["2020-06-01"] * 5,
            "code": ["BU1"] * 5,
            # inside A0, inside A3, outside the grid, on the A0|A1 border, missing
            "x": [x0 + 500, x0 + 1500, x0 + 9000, x0 + 500, np.nan],
            "y": [y0 + 500, y0 + 1500, y0 + 500, y0 + 1000, y0],
        }
    )
    panel, report = incidents_to_panel(block, data, areas=areas)
    counts = panel.frame["burglaries"]
    # row/col layout: A0 (0,0), A1 (0,1) above it in y, A2 (1,0), A3 (1,1)
    assert counts.loc[("A000000", 2020)] == 2.0  # own point + the border point (first listed)
    assert counts.loc[("A000003", 2020)] == 1.0
    issues = report.issues.set_index("issue")["n_records"]
    assert issues["point outside every area polygon"] == 1
    assert issues["missing coordinates"] == 1
    assert issues["point on a boundary shared by several areas"] == 1
    assert report.balanced


# -- synthetic and real-shaped data ----------------------------------------------------------
def test_synthetic_incidents_are_seeded_and_skewed() -> None:
    areas = synthetic_areas(50, seed=3)
    one = synthetic_incidents(20_000, areas, n_months=12, seed=4)
    two = synthetic_incidents(20_000, areas, n_months=12, seed=4)
    pd.testing.assert_frame_equal(one, two)
    assert abs(sum(OFFENCE_MIX.values()) - 1.0) < 1e-12
    shares = one["offence"].value_counts(normalize=True)
    assert shares.index[0] == "TH-SHOP" and shares.iloc[0] > 0.1
    per_area = one["area"].value_counts()
    assert per_area.iloc[0] > 3 * per_area.median()  # hot spots
    assert one["occurred"].min() >= pd.Timestamp("2015-01-01")
    assert one["occurred"].max() < pd.Timestamp("2016-01-01")
    block = {
        "date": "occurred",
        "offence": "offence",
        "area": "area",
        "grain": "month",
        "areas": {"ids": areas["area"].tolist()},
        "variables": {"harm": {"weights": HARM_DAYS, "unit": "day"}, "all": {"codes": ["*"]}},
    }
    panel, report = incidents_to_panel(block, one)
    assert report.n_counted == 20_000 and len(panel) == 50 * 12
    assert panel.frame["all"].sum() == 20_000


def test_real_shaped_nypd_counts_round_trip() -> None:
    from securindex.datasets import read_example_frame

    counts = read_example_frame("nypd_precincts")
    counts = counts[counts["year"].between(2019, 2022)]
    codes = {"homicides": "101", "rapes": "104", "robberies": "105"}  # NYPD KY_CD codes
    rows = incidents_from_counts(counts, entity="precinct", period="year", codes=codes, seed=1)
    assert len(rows) == int(counts[list(codes)].sum().sum())
    block = {
        "date": "date",
        "offence": "offence",
        "area": "area",
        "grain": "year",
        "areas": {"ids": sorted(counts["precinct"].unique().tolist())},
        "periods": {"start": 2019, "end": 2022},
        "variables": {name: {"codes": [code]} for name, code in codes.items()},
    }
    panel, report = incidents_to_panel(block, rows)
    assert report.n_counted == len(rows) and report.balanced
    expected = counts.set_index(["precinct", "year"])[list(codes)].astype(float)
    got = panel.frame[list(codes)]
    # precinct-years absent from the published table are zero rows in the grid
    pd.testing.assert_frame_equal(got.reindex(expected.index), expected, check_names=False)


# -- command line --------------------------------------------------------------------------
def test_cli_incidents_and_scale(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from securindex.engines._cli import register

    app = typer.Typer()
    register(app)
    areas = synthetic_areas(20, seed=8)
    areas.to_csv(tmp_path / "areas.csv", index=False)
    synthetic_incidents(3_000, areas, n_months=24, seed=9).to_csv(
        tmp_path / "incidents.csv", index=False
    )
    (tmp_path / "incidents.yaml").write_text(
        textwrap.dedent(
            """\
            name: town
            from_incidents:
              source: incidents.csv
              date: occurred
              offence: offence
              area: area
              grain: year
              areas: {file: areas.csv, id: area, variables: {population: {unit: inhabitant}}}
              variables:
                burglaries: {codes: ["BU-*"]}
                thefts: {codes: ["TH-*"]}
            """
        )
    )
    (tmp_path / "index.yaml").write_text(
        textwrap.dedent(
            """\
            id: town_index
            dictionary: incidents.yaml
            columns:
              burglary_rate: {polarity: negative, column: burglaries, unit: count,
                              denominator: population, denominator_unit: inhabitant}
              theft_rate: {polarity: negative, column: thefts, unit: count,
                           denominator: population, denominator_unit: inhabitant}
            structure:
              - id: crime
                children: [burglary_rate, theft_rate]
            """
        )
    )
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["incidents", "panel", str(tmp_path / "incidents.yaml"), "-o", str(tmp_path / "panel.csv")],
    )
    assert done.exit_code == 0, done.output
    assert "3,000 incident records read" in done.output
    panel = pd.read_csv(tmp_path / "panel.csv")
    assert len(panel) == 20 * 2 and {"burglaries", "thefts", "population"} <= set(panel.columns)
    assert (tmp_path / "panel.incident_report.csv").exists()
    done = runner.invoke(app, ["incidents", "report", str(tmp_path / "incidents.yaml")])
    assert done.exit_code == 0 and "unknown offence code" in done.output
    done = runner.invoke(app, ["scale", str(tmp_path / "index.yaml"), "-o", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert len(scores) == 40 and "town_index" in scores.columns
    assert (tmp_path / "out" / "incident_report.csv").exists()
    done = runner.invoke(app, ["scale", str(tmp_path / "index.yaml"), "--engine", "nope"])
    assert done.exit_code == 1 and "unknown engine" in done.output


# -- time zones and negative counts (issue #15) ----------------------------------------------
def test_dates_with_an_offset_are_counted_in_the_declared_zone() -> None:
    # 23:30 UTC on 31 January is 00:30 on 1 February in Berlin (UTC+1 in winter)
    data = records(
        [
            ("2020-01-31T23:30:00Z", "BU1", "a"),
            ("2020-01-31T22:30:00+00:00", "BU1", "a"),
            ("2020-02-01T00:10:00+01:00", "ROB", "b"),
        ]
    )
    panel, _ = incidents_to_panel({**BLOCK, "time_zone": "Europe/Berlin"}, data)
    frame = panel.frame
    assert frame.loc[("a", "2020-02"), "burglaries"] == 1.0  # 00:30 local
    assert frame.loc[("a", "2020-01"), "burglaries"] == 1.0  # 23:30 local
    assert frame.loc[("b", "2020-02"), "robberies"] == 1.0
    utc, _ = incidents_to_panel({**BLOCK, "time_zone": "UTC"}, data)
    assert utc.frame.loc[("a", "2020-01"), "burglaries"] == 2.0
    assert utc.frame.loc[("b", "2020-01"), "robberies"] == 1.0  # 23:10 UTC on 31 January


def test_dates_with_an_offset_need_a_declared_zone() -> None:
    data = records([("2020-01-31T23:30:00Z", "BU1", "a")])
    with pytest.raises(DataError, match="declare the zone") as info:
        incidents_to_panel(BLOCK, data)
    assert info.value.column == "day"


def test_dates_mixing_offsets_and_none_are_refused() -> None:
    data = records([("2020-01-31T23:30:00Z", "BU1", "a"), ("2020-01-02", "BU1", "b")])
    with pytest.raises(DataError, match="others do not") as info:
        incidents_to_panel({**BLOCK, "time_zone": "UTC"}, data)
    assert info.value.rows == (1,)


def test_mixed_offsets_are_converted_to_one_zone() -> None:
    data = records(
        [("2020-03-31T23:30:00-05:00", "BU1", "a"), ("2020-04-01T01:00:00+02:00", "BU1", "a")]
    )
    panel, _ = incidents_to_panel({**BLOCK, "time_zone": "UTC"}, data)
    # 04:30 UTC on 1 April, and 23:00 UTC on 31 March
    assert panel.frame.loc[("a", "2020-04"), "burglaries"] == 1.0
    assert panel.frame.loc[("a", "2020-03"), "burglaries"] == 1.0


def test_unknown_time_zone_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown time zone 'Mars/Olympus'"):
        incidents_to_panel({**BLOCK, "time_zone": "Mars/Olympus"}, records([]))


def test_negative_counts_are_refused_like_negative_panel_counts() -> None:
    data = records([("2020-01-03", "BU1", "a"), ("2020-01-04", "BU1", "a")])
    data["victims"] = [-5, 1]  # used to give -4 burglaries with a balanced report
    with pytest.raises(DataError, match="1 negative count") as info:
        incidents_to_panel({**BLOCK, "count": "victims"}, data)
    assert (info.value.column, info.value.rows) == ("victims", (0,))
