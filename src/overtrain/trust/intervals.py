"""A forecast's interval and its parts, added in quadrature on the interval scale s (log loss, logit error), where
every value is physical, and mapped back so that no bound leaves what a run could measure:

    s(bound) = s(m) -/+ sqrt(f^2 + (z sigma s'(m))^2 + (z d)^2 + w(x)^2)

- m the forecast; z the normal quantile of the level;
- f, the fit part: how far the forecasts of the law refitted to resamples of its fit set reach below or above m
  (`overtrain.trust.bootstrap`), times the calibration's fit factor;
- sigma, the target's own measurement noise (its loss evaluation, or the binomial noise of its task accuracies);
- d, the structural part (optional): the spread of the plausible laws' forecasts, which disagree most where the
  data cannot tell them apart;
- w(x), the extrapolation part, which sampling noise cannot cover: a half-width constant or growing as
  log10(1 + x) with compute distance x (`distance_growth`), calibrated so that the level of held-out forecasts fall
  inside (`overtrain.trust.widths`).

No bound passes what a run could measure (`IntervalParts.floor`, `ceiling`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from overtrain.forecasts import Forecast
from overtrain.quantities import Quantity, shift_on_scale
from overtrain.trust.bootstrap import (
    centred_on_pooled,
    fit_part_bounds,
    physical_bounds,
    refitted_law,
    resample_predictions,
    target_inputs,
)
from overtrain.trust.calibration import Calibration
from overtrain.trust.parts import (
    BoundParts,
    beyond_runs,
    error_target_noise,
    fit_width,
    forecast_distance,
    loss_target_noise,
)


@dataclass(frozen=True)
class Interval:
    """A central interval around a forecast."""

    low: float
    high: float
    level: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "level": self.level}


@dataclass(frozen=True)
class IntervalParts:
    """What a forecast's interval is built from, all but the calibrated extrapolation part: the prediction, the
    fit part's range of resampled forecasts (NaN: none), the target's measurement noise (loss or error units), the
    structural spread (on the interval scale) and the compute distance the extrapolation part grows with; and the
    edges no bound passes (NaN: none beyond what a run can measure): `floor`, 0 for an error, and
    `ceiling`, what the target could not exceed (an error at chance, or what a smaller fit run already measured
    beyond its noise; see `overtrain.trust.bounds.measured_ceiling`)."""

    quantity: str
    prediction: float
    fit_low: float
    fit_high: float
    sigma: float
    structural: float
    distance: float
    floor: float = float("nan")
    ceiling: float = float("nan")
    #: The share of the extrapolation part the forecast carries (`beyond_runs`): 0 inside the fit runs, 1 beyond.
    beyond: float = 1.0

    def interval(self, calibration: Calibration, level: float) -> Interval:
        """The interval at `level`, with the extrapolation half-width of `calibration`, kept within the floor and
        the ceiling."""
        width = fit_width(self.quantity, self.prediction, self.fit_low, self.fit_high)
        parts = BoundParts.of(np.array([self.prediction]), np.array([self.fit_low]), np.array([self.fit_high]),
                              np.array([self.sigma]), level, self.quantity, self.structural,
                              calibration.fit_factor(self.quantity))
        lower, upper = parts.at(np.array([self.extrapolation(calibration, width)]),
                                np.array([self.extrapolation(calibration, width, below=True)]))
        low = max(float(lower[0]), self.floor) if np.isfinite(self.floor) else float(lower[0])
        high = min(float(upper[0]), self.ceiling) if np.isfinite(self.ceiling) else float(upper[0])
        return Interval(min(low, self.prediction), max(high, self.prediction), level)

    def extrapolation(self, calibration: Calibration, width: float, below: bool = False) -> float:
        """The calibrated extrapolation half-width (above the forecast, or `below` it) at this forecast's distance
        and fit part `width`, times the share it carries beyond the fit runs."""
        return float(calibration.half_width(self.quantity, self.distance, width, below)) * self.beyond

    def moved_to(self, prediction: float) -> IntervalParts:
        """The same parts around another prediction: the fit part's range moves with it on the interval scale."""
        low, high = (float(shift_on_scale(self.quantity, bound, self.prediction, prediction))
                     for bound in (self.fit_low, self.fit_high))
        return dataclasses.replace(self, prediction=prediction, fit_low=low, fit_high=high)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def intervals_document(intervals: dict[str, Interval]) -> dict[str, dict[str, Any]]:
    """Intervals keyed `loss` and `error` for JSON (the error's task set named inside it, as `task_set`); a
    forecast of several task sets (the paper's 17 and 46) keys each further one `error:<task set>`."""
    document: dict[str, dict[str, Any]] = {}
    for key, interval in intervals.items():
        if key == Quantity.LOSS:
            document[key] = interval.to_dict()
        else:
            document["error" if "error" not in document else f"error:{key}"] = {**interval.to_dict(), "task_set": key}
    return document


