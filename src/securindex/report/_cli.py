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
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: RESULT_DIR/report.html)"),
    ] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option("--entity", "-e", help="also profile this entity (repeatable)"),
    ] = None,
    data_name: Annotated[
        str | None,
        typer.Option("--data-name", help="name of the dataset shown in the header"),
    ] = None,
    title: Annotated[str | None, typer.Option(help="title of the page")] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="best and worst entities given a profile")
    ] = 10,
) -> None:
    """Write a self-contained HTML report (opens offline) of a results folder."""
    from rich.console import Console

    from securindex._output import atomic_file, check_target
    from securindex.errors import SecurindexError
    from securindex.report import write_report

    target = output if output is not None else result_dir / "report.html"
    try:
        check_target(target, kind="file")
        with atomic_file(target) as tmp:
            write_report(
                result_dir,
                tmp,
                entities=entity or (),
                data_name=data_name,
                title=title,
                n_top=top,
            )
        path = target
    except SecurindexError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    except ImportError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    size = path.stat().st_size / 1e6
    Console(soft_wrap=True).print(f"[green]wrote[/green] {path} ({size:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app`` (called by :mod:`securindex.cli`)."""
    app.command("report")(report)
