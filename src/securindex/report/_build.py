"""Turn a :class:`ReportData` into the values the HTML template shows.

Everything here is computed on whole frames (pandas/numpy); loops only run over what is
displayed (pillars, indicators, the ≤ 50 bars of the ranking chart, the selected profiles),
never over all entities, so a 2 000-entity report renders in seconds.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from securindex.errors import DataError
from securindex.report._data import ENTITY, PERIOD, ReportData

__all__ = ["ReportOptions", "build_context"]

# Names of the audit's (stage, action) pairs, in the order the audit section lists them.
AUDIT_TITLES: dict[tuple[str, str], tuple[str, str]] = {
    ("screen", "excluded"): (
        "Rows screened out",
        "Entity-periods removed before imputation because too few indicators were present; "
        "they have no score.",
    ),
    ("impute", "imputed"): (
        "Imputed values",
        "Missing indicator values filled in by the imputation method (detail: method and the "
        "value used, in the indicator's unit).",
    ),
    ("treat", "winsorised"): (
        "Winsorised values",
        "Outliers pulled in to the nearest non-outlying value (detail: before -> after, in the "
        "indicator's unit).",
    ),
    ("treat", "transformed"): (
        "Transformed indicators",
        "Indicators whose whole column was transformed (log, Box-Cox) to reduce skewness.",
    ),
    ("aggregate", "not scored"): (
        "Scores not computed",
        "Node scores left empty because the children present carried too little of the "
        "node's weight (the node's coverage rule).",
    ),
}


@dataclass(frozen=True)
class ReportOptions:
    """What to show; see :func:`securindex.report.render_report` for each field."""

    entities: tuple[str, ...] = ()
    n_top: int = 10
    n_chart: int = 25
    all_profiles_max: int = 30
    max_rows: int = 50
    title: str | None = None
    date: str | None = None


# -- formatting ------------------------------------------------------------------------------
def label_of(value: Any) -> str:
    """Display text of an entity or period label (2020.0 → "2020", dates without 00:00)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return str(value)


def fmt_value(value: Any) -> str:
    """A measured value with a sensible number of digits ("—" when missing)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    magnitude = abs(x)
    if magnitude >= 1000:
        return f"{x:,.0f}".replace(",", "\u202f")
    if magnitude >= 100:
        return f"{x:.1f}"
    if magnitude >= 1:
        return f"{x:.2f}"
    if magnitude == 0:
        return "0"
    return f"{x:.3g}"


def fmt_score(value: Any) -> str:
    """A score with one decimal ("—" when missing, never "-0.0")."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def fmt_share(value: float) -> str:
    """A share [unitless] as a percentage with one decimal."""
    return f"{100 * value:.1f}%" if math.isfinite(value) else "—"


def _number(value: Any) -> str:
    """A cell's sort key for the inline sorting script ("" for missing)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    return repr(x) if math.isfinite(x) else ""


def _shorten(text: str, length: int = 24) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick positions covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    raw_step = (hi - lo) / max(n - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw_step)
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    return np.arange(start, stop + step / 2, step)


def _unit(data: ReportData, indicator: str) -> str:
    """The indicator's unit as people read it ("per 100 000 inhabitants")."""
    from securindex.units import unit_label

    text = data.units.get(indicator, "")
    return unit_label(text) if text else ""


PRINT_ROWS = 25
"""Best and worst entities of the ranking table kept when the report is printed."""


