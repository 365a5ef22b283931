"""Node rules: how a node of the index tree is weighted and scored, written once.

Every engine — the in-memory pipeline, the Monte-Carlo engine (with a leading replicate
axis) and the Dask engine (per partition) — calls these functions; none restates them.
They are:

* **weights** (:func:`node_weights`): the node's weighting method is called with the
  children's block, their nominal weights and their labels — the same arguments in every
  engine;
* **the missing-data policy** (:func:`apply_missing_policy`): ``renormalise`` keeps the
  present children (the aggregators rescale their weights), ``coverage`` does not score a
  row whose present children hold less than ``min_coverage`` of the weight, ``fail``
  stops the build;
* **not scored at zero** (:func:`zero_rows`): with ``allow_zero`` on a mean that needs
  positive children, a row where a child is exactly 0 is not scored;
* **the score**, by node kind (:data:`NODE_RULES`): a ``weighted`` node is its
  aggregator's mean of the children; a ``frontier`` node (benefit of the doubt) is 100 ×
  its linear programme's optimum, the share of the best-practice frontier [2]_;
* **ranks within each period** (:func:`rank_within_periods`), 1 = highest, ties share the
  best rank;
* **audit rows** (:func:`audit_frame`) built from the positions of the rows concerned with
  their before/after values, one reason code of :data:`REASONS` each, and joined into one
  compact table (:func:`audit_table`: labels stored once, as categories).

A new kind of node (a formula over the children's scores, say) is a new
:class:`NodeRule` in :data:`NODE_RULES`, chosen by :func:`securindex.plan.compile_plan`;
engines do not change.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, steps 4 and 6. OECD Publishing. doi:10.1787/9789264043466-en
.. [2] Cherchye, L., Moesen, W., Rogge, N. & Van Puyenbroeck, T. (2007). An introduction to
   'benefit of the doubt' composite indicators. *Social Indicators Research* 82(1),
   111–145. doi:10.1007/s11205-006-9029-7
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError
from securindex.methods._types import BoolArray, FloatArray, IntArray
from securindex.plan.compiled import (
    NODE_KIND_FORMULA,
    NODE_KIND_FRONTIER,
    NODE_KIND_WEIGHTED,
    NodePlan,
)

__all__ = [
    "AUDIT_COLUMNS",
    "NODE_RULES",
    "REASONS",
    "AuditRows",
    "NodeRule",
    "NodeScore",
    "Unscored",
    "aggregate_block",
    "apply_missing_policy",
    "audit_frame",
    "audit_join",
    "audit_rows",
    "audit_table",
    "check_node_range",
    "column_audit",
    "impute_node",
    "node_is_rowwise",
    "node_weights",
    "normalisation_rows",
    "normalise_node",
    "rank_within_periods",
    "register_node_rule",
    "score_node",
    "weight_total",
    "zero_rows",
]

AUDIT_COLUMNS = ["stage", "entity", "period", "item", "action", "before", "after", "detail"]
"""Columns of an audit table: one row per action taken on the data."""

REASONS: dict[str, str] = {
    "low_coverage": "the present children's share of the weight is below min_coverage",
    "zero_child": "a child is 0 under a mean that needs strictly positive children (allow_zero)",
    "non_finite_score": "the node's score is not finite (±inf), so it is not scored",
    "no_child_value": "none of the node's children has a value in this row",
    "undefined_score": "the node's method gives no value for these children",
    "formula_undefined": "the node's formula is undefined for the row's children (a division "
    "by zero, the log of a value <= 0 …)",
    "node_imputed": "the node could not score the row; its score was imputed",
}
"""Reason codes of the rows a node does not score, with their meaning. Node- and score-level
audits add theirs here (one place): an engine writes ``REASONS[code]``-backed rows with
:func:`audit_frame`, never free text of its own."""

_COVERAGE_TOLERANCE = 1e-12
"""Coverage is compared with ``min_coverage`` less this margin [unitless], so a share that
equals the threshold up to rounding passes."""


# --------------------------------------------------------------------------------------
# Audit rows
# --------------------------------------------------------------------------------------


_LABELS = ("stage", "entity", "period", "item", "action", "detail")
_VALUES = ("before", "after")


@dataclass(eq=False)
class AuditRows:
    """Audit rows held as plain arrays until the build's table is made (:func:`audit_table`).

    A label column is its codes and categories (``codes`` None: every row has category 0,
    one label for all); a value column an array or one number for all rows. Joining parts
    touches codes and categories only, never a Python object per row, and no pandas object
    is made per part.

    Attributes
    ----------
    n : int
        Number of rows.
    labels : dict
        Per label column of :data:`AUDIT_COLUMNS`, ``(codes or None, categories)``.
    values : dict
        Per value column (``before``, ``after``), an array of ``n`` floats or one float.
    """

    n: int
    labels: dict[str, tuple[IntArray | None, pd.Index]]
    values: dict[str, Any]

    def __len__(self) -> int:
        return self.n

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (columns :data:`AUDIT_COLUMNS`, labels categorical)."""
        return audit_table([self])

    @classmethod
    def of(cls, frame: pd.DataFrame) -> AuditRows:
        """Audit rows from a DataFrame with the columns :data:`AUDIT_COLUMNS`."""
        labels: dict[str, tuple[IntArray | None, pd.Index]] = {}
        for name in _LABELS:
            column = frame[name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                labels[name] = (np.asarray(column.cat.codes), column.cat.categories)
            else:
                codes, uniques = pd.factorize(column, use_na_sentinel=True)
                labels[name] = (np.asarray(codes), pd.Index(uniques))
        values = {name: frame[name].to_numpy(dtype=np.float64) for name in _VALUES}
        return cls(len(frame), labels, values)


def _label(value: Any) -> tuple[IntArray | None, pd.Index]:
    """``value`` (one label, one per row, or a Categorical) as codes and categories."""
    if isinstance(value, pd.Categorical):
        return np.asarray(value.codes), value.categories
    if np.ndim(value) == 0:
        return None, pd.Index([value])
    codes, uniques = pd.factorize(np.asarray(value), use_na_sentinel=True)
    return np.asarray(codes), pd.Index(uniques)


def _level(index: pd.MultiIndex, level: int, rows: IntArray | None) -> tuple[IntArray, pd.Index]:
    """The index level ``level`` at ``rows`` (None: one row without a label)."""
    codes = np.asarray(index.codes[level])
    picked = np.full(1, -1, dtype=codes.dtype) if rows is None else codes[rows]
    return picked, index.levels[level]


def audit_rows(
    stage: str,
    index: pd.MultiIndex,
    rows: IntArray,
    item: Any,
    action: str,
    before: Any = np.nan,
    after: Any = np.nan,
    detail: Any = "",
) -> AuditRows:
    """Audit rows for the rows ``rows`` (positions in ``index``) that a step acted on.

    Parameters
    ----------
    stage : str
        The pipeline stage (``screen``, ``impute``, ``treat``, ``aggregate`` …).
    index : pandas.MultiIndex
        ``(entity, period)`` of the rows the positions refer to.
    rows : IntArray, shape (n,)
        Positions of the rows concerned (only those: never the whole column).
    item : str, array of str or Categorical
        The indicator or node concerned (one, or one per row).
    action : str
        What was done (``imputed``, ``winsorised``, ``not scored`` …).
    before, after : float or array, shape (n,)
        The values before and after the action [the stage's unit]; NaN if none.
    detail : str or array of str
        Why (method and parameters, a :data:`REASONS` text).

    Returns
    -------
    AuditRows
        One row per position, joined into the build's table by :func:`audit_table`.
    """
    rows = np.asarray(rows)
    return _audit(stage, index, rows, len(rows), item, action, before, after, detail)


def audit_frame(
    stage: str,
    index: pd.MultiIndex,
    rows: IntArray,
    item: Any,
    action: str,
    before: Any = np.nan,
    after: Any = np.nan,
    detail: Any = "",
) -> pd.DataFrame:
    """:func:`audit_rows` as a DataFrame.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AUDIT_COLUMNS`, one row per position; the labels (stage, entity,
        period, item, action, detail) are categoricals, so a row costs a few bytes of codes
        and its two values.
    """
    return audit_rows(stage, index, rows, item, action, before, after, detail).frame()


def column_audit(
    stage: str, index: pd.MultiIndex, item: str, action: str, detail: str
) -> AuditRows:
    """One audit row about a whole column (a transform): no entity or period."""
    return _audit(stage, index, None, 1, item, action, np.nan, np.nan, detail)


def _audit(
    stage: str,
    index: pd.MultiIndex,
    rows: IntArray | None,
    n: int,
    item: Any,
    action: str,
    before: Any,
    after: Any,
    detail: Any,
) -> AuditRows:
    def values(value: Any) -> Any:
        if np.ndim(value) == 0:
            return float(value)
        out = np.asarray(value, dtype=np.float64)
        if out.shape != (n,):
            out = np.broadcast_to(out, (n,)).copy()
        return out

    return AuditRows(
        n,
        {
            "stage": _label(stage),
            "entity": _level(index, 0, rows),
            "period": _level(index, 1, rows),
            "item": _label(item),
            "action": _label(action),
            "detail": _label(detail),
        },
        {"before": values(before), "after": values(after)},
    )


_SMALL_UNION = 256
"""Up to this many labels over the parts, the union is looked up in a dict (no hash
table per part)."""


def _codes_of(codes: IntArray | None, n: int) -> IntArray:
    return np.zeros(n, dtype=np.int8) if codes is None else codes


def _join_labels(
    parts: Sequence[tuple[IntArray | None, pd.Index]], sizes: Sequence[int]
) -> pd.Categorical:
    """Label columns joined by their codes: categories sorted when they sort (so grouping
    lists them in order), those no row uses dropped; one lookup per part, no per-row
    Python object."""
    first = parts[0][1]
    if len(parts) == 1:  # the codes as they are (no copy)
        categories = first
        codes = _codes_of(parts[0][0], sizes[0])
    elif all(categories is first for _, categories in parts):  # one index level, say
        categories = first
        codes = np.concatenate([_codes_of(c, n) for (c, _), n in zip(parts, sizes, strict=True)])
    else:
        categories = first.append([c for _, c in parts[1:]]).unique()
        if sum(len(c) for _, c in parts) <= _SMALL_UNION:  # a few labels: one dict lookup
            where = {label: k for k, label in enumerate(categories.tolist())}
            lookups = [
                np.array([where[label] for label in c.tolist()], dtype=np.int64) for _, c in parts
            ]
        else:
            lookups = [categories.get_indexer(c) for _, c in parts]
        codes = np.concatenate(
            [
                np.append(lookup, -1)[_codes_of(c, n)]
                for lookup, (c, _), n in zip(lookups, parts, sizes, strict=True)
            ]
        )
    # keep the categories used, sorted when they can be
    used = np.zeros(len(categories) + 1, dtype=bool)
    used[codes] = True  # a missing label (-1) marks the spare last slot
    if used[:-1].all() and categories.is_monotonic_increasing and categories.is_unique:
        return pd.Categorical.from_codes(
            codes, dtype=pd.CategoricalDtype(categories), validate=False
        )  # already compact (a joined part, say)
    kept = categories[used[:-1]]
    try:
        order = kept.argsort()
    except TypeError:  # labels that do not sort together (mixed types)
        order = np.arange(len(kept))
    lookup = np.full(len(categories) + 1, -1, dtype=np.int64)
    lookup[np.flatnonzero(used[:-1])[order]] = np.arange(len(kept))
    small = np.int8 if len(kept) < 2**7 else np.int16 if len(kept) < 2**15 else np.int32
    return pd.Categorical.from_codes(
        lookup[codes].astype(small, copy=False),
        dtype=pd.CategoricalDtype(kept[order]),
        validate=False,
    )


def _join_values(parts: Sequence[Any], sizes: Sequence[int]) -> FloatArray:
    if len(parts) == 1 and np.ndim(parts[0]) == 1:
        return np.asarray(parts[0])
    return np.concatenate(
        [
            np.full(n, v, dtype=np.float64) if np.ndim(v) == 0 else v
            for v, n in zip(parts, sizes, strict=True)
        ]
    )


def audit_join(parts: Sequence[AuditRows | pd.DataFrame]) -> AuditRows:
    """Audit parts joined into one (still plain arrays: :func:`audit_table` makes the table).

    The parts are consumed column by column (each part loses the columns joined), so the
    joined rows and the parts are never held whole at once.
    """
    rows = [p if isinstance(p, AuditRows) else AuditRows.of(p) for p in parts if len(p)]
    sizes = [p.n for p in rows]
    labels: dict[str, tuple[IntArray | None, pd.Index]] = {}
    values: dict[str, Any] = {}
    if not rows:
        return AuditRows(0, labels, values)
    if len(rows) == 1:
        return rows[0]
    for name in _LABELS:
        joined = _join_labels([p.labels.pop(name) for p in rows], sizes)
        labels[name] = (np.asarray(joined.codes), joined.categories)
    for name in _VALUES:
        values[name] = _join_values([p.values.pop(name) for p in rows], sizes)
    return AuditRows(sum(sizes), labels, values)


def audit_table(parts: Sequence[AuditRows | pd.DataFrame]) -> pd.DataFrame:
    """The audit parts of a build as one table, labels kept as categoricals.

    Categorical columns are joined by their codes, never through Python objects, with
    their categories sorted (so grouping lists them in order) and those no row uses
    dropped. The parts are consumed column by column (:func:`audit_join`).
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    rows = [p if isinstance(p, AuditRows) else AuditRows.of(p) for p in parts]
    sizes = [p.n for p in rows]
    columns: dict[str, Any] = {}
    for name in AUDIT_COLUMNS:
        if name in _LABELS:
            columns[name] = _join_labels([p.labels.pop(name) for p in rows], sizes)
        else:
            columns[name] = _join_values([p.values.pop(name) for p in rows], sizes)
    return pd.DataFrame(columns, columns=AUDIT_COLUMNS, copy=False)


@dataclass(frozen=True)
class Unscored:
    """Rows a node did not score, and why (the engine turns them into audit rows).

    Attributes
    ----------
    rows : IntArray
        Positions of the rows (within the block the rule was given).
    reason : str
        A key of :data:`REASONS`.
    before : FloatArray or float
        The value that decided it (the present weight share; the child's 0).
    detail : str
        The reason in words, with the node's settings.
    """

    rows: IntArray
    reason: str
    before: Any
    detail: str


@dataclass
class NodeScore:
    """A node's scores over a block of rows and the rows it did not score."""

    values: FloatArray
    unscored: list[Unscored] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------


def node_weights(node: NodePlan, block: FloatArray) -> tuple[FloatArray, dict[str, Any]]:
    """The node's children weights from its weighting method.

    Parameters
    ----------
    node : NodePlan
        The node.
    block : FloatArray, shape (n_rows, n_children)
        The children's normalised values or scores [score].

    Returns
    -------
    weights : FloatArray, shape (n_children,) or (n_rows, n_children)
        Per-row for methods such as benefit of the doubt [unitless].
    info : dict
        What the method learnt (loadings, consistency, the LP optimum ``scores`` …).

    Notes
    -----
    Weights are learnt from all periods together (one benefit-of-the-doubt frontier, one
    PCA), so that, like pooled normalisation, they do not change the scale over time. The
    engines pass the children's labels to methods that take ``labels``; nothing else.
    """
    if node.kind == NODE_KIND_FORMULA:
        # a formula has no weights: the children's influence depends on the values
        return np.full(len(node.children), np.nan), {"formula": node.formula_text}
    step = node.weight
    params = step.kwargs()
    extra: dict[str, Any] = {}
    if step.method.takes("labels") and "labels" not in params:
        extra["labels"] = list(node.children)
    try:
        result = step.method(block, nominal=node.nominal_weights, **params, **extra)
    except SpecError as exc:
        raise SpecError(f"node '{node.id}': {exc}") from None
    except DataError as exc:
        raise DataError(f"node '{node.id}': {exc}") from None
    return np.asarray(result.values, dtype=np.float64), dict(result.info)


def weight_total(w: FloatArray) -> Any:
    """The weight of all children, to which the present children's share is compared.

    One vector ``(k,)``: its sum; per-row weights ``(rows, k)``: the mean row sum; one
    vector per replicate ``(C, 1, k)`` or per row and replicate ``(C, rows, k)``: each
    replicate's mean row sum, shape ``(C, 1)``.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 1:
        return float(w.sum())
    if w.ndim == 2:
        return float(w.sum()) / w.shape[0]
    return w.sum(axis=-1).mean(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------
# Missing data and zero children
# --------------------------------------------------------------------------------------


def apply_missing_policy(
    node: NodePlan,
    x: FloatArray,
    w: FloatArray,
    total: Any,
    labels: Callable[[IntArray], Sequence[Any]] | None = None,
) -> tuple[FloatArray, Unscored | None]:
    """Enforce the node's missing-data policy on a block of its children.

    Parameters
    ----------
    node : NodePlan
        The node.
    x : FloatArray, shape (..., n_rows, n_children)
        The children [score]; leading axes are replicates.
    w : FloatArray
        Weights, (k,), (rows, k), (C, 1, k) or (C, rows, k) [unitless].
    total : float or FloatArray
        :func:`weight_total` of the node's weights (over all rows, not only the block).
    labels : callable, optional
        Row labels of positions, for the message of policy ``fail``.

    Returns
    -------
    x : FloatArray
        The children, with rows not scored set to NaN (a copy only when some are).
    unscored : Unscored or None
        The rows below coverage (positions along the row axis; for replicated input, rows
        below coverage in any replicate) with their weight share.

    Raises
    ------
    DataError
        Policy ``fail`` and a child is missing.
    """
    missing = np.isnan(x)
    if not missing.any():
        return x, None
    policy = node.missing
    if policy.policy == "fail":
        bad = np.flatnonzero(missing.any(axis=-1).reshape(-1, x.shape[-2]).any(axis=0))
        raise DataError(
            f"node '{node.id}' has missing children in {len(bad)} row(s) and its missing-data "
            "policy is 'fail'; impute first, or use policy renormalise or coverage",
            rows=list(labels(bad[:20])) if labels is not None else [],
        )
    if policy.policy != "coverage":
        return x, None
    with np.errstate(invalid="ignore", divide="ignore"):
        present = np.where(missing, 0.0, w).sum(axis=-1)
        share = np.where(np.asarray(total) > 0, present / np.where(total > 0, total, 1.0), 0.0)
    short = share < policy.min_coverage - _COVERAGE_TOLERANCE
    if not short.any():
        return x, None
    rows = np.flatnonzero(short.reshape(-1, x.shape[-2]).any(axis=0))
    unscored = Unscored(
        rows=rows,
        reason="low_coverage",
        before=share[..., rows] if share.ndim == 1 else np.nan,
        detail=f"weight share of present children < {policy.min_coverage:g}",
    )
    return np.where(short[..., None], np.nan, x), unscored


def zero_rows(node: NodePlan, x: FloatArray) -> tuple[FloatArray, Unscored | None]:
    """With ``allow_zero``: rows where a child is exactly 0 are not scored (set to NaN).

    Parameters
    ----------
    node : NodePlan
        The node (only acts when :attr:`NodePlan.zero_floor`).
    x : FloatArray, shape (..., n_rows, n_children)
        The children [score].
    """
    if not node.zero_floor:
        return x, None
    with np.errstate(invalid="ignore"):
        zero = (x == 0).any(axis=-1)
    if not zero.any():
        return x, None
    rows = np.flatnonzero(zero.reshape(-1, x.shape[-2]).any(axis=0))
    unscored = Unscored(
        rows=rows,
        reason="zero_child",
        before=0.0,
        detail=f"a child is 0 (its lower goalpost): the {node.aggregate.name} mean is undefined",
    )
    return np.where(zero[..., None], np.nan, x), unscored


# --------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------


def aggregate_block(
    node: NodePlan, x: FloatArray, w: FloatArray, period_codes: IntArray
) -> FloatArray:
    """The node's aggregator over prepared children (policy and zero rule applied).

    Methods comparing rows (taking ``groups``) compare them within each period: they get
    the rows' period codes.
    """
    method = node.aggregate.method
    extra = {"groups": period_codes} if method.takes("groups") else {}
    return np.asarray(method(x, w, **node.aggregate.kwargs(), **extra), dtype=np.float64)


class NodeRule:
    """How a kind of node turns its children's block into scores.

    Subclasses override :meth:`score`; the engines call :func:`score_node`.
    """

    #: Whether the rule may be applied to blocks of rows independently.
    rowwise: bool = True

    def is_rowwise(self, node: NodePlan) -> bool:
        """Whether the node may be scored block of rows by block of rows."""
        return self.rowwise

    def score(
        self,
        node: NodePlan,
        x: FloatArray,
        w: FloatArray,
        info: Mapping[str, Any],
        *,
        total: Any,
        period_codes: IntArray,
        labels: Callable[[IntArray], Sequence[Any]] | None = None,
    ) -> NodeScore:
        raise NotImplementedError


class WeightedMean(NodeRule):
    """The node is its aggregator's mean of the weighted children (the Handbook's step 6),
    after the missing-data policy and the not-scored-at-zero rule."""

    def is_rowwise(self, node: NodePlan) -> bool:
        return node.aggregate.method.rowwise

    def score(
        self,
        node: NodePlan,
        x: FloatArray,
        w: FloatArray,
        info: Mapping[str, Any],
        *,
        total: Any,
        period_codes: IntArray,
        labels: Callable[[IntArray], Sequence[Any]] | None = None,
    ) -> NodeScore:
        unscored: list[Unscored] = []
        x, low = apply_missing_policy(node, x, w, total, labels)
        if low is not None:
            unscored.append(low)
        x, zero = zero_rows(node, x)
        if zero is not None:
            unscored.append(zero)
        try:
            values = aggregate_block(node, x, w, period_codes)
        except DataError as exc:
            rows: list[Any] = []
            if labels is not None:
                bad = np.flatnonzero((x <= 0).any(axis=-1).reshape(-1, x.shape[-2]).any(axis=0))
                rows = list(labels(bad[:5]))
            raise DataError(f"node '{node.id}' ({node.aggregate.name}): {exc}", rows=rows) from None
        return NodeScore(values=values, unscored=unscored)


class Frontier(NodeRule):
    """The node is 100 × its weighting method's optimum (benefit of the doubt: each row's
    share of the best-practice frontier, ``info["scores"]`` in [0, 1]), not a weighted mean
    with the row's normalised weights."""

    rowwise = False

    def score(
        self,
        node: NodePlan,
        x: FloatArray,
        w: FloatArray,
        info: Mapping[str, Any],
        *,
        total: Any,
        period_codes: IntArray,
        labels: Callable[[IntArray], Sequence[Any]] | None = None,
    ) -> NodeScore:
        if "scores" not in info:
            raise SpecError(
                f"node '{node.id}': weight method '{node.weight.name}' declares scores_node "
                "but its info has no 'scores' (the optimum per row, in [0, 1])"
            )
        return NodeScore(values=100.0 * np.asarray(info["scores"], dtype=np.float64))


