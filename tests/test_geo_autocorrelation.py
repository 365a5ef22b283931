"""Spatial weights and statistics, checked against esda run directly on the same data and
against the published Columbus value (Anselin 1988)."""

from __future__ import annotations

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from securindex import DataError, Panel, SpecError
from securindex.geo import AreasWarning, read_areas
from securindex.geo.autocorrelation import ADJUSTMENTS, getis_ord, local_morans, morans_i
from securindex.geo.weights import WEIGHTS, neighbour_table, spatial_weights

TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def chicago() -> Panel:
    return Panel.example("chicago_hardship")


@pytest.fixture(scope="module")
def chicago_original() -> tuple[np.ndarray, libpysal.weights.W]:
    """hardship_index with queen weights that libpysal builds from its own (unrounded)
    Chicago77.shp: the reference computation. Rows in area-number order, as the shipped
    panel, so that seeded permutations draw the same areas."""
    original = gpd.read_file(libpysal.examples.get_path("Chicago77.shp"))
    ids = original["AREA_NUMBE"].astype(str).tolist()
    w = libpysal.weights.Queen.from_dataframe(original, ids=ids, use_index=False)
    w.id_order = sorted(ids, key=int)
    w.transform = "r"
    data = Panel.example("chicago_hardship").frame["hardship_index"].droplevel("period")
    y = data.loc[w.id_order].to_numpy(dtype=float)
    return y, w


def _seed_of(seed: int) -> int:
    """The integer securindex hands esda for ``seed`` (see autocorrelation._esda_random)."""
    return int(np.random.default_rng(seed).integers(0, 2**31 - 1))


def _in_original_order(table: pd.DataFrame, column: str) -> np.ndarray:
    indexed = table.set_index(table["entity"].astype(str))[column]
    return indexed.loc[[str(k) for k in range(1, 78)]].to_numpy()


# ------------------------------------------------------------------------------------------
# global Moran's I
# ------------------------------------------------------------------------------------------
def test_columbus_crime_morans_i_is_the_published_value() -> None:
    """Anselin (1988), Spatial Econometrics, Table 12.1 data; queen, row-standardised:
    I = 0.500189 (PySAL's documented value 0.5001885571828611)."""
    columbus = gpd.read_file(libpysal.examples.get_path("columbus.shp"))
    with pytest.warns(AreasWarning, match="no coordinate reference system"):
        areas = read_areas(columbus, key="POLYID")
    crime = pd.Series(columbus["CRIME"].to_numpy(), index=columbus["POLYID"].astype(str))
    table = morans_i(crime.rename("CRIME"), areas=areas, seed=0)
    assert table.loc[0, "I"] == pytest.approx(0.500189, abs=5e-7)
    w = libpysal.weights.Queen.from_dataframe(columbus, use_index=False)
    w.transform = "r"
    reference = esda.Moran(columbus["CRIME"].to_numpy(), w, permutations=0)
    assert abs(table.loc[0, "I"] - reference.I) < TOLERANCE
    assert abs(table.loc[0, "z_normal"] - reference.z_norm) < TOLERANCE
    assert table.loc[0, "expected_I"] == pytest.approx(-1 / 48, abs=TOLERANCE)


def test_chicago_hardship_morans_i_equals_esda_on_the_original_file(
    chicago, chicago_original
) -> None:
    y, w = chicago_original
    table = morans_i(chicago, "hardship_index", seed=7)
    np.random.seed(_seed_of(7))  # noqa: NPY002 - esda permutes with the legacy generator
    reference = esda.Moran(y, w, permutations=999)
    row = table.iloc[0]
    assert row["n_areas"] == 77 and row["n_missing"] == 0 and row["n_islands"] == 0
    for ours, theirs in [
        ("I", reference.I),
        ("z_normal", reference.z_norm),
        ("p_normal", reference.p_norm),
        ("p_sim", reference.p_sim),
        ("z_sim", reference.z_sim),
    ]:
        assert abs(row[ours] - theirs) < TOLERANCE, ours
    assert row["I"] == pytest.approx(0.534082, abs=1e-6)  # quoted in SOURCE.md


def test_seed_gives_one_output_and_leaves_numpys_global_state_alone(chicago) -> None:
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    first = morans_i(chicago, "hardship_index", seed=3)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    again = morans_i(chicago, "hardship_index", seed=3)
    assert first["p_sim"].equals(again["p_sim"]) and first["z_sim"].equals(again["z_sim"])


