"""Spatial formula functions: spatial_lag(x) and within(x, distance)."""

from __future__ import annotations

import warnings

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from securindex import Catalogue, FormulaError, Indicator, Panel
from securindex.errors import FormulaUnitError
from securindex.formula import parse_formula


def _indicator(formula: str, **constants: dict[str, object]) -> Indicator:
    return Indicator(
        id="spatial",
        name="Spatial",
        category="social",
        polarity="negative",
        formula=formula,
        unit="percent",
        inputs={"pct_households_poverty": {"unit": "percent"}},
        constants=constants,
    )


@pytest.fixture(scope="module")
def chicago() -> Panel:
    return Panel.example("chicago_hardship")


def test_spatial_lag_equals_libpysal_lag(chicago: Panel) -> None:
    values = Catalogue([_indicator("spatial_lag(pct_households_poverty)")]).compute(chicago)
    areas = chicago.areas
    w = libpysal.weights.Queen.from_dataframe(
        areas.to_frame(), ids=list(areas.keys), use_index=False
    )
    w.transform = "r"
    y = chicago.frame["pct_households_poverty"].droplevel("period").loc[w.id_order]
    expected = libpysal.weights.lag_spatial(w, y.to_numpy())
    ours = values.frame["spatial"].droplevel("period").loc[w.id_order].to_numpy()
    assert np.abs(ours - expected).max() < 1e-12
    assert values.audit.empty


def test_within_sums_areas_whose_centroids_are_close(chicago: Panel) -> None:
    indicator = Indicator(
        id="income_nearby",
        name="Income nearby",
        category="social",
        polarity="positive",
        formula="within(per_capita_income, radius)",
        unit="USD / year",
        inputs={"per_capita_income": {"unit": "USD / year"}},
        constants={"radius": {"value": 3, "unit": "km"}},
    )
    ours = Catalogue([indicator]).compute(chicago).frame["income_nearby"].droplevel("period")
    centres = chicago.areas.geometry.centroid  # EPSG:3435, US survey feet
    x, y = centres.x.to_numpy(), centres.y.to_numpy()
    feet = 0.3048006096012192  # metres per US survey foot
    distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * feet
    income = chicago.frame["per_capita_income"].droplevel("period").loc[list(chicago.areas.keys)]
    expected = (distance <= 3000) @ income.to_numpy()
    assert np.allclose(ours.loc[list(chicago.areas.keys)].to_numpy(), expected, rtol=1e-12)


def _grid_panel(values: list[float], *, island: bool = False) -> Panel:
    cells = [box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(len(values))]
    keys = [f"c{i}" for i in range(len(values))]
    if island:
        cells[-1] = box(50_000, 50_000, 51_000, 51_000)
    frame = gpd.GeoDataFrame(
        {"key": keys, "year": 2020, "pct_households_poverty": values},
        geometry=cells,
        crs="EPSG:32616",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Panel.from_frame(
            frame, entity="key", period="year", units={"pct_households_poverty": "percent"}
        )


def test_islands_and_missing_neighbours_are_audited() -> None:
    panel = _grid_panel([10.0, np.nan, 30.0, 40.0, 5.0], island=True)
    values = Catalogue([_indicator("spatial_lag(pct_households_poverty)")]).compute(panel)
    lag = values.frame["spatial"].droplevel("period")
    # c0's only neighbour c1 is missing; c2 averages over its one known neighbour c3
    assert np.isnan(lag["c0"]) and lag["c2"] == 40.0 and lag["c3"] == 30.0
    assert lag["c1"] == pytest.approx(20.0)  # a missing area still has a lag of its neighbours
    reasons = values.audit.set_index("entity")["reason"]
    assert "no neighbour has a value" in reasons["c0"]
    assert "no neighbours (an island)" in reasons["c4"]


def test_spatial_functions_need_polygons_and_a_distance_with_a_unit() -> None:
    plain = Panel.from_frame(
        pd.DataFrame({"key": ["a", "b"], "year": 2020, "pct_households_poverty": [1.0, 2.0]}),
        entity="key",
        period="year",
        units={"pct_households_poverty": "percent"},
    )
    with pytest.raises(FormulaError, match="needs the areas' polygons") as caught:
        Catalogue([_indicator("2 * spatial_lag(pct_households_poverty)")]).compute(plain)
    assert caught.value.start == 4
    with pytest.raises(FormulaError, match="needs a unit"):
        parse_formula("within(x, 2)")
    formula = parse_formula("within(x, d)")
    with pytest.raises(FormulaUnitError, match="must be a length"):
        formula.infer_unit({"x": "count", "d": "kg"})
    assert formula.infer_unit({"x": "count", "d": "km"}).label == "count"
