"""Two-stage forecasts: a loss law predicts the loss of a planned run, an error law maps that loss to error."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError, about, renamed
from overtrain.fitting.fit import Fit, fit_error, fit_loss, fit_loss_pooled
from overtrain.fitting.method import PAPER_METHOD, Method
from overtrain.laws.loss import held_out_reason, shared_quantity
from overtrain.quantities import Quantity, physical
from overtrain.runs.fitsets import FitSet
from overtrain.runs.table import RunTable, flops_from
from overtrain.runs.tasks import TaskSet
from overtrain.sizes import size_number, size_text, size_values


def _error_fits(error_fits: Fit | Sequence[Fit] | None, loss_fit: Fit) -> tuple[Fit, ...]:
    fits = () if error_fits is None else (error_fits,) if isinstance(error_fits, Fit) else tuple(error_fits)
    for fit in fits:
        if fit.quantity != Quantity.ERROR:
            raise OvertrainError(f"expected an error-law fit, got a {fit.quantity}-law fit")
        if fit.loss_split != loss_fit.loss_split:
            raise OvertrainError(
                f"the error law maps loss on split {fit.loss_split!r} but the loss law predicts split "
                f"{loss_fit.loss_split!r}"
            )
    return fits


@dataclass(frozen=True)
class Target:
    """A planned run: N parameters and D tokens (given directly or as multiplier M = D/N)."""

    params: float
    tokens: float

    @property
    def multiplier(self) -> float:
        """M = D / N."""
        return self.tokens / self.params

    @property
    def flops(self) -> float:
        """C = 6 N D."""
        return float(flops_from(self.params, self.tokens))

    def describe(self) -> str:
        """The run as summaries name it: `N 6.90B, D 138.00B (M 20)`."""
        return f"N {size_text(self.params)}, D {size_text(self.tokens)} (M {self.multiplier:.3g})"


def quantity_column(key: str) -> str:
    """A forecast quantity's column in DataFrames: `loss`, or `error_<task set>`."""
    return "loss" if key == Quantity.LOSS else f"error_{key}"


def quantity_label(key: str) -> str:
    """A forecast quantity as summaries name it: `loss`, or `error (<task set> tasks)`."""
    return "loss" if key == Quantity.LOSS else f"error ({key} tasks)"


