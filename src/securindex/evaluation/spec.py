"""The ``evaluation:`` block of a framework YAML, and the Maryland Scientific Methods Scale.

Frozen pydantic models (``extra="forbid"``) that never touch data: what the baseline is,
which targets apply to which indicator or index node, the initiative (treated, buffer and
control areas, before and after periods, harm weights), the design, and an EMMIE record.
Validators raise ``ValueError`` so that the YAML loader can place each message at its
``file:line``; :func:`parse_evaluation` does the same without positions.

.. code-block:: yaml

    evaluation:
      baseline: {kind: period, periods: [2015]}
      targets:
        homicide_rate: {value: 2.0, year: 2030}
      initiative:
        name: Hot-spot foot patrols, Precinct 75
        treated: ["75"]
        control: ["73", "77"]
        buffer: ["69"]
        before: {start: 2010, end: 2012}
        after: [2013, 2014]
      design: {kind: controlled_before_after, comparable_control: true}
      emmie:
        mechanism: Increased guardianship and perceived risk of arrest
        economic_cost: {summary: Overtime for 40 officers, cost: 1.2e6, currency: USD}

References
----------
.. [1] Sherman, L. W., Gottfredson, D. C., MacKenzie, D. L., Eck, J., Reuter, P., &
   Bushway, S. D. (1998). *Preventing crime: what works, what doesn't, what's promising*.
   NIJ Research in Brief, NCJ 171676. (Report to the U.S. Congress, 1997.)
.. [2] Farrington, D. P., Gottfredson, D. C., Sherman, L. W., & Welsh, B. C. (2002). The
   Maryland Scientific Methods Scale. In *Evidence-Based Crime Prevention* (pp. 13–21).
   Routledge.
.. [3] Johnson, S. D., Tilley, N., & Bowers, K. J. (2015). Introducing EMMIE: an evidence
   rating scale to encourage mixed-method crime prevention synthesis reviews. *Journal of
   Experimental Criminology*, 11(3), 459–473. doi:10.1007/s11292-015-9238-7
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from securindex.errors import Issue, SpecError
from securindex.evaluation.analyses import Analysis

__all__ = [
    "Baseline",
    "BenchmarkBaseline",
    "DesignKind",
    "DesignSpec",
    "EconomicCost",
    "EmmieEntry",
    "EmmieRecord",
    "EvaluationSpec",
    "InitiativeSpec",
    "PeriodBaseline",
    "ReferenceBaseline",
    "SMSLevel",
    "TargetSpec",
    "maryland_sms_level",
    "parse_evaluation",
    "sms_after_pre_trend_check",
]

Polarity = Literal["positive", "negative", "none"]
PeriodLabel = int | str
DesignKind = Literal[
    "cross_sectional",
    "before_after",
    "interrupted_time_series",
    "controlled_before_after",
    "panel",
    "randomised",
]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _text_list(value: Any) -> Any:
    """Entity labels as text: YAML reads precinct ``75`` as an int."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


def _period_list(value: Any) -> Any:
    """A period list, a single period, or an inclusive ``{start, end}`` range of years."""
    if isinstance(value, Mapping):
        keys = set(value)
        if keys != {"start", "end"}:
            raise ValueError(
                f"a period range is written {{start: <year>, end: <year>}}; got keys {sorted(keys)}"
            )
        start, end = value["start"], value["end"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise ValueError(
                "a {start, end} range needs whole-number periods (years); list other periods "
                f"explicitly. Got start={start!r}, end={end!r}"
            )
        if end < start:
            raise ValueError(f"the range ends ({end}) before it starts ({start})")
        return list(range(start, end + 1))
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return [value]
    return value


def _unique(values: list[Any], what: str) -> list[Any]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} listed more than once: {sorted(map(str, set(seen)))}")
    return values


Entities = Annotated[list[str], BeforeValidator(_text_list)]
#: An initiative's area field: labels, or a one-key selector resolved by
#: :func:`securindex.evaluation.areas.select_areas` when the job runs.
AreaField = Annotated[list[str] | dict[str, Any], BeforeValidator(_text_list)]
Periods = Annotated[list[PeriodLabel], BeforeValidator(_period_list)]


# --------------------------------------------------------------------------------------
# baselines and targets
# --------------------------------------------------------------------------------------


