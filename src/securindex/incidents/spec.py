"""The ``from_incidents:`` block: how incident records become panel variables."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from securindex.errors import SpecError
from securindex.incidents.periods import Grain, parse_period

__all__ = [
    "AreaSource",
    "AreaVariable",
    "IncidentFilter",
    "IncidentSpec",
    "OffenceVariable",
    "PeriodRange",
    "Points",
    "read_incident_dictionary",
]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class OffenceVariable(_Spec):
    """One panel variable made from incident records.

    ``codes`` are fnmatch patterns (``"28*"``, ``"BU-?"``, exact codes) of the offence codes
    counted, each record adding 1 (or its ``count``). ``weights`` maps patterns to a harm
    weight per record instead (e.g. Cambridge Crime Harm Index days of imprisonment
    [day]); a code takes the weight of the first pattern that matches it, in the order
    written. A code may feed several variables (``violence`` and ``assaults``).
    """

    codes: list[str] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict)
    unit: str = "count"
    description: str = ""

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_text(cls, value: object) -> object:
        if isinstance(value, (str, int)):
            value = [value]
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @field_validator("weights", mode="before")
    @classmethod
    def _weight_keys_text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _codes_or_weights(self) -> OffenceVariable:
        if bool(self.codes) == bool(self.weights):
            raise ValueError(
                "give either 'codes' (a list of offence-code patterns, each record counts 1) "
                "or 'weights' (pattern: harm weight per record), not both nor neither"
            )
        bad = {k: v for k, v in self.weights.items() if not np.isfinite(v) or v < 0}
        if bad:
            raise ValueError(f"harm weights must be finite and >= 0; got {bad}")
        return self

    @field_validator("unit")
    @classmethod
    def _unit_parses(cls, value: str) -> str:
        from securindex.units import parse_unit

        parse_unit(value)  # raises UnitError (a TypeError) → reported by pydantic
        return value

    def patterns(self) -> dict[str, float]:
        """Pattern → weight per record (1 for ``codes``)."""
        return dict(self.weights) if self.weights else dict.fromkeys(self.codes, 1.0)


class Points(_Spec):
    """Columns holding each incident's coordinates, their coordinate reference system, and
    what to do with a point on a boundary shared by several areas.

    ``boundary`` names a rule of :data:`securindex.incidents.areas.BOUNDARY_RULES`:
    ``first`` (default: the first of those areas in the polygon file), ``nearest_centroid``
    (the area whose centroid is nearest to the point) or ``split`` (an equal share to
    each). The points are reprojected to the polygons' CRS when the two differ.
    """

    x: str
    y: str
    crs: str = "EPSG:4326"
    boundary: str = "first"

    @field_validator("boundary")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        from securindex.incidents.areas import BOUNDARY_RULES

        if value not in BOUNDARY_RULES:
            raise ValueError(
                f"unknown boundary rule '{value}'; choose from {', '.join(BOUNDARY_RULES)}"
            )
        return value


class AreaVariable(_Spec):
    """A static area attribute copied to every period (population, land area …)."""

    column: str | None = None
    unit: str
    description: str = ""


class AreaSource(_Spec):
    """The areas of the panel: a table or polygon file, or an inline list of ids.

    With ``points`` the file must hold polygons (GeoJSON, GeoPackage, shapefile, GeoParquet;
    needs ``securindex[geo]``). ``variables`` are static attributes (population, land area)
    repeated over the periods; ``groups`` and ``label`` columns become panel groups.
    """

    file: str | None = None
    ids: list[str] | None = None
    id: str = "area"
    label: str | None = None
    groups: list[str] = Field(default_factory=list)
    variables: dict[str, AreaVariable] = Field(default_factory=dict)
    layer: str | None = None

    @field_validator("ids", mode="before")
    @classmethod
    def _ids_text(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @model_validator(mode="after")
    def _file_or_ids(self) -> AreaSource:
        if (self.file is None) == (self.ids is None):
            raise ValueError("give either 'file' (a table or polygons of the areas) or 'ids'")
        if self.ids is not None and (self.variables or self.groups or self.label):
            raise ValueError("area variables, groups and label need a 'file', not inline 'ids'")
        return self


class PeriodRange(_Spec):
    """First and last period (inclusive): labels of the grain (``2015``, ``2015Q1``,
    ``2015-01``, ``2015-W01``) or ISO dates (the period holding that date)."""

    start: str
    end: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if isinstance(value, (int, _dt.date)):
            return str(value)
        return value


class IncidentFilter(_Spec):
    """Keep only records whose ``column`` is ``in`` a list, or is not in ``not_in``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    column: str
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> IncidentFilter:
        if (self.in_ is None) == (self.not_in is None):
            raise ValueError("a filter needs exactly one of 'in' or 'not_in'")
        return self

    def describe(self) -> str:
        if self.in_ is not None:
            return f"{self.column} in {self.in_}"
        return f"{self.column} not in {self.not_in}"


