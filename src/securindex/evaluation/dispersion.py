"""Overdispersion of crime counts: estimate it, state it, use it.

Recorded crime is rarely Poisson: counts of the same area vary from period to period far
more than their mean (repeat victimisation, reporting campaigns, one prolific offender).
Tests that assume Poisson variance then report intervals far too narrow and p-values far
too small. The remedy used throughout :mod:`securindex.evaluation` is the quasi-Poisson
one: the variance of a count is ``φ × mean``, so every variance is multiplied by ``φ`` and
every interval widened by ``√φ`` (McCullagh & Nelder 1989, section 4.5; Farrington et al.
2007 estimated ``φ`` for the RES the same way).

:func:`estimate_dispersion` estimates ``φ`` as the Pearson χ² of a Poisson comparison
model divided by its residual degrees of freedom:

* several entities × periods: the Poisson model with entity and period effects (its fitted
  values are ``row total × column total / grand total``, or, with an exposure offset, the
  iterative-proportional-fitting solution);
* one series: the constant-mean model — Fisher's index of dispersion ``s² / x̄`` (a trend
  inflates it; use several entities where possible).

Use the *before* periods of the areas compared: after the start the initiative's own
effect would count as extra variation.

References
----------
.. [1] McCullagh, P., & Nelder, J. A. (1989). *Generalized Linear Models* (2nd ed.),
   section 4.5.2. Chapman & Hall.
.. [2] Farrington, D. P., Gill, M., Waples, S. J., & Argomaniz, J. (2007). The effects of
   closed-circuit television on crime. *Journal of Experimental Criminology*, 3, 21–38.
   doi:10.1007/s11292-007-9024-2
.. [3] Wheeler, A. P. (2016). Tables and graphs for monitoring temporal crime trends.
   *International Journal of Police Science & Management*, 18(3), 159–172.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError

__all__ = [
    "OVERDISPERSED",
    "POISSON",
    "Dispersion",
    "dispersion_from_counts",
    "estimate_dispersion",
    "resolve_dispersion",
]

#: Above this Pearson dispersion a Poisson test is flagged as misleading [unitless].
OVERDISPERSED = 1.5


@dataclass(frozen=True)
class Dispersion:
    """The variance factor ``φ`` applied to Poisson variances, and where it came from.

    Attributes
    ----------
    value
        ``φ`` used [unitless, ≥ 1]: the estimate, floored at 1 (under-dispersion is not
        used to narrow intervals), or the value given.
    estimate
        The raw estimate (NaN when given or not estimable) [unitless].
    method
        ``"given"``, ``"poisson"`` (assumed 1), ``"pearson_two_way"`` or
        ``"index_of_dispersion"``.
    df
        Residual degrees of freedom of the estimate [count].
    description
        What the estimate was computed on, for summaries.
    """

    value: float
    estimate: float
    method: str
    df: int
    description: str = ""

    @property
    def overdispersed(self) -> bool:
        """True when the counts vary clearly more than Poisson counts would."""
        x = self.estimate if math.isfinite(self.estimate) else self.value
        return x > OVERDISPERSED

    def phrase(self, *, short: bool = False) -> str:
        """A clause for summaries: which variance was used and why (``short``: no source)."""
        if self.method == "poisson":
            return "Poisson variance assumed (dispersion 1)"
        if self.method == "given":
            return f"quasi-Poisson variance with the dispersion given ({self.value:.3g})"
        if short:
            return (
                f"quasi-Poisson variance, dispersion {self.value:.3g}"
                if self.value > 1.0
                else "Poisson variance (estimated dispersion not above 1)"
            )
        how = (
            "Pearson χ²/df of the entity + period Poisson model"
            if self.method == "pearson_two_way"
            else "index of dispersion of the series"
        )
        if self.value > 1.0:
            return (
                f"quasi-Poisson variance, dispersion {self.value:.3g} ({how} on "
                f"{self.description}, {self.df} df)"
            )
        return (
            f"Poisson variance: the estimated dispersion is {self.estimate:.3g} ({how} on "
            f"{self.description}), not above 1"
        )


#: The Poisson assumption (dispersion 1), the default of the small count functions.
POISSON = Dispersion(1.0, math.nan, "poisson", 0)


def _pearson_two_way(
    y: np.ndarray, exposure: np.ndarray | None, *, tol: float = 1e-12, max_iter: int = 1000
) -> tuple[float, int]:
    """Pearson χ² and df of the Poisson model with row and column effects (and offset)."""
    n_rows, n_cols = y.shape
    if exposure is None:
        total = y.sum()
        mu = np.outer(y.sum(axis=1), y.sum(axis=0)) / total
    else:
        a = np.ones(n_rows)
        b = y.sum(axis=0) / exposure.sum(axis=0)
        for _ in range(max_iter):  # iterative proportional fitting: converges fast
            a_new = y.sum(axis=1) / (exposure @ b)
            b_new = y.sum(axis=0) / (a_new @ exposure)
            done = np.allclose(a_new, a, rtol=tol, atol=0) and np.allclose(
                b_new, b, rtol=tol, atol=0
            )
            a, b = a_new, b_new
            if done:
                break
        mu = exposure * np.outer(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(mu > 0, (y - mu) ** 2 / mu, 0.0)
    return float(terms.sum()), (n_rows - 1) * (n_cols - 1)


def dispersion_from_counts(
    counts: np.ndarray, exposure: np.ndarray | None = None, *, description: str = ""
) -> Dispersion:
    """Estimate ``φ`` from an (entities × periods) array of counts (one row: a series).

    Parameters
    ----------
    counts
        Counts [count], shape ``(n_entities, n_periods)`` or ``(n_periods,)``.
    exposure
        Population at risk of the same shape [inhabitants]; an offset of the two-way model.
    description
        What the counts are, for summaries.

    Returns
    -------
    Dispersion
        ``method="poisson"`` (φ = 1) when nothing is left to estimate from (fewer than two
        periods, or no crime at all).

    Examples
    --------
    >>> dispersion_from_counts(np.array([[10, 30], [30, 10]])).estimate
    20.0
    """
    y = np.atleast_2d(np.asarray(counts, dtype="float64"))
    if not np.all(np.isfinite(y)) or (y < 0).any():
        raise DataError("counts for the dispersion must be finite and >= 0")
    rows_with_crime = y.sum(axis=1) > 0
    y = y[rows_with_crime]
    ex = None
    if exposure is not None:
        ex = np.atleast_2d(np.asarray(exposure, dtype="float64"))[rows_with_crime]
        if ex.shape != y.shape or not np.all(np.isfinite(ex)) or (ex <= 0).any():
            raise DataError("exposure for the dispersion must be > 0, one per count")
    if y.size == 0 or y.shape[1] < 2 or y.sum() == 0:
        return Dispersion(1.0, math.nan, "poisson", 0, description)
    if y.shape[0] == 1:
        x = y[0] if ex is None else y[0] / ex[0] * ex[0].mean()
        mean = x.mean()
        df = len(x) - 1
        stat = float(((x - mean) ** 2).sum() / mean)
        method = "index_of_dispersion"
    else:
        stat, df = _pearson_two_way(y, ex)
        method = "pearson_two_way"
    phi = stat / df
    return Dispersion(max(1.0, phi), phi, method, df, description)


def estimate_dispersion(
    frame: pd.DataFrame,
    *,
    entity: str = "entity",
    period: str = "period",
    count: str = "count",
    exposure: str | None = None,
    entities: Collection[object] | None = None,
    periods: Collection[object] | None = None,
) -> Dispersion:
    """Pearson dispersion of the counts of a long panel (entity + period Poisson model).

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period) (several rows are summed).
    entity, period, count
        Column names [count: recorded crimes].
    exposure
        Population column [inhabitants], used as offset.
    entities, periods
        Restrict to these labels (compared as text), e.g. the areas compared and the
        before periods.

    Returns
    -------
    Dispersion

    Raises
    ------
    DataError
        Missing columns, negative or missing counts, missing (entity, period) cells.

    Examples
    --------
    >>> df = pd.DataFrame({"entity": ["a", "a", "b", "b"], "period": [1, 2, 1, 2],
    ...                    "count": [10, 30, 30, 10]})
    >>> d = estimate_dispersion(df)
    >>> d.value, d.method, d.df
    (20.0, 'pearson_two_way', 1)
    """
    cols = [entity, period, count] + ([exposure] if exposure else [])
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"estimate_dispersion: missing column(s) {missing}; the frame has {list(frame.columns)}"
        )
    data = frame[cols].copy()
    data["_e"] = data[entity].astype(str)
    data["_p"] = data[period].astype(str)
    if entities is not None:
        data = data[data["_e"].isin({str(e) for e in entities})]
    if periods is not None:
        data = data[data["_p"].isin({str(p) for p in periods})]
    if data.empty:
        raise SpecError("estimate_dispersion: no rows left for the entities and periods chosen")
    data[count] = pd.to_numeric(data[count], errors="coerce")
    if data[count].isna().any() or (data[count] < 0).any():
        raise DataError("counts must be finite and >= 0", column=count)
    wide = data.pivot_table(index="_e", columns="_p", values=count, aggfunc="sum")
    if wide.isna().to_numpy().any():
        holes = [f"{e} {p}" for e, p in wide.stack(future_stack=True).index[wide.isna().stack()]]
        raise DataError(
            "estimate_dispersion: some (entity, period) cells have no row; a missing row is "
            "not a zero",
            rows=holes,
        )
    ex = None
    if exposure:
        ex = (
            data.pivot_table(index="_e", columns="_p", values=exposure, aggfunc="first")
            .reindex_like(wide)
            .to_numpy(dtype="float64")
        )
    n_e, n_p = wide.shape
    return dispersion_from_counts(
        wide.to_numpy(dtype="float64"),
        ex,
        description=f"{n_e} entit{'y' if n_e == 1 else 'ies'} × {n_p} period(s)",
    )


def resolve_dispersion(overdispersion: float | str | Dispersion | None) -> Dispersion:
    """A :class:`Dispersion` from what a user passed: a number, ``"poisson"`` or one."""
    if isinstance(overdispersion, Dispersion):
        return overdispersion
    if overdispersion is None or overdispersion == "poisson":
        return POISSON
    if isinstance(overdispersion, str):
        raise SpecError(
            f"overdispersion must be a number >= 1, 'poisson' or 'estimate'; got {overdispersion!r}"
        )
    value = float(overdispersion)
    if not (math.isfinite(value) and value > 0):
        raise SpecError(f"overdispersion must be a positive number (1 = Poisson); got {value}")
    if value == 1.0:
        return POISSON
    return Dispersion(value, math.nan, "given", 0)
