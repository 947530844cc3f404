"""What chance bounds in an error law: each task's chance level and the most error it allows, tasks still at chance
on every fit run, the average error at chance, and the two-step law's per-task solves that respect them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting.solve import solve_law
from overtrain.laws import law_class
from overtrain.laws.loss import identifiable_form
from overtrain.runs.table import TASKLOSS, RunTable
from overtrain.runs.tasks import TaskSet

#: A task whose best fit run is less than this far above chance accuracy is at chance: it shows no trend.
AT_CHANCE = 0.02


def task_chance(runs: RunTable, task_set: TaskSet) -> np.ndarray:
    """Chance accuracy of each task of the set (NaN where the task table does not know it)."""
    chance = pd.to_numeric(runs.tasks["chance"].reindex(list(task_set.tasks)), errors="coerce")
    return chance.to_numpy(dtype=float)


def chance_ceilings(chance: np.ndarray) -> np.ndarray:
    """Each task's highest meaningful error, 1 - chance (1 where chance is unknown): above it is guessing badly."""
    return np.where(np.isfinite(chance), 1.0 - np.nan_to_num(chance), 1.0)


def task_bounds(task_errors: np.ndarray, chance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For per-task laws fitted to `task_errors` (tasks, runs): each task's ceiling 1 - chance (1 where chance is
    unknown), whether it is at chance on every run (flat), and its mean measured error."""
    ceiling = chance_ceilings(chance)
    best_accuracy = 1.0 - np.min(task_errors, axis=1)
    flat = np.isfinite(chance) & (best_accuracy - np.nan_to_num(chance) < AT_CHANCE)
    return ceiling, flat, np.mean(task_errors, axis=1)


def solve_two_step(
    params: np.ndarray, tokens: np.ndarray, task_losses: np.ndarray, task_errors: np.ndarray, chance: np.ndarray,
    tasks: tuple[str, ...], weights: np.ndarray,
) -> tuple[list, np.ndarray]:
    """The two-step law (`laws.TwoStepError`) fitted for each row of `weights` (B, points): step 1 the
    shared-exponent law to each task's loss `task_losses` (T, points) on the n = len(params) runs, step 2 each
    task's exponential law from its measured task loss to its error `task_errors` (T, points) on every point (the
    runs, then any checkpoints of them). Points without a task loss (NaN) weigh nothing. Returns the laws (None
    where a step cannot be fitted) and whether a non-flat task's exponent sits at a search bound (B,)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    n_fits, n_tasks = len(weights), len(task_losses)
    known = np.isfinite(task_losses)
    losses = np.where(known, task_losses, 1.0)
    step_weights = weights[:, None, :] * known[None]  # (B, T, points)
    loss_law, error_law = law_class("shared-exponent", "loss"), law_class("exponential", "error")
    loss_law, _ = identifiable_form(loss_law, (params, tokens))  # runs of one D, N or M: that term held out
    held = tuple(loss_law.unidentified)
    n_runs, n_points = len(params), losses.shape[1]
    stacked = np.broadcast_to(losses[:, :n_runs], (n_fits, n_tasks, n_runs)).reshape(-1, n_runs)
    theta1, linear1, bound1 = solve_law(loss_law, (params, tokens), stacked, "least-squares",
                                        step_weights[..., :n_runs].reshape(-1, n_runs))
    theta1, linear1 = theta1.reshape(n_fits, n_tasks, -1), linear1.reshape(n_fits, n_tasks, -1)
    if held:  # back to (E, A, B) with the held-out term at 0
        linear1 = np.insert(linear1, {"A": 1, "B": 2}[held[0]], 0.0, axis=-1)
    bounds = np.asarray(bound1, dtype=bool).reshape(n_fits, n_tasks)
    theta2, linear2 = np.empty((n_fits, n_tasks, 1)), np.empty((n_fits, n_tasks, 2))
    for t in range(n_tasks):
        theta, linear, bound = solve_law(error_law, (losses[t],),
                                         np.broadcast_to(task_errors[t], (n_fits, n_points)), "least-squares",
                                         step_weights[:, t])
        theta2[:, t], linear2[:, t] = np.atleast_2d(theta), np.atleast_2d(linear)
        bounds[:, t] |= np.asarray(bound, dtype=bool)
    laws, at_bound = [], np.zeros(n_fits, dtype=bool)
    for b in range(n_fits):
        if not (np.all(np.isfinite(theta1[b])) and np.all(np.isfinite(theta2[b]))):
            laws.append(None)
            continue
        ceiling, flat, flat_error = task_bounds(task_errors[:, :n_runs][:, weights[b, :n_runs] > 0], chance)
        laws.append(law_class("two-step", "error")(
            tasks=tasks, E=tuple(map(float, linear1[b, :, 0])), A=tuple(map(float, linear1[b, :, 1])),
            B=tuple(map(float, linear1[b, :, 2])), alpha=tuple(map(float, theta1[b, :, 0])),
            eps=tuple(map(float, linear2[b, :, 0])), k=tuple(map(float, linear2[b, :, 1])),
            gamma=tuple(map(float, theta2[b, :, 0])), ceiling=tuple(map(float, ceiling)),
            flat=tuple(map(float, flat)), flat_error=tuple(map(float, flat_error)), held_terms=held))
        at_bound[b] = bool(np.any(bounds[b][~flat]))
    return laws, at_bound


def task_losses(runs: RunTable, task_set: TaskSet, fit_set: str = "") -> np.ndarray:
    """Each task's loss (`taskloss:<task>`) on every run, (tasks, runs); a fit run without one is an error."""
    absent = [task for task in task_set.tasks if task not in runs.task_loss_names]
    if absent:
        raise OvertrainError(f"{runs.source}: the two-step error law needs a taskloss:<task> column for every task "
                             f"of the set; there is none for {len(absent)} of {len(task_set)} ({absent[0]!r}"
                             + (", ..." if len(absent) > 1 else "") + ")")
    values = np.array([runs.column(TASKLOSS + task) for task in task_set.tasks]).reshape(len(task_set), len(runs))
    missing = np.argwhere(~np.isfinite(values))
    if len(missing):
        task, run = missing[0]
        where = f"error fit set {fit_set!r}: " if fit_set else f"{runs.source}: "
        raise OvertrainError(f"{where}the two-step error law needs taskloss:{task_set.tasks[task]} on every fit run; "
                             f"run {runs.runs[run]!r} has none")
    return values


def chance_error(runs: RunTable, task_set: TaskSet) -> float:
    """Average top-1 error of random guessing over a task set: mean over tasks of (1 - chance accuracy)."""
    known = runs.tasks["chance"].reindex(list(task_set.tasks))
    if known.isna().any():
        raise OvertrainError(
            f"task {known.index[known.isna()][0]!r} has no chance accuracy; the sigmoid error law needs it "
            "(--task-info)"
        )
    return float(np.mean(1.0 - known.to_numpy(dtype=float)))
