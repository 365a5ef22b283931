"""Buffer (displacement) areas derived from the polygons."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from securindex import DataError, Panel, SpecError
from securindex.geo import AreasWarning, read_areas
from securindex.geo.buffers import buffer_areas


def _row(n: int = 6) -> gpd.GeoDataFrame:
    """A row of 1 km squares c0 … c5 (UTM 16N)."""
    cells = [box(445_000 + i * 1000, 4_635_000, 446_000 + i * 1000, 4_636_000) for i in range(n)]
    return gpd.GeoDataFrame({"key": [f"c{i}" for i in range(n)]}, geometry=cells, crs="EPSG:32616")


def test_buffer_by_distance_and_by_neighbour_order() -> None:
    areas = read_areas(_row(), key="key")
    assert buffer_areas(areas, ["c2"], distance=0) == ["c1", "c3"]
    assert buffer_areas(areas, ["c2"], distance="1.5 km") == ["c0", "c1", "c3", "c4"]
    assert buffer_areas(areas, ["c2"], distance="999 m") == ["c1", "c3"]
    assert buffer_areas(areas, ["c2"], order=1) == ["c1", "c3"]
    assert buffer_areas(areas, ["c2"], order=2) == ["c0", "c1", "c3", "c4"]
    assert buffer_areas(areas, ["c2", "c3"], order=1) == ["c1", "c4"]


def test_controls_are_left_out_with_a_warning() -> None:
    areas = read_areas(_row(), key="key")
    with pytest.warns(AreasWarning, match=r"1 area\(s\) near the treated ones are controls .*: c3"):
        assert buffer_areas(areas, ["c2"], order=1, exclude=["c3"]) == ["c1"]


def test_bad_requests_are_named() -> None:
    areas = read_areas(_row(), key="key")
    with pytest.raises(SpecError, match="either distance="):
        buffer_areas(areas, ["c2"])
    with pytest.raises(SpecError, match="must be a length"):
        buffer_areas(areas, ["c2"], distance="3 kg")
    with pytest.raises(DataError, match=r"1 treated area\(s\) have no polygon: zz"):
        buffer_areas(areas, ["zz"], order=1)


def test_chicago_loop_buffer_is_its_queen_neighbours() -> None:
    areas = Panel.example("chicago_hardship").areas
    assert buffer_areas(areas, ["32"], order=1) == [
        "8",
        "28",
        "33",
    ]  # Loop: Near North, Near West, Near South


# -- the geometry selectors of evaluation jobs ---------------------------------------------
def _grid_panel() -> Panel:
    import numpy as np
    import pandas as pd

    grid = _row(6)
    rng = np.random.default_rng(1)
    years = list(range(2015, 2021))
    frame = pd.DataFrame(
        {
            "key": np.repeat(grid["key"].to_numpy(), len(years)),
            "year": years * len(grid),
            "thefts": rng.poisson(50, len(grid) * len(years)).astype(float),
        }
    )
    return Panel.from_frame(
        frame, entity="key", period="year", units={"thefts": "count"}, areas=grid
    )


def test_job_areas_can_be_selected_from_geometry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from securindex.evaluation.job import load_job, run_evaluation

    job = tmp_path / "job.yaml"
    job.write_text(
        """\
name: Geometry-selected controls
data: {path: unused.csv}
measures: [thefts]
evaluation:
  initiative:
    name: Patrols in c2
    treated: [c2]
    before: {start: 2015, end: 2017}
    after: {start: 2018, end: 2020}
  analyses:
    - kind: difference_in_differences
      name: near
      control: {near: {of: treated, distance: 1.5 km}}
      check_pre_trend: false
    - kind: difference_in_differences
      name: neighbours
      control: {neighbours: {of: treated, order: 1}}
      check_pre_trend: false
"""
    )
    outcome = run_evaluation(load_job(job), data=_grid_panel())
    assert set(outcome.analyses) == {"near", "neighbours"}

    import securindex.geo.selectors  # noqa: F401
    from securindex.evaluation.areas import AreaContext, select_areas

    panel = _grid_panel()
    context = AreaContext(
        available=tuple(f"c{i}" for i in range(6)),
        roles={"treated": ["c2"]},
        extras={"areas": panel.areas},
    )
    assert select_areas(
        {"neighbours": {"of": "treated", "order": 1}}, context, field="control"
    ) == ["c1", "c3"]
    assert select_areas(
        {"near": {"of": ["c2"], "distance": "1.5 km"}}, context, field="control"
    ) == ["c0", "c1", "c3", "c4"]
    with pytest.raises(SpecError, match="control: near: write"):
        select_areas({"near": {"of": "treated"}}, context, field="control")
    bare = AreaContext(available=context.available, roles=context.roles)
    with pytest.raises(SpecError, match="needs the areas' polygons"):
        select_areas({"near": {"of": "treated", "distance": 0}}, bare, field="control")
