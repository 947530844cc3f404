"""Which data recipe wins at scale: every family's forecast at one target, and the odds for every pair.

Each family (training distribution, data recipe, tokenizer...) is fitted and forecast as `overtrain forecast` does
(`trust.forecast_families`, intervals calibrated on the development suite). Families too thin to be fitted alone (a
recipe trained at one or two sizes) are compared through a shared shape instead (`shape="shared"`): one law fitted
to all their runs at once, each family offset by where its largest runs sit against it on the interval scale (log
loss, logit error), so that the law's own miss at scale is common to all families and cancels from their order.

Either way the odds that family A beats family B (lower loss, lower error) rest on how far the gap between two
recipes moves, beyond what is forecast, between their runs and the target, taken as normal on the interval scale:

    P(A beats B) = Phi((m_B - m_A) / sqrt(f_A^2 + f_B^2 + n_A^2 + n_B^2 + (v(x_A) + v(x_B)) / 2)),

with m the forecast, f the fit part (resampled fits of each family's own runs; none for a shared shape), n the
target's measurement noise, x the decades of compute from a family's largest runs to the target, and v(x) = c0 +
c1 x the mean squared change of a pair's gap over x decades (`GapDrift`): measured on development testbeds of many
recipes, and for loss on the compared runs themselves when they hold enough gap changes. Under a shared shape, n^2
is the compared runs' own scatter between replicates s^2 (`replicate_noise`), where they hold enough: one run at the
target, plus s^2 / k for an offset that averages k runs (left out where the drift was measured on these runs).
A law that misses at scale misses for every recipe fitted on the same sizes in the same direction; the drift of
gaps measures what is left.
An earlier model took that shared miss as each family's calibrated extrapolation part correlated between families
as the development suite's matched held-out forecasts were: its odds were too cautious on every testbed that judged
it (`benchmarks/recipes.py`). One offset per family never crosses: under a shared shape the order at the target is the
order of the offsets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting import Fit
from overtrain.forecast import FittedLaws, Target, default_task_spec, quantity_column, within_design
from overtrain.laws.loss import held_out_reason, shared_quantity
from overtrain.ranking import Standing, crossings
from overtrain.runs import ACC, RunTable, measured_values
from overtrain.scales import from_scale, physical, scale_slope, to_scale
from overtrain.task_forecasts import per_task_fit, task_forecasts, task_offsets, task_residual_scatter
from overtrain.tasks import TaskSet
from overtrain.testbed import RecipeTestbed, load_recipe_testbeds, load_suite_evidence
from overtrain.trust import (
    DEFAULT_INTERVALS,
    FamilyForecasts,
    FamilyPlan,
    TrustedForecast,
    bounded,
    forecast_family,
)
from overtrain.uncertainty import Calibration, Interval, IntervalParts, fit_width

#: The compute range searched for the scale where two families' forecasts cross, around the target's.
CROSSING_DECADES = 3.0
CURVE_POINTS = 9
#: Grid of model sizes over which two families' laws are searched for a crossing.
CROSSING_POINTS = 241
#: How a comparison models each family: its own fitted laws, one shape shared by all, or own unless a family
#: cannot be fitted alone.
SHAPES = ("auto", "own", "shared")
#: The quantities whose gap drift a shared-shape comparison measures on its own runs when they hold at least
#: `MIN_OWN_CHANGES` independent gap changes. Loss gaps moved about 5x more between DCLM's recipes than between the
#: paper's three datasets, so a loss drift measured on other testbeds does not carry over; measured on each testbed's
#: own smaller runs it scored better on both (Brier, leaving the testbed out: 0.55 against 0.74 on DCLM, 0.086
#: against 0.165 on the paper's runs). Error gaps (logit) moved alike on both, and the development testbeds' drift
#: scored better there on both than the runs' own (`benchmarks/recipes.py`).
OWN_DRIFT = ("loss",)
MIN_OWN_CHANGES = 10
#: Families ranked in the terminal by default (every one is in the JSON).
TOP = 10
#: Pairs shown by default: among this many leaders of each quantity (and each against the baseline).
LEADERS = 3
#: Families compared by their own laws calibrate their intervals on the backtests of at most this many of them:
#: backtesting a database of hundreds would cost minutes and add evidence of the same kind.
CALIBRATION_FAMILIES = 24
#: A shared-shape comparison adds the compared runs' own scatter between replicates (`replicate_noise`) to its odds
#: where it is measured with at least this many degrees of freedom.
MIN_REPLICATE_DOF = 10


def gap_changes(runs: RunTable, split: str, tasks: str | Sequence[str] | TaskSet | None) -> pd.DataFrame:
    """How the gap between two families changes with scale: for every pair of families measured at the same two
    configurations (N and M to two significant digits; several runs at one averaged on the interval scale), the
    decades of compute between the configurations and the change of the pair's gap on the interval scale (log loss,
    logit error). Rows: quantity, decades, change, span (the two configurations), families (how many families
    were measured at both: the span holds families - 1 independent changes)."""
    cells = _Cells.of(runs, split, tasks)
    shape = (len(cells.config_names), cells.n_families)
    log_flops = np.bincount(cells.config_of, np.log10(runs.flops)) / np.bincount(cells.config_of)
    quantities, spans, changes, names, measured = [], [], [], [], []
    for key in ("loss", "error"):
        mean = cells.means(key)[2].reshape(shape)  # NaN where a family has no run at a configuration
        first, second = np.triu_indices(cells.n_families, 1)
        for i, j in zip(*np.triu_indices(len(cells.config_names), 1), strict=True):
            decades = abs(log_flops[j] - log_flops[i])
            if decades < 0.01:
                continue
            change = mean[j] - mean[i] if log_flops[j] > log_flops[i] else mean[i] - mean[j]
            gap_change = change[first] - change[second]
            gap_change = gap_change[np.isfinite(gap_change)]
            quantities += [key] * len(gap_change)
            spans.append(np.full(len(gap_change), decades))
            changes.append(gap_change)
            names += [f"{cells.config_names[i]} -> {cells.config_names[j]}"] * len(gap_change)
            measured += [int(np.isfinite(change).sum())] * len(gap_change)
    return pd.DataFrame({"quantity": quantities, "decades": np.concatenate(spans) if spans else [],
                         "change": np.concatenate(changes) if changes else [], "span": names,
                         "families": measured})


@dataclass(frozen=True)
class _Cells:
    """Runs grouped by family and configuration (N and M to two significant digits): the cells within which the
    laws cannot tell runs apart, numbered configuration x family."""

    runs: RunTable
    split: str
    task_set: TaskSet | None
    config_names: np.ndarray
    config_of: np.ndarray
    n_families: int
    cell: np.ndarray

    @classmethod
    def of(cls, runs: RunTable, split: str, tasks: str | Sequence[str] | TaskSet | None) -> _Cells:
        task_set = runs.task_set(tasks) if runs.task_names and tasks is not None else None
        configs = np.array([f"{n:.2g}/{m:.2g}" for n, m in zip(runs.params, runs.multiplier, strict=True)])
        config_names, config_of = np.unique(configs, return_inverse=True)
        family_names, family_of = np.unique(runs.column("family").astype(str), return_inverse=True)
        return cls(runs, split, task_set, config_names, config_of, len(family_names),
                   config_of * len(family_names) + family_of)

    def means(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For `key` (`loss`, `error`): every run's value on the interval scale (NaN where unmeasured), and per cell
        the number of measured runs and their mean (NaN where none)."""
        values = to_scale(key, measured_values(self.runs, key, self.split, self.task_set))
        ok = np.isfinite(values)
        size = len(self.config_names) * self.n_families
        count = np.bincount(self.cell[ok], minlength=size)
        with np.errstate(invalid="ignore"):
            mean = np.bincount(self.cell[ok], values[ok], minlength=size) / count
        return values, count, mean


