"""Learning passes: per-partition summaries merged by tree reduction, one pass per stage.

Each step's requests (:class:`_Request`) are fused into one pass over the stage they
learn from; ``learn_*`` turn the merged summaries into what the partitions apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from securindex.dataset import PERIOD
from securindex.engines.dask.cluster import compute_all, shared_key, tree_reduce
from securindex.engines.dask.partitions import (
    LearntNormalisation,
    LearntTreatment,
    PartitionPlan,
    key_index,
    next_stage,
    run_partition,
)
from securindex.errors import DataError, SpecError
from securindex.methods._statistics import (
    ColumnSummary,
    Moments,
    Sample,
    Statistic,
    column_moments,
    moment_shape,
    statistic_of,
)
from securindex.methods.normalise import run_normaliser
from securindex.methods.treat import fails_rule, treaters
from securindex.methods.weight import overall_weights
from securindex.plan import Plan
from securindex.plan.rules import node_weights, normalisation_rows


def treatment_of_columns(
    method: str,
    params: Mapping[str, Any],
    summary: ColumnSummary,
    columns: list[int],
    skew_max: float,
    kurt_max: float,
    winmax: int,
) -> LearntTreatment:
    """The treatment of some columns learnt from their merged summary by the method itself."""
    entry = treaters.get(method)
    assert entry.learn_from is not None
    full = {"skew_max": skew_max, "kurt_max": kurt_max, **dict(params)}
    return LearntTreatment(list(columns), method, dict(params), entry.learn_from(summary, **full))


@dataclass(frozen=True)
class _Request:
    """One statistic to learn in a pass: columns of a stage, summarised per key.

    ``by`` splits the rows by a column's values (a per-period reference, imputation keys);
    ``only`` keeps the rows of one period (a base period).
    """

    statistic: Statistic
    columns: tuple[int, ...]
    by: tuple[str, ...] = ()
    only: Any = None


def _summary_chunk(
    part: pd.DataFrame, plan: PartitionPlan, upto: str | None, requests: Sequence[_Request]
) -> tuple[list[dict[Any, Any]], np.ndarray, int]:
    """One partition's summaries for every request, its distinct periods and its rows.

    ``upto`` None: the partition already is the stage (persisted); else the steps up to
    ``upto`` are applied first.
    """
    if upto is None:
        rows, X = part, part[plan.ids].to_numpy(dtype=np.float64)
    else:
        rows, X = run_partition(part, plan, upto, carry=plan.groups, arrays=True)
    out: list[dict[Any, Any]] = []
    for request in requests:
        block = _columns(X, request.columns)
        keep = None
        if request.only is not None:
            keep = rows[PERIOD].to_numpy() == request.only
            block = block[keep]
        if not request.by:
            out.append({None: request.statistic.summarise(block)})
            continue
        frame = rows if keep is None else rows.loc[keep]
        if len(request.by) == 1:
            codes, uniques = pd.factorize(frame[request.by[0]].to_numpy())
        else:
            codes, uniques = pd.factorize(key_index(frame, list(request.by)))
        out.append(
            {
                uniques[c]: request.statistic.summarise(block[codes == c])
                for c in range(len(uniques))
            }
        )
    return out, np.asarray(pd.unique(rows[PERIOD].to_numpy())), len(part)


def _columns(X: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """``X[:, columns]``: a view when the columns are a contiguous run, else a copy."""
    first = columns[0] if len(columns) else 0
    if list(columns) == list(range(first, first + len(columns))):
        return X[:, first : first + len(columns)]
    return X[:, list(columns)]


def _merge_chunks(
    parts: Sequence[tuple[list[dict[Any, Any]], np.ndarray, int]], requests: Sequence[_Request]
) -> tuple[list[dict[Any, Any]], np.ndarray, int]:
    merged: list[dict[Any, Any]] = []
    for r, request in enumerate(requests):
        by_key: dict[Any, list[Any]] = {}
        for summaries, _, _ in parts:
            for key, summary in summaries[r].items():
                by_key.setdefault(key, []).append(summary)
        merged.append({key: request.statistic.combine(items) for key, items in by_key.items()})
    periods = np.asarray(pd.unique(np.concatenate([p for _, p, _ in parts])))
    return merged, periods, sum(n for *_, n in parts)


def learning_pass(
    stage: Any,
    plan: PartitionPlan,
    upto: str | None,
    requests: Sequence[_Request],
    info: dict[str, Any],
) -> tuple[list[dict[Any, Any]], np.ndarray, int]:
    """Every request of a stage in one pass over its partitions (read once), merged by a
    tree reduction; with the stage's sorted periods and number of rows."""
    from dask import delayed

    shared, requests = shared_key(plan), list(requests)
    chunks = [delayed(_summary_chunk)(p, shared, upto, requests) for p in stage.to_delayed()]
    tree = tree_reduce(chunks, lambda parts: _merge_chunks(parts, requests))
    (result,) = compute_all(tree)
    info["passes"] += 1
    merged, periods, n_rows = result
    return merged, np.sort(periods), int(n_rows)


