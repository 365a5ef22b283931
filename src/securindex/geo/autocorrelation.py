"""Spatial autocorrelation and hot spots: global Moran's I, local Moran (LISA), Getis–Ord Gi*.

The statistics are PySAL's (:mod:`esda`); this module decides what they are computed on and
returns tidy tables. For each variable and each period it keeps the areas that have a
value (the missing ones are counted and, in the local tables, labelled ``no data``),
restricts the declared weights to them and re-standardises, and leaves out islands (areas
without neighbours, labelled ``island``) unless the weights join them to their nearest area
(``islands: nearest``). Permutation inference is seeded through ``seed``: esda draws from
NumPy's legacy global generator, so each call seeds it from ``seed`` and restores its
previous state afterwards (nothing else in the session is disturbed).

Local significance can be corrected for testing every area (``adjust``): ``none``,
``bonferroni`` (α / n) or ``fdr`` (Benjamini–Hochberg's false-discovery rate, esda's
:func:`esda.fdr`); more can be registered in :data:`ADJUSTMENTS`.

References
----------
.. [1] P. A. P. Moran (1950), Notes on continuous stochastic phenomena, Biometrika 37,
   17–23, https://doi.org/10.2307/2332142
.. [2] L. Anselin (1995), Local indicators of spatial association — LISA, Geographical
   Analysis 27(2), 93–115, https://doi.org/10.1111/j.1538-4632.1995.tb00338.x
.. [3] J. K. Ord and A. Getis (1995), Local spatial autocorrelation statistics:
   distributional issues and an application, Geographical Analysis 27(4), 286–306,
   https://doi.org/10.1111/j.1538-4632.1995.tb00912.x
.. [4] Y. Benjamini and Y. Hochberg (1995), Controlling the false discovery rate, J. R.
   Stat. Soc. B 57(1), 289–300, https://doi.org/10.1111/j.2517-6161.1995.tb02031.x
.. [5] S. J. Rey and L. Anselin (2007), PySAL: A Python Library of Spatial Analytical
   Methods, The Review of Regional Studies 37(1), 5–27.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from securindex._extras import require
from securindex.errors import DataError, SpecError
from securindex.geo.areas import Areas
from securindex.geo.values import SpatialValues, spatial_values
from securindex.geo.weights import SpatialWeights, _copy_binary, spatial_weights

__all__ = [
    "ADJUSTMENTS",
    "CLUSTER_LABELS",
    "getis_ord",
    "local_morans",
    "morans_i",
    "register_adjustment",
]

Seed = int | np.random.Generator | None

CLUSTER_LABELS: dict[int, str] = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
"""esda's quadrant codes: 1 high–high, 2 low–high, 3 low–low, 4 high–low (value–lag)."""
NOT_SIGNIFICANT = "not significant"
ISLAND = "island"
NO_DATA = "no data"
NOT_COMPUTED = "not computed"  # too few areas with values, or no variation


# =============================================================================================
# multiple-testing adjustments
# =============================================================================================
_ADJUSTMENTS: dict[str, Callable[[np.ndarray, float], float]] = {}
ADJUSTMENTS = MappingProxyType(_ADJUSTMENTS)
"""Multiple-testing adjustments, name → ``(p_values, alpha) -> p-value threshold``."""


def register_adjustment(
    name: str,
) -> Callable[[Callable[[np.ndarray, float], float]], Callable[[np.ndarray, float], float]]:
    """Register a multiple-testing adjustment: ``f(p_values, alpha) -> threshold``; an
    area is significant when its pseudo p-value is at most the threshold."""

    def decorate(
        function: Callable[[np.ndarray, float], float],
    ) -> Callable[[np.ndarray, float], float]:
        if name in _ADJUSTMENTS:
            raise SpecError(f"adjustment '{name}' is already registered")
        _ADJUSTMENTS[name] = function
        return function

    return decorate


@register_adjustment("none")
def _no_adjustment(p: np.ndarray, alpha: float) -> float:
    return alpha


@register_adjustment("bonferroni")
def _bonferroni(p: np.ndarray, alpha: float) -> float:
    return alpha / max(len(p), 1)


