"""The trusted forecast, the third of trust's three results (`Prediction`, made by `predict`): the method chosen by
evidence, intervals calibrated by backtests, warnings attached.

This is what `overtrain forecast` runs for each family: fit the laws (the named method, or with `auto` the one
that backtests best on these runs; given fit sets, the size-ahead protocol also weighs their `+cheap` extensions),
forecast each target, calibrate the extrapolation part of the intervals on a backtest of the same runs with the
same method, and attach the forecast's warnings. A `ForecastRequest` says what is asked, an `Evidence` what else
the forecast learns from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError, about, renamed
from overtrain.fitting.method import DEFAULT_METHOD, Method, base_method
from overtrain.forecasts import (
    FittedLaws,
    Forecast,
    Target,
    default_task_spec,
    fit_laws,
    quantity_column,
    quantity_label,
)
from overtrain.laws import ENSEMBLE
from overtrain.names import DEFAULT_LEVEL
from overtrain.quantities import Quantity
from overtrain.runs.table import RunTable
from overtrain.runs.tasks import TaskSet
from overtrain.runs.testbed import load_suite_evidence
from overtrain.sizes import size_values
from overtrain.trust.backtest import BacktestOptions, calibration_backtest
from overtrain.trust.bounds import below_every_run, bounded, examples_per_task
from overtrain.trust.calibration import DEFAULT_INTERVALS, Calibration, IntervalOptions, pooled_calibration, resembling
from overtrain.trust.choice import CANDIDATE_ERROR, Candidates, Selection, select_method
from overtrain.trust.intervals import Interval, IntervalParts, batch_parts, intervals_document
from overtrain.trust.members import ensemble_mean, member_methods, plausible_members
from overtrain.trust.parts import structural_spread
from overtrain.trust.protocols import multiplier_excursion, size_ahead_possible
from overtrain.trust.task_forecasts import TaskForecast, per_task_fit, task_forecasts, task_residual_scatter


@dataclass(frozen=True)
class TrustedForecast:
    """A forecast with its intervals (empty when not asked for) and warnings; what the forecast says (loss, errors,
    the target's N, D, M, C) reads from it directly too."""

    forecast: Forecast
    intervals: dict[str, Interval]
    parts: dict[str, IntervalParts] = dataclasses.field(default_factory=dict, repr=False)
    members: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict, repr=False)
    tasks: tuple[TaskForecast, ...] = dataclasses.field(default=(), repr=False)

    @property
    def loss(self) -> float:
        """The forecast loss (`forecast.loss`)."""
        return self.forecast.loss

    @property
    def errors(self) -> dict[str, float]:
        """The forecast average error per task set (`forecast.errors`)."""
        return self.forecast.errors

    @property
    def error(self) -> float | None:
        """The forecast average error of the first task set, or None without an error law (`forecast.error`)."""
        return self.forecast.error

    @property
    def params(self) -> float:
        """The target's N."""
        return self.forecast.params

    @property
    def tokens(self) -> float:
        """The target's D."""
        return self.forecast.tokens

    @property
    def multiplier(self) -> float:
        """The target's M = D / N."""
        return self.forecast.multiplier

    @property
    def flops(self) -> float:
        """The target's C = 6 N D."""
        return self.forecast.flops

    def warnings(self) -> list[str]:
        """The forecast's own warnings, and where the plausible laws disagree by more than the interval spans."""
        notes = self.forecast.warnings()
        for key, forecasts in self.members.items():
            interval = self.intervals.get(key)
            if interval is None or len(forecasts) < 2:
                continue
            low, high = min(forecasts.values()), max(forecasts.values())
            if high - low > interval.high - interval.low:
                laws = ", ".join(f"{name} {value:.4g}" for name, value in forecasts.items())
                notes.append(f"{key} ({self.forecast.loss_fit.family}): plausible laws disagree by more than the "
                             f"interval [{interval.low:.4g}, {interval.high:.4g}] spans: {laws}")
        return notes

    def summary(self) -> str:
        """One line a person reads: the target, each forecast with its interval, and how many warnings it carries."""
        parts = []
        for key, value in (("loss", self.forecast.loss), *self.forecast.errors.items()):
            interval = self.intervals.get(key)
            bounds = "" if interval is None else f" [{interval.low:.4g}, {interval.high:.4g}]"
            parts.append(f"{quantity_label(key)} {value:.4g}{bounds}")
        count = len(self.warnings())
        notes = f"; {count} warning{'s' if count != 1 else ''}" if count else ""
        return f"{self.forecast.describe()}: {', '.join(parts)}{notes}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.forecast.loss_fit.family,
            **self.forecast.to_dict(),
            "warnings": self.warnings(),
            "intervals": intervals_document(self.intervals),
            "member_forecasts": self.members,
            "tasks": [task.to_dict() for task in self.tasks],
        }


