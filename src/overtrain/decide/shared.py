"""Recipes too thin to be fitted alone (trained at one or two sizes), compared through one shared shape.

One law is fitted to all their runs at once, and each family is offset by where its largest runs sit against it on
the interval scale (log loss, logit error). The law's own miss at scale is then common to every family and cancels
from their order, and one offset per family never crosses: the order at the target is the order of the offsets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from overtrain.decide.comparison import RecipeComparison, RecipeForecast, cannot_compare, curve_point
from overtrain.decide.gaps import GapDrift, drift_with_runs, replicate_noise, replicate_part
from overtrain.decide.ranking import Standing
from overtrain.errors import OvertrainError
from overtrain.forecasts import FittedLaws, Target, within_design
from overtrain.quantities import Quantity, from_scale, to_scale
from overtrain.runs.table import RunTable, measured_values
from overtrain.runs.tasks import TaskSet
from overtrain.trust.bounds import bounded
from overtrain.trust.calibration import DEFAULT_INTERVALS
from overtrain.trust.intervals import Interval
from overtrain.trust.prediction import Evidence, FamilyForecasts, ForecastRequest, TrustedForecast, forecast_family
from overtrain.trust.task_forecasts import per_task_fit, task_forecasts, task_offsets, task_residual_scatter


@dataclass(frozen=True)
class _Offset:
    """Where one family's largest runs sit against the shared law on one quantity: the mean difference on the
    interval scale, the compute (log10 FLOPs, mean) and number of those runs, and the compute of all the family's
    runs that measure the quantity (what its forecast extrapolates from), together and of the most expensive."""

    offset: float
    log_flops: float
    runs: int
    fit_flops: float
    largest_flops: float

    def distance(self, flops: float, distance: str) -> float:
        """The compute distance from these runs to a target of `flops`, measured as `distance` says (see
        `overtrain.trust.parts.DISTANCES`)."""
        return flops / (self.fit_flops if distance == "total" else self.largest_flops)


def _largest_measured(runs: RunTable, key: str, split: str, task_set: TaskSet | None
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """A family's largest runs measuring `key` (N within 10% of the largest such run) as a mask, with every run's
    measured value; None when no run of the family measures `key`."""
    values = measured_values(runs, key, split, task_set)
    measured = np.isfinite(values)
    if not measured.any():
        return None
    return measured & (runs.params >= 0.9 * runs.params[measured].max()), values


def last_seen(runs: RunTable, laws: FittedLaws, key: str) -> float | None:
    """The compute (log10 FLOPs, mean) of a family's largest runs measuring `key`, or None when none does."""
    found = _largest_measured(runs, key, laws.loss.loss_split, laws.task_set)
    return None if found is None else float(np.mean(np.log10(runs.flops[found[0]])))


def _offset(runs: RunTable, laws: FittedLaws, key: str) -> _Offset | None:
    """A family's `_Offset` on `key` against the shared `laws`, from its largest measured runs the laws can speak
    for (`forecast.within_design`), or None when no such run of the family measures `key`."""
    runs = runs.subset(within_design(laws.loss, runs))
    found = _largest_measured(runs, key, laws.loss.loss_split, laws.task_set)
    if found is None:
        return None
    largest, values = found
    quantity = Quantity.of(key)
    shared = [laws.point_forecast(float(n), float(d)) for n, d in zip(runs.params[largest], runs.tokens[largest],
                                                                  strict=True)]
    predicted = np.array([f.loss if key == Quantity.LOSS else f.errors[key] for f in shared])
    offset = float(np.mean(to_scale(quantity, values[largest]) - to_scale(quantity, predicted)))
    own = runs.flops[np.isfinite(values)]
    return _Offset(offset, float(np.mean(np.log10(runs.flops[largest]))), int(largest.sum()), float(own.sum()),
                   float(own.max()))


