"""`overtrain reproduce` (the paper, or a user's runs, as the paper did it) and `overtrain runs`."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overtrain.errors import InputProblems, OvertrainError
from overtrain.interrupts import checkpoint

if TYPE_CHECKING:
    from overtrain.runs.table import RunTable
from overtrain.cli.app import console, print_json, reports_errors, warn, working
from overtrain.cli.options import (
    AllowImplausibleOption,
    ColumnOption,
    FamilyOption,
    JsonOption,
    RunsAlias,
    RunsPath,
    SizesOption,
    TaskInfoOption,
    families_named,
    renamed,
    runs_from,
)


@reports_errors
def reproduce_command(
    runs: RunsPath = None,
    json_output: JsonOption = False,
    loss_split: Annotated[str | None, typer.Option(
        help="Loss split the laws are fitted on. Default: the paper's C4 validation loss.")] = None,
    tasks: Annotated[
        list[str] | None, typer.Option(help="Task set for average error (repeatable): 17, 46, all, or a,b,c.")
    ] = None,
    fit_loss: Annotated[str | None, typer.Option(
        help="Loss fit set: a preset or a filter. Default: paper-loss; for your RUNS, every run of a smaller model "
        "than the largest.")] = None,
    fit_error: Annotated[str | None, typer.Option(
        help="Error fit set: a preset or a filter. Default: paper-error; for your RUNS, as the loss fit set.")] = None,
    targets: Annotated[str | None, typer.Option(
        help="Runs to forecast: a preset or a filter. Default: paper-targets; for your RUNS, those of the largest "
        "model.")] = None,
    family: FamilyOption = None,
    everything: Annotated[bool, typer.Option(
        "--all", metavar="", help="Every table and figure of the paper, as a report written into --output.")
    ] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Directory for --all (created; must be empty).")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --all: write into a non-empty --output.", metavar="")
                     ] = False,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    runs_alias: RunsAlias = None,
    out_alias: Annotated[Path | None, typer.Option("--out", hidden=True, help="The old name of --output.")] = None,
    allow_implausible: AllowImplausibleOption = False,
) -> None:
    """Reproduce Gadre et al. (2024): fit on small runs, forecast the 1.4B and 6.9B runs."""
    from overtrain.paper import recipe_settings, reproduce
    from overtrain.render.tables import reproduction_tables

    runs = renamed(runs, runs_alias, "RUNS", "--runs")
    output = renamed(output, out_alias, "--output", "--out")
    if not everything and (output is not None or force):
        raise OvertrainError(f"{'--output' if output is not None else '--force'} is for --all (the report); "
                             "without --all the tables are printed")
    if everything and json_output:
        raise OvertrainError("--json and --all: the report's numbers are written to DIR/results.json; use one")
    table = runs_from(runs, sizes, task_info, column, allow_implausible)
    if everything:
        _reproduce_all(table, output, force)
        return
    defaults = recipe_settings(table)  # the paper's method on a user's runs: fit on the smaller models
    result = reproduce(
        table,
        loss_split=loss_split or defaults["loss_split"],
        task_sets=tasks or defaults["task_sets"],
        loss_fit_set=fit_loss or defaults["loss_fit_set"],
        error_fit_set=fit_error or fit_loss or defaults["error_fit_set"],
        targets=targets or defaults["targets"],
        families=families_named(table, family),
    )
    if json_output:
        print_json(result.to_dict())
        return
    for printed in reproduction_tables(result):
        console.print(printed)


def _reproduce_all(runs: RunTable, out: Path | None, force: bool) -> None:
    from overtrain.paper import reproduce_all

    if out is None:
        raise OvertrainError("--all needs --output DIR, the directory to write the report into")
    if out.exists() and not out.is_dir():
        raise OvertrainError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OvertrainError(f"{out}: directory is not empty; use --force to write into it")
    created = next((p for p in reversed(out.absolute().parents) if not p.exists()), None)
    if any(p.exists() and not p.is_dir() for p in out.absolute().parents):
        raise OvertrainError(f"{out}: cannot write there, a part of the path is a file")
    out.parent.mkdir(parents=True, exist_ok=True)  # missing folders are created, and removed if the report fails
    # the report is built in a hidden sibling and moved into place when whole: an interruption leaves nothing
    building = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    finished = False
    try:
        with working("reproducing the paper", total=16) as step:
            from overtrain.render.report import write_report  # matplotlib loads only for commands that draw

            evidence = reproduce_all(runs, progress=step)
            written = write_report(evidence, runs, building, progress=step)
        checkpoint()
        out.mkdir(exist_ok=True)
        for path in written:
            os.replace(path, out / path.name)
        finished = True
    finally:
        shutil.rmtree(building, ignore_errors=True)
        if not finished and created is not None:
            shutil.rmtree(created, ignore_errors=True)
    console.print(f"wrote {len(written)} files into {out}: report.html, report.md, results.json and figures")


def runs_command(
    runs: RunsPath = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show what was read (runs per family, ranges of N, D, M, C, splits, tasks) and every problem found."""
    from overtrain.render.tables import runs_table
    from overtrain.runs.checks import diagnose

    try:
        table = runs_from(runs, sizes, task_info, column, allow_implausible=True)
    except InputProblems as problems:
        for problem in problems.problems:
            print(f"overtrain: error: {problem}", file=sys.stderr)
        raise typer.Exit(2) from None
    except OvertrainError as error:
        print(f"overtrain: error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    problems = diagnose(table)
    if json_output:
        print_json({**table.describe(), "problems": problems})
        return
    console.print(runs_table(table))
    for problem in problems:
        warn(problem)
    if not problems:
        console.print("no problems found")
