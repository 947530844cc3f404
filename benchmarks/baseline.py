"""The paper's fitting procedure, written here from its description: Levenberg-Marquardt from a 128-point grid
of starting points on all coefficients at once, keeping the lowest least-squares objective.

Starting grids (128 points each):
- loss law (E, A, B, alpha): E in {0.5, 2}, A and B in {1, 30, 300, 3000}, alpha in {0.1, 0.25, 0.5, 1};
- error law (eps, k, gamma): eps in {0.5, 0.9}, k in 8 values from 0.1 to 100, gamma in 8 values from 0.1 to 5.
Each start runs scipy's MINPACK Levenberg-Marquardt (`curve_fit(method="lm")`, default tolerances).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

LOSS_STARTS = list(itertools.product([0.5, 2.0], [1, 30, 300, 3000], [1, 30, 300, 3000], [0.1, 0.25, 0.5, 1.0]))
ERROR_STARTS = list(itertools.product([0.5, 0.9], np.geomspace(0.1, 100, 8), np.geomspace(0.1, 5, 8)))


def _loss_model(x: tuple[np.ndarray, np.ndarray], e: float, a: float, b: float, alpha: float) -> np.ndarray:
    params, tokens = x
    return e + a * params**-alpha + b * tokens**-alpha


def _error_model(loss: np.ndarray, eps: float, k: float, gamma: float) -> np.ndarray:
    return eps - k * np.exp(-gamma * loss)


def _multistart(model, x, y: np.ndarray, starts: list) -> tuple[np.ndarray, float]:
    best, best_p = np.inf, None
    for start in starts:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                p, _ = curve_fit(model, x, y, p0=start, method="lm")
            except (RuntimeError, ValueError):
                continue
            residual = model(x, *p) - y
        sse = float(residual @ residual)
        if np.isfinite(sse) and sse < best:
            best, best_p = sse, p
    return best_p, best


def fit_loss_multistart(params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, float]:
    """Best (E, A, B, alpha) over the 128 starts, and its objective."""
    return _multistart(_loss_model, (params, tokens), loss, LOSS_STARTS)


def fit_error_multistart(loss: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, float]:
    """Best (eps, k, gamma) over the 128 starts, and its objective."""
    return _multistart(_error_model, loss, error, ERROR_STARTS)