@dataclass(frozen=True)
class Forecast(Target):
    """Predicted loss and average top-1 error (per task set) of one planned run."""

    loss: float
    errors: dict[str, float]
    loss_fit: Fit = field(repr=False)
    error_fits: tuple[Fit, ...] = field(repr=False, default=())
    unphysical: tuple[str, ...] = field(repr=False, default=())

    @property
    def error(self) -> float | None:
        """Average top-1 error for the first task set, or None without an error law."""
        return next(iter(self.errors.values()), None)

    @property
    def flops_ratio(self) -> float:
        """Target compute over the loss fit set's compute: how far the forecast extrapolates."""
        return self.flops / self.loss_fit.fit_flops

    @property
    def reach(self) -> float:
        """Target compute over the compute of the loss fit set's most expensive run: how far the forecast
        extrapolates beyond what any fit run saw, however many runs share that budget (`flops_ratio` where a law
        file does not record it)."""
        largest = self.loss_fit.largest_flops
        return self.flops / largest if np.isfinite(largest) else self.flops_ratio

    def warnings(self) -> list[str]:
        """Why this forecast may be unsafe: thin fit sets, far extrapolation, exponents at a search bound,
        poor fits."""
        notes = list(self.unphysical)
        for fit in (self.loss_fit, *self.error_fits):
            label = f"{fit.quantity} law ({fit.family})"
            if fit.held_out:
                notes.append(f"{label}: {fit.held_out}")
            if fit.quantity == Quantity.LOSS:
                sizes = len(np.unique(fit.inputs[0]))
                if sizes < 3:
                    notes.append(f"{label}: fitted on {sizes} model size{'s' if sizes > 1 else ''}; at least 3 are "
                                 "needed to trust it")
                multipliers = fit.inputs[1] / fit.inputs[0]
                if not multipliers.min() / 4 <= self.multiplier <= multipliers.max() * 4:
                    notes.append(f"{label}: target M = {self.multiplier:.3g} is far outside the fit runs' M "
                                 f"({multipliers.min():.3g} to {multipliers.max():.3g})")
            if fit.at_bound:
                notes.append(f"{label}: an exponent sits at the edge of its search range; the fit is unreliable")
            relative = fit.rmse / float(np.mean(np.abs(fit.observed)))
            if relative > 0.02:
                notes.append(f"{label}: poor fit, residuals {100 * relative:.1f}% of the data on average")
        if self.flops_ratio > 100:
            ratio = f"{self.flops_ratio:.0f}" if self.flops_ratio < 1e5 else f"{self.flops_ratio:.2g}"
            notes.append(f"the target N = {self.params:.3g}, D = {self.tokens:.3g} needs {ratio}x the loss fit set's "
                         "compute; backtests show how far that can be trusted (`overtrain backtest`)")
        return notes

    def summary(self) -> str:
        """One line a person reads: the target and the laws' forecast, e.g. `N 6.90B, D 138.00B (M 20): loss 2.581,
        error (17 tasks) 0.4841`."""
        values = (("loss", self.loss), *self.errors.items())
        return f"{self.describe()}: " + ", ".join(f"{quantity_label(key)} {value:.4g}" for key, value in values)

    def row(self) -> dict[str, Any]:
        """N, D, M, C, the loss and the error per task set, for a DataFrame row (columns as `quantity_column`)."""
        return {"params": self.params, "tokens": self.tokens, "multiplier": self.multiplier, "flops": self.flops,
                "loss": self.loss, **{quantity_column(k): v for k, v in self.errors.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "tokens": self.tokens,
            "multiplier": self.multiplier,
            "flops": self.flops,
            "loss": self.loss,
            "loss_split": self.loss_fit.loss_split,
            "error": self.error,
            "errors": dict(self.errors),
            "flops_ratio_vs_loss_fit": self.flops_ratio,
            "flops_ratio_vs_error_fit": {f.response: self.flops / f.fit_flops for f in self.error_fits},
            "warnings": self.warnings(),
        }


@dataclass(frozen=True)
class Forecasts:
    """Forecasts of several planned runs (`point_forecast` given arrays): a sequence of `Forecast`, with the loss and
    errors as arrays and a DataFrame form."""

    items: tuple[Forecast, ...]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Forecast]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Forecast:
        return self.items[index]

    @property
    def params(self) -> np.ndarray:
        return np.array([f.params for f in self.items])

    @property
    def tokens(self) -> np.ndarray:
        return np.array([f.tokens for f in self.items])

    @property
    def loss(self) -> np.ndarray:
        return np.array([f.loss for f in self.items])

    @property
    def error(self) -> np.ndarray | None:
        """Average top-1 error for the first task set, per run, or None without an error law."""
        return None if not self.items or self.items[0].error is None else np.array([f.error for f in self.items])

    @property
    def flops_ratio(self) -> np.ndarray:
        return np.array([f.flops_ratio for f in self.items])

    def summary(self) -> str:
        """A line per forecast (`Forecast.summary`)."""
        return "\n".join(f.summary() for f in self.forecasts)

    def summary_frame(self) -> pd.DataFrame:
        """One row per target (the results' convention: `summary_frame()` a frame; `to_frame()` the same)."""
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:
        """One row per run: N, D, M, C, loss, the error per task set, the compute ratio, the warnings."""
        return pd.DataFrame([{**f.row(), "flops_ratio": f.flops_ratio, "warnings": "; ".join(f.warnings())}
                             for f in self.items])

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")


@overload
def point_forecast(loss_fit: Fit, error_fits: Fit | Sequence[Fit] | None = None, *, params: float,
                   tokens: float | None = None, multiplier: float | None = None) -> Forecast: ...
