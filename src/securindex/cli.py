"""The ``securindex`` command line: a thin layer over the public API.

Commands catch :class:`~securindex.errors.SecurindexError`, print its message (``file:line:
field: message`` for specifications) and exit with status 1. Nothing is written unless the
whole job succeeded; output paths and optional extras are checked before any work starts.
Every command follows the conventions of :mod:`securindex._console` (``-o``, ``-d``, ``-q``,
``-v`` …); frameworks, catalogues, dictionaries, evaluation jobs and datasets may be given
by their shipped name (``securindex examples`` lists them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from securindex._console import (
    DEFAULT_OUTPUT,
    DataArgument,
    DictionaryOption,
    FrameworkArgument,
    OutputOption,
    apply_conventions,
    console,
    errors,
    fail,
    output_path,
    read_panel,
    settings,
)
from securindex._output import atomic_file, atomic_folder
from securindex.errors import SecurindexError

if TYPE_CHECKING:
    from securindex.dataset import Panel
    from securindex.result import IndexResult

app = typer.Typer(
    name="securindex",
    help="Urban-security indicators and composite indices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from securindex import __version__

        console.print(f"securindex {__version__}", highlight=False)
        raise typer.Exit()


def _load_plugins(plugins: list[str]) -> None:
    """Import the ``securindex.plugins`` entry points, then each ``--plugin``.

    A plugin is a module name (found from the working folder too, as ``python -m`` would)
    or the path of a ``.py`` file; importing it runs its ``register_*`` decorators.
    """
    import importlib
    import importlib.util
    from importlib.metadata import entry_points

    for entry in entry_points(group="securindex.plugins"):
        entry.load()
    for plugin in plugins:
        try:
            path = Path(plugin)
            if path.suffix == ".py":
                spec = importlib.util.spec_from_file_location(path.stem, path)
                if spec is None or spec.loader is None or not path.is_file():
                    raise ImportError(f"no such file: {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[path.stem] = module
                spec.loader.exec_module(module)
            else:
                if "" not in sys.path and str(Path.cwd()) not in sys.path:
                    sys.path.insert(0, str(Path.cwd()))
                importlib.import_module(plugin)
        except Exception as exc:  # a plugin's own error: say which plugin, no traceback
            errors.print(f"error: --plugin {plugin}: {exc}", markup=False, highlight=False)
            raise typer.Exit(code=1) from None


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            "--plugin",
            help="a module or .py file to import first, so the methods it registers can be "
            "used (repeatable)",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of any error too.")
    ] = False,
) -> None:
    """Urban-security indicators and composite indices.

    Frameworks, catalogues, data dictionaries, evaluation jobs and datasets can be given by
    file or by shipped name: 'securindex examples' lists what ships.
    """
    settings.debug = debug
    _load_plugins(plugin or [])


@app.command()
def validate(
    paths: Annotated[
        list[str], typer.Argument(help="YAML files or folders, or shipped framework names")
    ],
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="also print each framework's effective pipeline: every step as it will "
            "run, and whether the file wrote it or it is a default",
        ),
    ] = False,
) -> None:
    """Check indicator, framework and data-dictionary YAML files; list every problem."""
    from securindex.shipped import frameworks, resolve
    from securindex.validate import validate_paths

    shipped = set(frameworks())
    targets = [
        resolve("framework", p) if not Path(p).exists() and p in shipped else Path(p) for p in paths
    ]
    issues, counts = validate_paths(targets)
    if issues:
        for issue in issues:
            errors.print(str(issue), markup=False, highlight=False)
        errors.print(f"{len(issues)} problem(s) found.", style="bold red")
        raise typer.Exit(code=1)
    if explain:
        from securindex.validate import explain_paths

        for text in explain_paths(targets):
            console.print(text, markup=False, highlight=False)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
    console.print(f"[green]OK[/green]: checked {summary} file(s).")


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(help="indicator, framework or dictionary")] = "indicator",
) -> None:
    """Print the JSON Schema of a YAML file kind (for editor autocompletion)."""
    from pydantic import BaseModel

    from securindex.spec.dictionary import DataDictionary
    from securindex.spec.framework import FrameworkSpec
    from securindex.spec.indicator import Indicator

    models: dict[str, type[BaseModel]] = {
        "indicator": Indicator,
        "framework": FrameworkSpec,
        "dictionary": DataDictionary,
    }
    if kind not in models:
        errors.print(f"error: unknown kind '{kind}'; choose one of {list(models)}")
        raise typer.Exit(code=2)
    sys.stdout.write(json.dumps(models[kind].model_json_schema(), indent=2) + "\n")


@app.command()
def examples() -> None:
    """List what ships with securindex, by name: frameworks, catalogues, dictionaries, datasets."""
    from rich.table import Table

    from securindex.shipped import examples as shipped

    table = Table(title="Shipped with securindex (use the name in place of a file)")
    for column in ("kind", "name", "title"):
        table.add_column(column)
    for row in shipped():
        table.add_row(row["kind"], row["name"], row["title"])
    console.print(table)
    console.print(
        "e.g. securindex compute iusi uci_communities; securindex evaluate "
        "berlin_drug_enforcement; securindex indicators uci_communities -c crime",
        markup=False,
        highlight=False,
    )


@app.command()
def indicators(
    data: DataArgument,
    catalogue: Annotated[
        list[str] | None,
        typer.Option(
            "--catalogue", "-c", help="indicator YAML files or folders, or shipped names (all)"
        ),
    ] = None,
    output: OutputOption = None,
    dictionary: DictionaryOption = None,
    only: Annotated[
        list[str] | None, typer.Option("--indicator", "-i", help="compute only these ids")
    ] = None,
) -> None:
    """Compute indicator values over a panel and write them as CSV or Parquet.

    Without --indicator, every indicator the data can feed is computed and the others are
    listed as skipped; with --indicator, each one named must be computable.
    """
    from securindex._extras import require
    from securindex.catalogue import Catalogue

    try:
        target = output_path(output, files=(".csv", ".parquet"))
        if target.suffix.lower() == ".parquet":
            require("parquet", f"writing {target}")
        cat = Catalogue.load(*(catalogue or ["all"]))
        panel = read_panel(data, dictionary)
        skipped: dict[str, str] = {}
        wanted = only
        if only is None:
            wanted, skipped = cat.computable(panel)
            if not wanted:  # nothing computable: the full error of a strict run
                wanted = None
                skipped = {}
        values = cat.compute(panel, indicators=wanted)
        if not target.suffix:
            target = target / "indicators.csv"
        ids = panel.id_names  # the data's own id column names in the files written
        names = {"entity": ids["entity"], "period": ids["period"]}
        if set(names.values()) & set(values.frame.columns):
            names = {}
        frame = values.frame.reset_index().rename(columns=names)
        with atomic_file(target) as tmp:
            if target.suffix.lower() == ".parquet":
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_csv(tmp, index=False)
        audit_path = target.with_name(target.stem + ".audit.csv")
        with atomic_file(audit_path) as tmp:
            values.audit.rename(columns=names).to_csv(tmp, index=False)
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(
        f"[green]wrote[/green] {target} ({values.frame.shape[0]} rows × "
        f"{values.frame.shape[1]} indicators)"
    )
    if skipped:
        console.print(f"[yellow]{len(skipped)} indicator(s) skipped[/yellow] (data lack inputs):")
        for indicator, reason in skipped.items():
            console.print(f"  {indicator}: {reason}", markup=False, highlight=False)
    if len(values.audit):
        counts = values.audit.groupby(["indicator", "reason"]).size()
        console.print(
            f"[yellow]{len(values.audit)} value(s) could not be computed[/yellow] (see {audit_path}):"
        )
        for (indicator, reason), n in counts.head(20).items():
            console.print(f"  {indicator}: {reason} ({n})", markup=False)


@app.command("catalogue")
def catalogue_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="catalogue folders or shipped names (default: the shipped 'all')"),
    ] = None,
    category: Annotated[str | None, typer.Option(help="only this category")] = None,
    tag: Annotated[str | None, typer.Option(help="only indicators with this tag")] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="only indicators citing this framework (and code), e.g. 'SDG 16'"),
    ] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="print a Markdown table")] = False,
    write_readmes: Annotated[
        bool, typer.Option("--write-readmes", help="regenerate each category folder's README.md")
    ] = False,
) -> None:
    """List the catalogue's indicators, filter them, or regenerate the category READMEs."""
    from rich.table import Table

    from securindex.catalogue import Catalogue
    from securindex.catalogue_table import catalogue_frame, filter_indicators, markdown_table
    from securindex.catalogue_table import write_readmes as write
    from securindex.shipped import resolve

    try:
        roots = [resolve("catalogue", p) for p in paths or ["all"]]
        cat = Catalogue.load(*roots)
    except SecurindexError as exc:
        raise fail(exc) from None
    if write_readmes:
        for root in roots:
            for path in write(cat, root):
                console.print(f"[green]wrote[/green] {path}")
        return
    selected = filter_indicators(cat, category=category, tag=tag, reference=reference)
    if markdown:
        sys.stdout.write(markdown_table(selected))
        return
    frame = catalogue_frame(selected)
    table = Table(title=f"{len(frame)} of {len(cat)} indicators")
    for column in ("id", "category", "polarity", "unit", "references"):
        table.add_column(column)
    for row in frame.itertuples(index=False):
        table.add_row(row.id, row.category, row.polarity, row.unit, row.references)
    console.print(table)


