"""Indicator formulas: a small, safe expression language with units.

A formula such as ``homicides / population`` or ``where(population > 0, thefts / population,
0)`` goes through three separate stages, each handing the next a value you can inspect:

1. :func:`parse_formula` reads the text with ``ast.parse(text, mode="eval")`` and turns the
   Python syntax tree into securindex's own frozen node tree (:class:`Node` and
   subclasses), keeping only a whitelist of constructs. Nothing is ever passed to
   ``eval``/``exec``/``compile``. Every node keeps its character span, so a
   :class:`~securindex.errors.FormulaError` shows carets under the fault.
2. :meth:`Formula.infer_unit` walks the tree with the units of the names (pint, through
   :mod:`securindex.units`) and returns the formula's unit, or a unit error with carets.
   It also works out the factor every operand must be multiplied by (``area_m2 +
   area_km2`` needs 1e6 on the right).
3. :meth:`Formula.evaluate` computes the formula on whole float64 columns with numpy — no
   Python loop over rows — and reports, for each reason (a division by zero, a log of a
   non-positive value, a missing earlier period for ``lag``), the rows it made NaN.

The language and the unit rules are documented in ``docs/formulas-and-units.md``.

References
----------
.. [1] OECD/JRC (2008), Handbook on Constructing Composite Indicators: Methodology and User
   Guide, OECD Publishing, Paris, step 2 (selecting and defining indicators),
   https://doi.org/10.1787/9789264043466-en
.. [2] N. J. Smith et al., patsy: describing statistical models with formulas (node origins
   and caret error messages), https://patsy.readthedocs.io
"""

from __future__ import annotations

import ast
import difflib
import functools
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import reduce
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from securindex.errors import DataError, FormulaError, FormulaUnitError, FormulaWarning, UnitError
from securindex.units import (
    MAX_UNIT_EXPONENT,
    ScaledUnit,
    as_scaled_unit,
    conversion_factor,
    dimensionless,
    parse_unit,
)

if TYPE_CHECKING:
    import scipy.sparse

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "BinOp",
    "BoolOp",
    "Call",
    "Compare",
    "Evaluation",
    "Formula",
    "FormulaUnitError",
    "Name",
    "Node",
    "Not",
    "Number",
    "PanelLayout",
    "SpatialLayout",
    "UnaryOp",
    "parse_formula",
    "round_half_away",
]

MAX_LENGTH = 2000
"""Longest formula accepted [characters]."""
MAX_DEPTH = 200
"""Deepest nesting of the syntax tree accepted [levels]."""
_MAX_PERIODS_BACK = 10_000


@dataclass(frozen=True)
class _FunctionSpec:
    signature: str
    summary: str
    min_args: int
    max_args: int | None


_FUNCTION_SPECS: Mapping[str, _FunctionSpec] = MappingProxyType(
    {
        "log": _FunctionSpec("log(x)", "natural logarithm; x dimensionless", 1, 1),
        "log10": _FunctionSpec("log10(x)", "base-10 logarithm; x dimensionless", 1, 1),
        "exp": _FunctionSpec("exp(x)", "exponential; x dimensionless", 1, 1),
        "sqrt": _FunctionSpec("sqrt(x)", "square root; halves the unit's exponents", 1, 1),
        "abs": _FunctionSpec("abs(x)", "absolute value; keeps the unit", 1, 1),
        "min": _FunctionSpec("min(a, b, ...)", "elementwise minimum; compatible units", 2, None),
        "max": _FunctionSpec("max(a, b, ...)", "elementwise maximum; compatible units", 2, None),
        "clip": _FunctionSpec("clip(x, lo, hi)", "min(max(x, lo), hi); compatible units", 3, 3),
        "round": _FunctionSpec(
            "round(x, k)",
            "x rounded to k decimals (k a whole number written in the formula, -15 to 15), "
            "halves away from zero as published tables round; keeps the unit",
            2,
            2,
        ),
        "where": _FunctionSpec(
            "where(condition, a, b)", "a where the condition holds, else b", 3, 3
        ),
        "lag": _FunctionSpec(
            "lag(x, k)", "value of x k periods earlier for the same entity (panel)", 2, 2
        ),
        "mean_over": _FunctionSpec(
            "mean_over(x, k)",
            "mean of x over the last k periods, current included; NaN unless all k present",
            2,
            2,
        ),
        "spatial_lag": _FunctionSpec(
            "spatial_lag(x)",
            "weighted mean of x over the area's neighbours, same period (needs area polygons)",
            1,
            1,
        ),
        "within": _FunctionSpec(
            "within(x, distance)",
            "sum of x over the areas whose centroid is within distance of this area's, itself "
            "included, same period (needs area polygons with a CRS)",
            2,
            2,
        ),
    }
)

FUNCTIONS: Mapping[str, str] = MappingProxyType(
    {name: f"{spec.signature}: {spec.summary}" for name, spec in _FUNCTION_SPECS.items()}
)
"""The whitelisted functions, name → signature and one-line description."""

