"""Buffer (displacement) areas around treated areas, derived from the polygons.

The weighted displacement quotient and difference (WDQ, WDD) compare a treated area with a
buffer around it, where displaced crime would show up. :func:`buffer_areas` derives the
buffer from the geometry instead of a hand-made list: the areas within a distance of the
treated polygons, or their neighbours (of order 1, 2, … under the declared weights). The
treated areas themselves are never in the buffer, and areas listed in ``exclude`` (the
control areas) are left out with a warning, since an area cannot be both.

References
----------
.. [1] J. E. Bowers and S. D. Johnson (2003), Measuring the geographical displacement and
   diffusion of benefit effects of crime prevention activity, Journal of Quantitative
   Criminology 19(3), 275–301, https://doi.org/10.1023/A:1024909009240
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.geo.areas import Areas, AreasWarning, _names
from securindex.units import conversion_factor, parse_unit

__all__ = ["buffer_areas"]


def buffer_areas(
    areas: Areas,
    treated: Sequence[Any],
    *,
    distance: str | float | None = None,
    order: int | None = None,
    exclude: Sequence[Any] = (),
) -> list[str]:
    """The areas around ``treated``: within ``distance`` of them, or their neighbours.

    Parameters
    ----------
    areas
        The polygons (``panel.areas``).
    treated
        Ids of the treated areas.
    distance
        A length with its unit (``"500 m"``, ``"1 km"``), or metres as a number: an area is
        in the buffer when its polygon comes within this distance of a treated polygon
        (0: the areas touching them).
    order
        Instead of a distance: neighbours under the declared weights
        (``areas.weights``) up to this order (1: direct neighbours, 2: their neighbours
        too).
    exclude
        Areas never put in the buffer (the control areas); any that would have been are
        named in an :class:`AreasWarning`.

    Returns
    -------
    list of str
        Area keys in file order, treated and excluded areas left out.

    Raises
    ------
    SpecError
        Neither or both of ``distance`` and ``order``.
    DataError
        A treated area has no polygon; a distance on polygons without a CRS.
    """
    if (distance is None) == (order is None):
        raise SpecError("give either distance= (e.g. '500 m') or order= (1: the neighbours)")
    treated_keys = list(areas.key_of(list(treated)))
    unknown = [k for k in treated_keys if k not in set(areas.keys)]
    if unknown:
        raise DataError(
            f"{len(unknown)} treated area(s) have no polygon: {_names(unknown)}",
            source=areas.source,
        )
    if not treated_keys:
        raise SpecError("no treated areas: the buffer is built around them")
    if distance is not None:
        chosen = _within(areas, treated_keys, _metres(distance))
    else:
        assert order is not None
        if order < 1:
            raise SpecError(f"order must be at least 1; got {order}")
        chosen = _neighbours(areas, treated_keys, order)
    excluded = set(areas.key_of(list(exclude))) if len(exclude) else set()
    clash = [k for k in areas.keys if k in chosen and k in excluded]
    if clash:
        warnings.warn(
            f"{len(clash)} area(s) near the treated ones are controls and left out of the "
            f"buffer: {_names(clash)}",
            AreasWarning,
            stacklevel=2,
        )
    skip = set(treated_keys) | excluded
    return [str(k) for k in areas.keys if k in chosen and k not in skip]


def _metres(distance: str | float) -> float:
    if isinstance(distance, (int, float)) and not isinstance(distance, bool):
        metres = float(distance)
    else:
        unit = parse_unit(str(distance))
        if not unit.is_compatible_with(parse_unit("m")):
            raise SpecError(f"distance must be a length such as '500 m'; got {distance!r}")
        metres = conversion_factor(unit, parse_unit("m"))
    if not np.isfinite(metres) or metres < 0:
        raise SpecError(f"distance must be a non-negative length; got {distance!r}")
    return float(metres)


def _within(areas: Areas, treated: list[str], metres: float) -> set[str]:
    projected = areas.projected()
    scale = areas.metres_per_unit()
    target = projected.loc[treated]
    tree = projected.sindex
    hits = tree.query(target.to_numpy(), predicate="dwithin", distance=metres / scale)
    return {str(projected.index[j]) for j in np.unique(hits[1])}


def _neighbours(areas: Areas, treated: list[str], order: int) -> set[str]:
    from securindex.geo.weights import spatial_weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands simply have no neighbours here
        weights = spatial_weights(areas, keys=list(areas.keys))
    reached = set(treated)
    frontier = set(treated)
    for _ in range(order):
        frontier = {str(n) for k in frontier for n in weights.w.neighbors[k]} - reached
        reached |= frontier
    return reached
