"""Least-squares fitting by variable projection, batched: one law, many fits at once.

For a fixed exponent theta every law here is linear in its other coefficients, so the least-squares
objective profiled over them, S(theta) = min_c sum_i w_i (y_i - basis_i(theta) c)^2, is a function of one
variable. The engine evaluates S on the law's log-spaced theta grid (finding the global basin), then narrows
the bracket around the best grid point by golden-section search, polishes theta with Gauss-Newton steps on
the reduced problem (Kaufman's variable-projection step), and solves the linear coefficients exactly at the
final theta. Many fits share the inputs and differ in responses `y` and
weights `w` (bootstrap multiplicities, 0/1 subsets, robust re-weighting), so all run as array operations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitsets import FitSet, resolve_fit_set
from overtrain.laws import Law, law_family
from overtrain.runs import RunTable
from overtrain.tasks import TaskSet

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_REFINE_STEPS = 40
_POLISH_STEPS = 3
_CHUNK_ELEMENTS = 1 << 22


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
    and the other columns scaled to unit weighted norm, which keeps the normal equations well conditioned.
    Returns (coefficients (..., p), objective (...)); a design that cannot identify them gives inf objective.
    """
    total = w.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y_mean = (w * y).sum(axis=-1) / total
        x = basis[..., 1:]
        x_mean = (w[..., None] * x).sum(axis=-2) / total[..., None]
        xc = x - x_mean[..., None, :]
        yc = y - y_mean[..., None]
        scale = np.sqrt((w[..., None] * xc * xc).sum(axis=-2))
        z = xc / scale[..., None, :]
        rhs = (w[..., None] * z * yc[..., None]).sum(axis=-2)
        q = z.shape[-1]
        if q == 1:
            beta = rhs
            ok = scale[..., 0] > 0
        elif q == 2:
            rho = (w * z[..., 0] * z[..., 1]).sum(axis=-1)
            det = 1.0 - rho * rho
            beta = np.stack(((rhs[..., 0] - rho * rhs[..., 1]) / det, (rhs[..., 1] - rho * rhs[..., 0]) / det), -1)
            ok = (det > 1e-13) & np.all(scale > 0, axis=-1)
        else:
            gram = np.einsum("...ni,...n,...nj->...ij", z, w, z)
            ok = np.all(scale > 0, axis=-1) & (np.linalg.cond(gram) < 1e13)
            gram = np.where(ok[..., None, None], gram, np.eye(q))
            beta = np.linalg.solve(gram, rhs[..., None])[..., 0]
        residual = yc - (z * beta[..., None, :]).sum(axis=-1)
        sse = (w * residual * residual).sum(axis=-1)
        slopes = beta / scale
        intercept = y_mean - (x_mean * slopes).sum(axis=-1)
    ok &= np.isfinite(sse) & (total > 0)
    linear = np.concatenate((intercept[..., None], slopes), axis=-1)
    return np.where(ok[..., None], linear, np.nan), np.where(ok, sse, np.inf)


