"""Backtests of any method, the ensemble included: the member laws' backtest forecasts, their mean and spread.

The ensemble error "law" (`overtrain.laws.ENSEMBLE`) forecasts the mean, on the logit scale, of the plausible member
laws' forecasts; its fit part (resampling) is the exponential law's, moved to the mean."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting.method import PAPER_METHOD, Method, base_method
from overtrain.laws import ENSEMBLE
from overtrain.runs.table import RunTable
from overtrain.scales import from_scale, shift_on_scale, to_scale
from overtrain.trust.intervals import structural_spread
from overtrain.trust.protocols import (
    CALIBRATING,
    DEFAULT_BACKTEST,
    BacktestOptions,
    backtest_family,
    pooled_loss_forecasts,
)


def backtest(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", options: BacktestOptions = DEFAULT_BACKTEST,
) -> pd.DataFrame:
    """Backtest every family of `runs` under `method` as `options` say; one row per (target, fit set). The ensemble
    error law is backtested through its members (`calibration_backtest`)."""
    loss_split = loss_split or runs.default_split()
    if method.error_law == ENSEMBLE:
        if tasks is not None:
            return calibration_backtest(runs, method, loss_split=loss_split, tasks=tasks,
                                        options=dataclasses.replace(options, structural=False))
        method = base_method(method)
    tables = {family: runs.family(family).complete(loss_split, tasks) for family in runs.families}
    pooled = (pooled_loss_forecasts(tables, method, loss_split, options.protocol, options.ratios, tasks is not None)
              if method.loss_pooled else {})
    frames = [backtest_family(table, method, loss_split=loss_split,
                              task_set=None if tasks is None else table.task_set(tasks), options=options,
                              loss_override=pooled.get(family))
              for family, table in tables.items()]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise OvertrainError(f"{runs.source}: no fit set of cheaper runs can identify the laws; nothing to backtest")
    result = pd.concat(frames, ignore_index=True)
    result.attrs["method"] = method.label
    return result


#: The laws whose disagreement is the structural part of an interval: each fitted to the same fit sets as the
#: method's own law; a member whose exponent sits at a search bound there is not eligible.
LOSS_MEMBERS = (("shared-exponent", "least-squares"), ("chinchilla", "least-squares"))


ERROR_MEMBERS = ("exponential", "sigmoid", "per-task", "direct", "two-step")


_KEY = ["family", "run", "fit_flops"]


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
    options: BacktestOptions = DEFAULT_BACKTEST,
) -> pd.DataFrame:
    """`frame` (a backtest of `method`) with each member law's forecast (`loss_pred:<law>`, `error_pred:<law>`;
    NaN where the member is not eligible) and the spread of the plausible ones on the interval scale
    (`loss_struct`, `error_struct`; see `plausible_members`)."""
    frame = frame.copy()
    for quantity in ("loss", "error") if "error_pred" in frame else ("loss",):
        for name, member in member_methods(method, quantity).items():
            try:
                other = backtest(runs, base_method(member), loss_split=loss_split,
                                 tasks=tasks if quantity == "error" else None,
                                 options=BacktestOptions(options.protocol, options.ratios))
            except OvertrainError:
                continue
            # a fit whose exponent sits at a search bound is scored by its forecast like any other (the bound is
            # information about the fit, not a miss); how many did is kept beside it
            frame = frame.merge(other[_KEY].assign(**{
                f"{quantity}_pred:{name}": other[f"{quantity}_pred"],
                f"{quantity}_at_bound:{name}": other[f"{quantity}_at_bound"].astype(bool)}), on=_KEY, how="left")
        columns = [f"{quantity}_pred:{name}" for name in plausible_members(frame, quantity)]
        frame[f"{quantity}_struct"] = [structural_spread(quantity, row) for row in frame[columns].to_numpy()]
    return frame


#: A member law is plausible when its backtest error is at most this many times the best member's (or within
#: one percentage point of it): a law the runs' own backtests reject should not widen the interval.
PLAUSIBLE_RATIO = 1.5


def member_scores(frame: pd.DataFrame, quantity: str) -> dict[str, float]:
    """Each member law's backtest score (`<quantity>_pred:<law>` columns of `frame`): mean |relative error| over the
    forecasts, each capped at 100%, a fit that failed counting 100%. A fit whose exponent sits at a search bound is
    scored by its forecast: the bound says the fit's exponent is not pinned down, not that its forecast missed."""
    prefix = f"{quantity}_pred:"
    if f"{quantity}_true" not in frame:
        return {}
    truth = frame[f"{quantity}_true"].to_numpy(dtype=float)
    scores = {}
    for column in (c for c in frame.columns if c.startswith(prefix)):
        error = np.abs(frame[column].to_numpy(dtype=float) / truth - 1.0)
        scores[column[len(prefix):]] = float(np.mean(np.minimum(np.nan_to_num(error, nan=1.0), 1.0))) if len(
            error) else float("nan")
    return scores


def plausible_members(frame: pd.DataFrame, quantity: str) -> list[str]:
    """The member laws whose backtest forecasts are nearly as good as the best member's (`member_scores`): a score
    at most `PLAUSIBLE_RATIO` times the best's, or within one percentage point of it. The comparison is made in
    whole steps of 1e-9 so that it never turns on rounding; the laws keep `ERROR_MEMBERS`' order."""
    scores = member_scores(frame, quantity)
    finite = [v for v in scores.values() if np.isfinite(v)]
    if not finite:
        return []
    best = min(finite)
    limit = round(max(PLAUSIBLE_RATIO * best, best + 0.01), 9)
    return [name for name, v in scores.items() if np.isfinite(v) and round(v, 9) <= limit]


def calibration_backtest(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", options: BacktestOptions = CALIBRATING,
) -> pd.DataFrame:
    """The backtest intervals are calibrated on: `method` under `options.protocol` (the rolling protocol uses the
    method's laws on its own fit sets) with each forecast's fit part and, with `options.structural`, its member
    spread."""
    loss_split = loss_split or runs.default_split()
    protocol, structural = options.protocol, options.structural
    if protocol == "rolling":
        method = dataclasses.replace(method, loss_fit_set=None, error_fit_set=None)
    frame = backtest(runs, base_method(method), loss_split=loss_split, tasks=tasks, options=options)
    if structural or method.error_law == ENSEMBLE:
        frame = with_structure(frame, runs, method, loss_split=loss_split, tasks=tasks, options=options)
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
