"""Spatial weights: which areas are neighbours, from a registry of small builders.

A builder takes the polygons (:class:`~securindex.geo.areas.Areas`) and the declared
:class:`~securindex.spec.dictionary.WeightsSpec` and returns a libpysal
:class:`~libpysal.weights.W` over the area keys; :func:`spatial_weights` calls the
declared one, reports the islands (areas without neighbours) in an
:class:`~securindex.geo.areas.AreasWarning`, joins them to their nearest area when
``islands: nearest`` (:func:`libpysal.weights.util.attach_islands`), restricts the weights to
the areas that have data and row-standardises them (libpysal's ``transform = "r"``).

Built in: ``queen`` and ``rook`` contiguity (shared boundary point / edge), ``knn``
(the ``k`` nearest centroids) and ``distance_band`` (centroids within ``threshold``,
binary before standardising). Add one with :func:`register_weights`; it then works
everywhere weights are used (statistics, ``spatial_lag`` in formulas, buffers).

References
----------
.. [1] S. J. Rey and L. Anselin (2007), PySAL: A Python Library of Spatial Analytical
   Methods, The Review of Regional Studies 37(1), 5–27.
.. [2] L. Anselin (1988), Spatial Econometrics: Methods and Models, Kluwer, ch. 3
   (spatial weights).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex._extras import require
from securindex.errors import DataError, SpecError
from securindex.geo.areas import Areas, AreasWarning, _names
from securindex.spec.dictionary import WeightsSpec
from securindex.units import conversion_factor, parse_unit

if TYPE_CHECKING:
    import scipy.sparse

__all__ = [
    "WEIGHTS",
    "SpatialWeights",
    "WeightsMethod",
    "register_weights",
    "spatial_weights",
]

Builder = Callable[[Areas, WeightsSpec], Any]


@dataclass(frozen=True)
class WeightsMethod:
    """A registered way of building spatial weights.

    Attributes
    ----------
    name
        Registry key (``lower_snake``), the ``method`` of a WeightsSpec.
    build
        ``(areas, spec) -> libpysal.weights.W`` over ``areas.keys`` (ids = the text keys).
    parameters
        WeightsSpec fields the method needs (``("k",)``), checked before it runs.
    distances
        True when the method measures distances (needs a CRS).
    summary, reference
        One line each, for docs and error messages.
    """

    name: str
    build: Builder
    parameters: tuple[str, ...] = ()
    distances: bool = False
    summary: str = ""
    reference: str = ""


_WEIGHTS: dict[str, WeightsMethod] = {}
WEIGHTS = MappingProxyType(_WEIGHTS)
"""The registered weights methods, name → :class:`WeightsMethod` (read-only view)."""


def register_weights(
    name: str,
    *,
    parameters: Sequence[str] = (),
    distances: bool = False,
    summary: str = "",
    reference: str = "",
) -> Callable[[Builder], Builder]:
    """Register a weights builder under ``name`` (decorator).

    Parameters
    ----------
    name
        The ``method`` users write in ``areas.weights``.
    parameters
        WeightsSpec fields the builder needs (``k``, ``threshold``).
    distances
        The builder measures distances, so the polygons need a CRS.

    Raises
    ------
    SpecError
        ``name`` is taken, not lower_snake, or a parameter is not a WeightsSpec field.
    """
    unknown = [p for p in parameters if p not in WeightsSpec.model_fields]
    if unknown or not name.replace("_", "").isalnum() or name != name.lower():
        raise SpecError(
            f"weights method '{name}': name must be lower_snake and parameters WeightsSpec "
            f"fields ({sorted(WeightsSpec.model_fields)}); got {list(parameters)}"
        )
    if name in _WEIGHTS:
        raise SpecError(f"weights method '{name}' is already registered")

    def decorate(build: Builder) -> Builder:
        _WEIGHTS[name] = WeightsMethod(
            name, build, tuple(parameters), distances, summary, reference
        )
        return build

    return decorate


# =============================================================================================
# the weights object
# =============================================================================================
@dataclass(frozen=True, eq=False)
class SpatialWeights:
    """Spatial weights over the areas that have data, row-standardised.

    Attributes
    ----------
    w : libpysal.weights.W
        The weights; ids are the area keys (text), ``transform`` as declared.
    spec : WeightsSpec
        What was declared.
    islands : tuple of str
        Areas without neighbours (left out of statistics with ``islands: exclude``; joined
        to their nearest area with ``islands: nearest``, then listed in ``attached``).
    attached : tuple of str
        Islands joined to their nearest area.
    """

    w: Any
    spec: WeightsSpec
    islands: tuple[str, ...] = ()
    attached: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        """Area keys, in the order of :meth:`sparse`'s rows."""
        return list(self.w.id_order)

    @property
    def n_neighbours(self) -> pd.Series:
        """Number of neighbours of each area [count]."""
        return pd.Series(self.w.cardinalities, name="n_neighbours").loc[self.keys]

    def sparse(self) -> scipy.sparse.csr_matrix:
        """The (transformed) weights as a sparse matrix, rows and columns in :attr:`keys`
        order; an island's row is zero."""
        return self.w.sparse.tocsr()

    def subset(self, keys: Sequence[str]) -> SpatialWeights:
        """The weights among ``keys`` only (re-standardised); new islands are reported."""
        from libpysal.weights import w_subset

        keys = list(keys)
        if keys == self.keys:
            return self
        binary = _copy_binary(self.w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sub = w_subset(binary, keys, silence_warnings=True)
            sub.transform = self.spec.transform
        islands = tuple(str(k) for k in sub.islands)
        return SpatialWeights(sub, self.spec, islands, self.attached)


def _copy_binary(w: Any) -> Any:
    from libpysal.weights import W

    return W(
        {k: list(v) for k, v in w.neighbors.items()},
        id_order=list(w.id_order),
        silence_warnings=True,
    )


def spatial_weights(
    areas: Areas,
    spec: WeightsSpec | dict[str, Any] | None = None,
    *,
    keys: Sequence[str] | None = None,
) -> SpatialWeights:
    """Build the declared spatial weights of ``areas``.

    Parameters
    ----------
    areas
        The polygons.
    spec
        The weights to build; default: the ones declared with the areas
        (``areas.weights`` in the data dictionary; queen contiguity if none).
    keys
        Restrict to these area keys (the areas that have data); default: every polygon
        that has data (all but :attr:`Areas.without_data`).

    Returns
    -------
    SpatialWeights
        Row-standardised (unless ``transform: b``); ``islands`` lists the areas without
        neighbours, which an :class:`AreasWarning` also names.

    Raises
    ------
    SpecError
        Unknown method (the message lists the registered ones) or a missing parameter.
    DataError
        A distance-based method on polygons without a CRS.
    MissingExtraError
        The ``geo`` extra is not installed.
    """
    require("geo", "spatial weights")
    if spec is None:
        spec = areas.weights
    elif not isinstance(spec, WeightsSpec):
        spec = WeightsSpec(**spec)
    method = _WEIGHTS.get(spec.method)
    if method is None:
        raise SpecError(
            f"unknown weights method '{spec.method}'; registered: {', '.join(sorted(_WEIGHTS))}"
        )
    absent = [p for p in method.parameters if getattr(spec, p) is None]
    if absent:
        raise SpecError(f"weights method '{spec.method}' needs {', '.join(absent)}")
    if keys is None:
        without = set(areas.without_data)
        keys = [k for k in areas.keys if k not in without]
    full = _built(areas, spec, method.build)
    subset = SpatialWeights(_copy_binary(full), spec).subset(list(keys))
    subset.w.transform = spec.transform
    islands = tuple(str(k) for k in subset.w.islands)
    weights = SpatialWeights(subset.w, spec, islands)
    if islands and spec.islands == "nearest":
        weights = _attach(areas, weights)
    if islands:
        treatment = (
            "joined to their nearest area (islands: nearest)"
            if spec.islands == "nearest"
            else "left out of spatial statistics and without a spatial lag (islands: exclude)"
        )
        warnings.warn(
            f"{len(islands)} area(s) have no neighbours under '{spec.method}' weights: "
            f"{_names(list(islands))}; {treatment}",
            AreasWarning,
            stacklevel=2,
        )
    return weights


_BUILT: weakref.WeakKeyDictionary[Areas, dict[str, Any]] = weakref.WeakKeyDictionary()
"""The weights built for each set of polygons, by declaration (kept while the polygons
live): a report's maps, Moran's I, LISA and Gi* and a formula's ``spatial_lag`` build them
once."""


def _built(areas: Areas, spec: WeightsSpec, build: Builder) -> Any:
    """The full weights of ``areas`` under ``spec``, built on first use (never modified:
    callers subset a copy)."""
    cache = _BUILT.setdefault(areas, {})
    key = spec.model_dump_json()
    if key not in cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libpysal's island warnings: reported once
            cache[key] = build(areas, spec)
    return cache[key]


def _attach(areas: Areas, weights: SpatialWeights) -> SpatialWeights:
    from libpysal.weights import KNN
    from libpysal.weights.util import attach_islands

    keys = weights.keys
    nearest = KNN.from_dataframe(_centroid_frame(areas, keys, need_crs=False), k=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joined = attach_islands(_copy_binary(weights.w), nearest)
        joined.transform = weights.spec.transform
    return SpatialWeights(joined, weights.spec, weights.islands, weights.islands)


def _centroid_frame(areas: Areas, keys: Sequence[str] | None = None, *, need_crs: bool) -> Any:
    """Centroids as points in metres (or the file's units when there is no CRS and
    ``need_crs`` is False), indexed by area key."""
    import geopandas

    if areas.crs is None and not need_crs:
        centres = areas.geometry.centroid
    else:
        x, y = areas.centroids()
        centres = geopandas.GeoSeries(geopandas.points_from_xy(x, y), index=areas.keys)
    frame = geopandas.GeoDataFrame(geometry=centres)
    return frame if keys is None else frame.loc[list(keys)]


def _polygons(areas: Areas) -> Any:
    import geopandas

    return geopandas.GeoDataFrame(geometry=areas.geometry)


def threshold_metres(spec: WeightsSpec) -> float:
    """The ``threshold`` of a spec in metres [m]."""
    assert spec.threshold is not None
    return float(conversion_factor(parse_unit(spec.threshold), parse_unit("m")))


# =============================================================================================
# built-in methods
# =============================================================================================
_PYSAL = "Rey, S. J. and Anselin, L. (2007), PySAL, Rev. Reg. Stud. 37(1), 5-27"


@register_weights(
    "queen",
    summary="areas sharing at least one boundary point",
    reference=f"Anselin (1988), Spatial Econometrics, ch. 3; {_PYSAL}",
)
def _queen(areas: Areas, spec: WeightsSpec) -> Any:
    from libpysal.weights import Queen

    return Queen.from_dataframe(_polygons(areas), use_index=True, silence_warnings=True)


@register_weights(
    "rook",
    summary="areas sharing a boundary edge",
    reference=f"Anselin (1988), Spatial Econometrics, ch. 3; {_PYSAL}",
)
def _rook(areas: Areas, spec: WeightsSpec) -> Any:
    from libpysal.weights import Rook

    return Rook.from_dataframe(_polygons(areas), use_index=True, silence_warnings=True)


@register_weights(
    "knn",
    parameters=("k",),
    summary="the k areas with the nearest centroids",
    reference=_PYSAL,
)
def _knn(areas: Areas, spec: WeightsSpec) -> Any:
    from libpysal.weights import KNN

    assert spec.k is not None
    if spec.k >= len(areas):
        raise DataError(
            f"knn weights with k={spec.k} need more than {spec.k} areas; there are {len(areas)}",
            source=areas.source,
        )
    return KNN.from_dataframe(_centroid_frame(areas, need_crs=False), k=spec.k)


@register_weights(
    "distance_band",
    parameters=("threshold",),
    distances=True,
    summary="areas whose centroids are within threshold (binary, then standardised)",
    reference=_PYSAL,
)
def _distance_band(areas: Areas, spec: WeightsSpec) -> Any:
    from libpysal.weights import DistanceBand

    threshold = threshold_metres(spec)
    return DistanceBand.from_dataframe(
        _centroid_frame(areas, need_crs=True),
        threshold=threshold,
        binary=True,
        silence_warnings=True,
    )


def neighbour_table(weights: SpatialWeights) -> pd.DataFrame:
    """One row per (area, neighbour) with the weight [unitless]."""
    rows = [
        (key, neighbour, weight)
        for key in weights.keys
        for neighbour, weight in zip(weights.w.neighbors[key], weights.w.weights[key], strict=True)
    ]
    return pd.DataFrame(rows, columns=["area", "neighbour", "weight"]).astype(
        {"weight": np.float64}
    )
