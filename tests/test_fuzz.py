"""Fuzz tests (issue #15): hostile formulas, YAML documents, data files and framework specs.

The oracle, for every generated input: either a securindex error that says where (a formula
span, a file:line, a column or a field), or a result whose every NaN cell has a reason; and
nothing in a formula or a YAML document ever runs (a canary file that any executed payload
would create must never appear). Bounded in examples and time; run with ``-m fuzz`` alone,
deselect with ``-m "not fuzz"``; CI runs them with the rest of the suite.
"""

from __future__ import annotations

import gzip
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securindex import Framework, Panel
from securindex._yaml import read_yaml
from securindex.errors import DataError, FormulaError, SecurindexError, SpecError, UnitError
from securindex.formula import parse_formula

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=150,
    deadline=None,  # the machine is shared; the time bound is the example count
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

CANARY = Path(tempfile.gettempdir()) / "securindex-fuzz-canary"
PAYLOADS = [
    f"__import__('pathlib').Path('{CANARY}').touch()",
    f"open('{CANARY}', 'w')",
    f"exec(\"open('{CANARY}', 'w')\")",
    f'eval(\'open("{CANARY}", "w")\')',
    "().__class__.__bases__[0].__subclasses__()",
    f"(lambda: open('{CANARY}', 'w'))()",
    f"[open('{CANARY}', 'w') for _ in '1']",
    f'f\'{{open("{CANARY}", "w")}}\'',
    "x.__class__",
    "log(x)(1)",
]


@pytest.fixture(autouse=True, scope="module")
def no_canary() -> Iterator[None]:
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "a formula or YAML payload was executed"


# --------------------------------------------------------------------------------------------
# formulas
# --------------------------------------------------------------------------------------------
FORMULA_TOKENS = [
    "x", "y", "z", "1", "0", "2.5", "1e308", "-1e308", "1e-320", "9**9**9", "+", "-", "*",
    "/", "**", "(", ")", ",", "<", "<=", "==", "and", "or", "not", "log(", "sqrt(", "exp(",
    "abs(", "min(", "max(", "where(", "lag(", "mean_over(", " ", "^", "%", "//", "[", "]",
    "'", '"', "lambda", "if", "else", ".", "__", "@", "=", ":", "\n", *PAYLOADS,
]  # fmt: skip

_ROWS = 6
_VALUES = {
    "x": np.array([1.0, 0.0, -2.0, np.nan, 1e308, 5e-324]),
    "y": np.array([0.0, 3.0, np.inf, 2.0, -1e308, 7.0]),
    "z": np.array([2.0, 2.0, 2.0, 0.5, 0.0, -0.0]),
}


def _check_evaluation(text: str) -> None:
    try:
        formula = parse_formula(text)
    except FormulaError as exc:  # located: a span inside the formula
        assert 0 <= exc.start <= len(text) and exc.start < exc.end
        return
    unknown = set(formula.names) - set(_VALUES)
    if unknown:
        return  # a catalogue reports unknown names; nothing here to evaluate
    from securindex.formula import PanelLayout

    layout = PanelLayout(
        entity_codes=np.array([0, 0, 0, 1, 1, 1]),
        period_codes=np.array([0, 1, 2, 0, 1, 2]),
        n_entities=2,
        n_periods=3,
    )
    try:
        result = formula.evaluate(dict(_VALUES), panel=layout if formula.uses_panel else None)
    except (DataError, UnitError, FormulaError):
        return
    values = np.broadcast_to(result.values, (_ROWS,))
    assert not np.isinf(values).any(), text
    explained = np.zeros(_ROWS, dtype=bool)
    for mask in result.problems.values():
        explained |= np.broadcast_to(mask, (_ROWS,))
    assert (explained >= np.isnan(values)).all(), (text, values, result.problems)


@FUZZ
@given(st.lists(st.sampled_from(FORMULA_TOKENS), min_size=1, max_size=12).map("".join))
def test_random_formulas_are_located_errors_or_audited_values(text: str) -> None:
    _check_evaluation(text)


@FUZZ
@given(
    st.recursive(
        st.sampled_from(["x", "y", "z", "1", "0", "1e308", "2"]),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(st.sampled_from(["log", "sqrt", "exp", "abs"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            st.tuples(inner, st.sampled_from(["1", "2", "3"])).map(
                lambda t: f"mean_over({t[0]}, {t[1]})"
            ),
            st.tuples(inner, inner, inner).map(lambda t: f"where({t[0]} < {t[1]}, {t[1]}, {t[2]})"),
        ),
        max_leaves=8,
    )
)
def test_well_formed_formulas_explain_every_nan(text: str) -> None:
    _check_evaluation(text)


# --------------------------------------------------------------------------------------------
# YAML documents
# --------------------------------------------------------------------------------------------
YAML_TOKENS = [
    "a", "b", ":", ": ", "- ", "\n", "  ", "[", "]", "{", "}", ",", "&x ", "*x", "&y ", "*y",
    "<<: ", "? ", "'", '"', "#", "---\n", "...", "|", ">", "!!str ", "!!int ", "!!binary ",
    "!!python/object/apply:pathlib.Path.touch ", f"['{CANARY}']", "!!python/name:os.system",
    "!custom ", "\t", "\x00", "\x07", "\ufeff", "1", "1e999", "2020-02-30", "~", "yes", "é",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n",
]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(YAML_TOKENS), min_size=1, max_size=30).map("".join))
def test_random_yaml_is_a_located_error_or_plain_values(text: str) -> None:
    try:
        located = read_yaml("fuzz.yaml", text)
    except SpecError as exc:
        (issue,) = exc.issues
        assert issue.file == "fuzz.yaml" and issue.message
        return
    _assert_plain(located.value)
    for line, column in located.positions.values():
        assert line >= 1 and column >= 1


