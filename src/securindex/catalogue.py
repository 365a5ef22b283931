"""A catalogue of indicators: loading, cross-checking and computing them over a panel.

Loading a catalogue checks, before any data is read, everything a single file cannot:
unique ids across files, that every name a formula uses is declared (an input, a constant
or another indicator), that indicators referring to each other form no cycle, and that each
formula's unit — inferred through the formula from its inputs' units — converts to the
declared unit. Every problem found is reported at once, as ``file:line:column field:
message``.
"""

from __future__ import annotations

import difflib
import graphlib
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from securindex._yaml import Located, iter_yaml_files, read_yaml
from securindex.dataset import ENTITY, PERIOD, Panel
from securindex.errors import (
    DataError,
    FormulaError,
    FormulaWarning,
    Issue,
    SpecError,
    UnitError,
)
from securindex.formula import Formula, parse_formula
from securindex.spec._validate import validate_located
from securindex.spec.indicator import _SNAKE_CASE, Indicator
from securindex.units import ScaledUnit, conversion_factor, parse_unit

logger = logging.getLogger(__name__)

__all__ = ["Catalogue", "IndicatorValues", "document_kind", "load_indicator_file"]


@dataclass(frozen=True)
class _Location:
    file: str | None = None
    line: int | None = None
    column: int | None = None
    located: Located | None = None

    def issue(self, path: Sequence[str | int], message: str) -> Issue:
        if self.located is not None:
            return self.located.issue(path, message)
        return Issue(message, self.file, self.line, self.column, ".".join(map(str, path)) or None)


def document_kind(value: Any) -> str:
    """What a YAML document holds: ``framework``, ``evaluation``, ``dictionary``,
    ``indicators`` or ``unknown``."""
    if isinstance(value, list):
        return "indicators"
    if isinstance(value, dict):
        if "structure" in value or (isinstance(value.get("root"), dict) and "formula" not in value):
            return "framework"  # a flat index lists the root's children under root
        if "evaluation" in value:
            return "evaluation"
        if ("variables" in value or "from_incidents" in value) and "formula" not in value:
            return "dictionary"
        if "formula" in value or "id" in value:
            return "indicators"
    return "unknown"


def load_indicator_file(located: Located) -> tuple[list[tuple[Indicator, _Location]], list[Issue]]:
    """Validate every indicator of one YAML document (a mapping or a list of mappings).

    Returns the valid indicators and the issues of the invalid ones, so one bad entry does
    not hide the problems of the others.
    """
    if isinstance(located.value, dict):
        items: list[tuple[Sequence[str | int], Any]] = [((), located.value)]
    elif isinstance(located.value, list):
        items = [((i,), v) for i, v in enumerate(located.value)]
    else:
        return [], [located.issue((), "expected an indicator mapping or a list of them")]
    found: list[tuple[Indicator, _Location]] = []
    issues: list[Issue] = []
    for prefix, _ in items:
        try:
            indicator = validate_located(Indicator, located, prefix)
        except SpecError as exc:
            issues.extend(exc.issues)
            continue
        if not re.match(_SNAKE_CASE, indicator.id):
            issues.append(
                located.issue(
                    (*prefix, "id"),
                    f"catalogue ids are snake_case (lowercase letters, digits, _); got '{indicator.id}'",
                )
            )
            continue
        found.append((indicator, _Location(located=located.sub(prefix) if prefix else located)))
    return found, issues


@dataclass(frozen=True)
class IndicatorValues:
    """Indicator values over a panel, with their units and an audit of every gap.

    Attributes
    ----------
    frame
        One float64 column per indicator, indexed by ``(entity, period)``; each column is
        in its indicator's declared unit.
    units
        Declared unit of each column.
    audit
        One row per value that could not be computed: ``entity, period, indicator, reason``
        (a missing input, a division by zero, …).
    """

    frame: pd.DataFrame
    units: dict[str, str]
    audit: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=[ENTITY, PERIOD, "indicator", "reason"])
    )

    def to_csv(self, path: str | Path) -> None:
        """Write the values (entity and period as the first two columns)."""
        self.frame.reset_index().to_csv(path, index=False)

    @property
    def all_missing(self) -> list[str]:
        """Indicators with no value at all (each of their rows is in the audit, with why)."""
        if not len(self.frame):
            return []
        return [str(c) for c in self.frame.columns[self.frame.isna().all().to_numpy()]]


