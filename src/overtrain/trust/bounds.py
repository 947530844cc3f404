"""Where a forecast and its interval stop: what a run could measure.

A loss falls with N and with D, so a smaller fit run trained on no more tokens bounds the target from above; an error
is at most chance and at least 0. The loss law's fitted irreducible loss E is no floor: it is itself a fitted value, and
held-out targets fall below it (Porian's RefinedWeb runs at 1.3e19-2.6e19 FLOPs: 7 of 8 below the fitted E of 3.137).
"""

from __future__ import annotations

import dataclasses
from statistics import NormalDist

import numpy as np
import pandas as pd

from overtrain.fitting.chance import chance_ceilings, task_chance
from overtrain.fitting.fit import Fit
from overtrain.forecasts import FittedLaws, Forecast
from overtrain.quantities import Quantity
from overtrain.runs.table import RunTable, measured_values, no_larger
from overtrain.trust.intervals import IntervalParts
from overtrain.trust.parts import error_measurement_noise, loss_measurement_noise


def examples_per_task(runs: RunTable, laws: FittedLaws) -> dict[str, np.ndarray]:
    task_set = laws.task_set
    if task_set is None:
        return {}
    counts = pd.to_numeric(runs.tasks["n_examples"].reindex(list(task_set.tasks)), errors="coerce")
    return {task_set.name: counts.to_numpy(dtype=float)}


def measured_ceiling(runs: RunTable, fit: Fit, key: str, params: float, tokens: float, examples: np.ndarray,
                     level: float) -> float:
    """The most a run of N = `params`, D = `tokens` could measure on `key` (`loss`, or the error over `fit`'s task
    set), NaN where nothing bounds it. Loss falls with N and with D, so a fit run of `fit` among `runs` no larger
    and trained on no more tokens bounds the target from above: the lowest such run's measurement plus z times its
    noise (its measurement noise and the law's residual scatter, in quadrature). An error is also at most the task set's
    chance error, mean over tasks of 1 - chance (1 where chance is unknown)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    task_set = fit.task_set
    runs = runs.subset(np.isin(runs.runs, fit.runs))
    values = measured_values(runs, key, fit.loss_split, task_set)
    dominated = no_larger(runs, params, tokens) & np.isfinite(values)
    ceiling = float("inf")
    if dominated.any():
        value = float(values[dominated].min())
        noise = (loss_measurement_noise(fit, value) if key == Quantity.LOSS
                 else error_measurement_noise(value, examples))
        ceiling = value + z * float(np.hypot(noise, fit.rmse))
    if key != Quantity.LOSS and task_set is not None:
        chance = task_chance(runs, task_set)
        ceiling = min(ceiling, float(np.mean(chance_ceilings(chance))))
    return ceiling if np.isfinite(ceiling) else float("nan")


def below_every_run(runs: RunTable, forecast: Forecast) -> bool:
    """Whether a target sits below every run of the family (smaller and on fewer tokens than the smallest): the
    laws were fitted to larger runs and say nothing there that an interval could be trusted for."""
    return bool(len(runs)) and forecast.params < runs.params.min() and forecast.tokens < runs.tokens.min()


def bounded(runs: RunTable, laws: FittedLaws, forecast: Forecast, parts: dict[str, IntervalParts], level: float
            ) -> tuple[Forecast, dict[str, IntervalParts]]:
    """`forecast` and its interval parts with each quantity's floor and ceiling (see `IntervalParts`; the ceiling
    from the fit runs among `runs`); a forecast above its ceiling is moved down to it, with a warning."""
    examples = examples_per_task(runs, laws)
    notes, errors, loss = list(forecast.unphysical), dict(forecast.errors), forecast.loss
    bounded = {}
    for key, part in parts.items():
        fit = laws.loss if key == Quantity.LOSS else laws.error
        if fit is None:
            bounded[key] = part
            continue
        ceiling = measured_ceiling(runs, fit, key, forecast.params, forecast.tokens,
                                   examples.get(key, np.array([])), level)
        floor = float("nan") if key == Quantity.LOSS else 0.0
        if np.isfinite(ceiling) and part.prediction > ceiling:
            notes.append(f"{key} ({fit.family}): the law forecasts {part.prediction:.4g}, above {ceiling:.4g}, what "
                         "a smaller fit run measured (or chance); shown at that")
            part = part.moved_to(ceiling)
            if key == Quantity.LOSS:
                loss = ceiling
            else:
                errors[key] = ceiling
        bounded[key] = dataclasses.replace(part, floor=floor, ceiling=ceiling)
    return dataclasses.replace(forecast, loss=loss, errors=errors, unphysical=tuple(notes)), bounded
