"""How much each component matters: weights optimised to target importances, leaving
components out one at a time, and comparing two builds.

* :func:`optimise_weights` — COINr's ``get_opt_weights``: the weights of a node's children
  for which their correlations with the index match *target importances* (weights are not
  importance: correlated children carry more than their weight);
* :func:`leave_one_out` — COINr's ``remove_elements``: each component's weight set to 0 in
  turn, and how far the ranks move;
* :func:`compare_results` — COINr's ``compare_coins``: two builds side by side, entity by
  entity, with their rank changes.

References
----------
.. [1] Becker, W., Saisana, M., Paruolo, P. & Vandecasteele, I. (2017). Weights and
   importance in composite indicators: closing the gap. *Ecological Indicators* 80,
   12–22. doi:10.1016/j.ecolind.2017.03.056
.. [2] Paruolo, P., Saisana, M. & Saltelli, A. (2013). Ratings and rankings: voodoo or
   science? *JRSS A* 176(3), 609–634. doi:10.1111/j.1467-985X.2012.01059.x
.. [3] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. & Saisana, M.
   (2022). COINr: an R package for developing composite indicators. *Journal of Open
   Source Software* 7(78), 4567. doi:10.21105/joss.04567
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from securindex.errors import SpecError

if TYPE_CHECKING:
    from securindex.framework import Framework
    from securindex.result import IndexResult

__all__ = ["WeightOptimisation", "compare_results", "leave_one_out", "optimise_weights"]

Correlation = Literal["pearson", "spearman"]


def _rebuild(result: IndexResult, node: str, weights: Mapping[str, float]) -> IndexResult:
    """The full build with node ``node``'s children weighted ``weights`` (stages reused)."""
    framework = result.framework.with_weights(node, weights)
    return framework.compute_values(
        result.indicator_values, result.groups, previous=result, data_name=result.data_name
    )


