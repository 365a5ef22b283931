"""Weighting methods: how much each child of an index node counts.

Every weighter has the signature ``f(X, /, *, nominal=None, **params) -> Weights``:

* ``X`` has shape ``(n_rows, n_children)``: the node's normalised children, rows being
  (entity, period) pairs of the reference sample, ``NaN`` = missing. Methods that learn
  from data (PCA, benefit of the doubt) use it; the others only check its number of
  columns against their parameters.
* ``nominal`` is the weight vector written in the framework, if any (``explicit`` needs
  it; the others ignore it).
* The result is a :class:`Weights`: ``values`` of shape ``(n_children,)`` (or
  ``(n_rows, n_children)`` for per-row weights), non-negative and summing to 1 along the
  last axis, and ``info``, a dict of what was learnt (loadings, explained variance,
  consistency ratio...), which the pipeline records in the result.

Weights are learnt once, from an explicit reference sample, then applied ("learn first,
apply second"); nothing is kept in module state.

The module also gives two diagnostics of the weights actually at work:
:func:`overall_weights` (each indicator's weight in the index, through the tree: COINr's
"effective weights") and :func:`variance_shares` (each child's share of the variance of the
aggregate).

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part II, section 6.1. OECD Publishing. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.methods._registry import Protocol, Registry
from securindex.methods._types import FloatArray, IntArray

__all__ = [
    "RANDOM_INDEX",
    "Weighter",
    "Weights",
    "ahp",
    "benefit_of_doubt",
    "budget_allocation",
    "equal",
    "explicit",
    "overall_weights",
    "pca_loadings",
    "pca_rotated",
    "register_weighter",
    "variance_shares",
    "varimax",
    "weighters",
]

HANDBOOK = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.1. "
    "doi:10.1787/9789264043466-en"
)

RANDOM_INDEX: dict[int, float] = {
    1: 0.0,
    2: 0.0,
    3: 0.58,
    4: 0.90,
    5: 1.12,
    6: 1.24,
    7: 1.32,
    8: 1.41,
    9: 1.45,
    10: 1.49,
}
"""Saaty's random consistency index RI by matrix size n [unitless] (Saaty 1980):
the mean consistency index of random reciprocal matrices."""


@dataclass(frozen=True)
class Weights:
    """Weights of a node's children and what was learnt to obtain them.

    Attributes
    ----------
    values : FloatArray, shape (n_children,) or (n_rows, n_children)
        Non-negative weights [unitless] summing to 1 along the last axis; the 2-D form
        holds one weight vector per row (benefit of the doubt).
    info : dict[str, Any]
        What the method learnt (loadings, explained variance, consistency ratio, scores...),
        documented by each method.
    """

    values: FloatArray
    info: dict[str, Any] = field(default_factory=dict)


Weighter = Callable[..., Weights]

Node = TypeVar("Node", bound=Hashable)

weighters: Registry[Weighter] = Registry(
    "weight",
    Protocol(
        fields=frozenset({"learns", "requires", "per_row", "scores_node"}),
        keywords=("nominal",),
    ),
)
"""The weighting registry: method name → weighter function."""

register_weighter = weighters.register
"""Decorator adding a user weighter (same signature and metadata as the built-ins)."""


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _as_data(X: Any, method: str) -> FloatArray:
    """``X`` as a float64 (n_rows, n_children) matrix without infinite values."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] == 0:
        raise DataError(
            f"weight method {method!r}: X must have shape (n_rows, n_children) with at least "
            f"one child; got shape {X.shape}"
        )
    n_inf = int(np.isinf(X).sum())
    if n_inf:
        raise DataError(
            f"weight method {method!r}: X holds {n_inf} infinite value(s); expected finite "
            "numbers or NaN for missing values"
        )
    return X


def _as_vector(values: Any, n_children: int, method: str, name: str) -> FloatArray:
    """A finite, non-negative vector of length ``n_children`` with a positive sum."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n_children,):
        raise SpecError(
            f"weight method {method!r}: {name} has shape {v.shape}; expected one value per "
            f"child, shape ({n_children},)"
        )
    if not np.all(np.isfinite(v)):
        raise SpecError(f"weight method {method!r}: {name} holds NaN or infinite values: {v}")
    if np.any(v < 0):
        raise SpecError(
            f"weight method {method!r}: {name} must be >= 0; children "
            f"{np.flatnonzero(v < 0).tolist()} are negative ({v[v < 0].tolist()})"
        )
    if v.sum() <= 0:
        raise SpecError(f"weight method {method!r}: {name} are all zero; at least one must be > 0")
    return v


def _complete_rows(X: FloatArray, method: str, min_rows: int) -> FloatArray:
    """The rows of ``X`` without missing values; a :class:`DataError` if too few remain."""
    complete = ~np.isnan(X).any(axis=1)
    Xc = X[complete]
    if Xc.shape[0] < min_rows:
        raise DataError(
            f"weight method {method!r}: only {Xc.shape[0]} of {X.shape[0]} rows have every "
            f"child present; at least {min_rows} complete rows are needed. Impute the "
            "missing values first or use explicit weights."
        )
    return Xc


def _correlation(Xc: FloatArray, method: str) -> FloatArray:
    """Pearson correlation matrix of the columns of a complete matrix."""
    sd = Xc.std(axis=0)
    constant = np.flatnonzero(sd == 0)
    if constant.size:
        raise DataError(
            f"weight method {method!r}: children {constant.tolist()} are constant over the "
            "complete rows, so their correlations are undefined; drop them from the node"
        )
    return np.asarray(np.corrcoef(Xc, rowvar=False), dtype=np.float64).reshape(
        Xc.shape[1], Xc.shape[1]
    )


def _sorted_eigen(R: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix."""
    values, vectors = np.linalg.eigh(R)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


# --------------------------------------------------------------------------------------
# Weights given by the framework or by experts
# --------------------------------------------------------------------------------------


