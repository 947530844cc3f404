"""The parts a forecast's interval is built from, all but the calibrated width (see `overtrain.trust.intervals`
for how they add up): the fit part's width, the target's measurement noise, the plausible laws' spread, how far a
forecast lies beyond its fit runs and how the extrapolation part grows with compute distance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from overtrain.errors import OvertrainError
from overtrain.fitting.fit import Fit
from overtrain.forecasts import Forecast
from overtrain.quantities import Quantity, from_scale, physical, scale_slope, to_scale


def structural_spread(quantity: str, predictions: Sequence[float]) -> float:
    """Standard deviation, on the interval scale, of the forecasts of several eligible laws (0 for fewer than 2)."""
    values = np.array([p for p in predictions if np.isfinite(p)], dtype=float)
    if len(values) < 2:
        return 0.0
    return float(np.std(to_scale(quantity, physical(quantity, values)), ddof=1))


#: The smallest fit part (half its range on the interval scale) an adaptive half-width follows: below it, a fit so
#: tight that its resamples barely move says no more.
MIN_FIT_WIDTH = 1e-3


def fit_width(quantity: str, prediction: np.ndarray | float, low: np.ndarray | float, high: np.ndarray | float
              ) -> np.ndarray | float:
    """Half the fit part's range (resampled forecasts' `low` to `high`) on the interval scale; NaN without one."""
    values = [np.asarray(physical(quantity, np.asarray(v, dtype=float)), dtype=float) for v in (low, high)]
    if quantity == Quantity.LOSS:
        values = [np.where(v > 0, v, np.nan) for v in values]
    width = (np.asarray(to_scale(quantity, values[1])) - np.asarray(to_scale(quantity, values[0]))) / 2
    width = np.where(np.isfinite(values[0]) & np.isfinite(values[1]), width, np.nan)
    return float(width) if width.ndim == 0 else width


def adaptive_factor(width: np.ndarray | float, power: float, reference: float) -> np.ndarray | float:
    """(max(width, MIN_FIT_WIDTH) / reference)^power, 1 where the width is unknown or the power 0: how much wider
    or narrower a forecast's extrapolation part is than at the calibration's reference fit part."""
    width = np.asarray(width, dtype=float)
    if not power:
        return np.ones_like(width) if width.ndim else 1.0
    factor = np.where(np.isfinite(width), (np.maximum(np.nan_to_num(width), MIN_FIT_WIDTH) / reference) ** power,
                      1.0)
    return float(factor) if factor.ndim == 0 else factor


#: How the extrapolation half-width grows with compute distance d: log10(1 + d), or not at all.
FORMS = ("log-distance", "constant")


#: What the compute distance d is measured against: the fit runs' compute together (the paper's C / fit C), or the
#: most expensive fit run's (a sweep of many runs at one budget is no nearer the target than one of them).
DISTANCES = ("total", "largest")


def forecast_distance(forecast: Forecast, distance: str) -> float:
    """The compute distance of `forecast` as `distance` measures it (see `DISTANCES`)."""
    if distance == "total":
        return forecast.flops_ratio
    if distance == "largest":
        return forecast.reach
    raise OvertrainError(f"unknown compute distance {distance!r} (known: {', '.join(DISTANCES)})")


def distance_growth(form: str, distance: float | np.ndarray) -> float | np.ndarray:
    """The factor the extrapolation scale is multiplied by at compute distance d: log10(1 + d) or 1."""
    if form == "log-distance":
        return np.log10(1.0 + np.asarray(distance, dtype=float))
    if form == "constant":
        return np.ones_like(np.asarray(distance, dtype=float))
    raise OvertrainError(f"unknown extrapolation form {form!r} (known: {', '.join(FORMS)})")


def residual_noise(fit: Fit, quantity: str, prediction: float) -> float:
    """How far a run scatters about the fitted law, as the fit runs did: their residuals' standard deviation on the
    interval scale, sqrt(sum r^2 / (n - p)), in `quantity`'s units at `prediction` (0 for a fit with no residual
    degrees of freedom, whose residuals say nothing). The part of a target's noise that a fit already shows: a
    forecast at a measured run is no surer than the law passes through the runs."""
    free = fit.n_points - type(fit.law).n_coefficients
    observed = np.asarray(physical(quantity, fit.observed), dtype=float)
    predicted = np.asarray(physical(quantity, fit.predicted), dtype=float)
    usable = np.isfinite(observed) & np.isfinite(predicted) & ((observed > 0) if quantity == Quantity.LOSS else True)
    if free < 1 or not usable.any():
        return 0.0
    residual = np.asarray(to_scale(quantity, observed[usable])) - np.asarray(to_scale(quantity, predicted[usable]))
    spread = float(np.sqrt(np.sum(residual**2) / free))
    return spread / float(scale_slope(quantity, physical(quantity, np.asarray(prediction, dtype=float))))


def loss_measurement_noise(fit: Fit, prediction: float) -> float:
    """The target's loss measurement noise, assumed relatively as large as the fit runs' (median)."""
    if fit.noise is None or not np.any(fit.noise > 0):
        return 0.0
    return float(np.median(fit.noise / fit.observed) * prediction)


def error_measurement_noise(prediction: float, examples: np.ndarray) -> float:
    """Binomial noise of an average error at `prediction` over tasks with `examples` examples each."""
    examples = examples[np.isfinite(examples) & (examples > 0)]
    if len(examples) == 0:
        return 0.0
    error = min(max(prediction, 0.0), 1.0)
    return float(np.sqrt(np.sum(error * (1 - error) / examples)) / len(examples))


def loss_target_noise(fit: Fit, prediction: float) -> float:
    """The target's own loss noise: its measurement noise (`loss_measurement_noise`) and how far runs scatter about
    the law (`residual_noise`), added in quadrature."""
    return float(np.hypot(loss_measurement_noise(fit, prediction), residual_noise(fit, "loss", prediction)))


def error_target_noise(fit: Fit, prediction: float, examples: np.ndarray) -> float:
    """The target's own error noise: its binomial measurement noise (`error_measurement_noise`) and how far runs
    scatter about the law (`residual_noise`), added in quadrature."""
    return float(np.hypot(error_measurement_noise(prediction, examples), residual_noise(fit, "error", prediction)))


def beyond_runs(forecast: Forecast) -> float:
    """How much of the extrapolation part a forecast carries: 0 at a loss fit run's N and M, 1 from twice away from
    every one (in N or in M, whichever is further), in between along log2 of that factor. A forecast at or beside
    a measured run is an interpolation: its interval is the fit part and the target's noise."""
    params, tokens = (np.asarray(v, dtype=float) for v in forecast.loss_fit.inputs[:2])
    away = np.maximum(np.abs(np.log2(forecast.params / params)),
                      np.abs(np.log2(forecast.multiplier / (tokens / params))))
    return float(np.clip(np.min(away), 0.0, 1.0))


