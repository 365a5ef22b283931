"""The replicate budget of Monte-Carlo runs: an estimate before the run, a limit on it.

A run of :func:`~securindex.analysis.uncertainty.run_uncertainty` or
:func:`~securindex.analysis.sensitivity.run_sensitivity` costs time and memory in proportion
to its replicates; ``n_replicates=10**9`` would run for days and keep tens of gigabytes of
per-replicate rows. Above :data:`MAX_REPLICATES` a run is refused, with its estimated time
and memory, unless the caller raises the limit (``max_replicates=``, CLI
``--max-replicates``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from securindex.errors import SpecError

__all__ = ["MAX_REPLICATES", "RunEstimate", "check_replicates", "estimate_run"]

MAX_REPLICATES = 100_000
"""Most replicates (model evaluations) a run makes unless the caller raises the limit."""

_PILOT = 16  # replicates timed for the estimate


@dataclass(frozen=True)
class RunEstimate:
    """What a Monte-Carlo run is expected to cost.

    Attributes
    ----------
    n_replicates
        Model evaluations [count].
    seconds
        Estimated run time, from timing a few replicates on this machine [s].
    memory_bytes
        Estimated memory kept by the result (per-replicate rows and, when kept, every
        replicate's scores and ranks) [bytes].
    """

    n_replicates: int
    seconds: float
    memory_bytes: float

    def __str__(self) -> str:
        return (
            f"{self.n_replicates:,} replicates: about {_duration(self.seconds)} and "
            f"{_size(self.memory_bytes)}"
        )


def estimate_run(
    pilot: Callable[[int], object], n_replicates: int, *, bytes_per_replicate: float
) -> RunEstimate:
    """Time ``pilot(k)`` (which evaluates ``k`` replicates) and scale to ``n_replicates``.

    Parameters
    ----------
    pilot
        Evaluates a given number of replicates (its result is discarded).
    n_replicates
        Replicates of the planned run [count].
    bytes_per_replicate
        Memory the run keeps per replicate [bytes].
    """
    k = max(1, min(_PILOT, n_replicates))
    pilot(1)  # untimed: first calls pay one-off costs (imports, caches) a run pays once
    started = time.perf_counter()
    pilot(k)
    per_replicate = (time.perf_counter() - started) / k
    return RunEstimate(
        int(n_replicates), per_replicate * n_replicates, n_replicates * bytes_per_replicate
    )


def check_replicates(
    n_replicates: int,
    max_replicates: int | None,
    pilot: Callable[[int], object],
    *,
    bytes_per_replicate: float,
    what: str = "n_replicates",
    option: str = "--max-replicates",
) -> None:
    """Refuse a run of more than ``max_replicates`` replicates, with its estimate.

    Raises
    ------
    SpecError
        When ``n_replicates`` is above ``max_replicates`` (``None``: no limit); the message
        gives the estimated time and memory and how to raise the limit.
    """
    if max_replicates is None or n_replicates <= max_replicates:
        return
    estimate = estimate_run(pilot, n_replicates, bytes_per_replicate=bytes_per_replicate)
    raise SpecError(
        f"{what} = {n_replicates:,} is above the limit of {max_replicates:,} replicates "
        f"(estimated {estimate}); lower it, or raise the limit with "
        f"max_replicates={n_replicates} (CLI: {option} {n_replicates}) to run it"
    )


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "forever"
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _size(n_bytes: float) -> str:
    for unit, size in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes / 1024:.0f} KiB"
