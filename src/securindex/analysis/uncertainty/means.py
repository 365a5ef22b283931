"""Weighted arithmetic and geometric means of many replicates as matrix products."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from securindex.methods._types import FloatArray

_Terms = tuple[FloatArray, FloatArray | None]


def mean_terms(method: str, x: FloatArray) -> _Terms | None:
    """The matrices the matrix-product means need: values (or logs) with 0 for missing,
    and the presence mask (None when nothing is missing); None when the registry's
    aggregator must handle ``x``."""
    if method not in ("arithmetic", "geometric"):
        return None
    present = ~np.isnan(x)
    complete = bool(present.all())
    if not np.isfinite(x if complete else x[present]).all():
        return None
    if method == "geometric":
        if ((x if complete else x[present]) <= 0).any():
            return None  # the aggregator raises the proper error
        values = np.log(x if complete else np.where(present, x, 1.0))
    else:
        values = x if complete else np.where(present, x, 0.0)
    return values, None if complete else present.astype(np.float64)


def matrix_mean(
    method: str,
    params: Mapping[str, Any],
    x: FloatArray,
    w: FloatArray,
    n_replicates: int,
    terms: _Terms | None = None,
) -> FloatArray | None:
    r"""Weighted arithmetic or geometric means of many replicates as matrix products.

    With one weight vector per replicate, the mean over the present children of row i in
    replicate r is :math:`\sum_j w_{rj} x_{ij} [x_{ij}\ present] / \sum_j w_{rj}
    [x_{ij}\ present]` (of :math:`\log x` for the geometric mean), i.e. two products of
    the (rows × children) matrix with the (children × replicates) weights. Returns None
    when this does not apply (other methods, per-row weights, values the registry's
    aggregator must reject), so that the caller uses the aggregator itself. ``terms``
    are :func:`mean_terms` of ``x``, when already known.
    """
    if params or method not in ("arithmetic", "geometric"):
        return None
    k = x.shape[-1]
    if w.ndim == 2 or (w.ndim == 3 and w.shape[1] != 1):
        return None
    weights = np.broadcast_to(w.reshape(-1, k), (n_replicates, k))
    if (weights < 0).any():
        return None
    if terms is None:
        terms = mean_terms(method, x)
        if terms is None:
            return None
    values, mask = terms
    # (replicates × rows): one matrix product for a shared matrix, else per replicate
    numerator = weights @ values.T if x.ndim == 2 else np.einsum("rnk,rk->rn", values, weights)
    if mask is None:  # every child present: the denominator is each replicate's weight sum
        denominator = weights.sum(axis=1, keepdims=True)
    elif x.ndim == 2:
        denominator = weights @ mask.T
    else:
        denominator = np.einsum("rnk,rk->rn", mask, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = numerator / denominator
    if (denominator <= 0).any():
        mean = np.where(denominator > 0, mean, np.nan)
    return np.exp(mean, out=mean) if method == "geometric" else mean
