"""Backtests: how far can a forecast be trusted at a given extrapolation distance, and which method forecasts best?

Two protocols, both forecasting every target from strictly cheaper runs of smaller models, from N and D alone
(two-stage: predicted loss -> error):

- rolling (per family, every run a target in turn): for each ratio r in `ratios`, the fit set is every run of a
  smaller model whose compute is at most C_target / r; each distinct fit set is used if it identifies the laws
  (at least 2 sizes and 2 multipliers). Many fit sets at many distances: this calibrates the intervals.
- size-ahead (the paper's recipe, scaled down): each model size with at least 3 smaller sizes is a target size.
  The loss law is fitted to the method's loss fit set as chosen from the smaller sizes only; the error law to
  its error fit set as chosen from runs no larger than the target and cheaper than it (as the paper's error fit
  uses the 1.4B M = 20 run to forecast over-trained 1.4B runs). This scores methods, fit sets included.

The extrapolation distance is C_target / C_fit, the paper's compute ratio, with C_fit the loss fit set's total
compute. Each fit set is a 0/1 weight mask over the family's runs, so all of a family's backtest fits of one law
are one batched call of the engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitsets import resolve_fit_set
from overtrain.fitting import (
    chance_error,
    digest,
    error_inputs,
    fit_error,
    fit_loss,
    fit_loss_pooled,
    solve_law,
    solve_pooled,
    solve_two_step,
    task_bounds,
    task_chance,
    task_losses,
)
from overtrain.laws import ENSEMBLE, law_family
from overtrain.laws.loss import identifiable_form
from overtrain.runs import RunTable
from overtrain.scales import from_scale, physical, shift_on_scale, to_scale
from overtrain.tasks import TaskSet
from overtrain.testbed import load_suite_choice
from overtrain.uncertainty import (
    Calibration,
    calibrate_interval,
    coverage,
    error_target_noise,
    loss_target_noise,
    resample_predictions,
    sample_bounds,
    structural_spread,
)

DEFAULT_RATIOS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


@dataclass(frozen=True)
class Method:
    """A forecasting method: a loss law and objective, an error law, and the fit set of each (None: every
    run the protocol allows); with `loss_pooled`, the loss law is fitted to every family at once, exponents
    shared (`fitting.fit_loss_pooled`)."""

    loss_law: str = "shared-exponent"
    loss_objective: str = "least-squares"
    error_law: str = "exponential"
    loss_fit_set: str | None = None
    error_fit_set: str | None = None
    loss_pooled: bool = False

    @property
    def label(self) -> str:
        objective = "" if self.loss_objective == "least-squares" else f" ({self.loss_objective})"
        objective += " pooled over families" if self.loss_pooled else ""
        loss_set = f" on {self.loss_fit_set}" if self.loss_fit_set else ""
        error_set = f" on {self.error_fit_set}" if self.error_fit_set else ""
        return f"{self.loss_law}{objective}{loss_set} + {self.error_law}{error_set}"


PAPER_METHOD = Method()
PROTOCOLS = ("rolling", "size-ahead")
MIN_SMALLER_SIZES = 3
# Chinchilla with the Huber objective is left out: twelve re-weighted two-exponent fits per fit set make it
# the one candidate that costs seconds rather than fractions of one.
CANDIDATE_LOSS = (("shared-exponent", "least-squares"), ("shared-exponent", "huber-log"),
                  ("chinchilla", "least-squares"))
#: The loss law offered pooled over families (one exponent, E, A, B per family) when the runs hold several.
POOLED_LOSS = "shared-exponent"
#: Error laws that need each task's own loss (`taskloss:<task>` columns); offered only to runs that carry them.
TASK_LOSS_LAWS = ("two-step",)
CANDIDATE_ERROR = ("exponential", "exponential+logM", "sigmoid", "per-task", "direct", "two-step", "ensemble")


def fit_set_masks(
    params: np.ndarray, flops: np.ndarray, ratios: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The protocol's fit sets: (target index (B,), mask (B, n), distance (B,)), duplicates removed."""
    targets, masks, distances = [], [], []
    ratios = np.asarray(ratios, dtype=float)
    for target in range(len(flops)):
        candidates = (params < params[target])[None, :] & (flops[None, :] <= (flops[target] / ratios)[:, None])
        seen: set[bytes] = set()
        for mask in candidates:
            key = mask.tobytes()
            if not mask.any() or key in seen:
                continue
            seen.add(key)
            targets.append(target)
            masks.append(mask)
            distances.append(flops[target] / flops[mask].sum())
    return (np.array(targets, dtype=int), np.array(masks, dtype=bool).reshape(len(masks), len(flops)),
            np.array(distances, dtype=float))


