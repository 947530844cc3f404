"""Forecasts to trust: the method chosen by evidence, intervals calibrated by backtests, warnings attached.

This is what `overtrain forecast` runs for each family: fit the laws (the named method, or with `auto` the one
that backtests best on these runs; given fit sets, the size-ahead protocol also weighs their `+cheap` extensions),
forecast each target, calibrate the extrapolation part of the intervals on
a backtest of the same runs with the same method, and attach the forecast's warnings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.backtest import (
    Method,
    Selection,
    calibration_backtest,
    calibration_from,
    member_methods,
    multiplier_excursion,
    plausible_members,
    resembling,
    select_method,
    size_ahead_possible,
)
from overtrain.errors import OvertrainError
from overtrain.forecast import FittedLaws, Forecast, Target, default_loss_split, default_task_spec, fit_laws
from overtrain.runs import RunTable
from overtrain.uncertainty import Calibration, Interval, forecast_intervals, structural_spread


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
    calibration_runs: RunTable | None = None,
) -> FamilyForecasts:
    """Fit, forecast and (with `level`) attach calibrated intervals, for one family's runs (calibrated on
    backtests of `calibration_runs`, default the family's runs; see `calibrated_intervals`)."""
    split = loss_split or default_loss_split(runs)
    task_spec = default_task_spec(runs, tasks)
    selection = None
    if loss_law == "auto":
        selection = select_method(runs.complete(split), loss_split=split, tasks=task_spec,
                                  loss_fit_set=fit_loss_set, error_fit_set=fit_error_set)
        method = selection.method
    else:
        method = Method(loss_law, objective, error_law, fit_loss_set, fit_error_set)
    method = dataclasses.replace(method, loss_fit_set=method.loss_fit_set or fit_loss_set,
                                 error_fit_set=method.error_fit_set or fit_error_set)
    laws = _fit_method(runs, method, split, task_spec)
    forecasts = [laws.forecast(t.params, t.tokens) for t in targets]
    calibration, intervals = None, [{} for _ in forecasts]
    if level:
        calibration, intervals = calibrated_intervals(runs, laws, method, forecasts, split, task_spec, level, seed,
                                                      calibration_runs)
    trusted = tuple(TrustedForecast(f, i) for f, i in zip(forecasts, intervals, strict=True))
    return FamilyForecasts(laws, method, selection, calibration, trusted)


def _fit_method(runs: RunTable, method: Method, split: str, tasks: str | Sequence[str] | None) -> FittedLaws:
    return fit_laws(runs, loss_split=split, tasks=tasks or "none", fit_loss_set=method.loss_fit_set,
                    fit_error_set=method.error_fit_set, loss_law=method.loss_law, objective=method.loss_objective,
                    error_law=method.error_law)


def member_spreads(
    runs: RunTable, method: Method, forecasts: Sequence[Forecast], split: str, tasks: str | Sequence[str] | None,
    members: dict[str, list[str]] | None = None,
) -> list[dict[str, float]]:
    """For each forecast, the spread of the eligible member laws' forecasts (see `backtest.LOSS_MEMBERS`,
    `ERROR_MEMBERS`; only those named in `members[quantity]` when given), per quantity: key `loss` and the
    error's task-set name."""
    spreads: list[dict[str, float]] = [{} for _ in forecasts]
    for quantity in ("loss", "error") if tasks is not None else ("loss",):
        values: list[list[float]] = [[] for _ in forecasts]
        name = "loss"
        for key, member in member_methods(method, quantity).items():
            if members is not None and key not in members.get(quantity, []):
                continue
            try:
                laws = _fit_method(runs, member, split, tasks if quantity == "error" else None)
            except OvertrainError:
                continue
            fit = laws.loss if quantity == "loss" else laws.error
            if fit is None or fit.at_bound:
                continue
            for i, f in enumerate(forecasts):
                member_forecast = laws.forecast(f.params, f.tokens)
                if quantity == "loss":
                    values[i].append(member_forecast.loss)
                else:
                    name = next(iter(member_forecast.errors))
                    values[i].append(member_forecast.errors[name])
        for spread, found in zip(spreads, values, strict=True):
            spread[name] = structural_spread(quantity, found)
    return spreads


def calibrated_intervals(
    runs: RunTable, laws: FittedLaws, method: Method, forecasts: Sequence[Forecast], split: str,
    tasks: str | Sequence[str] | None, level: float, seed: int = 0, calibration_runs: RunTable | None = None,
) -> tuple[Calibration, list[dict[str, Interval]]]:
    """Intervals for `forecasts` of one family, fitted to `runs`.

    The extrapolation part is calibrated on backtests of `calibration_runs` (default `runs`; every family of the
    user's table is more evidence than one) that resemble each forecast (`backtest.resembling`): the size-ahead
    protocol when the method names its fit sets and the runs allow it, else the rolling one. The structural part
    is the spread of the member laws the backtest found plausible."""
    table = (calibration_runs or runs).complete(split)
    protocol = "size-ahead" if method.loss_fit_set and size_ahead_possible(table) else "rolling"
    examples = _task_examples(runs, laws)
    try:
        frame = calibration_backtest(table, method, loss_split=split, tasks=tasks, level=level, seed=seed,
                                     protocol=protocol)
    except OvertrainError:
        none = Calibration(0.0, 0.0, level, "none: no backtest possible on these runs")
        spreads = member_spreads(runs, method, forecasts, split, tasks)
        return none, [forecast_intervals(f, none, level=level, seed=seed, examples=examples, structural=st)
                      for f, st in zip(forecasts, spreads, strict=True)]
    members = {q: plausible_members(frame, q) for q in ("loss", "error")}
    spreads = member_spreads(runs, method, forecasts, split, tasks, members)
    fit_params, fit_tokens = laws.loss.inputs[0], laws.loss.inputs[1]
    sizes = len(np.unique(fit_params))
    calibrations, intervals = [], []
    for f, spread in zip(forecasts, spreads, strict=True):
        rows = resembling(frame, sizes, multiplier_excursion(f.multiplier, fit_tokens / fit_params))
        calibration = calibration_from(rows, level, frame.attrs["source"])
        usable = Calibration(*(0.0 if not np.isfinite(v) else v for v in (calibration.loss_scale,
                                                                          calibration.error_scale)),
                             level, calibration.source)
        calibrations.append(calibration)
        intervals.append(forecast_intervals(f, usable, level=level, seed=seed, examples=examples, structural=spread))
    return (calibrations[0] if calibrations else calibration_from(frame, level, frame.attrs["source"])), intervals
