"""The data dictionary: which column holds which variable, in which unit, and how to shape
the table into a panel (rows to drop, one column per period)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from securindex.errors import UnitError
from securindex.spec.indicator import Source
from securindex.units import parse_unit

__all__ = [
    "AreasSpec",
    "ColumnName",
    "DataDictionary",
    "RowFilter",
    "Variable",
    "WeightsSpec",
    "WideLayout",
]

ColumnName = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1)]
"""A column header as the file spells it: never whitespace-stripped, so a real header that
ends in a space can be named."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Variable(_Spec):
    """One variable of a dataset: its column (default: the variable's name) and unit."""

    column: ColumnName | None = None
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


class Pattern(_Spec):
    """Values matching a regular expression (``{pattern: "^ZZ"}``: ids starting with ZZ)."""

    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


RowValues = list[str | int | float] | Pattern
"""The values of one column a row filter names: a list, or a pattern."""


class RowFilter(_Spec):
    """Rows of the table that are not entities of the panel (a city-total row, regional
    aggregates), dropped before anything else: they never join a normalisation's reference
    sample or the ranks.

    ``exclude`` drops the rows whose column holds one of the values (or matches the
    pattern); ``include`` keeps only the rows that do; ``drop_missing`` drops rows where any
    of these columns is empty.
    """

    exclude: dict[ColumnName, RowValues] = Field(default_factory=dict)
    include: dict[ColumnName, RowValues] = Field(default_factory=dict)
    drop_missing: list[ColumnName] = Field(default_factory=list)


class WideLayout(_Spec):
    """A table with one column per period: ``<column><separator><period>`` (``le_1990``,
    ``le_1991`` …), turned into one row per entity and period.

    ``periods`` restricts the periods read (otherwise every column whose suffix is a whole
    number, a year, is read).
    """

    separator: str = Field(default="_", min_length=1)
    periods: list[int | str] | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class WeightsSpec(_Spec):
    """Which areas are neighbours: the spatial weights, declared once for a dataset.

    ``method`` names an entry of :data:`securindex.geo.weights.WEIGHTS` (``queen``,
    ``rook``, ``knn``, ``distance_band`` or one a user registered); ``k`` is the number of
    neighbours of ``knn``; ``threshold`` the distance of ``distance_band`` with its unit
    (``"2 km"``, ``"1500 m"``). ``islands`` says what happens to an area without
    neighbours: ``exclude`` (default; left out of the statistics and reported) or
    ``nearest`` (joined to its nearest area). Weights are row-standardised
    (``transform: r``) unless ``transform: b`` (binary) is asked for.
    """

    method: str = "queen"
    k: int | None = Field(default=None, ge=1)
    threshold: str | None = None
    islands: Literal["exclude", "nearest"] = "exclude"
    transform: Literal["r", "b"] = "r"

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold_text(cls, value: object) -> object:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("threshold")
    @classmethod
    def _threshold_is_a_length(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            unit = parse_unit(value)
        except UnitError as exc:
            raise ValueError(f"threshold: {exc}") from None
        if not unit.is_compatible_with(parse_unit("m")):
            raise ValueError(
                f"threshold must be a distance such as '2 km' or '1500 m'; got {value!r}"
            )
        return value


class AreasSpec(_Spec):
    """The areas' polygons: a GeoPackage, GeoJSON, shapefile or GeoParquet file.

    ``file`` is read relative to the dictionary's folder; ``key`` is the column of the
    polygon file that holds the entity id; ``layer`` picks a layer of a GeoPackage.
    ``crs`` declares the coordinate reference system when the file has none, and must
    agree with the file's when it has one. ``invalid`` says what to do with invalid
    polygons (self-intersections): ``repair`` them (``shapely.make_valid``, reported in a
    warning) or raise an ``error`` naming them. ``weights`` declares the neighbours once
    for every spatial statistic and formula function.
    """

    file: str
    key: str
    layer: str | None = None
    crs: str | None = None
    invalid: Literal["repair", "error"] = "repair"
    weights: WeightsSpec = Field(default_factory=WeightsSpec)


class DataDictionary(_Spec):
    """How to read a table as a panel of variables.

    ``entity`` and ``period`` name the id columns; a cross-sectional table without a period
    column gives its single period as ``period_value``. ``variables`` maps each canonical
    variable name (the names indicator formulas use) to its column and unit, so a dataset's
    own column names never leak into the catalogue. ``rows`` drops rows that are not
    entities; ``wide`` reads a table with one column per period (``period`` then names the
    period, which is no column of the file).
    """

    name: str | None = None
    title: str | None = None
    description: str = ""
    source: Source | None = None
    entity: ColumnName = "entity"
    label: ColumnName | None = Field(
        default=None, description="column with a human-readable name of each entity, for reports"
    )
    period: ColumnName | None = "period"
    period_value: int | str | None = None
    encoding: str | None = Field(
        default=None, description="text encoding of the data file when not UTF-8 (latin-1, cp1252)"
    )
    groups: list[ColumnName] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    rows: RowFilter | None = Field(
        default=None, description="rows that are not entities (totals, aggregates), dropped"
    )
    wide: WideLayout | None = Field(
        default=None, description="one column per period: <column><separator><period>"
    )
    notes: list[str] = Field(default_factory=list)
    from_incidents: dict[str, Any] | None = Field(
        default=None,
        description="count incident records into this panel (securindex.incidents; "
        "`securindex incidents panel` reads it)",
    )
    areas: AreasSpec | None = Field(
        default=None,
        description="the areas' polygons (securindex.geo; needs the 'geo' extra)",
    )

    def column_of(self, variable: str) -> str:
        spec = self.variables[variable]
        return spec.column or variable
