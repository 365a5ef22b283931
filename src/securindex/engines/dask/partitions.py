"""The plan applied to one partition, with what the learning passes learnt.

Screen, impute, treat, normalise and aggregate per partition; the audit rows of a
partition; the ranks within periods by binary search in the gathered sorted scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, PERIOD
from securindex.methods.normalise import run_normaliser
from securindex.methods.treat import treaters
from securindex.plan import AUDIT_COLUMNS, Plan, audit_frame
from securindex.plan.rules import score_node, weight_total


@dataclass
class LearntTreatment:
    """A treat group and what its method learnt from the merged summaries."""

    columns: list[int]
    method: str
    params: dict[str, Any]
    learnt: Any

    @property
    def report(self) -> list[dict[str, Any]]:
        return list(getattr(self.learnt, "report", []))

    @property
    def transform(self) -> list[str]:
        """Per column, the transform applied (a method without a learnt treatment
        transforms its whole columns, as :func:`run_treater` records it)."""
        return list(getattr(self.learnt, "transform", [self.method] * len(self.columns)))


def treat_apply(X: np.ndarray, groups: Sequence[LearntTreatment]) -> np.ndarray:
    out = X.copy()
    for group in groups:
        entry = treaters.get(group.method)
        cols = group.columns
        if entry.apply is not None:
            out[:, cols] = entry.apply(X[:, cols], learnt=group.learnt, **group.params)
        elif entry.learn is not None:  # a learn/apply pair: func applies
            out[:, cols] = _values(entry.func(X[:, cols], learnt=group.learnt, **group.params))
        else:  # learns nothing: the method itself, on the partition
            out[:, cols] = _values(entry.func(X[:, cols], **group.params))
    return out


def _values(result: Any) -> np.ndarray:
    """A treat method's values (a Treated, or a plain array)."""
    return np.asarray(getattr(result, "values", result), dtype=np.float64)


@dataclass
class LearntNormalisation:
    columns: list[int]
    method: str
    params: dict[str, Any]
    mode: str
    learnt: dict[Any, dict[str, np.ndarray]]  # reference key (None, or a period) → learnt


@dataclass
class PartitionPlan:
    ids: list[str]
    groups: list[str]
    plan: Plan
    screen_on: str = "raw"  # screen the raw values, or the imputed ones
    impute_periods: np.ndarray | None = None  # sorted periods of the rows imputed
    impute: dict[str, Any] | None = None
    treat: list[LearntTreatment] | None = None
    normalise: list[LearntNormalisation] | None = None
    weights: dict[str, np.ndarray] | None = None
    n_rows: int = 0  # rows of the panel, to size what is gathered at once
    periods: np.ndarray | None = None  # sorted periods of the screened rows


def _stage_frame(
    part: pd.DataFrame, X: np.ndarray, ids: Sequence[str], carry: Sequence[str] = ()
) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=list(ids), index=part.index, copy=False)  # X is fresh
    return pd.concat([part[[ENTITY, PERIOD, *carry]], frame], axis=1).reset_index(drop=True)


def _labels(part: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [part[ENTITY].to_numpy(), part[PERIOD].to_numpy()], names=[ENTITY, PERIOD]
    )


def _screen_apply(
    X: np.ndarray, part: pd.DataFrame, plan: PartitionPlan, audit: list[pd.DataFrame] | None
) -> np.ndarray:
    step = plan.plan.screen
    params = step.kwargs()
    keep = np.asarray(step.method(X, **params), dtype=bool)
    if audit is not None and not keep.all():
        dropped = np.flatnonzero(~keep)
        share = (~np.isnan(X[dropped])).mean(axis=1)
        audit.append(
            audit_frame(
                "screen",
                _labels(part),
                dropped,
                "row",
                "excluded",
                share,
                np.nan,
                f"{step.name} {params}: share of indicators present",
            )
        )
    return keep


def run_partition(
    part: pd.DataFrame,
    plan: PartitionPlan,
    upto: str,
    carry: Sequence[str] = (),
    arrays: bool = False,
) -> Any:
    """Apply the planned steps to one partition of indicator values.

    ``upto`` picks the output: a stage (``raw``, ``imputed``, ``treated``, ``normalised``),
    the node ``scores``, or the ``audit`` rows of this partition; ``carry`` adds group
    columns to a stage.
    """
    ids = plan.ids
    audit: list[pd.DataFrame] | None = [] if upto == "audit" else None
    X = part[ids].to_numpy(dtype=np.float64, copy=True)
    if plan.screen_on == "raw":
        keep = _screen_apply(X, part, plan, audit)
        part, X = part.loc[keep], X[keep]
        if upto == "raw":
            return (part, X) if arrays else _stage_frame(part, X, ids, carry)
        X, imputed = _impute_apply(X, part, plan)
    else:
        if upto == "raw" and plan.impute is None:
            return (part, X) if arrays else _stage_frame(part, X, ids, carry)
        filled, imputed = _impute_apply(X, part, plan)
        keep = _screen_apply(filled, part, plan, audit)
        part, raw, X, imputed = part.loc[keep], X[keep], filled[keep], imputed[keep]
        if upto == "raw":
            return (part, raw) if arrays else _stage_frame(part, raw, ids, carry)
    return _from_imputed(part, X, imputed, plan, upto, carry, arrays, audit)


