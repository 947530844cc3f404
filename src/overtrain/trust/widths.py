"""How wide the extrapolation part must be: the smallest scale at which a level of backtest (or held-out)
forecasts hold the truth, and how far the width may follow a forecast's own fit part."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overtrain.trust.parts import MIN_FIT_WIDTH, BoundParts, adaptive_factor, distance_growth, fit_width

#: The powers of the fit part the calibration may scale the half-width by (`calibrate_width`); 0 is a constant width.
POWERS = (0.0, 0.5, 1.0)


def evidence_frame(rows: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """Held-out forecasts of `quantity` with their interval parts (rows of `overtrain.runs.testbed.load_suite_evidence`)
    as the columns `coverage` and `calibrate_interval` read."""
    rows = rows[rows["quantity"] == quantity]
    return pd.DataFrame({
        f"{quantity}_pred": rows["prediction"], f"{quantity}_true": rows["true"],
        f"{quantity}_fit_low": rows["fit_low"], f"{quantity}_fit_high": rows["fit_high"],
        f"{quantity}_sigma": rows["sigma"], f"{quantity}_struct": rows["structural"], "distance": rows["distance"],
    })


@dataclass(frozen=True)
class _Forecasts:
    """The columns of backtest forecasts of one quantity that their intervals are built from, as arrays."""

    prediction: np.ndarray
    fit_low: np.ndarray
    fit_high: np.ndarray
    sigma: np.ndarray
    growth: np.ndarray
    structural: np.ndarray
    truth: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, quantity: str, form: str) -> _Forecasts:
        structural = (np.nan_to_num(frame[f"{quantity}_struct"].to_numpy(dtype=float))
                      if f"{quantity}_struct" in frame else np.zeros(len(frame)))
        return cls(frame[f"{quantity}_pred"].to_numpy(dtype=float), frame[f"{quantity}_fit_low"].to_numpy(dtype=float),
                   frame[f"{quantity}_fit_high"].to_numpy(dtype=float),
                   np.nan_to_num(frame[f"{quantity}_sigma"].to_numpy(dtype=float)),
                   np.asarray(distance_growth(form, frame["distance"].to_numpy(dtype=float)), dtype=float),
                   structural, frame[f"{quantity}_true"].to_numpy(dtype=float))

    def parts(self, quantity: str, level: float, fit_factor: float) -> BoundParts:
        return BoundParts.of(self.prediction, self.fit_low, self.fit_high, self.sigma, level, quantity,
                              self.structural, fit_factor)

    def bounds(self, quantity: str, scale: float, level: float, fit_factor: float, below: float = float("nan")
               ) -> tuple[np.ndarray, np.ndarray]:
        return self.parts(quantity, level, fit_factor).at(scale * self.growth, _lower(below, scale) * self.growth)

    def inside(self, quantity: str, scale: float, level: float, fit_factor: float, below: float = float("nan")
               ) -> np.ndarray:
        return self.inside_at(self.parts(quantity, level, fit_factor), scale, below)

    def inside_at(self, parts: BoundParts, scale: float, below: float = float("nan")) -> np.ndarray:
        """Which forecasts' truths fall inside their intervals built from `parts` with extrapolation scale `scale`
        (below the forecast `below`, where finite)."""
        low, high = parts.at(scale * self.growth, _lower(below, scale) * self.growth)
        return (low <= self.truth) & (self.truth <= high)


def _lower(below: float, scale: float) -> float:
    """The lower side's scale: `below` where the sides are calibrated apart, else the upper side's `scale`."""
    return below if np.isfinite(below) else scale


#: The sign test's level at which held-out misses count as one-sided (`one_sided`), and the fewest forecasts it is
#: asked of: 20 forecasts all missing one way is p = 2e-6, 14 of 20 is p = 0.115.
ONE_SIDED_LEVEL = 0.05
ONE_SIDED_MIN_FORECASTS = 10


def one_sided(truth: np.ndarray, prediction: np.ndarray) -> bool:
    """Whether the forecasts miss to one side more than chance allows: a two-sided sign test of how many truths
    lie above their forecasts, at `ONE_SIDED_LEVEL`, over at least `ONE_SIDED_MIN_FORECASTS` forecasts (ties left
    out). Computed on whole counts with exact integer sums, so the choice never turns on rounding."""
    truth, prediction = np.asarray(truth, dtype=float), np.asarray(prediction, dtype=float)
    known = np.isfinite(truth) & np.isfinite(prediction) & (truth != prediction)
    n = int(known.sum())
    if n < ONE_SIDED_MIN_FORECASTS:
        return False
    above = int((truth[known] > prediction[known]).sum())
    tail = sum(math.comb(n, i) for i in range(min(above, n - above) + 1))
    # p = min(1, 2 tail / 2^n) <= level, in integers: 2 tail * 20 <= 2^n for level 0.05
    return 2 * tail * round(1 / ONE_SIDED_LEVEL) <= 2**n


def coverage(frame: pd.DataFrame, quantity: str, scale: float, level: float, form: str = "log-distance",
             fit_factor: float = 1.0) -> np.ndarray:
    """Which backtest forecasts of `quantity` (loss or error) fall inside their intervals at `scale`."""
    return _Forecasts.of(frame, quantity, form).inside(quantity, scale, level, fit_factor)


def interval_score(low: np.ndarray, high: np.ndarray, truth: np.ndarray, level: float) -> np.ndarray:
    """The interval (Winkler) score of central `level` intervals: width, plus 2 / (1 - level) times the distance
    by which the truth falls outside. Lower is better; it rewards sharpness and punishes misses."""
    alpha = 1.0 - level
    low, high, truth = (np.asarray(v, dtype=float) for v in (low, high, truth))
    return (high - low) + 2.0 / alpha * (np.maximum(low - truth, 0.0) + np.maximum(truth - high, 0.0))


def calibrate_scale(frame: pd.DataFrame, quantity: str, level: float, form: str = "log-distance",
                    fit_factor: float = 1.0) -> float:
    """The smallest extrapolation scale for which `level` of the backtest intervals contain the truth
    (bisection: coverage only grows with the scale). Failed forecasts (NaN) are left out. With a `weight`
    column, coverage is the weighted share (e.g. two sources of evidence weighted equally)."""
    frame = frame[np.isfinite(frame[f"{quantity}_pred"])]
    if len(frame) == 0:
        return float("nan")
    weights = frame["weight"].to_numpy(dtype=float) if "weight" in frame else np.ones(len(frame))
    return _smallest_scale(_Forecasts.of(frame, quantity, form), weights, quantity, level, fit_factor)


def _smallest_scale(forecasts: _Forecasts, weights: np.ndarray, quantity: str, level: float, fit_factor: float
                    ) -> float:
    parts = forecasts.parts(quantity, level, fit_factor)

    def covered(scale: float) -> bool:
        return float(np.average(forecasts.inside_at(parts, scale), weights=weights)) >= level

    return _smallest_passing(covered)


def _smallest_passing(passes: Callable[[float], bool]) -> float:
    """The smallest scale >= 0 at which `passes` holds, for a test that only turns true as the scale grows: 0 if it
    holds there, else doubled from 0.05 (up to 64) and bisected 30 times."""
    if passes(0.0):
        return 0.0
    low, high = 0.0, 0.05
    while not passes(high) and high < 64:
        low, high = high, high * 2
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (low, middle) if passes(middle) else (middle, high)
    return high


#: The fit part of an interval may be shrunk by one of these factors: a residual bootstrap of a few runs for as
#: many coefficients overstates how far the law can move, and the backtests say by how much.
FIT_FACTORS = (1.0, 0.5, 0.25, 0.0)


def _smallest_sides(forecasts: _Forecasts, weights: np.ndarray, quantity: str, level: float, fit_factor: float
                    ) -> tuple[float, float]:
    """(below, above): for each side, the smallest extrapolation scale at which at most (1 - level) / 2 of the
    forecasts (weighted) have their truth beyond that side's bound (bisection: misses only fall with the scale)."""
    parts = forecasts.parts(quantity, level, fit_factor)
    allowed = (1.0 - level) / 2

    def missed(scale: float, side: int) -> float:
        low, high = parts.at(scale * forecasts.growth)
        outside = (forecasts.truth < low) if side == 0 else (forecasts.truth > high)
        return float(np.average(outside, weights=weights))

    below, above = (_smallest_passing(lambda scale, side=side: missed(scale, side) <= allowed) for side in (0, 1))
    return below, above


