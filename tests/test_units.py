"""Tests of securindex.units: the registry, unit parsing, scales and conversion factors."""

from __future__ import annotations

import math
import re
import time

import pint
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securindex.errors import UnitError
from securindex.units import (
    MAX_UNIT_EXPONENT,
    MAX_UNIT_LENGTH,
    ScaledUnit,
    as_scaled_unit,
    conversion_factor,
    dimensionless,
    format_dimensionality,
    is_dimensionless,
    parse_unit,
    registry,
)


def test_registry_is_built_once() -> None:
    assert registry() is registry()
    assert isinstance(registry(), pint.UnitRegistry)


def test_import_builds_no_registry() -> None:
    # a fresh interpreter importing securindex.units must not build the registry
    import subprocess
    import sys

    code = (
        "import securindex.units as u, sys; sys.exit(1 if u.registry.cache_info().currsize else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- the project units -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "dimensionality"),
    [
        ("inhabitant", "[population]"),
        ("person", "[population]"),
        ("persons", "[population]"),
        ("people", "[population]"),
        ("resident", "[population]"),
        ("inhabitants", "[population]"),
        ("capita", "[population]"),
        ("household", "[household]"),
        ("dwelling", "[dwelling]"),
        ("count", "dimensionless"),
        ("incident", "dimensionless"),
        ("offences", "dimensionless"),
        ("event", "dimensionless"),
        ("crime", "dimensionless"),
        ("score", "dimensionless"),
        ("percent", "dimensionless"),
        ("%", "dimensionless"),
        ("permille", "dimensionless"),
        ("km**2", "[length]^2"),
        ("ha", "[length]^2"),
        ("m**2", "[length]^2"),
        ("mile**2", "[length]^2"),
        ("ug/m**3", "[mass] [length]^-3"),
        ("µg/m³", "[mass] [length]^-3"),
        ("minute", "[time]"),
        ("year", "[time]"),
        ("USD", "[currency_USD]"),
        ("EUR", "[currency_EUR]"),
        ("GBP", "[currency_GBP]"),
        ("EUR / capita", "[currency_EUR] [population]^-1"),
    ],
)
def test_project_units_have_the_expected_dimension(text: str, dimensionality: str) -> None:
    assert parse_unit(text).dimensionality == dimensionality


def test_aliases_are_the_same_unit() -> None:
    assert parse_unit("people") == parse_unit("inhabitant")
    assert parse_unit("crimes") == parse_unit("count")
    assert parse_unit("incident") == parse_unit("count")
    # dataset.py relies on aliases reading back as their canonical name
    assert str(parse_unit("offence").unit) == "count"
    assert str(parse_unit("residents").unit) == "inhabitant"


def test_homicides_per_population_is_per_inhabitant() -> None:
    rate = parse_unit("crime") / parse_unit("inhabitant")
    assert rate.dimensionality == "[population]^-1"


def test_currencies_never_convert_into_each_other() -> None:
    with pytest.raises(UnitError, match=r"\[currency_USD\].*\[currency_EUR\]"):
        conversion_factor(parse_unit("USD"), parse_unit("EUR"))


def test_households_are_not_inhabitants() -> None:
    with pytest.raises(UnitError):
        conversion_factor(parse_unit("count / household"), parse_unit("count / inhabitant"))


# -- scales ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "count / (100000 inhabitant)",
        "1 / (100000 inhabitant)",
        "count / (1e5 inhabitant)",
        "count/(100000*inhabitant)",
        "count / 100000 / inhabitant",
    ],
)
def test_rate_per_100000_inhabitants(text: str) -> None:
    unit = parse_unit(text)
    assert unit.scale == pytest.approx(1e-5, rel=1e-15)
    assert unit.dimensionality == "[population]^-1"
    assert unit.text == text


def test_readable_form() -> None:
    assert str(parse_unit("count / (1e5 inhabitant)")) == "count / (100000 inhabitant)"
    assert str(parse_unit("1/(1000 inhabitant * year)")) == "1 / (1000 inhabitant * year)"
    assert str(parse_unit("inhabitant")) == "inhabitant"
    assert str(parse_unit("km**2")) == "km**2"
    assert str(parse_unit("ug/m**3")) == "µg / m**3"
    assert str(parse_unit("1000 m")) == "1000 m"
    assert str(dimensionless()) == "dimensionless"


