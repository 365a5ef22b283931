"""Aggregators that score a row relative to the others: Hellwig's Wrocław taxonomy
(distance to an ideal) and composites from principal-component (factor) scores.

Registered in :data:`securindex.methods.aggregate.aggregators` (this module is imported by
it). Both compare rows, so they are not row-wise: the Wrocław taxonomy within each period
(the pipeline passes the period codes as ``groups``), the factor scores over all rows
pooled (one set of loadings, as the pipeline's PCA weights).

References
----------
.. [1] Hellwig, Z. (1968). Zastosowanie metody taksonomicznej do typologicznego podziału
   krajów ze względu na poziom ich rozwoju oraz zasoby i strukturę wykwalifikowanych kadr.
   *Przegląd Statystyczny* 15(4), 307–327; in English: UNESCO (1967), *Procedure of
   evaluating high-level manpower data and typology of countries by means of the
   taxonomic method*.
.. [2] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Part I, step 6
   (factor analysis). doi:10.1787/9789264043466-en
.. [3] Vidoli, F. & Fusco, E. (2024). *Compind*, R package 3.4, ``ci_wroclaw`` and
   ``ci_factor``. https://CRAN.R-project.org/package=Compind
"""

from __future__ import annotations

from typing import Any

import numpy as np

from securindex.errors import DataError
from securindex.methods._types import FloatArray, IntArray, param_error
from securindex.methods.aggregate import _as_data, _as_weights, _row_weights, aggregators
from securindex.methods.weight import varimax

__all__ = ["factor_scores", "wroclaw"]

_HELLWIG = (
    "Hellwig, Z. (1968). Przeglad Statystyczny 15(4), 307-327 (the Wroclaw taxonomy); "
    "Compind 3.4 ci_wroclaw"
)
_FACTOR = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, step 6, "
    "doi:10.1787/9789264043466-en; Compind 3.4 ci_factor (psych::principal)"
)


@aggregators.register(
    "wroclaw",
    rowwise=False,
    reference=_HELLWIG,
    compensatory=True,
    compensability="full",
    requires_positive=False,
    preserves_range=False,
    idempotent=False,
    parameters=("groups",),
)
def wroclaw(X: FloatArray, w: FloatArray | None, /, *, groups: IntArray | None = None) -> Any:
    r"""Hellwig's development measure (the Wrocław taxonomy): closeness to an ideal row.

    The ideal takes each child's best value among the rows compared (within each period
    with ``groups``); a row's distance to it is scaled by the mean plus two standard
    deviations of all rows' distances, and the measure is one minus that.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children, higher = better, on a common scale (Hellwig standardises:
        ``normalise: {method: zscore}``) [score]; NaN = missing.
    w : FloatArray or None
        Weights of the squared differences [unitless]; equal weights give Hellwig's
        Euclidean distance.
    groups : IntArray, shape (n_rows,), optional
        Period code per row (the pipeline passes them): rows are compared within periods.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        :math:`1 - d_i / c_0` [unitless; 1 at the ideal, around 0 for a row two standard
        deviations beyond the mean distance]; NaN for a row without present children.

    Notes
    -----
    With :math:`x^*_j = \max_i x_{ij}`, :math:`d_i = \sqrt{\sum_j k \tilde w_j (x_{ij} -
    x^*_j)^2}` over the row's present children (:math:`\tilde w` renormalised over them,
    :math:`k` their number: equal weights give the plain Euclidean distance) and
    :math:`c_0 = \bar d + 2 s_d` (:math:`s_d` with divisor :math:`n - 1`). Compind's
    ``ci_wroclaw`` returns :math:`d_i / c_0` (lower is better); this is :math:`1 -` that.

    Examples
    --------
    >>> x = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    >>> wroclaw(x, None).round(4)  # distances 0, 1, sqrt(2)
    array([1.    , 0.5573, 0.3739])
    """
    X = _as_data(X, "wroclaw", min_ndim=2)
    wn, empty = _row_weights(X, _as_weights(w, X, "wroclaw"))
    n_rows = X.shape[-2]
    codes = np.zeros(n_rows, dtype=np.int64) if groups is None else np.asarray(groups)
    if codes.shape != (n_rows,):
        raise DataError(
            f"aggregate method 'wroclaw': groups must have one code per row, shape ({n_rows},)"
        )
    out = np.full(X.shape[:-1], np.nan)
    active = wn > 0.0
    count = active.sum(axis=-1, keepdims=True)
    for code in np.unique(codes):  # one ideal per period; vectorised over rows, replicates
        rows = codes == code
        part = X[..., rows, :]
        ideal = np.nanmax(np.where(active[..., rows, :], part, np.nan), axis=-2, keepdims=True)
        gap = np.where(active[..., rows, :], part - ideal, 0.0)
        d = np.sqrt(np.sum(count[..., rows, :] * wn[..., rows, :] * gap * gap, axis=-1))
        d = np.where(empty[..., rows], np.nan, d)
        with np.errstate(invalid="ignore", divide="ignore"):
            c0 = np.nanmean(d, axis=-1, keepdims=True) + 2.0 * np.nanstd(
                d, axis=-1, ddof=1, keepdims=True
            )
            out[..., rows] = np.where(c0 > 0, 1.0 - d / np.where(c0 > 0, c0, 1.0), 1.0)
    return np.where(empty, np.nan, out)


