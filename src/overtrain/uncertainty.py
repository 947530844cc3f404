"""Fit uncertainty by bootstrap over runs: refit the law to resampled fit sets, all resamples at once.

A resample draws the fit set's runs with replacement (a run's checkpoints come with it: a run is the unit), which
is the same as fitting with integer weights, so the batched engine solves every resample in one call.
Resamples whose design cannot identify the law (e.g. every draw from one model size) are dropped and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting import Fit, distinct_rows, linear_count, solve_law, solve_pooled
from overtrain.forecast import Forecast
from overtrain.scales import from_scale, physical, scale_slope, shift_on_scale, to_scale
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
    weights = resample_weights(fit.n_runs, n_resamples, seed)[:, fit.units]
    solution = fit_profile(law, fit.inputs, fit.observed, weights)
    ok = np.isfinite(solution.sse)
    return Bootstrap(fit, solution.theta[ok], solution.linear[ok], n_resamples, seed)


# --- forecast intervals -------------------------------------------------------------------------------------
#
# A forecast's interval at level q combines four parts, as half-widths added in quadrature on a scale where
# every value is physical: log loss (loss stays above 0) and logit error (error stays inside (0, 1)):
# 1. fit and measurement noise: refit the law to resamples of its fit set (see `resample_predictions`) and take
#    the central q percentile range of the two-stage forecast, times a calibrated factor;
# 2. the target's own measurement noise (its loss evaluation, or the binomial noise of its task accuracies);
# 3. (optional) structural uncertainty: the spread (standard deviation) of the forecasts of the plausible laws,
#    which disagree most where the data cannot tell them apart;
# 4. model (extrapolation) error, which sampling noise cannot cover: s on that scale, constant or times
#    log10(1 + distance) (`distance_growth`), with s calibrated on held-out forecasts (`calibrate_interval`) so
#    that q of them fall inside their intervals.
# The bounds are mapped back to loss and error, so no bound leaves what a run could measure.

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
class Calibration:
    """The extrapolation half-width at `level`, on the interval scale (log loss, logit error): `loss_scale` and
    `error_scale` times their form's growth with compute distance d (`loss_form`, `error_form`; see
    `distance_growth`)."""

    loss_scale: float
    error_scale: float
    level: float
    source: str
    loss_form: str = "log-distance"
    error_form: str = "log-distance"
    loss_fit_factor: float = 1.0
    error_fit_factor: float = 1.0
    #: The extrapolation scale of one task's error (`task_forecasts`), calibrated on held-out per-task forecasts;
    #: NaN where none were, and then the average error's.
    task_scale: float = float("nan")
    #: How the half-width adapts to the forecast's own fit part w (half its resampled range on the scale): times
    #: (max(w, MIN_FIT_WIDTH) / reference)^power; power 0 (the same width for every forecast at one distance).
    loss_power: float = 0.0
    error_power: float = 0.0
    loss_reference: float = 1.0
    error_reference: float = 1.0

    def describe(self) -> str:
        """One line: the calibrated extrapolation half-widths and how much of the resampled fit part counts."""
        def width(scale: float, form: str, quantity: str) -> str:
            grows = "at any distance" if form == "constant" else "x log10(1 + compute distance)"
            power, reference = self.adaptation(quantity)
            adapts = "" if not power else f", times (fit part / {reference:.2g})^{power:g}"
            return f"{scale:.3g} {grows}{adapts}"

        def counted(factor: float) -> str:
            return "not counted" if factor == 0 else "in full" if factor == 1 else f"x{factor:g}"

        loss = f"loss {width(self.loss_scale, self.loss_form, 'loss')} on the log scale"
        if not np.isfinite(self.error_scale):  # nothing to calibrate the error on: runs without tasks
            return f"extrapolation half-width: {loss}; resampled fit part {counted(self.loss_fit_factor)}"
        return (f"extrapolation half-width: {loss}, error {width(self.error_scale, self.error_form, 'error')} on the "
                f"logit scale; resampled fit part {counted(self.loss_fit_factor)} (loss), "
                f"{counted(self.error_fit_factor)} (error)")

    def finite(self) -> Calibration:
        """This calibration with a scale nothing could calibrate (NaN) taken as 0: no extrapolation part."""
        return dataclasses.replace(self, **{name: 0.0 if not np.isfinite(getattr(self, name)) else getattr(self, name)
                                            for name in ("loss_scale", "error_scale")})

    def form(self, quantity: str) -> str:
        """How the extrapolation half-width of `quantity` grows with compute distance (see `distance_growth`)."""
        return self.loss_form if quantity == "loss" else self.error_form

    def fit_factor(self, quantity: str) -> float:
        """How much of the resampled fit part the intervals of `quantity` carry (see `calibrate_interval`)."""
        return self.loss_fit_factor if quantity == "loss" else self.error_fit_factor

    def adaptation(self, quantity: str) -> tuple[float, float]:
        """(power, reference) of how `quantity`'s half-width follows the forecast's fit part (tasks: none)."""
        if quantity == "loss":
            return self.loss_power, self.loss_reference
        return (self.error_power, self.error_reference) if quantity == "error" else (0.0, 1.0)

    def half_width(self, quantity: str, distance: float | np.ndarray, fit_width: float | np.ndarray = float("nan")
                   ) -> float | np.ndarray:
        """Extrapolation half-width of `quantity` at compute distance `distance`, on the interval scale, for a
        forecast whose fit part is `fit_width` (see `adaptive_factor`)."""
        scale = self.loss_scale if quantity == "loss" else self.error_scale
        if quantity == "task" and np.isfinite(self.task_scale):
            scale = self.task_scale
        power, reference = self.adaptation(quantity)
        return (scale * distance_growth(self.form(quantity), distance)
                * adaptive_factor(fit_width, power, reference))

    def to_dict(self) -> dict[str, Any]:
        return {"loss_scale": self.loss_scale, "error_scale": self.error_scale, "level": self.level,
                "source": self.source, "loss_form": self.loss_form, "error_form": self.error_form,
                "loss_fit_factor": self.loss_fit_factor, "error_fit_factor": self.error_fit_factor,
                "task_scale": self.task_scale, "loss_power": self.loss_power, "error_power": self.error_power,
                "loss_reference": self.loss_reference, "error_reference": self.error_reference}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Calibration:
        """Read `to_dict`'s output (a single `form`, as written before forms were per quantity, applies to both)."""
        form = str(document.get("form", "log-distance"))
        return cls(float(document["loss_scale"]), float(document["error_scale"]), float(document["level"]),
                   str(document["source"]), str(document.get("loss_form", form)),
                   str(document.get("error_form", form)), float(document.get("loss_fit_factor", 1.0)),
                   float(document.get("error_fit_factor", 1.0)), float(document.get("task_scale", float("nan"))),
                   *(float(document.get(name, default)) for name, default in (
                       ("loss_power", 0.0), ("error_power", 0.0), ("loss_reference", 1.0), ("error_reference", 1.0))))


