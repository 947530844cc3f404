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
from statistics import NormalDist
from typing import Any

import numpy as np

from overtrain.errors import OvertrainError
from overtrain.fitting.fit import Fit
from overtrain.forecast import Forecast
from overtrain.scales import from_scale, physical, scale_slope, shift_on_scale, to_scale
from overtrain.trust.bootstrap import (
    centred_on_pooled,
    fit_part_bounds,
    physical_bounds,
    refitted_law,
    resample_predictions,
    target_inputs,
)


def structural_spread(quantity: str, predictions: Sequence[float]) -> float:
    """Standard deviation, on the interval scale, of the forecasts of several eligible laws (0 for fewer than 2)."""
    values = np.array([p for p in predictions if np.isfinite(p)], dtype=float)
    if len(values) < 2:
        return 0.0
    return float(np.std(to_scale(quantity, physical(quantity, values)), ddof=1))


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
class Width:
    """One quantity's calibrated extrapolation half-width on the interval scale: `scale` times its growth with compute
    distance (`form`, see `distance_growth`) times how it follows the forecast's own fit part w,
    (max(w, MIN_FIT_WIDTH) / `reference`)^`power` (power 0: the same width for every forecast at one distance); the
    resampled fit part counted times `fit_factor`; below the forecast `below` instead of `scale` where the evidence
    misses to one side (`overtrain.trust.widths.one_sided`; NaN: the same on both sides)."""

    scale: float
    form: str = "log-distance"
    fit_factor: float = 1.0
    power: float = 0.0
    reference: float = 1.0
    below: float = float("nan")

    def describe(self) -> str:
        grows = "at any distance" if self.form == "constant" else "x log10(1 + compute distance)"
        adapts = "" if not self.power else f", times (fit part / {self.reference:.2g})^{self.power:g}"
        sides = "" if not np.isfinite(self.below) else f" above, {self.below:.3g} below"
        return f"{self.scale:.3g}{sides} {grows}{adapts}"


