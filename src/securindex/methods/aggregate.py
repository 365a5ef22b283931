"""Aggregation methods: combine the children of one index node into one score per row.

Every aggregator has the signature ``f(X, w, /, **params) -> FloatArray``:

* ``X`` has shape ``(..., n_rows, n_children)``. Rows are (entity, period) pairs, columns
  the node's children (normalised indicators or child-node scores), ``NaN`` marks a missing
  value. Leading axes are Monte-Carlo replicates: the uncertainty analysis stacks thousands
  of replicates and calls an aggregator once per node, so every method broadcasts over them
  and never loops over rows or replicates (Copeland chunks its pairwise comparisons, see
  :func:`copeland`).
* ``w`` holds the children's weights and broadcasts against ``X`` by numpy's rules:
  ``(n_children,)`` for one weight vector, ``(n_replicates, 1, n_children)`` for one vector
  per replicate, ``(..., n_rows, n_children)`` for per-row weights (benefit of the doubt).
  ``None`` means equal weights. Weights need not sum to 1.
* Missing children: the weights of the children present in a row are renormalised to sum 1,
  so a row's score uses its present children only. Coverage rules (how many children must
  be present) are the pipeline's job and run before the aggregator; a row with no present
  child (or only children of weight 0) gives ``NaN``.
* The result has shape ``X.shape[:-1]``; the inputs are never modified.

What a pipeline must know before running a method is recorded in the registry entry's
``extra``: ``compensatory`` (can a deficit in one child be offset by a surplus in another?),
``compensability`` (``"full"``, ``"partial"`` or ``"none"``), ``requires_positive`` (``True``,
``False`` or a function of the parameters; resolve it with :func:`requires_positive`),
``preserves_range`` (the score lies within the range of the row's children),
``idempotent`` (children all equal to c give c), and ``parameters`` (the keyword
parameters the method accepts; the pipeline passes ``groups``, the period code of each
row, only to the methods that list it).

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part II, section 6.2. OECD Publishing. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.methods._registry import Protocol, Registry
from securindex.methods._types import BoolArray, FloatArray, IntArray

__all__ = [
    "Aggregator",
    "aggregators",
    "arithmetic",
    "copeland",
    "generalised",
    "geometric",
    "harmonic",
    "mazziotta_pareto",
    "median",
    "minimum",
    "register_aggregator",
    "requires_positive",
    "single",
]

Aggregator = Callable[..., FloatArray]


def _infer_rowwise(func: Callable[..., Any]) -> dict[str, Any]:
    """An aggregator combines each row on its own unless it takes ``groups`` (the rows it
    compares with each other, e.g. within a period)."""
    return {"rowwise": "groups" not in inspect.signature(func).parameters}


aggregators: Registry[Aggregator] = Registry(
    "aggregate",
    Protocol(
        fields=frozenset(
            {
                "rowwise",
                "requires_positive",
                "preserves_range",
                "idempotent",
                "compensatory",
                "compensability",
                "output_range",
                "max_children",
            }
        ),
        positional=2,
        infer=_infer_rowwise,
    ),
)
"""The aggregation registry: method name → aggregator function."""

register_aggregator = aggregators.register
"""Decorator adding a user aggregator (same signature and metadata as the built-ins)."""

HANDBOOK = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2. "
    "doi:10.1787/9789264043466-en"
)

# Relative tolerance under which a weighted sum of signs counts as a tie (Copeland) or a
# cumulative weight counts as exactly one half (median): weights are floats that should
# sum to 1, and 0.1 + 0.2 - 0.3 is not 0 in binary.
_TIE_RTOL = 1e-12

# Below this |p| the power mean is computed as its limit, the geometric mean: the
# difference is O(|p| var(log x)), far below float64 resolution of the scores.
_GEOMETRIC_P = 1e-12


# --------------------------------------------------------------------------------------
# Validation and shared helpers
# --------------------------------------------------------------------------------------


def _as_data(X: Any, method: str, *, min_ndim: int = 1) -> FloatArray:
    """``X`` as float64, checked for shape and infinite values (NaN = missing is allowed)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim < min_ndim or X.shape[-1] == 0:
        expected = "(..., n_rows, n_children)" if min_ndim >= 2 else "(..., n_children)"
        raise DataError(
            f"aggregate method {method!r}: X must have shape {expected} with at least one "
            f"child; got shape {X.shape}"
        )
    n_inf = int(np.isinf(X).sum())
    if n_inf:
        raise DataError(
            f"aggregate method {method!r}: X holds {n_inf} infinite value(s); expected finite "
            "numbers or NaN for missing values. Check the normalisation step (a division by "
            "zero in a formula or a zero range in min-max normalisation gives inf)."
        )
    return X


