"""A comparison of data recipes at one target: each family's forecast and spread, the odds, the task choice."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from overtrain.decide.gaps import MIN_REPLICATE_DOF, GapDrift
from overtrain.decide.ranking import Standing
from overtrain.errors import OvertrainError
from overtrain.fitting.fit import Fit
from overtrain.forecasts import Target, quantity_column
from overtrain.laws.loss import held_out_reason, shared_quantity
from overtrain.quantities import Quantity, scale_slope, to_scale
from overtrain.runs.table import ACC, RunTable
from overtrain.trust.calibration import Calibration
from overtrain.trust.intervals import Interval, IntervalParts
from overtrain.trust.parts import fit_width
from overtrain.trust.prediction import FamilyForecasts

#: The compute range searched for the scale where two families' forecasts cross, around the target's.
CROSSING_DECADES = 3.0


CURVE_POINTS = 9


#: Grid of model sizes over which two families' laws are searched for a crossing.
CROSSING_POINTS = 241


#: Families ranked in the terminal by default (every one is in the JSON).
TOP = 10


#: Pairs shown by default: among this many leaders of each quantity (and each against the baseline).
LEADERS = 3


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
        possible = (lambda v: v > 0) if q == Quantity.LOSS else (lambda v: 0 < v < 1)
        reach = [abs(float(to_scale(q, bound)) - centre) for bound in (parts.fit_low, parts.fit_high)
                 if np.isfinite(bound) and possible(bound)]
        fit = (float(np.mean(reach)) if reach else 0.0) * calibration.fit_factor(q) / z
        noise = parts.sigma * float(scale_slope(q, parts.prediction))
        half_width = parts.extrapolation(calibration, fit_width(q, parts.prediction, parts.fit_low, parts.fit_high))
        extrapolation = (half_width if np.isfinite(half_width) else 0.0) / z
        return cls(float(np.hypot(fit, parts.structural)), float(noise), extrapolation)


@dataclass(frozen=True)
class PairOdds:
    """Two families at the target: the probability that the first comes out better on each quantity, and the
    model size where their fitted laws cross (None: not within reach of the target); `gap_sd`, the standard
    deviation of their gap on the interval scale that the probability rests on."""

    first: str
    second: str
    quantity: str
    probability: float
    crossing_params: float | None
    gap_sd: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RecipeForecast:
    """One family at the comparison's target: the forecast of each quantity (`loss`, the error's task-set name)
    and its interval."""

    family: str
    values: dict[str, float]
    intervals: dict[str, Interval]

    @classmethod
    def of(cls, result: FamilyForecasts) -> RecipeForecast:
        """The first forecast of a family's own laws."""
        trusted = result.forecasts[0]
        return cls(result.laws.family, {"loss": trusted.forecast.loss, **trusted.forecast.errors},
                   dict(trusted.intervals))