def _polish(
    law: type, inputs: tuple[np.ndarray, ...], y: np.ndarray, w: np.ndarray, log_theta: np.ndarray
) -> np.ndarray:
    """Gauss-Newton on log(theta) with the linear coefficients projected out; a step is kept only if it helps.

    With r the residual and J = d(basis @ c)/d log(theta) (central difference of the basis, which is exact
    to O(h^2)), J_perp = J minus its weighted projection on the basis columns, the step is
    (J_perp' W r) / (J_perp' W J_perp).
    """
    step_h = 1e-6
    for _ in range(_POLISH_STEPS):
        basis = law.basis(inputs, np.exp(log_theta))
        linear, sse = solve_linear(basis, y, w)
        residual = y - (basis @ linear[..., None])[..., 0]
        slope = (
            law.basis(inputs, np.exp(log_theta + step_h)) - law.basis(inputs, np.exp(log_theta - step_h))
        ) @ linear[..., None]
        slope = slope[..., 0] / (2 * step_h)
        projection, _ = solve_linear(basis, slope, w)
        perp = slope - (basis @ projection[..., None])[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (w * perp * residual).sum(axis=-1) / (w * perp * perp).sum(axis=-1)
        candidate = log_theta + np.where(np.isfinite(step), step, 0.0)
        _, candidate_sse = solve_linear(law.basis(inputs, np.exp(candidate)), y, w)
        log_theta = np.where(candidate_sse <= sse, candidate, log_theta)
    return log_theta


def fit_profile(
    law: type,
    inputs: tuple[np.ndarray, ...],
    y: np.ndarray,
    weights: np.ndarray | None = None,
    grid: np.ndarray | None = None,
) -> ProfileSolution:
    """Fit `law` by weighted least squares to each row of `y` (shape (n,) or (B, n)), sharing `inputs`.

    `weights` broadcast against `y` (default 1). Returns a ProfileSolution with leading shape (B,) (or ()
    for 1-D `y`). Fits whose design cannot identify the law come back as NaN with inf objective.
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    single = y.ndim == 1 and w.ndim == 1
    shape = np.broadcast_shapes(np.atleast_2d(y).shape, np.atleast_2d(w).shape)
    y2 = np.broadcast_to(y, shape)
    w2 = np.broadcast_to(w, shape)
    inputs = tuple(np.asarray(v, dtype=float) for v in inputs)
    log_grid = np.log(np.asarray(law.theta_grid if grid is None else grid, dtype=float))
    grid_basis = law.basis(inputs, np.exp(log_grid))  # (G, n, p)

    n_fits = y2.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // (grid_basis.size or 1))
    best = np.empty(n_fits, dtype=int)
    for start in range(0, n_fits, chunk):
        stop = min(start + chunk, n_fits)
        _, grid_sse = solve_linear(grid_basis[None], y2[start:stop, None, :], w2[start:stop, None, :])
        best[start:stop] = np.argmin(grid_sse, axis=1)

    last = len(log_grid) - 1
    lo = log_grid[np.maximum(best - 1, 0)]
    hi = log_grid[np.minimum(best + 1, last)]

    def objective(log_theta: np.ndarray) -> np.ndarray:
        return solve_linear(law.basis(inputs, np.exp(log_theta)), y2, w2)[1]

    # Golden-section search on each fit's bracket, all fits in step.
    x1 = hi - _GOLDEN * (hi - lo)
    x2 = lo + _GOLDEN * (hi - lo)
    f1, f2 = objective(x1), objective(x2)
    for _ in range(_REFINE_STEPS):
        left = f1 <= f2
        lo = np.where(left, lo, x1)
        hi = np.where(left, x2, hi)
        x1, x2 = np.where(left, hi - _GOLDEN * (hi - lo), x2), np.where(left, x1, lo + _GOLDEN * (hi - lo))
        probe = objective(np.where(left, x1, x2))
        f1, f2 = np.where(left, probe, f2), np.where(left, f1, probe)
    log_theta = _polish(law, inputs, y2, w2, 0.5 * (lo + hi))
    linear, sse = solve_linear(law.basis(inputs, np.exp(log_theta)), y2, w2)
    width = log_grid[1] - log_grid[0]
    at_bound = (log_theta - log_grid[0] < 1e-3 * width) | (log_grid[-1] - log_theta < 1e-3 * width)
    theta = np.where(np.isfinite(sse), np.exp(log_theta), np.nan)
    solution = ProfileSolution(theta, linear, sse, at_bound & np.isfinite(sse))
    if single:
        return ProfileSolution(theta[0], linear[0], sse[0], solution.at_bound[0])
    return solution


@dataclass(frozen=True)
class Fit:
    """An immutable fitted law with the data it was fitted to; describes itself with `summary`/`to_dict`."""

    kind: str
    law: Law
    family: str
    fit_set: str
    runs: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    observed: np.ndarray
    response: str
    loss_split: str
    task_set: TaskSet | None
    fit_flops: float
    at_bound: bool

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def predicted(self) -> np.ndarray:
        """The law's prediction for each fit run."""
        return np.asarray(self.law.predict(*self.inputs))

    @property
    def residuals(self) -> np.ndarray:
        """observed - predicted, per fit run."""
        return self.observed - self.predicted

    @property
    def sse(self) -> float:
        """The least-squares objective: sum of squared residuals."""
        return float(np.sum(self.residuals**2))

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(self.residuals**2)))

    def predict(self, *inputs: np.ndarray | float) -> np.ndarray | float:
        """The fitted law's prediction (loss laws take params, tokens; error laws take loss)."""
        return self.law.predict(*inputs)

    def summary(self) -> str:
        """A few lines a person can read: law, coefficients in both forms, fit set, residuals."""
        coefficients = "  ".join(f"{k}={v:.6g}" for k, v in self.law.coefficients().items())
        lines = [
            f"{self.kind} law '{self.law.name}': {self.law.formula}",
            f"  response {self.response} ({self.family}), fit set {self.fit_set!r}: {self.n_runs} runs,"
            f" {self.fit_flops:.3g} FLOPs",
            f"  coefficients: {coefficients}",
        ]
        if hasattr(self.law, "compute_form"):
            form = "  ".join(f"{k}={v:.6g}" for k, v in self.law.compute_form().items())
            lines.append(f"  compute form L(C, M) = E + (a·M^η + b·M^-η)·C^-η: {form}")
        lines.append(f"  residuals: rmse {self.rmse:.3g}, max |r| {np.max(np.abs(self.residuals)):.3g}")
        if self.at_bound:
            lines.append(f"  warning: {self.law.theta_name} is at the edge of its search range")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: law and coefficients, fit set, runs with residuals."""
        return {
            "kind": self.kind,
            **self.law.to_dict(),
            "family": self.family,
            "response": self.response,
            "loss_split": self.loss_split,
            "task_set": None
            if self.task_set is None
            else {"name": self.task_set.name, "tasks": list(self.task_set.tasks)},
            "fit_set": self.fit_set,
            "runs": list(self.runs),
            "fit_flops": self.fit_flops,
            "sse": self.sse,
            "rmse": self.rmse,
            "at_bound": self.at_bound,
            "data": {
                "runs": list(self.runs),
                **{name: values.tolist() for name, values in zip(self.law.inputs, self.inputs, strict=True)},
                "observed": self.observed.tolist(),
            },
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Fit:
        """Rebuild a Fit from `to_dict` output (e.g. a saved law file); predictions are identical."""
        try:
            law_class = law_family(document["law"], document["kind"])
            law = law_class(**{f.name: float(document[f.name]) for f in dataclasses.fields(law_class)})
            data = document["data"]
            inputs = tuple(np.array(data[name], dtype=float) for name in law_class.inputs)
            observed = np.array(data["observed"], dtype=float)
            task_set = document.get("task_set")
            for array in (*inputs, observed):
                array.flags.writeable = False
            return cls(
                kind=document["kind"], law=law, family=str(document["family"]), fit_set=str(document["fit_set"]),
                runs=tuple(str(r) for r in data["runs"]), inputs=inputs, observed=observed,
                response=str(document["response"]), loss_split=str(document["loss_split"]),
                task_set=None if task_set is None else TaskSet(task_set["name"], tuple(task_set["tasks"])),
                fit_flops=float(document["fit_flops"]), at_bound=bool(document["at_bound"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OvertrainError(f"not a saved {document.get('kind', '')} fit: bad or missing field {exc}") from None

    def __repr__(self) -> str:
        return f"Fit({self.kind}, {self.law!r}, {self.n_runs} runs of {self.family!r})"


def _fit_set_table(runs: RunTable, fit_set: str | FitSet | None, kind: str) -> tuple[RunTable, str]:
    chosen = runs if fit_set is None else runs.select(fit_set)
    name = "given runs" if fit_set is None else resolve_fit_set(fit_set).name
    if len(chosen) == 0:
        raise OvertrainError(f"{kind} fit set {name!r} selects no runs from {runs.source}")
    if len(chosen.families) > 1:
        raise OvertrainError(
            f"{kind} fit set {name!r} mixes families {', '.join(chosen.families)}; fit one family at a time"
        )
    return chosen, name


def _fit(
    kind: str, law: type, chosen: RunTable, inputs: tuple[np.ndarray, ...], observed: pd.Series, name: str,
    response: str, loss_split: str, task_set: TaskSet | None,
) -> Fit:
    if len(chosen) < law.n_coefficients:
        raise OvertrainError(
            f"{kind} fit set {name!r} has {len(chosen)} runs but the {law.name} law has {law.n_coefficients}"
            " coefficients; select more runs"
        )
    problem = law.design_problem(inputs)
    if problem is not None:
        raise OvertrainError(f"{kind} fit set {name!r} cannot identify the {law.name} law: it {problem}")
    y = observed.to_numpy(dtype=float)
    solution = fit_profile(law, inputs, y)
    if not np.isfinite(solution.sse):
        raise OvertrainError(f"{kind} fit set {name!r}: the {law.name} law could not be fitted (degenerate data)")
    for array in (*inputs, y):
        array.flags.writeable = False
    return Fit(
        kind=kind, law=law.from_solution(float(solution.theta), solution.linear), family=chosen.families[0],
        fit_set=name, runs=tuple(chosen.runs), inputs=inputs, observed=y, response=response,
        loss_split=loss_split, task_set=task_set, fit_flops=chosen.total_flops, at_bound=bool(solution.at_bound),
    )


def fit_loss(
    runs: RunTable, split: str = "c4_val", *, fit_set: str | FitSet | None = None, law: str | type = "shared-exponent"
) -> Fit:
    """Fit a loss law L(N, D) to the runs' loss on `split` (all given runs, or those `fit_set` selects)."""
    family = law_family(law, "loss")
    chosen, name = _fit_set_table(runs, fit_set, "loss")
    observed = chosen.loss(split)
    inputs = (chosen.params.copy(), chosen.tokens.copy())
    return _fit("loss", family, chosen, inputs, observed, name, f"loss:{split}", split, None)


def fit_error(
    runs: RunTable,
    loss_split: str = "c4_val",
    tasks: str | Sequence[str] | TaskSet = "17",
    *,
    fit_set: str | FitSet | None = None,
    law: str | type = "exponential",
) -> Fit:
    """Fit an error law Err(L) from measured loss on `loss_split` to average top-1 error over `tasks`."""
    family = law_family(law, "error")
    chosen, name = _fit_set_table(runs, fit_set, "error")
    task_set = chosen.task_set(tasks)
    observed = chosen.error(task_set)
    inputs = (chosen.loss(loss_split).to_numpy(dtype=float).copy(),)
    return _fit("error", family, chosen, inputs, observed, name, f"error:{task_set.name}", loss_split, task_set)