class PeriodBaseline(_Spec):
    """A baseline period, or the mean of several (``periods: [2014, 2015, 2016]``)."""

    kind: Literal["period"] = "period"
    periods: Periods = Field(min_length=1)
    label: str | None = None

    @field_validator("periods")
    @classmethod
    def _distinct(cls, value: list[PeriodLabel]) -> list[PeriodLabel]:
        return _unique(value, "baseline period")


class ReferenceBaseline(_Spec):
    """A reference entity or group: peer cities, the national value.

    With ``periods`` unset, each period is compared with the reference's value in the same
    period (a gap to the reference); with ``periods`` set, with its mean over them.
    """

    kind: Literal["reference"] = "reference"
    entities: Entities = Field(min_length=1)
    statistic: Literal["mean", "median"] = "mean"
    periods: Periods | None = None
    label: str | None = None

    @field_validator("entities")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return _unique(value, "reference entity")


class BenchmarkBaseline(_Spec):
    """An external benchmark value, one for all indicators or one per indicator/node id."""

    kind: Literal["benchmark"] = "benchmark"
    value: float | dict[str, float]
    source: str | None = None
    label: str | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        values = value.values() if isinstance(value, dict) else [value]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("benchmark values must be finite numbers")
        return value


def _infer_baseline_kind(value: Any) -> Any:
    """Accept ``{period: 2015}``, ``{entities: [...]}`` or ``{value: 3.2}`` without ``kind``."""
    if isinstance(value, Mapping) and "kind" not in value:
        value = dict(value)
        if "period" in value:
            value["periods"] = value.pop("period")
        if "periods" in value:
            value["kind"] = "period"
        elif "entities" in value or "entity" in value:
            if "entity" in value:
                value["entities"] = value.pop("entity")
            value["kind"] = "reference"
        elif "value" in value:
            value["kind"] = "benchmark"
        else:
            raise ValueError(
                "a baseline needs 'periods' (a baseline period), 'entities' (a reference "
                f"group) or 'value' (a benchmark); got keys {sorted(value)}"
            )
    return value


Baseline = Annotated[
    PeriodBaseline | ReferenceBaseline | BenchmarkBaseline,
    Field(discriminator="kind"),
]
_BaselineField = Annotated[Baseline, BeforeValidator(_infer_baseline_kind)]


class TargetSpec(_Spec):
    """A target value to reach by a year, with the rule that classifies progress.

    ``method: linear`` compares the share of the distance covered with the share of time
    elapsed; ``method: eurostat`` compares the actual compound annual growth rate with the
    one required (ratio of actual to required growth). The thresholds apply to that ratio:
    at or above ``on_track`` is on track; below ``moving_away`` is moving away; with
    ``eurostat``, ``moderate`` splits the off-track band into moderate/insufficient progress.
    """

    value: float
    year: int
    baseline_year: int | None = None
    method: Literal["linear", "eurostat"] = "linear"
    on_track: float = 0.95
    moderate: float = 0.60
    moving_away: float = 0.0
    polarity: Polarity | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> TargetSpec:
        if not math.isfinite(self.value):
            raise ValueError("the target value must be a finite number")
        if self.baseline_year is not None and self.year <= self.baseline_year:
            raise ValueError(
                f"the target year ({self.year}) must be after the baseline year "
                f"({self.baseline_year})"
            )
        if not self.on_track > self.moving_away:
            raise ValueError(
                f"on_track ({self.on_track}) must be greater than moving_away ({self.moving_away})"
            )
        if self.method == "eurostat" and not self.on_track > self.moderate > self.moving_away:
            raise ValueError(
                "with method: eurostat the thresholds must satisfy on_track > moderate > "
                f"moving_away; got {self.on_track}, {self.moderate}, {self.moving_away}"
            )
        return self


# --------------------------------------------------------------------------------------
# initiative, design, EMMIE
# --------------------------------------------------------------------------------------