@register_adjustment("fdr")
def _fdr(p: np.ndarray, alpha: float) -> float:
    from esda import fdr

    return float(fdr(p, alpha)) if len(p) else alpha


def _threshold(p: np.ndarray, alpha: float, adjust: str, permutations: int = 0) -> float:
    if adjust not in _ADJUSTMENTS:
        raise SpecError(
            f"unknown adjustment '{adjust}'; registered: {', '.join(sorted(_ADJUSTMENTS))}"
        )
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be between 0 and 1; got {alpha}")
    threshold = _ADJUSTMENTS[adjust](p, alpha)
    if permutations and threshold < 1.0 / (permutations + 1):
        needed = int(np.ceil(1.0 / threshold))
        warnings.warn(
            f"with {permutations} permutations the smallest pseudo p-value is "
            f"{1 / (permutations + 1):.2g}, above the {adjust} threshold {threshold:.2g}: no "
            f"area can be significant; use at least {needed} permutations",
            UserWarning,
            stacklevel=3,
        )
    return threshold


# =============================================================================================
# what each statistic is computed on
# =============================================================================================
@dataclass(frozen=True)
class _Slice:
    """One variable in one period, ready for esda."""

    period: Any
    keys: list[str]  # areas with a value and neighbours (in weights order)
    entities: list[Any]  # the same, as the panel's entity ids
    y: np.ndarray
    weights: SpatialWeights
    missing: list[Any]  # entities without a value (or with a polygon but no row)
    islands: list[Any]  # entities left out for lack of neighbours


def _slices(
    data: SpatialValues, areas: Areas, weights: SpatialWeights | dict[str, Any] | None
) -> Iterator[_Slice]:
    values = data.values
    entities = values.index.get_level_values("entity")
    periods = values.index.get_level_values("period")
    if isinstance(weights, SpatialWeights):
        full = weights
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # islands of the full weights: reported per slice
            full = spatial_weights(areas, weights, keys=list(areas.keys))
    position = {k: i for i, k in enumerate(full.keys)}
    for period in pd.unique(periods):
        rows = np.asarray(pd.isna(periods) if pd.isna(period) else periods == period)
        y_all = values.to_numpy(dtype=np.float64)[rows]
        ids = entities[rows]
        keys = list(areas.key_of(ids))
        known = np.array([k in position for k in keys], dtype=bool)
        if not known.all():
            absent = [str(e) for e, ok in zip(ids, known, strict=True) if not ok]
            raise DataError(f"{len(absent)} area(s) have no polygon: {absent[:10]}")
        present = ~np.isnan(y_all)
        missing = [e for e, ok in zip(ids, present, strict=True) if not ok]
        missing += list(areas.without_data)
        order = sorted(np.flatnonzero(present), key=lambda i: position[keys[i]])
        sub = full.subset([keys[i] for i in order])
        island_set = set(sub.islands) if sub.spec.islands == "exclude" else set()
        kept = [i for i in order if keys[i] not in island_set]
        islands = [ids[i] for i in order if keys[i] in island_set]
        if island_set:
            sub = sub.subset([keys[i] for i in kept])
        assert sub.keys == [keys[i] for i in kept]  # y is in the weights' order
        yield _Slice(
            period=period,
            keys=[keys[i] for i in kept],
            entities=[ids[i] for i in kept],
            y=y_all[kept],
            weights=sub,
            missing=missing,
            islands=islands,
        )


