"""Dask itself: the lazy import, the client or scheduler, reductions, shared graph keys."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from securindex.errors import DataError

DASK_HINT = "pip install 'securindex[dask]'"


def import_dask() -> Any:
    """Import dask lazily: it is an optional extra."""
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:
        raise ImportError(
            f"the Dask engine needs dask[dataframe] and distributed: {DASK_HINT} ({exc})"
        ) from None
    return dask


@contextlib.contextmanager
def on_cluster(client: Any, scheduler: str | None) -> Iterator[Any]:
    """Run the enclosed computations on ``client``, or on a new Client(``scheduler``)."""
    dask = import_dask()
    if client is None and scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ImportError(
                f"connecting to a scheduler needs distributed: {DASK_HINT} ({exc})"
            ) from None
        with Client(scheduler) as created, dask.config.set(scheduler=created):
            yield created
        return
    if client is not None:
        with dask.config.set(scheduler=client):
            yield client
        return
    yield _current_client()


def worker_count(client: Any) -> int:
    """Workers of the cluster (cores of this machine for dask's local threads)."""
    if client is not None:
        try:
            return max(1, len(client.scheduler_info()["workers"]))
        except Exception:
            return 2
    import os

    return os.cpu_count() or 2


def _current_client() -> Any:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def tree_reduce(parts: Sequence[Any], combine: Any, split_every: int = 8) -> Any:
    """Combine delayed partial results in a tree (the combine step of a group-by)."""
    from dask import delayed

    level = list(parts)
    if not level:
        raise DataError("the data have no partitions")
    while len(level) > 1:
        level = [
            delayed(combine)(level[i : i + split_every]) for i in range(0, len(level), split_every)
        ]
    return level[0]


def compute_all(*collections: Any) -> Any:
    dask = import_dask()
    return dask.compute(*collections)


def shared_key(value: Any) -> Any:
    """One graph key for an object every task reads (a plan, sorted references)."""
    from dask import delayed

    return delayed(value, pure=False, name=f"securindex-shared-{uuid.uuid4().hex}")
