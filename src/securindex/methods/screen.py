"""Screening: which (entity, period) rows have enough data to be scored at all.

A composite score built from a handful of present indicators says little about a unit; the
OECD/JRC Handbook (2008, step 3) and COINr's ``Screen`` drop units whose data availability
(the share of indicators present) falls below a threshold. The pipeline records every row a
screener drops in the audit, with its availability.

Every screener has the signature ``f(X, /, **params) -> BoolArray``: ``X`` is the
(n_rows, n_indicators) indicator matrix (NaN = missing), the result has shape (n_rows,)
and is True for the rows to keep. ``X`` is never modified.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, step 3 (imputation of missing data). OECD Publishing.
   doi:10.1787/9789264043466-en
.. [2] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. and Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open Source
   Software*, 7(78), 4567. doi:10.21105/joss.04567 (``Screen``, ``get_data_avail``)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from securindex.errors import SpecError
from securindex.methods._registry import Protocol, Registry
from securindex.methods._types import BoolArray, FloatArray, as_matrix, check_float

__all__ = ["Screener", "availability", "keep_all", "register_screener", "screeners"]

Screener = Callable[..., BoolArray]

screeners: Registry[Screener] = Registry("screen", Protocol(fields=frozenset()))
"""The screening registry: method name → screener function."""

register_screener = screeners.register
"""Decorator adding a user screener (same signature as the built-ins)."""

_REFERENCE = (
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators, step 3. "
    "doi:10.1787/9789264043466-en; Becker et al. (2022), COINr Screen(). "
    "doi:10.21105/joss.04567"
)


@screeners.register("none", reference=_REFERENCE)
def keep_all(X: FloatArray, /) -> BoolArray:
    """Keep every row.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.

    Returns
    -------
    BoolArray, shape (n_rows,)
        All True.

    Examples
    --------
    >>> keep_all(np.array([[np.nan, 1.0]])).tolist()
    [True]
    """
    return np.ones(np.shape(X)[0], dtype=bool)


@screeners.register("availability", reference=_REFERENCE)
def availability(
    X: FloatArray, /, *, min_share: float = 0.9, max_zero_share: float | None = None
) -> BoolArray:
    """Keep rows whose share of present indicators is at least ``min_share``.

    Parameters
    ----------
    X : FloatArray, shape (n_rows, n_indicators)
        Indicator values [indicator units]; NaN is missing.
    min_share : float, default 0.9
        Smallest share of indicators a row must have [fraction, 0–1] (COINr's
        ``dat_thresh``; its ``build_example_coin`` uses 0.9).
    max_zero_share : float, optional
        Also drop rows where more than this share of the indicators is exactly 0
        [fraction, 0–1] (COINr's ``unit_screen = "byNAandZeros"`` with ``Z_thresh``): a row
        of zeros often means "not reported" rather than "none".

    Returns
    -------
    BoolArray, shape (n_rows,)
        True for the rows to keep.

    Raises
    ------
    SpecError
        If a share is not a number in [0, 1].

    Notes
    -----
    A row is kept when :math:`n_{present} / n_{indicators} \\ge` ``min_share`` (up to a
    rounding tolerance of 1e-12, so 9 of 10 passes 0.9) and, with ``max_zero_share``, when
    :math:`n_{zero} / n_{indicators} \\le` ``max_zero_share``.

    References
    ----------
    .. [1] OECD/JRC (2008), Handbook, Part I, step 3. doi:10.1787/9789264043466-en
    .. [2] Becker et al. (2022), COINr, ``Screen``. doi:10.21105/joss.04567

    Examples
    --------
    >>> X = np.array([[1.0, 2.0, np.nan, 4.0], [1.0, np.nan, np.nan, 4.0]])
    >>> availability(X, min_share=0.75).tolist()
    [True, False]
    """
    share_min = check_float(min_share, "min_share", "screen", "availability", minimum=0)
    if share_min > 1:
        raise SpecError(
            f"The 'min_share' parameter of screen method 'availability' must be in [0, 1]; "
            f"got {min_share!r}"
        )
    zero_max: float | None = None
    if max_zero_share is not None:
        zero_max = check_float(
            max_zero_share, "max_zero_share", "screen", "availability", minimum=0
        )
        if zero_max > 1:
            raise SpecError(
                "The 'max_zero_share' parameter of screen method 'availability' must be in "
                f"[0, 1]; got {max_zero_share!r}"
            )
    X = as_matrix(X, "screen", "availability", allow_inf=True)
    if X.shape[1] == 0:
        return np.ones(X.shape[0], dtype=bool)
    share = np.count_nonzero(~np.isnan(X), axis=1) / X.shape[1]
    keep: BoolArray = share >= share_min - 1e-12
    if zero_max is not None:
        zeros = np.count_nonzero(X == 0, axis=1) / X.shape[1]
        keep &= zeros <= zero_max + 1e-12
    return keep
