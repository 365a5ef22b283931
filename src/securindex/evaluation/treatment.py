"""Treatment timing as data: when each entity started the initiative.

A staggered roll-out is described per entity by the first period under treatment (its
*cohort*). :func:`treatment_timing` reads it from

* a **mapping** (or Series) ``entity → first treated period``; entities absent from it, or
  mapped to ``None``/NaN, are never treated;
* a **column** of the frame holding that start period on every row of the entity (``0``
  or empty for never-treated entities, as in the ``first.treat`` column of Callaway &
  Sant'Anna's ``mpdta`` example);
* a **0/1 column** switching on when treatment starts (it must stay on: staggered
  estimators assume treatment is not reversed).

Entities treated from the first observed period (*always treated*) have no untreated
period to compare with; they are excluded with a note. Entities whose start lies after the
last observed period are never treated within the window.

:func:`staggered_panel` then builds the balanced entity × period outcome matrix the
staggered estimators share (:mod:`~securindex.evaluation.staggered`,
:mod:`~securindex.evaluation.event_study`), with the outcome optionally turned into a rate
per ``rate_scale`` inhabitants and/or its logarithm.

References
----------
.. [1] Callaway, B., & Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
   time periods. *Journal of Econometrics*, 225(2), 200–230.
   doi:10.1016/j.jeconom.2020.12.001
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from securindex.errors import DataError, SpecError

__all__ = ["StaggeredPanel", "TreatmentTiming", "staggered_panel", "treatment_timing"]

Treatment: TypeAlias = "str | Mapping[object, object] | pd.Series"
Outcome = Literal["level", "log"]


def _text(values: pd.Series) -> pd.Series:
    """Entity labels as text (YAML ``75`` and a data column of 75.0 both read ``"75"``)."""
    if pd.api.types.is_float_dtype(values) and bool(
        np.all(np.isnan(values) | (values == np.round(values)))
    ):
        return values.astype("Int64").astype(str)
    return values.astype(str)


@dataclass(frozen=True)
class TreatmentTiming:
    """When each entity was first treated.

    Attributes
    ----------
    periods
        The sorted distinct periods of the panel [period labels].
    start
        First treated period per entity (index: entity label as text); NaN for
        never-treated entities [period label].
    cohort
        Position of the first treated period in ``periods`` per entity; -1 for never
        treated [index].
    always_treated
        Entities treated from the first period on, excluded from the estimation.
    notes
        What was done on the way (exclusions, starts outside the window).
    """

    periods: tuple[object, ...]
    start: pd.Series
    cohort: pd.Series
    always_treated: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def never_treated(self) -> tuple[str, ...]:
        """Entities never treated within the observed periods."""
        return tuple(self.cohort.index[self.cohort.to_numpy() < 0])

    @property
    def treated(self) -> tuple[str, ...]:
        """Entities treated at some observed period (always-treated excluded)."""
        return tuple(self.cohort.index[self.cohort.to_numpy() >= 0])

    @property
    def cohorts(self) -> tuple[object, ...]:
        """The distinct first-treated periods, in order [period labels]."""
        used = sorted(set(self.cohort.to_numpy()[self.cohort.to_numpy() >= 0].tolist()))
        return tuple(self.periods[i] for i in used)

    @property
    def staggered(self) -> bool:
        """True when treated entities started in more than one period."""
        return len(self.cohorts) > 1

    def summary(self) -> str:
        """One sentence: how many entities started when."""
        counts = (
            self.cohort[self.cohort >= 0]
            .map(lambda i: self.periods[int(i)])
            .value_counts()
            .sort_index()
        )
        started = ", ".join(f"{n} in {p}" for p, n in counts.items())
        text = (
            f"{len(self.treated)} treated entit{'y' if len(self.treated) == 1 else 'ies'} "
            f"({started}) and {len(self.never_treated)} never treated"
        )
        if self.always_treated:
            text += f"; {len(self.always_treated)} always treated (excluded)"
        return text + "."


def _starts_from_column(
    data: pd.DataFrame, column: str, entity: pd.Series, period: pd.Series
) -> tuple[pd.Series, str]:
    raw = data[column]
    numeric = pd.to_numeric(raw, errors="coerce")
    values = set(numeric.dropna().unique().tolist())
    if raw.dtype == bool or (values <= {0, 1} and len(values) == 2):
        on = numeric.fillna(0).to_numpy() != 0
        frame = pd.DataFrame({"e": entity.to_numpy(), "p": period.to_numpy(), "on": on})
        frame = frame.sort_values(["e", "p"], kind="stable")
        # absorbing: once on, stays on
        cum = frame.groupby("e", sort=False)["on"].cummax()
        reversed_ = frame.loc[cum.to_numpy() & ~frame["on"].to_numpy(), "e"].unique()
        if len(reversed_):
            raise DataError(
                f"the 0/1 treatment column switches off again for {len(reversed_)} entit(ies); "
                "staggered estimators need treatment that, once started, stays on — give "
                "the first treated period instead, or split the spells",
                column=column,
                rows=[str(e) for e in reversed_],
            )
        first = frame.loc[frame["on"]].groupby("e", sort=False)["p"].min()
        return first.reindex(pd.Index(frame["e"].unique())), "indicator"
    frame = pd.DataFrame({"e": entity.to_numpy(), "s": raw.to_numpy()})
    spread = frame.groupby("e", sort=False)["s"].nunique(dropna=False)
    varying = spread.index[spread.to_numpy() > 1]
    if len(varying):
        raise DataError(
            f"the treatment start column must hold one start period per entity (or be a 0/1 "
            f"indicator); it varies within {len(varying)} entit(ies)",
            column=column,
            rows=[str(e) for e in varying],
        )
    first = frame.groupby("e", sort=False)["s"].first()
    first = first.mask(first.isin([0, "0", ""]))  # 0 marks never treated (mpdta)
    return first, "start"


def treatment_timing(
    frame: pd.DataFrame,
    treatment: Treatment,
    *,
    entity: str = "entity",
    period: str = "period",
) -> TreatmentTiming:
    """Read each entity's first treated period from a column or a mapping.

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period).
    treatment
        A mapping or Series ``entity → first treated period`` (absent or NaN: never
        treated); or the name of a column holding either that start period (``0`` or
        empty: never treated) or a 0/1 indicator that switches on at the start.
    entity, period
        Column names.

    Returns
    -------
    TreatmentTiming

    Raises
    ------
    DataError
        Missing columns, a start period that is not one of the panel's periods (within
        its range), a start column varying within an entity, an indicator switching off.
    SpecError
        ``treatment`` of the wrong type, or a mapping naming unknown entities.

    Examples
    --------
    >>> df = pd.DataFrame({"entity": list("aabbcc"), "period": [1, 2] * 3})
    >>> timing = treatment_timing(df, {"a": 2, "c": 1})
    >>> timing.treated, timing.never_treated, timing.always_treated
    (('a',), ('b',), ('c',))
    """
    for col in (entity, period):
        if col not in frame.columns:
            raise DataError(
                f"treatment_timing: missing column '{col}'; the frame has {list(frame.columns)}"
            )
    labels = _text(frame[entity])
    periods_all = frame[period]
    try:
        periods = tuple(np.sort(periods_all.dropna().unique()).tolist())
    except TypeError:
        raise DataError(
            "periods must be orderable (years, or sortable labels)", column=period
        ) from None
    notes: list[str] = []
    if isinstance(treatment, str):
        if treatment not in frame.columns:
            raise DataError(
                f"treatment column '{treatment}' not in the frame; columns are "
                f"{list(frame.columns)}"
            )
        start, _ = _starts_from_column(frame, treatment, labels, periods_all)
    elif isinstance(treatment, (Mapping, pd.Series)):
        given = {str(k): v for k, v in dict(treatment).items()}
        unknown = sorted(set(given) - set(labels.unique()))
        if unknown:
            raise SpecError(
                f"treatment start given for entit(ies) {unknown} that are not in column "
                f"'{entity}'; check their spelling"
            )
        start = pd.Series(given, dtype=object).reindex(pd.Index(labels.unique()))
    else:
        raise SpecError(
            "treatment must be a column name or a mapping entity → first treated period; got "
            f"{type(treatment).__name__}"
        )
    start = start.where(pd.notna(start), np.nan)
    position = pd.Series(-1, index=start.index, dtype="int64")
    known = {p: i for i, p in enumerate(periods)}
    late: list[str] = []
    bad: list[str] = []
    for ent, value in start.items():  # one entry per entity: a few thousand at most
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        key = value
        if isinstance(value, float) and value.is_integer() and int(value) in known:
            key = int(value)
        if key in known:
            position[ent] = known[key]
        elif _after(key, periods[-1]):
            late.append(str(ent))
        elif _after(periods[0], key):
            position[ent] = 0  # started before the window: always treated
        else:
            bad.append(f"{ent}: {value!r}")
    if bad:
        raise DataError(
            "treatment start period(s) that are not periods of the panel: "
            f"{', '.join(bad[:5])}; the periods are {list(periods)[:10]}",
            column=treatment if isinstance(treatment, str) else None,
        )
    if late:
        notes.append(
            f"{len(late)} entit(ies) start after the last period ({periods[-1]}) and count as "
            "never treated here."
        )
    always = tuple(sorted(position.index[position.to_numpy() == 0]))
    if always:
        notes.append(
            f"{len(always)} entit(ies) are treated from the first period on ({', '.join(always[:5])}"
            f"{' …' if len(always) > 5 else ''}): with no untreated period they cannot be "
            "compared, and are excluded."
        )
    cohort = position.drop(list(always))
    if not (cohort >= 0).any():
        raise DataError("no entity is treated within the observed periods; nothing to evaluate")
    if not (cohort < 0).any():
        notes.append(
            "Every entity is treated at some point: only not-yet-treated entities can serve "
            "as comparisons, and the last cohort has none after it starts."
        )
    return TreatmentTiming(
        periods=periods,
        start=start.drop(list(always)).map(lambda v: v if pd.notna(v) else np.nan),
        cohort=cohort,
        always_treated=always,
        notes=tuple(notes),
    )


def _after(a: object, b: object) -> bool:
    try:
        return bool(a > b)  # type: ignore[operator]
    except TypeError:
        return False


@dataclass(frozen=True)
class StaggeredPanel:
    """A balanced entity × period outcome matrix with each entity's cohort.

    ``y`` has shape ``(n_entities, n_periods)`` [outcome unit: the value, a rate per
    ``rate_scale`` inhabitants, or its logarithm, as ``outcome_label`` says]; ``cohort[i]``
    is the position of entity ``i``'s first treated period, -1 if never treated.
    """

    entities: tuple[str, ...]
    periods: tuple[object, ...]
    y: np.ndarray
    cohort: np.ndarray
    timing: TreatmentTiming
    outcome_label: str
    notes: tuple[str, ...] = ()

    @property
    def n_entities(self) -> int:
        return len(self.entities)

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    def long(self) -> pd.DataFrame:
        """Long frame: entity, period, y, cohort position, treated (0/1) and event time."""
        n, t = self.y.shape
        pos = np.tile(np.arange(t), n)
        coh = np.repeat(self.cohort, t)
        return pd.DataFrame(
            {
                "entity": np.repeat(np.array(self.entities, dtype=object), t),
                "period": np.tile(np.array(self.periods, dtype=object), n),
                "t": pos,
                "y": self.y.ravel(),
                "cohort": coh,
                "treated": ((coh >= 0) & (pos >= coh)).astype("float64"),
                "event_time": np.where(coh >= 0, pos - coh, np.iinfo(np.int64).min),
            }
        )


def staggered_panel(
    frame: pd.DataFrame,
    treatment: Treatment | TreatmentTiming,
    *,
    entity: str = "entity",
    period: str = "period",
    value: str = "value",
    exposure: str | None = None,
    rate_scale: float = 100_000.0,
    outcome: Outcome = "level",
    caller: str = "staggered_panel",
) -> StaggeredPanel:
    """Validate a long panel and build the balanced outcome matrix for staggered designs.

    Parameters
    ----------
    frame
        Long frame, one row per (entity, period).
    treatment
        As in :func:`treatment_timing`, or a :class:`TreatmentTiming` already read.
    entity, period, value
        Column names [value: count of crimes or any outcome].
    exposure
        Population column [inhabitants]: the outcome becomes ``value / exposure ×
        rate_scale`` (a rate per ``rate_scale`` inhabitants).
    rate_scale
        Rate denominator [inhabitants, default 100 000].
    outcome
        ``"level"`` (the value or rate) or ``"log"`` (its natural logarithm: effects are
        then approximately proportional changes; needs values > 0).
    caller
        Name used in error messages.

    Returns
    -------
    StaggeredPanel

    Raises
    ------
    DataError
        Missing columns or values, duplicated rows, missing (entity, period) rows (the
        estimators need a balanced panel), non-positive exposure, values ≤ 0 with
        ``outcome="log"``.
    """
    if outcome not in ("level", "log"):
        raise SpecError(f"{caller}: outcome must be 'level' or 'log'; got {outcome!r}")
    if not (math.isfinite(rate_scale) and rate_scale > 0):
        raise SpecError(f"{caller}: rate_scale must be > 0; got {rate_scale}")
    cols = [entity, period, value] + ([exposure] if exposure else [])
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"{caller}: missing column(s) {missing}; the frame has {list(frame.columns)}. "
            "Name them with entity=, period=, value=, exposure="
        )
    timing = (
        treatment
        if isinstance(treatment, TreatmentTiming)
        else treatment_timing(frame, treatment, entity=entity, period=period)
    )
    labels = _text(frame[entity])
    keep = labels.isin(set(timing.cohort.index)).to_numpy()
    data = pd.DataFrame(
        {
            "e": labels.to_numpy()[keep],
            "p": frame[period].to_numpy()[keep],
            "y": pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype="float64")[keep],
        }
    )
    bad = ~np.isfinite(data["y"].to_numpy())
    if bad.any():
        raise DataError(
            f"{caller}: {int(bad.sum())} missing or non-numeric value(s); drop those rows or "
            "impute them first",
            column=value,
            rows=[f"{e} {p}" for e, p in data.loc[bad, ["e", "p"]].itertuples(index=False)],
        )
    notes = list(timing.notes)
    unit_label = value
    if exposure:
        ex = pd.to_numeric(frame[exposure], errors="coerce").to_numpy(dtype="float64")[keep]
        if (~np.isfinite(ex) | (ex <= 0)).any():
            rows = data.loc[~np.isfinite(ex) | (ex <= 0), ["e", "p"]]
            raise DataError(
                f"{caller}: exposure (population) must be > 0 in every row",
                column=exposure,
                rows=[f"{e} {p}" for e, p in rows.itertuples(index=False)],
            )
        data["y"] = data["y"].to_numpy() / ex * rate_scale
        unit_label = f"{value} per {rate_scale:,.0f} {exposure}".replace(",", " ")
    dup = data.duplicated(["e", "p"])
    if dup.any():
        raise DataError(
            f"{caller}: several rows for the same (entity, period); aggregate them first",
            rows=[f"{e} {p}" for e, p in data.loc[dup, ["e", "p"]].itertuples(index=False)],
        )
    entities = tuple(sorted(timing.cohort.index))
    wide = data.pivot(index="e", columns="p", values="y").reindex(
        index=list(entities), columns=list(timing.periods)
    )
    holes = np.argwhere(np.isnan(wide.to_numpy()))
    if len(holes):
        raise DataError(
            f"{caller}: the panel is unbalanced — {len(holes)} (entity, period) row(s) are "
            "missing; staggered estimators compare every entity in every period. Add the "
            "rows (a missing row is not a zero) or drop the entity",
            rows=[f"{entities[i]} {timing.periods[j]}" for i, j in holes[:20]],
        )
    y = wide.to_numpy(dtype="float64")
    if outcome == "log":
        if (y <= 0).any():
            i, j = np.argwhere(y <= 0)[0]
            raise DataError(
                f"{caller}: outcome='log' needs values > 0; {entities[i]} {timing.periods[j]} "
                f"has {y[i, j]:g}. Use outcome='level', or aggregate to larger areas",
                column=value,
            )
        y = np.log(y)
        unit_label = f"log({unit_label})"
    cohort = timing.cohort.reindex(list(entities)).to_numpy(dtype="int64")
    return StaggeredPanel(
        entities=entities,
        periods=timing.periods,
        y=y,
        cohort=cohort,
        timing=timing,
        outcome_label=unit_label,
        notes=tuple(notes),
    )