@contextmanager
def _esda_random(seed: Seed) -> Iterator[int]:
    """An integer seed for esda, with NumPy's legacy global state seeded from it and
    restored on exit (esda's permutations draw from ``np.random``)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    integer = int(rng.integers(0, 2**31 - 1))
    state = np.random.get_state()  # noqa: NPY002 - saved and restored below
    np.random.seed(integer)  # noqa: NPY002 - esda draws from the legacy global generator
    try:
        yield integer
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _check(areas: Areas | None, data: SpatialValues, permutations: int) -> Areas:
    require("geo", "spatial statistics")
    areas = areas if areas is not None else data.areas
    if areas is None:
        raise DataError(
            f"'{data.name}' has no area polygons: name them in the data dictionary "
            "(areas: {file, key}) or pass areas="
        )
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 0:
        raise SpecError(f"permutations must be a whole number ≥ 0; got {permutations!r}")
    return areas


def _too_few(s: _Slice, name: str, minimum: int = 3) -> bool:
    if len(s.y) >= minimum and np.ptp(s.y) > 0:
        return False
    warnings.warn(
        f"'{name}' in period {s.period}: {len(s.y)} area(s) with a value and neighbours"
        + (" and no variation" if len(s.y) >= minimum else "")
        + "; no spatial statistic computed",
        UserWarning,
        stacklevel=3,
    )
    return True


# =============================================================================================
# global Moran's I
# =============================================================================================
def morans_i(
    source: Any,
    name: str | None = None,
    *,
    areas: Areas | None = None,
    weights: SpatialWeights | dict[str, Any] | None = None,
    permutations: int = 999,
    seed: Seed = None,
    stage: str = "raw",
) -> pd.DataFrame:
    """Global Moran's I of a variable, per period, with permutation inference.

    Parameters
    ----------
    source, name, stage
        What to test: an IndexResult and a node, ``rank_<node>`` or indicator id (default:
        the index), a Panel and a variable, or a Series (see :func:`spatial_values`).
    areas
        The polygons; default: those of ``source``.
    weights
        A :class:`SpatialWeights`, or a weights spec (``{"method": "knn", "k": 5}``);
        default: the weights declared with the areas.
    permutations
        Random permutations for the pseudo p-value (0: analytic inference only).
    seed
        Seed of the permutations (``int``, ``numpy.random.Generator`` or None).

    Returns
    -------
    DataFrame
        One row per period: ``variable, period, n_areas, n_missing, n_islands, I,
        expected_I, z_normal, p_normal, z_sim, p_sim, permutations, weights``. ``I`` is
        Moran's I [unitless], ``expected_I`` = −1/(n−1); ``p_normal`` two-sided under
        normality, ``p_sim`` the one-sided pseudo p-value (esda's convention).

    Notes
    -----
    I = (n / S₀) · Σᵢ Σⱼ wᵢⱼ zᵢ zⱼ / Σᵢ zᵢ² with z the deviations from the mean and S₀ the
    sum of the weights (n after row standardisation) [1]_.

    References
    ----------
    .. [1] P. A. P. Moran (1950), Biometrika 37, 17–23, https://doi.org/10.2307/2332142
    """
    data = spatial_values(source, name, stage=stage)
    areas = _check(areas, data, permutations)
    from esda import Moran

    rows = []
    for s in _slices(data, areas, weights):
        row: dict[str, Any] = {
            "variable": data.name,
            "period": s.period,
            "n_areas": len(s.y),
            "n_missing": len(s.missing),
            "n_islands": len(s.islands),
        }
        if _too_few(s, data.name):
            rows.append(row)
            continue
        with _esda_random(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            moran = Moran(
                s.y, s.weights.w, transformation=s.weights.spec.transform, permutations=permutations
            )
        row.update(
            I=float(moran.I),
            expected_I=float(moran.EI),
            z_normal=float(moran.z_norm),
            p_normal=float(moran.p_norm),
            z_sim=float(moran.z_sim) if permutations else np.nan,
            p_sim=float(moran.p_sim) if permutations else np.nan,
        )
        rows.append(row)
    table = pd.DataFrame(
        rows,
        columns=[
            "variable",
            "period",
            "n_areas",
            "n_missing",
            "n_islands",
            "I",
            "expected_I",
            "z_normal",
            "p_normal",
            "z_sim",
            "p_sim",
        ],
    )
    table["permutations"] = permutations
    table["weights"] = _describe(weights, areas)
    return table


def _describe(weights: SpatialWeights | dict[str, Any] | None, areas: Areas) -> str:
    spec = weights.spec if isinstance(weights, SpatialWeights) else None
    if spec is None:
        from securindex.spec.dictionary import WeightsSpec

        spec = WeightsSpec(**weights) if isinstance(weights, dict) else areas.weights
    extra = f" k={spec.k}" if spec.k else ""
    extra += f" threshold={spec.threshold}" if spec.threshold else ""
    return f"{spec.method}{extra} ({'row-standardised' if spec.transform == 'r' else 'binary'})"


# =============================================================================================
# local statistics
# =============================================================================================
def _local_frame(data: SpatialValues, s: _Slice, columns: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"variable": data.name, "period": s.period, "entity": s.entities, "value": s.y, **columns}
    )
    extra = [(e, ISLAND) for e in s.islands] + [(e, NO_DATA) for e in s.missing]
    if extra:
        values = data.values
        ids, labels = zip(*extra, strict=True)
        found = []
        for e in ids:
            key = (e, s.period)
            found.append(float(values.get(key, np.nan)) if key in values.index else np.nan)
        rest = pd.DataFrame(
            {
                "variable": data.name,
                "period": s.period,
                "entity": list(ids),
                "value": found,
                "cluster": list(labels),
            }
        )
        frame = pd.concat([frame, rest], ignore_index=True)
    return frame


def local_morans(
    source: Any,
    name: str | None = None,
    *,
    areas: Areas | None = None,
    weights: SpatialWeights | dict[str, Any] | None = None,
    permutations: int = 999,
    alpha: float = 0.05,
    adjust: str = "fdr",
    seed: Seed = None,
    stage: str = "raw",
) -> pd.DataFrame:
    """Local Moran's I (LISA) of each area, per period, with its cluster type.

    Parameters
    ----------
    source, name, stage, areas, weights, permutations, seed
        As :func:`morans_i`; ``permutations`` must be at least 1 (conditional
        randomisation gives the local pseudo p-values).
    alpha
        Significance level [unitless].
    adjust
        Multiple-testing adjustment of the local p-values (:data:`ADJUSTMENTS`):
        ``fdr`` (default), ``bonferroni`` or ``none``.

    Returns
    -------
    DataFrame
        One row per area and period: ``variable, period, entity, value, lag`` (the
        weighted mean of the neighbours' values), ``I`` (local Moran), ``p_sim``,
        ``quadrant`` (HH, LH, LL, HL: the area's value and its lag above or below the
        mean), ``threshold`` (the adjusted p-value cut-off), ``significant`` and
        ``cluster`` (the quadrant when significant, else ``not significant``; ``island``
        and ``no data`` for the areas left out).

    References
    ----------
    .. [1] L. Anselin (1995), Local indicators of spatial association — LISA,
       Geographical Analysis 27(2), 93–115,
       https://doi.org/10.1111/j.1538-4632.1995.tb00338.x
    """
    data = spatial_values(source, name, stage=stage)
    areas = _check(areas, data, permutations)
    if permutations < 1:
        raise SpecError("local Moran's significance needs permutations ≥ 1 (e.g. 999)")
    from esda import Moran_Local

    parts = []
    for s in _slices(data, areas, weights):
        if _too_few(s, data.name):
            parts.append(_local_frame(data, s, {}))
            continue
        with _esda_random(seed) as integer, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = Moran_Local(
                s.y,
                s.weights.w,
                transformation=s.weights.spec.transform,
                permutations=permutations,
                seed=integer,
                n_jobs=1,
                keep_simulations=True,
            )
        p = np.asarray(local.p_sim, dtype=np.float64)
        threshold = _threshold(p, alpha, adjust, permutations)
        quadrant = pd.Series(local.q).map(CLUSTER_LABELS).to_numpy()
        significant = p <= threshold
        lag = (
            np.asarray(s.weights.sparse() @ s.y)
            if s.weights.spec.transform == "r"
            else np.full(len(s.y), np.nan)
        )
        parts.append(
            _local_frame(
                data,
                s,
                {
                    "lag": lag,
                    "I": np.asarray(local.Is, dtype=np.float64),
                    "p_sim": p,
                    "quadrant": quadrant,
                    "threshold": threshold,
                    "significant": significant,
                    "cluster": np.where(significant, quadrant, NOT_SIGNIFICANT),
                },
            )
        )
    return _tidy(parts, ["lag", "I", "p_sim", "quadrant", "threshold", "significant", "cluster"])


def getis_ord(
    source: Any,
    name: str | None = None,
    *,
    areas: Areas | None = None,
    weights: SpatialWeights | dict[str, Any] | None = None,
    permutations: int = 999,
    alpha: float = 0.05,
    adjust: str = "fdr",
    seed: Seed = None,
    stage: str = "raw",
) -> pd.DataFrame:
    """Getis–Ord Gi* hot and cold spots of each area, per period.

    Gi* includes the area itself in its neighbourhood: it is computed on the binary
    neighbours of the declared weights with the area itself weighing 1 (esda's
    ``G_Local(transform="B", star=True)``, Ord and Getis's definition). A hot spot is an
    area whose neighbourhood's values are significantly high (z > 0), a cold spot one whose
    are significantly low.

    Parameters
    ----------
    source, name, stage, areas, weights, permutations, alpha, adjust, seed
        As :func:`local_morans`.

    Returns
    -------
    DataFrame
        One row per area and period: ``variable, period, entity, value, G`` (Gi*
        [unitless share]), ``z`` (standardised Gi* under normality), ``p_normal``,
        ``p_sim``, ``threshold``, ``significant`` and ``cluster`` (``hot spot``,
        ``cold spot``, ``not significant``, ``island``, ``no data``).

    Raises
    ------
    DataError
        Negative values (Gi* is a share of a non-negative total): use
        :func:`local_morans`.

    References
    ----------
    .. [1] J. K. Ord and A. Getis (1995), Geographical Analysis 27(4), 286–306,
       https://doi.org/10.1111/j.1538-4632.1995.tb00912.x
    """
    data = spatial_values(source, name, stage=stage)
    areas = _check(areas, data, permutations)
    if permutations < 1:
        raise SpecError("Getis–Ord significance needs permutations ≥ 1 (e.g. 999)")
    negative = data.values[data.values < 0]
    if len(negative):
        raise DataError(
            f"Getis–Ord Gi* needs non-negative values, but '{data.name}' has {len(negative)} "
            f"negative value(s) (e.g. {list(negative.index[:3])}); use local_morans instead",
        )
    from esda import G_Local

    parts = []
    for s in _slices(data, areas, weights):
        if _too_few(s, data.name):
            parts.append(_local_frame(data, s, {}))
            continue
        binary = _copy_binary(s.weights.w)  # Gi*: binary weights, the area itself weighing 1
        with _esda_random(seed) as integer, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = G_Local(
                s.y,
                binary,
                transform="B",
                permutations=permutations,
                star=True,
                keep_simulations=True,
                n_jobs=1,
                seed=integer,
            )
        p = np.asarray(local.p_sim, dtype=np.float64)
        threshold = _threshold(p, alpha, adjust, permutations)
        z = np.asarray(local.Zs, dtype=np.float64)
        significant = p <= threshold
        spot = np.where(z > 0, "hot spot", "cold spot")
        parts.append(
            _local_frame(
                data,
                s,
                {
                    "G": np.asarray(local.Gs, dtype=np.float64),
                    "z": z,
                    "p_normal": np.asarray(local.p_norm, dtype=np.float64),
                    "p_sim": p,
                    "threshold": threshold,
                    "significant": significant,
                    "cluster": np.where(significant, spot, NOT_SIGNIFICANT),
                },
            )
        )
    return _tidy(parts, ["G", "z", "p_normal", "p_sim", "threshold", "significant", "cluster"])


def _tidy(parts: Sequence[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    base = ["variable", "period", "entity", "value"]
    if not parts:
        return pd.DataFrame(columns=[*base, *columns])
    table = pd.concat(parts, ignore_index=True)
    for column in columns:
        if column not in table.columns:
            table[column] = np.nan
    if "significant" in table.columns:
        table["significant"] = table["significant"].fillna(False).astype(bool)
    table["cluster"] = table["cluster"].fillna(NOT_COMPUTED)
    return table[[*base, *columns]]
