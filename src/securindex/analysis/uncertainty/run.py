"""The public entry points: list the factors, sample them, run, estimate a run."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.analysis._budget import MAX_REPLICATES, RunEstimate, check_replicates, estimate_run
from securindex.analysis.uncertainty.engine import ReplicateEngine
from securindex.analysis.uncertainty.factors import Seed
from securindex.analysis.uncertainty.result import UncertaintyResult
from securindex.analysis.uncertainty.spec import UncertaintySpec, as_uncertainty_spec
from securindex.analysis.uncertainty.summaries import EXACT_CELLS, RowDistribution
from securindex.errors import SpecError
from securindex.methods._types import FloatArray

if TYPE_CHECKING:
    from securindex.result import IndexResult


def uncertainty_factors(
    nominal: IndexResult, spec: UncertaintySpec | Mapping[str, Any] | str | Path
) -> pd.DataFrame:
    """Validate ``spec`` against the nominal build and list its factors (a dry run).

    Parameters
    ----------
    nominal : IndexResult
        The nominal build (``framework.compute(data)``).
    spec : UncertaintySpec, mapping, or path of a YAML file
        What varies.

    Returns
    -------
    DataFrame
        One row per factor: ``factor``, ``kind`` (choice, weights, exclude, inputs),
        ``dimensions`` (coordinates in the factor space), ``levels`` (discrete choices),
        ``first_column``, ``description``.

    Raises
    ------
    SpecError
        Listing every node, indicator, step or parameter that does not exist and every
        alternative that fails on the nominal data.
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    return ReplicateEngine(nominal, parsed, located=located, prefix=prefix).factor_table()


def sample_factors(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    n_replicates: int,
    *,
    seed: Seed = None,
) -> FloatArray:
    """The points of the factor space that :func:`run_uncertainty` draws with ``seed``.

    Returns
    -------
    FloatArray, shape (n_replicates, n_dimensions)
        Coordinates in [0, 1); the columns of each factor start at its ``first_column``
        (see :func:`uncertainty_factors`). Row ``i`` is replicate ``i`` of
        ``run_uncertainty(..., seed=seed)``; pass it to :func:`rebuild_replicate`.
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    return engine.draw(engine.streams(seed if seed is not None else parsed.seed), n_replicates)


def run_uncertainty(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    *,
    n_replicates: int | None = None,
    seed: Seed = None,
    interval: tuple[float, float] = (0.05, 0.95),
    chunk_size: int | None = None,
    keep_replicates: bool | None = None,
    progress: bool = False,
    max_replicates: int | None = MAX_REPLICATES,
) -> UncertaintyResult:
    """Monte-Carlo uncertainty analysis: how ranks and scores move under the choices.

    Parameters
    ----------
    nominal : IndexResult
        The nominal build (``framework.compute(data)``); its framework, indicator values
        and rows are the starting point of every replicate.
    spec : UncertaintySpec, mapping, or path of a YAML file
        What varies (see :class:`UncertaintySpec`); validated before anything runs.
    n_replicates : int, optional
        Number of replicates [count]; default ``spec.n_replicates`` (1 000).
    seed : int, numpy Generator or None
        Randomness; default ``spec.seed``. One seed gives one result, whatever the chunk
        size.
    interval : (float, float), default (0.05, 0.95)
        Quantiles of the reported rank and score intervals [probability].
    chunk_size : int, optional
        Replicates evaluated together; bounds memory. Default: about 2**22 elements in the
        largest array (chunk × rows × the widest node, or × indicators with input noise).
    keep_replicates : bool, optional
        Keep every replicate's scores and ranks (exact quantiles, ``result.scores``);
        default: when ``n_replicates × rows`` is at most 2**22.
    progress : bool, default False
        Show a progress bar (rich) while running.
    max_replicates : int or None, default :data:`MAX_REPLICATES` (100 000)
        Refuse more replicates than this, with the run's estimated time and memory
        (``None``: no limit).

    Returns
    -------
    UncertaintyResult
        Per-entity intervals (``summary``), the tidy per-replicate table (``replicates``)
        and the factor list.

    Raises
    ------
    SpecError
        If the specification addresses a step, node, indicator or parameter that does not
        exist, or an alternative fails on the nominal data.

    Notes
    -----
    A replicate is defined as the pipeline run with its sampled choices
    (:func:`rebuild_replicate` runs exactly that, slowly): the pipeline's data steps with
    the chosen alternatives, the nominal weights (as the build learnt them) times the weight
    noise, the chosen aggregation per node, the left-out indicator's weight set to 0 (the
    aggregators renormalise over the others, as removing it from its node would), and the
    perturbed input values. Screening keeps the nominal rows. Data-derived weights (PCA,
    benefit of the doubt) are frozen at their nominal values.

    The rank shift of replicate r is :math:`\\frac1n \\sum_i |R_{ri} - R_{0i}|`, the mean
    absolute rank change against the nominal ranks :math:`R_0` (Saisana et al. 2005).

    References
    ----------
    .. [1] OECD/JRC (2008). Handbook on Constructing Composite Indicators, step 7,
       pp. 117–131. doi:10.1787/9789264043466-en
    .. [2] Saisana, M., Saltelli, A. & Tarantola, S. (2005). JRSS A 168(2), 307–323.
       doi:10.1111/j.1467-985X.2005.00350.x
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    n = parsed.n_replicates if n_replicates is None else int(n_replicates)
    if n < 1:
        raise SpecError(f"n_replicates must be >= 1; got {n}")
    check_replicates(n, max_replicates, **_budget(engine, n, keep_replicates))
    low_q, high_q = interval
    if not 0.0 <= low_q < high_q <= 1.0:
        raise SpecError(f"interval must be two quantiles 0 <= low < high <= 1; got {interval}")
    streams = engine.streams(seed if seed is not None else parsed.seed)
    size = engine.chunk_size(chunk_size)
    n_rows = engine.n_rows
    exact = keep_replicates if keep_replicates is not None else n * n_rows <= EXACT_CELLS
    max_rank = max(len(r) for r in engine.period_rows)
    score_dist = RowDistribution(n_rows, exact=exact)
    rank_dist = RowDistribution(n_rows, exact=exact, integer_max=max_rank)
    shift_total = np.zeros(n_rows)
    shift_count = np.zeros(n_rows)
    described: list[dict[str, np.ndarray]] = []
    shifts: list[FloatArray] = []
    nominal_rank = engine.nominal_target_rank
    for start in replicate_progress(range(0, n, size), progress, total=math.ceil(n / size)):
        count = min(size, n - start)
        u = engine.draw(streams, count)
        scores = engine.scores_chunk(u)
        ranks = engine.ranks(scores)
        score_dist.add(scores)
        rank_dist.add(ranks)
        shift = np.abs(ranks - nominal_rank[None, :])
        valid = ~np.isnan(shift)
        shift_total += np.where(valid, shift, 0.0).sum(axis=0)
        shift_count += valid.sum(axis=0)
        with np.errstate(invalid="ignore"):
            shifts.append(
                np.where(
                    valid.any(axis=1), np.nansum(shift, axis=1) / valid.sum(axis=1).clip(1), np.nan
                )
            )
        described.append(engine.describe_chunk(u))
    probabilities = [low_q, 0.5, high_q]
    score_q = score_dist.quantiles(probabilities)
    rank_q = rank_dist.quantiles(probabilities)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_shift = np.where(shift_count > 0, shift_total / shift_count, np.nan)
    summary = pd.DataFrame(
        {
            "nominal_score": engine.nominal_target_score,
            "median_score": score_q[1],
            "score_low": score_q[0],
            "score_high": score_q[2],
            "mean_score": score_dist.mean(),
            "nominal_rank": nominal_rank,
            "median_rank": rank_q[1],
            "rank_low": rank_q[0],
            "rank_high": rank_q[2],
            "mean_rank": rank_dist.mean(),
            "mean_abs_rank_shift": mean_shift,
        },
        index=engine.index,
    )
    table: dict[str, Any] = {"replicate": np.arange(n)}
    for key in described[0] if described else {}:
        table[key] = np.concatenate([d[key] for d in described])
    table["mean_rank_shift"] = np.concatenate(shifts) if shifts else np.zeros(0)
    replicates = pd.DataFrame(table)
    scores_frame = ranks_frame = None
    if exact:
        columns = row_labels(engine.index)
        values = score_dist.values()
        rank_values = rank_dist.values()
        if values is not None and rank_values is not None:
            scores_frame = pd.DataFrame(values, columns=columns)
            ranks_frame = pd.DataFrame(rank_values, columns=columns)
            scores_frame.index.name = ranks_frame.index.name = "replicate"
    return UncertaintyResult(
        summary=summary,
        replicates=replicates,
        factors=engine.factor_table(),
        target=engine.target,
        n_replicates=n,
        interval=(float(low_q), float(high_q)),
        exact=bool(exact),
        scores=scores_frame,
        ranks=ranks_frame,
        spec=parsed,
        id_names=dict(nominal.id_names),
    )


