"""Aggregators that penalise unevenness: the mean–min function and ordered weighted averages.

Registered in :data:`securindex.methods.aggregate.aggregators` (this module is imported by
it), with the same calling convention: ``f(X, w, /, **params)``, ``X`` of shape ``(...,
n_rows, n_children)`` with NaN for missing children, replicates on leading axes.

References
----------
.. [1] Casadio Tarabusi, E. & Guarini, G. (2013). An unbalance adjustment method for
   development indicators. *Social Indicators Research* 112(1), 19–45.
   doi:10.1007/s11205-012-0070-4
.. [2] Yager, R. R. (1988). On ordered weighted averaging aggregation operators in
   multicriteria decisionmaking. *IEEE Transactions on Systems, Man, and Cybernetics*
   18(1), 183–190. doi:10.1109/21.87068
.. [3] Vidoli, F. & Fusco, E. (2024). *Compind: Composite Indicators Functions*, R package
   version 3.4, ``ci_mean_min``, ``ci_owa``. https://CRAN.R-project.org/package=Compind
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from securindex.methods._types import (
    FloatArray,
    check_choice,
    check_float,
    check_int,
    param_error,
)
from securindex.methods.aggregate import _as_data, _as_weights, _row_weights, aggregators

__all__ = ["mean_min", "owa"]

_CASADIO = (
    "Casadio Tarabusi, E. & Guarini, G. (2013). An unbalance adjustment method for development "
    "indicators. Social Indicators Research 112(1), 19-45. doi:10.1007/s11205-012-0070-4"
)
_YAGER = (
    "Yager, R. R. (1988). On ordered weighted averaging aggregation operators in "
    "multicriteria decisionmaking. IEEE SMC 18(1), 183-190. doi:10.1109/21.87068; Compind "
    "3.4 ci_owa"
)


@aggregators.register(
    "mean_min",
    rowwise=True,
    reference=_CASADIO,
    compensatory=True,
    compensability="partial",
    requires_positive=False,
    preserves_range=True,
    idempotent=True,
    parameters=("alpha", "beta"),
)
def mean_min(
    X: FloatArray, w: FloatArray | None, /, *, alpha: float = 0.5, beta: float = 1.0
) -> FloatArray:
    r"""The mean–min function: a mean pulled towards the row's minimum.

    Between the arithmetic mean (``alpha = 0``) and the minimum (``alpha = 1, beta = 0``),
    the penalty grows with the gap between a row's mean and its worst child; ``beta``
    smooths it, so that small gaps are penalised less than in proportion.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score]; NaN = missing. Casadio Tarabusi & Guarini (and
        Compind) standardise first to 100 ± 10 z (``normalise: {method: zscore, mean: 100,
        sd: 10}``).
    w : FloatArray or None, broadcastable to X
        Weights of the mean [unitless], >= 0; ``None`` = equal weights (the original).
    alpha : float in [0, 1], default 0.5
        Strength of the penalty [unitless].
    beta : float >= 0, default 1
        Smoothing of the penalty [score units].

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        :math:`M - \alpha\,(\sqrt{(M - m)^2 + \beta^2} - \beta)` with :math:`M` the weighted
        mean and :math:`m` the minimum of the present children [score]; NaN for a row
        without any.

    Examples
    --------
    >>> z = np.array([[100.0, 100.0], [90.0, 110.0]])
    >>> mean_min(z, None, alpha=1.0, beta=0.0).tolist()  # the minimum
    [100.0, 90.0]
    >>> round(float(mean_min(z, None, alpha=0.5, beta=1.0)[1]), 4)  # 100 - 0.5 (sqrt(101) - 1)
    95.4751

    References
    ----------
    .. [1] Casadio Tarabusi, E. & Guarini, G. (2013), eq. (3). doi:10.1007/s11205-012-0070-4
    .. [2] Compind 3.4, ``ci_mean_min`` (equal weights).
    """
    a = check_float(alpha, "alpha", "aggregate", "mean_min", minimum=0.0)
    if a > 1.0:
        raise param_error("aggregate", "mean_min", "alpha", "a number in [0, 1]", alpha)
    b = check_float(beta, "beta", "aggregate", "mean_min", minimum=0.0)
    X = _as_data(X, "mean_min")
    wn, empty = _row_weights(X, _as_weights(w, X, "mean_min"))
    active = wn > 0.0
    mean = np.sum(wn * np.where(active, X, 0.0), axis=-1)
    low = np.min(np.where(active, X, np.inf), axis=-1)
    with np.errstate(invalid="ignore"):
        value = mean - a * (np.sqrt((mean - low) ** 2 + b * b) - b)
    return np.where(empty, np.nan, value)


@aggregators.register(
    "owa",
    rowwise=True,
    reference=_YAGER,
    compensatory=True,
    compensability="partial",
    requires_positive=False,
    preserves_range=True,
    idempotent=True,
    parameters=("j", "side"),
)
def owa(
    X: FloatArray,
    w: FloatArray | None,
    /,
    *,
    j: int = 1,
    side: Literal["lowest", "highest"] = "lowest",
) -> FloatArray:
    r"""Ordered weighted average: the mean of a row's ``j`` lowest (or highest) children.

    The children are sorted within each row and only their order counts: weight
    :math:`1/j` goes to the :math:`j` lowest (``side: lowest``, "at least j children are
    this good", a pessimistic, non-compensatory reading; ``j = 1`` is the minimum) or the
    :math:`j` highest (``side: highest``, "at most j"; ``j = 1`` is the maximum). With
    ``j`` equal to the number of children it is the arithmetic mean.

    Parameters
    ----------
    X : FloatArray, shape (..., n_rows, n_children)
        Normalised children [score]; NaN = missing (rows order their present children).
    w : FloatArray or None
        Children of weight 0 are left out; other weights are not used (OWA weights belong
        to ranks, not to children).
    j : int >= 1, default 1
        How many of the ordered children are averaged; a row with fewer present children
        averages all of them.
    side : {"lowest", "highest"}, default "lowest"
        Which end of the order.

    Returns
    -------
    FloatArray, shape X.shape[:-1]
        The mean of the ``j`` lowest (highest) present children [score]; NaN for a row
        without any.

    Examples
    --------
    >>> x = np.array([[5.0, 1.0, 3.0, 4.0]])
    >>> owa(x, None, j=2).tolist(), owa(x, None, j=2, side="highest").tolist()
    ([2.0], [4.5])

    References
    ----------
    .. [1] Yager, R. R. (1988). doi:10.1109/21.87068
    .. [2] Compind 3.4, ``ci_owa(atleastjp = j)``: ``CI_OWA_n`` is ``side: lowest``,
       ``CI_OWA_p`` ``side: highest``.
    """
    k = check_int(j, "j", "aggregate", "owa", minimum=1)
    end = check_choice(side, ("lowest", "highest"), "side", "aggregate", "owa")
    X = _as_data(X, "owa")
    wn, empty = _row_weights(X, _as_weights(w, X, "owa"))
    active = wn > 0.0
    count = active.sum(axis=-1)
    fill = np.inf if end == "lowest" else -np.inf
    ordered = np.sort(np.where(active, X, fill), axis=-1)
    if end == "highest":
        ordered = ordered[..., ::-1]
    take = np.minimum(count, k)
    rank = np.arange(X.shape[-1])
    chosen = rank < take[..., None]
    total = np.sum(np.where(chosen, ordered, 0.0), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = total / np.where(take > 0, take, 1)
    return np.where(empty, np.nan, value)