class InitiativeSpec(_Spec):
    """Where and when a crime-prevention initiative ran, and what it is compared with."""

    name: str
    description: str = ""
    treated: AreaField = Field(min_length=1)
    control: AreaField = Field(default_factory=list)
    buffer: AreaField = Field(default_factory=list)
    buffer_control: AreaField = Field(default_factory=list)
    before: Periods = Field(min_length=1)
    after: Periods = Field(min_length=1)
    start: PeriodLabel | None = None
    offence_column: str | None = None
    harm_weights: dict[str, float] | None = None
    exposure: str | None = Field(
        default=None, description="Variable holding the population at risk [inhabitants]."
    )
    overdispersion: float | Literal["estimate", "poisson"] = Field(
        default="estimate",
        description="Variance factor of the counts: 'estimate' (Pearson χ²/df over the "
        "before periods), 'poisson' (1) or a number >= 1.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> InitiativeSpec:
        problems: list[str] = []
        # selectors ({all_except: …}) are checked once resolved against the data
        groups = {
            key: value
            for key, value in {
                "treated": self.treated,
                "control": self.control,
                "buffer": self.buffer,
                "buffer_control": self.buffer_control,
            }.items()
            if isinstance(value, list)
        }
        for key, members in groups.items():
            dup = sorted({m for i, m in enumerate(members) if m in members[:i]})
            if dup:
                problems.append(f"{key} lists {dup} more than once")
        names = list(groups)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                both = sorted(set(groups[first]) & set(groups[second]))
                if both:
                    problems.append(
                        f"area(s) {both} are both {first} and {second}: an area cannot be "
                        "its own comparison — remove the overlap"
                    )
        if self.buffer_control and not self.buffer:
            problems.append("buffer_control is given but buffer is empty")
        overlap = sorted({str(p) for p in self.before} & {str(p) for p in self.after})
        if overlap:
            problems.append(f"period(s) {overlap} are both before and after the initiative")
        before = [p for p in self.before if isinstance(p, int)]
        after = [p for p in self.after if isinstance(p, int)]
        ints = len(before) == len(self.before) and len(after) == len(self.after)
        if ints and not overlap and max(before) >= min(after):
            problems.append(
                f"the after periods must follow the before periods; before ends "
                f"{max(before)}, after starts {min(after)}"
            )
        if (
            ints
            and isinstance(self.start, int)
            and not overlap
            and not max(before) < self.start <= min(after)
        ):
            problems.append(
                f"start ({self.start}) must fall after the before periods and no later than "
                "the first after period"
            )
        if isinstance(self.overdispersion, float) and not (
            math.isfinite(self.overdispersion) and self.overdispersion >= 1.0
        ):
            problems.append(
                f"overdispersion must be >= 1 (1 = Poisson), 'estimate' or 'poisson'; got "
                f"{self.overdispersion}"
            )
        if self.harm_weights is not None:
            negative = sorted(k for k, w in self.harm_weights.items() if not w >= 0)
            if negative:
                problems.append(f"harm weights must be >= 0; not so for {negative}")
            elif not any(w > 0 for w in self.harm_weights.values()):
                problems.append("all harm weights are 0: nothing would be counted")
            if self.offence_column is None:
                problems.append(
                    "harm_weights need offence_column: the data column naming each row's "
                    "offence type"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def unequal_periods(self) -> bool:
        """True when before and after have different numbers of periods (rates are used)."""
        return len(self.before) != len(self.after)


class DesignSpec(_Spec):
    """The evaluation design, from which the Maryland SMS level is derived.

    ``kind`` may be omitted: it is then ``controlled_before_after`` when the initiative
    has a control and ``before_after`` otherwise.
    """

    kind: DesignKind | None = None
    comparable_control: bool = Field(
        default=True,
        description="Was the control shown comparable to the treated area (similar level, "
        "trend and type of place)? Without it the design is SMS level 2.",
    )
    description: str = ""


EvidenceStrength = Literal["none", "weak", "moderate", "strong"]


def _entry_from_text(value: Any) -> Any:
    return {"summary": value} if isinstance(value, str) else value


class EmmieEntry(_Spec):
    """One EMMIE dimension: what is known, where from, and how strong the evidence is."""

    summary: str
    evidence: str | None = None
    strength: EvidenceStrength | None = None
    references: list[str] = Field(default_factory=list)


class EconomicCost(EmmieEntry):
    """The economic dimension: cost (and optionally monetised benefit) of the initiative."""

    cost: float | None = Field(default=None, ge=0)
    benefit: float | None = Field(default=None, ge=0)
    currency: str | None = None
    period: str | None = None


class EmmieRecord(_Spec):
    """EMMIE: Effect, Mechanism, Moderators, Implementation, Economic cost (Johnson et al. 2015).

    Every dimension is optional; a plain string is read as its ``summary``.
    """

    effect: Annotated[EmmieEntry | None, BeforeValidator(_entry_from_text)] = None
    mechanism: Annotated[EmmieEntry | None, BeforeValidator(_entry_from_text)] = None
    moderators: Annotated[EmmieEntry | None, BeforeValidator(_entry_from_text)] = None
    implementation: Annotated[EmmieEntry | None, BeforeValidator(_entry_from_text)] = None
    economic_cost: Annotated[EconomicCost | None, BeforeValidator(_entry_from_text)] = None


# --------------------------------------------------------------------------------------
# Maryland Scientific Methods Scale
# --------------------------------------------------------------------------------------

_SMS_LABELS = {
    1: "correlation between the programme and crime at one point in time",
    2: "before/after with the programme clearly preceding the outcome, or a comparison "
    "group not shown to be comparable",
    3: "before/after in comparable treated and control units",
    4: "multiple treated and control units, controlling for other factors",
    5: "random assignment of comparable units to programme and control",
}


@dataclass(frozen=True)
class SMSLevel:
    """A Maryland Scientific Methods Scale level with its reason.

    ``level`` is 1 (weakest) to 5 (randomised) [unitless]; ``design`` the design kind it was
    derived from; ``reason`` why this level and not the next.
    """

    level: int
    label: str
    design: str
    reason: str

    def summary(self) -> str:
        return f"Maryland SMS level {self.level} ({self.label}): {self.reason}"


def maryland_sms_level(
    kind: str,
    *,
    has_control: bool,
    comparable_control: bool = True,
    n_treated: int = 1,
    n_control: int = 0,
) -> SMSLevel:
    """Maryland Scientific Methods Scale level of an evaluation design.

    Parameters
    ----------
    kind
        One of ``cross_sectional``, ``before_after``, ``interrupted_time_series``,
        ``controlled_before_after``, ``panel``, ``randomised``.
    has_control
        Whether there is a control (comparison) area or group.
    comparable_control
        Whether the control was shown comparable to the treated units.
    n_treated, n_control
        Numbers of treated and control units [count].

    Returns
    -------
    SMSLevel

    Raises
    ------
    SpecError
        Unknown kind, or a randomised design without a control group.

    Notes
    -----
    Before/after only = 2; with a comparable control = 3; many treated and control units
    analysed together (panel) = 4; randomised = 5 (Sherman et al. 1998; Farrington et al.
    2002). A control not shown comparable keeps a design at level 2, and a panel with a
    single treated or control unit is level 3.

    Examples
    --------
    >>> maryland_sms_level("controlled_before_after", has_control=True).level
    3
    """
    if kind not in _DESIGN_KINDS:
        raise SpecError(f"design kind must be one of {sorted(_DESIGN_KINDS)}; got {kind!r}")
    if kind == "randomised":
        if not has_control:
            raise SpecError("a randomised design needs a control group")
        level, reason = 5, "units were randomly assigned to the programme and to control"
    elif kind == "cross_sectional":
        level, reason = 1, "no before/after measurement"
    elif not has_control:
        level = 2
        reason = (
            "many periods before and after but no control series, so general trends are not "
            "ruled out"
            if kind == "interrupted_time_series"
            else "no control area, so general trends and regression to the mean are not ruled out"
        )
    elif not comparable_control:
        level, reason = 2, "the control was not shown comparable to the treated area"
    elif kind == "panel":
        if n_treated >= 2 and n_control >= 2:
            level = 4
            reason = (
                f"{n_treated} treated and {n_control} control units analysed together with "
                "unit and period effects"
            )
        else:
            level = 3
            reason = "a panel with a single treated or control unit compares two units only"
    else:
        level, reason = 3, "a comparable control separates the programme from general trends"
    return SMSLevel(level=level, label=_SMS_LABELS[level], design=kind, reason=reason)


_DESIGN_KINDS = frozenset(DesignKind.__args__)  # type: ignore[attr-defined]


def sms_after_pre_trend_check(level: SMSLevel, passed: bool | None) -> SMSLevel:
    """Lower a design's SMS level to 2 when its pre-period check rejects parallel trends.

    A comparison group whose trend already diverged before the start is not comparable
    (the condition of levels 3 and 4); ``passed=None`` (no check possible) keeps the level.
    """
    if passed is not False or level.level <= 2:
        return level
    return SMSLevel(
        level=2,
        label=_SMS_LABELS[2],
        design=level.design,
        reason=(
            "the pre-period check rejects parallel trends, so the comparison group is not "
            f"shown comparable (the design alone would earn level {level.level})"
        ),
    )


# --------------------------------------------------------------------------------------
# the whole block
# --------------------------------------------------------------------------------------


class EvaluationSpec(_Spec):
    """The ``evaluation:`` block: monitoring (baseline, targets) and/or an initiative."""

    baseline: _BaselineField | None = None
    targets: dict[str, TargetSpec] = Field(
        default_factory=dict, description="Targets by indicator or index-node id."
    )
    initiative: InitiativeSpec | None = None
    design: DesignSpec | None = None
    analyses: list[Analysis] = Field(
        default_factory=list,
        description="Designs to run beside the initiative's before/after statistics "
        "(difference_in_differences, staggered_did, event_study, interrupted_time_series, "
        "synthetic_control), with the keys of the Python functions.",
    )
    emmie: EmmieRecord | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EvaluationSpec:
        problems: list[str] = []
        kind = self.design.kind if self.design is not None else None
        if kind is not None and kind != "cross_sectional" and self.initiative is None:
            problems.append(f"design kind '{kind}' needs an initiative block (areas and periods)")
        if self.initiative is not None and kind in {
            "controlled_before_after",
            "panel",
            "randomised",
        }:
            if not self.initiative.control:
                problems.append(f"design kind '{kind}' needs control areas in the initiative")
            if kind == "panel" and (
                isinstance(self.initiative.treated, list)
                and isinstance(self.initiative.control, list)
                and (len(self.initiative.treated) < 2 or len(self.initiative.control) < 2)
            ):
                problems.append(
                    "design kind 'panel' needs at least two treated and two control areas; "
                    "use controlled_before_after for one of each"
                )
        for key, target in self.targets.items():
            if target.baseline_year is None:
                year = self._single_baseline_year()
                if year is None:
                    problems.append(
                        f"targets.{key}: baseline_year is needed because the baseline is not a "
                        "single whole-number period"
                    )
                elif target.year <= year:
                    problems.append(
                        f"targets.{key}: the target year ({target.year}) must be after the "
                        f"baseline period ({year})"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _single_baseline_year(self) -> int | None:
        b = self.baseline
        if isinstance(b, PeriodBaseline) and len(b.periods) == 1 and isinstance(b.periods[0], int):
            return b.periods[0]
        return None

    def target_baseline_year(self, key: str) -> int:
        """The baseline year of target ``key`` (its own, or the single baseline period)."""
        target = self.targets[key]
        if target.baseline_year is not None:
            return target.baseline_year
        year = self._single_baseline_year()
        if year is None:  # pragma: no cover - ruled out by validation
            raise SpecError(f"targets.{key}: no baseline year")
        return year

    def design_kind(self) -> str | None:
        """The design kind, given or inferred from the initiative (None: monitoring only)."""
        if self.design is not None and self.design.kind is not None:
            return self.design.kind
        if self.initiative is None:
            return None
        return "controlled_before_after" if self.initiative.control else "before_after"

    def sms_level(self) -> SMSLevel | None:
        """Maryland SMS level of the initiative's design (None when there is no initiative)."""
        kind = self.design_kind()
        if kind is None:
            return None
        initiative = self.initiative
        return maryland_sms_level(
            kind,
            has_control=bool(initiative and initiative.control),
            comparable_control=self.design.comparable_control if self.design else True,
            n_treated=len(initiative.treated) if initiative else 0,
            n_control=len(initiative.control) if initiative else 0,
        )


def parse_evaluation(value: Mapping[str, Any], *, file: str | None = None) -> EvaluationSpec:
    """Validate a mapping (the ``evaluation:`` block) into an :class:`EvaluationSpec`.

    Every problem is reported at once in one :class:`~securindex.errors.SpecError`, each
    with its dotted field path (``evaluation.initiative.control``). The YAML loader uses
    ``securindex.spec._validate.validate_located`` instead to add line numbers.

    Raises
    ------
    SpecError
        The block is invalid.
    """
    try:
        return EvaluationSpec.model_validate(value)
    except pydantic.ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field (check its spelling)"
            elif error["type"] == "missing":
                message = "required field is missing"
            field = ".".join(["evaluation", *loc])
            issues.append(Issue(message, file=file, field=field))
        raise SpecError(issues) from None
