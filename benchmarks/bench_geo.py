"""Benchmark: spatial formula functions and statistics, relative to libpysal and esda.

Over a synthetic grid of square areas (``--side`` × ``--side``, default 50 × 50 = 2 500
areas) and ``--periods`` periods (default 20), prints ``name = value`` lines:

* ``spatial_lag_seconds``: ``spatial_lag(x)`` in a formula over the whole panel (one sparse
  product over the entity × period grid), weights built on first use included;
* ``lag_loop_seconds``: a baseline, libpysal's ``lag_spatial`` called period by period
  with prebuilt weights; ``lag_loop_with_weights_seconds``: the same loop with building the
  queen weights (``Queen.from_dataframe``) included, as the formula must;
* ``spatial_lag_over_loop``, ``spatial_lag_over_loop_with_weights``: the ratios (building
  the weights dominates: the products themselves are one sparse product for all periods);
* ``within_seconds``: ``within(x, 2 km)`` over the whole panel (k-d tree of centroids);
* ``morans_i_seconds`` / ``esda_moran_seconds`` / ``morans_i_over_esda``: global Moran's I
  with 99 permutations for one period through securindex and esda directly, without and
  with building the weights (securindex builds them from the polygons on every call).

Run ``python benchmarks/bench_geo.py`` (``--side 20`` for a quick run).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def _best(function: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=50)
    parser.add_argument("--periods", type=int, default=20)
    args = parser.parse_args()

    import esda
    import geopandas as gpd
    import libpysal
    from shapely.geometry import box

    from securindex import Catalogue, Indicator, Panel
    from securindex.geo.autocorrelation import morans_i

    side, n_periods = args.side, args.periods
    cells = [
        box(i * 500.0, j * 500.0, (i + 1) * 500.0, (j + 1) * 500.0)
        for j in range(side)
        for i in range(side)
    ]
    keys = [f"a{k}" for k in range(side * side)]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "key": np.repeat(keys, n_periods),
            "period": np.tile(np.arange(2000, 2000 + n_periods), len(keys)),
            "x": rng.gamma(2.0, 10.0, len(keys) * n_periods),
        }
    )
    polygons = gpd.GeoDataFrame({"key": keys}, geometry=cells, crs="EPSG:32616")
    panel = Panel.from_frame(
        frame, entity="key", period="period", units={"x": "count"}, areas=polygons
    )

    def indicator(formula: str) -> Catalogue:
        return Catalogue(
            [
                Indicator(
                    id="y",
                    name="y",
                    category="crime",
                    polarity="negative",
                    formula=formula,
                    unit="count",
                    inputs={"x": {"unit": "count"}},
                    constants={"radius": {"value": 2, "unit": "km"}},
                )
            ]
        )

    lag = indicator("spatial_lag(x)")
    within = indicator("within(x, radius)")
    spatial_lag_seconds = _best(lambda: lag.compute(panel))
    within_seconds = _best(lambda: within.compute(panel))

    w = libpysal.weights.Queen.from_dataframe(polygons.set_index("key"), use_index=True)
    w.transform = "r"
    wide = frame.pivot(index="key", columns="period", values="x").loc[w.id_order]

    def loop() -> None:
        for period in wide.columns:
            libpysal.weights.lag_spatial(w, wide[period].to_numpy())

    lag_loop_seconds = _best(loop)

    def loop_with_weights() -> None:
        built = libpysal.weights.Queen.from_dataframe(polygons.set_index("key"), use_index=True)
        built.transform = "r"
        for period in wide.columns:
            libpysal.weights.lag_spatial(built, wide[period].to_numpy())

    lag_loop_weights_seconds = _best(loop_with_weights)

    one = frame[frame["period"] == 2000].set_index("key")["x"].rename("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _best(lambda: morans_i(one, areas=panel.areas, permutations=99, seed=0))
        theirs = _best(lambda: esda.Moran(one.loc[w.id_order].to_numpy(), w, permutations=99))

        def esda_with_weights() -> None:
            built = libpysal.weights.Queen.from_dataframe(polygons.set_index("key"), use_index=True)
            esda.Moran(one.loc[built.id_order].to_numpy(), built, permutations=99)

        theirs_weights = _best(esda_with_weights)
    print(f"areas = {side * side}")
    print(f"periods = {n_periods}")
    print(f"spatial_lag_seconds = {spatial_lag_seconds:.4f}")
    print(f"lag_loop_seconds = {lag_loop_seconds:.4f}")
    print(f"lag_loop_with_weights_seconds = {lag_loop_weights_seconds:.4f}")
    print(f"spatial_lag_over_loop = {spatial_lag_seconds / lag_loop_seconds:.2f}")
    print(
        f"spatial_lag_over_loop_with_weights = {spatial_lag_seconds / lag_loop_weights_seconds:.2f}"
    )
    print(f"within_seconds = {within_seconds:.4f}")
    print(f"morans_i_seconds = {ours:.4f}")
    print(f"esda_moran_seconds = {theirs:.4f}")
    print(f"esda_moran_with_weights_seconds = {theirs_weights:.4f}")
    print(f"morans_i_over_esda = {ours / theirs:.2f}")
    print(f"morans_i_over_esda_with_weights = {ours / theirs_weights:.2f}")


if __name__ == "__main__":
    main()
