"""Tests of securindex.dataset: building, reading and validating panels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from securindex.dataset import Panel, read_dictionary
from securindex.errors import DataError, SecurindexError, SpecError, UnitError
from securindex.spec.dictionary import DataDictionary

DICTIONARY = {
    "entity": "city",
    "period": "year",
    "variables": {
        "homicides": {"column": "murders", "unit": "count"},
        "population": {"column": "pop", "unit": "inhabitant"},
    },
}


def frame(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "city": ["b", "a", "b", "a"],
        "year": [2020, 2020, 2019, 2019],
        "murders": [1, 2, 3, 4],
        "pop": [100, 200, 300, 400],
    }
    base.update(columns)
    return pd.DataFrame(base)


# --------------------------------------------------------------------------------------------
# from_frame
# --------------------------------------------------------------------------------------------
def test_from_frame_with_dictionary_renames_columns() -> None:
    data = frame().assign(ignored=["x", "y", "z", "w"])
    panel = Panel.from_frame(data, dictionary=DICTIONARY)
    assert list(panel.frame.columns) == ["homicides", "population"]  # renamed; "ignored" dropped
    assert panel.frame.index.names == ["entity", "period"]
    assert (panel.frame.dtypes == np.float64).all()
    assert panel.units == {"homicides": "count", "population": "inhabitant"}
    assert panel.frame.loc[("a", 2019), "homicides"] == 4.0
    assert panel.frame.loc[("b", 2020), "population"] == 100.0
    assert list(panel.entities) == ["b", "a"]  # order of first appearance
    assert list(panel.periods) == [2019, 2020]  # sorted
    assert len(panel) == 4
    assert panel.unit_of("population") == "inhabitant"
    assert repr(panel) == "Panel(unnamed: 2 entities × 2 periods, 2 variables)"


def test_from_frame_with_dictionary_object_and_default_column_names() -> None:
    spec = DataDictionary(
        name="towns",
        entity="city",
        period="year",
        variables={"murders": {"unit": "count"}},  # column defaults to the variable name
    )
    panel = Panel.from_frame(frame(), dictionary=spec)
    assert list(panel.frame.columns) == ["murders"]
    assert panel.name == "towns"
    assert panel.dictionary is spec


def test_from_frame_with_entity_period_and_units() -> None:
    panel = Panel.from_frame(
        frame(), entity="city", period="year", units={"murders": "count", "pop": "inhabitant"}
    )
    assert list(panel.frame.columns) == ["murders", "pop"]
    assert panel.units == {"murders": "count", "pop": "inhabitant"}


def test_from_frame_without_dictionary_or_units() -> None:
    with pytest.raises(DataError, match="give a data dictionary"):
        Panel.from_frame(frame())


def test_from_frame_entity_override_replaces_the_dictionary_entity() -> None:
    data = frame().rename(columns={"city": "town"})
    panel = Panel.from_frame(data, dictionary=DICTIONARY, entity="town")
    assert set(panel.entities) == {"a", "b"}


def test_cross_section_with_period_value() -> None:
    spec = {**DICTIONARY, "period": None, "period_value": 2021}
    data = frame().iloc[:2].drop(columns="year")
    panel = Panel.from_frame(data, dictionary=spec)
    assert list(panel.periods) == [2021]
    assert panel.frame.index.tolist() == [("b", 2021), ("a", 2021)]


def test_cross_section_without_period_value_uses_period_zero() -> None:
    spec = {**DICTIONARY, "period": None}
    panel = Panel.from_frame(frame().iloc[:2], dictionary=spec)
    assert list(panel.periods) == [0]


def test_groups_are_kept_on_the_same_index() -> None:
    spec = {**DICTIONARY, "groups": ["region"]}
    panel = Panel.from_frame(frame(region=["n", "s", "n", "s"]), dictionary=spec)
    assert panel.groups.loc[("a", 2019), "region"] == "s"
    assert panel.groups.index.equals(panel.frame.index)
    with pytest.raises(DataError, match=r"group column\(s\) \['state'\] not found"):
        Panel.from_frame(frame(), dictionary={**DICTIONARY, "groups": ["state"]})


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------
def test_layout_codes_with_shuffled_rows() -> None:
    data = pd.DataFrame(
        {
            "city": ["c", "a", "b", "a", "c", "b", "a"],
            "year": [2021, 2019, 2020, 2021, 2019, 2019, 2020],
            "x": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    layout = Panel.from_frame(data, entity="city", period="year", units={"x": "count"}).layout()
    # entities coded by first appearance: c → 0, a → 1, b → 2
    np.testing.assert_array_equal(layout.entity_codes, [0, 1, 2, 1, 0, 2, 1])
    # periods coded by sorted position: 2019 → 0, 2020 → 1, 2021 → 2
    np.testing.assert_array_equal(layout.period_codes, [2, 0, 1, 2, 0, 0, 1])
    assert (layout.n_entities, layout.n_periods, layout.n_rows) == (3, 3, 7)
    assert layout.entity_codes.dtype == np.int64
    assert layout.period_codes.dtype == np.int64


def test_layout_with_text_periods_and_a_gap() -> None:
    data = pd.DataFrame(
        {"city": ["a", "a", "b"], "quarter": ["2020Q3", "2020Q1", "2020Q2"], "x": [1, 2, 3]}
    )
    layout = Panel.from_frame(data, entity="city", period="quarter", units={"x": "count"}).layout()
    # sorted: 2020Q1 → 0, 2020Q2 → 1, 2020Q3 → 2
    np.testing.assert_array_equal(layout.period_codes, [2, 0, 1])
    np.testing.assert_array_equal(layout.entity_codes, [0, 0, 1])
    assert layout.n_periods == 3


# --------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_read_csv_gzip_and_parquet(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"towns{suffix}"
    if suffix == ".parquet":
        frame().to_parquet(path)
    else:
        frame().to_csv(path, index=False)
    panel = Panel.read(path, dictionary=DICTIONARY)
    assert panel.frame.shape == (4, 2)
    assert panel.frame.loc[("a", 2019), "homicides"] == 4.0
    assert panel.frame.loc[("a", 2020), "population"] == 200.0


def test_read_tsv(tmp_path: Path) -> None:
    path = tmp_path / "towns.tsv"
    frame().to_csv(path, sep="\t", index=False)
    assert Panel.read(path, dictionary=DICTIONARY).frame.shape == (4, 2)


def test_read_finds_the_dictionary_beside_the_file(small_panel: Panel) -> None:
    # tests/fixtures/panel.csv + panel.dictionary.yaml
    assert small_panel.name == "tiny_panel"
    assert small_panel.units["area"] == "m**2"
    assert small_panel.frame.loc[("A", 2019), "area"] == 5e6
    assert small_panel.frame.loc[("B", 2020), "population"] == 0.0


def test_read_finds_a_folder_dictionary(tmp_path: Path, fixtures_dir: Path) -> None:
    pd.read_csv(fixtures_dir / "panel.csv").to_csv(tmp_path / "other.csv.gz", index=False)
    shutil.copy(fixtures_dir / "panel.dictionary.yaml", tmp_path / "dictionary.yaml")
    panel = Panel.read(tmp_path / "other.csv.gz")
    assert panel.frame.shape == (4, 7)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found") as info:
        Panel.read(tmp_path / "nope.csv", dictionary=DICTIONARY)
    assert str(tmp_path / "nope.csv") in str(info.value)


def test_read_unknown_file_type(tmp_path: Path) -> None:
    path = tmp_path / "towns.xlsx"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="unknown file type"):
        Panel.read(path, dictionary=DICTIONARY)


def test_read_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "towns.csv"
    frame(pop=[100, -1, 300, 400]).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        Panel.read(path, dictionary=DICTIONARY)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: column 'pop'")


# --------------------------------------------------------------------------------------------
# from_long
# --------------------------------------------------------------------------------------------
def long_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": ["a", "a", "b", "b", "a", "a"],
            "period": [2020, 2020, 2020, 2020, 2021, 2021],
            "variable": ["homicides", "population"] * 3,
            "value": [1.0, 10.0, 2.0, 20.0, 3.0, 30.0],
            "unit": ["count", "inhabitant"] * 3,
        }
    )


def test_from_long_with_unit_column() -> None:
    panel = Panel.from_long(long_frame())
    assert panel.units == {"homicides": "count", "population": "inhabitant"}
    assert panel.frame.loc[("b", 2020), "population"] == 20.0
    assert panel.frame.loc[("a", 2021), "homicides"] == 3.0
    assert len(panel) == 3
    assert (panel.frame.dtypes == np.float64).all()


def test_from_long_with_units_mapping_and_other_column_names() -> None:
    data = (
        long_frame()
        .drop(columns="unit")
        .rename(columns={"entity": "city", "period": "year", "variable": "what", "value": "n"})
    )
    panel = Panel.from_long(
        data,
        entity="city",
        period="year",
        variable="what",
        value="n",
        units={"homicides": "count", "population": "inhabitant"},
    )
    assert panel.frame.loc[("a", 2020), "homicides"] == 1.0


def test_from_long_missing_combination_is_nan() -> None:
    data = long_frame().iloc[:5]  # (a, 2021, population) absent
    panel = Panel.from_long(data)
    assert np.isnan(panel.frame.loc[("a", 2021), "population"])


def test_from_long_conflicting_units_per_variable() -> None:
    data = long_frame()
    data.loc[3, "unit"] = "1000 inhabitant"
    with pytest.raises(DataError) as info:
        Panel.from_long(data)
    message = str(info.value)
    assert "variable 'population' has several units" in message
    assert "'inhabitant'" in message
    assert "'1000 inhabitant'" in message
    assert info.value.column == "unit"


def test_from_long_repeated_triple() -> None:
    data = pd.concat([long_frame(), long_frame().iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match="repeat an") as info:
        Panel.from_long(data)
    assert ("a", 2020, "homicides") in info.value.rows


def test_from_long_missing_columns() -> None:
    with pytest.raises(DataError, match=r"\['unit'\] not found"):
        Panel.from_long(long_frame().drop(columns="unit"))


def test_from_long_text_value_is_reported() -> None:
    data = long_frame()
    data["value"] = data["value"].astype(object)
    data.loc[2, "value"] = "n/a"
    with pytest.raises(DataError, match="non-numeric") as info:
        Panel.from_long(data)
    assert info.value.column == "homicides"
    assert info.value.rows == (("b", 2020),)


# --------------------------------------------------------------------------------------------
# validation errors
# --------------------------------------------------------------------------------------------
def test_missing_variable_column_is_named() -> None:
    with pytest.raises(DataError) as info:
        Panel.from_frame(frame().drop(columns="murders"), dictionary=DICTIONARY)
    assert "homicides (column 'murders')" in str(info.value)


def test_missing_id_column_is_named() -> None:
    with pytest.raises(DataError, match=r"id column\(s\) \['year'\] not found"):
        Panel.from_frame(frame().drop(columns="year"), dictionary=DICTIONARY)


def test_text_in_numeric_column_names_column_and_rows() -> None:
    data = frame(murders=[1, "x", 3, "unknown"])
    with pytest.raises(DataError) as info:
        Panel.from_frame(data, dictionary=DICTIONARY)
    error = info.value
    assert error.column == "murders"
    # the rows are named by (entity, period): row 1 is (a, 2020), row 3 is (a, 2019)
    assert error.rows == (("a", 2020), ("a", 2019))
    assert "2 non-numeric value(s)" in str(error)
    assert "'x'" in str(error)


def test_missing_values_are_not_text() -> None:
    panel = Panel.from_frame(frame(murders=[1, None, 3, np.nan]), dictionary=DICTIONARY)
    assert int(panel.frame["homicides"].isna().sum()) == 2


def test_duplicate_entity_period_rows_are_named() -> None:
    data = frame(year=[2020, 2020, 2020, 2019])  # (b, 2020) twice
    with pytest.raises(DataError, match="appear more than once") as info:
        Panel.from_frame(data, dictionary=DICTIONARY)
    assert info.value.rows == (("b", 2020),)


def test_duplicate_entities_in_a_cross_section() -> None:
    spec = {**DICTIONARY, "period": None, "period_value": 2020}
    with pytest.raises(DataError, match="appear more than once") as info:
        Panel.from_frame(frame(), dictionary=spec)
    assert set(info.value.rows) == {("a", 2020), ("b", 2020)}


def test_negative_counts_are_named() -> None:
    with pytest.raises(DataError, match="negative") as info:
        Panel.from_frame(frame(murders=[1, -2, 3, 4]), dictionary=DICTIONARY)
    assert info.value.column == "murders"
    assert info.value.rows == (("a", 2020),)


@pytest.mark.parametrize("unit", ["inhabitant", "persons", "household", "offence", "victim"])
def test_negative_counted_quantities_are_rejected(unit: str) -> None:
    with pytest.raises(DataError, match="negative"):
        Panel.from_frame(
            frame(pop=[-1, 2, 3, 4]), entity="city", period="year", units={"pop": unit}
        )


def test_negative_population_in_thousands_is_rejected() -> None:
    # "1000 inhabitant" is still a population: -5 thousand inhabitants is a data error
    with pytest.raises(DataError, match="negative") as info:
        Panel.from_frame(
            frame(pop=[100, 200, -5, 400]),
            entity="city",
            period="year",
            units={"pop": "1000 inhabitant"},
        )
    assert info.value.rows == (("b", 2019),)


@pytest.mark.parametrize("unit", ["percent", "degC", "EUR", "dimensionless"])
def test_negative_measurements_are_allowed(unit: str) -> None:
    panel = Panel.from_frame(
        frame(pop=[-1, 2, 3, 4]), entity="city", period="year", units={"pop": unit}
    )
    assert panel.frame["pop"].min() == -1.0


def test_several_problems_are_reported_together() -> None:
    data = frame(murders=[1, 2, 3, "x"], pop=[100, 200, -5, 400])
    with pytest.raises(DataError) as info:
        Panel.from_frame(data, dictionary=DICTIONARY)
    message = str(info.value)
    assert message.startswith("data: 2 problems in the data:")
    assert "column 'murders': 1 non-numeric value(s) such as ['x'] (rows: ('a', 2019))" in message
    assert "column 'pop': 1 negative value(s)" in message
    assert "(rows: ('b', 2019))" in message


def test_empty_entity_id() -> None:
    with pytest.raises(DataError, match="empty entity id") as info:
        Panel.from_frame(frame(city=["a", None, "b", "c"]), dictionary=DICTIONARY)
    assert info.value.column == "city"
    assert info.value.rows == ("row 2",)  # 1-based: the second row under the header


def test_empty_period() -> None:
    with pytest.raises(DataError, match="empty period") as info:
        Panel.from_frame(frame(year=[2020, 2020, np.nan, 2019]), dictionary=DICTIONARY)
    assert info.value.rows == ("row 3",)


# --------------------------------------------------------------------------------------------
# data dictionaries and units
# --------------------------------------------------------------------------------------------
def test_read_dictionary(fixtures_dir: Path) -> None:
    spec = read_dictionary(fixtures_dir / "panel.dictionary.yaml")
    assert spec.entity == "city"
    assert spec.column_of("homicides") == "murders"
    assert spec.column_of("burglaries") == "burglaries"


def test_unknown_unit_in_dictionary_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "dictionary.yaml"
    path.write_text(
        "entity: city\nvariables:\n  homicides: {column: murders, unit: kount}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as info:
        read_dictionary(path)
    (issue,) = info.value.issues
    # line 3 "  homicides: {column: murders, unit: kount}": the key "unit" is at column 32
    # (2 spaces + "homicides: " = 13, "{" = 14, "column: murders, " = 15..31)
    assert (issue.file, issue.line, issue.column) == (str(path), 3, 32)
    assert issue.field == "variables.homicides.unit"
    assert "unknown unit 'kount'" in issue.message
    assert "did you mean 'count'?" in issue.message


def test_unknown_unit_in_dictionary_file_through_read(tmp_path: Path) -> None:
    frame().to_csv(tmp_path / "towns.csv", index=False)
    (tmp_path / "towns.dictionary.yaml").write_text(
        "entity: city\nperiod: year\nvariables:\n  murders: {unit: kount}\n", encoding="utf-8"
    )
    with pytest.raises(SpecError, match=r"towns\.dictionary\.yaml:4:"):
        Panel.read(tmp_path / "towns.csv")


def test_unknown_unit_in_dictionary_mapping_is_a_securindex_error() -> None:
    spec = {**DICTIONARY, "variables": {"homicides": {"column": "murders", "unit": "kount"}}}
    with pytest.raises(SecurindexError) as info:
        Panel.from_frame(frame(), dictionary=spec)
    assert "unknown unit 'kount'" in str(info.value)


def test_unknown_unit_in_units_mapping_is_a_clean_unit_error() -> None:
    with pytest.raises(UnitError) as info:
        Panel.from_frame(frame(), entity="city", period="year", units={"murders": "kount"})
    message = str(info.value)
    assert "unknown unit 'kount'" in message
    assert "did you mean 'count'?" in message
    # our own message, not pydantic's validation dump
    assert "pydantic" not in message
    assert "validation error" not in message


def test_example_panel_is_a_panel() -> None:
    # the shipped examples go through the same validation
    from securindex.datasets import example_dir

    try:
        example_dir("chicago_hardship")
    except Exception as exc:  # pragma: no cover - depends on the shipped data
        pytest.skip(f"example data not available: {exc}")
    panel = Panel.example("chicago_hardship")
    assert len(panel) > 0
    assert (panel.frame.dtypes == np.float64).all()


# --------------------------------------------------------------------------------------------
# hostile and careless data files (issue #15): types kept, every failure a located DataError
# --------------------------------------------------------------------------------------------
CSV = "city,year,murders,pop\n01001,2020,1,100\n1001,2020,2,200\n"


def _read(path: Path, **kwargs: object) -> Panel:
    return Panel.read(path, dictionary=DICTIONARY, **kwargs)  # type: ignore[arg-type]


def test_ids_keep_their_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(CSV, encoding="utf-8")
    assert list(_read(path).entities) == ["01001", "1001"]


def test_ids_differing_only_in_zeros_are_distinct(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("city,year,murders,pop\n007,2020,1,1\n07,2020,1,1\n7,2020,1,1\n")
    assert list(_read(path).entities) == ["007", "07", "7"]  # no misleading duplicate error


def test_boolean_column_where_a_number_is_declared(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("city,year,murders,pop\na,2020,1,True\nb,2020,2,False\n")
    with pytest.raises(DataError, match="booleans") as info:
        _read(path)
    assert (info.value.column, info.value.source) == ("pop", str(path))
    assert info.value.rows == (("a", 2020), ("b", 2020))


def test_python_booleans_in_a_frame_are_refused() -> None:
    with pytest.raises(DataError, match="booleans") as info:
        Panel.from_frame(frame(pop=[True, 2, 3, 4]), dictionary=DICTIONARY)
    assert info.value.rows == (("b", 2020),)


def test_parquet_datetime_and_uint64_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    dates = pd.to_datetime(["2020-01-01"] * 4)
    frame(murders=dates).to_parquet(path)
    with pytest.raises(DataError, match="dates or times") as info:
        _read(path)
    assert info.value.column == "murders"
    big = np.array([1, 2, 3, np.iinfo(np.uint64).max], dtype=np.uint64)
    frame(pop=big).to_parquet(path)
    with pytest.raises(DataError, match=r"integers beyond ±2\*\*53") as info:
        _read(path)
    assert info.value.rows == (("a", 2019),)


def test_mixed_integer_and_text_periods_are_one_period() -> None:
    panel = Panel.from_frame(frame(year=[2020, "2020", 2019, " 2019"]), dictionary=DICTIONARY)
    assert list(panel.periods) == [2019, 2020]
    text = Panel.from_frame(frame(year=[2020, "2020", 2019, "2019Q1"]), dictionary=DICTIONARY)
    assert list(text.periods) == ["2019", "2019Q1", "2020"]


def test_latin1_file_is_named_and_read_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("city,year,murders,pop\nMalmö,2020,1,100\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 0xF6 at line 2\)"):
        _read(path)
    assert list(_read(path, encoding="latin-1").entities) == ["Malmö"]
    named = {**DICTIONARY, "encoding": "latin-1"}
    assert list(Panel.read(path, dictionary=named).entities) == ["Malmö"]
    with pytest.raises(DataError, match="unknown text encoding 'klingon'"):
        _read(path, encoding="klingon")


def test_utf16_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("city,year,murders,pop\nMalmö,2020,1,100\n".encode("utf-16"))
    assert list(_read(path).entities) == ["Malmö"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty file"),
        ("city,year,murders,pop\na,2020,1,2\nb,2020,1,2,3\n", "Expected 4 fields in line 3, saw 5"),
        ('city,year,murders,pop\na,2020,1,"2\nb,2020,1,2\n', "EOF inside string"),
    ],
)
def test_malformed_csv_is_a_data_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        _read(path)
    assert info.value.source == str(path)
    assert isinstance(info.value.__cause__, pd.errors.ParserError | pd.errors.EmptyDataError)


def test_truncated_and_corrupt_gzip_are_data_errors(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "d.csv.gz"
    whole = gzip.compress(CSV.encode() * 50)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cannot read the file") as info:
        _read(path)
    assert isinstance(info.value.__cause__, EOFError)
    path.write_bytes(whole[:20] + b"\x00" * 40 + whole[60:])
    with pytest.raises(DataError, match="cannot read the file"):
        _read(path)


def test_a_folder_named_csv_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        _read(tmp_path / "d.csv")


@pytest.mark.parametrize("content", [b"", b"not parquet at all"])
def test_empty_or_corrupt_parquet_is_a_data_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable Parquet file") as info:
        _read(path)
    assert info.value.__cause__ is not None


def test_parquet_bomb_is_refused_from_its_footer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compressed Parquet file that decodes past the limit is refused before reading."""
    pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra")
    from securindex import dataset

    monkeypatch.setattr(dataset, "MAX_DECOMPRESSED_BYTES", 2**20)
    path = tmp_path / "bomb.parquet"
    n = 2**16  # 2 MiB once decoded (4 columns × 8 bytes per row), far less on disk
    years = np.arange(n)
    frame = pd.DataFrame({"city": "a", "year": years, "murders": np.zeros(n), "pop": 1.0})
    frame.to_parquet(path, compression="zstd")
    assert path.stat().st_size < 2**20
    with pytest.raises(DataError, match="GiB once decoded, more than the limit of") as info:
        _read(path)
    assert info.value.source == str(path)
    monkeypatch.setattr(dataset, "MAX_DECOMPRESSED_BYTES", 2**30)
    assert len(_read(path)) == n


