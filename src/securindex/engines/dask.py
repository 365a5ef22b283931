"""The Dask engine: the same framework YAML, computed on a dask.dataframe.

A framework is built in the same order as :func:`securindex.pipeline.run_pipeline`
(screen → impute → treat → normalise → weight → aggregate), but over a partitioned,
lazily read panel, on a ``dask.distributed`` cluster (or dask's local threads). Each step is
split the way the OECD/JRC "learn first, apply second" rule allows:

* **learn** — statistics over *all* rows, computed as exact tree reductions of per-partition
  summaries (map → combine → finish, like dask's own ``groupby.agg``):
  counts, sums, min/max and the central moments up to the 4th (merged with the pairwise
  formulas of Pébay [3]_, so the mean, standard deviation, skewness and kurtosis equal the
  pandas engine's to rounding), the k most extreme distinct values of each column with
  their counts (what winsorising needs), and group-by sums for group means;
* **apply** — the registry's own functions per partition, re-applying what was learnt
  (normalisers take ``learnt=``), and aggregation row-wise per partition.

Methods that need an exact global *sort* — median imputation, the rank normalisers
(``rank``, ``percentile_rank``, ``borda``) and the ranks of the scores within each
period — gather one column at a time (its non-missing values, 8 bytes per row) on the
client, sort it there, and broadcast the sorted array to the workers, which rank their
partition by binary search. This is exact; it needs O(n_rows) memory per column on the
client and on each worker (80 MB per indicator for 10⁷ rows).

Formulas with ``lag`` or ``mean_over`` need each entity's whole history in one partition:
the panel is shuffled by entity first (unless it is already partitioned by entity), and
periods are numbered over the whole panel, so gaps are handled exactly as in pandas. The
entity-local imputers (``locf``, ``nocb``, ``locf_nocb``, ``linear``) use the same
partitioning.

The supported methods are listed in :data:`SUPPORTED`; a framework using anything else is
refused before any data is read, with a :class:`~securindex.errors.SpecError` naming the
method and the engine.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Part I, Steps 3–6.
   doi:10.1787/9789264043466-en
.. [2] Dask Development Team (2016). Dask: Library for dynamic task scheduling.
   https://dask.org
.. [3] Pébay, P. (2008). Formulas for robust, one-pass parallel computation of covariances
   and arbitrary-order statistical moments. Sandia Report SAND2008-6212.
   doi:10.2172/1028931
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, LABEL, PERIOD, Panel
from securindex.errors import DataError, SpecError
from securindex.formula import PanelLayout, parse_formula
from securindex.framework import Framework, split_options
from securindex.methods.aggregate import aggregators, requires_positive
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalisers
from securindex.methods.screen import screeners
from securindex.methods.treat import fails_rule, treaters
from securindex.methods.weight import overall_weights, weighters
from securindex.pipeline import normalisation_rows
from securindex.result import AUDIT_COLUMNS

if TYPE_CHECKING:
    from securindex.catalogue import Catalogue
    from securindex.incidents import IncidentPanel, IncidentSpec
    from securindex.spec.dictionary import DataDictionary
    from securindex.spec.framework import Step

__all__ = [
    "DASK_HINT",
    "SUPPORTED",
    "DaskIndexResult",
    "DaskPanel",
    "check_supported",
    "compute_dask",
    "incidents_to_panel_dask",
    "read_panel_dask",
]

DASK_HINT = "pip install 'securindex[dask]'"

SUPPORTED: dict[str, tuple[str, ...]] = {
    "screen": ("none", "availability"),
    "impute": ("none", "mean", "median", "locf", "nocb", "locf_nocb", "linear"),
    "treat": ("none", "winsorise", "log", "boxcox"),
    "normalise": (
        "minmax",
        "zscore",
        "goalposts",
        "distance_to_target",
        "distance_to_leader",
        "fraction_of_max",
        "ratio_to_mean",
        "banding",
        "rank",
        "percentile_rank",
        "borda",
    ),
    "weight": ("explicit", "equal"),
    "aggregate": ("arithmetic", "geometric", "harmonic", "generalised", "minimum", "median"),
}
"""Methods the Dask engine runs, per pipeline step. ``boxcox`` (and a winsorise fallback
to it) needs a fixed ``lmbda``: the maximum-likelihood λ needs the whole column in memory.
Weighting methods that learn from the data (PCA, benefit of the doubt) and aggregators that
compare rows (``copeland``, ``mazziotta_pareto``) are not supported."""

# what each normaliser learns from the reference sample (the rest learn nothing from data)
_MOMENT_STATS: dict[str, tuple[str, ...]] = {
    "minmax": ("min", "max"),
    "zscore": ("mean", "sd"),
    "distance_to_leader": ("min", "max"),
    "fraction_of_max": ("min", "max"),
    "ratio_to_mean": ("mean",),
}
_RANK_METHODS: dict[str, str] = {"rank": "average", "percentile_rank": "min", "borda": ""}
_FIXED_METHODS = ("goalposts", "distance_to_target", "banding")
_STAT_IMPUTERS = ("mean", "median")
_META = (ENTITY, PERIOD)
_RESOLUTION = float(np.finfo(np.float64).resolution)


# =============================================================================================
# Dask, clients and reductions
# =============================================================================================
def _dask() -> Any:
    """Import dask lazily: it is an optional extra."""
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:
        raise ImportError(
            f"the Dask engine needs dask[dataframe] and distributed: {DASK_HINT} ({exc})"
        ) from None
    return dask


@contextlib.contextmanager
def _scheduler(client: Any, scheduler: str | None) -> Iterator[Any]:
    """Run the enclosed computations on ``client``, or on a new Client(``scheduler``)."""
    dask = _dask()
    if client is None and scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ImportError(
                f"connecting to a scheduler needs distributed: {DASK_HINT} ({exc})"
            ) from None
        with Client(scheduler) as created, dask.config.set(scheduler=created):
            yield created
        return
    if client is not None:
        with dask.config.set(scheduler=client):
            yield client
        return
    yield _current_client()


def _n_workers(client: Any) -> int:
    """Workers of the cluster (cores of this machine for dask's local threads)."""
    if client is not None:
        try:
            return max(1, len(client.scheduler_info()["workers"]))
        except Exception:
            return 2
    import os

    return os.cpu_count() or 2


def _current_client() -> Any:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _tree_reduce(parts: Sequence[Any], combine: Any, split_every: int = 8) -> Any:
    """Combine delayed partial results in a tree (the combine step of a group-by)."""
    from dask import delayed

    level = list(parts)
    if not level:
        raise DataError("the data have no partitions")
    while len(level) > 1:
        level = [
            delayed(combine)(level[i : i + split_every]) for i in range(0, len(level), split_every)
        ]
    return level[0]


def _compute(*collections: Any) -> Any:
    dask = _dask()
    return dask.compute(*collections)


def _shared(value: Any) -> Any:
    """One graph key for an object every task reads (a plan, sorted references)."""
    from dask import delayed

    return delayed(value, pure=False, name=f"securindex-shared-{uuid.uuid4().hex}")


# =============================================================================================
# The panel as a dask DataFrame
# =============================================================================================
@dataclass
class DaskPanel:
    """A panel held as a dask DataFrame with columns ``entity``, ``period``, group columns
    and one float64 column per variable.

    Attributes
    ----------
    frame : dask.dataframe.DataFrame
        The rows, lazily read.
    units : dict
        Unit of each variable.
    groups : list of str
        Group columns (region, district …; ``label`` for display names).
    by_entity : bool
        True when each entity's rows are all in one partition (needed by ``lag``,
        ``mean_over`` and the entity-local imputers; otherwise the engine shuffles).
    name : str or None
        The dataset's name.
    schema : DataFrame
        One row per source file whose column types differed and were harmonised.
    """

    frame: Any
    units: dict[str, str]
    groups: list[str]
    by_entity: bool = False
    name: str | None = None
    schema: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "schema"]))
    periods: np.ndarray | None = None  # sorted periods, when known without reading
    n_rows: int | None = None

    @property
    def variables(self) -> list[str]:
        return list(self.units)


def _from_pandas_by_entity(frame: pd.DataFrame, npartitions: int) -> Any:
    """A dask DataFrame whose partitions hold whole entities (sorted by entity)."""
    _dask()
    import dask.dataframe as dd

    codes, _ = pd.factorize(frame[ENTITY], sort=True)
    indexed = frame.assign(__entity_code__=codes.astype(np.int64)).set_index("__entity_code__")
    return dd.from_pandas(indexed.sort_index(kind="stable"), npartitions=npartitions, sort=True)


def _panel_frame(panel: Panel) -> pd.DataFrame:
    frame = panel.frame.reset_index()
    groups = panel.groups.reset_index(drop=True) if len(panel.groups.columns) else None
    if groups is not None:
        frame = pd.concat([frame, groups], axis=1)
    return frame


def _read_panel_file(path: str, spec: DataDictionary, text_ids: bool) -> pd.DataFrame:
    """Read one panel file into the canonical columns; types harmonised across files."""
    from securindex.dataset import read_table

    raw = read_table(Path(path))
    columns = {spec.column_of(v): v for v in spec.variables}
    out = pd.DataFrame(
        {
            ENTITY: raw[spec.entity].astype(str) if text_ids else raw[spec.entity],
            PERIOD: raw[spec.period] if spec.period else spec.period_value,
        }
    )
    for group in spec.groups:
        out[group] = raw[group].to_numpy()
    if spec.label:
        out[LABEL] = raw[spec.label].astype(str).to_numpy()
    for column, variable in columns.items():
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() & raw[column].notna()
        if bad.any():
            examples = raw.loc[bad, column].astype(str).unique()[:3].tolist()
            raise DataError(
                f"{int(bad.sum())} non-numeric value(s) such as {examples}",
                column=column,
                source=path,
            )
        out[variable] = values.to_numpy(dtype=np.float64)
    return out