def size_ahead_masks(
    runs: RunTable, loss_fit_set: str, error_fit_set: str, min_smaller_sizes: int = MIN_SMALLER_SIZES
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The size-ahead protocol's fit sets: (target index (B,), loss mask (B, n), error mask (B, n), distance (B,))."""
    sizes = np.unique(runs.params)
    loss_spec, error_spec = resolve_fit_set(loss_fit_set), resolve_fit_set(error_fit_set)
    targets, loss_masks, error_masks, distances = [], [], [], []
    for size in sizes[min_smaller_sizes:]:
        smaller = runs.params < size
        loss_mask = np.zeros(len(runs), dtype=bool)
        loss_mask[smaller] = loss_spec.mask(runs.subset(smaller).columns)
        if not loss_mask.any():
            continue
        for target in np.flatnonzero(runs.params == size):
            available = (runs.params <= size) & (runs.flops < runs.flops[target])
            error_mask = np.zeros(len(runs), dtype=bool)
            error_mask[available] = error_spec.mask(runs.subset(available).columns)
            targets.append(target)
            loss_masks.append(loss_mask)
            error_masks.append(error_mask)
            distances.append(runs.flops[target] / runs.flops[loss_mask].sum())
    shape = (-1, len(runs))
    return (np.array(targets, dtype=int), np.array(loss_masks).reshape(shape), np.array(error_masks).reshape(shape),
            np.array(distances))


def multiplier_excursion(target: float, fit: np.ndarray) -> float:
    """How many decades the target's multiplier M lies outside the fit runs' range of M (0 inside it)."""
    return float(max(0.0, np.log10(target / np.max(fit)), np.log10(np.min(fit) / target)))


def distinct_per_mask(values: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """How many distinct `values` each row of `masks` (B, n) selects."""
    _, code = np.unique(values, return_inverse=True)
    member = np.zeros((len(values), int(code.max()) + 1 if len(values) else 0))
    member[np.arange(len(values)), np.ravel(code)] = 1.0
    return ((np.asarray(masks, dtype=float) @ member) > 0).sum(axis=1)


def _identifiable(runs: RunTable, masks: np.ndarray, n_coefficients: int, must_vary: tuple[str, ...]) -> np.ndarray:
    """Fit sets with enough runs that vary in each of `must_vary` (the loss law's: size, tokens and multiplier, or
    only the one a law holding a term out still sees)."""
    values = {"params": runs.params, "tokens": runs.tokens, "multiplier": np.round(np.log(runs.multiplier), 9)}
    keep = masks.sum(axis=1) >= n_coefficients
    for name in must_vary:
        keep &= distinct_per_mask(values[name], masks) >= 2
    return keep


def _predict(law_class: type, theta: np.ndarray, linear: np.ndarray, constants: dict, *inputs: float) -> float:
    if not np.all(np.isfinite(theta)):
        return float("nan")
    law = dataclasses.replace(law_class.from_solution(theta, linear), **constants)
    return float(law.predict(*inputs))


def _protocol_masks(
    runs: RunTable, method: Method, protocol: str, ratios: Sequence[float], loss_law: type, error_law: type,
    with_error: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Targets, loss masks, error masks and distances under `protocol`, unidentifiable fit sets dropped."""
    if protocol == "rolling":
        targets, masks, distances = fit_set_masks(runs.params, runs.flops, ratios)
        if method.loss_fit_set or method.error_fit_set:
            raise OvertrainError("the rolling protocol chooses its own fit sets; use size-ahead for a method's")
        error_masks = masks
        n_coefficients = max(loss_law.n_coefficients, error_law.n_coefficients if with_error else 0)
        keep = _identifiable(runs, masks, n_coefficients, loss_law.must_vary)
    elif protocol == "size-ahead":
        if not method.loss_fit_set:
            raise OvertrainError("the size-ahead protocol needs the method's loss fit set")
        targets, masks, error_masks, distances = size_ahead_masks(
            runs, method.loss_fit_set, method.error_fit_set or method.loss_fit_set)
        keep = _identifiable(runs, masks, loss_law.n_coefficients, loss_law.must_vary)
        if with_error and len(targets):
            keep &= error_masks.sum(axis=1) >= error_law.n_coefficients
    else:
        raise OvertrainError(f"unknown backtest protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    return targets[keep], masks[keep], error_masks[keep], distances[keep]


def backtest_family(
    runs: RunTable, method: Method, *, loss_split: str, task_set: TaskSet | None,
    ratios: Sequence[float] = DEFAULT_RATIOS, level: float = 0.9, n_resamples: int = 0, seed: int = 0,
    protocol: str = "rolling", loss_override: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Backtest one family under `method`: one row per (target, fit set). With `n_resamples`, also the fit
    part of each forecast's interval (`*_fit_low`, `*_fit_high`) and the target's measurement noise
    (`*_sigma`), from which `overtrain.uncertainty` builds and calibrates intervals. `loss_override` gives the
    loss forecasts and at-bound flags instead of the family's own fits (a pooled fit's, `pooled_loss_forecasts`);
    the fit part then still comes from the family's own resampled fits."""
    loss_law, error_law = law_family(method.loss_law, "loss"), law_family(method.error_law, "error")
    loss_law = identifiable_form(loss_law, (runs.params, runs.tokens))[0]  # a sweep of one D, N or M: see fit_loss
    targets, masks, error_masks, distances = _protocol_masks(
        runs, method, protocol, ratios, loss_law, error_law, task_set is not None)
    if len(targets) == 0:
        return pd.DataFrame()
    loss = runs.loss_values(loss_split)
    weights = masks.astype(float)
    own_pred = None
    if loss_override is None or n_resamples:
        theta, linear, loss_bound = solve_law(loss_law, (runs.params, runs.tokens), loss, method.loss_objective,
                                              weights)
        own_pred = np.array([_predict(loss_law, theta[b], linear[b], {}, runs.params[t], runs.tokens[t])
                             for b, t in enumerate(targets)])
        loss_pred = own_pred
    if loss_override is not None:
        loss_pred, loss_bound = loss_override
    loss_pred = physical("loss", loss_pred)
    frame = pd.DataFrame({
        "family": runs.families[0], "run": [runs.runs[t] for t in targets], "params": runs.params[targets],
        "tokens": runs.tokens[targets], "multiplier": runs.multiplier[targets], "flops": runs.flops[targets],
        "fit_runs": masks.sum(axis=1), "fit_sizes": distinct_per_mask(runs.params, masks),
        "m_excursion": [multiplier_excursion(runs.multiplier[t], runs.multiplier[m])
                        for t, m in zip(targets, masks, strict=True)],
        "error_fit_runs": error_masks.sum(axis=1), "fit_flops": weights @ runs.flops, "distance": distances,
        "reach": runs.flops[targets] / np.where(masks, runs.flops, 0.0).max(axis=1),
        "loss_true": loss[targets], "loss_pred": loss_pred, "loss_at_bound": np.asarray(loss_bound, dtype=bool),
    })
    frame["loss_rel_err"] = (frame["loss_pred"] - frame["loss_true"]) / frame["loss_true"]
    loss_samples = None
    if n_resamples:
        whole = fit_loss(runs, loss_split, law=loss_law, objective=method.loss_objective)
        loss_samples = resample_predictions(
            whole, masks, [(np.full(n_resamples, runs.params[t]), np.full(n_resamples, runs.tokens[t]))
                           for t in targets], n_resamples, seed)
        if loss_override is not None:  # the family's own spread, centred on the pooled forecast
            loss_samples = shift_on_scale("loss", loss_samples, own_pred[:, None], loss_pred[:, None])
        bounds = np.array([sample_bounds(row, level) for row in loss_samples])
        frame["loss_fit_low"], frame["loss_fit_high"] = bounds[:, 0], bounds[:, 1]
        frame["loss_sigma"] = [loss_target_noise(whole, p) if np.isfinite(p) else np.nan for p in loss_pred]
    if task_set is None:
        return frame
    error = runs.error_values(task_set)
    inputs = error_inputs(error_law, runs, loss_split)
    weights = error_masks.astype(float)
    if hasattr(error_law, "per_task"):
        per_task = 1.0 - runs.accuracy_values(task_set).T  # (T, n)
        n_tasks = len(per_task)
        theta_t, linear_t, bound_t = solve_law(error_law.per_task, inputs, np.repeat(per_task[None], len(masks), 0)
                                               .reshape(-1, len(runs)), "least-squares", np.repeat(weights, n_tasks, 0))
        theta_t, linear_t = theta_t.reshape(len(masks), n_tasks, -1), linear_t.reshape(len(masks), n_tasks, -1)
        bound_t = np.asarray(bound_t, dtype=bool).reshape(len(masks), n_tasks)
        chance = task_chance(runs, task_set)
        error_pred, error_bound = np.empty(len(masks)), np.zeros(len(masks), dtype=bool)
        for b in range(len(masks)):
            ceiling, flat, flat_error = task_bounds(per_task[:, error_masks[b]], chance)
            law = error_law(tasks=task_set.tasks, eps=tuple(linear_t[b, :, 0]), k=tuple(linear_t[b, :, 1]),
                            gamma=tuple(theta_t[b, :, 0]), ceiling=tuple(ceiling), flat=tuple(map(float, flat)),
                            flat_error=tuple(flat_error))
            error_pred[b] = law.predict(loss_pred[b])
            error_bound[b] = bool(np.any(bound_t[b][~flat]))
    elif getattr(error_law, "needs_task_loss", False):
        laws, error_bound = solve_two_step(
            runs.params, runs.tokens, task_losses(runs, task_set),
            1.0 - runs.accuracy_values(task_set).T, task_chance(runs, task_set), task_set.tasks, weights)
        error_pred = np.array([float(law.predict(runs.params[t], runs.tokens[t])) if law is not None else np.nan
                               for law, t in zip(laws, targets, strict=True)])
    else:
        constants = {}
        offset = 0.0
        if getattr(error_law, "offset", None) == "chance_error":
            offset = chance_error(runs, task_set)
            constants["chance_error"] = offset
        theta_e, linear_e, error_bound = solve_law(error_law, inputs, error - offset, "least-squares", weights)
        known = {"params": runs.params[targets], "tokens": runs.tokens[targets],
                 "multiplier": runs.multiplier[targets], "loss": loss_pred}
        error_pred = np.array([
            _predict(error_law, theta_e[b], linear_e[b], constants, *(known[n][b] for n in error_law.inputs))
            for b in range(len(masks))
        ])
    error_pred = physical("error", error_pred)
    frame["error_at_bound"] = np.asarray(error_bound, dtype=bool)
    frame["error_true"] = error[targets]
    frame["error_pred"] = error_pred
    if n_resamples and hasattr(error_law, "basis") and loss_samples is not None:
        whole = fit_error(runs, loss_split, task_set, law=error_law, checkpoints=False)
        inputs_per_mask = []
        for b, t in enumerate(targets):
            losses = np.where(np.isfinite(loss_samples[b]), loss_samples[b], loss_pred[b])
            known = {"loss": losses, "params": np.full(n_resamples, runs.params[t]),
                     "tokens": np.full(n_resamples, runs.tokens[t]),
                     "multiplier": np.full(n_resamples, runs.multiplier[t])}
            inputs_per_mask.append(tuple(known[name] for name in error_law.inputs))
        samples = resample_predictions(whole, error_masks, inputs_per_mask, n_resamples, seed + 1)
        bounds = np.array([sample_bounds(row, level) for row in samples])
        frame["error_fit_low"], frame["error_fit_high"] = bounds[:, 0], bounds[:, 1]
        examples = pd.to_numeric(runs.tasks["n_examples"].reindex(list(task_set.tasks)), errors="coerce")
        frame["error_sigma"] = [error_target_noise(whole, p, examples.to_numpy(dtype=float))
                                if np.isfinite(p) else np.nan for p in error_pred]
    frame["error_rel_err"] = (frame["error_pred"] - frame["error_true"]) / frame["error_true"]
    return frame


def pooled_loss_forecasts(
    tables: dict[str, RunTable], method: Method, loss_split: str, protocol: str, ratios: Sequence[float],
    with_error: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each family's backtest loss forecasts (and at-bound flags) from the loss law fitted to every family at once.

    For a forecast of family f's target from fit set S (the protocol's), each other family contributes the runs
    a team would have had then: smaller models than the target, no costlier than S's most expensive run, and
    under the size-ahead protocol only those the method's loss fit set selects. One batched pooled fit per
    forecast (`fitting.solve_pooled`); families whose runs cannot carry their own coefficients sit out.
    """
    loss_law, error_law = law_family(method.loss_law, "loss"), law_family(method.error_law, "error")
    names = list(tables)
    params = np.concatenate([tables[f].params for f in names])
    tokens = np.concatenate([tables[f].tokens for f in names])
    flops = np.concatenate([tables[f].flops for f in names])
    group = np.concatenate([np.full(len(tables[f]), g) for g, f in enumerate(names)])
    loss = np.concatenate([tables[f].loss_values(loss_split) for f in names])
    selected = np.ones(len(params), dtype=bool)
    if protocol == "size-ahead":
        spec = resolve_fit_set(method.loss_fit_set)
        selected = np.concatenate([spec.mask(tables[f].columns) for f in names])
    key = digest(repr((names, method.loss_law, method.loss_fit_set, error_law.n_coefficients, protocol,
                       tuple(ratios), with_error)), [params, tokens, flops, group, loss, selected])
    if key in _POOLED:
        return _POOLED[key]
    rows, places = [], []
    for g, name in enumerate(names):
        targets, masks, _, _ = _protocol_masks(tables[name], method, protocol, ratios, loss_law, error_law, with_error)
        for t, mask in zip(targets, masks, strict=True):
            available = (params < tables[name].params[t]) & (flops <= tables[name].flops[mask].max()) & selected
            weights = np.where(group == g, 0.0, available.astype(float))
            weights[group == g] = mask
            rows.append(weights)
            places.append((g, tables[name].params[t], tables[name].tokens[t]))
    predictions = {name: ([], []) for name in names}
    if rows:
        theta, linear, at_bound = solve_pooled(loss_law, (params, tokens), group, loss, np.array(rows))
        for b, (g, n, d) in enumerate(places):
            value = _predict(loss_law, theta[b], linear[b, g], {}, n, d) if np.all(np.isfinite(linear[b, g])) \
                else float("nan")
            predictions[names[g]][0].append(value)
            predictions[names[g]][1].append(bool(at_bound[b]))
    result = {name: (np.array(p, dtype=float), np.array(b, dtype=bool)) for name, (p, b) in predictions.items()}
    if len(_POOLED) >= 64:
        _POOLED.pop(next(iter(_POOLED)))
    _POOLED[key] = result
    return result


#: Recent pooled backtest forecasts: the member laws of an ensemble share the pooled loss law's.
_POOLED: dict[bytes, dict[str, tuple[np.ndarray, np.ndarray]]] = {}


def backtest(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", ratios: Sequence[float] = DEFAULT_RATIOS, level: float = 0.9,
    n_resamples: int = 0, seed: int = 0, protocol: str = "rolling",
) -> pd.DataFrame:
    """Backtest every family of `runs` under `method` and `protocol`; one row per (target, fit set). The ensemble
    error law is backtested through its members (`calibration_backtest`)."""
    loss_split = loss_split or runs.default_split()
    if method.error_law == ENSEMBLE:
        if tasks is not None:
            return calibration_backtest(runs, method, loss_split=loss_split, tasks=tasks, level=level,
                                        n_resamples=n_resamples, seed=seed, ratios=ratios, protocol=protocol,
                                        structural=False)
        method = base_method(method)
    frames = []
    tables = {family: runs.family(family).complete(loss_split, tasks) for family in runs.families}
    pooled = (pooled_loss_forecasts(tables, method, loss_split, protocol, ratios, tasks is not None)
              if method.loss_pooled else {})
    frames = [backtest_family(table, method, loss_split=loss_split,
                              task_set=None if tasks is None else table.task_set(tasks), ratios=ratios, level=level,
                              n_resamples=n_resamples, seed=seed, protocol=protocol, loss_override=pooled.get(family))
              for family, table in tables.items()]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise OvertrainError(f"{runs.source}: no fit set of cheaper runs can identify the laws; nothing to backtest")
    result = pd.concat(frames, ignore_index=True)
    result.attrs["method"] = method.label
    return result


def score(frame: pd.DataFrame, column: str, min_distance: float = 10.0) -> float:
    """Mean absolute relative error of `column` over predictions at least `min_distance` away; a failed or
    wild prediction (NaN, or off by more than 100%) counts as 100%."""
    far = frame[frame["distance"] >= min_distance][column].to_numpy(dtype=float)
    return float(np.mean(np.minimum(np.where(np.isfinite(far), np.abs(far), 1.0), 1.0))) if len(far) else np.nan


@dataclass(frozen=True)
class Selection:
    """The method chosen by backtest, and the evidence: every candidate's score."""

    method: Method
    protocol: str
    loss_scores: dict[str, float]
    error_scores: dict[str, float]
    min_distance: float
    forecasts: dict[str, int]
    ineligible: tuple[str, ...] = ()
    suite: str = ""

    def reason(self) -> str:
        where = f"at distance >= {self.min_distance:g} " if self.min_distance > 0 else ""
        skipped = (f"; not eligible: {', '.join(self.ineligible)}"
                   if self.ineligible else "")

        def scored(quantity: str, scores: dict[str, float]) -> str:
            count = self.forecasts.get(quantity, 0)
            if not count:
                return f"no {quantity} forecast {where}to score its {len(scores)} candidates by"
            return (f"mean |relative error| {where}over {count} {quantity} forecasts (candidates: "
                    + ", ".join(f"{k} {100 * v:.2f}%" for k, v in scores.items()) + ")")

        parts = [scored("loss", self.loss_scores)]
        if "error" in self.forecasts:
            parts.append(scored("error", self.error_scores))
        return (f"chose {self.method.label}: {self.protocol} backtest, {'; '.join(parts)}{skipped}"
                + (f"; {self.suite}" if self.suite else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method.label, "protocol": self.protocol, "min_distance": self.min_distance,
                "forecasts": self.forecasts, "loss_scores": self.loss_scores, "error_scores": self.error_scores,
                "ineligible": list(self.ineligible), "suite": self.suite, "reason": self.reason()}


TIE = 1e-4


def _capped_errors(values: np.ndarray) -> np.ndarray:
    """|relative error| per forecast as `score` counts it: a failed or wild forecast counts as 100%."""
    return np.minimum(np.where(np.isfinite(values), np.abs(values), 1.0), 1.0)


def _common_scores(
    frames: dict[str, pd.DataFrame], column: str, min_distance: float, protocol: str
) -> tuple[dict[str, float], int, list[str], dict[str, np.ndarray]]:
    """Each candidate's score over the forecasts of the first (the paper's) candidate: a target, and under the
    rolling protocol its fit set. A candidate that cannot make all of them is not scored (a law identifiable on
    fewer fit sets must not be judged on easier ones). Returns the scores, the count, the unscored, and each scored
    candidate's errors per forecast (same order for all, for paired comparisons)."""
    def keys(frame: pd.DataFrame) -> pd.Series:
        far = frame[frame["distance"] >= min_distance]
        if protocol == "size-ahead":
            return far["run"]
        return pd.Series([f"{run}@{flops!r}" for run, flops in zip(far["run"], far["fit_flops"].tolist(), strict=True)],
                         index=far.index, dtype=object)

    reference = sorted(set(keys(next(iter(frames.values())))))
    scores, partial, errors = {}, [], {}
    for key, frame in frames.items():
        mine = keys(frame)
        if not set(reference) <= set(mine):
            partial.append(f"{key} (cannot forecast every target)")
            continue
        far = frame[frame["distance"] >= min_distance]
        values = pd.Series(far[column].to_numpy(dtype=float), index=mine.to_numpy())
        values = values[~values.index.duplicated()].reindex(reference).to_numpy(dtype=float)
        errors[key] = _capped_errors(values)
        scores[key] = score(far[mine.isin(reference).to_numpy()], column, 0.0) if reference else float("nan")
    return scores, len(reference), partial, errors


def _best(scores: dict[str, float], preferred: Sequence[str] = ()) -> str:
    """The candidate with the lowest score; scores within `TIE` (0.01 percentage points) of the lowest tie, and
    ties go to the first tied candidate in `preferred`, else to the earliest candidate (the paper's choices come
    first). Five runs for four coefficients fit exactly under any objective, and their scores then differ only by
    rounding."""
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:
        return next(iter(scores))
    lowest = min(finite.values())
    tied = [k for k, v in finite.items() if v <= lowest + TIE]
    return next((k for k in preferred if k in tied), tied[0])


#: A candidate displaces the development suite's choice only when it beats it on the runs' own backtest by more
#: than this many standard errors of the paired difference in |relative error|.
SUITE_MARGIN = 2.0


def _choose(scores: dict[str, float], errors: dict[str, np.ndarray], preferred: Sequence[str]) -> tuple[str, str]:
    """The candidate to use and, when the development suite had a say, why.

    The suite's choice (the best-scoring of `preferred`) stands unless the runs' own best candidate beats it by
    more than `SUITE_MARGIN` standard errors of the paired per-forecast difference: a handful of backtest forecasts
    of one sweep is weaker evidence than held-out forecasts of other labs' runs, unless the gap is clear."""
    if not any(np.isfinite(v) for v in scores.values()):  # no backtest forecast to judge by
        pick = next((k for k in preferred if k in scores), next(iter(scores)))
        return pick, (f"without backtest evidence the development suite's choice {pick} stands" if pick in preferred
                      else f"without backtest evidence the first candidate, {pick}, stands")
    best = _best(scores, preferred)
    candidates = {k: scores[k] for k in preferred if k in scores and np.isfinite(scores[k])}
    if not candidates:
        return best, ""
    prior = _best(candidates)
    if best == prior:
        return best, f"{prior} is also the development suite's choice"
    difference = errors[prior] - errors[best]
    gain = float(np.mean(difference))
    spread = float(np.std(difference, ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else np.inf
    words = (f"{best} beats the development suite's choice {prior} by {100 * gain:.2f} points "
             f"(standard error {100 * spread:.2f} over {len(difference)} forecasts)")
    if gain > SUITE_MARGIN * spread:
        return best, words
    return prior, f"kept the development suite's choice {prior}: {words.replace(' beats', ' is ahead of', 1)}, " \
                  f"not by more than {SUITE_MARGIN:g} standard errors"


def suite_evidence(quantity: str) -> str:
    """What the development suite says about the `quantity` ("loss" or "error") law
    (`overtrain.testbed.load_suite_choice`), in words: the evidence the runs' own backtests must beat."""
    choice = (load_suite_choice() or {}).get(f"{quantity}_law")
    if not choice:
        return ""
    scores = ", ".join(f"{name} {100 * value:.1f}%" for name, value in choice["scores"].items())
    return (f"the development suite's {quantity} law is {choice['chosen']} (mean |relative error| of held-out "
            f"forecasts over {', '.join(choice['testbeds'])}: {scores})")


def suite_candidates(quantity: str, methods: dict[str, Method]) -> list[str]:
    """The candidates (keys of `methods`) that use the development suite's choice of `quantity` law."""
    choice = (load_suite_choice() or {}).get(f"{quantity}_law", {}).get("chosen")
    if choice is None:
        return []
    if quantity == "error":
        return [key for key, method in methods.items() if method.error_law == choice]
    return [key for key, method in methods.items() if _loss_label(method) == choice]


def _loss_label(method: Method) -> str:
    """A loss method's name without its fit set, as the suite's choice names it."""
    return f"{method.loss_law}/{method.loss_objective}" + (" pooled" if method.loss_pooled else "")


def _unsound(method: Method, runs: RunTable, loss_split: str, tasks: str | Sequence[str] | None,
             pool_runs: RunTable | None = None) -> str | None:
    """Why `method` is not eligible for forecasts from `runs`, or None: its laws must fit its own fit sets (every
    run, under the rolling protocol) of every family with no exponent at a search bound, since a law that only fits
    by running off its search range says nothing about the targets. (An ensemble leaves out members at a bound;
    its base law is checked; a pooled loss law is fitted to `pool_runs`.)"""
    method = base_method(method)
    if method.loss_pooled:
        try:
            pooled = fit_loss_pooled(pool_runs or runs, loss_split, fit_set=method.loss_fit_set, law=method.loss_law)
        except OvertrainError as error:
            return str(error)
        if any(fit.at_bound for fit in pooled.values()):
            return "an exponent at a search bound"
        method = dataclasses.replace(method, loss_pooled=False)
    for family in runs.families:
        table = runs.family(family)
        try:
            fits = [fit_loss(table, loss_split, fit_set=method.loss_fit_set, law=method.loss_law,
                             objective=method.loss_objective)]
            if tasks is not None:
                fits.append(fit_error(table, loss_split, tasks, fit_set=method.error_fit_set, law=method.error_law))
        except OvertrainError as error:
            return str(error)
        if any(fit.at_bound for fit in fits):
            return f"an exponent at a search bound ({family})"
    return None


def _candidate(name: str, fit_set: str | None) -> str:
    return f"{name} on {fit_set}" if fit_set else name


def size_ahead_possible(runs: RunTable) -> bool:
    return any(len(np.unique(runs.family(f).params)) > MIN_SMALLER_SIZES for f in runs.families)


def select_method(
    runs: RunTable, *, loss_split: str | None = None, tasks: str | Sequence[str] | None = "17",
    ratios: Sequence[float] = DEFAULT_RATIOS, min_distance: float | None = None,
    loss_fit_set: str | None = None, error_fit_set: str | None = None, forecast_runs: RunTable | None = None,
    pool_runs: RunTable | None = None, progress: Callable[[str], None] | None = None,
    error_laws: Sequence[str] = CANDIDATE_ERROR,
) -> Selection:
    """Pick the loss law, objective (and fit set) with the lowest backtest loss error, then, with that loss
    method, the error law (and fit set) with the lowest backtest error error. Ties keep the paper's choice. Where
    the development suite chose a law (`overtrain.testbed.load_suite_choice`), its candidates stand unless the
    runs' own backtest beats them clearly (`_choose`).

    Given the fit sets a forecast will use, and enough model sizes, the size-ahead protocol scores each
    candidate on the paper's recipe scaled down, the fit sets and their `+cheap` extensions included; otherwise
    the rolling protocol scores the laws at distances of at least 10x. With fit sets, a candidate whose laws
    hit a search bound on the fit sets of `forecast_runs` (default `runs`), the runs the forecast will be fitted
    to, is not eligible. Given `pool_runs` (runs of several families, those of `runs` among them), the shared-exponent
    law fitted to all of them at once (`fitting.fit_loss_pooled`) is a loss candidate too, backtested on them and
    scored on the targets of `runs`. `progress` hears each candidate as it is backtested; `error_laws` are the
    error-law candidates.
    """
    loss_split = loss_split or runs.default_split()
    say = progress or (lambda step: None)
    forecast_runs = runs if forecast_runs is None else forecast_runs
    protocol = "size-ahead" if loss_fit_set and size_ahead_possible(runs) else "rolling"
    if min_distance is None:
        min_distance = 0.0 if protocol == "size-ahead" else 10.0
    if protocol == "size-ahead":
        error_base = error_fit_set or loss_fit_set
        loss_sets: tuple[str | None, ...] = (loss_fit_set, f"{loss_fit_set}+cheap")
        error_sets: tuple[str | None, ...] = (error_base, f"{error_base}+cheap")
    else:
        loss_sets, error_sets = (None,), (None,)
    def run(candidates: dict[str, Method], quantity: str, stage_tasks: str | Sequence[str] | None) -> tuple[
        dict[str, float], dict[str, Method], int, list[str], dict[str, np.ndarray]
    ]:
        """Backtest each eligible candidate; scores on the common forecasts, the methods, their count, the
        ineligible, the errors per forecast."""
        frames, methods, ineligible = {}, {}, []
        for key, method in candidates.items():
            say(f"backtesting {key}")
            why = _unsound(method, forecast_runs, loss_split, stage_tasks, pool)
            if why is not None:
                ineligible.append(f"{key} ({why})")
                continue
            try:
                if method.loss_pooled:
                    frame = backtest(pool, method, loss_split=loss_split, tasks=stage_tasks, ratios=ratios,
                                     protocol=protocol)
                    frames[key] = frame[frame["family"].isin(runs.families)].reset_index(drop=True)
                else:
                    frames[key] = backtest(runs, method, loss_split=loss_split, tasks=stage_tasks, ratios=ratios,
                                           protocol=protocol)
            except OvertrainError as error:
                ineligible.append(f"{key} ({error})")
                continue
            methods[key] = method
        if not frames:
            return {}, {}, 0, ineligible, {}
        scores, count, partial, errors = _common_scores(frames, f"{quantity}_rel_err", min_distance, protocol)
        return scores, methods, count, ineligible + partial, errors

    pool = None if pool_runs is None else pool_runs.complete(loss_split)
    loss_candidates = {_candidate(f"{law}/{objective}", fit_set):
                       Method(law, objective, loss_fit_set=fit_set, error_fit_set=error_sets[0])
                       for law, objective in CANDIDATE_LOSS for fit_set in loss_sets}
    if pool is not None and len(pool.families) > 1:
        loss_candidates.update({_candidate(f"{POOLED_LOSS}/least-squares pooled", fit_set):
                                Method(POOLED_LOSS, loss_fit_set=fit_set, error_fit_set=error_sets[0], loss_pooled=True)
                                for fit_set in loss_sets})
    loss_scores, loss_methods, loss_count, ineligible, loss_errors = run(loss_candidates, "loss", None)
    if not loss_scores:
        reasons = list(dict.fromkeys(entry.partition(" (")[2][:-1] for entry in ineligible))
        why = reasons[0] if len(reasons) == 1 else "; ".join(ineligible)
        raise OvertrainError(f"no candidate method can be backtested on these runs: {why}")
    counts = {"loss": loss_count}
    key, loss_note = _choose(loss_scores, loss_errors, suite_candidates("loss", loss_methods))
    chosen = loss_methods[key]
    notes = [suite_evidence("loss"), loss_note]
    error_scores: dict[str, float] = {}
    if tasks is not None:
        error_scores, error_methods, counts["error"], skipped, errors = run(
            {_candidate(error_law, fit_set): dataclasses.replace(chosen, error_law=error_law, error_fit_set=fit_set)
             for error_law in error_laws for fit_set in error_sets
             if runs.task_loss_names or error_law not in TASK_LOSS_LAWS
             }, "error", tasks)
        ineligible += skipped
        if error_scores:
            key, error_note = _choose(error_scores, errors, suite_candidates("error", error_methods))
            chosen = error_methods[key]
            notes += [suite_evidence("error"), error_note]
    return Selection(chosen, protocol, loss_scores, error_scores, min_distance, counts, tuple(ineligible),
                     "; ".join(n for n in notes if n))


#: The laws whose disagreement is the structural part of an interval: each fitted to the same fit sets as the
#: method's own law; a member whose exponent sits at a search bound there is not eligible.
LOSS_MEMBERS = (("shared-exponent", "least-squares"), ("chinchilla", "least-squares"))
ERROR_MEMBERS = ("exponential", "sigmoid", "per-task", "direct", "two-step")
#: Fewer resembling backtest forecasts than this and the calibration falls back to every backtest forecast.
MIN_CALIBRATION_FORECASTS = 10
_KEY = ["family", "run", "fit_flops"]


# The ENSEMBLE error "law" (`overtrain.laws.ENSEMBLE`): its forecast is the mean, on the logit scale, of the plausible
# member laws' forecasts; its fit part (resampling) is the exponential law's, moved to the mean.


def base_method(method: Method) -> Method:
    """The method whose laws are fitted and resampled: an ensemble's base error law is the exponential."""
    return dataclasses.replace(method, error_law="exponential") if method.error_law == ENSEMBLE else method


def ensemble_mean(quantity: str, predictions: np.ndarray) -> np.ndarray:
    """The mean of several laws' forecasts (last axis; NaN: not eligible) on the interval scale, mapped back."""
    values = np.asarray(predictions, dtype=float)
    finite = np.isfinite(values)
    scaled = np.where(finite, to_scale(quantity, np.where(finite, values, 0.5)), 0.0)
    count = finite.sum(axis=-1)
    mean = np.where(count > 0, scaled.sum(axis=-1) / np.maximum(count, 1), np.nan)
    single = np.nansum(np.where(finite, values, 0.0), axis=-1)  # one law: its own forecast, not a round trip
    return np.where(count == 1, single, np.where(count > 0, from_scale(quantity, np.nan_to_num(mean)), np.nan))


def member_methods(method: Method, quantity: str) -> dict[str, Method]:
    """The method with each member law of `quantity` in place of its own (same fit sets, same loss law for error)."""
    if quantity == "loss":
        return {f"{law}/{objective}": dataclasses.replace(method, loss_law=law, loss_objective=objective)
                for law, objective in LOSS_MEMBERS}
    return {law: dataclasses.replace(method, error_law=law) for law in ERROR_MEMBERS}


def with_structure(
    frame: pd.DataFrame, runs: RunTable, method: Method, *, loss_split: str, tasks: str | Sequence[str] | None,
    ratios: Sequence[float] = DEFAULT_RATIOS, protocol: str = "rolling",
) -> pd.DataFrame:
    """`frame` (a backtest of `method`) with each member law's forecast (`loss_pred:<law>`, `error_pred:<law>`;
    NaN where the member is not eligible) and the spread of the plausible ones on the interval scale
    (`loss_struct`, `error_struct`; see `plausible_members`)."""
    frame = frame.copy()
    for quantity in ("loss", "error") if "error_pred" in frame else ("loss",):
        for name, member in member_methods(method, quantity).items():
            try:
                other = backtest(runs, base_method(member), loss_split=loss_split,
                                 tasks=tasks if quantity == "error" else None, ratios=ratios, protocol=protocol)
            except OvertrainError:
                continue
            values = other[f"{quantity}_pred"].where(~other[f"{quantity}_at_bound"].astype(bool))
            frame = frame.merge(other[_KEY].assign(**{f"{quantity}_pred:{name}": values}), on=_KEY, how="left")
        columns = [f"{quantity}_pred:{name}" for name in plausible_members(frame, quantity)]
        frame[f"{quantity}_struct"] = [structural_spread(quantity, row) for row in frame[columns].to_numpy()]
    return frame


#: A member law is plausible when its backtest error is at most this many times the best member's (or within
#: one percentage point of it): a law the runs' own backtests reject should not widen the interval.
PLAUSIBLE_RATIO = 1.5


def plausible_members(frame: pd.DataFrame, quantity: str) -> list[str]:
    """The member laws whose backtest forecasts (`<quantity>_pred:<law>` columns of `frame`) are nearly as good
    as the best member's: mean |relative error| over the forecasts all of them made, a failed one counting 100%."""
    prefix = f"{quantity}_pred:"
    columns = [c for c in frame.columns if c.startswith(prefix)]
    if not columns:
        return []
    truth = frame[f"{quantity}_true"].to_numpy(dtype=float)
    errors = {c[len(prefix):]: np.abs(frame[c].to_numpy(dtype=float) / truth - 1.0) for c in columns}
    scores = {name: float(np.mean(np.minimum(np.nan_to_num(e, nan=1.0), 1.0))) if len(e) else np.nan
              for name, e in errors.items()}
    finite = [v for v in scores.values() if np.isfinite(v)]
    if not finite:
        return []
    best = min(finite)
    return [name for name, v in scores.items() if v <= max(PLAUSIBLE_RATIO * best, best + 0.01)]


def resembling(frame: pd.DataFrame, fit_sizes: int, m_excursion: float, at_bound: bool = False) -> pd.DataFrame:
    """The backtest forecasts that resemble a forecast from `fit_sizes` model sizes at a target `m_excursion`
    decades outside the fit runs' M range: at least as many sizes (up to 3), M no further out than the forecast's
    or 2x, whichever is further, and, unless the forecast's own fit is `at_bound`, laws that fitted without an
    exponent at a search bound (such a forecast carries a warning and is not the one being made). All forecasts
    when fewer than `MIN_CALIBRATION_FORECASTS` qualify."""
    limit = max(m_excursion, np.log10(2.0)) + 1e-9
    keep = (frame["fit_sizes"] >= min(fit_sizes, MIN_SMALLER_SIZES)) & (frame["m_excursion"] <= limit)
    if not at_bound:
        for column in ("loss_at_bound", "error_at_bound"):
            if column in frame:
                keep &= ~frame[column].astype(bool)
    chosen = frame[keep]
    return chosen if len(chosen) >= MIN_CALIBRATION_FORECASTS else frame


def calibration_backtest(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", level: float = 0.9, n_resamples: int = 64, seed: int = 0,
    ratios: Sequence[float] = DEFAULT_RATIOS, protocol: str = "rolling", structural: bool = True,
) -> pd.DataFrame:
    """The backtest intervals are calibrated on: `method` under `protocol` (the rolling protocol uses the method's
    laws on its own fit sets) with each forecast's fit part and, with `structural`, its member spread."""
    loss_split = loss_split or runs.default_split()
    if protocol == "rolling":
        method = dataclasses.replace(method, loss_fit_set=None, error_fit_set=None)
    frame = backtest(runs, base_method(method), loss_split=loss_split, tasks=tasks, ratios=ratios, level=level,
                     n_resamples=n_resamples, seed=seed, protocol=protocol)
    if structural or method.error_law == ENSEMBLE:
        frame = with_structure(frame, runs, method, loss_split=loss_split, tasks=tasks, ratios=ratios,
                               protocol=protocol)
    if method.error_law == ENSEMBLE and "error_pred" in frame:
        columns = [f"error_pred:{name}" for name in plausible_members(frame, "error")]
        mean = ensemble_mean("error", frame[columns].to_numpy(dtype=float)) if columns else frame["error_pred"]
        mean = np.where(np.isfinite(mean), mean, frame["error_pred"])
        if "error_fit_low" in frame:
            for bound in ("error_fit_low", "error_fit_high"):
                frame[bound] = shift_on_scale("error", frame[bound].to_numpy(dtype=float),
                                              frame["error_pred"].to_numpy(dtype=float), mean)
        frame["error_pred"] = mean
        frame["error_rel_err"] = frame["error_pred"] / frame["error_true"] - 1
        if not structural:
            frame["error_struct"] = 0.0
    frame.attrs["source"] = f"{protocol} backtest of {runs.source} ({method.label})"
    return frame


def calibration_from(frame: pd.DataFrame, level: float, source: str, form: str = "log-distance") -> Calibration:
    """The extrapolation scales (and fit-part factors, see `uncertainty.calibrate_interval`) for which `level` of
    the backtest forecasts in `frame` hold the truth."""
    loss_scale, loss_factor = calibrate_interval(frame, "loss", level, form)
    error_scale, error_factor = (calibrate_interval(frame, "error", level, form) if "error_fit_low" in frame
                                 else (float("nan"), 1.0))
    return Calibration(loss_scale, error_scale, level, f"{source}: {len(frame)} forecasts", form, form,
                       loss_factor, error_factor)


def calibrate(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", level: float = 0.9, n_resamples: int = 64, seed: int = 0,
    ratios: Sequence[float] = DEFAULT_RATIOS, protocol: str = "rolling", structural: bool = True,
) -> tuple[Calibration, pd.DataFrame]:
    """Calibrate the extrapolation part of the intervals on every forecast of a backtest of `runs` (see
    `calibration_backtest`). Returns the calibration and the backtest."""
    loss_split = loss_split or runs.default_split()
    frame = calibration_backtest(runs, method, loss_split=loss_split, tasks=tasks, level=level,
                                 n_resamples=n_resamples, seed=seed, ratios=ratios, protocol=protocol,
                                 structural=structural)
    return calibration_from(frame, level, frame.attrs["source"]), frame


@dataclass(frozen=True)
class BacktestSummary:
    """A backtest with calibrated intervals: errors by distance, and how often intervals held the truth."""

    method: Method
    level: float
    frame: pd.DataFrame
    calibration: Calibration
    held_out_coverage: dict[str, float]
    protocol: str = "rolling"

    def by_distance(self) -> pd.DataFrame:
        """Per decade of extrapolation distance: forecasts, mean |relative error|, interval coverage."""
        decade = np.floor(np.log10(self.frame["distance"])).astype(int)
        columns = {"forecasts": ("run", "size"),
                   "loss_mean_abs_rel_err": ("loss_rel_err", lambda x: float(np.nanmean(np.abs(x))))}
        if "loss_inside" in self.frame:
            columns["loss_coverage"] = ("loss_inside", "mean")
        if "error_rel_err" in self.frame:
            columns["error_mean_abs_rel_err"] = ("error_rel_err", lambda x: float(np.nanmean(np.abs(x))))
        if "error_inside" in self.frame:
            columns["error_coverage"] = ("error_inside", "mean")
        table = self.frame.groupby(decade).agg(**columns)
        table.index = [f"{10.0**d:g}-{10.0 ** (d + 1):g}x" for d in table.index]
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method.label,
            "protocol": self.protocol,
            "level": self.level,
            "calibration": self.calibration.to_dict(),
            "coverage": {q: float(self.frame[f"{q}_inside"].mean()) for q in ("loss", "error")
                         if f"{q}_inside" in self.frame},
            "held_out_coverage": self.held_out_coverage,
            "by_distance": self.by_distance().reset_index(names="distance").to_dict(orient="records"),
            "forecasts": self.frame.replace({np.nan: None}).to_dict(orient="records"),
        }


def summarize_backtest(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", level: float = 0.9, n_resamples: int = 64, seed: int = 0,
    protocol: str = "rolling", progress: Callable[[str], None] | None = None, structural: bool = False,
) -> BacktestSummary:
    """Backtest, calibrate intervals on it, and mark which forecasts fall inside. With several families,
    `held_out_coverage` also calibrates on all families but one and checks coverage on the one left out.
    The intervals are built as a forecast's are by default: without the laws' disagreement unless `structural`
    (the development suite found that it widens intervals more than it helps them hold). `progress` hears each
    step."""
    loss_split = loss_split or runs.default_split()
    (progress or (lambda step: None))(f"backtesting ({protocol})")
    calibration, frame = calibrate(runs, method, loss_split=loss_split, tasks=tasks, level=level,
                                   n_resamples=n_resamples, seed=seed, protocol=protocol, structural=structural)
    frame = frame.copy()
    held_out: dict[str, float] = {}
    for quantity, scale in (("loss", calibration.loss_scale), ("error", calibration.error_scale)):
        if f"{quantity}_fit_low" not in frame:
            continue
        finite = np.isfinite(frame[f"{quantity}_pred"]).to_numpy()
        inside = np.zeros(len(frame), dtype=bool)
        inside[finite] = coverage(frame[finite], quantity, scale, level, calibration.form(quantity),
                                  calibration.fit_factor(quantity))
        frame[f"{quantity}_inside"] = inside
        families = frame["family"].unique()
        if len(families) > 1:
            hits = []
            for family in families:
                train = frame[finite & (frame["family"] != family).to_numpy()]
                test = frame[finite & (frame["family"] == family).to_numpy()]
                train_scale, train_factor = calibrate_interval(train, quantity, level, calibration.form(quantity))
                hits.extend(coverage(test, quantity, train_scale, level, calibration.form(quantity), train_factor))
            held_out[quantity] = float(np.mean(hits))
    return BacktestSummary(method, level, frame, calibration, held_out, protocol)
