"""One progress bar for every step that can take seconds (replicates, Sobol designs, report
charts, Dask partitions, incident files).

Library functions take ``progress: bool`` (default False) and wrap their loop in
:func:`progress`; the command line passes ``progress=True`` unless ``-q`` was given. The bar
goes to standard error, disappears when done, and is not drawn at all when standard error
is not a terminal (so logs and captured output stay clean).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress"]

T = TypeVar("T")


def progress(
    items: Iterable[T], description: str, *, total: int | None = None, show: bool = True
) -> Iterator[T]:
    """Yield ``items``, advancing a transient progress bar labelled ``description``."""
    if not show:
        yield from items
        return
    from rich.console import Console

    stderr = Console(stderr=True)
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
