"""Maps: classes from mapclassify, polarity-aware colours, gaps drawn apart, outlines."""

from __future__ import annotations

import warnings

import mapclassify
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from securindex import DataError, Framework, Panel, SpecError
from securindex.geo.autocorrelation import local_morans
from securindex.geo.maps import CLUSTER_COLOURS, SCHEMES, plot_change, plot_clusters, plot_map


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return Framework.load("chicago_hardship").compute(Panel.example("chicago_hardship"))


def _legend(figure) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.get_text() for t in figure.axes[0].get_legend().get_texts()]


def _colours(figure) -> list[str]:  # type: ignore[no-untyped-def]
    return [to_hex(h.get_facecolor()) for h in figure.axes[0].get_legend().legend_handles]


@pytest.mark.filterwarnings("ignore:Numba not installed")  # the reference call below
def test_legend_lists_mapclassify_classes_in_the_unit(result) -> None:  # type: ignore[no-untyped-def]
    figure = plot_map(result, "pct_households_poverty", scheme="natural_breaks", k=4)
    values = result.raw["pct_households_poverty"].to_numpy()
    breaks = mapclassify.FisherJenks(values, k=4)
    labels = _legend(figure)
    assert len(labels) == 4
    assert labels[-1].endswith(f"– {breaks.bins[-1]:.1f} ({breaks.counts[-1]})")
    assert [int(t.rsplit("(", 1)[1].rstrip(")")) for t in labels] == list(breaks.counts)
    title = figure.axes[0].get_legend().get_title().get_text()
    assert "[percent]" in title and "blue: more secure" in title
    assert set(SCHEMES) >= {"quantiles", "natural_breaks", "equal_interval", "user"}


def test_more_secure_is_always_blue(result) -> None:  # type: ignore[no-untyped-def]
    """Index scores (more is more secure) and poverty (more is less secure) put the blue
    end at opposite ends of their value ranges."""
    score = _colours(plot_map(result, k=3))
    poverty = _colours(plot_map(result, "pct_households_poverty", k=3))
    assert (score[0], score[-1]) == (poverty[-1], poverty[0])
    top_score = score[-1]  # the highest scores
    assert int(top_score[5:7], 16) > int(top_score[1:3], 16)  # more blue than red


def test_user_breaks_no_data_not_scored_and_outlines(result) -> None:  # type: ignore[no-untyped-def]
    values = result.index.copy()
    values.iloc[:3] = np.nan
    flags = pd.Series(False, index=values.index)
    flags.iloc[2] = True
    from securindex.geo.values import SpatialValues

    data = SpatialValues(
        values, "x", "Index", "score", "positive", not_scored=flags, areas=result.areas
    )
    figure = plot_map(data, scheme="user", bins=[50, 100], treated=["32"], control=["8", "28"])
    labels = _legend(figure)
    assert labels[:2] == [
        f"{values.min():.1f} – 50.0 ({int((values <= 50).sum())})",
        f"50.0 – 100.0 ({int((values > 50).sum())})",
    ]
    assert "no data (2)" in labels and "not scored (1)" in labels
    assert "treated" in labels and "control" in labels
    with pytest.raises(SpecError, match="needs bins"):
        plot_map(result, scheme="user")
    with pytest.raises(SpecError, match="unknown scheme 'jenks'"):
        plot_map(result, scheme="jenks")
    with pytest.raises(DataError, match="treated areas not on the map"):
        plot_map(result, treated=["999"])


def test_change_and_cluster_maps(result) -> None:  # type: ignore[no-untyped-def]
    two = pd.concat(
        [result.index.rename("v"), (result.index + 5.0).rename("v")],
        keys=["2019", "2020"],
        names=["year"],
    )
    two.index = pd.MultiIndex.from_arrays(
        [two.index.get_level_values("entity"), two.index.get_level_values("year")],
        names=["entity", "period"],
    )
    from securindex.geo.values import SpatialValues

    data = SpatialValues(two, "v", "Index", "score", "positive", areas=result.areas)
    figure = plot_change(data, start="2019", end="2020")
    assert "change in Index [score]" in figure.axes[1].get_ylabel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = local_morans(result, seed=0)
    figure = plot_clusters(table, result.areas, polarity="positive")
    labels = _legend(figure)
    counts = table["cluster"].value_counts()
    assert f"high–high (more secure) ({counts['HH']})" in labels
    colours = dict(zip(labels, _colours(figure), strict=True))
    assert colours[f"high–high (more secure) ({counts['HH']})"] == CLUSTER_COLOURS["LL"]  # blue


def test_maps_need_polygons() -> None:
    values = pd.Series([1.0, 2.0], index=["a", "b"], name="v")
    with pytest.raises(DataError, match="no area polygons to draw on"):
        plot_map(values)


def test_natural_breaks_say_nothing_about_numba(result) -> None:  # type: ignore[no-untyped-def]
    """mapclassify warns on every Fisher–Jenks call when numba is absent; the breaks are the
    same, so a user drawing a map sees no such warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_map(result, "pct_households_poverty", scheme="natural_breaks", k=4)
    assert not [w for w in caught if "Numba" in str(w.message)]
