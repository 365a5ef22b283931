"""The ``securindex map`` and ``securindex hotspots`` commands; :func:`register` adds them.

Both build the framework over the data (as ``securindex compute``), then draw or test one
variable of the result on the areas' polygons named in the data dictionary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from securindex._console import (
    DataArgument,
    DictionaryOption,
    FrameworkArgument,
    OutputOption,
    console,
    fail,
    output_path,
    read_panel,
)
from securindex.errors import SecurindexError

__all__ = ["register"]

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")

_Show = Annotated[
    str | None,
    typer.Option("--show", help="node, rank_<node> or indicator to use (default: the index)"),
]
_Stage = Annotated[
    str, typer.Option(help="stage of an indicator: raw, imputed, treated or normalised")
]
_Period = Annotated[str | None, typer.Option(help="period to use (default: the latest)")]


def _result(framework: str, data: str, dictionary: str | None) -> Any:
    from securindex.framework import Framework

    fw = Framework.load(framework)
    panel = read_panel(data, dictionary, framework=fw)
    return fw.compute(panel)


def _period(result: Any, period: str | None) -> Any:
    """The period as stored (``2020`` the integer when the periods are integers)."""
    if period is None:
        return None
    for stored in result.scores.index.unique("period"):
        if str(stored) == period:
            return stored
    return period


def map_command(
    framework: FrameworkArgument,
    data: DataArgument,
    output: OutputOption = None,
    dictionary: DictionaryOption = None,
    show: _Show = None,
    stage: _Stage = "raw",
    period: _Period = None,
    scheme: Annotated[
        str, typer.Option(help="classes: quantiles, natural_breaks, equal_interval or user")
    ] = "quantiles",
    classes: Annotated[int, typer.Option("--classes", min=1, help="number of classes")] = 5,
    bins: Annotated[
        str | None,
        typer.Option(help="upper bounds of the classes for --scheme user, e.g. '20,40,60,80,100'"),
    ] = None,
) -> None:
    """Draw a choropleth map of the index (or any node or indicator) on the areas' polygons.

    -o FILE.png|.svg|.pdf (default securindex-results/map.png). Needs the data
    dictionary to name the polygons (areas: {file, key}).
    """
    from securindex._extras import require
    from securindex._output import atomic_file
    from securindex.geo.maps import plot_map

    try:
        target = output_path(
            output,
            files=IMAGE_SUFFIXES,
            folder=False,
            default=Path("securindex-results") / "map.png",
        )
        require("geo", "maps")
        require("report", "maps")
        user_bins = [float(b) for b in bins.split(",")] if bins else None
        result = _result(framework, data, dictionary)
        figure = plot_map(
            result,
            show,
            stage=stage,
            period=_period(result, period),
            scheme=scheme,
            k=classes,
            bins=user_bins,
        )
        with atomic_file(target) as tmp:
            figure.savefig(tmp, dpi=150)
    except ValueError as exc:
        if isinstance(exc, SecurindexError):
            raise fail(exc) from None
        raise fail(SecurindexError(f"--bins: {exc}")) from None
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"[green]wrote[/green] {target}", highlight=False)


def hotspots_command(
    framework: FrameworkArgument,
    data: DataArgument,
    output: OutputOption = None,
    dictionary: DictionaryOption = None,
    show: _Show = None,
    stage: _Stage = "raw",
    permutations: Annotated[int, typer.Option(min=1, help="random permutations")] = 999,
    alpha: Annotated[float, typer.Option(help="significance level")] = 0.05,
    adjust: Annotated[
        str, typer.Option(help="multiple-testing adjustment: fdr, bonferroni or none")
    ] = "fdr",
    seed: Annotated[int, typer.Option(help="seed of the permutations")] = 0,
) -> None:
    """Test the index (or any node or indicator) for spatial clusters and hot spots.

    Prints global Moran's I per period; -o FOLDER (default securindex-results/hotspots)
    gets moran.csv, local_moran.csv (LISA clusters), getis_ord.csv (Gi* hot and cold
    spots) and clusters.png.
    """
    from rich.table import Table

    from securindex._extras import require
    from securindex._output import atomic_folder
    from securindex.geo.autocorrelation import getis_ord, local_morans, morans_i
    from securindex.geo.maps import plot_clusters
    from securindex.geo.values import spatial_values

    try:
        target = output_path(output, default=Path("securindex-results") / "hotspots")
        require("geo", "hot spots")
        require("report", "the cluster map")
        result = _result(framework, data, dictionary)
        values = spatial_values(result, show, stage=stage)
        options: dict[str, Any] = {"permutations": permutations, "seed": seed}
        moran = morans_i(values, **options)
        local = local_morans(values, alpha=alpha, adjust=adjust, **options)
        spots = getis_ord(values, alpha=alpha, adjust=adjust, **options)
        with atomic_folder(target) as tmp:
            moran.to_csv(tmp / "moran.csv", index=False)
            local.to_csv(tmp / "local_moran.csv", index=False)
            spots.to_csv(tmp / "getis_ord.csv", index=False)
            figure = plot_clusters(local, values.areas, polarity=values.polarity)
            figure.savefig(tmp / "clusters.png", dpi=150)
    except SecurindexError as exc:
        raise fail(exc) from None
    table = Table(title=f"Moran's I of {values.label} ({moran['weights'].iloc[0]})")
    for column in ("period", "areas", "I", "p (perm.)", "hot spots", "cold spots"):
        table.add_column(column, justify="left" if column == "period" else "right")
    for row in moran.itertuples():
        in_period = spots[spots["period"].astype(str) == str(row.period)]
        table.add_row(
            str(row.period),
            str(row.n_areas),
            f"{row.I:.3f}",
            f"{row.p_sim:.3f}",
            str(int((in_period["cluster"] == "hot spot").sum())),
            str(int((in_period["cluster"] == "cold spot").sum())),
        )
    console.print(table)
    console.print(f"[green]wrote[/green] {target}/", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``map`` and ``hotspots`` to ``app`` (called by :mod:`securindex.cli`)."""
    app.command("map")(map_command)
    app.command("hotspots")(hotspots_command)
