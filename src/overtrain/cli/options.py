"""The options several commands share, and reading what they name: the runs, the families, sizes, renamed columns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overtrain.errors import OvertrainError
from overtrain.names import ENSEMBLE, ERROR_LAW_NAMES, LOSS_LAW_NAMES

if TYPE_CHECKING:
    from overtrain.runs.table import RunTable


def column_renames(pairs: list[str] | None) -> dict[str, str]:
    """`--column OLD=NEW` options as a mapping."""
    mapping = {}
    for pair in pairs or []:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise OvertrainError(f"--column {pair!r}: write OLD=NEW, e.g. --column val_loss=loss:val")
        mapping[old.strip()] = new.strip()
    return mapping


def runs_from(path: Path | None, sizes: list[Path] | None = None, task_info: Path | None = None,
              columns: list[str] | None = None, allow_implausible: bool = False) -> RunTable:
    """The runs a command reads: RUNS (sizes no model has had refused unless `allow_implausible`), or the bundled
    testbed."""
    from overtrain.runs.readers import read_runs
    from overtrain.runs.testbed import load_testbed

    if path is None:
        if sizes or task_info is not None or columns:
            raise OvertrainError("--sizes, --task-info and --column need a RUNS path")
        return load_testbed()
    return read_runs(path, sizes=sizes, task_info=task_info, columns=column_renames(columns),
                     allow_implausible=allow_implausible)


def families_named(runs: RunTable, requested: list[str] | None) -> list[str] | None:
    """The families named by --family: as the runs spell them, in any case, or as the paper names the bundled ones
    (RedPajama for rpj); an unknown name is an error that lists what is there."""
    if not requested:
        return None
    from overtrain.paper import FAMILY_NAMES

    known = {name.lower(): name for name in runs.families}
    known.update({label.lower(): name for name, label in FAMILY_NAMES.items() if name in runs.families})
    chosen = []
    for name in requested:
        if name.lower() not in known:
            labels = ", ".join(f"{f} ({FAMILY_NAMES[f]})" if f in FAMILY_NAMES else f for f in runs.families)
            raise OvertrainError(f"{runs.source}: no family {name!r} (families: {labels})")
        chosen.append(known[name.lower()])
    return chosen


AllowImplausibleOption = Annotated[bool, typer.Option(
    "--allow-implausible", help="Fit runs whose params or tokens no model has been trained at (refused by default: "
    "usually a unit slip, e.g. params in millions).", metavar="")]


SizesOption = Annotated[list[Path] | None, typer.Option(
    "--sizes", help="For lm-evaluation-harness results: a table with run, params, tokens (and optional columns); "
    "repeat it to join more columns on run, e.g. losses from training logs."
)]


ColumnOption = Annotated[list[str] | None, typer.Option(
    "--column", help="Read a column of RUNS under overtrain's name: OLD=NEW, e.g. val_loss=loss:val or "
    "acc_piqa=acc:piqa (repeatable).")]


TaskInfoOption = Annotated[Path | None, typer.Option(
    "--task-info", help="Task metadata table: task, chance[, category, shots, n_examples]."
)]


RunsPath = Annotated[Path | None, typer.Argument(
    help="Runs table (CSV/Parquet), open_lm directory, or harness directory with --sizes; default: bundled testbed."
)]


RunsAlias = Annotated[Path | None, typer.Option("--runs", hidden=True, help="The old name of RUNS.")]


def renamed(value: object, old_value: object, new: str, old: str) -> object:
    """The value given under a name or under its hidden old one, not both."""
    if old_value is not None and value is not None:
        raise OvertrainError(f"{old} is the old name of {new}: give one")
    return value if old_value is None else old_value


TargetOption = Annotated[list[str], typer.Option(
    "--target", help="A planned run, e.g. params=7e9,tokens=2e12 or params=7e9,multiplier=20 (repeatable)."
)]


FitLossOption = Annotated[str | None, typer.Option(
    "--fit-loss", help="Loss fit set: a preset or a filter. Default: every run with a loss on the split."
)]


FitErrorOption = Annotated[str | None, typer.Option(
    "--fit-error", help="Error fit set: a preset or a filter. Default: every run with that loss and all the tasks."
)]


LossSplitOption = Annotated[str | None, typer.Option(
    "--loss-split", help="Loss split to fit. Default: the only split, else 'default', else 'c4_val'."
)]


TasksOption = Annotated[str | None, typer.Option(
    "--tasks", help="Task set for average error: 17, 46, all, none, or a,b,c. Default: every task the runs carry."
)]


FamilyOption = Annotated[list[str] | None, typer.Option(
    "--family", help="Only these training distributions (repeatable). Default: each family, fitted separately."
)]


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.", metavar="")]


LawOption = Annotated[str, typer.Option(
    "--law", help=f"Loss law: {', '.join(LOSS_LAW_NAMES)}, or auto (the method that backtests best on these runs)."
)]


PoolOption = Annotated[bool, typer.Option(
    "--pool", help="Fit the loss law to every family of RUNS at once: one exponent, E, A, B per family.", metavar="")]


ObjectiveOption = Annotated[str, typer.Option("--objective", help="least-squares or huber-log (on log residuals).")]


ErrorLawOption = Annotated[str, typer.Option("--error-law", help=f"Error law: {', '.join(ERROR_LAW_NAMES)}.")]


BacktestErrorLawOption = Annotated[str, typer.Option(
    "--error-law", help=f"Error law: {ENSEMBLE} (the mean of the laws the runs' backtests find plausible; the "
    f"default, as forecast's) or one of {', '.join(ERROR_LAW_NAMES)}.")]


ForecastErrorLawOption = Annotated[str | None, typer.Option(
    "--error-law", help=f"Error law: {ENSEMBLE} (the mean of the laws the runs' backtests find plausible; the "
    f"default) or one of {', '.join(ERROR_LAW_NAMES)}; with --law auto, the one law to consider.")]
