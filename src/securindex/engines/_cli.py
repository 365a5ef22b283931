"""Command-line commands of the scale-out path: ``securindex incidents …`` and ``scale``.

``register(app)`` adds them to the main Typer application (``securindex.cli``):

* ``securindex incidents panel DICTIONARY [DATA…] -o panel.parquet`` counts incident
  records into a panel and writes it with the report (``--engine dask`` for a distributed
  group-by);
* ``securindex incidents report DICTIONARY [DATA…]`` prints what would be counted and
  excluded, writing nothing;
* ``securindex scale FRAMEWORK [DATA…] -o OUT`` builds the index from a panel or from the
  incident files the framework (or its data dictionary) names, on pandas or Dask
  (``--engine dask``, ``--scheduler tcp://host:8786`` or ``--workers 4`` for a local
  cluster).

Like the rest of the CLI, commands call only the public API, print ``file:line: message``
for specification errors and exit with status 1 on any :class:`SecurindexError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from securindex._console import DEFAULT_OUTPUT, beside_dictionary, output_path
from securindex._console import console as _console
from securindex._console import fail as _fail
from securindex._output import atomic_file, atomic_folder
from securindex.errors import SecurindexError

__all__ = ["register"]

_PANEL = DEFAULT_OUTPUT / "panel.csv"


@contextlib.contextmanager
def _cluster(
    engine: str, scheduler: str | None, workers: int | None, memory_limit: str | None
) -> Iterator[Any]:
    """A Client for ``--workers N`` (a local cluster), else nothing (the engine decides)."""
    if engine != "dask" or scheduler or not workers:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("--workers needs distributed: pip install 'securindex[dask]'") from None
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            memory_limit=memory_limit or "auto",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


incidents_app = typer.Typer(
    help="Count incident records (one row per recorded incident) into a panel.",
    no_args_is_help=True,
)

_Engine = Annotated[str, typer.Option("--engine", help="pandas or dask")]
_Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="address of a dask scheduler, e.g. tcp://host:8786"),
]
_Workers = Annotated[
    int | None,
    typer.Option("--workers", help="start a local dask cluster with this many workers"),
]
_Memory = Annotated[
    str | None,
    typer.Option("--memory-limit", help="memory limit per local worker, e.g. 2GB"),
]


@incidents_app.command("panel")
def incidents_panel(
    dictionary: Annotated[
        Path, typer.Argument(help="data dictionary YAML with a from_incidents block")
    ],
    data: Annotated[
        list[Path] | None,
        typer.Argument(help="incident files or globs (default: the block's source)"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help=f"panel file (.csv, .parquet) or folder (default: {_PANEL})"
        ),
    ] = None,
    engine: _Engine = "pandas",
    scheduler: _Scheduler = None,
    workers: _Workers = None,
    memory_limit: _Memory = None,
) -> None:
    """Count incident records into an (area × period) panel; write it and the report."""
    from securindex._extras import require
    from securindex.incidents import incidents_to_panel

    try:
        output = output_path(output, files=(".csv", ".parquet"), default=_PANEL)
        if not output.suffix:
            output = output / "panel.csv"
        if output.suffix.lower() == ".parquet":
            require("parquet", f"writing {output}")
        if engine == "dask":
            require("dask", "--engine dask")
        with _cluster(engine, scheduler, workers, memory_limit) as client:
            counted = incidents_to_panel(
                dictionary,
                [str(d) for d in data] if data else None,
                engine=engine,  # type: ignore[arg-type]
                client=client,
                scheduler=scheduler,
                progress=not _console.quiet,
            )
        panel, report = counted
        frame = panel.frame.join(panel.groups) if len(panel.groups.columns) else panel.frame
        frame = frame.reset_index()
        with atomic_file(output) as tmp:
            if output.suffix.lower() == ".parquet":
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_csv(tmp, index=False)
        report_path = output.with_name(output.name.split(".")[0] + ".incident_report.csv")
        with atomic_file(report_path) as tmp:
            report.to_frame().to_csv(tmp, index=False)
    except (SecurindexError, ImportError) as exc:
        raise _fail(exc) from None
    _console.print(report.summary(), markup=False, highlight=False)
    _console.print(f"[green]wrote[/green] {output} ({len(frame):,} rows) and {report_path}")


@incidents_app.command("report")
def incidents_report(
    dictionary: Annotated[
        Path, typer.Argument(help="data dictionary YAML with a from_incidents block")
    ],
    data: Annotated[
        list[Path] | None,
        typer.Argument(help="incident files or globs (default: the block's source)"),
    ] = None,
    engine: _Engine = "pandas",
    scheduler: _Scheduler = None,
) -> None:
    """Print what happens to every incident record (counted, or excluded and why)."""
    from securindex.incidents import incidents_to_panel

    try:
        counted = incidents_to_panel(
            dictionary,
            [str(d) for d in data] if data else None,
            engine=engine,  # type: ignore[arg-type]
            scheduler=scheduler,
        )
    except (SecurindexError, ImportError) as exc:
        raise _fail(exc) from None
    report = counted.report
    _console.print(report.summary(), markup=False, highlight=False)
    if len(report.issues):
        _console.print(report.issues.to_string(index=False), markup=False, highlight=False)


def scale(
    framework: Annotated[
        str,
        typer.Argument(
            help="framework YAML (may hold engine and from_incidents), or a shipped name"
        ),
    ],
    data: Annotated[
        list[Path] | None,
        typer.Argument(help="panel or incident files/globs (default: from the YAML)"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="results folder (default: securindex-results/)"),
    ] = None,
    dictionary: Annotated[
        Path | None,
        typer.Option("--dictionary", "-d", help="data dictionary YAML (may hold from_incidents)"),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="pandas or dask (default: the YAML's engine, else pandas)"),
    ] = None,
    scheduler: _Scheduler = None,
    workers: _Workers = None,
    memory_limit: _Memory = None,
) -> None:
    """Build a composite index from a panel or from incident files, on pandas or Dask.

    Writes the files of `compute` (CSV on pandas; on Dask the tables are partitioned
    Parquet datasets of the same names), and the incident report, into the results folder.
    """
    from securindex._extras import require
    from securindex.engines import load_framework, run
    from securindex.shipped import resolve

    try:
        output = output_path(output, files=())
        framework_file = resolve("framework", framework)
        if dictionary is None and data and len(data) == 1:  # as compute: beside the data
            dictionary = beside_dictionary(data[0])
        wanted = engine or load_framework(framework_file).engine.name
        if wanted == "dask":
            require("dask", "the Dask engine")
        with _cluster(wanted, scheduler, workers, memory_limit) as client:
            done = run(
                framework_file,
                [str(d) for d in data] if data else None,
                dictionary=dictionary,
                engine=wanted,  # type: ignore[arg-type]
                scheduler=scheduler,
                client=client,
                progress=not _console.quiet,
            )
            with atomic_folder(output) as tmp:
                written = {
                    name: output / p.name
                    for name, p in done.write(tmp, progress=not _console.quiet).items()
                }
    except (SecurindexError, ImportError) as exc:
        raise _fail(exc) from None
    if done.report is not None:
        _console.print(done.report.summary(), markup=False, highlight=False)
    _console.print(f"[green]{done.engine} engine[/green]: {done.result!r}", highlight=False)
    _console.print(f"[green]Results written to[/green] {output}/:")
    for name, path in written.items():
        _console.print(f"  {name:18} {path.name}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``incidents`` (a group of commands) and ``scale`` to the main application."""
    app.add_typer(incidents_app, name="incidents")
    app.command("scale")(scale)
