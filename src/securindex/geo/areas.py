"""The areas' polygons: read, checked once at the edge, joined to the entities of a panel.

An :class:`Areas` holds one polygon per area, indexed by the area's id as text (the same
text keys the incident counter uses, so ``12``, ``12.0`` and ``"12"`` are one area), its
coordinate reference system, the spatial weights declared for it, and what the checks
found. :func:`read_areas` reads a GeoPackage, GeoJSON (also gzipped), shapefile or
GeoParquet file, or takes a GeoDataFrame, and reports in one error, with names and counts:
a missing key column, empty keys, duplicate keys, missing or non-polygonal geometry,
invalid polygons (repaired with :func:`shapely.make_valid` and reported in a warning, or
an error, as the dictionary's ``invalid`` says) and a declared CRS that disagrees with the
file's. :meth:`Areas.align` joins the polygons to a panel's entities and names the
mismatches in both directions: entities without a polygon are an error, polygons without
data a warning (they are drawn as "no data" on maps and left out of statistics).

Needs the ``geo`` extra: ``pip install 'securindex[geo]'``.
"""

from __future__ import annotations

import gzip
import io
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex._extras import require
from securindex._keys import as_keys
from securindex.errors import DataError, SecurindexError
from securindex.spec.dictionary import AreasSpec, WeightsSpec

if TYPE_CHECKING:
    import geopandas

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

__all__ = ["Areas", "AreasWarning", "areas_from_spec", "read_areas"]

POLYGONAL = ("Polygon", "MultiPolygon")
_SHOWN = 10  # names listed in a message before "and N more"


class AreasWarning(UserWarning):
    """Something about the areas that was handled but should be known (repaired polygons,
    polygons without data, a missing CRS, islands)."""


def _names(keys: Sequence[object]) -> str:
    shown = ", ".join(map(str, keys[:_SHOWN]))
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return shown + more


