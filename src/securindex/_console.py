"""Console output shared by every command-line module: one place that formats errors."""

from __future__ import annotations

import typer
from rich.console import Console

from securindex.errors import SpecError

__all__ = ["console", "errors", "fail"]

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def fail(exc: Exception) -> typer.Exit:
    """Print an error (every located issue of a SpecError; a missing optional extra
    arrives as an ImportError) and return exit status 1."""
    if isinstance(exc, SpecError):
        for issue in exc.issues:
            errors.print(str(issue), markup=False, highlight=False)
        errors.print(f"{len(exc.issues)} problem(s) found.", style="bold red")
    else:
        errors.print(f"error: {exc}", markup=False, highlight=False)
    return typer.Exit(code=1)