def _from_imputed(
    part: pd.DataFrame,
    X: np.ndarray,
    imputed: np.ndarray,
    plan: PartitionPlan,
    upto: str,
    carry: Sequence[str],
    arrays: bool,
    audit: list[pd.DataFrame] | None,
) -> Any:
    """The steps after imputation on one partition (see :func:`run_partition`)."""
    ids = plan.ids
    labels = _labels(part) if audit is not None else None
    if audit is not None and labels is not None:
        rows, cols = np.nonzero(imputed)
        if len(rows):
            audit.append(
                audit_frame(
                    "impute",
                    labels,
                    rows,
                    np.asarray(ids, dtype=object)[cols],
                    "imputed",
                    np.nan,
                    X[rows, cols],
                    plan.plan.impute.name,
                )
            )
    if upto == "imputed":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    if plan.treat is None:
        raise RuntimeError("treatment not planned")  # pragma: no cover - engine order
    before = X
    X = treat_apply(X, plan.treat)
    if audit is not None and labels is not None:
        for group in plan.treat:
            cols = np.asarray(group.columns)
            changed = ~np.isnan(before[:, cols]) & (X[:, cols] != before[:, cols])
            changed[:, [t != "none" for t in group.transform]] = False
            rows, local = np.nonzero(changed)
            if len(rows):
                c = cols[local]
                audit.append(
                    audit_frame(
                        "treat",
                        labels,
                        rows,
                        np.asarray(ids, dtype=object)[c],
                        "winsorised",
                        before[rows, c],
                        X[rows, c],
                        group.method,
                    )
                )
    if upto == "treated":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    if plan.normalise is None:
        raise RuntimeError("normalisation not planned")  # pragma: no cover - engine order
    X = _normalise_apply(X, part, plan)
    if upto == "normalised":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    scores = _aggregate_apply(X, part, plan, audit)
    if audit is not None:
        frames = [a for a in audit if len(a)]
        if not frames:
            return empty_audit()
        return audit_types(pd.concat(frames, ignore_index=True))
    frame = pd.DataFrame(scores, columns=list(plan.plan.node_order), index=part.index)
    return pd.concat([part[[ENTITY, PERIOD]], frame], axis=1).reset_index(drop=True)


_AUDIT_TEXT = ("stage", "entity", "period", "item", "action", "detail")


