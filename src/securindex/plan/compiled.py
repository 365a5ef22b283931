"""A framework compiled once into an engine-neutral, immutable plan (no data).

The plan is what every engine runs — the in-memory pipeline, the Monte-Carlo engine and
the Dask engine: per indicator the step it gets (grouped by identical settings), the
registry entries with their parameters and the options the engines read themselves
(reference sample, base period, group column, ``allow_zero``), the polarity of each
indicator, and the node tree in the order it is computed, with each node's kind — the key
of its rule in :data:`securindex.plan.rules.NODE_RULES` — weighting, aggregation and
missing-data policy. Engines never look at method names: what differs between methods is
in their typed registry records (:class:`securindex.methods._registry.Method`).

Nothing here touches data, so a plan is cheap to build and safe to share between
processes (it pickles with its registry records).

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, steps 3–6. OECD Publishing. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from securindex.methods._registry import Method
from securindex.methods._types import FloatArray
from securindex.node_formula import NodeFormula
from securindex.plan.steps import FAMILIES, split_options
from securindex.spec.framework import MissingPolicy, Step

if TYPE_CHECKING:
    from securindex.framework import Framework

__all__ = [
    "NODE_KIND_FORMULA",
    "NODE_KIND_FRONTIER",
    "NODE_KIND_WEIGHTED",
    "ColumnGroup",
    "NodePlan",
    "NormaliseGroup",
    "Plan",
    "StepPlan",
    "compile_plan",
]

NODE_KIND_WEIGHTED = "weighted"
"""A node scored by its aggregator over its weighted children."""

NODE_KIND_FORMULA = "formula"
"""A node scored by its formula over its children's scores (:mod:`securindex.node_formula`)."""

NODE_KIND_FRONTIER = "frontier"
"""A node scored by its weighting method's optimum (benefit of the doubt: the LP's share of
the best-practice frontier), declared by the weighter's ``scores_node``."""


@dataclass(frozen=True)
class StepPlan:
    """One step as every engine runs it: the registry entry and its settings.

    Attributes
    ----------
    family : str
        ``screen``, ``impute``, ``treat``, ``normalise``, ``weight`` or ``aggregate``.
    method : Method
        The registry record (function and typed metadata).
    options : Mapping
        Keys the engines read themselves (``reference``, ``group``, ``allow_zero`` …).
    params : Mapping
        Keyword parameters passed to the method.
    key : str
        A text fingerprint of the step (equal keys: the same computation).
    """

    family: str
    method: Method[Any]
    options: Mapping[str, Any]
    params: Mapping[str, Any]
    key: str

    @classmethod
    def of(cls, family: str, step: Step) -> StepPlan:
        options, params = split_options(family, step)
        return cls(
            family=family,
            method=FAMILIES[family].get(step.method),
            options=MappingProxyType(options),
            params=MappingProxyType(params),
            key=step.key(),
        )

    @property
    def name(self) -> str:
        """The method's registry name."""
        return self.method.name

    def kwargs(self) -> dict[str, Any]:
        """The method's parameters as a new dict (to pass as ``**kwargs``)."""
        return dict(self.params)

    def flag(self, name: str) -> bool:
        """A yes/no property of the method with these parameters."""
        return self.method.flag(name, self.params)

    @property
    def columnwise(self) -> bool:
        """Whether the step may run on blocks of columns: a column-wise method whose
        parameters are not per-indicator lists (lists are not split)."""
        return self.method.columnwise and not any(
            isinstance(v, (list, tuple)) for v in self.params.values()
        )


@dataclass(frozen=True)
class ColumnGroup:
    """Indicators sharing one treat (or normalise) step: their column positions."""

    step: StepPlan
    positions: tuple[int, ...]
    indicators: tuple[str, ...]


@dataclass(frozen=True)
class NormaliseGroup(ColumnGroup):
    """Indicators sharing one normalise step, with the reference sample it learns from.

    Attributes
    ----------
    mode : str
        ``pooled`` (all rows), ``per_period`` (each period's rows) or ``base``.
    base_period : object
        The base period's label (``mode == "base"``), else None.
    reference_entity : object
        The entity whose row is the reference of ``distance_to_reference``, or None.
    """

    mode: str = "pooled"
    base_period: Any = None
    reference_entity: Any = None