def _as_weights(w: Any, X: FloatArray, method: str) -> FloatArray:
    """``w`` as float64, checked to be finite, non-negative and broadcastable to ``X``."""
    n_children = X.shape[-1]
    if w is None:
        return np.full(n_children, 1.0 / n_children)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 0 or w.shape[-1] != n_children:
        raise SpecError(
            f"aggregate method {method!r}: weights have shape {w.shape} but X has "
            f"{n_children} children (shape {X.shape}); expected the last axis of the "
            f"weights to have length {n_children}"
        )
    try:
        shape = np.broadcast_shapes(w.shape, X.shape)
    except ValueError:
        shape = None
    if shape != X.shape:
        raise SpecError(
            f"aggregate method {method!r}: weights of shape {w.shape} do not broadcast to X "
            f"of shape {X.shape}. Use (n_children,) for one weight vector, "
            "(n_replicates, 1, n_children) for one vector per replicate (w[:, None, :]), or "
            "(..., n_rows, n_children) for per-row weights."
        )
    if not np.all(np.isfinite(w)):
        raise SpecError(
            f"aggregate method {method!r}: weights must be finite; found "
            f"{int((~np.isfinite(w)).sum())} NaN or infinite weight(s)"
        )
    if np.any(w < 0):
        raise SpecError(
            f"aggregate method {method!r}: weights must be >= 0; found "
            f"{int((w < 0).sum())} negative weight(s) (smallest {float(w.min()):g}). A child "
            "with a negative polarity is reversed at normalisation, not with a negative weight."
        )
    return w


def _row_weights(X: FloatArray, w: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Weights renormalised over each row's present children, and the rows left empty.

    Returns ``(wn, empty)``: ``wn`` has ``X``'s shape, is 0 for missing children and sums to
    1 along the last axis in every non-empty row; ``empty`` (shape ``X.shape[:-1]``) marks
    rows without any present child of positive weight.
    """
    present = ~np.isnan(X)
    wp = np.where(present, w, 0.0)
    total = wp.sum(axis=-1, keepdims=True)
    empty = total[..., 0] <= 0.0
    safe_total = np.where(total > 0.0, total, 1.0)
    return wp / safe_total, empty


def _check_domain(
    X: FloatArray, active: BoolArray, method: str, *, strict: bool, hint: str
) -> None:
    """Raise :class:`DataError` when an active value is <= 0 (``strict``) or < 0."""
    bad = active & ~(X > 0.0) if strict else active & ~(X >= 0.0)
    n_bad = int(bad.sum())
    if n_bad:
        need = "strictly positive (> 0)" if strict else "non-negative (>= 0)"
        raise DataError(
            f"aggregate method {method!r} needs {need} values; {n_bad} value(s) among the "
            f"children with positive weight are not (smallest {float(X[bad].min()):g}). "
            f"{hint}"
        )


_POSITIVE_HINT = (
    "Use the 'arithmetic' method; or, for an index of your own, rescale the children to a "
    "positive range (e.g. min-max to [1, 100] instead of [0, 100]: this changes every "
    "score, so not when reproducing a published index, whose natural zeros allow_zero "
    "handles)."
)


def requires_positive(method: str, params: Mapping[str, Any] | None = None) -> bool:
    """Whether aggregator ``method`` with ``params`` needs strictly positive children.

    A pipeline calls this when a framework is loaded, to check that the node's
    normalisation cannot produce zeros or negative values (min-max to [0, 100] can) before
    any data are aggregated.

    Parameters
    ----------
    method : str
        A registered aggregation method name.
    params : mapping, optional
        The method's parameters as written in the framework (e.g. ``{"p": -1}``).

    Examples
    --------
    >>> requires_positive("geometric"), requires_positive("generalised", {"p": 2})
    (True, False)
    """
    return aggregators.get(method).flag("requires_positive", params)


# --------------------------------------------------------------------------------------
# Compensatory means
# --------------------------------------------------------------------------------------


@aggregators.register(
    "arithmetic",
    rowwise=True,
    reference=HANDBOOK,
    compensatory=True,
    compensability="full",
    requires_positive=False,
    preserves_range=True,
    idempotent=True,
    parameters=(),
)
def arithmetic(X: FloatArray, w: FloatArray | None, /) -> FloatArray:
    r"""Weighted arithmetic mean of the present children.

    The linear aggregation of the Handbook: a deficit in one child is fully offset by an
    equal weighted surplus in another (constant marginal rate of substitution), which
    suits children that are substitutable.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score, any common scale]; NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = equal weights.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        :math:`\sum_i \tilde w_i x_i` with :math:`\tilde w_i = w_i / \sum_{j \in P} w_j`
        over the present children :math:`P` [same scale as X]; NaN where no child is present.

    Raises
    ------
    DataError
        If X holds infinite values.
    SpecError
        If the weights are negative, not finite or do not broadcast to X.

    Examples
    --------
    >>> arithmetic(np.array([[10.0, 20.0, np.nan]]), np.array([0.5, 0.25, 0.25]))
    array([13.33333333])

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "arithmetic")
    w = _as_weights(w, X, "arithmetic")
    wn, empty = _row_weights(X, w)
    total = np.sum(wn * np.where(wn > 0.0, X, 0.0), axis=-1)
    return np.where(empty, np.nan, total)


