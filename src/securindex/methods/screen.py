"""Screening: which (entity, period) rows have enough data to be scored at all.

A composite score built from a handful of present indicators says little; the OECD/JRC
Handbook (2008, step 3) and COINr's ``Screen`` drop units whose data availability (share of
indicators present) falls below a threshold, and report them.
"""

from __future__ import annotations

import numpy as np

from securindex.errors import SpecError
from securindex.methods._registry import Registry
from securindex.methods._types import BoolArray, FloatArray

__all__ = ["screeners"]

screeners: Registry = Registry("screen")


@screeners.register("none")
def keep_all(x: FloatArray, /) -> BoolArray:
    """Keep every row."""
    return np.ones(x.shape[0], dtype=bool)


@screeners.register("availability", reference="OECD/JRC Handbook (2008), step 3; COINr Screen()")
def availability(x: FloatArray, /, *, min_share: float = 0.9) -> BoolArray:
    """Keep rows whose share of present indicators is at least ``min_share`` [unitless].

    With COINr's ``dat_thresh``: a unit is kept when ``n_present / n_indicators >=
    min_share``.
    """
    if not 0.0 <= float(min_share) <= 1.0:
        raise SpecError(
            f"The 'min_share' parameter of screen method 'availability' must be in [0, 1]; "
            f"got {min_share}"
        )
    if x.shape[1] == 0:
        return np.ones(x.shape[0], dtype=bool)
    share = np.mean(~np.isnan(x), axis=1)
    return np.asarray(share >= float(min_share) - 1e-12)
