"""An evaluation job: one YAML file that names the data, what to monitor and the initiative.

``securindex evaluate JOB.yaml`` runs it. The file holds the ``evaluation:`` block
(:class:`~securindex.evaluation.spec.EvaluationSpec`: baseline, targets, initiative, design,
EMMIE) plus what the block applies to: the data (a shipped example or a file with its data
dictionary), optionally a framework whose indicators and index nodes are monitored, the count
variables the initiative is judged on, and an optional check of whether the index's change
exceeds its own methodological uncertainty.

.. code-block:: yaml

    name: Robbery prevention in Berlin-Mitte
    data: {example: berlin_crime}
    measures: [robberies]
    evaluation:
      baseline: {kind: period, periods: [2014]}
      initiative:
        name: Mitte patrols
        treated: ["010111"]
        control: ["010112", "010113"]
        before: [2013, 2014]
        after: [2016, 2017]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from securindex._yaml import read_yaml
from securindex.dataset import ENTITY, PERIOD, Panel
from securindex.errors import DataError, SpecError
from securindex.evaluation._common import EvaluationResult, Polarity
from securindex.evaluation.analyses import AnalysisData, DiDAnalysis, ITSAnalysis, run_analysis
from securindex.evaluation.areas import AreaContext, select_areas
from securindex.evaluation.initiative import InitiativeEvaluation, evaluate_initiative_spec
from securindex.evaluation.progress import change_from_baseline, progress_to_targets
from securindex.evaluation.spec import EvaluationSpec, InitiativeSpec, SMSLevel
from securindex.evaluation.uncertainty import bootstrap_change
from securindex.spec._validate import validate_located

if TYPE_CHECKING:
    from securindex.framework import Framework
    from securindex.result import IndexResult

__all__ = ["EvaluationJob", "EvaluationOutcome", "load_job", "run_evaluation"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class DataSource(_Spec):
    """Where the panel comes from: a shipped example, or a file and its data dictionary."""

    example: str | None = None
    path: str | None = None
    dictionary: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.example is None) == (self.path is None):
            raise ValueError("give exactly one of 'example' (a shipped dataset) or 'path'")
        return self


class ChangeCheck(_Spec):
    """Is the index's change larger than its methodological uncertainty? (bootstrap)"""

    over: Literal["entities"] = Field(
        default="entities",
        description="resample entities with replacement: how much the peer set that fixes "
        "goalposts, moments and derived weights moves each score",
    )
    replicates: int = Field(default=200, ge=20)
    seed: int | None = 0
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    baseline_period: int | str
    current_period: int | str


class EvaluationJob(_Spec):
    """One evaluation: data, what is monitored, and the ``evaluation:`` block."""

    name: str
    description: str = ""
    data: DataSource | None = None
    framework: str | None = Field(
        default=None, description="framework YAML (relative to this file) or a shipped name"
    )
    measures: list[str] = Field(
        default_factory=list,
        description="count variables the initiative is judged on (summed, or weighted by "
        "initiative.harm_weights keyed by these names)",
    )
    monitor: list[str] = Field(
        default_factory=list,
        description="variables, indicators or index nodes whose change from baseline is "
        "reported (default: the measures, the targets and every framework node)",
    )
    polarity: dict[str, Polarity] = Field(
        default_factory=dict,
        description="polarity of monitored data variables (indicators and nodes know theirs; "
        "measures default to negative)",
    )
    entities: list[str] = Field(
        default_factory=list,
        description="restrict monitoring and targets to these entities (default: all)",
    )
    change_check: ChangeCheck | None = None
    evaluation: EvaluationSpec
    _folder: Path | None = PrivateAttr(default=None)

    @property
    def folder(self) -> Path | None:
        """The folder of the job file it was read from (None when built in Python)."""
        return self._folder


def load_job(path: str | Path) -> EvaluationJob:
    """Read and validate an evaluation job file (errors located at file:line).

    The job remembers its folder: :func:`run_evaluation` resolves the data, dictionary and
    framework paths against it, not against the current directory.
    """
    job = validate_located(EvaluationJob, read_yaml(path))
    job._folder = Path(path).resolve().parent
    return job


