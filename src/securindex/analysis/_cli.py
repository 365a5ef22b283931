"""Command-line commands of the analysis: ``securindex analyse`` and ``securindex uncertainty``.

:func:`register` adds them to the main Typer app (``securindex.cli``). Like the other
commands they call only the public API, print ``file:line: message`` for specification
errors, exit with status 1 on any securindex error, and write nothing unless the job
succeeded.

A framework file may carry its ``uncertainty:`` block under that key: it is read here and
removed before the framework is validated (or give it in a separate file with ``--spec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from securindex._console import (
    DEFAULT_OUTPUT,
    DataArgument,
    DictionaryOption,
    FrameworkArgument,
    OutputOption,
    console,
    fail,
    output_path,
    read_panel,
)
from securindex._output import atomic_folder
from securindex.analysis._budget import MAX_REPLICATES
from securindex.errors import SecurindexError, SpecError

if TYPE_CHECKING:
    from securindex.analysis.uncertainty import UncertaintySpec
    from securindex.framework import Framework
    from securindex.result import IndexResult

__all__ = ["register"]

_ESTIMATE_ABOVE = 10_000  # replicates above which the run's estimate is printed first


def load_framework(path: str | Path) -> tuple[Framework, UncertaintySpec | None]:
    """A framework file (or shipped name), and its ``uncertainty:`` block when it has one."""
    from securindex._yaml import Located, read_yaml
    from securindex.analysis.uncertainty import UncertaintySpec
    from securindex.framework import Framework
    from securindex.shipped import resolve
    from securindex.spec._validate import validate_located
    from securindex.spec.framework import FrameworkSpec

    path = resolve("framework", path)
    located = read_yaml(path)
    value = located.value
    if not (isinstance(value, Mapping) and "uncertainty" in value):
        return Framework.load(path), None
    block = validate_located(UncertaintySpec, located, ("uncertainty",))
    rest = Located(
        {k: v for k, v in value.items() if k != "uncertainty"}, located.file, located.positions
    )
    spec = validate_located(FrameworkSpec, rest)
    return Framework.from_spec(spec, base_dir=path.parent, located=rest), block


def _build(framework: Framework, data: str, dictionary: str | None) -> IndexResult:
    return framework.compute(read_panel(data, dictionary, framework=framework))


def _plots_wanted(plots: bool | None, what: str) -> bool:
    """``--plots`` demands matplotlib (checked now); the default draws when it is there."""
    from securindex._extras import has_extra, require

    if plots:
        require("report", what)
    return has_extra("report") if plots is None else plots


def _save_figure(ax: Any, path: Path) -> Path:
    figure = ax.figure
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def register(app: typer.Typer) -> None:
    """Add the ``analyse`` and ``uncertainty`` commands to ``app``."""

    @app.command("analyse")
    def analyse(
        framework: FrameworkArgument,
        data: DataArgument,
        output: OutputOption = None,
        dictionary: DictionaryOption = None,
        threshold: Annotated[
            float, typer.Option(help="|r| above which two indicators are flagged collinear")
        ] = 0.9,
        profiles: Annotated[int, typer.Option(help="strengths and weaknesses per entity")] = 3,
        plots: Annotated[
            bool | None,
            typer.Option(help="draw correlation heat maps (default: when matplotlib is there)"),
        ] = None,
    ) -> None:
        """Statistical coherence: statistics, availability, correlations, alpha, PCA, profiles.

        Writes into -o FOLDER (default securindex-results/coherence/).
        """
        from securindex.analysis.coherence import coherence_report

        try:
            output = output_path(output, files=(), default=DEFAULT_OUTPUT / "coherence")
            draw = _plots_wanted(plots, "correlation heat maps")
            fw, _ = load_framework(framework)
            result = _build(fw, data, dictionary)
            report = coherence_report(result, threshold=threshold, n_profile=profiles)
            with atomic_folder(output) as tmp:
                written = report.write(tmp)
                if draw:
                    from securindex.analysis.plots import plot_correlation

                    for name in ("pearson_1_1", "pearson_1_2"):
                        if name in report.correlations:
                            title = f"Pearson {name[8:]}"
                            ax = plot_correlation(report.correlations[name], title=title)
                            png = tmp / f"correlation_{name}.png"
                            written[f"{name}_png"] = _save_figure(ax, png)
        except SecurindexError as exc:
            raise fail(exc) from None
        n_flags = len(report.flags)
        console.print(f"[green]wrote[/green] {len(written)} files to {output}")
        console.print(f"{n_flags} correlation flag(s); Cronbach's alpha per node:")
        for row in report.cronbach.reset_index().itertuples(index=False):
            console.print(f"  {row.node}: {row.alpha:.3f} ({row.n_items} items)", markup=False)

    @app.command("uncertainty")
    def uncertainty(
        framework: FrameworkArgument,
        data: DataArgument,
        output: OutputOption = None,
        spec: Annotated[
            Path | None,
            typer.Option("--spec", help="uncertainty YAML (default: the framework's block)"),
        ] = None,
        n_replicates: Annotated[
            int | None, typer.Option("-n", "--replicates", help="Monte-Carlo replicates")
        ] = None,
        sobol: Annotated[bool, typer.Option("--sobol", help="also compute Sobol indices")] = False,
        sobol_base: Annotated[
            int, typer.Option("--sobol-base", help="base sample N of the Sobol design")
        ] = 512,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="validate and list the factors only")
        ] = False,
        seed: Annotated[int | None, typer.Option(help="random seed")] = None,
        dictionary: DictionaryOption = None,
        chunk_size: Annotated[
            int | None, typer.Option(help="replicates evaluated together (memory bound)")
        ] = None,
        plots: Annotated[
            bool | None,
            typer.Option(help="draw the rank-interval and Sobol plots (default: with matplotlib)"),
        ] = None,
        max_replicates: Annotated[
            int,
            typer.Option(
                "--max-replicates",
                help="refuse runs of more replicates than this, with an estimate (0: no limit)",
            ),
        ] = MAX_REPLICATES,
    ) -> None:
        """Monte-Carlo uncertainty (and Sobol sensitivity) analysis of the index ranks.

        Writes into -o FOLDER (default securindex-results/uncertainty/, where 'securindex
        report securindex-results' finds it for its uncertainty section).
        """
        from securindex._extras import require
        from securindex.analysis.uncertainty import (
            estimate_uncertainty,
            load_uncertainty_spec,
            run_uncertainty,
            uncertainty_factors,
        )

        try:
            output = output_path(output, files=(), default=DEFAULT_OUTPUT / "uncertainty")
            if sobol:
                require("sensitivity", "--sobol (Sobol sensitivity indices)")
            draw = _plots_wanted(plots, "the rank-interval plot") and not dry_run
            from securindex.shipped import resolve

            framework_file = resolve("framework", framework)
            fw, block = load_framework(framework_file)
            if spec is None and block is None:
                raise SpecError(
                    f"{framework} has no 'uncertainty:' block; add one or give --spec FILE"
                )
            # read from the file, so that every problem is located at file:line
            source = spec if spec is not None else framework_file
            load_uncertainty_spec(source)  # fail fast, before the data are read
            result = _build(fw, data, dictionary)
            factors = uncertainty_factors(result, source)
            if dry_run:
                console.print(
                    f"{len(factors)} factor(s), {int(factors['dimensions'].sum())} dimensions:"
                )
                for row in factors.itertuples(index=False):
                    console.print(
                        f"  {row.factor} [{row.kind}, {row.dimensions}]: {row.description}",
                        markup=False,
                    )
                return
            limit = max_replicates or None
            allowed = limit is None or (n_replicates or 0) <= limit  # else the refusal says it
            if n_replicates is not None and n_replicates > _ESTIMATE_ABOVE and allowed:
                estimate = estimate_uncertainty(result, source, n_replicates=n_replicates)
                console.print(f"estimated: {estimate}", markup=False)
            analysis = run_uncertainty(
                result,
                source,
                n_replicates=n_replicates,
                seed=seed,
                chunk_size=chunk_size,
                progress=not console.quiet,
                max_replicates=limit,
            )
            sensitivity = None
            if sobol:
                from securindex.analysis.sensitivity import run_sensitivity

                sensitivity = run_sensitivity(
                    result,
                    source,
                    n_base=sobol_base,
                    seed=seed,
                    chunk_size=chunk_size,
                    progress=not console.quiet,
                    max_replicates=limit,
                )
            with atomic_folder(output) as tmp:
                written = analysis.write(tmp)
                if sensitivity is not None:
                    written.update(sensitivity.write(tmp))
                if draw:
                    from securindex.analysis.plots import plot_rank_intervals, plot_sobol

                    ax = plot_rank_intervals(analysis)
                    written["rank_intervals"] = _save_figure(ax, tmp / "rank_intervals.png")
                    if sensitivity is not None:
                        ax = plot_sobol(sensitivity)
                        written["sobol_png"] = _save_figure(ax, tmp / "sobol.png")
        except SecurindexError as exc:
            raise fail(exc) from None
        console.print(f"[green]wrote[/green] {len(written)} files to {output}: {analysis!r}")
        if sensitivity is not None:
            table = sensitivity.table()
            console.print("Sobol indices of the mean rank shift (first order, total):")
            for factor, row in table.iterrows():
                console.print(f"  {factor}: S1 {row['S1']:.3f}, ST {row['ST']:.3f}", markup=False)
