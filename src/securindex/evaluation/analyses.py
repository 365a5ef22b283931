"""The designs an evaluation job can run, with the keys of the Python API.

The ``analyses:`` list of the ``evaluation:`` block asks for any number of designs beside
the initiative's before/after and displacement statistics. Each item is a frozen model
discriminated by ``kind``; its keys are the keyword arguments of the function it runs:

============================ ==========================================================
``kind``                     runs
============================ ==========================================================
``difference_in_differences`` :func:`~securindex.evaluation.difference_in_differences`
                             (one ``intervention`` period, or ``{entity: period}``)
``staggered_did``            :func:`~securindex.evaluation.staggered_did` (``treatment``:
                             a column or ``{entity: period}``; ``estimator``)
``event_study``              the same, read for its event-study profile
``interrupted_time_series``  :func:`~securindex.evaluation.interrupted_time_series`
                             (``entities``, optional ``comparison`` series)
``synthetic_control``        :func:`~securindex.evaluation.synthetic_control`
============================ ==========================================================

.. code-block:: yaml

    evaluation:
      analyses:
        - kind: staggered_did
          measure: robberies
          exposure: population
          treatment: {"010111": 2015, "010112": 2017}
          outcome: log
        - kind: synthetic_control
          measure: robberies
          exposure: population
          treated: "010111"
          donors: {all_except: ["010112"]}
          intervention: 2015

Area fields (``treated``, ``control``, ``entities``, ``comparison``, ``donors``) go through
:func:`~securindex.evaluation.areas.select_areas`. Defaults come from the ``initiative:``
block when there is one: its treated and control areas, and ``start`` (or the first after
period) as the intervention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from securindex.errors import DataError, SpecError
from securindex.evaluation.areas import AreaContext, AreaSelection, select_areas

if TYPE_CHECKING:
    from securindex.evaluation._common import EvaluationResult
    from securindex.evaluation.spec import InitiativeSpec

__all__ = [
    "ANALYSIS_RUNNERS",
    "Analysis",
    "AnalysisData",
    "DiDAnalysis",
    "ITSAnalysis",
    "StaggeredAnalysis",
    "SyntheticControlAnalysis",
    "run_analysis",
]

PeriodLabel = int | str
Polarity = Literal["positive", "negative", "none"]


def _area_text(value: Any) -> Any:
    """YAML reads precinct ``75`` as an int: labels are text."""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


class _Analysis(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, description="label of this analysis in the outputs")
    measure: str | None = Field(
        default=None,
        description="count or outcome variable (default: the job's measures, summed)",
    )
    exposure: str | None = Field(default=None, description="population variable [inhabitants]")
    rate_scale: float = Field(default=100_000.0, gt=0)
    polarity: Polarity = "negative"
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)


Areas = Annotated[AreaSelection | None, BeforeValidator(_area_text)]


class DiDAnalysis(_Analysis):
    """Two-way fixed-effects difference-in-differences (common or per-entity start)."""

    kind: Literal["difference_in_differences"]
    treated: Areas = None
    control: Areas = None
    intervention: PeriodLabel | dict[str, PeriodLabel] | None = None
    model: Literal["ols", "poisson"] = "ols"
    periods: list[PeriodLabel] | None = None
    check_pre_trend: bool = True


class StaggeredAnalysis(_Analysis):
    """A staggered-adoption estimator (Callaway–Sant'Anna by default) and its event study."""

    kind: Literal["staggered_did", "event_study"]
    treatment: str | dict[str, PeriodLabel | None]
    estimator: str = "callaway_santanna"
    control_group: Literal["never_treated", "not_yet_treated"] = "never_treated"
    outcome: Literal["level", "log"] = "level"
    anticipation: int = Field(default=0, ge=0)
    entities: Areas = None
    n_bootstrap: int = Field(default=999, ge=100)
    seed: int | None = 0

    @field_validator("treatment", mode="before")
    @classmethod
    def _starts_as_text(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
        return value


class ITSAnalysis(_Analysis):
    """Interrupted time series of the summed treated series, with a comparison series."""

    kind: Literal["interrupted_time_series"]
    entities: Areas = None
    comparison: Areas = None
    intervention: PeriodLabel | None = None
    model: Literal["ols", "poisson"] = "ols"
    maxlags: int | None = Field(default=None, ge=0)


class SyntheticControlAnalysis(_Analysis):
    """Synthetic control for one treated area against a donor pool."""

    kind: Literal["synthetic_control"]
    treated: Areas = None
    donors: Areas = None
    intervention: PeriodLabel | None = None
    predictors: list[str] | None = None
    placebo: bool = True


Analysis = Annotated[
    DiDAnalysis | StaggeredAnalysis | ITSAnalysis | SyntheticControlAnalysis,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------
# running them
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisData:
    """What a runner gets: the long panel, the measure column, defaults and area context."""

    frame: pd.DataFrame  # long: entity, period, variables
    entity: str
    period: str
    measures: tuple[str, ...]
    initiative: InitiativeSpec | None
    extras: Mapping[str, Any]

    def areas(self) -> AreaContext:
        roles: dict[str, list[str]] = {}
        if self.initiative is not None:
            for role in ("treated", "control", "buffer", "buffer_control"):
                roles[role] = list(getattr(self.initiative, role))
        available = tuple(sorted(self.frame[self.entity].astype(str).unique()))
        return AreaContext(available=available, roles=roles, extras=self.extras)

    def measure(self, spec: _Analysis, field: str) -> tuple[pd.DataFrame, str]:
        """The frame with the outcome column the analysis uses, and that column's name."""
        if spec.measure is not None:
            if spec.measure not in self.frame.columns:
                raise DataError(
                    f"{field}.measure: {spec.measure!r} is not a variable of the data; "
                    f"variables are {[c for c in self.frame.columns if c not in (self.entity, self.period)][:20]}"
                )
            return self.frame, spec.measure
        if not self.measures:
            raise SpecError(f"{field}: name the outcome with measure: (or the job's measures:)")
        if len(self.measures) == 1:
            return self.frame, self.measures[0]
        name = " + ".join(self.measures)
        return self.frame.assign(**{name: self.frame[list(self.measures)].sum(axis=1)}), name

    def intervention(self, given: Any, field: str) -> Any:
        if given is not None:
            return given
        init = self.initiative
        if init is not None:
            return init.start if init.start is not None else min(init.after)
        raise SpecError(f"{field}: give intervention: (the first period under treatment)")


Runner = Any  # Callable[[spec, AnalysisData, str], EvaluationResult]

ANALYSIS_RUNNERS: dict[str, Runner] = {}


def _runner(*kinds: str) -> Any:
    def decorate(function: Runner) -> Runner:
        for kind in kinds:
            ANALYSIS_RUNNERS[kind] = function
        return function

    return decorate


def _resolve_period(value: Any, frame: pd.DataFrame, period: str) -> Any:
    """YAML ``2015`` against a period column of 2015 (or text labels): match the dtype."""
    if isinstance(value, Mapping):
        return {k: _resolve_period(v, frame, period) for k, v in value.items()}
    if value is None:
        return None
    if pd.api.types.is_numeric_dtype(frame[period]) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


@_runner("difference_in_differences")
def _run_did(spec: DiDAnalysis, data: AnalysisData, field: str) -> EvaluationResult:
    from securindex.evaluation.panel import difference_in_differences

    frame, value = data.measure(spec, field)
    ctx = data.areas()
    intervention = _resolve_period(data.intervention(spec.intervention, field), frame, data.period)
    treated = None
    if not isinstance(intervention, Mapping):
        treated = select_areas(
            spec.treated if spec.treated is not None else ctx.roles.get("treated"),
            ctx,
            field=f"{field}.treated",
        )
    if spec.control is not None or (ctx.roles.get("control") and spec.treated is None):
        control = select_areas(
            spec.control if spec.control is not None else ctx.roles.get("control"),
            ctx,
            field=f"{field}.control",
        )
        keep = (
            set(control)
            | set(treated or [])
            | (set(intervention) if isinstance(intervention, Mapping) else set())
        )
        frame = frame[frame[data.entity].astype(str).isin(keep)]
    if spec.periods is not None:
        frame = frame[frame[data.period].isin(spec.periods)]
    elif data.initiative is not None and not isinstance(intervention, Mapping):
        periods = [*data.initiative.before, *data.initiative.after]
        frame = frame[frame[data.period].isin(periods)]
    return difference_in_differences(
        frame,
        treated=treated,
        intervention=intervention,
        entity=data.entity,
        period=data.period,
        value=value,
        exposure=spec.exposure,
        model=spec.model,
        rate_scale=spec.rate_scale,
        check_pre_trend=spec.check_pre_trend,
        confidence=spec.confidence,
        polarity=spec.polarity,
    )


@_runner("staggered_did", "event_study")
def _run_staggered(spec: StaggeredAnalysis, data: AnalysisData, field: str) -> EvaluationResult:
    from securindex.evaluation.event_study import staggered_did

    frame, value = data.measure(spec, field)
    if spec.entities is not None:
        keep = select_areas(spec.entities, data.areas(), field=f"{field}.entities")
        frame = frame[frame[data.entity].astype(str).isin(keep)]
    treatment: Any = spec.treatment
    if isinstance(treatment, Mapping):
        treatment = _resolve_period(dict(treatment), frame, data.period)
    elif treatment not in frame.columns:
        raise DataError(
            f"{field}.treatment: {treatment!r} is not a variable of the data (a column holding "
            "each entity's first treated period, or a 0/1 indicator); or write "
            "{entity: first treated period}"
        )
    return staggered_did(
        frame,
        treatment=treatment,
        estimator=spec.estimator,
        entity=data.entity,
        period=data.period,
        value=value,
        exposure=spec.exposure,
        rate_scale=spec.rate_scale,
        outcome=spec.outcome,
        control_group=spec.control_group,
        anticipation=spec.anticipation,
        confidence=spec.confidence,
        n_bootstrap=spec.n_bootstrap,
        seed=spec.seed,
        polarity=spec.polarity,
    )


@_runner("interrupted_time_series")
def _run_its(spec: ITSAnalysis, data: AnalysisData, field: str) -> EvaluationResult:
    from securindex.evaluation.panel import interrupted_time_series

    frame, value = data.measure(spec, field)
    ctx = data.areas()
    entities = select_areas(
        spec.entities if spec.entities is not None else ctx.roles.get("treated"),
        ctx,
        field=f"{field}.entities",
    )
    comparison = None
    if spec.comparison is not None:
        comparison = select_areas(spec.comparison, ctx, field=f"{field}.comparison")
    intervention = _resolve_period(data.intervention(spec.intervention, field), frame, data.period)
    return interrupted_time_series(
        frame,
        intervention=intervention,
        period=data.period,
        value=value,
        entity=data.entity,
        entities=entities,
        comparison=comparison,
        exposure=spec.exposure,
        model=spec.model,
        rate_scale=spec.rate_scale,
        maxlags=spec.maxlags,
        confidence=spec.confidence,
        polarity=spec.polarity,
    )


@_runner("synthetic_control")
def _run_synthetic(
    spec: SyntheticControlAnalysis, data: AnalysisData, field: str
) -> EvaluationResult:
    from securindex.evaluation.synthetic import synthetic_control

    frame, value = data.measure(spec, field)
    ctx = data.areas()
    treated = select_areas(
        spec.treated if spec.treated is not None else ctx.roles.get("treated"),
        ctx,
        field=f"{field}.treated",
    )
    if len(treated) != 1:
        raise SpecError(
            f"{field}.treated: a synthetic control is built for one treated area; got "
            f"{treated} (sum them into one area first, or run one analysis per area)"
        )
    roles = {**ctx.roles, "treated": treated}
    ctx = AreaContext(ctx.available, roles, ctx.extras)
    donors = select_areas(
        spec.donors if spec.donors is not None else {"all_except": ["treated"]},
        ctx,
        field=f"{field}.donors",
    )
    intervention = _resolve_period(data.intervention(spec.intervention, field), frame, data.period)
    return synthetic_control(
        frame,
        treated=treated[0],
        intervention=intervention,
        entity=data.entity,
        period=data.period,
        value=value,
        donors=[d for d in donors if d != treated[0]],
        exposure=spec.exposure,
        rate_scale=spec.rate_scale,
        predictors=spec.predictors,
        placebo=spec.placebo,
        polarity=spec.polarity,
    )


def run_analysis(spec: Any, data: AnalysisData, *, field: str) -> EvaluationResult:
    """Run one analysis of a job (``field``: its path, e.g. ``evaluation.analyses[0]``)."""
    return ANALYSIS_RUNNERS[spec.kind](spec, data, field)
