"""A self-contained HTML report of a composite-index result.

:func:`write_report` turns an :class:`~securindex.result.IndexResult` (or a folder written
by :meth:`IndexResult.write`) into one HTML file with inline CSS, inline SVG and PNG charts
embedded as base64: it opens offline, can be mailed or archived, and loads nothing from the
network (a Content-Security-Policy forbids it). :func:`render_report` returns the same HTML
as a string.

The report shows the framework tree with effective weights, the ranking with each pillar's
contribution, every indicator's distribution before and after treatment, the correlations
between indicators, pillars and the index, per-entity profiles (strengths, weaknesses,
pillar scores against the median) and the audit. ``docs/report.md`` explains each section.

Needs the ``report`` extra (matplotlib and jinja2): ``pip install 'securindex[report]'``.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*. OECD Publishing, Paris. Step 8, "Back to the data" (decomposing the
   index into its components), and step 10, "Visualisation of the results".
   https://doi.org/10.1787/9789264043466-en
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from securindex.analysis.uncertainty import UncertaintyResult
    from securindex.report._data import ReportData
    from securindex.result import IndexResult

__all__ = ["render_report", "write_report"]

TEMPLATE = "report.html.j2"

logger = logging.getLogger(__name__)


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - the test environment has jinja2
        raise ImportError("the report needs jinja2: pip install 'securindex[report]'") from exc
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("securindex.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from securindex.report._build import fmt_count

    environment.filters["thousands"] = fmt_count
    return environment


def _draw(charts: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """Draw the charts described by :func:`build_context` as PNG data URIs."""
    import matplotlib

    from securindex._progress import progress as bar
    from securindex.report import plots

    drawers: dict[str, Any] = {
        "ranking": plots.plot_contributions,
        "distributions": plots.plot_distributions,
        "correlation": plots.plot_correlation,
        "trend": plots.plot_trend,
    }
    jobs = [
        (name, index, drawers[name], arguments)
        for name, value in charts.items()
        for index, arguments in (enumerate(value) if isinstance(value, list) else [(None, value)])
    ]
    images: dict[str, Any] = {name: [] for name, value in charts.items() if isinstance(value, list)}
    style: Any = plots.report_style()
    with matplotlib.rc_context(style):
        for name, index, draw, arguments in bar(
            jobs, "drawing the report's charts", total=len(jobs), show=progress
        ):
            uri = plots.figure_to_data_uri(draw(**arguments))
            if index is None:
                images[name] = uri
            else:
                images[name].append(uri)
    return images


def render_report(
    result_or_folder: IndexResult | ReportData | str | Path,
    *,
    entities: Iterable[object] = (),
    data_name: str | None = None,
    title: str | None = None,
    date: str | None = None,
    n_top: int = 10,
    n_chart: int = 25,
    all_profiles_max: int = 30,
    max_rows: int = 50,
    uncertainty: UncertaintyResult | str | Path | None = None,
    progress: bool = False,
) -> str:
    """The HTML report of a result, as a string.

    Parameters
    ----------
    result_or_folder
        An :class:`~securindex.result.IndexResult`, or the folder written by
        :meth:`IndexResult.write` (``securindex compute ... -o FOLDER``).
    entities
        Entities that get a profile in addition to the top and bottom ``n_top`` (when there
        are more than ``all_profiles_max`` entities). Unknown names raise
        :class:`~securindex.errors.DataError`.
    data_name
        Name of the dataset for the header (default: the name stored with the result, if any).
    title
        Title of the page (default: "<framework name> — composite index report").
    date
        Date printed in the header (default: today, ISO 8601).
    n_top
        Number of best and worst entities given a profile when not every entity gets one.
    n_chart
        Number of best and worst entities drawn in the ranking chart when there are more
        than ``2 * n_chart`` (the ranking table always lists every entity).
    all_profiles_max
        Every entity gets a profile when there are at most this many.
    max_rows
        Rows listed in each audit table (counts are always complete).
    uncertainty
        An uncertainty run (:func:`~securindex.analysis.run_uncertainty`'s result, or the
        folder its ``write`` filled) for the uncertainty section: rank intervals and the
        changes larger than the uncertainty. Default: ``<folder>/uncertainty`` when the
        result is a results folder that has one.
    progress
        Show a progress bar while the charts are drawn (on a terminal).

    Returns
    -------
    str
        A complete HTML document with inline CSS, SVG and base64 PNG images.

    Raises
    ------
    DataError
        The folder lacks a required file, the result has no scores, or an entity of
        ``entities`` is not in the result.
    MissingExtraError
        matplotlib or jinja2 is not installed (checked before any work).
    """
    from securindex._extras import require
    from securindex.report._build import ReportOptions, build_context
    from securindex.report._data import load

    require("report", "the HTML report")
    for name, value in (("n_top", n_top), ("n_chart", n_chart), ("max_rows", max_rows)):
        if int(value) < 1:
            raise ValueError(
                f"The '{name}' parameter of render_report must be >= 1. Got {value!r}."
            )
    data = load(result_or_folder, data_name=data_name)
    options = ReportOptions(
        entities=tuple(str(e) for e in entities),
        n_top=int(n_top),
        n_chart=int(n_chart),
        all_profiles_max=int(all_profiles_max),
        max_rows=int(max_rows),
        title=title,
        date=date,
    )
    context = build_context(data, options)
    if uncertainty is None and isinstance(result_or_folder, (str, Path)):
        beside = Path(result_or_folder) / "uncertainty"
        uncertainty = beside if (beside / "summary.csv").is_file() else None
    context["uncertainty"] = None
    if uncertainty is not None:
        from securindex.report._build import label_of
        from securindex.report._uncertainty import load_uncertainty, uncertainty_context

        context["uncertainty"] = uncertainty_context(
            data,
            load_uncertainty(uncertainty),
            latest_period=data.periods[-1],
            n_top=int(n_top),
            label_of=label_of,
        )
    from securindex.report._spatial import spatial_context

    context["spatial"] = spatial_context(data, data.periods[-1])
    environment = _environment()
    images = _draw(context.pop("charts"), progress=progress)
    return str(environment.get_template(TEMPLATE).render(images=images, **context))


def write_report(
    result_or_folder: IndexResult | ReportData | str | Path,
    path: str | Path,
    **options: Any,
) -> Path:
    """Write the HTML report of a result to ``path``; see :func:`render_report` for ``options``.

    Returns
    -------
    pathlib.Path
        The file written (UTF-8). Parent folders are created.
    """
    html = render_report(result_or_folder, **options)
    path = Path(path)
    logger.info("report: %s (%.1f MB)", path, len(html) / 1e6)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
