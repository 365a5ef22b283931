"""Tests of securindex.formula: parsing, error locations, unit inference and evaluation."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import securindex.formula as formula_module
from securindex.errors import DataError, FormulaError, UnitError
from securindex.formula import (
    FUNCTIONS,
    BinOp,
    Call,
    Compare,
    Formula,
    FormulaUnitError,
    Name,
    Number,
    PanelLayout,
    parse_formula,
)
from securindex.units import conversion_factor, parse_unit

# =============================================================================================
# Parsing
# =============================================================================================
# Each bad formula marks with «…» the span the error must point at (patsy's habit, with
# guillemets so that comparisons < > stay usable inside formulas).
BAD_FORMULAS = [
    ("population.«__class__»", "attribute access"),
    ("x.«y»(1)", "attribute access"),
    ("«__import__»('os')", "not an allowed function"),
    ("«open»(x)", "not an allowed function"),
    ("«eval»(x)", "not an allowed function"),
    ("«x»(1)", "not an allowed function"),
    ("«sum»(x for x in y)", "not an allowed function"),
    ("x«[0]»", "subscripts"),
    ("é + x«[0]»", "subscripts"),  # offsets are characters, not UTF-8 bytes
    ("populaçion.«real»", "attribute access"),
    ("x\n + y«[1]»", "subscripts"),  # a line break counts as one character
    ("«lambda: 1»", "lambda"),
    ("1 + «[x for x in y]»", "comprehensions"),
    ("«{k: 1 for k in y}»", "comprehensions"),
    ("log(x, «base=2»)", "keyword arguments"),
    ("max(«*xs»)", "starred"),
    ("«'a'» + x", "text in quotes"),
    ("«f'{x}'»", "f-strings"),
    ("(«y := 2»)", "assignments"),
    ("«(a, b)»", "tuples"),
    ("«[a, b]»", "lists"),
    ("«{a: b}»", "dictionaries"),
    ("«{a}»", "sets"),
    ("«a if c else b»", "use where"),
    ("x «^» 2", "use \\*\\* for powers"),
    ("x «//» 2", "floor division"),
    ("x «%» 2", "modulo"),
    ("a «&» b", "use 'and'"),
    ("«~»x", "'not'"),
    ("«_x» + 1", "underscore"),
    ("«True» + x", "'True' is not allowed"),
    ("«1j» * x", "complex"),
    ("«1e999» * x", "too large"),
    ("«log» + 1", "is a function"),
    ("x «#» note", "comments"),
    ("«x is None»", "'is' is not allowed"),
    ("where(«x», a, b)", "must be a condition"),
    ("where(x > 0, «a > 1», b)", "true/false"),
    ("«x > 0»", "true/false"),
    ("(«x > 0») + 1", "true/false"),
    ("x > 0 and «y»", "must be a condition"),
    ("lag(x, «0»)", "positive whole number"),
    ("lag(x, «1.5»)", "positive whole number"),
    ("mean_over(x, «k»)", "positive whole number"),
    ("«log(x, y)»", "takes 1 argument, got 2"),
    ("«min(x)»", "at least 2"),
    ("«clip(x, 1)»", "takes 3 arguments"),
    ("«2»x", "write 2 \\* x"),
    ("(«(»a", "never closed"),  # Python points at the innermost unclosed parenthesis
    ("a«)»", "unmatched"),
]


def _unmark(marked: str) -> tuple[str, int, int]:
    start = marked.index("«")
    end = marked.index("»") - 1
    return marked.replace("«", "").replace("»", ""), start, end


@pytest.mark.parametrize(("marked", "message"), BAD_FORMULAS)
def test_bad_formulas_point_at_the_fault(marked: str, message: str) -> None:
    text, start, end = _unmark(marked)
    with pytest.raises(FormulaError, match=message) as info:
        parse_formula(text)
    assert (info.value.start, info.value.end) == (start, end), str(info.value)


def test_error_message_shows_carets() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("population.__class__")
    assert str(info.value).splitlines()[1:] == [
        "    population.__class__",
        "               ^^^^^^^^^",
    ]


def test_formula_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_formula("__import__('os').system('echo hacked')")


def test_length_and_depth_are_capped() -> None:
    with pytest.raises(FormulaError, match="too long"):
        parse_formula("x+" * 1001 + "x")
    with pytest.raises(FormulaError, match="nests"):
        parse_formula("-" * 300 + "x")
    with pytest.raises(FormulaError):
        parse_formula("(" * 300 + "x" + ")" * 300)
    parse_formula("-" * 150 + "x")  # within the cap


@pytest.mark.parametrize("text", ["", "   ", "a +"])
def test_incomplete_formulas(text: str) -> None:
    with pytest.raises(FormulaError):
        parse_formula(text)


def test_undeclared_name_with_suggestion() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("homicide / population", allowed_names=["homicides", "population"])
    error = info.value
    assert (error.start, error.end) == (0, 8)
    assert error.message == (
        "unknown name 'homicide'; declared: homicides, population — did you mean 'homicides'?"
    )


def test_first_undeclared_name_in_source_order() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("a + log(zz) + b", allowed_names=["a"])
    assert (info.value.start, info.value.end) == (8, 10)


def test_tree_names_and_spans() -> None:
    f = parse_formula("where(population > 0, homicides / population, 0)")
    assert f.names == frozenset({"homicides", "population"})
    assert f.functions == frozenset({"where"})
    assert f.name_span("population") == (6, 16)
    assert f.name_span("homicides") == (22, 31)
    assert isinstance(f.root, Call)
    condition, value, default = f.root.args
    assert isinstance(condition, Compare)
    assert isinstance(value, BinOp)
    assert value.op == "/"
    assert isinstance(default, Number)
    assert f.source(value) == "homicides / population"
    with pytest.raises(KeyError):
        f.name_span("area")


def test_nodes_are_frozen_and_comparable() -> None:
    a, b = parse_formula("x + 1"), parse_formula("x + 1")
    assert a == b
    assert a.root == BinOp(0, 5, "+", Name(0, 1, "x"), Number(4, 5, 1.0))
    with pytest.raises(AttributeError):
        a.root.start = 3  # type: ignore[misc]


def test_allowed_constructs_parse() -> None:
    text = (
        "clip(-x + +y * 2 ** 3 / z, 0, 100) + abs(log(a) - log10(b)) + exp(c) + sqrt(d)"
        " + min(a, b, c) + max(a, b) + where(x >= 1 and not y < 2 or z != 3, a, b)"
        " + where(0 < x <= 10, lag(x, 1), mean_over(x, 3))"
    )
    f = parse_formula(text)
    assert f.names == frozenset("xyzabcd")
    assert f.uses_panel


def test_functions_table_is_read_only() -> None:
    assert set(FUNCTIONS) == {
        "log",
        "log10",
        "exp",
        "sqrt",
        "abs",
        "min",
        "max",
        "round",
        "clip",
        "where",
        "lag",
        "mean_over",
        "spatial_lag",
        "within",
    }
    with pytest.raises(TypeError):
        FUNCTIONS["eval"] = "no"  # type: ignore[index]


def test_the_module_never_evaluates_code() -> None:
    tree = ast.parse(inspect.getsource(formula_module))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__", "getattr"}


# =============================================================================================
# Units
# =============================================================================================
UNITS = {
    "homicides": "count",
    "population": "inhabitant",
    "area": "km**2",
    "area_m2": "m**2",
    "area_km2": "km**2",
    "share_pct": "percent",
    "share": "fraction",
    "pm25": "ug/m**3",
    "pm25_ref": "ug/m**3",
    "x": "dimensionless",
    "k": "km",
}


def test_rate_per_100000_inhabitants() -> None:
    f = parse_formula("homicides / population")
    inferred = f.infer_unit(UNITS)
    assert inferred == parse_unit("count / inhabitant")
    declared = parse_unit("count / (100000 inhabitant)")
    # 12 homicides / 300 000 inhabitants = 4e-5 per inhabitant = 4 per 100 000
    values = f.evaluate({"homicides": 12.0, "population": 300_000.0}, units=UNITS).values
    assert values * conversion_factor(inferred, declared) == pytest.approx([4.0])


def test_inference_carries_scale_factors() -> None:
    f = parse_formula("homicides / population")
    unit = f.infer_unit({"homicides": "count", "population": "1000 inhabitant"})
    assert unit == parse_unit("count / (1000 inhabitant)")
    assert unit.scale == pytest.approx(1e-3)


def test_rate_computed_as_count_per_area_cannot_be_declared_per_inhabitant() -> None:
    inferred = parse_formula("homicides / area").infer_unit(UNITS)
    with pytest.raises(UnitError) as info:
        conversion_factor(inferred, parse_unit("count / (100000 inhabitant)"))
    message = str(info.value)
    assert "[length]^-2" in message
    assert "count / (100000 inhabitant) ([population]^-1)" in message


def test_cannot_add_people_and_area() -> None:
    with pytest.raises(FormulaUnitError) as info:
        parse_formula("1 + (population + area) * 2").infer_unit(UNITS)
    error = info.value
    assert isinstance(error, UnitError)
    assert "cannot add inhabitant and km**2" in error.message
    assert "[population]" in error.message
    assert "[length]^2" in error.message
    assert (error.start, error.end) == (5, 22)
    assert str(error).splitlines()[2] == "         " + "^" * 17


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("population > 0", None),  # boolean roots are parse errors, checked elsewhere
        ("where(population > 0, homicides / population, 0)", "count / inhabitant"),
        ("x - 1", "dimensionless"),
        ("area_m2 + area_km2", "m**2"),
        ("area_km2 + area_m2", "km**2"),
        ("max(area_m2, area_km2, 0)", "m**2"),
        ("clip(area, 0, 10)", "km**2"),
        ("2 * area", "km**2"),
        ("area / 2", "km**2"),
        ("area ** 2", "km**4"),
        ("area ** -1", "1 / km**2"),
        ("area ** (1 / 2)", "km"),
        ("sqrt(area)", "km"),
        ("abs(-area)", "km**2"),
        ("log(pm25 / pm25_ref)", "dimensionless"),
        ("exp(x) + log10(share)", "dimensionless"),
        ("x ** x", "dimensionless"),
        ("share_pct - share", "percent"),
        ("lag(area, 1) - area", "km**2"),
        ("mean_over(homicides, 3) / population", "count / inhabitant"),
        ("1 + 2", "dimensionless"),
    ],
)
def test_unit_rules(text: str, unit: str | None) -> None:
    if unit is None:
        with pytest.raises(FormulaError):
            parse_formula(text)
        return
    assert parse_formula(text).infer_unit(UNITS) == parse_unit(unit)


@pytest.mark.parametrize(
    ("text", "message", "marked"),
    [
        ("population - area", "cannot subtract", "«population - area»"),
        ("where(population > area, 1, 0)", "cannot compare", "where(«population > area», 1, 0)"),
        ("max(area, population)", "max\\(\\)", "«max(area, population)»"),
        ("where(x > 0, area, population)", "where\\(\\)", "«where(x > 0, area, population)»"),
        ("log(population)", "dimensionless argument", "log(«population»)"),
        ("exp(area)", "reference value", "exp(«area»)"),
        ("area ** x", "raised to a number", "«area ** x»"),
        ("x ** area", "exponent", "x ** «area»"),
        ("x + unknown", "no unit given", "x + «unknown»"),
    ],
)
def test_unit_errors_point_at_the_fault(text: str, message: str, marked: str) -> None:
    _, start, end = _unmark(marked)
    with pytest.raises(FormulaUnitError, match=message) as info:
        parse_formula(text).infer_unit(UNITS)
    assert (info.value.start, info.value.end) == (start, end)


def test_log_error_suggests_a_constant() -> None:
    with pytest.raises(UnitError, match=r"log\(population / reference\)"):
        parse_formula("log(population)").infer_unit(UNITS)


# =============================================================================================
# Evaluation
# =============================================================================================
def test_hand_computed_evaluation() -> None:
    f = parse_formula("clip(a * 2 - b / 4, 0, 10) + max(a, b) ** 2")
    values = f.evaluate({"a": np.array([1.0, 5.0, -3.0]), "b": np.array([8.0, 4.0, 0.0])}).values
    # row 0: clip(2 - 2, 0, 10) + 8**2 = 0 + 64 = 64
    # row 1: clip(10 - 1, 0, 10) + 5**2 = 9 + 25 = 34
    # row 2: clip(-6 - 0, 0, 10) + 0**2 = 0 + 0 = 0
    np.testing.assert_array_equal(values, [64.0, 34.0, 0.0])
    assert values.dtype == np.float64


def test_constants_broadcast() -> None:
    f = parse_formula("weight * homicides")
    result = f.evaluate({"weight": 2.5, "homicides": np.array([1.0, 2.0])})
    np.testing.assert_array_equal(result.values, [2.5, 5.0])
    assert parse_formula("1 + 2").evaluate({}).values.tolist() == [3.0]


def test_units_are_converted_numerically() -> None:
    f = parse_formula("area_m2 + area_km2")
    result = f.evaluate(
        {"area_m2": np.array([5.0, 0.0]), "area_km2": np.array([1.0, 0.5])}, units=UNITS
    )
    # 5 m² + 1 km² = 5 + 1 000 000 m²; 0 + 0.5 km² = 500 000 m²
    np.testing.assert_array_equal(result.values, [1_000_005.0, 500_000.0])
    assert result.unit == parse_unit("m**2")
    # 30 % - 0.1 = 30 % - 10 % = 20 %
    share = parse_formula("share_pct - share").evaluate(
        {"share_pct": 30.0, "share": 0.1}, units=UNITS
    )
    assert share.values[0] == pytest.approx(20.0)
    # log of a percentage is the log of the pure number: log(50 %) = log(0.5)
    logged = parse_formula("log(share_pct)").evaluate({"share_pct": 50.0}, units=UNITS)
    assert logged.values[0] == pytest.approx(np.log(0.5))
    # comparisons convert too: 1500 m² > 0.001 km² (= 1000 m²)
    chosen = parse_formula("where(area_m2 > area_km2, 1, 0)").evaluate(
        {"area_m2": np.array([1500.0, 500.0]), "area_km2": 0.001}, units=UNITS
    )
    np.testing.assert_array_equal(chosen.values, [1.0, 0.0])


def test_without_units_nothing_is_converted() -> None:
    result = parse_formula("area_m2 + area_km2").evaluate({"area_m2": 5.0, "area_km2": 1.0})
    assert result.values.tolist() == [6.0]
    assert str(result.unit) == "dimensionless"


def test_division_by_zero_is_nan_and_recorded() -> None:
    f = parse_formula("homicides / population")
    result = f.evaluate(
        {"homicides": np.array([3.0, 0.0, 2.0, 1.0]), "population": np.array([10, 0, 0, np.nan])}
    )
    np.testing.assert_array_equal(np.isnan(result.values), [False, True, True, True])
    assert not np.isinf(result.values).any()
    np.testing.assert_array_equal(
        result.problems["division by zero in 'homicides / population'"],
        [False, True, True, False],
    )
    np.testing.assert_array_equal(
        result.problems["missing value of 'population'"], [False, False, False, True]
    )


def test_where_guards_against_division_by_zero() -> None:
    f = parse_formula("where(population > 0, homicides / population, 0)")
    result = f.evaluate({"homicides": np.array([3.0, 1.0]), "population": np.array([10.0, 0.0])})
    np.testing.assert_array_equal(result.values, [0.3, 0.0])
    assert result.problems == {}


def test_function_domains_are_recorded() -> None:
    values = {"x": np.array([4.0, 0.0, -1.0, 1000.0])}
    logged = parse_formula("log(x)").evaluate(values)
    np.testing.assert_allclose(logged.values[[0, 3]], np.log([4.0, 1000.0]))
    np.testing.assert_array_equal(
        logged.problems["log of a non-positive value in 'log(x)'"], [False, True, True, False]
    )
    rooted = parse_formula("sqrt(x)").evaluate(values)
    np.testing.assert_array_equal(rooted.values[:2], [2.0, 0.0])
    np.testing.assert_array_equal(
        rooted.problems["square root of a negative value in 'sqrt(x)'"],
        [False, False, True, False],
    )
    grown = parse_formula("exp(x)").evaluate(values)
    assert np.isnan(grown.values[3])  # e**1000 overflows float64
    assert grown.problems["overflow (value too large) in 'exp(x)'"].tolist() == [
        False,
        False,
        False,
        True,
    ]
    powered = parse_formula("x ** 0.5 + x ** -1").evaluate(values)
    assert powered.values[0] == pytest.approx(2.25)  # 4**0.5 + 1/4
    assert set(powered.problems) == {
        "zero raised to a negative power in 'x ** -1'",
        "negative value raised to a fractional power in 'x ** 0.5'",
    }


def test_infinite_inputs_become_nan() -> None:
    result = parse_formula("x + 1").evaluate({"x": np.array([np.inf, 1.0])})
    assert np.isnan(result.values[0])
    assert result.problems["infinite value of 'x'"].tolist() == [True, False]


def test_logic_is_three_valued() -> None:
    f = parse_formula("where(x > 0 and y > 0, 1, where(x > 0 or y > 0, 2, 3))")
    nan = np.nan
    result = f.evaluate(
        {"x": np.array([1, 1, -1, nan, -1, nan]), "y": np.array([1, -1, -1, 1, nan, -1])}
    )
    # (1,1) both: 1; (1,-1) one: 2; (-1,-1) none: 3; (nan, 1): and unknown, or true → NaN
    # (-1, nan): and false → inner; or unknown → NaN; (nan, -1): and false; or unknown → NaN
    np.testing.assert_array_equal(result.values[:3], [1.0, 2.0, 3.0])
    assert np.isnan(result.values[3:]).all()
    assert parse_formula("where(not x > 0, 1, 0)").evaluate(
        {"x": np.array([1.0, -1.0])}
    ).values.tolist() == [0.0, 1.0]
    chained = parse_formula("where(0 < x <= 10, 1, 0)").evaluate(
        {"x": np.array([0.0, 5.0, 10.0, 11.0])}
    )
    assert chained.values.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_input_validation() -> None:
    f = parse_formula("a + b")
    with pytest.raises(DataError, match="no values for 'b'"):
        f.evaluate({"a": 1.0})
    with pytest.raises(DataError, match="different lengths"):
        f.evaluate({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(DataError, match="not numbers"):
        f.evaluate({"a": np.array(["x", "y"]), "b": 1.0})
    with pytest.raises(DataError, match="one value per row"):
        f.evaluate({"a": np.zeros((2, 2)), "b": 1.0})


# -- panels ------------------------------------------------------------------------------------
# Entity A has periods 0..3 (x = 1, 2, 4, 8); entity B misses period 1 (x = 10, 30, 50 at
# periods 0, 2, 3). Rows are deliberately not sorted.
_ROWS = [("B", 3, 50.0), ("A", 0, 1.0), ("A", 2, 4.0), ("B", 0, 10.0), ("A", 3, 8.0),
         ("B", 2, 30.0), ("A", 1, 2.0)]  # fmt: skip
PANEL = PanelLayout(
    entity_codes=np.array([{"A": 0, "B": 1}[e] for e, _, _ in _ROWS]),
    period_codes=np.array([p for _, p, _ in _ROWS]),
    n_entities=2,
    n_periods=4,
)
X = np.array([x for _, _, x in _ROWS])
nan = np.nan


def _by_row(mapping: dict[tuple[str, int], float]) -> np.ndarray:
    return np.array([mapping[(e, p)] for e, p, _ in _ROWS])


def test_lag_over_a_panel_with_a_gap() -> None:
    result = parse_formula("lag(x, 1)").evaluate({"x": X}, panel=PANEL)
    expected = _by_row({("A", 0): nan, ("A", 1): 1, ("A", 2): 2, ("A", 3): 4,
                        ("B", 0): nan, ("B", 2): nan, ("B", 3): 30})  # fmt: skip
    np.testing.assert_array_equal(result.values, expected)
    np.testing.assert_array_equal(
        result.problems["no value 1 period earlier (lag) in 'lag(x, 1)'"], np.isnan(expected)
    )
    two = parse_formula("lag(x, 2)").evaluate({"x": X}, panel=PANEL).values
    expected_two = _by_row({("A", 0): nan, ("A", 1): nan, ("A", 2): 1, ("A", 3): 2,
                            ("B", 0): nan, ("B", 2): 10, ("B", 3): nan})  # fmt: skip
    np.testing.assert_array_equal(two, expected_two)
    # longer than the panel: nothing earlier
    assert np.isnan(parse_formula("lag(x, 9)").evaluate({"x": X}, panel=PANEL).values).all()


def test_growth_from_the_previous_period() -> None:
    result = parse_formula("(x - lag(x, 1)) / lag(x, 1)").evaluate({"x": X}, panel=PANEL)
    # A: (2-1)/1 = 1, (4-2)/2 = 1, (8-4)/4 = 1; B: only period 3 has period 2: (50-30)/30
    expected = _by_row({("A", 0): nan, ("A", 1): 1, ("A", 2): 1, ("A", 3): 1,
                        ("B", 0): nan, ("B", 2): nan, ("B", 3): 20 / 30})  # fmt: skip
    np.testing.assert_allclose(result.values, expected)


def test_mean_over_needs_all_periods() -> None:
    two = parse_formula("mean_over(x, 2)").evaluate({"x": X}, panel=PANEL)
    # A: (1+2)/2 = 1.5, (2+4)/2 = 3, (4+8)/2 = 6; B: period 2 misses period 1; (30+50)/2 = 40
    expected = _by_row({("A", 0): nan, ("A", 1): 1.5, ("A", 2): 3, ("A", 3): 6,
                        ("B", 0): nan, ("B", 2): nan, ("B", 3): 40})  # fmt: skip
    np.testing.assert_array_equal(two.values, expected)
    reason = "not all of the last 2 periods have a value (mean_over) in 'mean_over(x, 2)'"
    np.testing.assert_array_equal(two.problems[reason], np.isnan(expected))
    three = parse_formula("mean_over(x, 3)").evaluate({"x": X}, panel=PANEL).values
    # A: (1+2+4)/3 = 7/3, (2+4+8)/3 = 14/3; B never has three consecutive periods
    expected_three = _by_row({("A", 0): nan, ("A", 1): nan, ("A", 2): 7 / 3, ("A", 3): 14 / 3,
                              ("B", 0): nan, ("B", 2): nan, ("B", 3): nan})  # fmt: skip
    np.testing.assert_allclose(three, expected_three)
    one = parse_formula("mean_over(x, 1)").evaluate({"x": X}, panel=PANEL).values
    np.testing.assert_array_equal(one, X)


def test_missing_value_inside_the_window() -> None:
    x = X.copy()
    x[[i for i, (e, p, _) in enumerate(_ROWS) if (e, p) == ("A", 1)]] = nan
    result = parse_formula("mean_over(x, 2)").evaluate({"x": x}, panel=PANEL)
    expected = _by_row({("A", 0): nan, ("A", 1): nan, ("A", 2): nan, ("A", 3): 6,
                        ("B", 0): nan, ("B", 2): nan, ("B", 3): 40})  # fmt: skip
    np.testing.assert_array_equal(result.values, expected)
    a1 = _by_row({k: float(k == ("A", 1)) for k in [(e, p) for e, p, _ in _ROWS]}).astype(bool)
    np.testing.assert_array_equal(result.problems["missing value of 'x'"], a1)


def test_panel_functions_need_a_panel() -> None:
    with pytest.raises(FormulaError, match="panel=") as info:
        parse_formula("x - lag(x, 1)").evaluate({"x": X})
    assert (info.value.start, info.value.end) == (4, 13)


def test_bad_panel_layouts() -> None:
    f = parse_formula("lag(x, 1)")
    duplicated = PanelLayout(np.array([0, 0]), np.array([1, 1]), 1, 2)
    with pytest.raises(DataError, match="several rows"):
        f.evaluate({"x": np.zeros(2)}, panel=duplicated)
    out_of_range = PanelLayout(np.array([0, 1]), np.array([0, 0]), 1, 1)
    with pytest.raises(DataError, match="out of range"):
        f.evaluate({"x": np.zeros(2)}, panel=out_of_range)
    with pytest.raises(DataError, match="rows"):
        f.evaluate({"x": np.zeros(3)}, panel=PANEL)


def test_large_columns_are_fast() -> None:
    import time

    n = 1_000_000
    rng = np.random.default_rng(0)
    values = {"a": rng.random(n), "b": rng.random(n)}
    f = parse_formula("where(b > 0.5, log(a + 1) / b, sqrt(a)) * 100")
    started = time.perf_counter()
    result = f.evaluate(values)
    elapsed = time.perf_counter() - started
    assert result.values.shape == (n,)
    assert elapsed < 2.0  # about 0.1 s on a laptop: vectorised, no loop over rows


# -- properties --------------------------------------------------------------------------------
_floats = st.floats(min_value=-1e12, max_value=1e12) | st.just(np.nan)


@settings(deadline=None)  # the first example may build the unit registry
@given(
    st.integers(min_value=1, max_value=30).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=_floats),
            hnp.arrays(np.float64, n, elements=_floats),
        )
    )
)
def test_sum_matches_numpy(columns: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = columns
    a_before, b_before = a.copy(), b.copy()
    result = parse_formula("a + b").evaluate({"a": a, "b": b})
    np.testing.assert_array_equal(result.values, a + b)
    np.testing.assert_array_equal(a, a_before)  # inputs are never modified
    np.testing.assert_array_equal(b, b_before)
    assert not np.shares_memory(parse_formula("a").evaluate({"a": a}).values, a)
    converted = parse_formula("a + b").evaluate({"a": a, "b": b}, units={"a": "m**2", "b": "km**2"})
    np.testing.assert_allclose(converted.values, a + b * 1e6, rtol=1e-12)


@settings(deadline=None)  # the first example may build the unit registry
@given(
    hnp.arrays(np.float64, 12, elements=st.floats(-1e6, 1e6)),
    hnp.arrays(np.float64, 12, elements=st.floats(-1e6, 1e6)),
)
def test_division_never_gives_inf(a: np.ndarray, b: np.ndarray) -> None:
    result = parse_formula("a / b").evaluate({"a": a, "b": b})
    assert not np.isinf(result.values).any()
    undefined = np.zeros(12, dtype=bool)
    for mask in result.problems.values():
        undefined |= mask
    np.testing.assert_array_equal(undefined, np.isnan(result.values))


@settings(deadline=None)  # the first example may build the unit registry
@given(st.permutations(list(range(len(_ROWS)))))
def test_lag_does_not_depend_on_row_order(order: list[int]) -> None:
    index = np.array(order)
    panel = PanelLayout(PANEL.entity_codes[index], PANEL.period_codes[index], 2, 4)
    expected = parse_formula("mean_over(x, 2) - lag(x, 1)").evaluate({"x": X}, panel=PANEL)
    shuffled = parse_formula("mean_over(x, 2) - lag(x, 1)").evaluate({"x": X[index]}, panel=panel)
    np.testing.assert_array_equal(shuffled.values, expected.values[index])


def test_formula_is_a_value() -> None:
    f = parse_formula("x + 1")
    assert isinstance(f, Formula)
    assert str(f) == "x + 1"
    assert hash(f) == hash(parse_formula("x + 1"))


# -- bare numbers that silently take a unit (warnings) ----------------------------------------


@pytest.mark.parametrize(
    ("text", "units", "expected"),
    [
        ("1 - ineq / 100", {"ineq": "percent"}, ["hundredth of it", "the bare number 1"]),
        ("1 - ineq", {"ineq": "percent"}, ["the bare number 1 is taken in percent"]),
        ("x + 5", {"x": "km"}, ["the bare number 5 is taken in km"]),
        ("share * 0.01", {"share": "percent"}, ["hundredth of it"]),
    ],
)
def test_a_bare_number_taking_a_unit_warns(
    text: str, units: dict[str, str], expected: list[str]
) -> None:
    from securindex.errors import FormulaWarning

    with pytest.warns(FormulaWarning) as record:
        parse_formula(text).infer_unit(units)
    messages = [str(w.message) for w in record]
    for fragment in expected:
        assert any(fragment in m for m in messages), messages


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("100 - share", {"share": "percent"}),  # one whole: 100 %
        ("1 - s", {"s": "dimensionless"}),
        ("where(share > 50, 1, 0)", {"share": "percent"}),  # a threshold in the data's unit
        ("min(share, 100)", {"share": "percent"}),
        ("homicides / population * 100000", {"homicides": "count", "population": "inhabitant"}),
    ],
)
def test_idioms_that_mean_what_they_say_do_not_warn(text: str, units: dict[str, str]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_formula(text).infer_unit(units)


def test_what_the_percent_trap_computes_and_how_to_write_it() -> None:
    # with ineq = 30 %: '1 - ineq / 100' is 1 % - 0.3 % = 0.7 % (0.007), as the warning says;
    # '100 - ineq' is 70 % (0.7), the one whole minus the share
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trap = parse_formula("1 - ineq / 100").evaluate(
            {"ineq": np.array([30.0])}, units={"ineq": "percent"}
        )
    right = parse_formula("100 - ineq").evaluate(
        {"ineq": np.array([30.0])}, units={"ineq": "percent"}
    )
    assert trap.values[0] == pytest.approx(0.7) and trap.unit.label == "percent"
    assert right.values[0] == pytest.approx(70.0)


def test_round_halves_away_from_zero_and_checks_its_digits() -> None:
    f = parse_formula("round(x, 3)")
    values = f.evaluate({"x": np.array([0.8125, 0.7285, -0.0005, np.nan])}).values
    np.testing.assert_array_equal(values[:3], [0.813, 0.729, -0.001])
    assert np.isnan(values[3])
    with pytest.raises(FormulaError, match="whole number from -15 to 15") as info:
        parse_formula("round(x, k)")
    assert info.value.formula[info.value.start : info.value.end] == "k"


# -- non-finite values are explained (issue #15) -----------------------------------------------
def test_mean_over_huge_values_is_their_mean_not_inf() -> None:
    # (1e308 + 1e308) overflows; the mean of two 1e308 is 1e308
    big = np.where(np.isin(np.arange(len(X)), [1, 6]), 1e308, X)  # A at periods 0 and 1
    result = parse_formula("mean_over(x, 2)").evaluate({"x": big}, panel=PANEL)
    assert result.values[6] == 1e308  # ("A", 1)
    assert np.isfinite(result.values[~np.isnan(result.values)]).all()


def test_every_infinite_value_of_a_panel_formula_is_audited() -> None:
    big = np.full(len(X), 1.5e308)
    result = parse_formula("mean_over(+mean_over(x, 2), 1) * 2").evaluate({"x": big}, panel=PANEL)
    assert not np.isinf(result.values).any()
    overflow = result.problems["overflow (value too large) in 'mean_over(+mean_over(x, 2), 1) * 2'"]
    defined = ~np.isnan(parse_formula("mean_over(x, 2)").evaluate({"x": X}, panel=PANEL).values)
    np.testing.assert_array_equal(overflow, defined)  # every row the window covers
    explained = np.zeros(len(X), dtype=bool)
    for mask in result.problems.values():
        explained |= mask
    np.testing.assert_array_equal(explained, np.isnan(result.values))


def test_a_huge_power_of_a_quantity_with_a_unit_is_refused() -> None:
    # issue #15: x ** (9**9) inferred the unit km**387420489
    with pytest.raises(FormulaUnitError, match=r"the power 3.8742e\+08 of a quantity") as info:
        parse_formula("x ** (9**9)").infer_unit({"x": "km"})
    assert (info.value.start, info.value.end) == (6, 10)  # the span "9**9"
    assert str(parse_formula("x ** 100").infer_unit({"x": "dimensionless"})) == "dimensionless"