def recipe_forecasts(result: FamilyForecasts, recipe_runs: RunTable, level: float,
                     distance: str = DEFAULT_INTERVALS.distance, pooled_runs: RunTable | None = None
                     ) -> list[TrustedForecast]:
    """`result`'s forecasts (of a law fitted to several recipes pooled) for one recipe: each quantity moved by the
    recipe's offset (where its largest runs in `recipe_runs` sit against the pooled law, on the interval scale), its
    interval rebuilt around the moved forecast with the extrapolation part grown from the recipe's own runs. A quantity
    none of the recipe's runs measures stays the pooled law's. Each bound is kept below what the recipe's own smaller
    fit runs measured (`overtrain.trust.bounds.bounded`). Given the runs the pooled law was fitted to (`pooled_runs`),
    each task's forecast (where the forecasts carry them) moves by the recipe's own offset on that task
    (`overtrain.trust.task_forecasts.task_offsets`)."""
    laws, calibration = result.laws, result.calibration
    keys = ["loss", *(() if laws.task_set is None else (laws.task_set.name,))]
    offsets = {key: o for key in keys if (o := _offset(recipe_runs, laws, key)) is not None}
    task_fit = None if pooled_runs is None else per_task_fit(pooled_runs, laws)
    if task_fit is not None:
        scatter = task_residual_scatter(task_fit, pooled_runs)
        shifts = task_offsets(pooled_runs, task_fit, laws, recipe_runs)
    moved = []
    for trusted in result.forecasts:
        tasks = trusted.tasks
        if task_fit is not None and trusted.tasks and laws.task_set.name in trusted.parts:
            reach = (offsets[laws.task_set.name].distance(trusted.forecast.flops, distance)
                     if laws.task_set.name in offsets else trusted.parts[laws.task_set.name].distance)
            tasks = task_forecasts(recipe_runs, task_fit, trusted.forecast, calibration, level, reach, scatter, shifts)
        forecast, parts, intervals = trusted.forecast, dict(trusted.parts), dict(trusted.intervals)
        values = {"loss": forecast.loss, **forecast.errors}
        for key, at in offsets.items():
            quantity = Quantity.of(key)
            values[key] = float(from_scale(quantity, to_scale(quantity, values[key]) + at.offset))
            if key in parts:
                parts[key] = dataclasses.replace(parts[key].moved_to(values[key]),
                                                 distance=at.distance(forecast.flops, distance))
        errors = {name: values[name] for name in forecast.errors}
        forecast, parts = bounded(recipe_runs, laws, dataclasses.replace(forecast, loss=values["loss"],
                                                                         errors=errors), parts, level)
        if calibration is not None:
            intervals = {key: part.interval(calibration.finite(), level) for key, part in parts.items()}
        moved.append(dataclasses.replace(trusted, forecast=forecast, parts=parts, intervals=intervals, tasks=tasks))
    return moved


def _shifted(quantity: str, value: float, interval: Interval | None, offset: float, variance: float, z: float
             ) -> tuple[float, Interval]:
    """The shared forecast `value` and its interval moved by `offset` on the interval scale, each bound widened in
    quadrature by the offset's drift (standard deviation sqrt(`variance`))."""
    centre = float(to_scale(quantity, value))
    spread = z * np.sqrt(variance)
    bounds = []
    for bound, sign in ((None if interval is None else interval.low, -1.0),
                        (None if interval is None else interval.high, 1.0)):
        reach = 0.0 if bound is None or not np.isfinite(bound) else abs(float(to_scale(quantity, bound)) - centre)
        bounds.append(float(from_scale(quantity, centre + offset + sign * np.hypot(reach, spread))))
    level = interval.level if interval is not None else float(2 * NormalDist().cdf(z) - 1)
    return float(from_scale(quantity, centre + offset)), Interval(bounds[0], bounds[1], level)