@overload
def point_forecast(loss_fit: Fit, error_fits: Fit | Sequence[Fit] | None = None, *,
                   params: np.ndarray | Sequence[float], tokens: Any = None, multiplier: Any = None) -> Forecasts: ...
def point_forecast(
    loss_fit: Fit,
    error_fits: Fit | Sequence[Fit] | None = None,
    *,
    params: Any,
    tokens: Any = None,
    multiplier: Any = None,
) -> Forecast | Forecasts:
    """The fitted laws' forecast of a run, without intervals: L(N, D) from the loss law, then Err(L) from each error
    law. For a forecast with calibrated intervals and warnings from the runs themselves, see `overtrain.predict`.

    Parameters
    ----------
    loss_fit : Fit
        A fitted loss law.
    error_fits : Fit or sequence of Fit, optional
        Fitted error laws (one per task set).
    params : float, str or array-like
        Parameters N ("7B" as on the command line).
    tokens : float, str or array-like, optional
        Training tokens D; give exactly one of `tokens` and `multiplier`.
    multiplier : float, str or array-like, optional
        Tokens per parameter M = D / N.

    Returns
    -------
    Forecast or Forecasts
        One forecast, or with arrays (broadcast together) one per run."""
    if loss_fit.quantity != Quantity.LOSS:
        raise OvertrainError(f"expected a loss-law fit, got a {loss_fit.quantity}-law fit")
    params, tokens, multiplier = (size_values(v, n) for v, n in ((params, "params"), (tokens, "tokens"),
                                                            (multiplier, "multiplier")))
    if any(np.ndim(v) > 0 for v in (params, tokens, multiplier) if v is not None):
        try:
            grid = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (params, tokens, multiplier)
                                         if v is not None))
        except ValueError as error:
            raise OvertrainError(f"forecast: params, tokens and multiplier do not broadcast together ({error})"
                                 ) from None
        names = [n for n, v in (("params", params), ("tokens", tokens), ("multiplier", multiplier)) if v is not None]
        return Forecasts(tuple(point_forecast(loss_fit, error_fits, **{n: float(g.flat[i]) for n, g in zip(names, grid,
                                                                                                        strict=True)})
                               for i in range(grid[0].size)))
    fits = _error_fits(error_fits, loss_fit)
    if (tokens is None) == (multiplier is None):
        raise OvertrainError("a target needs exactly one of tokens or multiplier")
    size = tokens if tokens is not None else multiplier
    for name, value in (("params", params), ("tokens" if tokens is not None else "multiplier", size)):
        if value is None or not np.isfinite(value) or value <= 0:
            raise OvertrainError(f"target {name} must be a positive number, got {value!r}")
    tokens = float(tokens) if tokens is not None else float(multiplier) * float(params)  # type: ignore[arg-type]
    beyond = beyond_design(loss_fit, float(params), tokens)
    if beyond:
        raise OvertrainError(beyond)
    unphysical = []
    raw_loss = float(loss_fit.predict(float(params), tokens))
    loss = physical("loss", raw_loss)
    if loss != raw_loss:
        unphysical.append(f"loss law ({loss_fit.family}): predicts an impossible loss {raw_loss:.4g}; shown as "
                          f"{loss:.3g}, the law does not hold this far out")
    known = {"loss": loss, "params": float(params), "tokens": tokens, "multiplier": tokens / float(params)}
    errors = {}
    for fit in fits:
        if fit.task_set is None:
            continue
        raw = float(fit.predict(*(known[name] for name in fit.law.inputs)))
        errors[fit.task_set.name] = physical("error", raw)
        if errors[fit.task_set.name] != raw:
            unphysical.append(f"error law ({fit.family}, {fit.task_set.name} tasks): predicts an impossible error "
                              f"{raw:.4g}; shown as {errors[fit.task_set.name]:g}, the law does not hold this far out")
        flat = fit.law.flat_tasks
        if flat:
            unphysical.append(f"error law ({fit.family}, {fit.task_set.name} tasks): {len(flat)} of "
                              f"{len(fit.task_set)} tasks are at chance on every fit run and are forecast at their "
                              f"measured error ({', '.join(flat[:4])}{', ...' if len(flat) > 4 else ''})")
    return Forecast(float(params), tokens, loss, errors, loss_fit, fits, tuple(unphysical))