@dataclass(frozen=True)
class EvaluationOutcome:
    """Everything an evaluation job produced; tidy frames plus the initiative's statistics."""

    job: EvaluationJob
    monitoring: pd.DataFrame
    targets: pd.DataFrame | None = None
    initiative: InitiativeEvaluation | None = None
    change_check: pd.DataFrame | None = None
    index: IndexResult | None = None
    analyses: dict[str, EvaluationResult] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sms(self) -> SMSLevel | None:
        """Maryland SMS level of the strongest design run (None: monitoring only)."""
        levels: list[SMSLevel] = [
            level for r in self.analyses.values() if (level := getattr(r, "sms", None)) is not None
        ]
        if self.initiative is not None:
            levels.append(self.initiative.sms)
        if levels:
            return max(levels, key=lambda x: x.level)
        return self.job.evaluation.sms_level()

    def summary(self) -> str:
        """A few sentences for a city analyst."""
        lines = [f"{self.job.name}"]
        if self.initiative is not None:
            lines.append(self.initiative.summary())
        for name, result in self.analyses.items():
            lines.append(f"{name}: {result.summary()}")
        if self.sms is not None:
            lines.append(
                f"Evidence: Maryland SMS level {self.sms.level} ({self.sms.label})"
                + (" — the strongest of the designs run." if self.analyses else ".")
            )
        if self.targets is not None and len(self.targets):
            latest = self.targets[self.targets[PERIOD] == self.targets[PERIOD].max()]
            statuses = latest.groupby("status").size().to_dict()
            listed = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in statuses.items())
            lines.append(f"Targets in {latest[PERIOD].iloc[0]} (series × entities): {listed}.")
        if self.change_check is not None and len(self.change_check):
            real = int(self.change_check["exceeds_uncertainty"].sum())
            lines.append(
                f"Index change larger than its methodological uncertainty for {real} of "
                f"{len(self.change_check)} entities."
            )
        lines.extend(self.notes)
        return "\n".join(lines)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the outcome by file stem (analyses add their own detail tables)."""
        tables: dict[str, pd.DataFrame | None] = {
            "monitoring": self.monitoring,
            "targets": self.targets,
            "change_check": self.change_check,
            "initiative": self.initiative.to_frame() if self.initiative is not None else None,
            "initiative_totals": self.initiative.totals if self.initiative is not None else None,
        }
        for name, result in self.analyses.items():
            tables[name] = result.to_frame()
            for part in _DETAIL_TABLES:
                table = getattr(result, part, None)
                if isinstance(table, pd.DataFrame):
                    tables[f"{name}_{part}"] = table
            if hasattr(result, "series_frame"):
                tables[f"{name}_series"] = result.series_frame()
        return {k: v for k, v in tables.items() if v is not None}

    def figures(self) -> dict[str, Any]:
        """The plots of the outcome (matplotlib figures) by file stem."""
        from securindex.evaluation.plots import _pyplot

        plt = _pyplot()
        figures: dict[str, Any] = {}
        if self.initiative is not None:
            figures["before_after"] = self.initiative.plot().get_figure()
        for name, result in self.analyses.items():
            drawer = _plot_for(result)
            if drawer is not None:
                _, ax = plt.subplots(figsize=(7, 4))
                drawer(result, ax=ax)
                figures[name] = ax.get_figure()
        return figures

    def write(self, folder: str | Path, *, plots: bool = False) -> dict[str, Path]:
        """Write every table as CSV (and a JSON summary) into ``folder``; with ``plots``
        also a PNG per figure (needs ``securindex[report]``). The HTML report is
        :func:`securindex.report.evaluation.write_evaluation_report`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        tables = self.tables()
        for name, table in tables.items():
            if table is not None:
                path = folder / f"{name}.csv"
                table.to_csv(path, index=False)
                written[name] = path
        summary = {
            "name": self.job.name,
            "summary": self.summary(),
            "sms": None if self.sms is None else self.sms.__dict__,
            "emmie": None
            if self.job.evaluation.emmie is None
            else self.job.evaluation.emmie.model_dump(exclude_none=True),
            "initiative": None if self.initiative is None else self.initiative.to_dict(),
            "analyses": {name: result.to_dict() for name, result in self.analyses.items()},
        }
        path = folder / "evaluation.json"
        path.write_text(json.dumps(summary, indent=2, default=str))
        written["json"] = path
        if plots:
            import matplotlib.pyplot as plt

            for name, figure in self.figures().items():
                png = folder / f"{name}.png"
                figure.savefig(png, dpi=120, bbox_inches="tight")
                plt.close(figure)
                written[f"plot_{name}"] = png
        return written


