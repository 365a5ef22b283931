"""The report's map and hot-spot sections, when the areas have polygons.

:func:`spatial_context` returns what ``templates/spatial.html.j2`` renders, or None when the
result has no polygons (the sections are then left out). It draws, as embedded PNG:

* a choropleth of the index in the latest period (quantiles, polarity-aware colours,
  "no data" and "not scored" areas hatched) and one per top-level pillar;
* the index's LISA cluster map (local Moran, FDR-adjusted at 5 %),

and tabulates the global Moran's I of the index and of each pillar, and the Getis–Ord Gi*
hot and cold spots of the index. The statistics are :mod:`securindex.geo.autocorrelation`'s
(PySAL's esda), with a fixed seed so a report is reproducible.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from securindex.report._data import ReportData

__all__ = ["SEED", "folder_areas", "spatial_context"]

SEED = 20240601
"""Seed of the permutations behind the report's p-values (one report, one output)."""
PERMUTATIONS = 999
ALPHA = 0.05
ADJUST = "fdr"


def spatial_context(data: ReportData, latest: Any) -> dict[str, Any] | None:
    """The map and hot-spot sections' content, or None when there are no polygons."""
    areas = getattr(data, "areas", None)
    if areas is None:
        return None
    from securindex._extras import has_extra

    if not has_extra("geo"):
        return {"missing_extra": "pip install 'securindex[geo]'"}
    from securindex.geo.autocorrelation import getis_ord, local_morans, morans_i
    from securindex.geo.maps import plot_clusters, plot_map
    from securindex.geo.values import SpatialValues
    from securindex.report.plots import figure_to_data_uri

    root = data.framework_id
    columns = [root, *[c for c in data.tree.get(root, []) if c in data.scores.columns]]

    def values(column: str) -> SpatialValues:
        return SpatialValues(
            data.scores[column], column, data.label(column), "score", "positive", areas=areas
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands and missing areas are counted in the tables
        maps = [
            {
                "label": data.label(c),
                "src": figure_to_data_uri(plot_map(values(c), period=latest, title=data.label(c))),
            }
            for c in columns
        ]
        moran = pd.concat(
            [morans_i(values(c), permutations=PERMUTATIONS, seed=SEED) for c in columns],
            ignore_index=True,
        )
        moran = moran[_same_period(moran["period"], latest)]
        lisa = local_morans(
            values(root), permutations=PERMUTATIONS, seed=SEED, alpha=ALPHA, adjust=ADJUST
        )
        lisa = lisa[_same_period(lisa["period"], latest)]
        hot = getis_ord(
            values(root), permutations=PERMUTATIONS, seed=SEED, alpha=ALPHA, adjust=ADJUST
        )
        hot = hot[_same_period(hot["period"], latest)]
        cluster_map = figure_to_data_uri(
            plot_clusters(
                lisa,
                areas,
                period=latest,
                polarity="positive",
                title=f"Clusters of {data.label(root)}",
            )
        )
    moran_rows = [
        {
            "label": data.label(str(row.variable)),
            "I": _fmt(row.I, 3),
            "p": _fmt(row.p_sim, 3),
            "n": int(row.n_areas),
            "missing": int(row.n_missing),
            "islands": int(row.n_islands),
        }
        for row in moran.itertuples()
    ]
    counts = lisa["cluster"].value_counts()
    spots = hot[hot["cluster"].isin(["hot spot", "cold spot"])].sort_values(
        ["cluster", "z"], ascending=[False, False]
    )
    spot_rows = [
        {
            "entity": data.entity_labels.get(str(row.entity), str(row.entity)),
            "kind": "more secure" if row.cluster == "hot spot" else "less secure",
            "cluster": str(row.cluster),
            "score": _fmt(row.value, 1),
            "z": _fmt(row.z, 2),
            "p": _fmt(row.p_sim, 3),
        }
        for row in spots.itertuples()
    ]
    return {
        "missing_extra": None,
        "crs": areas.crs.to_string() if areas.crs is not None else "no CRS",
        "n_polygons": len(areas),
        "without_data": list(areas.without_data),
        "weights": str(moran["weights"].iloc[0]) if len(moran) else "",
        "maps": maps,
        "cluster_map": cluster_map,
        "moran_rows": moran_rows,
        "cluster_counts": [(str(k), int(v)) for k, v in counts.items()],
        "spot_rows": spot_rows,
        "alpha": ALPHA,
        "adjust": ADJUST,
        "permutations": PERMUTATIONS,
        "seed": SEED,
    }


def folder_areas(folder: Path) -> Any:
    """The polygons of a results folder (``scores.gpkg``, written by IndexResult.write
    when the result has areas), or None."""
    path = folder / "scores.gpkg"
    if not path.is_file():
        return None
    from securindex._extras import has_extra

    if not has_extra("geo"):
        return None
    import geopandas

    from securindex.geo.areas import read_areas

    frame = geopandas.read_file(path, layer="scores")
    polygons = frame[["area", frame.geometry.name]].drop_duplicates("area")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # checked when the result was built
        return read_areas(polygons, key="area")


def _same_period(periods: pd.Series, latest: Any) -> pd.Series:
    text = periods.astype(str)
    return (text == str(latest)) | periods.isna()


def _fmt(value: Any, digits: int) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if number != number:  # NaN
        return "–"
    return f"{number:.{digits}f}"
