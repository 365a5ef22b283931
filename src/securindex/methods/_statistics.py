"""Mergeable statistics: summarise a block of rows → combine summaries → learn.

A method that learns (a normaliser's goalposts, a winsorising cap, a group mean) says *how*
it learns in its registry record (``statistic``), so that an engine holding the data in
blocks — the Dask engine's partitions — can learn exactly what the method learns from the
whole column: each block is summarised, the summaries are merged pairwise (a tree
reduction), and the method learns from the merged summary.

* :class:`Moments` — counts, sums, min/max and the central moments up to the 4th, merged
  with the pairwise formulas of Pébay [1]_, plus the ``depth`` most extreme distinct values
  of each column with their counts (what winsorising needs); mean, standard deviation,
  skewness and kurtosis equal the whole-column estimators to rounding;
* :class:`Sample` — the block's values themselves, gathered (exact for any learner: ranks,
  medians, a user's learn function), at 8 bytes per value.

References
----------
.. [1] Pébay, P. (2008). Formulas for robust, one-pass parallel computation of covariances
   and arbitrary-order statistical moments. Sandia Report SAND2008-6212.
   doi:10.2172/1028931
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from securindex.methods._types import FloatArray

__all__ = [
    "ColumnSummary",
    "Moments",
    "Sample",
    "Statistic",
    "column_moments",
    "learnt_moments",
    "merge_summaries",
    "moment_shape",
    "subset",
    "summarise",
]

_RESOLUTION = float(np.finfo(np.float64).resolution)


class Statistic:
    """How a method learns from blocks of rows: ``summarise`` each block, ``combine`` the
    summaries (associative: any tree of merges gives the same result), then the method
    learns from the combined summary."""

    def summarise(self, X: FloatArray) -> Any:
        """The summary of one block, (rows × columns) [the data's unit]."""
        raise NotImplementedError

    def combine(self, parts: Sequence[Any]) -> Any:
        """The summary of the union of the blocks summarised in ``parts``."""
        raise NotImplementedError

    def columns(self, summary: Any, positions: Sequence[int]) -> Any:
        """The summary of some of the columns."""
        raise NotImplementedError


@dataclass(frozen=True)
class Moments(Statistic):
    """Moments and the ``depth`` most extreme distinct values of each column.

    Attributes
    ----------
    depth : int
        Extreme distinct values kept at each end (winsorising up to ``winmax`` points needs
        ``winmax + 1``).
    keys : tuple of str
        The statistics a normaliser learns from it (of ``min``, ``max``, ``mean``, ``sd``).
    """

    depth: int = 1
    keys: tuple[str, ...] = ()

    def summarise(self, X: FloatArray) -> ColumnSummary:
        return summarise(X, self.depth)

    def combine(self, parts: Sequence[Any]) -> ColumnSummary:
        return parts[0] if len(parts) == 1 else merge_summaries(parts)

    def columns(self, summary: Any, positions: Sequence[int]) -> ColumnSummary:
        return subset(summary, positions)

    def learnt(self, summary: ColumnSummary) -> dict[str, FloatArray]:
        """The statistics :attr:`keys` of every column (per-column arrays)."""
        stats = learnt_moments(summary)
        return {key: stats[key] for key in self.keys}


@dataclass(frozen=True)
class Sample(Statistic):
    """The values themselves, gathered: exact for any learner, O(rows) memory."""

    def summarise(self, X: FloatArray) -> FloatArray:
        return np.array(X, dtype=np.float64, copy=True)

    def combine(self, parts: Sequence[Any]) -> FloatArray:
        return parts[0] if len(parts) == 1 else np.vstack(list(parts))

    def columns(self, summary: Any, positions: Sequence[int]) -> FloatArray:
        return np.asarray(summary)[:, list(positions)]


def statistic_of(method: Any, params: Mapping[str, Any]) -> Statistic | None:
    """The statistic a registry record declares for these parameters (None: none)."""
    value = method.statistic
    if value is None or isinstance(value, Statistic):
        return value
    result: Statistic = value(dict(params))
    return result


MomentSums = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # n, mean, M2..M4


def _moments_of(X: np.ndarray, mask: np.ndarray) -> MomentSums:
    """Count, mean and central sums Σ(x - mean)^p, p = 2, 3, 4, of the masked values."""
    n = mask.sum(axis=0).astype(np.float64)
    safe = np.where(n > 0, n, 1.0)
    mean = np.where(mask, X, 0.0).sum(axis=0) / safe
    d = np.where(mask, X - mean, 0.0)
    d2 = d * d
    return (
        n,
        np.where(n > 0, mean, 0.0),
        d2.sum(axis=0),
        (d2 * d).sum(axis=0),
        (d2 * d2).sum(axis=0),
    )


def _weighted_moments(values: np.ndarray, counts: np.ndarray) -> MomentSums:
    """Moments of a small set of distinct values with multiplicities (one column)."""
    n = float(counts.sum())
    if n == 0:
        zero = np.zeros(1)
        return np.zeros(1), zero, zero, zero, zero
    mean = float((counts * values).sum() / n)
    d = values - mean
    d2 = d * d
    return (
        np.array([n]),
        np.array([mean]),
        np.array([(counts * d2).sum()]),
        np.array([(counts * d2 * d).sum()]),
        np.array([(counts * d2 * d2).sum()]),
    )


def _merge_moments(a: MomentSums, b: MomentSums) -> MomentSums:
    """Pairwise merge of central moments (Pébay 2008, eqs. 2.1 and 3.1), per column."""
    na, ma, a2, a3, a4 = a
    nb, mb, b2, b3, b4 = b
    n = na + nb
    safe = np.where(n > 0, n, 1.0)
    delta = mb - ma
    both = (na > 0) & (nb > 0)
    delta = np.where(both, delta, 0.0)
    mean = np.where(na == 0, mb, np.where(nb == 0, ma, ma + delta * nb / safe))
    m2 = a2 + b2 + delta**2 * na * nb / safe
    m3 = (
        a3
        + b3
        + delta**3 * na * nb * (na - nb) / safe**2
        + 3.0 * delta * (na * b2 - nb * a2) / safe
    )
    m4 = (
        a4
        + b4
        + delta**4 * na * nb * (na * na - na * nb + nb * nb) / safe**3
        + 6.0 * delta**2 * (na * na * b2 + nb * nb * a2) / safe**2
        + 4.0 * delta * (na * b3 - nb * a3) / safe
    )
    return n, mean, m2, m3, m4


def _extreme_levels(col: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The ``depth`` smallest and largest distinct values with counts, and the open interval
    (low, high) of the remaining ("core") values; an empty core is (inf, -inf)."""
    m = len(col)
    if m <= 8 * depth + 64:
        u, c = np.unique(col, return_counts=True)
        return _split_levels(u, c.astype(np.float64), depth)

    def side(top: bool) -> tuple[np.ndarray, np.ndarray]:
        take = min(m, depth)
        while True:
            threshold = np.partition(col, m - take if top else take - 1)[
                m - take if top else take - 1
            ]
            candidates = col[col >= threshold] if top else col[col <= threshold]
            u, c = np.unique(candidates, return_counts=True)
            if len(u) >= depth or take >= m:
                return u, c.astype(np.float64)
            take = min(m, take * 4)

    up, cp = side(True)
    down, cd = side(False)
    if len(up) < depth or len(down) < depth or down[depth - 1] >= up[-depth]:
        u, c = np.unique(col, return_counts=True)
        return _split_levels(u, c.astype(np.float64), depth)
    values = np.concatenate([down[:depth], up[-depth:]])
    counts = np.concatenate([cd[:depth], cp[-depth:]])
    return values, counts, float(down[depth - 1]), float(up[-depth])


def _split_levels(
    u: np.ndarray, c: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    if len(u) <= 2 * depth:
        return u, c, np.inf, -np.inf
    keep = np.r_[np.arange(depth), np.arange(len(u) - depth, len(u))]
    return u[keep], c[keep], float(u[depth - 1]), float(u[len(u) - depth])


@dataclass
class ColumnSummary:
    """Mergeable summary of the columns of a block: exact for everything the engine learns.

    ``levels[j]`` holds the ``depth`` smallest and largest distinct values of column j with
    their counts; ``core`` the moments of every other value. ``total`` and ``count`` are the
    plain sum and number of the observed values (for the mean, as pandas computes it).
    """

    depth: int
    core: MomentSums
    levels: list[tuple[np.ndarray, np.ndarray]]
    total: np.ndarray
    count: np.ndarray


def summarise(X: np.ndarray, depth: int) -> ColumnSummary:
    """Summarise each column of a block (one contiguous column at a time)."""
    k = X.shape[1]
    moments = [np.zeros(k) for _ in range(5)]
    total = np.zeros(k)
    count = np.zeros(k)
    levels = []
    columns = np.asfortranarray(X)
    for j in range(k):  # a loop over indicators; each step is vectorised over rows
        col = columns[:, j]
        col = col[~np.isnan(col)]
        count[j], total[j] = len(col), col.sum()
        values, counts, low, high = _extreme_levels(col, depth)
        levels.append((values, counts))
        core = col[(col > low) & (col < high)]
        if len(core):
            mean = core.sum() / len(core)
            d = core - mean
            d2 = d * d
            for target, value in zip(
                moments, (len(core), mean, d2.sum(), (d2 * d).sum(), (d2 * d2).sum()), strict=True
            ):
                target[j] = value
    n, mean, m2, m3, m4 = moments
    return ColumnSummary(depth, (n, mean, m2, m3, m4), levels, total, count)


def merge_summaries(parts: Sequence[ColumnSummary]) -> ColumnSummary:
    depth = parts[0].depth
    core = reduce(_merge_moments, [p.core for p in parts])
    levels = []
    for j in range(len(parts[0].levels)):
        values = np.concatenate([p.levels[j][0] for p in parts])
        counts = np.concatenate([p.levels[j][1] for p in parts])
        u, inverse = np.unique(values, return_inverse=True)
        c = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(u))
        if len(u) > 2 * depth:
            middle = slice(depth, len(u) - depth)
            leftover = _weighted_moments(u[middle], c[middle])
            column = tuple(a[j : j + 1] for a in core)
            merged = _merge_moments(column, leftover)  # type: ignore[arg-type]
            for target, value in zip(core, merged, strict=True):
                target[j] = value[0]
            keep = np.r_[np.arange(depth), np.arange(len(u) - depth, len(u))]
            u, c = u[keep], c[keep]
        levels.append((u, c))
    return ColumnSummary(
        depth,
        core,
        levels,
        np.sum([p.total for p in parts], axis=0),
        np.sum([p.count for p in parts], axis=0),
    )


def subset(summary: ColumnSummary, columns: Sequence[int]) -> ColumnSummary:
    """The summary of some columns of a summarised block."""
    index = np.asarray(columns, dtype=np.int64)
    core = tuple(np.asarray(a)[index].copy() for a in summary.core)
    return ColumnSummary(
        summary.depth,
        core,
        [summary.levels[j] for j in index],
        summary.total[index],
        summary.count[index],
    )


def column_moments(
    summary: ColumnSummary, j: int, floor: float = -np.inf, cap: float = np.inf
) -> MomentSums:
    """Moments of column j with its extreme values clipped to [floor, cap]."""
    values, counts = summary.levels[j]
    core = tuple(a[j : j + 1] for a in summary.core)
    return _merge_moments(core, _weighted_moments(np.clip(values, floor, cap), counts))  # type: ignore[arg-type]


def moment_shape(moments: MomentSums) -> tuple[float, float]:
    """Bias-corrected skewness G1 and excess kurtosis G2, as :func:`treat.skewness`/
    :func:`treat.kurtosis` compute them (with their guard for constant columns)."""
    n, mean, m2_sum, m3_sum, m4_sum = (float(a[0]) for a in moments)
    if n == 0:
        return np.nan, np.nan
    m2, m3, m4 = m2_sum / n, m3_sum / n, m4_sum / n
    if m2 <= (_RESOLUTION * abs(mean)) ** 2:
        m2 = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        g1 = m3 / m2**1.5 if m2 > 0 else np.nan
        g2 = m4 / m2**2 - 3.0 if m2 > 0 else np.nan
        skew = g1 * np.sqrt(n * (n - 1.0)) / (n - 2.0) if n >= 3 and m2 > 0 else np.nan
        kurt = (
            (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * g2 + 6.0)
            if n >= 4 and m2 > 0
            else np.nan
        )
    return float(skew), float(kurt)


def learnt_moments(summary: ColumnSummary) -> dict[str, np.ndarray]:
    """min, max, mean (sum / n) and sample sd (n - 1) of every column."""
    k = len(summary.levels)
    out = {name: np.full(k, np.nan) for name in ("min", "max", "mean", "sd")}
    for j in range(k):
        values, _ = summary.levels[j]
        n = summary.count[j]
        if n == 0:
            continue
        out["min"][j], out["max"][j] = values[0], values[-1]
        out["mean"][j] = summary.total[j] / n
        moments = column_moments(summary, j)
        out["sd"][j] = np.sqrt(moments[2][0] / (n - 1.0)) if n > 1 else np.nan
    return out
