"""Incident records → the (entity, period) panel that indicators are computed over.

Police and city data often come as one row per recorded incident (a date, an offence code,
an area id or a point), while indicators need counts per area and period. A declarative
``from_incidents:`` block (in a data-dictionary YAML file, or :class:`IncidentSpec` in
Python) says how to turn the first into the second:

.. code-block:: yaml

    from_incidents:
      source: incidents/*.parquet        # files or globs, relative to this file
      date: occurred_at                  # column holding the date (ISO 8601 by default)
      grain: month                       # year | quarter | month | week (ISO, Monday)
      periods: {start: 2015-01, end: 2024-12}
      area: lsoa_code                    # or points: {x: lon, y: lat, crs: "EPSG:4326"}
      areas: {file: areas.csv, id: lsoa_code,
              variables: {population: {column: pop, unit: inhabitant}}}
      offence: offence_code
      variables:
        burglaries: {codes: ["28*", "29*", "30*"]}     # fnmatch patterns of codes
        harm: {weights: {"28*": 438, "105": 365}, unit: day}   # harm-weighted sum
      filters:
        - {column: status, not_in: [cancelled]}

The output is a :class:`~securindex.dataset.Panel` on the full grid *areas × periods*: an
area with no incident in a period has a zero count (areas come from the declared list or
polygons, not only from the incidents seen), and a :class:`IncidentReport` that accounts
for every record read: each one is either counted or excluded for exactly one stated
reason (date outside the declared periods, unknown offence code, point outside every
polygon, …), so nothing is silently lost.

Everything is vectorised: ids and codes are factorised once (hash tables over the rows,
then Python work only over the few distinct values), periods are integer arithmetic on
``datetime64``, and counts are ``numpy.bincount`` over (area, period) cell codes. Files are
processed one at a time (or one partition at a time on Dask, see
:mod:`securindex.engines.dask`) and their partial counts summed, so memory holds one file
plus the (areas × periods) grid.

References
----------
.. [1] Sherman, L., Neyroud, P. W. and Neyroud, E. (2016). The Cambridge Crime Harm Index:
   measuring total harm from crime based on sentencing guidelines. *Policing*, 10(3),
   171–183. doi:10.1093/police/paw003 (harm weights per offence)
.. [2] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Part I, Step 2
   (data selection and documentation of the data). doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import glob as _glob
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from securindex.errors import DataError, SpecError

if TYPE_CHECKING:
    from securindex.dataset import Panel

__all__ = [
    "GRAINS",
    "HARM_DAYS",
    "OFFENCE_MIX",
    "REASONS",
    "AreaSource",
    "AreaVariable",
    "IncidentFilter",
    "IncidentPanel",
    "IncidentReport",
    "IncidentSpec",
    "OffenceVariable",
    "PeriodRange",
    "Points",
    "incidents_from_counts",
    "incidents_to_panel",
    "parse_period",
    "period_codes",
    "period_labels",
    "read_incident_dictionary",
    "synthetic_areas",
    "synthetic_incidents",
]

GRAINS = ("year", "quarter", "month", "week")
"""Period grains: calendar year, quarter, month, and ISO week (Monday to Sunday)."""

Grain = Literal["year", "quarter", "month", "week"]

GEO_HINT = "pip install 'securindex[geo]'"

# Every record is counted or excluded for exactly one reason, checked in this order.
REASONS = (
    "filtered out",
    "missing date",
    "unparseable date",
    "date before the declared periods",
    "date after the declared periods",
    "missing offence code",
    "unknown offence code",
    "missing area",
    "missing coordinates",
    "unknown area id",
    "point outside every area polygon",
    "missing count",
)
_RECORDS = "__records__"


# =============================================================================================
# The specification (a data dictionary's from_incidents block)
# =============================================================================================
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
    """Columns holding each incident's coordinates, and their coordinate reference system."""

    x: str
    y: str
    crs: str = "EPSG:4326"


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


# =============================================================================================
# Periods: integer codes on datetime64, labels
# =============================================================================================
# Codes count periods since 1970: years, quarters, months, or Monday-based weeks (the
# week holding 1970-01-01 starts on Monday 1969-12-29, so week = (days + 3) // 7).
def period_codes(dates: np.ndarray, grain: str) -> np.ndarray:
    """Integer period code of each date [periods since 1970], vectorised.

    Parameters
    ----------
    dates : numpy datetime64 array, shape (n,)
        Dates without NaT.
    grain : {"year", "quarter", "month", "week"}

    Examples
    --------
    >>> d = np.array(["1970-01-01", "1971-04-30"], dtype="datetime64[D]")
    >>> period_codes(d, "month").tolist(), period_codes(d, "quarter").tolist()
    ([0, 15], [0, 5])
    """
    if grain == "year":
        return dates.astype("datetime64[Y]").astype(np.int64)
    if grain == "month":
        return dates.astype("datetime64[M]").astype(np.int64)
    if grain == "quarter":
        return dates.astype("datetime64[M]").astype(np.int64) // 3
    if grain == "week":
        return (dates.astype("datetime64[D]").astype(np.int64) + 3) // 7
    raise SpecError(f"unknown period grain {grain!r}; choose one of {list(GRAINS)}")


