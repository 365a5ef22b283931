"""Monitoring: change from a baseline, growth rates, and progress towards targets.

Every function respects polarity: for a ``negative`` indicator (crime rates) a fall is
progress, for a ``positive`` one (feeling safe) a rise is, and ``none`` reports changes
without calling them good or bad.

* :func:`change_from_baseline` — absolute and relative change and compound annual growth
  against a baseline period (or the mean of several), a reference entity or group (peer
  cities, the national value) or an external benchmark; tidy in, tidy out.
* :func:`percent_of_target` — percent of a target achieved, the linear trajectory and an
  on-track / off-track / moving-away status; :func:`progress_to_target` does the same for
  every entity and period of a panel.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and User
   Guide*. OECD Publishing, Step 5 (normalisation; comparisons over time).
   doi:10.1787/9789264043466-en
.. [2] Eurostat (2023). *Sustainable development in the European Union — Monitoring report
   on progress towards the SDGs in an EU context*, Introduction: assessment of indicators
   with quantitative targets (ratio of actual to required compound annual growth).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError
from securindex.evaluation._common import (
    EvaluationResult,
    Polarity,
    check_polarity,
    fmt,
)
from securindex.evaluation.spec import (
    BenchmarkBaseline,
    PeriodBaseline,
    ReferenceBaseline,
    TargetSpec,
)

__all__ = [
    "TargetProgress",
    "change_from_baseline",
    "compound_annual_growth_rate",
    "percent_of_target",
    "progress_to_target",
    "progress_to_targets",
    "target_trajectory",
]

Method = Literal["linear", "eurostat"]
_SIGN = {"positive": 1.0, "negative": -1.0, "none": 0.0}
EUROSTAT_CATEGORIES = (
    "significant progress",
    "moderate progress",
    "insufficient progress",
    "movement away",
)


# --------------------------------------------------------------------------------------
# growth
# --------------------------------------------------------------------------------------


def compound_annual_growth_rate(
    start: float | np.ndarray, end: float | np.ndarray, years: float | np.ndarray
) -> Any:
    """Compound annual growth rate ``(end/start)^(1/years) − 1``.

    Parameters
    ----------
    start, end
        Values at the start and end [any unit, > 0 at the start, >= 0 at the end].
    years
        Time between them [years, > 0] (any period unit gives a rate per that unit).

    Returns
    -------
    float or numpy.ndarray
        Growth rate per year [fraction per year; × 100 for %].

    Raises
    ------
    DataError
        A non-positive start value, a negative end value or a non-positive duration: the
        CAGR is undefined there (use the absolute change instead).

    Examples
    --------
    >>> round(compound_annual_growth_rate(100.0, 121.0, 2), 10)
    0.1
    """
    s = np.asarray(start, dtype="float64")
    e = np.asarray(end, dtype="float64")
    y = np.asarray(years, dtype="float64")
    if (s <= 0).any() or (e < 0).any() or ~np.isfinite(s).all() or ~np.isfinite(e).all():
        raise DataError(
            "the compound annual growth rate needs a positive start value and a non-negative "
            f"end value; got start={s.tolist()}, end={e.tolist()}. Use the absolute change for "
            "indicators that can be zero or negative"
        )
    if (y <= 0).any() or ~np.isfinite(y).all():
        raise DataError(f"the growth period must be > 0 years; got {y.tolist()}")
    out = (e / s) ** (1.0 / y) - 1.0
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------
# baselines
# --------------------------------------------------------------------------------------


def _require_columns(frame: pd.DataFrame, columns: list[str], caller: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{caller}: missing column(s) {missing}; the frame has {list(frame.columns)}. "
            "Name the columns with entity=, period=, value=, indicator="
        )


def _polarity_per_row(
    frame: pd.DataFrame, polarity: Polarity | Mapping[str, Polarity], indicator: str | None
) -> np.ndarray:
    if isinstance(polarity, str):
        return np.full(len(frame), _SIGN[check_polarity(polarity)])
    if indicator is None:
        raise SpecError("a polarity per indicator needs the indicator column (indicator=...)")
    for p in polarity.values():
        check_polarity(p)
    ind = frame[indicator].astype(str)
    missing = sorted(set(ind.unique()) - set(map(str, polarity)))
    if missing:
        raise DataError(f"no polarity given for indicator(s) {missing}", column=indicator)
    return ind.map({str(k): _SIGN[v] for k, v in polarity.items()}).to_numpy(dtype="float64")


def _same_label(column: pd.Series, wanted: list[Any]) -> pd.Series:
    """Rows whose label is in ``wanted``, comparing as text (YAML 2015 vs data 2015.0)."""
    as_text = {str(w) for w in wanted}
    hit = column.isin(wanted)
    if pd.api.types.is_float_dtype(column):
        whole = column.where(column != column.round(), column.round().astype("Int64").astype(str))
        return hit | whole.astype(str).isin(as_text)
    return hit | column.astype(str).isin(as_text)


def _period_baseline(
    frame: pd.DataFrame, spec: PeriodBaseline, keys: list[str], period: str, value: str
) -> tuple[pd.DataFrame, list[str], float | None]:
    in_base = _same_label(frame[period], list(spec.periods))
    if not in_base.any():
        shown = sorted(frame[period].unique().tolist())
        present = f"{shown[0]} to {shown[-1]}" if len(shown) > 6 else str(shown)
        raise DataError(
            f"baseline period(s) {list(spec.periods)} have no data (periods present: "
            f"{present}); choose a baseline period inside the data",
            column=period,
        )
    base = frame.loc[in_base, [*keys, period, value]]
    n_needed = len(spec.periods)
    stats_ = base.groupby(keys, sort=False)[value].agg(["mean", "count"])
    all_keys = frame[keys].drop_duplicates().set_index(keys).index
    stats_ = stats_.reindex(all_keys)
    short = stats_["count"].fillna(0) < n_needed
    if short.any():
        bad = [" ".join(map(str, k if isinstance(k, tuple) else (k,))) for k in stats_.index[short]]
        raise DataError(
            f"the baseline period(s) {list(spec.periods)} have no (or missing) data for "
            f"{int(short.sum())} entit(ies); a baseline needs a value in every baseline period. "
            "Choose baseline periods with data or drop these entities",
            column=value,
            rows=bad,
        )
    out = stats_["mean"].rename("baseline").reset_index()
    notes = []
    if n_needed > 1:
        notes.append(f"baseline = mean of periods {list(spec.periods)}")
    numeric = [p for p in spec.periods if isinstance(p, int)]
    t0 = float(np.mean(numeric)) if len(numeric) == n_needed else None
    return out, notes, t0


def _reference_baseline(
    frame: pd.DataFrame,
    spec: ReferenceBaseline,
    keys_no_entity: list[str],
    entity: str,
    period: str,
    value: str,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    is_ref = _same_label(frame[entity], list(spec.entities))
    found = set(frame.loc[is_ref, entity].astype(str))
    missing = sorted(set(spec.entities) - found)
    if missing:
        raise DataError(
            f"reference entit(ies) {missing} do not appear in column '{entity}'", column=entity
        )
    ref = frame.loc[is_ref]
    name = spec.label or (
        spec.entities[0]
        if len(spec.entities) == 1
        else f"{spec.statistic} of {len(spec.entities)} peers"
    )
    notes = [f"baseline = {name}"]
    if spec.periods is None:
        merge_on = [*keys_no_entity, period]
        counts = ref.groupby(merge_on, sort=False)[value].count()
        incomplete = counts[counts < len(spec.entities)]
        if len(incomplete):
            raise DataError(
                f"the reference group has missing values in {len(incomplete)} period(s); every "
                "reference entity needs a value in every compared period",
                column=value,
                rows=[str(k) for k in incomplete.index],
            )
        out = ref.groupby(merge_on, sort=False)[value].agg(spec.statistic).rename("baseline")
        # periods where the reference has no row at all
        wanted = frame[merge_on].drop_duplicates().set_index(merge_on).index
        absent = wanted.difference(out.index)
        if len(absent):
            raise DataError(
                "the reference group has no data in some compared period(s)",
                column=period,
                rows=[str(k) for k in absent],
            )
        return out.reset_index(), notes, merge_on
    in_periods = _same_label(ref[period], list(spec.periods))
    sub = ref.loc[in_periods]
    per_entity = sub.groupby([*keys_no_entity, entity], sort=False)[value].agg(["mean", "count"])
    short = per_entity["count"] < len(spec.periods)
    absent_entities = set(spec.entities) - set(sub[entity].astype(str))
    if short.any() or absent_entities:
        raise DataError(
            f"reference entities need data in every reference period {list(spec.periods)}",
            column=value,
            rows=sorted({str(k) for k in per_entity.index[short]} | absent_entities),
        )
    if keys_no_entity:
        out = (
            per_entity["mean"].groupby(level=keys_no_entity).agg(spec.statistic).rename("baseline")
        )
        return out.reset_index(), notes, keys_no_entity
    value_ = float(per_entity["mean"].agg(spec.statistic))
    return pd.DataFrame({"baseline": [value_]}), notes, []


def change_from_baseline(
    frame: pd.DataFrame,
    baseline: PeriodBaseline | ReferenceBaseline | BenchmarkBaseline,
    *,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    indicator: str | None = None,
    polarity: Polarity | Mapping[str, Polarity] = "none",
) -> pd.DataFrame:
    """Absolute, relative and compound annual change of every value against a baseline.

    Works for indicators and index nodes alike: give a long frame with one row per
    (indicator or node, entity, period) and the ``indicator`` column's name.

    Parameters
    ----------
    frame
        Long frame with columns ``entity``, ``period``, ``value`` (and ``indicator``).
    baseline
        :class:`~securindex.evaluation.spec.PeriodBaseline` (a period or the mean of
        several), :class:`~securindex.evaluation.spec.ReferenceBaseline` (a reference entity
        or group, in the same period or over given periods) or
        :class:`~securindex.evaluation.spec.BenchmarkBaseline` (an external value).
    entity, period, value, indicator
        Column names. Periods must be numbers (years) for the growth rate.
    polarity
        ``"positive"``, ``"negative"`` or ``"none"``, or one per indicator id.

    Returns
    -------
    pandas.DataFrame
        The input keys and ``value`` plus ``baseline``, ``absolute_change`` [unit of the
        value], ``relative_change`` [%], ``progress`` [unit of the value; > 0 is
        improvement given the polarity, NaN for polarity none], ``direction``
        (improved / worsened / unchanged / changed), ``cagr`` [fraction per period unit;
        period baselines with numeric periods only] and ``note``.

    Raises
    ------
    DataError
        Missing columns, a baseline period with no data, missing reference entities.
    SpecError
        An unknown polarity.

    Notes
    -----
    ``absolute = x − b``; ``relative = (x − b)/|b| × 100`` (undefined, NaN with a note, when
    ``b = 0``); ``progress = s (x − b)`` with ``s = +1`` (positive), ``−1`` (negative);
    ``cagr = (x/b)^{1/(t − t_0)} − 1`` with ``t_0`` the (mean) baseline period, for
    ``t > t_0`` and positive values. For comparisons over time the values must be
    time-comparable: raw indicators, or index scores normalised with pooled or fixed
    goalposts (OECD/JRC 2008, Step 5).

    Examples
    --------
    >>> df = pd.DataFrame({"entity": ["a", "a"], "period": [2015, 2017], "value": [10.0, 8.1]})
    >>> out = change_from_baseline(df, PeriodBaseline(periods=[2015]), polarity="negative")
    >>> round(float(out.loc[1, "absolute_change"]), 2), out.loc[1, "direction"]
    (-1.9, 'improved')
    """
    keys_no_entity = [indicator] if indicator is not None else []
    _require_columns(frame, [*keys_no_entity, entity, period, value], "change_from_baseline")
    sign = _polarity_per_row(frame, polarity, indicator)
    data = frame[[*keys_no_entity, entity, period, value]].copy()
    data[value] = pd.to_numeric(data[value], errors="coerce").astype("float64")
    dup = data.duplicated([*keys_no_entity, entity, period])
    if dup.any():
        raise DataError(
            "several rows for the same (indicator, entity, period)",
            rows=data.loc[dup, [entity, period]].astype(str).agg(" ".join, axis=1).tolist(),
        )
    notes: list[str] = []
    t0: float | None = None
    if isinstance(baseline, PeriodBaseline):
        base, notes, t0 = _period_baseline(data, baseline, [*keys_no_entity, entity], period, value)
        merged = data.merge(base, on=[*keys_no_entity, entity], how="left", sort=False)
    elif isinstance(baseline, ReferenceBaseline):
        base, notes, on = _reference_baseline(data, baseline, keys_no_entity, entity, period, value)
        merged = (
            data.merge(base, on=on, how="left", sort=False)
            if on
            else data.assign(baseline=float(base["baseline"].iloc[0]))
        )
    elif isinstance(baseline, BenchmarkBaseline):
        if isinstance(baseline.value, dict):
            if indicator is None:
                raise SpecError(
                    "a benchmark given per indicator needs the indicator column (indicator=...)"
                )
            ids = data[indicator].astype(str)
            missing = sorted(set(ids.unique()) - set(baseline.value))
            if missing:
                raise DataError(f"no benchmark value for indicator(s) {missing}", column=indicator)
            merged = data.assign(baseline=ids.map(baseline.value).to_numpy(dtype="float64"))
        else:
            merged = data.assign(baseline=float(baseline.value))
        notes = [f"baseline = benchmark{f' ({baseline.source})' if baseline.source else ''}"]
    else:
        raise SpecError(
            "baseline must be a PeriodBaseline, ReferenceBaseline or BenchmarkBaseline; got "
            f"{type(baseline).__name__}"
        )
    x = merged[value].to_numpy(dtype="float64")
    b = merged["baseline"].to_numpy(dtype="float64")
    absolute = x - b
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(b != 0, absolute / np.abs(b) * 100.0, np.nan)
    progress = np.where(sign != 0, sign * absolute, np.nan)
    direction = np.select(
        [np.isnan(absolute), absolute == 0, sign == 0, progress > 0],
        ["missing", "unchanged", "changed", "improved"],
        default="worsened",
    )
    note = np.full(len(merged), "; ".join(notes), dtype=object)
    note = np.where(b == 0, _join(note, "baseline is 0: relative change undefined"), note)
    cagr = np.full(len(merged), np.nan)
    if t0 is not None and pd.api.types.is_numeric_dtype(merged[period]):
        elapsed = merged[period].to_numpy(dtype="float64") - t0
        ok = (elapsed > 0) & (b > 0) & (x >= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cagr = np.where(ok, (x / b) ** (1.0 / np.where(ok, elapsed, 1.0)) - 1.0, np.nan)
        later_bad = (elapsed > 0) & ~ok & ~np.isnan(x)
        note = np.where(later_bad, _join(note, "growth rate undefined for values <= 0"), note)
    out = merged.assign(
        absolute_change=absolute,
        relative_change=relative,
        progress=progress,
        direction=direction,
        cagr=cagr,
        note=note,
    )
    return out.reset_index(drop=True)


def _join(note: np.ndarray, extra: str) -> np.ndarray:
    return np.array([f"{n}; {extra}" if n else extra for n in note], dtype=object)


# --------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------


def target_trajectory(
    baseline: float, baseline_year: float, target: float, target_year: float, years: Any
) -> np.ndarray:
    """The linear path from the baseline to the target, at ``years``.

    Parameters
    ----------
    baseline, target
        Values at the baseline year and the target year [unit of the indicator].
    baseline_year, target_year
        [year]; the target year must be later.
    years
        Years at which to evaluate the path [year]; beyond the target year it stays at the
        target.

    Returns
    -------
    numpy.ndarray
        ``b + (T* − b) · min(1, (t − t0)/(T − t0))`` [unit of the indicator].

    Examples
    --------
    >>> target_trajectory(10.0, 2020, 5.0, 2030, [2020, 2025, 2035]).tolist()
    [10.0, 7.5, 5.0]
    """
    if not target_year > baseline_year:
        raise SpecError(
            f"the target year ({target_year}) must be after the baseline year ({baseline_year})"
        )
    t = np.asarray(years, dtype="float64")
    share = np.clip((t - baseline_year) / (target_year - baseline_year), None, 1.0)
    return baseline + (target - baseline) * share


@dataclass(frozen=True)
class TargetProgress(EvaluationResult):
    """Progress of one value towards a target.

    ``estimate`` is the percent of the target achieved [%]: 0 at the baseline, 100 at the
    target, negative when the value moved away. With years given, ``expected_percent`` is
    the share of the time elapsed [%], ``trajectory_value`` the value on the linear path
    [unit of the indicator], ``progress_ratio`` the ratio that decides ``status``
    [unitless] (achieved/elapsed share for ``method='linear'``, actual/required growth for
    ``method='eurostat'``).
    """

    measure: ClassVar[str] = "percent_of_target"

    estimate: float
    baseline: float
    current: float
    target: float
    required_change: float
    actual_change: float
    remaining_change: float
    target_met: bool
    polarity: str
    baseline_year: float | None = None
    current_year: float | None = None
    target_year: float | None = None
    expected_percent: float = math.nan
    trajectory_value: float = math.nan
    progress_ratio: float = math.nan
    status: str | None = None
    method: str = "linear"
    eurostat_category: str | None = None
    actual_growth_rate: float = math.nan
    required_growth_rate: float = math.nan
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        parts = [
            f"{fmt(self.estimate, 1)} % of the way from the baseline ({fmt(self.baseline)}) to "
            f"the target ({fmt(self.target)}); the value is now {fmt(self.current)}."
        ]
        if self.target_met:
            parts.append("The target is met.")
        if self.status is not None and not self.target_met:
            when = f" by {self.current_year:g}" if self.current_year is not None else ""
            if self.method == "eurostat":
                parts.append(
                    f"Actual growth {fmt(self.actual_growth_rate * 100, 2)} %/year against "
                    f"{fmt(self.required_growth_rate * 100, 2)} %/year required (ratio "
                    f"{fmt(self.progress_ratio)}): {self.eurostat_category}, "
                    f"{self.status.replace('_', ' ')}."
                )
            else:
                parts.append(
                    f"The linear trajectory expected {fmt(self.expected_percent, 1)} %{when} "
                    f"(a value of {fmt(self.trajectory_value)}): "
                    f"{self.status.replace('_', ' ')}."
                )
        return " ".join([*parts, *self.notes])


def _target_core(
    baseline: np.ndarray,
    current: np.ndarray,
    target: np.ndarray,
    sign: np.ndarray,
    t0: np.ndarray | None,
    t: np.ndarray | None,
    T: np.ndarray | None,
    method: str,
    on_track: float,
    moderate: float,
    moving_away: float,
    labels: list[str],
    allow_met: bool = False,
) -> dict[str, np.ndarray]:
    """Vectorised percent of target, trajectory and status (arrays of equal length).

    With ``allow_met`` the rows whose target is already met at baseline are reported as
    ``achieved`` (``already_met`` True, no percent) instead of raising.
    """
    required = target - baseline
    wrong_way = ((sign > 0) & (required <= 0)) | ((sign < 0) & (required >= 0)) | (required == 0)
    if allow_met and wrong_way.any():
        keep = ~wrong_way
        sub = _target_core(
            baseline[keep],
            current[keep],
            target[keep],
            sign[keep],
            None if t0 is None else t0[keep],
            None if t is None else t[keep],
            None if T is None else T[keep],
            method,
            on_track,
            moderate,
            moving_away,
            [labels[i] for i in np.flatnonzero(keep)],
        )
        full: dict[str, np.ndarray] = {}
        for key, values in sub.items():
            if values.dtype == object:
                arr = np.full(len(baseline), None, dtype=object)
            elif values.dtype == bool:
                arr = np.ones(len(baseline), dtype=bool)
            else:
                arr = np.full(len(baseline), np.nan)
            arr[keep] = values
            full[key] = arr
        full["status"][wrong_way] = "achieved"
        full["required"][wrong_way] = (target - baseline)[wrong_way]
        full["actual"][wrong_way] = (current - baseline)[wrong_way]
        full["remaining"][wrong_way] = (target - current)[wrong_way]
        full["already_met"] = wrong_way
        return full
    if wrong_way.any():
        where = [labels[i] for i in np.flatnonzero(wrong_way)][:10]
        i = int(np.flatnonzero(wrong_way)[0])
        pol = {1.0: "positive", -1.0: "negative", 0.0: "none"}[float(sign[i])]
        raise SpecError(
            f"the target is already met at baseline for {where}: baseline "
            f"{baseline[i]:g}, target {target[i]:g} (polarity {pol}). A target must lie "
            "beyond the baseline in the direction of progress; set a more ambitious target "
            "or another baseline"
        )
    direction = np.sign(required)
    actual = current - baseline
    percent = actual / required * 100.0
    met = direction * (current - target) >= 0
    out: dict[str, np.ndarray] = {
        "percent": percent,
        "required": required,
        "actual": actual,
        "remaining": target - current,
        "met": met,
    }
    n = len(baseline)
    nan = np.full(n, np.nan)
    out.update(
        expected=nan,
        trajectory=nan,
        ratio=nan,
        status=np.full(n, None, dtype=object),
        category=np.full(n, None, dtype=object),
        actual_growth=nan,
        required_growth=nan,
    )
    if t0 is None or t is None or T is None:
        status = np.full(len(met), None, dtype=object)
        status[met] = "achieved"
        out["status"] = status
        return out
    if (t0 >= T).any():
        raise SpecError("the target year must be after the baseline year")
    elapsed = t - t0
    if (elapsed <= 0).any():
        raise DataError(
            "progress needs a current period after the baseline year; got "
            f"{sorted(set(t[elapsed <= 0].tolist()))} for baseline {sorted(set(t0.tolist()))}"
        )
    share = np.minimum(elapsed / (T - t0), 1.0)
    out["expected"] = share * 100.0
    out["trajectory"] = baseline + required * share
    if method == "linear":
        ratio = percent / (share * 100.0)
        status = np.select(
            [met, ratio >= on_track, ratio < moving_away],
            ["achieved", "on_track", "moving_away"],
            default="off_track",
        )
        out["ratio"] = ratio
        out["status"] = status.astype(object)
        return out
    if method != "eurostat":
        raise SpecError(f"method must be 'linear' or 'eurostat'; got {method!r}")
    if (baseline <= 0).any() or (target <= 0).any() or (current <= 0).any():
        raise DataError(
            "the Eurostat growth-rate method needs positive baseline, current and target "
            "values (growth rates of zero or negative values are undefined); use method='linear'"
        )
    actual_g = (current / baseline) ** (1.0 / elapsed) - 1.0
    required_g = (target / baseline) ** (1.0 / (T - t0)) - 1.0
    ratio = actual_g / required_g
    category = np.select(
        [ratio >= on_track, ratio >= moderate, ratio >= moving_away],
        list(EUROSTAT_CATEGORIES[:3]),
        default=EUROSTAT_CATEGORIES[3],
    )
    status = np.select(
        [met, ratio >= on_track, ratio < moving_away],
        ["achieved", "on_track", "moving_away"],
        default="off_track",
    )
    out.update(
        ratio=ratio,
        status=status.astype(object),
        category=category.astype(object),
        actual_growth=actual_g,
        required_growth=required_g,
    )
    return out


def _check_thresholds(method: str, on_track: float, moderate: float, moving_away: float) -> None:
    if method not in ("linear", "eurostat"):
        raise SpecError(f"method must be 'linear' or 'eurostat'; got {method!r}")
    if not on_track > moving_away:
        raise SpecError(f"on_track ({on_track}) must be greater than moving_away ({moving_away})")
    if method == "eurostat" and not on_track > moderate > moving_away:
        raise SpecError(
            f"thresholds must satisfy on_track > moderate > moving_away; got {on_track}, "
            f"{moderate}, {moving_away}"
        )


def percent_of_target(
    baseline: float,
    current: float,
    target: float,
    *,
    polarity: Polarity = "none",
    baseline_year: float | None = None,
    current_year: float | None = None,
    target_year: float | None = None,
    method: Method = "linear",
    on_track: float = 0.95,
    moderate: float = 0.60,
    moving_away: float = 0.0,
) -> TargetProgress:
    """Percent of a target achieved, with trajectory and status when years are given.

    Parameters
    ----------
    baseline, current, target
        Values at the baseline, now, and the target [unit of the indicator].
    polarity
        ``"negative"`` (a fall is progress), ``"positive"``, or ``"none"`` (direction taken
        from the target). With a polarity, a target on the wrong side of the baseline is an
        error (the target would already be met).
    baseline_year, current_year, target_year
        [year]; all three are needed for the trajectory and the status.
    method
        ``"linear"``: ``progress_ratio`` = percent achieved / percent of time elapsed.
        ``"eurostat"``: ``progress_ratio`` = actual / required compound annual growth rate
        (Eurostat's SDG monitoring method for indicators with quantitative targets).
    on_track, moderate, moving_away
        Thresholds on ``progress_ratio`` [unitless]: ``>= on_track`` is on track (Eurostat:
        significant progress), ``< moving_away`` is moving away; with ``eurostat``,
        ``moderate`` separates moderate from insufficient progress (Eurostat uses 0.95,
        0.60 and 0).

    Returns
    -------
    TargetProgress

    Raises
    ------
    SpecError
        The target equals the baseline or is already met at baseline; inconsistent years
        or thresholds.
    DataError
        Non-finite values; the Eurostat method with non-positive values.

    Notes
    -----
    ``percent = (current − baseline)/(target − baseline) × 100``. Linear trajectory
    ``b + (T* − b)(t − t0)/(T − t0)``. Status: ``achieved`` when the target is met,
    otherwise by the thresholds: on_track / off_track / moving_away.

    Examples
    --------
    >>> p = percent_of_target(10.0, 8.0, 5.0, polarity="negative",
    ...                       baseline_year=2020, current_year=2025, target_year=2030)
    >>> p.estimate, p.expected_percent, p.status
    (40.0, 50.0, 'off_track')
    """
    check_polarity(polarity)
    _check_thresholds(method, on_track, moderate, moving_away)
    values = np.array([baseline, current, target], dtype="float64")
    if not np.all(np.isfinite(values)):
        raise DataError(f"baseline, current and target must be finite; got {values.tolist()}")
    years = [baseline_year, current_year, target_year]
    given = [y is not None for y in years]
    notes: list[str] = []
    if any(given) and not all(given):
        raise SpecError(
            "give baseline_year, current_year and target_year together (the trajectory needs "
            "all three), or none of them"
        )

    def arr(x: float | None) -> np.ndarray | None:
        return None if x is None else np.array([float(x)])

    core = _target_core(
        values[:1],
        values[1:2],
        values[2:],
        np.array([_SIGN[polarity]]),
        arr(baseline_year),
        arr(current_year),
        arr(target_year),
        method,
        on_track,
        moderate,
        moving_away,
        ["the value"],
    )
    if current_year is not None and target_year is not None and current_year > target_year:
        notes.append(f"The target year {target_year:g} has passed.")
    return TargetProgress(
        estimate=float(core["percent"][0]),
        baseline=float(baseline),
        current=float(current),
        target=float(target),
        required_change=float(core["required"][0]),
        actual_change=float(core["actual"][0]),
        remaining_change=float(core["remaining"][0]),
        target_met=bool(core["met"][0]),
        polarity=polarity,
        baseline_year=None if baseline_year is None else float(baseline_year),
        current_year=None if current_year is None else float(current_year),
        target_year=None if target_year is None else float(target_year),
        expected_percent=float(core["expected"][0]),
        trajectory_value=float(core["trajectory"][0]),
        progress_ratio=float(core["ratio"][0]),
        status=core["status"][0],
        method=method,
        eurostat_category=core["category"][0],
        actual_growth_rate=float(core["actual_growth"][0]),
        required_growth_rate=float(core["required_growth"][0]),
        notes=tuple(notes),
    )


def progress_to_target(
    frame: pd.DataFrame,
    target: float | Mapping[str, float] | TargetSpec,
    *,
    baseline_period: int | float | None = None,
    target_year: float | None = None,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    polarity: Polarity | None = None,
    method: Method | None = None,
    on_track: float | None = None,
    moderate: float | None = None,
    moving_away: float | None = None,
) -> pd.DataFrame:
    """Percent of target, trajectory and status for every entity and period after the baseline.

    Parameters
    ----------
    frame
        Long frame of one indicator (or index node): ``entity``, ``period`` (years),
        ``value``.
    target
        One target value for all entities, one per entity (mapping), or a
        :class:`~securindex.evaluation.spec.TargetSpec` carrying value, year, baseline year,
        method and thresholds (keyword arguments override it).
    baseline_period
        The baseline year [year] (from the TargetSpec when not given).
    target_year
        The target year [year] (from the TargetSpec when not given).
    entity, period, value
        Column names.
    polarity, method, on_track, moderate, moving_away
        As in :func:`percent_of_target` (defaults: ``"none"``, ``"linear"``, 0.95, 0.60, 0).

    Returns
    -------
    pandas.DataFrame
        ``entity``, ``period``, ``value``, ``baseline``, ``target``, ``trajectory``,
        ``percent_of_target`` [%], ``expected_percent`` [%], ``progress_ratio``, ``status``,
        ``target_met``, ``already_met_at_baseline``, and with ``method='eurostat'`` also ``eurostat_category``,
        ``actual_growth_rate`` and ``required_growth_rate`` [fraction per year]. The baseline
        rows themselves are included (0 % achieved, no status).

    Raises
    ------
    DataError
        Missing columns, no data in the baseline period for some entities, non-numeric
        periods.
    SpecError
        Invalid thresholds or method.

    Notes
    -----
    Entities that already meet the target in the baseline period are reported with status
    ``achieved`` in every period and ``already_met_at_baseline`` True (no percent of
    target: there was no distance to cover), so one city-wide target does not abort the
    evaluation of the others.

    Examples
    --------
    >>> df = pd.DataFrame({"entity": ["a"] * 3, "period": [2020, 2022, 2024],
    ...                    "value": [10.0, 9.5, 7.0]})
    >>> out = progress_to_target(df, 5.0, baseline_period=2020, target_year=2030,
    ...                          polarity="negative")
    >>> out["status"].tolist()
    [nan, 'off_track', 'on_track']
    """
    spec = target if isinstance(target, TargetSpec) else None
    if spec is not None:
        baseline_period = spec.baseline_year if baseline_period is None else baseline_period
        target_year = spec.year if target_year is None else target_year
        polarity = polarity or spec.polarity
        method = method or spec.method
        on_track = spec.on_track if on_track is None else on_track
        moderate = spec.moderate if moderate is None else moderate
        moving_away = spec.moving_away if moving_away is None else moving_away
    polarity = polarity or "none"
    method = method or "linear"
    on_track = 0.95 if on_track is None else on_track
    moderate = 0.60 if moderate is None else moderate
    moving_away = 0.0 if moving_away is None else moving_away
    check_polarity(polarity)
    _check_thresholds(method, on_track, moderate, moving_away)
    if baseline_period is None or target_year is None:
        raise SpecError("progress_to_target needs baseline_period and target_year")
    _require_columns(frame, [entity, period, value], "progress_to_target")
    if not pd.api.types.is_numeric_dtype(frame[period]):
        raise DataError("targets need numeric periods (years) to draw a trajectory", column=period)
    data = frame[[entity, period, value]].copy()
    data[value] = pd.to_numeric(data[value], errors="coerce").astype("float64")
    base = data.loc[data[period] == baseline_period].set_index(entity)[value]
    entities = pd.Index(data[entity].unique())
    missing = entities.difference(base.dropna().index)
    if len(missing):
        raise DataError(
            f"the baseline period {baseline_period} has no data for {len(missing)} entit(ies); "
            "choose another baseline period or drop them",
            column=value,
            rows=list(missing),
        )
    rows = data.loc[data[period] >= baseline_period].reset_index(drop=True)
    rows = rows.loc[rows[value].notna()].reset_index(drop=True)
    b = rows[entity].map(base).to_numpy(dtype="float64")
    if isinstance(target, Mapping):
        absent = sorted(set(map(str, entities)) - set(map(str, target)))
        if absent:
            raise DataError(f"no target value for entit(ies) {absent}", column=entity)
        tv = rows[entity].astype(str).map({str(k): float(v) for k, v in target.items()})
        tgt = tv.to_numpy(dtype="float64")
    else:
        tgt = np.full(len(rows), float(spec.value if spec is not None else target))  # type: ignore[arg-type]
    x = rows[value].to_numpy(dtype="float64")
    t = rows[period].to_numpy(dtype="float64")
    is_base = t == float(baseline_period)
    labels = rows[entity].astype(str).tolist()
    sign = np.full(len(rows), _SIGN[polarity])
    # the baseline rows: check the target direction for every entity, no status
    core_all = _target_core(
        b,
        x,
        tgt,
        sign,
        None,
        None,
        None,
        method,
        on_track,
        moderate,
        moving_away,
        labels,
        allow_met=True,
    )
    later = ~is_base
    core = _target_core(
        b[later],
        x[later],
        tgt[later],
        sign[later],
        np.full(int(later.sum()), float(baseline_period)),
        t[later],
        np.full(int(later.sum()), float(target_year)),
        method,
        on_track,
        moderate,
        moving_away,
        [labels[i] for i in np.flatnonzero(later)],
        allow_met=True,
    )
    out = rows.assign(baseline=b, target=tgt)
    traj = target_trajectory(0.0, float(baseline_period), 1.0, float(target_year), t)
    out["trajectory"] = b + (tgt - b) * traj
    out["percent_of_target"] = core_all["percent"]
    out["expected_percent"] = np.where(is_base, 0.0, np.nan)
    out["progress_ratio"] = np.nan
    status = np.full(len(rows), None, dtype=object)
    out.loc[later, "expected_percent"] = core["expected"]
    out.loc[later, "progress_ratio"] = core["ratio"]
    status[later] = core["status"]
    out["status"] = status
    out["target_met"] = core_all["met"]
    met_at_baseline = core_all.get("already_met", np.zeros(len(rows), dtype=bool))
    out["already_met_at_baseline"] = met_at_baseline
    out.loc[met_at_baseline & is_base, "status"] = "achieved"
    if method == "eurostat":
        cat = np.full(len(rows), None, dtype=object)
        cat[later] = core["category"]
        out["eurostat_category"] = cat
        out["actual_growth_rate"] = np.nan
        out["required_growth_rate"] = np.nan
        out.loc[later, "actual_growth_rate"] = core["actual_growth"]
        out.loc[later, "required_growth_rate"] = core["required_growth"]
    return out.sort_values([entity, period], kind="stable").reset_index(drop=True)


def progress_to_targets(
    frame: pd.DataFrame,
    targets: Mapping[str, TargetSpec],
    *,
    baseline_period: int | float | None = None,
    indicator: str = "indicator",
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    polarity: Mapping[str, Polarity] | None = None,
) -> pd.DataFrame:
    """:func:`progress_to_target` for several indicators or index nodes of a long frame.

    ``targets`` maps an indicator (or node) id to its :class:`TargetSpec`; ``polarity`` maps
    ids to polarities (a target's own ``polarity`` wins). Indicators without a target are
    left out. Returns the concatenated tidy frames with the ``indicator`` column first.
    """
    _require_columns(frame, [indicator], "progress_to_targets")
    ids = frame[indicator].astype(str)
    unknown = sorted(set(targets) - set(ids.unique()))
    if unknown:
        raise DataError(
            f"targets given for indicator(s) {unknown} not in the data", column=indicator
        )
    parts = []
    for key, spec in targets.items():  # one pass per indicator: few, and each is vectorised
        pol = spec.polarity or (polarity or {}).get(key, "none")
        part = progress_to_target(
            frame.loc[ids == key],
            spec,
            baseline_period=baseline_period if spec.baseline_year is None else None,
            entity=entity,
            period=period,
            value=value,
            polarity=pol,
        )
        part.insert(0, indicator, key)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[indicator, entity, period, value])
    return pd.concat(parts, ignore_index=True, sort=False)
