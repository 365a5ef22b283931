"""Is the change real? A composite index's change against its own methodological uncertainty.

A composite index changes between two periods for two reasons: the indicators moved, or
the methodological choices (normalisation, weights, aggregation, which indicators are in)
would have shown a different change anyway. :func:`change_uncertainty` takes replicate
scores — one index per set of choices, e.g. from the Monte-Carlo uncertainty analysis —
and says, per entity, whether the change from baseline exceeds that spread. Until the
uncertainty analysis is wired in, :func:`bootstrap_replicates` makes replicates by
resampling entities (the peer set that fixes goalposts and derived weights) or by leaving
indicators out, with any callable that recomputes the index; :func:`bootstrap_change`
does both steps.

The change is computed *within* each replicate (the same choices for both periods), so
the interval measures how much the change itself depends on the method, not how much
the levels do.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Step 7
   (uncertainty and sensitivity analysis). doi:10.1787/9789264043466-en
.. [2] Saisana, M., Saltelli, A., & Tarantola, S. (2005). Uncertainty and sensitivity
   analysis techniques as tools for the quality assessment of composite indicators.
   *Journal of the Royal Statistical Society A*, 168(2), 307–323.
   doi:10.1111/j.1467-985X.2005.00350.x
.. [3] Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman &
   Hall, ch. 13 (percentile intervals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import Polarity, check_confidence, check_polarity

__all__ = ["bootstrap_change", "bootstrap_replicates", "change_uncertainty"]

Recompute = Callable[[pd.DataFrame], pd.DataFrame]
Seed = int | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    """The one way randomness enters: an int, a Generator, or None (fresh entropy)."""
    return np.random.default_rng(seed)


def _need(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}; the frame has {list(frame.columns)}")


def _scores_by_period(
    frame: pd.DataFrame,
    keys: list[str],
    entity: str,
    period: str,
    score: str,
    periods: tuple[Any, Any],
    what: str,
) -> pd.DataFrame:
    """Wide frame indexed by ``keys`` with one column per requested period."""
    present = set(frame[period].unique())
    absent = [p for p in periods if p not in present]
    if absent:
        raise DataError(
            f"{what}: period(s) {absent} have no scores (periods present: "
            f"{sorted(present, key=str)[:10]})",
            column=period,
        )
    sub = frame.loc[frame[period].isin(periods), [*keys, period, score]]
    dup = sub.duplicated([*keys, period])
    if dup.any():
        raise DataError(
            f"{what}: several scores for the same ({', '.join(keys)}, period)",
            rows=sub.loc[dup, keys].astype(str).agg(" ".join, axis=1).tolist()[:20],
        )
    wide = sub.pivot(index=keys, columns=period, values=score)
    return wide.reindex(columns=list(periods)).astype("float64")


def change_uncertainty(
    replicates: pd.DataFrame,
    *,
    baseline_period: Any,
    current_period: Any,
    nominal: pd.DataFrame | None = None,
    entity: str = "entity",
    period: str = "period",
    score: str = "score",
    replicate: str = "replicate",
    confidence: float = 0.95,
    polarity: Polarity = "positive",
    min_replicates: int = 20,
) -> pd.DataFrame:
    """Per entity: does the change from baseline exceed the index's methodological spread?

    Parameters
    ----------
    replicates
        Long frame ``replicate × entity × period → score``: the index recomputed under
        alternative methodological choices (uncertainty analysis) or resamples.
    baseline_period, current_period
        The two periods compared.
    nominal
        The published index (``entity``, ``period``, ``score``); its change is the one
        reported. Default: the median replicate score.
    entity, period, score, replicate
        Column names.
    confidence
        Width of the replicate interval of the change [unitless, 0–1].
    polarity
        Of the index score: ``"positive"`` (higher is more secure, the usual for composite
        scores), ``"negative"``, or ``"none"``.
    min_replicates
        Fewest replicates with both periods an entity needs [count].

    Returns
    -------
    pandas.DataFrame
        One row per entity: ``baseline_score``, ``current_score``, ``change`` [score
        points], ``ci_low``/``ci_high`` (percentile interval of the replicate changes),
        ``share_improved`` (share of replicates in which the entity improved; for polarity
        none, in which it rose) [0–1], ``n_replicates``, ``exceeds_uncertainty`` (the
        interval excludes 0) and ``verdict``.

    Raises
    ------
    DataError
        Missing columns or periods, duplicated scores, too few replicates.

    Notes
    -----
    For replicate ``r``: ``Δ_r = s_r(current) − s_r(baseline)``. The change is real when the
    ``(1 ± confidence)/2`` quantiles of ``{Δ_r}`` have the same sign (OECD/JRC 2008,
    Step 7; Saisana et al. 2005).

    Examples
    --------
    >>> rep = pd.DataFrame({"replicate": np.repeat(np.arange(30), 2), "entity": "a",
    ...                     "period": [2015, 2020] * 30,
    ...                     "score": np.ravel([[50, 55 + r % 3] for r in range(30)])})
    >>> out = change_uncertainty(rep, baseline_period=2015, current_period=2020)
    >>> bool(out.loc[0, "exceeds_uncertainty"]), out.loc[0, "verdict"]
    (True, 'improvement beyond methodological uncertainty')
    """
    check_confidence(confidence)
    check_polarity(polarity)
    _need(replicates, [replicate, entity, period, score], "change_uncertainty")
    if baseline_period == current_period:
        raise SpecError("baseline_period and current_period must differ")
    periods = (baseline_period, current_period)
    wide = _scores_by_period(
        replicates, [replicate, entity], entity, period, score, periods, "replicates"
    )
    deltas = (wide[current_period] - wide[baseline_period]).unstack(entity)  # replicate × entity
    values = deltas.to_numpy(dtype="float64")
    n_ok = np.sum(np.isfinite(values), axis=0)
    too_few = n_ok < min_replicates
    if too_few.any():
        raise DataError(
            f"fewer than {min_replicates} replicates with both periods for "
            f"{int(too_few.sum())} entit(ies); run more replicates",
            rows=list(map(str, deltas.columns[too_few])),
        )
    alpha = 1.0 - confidence
    lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2], axis=0)
    sign = {"positive": 1.0, "negative": -1.0, "none": 1.0}[polarity]
    share = np.nanmean(np.where(np.isfinite(values), sign * values > 0, np.nan), axis=0)
    entities = deltas.columns
    if nominal is not None:
        _need(nominal, [entity, period, score], "nominal")
        nom = _scores_by_period(nominal, [entity], entity, period, score, periods, "nominal")
        nom = nom.reindex(entities)
        missing = nom.index[nom.isna().any(axis=1)]
        if len(missing):
            raise DataError(
                "the nominal scores lack the baseline or current period for some entities",
                rows=list(map(str, missing)),
            )
        base, cur = nom[baseline_period].to_numpy(), nom[current_period].to_numpy()
        source = "nominal"
    else:
        med = wide.groupby(level=entity).median().reindex(entities)
        base, cur = med[baseline_period].to_numpy(), med[current_period].to_numpy()
        source = "median replicate"
    change = cur - base
    exceeds = (lo > 0) | (hi < 0)
    up = lo > 0
    if polarity == "none":
        good, bad = "increase", "decrease"
    else:
        good, bad = "improvement", "deterioration"
    better = up if polarity != "negative" else ~up
    verdict = np.where(
        exceeds,
        np.where(
            better,
            f"{good} beyond methodological uncertainty",
            f"{bad} beyond methodological uncertainty",
        ),
        "change within methodological uncertainty",
    )
    outside = ~((change >= lo) & (change <= hi))
    out = pd.DataFrame(
        {
            entity: entities,
            "baseline_score": base,
            "current_score": cur,
            "change": change,
            "ci_low": lo,
            "ci_high": hi,
            "share_improved": share,
            "n_replicates": n_ok.astype("int64"),
            "exceeds_uncertainty": exceeds,
            "verdict": verdict,
            "note": np.where(
                outside,
                f"the {source} change lies outside the replicate interval",
                "",
            ),
        }
    )
    return out.reset_index(drop=True)


def _copy_labels(labels: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels for a resample: the first copy keeps its label, later copies get ``~k``."""
    drawn = pd.Series(labels[draws])
    copy = drawn.groupby(drawn.astype(str)).cumcount().to_numpy()
    new = np.where(
        copy == 0,
        drawn.to_numpy(dtype=object),
        drawn.astype(str).to_numpy(dtype=object) + "~" + copy.astype(str),
    )
    return new, copy