def replicate_noise(runs: RunTable, split: str, tasks: str | Sequence[str] | TaskSet | None
                    ) -> dict[str, tuple[float, int]]:
    """How far runs of one family at one configuration (N and M to two significant digits: replicates, or variants
    the laws cannot tell apart) scatter, on the interval scale (log loss, logit error): per quantity (`loss`,
    `error`), the pooled variance s^2 = sum of squared deviations from each such group's mean / (runs - groups),
    and its degrees of freedom (runs - groups over the groups measured more than once; 0: no replicates)."""
    cells = _Cells.of(runs, split, tasks)
    noise = {}
    for key in ("loss", "error"):
        values, count, mean = cells.means(key)
        ok = np.isfinite(values)
        squares = float(np.sum((values[ok] - mean[cells.cell[ok]]) ** 2))
        dof = int(np.sum(np.maximum(count - 1, 0)))
        noise[key] = (squares / dof if dof else 0.0, dof)
    return noise


@dataclass(frozen=True)
class GapDrift:
    """How far the gap between two families moves, on the interval scale, over `x` decades of compute: mean
    squared change c0 + c1 x per quantity (least squares, c0, c1 >= 0, each testbed weighing the same), fitted to
    `gap_changes` of the development testbeds of many recipes (`testbed.load_recipe_testbeds`)."""

    coefficients: dict[str, tuple[float, float]]
    pairs: dict[str, int]
    testbeds: tuple[str, ...]
    own: tuple[str, ...] = ()

    def variance(self, key: str, decades: float) -> float:
        """The variance of a pair's gap change over `decades` (key: `loss` or an error's task-set name)."""
        base, per_decade = self.coefficients["loss" if key == "loss" else "error"]
        return base + per_decade * abs(decades)

    @classmethod
    def fit(cls, changes: dict[str, pd.DataFrame]) -> GapDrift:
        """Fit c0 + c1 x to the squared gap changes of each testbed (name -> `gap_changes` rows)."""
        coefficients, pairs = {}, {}
        for quantity in ("loss", "error"):
            x, y, w = [], [], []
            for rows in changes.values():
                rows = rows[rows["quantity"] == quantity]
                if len(rows):
                    x.append(rows["decades"].to_numpy())
                    y.append(rows["change"].to_numpy() ** 2)
                    w.append(np.full(len(rows), 1.0 / len(rows)))
            if not x:
                raise OvertrainError(f"no development testbed measures how {quantity} gaps between families change")
            xs, ys, ws = np.concatenate(x), np.concatenate(y), np.concatenate(w)
            coefficients[quantity] = _nonnegative_line(xs, ys, ws)
            pairs[quantity] = len(xs)
        return cls(coefficients, pairs, tuple(changes))

    def with_own(self, changes: pd.DataFrame, quantities: Sequence[str] = OWN_DRIFT) -> GapDrift:
        """This drift with each of `quantities` fitted to the compared runs' own gap changes (`gap_changes`) instead,
        where they hold at least `MIN_OWN_CHANGES` independent changes (a span measuring k families holds k - 1)."""
        coefficients, pairs, own = dict(self.coefficients), dict(self.pairs), []
        for quantity in quantities:
            rows = changes[changes["quantity"] == quantity]
            independent = int((rows.groupby("span")["families"].first() - 1).sum()) if len(rows) else 0
            if independent >= MIN_OWN_CHANGES:
                coefficients[quantity] = _nonnegative_line(rows["decades"].to_numpy(), rows["change"].to_numpy() ** 2,
                                                           np.ones(len(rows)))
                pairs[quantity] = len(rows)
                own.append(quantity)
        return dataclasses.replace(self, coefficients=coefficients, pairs=pairs, own=tuple(own))

    def source(self, quantity: str) -> str:
        """Where the drift of `quantity` was measured."""
        return "the compared runs" if quantity in self.own else " and ".join(self.testbeds)

    def to_dict(self) -> dict[str, Any]:
        return {q: {"base": c0, "per_decade": c1, "pairs": self.pairs[q], "measured_on": self.source(q)}
                for q, (c0, c1) in self.coefficients.items()}