class Catalogue(Mapping[str, Indicator]):
    """A validated set of indicators, in dependency order.

    Build it with :meth:`load` (YAML files or folders) or from :class:`Indicator` objects;
    either way every cross-file check runs and all problems are raised together as one
    :class:`~securindex.errors.SpecError`.
    """

    def __init__(
        self,
        indicators: Iterable[Indicator],
        *,
        locations: Mapping[str, _Location] | None = None,
    ) -> None:
        locations = dict(locations or {})
        by_id: dict[str, Indicator] = {}
        issues: list[Issue] = []
        for indicator in indicators:
            if indicator.id in by_id:
                first = locations.get(indicator.id)
                where = ""
                if first is not None and first.located is not None:
                    where = (
                        f" (first defined at {first.located.file}:{first.located.position(())[0]})"
                    )
                issues.append(Issue(f"duplicate indicator id '{indicator.id}'{where}", field="id"))
                continue
            by_id[indicator.id] = indicator
        self._locations = locations
        self._formulas: dict[str, Formula] = {}
        self._dependencies: dict[str, tuple[str, ...]] = {}
        self._broken: set[str] = set()
        for indicator in by_id.values():
            issues.extend(self._check_names(indicator, by_id))
        self._order = self._resolve_order(by_id, issues)
        self._factors: dict[str, float] = {}
        self._units: dict[str, dict[str, ScaledUnit]] = {}
        issues.extend(self._check_units(by_id))
        if issues:
            raise SpecError(issues)
        self._indicators = {k: by_id[k] for k in self._order}

    # -- construction checks ----------------------------------------------------------------
    def _where(self, indicator_id: str) -> _Location:
        return self._locations.get(indicator_id, _Location())

    def _check_names(self, indicator: Indicator, by_id: Mapping[str, Indicator]) -> list[Issue]:
        formula = parse_formula(indicator.formula)
        self._formulas[indicator.id] = formula
        declared = indicator.declared_names
        unknown = sorted(formula.names - declared - set(by_id))
        issues = []
        if unknown:
            self._broken.add(indicator.id)
        for name in unknown:
            choices = sorted(declared | set(by_id))
            close = difflib.get_close_matches(name, choices, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            start, end = formula.name_span(name)
            detail = FormulaError(
                f"unknown name '{name}': declare it under inputs or constants, or use an "
                f"indicator id{hint}",
                indicator.formula,
                start,
                end,
            )
            issues.append(self._where(indicator.id).issue(("formula",), str(detail)))
        if indicator.id in formula.names and indicator.id not in declared:
            issues.append(
                self._where(indicator.id).issue(("formula",), "an indicator cannot use itself")
            )
        self._dependencies[indicator.id] = tuple(
            sorted(n for n in formula.names if n in by_id and n not in declared)
        )
        return issues

    def _resolve_order(self, by_id: Mapping[str, Indicator], issues: list[Issue]) -> list[str]:
        sorter = graphlib.TopologicalSorter({k: self._dependencies.get(k, ()) for k in by_id})
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as exc:
            # graphlib lists the cycle as dependency -> dependant; read it as "uses"
            cycle = list(reversed(exc.args[1]))
            self._broken.update(cycle)
            path = " -> ".join(cycle)
            issues.append(self._where(cycle[0]).issue(("formula",), f"indicator cycle: {path}"))
            return list(by_id)

    def _check_units(self, by_id: Mapping[str, Indicator]) -> list[Issue]:
        issues: list[Issue] = []
        for indicator_id in self._order:
            if indicator_id in self._broken:
                continue
            indicator = by_id[indicator_id]
            units = self._name_units(indicator, by_id)
            self._units[indicator_id] = units
            declared = parse_unit(indicator.unit)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", FormulaWarning)
                    inferred = self._formulas[indicator_id].infer_unit(units)
                self._factors[indicator_id] = conversion_factor(inferred, declared)
            except UnitError as exc:
                issues.append(self._where(indicator_id).issue(("unit",), str(exc)))
                continue
            finally:
                self._rewarn(indicator_id, caught)
        return issues

    def _rewarn(self, indicator_id: str, caught: list[warnings.WarningMessage]) -> None:
        """Warnings of a formula again, located at its indicator's ``file:line``."""
        for warning in caught:
            if issubclass(warning.category, FormulaWarning):
                where = self._where(indicator_id).issue(("formula",), str(warning.message))
                warnings.warn(f"indicator '{indicator_id}': {where}", FormulaWarning, stacklevel=4)
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )

    def _name_units(
        self, indicator: Indicator, by_id: Mapping[str, Indicator]
    ) -> dict[str, ScaledUnit]:
        """Unit of every name the formula may use: inputs, constants, dependencies."""
        units: dict[str, ScaledUnit] = {}
        units.update({k: parse_unit(v.unit) for k, v in indicator.inputs.items()})
        units.update({k: parse_unit(v.unit) for k, v in indicator.constants.items()})
        units.update({d: parse_unit(by_id[d].unit) for d in self._dependencies[indicator.id]})
        return units

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, *paths: str | Path) -> Catalogue:
        """Load every indicator under ``paths`` (files or folders, searched recursively).

        Framework and data-dictionary files found in the folders are skipped; a file given
        explicitly must hold indicators. A path that does not exist may name a shipped
        catalogue: ``Catalogue.load("crime")``, ``Catalogue.load("all")``.
        """
        from securindex.shipped import resolve

        paths = tuple(resolve("catalogue", p) for p in paths)
        indicators: list[Indicator] = []
        locations: dict[str, _Location] = {}
        issues: list[Issue] = []
        explicit = {Path(p).resolve() for p in paths if Path(p).is_file()}
        for file in iter_yaml_files(paths):
            try:
                located = read_yaml(file)
            except SpecError as exc:
                issues.extend(exc.issues)
                continue
            kind = document_kind(located.value)
            if kind != "indicators" and file.resolve() not in explicit:
                continue
            entries, file_issues = load_indicator_file(located)
            issues.extend(file_issues)
            for indicator, where in entries:
                if indicator.id in locations:
                    first = locations[indicator.id]
                    issues.append(
                        where.issue(
                            ("id",),
                            f"duplicate indicator id '{indicator.id}': also defined at "
                            f"{first.located.file if first.located else '?'}:"
                            f"{first.located.position(('id',))[0] if first.located else '?'}",
                        )
                    )
                    continue
                locations[indicator.id] = where
                indicators.append(indicator)
        try:
            catalogue = cls(indicators, locations=locations)
        except SpecError as exc:
            issues.extend(exc.issues)
        if issues:
            raise SpecError(issues)
        logger.info("catalogue: %d indicators from %s", len(catalogue), ", ".join(map(str, paths)))
        return catalogue

    # -- mapping interface ----------------------------------------------------------------------
    def __getitem__(self, key: str) -> Indicator:
        try:
            return self._indicators[key]
        except KeyError:
            close = difflib.get_close_matches(key, list(self._indicators), n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise KeyError(f"no indicator '{key}' in the catalogue{hint}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._indicators)

    def __len__(self) -> int:
        return len(self._indicators)

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} indicators)"

    def location(self, indicator_id: str) -> tuple[str | None, int | None]:
        """File and line where an indicator is defined (``(None, None)`` if built in code)."""
        where = self._where(indicator_id)
        if where.located is not None:
            return where.located.file, where.located.position(())[0]
        return where.file, where.line

    def dependencies(self, indicator_id: str) -> tuple[str, ...]:
        """Indicators that ``indicator_id``'s formula uses directly."""
        return self._dependencies[indicator_id]

    def select(self, ids: Iterable[str]) -> Catalogue:
        """A catalogue of ``ids`` and every indicator they depend on."""
        wanted = self._closure(ids)
        return Catalogue(
            [self._indicators[k] for k in self._order if k in wanted],
            locations={k: v for k, v in self._locations.items() if k in wanted},
        )

    def _closure(self, ids: Iterable[str]) -> set[str]:
        """``ids`` and every indicator they depend on (unknown ids are a SpecError)."""
        wanted: set[str] = set()
        stack = list(ids)
        while stack:
            current = stack.pop()
            if current not in self._indicators:
                close = difflib.get_close_matches(current, list(self._indicators), n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise SpecError(f"no indicator '{current}' in the catalogue{hint}")
            if current not in wanted:
                wanted.add(current)
                stack.extend(self._dependencies[current])
        return wanted

    def variables(self) -> dict[str, set[str]]:
        """Raw variables the indicators read, with the unit(s) they are declared in."""
        needed: dict[str, set[str]] = {}
        for indicator in self._indicators.values():
            for name, spec in indicator.inputs.items():
                needed.setdefault(name, set()).add(spec.unit)
        return needed

    # -- computing ------------------------------------------------------------------------------
    def compute(
        self, data: Panel | pd.DataFrame, *, indicators: Sequence[str] | None = None
    ) -> IndicatorValues:
        """Compute indicators over a panel, each in its declared unit.

        Every input is checked against the panel (present, unit convertible) before
        anything is computed. Values that cannot be computed — a missing input, a
        division by zero, a log of a non-positive value — are NaN and listed in the audit.

        Raises
        ------
        DataError
            A variable some indicator needs is not in the panel.
        UnitError
            A panel variable's unit does not convert to the unit an indicator declares for it.
        """
        # the catalogue is immutable: a subset is an order over the same checked tables,
        # not a new catalogue to build and validate again
        if indicators is None:
            order = self._order
        else:
            wanted = self._closure(indicators)
            order = [k for k in self._order if k in wanted]
        logger.debug("computing %d indicators", len(order))
        panel = data if isinstance(data, Panel) else _panel_from_indexed_frame(data)
        factors = self._input_factors(panel, order)
        layout = panel.layout() if any(self._formulas[k].uses_panel for k in order) else None
        index = panel.frame.index
        # every input column read once, as float64 (a Series per input costs an index copy)
        names = sorted({n for k in order for n in self._indicators[k].inputs})
        block = panel.frame[names].to_numpy(dtype=np.float64).T if names else np.empty((0, 0))
        columns = dict(zip(names, block, strict=True))
        computed: dict[str, np.ndarray] = {}
        audit_parts: list[tuple[str, np.ndarray, np.ndarray]] = []
        for indicator_id in order:
            indicator = self._indicators[indicator_id]
            values: dict[str, np.ndarray | float] = {}
            missing_masks: dict[str, np.ndarray] = {}
            for name in indicator.inputs:
                factor = factors[(indicator_id, name)]
                column = columns[name] * factor if factor != 1.0 else columns[name]
                values[name] = column
                missing_masks[f"missing input '{name}'"] = np.isnan(column)
            for name, constant in indicator.constants.items():
                values[name] = constant.value
            for dependency in self._dependencies[indicator_id]:
                values[dependency] = computed[dependency]
                missing_masks[f"indicator '{dependency}' not available"] = np.isnan(
                    computed[dependency]
                )
            formula = self._formulas[indicator_id]
            evaluation = formula.evaluate(
                values,
                units=self._units[indicator_id],
                panel=layout if formula.uses_panel else None,
            )
            with np.errstate(over="ignore"):
                result = evaluation.values * self._factors[indicator_id]
            problems = {**missing_masks, **evaluation.problems}
            overflow = np.isinf(result)  # the unit's factor (per 100 000 …) can overflow
            if overflow.any():
                result = np.where(overflow, np.nan, result)
                problems[f"overflow (value too large) in {indicator.unit}"] = overflow
            computed[indicator_id] = result
            undefined = np.isnan(result)
            if undefined.any():
                rows, reasons = _undefined_reasons(undefined, problems)
                audit_parts.append((indicator_id, rows, reasons))
        frame = pd.DataFrame(
            np.column_stack([computed[k] for k in order]) if order else None,
            index=index,
            columns=list(order),
        )
        units = {k: self._indicators[k].unit for k in order}
        return IndicatorValues(frame=frame, units=units, audit=_audit_frame(index, audit_parts))

    def computable(self, data: Panel) -> tuple[list[str], dict[str, str]]:
        """Split the catalogue into what a panel can feed and what it cannot, with why.

        An indicator is computable when every variable it reads is a panel column and
        every indicator it uses is computable. Units are not checked here: a variable in
        the wrong unit is an error of :meth:`compute`, not a reason to skip.

        Returns
        -------
        (list of str, dict of str to str)
            The computable ids (in dependency order) and, for each skipped id, the reason
            (``"missing variable(s): homicides, population"``).
        """
        columns = set(data.frame.columns)
        skipped: dict[str, str] = {}
        kept: list[str] = []
        for indicator_id in self._order:
            absent = [n for n in self._indicators[indicator_id].inputs if n not in columns]
            needs = [d for d in self._dependencies[indicator_id] if d in skipped]
            if absent:
                skipped[indicator_id] = f"missing variable(s): {', '.join(absent)}"
            elif needs:
                skipped[indicator_id] = f"uses skipped indicator(s): {', '.join(needs)}"
            else:
                kept.append(indicator_id)
        return kept, skipped

    def _input_factors(
        self, panel: Panel, order: Sequence[str] | None = None
    ) -> dict[tuple[str, str], float]:
        """Conversion factor from each panel variable's unit to each indicator's input unit."""
        missing: dict[str, list[str]] = {}
        problems: list[str] = []
        factors: dict[tuple[str, str], float] = {}
        for indicator_id in self._order if order is None else order:
            indicator = self._indicators[indicator_id]
            for name, spec in indicator.inputs.items():
                if name not in panel.frame.columns:
                    missing.setdefault(name, []).append(indicator_id)
                    continue
                try:
                    factors[(indicator_id, name)] = conversion_factor(
                        parse_unit(panel.units[name]), parse_unit(spec.unit)
                    )
                except UnitError as exc:
                    problems.append(f"variable '{name}' for indicator '{indicator_id}': {exc}")
        if missing:
            listed = "; ".join(f"'{v}' (needed by {', '.join(ids)})" for v, ids in missing.items())
            available = ", ".join(map(str, panel.frame.columns[:30]))
            raise DataError(
                f"variables not in the data: {listed}. Available: {available}. Map a column to "
                "each variable in the data dictionary.",
                source=panel.name,
            )
        if problems:
            raise UnitError("\n".join(problems))
        return factors


def _undefined_reasons(
    undefined: np.ndarray, reasons: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of one indicator's NaN values and each one's first known reason (built from
    the undefined rows only: a few percent of the column, not all of it)."""
    rows = np.flatnonzero(undefined)
    reason = np.full(len(rows), "undefined value", dtype=object)
    explained = np.zeros(len(rows), dtype=bool)
    for text, mask in reasons.items():
        take = np.broadcast_to(mask, undefined.shape)[rows] & ~explained
        reason[take] = text
        explained |= take
    return rows, reason


def _audit_frame(
    index: pd.MultiIndex, parts: Sequence[tuple[str, np.ndarray, np.ndarray]]
) -> pd.DataFrame:
    """One audit table for every indicator's NaN values (built once, not per indicator)."""
    if not parts:
        return pd.DataFrame(columns=[ENTITY, PERIOD, "indicator", "reason"])
    rows = np.concatenate([r for _, r, _ in parts])
    return pd.DataFrame(
        {
            ENTITY: index.get_level_values(ENTITY)[rows],
            PERIOD: index.get_level_values(PERIOD)[rows],
            "indicator": np.repeat([i for i, _, _ in parts], [len(r) for _, r, _ in parts]),
            "reason": np.concatenate([reason for _, _, reason in parts]),
        }
    )


def _panel_from_indexed_frame(data: pd.DataFrame) -> Panel:
    raise DataError(
        "compute() needs a Panel (it carries the unit of every variable): build one with "
        "Panel.from_frame(df, entity=..., period=..., units={...}) or Panel.read(path)"
    )
