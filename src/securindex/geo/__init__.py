"""Geography: areas with polygons, spatial weights, autocorrelation and hot spots, maps.

One concept per module:

- :mod:`securindex.geo.areas` — :class:`Areas`: the polygons, read and checked once (keys,
  CRS, validity), joined to a panel's entities with every mismatch named;
- :mod:`securindex.geo.weights` — spatial weights (queen, rook, k-nearest, distance band;
  row-standardised) from a registry users can extend, islands reported;
- :mod:`securindex.geo.autocorrelation` — global Moran's I, local Moran (LISA) clusters and
  Getis–Ord Gi* as tidy tables, per period (PySAL's esda does the statistics);
- :mod:`securindex.geo.maps` — choropleths of any node, indicator, rank, change or
  evaluation result, and cluster maps (mapclassify schemes, polarity-aware colours);
- :mod:`securindex.geo.export` — tables with polygons as GeoPackage or GeoParquet;
- :mod:`securindex.geo.buffers` — areas near treated areas (for displacement checks).

Everything here needs the ``geo`` extra: ``pip install 'securindex[geo]'`` (geopandas,
shapely, pyogrio, libpysal, esda, mapclassify); importing this package imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from securindex._lazy import lazy_exports

if TYPE_CHECKING:
    from securindex.geo.areas import Areas, AreasWarning, read_areas
    from securindex.geo.export import geoframe, write_geofile

__all__ = [
    "Areas",
    "AreasWarning",
    "geoframe",
    "read_areas",
    "write_geofile",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Areas": "securindex.geo.areas",
        "AreasWarning": "securindex.geo.areas",
        "read_areas": "securindex.geo.areas",
        "geoframe": "securindex.geo.export",
        "write_geofile": "securindex.geo.export",
    },
)
