"""What every command-line module shares: the consoles, error formatting, the output-path
rule, the ``-q``/``-v`` options and logging set-up.

The conventions of the ``securindex`` command line, applied to every command by
:func:`apply_conventions` (so a command cannot forget one):

====================  ===========================================================
``-o/--output PATH``  where results go. A path ending in ``.csv``, ``.parquet`` or
                      ``.json`` is one file (for commands that write one table); a
                      path without a suffix is a folder; any other suffix is an
                      error before any work starts. Omitted: ``securindex-results/``
                      (analyses write into a sub-folder of it).
``-d/--dictionary``   data dictionary YAML (default: beside the data, then the
                      framework's own).
``-c/--catalogue``    indicator YAML files or folders, or a shipped catalogue name.
``-i/--indicator``    only these indicator ids (repeatable).
``-e/--entity``       an entity, by id or by its label (repeatable).
``-n/--replicates``   Monte-Carlo replicates.
``--engine``          ``pandas`` or ``dask`` (no short flag).
``-q/--quiet``        print errors only (no summaries, no progress bars).
``-v/--verbose``      log what the library does (``-v`` info, ``-vv`` debug), on
                      standard error, from the ``securindex`` logger.
``--version``         print the version and exit.
``--debug``           (before the command) print the traceback of any error too.
====================  ===========================================================

Every command exits 0 on success, 1 on a :class:`~securindex.errors.SecurindexError`
(printed as ``file:line: field: message``, never with a traceback unless ``--debug``), 2 on
a usage error and 3 on an internal error (a bug: one line saying so, the traceback with
``--debug``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from securindex._output import check_target
from securindex.errors import OutputError, SpecError

if TYPE_CHECKING:
    from securindex.dataset import Panel
    from securindex.framework import Framework

__all__ = [
    "DEFAULT_OUTPUT",
    "DataArgument",
    "DictionaryOption",
    "FrameworkArgument",
    "OutputOption",
    "apply_conventions",
    "beside_dictionary",
    "configure",
    "console",
    "errors",
    "fail",
    "output_path",
    "read_panel",
    "settings",
]

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

DEFAULT_OUTPUT = Path("securindex-results")
"""Where a command writes when ``-o`` is not given."""

TABLE_SUFFIXES = (".csv", ".parquet", ".json")


class _Settings:
    """Process-wide settings of one command-line run (set by the ``securindex`` callback)."""

    debug = False


settings = _Settings()


def fail(exc: Exception) -> typer.Exit:
    """Print an error (every located issue of a SpecError; a missing optional extra
    arrives as an ImportError) and return exit status 1; with ``--debug``, its traceback
    first (call it inside the ``except`` block)."""
    if settings.debug and sys.exc_info()[0] is not None:
        errors.print_exception()
    if isinstance(exc, SpecError):
        for issue in exc.issues:
            errors.print(str(issue), markup=False, highlight=False)
        errors.print(f"{len(exc.issues)} problem(s) found.", style="bold red")
    else:
        errors.print(f"error: {exc}", markup=False, highlight=False)
    return typer.Exit(code=1)


def output_path(
    path: Path | None,
    *,
    files: tuple[str, ...] = (),
    folder: bool = True,
    default: Path = DEFAULT_OUTPUT,
) -> Path:
    """Check an ``-o`` path against the command's output rule before any work starts.

    Parameters
    ----------
    path
        What the user gave (None: ``default``).
    files
        File suffixes this command can write (``(".csv", ".parquet")``); empty when it
        writes only folders.
    folder
        Whether a folder (a path without a suffix) is accepted.
    default
        The path used when ``path`` is None.

    Raises
    ------
    OutputError
        The suffix is not one the command writes (``scores.xlsx``), or the path is an
        existing file where a folder is wanted (or the reverse).
    """
    target = default if path is None else path
    suffix = target.suffix.lower()
    kinds = [*files, *(["a folder (no suffix)"] if folder else [])]
    accepted = [", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds
    if suffix and suffix not in files:
        raise OutputError(
            f"unknown output type '{suffix}'; this command writes {' or '.join(accepted)}",
            path=target,
        )
    if not suffix and not folder:
        raise OutputError(f"give a file name ending in {' or '.join(files)}", path=target)
    if suffix and target.is_dir():
        raise OutputError("is an existing folder; give a file name", path=target)
    if not suffix and target.exists() and not target.is_dir():
        raise OutputError("is an existing file; give a folder", path=target)
    return check_target(target, kind="file" if suffix else "folder")  # under a file, read-only


# -- the shared options and arguments ----------------------------------------------------
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="file or folder to write (default: securindex-results/…)"),
]
DictionaryOption = Annotated[
    str | None,
    typer.Option(
        "--dictionary", "-d", help="data dictionary YAML or shipped name (default: beside the data)"
    ),
]
FrameworkArgument = Annotated[
    str, typer.Argument(help="framework YAML, or a shipped name (iusi, asem …)")
]
DataArgument = Annotated[
    str, typer.Argument(help="CSV or Parquet panel, or a shipped dataset (uci_communities …)")
]


# -- -q / -v and logging ------------------------------------------------------------------
_Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print errors only: no summaries, no progress.")
]
_Verbose = Annotated[
    int,
    typer.Option(
        "--verbose", "-v", count=True, help="Log what the library does (-v info, -vv debug)."
    ),
]


def configure(*, quiet: bool = False, verbose: int = 0) -> None:
    """Set the console's quietness and the ``securindex`` logger's level and handler."""
    console.quiet = quiet
    logger = logging.getLogger("securindex")
    for handler in [h for h in logger.handlers if getattr(h, "_securindex_cli", False)]:
        logger.removeHandler(handler)
    if verbose <= 0:
        logger.setLevel(logging.NOTSET)
        return
    from rich.logging import RichHandler

    handler = RichHandler(console=errors, show_path=False, markup=False)
    handler._securindex_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


def _with_conventions(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with the ``-q``/``-v`` options added (Typer reads the new signature)."""
    signature = inspect.signature(func, eval_str=True)
    if "quiet" in signature.parameters:
        return func

    @functools.wraps(func)
    def command(*args: Any, quiet: bool = False, verbose: int = 0, **kwargs: Any) -> Any:
        configure(quiet=quiet, verbose=verbose)
        return func(*args, **kwargs)

    added = [
        inspect.Parameter(
            "quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=_Quiet
        ),
        inspect.Parameter(
            "verbose", inspect.Parameter.KEYWORD_ONLY, default=0, annotation=_Verbose
        ),
    ]
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()]
    command.__signature__ = signature.replace(parameters=[*params, *added])  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in params},
        "quiet": _Quiet,
        "verbose": _Verbose,
    }
    return command


