"""Monte-Carlo uncertainty analysis of a composite index (OECD/JRC Handbook 2008, step 7).

A composite index rests on choices that could reasonably have been made otherwise: the
weights, the normalisation, the aggregation of each node, the imputation, the outlier
treatment, which indicators are in, and the input values themselves (a survey share has a
margin of error, a count of rare events has Poisson noise). The uncertainty analysis draws
many *replicates*, each a combination of such choices, rebuilds the index for each, and
reports how much every entity's rank and score move: the median rank, the 5–95 % rank and
score intervals and the average rank shift against the nominal build.

What varies is declared, never guessed, in an :class:`UncertaintySpec` (the ``uncertainty:``
block of a YAML file, or Python). It is checked against the framework before anything runs:
every node, indicator, step and parameter it names must exist, and each alternative is run
once on the nominal data, so a wrong parameter fails at once with its YAML location.

Speed
-----
The index is not rebuilt per replicate. Every factor is a block of coordinates of the
unit hypercube (one per weight, one per discrete choice, one per noisy input value), and
the engine decodes a whole chunk of such points at once:

* the discrete data choices (imputation, treatment, normalisation and their parameters)
  form a small set of combinations, each imputed, treated and normalised once with the
  registry methods the pipeline uses;
* for the replicates sharing one normalised matrix, arithmetic and geometric means of a
  node are two matrix products of its (rows × children) block with the replicates'
  (children × replicates) weights; other methods call the registry's aggregator, which
  broadcasts over a leading replicate axis;
* with input noise, each chunk of perturbed matrices is laid side by side as one wide
  ``(rows, replicates × indicators)`` matrix, which the column-wise data methods impute,
  treat and normalise in one call;
* ranks are computed per period with one ``argsort`` per chunk.

Memory is bounded by ``chunk_size``, not by the number of replicates: per-entity
intervals are exact (from stored replicates) when ``n_replicates × rows`` is at most
:data:`_EXACT_CELLS`, and otherwise come from fixed-size per-row histograms (exact for
ranks up to 1 000 rows, scores to 0.3 % of their range).

A replicate is *defined* as the pipeline run with its sampled choices;
:func:`rebuild_replicate` runs exactly that, slowly, and the tests check that the engine
agrees with it.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, step 7 and section 7 (uncertainty and sensitivity analysis), pp. 34–35 and
   117–131. OECD Publishing. doi:10.1787/9789264043466-en
.. [2] Saisana, M., Saltelli, A. & Tarantola, S. (2005). Uncertainty and sensitivity
   analysis techniques as tools for the quality assessment of composite indicators.
   *Journal of the Royal Statistical Society A* 168(2), 307–323.
   doi:10.1111/j.1467-985X.2005.00350.x
.. [3] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. & Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open
   Source Software* 7(78), 4567. doi:10.21105/joss.04567
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from scipy.special import gammaincinv, ndtri, pdtr

from securindex._yaml import Located, read_yaml
from securindex.analysis._budget import (
    MAX_REPLICATES,
    RunEstimate,
    check_replicates,
    estimate_run,
)
from securindex.errors import DataError, Issue, SecurindexError, SpecError
from securindex.framework import PIPELINE_OPTIONS, split_options
from securindex.methods._registry import Registry
from securindex.methods._types import FloatArray
from securindex.methods.aggregate import aggregators, requires_positive
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalise_by_period, normalisers, output_range
from securindex.methods.treat import run_treater, treat_by_period, treaters
from securindex.plan import NODE_KIND_FORMULA, NODE_KIND_WEIGHTED, NodePlan, compile_plan
from securindex.plan.rules import (
    aggregate_block,
    apply_missing_policy,
    impute_node,
    node_weights,
    normalise_node,
    rank_within_periods,
    score_node,
    weight_total,
    zero_rows,
)
from securindex.spec._validate import validate_located
from securindex.spec.framework import Step

if TYPE_CHECKING:
    from securindex.result import IndexResult

__all__ = [
    "MAX_REPLICATES",
    "AggregationChoice",
    "IndicatorExclusion",
    "InputNoise",
    "ParameterChoice",
    "RunEstimate",
    "UncertaintyResult",
    "UncertaintySpec",
    "WeightNoise",
    "WeightSets",
    "estimate_uncertainty",
    "load_uncertainty_spec",
    "rebuild_replicate",
    "run_uncertainty",
    "sample_factors",
    "uncertainty_factors",
]

Seed = int | np.random.Generator | None

# 95 % two-sided normal quantile: a survey's margin of error is 1.96 standard errors.
_Z95 = 1.959963984540054

# Largest number of (replicate × row) cells stored to give exact per-entity quantiles;
# beyond it, per-row histograms keep memory independent of the number of replicates.
_EXACT_CELLS = 2**22

# Histogram resolution of the streaming summaries [bins per row].
_BINS = 1000

# Default size of the largest per-chunk array [elements]: replicates × rows × indicators
# with input noise, else replicates × rows × max(children, nodes).
_CHUNK_ELEMENTS = 2**22

# u is mapped through quantile functions; keep it off 0 and 1, where they are infinite.
_U_EPS = 1e-12

_DATA_STEPS = ("impute", "treat", "normalise")
_DATA_REGISTRIES: dict[str, Registry[Any]] = {
    "impute": imputers,
    "treat": treaters,
    "normalise": normalisers,
}

# Normalise-step options read by the pipeline, not by the method.
_REFERENCE_KEYS = ("reference", "base_period")


# --------------------------------------------------------------------------------------
# The specification
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Factors
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Factor:
    """One uncertain input: ``n_dims`` coordinates of the unit hypercube."""

    name: str
    kind: Literal["choice", "weights", "weight_set", "exclude", "inputs"]
    n_dims: int
    path: tuple[str | int, ...]
    description: str
    labels: tuple[str, ...] = ()
    # choice factors: which step they change
    family: str = ""
    alternatives: tuple[Any, ...] = ()
    parameter: str = ""
    # weight factors: the nodes and their positions in the factor
    nodes: tuple[str, ...] = ()
    # exclusion: the candidate indicators, None = keep all
    candidates: tuple[str | None, ...] = ()
    # inputs: the noise model and the indicator columns
    noise: InputNoise | None = None
    columns: tuple[int, ...] = ()


def _label(step: Step) -> str:
    params = step.params
    if not params:
        return step.method
    inner = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{step.method}({inner})"


def _choose(u: FloatArray, n_levels: int) -> np.ndarray:
    """The level (0 … n_levels-1) of a discrete factor for each coordinate in [0, 1)."""
    return np.minimum((np.asarray(u) * n_levels).astype(np.int64), n_levels - 1)


def as_generator(seed: Seed) -> np.random.Generator:
    """The one way randomness enters: an int, a Generator, or None (fresh entropy)."""
    return np.random.default_rng(seed)


def _poisson_quantile(u: FloatArray, lam: FloatArray) -> FloatArray:
    """Smallest k with P(K <= k) >= u for K ~ Poisson(lam), vectorised.

    Starts from the Cornish–Fisher approximation and steps to the exact quantile with the
    regularised incomplete gamma function (``scipy.special.pdtr``), usually in one or two
    steps; ``scipy.stats.poisson.ppf`` gives the same values, ten times slower.
    """
    lam = np.asarray(lam, dtype=np.float64)
    z = ndtri(np.clip(u, _U_EPS, 1 - _U_EPS))
    k = np.floor(lam + np.sqrt(lam) * z + (z * z - 1.0) / 6.0 + 0.5)
    k = np.maximum(k, 0.0)
    for _ in range(200):  # converges in a few steps; the bound only guards the loop
        up = pdtr(k, lam) < u
        down = (k > 0) & (pdtr(k - 1.0, lam) >= u)
        if not (up.any() or down.any()):
            break
        k = k + up - down
    return np.where(lam > 0, k, 0.0)


# --------------------------------------------------------------------------------------
# The vectorised engine
# --------------------------------------------------------------------------------------


def _codes(values: Any) -> np.ndarray:
    codes, _ = pd.factorize(np.asarray(values), sort=True)
    return codes.astype(np.int64)


def _columnwise(method: Any, params: Mapping[str, Any]) -> bool:
    """Whether a data method treats each column on its own (the pipeline's rule).

    Methods say so with ``columnwise=True`` in their registry entry. Parameters given per
    indicator (lists) keep the columns together.
    """
    return method.columnwise and not any(
        isinstance(v, (list, tuple, np.ndarray)) for v in params.values()
    )


_Terms = tuple[FloatArray, FloatArray | None]


def _mean_terms(method: str, x: FloatArray) -> _Terms | None:
    """The matrices the matrix-product means need: values (or logs) with 0 for missing,
    and the presence mask (None when nothing is missing); None when the registry's
    aggregator must handle ``x``."""
    if method not in ("arithmetic", "geometric"):
        return None
    present = ~np.isnan(x)
    complete = bool(present.all())
    if not np.isfinite(x if complete else x[present]).all():
        return None
    if method == "geometric":
        if ((x if complete else x[present]) <= 0).any():
            return None  # the aggregator raises the proper error
        values = np.log(x if complete else np.where(present, x, 1.0))
    else:
        values = x if complete else np.where(present, x, 0.0)
    return values, None if complete else present.astype(np.float64)


def _matrix_mean(
    method: str,
    params: Mapping[str, Any],
    x: FloatArray,
    w: FloatArray,
    n_replicates: int,
    terms: _Terms | None = None,
) -> FloatArray | None:
    r"""Weighted arithmetic or geometric means of many replicates as matrix products.

    With one weight vector per replicate, the mean over the present children of row i in
    replicate r is :math:`\sum_j w_{rj} x_{ij} [x_{ij}\ present] / \sum_j w_{rj}
    [x_{ij}\ present]` (of :math:`\log x` for the geometric mean), i.e. two products of
    the (rows × children) matrix with the (children × replicates) weights. Returns None
    when this does not apply (other methods, per-row weights, values the registry's
    aggregator must reject), so that the caller uses the aggregator itself. ``terms``
    are :func:`_mean_terms` of ``x``, when already known.
    """
    if params or method not in ("arithmetic", "geometric"):
        return None
    k = x.shape[-1]
    if w.ndim == 2 or (w.ndim == 3 and w.shape[1] != 1):
        return None
    weights = np.broadcast_to(w.reshape(-1, k), (n_replicates, k))
    if (weights < 0).any():
        return None
    if terms is None:
        terms = _mean_terms(method, x)
        if terms is None:
            return None
    values, mask = terms
    # (replicates × rows): one matrix product for a shared matrix, else per replicate
    numerator = weights @ values.T if x.ndim == 2 else np.einsum("rnk,rk->rn", values, weights)
    if mask is None:  # every child present: the denominator is each replicate's weight sum
        denominator = weights.sum(axis=1, keepdims=True)
    elif x.ndim == 2:
        denominator = weights @ mask.T
    else:
        denominator = np.einsum("rnk,rk->rn", mask, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = numerator / denominator
    if (denominator <= 0).any():
        mean = np.where(denominator > 0, mean, np.nan)
    return np.exp(mean, out=mean) if method == "geometric" else mean


@dataclass
class _Node:
    """What the engine knows about one inner node."""

    id: str
    plan: NodePlan  # the node as every engine runs it (kind, steps, policy)
    children: tuple[str, ...]
    leaf_columns: tuple[int, ...] | None  # indicator columns when every child is one
    weights: FloatArray  # nominal weights, (k,) or per row (n_rows, k), rows sum 1
    step: Step  # nominal aggregation
    missing: Any  # MissingPolicy
    choice: int | None = None  # index of the aggregation factor, if any
    weight_factor: int | None = None
    weight_offset: int = 0  # first coordinate of this node inside its weight factor
    learnt_weights: bool = False


class ReplicateEngine:
    """Decode points of the factor space into index scores, vectorised over replicates."""

    def __init__(
        self,
        nominal: IndexResult,
        spec: UncertaintySpec,
        *,
        located: Located | None = None,
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.nominal = nominal
        self.spec = spec
        self._located = located
        self._prefix = prefix
        framework = nominal.framework
        self.framework = framework
        self.ids: list[str] = list(framework.indicators)
        self.column = {indicator: k for k, indicator in enumerate(self.ids)}
        self.index = nominal.raw.index
        self.x_raw = nominal.raw.to_numpy(dtype=np.float64, copy=True)
        self.n_rows, self.n_indicators = self.x_raw.shape
        self.entity_codes = _codes(self.index.get_level_values("entity"))
        self.period_codes = _codes(self.index.get_level_values("period"))
        self.period_labels = np.sort(self.index.get_level_values("period").unique().to_numpy())
        periods = self.index.get_level_values("period")
        # imputers see numeric periods (years) as numbers, so interpolation keeps the spacing
        self.impute_periods = (
            np.asarray(periods, dtype=np.float64)
            if pd.api.types.is_numeric_dtype(periods)
            else self.period_codes
        )
        self.period_rows = [
            np.flatnonzero(self.period_codes == p) for p in np.unique(self.period_codes)
        ]
        groups = nominal.groups
        self.row_groups = (
            groups.reindex(self.index) if len(groups.columns) else pd.DataFrame(index=self.index)
        )
        self.plan = compile_plan(framework)
        self.direction = self.plan.directions
        self.issues: list[Issue] = []
        self.target = spec.target or framework.id
        if self.target not in framework.children:
            self._issue(
                ("target",),
                f"unknown node '{self.target}'; nodes are {list(framework.postorder())}",
            )
        self.factors: list[_Factor] = []
        self._build_data_factors()
        self.nodes = self._build_nodes()
        self._n_parents = {c: len(ps) for c, ps in framework.parents.items()}
        self._build_weight_factors()
        self._build_weight_sets()
        self._build_aggregation_factors()
        self._build_exclusion()
        self._build_inputs()
        names = [f.name for f in self.factors]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self._issue((), f"two factors are named '{name}'; give them distinct 'name's")
        self._raise()
        offsets = np.cumsum([0] + [f.n_dims for f in self.factors])
        self.offsets = offsets
        self.n_dims = int(offsets[-1])
        self._z_cache: dict[tuple[int, ...], FloatArray] = {}
        self._blocks: dict[tuple[tuple[int, ...], str], FloatArray] = {}
        self._terms: dict[tuple[tuple[int, ...], str, str], Any] = {}
        self._plans: dict[tuple[str, str], NodePlan] = {}
        self._by_rule_cache: dict[tuple[Any, ...], FloatArray] = {}
        self._validate_by_running()
        self._raise()
        self.nominal_target_rank = nominal.ranks[self.target].to_numpy(dtype=np.float64)
        self.nominal_target_score = nominal.scores[self.target].to_numpy(dtype=np.float64)

    # -- issues ----------------------------------------------------------------------------
    def _issue(self, path: tuple[str | int, ...], message: str) -> None:
        full = (*self._prefix, *path)
        if self._located is not None:
            self.issues.append(self._located.issue(full, message))
        else:
            where = ".".join(str(p) for p in ("uncertainty", *path))
            self.issues.append(Issue(message, field=where))

    def _raise(self) -> None:
        if self.issues:
            raise SpecError(self.issues)

    # -- factor construction -----------------------------------------------------------------
    def _build_data_factors(self) -> None:
        spec = self.spec
        pipeline = self.framework.spec.pipeline
        for family in _DATA_STEPS:
            alternatives: list[Step] | None = getattr(spec, family)
            if alternatives is None:
                continue
            registry = _DATA_REGISTRIES[family]
            for position, step in enumerate(alternatives):
                if step.method not in registry:
                    self._issue(
                        (family, position, "method"),
                        f"unknown {family} method '{step.method}'; available: "
                        + ", ".join(registry.names()),
                    )
            if family in ("treat", "normalise") and spec.keep_overrides:
                getter = (
                    self.framework.treat_step
                    if family == "treat"
                    else self.framework.normalise_step
                )
                if all(getter(i) is not getattr(pipeline, family) for i in self.ids):
                    self._issue(
                        (family,),
                        f"the {family} alternatives would change no indicator: every indicator "
                        f"has its own {family} override; vary the overrides instead",
                    )
            labels = tuple(_label(s) for s in alternatives)
            self.factors.append(
                _Factor(
                    name=family,
                    kind="choice",
                    n_dims=1,
                    path=(family,),
                    description=f"{family} method: " + " | ".join(labels),
                    labels=labels,
                    family=family,
                    alternatives=tuple(alternatives),
                )
            )
        for position, choice in enumerate(spec.parameters):
            path: tuple[str | int, ...] = ("parameters", position)
            if getattr(spec, choice.step) is not None:
                self._issue(
                    (*path, "step"),
                    f"the {choice.step} method is already varied (uncertainty.{choice.step}); "
                    f"vary either the method or its parameter '{choice.parameter}', not both",
                )
                continue
            base: Step = getattr(pipeline, choice.step)
            method = _DATA_REGISTRIES[choice.step].get(base.method)
            accepted = _parameters_of(method.func, method.parameters)
            if accepted is not None:  # options the pipeline reads itself
                accepted |= set(PIPELINE_OPTIONS.get(choice.step, {}))
            if accepted is not None and choice.parameter not in accepted:
                self._issue(
                    (*path, "parameter"),
                    f"the pipeline's {choice.step} method '{base.method}' has no parameter "
                    f"'{choice.parameter}'; it accepts {sorted(accepted) or 'none'}",
                )
                continue
            labels = tuple(f"{choice.parameter}={v}" for v in choice.values)
            self.factors.append(
                _Factor(
                    name=choice.name or f"{choice.step}.{choice.parameter}",
                    kind="choice",
                    n_dims=1,
                    path=path,
                    description=f"{choice.step} '{base.method}' parameter {choice.parameter}: "
                    + " | ".join(str(v) for v in choice.values),
                    labels=labels,
                    family=choice.step,
                    alternatives=tuple(choice.values),
                    parameter=choice.parameter,
                )
            )
        self.data_factors = [k for k, f in enumerate(self.factors) if f.kind == "choice"]

    def _build_nodes(self) -> dict[str, _Node]:
        """Nominal weights (as the pipeline learns them) and aggregation of every node."""
        framework = self.framework
        nominal = self.nominal
        columns: dict[str, np.ndarray] = {
            i: nominal.normalised[i].to_numpy(dtype=np.float64) for i in self.ids
        }
        nodes: dict[str, _Node] = {}
        for plan in self.plan.nodes:
            node_id, children = plan.id, plan.children
            block = np.column_stack([columns[c] for c in children])
            w, _ = node_weights(plan, block)
            w = w / w.sum(axis=-1, keepdims=True)
            nodes[node_id] = _Node(
                id=node_id,
                plan=plan,
                children=tuple(children),
                leaf_columns=tuple(k for _, k in plan.sources) if plan.leaf else None,
                weights=w,
                step=framework.aggregate_step(node_id),
                missing=plan.missing,
                learnt_weights=plan.weight.method.learns,
            )
            columns[node_id] = nominal.scores[node_id].to_numpy(dtype=np.float64)
        return nodes

    def _build_weight_factors(self) -> None:
        noise = self.spec.weights
        if noise is None:
            return
        if noise.nodes is None:
            chosen = [
                n
                for n in self.framework.postorder()
                if len(self.nodes[n].children) > 1 and self.nodes[n].plan.formula is None
            ]
        else:
            chosen = []
            for position, node_id in enumerate(noise.nodes):
                path: tuple[str | int, ...] = ("weights", "nodes", position)
                if node_id not in self.nodes:
                    self._issue(path, f"unknown node '{node_id}'; nodes are {list(self.nodes)}")
                elif self.nodes[node_id].plan.formula is not None:
                    self._issue(
                        path,
                        f"node '{node_id}' is scored by its formula "
                        f"({self.nodes[node_id].plan.formula_text}): it has no weights to vary",
                    )
                elif len(self.nodes[node_id].children) < 2:
                    self._issue(
                        path, f"node '{node_id}' has a single child, whose weight cannot vary"
                    )
                else:
                    chosen.append(node_id)
        for node_id in chosen:
            if self.nodes[node_id].weights.ndim != 1:
                method = self.framework.weight_step(node_id).method
                self._issue(
                    ("weights", "nodes"),
                    f"node '{node_id}' has per-entity weights ({method}); "
                    "weight noise applies to one weight vector per node; leave it out of "
                    "weights.nodes",
                )
            if noise.distribution == "dirichlet":
                k = len(self.nodes[node_id].children)
                if noise.noise > 0 and noise.noise**2 >= k - 1:
                    self._issue(
                        ("weights", "noise"),
                        f"Dirichlet noise {noise.noise} is too large for node '{node_id}' "
                        f"({k} children): it must be below sqrt({k} - 1) = {math.sqrt(k - 1):.3g}",
                    )
        groups = [[n] for n in chosen] if noise.per_node else ([chosen] if chosen else [])
        for group in groups:
            index = len(self.factors)
            offset = 0
            for node_id in group:
                self.nodes[node_id].weight_factor = index
                self.nodes[node_id].weight_offset = offset
                offset += len(self.nodes[node_id].children)
            name = f"weights:{group[0]}" if noise.per_node else "weights"
            self.factors.append(
                _Factor(
                    name=name,
                    kind="weights",
                    n_dims=offset,
                    path=("weights",),
                    description=f"{noise.distribution} weight noise {noise.noise:g} at "
                    + ", ".join(group),
                    nodes=tuple(group),
                )
            )

    def _build_weight_sets(self) -> None:
        """Alternative weight sets: one discrete factor over whole sets of node weights."""
        choice = self.spec.weight_sets
        self.weight_set_nodes: set[str] = set()
        if choice is None:
            return
        sets: list[dict[str, FloatArray]] = []
        for position, given in enumerate(choice.sets):
            vectors: dict[str, FloatArray] = {}
            for node_id, weights in given.items():
                path: tuple[str | int, ...] = ("weight_sets", "sets", position, node_id)
                node = self.nodes.get(node_id)
                if node is None:
                    self._issue(path, f"unknown node '{node_id}'; nodes are {list(self.nodes)}")
                    continue
                problem = None
                if node.plan.formula is not None:
                    problem = f"node '{node_id}' is scored by its formula: it has no weights"
                elif node.weights.ndim != 1 or node.learnt_weights:
                    problem = f"node '{node_id}' learns its weights from the data"
                elif node.weight_factor is not None:
                    problem = f"node '{node_id}' already has weight noise; vary one or the other"
                unknown = sorted(set(weights) - set(node.children))
                if unknown:
                    problem = f"{unknown} are not children of '{node_id}' {list(node.children)}"
                values = np.array([float(weights.get(c, 0.0)) for c in node.children])
                if problem is None and (np.any(values < 0) or values.sum() <= 0):
                    problem = "weights must be >= 0 and not all 0"
                if problem is None and set(weights) != set(node.children):
                    problem = f"give a weight to each child of '{node_id}' {list(node.children)}"
                if problem is not None:
                    self._issue(path, problem)
                    continue
                vectors[node_id] = values / values.sum()
                self.weight_set_nodes.add(node_id)
            sets.append(vectors)
        labels = tuple(f"set {k + 1}" for k in range(len(sets)))
        self.factors.append(
            _Factor(
                name=choice.name or "weight_sets",
                kind="weight_set",
                n_dims=1,
                path=("weight_sets",),
                description=f"one of {len(sets)} weight sets for "
                + ", ".join(sorted(self.weight_set_nodes)),
                labels=labels,
                alternatives=tuple(sets),
                nodes=tuple(sorted(self.weight_set_nodes)),
            )
        )

    def _build_aggregation_factors(self) -> None:
        inner = list(self.framework.postorder())
        means = [n for n in inner if self.nodes[n].plan.formula is None]
        for position, choice in enumerate(self.spec.aggregate):
            path: tuple[str | int, ...] = ("aggregate", position)
            nodes = means if choice.nodes == "all" else choice.nodes
            ok = True
            for k, node_id in enumerate(nodes):
                if node_id not in self.nodes:
                    self._issue((*path, "nodes", k), f"unknown node '{node_id}'; nodes are {inner}")
                    ok = False
                elif self.nodes[node_id].plan.formula is not None:
                    self._issue(
                        (*path, "nodes", k),
                        f"node '{node_id}' is scored by its formula "
                        f"({self.nodes[node_id].plan.formula_text}), not aggregated",
                    )
                    ok = False
                elif self.nodes[node_id].choice is not None:
                    self._issue(
                        (*path, "nodes", k),
                        f"node '{node_id}' is already in another aggregation factor",
                    )
                    ok = False
            for k, step in enumerate(choice.methods):
                if step.method not in aggregators:
                    self._issue(
                        (*path, "methods", k, "method"),
                        f"unknown aggregate method '{step.method}'; available: "
                        + ", ".join(aggregators.names()),
                    )
                    ok = False
            if not ok:
                continue
            index = len(self.factors)
            for node_id in nodes:
                self.nodes[node_id].choice = index
            labels = tuple(_label(s) for s in choice.methods)
            default = "aggregate" if choice.nodes == "all" else "aggregate:" + ",".join(nodes)
            self.factors.append(
                _Factor(
                    name=choice.name or default,
                    kind="choice",
                    n_dims=1,
                    path=path,
                    description="aggregation of " + ", ".join(nodes) + ": " + " | ".join(labels),
                    labels=labels,
                    family="aggregate",
                    alternatives=tuple(choice.methods),
                    nodes=tuple(nodes),
                )
            )
        self._check_positive()

    def _check_positive(self) -> None:
        """Means that need children > 0 must not meet a normalisation whose range has 0.

        Checks every node's aggregation (its alternatives, or its nominal method) against
        every normalisation it can meet (the alternatives, or the nominal one); the
        combinations the framework itself already validated are skipped.
        """
        normalise_factor = next(
            (f for f in self.factors if f.kind == "choice" and f.family == "normalise"), None
        )
        normalise_options: list[Step | None] = [None]
        if normalise_factor is not None and not normalise_factor.parameter:
            normalise_options = list(normalise_factor.alternatives)
        for node in self.nodes.values():
            if node.plan.formula is not None:
                continue  # scored by its formula (ranges checked by the framework)
            factor = self.factors[node.choice] if node.choice is not None else None
            steps = list(factor.alternatives) if factor is not None else [node.step]
            for k, step in enumerate(steps):
                options, params = split_options("aggregate", step)
                try:
                    needs = requires_positive(step.method, params)
                except (SecurindexError, ValueError, TypeError):
                    needs = False
                if not needs or options.get("allow_zero", False):
                    continue
                for position, alternative in enumerate(normalise_options):
                    if factor is None and alternative is None:
                        continue  # the nominal framework, already validated
                    low = self._lowest_input(node.id, alternative)
                    if low is None or low > 0:
                        continue
                    which = (
                        f"normalise alternative {_label(alternative)}"
                        if alternative is not None
                        else "the nominal normalisation"
                    )
                    path = (
                        (*factor.path, "methods", k)
                        if factor is not None
                        else ("normalise", position)
                    )
                    self._issue(
                        path,
                        f"aggregation '{step.method}' at node '{node.id}' needs strictly positive "
                        f"children, but with {which} they can be {low:g}; normalise to a "
                        "positive range (e.g. minmax with lo: 1) or add allow_zero: true",
                    )
                    break

    def _lowest_input(self, node_id: str, alternative: Step | None) -> float | None:
        """Lowest possible value of a node's children after normalisation (None: unbounded).

        Inner nodes inherit the lowest value of the indicators under them, as the framework
        assumes when it checks positivity (the built-in means keep their inputs' range).
        """
        lows: list[float] = []
        for child in self.nodes[node_id].children:
            if child in self.nodes and self.nodes[child].plan.formula is not None:
                return None  # a formula's range is the framework's to check
            if child in self.nodes:
                low = self._lowest_input(child, alternative)
                if low is None:
                    return None
                lows.append(low)
                continue
            changed = {"normalise"} if alternative is not None else set()
            steps = {"normalise": alternative or self.framework.spec.pipeline.normalise}
            step = self._indicator_step("normalise", child, steps, changed)
            _, params = split_options("normalise", step)
            try:
                bounds = output_range(step.method, params)
            except (SecurindexError, ValueError, TypeError):
                bounds = None
            if bounds is None:
                return None
            lows.append(bounds[0])
        return min(lows) if lows else None

    def _build_exclusion(self) -> None:
        exclusion = self.spec.exclude
        if exclusion is None:
            return
        if exclusion.indicators == "all":
            candidates = list(self.ids)
        else:
            candidates = []
            for position, indicator in enumerate(exclusion.indicators):
                if indicator not in self.column:
                    self._issue(
                        ("exclude", "indicators", position),
                        f"'{indicator}' is not an indicator of the framework; indicators are "
                        f"{self.ids[:10]}{' …' if len(self.ids) > 10 else ''}",
                    )
                else:
                    candidates.append(indicator)
        levels: list[str | None] = ([None] if exclusion.include_none else []) + list(candidates)
        if len(levels) < 2:
            self._issue(("exclude",), "exclusion needs at least two alternatives")
            return
        self.factors.append(
            _Factor(
                name="exclude",
                kind="exclude",
                n_dims=1,
                path=("exclude",),
                description="leave out one of " + ", ".join(candidates),
                labels=tuple("none" if c is None else c for c in levels),
                candidates=tuple(levels),
            )
        )
        self.parent_of: dict[str, list[tuple[str, int]]] = {}
        for node in self.nodes.values():  # in a DAG an indicator has several parents
            for k, c in enumerate(node.children):
                self.parent_of.setdefault(c, []).append((node.id, k))
        for candidate in candidates:
            formulas = [
                n for n, _ in self.parent_of.get(candidate, []) if self.nodes[n].plan.formula
            ]
            if formulas:
                self._issue(
                    ("exclude", "indicators"),
                    f"'{candidate}' is named by the formula of node '{formulas[0]}', which "
                    "cannot do without it; leave it out of the exclusion",
                )

    def _build_inputs(self) -> None:
        seen: dict[str, int] = {}
        for position, noise in enumerate(self.spec.inputs):
            path: tuple[str | int, ...] = ("inputs", position)
            names = list(self.ids) if noise.indicators == "all" else noise.indicators
            columns = []
            for k, indicator in enumerate(names):
                if indicator not in self.column:
                    self._issue(
                        (*path, "indicators", k),
                        f"'{indicator}' is not an indicator of the framework",
                    )
                elif indicator in seen:
                    self._issue(
                        (*path, "indicators", k),
                        f"'{indicator}' already has input noise (inputs[{seen[indicator]}])",
                    )
                else:
                    seen[indicator] = position
                    columns.append(self.column[indicator])
            if not columns:
                continue
            if noise.distribution == "poisson":
                values = self.x_raw[:, columns] * noise.scale
                if np.nanmin(values) < 0:
                    self._issue(
                        (*path, "distribution"),
                        "poisson noise needs non-negative values (counts); some are negative",
                    )
            label = noise.name or "inputs:" + ",".join(names[:3]) + ("…" if len(names) > 3 else "")
            self.factors.append(
                _Factor(
                    name=label,
                    kind="inputs",
                    n_dims=self.n_rows * len(columns),
                    path=path,
                    description=f"{noise.distribution} noise on " + ", ".join(names),
                    noise=noise,
                    columns=tuple(columns),
                )
            )
        self.has_inputs = any(f.kind == "inputs" for f in self.factors)

    # -- validation by running each alternative once ------------------------------------
    def _validate_by_running(self) -> None:
        """Run every alternative once on the data, so that errors surface before the run.

        Data steps: each alternative of each data factor, the other factors at their first
        alternative (real configurations, reused by the run). Aggregations: every node's
        alternatives (or its own method) on the first configuration, children before
        parents. Errors that only arise in other combinations surface during the run.
        """
        n_data = len(self.data_factors)
        for position, index in enumerate(self.data_factors):
            data_factor = self.factors[index]
            for level in range(len(data_factor.alternatives)):
                key = tuple(level if p == position else 0 for p in range(n_data))
                try:
                    self._normalised(key)
                except SecurindexError as exc:
                    self._issue(
                        data_factor.path if data_factor.parameter else (*data_factor.path, level),
                        f"alternative '{data_factor.labels[level]}' fails on the data: {exc}",
                    )
        if self.issues:
            return
        first = tuple(0 for _ in range(n_data))
        z = self._normalised(first)
        labels = ", ".join(self.factors[k].labels[0] for k in self.data_factors)
        values: dict[str, FloatArray] = {}
        for node in self.nodes.values():  # postorder
            if not all(c in self.column or c in values for c in node.children):
                continue  # a child failed: reported already
            block = np.column_stack(
                [z[:, self.column[c]] if c in self.column else values[c] for c in node.children]
            )
            factor = self.factors[node.choice] if node.choice is not None else None
            steps = list(factor.alternatives) if factor is not None else [node.step]
            for level, step in enumerate(steps):
                try:
                    score = self._combine(node, step, block, node.weights, 1)[0]
                except SecurindexError as exc:
                    where = f" with the data choices {labels}" if labels else ""
                    path = (*factor.path, "methods", level) if factor is not None else ()
                    self._issue(
                        path,
                        f"aggregation '{_label(step)}' fails at node '{node.id}'{where}: {exc}",
                    )
                    continue
                if level == 0:
                    values[node.id] = score

    # -- data steps ------------------------------------------------------------------------------
    def _steps(self, key: tuple[int, ...]) -> tuple[dict[str, Step], set[str]]:
        """The pipeline's default data steps under the choices ``key`` (-1 = nominal), and
        the families that changed."""
        pipeline = self.framework.spec.pipeline
        steps: dict[str, Step] = {family: getattr(pipeline, family) for family in _DATA_STEPS}
        changed: set[str] = set()
        for level, index in zip(key, self.data_factors, strict=True):
            if level < 0:
                continue
            factor = self.factors[index]
            if factor.parameter:
                base = steps[factor.family]
                params = {**base.params, factor.parameter: factor.alternatives[level]}
                steps[factor.family] = Step(method=base.method, **params)
            else:
                steps[factor.family] = factor.alternatives[level]
            changed.add(factor.family)
        return steps, changed

    def _indicator_step(
        self, family: str, indicator: str, steps: Mapping[str, Step], changed: set[str]
    ) -> Step:
        """One indicator's step, as :meth:`Framework.with_steps` would give it: a varied
        family replaces the indicator's own override unless ``keep_overrides``."""
        if family in changed and not self.spec.keep_overrides:
            return steps[family]
        override = self.framework.spec.overrides.get(indicator)
        own = getattr(override, family, None) if override is not None else None
        return own if own is not None else steps[family]

    def _normalised(self, key: tuple[int, ...]) -> FloatArray:
        """The normalised matrix (rows × indicators) of the data choices ``key``."""
        if key not in self._z_cache:
            self._z_cache[key] = self._prepare(key, self.x_raw, 1)
        return self._z_cache[key]

    def _prepare(self, key: tuple[int, ...], x: FloatArray, n_stacked: int) -> FloatArray:
        """Impute, treat and normalise as the pipeline does, on ``n_stacked`` matrices side
        by side (rows × (n_stacked · indicators)).

        Column-wise methods (every built-in one; user methods registered with
        ``columnwise=True``) run once over all replicates; others once per replicate.
        """
        m = self.n_indicators
        steps, changed = self._steps(key)
        offsets = np.arange(n_stacked)[:, None] * m

        def blocks(columns: Sequence[int], columnwise: bool) -> list[np.ndarray]:
            cols = np.asarray(columns)
            if columnwise:
                return [(offsets + cols[None, :]).ravel()]
            return [r * m + cols for r in range(n_stacked)]

        step = steps["impute"]
        options, params = split_options("impute", step)
        method: Any = imputers.get(step.method)
        group_codes = None
        if options.get("group") is not None:
            column = options["group"]
            if column not in self.row_groups.columns:
                raise DataError(
                    f"impute group column '{column}' is not a group of the data; groups are "
                    f"{list(self.row_groups.columns)}"
                )
            group_codes = _codes(self.row_groups[column].to_numpy())
        imputed = np.array(x, dtype=np.float64, copy=True)
        for cols in blocks(range(m), _columnwise(method, params)):
            part = imputed[:, cols]
            if np.isnan(part).any():
                imputed[:, cols] = method(
                    part,
                    entity=self.entity_codes,
                    period=self.impute_periods,
                    groups=group_codes,
                    **params,
                ).values
        treated = imputed.copy()
        treat_steps = [self._indicator_step("treat", i, steps, changed) for i in self.ids]
        for positions in _grouped(treat_steps).values():
            step = treat_steps[positions[0]]
            options, params = split_options("treat", step)
            method = treaters.get(step.method)
            for cols in blocks(positions, _columnwise(method, params)):
                if options.get("per_period", False):
                    treated[:, cols] = treat_by_period(
                        method, imputed[:, cols], self.period_codes, **params
                    ).values
                else:
                    treated[:, cols] = run_treater(method, imputed[:, cols], **params).values
        out = np.full_like(treated, np.nan)
        normalise_steps = [self._indicator_step("normalise", i, steps, changed) for i in self.ids]
        for positions in _grouped(normalise_steps).values():
            step = normalise_steps[positions[0]]
            options, params = split_options("normalise", step)
            mode = str(options.get("reference", "pooled"))
            base_code = None
            if mode == "base":
                matches = np.flatnonzero(self.period_labels == options.get("base_period"))
                if not len(matches):
                    raise DataError(
                        f"normalise method '{step.method}' with reference: base needs "
                        f"base_period in the data; got {options.get('base_period')!r}, "
                        f"periods are {self.period_labels.tolist()}"
                    )
                base_code = int(matches[0])
            method = normalisers.get(step.method)
            entity = options.get("reference_entity")
            for cols in blocks(positions, _columnwise(method, params)):
                direction = self.direction[cols % m]
                if entity is not None:
                    out[:, cols] = self._normalise_to_entity(
                        step.method, treated[:, cols], direction, mode, base_code, entity, params
                    )
                else:
                    out[:, cols] = normalise_by_period(
                        step.method,
                        treated[:, cols],
                        self.period_codes,
                        direction,
                        mode=mode,
                        base_period=base_code,
                        **params,
                    ).values
        return out

    def _normalise_to_entity(
        self,
        method: str,
        x: FloatArray,
        direction: FloatArray,
        mode: str,
        base_code: int | None,
        entity: Any,
        params: Mapping[str, Any],
    ) -> FloatArray:
        """Normalise against one entity's values (``reference_entity``), as the pipeline."""
        func = normalisers.get(method)
        is_entity = np.asarray(self.index.get_level_values("entity") == entity)
        if not is_entity.any():
            raise DataError(f"reference_entity {entity!r} is not an entity of the data")
        if mode == "per_period":
            values = np.full(x.shape, np.nan)
            for rows in self.period_rows:  # a loop over periods, never entities
                here = np.flatnonzero(is_entity[rows])
                if not len(here):
                    raise DataError(
                        f"reference_entity {entity!r} is missing from a period; every period "
                        "needs the reference entity with reference: per_period"
                    )
                values[rows] = func(
                    x[rows], direction=direction, reference_row=int(here[0]), **params
                ).values
            return values
        reference = (
            np.ones(len(x), dtype=bool) if mode == "pooled" else self.period_codes == base_code
        )
        here = np.flatnonzero(is_entity[reference])
        if len(here) != 1:
            raise DataError(
                f"reference_entity {entity!r} has {len(here)} rows in the reference sample "
                f"({mode}); it needs exactly one"
            )
        result = func(
            x, direction=direction, reference=x[reference], reference_row=int(here[0]), **params
        )
        return np.asarray(result.values, dtype=np.float64)

    # -- decoding a chunk -------------------------------------------------------------------
    def _coordinates(self, u: FloatArray, factor: int) -> FloatArray:
        return u[:, self.offsets[factor] : self.offsets[factor + 1]]

    def _data_keys(self, u: FloatArray) -> np.ndarray:
        """Per replicate, the index of its data choices among all combinations, (C, n_data)."""
        levels = [
            _choose(self._coordinates(u, k)[:, 0], len(self.factors[k].alternatives))
            for k in self.data_factors
        ]
        if not levels:
            return np.zeros((u.shape[0], 0), dtype=np.int64)
        return np.column_stack(levels)

    def _perturbed(self, u: FloatArray) -> FloatArray:
        """Raw indicator values with input noise, (C, rows, indicators)."""
        n_chunk = u.shape[0]
        x = np.broadcast_to(self.x_raw, (n_chunk, *self.x_raw.shape)).copy()
        for k, factor in enumerate(self.factors):
            if factor.kind != "inputs":
                continue
            noise = factor.noise
            assert noise is not None
            cols = list(factor.columns)
            v = np.clip(self._coordinates(u, k), _U_EPS, 1.0 - _U_EPS)
            v = v.reshape(n_chunk, self.n_rows, len(cols))
            base = x[:, :, cols]
            if noise.distribution == "poisson":
                counts = np.where(np.isnan(base), 0.0, base * noise.scale)
                new = _poisson_quantile(v, counts) / noise.scale
            else:
                draw = (
                    ndtri(v) if noise.distribution == "normal" else (2.0 * v - 1.0) * math.sqrt(3.0)
                )
                if noise.relative_sd is not None:
                    new = base * (1.0 + noise.relative_sd * draw)
                else:
                    sd = noise.sd if noise.sd is not None else float(noise.margin or 0.0) / _Z95
                    new = base + sd * draw
            if noise.lower is not None or noise.upper is not None:
                new = np.clip(new, noise.lower, noise.upper)
            x[:, :, cols] = np.where(np.isnan(base), np.nan, new)
        return x

    def _data_groups(
        self, u: FloatArray
    ) -> list[tuple[np.ndarray, FloatArray, tuple[int, ...] | None]]:
        """The chunk's replicates grouped by their normalised data.

        Without input noise each group shares one (rows × indicators) matrix, computed once
        per combination of data choices (the third item is that combination); with input
        noise there is one group holding a (replicates × rows × indicators) array.
        """
        n_chunk = u.shape[0]
        keys = self._data_keys(u)
        if keys.shape[1]:
            unique, inverse = np.unique(keys, axis=0, return_inverse=True)
            inverse = np.asarray(inverse).ravel()
        else:
            unique, inverse = np.zeros((1, 0), dtype=np.int64), np.zeros(n_chunk, dtype=np.int64)
        if not self.has_inputs:
            groups: list[tuple[np.ndarray, FloatArray, tuple[int, ...] | None]] = []
            for g, row in enumerate(unique):
                key = tuple(int(v) for v in row)
                groups.append((np.flatnonzero(inverse == g), self._normalised(key), key))
            return groups
        x = self._perturbed(u)
        out = np.empty((n_chunk, self.n_rows, self.n_indicators))
        for g, key in enumerate(unique):
            selected = np.flatnonzero(inverse == g)
            wide = x[selected].transpose(1, 0, 2).reshape(self.n_rows, -1)
            prepared = self._prepare(tuple(int(v) for v in key), wide, len(selected))
            out[selected] = prepared.reshape(self.n_rows, len(selected), -1).transpose(1, 0, 2)
        return [(np.arange(n_chunk), out, None)]

    def weights_chunk(self, u: FloatArray) -> dict[str, FloatArray]:
        """Each node's weights for a chunk, the left-out indicator's set to 0.

        Shapes: (k,) or per row (rows, k) when they do not vary, else (C, 1, k) or
        (C, rows, k).
        """
        n_chunk = u.shape[0]
        out = self.sampled_weights(u)
        exclusion = next((k for k, f in enumerate(self.factors) if f.kind == "exclude"), None)
        if exclusion is not None:
            factor = self.factors[exclusion]
            level = _choose(self._coordinates(u, exclusion)[:, 0], len(factor.candidates))
            for position, candidate in enumerate(factor.candidates):
                if candidate is None:
                    continue
                rows = np.flatnonzero(level == position)
                if not len(rows):
                    continue
                for node_id, child in self.parent_of[candidate]:
                    w = out[node_id]
                    if w.ndim < 3:  # (k,) or per-row (rows, k): one copy per replicate
                        per_row = w if w.ndim == 2 else w[None, :]
                        w = np.broadcast_to(per_row, (n_chunk, *per_row.shape)).copy()
                    w[rows, :, child] = 0.0
                    out[node_id] = w
        return out

    def sampled_weights(self, u: FloatArray) -> dict[str, FloatArray]:
        """Each node's weights under the weight noise alone (rescaled to sum 1)."""
        n_chunk = u.shape[0]
        noise = self.spec.weights
        out: dict[str, FloatArray] = {}
        for node in self.nodes.values():
            w = node.weights
            if node.weight_factor is not None and noise is not None:
                k = len(node.children)
                v = self._coordinates(u, node.weight_factor)[
                    :, node.weight_offset : node.weight_offset + k
                ]
                if noise.noise == 0:
                    draw = np.broadcast_to(w, (n_chunk, k)).copy()
                elif noise.distribution == "uniform":
                    draw = w[None, :] * (1.0 + noise.noise * (2.0 * v - 1.0))
                else:
                    concentration = (k - 1) / noise.noise**2 - 1.0
                    alpha = concentration * w
                    safe = np.where(alpha > 0, alpha, 1.0)
                    gamma = np.where(
                        alpha > 0, gammaincinv(safe, np.clip(v, _U_EPS, 1 - _U_EPS)), 0.0
                    )
                    draw = gamma
                total = draw.sum(axis=1, keepdims=True)
                w = (draw / np.where(total > 0, total, 1.0))[:, None, :]
            out[node.id] = w
        for k, factor in enumerate(self.factors):  # whole weight sets, one per replicate
            if factor.kind != "weight_set":
                continue
            level = _choose(self._coordinates(u, k)[:, 0], len(factor.alternatives))
            for node_id in factor.nodes:
                nominal = self.nodes[node_id].weights
                table = np.stack([s.get(node_id, nominal) for s in factor.alternatives])
                out[node_id] = table[level][:, None, :]
        return out

    def _node_plan(self, node: _Node, step: Step) -> NodePlan:
        """The node's plan aggregated with ``step`` (its own, or an alternative)."""
        if step is node.step:
            return node.plan
        key = (node.id, step.key())
        if key not in self._plans:
            self._plans[key] = node.plan.with_aggregate(step)
        return self._plans[key]

    def _combine(
        self,
        node: _Node,
        step: Step,
        x: FloatArray,
        w: FloatArray,
        n_replicates: int,
        cache: tuple[int, ...] | None = None,
    ) -> FloatArray:
        """Score one node for ``n_replicates`` replicates: (n_replicates, rows).

        ``x`` is the children, shared by the replicates (rows × children) or per replicate
        (replicates × rows × children); ``w`` the weights, (children,), per row
        (rows × children) or per replicate (replicates × 1 × children). The node rules of
        :mod:`securindex.plan.rules` apply as in every engine (missing-data policy,
        ``allow_zero``, the node's kind). Arithmetic and geometric means with one weight
        vector per replicate are two matrix products; every other case calls the rule,
        broadcast over replicates.
        """
        plan = self._node_plan(node, step)
        score = self._score(node, step, plan, x, w, n_replicates, cache)
        if plan.impute is not None:
            score, _ = impute_node(plan, score, self._node_codes(plan))
        if plan.normalise is not None:
            score, _ = normalise_node(plan, score, self.period_codes)
        return score

    def _node_codes(self, plan: NodePlan) -> dict[str, Any]:
        """Entity, period and group codes of the rows, for a node's imputation."""
        codes: dict[str, Any] = {
            "entity": self.entity_codes,
            "period": self.impute_periods,
            "groups": None,
        }
        if plan.impute_group is not None:
            codes["groups"] = _codes(self.row_groups[plan.impute_group].to_numpy())
        return codes

    def _score(
        self,
        node: _Node,
        step: Step,
        plan: NodePlan,
        x: FloatArray,
        w: FloatArray,
        n_replicates: int,
        cache: tuple[int, ...] | None,
    ) -> FloatArray:
        """The node's scores by its rule, before its own imputation: (n_replicates, rows)."""
        if plan.kind == NODE_KIND_FORMULA:  # row by row, all replicates in one call
            block = np.broadcast_to(x, (n_replicates, *x.shape[-2:])) if x.ndim == 2 else x
            values = score_node(
                plan, block, w, {}, total=1.0, period_codes=self.period_codes
            ).values
            return np.asarray(values, dtype=np.float64).reshape(n_replicates, self.n_rows)
        if plan.kind != NODE_KIND_WEIGHTED:
            return self._by_rule(plan, x, w, n_replicates, cache)
        given = x
        x, _ = apply_missing_policy(plan, x, w, weight_total(w))
        x, _ = zero_rows(plan, x)
        terms = None
        if cache is not None and x is given and not plan.aggregate.params:
            # a matrix shared by many chunks: its logs and mask are computed once
            cache_key = (cache, node.id, step.method)
            if cache_key not in self._terms:
                self._terms[cache_key] = _mean_terms(step.method, x)
            terms = self._terms[cache_key]
        fast = _matrix_mean(step.method, plan.aggregate.params, x, w, n_replicates, terms)
        if fast is not None:
            return fast
        block = np.broadcast_to(x, (n_replicates, *x.shape[-2:])) if x.ndim == 2 else x
        try:
            score = aggregate_block(plan, block, w, self.period_codes)
        except DataError as exc:
            raise DataError(f"node '{node.id}' ({step.method}): {exc}") from None
        return np.asarray(score, dtype=np.float64).reshape(n_replicates, self.n_rows)

    def _by_rule(
        self,
        plan: NodePlan,
        x: FloatArray,
        w: FloatArray,
        n_replicates: int,
        cache: tuple[int, ...] | None,
    ) -> FloatArray:
        """A node of another kind than a weighted mean, scored by its rule on each
        replicate's children as the pipeline scores it, its weighting learnt anew (for
        benefit of the doubt, the score is the LP optimum): once per shared matrix and set
        of children, else once per replicate. A child whose weight is 0 in every row (a
        left-out indicator) is not a child of the replicate's node."""
        out = np.empty((n_replicates, self.n_rows))
        w3 = np.broadcast_to(w, (n_replicates, *w.shape[-2:])) if w.ndim >= 2 else None
        for r in range(n_replicates):
            w_r = w if w3 is None else w3[r]
            zero = (np.asarray(w_r) == 0).reshape(-1, x.shape[-1]).all(axis=0)
            dropped = tuple(int(k) for k in np.flatnonzero(zero))
            x_r = x if x.ndim == 2 else x[r]
            key = (cache, plan.id, plan.aggregate.key, dropped) if x.ndim == 2 else None
            if key is not None and key in self._by_rule_cache:
                out[r] = self._by_rule_cache[key]
                continue
            sub = plan.without(dropped) if dropped else plan
            block = np.delete(x_r, dropped, axis=-1) if dropped else x_r
            weights, info = node_weights(sub, block)
            out[r] = score_node(
                sub,
                block,
                weights,
                info,
                total=weight_total(weights),
                period_codes=self.period_codes,
            ).values
            if key is not None:
                self._by_rule_cache[key] = out[r]
        return out

    def scores_chunk(self, u: FloatArray) -> FloatArray:
        """Scores of the target node for each replicate of a chunk, (C, rows)."""
        n_chunk = u.shape[0]
        groups = self._data_groups(u)
        weights = self.weights_chunk(u)
        values: dict[str, FloatArray] = {}
        waiting: dict[str, int] = {}
        for node_id in self.framework.postorder():
            node = self.nodes[node_id]
            levels = None
            if node.choice is not None:
                factor = self.factors[node.choice]
                levels = _choose(self._coordinates(u, node.choice)[:, 0], len(factor.alternatives))
            score = np.empty((n_chunk, self.n_rows))
            if node.leaf_columns is not None:
                for rows, z, key in groups:
                    x = self._leaf_block(node, z, key)
                    self._fill(node, x, weights[node_id], levels, rows, score, key)
            else:
                block = np.stack(
                    [
                        values[c] if c in values else self._leaf(c, groups, n_chunk)
                        for c in node.children
                    ],
                    axis=-1,
                )
                self._fill(node, block, weights[node_id], levels, np.arange(n_chunk), score)
            values[node_id] = score
            if node_id == self.target:
                return score
            for child in node.children:  # dropped once every parent has used them
                waiting[child] = waiting.get(child, self._n_parents.get(child, 1)) - 1
                if waiting[child] <= 0:
                    values.pop(child, None)
        raise AssertionError("the target node was not reached")  # pragma: no cover

    def _leaf(
        self,
        indicator: str,
        groups: list[tuple[np.ndarray, FloatArray, tuple[int, ...] | None]],
        n_chunk: int,
    ) -> FloatArray:
        """One indicator's normalised values per replicate, (C, rows)."""
        out = np.empty((n_chunk, self.n_rows))
        for rows, z, _ in groups:
            out[rows] = z[..., self.column[indicator]]
        return out

    def _leaf_block(self, node: _Node, z: FloatArray, key: tuple[int, ...] | None) -> FloatArray:
        """A leaf node's children: (rows × k) of a shared matrix (cached), or per replicate."""
        assert node.leaf_columns is not None
        columns = list(node.leaf_columns)
        if key is None:
            return z[..., columns]
        cache_key = (key, node.id)
        if cache_key not in self._blocks:
            self._blocks[cache_key] = z[:, columns]
        return self._blocks[cache_key]

    def _fill(
        self,
        node: _Node,
        x: FloatArray,
        w: FloatArray,
        levels: np.ndarray | None,
        rows: np.ndarray,
        out: FloatArray,
        cache: tuple[int, ...] | None = None,
    ) -> None:
        """Aggregate the replicates ``rows`` of a node into ``out``, per aggregation choice."""
        if not len(rows):
            return
        w_rows = w[rows] if w.ndim == 3 else w
        if levels is None:
            out[rows] = self._combine(node, node.step, x, w_rows, len(rows), cache)
            return
        factor = self.factors[node.choice] if node.choice is not None else None
        assert factor is not None
        for level, step in enumerate(factor.alternatives):
            chosen = np.flatnonzero(levels[rows] == level)
            if not len(chosen):
                continue
            x_sel = x if x.ndim == 2 else x[chosen]
            w_sel = w_rows[chosen] if w_rows.ndim == 3 else w_rows
            shared = cache if x.ndim == 2 else None
            out[rows[chosen]] = self._combine(node, step, x_sel, w_sel, len(chosen), shared)

    def ranks(self, scores: FloatArray) -> FloatArray:
        """Rank within each period, 1 = the best score (the highest, or the lowest for a
        target with ``higher_is: worse``), ties get the lowest rank ("min")."""
        better = self.framework.higher_is(self.target) == "better"
        return np.ascontiguousarray(rank_within_periods(scores.T, self.period_codes, better).T)

    # -- the tidy description of a chunk's factors ----------------------------------------------
    def describe_chunk(self, u: FloatArray) -> dict[str, np.ndarray]:
        """The sampled value of every factor for each replicate (inputs noise excluded)."""
        columns: dict[str, np.ndarray] = {}
        weights: dict[str, FloatArray] | None = None
        for k, factor in enumerate(self.factors):
            if factor.kind in ("choice", "exclude", "weight_set"):
                n_levels = len(factor.labels)
                level = _choose(self._coordinates(u, k)[:, 0], n_levels)
                columns[factor.name] = np.asarray(factor.labels, dtype=object)[level]
            elif factor.kind == "weights":
                if weights is None:
                    weights = self.sampled_weights(u)
                for node_id in factor.nodes:
                    w = weights[node_id]
                    for position, child in enumerate(self.nodes[node_id].children):
                        columns[f"weight:{node_id}:{child}"] = np.asarray(w[:, 0, position])
        return columns

    # -- sampling -------------------------------------------------------------------------------
    def streams(self, seed: Seed) -> list[np.random.Generator]:
        """One generator per factor, so draws do not depend on the chunk size."""
        return as_generator(seed).spawn(len(self.factors))

    def draw(self, streams: Sequence[np.random.Generator], n: int) -> FloatArray:
        """The next ``n`` points of the factor space, (n, n_dims) in [0, 1)."""
        if not self.factors:
            return np.zeros((n, 0))
        return np.hstack(
            [s.random((n, f.n_dims)) for s, f in zip(streams, self.factors, strict=True)]
        )

    def chunk_size(self, requested: int | None) -> int:
        if requested is not None:
            if requested < 1:
                raise SpecError(f"chunk_size must be >= 1; got {requested}")
            return int(requested)
        if self.has_inputs:  # every replicate has its own normalised matrix
            width = self.n_indicators
        else:  # shared matrices; per replicate one score per node and child blocks
            width = max(len(self.nodes), max(len(n.children) for n in self.nodes.values()))
        return max(1, _CHUNK_ELEMENTS // max(1, self.n_rows * width))

    def factor_table(self) -> pd.DataFrame:
        rows = []
        for k, factor in enumerate(self.factors):
            rows.append(
                {
                    "factor": factor.name,
                    "kind": factor.kind,
                    "dimensions": factor.n_dims,
                    "levels": len(factor.labels) if factor.labels else np.nan,
                    "first_column": int(self.offsets[k]),
                    "description": factor.description,
                }
            )
        return pd.DataFrame(
            rows, columns=["factor", "kind", "dimensions", "levels", "first_column", "description"]
        )


def _grouped(steps: list[Step]) -> dict[str, list[int]]:
    """Indicator positions sharing the same step settings (as the pipeline groups them)."""
    groups: dict[str, list[int]] = {}
    for position, step in enumerate(steps):
        groups.setdefault(step.key(), []).append(position)
    return groups


def _parameters_of(func: Callable[..., Any], declared: tuple[str, ...] | None) -> set[str] | None:
    """Parameters a method accepts, or None when it takes arbitrary keywords."""
    signature = inspect.signature(func).parameters
    named = {
        name
        for name, p in signature.items()
        if p.kind is p.KEYWORD_ONLY
        and name
        not in ("direction", "reference", "learnt", "groups", "entity", "period", "nominal")
    }
    if declared is not None:
        return set(declared) | named
    if any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        return None
    return named


# --------------------------------------------------------------------------------------
# Streaming summaries
# --------------------------------------------------------------------------------------


class _RowDistribution:
    """Per-row distribution of a replicate output: stored exactly, or as a histogram.

    The histogram has :data:`_BINS` bins per row plus an underflow and an overflow bin,
    and the exact extremes of every row, so memory does not grow with the number of
    replicates. Integer outputs (ranks) up to :data:`_BINS` get one bin per value, which
    makes their quantiles exact; scores get bins over three times the range of the first
    chunk, centred on it.
    """

    def __init__(self, n_rows: int, *, exact: bool, integer_max: int | None = None) -> None:
        self.n_rows = n_rows
        self.exact = exact
        self.integer_max = integer_max
        self.chunks: list[FloatArray] = []
        self.count = np.zeros(n_rows)
        self.total = np.zeros(n_rows)
        self.low = np.full(n_rows, np.inf)
        self.high = np.full(n_rows, -np.inf)
        self.start = np.zeros(n_rows)
        self.width = np.ones(n_rows)
        self.n_bins = 0
        self.hist: np.ndarray | None = None  # (rows × (bins + 2)), flattened

    def add(self, values: FloatArray) -> None:
        valid = ~np.isnan(values)
        self.count += valid.sum(axis=0)
        self.total += np.where(valid, values, 0.0).sum(axis=0)
        self.low = np.minimum(self.low, np.where(valid, values, np.inf).min(axis=0))
        self.high = np.maximum(self.high, np.where(valid, values, -np.inf).max(axis=0))
        if self.exact:
            self.chunks.append(values.copy())
            return
        if self.hist is None:
            self._start_histogram()
        assert self.hist is not None
        with np.errstate(invalid="ignore"):
            position = np.floor((values - self.start) / self.width)
        position = np.clip(np.where(valid, position, 0.0), -1, self.n_bins) + 1  # 0: under
        flat = position.astype(np.int64) + np.arange(self.n_rows) * (self.n_bins + 2)
        for replicate, cells in zip(flat, valid, strict=True):
            # one replicate puts each row in one bin: no repeated index, so += is exact;
            # a loop over replicates, each step vectorised over the rows
            self.hist[np.compress(cells, replicate)] += 1

    def _start_histogram(self) -> None:
        if self.integer_max is not None:
            width = float(max(1, math.ceil(self.integer_max / _BINS)))
            self.n_bins = math.ceil(self.integer_max / width)
            self.start = np.full(self.n_rows, 0.5)
            self.width = np.full(self.n_rows, width)
        else:
            low = np.where(np.isfinite(self.low), self.low, 0.0)
            high = np.where(np.isfinite(self.high), self.high, 1.0)
            span = np.maximum(high - low, 1e-9 * (np.abs(low) + 1.0))
            self.n_bins = _BINS
            self.start = low - span
            self.width = 3.0 * span / self.n_bins
        self.hist = np.zeros(self.n_rows * (self.n_bins + 2), dtype=np.int32)

    def mean(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / self.count, np.nan)

    def values(self) -> FloatArray | None:
        return np.vstack(self.chunks) if self.exact and self.chunks else None

    def quantiles(self, probabilities: Sequence[float]) -> FloatArray:
        """(len(probabilities), n_rows) quantiles, numpy's default (linear) definition."""
        if self.exact:
            return _column_quantiles(np.vstack(self.chunks), probabilities)
        assert self.hist is not None
        hist = self.hist.reshape(self.n_rows, self.n_bins + 2)
        cumulative = np.cumsum(hist, axis=1)
        out = np.full((len(probabilities), self.n_rows), np.nan)
        last = np.maximum(self.count - 1.0, 0.0)
        for j, q in enumerate(probabilities):
            h = q * last
            lower = np.floor(h)
            a = self._order_statistic(hist, cumulative, lower)
            b = self._order_statistic(hist, cumulative, np.minimum(lower + 1, last))
            out[j] = np.where(self.count > 0, a + (h - lower) * (b - a), np.nan)
        return out

    def _order_statistic(
        self, hist: np.ndarray, cumulative: np.ndarray, k: FloatArray
    ) -> FloatArray:
        """The k-th smallest (0-based) replicate of every row, interpolated within its bin."""
        position = np.argmax(cumulative > k[:, None], axis=1)
        rows = np.arange(self.n_rows)
        before = np.where(position > 0, cumulative[rows, np.maximum(position - 1, 0)], 0)
        inside = (k - before + 0.5) / np.maximum(hist[rows, position], 1)
        if self.integer_max is not None and np.all(self.width == 1.0):
            value = self.start + (position - 0.5) * self.width  # one bin per rank: exact
        else:
            value = self.start + (position - 1 + inside) * self.width
        top = self.start + self.n_bins * self.width
        value = np.where(position == 0, self.low + inside * (self.start - self.low), value)
        value = np.where(position == self.n_bins + 1, top + inside * (self.high - top), value)
        with np.errstate(invalid="ignore"):
            return np.clip(value, self.low, self.high)


def _column_quantiles(data: FloatArray, probabilities: Sequence[float]) -> FloatArray:
    """Quantiles of every column ignoring NaN, numpy's linear definition, without a loop.

    Equals ``np.nanquantile(data, probabilities, axis=0)`` (NaN for an all-NaN column).
    """
    ordered = np.sort(data, axis=0)  # NaN last
    count = (~np.isnan(data)).sum(axis=0)
    last = np.maximum(count - 1, 0)
    columns = np.arange(data.shape[1])
    out = np.full((len(probabilities), data.shape[1]), np.nan)
    for j, q in enumerate(probabilities):
        h = q * last
        lower = np.floor(h).astype(np.int64)
        upper = np.minimum(lower + 1, last)
        a = ordered[lower, columns]
        b = ordered[upper, columns]
        out[j] = np.where(count > 0, a + (h - lower) * (b - a), np.nan)
    return out


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UncertaintyResult:
    """The outcome of :func:`run_uncertainty`; immutable.

    Attributes
    ----------
    summary
        One row per (entity, period) of the target node: ``nominal_score``,
        ``median_score``, ``score_low``, ``score_high`` [score], ``nominal_rank``,
        ``median_rank``, ``rank_low``, ``rank_high``, ``mean_rank`` [rank, 1 = best] and
        ``mean_abs_rank_shift`` (mean of |replicate rank − nominal rank|) [ranks].
        ``low``/``high`` are the ``interval`` quantiles over replicates (5 % and 95 % by
        default).
    replicates
        The tidy table: one row per replicate with every sampled factor (discrete choices as
        labels, weights as ``weight:<node>:<child>`` [unitless, sum 1 per node]) and its
        outputs: ``mean_rank_shift`` (mean over entities of |rank − nominal rank|) [ranks].
        Input-noise draws (one per entity) are not tabulated; ``seed`` reproduces them.
    factors
        One row per factor: name, kind, dimensions, levels, first column in the factor
        space, description.
    scores, ranks
        Every replicate's scores and ranks (replicates × rows), when they were kept
        (``exact`` is True), else None.
    target
        The node summarised (the framework id = the index).
    interval
        The quantiles of the low and high bounds.
    exact
        True when the quantiles come from every stored replicate; False when from per-row
        histograms (ranks exact up to 1 000 rows; scores to within 0.3 % of their range).
    """

    summary: pd.DataFrame
    replicates: pd.DataFrame
    factors: pd.DataFrame
    target: str
    n_replicates: int
    interval: tuple[float, float]
    exact: bool
    scores: pd.DataFrame | None = None
    ranks: pd.DataFrame | None = None
    spec: UncertaintySpec | None = field(default=None, repr=False)

    def long(self) -> pd.DataFrame:
        """Every replicate's score and rank of every row, in long (tidy) form.

        Returns
        -------
        DataFrame
            Columns ``replicate``, ``entity``, ``period``, ``score`` [score], ``rank``
            [rank]; n_replicates × rows rows.

        Raises
        ------
        DataError
            If the replicates were not kept (``keep_replicates=False``, or too many
            replicates × rows): only the summaries exist then.
        """
        if self.scores is None or self.ranks is None:
            raise DataError(
                "the replicates were not kept (n_replicates × rows above the limit, or "
                "keep_replicates=False); run again with keep_replicates=True, or use summary"
            )
        n_replicates, n_rows = self.scores.shape
        index = self.summary.index
        return pd.DataFrame(
            {
                "replicate": np.repeat(np.arange(n_replicates), n_rows),
                "entity": np.tile(index.get_level_values("entity"), n_replicates),
                "period": np.tile(index.get_level_values("period"), n_replicates),
                "score": self.scores.to_numpy().ravel(),
                "rank": self.ranks.to_numpy().ravel(),
            }
        )

    @property
    def mean_rank_shift(self) -> float:
        """Average over replicates of the mean absolute rank shift [ranks]."""
        return float(self.replicates["mean_rank_shift"].mean())

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``summary.csv``, ``replicates.csv``, ``factors.csv`` and ``uncertainty.json``
        (target, replicates, interval, whether the quantiles are exact) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, frame, keep_index in (
            ("summary", self.summary, True),
            ("replicates", self.replicates, False),
            ("factors", self.factors, False),
        ):
            path = folder / f"{name}.csv"
            (frame.reset_index() if keep_index else frame).to_csv(path, index=False)
            written[name] = path
        # what the numbers mean, for readers of the folder (the report flags approximations)
        meta = {
            "target": self.target,
            "n_replicates": int(self.n_replicates),
            "interval": [float(q) for q in self.interval],
            "exact": bool(self.exact),
            # replicates normalised otherwise score on other scales: only ranks compare
            "normalisation_varies": None if self.spec is None else bool(self.spec.normalise),
        }
        written["meta"] = folder / "uncertainty.json"
        written["meta"].write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return written

    def __repr__(self) -> str:
        return (
            f"UncertaintyResult({self.target}: {self.n_replicates} replicates, "
            f"{len(self.summary)} rows, {len(self.factors)} factors, mean rank shift "
            f"{self.mean_rank_shift:.3g})"
        )


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def uncertainty_factors(
    nominal: IndexResult, spec: UncertaintySpec | Mapping[str, Any] | str | Path
) -> pd.DataFrame:
    """Validate ``spec`` against the nominal build and list its factors (a dry run).

    Parameters
    ----------
    nominal : IndexResult
        The nominal build (``framework.compute(data)``).
    spec : UncertaintySpec, mapping, or path of a YAML file
        What varies.

    Returns
    -------
    DataFrame
        One row per factor: ``factor``, ``kind`` (choice, weights, exclude, inputs),
        ``dimensions`` (coordinates in the factor space), ``levels`` (discrete choices),
        ``first_column``, ``description``.

    Raises
    ------
    SpecError
        Listing every node, indicator, step or parameter that does not exist and every
        alternative that fails on the nominal data.
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    return ReplicateEngine(nominal, parsed, located=located, prefix=prefix).factor_table()


def sample_factors(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    n_replicates: int,
    *,
    seed: Seed = None,
) -> FloatArray:
    """The points of the factor space that :func:`run_uncertainty` draws with ``seed``.

    Returns
    -------
    FloatArray, shape (n_replicates, n_dimensions)
        Coordinates in [0, 1); the columns of each factor start at its ``first_column``
        (see :func:`uncertainty_factors`). Row ``i`` is replicate ``i`` of
        ``run_uncertainty(..., seed=seed)``; pass it to :func:`rebuild_replicate`.
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    return engine.draw(engine.streams(seed if seed is not None else parsed.seed), n_replicates)


def run_uncertainty(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    *,
    n_replicates: int | None = None,
    seed: Seed = None,
    interval: tuple[float, float] = (0.05, 0.95),
    chunk_size: int | None = None,
    keep_replicates: bool | None = None,
    progress: bool = False,
    max_replicates: int | None = MAX_REPLICATES,
) -> UncertaintyResult:
    """Monte-Carlo uncertainty analysis: how ranks and scores move under the choices.

    Parameters
    ----------
    nominal : IndexResult
        The nominal build (``framework.compute(data)``); its framework, indicator values
        and rows are the starting point of every replicate.
    spec : UncertaintySpec, mapping, or path of a YAML file
        What varies (see :class:`UncertaintySpec`); validated before anything runs.
    n_replicates : int, optional
        Number of replicates [count]; default ``spec.n_replicates`` (1 000).
    seed : int, numpy Generator or None
        Randomness; default ``spec.seed``. One seed gives one result, whatever the chunk
        size.
    interval : (float, float), default (0.05, 0.95)
        Quantiles of the reported rank and score intervals [probability].
    chunk_size : int, optional
        Replicates evaluated together; bounds memory. Default: about 2**22 elements in the
        largest array (chunk × rows × the widest node, or × indicators with input noise).
    keep_replicates : bool, optional
        Keep every replicate's scores and ranks (exact quantiles, ``result.scores``);
        default: when ``n_replicates × rows`` is at most 2**22.
    progress : bool, default False
        Show a progress bar (rich) while running.
    max_replicates : int or None, default :data:`MAX_REPLICATES` (100 000)
        Refuse more replicates than this, with the run's estimated time and memory
        (``None``: no limit).

    Returns
    -------
    UncertaintyResult
        Per-entity intervals (``summary``), the tidy per-replicate table (``replicates``)
        and the factor list.

    Raises
    ------
    SpecError
        If the specification addresses a step, node, indicator or parameter that does not
        exist, or an alternative fails on the nominal data.

    Notes
    -----
    A replicate is defined as the pipeline run with its sampled choices
    (:func:`rebuild_replicate` runs exactly that, slowly): the pipeline's data steps with
    the chosen alternatives, the nominal weights (as the build learnt them) times the weight
    noise, the chosen aggregation per node, the left-out indicator's weight set to 0 (the
    aggregators renormalise over the others, as removing it from its node would), and the
    perturbed input values. Screening keeps the nominal rows. Data-derived weights (PCA,
    benefit of the doubt) are frozen at their nominal values.

    The rank shift of replicate r is :math:`\\frac1n \\sum_i |R_{ri} - R_{0i}|`, the mean
    absolute rank change against the nominal ranks :math:`R_0` (Saisana et al. 2005).

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, step 7,
       pp. 117–131. doi:10.1787/9789264043466-en
    .. [2] Saisana, M., Saltelli, A. & Tarantola, S. (2005). JRSS A 168(2), 307–323.
       doi:10.1111/j.1467-985X.2005.00350.x
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    n = parsed.n_replicates if n_replicates is None else int(n_replicates)
    if n < 1:
        raise SpecError(f"n_replicates must be >= 1; got {n}")
    check_replicates(n, max_replicates, **_budget(engine, n, keep_replicates))
    low_q, high_q = interval
    if not 0.0 <= low_q < high_q <= 1.0:
        raise SpecError(f"interval must be two quantiles 0 <= low < high <= 1; got {interval}")
    streams = engine.streams(seed if seed is not None else parsed.seed)
    size = engine.chunk_size(chunk_size)
    n_rows = engine.n_rows
    exact = keep_replicates if keep_replicates is not None else n * n_rows <= _EXACT_CELLS
    max_rank = max(len(r) for r in engine.period_rows)
    score_dist = _RowDistribution(n_rows, exact=exact)
    rank_dist = _RowDistribution(n_rows, exact=exact, integer_max=max_rank)
    shift_total = np.zeros(n_rows)
    shift_count = np.zeros(n_rows)
    described: list[dict[str, np.ndarray]] = []
    shifts: list[FloatArray] = []
    nominal_rank = engine.nominal_target_rank
    for start in replicate_progress(range(0, n, size), progress, total=math.ceil(n / size)):
        count = min(size, n - start)
        u = engine.draw(streams, count)
        scores = engine.scores_chunk(u)
        ranks = engine.ranks(scores)
        score_dist.add(scores)
        rank_dist.add(ranks)
        shift = np.abs(ranks - nominal_rank[None, :])
        valid = ~np.isnan(shift)
        shift_total += np.where(valid, shift, 0.0).sum(axis=0)
        shift_count += valid.sum(axis=0)
        with np.errstate(invalid="ignore"):
            shifts.append(
                np.where(
                    valid.any(axis=1), np.nansum(shift, axis=1) / valid.sum(axis=1).clip(1), np.nan
                )
            )
        described.append(engine.describe_chunk(u))
    probabilities = [low_q, 0.5, high_q]
    score_q = score_dist.quantiles(probabilities)
    rank_q = rank_dist.quantiles(probabilities)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_shift = np.where(shift_count > 0, shift_total / shift_count, np.nan)
    summary = pd.DataFrame(
        {
            "nominal_score": engine.nominal_target_score,
            "median_score": score_q[1],
            "score_low": score_q[0],
            "score_high": score_q[2],
            "mean_score": score_dist.mean(),
            "nominal_rank": nominal_rank,
            "median_rank": rank_q[1],
            "rank_low": rank_q[0],
            "rank_high": rank_q[2],
            "mean_rank": rank_dist.mean(),
            "mean_abs_rank_shift": mean_shift,
        },
        index=engine.index,
    )
    table: dict[str, Any] = {"replicate": np.arange(n)}
    for key in described[0] if described else {}:
        table[key] = np.concatenate([d[key] for d in described])
    table["mean_rank_shift"] = np.concatenate(shifts) if shifts else np.zeros(0)
    replicates = pd.DataFrame(table)
    scores_frame = ranks_frame = None
    if exact:
        columns = row_labels(engine.index)
        values = score_dist.values()
        rank_values = rank_dist.values()
        if values is not None and rank_values is not None:
            scores_frame = pd.DataFrame(values, columns=columns)
            ranks_frame = pd.DataFrame(rank_values, columns=columns)
            scores_frame.index.name = ranks_frame.index.name = "replicate"
    return UncertaintyResult(
        summary=summary,
        replicates=replicates,
        factors=engine.factor_table(),
        target=engine.target,
        n_replicates=n,
        interval=(float(low_q), float(high_q)),
        exact=bool(exact),
        scores=scores_frame,
        ranks=ranks_frame,
        spec=parsed,
    )


def estimate_uncertainty(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    *,
    n_replicates: int | None = None,
) -> RunEstimate:
    """The estimated time and memory of :func:`run_uncertainty` with these arguments.

    A few replicates are run and timed; the memory is what the result keeps (each
    replicate's sampled factors and, below 2**22 replicate × row cells, its scores and
    ranks).
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    n = parsed.n_replicates if n_replicates is None else int(n_replicates)
    budget = _budget(engine, n, None)
    return estimate_run(budget["pilot"], n, bytes_per_replicate=budget["bytes_per_replicate"])


def _budget(engine: ReplicateEngine, n: int, keep_replicates: bool | None) -> dict[str, Any]:
    """The pilot and per-replicate memory of a run, for the replicate limit."""
    exact = keep_replicates if keep_replicates is not None else n * engine.n_rows <= _EXACT_CELLS
    n_dims = int(sum(f.n_dims for f in engine.factors))
    per_replicate = 8.0 * (n_dims + 2) + (16.0 * engine.n_rows if exact else 0.0)

    def pilot(k: int) -> object:
        return engine.ranks(engine.scores_chunk(engine.draw(engine.streams(0), k)))

    return {"pilot": pilot, "bytes_per_replicate": per_replicate}


def row_labels(index: pd.MultiIndex) -> pd.Index:
    """Column labels for replicate tables: the entity, or entity@period in a panel."""
    entities = index.get_level_values("entity").astype(str)
    periods = index.get_level_values("period")
    if periods.nunique() <= 1:
        return pd.Index(entities, name="entity")
    return pd.Index([f"{e}@{p}" for e, p in zip(entities, periods, strict=True)], name="row")


def replicate_progress(items: range, show: bool, *, total: int) -> Iterator[int]:
    if not show:
        yield from items
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("replicates"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("replicates", total=total)
        for item in items:
            yield item
            bar.advance(task)


def rebuild_replicate(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    point: Sequence[float] | FloatArray,
) -> IndexResult:
    """Rebuild one replicate with the full pipeline: the slow, obviously-right reference.

    The sampled choices of ``point`` (a row of :func:`sample_factors`) are written into a
    copy of the framework — pipeline steps, node aggregations, explicit weights, the
    left-out indicator removed from the tree — and the input noise into a copy of the
    indicator values; then :func:`securindex.pipeline.run_pipeline` builds the index. The
    vectorised engine must give the same scores (tests check it).

    Returns
    -------
    IndexResult
        The replicate's build.
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    return _rebuild(engine, point)


def _rebuild(engine: ReplicateEngine, point: Sequence[float] | FloatArray) -> IndexResult:
    """:func:`rebuild_replicate` with an engine already built (the naive per-replicate
    cost: a framework variant and a full pipeline run)."""
    from securindex.catalogue import IndicatorValues
    from securindex.framework import Framework

    nominal, parsed = engine.nominal, engine.spec
    u = np.asarray(point, dtype=np.float64).reshape(1, -1)
    if u.shape[1] != engine.n_dims:
        raise SpecError(
            f"the point has {u.shape[1]} coordinates but the factor space has {engine.n_dims}"
        )
    key = tuple(int(v) for v in engine._data_keys(u)[0])
    steps, changed = engine._steps(key)
    # the replicates score the nominal build's rows: screening is not repeated
    data_steps: dict[str, Any] = {family: steps[family] for family in changed}
    data_steps["screen"] = Step(method="none")
    data_framework = engine.framework.with_steps(keep_overrides=parsed.keep_overrides, **data_steps)
    fw_spec = data_framework.spec
    weights = engine.weights_chunk(u)

    excluded: str | None = None
    for k, factor in enumerate(engine.factors):
        if factor.kind == "exclude":
            level = int(_choose(engine._coordinates(u, k)[:, 0], len(factor.candidates))[0])
            excluded = factor.candidates[level]

    overrides = dict(fw_spec.overrides)
    nodes = {n.id: n for n in fw_spec.structure}
    root_update: dict[str, Any] = {}
    for node in engine.nodes.values():
        update: dict[str, Any] = {}
        if node.plan.kind != NODE_KIND_WEIGHTED:
            pass  # scored by its rule, its weighting learnt anew on the replicate's data
        elif (
            node.weight_factor is not None
            or node.learnt_weights
            or node.id in engine.weight_set_nodes
        ):
            w = weights[node.id]
            if w.ndim == 2 or (w.ndim == 3 and w.shape[1] != 1):
                raise SpecError(f"node '{node.id}' has per-entity weights; it cannot be rebuilt")
            update["weighting"] = Step(method="explicit")
            vector = np.asarray(w).reshape(-1, len(node.children))[0]
            for child, value in zip(node.children, vector, strict=True):
                if child in nodes:
                    nodes[child] = nodes[child].model_copy(update={"weight": float(value)})
                else:
                    base = overrides.get(child)
                    overrides[child] = (
                        base.model_copy(update={"weight": float(value)})
                        if base is not None
                        else _override(weight=float(value))
                    )
        if node.choice is not None:
            factor = engine.factors[node.choice]
            choice = _choose(engine._coordinates(u, node.choice)[:, 0], len(factor.alternatives))
            update["aggregate"] = factor.alternatives[int(choice[0])]
        if not update:
            continue
        if node.id in nodes:
            nodes[node.id] = nodes[node.id].model_copy(update=update)
        else:
            root_update.update(update)
    structure = [nodes[n.id] for n in fw_spec.structure]
    if excluded is not None:
        structure = _without(structure, excluded)
        overrides.pop(excluded, None)
        if excluded in fw_spec.root.children:  # an indicator directly under the root
            root_update["children"] = [c for c in fw_spec.root.children if c != excluded]
    root = fw_spec.root.model_copy(update=root_update) if root_update else fw_spec.root
    new_spec = fw_spec.model_copy(
        update={"structure": structure, "overrides": overrides, "root": root}
    )
    framework = Framework(new_spec, data_framework.catalogue, base_dir=data_framework.base_dir)

    values = nominal.indicator_values
    frame = values.frame.loc[engine.index].copy()
    if engine.has_inputs:
        frame.loc[:, engine.ids] = engine._perturbed(u)[0]
    values = IndicatorValues(frame=frame, units=values.units, audit=values.audit)
    return framework.compute_values(values, nominal.groups)


def _override(**update: Any) -> Any:
    from securindex.spec.framework import IndicatorOverride

    return IndicatorOverride(**update)


def _without(structure: list[Any], removed: str) -> list[Any]:
    """The structure with ``removed`` dropped; nodes left empty are dropped in turn."""
    while True:
        kept = []
        emptied = None
        for node in structure:
            if removed in node.children:
                children = [c for c in node.children if c != removed]
                if not children:
                    emptied = node.id
                    continue
                node = node.model_copy(update={"children": children})
            kept.append(node)
        structure = kept
        if emptied is None:
            return structure
        removed = emptied
