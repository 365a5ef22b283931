"""Engines: where a framework is computed — pandas in memory, or Dask on a cluster.

One framework YAML runs on either engine. The engine is chosen by ``engine: dask`` in the
framework file (or ``engine: {name: dask, scheduler: "tcp://host:8786", npartitions: 8}``),
by ``--engine dask`` on the command line, or by :func:`run`'s ``engine`` argument; an
argument wins over the file. Nothing here imports dask: :mod:`securindex.engines.dask` does,
lazily, and says ``pip install 'securindex[dask]'`` when it is missing.

A single YAML file can hold the whole job: the framework, its ``engine`` and a
``from_incidents:`` block describing the incident files the panel is counted from (see
:mod:`securindex.incidents`). :func:`run` reads such a file, counts the incidents, builds
the index and returns both results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from securindex.errors import SpecError

if TYPE_CHECKING:
    from securindex.framework import Framework
    from securindex.incidents import IncidentReport, IncidentSpec

__all__ = ["ENGINES", "EngineOptions", "EngineRun", "FrameworkConfig", "load_framework", "run"]

ENGINES = ("pandas", "dask")

# keys of a framework YAML that the engines read and FrameworkSpec does not (yet) know
_ENGINE_KEYS = ("engine", "from_incidents")


class EngineOptions(BaseModel):
    """The ``engine:`` key of a framework file: ``pandas`` (default) or ``dask``.

    ``scheduler`` is the address of a running dask scheduler (``tcp://host:8786``); without
    it the current ``distributed.Client`` is used, else dask's local threads. ``npartitions``
    splits an in-memory panel; ``ranks`` chooses which nodes get ranks on Dask.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["pandas", "dask"] = "pandas"
    scheduler: str | None = None
    npartitions: int | None = Field(default=None, ge=1)
    persist: bool = True
    ranks: Literal["all", "root", "none"] = "all"


@dataclass(frozen=True)
class FrameworkConfig:
    """A framework file read with the keys the engines add: the engine and incidents."""

    framework: Framework
    engine: EngineOptions
    incidents: IncidentSpec | None
    base_dir: Path
    dictionary: Path | None


def load_framework(path: str | Path) -> FrameworkConfig:
    """Read a framework YAML file, with its optional ``engine`` and ``from_incidents`` keys.

    Errors are located at ``file:line:column`` as for :meth:`Framework.load`.
    """
    from securindex._yaml import Located, read_yaml
    from securindex.framework import Framework
    from securindex.incidents import IncidentSpec
    from securindex.spec._validate import validate_located
    from securindex.spec.framework import FrameworkSpec

    located = read_yaml(path)
    if not isinstance(located.value, dict):
        raise SpecError(f"{path}: a framework file holds a mapping")
    value = {k: v for k, v in located.value.items() if k not in _ENGINE_KEYS}
    trimmed = Located(value, located.file, located.positions)
    spec = validate_located(FrameworkSpec, trimmed)
    base_dir = Path(path).resolve().parent
    framework = Framework.from_spec(spec, base_dir=base_dir, located=trimmed)
    raw_engine = located.value.get("engine", "pandas")
    engine_value = {"name": raw_engine} if isinstance(raw_engine, str) else raw_engine
    engine = validate_located(
        EngineOptions,
        Located({"engine": engine_value}, located.file, located.positions),
        ("engine",),
    )
    incidents = None
    if "from_incidents" in located.value:
        incidents = validate_located(IncidentSpec, located, ("from_incidents",))
    dictionary = base_dir / spec.dictionary if spec.dictionary else None
    return FrameworkConfig(framework, engine, incidents, base_dir, dictionary)


@dataclass(frozen=True)
class EngineRun:
    """What :func:`run` produced: the index (pandas or Dask result) and the incident report."""

    result: Any  # IndexResult | DaskIndexResult
    report: IncidentReport | None
    engine: str

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write the index (every stage on pandas; Parquet datasets on Dask) and the report."""
        folder = Path(folder)
        written: dict[str, Path] = dict(self.result.write(folder))
        if self.report is not None:
            path = folder / "incident_report.csv"
            self.report.to_frame().to_csv(path, index=False)
            written["incident_report"] = path
            self.report.offences.to_csv(folder / "incident_offences.csv", index=False)
            written["incident_offences"] = folder / "incident_offences.csv"
        return written


def run(
    framework: str | Path | Framework,
    data: Any = None,
    *,
    dictionary: str | Path | Mapping[str, Any] | None = None,
    engine: Literal["pandas", "dask"] | None = None,
    scheduler: str | None = None,
    client: Any = None,
    npartitions: int | None = None,
) -> EngineRun:
    """From data (a panel, or incident files) to the index on the chosen engine, in one call.

    Parameters
    ----------
    framework : path or Framework
        A framework YAML file (may hold ``engine`` and ``from_incidents``), or a Framework.
    data : path, glob, list, DataFrame or Panel, optional
        A panel (CSV/Parquet files with ``dictionary``), or the incident records when the
        panel comes from incidents. Defaults to the incident ``source`` of the YAML.
    dictionary : path or mapping, optional
        A data dictionary; one with a ``from_incidents`` block makes the panel from
        incident records. Defaults to the framework's ``dictionary:`` key.
    engine : {"pandas", "dask"}, optional
        Overrides the file's ``engine``.
    scheduler, client, npartitions
        Dask options (see :func:`securindex.engines.dask.compute_dask`).

    Returns
    -------
    EngineRun
        ``result`` (an :class:`~securindex.result.IndexResult`, or a
        :class:`~securindex.engines.dask.DaskIndexResult`) and ``report`` (the
        :class:`~securindex.incidents.IncidentReport`, or None).
    """
    from securindex.dataset import Panel
    from securindex.framework import Framework
    from securindex.incidents import incidents_to_panel, read_incident_dictionary

    if isinstance(framework, Framework):
        config = FrameworkConfig(framework, EngineOptions(), None, Path("."), None)
    else:
        config = load_framework(framework)
    options = config.engine.model_copy(
        update={
            k: v
            for k, v in {"name": engine, "scheduler": scheduler, "npartitions": npartitions}.items()
            if v is not None
        }
    )
    if options.name not in ENGINES:
        raise SpecError(f"unknown engine {options.name!r}; choose one of {list(ENGINES)}")
    dictionary = dictionary if dictionary is not None else config.dictionary
    incident_spec = config.incidents
    base_dir = config.base_dir
    name = None
    if incident_spec is None and isinstance(dictionary, (str, Path)) and _has_incidents(dictionary):
        incident_spec, base_dir, name = read_incident_dictionary(dictionary)
    report = None
    panel: Any = data
    if incident_spec is not None:
        counted = incidents_to_panel(
            incident_spec,
            data,
            base_dir=base_dir,
            engine=options.name,
            client=client,
            scheduler=options.scheduler,
        )
        panel, report = counted.panel, counted.report
        if name:
            panel.name = name
    elif data is None:
        raise SpecError(
            "no data: give a panel (data=... with a dictionary) or a from_incidents block "
            "in the framework or its data dictionary"
        )
    if options.name == "dask":
        from securindex.engines.dask import compute_dask

        result: Any = compute_dask(
            config.framework,
            panel,
            dictionary=None if isinstance(panel, Panel) else dictionary,
            client=client,
            scheduler=options.scheduler,
            npartitions=options.npartitions,
            persist=options.persist,
            ranks=options.ranks,
        )
    else:
        if not isinstance(panel, Panel):
            panel = _read_pandas_panel(panel, dictionary)
        result = config.framework.compute(panel)
    return EngineRun(result, report, options.name)


def _has_incidents(path: str | Path) -> bool:
    from securindex._yaml import read_yaml

    value = read_yaml(path).value
    return isinstance(value, dict) and "from_incidents" in value


def _read_pandas_panel(data: Any, dictionary: Any) -> Any:
    """A Panel from a DataFrame, a file, or several files (concatenated)."""
    import pandas as pd

    from securindex.dataset import Panel, _as_dictionary, _id_columns, read_table
    from securindex.incidents.reading import expand_sources

    if isinstance(data, pd.DataFrame):
        return Panel.from_frame(data, dictionary=dictionary)
    sources = [data] if isinstance(data, (str, Path)) else list(data)
    paths = expand_sources(sources, Path("."))
    if len(paths) == 1:
        return Panel.read(paths[0], dictionary=dictionary)
    spec = _as_dictionary(dictionary, entity=None, period=None, units=None)
    tables = [read_table(p, text_columns=_id_columns(spec), encoding=spec.encoding) for p in paths]
    frame = pd.concat(tables, ignore_index=True)
    return Panel.from_frame(frame, dictionary=spec, source=f"{len(paths)} files")
