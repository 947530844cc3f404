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
re-weighting, per-task responses.

Every choice between values of S (which grid point, which stencil point, whether the quadratic is convex) sees S in
steps of a tolerance far above rounding noise (`Tolerance`): values closer than that are equal, and ties
go to the first. Where S is flat along an exponent (the runs cannot tell its values apart) the fit then settles on
the same point on every machine, whatever BLAS kernel or thread count computed S.
Work is chunked over fits and over grid points, so memory stays bounded
however many fits or runs there are.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

_FIRST_SPACING = 1e-3
_LAST_SPACING = 1e-6
_MAX_STAGES = 24
_CHUNK_ELEMENTS = 1 << 20


def _quadratic_design(d: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """The 3^d neighbourhood offsets, the least-squares map from its values to quadratic coefficients
    (constant, gradient, then the second-order terms of `pairs`), and those pairs."""
    offsets = np.array(np.meshgrid(*[np.arange(-1, 2)] * d, indexing="ij")).reshape(d, -1).T
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    design = np.column_stack([np.ones(len(offsets)), offsets, *[offsets[:, i] * offsets[:, j] for i, j in pairs]])
    return offsets, np.linalg.pinv(design), pairs


_NEIGHBOURS, _QUADRATIC_FIT, _PAIRS = {}, {}, {}
for _d in (1, 2, 3):
    _NEIGHBOURS[_d], _QUADRATIC_FIT[_d], _PAIRS[_d] = _quadratic_design(_d)


@dataclass(frozen=True)
class ProfileSolution:
    """Solutions of a batch of fits: exponent, linear coefficients, objective, and whether at a grid edge."""

    theta: np.ndarray
    linear: np.ndarray
    sse: np.ndarray
    at_bound: np.ndarray


def solve_linear(
    basis: np.ndarray, y: np.ndarray, w: np.ndarray, intercept: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares for the linear coefficients, batched over leading axes.

    basis (..., n, p), with column 0 constant when `intercept`; y, w (..., n). The constant is eliminated by
    weighted centring and the normal equations of the other columns are scaled to unit diagonal, which keeps
    them well conditioned. Returns (coefficients (..., p), objective (...)); an unidentifiable design gives
    NaN and inf.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        total = w.sum(axis=-1)
        share = w / total[..., None]
        x = basis[..., 1:] if intercept else basis
        y_mean = (share * y).sum(axis=-1) if intercept else np.zeros(y.shape[:-1])
        x_mean = (share[..., None, :] @ x)[..., 0, :] if intercept else np.zeros((*x.shape[:-2], x.shape[-1]))
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
        constant = y_mean - (x_mean * slopes).sum(axis=-1)
    ok &= np.isfinite(sse) & (total > 0)
    linear = np.concatenate((constant[..., None], slopes), axis=-1) if intercept else slopes
    return np.where(ok[..., None], linear, np.nan), np.where(ok, sse, np.inf)


@dataclass(frozen=True)
class ScreenDesign:
    """What screening needs of a grid's basis, whatever the fits: its non-constant columns centred and scaled per
    grid point (q, G, n), and those columns with their pairwise products stacked for one matrix product."""

    x: np.ndarray
    columns: np.ndarray
    pairs: list[tuple[int, int]]
    intercept: bool


def screen_design(basis: np.ndarray, intercept: bool = True) -> ScreenDesign:
    """The fit-independent part of `screen_profile` for a grid's basis (G, n, p), computed once per grid."""
    x = np.ascontiguousarray((basis[..., 1:] if intercept else basis).transpose(2, 0, 1))  # (q, G, n)
    if intercept:
        x -= x.mean(axis=2, keepdims=True)
    spread = np.sqrt((x * x).mean(axis=2, keepdims=True))
    x = np.divide(x, spread, out=np.zeros_like(x), where=spread > 0)
    q, n_grid, n_runs = x.shape
    pairs = [(i, j) for i in range(q) for j in range(i, q)]
    columns = np.concatenate([x.reshape(q * n_grid, n_runs), *(x[i] * x[j] for i, j in pairs)], axis=0)
    return ScreenDesign(x, columns, pairs, intercept)


def screen_profile(basis: np.ndarray | ScreenDesign, y: np.ndarray, w: np.ndarray, intercept: bool = True
                   ) -> np.ndarray:
    """The profiled objective for every fit (rows of y, w: (B, n)) at every grid point (basis: (G, n, p), or its
    `screen_design`).

    Computed from weighted moments by matrix products, (B, n) @ (n, G), so it costs little even for
    thousands of fits; columns are centred and scaled per grid point first to limit cancellation. Precise
    enough to rank grid points, which is all it is used for, except where a fit's centring cancels most of a
    moment (its runs sit where a column barely varies): those points lose more than `_SCREEN_DIGITS_LOST` digits of
    the fit's total and come back NaN, for the exact objective to judge (`_best_grid_point`), as do negative values
    and points whose design the moments cannot tell from a singular one. Returns (B, G).
    """
    design = basis if isinstance(basis, ScreenDesign) else screen_design(basis, intercept)
    x, columns, pairs, intercept = design.x, design.columns, design.pairs, design.intercept
    q, n_grid = x.shape[:2]
    yc = y - y.mean(axis=1, keepdims=True) if intercept else y
    wy = w * yc
    # Without an intercept nothing is centred: an infinite weight total zeroes every mean-correction term.
    s0 = w.sum(axis=1)[:, None] if intercept else np.full((len(w), 1), np.inf)
    sy = wy.sum(axis=1)[:, None]
    syy = (wy * yc).sum(axis=1)[:, None]
    moments = w @ columns.T
    sxy = wy @ columns[: q * n_grid].T
    sx = [moments[:, k * n_grid : (k + 1) * n_grid] for k in range(q)]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cyy = syy - sy * sy / s0
        cxy = [sxy[:, k * n_grid : (k + 1) * n_grid] - sx[k] * sy / s0 for k in range(q)]
        # How many times larger than the centred moments the terms their centring subtracted are: digits lost.
        lost_xy = np.max([(np.abs(sxy[:, k * n_grid : (k + 1) * n_grid]) + np.abs(sx[k] * sy / s0)) / np.abs(cxy[k])
                          for k in range(q)], axis=0)
        raw = {(i, j): moments[:, (q + k) * n_grid : (q + k + 1) * n_grid] for k, (i, j) in enumerate(pairs)}
        c = {(i, j): raw[i, j] - sx[i] * sx[j] / s0 for i, j in pairs}
        lost_xx = np.max([raw[i, i] / np.abs(c[i, i]) for i in range(q)], axis=0)
        if q == 1:
            explained = cxy[0] * cxy[0] / c[0, 0]
            sse = cyy - explained
            ok = c[0, 0] > 1e-12 * w.sum(axis=1)[:, None]
            conditioning = 1.0
        elif q == 2:
            det = c[0, 0] * c[1, 1] - c[0, 1] * c[0, 1]
            explained = c[1, 1] * cxy[0] * cxy[0] - 2 * c[0, 1] * cxy[0] * cxy[1] + c[0, 0] * cxy[1] * cxy[1]
            explained = explained / det
            sse = cyy - explained
            conditioning = c[0, 0] * c[1, 1] / np.abs(det)
            ok = det > 1e-12 * c[0, 0] * c[1, 1]
        else:
            gram = np.empty((*cyy.shape[:1], n_grid, q, q))
            for (i, j), value in c.items():
                gram[..., i, j] = gram[..., j, i] = value
            conditioning = np.linalg.cond(gram)
            ok = conditioning < 1e12
            solved = np.linalg.solve(np.where(ok[..., None, None], gram, np.eye(q)), np.stack(cxy, -1)[..., None])
            explained = (np.stack(cxy, -1) * solved[..., 0]).sum(axis=-1)
            sse = cyy - explained
        # The objective's rounding error relative to the fit's total (the scale screening's tolerance is set in),
        # in units of machine precision: the explained part's moments' cancellation, amplified by the design's
        # conditioning. (An objective far below the total loses relative digits too, but not absolute ones: it is
        # near the lowest, where the exact objective judges anyway.)
        lost = 1.0 + np.abs(explained / cyy) * (2 * lost_xy + lost_xx * conditioning)
    # A negative objective is rounding's, and a design the moments call singular may only be one whose columns are
    # tiny where this fit's runs are: the exact objective judges both.
    unsure = ~(lost < 10.0**_SCREEN_DIGITS_LOST) | ~(sse >= 0) | ~ok
    return np.where(unsure, np.nan, sse)


#: A screened objective that cancellation has cost more digits than this is not trusted (`screen_profile`).
_SCREEN_DIGITS_LOST = 8


@dataclass(frozen=True)
class Tolerance:
    """The step in which the engine compares objective values of each fit: values closer than it are the same
    value, far above the rounding noise in them, so no choice turns on the last bits a BLAS kernel computes.

    `magnitude` is each fit's total weighted sum of squares of y, `spread` about its weighted mean (with an
    intercept; else the same) (B,). The noise of an objective S computed from residuals is about
    eps sqrt(S magnitude) plus eps^2 magnitude: the exact objective's step is 1e-13 sqrt(S magnitude), at least
    1e-22 magnitude. Screening from moments loses up to 10^`_SCREEN_DIGITS_LOST` eps of the spread: its step is
    1e-6 of the spread, at least 1e-12 of the magnitude. Never zero, so a constant response ties everywhere."""

    magnitude: np.ndarray
    spread: np.ndarray
    share: float
    floor: float
    spread_share: float

    @classmethod
    def of(cls, y: np.ndarray, w: np.ndarray, intercept: bool) -> Tolerance:
        """The exact objective's tolerance for fits of y, w (B, n) (`screening` gives screening's)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            magnitude = np.nan_to_num((w * y * y).sum(axis=1))
            total = w.sum(axis=1, keepdims=True)
            centre = (w * y).sum(axis=1, keepdims=True) / np.where(total > 0, total, 1.0) if intercept else 0.0
            spread = np.nan_to_num((w * (y - centre) ** 2).sum(axis=1))
        return cls(magnitude, spread, 1e-13, 1e-22, 0.0)

    def screening(self) -> Tolerance:
        """The same fits' tolerance for screening's objective (`screen_profile`)."""
        return dataclasses.replace(self, share=0.0, floor=1e-12, spread_share=1e-6)

    def rows(self, which: np.ndarray) -> Tolerance:
        return dataclasses.replace(self, magnitude=self.magnitude[which], spread=self.spread[which])

    def steps(self, sse: np.ndarray) -> np.ndarray:
        """Objective values (B, K) in whole steps above each fit's lowest: values within rounding noise of each
        other become equal (non-finite values are inf)."""
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            lowest = np.min(np.where(np.isfinite(sse), sse, np.inf), axis=1, keepdims=True)
            step = np.maximum(self.share * np.sqrt(np.maximum(np.nan_to_num(lowest, posinf=0.0), 0.0)
                                                   * self.magnitude[:, None]), self.floor * self.magnitude[:, None])
            step = np.maximum(np.maximum(step, self.spread_share * self.spread[:, None]), 1e-300)
            return np.where(np.isfinite(sse), np.round((sse - lowest) / step), np.inf)


def _quadratic_step(sse: np.ndarray, m: int, d: int, tolerance: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """From objective values on an m^d stencil (B, m^d), where to go next and whether the stencil may shrink.

    A quadratic is fitted to the 3^d neighbourhood of the best point. Where it is convex the step goes to its
    vertex; where not (a flat or curved valley), to a Levenberg-Marquardt damped descent step; steps are capped
    at four stencil units. The stencil may shrink when a convex vertex lies inside the neighbourhood, or when the
    stencil is flat (no value a step of `tolerance` from another: nothing left to tell apart), and then goes to the
    vertex of the values as they are where it lies inside the stencil. Which point is best, flatness and convexity
    are judged on the values in steps of `tolerance` (ties go to the first point), the step itself on the values as
    they are: what rounding moves is where inside a stencil the estimate ends, never which way it goes.
    Returns (next point in stencil units (B, d), what the stencil does next (B,):
    1 shrink, 0 keep its size, 2 grow (the step was capped: the minimum is further away)); where nothing usable
    is found, the best point.
    """
    steps = tolerance.steps(sse)
    flat = np.all(steps == 0, axis=1)
    best = np.array(np.unravel_index(np.argmin(steps, axis=1), (m,) * d)).T.astype(float)  # (B, d)
    centre = np.clip(best, 1, m - 2)
    convex = _LocalQuadratic.of(steps, centre, m, d).convex()
    raw = _LocalQuadratic.of(sse, centre, m, d)
    step, usable = raw.step(convex)
    # a flat stencil has found the minimum to within its size: the values as they are place it inside the stencil
    curved = raw.convex()
    polish, polishable = raw.step(curved)
    with np.errstate(invalid="ignore", divide="ignore"):
        longest = np.max(np.abs(step), axis=1)
        step = np.where((longest > 4)[:, None], step * (4 / longest)[:, None], step)
        inside = polishable & curved & (np.max(np.abs(polish), axis=1) <= 1)
    moves = usable & ~flat
    target = np.where(moves[:, None], centre + step, np.where((flat & inside)[:, None], centre + polish, best))
    return target, np.where(flat | (usable & convex & (longest <= 1)), 1, np.where(moves & (longest > 4), 2, 0))


@dataclass(frozen=True)
class _LocalQuadratic:
    """The quadratic through the 3^d neighbourhood of a stencil point, fitted once: its gradient (B, d), Hessian
    (B, d, d) and eigenvalues (B, d), and where they are finite (B,)."""

    gradient: np.ndarray
    hessian: np.ndarray
    eigenvalues: np.ndarray
    finite: np.ndarray

    @classmethod
    def of(cls, sse: np.ndarray, centre: np.ndarray, m: int, d: int) -> _LocalQuadratic:
        """Fitted to an m^d stencil's values (B, m^d) around `centre` (B, d) in stencil units."""
        rows = np.arange(len(sse))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if d == 1:
                f0, f1, f2 = (sse[rows, centre[:, 0].astype(int) + k] for k in (-1, 0, 1))
                curvature = f0 - 2 * f1 + f2
                return cls(0.5 * (f2 - f0)[:, None], curvature[:, None, None], curvature[:, None],
                           np.isfinite(curvature))
            index = np.ravel_multi_index(
                tuple((centre[:, None, :].astype(int) + _NEIGHBOURS[d][None]).transpose(2, 0, 1)), (m,) * d
            )
            values = sse[rows[:, None], index]
            coefficients = (values - values.min(axis=1, keepdims=True)) @ _QUADRATIC_FIT[d].T
            gradient = coefficients[:, 1 : 1 + d]
            hessian = np.zeros((len(sse), d, d))
            for k, (i, j) in enumerate(_PAIRS[d]):
                value = coefficients[:, 1 + d + k]
                hessian[:, i, j] = hessian[:, j, i] = 2 * value if i == j else value
            finite = np.all(np.isfinite(hessian), axis=(1, 2)) & np.all(np.isfinite(gradient), axis=1)
            hessian = np.where(finite[:, None, None], hessian, np.eye(d))
            return cls(gradient, hessian, np.linalg.eigvalsh(hessian), finite)

    def convex(self) -> np.ndarray:
        """Where the quadratic is convex (B,): a positive curvature; in 2+ dimensions, a smallest eigenvalue above
        1e-9 of the largest's size."""
        if self.gradient.shape[1] == 1:
            return self.eigenvalues[:, 0] > 0
        return self.finite & (self.eigenvalues[:, 0] > 1e-9 * np.abs(self.eigenvalues[:, -1]))

    def step(self, convex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The step in stencil units (B, d) and where it is usable (B,): to the vertex where `convex`; elsewhere in
        one dimension none, in more a Levenberg-Marquardt damped descent step."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.gradient.shape[1] == 1:
                step = -self.gradient / self.eigenvalues
                return step, convex & np.isfinite(step[:, 0])
            low, high = self.eigenvalues[:, 0], self.eigenvalues[:, -1]
            shift = np.where(convex, 0.0, np.abs(low) + 1e-3 * np.abs(high) + 1e-300)
            damped = self.hessian + shift[:, None, None] * np.eye(self.hessian.shape[1])
            step = -np.linalg.solve(damped, np.where(self.finite[:, None], self.gradient, 0.0)[..., None])[..., 0]
            return step, self.finite & np.all(np.isfinite(step), axis=1)


def _evaluate(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, w: np.ndarray, start: np.ndarray,
    spacing: np.ndarray, m: int, tolerance: Tolerance,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact objective on an m^d stencil from `start` (B, d) with `spacing` (B, d) in log(theta): the next
    estimate and what the stencil does next (see `_quadratic_step`: 1 shrink, 0 keep, 2 grow), or -1: the fit
    cannot be identified anywhere on the stencil (nothing left to refine)."""
    points = start[:, None, :] + spacing[:, None, :] * _stencil(m, start.shape[1])[None]
    _, sse = solve_linear(law.basis(inputs, np.exp(points)), y[:, None, :], w[:, None, :], law.intercept)
    target, shrink = _quadratic_step(sse, m, start.shape[1], tolerance)
    return start + spacing * target, np.where(np.isfinite(sse).any(axis=1), shrink, -1)


def _refine(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, w: np.ndarray, centre: np.ndarray, step: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """From the best grid point `centre` (B, d), the minimum of the exact objective in log(theta) within the grid's
    `bounds` (lowest, highest).

    A fine 9^d stencil across one grid step either side, then 3^d stencils around the running estimate, in
    the manner of a trust region: the stencil shrinks a hundredfold when the local quadratic's vertex lies
    inside it, doubles (up to a grid step) while the objective keeps falling further than a capped step reaches,
    and otherwise keeps its size while the estimate moves. A minimum past the grid's edge is met at the edge.
    Stops when every fit's spacing is below 1e-6 (or after a bounded number of stages): a gentle slope is
    followed to its end, not for as far as a fixed number of stages carries the estimate from where it started.
    """
    tolerance = Tolerance.of(y, w, law.intercept)
    spacing = np.broadcast_to(step / 4, centre.shape).copy()
    estimate, identified = _evaluate(law, inputs, y, w, centre - 4 * spacing, spacing, 9, tolerance)
    estimate = np.clip(estimate, *bounds)
    spacing = np.where((identified >= 0)[:, None], np.minimum(spacing, _FIRST_SPACING), 0.0)
    for _ in range(_MAX_STAGES):
        active = np.any(spacing > _LAST_SPACING, axis=1)
        if not active.any():
            break
        moved, shrink = _evaluate(law, inputs, y[active], w[active], estimate[active] - spacing[active],
                                  spacing[active], 3, tolerance.rows(active))
        estimate[active] = np.clip(moved, *bounds)
        grown = np.minimum(spacing[active] * 2.0, step)
        spacing[active] = np.where((shrink == 2)[:, None], grown, spacing[active] * np.where(
            shrink == 1, 0.01, np.where(shrink < 0, 0.0, 1.0))[:, None])
    return estimate


@functools.cache
def _stencil(m: int, d: int) -> np.ndarray:
    """The points of an m^d stencil in stencil units: (m^d, d), C order."""
    return np.array(np.meshgrid(*[np.arange(m)] * d, indexing="ij"), dtype=float).reshape(d, -1).T


@functools.cache
def _theta_grid(law: type) -> np.ndarray:
    """The product of the law's per-exponent grids, in log(theta): (G, d)."""
    axes = [np.log(np.asarray(g, dtype=float)) for g in law.theta_grids]
    return np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(axes), -1).T


def distinct_points(inputs: tuple[np.ndarray, ...], chosen: np.ndarray) -> np.ndarray:
    """How many distinct design points (rows of `inputs`) each fit's chosen runs hold: `chosen` (B, n) boolean.
    Replicates (runs at the same inputs) identify no more coefficients than one run there."""
    _, point = np.unique(np.column_stack(inputs), axis=0, return_inverse=True)
    point = np.asarray(point).reshape(-1)
    counts = np.empty(len(chosen), dtype=int)
    step = max(1, _CHUNK_ELEMENTS // max(1, chosen.shape[1]))
    for start in range(0, len(chosen), step):
        ids = np.sort(np.where(chosen[start : start + step], point, -1), axis=1)  # -1: not chosen, sorted first
        changes = np.diff(ids, axis=1) != 0
        # every change of id is a new point; the first is one more where no run is left out (no -1 before it)
        counts[start : start + step] = changes.sum(axis=1) + (ids[:, 0] >= 0)
    return counts


def _best_grid_point(law: type, inputs: tuple[np.ndarray, ...], grid: np.ndarray, screened: np.ndarray,
                     y: np.ndarray, w: np.ndarray, grid_basis: np.ndarray | None) -> np.ndarray:
    """Each fit's best grid point (B,): the exact objective stands in where screening could not be trusted (NaN),
    the values name the candidates, every point within screening's rounding noise of the lowest
    (`Tolerance`), and where there are several the exact objective chooses, in its own steps with ties to the
    first point. `grid_basis`: the law's basis on the whole grid (G, n, p), where it was small enough to keep."""
    unsure = np.isnan(screened)
    values = np.where(unsure, _exact_at(law, inputs, grid, unsure, y, w, grid_basis), screened)
    tolerance = Tolerance.of(y, w, law.intercept)
    near = tolerance.screening().steps(values) == 0
    several = near.sum(axis=1) > 1
    exact = np.where(unsure, values, _exact_at(law, inputs, grid, near & several[:, None] & ~unsure, y, w, grid_basis))
    chosen = np.argmin(tolerance.steps(np.where(near, exact, np.inf)), axis=1)
    return np.where(several, chosen, np.argmax(near, axis=1))


def _exact_at(law: type, inputs: tuple[np.ndarray, ...], grid: np.ndarray, where: np.ndarray, y: np.ndarray,
              w: np.ndarray, grid_basis: np.ndarray | None) -> np.ndarray:
    """The exact objective of each fit at the grid points `where` marks (B, G), one (fit, point) pair at a time in
    chunks; NaN elsewhere."""
    values = np.full(where.shape, np.nan)
    fits, points = np.nonzero(where)
    if not len(fits):
        return values
    n_runs, p = y.shape[1], law.basis(inputs, np.exp(grid[:1])).shape[-1]
    step = max(1, _CHUNK_ELEMENTS // (n_runs * p))
    for start in range(0, len(fits), step):
        fit, point = fits[start : start + step], points[start : start + step]
        basis = grid_basis[point] if grid_basis is not None else law.basis(inputs, np.exp(grid[point]))
        _, values[fit, point] = solve_linear(basis, y[fit], w[fit], law.intercept)
    return values


def fit_profile(
    law: type,
    inputs: tuple[np.ndarray, ...],
    y: np.ndarray,
    weights: np.ndarray | None = None,
) -> ProfileSolution:
    """Fit `law` by weighted least squares to each row of `y`, sharing `inputs`.

    `y` is (n,) or (B, n); `weights` broadcast against it (default 1). Returns a ProfileSolution whose theta
    has shape (B, d) (or (d,) when both are 1-D) for the law's d exponents. Fits the design cannot identify
    (including fewer weighted runs than coefficients) come back NaN with inf objective.

    Parameters
    ----------
    law : law class
        The law to fit: its exponents searched on its grid, its linear coefficients solved at each.
    inputs : tuple of ndarray
        The law's inputs for the n runs (params and tokens for a loss law), shared by every fit.
    y : ndarray
        The response, (n,) or (B, n) for B fits at once.
    weights : ndarray, optional
        Each run's weight, broadcast against `y` (default 1; 0 leaves a run out).

    Returns
    -------
    ProfileSolution
        `theta` (exponents), `linear` (coefficients), `sse` (weighted objective) and `at_bound`, per fit.
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    single = y.ndim == 1 and w.ndim == 1
    shape = np.broadcast_shapes(np.atleast_2d(y).shape, np.atleast_2d(w).shape)
    y2 = np.ascontiguousarray(np.broadcast_to(y, shape))
    w2 = np.ascontiguousarray(np.broadcast_to(w, shape))
    inputs = tuple(np.asarray(v, dtype=float) for v in inputs)
    grid = _theta_grid(law)
    n_grid, d = grid.shape
    steps = np.array([np.log(g[1] / g[0]) for g in law.theta_grids])
    n_fits, n_runs = shape
    p = law.basis(inputs, np.exp(grid[:1])).shape[-1]
    grid_step = max(1, _CHUNK_ELEMENTS // (n_runs * p))
    # A law may screen its own grid (a pooled law sums its groups' objectives): no full basis on the grid then.
    screen = law.screen
    grid_bases = [] if screen else [screen_design(law.basis(inputs, np.exp(grid[g : g + grid_step])), law.intercept)
                                    for g in range(0, n_grid, grid_step)]
    # Screening holds a grid's worth of moments per fit, refining a 9^d stencil's: each in chunks of its own size.
    screen_step = max(1, _CHUNK_ELEMENTS // (min(n_grid, grid_step) * n_runs * p))
    refine_step = max(1, _CHUNK_ELEMENTS // (9**d * n_runs * p))
    # With fewer distinct design points than coefficients (the exponents included) the optimum is not unique: the
    # objective is flat along the exponent, and where it settles would depend on rounding in the last bits. Such
    # fits are neither screened nor refined.
    identified = np.flatnonzero(distinct_points(inputs, w2 > 0) >= p + d)
    best = np.zeros(n_fits, dtype=int)
    # the exact objective re-judges some grid points (`_best_grid_point`): their basis is kept where it is small
    grid_basis = law.basis(inputs, np.exp(grid)) if n_grid * n_runs * p <= 4 * _CHUNK_ELEMENTS else None
    for start in range(0, len(identified), screen_step):
        part = identified[start : start + screen_step]
        yp, wp = y2[part], w2[part]
        screened = ([screen(inputs, yp, wp, np.exp(grid))] if screen else
                    [screen_profile(basis, yp, wp, law.intercept) for basis in grid_bases])
        best[part] = _best_grid_point(law, inputs, grid, np.concatenate(screened, axis=1), yp, wp, grid_basis)
    log_theta, linear, sse = grid[best], np.full((n_fits, p), np.nan), np.full(n_fits, np.inf)
    lowest, highest = grid.min(axis=0), grid.max(axis=0)
    for start in range(0, len(identified), refine_step):
        part = identified[start : start + refine_step]
        yp, wp = y2[part], w2[part]
        log_theta[part] = _refine(law, inputs, yp, wp, grid[best[part]], steps, (lowest, highest))
        linear[part], sse[part] = solve_linear(law.basis(inputs, np.exp(log_theta[part])), yp, wp, law.intercept)

    linear = np.where(np.isfinite(sse)[:, None], linear, np.nan)
    at_bound = np.any((log_theta - lowest < 1e-3 * steps) | (highest - log_theta < 1e-3 * steps), axis=1)
    at_bound &= np.isfinite(sse)
    theta = np.where(np.isfinite(sse)[:, None], np.exp(log_theta), np.nan)
    if single:
        return ProfileSolution(theta[0], linear[0], sse[0], at_bound[0])
    return ProfileSolution(theta, linear, sse, at_bound)
