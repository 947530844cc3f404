"""How far the gap between two recipes moves with scale, beyond what is forecast: what the odds rest on.

The odds that family A beats family B (lower loss, lower error) take that movement as normal on the interval scale:

    P(A beats B) = Phi((m_B - m_A) / sqrt(f_A^2 + f_B^2 + n_A^2 + n_B^2 + (v(x_A) + v(x_B)) / 2))

with m the forecast, f the fit part (none for a shared shape), n the target's measurement noise, x the decades of
compute from a family's largest runs to the target, and v(x) = c0 + c1 x the mean squared change of a pair's gap
over x decades (`GapDrift`), measured on development testbeds of many recipes and, for loss, on the compared runs
themselves when they hold enough gap changes. Under a shared shape n^2 is the compared runs' own scatter between
replicates s^2 (`replicate_noise`): one run at the target, plus s^2 / k for an offset that averages k runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.forecasts import FittedLaws
from overtrain.quantities import Quantity, to_scale
from overtrain.runs.table import RunTable, measured_values
from overtrain.runs.tasks import TaskSet
from overtrain.runs.testbed import RecipeTestbed, load_recipe_testbeds

#: The quantities whose gap drift a comparison measures on its own runs when they hold at least `MIN_OWN_CHANGES`
#: independent gap changes (the others take the development testbeds'; why: docs/recipes-evidence.md).
OWN_DRIFT = ("loss",)
MIN_OWN_CHANGES = 10


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
    `gap_changes` of the development testbeds of many recipes (`overtrain.runs.testbed.load_recipe_testbeds`)."""

    coefficients: dict[str, tuple[float, float]]
    pairs: dict[str, int]
    testbeds: tuple[str, ...]
    own: tuple[str, ...] = ()

    def variance(self, key: str, decades: float) -> float:
        """The variance of a pair's gap change over `decades` (key: `loss` or an error's task-set name)."""
        base, per_decade = self.coefficients[Quantity.of(key)]
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


def drift_with_runs(drift: GapDrift, runs: RunTable, families: Sequence[str], laws: FittedLaws) -> GapDrift:
    """`drift` with the parts `GapDrift.with_own` takes from the compared families' own runs, measured as `laws`
    are (loss split, task set)."""
    compared = runs.subset(np.isin(runs.column("family"), list(families)))
    return drift.with_own(gap_changes(compared, laws.loss.loss_split, laws.task_set))


def replicate_part(variance: float, own_drift: bool, runs: int) -> float:
    """One family's share of the variance a pair's gap gains from replicate scatter s^2: its one run at the target,
    s^2, and its offset's own scatter, s^2 / k for an offset averaging k runs, unless the drift was measured on the
    compared runs' gap changes, which hold it already (a pair's gap gains both families' shares)."""
    return variance * (1.0 + (0.0 if own_drift else 1.0 / runs))
