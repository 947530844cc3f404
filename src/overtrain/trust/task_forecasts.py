"""Each task's forecast with its interval: a team asks "will HellaSwag pass 80%?", not only the average.

A family's error law forecasts the average over its task set. Each task is forecast by a law of its own: the error
law's own per-task laws where it has them (`per-task`, `two-step`), else each task's exponential in the loss,
Err_t(L) = clip(eps_t - k_t exp(-gamma_t L), 0, 1 - chance_t), fitted to the same runs (the `per-task` law). A task
still at chance on every fit run is forecast at its measured error and marked.

A task's interval adds in quadrature, on the logit scale: its binomial measurement noise at the target, its law's
residual scatter over the fit runs, and the extrapolation part calibrated on the development suite's held-out
per-task forecasts (`Calibration.task_scale`). It never leaves [0, 1 - chance_t] nor exceeds what a smaller fit
run measured on the task beyond that run's noise. A task whose law runs past 0 error at the target says nothing
of how far: its interval is 0 to that ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from overtrain.errors import OvertrainError
from overtrain.fitting.chance import chance_ceilings, task_chance
from overtrain.fitting.fit import Fit, fit_error
from overtrain.forecasts import FittedLaws, Forecast, within_design
from overtrain.quantities import Quantity, from_scale, to_scale
from overtrain.runs.fitsets import FitSet
from overtrain.runs.table import ACC, RunTable, no_larger
from overtrain.trust.calibration import Calibration
from overtrain.trust.intervals import IntervalParts
from overtrain.trust.parts import beyond_runs


@dataclass(frozen=True)
class TaskForecast:
    """One task's forecast error at a target, its interval (None without a calibration), the task's chance error
    (1 - chance, NaN where unknown), whether the task sat at chance on every fit run, and what its interval is built
    from (`part`, as the development suite's evidence records it)."""

    task: str
    error: float
    low: float | None
    high: float | None
    chance_error: float
    at_chance: bool
    part: IntervalParts | None = field(default=None, repr=False)

    @property
    def accuracy(self) -> float:
        return 1.0 - self.error

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "error": self.error, "accuracy": self.accuracy, "low": self.low,
                "high": self.high, "chance_error": None if not np.isfinite(self.chance_error) else self.chance_error,
                "at_chance": self.at_chance}


def per_task_fit(runs: RunTable, laws: FittedLaws) -> Fit | None:
    """A fit whose law forecasts each task of `laws`' task set: the error law itself where it has per-task laws,
    else the per-task law fitted to the error law's fit runs; None without an error law or where it cannot be
    fitted."""
    error = laws.error
    if error is None or error.task_set is None:
        return None
    if error.law.by_task:
        return error
    chosen = runs.subset(np.isin(runs.runs, error.runs))
    try:
        return fit_error(chosen, error.loss_split, error.task_set, law="per-task",
                         fit_set=FitSet(error.fit_set, "", "the error law's fit runs"))
    except OvertrainError:
        return None


def _task_inputs(fit: Fit, forecast: Forecast) -> tuple[float, ...]:
    known = {"loss": forecast.loss, "params": forecast.params, "tokens": forecast.tokens,
             "multiplier": forecast.multiplier}
    return tuple(known[name] for name in fit.law.inputs)


def task_residual_scatter(fit: Fit, runs: RunTable) -> np.ndarray:
    """Each task's residual standard deviation over the fit runs on the logit scale (0 for a task at chance)."""
    chosen = runs.subset(np.isin(runs.runs, fit.runs))
    measured = 1.0 - chosen.accuracy_values(fit.task_set).T  # (tasks, runs)
    inputs = tuple(np.asarray(chosen.column(name) if name != Quantity.LOSS else chosen.loss_values(fit.loss_split),
                              dtype=float) for name in fit.law.inputs)
    predicted = fit.law.task_errors(*inputs)
    residual = to_scale("error", measured) - to_scale("error", predicted)
    dof = max(measured.shape[1] - type(fit.law).n_coefficients, 1)
    return np.sqrt(np.sum(residual**2, axis=1) / dof)


