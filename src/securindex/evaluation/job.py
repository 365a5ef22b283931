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
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from securindex._yaml import read_yaml
from securindex.dataset import ENTITY, PERIOD, Panel
from securindex.errors import DataError, SpecError
from securindex.evaluation._common import Polarity
from securindex.evaluation.initiative import InitiativeEvaluation, evaluate_initiative_spec
from securindex.evaluation.progress import change_from_baseline, progress_to_targets
from securindex.evaluation.spec import EvaluationSpec, SMSLevel
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


def load_job(path: str | Path) -> EvaluationJob:
    """Read and validate an evaluation job file (errors located at file:line)."""
    return validate_located(EvaluationJob, read_yaml(path))


@dataclass(frozen=True)
class EvaluationOutcome:
    """Everything an evaluation job produced; tidy frames plus the initiative's statistics."""

    job: EvaluationJob
    monitoring: pd.DataFrame
    targets: pd.DataFrame | None = None
    initiative: InitiativeEvaluation | None = None
    change_check: pd.DataFrame | None = None
    index: IndexResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sms(self) -> SMSLevel | None:
        """Maryland Scientific Methods Scale level of the design (None: monitoring only)."""
        return (
            self.initiative.sms if self.initiative is not None else self.job.evaluation.sms_level()
        )

    def summary(self) -> str:
        """A few sentences for a city analyst."""
        lines = [f"{self.job.name}"]
        if self.initiative is not None:
            lines.append(self.initiative.summary())
        if self.sms is not None:
            lines.append(f"Evidence: Maryland SMS level {self.sms.level} ({self.sms.label}).")
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

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write every table as CSV (and a JSON summary) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        tables = {
            "monitoring": self.monitoring,
            "targets": self.targets,
            "change_check": self.change_check,
            "initiative": self.initiative.to_frame() if self.initiative is not None else None,
            "initiative_totals": self.initiative.totals if self.initiative is not None else None,
        }
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
        }
        path = folder / "evaluation.json"
        path.write_text(json.dumps(summary, indent=2, default=str))
        written["json"] = path
        return written


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
    job: EvaluationJob, *, base_dir: str | Path = ".", data: Panel | None = None
) -> EvaluationOutcome:
    """Run an evaluation job: monitoring, targets, the initiative and the change check."""
    base_dir = Path(base_dir)
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
        targets = progress_to_targets(long, spec.targets, polarity=polarities)

    initiative = None
    if spec.initiative is not None:
        if not job.measures:
            raise SpecError(
                "the initiative needs 'measures': the count variable(s) it is judged on"
            )
        initiative = _run_initiative(job, panel)

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
        notes=tuple(notes),
    )


def _run_initiative(job: EvaluationJob, panel: Panel) -> InitiativeEvaluation:
    spec = job.evaluation
    assert spec.initiative is not None
    absent = [m for m in job.measures if m not in panel.frame.columns]
    if absent:
        raise DataError(f"measure(s) {absent} are not variables of the data")
    columns = list(job.measures)
    exposure = spec.initiative.exposure
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
        spec.initiative,
        spec.design,
        entity=ENTITY,
        period=PERIOD,
        count="count",
        offence="offence" if len(columns) > 1 or spec.initiative.harm_weights else None,
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