@dataclass(frozen=True)
class NodePlan:
    """One inner node: how it is weighted, scored and what it does with gaps.

    Attributes
    ----------
    id : str
        The node id (the root's is the framework id).
    kind : str
        The key of the node's rule in :data:`securindex.plan.rules.NODE_RULES`.
    children : tuple of str
        Child ids (indicators and nodes), in the framework's order.
    sources : tuple of (str, int)
        Per child, ``("indicator", column)`` in the indicator matrix or ``("node",
        column)`` in the score matrix (the :attr:`Plan.node_order` position).
    column : int
        The node's own column in the score matrix.
    nominal : tuple of float
        The children's nominal weights [unitless].
    weight, aggregate : StepPlan
        The weighting and aggregation steps.
    missing : MissingPolicy
        What the node does with rows where children are missing.
    zero_floor : bool
        ``allow_zero`` on a mean that needs positive children: rows where a child is 0
        are not scored (audited) instead of failing.
    formula : NodeFormula or None
        The node's formula over its children (kind ``formula``).
    higher_is_better : bool
        The direction of the node's scores (``higher_is``): ranks put the highest score
        first when True, the lowest when False.
    range : (float, float) or None
        The declared range of the node's scores, checked on the scores.
    impute : StepPlan or None
        Imputation of the node's own scores (rows it could not score).
    impute_group : str or None
        The group column that imputation takes statistics within.
    normalise : StepPlan or None
        A second normalisation of the node's own scores (after its imputation), learnt
        from the node's scores of all rows (``pooled``) or of each period.
    """

    id: str
    kind: str
    children: tuple[str, ...]
    sources: tuple[tuple[str, int], ...]
    column: int
    nominal: tuple[float, ...]
    weight: StepPlan
    aggregate: StepPlan
    missing: MissingPolicy
    zero_floor: bool
    formula: NodeFormula | None = None
    higher_is_better: bool = True
    range: tuple[float, float] | None = None
    impute: StepPlan | None = None
    impute_group: str | None = None
    normalise: StepPlan | None = None

    @property
    def nominal_weights(self) -> FloatArray:
        """The nominal weights as a float array, shape (n_children,)."""
        return np.asarray(self.nominal, dtype=np.float64)

    @property
    def formula_text(self) -> str:
        """The node's formula as written ("" for a node without one)."""
        return self.formula.text if self.formula is not None else ""

    @property
    def leaf(self) -> bool:
        """Whether every child is an indicator."""
        return all(kind == "indicator" for kind, _ in self.sources)

    def with_aggregate(self, step: Step) -> NodePlan:
        """The same node aggregated with ``step`` (an alternative under Monte Carlo)."""
        aggregate = StepPlan.of("aggregate", step)
        return replace(self, aggregate=aggregate, zero_floor=_zero_floor(aggregate))

    def without(self, positions: Sequence[int]) -> NodePlan:
        """The same node without the children at ``positions`` (a left-out indicator)."""
        drop = set(positions)
        keep = [k for k in range(len(self.children)) if k not in drop]
        return replace(
            self,
            children=tuple(self.children[k] for k in keep),
            sources=tuple(self.sources[k] for k in keep),
            nominal=tuple(self.nominal[k] for k in keep),
        )