class _Scorer:
    """Node scores of a build under other nominal weights, from its normalised values:
    the plan's node rules over the stored stage, no framework rebuilt (fast enough for an
    optimiser's hundreds of trials)."""

    def __init__(self, result: IndexResult) -> None:
        from securindex.plan import StepPlan, compile_plan
        from securindex.spec.framework import Step

        self.framework = result.framework
        self.plan = compile_plan(result.framework)
        self.explicit = StepPlan.of("weight", Step(method="explicit"))
        self.x = result.normalised.to_numpy(dtype=np.float64)
        self.index = result.normalised.index
        self.groups = (
            result.groups.reindex(self.index)
            if len(result.groups.columns)
            else (pd.DataFrame(index=self.index))
        )
        codes, _ = pd.factorize(self.index.get_level_values("period"), sort=True)
        self.codes = np.asarray(codes, dtype=np.int64)
        self.parents = result.framework.parents
        self.base = np.asarray(result.scores[list(self.plan.node_order)].to_numpy(), order="F")

    def _above(self, nodes: set[str]) -> set[str]:
        """The nodes and all their ancestors."""
        out, pending = set(nodes), list(nodes)
        while pending:
            for parent in self.parents.get(pending.pop(), ()):
                if parent not in out:
                    out.add(parent)
                    pending.append(parent)
        return out

    def scores(self, weights: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
        """Every node's scores with ``weights`` (node → child → nominal weight); only the
        nodes whose weights change and their ancestors are scored again."""
        again = self._above(set(weights))
        nodes = []
        for node in self.plan.nodes:
            if node.id not in again:
                continue
            change = weights.get(node.id)
            if change:
                nominal = tuple(
                    float(change.get(c, w))
                    for c, w in zip(node.children, node.nominal, strict=True)
                )
                node = replace(node, nominal=nominal, weight=self.explicit)
            nodes.append(node)
        plan = replace(self.plan, nodes=tuple(nodes))
        start = np.array(self.base, order="F", copy=True)
        values = self.framework.score_nodes(plan, self.x, self.index, self.groups, scores=start)
        return pd.DataFrame(values, index=self.index, columns=list(plan.node_order))

    def ranks(self, scores: pd.DataFrame, node: str) -> pd.Series:
        from securindex.plan import rank_within_periods

        column = list(self.plan.node_order).index(node)
        better = self.plan.higher_is_better[column]
        ranked = rank_within_periods(scores[[node]].to_numpy(), self.codes, better)
        return pd.Series(ranked[:, 0], index=self.index, name=node)

    def component(self, scores: pd.DataFrame, item: str) -> pd.Series:
        if item in scores.columns:
            return scores[item]
        position = list(self.plan.indicators).index(item)
        return pd.Series(self.x[:, position], index=self.index, name=item)


def _correlations(
    scorer: _Scorer,
    scores: pd.DataFrame,
    children: Sequence[str],
    against: str,
    method: Correlation,
) -> np.ndarray:
    columns = [scorer.component(scores, c) for c in children] + [scores[against]]
    frame = pd.concat(columns, axis=1).dropna()
    if method == "spearman":
        frame = frame.rank()
    r = np.corrcoef(frame.to_numpy(dtype=np.float64), rowvar=False)
    return np.asarray(r[:-1, -1], dtype=np.float64)


@dataclass(frozen=True)
class WeightOptimisation:
    """The result of :func:`optimise_weights`.

    Attributes
    ----------
    weights : pandas.Series
        The optimised weights of the node's children, summing to 1 [unitless].
    table : pandas.DataFrame
        Per child: ``target`` (the normalised target importance, NaN for ``infomax``),
        ``obtained`` (its correlation with the index, normalised to sum 1 for
        ``balance``), ``correlation`` (the plain correlation) and ``weight``.
    result : IndexResult
        The index built with the optimised weights.
    converged : bool
        Whether the optimiser met its tolerance within ``max_iter``.
    objective : float
        The objective at the optimum (``balance``: the mean squared difference of the
        normalised correlations from the target; ``infomax``: minus their sum).
    """

    weights: pd.Series
    table: pd.DataFrame
    result: IndexResult
    converged: bool
    objective: float


def optimise_weights(
    result: IndexResult,
    node: str,
    target: Sequence[float] | str = "equal",
    *,
    against: str | None = None,
    objective: Literal["balance", "infomax"] = "balance",
    correlation: Correlation = "pearson",
    tol: float = 1e-4,
    max_iter: int = 500,
) -> WeightOptimisation:
    r"""Weights of a node's children whose influence on the index matches target importances.

    The influence of a child is its correlation with the index; it depends on the weights
    *and* on the correlations between the children, so equal weights do not give equal
    influence. The weights are found by a Nelder–Mead search (COINr's ``get_opt_weights``,
    after Becker et al. 2017), each trial rebuilding the index from the normalised data.

    Parameters
    ----------
    result : IndexResult
        A build of the framework.
    node : str
        The node whose children's weights are optimised (the root: the framework id).
    target : "equal" or sequence of float, default "equal"
        Relative target importances, one per child, in the node's order (``[1, 2]``: the
        second twice as important) [unitless, > 0]. Ignored by ``infomax``.
    against : str, optional
        The node whose scores the children are correlated with (default: the root).
    objective : {"balance", "infomax"}, default "balance"
        ``balance``: minimise :math:`\frac1k \sum_i (t_i - c_i/\sum_j c_j)^2` (target
        :math:`t`, correlations :math:`c`); ``infomax``: maximise :math:`\sum_i c_i`.
    correlation : {"pearson", "spearman"}, default "pearson"
    tol : float, default 1e-4
        Tolerance of the search: the normalised correlations are matched to about ``tol``
        [unitless] (COINr's ``toler``, on the log of the squared error, defaults to 0.1).
    max_iter : int, default 500
        Most iterations of the search [count].

    Returns
    -------
    WeightOptimisation

    Raises
    ------
    SpecError
        An unknown node, a node with a single child, a node scored by a formula, or a
        target of the wrong length or sign.

    Notes
    -----
    Weights are kept positive and summing to 1 by searching over :math:`|p|/\sum|p|`.
    The search starts at the target (``balance``) or at the current weights.

    References
    ----------
    .. [1] Becker et al. (2017). doi:10.1016/j.ecolind.2017.03.056
    .. [2] COINr 1.1.14, ``get_opt_weights`` (Nelder–Mead through ``stats::optim``).
    """
    from scipy.optimize import minimize

    framework = result.framework
    if node not in framework.children:
        raise SpecError(f"unknown node '{node}'; nodes are {list(framework.node_order)}")
    if node in framework.formulas:
        raise SpecError(f"node '{node}' is scored by its formula: it has no weights to optimise")
    children = list(framework.children[node])
    if len(children) < 2:
        raise SpecError(f"node '{node}' has a single child: its weight cannot be optimised")
    if objective not in ("balance", "infomax"):
        raise SpecError(f"objective must be 'balance' or 'infomax'; got {objective!r}")
    k = len(children)
    goal = np.ones(k) if isinstance(target, str) and target == "equal" else None
    if goal is None:
        if isinstance(target, str):
            raise SpecError(f"target must be 'equal' or {k} numbers; got {target!r}")
        goal = np.asarray(target, dtype=np.float64)
        if goal.shape != (k,) or not np.all(np.isfinite(goal)) or np.any(goal <= 0):
            raise SpecError(
                f"target must be {k} positive numbers, one per child of '{node}' {children}; "
                f"got {list(np.ravel(target))}"
            )
    goal = goal / goal.sum()
    against = against or framework.id
    start = goal if objective == "balance" else result.weights[node].to_numpy(dtype=np.float64)
    scorer = _Scorer(result)
    cache: dict[tuple[float, ...], tuple[float, np.ndarray]] = {}

    def evaluate(p: np.ndarray) -> tuple[float, np.ndarray]:
        w = np.abs(p) / max(np.abs(p).sum(), 1e-300)
        key = tuple(np.round(w, 14))
        if key not in cache:
            scores = scorer.scores({node: dict(zip(children, w.tolist(), strict=True))})
            c = _correlations(scorer, scores, children, against, correlation)
            if objective == "balance":
                share = c / c.sum()
                value = float(np.mean((goal - share) ** 2))
            else:
                value = -float(c.sum())
            cache[key] = (value, c)
        return cache[key]

    found = minimize(
        lambda p: evaluate(p)[0],
        start,
        method="Nelder-Mead",
        options={
            "xatol": 1e-6,
            "fatol": tol**2 if objective == "balance" else tol,
            "maxiter": max_iter,
        },
    )
    weights = np.abs(found.x) / np.abs(found.x).sum()
    value, c = evaluate(found.x)
    built = _rebuild(result, node, dict(zip(children, weights.tolist(), strict=True)))
    obtained = c / c.sum() if objective == "balance" else c
    table = pd.DataFrame(
        {
            "target": goal if objective == "balance" else np.nan,
            "obtained": obtained,
            "correlation": c,
            "weight": weights,
        },
        index=pd.Index(children, name="child"),
    )
    return WeightOptimisation(
        weights=pd.Series(weights, index=children, name=node),
        table=table,
        result=built,
        converged=bool(found.success),
        objective=value,
    )


def _zeroed(scorer: _Scorer, framework: Framework, item: str) -> dict[str, dict[str, float]]:
    """Weights that leave ``item`` out: 0 under each of its parents (a parent left with no
    weight is itself given 0 under its parents, and so on up)."""
    plan = {n.id: n for n in scorer.plan.nodes}
    changes: dict[str, dict[str, float]] = {}
    pending = [item]
    while pending:
        child = pending.pop()
        for parent in framework.parents.get(child, ()):
            node = plan[parent]
            row = changes.setdefault(parent, dict(zip(node.children, node.nominal, strict=True)))
            row[child] = 0.0
            if not any(v > 0 for v in row.values()):
                if parent == framework.id:
                    raise SpecError(f"leaving '{item}' out leaves the index without any weight")
                del changes[parent]
                pending.append(parent)
    return changes


def leave_one_out(
    result: IndexResult, items: Sequence[str] | str, *, node: str | None = None
) -> pd.DataFrame:
    """Each component's weight set to 0 in turn: how the index's ranks move (COINr's
    ``remove_elements``).

    Parameters
    ----------
    result : IndexResult
        A build of the framework.
    items : sequence of str, or a node id
        The components left out one at a time (indicators or nodes); a node id stands for
        its children (``"idx"``: the pillars under the root).
    node : str, optional
        The node whose ranks are compared (default: the root).

    Returns
    -------
    pandas.DataFrame
        One row per component left out: ``mean_abs_rank_change`` and
        ``max_abs_rank_change`` [ranks], over the rows ranked in both builds. ``.attrs``
        holds ``ranks`` (entity-period × component: the rank without it) and
        ``nominal`` (the nominal ranks).

    Raises
    ------
    SpecError
        An unknown component, or one whose removal leaves the index without weight.

    Notes
    -----
    "Leaving out" is COINr's: the component's weight becomes 0 (its siblings' weights are
    renormalised), which is a removal for every mean that ignores zero weights. Below a
    formula node, a left-out child is refused: a formula cannot do without a term.
    """
    framework = result.framework
    target = node or framework.id
    if isinstance(items, str):
        if items not in framework.children:
            raise SpecError(f"unknown node '{items}'; nodes are {list(framework.node_order)}")
        items = list(framework.children[items])
    nominal = result.ranks[target]
    scorer = _Scorer(result)
    ranks: dict[str, pd.Series] = {}
    rows = []
    for item in items:
        if item not in framework.parents:
            raise SpecError(f"'{item}' is not a component of the framework")
        formulas = [p for p in framework.parents[item] if p in framework.formulas]
        if formulas:
            raise SpecError(
                f"'{item}' is named by the formula of '{formulas[0]}', which cannot do without it"
            )
        ranked = scorer.ranks(scorer.scores(_zeroed(scorer, framework, item)), target)
        ranks[item] = ranked
        change = (ranked - nominal).abs()
        rows.append(
            {
                "left_out": item,
                "mean_abs_rank_change": float(change.mean()),
                "max_abs_rank_change": float(change.max()),
            }
        )
    table = pd.DataFrame(rows).set_index("left_out")
    table.attrs["ranks"] = pd.DataFrame(ranks)
    table.attrs["nominal"] = nominal
    return table


def compare_results(
    first: IndexResult, second: IndexResult, *, node: str | None = None
) -> pd.DataFrame:
    """Two builds side by side, entity by entity (COINr's ``compare_coins``).

    Parameters
    ----------
    first, second : IndexResult
        Two builds (two frameworks, or one framework with a step changed) over the same
        entities and periods; rows of either alone are kept with NaN for the other.
    node : str, optional
        The node compared (default: the first build's root; it must exist in both).

    Returns
    -------
    pandas.DataFrame
        Indexed by (entity, period): ``score_first``, ``score_second``, ``rank_first``,
        ``rank_second``, ``rank_change`` (second − first; negative = moved up) and
        ``abs_rank_change`` [ranks], sorted by the absolute change, largest first.
        ``.attrs["mean_abs_rank_change"]`` summarises it.

    Raises
    ------
    SpecError
        The node is missing from one of the builds.
    """
    node = node or first.framework.id
    missing = [i for i, r in enumerate((first, second)) if node not in r.scores.columns]
    if missing:
        raise SpecError(f"node '{node}' is not in build {missing[0] + 1}")
    table = pd.concat(
        {
            "score_first": first.scores[node],
            "score_second": second.scores[node],
            "rank_first": first.ranks[node],
            "rank_second": second.ranks[node],
        },
        axis=1,
    )
    table["rank_change"] = table["rank_second"] - table["rank_first"]
    table["abs_rank_change"] = table["rank_change"].abs()
    table = table.sort_values("abs_rank_change", ascending=False, kind="stable")
    table.attrs["mean_abs_rank_change"] = float(table["abs_rank_change"].mean())
    return table
