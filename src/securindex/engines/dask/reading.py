"""The panel as a dask DataFrame, read lazily (one partition per file or entity block)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, LABEL, PERIOD, Panel
from securindex.engines.dask.cluster import import_dask
from securindex.errors import DataError

if TYPE_CHECKING:
    from securindex.spec.dictionary import DataDictionary


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
    id_names : dict
        The data's own names of the id columns (``entity``, ``period``, ``label`` keys, as
        :attr:`Panel.id_names <securindex.dataset.Panel.id_names>`), for the files written.
    """

    frame: Any
    units: dict[str, str]
    groups: list[str]
    by_entity: bool = False
    name: str | None = None
    schema: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "schema"]))
    periods: np.ndarray | None = None  # sorted periods, when known without reading
    n_rows: int | None = None
    id_names: dict[str, str] = field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        return list(self.units)


def _from_pandas_by_entity(frame: pd.DataFrame, npartitions: int) -> Any:
    """A dask DataFrame whose partitions hold whole entities (sorted by entity)."""
    import_dask()
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
    # the variables as one float block (column-contiguous): what every stage reads
    matrix = np.empty((len(raw), len(columns)), dtype=np.float64, order="F")
    for j, column in enumerate(columns):
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() & raw[column].notna()
        if bad.any():
            examples = raw.loc[bad, column].astype(str).unique()[:3].tolist()
            raise DataError(
                f"{int(bad.sum())} non-numeric value(s) such as {examples}",
                column=column,
                source=path,
            )
        matrix[:, j] = values.to_numpy(dtype=np.float64)
    block = pd.DataFrame(matrix, columns=list(columns.values()), index=out.index, copy=False)
    return pd.concat([out, block], axis=1)


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
    import_dask()
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
            id_names=dict(data.id_names),
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
        return DaskPanel(
            renamed, units, groups, by_entity=by_entity, name=spec.name, id_names=_id_names(spec)
        )
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
        id_names=_id_names(spec),
        schema=pd.DataFrame(notes, columns=["file", "schema"]),
    )


def _id_names(spec: DataDictionary) -> dict[str, str]:
    """The dictionary's names of the id columns (as :attr:`Panel.id_names`)."""
    names = {ENTITY: spec.entity, PERIOD: spec.period or PERIOD}
    if spec.label:
        names[LABEL] = spec.label
    return names