_DETAIL_TABLES = (
    "event_study",
    "group_time",
    "by_cohort",
    "aggregations",
    "weights",
    "path",
    "placebos",
)


def _plot_for(result: EvaluationResult) -> Any:
    """The plot function that draws ``result`` (None when it has none)."""
    from securindex.evaluation import plots
    from securindex.evaluation.panel import InterruptedTimeSeries
    from securindex.evaluation.staggered import StaggeredDiD
    from securindex.evaluation.synthetic import SyntheticControl

    drawers: dict[type, Any] = {
        StaggeredDiD: plots.plot_event_study,
        SyntheticControl: plots.plot_synthetic_control,
        InterruptedTimeSeries: plots.plot_interrupted_time_series,
    }
    return drawers.get(type(result))


def _load_panel(job: EvaluationJob, base_dir: Path) -> Panel:
    if job.data is None:
        raise SpecError("the job names no data: add data: {example: ...} or {path: ...}")
    if job.data.example is not None:
        return Panel.example(job.data.example)
    assert job.data.path is not None
    dictionary = base_dir / job.data.dictionary if job.data.dictionary else None
    return Panel.read(base_dir / job.data.path, dictionary=dictionary)


def _load_framework(job: EvaluationJob, base_dir: Path) -> Framework | None:
    from securindex.framework import Framework
    from securindex.shipped import framework_file

    if job.framework is None:
        return None
    candidate = base_dir / job.framework
    return Framework.load(candidate if candidate.exists() else framework_file(job.framework))


def _long(
    frame: pd.DataFrame, polarity: dict[str, Polarity], default: Polarity
) -> tuple[pd.DataFrame, dict[str, Polarity]]:
    long = frame.reset_index().melt(
        id_vars=[ENTITY, PERIOD], var_name="indicator", value_name="value"
    )
    return long, {c: polarity.get(c, default) for c in frame.columns}


