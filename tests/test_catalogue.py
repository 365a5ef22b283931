"""Tests of securindex.catalogue: loading, cross-file checks and computing indicators."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.catalogue import Catalogue, IndicatorValues, document_kind
from securindex.dataset import Panel
from securindex.errors import DataError, SpecError, UnitError
from securindex.spec.indicator import Indicator

PROJECT_INDICATORS = Path(__file__).resolve().parents[1] / "indicators"

WriteCatalogue = Callable[[Mapping[str, str]], Path]
MakeIndicator = Callable[..., str]


def indicator(
    id: str,
    formula: str,
    unit: str,
    inputs: Mapping[str, str] | None = None,
    constants: Mapping[str, Any] | None = None,
) -> Indicator:
    """An Indicator built in code; ``inputs`` maps name → unit."""
    return Indicator(
        id=id,
        name=id,
        category="crime",
        polarity="negative",
        formula=formula,
        unit=unit,
        inputs={k: {"unit": u} for k, u in (inputs or {}).items()},
        constants=dict(constants or {}),
    )


def panel(columns: Mapping[str, list[float]], units: Mapping[str, str]) -> Panel:
    """A cross-section panel of entities e0, e1, … (period 0)."""
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({"entity": [f"e{i}" for i in range(n)], **columns})
    return Panel.from_frame(frame, entity="entity", units=units)


RATE_INPUTS = {"homicides": "count", "population": "inhabitant"}


# --------------------------------------------------------------------------------------------
# document kinds
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ([{"id": "a"}], "indicators"),
        ({"id": "a", "formula": "x"}, "indicators"),
        ({"formula": "x", "variables": {}}, "indicators"),
        ({"structure": []}, "framework"),
        ({"variables": {}}, "dictionary"),
        ({"name": "x"}, "unknown"),
        (None, "unknown"),
        ("text", "unknown"),
    ],
)
def test_document_kind(value: object, kind: str) -> None:
    assert document_kind(value) == kind


# --------------------------------------------------------------------------------------------
# loading: files, lists, folder trees
# --------------------------------------------------------------------------------------------
def test_load_fixture_folder_tree(fixtures_dir: Path) -> None:
    catalogue = Catalogue.load(fixtures_dir / "catalogue")
    assert set(catalogue) == {
        "homicide_rate",
        "burglary_rate",
        "crime_density",
        "weighted_homicide_rate",
        "green_space_per_capita",
        "unemployment_rate",
    }
    assert len(catalogue) == 6
    assert repr(catalogue) == "Catalogue(6 indicators)"
    assert catalogue["unemployment_rate"].unit == "percent"


def test_load_single_file_with_one_indicator(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            "one.yaml": make_indicator(
                "rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS
            )
        }
    )
    catalogue = Catalogue.load(root / "one.yaml")
    assert list(catalogue) == ["rate"]
    assert catalogue.location("rate") == (str(root / "one.yaml"), 1)


def test_load_file_with_a_list_of_indicators(fixtures_dir: Path) -> None:
    file = fixtures_dir / "catalogue" / "crime" / "property.yaml"
    catalogue = Catalogue.load(file)
    assert sorted(catalogue) == ["burglary_rate", "crime_density"]
    # line 1 is a comment; the first item takes lines 2-13, the second starts on line 14
    assert catalogue.location("crime_density") == (str(file), 14)
    assert catalogue.location("burglary_rate") == (str(file), 2)


def test_folder_skips_dictionaries_and_frameworks(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            "crime/rate.yaml": make_indicator(
                "rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS
            ),
            "data/dictionary.yaml": "variables:\n  homicides: {unit: count}\n",
            "fw/framework.yaml": "id: fw\nstructure: []\n",
        }
    )
    assert list(Catalogue.load(root)) == ["rate"]


def test_explicit_non_indicator_file_is_rejected(write_catalogue: WriteCatalogue) -> None:
    root = write_catalogue({"dictionary.yaml": "variables:\n  homicides: {unit: count}\n"})
    with pytest.raises(SpecError, match="required field is missing"):
        Catalogue.load(root / "dictionary.yaml")


def test_catalogue_ids_must_be_snake_case(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue({"a.yaml": make_indicator("HomicideRate", "x", "count", {"x": "count"})})
    with pytest.raises(SpecError, match="snake_case") as info:
        Catalogue.load(root)
    assert f"{root / 'a.yaml'}:1:" in str(info.value)


def test_catalogue_is_a_mapping_with_helpful_key_error(fixtures_dir: Path) -> None:
    catalogue = Catalogue.load(fixtures_dir / "catalogue")
    assert "homicide_rate" in catalogue
    with pytest.raises(KeyError, match="did you mean") as info:
        catalogue["homicide_rat"]
    assert "homicide_rate" in str(info.value)


def test_project_catalogue_loads() -> None:
    if not PROJECT_INDICATORS.is_dir():
        pytest.skip(f"{PROJECT_INDICATORS} not present")
    catalogue = Catalogue.load(PROJECT_INDICATORS)
    assert len(catalogue) > 0
    assert catalogue["homicide_rate"].unit == "count / (100000 inhabitant)"


# --------------------------------------------------------------------------------------------
# cross-file checks
# --------------------------------------------------------------------------------------------
def test_duplicate_id_across_files_names_both_files(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    text = make_indicator("dup", "x", "count", {"x": "count"})
    root = write_catalogue({"a.yaml": text, "sub/b.yaml": "# the same id again\n" + text})
    with pytest.raises(SpecError) as info:
        Catalogue.load(root)
    (issue,) = info.value.issues
    # the second file (sorted: a.yaml before sub/b.yaml), at its id line (line 2), names the first
    assert (issue.file, issue.line) == (str(root / "sub" / "b.yaml"), 2)
    assert "duplicate indicator id 'dup'" in issue.message
    assert f"{root / 'a.yaml'}:1" in issue.message


def test_duplicate_id_in_code_does_not_print_none() -> None:
    # Catalogue built from Indicator objects: there is no file, so the message must not say
    # "first defined at None:None".
    one = indicator("a", "x", "count", {"x": "count"})
    with pytest.raises(SpecError, match="duplicate indicator id 'a'") as info:
        Catalogue([one, one])
    assert "None" not in str(info.value)


def test_dependencies_are_computed_in_dependency_order(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    # files sorted a_, b_, c_: the dependents come first alphabetically
    root = write_catalogue(
        {
            "a_top.yaml": make_indicator("top", "middle + base", "count"),
            "b_middle.yaml": make_indicator("middle", "2 * base", "count"),
            "c_base.yaml": make_indicator("base", "x", "count", {"x": "count"}),
        }
    )
    catalogue = Catalogue.load(root)
    assert list(catalogue) == ["base", "middle", "top"]
    assert catalogue.dependencies("top") == ("base", "middle")
    assert catalogue.dependencies("base") == ()
    values = catalogue.compute(panel({"x": [1.0, 5.0]}, {"x": "count"}))
    # base = x; middle = 2 x; top = 2x + x = 3x → 3, 15
    np.testing.assert_array_equal(values.frame["top"].to_numpy(), [3.0, 15.0])
    assert list(values.frame.columns) == ["base", "middle", "top"]


def _cycle_in(message: str) -> list[str]:
    found = re.search(r"indicator cycle: ([a-z_]+(?: -> [a-z_]+)+)", message)
    assert found, message
    return found.group(1).split(" -> ")


def test_two_indicator_cycle_is_named(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            "a.yaml": make_indicator("a", "b + x", "count", {"x": "count"}),
            "b.yaml": make_indicator("b", "a + x", "count", {"x": "count"}),
        }
    )
    with pytest.raises(SpecError) as info:
        Catalogue.load(root)
    message = str(info.value)
    assert _cycle_in(message) in (["a", "b", "a"], ["b", "a", "b"])
    # located at a formula line (line 5) of one of the two files
    assert re.search(r"[ab]\.yaml:5:\d+: formula: indicator cycle", message)


def test_three_indicator_cycle_follows_the_formulas() -> None:
    # a uses b, b uses c, c uses a: read "x -> y" as "x uses y", the cycle is a rotation of
    # a -> b -> c -> a (never a -> c -> b -> a, which no formula says)
    with pytest.raises(SpecError) as info:
        Catalogue(
            [
                indicator("a", "b", "count"),
                indicator("b", "c", "count"),
                indicator("c", "a", "count"),
            ]
        )
    cycle = _cycle_in(str(info.value))
    assert cycle[0] == cycle[-1]
    assert len(cycle) == 4
    uses = {"a": "b", "b": "c", "c": "a"}
    assert all(uses[x] == y for x, y in itertools.pairwise(cycle))


def test_self_reference_is_rejected() -> None:
    with pytest.raises(SpecError, match="cannot use itself"):
        Catalogue([indicator("a", "a + x", "count", {"x": "count"})])


def test_undeclared_name_did_you_mean_and_file_line(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            "rate.yaml": make_indicator(
                "rate", "homicide / population", "count / (100000 inhabitant)", RATE_INPUTS
            )
        }
    )
    with pytest.raises(SpecError) as info:
        Catalogue.load(root)
    (issue,) = info.value.issues
    # formula is on line 5 of the file
    assert (issue.file, issue.line, issue.field) == (str(root / "rate.yaml"), 5, "formula")
    assert "unknown name 'homicide'" in issue.message
    assert "did you mean 'homicides'?" in issue.message
    # carets under "homicide" (characters 0..8)
    assert "\n    homicide / population\n    ^^^^^^^^" in issue.message
    assert str(info.value).startswith(f"{root / 'rate.yaml'}:5:")


def test_undeclared_name_can_be_another_indicator(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            "a.yaml": make_indicator(
                "homicide_rate",
                "h / p",
                "count / (100000 inhabitant)",
                {"h": "count", "p": "inhabitant"},
            ),
            "b.yaml": make_indicator("double", "2 * homicide_rat", "count / (100000 inhabitant)"),
        }
    )
    with pytest.raises(SpecError, match="did you mean 'homicide_rate'"):
        Catalogue.load(root)


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("__import__('os')", "'__import__' is not an allowed function"),
        ("population.real", "attribute access"),
        ("(1).__class__", "attribute access"),
        ("population[0]", "subscripts"),
        ("homicides / populaton", "unknown name 'populaton'"),
    ],
)
def test_bad_formula_is_located(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator, formula: str, expected: str
) -> None:
    root = write_catalogue(
        {"bad.yaml": make_indicator("bad", f'"{formula}"', "count", RATE_INPUTS)}
    )
    with pytest.raises(SpecError) as info:
        Catalogue.load(root)
    (issue,) = info.value.issues
    assert (issue.file, issue.line) == (str(root / "bad.yaml"), 5)
    assert expected in issue.message


def test_bad_formula_in_a_list_is_located_at_its_item(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    good = make_indicator("good", "x", "count", {"x": "count"})
    bad = make_indicator("bad", "x[0]", "count", {"x": "count"})
    text = "\n".join(
        ("- " if i == 0 else "  ") + line
        for block in (good, bad)
        for i, line in enumerate(block.splitlines())
    )
    # good takes lines 1-8 (6 fields, "inputs:", one input); bad starts on line 9, its
    # formula on line 13
    root = write_catalogue({"list.yaml": text + "\n"})
    with pytest.raises(SpecError, match="subscripts") as info:
        Catalogue.load(root)
    (issue,) = info.value.issues
    assert (issue.line, issue.field) == (13, "1.formula")


def test_unit_mismatch_shows_both_units(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    # declared a rate per 100 000 inhabitants, computed as a count per km²
    root = write_catalogue(
        {
            "density.yaml": make_indicator(
                "density",
                "homicides / area",
                "count / (100000 inhabitant)",
                {"homicides": "count", "area": "km**2"},
            )
        }
    )
    with pytest.raises(SpecError) as info:
        Catalogue.load(root)
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.field) == (str(root / "density.yaml"), 6, "unit")
    assert "100000 inhabitant" in issue.message  # declared
    assert "kilometer ** 2" in issue.message or "km**2" in issue.message  # inferred
    assert "[population]" in issue.message
    assert "[length]" in issue.message


def test_all_problems_reported_at_once(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue(
        {
            "a.yaml": make_indicator("a", "y", "count", {"x": "count"}),  # undeclared y
            "b.yaml": make_indicator(
                "b", "x / area", "count / inhabitant", {"x": "count", "area": "m**2"}
            ),  # unit mismatch
            "c.yaml": "id: c\nname: [unclosed\n",  # YAML syntax error
            "d.yaml": make_indicator("d", "x", "count", {"x": "count"}, polarity="sideways"),
        }
    )
    with pytest.raises(SpecError) as info:
        Catalogue.load(root)
    files = sorted(Path(i.file).name for i in info.value.issues if i.file)
    assert files == ["a.yaml", "b.yaml", "c.yaml", "d.yaml"]
    assert str(info.value).startswith("4 problems found:")


def test_unknown_unit_in_indicator_is_located(
    write_catalogue: WriteCatalogue, make_indicator: MakeIndicator
) -> None:
    root = write_catalogue({"u.yaml": make_indicator("u", "x", "kount", {"x": "count"})})
    with pytest.raises(SpecError, match="unknown unit 'kount'") as info:
        Catalogue.load(root)
    assert info.value.issues[0].line == 6


# --------------------------------------------------------------------------------------------
# computing: values in the declared unit
# --------------------------------------------------------------------------------------------
def test_fixture_catalogue_values(fixtures_dir: Path, small_panel: Panel) -> None:
    values = Catalogue.load(fixtures_dir / "catalogue").compute(small_panel)
    frame = values.frame
    assert frame.index.names == ["entity", "period"]
    assert (frame.dtypes == np.float64).all()
    rows = [("A", 2019), ("A", 2020), ("B", 2019), ("B", 2020)]
    expected = {
        # homicides / population × 1e5: 2/20000e5 = 10; 3/20000e5 = 15; 0; B 2020 pop 0 → NaN
        "homicide_rate": [10.0, 15.0, 0.0, np.nan],
        # burglaries / population × 1e3: 30/20 = 1.5; 24/20 = 1.2; 10/5 = 2
        "burglary_rate": [1.5, 1.2, 2.0, np.nan],
        # (homicides + burglaries) / area, area 5e6 m² = 5 km², 2e6 m² = 2 km²:
        # 32/5 = 6.4; 27/5 = 5.4; 10/2 = 5; 1/2 = 0.5
        "crime_density": [6.4, 5.4, 5.0, 0.5],
        # green km² × 1e6 / population: 0.4e6/20000 = 20; 0.15e6/5000 = 30
        "green_space_per_capita": [20.0, 20.0, 30.0, np.nan],
        # unemployed / labour force × 100: 9, 11, 200/2500 = 8, 150/2500 = 6
        "unemployment_rate": [9.0, 11.0, 8.0, 6.0],
        # 2 × homicide_rate
        "weighted_homicide_rate": [20.0, 30.0, 0.0, np.nan],
    }
    for column, numbers in expected.items():
        got = frame.loc[rows, column].to_numpy()
        np.testing.assert_allclose(got, numbers, rtol=1e-12, err_msg=column)
    assert values.units["green_space_per_capita"] == "m**2 / inhabitant"


def test_rate_per_inhabitant_vs_per_100000() -> None:
    catalogue = Catalogue(
        [
            indicator("per_1", "homicides / population", "count / inhabitant", RATE_INPUTS),
            indicator(
                "per_1e5", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS
            ),
            indicator("per_1e3", "homicides / population", "1 / (1000 inhabitant)", RATE_INPUTS),
        ]
    )
    data = panel({"homicides": [3.0, 7.0], "population": [1000.0, 250_000.0]}, RATE_INPUTS)
    frame = catalogue.compute(data).frame
    # 3/1000 = 0.003 per inhabitant = 300 per 1e5 = 3 per 1e3; 7/250000 = 2.8e-5 = 2.8 per 1e5
    np.testing.assert_allclose(frame["per_1"], [0.003, 2.8e-5], rtol=1e-12)
    np.testing.assert_allclose(frame["per_1e5"], [300.0, 2.8], rtol=1e-12)
    np.testing.assert_allclose(frame["per_1e3"], [3.0, 0.028], rtol=1e-12)


def test_area_m2_vs_km2() -> None:
    units = {"green": "km**2", "population": "inhabitant"}
    catalogue = Catalogue(
        [
            indicator("m2", "green / population", "m**2 / inhabitant", units),
            indicator("km2", "green / population", "km**2 / inhabitant", units),
            indicator("ha", "green / population", "ha / (1000 inhabitant)", units),
        ]
    )
    frame = catalogue.compute(panel({"green": [2.0], "population": [40_000.0]}, units)).frame
    # 2 km² / 40 000 = 5e-5 km² = 50 m² per inhabitant; 5e-5 km² = 5e-3 ha, × 1000 = 5 ha
    np.testing.assert_allclose(frame["km2"], [5e-5], rtol=1e-12)
    np.testing.assert_allclose(frame["m2"], [50.0], rtol=1e-12)
    np.testing.assert_allclose(frame["ha"], [5.0], rtol=1e-12)


def test_fraction_vs_percent() -> None:
    units = {"victims": "person", "respondents": "person"}
    catalogue = Catalogue(
        [
            indicator("as_fraction", "victims / respondents", "fraction", units),
            indicator("as_percent", "victims / respondents", "percent", units),
            indicator("as_permille", "victims / respondents", "permille", units),
        ]
    )
    data = panel({"victims": [25.0, 1.0], "respondents": [200.0, 8.0]}, units)
    frame = catalogue.compute(data).frame
    # 25/200 = 0.125 = 12.5 % = 125 ‰; 1/8 = 0.125 as well
    np.testing.assert_allclose(frame["as_fraction"], [0.125, 0.125], rtol=1e-12)
    np.testing.assert_allclose(frame["as_percent"], [12.5, 12.5], rtol=1e-12)
    np.testing.assert_allclose(frame["as_permille"], [125.0, 125.0], rtol=1e-12)


def test_panel_units_are_converted_to_the_declared_input_units() -> None:
    catalogue = Catalogue(
        [
            indicator("rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS),
            indicator(
                "density",
                "homicides / area",
                "count / km**2",
                {"homicides": "count", "area": "km**2"},
            ),
        ]
    )
    # population given in thousands, area in hectares
    data = panel(
        {"homicides": [3.0], "population": [20.0], "area": [500.0]},
        {"homicides": "count", "population": "1000 inhabitant", "area": "ha"},
    )
    frame = catalogue.compute(data).frame
    # 3 / 20 000 × 1e5 = 15; 500 ha = 5 km², 3 / 5 = 0.6
    np.testing.assert_allclose(frame["rate"], [15.0], rtol=1e-12)
    np.testing.assert_allclose(frame["density"], [0.6], rtol=1e-12)


def test_constants_with_units() -> None:
    # harm weight 2 day/offence; 2 × 3 offences / 1000 inhabitants = 0.006 day/inhabitant
    # = 6 day / (1000 inhabitant)
    catalogue = Catalogue(
        [
            indicator(
                "harm",
                "w * homicides / population",
                "day / (1000 inhabitant)",
                RATE_INPUTS,
                {"w": {"value": 2, "unit": "day / offence"}},
            )
        ]
    )
    data = panel({"homicides": [3.0], "population": [1000.0]}, RATE_INPUTS)
    np.testing.assert_allclose(catalogue.compute(data).frame["harm"], [6.0], rtol=1e-12)


def test_mixed_scaled_units_inside_a_formula_are_converted() -> None:
    # Two dependencies in different scaled units: total = hr + br, declared per 1e5.
    # hr = 3 / 1000 × 1e5 = 300 per 1e5; br = 5 / 1000 × 1e3 = 5 per 1e3 = 500 per 1e5.
    # total = 300 + 500 = 800 per 1e5 (not 300 + 5 = 305).
    catalogue = Catalogue(
        [
            indicator(
                "hr", "h / pop", "count / (100000 inhabitant)", {"h": "count", "pop": "inhabitant"}
            ),
            indicator(
                "br", "b / pop", "count / (1000 inhabitant)", {"b": "count", "pop": "inhabitant"}
            ),
            indicator("total", "hr + br", "count / (100000 inhabitant)"),
        ]
    )
    data = panel(
        {"h": [3.0], "b": [5.0], "pop": [1000.0]},
        {"h": "count", "b": "count", "pop": "inhabitant"},
    )
    frame = catalogue.compute(data).frame
    np.testing.assert_allclose(frame["br"], [5.0], rtol=1e-12)
    np.testing.assert_allclose(frame["total"], [800.0], rtol=1e-12)


def test_mixed_area_units_inside_a_formula_are_converted() -> None:
    # green (km²) / (built (m²) + green (km²)) in percent: 1 km² = 1e6 m², so
    # 1e6 / (1e6 + 1e6) = 50 % (not 1 / (1e6 + 1) × 1e8 ≈ 99.9999 %)
    catalogue = Catalogue(
        [
            indicator(
                "green_share",
                "green / (built + green)",
                "percent",
                {"green": "km**2", "built": "m**2"},
            )
        ]
    )
    data = panel({"green": [1.0], "built": [1e6]}, {"green": "km**2", "built": "m**2"})
    np.testing.assert_allclose(catalogue.compute(data).frame["green_share"], [50.0], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# computing: audit of values that cannot be computed
# --------------------------------------------------------------------------------------------
def test_zero_population_gives_nan_and_an_audit_row() -> None:
    catalogue = Catalogue(
        [indicator("rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS)]
    )
    data = panel({"homicides": [2.0, 1.0], "population": [1000.0, 0.0]}, RATE_INPUTS)
    values = catalogue.compute(data)  # no exception
    np.testing.assert_allclose(values.frame["rate"], [200.0, np.nan])  # 2/1000 × 1e5 = 200
    assert len(values.audit) == 1
    row = values.audit.iloc[0]
    assert (row["entity"], row["period"], row["indicator"]) == ("e1", 0, "rate")
    assert "division by zero" in row["reason"]
    assert list(values.audit.columns) == ["entity", "period", "indicator", "reason"]


def test_audit_of_missing_input_and_unavailable_dependency() -> None:
    catalogue = Catalogue(
        [
            indicator("rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS),
            indicator("double", "2 * rate", "count / (100000 inhabitant)"),
            indicator(
                "log_pop",
                "log(population / reference)",
                "dimensionless",
                {"population": "inhabitant"},
                {"reference": {"value": 1, "unit": "inhabitant"}},
            ),
        ]
    )
    data = panel({"homicides": [1.0, np.nan, 0.0], "population": [100.0, 100.0, 0.0]}, RATE_INPUTS)
    values = catalogue.compute(data)
    audit = values.audit.set_index(["entity", "indicator"])["reason"]
    assert audit[("e1", "rate")] == "missing input 'homicides'"
    assert "division by zero" in audit[("e2", "rate")]  # 0 / 0
    assert audit[("e1", "double")] == "indicator 'rate' not available"
    assert audit[("e2", "double")] == "indicator 'rate' not available"
    assert "log of a non-positive value" in audit[("e2", "log_pop")]
    assert ("e0", "rate") not in audit.index
    # 3 NaN rows out of 9 values: e1 rate, e2 rate, e1 double, e2 double, e2 log_pop → 5
    assert len(values.audit) == 5
    assert int(values.frame.isna().sum().sum()) == 5


def test_no_audit_rows_when_everything_is_computed() -> None:
    catalogue = Catalogue([indicator("x_copy", "x", "count", {"x": "count"})])
    values = catalogue.compute(panel({"x": [1.0, 2.0]}, {"x": "count"}))
    assert values.audit.empty
    assert list(values.audit.columns) == ["entity", "period", "indicator", "reason"]


# --------------------------------------------------------------------------------------------
# select, variables, compute errors
# --------------------------------------------------------------------------------------------
def test_select_pulls_dependencies(fixtures_dir: Path) -> None:
    catalogue = Catalogue.load(fixtures_dir / "catalogue")
    selected = catalogue.select(["weighted_homicide_rate"])
    assert list(selected) == ["homicide_rate", "weighted_homicide_rate"]
    assert selected.location("homicide_rate") == catalogue.location("homicide_rate")
    with pytest.raises(SpecError, match=r"no indicator .nope."):
        catalogue.select(["nope"])


def test_compute_only_selected_indicators(fixtures_dir: Path, small_panel: Panel) -> None:
    catalogue = Catalogue.load(fixtures_dir / "catalogue")
    values = catalogue.compute(small_panel, indicators=["weighted_homicide_rate"])
    assert list(values.frame.columns) == ["homicide_rate", "weighted_homicide_rate"]


def test_variables(fixtures_dir: Path) -> None:
    assert Catalogue.load(fixtures_dir / "catalogue").variables() == {
        "homicides": {"count"},
        "population": {"inhabitant"},
        "burglaries": {"count"},
        "area": {"km**2"},
        "green_area": {"km**2"},
        "unemployed": {"person"},
        "labour_force": {"person"},
    }


def test_variables_lists_every_declared_unit() -> None:
    catalogue = Catalogue(
        [
            indicator("a", "x", "count", {"x": "count"}),
            indicator("b", "x / 1000", "count", {"x": "1000 count"}),
        ]
    )
    assert catalogue.variables() == {"x": {"count", "1000 count"}}


def test_compute_missing_variable_names_it_and_its_indicators(fixtures_dir: Path) -> None:
    catalogue = Catalogue.load(fixtures_dir / "catalogue")
    data = panel({"homicides": [1.0]}, {"homicides": "count"})
    with pytest.raises(DataError) as info:
        catalogue.compute(data, indicators=["homicide_rate"])
    message = str(info.value)
    assert "'population' (needed by homicide_rate)" in message
    assert "Available: homicides" in message


def test_compute_panel_unit_that_does_not_convert(fixtures_dir: Path) -> None:
    catalogue = Catalogue.load(fixtures_dir / "catalogue")
    data = panel(
        {"homicides": [1.0], "population": [3.0]}, {"homicides": "count", "population": "km**2"}
    )
    with pytest.raises(UnitError, match="variable 'population' for indicator 'homicide_rate'"):
        catalogue.compute(data, indicators=["homicide_rate"])


def test_compute_needs_a_panel(fixtures_dir: Path, small_frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"Panel\.from_frame"):
        Catalogue.load(fixtures_dir / "catalogue").compute(small_frame)


def test_indicator_values_to_csv(tmp_path: Path) -> None:
    catalogue = Catalogue([indicator("x_copy", "x", "count", {"x": "count"})])
    values = catalogue.compute(panel({"x": [1.5, 2.0]}, {"x": "count"}))
    assert isinstance(values, IndicatorValues)
    values.to_csv(tmp_path / "v.csv")
    assert (tmp_path / "v.csv").read_text().splitlines() == [
        "entity,period,x_copy",
        "e0,0,1.5",
        "e1,0,2.0",
    ]


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------
_HOMICIDE = Catalogue(
    [
        indicator(
            "homicide_rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS
        )
    ]
)
_SHARE_INPUTS = {"part": "count", "whole": "count"}
_SHARES = Catalogue(
    [
        indicator("share_fraction", "part / whole", "fraction", _SHARE_INPUTS),
        indicator("share_percent", "part / whole", "percent", _SHARE_INPUTS),
    ]
)


def _trusted_panel(columns: Mapping[str, np.ndarray], units: Mapping[str, str]) -> Panel:
    """A panel built with the plain constructor (no validation): fast, for property tests."""
    n = len(next(iter(columns.values())))
    index = pd.MultiIndex.from_arrays(
        [[f"e{i}" for i in range(n)], np.zeros(n, dtype=np.int64)], names=["entity", "period"]
    )
    return Panel(pd.DataFrame(dict(columns), index=index), units)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**6),
            st.floats(min_value=1.0, max_value=1e9, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_homicide_rate_property(rows: list[tuple[int, float]]) -> None:
    counts = np.array([r[0] for r in rows], dtype=np.float64)
    population = np.array([r[1] for r in rows], dtype=np.float64)
    data = _trusted_panel({"homicides": counts, "population": population}, RATE_INPUTS)
    values = _HOMICIDE.compute(data)
    np.testing.assert_allclose(
        values.frame["homicide_rate"].to_numpy(), counts / population * 1e5, rtol=1e-12
    )
    assert values.audit.empty


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
            st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_percent_is_exactly_100_times_fraction(rows: list[tuple[float, float]]) -> None:
    data = _trusted_panel(
        {"part": np.array([r[0] for r in rows]), "whole": np.array([r[1] for r in rows])},
        _SHARE_INPUTS,
    )
    frame = _SHARES.compute(data).frame
    np.testing.assert_array_equal(
        frame["share_percent"].to_numpy(), frame["share_fraction"].to_numpy() * 100.0
    )


# --------------------------------------------------------------------------------------------
# non-finite values are explained (issue #15)
# --------------------------------------------------------------------------------------------
def test_overflow_of_the_unit_factor_is_audited() -> None:
    # 1e304 per inhabitant is finite; per 100 000 inhabitants it is 1e309, past float64
    catalogue = Catalogue(
        [indicator("rate", "homicides / population", "count / (100000 inhabitant)", RATE_INPUTS)]
    )
    values = catalogue.compute(
        panel({"homicides": [1e304, 5.0], "population": [1.0, 1000.0]}, RATE_INPUTS)
    )
    assert np.isnan(values.frame["rate"].iloc[0])
    assert values.frame["rate"].iloc[1] == pytest.approx(500.0)
    (reason,) = values.audit["reason"]
    assert reason == "overflow (value too large) in count / (100000 inhabitant)"


def test_an_all_missing_indicator_is_reported() -> None:
    catalogue = Catalogue(
        [
            indicator("rate", "homicides / population", "count / inhabitant", RATE_INPUTS),
            indicator("copy", "homicides", "count", {"homicides": "count"}),
        ]
    )
    values = catalogue.compute(
        panel({"homicides": [1.0, 2.0], "population": [0.0, 0.0]}, RATE_INPUTS)
    )
    assert values.all_missing == ["rate"]
    assert len(values.audit) == 2 and values.audit["reason"].str.contains("zero").all()