@dataclass(frozen=True)
class FamilyForecasts:
    """One family's fitted laws, how the method was chosen, the calibration, and the forecasts."""

    laws: FittedLaws
    method: Method
    selection: Selection | None
    calibration: Calibration | None
    forecasts: tuple[TrustedForecast, ...]

    def summary(self) -> str:
        """A few lines a person reads: the family and its method, the calibration, and a line per forecast."""
        level = "" if self.calibration is None else f"\n  {100 * self.calibration.level:g}% intervals: " \
            f"{self.calibration.describe()}"
        lines = [f"{self.laws.family}: {self.method.label}{level}"]
        lines += [f"  {trusted.summary()}" for trusted in self.forecasts]
        return "\n".join(lines)

    def summary_frame(self) -> pd.DataFrame:
        """One row per target (the results' convention: `summary_frame()` a frame; `to_frame()` the same)."""
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:
        """One row per target: N, D, M, C, the forecasts and their interval bounds, and the warnings."""
        rows = []
        for trusted in self.forecasts:
            f = trusted.forecast
            row: dict[str, Any] = {"family": self.laws.family, **f.row()}
            for key, interval in trusted.intervals.items():
                name = quantity_column(key)
                row[f"{name}_low"], row[f"{name}_high"] = interval.low, interval.high
            row["warnings"] = "; ".join(trusted.warnings())
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")


@dataclass(frozen=True)
class ForecastRequest:
    """What a forecast is asked for, as `predict`, `compare_families` and `plan` share it: the loss split (None: the
    runs' default) and the task set (None: every task the runs carry; "none": loss alone); the `method` (a `loss_law`
    of "auto" is chosen by backtest, its error law among `error_laws`, its fit sets as named); the interval `level`
    (None or 0: no intervals), the `seed` of the resampled fits and how the intervals are calibrated (`intervals`);
    and whether each task is forecast too (`per_task`)."""

    loss_split: str | None = None
    tasks: str | Sequence[str] | TaskSet | None = None
    method: Method = DEFAULT_METHOD
    error_laws: tuple[str, ...] = CANDIDATE_ERROR
    level: float | None = 0.9
    seed: int = 0
    intervals: IntervalOptions = DEFAULT_INTERVALS
    per_task: bool = True

    @property
    def with_intervals(self) -> bool:
        """Whether intervals are asked for (`level` None or 0: none)."""
        return bool(self.level)

    @property
    def interval_level(self) -> float:
        """The level intervals are built at: `level`, or `DEFAULT_LEVEL` where none are asked for (a member law's or a
        task's forecast still needs a level to resample at)."""
        return float(self.level) if self.level else DEFAULT_LEVEL


DEFAULT_REQUEST = ForecastRequest()


class BacktestKey(NamedTuple):
    """What a calibration backtest backtests: the method, loss split, task set and backtest options."""

    method: Method
    loss_split: str
    tasks: str
    options: BacktestOptions