# ------------------------------------------------------------------------------------------
# local statistics
# ------------------------------------------------------------------------------------------
def test_local_moran_equals_esda_with_clusters_and_fdr(chicago, chicago_original) -> None:
    y, w = chicago_original
    table = local_morans(chicago, "hardship_index", seed=11, adjust="fdr")
    reference = esda.Moran_Local(y, w, permutations=999, seed=_seed_of(11), n_jobs=1)
    assert np.abs(_in_original_order(table, "I") - reference.Is).max() < TOLERANCE
    assert np.abs(_in_original_order(table, "p_sim") - reference.p_sim).max() < TOLERANCE
    quadrants = pd.Series(reference.q).map({1: "HH", 2: "LH", 3: "LL", 4: "HL"}).to_numpy()
    assert (_in_original_order(table, "quadrant") == quadrants).all()
    threshold = esda.fdr(reference.p_sim, 0.05)
    expected = np.where(reference.p_sim <= threshold, quadrants, "not significant")
    assert (_in_original_order(table, "cluster") == expected).all()
    assert table["threshold"].iloc[0] == pytest.approx(threshold, abs=TOLERANCE)
    lag = libpysal.weights.lag_spatial(w, y)
    assert np.abs(_in_original_order(table, "lag") - lag).max() < TOLERANCE
    # the clusters esda itself labels at the unadjusted 5 % level
    unadjusted = local_morans(chicago, "hardship_index", seed=11, adjust="none")
    labels = reference.get_cluster_labels(0.05)
    assert (
        (_in_original_order(unadjusted, "cluster") == "not significant")
        == (labels == "Insignificant")
    ).all()
    hh = _in_original_order(unadjusted, "cluster") == "HH"
    assert (labels[hh] == "High-High").all()


def test_bonferroni_threshold_is_alpha_over_n(chicago) -> None:
    table = local_morans(chicago, "hardship_index", seed=1, adjust="bonferroni", alpha=0.1)
    assert table["threshold"].iloc[0] == pytest.approx(0.1 / 77, abs=TOLERANCE)
    assert set(ADJUSTMENTS) >= {"none", "fdr", "bonferroni"}
    with pytest.raises(SpecError, match="unknown adjustment 'holm'"):
        local_morans(chicago, "hardship_index", adjust="holm")


def test_getis_ord_gi_star_equals_esda(chicago, chicago_original) -> None:
    y, w = chicago_original
    table = getis_ord(chicago, "hardship_index", seed=5, adjust="none")
    binary = libpysal.weights.W(dict(w.neighbors), id_order=w.id_order)  # Gi*: binary + self
    reference = esda.G_Local(
        y, binary, transform="B", star=True, permutations=999, seed=_seed_of(5), n_jobs=1
    )
    assert np.abs(_in_original_order(table, "G") - reference.Gs).max() < TOLERANCE
    assert np.abs(_in_original_order(table, "z") - reference.Zs).max() < TOLERANCE
    assert np.abs(_in_original_order(table, "p_sim") - reference.p_sim).max() < TOLERANCE
    # by hand: Gi* of area 1 is the share of the total in itself and its neighbours
    first = w.id_order.index("1")
    own = [w.id_order.index(n) for n in w.neighbors["1"]] + [first]
    assert _in_original_order(table, "G")[0] == pytest.approx(y[own].sum() / y.sum(), abs=TOLERANCE)
    hot = _in_original_order(table, "cluster") == "hot spot"
    assert ((reference.Zs[hot] > 0) & (reference.p_sim[hot] <= 0.05)).all()
    assert hot.sum() == int(((reference.Zs > 0) & (reference.p_sim <= 0.05)).sum())


def test_getis_ord_refuses_negative_values() -> None:
    grid = _grid()
    values = pd.Series(np.linspace(-1, 1, 9), index=grid["key"], name="z")
    with pytest.raises(DataError, match="non-negative"):
        getis_ord(values, areas=read_areas(grid, key="key"))


# ------------------------------------------------------------------------------------------
# missing values, islands, weights
# ------------------------------------------------------------------------------------------
def _grid(n: int = 3) -> gpd.GeoDataFrame:
    x0, y0 = 445_000, 4_635_000
    cells = [
        box(x0 + i * 1000, y0 + j * 1000, x0 + (i + 1) * 1000, y0 + (j + 1) * 1000)
        for j in range(n)
        for i in range(n)
    ]
    return gpd.GeoDataFrame(
        {"key": [f"a{k}" for k in range(n * n)]}, geometry=cells, crs="EPSG:32616"
    )


