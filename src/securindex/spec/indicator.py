"""The indicator specification: what a researcher writes in an indicator YAML file.

The model checks everything that can be checked from one file alone (field types, id
syntax, formula syntax, unit syntax). Checks that need the whole catalogue — names used in
formulas, dependency cycles, dimensional consistency through other indicators — live in
:mod:`securindex.catalogue`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from securindex.errors import UnitError
from securindex.formula import parse_formula
from securindex.units import parse_unit

__all__ = [
    "CATEGORIES",
    "Category",
    "Constant",
    "Indicator",
    "Input",
    "Polarity",
    "Reference",
    "Source",
]

Category = Literal["crime", "perception", "social", "environmental", "institutional", "context"]
Polarity = Literal["positive", "negative", "none"]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
_SNAKE_CASE = r"^[a-z][a-z0-9_]*$"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_unit(text: str) -> str:
    """Parse a unit; pydantic only locates ValueErrors, so re-raise a UnitError as one."""
    try:
        parse_unit(text)
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    return text


class Input(_Spec):
    """A raw variable an indicator reads from the dataset."""

    unit: str = Field(
        description="Physical unit of the variable, e.g. 'inhabitant', 'count', 'km**2'."
    )
    description: str = ""

    @field_validator("unit")
    @classmethod
    def _unit_parses(cls, value: str) -> str:
        return _check_unit(value)


class Constant(_Spec):
    """A named constant usable in a formula (e.g. a harm weight), with its unit."""

    value: float
    unit: str = "dimensionless"
    description: str = ""

    @field_validator("unit")
    @classmethod
    def _unit_parses(cls, value: str) -> str:
        return _check_unit(value)


class Reference(_Spec):
    """A reference framework entry, e.g. ``{framework: SDG, code: "16.1.1"}``."""

    framework: str
    code: str | None = None
    title: str | None = None
    url: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_text(cls, value: object) -> object:
        # YAML reads 16.1 as a float; references are codes, not numbers
        return str(value) if isinstance(value, (int, float)) else value


class Source(_Spec):
    """Where the data for an indicator come from."""

    name: str
    url: str | None = None
    licence: str | None = None
    citation: str | None = None


class Indicator(_Spec):
    """One indicator: a formula over variables, with unit, polarity and metadata."""

    id: str = Field(description="snake_case identifier, unique in a catalogue")
    name: str
    description: str = ""
    category: Category
    polarity: Polarity = Field(
        description="positive: more is more secure; negative: more is less secure; "
        "none: context indicator, not aggregated by default"
    )
    formula: str
    unit: str
    inputs: dict[str, Input] = Field(default_factory=dict)
    constants: dict[str, Constant] = Field(default_factory=dict)
    references: list[Reference] = Field(default_factory=list)
    source: Source | None = None
    caveats: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, value: str) -> str:
        if not re.match(_ID_PATTERN, value):
            raise ValueError(
                f"'{value}' is not a valid id: use letters, digits and _, starting with a "
                "letter (catalogue files use snake_case, e.g. 'homicide_rate')"
            )
        return value

    @field_validator("formula")
    @classmethod
    def _formula_parses(cls, value: str) -> str:
        parse_formula(value)  # FormulaError is a ValueError: pydantic reports it at 'formula'
        return value

    @field_validator("unit")
    @classmethod
    def _unit_parses(cls, value: str) -> str:
        return _check_unit(value)

    @field_validator("inputs", "constants")
    @classmethod
    def _names_are_identifiers(cls, value: dict[str, object]) -> dict[str, object]:
        bad = [name for name in value if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name)]
        if bad:
            raise ValueError(
                f"names must be identifiers (letters, digits, _; not starting with _): {bad}"
            )
        return value

    @model_validator(mode="after")
    def _inputs_and_constants_disjoint(self) -> Indicator:
        both = sorted(set(self.inputs) & set(self.constants))
        if both:
            raise ValueError(f"{both} declared both as input and as constant")
        return self

    @property
    def declared_names(self) -> frozenset[str]:
        """Names the formula may use without another indicator: inputs and constants."""
        return frozenset(self.inputs) | frozenset(self.constants)
