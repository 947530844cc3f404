"""The `overtrain` command line: a thin layer over the Python API."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from overtrain._version import __version__
from overtrain.errors import InputProblems, OvertrainError
from overtrain.files import check_figure, check_writable
from overtrain.interrupts import checkpoint, listen
from overtrain.names import DEFAULT_ERROR_LAW, ENSEMBLE, ERROR_LAW_NAMES, LOSS_LAW_NAMES

if TYPE_CHECKING:
    from overtrain.fitting.method import Method
    from overtrain.forecast import FittedLaws
    from overtrain.runs.table import RunTable
    from overtrain.trust.trusted import TrustedForecast

# Every command imports the machinery it needs when it runs: `overtrain --help` loads typer, rich and numpy only.

def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


app = typer.Typer(
    name="overtrain",
    help="Forecast the loss and downstream error of a large training run from cheap small runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_version, is_eager=True, metavar="")] = False,
) -> None:
    """Forecast the loss and downstream error of a large training run from cheap small runs."""


def reports_errors(command: F) -> F:
    """Turn an OvertrainError into one line on stderr and exit code 2, Ctrl-C into "interrupted" and exit code 130;
    never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _check_names(kwargs)
            result = command(*args, **kwargs)
            checkpoint()
            return result
        except OvertrainError as error:
            print(f"overtrain: error: {error}", file=sys.stderr)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            print("overtrain: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except Exception as error:
            if not interrupted(error):
                raise
            print("overtrain: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def interrupted(error: BaseException) -> bool:
    """Whether `error` is a Ctrl-C in disguise: Python 3.11 wraps one that lands while a class is being created (a
    module importing) in a RuntimeError."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


def _check_names(options: dict[str, Any]) -> None:
    """Laws and fit-set presets named on the command line exist, before any work: a misspelling is one line with the
    names known and the nearest, not an error about the first family fitted."""
    import difflib

    def unknown(what: str, name: str, known: list[str], more: str = "", where: str = "") -> OvertrainError:
        near = difflib.get_close_matches(name, known, n=1)
        return OvertrainError(f"unknown {what} {name!r}{where} (known: {', '.join(known)}{more})"
                              + (f"; did you mean {near[0]!r}?" if near else ""))

    law = options.get("law")
    if isinstance(law, str) and law not in (*LOSS_LAW_NAMES, "auto"):
        raise unknown("loss law", law, [*LOSS_LAW_NAMES, "auto"])
    error_law = options.get("error_law")
    if isinstance(error_law, str) and error_law not in (*ERROR_LAW_NAMES, ENSEMBLE):
        raise unknown("error law", error_law, [*ERROR_LAW_NAMES, ENSEMBLE])
    for option in ("fit_loss", "fit_error"):
        spec = options.get(option)
        if isinstance(spec, str) and not any(op in spec for op in "=<>"):
            from overtrain.runs.fitsets import CHEAP_SUFFIX, PRESETS

            base = spec.removesuffix(CHEAP_SUFFIX)
            if base not in PRESETS:
                raise unknown("fit-set preset", base, list(PRESETS), "; or a filter like params<=4e8",
                              f" for --{option.replace('_', '-')}")


def _columns(pairs: list[str] | None) -> dict[str, str]:
    """`--column OLD=NEW` options as a mapping."""
    mapping = {}
    for pair in pairs or []:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise OvertrainError(f"--column {pair!r}: write OLD=NEW, e.g. --column val_loss=loss:val")
        mapping[old.strip()] = new.strip()
    return mapping


def _runs(path: Path | None, sizes: list[Path] | None = None, task_info: Path | None = None,
          columns: list[str] | None = None) -> RunTable:
    from overtrain.runs.readers import read_runs
    from overtrain.runs.testbed import load_testbed

    if path is None:
        if sizes or task_info is not None or columns:
            raise OvertrainError("--sizes, --task-info and --column need a RUNS path")
        return load_testbed()
    return read_runs(path, sizes=sizes, task_info=task_info, columns=_columns(columns))


@contextlib.contextmanager
def _working(description: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """A progress display on stderr for work that may take seconds: yields `step(name)`, which names the step
    under way (and advances the bar when `total` is known). Nothing is drawn when stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:  # rich would still end its display with a blank line
        yield lambda name: checkpoint()
        return
    columns = [SpinnerColumn(), TimeElapsedColumn(), BarColumn(bar_width=16), TextColumn("{task.description}")]
    if total is not None:
        columns.insert(3, TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)

        def step(name: str) -> None:
            checkpoint()
            progress.update(task, description=name, advance=1 if total is not None else 0)

        yield step


def _families(runs: RunTable, requested: list[str] | None) -> list[str] | None:
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


def _amount(text: str, option: str) -> float:
    """A non-negative number given to `option`, possibly with a size suffix (2T, 7B, 50M)."""
    from overtrain.runs.table import size_number

    value = size_number(text)
    if value is None or not math.isfinite(value) or value < 0:
        raise OvertrainError(f"{option}: cannot read {text!r} as an amount; write e.g. 1e22, 2T or 7B")
    return value


def _print_json(document: Any) -> None:
    """One JSON document on stdout; a number that does not exist (NaN: e.g. an error score of runs without
    tasks) is null."""
    sys.stdout.write(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


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
RunsArgument = Annotated[
    Path | None,
    typer.Option("--runs", help="Runs: a runs table (CSV/Parquet) or a directory of open_lm JSONs. "
                 "Default: the bundled Gadre et al. testbed."),
]


@app.command("reproduce")
@reports_errors
def reproduce_command(
    runs: RunsArgument = None,
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
    family: Annotated[list[str] | None, typer.Option(help="Only these training distributions (repeatable).")] = None,
    everything: Annotated[bool, typer.Option(
        "--all", metavar="", help="Every table and figure of the paper, as a report written into --out.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Directory for --all (created; must be empty).")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --all: write into a non-empty --out.", metavar="")
                     ] = False,
) -> None:
    """Reproduce Gadre et al. (2024): fit on small runs, forecast the 1.4B and 6.9B runs."""
    from overtrain.paper import PAPER_LOSS_SPLIT, PAPER_TASK_SETS, reproduce
    from overtrain.render.tables import reproduction_tables

    if not everything and (out is not None or force):
        raise OvertrainError(f"{'--out' if out is not None else '--force'} is for --all (the report); without --all "
                             "the tables are printed")
    if everything and json_output:
        raise OvertrainError("--json and --all: the report's numbers are written to DIR/results.json; use one")
    if everything:
        _reproduce_all(_runs(runs), out, force)
        return
    table = _runs(runs)
    if runs is None or _paper_like(table, PAPER_LOSS_SPLIT):
        defaults = (PAPER_LOSS_SPLIT, PAPER_TASK_SETS, "paper-loss", "paper-error", "paper-targets")
    else:  # the paper's method on a user's runs: fit on the smaller models, forecast the largest
        largest = f"{float(table.params.max()):.6g}"
        defaults = (table.default_split(), ["all"] if table.task_names else [], f"params<{largest}",
                    f"params<{largest}", f"params>={largest}")
    result = reproduce(
        table,
        loss_split=loss_split or defaults[0],
        task_sets=tasks or defaults[1],
        loss_fit_set=fit_loss or defaults[2],
        error_fit_set=fit_error or fit_loss or defaults[3],
        targets=targets or defaults[4],
        families=_families(table, family),
    )
    if json_output:
        _print_json(result.to_dict())
        return
    for printed in reproduction_tables(result):
        console.print(printed)


def _paper_like(runs: RunTable, split: str) -> bool:
    """Whether runs are the paper's own kind (its loss split, and runs its target preset names), so that its fit
    sets and targets apply."""
    try:
        return split in runs.splits and len(runs.select("paper-targets")) > 0
    except OvertrainError:
        return False


def _reproduce_all(runs: RunTable, out: Path | None, force: bool) -> None:
    from overtrain.paper import reproduce_all

    if out is None:
        raise OvertrainError("--all needs --out DIR, the directory to write the report into")
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
        with _working("reproducing the paper", total=16) as step:
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


@app.command("runs")
def runs_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="Runs table, open_lm directory or harness directory (default: bundled testbed)."),
    ] = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show what was read (runs per family, ranges of N, D, M, C, splits, tasks) and every problem found."""
    from overtrain.render.tables import runs_table
    from overtrain.runs.checks import diagnose

    try:
        runs = _runs(path, sizes, task_info, column)
    except InputProblems as problems:
        for problem in problems.problems:
            print(f"overtrain: error: {problem}", file=sys.stderr)
        raise typer.Exit(2) from None
    except OvertrainError as error:
        print(f"overtrain: error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    problems = diagnose(runs)
    if json_output:
        _print_json({**runs.describe(), "problems": problems})
        return
    console.print(runs_table(runs))
    for problem in problems:
        console.print(f"[yellow]warning:[/] {problem}", highlight=False)
    if not problems:
        console.print("no problems found")


def _fit_all(runs: RunTable, family: list[str] | None, loss_split: str | None, tasks: str | None,
             method: Method) -> list[FittedLaws]:
    from overtrain.forecast import fit_families

    return fit_families(runs, _families(runs, family) or runs.families, method, loss_split=loss_split, tasks=tasks)


def _fit_chosen(runs: RunTable, family: list[str] | None, loss_split: str | None, tasks: str | None,
                fit_loss: str | None, fit_error: str | None) -> list[FittedLaws]:
    """Each family's laws as `--law auto` chooses them (single laws: an ensemble is not one law a file can hold);
    the reasons go to stderr."""
    from overtrain.fitting.method import Method
    from overtrain.trust.choice import CANDIDATE_ERROR
    from overtrain.trust.trusted import ForecastRequest, forecast_family

    request = ForecastRequest(loss_split, tasks, Method("auto", loss_fit_set=fit_loss, error_fit_set=fit_error),
                              tuple(law for law in CANDIDATE_ERROR if law != ENSEMBLE), level=None)
    laws = []
    with _working("choosing the laws") as step:
        for name in _families(runs, family) or runs.families:
            chosen = forecast_family(runs.family(name), [], request, progress=step)
            print(f"{name}: {chosen.selection.reason()}", file=sys.stderr)
            laws.append(chosen.laws)
    return laws


def _show_forecasts(laws: list[FittedLaws], forecasts: list[TrustedForecast], json_output: bool,
                    notes: list[str], per_task: bool = False) -> None:
    from overtrain.render.tables import forecast_table, laws_table, task_tables

    if json_output:
        _print_json({
            "predictions": [f.to_dict() for f in forecasts],
            "laws": [law.to_dict() for law in laws],
            "notes": notes,
        })
        return
    console.print(forecast_table(forecasts))
    if per_task:
        for table in task_tables(forecasts):
            console.print(table)
    console.print(laws_table(laws))
    for note in notes:
        console.print(note, highlight=False)
    for warning in dict.fromkeys(w for f in forecasts for w in f.warnings()):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


RunsPath = Annotated[Path | None, typer.Argument(
    help="Runs table (CSV/Parquet), open_lm directory, or harness directory with --sizes; default: bundled testbed."
)]
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
ForecastErrorLawOption = Annotated[str | None, typer.Option(
    "--error-law", help=f"Error law: {ENSEMBLE} (the mean of the laws the runs' backtests find plausible; the "
    f"default) or one of {', '.join(ERROR_LAW_NAMES)}; with --law auto, the one law to consider.")]


@app.command("forecast")
@reports_errors
def forecast_command(
    target: TargetOption,
    runs: RunsPath = None,
    fit_loss: FitLossOption = None,
    fit_error: FitErrorOption = None,
    loss_split: LossSplitOption = None,
    tasks: TasksOption = None,
    family: FamilyOption = None,
    law: LawOption = "shared-exponent",
    objective: ObjectiveOption = "least-squares",
    error_law: ForecastErrorLawOption = None,
    pool: PoolOption = False,
    interval: Annotated[float, typer.Option(
        "--interval", help="Interval level (calibrated on the development suite's held-out forecasts); 0 for none.",
    )] = 0.9,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the figure: your runs, the fitted law and the target (.png, .svg or .pdf).")] = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    per_task: Annotated[bool, typer.Option(
        "--per-task", help="Also show each task's forecast accuracy with its interval (always in --json).",
        metavar="")] = False,
    json_output: JsonOption = False,
) -> None:
    """Fit the loss and error laws to RUNS and forecast each target run's loss and average error."""
    from overtrain.fitting.method import Method
    from overtrain.forecast import parse_target
    from overtrain.trust.choice import CANDIDATE_ERROR
    from overtrain.trust.trusted import ForecastRequest, forecast_families

    parsed = [parse_target(t) for t in target]  # validate targets before fitting
    if not 0 <= interval < 1:
        raise OvertrainError(f"--interval must be a level in [0, 1), got {interval}")
    if plot is not None:
        check_figure(plot)
    table = _runs(runs, sizes, task_info, column)
    skipped: dict[str, str] = {}
    # --law auto chooses the error law too, among every candidate unless one is named
    request = ForecastRequest(loss_split, tasks, Method(law, objective, error_law or DEFAULT_ERROR_LAW, fit_loss,
                                                        fit_error, pool),
                              CANDIDATE_ERROR if error_law is None else (error_law,), level=interval or None)
    with _working("forecasting") as step:
        results = forecast_families(table, _families(table, family) or table.families, parsed, request,
                                    skipped=skipped, progress=step)
    from overtrain.render.tables import family_notes
    from overtrain.runs.table import IMPLAUSIBLE

    notes = [f"warning: {note}" for note in table.notes if IMPLAUSIBLE in note]
    notes += [f"warning: not forecast: {why}" for why in skipped.values()]
    notes += family_notes(results)
    if plot is not None:
        from overtrain.render.figures import forecast_figure, save

        save(forecast_figure(table, [r.laws for r in results], [f for r in results for f in r.forecasts]), plot)
        notes.append(f"wrote {plot}")
    _show_forecasts([r.laws for r in results], [f for r in results for f in r.forecasts], json_output, notes,
                    per_task)


@app.command("backtest")
@reports_errors
def backtest_command(
    runs: RunsPath = None,
    loss_split: LossSplitOption = None,
    tasks: TasksOption = None,
    law: LawOption = "shared-exponent",
    objective: ObjectiveOption = "least-squares",
    error_law: ErrorLawOption = "exponential",
    interval: Annotated[float, typer.Option("--interval", help="Interval level to calibrate and check.")] = 0.9,
    where: Annotated[str | None, typer.Option(
        "--where", help="Backtest only these runs (a filter), e.g. params<=4.2e8 to keep the large runs unseen.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the error-vs-distance figure (.png, .svg or .pdf).")] = None,
    protocol: Annotated[str, typer.Option(
        "--protocol", help="rolling (every fit set of cheaper runs) or size-ahead (each size with 3+ smaller sizes "
        "forecast from the --fit-loss and --fit-error sets chosen among smaller runs).")] = "rolling",
    fit_loss: FitLossOption = None,
    fit_error: FitErrorOption = None,
    family: FamilyOption = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Backtest: forecast larger runs from smaller, cheaper ones; errors, coverage, figure."""
    if plot is not None:
        check_figure(plot)
    import numpy as np

    from overtrain.fitting.method import Method
    from overtrain.forecast import default_task_spec
    from overtrain.render.tables import backtest_table
    from overtrain.trust.calibration import summarize_backtest
    from overtrain.trust.choice import Candidates, select_method
    from overtrain.trust.protocols import BacktestOptions

    table = _runs(runs, sizes, task_info, column)
    chosen = _families(table, family)
    if chosen:
        table = table.subset(np.isin(table.column("family"), chosen))
    if where:
        table = table.select(where)
    split = loss_split or table.default_split()
    task_spec = default_task_spec(table, tasks)
    if protocol == "size-ahead" and not fit_loss:
        raise OvertrainError("--protocol size-ahead needs --fit-loss (and --fit-error for error forecasts)")
    with _working("backtesting") as step:
        selection = None
        if law == "auto":
            candidates = Candidates(fit_loss if protocol == "size-ahead" else None, fit_error)
            selection = select_method(table.complete(split), candidates, loss_split=split, tasks=task_spec,
                                      progress=step)
            method, protocol = selection.method, selection.protocol
        else:
            fit_sets = (fit_loss, fit_error or fit_loss) if protocol == "size-ahead" else (None, None)
            method = Method(law, objective, error_law, *fit_sets)
        summary = summarize_backtest(table, method, loss_split=split, tasks=task_spec,
                                     options=BacktestOptions(protocol, level=interval, n_resamples=64), progress=step)
    if selection is not None:
        console.print(selection.reason(), highlight=False)
    if plot is not None:
        from overtrain.render.figures import backtest_figure, save

        save(backtest_figure(summary.frame, f"backtest of {table.source}: {method.label}"), plot)
    if json_output:
        _print_json(summary.to_dict())
        return
    console.print(backtest_table(summary))
    if plot is not None:
        console.print(f"wrote {plot}")


@app.command("fit")
@reports_errors
def fit_command(
    runs: RunsPath = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the law file here (JSON).")] = None,
    fit_loss: FitLossOption = None,
    fit_error: FitErrorOption = None,
    loss_split: LossSplitOption = None,
    tasks: TasksOption = None,
    family: FamilyOption = None,
    law: Annotated[str, typer.Option("--law", help=f"Loss law: {', '.join(LOSS_LAW_NAMES)}, or auto (the laws that "
                                     "backtest best on these runs; the reason is printed).")] = "shared-exponent",
    objective: ObjectiveOption = "least-squares",
    error_law: ErrorLawOption = "exponential",
    pool: PoolOption = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the figure: your runs and the fitted loss law (.png, .svg or .pdf).")] = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Fit the laws to RUNS and save them as a JSON law file for `overtrain predict` (printed without -o)."""
    if output is not None:
        check_writable(output)
    if plot is not None:
        check_figure(plot)
    from overtrain.fitting.method import Method
    from overtrain.lawfile import laws_document, provenance, save_laws
    from overtrain.render.tables import laws_table

    table = _runs(runs, sizes, task_info, column)
    if law == "auto":
        laws = _fit_chosen(table, family, loss_split, tasks, fit_loss, fit_error)
    else:
        laws = _fit_all(table, family, loss_split, tasks, Method(law, objective, error_law, fit_loss, fit_error, pool))
    if plot is not None:
        from overtrain.render.figures import forecast_figure, save

        save(forecast_figure(table, laws, []), plot)
        print(f"wrote {plot}", file=sys.stderr)
    if output is not None:
        save_laws(output, laws, provenance(table))
    if output is None or json_output:
        _print_json(laws_document(laws, provenance(table)))
        if output is not None:
            print(f"wrote {output}", file=sys.stderr)
        return
    console.print(laws_table(laws))
    console.print(f"wrote {output}")


@app.command("predict")
@reports_errors
def predict_command(
    laws: Annotated[Path, typer.Argument(help="A law file written by `overtrain fit -o`.")],
    target: TargetOption,
    json_output: JsonOption = False,
) -> None:
    """Forecast target runs from a saved law file, without the runs it was fitted to."""
    from overtrain.forecast import parse_target
    from overtrain.lawfile import load_laws
    from overtrain.trust.trusted import TrustedForecast

    fitted = load_laws(laws)
    parsed = [parse_target(t) for t in target]
    forecasts = [TrustedForecast(law.forecast(t.params, t.tokens), {}) for law in fitted for t in parsed]
    _show_forecasts(fitted, forecasts, json_output, [])


@app.command("plan")
@reports_errors
def plan_command(
    source: Annotated[Path | None, typer.Argument(
        help="A law file (`overtrain fit -o`) or runs to fit; default: the bundled testbed.")] = None,
    target_loss: Annotated[float | None, typer.Option("--target-loss", help="Loss to reach.")] = None,
    target_error: Annotated[float | None, typer.Option("--target-error", help="Average error to reach.")] = None,
    inference_tokens: Annotated[list[str] | None, typer.Option(
        "--inference-tokens", help="Tokens served over the model's life, e.g. 2T (repeatable); default 0.")] = None,
    budget: Annotated[str | None, typer.Option(
        "--budget", help="Training FLOPs available (e.g. 1e22): with a target, a ceiling; alone, what it buys at "
        "each M.")] = None,
    fit_loss: FitLossOption = None,
    fit_error: FitErrorOption = None,
    loss_split: LossSplitOption = None,
    tasks: TasksOption = None,
    family: FamilyOption = None,
    interval: Annotated[float, typer.Option(
        "--interval", help="Interval level for the forecast at the plan (runs only); 0 for none.")] = 0.9,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the frontier figure (.png, .svg or .pdf).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Which N and D reach a target loss or error at least total compute (training + inference)."""
    if plot is not None:
        check_figure(plot)
    budget = None if budget is None else _amount(budget, "--budget")
    inference_tokens = None if inference_tokens is None else [_amount(v, "--inference-tokens")
                                                               for v in inference_tokens]
    from overtrain.decide.plan import under_budget
    from overtrain.fitting.method import Method
    from overtrain.lawfile import load_laws
    from overtrain.render.tables import budget_table, cheaper_table, plan_table

    law_file = source is not None and source.suffix == ".json" and source.is_file()
    runs = None if law_file else _runs(source)
    fitted = load_laws(source) if law_file else _fit_all(
        runs, family, loss_split, tasks, Method(loss_fit_set=fit_loss, error_fit_set=fit_error))
    if target_loss is None and target_error is None:
        if budget is None:
            raise OvertrainError("give --target-loss, --target-error, or --budget")
        unused = [name for name, value in (("--plot", plot), ("--inference-tokens", inference_tokens),
                                            ("--interval", interval if interval != 0.9 else None)) if value]
        if unused:
            raise OvertrainError(f"{', '.join(unused)}: for a plan to reach --target-loss or --target-error; "
                                 "--budget alone prints what the budget buys at each M")
        tables = {law.family: under_budget(law, budget) for law in fitted}
        if json_output:
            best = {name: min(rows, key=lambda r: r["loss"]) for name, rows in tables.items()}
            _print_json({"budget": budget, "best": best, "by_multiplier": tables})
            return
        for family_name, rows in tables.items():
            console.print(budget_table(family_name, rows))
        return
    from overtrain.decide.cheaper import cheaper_by_volume
    from overtrain.decide.plan import plan_families

    volumes = inference_tokens or [0.0]
    with _working("planning") as step:
        results = plan_families(fitted, runs, volumes, target_loss=target_loss, target_error=target_error,
                                budget=budget, level=interval, progress=step)
        if plot is not None:
            _plan_figures(fitted, results, plot, step)
    odds = cheaper_by_volume(results, interval, runs) if len(fitted) > 1 and runs is not None else []
    if json_output:
        from overtrain.trust.intervals import intervals_document

        _print_json({"plans": [{"family": r.laws.family, **r.plan.to_dict(),
                                "intervals": intervals_document(r.intervals)} for r in results], "cheaper": odds})
        return
    for table in plan_table([(r.laws.family, r.plan, r.intervals) for r in results]):
        console.print(table)
    if odds:
        console.print(cheaper_table(odds))
    if plot is not None:
        console.print(f"wrote {plot}")


def _plan_figures(fitted: list[FittedLaws], results: list, plot: Path, step: Callable[[str], None]) -> None:
    """One frontier figure per family (the plan with no inference first), suffixed by family when several."""
    from overtrain.decide.plan import plan
    from overtrain.render.figures import plan_figure, save

    for law in fitted:
        step(f"{law.family}: drawing")
        plans = [r.plan for r in results if r.laws is law]
        drawn = plans if any(p.inference_tokens == 0 for p in plans) else [
            plan(law, target_loss=plans[0].target_loss), *plans]
        save(plan_figure(law, drawn), plot if len(fitted) == 1 else plot.with_stem(f"{plot.stem}-{law.family}"))


@app.command("design")
@reports_errors
def design_command(
    target: Annotated[str, typer.Option("--target", help="The big run, e.g. params=7e9,tokens=1.4e11.")],
    budget: Annotated[str, typer.Option("--budget", help="FLOPs to spend on the small runs, e.g. 1e20.")],
    json_output: JsonOption = False,
) -> None:
    """Propose the small runs to train first (sizes, multipliers, cost) and the accuracy to expect."""
    from overtrain.decide.plan import design
    from overtrain.forecast import parse_target
    from overtrain.paper import design_evidence
    from overtrain.render.tables import design_table

    parsed = parse_target(target)
    proposal = design(parsed.params, parsed.tokens, _amount(budget, "--budget"), design_evidence())
    if json_output:
        _print_json(proposal.to_dict())
        return
    console.print(design_table(proposal))
    console.print(proposal.expectation(), highlight=False)


@app.command("compare")
@reports_errors
def compare_command(
    target: Annotated[str, typer.Option("--target", help="The big run, e.g. params=7e9,tokens=1.4e11.")],
    runs: RunsPath = None,
    fit_loss: FitLossOption = None,
    fit_error: FitErrorOption = None,
    loss_split: LossSplitOption = None,
    tasks: TasksOption = None,
    family: FamilyOption = None,
    error_law: ForecastErrorLawOption = DEFAULT_ERROR_LAW,
    interval: Annotated[float, typer.Option("--interval", help="Interval level of the forecasts.")] = 0.9,
    shape: Annotated[str, typer.Option(
        "--shape", help="own: each family's own laws; shared: one law for all, each family offset (for recipes "
        "trained at one or two sizes); auto: own unless a family cannot be fitted alone.")] = "auto",
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the figure: each family's forecast and band against compute (.png, .svg or .pdf)."
    )] = None,
    top: Annotated[int, typer.Option("--top", help="Families ranked in the terminal (every one is in --json).",
                                     min=1)] = 10,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", help="A family to rank and to pit against the leaders, e.g. the recipe in use today.")] = None,
    pairs: Annotated[bool, typer.Option(
        "--pairs", help="The odds of every pair, in the terminal and in --json (by default: the leading pairs).")
    ] = False,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Which family (data recipe) wins at the target: a ranking with intervals, P(best) and the leading pairs' odds."""
    from overtrain.decide.compare import CompareOptions, compare_families
    from overtrain.fitting.method import Method
    from overtrain.forecast import parse_target
    from overtrain.render.tables import comparison_tables
    from overtrain.trust.trusted import ForecastRequest

    parsed = parse_target(target)
    if not 0 < interval < 1:
        raise OvertrainError(f"--interval must be a level in (0, 1), got {interval}")
    if plot is not None:
        check_figure(plot)
    table = _runs(runs, sizes, task_info, column)
    if baseline is not None:
        baseline = (_families(table, [baseline]) or [baseline])[0]
    with _working("comparing") as step:
        request = ForecastRequest(loss_split, tasks, Method(error_law=error_law, loss_fit_set=fit_loss,
                                                            error_fit_set=fit_error), level=interval)
        comparison = compare_families(table, parsed, request, CompareOptions(shape, curve=plot is not None),
                                      families=_families(table, family), progress=step)
        if plot is not None:
            from overtrain.render.figures import comparison_figure, save

            step("drawing")
            save(comparison_figure(comparison, table), plot)
    if json_output:
        _print_json(comparison.to_dict(pairs=pairs, baseline=baseline))
        return
    for result in comparison_tables(comparison, top=top, baseline=baseline, pairs=pairs):
        console.print(result)
    if plot is not None:
        console.print(f"wrote {plot}")


@app.command("version")
def version_command() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    """Console-script entry point; Ctrl-C before a command's own handling starts (while typer parses) exits as it
    does within one: 130, one line. An interrupted process leaves at once once its files are cleaned up: the
    interpreter's shutdown would wait on (or abort over) the threads of a worker pool the interruption cut short."""
    listen()
    try:
        app()
    except KeyboardInterrupt:
        print("overtrain: interrupted", file=sys.stderr)
        _leave(130)
    except SystemExit as leaving:
        if leaving.code == 130:
            _leave(130)
        raise
    except Exception as error:
        if not interrupted(error):
            raise
        print("overtrain: interrupted", file=sys.stderr)
        _leave(130)


def _leave(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