@weighters.register(
    "explicit",
    reference=HANDBOOK,
    learns=False,
    requires=("nominal",),
    parameters=(),
)
def explicit(X: FloatArray, /, *, nominal: FloatArray | None = None) -> Weights:
    """The framework's nominal weights, validated and rescaled to sum 1.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The node's children; only the number of columns is used.
    nominal : FloatArray, shape (n_children,)
        Nominal weights [unitless, any positive scale, e.g. points or percentages], >= 0,
        not all zero.

    Returns
    -------
    Weights
        ``values = nominal / sum(nominal)``; ``info = {"nominal": nominal}``.

    Raises
    ------
    SpecError
        If ``nominal`` is missing, of the wrong length, negative, not finite or all zero.

    Examples
    --------
    >>> explicit(np.zeros((1, 3)), nominal=np.array([2.0, 1.0, 1.0])).values
    array([0.5 , 0.25, 0.25])
    """
    n_children = np.shape(X)[-1]
    if nominal is None:
        raise SpecError(
            "weight method 'explicit' needs nominal weights: give each child a 'weight' in "
            "the framework, or choose the method 'equal'"
        )
    v = _as_vector(nominal, n_children, "explicit", "nominal weights")
    return Weights(values=v / v.sum(), info={"nominal": v})


weighters.register(
    "none",
    reference=HANDBOOK + " The nominal weights as written (the same as 'explicit').",
    learns=False,
    requires=("nominal",),
    parameters=(),
)(explicit)


@weighters.register("equal", reference=HANDBOOK, learns=False, requires=(), parameters=())
def equal(X: FloatArray, /, *, nominal: FloatArray | None = None) -> Weights:
    """Equal weights, 1/n_children each.

    The Handbook's default when there is no sound basis for anything else; note that equal
    weights on correlated children double-count what they share.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The node's children; only the number of columns is used.
    nominal : ignored

    Examples
    --------
    >>> equal(np.zeros((2, 4))).values
    array([0.25, 0.25, 0.25, 0.25])
    """
    n_children = np.shape(X)[-1]
    if n_children == 0:
        raise DataError("weight method 'equal': X has no children")
    return Weights(values=np.full(n_children, 1.0 / n_children), info={})


@weighters.register(
    "budget_allocation",
    reference=HANDBOOK + " (budget allocation process, BAP).",
    learns=False,
    requires=("allocations",),
    parameters=("allocations", "budget"),
)
def budget_allocation(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    allocations: Sequence[Sequence[float]] | FloatArray,
    budget: float | None = None,
) -> Weights:
    r"""Budget allocation: experts share a budget of points among the children.

    Each expert's allocation is turned into shares, and the weights are the mean share over
    experts. Transparent and participatory; the spread between experts (in ``info``) shows
    how much they disagree, and is a natural range for an uncertainty analysis.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The node's children; only the number of columns is used.
    allocations : array-like, shape (n_experts, n_children)
        Points given by each expert to each child [points], >= 0, each expert's total > 0.
    budget : float, optional
        If given, each expert's points must add up to it [points] (e.g. 100).

    Returns
    -------
    Weights
        :math:`w_i = \frac{1}{E} \sum_e a_{ei} / \sum_j a_{ej}`. ``info``: ``expert_weights``
        (n_experts, n_children), ``sd`` (between-expert standard deviation of each weight,
        ddof=1, NaN for a single expert), ``n_experts``.

    Raises
    ------
    SpecError
        If an allocation is negative, all zero, of the wrong length, or off budget.

    Examples
    --------
    >>> budget_allocation(np.zeros((1, 2)), allocations=[[60, 40], [80, 20]]).values
    array([0.7, 0.3])
    """
    n_children = np.shape(X)[-1]
    A = np.asarray(allocations, dtype=np.float64)
    if A.ndim == 1:
        A = A[None, :]
    if A.ndim != 2 or A.shape[1] != n_children or A.shape[0] == 0:
        raise SpecError(
            f"weight method 'budget_allocation': allocations have shape {A.shape}; expected "
            f"one row of {n_children} points per expert, shape (n_experts, {n_children})"
        )
    issues = []
    if not np.all(np.isfinite(A)):
        issues.append("allocations hold NaN or infinite values")
    elif np.any(A < 0):
        issues.append(
            f"experts {np.flatnonzero((A < 0).any(axis=1)).tolist()} give negative points"
        )
    else:
        totals = A.sum(axis=1)
        if np.any(totals <= 0):
            issues.append(f"experts {np.flatnonzero(totals <= 0).tolist()} give no points at all")
        if budget is not None:
            off = np.flatnonzero(~np.isclose(totals, budget, rtol=1e-9, atol=1e-9))
            if off.size:
                issues.append(
                    f"experts {off.tolist()} spend {totals[off].tolist()} points, not the "
                    f"budget of {budget:g}"
                )
    if issues:
        raise SpecError("weight method 'budget_allocation': " + "; ".join(issues))
    shares = A / A.sum(axis=1, keepdims=True)
    sd = shares.std(axis=0, ddof=1) if shares.shape[0] > 1 else np.full(n_children, np.nan)
    values = shares.mean(axis=0)
    return Weights(
        values=values / values.sum(),
        info={"expert_weights": shares, "sd": sd, "n_experts": int(shares.shape[0])},
    )


def _pair_label(labels: Sequence[str] | None, i: int, j: int) -> str:
    if labels is None:
        return f"children {i} vs {j}"
    return f"{labels[i]!r} vs {labels[j]!r}"


