"""The report's uncertainty section: rank intervals, and which changes exceed the uncertainty.

Read from an :class:`~securindex.analysis.uncertainty.UncertaintyResult` in memory or from
the folder its ``write`` produced (``summary.csv`` and ``uncertainty.json``; ``securindex
uncertainty FRAMEWORK DATA -o RESULTS/uncertainty`` puts it where ``securindex report
RESULTS`` finds it).

Ranks are the quantity shown: they do not depend on the normalisation's scale, so an
interval of ranks means the same thing in every replicate. Score intervals are shown only
when every replicate's scores share the nominal build's scale (the nominal score lies
within its interval for almost every entity); otherwise the section says why they are left
out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.errors import DataError

if TYPE_CHECKING:
    from securindex.analysis.uncertainty import UncertaintyResult
    from securindex.report._data import ReportData

__all__ = ["UncertaintyData", "load_uncertainty", "uncertainty_context"]

ENTITY = "entity"
PERIOD = "period"
_SUMMARY_COLUMNS = ("nominal_rank", "median_rank", "rank_low", "rank_high")
SCALE_TOLERANCE = 0.05
"""Largest share of entities whose nominal score may fall outside its interval before the
score intervals are judged to mix scales and are left out of the report."""


@dataclass(frozen=True)
class UncertaintyData:
    """What the report shows of an uncertainty run.

    Attributes
    ----------
    summary
        Indexed by (entity, period): nominal, median, low and high rank [rank, 1 = best]
        and, when present, the same for scores [score].
    n_replicates
        Monte-Carlo replicates behind the intervals [count].
    interval
        The quantiles of the bounds (0.05, 0.95 by default).
    exact
        Whether the quantiles come from every replicate (False: from per-row histograms,
        approximate; None: unknown).
    normalisation_varies
        Whether the replicates use other normalisations than the nominal build (their
        scores are then on other scales; None: unknown).
    """

    summary: pd.DataFrame
    n_replicates: int | None
    interval: tuple[float, float]
    exact: bool | None
    normalisation_varies: bool | None = None


def load_uncertainty(source: UncertaintyResult | str | Path) -> UncertaintyData:
    """An uncertainty run from memory or from its folder.

    Raises
    ------
    DataError
        The folder has no ``summary.csv``, or it lacks the rank columns.
    """
    if isinstance(source, (str, Path)):
        folder = Path(source)
        path = folder / "summary.csv"
        if not path.is_file():
            raise DataError(f"{folder}: no summary.csv (written by 'securindex uncertainty')")
        meta: dict[str, Any] = {}
        if (folder / "uncertainty.json").is_file():
            meta = json.loads((folder / "uncertainty.json").read_text(encoding="utf-8"))
        # the summary's id columns carry the data's own names, recorded in the json
        ids = {ENTITY: ENTITY, PERIOD: PERIOD, **(meta.get("ids") or {})}
        summary = pd.read_csv(path, dtype={ids[ENTITY]: str})
        summary = summary.rename(columns={ids[ENTITY]: ENTITY, ids[PERIOD]: PERIOD})
        n_replicates = meta.get("n_replicates")
        if n_replicates is None and (folder / "replicates.csv").is_file():
            with (folder / "replicates.csv").open(encoding="utf-8") as handle:
                n_replicates = max(sum(1 for _ in handle) - 1, 0)
        interval = tuple(meta.get("interval") or (0.05, 0.95))
        exact = meta.get("exact")
        varies = meta.get("normalisation_varies")
    else:
        summary = source.summary.reset_index()
        n_replicates = source.n_replicates
        interval = tuple(source.interval)
        exact = source.exact
        varies = None if source.spec is None else bool(source.spec.normalise)
    missing = [c for c in (ENTITY, PERIOD, *_SUMMARY_COLUMNS) if c not in summary.columns]
    if missing:
        raise DataError(f"uncertainty summary: column(s) {missing} not found")
    summary[ENTITY] = summary[ENTITY].astype(str)
    frame = summary.set_index([ENTITY, PERIOD])
    return UncertaintyData(
        summary=frame,
        n_replicates=int(n_replicates) if n_replicates is not None else None,
        interval=(float(interval[0]), float(interval[1])),
        exact=None if exact is None else bool(exact),
        normalisation_varies=None if varies is None else bool(varies),
    )


def _rank(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:.0f}"


def _scores_consistent(latest: pd.DataFrame, varies: bool | None) -> bool:
    """Whether the score intervals are on the nominal build's scale.

    Known from the run when it records whether normalisation varies; otherwise judged
    from the numbers: nominal scores inside their intervals for (nearly) every entity and
    no interval reaching more than 10 % of the nominal range beyond it.
    """
    needed = {"nominal_score", "score_low", "score_high"}
    if varies or not needed <= set(latest.columns) or latest.empty:
        return False
    if varies is False:
        return True
    nominal = latest["nominal_score"].to_numpy(dtype=np.float64)
    low = latest["score_low"].to_numpy(dtype=np.float64)
    high = latest["score_high"].to_numpy(dtype=np.float64)
    lo, hi = np.nanmin(nominal), np.nanmax(nominal)
    reach = 0.1 * max(hi - lo, 1e-9)
    if np.nanmin(low) < lo - reach or np.nanmax(high) > hi + reach:
        return False
    outside = (nominal < low - 1e-9 * reach) | (nominal > high + 1e-9 * reach)
    return bool(np.nanmean(outside) <= SCALE_TOLERANCE)


def uncertainty_context(
    data: ReportData,
    run: UncertaintyData,
    *,
    latest_period: Any,
    n_top: int,
    label_of: Any,
) -> dict[str, Any]:
    """The template's ``uncertainty`` block: notes, a rank-interval table, changes."""
    summary = run.summary
    periods = sorted(summary.index.unique(PERIOD))
    if latest_period not in periods:
        latest_period = periods[-1]
    latest = summary.xs(latest_period, level=PERIOD).sort_values("nominal_rank")
    width = latest["rank_high"] - latest["rank_low"]
    low_q, high_q = (round(100 * q) for q in run.interval)
    consistent = _scores_consistent(latest, run.normalisation_varies)
    shown = (
        latest if len(latest) <= 2 * n_top else pd.concat([latest.head(n_top), latest.tail(n_top)])
    )
    rows = []
    for entity, row in shown.iterrows():
        cells = [
            data.display(str(entity)),
            _rank(row["nominal_rank"]),
            _rank(row["median_rank"]),
            f"{_rank(row['rank_low'])}–{_rank(row['rank_high'])}",
        ]
        if consistent:
            cells.append(f"{row['score_low']:.1f}–{row['score_high']:.1f}")
        rows.append(cells)
    headers = ["Entity", "Rank", "Median rank", f"{low_q}–{high_q} % rank interval"]
    if consistent:
        headers.append(f"{low_q}–{high_q} % score interval")
    notes = [
        f"{run.n_replicates:,} Monte-Carlo replicates".replace(",", "\u202f")
        if run.n_replicates
        else "Monte-Carlo replicates",
        f"the interval is the {low_q}th to {high_q}th percentile of each entity's rank over them",
    ]
    if run.exact is False:
        notes.append(
            "the percentiles are approximate (from per-entity histograms, not from every "
            "stored replicate)"
        )
    elif run.exact is None:
        notes.append("whether the percentiles are exact is not recorded")
    if not consistent and "score_low" in latest.columns:
        notes.append(
            "score intervals are not shown: the replicates' scores are not all on the nominal "
            "build's scale (e.g. other normalisation methods), so only ranks compare"
        )
    changes: list[list[str]] = []
    if len(periods) >= 2:
        before, after = periods[-2], periods[-1]
        a = summary.xs(before, level=PERIOD)
        b = summary.xs(after, level=PERIOD)
        both = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
        better = both["rank_high_b"] < both["rank_low_a"]  # the whole interval moved up
        worse = both["rank_low_b"] > both["rank_high_a"]
        for entity, row in both[better | worse].sort_values("nominal_rank_b").iterrows():
            changes.append(
                [
                    data.display(str(entity)),
                    f"{_rank(row['nominal_rank_a'])} ({_rank(row['rank_low_a'])}–{_rank(row['rank_high_a'])})",
                    f"{_rank(row['nominal_rank_b'])} ({_rank(row['rank_low_b'])}–{_rank(row['rank_high_b'])})",
                    "better" if bool(better.loc[entity]) else "worse",
                ]
            )
        change_note = (
            f"Entities whose rank interval in {label_of(after)} does not overlap their interval "
            f"in {label_of(before)}: the change is larger than the index's own uncertainty."
        )
    else:
        change_note = ""
    return {
        "period": label_of(latest_period),
        "notes": notes,
        "median_width": float(np.nanmedian(width)) if len(width) else float("nan"),
        "n_entities": len(latest),
        "table": {
            "headers": headers,
            "numeric": [False] + [True] * (len(headers) - 1),
            "rows": rows,
        },
        "shown_all": len(shown) == len(latest),
        "changes": {
            "headers": [
                "Entity",
                f"Rank {label_of(periods[-2])} (interval)" if len(periods) >= 2 else "",
                f"Rank {label_of(periods[-1])} (interval)",
                "Change",
            ],
            "numeric": [False, True, True, False],
            "rows": changes,
        }
        if len(periods) >= 2
        else None,
        "change_note": change_note,
    }