def period_labels(codes: np.ndarray | Sequence[int], grain: str) -> list[Any]:
    """Labels of period codes: ``2019`` (int), ``"2019Q1"``, ``"2019-01"``, ``"2019-W01"``.

    Labels sort in time order (as integers for years, as text otherwise).

    Examples
    --------
    >>> period_labels([0, 15], "month"), period_labels([49], "year")
    (['1970-01', '1971-04'], [2019])
    """
    codes = np.asarray(codes, dtype=np.int64)
    if grain == "year":
        return [int(c) for c in 1970 + codes]
    if grain == "quarter":
        return [f"{1970 + c // 4}Q{c % 4 + 1}" for c in codes.tolist()]
    if grain == "month":
        return [f"{1970 + c // 12}-{c % 12 + 1:02d}" for c in codes.tolist()]
    if grain == "week":
        mondays = pd.DatetimeIndex(np.datetime64("1969-12-29") + 7 * codes.astype("timedelta64[D]"))
        iso = mondays.isocalendar()
        return [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"], strict=True)]
    raise SpecError(f"unknown period grain {grain!r}; choose one of {list(GRAINS)}")


_LABEL_PATTERNS = {
    "year": re.compile(r"^(\d{4})$"),
    "quarter": re.compile(r"^(\d{4})-?Q([1-4])$"),
    "month": re.compile(r"^(\d{4})-(\d{1,2})$"),
    "week": re.compile(r"^(\d{4})-?W(\d{1,2})$"),
}


def parse_period(value: str | int, grain: str) -> int:
    """The code of a period label of ``grain``, or of the period holding an ISO date.

    Raises
    ------
    ValueError
        If ``value`` is neither (a ``ValueError`` so that pydantic locates it in YAML).
    """
    text = str(value).strip()
    match = _LABEL_PATTERNS[grain].match(text)
    if match:
        year = int(match.group(1))
        if grain == "year":
            return year - 1970
        part = int(match.group(2))
        if grain == "quarter":
            return (year - 1970) * 4 + part - 1
        if grain == "month" and 1 <= part <= 12:
            return (year - 1970) * 12 + part - 1
        if grain == "week":
            try:
                monday = _dt.date.fromisocalendar(year, part, 1)
            except ValueError:
                raise ValueError(f"{text!r} is not an ISO week") from None
            return int(period_codes(np.array([monday], dtype="datetime64[D]"), "week")[0])
    try:
        date = np.array([pd.Timestamp(text).to_datetime64()])
    except (ValueError, TypeError):
        examples = {"year": "2015", "quarter": "2015Q1", "month": "2015-01", "week": "2015-W01"}
        raise ValueError(
            f"period {text!r} is not a {grain} label (e.g. {examples[grain]}) nor an ISO date"
        ) from None
    return int(period_codes(date, grain)[0])


# =============================================================================================
# The report
# =============================================================================================
_ISSUE_COLUMNS = ["issue", "item", "n_records", "action"]


@dataclass(frozen=True)
class IncidentReport:
    """What happened to every incident record, and what the panel lacks.

    Attributes
    ----------
    n_records : int
        Records read from all sources [count].
    n_counted : int
        Records counted into the panel [count]; ``n_records = n_counted +
        issues[issues.action == "excluded"].n_records.sum()`` always holds.
    issues : pandas.DataFrame
        One row per problem: ``issue`` (e.g. ``"unknown offence code"``), ``item`` (the code,
        area, file or bound concerned, ``""`` for a total), ``n_records`` [count] and
        ``action`` (``excluded``, ``kept``, ``harmonised``, ``note``). Excluded records are
        listed once per reason, and for unknown codes and area ids also once per value.
    totals : pandas.Series
        Sum of each incident variable over the panel [variable units].
    offences : pandas.DataFrame
        One row per distinct offence code read: ``code``, ``n_records``, ``variables`` (the
        variables it feeds, empty for an unknown code).
    files : pandas.DataFrame
        One row per source file: ``file``, ``n_records``, ``schema`` (``"ok"`` or what was
        harmonised).
    grain : str
        The period grain.
    periods : tuple
        First and last period label of the panel.
    n_areas : int
        Areas in the panel [count].
    """

    n_records: int
    n_counted: int
    issues: pd.DataFrame
    totals: pd.Series
    offences: pd.DataFrame
    files: pd.DataFrame
    grain: str
    periods: tuple[Any, Any]
    n_areas: int

    @property
    def n_excluded(self) -> int:
        """Records excluded, each for one reason [count]."""
        excluded = self.issues[(self.issues["action"] == "excluded") & (self.issues["item"] == "")]
        return int(excluded["n_records"].sum())

    @property
    def balanced(self) -> bool:
        """True when every record read is either counted or excluded with a reason."""
        return self.n_records == self.n_counted + self.n_excluded

    def summary(self) -> str:
        """A few lines for a terminal or a log."""
        lines = [
            f"{self.n_records:,} incident records read, {self.n_counted:,} counted, "
            f"{self.n_excluded:,} excluded; {self.n_areas:,} areas × periods "
            f"{self.periods[0]}…{self.periods[1]} ({self.grain})"
        ]
        totals = self.issues[self.issues["item"] == ""]
        for row in totals.itertuples(index=False):
            lines.append(f"  {row.action}: {row.issue}: {row.n_records:,}")
        unknown = self.issues[
            (self.issues["issue"] == "unknown offence code") & (self.issues["item"] != "")
        ]
        if len(unknown):
            top = ", ".join(f"{r.item} ({r.n_records:,})" for r in unknown.head(5).itertuples())
            lines.append(f"  unknown codes, most frequent first: {top}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The issues table with the totals as first rows (for CSV export)."""
        head = pd.DataFrame(
            [
                {
                    "issue": "records read",
                    "item": "",
                    "n_records": self.n_records,
                    "action": "note",
                },
                {
                    "issue": "records counted",
                    "item": "",
                    "n_records": self.n_counted,
                    "action": "note",
                },
            ]
        )
        return pd.concat([head, self.issues], ignore_index=True)


class IncidentPanel(NamedTuple):
    """The panel counted from incident records, and the report of what happened to them."""

    panel: Panel
    report: IncidentReport


# =============================================================================================
# Plan: everything the per-chunk kernel needs, prepared once (picklable for Dask workers)
# =============================================================================================
@dataclass(frozen=True)
class _Chunk:
    """One unit of reading: a file, or some row groups of a Parquet file."""

    path: str
    kind: str  # "csv" | "parquet"
    row_groups: tuple[int, ...] | None = None


@dataclass
class _Plan:
    spec: IncidentSpec
    area_keys: pd.Index | None  # declared areas (text keys), or None (from the incidents)
    area_labels: np.ndarray | None  # the declared ids as written (entity labels)
    area_table: pd.DataFrame | None  # variables, groups and label, indexed like area_keys
    polygons: Any = None  # GeoSeries of the areas, for points
    period_range: tuple[int, int] | None = None
    patterns: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)

    @property
    def variables(self) -> list[str]:
        return list(self.spec.variables)


@dataclass
class _Partial:
    """Counts of one chunk (or of several, merged): cells and report counters."""

    cells: pd.DataFrame  # index (area key, period code); variable columns + _RECORDS
    reasons: dict[str, int]
    n_records: int
    codes: dict[str, int]  # offence code → records that reached the offence check
    unknown_areas: dict[str, int]
    n_boundary: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # file → records read


def _as_keys(values: pd.Series | pd.Index | np.ndarray) -> pd.Index:
    """Ids as text keys: integers (also when stored as floats, ``12.0``) without decimals.

    Works on the distinct values only, so callers factorise first.
    """
    index = pd.Index(values)
    if pd.api.types.is_float_dtype(index.dtype):
        finite = index.dropna()
        if len(finite) and bool(np.all(np.mod(finite.to_numpy(), 1) == 0)):
            index = index.astype("Int64")
    if pd.api.types.is_bool_dtype(index.dtype):
        index = index.astype(str)
    return pd.Index(index.astype("string").astype(object))


def _keys_of(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes of each row (-1 for missing) and the text key of each code."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64), _as_keys(uniques)


def _expand_sources(patterns: Sequence[str | Path], base_dir: Path) -> list[Path]:
    files: list[Path] = []
    missing: list[str] = []
    for pattern in patterns:
        text = str(pattern)
        full = text if Path(text).is_absolute() else str(base_dir / text)
        if any(ch in text for ch in "*?["):
            found = sorted(Path(p) for p in _glob.glob(full, recursive=True) if Path(p).is_file())
        else:
            found = [Path(full)] if Path(full).is_file() else []
            if not found and Path(full).is_dir():
                found = sorted(
                    p for p in Path(full).rglob("*") if p.is_file() and _kind(p) is not None
                )
        if not found:
            missing.append(text)
        files.extend(found)
    if missing:
        raise DataError(
            f"no incident file matches {missing} (relative to {base_dir}); check 'source' "
            "in the from_incidents block"
        )
    return list(dict.fromkeys(files))


def _kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".txt" in suffixes or ".tsv" in suffixes:
        return "csv"
    return None


def _chunks(files: Sequence[Path], rows_per_chunk: int | None) -> list[_Chunk]:
    """Reading units: whole CSV files, Parquet files split by row groups."""
    chunks: list[_Chunk] = []
    for path in files:
        kind = _kind(path)
        if kind is None:
            raise DataError(
                "unknown file type; expected .csv[.gz], .tsv or .parquet", source=str(path)
            )
        if kind == "parquet" and rows_per_chunk:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            group: list[int] = []
            rows = 0
            for index in range(meta.num_row_groups):
                group.append(index)
                rows += meta.row_group(index).num_rows
                if rows >= rows_per_chunk:
                    chunks.append(_Chunk(str(path), kind, tuple(group)))
                    group, rows = [], 0
            if group or not chunks or chunks[-1].path != str(path):
                chunks.append(_Chunk(str(path), kind, tuple(group) if group else None))
        else:
            chunks.append(_Chunk(str(path), kind))
    return chunks


def _file_schema(path: Path) -> dict[str, str]:
    """Column → dtype kind of a file, read from its header/metadata only."""
    kind = _kind(path)
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - pyarrow is in the test extra
            raise DataError(
                f"reading Parquet needs pyarrow: pip install 'securindex[parquet]' ({exc})"
            ) from None
        schema = pq.read_schema(path)
        return {name: str(schema.field(name).type) for name in schema.names}
    sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    header = pd.read_csv(path, sep=sep, nrows=0)
    return dict.fromkeys(map(str, header.columns), "text")


def _scan_files(files: Sequence[Path], spec: IncidentSpec) -> pd.DataFrame:
    """Check every file's columns before reading any data; describe schema differences.

    Raises
    ------
    DataError
        Listing every file that lacks a required column (the user must fix the data or
        the block).
    """
    required = spec.required_columns()
    rows = []
    problems = []
    reference: dict[str, str] | None = None
    for path in files:
        schema = _file_schema(path)
        absent = [c for c in required if c not in schema]
        if absent:
            problems.append(f"{path.name}: missing {absent} (has {list(schema)[:12]})")
            continue
        types = {c: schema[c] for c in required}
        if reference is None:
            reference = types
        notes = [
            f"{c}: {types[c]} (first file: {reference[c]}) → harmonised"
            for c in required
            if types[c] != reference[c] and "text" not in (types[c], reference[c])
        ]
        rows.append({"file": str(path), "schema": "; ".join(notes) or "ok"})
    if problems:
        raise DataError(
            f"{len(problems)} incident file(s) lack required columns:\n  "
            + "\n  ".join(problems)
            + "\nRename the columns, or fix the from_incidents block (date, offence, area/points, "
            "count, filters)."
        )
    return pd.DataFrame(rows, columns=["file", "schema"])


def _read_chunk(chunk: _Chunk, spec: IncidentSpec) -> pd.DataFrame:
    """Read the required columns of one chunk; ids as text, whatever each file stored."""
    columns = spec.required_columns()
    if chunk.kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = pq.ParquetFile(chunk.path)
        if chunk.row_groups is None:
            table = file.read(columns=columns)
        else:
            table = file.read_row_groups(list(chunk.row_groups), columns=columns)
        frame = table.to_pandas()
        del table
        # hand the chunk's Arrow buffers back to the system: a worker reading chunk after
        # chunk then stays at one chunk's memory instead of Arrow's high-water mark
        pa.default_memory_pool().release_unused()
        return frame
    text_columns = [spec.offence] + ([spec.area] if spec.area else [])
    text_columns += [f.column for f in spec.filters]
    sep = "\t" if chunk.path.lower().endswith((".tsv", ".tsv.gz")) else ","
    return pd.read_csv(chunk.path, sep=sep, usecols=columns, dtype=dict.fromkeys(text_columns, str))


def _load_areas(spec: IncidentSpec, base_dir: Path, areas: Any) -> tuple[pd.DataFrame | None, Any]:
    """The area table (text key index) and polygons, from the spec or the ``areas`` argument."""
    source = spec.areas
    frame: pd.DataFrame | None
    if areas is not None:
        if isinstance(areas, pd.DataFrame):
            frame = areas
        else:
            frame = pd.DataFrame({source.id if source else "area": list(areas)})
    elif source is None:
        return None, None
    elif source.ids is not None:
        frame = pd.DataFrame({source.id: source.ids})
    else:
        assert source.file is not None
        path = Path(source.file)
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            raise DataError("areas file not found", source=str(path))
        geo_suffix = path.suffix.lower() in {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".zip"}
        if spec.points is not None or geo_suffix:
            gpd = _geopandas("reading area polygons")
            if path.suffix.lower() == ".parquet":
                frame = gpd.read_parquet(path)
            else:
                frame = (
                    gpd.read_file(path, layer=source.layer) if source.layer else gpd.read_file(path)
                )
        elif _kind(path) == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={source.id: str})
    id_column = source.id if source else (frame.columns[0] if len(frame.columns) else "area")
    if id_column not in frame.columns:
        raise DataError(
            f"area id column '{id_column}' not found; columns are {list(frame.columns)[:20]}",
            source="areas",
        )
    needed = [id_column]
    if source is not None:
        needed += [v.column or k for k, v in source.variables.items()]
        needed += list(source.groups) + ([source.label] if source.label else [])
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(f"area column(s) {absent} not found in the area table", source="areas")
    ids = frame[id_column]
    if ids.isna().any():
        raise DataError(
            f"{int(ids.isna().sum())} area(s) without an id in column '{id_column}'", source="areas"
        )
    keys = _as_keys(ids.to_numpy())
    duplicated = keys.duplicated()
    if duplicated.any():
        raise DataError(
            f"area ids are not unique: {sorted(set(keys[duplicated]))[:10]}; each area needs "
            "one row",
            source="areas",
        )
    polygons = None
    if spec.points is not None:
        if "geometry" not in frame.columns and not hasattr(frame, "geometry"):
            raise DataError(
                "'points' needs area polygons, but the areas have no geometry; give a polygon "
                "file (GeoJSON, GeoPackage, shapefile, GeoParquet)",
                source="areas",
            )
        polygons = frame.geometry.reset_index(drop=True)
    table = pd.DataFrame(index=keys)
    table["__label__"] = ids.to_numpy()
    if source is not None:
        for name, variable in source.variables.items():
            values = pd.to_numeric(frame[variable.column or name], errors="coerce")
            table[name] = values.to_numpy(dtype=np.float64)
        for column in source.groups:
            table[column] = frame[column].to_numpy()
        if source.label:
            table["__display__"] = frame[source.label].astype(str).to_numpy()
    return table, polygons


def _geopandas(purpose: str) -> Any:
    try:
        import geopandas
    except ImportError:
        raise DataError(f"{purpose} needs geopandas: {GEO_HINT}") from None
    return geopandas


def _compile_patterns(spec: IncidentSpec) -> list[tuple[str, list[tuple[str, float]]]]:
    return [(name, list(v.patterns().items())) for name, v in spec.variables.items()]


def _plan(spec: IncidentSpec, base_dir: Path, areas: Any = None) -> _Plan:
    table, polygons = _load_areas(spec, base_dir, areas)
    period_range = None
    if spec.periods is not None:
        period_range = (
            parse_period(spec.periods.start, spec.grain),
            parse_period(spec.periods.end, spec.grain),
        )
    return _Plan(
        spec=spec,
        area_keys=None if table is None else pd.Index(table.index),
        area_labels=None if table is None else table["__label__"].to_numpy(),
        area_table=table,
        polygons=polygons,
        period_range=period_range,
        patterns=_compile_patterns(spec),
    )


# =============================================================================================
# The kernel: one chunk of records → partial counts (vectorised, no loop over rows)
# =============================================================================================
def _code_weights(plan: _Plan, codes: pd.Index) -> np.ndarray:
    """Weight of each distinct offence code in each variable, shape (n_codes, n_variables).

    Row ``i`` is NaN for a code that no variable matches (an unknown code; a weight of 0
    is a known code). A loop over distinct codes and patterns (tens to hundreds), never
    over records.
    """
    weights = np.zeros((len(codes), len(plan.patterns)))
    matched = np.zeros(len(codes), dtype=bool)
    for i, code in enumerate(str(c) for c in codes):
        for j, (_, patterns) in enumerate(plan.patterns):
            for pattern, weight in patterns:
                if code == pattern or fnmatch.fnmatchcase(code, pattern):
                    weights[i, j] = weight
                    matched[i] = True
                    break
    weights[~matched] = np.nan
    return weights


def _dates(series: pd.Series, spec: IncidentSpec) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_localize(None)
        return series.to_numpy()
    return pd.to_datetime(series, format=spec.date_format or "ISO8601", errors="coerce").to_numpy()


def _count(frame: pd.DataFrame, plan: _Plan) -> _Partial:
    """Count one chunk of incident records into (area, period) cells.

    Each record is excluded for the first failing check in :data:`REASONS` order, or
    counted. Returns only the cells that received records.
    """
    spec = plan.spec
    n = len(frame)
    alive = np.ones(n, dtype=bool)
    reasons: dict[str, int] = {}

    def exclude(reason: str, mask: np.ndarray) -> None:
        hit = alive & mask
        count = int(hit.sum())
        if count:
            reasons[reason] = reasons.get(reason, 0) + count
            alive[hit] = False

    for rule in spec.filters:
        codes, keys = _keys_of(frame[rule.column])
        wanted = {str(v) for v in (rule.in_ if rule.in_ is not None else rule.not_in or [])}
        hit_keys = np.asarray([k in wanted for k in keys], dtype=bool)
        in_list = np.where(codes >= 0, np.r_[hit_keys, False][codes], False)
        keep = in_list if rule.in_ is not None else ~in_list
        exclude("filtered out", ~keep)

    raw_dates = frame[spec.date]
    dates = _dates(raw_dates, spec)
    missing_date = raw_dates.isna().to_numpy()
    exclude("missing date", missing_date)
    exclude("unparseable date", np.isnat(dates))
    period = np.zeros(n, dtype=np.int64)
    ok = ~np.isnat(dates)
    period[ok] = period_codes(dates[ok], spec.grain)
    if plan.period_range is not None:
        first, last = plan.period_range
        exclude("date before the declared periods", ok & (period < first))
        exclude("date after the declared periods", ok & (period > last))

    offence_codes, offence_keys = _keys_of(frame[spec.offence])
    exclude("missing offence code", offence_codes < 0)
    reached = alive.copy()
    code_records = np.bincount(offence_codes[reached], minlength=len(offence_keys))
    codes_seen = {str(k): int(c) for k, c in zip(offence_keys, code_records, strict=True) if c}
    weights = _code_weights(plan, offence_keys)
    unknown_code = np.isnan(weights[:, 0]) if weights.shape[1] else np.ones(len(offence_keys), bool)
    exclude(
        "unknown offence code",
        np.where(offence_codes >= 0, np.r_[unknown_code, False][offence_codes], False),
    )

    area_code = np.full(n, -1, dtype=np.int64)
    area_keys = plan.area_keys
    unknown_areas: dict[str, int] = {}
    n_boundary = 0
    if spec.area is not None:
        local_codes, local_keys = _keys_of(frame[spec.area])
        exclude("missing area", local_codes < 0)
        if plan.area_keys is not None:
            lookup = plan.area_keys.get_indexer(local_keys)
            mapped = np.where(local_codes >= 0, np.r_[lookup, -1][local_codes], -1)
            unknown = alive & (local_codes >= 0) & (mapped < 0)
            if unknown.any():
                counts = np.bincount(local_codes[unknown], minlength=len(local_keys))
                unknown_areas = {str(local_keys[i]): int(counts[i]) for i in np.flatnonzero(counts)}
            exclude("unknown area id", unknown)
            area_code = mapped
        else:
            area_code = local_codes
            area_keys = local_keys
    else:
        assert spec.points is not None
        x = pd.to_numeric(frame[spec.points.x], errors="coerce").to_numpy(dtype=np.float64)
        y = pd.to_numeric(frame[spec.points.y], errors="coerce").to_numpy(dtype=np.float64)
        exclude("missing coordinates", ~(np.isfinite(x) & np.isfinite(y)))
        rows = np.flatnonzero(alive)
        if len(rows):
            area_code[rows], n_boundary = _spatial_join(x[rows], y[rows], plan)
        exclude("point outside every area polygon", area_code < 0)

    multiplier = None
    if spec.count is not None:
        multiplier = pd.to_numeric(frame[spec.count], errors="coerce").to_numpy(dtype=np.float64)
        exclude("missing count", ~np.isfinite(multiplier))

    rows = np.flatnonzero(alive)
    assert area_keys is not None  # points always come with declared polygons
    cells = _cells(
        area_code[rows],
        period[rows],
        offence_codes[rows],
        weights,
        None if multiplier is None else multiplier[rows],
        plan,
        area_keys,
    )
    return _Partial(cells, reasons, n, codes_seen, unknown_areas, n_boundary)


def _cells(
    area: np.ndarray,
    period: np.ndarray,
    offence: np.ndarray,
    weights: np.ndarray,
    multiplier: np.ndarray | None,
    plan: _Plan,
    area_keys: pd.Index,
) -> pd.DataFrame:
    """Sums per (area, period) cell by bincount over dense cell codes."""
    n_areas = len(area_keys)
    columns = [*plan.variables, _RECORDS]
    if not len(area):
        empty = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.Index([], dtype=np.int64)], names=["area", "period"]
        )
        return pd.DataFrame(np.zeros((0, len(columns))), index=empty, columns=columns)
    first = int(period.min())
    n_periods = int(period.max()) - first + 1
    size = n_areas * n_periods
    dense = size <= 4 * len(area) + 1_000_000
    if dense:
        cell = area * n_periods + (period - first)
    else:  # a sparse spread of periods: number the occupied cells instead
        cell_keys = area * n_periods + (period - first)
        unique_cells, cell = np.unique(cell_keys, return_inverse=True)
        size = len(unique_cells)
    # counts of records first, then each variable's sums, kept only for occupied cells:
    # one dense array of the chunk's cells at a time, never all variables at once
    records = np.bincount(cell, minlength=size)
    occupied = np.flatnonzero(records)
    sums = np.empty((len(occupied), len(columns)))
    sums[:, -1] = records[occupied]
    for j in range(len(plan.variables)):
        per_record = weights[offence, j]
        if multiplier is not None:
            per_record = per_record * multiplier
        sums[:, j] = np.bincount(cell, weights=per_record, minlength=size)[occupied]
    if dense:
        cell_area, cell_period = np.divmod(occupied, n_periods)
    else:
        cell_area, cell_period = np.divmod(unique_cells[occupied], n_periods)
    # declared areas are kept as integer positions (compact to merge); others as their ids
    area_level = cell_area if plan.area_keys is not None else area_keys[cell_area]
    index = pd.MultiIndex.from_arrays([area_level, cell_period + first], names=["area", "period"])
    return pd.DataFrame(sums, index=index, columns=columns)