def calibrate_interval(frame: pd.DataFrame, quantity: str, level: float, form: str = "log-distance"
                       ) -> tuple[float, float]:
    """The extrapolation scale and fit-part factor of `quantity`'s intervals, the same width for every forecast at
    one distance and on both sides (`calibrate_width` with power 0, sides together)."""
    scale, factor, _, _, _ = calibrate_width(frame, quantity, level, form)
    return scale, factor


def calibrate_width(frame: pd.DataFrame, quantity: str, level: float, form: str = "log-distance",
                    powers: tuple[float, ...] = (0.0,), sides: bool = False
                    ) -> tuple[float, float, float, float, float]:
    """The extrapolation scale, fit-part factor, power, reference and lower side's scale of `quantity`'s intervals:
    for each factor in `FIT_FACTORS` and power in `powers` (the half-width times (fit part / reference)^power,
    `adaptive_factor`, with the reference the forecasts' geometric mean fit part), the smallest scale that covers
    `level` of the forecasts in `frame`; of those, the one whose intervals have the lowest mean interval score
    relative to the truth (weighted by a `weight` column). Coverage is the constraint, sharpness and misses the
    choice. Ties keep the larger factor and the smaller power. Where the forecasts miss to one side (`one_sided`,
    and `sides`), each side's scale is the smallest that leaves at most (1 - level) / 2 of the truths beyond it, and
    the lower side's is returned last (NaN: the sides share one scale)."""
    frame = frame[np.isfinite(frame[f"{quantity}_pred"])]
    if len(frame) == 0:
        return float("nan"), 1.0, 0.0, 1.0, float("nan")
    weights = frame["weight"].to_numpy(dtype=float) if "weight" in frame else np.ones(len(frame))
    forecasts = _Forecasts.of(frame, quantity, form)
    truth = forecasts.truth
    widths = np.asarray(fit_width(quantity, forecasts.prediction, forecasts.fit_low, forecasts.fit_high), dtype=float)
    known = np.isfinite(widths)
    reference = float(np.exp(np.mean(np.log(np.maximum(widths[known], MIN_FIT_WIDTH))))) if known.any() else 1.0
    apart = sides and one_sided(truth[weights > 0], forecasts.prediction[weights > 0])
    best: tuple[float, float, float, float, float] | None = None
    for power in powers:
        adapted = dataclasses.replace(forecasts, growth=forecasts.growth * adaptive_factor(widths, power, reference))
        for factor in FIT_FACTORS:
            if apart:
                below, scale = _smallest_sides(adapted, weights, quantity, level, factor)
            else:
                below, scale = float("nan"), _smallest_scale(adapted, weights, quantity, level, factor)
            low, high = adapted.bounds(quantity, scale, level, factor, below)
            score = float(np.average(interval_score(low, high, truth, level) / truth, weights=weights))
            if best is None or score < best[0] - 1e-12:
                best = (score, scale, factor, power, below)
    return best[1], best[2], best[3], reference if best[3] else 1.0, best[4]


