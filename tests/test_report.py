"""Tests of securindex.report: the self-contained HTML report.

A 2-pillar framework (4 dataset columns) over a synthetic panel of 30 entities × 2 periods,
with missing values (imputed) and one outlier (winsorised), so every audit table is filled.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from securindex.dataset import Panel
from securindex.errors import DataError
from securindex.framework import Framework
from securindex.report import render_report, write_report
from securindex.report._build import _contributions, _influence, _nice_ticks, _percentiles
from securindex.report._data import from_folder, from_result

FRAMEWORK_YAML = """\
id: test_index
name: Test Security Index
version: "1.2"
pipeline:
  impute: {method: mean}
  treat: {method: winsorise}
  normalise: {method: minmax, lo: 0, hi: 100}
structure:
  - id: crime
    name: Crime and violence
    weight: 0.6
    children: [homicide, robbery]
  - id: social
    name: Social conditions
    weight: 0.4
    children: [unemployment, income]
columns:
  homicide: {polarity: negative, unit: "count / (100000 inhabitant)", name: Homicide rate}
  robbery: {polarity: negative, unit: "count / (100000 inhabitant)", name: Robbery rate}
  unemployment: {polarity: negative, unit: percent, name: Unemployment rate}
  income: {polarity: positive, unit: "EUR / inhabitant", name: Median income}
"""

UNITS = {
    "homicide": "count / (100000 inhabitant)",
    "robbery": "count / (100000 inhabitant)",
    "unemployment": "percent",
    "income": "EUR / inhabitant",
}
# One name needs escaping: it must come out as text, never as markup.
ODD_NAME = "Saint-Denis & <Nord>"
DATE = "2024-05-01"


def _framework(folder: Path, text: str = FRAMEWORK_YAML) -> Framework:
    path = folder / "fw.yaml"
    path.write_text(text)
    return Framework.load(path)


def _panel(n_entities: int, seed: int = 0, odd: bool = True) -> Panel:
    rng = np.random.default_rng(seed)
    entities = [f"City {i:04d}" for i in range(n_entities)]
    if odd:
        entities[-1] = ODD_NAME
    frame = pd.DataFrame(
        {"entity": np.repeat(entities, 2), "period": np.tile([2020, 2021], n_entities)}
    )
    n = len(frame)
    frame["homicide"] = rng.lognormal(1.0, 0.6, n)
    frame["robbery"] = rng.gamma(2.0, 50.0, n)
    frame["unemployment"] = rng.uniform(2.0, 20.0, n)
    frame["income"] = rng.normal(20000.0, 4000.0, n)
    frame.loc[[3, 10], "robbery"] = np.nan  # City 0001/2021, City 0005/2020
    frame.loc[5, "income"] = np.nan  # City 0002/2021
    frame.loc[7, "homicide"] = 300.0  # an outlier: winsorised
    return Panel.from_frame(frame, entity="entity", period="period", units=UNITS)


@pytest.fixture(scope="module")
def workdir() -> Any:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def result(workdir: Path) -> Any:
    return _framework(workdir).compute(_panel(30))


@pytest.fixture(scope="module")
def folder(result: Any, workdir: Path) -> Path:
    target = workdir / "results"
    result.write(target)
    return target


@pytest.fixture(scope="module")
def html(result: Any) -> str:
    return render_report(result, data_name="synthetic panel", date=DATE)


@pytest.fixture(scope="module")
def cli_run(folder: Path, workdir: Path) -> Any:
    """``securindex report FOLDER -o FILE`` through the command registered by _cli."""
    import typer
    from typer.testing import CliRunner

    from securindex.report._cli import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so typer keeps the command name
        """Placeholder."""

    runner = CliRunner()
    target = workdir / "cli" / "report.html"
    outcome = runner.invoke(app, ["report", str(folder), "-o", str(target), "--data-name", "demo"])
    missing = runner.invoke(app, ["report", str(workdir / "nowhere")])
    return SimpleNamespace(outcome=outcome, target=target, missing=missing)


@pytest.fixture(scope="module")
def html_folder(cli_run: Any) -> str:
    assert cli_run.outcome.exit_code == 0, cli_run.outcome.output
    return str(cli_run.target.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def html_long(result: Any) -> str:
    """Top 3 / bottom 3 profiles plus one selected, 5 + 5 bars, audit tables of 1 row."""
    chosen = result.period(2021)["entity"].tolist()[14]
    return render_report(
        result, entities=[chosen], n_top=3, n_chart=5, all_profiles_max=5, max_rows=1, date=DATE
    )


class _Page(HTMLParser):
    """Collects what the tests look at: text, ids, images, links, tables' rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.meta: list[dict[str, str | None]] = []
        self.ranking: list[list[str]] = []
        self._in_ranking = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "img":
            self.images.append(str(attributes.get("src")))
        for key in ("src", "href"):
            if attributes.get(key):
                self.urls.append(str(attributes[key]))
        if tag == "meta":
            self.meta.append(attributes)
        if tag == "table" and attributes.get("id") == "ranking-table":
            self._in_ranking = True
        if self._in_ranking and tag == "tr":
            self._row = []
        if self._row is not None and tag == "td":
            self._cell = []
        if tag == "script":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_ranking = False
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            if self._row:
                self.ranking.append(self._row)
            self._row = None
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", " ".join(_parse(html).text))