def _nonnegative_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares y ~ c0 + c1 x with c0, c1 >= 0 (the best of the free fit and the two one-term fits)."""
    def loss(c0: float, c1: float) -> float:
        return float(np.sum(w * (y - c0 - c1 * x) ** 2))

    candidates = [(float(np.sum(w * y) / np.sum(w)), 0.0), (0.0, float(np.sum(w * x * y) / np.sum(w * x * x)))]
    design = np.stack([np.ones_like(x), x], axis=1) * np.sqrt(w)[:, None]
    free = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)[0]
    if np.all(free >= 0):
        candidates.append((float(free[0]), float(free[1])))
    return min((c for c in candidates if min(c) >= 0), key=lambda c: loss(*c))


_drift_cache: dict[tuple[str, ...], GapDrift] = {}


def measure_gap_drift(exclude: Sequence[str] = (), testbeds: Sequence[RecipeTestbed] | None = None) -> GapDrift:
    """`GapDrift` fitted to the development testbeds of many recipes, leaving out those named in `exclude` (to
    judge a method on a testbed it never saw)."""
    if testbeds is None:
        key = tuple(sorted(exclude))
        if key not in _drift_cache:
            _drift_cache[key] = measure_gap_drift(exclude, load_recipe_testbeds())
        return _drift_cache[key]
    return GapDrift.fit({t.name: gap_changes(t.runs, t.loss_split, t.tasks) for t in testbeds
                         if t.name not in exclude})


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
        half_width = float(calibration.half_width(q, parts.distance,
                                                  fit_width(q, parts.prediction, parts.fit_low, parts.fit_high)))
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
    """Every family's forecast at one target, each quantity's standing (`ranking.Standing`: the odds of every pair,
    the chance of being best), and what could not be compared. `shape` says how the families were modelled (`own`
    laws, or one `shared` shape; see the module notes) and why; `drift` how far gaps between recipes move, which the
    odds rest on; `crossings` (own laws) where two families' laws cross, per quantity; `tasks` which tasks the error
    averages and which were dropped because some compared family lacks them."""

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
        return [k for k in ("loss", *sorted(k for k in counts if k != "loss")) if counts.get(k, 0) >= 2]

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
    evidence: pd.DataFrame | None = None, shape: str = "auto", drift: GapDrift | None = None, curve: bool = False,
    **options: Any,
) -> RecipeComparison:
    """Forecast every family of `runs` at `target` and compare them pair by pair. `shape`: `own` fits each family
    alone as `overtrain forecast` does (`options` go to `trust.forecast_family`: fit sets, laws, tasks...);
    `shared` fits one law to all of them and offsets each family; `auto` is `own` when every family can be fitted
    alone and `shared` otherwise. The odds rest on `drift` (default: measured on every development testbed of many
    recipes), its loss part measured on `runs` where they hold enough gap changes (see the module notes). A family
    that cannot be compared is reported in `skipped` with the reason, not dropped silently. With `curve`, each
    family is also forecast along sizes around the target (`RecipeComparison.curve`, which the figure draws). With
    no `tasks` named, the error averages the tasks every compared family was evaluated on (`TaskChoice`)."""
    if shape not in SHAPES:
        raise OvertrainError(f"unknown shape {shape!r} (choose from {', '.join(SHAPES)})")
    names = list(families or runs.families)
    if len(names) < 2:
        raise OvertrainError(f"{runs.source}: comparing needs at least 2 families, got {len(names)}")
    evidence = load_suite_evidence() if evidence is None else evidence
    drift = measure_gap_drift() if drift is None else drift
    choice = None
    if options.get("tasks") is None and runs.task_names:
        compared = runs.subset(np.isin(runs.column("family"), names))
        choice = TaskChoice.of(compared, names)
        if not choice.used:
            raise OvertrainError(f"{runs.source}: no task was scored for every compared family ({choice.describe()}"
                                 "); name the tasks with --tasks, or the families with --family")
        if choice.dropped:
            options = {**options, "tasks": TaskSet(choice.name, choice.used)}
    ladder = [Target(target.params * f, target.tokens * f)
              for f in np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CURVE_POINTS)] if curve else []
    if shape != "shared":
        results, skipped = _own_forecasts(runs, names, target, ladder, level, evidence, options)
        if shape == "own" or not skipped:
            if len(results) < 2:
                raise OvertrainError(f"{runs.source}: fewer than 2 families can be forecast ("
                                     + "; ".join(f"{k}: {v}" for k, v in skipped.items())
                                     + "); --shape shared compares families too thin to fit alone")
            reason = "each family's own laws" + ("" if shape == "own" else ": every family can be fitted alone")
            comparison = _compare_own(runs, target, results, skipped, level, drift, reason, options)
            return dataclasses.replace(comparison, tasks=choice, **_measured_on(results[0].laws))
        reason = f"{len(skipped)} of {len(names)} families cannot be fitted alone, so all share one shape"
        thin = skipped
    else:
        reason, thin = "asked for", {}
    comparison, laws = _compare_shared(runs, names, target, ladder, level, evidence, drift, reason, options)
    return dataclasses.replace(comparison, tasks=choice, thin=thin, **_measured_on(laws))


def _measured_on(laws: FittedLaws) -> dict[str, Any]:
    """The loss split and the tasks a comparison's laws were fitted on."""
    return {"loss_split": laws.loss.loss_split, "task_names": () if laws.task_set is None else laws.task_set.tasks}


