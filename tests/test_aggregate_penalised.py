"""Tests of securindex.methods.aggregate_penalised (mean–min, OWA) and of the AMPI
normaliser: hand-computed cases and Compind 3.4's algorithms (``ci_mean_min``,
``ci_owa``, ``ci_ampi``) transliterated from its published R source, run on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from securindex.dataset import Panel
from securindex.errors import SpecError
from securindex.framework import Framework
from securindex.methods.aggregate import aggregators
from securindex.methods.normalise import normalisers

RNG = np.random.default_rng(5)
DATA = RNG.lognormal(1.0, 0.4, size=(12, 4))


def _panel(x: np.ndarray, periods: int = 1) -> Panel:
    n = x.shape[0] // periods
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
    frame["entity"] = np.tile([f"e{i:02d}" for i in range(n)], periods)
    frame["period"] = np.repeat(np.arange(2020, 2020 + periods), n)
    dictionary = {
        "entity": "entity",
        "period": "period",
        "variables": {c: {"unit": "dimensionless"} for c in frame.columns[: x.shape[1]]},
    }
    return Panel.from_frame(frame, dictionary=dictionary)


def _framework(normalise: dict, aggregate: dict, polarity: list[str] | None = None) -> Framework:
    k = DATA.shape[1]
    polarity = polarity or ["positive"] * k
    return Framework.from_spec(
        {
            "id": "ci",
            "columns": {f"x{j}": polarity[j] for j in range(k)},
            "pipeline": {"normalise": normalise, "aggregate": aggregate},
            "root": {"children": [f"x{j}" for j in range(k)]},
        }
    )


# -- mean-min --------------------------------------------------------------------------------


def test_mean_min_by_hand() -> None:
    z = np.array([[100.0, 100.0, 100.0], [90.0, 100.0, 110.0], [80.0, 120.0, np.nan]])
    out = aggregators.get("mean_min")(z, None, alpha=0.5, beta=2.0)
    # row 2: M = 100, m = 90: 100 - 0.5 (sqrt(100 + 4) - 2); row 3: M = 100, m = 80
    np.testing.assert_allclose(
        out, [100.0, 100 - 0.5 * (np.sqrt(104) - 2), 100 - 0.5 * (np.sqrt(404) - 2)], rtol=1e-12
    )
    with pytest.raises(SpecError, match="alpha"):
        aggregators.get("mean_min")(z, None, alpha=1.5)


def _compind_mean_min(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """ci_mean_min (Compind 3.4) line by line: z = (x - colMeans) / sd * 10 + 100 (R's sd,
    n - 1), then Ma_z - alpha * (sqrt((Ma_z - min)^2 + beta^2) - beta)."""
    ma = x.mean(axis=0)
    sqm = x.std(axis=0, ddof=1)
    z = (x - ma) / sqm * 10 + 100
    ma_z = z.mean(axis=1)
    min_col = z.min(axis=1)
    return ma_z - alpha * (np.sqrt((ma_z - min_col) ** 2 + beta**2) - beta)


def test_mean_min_in_a_framework_equals_compind() -> None:
    fw = _framework(
        {"method": "zscore", "mean": 100, "sd": 10},
        {"method": "mean_min", "alpha": 0.6, "beta": 1.5},
    )
    result = fw.compute(_panel(DATA))
    np.testing.assert_allclose(
        result.index.to_numpy(), _compind_mean_min(DATA, 0.6, 1.5), rtol=1e-12
    )


# -- OWA -------------------------------------------------------------------------------------


def _compind_owa(x: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    """ci_owa (Compind 3.4): each unit's values sorted decreasing; wp puts 1/j on the last j
    (CI_OWA_n), wn on the first j (CI_OWA_p)."""
    n = x.shape[1]
    ordered = -np.sort(-x, axis=1)
    wp = np.r_[np.zeros(n - j), np.full(j, 1 / j)]
    wn = np.r_[np.full(j, 1 / j), np.zeros(n - j)]
    return ordered @ wp, ordered @ wn


@pytest.mark.parametrize("j", [1, 2, 3, 4])
def test_owa_equals_compind(j: int) -> None:
    low, high = _compind_owa(DATA, j)
    owa = aggregators.get("owa")
    np.testing.assert_allclose(owa(DATA, None, j=j), low, rtol=1e-12)
    np.testing.assert_allclose(owa(DATA, None, j=j, side="highest"), high, rtol=1e-12)
    if j == 1:
        np.testing.assert_allclose(low, aggregators.get("minimum")(DATA, None), rtol=1e-12)
    if j == 4:  # all children: the mean
        np.testing.assert_allclose(low, DATA.mean(axis=1), rtol=1e-12)


def test_owa_with_missing_children_orders_the_present_ones() -> None:
    x = np.array([[5.0, np.nan, 1.0, 3.0], [np.nan] * 4])
    out = aggregators.get("owa")(x, None, j=2)
    assert out[0] == 2.0 and np.isnan(out[1])


# -- AMPI ------------------------------------------------------------------------------------


def _compind_ampi(
    x: np.ndarray, time: np.ndarray, gp: np.ndarray, polarity: list[str]
) -> np.ndarray:
    """ci_ampi (Compind 3.4) line by line: goalposts gp -+ (max - min) / 2 over ALL periods,
    r = (x - min) / (max - min) * 60 + 70 (mirrored for NEG), then per unit the mean minus
    sd * cv with the population sd, rounded to 3 decimals (its penalty is always NEG)."""
    delta = (x.max(axis=0) - x.min(axis=0)) / 2
    maxim, minim = gp + delta, gp - delta
    norm = np.empty_like(x)
    for i, pol in enumerate(polarity):
        if pol == "POS":
            norm[:, i] = (x[:, i] - minim[i]) / (maxim[i] - minim[i]) * 60 + 70
        else:
            norm[:, i] = (maxim[i] - x[:, i]) / (maxim[i] - minim[i]) * 60 + 70
    ma = norm.mean(axis=1)
    sqm = norm.std(axis=1, ddof=0)
    cv = sqm / ma
    return np.round(ma - sqm * cv, 3)


def test_ampi_equals_compind_over_two_periods() -> None:
    x = DATA  # 6 units x 2 periods
    time = np.repeat([2020, 2021], 6)
    gp = x[time == 2020].mean(axis=0)  # the base year's means: Mazziotta & Pareto's reference
    polarity = ["POS", "NEG", "POS", "POS"]
    fw = _framework(
        {"method": "ampi", "centre": gp.tolist()},
        {"method": "mazziotta_pareto", "ddof": 0},
        ["positive" if p == "POS" else "negative" for p in polarity],
    )
    result = fw.compute(_panel(x, periods=2))
    ours = np.round(result.index.to_numpy(), 3)
    np.testing.assert_array_equal(ours, _compind_ampi(x, time, gp, polarity))


def test_ampi_centre_defaults_to_the_mean_and_maps_it_to_100() -> None:
    x = np.array([[1.0], [2.0], [6.0]])
    result = normalisers.get("ampi")(x, direction=[1])
    # centre 3, half range 2.5: goalposts 0.5 and 5.5
    np.testing.assert_allclose(result.values.ravel(), 70 + 60 * (x.ravel() - 0.5) / 5, rtol=1e-12)
    np.testing.assert_allclose(result.learnt["lo"], [0.5])