@weighters.register(
    "ahp",
    reference=(
        "Saaty, T. L. (1977). A scaling method for priorities in hierarchical structures. "
        "Journal of Mathematical Psychology 15(3), 234-281. "
        "doi:10.1016/0022-2496(77)90033-5; " + HANDBOOK
    ),
    learns=False,
    requires=("pairwise",),
    parameters=("pairwise", "max_consistency_ratio", "reciprocity_rtol", "labels"),
)
def ahp(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    pairwise: Sequence[Sequence[float]] | FloatArray,
    max_consistency_ratio: float = 0.1,
    reciprocity_rtol: float = 0.01,
    labels: Sequence[str] | None = None,
) -> Weights:
    r"""Analytic Hierarchy Process: weights from pairwise importance judgements.

    An expert states, for each pair of children, how many times more important one is
    than the other (Saaty's 1-9 scale). The weights are the principal eigenvector of that
    reciprocal matrix, and the consistency ratio measures how far the judgements are from
    being transitive (a = 2b and b = 2c, but a = 8c?). Judgements with CR > 0.1 are
    rejected, as Saaty recommends, and the message names the comparisons to revisit.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The node's children; only the number of columns is used.
    pairwise : array-like, shape (n_children, n_children)
        Reciprocal judgement matrix [unitless ratio]: ``pairwise[i][j]`` = importance of
        child i relative to child j, > 0, ``pairwise[j][i] = 1 / pairwise[i][j]``, ones on
        the diagonal. At most 10 children (Saaty's random index table; larger sets should
        be split into a hierarchy, as comparisons beyond 7 ± 2 items are unreliable).
    max_consistency_ratio : float, default 0.1
        Largest accepted consistency ratio [unitless].
    reciprocity_rtol : float, default 0.01
        Relative tolerance on :math:`a_{ij} a_{ji} = 1` [unitless], so that 0.33 is accepted
        for 1/3. The matrix is then made exactly reciprocal with
        :math:`a_{ij} \leftarrow \sqrt{a_{ij} / a_{ji}}`.
    labels : sequence of str, optional
        Children's names, used in error messages.

    Returns
    -------
    Weights
        The principal right eigenvector, normalised to sum 1. ``info``: ``lambda_max``,
        ``consistency_index`` CI = (λmax - n)/(n - 1), ``random_index`` RI,
        ``consistency_ratio`` CR = CI/RI (0 for n <= 2), ``pairwise`` (the reciprocal
        matrix used).

    Raises
    ------
    SpecError
        If the matrix is not square of size n_children, not positive, not reciprocal,
        larger than 10, or CR > ``max_consistency_ratio`` (the message gives the CR and the
        three judgements furthest from the weights, with the value consistent with them).

    Notes
    -----
    The judgements most at odds with the weights are those with the largest
    :math:`|\log(a_{ij} w_j / w_i)|`: for consistent judgements :math:`a_{ij} = w_i/w_j`.

    Examples
    --------
    >>> A = [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]
    >>> w = ahp(np.zeros((1, 3)), pairwise=A)
    >>> w.values.round(3), round(w.info["consistency_ratio"], 3)
    (array([0.637, 0.258, 0.105]), 0.033)

    References
    ----------
    .. [1] Saaty, T. L. (1977). A scaling method for priorities in hierarchical
       structures. Journal of Mathematical Psychology 15(3), 234-281.
       doi:10.1016/0022-2496(77)90033-5
    .. [2] Saaty, T. L. (1980). *The Analytic Hierarchy Process*. McGraw-Hill, New York.
    .. [3] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.1.
       doi:10.1787/9789264043466-en
    """
    n_children = np.shape(X)[-1]
    A = np.asarray(pairwise, dtype=np.float64)
    where = "weight method 'ahp': "
    if A.shape != (n_children, n_children):
        raise SpecError(
            f"{where}the pairwise matrix has shape {A.shape}; expected one row and one column "
            f"per child, shape ({n_children}, {n_children})"
        )
    if labels is not None and len(labels) != n_children:
        raise SpecError(f"{where}{len(labels)} labels given for {n_children} children")
    if n_children > max(RANDOM_INDEX):
        raise SpecError(
            f"{where}{n_children} children are compared, but Saaty's random index is tabulated "
            f"up to {max(RANDOM_INDEX)} and pairwise judgements beyond 7 ± 2 items are "
            "unreliable; group the children into sub-nodes and weigh each level separately"
        )
    if not np.all(np.isfinite(A)) or np.any(A <= 0):
        raise SpecError(f"{where}pairwise judgements must be finite and > 0; got\n{A}")
    issues = []
    diagonal = np.flatnonzero(~np.isclose(np.diag(A), 1.0, rtol=reciprocity_rtol))
    if diagonal.size:
        issues.append(f"the diagonal must be 1 (rows {diagonal.tolist()} are not)")
    product = A * A.T
    bad_i, bad_j = np.nonzero(np.triu(~np.isclose(product, 1.0, rtol=reciprocity_rtol), k=1))
    for i, j in zip(bad_i.tolist(), bad_j.tolist(), strict=True):
        issues.append(
            f"{_pair_label(labels, i, j)}: a[{i}][{j}] = {A[i, j]:g} but a[{j}][{i}] = "
            f"{A[j, i]:g}, expected {1 / A[i, j]:g}"
        )
    if issues:
        raise SpecError(f"{where}the pairwise matrix is not reciprocal: " + "; ".join(issues))
    A = np.sqrt(A / A.T)
    eigenvalues, eigenvectors = np.linalg.eig(A)
    k = int(np.argmax(eigenvalues.real))
    lambda_max = float(eigenvalues[k].real)
    vector = np.abs(eigenvectors[:, k].real)
    values = vector / vector.sum()
    if n_children <= 2:
        ci, ri, cr = 0.0, RANDOM_INDEX[max(n_children, 1)], 0.0
    else:
        ci = max(0.0, (lambda_max - n_children) / (n_children - 1))
        ri = RANDOM_INDEX[n_children]
        cr = ci / ri
    if cr > max_consistency_ratio:
        deviation = np.abs(np.log(A * values[None, :] / values[:, None]))
        rows, cols = np.triu_indices(n_children, k=1)
        worst = np.argsort(deviation[rows, cols])[::-1][:3]
        advice = "; ".join(
            f"{_pair_label(labels, int(rows[t]), int(cols[t]))}: judged {A[rows[t], cols[t]]:.3g}, "
            f"consistent with the weights ≈ {values[rows[t]] / values[cols[t]]:.3g}"
            for t in worst
        )
        raise SpecError(
            f"{where}the pairwise judgements are inconsistent: consistency ratio CR = "
            f"{cr:.3f} > {max_consistency_ratio:g} (CI = {ci:.4f}, RI = {ri:.2f}, "
            f"λmax = {lambda_max:.4f} for n = {n_children}). Revisit first: {advice}"
        )
    return Weights(
        values=values,
        info={
            "lambda_max": lambda_max,
            "consistency_index": ci,
            "random_index": ri,
            "consistency_ratio": cr,
            "pairwise": A,
        },
    )


