"""Batched least squares by variable projection: one law, many fits at once, at the global optimum.

Every law here is linear in all coefficients but one exponent theta: prediction = basis(theta) @ c with
column 0 of the basis constant. The objective profiled over c,

    S(theta) = min_c sum_i w_i (y_i - basis_i(theta) c)^2,

is a function of one variable. For each fit the engine
1. screens S on the law's log-spaced theta grid, computing it from weighted moments with a few matrix
   products for all fits and grid points at once (this finds the global basin);
2. evaluates S exactly (centred, scaled normal equations) on a fine grid across the two grid steps around the
   best point, then on ever closer triples around the vertex of the parabola through the best three, each
   stage squaring the error; and solves c exactly at the final theta.
Fits share the inputs and differ in responses y and weights w: bootstrap multiplicities, 0/1 subsets, robust
re-weighting, per-task responses. Work is chunked over fits and over grid points, so memory stays bounded
however many fits or runs there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FINE = np.linspace(0.0, 1.0, 9)
_TRIPLE = np.array([-1.0, 0.0, 1.0])
_SPACINGS = (1e-4, 1e-6)
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class ProfileSolution:
    """Solutions of a batch of fits: exponent, linear coefficients, objective, and whether at a grid edge."""

    theta: np.ndarray
    linear: np.ndarray
    sse: np.ndarray
    at_bound: np.ndarray


def solve_linear(basis: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares for the linear coefficients, batched over leading axes.

    basis (..., n, p) with column 0 constant; y, w (..., n). The constant is eliminated by weighted centring
    and the normal equations of the other columns are scaled to unit diagonal, which keeps them well
    conditioned. Returns (coefficients (..., p), objective (...)); an unidentifiable design gives NaN and inf.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        total = w.sum(axis=-1)
        share = w / total[..., None]
        x = basis[..., 1:]
        y_mean = (share * y).sum(axis=-1)
        x_mean = (share[..., None, :] @ x)[..., 0, :]
        xc = x - x_mean[..., None, :]
        yc = y - y_mean[..., None]
        wxc_t = np.swapaxes(xc * w[..., None], -1, -2)
        gram = wxc_t @ xc
        rhs = (wxc_t @ yc[..., None])[..., 0]
        q = gram.shape[-1]
        scale = np.sqrt(np.diagonal(gram, axis1=-2, axis2=-1))
        r = rhs / scale
        if q == 1:
            beta = r
            ok = scale[..., 0] > 0
        elif q == 2:
            rho = gram[..., 0, 1] / (scale[..., 0] * scale[..., 1])
            det = 1.0 - rho * rho
            beta = np.stack(((r[..., 0] - rho * r[..., 1]) / det, (r[..., 1] - rho * r[..., 0]) / det), axis=-1)
            ok = (det > 1e-13) & (scale[..., 0] > 0) & (scale[..., 1] > 0)
        else:
            unit = gram / (scale[..., :, None] * scale[..., None, :])
            ok = np.all(scale > 0, axis=-1) & np.all(np.isfinite(unit), axis=(-2, -1))
            unit = np.where(ok[..., None, None], unit, np.eye(q))
            ok &= np.linalg.cond(unit) < 1e13
            beta = np.linalg.solve(unit, r[..., None])[..., 0]
        slopes = beta / scale
        residual = yc - (xc @ slopes[..., None])[..., 0]
        sse = (w * residual * residual).sum(axis=-1)
        intercept = y_mean - (x_mean * slopes).sum(axis=-1)
    ok &= np.isfinite(sse) & (total > 0)
    linear = np.concatenate((intercept[..., None], slopes), axis=-1)
    return np.where(ok[..., None], linear, np.nan), np.where(ok, sse, np.inf)


def screen_profile(basis: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The profiled objective for every fit (rows of y, w: (B, n)) at every grid point (basis: (G, n, p)).

    Computed from weighted moments by matrix products, (B, n) @ (n, G), so it costs little even for
    thousands of fits; columns are centred and scaled per grid point first to limit cancellation. Precise
    enough to rank grid points, which is all it is used for. Returns (B, G); unidentifiable points are inf.
    """
    x = np.ascontiguousarray(basis[..., 1:].transpose(2, 0, 1))  # (q, G, n)
    x -= x.mean(axis=2, keepdims=True)
    spread = np.sqrt((x * x).mean(axis=2, keepdims=True))
    x = np.divide(x, spread, out=np.zeros_like(x), where=spread > 0)
    q, n_grid, n_runs = x.shape
    yc = y - y.mean(axis=1, keepdims=True)
    wy = w * yc
    s0 = w.sum(axis=1)[:, None]
    sy = wy.sum(axis=1)[:, None]
    syy = (wy * yc).sum(axis=1)[:, None]
    pairs = [(i, j) for i in range(q) for j in range(i, q)]
    columns = np.concatenate([x.reshape(q * n_grid, n_runs), *(x[i] * x[j] for i, j in pairs)], axis=0)
    moments = w @ columns.T
    sxy = wy @ columns[: q * n_grid].T
    sx = [moments[:, k * n_grid : (k + 1) * n_grid] for k in range(q)]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cyy = syy - sy * sy / s0
        cxy = [sxy[:, k * n_grid : (k + 1) * n_grid] - sx[k] * sy / s0 for k in range(q)]
        c = {
            (i, j): moments[:, (q + k) * n_grid : (q + k + 1) * n_grid] - sx[i] * sx[j] / s0
            for k, (i, j) in enumerate(pairs)
        }
        if q == 1:
            sse = cyy - cxy[0] * cxy[0] / c[0, 0]
            ok = c[0, 0] > 1e-12 * s0
        elif q == 2:
            det = c[0, 0] * c[1, 1] - c[0, 1] * c[0, 1]
            explained = c[1, 1] * cxy[0] * cxy[0] - 2 * c[0, 1] * cxy[0] * cxy[1] + c[0, 0] * cxy[1] * cxy[1]
            sse = cyy - explained / det
            ok = det > 1e-12 * c[0, 0] * c[1, 1]
        else:
            gram = np.empty((*cyy.shape[:1], n_grid, q, q))
            for (i, j), value in c.items():
                gram[..., i, j] = gram[..., j, i] = value
            ok = np.linalg.cond(gram) < 1e12
            solved = np.linalg.solve(np.where(ok[..., None, None], gram, np.eye(q)), np.stack(cxy, -1)[..., None])
            sse = cyy - (np.stack(cxy, -1) * solved[..., 0]).sum(axis=-1)
    return np.where(ok & np.isfinite(sse), sse, np.inf)


