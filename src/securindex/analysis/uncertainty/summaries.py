"""Per-row distributions over replicates: stored exactly, or streamed into histograms."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from securindex.methods._types import FloatArray

# Largest number of (replicate × row) cells stored to give exact per-entity quantiles;
# beyond it, per-row histograms keep memory independent of the number of replicates.
EXACT_CELLS = 2**22

# Histogram resolution of the streaming summaries [bins per row].
_BINS = 1000


class RowDistribution:
    """Per-row distribution of a replicate output: stored exactly, or as a histogram.

    The histogram has :data:`_BINS` bins per row plus an underflow and an overflow bin,
    and the exact extremes of every row, so memory does not grow with the number of
    replicates. Integer outputs (ranks) up to :data:`_BINS` get one bin per value, which
    makes their quantiles exact; scores get bins over three times the range of the first
    chunk, centred on it.
    """

    def __init__(self, n_rows: int, *, exact: bool, integer_max: int | None = None) -> None:
        self.n_rows = n_rows
        self.exact = exact
        self.integer_max = integer_max
        self.chunks: list[FloatArray] = []
        self.count = np.zeros(n_rows)
        self.total = np.zeros(n_rows)
        self.low = np.full(n_rows, np.inf)
        self.high = np.full(n_rows, -np.inf)
        self.start = np.zeros(n_rows)
        self.width = np.ones(n_rows)
        self.n_bins = 0
        self.hist: np.ndarray | None = None  # (rows × (bins + 2)), flattened

    def add(self, values: FloatArray) -> None:
        valid = ~np.isnan(values)
        self.count += valid.sum(axis=0)
        self.total += np.where(valid, values, 0.0).sum(axis=0)
        self.low = np.minimum(self.low, np.where(valid, values, np.inf).min(axis=0))
        self.high = np.maximum(self.high, np.where(valid, values, -np.inf).max(axis=0))
        if self.exact:
            self.chunks.append(values.copy())
            return
        if self.hist is None:
            self._start_histogram()
        assert self.hist is not None
        with np.errstate(invalid="ignore"):
            position = np.floor((values - self.start) / self.width)
        position = np.clip(np.where(valid, position, 0.0), -1, self.n_bins) + 1  # 0: under
        flat = position.astype(np.int64) + np.arange(self.n_rows) * (self.n_bins + 2)
        for replicate, cells in zip(flat, valid, strict=True):
            # one replicate puts each row in one bin: no repeated index, so += is exact;
            # a loop over replicates, each step vectorised over the rows
            self.hist[np.compress(cells, replicate)] += 1

    def _start_histogram(self) -> None:
        if self.integer_max is not None:
            width = float(max(1, math.ceil(self.integer_max / _BINS)))
            self.n_bins = math.ceil(self.integer_max / width)
            self.start = np.full(self.n_rows, 0.5)
            self.width = np.full(self.n_rows, width)
        else:
            low = np.where(np.isfinite(self.low), self.low, 0.0)
            high = np.where(np.isfinite(self.high), self.high, 1.0)
            span = np.maximum(high - low, 1e-9 * (np.abs(low) + 1.0))
            self.n_bins = _BINS
            self.start = low - span
            self.width = 3.0 * span / self.n_bins
        self.hist = np.zeros(self.n_rows * (self.n_bins + 2), dtype=np.int32)

    def mean(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / self.count, np.nan)

    def values(self) -> FloatArray | None:
        return np.vstack(self.chunks) if self.exact and self.chunks else None

    def quantiles(self, probabilities: Sequence[float]) -> FloatArray:
        """(len(probabilities), n_rows) quantiles, numpy's default (linear) definition."""
        if self.exact:
            return _column_quantiles(np.vstack(self.chunks), probabilities)
        assert self.hist is not None
        hist = self.hist.reshape(self.n_rows, self.n_bins + 2)
        cumulative = np.cumsum(hist, axis=1)
        out = np.full((len(probabilities), self.n_rows), np.nan)
        last = np.maximum(self.count - 1.0, 0.0)
        for j, q in enumerate(probabilities):
            h = q * last
            lower = np.floor(h)
            a = self._order_statistic(hist, cumulative, lower)
            b = self._order_statistic(hist, cumulative, np.minimum(lower + 1, last))
            out[j] = np.where(self.count > 0, a + (h - lower) * (b - a), np.nan)
        return out

    def _order_statistic(
        self, hist: np.ndarray, cumulative: np.ndarray, k: FloatArray
    ) -> FloatArray:
        """The k-th smallest (0-based) replicate of every row, interpolated within its bin."""
        position = np.argmax(cumulative > k[:, None], axis=1)
        rows = np.arange(self.n_rows)
        before = np.where(position > 0, cumulative[rows, np.maximum(position - 1, 0)], 0)
        inside = (k - before + 0.5) / np.maximum(hist[rows, position], 1)
        if self.integer_max is not None and np.all(self.width == 1.0):
            value = self.start + (position - 0.5) * self.width  # one bin per rank: exact
        else:
            value = self.start + (position - 1 + inside) * self.width
        top = self.start + self.n_bins * self.width
        value = np.where(position == 0, self.low + inside * (self.start - self.low), value)
        value = np.where(position == self.n_bins + 1, top + inside * (self.high - top), value)
        with np.errstate(invalid="ignore"):
            return np.clip(value, self.low, self.high)


def _column_quantiles(data: FloatArray, probabilities: Sequence[float]) -> FloatArray:
    """Quantiles of every column ignoring NaN, numpy's linear definition, without a loop.

    Equals ``np.nanquantile(data, probabilities, axis=0)`` (NaN for an all-NaN column).
    """
    ordered = np.sort(data, axis=0)  # NaN last
    count = (~np.isnan(data)).sum(axis=0)
    last = np.maximum(count - 1, 0)
    columns = np.arange(data.shape[1])
    out = np.full((len(probabilities), data.shape[1]), np.nan)
    for j, q in enumerate(probabilities):
        h = q * last
        lower = np.floor(h).astype(np.int64)
        upper = np.minimum(lower + 1, last)
        a = ordered[lower, columns]
        b = ordered[upper, columns]
        out[j] = np.where(count > 0, a + (h - lower) * (b - a), np.nan)
    return out
