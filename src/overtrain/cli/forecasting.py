"""`overtrain forecast`, `backtest`, `fit` and `point-forecast`: laws fitted to runs, forecasts and how far to trust
them."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from overtrain.errors import OvertrainError
from overtrain.files import check_figure, check_writable
from overtrain.names import DEFAULT_ERROR_LAW, DEFAULT_LEVEL, ENSEMBLE, LOSS_LAW_NAMES

if TYPE_CHECKING:
    from overtrain.fitting.method import Method
    from overtrain.forecasts import FittedLaws
    from overtrain.runs.table import RunTable
    from overtrain.trust.prediction import TrustedForecast
from overtrain.cli.app import console, print_json, reports_errors, warn, working
from overtrain.cli.options import (
    AllowImplausibleOption,
    BacktestErrorLawOption,
    ColumnOption,
    ErrorLawOption,
    FamilyOption,
    FitErrorOption,
    FitLossOption,
    ForecastErrorLawOption,
    JsonOption,
    LawOption,
    LossSplitOption,
    ObjectiveOption,
    PoolOption,
    RunsPath,
    SizesOption,
    TargetOption,
    TaskInfoOption,
    TasksOption,
    families_named,
    runs_from,
)


def fit_all(runs: RunTable, family: list[str] | None, loss_split: str | None, tasks: str | None,
             method: Method) -> list[FittedLaws]:
    from overtrain.forecasts import fit_families

    return fit_families(runs, families_named(runs, family) or runs.families, method, loss_split=loss_split, tasks=tasks)


def fit_chosen(runs: RunTable, family: list[str] | None, loss_split: str | None, tasks: str | None,
                fit_loss: str | None, fit_error: str | None) -> list[FittedLaws]:
    """Each family's laws as `--law auto` chooses them (single laws: an ensemble is not one law a file can hold);
    the reasons go to stderr."""
    from overtrain.fitting.method import Method
    from overtrain.trust.choice import CANDIDATE_ERROR
    from overtrain.trust.prediction import ForecastRequest, forecast_family

    request = ForecastRequest(loss_split, tasks, Method("auto", loss_fit_set=fit_loss, error_fit_set=fit_error),
                              tuple(law for law in CANDIDATE_ERROR if law != ENSEMBLE), level=None)
    laws = []
    with working("choosing the laws") as step:
        for name in families_named(runs, family) or runs.families:
            chosen = forecast_family(runs.family(name), [], request, progress=step)
            print(f"{name}: {chosen.selection.reason()}", file=sys.stderr)
            laws.append(chosen.laws)
    return laws


def _show_forecasts(laws: list[FittedLaws], forecasts: list[TrustedForecast], json_output: bool,
                    notes: list[str], per_task: bool = False, warnings: list[str] | None = None) -> None:
    """The forecasts and laws on stdout, as tables or one JSON document; the `warnings` about the runs and each
    forecast's own go to stderr with tables, into the document's notes and predictions with --json."""
    from overtrain.render.tables import forecast_table, laws_table, task_tables

    warnings = warnings or []
    if json_output:
        print_json({
            "predictions": [f.to_dict() for f in forecasts],
            "laws": [law.to_dict() for law in laws],
            "notes": [f"warning: {w}" for w in warnings] + notes,
        })
        return
    console.print(forecast_table(forecasts))
    if per_task:
        for table in task_tables(forecasts):
            console.print(table)
    console.print(laws_table(laws))
    for note in notes:
        console.print(note, highlight=False)
    for warning in dict.fromkeys([*warnings, *(w for f in forecasts for w in f.warnings())]):
        warn(warning)


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
    )] = DEFAULT_LEVEL,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the figure: your runs, the fitted law and the target (.png, .svg or .pdf).")] = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    per_task: Annotated[bool, typer.Option(
        "--per-task", help="Also show each task's forecast accuracy with its interval (always in --json).",
        metavar="")] = False,
    allow_implausible: AllowImplausibleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Fit the loss and error laws to RUNS and forecast each target run's loss and average error."""
    from overtrain.fitting.method import Method
    from overtrain.forecasts import parse_target
    from overtrain.trust.choice import CANDIDATE_ERROR
    from overtrain.trust.prediction import ForecastRequest, forecast_families

    parsed = [parse_target(t) for t in target]  # validate targets before fitting
    if not 0 <= interval < 1:
        raise OvertrainError(f"--interval must be a level in [0, 1), got {interval}")
    if plot is not None:
        check_figure(plot)
    table = runs_from(runs, sizes, task_info, column, allow_implausible)
    skipped: dict[str, str] = {}
    # --law auto chooses the error law too, among every candidate unless one is named
    request = ForecastRequest(loss_split, tasks, Method(law, objective, error_law or DEFAULT_ERROR_LAW, fit_loss,
                                                        fit_error, pool),
                              CANDIDATE_ERROR if error_law is None else (error_law,), level=interval or None)
    with working("forecasting") as step:
        results = forecast_families(table, families_named(table, family) or table.families, parsed, request,
                                    skipped=skipped, progress=step)
    from overtrain.render.tables import family_notes
    from overtrain.runs.table import IMPLAUSIBLE

    warnings = [note for note in table.notes if IMPLAUSIBLE in note]
    warnings += [f"not forecast: {why}" for why in skipped.values()]
    notes = family_notes(results)
    if plot is not None:
        from overtrain.forecasts import family_curves
        from overtrain.render.figures import forecast_figure, save

        curves = [family_curves(table, r.laws, [f.forecast for f in r.forecasts]) for r in results]
        save(forecast_figure(table, [r.laws for r in results], [f for r in results for f in r.forecasts], curves),
             plot)
        notes.append(f"wrote {plot}")
    _show_forecasts([r.laws for r in results], [f for r in results for f in r.forecasts], json_output, notes,
                    per_task, warnings)


