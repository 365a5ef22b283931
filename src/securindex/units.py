"""The one unit registry of securindex, and the unit helpers built on it.

Every physical unit in securindex goes through :func:`registry`: a single
:class:`pint.UnitRegistry`, built on first use (nothing happens at import) from pint's
default definitions plus the project units in ``units.txt`` (``inhabitant``, ``household``,
``dwelling``, ``count`` and its aliases ``incident``/``offence``/``event``/``crime``,
``score``, ``fraction`` and the currencies ``USD``/``EUR``/``GBP``). Quantities from two
registries refuse to combine, so nobody else may call ``pint.UnitRegistry()``.

A declared unit may carry one numeric scale factor, the way rates are published: "per
100 000 inhabitants" is written ``count / (100000 inhabitant)`` and parsed to a
:class:`ScaledUnit` with ``scale = 1e-5`` and ``unit = count / inhabitant``. A magnitude
``m`` in a scaled unit stands for the quantity ``m * scale * unit``. The numeric code only
ever sees float64 magnitudes; :func:`conversion_factor` is the number to multiply them by.

References
----------
.. [1] H. E. Grecco et al., "Pint: makes units easy", https://pint.readthedocs.io
.. [2] OECD/JRC (2008), Handbook on Constructing Composite Indicators: Methodology and User
   Guide, OECD Publishing, Paris, section 1.4 (indicator definitions and units),
   https://doi.org/10.1787/9789264043466-en
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from securindex.errors import UnitError

if TYPE_CHECKING:  # pint is imported on first use: importing securindex stays fast
    import pint

__all__ = [
    "MAX_UNIT_EXPONENT",
    "MAX_UNIT_LENGTH",
    "ScaledUnit",
    "as_scaled_unit",
    "conversion_factor",
    "dimensionless",
    "format_dimensionality",
    "is_dimensionless",
    "parse_unit",
    "registry",
    "unit_label",
]

MAX_UNIT_LENGTH = 200
"""Longest unit text accepted [characters]; real units are a few dozen."""

MAX_UNIT_EXPONENT = 16
"""Largest absolute power inside a unit text (``km**2``, ``1 / s**2``) [unitless]."""

# Names users often reach for; offered first when a unit name is unknown.
_COMMON_NAMES = (
    "inhabitant",
    "household",
    "dwelling",
    "count",
    "incident",
    "offence",
    "event",
    "crime",
    "victim",
    "score",
    "fraction",
    "percent",
    "permille",
    "dimensionless",
    "km",
    "m",
    "ha",
    "mile",
    "ug",
    "minute",
    "hour",
    "day",
    "year",
    "USD",
    "EUR",
    "GBP",
)


@functools.cache
def registry() -> pint.UnitRegistry:
    """The securindex unit registry (built once, on first call).

    pint's default definitions plus the project units of ``securindex/units.txt``. Building
    it reads two text files and takes a fraction of a second, which is why it happens on
    first use rather than at import.

    Returns
    -------
    pint.UnitRegistry
        The same object on every call.
    """
    import pint

    ureg: pint.UnitRegistry = pint.UnitRegistry()
    with resources.as_file(resources.files("securindex").joinpath("units.txt")) as path:
        ureg.load_definitions(path)
    return ureg


@dataclass(frozen=True)
class ScaledUnit:
    """A pint unit with a numeric scale factor: the unit a magnitude is expressed in.

    A magnitude ``m`` in ``ScaledUnit(scale, unit)`` stands for the quantity
    ``m * scale * unit``; ``count / (100000 inhabitant)`` is ``ScaledUnit(1e-5,
    count / inhabitant)``. Scaled units multiply, divide and take powers like quantities,
    which is how :mod:`securindex.formula` carries the scale through a formula.

    Parameters
    ----------
    scale
        Positive finite factor [unitless].
    unit
        A unit of :func:`registry`.
    text
        The text the unit was parsed from (for messages; empty for derived units); not part
        of equality.
    """

    scale: float
    unit: pint.Unit
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        scale = float(self.scale)
        if not math.isfinite(scale) or scale <= 0:
            raise UnitError(
                f"the scale factor of a unit must be a positive finite number, got {self.scale!r}"
                + (f" in '{self.text}'" if self.text else "")
            )
        object.__setattr__(self, "scale", scale)

    def __str__(self) -> str:
        """A readable, parseable form such as ``count / (100000 inhabitant)``."""
        return _format(self.scale, self.unit)

    @property
    def label(self) -> str:
        """The unit as the user wrote it, else its readable form (for messages)."""
        return self.text or str(self)

    @property
    def dimensionality(self) -> str:
        """The dimension, e.g. ``[population]^-1`` or ``dimensionless``."""
        return format_dimensionality(self.unit)

    @property
    def dimensionless(self) -> bool:
        """True when the unit has no dimension (count, percent, score, fraction …)."""
        return bool(self.unit.dimensionless)

    def is_compatible_with(self, other: ScaledUnit) -> bool:
        """True when magnitudes in ``self`` can be converted to ``other``."""
        return bool(self.unit.dimensionality == other.unit.dimensionality)

    def __mul__(self, other: ScaledUnit) -> ScaledUnit:
        return ScaledUnit(self.scale * other.scale, self.unit * other.unit)

    def __truediv__(self, other: ScaledUnit) -> ScaledUnit:
        return ScaledUnit(self.scale / other.scale, self.unit / other.unit)

    def __pow__(self, exponent: float) -> ScaledUnit:
        exponent = float(exponent)
        if exponent.is_integer():
            exponent = int(exponent)  # keeps unit exponents integral when they can be
        try:
            scale = self.scale**exponent
        except OverflowError:
            scale = math.inf  # rejected with a UnitError below
        return ScaledUnit(scale, cast("pint.Unit", self.unit**exponent))


def dimensionless() -> ScaledUnit:
    """The pure number unit: scale 1, no dimension (what ``log`` and ``exp`` return)."""
    return ScaledUnit(1.0, registry().dimensionless, "dimensionless")


def is_dimensionless(unit: ScaledUnit | pint.Unit | str) -> bool:
    """True when ``unit`` has no dimension (``count``, ``%``, ``score``, ``km / m`` …).

    A dimensionless unit may still have a scale: ``percent`` is dimensionless, and converts
    to a pure number with the factor 0.01.
    """
    if isinstance(unit, str):
        unit = parse_unit(unit)
    if isinstance(unit, ScaledUnit):
        return unit.dimensionless
    return bool(unit.dimensionless)


def as_scaled_unit(unit: ScaledUnit | str) -> ScaledUnit:
    """Return ``unit`` parsed if it is text, unchanged if it is already a ScaledUnit."""
    if isinstance(unit, ScaledUnit):
        return unit
    if isinstance(unit, str):
        return parse_unit(unit)
    raise UnitError(f"expected a unit text or a ScaledUnit, got {type(unit).__name__}: {unit!r}")


def parse_unit(text: str) -> ScaledUnit:
    """Parse a unit text, with an optional numeric scale, into a :class:`ScaledUnit`.

    Parameters
    ----------
    text
        A pint unit expression: ``inhabitant``, ``km**2``, ``ug/m**3`` (or ``µg/m³``),
        ``%``, ``count / (100000 inhabitant)``, ``1 / (1e5 inhabitant)``, ``EUR / capita``.

    Returns
    -------
    ScaledUnit
        The scale (``1e-5`` for ``count / (100000 inhabitant)``) and the pint unit.

    Raises
    ------
    UnitError
        Unknown unit names (with the closest known names), syntax errors, sums of units,
        non-positive scales, and the ambiguous ``count / 100000 inhabitant`` (which pint
        reads as ``(count / 100000) * inhabitant``).

    Examples
    --------
    >>> rate = parse_unit("count / (100000 inhabitant)")
    >>> rate.scale, str(rate.unit)
    (1e-05, 'count / inhabitant')
    >>> str(rate)
    'count / (100000 inhabitant)'
    """
    if not isinstance(text, str):
        raise UnitError(f"a unit must be text, got {type(text).__name__}: {text!r}")
    return _parse_unit(text)


@functools.lru_cache(maxsize=4096)
def _parse_unit(text: str) -> ScaledUnit:
    """:func:`parse_unit` of a text: a pure function of it, so cached (ScaledUnit is frozen)."""
    import pint
    from pint.util import string_preprocessor as _pint_preprocessor

    stripped = text.strip()
    if not stripped:
        raise UnitError(
            "empty unit: write 'dimensionless' (or 'count', 'score' …) for a pure number"
        )
    if len(stripped) > MAX_UNIT_LENGTH:
        raise UnitError(
            f"unit text too long ({len(stripped)} characters, at most {MAX_UNIT_LENGTH}): "
            f"'{stripped[:40]}…'"
        )
    preprocessed = _pint_preprocessor(stripped)
    _check_tokens(stripped, preprocessed)
    ureg = registry()
    try:
        parsed: Any = _evaluate(ureg, stripped)
    except UnitError:
        raise
    except OverflowError:
        raise UnitError(
            f"a number in the unit '{stripped}' is too large (beyond 1e308); write the scale "
            "as a plain factor such as 'count / (100000 inhabitant)'"
        ) from None
    except pint.UndefinedUnitError as exc:
        names = exc.unit_names if isinstance(exc.unit_names, tuple) else (exc.unit_names,)
        name = str(names[0]) if names else "?"
        raise UnitError(f"unknown unit '{name}' in '{stripped}'{_suggest(name)}") from None
    except pint.OffsetUnitCalculusError:
        raise UnitError(
            f"'{stripped}' combines an offset unit (such as degC) with other units; "
            "use kelvin or delta_degC for temperatures inside compound units"
        ) from None
    except Exception as exc:  # pint raises many kinds on bad syntax; all are unit errors
        raise UnitError(f"cannot read the unit '{stripped}': {exc}") from None
    if isinstance(parsed, pint.Quantity):
        scale, unit = parsed.magnitude, parsed.units
    elif isinstance(parsed, (int, float)):
        scale, unit = parsed, ureg.dimensionless
    else:
        raise UnitError(f"cannot read the unit '{stripped}': got {parsed!r}")
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise UnitError(f"cannot read the unit '{stripped}': scale {scale!r}") from None
    return ScaledUnit(scale, cast("pint.Unit", unit), stripped)


@functools.lru_cache(maxsize=4096)  # a pure function of two frozen units
def conversion_factor(source: ScaledUnit, target: ScaledUnit) -> float:
    """The factor that expresses a magnitude in ``source`` as a magnitude in ``target``.

    ``magnitude_in_target = magnitude_in_source * conversion_factor(source, target)``.

    Parameters
    ----------
    source, target
        Scaled units of the same dimension.

    Returns
    -------
    float
        ``source.scale * (source.unit → target.unit) / target.scale``; e.g. 1e5 from
        ``1 / inhabitant`` to ``1 / (100000 inhabitant)``, 100 from ``fraction`` to ``%``.

    Raises
    ------
    UnitError
        When the dimensions differ (the message shows both units and dimensions), or when
        an offset unit (degC) would need more than a factor.

    Examples
    --------
    >>> conversion_factor(parse_unit("km**2"), parse_unit("ha"))
    100.0
    """
    source, target = as_scaled_unit(source), as_scaled_unit(target)
    if source.unit == target.unit:
        unit_factor = 1.0
    elif not source.is_compatible_with(target):
        raise UnitError(
            f"cannot convert {source.label} ({source.dimensionality}) to "
            f"{target.label} ({target.dimensionality}): the dimensions differ. "
            "Check the formula against the declared unit (e.g. a rate per inhabitant "
            "cannot be a count per km²)."
        )
    else:
        import pint

        ureg = registry()
        try:
            unit_factor = float(ureg.Quantity(1.0, source.unit).to(target.unit).magnitude)
            offset = float(ureg.Quantity(0.0, source.unit).to(target.unit).magnitude)
        except pint.PintError as exc:
            raise UnitError(f"cannot convert {source.label} to {target.label}: {exc}") from None
        if offset != 0.0:
            raise UnitError(
                f"cannot convert {source.label} to {target.label} with a factor: they differ "
                "by an offset (e.g. degC and K); declare both in the same temperature unit"
            )
    return _snap(source.scale * unit_factor / target.scale)


def format_dimensionality(unit: ScaledUnit | pint.Unit) -> str:
    """Dimension of a unit as ``[length]^-2`` or ``[currency_EUR] [population]^-1``."""
    if isinstance(unit, ScaledUnit):
        unit = unit.unit
    items = sorted(
        ((str(name), float(cast(float, exp))) for name, exp in unit.dimensionality.items()),
        key=lambda item: (item[1] < 0, item[0]),
    )
    if not items:
        return "dimensionless"
    return " ".join(name if exp == 1 else f"{name}^{_number(exp)}" for name, exp in items)


# -- helpers -----------------------------------------------------------------------------------
def _evaluate(ureg: pint.UnitRegistry, text: str) -> Any:
    """``ureg.parse_expression(text)`` with every number a float and powers bounded.

    pint reads integer literals as Python integers, so ``9**9**9`` would be computed exactly
    (hundreds of millions of digits, an effective hang). Here numbers are floats (an
    overflow is an error at once) and a power's exponent must be at most
    :data:`MAX_UNIT_EXPONENT` in absolute value.
    """
    from pint.pint_eval import build_eval_tree as _pint_eval_tree
    from pint.pint_eval import tokenizer as _pint_tokenizer
    from pint.util import string_preprocessor as _pint_preprocessor

    source = text
    for preprocess in ureg.preprocessors:
        source = preprocess(source)
    tokens = _pint_tokenizer(_pint_preprocessor(source))

    def define(token: tokenize.TokenInfo) -> Any:
        if token.type == tokenize.NUMBER:
            return float(token.string)
        return ureg._eval_token(token)

    def power(base: Any, exponent: Any) -> Any:
        value = exponent.to("dimensionless").magnitude if hasattr(exponent, "units") else exponent
        if not abs(float(value)) <= MAX_UNIT_EXPONENT:
            raise UnitError(
                f"power {_number(float(value))} in the unit '{text}' is out of range: a unit's exponents are "
                f"at most {MAX_UNIT_EXPONENT} in absolute value (km**2, 1 / s**2)"
            )
        return operator.pow(base, value)

    binary = {**_PINT_BINARY, "**": power}
    return _pint_eval_tree(tokens).evaluate(define, binary)


_PINT_BINARY = {
    "*": operator.mul,
    "": operator.mul,
    "/": operator.truediv,
    "+": operator.add,
    "-": operator.sub,
}


def _number(value: float) -> str:
    """Shortest text that reads back as ``value`` (integers without a decimal point)."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _snap(value: float) -> float:
    """Undo float noise in a product of scales: 1 / 1e-5 gives 100000.0, not 99999.99999999999.

    Only a value within 1e-13 (relative) of its 12-significant-digit rounding moves, so a
    genuine factor such as 2.589988110336 (mile² → km²) is kept as it is.
    """
    rounded = float(f"{value:.12g}")
    return rounded if abs(rounded - value) <= 1e-13 * abs(value) else value