class CalibrationKey(NamedTuple):
    """What a calibration rests on: the rows of the runs' own backtest it counts (None: none), that backtest and
    how its distances are measured, whether the suite's held-out forecasts count, and the options that shape it."""

    rows: bytes | None
    backtest: BacktestKey | None
    distance: str
    suite: bool
    level: float
    forms: tuple[str, str]
    source: str
    own_prior: float | None
    adaptive: bool
    sides: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class SharedWork:
    """What the forecasts of several families with one `Evidence` share, computed once: calibration backtests and the
    calibrations built on them."""

    backtests: dict[BacktestKey, pd.DataFrame] = dataclasses.field(default_factory=dict)
    calibrations: dict[CalibrationKey, Calibration] = dataclasses.field(default_factory=dict)

    def calibration(self, own: pd.DataFrame | None, backtest: BacktestKey | None, suite: pd.DataFrame | None,
                    level: float, source: str, options: IntervalOptions) -> Calibration:
        """The calibration on the rows `own` of the backtest `backtest` (None: none) and the suite's held-out
        forecasts `suite` (None: not counted), computed once for every forecast (of one family or of several)
        that rests on the same forecasts (`pooled_calibration`)."""
        key = CalibrationKey(None if own is None else own.index.to_numpy().tobytes(),
                             None if own is None else backtest, options.distance, suite is not None, level,
                             options.forms, source, options.own_prior, options.adaptive, options.sides)
        found = self.calibrations.get(key)
        if found is None:
            found = pooled_calibration(own, suite, level, options.forms, source, options.own_prior, options.adaptive,
                                       options.sides)
            self.calibrations[key] = found
        return found


@dataclass(frozen=True, eq=False)
class Evidence:
    """What a family's forecast learns from besides its own runs: the runs its intervals are calibrated on
    (`calibration`; None: the family's own), the runs a pooled loss law is fitted to (`pooled_runs`; None:
    `calibration`), the development suite's held-out forecasts (`suite`; None: the shipped ones, where the interval
    options count them), and what the forecasts of several families share (`shared`: backtests and calibrations)."""

    calibration: RunTable | None = None
    pooled_runs: RunTable | None = None
    suite: pd.DataFrame | None = None
    shared: SharedWork = dataclasses.field(default_factory=SharedWork)
    #: The old name of `pooled_runs` (deprecated, for one release).
    pool: dataclasses.InitVar[RunTable | None] = None

    def __post_init__(self, pool: RunTable | None) -> None:
        if pool is not None:
            renamed("Evidence(pool=...)", "Evidence(pooled_runs=...)", stacklevel=3)
            object.__setattr__(self, "pooled_runs", pool)


def forecast_family(
    runs: RunTable, targets: Sequence[Target], request: ForecastRequest = DEFAULT_REQUEST,
    evidence: Evidence | None = None, progress: Callable[[str], None] | None = None,
) -> FamilyForecasts:
    """Fit, forecast and (with `request.level`) attach calibrated intervals, for one family's runs (see
    `calibrated_intervals`). With a pooled loss law, it is fitted to the families of `evidence.pooled_runs` at once,
    exponents shared. `progress` hears each step; with `request.per_task`, each forecast carries each task's
    (`task_forecasts`)."""
    evidence = Evidence() if evidence is None else evidence
    say = progress or (lambda step: None)
    family = runs.families[0] if len(runs) else "runs"
    split = request.loss_split or runs.default_split()
    task_spec = default_task_spec(runs, request.tasks)
    named = request.method
    selection = None
    pool_runs = evidence.pooled_runs
    if pool_runs is None:
        pool_runs = evidence.calibration if evidence.calibration is not None else runs
    method = named
    if named.loss_law == "auto":
        selection = select_method(runs.complete(split), Candidates(named.loss_fit_set, named.error_fit_set,
                                                                   tuple(request.error_laws)),
                                  loss_split=split, tasks=task_spec,
                                  pooled_runs=pool_runs if len(pool_runs.families) > 1 else None,
                                  progress=lambda step: say(f"{family}: {step}"))
        # the rolling protocol chooses laws without fit sets: the forecast keeps the named ones
        chosen = selection.method
        method = dataclasses.replace(chosen, loss_fit_set=chosen.loss_fit_set or named.loss_fit_set,
                                     error_fit_set=chosen.error_fit_set or named.error_fit_set)
    evidence = dataclasses.replace(evidence, pooled_runs=pool_runs)
    say(f"{family}: fitting")
    laws = fit_method(runs, method, split, task_spec, evidence.pooled_runs)
    forecasts = [laws.point_forecast(t.params, t.tokens) for t in targets]
    empty: list[dict] = [{} for _ in forecasts]
    calibration, intervals, parts, members = None, empty, empty, empty
    if request.with_intervals or method.error_law == ENSEMBLE:
        say(f"{family}: calibrating")
        resolved = dataclasses.replace(request, loss_split=split, tasks=task_spec, method=method,
                                       level=request.interval_level)
        calibration, forecasts, intervals, parts, members = calibrated_intervals(runs, laws, forecasts, resolved,
                                                                                 evidence)
        if not request.with_intervals:
            calibration, intervals, parts = None, empty, empty
    tasks: list[tuple[TaskForecast, ...]] = [() for _ in forecasts]
    if request.per_task and laws.error is not None:
        fit, key = per_task_fit(runs, laws), laws.task_set.name
        scatter = None if fit is None else task_residual_scatter(fit, runs)
        tasks = [task_forecasts(runs, fit, f, calibration if part else None, request.interval_level,
                                part[key].distance if key in part else f.flops_ratio, scatter)
                 for f, part in zip(forecasts, parts, strict=True)]
    trusted = tuple(TrustedForecast(*fields) for fields in zip(forecasts, intervals, parts, members, tasks,
                                                               strict=True))
    return FamilyForecasts(laws, method, selection, calibration, trusted)