def run_stage(
    source: Any,
    plan: PartitionPlan,
    upto: str,
    persist: bool,
    client: Any,
    carry: Sequence[str] = (),
) -> Any:
    """A stage's partitions (with group columns), persisted when asked: the next learning
    pass reads it once instead of re-running the earlier steps."""
    meta = run_partition(source._meta, plan, upto, carry)
    frame = source.map_partitions(run_partition, shared_key(plan), upto, carry, meta=meta)
    if not persist:
        return frame
    return client.persist(frame) if client is not None else frame.persist()


def apply_stage(source: Any, plan: PartitionPlan, persist: bool, client: Any, name: str) -> Any:
    """The next stage computed from a persisted one (``treated`` from ``imputed`` …)."""
    meta = next_stage(source._meta, plan, name)
    frame = source.map_partitions(next_stage, shared_key(plan), name, meta=meta)
    if not persist:
        return frame
    return client.persist(frame) if client is not None else frame.persist()


# -- impute ----------------------------------------------------------------------------------
def request_impute(plan: PartitionPlan) -> _Request | None:
    """The statistic imputation learns (per group and period key), or None."""
    step = plan.plan.impute
    method = step.method
    if method.panel or not method.learns:
        plan.impute = {"kind": "rows"}
        return None
    group = plan.plan.impute_group
    if group is not None and group not in plan.groups:
        raise SpecError(
            f"impute group column '{group}' is not a group of the data; groups are "
            f"{plan.groups} (declare it under 'groups' in the data dictionary)"
        )
    keys = ([group] if group else []) + ([PERIOD] if step.params.get("within_period") else [])
    statistic = statistic_of(method, step.params) or Sample()
    return _Request(statistic, tuple(range(len(plan.ids))), by=tuple(keys))


def learn_impute(plan: PartitionPlan, request: _Request, merged: dict[Any, Any]) -> None:
    """Fill values per key: a statistic's own (moments: the mean) or, from the gathered
    sample, what the method itself fills a missing row of the key with."""
    step = plan.plan.impute
    keys = list(request.by)
    labels = list(merged)
    if isinstance(request.statistic, Moments):
        table = np.vstack(
            [request.statistic.learnt(merged[key])[request.statistic.keys[0]] for key in labels]
        )
    else:  # the method on each key's sample with one extra missing row to fill
        rows = []
        for key in labels:
            values = np.vstack([merged[key], np.full((1, len(plan.ids)), np.nan)])
            codes = np.zeros(len(values), dtype=np.int64)
            result = step.method(values, groups=codes, entity=codes, period=codes, **step.kwargs())
            rows.append(np.asarray(result.values)[-1])
        table = np.vstack(rows) if rows else np.zeros((0, len(plan.ids)))
    if keys:
        index: pd.Index = pd.MultiIndex.from_tuples(
            [k if isinstance(k, tuple) else (k,) for k in labels], names=keys
        )
    else:
        index = pd.Index([0] * len(labels), name="all")
    plan.impute = {
        "kind": "table",
        "table": pd.DataFrame(table, index=index, columns=plan.ids),
        "keys": keys,
    }


