"""City panels: one row per (entity, period), one column per variable, each with a unit.

A :class:`Panel` is what indicators are computed over. It is built from a pandas
DataFrame, a CSV or Parquet file, or the long (tidy) form ``entity, period, variable,
value[, unit]``, and is validated once, at the edge: missing columns, duplicate
(entity, period) rows, text in numeric columns, negative counts or populations and unknown
units are reported together, with the offending rows, before anything is computed.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import logging
import lzma
import warnings
import zlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd
import pydantic

from securindex._yaml import Located, read_yaml
from securindex.errors import DataError, UnitError
from securindex.formula import PanelLayout
from securindex.spec._validate import validate_located
from securindex.spec.dictionary import DataDictionary, Pattern, Variable
from securindex.units import parse_unit

if TYPE_CHECKING:
    from securindex.geo.areas import Areas

__all__ = [
    "MAX_COLUMNS",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_LINE_BYTES",
    "Panel",
    "read_dictionary",
    "read_table",
]

logger = logging.getLogger(__name__)

ENTITY = "entity"
PERIOD = "period"
LABEL = "label"  # the group column holding each entity's display name, when the data have one

# Quantities that are counted: a negative value is a data error, not a measurement.
_COUNTED_UNITS = {"count", "inhabitant", "household", "dwelling"}


def read_dictionary(path: str | Path) -> DataDictionary:
    """Read and validate a data-dictionary YAML file (errors located at file:line).

    A relative ``areas.file`` is resolved against the dictionary's folder.
    """
    spec = validate_located(DataDictionary, read_yaml(path))
    if spec.areas is not None and not Path(spec.areas.file).is_absolute():
        located = str(Path(path).parent / spec.areas.file)
        spec = spec.model_copy(update={"areas": spec.areas.model_copy(update={"file": located})})
    return spec


def _is_counted(unit_text: str) -> bool:
    unit = parse_unit(unit_text)  # any positive scale: "1000 inhabitant" is still counted
    return str(unit.unit) in _COUNTED_UNITS | {
        "incident",
        "offence",
        "event",
        "person",
        "people",
        "crime",
    }


class Panel:
    """An entity × period table of variables with units.

    Use the constructors :meth:`from_frame`, :meth:`read`, :meth:`from_long` and
    :meth:`example`, which validate their input; the plain constructor trusts it.

    Parameters
    ----------
    frame
        Float64 columns indexed by a MultiIndex named ``("entity", "period")``.
    units
        Unit text of every column (``"inhabitant"``, ``"count"``, ``"km**2"`` …).
    groups
        Optional grouping columns (region, state, country group) on the same index, used by
        grouped imputation and reports; a ``label`` column holds display names when the data
        dictionary names one.
    areas
        The entities' polygons (:class:`securindex.geo.Areas`), when the data dictionary
        names them (``areas:``), the data were a GeoDataFrame, or ``areas=`` was given;
        None otherwise. Maps, spatial statistics and spatial formula functions read them.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        units: Mapping[str, str],
        *,
        groups: pd.DataFrame | None = None,
        name: str | None = None,
        dictionary: DataDictionary | None = None,
        areas: Areas | None = None,
    ) -> None:
        self.frame = frame
        self.units = dict(units)
        self.groups = groups if groups is not None else pd.DataFrame(index=frame.index)
        self.name = name
        self.dictionary = dictionary
        self.areas = areas

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame,
        *,
        dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
        entity: str | None = None,
        period: str | None = None,
        units: Mapping[str, str] | None = None,
        source: str | None = None,
        areas: Areas | Any | None = None,
    ) -> Panel:
        """Build a panel from a wide DataFrame.

        Either give a data dictionary (which names the id columns, renames columns to
        variable names and gives their units) or ``entity``/``period`` and a ``units``
        mapping of column → unit. Columns not described are ignored.

        The areas' polygons come from ``areas`` (an :class:`~securindex.geo.Areas`, or a
        GeoDataFrame whose ``key`` is the entity column), else from the dictionary's
        ``areas:`` entry, else from the data's own geometry when ``data`` is a
        GeoDataFrame (one polygon per entity). They are joined to the entities and every
        mismatch named (:meth:`securindex.geo.Areas.align`).
        """
        spec = _as_dictionary(dictionary, entity=entity, period=period, units=units)
        source = source or spec.name or "data"
        problems: list[DataError] = []
        data = _shape(data, spec, source)

        id_columns = [spec.entity] + ([spec.period] if spec.period else [])
        missing_ids = [c for c in id_columns if c not in data.columns]
        if missing_ids:
            raise DataError(
                f"id column(s) {missing_ids} not found; columns are {list(data.columns)[:20]}"
                + _near_misses(missing_ids, data.columns),
                source=source,
            )
        missing = {
            name: spec.column_of(name)
            for name in spec.variables
            if spec.column_of(name) not in data.columns
        }
        if missing:
            listed = ", ".join(f"{v} (column '{c}')" for v, c in missing.items())
            raise DataError(
                f"variables missing from the data: {listed}"
                + _near_misses(list(missing.values()), data.columns),
                source=source,
            )
        missing_groups = [g for g in spec.groups if g not in data.columns]
        if missing_groups:
            raise DataError(
                f"group column(s) {missing_groups} not found"
                + _near_misses(missing_groups, data.columns),
                source=source,
            )

        entity_values = data[spec.entity]
        if entity_values.isna().any():
            raise DataError(
                "empty entity id (a total or note row? drop it with rows: {drop_missing: "
                f"[{spec.entity}]}} in the data dictionary)",
                column=spec.entity,
                rows=_row_numbers(entity_values.isna().to_numpy()),
                source=source,
            )
        if spec.period:
            period_values = data[spec.period]
            if period_values.isna().any():
                raise DataError(
                    "empty period",
                    column=spec.period,
                    rows=_row_numbers(period_values.isna().to_numpy()),
                    source=source,
                )
            period_values = _one_period_type(period_values)
        else:
            value = spec.period_value if spec.period_value is not None else 0
            period_values = pd.Series(value, index=data.index)
        index = pd.MultiIndex.from_arrays(
            [entity_values.to_numpy(), period_values.to_numpy()], names=[ENTITY, PERIOD]
        )

        duplicated = index.duplicated(keep=False)
        if duplicated.any():
            rows = list(dict.fromkeys(index[duplicated]))
            problems.append(
                DataError(
                    f"{len(rows)} (entity, period) pair(s) appear more than once; "
                    "aggregate or remove the duplicates first",
                    rows=rows,
                    source=source,
                )
            )

        columns: dict[str, np.ndarray] = {}
        for name in spec.variables:
            column = spec.column_of(name)
            raw = data[column]
            wrong_type = _not_a_number_column(raw, column, index, source)
            if wrong_type is not None:
                problems.append(wrong_type)
                continue
            numeric = pd.to_numeric(raw, errors="coerce")
            bad = numeric.isna() & raw.notna()
            if bad.any():
                examples = raw[bad].astype(str).unique()[:3].tolist()
                problems.append(
                    DataError(
                        f"{int(bad.sum())} non-numeric value(s) such as {examples}",
                        column=column,
                        rows=list(index[bad.to_numpy()]),
                        source=source,
                    )
                )
                continue
            values = numeric.to_numpy(dtype=np.float64)
            if _is_counted(spec.variables[name].unit):
                negative = values < 0
                if negative.any():
                    problems.append(
                        DataError(
                            f"{int(negative.sum())} negative value(s) in a counted quantity "
                            f"({spec.variables[name].unit})",
                            column=column,
                            rows=list(index[negative]),
                            source=source,
                        )
                    )
            columns[name] = values
        if problems:
            if len(problems) == 1:
                raise problems[0]
            message = f"{len(problems)} problems in the data:\n" + "\n".join(
                f"  {p}" for p in problems
            )
            raise DataError(message, source=source)

        frame = pd.DataFrame(columns, index=index)
        group_columns = {g: data[g].to_numpy() for g in spec.groups}
        if spec.label:
            if spec.label not in data.columns:
                raise DataError(f"label column '{spec.label}' not found", source=source)
            group_columns[LABEL] = data[spec.label].astype(str).to_numpy()
        groups = pd.DataFrame(group_columns, index=index)
        unit_map = {name: v.unit for name, v in spec.variables.items()}
        polygons = _panel_areas(data, spec, areas, entity_values, source)
        return cls(frame, unit_map, groups=groups, name=spec.name, dictionary=spec, areas=polygons)

    @classmethod
    def read(
        cls,
        path: str | Path,
        *,
        dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
        entity: str | None = None,
        period: str | None = None,
        units: Mapping[str, str] | None = None,
        encoding: str | None = None,
    ) -> Panel:
        """Read a CSV (optionally gzipped) or Parquet file as a panel.

        Without ``dictionary``, a ``<stem>.dictionary.yaml`` or ``dictionary.yaml`` beside
        the file is used when present. The entity, label and group columns are read as text
        (``01001`` keeps its leading zero); ``encoding`` (or the dictionary's ``encoding``)
        names a text encoding other than UTF-8. See :func:`read_table` for the limits.
        """
        path = Path(path)
        if dictionary is None and entity is None:
            for candidate in (
                path.with_name(path.name.split(".")[0] + ".dictionary.yaml"),
                path.with_name("dictionary.yaml"),
            ):
                if candidate.exists():
                    dictionary = candidate
                    break
        spec = _as_dictionary(dictionary, entity=entity, period=period, units=units)
        data = read_table(path, text_columns=_id_columns(spec), encoding=encoding or spec.encoding)
        logger.info("read %s: %d rows × %d columns; dictionary %s", path, *data.shape, dictionary)
        return cls.from_frame(data, dictionary=spec, source=str(path))

    @classmethod
    def from_long(
        cls,
        data: pd.DataFrame,
        *,
        entity: str = "entity",
        period: str = "period",
        variable: str = "variable",
        value: str = "value",
        unit: str = "unit",
        units: Mapping[str, str] | None = None,
        source: str | None = None,
    ) -> Panel:
        """Build a panel from the long (tidy) form: one row per entity, period, variable.

        Units come from the ``unit`` column (one unit per variable) or the ``units`` mapping.
        """
        source = source or "long data"
        needed = [entity, period, variable, value] + ([unit] if units is None else [])
        absent = [c for c in needed if c not in data.columns]
        if absent:
            raise DataError(f"column(s) {absent} not found in long data", source=source)
        if units is None:
            per_variable = data.groupby(variable, sort=True)[unit].unique()
            conflicting = per_variable[per_variable.map(len) > 1]
            if len(conflicting):
                name = conflicting.index[0]
                raise DataError(
                    f"variable '{name}' has several units {list(conflicting.iloc[0])}; "
                    "convert to one unit first",
                    column=unit,
                    source=source,
                )
            units = {str(k): str(v[0]) for k, v in per_variable.items()}
        key = [entity, period, variable]
        duplicated = data.duplicated(key, keep=False)
        if duplicated.any():
            rows = list(data.loc[duplicated, key].itertuples(index=False, name=None))
            raise DataError(
                f"{len(rows)} rows repeat an (entity, period, variable) triple",
                rows=rows,
                source=source,
            )
        wide = data.pivot(index=[entity, period], columns=variable, values=value)
        wide.columns = [str(c) for c in wide.columns]
        wide = wide.reset_index()
        return cls.from_frame(wide, entity=entity, period=period, units=dict(units), source=source)

    @classmethod
    def example(cls, name: str) -> Panel:
        """One of the real datasets shipped with securindex (see ``securindex.datasets``)."""
        from securindex.datasets import example_dir, read_example_frame

        folder = example_dir(name)
        located = read_yaml(
            f"{name}/dictionary.yaml", folder.joinpath("dictionary.yaml").read_text()
        )
        spec = validate_located(DataDictionary, located)
        logger.info("shipped example dataset %s", name)
        areas = None
        if spec.areas is not None:
            from securindex.geo.areas import areas_from_spec

            areas = areas_from_spec(spec.areas, base=folder)
        return cls.from_frame(read_example_frame(name), dictionary=spec, source=name, areas=areas)

    # -- views ----------------------------------------------------------------------------
    @property
    def entities(self) -> pd.Index:
        return self.frame.index.unique(ENTITY)

    @property
    def periods(self) -> pd.Index:
        return self.frame.index.unique(PERIOD).sort_values()

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"Panel({self.name or 'unnamed'}: {len(self.entities)} entities × "
            f"{len(self.periods)} periods, {self.frame.shape[1]} variables)"
        )

    def layout(self) -> PanelLayout:
        """Integer codes of each row's entity and period (periods in sorted order)."""
        entity_codes, entities = pd.factorize(self.frame.index.get_level_values(ENTITY))
        period_values = self.frame.index.get_level_values(PERIOD)
        periods = np.sort(period_values.unique().to_numpy())
        period_codes = np.searchsorted(periods, period_values.to_numpy())
        space = None
        if self.areas is not None:
            from securindex.geo.formula import AreaLayout

            space = AreaLayout(self.areas, pd.Index(entities))
        return PanelLayout(
            entity_codes=entity_codes.astype(np.int64),
            period_codes=period_codes.astype(np.int64),
            n_entities=len(entities),
            n_periods=len(periods),
            space=space,
        )

    def label(self, entity: object) -> str:
        """Display name of an entity (its id when the data have no label column)."""
        if LABEL in self.groups.columns:
            labels = self.groups[LABEL].droplevel(PERIOD)
            if entity in labels.index:
                return str(labels.loc[[entity]].iloc[0])
        return str(entity)

    def unit_of(self, variable: str) -> str:
        return self.units[variable]

    @property
    def id_names(self) -> dict[str, str]:
        """The user's names of the id columns: ``entity``, ``period`` and ``label`` keys.

        From the data dictionary (``entity: community_id``, ``period: year``, ``label:
        name``); ``entity``/``period`` when there is no dictionary, no ``label`` key when
        the data have no label column. Outputs and the report use these names, so a table
        written by securindex has the user's own column names.
        """
        spec = self.dictionary
        names = {
            ENTITY: spec.entity if spec is not None else ENTITY,
            PERIOD: (spec.period if spec is not None and spec.period else PERIOD),
        }
        if spec is not None and spec.label and LABEL in self.groups.columns:
            names[LABEL] = spec.label
        return names


