"""A composite-index framework: the validated tree, its indicators and its pipeline.

:class:`Framework` joins a :class:`~securindex.spec.framework.FrameworkSpec` with the
catalogue its leaves come from and checks, before any data is read, everything that needs
both: unknown ids, context indicators (polarity ``none``) placed in the tree, unknown
methods, and a geometric or harmonic mean fed by a normaliser whose range includes 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from securindex._yaml import Located, read_yaml
from securindex.catalogue import Catalogue
from securindex.errors import Issue, SpecError
from securindex.methods.aggregate import aggregators
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalisers, output_range
from securindex.methods.screen import screeners
from securindex.methods.treat import treaters
from securindex.methods.weight import weighters
from securindex.spec._validate import validate_located
from securindex.spec.framework import ColumnIndicator, FrameworkSpec, MissingPolicy, Step
from securindex.spec.indicator import Indicator, Input

if TYPE_CHECKING:
    from securindex.dataset import Panel
    from securindex.result import IndexResult

__all__ = ["Framework"]

_REGISTRIES = {
    "screen": screeners,
    "impute": imputers,
    "treat": treaters,
    "normalise": normalisers,
    "weight": weighters,
    "aggregate": aggregators,
}

# Reference-sample options of the normalise step, read by the pipeline, not by a method.
NORMALISE_REFERENCE_KEYS = ("reference", "base_period")


def column_indicator(code: str, spec: ColumnIndicator) -> Indicator:
    """The indicator a ``columns:`` entry declares: the column, or column / denominator."""
    column = spec.column or code
    inputs = {column: Input(unit=spec.unit)}
    formula = column
    unit = spec.unit
    if spec.denominator:
        inputs[spec.denominator] = Input(unit=spec.denominator_unit)
        formula = f"{column} / {spec.denominator}"
        unit = f"({spec.unit}) / ({spec.denominator_unit})"
    return Indicator(
        id=code,
        name=spec.name or code,
        description=spec.description,
        category=spec.category,
        polarity=spec.polarity,
        formula=formula,
        unit=unit,
        inputs=inputs,
    )


class Framework:
    """A validated composite-index framework.

    Build it with :meth:`load` (a framework YAML file) or :meth:`from_spec`. Its
    :meth:`compute` runs the pipeline over a :class:`~securindex.dataset.Panel`.
    """

    def __init__(
        self, spec: FrameworkSpec, catalogue: Catalogue, *, located: Located | None = None
    ) -> None:
        self.spec = spec
        self.catalogue = catalogue
        self._located = located
        issues: list[Issue] = []
        node_ids = {node.id for node in spec.structure}
        referenced = {child for node in spec.structure for child in node.children}
        self.top_level: tuple[str, ...] = tuple(n.id for n in spec.structure if n.id not in referenced)
        self.children: dict[str, tuple[str, ...]] = {n.id: tuple(n.children) for n in spec.structure}
        self.children[spec.id] = self.top_level
        self.parent: dict[str, str] = {c: p for p, cs in self.children.items() for c in cs}
        self.nodes = {n.id: n for n in spec.structure}

        leaves: list[str] = []
        for index, node in enumerate(spec.structure):
            for position, child in enumerate(node.children):
                if child in node_ids:
                    continue
                if child not in catalogue:
                    issues.append(
                        self._issue(
                            ("structure", index, "children", position),
                            f"unknown id '{child}': not a node, not an indicator of the "
                            f"catalogue ({len(catalogue)} indicators) nor a declared column",
                        )
                    )
                    continue
                leaves.append(child)
        self.indicators: tuple[str, ...] = tuple(leaves)
        if not self.top_level:
            issues.append(self._issue(("structure",), "the structure has no top-level node (cycle)"))
        issues.extend(self._check_cycles())
        for indicator_id in leaves:
            if self.polarity(indicator_id) == "none":
                issues.append(
                    self._issue(
                        ("overrides", indicator_id),
                        f"indicator '{indicator_id}' has polarity 'none' (a context indicator) "
                        "and cannot be aggregated; remove it from the structure or set "
                        f"overrides: {{{indicator_id}: {{polarity: positive|negative}}}}",
                    )
                )
        for unknown in sorted(set(spec.overrides) - set(leaves)):
            issues.append(
                self._issue(("overrides", unknown), f"override for '{unknown}', which is not in the structure")
            )
        issues.extend(self._check_methods())
        if not issues:
            issues.extend(self._check_positive_inputs())
        if issues:
            raise SpecError(issues)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Framework:
        """Read a framework YAML file; catalogue paths are relative to the file."""
        located = read_yaml(path)
        spec = validate_located(FrameworkSpec, located)
        return cls.from_spec(spec, base_dir=Path(path).parent, located=located)

    @classmethod
    def from_spec(
        cls,
        spec: FrameworkSpec | Mapping[str, Any],
        *,
        base_dir: str | Path = ".",
        catalogue: Catalogue | None = None,
        located: Located | None = None,
    ) -> Framework:
        """Build from a spec (or a plain dict), loading the catalogue it names."""
        if not isinstance(spec, FrameworkSpec):
            spec = FrameworkSpec.model_validate(dict(spec))
        indicators: list[Indicator] = []
        locations: dict[str, Any] = {}
        if catalogue is None and spec.indicators:
            loaded = Catalogue.load(*(Path(base_dir) / p for p in spec.indicators))
            node_ids = {n.id for n in spec.structure}
            wanted = [
                c for n in spec.structure for c in n.children if c not in node_ids and c in loaded
            ]
            loaded = loaded.select(wanted)
            indicators.extend(loaded.values())
            locations.update({k: loaded._where(k) for k in loaded})
        elif catalogue is not None:
            indicators.extend(catalogue.values())
            locations.update({k: catalogue._where(k) for k in catalogue})
        indicators.extend(column_indicator(code, c) for code, c in spec.columns.items())
        return cls(spec, Catalogue(indicators, locations=locations), located=located)

    def _issue(self, path: tuple[str | int, ...], message: str) -> Issue:
        if self._located is not None:
            return self._located.issue(path, message)
        return Issue(message, field=".".join(map(str, path)))

    def _check_cycles(self) -> list[Issue]:
        state: dict[str, int] = {}
        issues: list[Issue] = []

        def visit(node: str, trail: tuple[str, ...]) -> None:
            if state.get(node) == 1:
                cycle = " -> ".join((*trail[trail.index(node) :], node))
                issues.append(self._issue(("structure",), f"node cycle: {cycle}"))
                return
            if state.get(node) == 2 or node not in self.children:
                return
            state[node] = 1
            for child in self.children[node]:
                visit(child, (*trail, node))
            state[node] = 2

        for node in self.children:
            visit(node, ())
        return issues

    def _steps(self) -> list[tuple[tuple[str | int, ...], str, Step]]:
        """Every step of the framework with its location and family."""
        spec = self.spec
        steps: list[tuple[tuple[str | int, ...], str, Step]] = [
            (("pipeline", family), family, getattr(spec.pipeline, family)) for family in _REGISTRIES
        ]
        for index, node in enumerate(spec.structure):
            if node.aggregate is not None:
                steps.append((("structure", index, "aggregate"), "aggregate", node.aggregate))
            if node.weighting is not None:
                steps.append((("structure", index, "weighting"), "weight", node.weighting))
        if spec.root.aggregate is not None:
            steps.append((("root", "aggregate"), "aggregate", spec.root.aggregate))
        if spec.root.weighting is not None:
            steps.append((("root", "weighting"), "weight", spec.root.weighting))
        for code, override in spec.overrides.items():
            if override.treat is not None:
                steps.append((("overrides", code, "treat"), "treat", override.treat))
            if override.normalise is not None:
                steps.append((("overrides", code, "normalise"), "normalise", override.normalise))
        return steps

    def _check_methods(self) -> list[Issue]:
        issues = []
        for path, family, step in self._steps():
            if step.method not in _REGISTRIES[family]:
                choices = ", ".join(_REGISTRIES[family].names())
                issues.append(
                    self._issue(
                        (*path, "method"),
                        f"unknown {family} method '{step.method}'; available: {choices}",
                    )
                )
        return issues

    def _check_positive_inputs(self) -> list[Issue]:
        """A geometric/harmonic mean needs strictly positive inputs: check the ranges."""
        ranges: dict[str, tuple[float, float] | None] = {}
        for indicator_id in self.indicators:
            step = self.normalise_step(indicator_id)
            params = {k: v for k, v in step.params.items() if k not in NORMALISE_REFERENCE_KEYS}
            ranges[indicator_id] = output_range(step.method, params)
        issues = []
        for node_id in self.postorder():
            step = self.aggregate_step(node_id)
            child_ranges = [ranges.get(c) for c in self.children[node_id]]
            known = [r for r in child_ranges if r is not None]
            ranges[node_id] = (
                (min(r[0] for r in known), max(r[1] for r in known)) if len(known) == len(child_ranges) else None
            )
            method = aggregators.get(step.method)
            needs_positive = bool(method.extra.get("requires_positive", False))
            if step.method == "generalised":
                needs_positive = float(step.params.get("p", 1.0)) <= 0
            if not needs_positive:
                continue
            bad = [
                c for c, r in zip(self.children[node_id], child_ranges, strict=True)
                if r is not None and r[0] <= 0
            ]
            if bad:
                path: tuple[str | int, ...] = ("pipeline", "aggregate")
                if node_id in self.nodes and self.nodes[node_id].aggregate is not None:
                    path = ("structure", [n.id for n in self.spec.structure].index(node_id), "aggregate")
                issues.append(
                    self._issue(
                        path,
                        f"node '{node_id}' aggregates with '{step.method}', which needs strictly "
                        f"positive values, but {bad[:5]} can be 0 or less after normalisation "
                        f"(range {ranges.get(bad[0])}); normalise to a positive range, e.g. "
                        "normalise: {method: minmax, lo: 1, hi: 100}",
                    )
                )
        return issues

    # -- the tree ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.spec.id

    def postorder(self) -> list[str]:
        """Inner nodes, children before parents, the root last."""
        order: list[str] = []

        def visit(node: str) -> None:
            for child in self.children.get(node, ()):
                if child in self.children:
                    visit(child)
            order.append(node)

        visit(self.spec.id)
        return order

    def polarity(self, indicator_id: str) -> str:
        override = self.spec.overrides.get(indicator_id)
        if override is not None and override.polarity is not None:
            return override.polarity
        return self.catalogue[indicator_id].polarity

    def nominal_weight(self, child: str) -> float:
        """The weight a child (node or indicator) has in its parent, before any method."""
        if child in self.nodes:
            return self.nodes[child].weight
        override = self.spec.overrides.get(child)
        if override is not None and override.weight is not None:
            return override.weight
        if child in self.spec.columns:
            return self.spec.columns[child].weight
        return 1.0

    def treat_step(self, indicator_id: str) -> Step:
        override = self.spec.overrides.get(indicator_id)
        return override.treat if override and override.treat else self.spec.pipeline.treat

    def normalise_step(self, indicator_id: str) -> Step:
        override = self.spec.overrides.get(indicator_id)
        return override.normalise if override and override.normalise else self.spec.pipeline.normalise

    def aggregate_step(self, node_id: str) -> Step:
        node = self.nodes.get(node_id)
        if node is not None and node.aggregate is not None:
            return node.aggregate
        if node_id == self.spec.id and self.spec.root.aggregate is not None:
            return self.spec.root.aggregate
        return self.spec.pipeline.aggregate

    def weight_step(self, node_id: str) -> Step:
        node = self.nodes.get(node_id)
        if node is not None and node.weighting is not None:
            return node.weighting
        if node_id == self.spec.id and self.spec.root.weighting is not None:
            return self.spec.root.weighting
        return self.spec.pipeline.weight

    def missing_policy(self, node_id: str) -> MissingPolicy:
        node = self.nodes.get(node_id)
        if node is not None and node.missing is not None:
            return node.missing
        if node_id == self.spec.id and self.spec.root.missing is not None:
            return self.spec.root.missing
        return MissingPolicy()

    def __repr__(self) -> str:
        return (
            f"Framework({self.id}: {len(self.indicators)} indicators, "
            f"{len(self.nodes)} nodes)"
        )

    def with_steps(self, **steps: Step | Mapping[str, Any]) -> Framework:
        """A copy whose pipeline defaults are replaced by ``steps`` (validated again).

        Per-node and per-indicator overrides still apply over the new defaults.
        """
        if not steps:
            return self
        unknown = sorted(set(steps) - set(_REGISTRIES))
        if unknown:
            raise SpecError(f"unknown pipeline step(s) {unknown}; steps are {list(_REGISTRIES)}")
        update = {
            name: step if isinstance(step, Step) else Step.model_validate(dict(step))
            for name, step in steps.items()
        }
        pipeline = self.spec.pipeline.model_copy(update=update)
        return Framework(self.spec.model_copy(update={"pipeline": pipeline}), self.catalogue)

    # -- computing ----------------------------------------------------------------------------
    def compute(self, data: Panel, **steps: Step | Mapping[str, Any]) -> IndexResult:
        """Build the index over ``data``; ``steps`` replace pipeline defaults (e.g.
        ``normalise={"method": "zscore"}``) for this run only."""
        from securindex.pipeline import build_index

        return build_index(self, data, **steps)