# -- treat -----------------------------------------------------------------------------------
def request_treat(plan: PartitionPlan) -> list[_Request]:
    requests = []
    for group in plan.plan.treat:
        method = group.step.method
        if method.learn_from is not None:
            statistic = statistic_of(method, group.step.params) or Moments()
        elif method.learn is not None:
            statistic = Sample()
        else:
            continue
        requests.append(_Request(statistic, group.positions))
    return requests


def learn_treat(plan: PartitionPlan, merged: Sequence[dict[Any, Any]]) -> pd.DataFrame:
    ids = plan.ids
    planned: list[LearntTreatment] = []
    records: list[dict[str, Any]] = []
    summaries = iter(merged)
    for group in plan.plan.treat:
        step, columns = group.step, list(group.positions)
        method, params = step.method, step.kwargs()
        if method.learn_from is not None:
            summary = next(summaries)[None]
            planned.append(treatment_of_columns(step.name, params, summary, columns, 2.0, 3.5, 0))
        elif method.learn is not None:
            sample = next(summaries)[None]
            planned.append(
                LearntTreatment(columns, step.name, params, method.learn(sample, **params))
            )
        else:
            probe = method.func(np.ones((2, len(columns))), **params)
            planned.append(LearntTreatment(columns, step.name, params, None))
            report = getattr(probe, "report", [])
            if report:
                raise SpecError(
                    f"treat method '{step.name}' reports statistics of whole columns but does "
                    "not learn them from partitions; declare statistic= and learn_from="
                )
        for record in planned[-1].report:
            fields = {k: v for k, v in record.items() if k != "column"}
            indicator = ids[columns[int(record.get("column", 0))]]
            records.append({"indicator": indicator, **fields, "method": step.name})
    plan.treat = planned
    frame = pd.DataFrame(records)
    if not frame.empty:
        order = {i: k for k, i in enumerate(ids)}
        frame = frame.sort_values("indicator", key=lambda s: s.map(order), kind="stable")
    return frame.reset_index(drop=True)


def request_after_transform(plan: PartitionPlan) -> _Request | None:
    """Statistics of the transformed columns after treatment (for the report)."""
    transformed = sorted(
        {g.columns[j] for g in plan.treat or [] for j, t in enumerate(g.transform) if t != "none"}
    )
    return _Request(Moments(), tuple(transformed)) if transformed else None


def report_after(
    plan: PartitionPlan, treatment: pd.DataFrame, request: _Request, summary: ColumnSummary
) -> pd.DataFrame:
    ids = plan.ids
    for group in plan.treat or []:
        skew_max = float(group.params.get("skew_max", 2.0))
        kurt_max = float(group.params.get("kurt_max", 3.5))
        for local, record in enumerate(group.report):
            if group.transform[local] == "none":
                continue
            j = request.columns.index(group.columns[local])
            skew, kurt = moment_shape(column_moments(summary, j))
            passes = bool(~fails_rule(np.array(skew), np.array(kurt), skew_max, kurt_max))
            record.update(skew_after=skew, kurt_after=kurt, pass_after=passes)
            rows = treatment["indicator"] == ids[group.columns[local]]
            treatment.loc[rows, ["skew_after", "kurt_after", "pass_after"]] = [skew, kurt, passes]
    return treatment


# -- normalise -------------------------------------------------------------------------------
def request_normalise(plan: PartitionPlan) -> list[_Request | None]:
    """Per normalise group, what it learns from its reference sample (None: nothing)."""
    requests: list[_Request | None] = []
    assert plan.periods is not None
    for group in plan.plan.normalise:
        method = group.step.method
        if not method.learns:
            requests.append(None)
            continue
        if group.mode == "base" and group.base_period not in set(plan.periods.tolist()):
            raise DataError(
                f"normalise method '{method.name}' with reference: base needs base_period in "
                f"the data; got {group.base_period!r}, periods are {plan.periods.tolist()}"
            )
        statistic = statistic_of(method, group.step.params) or Sample()
        requests.append(
            _Request(
                statistic,
                group.positions,
                by=(PERIOD,) if group.mode == "per_period" else (),
                only=group.base_period if group.mode == "base" else None,
            )
        )
    return requests