def _spatial_join(x: np.ndarray, y: np.ndarray, plan: _Plan) -> tuple[np.ndarray, int]:
    """Area code of each point (-1 outside every polygon) and the number of points that
    fall on a shared boundary (assigned to the first area listed)."""
    gpd = _geopandas("joining incident points to area polygons")
    import shapely

    assert plan.spec.points is not None
    points = gpd.GeoSeries(shapely.points(x, y), crs=plan.spec.points.crs)
    polygons = plan.polygons
    if polygons.crs is not None and points.crs is not None and polygons.crs != points.crs:
        points = points.to_crs(polygons.crs)
    point_index, polygon_index = polygons.sindex.query(points.values, predicate="intersects")
    order = np.lexsort((polygon_index, point_index))
    point_index, polygon_index = point_index[order], polygon_index[order]
    first = (
        np.r_[True, point_index[1:] != point_index[:-1]] if len(point_index) else np.zeros(0, bool)
    )
    codes = np.full(len(x), -1, dtype=np.int64)
    codes[point_index[first]] = polygon_index[first]
    n_boundary = len(np.unique(point_index[~first]))
    return codes, n_boundary


def _merge(parts: Sequence[_Partial]) -> _Partial:
    """Sum partial counts (the combine step of the distributed group-by)."""
    parts = [p for p in parts if p is not None]
    frames = [p.cells for p in parts if len(p.cells)]
    if frames:
        cells = pd.concat(frames).groupby(level=["area", "period"], sort=False).sum()
    else:
        cells = parts[0].cells
    reasons: dict[str, int] = {}
    codes: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for part in parts:
        for target, source in (
            (reasons, part.reasons),
            (codes, part.codes),
            (unknown, part.unknown_areas),
        ):
            for key, value in source.items():
                target[key] = target.get(key, 0) + value
    sources: dict[str, int] = {}
    for part in parts:
        for key, value in part.sources.items():
            sources[key] = sources.get(key, 0) + value
    return _Partial(
        cells,
        reasons,
        sum(p.n_records for p in parts),
        codes,
        unknown,
        sum(p.n_boundary for p in parts),
        sources,
    )


