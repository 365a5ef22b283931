"""The report's charts, drawn with matplotlib (the ``report`` extra) and embedded as PNG.

matplotlib is imported inside each function, so importing :mod:`securindex.report` costs
nothing and works without it. Figures are built with :class:`matplotlib.figure.Figure` on
an Agg canvas, never through ``pyplot``: no global figure state, no GUI backend, safe to
call from a server or a thread.

* :func:`plot_contributions` — the ranking as horizontal stacked bars, one segment per
  top-level pillar: its weighted contribution to the index score.
* :func:`plot_distributions` — each indicator's histogram before (raw) and after outlier
  treatment.
* :func:`plot_correlation` — a heat map of Pearson correlations between indicators,
  pillars and the index.
* :func:`figure_to_data_uri` — a figure as a ``data:image/png;base64,...`` URI for an
  ``<img>`` tag, so the HTML opens offline.

Each plotting function returns the :class:`~matplotlib.figure.Figure`, so it can be saved
or restyled outside the report.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "figure_to_data_uri",
    "plot_contributions",
    "plot_correlation",
    "plot_distributions",
    "report_style",
]

# Colours of the pillars (matplotlib's tab10, colour-blind-safer ordering first).
PILLAR_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#d62728",
    "#7f7f7f",
)
RAW_COLOUR = "#9e9e9e"
TREATED_COLOUR = "#1f77b4"


def report_style() -> dict[str, Any]:
    """matplotlib rc settings of the report's charts (use with ``matplotlib.rc_context``)."""
    return {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 96,
        "savefig.dpi": 96,
    }