def read_panel_dask(
    data: Any,
    *,
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
    npartitions: int | None = None,
    by_entity: bool = False,
) -> DaskPanel:
    """The panel of ``data`` as a :class:`DaskPanel`, read lazily.

    Parameters
    ----------
    data : Panel, DataFrame, dask DataFrame, path, glob or list of paths
        A :class:`~securindex.dataset.Panel` or pandas frame (split into ``npartitions``
        partitions of whole entities), a dask DataFrame, or CSV/Parquet files (one
        partition per file; a glob such as ``"panel/*.parquet"``).
    dictionary : DataDictionary, mapping or path, optional
        Names the entity, period, group and variable columns and their units (required
        unless ``data`` is a Panel).
    npartitions : int, optional
        Partitions of an in-memory panel (default: about 1 per 250 000 rows).
    by_entity : bool, default False
        Declare that files or a dask DataFrame are already partitioned by entity.

    Raises
    ------
    DataError
        Files missing a column the dictionary names (all listed), or no file found.
    """
    _dask()
    import dask.dataframe as dd

    if isinstance(data, Panel):
        frame = _panel_frame(data)
        n = npartitions or max(1, len(frame) // 250_000)
        return DaskPanel(
            _from_pandas_by_entity(frame, n),
            dict(data.units),
            list(data.groups.columns),
            by_entity=True,
            name=data.name,
            periods=np.asarray(data.periods),
            n_rows=len(frame),
        )
    if dictionary is None:
        raise DataError(
            "the Dask engine needs a data dictionary (entity, period, variables with units) "
            "to read this data; give dictionary=..."
        )
    from securindex.dataset import read_dictionary
    from securindex.spec.dictionary import DataDictionary

    if isinstance(dictionary, DataDictionary):
        spec = dictionary
    elif isinstance(dictionary, (str, Path)):
        spec = read_dictionary(dictionary)
    else:
        spec = DataDictionary.model_validate(dict(dictionary))
    units = {name: v.unit for name, v in spec.variables.items()}
    groups = list(spec.groups) + ([LABEL] if spec.label else [])
    if isinstance(data, pd.DataFrame):
        return read_panel_dask(Panel.from_frame(data, dictionary=spec), npartitions=npartitions)
    if isinstance(data, dd.DataFrame):
        renamed = data.rename(
            columns={
                spec.entity: ENTITY,
                **({spec.period: PERIOD} if spec.period else {}),
                **{spec.column_of(v): v for v in spec.variables},
                **({spec.label: LABEL} if spec.label else {}),
            }
        )
        keep = [ENTITY, PERIOD, *groups, *units]
        missing = [c for c in keep if c not in renamed.columns]
        if missing:
            raise DataError(f"column(s) {missing} not in the dask DataFrame")
        renamed = renamed[keep].astype(dict.fromkeys(units, np.float64))
        return DaskPanel(renamed, units, groups, by_entity=by_entity, name=spec.name)
    from securindex.incidents.reading import expand_sources, file_schema

    sources = [data] if isinstance(data, (str, Path)) else list(data)
    paths = expand_sources(sources, Path("."))
    needed = [spec.entity, *([spec.period] if spec.period else []), *spec.groups]
    needed += [spec.column_of(v) for v in spec.variables] + ([spec.label] if spec.label else [])
    problems = []
    entity_types = set()
    notes = []
    for path in paths:
        schema = file_schema(path)
        absent = [c for c in needed if c not in schema]
        if absent:
            problems.append(f"{path.name}: missing {absent}")
            continue
        entity_types.add(schema[spec.entity])
    if problems:
        raise DataError(
            f"{len(problems)} file(s) lack columns the data dictionary names:\n  "
            + "\n  ".join(problems)
        )
    text_ids = len(entity_types) > 1
    if text_ids:
        notes.append(
            {"file": "*", "schema": f"entity ids typed {sorted(entity_types)} → read as text"}
        )
    first = _read_panel_file(str(paths[0]), spec, text_ids)
    frame = dd.from_map(
        _read_panel_file, [str(p) for p in paths], spec=spec, text_ids=text_ids, meta=first.iloc[:0]
    )
    return DaskPanel(
        frame,
        units,
        groups,
        by_entity=by_entity,
        name=spec.name,
        schema=pd.DataFrame(notes, columns=["file", "schema"]),
    )


# =============================================================================================
# What is supported
# =============================================================================================
def check_supported(framework: Framework) -> None:
    """Raise one :class:`SpecError` listing every step the Dask engine cannot run.

    Examples
    --------
    >>> from securindex.spec.framework import Step
    >>> # a framework whose weights are PCA-derived would raise:
    >>> # SpecError: pipeline.weight: weight method 'pca_loadings' is not supported by the
    >>> # dask engine; supported: explicit, equal ...
    """
    issues = []
    for path, family, step in framework._steps():
        if step.method in SUPPORTED[family]:
            problem = _unsupported_params(family, step)
            if problem:
                issues.append(framework._issue((*path, "method"), problem))
            continue
        why = {
            "weight": "it learns weights from the whole matrix",
            "aggregate": "it compares rows with each other",
            "normalise": "it needs the position of a row in the reference sample",
            "impute": "it is not implemented on partitions",
            "treat": "it is not implemented on partitions",
        }.get(family, "it is not implemented on partitions")
        issues.append(
            framework._issue(
                (*path, "method"),
                f"{family} method '{step.method}' is not supported by the dask engine ({why}); "
                f"supported: {', '.join(SUPPORTED[family])}. Use engine: pandas for this "
                "framework, or choose a supported method",
            )
        )
    issues += _unsupported_structure(framework)
    if issues:
        raise SpecError(issues)


def _unsupported_structure(framework: Framework) -> list[Any]:
    """Structure features the partitioned driver does not run yet (node formulas, DAGs,
    higher_is: worse, node imputation, node ranges): refused with the reason."""
    later = (
        "the dask driver runs weighted trees only until it runs the plan's node rules; "
        "use engine: pandas"
    )
    issues = []
    for node in framework.node_order:
        path = framework._node_path(node)
        if node in framework.formulas:
            issues.append(
                framework._issue(
                    (*path, "formula"),
                    f"node '{node}' is scored by a formula, which the dask engine does not "
                    f"run ({later})",
                )
            )
        for key, value in (
            ("impute", framework.node_impute_step(node)),
            ("normalise", framework.node_normalise_step(node)),
            ("range", framework.node_range(node)),
        ):
            if value is not None:
                issues.append(
                    framework._issue(
                        (*path, key),
                        f"node '{node}' has its own {key}, which the dask engine does not run "
                        f"({later})",
                    )
                )
    shared = sorted(c for c, parents in framework.parents.items() if len(parents) > 1)
    if shared:
        issues.append(
            framework._issue(
                ("structure",),
                f"{shared} sit under several parents (a DAG), which the dask engine does "
                f"not run ({later})",
            )
        )
    if framework.spec.higher_is != "better" or any(
        framework.higher_is(n) != "better" for n in framework.node_order
    ):
        issues.append(
            framework._issue(
                ("higher_is",),
                f"higher_is: worse is not supported by the dask engine ({later})",
            )
        )
    return issues


def _unsupported_params(family: str, step: Step) -> str | None:
    options, params = split_options(family, step)
    if "reference_entity" in options:
        return (
            "normalise option 'reference_entity' is not supported by the dask engine (it needs "
            "the position of one entity's row in the reference sample); use engine: pandas"
        )
    if family == "treat" and options.get("per_period", False):
        return (
            "treat option 'per_period' is not supported by the dask engine yet (its treatment "
            "summaries are pooled over periods); use engine: pandas"
        )
    if family == "treat":
        method = step.method
        fallback = params.get("fallback", "log_CT") if method == "winsorise" else None
        if (method == "boxcox" or fallback == "boxcox") and params.get("lmbda") is None:
            return (
                f"treat method '{method}' with a maximum-likelihood Box-Cox λ is not supported "
                "by the dask engine (the likelihood needs the whole column in memory); give a "
                "fixed 'lmbda', or use engine: pandas"
            )
    return None


# =============================================================================================
# Mergeable column summaries: moments of the core plus the extreme distinct values
# =============================================================================================
_Moments = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # n, mean, M2..M4


def _moments_of(X: np.ndarray, mask: np.ndarray) -> _Moments:
    """Count, mean and central sums Σ(x - mean)^p, p = 2, 3, 4, of the masked values."""
    n = mask.sum(axis=0).astype(np.float64)
    safe = np.where(n > 0, n, 1.0)
    mean = np.where(mask, X, 0.0).sum(axis=0) / safe
    d = np.where(mask, X - mean, 0.0)
    d2 = d * d
    return (
        n,
        np.where(n > 0, mean, 0.0),
        d2.sum(axis=0),
        (d2 * d).sum(axis=0),
        (d2 * d2).sum(axis=0),
    )


def _weighted_moments(values: np.ndarray, counts: np.ndarray) -> _Moments:
    """Moments of a small set of distinct values with multiplicities (one column)."""
    n = float(counts.sum())
    if n == 0:
        zero = np.zeros(1)
        return np.zeros(1), zero, zero, zero, zero
    mean = float((counts * values).sum() / n)
    d = values - mean
    d2 = d * d
    return (
        np.array([n]),
        np.array([mean]),
        np.array([(counts * d2).sum()]),
        np.array([(counts * d2 * d).sum()]),
        np.array([(counts * d2 * d2).sum()]),
    )


def _merge_moments(a: _Moments, b: _Moments) -> _Moments:
    """Pairwise merge of central moments (Pébay 2008, eqs. 2.1 and 3.1), per column."""
    na, ma, a2, a3, a4 = a
    nb, mb, b2, b3, b4 = b
    n = na + nb
    safe = np.where(n > 0, n, 1.0)
    delta = mb - ma
    both = (na > 0) & (nb > 0)
    delta = np.where(both, delta, 0.0)
    mean = np.where(na == 0, mb, np.where(nb == 0, ma, ma + delta * nb / safe))
    m2 = a2 + b2 + delta**2 * na * nb / safe
    m3 = (
        a3
        + b3
        + delta**3 * na * nb * (na - nb) / safe**2
        + 3.0 * delta * (na * b2 - nb * a2) / safe
    )
    m4 = (
        a4
        + b4
        + delta**4 * na * nb * (na * na - na * nb + nb * nb) / safe**3
        + 6.0 * delta**2 * (na * na * b2 + nb * nb * a2) / safe**2
        + 4.0 * delta * (na * b3 - nb * a3) / safe
    )
    return n, mean, m2, m3, m4


def _extreme_levels(col: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The ``depth`` smallest and largest distinct values with counts, and the open interval
    (low, high) of the remaining ("core") values; an empty core is (inf, -inf)."""
    m = len(col)
    if m <= 8 * depth + 64:
        u, c = np.unique(col, return_counts=True)
        return _split_levels(u, c.astype(np.float64), depth)

    def side(top: bool) -> tuple[np.ndarray, np.ndarray]:
        take = min(m, depth)
        while True:
            threshold = np.partition(col, m - take if top else take - 1)[
                m - take if top else take - 1
            ]
            candidates = col[col >= threshold] if top else col[col <= threshold]
            u, c = np.unique(candidates, return_counts=True)
            if len(u) >= depth or take >= m:
                return u, c.astype(np.float64)
            take = min(m, take * 4)

    up, cp = side(True)
    down, cd = side(False)
    if len(up) < depth or len(down) < depth or down[depth - 1] >= up[-depth]:
        u, c = np.unique(col, return_counts=True)
        return _split_levels(u, c.astype(np.float64), depth)
    values = np.concatenate([down[:depth], up[-depth:]])
    counts = np.concatenate([cd[:depth], cp[-depth:]])
    return values, counts, float(down[depth - 1]), float(up[-depth])


def _split_levels(
    u: np.ndarray, c: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    if len(u) <= 2 * depth:
        return u, c, np.inf, -np.inf
    keep = np.r_[np.arange(depth), np.arange(len(u) - depth, len(u))]
    return u[keep], c[keep], float(u[depth - 1]), float(u[len(u) - depth])


@dataclass
class _Summary:
    """Mergeable summary of the columns of a block: exact for everything the engine learns.

    ``levels[j]`` holds the ``depth`` smallest and largest distinct values of column j with
    their counts; ``core`` the moments of every other value. ``total`` and ``count`` are the
    plain sum and number of the observed values (for the mean, as pandas computes it).
    """

    depth: int
    core: _Moments
    levels: list[tuple[np.ndarray, np.ndarray]]
    total: np.ndarray
    count: np.ndarray


def _summarise(X: np.ndarray, depth: int) -> _Summary:
    """Summarise each column of a block (one contiguous column at a time)."""
    k = X.shape[1]
    moments = [np.zeros(k) for _ in range(5)]
    total = np.zeros(k)
    count = np.zeros(k)
    levels = []
    columns = np.asfortranarray(X)
    for j in range(k):  # a loop over indicators; each step is vectorised over rows
        col = columns[:, j]
        col = col[~np.isnan(col)]
        count[j], total[j] = len(col), col.sum()
        values, counts, low, high = _extreme_levels(col, depth)
        levels.append((values, counts))
        core = col[(col > low) & (col < high)]
        if len(core):
            mean = core.sum() / len(core)
            d = core - mean
            d2 = d * d
            for target, value in zip(
                moments, (len(core), mean, d2.sum(), (d2 * d).sum(), (d2 * d2).sum()), strict=True
            ):
                target[j] = value
    n, mean, m2, m3, m4 = moments
    return _Summary(depth, (n, mean, m2, m3, m4), levels, total, count)


def _merge_summaries(parts: Sequence[_Summary]) -> _Summary:
    depth = parts[0].depth
    core = reduce(_merge_moments, [p.core for p in parts])
    levels = []
    for j in range(len(parts[0].levels)):
        values = np.concatenate([p.levels[j][0] for p in parts])
        counts = np.concatenate([p.levels[j][1] for p in parts])
        u, inverse = np.unique(values, return_inverse=True)
        c = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(u))
        if len(u) > 2 * depth:
            middle = slice(depth, len(u) - depth)
            leftover = _weighted_moments(u[middle], c[middle])
            column = tuple(a[j : j + 1] for a in core)
            merged = _merge_moments(column, leftover)  # type: ignore[arg-type]
            for target, value in zip(core, merged, strict=True):
                target[j] = value[0]
            keep = np.r_[np.arange(depth), np.arange(len(u) - depth, len(u))]
            u, c = u[keep], c[keep]
        levels.append((u, c))
    return _Summary(
        depth,
        core,
        levels,
        np.sum([p.total for p in parts], axis=0),
        np.sum([p.count for p in parts], axis=0),
    )


def _subset(summary: _Summary, columns: Sequence[int]) -> _Summary:
    """The summary of some columns of a summarised block."""
    index = np.asarray(columns, dtype=np.int64)
    core = tuple(np.asarray(a)[index].copy() for a in summary.core)
    return _Summary(
        summary.depth,
        core,
        [summary.levels[j] for j in index],
        summary.total[index],
        summary.count[index],
    )


def _column_moments(
    summary: _Summary, j: int, floor: float = -np.inf, cap: float = np.inf
) -> _Moments:
    """Moments of column j with its extreme values clipped to [floor, cap]."""
    values, counts = summary.levels[j]
    core = tuple(a[j : j + 1] for a in summary.core)
    return _merge_moments(core, _weighted_moments(np.clip(values, floor, cap), counts))  # type: ignore[arg-type]


def _shape(moments: _Moments) -> tuple[float, float]:
    """Bias-corrected skewness G1 and excess kurtosis G2, as :func:`treat.skewness`/
    :func:`treat.kurtosis` compute them (with their guard for constant columns)."""
    n, mean, m2_sum, m3_sum, m4_sum = (float(a[0]) for a in moments)
    if n == 0:
        return np.nan, np.nan
    m2, m3, m4 = m2_sum / n, m3_sum / n, m4_sum / n
    if m2 <= (_RESOLUTION * abs(mean)) ** 2:
        m2 = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        g1 = m3 / m2**1.5 if m2 > 0 else np.nan
        g2 = m4 / m2**2 - 3.0 if m2 > 0 else np.nan
        skew = g1 * np.sqrt(n * (n - 1.0)) / (n - 2.0) if n >= 3 and m2 > 0 else np.nan
        kurt = (
            (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * g2 + 6.0)
            if n >= 4 and m2 > 0
            else np.nan
        )
    return float(skew), float(kurt)


def _learnt_moments(summary: _Summary) -> dict[str, np.ndarray]:
    """min, max, mean (sum / n) and sample sd (n - 1) of every column."""
    k = len(summary.levels)
    out = {name: np.full(k, np.nan) for name in ("min", "max", "mean", "sd")}
    for j in range(k):
        values, _ = summary.levels[j]
        n = summary.count[j]
        if n == 0:
            continue
        out["min"][j], out["max"][j] = values[0], values[-1]
        out["mean"][j] = summary.total[j] / n
        moments = _column_moments(summary, j)
        out["sd"][j] = np.sqrt(moments[2][0] / (n - 1.0)) if n > 1 else np.nan
    return out


# =============================================================================================
# The plan: everything a partition needs to apply the pipeline
# =============================================================================================
@dataclass
class _TreatGroup:
    columns: list[int]
    method: str
    skew_max: float
    kurt_max: float
    floor: np.ndarray  # per column (winsorise); -inf where untouched
    cap: np.ndarray
    transform: list[str]  # per column: "none" or the transform applied
    lo: np.ndarray  # column min/max for transforms
    hi: np.ndarray
    skew_positive: np.ndarray
    shift: np.ndarray
    lmbda: np.ndarray
    report: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _NormaliseGroup:
    columns: list[int]
    method: str
    params: dict[str, Any]
    mode: str
    learnt: dict[Any, dict[str, np.ndarray]]  # reference key (None, or a period) → learnt
    references: dict[Any, list[np.ndarray]] = field(default_factory=dict)  # rank methods


@dataclass
class _NodePlan:
    node: str
    children: list[str]
    weights: np.ndarray
    method: str
    params: dict[str, Any]
    allow_zero: bool
    policy: str
    min_coverage: float


@dataclass
class _Plan:
    ids: list[str]
    groups: list[str]
    screen: tuple[str, dict[str, Any]]
    screen_on: str = "raw"  # screen the raw values, or the imputed ones
    impute_periods: np.ndarray | None = None  # sorted periods of the rows imputed
    impute: dict[str, Any] | None = None
    treat: list[_TreatGroup] | None = None
    normalise: list[_NormaliseGroup] | None = None
    direction: np.ndarray | None = None
    tree: list[_NodePlan] | None = None
    node_order: list[str] = field(default_factory=list)
    n_rows: int = 0  # rows of the panel, to size what is gathered at once
    periods: np.ndarray | None = None  # sorted periods of the screened rows


def _stage_frame(
    part: pd.DataFrame, X: np.ndarray, ids: Sequence[str], carry: Sequence[str] = ()
) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=list(ids), index=part.index)
    return pd.concat([part[[ENTITY, PERIOD, *carry]], frame], axis=1).reset_index(drop=True)


def _audit_frame(
    stage: str,
    part: pd.DataFrame,
    rows: np.ndarray,
    item: Any,
    action: str,
    before: Any = np.nan,
    after: Any = np.nan,
    detail: Any = "",
) -> pd.DataFrame:
    """Audit rows in the pandas engine's format (:data:`securindex.result.AUDIT_COLUMNS`)."""
    return pd.DataFrame(
        {
            "stage": stage,
            "entity": part[ENTITY].to_numpy()[rows],
            "period": part[PERIOD].to_numpy()[rows],
            "item": item,
            "action": action,
            "before": before,
            "after": after,
            "detail": detail,
        },
        columns=AUDIT_COLUMNS,
    )


def _screen_apply(
    X: np.ndarray, part: pd.DataFrame, plan: _Plan, audit: list[pd.DataFrame] | None
) -> np.ndarray:
    method, params = plan.screen
    keep = np.asarray(screeners.get(method)(X, **params), dtype=bool)
    if audit is not None and not keep.all():
        dropped = np.flatnonzero(~keep)
        share = (~np.isnan(X[dropped])).mean(axis=1)
        audit.append(
            _audit_frame(
                "screen",
                part,
                dropped,
                "row",
                "excluded",
                share,
                np.nan,
                f"{method} {params}: share of indicators present",
            )
        )
    return keep


def _run_partition(
    part: pd.DataFrame, plan: _Plan, upto: str, carry: Sequence[str] = (), arrays: bool = False
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
        raw = X
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
    if audit is not None:
        rows, cols = np.nonzero(imputed)
        if len(rows):
            name = plan.impute["method"] if plan.impute else "none"
            audit.append(
                _audit_frame(
                    "impute",
                    part,
                    rows,
                    np.asarray(ids, dtype=object)[cols],
                    "imputed",
                    np.nan,
                    X[rows, cols],
                    name,
                )
            )
    if upto == "imputed":
        return (part, X) if arrays else _stage_frame(part, X, ids, carry)
    if plan.treat is None:
        raise RuntimeError("treatment not planned")  # pragma: no cover - engine order
    before = X
    X = _treat_apply(X, plan.treat)
    if audit is not None:
        for group in plan.treat:
            cols = np.asarray(group.columns)
            changed = ~np.isnan(before[:, cols]) & (X[:, cols] != before[:, cols])
            changed[:, [t != "none" for t in group.transform]] = False
            rows, local = np.nonzero(changed)
            if len(rows):
                c = cols[local]
                audit.append(
                    _audit_frame(
                        "treat",
                        part,
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
    if plan.tree is None:
        raise RuntimeError("aggregation not planned")  # pragma: no cover - engine order
    scores = _aggregate_apply(X, part, plan, audit)
    if audit is not None:
        frames = [a for a in audit if len(a)]
        if not frames:
            return _empty_audit()
        return _audit_types(pd.concat(frames, ignore_index=True))
    frame = pd.DataFrame({n: scores[n] for n in plan.node_order}, index=part.index)
    return pd.concat([part[[ENTITY, PERIOD]], frame], axis=1).reset_index(drop=True)


_AUDIT_TEXT = ("stage", "entity", "period", "item", "action", "detail")


def _audit_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Audit rows with text ids (entity and period as written) and float before/after, so
    that every partition and the Parquet files share one schema."""
    types: dict[str, Any] = dict.fromkeys(_AUDIT_TEXT, "string")
    types.update(before=np.float64, after=np.float64)
    out = frame.astype(types)
    return out


def _empty_audit() -> pd.DataFrame:
    return _audit_types(pd.DataFrame({c: pd.Series(dtype=object) for c in AUDIT_COLUMNS}))


# -- impute ----------------------------------------------------------------------------------
def _key_index(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Index:
    """The imputation key of each row: (group, period) values, or a single key 0."""
    if not keys:
        return pd.Index(np.zeros(len(frame), dtype=np.int64), name="all")
    return pd.MultiIndex.from_arrays([frame[c].to_numpy() for c in keys], names=list(keys))


def _impute_apply(X: np.ndarray, part: pd.DataFrame, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    spec = plan.impute
    if spec is None or spec["method"] == "none" or not len(X):
        return X, np.zeros(X.shape, dtype=bool)
    if spec["kind"] == "panel":
        entity, _ = pd.factorize(part[ENTITY], sort=True)
        periods = part[PERIOD]
        if pd.api.types.is_numeric_dtype(periods):  # years keep their spacing, as in pandas
            period = periods.to_numpy(dtype=np.float64)
        else:
            assert plan.impute_periods is not None
            period = np.searchsorted(plan.impute_periods, periods.to_numpy()).astype(np.int64)
        result = imputers.get(spec["method"])(
            X, entity=entity.astype(np.int64), period=period, **spec["params"]
        )
        return result.values, result.imputed
    table: pd.DataFrame = spec["table"]
    rows = table.index.get_indexer(_key_index(part, spec["keys"]))
    stats = np.full((len(X), X.shape[1]), np.nan)
    found = rows >= 0
    stats[found] = table.to_numpy()[rows[found]]
    filled = np.where(np.isnan(X), stats, X)
    return filled, np.isnan(X) & ~np.isnan(filled)


# -- treat -----------------------------------------------------------------------------------
def _treat_apply(X: np.ndarray, groups: Sequence[_TreatGroup]) -> np.ndarray:
    out = X.copy()
    for group in groups:
        for local, column in enumerate(group.columns):
            x = X[:, column]
            name = group.transform[local]
            if name == "none":
                floor, cap = group.floor[local], group.cap[local]
                if np.isfinite(floor) or np.isfinite(cap):
                    out[:, column] = np.where(np.isnan(x), x, np.clip(x, floor, cap))
                continue
            out[:, column] = _transform_apply(x, name, group, local)
    return out


def _transform_apply(x: np.ndarray, name: str, group: _TreatGroup, j: int) -> np.ndarray:
    """One whole-column transform with the column's global statistics (as
    :func:`securindex.methods.treat.transform` computes it from the whole column)."""
    shift = group.shift[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "ln":
            return np.log(x)
        if name in ("log_CT", "log_CT_orig"):
            return np.log(x + shift)
        if name == "log_CT_neg":
            return -np.log(shift - x)
        if name == "boxcox":
            lam = group.lmbda[j]
            y = x + shift
            if lam == 0:
                return np.log(y)
            return (y**lam - 1.0) / lam
    raise SpecError(f"transform {name!r} is not supported by the dask engine")  # pragma: no cover


# -- normalise -------------------------------------------------------------------------------
def _normalise_apply(X: np.ndarray, part: pd.DataFrame, plan: _Plan) -> np.ndarray:
    assert plan.normalise is not None and plan.direction is not None
    out = np.full_like(X, np.nan)
    periods = part[PERIOD].to_numpy()
    for group in plan.normalise:
        cols = np.asarray(group.columns)
        direction = plan.direction[cols]
        if group.mode == "per_period":
            keys = list(pd.unique(periods))
            masks = [periods == p for p in keys]
        else:
            keys, masks = [None], [np.ones(len(X), dtype=bool)]
        for key, rows in zip(keys, masks, strict=True):  # a loop over periods, not rows
            block = X[np.ix_(rows, cols)]
            if group.method in _RANK_METHODS:
                values = _rank_block(block, direction, group, key)
            else:
                func = normalisers.get(group.method)
                values = func(
                    block, direction=direction, learnt=group.learnt[key], **group.params
                ).values
            out[np.ix_(rows, cols)] = values
    return out


def _rank_block(
    block: np.ndarray, direction: np.ndarray, group: _NormaliseGroup, key: Any
) -> np.ndarray:
    """Rank-type scores by binary search in the sorted reference (what the normalisers'
    joint sort computes, O(log n) per value)."""
    ties = group.params.get("ties", _RANK_METHODS[group.method])
    out = np.full(block.shape, np.nan)
    for j in range(block.shape[1]):  # a loop over indicators
        reference = group.references[key][j]
        n_ref = len(reference)
        d = direction[j]
        oriented = reference if d > 0 else -reference[::-1]
        v = block[:, j] * d
        less = np.searchsorted(oriented, v, side="left").astype(np.float64)
        leq = np.searchsorted(oriented, v, side="right").astype(np.float64)
        if group.method == "borda":
            y = less if n_ref else np.full(len(v), np.nan)
        else:
            ties_n = np.maximum(leq - less, 1.0)
            if ties == "min":
                r = less + 1.0
            elif ties == "max":
                r = less + ties_n
            else:
                r = less + (ties_n + 1.0) / 2.0
            r = r if n_ref else np.full(len(v), np.nan)
            if group.method == "percentile_rank":
                with np.errstate(invalid="ignore"):
                    y = np.clip(
                        100.0 * (r - 1.0) / (n_ref - 1.0 if n_ref != 1 else 1.0), 0.0, 100.0
                    )
                y = np.full(len(v), 50.0) if n_ref == 1 else y
            else:
                y = r
        out[:, j] = np.where(np.isnan(block[:, j]), np.nan, y)
    return out


# -- aggregate -------------------------------------------------------------------------------
def _aggregate_apply(
    X: np.ndarray, part: pd.DataFrame, plan: _Plan, audit: list[pd.DataFrame] | None
) -> dict[str, np.ndarray]:
    """Weight and aggregate every node, row-wise, with the nodes' missing-data policies."""
    assert plan.tree is not None
    columns: dict[str, np.ndarray] = {i: X[:, k] for k, i in enumerate(plan.ids)}
    scores: dict[str, np.ndarray] = {}
    for node in plan.tree:
        w = node.weights
        if len(X):
            block = np.column_stack([columns[c] for c in node.children])
        else:
            block = np.zeros((0, len(node.children)))
        missing = np.isnan(block)
        if missing.any():
            if node.policy == "fail":
                rows = np.flatnonzero(missing.any(axis=1))
                labels = list(
                    zip(
                        part[ENTITY].to_numpy()[rows[:20]],
                        part[PERIOD].to_numpy()[rows[:20]],
                        strict=True,
                    )
                )
                raise DataError(
                    f"node '{node.node}' has missing children in {len(rows)} row(s) and its "
                    "missing-data policy is 'fail'; impute first, or use policy renormalise "
                    "or coverage",
                    rows=labels,
                )
            if node.policy == "coverage":
                total = float(np.sum(w))
                present = (
                    np.where(missing, 0.0, w).sum(axis=1) / total
                    if total > 0
                    else np.zeros(len(block))
                )
                short = present < node.min_coverage - 1e-12
                if short.any():
                    if audit is not None:
                        rows = np.flatnonzero(short)
                        audit.append(
                            _audit_frame(
                                "aggregate",
                                part,
                                rows,
                                node.node,
                                "not scored",
                                present[rows],
                                np.nan,
                                f"weight share of present children < {node.min_coverage:g}",
                            )
                        )
                    block = block.copy()
                    block[short] = np.nan
        if node.allow_zero:
            with np.errstate(invalid="ignore"):
                zero = (block == 0).any(axis=1)
            if zero.any():
                if audit is not None:
                    audit.append(
                        _audit_frame(
                            "aggregate",
                            part,
                            np.flatnonzero(zero),
                            node.node,
                            "not scored",
                            0.0,
                            np.nan,
                            f"a child is 0 (its lower goalpost): the {node.method} mean is undefined",
                        )
                    )
                block = block.copy()
                block[zero] = np.nan
        try:
            score = aggregators.get(node.method)(block, w, **node.params)
        except DataError as exc:
            raise DataError(f"node '{node.node}' ({node.method}): {exc}") from None
        scores[node.node] = np.asarray(score, dtype=np.float64)
        columns[node.node] = scores[node.node]
    return scores


# =============================================================================================
# Indicators per partition
# =============================================================================================
class _PartitionPanel(Panel):
    """A partition of a panel whose period codes count over the *whole* panel's periods,
    so ``lag``/``mean_over`` see the same gaps as on the full panel."""

    def __init__(self, *args: Any, all_periods: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.all_periods = all_periods

    def layout(self) -> PanelLayout:
        entity_codes, entities = pd.factorize(self.frame.index.get_level_values(ENTITY))
        period_codes = np.searchsorted(
            self.all_periods, self.frame.index.get_level_values(PERIOD).to_numpy()
        )
        return PanelLayout(
            entity_codes=entity_codes.astype(np.int64),
            period_codes=period_codes.astype(np.int64),
            n_entities=len(entities),
            n_periods=len(self.all_periods),
        )


def _indicator_partition(
    part: pd.DataFrame,
    indicators: list[Any],
    ids: list[str],
    units: dict[str, str],
    groups: list[str],
    all_periods: np.ndarray | None,
) -> pd.DataFrame:
    part = part.reset_index(drop=True)
    out = part[[ENTITY, PERIOD, *groups]].copy()
    if not len(part):
        for i in ids:
            out[i] = np.zeros(0)
        return out
    index = pd.MultiIndex.from_arrays(
        [part[ENTITY].to_numpy(), part[PERIOD].to_numpy()], names=[ENTITY, PERIOD]
    )
    frame = pd.DataFrame({v: part[v].to_numpy(dtype=np.float64) for v in units}, index=index)
    periods = (
        all_periods if all_periods is not None else np.sort(pd.unique(part[PERIOD].to_numpy()))
    )
    panel = _PartitionPanel(frame, units, all_periods=periods)
    # the catalogue is rebuilt from its (picklable) indicator specs on the worker: pint units
    # of the project's registry do not survive pickling (see docs/scale.md)
    from securindex.catalogue import Catalogue

    values = Catalogue(indicators).compute(panel, indicators=ids)
    for i in ids:
        out[i] = values.frame[i].to_numpy()
    return out


def _uses_panel(catalogue: Catalogue) -> bool:
    return any(parse_formula(indicator.formula).uses_panel for indicator in catalogue.values())


# =============================================================================================
# Reductions the planner runs
# =============================================================================================
def _summary_chunk(
    part: pd.DataFrame,
    plan: _Plan,
    upto: str,
    columns: list[int],
    depth: int,
    by: str | None,
    only: Any = None,
) -> dict[Any, _Summary]:
    rows, X = _run_partition(part, plan, upto, arrays=True)
    if columns != list(range(X.shape[1])):
        X = X[:, columns]
    if by is None:
        if only is not None:
            X = X[rows[PERIOD].to_numpy() == only]
        return {None: _summarise(X, depth)}
    keys = rows[by].to_numpy()
    return {key: _summarise(X[keys == key], depth) for key in pd.unique(keys)}


def _merge_keyed(parts: Sequence[dict[Any, _Summary]]) -> dict[Any, _Summary]:
    out: dict[Any, list[_Summary]] = {}
    for part in parts:
        for key, summary in part.items():
            out.setdefault(key, []).append(summary)
    return {
        key: _merge_summaries(items) if len(items) > 1 else items[0] for key, items in out.items()
    }


def _summaries(
    parts: Sequence[Any],
    plan: Any,
    upto: str,
    columns: list[int],
    depth: int,
    by: str | None = None,
    only: Any = None,
) -> dict[Any, _Summary]:
    from dask import delayed

    chunks = [delayed(_summary_chunk)(p, plan, upto, columns, depth, by, only) for p in parts]
    (result,) = _compute(_tree_reduce(chunks, _merge_keyed))
    return dict(result)


def _periods_chunk(part: pd.DataFrame, plan: _Plan, upto: str) -> tuple[np.ndarray, int]:
    """Distinct periods of a stage's rows, and the partition's number of rows."""
    rows, _ = _run_partition(part, plan, upto, arrays=True)
    return np.asarray(pd.unique(rows[PERIOD].to_numpy())), len(part)


def _union(parts: Sequence[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    periods = np.asarray(pd.unique(np.concatenate([p for p, _ in parts])))
    return periods, sum(n for _, n in parts)


def _group_sums_chunk(part: pd.DataFrame, plan: _Plan, keys: list[str]) -> pd.DataFrame:
    """Sums and counts of the observed values of each indicator per imputation key."""
    stage = _gather_chunk(part, plan, "raw", [*keys, *plan.ids])
    X = stage[plan.ids].to_numpy(dtype=np.float64)
    observed = ~np.isnan(X)
    frame = pd.DataFrame(
        np.hstack([np.where(observed, X, 0.0), observed.astype(np.float64)]),
        columns=[*(f"s:{i}" for i in plan.ids), *(f"n:{i}" for i in plan.ids)],
        index=_key_index(stage, keys),
    )
    return frame.groupby(level=list(range(frame.index.nlevels)), dropna=False).sum()


def _sum_frames(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts).groupby(level=list(range(parts[0].index.nlevels)), dropna=False).sum()


def _gather_chunk(part: pd.DataFrame, plan: _Plan, upto: str, columns: list[str]) -> pd.DataFrame:
    carry = [c for c in columns if c in plan.groups]
    return _run_partition(part, plan, upto, carry)[columns]


_GATHER_BYTES = 256 * 2**20
"""Largest block of values gathered on the client at once [bytes]."""


def _batches(columns: Sequence[int], n_rows: int) -> list[list[int]]:
    """Indicator positions in batches of at most ``_GATHER_BYTES`` of gathered values."""
    size = max(1, _GATHER_BYTES // max(1, 8 * n_rows))
    return [list(columns[i : i + size]) for i in range(0, len(columns), size)]


def _gather(parts: Sequence[Any], plan: Any, upto: str, columns: list[str]) -> pd.DataFrame:
    from dask import delayed

    frames = _compute(*[delayed(_gather_chunk)(p, plan, upto, columns) for p in parts])
    return pd.concat(frames, ignore_index=True)


# =============================================================================================
# Planning each step
# =============================================================================================
def _plan_impute(fw: Framework, plan: _Plan, parts: Sequence[Any]) -> None:
    """Learn the imputation: group means (a group-by sum), group medians (gathered, exact),
    or nothing to learn for the entity-local imputers."""
    step = fw.spec.pipeline.impute
    params = step.params
    group = params.pop("group", None)
    method = step.method
    if group is not None and group not in plan.groups:
        raise SpecError(
            f"impute group column '{group}' is not a group of the data; groups are "
            f"{plan.groups} (declare it under 'groups' in the data dictionary)"
        )
    probe = np.array([[1.0], [np.nan], [2.0]])
    imputers.get(method)(
        probe,
        groups=np.zeros(3, dtype=np.int64),
        entity=np.zeros(3, dtype=np.int64),
        period=np.arange(3, dtype=np.int64),
        **dict(params),
    )  # validates the parameters
    if method == "none":
        plan.impute = {"method": "none"}
        return
    if imputers.get(method).panel:
        plan.impute = {"method": method, "kind": "panel", "params": params}
        return
    within = bool(params.get("within_period", False))
    keys = ([group] if group else []) + ([PERIOD] if within else [])
    shared = _shared(plan)
    if method == "mean":
        from dask import delayed

        chunks = [delayed(_group_sums_chunk)(p, shared, keys) for p in parts]
        (sums,) = _compute(_tree_reduce(chunks, _sum_frames))
        totals = sums[[f"s:{i}" for i in plan.ids]].to_numpy()
        counts = sums[[f"n:{i}" for i in plan.ids]].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, totals / np.where(counts > 0, counts, 1.0), np.nan)
        table = pd.DataFrame(means, index=sums.index, columns=plan.ids)
    else:  # median: an exact order statistic, gathered one indicator at a time
        columns: dict[str, pd.Series] = {}
        for batch in _batches(range(len(plan.ids)), plan.n_rows):
            names = [plan.ids[j] for j in batch]
            gathered = _gather(parts, shared, "raw", [*keys, *names])
            codes, uniques = pd.factorize(_key_index(gathered, keys), sort=True)
            groups = np.r_[codes, np.arange(len(uniques))].astype(np.int64)
            # one extra missing row per key: the median imputer fills it with the key's median
            values = gathered[names].to_numpy(dtype=np.float64)
            padded = np.vstack([values, np.full((len(uniques), len(names)), np.nan)])
            filled = imputers.get("median")(padded, groups=groups).values
            for local, name in enumerate(names):
                columns[name] = pd.Series(filled[len(values) :, local], index=uniques)
        table = pd.DataFrame(columns)
    if keys and not isinstance(table.index, pd.MultiIndex):
        table.index = pd.MultiIndex.from_arrays([table.index], names=keys)
    plan.impute = {"method": method, "kind": "table", "table": table, "keys": keys}


def _plan_treat(fw: Framework, plan: _Plan, parts: Sequence[Any]) -> pd.DataFrame:
    ids = plan.ids
    groups: dict[str, list[int]] = {}
    for position, i in enumerate(ids):
        groups.setdefault(fw.treat_step(i).key(), []).append(position)
    planned: list[_TreatGroup] = []
    shared = _shared(plan)
    report_rows: list[dict[str, Any]] = []
    after_needed: list[tuple[_TreatGroup, int]] = []
    settings: list[tuple[list[int], Step, dict[str, Any], int]] = []
    for columns in groups.values():
        step = fw.treat_step(ids[columns[0]])
        _, params = split_options("treat", step)
        probe = np.tile(np.array([[1.0], [2.0], [3.0], [4.0], [50.0]]), (1, len(columns)))
        treaters.get(step.method)(probe, **dict(params))  # validates the parameters
        winmax = int(params.get("winmax", 5)) if step.method == "winsorise" else 0
        settings.append((columns, step, params, winmax))
    # one pass for every column: the deepest winsorisation decides how many extremes to keep
    depth = max(winmax for *_, winmax in settings) + 1
    everything = _summaries(parts, shared, "imputed", list(range(len(ids))), depth=depth)[None]
    for columns, step, params, winmax in settings:
        skew_max = float(params.get("skew_max", 2.0))
        kurt_max = float(params.get("kurt_max", 3.5))
        summary = _subset(everything, columns)
        group = _plan_columns(step.method, params, summary, columns, skew_max, kurt_max, winmax)
        planned.append(group)
        for local, record in enumerate(group.report):
            if group.transform[local] != "none":
                after_needed.append((group, local))
            fields = {k: v for k, v in record.items() if k != "column"}
            report_rows.append({"indicator": ids[columns[local]], **fields, "method": step.method})
    plan.treat = planned
    if after_needed:  # statistics of transformed columns: one more pass over the treated data
        transformed = sorted({g.columns[j] for g, j in after_needed})
        summary = _summaries(parts, _shared(plan), "treated", transformed, depth=1)[None]
        for group, local in after_needed:
            j = transformed.index(group.columns[local])
            skew, kurt = _shape(_column_moments(summary, j))
            record = group.report[local]
            record.update(
                skew_after=skew,
                kurt_after=kurt,
                pass_after=bool(
                    ~fails_rule(np.array(skew), np.array(kurt), group.skew_max, group.kurt_max)
                ),
            )
            for row in report_rows:
                if row["indicator"] == ids[group.columns[local]]:
                    row.update(skew_after=skew, kurt_after=kurt, pass_after=record["pass_after"])
    order = {i: k for k, i in enumerate(ids)}
    frame = pd.DataFrame(report_rows)
    if not frame.empty:
        frame = frame.sort_values("indicator", key=lambda s: s.map(order), kind="stable")
    return frame.reset_index(drop=True)


def _plan_columns(
    method: str,
    params: Mapping[str, Any],
    summary: _Summary,
    columns: list[int],
    skew_max: float,
    kurt_max: float,
    winmax: int,
) -> _TreatGroup:
    """Decide each column's treatment from its global summary, exactly as the treaters do."""
    k = len(columns)
    group = _TreatGroup(
        columns=list(columns),
        method=method,
        skew_max=skew_max,
        kurt_max=kurt_max,
        floor=np.full(k, -np.inf),
        cap=np.full(k, np.inf),
        transform=["none"] * k,
        lo=np.full(k, np.nan),
        hi=np.full(k, np.nan),
        skew_positive=np.zeros(k, bool),
        shift=np.full(k, np.nan),
        lmbda=np.full(k, np.nan),
    )
    fallback = params.get("fallback", "log_CT") if method == "winsorise" else "none"
    name = params.get("transform", "ln") if method == "log" else "boxcox"
    lmbda = params.get("lmbda")
    makepos = bool(params.get("makepos", True))
    only_failing = bool(params.get("only_failing", False))
    for j in range(k):
        values, counts = summary.levels[j]
        count = summary.count[j]
        lo = float(values[0]) if len(values) else np.nan
        hi = float(values[-1]) if len(values) else np.nan
        group.lo[j], group.hi[j] = lo, hi
        skew0, kurt0 = _shape(_column_moments(summary, j))
        fails0 = bool(fails_rule(np.array(skew0), np.array(kurt0), skew_max, kurt_max))
        record: dict[str, Any] = {
            "column": j,
            "skew_before": skew0,
            "kurt_before": kurt0,
            "pass_before": not fails0,
            "n_winsorised": 0,
            "winsorised_low": np.nan,
            "winsorised_high": np.nan,
            "transform": "none",
            "shift": np.nan,
            "lambda": np.nan,
            "skew_after": skew0,
            "kurt_after": kurt0,
            "pass_after": not fails0,
        }
        transform_name = None
        if method == "winsorise":
            floor, cap, _, skew, kurt = _winsorise_column(
                values, counts, summary, j, skew_max, kurt_max, winmax
            )
            fails = bool(fails_rule(np.array(skew), np.array(kurt), skew_max, kurt_max))
            if fallback != "none" and fails:
                transform_name = fallback
            else:
                group.floor[j], group.cap[j] = floor, cap
                raised = values < floor
                lowered = values > cap
                record.update(
                    n_winsorised=int(counts[raised].sum() + counts[lowered].sum()),
                    winsorised_low=floor if raised.any() else np.nan,
                    winsorised_high=cap if lowered.any() else np.nan,
                    skew_after=skew,
                    kurt_after=kurt,
                    pass_after=not fails,
                )
        elif method in ("log", "boxcox") and (fails0 or not only_failing):
            transform_name = name
        if transform_name is not None:
            applied, shift, lam = _plan_transform(
                transform_name, lo, hi, count, skew0, lmbda, makepos, j
            )
            group.transform[j] = applied
            group.shift[j], group.lmbda[j] = shift, lam
            record.update(transform=applied, shift=shift, **{"lambda": lam})
            if applied == "none":
                record.update(skew_after=skew0, kurt_after=kurt0, pass_after=not fails0)
        group.report.append(record)
    return group


def _winsorise_column(
    values: np.ndarray,
    counts: np.ndarray,
    summary: _Summary,
    j: int,
    skew_max: float,
    kurt_max: float,
    winmax: int,
) -> tuple[float, float, int, float, float]:
    """Replay the JRC/COINr winsorisation loop of :func:`treat.winsorise` on one column's
    extreme values: each pass moves all values tied at the failing tail to the next value."""
    if not len(values):
        return -np.inf, np.inf, 0, np.nan, np.nan
    floor, cap = -np.inf, np.inf
    n_changed = 0
    while True:
        skew, kurt = _shape(_column_moments(summary, j, floor, cap))
        failing = (
            bool(fails_rule(np.array(skew), np.array(kurt), skew_max, kurt_max))
            and n_changed < winmax
        )
        if not failing:
            return floor, cap, n_changed, skew, kurt
        current = np.unique(np.clip(values, floor, cap))
        if skew >= 0:
            cap = float(current[-2]) if len(current) > 1 else -np.inf
        else:
            floor = float(current[1]) if len(current) > 1 else np.inf
        n_changed = int(counts[(values > cap) | (values < floor)].sum())


def _plan_transform(
    name: str, lo: float, hi: float, count: float, skew: float, lmbda: Any, makepos: bool, j: int
) -> tuple[str, float, float]:
    """Transform, shift and λ of one column, as :func:`treat.transform` decides them."""
    spread = count >= 2 and hi > lo
    if not spread:
        return "none", 0.0, np.nan
    a = 0.01 * (hi - lo)
    if name == "ln":
        if lo <= 0:
            raise DataError(
                f"treat transform 'ln' needs values > 0, but column(s) [{j}] hold values <= 0; "
                "use transform 'log_CT' (shifted log) instead"
            )
        return "ln", 0.0, np.nan
    if name == "log_CT":
        return "log_CT", -lo + a, np.nan
    if name == "log_CT_orig":
        return "log_CT_orig", -lo + 1.0, np.nan
    if name == "log_CT_plus":
        if skew > 0:
            return "log_CT", -lo + a, np.nan
        return "log_CT_neg", hi + a, np.nan
    if name == "boxcox":
        shift = 1.0 - lo if makepos else 0.0
        if lo + shift <= 0:
            raise DataError(
                f"treat transform 'boxcox' with makepos: false needs values > 0, but column(s) "
                f"[{j}] hold values <= 0; set makepos: true"
            )
        return "boxcox", shift, float(lmbda)
    raise SpecError(f"transform {name!r} is not supported by the dask engine")


def _plan_normalise(
    fw: Framework, plan: _Plan, parts: Sequence[Any]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Learn each normalisation group's statistics from its reference rows (all rows,
    each period, or the base period), exactly; returns the normalisation table and the
    per-indicator statistics in the pandas engine's format."""
    ids = plan.ids
    direction = np.array([1 if fw.polarity(i) == "positive" else -1 for i in ids], dtype=np.int64)
    plan.direction = direction
    grouped: dict[str, list[int]] = {}
    for position, i in enumerate(ids):
        grouped.setdefault(fw.normalise_step(i).key(), []).append(position)
    planned: list[_NormaliseGroup] = []
    assert plan.periods is not None
    periods = plan.periods.tolist()
    shared = _shared(plan)
    learnt: dict[str, dict[str, Any]] = {}
    table: list[dict[str, Any]] = []
    # one pass per reference sample (all rows, per period, a base period) for every column
    # whose method learns moments, and one gather per sample for the rank methods
    wanted: dict[tuple[str | None, Any], list[int]] = {}
    ranked: dict[tuple[str | None, Any], list[int]] = {}
    for columns in grouped.values():
        step = fw.normalise_step(ids[columns[0]])
        options, _ = split_options("normalise", step)
        mode = str(options.get("reference", "pooled"))
        sample = (
            PERIOD if mode == "per_period" else None,
            options.get("base_period") if mode == "base" else None,
        )
        if step.method in _MOMENT_STATS:
            wanted.setdefault(sample, []).extend(columns)
        elif step.method in _RANK_METHODS:
            ranked.setdefault(sample, []).extend(columns)
    learnt_summaries = {
        sample: (sorted(cols), _summaries(parts, shared, "treated", sorted(cols), 1, *sample))
        for sample, cols in wanted.items()
    }
    references: dict[tuple[str | None, Any], dict[int, dict[Any, np.ndarray]]] = {}
    for sample, cols in ranked.items():
        by, base = sample
        references[sample] = {}
        for batch in _batches(sorted(cols), plan.n_rows):  # an exact sort of the references
            names = [ids[j] for j in batch]
            gathered = _gather(
                parts, shared, "treated", [PERIOD, *names] if by or base is not None else names
            )
            for j, name in zip(batch, names, strict=True):
                values = gathered[name].to_numpy(dtype=np.float64)
                rows = ~np.isnan(values)
                if base is not None:
                    rows &= gathered[PERIOD].to_numpy() == base
                if by:
                    period_of = gathered[PERIOD].to_numpy()
                    references[sample][j] = {
                        p: np.sort(values[rows & (period_of == p)]) for p in periods
                    }
                else:
                    references[sample][j] = {None: np.sort(values[rows])}
    for columns in grouped.values():
        step = fw.normalise_step(ids[columns[0]])
        options, params = split_options("normalise", step)
        mode = str(options.get("reference", "pooled"))
        base_period = options.get("base_period")
        method = step.method
        func = normalisers.get(method)
        d = direction[columns]
        probe = func(np.ones((1, len(columns))), direction=d, **params)
        if mode == "base" and base_period not in set(periods):
            raise DataError(
                f"normalise method '{method}' with reference: base needs base_period in the "
                f"data; got {base_period!r}, periods are {periods}"
            )
        only = base_period if mode == "base" else None
        by = PERIOD if mode == "per_period" else None
        keys: list[Any] = periods if mode == "per_period" else [None]
        group = _NormaliseGroup(list(columns), method, params, mode, learnt={})
        flags: dict[Any, dict[str, np.ndarray]] = {}
        if method in _MOMENT_STATS:
            union, summaries = learnt_summaries[(by, only)]
            positions = [union.index(c) for c in columns]
            for key in keys:
                stats = _learnt_moments(_subset(summaries[key], positions))
                group.learnt[key] = {name: stats[name] for name in _MOMENT_STATS[method]}
                probe_key = func(
                    np.ones((1, len(columns))), direction=d, learnt=group.learnt[key], **params
                )
                flags[key] = dict(probe_key.flags)
        elif method in _RANK_METHODS:
            group.references = {
                key: [references[(by, only)][j][key] for j in columns] for key in keys
            }
            for key in keys:
                n_ref = np.array([len(r) for r in group.references[key]])
                single = n_ref == 1 if method == "percentile_rank" else np.zeros(len(columns), bool)
                group.learnt[key] = {}
                flags[key] = {"constant": single}
        else:  # fixed goalposts, targets, bands: nothing is learnt from the data
            group.learnt = {key: dict(probe.learnt) for key in keys}
            flags = {key: dict(probe.flags) for key in keys}
        for local, column in enumerate(columns):
            indicator = ids[column]
            stats = _indicator_stats(group, flags, keys, local, mode, plan.periods)
            learnt[indicator] = stats
            table.extend(
                normalisation_rows(indicator, method, mode, stats, plan.periods, base_period)
            )
        planned.append(group)
    plan.normalise = planned
    normalisation = pd.DataFrame(table)
    if not normalisation.empty:
        normalisation = normalisation.set_index("indicator")
    return normalisation, learnt


def _indicator_stats(
    group: _NormaliseGroup,
    flags: Mapping[Any, Mapping[str, np.ndarray]],
    keys: Sequence[Any],
    local: int,
    mode: str,
    periods: np.ndarray,
) -> dict[str, Any]:
    """One indicator's learnt statistics and flags, as the pandas engine records them
    (a leading period axis and the period codes for ``per_period``)."""

    def one(key: Any) -> dict[str, Any]:
        out = {name: np.asarray(v)[..., local] for name, v in group.learnt[key].items()}
        if group.method in _RANK_METHODS:
            out["reference"] = group.references[key][local]
        out.update({name: np.asarray(v)[..., local] for name, v in flags[key].items()})
        return out

    if mode != "per_period":
        return one(None)
    parts = [one(key) for key in keys]
    stats: dict[str, Any] = {}
    for name in parts[0]:
        if name == "reference":
            continue
        stats[name] = np.stack([p[name] for p in parts])
    stats["period"] = np.searchsorted(periods, np.asarray(keys)).astype(np.float64)
    return stats


def _plan_tree(
    fw: Framework, plan: _Plan
) -> tuple[dict[str, pd.Series], dict[str, dict[str, Any]]]:
    """Weights of every node (the supported methods learn nothing from data) and the
    aggregation settings, children before parents."""
    weights: dict[str, pd.Series] = {}
    info: dict[str, dict[str, Any]] = {}
    tree = []
    for node in fw.postorder():
        children = list(fw.children[node])
        nominal = np.array([fw.nominal_weight(c) for c in children], dtype=np.float64)
        step = fw.weight_step(node)
        _, params = split_options("weight", step)
        method = weighters.get(step.method)
        extra = {"labels": children} if method.takes("labels") else {}
        try:
            weighted = method(np.ones((1, len(children))), nominal=nominal, **params, **extra)
        except SpecError as exc:
            raise SpecError(f"node '{node}': {exc}") from None
        w = np.asarray(weighted.values, dtype=np.float64)
        weights[node] = pd.Series(w, index=children, name=node)
        info[node] = dict(weighted.info)
        aggregate = fw.aggregate_step(node)
        options, agg_params = split_options("aggregate", aggregate)
        allow_zero = bool(options.get("allow_zero", False)) and requires_positive(
            aggregate.method, agg_params
        )
        policy = fw.missing_policy(node)
        tree.append(
            _NodePlan(
                node,
                children,
                w,
                aggregate.method,
                agg_params,
                allow_zero,
                policy.policy,
                float(policy.min_coverage),
            )
        )
    plan.tree = tree
    plan.node_order = list(fw.node_order)
    return weights, info


def _effective_weights(fw: Framework, weights: Mapping[str, pd.Series]) -> pd.Series:
    overall = overall_weights(dict(fw.children), {k: v.to_numpy() for k, v in weights.items()})
    return pd.Series(overall, name="effective_weight").reindex(list(fw.indicators))


# =============================================================================================
# Ranks of the scores within each period (an exact global sort, gathered)
# =============================================================================================
def _ranks_partition(
    part: pd.DataFrame, sorted_scores: Mapping[str, Mapping[Any, np.ndarray]]
) -> pd.DataFrame:
    out = part.copy()
    periods = part[PERIOD].to_numpy()
    for node, by_period in sorted_scores.items():
        rank = np.full(len(part), np.nan)
        values = part[node].to_numpy(dtype=np.float64)
        for period in pd.unique(periods):  # a loop over periods
            rows = periods == period
            reference = by_period.get(period, np.zeros(0))
            greater = len(reference) - np.searchsorted(reference, values[rows], side="right")
            rank[rows] = np.where(np.isnan(values[rows]), np.nan, 1.0 + greater)
        out[f"rank_{node}"] = pd.array(rank, dtype="Float64").astype("Int64")
    return out


# =============================================================================================
# The result
# =============================================================================================
@dataclass(frozen=True)
class DaskIndexResult:
    """The outcome of :func:`compute_dask`: lazy frames of every stage, what was learnt.

    Attributes
    ----------
    framework : Framework
        The framework built.
    table : dask DataFrame
        ``entity, period``, one score column per node (children before parents, the root
        last) [score], then ``rank_<node>`` columns (1 = best within the period) — the
        same columns as :meth:`IndexResult.table`.
    stages : dict of dask DataFrame
        ``raw``, ``imputed``, ``treated``, ``normalised``: ``entity, period`` and one column
        per indicator [declared units; score for ``normalised``].
    audit : dask DataFrame
        The audit rows (``stage, entity, period, item, action, detail``) of every
        partition, plus one row per transformed indicator.
    weights, effective_weights, weight_info, normalisation, treatment, learnt
        As in :class:`~securindex.result.IndexResult`.
    info : dict
        How the engine ran: partitions, whether it shuffled by entity, passes over the data.
    """

    framework: Framework
    table: Any
    stages: dict[str, Any]
    audit: Any
    weights: dict[str, pd.Series]
    effective_weights: pd.Series
    normalisation: pd.DataFrame
    treatment: pd.DataFrame
    weight_info: dict[str, dict[str, Any]]
    learnt: dict[str, dict[str, Any]]
    info: dict[str, Any]

    def stage(self, name: str) -> Any:
        """A lazy stage by name: raw, imputed, treated, normalised, or scores (the table)."""
        if name == "scores":
            return self.table
        if name not in self.stages:
            raise KeyError(f"no stage '{name}'; stages are {[*self.stages, 'scores']}")
        return self.stages[name]

    def to_pandas(self, stage: str = "scores") -> pd.DataFrame:
        """Compute one stage into memory, sorted by entity and period."""
        (frame,) = _compute(self.stage(stage))
        return frame.sort_values([ENTITY, PERIOD], kind="stable").reset_index(drop=True)

    def write(
        self, folder: str | Path, *, stages: Sequence[str] = (), audit: bool = True
    ) -> dict[str, Path]:
        """Write the scores (and ``stages``, and the audit) as partitioned Parquet datasets,
        and the small tables (weights, normalisation, treatment) as CSV and JSON.

        Returns the path of everything written.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        jobs = [("scores", self.table)] + [(s, self.stage(s)) for s in stages]
        if audit:
            jobs.append(("audit", self.audit))
        writes = [
            frame.to_parquet(folder / name, write_index=False, compute=False)
            for name, frame in jobs
        ]
        _compute(*writes)
        written.update({name: folder / name for name, _ in jobs})
        weights = pd.DataFrame(
            [
                {"node": n, "child": c, "weight": w}
                for n, s in self.weights.items()
                for c, w in s.items()
            ]
        )
        weights["effective_weight"] = weights["child"].map(self.effective_weights)
        weights.to_csv(folder / "weights.csv", index=False)
        self.normalisation.to_csv(folder / "normalisation.csv")
        self.treatment.to_csv(folder / "treatment.csv", index=False)
        written.update(
            weights=folder / "weights.csv",
            normalisation=folder / "normalisation.csv",
            treatment=folder / "treatment.csv",
        )
        summary = {
            "framework": {
                "id": self.framework.id,
                "name": self.framework.spec.name,
                "tree": {k: list(v) for k, v in self.framework.children.items()},
            },
            "engine": "dask",
            "info": self.info,
        }
        (folder / "result.json").write_text(json.dumps(summary, indent=2, default=str))
        written["json"] = folder / "result.json"
        return written

    def __repr__(self) -> str:
        return (
            f"DaskIndexResult({self.framework.id}: {len(self.framework.indicators)} indicators, "
            f"{self.info.get('npartitions')} partitions)"
        )


# =============================================================================================
# Entry point
# =============================================================================================
def compute_dask(
    framework: Framework | str | Path,
    data: Any,
    *,
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    npartitions: int | None = None,
    by_entity: bool = False,
    persist: bool = True,
    ranks: Literal["all", "root", "none"] = "all",
    **steps: Step | Mapping[str, Any],
) -> DaskIndexResult:
    """Build a composite index on Dask: exact, and equal to :meth:`Framework.compute`.

    Parameters
    ----------
    framework : Framework or path
        The framework (or its YAML file).
    data : Panel, DataFrame, dask DataFrame, DaskPanel, path, glob or list of paths
        The panel; files are read lazily, one partition per file (see
        :func:`read_panel_dask`).
    dictionary : DataDictionary, mapping or path, optional
        How to read ``data`` (required unless it is a Panel or DaskPanel).
    client : distributed.Client, optional
        The cluster to run on.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); a ``Client`` is connected for
        the planning passes (the returned lazy frames then need a live client to compute).
        Without client or scheduler, the current client is used, else dask's threads.
    npartitions : int, optional
        Partitions of an in-memory panel.
    by_entity : bool, default False
        Files or dask frames already hold each entity in one partition.
    persist : bool, default True
        Keep the indicator values in (cluster) memory between passes; with ``False`` each
        pass re-reads the sources (for data larger than the cluster's memory).
    ranks : {"all", "root", "none"}, default "all"
        Which nodes get ranks within each period. Ranks gather each node's scores on the
        client (8 bytes per row per node).
    **steps
        Pipeline steps replaced for this run (as :meth:`Framework.compute`).

    Returns
    -------
    DaskIndexResult

    Raises
    ------
    SpecError
        A method the Dask engine does not support (see :data:`SUPPORTED`), before any data
        is read.
    ImportError
        dask or distributed missing (``pip install 'securindex[dask]'``).
    """
    _dask()
    if not isinstance(framework, Framework):
        from securindex.engines import load_framework

        framework = load_framework(framework).framework
    framework = framework.with_steps(**steps)  # type: ignore[arg-type]
    check_supported(framework)
    with _scheduler(client, scheduler) as active:
        panel = (
            data
            if isinstance(data, DaskPanel)
            else read_panel_dask(
                data, dictionary=dictionary, npartitions=npartitions, by_entity=by_entity
            )
        )
        return _build(framework, panel, active, persist, ranks)


def _periods(parts: Sequence[Any], plan: _Plan, upto: str) -> tuple[np.ndarray, int]:
    """Sorted distinct periods of a stage's rows and the number of rows before screening
    (a small reduction)."""
    from dask import delayed

    shared = _shared(plan)
    chunks = [delayed(_periods_chunk)(p, shared, upto) for p in parts]
    ((periods, n_rows),) = _compute(_tree_reduce(chunks, _union))
    return np.sort(np.asarray(periods)), int(n_rows)


def _build(
    fw: Framework, panel: DaskPanel, client: Any, persist: bool, ranks: str
) -> DaskIndexResult:
    ids = list(fw.indicators)
    catalogue = fw.catalogue.select(ids)
    frame = panel.frame
    impute_method = fw.spec.pipeline.impute.method
    uses_panel = _uses_panel(catalogue)
    needs_entity = uses_panel or imputers.get(impute_method).panel
    shuffled = False
    if needs_entity and not panel.by_entity:  # whole entity histories in one partition
        frame = frame.shuffle(on=ENTITY, npartitions=frame.npartitions)
        shuffled = True
    all_periods = None
    if uses_panel and panel.periods is not None:
        all_periods = np.sort(panel.periods)
    elif uses_panel:  # lag/mean_over count periods over the whole panel
        (periods,) = _compute(frame[PERIOD].unique())
        all_periods = np.sort(np.asarray(periods))
    meta = frame._meta[[ENTITY, PERIOD, *panel.groups]].copy()
    for i in ids:
        meta[i] = np.zeros(0)
    indicators = frame.map_partitions(
        _indicator_partition,
        _shared(list(catalogue.values())),
        ids,
        panel.units,
        panel.groups,
        all_periods,
        meta=meta,
    )
    if persist:
        indicators = client.persist(indicators) if client is not None else indicators.persist()
    parts = indicators.to_delayed()
    screen_options, screen_params = split_options("screen", fw.spec.pipeline.screen)
    plan = _Plan(
        ids=ids,
        groups=list(panel.groups),
        screen=(fw.spec.pipeline.screen.method, screen_params),
        screen_on=str(screen_options.get("stage", "raw")),
    )
    plan.impute_periods, plan.n_rows = _periods(parts, plan, "raw")
    _plan_impute(fw, plan, parts)
    if plan.screen_on == "raw":  # imputation keeps the rows: the same periods
        plan.periods = plan.impute_periods
    else:
        plan.periods, _ = _periods(parts, plan, "imputed")
    if not len(plan.periods):
        raise DataError(
            f"screening ({plan.screen[0]}, {plan.screen[1]}) removed every row; lower the "
            "threshold or check the data"
        )
    treatment = _plan_treat(fw, plan, parts)
    normalisation, learnt = _plan_normalise(fw, plan, parts)
    weights, weight_info = _plan_tree(fw, plan)
    shared = _shared(plan)

    def stage(upto: str) -> Any:
        meta_frame = _run_partition(indicators._meta, plan, upto)
        return indicators.map_partitions(_run_partition, shared, upto, meta=meta_frame)

    stages = {name: stage(name) for name in ("raw", "imputed", "treated", "normalised")}
    scores = stage("scores")
    rank_nodes = {"all": plan.node_order, "root": [fw.id], "none": []}[ranks]
    table = scores
    if rank_nodes:  # an exact sort per node and period: gathered, then binary search
        (gathered,) = _compute(scores[[PERIOD, *rank_nodes]])
        sorted_scores: dict[str, dict[Any, np.ndarray]] = {}
        positions = gathered.groupby(PERIOD, sort=False).indices
        for node in rank_nodes:
            values = gathered[node].to_numpy(dtype=np.float64)
            sorted_scores[node] = {}
            for period, rows in positions.items():
                v = values[rows]
                sorted_scores[node][period] = np.sort(v[~np.isnan(v)])
        ranks_meta = _ranks_partition(scores._meta, {n: {} for n in rank_nodes})
        table = scores.map_partitions(_ranks_partition, _shared(sorted_scores), meta=ranks_meta)
    audit = indicators.map_partitions(_run_partition, shared, "audit", meta=_empty_audit())
    transformed = [
        ["treat", None, None, ids[g.columns[j]], "transformed", np.nan, np.nan, g.transform[j]]
        for g in plan.treat or []
        for j in range(len(g.columns))
        if g.transform[j] != "none"
    ]
    if transformed:
        import dask.dataframe as dd

        rows = _audit_types(pd.DataFrame(transformed, columns=AUDIT_COLUMNS))
        audit = dd.concat([audit, dd.from_pandas(rows, npartitions=1)])
    info = {
        "npartitions": indicators.npartitions,
        "shuffled_by_entity": shuffled,
        "persisted": persist,
        "periods": len(plan.periods),
        "schema_notes": panel.schema.to_dict(orient="records"),
    }
    return DaskIndexResult(
        framework=fw,
        table=table,
        stages=stages,
        audit=audit,
        weights=weights,
        effective_weights=_effective_weights(fw, weights),
        normalisation=normalisation,
        treatment=treatment,
        weight_info=weight_info,
        learnt=learnt,
        info=info,
    )


# =============================================================================================
# Incidents on Dask: a distributed group-by of the incident files
# =============================================================================================
def _fold_counted(acc: Any, counter: Any, item: Any, plan: Any) -> Any:
    """Count one chunk and add it into the chain's grid (one task: no partial waits)."""
    from securindex.incidents.counting import fold_counts

    return fold_counts(acc, counter(item, plan), plan)


def _count_frame(frame: pd.DataFrame, plan: Any) -> Any:
    from securindex.incidents.counting import count_records

    part = count_records(frame, plan)
    part.sources = {"<DataFrame>": part.n_records}
    return part


def incidents_to_panel_dask(
    spec: IncidentSpec,
    data: Any = None,
    *,
    areas: Any = None,
    base_dir: str | Path = ".",
    name: str | None = None,
    client: Any = None,
    scheduler: str | None = None,
    rows_per_chunk: int = 2_000_000,
) -> IncidentPanel:
    """Count incident files into a panel as a distributed group-by (same result as pandas).

    Each task reads one chunk (a CSV file, or at most ``rows_per_chunk`` rows of row groups
    of a Parquet file) and counts it into (area, period) cells with the same vectorised
    kernel as the pandas engine (the map step of the group-by). The combine step: when the
    areas and periods are declared the grid is known, and each worker folds its chunks'
    counts into one dense (cells × variables) grid, so a worker holds one grid and one
    chunk whatever the amount of data; otherwise each chunk's counts are split into blocks
    of areas, each block summed in its own tree. The client sums the grids (or blocks) and
    builds the panel and the report. Data larger than the cluster's memory work.

    See :func:`securindex.incidents.incidents_to_panel` for the parameters.
    """
    dask = _dask()
    from securindex.incidents.counting import (
        count_chunk,
        grid_known,
        merge_counts,
        plan_counts,
        split_counts,
        unfold_counts,
    )
    from securindex.incidents.panel import finish_panel
    from securindex.incidents.reading import expand_sources, read_units, scan_files

    base = Path(base_dir)
    plan = plan_counts(spec, base, areas)
    with _scheduler(client, scheduler) as active:
        client = active
        shared = _shared(plan)
        import dask.dataframe as dd

        if isinstance(data, pd.DataFrame):
            data = dd.from_pandas(data, npartitions=max(1, len(data) // rows_per_chunk + 1))
        if isinstance(data, dd.DataFrame):
            items: list[tuple[Any, Any]] = [(_count_frame, p) for p in data.to_delayed()]
            files = pd.DataFrame({"file": ["<DataFrame>"], "schema": ["ok"]})
        else:
            sources = (
                spec.source
                if data is None
                else ([data] if isinstance(data, (str, Path)) else list(data))
            )
            if not sources:
                raise SpecError(
                    "no incident data: give data= or 'source' in the from_incidents block"
                )
            paths = expand_sources(sources, base)
            files = scan_files(paths, spec)
            items = [(count_chunk, c) for c in read_units(paths, rows_per_chunk)]
        if grid_known(plan):
            # the grid is known: one chain per worker, each task reading and counting one
            # chunk straight into the chain's dense grid, so a worker holds one grid and one
            # chunk however much data there is; the client sums the chains' grids
            n_chains = max(1, min(len(items), _n_workers(client)))
            ends = []
            for chain in range(n_chains):
                acc = None
                for counter, item in items[chain::n_chains]:
                    acc = dask.delayed(_fold_counted)(acc, counter, item, shared)
                ends.append(acc)
            total = unfold_counts(list(_compute(*ends)), plan)
        else:
            # a group-by with split output: each chunk's counts are split into blocks of
            # areas, each block summed in its own tree
            tasks = [dask.delayed(counter)(item, shared) for counter, item in items]
            n_blocks = max(1, min(16, len(tasks)))
            split = [dask.delayed(split_counts, nout=n_blocks)(t, n_blocks) for t in tasks]
            roots = [
                _tree_reduce([pieces[b] for pieces in split], merge_counts, split_every=4)
                for b in range(n_blocks)
            ]
            total = merge_counts(list(_compute(*roots)))
    files["n_records"] = files["file"].map(total.sources).fillna(0).astype(np.int64)
    return finish_panel(total, plan, files, name)
