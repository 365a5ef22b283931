"""The areas of an incident panel: a table, a polygon file or a list of ids; points → areas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex._keys import as_keys
from securindex.errors import DataError
from securindex.incidents.reading import file_kind

if TYPE_CHECKING:
    from securindex.incidents.counting import CountPlan
    from securindex.incidents.spec import IncidentSpec

__all__ = [
    "BOUNDARY_RULES",
    "GEO_HINT",
    "Join",
    "check_crs",
    "geopandas_module",
    "load_areas",
    "register_boundary_rule",
    "spatial_join",
]

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


@dataclass(frozen=True)
class Join:
    """Points matched to areas: ``rows`` index the points, ``codes`` their area (-1
    outside every polygon), ``shares`` the part of the record each row carries (None: 1),
    ``n_boundary`` the points on a boundary shared by several areas."""

    rows: np.ndarray
    codes: np.ndarray
    shares: np.ndarray | None
    n_boundary: int


BoundaryRule = Callable[
    [np.ndarray, np.ndarray, Any, Any], tuple[np.ndarray, np.ndarray, np.ndarray | None]
]
_BOUNDARY_RULES: dict[str, tuple[BoundaryRule, str]] = {}
BOUNDARY_RULES = MappingProxyType(_BOUNDARY_RULES)
"""Rules for a point on a boundary shared by several areas, name → (rule, what the report
says). A rule takes the (point, polygon) pairs that intersect, sorted by point then polygon,
the points and the polygons, and returns (point rows, area codes, shares or None)."""


def register_boundary_rule(name: str, action: str) -> Callable[[BoundaryRule], BoundaryRule]:
    """Register a boundary rule; ``action`` is how the report describes it."""

    def decorate(rule: BoundaryRule) -> BoundaryRule:
        _BOUNDARY_RULES[name] = (rule, action)
        return rule

    return decorate


def _first_of_each(point_index: np.ndarray) -> np.ndarray:
    if not len(point_index):
        return np.zeros(0, dtype=bool)
    return np.r_[True, point_index[1:] != point_index[:-1]]


@register_boundary_rule("first", "kept (assigned to the first area in the polygon file)")
def _first_area(
    point_index: np.ndarray, polygon_index: np.ndarray, points: Any, polygons: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    first = _first_of_each(point_index)
    return point_index[first], polygon_index[first], None


@register_boundary_rule("nearest_centroid", "kept (assigned to the area with the nearest centroid)")
def _nearest_centroid(
    point_index: np.ndarray, polygon_index: np.ndarray, points: Any, polygons: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    import shapely

    centres = shapely.centroid(polygons.values[polygon_index])
    distance = shapely.distance(points.values[point_index], centres)
    order = np.lexsort((polygon_index, distance, point_index))  # nearest first, ties by order
    point_index, polygon_index = point_index[order], polygon_index[order]
    first = _first_of_each(point_index)
    return point_index[first], polygon_index[first], None


@register_boundary_rule("split", "kept (split equally between the areas)")
def _split(
    point_index: np.ndarray, polygon_index: np.ndarray, points: Any, polygons: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    n_areas = np.bincount(point_index, minlength=len(points))
    return point_index, polygon_index, 1.0 / n_areas[point_index]


def check_crs(spec: IncidentSpec, polygons: Any) -> str | None:
    """Check the points' CRS against the polygons'; the note the report gives, if any.

    Raises
    ------
    DataError
        The polygons have no CRS (named with the points' CRS), or a CRS is unknown.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    assert spec.points is not None
    try:
        points_crs = CRS.from_user_input(spec.points.crs)
    except CRSError as exc:
        raise DataError(f"points.crs {spec.points.crs!r} is not a known CRS: {exc}") from None
    if polygons.crs is None:
        raise DataError(
            f"the area polygons have no coordinate reference system, and the points are in "
            f"{points_crs.to_string()}: every point would fall outside. Give the polygon "
            "file a CRS (e.g. GeoDataFrame.set_crs) or use polygons that have one",
            source="areas",
        )
    if not points_crs.equals(polygons.crs):
        return (
            f"points reprojected from {points_crs.to_string()} to the polygons' "
            f"{polygons.crs.to_string()}"
        )
    return None


def spatial_join(x: np.ndarray, y: np.ndarray, plan: CountPlan) -> Join:
    """The area of each point under the declared boundary rule (reprojected to the
    polygons' CRS first when the two differ)."""
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
    first = _first_of_each(point_index)
    n_boundary = len(np.unique(point_index[~first]))
    rule, _ = _BOUNDARY_RULES[plan.spec.points.boundary]
    rows, codes, shares = rule(point_index, polygon_index, points, polygons)
    outside = np.setdiff1d(np.arange(len(x)), point_index)
    rows = np.r_[rows, outside].astype(np.int64)
    codes = np.r_[codes, np.full(len(outside), -1)].astype(np.int64)
    if shares is not None:
        shares = np.r_[shares, np.ones(len(outside))]
    return Join(rows, codes, shares, n_boundary)
