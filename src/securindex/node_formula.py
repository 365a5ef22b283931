"""Node formulas: a node's score as a formula of its children's scores.

Published indices are not all weighted means. The Gender Development Index is a ratio of
two sub-indices (``female / male``), the Gender Inequality Index one minus a ratio of
means, the planetary-pressures-adjusted HDI a product of an index and an adjustment
factor, a hardship index a second rescaling of an average. A node (the root included) may
therefore give a ``formula`` over its children, naming them by id, in the same safe
language as indicator formulas (:mod:`securindex.formula`: parsed, never ``eval``-ed),
with ``round(x, k)`` for indices that combine *rounded* sub-indices.

Node scores are pure numbers (normalised values and scores have no physical unit), so the
unit rules of indicator formulas do not enter; ``lag`` and ``mean_over`` are refused (a
node combines the children of one row). Three passes over the one parsed tree:

* :func:`parse_node_formula` checks the names (ids of nodes and indicators of the
  framework, with a "did you mean") and the functions;
* :meth:`NodeFormula.interval` infers the range of the scores from the children's ranges
  by interval arithmetic, so that the load-time range checks (a geometric mean over
  values that can be 0, a declared ``range``) see through formula nodes;
* :meth:`NodeFormula.evaluate` computes the scores on whole blocks — rows, and Monte-Carlo
  replicates on leading axes — and says, per reason, which rows it could not score.

References
----------
.. [1] UNDP (2024). *Human Development Report 2023/2024, Technical notes* 3–6 (GDI, GII,
   IHDI, PHDI). https://hdr.undp.org/sites/default/files/2023-24_HDR/hdr2023-24_technical_notes.pdf
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from securindex.errors import FormulaError
from securindex.formula import (
    BinOp,
    Call,
    Compare,
    Formula,
    Name,
    Node,
    Number,
    UnaryOp,
    parse_formula,
    round_half_away,
)
from securindex.methods._types import FloatArray

__all__ = ["NODE_FORMULA_FUNCTIONS", "Interval", "NodeFormula", "parse_node_formula"]

Interval = tuple[float, float]
"""A closed range ``(low, high)`` [score]; infinite ends for an unbounded side."""

_UNBOUNDED: Interval = (-math.inf, math.inf)

NODE_FORMULA_FUNCTIONS = frozenset(
    {"log", "log10", "exp", "sqrt", "abs", "min", "max", "clip", "where", "round"}
)
"""Functions a node formula may call (those of indicator formulas but the panel ones)."""


@dataclass(frozen=True)
class NodeFormula:
    """A node's parsed formula.

    Attributes
    ----------
    formula : Formula
        The parsed tree (:func:`securindex.formula.parse_formula`).
    order : tuple of str
        The ids the formula names, in order of first appearance.
    """

    formula: Formula
    order: tuple[str, ...]

    @property
    def text(self) -> str:
        """The formula as written."""
        return self.formula.text

    def evaluate(
        self, children: Sequence[str], x: FloatArray
    ) -> tuple[FloatArray, dict[str, np.ndarray]]:
        """The node's scores from its children's block.

        Parameters
        ----------
        children : sequence of str
            The ids of the block's columns.
        x : FloatArray, shape (..., n_rows, n_children)
            The children's scores [score]; leading axes are Monte-Carlo replicates.

        Returns
        -------
        values : FloatArray, shape (..., n_rows)
            The scores [score]; NaN where the formula is undefined or a child it names is
            missing (never ±inf).
        problems : dict
            Reason (``division by zero in 'female / male'`` …) → boolean mask, shape
            ``(..., n_rows)``, of the scores it made NaN.
        """
        x = np.asarray(x, dtype=np.float64)
        shape = x.shape[:-1]
        position = {c: k for k, c in enumerate(children)}
        flat = {name: x[..., position[name]].reshape(-1) for name in self.order}
        result = self.formula.evaluate(flat)
        values = result.values.reshape(shape)
        problems = {reason: mask.reshape(shape) for reason, mask in result.problems.items()}
        return values, problems

    def interval(self, ranges: Mapping[str, Interval | None]) -> Interval:
        """The range of the scores given each named child's range (None: unbounded).

        Interval arithmetic: the result contains every value the formula can take when
        each child stays within its range (it may be wider than the exact range when a
        child appears twice, as ``a - a``).

        Examples
        --------
        >>> f = parse_node_formula("1 - sqrt(a * b)", {"a", "b"})
        >>> f.interval({"a": (0.0, 1.0), "b": (0.25, 1.0)})
        (0.0, 1.0)
        """
        return _interval(self.formula.root, ranges)


def parse_node_formula(text: str, known: Collection[str]) -> NodeFormula:
    """Parse a node's formula; its names must be ids of the framework.

    Parameters
    ----------
    text : str
        The formula, e.g. ``female / male``.
    known : collection of str
        Ids of the framework's nodes and indicators.

    Raises
    ------
    FormulaError
        A syntax error, a name that is no node or indicator (with the closest id), or a
        function a node formula cannot use (``lag``), with carets under the fault.
    """
    formula = parse_formula(text)
    for node in sorted(formula.root.walk(), key=lambda n: n.start):
        if isinstance(node, Call) and node.function not in NODE_FORMULA_FUNCTIONS:
            raise FormulaError(
                f"{node.function}() is not available in a node formula: a node combines its "
                "children's scores row by row (compute changes over time in an indicator)",
                formula.text.replace("\n", " "),
                node.start,
                node.end,
            )
        if isinstance(node, Name) and node.name not in known:
            close = difflib.get_close_matches(node.name, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise FormulaError(
                f"unknown id '{node.name}': a node formula names nodes and indicators of the "
                f"framework{hint}",
                formula.text.replace("\n", " "),
                node.start,
                node.end,
            )
    names = sorted((n for n in formula.root.walk() if isinstance(n, Name)), key=lambda n: n.start)
    return NodeFormula(formula=formula, order=tuple(dict.fromkeys(n.name for n in names)))


# --------------------------------------------------------------------------------------
# Interval arithmetic
# --------------------------------------------------------------------------------------


def _span(values: list[float]) -> Interval:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return _UNBOUNDED
    return (min(finite), max(finite))


def _mul(a: Interval, b: Interval) -> Interval:
    products = []
    for p in a:
        for q in b:
            # 0 × ∞ within an interval product: the bound is 0
            products.append(0.0 if (p == 0 or q == 0) else p * q)
    return _span(products)


def _reciprocal(b: Interval) -> Interval:
    lo, hi = b
    if lo > 0 or hi < 0:
        return (1.0 / hi if hi != 0 else -math.inf, 1.0 / lo if lo != 0 else math.inf)
    if lo == 0 and hi > 0:
        return (1.0 / hi, math.inf)
    if hi == 0 and lo < 0:
        return (-math.inf, 1.0 / lo)
    return _UNBOUNDED


def _monotone(fn: str, a: Interval) -> Interval:
    lo, hi = a
    with np.errstate(all="ignore"):
        if fn in ("log", "log10"):
            f = np.log if fn == "log" else np.log10
            if hi <= 0:
                return _UNBOUNDED
            return (float(f(lo)) if lo > 0 else -math.inf, float(f(hi)))
        if fn == "sqrt":
            if hi < 0:
                return _UNBOUNDED
            return (math.sqrt(max(lo, 0.0)), math.sqrt(hi) if math.isfinite(hi) else math.inf)
        if fn == "exp":
            return (float(np.exp(lo)), float(np.exp(hi)))
    raise AssertionError(fn)  # pragma: no cover


def _power(a: Interval, b: Interval, exponent: float | None) -> Interval:
    if exponent is None:
        return _UNBOUNDED if a[0] < 0 else (0.0, math.inf)
    lo, hi = a
    with np.errstate(all="ignore"):
        if float(exponent).is_integer():
            k = int(exponent)
            if k >= 0 and k % 2 == 0:
                ends = [abs(lo) ** k, abs(hi) ** k] if math.isfinite(lo + hi) else [math.inf]
                low = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)) ** k
                return (low, max(ends))
            if k > 0:
                return (lo**k if math.isfinite(lo) else -math.inf, hi**k)
            return _mul((1.0, 1.0), _reciprocal(_power(a, b, float(-k))))
        if lo < 0:
            return _UNBOUNDED
        ends = [lo**exponent if lo > 0 or exponent > 0 else math.inf, hi**exponent]
        return _span([float(e) for e in ends])


def _constant(node: Node) -> float | None:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, UnaryOp):
        inner = _constant(node.operand)
        return None if inner is None else (-inner if node.op == "-" else inner)
    return None


def _interval(node: Node, ranges: Mapping[str, Interval | None]) -> Interval:
    if isinstance(node, Number):
        return (node.value, node.value)
    if isinstance(node, Name):
        given = ranges.get(node.name)
        return given if given is not None else _UNBOUNDED
    if isinstance(node, UnaryOp):
        lo, hi = _interval(node.operand, ranges)
        return (-hi, -lo) if node.op == "-" else (lo, hi)
    if isinstance(node, Compare):
        return (0.0, 1.0)
    if isinstance(node, BinOp):
        a = _interval(node.left, ranges)
        b = _interval(node.right, ranges)
        if node.op == "+":
            return (a[0] + b[0], a[1] + b[1])
        if node.op == "-":
            return (a[0] - b[1], a[1] - b[0])
        if node.op == "*":
            return _mul(a, b)
        if node.op == "/":
            return _mul(a, _reciprocal(b))
        return _power(a, b, _constant(node.right))
    if isinstance(node, Call):
        args = [_interval(a, ranges) for a in node.args]
        name = node.function
        if name == "min":
            return (min(a[0] for a in args), min(a[1] for a in args))
        if name == "max":
            return (max(a[0] for a in args), max(a[1] for a in args))
        if name == "clip":  # min(max(x, lo), hi)
            value, floor, ceiling = args
            low, high = max(value[0], floor[0]), max(value[1], floor[1])
            return (min(low, ceiling[0]), min(high, ceiling[1]))
        if name == "where":
            return (min(args[1][0], args[2][0]), max(args[1][1], args[2][1]))
        if name == "abs":
            lo, hi = args[0]
            low = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
            return (low, max(abs(lo), abs(hi)))
        if name == "round":  # monotone: the rounded ends
            digits = int(_constant(node.args[1]) or 0)
            ends = round_half_away(np.array(args[0]), digits)
            return (float(ends[0]), float(ends[1]))
        return _monotone(name, args[0])
    return _UNBOUNDED
