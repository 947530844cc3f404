"""One law solved on many weightings of the same runs at once (fit sets, resamples, robust re-weighting, pooled
families), by the batched engine (`overtrain.fitting.engine.fit_profile`); recent solutions are remembered, since
backtests, calibrations and forecasts ask for the same ones."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from overtrain.errors import OvertrainError
from overtrain.fitting.engine import fit_profile
from overtrain.fitting.pooled import Pooled

OBJECTIVES = ("least-squares", "huber-log")


HUBER_DELTA = 1e-3


HUBER_ITERATIONS = 12


#: Recent solutions by a digest of their inputs: the choice of a method, the calibration backtest and the forecast
#: fit the same laws to the same runs many times over; a pure function's result is kept rather than recomputed.
_SOLVED: OrderedDict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()


_SOLVED_LIMIT = 512


def forget_solutions() -> None:
    """Drop the solutions `solve_law` keeps: what a benchmark timing first fits calls between runs."""
    _SOLVED.clear()


def digest(label: str, arrays: Sequence[np.ndarray | None]) -> bytes:
    """A short key for a computation on `arrays` (their shapes and bytes) described by `label`: what the kept
    results of pure functions are looked up by."""
    digest = hashlib.blake2b(label.encode(), digest_size=20)
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        array = np.ascontiguousarray(array, dtype=float)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.digest()


def solve_law(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, objective: str = "least-squares",
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponents, linear coefficients and at-bound flags of `law` fitted to y (n,) or each row of y (B, n),
    under `objective`, with optional weights (B, n) (0/1 masks select fit sets). A repeated call returns a copy
    of the result it computed before (bit for bit the same).

    `huber-log` (Hoffmann et al. 2022) minimises the Huber loss (delta 1e-3) of log residuals by iteratively
    re-weighted least squares: weights huber'(r)/r for log residual r, divided by the squared prediction so
    that a linear residual stands for a log one.
    """
    if objective not in OBJECTIVES:
        raise OvertrainError(f"unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    key = digest(f"{law!r}|{objective}", [*inputs, y, weights])
    if key in _SOLVED:
        _SOLVED.move_to_end(key)
        return _copied(_SOLVED[key])
    result = _solve_unique(law, inputs, y, objective, weights)
    _SOLVED[key] = _copied(result)
    if len(_SOLVED) > _SOLVED_LIMIT:
        _SOLVED.popitem(last=False)
    return result


def _copied(result: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(v.copy() if isinstance(v, np.ndarray) else v for v in result)  # type: ignore[return-value]


def _solve_unique(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, objective: str, weights: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_solve_law` on the distinct fits only: backtests ask for the same fit set (same responses and weights) for
    many targets, and each distinct fit is solved once."""
    if weights is None or np.ndim(weights) < 2:
        return _solve_law(law, inputs, y, objective, weights)
    w = np.asarray(weights, dtype=float)
    y2 = np.broadcast_to(np.asarray(y, dtype=float), np.broadcast_shapes(np.shape(y), w.shape))
    w = np.broadcast_to(w, y2.shape)
    first, pick = distinct_rows(np.concatenate([y2, w], axis=1))
    if len(first) == len(w):
        return _solve_law(law, inputs, y, objective, weights)
    theta, linear, at_bound = _solve_law(law, inputs, y2[first], objective, w[first])
    return theta[pick], linear[pick], np.asarray(at_bound)[pick]


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `rows` (B, n): the index of each one's first appearance, in order of appearance, and
    for every row which of them it is (rows == rows[first][which])."""
    rows = np.ascontiguousarray(rows)
    seen: dict[bytes, int] = {}
    first: list[int] = []
    which = np.empty(len(rows), dtype=np.intp)
    for i, row in enumerate(rows):  # by the rows' bytes: hashing, where sorting rows of thousands of runs is slow
        j = seen.setdefault(row.tobytes(), len(first))
        if j == len(first):
            first.append(i)
        which[i] = j
    return np.array(first, dtype=np.intp), which


def _solve_law(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, objective: str, weights: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    solution = fit_profile(law, inputs, y, weights)
    if objective == "least-squares":
        return solution.theta, solution.linear, solution.at_bound
    theta, linear = np.atleast_2d(solution.theta), np.atleast_2d(solution.linear)
    base = np.ones_like(np.atleast_2d(y)) if weights is None else np.atleast_2d(weights)
    y2 = np.broadcast_to(np.atleast_2d(y), np.broadcast_shapes(base.shape, np.atleast_2d(y).shape))
    base = np.broadcast_to(base, y2.shape)
    for _ in range(HUBER_ITERATIONS):
        ok = np.all(np.isfinite(theta), axis=1)
        safe_theta = np.where(ok[:, None], theta, np.exp(_grid_middle(law)))
        safe_linear = np.where(ok[:, None], linear, 0.0)
        predicted = np.einsum("bnp,bp->bn", law.basis(inputs, safe_theta[:, None, :])[:, 0], safe_linear)
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = np.log(y2) - np.log(predicted)
            robust = np.minimum(1.0, HUBER_DELTA / np.abs(residual)) / predicted**2
        robust = np.where(np.isfinite(robust) & ok[:, None], robust, 0.0) * base
        scale = robust.sum(axis=1, keepdims=True)
        robust = np.where(scale > 0, robust / np.where(scale > 0, scale, 1.0) * base.sum(axis=1, keepdims=True), base)
        solution = fit_profile(law, inputs, y2, robust)
        theta = np.where(ok[:, None], solution.theta, theta)
        linear = np.where(ok[:, None], solution.linear, linear)
    at_bound = np.atleast_1d(solution.at_bound)
    single = np.ndim(y) == 1 and (weights is None or np.ndim(weights) == 1)
    return (theta[0], linear[0], at_bound[0]) if single else (theta, linear, at_bound)


def _grid_middle(law: type) -> np.ndarray:
    """The middle of each exponent grid, in log(theta): a harmless stand-in for a failed fit."""
    return np.array([np.log(g[len(g) // 2]) for g in law.theta_grids])


def linear_count(law: type) -> int:
    """How many of a law's coefficients are linear (all but its exponents)."""
    return law.n_coefficients - len(law.theta_names)


def group_identifies(law: type, inputs: tuple[np.ndarray, ...], mask: np.ndarray) -> bool:
    """Whether the runs of `mask` can carry their own linear coefficients of `law` in a pooled fit: as many runs
    as linear coefficients, and a design that separates them (see the law's `design_problem`)."""
    return int(mask.sum()) >= linear_count(law) and law.design_problem(tuple(v[mask] for v in inputs)) is None


def solve_pooled(
    law: type, inputs: tuple[np.ndarray, ...], group: np.ndarray, y: np.ndarray, weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`law` fitted to several groups of runs at once (`laws.pooled.Pooled`), for each row of `weights` (B, n):
    shared exponents (B, d), each group's linear coefficients (B, G, p), and at-bound flags (B,).

    In each fit only the groups whose weighted runs identify their own coefficients (`group_identifies`) take
    part; the others get NaN coefficients. Fits with no such group come back NaN. `y` is (n,) or one row per fit.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    y = np.broadcast_to(np.asarray(y, dtype=float), weights.shape)
    group = np.asarray(group, dtype=int)
    n_groups = int(group.max()) + 1 if len(group) else 0
    n_linear = linear_count(law)
    theta = np.full((len(weights), len(law.theta_grids)), np.nan)
    linear = np.full((len(weights), n_groups, n_linear), np.nan)
    at_bound = np.zeros(len(weights), dtype=bool)
    active = np.zeros((len(weights), n_groups), dtype=bool)
    for pattern in np.unique(weights > 0, axis=0):  # a backtest repeats few distinct fit sets
        rows = np.all((weights > 0) == pattern, axis=1)
        active[rows] = [group_identifies(law, inputs, pattern & (group == g)) for g in range(n_groups)]
    for pattern in np.unique(active, axis=0):
        if not pattern.any():
            continue
        rows = np.flatnonzero(np.all(active == pattern, axis=1))
        members = np.flatnonzero(pattern)
        compact = np.full(n_groups, -1)
        compact[members] = np.arange(len(members))
        taking_part = compact[group] >= 0
        design = Pooled(law, len(members))
        pooled_inputs = (*inputs, np.maximum(compact[group], 0))
        w = weights[rows] * taking_part
        solved_theta, solved_linear, solved_bound = solve_law(design, pooled_inputs, y[rows], "least-squares", w)
        theta[rows] = solved_theta
        linear[np.ix_(rows, members)] = solved_linear.reshape(len(rows), len(members), n_linear)
        at_bound[rows] = solved_bound
    return theta, linear, at_bound