def bootstrap_replicates(
    data: pd.DataFrame,
    recompute: Recompute,
    *,
    over: Literal["entities", "indicators"] = "entities",
    n_replicates: int = 200,
    seed: Seed = None,
    entity: str = "entity",
    period: str = "period",
    indicator: str = "indicator",
    score: str = "score",
    drop: int = 1,
) -> pd.DataFrame:
    """Replicate index scores by resampling entities or leaving indicators out.

    Parameters
    ----------
    data
        The indicator data the index is built from (long or wide), with an ``entity``
        column (and an ``indicator`` column for ``over="indicators"``).
    recompute
        Callable ``data → scores``: rebuilds the index from (resampled) data and returns a
        frame with ``entity``, ``period`` and ``score`` columns.
    over
        ``"entities"``: each replicate draws as many entities as there are, with
        replacement (duplicates are relabelled ``label~1``, ``label~2`` so the recompute
        sees distinct entities); only original entities' scores are kept, so an entity not
        drawn has no score in that replicate. This measures how much the peer set — which
        fixes min-max goalposts, z-score moments or PCA weights — moves each score.
        ``"indicators"``: each replicate leaves ``drop`` randomly chosen indicators out
        (the OECD/JRC inclusion/exclusion uncertainty).
    n_replicates
        Number of replicates [count].
    seed
        ``int``, :class:`numpy.random.Generator` or None; one seed always gives one output.
    entity, period, indicator, score
        Column names.
    drop
        Indicators left out per replicate (``over="indicators"``) [count].

    Returns
    -------
    pandas.DataFrame
        ``replicate``, ``entity``, ``period``, ``score`` — the input of
        :func:`change_uncertainty`.

    Raises
    ------
    DataError
        Missing columns, or a recompute result without the expected columns.
    SpecError
        Bad ``over``, ``n_replicates`` or ``drop``.
    """
    if over not in ("entities", "indicators"):
        raise SpecError(f"over must be 'entities' or 'indicators'; got {over!r}")
    if n_replicates < 1:
        raise SpecError(f"n_replicates must be >= 1; got {n_replicates}")
    _need(data, [entity], "bootstrap_replicates")
    rng = _rng(seed)
    parts = []
    if over == "entities":
        labels = np.asarray(pd.unique(data[entity]))
        for r in range(n_replicates):  # one recompute per replicate: the callable is opaque
            draws = rng.integers(0, len(labels), size=len(labels))
            new, copy = _copy_labels(labels, draws)
            table = pd.DataFrame({"_orig": labels[draws], "_new": new})
            resampled = table.merge(data, left_on="_orig", right_on=entity, how="left")
            resampled = resampled.drop(columns=[entity, "_orig"]).rename(columns={"_new": entity})
            scores = _check_scores(recompute(resampled), entity, period, score)
            originals = set(new[copy == 0].tolist())
            kept = scores.loc[scores[entity].isin(originals)]
            parts.append(kept.assign(replicate=r))
    else:
        _need(data, [indicator], "bootstrap_replicates")
        names = pd.unique(data[indicator])
        if not 1 <= drop < len(names):
            raise SpecError(
                f"drop must be between 1 and the number of indicators minus one "
                f"({len(names) - 1}); got {drop}"
            )
        for r in range(n_replicates):
            out = rng.choice(len(names), size=drop, replace=False)
            subset = data.loc[~data[indicator].isin(names[out])]
            scores = _check_scores(recompute(subset), entity, period, score)
            parts.append(scores.assign(replicate=r))
    result = pd.concat(parts, ignore_index=True)
    return result[["replicate", entity, period, score]]