def fit_method(runs: RunTable, method: Method, split: str, tasks: str | Sequence[str] | TaskSet | None,
               pooled_runs: RunTable | None = None) -> FittedLaws:
    """One family's laws under `method` (an ensemble: its base law; a pooled loss law: fitted with `pooled_runs`); no
    error law when `tasks` is None."""
    return fit_laws(runs, base_method(method), loss_split=split, tasks=tasks or "none", pooled_runs=pooled_runs)


def member_forecasts(
    runs: RunTable, method: Method, forecasts: Sequence[Forecast], split: str, tasks: str | Sequence[str] | None,
    members: dict[str, list[str]] | None = None, pooled_runs: RunTable | None = None,
) -> tuple[list[dict[str, dict[str, float]]], tuple[str, ...]]:
    """For each forecast, the forecasts of the eligible member laws by name (see
    `overtrain.trust.members.LOSS_MEMBERS`, `ERROR_MEMBERS`; only those named in `members[quantity]` when given: the
    plausible ones), per key: `loss` and the error's task-set name. A loss law whose exponent sits at a search bound is
    not eligible; an error law is, when its backtests found it plausible (the forecast notes the bound). Returns the
    forecasts and the error laws among them whose exponent sits at a search bound."""
    found: list[dict[str, dict[str, float]]] = [{} for _ in forecasts]
    bounded: list[str] = []
    for quantity in ("loss", "error") if tasks is not None else ("loss",):
        for key, member in member_methods(method, quantity).items():
            if members is not None and key not in members.get(quantity, []):
                continue
            try:
                laws = fit_method(runs, member, split, tasks if quantity == Quantity.ERROR else None, pooled_runs)
            except OvertrainError:
                continue
            fit = laws.loss if quantity == Quantity.LOSS else laws.error
            if fit is None or (fit.at_bound and (quantity == Quantity.LOSS or members is None)):
                continue
            if fit.at_bound:
                bounded.append(key)
            for values, f in zip(found, forecasts, strict=True):
                member_forecast = laws.point_forecast(f.params, f.tokens)
                if quantity == Quantity.LOSS:
                    values.setdefault("loss", {})[key] = member_forecast.loss
                else:
                    for name, error in member_forecast.errors.items():
                        values.setdefault(name, {})[key] = error
    return found, tuple(bounded)


def _with_ensemble(forecast: Forecast, members: dict[str, dict[str, float]]) -> Forecast:
    """`forecast` with each error replaced by the mean of its member laws' forecasts on the logit scale."""
    errors = {name: float(ensemble_mean("error", np.array(list(members[name].values())))) if members.get(name)
              else value for name, value in forecast.errors.items()}
    return dataclasses.replace(forecast, errors=errors)


#: The note a forecast below every fit run carries instead of an interval.
BELOW_EVERY_RUN = ("the target is smaller and trained on fewer tokens than every fit run: the laws do not speak for "
                   "it, so it has no interval")


class CalibratedForecasts(NamedTuple):
    """What `calibrated_intervals` returns: the calibration of the first forecast, and per forecast the forecast (its
    errors the ensemble's where the method is the ensemble), its intervals and their parts by key, and the plausible
    member laws' forecasts by key."""

    calibration: Calibration
    forecasts: list[Forecast]
    intervals: list[dict[str, Interval]]
    parts: list[dict[str, IntervalParts]]
    members: list[dict[str, dict[str, float]]]


