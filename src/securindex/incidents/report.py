"""The incident report: every record counted or excluded for one reason, and what the panel lacks."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from securindex.incidents.counting import REASONS, CountPlan, PartialCounts, code_weights
from securindex.incidents.periods import period_labels

if TYPE_CHECKING:
    from securindex.dataset import Panel

__all__ = ["IncidentPanel", "IncidentReport", "build_report"]

_ISSUE_COLUMNS = ["issue", "item", "n_records", "action"]


@dataclass(frozen=True)
class IncidentReport:
    """What happened to every incident record, and what the panel lacks.

    Attributes
    ----------
    n_records : int
        Records read from all sources [count].
    n_counted : int
        Records counted into the panel [count]; ``n_records = n_counted +
        issues[issues.action == "excluded"].n_records.sum()`` always holds.
    issues : pandas.DataFrame
        One row per problem: ``issue`` (e.g. ``"unknown offence code"``), ``item`` (the code,
        area, file or bound concerned, ``""`` for a total), ``n_records`` [count] and
        ``action`` (``excluded``, ``kept``, ``harmonised``, ``note``). Excluded records are
        listed once per reason, and for unknown codes and area ids also once per value.
    totals : pandas.Series
        Sum of each incident variable over the panel [variable units].
    offences : pandas.DataFrame
        One row per distinct offence code read: ``code``, ``n_records``, ``variables`` (the
        variables it feeds, empty for an unknown code).
    files : pandas.DataFrame
        One row per source file: ``file``, ``n_records``, ``schema`` (``"ok"`` or what was
        harmonised).
    grain : str
        The period grain.
    periods : tuple
        First and last period label of the panel.
    n_areas : int
        Areas in the panel [count].
    """

    n_records: int
    n_counted: int
    issues: pd.DataFrame
    totals: pd.Series
    offences: pd.DataFrame
    files: pd.DataFrame
    grain: str
    periods: tuple[Any, Any]
    n_areas: int

    @property
    def n_excluded(self) -> int:
        """Records excluded, each for one reason [count]."""
        excluded = self.issues[(self.issues["action"] == "excluded") & (self.issues["item"] == "")]
        return int(excluded["n_records"].sum())

    @property
    def balanced(self) -> bool:
        """True when every record read is either counted or excluded with a reason."""
        return self.n_records == self.n_counted + self.n_excluded

    def summary(self) -> str:
        """A few lines for a terminal or a log."""
        lines = [
            f"{self.n_records:,} incident records read, {self.n_counted:,} counted, "
            f"{self.n_excluded:,} excluded; {self.n_areas:,} areas × "
            + (
                f"periods {self.periods[0]}…{self.periods[1]} ({self.grain})"
                if self.periods[0] is not None
                else f"no period ({self.grain}: no record was counted)"
            )
        ]
        totals = self.issues[self.issues["item"] == ""]
        for row in totals.itertuples(index=False):
            lines.append(f"  {row.action}: {row.issue}: {row.n_records:,}")
        unknown = self.issues[
            (self.issues["issue"] == "unknown offence code") & (self.issues["item"] != "")
        ]
        if len(unknown):
            top = ", ".join(f"{r.item} ({r.n_records:,})" for r in unknown.head(5).itertuples())
            lines.append(f"  unknown codes, most frequent first: {top}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The issues table with the totals as first rows (for CSV export)."""
        head = pd.DataFrame(
            [
                {
                    "issue": "records read",
                    "item": "",
                    "n_records": self.n_records,
                    "action": "note",
                },
                {
                    "issue": "records counted",
                    "item": "",
                    "n_records": self.n_counted,
                    "action": "note",
                },
            ]
        )
        return pd.concat([head, self.issues], ignore_index=True)


class IncidentPanel(NamedTuple):
    """The panel counted from incident records, and the report of what happened to them."""

    panel: Panel
    report: IncidentReport