@aggregators.register(
    "geometric",
    rowwise=True,
    reference=HANDBOOK,
    compensatory=True,
    compensability="partial",
    requires_positive=True,
    preserves_range=True,
    idempotent=True,
    parameters=(),
)
def geometric(X: FloatArray, w: FloatArray | None, /) -> FloatArray:
    r"""Weighted geometric mean of the present children.

    Partially compensatory: a low child is harder to offset than with the arithmetic mean,
    because the marginal gain from raising a child is larger the lower it is. The Handbook
    recommends it when the children are not fully substitutable. Needs strictly positive
    values (the log of 0 is undefined), so normalise to e.g. [1, 100], not [0, 100].

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score, strictly positive]; NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = equal weights.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        :math:`\exp(\sum_i \tilde w_i \log x_i) = \prod_i x_i^{\tilde w_i}`, weights
        renormalised over the present children; NaN where no child is present.

    Raises
    ------
    DataError
        If a present child of positive weight is <= 0 (the message counts them).

    Examples
    --------
    >>> geometric(np.array([[4.0, 16.0]]), None)
    array([8.])

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "geometric")
    w = _as_weights(w, X, "geometric")
    wn, empty = _row_weights(X, w)
    active = wn > 0.0
    _check_domain(X, active, "geometric", strict=True, hint=_POSITIVE_HINT)
    log_mean = np.sum(wn * np.log(np.where(active, X, 1.0)), axis=-1)
    return np.where(empty, np.nan, np.exp(log_mean))


@aggregators.register(
    "harmonic",
    rowwise=True,
    reference=HANDBOOK,
    compensatory=True,
    compensability="partial",
    requires_positive=True,
    preserves_range=True,
    idempotent=True,
    parameters=(),
)
def harmonic(X: FloatArray, w: FloatArray | None, /) -> FloatArray:
    r"""Weighted harmonic mean of the present children.

    Less compensatory than the geometric mean (it is the power mean with p = -1): the score
    is pulled strongly towards the weakest child. Needs strictly positive values.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score, strictly positive]; NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = equal weights.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        :math:`1 / \sum_i (\tilde w_i / x_i)`; NaN where no child is present.

    Raises
    ------
    DataError
        If a present child of positive weight is <= 0.

    Examples
    --------
    >>> harmonic(np.array([[1.0, 4.0, 4.0]]), None)
    array([2.])

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "harmonic")
    w = _as_weights(w, X, "harmonic")
    wn, empty = _row_weights(X, w)
    active = wn > 0.0
    _check_domain(X, active, "harmonic", strict=True, hint=_POSITIVE_HINT)
    inverse_mean = np.sum(wn / np.where(active, X, 1.0), axis=-1)
    safe = np.where(empty, 1.0, inverse_mean)
    return np.where(empty, np.nan, 1.0 / safe)


def _generalised_needs_positive(params: Mapping[str, Any]) -> bool:
    return float(params.get("p", 1.0)) <= 0.0