def compare_shared(runs: RunTable, names: Sequence[str], targets: Sequence[Target], request: ForecastRequest,
                   evidence: Evidence, drift: GapDrift, progress: Callable[[str], None] | None = None,
                   ) -> tuple[RecipeComparison, FittedLaws]:
    """Compare the families `names` of `runs` through one shape fitted to all their runs (see the module notes), at
    the first of `targets` (the others: the size curve around it); the intervals calibrated on `evidence.suite`."""
    target, level = targets[0], request.interval_level
    chosen = runs.subset(np.isin(runs.column("family"), names))
    split = request.loss_split or chosen.default_split()
    pooled = RunTable(chosen.frame.assign(family="shared shape"), chosen.tasks, chosen.source)
    shared = forecast_family(pooled, targets, request, dataclasses.replace(evidence, calibration=pooled),
                             progress)
    laws = shared.laws
    why = cannot_compare(laws.loss, target)
    if why:
        raise OvertrainError(f"{runs.source}: the law all families share: {why}")
    drift = drift_with_runs(drift, chosen, names, laws)
    scatter = replicate_noise(chosen, split, laws.task_set)
    comparison = RecipeComparison(target, forecasts=(), standings={}, skipped={}, curve={}, level=level, shape="shared",
                                  drift=drift, scatter=scatter)
    keys = ["loss", *sorted(k for k in shared.forecasts[0].intervals if k != Quantity.LOSS)]
    z = NormalDist().inv_cdf(0.5 + level / 2)
    skipped: dict[str, str] = {}
    offsets: dict[str, dict[str, _Offset]] = {}
    for name in names:
        found = {key: o for key in keys if (o := _offset(chosen.family(name), laws, key)) is not None}
        if not found:
            errors = "" if len(keys) < 2 else f" or an error over every task of {keys[1]!r}"
            skipped[name] = f"no run with a loss on {split}{errors}"
            continue
        offsets[name] = found
    keys = [k for k in keys if sum(k in o for o in offsets.values()) >= 2]
    if len(offsets) < 2 or not keys:
        raise OvertrainError(f"{runs.source}: fewer than 2 families measure the same quantity ("
                             + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")

    def family_view(name: str, trusted: TrustedForecast) -> tuple[dict[str, float], dict[str, Interval]]:
        values, intervals = {}, {}
        forecast = trusted.forecast
        for key in (k for k in keys if k in offsets[name]):
            quantity = Quantity.of(key)
            at = offsets[name][key]
            decades = np.log10(forecast.flops) - at.log_flops
            interval, part = trusted.intervals.get(key), trusted.parts.get(key)
            if part is not None and shared.calibration is not None:
                # the extrapolation part grows with the distance from the family's own runs, not from all of them
                reach = at.distance(forecast.flops, request.intervals.distance)
                interval = dataclasses.replace(part, distance=reach).interval(shared.calibration.finite(), level)
            values[key], intervals[key] = _shifted(
                quantity, forecast.loss if key == Quantity.LOSS else forecast.errors[key], interval, at.offset,
                drift.variance(key, decades) / 2, z)
        return values, intervals

    forecasts, curve = [], {}
    for name in offsets:
        values, intervals = family_view(name, shared.forecasts[0])
        forecasts.append(RecipeForecast(name, values, intervals))
        curve[name] = [curve_point(t.forecast, *family_view(name, t), keys) for t in shared.forecasts[1:]]
    log_flops = np.log10(target.flops)
    by_family = {f.family: f for f in forecasts}
    standings = {}
    for key in keys:
        members = tuple(f for f in offsets if key in offsets[f])
        quantity = Quantity.of(key)
        scatter_variance = comparison.scatter_used(quantity)
        own_drift = quantity in drift.own
        # one law for all: no fit part of a family's own; each family's share of the gap's drift and replicate noise
        variance = np.array([drift.variance(key, log_flops - offsets[f][key].log_flops) / 2
                             + replicate_part(scatter_variance, own_drift, offsets[f][key].runs) for f in members])
        values = np.array([by_family[f].values[key] for f in members])
        standings[key] = Standing(key, members, values, np.sqrt(variance))
    return dataclasses.replace(comparison, forecasts=tuple(forecasts), standings=standings, skipped=skipped,
                               curve=curve), laws
