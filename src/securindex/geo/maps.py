"""Choropleth and cluster maps of results, indicators and spatial statistics.

:func:`plot_map` draws any node, ``rank_<node>``, indicator (at any stage), panel variable
or per-area series on the areas' polygons; :func:`plot_change` draws the change between
two periods; :func:`plot_clusters` draws the clusters of :func:`~securindex.geo.local_morans`
or :func:`~securindex.geo.getis_ord`. Classes come from mapclassify schemes registered in
:data:`SCHEMES` (``quantiles``, ``natural_breaks``, ``equal_interval``, ``user`` breaks; add
one with :func:`register_scheme`).

Colours follow the variable's polarity, so that **more secure always reads the same way**:
blue is the more secure end and red the less secure one, whether more of the variable is
better (a score, an income) or worse (a crime rate, a rank number). A variable without
polarity is drawn in a neutral ramp. Areas without data are hatched grey ("no data"),
areas a node did not score for lack of coverage are hatched apart ("not scored"), and the
treated and control areas of an evaluation can be outlined and labelled.

Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas (no pyplot, no GUI),
as the report's charts. Needs the ``geo`` and ``report`` extras.

References
----------
.. [1] S. J. Rey, S. Arribas-Bel and L. J. Wolf (2023), Geographic Data Science with Python,
   ch. 5 "Choropleth mapping", CRC Press, https://geographicdata.science/book
.. [2] G. F. Jenks (1967), The data model concept in statistical mapping, International
   Yearbook of Cartography 7, 186–190 (natural breaks).
.. [3] C. A. Brewer (1994), Color use guidelines for mapping and visualization, in
   Visualization in Modern Cartography, 123–147 (diverging schemes around a midpoint).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex._extras import require
from securindex.errors import DataError, SpecError
from securindex.geo.values import SpatialValues, spatial_values

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CLUSTER_COLOURS",
    "SCHEMES",
    "plot_change",
    "plot_clusters",
    "plot_map",
    "register_scheme",
]

MISSING_COLOUR = "#f0f0f0"
NOT_SCORED_COLOUR = "#ffffff"
EDGE_COLOUR = "#8a8a8a"
SECURE_RAMP = "RdYlBu"  # red (less secure) → blue (more secure)
NEUTRAL_RAMP = "cividis"

CLUSTER_COLOURS: dict[str, str] = {
    # GeoDa's LISA colours; hot and cold spots as HH and LL
    "HH": "#d7191c",
    "LL": "#2c7bb6",
    "LH": "#abd9e9",
    "HL": "#fdae61",
    "hot spot": "#d7191c",
    "cold spot": "#2c7bb6",
    "not significant": "#e8e8e8",
    "island": "#ffffff",
    "no data": "#ffffff",
    "not computed": "#ffffff",
}
"""Colour of each cluster label of the local statistics' tables."""

Classifier = Callable[[np.ndarray, int, Sequence[float] | None], Any]
_SCHEMES: dict[str, Classifier] = {}
SCHEMES = MappingProxyType(_SCHEMES)
"""Classification schemes, name → ``(values, k, bins) -> mapclassify classifier``."""


def register_scheme(name: str) -> Callable[[Classifier], Classifier]:
    """Register a classification scheme: ``f(values, k, bins)`` returning an object with
    mapclassify's ``bins`` (upper bounds) and ``yb`` (class of each value)."""

    def decorate(function: Classifier) -> Classifier:
        if name in _SCHEMES:
            raise SpecError(f"scheme '{name}' is already registered")
        _SCHEMES[name] = function
        return function

    return decorate


@register_scheme("quantiles")
def _quantiles(y: np.ndarray, k: int, bins: Sequence[float] | None) -> Any:
    import mapclassify

    return mapclassify.Quantiles(y, k=k)


@register_scheme("natural_breaks")
def _natural_breaks(y: np.ndarray, k: int, bins: Sequence[float] | None) -> Any:
    import mapclassify

    with warnings.catch_warnings():  # without numba it says so on every map: same breaks
        warnings.filterwarnings("ignore", "Numba not installed", UserWarning)
        return mapclassify.FisherJenks(y, k=k)  # Jenks' optimal breaks, computed exactly


@register_scheme("equal_interval")
def _equal_interval(y: np.ndarray, k: int, bins: Sequence[float] | None) -> Any:
    import mapclassify

    return mapclassify.EqualInterval(y, k=k)


@register_scheme("user")
def _user(y: np.ndarray, k: int, bins: Sequence[float] | None) -> Any:
    import mapclassify

    if not bins:
        raise SpecError("the 'user' scheme needs bins=[upper bound of each class, ...]")
    return mapclassify.UserDefined(y, bins=list(bins))