MAX_DECOMPRESSED_BYTES = 4 * 1024**3
"""Most bytes read from one data file after decompression [bytes] (a gzip bomb stops here;
a Parquet file that would decode to more is refused from its footer)."""

MAX_LINE_BYTES = 4 * 1024**2
"""Longest line of a CSV file [bytes]."""

MAX_COLUMNS = 20_000
"""Most columns in a CSV file's header [count]."""

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
)


class _LimitError(Exception):
    """A data file past one of the reading limits (turned into a DataError by the reader)."""


class _BoundedStream(io.RawIOBase):
    """A decompressed byte stream that stops at :data:`MAX_DECOMPRESSED_BYTES` and at a line
    longer than :data:`MAX_LINE_BYTES`, so no file can make the reader allocate without
    bound."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.total, self.run = raw, 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        if not n:
            return 0
        self.total += n
        if self.total > MAX_DECOMPRESSED_BYTES:
            raise _LimitError(
                f"more than {MAX_DECOMPRESSED_BYTES / 2**30:g} GiB after decompression "
                "(a compression bomb?); split the file"
            )
        chunk = bytes(memoryview(buffer)[:n])
        last = chunk.rfind(b"\n")
        if last < 0:
            self.run += n
        else:
            longest = self.run + chunk.find(b"\n")
            if n > MAX_LINE_BYTES:
                longest = max(longest, *map(len, chunk[:last].split(b"\n")))
            self.run = n - last - 1
            if longest > MAX_LINE_BYTES:
                self.run = longest
        if self.run > MAX_LINE_BYTES:
            raise _LimitError(
                f"a line longer than {MAX_LINE_BYTES // 2**20} MiB (after {self.total} bytes); "
                "is this a CSV file with one row per line?"
            )
        return n


def _open_decompressed(path: Path) -> BinaryIO:
    """The file's bytes, decompressed by what its first bytes say (gzip, bz2, xz)."""
    with path.open("rb") as handle:
        head = handle.read(6)
    kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _sniff_encoding(head: bytes, source: str, encoding: str | None) -> str:
    """``encoding`` if given, else the byte-order mark's, else UTF-8 (checked on ``head``)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DataError(f"unknown text encoding '{encoding}'", source=source) from None
        return encoding
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _not_utf8(head, exc, source) from exc
    return "utf-8"


def _not_utf8(data: bytes, exc: UnicodeDecodeError, source: str, offset: int = 0) -> DataError:
    line = data.count(b"\n", 0, exc.start) + 1
    byte = data[exc.start : exc.start + 1].hex().upper()
    where = f"line {line}" if not offset else f"byte {offset + exc.start}"
    return DataError(
        f"not UTF-8 text (byte 0x{byte} at {where}); give its encoding, e.g. "
        "Panel.read(path, encoding='latin-1') or 'encoding: cp1252' in the data dictionary",
        source=source,
    )


def read_table(
    path: str | Path,
    *,
    text_columns: Collection[str] = (),
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV (plain, gzip, bz2 or xz) or Parquet file into a DataFrame.

    Parameters
    ----------
    path
        The file. ``.parquet``/``.pq`` is Parquet; ``.csv``, ``.tsv``, ``.txt`` (with any
        compression suffix) are text, decompressed by their first bytes.
    text_columns
        Columns read as text, never as numbers (identifiers: ``01001`` keeps its zero).
    encoding
        The text encoding; by default a byte-order mark's (UTF-8/16/32), else UTF-8.

    Raises
    ------
    DataError
        Naming the file: missing, a folder, an unknown type, empty, ragged rows, an
        unterminated quote, a bad or truncated compressed stream, not UTF-8 text, a corrupt
        Parquet file, or past a limit (:data:`MAX_DECOMPRESSED_BYTES`,
        :data:`MAX_LINE_BYTES`, :data:`MAX_COLUMNS`).
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError("file not found", source=source)
    if path.is_dir():
        raise DataError("is a folder, not a data file", source=source)
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return _read_parquet(path, text_columns)
    if not {".csv", ".txt", ".tsv"} & set(suffixes):
        raise DataError("unknown file type; expected .csv[.gz], .tsv or .parquet", source=source)
    sep = "\t" if ".tsv" in suffixes else ","
    try:
        with _open_decompressed(path) as handle:
            head = handle.read(MAX_LINE_BYTES + 1)
        encoding = _sniff_encoding(head, source, encoding)
        header = head.split(b"\n", 1)[0]
        n_columns = header.decode(encoding, errors="replace").count(sep) + 1
        if n_columns > MAX_COLUMNS:
            raise _LimitError(f"{n_columns} columns in the header, at most {MAX_COLUMNS}")
        dtype = dict.fromkeys(text_columns, str)
        with (
            _open_decompressed(path) as raw,
            io.BufferedReader(_BoundedStream(raw)) as handle,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(handle, sep=sep, dtype=dtype, encoding=encoding)
    except _LimitError as exc:
        raise DataError(str(exc), source=source) from None
    except pd.errors.EmptyDataError as exc:
        raise DataError("empty file: no header row", source=source) from exc
    except pd.errors.ParserError as exc:
        detail = str(exc).removeprefix("Error tokenizing data. C error: ").strip()
        raise DataError(f"not a well-formed table: {detail}", source=source) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not {encoding} text ({exc.reason} at a byte {exc.start} of a block); give its "
            "encoding, e.g. Panel.read(path, encoding='latin-1')",
            source=source,
        ) from exc
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise DataError(f"cannot read the file: {exc}", source=source) from exc


def _read_parquet(path: Path, text_columns: Collection[str]) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise DataError(
            f"reading Parquet needs pyarrow: pip install 'securindex[parquet]' ({exc})",
            source=str(path),
        ) from None
    import pyarrow.parquet as pq

    try:
        # the footer states the rows, the columns and each row group's encoded size: a file
        # that would decode past the limit (at least 8 bytes per cell in a DataFrame) is
        # refused before any column is read
        metadata = pq.ParquetFile(path).metadata
        encoded = sum(metadata.row_group(k).total_byte_size for k in range(metadata.num_row_groups))
        decoded = max(encoded, 8 * metadata.num_rows * metadata.num_columns)
        if decoded > MAX_DECOMPRESSED_BYTES:
            raise _LimitError(
                f"{decoded / 2**30:.3g} GiB once decoded, more than the limit of "
                f"{MAX_DECOMPRESSED_BYTES / 2**30:g} GiB; split the file"
            )
        frame = pd.read_parquet(path)
    except _LimitError as exc:
        raise DataError(str(exc), source=str(path)) from None
    except Exception as exc:  # pyarrow's ArrowInvalid/OSError on a corrupt or empty file
        raise DataError(f"not a readable Parquet file: {exc}", source=str(path)) from exc
    for column in text_columns:
        if column in frame.columns and frame[column].dtype.kind in "iu":
            frame[column] = frame[column].astype(str)
    return frame


def _id_columns(spec: DataDictionary) -> set[str]:
    """The columns read as text: entity, label and groups (identifiers, never numbers)."""
    return {spec.entity, *spec.groups} | ({spec.label} if spec.label else set())


_EXACT_INTEGERS = 2**53  # float64 holds every integer up to here, and not all beyond


def _one_period_type(values: pd.Series) -> pd.Series:
    """Periods of one type: 2019 and "2019" in one column become the integer 2019 (or all
    text when some period is not an integer)."""
    if values.dtype != object:
        return values
    kinds = {type(v) for v in values}
    if len(kinds) <= 1:
        return values
    as_text = values.astype(str).str.strip()
    if as_text.str.fullmatch(r"[+-]?\d{1,18}").all():
        return as_text.astype(np.int64)
    return as_text


def _not_a_number_column(
    raw: pd.Series, column: str, index: pd.MultiIndex, source: str
) -> DataError | None:
    """A DataError when a column declared as a number holds booleans, dates or integers
    that float64 cannot hold exactly; None when it may be read as numbers."""
    kind = raw.dtype.kind
    found = ""
    bad = np.zeros(len(raw), dtype=bool)
    if kind == "b" or isinstance(raw.dtype, pd.BooleanDtype):
        found, bad = "booleans (True/False)", raw.notna().to_numpy()
    elif kind in "mM" or isinstance(raw.dtype, pd.DatetimeTZDtype):
        found, bad = "dates or times", raw.notna().to_numpy()
    elif kind in "iu":
        values = raw.to_numpy()
        bad = (values > _EXACT_INTEGERS) | ((values < -_EXACT_INTEGERS) if kind == "i" else False)
        found = f"integers beyond ±2**53 (up to {values[bad].max() if bad.any() else ''})"
    elif kind == "O":
        import datetime as _datetime

        is_bool = raw.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        is_date = raw.map(
            lambda v: isinstance(v, (_datetime.date, _datetime.time, np.datetime64))
        ).to_numpy(dtype=bool)
        if is_bool.any():
            found, bad = "booleans (True/False)", is_bool
        elif is_date.any():
            found, bad = "dates or times", is_date
    if not bad.any():
        return None
    return DataError(
        f"{int(bad.sum())} value(s) are {found} where a number is declared; convert them "
        "first (e.g. 1/0 for yes/no) or declare another variable",
        column=column,
        rows=list(index[bad]),
        source=source,
    )


def _row_numbers(mask: np.ndarray) -> list[str]:
    """Rows of a table as people count them: ``row 1`` is the first row under the header."""
    return [f"row {k + 1}" for k in np.flatnonzero(mask)]


def _near_misses(wanted: Collection[str], columns: Collection[object]) -> str:
    """A hint for column names that differ from a real header only by spaces or case."""
    found = {str(c).strip().casefold(): str(c) for c in columns}
    hints = [
        f"'{name}' is not a column, but {found[key]!r} is (the header differs in spaces or "
        "case: write it exactly, quoted, in the data dictionary)"
        for name in wanted
        if (key := name.strip().casefold()) in found and found[key] != name
    ]
    return ("; " + "; ".join(hints)) if hints else ""


def _matches(values: pd.Series, rule: Any) -> np.ndarray:
    """Rows whose value is one of a row filter's values (compared as text) or matches its
    pattern."""
    if isinstance(rule, Pattern):
        text = values.astype("string")
        return np.asarray(text.str.contains(rule.pattern, regex=True).fillna(False), dtype=bool)
    numbers = [v for v in rule if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(rule) and pd.api.types.is_numeric_dtype(values):
        return np.isin(values.to_numpy(dtype=np.float64), np.asarray(numbers, dtype=np.float64))
    return np.asarray(
        values.astype("string").isin([str(v) for v in rule]).fillna(False), dtype=bool
    )


def _shape(data: pd.DataFrame, spec: DataDictionary, source: str) -> pd.DataFrame:
    """The table as the dictionary shapes it: rows that are not entities dropped (``rows``),
    then one column per period made into one row per period (``wide``)."""
    if spec.rows is not None:
        rows = spec.rows
        named = [*rows.exclude, *rows.include, *rows.drop_missing]
        absent = [c for c in named if c not in data.columns]
        if absent:
            raise DataError(
                f"row filter column(s) {absent} not found" + _near_misses(absent, data.columns),
                source=source,
            )
        drop = np.zeros(len(data), dtype=bool)
        for column, rule in rows.exclude.items():
            drop |= _matches(data[column], rule)
        for column, rule in rows.include.items():
            drop |= ~_matches(data[column], rule)
        for column in rows.drop_missing:
            drop |= data[column].isna().to_numpy()
        if drop.all():
            raise DataError("the row filter drops every row of the data", source=source)
        if drop.any():
            logger.info("%s: the row filter drops %d of %d rows", source, drop.sum(), len(data))
            data = data.loc[~drop].reset_index(drop=True)
    if spec.wide is not None:
        data = _wide_to_long(data, spec, source)
    return data


def _wide_to_long(data: pd.DataFrame, spec: DataDictionary, source: str) -> pd.DataFrame:
    """One row per entity and period from ``<column><separator><period>`` columns."""
    assert spec.wide is not None
    period = spec.period or PERIOD
    if period in data.columns:
        raise DataError(
            f"wide data: the period '{period}' is also a column of the data; with wide: the "
            "period comes from the column names, so name it otherwise (period: ...)",
            source=source,
        )
    keep = [spec.entity, *spec.groups, *([spec.label] if spec.label else [])]
    keep = list(dict.fromkeys(c for c in keep if c in data.columns))
    wanted = {str(p) for p in spec.wide.periods} if spec.wide.periods is not None else None
    columns = {spec.column_of(name) for name in spec.variables}
    found: dict[str, dict[str, str]] = {c: {} for c in columns}
    for column in data.columns:
        head, sep, tail = str(column).rpartition(spec.wide.separator)
        if not sep or head not in found:
            continue
        if (wanted is None and tail.isdigit()) or (wanted is not None and tail in wanted):
            found[head][tail] = column
    empty = sorted(c for c, periods in found.items() if not periods)
    if empty:
        example = f"{empty[0]}{spec.wide.separator}2020"
        raise DataError(
            f"wide data: no column per period for {empty} (expected columns such as "
            f"'{example}')" + _near_misses(empty, data.columns),
            source=source,
        )
    periods = sorted({p for ps in found.values() for p in ps}, key=_period_key)
    rows = np.repeat(np.arange(len(data)), len(periods))
    long = data[keep].iloc[rows].reset_index(drop=True)
    long[period] = np.tile(np.array([_period_value(p) for p in periods], dtype=object), len(data))
    for column, by_period in found.items():
        block = pd.DataFrame({p: data[by_period[p]] if p in by_period else np.nan for p in periods})
        long[column] = block.to_numpy().reshape(-1)
    return long


def _period_key(text: str) -> tuple[int, Any]:
    return (0, int(text)) if text.lstrip("-").isdigit() else (1, text)


def _period_value(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _panel_areas(
    data: pd.DataFrame,
    spec: DataDictionary,
    areas: Any,
    entities: pd.Series,
    source: str,
) -> Areas | None:
    """The polygons of a panel being built, joined to its entities (or None)."""
    if areas is None and spec.areas is None and not _has_geometry(data):
        return None
    from securindex.geo.areas import Areas, areas_from_geometry, areas_from_spec, read_areas

    if areas is None and spec.areas is not None:
        areas = areas_from_spec(spec.areas)
    elif areas is None:
        areas = areas_from_geometry(data.geometry, pd.Index(entities), source=source)
    elif not isinstance(areas, Areas):
        weights = spec.areas.weights if spec.areas is not None else None
        areas = read_areas(areas, key=spec.entity, weights=weights)
    return areas.align(pd.Index(entities), source=source)


def _has_geometry(data: pd.DataFrame) -> bool:
    """A GeoDataFrame with an active geometry column (no geopandas import needed)."""
    return (
        type(data).__name__ == "GeoDataFrame"
        and getattr(data, "_geometry_column_name", None) in data.columns
    )


def _as_dictionary(
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None,
    *,
    entity: str | None,
    period: str | None,
    units: Mapping[str, str] | None,
) -> DataDictionary:
    if isinstance(dictionary, DataDictionary):
        spec = dictionary
    elif isinstance(dictionary, (str, Path)):
        spec = read_dictionary(dictionary)
    elif isinstance(dictionary, Mapping):
        spec = validate_located(DataDictionary, Located(dict(dictionary), "data dictionary"))
    else:
        if entity is None or units is None:
            raise DataError(
                "give a data dictionary, or entity= (and period=) and units= "
                "(a mapping of column name to unit)"
            )
        variables = {}
        for name, unit in units.items():
            try:
                variables[name] = Variable(unit=unit)
            except pydantic.ValidationError as exc:
                message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                raise UnitError(f"variable '{name}': {message}") from None
        spec = DataDictionary(entity=entity, period=period, variables=variables)
    overrides: dict[str, Any] = {}
    if entity is not None:
        overrides["entity"] = entity
    if period is not None:
        overrides["period"] = period
    return spec.model_copy(update=overrides) if overrides else spec