def _components(value: Any, n_children: int) -> int:
    if value == "one":
        return 1
    if value == "all":
        return n_children
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (1 <= int(value) <= n_children)
    ):
        raise param_error(
            "aggregate",
            "factor_scores",
            "components",
            f"'one', 'all' or a whole number from 1 to {n_children}",
            value,
        )
    return int(value)


@aggregators.register(
    "factor_scores",
    rowwise=False,
    reference=_FACTOR,
    compensatory=True,
    compensability="full",
    requires_positive=False,
    preserves_range=False,
    idempotent=False,
    parameters=("components",),
)
def factor_scores(X: FloatArray, w: FloatArray | None, /, *, components: Any = "one") -> Any:
    r"""A composite from principal-component scores of the children (Compind's ``ci_factor``).

    The children are standardised over all rows, the principal components of their
    correlation matrix are taken (varimax-rotated when more than one is kept, as
    ``psych::principal``), and each row's component scores are combined.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score]; rows with a missing child are not scored (NaN), and
        the components are learnt from the complete rows (each replicate on its own).
    w : ignored
        The weights come from the data (the components' shares of the variance).
    components : "one", "all" or int, default "one"
        ``one``: the first component's scores (Compind ``method = "ONE"``); ``all`` or
        :math:`q`: the :math:`q` rotated components' scores weighted by the variance each
        explains, :math:`\sum_c s_c \lambda_c / n_{children}` (``"ALL"``, ``"CH"`` with
        ``dim = q``).

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        The composite [standardised score: with ``one``, mean 0 and standard deviation 1
        over the complete rows].

    Raises
    ------
    DataError
        Fewer than 3 complete rows, or a constant child.

    Notes
    -----
    With :math:`Z` the standardised children (divisor :math:`n - 1`), :math:`R` their
    correlation matrix and :math:`L` the (rotated) loadings :math:`V_q \Lambda_q^{1/2}`,
    the scores are the regression scores :math:`S = Z R^{-1} L`; each component's sign is
    chosen so that its loadings sum to a positive number (psych's convention), so that a
    composite of positively oriented children increases with them.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [2.0, 2.5], [3.0, 4.5], [4.0, 5.0]])
    >>> s = factor_scores(x, None)
    >>> bool(np.all(np.diff(s) > 0)), round(float(s.std(ddof=1)), 6)
    (True, 1.0)
    """
    X = _as_data(X, "factor_scores", min_ndim=2)
    n_children = X.shape[-1]
    q = _components(components, n_children)
    stack = X.reshape(-1, *X.shape[-2:])
    out = np.full(stack.shape[:-1], np.nan)
    for r, block in enumerate(stack):  # each replicate learns its own components
        complete = ~np.isnan(block).any(axis=1)
        if complete.sum() < 3:
            raise DataError(
                f"aggregate method 'factor_scores' needs at least 3 complete rows; got "
                f"{int(complete.sum())}"
            )
        data = block[complete]
        sd = data.std(axis=0, ddof=1)
        if np.any(sd == 0):
            raise DataError(
                "aggregate method 'factor_scores': child(ren) "
                f"{np.flatnonzero(sd == 0).tolist()} are constant over the complete rows"
            )
        z = (data - data.mean(axis=0)) / sd
        corr = np.atleast_2d(np.corrcoef(data, rowvar=False))
        values, vectors = np.linalg.eigh(corr)
        order = np.argsort(values)[::-1][:q]
        loadings = vectors[:, order] * np.sqrt(np.clip(values[order], 0.0, None))
        if q > 1:
            loadings, _ = varimax(loadings)
        signs = np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)
        loadings = loadings * signs
        scores = z @ np.linalg.solve(corr, loadings)
        if q == 1:
            out[r, complete] = scores[:, 0]
        else:
            share = (loadings**2).sum(axis=0) / n_children
            out[r, complete] = scores @ share
    return out.reshape(X.shape[:-1])