def _split_partial(part: _Partial, n_blocks: int) -> list[_Partial]:
    """Split partial counts into blocks of areas (the shuffle of a distributed group-by);
    the record counters go with the first block only, so nothing is counted twice."""
    area = part.cells.index.get_level_values("area")
    codes = (
        area.to_numpy()
        if pd.api.types.is_integer_dtype(area.dtype)
        else pd.util.hash_array(area.to_numpy(dtype=object))
    )
    block = np.asarray(codes).astype(np.uint64) % np.uint64(n_blocks)
    out = []
    for b in range(n_blocks):  # a loop over blocks, not rows
        cells = part.cells[block == b]
        if b == 0:
            out.append(
                _Partial(
                    cells,
                    part.reasons,
                    part.n_records,
                    part.codes,
                    part.unknown_areas,
                    part.n_boundary,
                    part.sources,
                )
            )
        else:
            out.append(_Partial(cells, {}, 0, {}, {}, 0, {}))
    return out


def _grid_known(plan: _Plan) -> bool:
    return plan.area_keys is not None and plan.period_range is not None


def _fold(
    acc: tuple[np.ndarray, _Partial] | None, part: _Partial, plan: _Plan
) -> tuple[np.ndarray, _Partial]:
    """Add one chunk's counts into a dense (cells × variables) grid: memory stays at the
    grid plus one chunk however many chunks are folded in. Needs declared areas and
    periods; the grid of ``acc`` is updated in place (it is consumed only by the next fold)."""
    assert plan.area_keys is not None and plan.period_range is not None
    first, last = plan.period_range
    n_periods = last - first + 1
    columns = [*plan.variables, _RECORDS]
    if acc is None:
        dense = np.zeros((len(plan.area_keys) * n_periods, len(columns)))
        counters: _Partial | None = None
    else:
        dense, counters = acc
    cells = part.cells
    flat = cells.index.get_level_values("area").to_numpy(dtype=np.int64) * n_periods + (
        cells.index.get_level_values("period").to_numpy(dtype=np.int64) - first
    )
    dense[flat] += cells[columns].to_numpy()  # each cell occurs once in a partial
    rest = replace(part, cells=cells.iloc[:0])
    return dense, rest if counters is None else _merge([counters, rest])


