"""The replicate engine: points of the factor space decoded into index scores."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import gammaincinv, ndtri

from securindex._yaml import Located
from securindex.analysis.uncertainty.factors import (
    U_EPS,
    Factor,
    Seed,
    as_generator,
    choose_level,
    poisson_quantile,
    step_label,
)
from securindex.analysis.uncertainty.means import matrix_mean, mean_terms
from securindex.analysis.uncertainty.spec import UncertaintySpec
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
from securindex.spec.framework import Step

if TYPE_CHECKING:
    from securindex.result import IndexResult


# 95 % two-sided normal quantile: a survey's margin of error is 1.96 standard errors.
_Z95 = 1.959963984540054

# Default size of the largest per-chunk array [elements]: replicates × rows × indicators
# with input noise, else replicates × rows × max(children, nodes).
_CHUNK_ELEMENTS = 2**22

_DATA_STEPS = ("impute", "treat", "normalise")
_DATA_REGISTRIES: dict[str, Registry[Any]] = {
    "impute": imputers,
    "treat": treaters,
    "normalise": normalisers,
}


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
        self.factors: list[Factor] = []
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
            labels = tuple(step_label(s) for s in alternatives)
            self.factors.append(
                Factor(
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
                Factor(
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
                Factor(
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
            Factor(
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
            labels = tuple(step_label(s) for s in choice.methods)
            default = "aggregate" if choice.nodes == "all" else "aggregate:" + ",".join(nodes)
            self.factors.append(
                Factor(
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
                        f"normalise alternative {step_label(alternative)}"
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
            Factor(
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
                Factor(
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
                        f"aggregation '{step_label(step)}' fails at node '{node.id}'{where}: {exc}",
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
            choose_level(self._coordinates(u, k)[:, 0], len(self.factors[k].alternatives))
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
            v = np.clip(self._coordinates(u, k), U_EPS, 1.0 - U_EPS)
            v = v.reshape(n_chunk, self.n_rows, len(cols))
            base = x[:, :, cols]
            if noise.distribution == "poisson":
                counts = np.where(np.isnan(base), 0.0, base * noise.scale)
                new = poisson_quantile(v, counts) / noise.scale
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
            level = choose_level(self._coordinates(u, exclusion)[:, 0], len(factor.candidates))
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
                        alpha > 0, gammaincinv(safe, np.clip(v, U_EPS, 1 - U_EPS)), 0.0
                    )
                    draw = gamma
                total = draw.sum(axis=1, keepdims=True)
                w = (draw / np.where(total > 0, total, 1.0))[:, None, :]
            out[node.id] = w
        for k, factor in enumerate(self.factors):  # whole weight sets, one per replicate
            if factor.kind != "weight_set":
                continue
            level = choose_level(self._coordinates(u, k)[:, 0], len(factor.alternatives))
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
                self._terms[cache_key] = mean_terms(step.method, x)
            terms = self._terms[cache_key]
        fast = matrix_mean(step.method, plan.aggregate.params, x, w, n_replicates, terms)
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
                levels = choose_level(
                    self._coordinates(u, node.choice)[:, 0], len(factor.alternatives)
                )
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
                level = choose_level(self._coordinates(u, k)[:, 0], n_levels)
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