def beyond_design(loss_fit: Fit, params: float, tokens: float) -> str | None:
    """Why a loss law whose fit runs all share one size, token count or multiplier (a term held out, see
    `laws.loss.identifiable_form`) cannot speak for a target of N = `params`, D = `tokens`, or None: the runs say
    nothing of how the loss moves away from the value they share."""
    if not loss_fit.held_out:
        return None
    name, value = shared_quantity(loss_fit.inputs)  # type: ignore[misc]
    at = {"params": params, "tokens": tokens, "multiplier": tokens / params}[name]
    if np.isclose(at, value, rtol=1e-6):
        return None
    symbol = {"params": "N", "tokens": "D", "multiplier": "M"}[name]
    return (f"loss law ({loss_fit.family}): {held_out_reason(loss_fit.inputs)}; it cannot forecast {symbol} = "
            f"{at:.3g}: forecast at {symbol} = {value:.3g}, or add runs of other "
            + {"params": "model sizes", "tokens": "token counts", "multiplier": "multipliers M"}[name])


def within_design(loss_fit: Fit, runs: RunTable) -> np.ndarray:
    """Which of `runs` the loss law can speak for (`beyond_design` finds nothing against them)."""
    return np.array([beyond_design(loss_fit, float(n), float(d)) is None
                     for n, d in zip(runs.params, runs.tokens, strict=True)], dtype=bool)


#: Multipliers closer than this (relative) are one M in a figure: a sweep's M = 20 runs rarely divide exactly.
SAME_MULTIPLIER = 0.03


def distinct_multipliers(multipliers: Sequence[float] | np.ndarray) -> list[float]:
    """The distinct multipliers among `multipliers`, ascending; those within `SAME_MULTIPLIER` of the one before
    count as one, represented by the group's median."""
    values = np.sort(np.asarray(multipliers, dtype=float))
    groups: list[list[float]] = []
    for value in values:
        if groups and value <= groups[-1][0] * (1 + SAME_MULTIPLIER):
            groups[-1].append(float(value))
        else:
            groups.append([float(value)])
    return [float(np.median(group)) for group in groups]


@dataclass(frozen=True)
class LawCurve:
    """A fitted law evaluated along a line, for a figure: loss against compute C at one multiplier M, or (no
    multiplier) an error law against loss. Points with x above `fitted_to` lie beyond the fit runs."""

    x: np.ndarray
    y: np.ndarray
    multiplier: float | None = None
    fitted_to: float = float("inf")


def loss_curves(fit: Fit, targets: Sequence[Target] = (), points: int = 200) -> list[LawCurve]:
    """The loss law against compute at each distinct M of its fit runs and of `targets`: from half the cheapest fit
    run's compute to twice the dearest fit run's or the furthest target's at that M, `fitted_to` the dearest fit
    run's compute."""
    params, tokens = fit.inputs[0], fit.inputs[1]
    flops = np.asarray(flops_from(params, tokens), dtype=float)
    curves = []
    for m in distinct_multipliers([*(tokens / params), *(t.multiplier for t in targets)]):
        ends = [t.flops for t in targets if abs(t.multiplier / m - 1) <= SAME_MULTIPLIER]
        compute = np.geomspace(flops.min() / 2, max([flops.max() * 2, *(2 * end for end in ends)]), points)
        n = np.sqrt(compute / (6 * m))
        curves.append(LawCurve(compute, np.asarray(fit.predict(n, n * m), dtype=float), m, float(flops.max())))
    return curves


