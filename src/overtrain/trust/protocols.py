"""Backtest protocols: which cheaper runs forecast which target (each fit set a mask over a family's runs).

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

from collections.abc import Sequence

import numpy as np

from overtrain.errors import OvertrainError
from overtrain.fitting.method import Method
from overtrain.runs.fitsets import resolve_fit_set
from overtrain.runs.table import RunTable

DEFAULT_RATIOS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


PROTOCOLS = ("rolling", "size-ahead")


MIN_SMALLER_SIZES = 3


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


def protocol_masks(
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


def size_ahead_possible(runs: RunTable) -> bool:
    return any(len(np.unique(runs.family(f).params)) > MIN_SMALLER_SIZES for f in runs.families)
