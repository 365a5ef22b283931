"""The areas of an incident panel: a table, a polygon file or a list of ids; points → areas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.errors import DataError
from securindex.incidents._keys import as_keys
from securindex.incidents.reading import file_kind

if TYPE_CHECKING:
    from securindex.incidents.counting import CountPlan
    from securindex.incidents.spec import IncidentSpec

__all__ = ["GEO_HINT", "geopandas_module", "load_areas", "spatial_join"]

GEO_HINT = "pip install 'securindex[geo]'"


def load_areas(spec: IncidentSpec, base_dir: Path, areas: Any) -> tuple[pd.DataFrame | None, Any]:
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
            gpd = geopandas_module("reading area polygons")
            if path.suffix.lower() == ".parquet":
                frame = gpd.read_parquet(path)
            else:
                frame = (
                    gpd.read_file(path, layer=source.layer) if source.layer else gpd.read_file(path)
                )
        elif file_kind(path) == "parquet":
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
    keys = as_keys(ids.to_numpy())
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


def geopandas_module(purpose: str) -> Any:
    try:
        import geopandas
    except ImportError:
        raise DataError(f"{purpose} needs geopandas: {GEO_HINT}") from None
    return geopandas


def spatial_join(x: np.ndarray, y: np.ndarray, plan: CountPlan) -> tuple[np.ndarray, int]:
    """Area code of each point (-1 outside every polygon) and the number of points that
    fall on a shared boundary (assigned to the first area listed)."""
    gpd = geopandas_module("joining incident points to area polygons")
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