def test_ambiguous_denominator_is_rejected() -> None:
    # pint reads "count / 100000 inhabitant" as (count / 100000) * inhabitant
    with pytest.raises(UnitError, match=r"count / \(100000 inhabitant\)"):
        parse_unit("count / 100000 inhabitant")
    with pytest.raises(UnitError, match="ambiguous"):
        parse_unit("count per 100000 inhabitants")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inhabitnt", "did you mean 'inhabitant'"),
        ("km2", "did you mean 'km\\*\\*2'"),
        ("houshold", "'household'"),
        ("zzqxw", "unknown unit 'zzqxw'"),
    ],
)
def test_unknown_unit_names_it_and_suggests(text: str, expected: str) -> None:
    with pytest.raises(UnitError, match=expected) as info:
        parse_unit(text)
    assert text in str(info.value)


@pytest.mark.parametrize("text", ["", "   ", "km + m", "-1 km", "0 km", "((km", "degC / km"])
def test_invalid_units(text: str) -> None:
    with pytest.raises(UnitError):
        parse_unit(text)


def test_unit_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_unit("nonsense_unit_name")


# -- conversion factors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        ("km**2", "m**2", 1e6),
        ("ha", "m**2", 1e4),
        ("km**2", "ha", 100.0),
        ("mile**2", "km**2", 2.589988110336),  # 1 mile = 1.609344 km exactly; squared
        ("fraction", "percent", 100.0),
        ("fraction", "permille", 1000.0),
        ("percent", "permille", 10.0),
        ("count", "dimensionless", 1.0),
        # 1 per inhabitant = 100 000 per 100 000 inhabitants
        ("1 / inhabitant", "count / (100000 inhabitant)", 1e5),
        # 3 per 1000 = 300 per 100 000
        ("count / (1000 inhabitant)", "count / (100000 inhabitant)", 100.0),
        ("minute", "second", 60.0),
        ("year", "day", 365.25),
        ("ug/m**3", "µg/m³", 1.0),
        ("count / km**2", "count / ha", 0.01),
    ],
)
def test_conversion_factor_hand_computed(source: str, target: str, factor: float) -> None:
    assert conversion_factor(parse_unit(source), parse_unit(target)) == pytest.approx(
        factor, rel=1e-12
    )


def test_scale_noise_is_removed() -> None:
    # 1 / 1e-5 is 99999.99999999999 in floating point; the factor is exactly 100000
    assert conversion_factor(parse_unit("1/inhabitant"), parse_unit("1/(1e5 inhabitant)")) == 1e5


def test_incompatible_units_show_both_units_and_dimensions() -> None:
    with pytest.raises(UnitError) as info:
        conversion_factor(parse_unit("count / km**2"), parse_unit("count / (100000 inhabitant)"))
    message = str(info.value)
    assert "count / km**2 ([length]^-2)" in message
    assert "count / (100000 inhabitant) ([population]^-1)" in message


def test_offset_units_are_not_converted_by_a_factor() -> None:
    assert conversion_factor(parse_unit("degC"), parse_unit("degC")) == 1.0
    with pytest.raises(UnitError, match="offset"):
        conversion_factor(parse_unit("degC"), parse_unit("kelvin"))


def test_scaled_unit_arithmetic_carries_the_scale() -> None:
    rate = parse_unit("count") / parse_unit("1000 inhabitant")
    assert rate == parse_unit("count / (1000 inhabitant)")
    assert rate.scale == pytest.approx(1e-3)
    area = parse_unit("km") ** 2
    assert area == parse_unit("km**2")
    assert (parse_unit("km**2") ** 0.5) == parse_unit("km")
    assert (parse_unit("inhabitant") * parse_unit("1/inhabitant")).dimensionless