def _member_backtest(
    table: RunTable, tasks: str | Sequence[str] | TaskSet | None, key: BacktestKey, shared: SharedWork,
) -> tuple[pd.DataFrame | None, dict[str, list[str]] | None, str]:
    """The calibration backtest `key` says (of `tasks`, which the key holds as text) on `table`, kept in `shared` for
    the next family; the member laws it finds plausible per quantity, and its source; (None, None, why) where the
    runs allow no backtest."""
    try:
        frame = shared.backtests.get(key)
        if frame is None:
            frame = calibration_backtest(table, key.method, loss_split=key.loss_split, tasks=tasks,
                                         options=key.options)
            shared.backtests[key] = frame
        return frame, {q: plausible_members(frame, q) for q in ("loss", "error")}, frame.attrs["source"]
    except OvertrainError:
        return None, None, "no backtest possible on these runs"


def _joined_ensemble(forecast: Forecast, part: dict[str, IntervalParts], members: dict[str, dict[str, float]],
                     at_edge: tuple[str, ...]) -> tuple[Forecast, dict[str, IntervalParts]]:
    """`forecast` with its errors the plausible member laws' mean (saying which joined with an exponent at a search
    bound), and its interval parts moved to it."""
    forecast = _with_ensemble(forecast, members)
    forecast = dataclasses.replace(forecast, unphysical=(*forecast.unphysical, *(
        f"error law {name} (in the ensemble): an exponent sits at the edge of its search range; its backtests "
        "found it plausible, so its forecast counts" for name in at_edge
        if any(name in values for values in members.values()))))
    return forecast, {name: p if name == Quantity.LOSS else p.moved_to(forecast.errors[name])
                      for name, p in part.items()}


def _noted_intervals(forecast: Forecast, part: dict[str, IntervalParts], calibration: Calibration,
                     made: dict[str, Interval]) -> tuple[Forecast, dict[str, Interval]]:
    """`forecast` with what its intervals `made` need said: a target beyond the compute distance the widths were
    learned on, and a bound the forecast sits on (that interval dropped: it says nothing of how far it may be off)."""
    if made and "loss" in part and part["loss"].distance > calibration.evidence_reach * (1 + 1e-9):
        reach = calibration.evidence_reach
        forecast = dataclasses.replace(forecast, unphysical=(*forecast.unphysical, (
            f"the target is {part['loss'].distance:.3g}x its fit runs' compute, beyond the {reach:.3g}x of the "
            "forecasts its interval widths were learned on: widths that do not grow with distance are widened by "
            "log10(1 + d) / log10(1 + that reach)")))
    collapsed = [name for name, interval in made.items()
                 if not interval.high - interval.low > 1e-6 * abs(interval.high)]
    if collapsed:
        forecast = dataclasses.replace(forecast, unphysical=(*forecast.unphysical, *(
            f"{name}: no interval, its bounds met at {made[name].low:.4g} (the forecast sits where the runs' "
            "measurements bound it, far outside what they can speak for)" for name in collapsed)))
        made = {name: interval for name, interval in made.items() if name not in collapsed}
    return forecast, made


