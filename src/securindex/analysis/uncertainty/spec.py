"""What varies in an uncertainty analysis: the specification, read with located errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from securindex._yaml import Located, read_yaml
from securindex.errors import SpecError
from securindex.spec._validate import validate_located
from securindex.spec.framework import Step


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class WeightNoise(_Spec):
    """Random weights around the nominal ones.

    ``uniform``: each child's weight is multiplied by ``1 + noise * U(-1, 1)`` (COINr's
    noisy weights). ``dirichlet``: a node's weights are drawn from a Dirichlet distribution
    centred on the nominal weights, with its concentration set so that a child of average
    weight has a coefficient of variation ``noise``; the weights keep summing to one.
    """

    noise: float = Field(ge=0.0, description="relative size of the perturbation [unitless]")
    distribution: Literal["uniform", "dirichlet"] = "uniform"
    nodes: list[str] | None = Field(
        default=None,
        description="nodes whose children's weights vary (default: every node with 2+ children)",
    )
    per_node: bool = Field(
        default=False,
        description="one sensitivity factor per node instead of one for all weights",
    )

    @model_validator(mode="after")
    def _noise_range(self) -> WeightNoise:
        if self.distribution == "uniform" and self.noise > 1.0:
            raise ValueError(
                f"uniform weight noise must be <= 1 (weights stay >= 0); got {self.noise}"
            )
        return self


class WeightSets(_Spec):
    """Alternative sets of nominal weights, sampled as one discrete factor (COINr's list of
    weight sets in ``get_sensitivity``).

    Each set maps node ids to their children's weights (``{p1: {a: 2, b: 1, c: 1}}``);
    nodes a set does not name keep their nominal weights in it. Weights are renormalised
    within each node.
    """

    sets: list[dict[str, dict[str, float]]] = Field(min_length=2)
    name: str | None = None


class AggregationChoice(_Spec):
    """Alternative aggregation methods for some nodes (one discrete factor)."""

    nodes: list[str] | Literal["all"] = "all"
    methods: list[Step] = Field(min_length=2)
    name: str | None = None


class ParameterChoice(_Spec):
    """Alternative values of one parameter of a data step (one discrete factor).

    Example: ``{step: treat, parameter: winmax, values: [0, 3, 5]}`` varies the
    winsorisation limit of the pipeline's treat step.
    """

    step: Literal["impute", "treat", "normalise"]
    parameter: str
    values: list[Any] = Field(min_length=2)
    name: str | None = None


class IndicatorExclusion(_Spec):
    """Leave one indicator out at a time (one discrete factor)."""

    indicators: list[str] | Literal["all"] = "all"
    include_none: bool = Field(
        default=True, description="also sample the full set, with no indicator left out"
    )


class InputNoise(_Spec):
    """Uncertainty of indicator values: measurement error or sampling noise.

    ``normal``/``uniform``: additive noise of standard deviation ``sd`` [indicator unit],
    ``relative_sd`` [fraction of the value] or ``margin`` (a 95 % margin of error,
    sd = margin / 1.96, e.g. a survey's). ``poisson``: the value times ``scale`` is a count
    redrawn from a Poisson distribution (rare events), then divided by ``scale`` again.
    Every entity and indicator gets its own draw; missing values stay missing.
    """

    indicators: list[str] | Literal["all"]
    distribution: Literal["normal", "uniform", "poisson"] = "normal"
    sd: float | None = Field(default=None, ge=0.0)
    relative_sd: float | None = Field(default=None, ge=0.0)
    margin: float | None = Field(default=None, ge=0.0)
    scale: float = Field(default=1.0, gt=0.0, description="count = value × scale (poisson)")
    lower: float | None = Field(default=None, description="clip perturbed values below")
    upper: float | None = Field(default=None, description="clip perturbed values above")
    name: str | None = None

    @model_validator(mode="after")
    def _one_size(self) -> InputNoise:
        given = [k for k in ("sd", "relative_sd", "margin") if getattr(self, k) is not None]
        if self.distribution == "poisson":
            if given:
                raise ValueError(
                    f"poisson noise takes no {given}: its spread follows from the count "
                    "(give 'scale' to turn a rate into a count)"
                )
        elif len(given) != 1:
            raise ValueError(
                f"{self.distribution} noise needs exactly one of sd, relative_sd or margin; "
                f"got {given or 'none'}"
            )
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self


class UncertaintySpec(_Spec):
    """What varies in an uncertainty analysis: the ``uncertainty:`` block.

    Every field is optional; the analysis varies only what is listed. Discrete choices list
    their alternatives (include the nominal one if it should be sampled too).

    Examples
    --------
    >>> spec = UncertaintySpec.model_validate({
    ...     "weights": {"noise": 0.25},
    ...     "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "zscore"}],
    ...     "aggregate": {"all": [{"method": "arithmetic"}, {"method": "geometric"}]},
    ... })
    >>> spec.aggregate[0].nodes
    'all'
    """

    n_replicates: int = Field(default=1000, ge=1)
    seed: int | None = None
    target: str | None = Field(
        default=None, description="node whose scores and ranks are summarised (default: root)"
    )
    weights: WeightNoise | None = None
    weight_sets: WeightSets | None = None
    impute: list[Step] | None = Field(default=None, min_length=2)
    treat: list[Step] | None = Field(default=None, min_length=2)
    normalise: list[Step] | None = Field(default=None, min_length=2)
    parameters: list[ParameterChoice] = Field(default_factory=list)
    aggregate: list[AggregationChoice] = Field(default_factory=list)
    exclude: IndicatorExclusion | None = None
    inputs: list[InputNoise] = Field(default_factory=list)
    keep_overrides: bool = Field(
        default=False,
        description="false: an impute/treat/normalise alternative applies to every "
        "indicator (as Framework.with_steps); true: per-indicator overrides keep winning",
    )

    @field_validator("aggregate", mode="before")
    @classmethod
    def _aggregate_mapping(cls, value: object) -> object:
        """``{node: [steps]}`` (or ``{all: [steps]}``) as shorthand for the list form."""
        if isinstance(value, Mapping):
            return [
                {"nodes": "all" if key == "all" else [key], "methods": methods}
                for key, methods in value.items()
            ]
        return value

    @field_validator("weight_sets", mode="before")
    @classmethod
    def _weight_set_list(cls, value: object) -> object:
        """A plain list of sets is short for ``{sets: [...]}``."""
        if isinstance(value, list):
            return {"sets": value}
        return value

    @field_validator("exclude", mode="before")
    @classmethod
    def _exclude_flag(cls, value: object) -> object:
        """``exclude: true`` leaves out each indicator in turn."""
        if value is True:
            return {}
        if value is False:
            return None
        return value


def load_uncertainty_spec(path: str | Path) -> UncertaintySpec:
    """Read an ``uncertainty`` block from YAML: a file of its own, or a framework file.

    A file with a top-level ``uncertainty:`` key (e.g. the framework file) gives that
    block; any other file is the block itself. Errors are located at ``file:line``.

    Raises
    ------
    SpecError
        If the YAML is invalid or the block does not validate.
    """
    spec, _, _ = _read_spec(path)
    return spec


def _read_spec(path: str | Path) -> tuple[UncertaintySpec, Located, tuple[str, ...]]:
    located = read_yaml(path)
    value = located.value
    if not isinstance(value, Mapping):
        raise SpecError(
            [located.issue((), "an uncertainty file must hold a mapping (the uncertainty block)")]
        )
    prefix: tuple[str, ...] = ("uncertainty",) if "uncertainty" in value else ()
    if prefix and not isinstance(value["uncertainty"], Mapping):
        raise SpecError([located.issue(prefix, "'uncertainty' must be a mapping")])
    return validate_located(UncertaintySpec, located, prefix), located, prefix


def as_uncertainty_spec(
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
) -> tuple[UncertaintySpec, Located | None, tuple[str, ...]]:
    if isinstance(spec, UncertaintySpec):
        return spec, None, ()
    if isinstance(spec, (str, Path)):
        return _read_spec(spec)
    try:
        return UncertaintySpec.model_validate(dict(spec)), None, ()
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise SpecError(f"invalid uncertainty specification: {exc}") from None