def test_scaled_unit_checks_its_scale() -> None:
    with pytest.raises(UnitError):
        ScaledUnit(0.0, registry().meter)
    with pytest.raises(UnitError):
        ScaledUnit(math.inf, registry().meter)


def test_helpers() -> None:
    assert is_dimensionless("percent")
    assert is_dimensionless(parse_unit("km / m"))
    assert not is_dimensionless(registry().inhabitant)
    assert as_scaled_unit("km") == parse_unit("km")
    unit = parse_unit("ha")
    assert as_scaled_unit(unit) is unit
    assert format_dimensionality(parse_unit("EUR / capita")) == "[currency_EUR] [population]^-1"
    assert format_dimensionality(dimensionless()) == "dimensionless"
    assert parse_unit("km").text == "km"
    # the text is for messages only
    assert parse_unit("kilometer") == parse_unit("km")


# -- properties --------------------------------------------------------------------------------
_FAMILIES = [
    ["m**2", "km**2", "ha", "mile**2", "1000 m**2"],
    ["fraction", "percent", "permille", "dimensionless", "count", "1e-6"],
    [
        "1/inhabitant",
        "count / (100000 inhabitant)",
        "count / (1000 inhabitant)",
        "crime / (1e4 people)",
    ],
    ["ug/m**3", "mg/m**3", "µg/m³", "g / (1000 m**3)"],
    ["minute", "year", "hour", "day"],
]
_pairs = st.sampled_from(_FAMILIES).flatmap(
    lambda family: st.tuples(st.sampled_from(family), st.sampled_from(family))
)


@settings(deadline=None)  # the first example may build the unit registry
@given(_pairs)
def test_conversion_round_trip(pair: tuple[str, str]) -> None:
    a, b = (parse_unit(text) for text in pair)
    there, back = conversion_factor(a, b), conversion_factor(b, a)
    assert there * back == pytest.approx(1.0, rel=1e-12)


@settings(deadline=None)  # the first example may build the unit registry
@given(_pairs, st.sampled_from([u for family in _FAMILIES for u in family]))
def test_conversion_chains(pair: tuple[str, str], third: str) -> None:
    a, b = (parse_unit(text) for text in pair)
    c = parse_unit(third)
    if not b.is_compatible_with(c):
        with pytest.raises(UnitError):
            conversion_factor(b, c)
        return
    direct = conversion_factor(a, c)
    assert conversion_factor(a, b) * conversion_factor(b, c) == pytest.approx(direct, rel=1e-12)


@settings(deadline=None)  # the first example may build the unit registry
@given(
    st.sampled_from([u for family in _FAMILIES for u in family] + ["EUR / capita", "USD"]),
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
)
def test_readable_form_reads_back(text: str, scale: float) -> None:
    unit = ScaledUnit(scale, parse_unit(text).unit)
    again = parse_unit(str(unit))
    assert again.unit == unit.unit
    assert again.scale == pytest.approx(unit.scale, rel=1e-12)


# -- limits on numbers inside unit texts (issue #15) -------------------------------------------
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("9**9**9 count", "power 387420489 in the unit"),  # exact: a 370-million-digit integer
        ("10**10**10 count", "power 10000000000 in the unit"),
        ("count / m**17", "power 17 in the unit"),
        ("count * m**(-20)", "power -20 in the unit"),
        ("(((((9**16)**16)**16)**16)**16) count", "too large"),
        ("1e400 count", "positive finite"),
        ("count / (" + "1" * 400 + " inhabitant)", "too long"),
    ],
)
def test_huge_numbers_in_a_unit_are_refused_at_once(text: str, match: str) -> None:
    registry()  # built outside the timing
    started = time.perf_counter()
    with pytest.raises(UnitError, match=re.escape(match)):
        parse_unit(text)
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("text", "scale"),
    [("9**9 count", 387420489.0), ("m**16", 1.0), ("count / (10**5 inhabitant)", 1e-5)],
)
def test_numbers_within_the_limits_are_read(text: str, scale: float) -> None:
    assert parse_unit(text).scale == scale


def test_unit_limits_are_public() -> None:
    assert (MAX_UNIT_EXPONENT, MAX_UNIT_LENGTH) == (16, 200)
