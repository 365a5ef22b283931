"""Incident points and area polygons: CRS checks and reprojection, boundary rules, the
empty run's report (no 'period of 1970')."""

from __future__ import annotations

import pandas as pd
import pytest

from securindex.datasets.synthetic import synthetic_areas
from securindex.errors import DataError, SpecError
from securindex.incidents import incidents_to_panel
from securindex.incidents.areas import BOUNDARY_RULES

X0, Y0 = 4_000_000.0, 3_000_000.0  # corner of synthetic_areas' grid, EPSG:3035 metres


def _block(**points: object) -> dict[str, object]:
    return {
        "date": "day",
        "offence": "code",
        "grain": "year",
        "points": {"x": "x", "y": "y", "crs": "EPSG:3035", **points},
        "areas": {"file": "unused", "id": "area"},
        "variables": {"burglaries": {"codes": ["BU*"]}},
    }


def _records(xy: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": ["2020-06-01"] * len(xy),
            "code": ["BU1"] * len(xy),
            "x": [p[0] for p in xy],
            "y": [p[1] for p in xy],
        }
    )


# 2 × 2 grid of 1 km squares: A0 at (0,0), A1 above it (y 1–2 km), A2 right of A0, A3 diagonal.
# On a grid the areas' centroids are equally far from a boundary point: nearest_centroid
# breaks the tie by file order, as first does.
CORNER = (X0 + 1000, Y0 + 1000)  # on all four areas
EDGE = (X0 + 200, Y0 + 1000)  # on the A0 | A1 boundary
NEAR_A1 = (X0 + 1000, Y0 + 1900)  # on the A1 | A3 boundary


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("first", {"A000000": 2.0, "A000001": 1.0}),
        ("nearest_centroid", {"A000000": 2.0, "A000001": 1.0}),
        ("split", {"A000000": 0.75, "A000001": 1.25, "A000002": 0.25, "A000003": 0.75}),
    ],
)
def test_boundary_rules(rule: str, expected: dict[str, float]) -> None:
    areas = synthetic_areas(4, seed=0, polygons=True)
    data = _records([CORNER, EDGE, NEAR_A1])
    panel, report = incidents_to_panel(_block(boundary=rule), data, areas=areas)
    assert panel.areas is not None and list(panel.areas.keys) == [f"A00000{i}" for i in range(4)]
    counts = panel.frame["burglaries"].droplevel("period")
    got = {k: float(v) for k, v in counts.items() if v}
    assert got == pytest.approx(expected)
    assert sum(got.values()) == pytest.approx(3.0)  # each record counted once in total
    row = report.issues.set_index("issue").loc["point on a boundary shared by several areas"]
    assert row["n_records"] == 3
    assert f"rule '{rule}'" in row["action"]
    assert f"rule '{rule}'" in report.summary()
    assert report.balanced


def test_nearest_centroid_differs_from_first_when_geometry_says_so() -> None:
    """On a grid every boundary point is equidistant from the centroids (ties go to the
    first area); a long and a small area sharing an edge tell the rules apart."""
    import geopandas as gpd
    from shapely.geometry import Polygon, box

    big = Polygon([(0, 0), (3000, 0), (3000, 1000), (0, 1000)])  # centroid (1500, 500)
    small = box(0, 1000, 1000, 2000)  # centroid (500, 1500)
    areas = gpd.GeoDataFrame({"area": ["big", "small"]}, geometry=[big, small], crs="EPSG:3035")
    point = [(200.0, 1000.0)]  # on the shared edge; 1360 m from big's centroid, 539 from small's
    data = _records(point)
    block = _block()
    counts_first = incidents_to_panel(block, data, areas=areas)[0].frame["burglaries"]
    block = _block(boundary="nearest_centroid")
    counts_near = incidents_to_panel(block, data, areas=areas)[0].frame["burglaries"]
    assert counts_first.droplevel("period").to_dict() == {"big": 1.0, "small": 0.0}
    assert counts_near.droplevel("period").to_dict() == {"big": 0.0, "small": 1.0}


def test_points_are_reprojected_and_the_report_says_so() -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    areas = synthetic_areas(4, seed=0, polygons=True)
    inside = gpd.GeoSeries([Point(X0 + 500, Y0 + 500)], crs="EPSG:3035").to_crs("EPSG:4326")
    data = _records([(inside.x[0], inside.y[0])])
    panel, report = incidents_to_panel(_block(crs="EPSG:4326"), data, areas=areas)
    assert panel.frame["burglaries"].loc[("A000000", 2020)] == 1.0
    notes = report.issues[report.issues["action"] == "note"]["issue"]
    assert "points reprojected from EPSG:4326 to the polygons' EPSG:3035" in list(notes)


def test_polygons_without_crs_and_points_in_the_wrong_crs_are_named() -> None:
    areas = synthetic_areas(4, seed=0, polygons=True)
    bare = areas.set_crs(None, allow_override=True)
    with pytest.raises(
        DataError,
        match="polygons have no coordinate reference system, and the points are in EPSG:3035",
    ):
        incidents_to_panel(_block(), _records([(X0 + 500, Y0 + 500)]), areas=bare)
    # metres read as degrees: every point outside, and the error names both CRSs
    with pytest.raises(DataError) as caught:
        incidents_to_panel(_block(crs="EPSG:4326"), _records([(12.0, 48.0)]), areas=areas)
    message = str(caught.value)
    assert "read in EPSG:4326 (points.crs)" in message and "polygons are in EPSG:3035" in message
    assert "1970" not in message


def test_empty_run_reports_no_period_instead_of_1970() -> None:
    block = {
        "date": "day",
        "offence": "code",
        "area": "area",
        "grain": "month",
        "variables": {"burglaries": {"codes": ["BU*"]}},
    }
    data = pd.DataFrame({"day": ["2020-01-01"], "code": ["XX"], "area": ["a"]})
    with pytest.raises(DataError) as caught:
        incidents_to_panel(block, data)
    assert "1970" not in str(caught.value)
    assert "no period (month: no record was counted)" in str(caught.value)


def test_unknown_boundary_rule_is_refused_with_the_choices() -> None:
    assert set(BOUNDARY_RULES) == {"first", "nearest_centroid", "split"}
    with pytest.raises(SpecError, match="unknown boundary rule 'middle'; choose from first"):
        incidents_to_panel(
            _block(boundary="middle"),
            _records([(X0, Y0)]),
            areas=synthetic_areas(4, seed=0, polygons=True),
        )
