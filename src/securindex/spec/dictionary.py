"""The data dictionary: which column holds which variable, in which unit."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from securindex.errors import UnitError
from securindex.spec.indicator import Source
from securindex.units import parse_unit

__all__ = ["DataDictionary", "Variable"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Variable(_Spec):
    """One variable of a dataset: its column (default: the variable's name) and unit."""

    column: str | None = None
    unit: str
    description: str = ""

    @field_validator("unit")
    @classmethod
    def _unit_parses(cls, value: str) -> str:
        try:
            parse_unit(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        return value


class DataDictionary(_Spec):
    """How to read a table as a panel of variables.

    ``entity`` and ``period`` name the id columns; a cross-sectional table without a period
    column gives its single period as ``period_value``. ``variables`` maps each canonical
    variable name (the names indicator formulas use) to its column and unit, so a dataset's
    own column names never leak into the catalogue.
    """

    name: str | None = None
    title: str | None = None
    description: str = ""
    source: Source | None = None
    entity: str = "entity"
    label: str | None = Field(
        default=None, description="column with a human-readable name of each entity, for reports"
    )
    period: str | None = "period"
    period_value: int | str | None = None
    encoding: str | None = Field(
        default=None, description="text encoding of the data file when not UTF-8 (latin-1, cp1252)"
    )
    groups: list[str] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    from_incidents: dict[str, Any] | None = Field(
        default=None,
        description="count incident records into this panel (securindex.incidents; "
        "`securindex incidents panel` reads it)",
    )

    def column_of(self, variable: str) -> str:
        spec = self.variables[variable]
        return spec.column or variable
