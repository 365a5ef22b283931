"""Plots of the analysis results (matplotlib, imported when first needed).

* :func:`plot_rank_intervals` — each entity's nominal rank, median rank and 5–95 % rank
  interval over the uncertainty replicates (the Handbook's Figure 7.1 style).
* :func:`plot_sobol` — first-order and total Sobol indices of each factor, with their
  bootstrap confidence intervals.
* :func:`plot_correlation` — a correlation matrix as a heat map.

Each function draws on ``ax`` (a new figure when None) and returns the Axes. matplotlib
is part of the ``report`` extra: ``pip install 'securindex[report]'``.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, section 7,
   Figures 7.1–7.4. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.errors import SpecError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from securindex.analysis.sensitivity import SobolResult
    from securindex.analysis.uncertainty import UncertaintyResult

__all__ = ["plot_correlation", "plot_rank_intervals", "plot_sobol"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("plots need matplotlib: pip install 'securindex[report]'") from None
    return plt


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    plt = _pyplot()
    _, new = plt.subplots(figsize=size)
    return new


def plot_rank_intervals(
    result: UncertaintyResult,
    *,
    ax: Axes | None = None,
    order: str = "median_rank",
    max_entities: int | None = 60,
) -> Axes:
    """Rank interval of every entity: nominal rank, median and 5–95 % interval.

    Parameters
    ----------
    result : UncertaintyResult
        From :func:`~securindex.analysis.uncertainty.run_uncertainty`.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    order : str, default "median_rank"
        Summary column to sort the entities by (e.g. ``nominal_rank``).
    max_entities : int or None, default 60
        Plot only the first entities in that order (None: all).

    Returns
    -------
    matplotlib Axes
    """
    summary = result.summary
    if order not in summary.columns:
        raise SpecError(f"order must be a summary column, one of {list(summary.columns)}")
    table = summary.sort_values(order).reset_index()
    if max_entities is not None:
        table = table.head(max_entities)
    periods = table["period"].nunique()
    labels = (
        table["entity"].astype(str)
        if periods <= 1
        else table["entity"].astype(str) + " " + table["period"].astype(str)
    )
    ax = _axes(ax, (max(6.0, 0.18 * len(table) + 2), 4.5))
    x = np.arange(len(table))
    low, high = table["rank_low"].to_numpy(), table["rank_high"].to_numpy()
    median = table["median_rank"].to_numpy()
    ax.vlines(x, low, high, color="0.6", linewidth=3, label=_interval_label(result.interval))
    ax.plot(x, median, "o", color="C0", markersize=4, label="median rank")
    ax.plot(x, table["nominal_rank"], "_", color="C3", markersize=9, mew=2, label="nominal rank")
    ax.set_xticks(x)
    # entity names are text: one line, and never matplotlib mathtext ("$5$ Street")
    one_line = labels.str.replace(r"[\x00-\x1f\x7f]+", " ", regex=True)
    for tick in ax.set_xticklabels(one_line, rotation=90, fontsize=7):
        tick.set_parse_math(False)
    ax.invert_yaxis()
    ax.set_ylabel("rank (1 = best)")
    ax.set_title(f"Rank intervals of {result.target} ({result.n_replicates} replicates)")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def _interval_label(interval: tuple[float, float]) -> str:
    return f"{interval[0]:.0%}–{interval[1]:.0%} interval"


def plot_sobol(
    result: SobolResult, output: str = "mean_rank_shift", *, ax: Axes | None = None
) -> Axes:
    """First-order and total Sobol indices of each factor for one output, as bars.

    Parameters
    ----------
    result : SobolResult
        From :func:`~securindex.analysis.sensitivity.run_sensitivity`.
    output : str, default "mean_rank_shift"
        The output (or an entity's label).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    table = result.table(output)
    ax = _axes(ax, (max(5.0, 0.9 * len(table) + 2), 4.0))
    x = np.arange(len(table))
    width = 0.38
    ax.bar(
        x - width / 2, table["S1"], width, yerr=table["S1_conf"], capsize=3, label="first order S1"
    )
    ax.bar(x + width / 2, table["ST"], width, yerr=table["ST_conf"], capsize=3, label="total ST")
    ax.set_xticks(x)
    ax.set_xticklabels(table.index, rotation=30, ha="right")
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylabel("share of variance")
    ax.set_title(f"Sobol indices: {output}")
    ax.legend(fontsize=8)
    return ax


def plot_correlation(
    matrix: pd.DataFrame,
    *,
    ax: Axes | None = None,
    annotate: bool | None = None,
    title: str | None = None,
) -> Axes:
    """A correlation matrix as a heat map (blue negative, red positive, −1 … 1).

    Parameters
    ----------
    matrix : DataFrame
        E.g. from :func:`~securindex.analysis.coherence.correlations`.
    ax : matplotlib Axes, optional
    annotate : bool, optional
        Write the values in the cells (default: when the matrix is at most 15 × 15).
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    values = matrix.to_numpy(dtype=np.float64)
    n_rows, n_columns = values.shape
    ax = _axes(ax, (max(4.0, 0.35 * n_columns + 2), max(3.5, 0.3 * n_rows + 1.5)))
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto")
    ax.set_xticks(np.arange(n_columns))
    ax.set_xticklabels([str(c) for c in matrix.columns], rotation=90, fontsize=7)
    ax.set_yticks(np.arange(n_rows))
    ax.set_yticklabels([str(i) for i in matrix.index], fontsize=7)
    if annotate if annotate is not None else max(n_rows, n_columns) <= 15:
        for i in range(n_rows):  # cell labels of a small matrix, not a loop over data rows
            for j in range(n_columns):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    return ax
