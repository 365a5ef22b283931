"""Run a framework's pipeline: screen → impute → treat → normalise → weight → aggregate.

Every step works on the whole (rows × indicators) matrix at once; steps that differ per
indicator (overrides) run once per group of indicators sharing the same settings, and
aggregation runs once per node of the tree. No step loops over entities.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, PERIOD
from securindex.errors import DataError, SpecError
from securindex.framework import NORMALISE_REFERENCE_KEYS, Framework
from securindex.methods.aggregate import aggregators
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalise_by_period
from securindex.methods.screen import screeners
from securindex.methods.treat import treaters
from securindex.methods.weight import weighters
from securindex.result import AUDIT_COLUMNS, IndexResult
from securindex.spec.framework import Step

if TYPE_CHECKING:
    from securindex.catalogue import IndicatorValues
    from securindex.dataset import Panel

__all__ = ["build_index", "run_pipeline"]


def build_index(framework: Framework, data: Panel, **steps: Step | Mapping[str, Any]) -> IndexResult:
    """Compute the framework's indicators over ``data`` and build the index."""
    framework = framework.with_steps(**steps)
    values = framework.catalogue.compute(data, indicators=list(framework.indicators))
    return run_pipeline(framework, values, data.groups)


def _audit(
    stage: str,
    index: pd.MultiIndex,
    rows: np.ndarray,
    items: np.ndarray | list[str] | str,
    action: str,
    detail: np.ndarray | list[str] | str = "",
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stage": stage,
            "entity": index.get_level_values(ENTITY)[rows],
            "period": index.get_level_values(PERIOD)[rows],
            "item": items,
            "action": action,
            "detail": detail,
        },
        columns=AUDIT_COLUMNS,
    )


