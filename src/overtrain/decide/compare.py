"""COMPAREDOC"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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
from overtrain.forecast import FittedLaws, Target, default_task_spec
from overtrain.runs.table import RunTable, measured_values
from overtrain.runs.tasks import TaskSet
from overtrain.runs.testbed import load_suite_evidence
from overtrain.scales import physical
from overtrain.trust.trusted import FamilyForecasts, forecast_family

#: How a comparison models each family: its own fitted laws, one shape shared by all, or own unless a family
#: cannot be fitted alone.
SHAPES = ("auto", "own", "shared")


#: Families compared by their own laws calibrate their intervals on the backtests of at most this many of them:
#: backtesting a database of hundreds would cost minutes and add evidence of the same kind.
CALIBRATION_FAMILIES = 24


def compare_families(
    runs: RunTable, target: Target, *, families: Sequence[str] | None = None, level: float = 0.9,
    evidence: pd.DataFrame | None = None, shape: str = "auto", drift: GapDrift | None = None, curve: bool = False,
    **options: Any,
) -> RecipeComparison:
    """Forecast every family of `runs` at `target` and compare them pair by pair. `shape`: `own` fits each family
    alone as `overtrain forecast` does (`options` go to `trust.forecast_family`: fit sets, laws, tasks...);
    `shared` fits one law to all of them and offsets each family; `auto` is `own` when every family can be fitted
    alone and `shared` otherwise. The odds rest on `drift` (default: measured on every development testbed of many
    recipes), its loss part measured on `runs` where they hold enough gap changes (see the module notes). A family
    that cannot be compared is reported in `skipped` with the reason, not dropped silently. With `curve`, each
    family is also forecast along sizes around the target (`RecipeComparison.curve`, which the figure draws). With
    no `tasks` named, the error averages the tasks every compared family was evaluated on (`TaskChoice`)."""
    if shape not in SHAPES:
        raise OvertrainError(f"unknown shape {shape!r} (choose from {', '.join(SHAPES)})")
    names = list(families or runs.families)
    if len(names) < 2:
        raise OvertrainError(f"{runs.source}: comparing needs at least 2 families, got {len(names)}")
    evidence = load_suite_evidence() if evidence is None else evidence
    drift = measure_gap_drift() if drift is None else drift
    choice = None
    if options.get("tasks") is None and runs.task_names:
        compared = runs.subset(np.isin(runs.column("family"), names))
        choice = TaskChoice.of(compared, names)
        if not choice.used:
            raise OvertrainError(f"{runs.source}: no task was scored for every compared family ({choice.describe()}"
                                 "); name the tasks with --tasks, or the families with --family")
        if choice.dropped:
            options = {**options, "tasks": TaskSet(choice.name, choice.used)}
    ladder = [Target(target.params * f, target.tokens * f)
              for f in np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CURVE_POINTS)] if curve else []
    if shape != "shared":
        results, skipped = _own_forecasts(runs, names, target, ladder, level, evidence, options)
        if shape == "own" or not skipped:
            if len(results) < 2:
                raise OvertrainError(f"{runs.source}: fewer than 2 families can be forecast ("
                                     + "; ".join(f"{k}: {v}" for k, v in skipped.items())
                                     + "); --shape shared compares families too thin to fit alone")
            reason = "each family's own laws" + ("" if shape == "own" else ": every family can be fitted alone")
            comparison = _compare_own(runs, target, results, skipped, level, drift, reason, options)
            return dataclasses.replace(comparison, tasks=choice, **_measured_on(results[0].laws))
        reason = f"{len(skipped)} of {len(names)} families cannot be fitted alone, so all share one shape"
        thin = skipped
    else:
        reason, thin = "asked for", {}
    comparison, laws = compare_shared(runs, names, target, ladder, level, evidence, drift, reason, options)
    return dataclasses.replace(comparison, tasks=choice, thin=thin, **_measured_on(laws))


def _measured_on(laws: FittedLaws) -> dict[str, Any]:
    """The loss split and the tasks a comparison's laws were fitted on."""
    return {"loss_split": laws.loss.loss_split, "task_names": () if laws.task_set is None else laws.task_set.tasks}


def _own_forecasts(runs: RunTable, names: Sequence[str], target: Target, ladder: Sequence[Target], level: float,
                   evidence: pd.DataFrame, options: dict[str, Any]) -> tuple[list[FamilyForecasts], dict[str, str]]:
    """Each family forecast from its own runs at the target and along the ladder, and why the others cannot be. A
    family none of whose runs measures an error over the task set is forecast on loss alone."""
    results, skipped, cache = [], {}, {}
    spec = default_task_spec(runs, options.get("tasks"))
    say = options.get("progress") or (lambda step: None)
    calibration_runs = runs
    if len(names) > CALIBRATION_FAMILIES:  # evenly spread over the names: the backtests' evidence, not all of it
        chosen = [names[int(i)] for i in np.linspace(0, len(names) - 1, CALIBRATION_FAMILIES)]
        calibration_runs = runs.subset(np.isin(runs.column("family"), chosen))
    for count, name in enumerate(names, 1):
        say(f"family {count} of {len(names)}: {name}")
        family = runs.family(name)
        own = {**options, "progress": None}
        if spec is not None and not np.isfinite(measured_values(family, "error", "", family.task_set(spec))).any():
            own["tasks"] = "none"
        try:
            result = forecast_family(family, [target, *ladder], calibration_runs=calibration_runs, level=level,
                                     evidence=evidence, cache=cache, per_task=False, **own)
        except OvertrainError as error:
            skipped[name] = str(error)
            continue
        why = cannot_compare(result.laws.loss, target)
        if why:
            skipped[name] = why
        else:
            results.append(result)
    return results, skipped


def _compare_own(runs: RunTable, target: Target, results: list[FamilyForecasts], skipped: dict[str, str],
                 level: float, drift: GapDrift, reason: str, options: dict[str, Any]) -> RecipeComparison:
    """Compare families each forecast from its own laws (see the module notes)."""
    drift = drift_with_runs(drift, runs, [r.laws.family for r in results],
                             next((r.laws for r in results if r.laws.error is not None), results[0].laws))
    comparison = RecipeComparison(target, tuple(RecipeForecast.of(r) for r in results), {}, skipped, {}, level,
                                  "own", reason, drift)
    log_flops = np.log10(target.flops)
    sizes = target.params * np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CROSSING_POINTS)
    standings, crossings_of = {}, {}
    for key in comparison.quantities:
        members = [r for r in results if key in r.forecasts[0].parts]
        if len(members) < 2:
            continue
        quantity = "loss" if key == "loss" else "error"
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
    if quantity == "loss":
        return loss
    fit = laws.error
    known = {"loss": loss, "params": sizes, "tokens": tokens, "multiplier": np.full_like(sizes, multiplier)}
    values = np.asarray(fit.predict(*(known[name] for name in fit.law.inputs)), dtype=float)
    return physical("error", np.broadcast_to(values, sizes.shape))