class FormulaRule(NodeRule):
    """The node is its formula of its children's scores (:mod:`securindex.node_formula`):
    row by row, replicates included; rows the formula leaves undefined are not scored."""

    def score(
        self,
        node: NodePlan,
        x: FloatArray,
        w: FloatArray,
        info: Mapping[str, Any],
        *,
        total: Any,
        period_codes: IntArray,
        labels: Callable[[IntArray], Sequence[Any]] | None = None,
    ) -> NodeScore:
        assert node.formula is not None
        values, problems = node.formula.evaluate(node.children, x)
        unscored = []
        for reason, mask in problems.items():
            if reason.startswith("missing value of"):
                continue  # a missing child: nothing to score (as in a mean)
            rows = np.flatnonzero(mask.reshape(-1, mask.shape[-1]).any(axis=0))
            unscored.append(
                Unscored(rows=rows, reason="formula_undefined", before=np.nan, detail=reason)
            )
        return NodeScore(values=values, unscored=unscored)


NODE_RULES: dict[str, NodeRule] = {
    NODE_KIND_WEIGHTED: WeightedMean(),
    NODE_KIND_FRONTIER: Frontier(),
    NODE_KIND_FORMULA: FormulaRule(),
}
"""Node kind (:attr:`NodePlan.kind`) → its rule."""