# -- the page ----------------------------------------------------------------------------------
def test_html_parses_with_every_section(html: str) -> None:
    page = _parse(html)
    assert html.startswith("<!DOCTYPE html>")
    assert {
        "summary",
        "framework",
        "ranking",
        "distributions",
        "correlations",
        "profiles",
        "audit",
    } <= page.ids
    assert page.tags.count("html") == 1 and page.tags.count("body") == 1
    try:
        import lxml.html
    except ImportError:
        return
    tree = lxml.html.document_fromstring(html)
    assert tree.get_element_by_id("ranking-table") is not None


@pytest.mark.parametrize("source", ["html", "html_folder"])
def test_every_entity_is_in_the_page(
    source: str, request: pytest.FixtureRequest, result: Any
) -> None:
    text = _text(request.getfixturevalue(source))
    for entity in result.scores.index.unique("entity"):
        assert str(entity) in text
    page = _parse(request.getfixturevalue(source))
    assert len(page.ranking) == 30  # one row per entity of 2021


def test_every_image_decodes_as_png(html: str) -> None:
    from PIL import Image

    images = _parse(html).images
    # ranking chart, trend chart (the fixture is a panel), one distribution chart
    # (4 indicators ≤ 12 per chart), heat map
    assert len(images) == 4
    for src in images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        data = base64.b64decode(src[len(prefix) :], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            assert image.size[0] > 300 and image.size[1] > 200


def test_nothing_is_loaded_from_the_network(html: str) -> None:
    page = _parse(html)
    assert "link" not in page.tags
    for url in page.urls:
        assert url.startswith(("data:", "#")), url
    assert "url(" not in html
    policy = [
        m for m in page.meta if (m.get("http-equiv") or "").lower() == "content-security-policy"
    ]
    assert policy and "default-src 'none'" in str(policy[0]["content"])


def test_header_names_framework_data_and_sizes(html: str, html_folder: str) -> None:
    text = _text(html)
    assert "Test Security Index" in text
    assert "version 1.2" in text
    assert "synthetic panel" in text
    assert "Entities 30" in text
    assert "2 (2020 – 2021)" in text
    assert "4 in 2 pillars" in text
    assert DATE in text
    # from a folder the names of nodes come from result.json (framework name) or ids
    assert "Test Security Index" in _text(html_folder)


def test_names_are_escaped(html: str) -> None:
    assert ODD_NAME not in html  # never raw markup
    assert "Saint-Denis &amp; &lt;Nord&gt;" in html
    assert ODD_NAME in _text(html)


def test_summary_names_top_and_bottom_three_and_most_influential_pillar(
    result: Any, html: str
) -> None:
    table = result.period(2021)
    best = table["entity"].head(3).tolist()
    worst = table["entity"].tail(3).tolist()[::-1]
    text = _text(html)
    summary = text[text.index("In 2021,") : text.index("Framework and effective weights")]
    positions = [summary.index(name) for name in best]
    assert positions == sorted(positions)
    lowest = summary[summary.index("the lowest") :]
    positions = [lowest.index(name) for name in worst]
    assert positions == sorted(positions)
    # influence by hand: arithmetic mean, no missing pillar, so c_p = w_p s_p and
    # share_p = cov(c_p, I) / var(I)
    scores = result.scores.xs(2021, level="period")
    index = scores["test_index"].to_numpy()
    shares = {
        p: np.cov(result.weights["test_index"][p] * scores[p].to_numpy(), index)[0, 1]
        / np.var(index, ddof=1)
        for p in ("crime", "social")
    }
    assert shares["crime"] + shares["social"] == pytest.approx(1.0)
    most = max(shares, key=lambda p: shares[p])
    name = {"crime": "Crime and violence", "social": "Social conditions"}[most]
    assert (
        f"The most influential pillar is {name}: it accounts for {100 * shares[most]:.1f}%" in text
    )


def test_ranking_table_is_sorted_by_rank_and_matches_the_result(
    result: Any, html: str, html_folder: str
) -> None:
    expected = result.period(2021)
    for source in (html, html_folder):
        rows = _parse(source).ranking
        assert [r[1] for r in rows] == [str(e) for e in expected["entity"]]
        assert [float(r[2]) for r in rows] == pytest.approx(
            expected["test_index"].round(1).tolist(), abs=0.051
        )


def test_sortable_cells_carry_numeric_keys(html: str) -> None:
    values = re.findall(r'data-value="([^"]*)"', html)
    assert values
    for value in values:
        assert value == "" or np.isfinite(float(value))
    assert "table.sortable" in html  # the inline sorting script is there


def test_tree_lists_effective_weights(html: str) -> None:
    text = _text(html)
    # crime 0.6 × 0.5 = 30 % for each of its indicators; social 0.4 × 0.5 = 20 %
    assert re.search(r"Homicide rate \(homicide\) 50\.0% 30\.0%", text)
    assert re.search(r"Median income \(income\) 50\.0% 20\.0%", text)
    assert re.search(r"Crime and violence \(crime\) 60\.0% 60\.0%", text)


def test_profiles_for_every_entity_of_a_small_result(html: str) -> None:
    page = _parse(html)
    profiles = {i for i in page.ids if i.startswith("profile-")}
    assert len(profiles) == 30
    text = _text(html)
    assert "Strengths" in text and "Weaknesses" in text
    assert "imputed" in text and "winsorised" in text


def test_audit_counts_and_truncation(result: Any, html_long: str) -> None:
    text = _text(html_long)
    n_imputed = int((result.audit["action"] == "imputed").sum())
    assert n_imputed == 3  # the three NaNs of the panel
    assert f"Imputed values ({n_imputed})" in text
    assert f"Rows (showing 1 of {n_imputed})" in text
    assert "Values that could not be computed (3)" in text
    assert "Winsorised values (1)" in text
    assert "3 values could not be computed; 3 values were imputed; 1 value was winsorised" in text


def test_long_results_show_top_bottom_and_selected_profiles(result: Any, html_long: str) -> None:
    ranked = [str(e) for e in result.period(2021)["entity"]]
    page = _parse(html_long)
    profiles = [i for i in page.ids if i.startswith("profile-")]
    assert len(profiles) == 7  # 3 best, 3 worst, 1 selected
    text = _text(html_long)
    assert "the top 3 and bottom 3 and 1 selected of 30 entities" in text
    assert "Only the top 5 and bottom 5 entities are drawn" in text
    headings = re.findall(r"<h3>([^<]*)</h3>", html_long)
    expected = [*ranked[:3], ranked[14], *ranked[-3:]]
    escaped = [e.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for e in expected]
    assert [h for h in headings if h in escaped] == escaped
    assert len(page.ranking) == 30  # the table still lists everyone


def test_unknown_entity_is_an_error_with_a_suggestion(result: Any) -> None:
    with pytest.raises(DataError, match="did you mean 'City 0012'"):
        render_report(result, entities=["City 012"])


def test_folder_without_required_files_is_an_error(folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "raw.csv").unlink()
    with pytest.raises(DataError, match=r"lacks \['raw.csv'\]"):
        render_report(broken)
    with pytest.raises(DataError, match="not found"):
        render_report(tmp_path / "nowhere")


def test_folder_and_memory_read_the_same_data(result: Any, folder: Path) -> None:
    memory, disk = from_result(result), from_folder(folder)
    assert memory.tree == disk.tree
    assert memory.indicators == disk.indicators
    pd.testing.assert_frame_equal(memory.scores, disk.scores, check_dtype=False)
    pd.testing.assert_frame_equal(memory.raw, disk.raw, check_dtype=False)
    pd.testing.assert_frame_equal(memory.imputed_mask, disk.imputed_mask)
    assert int(disk.imputed_mask.to_numpy().sum()) == 3
    pd.testing.assert_series_equal(
        memory.effective_weights, disk.effective_weights, check_names=False
    )


def test_invalid_option_is_rejected(result: Any) -> None:
    with pytest.raises(ValueError, match="'n_top' parameter of render_report must be >= 1"):
        render_report(result, n_top=0)


def test_cross_section_with_negative_scores(workdir: Path) -> None:
    # one period (no change, no history) and z-scores (negative pillar contributions)
    folder = workdir / "cross"
    folder.mkdir()
    text = FRAMEWORK_YAML.replace("{method: minmax, lo: 0, hi: 100}", "{method: zscore}")
    panel = _panel(12, seed=2, odd=False)
    frame = panel.frame[panel.frame.index.get_level_values("period") == 2021]
    cross = Panel(frame, panel.units)
    result = _framework(folder, text).compute(cross)
    assert (result.scores["crime"] < 0).any()
    html = render_report(result, date=DATE)
    page = _parse(html)
    assert len(page.ranking) == 12
    assert all(row[3] == "" for row in page.ranking)  # no change column values
    words = _text(html)
    assert "Periods 1 (2021)" in words
    assert "Over time" not in words
    assert len(page.images) == 3


# -- the numbers behind the charts ---------------------------------------------------------------
def test_contributions_sum_to_the_index_by_hand() -> None:
    # x: crime 50, social 100, weights 0.6/0.4 → index 0.6·50 + 0.4·100 = 70; parts 30 and 40.
    # y: crime missing; renormalised index = social = 80; parts 0 and 0.4·80 = 32, rescaled by
    #    80 / 32 = 2.5 → 0 and 80.
    data = SimpleNamespace(
        framework_id="idx",
        pillars=("crime", "social"),
        weights={"idx": pd.Series({"crime": 0.6, "social": 0.4})},
    )
    latest = pd.DataFrame(
        {"crime": [50.0, np.nan], "social": [100.0, 80.0], "idx": [70.0, 80.0]},
        index=["x", "y"],
    )
    parts = _contributions(data, latest)  # type: ignore[arg-type]
    np.testing.assert_allclose(parts.loc["x"], [30.0, 40.0])
    np.testing.assert_allclose(parts.loc["y"].fillna(0.0), [0.0, 80.0])


def test_influence_by_hand() -> None:
    # I = c1 + c2. c2 constant → all the variance is c1's: shares 1 and 0.
    one = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]})
    np.testing.assert_allclose(_influence(one, one.sum(axis=1)), [1.0, 0.0])
    # c1 = c2 → half each.
    two = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [1.0, 2.0, 4.0]})
    np.testing.assert_allclose(_influence(two, two.sum(axis=1)), [0.5, 0.5])