def _codes(values: pd.Index | pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(np.asarray(values), sort=True)
    return codes.astype(np.int64)


def _accepts(func: Any, name: str) -> bool:
    parameters = inspect.signature(func).parameters
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _grouped_columns(steps: list[Step]) -> dict[str, list[int]]:
    """Column positions sharing the same step settings."""
    groups: dict[str, list[int]] = {}
    for position, step in enumerate(steps):
        groups.setdefault(step.key(), []).append(position)
    return groups


def run_pipeline(framework: Framework, values: IndicatorValues, groups: pd.DataFrame) -> IndexResult:
    """Build the index from already computed indicator values."""
    ids = list(framework.indicators)
    pipeline = framework.spec.pipeline
    audit: list[pd.DataFrame] = []
    x = values.frame[ids].to_numpy(dtype=np.float64, copy=True)
    index = values.frame.index

    # screen: drop rows with too little data
    screen = screeners.get(pipeline.screen.method)
    keep = np.asarray(screen(x, **pipeline.screen.params), dtype=bool)
    if not keep.any():
        raise DataError(
            f"screening ({pipeline.screen.method}, {pipeline.screen.params}) removed every row; "
            "lower the threshold or check the data"
        )
    if not keep.all():
        dropped = np.flatnonzero(~keep)
        share = np.mean(~np.isnan(x[dropped]), axis=1)
        details = [f"{s:.0%} of indicators present" for s in share]
        audit.append(_audit("screen", index, dropped, "row", "excluded", details))
    x, index = x[keep], index[keep]
    row_groups = groups.reindex(index) if len(groups.columns) else pd.DataFrame(index=index)
    entity_codes = _codes(index.get_level_values(ENTITY))
    period_codes = _codes(index.get_level_values(PERIOD))
    raw = pd.DataFrame(x.copy(), index=index, columns=ids)

    # impute
    params = pipeline.impute.params
    group_column = params.pop("group", None)
    group_codes = None
    if group_column is not None:
        if group_column not in row_groups.columns:
            raise SpecError(
                f"impute group column '{group_column}' is not a group of the data; "
                f"groups are {list(row_groups.columns)} (declare it under 'groups' in the "
                "data dictionary)"
            )
        group_codes = _codes(row_groups[group_column])
    imputed = imputers.get(pipeline.impute.method)(
        x, groups=group_codes, entity=entity_codes, period=period_codes, **params
    )
    x_imputed = imputed.values
    rows, cols = np.nonzero(imputed.imputed)
    if len(rows):
        audit.append(
            _audit(
                "impute",
                index,
                rows,
                np.asarray(ids, dtype=object)[cols],
                "imputed",
                [f"{pipeline.impute.method}: {v:.6g}" for v in x_imputed[rows, cols]],
            )
        )

    # treat, per group of indicators sharing settings
    x_treated = x_imputed.copy()
    treatment_rows: list[dict[str, Any]] = []
    for columns in _grouped_columns([framework.treat_step(i) for i in ids]).values():
        step = framework.treat_step(ids[columns[0]])
        treated = treaters.get(step.method)(x_imputed[:, columns], **step.params)
        x_treated[:, columns] = treated.values
        for record in treated.report:
            record = dict(record)
            record["indicator"] = ids[columns[int(record.get("column", 0))]]
            record["method"] = step.method
            treatment_rows.append(record)
        rows, local = np.nonzero(treated.winsorised)
        if len(rows):
            cols = np.asarray(columns)[local]
            audit.append(
                _audit(
                    "treat",
                    index,
                    rows,
                    np.asarray(ids, dtype=object)[cols],
                    "winsorised",
                    [
                        f"{a:.6g} -> {b:.6g}"
                        for a, b in zip(x_imputed[rows, cols], x_treated[rows, cols], strict=True)
                    ],
                )
            )
        for local_column, transform in treated.transformed.items():
            audit.append(
                pd.DataFrame(
                    [["treat", None, None, ids[columns[local_column]], "transformed", transform]],
                    columns=AUDIT_COLUMNS,
                )
            )
    treatment = pd.DataFrame(treatment_rows)
    if not treatment.empty:
        treatment = treatment.drop(columns=["column"], errors="ignore")
        treatment = treatment[["indicator", *[c for c in treatment.columns if c != "indicator"]]]

    # normalise, per group of indicators sharing settings; polarity applied here
    direction = np.array(
        [1 if framework.polarity(i) == "positive" else -1 for i in ids], dtype=np.int64
    )
    x_normalised = np.full_like(x_treated, np.nan)
    learnt_rows: dict[str, dict[str, Any]] = {i: {} for i in ids}
    period_labels = np.sort(index.get_level_values(PERIOD).unique().to_numpy())
    for columns in _grouped_columns([framework.normalise_step(i) for i in ids]).values():
        step = framework.normalise_step(ids[columns[0]])
        params = step.params
        mode = params.pop("reference", "pooled")
        base_period = params.pop("base_period", None)
        base_code = None
        if mode == "base":
            matches = np.flatnonzero(period_labels == base_period)
            if base_period is None or not len(matches):
                raise SpecError(
                    f"normalise reference 'base' needs base_period, one of "
                    f"{period_labels.tolist()}; got {base_period!r}"
                )
            base_code = int(matches[0])
        normalised = normalise_by_period(
            step.method,
            x_treated[:, columns],
            period_codes,
            direction[columns],
            mode=mode,
            base_period=base_code,
            **params,
        )
        x_normalised[:, columns] = normalised.values
        for name, stat in normalised.learnt.items():
            stat = np.asarray(stat)
            if stat.ndim == 1 and stat.shape[0] == len(columns):
                for local, column in enumerate(columns):
                    learnt_rows[ids[column]][name] = float(stat[local])
        for local, column in enumerate(columns):
            learnt_rows[ids[column]]["method"] = step.method
            learnt_rows[ids[column]]["reference"] = mode
    normalisation = pd.DataFrame.from_dict(learnt_rows, orient="index")
    normalisation.index.name = "indicator"

    # weight and aggregate, children before parents
    columns_of = {i: x_normalised[:, k] for k, i in enumerate(ids)}
    weights: dict[str, pd.Series] = {}
    weight_info: dict[str, dict[str, Any]] = {}
    scores: dict[str, np.ndarray] = {}
    for node in framework.postorder():
        children = framework.children[node]
        block = np.column_stack([columns_of[c] for c in children])
        nominal = np.array([framework.nominal_weight(c) for c in children], dtype=np.float64)
        weight_step = framework.weight_step(node)
        weighted = weighters.get(weight_step.method)(block, nominal=nominal, **weight_step.params)
        w = np.asarray(weighted.values, dtype=np.float64)
        mean_w = w if w.ndim == 1 else np.nanmean(w, axis=0)
        weights[node] = pd.Series(mean_w, index=list(children), name=node)
        weight_info[node] = dict(weighted.info)
        block = _apply_missing_policy(framework, node, block, mean_w, index, children, audit)
        aggregate_step = framework.aggregate_step(node)
        aggregate = aggregators.get(aggregate_step.method)
        extra = {"groups": period_codes} if _accepts(aggregate.func, "groups") else {}
        score = np.asarray(aggregate(block, w, **aggregate_step.params, **extra), dtype=np.float64)
        scores[node] = score
        columns_of[node] = score

    order = framework.postorder()
    score_frame = pd.DataFrame({n: scores[n] for n in order}, index=index)
    ranks = score_frame.groupby(level=PERIOD).rank(ascending=False, method="min")
    effective = _overall_weights(framework, weights)
    audit_frame = (
        pd.concat([a for a in audit if not a.empty], ignore_index=True)
        if any(not a.empty for a in audit)
        else pd.DataFrame(columns=AUDIT_COLUMNS)
    )
    return IndexResult(
        framework=framework,
        indicator_values=values,
        groups=groups,
        raw=raw,
        imputed=pd.DataFrame(x_imputed, index=index, columns=ids),
        imputed_mask=pd.DataFrame(imputed.imputed, index=index, columns=ids),
        treated=pd.DataFrame(x_treated, index=index, columns=ids),
        normalised=pd.DataFrame(x_normalised, index=index, columns=ids),
        scores=score_frame,
        ranks=ranks,
        weights=weights,
        effective_weights=effective,
        normalisation=normalisation,
        treatment=treatment,
        audit=audit_frame,
        weight_info=weight_info,
    )


def _apply_missing_policy(
    framework: Framework,
    node: str,
    block: np.ndarray,
    weights: np.ndarray,
    index: pd.MultiIndex,
    children: tuple[str, ...],
    audit: list[pd.DataFrame],
) -> np.ndarray:
    """Enforce the node's missing-data policy; rows below coverage become all-NaN."""
    missing = np.isnan(block)
    if not missing.any():
        return block
    policy = framework.missing_policy(node)
    if policy.policy == "fail":
        rows = np.flatnonzero(missing.any(axis=1))
        labels = list(index[rows][:5])
        raise DataError(
            f"node '{node}' has missing children in {len(rows)} row(s) and its missing "
            f"policy is 'fail' (e.g. {labels}); impute first or use policy 'renormalise'"
        )
    if policy.policy == "coverage":
        total = weights.sum()
        present_share = (np.where(missing, 0.0, weights).sum(axis=1) / total) if total > 0 else 0.0
        short = present_share < policy.min_coverage
        if short.any():
            rows = np.flatnonzero(short)
            audit.append(
                _audit(
                    "aggregate",
                    index,
                    rows,
                    node,
                    "not scored",
                    [f"coverage {s:.0%} < {policy.min_coverage:.0%}" for s in present_share[rows]],
                )
            )
            block = block.copy()
            block[short] = np.nan
    return block


def _overall_weights(framework: Framework, weights: Mapping[str, pd.Series]) -> pd.Series:
    """Each indicator's weight through the tree: the product of weights on its path."""
    overall: dict[str, float] = {}

    def descend(node: str, share: float) -> None:
        for child, w in weights[node].items():
            if child in weights:
                descend(str(child), share * float(w))
            else:
                overall[str(child)] = share * float(w)

    descend(framework.id, 1.0)
    return pd.Series(overall, name="effective_weight").reindex(list(framework.indicators))