@dataclass(frozen=True)
class Calibration:
    """The extrapolation half-widths at `level`, one `Width` per quantity: the loss's (log scale), the average
    error's and each task's (logit scale; a task without its own, `task_scales`, takes `task`'s, and without that the
    error's), learned from forecasts up to the compute distance `evidence_reach`."""

    loss: Width
    error: Width
    level: float
    source: str
    #: The extrapolation width of one task's error (`task_forecasts`), calibrated on held-out per-task forecasts; its
    #: scale NaN where none were, and then the average error's.
    task: Width = Width(float("nan"))
    #: Each task's own extrapolation scale where the suite's held-out forecasts of that task calibrate one, pooled
    #: toward `task`'s (`overtrain.trust.widths.task_widths`); a task not in it takes `task`'s.
    task_scales: tuple[tuple[str, float], ...] = ()
    #: The largest compute distance among the forecasts the widths were learned on (inf: not recorded). Beyond it a
    #: width that does not grow with distance grows from there as log10(1 + d) / log10(1 + reach) (`half_width`), and
    #: the forecast says so.
    evidence_reach: float = float("inf")

    @classmethod
    def of(cls, loss_scale: float, error_scale: float, level: float, source: str) -> Calibration:
        """A calibration of two scales, both growing with log distance, the fit part counted in full."""
        return cls(Width(loss_scale), Width(error_scale), level, source)

    @property
    def loss_scale(self) -> float:
        """The loss width's scale (`loss.scale`)."""
        return self.loss.scale

    @property
    def error_scale(self) -> float:
        """The average error width's scale (`error.scale`)."""
        return self.error.scale

    def width(self, quantity: str) -> Width:
        """The width of `quantity` (`loss`, `error` or `task`): a task's is its own scale in the error's form and
        fit-part factor, or the error's scale where it has none."""
        if quantity == "loss":
            return self.loss
        if quantity == "error":
            return self.error
        scale = self.task.scale if np.isfinite(self.task.scale) else self.error.scale
        return Width(scale, self.error.form, self.error.fit_factor, below=self.task.below)

    def describe(self) -> str:
        """One line: the calibrated extrapolation half-widths and how much of the resampled fit part counts."""
        def counted(factor: float) -> str:
            return "not counted" if factor == 0 else "in full" if factor == 1 else f"x{factor:g}"

        loss = f"loss {self.loss.describe()} on the log scale"
        if not np.isfinite(self.error.scale):  # nothing to calibrate the error on: runs without tasks
            return f"extrapolation half-width: {loss}; resampled fit part {counted(self.loss.fit_factor)}"
        return (f"extrapolation half-width: {loss}, error {self.error.describe()} on the logit scale; resampled fit "
                f"part {counted(self.loss.fit_factor)} (loss), {counted(self.error.fit_factor)} (error)")

    def for_task(self, task: str) -> Calibration:
        """This calibration with `task`'s own extrapolation scale as the task scale, where it has one."""
        own = dict(self.task_scales).get(task)
        if own is None or not np.isfinite(own):
            return self
        return dataclasses.replace(self, task=dataclasses.replace(self.task, scale=own, below=float("nan")))

    def finite(self) -> Calibration:
        """This calibration with a scale nothing could calibrate (NaN) taken as 0: no extrapolation part."""
        def zero(width: Width) -> Width:
            return width if np.isfinite(width.scale) else dataclasses.replace(width, scale=0.0)

        return dataclasses.replace(self, loss=zero(self.loss), error=zero(self.error))

    def form(self, quantity: str) -> str:
        """How the extrapolation half-width of `quantity` grows with compute distance (see `distance_growth`)."""
        return self.width(quantity).form

    def fit_factor(self, quantity: str) -> float:
        """How much of the resampled fit part the intervals of `quantity` carry (see `calibrate_interval`)."""
        return self.width(quantity).fit_factor

    def half_width(self, quantity: str, distance: float | np.ndarray, fit_width: float | np.ndarray = float("nan"),
                   below: bool = False) -> float | np.ndarray:
        """Extrapolation half-width of `quantity` at compute distance `distance`, on the interval scale, for a
        forecast whose fit part is `fit_width` (see `adaptive_factor`): the upper side's, or with `below` the lower
        side's."""
        width = self.width(quantity)
        scale = width.below if below and np.isfinite(width.below) else width.scale
        return (scale * distance_growth(width.form, distance) * self.beyond_evidence(quantity, distance)
                * adaptive_factor(fit_width, width.power, width.reference))

    def beyond_evidence(self, quantity: str, distance: float | np.ndarray) -> float | np.ndarray:
        """How much wider a width that does not grow with distance is beyond the evidence's reach:
        log10(1 + d) / log10(1 + reach) past it, 1 before (and always 1 for widths that grow with log distance)."""
        distance = np.asarray(distance, dtype=float)
        if self.form(quantity) != "constant" or not np.isfinite(self.evidence_reach):
            return np.ones_like(distance) if distance.ndim else 1.0
        factor = np.where(distance > self.evidence_reach,
                          np.log10(1.0 + distance) / np.log10(1.0 + self.evidence_reach), 1.0)
        return float(factor) if factor.ndim == 0 else factor

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON reads it: each quantity's width flattened as `<quantity>_<part>`."""
        return {"loss_scale": self.loss.scale, "error_scale": self.error.scale, "level": self.level,
                "source": self.source, "loss_form": self.loss.form, "error_form": self.error.form,
                "loss_fit_factor": self.loss.fit_factor, "error_fit_factor": self.error.fit_factor,
                "task_scale": self.task.scale, "loss_power": self.loss.power, "error_power": self.error.power,
                "loss_reference": self.loss.reference, "error_reference": self.error.reference,
                "loss_below": self.loss.below, "error_below": self.error.below, "task_below": self.task.below,
                "task_scales": dict(self.task_scales), "evidence_reach": self.evidence_reach}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Calibration:
        """Read `to_dict`'s output (a single `form`, as written before forms were per quantity, applies to both)."""
        form = str(document.get("form", "log-distance"))

        def number(name: str, default: float) -> float:
            return float(document.get(name, default))

        def width(quantity: str) -> Width:
            return Width(float(document[f"{quantity}_scale"]), str(document.get(f"{quantity}_form", form)),
                         number(f"{quantity}_fit_factor", 1.0), number(f"{quantity}_power", 0.0),
                         number(f"{quantity}_reference", 1.0), number(f"{quantity}_below", float("nan")))

        return cls(width("loss"), width("error"), float(document["level"]), str(document["source"]),
                   Width(number("task_scale", float("nan")), below=number("task_below", float("nan"))),
                   tuple((str(k), float(v)) for k, v in dict(document.get("task_scales", {})).items()),
                   number("evidence_reach", float("inf")))


#: The smallest fit part (half its range on the interval scale) an adaptive half-width follows: below it, a fit so
#: tight that its resamples barely move says no more.
MIN_FIT_WIDTH = 1e-3


def fit_width(quantity: str, prediction: np.ndarray | float, low: np.ndarray | float, high: np.ndarray | float
              ) -> np.ndarray | float:
    """Half the fit part's range (resampled forecasts' `low` to `high`) on the interval scale; NaN without one."""
    values = [np.asarray(physical(quantity, np.asarray(v, dtype=float)), dtype=float) for v in (low, high)]
    if quantity == "loss":
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
    usable = np.isfinite(observed) & np.isfinite(predicted) & ((observed > 0) if quantity == "loss" else True)
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
            safe = np.clip(safe, 0.0, 1.0) if quantity == "error" else np.maximum(safe, 1e-12)
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
        if key == "loss":
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
    if loss_fit.pooled and loss_fit.pool is None:  # a pooled fit read back from a law file
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
