"""Forecasts to trust: the method chosen by evidence, intervals calibrated by backtests, warnings attached.

This is what `overtrain forecast` runs for each family: fit the laws (the named method, or with `auto` the one
that backtests best on these runs; given fit sets, the size-ahead protocol also weighs their `+cheap` extensions),
forecast each target, calibrate the extrapolation part of the intervals on
a backtest of the same runs with the same method, and attach the forecast's warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.backtest import Method, Selection, calibrate, select_method
from overtrain.errors import OvertrainError
from overtrain.forecast import FittedLaws, Forecast, Target, default_loss_split, default_task_spec, fit_laws
from overtrain.runs import RunTable
from overtrain.uncertainty import Calibration, Interval, forecast_intervals


@dataclass(frozen=True)
class TrustedForecast:
    """A forecast with its intervals (empty when not asked for) and warnings."""

    forecast: Forecast
    intervals: dict[str, Interval]

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.forecast.loss_fit.family,
            **self.forecast.to_dict(),
            "intervals": {name: interval.to_dict() for name, interval in self.intervals.items()},
        }


@dataclass(frozen=True)
class FamilyForecasts:
    """One family's fitted laws, how the method was chosen, the calibration, and the forecasts."""

    laws: FittedLaws
    method: Method
    selection: Selection | None
    calibration: Calibration | None
    forecasts: tuple[TrustedForecast, ...]


def _task_examples(runs: RunTable, laws: FittedLaws) -> dict[str, np.ndarray]:
    if laws.error is None or laws.error.task_set is None:
        return {}
    counts = pd.to_numeric(runs.tasks["n_examples"].reindex(list(laws.error.task_set.tasks)), errors="coerce")
    return {laws.error.task_set.name: counts.to_numpy(dtype=float)}


def forecast_family(
    runs: RunTable, targets: Sequence[Target], *, loss_split: str | None = None, tasks: str | None = None,
    fit_loss_set: str | None = None, fit_error_set: str | None = None, loss_law: str = "shared-exponent",
    objective: str = "least-squares", error_law: str = "exponential", level: float | None = 0.9, seed: int = 0,
) -> FamilyForecasts:
    """Fit, forecast and (with `level`) attach calibrated intervals, for one family's runs."""
    split = loss_split or default_loss_split(runs)
    task_spec = default_task_spec(runs, tasks)
    selection = None
    if loss_law == "auto":
        selection = select_method(runs.complete(split), loss_split=split, tasks=task_spec,
                                  loss_fit_set=fit_loss_set, error_fit_set=fit_error_set)
        method = selection.method
    else:
        method = Method(loss_law, objective, error_law)
    laws = fit_laws(runs, loss_split=split, tasks=task_spec or "none", fit_loss_set=method.loss_fit_set or fit_loss_set,
                    fit_error_set=method.error_fit_set or fit_error_set, loss_law=method.loss_law,
                    objective=method.loss_objective, error_law=method.error_law)
    forecasts = [laws.forecast(t.params, t.tokens) for t in targets]
    calibration, intervals = None, [{} for _ in forecasts]
    if level:
        calibration, intervals = calibrated_intervals(runs, laws, method, forecasts, split, task_spec, level, seed)
    trusted = tuple(TrustedForecast(f, i) for f, i in zip(forecasts, intervals, strict=True))
    return FamilyForecasts(laws, method, selection, calibration, trusted)


def calibrated_intervals(
    runs: RunTable, laws: FittedLaws, method: Method, forecasts: Sequence[Forecast], split: str,
    tasks: str | None, level: float, seed: int = 0,
) -> tuple[Calibration, list[dict[str, Interval]]]:
    """Intervals for `forecasts`, their extrapolation part calibrated on a backtest of `runs` with `method`
    (none where no backtest is possible)."""
    try:
        calibration, _ = calibrate(runs.complete(split), method, loss_split=split, tasks=tasks, level=level,
                                   seed=seed)
    except OvertrainError:
        calibration = Calibration(0.0, 0.0, level, "none: no backtest possible on these runs")
    usable = Calibration(*(0.0 if not np.isfinite(v) else v for v in (calibration.loss_scale,
                                                                      calibration.error_scale)),
                         level, calibration.source)
    examples = _task_examples(runs, laws)
    return calibration, [forecast_intervals(f, usable, level=level, seed=seed, examples=examples) for f in forecasts]