@aggregators.register(
    "generalised",
    rowwise=True,
    reference=(
        "Decancq, K. & Lugo, M. A. (2013). Weights in multidimensional indices of wellbeing: "
        "an overview. Econometric Reviews 32(1), 7-34. doi:10.1080/07474938.2012.690641; "
        + HANDBOOK
    ),
    compensatory=True,
    compensability="partial",
    requires_positive=_generalised_needs_positive,
    preserves_range=True,
    idempotent=True,
    parameters=("p",),
)
def generalised(X: FloatArray, w: FloatArray | None, /, *, p: float = 1.0) -> FloatArray:
    r"""Weighted power (generalised) mean of order ``p`` of the present children.

    One parameter spans the whole compensability range: p = 1 is the arithmetic mean,
    p -> 0 the geometric, p = -1 the harmonic, p -> -inf the minimum (no compensation) and
    p -> +inf the maximum. Lower p means less compensation, so p is a natural input of an
    uncertainty analysis over the aggregation choice.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score]; must be > 0 when p <= 0 and >= 0 when p > 0 (p = 1
        accepts any real values); NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = equal weights.
    p : float, default 1.0
        Order of the mean [unitless]; any real number, or ``±inf``. ``p = 0`` (and
        ``|p| < 1e-12``) is computed as the geometric mean, its limit.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        :math:`(\sum_i \tilde w_i x_i^p)^{1/p}`; NaN where no child is present.

    Raises
    ------
    SpecError
        If ``p`` is NaN.
    DataError
        If a value is outside the domain above.

    Notes
    -----
    For numerical stability at any p, each row is scaled by its largest (p > 0) or
    smallest (p < 0) active child ``s``, so that every :math:`r_i^p = (x_i/s)^p` lies in
    [0, 1], and :math:`M_p = s \exp(\mathrm{log1p}(\sum_i \tilde w_i\,
    \mathrm{expm1}(p \log r_i)) / p)`, which stays accurate as p -> 0.

    Examples
    --------
    >>> x = np.array([[1.0, 4.0, 4.0]])
    >>> generalised(x, None, p=1), generalised(x, None, p=-1).round(12)
    (array([3.]), array([2.]))

    References
    ----------
    .. [1] Decancq, K. & Lugo, M. A. (2013). Weights in multidimensional indices of
       wellbeing: an overview. Econometric Reviews 32(1), 7-34.
       doi:10.1080/07474938.2012.690641
    .. [2] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2.
       doi:10.1787/9789264043466-en
    """
    p = float(p)
    if np.isnan(p):
        raise SpecError("aggregate method 'generalised': parameter 'p' must be a number; got NaN")
    if p == 1.0:
        return arithmetic(X, w)
    if abs(p) < _GEOMETRIC_P:
        return geometric(X, w)
    X = _as_data(X, "generalised")
    w = _as_weights(w, X, "generalised")
    wn, empty = _row_weights(X, w)
    active = wn > 0.0
    hint = f"The power mean with p = {p:g} " + (
        "needs x > 0. " + _POSITIVE_HINT if p < 0 else "needs x >= 0 (only p = 1 accepts x < 0)."
    )
    _check_domain(X, active, "generalised", strict=p < 0.0, hint=hint)
    if np.isinf(p):
        fill = -np.inf if p > 0 else np.inf
        extreme = np.max if p > 0 else np.min
        result = extreme(np.where(active, X, fill), axis=-1)
        return np.where(empty, np.nan, result)
    if p > 0.0:
        scale = np.max(np.where(active, X, 0.0), axis=-1, keepdims=True)
    else:
        scale = np.min(np.where(active, X, np.inf), axis=-1, keepdims=True)
    scale = np.where((scale > 0.0) & np.isfinite(scale), scale, 1.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf is fine: 0^p = 0 for p > 0
        log_ratio = np.log(np.where(active, X, scale) / scale)
    excess = np.sum(wn * np.expm1(p * log_ratio), axis=-1)  # sum(w r^p) - 1, in [-1, 0]
    with np.errstate(divide="ignore"):
        log_mean = np.log1p(np.where(empty, 0.0, excess)) / p
    return np.where(empty, np.nan, scale[..., 0] * np.exp(log_mean))


# --------------------------------------------------------------------------------------
# Mazziotta-Pareto Index
# --------------------------------------------------------------------------------------


def _check_groups(groups: Any, n_rows: int, method: str) -> IntArray:
    codes = np.asarray(groups)
    if codes.shape != (n_rows,) or not np.issubdtype(codes.dtype, np.integer):
        raise SpecError(
            f"aggregate method {method!r}: 'groups' must be an integer array of one period "
            f"code per row, shape ({n_rows},); got dtype {codes.dtype} and shape {codes.shape}"
        )
    return codes.astype(np.int64)


def _mpi_standardise(X: FloatArray, groups: IntArray | None, ddof: int) -> FloatArray:
    """``100 + 10 (x - mean) / sd`` per child, over the rows of each group (or all rows)."""
    codes = np.zeros(X.shape[-2], dtype=np.int64) if groups is None else groups
    Z = np.empty_like(X)
    for code in np.unique(codes):  # one pass per period, never per row
        rows = codes == code
        block = X[..., rows, :]
        count = np.sum(~np.isnan(block), axis=-2, keepdims=True)
        if np.any(count <= ddof):
            raise DataError(
                "aggregate method 'mazziotta_pareto' with standardise=True: a child has "
                f"{int(count.min())} observed row(s) in period group {int(code)}; at least "
                f"{ddof + 1} are needed to estimate its standard deviation"
            )
        mean = np.nansum(block, axis=-2, keepdims=True) / count
        sd = np.sqrt(np.nansum((block - mean) ** 2, axis=-2, keepdims=True) / (count - ddof))
        if np.any(sd == 0.0):
            raise DataError(
                "aggregate method 'mazziotta_pareto' with standardise=True: a child is "
                f"constant over the rows of period group {int(code)} (standard deviation 0), "
                "so it cannot be standardised; drop it from the node or standardise upstream"
            )
        Z[..., rows, :] = 100.0 + 10.0 * (block - mean) / sd
    return Z


def _mpi_needs_positive(params: Mapping[str, Any]) -> bool:
    return not bool(params.get("standardise", False))


@aggregators.register(
    "mazziotta_pareto",
    reference=(
        "Mazziotta, M. & Pareto, A. (2016). On a generalized non-compensatory composite index "
        "for measuring socio-economic phenomena. Social Indicators Research 127(3), 983-1003. "
        "doi:10.1007/s11205-015-0998-2"
    ),
    compensatory=True,
    compensability="partial",
    requires_positive=_mpi_needs_positive,
    preserves_range=False,
    idempotent=True,
    parameters=("penalty", "ddof", "standardise", "groups"),
)
def mazziotta_pareto(
    X: FloatArray,
    w: FloatArray | None,
    /,
    *,
    penalty: Literal["negative", "positive"] = "negative",
    ddof: int = 0,
    standardise: bool = False,
    groups: IntArray | None = None,
) -> FloatArray:
    r"""Mazziotta-Pareto Index (MPI): a mean penalised by the imbalance of the children.

    The MPI corrects the (weighted) mean of the children by a term that grows with their
    horizontal variability, so that among rows with the same mean the balanced one scores
    best (MPI-, for composites where higher is better) or worst (MPI+, for composites
    where higher is worse). An adjusted variant is what the Italian statistical office
    (Istat) uses for its BES well-being composites.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Children on the MPI scale ``z = 100 ± 10 (x - mean) / sd`` [score, mean 100, sd 10
        over the reference rows], unless ``standardise=True``; NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = equal weights (the original MPI).
    penalty : {"negative", "positive"}, default "negative"
        ``"negative"`` gives MPI- = M - S·cv (imbalance lowers the score; use when the
        composite has positive polarity), ``"positive"`` gives MPI+ = M + S·cv.
    ddof : {0, 1}, default 0
        0 = population standard deviation (divide by the number of children, as Mazziotta
        & Pareto do); 1 = sample standard deviation (see Notes for weights). Used both for
        the row-wise S and, with ``standardise=True``, for the column standardisation.
    standardise : bool, default False
        If True, first standardise each child over the rows (over the rows of each period
        when ``groups`` is given) to ``100 + 10 (x - mean) / sd``. The default is False:
        standardising is a normalisation that learns a reference (pooled, baseline
        period...), which belongs to the normalise step, where it is recorded and can be
        reused for time-comparable scores.
    groups : IntArray, shape (n_rows,), optional
        Period code per row, used only with ``standardise=True``.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        The MPI [score, same scale as X]; NaN where no child is present.

    Raises
    ------
    DataError
        If a row's mean is <= 0 (the coefficient of variation is then meaningless: the
        inputs are not on the MPI scale), or a child is constant when standardising.
    SpecError
        If ``penalty`` or ``ddof`` is not one of the allowed values.

    Notes
    -----
    With weights :math:`\tilde w_i` renormalised over the present children of row j:

    .. math::

        M_j = \sum_i \tilde w_i z_{ij}, \quad
        S_j^2 = \frac{\sum_i \tilde w_i (z_{ij} - M_j)^2}{1 - \mathrm{ddof} \sum_i \tilde w_i^2},
        \quad cv_j = S_j / M_j, \quad
        \mathrm{MPI}^{\mp}_j = M_j \mp S_j\, cv_j = M_j (1 \mp cv_j^2).

    With equal weights the denominator is 1 (ddof = 0) or (n - 1)/n (ddof = 1), i.e. the
    population or sample variance; with unequal weights ddof = 1 is the unbiased
    reliability-weights estimator. A row with a single present child has S = 0.

    MPI- is not monotone everywhere: with ddof = 0,
    :math:`\partial \mathrm{MPI}^-/\partial z_k = \tilde w_k [1 - 2 (z_k - M)/M + cv^2]`, which
    is negative when a child lies far above the row mean, :math:`z_k - M > M (1 + cv^2)/2`.
    With five equally weighted children, z = (70, 70, 70, 70, 130) is such a case: raising
    the outlying strength lowers the MPI-, because the imbalance grows faster than the mean.
    This is a property of the method, not a bug; within 100 ± 15 it cannot happen.

    Examples
    --------
    >>> z = np.array([[100.0, 100.0, 100.0], [90.0, 100.0, 110.0]])
    >>> mazziotta_pareto(z, None).round(4)
    array([100.    ,  99.3333])

    References
    ----------
    .. [1] Mazziotta, M. & Pareto, A. (2016). On a generalized non-compensatory composite
       index for measuring socio-economic phenomena. Social Indicators Research 127(3),
       983-1003. doi:10.1007/s11205-015-0998-2
    .. [2] De Muro, P., Mazziotta, M. & Pareto, A. (2011). Composite indices of development
       and poverty: an application to MDGs. Social Indicators Research 104(1), 1-18.
       doi:10.1007/s11205-010-9727-z
    """
    if penalty not in ("negative", "positive"):
        raise SpecError(
            "aggregate method 'mazziotta_pareto': parameter 'penalty' must be 'negative' "
            f"(MPI-, higher composite = better) or 'positive' (MPI+); got {penalty!r}"
        )
    if ddof not in (0, 1):
        raise SpecError(
            "aggregate method 'mazziotta_pareto': parameter 'ddof' must be 0 (population sd, "
            f"as in Mazziotta & Pareto) or 1 (sample sd); got {ddof!r}"
        )
    X = _as_data(X, "mazziotta_pareto", min_ndim=2 if standardise else 1)
    w = _as_weights(w, X, "mazziotta_pareto")
    if standardise:
        codes = None if groups is None else _check_groups(groups, X.shape[-2], "mazziotta_pareto")
        X = _mpi_standardise(X, codes, ddof)
    wn, empty = _row_weights(X, w)
    active = wn > 0.0
    Z = np.where(active, X, 0.0)
    mean = np.sum(wn * Z, axis=-1)
    bad = ~empty & ~(mean > 0.0)
    if np.any(bad):
        raise DataError(
            f"aggregate method 'mazziotta_pareto': {int(bad.sum())} row(s) have a mean <= 0 "
            f"(smallest {float(mean[bad].min()):g}), so the coefficient of variation is "
            "undefined. The MPI expects children on the scale 100 ± 10·z-score: use the MPI "
            "normalisation upstream or pass standardise=True."
        )
    squares = np.sum(wn * (Z - mean[..., None]) ** 2, axis=-1)
    if ddof == 1:
        correction = 1.0 - np.sum(wn**2, axis=-1)
        squares = np.where(correction > 0.0, squares / np.where(correction > 0, correction, 1), 0)
    sd = np.sqrt(squares)
    safe_mean = np.where(empty, 1.0, mean)
    sign = -1.0 if penalty == "negative" else 1.0
    result = mean + sign * sd * (sd / safe_mean)
    return np.where(empty, np.nan, result)


# --------------------------------------------------------------------------------------
# Non-compensatory methods
# --------------------------------------------------------------------------------------


@aggregators.register(
    "copeland",
    reference=(
        "Munda, G. & Nardo, M. (2009). Noncompensatory/nonlinear composite indicators for "
        "ranking countries: a defensible setting. Applied Economics 41(12), 1513-1523. "
        "doi:10.1080/00036840601019364; " + HANDBOOK
    ),
    compensatory=False,
    compensability="none",
    requires_positive=False,
    preserves_range=False,
    idempotent=False,
    parameters=("groups", "max_elements"),
)
def copeland(
    X: FloatArray,
    w: FloatArray | None,
    /,
    *,
    groups: IntArray | None = None,
    max_elements: int = 2**22,
) -> FloatArray:
    r"""Copeland score: wins minus losses in weighted pairwise majority contests.

    A non-compensatory multi-criteria method: rows are compared pairwise, child by child,
    and only *which* row is better on each child counts, never by how much. Weights act as
    votes (the importance of each criterion), not as trade-off rates, which is what the
    Handbook recommends when weights are meant as importance coefficients.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Children [any scale; only their order matters]; NaN = missing.
    w : FloatArray or None, shape (n_children,) or (..., 1, n_children)
        Weights [unitless], >= 0, one vector per replicate (not per row); ``None`` = equal.
    groups : IntArray, shape (n_rows,), optional
        Period code per row: rows are compared only with rows of the same period. Without
        it all rows are compared with each other.
    max_elements : int, default 2**22
        Memory limit: the pairwise comparisons are evaluated in chunks of at most this
        many (replicate, row, row, child) elements, i.e. about ``8 * max_elements`` bytes
        of temporaries (32 MB by default). Smaller values trade speed for memory.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        Copeland score [count of rows], between -(g - 1) and g - 1 for a period of g rows;
        NaN where no child is present.

    Raises
    ------
    SpecError
        If the weights vary across rows, or ``groups`` does not hold one integer per row.

    Notes
    -----
    The weighted outranking matrix compares rows j and k:
    :math:`e_{jk} = \sum_i w_i [x_{ij} > x_{ik}] + \tfrac12 \sum_i w_i [x_{ij} = x_{ik}]`.
    Row j beats k when :math:`e_{jk} > e_{kj}`, and its score is
    :math:`\sum_{k \ne j} \mathrm{sign}(e_{jk} - e_{kj})` (wins minus losses; ties count 0).
    Since the ties cancel, :math:`e_{jk} - e_{kj} = \sum_i w_i\, \mathrm{sign}(x_{ij} -
    x_{ik})`, which is what is computed, over the children present in both rows (a child
    missing in either row abstains). The cost is O(g² m) per period and replicate in time
    (roughly 20 ns per comparison on one core: 1000 replicates of one period of 200 rows
    and 10 children take several seconds), while memory is bounded by ``max_elements``.
    Splitting the rows by period (``groups``) divides the cost by the number of periods.

    Examples
    --------
    >>> X = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    >>> copeland(X, np.array([0.6, 0.4]))
    array([ 2.,  0., -2.])

    References
    ----------
    .. [1] Munda, G. & Nardo, M. (2009). Noncompensatory/nonlinear composite indicators for
       ranking countries: a defensible setting. Applied Economics 41(12), 1513-1523.
       doi:10.1080/00036840601019364
    .. [2] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2.3.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "copeland", min_ndim=2)
    w = _as_weights(w, X, "copeland")
    if w.ndim >= 2 and w.shape[-2] != 1:
        raise SpecError(
            "aggregate method 'copeland': weights must be shared by all rows, shape "
            f"(n_children,) or (..., 1, n_children); got shape {w.shape}. Per-row weights "
            "(benefit of the doubt) cannot define one pairwise majority contest."
        )
    if max_elements < 1:
        raise SpecError(
            f"aggregate method 'copeland': 'max_elements' must be >= 1; got {max_elements}"
        )
    *lead, n_rows, n_children = X.shape
    n_batch = int(np.prod(lead, dtype=np.int64))
    Xb = X.reshape(n_batch, n_rows, n_children)
    weights = np.broadcast_to(w, (*lead, 1, n_children)).reshape(n_batch, n_children)
    weights = weights / weights.sum(axis=-1, keepdims=True).clip(min=np.finfo(float).tiny)
    codes = (
        np.zeros(n_rows, dtype=np.int64)
        if groups is None
        else _check_groups(groups, n_rows, "copeland")
    )
    scores = np.zeros((n_batch, n_rows))
    for code in np.unique(codes):  # one block per period, never per row
        rows = np.flatnonzero(codes == code)
        block = Xb[:, rows, :]
        n_group = rows.size
        per_batch = n_group * n_group * n_children
        if per_batch <= max_elements:
            batch_step, row_step = max(1, max_elements // per_batch), n_group
        else:
            batch_step, row_step = 1, max(1, max_elements // (n_group * n_children))
        for b0 in range(0, n_batch, batch_step):
            xk = block[b0 : b0 + batch_step, None, :, :]
            wv = weights[b0 : b0 + batch_step]
            for r0 in range(0, n_group, row_step):
                xj = block[b0 : b0 + batch_step, r0 : r0 + row_step, None, :]
                votes = np.subtract(xj, xk)  # the one large temporary, (b, r, g, m)
                np.sign(votes, out=votes)
                np.nan_to_num(votes, copy=False)  # a child missing in either row abstains
                margin = np.einsum("brkm,bm->brk", votes, wv)
                margin = np.where(np.abs(margin) <= _TIE_RTOL, 0.0, margin)
                scores[b0 : b0 + batch_step, rows[r0 : r0 + row_step]] = np.sign(margin).sum(-1)
    _, empty = _row_weights(X, w)
    return np.where(empty, np.nan, scores.reshape(*lead, n_rows))


@aggregators.register(
    "none",
    rowwise=True,
    reference="Identity: a node with a single child takes its value (Nardo et al. 2008, "
    "section 6.2, a one-indicator dimension).",
    compensatory=False,
    compensability="none",
    requires_positive=False,
    preserves_range=True,
    idempotent=True,
    max_children=1,
    parameters=(),
)
def single(X: FloatArray, w: FloatArray | None, /) -> FloatArray:
    """No aggregation: a node with one child takes its child's value.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, 1)
        The one child [score]; NaN = missing.
    w : ignored

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        The child's value.

    Raises
    ------
    SpecError
        The node has more than one child (choose a mean, or a formula).

    Examples
    --------
    >>> single(np.array([[0.5], [np.nan]]), None).tolist()
    [0.5, nan]
    """
    X = _as_data(X, "none")
    if X.shape[-1] != 1:
        raise SpecError(
            f"aggregate method 'none' passes one child's value through, but the node has "
            f"{X.shape[-1]} children; aggregate them with a mean (arithmetic …) or give "
            "the node a formula"
        )
    return np.array(X[..., 0], dtype=np.float64, copy=True)


@aggregators.register(
    "minimum",
    rowwise=True,
    reference=HANDBOOK,
    compensatory=False,
    compensability="none",
    requires_positive=False,
    preserves_range=True,
    idempotent=True,
    parameters=(),
)
def minimum(X: FloatArray, w: FloatArray | None, /) -> FloatArray:
    """The worst present child: a chain is as strong as its weakest link.

    Fully non-compensatory (the limit of the power mean as p -> -inf): no surplus offsets
    any deficit. Weights only select the children (weight 0 excludes a child); their
    size does not matter.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score]; NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = all children count.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        Minimum over the present children of positive weight; NaN where there are none.

    Examples
    --------
    >>> minimum(np.array([[3.0, np.nan, 2.0]]), None)
    array([2.])

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, section 6.2.
       doi:10.1787/9789264043466-en
    """
    X = _as_data(X, "minimum")
    w = _as_weights(w, X, "minimum")
    wn, empty = _row_weights(X, w)
    result = np.min(np.where(wn > 0.0, X, np.inf), axis=-1)
    return np.where(empty, np.nan, result)


@aggregators.register(
    "median",
    rowwise=True,
    reference=None,
    compensatory=False,
    compensability="none",
    requires_positive=False,
    preserves_range=True,
    idempotent=True,
    parameters=(),
)
def median(X: FloatArray, w: FloatArray | None, /) -> FloatArray:
    r"""Weighted median of the present children.

    Robust to one extreme child: the score moves only when a child crosses the middle of
    the weighted distribution, so deficits below the median are not offset by surpluses
    above it.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score]; NaN = missing.
    w : FloatArray or None, broadcastable to X
        Weights [unitless], >= 0; ``None`` = equal weights (the ordinary median).

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        The smallest value whose cumulative renormalised weight reaches 1/2; when it
        reaches exactly 1/2, the mean of that value and the next one (so that equal weights
        give the ordinary median). NaN where no child is present.

    Examples
    --------
    >>> median(np.array([[1.0, 5.0, 2.0, 9.0], [1.0, 5.0, 2.0, np.nan]]), None)
    array([3.5, 2. ])
    """
    X = _as_data(X, "median")
    w = _as_weights(w, X, "median")
    wn, empty = _row_weights(X, w)
    active = wn > 0.0
    order = np.argsort(np.where(active, X, np.inf), axis=-1)
    values = np.take_along_axis(np.where(active, X, np.inf), order, axis=-1)
    weights = np.take_along_axis(wn, order, axis=-1)
    cumulative = np.cumsum(weights, axis=-1)
    lower = np.argmax(cumulative >= 0.5 - _TIE_RTOL, axis=-1)[..., None]
    at_half = np.abs(np.take_along_axis(cumulative, lower, axis=-1) - 0.5) <= _TIE_RTOL
    position = np.arange(X.shape[-1])
    upper = np.argmax((position > lower) & (weights > 0.0), axis=-1)[..., None]
    low_value = np.take_along_axis(values, lower, axis=-1)
    high_value = np.take_along_axis(values, upper, axis=-1)
    result = np.where(at_half, 0.5 * (low_value + high_value), low_value)[..., 0]
    return np.where(empty, np.nan, result)


# Aggregators of their own modules register into the same table (imported last: they use
# the helpers above).
from securindex.methods import aggregate_penalised as _penalised  # noqa: E402, F401
from securindex.methods import aggregate_relative as _relative  # noqa: E402, F401
