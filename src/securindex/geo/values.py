"""What to put on a map or test for clustering: one column of a result or panel, with its
unit and polarity, and the polygons it belongs to.

:func:`spatial_values` finds a name in an :class:`~securindex.result.IndexResult` (a node's
score, ``rank_<node>``, or an indicator at a stage), a :class:`~securindex.dataset.Panel`
(a variable) or a plain DataFrame, so the maps and the statistics accept the same things.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from securindex.errors import DataError

__all__ = ["SpatialValues", "spatial_values"]

Polarity = Literal["positive", "negative", "none"]


@dataclass(frozen=True, eq=False)
class SpatialValues:
    """One variable over (entity, period), with what a map legend needs.

    Attributes
    ----------
    values : Series
        Indexed by ``(entity, period)``; NaN where missing or not scored.
    name, label : str
        Column name and display name.
    unit : str
        Unit of the values (``score``, ``rank``, ``percent`` …).
    polarity : str
        ``positive`` (more is more secure), ``negative`` (more is less secure) or ``none``.
    not_scored : Series of bool or None
        True where a node did not score the row for lack of data (drawn apart from
        missing raw data).
    areas : Areas or None
        The polygons of the source.
    """

    values: pd.Series
    name: str
    label: str
    unit: str
    polarity: Polarity
    not_scored: pd.Series | None = None
    areas: Any = None


def spatial_values(source: Any, name: str | None = None, *, stage: str = "raw") -> SpatialValues:
    """One variable of a result, a panel or a table, with its unit and polarity.

    Parameters
    ----------
    source
        An IndexResult, a Panel, an :class:`SpatialValues` (returned as is), a Series or a
        DataFrame indexed by ``(entity, period)`` or by entity.
    name
        For a result: a node id (the framework id is the index; default), ``rank_<node>``
        or an indicator id (its values at ``stage``). For a panel: a variable. For a
        DataFrame: a column.
    stage
        Stage of an indicator of a result: ``raw`` (declared unit, default),
        ``imputed``, ``treated`` or ``normalised`` (score, oriented so higher is more
        secure).

    Raises
    ------
    DataError
        ``name`` is not found; the message lists the close matches.
    """
    from securindex.dataset import Panel
    from securindex.result import IndexResult

    if isinstance(source, SpatialValues):
        return source
    if isinstance(source, IndexResult):
        return _from_result(source, name, stage)
    if isinstance(source, Panel):
        if name is None or name not in source.frame.columns:
            _unknown(name, list(source.frame.columns), "variable of the panel")
        assert name is not None
        return SpatialValues(
            _indexed(source.frame[name]),
            name,
            name,
            source.units[name],
            "none",
            areas=source.areas,
        )
    if isinstance(source, pd.Series):
        label = str(source.name if source.name is not None else name or "value")
        return SpatialValues(_indexed(source), label, label, "", "none")
    if isinstance(source, pd.DataFrame):
        if name is None or name not in source.columns:
            _unknown(name, [str(c) for c in source.columns], "column")
        assert name is not None
        return SpatialValues(_indexed(source[name]), name, name, "", "none")
    raise DataError(
        f"cannot map a {type(source).__name__}: give an IndexResult, a Panel or a DataFrame"
    )


def _from_result(result: Any, name: str | None, stage: str) -> SpatialValues:
    framework = result.framework
    name = name or framework.id
    scores = result.scores
    not_scored = _not_scored(result)
    if name in scores.columns:
        flags = not_scored.get(name)
        return SpatialValues(
            scores[name],
            name,
            framework.node_name(name),
            "score",
            "positive",
            not_scored=flags,
            areas=result.areas,
        )
    if name.startswith("rank_") and name[5:] in scores.columns:
        node = name[5:]
        return SpatialValues(
            result.ranks[node],
            name,
            f"rank of {framework.node_name(node)}",
            "rank",
            "negative",  # rank 1 is the most secure: a higher rank number is less secure
            not_scored=not_scored.get(node),
            areas=result.areas,
        )
    if name in framework.indicators:
        frame = result.stage(stage)
        indicator = framework.catalogue[name]
        unit: str = indicator.unit
        polarity: Polarity = framework.polarity(name)
        if stage == "normalised":
            unit, polarity = "score", "positive"
        return SpatialValues(frame[name], name, indicator.name, unit, polarity, areas=result.areas)
    _unknown(name, [*scores.columns, *framework.indicators], "node or indicator")
    raise AssertionError  # pragma: no cover


def _not_scored(result: Any) -> dict[str, pd.Series]:
    """Per node, True on the rows the node did not score (from the audit)."""
    audit = result.audit
    if not len(audit) or "action" not in audit.columns:
        return {}
    rows = audit[audit["action"].astype(str).str.contains("not scored", na=False)]
    flags: dict[str, pd.Series] = {}
    for node, part in rows.groupby("item"):
        index = pd.MultiIndex.from_arrays(
            [part["entity"].to_numpy(), part["period"].to_numpy()], names=["entity", "period"]
        )
        flag = pd.Series(False, index=result.scores.index)
        flag.loc[flag.index.isin(index)] = True
        flags[str(node)] = flag
    return flags


def _indexed(series: pd.Series) -> pd.Series:
    """A series indexed by (entity, period); a plain entity index gets one period, None."""
    if isinstance(series.index, pd.MultiIndex):
        return series
    index = pd.MultiIndex.from_arrays(
        [series.index, [None] * len(series)], names=["entity", "period"]
    )
    return pd.Series(series.to_numpy(), index=index, name=series.name)


def _unknown(name: str | None, available: list[str], what: str) -> None:
    close = difflib.get_close_matches(str(name), available, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise DataError(f"no {what} named {name!r}{hint} Available: {', '.join(available[:30])}")