def error_curve(fit: Fit, losses: Sequence[float] | np.ndarray, points: int = 200) -> LawCurve | None:
    """An error law of the loss alone against loss, a little beyond `losses` (the runs' and the targets'), clipped
    to [0, 1] (no `fitted_to`: it extrapolates to lower losses, not higher); None for a law that takes more than the
    loss (it is no single curve against loss)."""
    if any(name != Quantity.LOSS for name in fit.law.inputs):
        return None
    grid = np.linspace(float(np.min(losses)) * 0.97, float(np.max(losses)) * 1.02, points)
    return LawCurve(grid, np.clip(np.asarray(fit.predict(grid), dtype=float), 0, 1))


@dataclass(frozen=True)
class ScoredForecast:
    """A forecast set against a run that was actually trained: true and predicted values, relative errors."""

    run: str
    family: str
    multiplier: float
    forecast: Forecast
    loss_true: float
    errors_true: dict[str, float]
    in_loss_fit_set: bool
    in_error_fit_set: bool

    @property
    def loss_rel_err(self) -> float:
        """|predicted - true| / true for the loss."""
        return abs(self.forecast.loss - self.loss_true) / self.loss_true

    def error_rel_err(self, task_set: str) -> float:
        """|predicted - true| / true for the average error over `task_set`."""
        true = self.errors_true[task_set]
        return abs(self.forecast.errors[task_set] - true) / true

    def to_dict(self) -> dict[str, Any]:
        f = self.forecast
        row: dict[str, Any] = {
            "family": self.family,
            "run": self.run,
            "params": f.params,
            "tokens": f.tokens,
            "multiplier": self.multiplier,
            "flops": f.flops,
            "loss_true": self.loss_true,
            "loss_pred": f.loss,
            "loss_rel_err": self.loss_rel_err,
            "flops_ratio_vs_loss_fit": f.flops_ratio,
            "in_loss_fit_set": self.in_loss_fit_set,
            "in_error_fit_set": self.in_error_fit_set,
        }
        for fit in f.error_fits:
            name = fit.task_set.name if fit.task_set is not None else fit.response
            row[f"err{name}_true"] = self.errors_true[name]
            row[f"err{name}_pred"] = f.errors[name]
            row[f"err{name}_rel_err"] = self.error_rel_err(name)
        if f.error_fits:
            row["flops_ratio_vs_error_fit"] = f.flops / f.error_fits[0].fit_flops
        return row


def score_forecasts(loss_fit: Fit, error_fits: Fit | Sequence[Fit] | None, runs: RunTable) -> list[ScoredForecast]:
    """Forecast each of `runs` from its size alone and set the forecast against what the run measured.

    Parameters
    ----------
    loss_fit : Fit
        A fitted loss law.
    error_fits : Fit or sequence of Fit, optional
        Fitted error laws.
    runs : RunTable
        Runs that were trained and measured.

    Returns
    -------
    list of ScoredForecast
        Each run's forecast beside its measured loss and errors, with relative errors."""
    fits = _error_fits(error_fits, loss_fit)
    loss_true = runs.loss_values(loss_fit.loss_split)
    errors_true = {f.task_set.name: runs.error_values(f.task_set) for f in fits if f.task_set is not None}
    error_runs = set().union(*(f.runs for f in fits)) if fits else set()
    loss_runs = set(loss_fit.runs)
    params, tokens = runs.column("params"), runs.column("tokens")
    families, multipliers = runs.column("family"), runs.column("multiplier")
    comparisons = []
    for i, run in enumerate(runs.runs):
        prediction = point_forecast(loss_fit, fits, params=float(params[i]), tokens=float(tokens[i]))
        comparisons.append(
            ScoredForecast(
                run=str(run),
                family=str(families[i]),
                multiplier=float(multipliers[i]),
                forecast=prediction,
                loss_true=float(loss_true[i]),
                errors_true={name: float(values[i]) for name, values in errors_true.items()},
                in_loss_fit_set=run in loss_runs,
                in_error_fit_set=run in error_runs,
            )
        )
    return comparisons