def register_node_rule(kind: str, rule: NodeRule, *, replace: bool = False) -> None:
    """Add the rule of a new node kind (chosen by the plan compiler)."""
    if kind in NODE_RULES and not replace:
        raise SpecError(f"node kind '{kind}' already has a rule; pass replace=True")
    NODE_RULES[kind] = rule


def score_node(
    node: NodePlan,
    x: FloatArray,
    w: FloatArray,
    info: Mapping[str, Any],
    *,
    total: Any,
    period_codes: IntArray,
    labels: Callable[[IntArray], Sequence[Any]] | None = None,
) -> NodeScore:
    """Score a node's rows with the rule of its kind.

    Parameters
    ----------
    node : NodePlan
        The node.
    x : FloatArray, shape (..., n_rows, n_children)
        The children's values [score]; leading axes are replicates.
    w : FloatArray
        Weights (k,), (rows, k), (C, 1, k) or (C, rows, k) [unitless].
    info : Mapping
        What the weighting method learnt (:func:`node_weights`).
    total : float or FloatArray
        :func:`weight_total` of the node's weights over all rows.
    period_codes : IntArray, shape (n_rows,)
        Period of each row (methods comparing rows do so within periods).
    labels : callable, optional
        Row labels of positions, for messages.

    Returns
    -------
    NodeScore
        Scores, shape (..., n_rows) [score], and the rows not scored.
    """
    result = NODE_RULES[node.kind].score(
        node, x, w, info, total=total, period_codes=period_codes, labels=labels
    )
    result = _explain_missing(node, x, result)
    if node.range is not None:
        check_node_range(node, result.values, labels)
    return result