def _new_figure(width: float, height: float) -> Figure:
    """A figure on an Agg canvas [inches].

    Margins are set by the callers from the label lengths rather than by a layout engine:
    constrained layout measures every text's extent and would double the drawing time.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the test environment has matplotlib
        raise ImportError(
            "the report's charts need matplotlib: pip install 'securindex[report]'"
        ) from exc
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _text_width(texts: Sequence[str], size: float = 8.0) -> float:
    """Rough width of the longest text [inches] (0.55 em per character)."""
    longest = max((len(t) for t in texts), default=0)
    return longest * 0.55 * size / 72.0


def figure_to_data_uri(figure: Figure, *, dpi: float = 96) -> str:
    """Encode a figure as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    figure
        A matplotlib figure.
    dpi
        Resolution [dots per inch]; 96 keeps a 2 000-entity report well under 5 MB.

    Returns
    -------
    str
        The URI, usable as the ``src`` of an ``<img>`` with no network access.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_contributions(
    contributions: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    weights: Mapping[str, float] | None = None,
    row_labels: Sequence[str] | None = None,
    totals: Sequence[float] | None = None,
    gap_after: int | None = None,
    gap_text: str = "",
    title: str = "",
    xlabel: str = "Contribution to the index [score]",
) -> Figure:
    """The ranking as horizontal stacked bars of each pillar's contribution.

    Parameters
    ----------
    contributions
        One row per bar, best first (drawn top to bottom); one column per pillar [score].
        Positive parts stack to the right of 0, negative parts (e.g. after a z-score
        normalisation) to the left.
    labels
        Readable pillar names for the legend.
    weights
        Each pillar's weight in the index [unitless], shown in the legend.
    row_labels
        Text of each bar (default: the row index).
    totals
        Index score of each bar [score], written at the bar's end (default: row sums).
    gap_after
        Leave a gap after this many bars (top and bottom of a long ranking) and write
        ``gap_text`` in it.
    title, xlabel
        Chart title and x-axis label (with its unit).

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = contributions.to_numpy(dtype=np.float64)
    n_rows, n_pillars = values.shape
    labels = labels or {}
    weights = weights or {}
    row_text = list(row_labels) if row_labels is not None else [str(i) for i in contributions.index]
    total = (
        np.asarray(totals, dtype=np.float64)
        if totals is not None
        else np.nansum(values, axis=1)
    )
    position = np.arange(n_rows, dtype=np.float64)
    if gap_after is not None and 0 < gap_after < n_rows:
        position[gap_after:] += 1.5
    height = 0.9 + 0.21 * (position[-1] + 1 if n_rows else 1) + 0.25 * ((n_pillars + 2) // 3)
    figure = _new_figure(8.5, max(2.5, height))
    ax = figure.add_subplot()
    clean = np.nan_to_num(values, nan=0.0)
    left_positive = np.zeros(n_rows)
    left_negative = np.zeros(n_rows)
    for k, pillar in enumerate(contributions.columns):
        part = clean[:, k]
        left = np.where(part >= 0, left_positive, left_negative)
        name = labels.get(str(pillar), str(pillar))
        if str(pillar) in weights:
            name = f"{name} (weight {weights[str(pillar)]:.2f})"
        ax.barh(
            position,
            part,
            left=left,
            height=0.78,
            color=PILLAR_COLOURS[k % len(PILLAR_COLOURS)],
            label=_shorten(name, 48),
            edgecolor="white",
            linewidth=0.4,
        )
        left_positive = left_positive + np.where(part >= 0, part, 0.0)
        left_negative = left_negative + np.where(part < 0, part, 0.0)
    span = float(np.nanmax(left_positive) - np.nanmin(left_negative)) if n_rows else 1.0
    for y, x, value in zip(position, left_positive, total, strict=True):
        if np.isfinite(value):
            ax.text(x + 0.01 * span, y, f"{value:.1f}", va="center", fontsize=7, color="#333333")
    ax.set_yticks(position, [_shorten(t, 32) for t in row_text])
    ax.invert_yaxis()
    ax.set_ylim(position[-1] + 0.7 if n_rows else 1, -0.7)
    if gap_after is not None and 0 < gap_after < n_rows and gap_text:
        ax.text(
            0.5,
            (position[gap_after - 1] + position[gap_after]) / 2,
            gap_text,
            transform=ax.get_yaxis_transform(),
            ha="center",
            va="center",
            fontsize=8,
            style="italic",
            color="#555555",
        )
    if np.any(left_negative < 0):
        ax.axvline(0.0, color="#333333", linewidth=0.8)
    ax.set_xlim(right=float(np.nanmax(left_positive)) + 0.08 * span if n_rows else 1)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, loc="left")
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0 if not title else 1.04),
        ncol=min(3, max(1, n_pillars)),
        frameon=False,
    )
    return figure


def plot_distributions(
    raw: pd.DataFrame,
    treated: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    transforms: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
    n_columns: int = 3,
) -> Figure:
    """Each indicator's histogram before (raw) and after outlier treatment.

    Parameters
    ----------
    raw, treated
        One column per indicator, pooled over entities and periods [declared units; treated
        values are in transformed units for transformed columns].
    labels, units
        Readable indicator names and their units (for the x-axis labels).
    transforms
        Transform applied to each transformed column (``log``, ``boxcox`` …); these columns
        get their own x-axis, the others share the raw column's axis and bins.
    notes
        A short text per indicator for the treated panel, e.g. ``"3 winsorised"``.
    n_columns
        Indicators per row of the grid.

    Returns
    -------
    matplotlib.figure.Figure
        A grid with two stacked panels per indicator: raw (grey) above, treated (blue) below.
    """
    labels = labels or {}
    units = units or {}
    transforms = transforms or {}
    notes = notes or {}
    columns = list(raw.columns)
    n_columns = max(1, min(n_columns, len(columns)))
    n_rows = max(1, -(-len(columns) // n_columns))
    figure = _new_figure(3.3 * n_columns + 0.4, 2.9 * n_rows)
    grid = figure.add_gridspec(2 * n_rows, n_columns)
    for k, column in enumerate(columns):
        r, c = divmod(k, n_columns)
        x_raw = raw[column].to_numpy(dtype=np.float64)
        x_treated = treated[column].to_numpy(dtype=np.float64)
        finite_raw = x_raw[np.isfinite(x_raw)]
        finite_treated = x_treated[np.isfinite(x_treated)]
        transform = transforms.get(column, "none")
        transformed = transform not in ("", "none")
        ax_raw = figure.add_subplot(grid[2 * r, c])
        ax_treated = figure.add_subplot(grid[2 * r + 1, c], sharex=None if transformed else ax_raw)
        n_bins = int(np.clip(np.sqrt(max(finite_raw.size, 1)), 8, 30))
        if transformed:
            bins_raw: Any = n_bins
            bins_treated: Any = n_bins
        else:
            both = np.concatenate([finite_raw, finite_treated])
            edges = np.histogram_bin_edges(both, bins=n_bins) if both.size else n_bins
            bins_raw = bins_treated = edges
        if finite_raw.size:
            ax_raw.hist(finite_raw, bins=bins_raw, color=RAW_COLOUR)
        if finite_treated.size:
            ax_treated.hist(finite_treated, bins=bins_treated, color=TREATED_COLOUR)
        unit = units.get(column, "")
        n_missing = int(x_raw.size - finite_raw.size)
        missing_text = f", {n_missing} missing" if n_missing else ""
        ax_raw.set_title(_shorten(labels.get(column, column), 42), loc="left")
        ax_raw.text(
            0.98,
            0.95,
            f"raw (n={finite_raw.size}{missing_text})",
            transform=ax_raw.transAxes,
            ha="right",
            va="top",
            fontsize=7,
        )
        ax_treated.text(
            0.98,
            0.95,
            _shorten("treated" + (f": {notes[column]}" if notes.get(column) else ""), 46),
            transform=ax_treated.transAxes,
            ha="right",
            va="top",
            fontsize=7,
        )
        unit_text = f"[{_shorten(unit, 34)}]" if unit else "[declared unit]"
        if transformed:
            ax_raw.set_xlabel(unit_text, fontsize=7)
            ax_treated.set_xlabel(f"{transform} of {unit_text}", fontsize=7)
        else:
            ax_raw.tick_params(labelbottom=False)
            ax_treated.set_xlabel(unit_text, fontsize=7)
        if c == 0:
            ax_raw.set_ylabel("rows")
            ax_treated.set_ylabel("rows")
    return figure


def plot_correlation(
    correlation: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    separators: Sequence[int] = (),
    title: str = "",
    annotate: bool | None = None,
) -> Figure:
    """A heat map of a correlation matrix.

    Parameters
    ----------
    correlation
        Square matrix of correlations [unitless, -1 to 1] with the same row and column labels.
    labels
        Readable names of the rows/columns.
    separators
        Positions after which to draw a separating line (e.g. between indicators and pillars).
    title
        Chart title.
    annotate
        Write each coefficient in its cell (default: when at most 16 variables).

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = labels or {}
    names = [_shorten(labels.get(str(c), str(c)), 30) for c in correlation.columns]
    k = len(names)
    side = float(np.clip(2.8 + 0.32 * k, 4.5, 15.0))
    figure = _new_figure(side + 1.6, side)
    ax = figure.add_subplot()
    matrix = correlation.to_numpy(dtype=np.float64)
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(np.arange(k), names, rotation=90)
    ax.set_yticks(np.arange(k), names)
    ax.tick_params(length=0, labelsize=8 if k <= 30 else 6)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for position in separators:
        ax.axhline(position - 0.5, color="black", linewidth=1.0)
        ax.axvline(position - 0.5, color="black", linewidth=1.0)
    if annotate is None:
        annotate = k <= 16
    if annotate:
        rows, cols = np.nonzero(np.isfinite(matrix))
        for r, c in zip(rows, cols, strict=True):
            value = matrix[r, c]
            ax.text(
                c,
                r,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(value) > 0.6 else "black",
            )
    bar = figure.colorbar(image, ax=ax, shrink=0.7)
    bar.set_label("Pearson correlation [unitless]")
    if title:
        ax.set_title(title, loc="left")
    return figure
