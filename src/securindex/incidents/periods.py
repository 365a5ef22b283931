"""Periods of incident panels: integer codes on ``datetime64`` and their labels.

Codes count periods since 1970: years, quarters, months, or Monday-based weeks (the week
holding 1970-01-01 starts on Monday 1969-12-29, so week = (days + 3) // 7).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from securindex.errors import SpecError

__all__ = ["GRAINS", "Grain", "parse_period", "period_codes", "period_labels"]

GRAINS = ("year", "quarter", "month", "week")
"""Period grains: calendar year, quarter, month, and ISO week (Monday to Sunday)."""

Grain = Literal["year", "quarter", "month", "week"]


def period_codes(dates: np.ndarray, grain: str) -> np.ndarray:
    """Integer period code of each date [periods since 1970], vectorised.

    Parameters
    ----------
    dates : numpy datetime64 array, shape (n,)
        Dates without NaT.
    grain : {"year", "quarter", "month", "week"}

    Examples
    --------
    >>> d = np.array(["1970-01-01", "1971-04-30"], dtype="datetime64[D]")
    >>> period_codes(d, "month").tolist(), period_codes(d, "quarter").tolist()
    ([0, 15], [0, 5])
    """
    if grain == "year":
        return dates.astype("datetime64[Y]").astype(np.int64)
    if grain == "month":
        return dates.astype("datetime64[M]").astype(np.int64)
    if grain == "quarter":
        return dates.astype("datetime64[M]").astype(np.int64) // 3
    if grain == "week":
        return (dates.astype("datetime64[D]").astype(np.int64) + 3) // 7
    raise SpecError(f"unknown period grain {grain!r}; choose one of {list(GRAINS)}")


def period_labels(codes: np.ndarray | Sequence[int], grain: str) -> list[Any]:
    """Labels of period codes: ``2019`` (int), ``"2019Q1"``, ``"2019-01"``, ``"2019-W01"``.

    Labels sort in time order (as integers for years, as text otherwise).

    Examples
    --------
    >>> period_labels([0, 15], "month"), period_labels([49], "year")
    (['1970-01', '1971-04'], [2019])
    """
    codes = np.asarray(codes, dtype=np.int64)
    if grain == "year":
        return [int(c) for c in 1970 + codes]
    if grain == "quarter":
        return [f"{1970 + c // 4}Q{c % 4 + 1}" for c in codes.tolist()]
    if grain == "month":
        return [f"{1970 + c // 12}-{c % 12 + 1:02d}" for c in codes.tolist()]
    if grain == "week":
        mondays = pd.DatetimeIndex(np.datetime64("1969-12-29") + 7 * codes.astype("timedelta64[D]"))
        iso = mondays.isocalendar()
        return [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"], strict=True)]
    raise SpecError(f"unknown period grain {grain!r}; choose one of {list(GRAINS)}")


_LABEL_PATTERNS = {
    "year": re.compile(r"^(\d{4})$"),
    "quarter": re.compile(r"^(\d{4})-?Q([1-4])$"),
    "month": re.compile(r"^(\d{4})-(\d{1,2})$"),
    "week": re.compile(r"^(\d{4})-?W(\d{1,2})$"),
}


def parse_period(value: str | int, grain: str) -> int:
    """The code of a period label of ``grain``, or of the period holding an ISO date.

    Raises
    ------
    ValueError
        If ``value`` is neither (a ``ValueError`` so that pydantic locates it in YAML).
    """
    text = str(value).strip()
    match = _LABEL_PATTERNS[grain].match(text)
    if match:
        year = int(match.group(1))
        if grain == "year":
            return year - 1970
        part = int(match.group(2))
        if grain == "quarter":
            return (year - 1970) * 4 + part - 1
        if grain == "month" and 1 <= part <= 12:
            return (year - 1970) * 12 + part - 1
        if grain == "week":
            try:
                monday = _dt.date.fromisocalendar(year, part, 1)
            except ValueError:
                raise ValueError(f"{text!r} is not an ISO week") from None
            return int(period_codes(np.array([monday], dtype="datetime64[D]"), "week")[0])
    try:
        date = np.array([pd.Timestamp(text).to_datetime64()])
    except (ValueError, TypeError):
        examples = {"year": "2015", "quarter": "2015Q1", "month": "2015-01", "week": "2015-W01"}
        raise ValueError(
            f"period {text!r} is not a {grain} label (e.g. {examples[grain]}) nor an ISO date"
        ) from None
    return int(period_codes(date, grain)[0])
