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
import re
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
        # names are text, never TeX: "$5$ Street" or "$$" must not reach mathtext
        "text.parse_math": False,
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # newlines, tabs …: no glyph in any font


def _shorten(text: str, length: int) -> str:
    """``text`` on one line (control characters as spaces), cut to ``length`` with '…'."""
    text = _CONTROL.sub(" ", str(text))
    return text if len(text) <= length else text[: length - 1] + "…"


def _text_width(figure: Figure, texts: Sequence[str], size: float = 8.0) -> float:
    """Width of the widest text at ``size`` points, as the Agg renderer draws it [inches]."""
    if not texts:
        return 0.0
    from matplotlib.font_manager import FontProperties

    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    font = FontProperties(size=size)
    widest = max(renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in texts)
    return float(widest) / figure.dpi


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
    row_text = [_shorten(t, 32) for t in row_text]
    total = (
        np.asarray(totals, dtype=np.float64) if totals is not None else np.nansum(values, axis=1)
    )
    position = np.arange(n_rows, dtype=np.float64)
    if gap_after is not None and 0 < gap_after < n_rows:
        position[gap_after:] += 1.5
    n_slots = float(position[-1] + 1) if n_rows else 1.0
    has_negative = bool(np.any(np.nan_to_num(values) < 0))
    n_handles = n_pillars + int(has_negative)
    legend_rows = -(-max(n_handles, 1) // 3)
    top = 0.25 + (0.3 if title else 0.0) + 0.2 * legend_rows  # [inches]
    width = 8.5
    height = max(2.5, top + 0.55 + 0.21 * n_slots)
    figure = _new_figure(width, height)
    bottom, left, right = 0.55, 0.2 + _text_width(figure, row_text), 0.2
    ax = figure.add_axes(
        (left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height)
    )
    clean = np.nan_to_num(values, nan=0.0)
    left_positive = np.zeros(n_rows)
    left_negative = np.zeros(n_rows)
    handles: list[Any] = []
    for k, pillar in enumerate(contributions.columns):
        part = clean[:, k]
        start = np.where(part >= 0, left_positive, left_negative)
        name = labels.get(str(pillar), str(pillar))
        weight = weights.get(str(pillar), np.nan)
        if np.isfinite(weight):
            name = f"{name} (weight {weight:.2f})"
        handles.append(
            ax.barh(
                position,
                part,
                left=start,
                height=0.78,
                color=PILLAR_COLOURS[k % len(PILLAR_COLOURS)],
                label=_shorten(name, 48),
                edgecolor="white",
                linewidth=0.4,
            )
        )
        left_positive = left_positive + np.where(part >= 0, part, 0.0)
        left_negative = left_negative + np.where(part < 0, part, 0.0)
    low = float(np.min(left_negative)) if n_rows else 0.0
    high = float(np.max(left_positive)) if n_rows else 1.0
    span = max(high - low, 1e-9)
    for y, x, value in zip(position, left_positive, total, strict=True):
        if np.isfinite(value):
            ax.text(x + 0.01 * span, y, f"{value:.1f}", va="center", fontsize=7, color="#333333")
    ax.set_yticks(position, row_text)
    ax.set_ylim(n_slots - 0.3, -0.7)
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
    if has_negative:
        # with negative parts the bar's length is not the score: mark the net score
        ax.axvline(0.0, color="#333333", linewidth=0.8)
        handles.append(
            ax.scatter(total, position, marker="|", s=120, color="black", label="index score")
        )
    ax.set_xlim(min(low, 0.0) - 0.01 * span, high + 0.08 * span)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    if title:
        figure.text(0.01, 1 - 0.12 / height, title, ha="left", va="top", fontsize=10)
    figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(left / width - 0.01, 1 - (0.45 if title else 0.1) / height),
        ncol=min(3, max(1, n_handles)),
        frameon=False,
        borderaxespad=0.0,
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
    from matplotlib.ticker import MaxNLocator

    labels = labels or {}
    units = units or {}
    transforms = transforms or {}
    notes = notes or {}
    columns = list(raw.columns)
    n_columns = max(1, min(n_columns, len(columns)))
    n_rows = max(1, -(-len(columns) // n_columns))
    cell_width, cell_height = 3.3, 2.9  # [inches] per indicator
    width, height = cell_width * n_columns + 0.5, cell_height * n_rows
    figure = _new_figure(width, height)
    figure.subplots_adjust(
        left=0.55 / width,
        right=1 - 0.15 / width,
        bottom=0.3 / height,
        top=1 - 0.3 / height,
        wspace=0.3,
        hspace=0.45,
    )
    grid = figure.add_gridspec(n_rows, n_columns)
    for k, column in enumerate(columns):
        r, c = divmod(k, n_columns)
        x_raw = raw[column].to_numpy(dtype=np.float64)
        x_treated = treated[column].to_numpy(dtype=np.float64)
        finite_raw = x_raw[np.isfinite(x_raw)]
        finite_treated = x_treated[np.isfinite(x_treated)]
        transform = transforms.get(column, "none")
        transformed = transform not in ("", "none")
        pair = grid[r, c].subgridspec(2, 1, hspace=0.75)
        ax_raw = figure.add_subplot(pair[0])
        ax_treated = figure.add_subplot(pair[1])
        n_bins = int(np.clip(np.sqrt(max(finite_raw.size, 1)), 8, 30))
        # one filled step artist per histogram (not one patch per bar): much faster to draw
        for ax, values, colour in (
            (ax_raw, finite_raw, RAW_COLOUR),
            (ax_treated, finite_treated, TREATED_COLOUR),
        ):
            if values.size:
                counts, edges = np.histogram(values, bins=n_bins)
                ax.stairs(counts, edges, fill=True, color=colour)
                ax.set_ylim(0, max(int(counts.max()), 1) * 1.25)
        unit = units.get(column, "")
        n_missing = int(x_raw.size - finite_raw.size)
        missing_text = f", {n_missing} missing" if n_missing else ""
        ax_raw.set_title(_shorten(labels.get(column, column), 42), loc="left", pad=3)
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
        ax_raw.set_xlabel(unit_text, fontsize=7, labelpad=1)
        ax_treated.set_xlabel(
            f"{transform} of {unit_text}" if transformed else unit_text, fontsize=7, labelpad=1
        )
        for ax in (ax_raw, ax_treated):
            ax.tick_params(labelsize=7, pad=1)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
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
    k = max(len(names), 1)
    size = 8.0 if k <= 30 else 6.0
    cell = float(np.clip(7.0 / k, 0.12, 0.4))  # [inches]
    side = cell * k
    figure = _new_figure(6.0, 6.0)
    margin = 0.25 + _text_width(figure, names, size)
    top = 0.45 if title else 0.15
    width = margin + side + 1.3
    height = top + side + margin
    figure.set_size_inches(width, height)
    ax = figure.add_axes((margin / width, margin / height, side / width, side / height))
    colour_axes = figure.add_axes(
        (
            (margin + side + 0.25) / width,
            (margin + 0.15 * side) / height,
            0.15 / width,
            0.7 * side / height,
        )
    )
    matrix = correlation.to_numpy(dtype=np.float64)
    image = ax.imshow(
        matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest", aspect="auto"
    )
    ax.set_xticks(np.arange(len(names)), names, rotation=90)
    ax.set_yticks(np.arange(len(names)), names)
    ax.tick_params(length=0, labelsize=size)
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
                float(c),
                float(r),
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(value) > 0.6 else "black",
            )
    bar = figure.colorbar(image, cax=colour_axes)
    bar.set_label("Pearson correlation [unitless]")
    if title:
        figure.text(0.01, 1 - 0.1 / height, title, ha="left", va="top", fontsize=10)
    return figure


def plot_trend(
    scores: pd.DataFrame,
    *,
    columns: Sequence[str],
    labels: Mapping[str, str] | None = None,
    highlight: Mapping[str, str] | None = None,
    period_labels: Mapping[Any, str] | None = None,
) -> Figure:
    """Scores over periods: the median and interquartile range of every entity, per node.

    Parameters
    ----------
    scores
        Indexed by (entity, period), one column per node [score].
    columns
        The nodes to draw, one panel each (the index first, then its pillars).
    labels
        Readable node names for the panel titles.
    highlight
        Entity id → display name of entities drawn as their own lines (at most 6 are).
    period_labels
        Text of each period on the x axis ("1995", "2020-Q1").

    Returns
    -------
    matplotlib.figure.Figure
        One panel per node, side by side (wrapped after three).
    """
    labels = labels or {}
    highlight = dict(list((highlight or {}).items())[:6])
    periods = sorted(scores.index.unique("period"))
    positions = np.arange(len(periods), dtype=np.float64)
    ticks = [str((period_labels or {}).get(p, p)) for p in periods]
    n = len(columns)
    n_cols = min(3, n)
    n_rows = int(np.ceil(n / n_cols))
    figure = _new_figure(3.4 * n_cols + 0.6, 2.5 * n_rows + 0.5)
    for k, column in enumerate(columns):
        ax = figure.add_subplot(n_rows, n_cols, k + 1)
        wide = scores[column].unstack("period").reindex(columns=periods)
        values = wide.to_numpy(dtype=np.float64)
        q1, median, q3 = (_column_percentile(values, q) for q in (25, 50, 75))
        ax.fill_between(positions, q1, q3, color="#dde3ea", label="interquartile range")
        ax.plot(positions, median, color="#5b6570", linewidth=2, label="median")
        for i, (entity, name) in enumerate(highlight.items()):
            if entity in wide.index:
                ax.plot(
                    positions,
                    wide.loc[entity].to_numpy(dtype=np.float64),
                    marker="o",
                    markersize=3,
                    linewidth=1.2,
                    color=f"C{i}",
                    label=_shorten(name, 28),
                )
        ax.set_title(_shorten(labels.get(column, column), 40))
        step = max(1, len(periods) // 6)
        ax.set_xticks(positions[::step], ticks[::step])
        ax.set_xlim(positions[0] - 0.2, positions[-1] + 0.2)
        ax.grid(axis="y", color="#e6e9ec", linewidth=0.6)
        if k == 0:
            ax.set_ylabel("score")
    handles, names = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncol=min(4, len(names)), frameon=False)
    figure.subplots_adjust(
        left=0.07, right=0.98, top=0.9, bottom=0.16 + 0.02 * (n_rows - 1), wspace=0.25, hspace=0.5
    )
    return figure


def _column_percentile(values: np.ndarray, q: float) -> np.ndarray:
    """The ``q``-th percentile of each column, ignoring NaN (NaN for an empty column)."""
    out = np.full(values.shape[1], np.nan)
    for j in range(values.shape[1]):
        column = values[:, j]
        column = column[~np.isnan(column)]
        if column.size:
            out[j] = np.percentile(column, q)
    return out