# =============================================================================================
# helpers
# =============================================================================================
def _modules() -> None:
    require("geo", "maps")
    require("report", "maps")


def _figure(width: float = 6.4, height: float = 6.0) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _period_of(values: pd.Series, period: Any) -> Any:
    periods = pd.unique(values.index.get_level_values("period"))
    if period is None:
        known = [p for p in periods if not pd.isna(p)]
        return max(known) if known else periods[0]
    if period not in set(periods):
        raise DataError(f"no period {period!r}; periods are {sorted(map(str, periods))}")
    return period


def _slice(values: pd.Series, period: Any) -> pd.Series:
    periods = values.index.get_level_values("period")
    rows = pd.isna(periods) if pd.isna(period) else periods == period
    part = values[np.asarray(rows)]
    return pd.Series(part.to_numpy(), index=part.index.get_level_values("entity"))


def _ramp(polarity: str, diverging: bool = False) -> tuple[Any, str]:
    """Colormap and a note saying which end is more secure."""
    from matplotlib import colormaps

    if polarity == "positive":
        return colormaps[SECURE_RAMP], "blue: more secure"
    if polarity == "negative":
        return colormaps[SECURE_RAMP].reversed(), "blue: more secure"
    return colormaps["PuOr" if diverging else NEUTRAL_RAMP], ""


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _base(frame: Any, ax: Any) -> None:
    ax.set_axis_off()
    ax.set_aspect("equal")
    frame.boundary.plot(ax=ax, color=EDGE_COLOUR, linewidth=0.4) if len(frame) else None


def _outline(frame: Any, ax: Any, treated: Sequence[Any], control: Sequence[Any]) -> list[Any]:
    """Outline treated (solid black) and control (dashed) areas; legend handles."""
    from matplotlib.lines import Line2D

    handles = []
    styles: tuple[tuple[Sequence[Any], Any, str], ...] = (
        (treated, "-", "treated"),
        (control, "--", "control"),
    )
    for entities, style, label in styles:
        if not entities:
            continue
        wanted = _keys(frame, entities)
        on_map = set(frame["area"])
        unknown = [e for e, k in zip(entities, wanted, strict=True) if k not in on_map]
        if unknown:
            raise DataError(f"{label} areas not on the map: {list(unknown)[:10]}")
        keys = set(wanted)
        part = frame[frame["area"].isin(keys)]
        part.boundary.plot(ax=ax, color="black", linewidth=1.6, linestyle=style)
        handles.append(Line2D([], [], color="black", linewidth=1.6, linestyle=style, label=label))
    return handles


def _keys(frame: Any, entities: Sequence[Any]) -> list[str]:
    from securindex._keys import as_keys

    return [str(k) for k in as_keys(pd.Index(list(entities)))]


def _frame_with(areas: Any, values: pd.Series, flags: pd.Series | None) -> Any:
    columns = pd.DataFrame({"value": values})
    if flags is not None:
        columns["not_scored"] = flags.reindex(values.index).fillna(False).astype(bool)
    frame = areas.to_frame(columns)
    if "not_scored" not in frame.columns:
        frame["not_scored"] = False
    frame["not_scored"] = frame["not_scored"].fillna(False).astype(bool)
    return frame


def _draw_gaps(frame: Any, ax: Any) -> list[Any]:
    """Hatched 'no data' and 'not scored' areas; their legend handles."""
    from matplotlib.patches import Patch

    handles = []
    not_scored = frame["not_scored"] & frame["value"].isna()
    missing = frame["value"].isna() & ~not_scored
    if missing.any():
        frame[missing].plot(
            ax=ax, color=MISSING_COLOUR, hatch="///", edgecolor=EDGE_COLOUR, linewidth=0.4
        )
        handles.append(
            Patch(
                facecolor=MISSING_COLOUR,
                hatch="///",
                edgecolor=EDGE_COLOUR,
                label=f"no data ({int(missing.sum())})",
            )
        )
    if not_scored.any():
        frame[not_scored].plot(
            ax=ax, color=NOT_SCORED_COLOUR, hatch="xx", edgecolor=EDGE_COLOUR, linewidth=0.4
        )
        handles.append(
            Patch(
                facecolor=NOT_SCORED_COLOUR,
                hatch="xx",
                edgecolor=EDGE_COLOUR,
                label=f"not scored ({int(not_scored.sum())})",
            )
        )
    return handles