def audit_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Audit rows with text ids (entity and period as written) and float before/after, so
    that every partition and the Parquet files share one schema."""
    types: dict[str, Any] = dict.fromkeys(_AUDIT_TEXT, "string")
    types.update(before=np.float64, after=np.float64)
    out = frame.astype(types)
    return out


def empty_audit() -> pd.DataFrame:
    return audit_types(pd.DataFrame({c: pd.Series(dtype=object) for c in AUDIT_COLUMNS}))


# -- impute ----------------------------------------------------------------------------------
def key_index(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Index:
    """The imputation key of each row: (group, period) values, or a single key 0."""
    if not keys:
        return pd.Index(np.zeros(len(frame), dtype=np.int64), name="all")
    return pd.MultiIndex.from_arrays([frame[c].to_numpy() for c in keys], names=list(keys))


def _impute_apply(
    X: np.ndarray, part: pd.DataFrame, plan: PartitionPlan
) -> tuple[np.ndarray, np.ndarray]:
    spec = plan.impute
    if spec is None or not len(X) or not np.isnan(X).any():
        return X, np.zeros(X.shape, dtype=bool)
    step = plan.plan.impute
    if spec["kind"] == "table":  # a statistic per key, learnt from every partition
        table: pd.DataFrame = spec["table"]
        rows = table.index.get_indexer(key_index(part, spec["keys"]))
        stats = np.full((len(X), X.shape[1]), np.nan)
        found = rows >= 0
        stats[found] = table.to_numpy()[rows[found]]
        filled = np.where(np.isnan(X), stats, X)
        return filled, np.isnan(X) & ~np.isnan(filled)
    # entity-local (whole entities in the partition) or row-local: the method itself
    entity, _ = pd.factorize(part[ENTITY], sort=True)
    periods = part[PERIOD]
    if pd.api.types.is_numeric_dtype(periods):  # years keep their spacing, as in pandas
        period = periods.to_numpy(dtype=np.float64)
    else:
        assert plan.impute_periods is not None
        period = np.searchsorted(plan.impute_periods, periods.to_numpy()).astype(np.int64)
    result = step.method(
        X, entity=entity.astype(np.int64), period=period, groups=None, **step.kwargs()
    )
    return result.values, result.imputed


# -- normalise -------------------------------------------------------------------------------
def _normalise_apply(X: np.ndarray, part: pd.DataFrame, plan: PartitionPlan) -> np.ndarray:
    assert plan.normalise is not None
    direction = plan.plan.directions
    out = np.full_like(X, np.nan)
    periods = part[PERIOD].to_numpy()
    for group in plan.normalise:
        cols = np.asarray(group.columns)
        every = len(cols) == X.shape[1] and bool((cols == np.arange(len(cols))).all())
        rows_of: list[tuple[Any, np.ndarray | None]]
        if group.mode == "per_period":
            rows_of = [(p, periods == p) for p in pd.unique(periods)]
        else:  # every row: the columns without a copy of the block
            rows_of = [(None, None)]
        for key, rows in rows_of:  # a loop over periods, not rows
            block = (X if every else X[:, cols]) if rows is None else X[np.ix_(rows, cols)]
            values = run_normaliser(
                group.method,
                block,
                direction=direction[cols],
                learnt=group.learnt[key],
                **group.params,
            ).values
            if rows is None:
                out[:, cols] = values
            else:
                out[np.ix_(rows, cols)] = values
    return out


# -- aggregate -------------------------------------------------------------------------------
def _aggregate_apply(
    X: np.ndarray, part: pd.DataFrame, plan: PartitionPlan, audit: list[pd.DataFrame] | None
) -> np.ndarray:
    """Score every node with the node rules every engine uses, on this partition's rows."""
    assert plan.weights is not None
    nodes = plan.plan.nodes
    scores = np.empty((len(X), len(plan.plan.node_order)), dtype=np.float64)
    labels = _labels(part)
    codes = np.zeros(len(X), dtype=np.int64)  # row-wise rules never compare rows
    for node in nodes:
        if len(X):
            block = np.column_stack(
                [X[:, k] if kind == "indicator" else scores[:, k] for kind, k in node.sources]
            )
        else:
            block = np.zeros((0, len(node.children)))
        w = plan.weights[node.id]
        result = score_node(
            node,
            block,
            w,
            {},
            total=weight_total(w),
            period_codes=codes,
            labels=lambda rows: list(labels[rows]),
        )
        if audit is not None:
            for event in result.unscored:
                audit.append(
                    audit_frame(
                        "aggregate",
                        labels,
                        event.rows,
                        node.id,
                        "not scored",
                        event.before,
                        np.nan,
                        event.detail,
                    )
                )
        scores[:, node.column] = result.values
    return scores


def next_stage(part: pd.DataFrame, plan: PartitionPlan, name: str) -> pd.DataFrame:
    X = part[plan.ids].to_numpy(dtype=np.float64)
    if name == "treated":
        assert plan.treat is not None
        Y = treat_apply(X, plan.treat)
    elif name == "normalised":
        Y = _normalise_apply(X, part, plan)
    else:  # scores
        Y = _aggregate_apply(X, part, plan, None)
        frame = pd.DataFrame(Y, columns=list(plan.plan.node_order), index=part.index)
        return pd.concat([part[[ENTITY, PERIOD]], frame], axis=1).reset_index(drop=True)
    # the stage's values as one new block beside the partition's ids and groups (the ids
    # come last in every stage), rather than a copy of the partition written column-wise
    kept = [c for c in part.columns if c not in set(plan.ids)]
    block = pd.DataFrame(Y, columns=list(plan.ids), index=part.index, copy=False)
    return pd.concat([part[kept], block], axis=1)


def ranks_partition(
    part: pd.DataFrame,
    sorted_scores: Mapping[str, Mapping[Any, np.ndarray]],
    signs: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Ranks within each period, 1 = best: the highest score, or the lowest for a node with
    ``higher_is: worse`` (its scores enter with sign −1, here and in ``sorted_scores``)."""
    out = part.copy()
    periods = part[PERIOD].to_numpy()
    for node, by_period in sorted_scores.items():
        rank = np.full(len(part), np.nan)
        values = (signs or {}).get(node, 1.0) * part[node].to_numpy(dtype=np.float64)
        for period in pd.unique(periods):  # a loop over periods
            rows = periods == period
            reference = by_period.get(period, np.zeros(0))
            greater = len(reference) - np.searchsorted(reference, values[rows], side="right")
            rank[rows] = np.where(np.isnan(values[rows]), np.nan, 1.0 + greater)
        out[f"rank_{node}"] = pd.array(rank, dtype="Float64").astype("Int64")
    return out