def run_evaluation(
    job: EvaluationJob, *, base_dir: str | Path | None = None, data: Panel | None = None
) -> EvaluationOutcome:
    """Run an evaluation job: monitoring, targets, the initiative, the analyses, the check.

    Parameters
    ----------
    job
        The validated job (:func:`load_job`).
    base_dir
        Folder the job's relative paths (data, dictionary, framework) are resolved against;
        default the job file's own folder (the current directory for a job built in
        Python).
    data
        The panel, instead of the job's ``data:``.
    """
    base_dir = Path(base_dir) if base_dir is not None else (job.folder or Path("."))
    panel = data if data is not None else _load_panel(job, base_dir)
    spec = job.evaluation
    notes: list[str] = []

    framework = _load_framework(job, base_dir)
    index: IndexResult | None = framework.compute(panel) if framework is not None else None

    # every series that can be monitored, with its polarity
    frames: list[pd.DataFrame] = []
    polarity: dict[str, Polarity] = {}
    if index is not None:
        indicators = index.indicator_values.frame[list(index.framework.indicators)]
        for name in indicators.columns:
            polarity[name] = index.framework.polarity(name)
        frames.append(indicators)
        frames.append(index.scores)
        polarity.update(dict.fromkeys(index.scores.columns, "positive"))
    wanted = list(dict.fromkeys([*job.monitor, *job.measures, *spec.targets]))
    available = {c for f in frames for c in f.columns}
    variables = [w for w in wanted if w not in available]
    missing = [v for v in variables if v not in panel.frame.columns]
    if missing:
        raise DataError(
            f"monitored series {missing} are neither variables of the data nor indicators "
            f"or nodes of the framework; variables are {list(panel.frame.columns)[:20]}"
        )
    if variables:
        frames.append(panel.frame[variables])
        polarity.update({v: "negative" for v in variables if v in job.measures})
        polarity.update({v: p for v, p in job.polarity.items() if v in variables})
    if not frames:
        raise SpecError(
            "nothing to monitor: list variables under 'monitor' or 'measures', give targets, "
            "or name a framework"
        )
    series = pd.concat(frames, axis=1)
    series = series.loc[:, ~series.columns.duplicated()]
    if job.monitor:
        series = series[[c for c in series.columns if c in wanted or c in job.monitor]]
    long, polarities = _long(series, polarity, "none")
    if job.entities:
        labels = long[ENTITY].astype(str)
        unknown = sorted(set(job.entities) - set(labels))
        if unknown:
            raise DataError(f"entities {unknown} are not in the data")
        long = long[labels.isin(job.entities)]

    monitoring = (
        change_from_baseline(long, spec.baseline, indicator="indicator", polarity=polarities)
        if spec.baseline is not None
        else long
    )
    targets = None
    if spec.targets:
        targets = progress_to_targets(
            long,
            spec.targets,
            baseline_period=spec._single_baseline_year(),
            polarity=polarities,
        )

    initiative = None
    resolved = _resolve_initiative(spec.initiative, panel) if spec.initiative else None
    if spec.initiative is not None:
        if not job.measures:
            raise SpecError(
                "the initiative needs 'measures': the count variable(s) it is judged on"
            )
        initiative = _run_initiative(job, panel, resolved)

    analyses = _run_analyses(job, panel, notes, resolved)

    change = None
    if job.change_check is not None:
        if framework is None or index is None:
            raise SpecError("change_check needs a framework: it checks the index's change")
        change = _change_check(job.change_check, index)
    return EvaluationOutcome(
        job=job,
        monitoring=monitoring,
        targets=targets,
        initiative=initiative,
        change_check=change,
        index=index,
        analyses=analyses,
        notes=tuple(notes),
    )


def _resolve_initiative(initiative: InitiativeSpec, panel: Panel) -> InitiativeSpec:
    """The initiative with its area fields resolved to labels by ``select_areas``.

    Roles are resolved in order (treated, control, buffer, buffer control), so a selector
    can refer to the roles before it (``control: {all_except: [treated, buffer]}`` needs
    ``buffer`` listed first only when it is a selector itself).
    """
    available = tuple(sorted(panel.frame.index.get_level_values(ENTITY).astype(str).unique()))
    roles: dict[str, list[str]] = {
        r: list(getattr(initiative, r))
        for r in ("treated", "control", "buffer", "buffer_control")
        if isinstance(getattr(initiative, r), list)
    }
    for role in ("treated", "control", "buffer", "buffer_control"):
        value = getattr(initiative, role)
        if isinstance(value, list) and not value:
            continue
        context = AreaContext(
            available,
            {k: v for k, v in roles.items() if k != role},
            {"areas": _area_polygons(panel)},
        )
        roles[role] = select_areas(value, context, field=f"evaluation.initiative.{role}")
    return initiative.model_copy(update=roles)