#: The smallest fit part (half its range on the interval scale) an adaptive half-width follows: below it, a fit so
#: tight that its resamples barely move says no more.
MIN_FIT_WIDTH = 1e-3
#: The powers of the fit part the calibration may scale the half-width by (`calibrate_width`); 0 is a constant width.
POWERS = (0.0, 0.5, 1.0)


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


def _law_class(fit: Fit) -> type | None:
    """The law the engine refits when resampling `fit` (a per-task law's one task; None for laws it cannot)."""
    law = type(fit.law)
    return getattr(law, "per_task", law if hasattr(law, "basis") else None)


#: Fit sets with at least this many runs per coefficient are resampled run by run; smaller ones by residuals.
CASE_RESAMPLING_RUNS_PER_COEFFICIENT = 4


def resample_predictions(
    fit: Fit, masks: np.ndarray, target_inputs: list[tuple[np.ndarray, ...]], n_resamples: int, seed: int,
) -> np.ndarray:
    """For each fit set (0/1 mask over `fit`'s runs) refit the law to `n_resamples` resamples and predict at that
    mask's target inputs.

    A fit set with at least `CASE_RESAMPLING_RUNS_PER_COEFFICIENT` runs per coefficient is resampled run by run
    (with replacement), each draw's response perturbed by its run's measurement noise. Smaller ones would leave
    degenerate draws (six runs drawn for three coefficients often hold three distinct runs), so they are
    resampled by residuals: each run's response is the fit's prediction plus normal noise of the fit's residual
    variance SSE / (n - p) and the run's own measurement variance.

    A fit set that several forecasts share (a rolling backtest forecasts many targets from the same runs) is
    resampled once, in order of first appearance, and each of those forecasts predicts from the same refits.

    `target_inputs[b]` holds arrays of length n_resamples (one input value per resample). Returns
    (masks, n_resamples) predictions, NaN where a resample could not identify the law.
    """
    law = _law_class(fit)
    if law is not type(fit.law):
        raise OvertrainError(f"intervals are not available for the {fit.law.name} law")
    if fit.pool is not None and masks.all():
        return _resample_pooled(fit, len(masks), target_inputs, n_resamples, seed)
    first, which = distinct_rows(masks)  # each forecast's distinct fit set
    masks = masks[first]
    rng = np.random.default_rng(seed)
    n_masks, n_runs = masks.shape
    n_coefficients = type(fit.law).n_coefficients
    offset = getattr(fit.law, "chance_error", 0.0) if getattr(law, "offset", None) else 0.0
    noise = np.zeros(n_runs) if fit.noise is None else fit.noise
    weights = np.zeros((n_masks, n_resamples, n_runs))
    centre = np.broadcast_to(fit.observed, (n_masks, n_runs)).copy()
    spread = np.broadcast_to(noise, (n_masks, n_runs)).copy()
    units = fit.units  # a run and its checkpoints are one unit: count and draw units, not points
    n_units = (masks.sum(axis=1) if fit.n_points == fit.n_runs
               else np.array([len(np.unique(units[mask])) for mask in masks]))
    small = n_units < CASE_RESAMPLING_RUNS_PER_COEFFICIENT * n_coefficients
    if small.any():
        theta0, linear0, _ = solve_law(law, fit.inputs, np.broadcast_to(fit.observed - offset, (int(small.sum()),
                                       n_runs)), fit.objective, masks[small].astype(float))
        theta0, linear0 = np.atleast_2d(theta0), np.atleast_2d(linear0)
        ok = np.all(np.isfinite(theta0), axis=1)
        basis = law.basis(fit.inputs, np.where(ok[:, None], theta0, 1.0)[:, None, :])[:, 0]
        fitted = np.einsum("bnp,bp->bn", basis, np.where(ok[:, None], linear0, 0.0)) + offset
        residual = np.where(masks[small], fit.observed - fitted, 0.0)
        dof = np.maximum(masks[small].sum(axis=1) - n_coefficients, 1)
        variance = (residual**2).sum(axis=1) / dof
        centre[small] = np.where(ok[:, None], fitted, fit.observed)
        spread[small] = np.sqrt(variance[:, None] + noise**2)
    for b, mask in enumerate(masks):
        chosen = np.flatnonzero(mask)
        if small[b]:
            weights[b][:, chosen] = 1.0
        else:
            drawn, unit = np.unique(units[chosen], return_inverse=True)
            counts = rng.multinomial(len(drawn), np.full(len(drawn), 1 / len(drawn)), n_resamples)
            weights[b][:, chosen] = counts[:, unit]
    y = centre[:, None, :] + spread[:, None, :] * rng.standard_normal((n_masks, n_resamples, n_runs))
    theta, linear, _ = solve_law(law, fit.inputs, (y - offset).reshape(-1, n_runs), fit.objective,
                                 weights.reshape(-1, n_runs))
    theta, linear = theta.reshape(n_masks, n_resamples, -1), linear.reshape(n_masks, n_resamples, -1)
    predictions = np.empty((len(which), n_resamples))
    for b, u in enumerate(which):
        ok = np.all(np.isfinite(theta[u]), axis=1)
        safe = np.where(ok[:, None], theta[u], 1.0)
        basis = law.basis(target_inputs[b], safe)  # (R, R, p): every resample's law at every input
        values = np.einsum("rrp,rp->r", basis, np.where(ok[:, None], linear[u], 0.0)) + offset
        predictions[b] = np.where(ok, values, np.nan)
    return predictions


