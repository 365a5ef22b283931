"""Incident records → the (entity, period) panel: the public entry point and the finish."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError
from securindex.incidents.counting import (
    RECORDS,
    CountPlan,
    PartialCounts,
    accumulate_counts,
    count_chunk,
    count_records,
    plan_counts,
)
from securindex.incidents.periods import period_labels
from securindex.incidents.reading import expand_sources, read_units, scan_files
from securindex.incidents.report import IncidentPanel, build_report
from securindex.incidents.spec import IncidentSpec, read_incident_dictionary

__all__ = ["finish_panel", "incidents_to_panel"]


def finish_panel(
    total: PartialCounts, plan: CountPlan, files: pd.DataFrame, name: str | None
) -> IncidentPanel:
    from securindex.dataset import ENTITY, LABEL, PERIOD, Panel

    spec = plan.spec
    cells = total.cells
    n_counted = int(cells[RECORDS].sum()) if len(cells) else 0
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
    if n_counted == 0:
        report = build_report(total, plan, files, issues, n_counted, area_keys, plan.period_range)
        raise DataError(
            "no incident record could be counted:\n"
            + report.summary()
            + "\nCheck the columns, codes, periods and areas of the from_incidents block."
            + _crs_hint(plan, total)
        )
    if plan.period_range is not None:
        first, last = plan.period_range
    else:
        present = cells.index.get_level_values("period")
        first, last = int(present.min()), int(present.max())
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
    panel = Panel(frame, units, groups=groups, name=name or "incidents", areas=_areas(plan))
    report = build_report(total, plan, files, issues, n_counted, area_keys, (first, last))
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


_ENGINES: dict[str, tuple[str, str]] = {
    "dask": ("securindex.engines.dask", "incidents_to_panel_dask")
}
"""Engines other than pandas that count incidents: name → (module, function). The module is
imported on first use, as an entry point would be: an engine depends on this package, never
the reverse, so the package imports no engine."""


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
    progress: bool = False,
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
    progress : bool, default False
        Show a progress bar over the chunks counted (pandas engine, on a terminal).

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
    if engine in _ENGINES:
        module, function = _ENGINES[engine]
        incidents_to_panel_engine = getattr(importlib.import_module(module), function)
        return incidents_to_panel_engine(
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
    plan = plan_counts(resolved, folder, areas)
    if isinstance(data, pd.DataFrame):
        absent = [c for c in resolved.required_columns() if c not in data.columns]
        if absent:
            raise DataError(
                f"incident records lack required column(s) {absent}; columns are "
                f"{list(data.columns)[:20]}"
            )
        # in row blocks: the kernel's temporaries stay small whatever the frame's size
        blocks = (
            count_records(data.iloc[start : start + rows_per_chunk], plan)
            for start in range(0, max(len(data), 1), rows_per_chunk)
        )
        files = pd.DataFrame({"file": ["<DataFrame>"], "schema": ["ok"], "n_records": [len(data)]})
        return finish_panel(accumulate_counts(blocks, plan), plan, files, name)
    sources = (
        resolved.source
        if data is None
        else ([data] if isinstance(data, (str, Path)) else list(data))
    )
    if not sources:
        raise SpecError("no incident data: give data= or 'source' in the from_incidents block")
    paths = expand_sources(sources, folder)
    files = scan_files(paths, resolved)
    from securindex._progress import progress as bar

    units = read_units(paths, rows_per_chunk)
    chunks = bar(units, "counting incident records", total=len(units), show=progress)
    total = accumulate_counts((count_chunk(c, plan) for c in chunks), plan)
    files["n_records"] = files["file"].map(total.sources).fillna(0).astype(np.int64)
    return finish_panel(total, plan, files, name)


def _crs_hint(plan: CountPlan, total: PartialCounts) -> str:
    """When every point fell outside the polygons, say which CRSs were compared."""
    spec = plan.spec
    outside = total.reasons.get("point outside every area polygon", 0)
    if spec.points is None or not outside or plan.polygons is None:
        return ""
    bounds = ", ".join(f"{b:.6g}" for b in plan.polygons.total_bounds)
    return (
        f"\nEvery point with coordinates fell outside the polygons: the points are read in "
        f"{spec.points.crs} (points.crs) and the polygons are in "
        f"{plan.polygons.crs.to_string() if plan.polygons.crs is not None else 'no CRS'} "
        f"(bounds {bounds}); check that points.crs is the CRS of the x and y columns."
    )


def _areas(plan: CountPlan) -> Any:
    """The polygons the points were joined to, for maps and spatial statistics of the
    counted panel (None when the areas came without polygons)."""
    if plan.polygons is None or plan.area_keys is None:
        return None
    import warnings

    import geopandas

    from securindex.geo.areas import read_areas

    frame = geopandas.GeoDataFrame(
        {"area": list(plan.area_keys)}, geometry=plan.polygons.values, crs=plan.polygons.crs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the polygons were checked when they were loaded
        return read_areas(frame, key="area")