def _unit_items(unit: pint.Unit) -> list[tuple[str, float]]:
    items = registry().Quantity(1.0, unit).unit_items()
    return [(str(name), float(cast(float, exp))) for name, exp in items]


# Symbols too terse to read in a message; these units keep their names.
_TERSE_SYMBOLS = frozenset({"a", "d", "h", "s", "mi", "yr"})


def _short(name: str) -> str:
    """The conventional symbol of a unit (``km``, ``ha``, ``µg``, ``USD``) or its name."""
    import pint

    try:
        symbol = str(registry().get_symbol(name))
    except pint.PintError:
        return name
    if symbol in _TERSE_SYMBOLS or not re.fullmatch(r"[A-Za-zµ]+", symbol):
        return name
    return symbol


def _product(items: Iterable[tuple[str, float]]) -> str:
    return " * ".join(
        _short(name) if exp == 1 else f"{_short(name)}**{_number(exp)}" for name, exp in items
    )


def _format(scale: float, unit: pint.Unit) -> str:
    """Readable text for ``scale * unit`` that :func:`parse_unit` reads back."""
    items = list(_unit_items(unit))
    numerator = _product((n, e) for n, e in items if e > 0)
    denominator = _product((n, -e) for n, e in items if e < 0)
    if not items:
        return "dimensionless" if scale == 1.0 else _number(scale)
    if scale == 1.0:
        if not denominator:
            return numerator
        den = f"({denominator})" if " * " in denominator else denominator
        return f"{numerator or '1'} / {den}"
    inverse = 1.0 / scale
    if denominator and inverse >= 1.0 and abs(inverse - round(inverse)) <= 1e-12 * inverse:
        return f"{numerator or '1'} / ({_number(round(inverse))} {denominator})"
    body = numerator or "1"
    if denominator:
        den = f"({denominator})" if " * " in denominator else denominator
        body = f"{body} / {den}"
    return f"{_number(scale)} {body}"


