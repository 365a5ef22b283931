"""Variance-based (Sobol) sensitivity analysis of a composite index (Handbook step 7).

Where the uncertainty analysis says *how much* ranks move, the sensitivity analysis says
*which choice* moves them: the first-order index :math:`S_i` of a factor is the share of
the output's variance it explains alone, the total index :math:`S_{Ti}` its share including
all its interactions with other factors. A factor with a small :math:`S_{Ti}` can be fixed
at any of its values without changing the result much.

Every factor of an :class:`~securindex.analysis.uncertainty.UncertaintySpec` is a block of
coordinates of the unit hypercube (a weight vector is several coordinates, a discrete
choice is one, mapped to its alternatives by ``floor(u × levels)``), so SALib's Saltelli
sampling and Sobol estimators apply unchanged, with the blocks as SALib *groups*. The
index is evaluated by the same vectorised engine as the uncertainty analysis.

SALib is an optional dependency: ``pip install 'securindex[sensitivity]'``.

References
----------
.. [1] Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M. & Tarantola, S.
   (2010). Variance based sensitivity analysis of model output. Design and estimator for
   the total sensitivity index. *Computer Physics Communications* 181(2), 259–270.
   doi:10.1016/j.cpc.2009.09.018
.. [2] Saisana, M., Saltelli, A. & Tarantola, S. (2005). Uncertainty and sensitivity
   analysis techniques as tools for the quality assessment of composite indicators.
   *Journal of the Royal Statistical Society A* 168(2), 307–323.
   doi:10.1111/j.1467-985X.2005.00350.x
.. [3] Herman, J. & Usher, W. (2017). SALib: An open-source Python library for
   sensitivity analysis. *Journal of Open Source Software* 2(9), 97.
   doi:10.21105/joss.00097
.. [4] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, step 7 and
   section 7.2, pp. 117–131. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from securindex.analysis._budget import MAX_REPLICATES, check_replicates
from securindex.analysis.uncertainty import (
    ReplicateEngine,
    Seed,
    UncertaintySpec,
    as_generator,
    as_uncertainty_spec,
    replicate_progress,
    row_labels,
)
from securindex.errors import SpecError
from securindex.methods._types import FloatArray

if TYPE_CHECKING:
    from securindex.result import IndexResult

__all__ = ["SobolResult", "run_sensitivity", "sobol_indices"]

_INDEX_COLUMNS = ["output", "factor", "S1", "S1_conf", "ST", "ST_conf"]

# scipy.stats.qmc.Sobol supports at most this many dimensions; the design uses 2 per coordinate
_MAX_SOBOL_DIMENSIONS = 21201


def _salib() -> tuple[Any, Any]:
    """SALib's Sobol sampler and analyser, imported when first needed."""
    try:
        from SALib.analyze import sobol as analyze
        from SALib.sample import sobol as sample
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "Sobol sensitivity analysis needs SALib: pip install 'securindex[sensitivity]'"
        ) from None
    return sample, analyze


@dataclass(frozen=True)
class SobolResult:
    """First-order and total Sobol indices of each factor for each output; immutable.

    Attributes
    ----------
    indices
        Tidy table, one row per (output, factor): ``output`` (``mean_rank_shift`` or an
        entity's label), ``factor``, ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` [share of
        the output's variance, unitless]; ``*_conf`` is the half-width of the bootstrap
        confidence interval at ``conf_level``. Outputs with no variance get NaN.
    factors
        The factor names, in the order of the factor space.
    n_base
        Base sample size N of the Saltelli design [count].
    n_evaluations
        Model evaluations, N × (factors + 2) [count].
    conf_level
        Confidence level of the bootstrap intervals [probability].
    """

    indices: pd.DataFrame
    factors: tuple[str, ...]
    n_base: int
    n_evaluations: int
    conf_level: float

    def table(self, output: str = "mean_rank_shift") -> pd.DataFrame:
        """The indices of one output, one row per factor, sorted by total index."""
        part = self.indices[self.indices["output"] == output]
        if part.empty:
            outputs = list(dict.fromkeys(self.indices["output"]))
            raise KeyError(f"no output '{output}'; outputs are {outputs[:10]}")
        return part.drop(columns="output").set_index("factor").sort_values("ST", ascending=False)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``sobol.csv`` (the tidy indices) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "sobol.csv"
        self.indices.to_csv(path, index=False)
        return {"sobol": path}

    def __repr__(self) -> str:
        n_outputs = self.indices["output"].nunique()
        return (
            f"SobolResult({len(self.factors)} factors, {n_outputs} outputs, "
            f"N = {self.n_base}, {self.n_evaluations} evaluations)"
        )


