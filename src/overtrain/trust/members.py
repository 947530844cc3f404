"""The ensemble's members: the laws whose forecasts are averaged (and whose disagreement is an interval's structural
part), and which of them join it on merit.

The ensemble error "law" (`overtrain.laws.ENSEMBLE`) forecasts the mean, on the logit scale, of the plausible member
laws' forecasts; its fit part (resampling) is the exponential law's, moved to the mean."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from overtrain.fitting.method import Method
from overtrain.quantities import Quantity, from_scale, to_scale

#: The laws whose disagreement is the structural part of an interval: each fitted to the same fit sets as the
#: method's own law; a member whose exponent sits at a search bound there is not eligible.
LOSS_MEMBERS = (("shared-exponent", "least-squares"), ("chinchilla", "least-squares"))


ERROR_MEMBERS = ("exponential", "sigmoid", "per-task", "direct", "two-step")


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
    if quantity == Quantity.LOSS:
        return {f"{law}/{objective}": dataclasses.replace(method, loss_law=law, loss_objective=objective)
                for law, objective in LOSS_MEMBERS}
    return {law: dataclasses.replace(method, error_law=law) for law in ERROR_MEMBERS}


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
