"""A composite-index framework: the validated tree, its indicators and its pipeline.

:class:`Framework` joins a :class:`~securindex.spec.framework.FrameworkSpec` with the
catalogue its leaves come from and checks, before any data is read, everything that needs
both, reporting every problem at once as ``file:line:column field: message``:

* the tree: unknown ids (with a "did you mean"), an indicator or node under two parents,
  node ids used twice or equal to the framework id, node cycles;
* the leaves: context indicators (polarity ``none``) placed in the tree, overrides of
  indicators that are not in the tree, ``columns`` that clash with catalogue ids;
* the pipeline: unknown methods, the options the pipeline itself reads
  (:data:`PIPELINE_OPTIONS`), and every method's parameters, by calling the method once on
  a tiny dummy matrix (a parameter error is a :class:`~securindex.errors.SpecError`; errors
  that depend on real data are left for compute time);
* a geometric, harmonic or other mean that needs strictly positive values fed by a
  normaliser whose output range includes 0, with the fix in the message.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, steps 1–6, and Part II, section 6. OECD Publishing.
   doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from securindex._yaml import Located, read_yaml
from securindex.catalogue import Catalogue
from securindex.errors import FormulaError, Issue, SpecError
from securindex.formula import parse_formula
from securindex.methods.aggregate import aggregators, requires_positive
from securindex.methods.normalise import MODES, normalisers, output_range, run_normaliser
from securindex.methods.treat import run_treater
from securindex.methods.weight import weighters
from securindex.node_formula import NodeFormula, parse_node_formula
from securindex.pipeline import build_index, run_pipeline, score_nodes
from securindex.plan.steps import FAMILIES, PIPELINE_OPTIONS, split_options
from securindex.spec._validate import validate_located
from securindex.spec.framework import (
    ColumnIndicator,
    FrameworkSpec,
    MissingPolicy,
    Node,
    Step,
)
from securindex.spec.indicator import Indicator, Input, Polarity

if TYPE_CHECKING:
    import pandas as pd

    from securindex.catalogue import IndicatorValues
    from securindex.dataset import Panel
    from securindex.plan import Plan
    from securindex.result import IndexResult

__all__ = ["FAMILIES", "PIPELINE_OPTIONS", "Framework", "column_indicator", "split_options"]

# the step families and the options engines read live with the plan, below the framework


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


_Path = tuple[str | int, ...]


class Framework:
    """A validated composite-index framework.

    Build it with :meth:`load` (a framework YAML file) or :meth:`from_spec`; both raise one
    :class:`~securindex.errors.SpecError` listing every problem. :meth:`compute` runs the
    pipeline over a :class:`~securindex.dataset.Panel`.

    Attributes
    ----------
    spec : FrameworkSpec
        The validated specification.
    catalogue : Catalogue
        The indicators of the tree's leaves (and the indicators they depend on).
    children : dict[str, tuple[str, ...]]
        Each inner node's children (node and indicator ids); the root's key is :attr:`id`.
    parent : dict[str, str]
        Each node and indicator's parent.
    indicators : tuple[str, ...]
        The leaves, in depth-first order from the root.
    nodes : dict[str, Node]
        The inner nodes of the structure (not the root), by id.
    node_order : tuple[str, ...]
        Every inner node, the root first, then breadth-first (the order of the score
        columns of a result).
    top_level : tuple[str, ...]
        The root's children.
    """

    def __init__(
        self,
        spec: FrameworkSpec,
        catalogue: Catalogue,
        *,
        located: Located | None = None,
        base_dir: str | Path | None = None,
    ) -> None:
        self.spec = spec
        self.catalogue = catalogue
        self.located = located
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self._node_specs: dict[str, Node] = {}
        self._node_index: dict[str, int] = {}
        issues = self._build_tree()
        issues += self._check_leaves()
        issues += self._check_methods()
        if not issues:
            issues += self._check_options()
        if not issues:
            issues += self._check_parameters()
            issues += self._check_positive_inputs()
        if issues:
            raise SpecError(issues)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Framework:
        """Read a framework YAML file, or a shipped framework by name (``"iusi"``).

        Catalogue paths are relative to the file.

        Raises
        ------
        SpecError
            Every problem of the file, located at ``file:line:column``.
        """
        from securindex.shipped import resolve

        path = resolve("framework", path)
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
        """Build from a spec (or a plain dict), loading the catalogue it names.

        Parameters
        ----------
        spec
            A :class:`FrameworkSpec` or a mapping with the same keys as the YAML file.
        base_dir
            Folder that ``indicators`` and ``dictionary`` paths are relative to.
        catalogue
            Indicators to use instead of loading ``spec.indicators``.
        located
            Positions of the YAML nodes, for ``file:line`` in messages.
        """
        if not isinstance(spec, FrameworkSpec):
            where = located if located is not None else Located(dict(spec), "framework spec")
            spec = validate_located(FrameworkSpec, where)
        if catalogue is None and spec.indicators:
            catalogue = Catalogue.load(*(Path(base_dir) / p for p in spec.indicators))
        indicators: list[Indicator] = []
        locations: dict[str, Any] = {}
        if catalogue is not None:
            node_ids = {n.id for n in spec.structure}
            wanted = [c for c in _referenced_ids(spec) if c not in node_ids and c in catalogue]
            selected = catalogue.select(dict.fromkeys(wanted))
            indicators.extend(selected.values())
            locations.update({k: selected._where(k) for k in selected})
        issues: list[Issue] = []
        for code, column in spec.columns.items():
            if code in locations:
                file, line = catalogue.location(code) if catalogue is not None else (None, None)
                issues.append(
                    _issue(
                        located,
                        ("columns", code),
                        f"column '{code}' has the id of a catalogue indicator (defined at "
                        f"{file}:{line}); rename the column code or drop the catalogue entry",
                    )
                )
                continue
            indicators.append(column_indicator(code, column))
        if issues:
            raise SpecError(issues)
        return cls(
            spec, Catalogue(indicators, locations=locations), located=located, base_dir=base_dir
        )

    def _issue(self, path: _Path, message: str) -> Issue:
        return _issue(self.located, path, message)

    def _line(self, path: _Path) -> str:
        if self.located is None:
            return ""
        line, _ = self.located.position(path)
        return f" (line {line})" if line is not None else ""

    # -- checks ---------------------------------------------------------------------------
    def _build_tree(self) -> list[Issue]:
        spec, issues = self.spec, []
        for i, node in enumerate(spec.structure):
            where: _Path = ("structure", i, "id")
            if node.id == spec.id:
                issues.append(
                    self._issue(
                        where,
                        f"node id '{node.id}' is the framework id, which names the root; "
                        "give the node another id",
                    )
                )
            elif node.id in self._node_index:
                first = self._node_index[node.id]
                issues.append(
                    self._issue(
                        where,
                        f"node id '{node.id}' is used twice (first at structure[{first}]"
                        f"{self._line(('structure', first, 'id'))}); node ids must be unique",
                    )
                )
            else:
                self._node_index[node.id] = i
                self._node_specs[node.id] = node
                if node.id in self.catalogue:
                    issues.append(
                        self._issue(
                            where,
                            f"node id '{node.id}' is also an indicator id; rename the node",
                        )
                    )
        known = set(self._node_index) | set(self.catalogue)
        self.formulas: dict[str, NodeFormula] = {}
        listed: dict[str, list[str]] = {}
        for i, node in enumerate(spec.structure):
            listed[node.id] = self._node_children(
                node.id, node.children, node.formula, ("structure", i), known, issues
            )
        root_listed = self._node_children(
            spec.id, spec.root.children, spec.root.formula, ("root",), known, issues
        )
        owner: dict[str, tuple[int, int]] = {}
        parents: dict[str, list[str]] = {}
        for i, node in enumerate(spec.structure):
            for j, child in enumerate(listed.get(node.id, ())):
                if child not in known:
                    continue
                owner.setdefault(child, (i, j))
                parents.setdefault(child, []).append(node.id)
        for child in root_listed:
            parents.setdefault(child, []).append(spec.id)
        self._owner = owner
        self.children: dict[str, tuple[str, ...]] = {
            n: tuple(c for c in listed[n] if c in known) for n in self._node_index
        }
        unreferenced = tuple(n for n in self._node_index if n not in owner)
        if spec.root.children:
            top = tuple(c for c in root_listed if c in known)
            for n in unreferenced:
                if n not in top:
                    issues.append(
                        self._issue(
                            ("structure", self._node_index[n], "id"),
                            f"node '{n}' is nobody's child: the root lists its children "
                            "(root.children), so add it there or under another node",
                        )
                    )
        else:
            top = unreferenced + tuple(
                c for c in root_listed if c in known and c not in unreferenced
            )
            for n in unreferenced:
                parents.setdefault(n, []).insert(0, spec.id)
        self.children[spec.id] = top
        self.parents: dict[str, tuple[str, ...]] = {
            c: tuple(dict.fromkeys(ps)) for c, ps in parents.items()
        }
        self.parent: dict[str, str] = {c: ps[0] for c, ps in self.parents.items()}
        issues += self._check_cycles()
        if not top and not issues:
            issues.append(
                self._issue(
                    ("structure",),
                    "no top-level node: every node is another's child (or the structure is "
                    "empty); list the root's children under root.children to put indicators "
                    "directly under the root",
                )
            )
        # depth-first leaves and breadth-first nodes, from the root (a child under several
        # parents — a DAG — is visited once)
        leaves: list[str] = []
        order: list[str] = [spec.id]
        seen: set[str] = {spec.id}

        def visit(node: str) -> None:
            for child in self.children.get(node, ()):
                if child in self.children:
                    if child not in seen:
                        seen.add(child)
                        visit(child)
                elif child in self.catalogue and child not in seen:
                    seen.add(child)
                    leaves.append(child)

        visit(spec.id)
        queue = [spec.id]
        while queue:
            current = queue.pop(0)
            for child in self.children.get(current, ()):
                if child in self.children and child not in order:
                    order.append(child)
                    queue.append(child)
        self.indicators: tuple[str, ...] = tuple(leaves)
        self.node_order: tuple[str, ...] = tuple(order)
        self.nodes: dict[str, Node] = {n: self._node_specs[n] for n in order[1:]}
        self.top_level: tuple[str, ...] = top
        return issues

    def _node_children(
        self,
        node_id: str,
        children: list[str],
        formula: str | None,
        where: _Path,
        known: set[str],
        issues: list[Issue],
    ) -> list[str]:
        """A node's children: those listed, then the ids its formula names (parsed here)."""
        out = list(children)
        for j, child in enumerate(children):
            if child not in known:
                close = difflib.get_close_matches(child, sorted(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                issues.append(
                    self._issue(
                        (*where, "children", j),
                        f"unknown id '{child}' in the children of '{node_id}': not a node, "
                        f"not an indicator of the catalogue ({len(self.catalogue)} "
                        f"indicators) nor a declared column{hint}",
                    )
                )
        if formula is None:
            return out
        try:
            parsed = parse_node_formula(formula, known)
        except FormulaError as exc:
            issues.append(self._issue((*where, "formula"), f"node '{node_id}': {exc}"))
            return out
        self.formulas[node_id] = parsed
        out.extend(n for n in parsed.order if n not in out)
        return out

    def _check_cycles(self) -> list[Issue]:
        state: dict[str, int] = {}
        issues: list[Issue] = []

        def visit(node: str, trail: tuple[str, ...]) -> None:
            state[node] = 1
            for child in self.children.get(node, ()):
                if child not in self._node_index:  # a leaf, or the index's own id (reported)
                    continue
                if state.get(child) == 1:
                    path = (*trail, node)  # child may be node itself: listed as its own child
                    cycle = " -> ".join((*path[path.index(child) :], child))
                    i = self._node_index[node]
                    j = self.children[node].index(child)
                    issues.append(
                        self._issue(
                            ("structure", i, "children", j),
                            f"node cycle: {cycle}; a node cannot contain itself",
                        )
                    )
                elif state.get(child) is None:
                    visit(child, (*trail, node))
            state[node] = 2

        for node in self._node_index:
            if state.get(node) is None:
                visit(node, ())
        return issues

    def _check_leaves(self) -> list[Issue]:
        issues = []
        for indicator_id in self.indicators:
            if self.polarity(indicator_id) == "none":
                i, j = self._owner[indicator_id]
                issues.append(
                    self._issue(
                        ("structure", i, "children", j),
                        f"indicator '{indicator_id}' has polarity 'none' (a context indicator, "
                        "whose direction is unknown) and cannot be aggregated; remove it from "
                        f"the structure or set overrides: {{{indicator_id}: {{polarity: "
                        "positive}}}} (or negative)",
                    )
                )
        in_tree = set(self.indicators)
        for code in self.spec.overrides:
            if code not in in_tree:
                issues.append(
                    self._issue(
                        ("overrides", code),
                        f"override for '{code}', which is not an indicator of the structure",
                    )
                )
        return issues

    def _steps(self) -> Iterator[tuple[_Path, str, Step]]:
        """Every step written in the framework, with its location and family."""
        spec = self.spec
        for family in FAMILIES:
            yield ("pipeline", family), family, getattr(spec.pipeline, family)
        for index, node in enumerate(spec.structure):
            if node.aggregate is not None:
                yield ("structure", index, "aggregate"), "aggregate", node.aggregate
            if node.weighting is not None:
                yield ("structure", index, "weighting"), "weight", node.weighting
        for index, node in enumerate(spec.structure):
            if node.impute is not None:
                yield ("structure", index, "impute"), "impute", node.impute
            if node.normalise is not None:
                yield ("structure", index, "normalise"), "normalise", node.normalise
        if spec.root.impute is not None:
            yield ("root", "impute"), "impute", spec.root.impute
        if spec.root.normalise is not None:
            yield ("root", "normalise"), "normalise", spec.root.normalise
        if spec.root.aggregate is not None:
            yield ("root", "aggregate"), "aggregate", spec.root.aggregate
        if spec.root.weighting is not None:
            yield ("root", "weighting"), "weight", spec.root.weighting
        for code, override in spec.overrides.items():
            if override.treat is not None:
                yield ("overrides", code, "treat"), "treat", override.treat
            if override.normalise is not None:
                yield ("overrides", code, "normalise"), "normalise", override.normalise

    def _check_methods(self) -> list[Issue]:
        issues = []
        for path, family, step in self._steps():
            if step.method not in FAMILIES[family]:
                names = FAMILIES[family].names()
                close = difflib.get_close_matches(step.method, names, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                issues.append(
                    self._issue(
                        (*path, "method"),
                        f"unknown {family} method '{step.method}'; {hint}available: "
                        f"{', '.join(names)}",
                    )
                )
        return issues

    def _check_options(self) -> list[Issue]:
        issues = []
        for path, family, step in self._steps():
            options, _ = split_options(family, step)
            for key, problem in _option_problems(family, step.method, options):
                issues.append(self._issue((*path, key), problem))
            at_node = path[0] in ("structure", "root") and family == "normalise"
            for key in ("base_period", "reference_entity") if at_node else ():
                if key in options:
                    issues.append(
                        self._issue(
                            (*path, key),
                            f"a node's normalise step learns from its own scores, pooled or "
                            f"per_period; '{key}' is only read by indicators' normalisation",
                        )
                    )
        return issues

    def _step_uses(self) -> Iterator[tuple[_Path, str, Step, int, tuple[str, ...]]]:
        """Each distinct (step, number of columns) the pipeline will run, with labels."""
        spec = self.spec
        n = len(self.indicators)
        yield ("pipeline", "screen"), "screen", spec.pipeline.screen, n, self.indicators
        yield ("pipeline", "impute"), "impute", spec.pipeline.impute, n, self.indicators
        for family, getter in (("treat", self.treat_step), ("normalise", self.normalise_step)):
            groups: dict[_Path, list[str]] = {}
            for indicator_id in self.indicators:
                override = spec.overrides.get(indicator_id)
                own = override is not None and getattr(override, family) is not None
                path: _Path = ("overrides", indicator_id, family) if own else ("pipeline", family)
                groups.setdefault(path, []).append(indicator_id)
            for path, ids in groups.items():
                yield path, family, getter(ids[0]), len(ids), tuple(ids)
        seen: set[tuple[_Path, int]] = set()
        for node in self.node_order:
            children = self.children[node]
            impute = self.node_impute_step(node)
            if impute is not None:
                yield (*self._node_path(node), "impute"), "impute", impute, 1, (node,)
            rescale = self.node_normalise_step(node)
            if rescale is not None:
                yield (*self._node_path(node), "normalise"), "normalise", rescale, 1, (node,)
            if node in self.formulas:
                continue  # scored by its formula: no weighting, no aggregation
            # weights are checked for every node: the nominal weights differ per node
            yield self._weight_path(node), "weight", self.weight_step(node), len(children), children
            path = self._aggregate_path(node)
            if (path, len(children)) not in seen:
                seen.add((path, len(children)))
                yield path, "aggregate", self.aggregate_step(node), len(children), children

    def _check_parameters(self) -> list[Issue]:
        """Call each method once on a tiny dummy matrix; parameter errors become issues."""
        issues: list[Issue] = []
        reported: set[_Path] = set()
        for path, family, step, n_columns, labels in self._step_uses():
            if path in reported or n_columns == 0:
                continue
            options, params = split_options(family, step)
            nominal = (
                np.array([self.nominal_weight(c) for c in labels]) if family == "weight" else None
            )
            problem = _dry_run(family, step.method, params, options, n_columns, labels, nominal)
            if problem is not None:
                reported.add(path)
                named = re.search(r"'(\w+)' parameter", problem)
                key = named.group(1) if named and named.group(1) in params else None
                issues.append(self._issue((*path, key) if key else path, problem))
        return issues

    def _check_positive_inputs(self) -> list[Issue]:
        """A mean that needs strictly positive values must not get scores that can be 0."""
        ranges: dict[str, tuple[float, float] | None] = {}
        sources: dict[str, str] = {}
        for indicator_id in self.indicators:
            step = self.normalise_step(indicator_id)
            _, params = split_options("normalise", step)
            try:
                ranges[indicator_id] = output_range(step.method, params)
            except SpecError:
                ranges[indicator_id] = None
            override = self.spec.overrides.get(indicator_id)
            own = override is not None and override.normalise is not None
            where = f"overrides.{indicator_id}.normalise" if own else "pipeline.normalise"
            sources[indicator_id] = f"{step.method} at {where}"
        issues: list[Issue] = []
        for node in self.postorder():
            step = self.aggregate_step(node)
            options, params = split_options("aggregate", step)
            children = self.children[node]
            child_ranges = [ranges.get(c) for c in children]
            method = aggregators.get(step.method)
            known = [r for r in child_ranges if r is not None]
            sources[node] = f"node '{node}'"
            rescale = self.node_normalise_step(node)
            if node in self.formulas:
                ranges[node] = self._formula_range(node, ranges, issues)
                if rescale is not None:
                    ranges[node] = _normalised_range(rescale)
                continue
            ranges[node] = _within(
                (min(r[0] for r in known), max(r[1] for r in known))
                if known and len(known) == len(child_ranges) and method.preserves_range
                else None,
                self.node_range(node),
            )
            issues += self._identity_children(node, children)
            issues += self._frontier_aggregate(node)
            checked = requires_positive(step.method, params)
            if rescale is not None:
                ranges[node] = _normalised_range(rescale)
            if not checked:
                continue
            floor_ok = bool(options.get("allow_zero", False))
            bad = [
                (c, r)
                for c, r in zip(children, child_ranges, strict=True)
                if r is not None and (r[0] < 0 or (r[0] == 0 and not floor_ok))
            ]
            if not bad:
                continue
            listed = "; ".join(f"'{c}' in [{r[0]:g}, {r[1]:g}] ({sources[c]})" for c, r in bad[:5])
            advice = (
                "aggregate with method: arithmetic; or, for an index of your own, normalise "
                "to a positive range, e.g. normalise: {method: minmax, lo: 1, hi: 100} (this "
                "changes every score, so not when reproducing a published index)"
            )
            if all(r[0] == 0 for _, r in bad):
                advice += (
                    "; or, with fixed goalposts whose lower end is a 'natural zero' (as the "
                    "HDI's), add allow_zero: true to this aggregate step: rows where a child "
                    "is 0 are then not scored by the node, and the audit lists them"
                )
            issues.append(
                self._issue(
                    self._aggregate_path(node),
                    f"node '{node}' aggregates with '{step.method}', which needs strictly "
                    f"positive values, but children can be 0 or less after normalisation: "
                    f"{listed}. Fix: {advice}",
                )
            )
        return issues

    def _formula_range(
        self,
        node: str,
        ranges: Mapping[str, tuple[float, float] | None],
        issues: list[Issue],
    ) -> tuple[float, float] | None:
        """A formula node's range from its children's (interval arithmetic), checked
        against its declared ``range``."""
        computed = self.formulas[node].interval(ranges)
        declared = self.node_range(node)
        path = self._node_path(node)
        if declared is not None and (computed[1] < declared[0] or computed[0] > declared[1]):
            issues.append(
                self._issue(
                    (*path, "range"),
                    f"node '{node}': its formula gives scores in [{computed[0]:g}, "
                    f"{computed[1]:g}] from its children's ranges, which never meet the "
                    f"declared range [{declared[0]:g}, {declared[1]:g}]",
                )
            )
        bounded = computed if all(np.isfinite(computed)) else None
        if bounded is None and computed[0] > -np.inf:
            bounded = (computed[0], np.inf)
        return _within(bounded, declared)

    def _frontier_aggregate(self, node: str) -> list[Issue]:
        """A node scored by its weighting method's optimum (benefit of the doubt) is not a
        mean: an aggregate other than the arithmetic one would be silently ignored."""
        weighting = self.weight_step(node).method
        aggregate = self.aggregate_step(node).method
        if not weighters.get(weighting).scores_node or aggregate in ("arithmetic", "none"):
            return []
        return [
            self._issue(
                self._aggregate_path(node),
                f"node '{node}' is scored by its weighting method '{weighting}' (each row's "
                "share of the best-practice frontier, the optimum of its linear programme, "
                f"which is a weighted arithmetic mean), so aggregate '{aggregate}' would be "
                f"ignored. Fix: give node '{node}' aggregate: {{method: arithmetic}}, or "
                "weight it with another method",
            )
        ]

    def _identity_children(self, node: str, children: tuple[str, ...]) -> list[Issue]:
        """A mean over values left as they are (``normalise: none``) must not mix
        directions: each such indicator must already point the index's way. (A frontier
        node, scored by its weighting method, reads its children as they come.)"""
        if weighters.get(self.weight_step(node).method).scores_node:
            return []
        wrong = [
            c
            for c in children
            if c in self.catalogue
            and c in self.indicators
            and not normalisers.get(self.normalise_step(c).method).flag("applies_direction")
            and self.direction(c) < 0
        ]
        if not wrong:
            return []
        way = "more is better" if self.spec.higher_is == "better" else "more is worse"
        owner = self._owner.get(wrong[0])
        path: _Path = (
            ("structure", owner[0], "children", owner[1]) if owner else self._node_path(node)
        )
        return [
            self._issue(
                path,
                f"node '{node}' averages {wrong} whose values are kept as they are "
                f"(normalise method '{self.normalise_step(wrong[0]).method}' does not apply "
                f"polarity), but their polarity runs against the index ({way}, higher_is: "
                f"{self.spec.higher_is}). Fix: normalise them with a method that applies "
                "polarity (minmax, goalposts …), or set the framework's higher_is (or their "
                "polarity) so that they agree",
            )
        ]

    # -- the tree ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The framework id, which is also the root node's id."""
        return self.spec.id

    @property
    def dictionary_path(self) -> Path | None:
        """The data dictionary named by the framework, resolved against its folder."""
        if self.spec.dictionary is None:
            return None
        return (self.base_dir or Path(".")) / self.spec.dictionary

    def postorder(self) -> list[str]:
        """Inner nodes, children before parents, the root last."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(node: str) -> None:
            seen.add(node)
            for child in self.children.get(node, ()):
                if child in self.children and child not in seen:
                    visit(child)
            order.append(node)

        visit(self.spec.id)
        return order

    def node_name(self, node: str) -> str:
        """The display name of a node (its id when it has none)."""
        if node == self.id:
            return self.spec.root.name or self.spec.name or node
        return self._node_specs[node].name or node

    def polarity(self, indicator_id: str) -> Polarity:
        """``positive`` or ``negative`` (``none`` only for context indicators)."""
        override = self.spec.overrides.get(indicator_id)
        if override is not None and override.polarity is not None:
            return override.polarity
        return self.catalogue[indicator_id].polarity

    def higher_is(self, node: str) -> str:
        """The direction of a node's scores: ``better`` or ``worse`` (its own, or the
        framework's ``higher_is``)."""
        spec = self._node_specs.get(node)
        if spec is not None and spec.higher_is is not None:
            return spec.higher_is
        if node == self.id and self.spec.root.higher_is is not None:
            return self.spec.root.higher_is
        return self.spec.higher_is

    def direction(self, indicator_id: str) -> float:
        """+1 or -1: how normalisation orients an indicator.

        With ``higher_is: better`` (the default) a positive indicator keeps its direction
        and a negative one is reversed, so that a higher score is better; with
        ``higher_is: worse`` it is the other way round, so that a higher score is worse.
        """
        sign = 1.0 if self.polarity(indicator_id) == "positive" else -1.0
        return sign if self.spec.higher_is == "better" else -sign

    def node_range(self, node: str) -> tuple[float, float] | None:
        """The declared ``range`` of a node's scores, or None."""
        spec = self._node_specs.get(node)
        if spec is not None:
            return spec.range
        return self.spec.root.range if node == self.id else None

    def node_impute_step(self, node: str) -> Step | None:
        """The imputation of a node's own scores, or None."""
        spec = self._node_specs.get(node)
        if spec is not None:
            return spec.impute
        return self.spec.root.impute if node == self.id else None

    def node_normalise_step(self, node: str) -> Step | None:
        """The second normalisation of a node's own scores, or None."""
        spec = self._node_specs.get(node)
        if spec is not None:
            return spec.normalise
        return self.spec.root.normalise if node == self.id else None

    def _node_path(self, node: str) -> _Path:
        return ("structure", self._node_index[node]) if node in self._node_index else ("root",)

    def nominal_weight(self, child: str) -> float:
        """The weight a child (node or indicator) has in its parent, before any method."""
        if child in self._node_specs:
            return self._node_specs[child].weight
        override = self.spec.overrides.get(child)
        if override is not None and override.weight is not None:
            return override.weight
        if child in self.spec.columns:
            return self.spec.columns[child].weight
        return 1.0

    def treat_step(self, indicator_id: str) -> Step:
        """The outlier-treatment step of one indicator (its override, or the default)."""
        override = self.spec.overrides.get(indicator_id)
        return override.treat if override and override.treat else self.spec.pipeline.treat

    def normalise_step(self, indicator_id: str) -> Step:
        """The normalisation step of one indicator (its override, or the default)."""
        override = self.spec.overrides.get(indicator_id)
        if override and override.normalise:
            return override.normalise
        return self.spec.pipeline.normalise

    def aggregate_step(self, node: str) -> Step:
        """How a node aggregates its children (its own setting, or the default)."""
        spec = self._node_specs.get(node)
        if spec is not None and spec.aggregate is not None:
            return spec.aggregate
        if node == self.id and self.spec.root.aggregate is not None:
            return self.spec.root.aggregate
        return self.spec.pipeline.aggregate

    def weight_step(self, node: str) -> Step:
        """How a node's children are weighted (its own setting, or the default)."""
        spec = self._node_specs.get(node)
        if spec is not None and spec.weighting is not None:
            return spec.weighting
        if node == self.id and self.spec.root.weighting is not None:
            return self.spec.root.weighting
        return self.spec.pipeline.weight

    def missing_policy(self, node: str) -> MissingPolicy:
        """A node's missing-data policy (its own, the root's, or the pipeline's default)."""
        spec = self._node_specs.get(node)
        if spec is not None and spec.missing is not None:
            return spec.missing
        if node == self.id and self.spec.root.missing is not None:
            return self.spec.root.missing
        return self.spec.pipeline.missing

    def _aggregate_path(self, node: str) -> _Path:
        spec = self._node_specs.get(node)
        if spec is not None and spec.aggregate is not None:
            return ("structure", self._node_index[node], "aggregate")
        if node == self.id and self.spec.root.aggregate is not None:
            return ("root", "aggregate")
        return ("pipeline", "aggregate")

    def _weight_path(self, node: str) -> _Path:
        spec = self._node_specs.get(node)
        if spec is not None and spec.weighting is not None:
            return ("structure", self._node_index[node], "weighting")
        if node == self.id and self.spec.root.weighting is not None:
            return ("root", "weighting")
        return ("pipeline", "weight")

    def settings(self) -> dict[str, tuple[str, ...]]:
        """A text fingerprint of each stage's settings, in pipeline order.

        Two frameworks with equal fingerprints up to a stage produce the same data up to
        that stage, which lets :meth:`IndexResult.rerun` reuse the stages before the first
        step that changed.
        """
        spec = self.spec
        return {
            "screen": (spec.pipeline.screen.key(),),
            "impute": (spec.pipeline.impute.key(),),
            "treat": tuple(f"{i}={self.treat_step(i).key()}" for i in self.indicators),
            "normalise": tuple(
                f"{i}={self.normalise_step(i).key()}|{self.polarity(i)}" for i in self.indicators
            ),
        }

    def __repr__(self) -> str:
        return f"Framework({self.id}: {len(self.indicators)} indicators, {len(self.nodes)} nodes)"

    def with_steps(
        self, *, keep_overrides: bool = False, **steps: Step | Mapping[str, Any]
    ) -> Framework:
        """A copy with some pipeline steps replaced, validated again.

        Parameters
        ----------
        keep_overrides
            False (default): a replaced step applies to every indicator and node, so
            per-indicator and per-node settings of that family are dropped (``rerun(
            normalise=...)`` really re-normalises everything). True: only the pipeline
            default changes; overrides keep winning.
        **steps
            ``family={"method": ..., <parameters>}`` for any of ``screen``, ``impute``,
            ``treat``, ``normalise``, ``weight``, ``aggregate``, and ``missing={"policy":
            ...}`` for the default missing-data policy.

        Raises
        ------
        SpecError
            An unknown family, or a framework that no longer validates (e.g. a geometric
            mean over min-max scores in [0, 100]).
        """
        return self.replace_steps(steps, keep_overrides=keep_overrides)

    def with_weights(self, node: str, weights: Mapping[str, float]) -> Framework:
        """A copy whose node ``node`` weights its children ``weights`` (explicit weights).

        Parameters
        ----------
        node
            A node id (or the framework id for the root).
        weights
            Child id → nominal weight [unitless, >= 0]; children left out keep theirs. A
            child's weight is its own (nodes' ``weight``, indicators' ``overrides``), so a
            child under several parents (a DAG) gets it under each.

        Raises
        ------
        SpecError
            An unknown node or child, or weights the framework refuses.
        """
        if node not in self.children:
            raise SpecError(f"unknown node '{node}'; nodes are {list(self.node_order)}")
        unknown = sorted(set(weights) - set(self.children[node]))
        if unknown:
            raise SpecError(
                f"{unknown} are not children of '{node}'; its children are "
                f"{list(self.children[node])}"
            )
        data = self.spec.model_dump(exclude_unset=True)
        structure = data.setdefault("structure", [])
        for entry in structure:
            if entry["id"] in weights:
                entry["weight"] = float(weights[entry["id"]])
        overrides = data.setdefault("overrides", {})
        for child, value in weights.items():
            if child not in self._node_specs:
                overrides.setdefault(child, {})["weight"] = float(value)
        explicit = {"method": "explicit"}
        if node == self.id:
            data.setdefault("root", {})["weighting"] = explicit
        else:
            structure[self._node_index[node]]["weighting"] = explicit
        spec = validate_located(FrameworkSpec, Located(data, "framework spec"))
        return Framework(spec, self.catalogue, base_dir=self.base_dir)

    def replace_steps(
        self, steps: Mapping[str, Step | Mapping[str, Any]], *, keep_overrides: bool = False
    ) -> Framework:
        """:meth:`with_steps` with the steps as a mapping (family → step)."""
        if not steps:
            return self
        allowed = [*FAMILIES, "missing"]
        unknown = sorted(set(steps) - set(allowed))
        if unknown:
            raise SpecError(f"unknown pipeline step(s) {unknown}; steps are {allowed}")
        update: dict[str, Any] = {}
        for name, step in steps.items():
            value = step.model_dump() if hasattr(step, "model_dump") else dict(step)
            update[name] = value
        data = self.spec.model_dump(exclude_unset=False)
        data["pipeline"] = {**data["pipeline"], **update}
        if not keep_overrides:
            own = {"treat": "treat", "normalise": "normalise"}
            for code, override in data["overrides"].items():
                for family in steps:
                    if family in own:
                        override[own[family]] = None
                data["overrides"][code] = override
            node_keys = {"aggregate": "aggregate", "weight": "weighting", "missing": "missing"}
            for family in steps:
                if family in node_keys:
                    key = node_keys[family]
                    for node in data["structure"]:
                        node[key] = None
                    data["root"][key] = None
        spec = FrameworkSpec.model_validate(_drop_none_steps(data))
        return Framework(spec, self.catalogue, base_dir=self.base_dir)

    # -- computing ----------------------------------------------------------------------------
    def compute(self, data: Panel, **steps: Step | Mapping[str, Any]) -> IndexResult:
        """Build the index over ``data``.

        Parameters
        ----------
        data
            The panel holding the variables the indicators read.
        **steps
            Steps replacing the pipeline's for this run only (see :meth:`with_steps`),
            e.g. ``normalise={"method": "zscore"}``.

        Returns
        -------
        IndexResult
            Every stage, the scores and ranks of every node, weights and the audit.
        """
        return build_index(self, data, **steps)

    def compute_values(
        self,
        values: IndicatorValues,
        groups: pd.DataFrame,
        *,
        previous: IndexResult | None = None,
        data_name: str | None = None,
    ) -> IndexResult:
        """Build the index from indicator values already computed (see
        :func:`securindex.pipeline.run_pipeline`); ``previous`` lends its unchanged stages."""
        return run_pipeline(self, values, groups, previous=previous, data_name=data_name)

    @staticmethod
    def score_nodes(
        plan: Plan,
        normalised: np.ndarray,
        index: pd.MultiIndex,
        groups: pd.DataFrame,
        *,
        scores: np.ndarray | None = None,
    ) -> np.ndarray:
        """The node scores of ``plan`` over normalised values (see
        :func:`securindex.pipeline.score_nodes`): the in-memory aggregation for analyses
        that re-score a build under other weights; ``scores`` are earlier scores to update
        (only ``plan.nodes`` are scored again)."""
        values, *_ = score_nodes(plan, normalised, index, groups, scores=scores)
        return values


def _normalised_range(step: Step) -> tuple[float, float] | None:
    """The range of a normalise step's scores (None: unknown or invalid, reported apart)."""
    _, params = split_options("normalise", step)
    try:
        return output_range(step.method, params)
    except SpecError:
        return None


def _within(
    computed: tuple[float, float] | None, declared: tuple[float, float] | None
) -> tuple[float, float] | None:
    """The computed range narrowed by a declared one (the declared one alone if unknown)."""
    if declared is None:
        return computed
    if computed is None:
        return (float(declared[0]), float(declared[1]))
    low, high = max(computed[0], declared[0]), min(computed[1], declared[1])
    return (float(low), float(high)) if low <= high else computed


def _referenced_ids(spec: FrameworkSpec) -> list[str]:
    """Every id the structure and the root name: children, then the names of formulas."""
    ids: list[str] = []
    nodes: list[tuple[list[str], str | None]] = [(n.children, n.formula) for n in spec.structure]
    nodes.append((spec.root.children, spec.root.formula))
    for children, formula in nodes:
        ids.extend(children)
        if formula is not None:
            with contextlib.suppress(FormulaError):  # reported, located, by Framework
                ids.extend(sorted(parse_formula(formula).names))
    return list(dict.fromkeys(ids))


def _issue(located: Located | None, path: _Path, message: str) -> Issue:
    if located is not None:
        return located.issue(path, message)
    return Issue(message, field=".".join(map(str, path)) or None)


def _drop_none_steps(data: dict[str, Any]) -> dict[str, Any]:
    """Remove keys set to None by :meth:`Framework.with_steps` (so defaults apply)."""
    for override in data["overrides"].values():
        for key in [k for k, v in override.items() if v is None]:
            del override[key]
    for node in data["structure"]:
        for key in [k for k, v in node.items() if v is None]:
            del node[key]
    data["root"] = {k: v for k, v in data["root"].items() if v is not None}
    data["columns"] = {
        k: {f: v for f, v in c.items() if v is not None} for k, c in data["columns"].items()
    }
    return data


def _option_problems(family: str, method: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems with the options the pipeline reads from one step: (key, message)."""
    problems = []
    if family == "screen" and options.get("stage", "raw") not in ("raw", "imputed"):
        problems.append(("stage", f"'stage' must be 'raw' or 'imputed'; got {options['stage']!r}"))
    if family == "impute" and "group" in options and not isinstance(options["group"], str):
        problems.append(
            ("group", f"'group' must be the name of a group column; got {options['group']!r}")
        )
    if family == "normalise":
        mode = options.get("reference", "pooled")
        if mode not in MODES:
            problems.append(
                ("reference", f"'reference' must be one of {list(MODES)}; got {mode!r}")
            )
        if mode == "base" and "base_period" not in options:
            problems.append(
                ("reference", "reference: base needs base_period (the period to learn from)")
            )
        if mode != "base" and "base_period" in options:
            problems.append(
                ("base_period", f"base_period is only read with reference: base (got {mode!r})")
            )
        if "reference_entity" in options and not normalisers.get(method).takes("reference_row"):
            problems.append(
                (
                    "reference_entity",
                    f"reference_entity is only read by normalisers with a reference row "
                    f"(distance_to_reference), not by '{method}'",
                )
            )
    if family == "treat" and not isinstance(options.get("per_period", False), bool):
        problems.append(
            ("per_period", f"'per_period' must be true or false; got {options['per_period']!r}")
        )
    if family == "aggregate" and not isinstance(options.get("allow_zero", False), bool):
        problems.append(
            ("allow_zero", f"'allow_zero' must be true or false; got {options['allow_zero']!r}")
        )
    return problems


def _accepts(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func`` takes a keyword argument ``name`` (or any keyword)."""
    parameters = inspect.signature(func).parameters
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _dry_run(
    family: str,
    method: str,
    params: dict[str, Any],
    options: Mapping[str, Any],
    n_columns: int,
    labels: tuple[str, ...],
    nominal: np.ndarray | None = None,
) -> str | None:
    """Run ``method`` on a tiny dummy matrix; the message of a parameter error, else None.

    Only :class:`SpecError` (a parameter is invalid whatever the data) and ``TypeError``
    (an unknown keyword) count; errors that depend on the values (a constant column, a
    singular correlation matrix) are left for compute time.
    """
    entry = FAMILIES[family].get(method)
    func = entry.func
    column = np.arange(1.0, 7.0)
    dummy = np.repeat(column[:, None], n_columns, axis=1) + np.arange(n_columns)[None, :]
    kwargs = dict(params)
    args: tuple[Any, ...]
    if family == "screen":
        args = (dummy,)
    elif family == "impute":
        gappy = dummy.copy()
        gappy[0] = np.nan
        rows = dummy.shape[0]
        codes = np.zeros(rows, dtype=np.int64)
        args = (gappy,)
        kwargs.update(groups=codes, entity=codes, period=np.arange(rows, dtype=np.int64))
    elif family == "treat":
        args = (dummy,)
    elif family == "normalise":
        args = (dummy,)
        kwargs["direction"] = np.ones(n_columns)
        if "reference_entity" in options:
            kwargs["reference_row"] = 0
    elif family == "weight":
        args = (dummy,)
        kwargs.setdefault("nominal", np.ones(n_columns) if nominal is None else nominal)
        if "labels" in inspect.signature(func).parameters:
            kwargs.setdefault("labels", list(labels))
    else:
        args = (np.full((3, n_columns), 2.0), np.ones(n_columns))
    if family in ("weight", "aggregate") and "groups" in inspect.signature(func).parameters:
        kwargs.setdefault("groups", np.zeros(args[0].shape[0], dtype=np.int64))
    if not all(_accepts(func, k) for k in kwargs):
        unknown = sorted(k for k in params if not _accepts(func, k))
        if unknown:
            accepted = [
                p.name
                for p in inspect.signature(func).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name not in ("groups", "nominal", "direction")
            ]
            return (
                f"{family} method '{method}' got unknown parameter(s) {unknown}; it accepts "
                f"{accepted or 'none'}"
            )
    result: Any
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if family == "normalise":  # either registered form, the result checked
                direction = kwargs.pop("direction")
                result = run_normaliser(entry, *args, direction=direction, **kwargs)
            elif family == "treat":
                result = run_treater(entry, *args, **kwargs)
            else:
                result = func(*args, **kwargs)
    except SpecError as exc:
        text = str(exc)
        return text if f"'{method}'" in text else f"{family} method '{method}': {text}"
    except TypeError as exc:
        return f"{family} method '{method}': invalid parameters ({exc})"
    except (AttributeError, NameError) as exc:  # a bug of the method, whatever the data
        return f"{family} method '{method}' fails on a dry run: {type(exc).__name__}: {exc}"
    except Exception:  # data-dependent errors are checked at compute time
        return None
    return _result_problem(family, method, result, args[0].shape)


def _result_problem(family: str, method: str, result: Any, shape: tuple[int, ...]) -> str | None:
    """What is wrong with a method's return value on a dry run (None: nothing)."""
    n_rows, n_columns = shape
    expected: str
    if family == "screen":
        values = np.asarray(result)
        ok = values.shape == (n_rows,) and values.dtype == bool
        expected = f"a boolean array with one value per row, shape ({n_rows},)"
    elif family in ("impute", "treat"):
        kind = {"impute": "Imputed", "treat": "Treated"}[family]
        ok = type(result).__name__ == kind and np.shape(getattr(result, "values", ())) == shape
        article = "an" if kind == "Imputed" else "a"
        expected = f"{article} {kind} whose values have the input's shape {shape}"
    elif family == "weight":
        weights = np.shape(getattr(result, "values", ()))
        ok = hasattr(result, "info") and weights in ((n_columns,), shape)
        expected = f"a Weights with values of shape ({n_columns},) or {shape}"
    elif family == "aggregate":
        ok = isinstance(result, np.ndarray) and result.shape == (n_rows,)
        expected = f"a float array with one score per row, shape ({n_rows},)"
    else:
        return None
    if ok:
        return None
    got = (
        f"an array of shape {result.shape}"
        if isinstance(result, np.ndarray)
        else f"a {type(result).__name__}"
    )
    return f"{family} method '{method}' returned {got} on a dry run; it must return {expected}"
