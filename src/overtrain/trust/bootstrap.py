"""The fit part of an interval: the law refitted to resampled fit sets, every resample at once.

A resample draws the fit set's runs with replacement (a run's checkpoints come with it: a run is the unit), which
is the same as fitting with integer weights, so the batched engine solves every resample in one call.
Resamples whose design cannot identify the law (e.g. every draw from one model size) are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from overtrain.errors import OvertrainError
from overtrain.fitting.engine import fit_profile
from overtrain.fitting.fit import Fit
from overtrain.fitting.solve import distinct_rows, linear_count, solve_law, solve_pooled
from overtrain.quantities import Quantity, from_scale, physical, scale_slope, shift_on_scale, to_scale


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


def refitted_law(fit: Fit) -> type | None:
    """The law the engine refits when resampling `fit` (a per-task law's one task; None for laws it cannot)."""
    law = type(fit.law)
    return law.per_task if law.per_task is not None else (law if law.batched else None)


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
    law = refitted_law(fit)
    if law is not type(fit.law):
        raise OvertrainError(f"intervals are not available for the {fit.law.name} law")
    if fit.pooled_data is not None and masks.all():
        return _resample_pooled(fit, len(masks), target_inputs, n_resamples, seed)
    first, which = distinct_rows(masks)  # each forecast's distinct fit set
    masks = masks[first]
    rng = np.random.default_rng(seed)
    n_masks, n_runs = masks.shape
    n_coefficients = type(fit.law).n_coefficients
    offset = fit.law.chance_error if law.offset == "chance_error" else 0.0
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
    pool, law = fit.pooled_data, type(fit.law)
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
    theta, linear, _ = solve_law(refitted_law(fit), fit.inputs, fit.observed, fit.objective)
    if not np.all(np.isfinite(theta)):
        return samples
    own = float(refitted_law(fit).from_solution(theta, linear).predict(params, tokens))
    return np.asarray(shift_on_scale("loss", samples, own, prediction), dtype=float)


def target_inputs(fit: Fit, params: float, tokens: float, loss: np.ndarray) -> tuple[np.ndarray, ...]:
    known = {"params": np.full(len(loss), params), "tokens": np.full(len(loss), tokens),
             "multiplier": np.full(len(loss), tokens / params), "loss": loss}
    return tuple(known[name] for name in type(fit.law).inputs)


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


def fit_part_bounds(quantity: str, samples: np.ndarray, prediction: float, level: float) -> tuple[float, float]:
    """The fit part's range around `prediction`, as physical bounds. Loss: `physical_bounds`. Error: the resampled
    forecasts' reach below and above the prediction in error units, r, carried onto the logit scale at the
    prediction's slope (the delta method), bound = logistic(logit(m) -/+ r / (m (1 - m))). A resampled law that
    runs past 0 error at the target then widens the fit part by how far it runs, instead of pinning the bound at 0
    (a logit of -9 that says only "somewhere below"), so the fit part keeps its size and can be weighed."""
    if quantity == Quantity.LOSS:
        return physical_bounds(quantity, samples, level)
    low, high = sample_bounds(samples, level)
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(prediction)):
        return float("nan"), float("nan")
    centre = physical("error", prediction)
    slope = float(scale_slope("error", centre))
    below, above = max(centre - low, 0.0) * slope, max(high - centre, 0.0) * slope
    logit = float(to_scale("error", centre))
    return float(from_scale("error", logit - below)), float(from_scale("error", logit + above))