def _unfold(accs: Sequence[tuple[np.ndarray, _Partial]], plan: _Plan) -> _Partial:
    """The partial counts of dense grids (summed)."""
    assert plan.period_range is not None
    first, last = plan.period_range
    n_periods = last - first + 1
    dense = accs[0][0] if len(accs) == 1 else np.sum([a[0] for a in accs], axis=0)
    total = _merge([a[1] for a in accs])
    occupied = np.flatnonzero(dense[:, -1] > 0)
    area, period = np.divmod(occupied, n_periods)
    index = pd.MultiIndex.from_arrays([area, period + first], names=["area", "period"])
    total.cells = pd.DataFrame(dense[occupied], index=index, columns=[*plan.variables, _RECORDS])
    return total


def _accumulate(parts: Iterator[_Partial], plan: _Plan) -> _Partial:
    """Sum partial counts one at a time (the pandas engine's loop over chunks): into a
    dense grid when the areas and periods are declared, else merging every few chunks."""
    if not _grid_known(plan):
        pending: list[_Partial] = []
        for part in parts:
            pending.append(part)
            if len(pending) >= 4:
                pending = [_merge(pending)]
        return _merge(pending)
    acc: tuple[np.ndarray, _Partial] | None = None
    for part in parts:
        acc = _fold(acc, part, plan)
    if acc is None:  # pragma: no cover - there is always at least one chunk
        raise DataError("no incident data")
    return _unfold([acc], plan)


def _count_chunk(chunk: _Chunk, plan: _Plan) -> _Partial:
    """Read and count one chunk (a task of the Dask engine, a loop step of pandas')."""
    part = _count(_read_chunk(chunk, plan.spec), plan)
    part.sources = {chunk.path: part.n_records}
    return part