@dataclass(frozen=True, eq=False)
class Areas:
    """One polygon per area, with its CRS and declared spatial weights.

    Build it with :func:`read_areas` (or from a dictionary's ``areas:`` entry, which
    :class:`~securindex.dataset.Panel` does); the constructor trusts its input.

    Attributes
    ----------
    geometry : geopandas.GeoSeries
        One (multi)polygon per area, indexed by the area id as text, in the file's order.
    source : str
        Where the polygons came from (file name or ``"GeoDataFrame"``), for messages.
    weights : WeightsSpec
        The neighbours declared for these areas (queen contiguity unless declared).
    repaired : tuple of str
        Areas whose invalid polygon was repaired on reading.
    without_data : tuple of str
        Areas with a polygon but no row in the panel (set by :meth:`align`).
    """

    geometry: geopandas.GeoSeries
    source: str
    weights: WeightsSpec = field(default_factory=WeightsSpec)
    repaired: tuple[str, ...] = ()
    without_data: tuple[str, ...] = ()

    # -- views --------------------------------------------------------------------------
    @property
    def keys(self) -> pd.Index:
        """The area ids as text, in file order."""
        return self.geometry.index

    @property
    def crs(self) -> Any:
        """The coordinate reference system (a :class:`pyproj.CRS`), or None when unknown."""
        return self.geometry.crs

    def __len__(self) -> int:
        return len(self.geometry)

    def __repr__(self) -> str:
        crs = self.crs.to_string() if self.crs is not None else "no CRS"
        return f"Areas({len(self)} polygons from {self.source}, {crs})"

    def key_of(self, entities: Sequence[object] | pd.Index) -> pd.Index:
        """Text keys of entity ids (how a panel's ids are matched to the polygons)."""
        return as_keys(pd.Index(entities))

    def of(self, entities: Sequence[object] | pd.Index) -> geopandas.GeoSeries:
        """The polygons of ``entities``, in their order, indexed by the entities as given.

        Raises
        ------
        DataError
            Some entities have no polygon (named).
        """
        entities = pd.Index(entities)
        keys = self.key_of(entities)
        absent = keys[~keys.isin(self.keys)]
        if len(absent):
            raise DataError(
                f"{len(absent)} area(s) have no polygon in {self.source}: {_names(list(absent))}",
                source=self.source,
            )
        found = self.geometry.loc[keys]
        found.index = entities
        return found

    def projected(self) -> geopandas.GeoSeries:
        """The polygons in a projected CRS whose unit is the metre, for distances.

        A geographic CRS (degrees) is reprojected to the UTM zone of the areas
        (:meth:`geopandas.GeoSeries.estimate_utm_crs`); a projected CRS in another length
        unit (US survey feet) is kept, and :meth:`metres_per_unit` gives its scale.

        Raises
        ------
        DataError
            The polygons have no CRS, so distances have no unit.
        """
        if self.crs is None:
            raise DataError(
                f"the polygons of {self.source} have no coordinate reference system, so "
                "distances have no unit; declare it as areas.crs in the data dictionary "
                "(e.g. crs: EPSG:3435)",
                source=self.source,
            )
        if self.crs.is_geographic:
            return self.geometry.to_crs(self.geometry.estimate_utm_crs())
        return self.geometry

    def metres_per_unit(self) -> float:
        """Length of one unit of :meth:`projected`'s coordinates [m]."""
        crs = self.projected().crs
        factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        return float(factor)

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of each area's centroid in :meth:`projected` coordinates, in metres
        [m] (file order)."""
        projected = self.projected()
        centres = projected.centroid
        scale = self.metres_per_unit()
        return centres.x.to_numpy() * scale, centres.y.to_numpy() * scale

    # -- joining ----------------------------------------------------------------------------
    def align(self, entities: Sequence[object] | pd.Index, *, source: str = "data") -> Areas:
        """Check the polygons against a panel's entities, both ways.

        Parameters
        ----------
        entities
            The panel's entity ids.
        source
            Name of the data, for messages.

        Returns
        -------
        Areas
            The same polygons, with :attr:`without_data` set; a warning names the polygons
            that have no data.

        Raises
        ------
        DataError
            Some entities have no polygon; the message names them (and the polygons without
            data, which are often the same areas under another id).
        """
        keys = self.key_of(pd.Index(entities).unique())
        no_polygon = list(keys[~keys.isin(self.keys)])
        no_data = list(self.keys[~self.keys.isin(keys)])
        if no_polygon:
            extra = (
                f"; {len(no_data)} polygon(s) have no data: {_names(no_data)} (the same areas "
                "under other ids?)"
                if no_data
                else ""
            )
            raise DataError(
                f"{len(no_polygon)} area(s) of {source} have no polygon in {self.source}: "
                f"{_names(no_polygon)}{extra}. Check the areas' key column "
                "(areas.key in the data dictionary)",
                source=source,
            )
        if no_data:
            warnings.warn(
                f"{len(no_data)} polygon(s) of {self.source} have no data in {source}: "
                f"{_names(no_data)}; they are drawn as 'no data' on maps and left out of "
                "spatial statistics",
                AreasWarning,
                stacklevel=3,
            )
        return replace(self, without_data=tuple(no_data))

    def with_weights(self, weights: WeightsSpec | dict[str, Any]) -> Areas:
        """The same areas with other declared weights."""
        spec = weights if isinstance(weights, WeightsSpec) else WeightsSpec(**weights)
        return replace(self, weights=spec)

    def to_frame(self, values: pd.DataFrame | None = None) -> geopandas.GeoDataFrame:
        """A GeoDataFrame of every polygon, with ``values`` (indexed by area id) joined.

        Parameters
        ----------
        values
            Columns indexed by entity id (any id type: matched as text); polygons without
            a row get missing values.
        """
        gpd = _geopandas()
        frame = gpd.GeoDataFrame({"area": self.keys}, geometry=self.geometry.values, crs=self.crs)
        if values is not None:
            keyed = values.copy()
            keyed.index = self.key_of(values.index)
            frame = frame.join(keyed, on="area")
        return frame


# =============================================================================================
# reading
# =============================================================================================
def _geopandas() -> Any:
    require("geo", "working with area polygons")
    import geopandas

    return geopandas


def read_areas(
    source: str | Path | Traversable | geopandas.GeoDataFrame,
    *,
    key: str,
    layer: str | None = None,
    crs: str | None = None,
    invalid: str = "repair",
    weights: WeightsSpec | dict[str, Any] | None = None,
) -> Areas:
    """Read and check area polygons.

    Parameters
    ----------
    source
        A GeoPackage (``.gpkg``), GeoJSON (``.geojson``/``.json``, also ``.gz``), shapefile
        (``.shp`` or a zipped one), FlatGeobuf or GeoParquet (``.parquet``) file, or a
        GeoDataFrame.
    key
        Column holding each area's id (matched, as text, to the panel's entity ids).
    layer
        Layer of a multi-layer file (GeoPackage).
    crs
        CRS to assume when the file has none (``"EPSG:3435"``); when the file has one it
        must be the same.
    invalid
        ``"repair"`` (default): invalid polygons are repaired with
        :func:`shapely.make_valid` and named in an :class:`AreasWarning`; ``"error"``: they
        are an error.
    weights
        Declared spatial weights (:class:`~securindex.spec.dictionary.WeightsSpec`);
        queen contiguity by default.

    Returns
    -------
    Areas

    Raises
    ------
    DataError
        The file cannot be read, or (all listed together, with names and counts) the key
        column is absent, keys are empty or duplicated, geometries are missing, empty or
        not polygons, polygons are invalid with ``invalid="error"``, or the declared CRS
        disagrees with the file's.
    MissingExtraError
        The ``geo`` extra is not installed.
    """
    gpd = _geopandas()
    import shapely

    if invalid not in ("repair", "error"):
        raise DataError(f"invalid must be 'repair' or 'error'; got {invalid!r}")
    name, frame = _read(gpd, source, layer)
    if key not in frame.columns:
        raise DataError(
            f"key column '{key}' not found in the polygons; columns are "
            f"{[c for c in frame.columns if c != frame.geometry.name][:20]}",
            source=name,
        )
    problems: list[str] = []
    raw_keys = frame[key]
    empty_key = raw_keys.isna().to_numpy()
    if empty_key.any():
        problems.append(
            f"{int(empty_key.sum())} polygon(s) without a key (rows {_names(list(np.flatnonzero(empty_key)))})"
        )
    keys = as_keys(raw_keys.to_numpy())
    counts = pd.Series(keys[~empty_key]).value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        listed = ", ".join(f"{k} ({n}×)" for k, n in repeated.items())
        problems.append(
            f"{len(repeated)} key(s) appear on several polygons: {listed}; dissolve them first "
            "(GeoDataFrame.dissolve) so each area has one polygon"
        )
    geometry = frame.geometry.to_numpy()
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    if missing.any():
        problems.append(
            f"{int(missing.sum())} area(s) without a geometry: {_names(list(keys[missing]))}"
        )
    kinds = pd.Series(shapely.get_type_id(geometry))
    polygonal = kinds.isin([3, 6]).to_numpy()  # Polygon, MultiPolygon
    wrong = ~polygonal & ~missing
    if wrong.any():
        found = sorted(set(frame.geometry[wrong].geom_type))
        problems.append(
            f"{int(wrong.sum())} area(s) are not polygons ({', '.join(found)}): "
            f"{_names(list(keys[wrong]))}"
        )
    file_crs = frame.crs
    if crs is not None:
        declared = _crs(crs, name)
        if file_crs is not None and not file_crs.equals(declared):
            problems.append(
                f"the file's CRS is {file_crs.to_string()} but the dictionary declares "
                f"{declared.to_string()}; remove areas.crs or reproject the file"
            )
    repaired: list[str] = []
    checkable = polygonal & ~missing
    valid = np.ones(len(frame), dtype=bool)
    valid[checkable] = shapely.is_valid(geometry[checkable])
    if not valid.all():
        bad = np.flatnonzero(~valid)
        reasons = shapely.is_valid_reason(geometry[bad])
        listed = "; ".join(
            f"{keys[i]}: {r}" for i, r in zip(bad[:_SHOWN], reasons[:_SHOWN], strict=False)
        )
        if invalid == "error":
            problems.append(
                f"{len(bad)} invalid polygon(s) ({listed}); repair them (areas.invalid: repair, "
                "or shapely.make_valid)"
            )
        else:
            geometry = geometry.copy()
            geometry[bad] = [_polygonal(shapely.make_valid(g)) for g in geometry[bad]]
            repaired = [str(keys[i]) for i in bad]
            warnings.warn(
                f"{len(bad)} invalid polygon(s) in {name} repaired with shapely.make_valid: "
                f"{listed}",
                AreasWarning,
                stacklevel=2,
            )
    if problems:
        text = (
            problems[0]
            if len(problems) == 1
            else (
                f"{len(problems)} problems with the polygons:\n"
                + "\n".join(f"  {p}" for p in problems)
            )
        )
        raise DataError(text, source=name)
    if file_crs is None and crs is None:
        warnings.warn(
            f"the polygons of {name} have no coordinate reference system: contiguity weights "
            "work, but distances and incident points need one (declare areas.crs)",
            AreasWarning,
            stacklevel=2,
        )
    series = gpd.GeoSeries(geometry, index=pd.Index(keys, name="area"), crs=file_crs or crs)
    if weights is None:
        spec = WeightsSpec()
    else:
        spec = weights if isinstance(weights, WeightsSpec) else WeightsSpec(**weights)
    return Areas(geometry=series, source=name, weights=spec, repaired=tuple(repaired))


def areas_from_spec(spec: AreasSpec, *, base: Path | Traversable | None = None) -> Areas:
    """Read the polygons a data dictionary's ``areas:`` entry names.

    ``base`` is the folder a relative ``file`` is read from (the dictionary's folder).
    """
    path: str | Path | Traversable = spec.file
    if base is not None and not Path(spec.file).is_absolute():
        path = base.joinpath(spec.file)
    return read_areas(
        path,
        key=spec.key,
        layer=spec.layer,
        crs=spec.crs,
        invalid=spec.invalid,
        weights=spec.weights,
    )


def areas_from_geometry(geometry: geopandas.GeoSeries, entities: pd.Index, *, source: str) -> Areas:
    """Areas from a panel's own geometry column (one polygon per entity, every period).

    Raises
    ------
    DataError
        An entity has different polygons in different periods.
    """
    import shapely

    keys = as_keys(pd.Index(entities))
    frame = pd.DataFrame({"key": keys, "row": np.arange(len(keys))})
    first = frame.drop_duplicates("key")
    values = geometry.to_numpy()
    reference = pd.Series(first["row"].to_numpy(), index=first["key"]).loc[keys].to_numpy()
    differs = ~shapely.equals(values, values[reference]) & ~shapely.is_missing(values)
    if differs.any():
        changed = sorted(set(keys[differs]))
        raise DataError(
            f"{len(changed)} area(s) have different polygons in different periods: "
            f"{_names(changed)}; give one polygon per area (areas: in the data dictionary)",
            source=source,
        )
    gpd = _geopandas()
    frame_out = gpd.GeoDataFrame(
        {"key": keys[first["row"].to_numpy()]},
        geometry=values[first["row"].to_numpy()],
        crs=geometry.crs,
    )
    return read_areas(frame_out, key="key")


def _crs(text: str, source: str) -> Any:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise DataError(f"unknown CRS {text!r}: {exc}", source=source) from None


def _polygonal(geometry: Any) -> Any:
    """The polygonal part of a repaired geometry (make_valid may add lines or points)."""
    import shapely

    if shapely.get_type_id(geometry) in (3, 6):
        return geometry
    parts = [g for g in shapely.get_parts(geometry) if shapely.get_type_id(g) in (3, 6)]
    return shapely.union_all(parts) if parts else geometry


def _read(gpd: Any, source: Any, layer: str | None) -> tuple[str, Any]:
    """Name and GeoDataFrame of a polygon source."""
    if isinstance(source, gpd.GeoDataFrame):
        return "GeoDataFrame", source
    if isinstance(source, (pd.DataFrame, pd.Series)):
        raise DataError(
            "the areas need geometry: give a GeoDataFrame or a polygon file, not a plain DataFrame"
        )
    name = str(source) if isinstance(source, Path) else getattr(source, "name", str(source))
    path = Path(str(source)) if isinstance(source, (str, Path)) else None
    if path is not None and not path.exists():
        raise DataError("polygon file not found", source=str(path))
    suffixes = [s.lower() for s in Path(name).suffixes]
    options: dict[str, Any] = {"layer": layer} if layer else {}
    try:
        if ".parquet" in suffixes or ".geoparquet" in suffixes:
            require("parquet", "reading GeoParquet")
            return name, gpd.read_parquet(
                path if path is not None else io.BytesIO(source.read_bytes())
            )
        if path is not None and suffixes[-1:] != [".gz"]:
            return name, gpd.read_file(path, **options)
        data = path.read_bytes() if path is not None else source.read_bytes()
        if suffixes[-1:] == [".gz"]:
            data = gzip.decompress(data)
        return name, gpd.read_file(io.BytesIO(data), **options)
    except SecurindexError:
        raise
    except Exception as exc:  # pyogrio / pyarrow / fiona errors: re-raised with the file
        raise DataError(
            f"cannot read the polygons: {type(exc).__name__}: {exc}", source=name
        ) from exc
