"""Fit uncertainty by bootstrap over runs: refit the law to resampled fit sets, all resamples at once.

A resample draws the fit set's runs with replacement (never checkpoints of one run: a run is the unit), which
is the same as fitting with integer weights, so the batched engine solves every resample in one call.
Resamples whose design cannot identify the law (e.g. every draw from one model size) are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from overtrain.fitting import Fit
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