def calibrated_intervals(
    runs: RunTable, laws: FittedLaws, forecasts: Sequence[Forecast], request: ForecastRequest,
    evidence: Evidence | None = None,
) -> CalibratedForecasts:
    """Intervals for `forecasts` of one family, fitted to `runs` as `request` says (its loss split, task set and
    method resolved, its level set), and their parts; with the `ensemble` error law the forecasts' errors become the
    mean of the plausible member laws' (the forecasts are returned).

    The extrapolation part is calibrated on the development suite's held-out forecasts (`options.suite`;
    `evidence.suite`, default the shipped ones) and, with `options.own`, with equal weight on backtests of
    `evidence.calibration` (default `runs`) that resemble each forecast (`calibration.resembling`); `options` are
    `request.intervals`. The backtest (size-ahead when the method names its fit sets and the runs allow it, else
    rolling) also says which member laws are plausible: the ensemble's members and, with `options.structural`, the
    laws whose spread widens the interval. `evidence.shared` keeps the calibration backtest for the next family
    forecast with the same calibration runs."""
    evidence = Evidence() if evidence is None else evidence
    method, split, tasks, options = request.method, request.loss_split, request.tasks, request.intervals
    level, seed, shared = request.interval_level, request.seed, evidence.shared
    pooled = evidence.pooled_runs if method.loss_pooled else None
    calibration_runs, suite = evidence.calibration, evidence.suite
    table = (calibration_runs or runs).complete(split)
    if options.suite and suite is None:
        suite = load_suite_evidence()
    suite = suite if options.suite else None
    protocol = options.protocol
    if protocol == "auto":
        protocol = "size-ahead" if method.loss_fit_set and size_ahead_possible(table) else "rolling"
    examples = examples_per_task(runs, laws)
    # without the runs' own backtests in the calibration, the backtest only ranks the member laws: no resampling
    backtesting = BacktestOptions(protocol, level=level, n_resamples=64 if options.own else 0, seed=seed,
                                  structural=options.structural)
    frame_key = BacktestKey(method, split, str(tasks), backtesting)
    frame, members, source = _member_backtest(table, tasks, frame_key, shared)
    ensemble = method.error_law == ENSEMBLE
    found, members_at_edge = (member_forecasts(runs, method, forecasts, split, tasks, members, pooled)
                      if options.structural or ensemble else ([{} for _ in forecasts], ()))
    spreads = [{key: structural_spread(Quantity.of(key), list(values.values()))
                if options.structural else 0.0 for key, values in f.items()} for f in found]
    fit_params, fit_tokens = laws.loss.inputs[0], laws.loss.inputs[1]
    sizes = len(np.unique(fit_params))
    at_bound = laws.loss.at_bound or (laws.error is not None and laws.error.at_bound)
    if frame is not None and "reach" in frame and options.distance == "largest":
        frame = frame.assign(distance=frame["reach"])

    def calibration_for(f: Forecast) -> Calibration:
        own = frame if options.own else None
        if own is not None and options.resembling:
            own = resembling(own, sizes, multiplier_excursion(f.multiplier, fit_tokens / fit_params), at_bound)
        return shared.calibration(own, frame_key, suite, level, source, options)

    calibrations, combined, intervals, parts = [], [], [], []
    all_parts = batch_parts(forecasts, level=level, seed=seed, examples=examples, structural=spreads,
                            distance=options.distance)
    for f, members_of, part in zip(forecasts, found, all_parts, strict=True):
        calibration = calibration_for(f)
        usable = calibration.finite()
        calibrations.append(calibration)
        if ensemble:
            f, part = _joined_ensemble(f, part, members_of, members_at_edge)
        f, part = bounded(runs, laws, f, part, level)
        if below_every_run(runs, f):
            f, part = dataclasses.replace(f, unphysical=(*f.unphysical, BELOW_EVERY_RUN)), {}
        f, made = _noted_intervals(f, part, calibration, {name: p.interval(usable, level) for name, p in part.items()})
        combined.append(f)
        parts.append(part)
        intervals.append(made)
    if not calibrations:
        calibrations.append(shared.calibration(frame if options.own else None, frame_key, suite, level, source,
                                               options))
    return CalibratedForecasts(calibrations[0], combined, intervals, parts, found)


def forecast_families(
    runs: RunTable, families: Sequence[str], targets: Sequence[Target], request: ForecastRequest = DEFAULT_REQUEST,
    *, skipped: dict[str, str] | None = None, progress: Callable[[str], None] | None = None,
) -> list[FamilyForecasts]:
    """`forecast_family` for each of `families` of `runs`, every family's intervals calibrated on backtests of all
    of `runs` (computed once). Given a `skipped` dict, a family that cannot be forecast is recorded there with the
    reason and the others are forecast; unless none can, which raises the first family's error.

    Parameters
    ----------
    runs : RunTable
        The runs of every family (the calibration's backtests use all of them).
    families : sequence of str
        The families to forecast.
    targets : sequence of Target
        The runs to forecast.
    request : ForecastRequest
        Loss split, task set, method, interval level and options.
    skipped : dict, optional
        Filled with each family that could not be forecast and why; without it, the first failure raises.
    progress : callable, optional
        Told each step.

    Returns
    -------
    list of FamilyForecasts
        Each family's laws, method, calibration and forecasts (`summary()`, `summary_frame()`)."""
    evidence = Evidence(calibration=runs)
    results, first = [], None
    for name in families:
        try:
            with about(f"family {name!r}"):
                results.append(forecast_family(runs.family(name), targets, request, evidence, progress))
        except OvertrainError as error:
            if skipped is None:
                raise
            skipped[name] = str(error)
            first = first or error
    if not results and first is not None:
        raise first
    return results