def build_report(
    total: PartialCounts,
    plan: CountPlan,
    files: pd.DataFrame,
    issues: list[dict[str, Any]],
    n_counted: int,
    area_keys: pd.Index,
    period_range: tuple[int, int] | None,
) -> IncidentReport:
    spec = plan.spec
    rows: list[dict[str, Any]] = []
    for reason in REASONS:
        count = total.reasons.get(reason, 0)
        if not count:
            continue
        item = ""
        rows.append({"issue": reason, "item": item, "n_records": count, "action": "excluded"})
        if reason == "unknown offence code":
            unknown_codes = {
                code: n for code, n in total.codes.items() if code in _unknown_codes(plan, total)
            }
            for code, n in sorted(unknown_codes.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append({"issue": reason, "item": code, "n_records": n, "action": "excluded"})
        if reason == "unknown area id":
            for area, n in sorted(total.unknown_areas.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append({"issue": reason, "item": area, "n_records": n, "action": "excluded"})
        if reason.startswith("date") and spec.periods is not None:
            side, bound = (
                ("start", spec.periods.start) if "before" in reason else ("end", spec.periods.end)
            )
            rows[-1]["issue"] = f"{reason} ({side} {bound})"
        if reason == "filtered out":
            rows[-1]["issue"] = "filtered out by " + "; ".join(f.describe() for f in spec.filters)
    if spec.points is not None:
        from securindex.incidents.areas import BOUNDARY_RULES

        rule = spec.points.boundary
        rows.append(
            {
                "issue": "point on a boundary shared by several areas",
                "item": "",
                "n_records": total.n_boundary,
                "action": BOUNDARY_RULES[rule][1].replace("kept (", f"kept (rule '{rule}': ", 1),
            }
        )
        if plan.crs_note:
            rows.append({"issue": plan.crs_note, "item": "", "n_records": 0, "action": "note"})
    unused = _unused_patterns(plan, total)
    for variable, pattern in unused:
        rows.append(
            {
                "issue": f"pattern of variable '{variable}' matched no record",
                "item": pattern,
                "n_records": 0,
                "action": "note",
            }
        )
    for _, row in files.iterrows():
        if row["schema"] != "ok":
            rows.append(
                {
                    "issue": "schema differs",
                    "item": f"{Path(row['file']).name}: {row['schema']}",
                    "n_records": int(row.get("n_records", 0) or 0),
                    "action": "harmonised",
                }
            )
    rows.extend(issues)
    cells = total.cells
    totals = cells[plan.variables].sum() if len(cells) else pd.Series(0.0, index=plan.variables)
    offences = _offence_table(plan, total)
    labels: list[Any] = (
        period_labels([period_range[0], period_range[1]], spec.grain)
        if period_range is not None
        else [None, None]  # nothing counted and no periods declared: no period at all
    )
    return IncidentReport(
        n_records=total.n_records,
        n_counted=n_counted,
        issues=pd.DataFrame(rows, columns=_ISSUE_COLUMNS),
        totals=totals.rename("total"),
        offences=offences,
        files=files,
        grain=spec.grain,
        periods=(labels[0], labels[1]),
        n_areas=len(area_keys),
    )


def _unknown_codes(plan: CountPlan, total: PartialCounts) -> set[str]:
    codes = pd.Index(list(total.codes), dtype=object)
    weights = code_weights(plan, codes)
    return {str(c) for c, w in zip(codes, weights[:, 0], strict=True) if np.isnan(w)}


def _unused_patterns(plan: CountPlan, total: PartialCounts) -> list[tuple[str, str]]:
    codes = [c for c, n in total.codes.items() if n]
    unused = []
    for name, patterns in plan.patterns:
        for pattern, _ in patterns:
            if not any(c == pattern or fnmatch.fnmatchcase(c, pattern) for c in codes):
                unused.append((name, pattern))
    return unused


def _offence_table(plan: CountPlan, total: PartialCounts) -> pd.DataFrame:
    codes = pd.Index(sorted(total.codes), dtype=object)
    weights = code_weights(plan, codes)
    feeds = (
        [
            ", ".join(plan.variables[j] for j in np.flatnonzero(row > 0))
            if not np.isnan(row[0])
            else ""
            for row in weights
        ]
        if len(codes)
        else []
    )
    return pd.DataFrame(
        {
            "code": codes.to_numpy(),
            "n_records": [total.codes[c] for c in codes],
            "variables": feeds,
        }
    ).sort_values("n_records", ascending=False, ignore_index=True)
