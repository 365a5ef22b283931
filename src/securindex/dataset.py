"""City panels: one row per (entity, period), one column per variable, each with a unit.

A :class:`Panel` is what indicators are computed over. It is built from a pandas
DataFrame, a CSV or Parquet file, or the long (tidy) form ``entity, period, variable,
value[, unit]``, and is validated once, at the edge: missing columns, duplicate
(entity, period) rows, text in numeric columns, negative counts or populations and unknown
units are reported together, with the offending rows, before anything is computed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from securindex._yaml import Located, read_yaml
from securindex.errors import DataError, UnitError
from securindex.formula import PanelLayout
from securindex.spec._validate import validate_located
from securindex.spec.dictionary import DataDictionary, Variable
from securindex.units import parse_unit

__all__ = ["Panel", "read_dictionary"]

logger = logging.getLogger(__name__)

ENTITY = "entity"
PERIOD = "period"
LABEL = "label"  # the group column holding each entity's display name, when the data have one

# Quantities that are counted: a negative value is a data error, not a measurement.
_COUNTED_UNITS = {"count", "inhabitant", "household", "dwelling"}


def read_dictionary(path: str | Path) -> DataDictionary:
    """Read and validate a data-dictionary YAML file (errors located at file:line)."""
    return validate_located(DataDictionary, read_yaml(path))


def _is_counted(unit_text: str) -> bool:
    unit = parse_unit(unit_text)  # any positive scale: "1000 inhabitant" is still counted
    return str(unit.unit) in _COUNTED_UNITS | {
        "incident",
        "offence",
        "event",
        "person",
        "people",
        "crime",
    }


class Panel:
    """An entity × period table of variables with units.

    Parameters
    ----------
    frame
        Float64 columns indexed by a MultiIndex named ``("entity", "period")``.
    units
        Unit text of every column (``"inhabitant"``, ``"count"``, ``"km**2"`` …).
    groups
        Optional grouping columns (region, state, country group) on the same index, used by
        grouped imputation and reports; a ``label`` column holds display names when the data
        dictionary names one.

    Use the constructors :meth:`from_frame`, :meth:`read`, :meth:`from_long` and
    :meth:`example`, which validate their input; the plain constructor trusts it.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        units: Mapping[str, str],
        *,
        groups: pd.DataFrame | None = None,
        name: str | None = None,
        dictionary: DataDictionary | None = None,
    ) -> None:
        self.frame = frame
        self.units = dict(units)
        self.groups = groups if groups is not None else pd.DataFrame(index=frame.index)
        self.name = name
        self.dictionary = dictionary

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame,
        *,
        dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
        entity: str | None = None,
        period: str | None = None,
        units: Mapping[str, str] | None = None,
        source: str | None = None,
    ) -> Panel:
        """Build a panel from a wide DataFrame.

        Either give a data dictionary (which names the id columns, renames columns to
        variable names and gives their units) or ``entity``/``period`` and a ``units``
        mapping of column → unit. Columns not described are ignored.
        """
        spec = _as_dictionary(dictionary, entity=entity, period=period, units=units)
        source = source or spec.name or "data"
        problems: list[DataError] = []

        id_columns = [spec.entity] + ([spec.period] if spec.period else [])
        missing_ids = [c for c in id_columns if c not in data.columns]
        if missing_ids:
            raise DataError(
                f"id column(s) {missing_ids} not found; columns are {list(data.columns)[:20]}",
                source=source,
            )
        missing = {
            name: spec.column_of(name)
            for name in spec.variables
            if spec.column_of(name) not in data.columns
        }
        if missing:
            listed = ", ".join(f"{v} (column '{c}')" for v, c in missing.items())
            raise DataError(f"variables missing from the data: {listed}", source=source)
        missing_groups = [g for g in spec.groups if g not in data.columns]
        if missing_groups:
            raise DataError(f"group column(s) {missing_groups} not found", source=source)

        entity_values = data[spec.entity]
        if entity_values.isna().any():
            rows = list(np.flatnonzero(entity_values.isna().to_numpy()))
            raise DataError("empty entity id", column=spec.entity, rows=rows, source=source)
        if spec.period:
            period_values = data[spec.period]
            if period_values.isna().any():
                rows = list(np.flatnonzero(period_values.isna().to_numpy()))
                raise DataError("empty period", column=spec.period, rows=rows, source=source)
        else:
            value = spec.period_value if spec.period_value is not None else 0
            period_values = pd.Series(value, index=data.index)
        index = pd.MultiIndex.from_arrays(
            [entity_values.to_numpy(), period_values.to_numpy()], names=[ENTITY, PERIOD]
        )

        duplicated = index.duplicated(keep=False)
        if duplicated.any():
            rows = list(dict.fromkeys(index[duplicated]))
            problems.append(
                DataError(
                    f"{len(rows)} (entity, period) pair(s) appear more than once; "
                    "aggregate or remove the duplicates first",
                    rows=rows,
                    source=source,
                )
            )

        columns: dict[str, np.ndarray] = {}
        for name in spec.variables:
            column = spec.column_of(name)
            raw = data[column]
            numeric = pd.to_numeric(raw, errors="coerce")
            bad = numeric.isna() & raw.notna()
            if bad.any():
                examples = raw[bad].astype(str).unique()[:3].tolist()
                problems.append(
                    DataError(
                        f"{int(bad.sum())} non-numeric value(s) such as {examples}",
                        column=column,
                        rows=list(index[bad.to_numpy()]),
                        source=source,
                    )
                )
                continue
            values = numeric.to_numpy(dtype=np.float64)
            if _is_counted(spec.variables[name].unit):
                negative = values < 0
                if negative.any():
                    problems.append(
                        DataError(
                            f"{int(negative.sum())} negative value(s) in a counted quantity "
                            f"({spec.variables[name].unit})",
                            column=column,
                            rows=list(index[negative]),
                            source=source,
                        )
                    )
            columns[name] = values
        if problems:
            if len(problems) == 1:
                raise problems[0]
            message = f"{len(problems)} problems in the data:\n" + "\n".join(
                f"  {p}" for p in problems
            )
            raise DataError(message, source=source)

        frame = pd.DataFrame(columns, index=index)
        group_columns = {g: data[g].to_numpy() for g in spec.groups}
        if spec.label:
            if spec.label not in data.columns:
                raise DataError(f"label column '{spec.label}' not found", source=source)
            group_columns[LABEL] = data[spec.label].astype(str).to_numpy()
        groups = pd.DataFrame(group_columns, index=index)
        unit_map = {name: v.unit for name, v in spec.variables.items()}
        return cls(frame, unit_map, groups=groups, name=spec.name, dictionary=spec)

    @classmethod
    def read(
        cls,
        path: str | Path,
        *,
        dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
        entity: str | None = None,
        period: str | None = None,
        units: Mapping[str, str] | None = None,
    ) -> Panel:
        """Read a CSV (optionally gzipped) or Parquet file as a panel.

        Without ``dictionary``, a ``<stem>.dictionary.yaml`` or ``dictionary.yaml`` beside
        the file is used when present.
        """
        path = Path(path)
        if dictionary is None and entity is None:
            for candidate in (
                path.with_name(path.name.split(".")[0] + ".dictionary.yaml"),
                path.with_name("dictionary.yaml"),
            ):
                if candidate.exists():
                    dictionary = candidate
                    break
        data = read_table(path)
        logger.info("read %s: %d rows × %d columns; dictionary %s", path, *data.shape, dictionary)
        return cls.from_frame(
            data, dictionary=dictionary, entity=entity, period=period, units=units, source=str(path)
        )

    @classmethod
    def from_long(
        cls,
        data: pd.DataFrame,
        *,
        entity: str = "entity",
        period: str = "period",
        variable: str = "variable",
        value: str = "value",
        unit: str = "unit",
        units: Mapping[str, str] | None = None,
        source: str | None = None,
    ) -> Panel:
        """Build a panel from the long (tidy) form: one row per entity, period, variable.

        Units come from the ``unit`` column (one unit per variable) or the ``units`` mapping.
        """
        source = source or "long data"
        needed = [entity, period, variable, value] + ([unit] if units is None else [])
        absent = [c for c in needed if c not in data.columns]
        if absent:
            raise DataError(f"column(s) {absent} not found in long data", source=source)
        if units is None:
            per_variable = data.groupby(variable, sort=True)[unit].unique()
            conflicting = per_variable[per_variable.map(len) > 1]
            if len(conflicting):
                name = conflicting.index[0]
                raise DataError(
                    f"variable '{name}' has several units {list(conflicting.iloc[0])}; "
                    "convert to one unit first",
                    column=unit,
                    source=source,
                )
            units = {str(k): str(v[0]) for k, v in per_variable.items()}
        key = [entity, period, variable]
        duplicated = data.duplicated(key, keep=False)
        if duplicated.any():
            rows = list(data.loc[duplicated, key].itertuples(index=False, name=None))
            raise DataError(
                f"{len(rows)} rows repeat an (entity, period, variable) triple",
                rows=rows,
                source=source,
            )
        wide = data.pivot(index=[entity, period], columns=variable, values=value)
        wide.columns = [str(c) for c in wide.columns]
        wide = wide.reset_index()
        return cls.from_frame(wide, entity=entity, period=period, units=dict(units), source=source)

    @classmethod
    def example(cls, name: str) -> Panel:
        """One of the real datasets shipped with securindex (see ``securindex.datasets``)."""
        from securindex.datasets import example_dir, read_example_frame

        folder = example_dir(name)
        located = read_yaml(
            f"{name}/dictionary.yaml", folder.joinpath("dictionary.yaml").read_text()
        )
        spec = validate_located(DataDictionary, located)
        logger.info("shipped example dataset %s", name)
        return cls.from_frame(read_example_frame(name), dictionary=spec, source=name)

    # -- views ----------------------------------------------------------------------------
    @property
    def entities(self) -> pd.Index:
        return self.frame.index.unique(ENTITY)

    @property
    def periods(self) -> pd.Index:
        return self.frame.index.unique(PERIOD).sort_values()

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"Panel({self.name or 'unnamed'}: {len(self.entities)} entities × "
            f"{len(self.periods)} periods, {self.frame.shape[1]} variables)"
        )

    def layout(self) -> PanelLayout:
        """Integer codes of each row's entity and period (periods in sorted order)."""
        entity_codes, entities = pd.factorize(self.frame.index.get_level_values(ENTITY))
        period_values = self.frame.index.get_level_values(PERIOD)
        periods = np.sort(period_values.unique().to_numpy())
        period_codes = np.searchsorted(periods, period_values.to_numpy())
        return PanelLayout(
            entity_codes=entity_codes.astype(np.int64),
            period_codes=period_codes.astype(np.int64),
            n_entities=len(entities),
            n_periods=len(periods),
        )

    def label(self, entity: object) -> str:
        """Display name of an entity (its id when the data have no label column)."""
        if LABEL in self.groups.columns:
            labels = self.groups[LABEL].droplevel(PERIOD)
            if entity in labels.index:
                return str(labels.loc[[entity]].iloc[0])
        return str(entity)

    def unit_of(self, variable: str) -> str:
        return self.units[variable]