def _parabola_step(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, w: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Exact objective at `points` (B, K) of log(theta); the vertex of the parabola through the best three.

    Falls back to the best point where the parabola is not convex or its vertex lies more than four spacings
    from the middle point.
    """
    _, sse = solve_linear(law.basis(inputs, np.exp(points)), y[:, None, :], w[:, None, :])
    rows = np.arange(len(points))
    best = np.argmin(sse, axis=1)
    k = np.clip(best, 1, points.shape[1] - 2)
    x0, x1, x2 = points[rows, k - 1], points[rows, k], points[rows, k + 1]
    f0, f1, f2 = sse[rows, k - 1], sse[rows, k], sse[rows, k + 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d0, d2 = x0 - x1, x2 - x1
        numerator = d0 * d0 * (f1 - f2) - d2 * d2 * (f1 - f0)
        denominator = d0 * (f1 - f2) - d2 * (f1 - f0)
        vertex = x1 + 0.5 * numerator / denominator
        convex = (f0 - f1) * d2 - (f2 - f1) * d0 > 0
    usable = np.isfinite(vertex) & convex & (vertex >= x1 + 4 * d0) & (vertex <= x1 + 4 * d2)
    return np.where(usable, vertex, points[rows, best])


def _refine(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Narrow each fit's bracket [lo, hi] of log(theta) to the minimum of the exact objective.

    A fine grid across the bracket, then parabolas through ever closer triples around the running estimate;
    each stage squares the relative error, so three reach the precision the objective itself allows.
    """
    estimate = _parabola_step(law, inputs, y, w, lo[:, None] + (hi - lo)[:, None] * _FINE)
    for spacing in _SPACINGS:
        estimate = _parabola_step(law, inputs, y, w, estimate[:, None] + spacing * _TRIPLE)
    return estimate


def fit_profile(
    law: type,
    inputs: tuple[np.ndarray, ...],
    y: np.ndarray,
    weights: np.ndarray | None = None,
    grid: np.ndarray | None = None,
) -> ProfileSolution:
    """Fit `law` by weighted least squares to each row of `y`, sharing `inputs`.

    `y` is (n,) or (B, n); `weights` broadcast against it (default 1). Returns a ProfileSolution with leading
    shape (B,), or scalars when both are 1-D. Fits the design cannot identify come back NaN with inf objective.
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    single = y.ndim == 1 and w.ndim == 1
    shape = np.broadcast_shapes(np.atleast_2d(y).shape, np.atleast_2d(w).shape)
    y2 = np.ascontiguousarray(np.broadcast_to(y, shape))
    w2 = np.ascontiguousarray(np.broadcast_to(w, shape))
    inputs = tuple(np.asarray(v, dtype=float) for v in inputs)
    log_grid = np.log(np.asarray(law.theta_grid if grid is None else grid, dtype=float))
    n_fits, n_runs = shape
    p = law.basis(inputs, np.exp(log_grid[:1])).shape[-1]
    grid_step = max(1, _CHUNK_ELEMENTS // (n_runs * p))
    grid_bases = [law.basis(inputs, np.exp(log_grid[g : g + grid_step])) for g in range(0, len(log_grid), grid_step)]
    last = len(log_grid) - 1
    fit_step = max(1, _CHUNK_ELEMENTS // (min(len(log_grid), grid_step) * n_runs * p))
    log_theta, linear, sse = np.empty(n_fits), np.empty((n_fits, p)), np.empty(n_fits)
    for start in range(0, n_fits, fit_step):
        part = slice(start, start + fit_step)
        yp, wp = y2[part], w2[part]
        best = np.argmin(np.concatenate([screen_profile(basis, yp, wp) for basis in grid_bases], axis=1), axis=1)
        lo, hi = log_grid[np.maximum(best - 1, 0)], log_grid[np.minimum(best + 1, last)]
        log_theta[part] = _refine(law, inputs, yp, wp, lo, hi)
        linear[part], sse[part] = solve_linear(law.basis(inputs, np.exp(log_theta[part])), yp, wp)

    # With fewer weighted runs than coefficients (the exponent included) the optimum is not unique.
    sse = np.where((w2 > 0).sum(axis=1) > p, sse, np.inf)
    linear = np.where(np.isfinite(sse)[:, None], linear, np.nan)
    width = log_grid[1] - log_grid[0]
    at_bound = ((log_theta - log_grid[0] < 1e-3 * width) | (log_grid[-1] - log_theta < 1e-3 * width)) & np.isfinite(sse)
    theta = np.where(np.isfinite(sse), np.exp(log_theta), np.nan)
    if single:
        return ProfileSolution(theta[0], linear[0], sse[0], at_bound[0])
    return ProfileSolution(theta, linear, sse, at_bound)
