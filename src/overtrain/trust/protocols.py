"""Backtest protocols: which cheaper runs forecast which target, and each family's backtest forecasts under a method.

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting.chance import chance_error, task_chance, task_losses
from overtrain.fitting.fit import ErrorResponses, error_inputs, fit_error, fit_loss, solve_error_laws
from overtrain.fitting.method import Method
from overtrain.fitting.solve import digest, solve_law, solve_pooled
from overtrain.laws import law_class
from overtrain.laws.loss import identifiable_form
from overtrain.runs.fitsets import resolve_fit_set
from overtrain.runs.table import RunTable
from overtrain.runs.tasks import TaskSet
from overtrain.scales import physical, shift_on_scale
from overtrain.trust.bootstrap import fit_part_bounds, resample_predictions, sample_bounds
from overtrain.trust.intervals import error_target_noise, loss_target_noise

DEFAULT_RATIOS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


PROTOCOLS = ("rolling", "size-ahead")


MIN_SMALLER_SIZES = 3


@dataclass(frozen=True)
class BacktestOptions:
    """How a backtest runs: its `protocol` (see the module notes), the compute `ratios` of the rolling protocol, and,
    with `n_resamples`, the fit part of each forecast's interval at `level` from fits to resampled fit sets (drawn
    with `seed`); with `structural`, each forecast also carries the member laws' forecasts and their spread
    (`overtrain.trust.backtest.with_structure`)."""

    protocol: str = "rolling"
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    level: float = 0.9
    n_resamples: int = 0
    seed: int = 0
    structural: bool = False


#: A backtest's forecasts alone; and the backtest intervals are calibrated on, every forecast with its fit part.
DEFAULT_BACKTEST, CALIBRATING = BacktestOptions(), BacktestOptions(n_resamples=64)


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
    options: BacktestOptions = DEFAULT_BACKTEST, loss_override: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Backtest one family under `method`: one row per (target, fit set). With `options.n_resamples`, also the fit
    part of each forecast's interval (`*_fit_low`, `*_fit_high`) and the target's measurement noise
    (`*_sigma`), from which `overtrain.trust.widths` calibrates intervals. `loss_override` gives the
    loss forecasts and at-bound flags instead of the family's own fits (a pooled fit's, `pooled_loss_forecasts`);
    the fit part then still comes from the family's own resampled fits."""
    loss_law, error_law = law_class(method.loss_law, "loss"), law_class(method.error_law, "error")
    loss_law = identifiable_form(loss_law, (runs.params, runs.tokens))[0]  # a sweep of one D, N or M: see fit_loss
    protocol, ratios, level, n_resamples, seed = (options.protocol, options.ratios, options.level, options.n_resamples,
                                                  options.seed)
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
    laws, error_bound = solve_error_laws(error_law, inputs, weights, ErrorResponses(
        errors=error, task_errors=1.0 - runs.accuracy_values(task_set).T,
        task_losses=task_losses(runs, task_set) if error_law.needs_task_loss else None,
        chance=task_chance(runs, task_set), tasks=task_set.tasks,
        chance_offset=chance_error(runs, task_set) if error_law.offset == "chance_error" else 0.0))
    known = {"params": runs.params[targets], "tokens": runs.tokens[targets], "multiplier": runs.multiplier[targets],
             "loss": loss_pred}
    error_pred = np.array([float(law.predict(*(known[n][b] for n in error_law.inputs))) if law is not None else np.nan
                           for b, law in enumerate(laws)])
    error_pred = physical("error", error_pred)
    frame["error_at_bound"] = np.asarray(error_bound, dtype=bool)
    frame["error_true"] = error[targets]
    frame["error_pred"] = error_pred
    if n_resamples and error_law.batched and loss_samples is not None:
        whole = fit_error(runs, loss_split, task_set, law=error_law, checkpoints=False)
        inputs_per_mask = []
        for b, t in enumerate(targets):
            losses = np.where(np.isfinite(loss_samples[b]), loss_samples[b], loss_pred[b])
            known = {"loss": losses, "params": np.full(n_resamples, runs.params[t]),
                     "tokens": np.full(n_resamples, runs.tokens[t]),
                     "multiplier": np.full(n_resamples, runs.multiplier[t])}
            inputs_per_mask.append(tuple(known[name] for name in error_law.inputs))
        samples = resample_predictions(whole, error_masks, inputs_per_mask, n_resamples, seed + 1)
        bounds = np.array([fit_part_bounds("error", row, p, level) for row, p in zip(samples, error_pred, strict=True)])
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
    forecast (`overtrain.fitting.solve.solve_pooled`); families whose runs cannot carry their own coefficients sit out.
    """
    loss_law, error_law = law_class(method.loss_law, "loss"), law_class(method.error_law, "error")
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


def size_ahead_possible(runs: RunTable) -> bool:
    return any(len(np.unique(runs.family(f).params)) > MIN_SMALLER_SIZES for f in runs.families)