def _own_forecasts(runs: RunTable, names: Sequence[str], target: Target, ladder: Sequence[Target], level: float,
                   evidence: pd.DataFrame, options: dict[str, Any]) -> tuple[list[FamilyForecasts], dict[str, str]]:
    """Each family forecast from its own runs at the target and along the ladder, and why the others cannot be. A
    family none of whose runs measures an error over the task set is forecast on loss alone."""
    results, skipped, cache = [], {}, {}
    spec = default_task_spec(runs, options.get("tasks"))
    say = options.get("progress") or (lambda step: None)
    calibration_runs = runs
    if len(names) > CALIBRATION_FAMILIES:  # evenly spread over the names: the backtests' evidence, not all of it
        chosen = [names[int(i)] for i in np.linspace(0, len(names) - 1, CALIBRATION_FAMILIES)]
        calibration_runs = runs.subset(np.isin(runs.column("family"), chosen))
    for count, name in enumerate(names, 1):
        say(f"family {count} of {len(names)}: {name}")
        family = runs.family(name)
        own = {**options, "progress": None}
        if spec is not None and not np.isfinite(measured_values(family, "error", "", family.task_set(spec))).any():
            own["tasks"] = "none"
        try:
            result = forecast_family(family, [target, *ladder], calibration_runs=calibration_runs, level=level,
                                     evidence=evidence, cache=cache, per_task=False, **own)
        except OvertrainError as error:
            skipped[name] = str(error)
            continue
        why = _cannot_compare(result.laws.loss, target)
        if why:
            skipped[name] = why
        else:
            results.append(result)
    return results, skipped


