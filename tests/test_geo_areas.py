"""Areas with geometry: reading, checks (keys, CRS, validity), joins to panels, export."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon, box

from securindex import DataError, Framework, Panel, read_dictionary
from securindex.errors import OutputError
from securindex.geo import Areas, AreasWarning, read_areas
from securindex.geo.weights import spatial_weights


def _grid(n: int = 3, crs: str | None = "EPSG:32616") -> gpd.GeoDataFrame:
    """n × n squares of 1 km near Chicago (UTM 16N), keys 'a0', 'a1', … row by row."""
    x0, y0 = 445_000, 4_635_000
    cells = [
        box(x0 + i * 1000, y0 + j * 1000, x0 + (i + 1) * 1000, y0 + (j + 1) * 1000)
        for j in range(n)
        for i in range(n)
    ]
    return gpd.GeoDataFrame({"key": [f"a{k}" for k in range(n * n)]}, geometry=cells, crs=crs)


# ------------------------------------------------------------------------------------------
# the shipped polygons
# ------------------------------------------------------------------------------------------
def test_shipped_chicago_areas_are_joined_to_the_hardship_panel() -> None:
    panel = Panel.example("chicago_hardship")
    areas = panel.areas
    assert isinstance(areas, Areas)
    assert len(areas) == 77 and areas.without_data == ()
    assert areas.crs.to_epsg() == 3435
    assert shapely.is_valid(areas.geometry.to_numpy()).all()
    rogers_park = areas.of(["1"]).to_crs("EPSG:4326").iloc[0].centroid
    assert rogers_park.y == pytest.approx(42.01, abs=0.01)
    assert rogers_park.x == pytest.approx(-87.67, abs=0.01)


def test_shipped_polygons_keep_the_original_queen_neighbours() -> None:
    """Rounding to whole feet kept every shared boundary: the same neighbours as libpysal's
    original Chicago77.shp."""
    original = gpd.read_file(libpysal.examples.get_path("Chicago77.shp"))
    queen = libpysal.weights.Queen.from_dataframe(original, use_index=False)
    by_area = {
        str(original["AREA_NUMBE"].iloc[i]): {str(original["AREA_NUMBE"].iloc[j]) for j in nbrs}
        for i, nbrs in queen.neighbors.items()
    }
    shipped = spatial_weights(Panel.example("chicago_hardship").areas)
    assert {k: set(v) for k, v in shipped.w.neighbors.items()} == by_area
    assert shipped.islands == ()
    assert np.mean(list(shipped.w.cardinalities.values())) == pytest.approx(5.168831, abs=1e-6)


def test_result_keeps_the_areas_and_writes_geopackage_and_geoparquet(tmp_path: Path) -> None:
    panel = Panel.example("chicago_hardship")
    framework = Framework.load("chicago_hardship")
    result = framework.compute(panel)
    assert result.areas is panel.areas
    assert result.rerun(normalise={"method": "zscore"}).areas is panel.areas
    gpkg = result.to_geofile(tmp_path / "scores.gpkg")
    back = gpd.read_file(gpkg, layer="scores")
    assert len(back) == 77 and back.crs.to_epsg() == 3435
    table = result.table()
    merged = back.merge(table.astype({"entity": str}), on="entity", suffixes=("", "_table"))
    root = framework.id
    assert np.allclose(merged[root], merged[f"{root}_table"], rtol=0, atol=1e-12)
    parquet = result.to_geofile(tmp_path / "scores.parquet")
    assert len(gpd.read_parquet(parquet)) == 77
    with pytest.raises(OutputError, match="gpkg"):
        result.to_geofile(tmp_path / "scores.shp")


# ------------------------------------------------------------------------------------------
# dictionaries naming polygons
# ------------------------------------------------------------------------------------------
def _write_dataset(folder: Path, polygons: gpd.GeoDataFrame, entities: list[str]) -> Path:
    polygons.to_file(folder / "areas.gpkg", driver="GPKG")
    pd.DataFrame({"id": entities, "year": 2020, "x": np.arange(len(entities), dtype=float)}).to_csv(
        folder / "data.csv", index=False
    )
    dictionary = folder / "data.dictionary.yaml"
    dictionary.write_text(
        textwrap.dedent(
            """\
            name: grid
            entity: id
            period: year
            variables:
              x: {unit: count}
            areas:
              file: areas.gpkg
              key: key
              weights: {method: rook}
            """
        )
    )
    return dictionary


def test_dictionary_areas_file_is_read_relative_to_the_dictionary(tmp_path: Path) -> None:
    dictionary = _write_dataset(tmp_path, _grid(), [f"a{k}" for k in range(9)])
    spec = read_dictionary(dictionary)
    assert Path(spec.areas.file) == tmp_path / "areas.gpkg"
    panel = Panel.read(tmp_path / "data.csv")
    assert panel.areas is not None and len(panel.areas) == 9
    assert panel.areas.weights.method == "rook"
    assert spatial_weights(panel.areas).w.cardinalities["a4"] == 4  # rook: the centre cell


def test_entities_without_polygons_and_polygons_without_data_are_named(tmp_path: Path) -> None:
    grid = _grid()
    entities = [f"a{k}" for k in range(8)] + ["zz"]  # 'a8' has no data, 'zz' no polygon
    _write_dataset(tmp_path, grid, entities)
    with pytest.raises(
        DataError,
        match=r"1 area\(s\) of .* have no polygon .*: zz; 1 polygon\(s\) have no data: a8",
    ):
        Panel.read(tmp_path / "data.csv")
    _write_dataset(tmp_path, grid, [f"a{k}" for k in range(8)])
    with pytest.warns(AreasWarning, match=r"1 polygon\(s\) .* have no data .*: a8"):
        panel = Panel.read(tmp_path / "data.csv")
    assert panel.areas.without_data == ("a8",)


def test_geodataframe_keeps_its_geometry_in_the_panel() -> None:
    grid = _grid(2)
    frame = grid.loc[grid.index.repeat(2)].reset_index(drop=True)
    frame["year"] = [2019, 2020] * 4
    frame["x"] = np.arange(8.0)
    panel = Panel.from_frame(frame, entity="key", period="year", units={"x": "count"})
    assert panel.areas is not None and list(panel.areas.keys) == ["a0", "a1", "a2", "a3"]
    assert panel.areas.crs.to_epsg() == 32616
    moved = frame.copy()
    moved.loc[1, "geometry"] = box(0, 0, 1000, 1000)  # a0 moves in 2020
    with pytest.raises(DataError, match=r"1 area\(s\) have different polygons .*: a0"):
        Panel.from_frame(moved, entity="key", period="year", units={"x": "count"})


# ------------------------------------------------------------------------------------------
# bad polygons
# ------------------------------------------------------------------------------------------
def test_duplicate_and_empty_keys_missing_geometry_and_lines_are_all_reported() -> None:
    grid = _grid()
    grid.loc[1, "key"] = "a0"
    grid.loc[2, "key"] = None
    grid.loc[3, "geometry"] = None
    grid.loc[4, "geometry"] = shapely.LineString([(0, 0), (1, 1)])
    with pytest.raises(DataError) as caught:
        read_areas(grid, key="key")
    message = str(caught.value)
    assert "4 problems" in message
    assert "a0 (2×)" in message
    assert "1 polygon(s) without a key" in message
    assert "1 area(s) without a geometry: a3" in message
    assert "not polygons (LineString): a4" in message


def test_invalid_polygons_are_repaired_or_reported() -> None:
    grid = _grid()
    bowtie = Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])  # crosses itself
    grid.loc[0, "geometry"] = bowtie
    with pytest.warns(
        AreasWarning, match=r"1 invalid polygon\(s\) .* repaired .*a0: Self-intersection"
    ):
        areas = read_areas(grid, key="key")
    assert areas.repaired == ("a0",)
    assert shapely.is_valid(areas.geometry.to_numpy()).all()
    assert areas.geometry["a0"].area == pytest.approx(500_000)  # two triangles of the bow tie
    assert areas.geometry["a0"].geom_type in ("Polygon", "MultiPolygon")
    with pytest.raises(DataError, match=r"1 invalid polygon\(s\) \(a0: Self-intersection"):
        read_areas(grid, key="key", invalid="error")


def test_declared_crs_must_agree_and_a_missing_crs_is_reported() -> None:
    with pytest.raises(
        DataError, match="file's CRS is EPSG:32616 but the dictionary declares EPSG:3435"
    ):
        read_areas(_grid(), key="key", crs="EPSG:3435")
    with pytest.warns(AreasWarning, match="no coordinate reference system"):
        bare = read_areas(_grid(crs=None), key="key")
    with pytest.raises(DataError, match="have no coordinate reference system, so distances"):
        bare.centroids()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        declared = read_areas(_grid(crs=None), key="key", crs="EPSG:32616")
    assert declared.crs.to_epsg() == 32616


def test_missing_key_column_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="key column 'code' not found"):
        read_areas(_grid(), key="code")
    with pytest.raises(DataError, match="polygon file not found"):
        read_areas(tmp_path / "nothing.gpkg", key="key")
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json")
    with pytest.raises(DataError, match="cannot read the polygons"):
        read_areas(broken, key="key")


def test_geographic_polygons_are_projected_for_distances() -> None:
    grid = _grid().to_crs("EPSG:4326")
    areas = read_areas(grid, key="key")
    x, y = areas.centroids()
    # neighbouring cells' centroids are 1 km apart in the UTM zone geopandas picks
    assert np.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(1000, rel=1e-3)


def test_weights_are_built_once_per_set_of_polygons(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report's maps, Moran's I, LISA, Gi* and spatial_lag ask for the same weights: the
    polygons' neighbours are found once, and each caller still gets its own subset."""
    from dataclasses import replace

    from securindex.geo import weights as module

    calls: list[str] = []
    queen = module._WEIGHTS["queen"]

    def counted(areas, spec):  # type: ignore[no-untyped-def]
        calls.append(spec.method)
        return queen.build(areas, spec)

    monkeypatch.setitem(module._WEIGHTS, "queen", replace(queen, build=counted))
    areas = read_areas(_grid(3), key="key")
    first = spatial_weights(areas)
    again = spatial_weights(areas)
    part = spatial_weights(areas, keys=["a0", "a1", "a3"])
    assert calls == ["queen"]
    assert again.w.neighbors == first.w.neighbors and first.w.cardinalities["a4"] == 8
    assert set(part.w.neighbors["a0"]) == {"a1", "a3"}
    assert first.w.cardinalities["a0"] == 3  # the subset did not touch the cached weights
    spatial_weights(read_areas(_grid(3), key="key"))  # other polygons: built again
    assert calls == ["queen", "queen"]
