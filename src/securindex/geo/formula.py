"""The areas as formula functions see them: ``spatial_lag(x)`` and ``within(x, distance)``.

:class:`AreaLayout` is the :class:`~securindex.formula.SpatialLayout` a
:class:`~securindex.dataset.Panel` with polygons puts in its
:class:`~securindex.formula.PanelLayout`. Nothing is built until a formula asks: the weights
declared with the areas (``areas.weights`` in the data dictionary) on the first
``spatial_lag``, a k-d tree of the centroids on the first ``within``; both are kept for the
panel's later formulas.

References
----------
.. [1] L. Anselin (1988), Spatial Econometrics: Methods and Models, Kluwer, ch. 3 (the
   spatial lag Wy).
.. [2] W. G. Hansen (1959), How accessibility shapes land use, Journal of the American
   Institute of Planners 25(2), 73–76, https://doi.org/10.1080/01944365908978307
   (cumulative-opportunity access: the amount reachable within a distance).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from securindex.geo.areas import Areas

__all__ = ["AreaLayout"]


class AreaLayout:
    """Spatial weights and centroid distances in the entity order of a panel layout.

    Parameters
    ----------
    areas
        The polygons.
    entities
        The panel's entities in entity-code order (``pd.factorize`` order).
    """

    def __init__(self, areas: Areas, entities: pd.Index) -> None:
        self.areas = areas
        self.entities = entities
        self._weights: Any = None
        self._tree: Any = None

    def _keys(self) -> list[str]:
        return [str(k) for k in self.areas.key_of(self.entities)]

    def neighbour_weights(self) -> Any:
        """Row-standardised declared weights among the panel's entities [unitless]."""
        if self._weights is None:
            from securindex.geo.weights import spatial_weights

            keys = self._keys()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # islands are reported as a NaN reason
                weights = spatial_weights(self.areas, keys=sorted(set(keys), key=keys.index))
            matrix = weights.sparse()
            order = [weights.keys.index(k) for k in keys]
            self._weights = matrix[order][:, order].tocsr()
        return self._weights

    def within_distance(self, metres: float) -> Any:
        """1 where area j's centroid is within ``metres`` [m] of area i's, i included."""
        import scipy.sparse
        from scipy.spatial import cKDTree

        if self._tree is None:
            x, y = self.areas.centroids()
            position = {k: i for i, k in enumerate(self.areas.keys)}
            rows = [position[k] for k in self._keys()]
            self._tree = cKDTree(np.column_stack([x[rows], y[rows]]))
        pairs = self._tree.query_pairs(metres, output_type="ndarray")
        n = len(self.entities)
        i = np.r_[np.arange(n), pairs[:, 0], pairs[:, 1]]
        j = np.r_[np.arange(n), pairs[:, 1], pairs[:, 0]]
        return scipy.sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