def _curve_point(forecast: Any, values: dict[str, float], intervals: dict[str, Interval], keys: Sequence[str]
                 ) -> dict[str, Any]:
    return {"params": forecast.params, "tokens": forecast.tokens, "flops": forecast.flops,
            **{key: values.get(key) for key in keys},
            **{f"{key}_low": intervals[key].low for key in keys if key in intervals},
            **{f"{key}_high": intervals[key].high for key in keys if key in intervals}}


def _compare_own(runs: RunTable, target: Target, results: list[FamilyForecasts], skipped: dict[str, str],
                 level: float, drift: GapDrift, reason: str, options: dict[str, Any]) -> RecipeComparison:
    """Compare families each forecast from its own laws (see the module notes)."""
    drift = _drift_with_runs(drift, runs, [r.laws.family for r in results],
                             next((r.laws for r in results if r.laws.error is not None), results[0].laws))
    comparison = RecipeComparison(target, tuple(RecipeForecast.of(r) for r in results), {}, skipped, {}, level,
                                  "own", reason, drift)
    log_flops = np.log10(target.flops)
    sizes = target.params * np.logspace(-CROSSING_DECADES / 2, CROSSING_DECADES / 2, CROSSING_POINTS)
    standings, crossings_of = {}, {}
    for key in comparison.quantities:
        members = [r for r in results if key in r.forecasts[0].parts]
        if len(members) < 2:
            continue
        quantity = "loss" if key == "loss" else "error"
        sd = []
        for r in members:
            spread = Spread.of(r.forecasts[0].parts[key], r.calibration, level)
            seen = _last_seen(runs.family(r.laws.family), r.laws, key)
            moved = 0.0 if seen is None else drift.variance(key, log_flops - seen) / 2
            sd.append(float(np.sqrt(spread.fit**2 + spread.noise**2 + moved)))
        names = tuple(r.laws.family for r in members)
        standings[key] = Standing(key, names, np.array([comparison.value(n, key) for n in names]), np.array(sd))
        curves = np.array([_size_curve(r.laws, quantity, key, sizes, target.multiplier) for r in members])
        crossings_of[key] = crossings(curves, sizes, target.params)
    curve = {}
    for r in results:
        curve[r.laws.family] = [_curve_point(t.forecast, {"loss": t.forecast.loss, **t.forecast.errors},
                                             t.intervals, comparison.quantities) for t in r.forecasts[1:]]
    return dataclasses.replace(comparison, standings=standings, crossings=crossings_of, curve=curve)


def _size_curve(laws: FittedLaws, quantity: str, key: str, sizes: np.ndarray, multiplier: float) -> np.ndarray:
    """A family's forecast of `quantity` (error: over task set `key`) at each of `sizes`, at `multiplier`."""
    tokens = sizes * multiplier
    loss = physical("loss", np.asarray(laws.loss.predict(sizes, tokens), dtype=float))
    if quantity == "loss":
        return loss
    fit = laws.error
    known = {"loss": loss, "params": sizes, "tokens": tokens, "multiplier": np.full_like(sizes, multiplier)}
    values = np.asarray(fit.predict(*(known[name] for name in fit.law.inputs)), dtype=float)
    return physical("error", np.broadcast_to(values, sizes.shape))