@dataclass(frozen=True)
class Prediction:
    """What `overtrain forecast` prints, for a notebook: each family's forecasts at every target with their
    intervals, and the families that could not be forecast with the reason."""

    families: tuple[FamilyForecasts, ...]
    skipped: dict[str, str]

    def summary(self) -> str:
        """Each family's summary (`FamilyForecasts.summary`), then the families not forecast and why."""
        lines = [family.summary() for family in self.families]
        lines += [f"{name}: not forecast ({why})" for name, why in self.skipped.items()]
        return "\n".join(lines)

    def summary_frame(self) -> pd.DataFrame:
        """One row per (family, target): N, D, M, C, the forecasts, their interval bounds and the warnings."""
        return pd.concat([family.to_frame() for family in self.families], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        return {"predictions": [f.to_dict() for family in self.families for f in family.forecasts],
                "not_forecast": dict(self.skipped)}

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")


def predict(
    runs: RunTable, params: float | str | Sequence[float | str] | np.ndarray,
    tokens: float | str | Sequence[float | str] | None = None, *,
    multiplier: float | str | Sequence[float | str] | None = None, families: Sequence[str] | None = None,
    request: ForecastRequest = DEFAULT_REQUEST,
) -> Prediction:
    """`overtrain forecast` from Python, with its defaults (every task the runs carry, the ensemble error law,
    90% intervals calibrated on the development suite and the runs' own backtests): every family of `runs` (or
    `families`) at each target, params with tokens or multiplier broadcast together as arrays, sizes written as
    numbers or as on the command line ("7B", "2T"); `request` as `forecast_family` takes it
    (`ForecastRequest(level=0.8, tasks="17")`, ...).

    Parameters
    ----------
    runs : RunTable
        The runs the laws are fitted to (`read_runs`).
    params : float, str or sequence
        The targets' parameter counts N ("7B" or 7e9).
    tokens, multiplier : float, str or sequence, optional
        The targets' training tokens D ("2T"), or their tokens per parameter M; one of the two.
    families : sequence of str, optional
        The families to forecast (default: every family of `runs`).
    request : ForecastRequest
        Loss split, task set, method, interval level and calibration.

    Returns
    -------
    Prediction
        Every family's forecasts with intervals (`summary_frame()`, `to_dict()`), the laws and the calibration."""
    if tokens is None and multiplier is None:
        raise OvertrainError("give tokens or multiplier")
    if tokens is not None and multiplier is not None:
        raise OvertrainError("give tokens or multiplier, not both")
    params, tokens, multiplier = (size_values(v, n) for v, n in ((params, "params"), (tokens, "tokens"),
                                                            (multiplier, "multiplier")))
    try:
        sizes, amounts = np.broadcast_arrays(np.asarray(params, dtype=float),
                                             np.asarray(tokens if tokens is not None else multiplier, dtype=float))
    except ValueError as error:
        raise OvertrainError(f"params and {'tokens' if tokens is not None else 'multiplier'} do not broadcast "
                             f"together ({error})") from None
    targets = [Target(float(n), float(a) if tokens is not None else float(a) * float(n))
               for n, a in zip(sizes.ravel(), amounts.ravel(), strict=True)]
    if not targets or any(not (np.isfinite(v) and v > 0) for t in targets for v in (t.params, t.tokens)):
        raise OvertrainError("every target needs a positive, finite params and tokens (or multiplier)")
    skipped: dict[str, str] = {}
    results = forecast_families(runs, list(families or runs.families), targets, request, skipped=skipped)
    return Prediction(tuple(results), skipped)
