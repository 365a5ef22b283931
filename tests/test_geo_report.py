"""The report's map and hot-spot sections, the demo's map and the map/hotspots commands."""

from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from securindex import Framework, Panel
from securindex.cli import app
from securindex.geo.autocorrelation import morans_i
from securindex.report import render_report, write_report
from securindex.report._spatial import SEED

DATE = "2024-01-01"


@pytest.fixture(scope="module")
def result() -> Any:
    return Framework.load("chicago_hardship").compute(Panel.example("chicago_hardship"))


@pytest.fixture(scope="module")
def html(result: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render_report(result, date=DATE)


def _section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, flags=re.S)
    assert match, f"no section {name}"
    return match.group(1)


def test_map_and_hotspot_sections_with_images(html: str) -> None:
    maps = _section(html, "map")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', maps)
    assert len(images) == 3  # the index and its two pillars
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "77 area polygons (EPSG:3435)" in maps
    hot = _section(html, "hotspots")
    assert "queen (row-standardised)" in hot and "FDR" in hot
    assert 'href="#map"' in html and 'href="#hotspots"' in html
    assert "http://" not in maps + hot and "https://" not in maps + hot


def test_hotspot_table_shows_the_statistics(result: Any, html: str) -> None:
    expected = morans_i(result, seed=SEED)
    hot = _section(html, "hotspots")
    assert f'<td class="num">{expected.loc[0, "I"]:.3f}</td>' in hot
    assert "Chicago socio-economic security (inverse hardship)" in hot and "Income and work" in hot


def test_report_without_polygons_has_no_map_section() -> None:
    panel = Panel.example("chicago_hardship")
    panel.areas = None
    plain = Framework.load("chicago_hardship").compute(panel)
    page = render_report(plain, date=DATE)
    assert 'id="map"' not in page and 'href="#map"' not in page


def test_results_folder_carries_the_polygons_to_the_report(result: Any, tmp_path: Path) -> None:
    written = result.write(tmp_path / "out")
    assert written["geopackage"].name == "scores.gpkg"
    assert len(gpd.read_file(written["geopackage"], layer="scores")) == 77
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = render_report(tmp_path / "out", date=DATE)
    assert 'id="map"' in page and 'id="hotspots"' in page


def test_demo_draws_a_map(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "chicago"
    completed = runner.invoke(
        app,
        [
            "demo",
            "--framework",
            "chicago_hardship",
            "--dataset",
            "chicago_hardship",
            "-o",
            str(out),
        ],
    )
    assert completed.exit_code == 0, completed.output
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "scores.gpkg").is_file()
    assert 'id="map"' in (out / "report.html").read_text(encoding="utf-8")


def test_map_and_hotspots_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    image = tmp_path / "poverty.png"
    done = runner.invoke(
        app,
        [
            "map",
            "chicago_hardship",
            "chicago_hardship",
            "-o",
            str(image),
            "--show",
            "pct_households_poverty",
            "--scheme",
            "natural_breaks",
        ],
    )
    assert done.exit_code == 0, done.output
    assert image.read_bytes()[:4] == b"\x89PNG"
    folder = tmp_path / "spots"
    done = runner.invoke(
        app, ["hotspots", "chicago_hardship", "chicago_hardship", "-o", str(folder)]
    )
    assert done.exit_code == 0, done.output
    assert "Moran's I" in done.output
    assert {p.name for p in folder.iterdir()} == {
        "moran.csv",
        "local_moran.csv",
        "getis_ord.csv",
        "clusters.png",
    }
    table = pd.read_csv(folder / "moran.csv")
    assert table.loc[0, "n_areas"] == 77
    bad = runner.invoke(
        app, ["map", "chicago_hardship", "chicago_hardship", "-o", str(tmp_path / "m.xlsx")]
    )
    assert bad.exit_code != 0 and "unknown output type '.xlsx'" in bad.output
    nopoly = runner.invoke(app, ["map", "iusi", "uci_communities", "-o", str(tmp_path / "m.png")])
    assert nopoly.exit_code != 0 and "no area polygons" in nopoly.output


@pytest.mark.browser
def test_map_sections_load_in_headless_chromium(result: Any, tmp_path: Path, chromium: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_report(result, tmp_path / "report.html", date=DATE)
    completed = chromium.dump_dom(path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom = completed.stdout
    assert 'data-ready="true"' in dom and 'id="map"' in dom and 'id="hotspots"' in dom
    assert [line for line in completed.stderr.splitlines() if ":CONSOLE" in line] == []