@dataclass(frozen=True)
class _Offset:
    """Where one family's largest runs sit against the shared law on one quantity: the mean difference on the
    interval scale, the compute (log10 FLOPs, mean) and number of those runs, and the compute of all the family's
    runs that measure the quantity (what its forecast extrapolates from), together and of the most expensive."""

    offset: float
    log_flops: float
    runs: int
    fit_flops: float
    largest_flops: float

    def distance(self, flops: float, distance: str) -> float:
        """The compute distance from these runs to a target of `flops`, measured as `distance` says (see
        `uncertainty.DISTANCES`)."""
        return flops / (self.fit_flops if distance == "total" else self.largest_flops)


def _largest_measured(runs: RunTable, key: str, split: str, task_set: TaskSet | None
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """A family's largest runs measuring `key` (N within 10% of the largest such run) as a mask, with every run's
    measured value; None when no run of the family measures `key`."""
    values = measured_values(runs, key, split, task_set)
    measured = np.isfinite(values)
    if not measured.any():
        return None
    return measured & (runs.params >= 0.9 * runs.params[measured].max()), values


def _last_seen(runs: RunTable, laws: FittedLaws, key: str) -> float | None:
    """The compute (log10 FLOPs, mean) of a family's largest runs measuring `key`, or None when none does."""
    found = _largest_measured(runs, key, laws.loss.loss_split, laws.task_set)
    return None if found is None else float(np.mean(np.log10(runs.flops[found[0]])))


def _offset(runs: RunTable, laws: FittedLaws, key: str) -> _Offset | None:
    """A family's `_Offset` on `key` against the shared `laws`, from its largest measured runs the laws can speak
    for (`forecast.within_design`), or None when no such run of the family measures `key`."""
    runs = runs.subset(within_design(laws.loss, runs))
    found = _largest_measured(runs, key, laws.loss.loss_split, laws.task_set)
    if found is None:
        return None
    largest, values = found
    quantity = "loss" if key == "loss" else "error"
    shared = [laws.forecast(float(n), float(d)) for n, d in zip(runs.params[largest], runs.tokens[largest],
                                                                  strict=True)]
    predicted = np.array([f.loss if key == "loss" else f.errors[key] for f in shared])
    offset = float(np.mean(to_scale(quantity, values[largest]) - to_scale(quantity, predicted)))
    own = runs.flops[np.isfinite(values)]
    return _Offset(offset, float(np.mean(np.log10(runs.flops[largest]))), int(largest.sum()), float(own.sum()),
                   float(own.max()))


def recipe_forecasts(result: FamilyForecasts, recipe_runs: RunTable, level: float,
                     distance: str = DEFAULT_INTERVALS.distance, pooled_runs: RunTable | None = None
                     ) -> list[TrustedForecast]:
    """`result`'s forecasts (of a law fitted to several recipes pooled) for one recipe: each quantity moved by the
    recipe's offset (where its largest runs in `recipe_runs` sit against the pooled law, on the interval scale), its
    interval rebuilt around the moved forecast with the extrapolation part grown from the recipe's own runs. A
    quantity none of the recipe's runs measures stays the pooled law's. Each bound is kept below what the recipe's own
    smaller fit runs measured (`trust.bounded`). Given the runs the pooled law was fitted to (`pooled_runs`), each
    task's forecast (where the forecasts carry them) moves by the recipe's own offset on that task
    (`task_forecasts.task_offsets`)."""
    laws, calibration = result.laws, result.calibration
    keys = ["loss", *(() if laws.task_set is None else (laws.task_set.name,))]
    offsets = {key: o for key in keys if (o := _offset(recipe_runs, laws, key)) is not None}
    task_fit = None if pooled_runs is None else per_task_fit(pooled_runs, laws)
    if task_fit is not None:
        scatter = task_residual_scatter(task_fit, pooled_runs)
        shifts = task_offsets(pooled_runs, task_fit, laws, recipe_runs)
    moved = []
    for trusted in result.forecasts:
        tasks = trusted.tasks
        if task_fit is not None and trusted.tasks and laws.task_set.name in trusted.parts:
            reach = (offsets[laws.task_set.name].distance(trusted.forecast.flops, distance)
                     if laws.task_set.name in offsets else trusted.parts[laws.task_set.name].distance)
            tasks = task_forecasts(recipe_runs, task_fit, trusted.forecast, calibration, level, reach, scatter, shifts)
        forecast, parts, intervals = trusted.forecast, dict(trusted.parts), dict(trusted.intervals)
        values = {"loss": forecast.loss, **forecast.errors}
        for key, at in offsets.items():
            quantity = "loss" if key == "loss" else "error"
            values[key] = float(from_scale(quantity, to_scale(quantity, values[key]) + at.offset))
            if key in parts:
                parts[key] = dataclasses.replace(parts[key].moved_to(values[key]),
                                                 distance=at.distance(forecast.flops, distance))
        errors = {name: values[name] for name in forecast.errors}
        forecast, parts = bounded(recipe_runs, laws, dataclasses.replace(forecast, loss=values["loss"],
                                                                         errors=errors), parts, level)
        if calibration is not None:
            intervals = {key: part.interval(calibration.finite(), level) for key, part in parts.items()}
        moved.append(dataclasses.replace(trusted, forecast=forecast, parts=parts, intervals=intervals, tasks=tasks))
    return moved


def _drift_with_runs(drift: GapDrift, runs: RunTable, families: Sequence[str], laws: FittedLaws) -> GapDrift:
    """`drift` with the parts `GapDrift.with_own` takes from the compared families' own runs, measured as `laws`
    are (loss split, task set)."""
    compared = runs.subset(np.isin(runs.column("family"), list(families)))
    return drift.with_own(gap_changes(compared, laws.loss.loss_split, laws.task_set))


def _replicate_part(variance: float, own_drift: bool, runs: int) -> float:
    """One family's share of the variance a pair's gap gains from replicate scatter s^2: its one run at the target,
    s^2, and its offset's own scatter, s^2 / k for an offset averaging k runs, unless the drift was measured on the
    compared runs' gap changes, which hold it already (a pair's gap gains both families' shares)."""
    return variance * (1.0 + (0.0 if own_drift else 1.0 / runs))


def _shifted(quantity: str, value: float, interval: Interval | None, offset: float, variance: float, z: float
             ) -> tuple[float, Interval]:
    """The shared forecast `value` and its interval moved by `offset` on the interval scale, each bound widened in
    quadrature by the offset's drift (standard deviation sqrt(`variance`))."""
    centre = float(to_scale(quantity, value))
    spread = z * np.sqrt(variance)
    bounds = []
    for bound, sign in ((None if interval is None else interval.low, -1.0),
                        (None if interval is None else interval.high, 1.0)):
        reach = 0.0 if bound is None or not np.isfinite(bound) else abs(float(to_scale(quantity, bound)) - centre)
        bounds.append(float(from_scale(quantity, centre + offset + sign * np.hypot(reach, spread))))
    level = interval.level if interval is not None else float(2 * NormalDist().cdf(z) - 1)
    return float(from_scale(quantity, centre + offset)), Interval(bounds[0], bounds[1], level)


def _compare_shared(runs: RunTable, names: Sequence[str], target: Target, ladder: Sequence[Target], level: float,
                    evidence: pd.DataFrame, drift: GapDrift, reason: str, options: dict[str, Any]
                    ) -> tuple[RecipeComparison, FittedLaws]:
    """Compare the families through one shape fitted to all their runs (see the module notes)."""
    chosen = runs.subset(np.isin(runs.column("family"), names))
    split = options.get("loss_split") or chosen.default_split()
    pooled = RunTable(chosen.frame.assign(family="shared shape"), chosen.tasks, chosen.source)
    shared = forecast_family(pooled, [target, *ladder], calibration_runs=pooled, level=level, evidence=evidence,
                             per_task=False, **options)
    laws = shared.laws
    why = _cannot_compare(laws.loss, target)
    if why:
        raise OvertrainError(f"{runs.source}: the law all families share: {why}")
    drift = _drift_with_runs(drift, chosen, names, laws)
    scatter = replicate_noise(chosen, split, laws.task_set)
    comparison = RecipeComparison(target, (), {}, {}, {}, level, "shared", reason, drift, scatter)
    keys = ["loss", *sorted(k for k in shared.forecasts[0].intervals if k != "loss")]
    z = NormalDist().inv_cdf(0.5 + level / 2)
    skipped: dict[str, str] = {}
    offsets: dict[str, dict[str, _Offset]] = {}
    for name in names:
        found = {key: o for key in keys if (o := _offset(chosen.family(name), laws, key)) is not None}
        if not found:
            errors = "" if len(keys) < 2 else f" or an error over every task of {keys[1]!r}"
            skipped[name] = f"no run with a loss on {split}{errors}"
            continue
        offsets[name] = found
    keys = [k for k in keys if sum(k in o for o in offsets.values()) >= 2]
    if len(offsets) < 2 or not keys:
        raise OvertrainError(f"{runs.source}: fewer than 2 families measure the same quantity ("
                             + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")

    def family_view(name: str, trusted: Any) -> tuple[dict[str, float], dict[str, Interval]]:
        values, intervals = {}, {}
        forecast = trusted.forecast
        for key in (k for k in keys if k in offsets[name]):
            quantity = "loss" if key == "loss" else "error"
            at = offsets[name][key]
            decades = np.log10(forecast.flops) - at.log_flops
            interval, part = trusted.intervals.get(key), trusted.parts.get(key)
            if part is not None and shared.calibration is not None:
                # the extrapolation part grows with the distance from the family's own runs, not from all of them
                reach = at.distance(forecast.flops, options.get("options", DEFAULT_INTERVALS).distance)
                interval = dataclasses.replace(part, distance=reach).interval(shared.calibration.finite(), level)
            values[key], intervals[key] = _shifted(
                quantity, forecast.loss if key == "loss" else forecast.errors[key], interval, at.offset,
                drift.variance(key, decades) / 2, z)
        return values, intervals

    forecasts, curve = [], {}
    for name in offsets:
        values, intervals = family_view(name, shared.forecasts[0])
        forecasts.append(RecipeForecast(name, values, intervals))
        curve[name] = [_curve_point(t.forecast, *family_view(name, t), keys) for t in shared.forecasts[1:]]
    log_flops = np.log10(target.flops)
    by_family = {f.family: f for f in forecasts}
    standings = {}
    for key in keys:
        members = tuple(f for f in offsets if key in offsets[f])
        quantity = "loss" if key == "loss" else "error"
        scatter_variance = comparison.scatter_used(quantity)
        own_drift = quantity in drift.own
        # one law for all: no fit part of a family's own; each family's share of the gap's drift and replicate noise
        variance = np.array([drift.variance(key, log_flops - offsets[f][key].log_flops) / 2
                             + _replicate_part(scatter_variance, own_drift, offsets[f][key].runs) for f in members])
        values = np.array([by_family[f].values[key] for f in members])
        standings[key] = Standing(key, members, values, np.sqrt(variance))
    return dataclasses.replace(comparison, forecasts=tuple(forecasts), standings=standings, skipped=skipped,
                               curve=curve), laws


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


def cheaper(first: tuple[Any, Spread, float, float], second: tuple[Any, Spread, float, float]) -> float:
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


def cheaper_pairs(entries: Sequence[tuple[FittedLaws, Any, dict[str, IntervalParts], Calibration]], level: float,
                  runs: RunTable, drift: GapDrift | None = None) -> list[dict[str, Any]]:
    """For every pair of families' plans to reach one target (each entry: the family's laws, its plan, the interval
    parts and calibration of the forecast at the plan), P(the first gets there with less compute; see `cheaper`).
    The gap drift is `compare`'s: `drift` (default: the development testbeds') with the loss drift of `runs`' own
    gap changes where they hold enough."""
    if not entries:
        return []
    drift = _drift_with_runs(measure_gap_drift() if drift is None else drift, runs,
                             [entry[0].family for entry in entries], entries[0][0])
    costs = []
    for laws, plan, parts, calibration in entries:
        key = "loss" if plan.target_error is None else next(iter(plan.forecast.errors))
        seen = _last_seen(runs.family(laws.family), laws, key)
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
    """`cheaper_pairs` for the families' plans (`trust.plan_families`) at each inference volume, where the plans
    carry calibrated intervals."""
    rows = []
    for volume in dict.fromkeys(p.plan.inference_tokens for p in plans):
        entries = [(p.laws, p.plan, p.parts, p.calibration) for p in plans
                   if p.plan.inference_tokens == volume and p.calibration is not None and p.parts]
        rows += [{"first": row["first"], "second": row["second"], "inference_tokens": volume, **row}
                 for row in cheaper_pairs(entries, level, runs)]
    return rows