def _run_analyses(
    job: EvaluationJob,
    panel: Panel,
    notes: list[str],
    initiative: InitiativeSpec | None = None,
) -> dict[str, EvaluationResult]:
    """The ``analyses:`` of the job, plus the panel / ITS design its ``design.kind`` names."""
    spec = job.evaluation
    items: list[Any] = list(spec.analyses)
    kind = spec.design.kind if spec.design is not None else None
    if spec.initiative is not None and not any(
        a.kind in ("difference_in_differences", "interrupted_time_series") for a in items
    ):
        # design kinds that name a panel design run it (they used to run before/after only)
        if kind == "panel":
            items.insert(0, DiDAnalysis(kind="difference_in_differences", name="panel"))
            notes.append(
                "design kind 'panel': the difference-in-differences of the initiative's "
                "treated and control areas is run beside the before/after statistics."
            )
        elif kind == "interrupted_time_series":
            comparison = spec.initiative.control or None
            items.insert(
                0,
                ITSAnalysis(
                    kind="interrupted_time_series",
                    name="interrupted_time_series",
                    comparison=comparison,
                ),
            )
    if not items:
        return {}
    long = panel.frame.reset_index()
    long[ENTITY] = long[ENTITY].astype(str)
    data = AnalysisData(
        frame=long,
        entity=ENTITY,
        period=PERIOD,
        measures=tuple(job.measures),
        initiative=initiative if initiative is not None else spec.initiative,
        extras={"job": job, "areas": _area_polygons(panel)},
    )
    results: dict[str, EvaluationResult] = {}
    for i, item in enumerate(items):
        name = item.name or item.kind
        if name in results:
            name = f"{name}_{i + 1}"
        results[name] = run_analysis(item, data, field=f"evaluation.analyses[{i}]")
    return results


def _run_initiative(
    job: EvaluationJob, panel: Panel, initiative: InitiativeSpec | None = None
) -> InitiativeEvaluation:
    spec = job.evaluation
    init = initiative if initiative is not None else spec.initiative
    assert init is not None
    absent = [m for m in job.measures if m not in panel.frame.columns]
    if absent:
        raise DataError(f"measure(s) {absent} are not variables of the data")
    columns = list(job.measures)
    exposure = init.exposure
    frame = panel.frame[columns + ([exposure] if exposure else [])].reset_index()
    frame[ENTITY] = frame[ENTITY].astype(str)
    long = frame.melt(
        id_vars=[ENTITY, PERIOD] + ([exposure] if exposure else []),
        value_vars=columns,
        var_name="offence",
        value_name="count",
    )
    return evaluate_initiative_spec(
        long,
        init,
        spec.design,
        entity=ENTITY,
        period=PERIOD,
        count="count",
        offence="offence" if len(columns) > 1 or init.harm_weights else None,
    )


def _change_check(check: ChangeCheck, index: IndexResult) -> pd.DataFrame:
    """Bootstrap the index and compare each entity's change with the replicate spread."""
    from securindex.catalogue import IndicatorValues
    from securindex.pipeline import run_pipeline

    framework = index.framework
    base = index.indicator_values
    root = framework.id

    # resampled entities are relabelled "name~k": they keep the groups of "name"
    group_rows = (
        index.groups.reset_index()
        .assign(**{ENTITY: lambda g: g[ENTITY].astype(str)})
        .drop_duplicates([ENTITY, PERIOD])
        .set_index([ENTITY, PERIOD])
    )

    def recompute(data: pd.DataFrame) -> pd.DataFrame:
        frame = data.set_index([ENTITY, PERIOD])
        values = IndicatorValues(frame=frame, units=base.units)
        original = pd.MultiIndex.from_arrays(
            [
                frame.index.get_level_values(ENTITY).astype(str).str.split("~").str[0],
                frame.index.get_level_values(PERIOD),
            ]
        )
        groups = group_rows.reindex(original).set_axis(frame.index)
        result = run_pipeline(framework, values, groups)
        return result.scores[root].rename("score").reset_index()

    data = base.frame[list(framework.indicators)].reset_index()
    periods = set(index.scores.index.unique(PERIOD))
    for label in (check.baseline_period, check.current_period):
        if label not in periods:
            raise DataError(
                f"change_check period {label!r} not among the periods {sorted(periods)}"
            )
    with np.errstate(all="ignore"):
        return bootstrap_change(
            data,
            recompute,
            baseline_period=check.baseline_period,
            current_period=check.current_period,
            over="entities",
            n_replicates=check.replicates,
            seed=check.seed,
            confidence=check.confidence,
        )


def _area_polygons(panel: Panel) -> Any:
    """The data's polygons, for the geometry selectors (``near``, ``neighbours``) that
    :mod:`securindex.geo.selectors` registers; None without polygons."""
    if getattr(panel, "areas", None) is None:
        return None
    import securindex.geo.selectors  # noqa: F401 - registers the selectors

    return panel.areas