def read_table(path: Path) -> pd.DataFrame:
    """Read CSV (plain or compressed) or Parquet into a DataFrame; ids kept as read."""
    if not path.exists():
        raise DataError("file not found", source=str(path))
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise DataError(
                f"reading Parquet needs pyarrow: pip install 'securindex[parquet]' ({exc})",
                source=str(path),
            ) from None
    if ".csv" in suffixes or ".txt" in suffixes or ".tsv" in suffixes:
        sep = "\t" if ".tsv" in suffixes else ","
        return pd.read_csv(path, sep=sep)
    raise DataError("unknown file type; expected .csv[.gz], .tsv or .parquet", source=str(path))


def _as_dictionary(
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None,
    *,
    entity: str | None,
    period: str | None,
    units: Mapping[str, str] | None,
) -> DataDictionary:
    if isinstance(dictionary, DataDictionary):
        spec = dictionary
    elif isinstance(dictionary, (str, Path)):
        spec = read_dictionary(dictionary)
    elif isinstance(dictionary, Mapping):
        spec = validate_located(DataDictionary, Located(dict(dictionary), "data dictionary"))
    else:
        if entity is None or units is None:
            raise DataError(
                "give a data dictionary, or entity= (and period=) and units= "
                "(a mapping of column name to unit)"
            )
        variables = {}
        for name, unit in units.items():
            try:
                variables[name] = Variable(unit=unit)
            except pydantic.ValidationError as exc:
                message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                raise UnitError(f"variable '{name}': {message}") from None
        spec = DataDictionary(entity=entity, period=period, variables=variables)
    overrides: dict[str, Any] = {}
    if entity is not None:
        overrides["entity"] = entity
    if period is not None:
        overrides["period"] = period
    return spec.model_copy(update=overrides) if overrides else spec