def _resample_pooled(fit: Fit, n_masks: int, target_inputs: list[tuple[np.ndarray, ...]], n_resamples: int,
                     seed: int) -> np.ndarray:
    """`resample_predictions` for a pooled fit on all its runs: every family's runs resampled within the family
    (run by run when it has at least `CASE_RESAMPLING_RUNS_PER_COEFFICIENT` per linear coefficient, else by
    residuals of the pooled fit), the pooled law refitted to each draw, this family's law predicted."""
    pool, law = fit.pool, type(fit.law)
    rng = np.random.default_rng(seed)
    n_linear = linear_count(law)
    groups = int(pool.group.max()) + 1
    theta0, linear0, _ = solve_pooled(law, pool.inputs, pool.group, pool.observed, np.ones(len(pool.observed)))
    basis = law.basis(pool.inputs, theta0[0])
    fitted = np.einsum("np,np->n", basis, linear0[0][pool.group])
    centre, spread = pool.observed.copy(), pool.noise.copy()
    weights = np.zeros((n_resamples, len(pool.observed)))
    for g in range(groups):
        rows = np.flatnonzero(pool.group == g)
        if len(rows) < CASE_RESAMPLING_RUNS_PER_COEFFICIENT * n_linear:
            residual = pool.observed[rows] - fitted[rows]
            dof = max(len(rows) - n_linear, 1)
            centre[rows] = fitted[rows]
            spread[rows] = np.sqrt(np.sum(residual**2) / dof + pool.noise[rows] ** 2)
            weights[:, rows] = 1.0
        else:
            weights[:, rows] = rng.multinomial(len(rows), np.full(len(rows), 1 / len(rows)), n_resamples)
    y = centre + spread * rng.standard_normal((n_resamples, len(pool.observed)))
    theta, linear, _ = solve_pooled(law, pool.inputs, pool.group, y, weights)
    mine = linear[:, pool.member]
    ok = np.all(np.isfinite(theta), axis=1) & np.all(np.isfinite(mine), axis=1)
    predictions = np.empty((n_masks, n_resamples))
    for b in range(n_masks):
        values = np.einsum("rrp,rp->r", law.basis(target_inputs[b], np.where(ok[:, None], theta, 1.0)),
                           np.where(ok[:, None], mine, 0.0))
        predictions[b] = np.where(ok, values, np.nan)
    return predictions


