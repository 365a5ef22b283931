"""Checks of the shipped example datasets and of the YAML indicator catalogue, file by file.

These tests read the files as a user (or a reviewer) would: the dataset folders through
``securindex.datasets`` and plain pandas/PyYAML, the catalogue with PyYAML and ``ast``. The
numbers checked against each dataset are the ones quoted in its SOURCE.md, recomputed here
from the shipped data. The full cross-file validation of the catalogue (units through
formulas, cycles) is the catalogue loader's job; one test runs it as a smoke test.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from securindex.datasets import EXAMPLES, example_dir, read_example_frame
from securindex.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "indicators"
CATEGORY_FOLDERS = ("crime", "perception", "social", "environmental", "institutional")
SKIPPED_FOLDERS = ("frameworks", "examples", "evaluations")  # not indicator definitions
REQUIRED_KEYS = {"id", "name", "description", "category", "polarity", "formula", "unit", "inputs"}
ALLOWED_KEYS = REQUIRED_KEYS | {"constants", "references", "source", "caveats", "tags"}
FUNCTIONS = {
    "log",
    "log10",
    "exp",
    "sqrt",
    "abs",
    "min",
    "max",
    "clip",
    "where",
    "lag",
    "mean_over",
}
DICTIONARY_KEYS = {
    "name",
    "label",
    "title",
    "description",
    "source",
    "entity",
    "period",
    "period_value",
    "groups",
    "variables",
    "notes",
    "areas",
}


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _dictionary(name: str) -> dict[str, Any]:
    text = example_dir(name).joinpath("dictionary.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _indicator_files() -> Iterator[Path]:
    for path in sorted(CATALOGUE.rglob("*.yaml")):
        if path.relative_to(CATALOGUE).parts[0] not in SKIPPED_FOLDERS:
            yield path


INDICATOR_FILES = list(_indicator_files())


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return loaded


def _names_in(formula: str) -> set[str]:
    """Names a formula reads (function names excluded)."""
    tree = ast.parse(" ".join(formula.split()), mode="eval")
    called = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert called <= FUNCTIONS, f"unknown functions {sorted(called - FUNCTIONS)} in {formula!r}"
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called


@pytest.fixture(scope="module")
def indicators() -> dict[str, dict[str, Any]]:
    return {path.stem: _load(path) for path in INDICATOR_FILES}


# ------------------------------------------------------------------------------------------------
# the shipped dataset folders
# ------------------------------------------------------------------------------------------------
def test_examples_match_the_package_folders() -> None:
    package = resources.files("securindex.datasets")
    folders = {
        entry.name
        for entry in package.iterdir()
        if entry.is_dir() and not entry.name.startswith(("_", "."))
    }
    assert folders == set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_has_its_three_files(name: str) -> None:
    folder = example_dir(name)
    for file_name in ("data.csv.gz", "dictionary.yaml", "SOURCE.md"):
        assert folder.joinpath(file_name).is_file(), f"{name}/{file_name} missing"
    source = folder.joinpath("SOURCE.md").read_text("utf-8")
    for heading in ("Licence", "Credit", "What was changed", "Checks"):
        assert heading in source, f"{name}/SOURCE.md lacks a '{heading}' section"


def test_shipped_data_stay_small() -> None:
    package = Path(str(resources.files("securindex.datasets")))
    total = sum(p.stat().st_size for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc")
    assert total < 1_500_000, f"shipped example data take {total} bytes (limit 1.5 MB)"


@pytest.mark.parametrize("name", EXAMPLES)
def test_dictionary_describes_existing_columns(name: str) -> None:
    spec = _dictionary(name)
    frame = read_example_frame(name)
    assert set(spec) <= DICTIONARY_KEYS, f"unknown keys {set(spec) - DICTIONARY_KEYS}"
    assert spec["name"] == name
    assert spec["source"]["name"] and spec["source"]["licence"]
    for key in ("entity", "period"):
        assert spec[key] in frame.columns, f"{key} column '{spec[key]}' not in the data"
    if "label" in spec:
        assert spec["label"] in frame.columns, f"label column '{spec['label']}' not in the data"
    for group in spec.get("groups") or []:
        assert group in frame.columns, f"group column '{group}' not in the data"
    assert spec["variables"], "a dictionary without variables"
    columns = [v.get("column", k) for k, v in spec["variables"].items()]
    missing = sorted(set(columns) - set(frame.columns))
    assert not missing, f"variables point to absent columns {missing}"
    assert len(set(columns)) == len(columns), "two variables share one column"
    for variable, entry in spec["variables"].items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", variable), variable
        assert "%" not in entry["unit"], f"{variable}: write 'percent', not '%'"
        assert entry.get("description"), f"{variable} has no description"
        values = pd.to_numeric(frame[entry.get("column", variable)], errors="coerce")
        assert values.notna().any(), f"{variable} is empty"
        assert (values.isna() == frame[entry.get("column", variable)].isna()).all(), (
            f"{variable} holds non-numeric text"
        )


@pytest.mark.parametrize("name", EXAMPLES)
def test_entity_period_pairs_are_unique(name: str) -> None:
    spec = _dictionary(name)
    frame = read_example_frame(name)
    ids = frame[[spec["entity"], spec["period"]]]
    assert ids.notna().all().all()
    duplicated = ids.duplicated(keep=False)
    assert not duplicated.any(), ids[duplicated].head()


@pytest.mark.parametrize("name", EXAMPLES)
def test_dictionary_units_parse(name: str) -> None:
    units = pytest.importorskip("securindex.units")
    for variable, entry in _dictionary(name)["variables"].items():
        units.parse_unit(entry["unit"])  # raises UnitError on a bad unit
        assert variable


@pytest.mark.parametrize("name", EXAMPLES)
def test_counted_variables_are_not_negative(name: str) -> None:
    spec = _dictionary(name)
    frame = read_example_frame(name)
    for variable, entry in spec["variables"].items():
        if entry["unit"] in {"count", "inhabitant", "dwelling", "household"}:
            values = frame[entry.get("column", variable)].to_numpy(dtype=np.float64)
            assert np.nanmin(values) >= 0, variable


def test_unknown_example_lists_the_names() -> None:
    with pytest.raises(DataError, match="uci_communities") as info:
        example_dir("uci")
    assert "did you mean 'uci_communities'" in str(info.value)
    with pytest.raises(DataError, match="eurostat_perception"):
        read_example_frame("eurostat_percepton")
    assert isinstance(info.value, ValueError)


def test_ids_are_read_as_text() -> None:
    berlin = read_example_frame("berlin_crime")
    assert berlin["region_code"].iloc[0] == "010111"  # leading zero kept
    nypd = read_example_frame("nypd_precincts")
    assert nypd["precinct"].iloc[0] == "1"


# ------------------------------------------------------------------------------------------------
# the documented checks of each dataset (numbers quoted in its SOURCE.md)
# ------------------------------------------------------------------------------------------------
def test_uci_communities_reproduces_source_checks() -> None:
    frame = read_example_frame("uci_communities")
    spec = _dictionary("uci_communities")
    murders = spec["variables"]["homicides"]["column"]
    assert len(frame) == 2215
    assert frame["community_id"].is_unique
    assert frame["state"].nunique() == 48  # 47 states and DC
    assert int(frame[murders].sum()) == 17199
    assert frame[murders].notna().all()
    assert int(frame["robberies"].sum()) == 526826
    assert int(frame["robberies"].isna().sum()) == 1
    assert int(frame["rapes"].isna().sum()) == 208
    assert int(frame["arsons"].isna().sum()) == 91
    assert int(frame["population"].sum()) == 117656335
    assert int(frame["LemasSwornFT"].notna().sum()) == 343
    assert set(frame["year"]) == {1995}


def test_uci_derived_housing_units() -> None:
    # housing_units = HousVacant / (1 - PctHousOccup / 100), e.g. for the first row
    # Aberdeencity, SD: 691 / (1 - 0.9354) = 10696.6 -> 10697
    frame = read_example_frame("uci_communities")
    first = frame.iloc[0]
    assert first["community_id"] == "Aberdeencity, SD"
    assert first["housing_units"] == round(691 / (1 - 93.54 / 100)) == 10697
    occupied = frame["housing_units"] - frame["HousVacant"]
    share = occupied / frame["housing_units"] * 100
    # the rounding of PctHousOccup to 2 decimals bounds the error of the derived total
    assert np.allclose(share, frame["PctHousOccup"], atol=0.02)


def test_eurostat_perception_reproduces_source_checks() -> None:
    frame = read_example_frame("eurostat_perception")
    assert len(frame) == 444
    assert frame["city_code"].nunique() == 115
    per_wave = frame.groupby("year")["city_code"].nunique().to_dict()
    assert per_wave == {2004: 28, 2006: 70, 2009: 70, 2012: 74, 2015: 102, 2019: 100}
    berlin = frame[frame["city_code"] == "DE001C"].set_index("year")
    assert berlin.loc[2009, "safe_city_strongly_agree"] == pytest.approx(50.9)
    assert berlin.loc[2012, "safe_city_strongly_agree"] == pytest.approx(14.0)
    series = frame.groupby("year")["survey_series"].unique().map(tuple).to_dict()
    assert series == {
        2004: ("2004-2009",),
        2006: ("2004-2009",),
        2009: ("2004-2009",),
        2012: ("2012-2015",),
        2015: ("2012-2015",),
        2019: ("2019",),
    }
    values = frame.select_dtypes("number").drop(columns="year")
    assert values.min().min() >= 0 and values.max().max() <= 100
    # the 2019 night-safety question is absent before 2019
    assert frame.loc[frame["year"] < 2019, "safe_night_neighbourhood_strongly_agree"].isna().all()


def test_eurostat_dictionary_records_the_breaks() -> None:
    notes = " ".join(_dictionary("eurostat_perception")["notes"])
    assert "2009 and 2012" in notes and "survey_series" in notes and "2019" in notes


def test_berlin_crime_reproduces_source_checks() -> None:
    frame = read_example_frame("berlin_crime")
    assert len(frame) == 1104
    assert frame["region_code"].nunique() == 138
    assert (frame.groupby("region_code")["year"].nunique() == 8).all()
    assert not frame["region_name"].str.contains("nicht zuzuordnen").any()
    robberies = frame.groupby("year")["robberies"].sum()
    assert int(robberies[2012]) == 6222 and int(robberies[2019]) == 4370
    # sub-categories are contained in their totals
    assert (frame["street_robberies"] <= frame["robberies"]).all()
    assert (frame["assaults"] <= frame["bodily_injuries"]).all()
    assert (frame["arsons"] <= frame["fires"]).all()


def test_nypd_precincts_reproduces_source_checks() -> None:
    frame = read_example_frame("nypd_precincts")
    assert len(frame) == 1758
    assert frame["precinct"].nunique() == 77
    assert "DOC" not in set(frame["precinct"])
    seven = [
        "homicides",
        "rapes",
        "robberies",
        "assaults",
        "burglaries",
        "grand_larcenies",
        "vehicle_thefts",
    ]
    assert (frame[seven].sum(axis=1) == frame["major_felonies"]).all()
    citywide = frame.groupby("year")["major_felonies"].sum()
    assert (int(citywide[2000]), int(citywide[2010]), int(citywide[2022])) == (
        184652,
        105115,
        126403,
    )
    assert frame.loc[frame["precinct"] == "121", "year"].min() == 2013


def test_maryland_counties_reproduces_source_checks() -> None:
    frame = read_example_frame("maryland_counties")
    assert len(frame) == 1104
    assert frame["jurisdiction"].nunique() == 24
    assert (frame.groupby("jurisdiction")["year"].nunique() == 46).all()
    violent = frame[["homicides", "rapes", "robberies", "assaults"]].sum(axis=1)
    assert (violent == frame["violent_crimes"]).all()
    prop = frame[["burglaries", "larcenies", "vehicle_thefts"]].sum(axis=1)
    assert (prop == frame["property_crimes"]).all()
    state = frame.groupby("year")[["population", "homicides"]].sum()
    assert state.loc[1975].tolist() == [4098000, 433]
    assert state.loc[2020].tolist() == [6055802, 573]


def test_chicago_hardship_reproduces_source_checks() -> None:
    frame = read_example_frame("chicago_hardship")
    assert len(frame) == 77
    assert sorted(frame["community_area"].astype(int)) == list(range(1, 78))
    assert (frame["hardship_index"].min(), frame["hardship_index"].max()) == (1, 98)


def test_shipped_files_are_rebuilt_identically(shared_data: Path) -> None:
    """tools/make_datasets.py reproduces every shipped data.csv.gz and dictionary.yaml."""
    spec = importlib.util.spec_from_file_location(
        "make_datasets", ROOT / "tools" / "make_datasets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_datasets"] = module
    spec.loader.exec_module(module)
    for name, build in module.BUILDERS.items():
        for file_name, content in module.outputs(build(shared_data)).items():
            shipped = example_dir(name).joinpath(file_name).read_bytes()
            assert shipped == content, f"{name}/{file_name} is out of date: run the script"


# ------------------------------------------------------------------------------------------------
# the indicator catalogue
# ------------------------------------------------------------------------------------------------
def test_catalogue_is_large_enough_and_covers_every_category(
    indicators: dict[str, dict[str, Any]],
) -> None:
    assert len(indicators) >= 38
    folders = {path.parent.name for path in INDICATOR_FILES}
    assert set(CATEGORY_FOLDERS) <= folders


@pytest.mark.parametrize("path", INDICATOR_FILES, ids=lambda p: p.stem)
def test_indicator_file_is_complete(path: Path) -> None:
    spec = _load(path)
    assert isinstance(spec, dict)
    assert set(spec) >= REQUIRED_KEYS, f"missing keys {REQUIRED_KEYS - set(spec)}"
    assert set(spec) <= ALLOWED_KEYS, f"unknown keys {set(spec) - ALLOWED_KEYS}"
    assert spec["id"] == path.stem
    assert re.fullmatch(r"[a-z][a-z0-9_]*", spec["id"])
    assert spec["category"] == path.parent.name
    assert spec["polarity"] in {"positive", "negative", "none"}
    assert len(spec["description"]) > 80, "describe what is counted, per what, from where"
    assert spec["references"], "give at least one reference"
    assert all(ref.get("framework") for ref in spec["references"])
    assert spec["source"]["name"]
    for text in [spec["unit"]] + [v["unit"] for v in spec["inputs"].values()]:
        assert "%" not in text, "write 'percent', not '%'"


@pytest.mark.parametrize("path", INDICATOR_FILES, ids=lambda p: p.stem)
def test_formula_names_are_declared(path: Path, indicators: dict[str, dict[str, Any]]) -> None:
    spec = _load(path)
    used = _names_in(spec["formula"])
    declared = set(spec["inputs"]) | set(spec.get("constants") or {})
    unknown = used - declared - set(indicators)
    assert not unknown, f"{path.stem}: formula uses undeclared names {sorted(unknown)}"
    unused = declared - used
    assert not unused, f"{path.stem}: declared but unused {sorted(unused)}"
    assert spec["id"] not in used


def test_indicator_ids_are_unique() -> None:
    ids = [_load(path)["id"] for path in INDICATOR_FILES]
    assert len(ids) == len(set(ids))


def test_sdg_codes_look_like_sdg_codes(indicators: dict[str, dict[str, Any]]) -> None:
    for indicator_id, spec in indicators.items():
        for ref in spec["references"]:
            if ref["framework"] == "SDG":
                code = str(ref["code"])
                assert re.fullmatch(r"\d{1,2}(\.[0-9a-c]{1,2}(\.\d)?)?", code), (
                    f"{indicator_id}: '{code}' is not an SDG goal, target or indicator code"
                )


def test_same_input_has_one_unit_across_the_catalogue(
    indicators: dict[str, dict[str, Any]],
) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for indicator_id, spec in indicators.items():
        for name, entry in spec["inputs"].items():
            if name in seen:
                assert seen[name][0] == entry["unit"], (
                    f"input '{name}' is '{entry['unit']}' in {indicator_id} but "
                    f"'{seen[name][0]}' in {seen[name][1]}"
                )
            else:
                seen[name] = (entry["unit"], indicator_id)


def test_inputs_match_the_dataset_dictionaries(indicators: dict[str, dict[str, Any]]) -> None:
    """Where a dataset has a variable of the same name, its unit converts to the input's."""
    units = pytest.importorskip("securindex.units")
    for name in EXAMPLES:
        variables = _dictionary(name)["variables"]
        for indicator_id, spec in indicators.items():
            for input_name, entry in spec["inputs"].items():
                if input_name in variables:
                    have = units.parse_unit(variables[input_name]["unit"])
                    want = units.parse_unit(entry["unit"])
                    assert have.is_compatible_with(want), (
                        f"{indicator_id}.{input_name}: {entry['unit']} vs "
                        f"{variables[input_name]['unit']} in {name}"
                    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "uci_communities",
            {
                "homicide_rate",
                "violent_crime_rate",
                "property_crime_rate",
                "crime_harm_index",
                "poverty_rate",
                "unemployment_rate",
                "single_parent_families",
                "residential_instability",
                "vacant_dwelling_rate",
                "boarded_vacant_dwellings",
                "homelessness_rate",
                "population_density",
                "police_officers_rate",
            },
        ),
        (
            "eurostat_perception",
            {
                "feeling_safe_night",
                "feeling_safe_city",
                "feeling_safe_neighbourhood",
                "trust_local_police",
                "trust_in_neighbours",
                "satisfaction_green_spaces",
                "satisfaction_air_quality",
            },
        ),
        ("maryland_counties", {"homicide_rate", "violent_crime_rate", "burglary_rate"}),
        ("chicago_hardship", {"unemployment_rate", "no_high_school_diploma", "income_per_capita"}),
    ],
)
def test_catalogue_computes_on_the_examples(
    name: str, expected: set[str], indicators: dict[str, dict[str, Any]]
) -> None:
    """The canonical input names of the catalogue are the dictionaries' variable names."""
    variables = set(_dictionary(name)["variables"])
    computable = {i for i, spec in indicators.items() if set(spec["inputs"]) <= variables}
    assert expected <= computable, f"not computable on {name}: {sorted(expected - computable)}"