def _write_result(result: IndexResult, target: Path) -> dict[str, Path]:
    """``-o``: one table (.csv, .parquet, .json) or a results folder (every stage)."""
    suffix = target.suffix.lower()
    writers = {".csv": ("scores", "to_csv"), ".parquet": ("scores", "to_parquet")}
    writers[".json"] = ("json", "to_json")
    if suffix in writers:
        name, method = writers[suffix]
        with atomic_file(target) as tmp:
            getattr(result, method)(tmp)
        return {name: target}
    with atomic_folder(target) as tmp:
        written = result.write(tmp)
    return {name: target / path.name for name, path in written.items()}


@app.command()
def compute(
    framework: FrameworkArgument,
    data: DataArgument,
    output: OutputOption = None,
    dictionary: DictionaryOption = None,
) -> None:
    """Build a composite index: one row per (entity, period), a column per node, ranks.

    -o FILE.csv|.parquet|.json writes the score table; -o FOLDER (default
    securindex-results/) writes every stage, the weights and the audit as well.
    """
    from securindex._extras import require
    from securindex.framework import Framework

    try:
        target = output_path(output, files=(".csv", ".parquet", ".json"))
        if target.suffix.lower() == ".parquet":
            require("parquet", f"writing {target}")
        fw = Framework.load(framework)
        panel = read_panel(data, dictionary, framework=fw)
        result = fw.compute(panel)
        written = _write_result(result, target)
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"[green]wrote[/green] {target}: {result!r}", highlight=False)
    if len(written) > 1:
        console.print(", ".join(p.name for p in written.values()), markup=False, highlight=False)