@dataclass(frozen=True)
class RecipeComparison:
    """Every family's forecast at one target, each quantity's standing (`overtrain.decide.ranking.Standing`: the odds of
    every pair, the chance of being best), and what could not be compared. `shape` says how the families were modelled
    (`own` laws, or one `shared` shape; see `overtrain.decide.shared`) and why; `drift` how far gaps between recipes
    move, which the odds rest on; `crossings` (own laws) where two families' laws cross, per quantity; `tasks` which
    tasks the error averages and which were dropped because some compared family lacks them."""

    target: Target
    forecasts: tuple[RecipeForecast, ...]
    standings: dict[str, Standing]
    skipped: dict[str, str]
    curve: dict[str, list[dict[str, Any]]]
    level: float
    shape: str = "own"
    shape_reason: str = ""
    drift: GapDrift | None = None
    scatter: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)
    crossings: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    tasks: TaskChoice | None = None
    #: Under an automatic shared shape: the families that could not be fitted alone, and why.
    thin: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The loss split and the error's tasks the families were compared on (for drawing their runs).
    loss_split: str = ""
    task_names: tuple[str, ...] = ()

    def scatter_used(self, quantity: str) -> float:
        """The replicate variance (`replicate_noise`) a shared-shape comparison's odds on `quantity` (`loss`,
        `error`) include: 0 unless measured with at least `MIN_REPLICATE_DOF` degrees of freedom."""
        variance, dof = self.scatter.get(quantity, (0.0, 0))
        return variance if dof >= MIN_REPLICATE_DOF else 0.0

    @property
    def quantities(self) -> list[str]:
        """`loss` and the error's task-set name, each where at least two compared families are forecast on it (a
        family whose runs measure no loss on the split, or no error over the task set, is compared on the other)."""
        counts: dict[str, int] = {}
        for forecast in self.forecasts:
            for key in forecast.values:
                counts[key] = counts.get(key, 0) + 1
        return [k for k in ("loss", *sorted(k for k in counts if k != Quantity.LOSS)) if counts.get(k, 0) >= 2]

    def has(self, family: str, key: str) -> bool:
        """Whether `family` is forecast on `key`."""
        return key in self.forecast_of(family).values

    def forecast_of(self, family: str) -> RecipeForecast:
        """`family`'s forecasts at the target."""
        if "_by_family" not in self.__dict__:
            object.__setattr__(self, "_by_family", {f.family: f for f in self.forecasts})
        return self.__dict__["_by_family"][family]

    def value(self, family: str, key: str) -> float:
        return self.forecast_of(family).values[key]

    def ranking(self, key: str) -> list[str]:
        """The families forecast on `key`, from best (lowest forecast) to worst."""
        return sorted((f.family for f in self.forecasts if key in f.values), key=lambda family: self.value(family, key))

    def probability(self, first: str, second: str, key: str) -> float:
        """P(`first` comes out better than `second` on `key`)."""
        standing = self.standings.get(key)
        if standing is None or first not in standing.families or second not in standing.families:
            raise OvertrainError(f"no odds for {first!r} against {second!r} on {key!r}")
        return standing.probability(first, second)

    @property
    def odds(self) -> tuple[PairOdds, ...]:
        """Every pair's odds on every quantity (built when asked: a database of recipes holds many pairs)."""
        return tuple(PairOdds(**pair) for pair in self.pair_records())

    def pair_records(self) -> list[dict[str, Any]]:
        """Every pair on every quantity as JSON-ready records (see `PairOdds`)."""
        return [pair for key, standing in self.standings.items()
                for pair in standing.pairs(self.crossings.get(key))]

    def chances(self, key: str, top: int) -> tuple[np.ndarray, np.ndarray]:
        """P(best) and P(among the `top` best) of each family of `standings[key]` (in its order), from joint draws."""
        found = self.__dict__.setdefault("_chances", {})
        if (key, top) not in found:
            found[key, top] = self.standings[key].chances(top)
        return found[key, top]

    def summary_frame(self) -> pd.DataFrame:
        """One row per family (the results' convention: `summary_frame()` a frame; `to_frame()` the same)."""
        return self.to_frame()

    def summary(self) -> str:
        """A few lines a person reads: the target, how the families were modelled, each quantity's ranking (the
        `TOP` best) with forecasts and intervals and the odds of the first two, what was not compared."""
        frame = self.summary_frame()
        target = self.target
        lines = [f"comparison of {len(self.forecasts)} families at N = {target.params:.3g}, D = {target.tokens:.3g} "
                 f"(M = {target.multiplier:.3g})",
                 f"  modelled with {self.shape_reason or self.shape}"]
        for key in self.quantities:
            name = quantity_column(key)
            ranked = frame[frame[f"{name}_rank"].notna()].sort_values(f"{name}_rank")
            lines.append(f"  {'loss' if key == Quantity.LOSS else f'error ({key})'}, best first, "
                         f"{100 * self.level:g}% intervals:")
            width = max(len(family) for family in ranked["family"].head(TOP))
            for row in ranked.head(TOP).to_dict(orient="records"):
                low, high = row[f"{name}_low"], row[f"{name}_high"]
                span = "no interval" if low is None or pd.isna(low) else f"[{low:.4f}, {high:.4f}]"
                lines.append(f"    {int(row[f'{name}_rank'])}. {row['family']:<{width}}  {row[name]:.4f}  {span}")
            if len(ranked) > TOP:
                lines.append(f"    ... and {len(ranked) - TOP} more")
            if key in self.standings and len(ranked) >= 2:
                first, second = ranked["family"].iloc[0], ranked["family"].iloc[1]
                lines.append(f"    P({first} better than {second}) = {self.probability(first, second, key):.1%}")
        if self.tasks is not None and self.tasks.dropped:
            lines.append(f"  {self.tasks.describe()}")
        for family, why in list(self.skipped.items())[:5]:
            lines.append(f"  not compared: {family}: {why}")
        if len(self.skipped) > 5:
            lines.append(f"  not compared: {len(self.skipped) - 5} more")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per family: forecasts and intervals per quantity, and the rank on each."""
        rows = []
        rankings = {key: {f: i + 1 for i, f in enumerate(self.ranking(key))} for key in self.quantities}
        for result in self.forecasts:
            row: dict[str, Any] = {"family": result.family}
            for key, ranked in rankings.items():
                interval = result.intervals.get(key)
                name = quantity_column(key)
                row[name] = result.values.get(key)
                row[f"{name}_low"] = None if interval is None else interval.low
                row[f"{name}_high"] = None if interval is None else interval.high
                row[f"{name}_rank"] = ranked.get(result.family)
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")

    @property
    def top_k(self) -> int:
        """The k of P(among the k best): 5, or one less than the fewest families ranked on a quantity."""
        sizes = [len(s.families) for s in self.standings.values()]
        return max(1, min(5, min(sizes, default=2) - 1))

    def leader_pairs(self, leaders: int = LEADERS, baseline: str | None = None) -> list[tuple[str, str]]:
        """The pairs worth reading: among each quantity's `leaders` best, and each of them against `baseline`;
        each pair once, the better-ranked family first."""
        chosen: list[tuple[str, str]] = []
        for standing in self.standings.values():
            ranked = [standing.families[i] for i in standing.order()[:leaders]]
            chosen += [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:]]
            if baseline is not None:
                chosen += [(a, baseline) for a in ranked if a != baseline]
        seen: set[frozenset[str]] = set()
        return [p for p in chosen if not (frozenset(p) in seen or seen.add(frozenset(p)))]

    def to_dict(self, pairs: bool = False, baseline: str | None = None) -> dict[str, Any]:
        """JSON-ready: target, every family's forecasts, each quantity's ranking with P(best) and P(among the k
        best), the odds of the leading pairs (of every pair with `pairs`), the drift and scatter the odds rest on,
        the task set, what was not compared."""
        leaders, k = {}, self.top_k
        for key, standing in self.standings.items():
            best, within = self.chances(key, k)
            leaders[key] = [{"family": standing.families[i], "forecast": float(standing.values[i]),
                             "p_best": float(best[i]), "p_top_k": float(within[i])} for i in standing.order()]
        if pairs:
            odds = self.pair_records()
        else:
            odds = [{"first": a, "second": b, "quantity": key, "probability": self.probability(a, b, key)}
                    for a, b in self.leader_pairs(baseline=baseline) for key, standing in self.standings.items()
                    if a in standing.families and b in standing.families]
        return {
            "target": {"params": self.target.params, "tokens": self.target.tokens,
                       "multiplier": self.target.multiplier, "flops": self.target.flops},
            "level": self.level,
            "shape": self.shape,
            "shape_reason": self.shape_reason,
            "tasks": None if self.tasks is None else self.tasks.to_dict(),
            "families": self.to_frame().replace({np.nan: None}).to_dict(orient="records"),
            "ranking": {key: self.ranking(key) for key in self.quantities},
            "standing": {"top_k": k, **leaders},
            "odds": odds,
            "odds_of": "every pair" if pairs else f"the pairs among each quantity's {LEADERS} leaders"
                       + (f" and against {baseline}" if baseline else ""),
            "gap_drift": None if self.drift is None else self.drift.to_dict(),
            "replicate_scatter": {q: {"variance": v, "degrees_of_freedom": dof, "in_odds": self.scatter_used(q) > 0}
                                  for q, (v, dof) in self.scatter.items()},
            "not_compared": self.skipped,
            "curve": self.curve,
        }


@dataclass(frozen=True)
class TaskChoice:
    """The tasks a comparison's error averages when none are named: those every compared family was evaluated on
    (`used`), and each task left out with the families that lack it (`dropped`)."""

    used: tuple[str, ...]
    dropped: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, runs: RunTable, families: Sequence[str]) -> TaskChoice:
        """The tasks scored on at least one run of every one of `families` of `runs` that was evaluated at all (a
        family with no task scored is compared on loss alone)."""
        family_of = runs.column("family")
        scored = {task: np.isfinite(runs.column(ACC + task)) for task in runs.task_names}
        evaluated = set().union(*(family_of[mask] for mask in scored.values())) if scored else set()
        dropped, used = {}, []
        for task, mask in scored.items():
            have = set(family_of[mask])
            lacking = tuple(f for f in families if f in evaluated and f not in have)
            if lacking:
                dropped[task] = lacking
            else:
                used.append(task)
        return cls(tuple(used), dropped)

    @property
    def name(self) -> str:
        """The task set's name: its tasks when at most three, else how many."""
        return ",".join(self.used) if len(self.used) <= 3 else f"{len(self.used)} tasks"

    def describe(self, name: Callable[[str], str] = str) -> str:
        """One line: how many tasks are averaged and which were dropped, with the families most often lacking one
        (each shown as `name` gives it)."""
        text = f"error over the {len(self.used)} tasks every compared family was evaluated on"
        if not self.dropped:
            return text
        counts: dict[str, int] = {}
        for lacking in self.dropped.values():
            for family in lacking:
                counts[family] = counts.get(family, 0) + 1
        worst = sorted(counts, key=lambda f: (-counts[f], f))[:3]
        names = ", ".join(f"{name(f)} ({counts[f]})" for f in worst) + (", ..." if len(counts) > 3 else "")
        return (f"{text}; {len(self.dropped)} dropped ({', '.join(list(self.dropped)[:4])}"
                f"{', ...' if len(self.dropped) > 4 else ''}), lacked by {len(counts)} families, most: {names}")

    def to_dict(self) -> dict[str, Any]:
        return {"used": list(self.used), "dropped": {task: list(f) for task, f in self.dropped.items()}}


def cannot_compare(loss: Fit, target: Target) -> str | None:
    """Why a loss law holding a term out (runs of one D, N or M) cannot be compared at `target`, or None. The
    comparison walks sizes and token counts around the target together, at the target's M: a law of one-M runs
    holds there when the target shares their M; a law of one D or one N holds nowhere along that walk."""
    if not loss.held_out:
        return None
    name, value = shared_quantity(loss.inputs)  # type: ignore[misc]
    if name == "multiplier" and np.isclose(value, target.multiplier, rtol=1e-6):
        return None
    return f"{held_out_reason(loss.inputs)}, so it cannot be compared at M = {target.multiplier:.3g}"


def curve_point(forecast: Target, values: dict[str, float], intervals: dict[str, Interval], keys: Sequence[str]
                 ) -> dict[str, Any]:
    return {"params": forecast.params, "tokens": forecast.tokens, "flops": forecast.flops,
            **{key: values.get(key) for key in keys},
            **{f"{key}_low": intervals[key].low for key in keys if key in intervals},
            **{f"{key}_high": intervals[key].high for key in keys if key in intervals}}
