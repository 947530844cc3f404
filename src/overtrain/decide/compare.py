"""Which data recipe wins at scale: every family's forecast at one target, ranked, with the odds for every pair.

Each family is fitted and forecast as `overtrain forecast` does (`overtrain.trust.prediction`) when it can be fitted
alone; otherwise every family shares one shape (`overtrain.decide.shared`). The odds rest on how far gaps between
recipes move with scale (`overtrain.decide.gaps`), each quantity's standing on `overtrain.decide.ranking`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.decide.comparison import (
    CROSSING_DECADES,
    CROSSING_POINTS,
    CURVE_POINTS,
    RecipeComparison,
    RecipeForecast,
    Spread,
    TaskChoice,
    cannot_compare,
    curve_point,
)
from overtrain.decide.gaps import GapDrift, drift_with_runs, measure_gap_drift
from overtrain.decide.ranking import Standing, crossings
from overtrain.decide.shared import compare_shared, last_seen
from overtrain.errors import OvertrainError
from overtrain.forecasts import FittedLaws, Target, default_task_spec
from overtrain.quantities import Quantity, physical
from overtrain.runs.table import RunTable, measured_values
from overtrain.runs.tasks import TaskSet
from overtrain.runs.testbed import load_suite_evidence
from overtrain.trust.prediction import DEFAULT_REQUEST, Evidence, FamilyForecasts, ForecastRequest, forecast_family

#: How a comparison models each family: its own fitted laws, one shape shared by all, or own unless a family
#: cannot be fitted alone.
SHAPES = ("auto", "own", "shared")


#: Families compared by their own laws calibrate their intervals on the backtests of at most this many of them:
#: backtesting a database of hundreds would cost minutes and add evidence of the same kind.
CALIBRATION_FAMILIES = 24


@dataclass(frozen=True)
class CompareOptions:
    """How a comparison models the families: `shape` (one of `SHAPES`: each family's own laws, one shape shared by
    all, or own unless a family cannot be fitted alone), the gap drift the odds rest on (`drift`; None: measured on
    every development testbed of many recipes), and with `curve` each family also forecast along sizes around the
    target (`RecipeComparison.curve`, which the figure draws)."""

    shape: str = "auto"
    drift: GapDrift | None = None
    curve: bool = False


DEFAULT_COMPARE = CompareOptions()


def compare_families(
    runs: RunTable, target: Target, request: ForecastRequest = DEFAULT_REQUEST,
    options: CompareOptions = DEFAULT_COMPARE, *, families: Sequence[str] | None = None,
    suite: pd.DataFrame | None = None, progress: Callable[[str], None] | None = None,
) -> RecipeComparison:
    """Forecast every family of `runs` (or `families`) at `target` as `request` asks (each family alone as
    `overtrain forecast` does, or through one shared shape, as `options.shape` says) and compare them pair by pair.
    The odds rest on `options.drift`, its loss part measured on `runs` where they hold enough gap changes (see
    `overtrain.decide.gaps`); the intervals are calibrated on `suite` (default: the development suite's held-out
    forecasts). A family that cannot be compared is reported in `skipped` with the reason, not dropped silently.
    With no tasks named, the error averages the tasks every compared family was evaluated on (`TaskChoice`).
    `progress` hears each family.

    Parameters
    ----------
    runs : RunTable
        Every family's runs.
    target : Target
        The run to compare the families at.
    request : ForecastRequest
        Loss split, task set, method and interval level.
    options : CompareOptions
        Shared shape or each family alone, and the gap drift.
    families : sequence of str, optional
        The families to compare (default: all).
    suite : DataFrame, optional
        The held-out forecasts the intervals are calibrated on.
    progress : callable, optional
        Told each family.

    Returns
    -------
    RecipeComparison
        The ranking with intervals, P(best) and pair odds (`summary_frame()`, `to_dict()`)."""
    shape = options.shape
    if shape not in SHAPES:
        raise OvertrainError(f"unknown shape {shape!r} (choose from {', '.join(SHAPES)})")
    names = list(families or runs.families)
    if len(names) < 2:
        raise OvertrainError(f"{runs.source}: comparing needs at least 2 families, got {len(names)}")
    suite = load_suite_evidence() if suite is None else suite
    drift = measure_gap_drift() if options.drift is None else options.drift
    request = dataclasses.replace(request, per_task=False, level=request.interval_level)
    choice = None
    if request.tasks is None and runs.task_names:
        compared = runs.subset(np.isin(runs.column("family"), names))
        choice = TaskChoice.of(compared, names)
        if not choice.used:
            raise OvertrainError(f"{runs.source}: no task was scored for every compared family ({choice.describe()}"
                                 "); name the tasks with --tasks, or the families with --family")
        if choice.dropped:
            request = dataclasses.replace(request, tasks=TaskSet(choice.name, choice.used))
    ladder = [Target(target.params * f, target.tokens * f) for f in
              np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CURVE_POINTS)] if options.curve else []
    targets = [target, *ladder]  # the comparison's target, then the size curve around it
    if shape != "shared":
        results, skipped = _own_forecasts(runs, names, targets, request, suite, progress)
        if shape == "own" or not skipped:
            if len(results) < 2:
                raise OvertrainError(f"{runs.source}: fewer than 2 families can be forecast ("
                                     + "; ".join(f"{k}: {v}" for k, v in skipped.items())
                                     + "); --shape shared compares families too thin to fit alone")
            reason = "each family's own laws" + ("" if shape == "own" else ": every family can be fitted alone")
            comparison = _compare_own(runs, target, results, skipped, request.level, drift)
            return dataclasses.replace(comparison, shape_reason=reason, tasks=choice, **_measured_on(results[0].laws))
        reason = f"{len(skipped)} of {len(names)} families cannot be fitted alone, so all share one shape"
        thin = skipped
    else:
        reason, thin = "asked for", {}
    comparison, laws = compare_shared(runs, names, targets, request, Evidence(suite=suite), drift, progress)
    return dataclasses.replace(comparison, shape_reason=reason, tasks=choice, thin=thin, **_measured_on(laws))


def _measured_on(laws: FittedLaws) -> dict[str, Any]:
    """The loss split and the tasks a comparison's laws were fitted on."""
    return {"loss_split": laws.loss.loss_split, "task_names": () if laws.task_set is None else laws.task_set.tasks}