_PANEL_FUNCTIONS = frozenset({"lag", "mean_over"})
_SPATIAL_FUNCTIONS = frozenset({"spatial_lag", "within"})
_DIMENSIONLESS_FUNCTIONS = frozenset({"log", "log10", "exp"})
_COMPARISONS: Mapping[type[ast.cmpop], str] = MappingProxyType(
    {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
)
_ARITHMETIC: Mapping[type[ast.operator], str] = MappingProxyType(
    {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
)
_REJECTED_OPERATORS: Mapping[type[ast.operator], tuple[str, str]] = MappingProxyType(
    {
        ast.BitXor: ("^", "'^' is not a power here: use ** for powers (x ** 2)"),
        ast.FloorDiv: ("//", "floor division '//' is not supported: use / (and round later)"),
        ast.Mod: ("%", "the modulo operator '%' is not supported"),
        ast.MatMult: ("@", "the matrix product '@' is not supported"),
        ast.BitAnd: ("&", "'&' is not supported: use 'and' between two comparisons"),
        ast.BitOr: ("|", "'|' is not supported: use 'or' between two comparisons"),
        ast.LShift: ("<<", "the shift operator '<<' is not supported"),
        ast.RShift: (">>", "the shift operator '>>' is not supported"),
    }
)
_REJECTED_NODES: Mapping[type[ast.AST], str] = MappingProxyType(
    {
        ast.Lambda: "lambda expressions are not allowed in formulas",
        ast.ListComp: "comprehensions are not allowed in formulas",
        ast.SetComp: "comprehensions are not allowed in formulas",
        ast.DictComp: "comprehensions are not allowed in formulas",
        ast.GeneratorExp: "comprehensions are not allowed in formulas",
        ast.Tuple: "tuples are not allowed: a formula gives one value per row "
        "(for several arguments use a function such as max(a, b))",
        ast.List: "lists are not allowed in formulas",
        ast.Dict: "dictionaries are not allowed in formulas",
        ast.Set: "sets are not allowed in formulas",
        ast.IfExp: "'a if c else b' is not allowed: use where(c, a, b)",
        ast.NamedExpr: "assignments (:=) are not allowed in formulas",
        ast.Starred: "starred arguments (*x) are not allowed in formulas",
        ast.JoinedStr: "f-strings are not allowed in formulas",
        ast.FormattedValue: "f-strings are not allowed in formulas",
        ast.Await: "'await' is not allowed in formulas",
        ast.Yield: "'yield' is not allowed in formulas",
        ast.YieldFrom: "'yield' is not allowed in formulas",
        ast.Slice: "slices are not allowed in formulas",
    }
)


# =============================================================================================
# The node tree
# =============================================================================================
@dataclass(frozen=True)
class Node:
    """A node of a parsed formula; ``start``/``end`` are character offsets into its text."""

    start: int
    end: int

    def children(self) -> tuple[Node, ...]:
        """The operand nodes, in source order."""
        return ()

    @property
    def is_boolean(self) -> bool:
        """True for comparisons and and/or/not (usable only as a where() condition)."""
        return False

    def walk(self) -> Iterator[Node]:
        """This node and all nodes below it (pre-order, source order)."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))


@dataclass(frozen=True)
class Number(Node):
    """A numeric literal [unitless]: adopts its partner's unit in + - comparisons etc."""

    value: float


@dataclass(frozen=True)
class Name(Node):
    """A variable, constant or indicator name."""

    name: str


@dataclass(frozen=True)
class UnaryOp(Node):
    """``-x`` or ``+x``."""

    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class BinOp(Node):
    """``left op right`` with op one of ``+ - * / **``."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Compare(Node):
    """``a < b`` or a chain ``a < b <= c`` (true when every pair holds)."""

    ops: tuple[str, ...]
    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands

    @property
    def is_boolean(self) -> bool:
        return True


@dataclass(frozen=True)
class BoolOp(Node):
    """``a and b`` / ``a or b`` over conditions."""

    op: str
    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands

    @property
    def is_boolean(self) -> bool:
        return True


@dataclass(frozen=True)
class Not(Node):
    """``not a`` over a condition."""

    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)

    @property
    def is_boolean(self) -> bool:
        return True


@dataclass(frozen=True)
class Call(Node):
    """A call of one of the whitelisted :data:`FUNCTIONS`."""

    function: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


# =============================================================================================
# Panels and results
# =============================================================================================
@dataclass(frozen=True, eq=False)
class PanelLayout:
    """How the rows of the value columns map to (entity, period), for lag and mean_over.

    Parameters
    ----------
    entity_codes
        Integer code of each row's entity, ``0 … n_entities - 1``; shape ``(n_rows,)``.
    period_codes
        Position of each row's period among the sorted periods of the panel,
        ``0 … n_periods - 1``; shape ``(n_rows,)``. A period absent for an entity is a gap:
        ``lag`` and ``mean_over`` never skip over it.
    n_entities, n_periods
        Sizes of the dense (entity × period) grid.
    space
        The entities' areas (:class:`SpatialLayout`), for ``spatial_lag`` and ``within``;
        None when the panel has no polygons.
    """

    entity_codes: np.ndarray
    period_codes: np.ndarray
    n_entities: int
    n_periods: int
    space: SpatialLayout | None = None

    @property
    def n_rows(self) -> int:
        return int(np.shape(self.entity_codes)[0])


class SpatialLayout(Protocol):
    """What ``spatial_lag`` and ``within`` need to know about the entities' areas.

    :class:`securindex.geo.formula.AreaLayout` implements it from a panel's polygons; rows
    and columns follow the entity codes of the :class:`PanelLayout` it belongs to.
    """

    def neighbour_weights(self) -> scipy.sparse.csr_matrix:
        """Row-standardised spatial weights, shape ``(n_entities, n_entities)``; the row of
        an area without neighbours (an island) is zero."""
        ...

    def within_distance(self, metres: float) -> scipy.sparse.csr_matrix:
        """1 where area j's centroid is within ``metres`` [m] of area i's (i included)."""
        ...


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The values of a formula, and why some of them are NaN.

    Attributes
    ----------
    values
        float64, one per row, magnitudes in ``unit`` (NaN where undefined; never ±inf).
    problems
        reason → boolean mask (one per row) of the rows that reason made NaN, e.g.
        ``"division by zero in 'homicides / population'"``. A row may have several reasons;
        only rows that are NaN in ``values`` are marked.
    unit
        The unit of ``values`` (:meth:`Formula.infer_unit`); ``dimensionless`` when
        :meth:`Formula.evaluate` was called without ``units``.
    """

    values: np.ndarray
    problems: dict[str, np.ndarray]
    unit: ScaledUnit = field(default_factory=dimensionless)


# =============================================================================================
# The formula
# =============================================================================================
@dataclass(frozen=True)
class Formula:
    """A parsed, checked formula (build it with :func:`parse_formula`).

    Attributes
    ----------
    text
        The formula as written.
    root
        The top node of the tree.
    names
        Variable, constant and indicator names referenced (not function names).
    """

    text: str
    root: Node
    names: frozenset[str]

    def __str__(self) -> str:
        return self.text

    @property
    def functions(self) -> frozenset[str]:
        """The functions the formula calls."""
        return frozenset(n.function for n in self.root.walk() if isinstance(n, Call))

    @property
    def uses_panel(self) -> bool:
        """True when the formula needs a :class:`PanelLayout` (lag, mean_over, or a
        spatial function)."""
        return bool(self.functions & (_PANEL_FUNCTIONS | _SPATIAL_FUNCTIONS))

    @property
    def uses_space(self) -> bool:
        """True when the formula needs the areas' polygons (spatial_lag, within)."""
        return bool(self.functions & _SPATIAL_FUNCTIONS)

    def name_span(self, name: str) -> tuple[int, int]:
        """Character span ``(start, end)`` of the first use of ``name`` in the text."""
        spans = [
            (n.start, n.end) for n in self.root.walk() if isinstance(n, Name) and n.name == name
        ]
        if not spans:
            raise KeyError(f"'{name}' does not occur in the formula '{self.text}'")
        return min(spans)

    def source(self, node: Node) -> str:
        """The text of a node (a sub-expression), on one line."""
        return _one_line(self.text)[node.start : node.end]

    def infer_unit(self, units: Mapping[str, ScaledUnit | str]) -> ScaledUnit:
        """The unit of the formula's values, given the unit of every name.

        Parameters
        ----------
        units
            name → unit (:class:`~securindex.units.ScaledUnit` or unit text) for every name
            in :attr:`names`. Scale factors are carried: ``x / y`` with ``x`` in ``count`` and
            ``y`` in ``1000 inhabitant`` is in ``count / (1000 inhabitant)``.

        Returns
        -------
        ScaledUnit

        Raises
        ------
        FormulaUnitError
            (a :class:`~securindex.errors.UnitError`) when units do not combine, e.g.
            ``cannot add inhabitant and km**2``; the message shows carets under the
            offending sub-expression and both units.

        Warns
        -----
        FormulaWarning
            For a probable mistake (``1 - x / 100`` with ``x`` in percent): a bare number
            that takes a unit other than as written, a percent value divided by 100 again.
        """
        plan = _UnitPass(self, units).run()
        for note in plan.notes:
            warnings.warn(note, FormulaWarning, stacklevel=2)
        return plan.unit

    def evaluate(
        self,
        values: Mapping[str, np.ndarray | float],
        *,
        units: Mapping[str, ScaledUnit | str] | None = None,
        panel: PanelLayout | None = None,
    ) -> Evaluation:
        """Compute the formula on whole float64 columns.

        Parameters
        ----------
        values
            name → 1-D array (one value per row, all the same length) or scalar (constants),
            magnitudes in the name's unit.
        units
            name → unit. With units, operands are converted where the unit rules say so
            (``area_m2 + area_km2`` multiplies the right side by 1e6) and the result is in
            :meth:`infer_unit`'s unit. Without, every name is taken as a pure number and no
            conversion happens.
        panel
            Row layout, needed only when the formula uses ``lag`` or ``mean_over``.

        Returns
        -------
        Evaluation
            Values (NaN where undefined, never inf) and the reasons for the NaNs.

        Raises
        ------
        DataError
            A name without values, columns of different lengths, non-numeric values, or a
            panel layout that does not fit the rows.
        FormulaError
            ``lag``/``mean_over`` used without ``panel``.
        FormulaUnitError
            Units that do not combine (as :meth:`infer_unit`).
        """
        plan = _pure_plan(self) if units is None else _UnitPass(self, units).run()
        if panel is None and self.uses_panel:
            call = next(
                n
                for n in self.root.walk()
                if isinstance(n, Call) and n.function in _PANEL_FUNCTIONS | _SPATIAL_FUNCTIONS
            )
            raise FormulaError(
                f"{call.function}() needs to know which rows are which entity and period: "
                "pass panel=PanelLayout(...) (Panel.layout() gives it)",
                _one_line(self.text),
                call.start,
                call.end,
            )
        if self.uses_space and (panel is None or panel.space is None):
            call = next(
                n
                for n in self.root.walk()
                if isinstance(n, Call) and n.function in _SPATIAL_FUNCTIONS
            )
            raise FormulaError(
                f"{call.function}() needs the areas' polygons, but the data have none: name "
                "them in the data dictionary (areas: {file, key}) or pass areas= to "
                "Panel.from_frame",
                _one_line(self.text),
                call.start,
                call.end,
            )
        columns, n_rows, missing = _prepare_columns(self, values, panel)
        evaluator = _Evaluator(self, plan.factors, columns, missing, n_rows, panel)
        result, found = evaluator.visit(self.root)
        result = np.array(np.broadcast_to(result, (n_rows,)), dtype=np.float64)
        final_nan = np.isnan(result)
        cleaned = {
            reason: np.array(np.broadcast_to(mask, (n_rows,)) & final_nan, dtype=bool)
            for reason, mask in found.items()
        }
        return Evaluation(
            values=result,
            problems={k: v for k, v in cleaned.items() if v.any()},
            unit=plan.unit,
        )


@functools.lru_cache(maxsize=512)
def _pure_plan(formula: Formula) -> _Plan:
    """The unit pass of a formula whose names are pure numbers (node formulas, formulas
    evaluated without units): computed once per formula, not on every block of rows."""
    return _UnitPass(formula, dict.fromkeys(formula.names, dimensionless())).run()


def parse_formula(text: str, *, allowed_names: Collection[str] | None = None) -> Formula:
    """Parse and check a formula.

    Parameters
    ----------
    text
        The formula, e.g. ``homicides / population`` (at most :data:`MAX_LENGTH` characters;
        line breaks are allowed and read as spaces).
    allowed_names
        When given, every name must be one of these; the first other name is an error
        naming the declared ones and the closest match.

    Returns
    -------
    Formula

    Raises
    ------
    FormulaError
        Syntax errors and anything outside the language (attribute access, subscripts,
        calls of functions not in :data:`FUNCTIONS`, keyword arguments, strings, lambdas,
        comprehensions, ``^`` …), with ``start``/``end`` pointing at the fault.

    Examples
    --------
    >>> f = parse_formula("where(population > 0, homicides / population, 0)")
    >>> sorted(f.names)
    ['homicides', 'population']
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}", repr(text))
    root = _Parser(text).parse()
    names = frozenset(n.name for n in root.walk() if isinstance(n, Name))
    formula = Formula(text=text, root=root, names=names)
    if allowed_names is not None:
        allowed = set(allowed_names)
        used = sorted(
            (n for n in root.walk() if isinstance(n, Name) and n.name not in allowed),
            key=lambda n: n.start,
        )
        if used:
            bad = used[0]
            declared = ", ".join(sorted(allowed)) or "(none)"
            close = difflib.get_close_matches(bad.name, sorted(allowed), n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            raise FormulaError(
                f"unknown name '{bad.name}'; declared: {declared}{hint}",
                _one_line(text),
                bad.start,
                bad.end,
            )
    return formula


# =============================================================================================
# Stage 1: ast → nodes
# =============================================================================================
def _one_line(text: str) -> str:
    """The formula with line breaks and tabs as spaces (same offsets), for carets."""
    return text.replace("\r", " ").replace("\n", " ").replace("\t", " ")


class _Parser:
    """Turns formula text into a checked :class:`Node` tree."""

    def __init__(self, text: str) -> None:
        self.text = _one_line(text)
        body = self.text.lstrip()
        self.shift = len(self.text) - len(body)
        self.body = body
        offsets: list[int] = []
        for index, char in enumerate(body):
            offsets.extend([index] * len(char.encode("utf-8", "surrogatepass")))
        offsets.append(len(body))
        self.byte_to_char = offsets

    def error(self, message: str, start: int, end: int | None = None) -> FormulaError:
        return FormulaError(message, self.text, start, start + 1 if end is None else end)

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.byte_to_char[min(node.col_offset, len(self.byte_to_char) - 1)]  # type: ignore[attr-defined]
        end_byte = node.end_col_offset  # type: ignore[attr-defined]
        end = self.byte_to_char[min(end_byte, len(self.byte_to_char) - 1)] if end_byte else start
        return start + self.shift, end + self.shift

    def parse(self) -> Node:
        if len(self.text) > MAX_LENGTH:
            raise self.error(
                f"formula too long ({len(self.text)} characters, at most {MAX_LENGTH}); split it "
                "into several indicators",
                MAX_LENGTH,
                len(self.text),
            )
        if not self.body.strip():
            raise self.error(
                "empty formula: write an expression such as 'homicides / population'", 0
            )
        hash_at = self.text.find("#")
        if hash_at >= 0:
            raise self.error(
                "comments (#) are not allowed in formulas; put notes in the description", hash_at
            )
        try:
            with warnings.catch_warnings():  # Python's own hints ("invalid decimal literal")
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(self.body, mode="eval")
        except SyntaxError as exc:
            raise self._syntax_error(exc) from None
        except (RecursionError, MemoryError):
            raise self.error(
                f"formula nests too deeply (at most {MAX_DEPTH} levels)", 0, len(self.text)
            ) from None
        except ValueError as exc:  # e.g. NUL characters
            raise self.error(f"cannot read the formula: {exc}", 0, len(self.text)) from None
        root = self.convert(tree.body, 1)
        if root.is_boolean:
            raise self.error(
                "this formula gives true/false; a comparison can only be the condition of "
                "where(condition, a, b)",
                root.start,
                root.end,
            )
        return root

    def _syntax_error(self, exc: SyntaxError) -> FormulaError:
        message = exc.msg or "invalid syntax"
        if "decimal literal" in message:
            message += " (write 2 * x, not 2x)"
        elif "forgot a comma" in message:
            message = "two values without an operator between them (missing * or +?)"
        if exc.offset is None or exc.offset <= 0 or (exc.lineno or 1) > 1:
            start = len(self.text)
            end = start + 1
        else:
            start = min(self.shift + exc.offset - 1, len(self.text))
            end_offset = exc.end_offset
            end = (
                self.shift + end_offset - 1
                if end_offset and end_offset > exc.offset and (exc.end_lineno or 1) == 1
                else start + 1
            )
        return FormulaError(f"syntax error: {message}", self.text, start, end)

    # -- conversion ----------------------------------------------------------------------
    def convert(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            start, end = self.span(node)
            raise self.error(
                f"formula nests deeper than {MAX_DEPTH} levels; split it into several indicators",
                start,
                end,
            )
        start, end = self.span(node)
        if isinstance(node, ast.Constant):
            return self.constant(node, start, end)
        if isinstance(node, ast.Name):
            return self.name(node, start, end)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, start, end, depth)
        if isinstance(node, ast.BinOp):
            return self.binop(node, start, end, depth)
        if isinstance(node, ast.Compare):
            return self.compare(node, start, end, depth)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            operands = tuple(self.condition(v, depth + 1, op) for v in node.values)
            return BoolOp(start=start, end=end, op=op, operands=operands)
        if isinstance(node, ast.Call):
            return self.call(node, start, end, depth)
        if isinstance(node, ast.Attribute):
            attr_start = max(start, end - len(node.attr))
            raise self.error(
                f"attribute access ('.{node.attr}') is not allowed in formulas; names are plain "
                "identifiers such as 'population'",
                attr_start,
                end,
            )
        if isinstance(node, ast.Subscript):
            value_end = self.span(node.value)[1]
            raise self.error(
                "subscripts ([...]) are not allowed in formulas; use lag(x, k) for earlier periods",
                value_end,
                end,
            )
        for kind, message in _REJECTED_NODES.items():
            if isinstance(node, kind):
                raise self.error(message, start, end)
        raise self.error(f"'{type(node).__name__}' is not allowed in formulas", start, end)

    def number(self, node: ast.AST, depth: int, role: str) -> Node:
        """Convert an operand that must be numeric (not a condition)."""
        converted = self.convert(node, depth)
        if converted.is_boolean:
            raise self.error(
                f"a comparison gives true/false and cannot be {role}; use it as the condition "
                "of where(condition, a, b)",
                converted.start,
                converted.end,
            )
        return converted

    def condition(self, node: ast.AST, depth: int, role: str) -> Node:
        """Convert an operand that must be a condition (comparison, and/or/not)."""
        converted = self.convert(node, depth)
        if not converted.is_boolean:
            raise self.error(
                f"the operand of '{role}' must be a condition such as 'x > 0', not a number",
                converted.start,
                converted.end,
            )
        return converted

    def constant(self, node: ast.Constant, start: int, end: int) -> Node:
        value = node.value
        if isinstance(value, bool) or value is None:
            raise self.error(
                f"'{value}' is not allowed; write a comparison such as 'x > 0' inside where()",
                start,
                end,
            )
        if isinstance(value, (str, bytes)):
            raise self.error(
                "text in quotes is not allowed in formulas; names are written without quotes",
                start,
                end,
            )
        if isinstance(value, complex):
            raise self.error("complex numbers are not allowed in formulas", start, end)
        if isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:
                number = float("inf")
            if not np.isfinite(number):
                raise self.error("number too large", start, end)
            return Number(start=start, end=end, value=number)
        raise self.error(f"'{value!r}' is not allowed in formulas", start, end)

    def name(self, node: ast.Name, start: int, end: int) -> Node:
        if node.id.startswith("_"):
            raise self.error(f"names cannot start with an underscore ('{node.id}')", start, end)
        if node.id in _FUNCTION_SPECS:
            raise self.error(
                f"'{node.id}' is a function: call it as {_FUNCTION_SPECS[node.id].signature}",
                start,
                end,
            )
        return Name(start=start, end=end, name=node.id)

    def unary(self, node: ast.UnaryOp, start: int, end: int, depth: int) -> Node:
        if isinstance(node.op, ast.Not):
            return Not(start=start, end=end, operand=self.condition(node.operand, depth + 1, "not"))
        if isinstance(node.op, ast.Invert):
            raise self.error("'~' is not supported: use 'not' before a condition", start, start + 1)
        op = "-" if isinstance(node.op, ast.USub) else "+"
        operand = self.number(node.operand, depth + 1, f"negated with '{op}'")
        return UnaryOp(start=start, end=end, op=op, operand=operand)

    def binop(self, node: ast.BinOp, start: int, end: int, depth: int) -> Node:
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            symbol, message = _REJECTED_OPERATORS.get(
                type(node.op), ("", f"operator {type(node.op).__name__} is not supported")
            )
            left_end = self.span(node.left)[1]
            right_start = self.span(node.right)[0]
            at = self.text.find(symbol, left_end, right_start) if symbol else -1
            if at < 0:
                raise self.error(message, start, end)
            raise self.error(message, at, at + len(symbol))
        left = self.number(node.left, depth + 1, f"an operand of '{op}'")
        right = self.number(node.right, depth + 1, f"an operand of '{op}'")
        return BinOp(start=start, end=end, op=op, left=left, right=right)

    def compare(self, node: ast.Compare, start: int, end: int, depth: int) -> Node:
        ops = []
        for op in node.ops:
            symbol = _COMPARISONS.get(type(op))
            if symbol is None:
                word = {ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
                raise self.error(
                    f"'{word.get(type(op), type(op).__name__)}' is not allowed; compare numbers "
                    "with < <= > >= == !=",
                    start,
                    end,
                )
            ops.append(symbol)
        operands = tuple(
            self.number(v, depth + 1, "compared") for v in (node.left, *node.comparators)
        )
        return Compare(start=start, end=end, ops=tuple(ops), operands=operands)

    def call(self, node: ast.Call, start: int, end: int, depth: int) -> Node:
        allowed = ", ".join(sorted(_FUNCTION_SPECS))
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                self.convert(node.func, depth + 1)  # raises the attribute error
            func_start, func_end = self.span(node.func)
            raise self.error(
                f"only named functions can be called ({allowed})", func_start, func_end
            )
        name = node.func.id
        func_start, func_end = self.span(node.func)
        spec = _FUNCTION_SPECS.get(name)
        if spec is None:
            raise self.error(
                f"'{name}' is not an allowed function; allowed: {allowed}", func_start, func_end
            )
        if node.keywords:
            keyword = node.keywords[0]
            k_start, k_end = self.span(keyword)
            raise self.error(
                f"keyword arguments are not allowed: write {spec.signature} with positional "
                "arguments",
                k_start,
                k_end,
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                a_start, a_end = self.span(arg)
                raise self.error(_REJECTED_NODES[ast.Starred], a_start, a_end)
        n_args = len(node.args)
        if n_args < spec.min_args or (spec.max_args is not None and n_args > spec.max_args):
            if spec.max_args is None:
                expected = f"at least {spec.min_args}"
            elif spec.min_args == spec.max_args:
                expected = str(spec.min_args)
            else:
                expected = f"{spec.min_args} to {spec.max_args}"
            raise self.error(
                f"{name}() takes {expected} argument{'s' if expected != '1' else ''}, got "
                f"{n_args}: {spec.signature}",
                start,
                end,
            )
        if name == "where":
            condition = self.condition(node.args[0], depth + 1, "where")
            rest = tuple(self.number(a, depth + 1, "a value of where()") for a in node.args[1:])
            return Call(start=start, end=end, function=name, args=(condition, *rest))
        if name in _PANEL_FUNCTIONS:
            x = self.number(node.args[0], depth + 1, f"an argument of {name}()")
            periods = self.periods(node.args[1], name)
            return Call(start=start, end=end, function=name, args=(x, periods))
        if name == "round":
            x = self.number(node.args[0], depth + 1, "an argument of round()")
            return Call(start=start, end=end, function=name, args=(x, self.digits(node.args[1])))
        if name == "within" and isinstance(node.args[1], ast.Constant):
            d_start, d_end = self.span(node.args[1])
            raise self.error(
                "the distance of within(x, distance) needs a unit: declare a constant such "
                "as 'radius: {value: 2, unit: km}' and write within(x, radius)",
                d_start,
                d_end,
            )
        args = tuple(self.number(a, depth + 1, f"an argument of {name}()") for a in node.args)
        return Call(start=start, end=end, function=name, args=args)

    def digits(self, node: ast.AST) -> Number:
        """The number of decimals of round(x, k): a whole number written in the formula."""
        start, end = self.span(node)
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = node.operand.value if isinstance(node.operand, ast.Constant) else None
            value = -inner if isinstance(inner, int) and not isinstance(inner, bool) else None
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 15:
            raise self.error(
                "the number of decimals of round(x, k) must be a whole number from -15 to 15 "
                "written in the formula, e.g. round(x, 3)",
                start,
                end,
            )
        return Number(start=start, end=end, value=float(value))

    def periods(self, node: ast.AST, function: str) -> Number:
        start, end = self.span(node)
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(
                f"the number of periods of {function}(x, k) must be a positive whole number "
                "written in the formula, e.g. 1",
                start,
                end,
            )
        if value > _MAX_PERIODS_BACK:
            raise self.error(f"at most {_MAX_PERIODS_BACK} periods", start, end)
        return Number(start=start, end=end, value=float(value))


# =============================================================================================
# Stage 2: units
# =============================================================================================
@dataclass(frozen=True)
class _Typed:
    unit: ScaledUnit
    literal: bool  # made only of numbers: adopts its partner's unit in + - comparisons …


@dataclass
class _Plan:
    unit: ScaledUnit
    factors: dict[int, tuple[float, ...]]  # id(node) → factor per child (missing: all 1)
    notes: tuple[str, ...] = ()  # probable mistakes, warned about by infer_unit


_VERB = MappingProxyType({"+": "add", "-": "subtract"})


class _UnitPass:
    """Infers the unit of every node and the conversion factor of every operand."""

    def __init__(self, formula: Formula, units: Mapping[str, ScaledUnit | str]) -> None:
        self.formula = formula
        self.text = _one_line(formula.text)
        self.units = units
        self.factors: dict[int, tuple[float, ...]] = {}
        self.parsed: dict[str, ScaledUnit] = {}
        self.notes: list[str] = []

    def run(self) -> _Plan:
        typed = self.visit(self.formula.root)
        return _Plan(unit=typed.unit, factors=self.factors, notes=tuple(self.notes))

    def note(self, message: str, node: Node) -> None:
        """A probable mistake, kept for :meth:`Formula.infer_unit` to warn about."""
        carets = " " * node.start + "^" * max(1, node.end - node.start)
        self.notes.append(f"{message}\n    {self.text}\n    {carets}")

    def check_bare_numbers(
        self, parent: Node, operands: tuple[Node, ...], typed: list[_Typed], target: _Typed
    ) -> None:
        """In ``+`` and ``-``, a bare number takes its partner's unit (documented); warn
        when that makes it mean something other than the number as written: ``1`` next
        to a value in percent is 1 %, not one whole (100 % written as ``100`` is fine)."""
        try:
            factor = conversion_factor(target.unit, dimensionless())
        except UnitError:
            factor = None
        for operand, t in zip(operands, typed, strict=True):
            if not t.literal:
                continue
            value = _constant_value(operand)
            if value == 0 or not np.isfinite(value):
                continue
            if factor is not None and (factor == 1.0 or np.isclose(value * factor, 1.0)):
                continue  # a pure number, or exactly one whole (100 percent)
            shown = self.text[operand.start : operand.end]
            partner = next(o for o, p in zip(operands, typed, strict=True) if not p.literal)
            where = self.text[partner.start : partner.end]
            if factor is not None:
                whole = f"{1 / factor:g}"
                advice = (
                    f"; if you meant the pure number {shown} ({float(value) / factor:g} "
                    f"{target.unit.label}), write {float(value) * 1 / factor:g} here, or "
                    f"declare a constant with unit dimensionless (one whole is {whole} "
                    f"{target.unit.label})"
                )
            else:
                advice = "; declare a constant with its unit to say so explicitly"
            self.note(
                f"the bare number {shown} is taken in {target.unit.label}, the unit of "
                f"'{where}', so it means {shown} {target.unit.label}{advice}",
                parent,
            )

    def check_rescaled_share(self, node: BinOp, left: _Typed, right: _Typed) -> None:
        """``x / 100`` (or ``x * 0.01``) with ``x`` already in percent is a hundredth of the
        share (30 % / 100 = 0.3 %): warn, the usual mistake behind ``1 - x / 100``."""
        if left.literal or not right.literal or not left.unit.dimensionless:
            return
        try:
            factor = conversion_factor(left.unit, dimensionless())
        except UnitError:
            return
        if factor == 1.0:
            return
        value = _constant_value(node.right)
        if (node.op == "/" and np.isclose(value * factor, 1.0)) or (
            node.op == "*" and np.isclose(value, factor)
        ):
            name = self.text[node.left.start : node.left.end]
            self.note(
                f"'{name}' is already in {left.unit.label}, so "
                f"'{self.text[node.start : node.end]}' is a hundredth of it (30 "
                f"{left.unit.label} becomes 0.3 {left.unit.label}); units convert by "
                f"themselves: use '{name}' alone ({1 / factor:g} - {name} is one whole "
                f"minus the share, in {left.unit.label})",
                node,
            )

    def error(self, message: str, node: Node) -> FormulaUnitError:
        return FormulaUnitError(message, self.text, node.start, node.end)

    def describe(self, node: Node, typed: _Typed) -> str:
        source = self.text[node.start : node.end]
        return f"'{source}' is in {typed.unit.label} ({typed.unit.dimensionality})"

    def unit_of(self, node: Name) -> ScaledUnit:
        if node.name not in self.parsed:
            if node.name not in self.units:
                raise self.error(
                    f"no unit given for '{node.name}'; declare it (e.g. under inputs or constants)",
                    node,
                )
            try:
                self.parsed[node.name] = as_scaled_unit(self.units[node.name])
            except UnitError as exc:
                raise self.error(f"unit of '{node.name}': {exc}", node) from None
        return self.parsed[node.name]

    def visit(self, node: Node) -> _Typed:
        try:
            return self._visit(node)
        except FormulaUnitError:
            raise
        except UnitError as exc:  # e.g. a scale overflowing in (1000 m) ** 200
            raise self.error(str(exc), node) from None

    def _visit(self, node: Node) -> _Typed:
        if isinstance(node, Number):
            return _Typed(dimensionless(), literal=True)
        if isinstance(node, Name):
            return _Typed(self.unit_of(node), literal=False)
        if isinstance(node, UnaryOp):
            return self.visit(node.operand)
        if isinstance(node, BinOp):
            return self.binop(node)
        if isinstance(node, Compare):
            self.common(node, node.operands, "compare")
            return _Typed(dimensionless(), literal=False)
        if isinstance(node, (BoolOp, Not)):
            for child in node.children():
                self.visit(child)
            return _Typed(dimensionless(), literal=False)
        if isinstance(node, Call):
            return self.call(node)
        raise self.error(f"unknown node {type(node).__name__}", node)  # pragma: no cover

    def common(self, parent: Node, operands: tuple[Node, ...], verb: str) -> _Typed:
        """Bring operands to the unit of the first one that is not a bare number."""
        typed = [self.visit(o) for o in operands]
        reference = next((i for i, t in enumerate(typed) if not t.literal), None)
        if reference is None:
            return _Typed(dimensionless(), literal=True)
        target = typed[reference]
        factors = []
        for operand, t in zip(operands, typed, strict=True):
            if t.literal:
                factors.append(1.0)
                continue
            if not t.unit.is_compatible_with(target.unit):
                first = operands[reference]
                raise self.error(
                    f"cannot {verb} {target.unit.label} and {t.unit.label}: "
                    f"{self.describe(first, target)} but {self.describe(operand, t)}; "
                    "the units must have the same dimension",
                    parent,
                )
            factors.append(conversion_factor(t.unit, target.unit))
        self.factors[id(parent)] = tuple(factors)
        if verb in ("add", "subtract"):
            self.check_bare_numbers(parent, operands, typed, target)
        return _Typed(target.unit, literal=False)

    def binop(self, node: BinOp) -> _Typed:
        if node.op in _VERB:
            return self.common(node, (node.left, node.right), _VERB[node.op])
        left, right = self.visit(node.left), self.visit(node.right)
        literal = left.literal and right.literal
        if node.op in ("*", "/"):
            self.check_rescaled_share(node, left, right)
        if node.op == "*":
            return _Typed(left.unit * right.unit, literal)
        if node.op == "/":
            return _Typed(left.unit / right.unit, literal)
        # power
        if not right.unit.dimensionless:
            raise self.error(
                f"the exponent of ** must be a pure number: {self.describe(node.right, right)}",
                node.right,
            )
        if right.literal:
            exponent = _constant_value(node.right)
            if not np.isfinite(exponent):
                raise self.error("the exponent is not a finite number", node.right)
            if not left.unit.dimensionless and abs(exponent) > MAX_UNIT_EXPONENT:
                raise self.error(
                    f"the power {exponent:g} of a quantity with a unit is out of range (at most "
                    f"{MAX_UNIT_EXPONENT} in absolute value): {self.describe(node.left, left)}",
                    node.right,
                )
            return _Typed(left.unit**exponent, literal)
        if not left.unit.dimensionless:
            raise self.error(
                "a quantity with a unit can only be raised to a number written in the formula "
                f"(e.g. x ** 2): {self.describe(node.left, left)}",
                node,
            )
        pure = dimensionless()
        self.factors[id(node)] = (
            conversion_factor(left.unit, pure),
            conversion_factor(right.unit, pure),
        )
        return _Typed(pure, literal)

    def call(self, node: Call) -> _Typed:
        name = node.function
        if name in ("min", "max", "clip"):
            verb = f"take the {name}() of" if name != "clip" else "clip"
            return self.common(node, node.args, verb)
        if name == "where":
            self.visit(node.args[0])
            typed = self.common(node, node.args[1:], "choose with where() between")
            factors = self.factors.get(id(node), (1.0, 1.0))
            self.factors[id(node)] = (1.0, *factors)
            return _Typed(typed.unit, literal=False)
        if name in _PANEL_FUNCTIONS or name == "spatial_lag":
            return _Typed(self.visit(node.args[0]).unit, literal=False)
        if name == "within":
            distance = self.visit(node.args[1])
            metre = parse_unit("m")
            if not distance.unit.is_compatible_with(metre):
                raise self.error(
                    f"the distance of within() must be a length, but "
                    f"{self.describe(node.args[1], distance)}",
                    node.args[1],
                )
            self.factors[id(node)] = (1.0, conversion_factor(distance.unit, metre))
            return _Typed(self.visit(node.args[0]).unit, literal=False)
        argument = self.visit(node.args[0])
        if name == "round":
            return argument
        if name == "abs":
            return argument
        if name == "sqrt":
            return _Typed(argument.unit**0.5, argument.literal)
        # log, log10, exp
        if not argument.unit.dimensionless:
            example = self.text[node.args[0].start : node.args[0].end]
            raise self.error(
                f"{name}() needs a dimensionless argument, but "
                f"{self.describe(node.args[0], argument)}. Divide by a reference value in the "
                "same unit: declare a constant such as "
                f"'reference: {{value: 1, unit: {argument.unit.label}}}' and write "
                f"{name}({example} / reference)",
                node.args[0],
            )
        self.factors[id(node)] = (conversion_factor(argument.unit, dimensionless()),)
        return _Typed(dimensionless(), argument.literal)


def _constant_value(node: Node) -> float:
    """Value of a sub-expression made only of numbers (checked by the caller)."""
    with np.errstate(all="ignore"):
        if isinstance(node, Number):
            return node.value
        if isinstance(node, UnaryOp):
            value = _constant_value(node.operand)
            return -value if node.op == "-" else value
        if isinstance(node, BinOp):
            a, b = np.float64(_constant_value(node.left)), np.float64(_constant_value(node.right))
            return float(_BINARY[node.op](a, b))
        if isinstance(node, Call) and node.function in _UNARY:
            return float(_UNARY[node.function](np.float64(_constant_value(node.args[0]))))
        if isinstance(node, Call) and node.function in ("min", "max"):
            values = [_constant_value(a) for a in node.args]
            return float(min(values) if node.function == "min" else max(values))
        if isinstance(node, Call) and node.function == "round":
            x, k = (_constant_value(a) for a in node.args)
            return float(round_half_away(np.float64(x), int(k)))
        if isinstance(node, Call) and node.function == "clip":
            x, lo, hi = (_constant_value(a) for a in node.args)
            return float(min(max(x, lo), hi))
    return float("nan")


# =============================================================================================
# Stage 3: vectorised evaluation
# =============================================================================================
_ROUND_ULPS = 4.0
"""Representation error forgiven when rounding [units in the last place]: 0.7285 is stored
as 0.72849999…, and is rounded as the decimal number it was written as."""


def round_half_away(x: np.ndarray | np.floating, digits: int) -> np.ndarray:
    """Round to ``digits`` decimals, halves away from zero (as published tables round).

    numpy's ``round`` sends halves to the even neighbour (0.8125 → 0.812); statistical
    offices and spreadsheets round them up in magnitude (0.813). A value within a few units
    in the last place below a half (the binary form of a decimal such as 0.7285) counts as
    the half.

    Examples
    --------
    >>> round_half_away(np.array([0.8125, 0.7285, -2.5, 0.12344]), 3).tolist()
    [0.813, 0.729, -2.5, 0.123]
    """
    scale = 10.0**digits
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.abs(np.asarray(x, dtype=np.float64)) * scale
        nudge = _ROUND_ULPS * np.finfo(np.float64).eps * scaled
        return np.asarray(np.sign(x) * np.floor(scaled + 0.5 + nudge) / scale, dtype=np.float64)


_Problems = dict[str, np.ndarray]
_BINARY: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}
)
_UNARY: Mapping[str, Callable[[np.ndarray], np.ndarray]] = MappingProxyType(
    {"log": np.log, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
)
_COMPARE: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
        "==": np.equal,
        "!=": np.not_equal,
    }
)


def _prepare_columns(
    formula: Formula, values: Mapping[str, np.ndarray | float], panel: PanelLayout | None
) -> tuple[dict[str, np.ndarray], int, dict[str, _Problems]]:
    """Check and broadcast the value columns; infinities become NaN.

    Returns the columns, the number of rows, and for each name the rows where its value is
    missing (or was infinite), as a problems dict the name's nodes start from.
    """
    arrays: dict[str, np.ndarray] = {}
    lengths: dict[str, int] = {}
    for name in sorted(formula.names):
        if name not in values:
            given = ", ".join(sorted(values)) or "nothing"
            raise DataError(
                f"no values for '{name}', which the formula '{formula.text}' uses (given: {given})",
                column=name,
            )
        try:
            array = np.asarray(values[name], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"values are not numbers: {exc}", column=name) from None
        if array.ndim > 1:
            raise DataError(
                f"expected one value per row, got an array of shape {array.shape}", column=name
            )
        if array.ndim == 1:
            lengths[name] = array.shape[0]
        arrays[name] = array
    if panel is not None:
        n_rows = _check_panel(panel)
        wrong = {k: v for k, v in lengths.items() if v != n_rows}
        if wrong:
            raise DataError(f"the panel layout has {n_rows} rows but these columns do not: {wrong}")
    elif lengths:
        distinct = sorted(set(lengths.values()))
        if len(distinct) > 1:
            raise DataError(f"columns of different lengths: {lengths}")
        n_rows = distinct[0]
    else:
        n_rows = 1
    problems: dict[str, _Problems] = {}
    columns: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        column = np.broadcast_to(array, (n_rows,))
        found: _Problems = {}
        infinite = np.isinf(column)
        if infinite.any():
            found[f"infinite value of '{name}'"] = infinite
            column = np.where(infinite, np.nan, column)
        missing = np.isnan(column) & ~infinite
        if missing.any():
            found[f"missing value of '{name}'"] = missing
        columns[name] = column
        problems[name] = found
    return columns, n_rows, problems


def _check_panel(panel: PanelLayout) -> int:
    entity = np.asarray(panel.entity_codes)
    period = np.asarray(panel.period_codes)
    if entity.ndim != 1 or period.shape != entity.shape:
        raise DataError(
            f"panel layout: entity_codes {entity.shape} and period_codes {period.shape} must be "
            "1-D and of the same length"
        )
    if entity.size and (
        not np.issubdtype(entity.dtype, np.integer) or not np.issubdtype(period.dtype, np.integer)
    ):
        raise DataError("panel layout: entity_codes and period_codes must be integers")
    if entity.size and (
        entity.min() < 0
        or entity.max() >= panel.n_entities
        or period.min() < 0
        or period.max() >= panel.n_periods
    ):
        raise DataError(
            f"panel layout: codes out of range (n_entities={panel.n_entities}, "
            f"n_periods={panel.n_periods})"
        )
    if entity.size:
        cells = np.bincount(entity * panel.n_periods + period, minlength=1)
        if cells.max() > 1:
            raise DataError("panel layout: some (entity, period) pairs occur in several rows")
    return int(entity.size)


def _union(*dicts: _Problems) -> _Problems:
    merged: _Problems = {}
    for problems in dicts:
        for reason, mask in problems.items():
            merged[reason] = merged[reason] | mask if reason in merged else mask
    return merged


def _restrict(problems: _Problems, result: np.ndarray) -> _Problems:
    """Keep, for each reason, only the rows where ``result`` is NaN."""
    if not problems:
        return problems
    nan = np.isnan(result)
    kept = {reason: mask & nan for reason, mask in problems.items()}
    return {reason: mask for reason, mask in kept.items() if mask.any()}


class _Evaluator:
    """Computes node values on whole columns, collecting the reasons for NaNs."""

    def __init__(
        self,
        formula: Formula,
        factors: Mapping[int, tuple[float, ...]],
        columns: Mapping[str, np.ndarray],
        missing: Mapping[str, _Problems],
        n_rows: int,
        panel: PanelLayout | None,
    ) -> None:
        self.text = _one_line(formula.text)
        self.factors = factors
        self.columns = columns
        self.missing = missing
        self.n_rows = n_rows
        self.panel = panel

    def src(self, node: Node) -> str:
        return self.text[node.start : node.end]

    def operands(self, node: Node) -> tuple[list[np.ndarray], list[_Problems]]:
        children = node.children()
        factors = self.factors.get(id(node), (1.0,) * len(children))
        values, problems = [], []
        for child, factor in zip(children, factors, strict=True):
            value, found = self.visit(child)
            values.append(value * factor if factor != 1.0 else value)
            problems.append(found)
        return values, problems

    def undefined(
        self,
        node: Node,
        result: np.ndarray,
        reasons: list[tuple[str, np.ndarray]],
        found: list[_Problems],
    ) -> tuple[np.ndarray, _Problems]:
        """Set the rows of ``reasons`` to NaN; any other ±inf is an overflow."""
        problems = _union(*found)
        for reason, mask in reasons:
            if np.any(mask):
                result = np.where(mask, np.nan, result)
                problems = _union(problems, {reason: mask})
        infinite = np.isinf(result)
        if np.any(infinite):
            result = np.where(infinite, np.nan, result)
            reason = f"overflow (value too large) in '{self.src(node)}'"
            problems = _union(problems, {reason: infinite})
        return result, _restrict(problems, result)

    def visit(self, node: Node) -> tuple[np.ndarray, _Problems]:
        if isinstance(node, Number):
            return np.float64(node.value), {}
        if isinstance(node, Name):
            return self.columns[node.name], self.missing[node.name]
        if isinstance(node, UnaryOp):
            (value,), (found,) = self.operands(node)
            return (-value if node.op == "-" else value), found
        if isinstance(node, BinOp):
            return self.binop(node)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, (BoolOp, Not)):
            return self.logic(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {type(node).__name__}")  # pragma: no cover

    def binop(self, node: BinOp) -> tuple[np.ndarray, _Problems]:
        (a, b), found = self.operands(node)
        src = self.src(node)
        with np.errstate(all="ignore"):
            result = _BINARY[node.op](a, b)
        reasons: list[tuple[str, np.ndarray]] = []
        if node.op == "/":
            reasons.append((f"division by zero in '{src}'", (b == 0) & ~np.isnan(a)))
        elif node.op == "**":
            inputs = ~(np.isnan(a) | np.isnan(b))
            reasons.append(
                (
                    f"negative value raised to a fractional power in '{src}'",
                    np.isnan(result) & inputs,
                )
            )
            reasons.append((f"zero raised to a negative power in '{src}'", (a == 0) & (b < 0)))
        return self.undefined(node, result, reasons, found)

    def compare(self, node: Compare) -> tuple[np.ndarray, _Problems]:
        values, found = self.operands(node)
        holds: np.ndarray | bool = True
        missing: np.ndarray | bool = False
        for op, left, right in zip(node.ops, values[:-1], values[1:], strict=True):
            holds = holds & _COMPARE[op](left, right)
        for value in values:
            missing = missing | np.isnan(value)
        result = np.where(missing, np.nan, np.where(holds, 1.0, 0.0))
        return result, _restrict(_union(*found), result)

    def logic(self, node: BoolOp | Not) -> tuple[np.ndarray, _Problems]:
        values, found = self.operands(node)
        if isinstance(node, Not):
            result = 1.0 - values[0]
        else:
            # Kleene logic: false and unknown = false; true or unknown = true
            decisive = 0.0 if node.op == "and" else 1.0
            any_decisive = reduce(np.logical_or, [v == decisive for v in values])
            any_missing = reduce(np.logical_or, [np.isnan(v) for v in values])
            result = np.where(any_decisive, decisive, np.where(any_missing, np.nan, 1.0 - decisive))
        return result, _restrict(_union(*found), result)

    def call(self, node: Call) -> tuple[np.ndarray, _Problems]:
        name = node.function
        if name in _PANEL_FUNCTIONS:
            return self.panel_call(node)
        if name in _SPATIAL_FUNCTIONS:
            return self.spatial_call(node)
        values, found = self.operands(node)
        src = self.src(node)
        reasons: list[tuple[str, np.ndarray]] = []
        with np.errstate(all="ignore"):
            if name == "where":
                condition, a, b = values
                result = np.where(condition == 1.0, a, b)
                result = np.where(np.isnan(condition), np.nan, result)
                found = [
                    found[0],
                    {k: m & (condition == 1.0) for k, m in found[1].items()},
                    {k: m & (condition == 0.0) for k, m in found[2].items()},
                ]
            elif name in ("min", "max"):
                result = reduce(np.minimum if name == "min" else np.maximum, values)
            elif name == "clip":
                x, lo, hi = values
                result = np.minimum(np.maximum(x, lo), hi)
            elif name == "round":
                result = round_half_away(values[0], int(values[1]))
            else:
                x = values[0]
                if name in ("log", "log10"):
                    bad = x <= 0
                    reasons.append((f"log of a non-positive value in '{src}'", bad))
                    result = _UNARY[name](np.where(bad, np.nan, x))
                elif name == "sqrt":
                    bad = x < 0
                    reasons.append((f"square root of a negative value in '{src}'", bad))
                    result = np.sqrt(np.where(bad, np.nan, x))
                else:
                    result = _UNARY[name](x)
        return self.undefined(node, np.asarray(result, dtype=np.float64), reasons, found)

    def panel_call(self, node: Call) -> tuple[np.ndarray, _Problems]:
        assert self.panel is not None  # checked in Formula.evaluate
        x, found = self.visit(node.args[0])
        periods = int(node.args[1].value)  # type: ignore[attr-defined]
        src = self.src(node)
        panel = self.panel
        entity = np.asarray(panel.entity_codes)
        period = np.asarray(panel.period_codes)
        dense = np.full((panel.n_entities, panel.n_periods), np.nan)
        dense[entity, period] = np.broadcast_to(x, (self.n_rows,))
        shifted = np.full_like(dense, np.nan)
        plural = "s" if periods != 1 else ""
        if node.function == "lag":
            if periods < panel.n_periods:
                shifted[:, periods:] = dense[:, :-periods]
            result = shifted[entity, period]
            reason = f"no value {periods} period{plural} earlier (lag) in '{src}'"
            return result, {reason: np.isnan(result)}
        if periods <= panel.n_periods:
            windows = sliding_window_view(dense, periods, axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                means = windows.mean(axis=-1)
                # a sum past 1.8e308 of finite values: the mean of the scaled terms is finite
                overflow = np.isinf(means) & np.isfinite(windows).all(axis=-1)
                if overflow.any():
                    means = np.where(overflow, (windows / periods).sum(axis=-1), means)
            shifted[:, periods - 1 :] = means
        result = shifted[entity, period]
        reason = f"not all of the last {periods} period{plural} have a value (mean_over) in '{src}'"
        incomplete = np.isnan(result) & ~np.isnan(np.broadcast_to(x, (self.n_rows,)))
        return self.undefined(node, result, [], [_union(found, {reason: incomplete})])

    def spatial_call(self, node: Call) -> tuple[np.ndarray, _Problems]:
        """spatial_lag and within: one sparse product over the (entity × period) grid."""
        assert self.panel is not None and self.panel.space is not None  # checked in evaluate
        values, found = self.operands(node)
        src = self.src(node)
        panel = self.panel
        space = self.panel.space
        entity = np.asarray(panel.entity_codes)
        period = np.asarray(panel.period_codes)
        dense = np.full((panel.n_entities, panel.n_periods), np.nan)
        dense[entity, period] = np.broadcast_to(values[0], (self.n_rows,))
        known = ~np.isnan(dense)
        filled = np.where(known, dense, 0.0)
        if node.function == "spatial_lag":
            weights = space.neighbour_weights()
            total = np.asarray(weights @ filled)
            share = np.asarray(weights @ known.astype(np.float64))
            island = np.asarray(weights.getnnz(axis=1) == 0)[:, None] & np.ones_like(known)
            with np.errstate(invalid="ignore", divide="ignore"):
                grid = np.where(share > 0, total / np.where(share > 0, share, 1.0), np.nan)
            reasons = {
                f"the area has no neighbours (an island) in '{src}'": island[entity, period],
                f"no neighbour has a value in '{src}'": ((share == 0) & ~island)[entity, period],
            }
        else:
            distance = np.broadcast_to(values[1], (self.n_rows,))
            metres = np.unique(distance[~np.isnan(distance)])
            if len(metres) != 1 or metres[0] < 0:
                raise DataError(
                    f"the distance of '{src}' must be one non-negative value for every row; "
                    f"got {metres[:5].tolist()} [m]"
                )
            near = space.within_distance(float(metres[0]))
            grid = np.asarray(near @ filled)
            gaps = np.asarray(near @ (~known).astype(np.float64)) > 0
            grid = np.where(gaps, np.nan, grid)
            reasons = {f"an area within the distance has no value in '{src}'": gaps[entity, period]}
        result = grid[entity, period]
        problems = _union(found[0], {k: v for k, v in reasons.items() if v.any()})
        return self.undefined(node, result, [], [problems])
