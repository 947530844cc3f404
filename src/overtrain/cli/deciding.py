"""`overtrain plan`, `design` and `compare`: forecasts turned into decisions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overtrain.errors import OvertrainError
from overtrain.files import check_figure
from overtrain.names import DEFAULT_ERROR_LAW, DEFAULT_LEVEL
from overtrain.sizes import amount

if TYPE_CHECKING:
    from overtrain.forecasts import FittedLaws
from overtrain.cli.app import console, print_json, reports_errors, warn, working
from overtrain.cli.forecasting import fit_all
from overtrain.cli.options import (
    AllowImplausibleOption,
    ColumnOption,
    FamilyOption,
    FitErrorOption,
    FitLossOption,
    ForecastErrorLawOption,
    JsonOption,
    LossSplitOption,
    RunsPath,
    SizesOption,
    TaskInfoOption,
    TasksOption,
    families_named,
    runs_from,
)


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
        "--interval", help="Interval level for the forecast at the plan (runs only); 0 for none.")] = DEFAULT_LEVEL,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the frontier figure (.png, .svg or .pdf).")] = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    allow_implausible: AllowImplausibleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Which N and D reach a target loss or error at least total compute (training + inference)."""
    if plot is not None:
        check_figure(plot)
    budget = None if budget is None else amount(budget, "--budget")
    inference_tokens = None if inference_tokens is None else [amount(v, "--inference-tokens")
                                                               for v in inference_tokens]
    from overtrain.decide.plan import under_budget
    from overtrain.fitting.method import Method
    from overtrain.lawfile import load_laws
    from overtrain.render.tables import budget_table, cheaper_table, plan_table

    law_file = source is not None and source.suffix == ".json" and source.is_file()
    if law_file and (sizes or task_info is not None or column):
        raise OvertrainError(f"{source} is a law file: --sizes, --task-info and --column are for reading runs")
    runs = None if law_file else runs_from(source, sizes, task_info, column, allow_implausible)
    fitted = load_laws(source) if law_file else fit_all(
        runs, family, loss_split, tasks, Method(loss_fit_set=fit_loss, error_fit_set=fit_error))
    if target_loss is None and target_error is None:
        if budget is None:
            raise OvertrainError("give --target-loss, --target-error, or --budget")
        unused = [name for name, value in (("--plot", plot), ("--inference-tokens", inference_tokens),
                                            ("--interval", interval if interval != DEFAULT_LEVEL else None)) if value]
        if unused:
            raise OvertrainError(f"{', '.join(unused)}: for a plan to reach --target-loss or --target-error; "
                                 "--budget alone prints what the budget buys at each M")
        tables = {law.family: under_budget(law, budget) for law in fitted}
        if json_output:
            best = {name: min(rows, key=lambda r: r["loss"]) for name, rows in tables.items()}
            print_json({"budget": budget, "best": best, "by_multiplier": tables})
            return
        for family_name, rows in tables.items():
            console.print(budget_table(family_name, rows))
        return
    from overtrain.decide.cheaper import cheaper_by_volume
    from overtrain.decide.plan import plan_families

    volumes = inference_tokens or [0.0]
    with working("planning") as step:
        results = plan_families(fitted, runs, volumes, target_loss=target_loss, target_error=target_error,
                                budget=budget, level=interval, progress=step)
        if plot is not None:
            _plan_figures(fitted, results, plot, step)
    odds = cheaper_by_volume(results, interval, runs) if len(fitted) > 1 and runs is not None else []
    if json_output:
        from overtrain.trust.intervals import intervals_document

        print_json({"plans": [{"family": r.laws.family, **r.plan.to_dict(),
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


@reports_errors
def design_command(
    target: Annotated[str, typer.Option("--target", help="The big run, e.g. params=7e9,tokens=1.4e11.")],
    budget: Annotated[str, typer.Option("--budget", help="FLOPs to spend on the small runs, e.g. 1e20.")],
    runs: Annotated[Path | None, typer.Argument(
        help="Runs whose forecasts by the paper's recipe say what accuracy to expect (as `overtrain reproduce "
        "RUNS` makes them): a runs table, open_lm directory, or harness directory with --sizes; default: the "
        "bundled testbed.")] = None,
    sizes: SizesOption = None,
    task_info: TaskInfoOption = None,
    column: ColumnOption = None,
    allow_implausible: AllowImplausibleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Propose the small runs to train first (sizes, multipliers, cost) and the accuracy to expect."""
    from overtrain.decide.plan import design
    from overtrain.forecasts import parse_target
    from overtrain.render.tables import design_table

    parsed = parse_target(target)
    budget_flops = amount(budget, "--budget")
    proposal = design(parsed.params, parsed.tokens, budget_flops, runs=runs_from(runs, sizes, task_info, column,
                                                                                  allow_implausible))
    if json_output:
        print_json(proposal.to_dict())
        return
    console.print(design_table(proposal))
    console.print(proposal.expectation(), highlight=False)


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
    interval: Annotated[float, typer.Option("--interval", help="Interval level of the forecasts.")] = DEFAULT_LEVEL,
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
    allow_implausible: AllowImplausibleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Which family (data recipe) wins at the target: a ranking with intervals, P(best) and the leading pairs' odds."""
    from overtrain.decide.compare import CompareOptions, compare_families
    from overtrain.fitting.method import Method
    from overtrain.forecasts import parse_target
    from overtrain.render.tables import comparison_tables, comparison_warnings
    from overtrain.trust.prediction import ForecastRequest

    parsed = parse_target(target)
    if not 0 < interval < 1:
        raise OvertrainError(f"--interval must be a level in (0, 1), got {interval}")
    if plot is not None:
        check_figure(plot)
    table = runs_from(runs, sizes, task_info, column, allow_implausible)
    if baseline is not None:
        baseline = (families_named(table, [baseline]) or [baseline])[0]
    with working("comparing") as step:
        request = ForecastRequest(loss_split, tasks, Method(error_law=error_law, loss_fit_set=fit_loss,
                                                            error_fit_set=fit_error), level=interval)
        comparison = compare_families(table, parsed, request, CompareOptions(shape, curve=plot is not None),
                                      families=families_named(table, family), progress=step)
        if plot is not None:
            from overtrain.render.figures import comparison_figure, save

            step("drawing")
            save(comparison_figure(comparison, table), plot)
    if json_output:
        print_json(comparison.to_dict(pairs=pairs, baseline=baseline))
        return
    for result in comparison_tables(comparison, top=top, baseline=baseline, pairs=pairs):
        console.print(result)
    for warning in comparison_warnings(comparison):
        warn(warning)
    if plot is not None:
        console.print(f"wrote {plot}")
