"""Which data recipe wins at scale: every family's forecast at one target, and the odds for every pair.

Each family (training distribution, data recipe, tokenizer...) is fitted and forecast as `overtrain forecast` does
(`trust.forecast_families`, intervals calibrated on the development suite). The odds that family A beats family B
(lower loss, lower error) come from the joint uncertainty of the two forecasts on the interval scale (log loss,
logit error), taken as normal:

    P(A beats B) = Phi((m_B - m_A) / sqrt(f_A^2 + f_B^2 + n_A^2 + n_B^2 + x_A^2 + x_B^2 - 2 rho x_A x_B)),

with m the forecast, f the fit part (resampled fits of each family's own runs: independent across families), n
the target's measurement noise (independent), x the calibrated extrapolation part, and rho the correlation of
extrapolation errors between families forecast from the same design. A law that misses at scale tends to miss for
every recipe fitted on the same sizes in the same direction, and that shared miss does not change their order:
`extrapolation_correlation` measures rho on the development suite's held-out forecasts of several families at the
same targets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting import Fit
from overtrain.forecast import FittedLaws, Target, quantity_column
from overtrain.laws.loss import held_out_reason, shared_quantity
from overtrain.runs import RunTable
from overtrain.scales import scale_slope, to_scale
from overtrain.testbed import load_suite_evidence
from overtrain.trust import FamilyForecasts, forecast_family
from overtrain.uncertainty import Calibration, IntervalParts

#: The compute range searched for the scale where two families' forecasts cross, around the target's.
CROSSING_DECADES = 3.0
CURVE_POINTS = 9


def extrapolation_correlation(evidence: pd.DataFrame, quantity: str) -> tuple[float, int]:
    """The correlation rho of extrapolation errors (truth minus forecast on the interval scale) between families
    forecast at the same target configuration, from held-out forecasts (`testbed.load_suite_evidence`): the
    uncentred correlation sum(e_A e_B) / sqrt(sum e_A^2 sum e_B^2) over every matched pair of families of a testbed
    (a shared bias counts as shared), clipped to [0, 1]. A target's configuration is its run id without the
    family's name. Returns rho and the number of matched pairs (0 pairs: rho 0, the cautious value)."""
    rows = evidence[evidence["quantity"] == quantity]
    if rows.empty:
        return 0.0, 0
    rows = rows.assign(
        config=[run[len(family) + 1:] if run.startswith(f"{family}-") else run
                for run, family in zip(rows["run"], rows["family"], strict=True)],
        miss=to_scale(quantity, rows["true"].to_numpy(dtype=float))
        - to_scale(quantity, rows["prediction"].to_numpy(dtype=float)))
    cross = own_a = own_b = 0.0
    pairs = 0
    for _, testbed in rows.groupby("testbed"):
        table = testbed.pivot_table(index="config", columns="family", values="miss", aggfunc="first")
        families = list(table.columns)
        for i, a in enumerate(families):
            for b in families[i + 1:]:
                both = table[[a, b]].dropna().to_numpy(dtype=float)
                cross += float(np.sum(both[:, 0] * both[:, 1]))
                own_a += float(np.sum(both[:, 0] ** 2))
                own_b += float(np.sum(both[:, 1] ** 2))
                pairs += len(both)
    if pairs == 0 or own_a <= 0 or own_b <= 0:
        return 0.0, pairs
    return float(np.clip(cross / np.sqrt(own_a * own_b), 0.0, 1.0)), pairs


