"""Fit uncertainty by bootstrap over runs: refit the law to resampled fit sets, all resamples at once.

A resample draws the fit set's runs with replacement (never checkpoints of one run: a run is the unit), which
is the same as fitting with integer weights, so the batched engine solves every resample in one call.
Resamples whose design cannot identify the law (e.g. every draw from one model size) are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting import Fit, solve_law
from overtrain.forecast import Forecast
from overtrain.varpro import fit_profile


@dataclass(frozen=True)
class Bootstrap:
    """The laws fitted to bootstrap resamples of one fit set: exponent and linear coefficients per resample."""

    fit: Fit
    theta: np.ndarray
    linear: np.ndarray
    n_resamples: int
    seed: int

    @property
    def n_failed(self) -> int:
        """Resamples that could not identify the law and were dropped."""
        return self.n_resamples - len(self.theta)

    def predict(self, *inputs: np.ndarray | float) -> np.ndarray:
        """Each resample's prediction: shape (resamples,) for scalar inputs, (resamples, m) for arrays."""
        arrays = tuple(np.atleast_1d(np.asarray(v, dtype=float)) for v in inputs)
        law = type(self.fit.law)
        values = np.einsum("bmp,bp->bm", law.basis(arrays, self.theta), self.linear)
        return values[:, 0] if all(np.ndim(v) == 0 for v in inputs) else values

    def interval(self, *inputs: float, level: float = 0.9) -> tuple[float, float]:
        """Central `level` percentile interval of the prediction at scalar inputs."""
        values = self.predict(*inputs)
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)


def resample_weights(n_runs: int, n_resamples: int, seed: int) -> np.ndarray:
    """Multiplicities of each run in each resample (n_resamples, n_runs): multinomial draws, seeded."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_resamples).astype(float)


def bootstrap(fit: Fit, n_resamples: int = 1000, seed: int = 0) -> Bootstrap:
    """Refit `fit`'s law to `n_resamples` resamples of its runs (deterministic for a given seed)."""
    law = type(fit.law)
    weights = resample_weights(fit.n_runs, n_resamples, seed)
    solution = fit_profile(law, fit.inputs, fit.observed, weights)
    ok = np.isfinite(solution.sse)
    return Bootstrap(fit, solution.theta[ok], solution.linear[ok], n_resamples, seed)


# --- forecast intervals -------------------------------------------------------------------------------------
#
# A forecast's interval at level q combines three parts, as half-widths added in quadrature:
# 1. fit and measurement noise: refit both laws to resamples of their fit sets (runs drawn with replacement
#    when there are at least twice as many as coefficients, each draw's response perturbed by that run's
#    measurement noise) and take the central q percentile range of the two-stage forecast;
# 2. the target's own measurement noise (its loss evaluation, or the binomial noise of its task accuracies);
# 3. model (extrapolation) error, which sampling noise cannot cover: s x log10(1 + distance) x prediction,
#    with s calibrated on backtests so that q of backtest forecasts fall inside their intervals.


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
class Calibration:
    """Extrapolation half-width per decade of compute distance (log10(1 + distance)), relative to the
    forecast, at `level`."""

    loss_scale: float
    error_scale: float
    level: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"loss_scale": self.loss_scale, "error_scale": self.error_scale, "level": self.level,
                "source": self.source}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Calibration:
        return cls(float(document["loss_scale"]), float(document["error_scale"]), float(document["level"]),
                   str(document["source"]))


def _law_class(fit: Fit) -> type:
    return getattr(type(fit.law), "per_task", type(fit.law))


def resample_predictions(
    fit: Fit, masks: np.ndarray, target_inputs: list[tuple[np.ndarray, ...]], n_resamples: int, seed: int,
) -> np.ndarray:
    """For each fit set (0/1 mask over `fit`'s runs) refit the law to `n_resamples` resamples, each draw's
    response perturbed by its run's measurement noise; predict at that mask's target inputs.

    Runs are drawn with replacement only when the fit set has at least twice as many runs as the law has
    coefficients: resampling five runs for four coefficients leaves exact, arbitrary fits. Smaller fit sets keep
    every run and vary only the measurement noise.

    `target_inputs[b]` holds arrays of length n_resamples (one input value per resample). Returns
    (masks, n_resamples) predictions, NaN where a resample could not identify the law.
    """
    law = _law_class(fit)
    if law is not type(fit.law):
        raise OvertrainError(f"intervals are not available for the {fit.law.name} law")
    rng = np.random.default_rng(seed)
    n_masks, n_runs = masks.shape
    weights = np.zeros((n_masks, n_resamples, n_runs))
    for b, mask in enumerate(masks):
        chosen = np.flatnonzero(mask)
        if len(chosen) >= 2 * type(fit.law).n_coefficients:
            weights[b][:, chosen] = rng.multinomial(len(chosen), np.full(len(chosen), 1 / len(chosen)), n_resamples)
        else:
            weights[b][:, chosen] = 1.0
    noise = np.zeros(n_runs) if fit.noise is None else fit.noise
    y = fit.observed + noise * rng.standard_normal((n_masks, n_resamples, n_runs))
    offset = getattr(fit.law, "chance_error", 0.0) if getattr(law, "offset", None) else 0.0
    theta, linear, _ = solve_law(law, fit.inputs, (y - offset).reshape(-1, n_runs), fit.objective,
                                 weights.reshape(-1, n_runs))
    theta, linear = theta.reshape(n_masks, n_resamples, -1), linear.reshape(n_masks, n_resamples, -1)
    predictions = np.empty((n_masks, n_resamples))
    for b in range(n_masks):
        ok = np.all(np.isfinite(theta[b]), axis=1)
        safe = np.where(ok[:, None], theta[b], 1.0)
        basis = law.basis(target_inputs[b], safe)  # (R, R, p): every resample's law at every input
        values = np.einsum("rrp,rp->r", basis, np.where(ok[:, None], linear[b], 0.0)) + offset
        predictions[b] = np.where(ok, values, np.nan)
    return predictions


