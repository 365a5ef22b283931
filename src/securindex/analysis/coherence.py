"""Statistical coherence of a composite index (OECD/JRC Handbook 2008, step 4).

Before trusting an index, check that its data and structure hang together: how complete
and how skewed each indicator is, whether indicators of one dimension are correlated with
each other and with their dimension (and none negatively: it would pull its dimension the
wrong way), whether two indicators are so collinear that one counts twice, whether each
dimension is internally consistent (Cronbach's alpha) and how many latent directions it
has (principal components), and what each entity's strengths and weaknesses are.

Every function takes an :class:`~securindex.result.IndexResult` and returns a tidy
DataFrame; :func:`coherence_report` runs them all and :meth:`CoherenceReport.write` saves CSV files
(``securindex analyse`` on the command line). Correlations and components use the
normalised indicators (polarity applied: higher is always better) and the node scores, so
a negative correlation always means disagreement. ``period`` restricts an analysis to one
period; by default all rows (entity × period) are pooled.

Levels number the tree from the leaves: indicators are level 1, a node is one level above
its highest child (pillars 2, sub-indices 3 … the index last), as in COINr.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, step 4 (multivariate analysis), pp. 25–27 and section 3, pp. 63–82.
   OECD Publishing. doi:10.1787/9789264043466-en
.. [2] Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
   *Psychometrika* 16(3), 297–334. doi:10.1007/BF02310555
.. [3] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. & Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open
   Source Software* 7(78), 4567. doi:10.21105/joss.04567
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError
from securindex.methods._types import FloatArray
from securindex.methods.treat import fails_rule, kurtosis, skewness

if TYPE_CHECKING:
    from securindex.framework import Framework
    from securindex.result import IndexResult

__all__ = [
    "CoherenceReport",
    "PCAResult",
    "availability",
    "coherence_report",
    "correlation_flags",
    "correlations",
    "cronbach_alpha",
    "describe",
    "levels",
    "node_correlations",
    "pca",
    "unit_profiles",
]

Method = Literal["pearson", "spearman"]
Of = Literal["children", "indicators"]

_STAGES = ("raw", "imputed", "treated", "normalised")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def levels(framework: Framework) -> dict[str, int]:
    """Level of every indicator (1) and node (1 + the highest level of its children).

    Examples
    --------
    For a root over pillars over indicators: indicators 1, pillars 2, the root 3.
    """
    out = dict.fromkeys(framework.indicators, 1)
    for node in framework.postorder():
        out[node] = 1 + max(out[c] for c in framework.children[node])
    return out


def _rows(frame: pd.DataFrame, period: object | None) -> pd.DataFrame:
    if period is None:
        return frame
    periods = frame.index.get_level_values("period")
    selected = frame[np.asarray(periods == period)]
    if selected.empty:
        raise DataError(f"no rows for period {period!r}; periods are {sorted(periods.unique())}")
    return selected


def _values(result: IndexResult, period: object | None) -> pd.DataFrame:
    """Normalised indicators and node scores side by side (higher is better everywhere)."""
    frame = pd.concat([result.normalised, result.scores], axis=1)
    return _rows(frame, period)


def _items(result: IndexResult, level: int | str | Sequence[str]) -> list[str]:
    """Ids of a level (int), of ``"indicators"``/``"nodes"``, or the listed ids."""
    framework = result.framework
    if isinstance(level, str):
        if level == "indicators":
            return list(framework.indicators)
        if level == "nodes":
            return list(framework.postorder())
        return [level]
    if isinstance(level, (int, np.integer)):
        level_of = levels(framework)
        order = [*framework.indicators, *framework.postorder()]
        items = [i for i in order if level_of[i] == level]
        if not items:
            raise SpecError(
                f"no item at level {level}; levels run from 1 (indicators) to "
                f"{max(level_of.values())} (the index)"
            )
        return items
    return list(level)


def _correlate(frame: pd.DataFrame, method: str) -> pd.DataFrame:
    if method not in ("pearson", "spearman"):
        raise SpecError(f"correlation method must be 'pearson' or 'spearman'; got {method!r}")
    return frame.corr(method=method, min_periods=3)


def _complete(frame: pd.DataFrame) -> FloatArray:
    return frame.dropna().to_numpy(dtype=np.float64)


def _members(result: IndexResult, node: str, of: Of) -> list[str]:
    framework = result.framework
    if of == "children":
        return list(framework.children[node])
    if of == "indicators":
        out: list[str] = []
        stack = [node]
        while stack:
            current = stack.pop()
            for child in reversed(framework.children[current]):
                if child in framework.children:
                    stack.append(child)
                else:
                    out.append(child)
        order = {i: k for k, i in enumerate(framework.indicators)}
        return sorted(out, key=order.__getitem__)
    raise SpecError(f"'of' must be 'children' or 'indicators'; got {of!r}")


# --------------------------------------------------------------------------------------
# Descriptive statistics and availability
# --------------------------------------------------------------------------------------


def describe(
    result: IndexResult,
    *,
    stage: str = "raw",
    period: object | None = None,
    skew_max: float = 2.0,
    kurt_max: float = 3.5,
) -> pd.DataFrame:
    """Descriptive statistics of every indicator, with the JRC outlier flag.

    Parameters
    ----------
    result : IndexResult
        A built index.
    stage : {"raw", "imputed", "treated", "normalised"}, default "raw"
        Which stage to describe [indicator units, or score for normalised].
    period : optional
        One period only (default: all rows).
    skew_max, kurt_max : float
        The skewness–kurtosis rule: ``outliers`` is True where |skewness| >= skew_max and
        kurtosis >= kurt_max (COINr's ``check_SkewKurt``) [unitless].

    Returns
    -------
    DataFrame
        One row per indicator: ``n`` (values present), ``n_missing``, ``availability``
        [share], ``mean``, ``sd`` (ddof 1), ``min``, ``q25``, ``median``, ``q75``,
        ``max``, ``n_unique``, ``skewness`` and ``kurtosis`` (bias-corrected, excess) and
        ``outliers`` (the flag).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, step 4, pp. 25–27. doi:10.1787/9789264043466-en
    """
    if stage not in _STAGES:
        raise SpecError(f"stage must be one of {list(_STAGES)}; got {stage!r}")
    frame = _rows(result.stage(stage), period)
    x = frame.to_numpy(dtype=np.float64)
    present = ~np.isnan(x)
    n = present.sum(axis=0)
    with np.errstate(invalid="ignore"):
        quantiles = (
            np.nanquantile(x, [0.0, 0.25, 0.5, 0.75, 1.0], axis=0)
            if present.any(axis=0).all()
            else frame.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).to_numpy()
        )
    skew = skewness(x)
    kurt = kurtosis(x)
    table = pd.DataFrame(
        {
            "n": n,
            "n_missing": len(x) - n,
            "availability": n / max(len(x), 1),
            "mean": frame.mean().to_numpy(),
            "sd": frame.std(ddof=1).to_numpy(),
            "min": quantiles[0],
            "q25": quantiles[1],
            "median": quantiles[2],
            "q75": quantiles[3],
            "max": quantiles[4],
            "n_unique": frame.nunique().to_numpy(),
            "skewness": skew,
            "kurtosis": kurt,
            "outliers": fails_rule(skew, kurt, skew_max, kurt_max),
        },
        index=pd.Index(frame.columns, name="indicator"),
    )
    return table


def availability(result: IndexResult, *, period: object | None = None) -> pd.DataFrame:
    """Data availability of every entity (and period), overall and per node.

    Counts the indicator values as computed, before screening, so entities the screening
    step removed appear too (``kept`` is False for them).

    Returns
    -------
    DataFrame
        Indexed by ``(entity, period)``: ``n_present``, ``n_missing``, ``availability``
        [share of the indicators], ``kept`` (scored by the index), and one column per node
        with the share of the indicators under it that are present.
    """
    framework = result.framework
    ids = list(framework.indicators)
    frame = _rows(result.indicator_values.frame[ids], period)
    present = frame.notna().to_numpy()
    out = pd.DataFrame(
        {
            "n_present": present.sum(axis=1),
            "n_missing": (~present).sum(axis=1),
            "availability": present.mean(axis=1),
            "kept": frame.index.isin(result.raw.index),
        },
        index=frame.index,
    )
    position = {i: k for k, i in enumerate(ids)}
    for node in framework.postorder():
        columns = [position[i] for i in _members(result, node, "indicators")]
        out[node] = present[:, columns].mean(axis=1)
    return out


# --------------------------------------------------------------------------------------
# Correlations
# --------------------------------------------------------------------------------------


def correlations(
    result: IndexResult,
    *,
    rows: int | str | Sequence[str] = 1,
    columns: int | str | Sequence[str] | None = None,
    method: Method = "pearson",
    period: object | None = None,
) -> pd.DataFrame:
    """Correlation matrix within a level or across two levels.

    Parameters
    ----------
    result : IndexResult
        A built index.
    rows, columns : int, "indicators", "nodes" or list of ids
        The items of the rows and columns: a level (1 = indicators, 2 = pillars …), all
        indicators or nodes, or explicit ids. ``columns`` defaults to ``rows`` (within a
        level).
    method : {"pearson", "spearman"}, default "pearson"
        Pearson's linear correlation, or Spearman's rank correlation (robust to outliers
        and to monotone transformations).
    period : optional
        One period only.

    Returns
    -------
    DataFrame
        Correlations [unitless, −1 … 1] over the rows where both items are present (at
        least 3), on normalised indicators and node scores.

    Examples
    --------
    ``correlations(result, rows=1, columns=2)`` gives every indicator against every pillar.
    """
    values = _values(result, period)
    row_items = _items(result, rows)
    column_items = row_items if columns is None else _items(result, columns)
    unknown = [i for i in {*row_items, *column_items} if i not in values.columns]
    if unknown:
        raise SpecError(f"unknown ids {sorted(unknown)[:5]}; ids are indicators and node ids")
    wanted = list(dict.fromkeys([*row_items, *column_items]))
    matrix = _correlate(values[wanted], method)
    return matrix.loc[row_items, column_items]


def node_correlations(
    result: IndexResult, *, method: Method = "pearson", period: object | None = None
) -> pd.DataFrame:
    """Correlation of every indicator with every node (pillars, sub-indices, the index).

    Returns
    -------
    DataFrame
        Indicators × nodes [unitless]; ``parent`` (the indicator's own node) and
        ``with_parent`` (its correlation with it) come first.
    """
    framework = result.framework
    matrix = correlations(result, rows="indicators", columns="nodes", method=method, period=period)
    parents = [framework.parent[i] for i in framework.indicators]
    table = matrix.copy()
    table.insert(
        0, "with_parent", [matrix.loc[i, p] for i, p in zip(matrix.index, parents, strict=True)]
    )
    table.insert(0, "parent", parents)
    table.index.name = "indicator"
    return table


def correlation_flags(
    result: IndexResult,
    *,
    threshold: float = 0.9,
    negative: float = 0.0,
    method: Method | Sequence[Method] = ("pearson", "spearman"),
    period: object | None = None,
) -> pd.DataFrame:
    """Pairs that are collinear, and items negatively correlated with their own node.

    Parameters
    ----------
    threshold : float, default 0.9
        Two items of the same level with r above it are flagged ``collinear``: they carry
        nearly the same information, so it is counted twice [unitless]. A strongly
        *negative* correlation is no redundancy (the two pull apart), so it is not flagged
        here (COINr's ``get_corr_flags(thresh_type = "high")``).
    negative : float, default 0.0
        An indicator or node whose correlation with its parent is below it is flagged
        ``negative_with_parent``: it pulls its parent the other way (check its polarity)
        [unitless].
    method : "pearson", "spearman" or both (default)
        Correlation methods to check.
    period : optional
        One period only.

    Returns
    -------
    DataFrame
        One row per flag: ``flag``, ``method``, ``level``, ``item``, ``other`` (the other
        item, or the parent), ``r``, ``same_parent`` (for collinear pairs).

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, step 4, p. 26 (correlation analysis).
       doi:10.1787/9789264043466-en
    """
    if not 0 < threshold <= 1:
        raise SpecError(f"threshold must be in (0, 1]; got {threshold}")
    framework = result.framework
    methods = [method] if isinstance(method, str) else list(method)
    level_of = levels(framework)
    values = _values(result, period)
    rows: list[dict[str, Any]] = []
    top = max(level_of.values())
    for name in methods:
        matrix = _correlate(values, name)
        for level in range(1, top):
            items = _items(result, level)
            if len(items) < 2:
                continue
            sub = matrix.loc[items, items].to_numpy()
            i, j = np.nonzero(np.triu(sub > threshold, k=1))
            for a, b in zip(i, j, strict=True):
                first, second = items[a], items[b]
                rows.append(
                    {
                        "flag": "collinear",
                        "method": name,
                        "level": level,
                        "item": first,
                        "other": second,
                        "r": float(sub[a, b]),
                        "same_parent": framework.parent.get(first) == framework.parent.get(second),
                    }
                )
        pairs = [(item, p) for item, ps in framework.parents.items() for p in ps]
        for item, parent in pairs:  # in a DAG, each of an item's parents
            r = float(matrix.loc[item, parent])
            if r < negative:
                rows.append(
                    {
                        "flag": "negative_with_parent",
                        "method": name,
                        "level": level_of[item],
                        "item": item,
                        "other": parent,
                        "r": r,
                        "same_parent": np.nan,
                    }
                )
    columns = ["flag", "method", "level", "item", "other", "r", "same_parent"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------
# Internal consistency: Cronbach's alpha and principal components
# --------------------------------------------------------------------------------------


def _alpha(x: FloatArray) -> float:
    """Cronbach's alpha of the columns of a complete (rows × items) matrix."""
    n_rows, k = x.shape
    if k < 2 or n_rows < 2:
        return float("nan")
    item_variances = x.var(axis=0, ddof=1).sum()
    total_variance = x.sum(axis=1).var(ddof=1)
    if total_variance <= 0:
        return float("nan")
    return float(k / (k - 1) * (1.0 - item_variances / total_variance))


def cronbach_alpha(
    result: IndexResult, *, of: Of = "children", period: object | None = None
) -> pd.DataFrame:
    """Cronbach's alpha of every node: how consistently its items measure one thing.

    Parameters
    ----------
    of : {"children", "indicators"}, default "children"
        The items of a node: its children (normalised indicators or child scores), or all
        the indicators under it.
    period : optional
        One period only.

    Returns
    -------
    DataFrame
        One row per node: ``n_items``, ``n_rows`` (rows with every item present, the ones
        used) and ``alpha`` [unitless, at most 1; NaN with fewer than 2 items]. Values
        around 0.7 or more are usually read as consistent (Nunnally 1978).

    Notes
    -----
    :math:`\\alpha = \\frac{k}{k-1}\\left(1 - \\frac{\\sum_i \\sigma^2_i}{\\sigma^2_T}\\right)`
    with k items of variances :math:`\\sigma^2_i` and :math:`\\sigma^2_T` the variance of
    their sum, over the rows where every item is present (listwise deletion, as COINr's
    ``get_cronbach``).

    References
    ----------
    .. [1] Cronbach, L. J. (1951). Psychometrika 16(3), 297–334. doi:10.1007/BF02310555
    .. [2] OECD/JRC (2008), Handbook, step 4, p. 26 and section 3.4.
       doi:10.1787/9789264043466-en
    """
    values = _values(result, period)
    rows = []
    for node in result.framework.postorder():
        members = _members(result, node, of)
        x = _complete(values[members])
        rows.append({"node": node, "n_items": len(members), "n_rows": len(x), "alpha": _alpha(x)})
    return pd.DataFrame(rows, columns=["node", "n_items", "n_rows", "alpha"]).set_index("node")


@dataclass(frozen=True)
class PCAResult:
    """Principal components of every node's items.

    Attributes
    ----------
    explained
        One row per (node, component): ``eigenvalue`` of the correlation matrix,
        ``explained`` share of the variance, ``cumulative`` share [unitless], ``n_rows``.
    loadings
        One row per (node, item, component): ``loading``, the correlation between the item
        and the component [unitless], and ``coefficient``, the unit eigenvector's entry.
    """

    explained: pd.DataFrame
    loadings: pd.DataFrame


def pca(result: IndexResult, *, of: Of = "children", period: object | None = None) -> PCAResult:
    """Principal component analysis of every node's items (on their correlation matrix).

    A well-built dimension usually has one dominant component (its items share one
    direction, all loading with the same sign); several components of similar size
    suggest that the node mixes different phenomena.

    Parameters
    ----------
    of : {"children", "indicators"}, default "children"
        Items of a node: its children, or all the indicators under it.
    period : optional
        One period only.

    Returns
    -------
    PCAResult
        Explained variance and loadings; nodes with fewer than 2 items, or fewer complete
        rows than items, are left out.

    Notes
    -----
    The complete rows are standardised (mean 0, sd 1 with ddof 1) and decomposed by SVD,
    :math:`Z = U S V^T`: the eigenvalues of the correlation matrix are
    :math:`s_j^2/(n-1)`, the loadings :math:`v_{ij} \\sqrt{\\lambda_j}`. Each component's
    sign is chosen so that its coefficients sum to a positive number.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, step 4 and section 3.1 (principal components),
       pp. 63–69. doi:10.1787/9789264043466-en
    """
    values = _values(result, period)
    explained: list[dict[str, Any]] = []
    loadings: list[pd.DataFrame] = []
    for node in result.framework.postorder():
        members = _members(result, node, of)
        x = _complete(values[members])
        n_rows, k = x.shape
        if k < 2 or n_rows <= k:
            continue
        sd = x.std(axis=0, ddof=1)
        if np.any(sd == 0):
            continue
        z = (x - x.mean(axis=0)) / sd
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        eigenvalues = s**2 / (n_rows - 1)
        signs = np.where(vt.sum(axis=1) < 0, -1.0, 1.0)
        vectors = (vt * signs[:, None]).T  # items × components
        share = eigenvalues / eigenvalues.sum()
        components = np.arange(1, len(eigenvalues) + 1)
        explained.extend(
            {
                "node": node,
                "component": int(c),
                "eigenvalue": float(e),
                "explained": float(r),
                "cumulative": float(cum),
                "n_rows": n_rows,
            }
            for c, e, r, cum in zip(components, eigenvalues, share, np.cumsum(share), strict=True)
        )
        loadings.append(
            pd.DataFrame(
                {
                    "node": node,
                    "item": np.repeat(members, len(components)),
                    "component": np.tile(components, k),
                    "loading": (vectors * np.sqrt(eigenvalues)[None, :]).ravel(),
                    "coefficient": vectors.ravel(),
                }
            )
        )
    explained_frame = pd.DataFrame(
        explained, columns=["node", "component", "eigenvalue", "explained", "cumulative", "n_rows"]
    )
    loading_frame = (
        pd.concat(loadings, ignore_index=True)
        if loadings
        else pd.DataFrame(columns=["node", "item", "component", "loading", "coefficient"])
    )
    return PCAResult(explained=explained_frame, loadings=loading_frame)


# --------------------------------------------------------------------------------------
# Unit profiles
# --------------------------------------------------------------------------------------


def unit_profiles(result: IndexResult, *, n: int = 3, period: object | None = None) -> pd.DataFrame:
    """Each entity's strengths and weaknesses: its best and worst ranked indicators.

    An indicator is a strength of an entity when the entity ranks high on it relative to
    the other entities of the same period (rank on the normalised value, 1 = best), a
    weakness when it ranks low — what COINr's ``get_str_weak`` reports in unit profiles.
    An indicator on which the entity has the period's best value (shared by many entities
    when the best is a cap) is never listed as a weakness, nor one at the worst value as a
    strength: an entity may have fewer than ``n`` of either.

    Parameters
    ----------
    n : int, default 3
        Strengths and weaknesses listed per entity [count].
    period : optional
        One period only.

    Returns
    -------
    DataFrame
        One row per (entity, period, kind, position): ``kind`` (strength or weakness),
        ``position`` (1 = the best strength / the worst weakness), ``indicator``, ``rank``
        [rank among the entities with a value], ``n_ranked``, ``normalised`` [score] and
        ``raw`` [indicator units].
    """
    if n < 1:
        raise SpecError(f"n must be >= 1; got {n}")
    normalised = _rows(result.normalised, period)
    raw = _rows(result.raw, period)
    ranks = normalised.groupby(level="period").rank(ascending=False, method="min")
    counts = normalised.notna().groupby(level="period").transform("sum").to_numpy()
    r = ranks.to_numpy(dtype=np.float64)
    m = r.shape[1]
    take = min(n, m)
    missing = np.isnan(r)
    # a value tied at the period's best is never a weakness, one tied at its worst never a
    # strength (ranks of ties share the best position, so many entities can tie at rank 1)
    values = normalised.to_numpy(dtype=np.float64)
    top = normalised.groupby(level="period").transform("max").to_numpy(dtype=np.float64)
    bottom = normalised.groupby(level="period").transform("min").to_numpy(dtype=np.float64)
    not_strength = missing | ((values == bottom) & (top > bottom))
    not_weakness = missing | (values == top)
    best = np.argsort(np.where(not_strength, np.inf, r), axis=1, kind="stable")[:, :take]
    worst = np.argsort(np.where(not_weakness, np.inf, -r), axis=1, kind="stable")[:, :take]
    parts = []
    index = normalised.index
    columns = np.asarray(normalised.columns, dtype=object)
    for kind, order, excluded in (
        ("strength", best, not_strength),
        ("weakness", worst, not_weakness),
    ):
        row = np.repeat(np.arange(len(r)), take)
        col = order.ravel()
        keep = ~excluded[row, col]
        row, col = row[keep], col[keep]
        parts.append(
            pd.DataFrame(
                {
                    "entity": index.get_level_values("entity")[row],
                    "period": index.get_level_values("period")[row],
                    "kind": kind,
                    "position": np.tile(np.arange(1, take + 1), len(r))[keep],
                    "indicator": columns[col],
                    "rank": r[row, col],
                    "n_ranked": counts[row, col],
                    "normalised": normalised.to_numpy()[row, col],
                    "raw": raw.to_numpy()[row, col],
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["entity", "period", "kind", "position"], kind="stable").reset_index(
        drop=True
    )


# --------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoherenceReport:
    """Every coherence table of one index; see :func:`coherence_report`."""

    statistics: pd.DataFrame
    availability: pd.DataFrame
    correlations: dict[str, pd.DataFrame]
    node_correlations: dict[str, pd.DataFrame]
    flags: pd.DataFrame
    cronbach: pd.DataFrame
    pca: PCAResult
    profiles: pd.DataFrame
    levels: dict[str, int] = field(default_factory=dict)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write every table as CSV into ``folder``; returns name → path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tables: dict[str, tuple[pd.DataFrame, bool]] = {
            "statistics": (self.statistics, True),
            "availability": (self.availability, True),
            "flags": (self.flags, False),
            "cronbach": (self.cronbach, True),
            "pca_explained": (self.pca.explained, False),
            "pca_loadings": (self.pca.loadings, False),
            "profiles": (self.profiles, False),
        }
        for name, matrix in self.correlations.items():
            tables[f"correlation_{name}"] = (matrix, True)
        for name, matrix in self.node_correlations.items():
            tables[f"indicator_node_correlation_{name}"] = (matrix, True)
        written = {}
        for name, (frame, keep_index) in tables.items():
            path = folder / f"{name}.csv"
            frame.to_csv(path, index=keep_index)
            written[name] = path
        return written


def coherence_report(
    result: IndexResult,
    *,
    methods: Sequence[Method] = ("pearson", "spearman"),
    threshold: float = 0.9,
    n_profile: int = 3,
    period: object | None = None,
) -> CoherenceReport:
    """Run every coherence analysis of :mod:`securindex.analysis.coherence`.

    Correlation matrices: within each level and between each pair of levels, for each
    method, keyed ``"<method>_<level>_<level>"`` (e.g. ``pearson_1_2``: indicators against
    pillars); ``node_correlations`` per method.

    Returns
    -------
    CoherenceReport
    """
    framework = result.framework
    level_of = levels(framework)
    top = max(level_of.values())
    matrices: dict[str, pd.DataFrame] = {}
    for method in methods:
        for a in range(1, top + 1):
            for b in range(a, top + 1):
                if a == b == top:
                    continue
                matrices[f"{method}_{a}_{b}"] = correlations(
                    result, rows=a, columns=b, method=method, period=period
                )
    return CoherenceReport(
        statistics=describe(result, period=period),
        availability=availability(result, period=period),
        correlations=matrices,
        node_correlations={m: node_correlations(result, method=m, period=period) for m in methods},
        flags=correlation_flags(result, threshold=threshold, method=methods, period=period),
        cronbach=cronbach_alpha(result, period=period),
        pca=pca(result, period=period),
        profiles=unit_profiles(result, n=n_profile, period=period),
        levels=level_of,
    )