def _own_forecasts(runs: RunTable, names: Sequence[str], targets: Sequence[Target], request: ForecastRequest,
                   suite: pd.DataFrame, progress: Callable[[str], None] | None,
                   ) -> tuple[list[FamilyForecasts], dict[str, str]]:
    """Each family forecast from its own runs at the targets (the comparison's first), and why the others cannot
    be. A family none of whose runs measures an error over the task set is forecast on loss alone."""
    results, skipped = [], {}
    spec = default_task_spec(runs, request.tasks)
    say = progress or (lambda step: None)
    calibration_runs = runs
    if len(names) > CALIBRATION_FAMILIES:  # evenly spread over the names: the backtests' evidence, not all of it
        chosen = [names[int(i)] for i in np.linspace(0, len(names) - 1, CALIBRATION_FAMILIES)]
        calibration_runs = runs.subset(np.isin(runs.column("family"), chosen))
    evidence = Evidence(calibration=calibration_runs, suite=suite)
    for count, name in enumerate(names, 1):
        say(f"family {count} of {len(names)}: {name}")
        family = runs.family(name)
        own = request
        if spec is not None and not np.isfinite(measured_values(family, "error", "", family.task_set(spec))).any():
            own = dataclasses.replace(request, tasks="none")
        try:
            result = forecast_family(family, targets, own, evidence)
        except OvertrainError as error:
            skipped[name] = str(error)
            continue
        why = cannot_compare(result.laws.loss, targets[0])
        if why:
            skipped[name] = why
        else:
            results.append(result)
    return results, skipped


def _compare_own(runs: RunTable, target: Target, results: list[FamilyForecasts], skipped: dict[str, str],
                 level: float, drift: GapDrift) -> RecipeComparison:
    """Compare families each forecast from its own laws (the odds: `overtrain.decide.gaps`)."""
    drift = drift_with_runs(drift, runs, [r.laws.family for r in results],
                             next((r.laws for r in results if r.laws.error is not None), results[0].laws))
    comparison = RecipeComparison(target, forecasts=tuple(RecipeForecast.of(r) for r in results), standings={},
                                  skipped=skipped, curve={}, level=level, shape="own", drift=drift)
    log_flops = np.log10(target.flops)
    sizes = target.params * np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CROSSING_POINTS)
    standings, crossings_of = {}, {}
    for key in comparison.quantities:
        members = [r for r in results if key in r.forecasts[0].parts]
        if len(members) < 2:
            continue
        quantity = Quantity.of(key)
        sd = []
        for r in members:
            spread = Spread.of(r.forecasts[0].parts[key], r.calibration, level)
            seen = last_seen(runs.family(r.laws.family), r.laws, key)
            moved = 0.0 if seen is None else drift.variance(key, log_flops - seen) / 2
            sd.append(float(np.sqrt(spread.fit**2 + spread.noise**2 + moved)))
        names = tuple(r.laws.family for r in members)
        standings[key] = Standing(key, names, np.array([comparison.value(n, key) for n in names]), np.array(sd))
        curves = np.array([_size_curve(r.laws, quantity, key, sizes, target.multiplier) for r in members])
        crossings_of[key] = crossings(curves, sizes, target.params)
    curve = {}
    for r in results:
        curve[r.laws.family] = [curve_point(t.forecast, {"loss": t.forecast.loss, **t.forecast.errors},
                                             t.intervals, comparison.quantities) for t in r.forecasts[1:]]
    return dataclasses.replace(comparison, standings=standings, crossings=crossings_of, curve=curve)


def _size_curve(laws: FittedLaws, quantity: str, key: str, sizes: np.ndarray, multiplier: float) -> np.ndarray:
    """A family's forecast of `quantity` (error: over task set `key`) at each of `sizes`, at `multiplier`."""
    tokens = sizes * multiplier
    loss = physical("loss", np.asarray(laws.loss.predict(sizes, tokens), dtype=float))
    if quantity == Quantity.LOSS:
        return loss
    fit = laws.error
    known = {"loss": loss, "params": sizes, "tokens": tokens, "multiplier": np.full_like(sizes, multiplier)}
    values = np.asarray(fit.predict(*(known[name] for name in fit.law.inputs)), dtype=float)
    return physical("error", np.broadcast_to(values, sizes.shape))