def _target_inputs(fit: Fit, params: float, tokens: float, loss: np.ndarray) -> tuple[np.ndarray, ...]:
    known = {"params": np.full(len(loss), params), "tokens": np.full(len(loss), tokens),
             "multiplier": np.full(len(loss), tokens / params), "loss": loss}
    return tuple(known[name] for name in type(fit.law).inputs)


def loss_target_noise(fit: Fit, prediction: float) -> float:
    """The target's own loss measurement noise, assumed relatively as large as the fit runs' (median)."""
    if fit.noise is None or not np.any(fit.noise > 0):
        return 0.0
    return float(np.median(fit.noise / fit.observed) * prediction)


def error_target_noise(fit: Fit, prediction: float, examples: np.ndarray) -> float:
    """Binomial noise of an average error at `prediction` over tasks with `examples` examples each."""
    examples = examples[np.isfinite(examples) & (examples > 0)]
    if len(examples) == 0:
        return 0.0
    error = min(max(prediction, 0.0), 1.0)
    return float(np.sqrt(np.sum(error * (1 - error) / examples)) / len(examples))


def sample_bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` percentile range of resampled forecasts (NaN without enough finite samples)."""
    samples = samples[np.isfinite(samples)]
    if len(samples) < 10:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def combine(prediction: float, low: float, high: float, target_sigma: float, extrapolation: float,
            level: float) -> Interval:
    """Half-widths of the three parts added in quadrature (see the module notes); `low`, `high` are the
    resampled forecasts' range (NaN: no fit part)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    fit_below = max(prediction - low, 0.0) if np.isfinite(low) else 0.0
    fit_above = max(high - prediction, 0.0) if np.isfinite(high) else 0.0
    below = np.sqrt(fit_below**2 + (z * target_sigma) ** 2 + extrapolation**2)
    above = np.sqrt(fit_above**2 + (z * target_sigma) ** 2 + extrapolation**2)
    return Interval(float(prediction - below), float(prediction + above), level)


def forecast_intervals(
    forecast: Forecast, calibration: Calibration, *, level: float = 0.9, n_resamples: int = 400, seed: int = 0,
    examples: dict[str, np.ndarray] | None = None,
) -> dict[str, Interval]:
    """Intervals for a forecast's loss and each task set's error (key `loss` and the task-set names)."""
    decades = np.log10(1.0 + forecast.flops_ratio)
    one = np.ones((1, forecast.loss_fit.n_runs), dtype=bool)
    loss_samples = resample_predictions(
        forecast.loss_fit, one, [_target_inputs(forecast.loss_fit, forecast.params, forecast.tokens,
                                                np.zeros(n_resamples))], n_resamples, seed)[0]
    intervals = {"loss": combine(forecast.loss, *sample_bounds(loss_samples, level),
                                 loss_target_noise(forecast.loss_fit, forecast.loss),
                                 calibration.loss_scale * decades * forecast.loss, level)}
    for fit in forecast.error_fits:
        if fit.task_set is None or _law_class(fit) is not type(fit.law):
            continue
        name = fit.task_set.name
        prediction = forecast.errors[name]
        losses = np.where(np.isfinite(loss_samples), loss_samples, forecast.loss)
        inputs = _target_inputs(fit, forecast.params, forecast.tokens, losses)
        samples = resample_predictions(fit, np.ones((1, fit.n_runs), dtype=bool), [inputs], n_resamples, seed + 1)
        counts = (examples or {}).get(name, np.array([]))
        intervals[name] = combine(prediction, *sample_bounds(samples[0], level),
                                  error_target_noise(fit, prediction, counts),
                                  calibration.error_scale * decades * prediction, level)
    return intervals


def coverage(frame: pd.DataFrame, quantity: str, scale: float, level: float) -> np.ndarray:
    """Which backtest forecasts of `quantity` (loss or error) fall inside their intervals at `scale`."""
    decades = np.log10(1.0 + frame["distance"].to_numpy())
    return np.array([
        combine(p, lo, hi, sigma, scale * d * p, level).contains(x)
        for p, x, lo, hi, sigma, d in zip(frame[f"{quantity}_pred"], frame[f"{quantity}_true"],
                                          frame[f"{quantity}_fit_low"], frame[f"{quantity}_fit_high"],
                                          frame[f"{quantity}_sigma"], decades, strict=True)
    ])


def calibrate_scale(frame: pd.DataFrame, quantity: str, level: float) -> float:
    """The smallest extrapolation scale for which `level` of the backtest intervals contain the truth
    (bisection: coverage only grows with the scale). Failed forecasts (NaN) are left out."""
    frame = frame[np.isfinite(frame[f"{quantity}_pred"])]
    if len(frame) == 0:
        return float("nan")
    if coverage(frame, quantity, 0.0, level).mean() >= level:
        return 0.0
    low, high = 0.0, 0.05
    while coverage(frame, quantity, high, level).mean() < level and high < 64:
        low, high = high, high * 2
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (low, middle) if coverage(frame, quantity, middle, level).mean() >= level else (middle, high)
    return high