def _check_tokens(text: str, preprocessed: str) -> None:
    """Reject sums of units and the ambiguous ``a / 100000 b`` before pint reads them."""
    from pint.pint_eval import tokenizer as _pint_tokenizer

    try:
        tokens = [
            t
            for t in _pint_tokenizer(preprocessed)
            if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.NL)
        ]
    except Exception as exc:  # tokenize errors on unbalanced brackets etc.
        raise UnitError(f"cannot read the unit '{text}': {exc}") from None
    operand_end = {tokenize.NAME, tokenize.NUMBER}
    for i, token in enumerate(tokens):
        if token.string in {"+", "-"} and i > 0:
            previous = tokens[i - 1]
            if previous.type in operand_end or previous.string == ")":
                raise UnitError(
                    f"units cannot be added or subtracted in '{text}'; a unit is a product or "
                    "quotient such as 'count / (100000 inhabitant)'"
                )
        if token.string == "/":
            j = i + 1
            if j < len(tokens) and tokens[j].type in operand_end:
                j += 1
                if j < len(tokens) and tokens[j].string == "**":
                    j += 1
                    while j < len(tokens) and tokens[j].string in {"-", "+", "("}:
                        j += 1
                    while j < len(tokens) and (
                        tokens[j].type == tokenize.NUMBER or tokens[j].string == ")"
                    ):
                        j += 1
                if j < len(tokens) and tokens[j].string == "*":
                    raise UnitError(
                        f"ambiguous unit '{text}': it reads as "
                        f"({_join(tokens[:i])} / {tokens[i + 1].string}) * …, with only the first "
                        "factor after '/' in the denominator. Put the denominator in "
                        "parentheses, e.g. 'count / (100000 inhabitant)' for a rate per "
                        "100 000 inhabitants"
                    )


