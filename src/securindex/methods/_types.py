"""Small types shared by the method registries (array aliases and result records).

The method families (impute, treat, normalise, weight, aggregate) exchange plain numpy
arrays. These aliases name their dtype once, and the frozen result dataclasses below are
what the data-processing methods return, so the pipeline can keep every stage and what
was learnt along the way (OECD/JRC Handbook 2008, step 4–6: every imputation, treatment
and normalisation choice must be recorded and reported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from securindex.errors import DataError, SpecError

__all__ = [
    "BoolArray",
    "FloatArray",
    "Imputed",
    "IntArray",
    "Normalised",
    "Treated",
    "as_matrix",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_per_column",
    "param_error",
    "reject_unknown",
]

FloatArray = npt.NDArray[np.float64]
"""A float64 array; NaN marks a missing value."""

IntArray = npt.NDArray[np.int64]
"""An integer array (codes of entities, periods or groups; directions ±1)."""

BoolArray = npt.NDArray[np.bool_]
"""A boolean mask, of the same shape as the values it describes."""


@dataclass(frozen=True)
class Imputed:
    """The result of an imputation method.

    Attributes
    ----------
    values : FloatArray, shape (n_rows, n_indicators)
        The data with gaps filled where the method could [same unit as the input].
        Cells that the method could not fill stay NaN.
    imputed : BoolArray, shape (n_rows, n_indicators)
        True where a missing cell received a value.
    """

    values: FloatArray
    imputed: BoolArray

    @property
    def n_imputed(self) -> int:
        """Number of cells filled [count]."""
        return int(self.imputed.sum())

    @property
    def n_missing(self) -> int:
        """Number of cells still missing after imputation [count]."""
        return int(np.isnan(self.values).sum())


@dataclass(frozen=True)
class Treated:
    """The result of an outlier-treatment method.

    Attributes
    ----------
    values : FloatArray, shape (n_rows, n_indicators)
        Treated data. Winsorised columns keep their unit; transformed columns are in the
        transform's unit (e.g. log of the original unit).
    winsorised : BoolArray, shape (n_rows, n_indicators)
        True where a cell was changed by winsorisation.
    transformed : dict[int, str]
        Column index → name of the transform applied to the whole column (``"log_CT"``,
        ``"boxcox"`` …). Columns absent from the dict were not transformed.
    report : list[dict[str, Any]]
        One record per column with the same keys for every treat method: ``column`` (index),
        ``skew_before``/``kurt_before``/``pass_before`` (the outlier rule on the input),
        ``n_winsorised`` [count], ``winsorised_low``/``winsorised_high`` (the floor and cap
        the tails were moved to, NaN when untouched), ``transform`` (``"none"`` if none),
        ``shift`` and ``lambda`` (the transform's parameters, NaN when not applicable) and
        ``skew_after``/``kurt_after``/``pass_after``. ``pandas.DataFrame(report)`` turns
        it into a table.
    """

    values: FloatArray
    winsorised: BoolArray
    transformed: dict[int, str] = field(default_factory=dict)
    report: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Normalised:
    """The result of a normalisation method.

    Attributes
    ----------
    values : FloatArray, shape (n_rows, n_indicators)
        Normalised scores, oriented so that a higher score is always better
        [unit of the method, e.g. score 0–100].
    learnt : dict[str, FloatArray]
        The per-column statistics learnt from the reference sample (e.g. ``min``,
        ``max``), in the indicators' own units, each with last axis n_indicators (most are
        of shape (n_indicators,); rank methods keep the sorted reference values, shape
        (n_reference_rows, n_indicators)). Passing them back as ``learnt=`` applies the
        same transformation to other data (time-comparable scores, chunked runs).
    flags : dict[str, BoolArray]
        Per-column flags raised while learning (e.g. ``constant``: the column had no
        spread in the reference sample), each of shape (n_indicators,).
    """

    values: FloatArray
    learnt: dict[str, FloatArray] = field(default_factory=dict)
    flags: dict[str, BoolArray] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Parameter and input checks shared by the method families
#
# Methods are called by registry name with keyword parameters read from YAML, so every
# parameter is a plain value (float, int, bool, str, list) and every check produces the
# same message shape: "The 'winmax' parameter of treat method 'winsorise' must be an
# int >= 0; got -1".
# --------------------------------------------------------------------------------------


def param_error(family: str, method: str, name: str, expected: str, value: object) -> SpecError:
    """A :class:`SpecError` saying that parameter ``name`` is not ``expected``."""
    return SpecError(
        f"The '{name}' parameter of {family} method '{method}' must be {expected}; got {value!r}"
    )


def check_int(
    value: object,
    name: str,
    family: str,
    method: str,
    *,
    minimum: int | None = None,
) -> int:
    """``value`` as an int (not a bool), at least ``minimum`` when given."""
    expected = "an int" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise param_error(family, method, name, expected, value)
    if minimum is not None and value < minimum:
        raise param_error(family, method, name, expected, value)
    return int(value)


def check_float(
    value: object,
    name: str,
    family: str,
    method: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
) -> float:
    """``value`` as a finite float, ``> minimum`` (strict) or ``>= minimum`` when given."""
    expected = "a finite number"
    if minimum is not None:
        expected += f" {'>' if strict else '>='} {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise param_error(family, method, name, expected, value)
    out = float(value)
    if not np.isfinite(out):
        raise param_error(family, method, name, expected, value)
    if minimum is not None and (out <= minimum if strict else out < minimum):
        raise param_error(family, method, name, expected, value)
    return out


def check_bool(value: object, name: str, family: str, method: str) -> bool:
    """``value`` as a bool (``true``/``false`` in YAML; 0/1 are refused as ambiguous)."""
    if not isinstance(value, (bool, np.bool_)):
        raise param_error(family, method, name, "true or false", value)
    return bool(value)


def check_choice(value: object, choices: Sequence[str], name: str, family: str, method: str) -> str:
    """``value`` as one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        expected = "one of " + ", ".join(repr(c) for c in choices)
        raise param_error(family, method, name, expected, value)
    return value


