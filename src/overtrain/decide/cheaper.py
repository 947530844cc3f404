"""Which family reaches a target more cheaply at each inference volume, and the odds of it."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from overtrain.decide.comparison import Spread
from overtrain.decide.gaps import GapDrift, drift_with_runs, measure_gap_drift
from overtrain.decide.plan import FamilyPlan, Plan
from overtrain.decide.shared import last_seen
from overtrain.forecasts import FittedLaws
from overtrain.quantities import Quantity, to_scale
from overtrain.runs.table import RunTable
from overtrain.trust.calibration import Calibration
from overtrain.trust.intervals import IntervalParts


def cost_elasticity(laws: FittedLaws, plan: Plan, key: str) -> float:
    """d (interval-scale value) / d log C at the plan, along its multiplier: how far the forecast moves per
    e-fold of training compute (negative: more compute, lower loss or error)."""
    quantity = Quantity.of(key)
    step = 0.05
    values = []
    for factor in (np.exp(-step), np.exp(step)):
        params = plan.params * np.sqrt(factor)
        forecast = laws.point_forecast(params, multiplier=plan.multiplier)
        values.append(float(to_scale(quantity, forecast.loss if key == Quantity.LOSS else forecast.errors[key])))
    return (values[1] - values[0]) / (2 * step)


def cheaper(first: tuple[Plan, Spread, float, float], second: tuple[Plan, Spread, float, float]) -> float:
    """P(the first family reaches the target with less compute than the second), each given as (plan, spread of
    its forecast at the plan, cost elasticity, its share of the pair's gap drift: `GapDrift.variance` / 2). A
    forecast off by e on the interval scale needs -e / slope more e-folds of compute. Each family's miss is a part
    both share (the calibrated extrapolation part: it cancels where the slopes are equal, not otherwise), its own
    share of the gap's drift, and its fit part; the target's measurement noise is left out (it does not change what
    the run costs):

        Var = (f_A^2 + v_A) / s_A^2 + (f_B^2 + v_B) / s_B^2 + x_A x_B (1 / s_A - 1 / s_B)^2."""
    (plan_a, spread_a, slope_a, moved_a), (plan_b, spread_b, slope_b, moved_b) = first, second
    variance = ((spread_a.fit**2 + moved_a) / slope_a**2 + (spread_b.fit**2 + moved_b) / slope_b**2
                + spread_a.extrapolation * spread_b.extrapolation * (1 / slope_a - 1 / slope_b) ** 2)
    gap = float(np.log(plan_b.total_flops) - np.log(plan_a.total_flops))
    if variance <= 0:
        return 0.5 if gap == 0 else float(gap > 0)
    return NormalDist().cdf(gap / np.sqrt(variance))


def cheaper_pairs(entries: Sequence[tuple[FittedLaws, Plan, dict[str, IntervalParts], Calibration]], level: float,
                  runs: RunTable, drift: GapDrift | None = None) -> list[dict[str, Any]]:
    """For every pair of families' plans to reach one target (each entry: the family's laws, its plan, the interval
    parts and calibration of the forecast at the plan), P(the first gets there with less compute; see `cheaper`).
    The gap drift is `compare`'s: `drift` (default: the development testbeds') with the loss drift of `runs`' own
    gap changes where they hold enough."""
    if not entries:
        return []
    drift = drift_with_runs(measure_gap_drift() if drift is None else drift, runs,
                             [entry[0].family for entry in entries], entries[0][0])
    costs = []
    for laws, plan, parts, calibration in entries:
        key = "loss" if plan.target_error is None else next(iter(plan.forecast.errors))
        seen = last_seen(runs.family(laws.family), laws, key)
        if key in parts and seen is not None:
            moved = drift.variance(key, np.log10(plan.training_flops) - seen) / 2
            costs.append((laws.family, key, (plan, Spread.of(parts[key], calibration, level),
                                             cost_elasticity(laws, plan, key), moved)))
    rows = []
    for i, (first, key, plan_a) in enumerate(costs):
        for second, other, plan_b in costs[i + 1:]:
            if key == other:
                rows.append({"first": first, "second": second, "first_flops": plan_a[0].total_flops,
                             "second_flops": plan_b[0].total_flops, "probability": cheaper(plan_a, plan_b)})
    return rows


def cheaper_by_volume(plans: Sequence[FamilyPlan], level: float, runs: RunTable) -> list[dict[str, Any]]:
    """`cheaper_pairs` for the families' plans (`overtrain.decide.plan.plan_families`) at each inference volume, where
    the plans carry calibrated intervals."""
    rows = []
    for volume in dict.fromkeys(p.plan.inference_tokens for p in plans):
        entries = [(p.laws, p.plan, p.parts, p.calibration) for p in plans
                   if p.plan.inference_tokens == volume and p.calibration is not None and p.parts]
        rows += [{"first": row["first"], "second": row["second"], "inference_tokens": volume, **row}
                 for row in cheaper_pairs(entries, level, runs)]
    return rows