@app.command()
def demo(
    output: OutputOption = None,
    framework: Annotated[str, typer.Option(help="shipped framework to build")] = "iusi",
    dataset: Annotated[str, typer.Option(help="shipped example dataset")] = "uci_communities",
    report: Annotated[
        bool | None,
        typer.Option(help="write the HTML report (default: when the report extra is installed)"),
    ] = None,
) -> None:
    """Build the Integrated Urban Security Index over the shipped real example data.

    Prints a short summary and writes a results folder: scores and ranks, every stage,
    weights, the audit and (with the report extra) a self-contained HTML report.
    """
    from securindex._extras import has_extra, require
    from securindex.framework import Framework

    try:
        target = output_path(output, files=())
        if report:
            require("report", "the HTML report")
        draw = has_extra("report") if report is None else report
        fw = Framework.load(framework)
        panel = read_panel(dataset)
        result = fw.compute(panel)
        with atomic_folder(target) as tmp:
            written = result.write(tmp)
            if draw and result.areas is not None and has_extra("geo"):
                from securindex.geo.maps import plot_map

                plot_map(result).savefig(tmp / "map.png", dpi=150)
                written["map"] = tmp / "map.png"
            _print_summary(result, panel)
            if draw:
                from securindex.report import write_report

                written["report"] = write_report(
                    result, tmp / "report.html", progress=not console.quiet
                )
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"\n[green]Results written to[/green] {target}/:")
    for name, path in written.items():
        console.print(f"  {name:16} {path.name}", markup=False)
    if not draw:
        console.print(
            "HTML report skipped: it needs matplotlib and jinja2 (the 'report' extra): "
            "pip install matplotlib jinja2",
            markup=False,
            highlight=False,
        )