def check_per_column(
    value: object, n_indicators: int, name: str, family: str, method: str
) -> FloatArray:
    """A number, or a list with one finite number per indicator, as shape (n_indicators,).

    A scalar applies to every indicator; a list must have exactly ``n_indicators``
    entries, in the order of the columns.
    """
    expected = f"a number or a list of {n_indicators} finite numbers (one per indicator)"
    if isinstance(value, (bool, str, bytes, Mapping)):
        raise param_error(family, method, name, expected, value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise param_error(family, method, name, expected, value) from None
    if arr.ndim == 0:
        arr = np.full(n_indicators, float(arr))
    if arr.shape != (n_indicators,) or not np.all(np.isfinite(arr)):
        raise param_error(family, method, name, expected, value)
    return arr


def reject_unknown(
    params: Mapping[str, object], family: str, method: str, allowed: Sequence[str]
) -> None:
    """Raise a :class:`SpecError` naming parameters that ``method`` does not accept."""
    if params:
        unknown = ", ".join(repr(k) for k in sorted(params))
        accepted = ", ".join(repr(a) for a in allowed) or "none"
        raise SpecError(
            f"{family} method '{method}' got unknown parameter(s) {unknown}; it accepts {accepted}"
        )


def as_matrix(X: object, family: str, method: str, *, allow_inf: bool = False) -> FloatArray:
    """``X`` as a 2-D float64 array (rows × indicators), without copying when possible.

    Raises a :class:`DataError` for other shapes or (unless ``allow_inf``) for infinite
    values, naming the offending column indices.
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(
            f"{family} method '{method}' needs a 2-D matrix (rows × indicators); "
            f"got an array of shape {arr.shape}"
        )
    if not allow_inf:
        bad = np.flatnonzero(np.isinf(arr).any(axis=0))
        if bad.size:
            raise DataError(
                f"{family} method '{method}': column(s) {bad.tolist()} hold infinite values; "
                "an indicator must be finite or NaN (check divisions by zero in its formula)"
            )
    return arr
