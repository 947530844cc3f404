"""The `overtrain` command line: a thin layer over the Python API."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from overtrain import __version__
from overtrain.errors import OvertrainError
from overtrain.paper import PAPER_LOSS_SPLIT, PAPER_TASK_SETS, reproduce
from overtrain.readers import read_runs
from overtrain.render.tables import reproduction_tables, runs_table
from overtrain.runs import RunTable
from overtrain.testbed import load_testbed

app = typer.Typer(
    name="overtrain",
    help="Forecast the loss and downstream error of a large training run from cheap small runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn an OvertrainError into one line on stderr and exit code 2; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OvertrainError as error:
            print(f"overtrain: error: {error}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _runs(path: Path | None) -> RunTable:
    return load_testbed() if path is None else read_runs(path)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")


RunsArgument = Annotated[
    Path | None,
    typer.Option("--runs", help="Runs: a runs table (CSV/Parquet) or a directory of open_lm JSONs. "
                 "Default: the bundled Gadre et al. testbed."),
]


@app.command("reproduce")
@reports_errors
def reproduce_command(
    runs: RunsArgument = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
    loss_split: Annotated[str, typer.Option(help="Loss split the laws are fitted on.")] = PAPER_LOSS_SPLIT,
    tasks: Annotated[
        list[str] | None, typer.Option(help="Task set for average error (repeatable): 17, 46, all, or a,b,c.")
    ] = None,
    fit_loss: Annotated[str, typer.Option(help="Loss fit set: a preset or a filter.")] = "paper-loss",
    fit_error: Annotated[str, typer.Option(help="Error fit set: a preset or a filter.")] = "paper-error",
    targets: Annotated[str, typer.Option(help="Runs to forecast: a preset or a filter.")] = "paper-targets",
    family: Annotated[list[str] | None, typer.Option(help="Only these training distributions (repeatable).")] = None,
) -> None:
    """Reproduce Gadre et al. (2024): fit on small runs, forecast the 1.4B and 6.9B runs."""
    result = reproduce(
        _runs(runs),
        loss_split=loss_split,
        task_sets=tasks or PAPER_TASK_SETS,
        loss_fit_set=fit_loss,
        error_fit_set=fit_error,
        targets=targets,
        families=family,
    )
    if json_output:
        _print_json(result.to_dict())
        return
    for table in reproduction_tables(result):
        console.print(table)


@app.command("runs")
@reports_errors
def runs_command(
    path: Annotated[
        Path | None, typer.Argument(help="Runs table or open_lm directory (default: bundled testbed).")
    ] = None,
) -> None:
    """Show what was read: runs per family, ranges of N, D, M and C, splits and tasks."""
    console.print(runs_table(_runs(path)))


@app.command("version")
def version_command() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
