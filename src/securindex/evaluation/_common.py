"""Shared pieces of :mod:`securindex.evaluation`: polarity, harm-weighted counts, result base.

Every evaluation result is a small frozen dataclass with the statistics that apply to it
(``estimate``, ``ci_low``, ``ci_high``, ``z``, ``p_value`` …), a ``notes`` tuple saying
what was done to the input on the way (zero cells corrected, periods rescaled …) and a
``summary()`` sentence for a city analyst. :class:`EvaluationResult` gives all of them the
same export verbs (``to_dict``, ``to_frame``, ``to_json``, ``to_csv``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from securindex.errors import DataError, SpecError

__all__ = [
    "COMMON_COLUMNS",
    "EvaluationResult",
    "Polarity",
    "WeightedCount",
    "harm_weighted_count",
]

Polarity = Literal["positive", "negative", "none"]
POLARITIES: tuple[str, ...] = ("positive", "negative", "none")

#: Columns every ``to_frame()`` starts with, in this order (NaN where a statistic does not apply).
COMMON_COLUMNS: tuple[str, ...] = ("measure", "estimate", "ci_low", "ci_high", "z", "p_value")


@dataclasses.dataclass(frozen=True)
class WeightedCount:
    """A count of crimes, possibly harm-weighted, with its Poisson variance.

    A plain count ``n`` is ``WeightedCount(n, n, n)``. A harm-weighted total over offence
    types ``k`` is ``value = Σ w_k n_k`` with ``variance = Σ w_k² n_k``: each offence count is
    Poisson, so its weighted sum has that variance (Wheeler 2019, the WDD with crime harm
    weights; Sherman, Neyroud & Neyroud 2016 on the Cambridge Crime Harm Index).

    Attributes
    ----------
    value
        Weighted total [harm units, e.g. days of imprisonment; count when unweighted].
    variance
        Poisson variance of ``value`` [harm units²].
    n_events
        Number of recorded events behind the total [count].
    """

    value: float
    variance: float
    n_events: float

    @property
    def is_plain(self) -> bool:
        """True when every weight is 1 (the value is a plain count)."""
        return bool(self.value == self.variance == self.n_events)


CountLike = float | int | WeightedCount


def harm_weighted_count(
    counts: Mapping[str, float] | pd.Series, weights: Mapping[str, float]
) -> WeightedCount:
    """Harm-weight counts per offence type into one total with its Poisson variance.

    Parameters
    ----------
    counts
        Count of recorded crimes per offence type [count].
    weights
        Harm weight per offence type [harm units per crime, e.g. days of imprisonment in
        the Cambridge Crime Harm Index]; every offence in ``counts`` needs one.

    Returns
    -------
    WeightedCount
        ``value = Σ w n``, ``variance = Σ w² n``, ``n_events = Σ n``.

    Raises
    ------
    DataError
        A negative or missing count, or an offence type without a weight.
    SpecError
        A negative weight.

    Examples
    --------
    >>> harm_weighted_count({"burglary": 10, "robbery": 2}, {"burglary": 1.0, "robbery": 5.0})
    WeightedCount(value=20.0, variance=60.0, n_events=12.0)
    """
    series = pd.Series(counts, dtype="float64")
    missing = sorted(str(k) for k in series.index if k not in weights)
    if missing:
        raise DataError(
            f"no harm weight for offence type(s) {missing}; give a weight for every offence "
            f"counted (weights given for {sorted(map(str, weights))})",
            column="harm_weights",
        )
    w = pd.Series({k: float(weights[k]) for k in series.index}, dtype="float64")
    if (w < 0).any():
        bad = sorted(str(k) for k in w.index[w < 0])
        raise SpecError(f"harm weights must be >= 0; negative for {bad}")
    values = series.to_numpy(dtype="float64")
    _check_counts(values, name="offence counts", labels=list(map(str, series.index)))
    wv = w.to_numpy(dtype="float64")
    return WeightedCount(
        float(np.sum(wv * values)), float(np.sum(wv**2 * values)), float(values.sum())
    )


def _check_counts(values: np.ndarray, *, name: str, labels: list[str] | None = None) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        where = [labels[i] for i in np.flatnonzero(bad)] if labels else []
        found = values[bad][:5].tolist()
        raise DataError(
            f"{name} must be finite and >= 0 (counts of crimes cannot be negative or missing); "
            f"found {found}",
            rows=where,
        )


def as_weighted(value: CountLike, name: str, description: str) -> WeightedCount:
    """Turn a number or a :class:`WeightedCount` into a checked :class:`WeightedCount`."""
    if isinstance(value, WeightedCount):
        parts = np.array([value.value, value.variance, value.n_events], dtype="float64")
        if not np.all(np.isfinite(parts)) or (parts < 0).any():
            raise DataError(
                f"{name} ({description}) must have a finite, non-negative value and variance; "
                f"got {value}"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(
            f"{name} ({description}) must be a number of crimes or a WeightedCount; "
            f"got {type(value).__name__} {value!r}"
        )
    x = float(value)
    if not math.isfinite(x) or x < 0:
        raise DataError(
            f"{name} ({description}) is {x}; a count of crimes must be finite and >= 0. "
            "Check the input: a negative count usually means a subtraction upstream."
        )
    return WeightedCount(x, x, x)


def check_polarity(polarity: str) -> str:
    if polarity not in POLARITIES:
        raise SpecError(
            f"polarity must be one of {list(POLARITIES)}; got {polarity!r}. 'negative' means "
            "a fall is progress (crime), 'positive' that a rise is (feeling of safety)."
        )
    return polarity


def check_confidence(confidence: float) -> float:
    if not 0.0 < float(confidence) < 1.0:
        raise SpecError(f"confidence must be strictly between 0 and 1; got {confidence!r}")
    return float(confidence)


def z_critical(confidence: float) -> float:
    """Two-sided normal critical value, e.g. 1.959964 for ``confidence=0.95``."""
    return float(stats.norm.ppf(0.5 + check_confidence(confidence) / 2.0))


def two_sided_p(z: float) -> float:
    return float(2.0 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan


def significance_phrase(p: float, confidence: float) -> str:
    if math.isnan(p):
        return "its statistical significance cannot be assessed"
    if p < 1.0 - confidence:
        return "larger than chance variation in the counts would explain"
    return "within what chance variation in the counts could produce"


def direction_word(desirable: bool | None) -> str:
    if desirable is None:
        return ""
    return ", in the desirable direction" if desirable else ", in the undesirable direction"


def desirable(change_sign: float, polarity: str) -> bool | None:
    """Is a change of this sign progress? For crime (negative polarity) a fall is."""
    if polarity == "none" or change_sign == 0 or math.isnan(change_sign):
        return None
    return (change_sign < 0) if polarity == "negative" else (change_sign > 0)


def crimes_phrase(prevented: float, digits: int = 1, *, what: str = "crimes") -> str:
    """``"15.8 crimes fewer than expected"`` / ``"12.0 crimes more than expected"``.

    Never a negative number of crimes "added" or "prevented" (no double negatives).
    """
    if math.isnan(prevented):
        return f"the number of {what} prevented cannot be computed"
    if prevented >= 0:
        return f"{fmt(prevented, digits)} {what} fewer than expected (prevented)"
    return f"{fmt(-prevented, digits)} {what} more than expected"


def fmt(x: float, digits: int = 2) -> str:
    """Format a number for a sentence: NaN as 'n/a', large numbers without decimals."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "infinity" if x > 0 else "-infinity"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) else (str(v) if math.isinf(v) else v)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records"))
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, EvaluationResult):
            return value.to_dict()
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool, np.floating, np.integer))


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Base of every evaluation result: export verbs shared by all.

    Subclasses are frozen dataclasses; ``measure`` names the statistic in tidy tables.
    Fields named in ``_internal`` (e.g. a fitted statsmodels object) are left out of
    exports.
    """

    measure: ClassVar[str] = "result"
    _internal: ClassVar[tuple[str, ...]] = ()

    def summary(self) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict of every exported field (JSON-ready), with the summary."""
        out: dict[str, Any] = {"measure": self.measure}
        for f in dataclasses.fields(self):
            if f.name in self._internal:
                continue
            out[f.name] = _jsonable(getattr(self, f.name))
        out["summary"] = self.summary()
        return out

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: the common columns first, then this result's scalar fields."""
        row: dict[str, Any] = dict.fromkeys(COMMON_COLUMNS, math.nan)
        row["measure"] = self.measure
        for f in dataclasses.fields(self):
            if f.name in self._internal:
                continue
            value = getattr(self, f.name)
            if _is_scalar(value):
                row[f.name] = value
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                row[f.name] = "; ".join(value)
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                # one level of nesting (an SMS level, a pre-trend test): prefixed scalar fields
                for sub in dataclasses.fields(value):
                    inner = getattr(value, sub.name)
                    if _is_scalar(inner) and sub.name not in getattr(value, "_internal", ()):
                        row[f"{f.name}_{sub.name}"] = inner
        return pd.DataFrame([row])

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_frame` as CSV."""
        self.to_frame().to_csv(path, index=False)