def check_node_range(
    node: NodePlan,
    values: FloatArray,
    labels: Callable[[IntArray], Sequence[Any]] | None = None,
) -> None:
    """A node's scores must lie within its declared ``range``.

    Raises
    ------
    DataError
        Scores outside the range, with the first rows concerned.
    """
    assert node.range is not None
    low, high = node.range
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)
    if not outside.any():
        return
    rows = np.flatnonzero(outside.reshape(-1, outside.shape[-1]).any(axis=0))
    found = values.reshape(-1, values.shape[-1])[:, rows]
    raise DataError(
        f"node '{node.id}': {len(rows)} score(s) outside its declared range [{low:g}, "
        f"{high:g}] (from {np.nanmin(found):g} to {np.nanmax(found):g}); check the formula, "
        "or the range",
        rows=list(labels(rows[:20])) if labels is not None else [],
    )


def normalise_node(
    node: NodePlan, values: FloatArray, period_codes: IntArray
) -> tuple[FloatArray, dict[str, Any]]:
    """A node's second normalisation of its own scores (its ``normalise`` step).

    Parameters
    ----------
    node : NodePlan
        The node (acts only when :attr:`NodePlan.normalise` is set).
    values : FloatArray, shape (..., n_rows)
        The node's scores [score]; each replicate (leading axes) learns on its own.
    period_codes : IntArray, shape (n_rows,)
        Period of each row (``reference: per_period`` learns within each period).

    Returns
    -------
    values : FloatArray
        The rescaled scores, same shape [the normaliser's scale].
    learnt : dict
        What the normaliser learnt (per replicate on the last axis).
    """
    if node.normalise is None:
        return values, {}
    from securindex.methods.normalise import normalise_by_period

    step = node.normalise
    shape = values.shape
    block = np.asarray(values, dtype=np.float64).reshape(-1, shape[-1]).T  # rows × replicates
    mode = str(step.options.get("reference", "pooled"))
    try:
        result = normalise_by_period(
            step.method,
            block,
            period_codes,
            np.ones(block.shape[1]),
            mode=mode,
            **step.kwargs(),
        )
    except SpecError as exc:
        raise SpecError(f"node '{node.id}' normalise: {exc}") from None
    except DataError as exc:
        raise DataError(f"node '{node.id}' normalise: {exc}") from None
    learnt = {**result.learnt, **result.flags}
    return np.asarray(result.values, dtype=np.float64).T.reshape(shape), learnt


