"""One replicate through the full pipeline: the slow, obviously-right reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from securindex.analysis.uncertainty.engine import ReplicateEngine
from securindex.analysis.uncertainty.factors import choose_level
from securindex.analysis.uncertainty.spec import UncertaintySpec, as_uncertainty_spec
from securindex.errors import SpecError
from securindex.methods._types import FloatArray
from securindex.plan import NODE_KIND_WEIGHTED
from securindex.spec.framework import Step

if TYPE_CHECKING:
    from securindex.result import IndexResult


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
            level = int(choose_level(engine._coordinates(u, k)[:, 0], len(factor.candidates))[0])
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
            choice = choose_level(
                engine._coordinates(u, node.choice)[:, 0], len(factor.alternatives)
            )
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
