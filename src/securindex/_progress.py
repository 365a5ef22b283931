"""One progress bar for every step that can take seconds (replicates, Sobol designs, report
charts, Dask partitions, incident files).

Library functions take ``progress: bool`` (default False) and wrap their loop in
:func:`progress`; the command line passes ``progress=True`` unless ``-q`` was given. The bar
goes to standard error, disappears when done, and is not drawn at all when standard error
is not a terminal (so logs and captured output stay clean).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["progress", "steps"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def progress(
    items: Iterable[T], description: str, *, total: int | None = None, show: bool = True
) -> Iterator[T]:
    """Yield ``items``, advancing a transient progress bar labelled ``description``."""
    if not show:
        yield from items
        return
    stderr = _stderr()
    if not stderr.is_terminal:
        yield from items
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def _stderr() -> Any:
    """The console the bars are drawn on: standard error."""
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def steps(description: str, total: int, *, show: bool = True) -> Iterator[Callable[[str], None]]:
    """A bar over ``total`` named steps of one computation (a Dask build's passes).

    Yields ``step(label)``: call it as each step starts; the bar shows the label and the
    steps done. Each step is also logged (``securindex`` logger, INFO), shown or not.
    """
    done = [0]
    stderr = _stderr() if show else None
    if stderr is None or not stderr.is_terminal:

        def log_only(label: str) -> None:
            done[0] += 1
            logger.info("%s: step %d of %d: %s", description, done[0], total, label)

        yield log_only
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn(f"{description}: {{task.fields[label]}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total, label="starting")

        def advance(label: str) -> None:
            if done[0]:
                bar.advance(task)
            done[0] += 1
            logger.info("%s: step %d of %d: %s", description, done[0], total, label)
            bar.update(task, label=label)
            bar.refresh()

        yield advance
        bar.update(task, completed=total)