def impute_node(
    node: NodePlan, values: FloatArray, codes: Mapping[str, Any]
) -> tuple[FloatArray, BoolArray]:
    """Fill the rows a node could not score with its ``impute`` method.

    Parameters
    ----------
    node : NodePlan
        The node (acts only when :attr:`NodePlan.impute` is set).
    values : FloatArray, shape (..., n_rows)
        The node's scores [score]; leading axes are replicates, each imputed on its own.
    codes : mapping
        ``entity``, ``period`` and ``groups`` codes of the rows, as imputers take them.

    Returns
    -------
    values : FloatArray
        The scores with the gaps the method could fill filled.
    filled : BoolArray, shape (n_rows,)
        Rows filled in any replicate.
    """
    if node.impute is None or not np.isnan(values).any():
        return values, np.zeros(values.shape[-1], dtype=bool)
    step = node.impute
    shape = values.shape
    block = np.asarray(values, dtype=np.float64).reshape(-1, shape[-1]).T  # rows × replicates
    try:
        result = step.method(np.array(block, order="F"), **codes, **step.kwargs())
    except SpecError as exc:
        raise SpecError(f"node '{node.id}' impute: {exc}") from None
    except DataError as exc:
        raise DataError(f"node '{node.id}' impute: {exc}") from None
    filled = np.asarray(np.asarray(result.imputed, dtype=bool).any(axis=1), dtype=bool)
    return np.asarray(result.values, dtype=np.float64).T.reshape(shape), filled