def apply_conventions(app: typer.Typer) -> None:
    """Give every command of ``app`` (and of its command groups) ``-q`` and ``-v``."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_conventions(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            apply_conventions(group.typer_instance)


# -- inputs: files or shipped names ------------------------------------------------------
def read_panel(
    data: str | Path, dictionary: str | Path | None = None, *, framework: Framework | None = None
) -> Panel:
    """The panel a command reads: a CSV/Parquet file, or a shipped dataset by name.

    The data dictionary is, in order: ``dictionary`` (a file or a shipped dictionary
    name), ``<stem>.dictionary.yaml`` or ``dictionary.yaml`` beside the data, then the
    framework's own ``dictionary:``.

    Raises
    ------
    DataError
        ``data`` is neither a file nor a shipped dataset.
    MissingExtraError
        A Parquet file without pyarrow.
    """
    from securindex._extras import require
    from securindex.dataset import Panel
    from securindex.datasets import EXAMPLES
    from securindex.errors import DataError
    from securindex.shipped import resolve

    path = Path(data)
    given = resolve("dictionary", dictionary) if dictionary is not None else None
    if not path.exists():
        if str(data) in EXAMPLES:
            if given is None:
                return Panel.example(str(data))
            from securindex.datasets import read_example_frame

            return Panel.from_frame(
                read_example_frame(str(data)), dictionary=given, source=str(data)
            )
        raise DataError(
            f"{data}: no such file, nor a shipped dataset (shipped: {', '.join(EXAMPLES)})"
        )
    if path.suffix.lower() == ".parquet":
        require("parquet", f"reading {path}")
    if given is None and beside_dictionary(path) is None and framework is not None:
        given = framework.dictionary_path
    return Panel.read(path, dictionary=given)


def beside_dictionary(data: str | Path) -> Path | None:
    """The data dictionary found beside a data file: ``<stem>.dictionary.yaml``, else
    ``dictionary.yaml`` in its folder (None: neither exists)."""
    path = Path(data)
    for candidate in (
        path.with_name(path.name.split(".")[0] + ".dictionary.yaml"),
        path.with_name("dictionary.yaml"),
    ):
        if candidate.is_file():
            return candidate
    return None