def learn_normalise(
    plan: PartitionPlan, requests: Sequence[_Request | None], merged: Sequence[dict[Any, Any]]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Each group's statistics, learnt exactly from its reference rows; the normalisation
    table and per-indicator statistics in the pandas engine's format."""
    ids = plan.ids
    assert plan.periods is not None
    periods = plan.periods.tolist()
    direction = plan.plan.directions
    learnt: dict[str, dict[str, Any]] = {}
    table: list[dict[str, Any]] = []
    planned = []
    summaries = iter(merged)
    for group, request in zip(plan.plan.normalise, requests, strict=True):
        step, columns = group.step, list(group.positions)
        params, d = step.kwargs(), direction[columns]
        keys: list[Any] = periods if group.mode == "per_period" else [None]
        found = next(summaries) if request is not None else {}
        state = LearntNormalisation(columns, step.name, params, group.mode, learnt={})
        stats_by_key: dict[Any, dict[str, np.ndarray]] = {}
        for key in keys:
            if request is None:  # learns nothing from the data: what a probe returns
                result = run_normaliser(
                    step.method, np.ones((1, len(columns))), direction=d, **params
                )
                state.learnt[key] = dict(result.learnt)
            elif isinstance(request.statistic, Moments) and request.statistic.keys:
                state.learnt[key] = request.statistic.learnt(found[key])
                result = run_normaliser(
                    step.method,
                    np.ones((1, len(columns))),
                    direction=d,
                    learnt=state.learnt[key],
                    **params,
                )
            else:  # the method learns from the gathered reference sample itself
                sample = found[key]
                result = run_normaliser(
                    step.method, sample[:1], direction=d, reference=sample, **params
                )
                state.learnt[key] = dict(result.learnt)
            stats_by_key[key] = {**state.learnt[key], **result.flags}
        for local, column in enumerate(columns):
            indicator = ids[column]
            stats = _indicator_stats(stats_by_key, keys, local, group.mode, plan.periods)
            learnt[indicator] = stats
            table.extend(
                normalisation_rows(
                    indicator, step.name, group.mode, stats, plan.periods, group.base_period
                )
            )
        planned.append(state)
    plan.normalise = planned
    normalisation = pd.DataFrame(table)
    if not normalisation.empty:
        normalisation = normalisation.set_index("indicator")
    return normalisation, learnt


def _indicator_stats(
    stats_by_key: Mapping[Any, Mapping[str, np.ndarray]],
    keys: Sequence[Any],
    local: int,
    mode: str,
    periods: np.ndarray,
) -> dict[str, Any]:
    """One indicator's learnt statistics and flags, as the pandas engine records them
    (a leading period axis and the period codes for ``per_period``)."""

    def one(key: Any) -> dict[str, Any]:
        return {name: np.asarray(v)[..., local] for name, v in stats_by_key[key].items()}

    if mode != "per_period":
        return one(None)
    parts = [one(key) for key in keys]
    stats: dict[str, Any] = {}
    for name in parts[0]:
        arrays = [np.asarray(p[name]) for p in parts]
        if name == "reference" and len({a.shape for a in arrays}) > 1:
            width = max(a.shape[0] for a in arrays)
            arrays = [np.pad(a, (0, width - a.shape[0]), constant_values=np.nan) for a in arrays]
        stats[name] = np.stack(arrays)
    stats["period"] = np.searchsorted(periods, np.asarray(keys)).astype(np.float64)
    return stats


# -- weights ---------------------------------------------------------------------------------
def plan_weights(plan: PartitionPlan) -> tuple[dict[str, pd.Series], dict[str, dict[str, Any]]]:
    """Weights of every node (methods that run here learn nothing from the data)."""
    weights: dict[str, pd.Series] = {}
    info: dict[str, dict[str, Any]] = {}
    plan.weights = {}
    for node in plan.plan.nodes:
        w, learnt = node_weights(node, np.ones((1, len(node.children))))
        plan.weights[node.id] = w
        weights[node.id] = pd.Series(w, index=list(node.children), name=node.id)
        info[node.id] = learnt
    return weights, info


def node_effective_weights(plan: Plan, weights: Mapping[str, pd.Series]) -> pd.Series:
    children = {n.id: n.children for n in plan.nodes}
    overall = overall_weights(children, {k: v.to_numpy() for k, v in weights.items()})
    return pd.Series(overall, name="effective_weight").reindex(list(plan.indicators))