def test_catalogue_loads_with_the_library_loader() -> None:
    catalogue_module = pytest.importorskip("securindex.catalogue")
    catalogue = catalogue_module.Catalogue.load(*(CATALOGUE / c for c in CATEGORY_FOLDERS))
    assert len(catalogue) == len(INDICATOR_FILES)


def test_catalogue_rates_reproduce_marylands_published_rates(shared_data: Path) -> None:
    """Published oracle: the state's own rates per 100 000 (rounded to 0.1) are matched.

    E.g. Allegany County 1975: 3 murders / 79 655 inhabitants x 100 000 = 3.766 -> published 3.8.
    """
    catalogue_module = pytest.importorskip("securindex.catalogue")
    dataset_module = pytest.importorskip("securindex.dataset")
    catalogue = catalogue_module.Catalogue.load(CATALOGUE / "crime")
    panel = dataset_module.Panel.example("maryland_counties")
    values = catalogue.compute(panel, indicators=["homicide_rate", "violent_crime_rate"]).frame
    published = pd.read_csv(
        shared_data / "maryland_crime_by_county_1975_2020" / "md_crime_by_county_1975_2020.csv.gz"
    ).set_index(["JURISDICTION", "YEAR"])
    published.index.names = list(values.index.names)
    published = published.reindex(values.index)  # the source is not sorted by year
    assert published[["MURDER PER 100,000 PEOPLE"]].notna().all().all()
    murder = published["MURDER PER 100,000 PEOPLE"].to_numpy()
    violent = published["VIOLENT CRIME RATE PER 100,000 PEOPLE"].to_numpy()
    assert values.loc[("Allegany County", 1975), "homicide_rate"] == pytest.approx(3 / 79655 * 1e5)
    assert np.abs(values["homicide_rate"].to_numpy() - murder).max() <= 0.05 + 1e-9
    assert np.abs(values["violent_crime_rate"].to_numpy() - violent).max() <= 0.05 + 1e-9
