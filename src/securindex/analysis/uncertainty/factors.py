"""Factors: blocks of coordinates of the unit hypercube, decoded into levels and values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import ndtri, pdtr

from securindex.analysis.uncertainty.spec import InputNoise
from securindex.methods._types import FloatArray
from securindex.spec.framework import Step

Seed = int | np.random.Generator | None
# u is mapped through quantile functions; keep it off 0 and 1, where they are infinite.
U_EPS = 1e-12


@dataclass(frozen=True)
class Factor:
    """One uncertain input: ``n_dims`` coordinates of the unit hypercube."""

    name: str
    kind: Literal["choice", "weights", "weight_set", "exclude", "inputs"]
    n_dims: int
    path: tuple[str | int, ...]
    description: str
    labels: tuple[str, ...] = ()
    # choice factors: which step they change
    family: str = ""
    alternatives: tuple[Any, ...] = ()
    parameter: str = ""
    # weight factors: the nodes and their positions in the factor
    nodes: tuple[str, ...] = ()
    # exclusion: the candidate indicators, None = keep all
    candidates: tuple[str | None, ...] = ()
    # inputs: the noise model and the indicator columns
    noise: InputNoise | None = None
    columns: tuple[int, ...] = ()


def step_label(step: Step) -> str:
    params = step.params
    if not params:
        return step.method
    inner = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{step.method}({inner})"


def choose_level(u: FloatArray, n_levels: int) -> np.ndarray:
    """The level (0 … n_levels-1) of a discrete factor for each coordinate in [0, 1)."""
    return np.minimum((np.asarray(u) * n_levels).astype(np.int64), n_levels - 1)


def as_generator(seed: Seed) -> np.random.Generator:
    """The one way randomness enters: an int, a Generator, or None (fresh entropy)."""
    return np.random.default_rng(seed)


def poisson_quantile(u: FloatArray, lam: FloatArray) -> FloatArray:
    """Smallest k with P(K <= k) >= u for K ~ Poisson(lam), vectorised.

    Starts from the Cornish–Fisher approximation and steps to the exact quantile with the
    regularised incomplete gamma function (``scipy.special.pdtr``), usually in one or two
    steps; ``scipy.stats.poisson.ppf`` gives the same values, ten times slower.
    """
    lam = np.asarray(lam, dtype=np.float64)
    z = ndtri(np.clip(u, U_EPS, 1 - U_EPS))
    k = np.floor(lam + np.sqrt(lam) * z + (z * z - 1.0) / 6.0 + 0.5)
    k = np.maximum(k, 0.0)
    for _ in range(200):  # converges in a few steps; the bound only guards the loop
        up = pdtr(k, lam) < u
        down = (k > 0) & (pdtr(k - 1.0, lam) >= u)
        if not (up.any() or down.any()):
            break
        k = k + up - down
    return np.where(lam > 0, k, 0.0)