def _assert_plain(value: Any) -> None:
    import datetime

    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, (str, int))
            _assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain(item)
    else:
        assert value is None or isinstance(
            value, (str, int, float, bool, datetime.date, datetime.datetime)
        ), type(value)


# --------------------------------------------------------------------------------------------
# data files
# --------------------------------------------------------------------------------------------
CSV_TOKENS = [
    "entity", "a", "b", ",", "\n", "\r\n", '"', "1", "01", "-3", "1e308", "nan", "True",
    "x", "Malmö", ";", "\t", " ", "2019", "",
]  # fmt: skip
DICTIONARY = {
    "entity": "entity",
    "period": None,
    "variables": {"a": {"unit": "count"}, "b": {"unit": "dimensionless"}},
}


@FUZZ
@given(
    body=st.lists(st.sampled_from(CSV_TOKENS), max_size=40).map("".join),
    raw=st.binary(max_size=12),
    form=st.sampled_from(["plain", "latin-1", "gzip", "truncated gzip", "bytes"]),
)
def test_random_data_files_are_data_errors_naming_the_file_or_panels(
    tmp_path_factory: pytest.TempPathFactory, body: str, raw: bytes, form: str
) -> None:
    text = "entity,a,b\n" + body
    data = {
        "plain": text.encode("utf-8"),
        "latin-1": text.encode("latin-1", errors="replace"),
        "gzip": gzip.compress(text.encode()),
        "truncated gzip": gzip.compress(text.encode())[:-6],
        "bytes": raw + text.encode(),
    }[form]
    path = tmp_path_factory.mktemp("csv") / ("data.csv.gz" if "gzip" in form else "data.csv")
    path.write_bytes(data)
    try:
        panel = Panel.read(path, dictionary=DICTIONARY)
    except (DataError, SpecError) as exc:
        assert str(path) in str(exc) or isinstance(exc, SpecError), str(exc)
        return
    assert panel.frame.dtypes.eq(np.float64).all()
    assert all(isinstance(e, str) for e in panel.entities)  # ids stay text


# --------------------------------------------------------------------------------------------
# framework specs
# --------------------------------------------------------------------------------------------
_weights = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.just("heavy")
)
_ids = st.sampled_from(["a", "b", "c", "p", "q", "idx", "P", "a b"])
_node = st.fixed_dictionaries(
    {"id": _ids, "children": st.lists(_ids, max_size=4)},
    optional={
        "weight": _weights,
        "aggregate": st.fixed_dictionaries(
            {"method": st.sampled_from(["arithmetic", "geometric", "nope", "harmonic"])}
        ),
        "unknown": st.just(1),
    },
)
_column = st.one_of(
    st.sampled_from(["positive", "negative", "sideways"]),
    st.fixed_dictionaries(
        {"polarity": st.sampled_from(["positive", "negative"])},
        optional={
            "weight": _weights,
            "unit": st.sampled_from(["count", "9**9**9 count", "km**2", "nope"]),
            "column": st.sampled_from(["a", "b", "Header"]),
        },
    ),
)
_spec = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["idx", "bad id", ""]),
        "columns": st.dictionaries(st.sampled_from(["a", "b", "c"]), _column, max_size=3),
        "structure": st.lists(_node, max_size=3),
    },
    optional={
        "pipeline": st.fixed_dictionaries(
            {
                "normalise": st.fixed_dictionaries(
                    {"method": st.sampled_from(["minmax", "zscore", "rank", "nope"])}
                )
            }
        )
    },
)
_PANEL_FRAME = pd.DataFrame(
    {"entity": list("vwxyz"), "a": [1.0, 2.0, np.nan, 4.0, 1e308], "b": [5.0, 0.0, 1.0, -1.0, 2.0],
     "c": [np.nan] * 5, "Header": [1.0, 1.0, 1.0, 1.0, 1.0]}
)  # fmt: skip


@FUZZ
@given(_spec)
def test_random_framework_specs_are_located_errors_or_indices(spec: dict[str, Any]) -> None:
    try:
        framework = Framework.from_spec(spec)
    except SpecError as exc:
        assert all(i.field or i.line or i.message for i in exc.issues)
        return
    units = dict.fromkeys(("a", "b", "c", "Header"), "dimensionless")
    panel = Panel.from_frame(_PANEL_FRAME, entity="entity", units=units)
    try:
        result = framework.compute(panel)
    except SecurindexError:
        return
    scores = result.scores.select_dtypes("number").to_numpy()
    assert not np.isinf(scores).any()


def test_the_token_lists_hold_the_payloads() -> None:
    assert set(PAYLOADS) <= set(FORMULA_TOKENS)
    assert any("python/object" in t for t in YAML_TOKENS)
    assert set(string.digits[:3]) <= {t for t in FORMULA_TOKENS if len(t) == 1} | {"2"}
