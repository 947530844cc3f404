"""Every compared family on one quantity at once: the odds of every pair, the chance of being best or in the top k.

Each family's run at the target is taken as its forecast c (on the interval scale: log loss, logit error) plus an
independent normal miss of standard deviation s, which holds the family's own fit part and target noise and its share
of how far gaps between recipes move with scale (`overtrain.decide.gaps`). Then, for every pair at once,

    P(A beats B) = Phi((c_B - c_A) / sqrt(s_A^2 + s_B^2)),

the chance that a family comes out best is the integral over its own miss z of the chance that every other does
worse,

    P(A best) = integral phi(z) prod_{B != A} Phi((c_B - c_A - s_A z) / s_B) dz,

by Simpson's rule over each family's own miss, with every family's chance of doing worse taken once on one grid of
outcomes (so with two families P(A best) is P(A beats B), to 1e-6: one number for one question); the chance of being
among the k best is counted over joint draws of every family's miss, one draw serving every family. Arrays over
families throughout: a thousand families cost about 0.1 s for the ranking and a million pair odds a few
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr

from overtrain.quantities import Quantity, to_scale

#: Joint draws for P(top k) (standard error at most 0.5 / sqrt(draws) = 0.004), drawn in chunks.
DRAWS = 16000
_CHUNK = 2000


#: The grid P(best) is integrated on: a family's own miss from -9 to 9 standard deviations, Simpson's rule.
_MISS_GRID = np.linspace(-9.0, 9.0, 1201)
_SIMPSON = np.r_[1.0, np.tile([4.0, 2.0], (len(_MISS_GRID) - 3) // 2), 4.0, 1.0] * (_MISS_GRID[1] - _MISS_GRID[0]) / 3

#: Odds below which a family is taken never to come out best (its chance is below them).
_NEGLIGIBLE = 1e-9


@dataclass(frozen=True)
class Standing:
    """The compared families on one quantity (`key`: `loss` or the error's task-set name) at the target: each
    one's forecast (`values`) and the standard deviation `sd` of its run's miss on the interval scale."""

    key: str
    families: tuple[str, ...]
    values: np.ndarray
    sd: np.ndarray

    @property
    def quantity(self) -> str:
        return Quantity.of(self.key)

    @property
    def centre(self) -> np.ndarray:
        """The forecasts on the interval scale."""
        return np.asarray(to_scale(self.quantity, self.values), dtype=float)

    def index(self, family: str) -> int:
        return self.families.index(family)

    def order(self) -> np.ndarray:
        """Positions of the families from best (lowest forecast) to worst; ties keep the given order."""
        return np.argsort(self.values, kind="stable")

    def gap_sd(self) -> np.ndarray:
        """(F, F): the standard deviation of each pair's gap at the target, sqrt(s_A^2 + s_B^2)."""
        variance = self.sd**2
        return np.sqrt(variance[:, None] + variance[None, :])

    def probabilities(self) -> np.ndarray:
        """(F, F): P(row family comes out better than column family); 0.5 on the diagonal."""
        centre = self.centre
        gap = centre[None, :] - centre[:, None]
        spread = self.gap_sd()
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = ndtr(gap / spread)
        certain = np.where(gap == 0, 0.5, (gap > 0).astype(float))
        return np.where(spread > 0, odds, certain)

    def probability(self, first: str, second: str) -> float:
        """P(`first` comes out better than `second`)."""
        i, j = self.index(first), self.index(second)
        centre, spread = self.centre, float(np.hypot(self.sd[i], self.sd[j]))
        gap = float(centre[j] - centre[i])
        if spread <= 0:
            return 0.5 if gap == 0 else float(gap > 0)
        return float(ndtr(gap / spread))

    def best(self) -> np.ndarray:
        """P(best) of each family: the integral over its own miss of every other family doing worse (module
        docstring), by Simpson's rule on the family's own grid of misses, with the log of every family's chance of
        doing worse than an outcome x, sum_B log Phi((c_B - x) / s_B), taken once on a grid of x for all families
        (a cubic spline between its points) and the family's own term taken out. A family whose run is certain
        (s = 0) has its forecast for its run, and cuts off the others' integrals where they would pass it. A family
        that beats some other with odds below `_NEGLIGIBLE` is best with less than that and counts 0."""
        from scipy.interpolate import CubicSpline

        centre, sd = self.centre, np.asarray(self.sd, dtype=float)
        candidate = self.probabilities().min(axis=1) >= _NEGLIGIBLE
        certain, spread = sd <= 0, sd > 0
        chance = np.zeros(len(centre))
        for i in np.flatnonzero(candidate & certain):  # its run is its forecast: every other must do worse
            gap = centre - centre[i]
            tied = np.where(gap > 0, 1.0, np.where(gap == 0, 0.5, 0.0))
            worse = np.where(spread, ndtr(gap / np.where(spread, sd, 1.0)), tied)
            chance[i] = float(np.prod(np.delete(worse, i)))
        rows = np.flatnonzero(candidate & spread)
        if not len(rows):
            return chance
        # beyond `top` some family is below x but for odds under Phi(-9): nobody's run there is best
        top = float(np.min(np.where(spread, centre + _MISS_GRID[-1] * sd, centre)))
        bottom = float(np.min(centre[rows] + _MISS_GRID[0] * sd[rows]))
        if top <= bottom:
            return chance
        points = int(np.clip(40 * (top - bottom) / np.min(sd[spread]), 4001, 200001))
        grid = np.linspace(bottom, top, points)
        doing_worse = np.zeros(points)
        for j in np.flatnonzero(spread):
            doing_worse += log_ndtr((centre[j] - grid) / sd[j])
        spline = CubicSpline(grid, doing_worse)
        upper = np.minimum(_MISS_GRID[-1], (top - centre[rows]) / sd[rows])  # (r,)
        shrink = np.maximum(upper - _MISS_GRID[0], 0.0) / (_MISS_GRID[-1] - _MISS_GRID[0])  # 0: passed everywhere
        miss = _MISS_GRID[0] + shrink[:, None] * (_MISS_GRID[None, :] - _MISS_GRID[0])  # (r, K)
        outcome = centre[rows, None] + sd[rows, None] * miss
        others = spline(outcome) - log_ndtr((centre[rows, None] - outcome) / sd[rows, None])
        density = np.exp(-0.5 * miss**2) / np.sqrt(2 * np.pi) * _SIMPSON[None, :] * shrink[:, None]
        chance[rows] = np.sum(np.exp(np.minimum(others, 0.0)) * density, axis=1)
        return chance

    def chances(self, top: int, draws: int = DRAWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """P(best) (`best`) and P(among the `top` best) of each family, the latter counted over `draws` joint draws
        (seeded)."""
        rng = np.random.default_rng(seed)
        centre, n = self.centre, len(self.families)
        top = max(1, min(top, n))
        within = np.zeros(n)
        for start in range(0, draws, _CHUNK):
            size = min(_CHUNK, draws - start)
            outcome = centre[None, :] + self.sd[None, :] * rng.standard_normal((size, n))
            kth = np.partition(outcome, top - 1, axis=1)[:, top - 1] if top < n else np.full(size, np.inf)
            within += (outcome <= kth[:, None]).sum(axis=0)
        return self.best(), within / draws

    def pairs(self, crossings: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Every pair once (first before second in the given order), as JSON-ready records."""
        first, second = np.triu_indices(len(self.families), 1)
        odds, spread = self.probabilities()[first, second], self.gap_sd()[first, second]
        cross = (np.full(len(first), np.nan) if crossings is None else crossings[first, second])
        names = self.families
        return [{"first": names[i], "second": names[j], "quantity": self.key, "probability": float(p),
                 "crossing_params": None if not np.isfinite(c) else float(c), "gap_sd": float(s)}
                for i, j, p, c, s in zip(first.tolist(), second.tolist(), odds.tolist(), cross.tolist(),
                                         spread.tolist(), strict=True)]


def crossings(curves: np.ndarray, sizes: np.ndarray, target_params: float) -> np.ndarray:
    """(F, F): for each pair of families, the model size nearest `target_params` at which their curves (`curves`
    (F, S): each family's forecast at `sizes`) cross, interpolated linearly in log size between grid points; NaN
    where they do not cross on the grid."""
    n = len(curves)
    found = np.full((n, n), np.nan)
    log_sizes, log_target = np.log(sizes), np.log(target_params)
    for i in range(n - 1):
        gap = curves[i][None, :] - curves[i + 1:]  # (F - i - 1, S)
        flips = np.sign(gap[:, :-1]) * np.sign(gap[:, 1:]) < 0
        if not flips.any():
            continue
        distance = np.where(flips, np.abs(log_sizes[:-1] - log_target), np.inf)
        at = np.argmin(distance, axis=1)
        rows = np.flatnonzero(flips.any(axis=1))
        left, right = gap[rows, at[rows]], gap[rows, at[rows] + 1]
        share = left / (left - right)
        point = np.exp(log_sizes[at[rows]] + share * (log_sizes[at[rows] + 1] - log_sizes[at[rows]]))
        found[i, i + 1 + rows] = point
        found[i + 1 + rows, i] = point
    return found
