"""Reading incident files: sources and globs, read units, schemas checked before any data."""

from __future__ import annotations

import glob as _glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from securindex.errors import DataError

if TYPE_CHECKING:
    from securindex.incidents.spec import IncidentSpec

__all__ = [
    "Chunk",
    "expand_sources",
    "file_kind",
    "file_schema",
    "read_chunk",
    "read_units",
    "scan_files",
]


@dataclass(frozen=True)
class Chunk:
    """One unit of reading: a file, or some row groups of a Parquet file."""

    path: str
    kind: str  # "csv" | "parquet"
    row_groups: tuple[int, ...] | None = None


def expand_sources(patterns: Sequence[str | Path], base_dir: Path) -> list[Path]:
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
                    p for p in Path(full).rglob("*") if p.is_file() and file_kind(p) is not None
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


def file_kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".txt" in suffixes or ".tsv" in suffixes:
        return "csv"
    return None


def read_units(files: Sequence[Path], rows_per_chunk: int | None) -> list[Chunk]:
    """Reading units: whole CSV files, Parquet files split by row groups."""
    chunks: list[Chunk] = []
    for path in files:
        kind = file_kind(path)
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
                    chunks.append(Chunk(str(path), kind, tuple(group)))
                    group, rows = [], 0
            if group or not chunks or chunks[-1].path != str(path):
                chunks.append(Chunk(str(path), kind, tuple(group) if group else None))
        else:
            chunks.append(Chunk(str(path), kind))
    return chunks


def file_schema(path: Path) -> dict[str, str]:
    """Column → dtype kind of a file, read from its header/metadata only."""
    kind = file_kind(path)
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


def scan_files(files: Sequence[Path], spec: IncidentSpec) -> pd.DataFrame:
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
        schema = file_schema(path)
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


def read_chunk(chunk: Chunk, spec: IncidentSpec) -> pd.DataFrame:
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