def _explain_missing(node: NodePlan, x: FloatArray, result: NodeScore) -> NodeScore:
    """Every row a node leaves without a score says why: ±inf scores become NaN
    (``non_finite_score``); NaN rows no rule reported are ``no_child_value`` when every
    child is missing, else ``undefined_score``. Rows are positions along the row axis
    (for replicated input, rows concerned in any replicate)."""
    values = np.asarray(result.values, dtype=np.float64)
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
    missing = np.isnan(values)
    if not missing.any():
        return result
    n_rows = values.shape[-1]
    explained = np.zeros(n_rows, dtype=bool)
    for event in result.unscored:
        explained[event.rows] = True
    unscored = list(result.unscored)

    def rows_of(mask: np.ndarray) -> IntArray:
        return np.flatnonzero(mask.reshape(-1, n_rows).any(axis=0) & ~explained)

    new_rows = rows_of(infinite)
    if len(new_rows):
        unscored.append(Unscored(new_rows, "non_finite_score", np.nan, REASONS["non_finite_score"]))
        explained[new_rows] = True
    if x.shape[:-1] == values.shape:
        no_child = missing & np.isnan(x).all(axis=-1)
    else:  # shared children under replicated scores
        no_child = missing & np.broadcast_to(np.isnan(x).all(axis=-1), values.shape)
    for code, mask in (("no_child_value", no_child), ("undefined_score", missing)):
        new_rows = rows_of(mask)
        if len(new_rows):
            unscored.append(Unscored(new_rows, code, np.nan, REASONS[code]))
            explained[new_rows] = True
    return NodeScore(values=values, unscored=unscored)


