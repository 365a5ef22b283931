"""Incidents on Dask: a distributed group-by of the incident files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.engines.dask.cluster import (
    compute_all,
    import_dask,
    on_cluster,
    shared_key,
    tree_reduce,
    worker_count,
)
from securindex.errors import SpecError

if TYPE_CHECKING:
    from securindex.incidents import IncidentPanel, IncidentSpec


def _fold_counted(acc: Any, counter: Any, item: Any, plan: Any) -> Any:
    """Count one chunk and add it into the chain's grid (one task: no partial waits)."""
    from securindex.incidents.counting import fold_counts

    return fold_counts(acc, counter(item, plan), plan)


def _count_frame(frame: pd.DataFrame, plan: Any) -> Any:
    from securindex.incidents.counting import count_records

    part = count_records(frame, plan)
    part.sources = {"<DataFrame>": part.n_records}
    return part


def incidents_to_panel_dask(
    spec: IncidentSpec,
    data: Any = None,
    *,
    areas: Any = None,
    base_dir: str | Path = ".",
    name: str | None = None,
    client: Any = None,
    scheduler: str | None = None,
    rows_per_chunk: int = 2_000_000,
) -> IncidentPanel:
    """Count incident files into a panel as a distributed group-by (same result as pandas).

    Each task reads one chunk (a CSV file, or at most ``rows_per_chunk`` rows of row groups
    of a Parquet file) and counts it into (area, period) cells with the same vectorised
    kernel as the pandas engine (the map step of the group-by). The combine step: when the
    areas and periods are declared the grid is known, and each worker folds its chunks'
    counts into one dense (cells × variables) grid, so a worker holds one grid and one
    chunk whatever the amount of data; otherwise each chunk's counts are split into blocks
    of areas, each block summed in its own tree. The client sums the grids (or blocks) and
    builds the panel and the report. Data larger than the cluster's memory work.

    See :func:`securindex.incidents.incidents_to_panel` for the parameters.
    """
    dask = import_dask()
    from securindex.incidents.counting import (
        count_chunk,
        grid_known,
        merge_counts,
        plan_counts,
        split_counts,
        unfold_counts,
    )
    from securindex.incidents.panel import finish_panel
    from securindex.incidents.reading import expand_sources, read_units, scan_files

    base = Path(base_dir)
    plan = plan_counts(spec, base, areas)
    with on_cluster(client, scheduler) as active:
        client = active
        shared = shared_key(plan)
        import dask.dataframe as dd

        if isinstance(data, pd.DataFrame):
            data = dd.from_pandas(data, npartitions=max(1, len(data) // rows_per_chunk + 1))
        if isinstance(data, dd.DataFrame):
            items: list[tuple[Any, Any]] = [(_count_frame, p) for p in data.to_delayed()]
            files = pd.DataFrame({"file": ["<DataFrame>"], "schema": ["ok"]})
        else:
            sources = (
                spec.source
                if data is None
                else ([data] if isinstance(data, (str, Path)) else list(data))
            )
            if not sources:
                raise SpecError(
                    "no incident data: give data= or 'source' in the from_incidents block"
                )
            paths = expand_sources(sources, base)
            files = scan_files(paths, spec)
            items = [(count_chunk, c) for c in read_units(paths, rows_per_chunk)]
        if grid_known(plan):
            # the grid is known: one chain per worker, each task reading and counting one
            # chunk straight into the chain's dense grid, so a worker holds one grid and one
            # chunk however much data there is; the client sums the chains' grids
            n_chains = max(1, min(len(items), worker_count(client)))
            ends = []
            for chain in range(n_chains):
                acc = None
                for counter, item in items[chain::n_chains]:
                    acc = dask.delayed(_fold_counted)(acc, counter, item, shared)
                ends.append(acc)
            total = unfold_counts(list(compute_all(*ends)), plan)
        else:
            # a group-by with split output: each chunk's counts are split into blocks of
            # areas, each block summed in its own tree
            tasks = [dask.delayed(counter)(item, shared) for counter, item in items]
            n_blocks = max(1, min(16, len(tasks)))
            split = [dask.delayed(split_counts, nout=n_blocks)(t, n_blocks) for t in tasks]
            roots = [
                tree_reduce([pieces[b] for pieces in split], merge_counts, split_every=4)
                for b in range(n_blocks)
            ]
            total = merge_counts(list(compute_all(*roots)))
    files["n_records"] = files["file"].map(total.sources).fillna(0).astype(np.int64)
    return finish_panel(total, plan, files, name)