def _check_scores(scores: Any, entity: str, period: str, score: str) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        raise DataError(
            f"recompute must return a DataFrame with columns {entity}, {period}, {score}; got "
            f"{type(scores).__name__}"
        )
    _need(scores, [entity, period, score], "recompute result")
    return scores[[entity, period, score]]


def bootstrap_change(
    data: pd.DataFrame,
    recompute: Recompute,
    *,
    baseline_period: Any,
    current_period: Any,
    over: Literal["entities", "indicators"] = "entities",
    n_replicates: int = 200,
    seed: Seed = None,
    entity: str = "entity",
    period: str = "period",
    indicator: str = "indicator",
    score: str = "score",
    drop: int = 1,
    confidence: float = 0.95,
    polarity: Polarity = "positive",
    min_replicates: int = 20,
) -> pd.DataFrame:
    """:func:`bootstrap_replicates` then :func:`change_uncertainty` against the full-data index.

    The nominal change is ``recompute(data)``'s; the interval comes from the replicates.
    See those two functions for the parameters.
    """
    nominal = _check_scores(recompute(data), entity, period, score)
    reps = bootstrap_replicates(
        data,
        recompute,
        over=over,
        n_replicates=n_replicates,
        seed=seed,
        entity=entity,
        period=period,
        indicator=indicator,
        score=score,
        drop=drop,
    )
    return change_uncertainty(
        reps,
        baseline_period=baseline_period,
        current_period=current_period,
        nominal=nominal,
        entity=entity,
        period=period,
        score=score,
        replicate="replicate",
        confidence=confidence,
        polarity=polarity,
        min_replicates=min_replicates,
    )