@dataclass(frozen=True)
class Spread:
    """Standard deviations of one forecast on the interval scale: fit part, target noise, extrapolation part."""

    fit: float
    noise: float
    extrapolation: float

    @classmethod
    def of(cls, parts: IntervalParts, calibration: Calibration, level: float) -> Spread:
        """From a forecast's interval parts, with the calibrated extrapolation half-width and fit factor."""
        z = NormalDist().inv_cdf(0.5 + level / 2)
        q = parts.quantity
        centre = float(to_scale(q, parts.prediction))
        possible = (lambda v: v > 0) if q == "loss" else (lambda v: 0 < v < 1)
        reach = [abs(float(to_scale(q, bound)) - centre) for bound in (parts.fit_low, parts.fit_high)
                 if np.isfinite(bound) and possible(bound)]
        fit = (float(np.mean(reach)) if reach else 0.0) * calibration.fit_factor(q) / z
        noise = parts.sigma * float(scale_slope(q, parts.prediction))
        half_width = float(calibration.half_width(q, parts.distance))
        extrapolation = (half_width if np.isfinite(half_width) else 0.0) / z
        return cls(float(np.hypot(fit, parts.structural)), float(noise), extrapolation)


def beats(quantity: str, a: float, spread_a: Spread, b: float, spread_b: Spread, rho: float) -> float:
    """P(family A's run comes out better than B's, lower loss or error) given both forecasts, their spreads and
    the correlation `rho` of their extrapolation parts (see the module notes)."""
    variance = (spread_a.fit**2 + spread_b.fit**2 + spread_a.noise**2 + spread_b.noise**2
                + spread_a.extrapolation**2 + spread_b.extrapolation**2
                - 2 * rho * spread_a.extrapolation * spread_b.extrapolation)
    gap = float(to_scale(quantity, b) - to_scale(quantity, a))
    if variance <= 0:
        return 0.5 if gap == 0 else float(gap > 0)
    return NormalDist().cdf(gap / np.sqrt(variance))


def crossing(first: FittedLaws, second: FittedLaws, quantity: str, key: str, target: Target) -> float | None:
    """The model size N nearest the target's (at the target's M, within `CROSSING_DECADES` of its compute either
    way) at which the two families' fitted laws forecast the same `quantity` (the order flips there), or None."""
    sizes = target.params * np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, 241)

    def gap(n: float) -> float:
        a, b = (laws.forecast(float(n), multiplier=target.multiplier) for laws in (first, second))
        return (a.loss - b.loss) if quantity == "loss" else (a.errors[key] - b.errors[key])

    values = np.array([gap(n) for n in sizes])
    flips = np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)
    if len(flips) == 0:
        return None
    nearest = flips[np.argmin(np.abs(np.log(sizes[flips] / target.params)))]
    low, high = np.log(sizes[nearest]), np.log(sizes[nearest + 1])
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if np.sign(gap(np.exp(middle))) == np.sign(values[nearest]) else (low, middle)
    return float(np.exp((low + high) / 2))


@dataclass(frozen=True)
class PairOdds:
    """Two families at the target: the probability that the first comes out better on each quantity, and the
    model size where their fitted laws cross (None: not within reach of the target)."""

    first: str
    second: str
    quantity: str
    probability: float
    crossing_params: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RecipeComparison:
    """Every family's forecast at one target, the odds for every pair, the ranking, and what could not be
    compared."""

    target: Target
    forecasts: tuple[FamilyForecasts, ...]
    odds: tuple[PairOdds, ...]
    correlation: dict[str, tuple[float, int]]
    skipped: dict[str, str]
    curve: dict[str, list[dict[str, Any]]]
    level: float

    @property
    def quantities(self) -> list[str]:
        """`loss` and the error's task-set name where every compared family forecasts it."""
        keys = [set(f.forecasts[0].intervals) for f in self.forecasts]
        common = set.intersection(*keys) if keys else set()
        return ["loss", *sorted(k for k in common if k != "loss")]

    def value(self, family: str, key: str) -> float:
        forecast = next(f for f in self.forecasts if f.laws.family == family).forecasts[0].forecast
        return forecast.loss if key == "loss" else forecast.errors[key]

    def ranking(self, key: str) -> list[str]:
        """Families from best (lowest forecast) to worst on `key`."""
        return sorted((f.laws.family for f in self.forecasts), key=lambda family: self.value(family, key))

    def probability(self, first: str, second: str, key: str) -> float:
        """P(`first` comes out better than `second` on `key`)."""
        for odds in self.odds:
            if odds.quantity == key and (odds.first, odds.second) == (first, second):
                return odds.probability
            if odds.quantity == key and (odds.first, odds.second) == (second, first):
                return 1.0 - odds.probability
        raise OvertrainError(f"no odds for {first!r} against {second!r} on {key!r}")

    def to_frame(self) -> pd.DataFrame:
        """One row per family: forecasts and intervals per quantity, and the rank on each."""
        rows = []
        for result in self.forecasts:
            trusted = result.forecasts[0]
            row: dict[str, Any] = {"family": result.laws.family}
            for key in self.quantities:
                interval = trusted.intervals.get(key)
                name = quantity_column(key)
                row[name] = self.value(result.laws.family, key)
                row[f"{name}_low"] = None if interval is None else interval.low
                row[f"{name}_high"] = None if interval is None else interval.high
                row[f"{name}_rank"] = self.ranking(key).index(result.laws.family) + 1
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": {"params": self.target.params, "tokens": self.target.tokens,
                       "multiplier": self.target.multiplier, "flops": self.target.flops},
            "level": self.level,
            "families": self.to_frame().replace({np.nan: None}).to_dict(orient="records"),
            "ranking": {key: self.ranking(key) for key in self.quantities},
            "odds": [o.to_dict() for o in self.odds],
            "correlation": {key: {"rho": rho, "matched_pairs": n} for key, (rho, n) in self.correlation.items()},
            "not_compared": self.skipped,
            "curve": self.curve,
        }