TARGET_KEYS = {"params": "params", "N": "params", "tokens": "tokens", "D": "tokens", "multiplier": "multiplier",
               "M": "multiplier"}


def parse_target(text: str) -> Target:
    """Parse `params=7e9,tokens=2e12` (or `N=7e9,M=20`, or `params=7B,tokens=2T`); sizes must be positive.

    Parameters
    ----------
    text : str
        The target as the command line's `--target` takes it.

    Returns
    -------
    Target
        N and D (D = M N when M is given)."""
    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in TARGET_KEYS:
            raise OvertrainError(f"target {text!r}: cannot read {part.strip()!r}; write params=7e9,tokens=2e12 "
                                 "(or multiplier=20 instead of tokens)")
        name = TARGET_KEYS[key]
        if name in values:
            raise OvertrainError(f"target {text!r}: {name} given twice")
        value = size_number(raw)
        if value is None:
            raise OvertrainError(f"target {text!r}: {name} = {raw.strip()!r} is not a number (write 7e9 or 7B, "
                                 "2e12 or 2T)") from None
        if not np.isfinite(value) or value <= 0:
            raise OvertrainError(f"target {text!r}: {name} must be a positive number, got {raw.strip()}")
        values[name] = value
    if "params" not in values:
        raise OvertrainError(f"target {text!r}: missing params (the model size N)")
    if ("tokens" in values) == ("multiplier" in values):
        raise OvertrainError(f"target {text!r}: give exactly one of tokens or multiplier")
    tokens = values["tokens"] if "tokens" in values else values["multiplier"] * values["params"]
    return Target(values["params"], tokens)


@dataclass(frozen=True)
class FittedLaws:
    """The two fitted laws of one family: loss law and (when the runs carry tasks) error law."""

    loss: Fit
    error: Fit | None = None

    @property
    def family(self) -> str:
        return self.loss.family

    @property
    def task_set(self) -> TaskSet | None:
        """The task set the error law averages over; None without an error law (or one without tasks)."""
        return None if self.error is None else self.error.task_set

    def point_forecast(self, params: float | str, tokens: float | str | None = None,
                       multiplier: float | str | None = None) -> Forecast:
        """The laws' loss and average error of a run of `params` parameters and `tokens` tokens ("7B", "2T" too),
        without intervals (`point_forecast`)."""
        return point_forecast(self.loss, self.error, params=params, tokens=tokens, multiplier=multiplier)

    def forecast(self, params: float | str, tokens: float | str | None = None,
                 multiplier: float | str | None = None) -> Forecast:
        """Deprecated name of `point_forecast`, kept for one release."""
        renamed("FittedLaws.forecast", "FittedLaws.point_forecast")
        return self.point_forecast(params, tokens, multiplier)

    def summary(self) -> str:
        return "\n".join(fit.summary() for fit in (self.loss, self.error) if fit is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "loss": self.loss.to_dict(),
                "error": None if self.error is None else self.error.to_dict()}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FittedLaws:
        return cls(Fit.from_dict(document["loss"]),
                   None if document.get("error") is None else Fit.from_dict(document["error"]))


def default_task_spec(runs: RunTable, tasks: str | Sequence[str] | TaskSet | None
                      ) -> str | Sequence[str] | TaskSet | None:
    """The task set to fit when none is named: every task the runs carry, or none when they carry none (or
    `tasks` is "none")."""
    if tasks == "none" or (tasks is None and not runs.task_names):
        return None
    return "all" if tasks is None else tasks


def fit_families(runs: RunTable, families: Sequence[str], method: Method = PAPER_METHOD, *,
                 loss_split: str | None = None, tasks: str | Sequence[str] | None = None) -> list[FittedLaws]:
    """`fit_laws` for each of `families` of `runs` (a pooled loss law fitted to all of `runs`); an error names the
    family it is about."""
    fitted = []
    for name in families:
        with about(f"family {name!r}"):
            fitted.append(fit_laws(runs.family(name), method, loss_split=loss_split, tasks=tasks, pooled_runs=runs))
    return fitted