def forecast_parts(
    forecast: Forecast, *, level: float = 0.9, n_resamples: int = 400, seed: int = 0,
    examples: dict[str, np.ndarray] | None = None, structural: dict[str, float] | None = None,
    distance: str = "total",
) -> dict[str, IntervalParts]:
    """The parts of the intervals of a forecast's loss and each task set's error (key `loss` and the task-set
    names); `structural` holds the spread of the eligible laws' forecasts per key (see `structural_spread`);
    `distance` says how the compute distance the extrapolation part grows with is measured (see `DISTANCES`)."""
    return batch_parts([forecast], level=level, n_resamples=n_resamples, seed=seed, examples=examples,
                       structural=[structural or {}], distance=distance)[0]


def batch_parts(
    forecasts: Sequence[Forecast], *, level: float = 0.9, n_resamples: int = 400, seed: int = 0,
    examples: dict[str, np.ndarray] | None = None, structural: Sequence[dict[str, float]] | None = None,
    distance: str = "total",
) -> list[dict[str, IntervalParts]]:
    """`forecast_parts` of several forecasts of the same fitted laws at once: one set of refits (the same draws a
    forecast alone would use) predicts every target."""
    if not forecasts:
        return []
    first = forecasts[0]
    loss_fit, n = first.loss_fit, len(forecasts)
    spreads = list(structural) if structural is not None else [{} for _ in forecasts]
    masks = np.ones((n, loss_fit.n_points), dtype=bool)
    loss_samples = resample_predictions(
        loss_fit, masks, [target_inputs(loss_fit, f.params, f.tokens, np.zeros(n_resamples)) for f in forecasts],
        n_resamples, seed)
    if loss_fit.pooled and loss_fit.pooled_data is None:  # a pooled fit read back from a law file
        loss_samples = np.array([centred_on_pooled(loss_fit, samples, f.params, f.tokens, f.loss)
                                 for samples, f in zip(loss_samples, forecasts, strict=True)])
    parts = [{"loss": IntervalParts("loss", f.loss, *physical_bounds("loss", samples, level),
                                    loss_target_noise(loss_fit, f.loss), spread.get("loss", 0.0),
                                    forecast_distance(f, distance), beyond=beyond_runs(f))}
             for f, samples, spread in zip(forecasts, loss_samples, spreads, strict=True)]
    for fit in first.error_fits:
        if fit.task_set is None:
            continue
        name = fit.task_set.name
        bounds = [(float("nan"), float("nan"))] * n
        if refitted_law(fit) is type(fit.law):
            inputs = [target_inputs(fit, f.params, f.tokens, np.where(np.isfinite(samples), samples, f.loss))
                      for f, samples in zip(forecasts, loss_samples, strict=True)]
            samples = resample_predictions(fit, np.ones((n, fit.n_points), dtype=bool), inputs, n_resamples,
                                           seed + 1)
            bounds = [fit_part_bounds("error", row, f.errors[fit.task_set.name], level)
                      for row, f in zip(samples, forecasts, strict=True)]
        counts = (examples or {}).get(name, np.array([]))
        for part, f, bound, spread in zip(parts, forecasts, bounds, spreads, strict=True):
            prediction = f.errors[name]
            part[name] = IntervalParts("error", prediction, *bound, error_target_noise(fit, prediction, counts),
                                       spread.get(name, 0.0), forecast_distance(f, distance), beyond=beyond_runs(f))
    return parts


def forecast_intervals(
    forecast: Forecast, calibration: Calibration, *, level: float = 0.9, n_resamples: int = 400, seed: int = 0,
    examples: dict[str, np.ndarray] | None = None, structural: dict[str, float] | None = None,
) -> dict[str, Interval]:
    """Intervals for a forecast's loss and each task set's error (see `forecast_parts`)."""
    parts = forecast_parts(forecast, level=level, n_resamples=n_resamples, seed=seed, examples=examples,
                           structural=structural)
    return {name: part.interval(calibration, level) for name, part in parts.items()}