# =============================================================================================
# Finishing: partial counts → the dense panel and the report
# =============================================================================================
def _finish(total: _Partial, plan: _Plan, files: pd.DataFrame, name: str | None) -> IncidentPanel:
    from securindex.dataset import ENTITY, LABEL, PERIOD, Panel

    spec = plan.spec
    cells = total.cells
    n_counted = int(cells[_RECORDS].sum()) if len(cells) else 0
    issues: list[dict[str, Any]] = []
    labels: np.ndarray
    if plan.area_keys is not None and plan.area_labels is not None:
        area_keys = plan.area_keys
        labels = plan.area_labels
    else:
        area_keys = pd.Index(sorted(cells.index.unique("area")), dtype=object)
        labels = area_keys.to_numpy()
        issues.append(
            {
                "issue": "areas taken from the incidents",
                "item": "",
                "n_records": 0,
                "action": "note",
            }
        )
    if plan.period_range is not None:
        first, last = plan.period_range
    elif n_counted:
        present = cells.index.get_level_values("period")
        first, last = int(present.min()), int(present.max())
    else:
        first = last = 0
    if n_counted == 0:
        report = _report(total, plan, files, issues, n_counted, area_keys, (first, last))
        raise DataError(
            "no incident record could be counted:\n"
            + report.summary()
            + "\nCheck the columns, codes, periods and areas of the from_incidents block."
        )
    period_range = np.arange(first, last + 1, dtype=np.int64)
    n_periods = len(period_range)
    n_areas = len(area_keys)
    if plan.area_keys is not None:
        area_position = cells.index.get_level_values("area").to_numpy(dtype=np.int64)
    else:
        area_position = area_keys.get_indexer(cells.index.get_level_values("area"))
    period_position = cells.index.get_level_values("period").to_numpy(dtype=np.int64) - first
    dense = np.zeros((n_areas * n_periods, len(plan.variables)))
    flat = area_position * n_periods + period_position
    dense[flat] = cells[plan.variables].to_numpy()
    labels_per_period = period_labels(period_range, spec.grain)
    index = pd.MultiIndex.from_arrays(
        [
            np.repeat(labels, n_periods),
            np.tile(np.asarray(labels_per_period, dtype=object), n_areas),
        ],
        names=[ENTITY, PERIOD],
    )
    if spec.grain == "year":
        index = index.set_levels(index.levels[1].astype(np.int64), level=1)
    frame = pd.DataFrame(dense, index=index, columns=plan.variables)
    units = {k: v.unit for k, v in spec.variables.items()}
    groups = pd.DataFrame(index=index)
    table = plan.area_table
    if table is not None and spec.areas is not None:
        for variable_name, variable in spec.areas.variables.items():
            values = table[variable_name].to_numpy(dtype=np.float64)
            frame[variable_name] = np.repeat(values, n_periods)
            units[variable_name] = variable.unit
            missing = np.isnan(values)
            zero = values == 0
            for mask, what in ((missing, "missing"), (zero, "zero")):
                if mask.any():
                    issues.append(
                        {
                            "issue": f"area variable '{variable_name}' is {what}",
                            "item": ", ".join(map(str, labels[mask][:10]))
                            + (f" … ({int(mask.sum())} areas)" if mask.sum() > 10 else ""),
                            "n_records": 0,
                            "action": "kept (values over it are undefined and audited)",
                        }
                    )
        for column in spec.areas.groups:
            groups[column] = np.repeat(table[column].to_numpy(), n_periods)
        if "__display__" in table.columns:
            groups[LABEL] = np.repeat(table["__display__"].to_numpy(), n_periods)
    panel = Panel(frame, units, groups=groups, name=name or "incidents")
    report = _report(total, plan, files, issues, n_counted, area_keys, (first, last))
    if spec.unknown_offences == "error":
        unknown = report.issues[
            (report.issues["issue"] == "unknown offence code") & (report.issues["item"] != "")
        ]
        if len(unknown):
            listed = ", ".join(f"{r.item} ({r.n_records})" for r in unknown.head(20).itertuples())
            raise DataError(
                f"{int(unknown['n_records'].sum())} record(s) have offence codes that no "
                f"variable maps: {listed}. Map them under 'variables' or set "
                "unknown_offences: report"
            )
    return IncidentPanel(panel, report)