def fit_laws(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | TaskSet | None = None, pooled_runs: RunTable | None = None,
    pool: RunTable | None = None,
) -> FittedLaws:
    """Fit both laws of `method` (laws, objective, fit sets) to one family with defaults made for a user's sweep;
    with `method.loss_pooled`, the loss law is fitted to the families of `pooled_runs` (default `runs`; this family
    among them) at once, exponents shared (`fit_loss_pooled`). `pool` is the old name of `pooled_runs` (deprecated).

    Defaults: the loss split is `RunTable.default_split`; the loss fit set is every run with a loss on it; the task
    set is every task the runs carry (no error law if they carry none, or if `tasks` is "none"); the error fit
    set is every run with that loss and all those tasks. A named fit set must supply all of these.

    Parameters
    ----------
    runs : RunTable
        One family's runs.
    method : Method
        Laws, objective and fit sets (default: the paper's, with the exponential error law: `fit` fits one law).
    loss_split : str, optional
        The loss split.
    tasks : str, sequence of str or TaskSet, optional
        The task set ("none": no error law).
    pooled_runs : RunTable, optional
        With `method.loss_pooled`, the families the loss law is fitted to at once.
    pool : RunTable, optional
        Deprecated name of `pooled_runs`.

    Returns
    -------
    FittedLaws
        The loss law and (with tasks) the error law (`point_forecast`, `summary()`).
    """
    if pool is not None:
        renamed("fit_laws(pool=...)", "fit_laws(pooled_runs=...)")
        pooled_runs = pool if pooled_runs is None else pooled_runs
    split = loss_split or runs.default_split()
    loss_law, objective, fit_loss_set = method.loss_law, method.loss_objective, method.loss_fit_set
    if method.loss_pooled:
        if objective != "least-squares":
            raise OvertrainError("a pooled loss fit is by least squares; drop --objective or the pooling")
        loss = fit_loss_pooled(runs if pooled_runs is None else pooled_runs, split, fit_set=fit_loss_set,
                               law=loss_law)[runs.families[0]]
    elif fit_loss_set is None:
        chosen = runs.complete(split)
        loss = fit_loss(chosen, split, fit_set=FitSet(f"runs with loss:{split}", "", "every run with the loss"),
                        law=loss_law, objective=objective)
    else:
        loss = fit_loss(runs, split, fit_set=fit_loss_set, law=loss_law, objective=objective)
    spec = default_task_spec(runs, tasks)
    if spec is None:
        return FittedLaws(loss)
    task_set = runs.task_set(spec)
    if method.error_fit_set is None:
        chosen = runs.complete(split, task_set)
        error = fit_error(chosen, split, task_set, law=method.error_law,
                          fit_set=FitSet(f"runs with loss:{split} and {task_set.name} tasks", "", "complete runs"))
    else:
        error = fit_error(runs, split, task_set, fit_set=method.error_fit_set, law=method.error_law)
    return FittedLaws(loss, error)


@dataclass(frozen=True)
class FamilyCurves:
    """What a figure draws of one family's laws: the loss law at each M (`loss_curves`) and the error law against
    loss (`error_curve`; None without one that is a single curve)."""

    family: str
    loss: tuple[LawCurve, ...]
    error: LawCurve | None = None


def family_curves(runs: RunTable, laws: FittedLaws, targets: Sequence[Forecast] = ()) -> FamilyCurves:
    """The curves of `laws` a figure of `runs` (the family's, or more) and the forecasts `targets` draws."""
    error = None
    fit = laws.error
    if fit is not None and fit.task_set is not None:
        table = runs.family(laws.family).complete(fit.loss_split, fit.task_set)
        error = error_curve(fit, [*table.loss_values(fit.loss_split), *(t.loss for t in targets)])
    return FamilyCurves(laws.family, tuple(loss_curves(laws.loss, targets)), error)