def centred_on_pooled(fit: Fit, samples: np.ndarray, params: float, tokens: float, prediction: float) -> np.ndarray:
    """Loss resamples of a pooled fit's family (`resample_predictions` refits the family's runs alone), moved on the
    interval scale from the family's own fit's forecast to the pooled `prediction`: the spread is the family's,
    the centre the pooled law's."""
    theta, linear, _ = solve_law(_law_class(fit), fit.inputs, fit.observed, fit.objective)
    if not np.all(np.isfinite(theta)):
        return samples
    own = float(_law_class(fit).from_solution(theta, linear).predict(params, tokens))
    return np.asarray(shift_on_scale("loss", samples, own, prediction), dtype=float)


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


def physical_bounds(quantity: str, samples: np.ndarray, level: float) -> tuple[float, float]:
    """`sample_bounds` moved inside what a run can measure: a fit part whose resampled laws run off (an error
    below 0 at the target) reaches the edge, not beyond."""
    low, high = physical(quantity, np.array(sample_bounds(samples, level)))
    return float(low), float(high)


def interval_bounds(
    prediction: np.ndarray, low: np.ndarray, high: np.ndarray, target_sigma: np.ndarray, extrapolation: np.ndarray,
    level: float, quantity: str = "loss", structural: np.ndarray | float = 0.0, fit_factor: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds of many forecasts at once (see the module notes): `low`, `high` are the resampled forecasts'
    range (NaN: no fit part), scaled by `fit_factor`; `target_sigma` the target's measurement noise in loss or error
    units; `extrapolation` a half-width and `structural` a standard deviation, both on the interval scale."""
    parts = _BoundParts.of(prediction, low, high, target_sigma, level, quantity, structural, fit_factor)
    return parts.at(extrapolation)


@dataclass(frozen=True)
class _BoundParts:
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
           quantity: str, structural: np.ndarray | float, fit_factor: float) -> _BoundParts:
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

    def at(self, extrapolation: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """The bounds with extrapolation half-width `extrapolation`: the parts added in quadrature, mapped back."""
        shared = self.noise + np.asarray(extrapolation) ** 2 + self.structural
        below, above = np.sqrt(self.fit_below + shared), np.sqrt(self.fit_above + shared)
        lower = np.minimum(from_scale(self.quantity, self.centre - below), self.prediction)
        upper = np.maximum(from_scale(self.quantity, self.centre + above), self.prediction)
        return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


def combine(prediction: float, low: float, high: float, target_sigma: float, extrapolation: float,
            level: float, quantity: str = "loss", structural: float = 0.0, fit_factor: float = 1.0) -> Interval:
    """The interval of one forecast (see `interval_bounds`)."""
    lower, upper = interval_bounds(np.array([prediction]), np.array([low]), np.array([high]),
                                   np.array([target_sigma]), np.array([extrapolation]), level, quantity,
                                   structural, fit_factor)
    return Interval(float(lower[0]), float(upper[0]), level)


@dataclass(frozen=True)
class IntervalParts:
    """What a forecast's interval is built from, all but the calibrated extrapolation part: the prediction, the
    fit part's range of resampled forecasts (NaN: none), the target's measurement noise (loss or error units), the
    structural spread (on the interval scale) and the compute distance the extrapolation part grows with; and the
    edges no bound passes (NaN: none beyond what a run can measure): `floor`, the loss law's irreducible loss E, and
    `ceiling`, what the target could not exceed (an error at chance, or what a smaller fit run already measured
    beyond its noise; see `trust.measured_ceiling`)."""

    quantity: str
    prediction: float
    fit_low: float
    fit_high: float
    sigma: float
    structural: float
    distance: float
    floor: float = float("nan")
    ceiling: float = float("nan")

    def interval(self, calibration: Calibration, level: float) -> Interval:
        """The interval at `level`, with the extrapolation half-width of `calibration`, kept within the floor and
        the ceiling."""
        width = fit_width(self.quantity, self.prediction, self.fit_low, self.fit_high)
        interval = combine(self.prediction, self.fit_low, self.fit_high, self.sigma,
                           float(calibration.half_width(self.quantity, self.distance, width)), level, self.quantity,
                           self.structural, calibration.fit_factor(self.quantity))
        low = max(interval.low, self.floor) if np.isfinite(self.floor) else interval.low
        high = min(interval.high, self.ceiling) if np.isfinite(self.ceiling) else interval.high
        return Interval(min(low, self.prediction), max(high, self.prediction), level)

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
        loss_fit, masks, [_target_inputs(loss_fit, f.params, f.tokens, np.zeros(n_resamples)) for f in forecasts],
        n_resamples, seed)
    if loss_fit.pooled and loss_fit.pool is None:  # a pooled fit read back from a law file
        loss_samples = np.array([centred_on_pooled(loss_fit, samples, f.params, f.tokens, f.loss)
                                 for samples, f in zip(loss_samples, forecasts, strict=True)])
    parts = [{"loss": IntervalParts("loss", f.loss, *physical_bounds("loss", samples, level),
                                    loss_target_noise(loss_fit, f.loss), spread.get("loss", 0.0),
                                    forecast_distance(f, distance))}
             for f, samples, spread in zip(forecasts, loss_samples, spreads, strict=True)]
    for fit in first.error_fits:
        if fit.task_set is None:
            continue
        name = fit.task_set.name
        bounds = [(float("nan"), float("nan"))] * n
        if _law_class(fit) is type(fit.law):
            inputs = [_target_inputs(fit, f.params, f.tokens, np.where(np.isfinite(samples), samples, f.loss))
                      for f, samples in zip(forecasts, loss_samples, strict=True)]
            samples = resample_predictions(fit, np.ones((n, fit.n_points), dtype=bool), inputs, n_resamples,
                                           seed + 1)
            bounds = [physical_bounds("error", row, level) for row in samples]
        counts = (examples or {}).get(name, np.array([]))
        for part, f, bound, spread in zip(parts, forecasts, bounds, spreads, strict=True):
            prediction = f.errors[name]
            part[name] = IntervalParts("error", prediction, *bound, error_target_noise(fit, prediction, counts),
                                       spread.get(name, 0.0), forecast_distance(f, distance))
    return parts


def forecast_intervals(
    forecast: Forecast, calibration: Calibration, *, level: float = 0.9, n_resamples: int = 400, seed: int = 0,
    examples: dict[str, np.ndarray] | None = None, structural: dict[str, float] | None = None,
) -> dict[str, Interval]:
    """Intervals for a forecast's loss and each task set's error (see `forecast_parts`)."""
    parts = forecast_parts(forecast, level=level, n_resamples=n_resamples, seed=seed, examples=examples,
                           structural=structural)
    return {name: part.interval(calibration, level) for name, part in parts.items()}


def evidence_frame(rows: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """Held-out forecasts of `quantity` with their interval parts (rows of `overtrain.testbed.load_suite_evidence`)
    as the columns `coverage` and `calibrate_interval` read."""
    rows = rows[rows["quantity"] == quantity]
    return pd.DataFrame({
        f"{quantity}_pred": rows["prediction"], f"{quantity}_true": rows["true"],
        f"{quantity}_fit_low": rows["fit_low"], f"{quantity}_fit_high": rows["fit_high"],
        f"{quantity}_sigma": rows["sigma"], f"{quantity}_struct": rows["structural"], "distance": rows["distance"],
    })


@dataclass(frozen=True)
class _Forecasts:
    """The columns of backtest forecasts of one quantity that their intervals are built from, as arrays."""

    prediction: np.ndarray
    fit_low: np.ndarray
    fit_high: np.ndarray
    sigma: np.ndarray
    growth: np.ndarray
    structural: np.ndarray
    truth: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, quantity: str, form: str) -> _Forecasts:
        structural = (np.nan_to_num(frame[f"{quantity}_struct"].to_numpy(dtype=float))
                      if f"{quantity}_struct" in frame else np.zeros(len(frame)))
        return cls(frame[f"{quantity}_pred"].to_numpy(dtype=float), frame[f"{quantity}_fit_low"].to_numpy(dtype=float),
                   frame[f"{quantity}_fit_high"].to_numpy(dtype=float),
                   np.nan_to_num(frame[f"{quantity}_sigma"].to_numpy(dtype=float)),
                   np.asarray(distance_growth(form, frame["distance"].to_numpy(dtype=float)), dtype=float),
                   structural, frame[f"{quantity}_true"].to_numpy(dtype=float))

    def parts(self, quantity: str, level: float, fit_factor: float) -> _BoundParts:
        return _BoundParts.of(self.prediction, self.fit_low, self.fit_high, self.sigma, level, quantity,
                              self.structural, fit_factor)

    def bounds(self, quantity: str, scale: float, level: float, fit_factor: float) -> tuple[np.ndarray, np.ndarray]:
        return self.parts(quantity, level, fit_factor).at(scale * self.growth)

    def inside(self, quantity: str, scale: float, level: float, fit_factor: float) -> np.ndarray:
        return self.inside_at(self.parts(quantity, level, fit_factor), scale)

    def inside_at(self, parts: _BoundParts, scale: float) -> np.ndarray:
        """Which forecasts' truths fall inside their intervals built from `parts` with extrapolation scale `scale`."""
        low, high = parts.at(scale * self.growth)
        return (low <= self.truth) & (self.truth <= high)


def coverage(frame: pd.DataFrame, quantity: str, scale: float, level: float, form: str = "log-distance",
             fit_factor: float = 1.0) -> np.ndarray:
    """Which backtest forecasts of `quantity` (loss or error) fall inside their intervals at `scale`."""
    return _Forecasts.of(frame, quantity, form).inside(quantity, scale, level, fit_factor)


def interval_score(low: np.ndarray, high: np.ndarray, truth: np.ndarray, level: float) -> np.ndarray:
    """The interval (Winkler) score of central `level` intervals: width, plus 2 / (1 - level) times the distance
    by which the truth falls outside. Lower is better; it rewards sharpness and punishes misses."""
    alpha = 1.0 - level
    low, high, truth = (np.asarray(v, dtype=float) for v in (low, high, truth))
    return (high - low) + 2.0 / alpha * (np.maximum(low - truth, 0.0) + np.maximum(truth - high, 0.0))


def calibrate_scale(frame: pd.DataFrame, quantity: str, level: float, form: str = "log-distance",
                    fit_factor: float = 1.0) -> float:
    """The smallest extrapolation scale for which `level` of the backtest intervals contain the truth
    (bisection: coverage only grows with the scale). Failed forecasts (NaN) are left out. With a `weight`
    column, coverage is the weighted share (e.g. two sources of evidence weighted equally)."""
    frame = frame[np.isfinite(frame[f"{quantity}_pred"])]
    if len(frame) == 0:
        return float("nan")
    weights = frame["weight"].to_numpy(dtype=float) if "weight" in frame else np.ones(len(frame))
    return _smallest_scale(_Forecasts.of(frame, quantity, form), weights, quantity, level, fit_factor)


def _smallest_scale(forecasts: _Forecasts, weights: np.ndarray, quantity: str, level: float, fit_factor: float
                    ) -> float:
    parts = forecasts.parts(quantity, level, fit_factor)

    def covered(scale: float) -> bool:
        return float(np.average(forecasts.inside_at(parts, scale), weights=weights)) >= level

    if covered(0.0):
        return 0.0
    low, high = 0.0, 0.05
    while not covered(high) and high < 64:
        low, high = high, high * 2
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (low, middle) if covered(middle) else (middle, high)
    return high


#: The fit part of an interval may be shrunk by one of these factors: a residual bootstrap of a few runs for as
#: many coefficients overstates how far the law can move, and the backtests say by how much.
FIT_FACTORS = (1.0, 0.5, 0.25, 0.0)


def calibrate_interval(frame: pd.DataFrame, quantity: str, level: float, form: str = "log-distance"
                       ) -> tuple[float, float]:
    """The extrapolation scale and fit-part factor of `quantity`'s intervals, the same width for every forecast at
    one distance (`calibrate_width` with power 0)."""
    scale, factor, _, _ = calibrate_width(frame, quantity, level, form)
    return scale, factor


def calibrate_width(frame: pd.DataFrame, quantity: str, level: float, form: str = "log-distance",
                    powers: tuple[float, ...] = (0.0,)) -> tuple[float, float, float, float]:
    """The extrapolation scale, fit-part factor, power and reference of `quantity`'s intervals: for each factor in
    `FIT_FACTORS` and power in `powers` (the half-width times (fit part / reference)^power, `adaptive_factor`, with
    the reference the forecasts' geometric mean fit part), the smallest scale that covers `level` of the forecasts
    in `frame`; of those, the one whose intervals have the lowest mean interval score relative to the truth
    (weighted by a `weight` column). Coverage is the constraint, sharpness and misses the choice. Ties keep the
    larger factor and the smaller power."""
    frame = frame[np.isfinite(frame[f"{quantity}_pred"])]
    if len(frame) == 0:
        return float("nan"), 1.0, 0.0, 1.0
    weights = frame["weight"].to_numpy(dtype=float) if "weight" in frame else np.ones(len(frame))
    forecasts = _Forecasts.of(frame, quantity, form)
    truth = forecasts.truth
    widths = np.asarray(fit_width(quantity, forecasts.prediction, forecasts.fit_low, forecasts.fit_high), dtype=float)
    known = np.isfinite(widths)
    reference = float(np.exp(np.mean(np.log(np.maximum(widths[known], MIN_FIT_WIDTH))))) if known.any() else 1.0
    best: tuple[float, float, float, float] | None = None
    for power in powers:
        adapted = dataclasses.replace(forecasts, growth=forecasts.growth * adaptive_factor(widths, power, reference))
        for factor in FIT_FACTORS:
            scale = _smallest_scale(adapted, weights, quantity, level, factor)
            low, high = adapted.bounds(quantity, scale, level, factor)
            score = float(np.average(interval_score(low, high, truth, level) / truth, weights=weights))
            if best is None or score < best[0] - 1e-12:
                best = (score, scale, factor, power)
    return best[1], best[2], best[3], reference if best[3] else 1.0
