"""Frontier composites beyond the plain benefit of the doubt: directional, robust (order-m)
and with undesirable indicators.

Each is a weighting method whose optimum *is* the node's score (``scores_node``, like
:func:`securindex.methods.weight.benefit_of_doubt`): the plan scores the node with
``info["scores"]`` (a node of kind ``frontier``). All compare every row with the pooled
reference set (all periods together), one small linear programme (or Monte-Carlo draw) per
row: the documented exception to vectorisation.

References
----------
.. [1] Cherchye, L., Moesen, W., Rogge, N. & Van Puyenbroeck, T. (2007). An introduction
   to 'benefit of the doubt' composite indicators. *Social Indicators Research* 82(1),
   111–145. doi:10.1007/s11205-006-9029-7
.. [2] Chambers, R. G., Chung, Y. & Färe, R. (1996). Benefit and distance functions.
   *Journal of Economic Theory* 70(2), 407–419. doi:10.1006/jeth.1996.0096
.. [3] Cazals, C., Florens, J.-P. & Simar, L. (2002). Nonparametric frontier estimation: a
   robust approach. *Journal of Econometrics* 106(1), 1–25.
   doi:10.1016/S0304-4076(01)00080-X
.. [4] Zanella, A., Camanho, A. S. & Dias, T. G. (2015). Undesirable outputs and weighting
   schemes in composite indicators based on data envelopment analysis. *European Journal
   of Operational Research* 245(2), 517–530. doi:10.1016/j.ejor.2015.03.036
.. [5] Vidoli, F. & Fusco, E. (2024). *Compind*, R package 3.4: ``ci_bod_dir``,
   ``ci_rbod``, ``ci_bod_constr_bad``. https://CRAN.R-project.org/package=Compind
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from securindex.errors import DataError, SpecError
from securindex.methods._types import FloatArray, check_float, check_int
from securindex.methods.weight import Weights, _as_data, weighters

__all__ = ["bod_directional", "bod_order_m", "bod_undesirable"]

_DIRECTIONAL = (
    "Chambers, Chung & Faere (1996), doi:10.1006/jeth.1996.0096; Compind 3.4 ci_bod_dir "
    "(Benchmarking::dea, CRS, output orientation, DIRECT)"
)
_ORDER_M = (
    "Cazals, Florens & Simar (2002), doi:10.1016/S0304-4076(01)00080-X; Compind 3.4 ci_rbod "
    "(nonparaeff::orderm, output orientation)"
)
_UNDESIRABLE = (
    "Zanella, Camanho & Dias (2015), doi:10.1016/j.ejor.2015.03.036; Compind 3.4 ci_bod_constr_bad"
)


def _non_negative(X: FloatArray, method: str) -> None:
    if np.any(X < 0):
        raise DataError(
            f"weight method '{method}' needs values >= 0 (a frontier of outputs); "
            f"{int((X < 0).sum())} value(s) are negative. Normalise with min-max first."
        )


def _linprog() -> Any:
    from scipy.optimize import linprog  # imported here: it is 0.3 s of import time

    return linprog


def _shares(multipliers: FloatArray, n_children: int) -> FloatArray:
    """Per-row multipliers rescaled to sum 1 (equal shares for a row without any)."""
    total = np.nansum(multipliers, axis=1, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 1e-12, np.nan_to_num(multipliers) / safe, 1.0 / n_children)


# --------------------------------------------------------------------------------------
# Directional benefit of the doubt
# --------------------------------------------------------------------------------------


@weighters.register(
    "bod_directional",
    reference=_DIRECTIONAL,
    learns=True,
    requires=(),
    per_row=True,
    scores_node=True,
    parameters=("direction_vector",),
)
def bod_directional(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    direction_vector: Sequence[float] | str = "ones",
) -> Weights:
    r"""Directional benefit of the doubt: the distance to the frontier along a direction.

    Each row is pushed towards the best-practice frontier (constant returns, output
    orientation, one unit input per row) along a direction :math:`g`, and scored by
    :math:`1 / (1 + \beta)` with :math:`\beta` the largest step that stays feasible.
    With :math:`g` the row's own values (``direction_vector: observed``) this is the
    plain benefit of the doubt; with ones (the default) every child is improved by the
    same amount, which scores rows weak in every child more severely.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        Normalised children [score >= 0, higher = better]; rows with a missing child are
        not scored (their reference set lacks the child).
    nominal : ignored
    direction_vector : "ones", "observed" or list of float, default "ones"
        The direction :math:`g` [score units per child] (Compind's ``dir``).

    Returns
    -------
    Weights
        ``values`` (n_rows, n_children): each row's dual multipliers rescaled to sum 1;
        ``info``: ``scores`` :math:`1/(1+\beta)` in (0, 1] [fraction of the frontier],
        ``beta`` [the step, in units of g].

    Notes
    -----
    For row :math:`o`: :math:`\max_{\beta, \lambda \ge 0} \beta` s.t.
    :math:`\sum_k \lambda_k y_{kj} \ge y_{oj} + \beta g_j` for every child :math:`j` and
    :math:`\sum_k \lambda_k \le 1`.

    Examples
    --------
    >>> X = np.array([[1.0, 0.2], [0.2, 1.0], [0.5, 0.5]])
    >>> bod_directional(X).info["scores"].round(4)  # beta = 0, 0, 0.1
    array([1.    , 1.    , 0.9091])
    """
    X = _as_data(X, "bod_directional")
    _non_negative(X, "bod_directional")
    n_rows, k = X.shape
    if isinstance(direction_vector, str):
        if direction_vector not in ("ones", "observed"):
            raise SpecError(
                "weight method 'bod_directional': direction_vector must be 'ones', 'observed' "
                f"or a list of {k} numbers; got {direction_vector!r}"
            )
        fixed = np.ones(k) if direction_vector == "ones" else None
    else:
        fixed = np.asarray(direction_vector, dtype=np.float64)
        if fixed.shape != (k,) or not np.all(np.isfinite(fixed)) or np.any(fixed < 0):
            raise SpecError(
                f"weight method 'bod_directional': direction_vector must be {k} numbers >= 0 "
                f"(one per child); got {list(np.ravel(direction_vector))}"
            )
    linprog = _linprog()
    complete = ~np.isnan(X).any(axis=1)
    Y = X[complete]
    beta = np.full(n_rows, np.nan)
    multipliers = np.full((n_rows, k), np.nan)
    for o in np.flatnonzero(complete):  # one LP per row: the documented exception
        g = X[o] if fixed is None else fixed
        n_ref = len(Y)
        cost = np.zeros(n_ref + 1)
        cost[-1] = -1.0  # maximise beta
        A = np.hstack([-Y.T, g[:, None]])  # -sum lambda y + beta g <= -y_o
        A = np.vstack([A, np.r_[np.ones(n_ref), 0.0]])  # sum lambda <= 1
        b = np.r_[-X[o], 1.0]
        result = linprog(cost, A_ub=A, b_ub=b, bounds=(0, None), method="highs")
        if result.status != 0:
            raise DataError(
                f"weight method 'bod_directional': the linear programme of row {o} failed "
                f"({result.message})",
                rows=[int(o)],
            )
        beta[o] = float(result.x[-1])
        multipliers[o] = -np.asarray(result.ineqlin.marginals[:k], dtype=np.float64)
    return Weights(
        values=_shares(multipliers, k),
        info={"scores": 1.0 / (1.0 + beta), "beta": beta, "multipliers": multipliers},
    )


# --------------------------------------------------------------------------------------
# Robust (order-m) benefit of the doubt
# --------------------------------------------------------------------------------------


@weighters.register(
    "bod_order_m",
    reference=_ORDER_M,
    learns=True,
    requires=(),
    per_row=True,
    scores_node=True,
    parameters=("m", "draws", "seed"),
)
def bod_order_m(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    m: int = 20,
    draws: int = 200,
    seed: int = 0,
) -> Weights:
    r"""Robust benefit of the doubt: the expected order-m frontier (Cazals et al. 2002).

    Instead of the frontier of all rows, which one outlier can set, each row is compared
    with ``m`` rows drawn at random (with replacement), ``draws`` times: its output
    efficiency against each draw is the free-disposal-hull one, and the expected value
    over the draws is the order-m efficiency :math:`\theta_m`. The score
    :math:`1/\theta_m` can exceed 1: a row better than most samples of ``m`` others is
    "super-efficient", and outliers no longer push everybody else down.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        Normalised children [score >= 0, higher = better]; rows with a missing child are
        not scored.
    nominal : ignored
    m : int >= 1, default 20
        Size of each sample of peers [rows]; as ``m`` grows the score tends to the
        free-disposal-hull score.
    draws : int >= 1, default 200
        Number of samples [count] (Compind's ``B``).
    seed : int, default 0
        Seed of the draws (one seed, one result).

    Returns
    -------
    Weights
        ``values``: NaN (the free-disposal hull has no weights); ``info``: ``scores``
        :math:`1/\theta_m` [fraction of the order-m frontier, may exceed 1], ``theta``.

    Notes
    -----
    With :math:`r_{ok} = \min_j y_{kj} / y_{oj}` (how far peer :math:`k` dominates
    :math:`o` in its weakest child), :math:`\theta_m(o) = \frac1B \sum_b \max_{k \in S_b}
    r_{ok}` over samples :math:`S_b` of size :math:`m`.

    Examples
    --------
    >>> X = np.array([[1.0, 1.0], [0.5, 0.5], [0.2, 0.9]])
    >>> s = bod_order_m(X, m=50, draws=20).info["scores"]  # m large: the FDH scores
    >>> s.round(4).tolist()
    [1.0, 0.5, 0.9]
    """
    X = _as_data(X, "bod_order_m")
    _non_negative(X, "bod_order_m")
    m = check_int(m, "m", "weight", "bod_order_m", minimum=1)
    draws = check_int(draws, "draws", "weight", "bod_order_m", minimum=1)
    seed = check_int(seed, "seed", "weight", "bod_order_m")
    n_rows, k = X.shape
    complete = np.flatnonzero(~np.isnan(X).any(axis=1))
    Y = X[complete]
    rng = np.random.default_rng(seed)
    theta = np.full(n_rows, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for o in complete:  # one row at a time: an (n_peers,) vector and a (draws, m) sample
            ratio = np.min(np.where(X[o] > 0, Y / X[o], np.inf), axis=1)
            sample = rng.integers(0, len(Y), size=(draws, m))
            theta[o] = float(np.mean(np.max(ratio[sample], axis=1)))
    scores = np.where(np.isfinite(theta) & (theta > 0), 1.0 / theta, 0.0)
    scores = np.where(np.isnan(theta), np.nan, scores)
    return Weights(values=np.full((n_rows, k), np.nan), info={"scores": scores, "theta": theta})


# --------------------------------------------------------------------------------------
# Benefit of the doubt with undesirable indicators
# --------------------------------------------------------------------------------------


@weighters.register(
    "bod_undesirable",
    reference=_UNDESIRABLE,
    learns=True,
    requires=("undesirable",),
    per_row=True,
    scores_node=True,
    parameters=("undesirable", "low_share", "labels"),
)
def bod_undesirable(
    X: FloatArray,
    /,
    *,
    nominal: FloatArray | None = None,
    undesirable: Sequence[str] | None = None,
    low_share: float = 0.0,
    labels: Sequence[str] | None = None,
) -> Weights:
    r"""Benefit of the doubt with undesirable indicators (Zanella et al. 2015; Compind's
    ``ci_bod_constr_bad``).

    Desirable children (more is better) are expanded and undesirable ones (more is worse:
    emissions, deprivation) contracted, in proportion, towards the frontier; the score is
    :math:`1/(1 + \beta)` with :math:`\beta` the largest feasible proportional step. The
    undesirable children must enter as they are, more = worse (``normalise: {method:
    none}`` or a rescaling without polarity for them).

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_children)
        The children [score >= 0]: desirable ones higher = better, undesirable ones
        higher = worse and > 0 in every row; rows with a missing child are not scored.
    nominal : ignored
    undesirable : list of str
        The ids of the undesirable children (at least one, not all).
    low_share : float in [0, 1/n_children], default 0
        Lower bound on each child's share of the virtual output of the average row
        [fraction] (Compind's ``low_w``): no child can be ignored.
    labels : list of str
        The children's ids (the engines pass them).

    Returns
    -------
    Weights
        ``values``: each row's optimal weights rescaled to sum 1; ``info``: ``scores``
        :math:`1/(1+\beta)` in (0, 1], ``beta``.

    Notes
    -----
    Multiplier form, for row :math:`o` with desirable :math:`y` and undesirable :math:`b`:
    :math:`\beta_o = \min_{u, v \ge 0} v \cdot b_o - u \cdot y_o` s.t. :math:`u \cdot y_o +
    v \cdot b_o = 1`, :math:`v \cdot b_k - u \cdot y_k \ge 0` for every row :math:`k`, and
    :math:`w_j \bar x_j \ge` ``low_share`` :math:`\sum_l w_l \bar x_l` (the average row's
    virtual shares). Its dual expands :math:`y_o` and contracts :math:`b_o` by the factor
    :math:`1 \pm \beta`.

    Examples
    --------
    >>> X = np.array([[4.0, 1.0], [2.0, 1.0], [4.0, 2.0]])  # (good, bad)
    >>> r = bod_undesirable(X, undesirable=["bad"], labels=["good", "bad"])
    >>> r.info["scores"].round(4).tolist()  # beta = 0, 1/3, 1/3
    [1.0, 0.75, 0.75]
    """
    X = _as_data(X, "bod_undesirable")
    _non_negative(X, "bod_undesirable")
    n_rows, k = X.shape
    names = list(labels) if labels is not None else [str(j) for j in range(k)]
    wanted = list(undesirable or [])
    unknown = [u for u in wanted if u not in names]
    if unknown or not wanted or len(wanted) >= k:
        raise SpecError(
            "weight method 'bod_undesirable': 'undesirable' must name at least one and not "
            f"all of the node's children {names}; got {wanted}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    bad = np.array([n in wanted for n in names])
    low = check_float(low_share, "low_share", "weight", "bod_undesirable", minimum=0.0)
    if low * k > 1.0:
        raise SpecError(
            f"weight method 'bod_undesirable': low_share {low:g} x {k} children exceeds 1"
        )
    zero = np.flatnonzero((X[:, bad] <= 0).all(axis=1) & ~np.isnan(X).any(axis=1))
    if zero.size:
        raise DataError(
            f"weight method 'bod_undesirable': {zero.size} row(s) have no undesirable output "
            "at all (every undesirable child is 0), which puts them at an infinite ratio of "
            "desirable to undesirable output, off any frontier; give the undesirable "
            "children values > 0 (kept as they are, more = worse)",
            rows=[int(r) for r in zero[:20]],
        )
    sign = np.where(bad, 1.0, -1.0)  # objective: v.b_o - u.y_o
    linprog = _linprog()
    complete = ~np.isnan(X).any(axis=1)
    Y = X[complete]
    average = Y.mean(axis=0)
    share_rows = None
    if low > 0:  # w_j avg_j - low * sum_l w_l avg_l >= 0  ->  -(...) <= 0
        share_rows = -(np.diag(average) - low * average[None, :])
    beta = np.full(n_rows, np.nan)
    weights = np.full((n_rows, k), np.nan)
    A_ub = -(Y * sign)  # v.b_k - u.y_k >= 0  ->  -(...) <= 0
    b_ub = np.zeros(len(Y))
    if share_rows is not None:
        A_ub = np.vstack([A_ub, share_rows])
        b_ub = np.r_[b_ub, np.zeros(k)]
    for o in np.flatnonzero(complete):  # one LP per row: the documented exception
        result = linprog(
            sign * X[o],
            A_ub=A_ub,
            b_ub=b_ub,
            A_eq=X[o][None, :],
            b_eq=[1.0],
            bounds=(0, None),
            method="highs",
        )
        if result.status != 0:
            raise DataError(
                f"weight method 'bod_undesirable': the linear programme of row {o} failed "
                f"({result.message})",
                rows=[int(o)],
            )
        beta[o] = float(result.fun)
        weights[o] = np.asarray(result.x, dtype=np.float64)
    return Weights(
        values=_shares(weights, k),
        info={"scores": 1.0 / (1.0 + beta), "beta": beta, "multipliers": weights},
    )