def _report(
    total: _Partial,
    plan: _Plan,
    files: pd.DataFrame,
    issues: list[dict[str, Any]],
    n_counted: int,
    area_keys: pd.Index,
    period_range: tuple[int, int],
) -> IncidentReport:
    spec = plan.spec
    rows: list[dict[str, Any]] = []
    for reason in REASONS:
        count = total.reasons.get(reason, 0)
        if not count:
            continue
        item = ""
        rows.append({"issue": reason, "item": item, "n_records": count, "action": "excluded"})
        if reason == "unknown offence code":
            unknown_codes = {
                code: n for code, n in total.codes.items() if code in _unknown_codes(plan, total)
            }
            for code, n in sorted(unknown_codes.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append({"issue": reason, "item": code, "n_records": n, "action": "excluded"})
        if reason == "unknown area id":
            for area, n in sorted(total.unknown_areas.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append({"issue": reason, "item": area, "n_records": n, "action": "excluded"})
        if reason.startswith("date") and spec.periods is not None:
            side, bound = (
                ("start", spec.periods.start) if "before" in reason else ("end", spec.periods.end)
            )
            rows[-1]["issue"] = f"{reason} ({side} {bound})"
        if reason == "filtered out":
            rows[-1]["issue"] = "filtered out by " + "; ".join(f.describe() for f in spec.filters)
    if total.n_boundary:
        rows.append(
            {
                "issue": "point on a boundary shared by several areas",
                "item": "",
                "n_records": total.n_boundary,
                "action": "kept (assigned to the first area listed)",
            }
        )
    unused = _unused_patterns(plan, total)
    for variable, pattern in unused:
        rows.append(
            {
                "issue": f"pattern of variable '{variable}' matched no record",
                "item": pattern,
                "n_records": 0,
                "action": "note",
            }
        )
    for _, row in files.iterrows():
        if row["schema"] != "ok":
            rows.append(
                {
                    "issue": "schema differs",
                    "item": f"{Path(row['file']).name}: {row['schema']}",
                    "n_records": int(row.get("n_records", 0) or 0),
                    "action": "harmonised",
                }
            )
    rows.extend(issues)
    cells = total.cells
    totals = cells[plan.variables].sum() if len(cells) else pd.Series(0.0, index=plan.variables)
    offences = _offence_table(plan, total)
    labels = period_labels([period_range[0], period_range[1]], spec.grain)
    return IncidentReport(
        n_records=total.n_records,
        n_counted=n_counted,
        issues=pd.DataFrame(rows, columns=_ISSUE_COLUMNS),
        totals=totals.rename("total"),
        offences=offences,
        files=files,
        grain=spec.grain,
        periods=(labels[0], labels[1]),
        n_areas=len(area_keys),
    )


def _unknown_codes(plan: _Plan, total: _Partial) -> set[str]:
    codes = pd.Index(list(total.codes), dtype=object)
    weights = _code_weights(plan, codes)
    return {str(c) for c, w in zip(codes, weights[:, 0], strict=True) if np.isnan(w)}


def _unused_patterns(plan: _Plan, total: _Partial) -> list[tuple[str, str]]:
    codes = [c for c, n in total.codes.items() if n]
    unused = []
    for name, patterns in plan.patterns:
        for pattern, _ in patterns:
            if not any(c == pattern or fnmatch.fnmatchcase(c, pattern) for c in codes):
                unused.append((name, pattern))
    return unused


def _offence_table(plan: _Plan, total: _Partial) -> pd.DataFrame:
    codes = pd.Index(sorted(total.codes), dtype=object)
    weights = _code_weights(plan, codes)
    feeds = (
        [
            ", ".join(plan.variables[j] for j in np.flatnonzero(row > 0))
            if not np.isnan(row[0])
            else ""
            for row in weights
        ]
        if len(codes)
        else []
    )
    return pd.DataFrame(
        {
            "code": codes.to_numpy(),
            "n_records": [total.codes[c] for c in codes],
            "variables": feeds,
        }
    ).sort_values("n_records", ascending=False, ignore_index=True)


# =============================================================================================
# Public entry point
# =============================================================================================
def _resolve_spec(
    spec: IncidentSpec | Mapping[str, Any] | str | Path, base_dir: str | Path | None
) -> tuple[IncidentSpec, Path, str | None]:
    if isinstance(spec, IncidentSpec):
        return spec, Path(base_dir or "."), None
    if isinstance(spec, Mapping):
        block = spec.get("from_incidents", spec)
        try:
            return IncidentSpec.model_validate(dict(block)), Path(base_dir or "."), spec.get("name")
        except ValueError as exc:
            raise SpecError(f"invalid from_incidents block: {exc}") from None
    resolved, folder, name = read_incident_dictionary(spec)
    return resolved, Path(base_dir) if base_dir is not None else folder, name


def incidents_to_panel(
    spec: IncidentSpec | Mapping[str, Any] | str | Path,
    data: pd.DataFrame | str | Path | Sequence[str | Path] | None = None,
    *,
    areas: pd.DataFrame | Sequence[Any] | None = None,
    base_dir: str | Path | None = None,
    engine: Literal["pandas", "dask"] = "pandas",
    client: Any = None,
    scheduler: str | None = None,
    rows_per_chunk: int = 2_000_000,
) -> IncidentPanel:
    """Count incident records into the (entity, period) panel, with a full report.

    Parameters
    ----------
    spec : IncidentSpec, mapping or path
        The ``from_incidents`` block: an :class:`IncidentSpec`, a dict (the block or a
        dictionary holding it), or a data-dictionary YAML file with the block.
    data : DataFrame, path, glob or list of them, optional
        The incident records; defaults to the block's ``source`` (relative to the
        dictionary file, or to ``base_dir``).
    areas : DataFrame or sequence, optional
        Replaces the block's ``areas``: a table with the id column (and the declared area
        variables, groups, label; a GeoDataFrame for points), or a list of ids.
    base_dir : path, optional
        Folder that relative paths in the block are read from.
    engine : {"pandas", "dask"}, default "pandas"
        ``dask`` counts the files as a distributed group-by on a dask.distributed cluster
        (``securindex[dask]``); results are identical.
    client, scheduler : optional
        Dask only: a ``distributed.Client``, or the address of a scheduler to connect to;
        without either, the current client or a local cluster is used.
    rows_per_chunk : int, default 2 000 000
        Largest Parquet read unit [records]: files are read and counted one chunk at a
        time, so memory holds one chunk plus the grid.

    Returns
    -------
    IncidentPanel
        ``(panel, report)``: a :class:`~securindex.dataset.Panel` over every declared area
        and every period of the range (zero where nothing was recorded), with the incident
        variables [their units] and the area variables; and the :class:`IncidentReport`.

    Raises
    ------
    DataError
        No source file, a file lacking a required column, duplicate area ids, nothing
        counted at all, or unknown offence codes with ``unknown_offences: error``.
    SpecError
        An invalid block.

    Examples
    --------
    >>> records = pd.DataFrame({"day": ["2020-01-03", "2020-02-10", "2020-02-11"],
    ...                         "code": ["BU1", "BU2", "ROB"], "area": ["a", "a", "b"]})
    >>> block = {"date": "day", "offence": "code", "area": "area", "grain": "month",
    ...          "areas": {"ids": ["a", "b", "c"]},
    ...          "variables": {"burglaries": {"codes": ["BU*"]}}}
    >>> panel, report = incidents_to_panel(block, records)
    >>> panel.frame["burglaries"].tolist()
    [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    >>> report.n_counted, report.n_excluded
    (2, 1)
    """
    resolved, folder, name = _resolve_spec(spec, base_dir)
    if engine == "dask":
        from securindex.engines.dask import incidents_to_panel_dask

        return incidents_to_panel_dask(
            resolved,
            data,
            areas=areas,
            base_dir=folder,
            name=name,
            client=client,
            scheduler=scheduler,
            rows_per_chunk=rows_per_chunk,
        )
    if engine != "pandas":
        raise SpecError(f"unknown engine {engine!r}; choose 'pandas' or 'dask'")
    plan = _plan(resolved, folder, areas)
    if isinstance(data, pd.DataFrame):
        absent = [c for c in resolved.required_columns() if c not in data.columns]
        if absent:
            raise DataError(
                f"incident records lack required column(s) {absent}; columns are "
                f"{list(data.columns)[:20]}"
            )
        # in row blocks: the kernel's temporaries stay small whatever the frame's size
        blocks = (
            _count(data.iloc[start : start + rows_per_chunk], plan)
            for start in range(0, max(len(data), 1), rows_per_chunk)
        )
        files = pd.DataFrame({"file": ["<DataFrame>"], "schema": ["ok"], "n_records": [len(data)]})
        return _finish(_accumulate(blocks, plan), plan, files, name)
    sources = (
        resolved.source
        if data is None
        else ([data] if isinstance(data, (str, Path)) else list(data))
    )
    if not sources:
        raise SpecError("no incident data: give data= or 'source' in the from_incidents block")
    paths = _expand_sources(sources, folder)
    files = _scan_files(paths, resolved)
    total = _accumulate((_count_chunk(c, plan) for c in _chunks(paths, rows_per_chunk)), plan)
    files["n_records"] = files["file"].map(total.sources).fillna(0).astype(np.int64)
    return _finish(total, plan, files, name)


# =============================================================================================
# Data for examples, tests and benchmarks
# =============================================================================================
OFFENCE_MIX: dict[str, float] = {
    # share of recorded incidents per offence code: a skewed, police-like mix
    "TH-SHOP": 0.140, "TH-PERSON": 0.060, "TH-OTHER": 0.100, "TH-BIKE": 0.030,
    "VE-THEFT": 0.030, "VE-FROM": 0.070, "BU-RES": 0.050, "BU-NONRES": 0.020,
    "VI-ASSAULT": 0.100, "VI-GBH": 0.020, "VI-HARASS": 0.080, "VI-HOMICIDE": 0.0002,
    "RO-PERSON": 0.015, "RO-BUSINESS": 0.002, "SX-RAPE": 0.004, "SX-OTHER": 0.008,
    "CD-VEHICLE": 0.040, "CD-DWELLING": 0.030, "CD-ARSON": 0.005, "DR-POSSESS": 0.030,
    "DR-TRAFFIC": 0.005, "PO-ORDER": 0.050, "WE-POSSESS": 0.008, "OT-MISC": 0.1028,
}  # fmt: skip
"""Synthetic offence mix [share of incidents]; the shares sum to 1."""

HARM_DAYS: dict[str, float] = {
    "VI-HOMICIDE": 5475.0, "SX-RAPE": 1825.0, "RO-PERSON": 365.0, "RO-BUSINESS": 365.0,
    "VI-GBH": 365.0, "BU-RES": 40.0, "BU-NONRES": 20.0, "SX-OTHER": 60.0, "DR-TRAFFIC": 730.0,
    "VI-ASSAULT": 10.0, "VE-THEFT": 10.0, "CD-ARSON": 30.0, "WE-POSSESS": 60.0,
}  # fmt: skip
"""Illustrative harm weights in the style of the Cambridge Crime Harm Index [day of
imprisonment per offence] (Sherman, Neyroud and Neyroud 2016, doi:10.1093/police/paw003);
not the official values."""


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def synthetic_areas(
    n_areas: int,
    *,
    seed: int | np.random.Generator | None = None,
    polygons: bool = False,
    cell_size: float = 1000.0,
) -> pd.DataFrame:
    """Areas for synthetic incidents: id, population, district (and square polygons).

    Parameters
    ----------
    n_areas : int
        Number of areas [count].
    seed : int or Generator, optional
        Randomness; one seed always gives one output.
    polygons : bool, default False
        Return a GeoDataFrame of ``cell_size`` squares on a grid in a metric CRS
        (EPSG:3035, [m]), for spatial joins (needs ``securindex[geo]``).
    cell_size : float, default 1000
        Side of each square [m].

    Returns
    -------
    DataFrame
        ``area`` (text id), ``population`` [inhabitant; lognormal around 3 000, with a few
        areas of 0 — parks, industrial zones], ``district`` (100 areas each), and
        ``geometry`` when ``polygons``.
    """
    rng = _rng(seed)
    population = np.round(rng.lognormal(np.log(3000.0), 0.5, n_areas))
    population[rng.random(n_areas) < 0.002] = 0.0
    frame = pd.DataFrame(
        {
            "area": [f"A{i:06d}" for i in range(n_areas)],
            "population": population,
            "district": [f"D{i // 100:04d}" for i in range(n_areas)],
        }
    )
    if not polygons:
        return frame
    gpd = _geopandas("synthetic polygons")
    import shapely

    side = int(np.ceil(np.sqrt(n_areas)))
    col, row = np.divmod(np.arange(n_areas), side)
    x0 = 4_000_000.0 + col * cell_size
    y0 = 3_000_000.0 + row * cell_size
    boxes = shapely.box(x0, y0, x0 + cell_size, y0 + cell_size)
    return gpd.GeoDataFrame(frame, geometry=boxes, crs="EPSG:3035")


def synthetic_incidents(
    n_incidents: int,
    areas: pd.DataFrame,
    *,
    start: str = "2015-01",
    n_months: int = 120,
    seed: int | np.random.Generator | None = None,
    points: bool = False,
    cell_size: float = 1000.0,
    mix: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Realistic synthetic incident records (seeded), vectorised.

    Areas differ strongly in risk (a lognormal rate per inhabitant, sd 0.8 on the log
    scale, so a few hot spots hold much of the crime, as in real cities), months follow a
    seasonal cycle (+15 % in summer) and a slow trend, offence codes follow the skewed
    :data:`OFFENCE_MIX`.

    Parameters
    ----------
    n_incidents : int
        Number of records [count].
    areas : DataFrame
        From :func:`synthetic_areas` (``area``, ``population``).
    start : str, default "2015-01"
        First month.
    n_months : int, default 120
        Months covered [month].
    seed : int or Generator, optional
        Randomness.
    points : bool, default False
        Add ``x``, ``y`` [m, EPSG:3035] uniformly inside each area's square of
        :func:`synthetic_areas` ``(polygons=True)``.
    mix : mapping, optional
        Offence code → share, default :data:`OFFENCE_MIX`.

    Returns
    -------
    DataFrame
        ``occurred`` (datetime64), ``area`` (text), ``offence`` (text), and ``x``, ``y``.
    """
    rng = _rng(seed)
    mix = dict(mix or OFFENCE_MIX)
    codes = np.asarray(list(mix), dtype=object)
    shares = np.asarray(list(mix.values()), dtype=np.float64)
    n_areas = len(areas)
    rate = rng.lognormal(0.0, 0.8, n_areas) * np.maximum(areas["population"].to_numpy(), 50.0)
    area = rng.choice(n_areas, size=n_incidents, p=rate / rate.sum())
    month0 = np.datetime64(pd.Timestamp(start).strftime("%Y-%m"), "M")
    months = np.arange(n_months)
    calendar = (month0 + months).astype(np.int64) % 12
    weight = (1 + 0.15 * np.sin(2 * np.pi * (calendar - 3) / 12)) * (1 + 0.002 * months)
    month = rng.choice(n_months, size=n_incidents, p=weight / weight.sum())
    first_day = (month0 + month).astype("datetime64[D]")
    length = ((month0 + month + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    seconds = (rng.random(n_incidents) * length * 86400).astype(np.int64)
    occurred = first_day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    offence = rng.choice(len(codes), size=n_incidents, p=shares / shares.sum())
    area_ids = areas["area"].to_numpy()
    frame = pd.DataFrame(
        {
            "occurred": occurred.astype("datetime64[ns]"),
            "area": pd.Categorical.from_codes(area, categories=pd.Index(area_ids)).astype(str),
            "offence": pd.Categorical.from_codes(offence, categories=pd.Index(codes)).astype(str),
        }
    )
    if points:
        side = int(np.ceil(np.sqrt(n_areas)))
        col, row = np.divmod(area, side)
        frame["x"] = 4_000_000.0 + (col + rng.random(n_incidents)) * cell_size
        frame["y"] = 3_000_000.0 + (row + rng.random(n_incidents)) * cell_size
    return frame


def incidents_from_counts(
    counts: pd.DataFrame,
    *,
    entity: str,
    period: str,
    codes: Mapping[str, str],
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Expand yearly counts into one synthetic record per counted incident.

    This *derives* incident-shaped rows from published aggregates (e.g. the NYPD or Berlin
    yearly counts shipped in ``securindex.datasets``) so the incident path can be shown on
    real-shaped data; the dates inside each year are random (seeded), not real.

    Parameters
    ----------
    counts : DataFrame
        One row per (entity, year) with one count column per offence [count].
    entity, period : str
        The entity and year columns.
    codes : mapping
        Count column → offence code written on its records.
    seed : int or Generator, optional
        Randomness of the dates.

    Returns
    -------
    DataFrame
        ``area``, ``date`` (text, ISO), ``offence``: one row per incident.
    """
    rng = _rng(seed)
    frames = []
    for column, code in codes.items():  # a loop over offence columns, not rows
        n = counts[column].fillna(0).to_numpy().astype(np.int64)
        rows = np.repeat(np.arange(len(counts)), n)
        years = counts[period].to_numpy().astype(np.int64)[rows]
        start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        length = ((years - 1969).astype("datetime64[Y]").astype("datetime64[D]") - start).astype(
            np.int64
        )
        day = start + (rng.random(len(rows)) * length).astype(np.int64).astype("timedelta64[D]")
        frames.append(
            pd.DataFrame(
                {
                    "area": counts[entity].to_numpy()[rows],
                    "date": np.datetime_as_string(day, unit="D"),
                    "offence": code,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