def _print_summary(result: IndexResult, panel: Panel) -> None:
    import pandas as pd
    from rich.table import Table

    fw = result.framework
    latest = result.scores.index.unique("period").max()
    table = result.period(latest)
    pillars = list(fw.top_level)
    console.print(
        f"[bold]{fw.spec.name or fw.id}[/bold] over {panel.name}: "
        f"{len(result.scores.index.unique('entity'))} entities, period {latest}, "
        f"{len(fw.indicators)} indicators in {len(pillars)} pillars"
    )
    view = Table(title=f"Top and bottom 5 of {len(table)} ({fw.id}: higher = more secure)")
    view.add_column("rank", justify="right")
    view.add_column("entity")
    view.add_column(fw.id, justify="right")
    for pillar in pillars:
        view.add_column(pillar, justify="right")
    shown = table.head(5) if len(table) <= 10 else pd.concat([table.head(5), table.tail(5)])
    for position, (_, row) in enumerate(shown.iterrows()):
        if position == 5 and len(table) > 10:
            view.add_row("…", "…", "", *["" for _ in pillars])
        view.add_row(
            f"{row[f'rank_{fw.id}']:.0f}",
            panel.label(row["entity"]),
            f"{row[fw.id]:.1f}",
            *[f"{row[p]:.1f}" for p in pillars],
        )
    console.print(view)
    audit = result.audit
    counts = audit.groupby(["stage", "action"]).size() if len(audit) else pd.Series(dtype=int)
    excluded = int(counts.get(("screen", "excluded"), 0))
    imputed = int(counts.get(("impute", "imputed"), 0))
    winsorised = int(counts.get(("treat", "winsorised"), 0))
    transformed = audit.loc[audit["action"] == "transformed", "item"].tolist() if len(audit) else []
    console.print(
        f"Audit: {excluded} row(s) screened out, {imputed} value(s) imputed, "
        f"{winsorised} value(s) winsorised"
        + (f", log-transformed: {', '.join(map(str, transformed))}" if transformed else "")
    )


@app.command()
def evaluate(
    job: Annotated[
        str,
        typer.Argument(
            help="evaluation YAML (data, measures, evaluation block), or a shipped name"
        ),
    ],
    output: OutputOption = None,
    plots: Annotated[
        bool | None,
        typer.Option(
            help="write the plots (before/after, event study, synthetic control, ITS) and the "
            "HTML report (default: when matplotlib and jinja2 are installed)"
        ),
    ] = None,
) -> None:
    """Evaluate an initiative or monitor progress against a baseline and targets.

    Writes its tables into -o FOLDER (default securindex-results/evaluation/).
    """
    from securindex._extras import has_extra, require
    from securindex.evaluation.job import load_job, run_evaluation
    from securindex.shipped import resolve

    try:
        target = output_path(output, files=(), default=DEFAULT_OUTPUT / "evaluation")
        if plots:
            require("report", "the evaluation plots")
        draw = has_extra("report") if plots is None else plots
        path = resolve("evaluation", job)
        spec = load_job(path)
        outcome = run_evaluation(spec, base_dir=path.parent)
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(outcome.summary(), markup=False, highlight=False)
    try:
        with atomic_folder(target) as tmp:
            written = outcome.write(tmp, plots=draw)
            if draw:
                from securindex.report.evaluation import write_evaluation_report

                written["report"] = write_evaluation_report(outcome, tmp / "report.html")
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"[green]wrote[/green] {', '.join(p.name for p in written.values())} to {target}")


def _register_extensions() -> None:
    """Commands defined next to the subpackages they drive."""
    from securindex.analysis._cli import register as register_analysis
    from securindex.engines._cli import register as register_engines
    from securindex.geo._cli import register as register_geo
    from securindex.report._cli import register as register_report

    register_report(app)
    register_geo(app)
    register_analysis(app)
    register_engines(app)
    apply_conventions(app)


_register_extensions()


def main() -> None:
    """Entry point of the ``securindex`` console script.

    An input error that escapes a command's own handler is printed like the others (exit
    1); any other exception is a bug in securindex: one line says so (exit 3), and
    ``--debug`` shows its traceback.
    """
    try:
        app()
    except SecurindexError as exc:
        raise SystemExit(fail(exc).exit_code) from None
    except Exception as exc:
        if settings.debug:
            raise
        errors.print(
            f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in securindex, not "
            "in your input; run the same command with 'securindex --debug …' to see where, "
            "and report it.",
            markup=False,
            highlight=False,
        )
        raise SystemExit(3) from None


if __name__ == "__main__":  # pragma: no cover
    main()