def _join(tokens: list[tokenize.TokenInfo]) -> str:
    return "".join(t.string for t in tokens)


def _suggest(name: str) -> str:
    """'; did you mean …?' with the closest known unit names, or ''."""
    match = re.fullmatch(r"([A-Za-zµμ]+)([23])", name)
    if match:
        return f"; did you mean '{match.group(1)}**{match.group(2)}'?"
    candidates = list(dict.fromkeys([*_COMMON_NAMES, *dir(registry())]))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.75)
    if not close:
        close = difflib.get_close_matches(name.lower(), candidates, n=3, cutoff=0.75)
    if not close:
        return (
            "; see docs/formulas-and-units.md for the units securindex knows "
            "(inhabitant, household, dwelling, count, km**2, ha, %, ug/m**3, USD …)"
        )
    listed = ", ".join(f"'{c}'" for c in close)
    return f"; did you mean {listed}?"


# -- labels for people -----------------------------------------------------------------------
_SUPERSCRIPTS = {2.0: "²", 3.0: "³", -1.0: "⁻¹", -2.0: "⁻²", -3.0: "⁻³"}
_NAMED = {"percent": "%", "permille": "‰", "microgram": "µg", "dimensionless": ""}
_COUNTED = frozenset({"count"})  # incidents, offences … are aliases of count


