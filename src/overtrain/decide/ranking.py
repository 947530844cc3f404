"""Every compared family on one quantity at once: the odds of every pair, the chance of being best or in the top k.

Each family's run at the target is taken as its forecast c (on the interval scale: log loss, logit error) plus an
independent normal miss of standard deviation s, which holds the family's own fit part and target noise and its share
of how far gaps between recipes move with scale (`overtrain.decide.gaps`). Then, for every pair at once,

    P(A beats B) = Phi((c_B - c_A) / sqrt(s_A^2 + s_B^2)),

the chance that a family comes out best is the integral over its own miss z of the chance that every other does
worse,

    P(A best) = integral phi(z) prod_{B != A} Phi((c_B - c_A - s_A z) / s_B) dz,

taken on a fixed grid (so with two families P(A best) is P(A beats B), to 1e-6: one number for one question), and the
chance of being among the k best is counted over joint draws of every family's miss, one draw serving every family.
Arrays over families throughout: a thousand families cost a second for the ranking and a million pair odds a few
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from overtrain.scales import to_scale

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
        return "loss" if self.key == "loss" else "error"

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
        docstring), on a fixed grid; a family whose run is certain (s = 0) has its forecast for its run. A family
        that beats some other with odds below `_NEGLIGIBLE` is best with less than that and counts 0, and only the
        families that could beat a family's run somewhere on the grid enter its product."""
        centre, sd = self.centre, np.asarray(self.sd, dtype=float)
        odds = self.probabilities()
        chance = np.zeros(len(centre))
        certain = sd <= 0
        for i in np.flatnonzero(odds.min(axis=1) >= _NEGLIGIBLE):
            others = np.arange(len(centre)) != i
            if sd[i] <= 0:  # this family's run is its forecast: every other must do worse than it
                gap = centre[others] - centre[i]
                chance[i] = float(np.prod(np.where(sd[others] > 0, ndtr(gap / np.where(sd[others] > 0, sd[others], 1)),
                                                   np.where(gap > 0, 1.0, np.where(gap == 0, 0.5, 0.0)))))
                continue
            # a certain rival ahead cuts the integral off where this family's run would fall behind it
            limits = (centre[certain & others] - centre[i]) / sd[i]
            upper = min(_MISS_GRID[-1], float(limits.min())) if len(limits) else _MISS_GRID[-1]
            if upper <= _MISS_GRID[0]:
                continue
            shrink = (upper - _MISS_GRID[0]) / (_MISS_GRID[-1] - _MISS_GRID[0])
            miss, weight = _MISS_GRID[0] + shrink * (_MISS_GRID - _MISS_GRID[0]), _SIMPSON * shrink
            outcome = centre[i] + sd[i] * miss  # (K,): this family's run
            rivals = np.flatnonzero((centre - 9 * sd < outcome[-1]) & others & ~certain)
            worse = ndtr((centre[rivals, None] - outcome[None, :]) / sd[rivals, None])  # (R, K)
            density = np.exp(-0.5 * miss**2) / np.sqrt(2 * np.pi) * weight
            chance[i] = float(np.prod(worse, axis=0) @ density)
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