#: How many held-out forecasts of the suite a task's own width is pooled toward the suite's task width with: a task
#: with n forecasts of its own weighs n / (n + TASK_PRIOR) (`task_widths`).
TASK_PRIOR = 10.0


def task_widths(frame: pd.DataFrame, names: pd.Series, level: float, form: str, fit_factor: float, pooled: float
                ) -> tuple[tuple[str, float], ...]:
    """Each task's own extrapolation scale: the smallest scale at which `level` of that task's held-out forecasts
    (rows of `frame` whose task is `names`) hold their truth, s_t, pooled toward the suite's `pooled` scale s as far
    as the task's n_t forecasts warrant, on the variance: sqrt((n_t s_t^2 + k s^2) / (n_t + k)), k = `TASK_PRIOR`.
    A task that behaves gets a narrower interval than the suite's worst, one that misses a wider one."""
    found = []
    for task in sorted(set(names)):
        rows = frame[(names == task).to_numpy()]
        rows = rows[np.isfinite(rows["task_pred"])]
        if len(rows) == 0:
            continue
        own = _smallest_scale(_Forecasts.of(rows, "task", form), np.ones(len(rows)), "task", level, fit_factor)
        n = float(len(rows))
        found.append((task, float(np.sqrt((n * own**2 + TASK_PRIOR * pooled**2) / (n + TASK_PRIOR)))))
    return tuple(found)