def _label_name(name: str, exponent: float, *, plural: bool) -> str:
    text = _NAMED.get(name)
    if text is None:
        short = _short(name)
        text = short if short != name else name.replace("_", " ")
        if plural and short == name and exponent == 1 and not text.endswith("s"):
            text += "s"
    power = "" if exponent == 1 else _SUPERSCRIPTS.get(exponent, f"^{_number(exponent)}")
    return f"{text}{power}"


def _grouped(number: float) -> str:
    """``100000`` → ``100 000`` (groups of three digits, as in SI usage)."""
    if number == round(number) and abs(number) < 1e15:
        return f"{round(number):,}".replace(",", " ")
    return _number(number)


@functools.lru_cache(maxsize=1024)
def _unit_label(text: str) -> str:
    unit = parse_unit(text)
    items = _unit_items(unit.unit)
    numerator = [(n, e) for n, e in items if e > 0 and n not in _COUNTED]
    denominator = [(n, -e) for n, e in items if e < 0]
    top = " ".join(_label_name(n, e, plural=False) for n, e in numerator)
    scale = unit.scale
    if not denominator:
        if scale != 1.0:
            top = f"{_grouped(scale)} {top}".strip()
        if not top and any(n in _COUNTED for n, _ in items):
            return "count"
        return top
    inverse = 1.0 / scale
    per_many = inverse > 1.0 and abs(inverse - round(inverse)) <= 1e-9 * inverse
    first, *rest = denominator
    bottom = _label_name(*first, plural=per_many)
    if per_many:
        bottom = f"{_grouped(round(inverse))} {bottom}"
    elif scale != 1.0:
        top = f"{_grouped(scale)} {top}".strip()
    bottom = " per ".join([bottom, *(_label_name(n, e, plural=False) for n, e in rest)])
    return f"{top} per {bottom}".strip()


def unit_label(unit: ScaledUnit | str) -> str:
    """A unit as people read it in a report: ``count / (100000 inhabitant)`` → ``per 100 000
    inhabitants``.

    Counted things (``count``, ``incident``, ``offence`` …) are left out before ``per``,
    scales are written with their digits grouped in threes, a denominator with a scale is
    plural, and powers and percentages are written as symbols. Unreadable unit texts are
    returned unchanged, so a report never fails on a label.

    Parameters
    ----------
    unit
        A unit text or a :class:`ScaledUnit`.

    Returns
    -------
    str
        The label (empty for a pure number).

    Examples
    --------
    >>> unit_label("count / (100000 inhabitant)")
    'per 100 000 inhabitants'
    >>> unit_label("percent"), unit_label("ug/m**3"), unit_label("m**2 / inhabitant")
    ('%', 'µg per m³', 'm² per inhabitant')
    >>> unit_label("count / km**2"), unit_label("EUR / (1000 household)")
    ('per km²', 'EUR per 1 000 households')
    """
    text = unit.text or str(unit) if isinstance(unit, ScaledUnit) else str(unit)
    try:
        return _unit_label(text)
    except UnitError:
        return text