def test_gzip_bomb_stops_at_the_decompressed_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from securindex import dataset

    monkeypatch.setattr(dataset, "MAX_DECOMPRESSED_BYTES", 2**20)
    path = tmp_path / "bomb.csv.gz"
    row = b"a,2020,1,1\n"
    path.write_bytes(gzip.compress(b"city,year,murders,pop\n" + row * (2**21 // len(row))))
    assert path.stat().st_size < 2**16  # a small file that expands 40-fold
    with pytest.raises(DataError, match="after decompression"):
        _read(path)


def test_overlong_line_and_too_many_columns_are_refused(tmp_path: Path) -> None:
    from securindex.dataset import MAX_COLUMNS, MAX_LINE_BYTES

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\n")
    with pytest.raises(DataError, match=f"columns in the header, at most {MAX_COLUMNS}"):
        _read(path)
    path.write_bytes(b"city,year,murders,pop\n" + b"1" * (MAX_LINE_BYTES + 10) + b"\n")
    with pytest.raises(DataError, match="a line longer than"):
        _read(path)


def test_mixed_type_column_shows_no_pandas_warning(tmp_path: Path) -> None:
    import warnings

    path = tmp_path / "d.csv"
    rows = [f"e{i},2020,{i},1" for i in range(300_000)] + ["x,2020,oops,1"]
    path.write_text("city,year,murders,pop\n" + "\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="non-numeric"):
            _read(path)


# -- shaping in the dictionary: row filters, wide input, exact headers ----------------------


def _areas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "number": [1, 2, None],
            "name": ["Rogers Park", "West Ridge", "CHICAGO"],
            "poverty ": [23.6, 17.2, 19.7],  # a real header that ends in a space
        }
    )


def test_a_row_filter_keeps_a_city_total_out_of_the_panel() -> None:
    dictionary = {
        "entity": "name",
        "period_value": "2008-2012",
        "period": None,
        "rows": {"exclude": {"name": ["CHICAGO"]}},
        "variables": {"poverty": {"column": "poverty ", "unit": "percent"}},
    }
    panel = Panel.from_frame(_areas(), dictionary=dictionary)
    assert list(panel.entities) == ["Rogers Park", "West Ridge"]
    assert panel.frame["poverty"].tolist() == [23.6, 17.2]


@pytest.mark.parametrize(
    "rows",
    [
        {"drop_missing": ["number"]},
        {"include": {"number": [1, 2]}},
        {"exclude": {"name": {"pattern": "^CHI"}}},
    ],
)
def test_row_filters_by_missing_value_list_and_pattern(rows: dict[str, object]) -> None:
    dictionary = {
        "entity": "name",
        "period": None,
        "rows": rows,
        "variables": {"poverty": {"column": "poverty ", "unit": "percent"}},
    }
    assert len(Panel.from_frame(_areas(), dictionary=dictionary)) == 2


def test_a_header_with_a_trailing_space_is_named_exactly_and_a_near_miss_is_explained() -> None:
    spec = DataDictionary.model_validate(
        {"variables": {"poverty": {"column": "poverty ", "unit": "percent"}}}
    )
    assert spec.column_of("poverty") == "poverty "  # not stripped
    dictionary = {
        "entity": "name",
        "period": None,
        "variables": {"poverty": {"column": "poverty", "unit": "percent"}},
    }
    with pytest.raises(DataError, match=r"but 'poverty ' is \(the header differs in spaces"):
        Panel.from_frame(_areas(), dictionary=dictionary)


def test_an_empty_entity_id_is_reported_with_the_row_as_people_count() -> None:
    dictionary = {
        "entity": "number",
        "period": None,
        "variables": {"poverty": {"column": "poverty ", "unit": "percent"}},
    }
    with pytest.raises(DataError) as info:
        Panel.from_frame(_areas(), dictionary=dictionary)
    assert "rows: row 3" in str(info.value)  # the third row under the header, 1-based
    assert "drop_missing" in str(info.value)


def test_wide_input_one_column_per_year() -> None:
    data = pd.DataFrame(
        {
            "iso3": ["NOR", "ZZA.VHHD"],
            "region": ["ECA", None],
            "hdi_2021": [0.961, 0.9],
            "hdi_2022": [0.966, 0.91],
            "hdi_f_2022": [0.957, 0.90],  # another variable: not read as hdi
            "le_2022": [83.4, 79.0],
        }
    )
    dictionary = {
        "entity": "iso3",
        "period": "year",
        "groups": ["region"],
        "rows": {"exclude": {"iso3": {"pattern": "^ZZ"}}},
        "wide": {"separator": "_"},
        "variables": {"hdi": {"unit": "dimensionless"}, "le": {"unit": "year"}},
    }
    panel = Panel.from_frame(data, dictionary=dictionary)
    assert list(panel.frame.index) == [("NOR", 2021), ("NOR", 2022)]
    assert panel.frame["hdi"].tolist() == [0.961, 0.966]
    assert np.isnan(panel.frame["le"].iloc[0]) and panel.frame["le"].iloc[1] == 83.4
    assert panel.groups["region"].tolist() == ["ECA", "ECA"]


def test_wide_input_without_columns_per_period_says_what_it_expected() -> None:
    dictionary = {
        "entity": "iso3",
        "period": "year",
        "wide": {},
        "variables": {"gii": {"unit": "dimensionless"}},
    }
    data = pd.DataFrame({"iso3": ["NOR"], "gii2022": [0.01]})
    with pytest.raises(DataError, match=r"no column per period for \['gii'\].*'gii_2020'"):
        Panel.from_frame(data, dictionary=dictionary)


def test_several_files_keep_text_ids_too(tmp_path: Path) -> None:
    from securindex.engines import _read_pandas_panel

    for i, rows in enumerate(["01001,2020,1,100\n", "01001,2021,2,200\n"]):
        (tmp_path / f"part{i}.csv").write_text("city,year,murders,pop\n" + rows)
    panel = _read_pandas_panel([tmp_path / "part0.csv", tmp_path / "part1.csv"], DICTIONARY)
    assert list(panel.entities) == ["01001"] and list(panel.periods) == [2020, 2021]
