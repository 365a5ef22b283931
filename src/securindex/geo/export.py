"""Tables with the areas' polygons, written as GeoPackage or GeoParquet for QGIS and other GIS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from securindex._extras import require
from securindex.errors import DataError, OutputError

if TYPE_CHECKING:
    import geopandas

    from securindex.geo.areas import Areas

__all__ = ["GEO_SUFFIXES", "geoframe", "write_geofile"]

GEO_SUFFIXES = (".gpkg", ".parquet")
"""File types :func:`write_geofile` writes: GeoPackage and GeoParquet."""


def geoframe(
    areas: Areas | None, table: pd.DataFrame, *, source: str = "result"
) -> geopandas.GeoDataFrame:
    """Join a tidy table (an ``entity`` column, one row per entity and period) to polygons.

    Every polygon appears: areas without a row in ``table`` get one row of missing values,
    so they are visible as "no data" in a GIS.

    Raises
    ------
    DataError
        ``areas`` is None, or ``table`` has no ``entity`` column.
    """
    if areas is None:
        raise DataError(
            "no area polygons: name them in the data dictionary (areas: {file, key}) or pass "
            "areas= to Panel.from_frame",
            source=source,
        )
    if "entity" not in table.columns:
        raise DataError("the table needs an 'entity' column to join polygons on", source=source)
    gpd = _geopandas()
    keys = areas.key_of(pd.Index(table["entity"]))
    keyed = table.assign(area=keys.to_numpy())
    polygons = pd.DataFrame({"area": areas.keys, "geometry": areas.geometry.to_numpy()})
    joined = polygons.merge(keyed, on="area", how="left", sort=False)
    return gpd.GeoDataFrame(joined, geometry="geometry", crs=areas.crs)


def write_geofile(
    areas: Areas | None, table: pd.DataFrame, path: str | Path, *, source: str = "result"
) -> Path:
    """Write ``table`` joined to the polygons (:func:`geoframe`) as GeoPackage or GeoParquet.

    Parameters
    ----------
    areas
        The polygons.
    table
        A tidy table with an ``entity`` column (e.g. :meth:`IndexResult.table`).
    path
        ``*.gpkg`` (layer ``scores``) or ``*.parquet`` (GeoParquet, needs pyarrow).

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        Another suffix, or the file cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in GEO_SUFFIXES:
        raise OutputError(
            f"unknown file type '{suffix}'; write '.gpkg' (GeoPackage) or '.parquet' (GeoParquet)",
            path=path,
        )
    if suffix == ".parquet":
        require("parquet", "writing GeoParquet")
    frame = geoframe(areas, table, source=source)
    frame = _writable(frame)
    try:
        if suffix == ".gpkg":
            frame.to_file(path, driver="GPKG", layer="scores")
        else:
            frame.to_parquet(path)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc}", path=path) from exc
    except Exception as exc:  # pyogrio / pyarrow errors, with the path
        raise OutputError(f"cannot write: {type(exc).__name__}: {exc}", path=path) from exc
    return path


def _writable(frame: Any) -> Any:
    """Columns every GIS driver takes: periods and ids as text, nullable ints as floats."""
    out = frame.copy()
    for column in out.columns:
        if column == out.geometry.name:
            continue
        dtype = out[column].dtype
        if isinstance(dtype, pd.Int64Dtype):
            out[column] = out[column].astype("float64")
        elif column in ("entity", "period", "area"):
            out[column] = out[column].map(lambda v: None if pd.isna(v) else str(v))
    return out


def _geopandas() -> Any:
    require("geo", "writing area polygons")
    import geopandas

    return geopandas