# --------------------------------------------------------------------------------------
# Weights learnt from the data: principal components and factor analysis
# --------------------------------------------------------------------------------------


@weighters.register(
    "pca_loadings",
    reference=(
        "Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. & Saisana, M. "
        "(2022). COINr: an R package for developing composite indicators. Journal of Open "
        "Source Software 7(78), 4567. doi:10.21105/joss.04567; " + HANDBOOK
    ),
    learns=True,
    requires=(),
    parameters=(),
)
def pca_loadings(X: FloatArray, /, *, nominal: FloatArray | None = None) -> Weights:
    r"""Weights proportional to the absolute loadings of the first principal component.

    COINr's "PCA weights": the first principal component is the linear combination of the
    standardised children with the largest variance, so weighting by its coefficients
    passes as much of the children's information as one number can. The price: strongly
    correlated children get the most weight and weakly correlated ones may be neglected.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The node's normalised children over the reference sample; rows with a missing
        child are dropped (at least n_children + 1 complete rows are needed).
    nominal : ignored

    Returns
    -------
    Weights
        :math:`w_i = |v_{1i}| / \sum_j |v_{1j}|` with :math:`v_1` the eigenvector of the
        largest eigenvalue of the children's correlation matrix. ``info``:
        ``eigenvector`` (:math:`v_1`, oriented so that its sum is positive),
        ``loadings`` (:math:`v_1 \sqrt{\lambda_1}`, the children's correlations with the
        component), ``eigenvalues``, ``explained_variance`` (share of each component
        [fraction]), ``n_complete_rows``, ``negative`` (children whose coefficient has the
        opposite sign to the others).

    Warns
    -----
    UserWarning
        If some coefficients are negative: the absolute value then gives weight to a
        child that moves against the component, which usually means a polarity error or a
        child that does not belong in the node.

    Notes
    -----
    COINr (``get_PCA``) uses the signed coefficients of ``prcomp(..., scale = TRUE)``
    (the same :math:`v_1`) as weights and leaves their sign to the user; here they are
    made non-negative and summing to 1, as every securindex weighter's are. The
    correlation matrix (PCA on standardised children) makes the weights independent of the
    children's scales.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0, 1.0], [2.0, 4.1, 1.5], [3.0, 5.9, 3.5], [4.0, 8.2, 3.0]])
    >>> pca_loadings(X).values.round(2)
    array([0.34, 0.34, 0.32])

    References
    ----------
    .. [1] Becker, W. et al. (2022). COINr: an R package for developing composite
       indicators. Journal of Open Source Software 7(78), 4567. doi:10.21105/joss.04567
    .. [2] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.1.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "pca_loadings")
    n_children = X.shape[1]
    if n_children == 1:
        return Weights(values=np.ones(1), info={"n_complete_rows": int(X.shape[0])})
    Xc = _complete_rows(X, "pca_loadings", n_children + 1)
    eigenvalues, eigenvectors = _sorted_eigen(_correlation(Xc, "pca_loadings"))
    v1 = eigenvectors[:, 0]
    v1 = v1 if v1.sum() >= 0 else -v1
    negative = np.flatnonzero(v1 < -1e-10)  # below rounding of a unit eigenvector
    if negative.size:
        warnings.warn(
            f"weight method 'pca_loadings': children {negative.tolist()} load negatively on "
            "the first principal component while the others load positively; their weight is "
            "the absolute value of the loading. Check their polarity.",
            UserWarning,
            stacklevel=2,
        )
    values = np.abs(v1) / np.abs(v1).sum()
    clipped = np.clip(eigenvalues, 0.0, None)
    return Weights(
        values=values,
        info={
            "eigenvector": v1,
            "loadings": v1 * np.sqrt(clipped[0]),
            "eigenvalues": eigenvalues,
            "explained_variance": clipped / clipped.sum(),
            "n_complete_rows": int(Xc.shape[0]),
            "negative": negative,
        },
    )


def varimax(
    loadings: FloatArray, *, normalise: bool = True, max_sweeps: int = 500, tol: float = 1e-10
) -> tuple[FloatArray, FloatArray]:
    r"""Varimax rotation of a loading matrix.

    Finds the orthogonal rotation that maximises the variance of the squared loadings
    within each factor, so that each child loads highly on as few factors as possible
    ("simple structure").

    Parameters
    ----------
    loadings : FloatArray, shape (n_children, n_factors)
        Unrotated loadings [correlation].
    normalise : bool, default True
        Kaiser normalisation: rotate the rows scaled to unit communality, then scale back
        (the default of SPSS and of R's ``varimax``).
    max_sweeps : int, default 500
        Maximum number of sweeps over all pairs of factors.
    tol : float, default 1e-10
        Stop when no pair of factors is rotated by more than this angle [rad].

    Returns
    -------
    rotated : FloatArray, shape (n_children, n_factors)
        Rotated loadings [correlation].
    rotation : FloatArray, shape (n_factors, n_factors)
        The orthogonal matrix T with ``rotated = loadings @ T``.

    Notes
    -----
    Kaiser's (1958) pairwise algorithm: each pair of factor columns (x, y) is rotated by
    the angle that maximises the criterion for that pair, in closed form,

    .. math::

        \tan 4\varphi = \frac{D - 2AB/p}{C - (A^2 - B^2)/p}, \quad
        u = x^2 - y^2,\; v = 2xy,\; A = \textstyle\sum u,\; B = \sum v,\;
        C = \sum (u^2 - v^2),\; D = 2 \sum uv,

    sweeping over the pairs until no angle exceeds ``tol``. Every step increases the
    varimax criterion :math:`\sum_f [\sum_i \lambda_{if}^4 - (\sum_i \lambda_{if}^2)^2/p]`,
    so unlike the faster SVD iteration it cannot cycle between two rotations.

    Examples
    --------
    >>> rotated, _ = varimax(np.array([[0.6, 0.6], [0.6, 0.6], [0.6, -0.6], [0.6, -0.6]]))
    >>> np.abs(rotated).round(4)
    array([[0.8485, 0.    ],
           [0.8485, 0.    ],
           [0.    , 0.8485],
           [0.    , 0.8485]])

    References
    ----------
    .. [1] Kaiser, H. F. (1958). The varimax criterion for analytic rotation in factor
       analysis. Psychometrika 23(3), 187-200. doi:10.1007/BF02289233
    """
    L = np.asarray(loadings, dtype=np.float64)
    n_rows, n_factors = L.shape
    if normalise:
        communality = np.sqrt(np.sum(L**2, axis=1))
        scale = np.where(communality > 0, communality, 1.0)
    else:
        scale = np.ones(n_rows)
    B = L / scale[:, None]
    rotation = np.eye(n_factors)
    pairs = [(a, b) for a in range(n_factors) for b in range(a + 1, n_factors)]
    for _ in range(max_sweeps):  # sweeps over factor pairs, never over rows
        largest = 0.0
        for a, b in pairs:
            x, y = B[:, a], B[:, b]
            u, v = x * x - y * y, 2.0 * x * y
            sum_u, sum_v = u.sum(), v.sum()
            numerator = 2.0 * np.sum(u * v) - 2.0 * sum_u * sum_v / n_rows
            denominator = np.sum(u * u - v * v) - (sum_u**2 - sum_v**2) / n_rows
            angle = float(np.arctan2(numerator, denominator)) / 4.0
            largest = max(largest, abs(angle))
            if abs(angle) > tol:
                c, s = np.cos(angle), np.sin(angle)
                plane = np.array([[c, -s], [s, c]])
                B[:, [a, b]] = B[:, [a, b]] @ plane
                rotation[:, [a, b]] = rotation[:, [a, b]] @ plane
        if largest <= tol:
            break
    return B * scale[:, None], rotation


def _n_factors(
    eigenvalues: FloatArray,
    min_eigenvalue: float,
    min_variance_share: float | None,
    min_cumulative: float,
) -> int:
    share = eigenvalues / eigenvalues.sum()
    by_eigenvalue = int(np.sum(eigenvalues > min_eigenvalue))
    by_share = 0 if min_variance_share is None else int(np.sum(share > min_variance_share))
    by_cumulative = int(np.searchsorted(np.cumsum(share), min_cumulative - 1e-12) + 1)
    return max(1, min(len(eigenvalues), max(by_eigenvalue, by_share, by_cumulative)))


@weighters.register(
    "pca_rotated",
    reference=HANDBOOK + " (principal components / factor analysis, TAI example).",
    learns=True,
    requires=(),
    parameters=("n_factors", "min_eigenvalue", "min_variance_share", "min_cumulative"),
)
def pca_rotated(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    n_factors: int | None = None,
    min_eigenvalue: float = 1.0,
    min_variance_share: float | None = None,
    min_cumulative: float = 0.60,
) -> Weights:
    r"""The Handbook's factor-analysis weights: rotated principal components.

    Groups the children into the factors they load on (after a varimax rotation), weights
    each child within its factor by its squared loading, and each factor by its share of
    the explained variance. The weights correct for overlapping information between
    correlated children rather than measure importance.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The node's normalised children over the reference sample; rows with a missing
        child are dropped (at least n_children + 1 complete rows are needed).
    nominal : ignored
    n_factors : int, optional
        Number of factors to keep. By default, the Kaiser rule (eigenvalues above
        ``min_eigenvalue``), extended with further factors until they explain
        ``min_cumulative`` of the variance together, and, if ``min_variance_share`` is
        given, with every factor explaining more than that share on its own.
    min_eigenvalue : float, default 1.0
        Kaiser criterion [variance of one standardised child].
    min_variance_share : float, optional
        Also keep every factor explaining more than this share of the total variance
        [fraction]. The Handbook lists "more than 10 %" among its criteria and keeps four
        factors for the Technology Achievement Index although the 3rd and 4th eigenvalues
        are 0.98 and 0.89 (12 % and 11 % of the variance): ``min_variance_share=0.10`` (or
        ``n_factors=4``) reproduces that choice; the default (None) keeps two.
    min_cumulative : float, default 0.60
        Share of the total variance the retained factors must explain together [fraction].

    Returns
    -------
    Weights
        ``info``: ``eigenvalues``, ``explained_variance`` (per component [fraction]),
        ``n_factors``, ``loadings`` (unrotated, n_children × n_factors), ``rotated_loadings``,
        ``rotation``, ``squared_loadings_scaled`` (each factor's squared loadings divided by
        their sum), ``factor`` (the factor each child is assigned to), ``factor_weights``
        (each factor's share of the rotated explained variance), ``n_complete_rows``.

    Notes
    -----
    Following the Handbook (Part II, section 6.1): (1) correlation matrix of the children
    and its eigen-decomposition; (2) loadings :math:`L = V_k \Lambda_k^{1/2}` of the k
    retained components; (3) varimax rotation :math:`\tilde L = L T`; (4) squared rotated
    loadings scaled to unity sum within each factor,
    :math:`s_{if} = \tilde L_{if}^2 / \sum_j \tilde L_{jf}^2`; (5) each child i is assigned
    to the factor :math:`f(i)` where its squared loading :math:`\tilde L_{if}^2` is largest
    ("indicators with the highest factor loadings are grouped"); (6) each factor is weighted
    by its share of the explained variance :math:`e_f = \sum_j \tilde L_{jf}^2 / \sum_{g,j}
    \tilde L_{jg}^2`; (7) :math:`w_i \propto e_{f(i)} s_{i f(i)}`, normalised to sum 1.
    On the TAI data of the Handbook (23 countries, 8 indicators) with four factors this
    gives the published explained variances (41.9, 21.8, 12.3, 11.1 %) and Patents'
    rotated loadings (0.07, 0.97, 0.06, 0.06; scaled squared loading 0.67).

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, Part II,
       section 6.1 (Tables 16-17). doi:10.1787/9789264043466-en
    .. [2] Kaiser, H. F. (1958). The varimax criterion for analytic rotation in factor
       analysis. Psychometrika 23(3), 187-200. doi:10.1007/BF02289233
    """
    X = _as_data(X, "pca_rotated")
    n_children = X.shape[1]
    if n_children == 1:
        return Weights(values=np.ones(1), info={"n_factors": 1})
    Xc = _complete_rows(X, "pca_rotated", n_children + 1)
    eigenvalues, eigenvectors = _sorted_eigen(_correlation(Xc, "pca_rotated"))
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    if n_factors is None:
        k = _n_factors(eigenvalues, min_eigenvalue, min_variance_share, min_cumulative)
    else:
        k = int(n_factors)
        if not 1 <= k <= n_children:
            raise SpecError(
                f"weight method 'pca_rotated': n_factors must be between 1 and the number of "
                f"children ({n_children}); got {n_factors}"
            )
    loadings = eigenvectors[:, :k] * np.sqrt(eigenvalues[:k])
    rotated, rotation = varimax(loadings)
    rotated = rotated * np.where(rotated.sum(axis=0) < 0, -1.0, 1.0)
    explained = np.sum(rotated**2, axis=0)
    order = np.argsort(explained)[::-1]
    rotated, rotation, explained = rotated[:, order], rotation[:, order], explained[order]
    scaled = rotated**2 / explained
    factor = np.argmax(rotated**2, axis=1)
    factor_weights = explained / explained.sum()
    raw = factor_weights[factor] * scaled[np.arange(n_children), factor]
    return Weights(
        values=raw / raw.sum(),
        info={
            "eigenvalues": eigenvalues,
            "explained_variance": eigenvalues / eigenvalues.sum(),
            "n_factors": k,
            "loadings": loadings,
            "rotated_loadings": rotated,
            "rotation": rotation,
            "squared_loadings_scaled": scaled,
            "factor": factor,
            "factor_weights": factor_weights,
            "n_complete_rows": int(Xc.shape[0]),
        },
    )


# --------------------------------------------------------------------------------------
# Benefit of the doubt (data envelopment analysis)
# --------------------------------------------------------------------------------------


def _share_bounds(bounds: Any, n_children: int) -> tuple[FloatArray, FloatArray]:
    where = "weight method 'benefit_of_doubt': "
    if bounds is None or (n_children == 1 and np.asarray(bounds).size == 2):
        # no bounds; or one pair for all children at a node with a single child, whose
        # share is 1 whatever the bounds (a pipeline-wide setting meeting a one-child node)
        return np.zeros(n_children), np.ones(n_children)
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape == (2,):
        b = np.broadcast_to(b, (n_children, 2))
    if b.shape != (n_children, 2):
        raise SpecError(
            f"{where}'bounds' must be one (lower, upper) pair of shares for all children or "
            f"one pair per child, shape ({n_children}, 2); got shape {b.shape}"
        )
    lower, upper = b[:, 0].copy(), b[:, 1].copy()
    if not (np.all(np.isfinite(b)) and np.all(lower >= 0) and np.all(upper <= 1)):
        raise SpecError(f"{where}share bounds must lie in [0, 1]; got {b.tolist()}")
    if np.any(lower > upper):
        raise SpecError(
            f"{where}lower share bound above upper bound for children "
            f"{np.flatnonzero(lower > upper).tolist()}"
        )
    if lower.sum() > 1 + 1e-12 or upper.sum() < 1 - 1e-12:
        raise SpecError(
            f"{where}share bounds cannot be met: the lower bounds add up to {lower.sum():g} "
            f"and the upper bounds to {upper.sum():g}; expected sum(lower) <= 1 <= sum(upper)"
        )
    return lower, upper


@weighters.register(
    "benefit_of_doubt",
    reference=(
        "Cherchye, L., Moesen, W., Rogge, N. & Van Puyenbroeck, T. (2007). An introduction "
        "to 'benefit of the doubt' composite indicators. Social Indicators Research 82(1), "
        "111-145. doi:10.1007/s11205-006-9029-7; " + HANDBOOK
    ),
    learns=True,
    requires=(),
    per_row=True,
    scores_node=True,
    parameters=("bounds", "groups"),
)
def benefit_of_doubt(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    bounds: tuple[float, float] | Sequence[tuple[float, float]] | FloatArray | None = None,
    groups: IntArray | None = None,
) -> Weights:
    r"""Benefit of the doubt: each row's most favourable weights (data envelopment analysis).

    Each (entity, period) is scored with the weights that make it look best, under the
    constraint that no row of the reference set scores above 1 with those weights. A row
    scoring 1 is on the best-practice frontier. Weights are endogenous and per row, which
    answers "but our priorities differ" objections, at the cost of comparability of the
    weights across rows.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        Normalised children [score >= 0, higher = better]; NaN = missing (a row is scored on
        its present children, against the rows where those children are present).
    nominal : ignored
    bounds : (lower, upper) or sequence of (lower, upper), optional
        Bounds on each child's share of the row's score [fraction]:
        :math:`L_i \le w_i x_{ij} / \sum_l w_l x_{lj} \le U_i` (Cherchye et al. 2007's
        "pie share" restrictions), one pair for all children or one per child. Without
        bounds a row may put all its weight on its best child. One pair given to a node
        with a single child does not apply (its share is 1), so a pipeline-wide pair can
        meet one-child nodes.
    groups : IntArray, shape (n_rows,), optional
        Period code per row: each row is compared with the rows of its own period only
        (a frontier per period). Without it, all rows form one pooled frontier.

    Returns
    -------
    Weights
        ``values`` of shape (n_rows, n_children): each row's multipliers rescaled to sum 1
        (0 for missing children; equal shares for a row without any child). ``info``:
        ``scores`` (the BoD composite, the LP optimum, in [0, 1] [fraction of the
        frontier]), ``multipliers`` (the raw LP weights w), ``shares`` (each child's share
        :math:`w_i x_{ij} / \text{score}_j` of the score), ``degenerate`` (rows whose
        optimal weights are all zero, e.g. all children 0, given equal weights).

    Raises
    ------
    DataError
        If X holds negative values, or a linear programme fails.
    SpecError
        If the bounds are invalid or cannot be met.

    Notes
    -----
    For each row j, with :math:`P` its present children:

    .. math::

        \text{score}_j = \max_{w \ge 0} \sum_{i \in P} w_i x_{ij}
        \quad \text{s.t.} \quad \sum_{i \in P} w_i x_{ik} \le 1 \;\; \forall k \in
        \text{reference set}, \quad L_i \sum_l w_l x_{lj} \le w_i x_{ij} \le U_i \sum_l w_l
        x_{lj}.

    This is one linear programme per row, solved with ``scipy.optimize.linprog`` (HiGHS):
    the one documented exception to vectorisation in the method registries (a few
    milliseconds per row). The optimal weights need not be unique; the score is. The
    composite of a row is ``info["scores"]``; aggregating with the arithmetic mean and the
    returned (normalised) weights gives ``score / sum(multipliers)`` instead.

    Examples
    --------
    >>> X = np.array([[1.0, 0.2], [0.2, 1.0], [0.5, 0.5]])
    >>> benefit_of_doubt(X).info["scores"].round(4)
    array([1.    , 1.    , 0.8333])

    References
    ----------
    .. [1] Cherchye, L., Moesen, W., Rogge, N. & Van Puyenbroeck, T. (2007). An
       introduction to 'benefit of the doubt' composite indicators. Social Indicators
       Research 82(1), 111-145. doi:10.1007/s11205-006-9029-7
    .. [2] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.1.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "benefit_of_doubt")
    n_rows, n_children = X.shape
    negative = np.argwhere(X < 0)
    if negative.size:
        raise DataError(
            f"weight method 'benefit_of_doubt' needs values >= 0 (higher = better); "
            f"{negative.shape[0]} value(s) are negative (smallest {float(np.nanmin(X)):g}). "
            "Normalise with min-max first.",
            rows=[int(r) for r in negative[:, 0]],
        )
    lower, upper = _share_bounds(bounds, n_children)
    if groups is None:
        codes = np.zeros(n_rows, dtype=np.int64)
    else:
        codes = np.asarray(groups)
        if codes.shape != (n_rows,) or not np.issubdtype(codes.dtype, np.integer):
            raise SpecError(
                "weight method 'benefit_of_doubt': 'groups' must be an integer array of one "
                f"period code per row, shape ({n_rows},); got shape {codes.shape}"
            )
    from scipy.optimize import linprog  # imported here: it is 0.3 s of import time

    present = ~np.isnan(X)
    values = np.zeros((n_rows, n_children))
    multipliers = np.full((n_rows, n_children), np.nan)
    scores = np.full(n_rows, np.nan)
    degenerate: list[int] = []
    for j in range(n_rows):  # one LP per row: the documented exception
        cols = np.flatnonzero(present[j])
        if cols.size == 0:
            values[j] = 1.0 / n_children
            continue
        reference = (codes == codes[j]) & present[:, cols].all(axis=1)
        x_j = X[j, cols]
        A_ub = [X[reference][:, cols]]
        b_ub = [np.ones(int(reference.sum()))]
        lo, hi = lower[cols], upper[cols]
        if np.any(lo > 0):
            A_ub.append(-(np.diag(x_j) - lo[:, None] * x_j[None, :]))
            b_ub.append(np.zeros(cols.size))
        if np.any(hi < 1):
            A_ub.append(np.diag(x_j) - hi[:, None] * x_j[None, :])
            b_ub.append(np.zeros(cols.size))
        result = linprog(
            -x_j,
            A_ub=np.vstack(A_ub),
            b_ub=np.concatenate(b_ub),
            bounds=(0, None),
            method="highs",
        )
        if result.status != 0:
            raise DataError(
                f"weight method 'benefit_of_doubt': the linear programme of row {j} failed "
                f"({result.message})",
                rows=[j],
            )
        w = np.asarray(result.x, dtype=np.float64)
        scores[j] = float(-result.fun)
        multipliers[j, cols] = w
        if w.sum() > 1e-12:
            values[j, cols] = w / w.sum()
        else:
            degenerate.append(j)
            values[j, cols] = 1.0 / cols.size
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(
            scores[:, None] > 0, multipliers * np.where(present, X, 0) / scores[:, None], np.nan
        )
    return Weights(
        values=values,
        info={
            "scores": scores,
            "multipliers": multipliers,
            "shares": shares,
            "degenerate": degenerate,
        },
    )


# --------------------------------------------------------------------------------------
# Diagnostics: weights through the tree and variance shares
# --------------------------------------------------------------------------------------


def overall_weights(
    parents: Mapping[Node, Sequence[Node]],
    weights: Mapping[Node, Any],
    *,
    include_inner: bool = False,
) -> dict[Node, float]:
    """Each indicator's weight in the index: the product of the weights on its path.

    In a tree, the nominal weight of an indicator says little about its weight in the
    index: that also depends on the weights of the dimensions above it and on how many
    siblings it has. This is COINr's "effective weight" (``get_eff_weights``): the weight
    the indicator would have in a single weighted arithmetic mean of all indicators. In a
    DAG (an indicator or node under several parents) the weights of its paths add up.
    Below a formula node (weights all NaN) the weights are NaN: a formula has no fixed
    shares.

    Parameters
    ----------
    parents : mapping node → sequence of children
        The tree: each inner node and its children, in order. Leaves are the children
        that are not keys (or keys with no children).
    weights : mapping node → FloatArray, shape (n_children,)
        Weights of each inner node's children, in the same order [unitless, >= 0]; they are
        renormalised to sum 1 per node.
    include_inner : bool, default False
        Also return the overall weight of each inner node (the root has weight 1).

    Returns
    -------
    dict
        Leaf (and, with ``include_inner``, inner node) → overall weight [fraction]; the
        leaves' weights sum to 1.

    Raises
    ------
    SpecError
        If the structure has no single root, has a cycle, or a node's weights do not match
        its children.

    Examples
    --------
    >>> tree = {"index": ["crime", "social"], "crime": ["homicide", "robbery"]}
    >>> overall_weights(tree, {"index": [0.6, 0.4], "crime": [1, 1]})
    {'homicide': 0.3, 'robbery': 0.3, 'social': 0.4}
    >>> dag = {"index": ["a", "b"], "a": ["x", "y"], "b": ["y"]}
    >>> overall_weights(dag, {"index": [0.5, 0.5], "a": [1, 1], "b": [1]})
    {'x': 0.25, 'y': 0.75}
    """
    children_of = {node: list(children) for node, children in parents.items()}
    has_parent: set[Node] = {c for children in children_of.values() for c in children}
    issues: list[str] = []
    roots = [node for node in children_of if node not in has_parent]
    if len(roots) != 1:
        issues.append(
            "the structure must have exactly one root (a node that is nobody's child); "
            f"found {len(roots)}: {roots!r}" + ("; a cycle has no root" if not roots else "")
        )
    normalised: dict[Node, FloatArray] = {}
    for node, children in children_of.items():
        if not children:
            continue
        if node not in weights:
            issues.append(f"no weights given for the children of {node!r}")
            continue
        w = np.asarray(weights[node], dtype=np.float64)
        if w.shape != (len(children),):
            issues.append(f"{node!r} has {len(children)} children but weights of shape {w.shape}")
        elif np.isnan(w).all():  # a formula node: its children's shares are undefined
            normalised[node] = w
        elif not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            issues.append(
                f"the weights of {node!r} must be finite, >= 0 and not all zero; got {w.tolist()}"
            )
        else:
            normalised[node] = w / w.sum()
    if issues:
        raise SpecError("overall_weights: " + "; ".join(issues))
    order = _topological(children_of, roots[0])
    share: dict[Node, float] = dict.fromkeys(order, 0.0)
    share[roots[0]] = 1.0
    for node in order:  # parents before children: a child under several parents sums
        for child, part in zip(children_of.get(node, []), normalised.get(node, []), strict=False):
            share[child] = share[child] + share[node] * float(part)
    unreached = [node for node in children_of if node not in share]
    if unreached:
        raise SpecError(
            f"overall_weights: nodes {unreached!r} cannot be reached from the root "
            f"{roots[0]!r} (a cycle?)"
        )
    result: dict[Node, float] = {}
    for node in _preorder(children_of, roots[0]):
        if children_of.get(node):
            if include_inner:
                result[node] = share[node]
        else:
            result[node] = share[node]
    return result


def _preorder(children_of: Mapping[Node, Sequence[Node]], root: Node) -> list[Node]:
    """Nodes in depth-first order of first visit, children in their listed order."""
    seen: set[Node] = set()
    out: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        out.append(node)
        stack.extend(reversed(list(children_of.get(node, []))))
    return out


def _topological(children_of: Mapping[Node, Sequence[Node]], root: Node) -> list[Node]:
    """Every node reachable from ``root``, each after all of its parents (depth-first
    order, reversed post-order); a :class:`SpecError` on a cycle."""
    state: dict[Node, int] = {}
    post: list[Node] = []
    stack: list[tuple[Node, int]] = [(root, 0)]
    state[root] = 1
    while stack:
        node, k = stack.pop()
        children = children_of.get(node, [])
        if k < len(children):
            stack.append((node, k + 1))
            child = children[k]
            if state.get(child) == 1:
                raise SpecError(f"overall_weights: the structure has a cycle through {child!r}")
            if child not in state:
                state[child] = 1
                stack.append((child, 0))
        else:
            state[node] = 2
            post.append(node)
    return post[::-1]


def variance_shares(X_children: FloatArray, w: FloatArray) -> FloatArray:
    r"""Each child's share of the variance of the weighted sum of the children.

    Nominal weights are not the children's influence on the aggregate: a child with a
    large spread or highly correlated with its siblings drives the aggregate more than its
    weight says. This decomposition measures that influence.

    Parameters
    ----------
    X_children : FloatArray, shape (..., n_rows, n_children)
        The children that are aggregated [score]; rows with a missing child are left out.
    w : FloatArray, shape (n_children,) or (..., n_children)
        Weights [unitless, >= 0], renormalised to sum 1; leading axes match those of
        ``X_children`` (one vector per replicate).

    Returns
    -------
    FloatArray, shape (..., n_children)
        :math:`\mathrm{cov}(w_i x_i, y) / \mathrm{var}(y)` with :math:`y = \sum_j w_j x_j`
        [fraction]; the shares sum to 1 and can be negative (a child negatively correlated
        with the aggregate). NaN where ``y`` has no variance.

    Raises
    ------
    DataError
        If fewer than 2 complete rows remain.

    Notes
    -----
    Because :math:`\mathrm{var}(y) = \sum_i \mathrm{cov}(w_i x_i, y)` the shares add up to
    one. This is the linear (covariance) decomposition; Paruolo et al. (2013) measure
    importance instead with the correlation ratio :math:`S_i = V[E(y|x_i)]/V(y)`, which
    also captures non-linear dependence but does not sum to one.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    >>> variance_shares(X, np.array([0.5, 0.5])).round(4)
    array([0.3333, 0.6667])

    References
    ----------
    .. [1] Paruolo, P., Saisana, M. & Saltelli, A. (2013). Ratings and rankings: voodoo or
       science? Journal of the Royal Statistical Society A 176(3), 609-634.
       doi:10.1111/j.1467-985X.2012.01059.x
    """
    X = np.asarray(X_children, dtype=np.float64)
    if X.ndim < 2:
        raise DataError(
            f"variance_shares: X_children must have shape (..., n_rows, n_children); got {X.shape}"
        )
    weights = np.asarray(w, dtype=np.float64)
    if weights.shape[-1:] != X.shape[-1:] or np.any(weights < 0):
        raise SpecError(
            f"variance_shares: weights of shape {weights.shape} must be >= 0 with one value "
            f"per child ({X.shape[-1]})"
        )
    weights = weights / weights.sum(axis=-1, keepdims=True)
    complete = ~np.isnan(X).any(axis=-1, keepdims=True)
    count = complete.sum(axis=-2)
    if np.any(count < 2):
        raise DataError(
            f"variance_shares: only {int(count.min())} complete row(s); at least 2 are needed"
        )
    parts = np.where(complete, X, 0.0) * weights[..., None, :]
    mean = parts.sum(axis=-2, keepdims=True) / count[..., None, :]
    centred = np.where(complete, parts - mean, 0.0)
    total = centred.sum(axis=-1, keepdims=True)
    covariance = np.sum(centred * total, axis=-2)
    variance = covariance.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(variance > 0, covariance / variance, np.nan)


# Frontier methods of their own module register into the same table (imported last).
from securindex.methods import frontier as _frontier  # noqa: E402, F401
