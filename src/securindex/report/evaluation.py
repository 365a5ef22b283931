"""A self-contained HTML report of an evaluation job's outcome.

:func:`render_evaluation_report` turns an
:class:`~securindex.evaluation.EvaluationOutcome` into one HTML page: the evidence level
and its reason, every design's plain-language summary with its identifying assumption, the
plots an analyst shows (before/after, the event-study profile with its bands, treated vs
synthetic control, the interrupted time series with its counterfactual) embedded as PNG,
and the key tables. It reuses the composite-index report's building blocks — its style
sheet, the PNG embedding (:func:`~securindex.report.plots.figure_to_data_uri`), its chart
style and jinja2's escaping — and, like it, loads nothing from the network.

Needs the ``report`` extra (matplotlib and jinja2).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from securindex.evaluation.job import EvaluationOutcome

__all__ = ["render_evaluation_report", "write_evaluation_report"]

TEMPLATE = "evaluation.html.j2"
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def _style_sheet(environment: Any) -> str:
    """The composite-index report's CSS, read from its template (one style for both)."""
    source, _, _ = environment.loader.get_source(environment, "report.html.j2")
    match = _STYLE.search(source)
    return match.group(1) if match else ""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _table(
    frame: pd.DataFrame, columns: list[str] | None = None, max_rows: int = 60
) -> dict[str, Any]:
    shown = frame[columns] if columns else frame
    shown = shown.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns]
    return {
        "columns": [str(c) for c in shown.columns],
        "numeric": numeric,
        "rows": [[_cell(v) for v in row] for row in shown.itertuples(index=False)],
        "truncated": len(frame) > max_rows,
        "n_rows": len(frame),
    }


_KEY_TABLES: dict[str, list[str]] = {
    "event_study": ["event_time", "estimate", "se", "ci_low", "ci_high", "band_low", "band_high"],
    "by_cohort": ["cohort", "n_entities", "estimate", "ci_low", "ci_high"],
    "weights": ["donor", "weight"],
}


def _sections(outcome: EvaluationOutcome) -> list[dict[str, Any]]:
    import matplotlib

    from securindex.report.plots import figure_to_data_uri, report_style

    sections = []
    style: Any = report_style()
    with matplotlib.rc_context(style):
        figures = outcome.figures()
        if outcome.initiative is not None:
            init = outcome.initiative
            sections.append(
                {
                    "id": "initiative",
                    "title": f"Before/after: {init.name}",
                    "paragraphs": init.summary().split("\n"),
                    "image": figure_to_data_uri(figures["before_after"])
                    if "before_after" in figures
                    else None,
                    "tables": [("Area totals", _table(init.totals))],
                    "sms": init.sms,
                }
            )
        for name, result in outcome.analyses.items():
            tables = []
            for attribute, columns in _KEY_TABLES.items():
                table = getattr(result, attribute, None)
                if isinstance(table, pd.DataFrame):
                    if attribute == "weights":
                        table = table[table["weight"] >= 0.001].sort_values(
                            "weight", ascending=False
                        )
                    tables.append(
                        (attribute.replace("_", " ").capitalize(), _table(table, columns))
                    )
            if not tables:
                tables.append(("Estimates", _table(result.to_frame().dropna(axis=1, how="all"))))
            sections.append(
                {
                    "id": re.sub(r"[^a-z0-9]+", "-", name.lower()),
                    "title": name.replace("_", " ").capitalize(),
                    "paragraphs": [result.summary()],
                    "image": figure_to_data_uri(figures[name]) if name in figures else None,
                    "tables": tables,
                    "sms": getattr(result, "sms", None),
                }
            )
    import matplotlib.pyplot as plt

    for figure in figures.values():
        plt.close(figure)
    return sections


def render_evaluation_report(
    outcome: EvaluationOutcome, *, title: str | None = None, date: str | None = None
) -> str:
    """The HTML report of an evaluation outcome, as a string.

    Parameters
    ----------
    outcome
        What :func:`~securindex.evaluation.run_evaluation` returned.
    title
        Page title (default: the job's name).
    date
        Date printed in the header (default: today, ISO 8601).

    Returns
    -------
    str
        A complete HTML document with inline CSS and base64 PNG images.

    Raises
    ------
    MissingExtraError
        matplotlib or jinja2 is not installed (checked before any work).
    """
    from securindex import __version__
    from securindex._extras import require
    from securindex.report import _environment

    require("report", "the evaluation report")
    environment = _environment()
    sms = outcome.sms
    targets = None
    if outcome.targets is not None and len(outcome.targets):
        latest = outcome.targets[outcome.targets["period"] == outcome.targets["period"].max()]
        counts = latest.groupby(["indicator", "status"]).size().rename("entities").reset_index()
        targets = _table(counts)
    context = {
        "meta": {
            "title": title or outcome.job.name,
            "description": outcome.job.description,
            "date": date or _dt.date.today().isoformat(),
            "securindex_version": __version__,
        },
        "css": _style_sheet(environment),
        "sms": sms,
        "sections": _sections(outcome),
        "targets": targets,
        "notes": list(outcome.notes),
        "emmie": None
        if outcome.job.evaluation.emmie is None
        else {
            key: value.get("summary", "")
            for key, value in outcome.job.evaluation.emmie.model_dump(exclude_none=True).items()
        },
    }
    return str(environment.get_template(TEMPLATE).render(**context))


def write_evaluation_report(outcome: EvaluationOutcome, path: str | Path, **options: Any) -> Path:
    """Write :func:`render_evaluation_report` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_evaluation_report(outcome, **options), encoding="utf-8")
    return path