@dataclass(frozen=True)
class Plan:
    """A framework compiled for the engines: immutable, engine-neutral, no data.

    Attributes
    ----------
    framework_id : str
        The framework (and root node) id.
    indicators : tuple of str
        The leaves: the columns of the indicator matrix, in order.
    direction : tuple of float
        +1 (more is better) or -1 per indicator, applied by normalisation.
    screen : StepPlan
        Row screening; ``screen_on`` is the stage it looks at (``raw`` or ``imputed``).
    impute : StepPlan
        Imputation (one step for all indicators); ``impute_group`` the group column.
    treat : tuple of ColumnGroup
        Outlier treatment, one group per distinct step.
    normalise : tuple of NormaliseGroup
        Normalisation, one group per distinct step and reference.
    nodes : tuple of NodePlan
        Inner nodes, children before parents, the root last; a node under several
        parents (a DAG) is computed once.
    node_order : tuple of str
        The columns of the score matrix (root first, then breadth-first).
    higher_is_better : tuple of bool
        Per column of the score matrix, the direction its ranks follow.
    """

    framework_id: str
    indicators: tuple[str, ...]
    direction: tuple[float, ...]
    screen: StepPlan
    screen_on: str
    impute: StepPlan
    impute_group: str | None
    treat: tuple[ColumnGroup, ...]
    normalise: tuple[NormaliseGroup, ...]
    nodes: tuple[NodePlan, ...]
    node_order: tuple[str, ...]
    higher_is_better: tuple[bool, ...] = ()

    @property
    def directions(self) -> FloatArray:
        """The polarity of each indicator as a float array, shape (n_indicators,)."""
        return np.asarray(self.direction, dtype=np.float64)

    def node(self, node_id: str) -> NodePlan:
        """The plan of node ``node_id``."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


def _zero_floor(aggregate: StepPlan) -> bool:
    """``allow_zero`` on a mean that needs strictly positive children."""
    return bool(aggregate.options.get("allow_zero", False)) and aggregate.flag("requires_positive")


def _groups(
    family: str, steps: list[Step], indicators: tuple[str, ...]
) -> list[tuple[StepPlan, tuple[int, ...]]]:
    positions: dict[str, list[int]] = {}
    first: dict[str, Step] = {}
    for position, step in enumerate(steps):
        positions.setdefault(step.key(), []).append(position)
        first.setdefault(step.key(), step)
    return [(StepPlan.of(family, first[k]), tuple(p)) for k, p in positions.items()]


def compile_plan(framework: Framework) -> Plan:
    """Compile a validated framework into its :class:`Plan`.

    Parameters
    ----------
    framework
        A validated :class:`~securindex.framework.Framework`.

    Returns
    -------
    Plan
    """
    ids = tuple(framework.indicators)
    pipeline = framework.spec.pipeline
    screen = StepPlan.of("screen", pipeline.screen)
    impute = StepPlan.of("impute", pipeline.impute)
    treat = tuple(
        ColumnGroup(step, positions, tuple(ids[p] for p in positions))
        for step, positions in _groups("treat", [framework.treat_step(i) for i in ids], ids)
    )
    normalise = tuple(
        NormaliseGroup(
            step,
            positions,
            tuple(ids[p] for p in positions),
            mode=str(step.options.get("reference", "pooled")),
            base_period=step.options.get("base_period"),
            reference_entity=step.options.get("reference_entity"),
        )
        for step, positions in _groups("normalise", [framework.normalise_step(i) for i in ids], ids)
    )
    position = {i: k for k, i in enumerate(ids)}
    order = tuple(framework.node_order)
    column = {n: k for k, n in enumerate(order)}
    nodes = []
    for node_id in framework.postorder():
        children = tuple(framework.children[node_id])
        weight = StepPlan.of("weight", framework.weight_step(node_id))
        aggregate = StepPlan.of("aggregate", framework.aggregate_step(node_id))
        formula = framework.formulas.get(node_id)
        kind = (
            NODE_KIND_FORMULA
            if formula is not None
            else NODE_KIND_FRONTIER
            if weight.method.scores_node
            else NODE_KIND_WEIGHTED
        )
        impute_step = framework.node_impute_step(node_id)
        impute_plan = StepPlan.of("impute", impute_step) if impute_step is not None else None
        rescale = framework.node_normalise_step(node_id)
        nodes.append(
            NodePlan(
                id=node_id,
                kind=kind,
                children=children,
                sources=tuple(
                    ("indicator", position[c]) if c in position else ("node", column[c])
                    for c in children
                ),
                column=column[node_id],
                nominal=tuple(float(framework.nominal_weight(c)) for c in children),
                weight=weight,
                aggregate=aggregate,
                missing=framework.missing_policy(node_id),
                zero_floor=_zero_floor(aggregate),
                formula=formula,
                higher_is_better=framework.higher_is(node_id) == "better",
                range=framework.node_range(node_id),
                impute=impute_plan,
                impute_group=impute_plan.options.get("group") if impute_plan else None,
                normalise=StepPlan.of("normalise", rescale) if rescale is not None else None,
            )
        )
    return Plan(
        framework_id=framework.id,
        indicators=ids,
        direction=tuple(framework.direction(i) for i in ids),
        screen=screen,
        screen_on=str(screen.options.get("stage", "raw")),
        impute=impute,
        impute_group=impute.options.get("group"),
        treat=treat,
        normalise=normalise,
        nodes=tuple(nodes),
        node_order=order,
        higher_is_better=tuple(framework.higher_is(n) == "better" for n in order),
    )
