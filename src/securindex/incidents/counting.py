"""The counting kernel: one chunk of records → partial counts per (area, period) cell.

Public so that every engine (the pandas loop over chunks, the Dask group-by) runs the same
kernel: plan once (:func:`plan_counts`), count each chunk (:func:`count_records`,
:func:`count_chunk`), combine (:func:`merge_counts`, or :func:`fold_counts` into a dense
grid when areas and periods are declared), finish (:func:`~securindex.incidents.panel.finish_panel`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from securindex._keys import keys_of
from securindex.errors import DataError
from securindex.incidents.areas import check_crs, load_areas, spatial_join
from securindex.incidents.periods import parse_period, period_codes
from securindex.incidents.reading import Chunk, read_chunk
from securindex.incidents.spec import IncidentSpec

__all__ = [
    "REASONS",
    "RECORDS",
    "CountPlan",
    "PartialCounts",
    "accumulate_counts",
    "code_weights",
    "count_chunk",
    "count_records",
    "fold_counts",
    "grid_known",
    "merge_counts",
    "plan_counts",
    "split_counts",
    "unfold_counts",
]

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
RECORDS = "__records__"


@dataclass
class CountPlan:
    spec: IncidentSpec
    area_keys: pd.Index | None  # declared areas (text keys), or None (from the incidents)
    area_labels: np.ndarray | None  # the declared ids as written (entity labels)
    area_table: pd.DataFrame | None  # variables, groups and label, indexed like area_keys
    polygons: Any = None  # GeoSeries of the areas, for points
    period_range: tuple[int, int] | None = None
    patterns: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)
    crs_note: str | None = None  # points reprojected to the polygons' CRS

    @property
    def variables(self) -> list[str]:
        return list(self.spec.variables)


@dataclass
class PartialCounts:
    """Counts of one chunk (or of several, merged): cells and report counters."""

    cells: pd.DataFrame  # index (area key, period code); variable columns + RECORDS
    reasons: dict[str, int]
    n_records: int
    codes: dict[str, int]  # offence code → records that reached the offence check
    unknown_areas: dict[str, int]
    n_boundary: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # file → records read


def compile_patterns(spec: IncidentSpec) -> list[tuple[str, list[tuple[str, float]]]]:
    return [(name, list(v.patterns().items())) for name, v in spec.variables.items()]


def plan_counts(spec: IncidentSpec, base_dir: Path, areas: Any = None) -> CountPlan:
    table, polygons = load_areas(spec, base_dir, areas)
    crs_note = check_crs(spec, polygons) if spec.points is not None else None
    period_range = None
    if spec.periods is not None:
        period_range = (
            parse_period(spec.periods.start, spec.grain),
            parse_period(spec.periods.end, spec.grain),
        )
    return CountPlan(
        spec=spec,
        area_keys=None if table is None else pd.Index(table.index),
        area_labels=None if table is None else table["__label__"].to_numpy(),
        area_table=table,
        polygons=polygons,
        period_range=period_range,
        patterns=compile_patterns(spec),
        crs_note=crs_note,
    )


# =============================================================================================
# The kernel: one chunk of records → partial counts (vectorised, no loop over rows)
# =============================================================================================
def code_weights(plan: CountPlan, codes: pd.Index) -> np.ndarray:
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


_OFFSET = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"  # a time, then its zone


def _dates(series: pd.Series, spec: IncidentSpec) -> np.ndarray:
    """Naive datetime64 values, local to ``spec.time_zone`` when dates carry an offset.

    Dates with a time zone (``2020-01-31T23:30:00Z``, ``…+01:00``, a tz-aware column) are
    converted to the declared zone, so a record is counted in the period of its local
    date; without a declared zone text dates with offsets are refused, as is a column
    mixing dates with and without one.
    """
    zone = spec.time_zone
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            if zone is not None:
                series = series.dt.tz_convert(zone)
            series = series.dt.tz_localize(None)
        return series.to_numpy()
    text = series.astype("string").str.strip()
    aware = text.str.contains(_OFFSET, regex=True, na=False).to_numpy(dtype=bool)
    if aware.any():
        example = str(text[aware].iloc[0])
        present = series.notna().to_numpy()
        if not aware[present].all():
            rows = list(series.index[present & ~aware][:5])
            raise DataError(
                f"some dates carry a time zone (such as '{example}') and others do not; "
                "write them all in one form",
                column=spec.date,
                rows=rows,
            )
        if zone is None:
            raise DataError(
                f"dates carry a time zone (such as '{example}'); declare the zone to count "
                "them in, e.g. 'time_zone: Europe/Berlin' (or 'UTC') in from_incidents",
                column=spec.date,
            )
        parsed = pd.to_datetime(
            series, format=spec.date_format or "ISO8601", errors="coerce", utc=True
        )
        return parsed.dt.tz_convert(zone).dt.tz_localize(None).to_numpy()
    return pd.to_datetime(series, format=spec.date_format or "ISO8601", errors="coerce").to_numpy()


def count_records(frame: pd.DataFrame, plan: CountPlan) -> PartialCounts:
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
        codes, keys = keys_of(frame[rule.column])
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

    offence_codes, offence_keys = keys_of(frame[spec.offence])
    exclude("missing offence code", offence_codes < 0)
    reached = alive.copy()
    code_records = np.bincount(offence_codes[reached], minlength=len(offence_keys))
    codes_seen = {str(k): int(c) for k, c in zip(offence_keys, code_records, strict=True) if c}
    weights = code_weights(plan, offence_keys)
    unknown_code = np.isnan(weights[:, 0]) if weights.shape[1] else np.ones(len(offence_keys), bool)
    exclude(
        "unknown offence code",
        np.where(offence_codes >= 0, np.r_[unknown_code, False][offence_codes], False),
    )

    area_code = np.full(n, -1, dtype=np.int64)
    area_keys = plan.area_keys
    unknown_areas: dict[str, int] = {}
    n_boundary = 0
    split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # records, areas, shares
    if spec.area is not None:
        local_codes, local_keys = keys_of(frame[spec.area])
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
            join = spatial_join(x[rows], y[rows], plan)
            n_boundary = join.n_boundary
            area_code[rows[join.rows[::-1]]] = join.codes[::-1]  # a split point: its first area
            if join.shares is not None:
                split = (rows[join.rows], join.codes, join.shares)
        exclude("point outside every area polygon", area_code < 0)

    multiplier = None
    if spec.count is not None:
        multiplier = pd.to_numeric(frame[spec.count], errors="coerce").to_numpy(dtype=np.float64)
        negative = multiplier < 0
        if negative.any():  # a count below zero is a data error, as in panels
            raise DataError(
                f"{int(negative.sum())} negative count(s) such as {multiplier[negative][0]:g}; "
                "a record counts zero or more offences",
                column=spec.count,
                rows=list(frame.index[negative]),
            )
        exclude("missing count", ~np.isfinite(multiplier))

    rows = np.flatnonzero(alive)
    shares = None
    codes_of_rows = area_code[rows]
    if split is not None:  # a point on k boundaries counts 1/k in each of its areas
        records, split_codes, split_shares = split
        kept = alive[records] & (split_codes >= 0)
        rows, codes_of_rows, shares = records[kept], split_codes[kept], split_shares[kept]
    assert area_keys is not None  # points always come with declared polygons
    cells = _cells(
        codes_of_rows,
        period[rows],
        offence_codes[rows],
        weights,
        None if multiplier is None else multiplier[rows],
        plan,
        area_keys,
        shares,
    )
    return PartialCounts(cells, reasons, n, codes_seen, unknown_areas, n_boundary)


def _cells(
    area: np.ndarray,
    period: np.ndarray,
    offence: np.ndarray,
    weights: np.ndarray,
    multiplier: np.ndarray | None,
    plan: CountPlan,
    area_keys: pd.Index,
    shares: np.ndarray | None = None,
) -> pd.DataFrame:
    """Sums per (area, period) cell by bincount over dense cell codes; ``shares`` weighs
    records counted in part (a point split between areas)."""
    n_areas = len(area_keys)
    columns = [*plan.variables, RECORDS]
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
    records = np.bincount(cell, weights=shares, minlength=size)
    occupied = np.flatnonzero(np.bincount(cell, minlength=size))
    sums = np.empty((len(occupied), len(columns)))
    sums[:, -1] = records[occupied]
    for j in range(len(plan.variables)):
        per_record = weights[offence, j]
        if multiplier is not None:
            per_record = per_record * multiplier
        if shares is not None:
            per_record = per_record * shares
        sums[:, j] = np.bincount(cell, weights=per_record, minlength=size)[occupied]
    if dense:
        cell_area, cell_period = np.divmod(occupied, n_periods)
    else:
        cell_area, cell_period = np.divmod(unique_cells[occupied], n_periods)
    # declared areas are kept as integer positions (compact to merge); others as their ids
    area_level = cell_area if plan.area_keys is not None else area_keys[cell_area]
    index = pd.MultiIndex.from_arrays([area_level, cell_period + first], names=["area", "period"])
    return pd.DataFrame(sums, index=index, columns=columns)


def merge_counts(parts: Sequence[PartialCounts]) -> PartialCounts:
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
    return PartialCounts(
        cells,
        reasons,
        sum(p.n_records for p in parts),
        codes,
        unknown,
        sum(p.n_boundary for p in parts),
        sources,
    )


def split_counts(part: PartialCounts, n_blocks: int) -> list[PartialCounts]:
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
                PartialCounts(
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
            out.append(PartialCounts(cells, {}, 0, {}, {}, 0, {}))
    return out


def grid_known(plan: CountPlan) -> bool:
    return plan.area_keys is not None and plan.period_range is not None


def fold_counts(
    acc: tuple[np.ndarray, PartialCounts] | None, part: PartialCounts, plan: CountPlan
) -> tuple[np.ndarray, PartialCounts]:
    """Add one chunk's counts into a dense (cells × variables) grid: memory stays at the
    grid plus one chunk however many chunks are folded in. Needs declared areas and
    periods; the grid of ``acc`` is updated in place (it is consumed only by the next fold)."""
    assert plan.area_keys is not None and plan.period_range is not None
    first, last = plan.period_range
    n_periods = last - first + 1
    columns = [*plan.variables, RECORDS]
    if acc is None:
        dense = np.zeros((len(plan.area_keys) * n_periods, len(columns)))
        counters: PartialCounts | None = None
    else:
        dense, counters = acc
    cells = part.cells
    flat = cells.index.get_level_values("area").to_numpy(dtype=np.int64) * n_periods + (
        cells.index.get_level_values("period").to_numpy(dtype=np.int64) - first
    )
    dense[flat] += cells[columns].to_numpy()  # each cell occurs once in a partial
    rest = replace(part, cells=cells.iloc[:0])
    return dense, rest if counters is None else merge_counts([counters, rest])


def unfold_counts(
    accs: Sequence[tuple[np.ndarray, PartialCounts]], plan: CountPlan
) -> PartialCounts:
    """The partial counts of dense grids (summed)."""
    assert plan.period_range is not None
    first, last = plan.period_range
    n_periods = last - first + 1
    dense = accs[0][0] if len(accs) == 1 else np.sum([a[0] for a in accs], axis=0)
    total = merge_counts([a[1] for a in accs])
    occupied = np.flatnonzero(dense[:, -1] > 0)
    area, period = np.divmod(occupied, n_periods)
    index = pd.MultiIndex.from_arrays([area, period + first], names=["area", "period"])
    total.cells = pd.DataFrame(dense[occupied], index=index, columns=[*plan.variables, RECORDS])
    return total


def accumulate_counts(parts: Iterator[PartialCounts], plan: CountPlan) -> PartialCounts:
    """Sum partial counts one at a time (the pandas engine's loop over chunks): into a
    dense grid when the areas and periods are declared, else merging every few chunks."""
    if not grid_known(plan):
        pending: list[PartialCounts] = []
        for part in parts:
            pending.append(part)
            if len(pending) >= 4:
                pending = [merge_counts(pending)]
        return merge_counts(pending)
    acc: tuple[np.ndarray, PartialCounts] | None = None
    for part in parts:
        acc = fold_counts(acc, part, plan)
    if acc is None:  # pragma: no cover - there is always at least one chunk
        raise DataError("no incident data")
    return unfold_counts([acc], plan)


def count_chunk(chunk: Chunk, plan: CountPlan) -> PartialCounts:
    """Read and count one chunk (a task of the Dask engine, a loop step of pandas')."""
    part = count_records(read_chunk(chunk, plan.spec), plan)
    part.sources = {chunk.path: part.n_records}
    return part
