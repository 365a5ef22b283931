"""Synthetic incident records and areas for examples, tests and benchmarks (not real data)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from securindex.incidents.areas import geopandas_module

__all__ = [
    "HARM_DAYS",
    "OFFENCE_MIX",
    "incidents_from_counts",
    "staggered_panel_example",
    "synthetic_areas",
    "synthetic_incidents",
]

OFFENCE_MIX: dict[str, float] = {
    # share of recorded incidents per offence code: a skewed, police-like mix
    "TH-SHOP": 0.140, "TH-PERSON": 0.060, "TH-OTHER": 0.100, "TH-BIKE": 0.030,
    "VE-THEFT": 0.030, "VE-FROM": 0.070, "BU-RES": 0.050, "BU-NONRES": 0.020,
    "VI-ASSAULT": 0.100, "VI-GBH": 0.020, "VI-HARASS": 0.080, "VI-HOMICIDE": 0.0002,
    "RO-PERSON": 0.015, "RO-BUSINESS": 0.002, "SX-RAPE": 0.004, "SX-OTHER": 0.008,
    "CD-VEHICLE": 0.040, "CD-DWELLING": 0.030, "CD-ARSON": 0.005, "DR-POSSESS": 0.030,
    "DR-TRAFFIC": 0.005, "PO-ORDER": 0.050, "WE-POSSESS": 0.008, "OT-MISC": 0.1028,
}  # fmt: skip
"""Synthetic offence mix [share of incidents]; the shares sum to 1."""

HARM_DAYS: dict[str, float] = {
    "VI-HOMICIDE": 5475.0, "SX-RAPE": 1825.0, "RO-PERSON": 365.0, "RO-BUSINESS": 365.0,
    "VI-GBH": 365.0, "BU-RES": 40.0, "BU-NONRES": 20.0, "SX-OTHER": 60.0, "DR-TRAFFIC": 730.0,
    "VI-ASSAULT": 10.0, "VE-THEFT": 10.0, "CD-ARSON": 30.0, "WE-POSSESS": 60.0,
}  # fmt: skip
"""Illustrative harm weights in the style of the Cambridge Crime Harm Index [day of
imprisonment per offence] (Sherman, Neyroud and Neyroud 2016, doi:10.1093/police/paw003);
not the official values."""


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def synthetic_areas(
    n_areas: int,
    *,
    seed: int | np.random.Generator | None = None,
    polygons: bool = False,
    cell_size: float = 1000.0,
) -> pd.DataFrame:
    """Areas for synthetic incidents: id, population, district (and square polygons).

    Parameters
    ----------
    n_areas : int
        Number of areas [count].
    seed : int or Generator, optional
        Randomness; one seed always gives one output.
    polygons : bool, default False
        Return a GeoDataFrame of ``cell_size`` squares on a grid in a metric CRS
        (EPSG:3035, [m]), for spatial joins (needs ``securindex[geo]``).
    cell_size : float, default 1000
        Side of each square [m].

    Returns
    -------
    DataFrame
        ``area`` (text id), ``population`` [inhabitant; lognormal around 3 000, with a few
        areas of 0 — parks, industrial zones], ``district`` (100 areas each), and
        ``geometry`` when ``polygons``.
    """
    rng = _rng(seed)
    population = np.round(rng.lognormal(np.log(3000.0), 0.5, n_areas))
    population[rng.random(n_areas) < 0.002] = 0.0
    frame = pd.DataFrame(
        {
            "area": [f"A{i:06d}" for i in range(n_areas)],
            "population": population,
            "district": [f"D{i // 100:04d}" for i in range(n_areas)],
        }
    )
    if not polygons:
        return frame
    gpd = geopandas_module("synthetic polygons")
    import shapely

    side = int(np.ceil(np.sqrt(n_areas)))
    col, row = np.divmod(np.arange(n_areas), side)
    x0 = 4_000_000.0 + col * cell_size
    y0 = 3_000_000.0 + row * cell_size
    boxes = shapely.box(x0, y0, x0 + cell_size, y0 + cell_size)
    return gpd.GeoDataFrame(frame, geometry=boxes, crs="EPSG:3035")


def synthetic_incidents(
    n_incidents: int,
    areas: pd.DataFrame,
    *,
    start: str = "2015-01",
    n_months: int = 120,
    seed: int | np.random.Generator | None = None,
    points: bool = False,
    cell_size: float = 1000.0,
    mix: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Realistic synthetic incident records (seeded), vectorised.

    Areas differ strongly in risk (a lognormal rate per inhabitant, sd 0.8 on the log
    scale, so a few hot spots hold much of the crime, as in real cities), months follow a
    seasonal cycle (+15 % in summer) and a slow trend, offence codes follow the skewed
    :data:`OFFENCE_MIX`.

    Parameters
    ----------
    n_incidents : int
        Number of records [count].
    areas : DataFrame
        From :func:`synthetic_areas` (``area``, ``population``).
    start : str, default "2015-01"
        First month.
    n_months : int, default 120
        Months covered [month].
    seed : int or Generator, optional
        Randomness.
    points : bool, default False
        Add ``x``, ``y`` [m, EPSG:3035] uniformly inside each area's square of
        :func:`synthetic_areas` ``(polygons=True)``.
    mix : mapping, optional
        Offence code → share, default :data:`OFFENCE_MIX`.

    Returns
    -------
    DataFrame
        ``occurred`` (datetime64), ``area`` (text), ``offence`` (text), and ``x``, ``y``.
    """
    rng = _rng(seed)
    mix = dict(mix or OFFENCE_MIX)
    codes = np.asarray(list(mix), dtype=object)
    shares = np.asarray(list(mix.values()), dtype=np.float64)
    n_areas = len(areas)
    rate = rng.lognormal(0.0, 0.8, n_areas) * np.maximum(areas["population"].to_numpy(), 50.0)
    area = rng.choice(n_areas, size=n_incidents, p=rate / rate.sum())
    month0 = np.datetime64(pd.Timestamp(start).strftime("%Y-%m"), "M")
    months = np.arange(n_months)
    calendar = (month0 + months).astype(np.int64) % 12
    weight = (1 + 0.15 * np.sin(2 * np.pi * (calendar - 3) / 12)) * (1 + 0.002 * months)
    month = rng.choice(n_months, size=n_incidents, p=weight / weight.sum())
    first_day = (month0 + month).astype("datetime64[D]")
    length = ((month0 + month + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    seconds = (rng.random(n_incidents) * length * 86400).astype(np.int64)
    occurred = first_day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    offence = rng.choice(len(codes), size=n_incidents, p=shares / shares.sum())
    area_ids = areas["area"].to_numpy()
    frame = pd.DataFrame(
        {
            "occurred": occurred.astype("datetime64[ns]"),
            "area": pd.Categorical.from_codes(area, categories=pd.Index(area_ids)).astype(str),
            "offence": pd.Categorical.from_codes(offence, categories=pd.Index(codes)).astype(str),
        }
    )
    if points:
        side = int(np.ceil(np.sqrt(n_areas)))
        col, row = np.divmod(area, side)
        frame["x"] = 4_000_000.0 + (col + rng.random(n_incidents)) * cell_size
        frame["y"] = 3_000_000.0 + (row + rng.random(n_incidents)) * cell_size
    return frame


def incidents_from_counts(
    counts: pd.DataFrame,
    *,
    entity: str,
    period: str,
    codes: Mapping[str, str],
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Expand yearly counts into one synthetic record per counted incident.

    This *derives* incident-shaped rows from published aggregates (e.g. the NYPD or Berlin
    yearly counts shipped in ``securindex.datasets``) so the incident path can be shown on
    real-shaped data; the dates inside each year are random (seeded), not real.

    Parameters
    ----------
    counts : DataFrame
        One row per (entity, year) with one count column per offence [count].
    entity, period : str
        The entity and year columns.
    codes : mapping
        Count column → offence code written on its records.
    seed : int or Generator, optional
        Randomness of the dates.

    Returns
    -------
    DataFrame
        ``area``, ``date`` (text, ISO), ``offence``: one row per incident.
    """
    rng = _rng(seed)
    frames = []
    for column, code in codes.items():  # a loop over offence columns, not rows
        n = counts[column].fillna(0).to_numpy().astype(np.int64)
        rows = np.repeat(np.arange(len(counts)), n)
        years = counts[period].to_numpy().astype(np.int64)[rows]
        start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        length = ((years - 1969).astype("datetime64[Y]").astype("datetime64[D]") - start).astype(
            np.int64
        )
        day = start + (rng.random(len(rows)) * length).astype(np.int64).astype("timedelta64[D]")
        frames.append(
            pd.DataFrame(
                {
                    "area": counts[entity].to_numpy()[rows],
                    "date": np.datetime_as_string(day, unit="D"),
                    "offence": code,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def staggered_panel_example(
    *,
    n_entities: int = 60,
    n_periods: int = 12,
    cohorts: tuple[int, ...] = (4, 7, 10),
    never_treated_share: float = 0.25,
    effect: str = "homogeneous",
    size: float = 1.0,
    noise: float = 0.5,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """A simulated panel with a staggered roll-out and a known effect (not real data).

    ``y_it = α_i + γ_t + τ_it + ε_it`` with entity effects ``α_i ~ N(0, 1)``, a common
    trend ``γ_t = 0.3 t`` and noise ``ε ~ N(0, noise²)``. Entities are assigned in turn
    to the cohorts (first treated period, 1-based) or to never treated. The true effect
    ``τ_it`` (0 before the start) is, with ``e`` the periods since the start:

    * ``"homogeneous"``: ``size``;
    * ``"dynamic"``: ``size · (e + 1)`` — it grows with time since adoption;
    * ``"heterogeneous"``: ``size · (k + 1)`` for the ``k``-th cohort — earlier cohorts
      gain less.

    With dynamic or cohort-heterogeneous effects a static two-way fixed-effects regression
    is biased (Goodman-Bacon 2021, doi:10.1016/j.jeconom.2021.03.014).

    Returns
    -------
    pandas.DataFrame
        ``entity``, ``period`` (1 … n_periods), ``first_treated`` (0 = never),
        ``treated`` (0/1), ``outcome`` and ``true_effect`` [outcome unit].

    Examples
    --------
    >>> df = staggered_panel_example(seed=0)
    >>> sorted(df["first_treated"].unique().tolist())
    [0, 4, 7, 10]
    """
    if effect not in ("homogeneous", "dynamic", "heterogeneous"):
        raise ValueError(f"effect must be homogeneous, dynamic or heterogeneous; got {effect!r}")
    rng = _rng(seed)
    n_never = round(n_entities * never_treated_share)
    starts = np.zeros(n_entities, dtype="int64")
    treated_ids = np.arange(n_never, n_entities)
    starts[treated_ids] = np.array(cohorts)[np.arange(len(treated_ids)) % len(cohorts)]
    t = np.arange(1, n_periods + 1)
    alpha = rng.normal(0.0, 1.0, n_entities)
    e = t[None, :] - starts[:, None]
    on = (starts[:, None] > 0) & (e >= 0)
    if effect == "homogeneous":
        tau = np.where(on, size, 0.0)
    elif effect == "dynamic":
        tau = np.where(on, size * (e + 1.0), 0.0)
    else:
        rank = np.searchsorted(np.array(cohorts), starts)
        tau = np.where(on, size * (rank[:, None] + 1.0), 0.0)
    y = alpha[:, None] + 0.3 * t[None, :] + tau + rng.normal(0.0, noise, on.shape)
    return pd.DataFrame(
        {
            "entity": np.repeat([f"e{i:03d}" for i in range(n_entities)], n_periods),
            "period": np.tile(t, n_entities),
            "first_treated": np.repeat(starts, n_periods),
            "treated": on.ravel().astype("int64"),
            "outcome": y.ravel(),
            "true_effect": tau.ravel(),
        }
    )
