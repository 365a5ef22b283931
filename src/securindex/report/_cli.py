"""The ``securindex report`` command; :func:`register` adds it to the main Typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def report(
    result_dir: Annotated[
        Path,
        typer.Argument(
            help="results folder written by 'securindex compute FRAMEWORK DATA -o FOLDER'"
        ),
    ] = Path("securindex-results"),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: RESULT_DIR/report.html)"),
    ] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option(
            "--entity", "-e", help="also profile this entity, by id or label (repeatable)"
        ),
    ] = None,
    data_name: Annotated[
        str | None,
        typer.Option("--data-name", help="name of the dataset shown in the header"),
    ] = None,
    title: Annotated[str | None, typer.Option(help="title of the page")] = None,
    uncertainty: Annotated[
        Path | None,
        typer.Option(
            "--uncertainty",
            help="uncertainty run folder (default: RESULT_DIR/uncertainty when it exists)",
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="best and worst entities given a profile")
    ] = 10,
) -> None:
    """Write a self-contained HTML report (opens offline) of a results folder.

    An uncertainty run in RESULT_DIR/uncertainty/ (securindex uncertainty ... -o
    RESULT_DIR/uncertainty) adds an uncertainty section.
    """
    from securindex._console import console, fail, output_path
    from securindex._output import atomic_file
    from securindex.errors import SecurindexError
    from securindex.report import write_report

    try:
        target = output_path(
            output, files=(".html",), folder=False, default=result_dir / "report.html"
        )
        with atomic_file(target) as tmp:
            write_report(
                result_dir,
                tmp,
                entities=entity or (),
                data_name=data_name,
                title=title,
                n_top=top,
                uncertainty=uncertainty,
                progress=not console.quiet,
            )
        path = target
    except SecurindexError as exc:
        raise fail(exc) from None
    size = path.stat().st_size / 1e6
    console.print(f"[green]wrote[/green] {path} ({size:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app`` (called by :mod:`securindex.cli`)."""
    app.command("report")(report)