def _areas_of(data: SpatialValues, areas: Any) -> Any:
    areas = areas if areas is not None else data.areas
    if areas is None:
        raise DataError(
            f"'{data.name}' has no area polygons to draw on: name them in the data dictionary "
            "(areas: {file, key}) or pass areas="
        )
    return areas


def _unit_text(unit: str) -> str:
    return f" [{unit}]" if unit else ""


# =============================================================================================
# choropleths
# =============================================================================================
def plot_map(
    source: Any,
    name: str | None = None,
    *,
    stage: str = "raw",
    period: Any = None,
    scheme: str = "quantiles",
    k: int = 5,
    bins: Sequence[float] | None = None,
    areas: Any = None,
    treated: Sequence[Any] = (),
    control: Sequence[Any] = (),
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """A choropleth of one variable in one period.

    Parameters
    ----------
    source, name, stage
        What to draw (:func:`~securindex.geo.values.spatial_values`): an IndexResult and a
        node (default: the index), ``rank_<node>`` or an indicator; a Panel and a
        variable; or a Series indexed by entity (or entity and period).
    period
        The period to draw; default: the latest.
    scheme
        Classification (:data:`SCHEMES`): ``quantiles`` (default), ``natural_breaks``,
        ``equal_interval`` or ``user`` (with ``bins``).
    k
        Number of classes (``quantiles``, ``natural_breaks``, ``equal_interval``).
    bins
        Upper bound of each class for ``scheme="user"`` [the variable's unit].
    areas
        The polygons; default: those of ``source``.
    treated, control
        Entities of an evaluation to outline (solid: treated, dashed: control).
    title
        Title; default: the variable's name and the period.
    ax
        A matplotlib Axes to draw on; default: a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Legend entries are the class intervals in the variable's unit, then "no data" and
        "not scored" when some areas are.

    Raises
    ------
    DataError
        No polygons, an unknown name or period, or nothing to draw.
    SpecError
        An unknown scheme.
    """
    _modules()
    data = spatial_values(source, name, stage=stage)
    areas = _areas_of(data, areas)
    period = _period_of(data.values, period)
    values = _slice(data.values, period)
    flags = _slice(data.not_scored, period) if data.not_scored is not None else None
    frame = _frame_with(areas, values, flags)
    present = frame["value"].dropna().to_numpy(dtype=np.float64)
    if not len(present):
        raise DataError(f"'{data.name}' has no value in period {period} to draw")
    if scheme not in _SCHEMES:
        raise SpecError(f"unknown scheme '{scheme}'; registered: {', '.join(sorted(_SCHEMES))}")
    n_classes = min(k, len(np.unique(present)))
    classifier = _SCHEMES[scheme](present, max(n_classes, 1), bins)
    upper = np.asarray(classifier.bins, dtype=np.float64)
    lower = np.r_[present.min(), upper[:-1]]
    cmap, note = _ramp(data.polarity)
    colours = (
        [cmap(x) for x in np.linspace(0.08, 0.92, len(upper))] if len(upper) > 1 else [cmap(0.5)]
    )
    figure, ax = _axes(ax)
    _base(frame, ax)
    has = frame["value"].notna()
    classes = np.asarray(classifier.yb)
    from matplotlib.patches import Patch

    handles = []
    for c, colour in enumerate(colours):
        part = frame[has][classes == c]
        if len(part):
            part.plot(ax=ax, color=colour, edgecolor=EDGE_COLOUR, linewidth=0.4)
        count = int((classes == c).sum())
        handles.append(
            Patch(
                facecolor=colour,
                edgecolor=EDGE_COLOUR,
                label=f"{_number(lower[c])} – {_number(upper[c])} ({count})",
            )
        )
    handles += _draw_gaps(frame, ax)
    handles += _outline(frame, ax, treated, control)
    legend_title = f"{data.label}{_unit_text(data.unit)}" + (f"\n{note}" if note else "")
    ax.legend(
        handles=handles,
        title=legend_title,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        fontsize=8,
        title_fontsize=8,
    )
    ax.set_title(
        title or f"{data.label}, {period}" if not pd.isna(period) else (title or data.label)
    )
    figure.subplots_adjust(left=0.02, right=0.62, top=0.93, bottom=0.02)
    return figure


def plot_change(
    source: Any,
    name: str | None = None,
    *,
    start: Any,
    end: Any,
    stage: str = "raw",
    areas: Any = None,
    treated: Sequence[Any] = (),
    control: Sequence[Any] = (),
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """The change of a variable from ``start`` to ``end`` (end − start), on a diverging ramp
    centred at no change: blue where the change made the area more secure, red where less.

    Parameters are as :func:`plot_map`; ``start`` and ``end`` are periods.
    """
    _modules()
    data = spatial_values(source, name, stage=stage)
    areas = _areas_of(data, areas)
    first = _slice(data.values, _period_of(data.values, start))
    last = _slice(data.values, _period_of(data.values, end))
    change = last.sub(first.reindex(last.index))
    frame = _frame_with(areas, change, None)
    present = frame["value"].dropna().to_numpy(dtype=np.float64)
    if not len(present):
        raise DataError(f"'{data.name}' has no area with values in both {start} and {end}")
    from matplotlib.colors import TwoSlopeNorm

    cmap, note = _ramp(data.polarity, diverging=True)
    limit = float(np.max(np.abs(present))) or 1.0
    figure, ax = _axes(ax)
    _base(frame, ax)
    frame[frame["value"].notna()].plot(
        ax=ax,
        column="value",
        cmap=cmap,
        norm=TwoSlopeNorm(0.0, -limit, limit),
        edgecolor=EDGE_COLOUR,
        linewidth=0.4,
    )
    handles = _draw_gaps(frame, ax) + _outline(frame, ax, treated, control)
    from matplotlib.cm import ScalarMappable

    bar = figure.colorbar(ScalarMappable(TwoSlopeNorm(0.0, -limit, limit), cmap), ax=ax, shrink=0.6)
    bar.set_label(f"change in {data.label}{_unit_text(data.unit)}" + (f" ({note})" if note else ""))
    if handles:
        ax.legend(handles=handles, loc="lower left", frameon=False, fontsize=8)
    ax.set_title(title or f"{data.label}: change {start} → {end}")
    return figure


def plot_clusters(
    table: pd.DataFrame,
    areas: Any,
    *,
    period: Any = None,
    polarity: str = "none",
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """Map the clusters of a local statistic's table (:func:`local_morans`,
    :func:`getis_ord`).

    Parameters
    ----------
    table
        The tidy table (``entity``, ``period``, ``cluster`` columns).
    areas
        The polygons.
    period
        The period to draw; default: the latest in the table.
    polarity
        The variable's polarity, to say in the legend whether high values are more or
        less secure (``HH: high values — less secure`` for a crime rate).
    """
    _modules()
    from matplotlib.patches import Patch

    if not {"entity", "period", "cluster"} <= set(table.columns):
        raise DataError("a cluster map needs a table from local_morans or getis_ord")
    periods = pd.unique(table["period"])
    if period is None:
        period = periods[-1]
    part = table[(table["period"] == period) | (pd.isna(table["period"]) & pd.isna(period))]
    labels = pd.Series(part["cluster"].to_numpy(), index=part["entity"].to_numpy())
    frame = areas.to_frame(pd.DataFrame({"cluster": labels}))
    frame["cluster"] = frame["cluster"].fillna("no data")
    figure, ax = _axes(ax)
    _base(frame, ax)
    meaning = {
        "positive": ("more secure", "less secure"),
        "negative": ("less secure", "more secure"),
    }
    high, low = meaning.get(polarity, ("", ""))
    describe = {
        "HH": f"high–high{f' ({high})' if high else ''}",
        "LL": f"low–low{f' ({low})' if low else ''}",
        "HL": "high among low",
        "LH": "low among high",
        "hot spot": f"hot spot: high values{f' ({high})' if high else ''}",
        "cold spot": f"cold spot: low values{f' ({low})' if low else ''}",
    }
    colours = dict(CLUSTER_COLOURS)
    if polarity == "positive":  # high values are the secure ones: they take the blue end
        for a, b in (("HH", "LL"), ("HL", "LH"), ("hot spot", "cold spot")):
            colours[a], colours[b] = CLUSTER_COLOURS[b], CLUSTER_COLOURS[a]
    handles = []
    for label, colour in colours.items():
        members = frame[frame["cluster"] == label]
        if not len(members):
            continue
        hatch = "///" if label in ("no data", "island", "not computed") else None
        members.plot(ax=ax, color=colour, hatch=hatch, edgecolor=EDGE_COLOUR, linewidth=0.4)
        handles.append(
            Patch(
                facecolor=colour,
                hatch=hatch,
                edgecolor=EDGE_COLOUR,
                label=f"{describe.get(label, label)} ({len(members)})",
            )
        )
    variable = str(part["variable"].iloc[0]) if "variable" in part.columns and len(part) else ""
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8
    )
    ax.set_title(title or f"Clusters of {variable}, {period}")
    figure.subplots_adjust(left=0.02, right=0.62, top=0.93, bottom=0.02)
    return figure


def _axes(ax: Any) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    figure = _figure()
    return figure, figure.add_subplot(1, 1, 1)