def sobol_indices(
    factors: Mapping[str, int],
    evaluate: Callable[[FloatArray], FloatArray],
    *,
    outputs: Sequence[str] | None = None,
    n_base: int = 512,
    seed: Seed = None,
    num_resamples: int = 100,
    conf_level: float = 0.95,
    chunk_size: int | None = None,
    progress: bool = False,
    max_replicates: int | None = MAX_REPLICATES,
) -> SobolResult:
    """Sobol indices of grouped factors on the unit hypercube, with SALib.

    Parameters
    ----------
    factors : mapping of str to int
        Factor name → number of coordinates in [0, 1) it takes (a weight vector: one per
        weight; a discrete choice: 1). Each factor is one SALib group.
    evaluate : callable
        ``evaluate(u)`` with ``u`` of shape (n, total coordinates) returns the outputs,
        shape (n,) or (n, n_outputs); it is called on chunks of the design.
    outputs : sequence of str, optional
        Names of the outputs (default ``output_0`` …; ``y`` for a single one).
    n_base : int, default 512
        Base sample N of the Saltelli design (a power of 2); the model runs
        N × (groups + 2) times [count].
    seed : int, numpy Generator or None
        Seeds the scrambled Sobol' sequence and the bootstrap.
    num_resamples : int, default 100
        Bootstrap resamples for the confidence intervals [count].
    conf_level : float, default 0.95
        Confidence level of the intervals [probability].
    chunk_size : int, optional
        Design points evaluated per call of ``evaluate`` (default: all at once).
    progress : bool, default False
        Show a progress bar (rich).
    max_replicates : int or None, default 100 000
        Refuse a design of more model evaluations than this, with its estimated time and
        memory (``None``: no limit)

    Returns
    -------
    SobolResult

    Raises
    ------
    SpecError
        If there are no factors, a factor has no coordinate, or ``n_base`` < 2.
    ImportError
        Without SALib (``pip install 'securindex[sensitivity]'``).

    Notes
    -----
    SALib's ``sobol.sample`` builds the design from a scrambled Sobol' sequence
    (Saltelli 2002), ``sobol.analyze`` estimates :math:`S_i` with the Saltelli et al. (2010)
    estimator and :math:`S_{Ti}` with Jansen's, and bootstraps their confidence intervals.
    With groups, the indices are those of each group of coordinates taken together.

    Examples
    --------
    >>> def linear(u):  # y = 1·a + 2·b on uniform inputs: V = 1/12 + 4/12
    ...     return u[:, 0] + 2.0 * u[:, 1]
    >>> result = sobol_indices({"a": 1, "b": 1}, linear, n_base=1024, seed=3)
    >>> result.table("y")["S1"].round(1).to_dict()
    {'b': 0.8, 'a': 0.2}

    References
    ----------
    .. [1] Saltelli, A. et al. (2010). Computer Physics Communications 181(2), 259–270.
       doi:10.1016/j.cpc.2009.09.018
    .. [2] Herman, J. & Usher, W. (2017). SALib. JOSS 2(9), 97. doi:10.21105/joss.00097
    """
    sample, analyze = _salib()
    names = list(factors)
    if not names:
        raise SpecError("a sensitivity analysis needs at least one factor; none was given")
    bad = [k for k, d in factors.items() if int(d) < 1]
    if bad:
        raise SpecError(f"factors {bad} have no coordinate; each needs at least one")
    if n_base < 2:
        raise SpecError(f"n_base must be >= 2 (a power of 2 such as 512); got {n_base}")
    groups = [name for name in names for _ in range(int(factors[name]))]
    check_replicates(
        int(n_base) * (len(names) + 2),
        max_replicates,
        lambda k: evaluate(np.random.default_rng(0).random((k, len(groups)))),
        bytes_per_replicate=8.0 * len(groups),
        what=f"n_base × (factors + 2) = {int(n_base)} × {len(names) + 2}",
    )
    if 2 * len(groups) > _MAX_SOBOL_DIMENSIONS:
        widest = max(names, key=lambda k: int(factors[k]))
        raise SpecError(
            f"the Saltelli design needs 2 × {len(groups)} Sobol' dimensions, above the "
            f"{_MAX_SOBOL_DIMENSIONS} scipy supports; the largest factor is '{widest}' "
            f"({int(factors[widest])} coordinates: input noise takes one per value). Restrict "
            "input noise to fewer indicators for the sensitivity analysis, or use the "
            "Monte-Carlo uncertainty analysis alone"
        )
    if len(names) < 2:
        raise SpecError(
            f"a Sobol analysis needs at least two factors; only '{names[0]}' varies (alone, "
            "it explains all the variance: S1 = ST = 1). Add a factor, or use the "
            "Monte-Carlo uncertainty analysis"
        )
    problem = {
        "num_vars": len(groups),
        "names": [f"{g}[{i}]" for g, i in _positions(groups)],
        "bounds": [[0.0, 1.0]] * len(groups),
        "groups": groups,
    }
    rng = as_generator(seed)
    sample_seed, analyse_seed = (int(v) for v in rng.integers(1, 2**31 - 1, size=2))
    design = np.asarray(
        sample.sample(problem, int(n_base), calc_second_order=False, seed=sample_seed)
    )
    size = len(design) if chunk_size is None else max(1, int(chunk_size))
    parts = []
    for start in replicate_progress(
        range(0, len(design), size), progress, total=math.ceil(len(design) / size)
    ):
        part = np.asarray(evaluate(design[start : start + size]), dtype=np.float64)
        parts.append(part.reshape(len(design[start : start + size]), -1))
    y = np.vstack(parts)
    labels = (
        list(outputs)
        if outputs is not None
        else (["y"] if y.shape[1] == 1 else [f"output_{j}" for j in range(y.shape[1])])
    )
    if len(labels) != y.shape[1]:
        raise SpecError(f"{len(labels)} output names for {y.shape[1]} outputs")
    rows: list[dict[str, Any]] = []
    for j, label in enumerate(labels):
        column = y[:, j]
        finite = np.isfinite(column).all()
        if not finite or np.std(column) == 0:
            rows.extend(
                {
                    "output": label,
                    "factor": name,
                    "S1": np.nan,
                    "S1_conf": np.nan,
                    "ST": np.nan,
                    "ST_conf": np.nan,
                }
                for name in names
            )
            continue
        result = analyze.analyze(
            problem,
            column,
            calc_second_order=False,
            num_resamples=int(num_resamples),
            conf_level=float(conf_level),
            seed=analyse_seed,
        )
        for k, name in enumerate(names):
            rows.append(
                {
                    "output": label,
                    "factor": name,
                    "S1": float(result["S1"][k]),
                    "S1_conf": float(result["S1_conf"][k]),
                    "ST": float(result["ST"][k]),
                    "ST_conf": float(result["ST_conf"][k]),
                }
            )
    return SobolResult(
        indices=pd.DataFrame(rows, columns=_INDEX_COLUMNS),
        factors=tuple(names),
        n_base=int(n_base),
        n_evaluations=len(design),
        conf_level=float(conf_level),
    )