def node_is_rowwise(node: NodePlan) -> bool:
    """Whether the node's rule may be applied to blocks of rows independently."""
    return NODE_RULES[node.kind].is_rowwise(node)


# --------------------------------------------------------------------------------------
# Ranks
# --------------------------------------------------------------------------------------


def rank_within_periods(
    scores: FloatArray, period_codes: IntArray, higher_is_better: Any = True
) -> FloatArray:
    """Rank of each row's score within its period: 1 = best, ties share the best rank.

    Parameters
    ----------
    scores : FloatArray, shape (n_rows, n_columns)
        Scores [score]; NaN is not ranked. Columns are nodes or replicates.
    period_codes : IntArray, shape (n_rows,)
        Period code of each row.
    higher_is_better : bool or array of bool, shape (n_columns,), default True
        Per column, whether the highest score is the best (rank 1) or the lowest is
        (``higher_is: worse``: a peace or hardship index).

    Returns
    -------
    FloatArray, shape (n_rows, n_columns)
        Ranks [rank, 1 … number of scored rows of the period]; NaN where the score is NaN.
        Tied scores share the lowest rank and the next rank skips (1, 2, 2, 4: "min"
        ranking, as ``pandas.Series.rank(method="min", ascending=False)`` and COINr).

    Notes
    -----
    One sort per period over all columns at once (never a loop over entities): the rows of
    a period are sorted by decreasing score, and each run of equal scores gets the position
    of its first member.

    Examples
    --------
    >>> rank_within_periods(np.array([[3.0], [5.0], [5.0], [1.0]]), np.zeros(4, dtype=int))
    array([[3.],
           [1.],
           [1.],
           [4.]])
    """
    scores = np.asarray(scores, dtype=np.float64)
    better = np.asarray(higher_is_better, dtype=bool)
    if not better.all():
        scores = np.where(better, scores, -scores) if scores.ndim == 2 else -scores
    out = np.full(scores.shape, np.nan, order="F")
    codes = np.asarray(period_codes)
    by_period = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[by_period])) + 1
    groups = np.split(by_period, bounds) if len(codes) else []
    n_columns = scores.shape[1] if scores.ndim == 2 else 1
    columns = scores.reshape(len(codes), n_columns) if scores.ndim == 1 else scores
    target = out.reshape(len(codes), n_columns) if out.ndim == 1 else out
    for rows in groups:  # one sort per period and column (a contiguous, cache-sized key)
        position = np.arange(1, len(rows) + 1, dtype=np.float64)
        for j in range(n_columns):
            values = columns[rows, j]
            missing = np.isnan(values)
            key = np.where(missing, np.inf, -values)
            order = np.argsort(key)
            ordered = key[order]
            new = np.ones(len(rows), dtype=bool)
            np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
            rank_sorted = np.maximum.accumulate(np.where(new, position, 0.0))
            ranked = np.empty_like(rank_sorted)
            ranked[order] = rank_sorted
            ranked[missing] = np.nan
            target[rows, j] = ranked
    return out


# --------------------------------------------------------------------------------------
# Rows of the normalisation table
# --------------------------------------------------------------------------------------


def normalisation_rows(
    indicator: str,
    method: str,
    mode: str,
    stats: Mapping[str, np.ndarray],
    period_labels: np.ndarray,
    base_period: Any,
) -> list[dict[str, Any]]:
    """Rows of the normalisation table: one per indicator (per period for per_period)."""
    if mode == "per_period":
        periods = stats.get("period")
        labels: Any = (
            period_labels[np.asarray(periods, dtype=np.int64)] if periods is not None else []
        )
        rows = []
        for k, label in enumerate(labels):
            row: dict[str, Any] = {
                "indicator": indicator,
                "method": method,
                "reference": mode,
                "period": label,
            }
            for name, value in stats.items():
                arr = np.asarray(value)
                if name != "period" and arr.ndim == 1 and arr.shape[0] == len(labels):
                    row[name] = arr[k].item()
            rows.append(row)
        return rows
    row = {"indicator": indicator, "method": method, "reference": mode}
    if mode == "base":
        row["period"] = base_period
    for name, value in stats.items():
        arr = np.asarray(value)
        if arr.ndim == 0:
            row[name] = arr.item()
    return [row]
