"""Real example datasets shipped with securindex.

Each example is a folder inside this package holding ``data.csv.gz`` (a tidy wide panel: one
row per entity and period, gzip-compressed CSV, empty cell = missing), ``dictionary.yaml``
(which column holds which canonical variable, in which unit, with source and caveats) and
``SOURCE.md`` (origin, licence, credit and every change made to the original data). They are
rebuilt deterministically from the original files by ``tools/make_datasets.py``.

Only data whose licence allows redistribution are shipped (see ``docs/data.md``). Nothing is
read at import time: the functions below open the package resources when called, through
:mod:`importlib.resources`, so they also work from a zipped installation.

Examples
--------
>>> from securindex.datasets import EXAMPLES, read_example_frame
>>> "uci_communities" in EXAMPLES
True
>>> frame = read_example_frame("uci_communities")
>>> len(frame)
2215
"""

from __future__ import annotations

import difflib
import sys
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from securindex.errors import DataError

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

__all__ = ["EXAMPLES", "example_dir", "read_example_frame"]

EXAMPLES: tuple[str, ...] = (
    "uci_communities",
    "eurostat_perception",
    "berlin_crime",
    "nypd_precincts",
    "maryland_counties",
    "chicago_hardship",
)
"""Names of the shipped example datasets (folder names in this package)."""


def example_dir(name: str) -> Traversable:
    """The package folder of one example dataset.

    Parameters
    ----------
    name
        One of :data:`EXAMPLES`, e.g. ``"uci_communities"``.

    Returns
    -------
    importlib.resources.abc.Traversable
        The folder holding ``data.csv.gz``, ``dictionary.yaml`` and ``SOURCE.md``; use
        ``.joinpath(file).read_text()`` or ``.open("rb")`` on it (it need not be a real
        directory when the package is zipped).

    Raises
    ------
    DataError
        ``name`` is not a shipped example; the message lists the available names.
    """
    if name not in EXAMPLES:
        close = [e for e in EXAMPLES if name and name.lower() in e]
        close += difflib.get_close_matches(name, EXAMPLES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(
            f"no example dataset named '{name}'{hint}. Available examples: {', '.join(EXAMPLES)}.",
            source="securindex.datasets",
        )
    return resources.files(__name__).joinpath(name)


def _id_columns(folder: Traversable) -> list[str]:
    """Entity, period and group columns, read as text so codes keep leading zeros."""
    spec: dict[str, Any] = yaml.safe_load(folder.joinpath("dictionary.yaml").read_text("utf-8"))
    columns = [spec.get("entity", "entity"), *(spec.get("groups") or [])]
    return [c for c in columns if isinstance(c, str)]


def read_example_frame(name: str) -> pd.DataFrame:
    """Read the data table of one example dataset, as it is stored.

    Columns keep the stored (source) names; the data dictionary maps them to canonical
    variable names and units (use :meth:`securindex.dataset.Panel.example` for a validated
    panel). The entity and group columns are read as text, so ids such as ``"010111"`` (a
    Berlin region) keep their leading zeros; only empty cells are missing values, so a text
    such as ``"NA"`` stays a string.

    Parameters
    ----------
    name
        One of :data:`EXAMPLES`.

    Returns
    -------
    pandas.DataFrame
        One row per (entity, period).

    Raises
    ------
    DataError
        ``name`` is not a shipped example.
    """
    folder = example_dir(name)
    text_columns = dict.fromkeys(_id_columns(folder), str)
    with folder.joinpath("data.csv.gz").open("rb") as handle:
        return pd.read_csv(
            handle,
            compression="gzip",
            dtype=text_columns,
            keep_default_na=False,
            na_values=[""],
        )