def _positions(groups: Sequence[str]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    out = []
    for g in groups:
        out.append((g, seen.get(g, 0)))
        seen[g] = seen.get(g, 0) + 1
    return out


def run_sensitivity(
    nominal: IndexResult,
    spec: UncertaintySpec | Mapping[str, Any] | str | Path,
    *,
    n_base: int = 512,
    seed: Seed = None,
    entities: Sequence[Any] | Literal["all"] | None = "all",
    output: Literal["rank", "score"] = "rank",
    num_resamples: int = 100,
    conf_level: float = 0.95,
    chunk_size: int | None = None,
    progress: bool = False,
    max_replicates: int | None = MAX_REPLICATES,
) -> SobolResult:
    """Sobol indices of every uncertainty factor for the mean rank shift and each entity.

    Parameters
    ----------
    nominal : IndexResult
        The nominal build.
    spec : UncertaintySpec, mapping, or path of a YAML file
        The factors (as for :func:`~securindex.analysis.uncertainty.run_uncertainty`).
    n_base : int, default 512
        Base sample N of the Saltelli design; the index is built N × (factors + 2) times.
    seed : int, numpy Generator or None
        Randomness (default ``spec.seed``).
    entities : "all", sequence or None, default "all"
        Entities whose rank (or score) is an output besides the mean rank shift: every
        row of the target node, the rows of the listed entities, or none.
    output : {"rank", "score"}, default "rank"
        What is analysed for each entity: its rank [rank] or its score [score].
    num_resamples, conf_level
        Bootstrap resamples and confidence level of the intervals.
    chunk_size : int, optional
        Design points evaluated together (default as in the uncertainty analysis).
    progress : bool, default False
        Show a progress bar (rich).
    max_replicates : int or None, default 100 000
        Refuse a design of more model evaluations than this, with its estimated time and
        memory (``None``: no limit)

    Returns
    -------
    SobolResult
        Outputs ``mean_rank_shift`` (mean over entities of |rank − nominal rank|) and one per
        entity (its label, ``entity@period`` in a panel).

    Raises
    ------
    SpecError
        If the specification is invalid or names unknown entities.
    ImportError
        Without SALib (``pip install 'securindex[sensitivity]'``).

    References
    ----------
    .. [1] Saisana, M., Saltelli, A. & Tarantola, S. (2005). JRSS A 168(2), 307–323.
       doi:10.1111/j.1467-985X.2005.00350.x
    """
    parsed, located, prefix = as_uncertainty_spec(spec)
    engine = ReplicateEngine(nominal, parsed, located=located, prefix=prefix)
    if not engine.factors:
        raise SpecError("the uncertainty specification varies nothing: no factor to analyse")
    labels = np.asarray(row_labels(engine.index), dtype=object)
    entity_values = engine.index.get_level_values("entity")
    if entities is None:
        rows = np.zeros(0, dtype=np.int64)
    elif isinstance(entities, str) and entities == "all":
        rows = np.arange(engine.n_rows)
    else:
        wanted = list(entities)
        unknown = [e for e in wanted if e not in set(entity_values)]
        if unknown:
            raise SpecError(f"unknown entities {unknown[:5]}; e.g. {list(entity_values[:5])}")
        rows = np.flatnonzero(np.isin(np.asarray(entity_values), wanted))
    nominal_rank = engine.nominal_target_rank

    def evaluate(u: FloatArray) -> FloatArray:
        scores = engine.scores_chunk(u)
        ranks = engine.ranks(scores)
        shift = np.abs(ranks - nominal_rank[None, :])
        valid = ~np.isnan(shift)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_shift = np.where(valid, shift, 0.0).sum(axis=1) / valid.sum(axis=1)
        per_entity = (ranks if output == "rank" else scores)[:, rows]
        return np.column_stack([mean_shift, per_entity])

    factors = {f.name: f.n_dims for f in engine.factors}
    size = engine.chunk_size(chunk_size)
    result = sobol_indices(
        factors,
        evaluate,
        outputs=["mean_rank_shift", *labels[rows].tolist()],
        n_base=n_base,
        seed=seed if seed is not None else parsed.seed,
        num_resamples=num_resamples,
        conf_level=conf_level,
        chunk_size=size,
        progress=progress,
        max_replicates=max_replicates,
    )
    return result