@dataclass(frozen=True)
class BoundParts:
    """What interval bounds are built from, all but the extrapolation half-width, on the interval scale (squared, as
    they add in quadrature: target noise, structural spread, the fit part's reach below and above), so that a search
    over the half-width (`calibrate_scale`) computes the rest once."""

    quantity: str
    prediction: np.ndarray
    centre: np.ndarray
    noise: np.ndarray
    structural: np.ndarray
    fit_below: np.ndarray
    fit_above: np.ndarray

    @classmethod
    def of(cls, prediction: np.ndarray, low: np.ndarray, high: np.ndarray, target_sigma: np.ndarray, level: float,
           quantity: str, structural: np.ndarray | float, fit_factor: float) -> BoundParts:
        """The parts of many forecasts at once: `low`, `high` the resampled forecasts' range (NaN: no fit part),
        scaled by `fit_factor`; `target_sigma` the target's measurement noise in loss or error units; `structural` a
        standard deviation on the interval scale."""
        z = NormalDist().inv_cdf(0.5 + level / 2)
        prediction = np.asarray(physical(quantity, np.asarray(prediction, dtype=float)), dtype=float)
        centre = to_scale(quantity, prediction)

        def reach(bound: np.ndarray, sign: float) -> np.ndarray:
            bound = np.asarray(bound, dtype=float)
            finite = np.isfinite(bound)
            safe = np.where(finite, bound, prediction)
            safe = np.clip(safe, 0.0, 1.0) if quantity == Quantity.ERROR else np.maximum(safe, 1e-12)
            return np.where(finite, np.maximum(sign * (to_scale(quantity, safe) - centre), 0.0), 0.0) * fit_factor

        slope = scale_slope(quantity, prediction)
        return cls(quantity, prediction, centre, (z * np.asarray(target_sigma, dtype=float) * slope) ** 2,
                   (z * np.asarray(structural)) ** 2, reach(low, -1.0) ** 2, reach(high, 1.0) ** 2)

    def at(self, extrapolation: np.ndarray | float, below_extrapolation: np.ndarray | float | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
        """The bounds with extrapolation half-width `extrapolation` (below the forecast `below_extrapolation`, where
        given): the parts added in quadrature, mapped back."""
        lower_part = extrapolation if below_extrapolation is None else below_extrapolation
        shared = self.noise + self.structural
        below = np.sqrt(self.fit_below + shared + np.asarray(lower_part) ** 2)
        above = np.sqrt(self.fit_above + shared + np.asarray(extrapolation) ** 2)
        lower = np.minimum(from_scale(self.quantity, self.centre - below), self.prediction)
        upper = np.maximum(from_scale(self.quantity, self.centre + above), self.prediction)
        return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