def test_percentiles_by_hand() -> None:
    # ranks 1, 2, 3 among 3 present values → (rank − 1) / (3 − 1) · 100 = 0, 50, 100
    values = pd.DataFrame({"a": [10.0, 20.0, 30.0, np.nan]})
    np.testing.assert_allclose(_percentiles(values)["a"], [0.0, 50.0, 100.0, np.nan])


def test_nice_ticks() -> None:
    np.testing.assert_allclose(_nice_ticks(3.0, 97.0), [0, 25, 50, 75, 100])
    np.testing.assert_allclose(_nice_ticks(0.0, 1.0), [0, 0.25, 0.5, 0.75, 1.0])


# -- command line ---------------------------------------------------------------------------------
def test_cli_report(cli_run: Any, html_folder: str) -> None:
    assert "wrote" in cli_run.outcome.output
    assert "demo" in _text(html_folder)  # --data-name
    assert cli_run.missing.exit_code == 1
    assert "not found" in cli_run.missing.output


# -- scale ---------------------------------------------------------------------------
@pytest.mark.slow
def test_two_thousand_entities_render_fast_and_small(workdir: Path) -> None:
    large = workdir / "large"
    large.mkdir()
    result = _framework(large).compute(_panel(2000, seed=1, odd=False))
    start = time.perf_counter()
    html = render_report(result, entities=["City 1000"], date=DATE)
    elapsed = time.perf_counter() - start
    assert elapsed < 15.0
    assert len(html.encode("utf-8")) < 5_000_000
    page = _parse(html)
    assert len(page.ranking) == 2000
    assert len([i for i in page.ids if i.startswith("profile-")]) == 21
    assert "City 1000" in {row[1] for row in page.ranking}