def _trend(
    data: ReportData, profile_entities: list[str], options: ReportOptions
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The trend section and its chart's arguments, for results with several periods."""
    periods = data.periods
    if len(periods) < 2:
        return None, None
    root = data.framework_id
    requested = [data.resolve_entity(str(e)) for e in options.entities]
    chosen = [e for e in requested if e is not None]
    if not chosen and len(profile_entities) <= 6:
        chosen = list(profile_entities)
    highlight = {e: data.display(e) for e in chosen[:6]}
    normalise = data.pipeline.get("normalise", "")
    if "per_period" in normalise:
        comparability = (
            "Indicators are normalised within each period, so a score is a position among "
            "the entities of its period: compare ranks over time, not levels."
        )
    else:
        comparability = (
            "Normalisation uses one reference for every period, so scores are comparable over time."
        )
    section = {
        "first": label_of(periods[0]),
        "last": label_of(periods[-1]),
        "n_periods": len(periods),
        "highlighted": list(highlight.values()),
        "comparability": comparability,
    }
    chart = {
        "scores": data.scores,
        "columns": [root, *data.pillars],
        "labels": {c: data.label(c) for c in [root, *data.pillars]},
        "highlight": highlight,
        "period_labels": {p: label_of(p) for p in periods},
    }
    return section, chart


# -- the pieces ----------------------------------------------------------------------------------
def _slice(frame: pd.DataFrame, period: Any) -> pd.DataFrame:
    """Rows of one period, indexed by entity."""
    return frame.xs(period, level=PERIOD)


def _percentiles(values: pd.DataFrame) -> pd.DataFrame:
    """Each cell's position among the entities of its column [0 = worst, 100 = best]."""
    ranks = values.rank(method="average")
    count = values.count()
    denominator = (count - 1).where(count > 1, np.nan)
    pct = (ranks - 1).div(denominator, axis=1) * 100.0
    return pct.where(~(values.notna() & (count <= 1)), 50.0)


def _tied_at_best(values: pd.DataFrame) -> pd.DataFrame:
    """True where an entity has its column's best value and at least one other entity too."""
    best = values.eq(values.max())
    return best & (best.sum() > 1)


def _contributions(data: ReportData, latest: pd.DataFrame) -> pd.DataFrame:
    """Each pillar's weighted contribution to the index, per entity [score].

    ``w_p · s_p``, rescaled so that the parts sum to the index score: exact for the
    arithmetic mean (including weights renormalised over present pillars), and a
    proportional split of the index for other aggregators.
    """
    root = data.framework_id
    pillars = list(data.pillars)
    weights = data.weights.get(root, pd.Series(1.0 / len(pillars), index=pillars))
    weights = weights.reindex(pillars).fillna(0.0)
    values = latest[pillars]
    parts = values.mul(weights, axis=1)
    total = parts.sum(axis=1, min_count=1)
    index = latest[root]
    ratio = (index / total).where(total.abs() > 1e-12, 1.0).fillna(1.0)
    return parts.mul(ratio, axis=0)


def _influence(contributions: pd.DataFrame, index: pd.Series) -> pd.Series:
    """Share of the variance of the index carried by each pillar [unitless, sums to 1].

    ``cov(c_p, I) / var(I)`` over entities (complete cases). For an arithmetic index the
    shares add up to 1 exactly, since I = Σ c_p.
    """
    frame = contributions.assign(__index__=index).dropna()
    if len(frame) < 3:
        return pd.Series(np.nan, index=contributions.columns)
    centred = frame - frame.mean()
    variance = float((centred["__index__"] ** 2).sum())
    if variance <= 0:
        return pd.Series(np.nan, index=contributions.columns)
    covariance = centred[contributions.columns].mul(centred["__index__"], axis=0).sum()
    return covariance / variance


def _transformed(data: ReportData) -> dict[str, str]:
    """Indicators whose column was transformed (log, Box-Cox …) and the transform's name."""
    if "indicator" not in data.treatment or "transform" not in data.treatment:
        return {}
    names = data.treatment.set_index("indicator")["transform"].fillna("none").astype(str)
    return {str(k): v for k, v in names.items() if v not in ("none", "nan", "")}


def _tree_rows(data: ReportData) -> list[dict[str, Any]]:
    treatment = data.treatment.set_index("indicator") if "indicator" in data.treatment else None
    rows: list[dict[str, Any]] = []

    def visit(node: str, depth: int, share: float) -> None:
        weights = data.weights.get(node, pd.Series(dtype=np.float64))
        for child in data.tree.get(node, ()):
            weight = float(weights.get(child, np.nan))
            effective = share * weight if math.isfinite(weight) else math.nan
            is_node = child in data.tree
            if not is_node and child in data.effective_weights.index:
                effective = float(data.effective_weights[child])
            treat_text = ""
            if treatment is not None and child in treatment.index:
                record = treatment.loc[child]
                parts = [str(record.get("method", ""))]
                transform = str(record.get("transform", "none") or "none")
                if transform not in ("none", "nan"):
                    parts.append(transform)
                treat_text = " / ".join(p for p in parts if p and p != "nan")
            normalise_text = ""
            if child in data.normalisation.index and "method" in data.normalisation:
                normalise_text = str(data.normalisation.loc[child, "method"])
            polarity = data.polarity.get(child, "")
            rows.append(
                {
                    "id": child,
                    "label": data.label(child),
                    "depth": depth,
                    "kind": ("pillar" if depth == 1 else "node") if is_node else "indicator",
                    "weight": fmt_share(weight),
                    "effective": fmt_share(effective),
                    "bar": f"{100 * effective:.1f}" if math.isfinite(effective) else "0",
                    "polarity": {"positive": "+", "negative": "−"}.get(polarity, ""),
                    "polarity_text": {
                        "positive": "higher is more secure",
                        "negative": "higher is less secure",
                    }.get(polarity, ""),
                    "unit": _unit(data, child),
                    "treat": treat_text,
                    "normalise": normalise_text,
                }
            )
            if is_node:
                visit(child, depth + 1, effective if math.isfinite(effective) else math.nan)

    visit(data.framework_id, 1, 1.0)
    return rows


def fmt_count(value: Any) -> str:
    """A count with thin-space thousands separators: 4 726."""
    return f"{int(value):,}".replace(",", "\u202f")


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    """A small frame as headers, rows of text, and which columns are numbers."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    # ids and periods are labels, not quantities: 1995 stays "1995", never "1 995"
    labels = [str(c) in (ENTITY, PERIOD, "year", "item", "indicator") for c in frame.columns]

    def cell(value: Any, is_label: bool) -> str:
        if is_label:
            return label_of(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return fmt_count(value)
        if isinstance(value, float):
            return fmt_value(value)
        return label_of(value)

    return {
        "headers": [str(c) for c in frame.columns],
        "numeric": [n and not lab for n, lab in zip(numeric, labels, strict=True)],
        "rows": [
            [cell(v, lab) for v, lab in zip(row, labels, strict=True)]
            for row in frame.itertuples(index=False)
        ],
    }


def _audit_sections(data: ReportData, max_rows: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    sections: list[dict[str, Any]] = []
    counts: dict[str, int] = {}

    not_computed = data.indicator_audit
    counts["not computed"] = len(not_computed)
    if len(not_computed):
        grouped = (
            not_computed.groupby(["indicator", "reason"], sort=False).size().reset_index(name="n")
        )
        grouped = grouped.sort_values("n", ascending=False, kind="stable")
        grouped["indicator"] = grouped["indicator"].map(lambda i: data.label(str(i)))
        detail = not_computed.head(max_rows).copy()
        detail["indicator"] = detail["indicator"].map(lambda i: data.label(str(i)))
        sections.append(
            {
                "key": "not-computed",
                "title": "Values that could not be computed",
                "description": "Indicator values missing before any processing: an input was "
                "missing, a denominator was zero, and so on. Imputation may have filled some "
                "of them afterwards.",
                "total": len(not_computed),
                "summary": _table(grouped.head(max_rows).rename(columns={"n": "values"})),
                "summary_more": max(0, len(grouped) - max_rows),
                "detail": _table(detail[[ENTITY, PERIOD, "indicator", "reason"]]),
                "shown": len(detail),
            }
        )

    audit = data.audit
    if len(audit):
        stage = audit["stage"].astype(str)
        action = audit["action"].astype(str)
        pairs = pd.DataFrame({"stage": stage, "action": action}).drop_duplicates()
        known = list(AUDIT_TITLES)
        order = sorted(
            pairs.itertuples(index=False),
            key=lambda p: known.index((p[0], p[1])) if (p[0], p[1]) in known else len(known),
        )
        for stage_name, action_name in order:
            rows = audit[(stage == stage_name) & (action == action_name)]
            counts[f"{stage_name}: {action_name}"] = len(rows)
            title, description = AUDIT_TITLES.get(
                (stage_name, action_name), (f"{stage_name}: {action_name}", "")
            )
            items = rows["item"].astype(str).map(data.label)
            by_item = items.value_counts().rename_axis("item").reset_index(name="rows")
            # one row per item (e.g. transformed indicators): the detail says it all
            repeated = bool((by_item["rows"] > 1).any()) or len(rows) > max_rows
            detail = rows.head(max_rows).copy()
            detail["item"] = detail["item"].astype(str).map(data.label)
            sections.append(
                {
                    "key": f"{stage_name}-{action_name}".replace(" ", "-"),
                    "title": title,
                    "description": description,
                    "total": len(rows),
                    "summary": _table(by_item.head(max_rows)) if repeated else None,
                    "summary_more": max(0, len(by_item) - max_rows),
                    "detail": _table(detail[[ENTITY, PERIOD, "item", "detail"]]),
                    "shown": len(detail),
                }
            )
    return sections, counts


def _treatment_table(data: ReportData) -> dict[str, Any] | None:
    treatment = data.treatment
    if treatment.empty or "indicator" not in treatment:
        return None
    headers = [
        "indicator",
        "method",
        "skewness before",
        "kurtosis before",
        "winsorised",
        "transform",
        "skewness after",
        "kurtosis after",
    ]
    rows = []
    for record in treatment.to_dict("records"):
        rows.append(
            [
                data.label(str(record.get("indicator"))),
                label_of(record.get("method", "")),
                fmt_value(record.get("skew_before", np.nan)),
                fmt_value(record.get("kurt_before", np.nan)),
                label_of(record.get("n_winsorised", "")),
                label_of(record.get("transform", "")),
                fmt_value(record.get("skew_after", np.nan)),
                fmt_value(record.get("kurt_after", np.nan)),
            ]
        )
    numeric = [False, False, True, True, True, False, True, True]
    return {"headers": headers, "numeric": numeric, "rows": rows}


def _normalisation_table(data: ReportData) -> dict[str, Any] | None:
    frame = data.normalisation
    if frame.empty:
        return None
    rest = [c for c in frame.columns if c not in ("method", "reference")]
    headers = ["indicator", "method", "reference", "learnt"]
    rows = []
    for indicator, record in frame.iterrows():
        learnt = ", ".join(f"{k} = {fmt_value(record[k])}" for k in rest if pd.notna(record[k]))
        rows.append(
            [
                data.label(str(indicator)),
                label_of(record.get("method", "")),
                label_of(record.get("reference", "")),
                learnt,
            ]
        )
    return {"headers": headers, "numeric": [False] * 4, "rows": rows}


def _select_profiles(
    data: ReportData, order: list[str], options: ReportOptions
) -> tuple[list[str], list[str], str]:
    """Entities that get a profile, the requested ones absent from the latest period, and a note."""
    everyone = set(data.entities)
    given = [str(e) for e in options.entities]
    resolved = {name: data.resolve_entity(name) for name in given}
    requested = [resolved[name] or name for name in given]
    unknown = [name for name in given if resolved[name] is None]
    if unknown:
        hints = []
        names = [*data.entities, *data.entity_labels.values()]
        for name in unknown[:5]:
            close = difflib.get_close_matches(name, names, n=1)
            hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise DataError(
            f"entities {', '.join(hints)} are not in the result "
            f"({len(everyone)} entities, e.g. {data.entities[:3]}); check the spelling of "
            "entities=... / --entity"
        )
    in_latest = set(order)
    absent = [e for e in requested if e not in in_latest]
    if len(order) <= options.all_profiles_max:
        return order, absent, "every entity"
    chosen = (
        set(order[: options.n_top]) | set(order[-options.n_top :]) | (set(requested) & in_latest)
    )
    selected = [e for e in order if e in chosen]
    note = f"the top {options.n_top} and bottom {options.n_top}"
    if requested:
        note += f" and {len(set(requested) & in_latest)} selected"
    return selected, absent, note + f" of {len(order)} entities"


def _dot_rows(
    data: ReportData, latest: pd.DataFrame, entities: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Geometry of the pillar dot plots: entity vs median and interquartile range."""
    columns = [data.framework_id, *data.pillars]
    block = latest[columns]
    lo, hi = float(np.nanmin(block.to_numpy())), float(np.nanmax(block.to_numpy()))
    ticks = _nice_ticks(lo, hi)
    x0, x1 = 200.0, 480.0
    start, stop = float(ticks[0]), float(ticks[-1])

    def x_of(value: float) -> float:
        return x0 + (value - start) / (stop - start) * (x1 - x0)

    quantiles = block.quantile([0.25, 0.5, 0.75])
    rows: list[dict[str, Any]] = []
    axis = {
        "width": 500,
        "x0": x0,
        "x1": x1,
        "ticks": [{"x": f"{x_of(t):.1f}", "text": f"{t:g}"} for t in ticks],
        "height": 30 + 24 * len(columns),
        "rows": rows,
    }
    for k, column in enumerate(columns):
        q1, median, q3 = (float(v) for v in quantiles[column])
        rows.append(
            {
                "y": 18 + 24 * k,
                "label": _shorten("Index" if column == data.framework_id else data.label(column)),
                "iqr_x": f"{x_of(q1):.1f}" if math.isfinite(q1) and math.isfinite(q3) else None,
                "iqr_width": f"{max(x_of(q3) - x_of(q1), 1.0):.1f}"
                if math.isfinite(q1) and math.isfinite(q3)
                else None,
                "median": f"{x_of(median):.1f}" if math.isfinite(median) else None,
                "median_text": fmt_score(median),
            }
        )
    per_entity: dict[str, dict[str, Any]] = {}
    values = block.reindex(entities)
    medians = quantiles.loc[0.5]
    for entity in entities:
        dots = []
        for k, column in enumerate(columns):
            value = float(values.at[entity, column])
            dots.append(
                {
                    "y": 18 + 24 * k,
                    "x": f"{x_of(value):.1f}" if math.isfinite(value) else None,
                    "text": fmt_score(value),
                    "above": bool(math.isfinite(value) and value >= float(medians[column])),
                }
            )
        per_entity[entity] = {"dots": dots}
    return per_entity, axis


def build_context(data: ReportData, options: ReportOptions) -> dict[str, Any]:
    """Every value the template shows, and the charts to draw (as arguments, not images)."""
    from securindex import __version__

    root = data.framework_id
    periods = data.periods
    if not periods:
        raise DataError("the result has no scores (no period); nothing to report")
    latest_period = periods[-1]
    previous_period = periods[-2] if len(periods) > 1 else None
    latest_label = label_of(latest_period)
    scores = _slice(data.scores, latest_period)
    ranks = _slice(data.ranks, latest_period)[root].reindex(scores.index)
    n_entities = len(data.entities)

    # ranking order of the latest period: rank, then name; unscored last
    order_frame = pd.DataFrame({"rank": ranks, "name": scores.index}, index=scores.index)
    order_frame = order_frame.sort_values(["rank", "name"], na_position="last", kind="stable")
    order = [str(e) for e in order_frame.index]
    scored = [e for e in order if np.isfinite(scores.at[e, root])]

    if previous_period is not None:
        previous = _slice(data.ranks, previous_period)[root].reindex(scores.index)
        change = previous - ranks
    else:
        change = pd.Series(np.nan, index=scores.index)

    contributions = _contributions(data, scores)
    influence = _influence(contributions, scores[root])
    pillar_weights = data.weights.get(root, pd.Series(dtype=np.float64))

    # summary ------------------------------------------------------------------------------
    k = min(3, max(1, len(scored) // 2))
    top = [f"{e} ({fmt_score(scores.at[e, root])})" for e in scored[:k]]
    bottom = [f"{e} ({fmt_score(scores.at[e, root])})" for e in scored[-k:][::-1]]
    summary: list[str] = []
    index_values = scores[root].dropna()
    if len(scored):
        text = (
            f"In {latest_label}, {len(scored)} entities have an index score. "
            f"The highest scores are those of {_join(top)}; the lowest those of {_join(bottom)}."
            if len(scored) > 1
            else f"In {latest_label}, only {top[0]} has an index score."
        )
        summary.append(
            text + f" Scores range from {fmt_score(index_values.min())} to "
            f"{fmt_score(index_values.max())} (median {fmt_score(index_values.median())})."
        )
    else:
        summary.append(f"In {latest_label}, no entity has an index score.")
    most: str | None = None
    if influence.notna().any():
        most = str(influence.idxmax())
        summary.append(
            f"The most influential pillar is {data.label(most)}: it accounts for "
            f"{fmt_share(float(influence[most]))} of the differences in the index between "
            f"entities (its share of the variance in {latest_label}), for a nominal weight of "
            f"{fmt_share(float(pillar_weights.get(most, np.nan)))}."
        )
    elif len(pillar_weights):
        most = str(pillar_weights.idxmax())
        summary.append(
            f"The pillar with the largest weight is {data.label(most)} "
            f"({fmt_share(float(pillar_weights[most]))})."
        )
    if previous_period is not None and change.notna().any():
        best_move = change.idxmax()
        worst_move = change.idxmin()
        previous_scores = _slice(data.scores, previous_period)[root]
        moves = (
            f"Between {label_of(previous_period)} and {latest_label} the median score moved "
            f"from {fmt_score(previous_scores.median())} to {fmt_score(index_values.median())}"
        )
        if change[best_move] > 0:
            moves += f"; {best_move} rose most (up {int(change[best_move])} places)"
        if change[worst_move] < 0:
            moves += f" and {worst_move} fell most (down {int(-change[worst_move])} places)"
        summary.append(moves + ".")

    audit_sections, audit_counts = _audit_sections(data, options.max_rows)
    handled = []
    for key, one, many in (
        ("not computed", "value could not be computed", "values could not be computed"),
        ("screen: excluded", "entity-period was screened out", "entity-periods were screened out"),
        ("impute: imputed", "value was imputed", "values were imputed"),
        ("treat: winsorised", "value was winsorised", "values were winsorised"),
        ("treat: transformed", "indicator was transformed", "indicators were transformed"),
        (
            "aggregate: not scored",
            "node score could not be computed",
            "node scores could not be computed",
        ),
    ):
        count = audit_counts.get(key, 0)
        if count:
            handled.append(f"{count:,} {one if count == 1 else many}".replace(",", "\u202f"))
    summary.append(
        ("Data handling: " + "; ".join(handled) + " (see the audit).")
        if handled
        else "No value was missing, imputed, treated or screened out."
    )

    # ranking table ----------------------------------------------------------------------------
    profile_entities, absent, profile_note = _select_profiles(data, order, options)
    anchors = {e: f"profile-{i}" for i, e in enumerate(profile_entities)}
    pillars = list(data.pillars)
    table_frame = scores.reindex(order)
    rank_values = ranks.reindex(order)
    change_values = change.reindex(order)
    rank_text = rank_values.map(lambda v: label_of(float(v)) if pd.notna(v) else "—")
    change_text = change_values.map(
        lambda v: (
            ""
            if pd.isna(v)
            else ("▲ " + label_of(v) if v > 0 else "▼ " + label_of(-v) if v < 0 else "=")
        )
    )
    # formatted once per column (numpy arrays → lists), then zipped into rows
    change_array = change_values.to_numpy(dtype=np.float64)
    change_class = np.where(change_array > 0, "up", np.where(change_array < 0, "down", ""))
    columns = {c: table_frame[c].to_numpy(dtype=np.float64).tolist() for c in [root, *pillars]}
    pillar_cells = (
        list(
            zip(
                *([(fmt_score(v), _number(v)) for v in columns[p]] for p in pillars),
                strict=True,
            )
        )
        if pillars
        else [()] * len(order)
    )
    ranking_rows = [
        {
            "rank": rank,
            "rank_value": _number(rank_value),
            "entity": data.display(entity),
            "anchor": anchors.get(entity),
            "index": fmt_score(index_value),
            "index_value": _number(index_value),
            "change": change,
            "change_value": _number(change_value),
            "change_class": css,
            "pillars": cells,
            "print_omit": len(order) > 2 * PRINT_ROWS + 10
            and PRINT_ROWS <= position < len(order) - PRINT_ROWS,
        }
        for position, (
            entity,
            rank,
            rank_value,
            index_value,
            change,
            change_value,
            css,
            cells,
        ) in enumerate(
            zip(
                order,
                rank_text.tolist(),
                rank_values.tolist(),
                columns[root],
                change_text.tolist(),
                change_array.tolist(),
                change_class.tolist(),
                pillar_cells,
                strict=True,
            )
        )
    ]
    ranking_print_note = (
        f"Printed: the top and bottom {PRINT_ROWS} of {len(order):,} entities; every entity is "
        "in the on-screen table and in scores.csv.".replace(",", "\u202f")
        if len(order) > 2 * PRINT_ROWS + 10
        else ""
    )

    pillar_rows = [
        {
            "label": data.label(p),
            "weight": fmt_share(float(pillar_weights.get(p, np.nan))),
            "median": fmt_score(scores[p].median()),
            "spread": (
                f"{fmt_score(scores[p].quantile(0.25))} – {fmt_score(scores[p].quantile(0.75))}"
            ),
            "influence": fmt_share(float(influence.get(p, np.nan))),
            "correlation": f"{scores[p].corr(scores[root]):.2f}"
            if scores[p].notna().sum() > 2
            else "—",
            "most": p == most,
        }
        for p in pillars
    ]

    # profiles -------------------------------------------------------------------------------
    normalised = _slice(data.normalised, latest_period).reindex(scores.index)
    raw = _slice(data.raw, latest_period).reindex(scores.index)
    imputed = _slice(data.imputed_mask, latest_period).reindex(scores.index).fillna(False)
    indicators = [i for i in data.indicators if i in normalised.columns]
    percentiles = _percentiles(normalised[indicators])
    n_best = max(1, min(3, len(indicators) // 2))
    dots, dot_axis = _dot_rows(data, scores, profile_entities) if profile_entities else ({}, {})
    history_ranks = data.ranks[root]
    history_scores = data.scores[root]
    profiles = []
    if profile_entities:
        P = percentiles.reindex(profile_entities).to_numpy(dtype=np.float64)
        missing = np.isnan(P)
        # a tie at the best value (0 homicides, shared with other entities) is no strength
        # of this entity's own (COINr's get_str_weak discards them likewise)
        tied = _tied_at_best(normalised[indicators]).reindex(profile_entities).to_numpy(bool)
        best = np.argsort(np.where(missing | tied, np.inf, -P), axis=1, kind="stable")[:, :n_best]
        worst = np.argsort(np.where(missing, np.inf, P), axis=1, kind="stable")[:, :n_best]
        raw_sel = raw.reindex(profile_entities)
        norm_sel = normalised.reindex(profile_entities)
        imp_sel = imputed.reindex(profile_entities)
        treated_sel = _slice(data.treated, latest_period).reindex(
            index=profile_entities, columns=indicators
        )
        transformed_columns = _transformed(data)
        changed = (
            ~np.isclose(
                treated_sel.to_numpy(dtype=np.float64),
                raw_sel[indicators].to_numpy(dtype=np.float64),
                rtol=1e-12,
                atol=0.0,
                equal_nan=True,
            )
            & raw_sel[indicators].notna().to_numpy()
        )
        changed[:, [indicators.index(c) for c in transformed_columns if c in indicators]] = False
        history = pd.DataFrame({"score": history_scores, "rank": history_ranks})
        for row, entity in enumerate(profile_entities):

            def item(position: int, entity: str = entity, row: int = row) -> dict[str, Any]:
                indicator = indicators[position]
                was_imputed = bool(imp_sel.at[entity, indicator])
                return {
                    "label": data.label(indicator),
                    "value": fmt_value(raw_sel.at[entity, indicator]),
                    "unit": _unit(data, indicator),
                    "imputed": was_imputed,
                    "winsorised": bool(changed[row, position]),
                    "treated": fmt_value(treated_sel.at[entity, indicator]),
                    "score": fmt_score(norm_sel.at[entity, indicator]),
                    "percentile": f"{P[row, position]:.0f}" if not missing[row, position] else "—",
                }

            strengths = [item(int(p)) for p in best[row] if not (missing[row, p] or tied[row, p])]
            weaknesses = [item(int(p)) for p in worst[row] if not missing[row, p]]
            entity_history = history.xs(entity, level=ENTITY).sort_index().tail(6)
            profiles.append(
                {
                    "anchor": anchors[entity],
                    "entity": data.display(entity),
                    "rank": rank_text[entity] if entity in rank_text.index else "—",
                    "n": len(scored),
                    "score": fmt_score(scores.at[entity, root]),
                    "change": change_text.get(entity, ""),
                    "dots": dots[entity]["dots"],
                    "strengths": strengths,
                    "weaknesses": weaknesses,
                    "n_imputed": int(imp_sel.loc[entity].sum()),
                    "history": [
                        {
                            "period": label_of(p),
                            "score": fmt_score(r["score"]),
                            "rank": label_of(float(r["rank"])) if pd.notna(r["rank"]) else "—",
                        }
                        for p, r in entity_history.iterrows()
                    ]
                    if len(periods) > 1
                    else [],
                }
            )

    # charts (arguments; the renderer draws them) ----------------------------------------------
    if len(scored) <= 2 * options.n_chart:
        chart_entities, gap_after, gap_text = scored, None, ""
    else:
        chart_entities = scored[: options.n_chart] + scored[-options.n_chart :]
        gap_after = options.n_chart
        gap_text = f"… {len(scored) - 2 * options.n_chart:,} entities not shown …".replace(
            ",", "\u202f"
        )
    chart_title = f"{data.name}, {latest_label}: " + (
        f"all {len(scored)} entities"
        if gap_after is None
        else f"top {options.n_chart} and bottom {options.n_chart} of {len(scored)} entities"
    )
    trend, trend_chart = _trend(data, profile_entities, options)
    charts: dict[str, Any] = {
        "ranking": {
            "contributions": contributions.reindex(chart_entities),
            "labels": {p: data.label(p) for p in pillars},
            "weights": {p: float(pillar_weights.get(p, np.nan)) for p in pillars},
            "row_labels": [f"{rank_text[e]}. {data.display(e)}" for e in chart_entities],
            "totals": scores[root].reindex(chart_entities).tolist(),
            "gap_after": gap_after,
            "gap_text": gap_text,
            "title": chart_title,
        }
    }
    transforms = _transformed(data)
    notes: dict[str, str] = {}
    if "indicator" in data.treatment and not data.treatment.empty:
        for record in data.treatment.to_dict("records"):
            indicator = str(record["indicator"])
            pieces = []
            n_win = record.get("n_winsorised")
            if n_win is not None and pd.notna(n_win) and int(n_win):
                pieces.append(f"{int(n_win)} winsorised")
            if indicator in transforms:
                pieces.append(transforms[indicator])
            before, after = record.get("skew_before"), record.get("skew_after")
            if before is not None and after is not None and pd.notna(before) and pd.notna(after):
                pieces.append(f"skew {float(before):.1f}→{float(after):.1f}")
            notes[indicator] = "; ".join(pieces)
    if trend_chart is not None:
        charts["trend"] = trend_chart
    charts["distributions"] = [
        {
            "raw": data.raw[chunk],
            "treated": data.treated.reindex(columns=chunk),
            "labels": {i: data.label(i) for i in chunk},
            "units": {i: _unit(data, i) for i in chunk},
            "transforms": transforms,
            "notes": notes,
        }
        for chunk in (indicators[s : s + 12] for s in range(0, len(indicators), 12))
    ]
    correlation_columns = [*indicators, *pillars, root]
    correlation_source = pd.concat([normalised[indicators], scores[[*pillars, root]]], axis=1)
    correlation_scope = f"{latest_label}, {len(scored)} entities"
    if correlation_source.dropna().shape[0] < 3:
        correlation_source = pd.concat(
            [data.normalised[indicators], data.scores[[*pillars, root]]], axis=1
        )
        correlation_scope = f"all periods pooled, {len(correlation_source)} rows"
    correlation = correlation_source[correlation_columns].corr()
    charts["correlation"] = {
        "correlation": correlation,
        "labels": {
            **{c: data.label(c) for c in correlation_columns},
            root: f"Index: {data.name}",
        },
        "separators": [len(indicators)],
        "title": f"Correlations ({correlation_scope})",
    }

    # header -------------------------------------------------------------------------------------
    date = options.date or _dt.date.today().isoformat()
    period_text = latest_label if len(periods) == 1 else f"{label_of(periods[0])} – {latest_label}"
    meta = {
        "title": options.title or f"{data.name} — composite index report",
        "name": data.name,
        "id": root,
        "version": data.version,
        "description": data.description,
        "data_name": data.data_name,
        "n_entities": n_entities,
        "n_scored": len(scored),
        "n_periods": len(periods),
        "periods": period_text,
        "latest": latest_label,
        "n_indicators": len(data.indicators),
        "n_pillars": len(pillars),
        "date": date,
        "created": data.created,
        "securindex_version": __version__,
    }
    return {
        "meta": meta,
        "summary": summary,
        "pipeline": list(data.pipeline.items()),
        "tree_rows": _tree_rows(data),
        "root_label": data.name,
        "pillar_rows": pillar_rows,
        "pillar_labels": [data.label(p) for p in pillars],
        "ranking_rows": ranking_rows,
        "profiles": profiles,
        "profile_note": profile_note,
        "profile_absent": absent,
        "trend": trend,
        "ranking_print_note": ranking_print_note,
        "decomposition_exact": data.root_aggregation == "arithmetic",
        "root_aggregation": data.root_aggregation,
        "entity_heading": data.id_names.get("label") or data.id_names.get("entity") or "Entity",
        "dot_axis": dot_axis,
        "audit_sections": audit_sections,
        "audit_counts": audit_counts,
        "treatment_table": _treatment_table(data),
        "normalisation_table": _normalisation_table(data),
        "indicators": [{"label": data.label(i), "unit": _unit(data, i)} for i in indicators],
        "correlation_columns": correlation_columns,
        "charts": charts,
        "n_chart": options.n_chart,
    }
