"""The ``securindex`` command line: a thin layer over the public API.

Commands catch :class:`~securindex.errors.SecurindexError`, print its message (``file:line:
field: message`` for specifications) and exit with status 1. Nothing is written unless the
whole job succeeded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from securindex._console import console, errors, fail
from securindex._output import atomic_file, atomic_folder, check_target
from securindex.errors import SecurindexError

if TYPE_CHECKING:
    from securindex.dataset import Panel
    from securindex.result import IndexResult

app = typer.Typer(
    name="securindex",
    help="Urban-security indicators and composite indices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="YAML files or folders to check")],
) -> None:
    """Check indicator, framework and data-dictionary YAML files; list every problem."""
    from securindex.validate import validate_paths

    issues, counts = validate_paths(paths)
    if issues:
        for issue in issues:
            errors.print(str(issue), markup=False, highlight=False)
        errors.print(f"{len(issues)} problem(s) found.", style="bold red")
        raise typer.Exit(code=1)
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
def indicators(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet panel")],
    catalogue: Annotated[
        list[Path], typer.Option("--catalogue", "-c", help="indicator YAML files or folders")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write")],
    dictionary: Annotated[
        Path | None, typer.Option("--dictionary", "-d", help="data dictionary YAML")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--indicator", "-i", help="compute only these ids")
    ] = None,
) -> None:
    """Compute indicator values over a panel and write them as CSV."""
    from securindex.catalogue import Catalogue
    from securindex.dataset import Panel

    audit_path = output.with_name(output.stem + ".audit.csv")
    try:
        check_target(output, kind="file")
        check_target(audit_path, kind="file")
        cat = Catalogue.load(*catalogue)
        panel = Panel.read(data, dictionary=dictionary)
        values = cat.compute(panel, indicators=only)
        with atomic_file(output) as tmp:
            values.to_csv(tmp)
        with atomic_file(audit_path) as tmp:
            values.audit.to_csv(tmp, index=False)
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(
        f"[green]wrote[/green] {output} ({values.frame.shape[0]} rows × "
        f"{values.frame.shape[1]} indicators)"
    )
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
        list[Path] | None, typer.Argument(help="catalogue folders (default: ./indicators)")
    ] = None,
    category: Annotated[str | None, typer.Option(help="only this category")] = None,
    tag: Annotated[str | None, typer.Option(help="only indicators with this tag")] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="only indicators citing this framework[/code], e.g. 'SDG 16'"),
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

    roots = paths or [Path("indicators")]
    try:
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


@app.command()
def compute(
    framework: Annotated[Path, typer.Argument(help="framework YAML")],
    data: Annotated[Path, typer.Argument(help="CSV or Parquet panel")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="CSV file, or a folder for every stage")
    ],
    dictionary: Annotated[
        Path | None, typer.Option("--dictionary", "-d", help="data dictionary YAML")
    ] = None,
) -> None:
    """Build a composite index: one row per (entity, period), a column per node, ranks."""
    from securindex.dataset import Panel
    from securindex.framework import Framework

    suffix = output.suffix.lower()
    writers = {".csv": "to_csv", ".parquet": "to_parquet", ".json": "to_json"}
    try:
        check_target(output, kind="file" if suffix in writers else "folder")
        fw = Framework.load(framework)
        beside = [
            data.with_name(data.name.split(".")[0] + ".dictionary.yaml"),
            data.with_name("dictionary.yaml"),
        ]
        if dictionary is None and not any(p.exists() for p in beside):
            dictionary = fw.dictionary_path  # the framework's own data dictionary, if it names one
        panel = Panel.read(data, dictionary=dictionary)
        result = fw.compute(panel)
        if suffix in writers:
            with atomic_file(output) as tmp:
                getattr(result, writers[suffix])(tmp)
        else:
            with atomic_folder(output) as tmp:
                result.write(tmp)
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"[green]wrote[/green] {output}: {result!r}")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="results folder to write")] = Path(
        "securindex-results"
    ),
    framework: Annotated[str, typer.Option(help="shipped framework to build")] = "iusi",
    dataset: Annotated[str, typer.Option(help="shipped example dataset")] = "uci_communities",
    report: Annotated[bool, typer.Option(help="write the HTML report")] = True,
) -> None:
    """Build the Integrated Urban Security Index over the shipped real example data.

    Prints a short summary and writes a results folder: scores and ranks, every stage,
    weights, the audit and a self-contained HTML report.
    """
    from securindex.dataset import Panel
    from securindex.framework import Framework
    from securindex.shipped import framework_file

    try:
        check_target(output, kind="folder")
        fw = Framework.load(framework_file(framework))
        panel = Panel.example(dataset)
        result = fw.compute(panel)
        with atomic_folder(output) as tmp:
            written = result.write(tmp)
            _print_summary(result, panel)
            if report:
                try:
                    from securindex.report import write_report
                except ImportError as exc:
                    console.print(
                        f"[yellow]HTML report skipped[/yellow]: {exc}. "
                        "Install it with: pip install 'securindex\\[report]'"
                    )
                else:
                    written["report"] = write_report(result, tmp / "report.html")
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"\n[green]Results written to[/green] {output}/:")
    for name, path in written.items():
        console.print(f"  {name:16} {path.name}", markup=False)


def _print_summary(result: IndexResult, panel: Panel) -> None:
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
    job: Annotated[Path, typer.Argument(help="evaluation YAML (data, measures, evaluation block)")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="folder for CSV/JSON results")
    ] = None,
    plots: Annotated[bool, typer.Option(help="write trajectory and before/after plots")] = True,
) -> None:
    """Evaluate an initiative or monitor progress against a baseline and targets."""
    from securindex.evaluation.job import load_job, run_evaluation

    try:
        if output is not None:
            check_target(output, kind="folder")
        spec = load_job(job)
        outcome = run_evaluation(spec, base_dir=job.parent)
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(outcome.summary(), markup=False, highlight=False)
    if output is None:
        return
    try:
        with atomic_folder(output) as tmp:
            written = outcome.write(tmp)
            if plots and outcome.initiative is not None:
                try:
                    figure = outcome.initiative.plot()  # matplotlib Axes
                except ImportError as exc:
                    console.print(f"[yellow]plots skipped[/yellow]: {exc}")
                else:
                    figure.get_figure().savefig(
                        tmp / "before_after.png", dpi=120, bbox_inches="tight"
                    )
                    written["before_after"] = output / "before_after.png"
    except SecurindexError as exc:
        raise fail(exc) from None
    console.print(f"[green]wrote[/green] {', '.join(p.name for p in written.values())} to {output}")


def _register_extensions() -> None:
    """Commands defined next to the subpackages they drive."""
    from securindex.analysis._cli import register as register_analysis
    from securindex.engines._cli import register as register_engines
    from securindex.report._cli import register as register_report

    register_report(app)
    register_analysis(app)
    register_engines(app)


_register_extensions()


def main() -> None:
    """Entry point of the ``securindex`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