def task_ceilings(runs: RunTable, fit: Fit, forecast: Forecast, level: float) -> np.ndarray:
    """Each task's highest possible error at the target: 1 - chance, and what a fit run no larger and on no more
    tokens measured plus z times its binomial noise."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    task_set = fit.task_set
    chance = task_chance(runs, task_set)
    ceiling = chance_ceilings(chance)
    chosen = runs.subset(np.isin(runs.runs, fit.runs))
    smaller = no_larger(chosen, forecast.params, forecast.tokens)
    if smaller.any():
        examples = chosen.task_examples(task_set)
        for t, task in enumerate(task_set.tasks):
            errors = 1.0 - chosen.column(ACC + task)[smaller]
            best = float(np.nanmin(errors)) if np.isfinite(errors).any() else np.nan
            if np.isfinite(best):
                noise = np.sqrt(best * (1 - best) / examples[t]) if np.isfinite(examples[t]) else 0.0
                ceiling[t] = min(ceiling[t], best + z * noise)
    return ceiling


def task_forecasts(runs: RunTable, fit: Fit | None, forecast: Forecast, calibration: Calibration | None,
                   level: float, distance: float, scatter: np.ndarray | None = None,
                   offsets: np.ndarray | None = None) -> tuple[TaskForecast, ...]:
    """Each task's forecast at `forecast`'s target from `fit` (see `per_task_fit`), with its interval at `level`
    when a `calibration` is given (extrapolation part at compute distance `distance`); `scatter` is
    `task_residual_scatter` where already computed; `offsets` move each task's forecast on the logit scale (a
    recipe's own offset from a pooled law)."""
    if fit is None:
        return ()
    task_set = fit.task_set
    law = fit.law
    predicted = np.clip(np.asarray(law.task_errors(*_task_inputs(fit, forecast)), dtype=float), 0.0, 1.0)
    if offsets is not None:
        predicted = np.where(np.isfinite(offsets), from_scale("error", to_scale("error", predicted)
                                                              + np.nan_to_num(offsets)), predicted)
    chance = task_chance(runs, task_set)
    flat = np.asarray(law.flat or (0.0,) * len(task_set), dtype=bool)
    ceilings = task_ceilings(runs, fit, forecast, level)
    predicted = np.minimum(predicted, ceilings)
    examples = runs.task_examples(task_set)
    scatter = task_residual_scatter(fit, runs) if scatter is None else scatter
    share = beyond_runs(forecast)
    found = []
    for t, task in enumerate(task_set.tasks):
        low = high = None
        value = float(predicted[t])
        sigma = float(np.sqrt(value * (1 - value) / examples[t])) if np.isfinite(examples[t]) else 0.0
        part = IntervalParts("task", value, float("nan"), float("nan"), sigma, 0.0 if flat[t] else float(scatter[t]),
                             distance, 0.0, float(ceilings[t]), beyond=share)
        if calibration is not None and value <= 0.0 < ceilings[t]:
            low, high = 0.0, float(ceilings[t])  # the law ran past 0: it says nothing about how far below
        elif calibration is not None:
            interval = part.interval(calibration.for_task(task).finite(), level)
            low, high = interval.low, interval.high
        found.append(TaskForecast(task, value, low, high,
                                  float(1.0 - chance[t]) if np.isfinite(chance[t]) else float("nan"), bool(flat[t]),
                                  part))
    return tuple(found)


def task_offsets(pooled_runs: RunTable, fit: Fit, laws: FittedLaws, recipe_runs: RunTable) -> np.ndarray:
    """Where one recipe's largest runs the law can speak for (N within 10% of the largest) sit against a pooled
    law's per-task forecasts (`fit`, with `laws` giving the loss), per task on the logit scale: the mean of
    logit(measured) - logit(forecast); NaN for a task none of them measures."""
    offsets = np.full(len(fit.task_set), np.nan)
    recipe_runs = recipe_runs.subset(within_design(laws.loss, recipe_runs))
    if len(recipe_runs) == 0:
        return offsets
    largest = recipe_runs.subset(recipe_runs.params >= 0.9 * recipe_runs.params.max())
    predicted = np.array([[t.error for t in task_forecasts(pooled_runs, fit, laws.point_forecast(float(n), float(d)),
                                                           None, 0.9, 1.0)]
                          for n, d in zip(largest.params, largest.tokens, strict=True)])  # (runs, tasks)
    for t, task in enumerate(fit.task_set.tasks):
        if ACC + task not in largest.columns.columns:
            continue
        measured = 1.0 - largest.column(ACC + task)
        ok = np.isfinite(measured)
        if ok.any():
            offsets[t] = float(np.mean(to_scale("error", measured[ok]) - to_scale("error", predicted[ok, t])))
    return offsets