@reports_errors
def backtest_command(
    runs: RunsPath = None,
    loss_split: LossSplitOption = None,
    tasks: TasksOption = None,
    law: LawOption = "shared-exponent",
    objective: ObjectiveOption = "least-squares",
    error_law: BacktestErrorLawOption = DEFAULT_ERROR_LAW,
    interval: Annotated[float, typer.Option("--interval", help="Interval level to calibrate and check.")] = (
        DEFAULT_LEVEL),
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
    allow_implausible: AllowImplausibleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Backtest: forecast larger runs from smaller, cheaper ones; errors, coverage, figure."""
    if plot is not None:
        check_figure(plot)
    import numpy as np

    from overtrain.fitting.method import Method
    from overtrain.forecasts import default_task_spec
    from overtrain.render.tables import backtest_table
    from overtrain.trust.backtest import BacktestOptions, summarize_backtest
    from overtrain.trust.choice import Candidates, select_method

    table = runs_from(runs, sizes, task_info, column, allow_implausible)
    chosen = families_named(table, family)
    if chosen:
        table = table.subset(np.isin(table.column("family"), chosen))
    if where:
        table = table.select(where)
        if not len(table):
            raise OvertrainError(f"{table.source}: --where {where!r} leaves no runs")
    split = loss_split or table.default_split()
    task_spec = default_task_spec(table, tasks)
    if protocol == "size-ahead" and not fit_loss:
        raise OvertrainError("--protocol size-ahead needs --fit-loss (and --fit-error for error forecasts)")
    with working("backtesting") as step:
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
        print_json(summary.to_dict())
        return
    console.print(backtest_table(summary))
    if plot is not None:
        console.print(f"wrote {plot}")


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
    allow_implausible: AllowImplausibleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Fit the laws to RUNS and save them as a JSON law file for `overtrain point-forecast` (printed without -o)."""
    if output is not None:
        check_writable(output)
    if plot is not None:
        check_figure(plot)
    from overtrain.fitting.method import Method
    from overtrain.lawfile import laws_document, provenance, save_laws
    from overtrain.render.tables import laws_table

    table = runs_from(runs, sizes, task_info, column, allow_implausible)
    if law == "auto":
        laws = fit_chosen(table, family, loss_split, tasks, fit_loss, fit_error)
    else:
        laws = fit_all(table, family, loss_split, tasks, Method(law, objective, error_law, fit_loss, fit_error, pool))
    if plot is not None:
        from overtrain.forecasts import family_curves
        from overtrain.render.figures import forecast_figure, save

        save(forecast_figure(table, laws, [], [family_curves(table, law) for law in laws]), plot)
        print(f"wrote {plot}", file=sys.stderr)
    if output is not None:
        save_laws(output, laws, provenance(table))
    if output is None or json_output:
        print_json(laws_document(laws, provenance(table)))
        if output is not None:
            print(f"wrote {output}", file=sys.stderr)
        return
    console.print(laws_table(laws))
    console.print(f"wrote {output}")


@reports_errors
def point_forecast_command(
    laws: Annotated[Path, typer.Argument(help="A law file written by `overtrain fit -o`.")],
    target: TargetOption,
    json_output: JsonOption = False,
) -> None:
    """Point forecasts of target runs from a saved law file, without the runs it was fitted to (and so without
    intervals)."""
    from overtrain.forecasts import parse_target
    from overtrain.lawfile import load_laws
    from overtrain.trust.prediction import TrustedForecast

    fitted = load_laws(laws)
    parsed = [parse_target(t) for t in target]
    forecasts = [TrustedForecast(law.point_forecast(t.params, t.tokens), {}) for law in fitted for t in parsed]
    _show_forecasts(fitted, forecasts, json_output, [])


@functools.wraps(point_forecast_command)
def predict_command(*args: Any, **kwargs: Any) -> None:
    """`point-forecast` under its old name, kept hidden for one release: it says so, then runs."""
    warn("`predict` is now `point-forecast`; the old name goes in the next release")
    point_forecast_command(*args, **kwargs)