# -- a real browser ----------------------------------------------------------------
@pytest.mark.browser
def test_page_loads_in_headless_chromium_without_console_messages(
    result: Any, tmp_path: Path, chromium: Any
) -> None:
    path = write_report(result, tmp_path / "sub" / "report.html", date=DATE)
    assert path.is_file()
    completed = chromium.dump_dom(path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom = completed.stdout
    # the inline script ran to its end (it marks the body when the tables are sortable)
    assert 'data-ready="true"' in dom
    text = _text(dom)
    for entity in result.scores.index.unique("entity"):
        assert str(entity) in text
    # Chromium logs every console message, error and blocked request as ":CONSOLE"
    console = [line for line in completed.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []


# -- issue 14: the report as an analyst presents it -------------------------------------------
def _panel_result() -> Any:
    """Six districts over four years (a panel), arithmetic index, labels."""
    from securindex import Framework, Panel
    from securindex.shipped import catalogue_dir

    rows = []
    names = ["Old Town", "Harbour", "Hillside", "Riverside", "North End", "Station"]
    for year in (2019, 2020, 2021, 2022):
        for i, name in enumerate(names):
            rows.append(
                {"code": f"D{i}", "name": name, "year": year,
                 "murders": float(1 + (i * 7 + year) % 5), "robberies": float(20 + 3 * i - (year - 2019) * (i % 3)),
                 "people": 10_000.0 + 500 * i}
            )  # fmt: skip
    dictionary = {
        "entity": "code", "label": "name", "period": "year",
        "variables": {"homicides": {"column": "murders", "unit": "count"},
                      "robberies": {"column": "robberies", "unit": "count"},
                      "population": {"column": "people", "unit": "inhabitant"}},
    }  # fmt: skip
    spec = {
        "id": "city", "name": "City index",
        "indicators": ["crime/homicide_rate.yaml", "crime/robbery_rate.yaml"],
        "pipeline": {"normalise": {"method": "minmax", "reference": "pooled"}},
        "structure": [{"id": "violence", "children": ["homicide_rate"]},
                      {"id": "property", "children": ["robbery_rate"]}],
    }  # fmt: skip
    framework = Framework.from_spec(spec, base_dir=catalogue_dir())
    return framework.compute(Panel.from_frame(pd.DataFrame(rows), dictionary=dictionary))


def test_panel_report_has_a_trend_chart_labels_and_human_units(tmp_path: Path) -> None:
    result = _panel_result()
    html = render_report(result, date=DATE, entities=["Harbour"])
    assert 'id="trend"' in html and "Trends, 2019–2022" in html
    assert "comparable over time" in html  # pooled normalisation
    assert "per 100 000 inhabitants" in html
    assert "count / (100000 inhabitant)" not in html
    assert "1 995" not in html and "2\u202f019" not in html and "2 019" not in html
    assert "Harbour" in html and "Old Town" in html
    assert "The split is exact" in html  # arithmetic root


def test_non_arithmetic_decomposition_is_called_approximate() -> None:
    result = _panel_result().rerun(
        normalise={"method": "minmax", "lo": 1, "hi": 100, "reference": "pooled"},
        aggregate={"method": "geometric"},
    )
    html = render_report(result, date=DATE)
    assert "approximate" in html and "geometric" in html
    assert "The split is exact" not in html


def test_uncertainty_section_from_a_run(tmp_path: Path) -> None:
    from securindex.analysis import run_uncertainty

    result = _panel_result()
    spec = {
        "weights": {"noise": 0.25},
        "normalise": [{"method": "minmax", "reference": "pooled"}, {"method": "rank"}],
    }
    run = run_uncertainty(result, spec, n_replicates=200, seed=3)
    folder = tmp_path / "results"
    result.write(folder)
    run.write(folder / "uncertainty")
    html = render_report(folder, date=DATE)
    assert 'id="uncertainty"' in html and "rank interval" in html
    assert "200 Monte-Carlo replicates" in html.replace("\u202f", " ")
    assert "Changes larger than the uncertainty" in html
    # ranks and intervals in the table are the run's own
    summary = run.summary.reset_index()
    latest = summary[summary["period"] == 2022].sort_values("nominal_rank").iloc[0]
    assert f"{latest['rank_low']:.0f}–{latest['rank_high']:.0f}" in html


def test_strengths_ignore_ties_at_the_best_value() -> None:
    from securindex.report._build import _tied_at_best

    values = pd.DataFrame({"a": [100.0, 100.0, 40.0], "b": [100.0, 60.0, 20.0]}, index=list("xyz"))
    tied = _tied_at_best(values)
    # x and y share the best 'a' (a tie: no strength); x alone is best on 'b'
    assert tied.to_dict() == {
        "a": {"x": True, "y": True, "z": False},
        "b": {"x": False, "y": False, "z": False},
    }


def test_print_layout_keeps_the_ranking_table_to_its_ends() -> None:
    from securindex import Framework, Panel
    from securindex.report._build import PRINT_ROWS

    result = Framework.load("iusi").compute(Panel.example("uci_communities"))
    html = render_report(result, date=DATE, n_top=3)
    assert "@media print" in html and "@page" in html
    assert html.count('class="print-omit"') == len(result.scores) - 2 * PRINT_ROWS
    assert "Printed: the top and bottom 25" in html


def test_score_intervals_on_other_scales_are_left_out() -> None:
    from securindex.report._uncertainty import _scores_consistent

    one_scale = pd.DataFrame(
        {
            "nominal_score": [20.0, 50.0, 80.0],
            "score_low": [15.0, 45.0, 72.0],
            "score_high": [26.0, 55.0, 85.0],
        }
    )
    assert _scores_consistent(one_scale, None) and _scores_consistent(one_scale, False)
    assert not _scores_consistent(one_scale, True)  # the run says normalisation varies
    # nominal 75.8 with an upper bound of 104.5 (a z-score replicate at mean 100): mixed
    mixed = pd.DataFrame(
        {
            "nominal_score": [20.0, 50.0, 75.8],
            "score_low": [15.0, 45.0, 70.0],
            "score_high": [90.0, 101.0, 104.5],
        }
    )
    assert not _scores_consistent(mixed, None)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_demo_report_prints_on_a_few_pages(tmp_path: Path, paper: str, chromium: Any) -> None:
    """2 215 communities print on about 20 pages (58 before the print layout), A4 or Letter."""
    from securindex import Framework, Panel

    result = Framework.load("iusi").compute(Panel.example("uci_communities"))
    html = render_report(result, date=DATE).replace(
        "@page { margin: 14mm 12mm; }", f"@page {{ size: {paper}; margin: 14mm 12mm; }}"
    )
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    completed = chromium.run(page, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", timeout=300)
    assert completed.returncode == 0 and pdf.is_file(), completed.stderr[-2000:]
    pages = pdf.read_bytes().count(b"/Type /Page") - pdf.read_bytes().count(b"/Type /Pages")
    assert 5 <= pages <= 30, pages


def test_dollar_signs_and_newlines_in_names_draw_as_text(tmp_path: Path) -> None:
    # issue #15: "$$" made matplotlib's mathtext parser raise; "\n" and "\t" gave
    # missing-glyph warnings on stderr
    import warnings

    from securindex import Framework, Panel
    from securindex.report import write_report

    framework = Framework.from_spec(
        {
            "id": "idx",
            "columns": {"a": {"polarity": "positive"}, "b": {"polarity": "negative"}},
            "structure": [{"id": "p", "children": ["a", "b"]}],
        }
    )
    names = ["A$b$c", "two\nlines", "tab\there", "$$", "plain", "cr\rx"]
    frame = pd.DataFrame({"entity": names, "a": range(6), "b": [5, 3, 4, 1, 2, 0]})
    panel = Panel.from_frame(frame, entity="entity", units=dict.fromkeys("ab", "dimensionless"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = write_report(framework.compute(panel), tmp_path / "r.html", entities=["$$"])
    page = path.read_text(encoding="utf-8")
    assert "A$b$c" in page and "$$" in page