def _cannot_compare(loss: Fit, target: Target) -> str | None:
    """Why a loss law holding a term out (runs of one D, N or M) cannot be compared at `target`, or None. The
    comparison walks sizes and token counts around the target together, at the target's M: a law of one-M runs
    holds there when the target shares their M; a law of one D or one N holds nowhere along that walk."""
    if not loss.held_out:
        return None
    name, value = shared_quantity(loss.inputs)  # type: ignore[misc]
    if name == "multiplier" and np.isclose(value, target.multiplier, rtol=1e-6):
        return None
    return f"{held_out_reason(loss.inputs)}, so it cannot be compared at M = {target.multiplier:.3g}"


def compare_families(
    runs: RunTable, target: Target, *, families: Sequence[str] | None = None, level: float = 0.9,
    evidence: pd.DataFrame | None = None, **options: Any,
) -> RecipeComparison:
    """Forecast every family of `runs` at `target` as `overtrain forecast` does (`options` go to
    `trust.forecast_family`: fit sets, laws, tasks...), and compare them pair by pair. A family that cannot be
    forecast (too few sizes, no loss...) is reported in `skipped` with the reason, not dropped silently."""
    names = list(families or runs.families)
    if len(names) < 2:
        raise OvertrainError(f"{runs.source}: comparing needs at least 2 families, got {len(names)}")
    evidence = load_suite_evidence() if evidence is None else evidence
    ladder = [Target(target.params * f, target.tokens * f)
              for f in np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CURVE_POINTS)]
    results, skipped, cache = [], {}, {}
    for name in names:
        try:
            result = forecast_family(runs.family(name), [target, *ladder], calibration_runs=runs, level=level,
                                     evidence=evidence, cache=cache, **options)
        except OvertrainError as error:
            skipped[name] = str(error)
            continue
        why = _cannot_compare(result.laws.loss, target)
        if why:
            skipped[name] = why
        else:
            results.append(result)
    if len(results) < 2:
        raise OvertrainError(f"{runs.source}: fewer than 2 families can be forecast ("
                             + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    comparison = RecipeComparison(target, tuple(results), (), {}, skipped, {}, level)
    correlation = {key: extrapolation_correlation(evidence, "loss" if key == "loss" else "error")
                   for key in comparison.quantities}
    odds = []
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            for key in comparison.quantities:
                quantity = "loss" if key == "loss" else "error"
                spread_a, spread_b = (Spread.of(r.forecasts[0].parts[key], r.calibration, level) for r in (a, b))
                first, second = (comparison.value(r.laws.family, key) for r in (a, b))
                odds.append(PairOdds(a.laws.family, b.laws.family, key,
                                     beats(quantity, first, spread_a, second, spread_b, correlation[key][0]),
                                     crossing(a.laws, b.laws, quantity, key, target)))
    curve = {r.laws.family: [{"params": t.forecast.params, "tokens": t.forecast.tokens, "flops": t.forecast.flops,
                              **{key: (t.forecast.loss if key == "loss" else t.forecast.errors.get(key)) for key in
                                 comparison.quantities},
                              **{f"{key}_low": t.intervals[key].low for key in comparison.quantities
                                 if key in t.intervals},
                              **{f"{key}_high": t.intervals[key].high for key in comparison.quantities
                                 if key in t.intervals}}
                             for t in r.forecasts[1:]] for r in results}
    return dataclasses.replace(comparison, odds=tuple(odds), correlation=correlation, curve=curve)


def cost_elasticity(laws: FittedLaws, plan: Any, key: str) -> float:
    """d (interval-scale value) / d log C at the plan, along its multiplier: how far the forecast moves per
    e-fold of training compute (negative: more compute, lower loss or error)."""
    quantity = "loss" if key == "loss" else "error"
    step = 0.05
    values = []
    for factor in (np.exp(-step), np.exp(step)):
        params = plan.params * np.sqrt(factor)
        forecast = laws.forecast(params, multiplier=plan.multiplier)
        values.append(float(to_scale(quantity, forecast.loss if key == "loss" else forecast.errors[key])))
    return (values[1] - values[0]) / (2 * step)


def cheaper(first: tuple[Any, Spread, float], second: tuple[Any, Spread, float], rho: float) -> float:
    """P(the first family reaches the target with less compute than the second), each given as (plan, spread of
    its forecast at the plan, cost elasticity). A forecast off by e on the interval scale needs e / |slope| more
    e-folds of compute, so log C ~ log C_plan - e / slope; fit parts independent, extrapolation parts correlated
    (`rho`), the target's own measurement noise left out (it does not change what the run costs)."""
    (plan_a, spread_a, slope_a), (plan_b, spread_b, slope_b) = first, second
    variance = ((spread_a.fit / slope_a) ** 2 + (spread_b.fit / slope_b) ** 2
                + (spread_a.extrapolation / slope_a) ** 2 + (spread_b.extrapolation / slope_b) ** 2
                - 2 * rho * spread_a.extrapolation * spread_b.extrapolation / (slope_a * slope_b))
    gap = float(np.log(plan_b.total_flops) - np.log(plan_a.total_flops))
    if variance <= 0:
        return 0.5 if gap == 0 else float(gap > 0)
    return NormalDist().cdf(gap / np.sqrt(variance))


def cheaper_pairs(entries: Sequence[tuple[FittedLaws, Any, dict[str, IntervalParts], Calibration]], level: float,
                  evidence: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """For every pair of families' plans to reach one target (each entry: the family's laws, its plan, the interval
    parts and calibration of the forecast at the plan), P(the first gets there with less compute; see `cheaper`)."""
    evidence = load_suite_evidence() if evidence is None else evidence
    rho: dict[str, float] = {}
    costs = []
    for laws, plan, parts, calibration in entries:
        key = "loss" if plan.target_error is None else next(iter(plan.forecast.errors))
        if key in parts:
            quantity = "loss" if key == "loss" else "error"
            rho.setdefault(quantity, extrapolation_correlation(evidence, quantity)[0])
            costs.append((laws.family, key, (plan, Spread.of(parts[key], calibration, level),
                                             cost_elasticity(laws, plan, key))))
    rows = []
    for i, (first, key, plan_a) in enumerate(costs):
        for second, other, plan_b in costs[i + 1:]:
            if key == other:
                rows.append({"first": first, "second": second, "first_flops": plan_a[0].total_flops,
                             "second_flops": plan_b[0].total_flops,
                             "probability": cheaper(plan_a, plan_b, rho["loss" if key == "loss" else "error"])})
    return rows