def test_missing_values_are_left_out_and_counted() -> None:
    grid = _grid(4)
    areas = read_areas(grid, key="key")
    values = pd.Series(np.arange(16.0) ** 1.5, index=grid["key"], name="v")
    values.iloc[5] = np.nan
    table = morans_i(values, areas=areas, permutations=0)
    assert table.loc[0, "n_areas"] == 15 and table.loc[0, "n_missing"] == 1
    kept = grid[grid["key"] != "a5"].reset_index(drop=True)
    w = libpysal.weights.Queen.from_dataframe(kept, use_index=False)
    w.transform = "r"
    reference = esda.Moran(values.drop("a5").to_numpy(), w, permutations=0)
    assert abs(table.loc[0, "I"] - reference.I) < TOLERANCE
    local = local_morans(values, areas=areas, seed=0)
    assert local.set_index("entity").loc["a5", "cluster"] == "no data"


def test_islands_are_reported_excluded_or_joined_to_their_nearest_area() -> None:
    grid = _grid()
    island = gpd.GeoDataFrame(
        {"key": ["far"]}, geometry=[box(460_000, 4_650_000, 461_000, 4_651_000)], crs=grid.crs
    )
    with_island = pd.concat([grid, island], ignore_index=True)
    areas = read_areas(with_island, key="key")
    values = pd.Series(np.arange(10.0), index=with_island["key"], name="v")
    with pytest.warns(AreasWarning, match=r"1 area\(s\) have no neighbours .*: far; left out"):
        weights = spatial_weights(areas)
    assert weights.islands == ("far",)
    table = morans_i(values, areas=areas, permutations=0)
    assert table.loc[0, "n_islands"] == 1 and table.loc[0, "n_areas"] == 9
    assert (
        abs(
            table.loc[0, "I"]
            - morans_i(values.iloc[:9], areas=read_areas(grid, key="key"), permutations=0).loc[
                0, "I"
            ]
        )
        < TOLERANCE
    )
    local = local_morans(values, areas=areas, seed=0)
    assert local.set_index("entity").loc["far", "cluster"] == "island"
    joined = areas.with_weights({"method": "queen", "islands": "nearest"})
    with pytest.warns(AreasWarning, match="joined to their nearest area"):
        attached = spatial_weights(joined)
    assert attached.attached == ("far",) and attached.w.cardinalities["far"] == 1
    assert "a8" in attached.w.neighbors["far"]  # the nearest cell: the top-right corner
    nearest = morans_i(values, areas=joined, permutations=0)
    assert nearest.loc[0, "n_islands"] == 0 and nearest.loc[0, "n_areas"] == 10


def test_weights_methods_match_libpysal() -> None:
    grid = _grid()
    areas = read_areas(grid, key="key")
    assert set(WEIGHTS) >= {"queen", "rook", "knn", "distance_band"}
    assert spatial_weights(areas, {"method": "queen"}).w.cardinalities["a4"] == 8
    assert spatial_weights(areas, {"method": "rook"}).w.cardinalities["a4"] == 4
    knn = spatial_weights(areas, {"method": "knn", "k": 2})
    assert set(knn.w.cardinalities.values()) == {2}
    band = spatial_weights(areas, {"method": "distance_band", "threshold": "1.01 km"})
    assert band.w.cardinalities["a4"] == 4 and band.w.cardinalities["a0"] == 2
    rows = neighbour_table(band)
    assert np.allclose(rows.groupby("area")["weight"].sum(), 1.0)  # row-standardised
    with pytest.raises(SpecError, match="needs k"):
        spatial_weights(areas, {"method": "knn"})
    with pytest.raises(SpecError, match="unknown weights method 'hexagon'; registered: "):
        spatial_weights(areas, {"method": "hexagon"})
    with pytest.raises(ValueError, match="threshold must be a distance"):
        spatial_weights(areas, {"method": "distance_band", "threshold": "3 kg"})


def test_statistics_need_polygons() -> None:
    values = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"], name="v")
    with pytest.raises(DataError, match="has no area polygons"):
        morans_i(values)