def estimate_uncertainty(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    *,
    n_replicates: int | None = None,
) -> RunEstimate:
    """The estimated time and memory of :func:`run_uncertainty` with these arguments.

    A few replicates are run and timed; the memory is what the result keeps (each
    replicate's sampled factors and, below 2**22 replicate × row cells, its scores and
    ranks).
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    n = parsed.n_replicates if n_replicates is None else int(n_replicates)
    budget = _budget(engine, n, None)
    return estimate_run(budget["pilot"], n, bytes_per_replicate=budget["bytes_per_replicate"])


def _budget(engine: ReplicateEngine, n: int, keep_replicates: bool | None) -> dict[str, Any]:
    """The pilot and per-replicate memory of a run, for the replicate limit."""
    exact = keep_replicates if keep_replicates is not None else n * engine.n_rows <= EXACT_CELLS
    n_dims = int(sum(f.n_dims for f in engine.factors))
    per_replicate = 8.0 * (n_dims + 2) + (16.0 * engine.n_rows if exact else 0.0)

    def pilot(k: int) -> object:
        return engine.ranks(engine.scores_chunk(engine.draw(engine.streams(0), k)))

    return {"pilot": pilot, "bytes_per_replicate": per_replicate}


def row_labels(index: pd.MultiIndex) -> pd.Index:
    """Column labels for replicate tables: the entity, or entity@period in a panel."""
    entities = index.get_level_values("entity").astype(str)
    periods = index.get_level_values("period")
    if periods.nunique() <= 1:
        return pd.Index(entities, name="entity")
    return pd.Index([f"{e}@{p}" for e, p in zip(entities, periods, strict=True)], name="row")


def replicate_progress(items: range, show: bool, *, total: int) -> Iterator[int]:
    if not show:
        yield from items
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("replicates"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("replicates", total=total)
        for item in items:
            yield item
            bar.advance(task)