class IncidentSpec(_Spec):
    """How to count incident records into a panel (the ``from_incidents:`` block).

    See the module docstring for an example. ``area`` names the column holding each
    record's area id; ``points`` instead names coordinate columns joined spatially to the
    polygons of ``areas.file``. ``count`` optionally names a column with the number of
    offences (or victims) per record (default 1). ``unknown_offences: error`` raises a
    :class:`~securindex.errors.DataError` when a code matches no variable (the default
    ``report`` excludes and counts them in the report).
    """

    source: list[str] = Field(default_factory=list)
    date: str
    date_format: str | None = Field(
        default=None, description="strptime format of text dates; default ISO 8601"
    )
    time_zone: str | None = Field(
        default=None,
        description="IANA zone (Europe/Berlin, UTC) that dates with an offset are converted "
        "to before periods are cut; dates without one are read as local times there",
    )
    grain: Grain = "month"
    periods: PeriodRange | None = None
    area: str | None = None
    points: Points | None = None
    areas: AreaSource | None = None
    offence: str
    variables: dict[str, OffenceVariable] = Field(min_length=1)
    count: str | None = None
    filters: list[IncidentFilter] = Field(default_factory=list)
    unknown_offences: Literal["report", "error"] = "report"

    @field_validator("source", mode="before")
    @classmethod
    def _source_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}; give an IANA name such as 'UTC' or "
                    "'Europe/Berlin'"
                ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IncidentSpec:
        if (self.area is None) == (self.points is None):
            raise ValueError("give either 'area' (the area-id column) or 'points' ({x, y, crs})")
        if self.points is not None and (self.areas is None or self.areas.file is None):
            raise ValueError("'points' needs 'areas: {file: <polygons>, id: <id column>}'")
        if self.periods is not None:
            start = parse_period(self.periods.start, self.grain)
            end = parse_period(self.periods.end, self.grain)
            if end < start:
                raise ValueError(
                    f"periods: end {self.periods.end!r} is before start {self.periods.start!r}"
                )
        clash = set(self.variables) & set(self.areas.variables if self.areas else {})
        if clash:
            raise ValueError(f"variables defined both from incidents and areas: {sorted(clash)}")
        return self

    def required_columns(self) -> list[str]:
        """Columns every incident file must have."""
        columns = [self.date, self.offence]
        if self.area is not None:
            columns.append(self.area)
        if self.points is not None:
            columns += [self.points.x, self.points.y]
        if self.count is not None:
            columns.append(self.count)
        columns += [f.column for f in self.filters]
        return list(dict.fromkeys(columns))


class _IncidentDictionary(_Spec):
    """A data-dictionary file whose variables come from incident records."""

    name: str | None = None
    title: str | None = None
    description: str = ""
    source: dict[str, Any] | None = None
    entity: str = "entity"
    period: str | None = "period"
    label: str | None = None
    groups: list[str] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    from_incidents: IncidentSpec


def read_incident_dictionary(path: str | Path) -> tuple[IncidentSpec, Path, str | None]:
    """Read a data-dictionary YAML file holding a ``from_incidents:`` block.

    Returns
    -------
    spec : IncidentSpec
        The validated block (errors located at ``file:line:column``).
    base_dir : Path
        The file's folder: ``source`` and ``areas.file`` are relative to it.
    name : str or None
        The dictionary's ``name``, used as the panel's name.

    Raises
    ------
    SpecError
        If the file has no ``from_incidents`` block or the block is invalid.
    """
    from securindex._yaml import read_yaml
    from securindex.spec._validate import validate_located

    located = read_yaml(path)
    if not isinstance(located.value, dict) or "from_incidents" not in located.value:
        raise SpecError(
            f"{path}: no 'from_incidents' block; a data dictionary built from incident "
            "records needs one (see docs/scale.md)"
        )
    spec = validate_located(_IncidentDictionary, located)
    return spec.from_incidents, Path(path).resolve().parent, spec.name
