"""Forecasts to trust: the method chosen by evidence, intervals calibrated by backtests, warnings attached.

This is what `overtrain forecast` runs for each family: fit the laws (the named method, or with `auto` the one
that backtests best on these runs; given fit sets, the size-ahead protocol also weighs their `+cheap` extensions),
forecast each target, calibrate the extrapolation part of the intervals on
a backtest of the same runs with the same method, and attach the forecast's warnings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from overtrain.backtest import (
    CANDIDATE_ERROR,
    ENSEMBLE,
    Method,
    Selection,
    base_method,
    calibration_backtest,
    ensemble_mean,
    member_methods,
    multiplier_excursion,
    plausible_members,
    resembling,
    select_method,
    size_ahead_possible,
)
from overtrain.errors import OvertrainError, about
from overtrain.fitting import Fit, chance_ceilings, task_chance
from overtrain.forecast import FittedLaws, Forecast, Target, default_task_spec, fit_laws, quantity_column
from overtrain.names import DEFAULT_ERROR_LAW
from overtrain.runs import RunTable, measured_values, no_larger
from overtrain.task_forecasts import TaskForecast, per_task_fit, task_forecasts, task_residual_scatter
from overtrain.testbed import load_suite_evidence
from overtrain.uncertainty import (
    POWERS,
    Calibration,
    Interval,
    IntervalParts,
    batch_parts,
    calibrate_width,
    error_target_noise,
    evidence_frame,
    intervals_document,
    loss_target_noise,
    structural_spread,
)


@dataclass(frozen=True)
class IntervalOptions:
    """How intervals are calibrated: on backtests that resemble the forecast (`resembling`) or on all of them;
    with the plausible laws' disagreement (`structural`); how the extrapolation part of the loss and of the error
    grows with compute distance (`loss_form`, `error_form`, see `uncertainty.distance_growth`) and what that distance
    is measured against (`distance`, see `uncertainty.DISTANCES`); the backtest `protocol` (`auto`: size-ahead when
    the method names its fit sets and the runs allow it, else rolling); and whether the development suite's
    held-out forecasts count as evidence beside the runs' own backtests (`suite`), and whether those do (`own`);
    with both, how the two weigh (`own_prior`: equal weights, or the runs' own n backtest forecasts weighing
    n / (n + own_prior), see `pooled_calibration`); and whether each width follows the forecast's own fit part
    (`adaptive`, see `uncertainty.calibrate_width`)."""

    resembling: bool = True
    structural: bool = False
    distance: str = "total"
    loss_form: str = "constant"
    error_form: str = "log-distance"
    protocol: str = "auto"
    suite: bool = True
    own: bool = False
    own_prior: float | None = None
    adaptive: bool = False

    @property
    def forms(self) -> tuple[str, str]:
        """(loss form, error form)."""
        return self.loss_form, self.error_form


#: The development suite's choice (`benchmarks/generalisation.py`, recorded in `data/suite_choice.json`): the suite's
#: held-out forecasts beside the runs' own resembling backtests, the two weighing equally.
DEFAULT_INTERVALS = IntervalOptions(own=True)


@dataclass(frozen=True)
class TrustedForecast:
    """A forecast with its intervals (empty when not asked for) and warnings."""

    forecast: Forecast
    intervals: dict[str, Interval]
    parts: dict[str, IntervalParts] = dataclasses.field(default_factory=dict, repr=False)
    members: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict, repr=False)
    tasks: tuple[TaskForecast, ...] = dataclasses.field(default=(), repr=False)

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


def _task_examples(runs: RunTable, laws: FittedLaws) -> dict[str, np.ndarray]:
    task_set = laws.task_set
    if task_set is None:
        return {}
    counts = pd.to_numeric(runs.tasks["n_examples"].reindex(list(task_set.tasks)), errors="coerce")
    return {task_set.name: counts.to_numpy(dtype=float)}


def forecast_family(
    runs: RunTable, targets: Sequence[Target], *, loss_split: str | None = None, tasks: str | None = None,
    fit_loss_set: str | None = None, fit_error_set: str | None = None, loss_law: str = "shared-exponent",
    objective: str = "least-squares", error_law: str = DEFAULT_ERROR_LAW, level: float | None = 0.9, seed: int = 0,
    calibration_runs: RunTable | None = None, options: IntervalOptions = DEFAULT_INTERVALS,
    evidence: pd.DataFrame | None = None, cache: dict | None = None, pooled: bool = False,
    pool_runs: RunTable | None = None, progress: Callable[[str], None] | None = None,
    error_laws: Sequence[str] = CANDIDATE_ERROR, per_task: bool = True,
) -> FamilyForecasts:
    """Fit, forecast and (with `level`) attach calibrated intervals, for one family's runs (calibrated on
    backtests of `calibration_runs`, default the family's runs; see `calibrated_intervals`). With `pooled`, the
    loss law is fitted to the families of `pool_runs` (default `calibration_runs`) at once, exponents shared.
    `progress` hears each step; with `loss_law` auto, `error_laws` are the error-law candidates; with `per_task`,
    each forecast carries each task's (`task_forecasts`)."""
    say = progress or (lambda step: None)
    family = runs.families[0] if len(runs) else "runs"
    split = loss_split or runs.default_split()
    task_spec = default_task_spec(runs, tasks)
    selection = None
    cache = {} if cache is None else cache
    if pool_runs is None:
        pool_runs = calibration_runs if calibration_runs is not None else runs
    if loss_law == "auto":
        selection = select_method(runs.complete(split), loss_split=split, tasks=task_spec,
                                  loss_fit_set=fit_loss_set, error_fit_set=fit_error_set,
                                  pool_runs=pool_runs if len(pool_runs.families) > 1 else None,
                                  progress=lambda step: say(f"{family}: {step}"), error_laws=error_laws)
        method = selection.method
    else:
        method = Method(loss_law, objective, error_law, fit_loss_set, fit_error_set, pooled)
    pool = pool_runs if method.loss_pooled else None
    method = dataclasses.replace(method, loss_fit_set=method.loss_fit_set or fit_loss_set,
                                 error_fit_set=method.error_fit_set or fit_error_set)
    say(f"{family}: fitting")
    laws = fit_method(runs, method, split, task_spec, pool)
    forecasts = [laws.forecast(t.params, t.tokens) for t in targets]
    empty: list[dict] = [{} for _ in forecasts]
    calibration, intervals, parts, members = None, empty, empty, empty
    if level or method.error_law == ENSEMBLE:
        say(f"{family}: calibrating")
        calibration, forecasts, intervals, parts, members = calibrated_intervals(
            runs, laws, method, forecasts, split, task_spec, level or 0.9, seed, calibration_runs, options, evidence,
            cache, pool)
        if not level:
            calibration, intervals, parts = None, empty, empty
    tasks: list[tuple[TaskForecast, ...]] = [() for _ in forecasts]
    if per_task and laws.error is not None:
        fit, key = per_task_fit(runs, laws), laws.task_set.name
        scatter = None if fit is None else task_residual_scatter(fit, runs)
        tasks = [task_forecasts(runs, fit, f, calibration if part else None, level or 0.9,
                                part[key].distance if key in part else f.flops_ratio, scatter)
                 for f, part in zip(forecasts, parts, strict=True)]
    trusted = tuple(TrustedForecast(*fields) for fields in zip(forecasts, intervals, parts, members, tasks,
                                                               strict=True))
    return FamilyForecasts(laws, method, selection, calibration, trusted)


def fit_method(runs: RunTable, method: Method, split: str, tasks: str | Sequence[str] | None,
               pool: RunTable | None = None) -> FittedLaws:
    """One family's laws under `method` (an ensemble: its base law; a pooled loss law: fitted with `pool`)."""
    base = base_method(method)
    return fit_laws(runs, loss_split=split, tasks=tasks or "none", fit_loss_set=base.loss_fit_set,
                    fit_error_set=base.error_fit_set, loss_law=base.loss_law, objective=base.loss_objective,
                    error_law=base.error_law, pool=pool if method.loss_pooled else None)


def member_forecasts(
    runs: RunTable, method: Method, forecasts: Sequence[Forecast], split: str, tasks: str | Sequence[str] | None,
    members: dict[str, list[str]] | None = None, pool: RunTable | None = None,
) -> list[dict[str, dict[str, float]]]:
    """For each forecast, the forecasts of the eligible member laws by name (see `backtest.LOSS_MEMBERS`,
    `ERROR_MEMBERS`; only those named in `members[quantity]` when given; a law whose exponent sits at a search
    bound is not eligible), per key: `loss` and the error's task-set name."""
    found: list[dict[str, dict[str, float]]] = [{} for _ in forecasts]
    for quantity in ("loss", "error") if tasks is not None else ("loss",):
        for key, member in member_methods(method, quantity).items():
            if members is not None and key not in members.get(quantity, []):
                continue
            try:
                laws = fit_method(runs, member, split, tasks if quantity == "error" else None, pool)
            except OvertrainError:
                continue
            fit = laws.loss if quantity == "loss" else laws.error
            if fit is None or fit.at_bound:
                continue
            for values, f in zip(found, forecasts, strict=True):
                member_forecast = laws.forecast(f.params, f.tokens)
                if quantity == "loss":
                    values.setdefault("loss", {})[key] = member_forecast.loss
                else:
                    for name, error in member_forecast.errors.items():
                        values.setdefault(name, {})[key] = error
    return found


def _with_ensemble(forecast: Forecast, members: dict[str, dict[str, float]]) -> Forecast:
    """`forecast` with each error replaced by the mean of its member laws' forecasts on the logit scale."""
    errors = {name: float(ensemble_mean("error", np.array(list(members[name].values())))) if members.get(name)
              else value for name, value in forecast.errors.items()}
    return dataclasses.replace(forecast, errors=errors)


def pooled_calibration(
    own: pd.DataFrame | None, evidence: pd.DataFrame | None, level: float, forms: tuple[str, str], source: str,
    own_prior: float | None = None, adaptive: bool = False,
) -> Calibration:
    """The extrapolation scales for which `level` of the forecasts hold the truth, counting the runs' own
    resembling backtests (`own`) and the suite's held-out forecasts (`evidence`, rows of
    `overtrain.testbed.load_suite_evidence`) as two sources (either may be missing); `forms` are the loss's and the
    error's (see `IntervalOptions`). The two sources weigh equally, or with `own_prior` k the runs' own n backtest
    forecasts weigh n / (n + k): a sweep with many backtests is judged on its own misses, one with few on the
    suite's. With `adaptive`, each quantity's half-width may follow the forecast's own fit part (`POWERS`, see
    `uncertainty.calibrate_width`)."""
    scales, factors, powers, references, counts = {}, {}, {}, {}, []
    form_of = {**dict(zip(("loss", "error"), forms, strict=True)), "task": forms[1]}
    for quantity in ("loss", "error", "task"):
        sources = []
        if own is not None and f"{quantity}_fit_low" in own and len(own):
            sources.append(own)
        if evidence is not None:
            rows = evidence_frame(evidence, quantity)
            if len(rows):
                sources.append(rows)
        if quantity != "task" or sources:
            counts.append(f"{quantity} " + " + ".join(str(len(f)) for f in sources))
        if not sources:
            scales[quantity], factors[quantity], powers[quantity], references[quantity] = float("nan"), 1.0, 0.0, 1.0
            continue
        shares = [1.0] * len(sources)
        if own_prior is not None and len(sources) == 2:
            n_own = float(np.isfinite(sources[0][f"{quantity}_pred"]).sum())
            shares = [n_own / (n_own + own_prior), own_prior / (n_own + own_prior)]
        pooled = pd.concat([f.assign(weight=share / len(f)) for f, share in zip(sources, shares, strict=True)],
                           ignore_index=True)
        scales[quantity], factors[quantity], powers[quantity], references[quantity] = calibrate_width(
            pooled, quantity, level, form_of[quantity], POWERS if adaptive and quantity != "task" else (0.0,))
    parts = [source] if own is not None and len(own) else []
    if evidence is not None and len(evidence):
        parts.append("held-out forecasts of the development suite")
    described = " and ".join(parts) or "nothing (no backtest, no suite evidence)"
    return Calibration(scales["loss"], scales["error"], level, f"{described}: {', '.join(counts)} forecasts",
                       *forms, factors["loss"], factors["error"], scales["task"], powers["loss"], powers["error"],
                       references["loss"], references["error"])


def measured_ceiling(runs: RunTable, fit: Fit, key: str, params: float, tokens: float, examples: np.ndarray,
                     level: float) -> float:
    """The most a run of N = `params`, D = `tokens` could measure on `key` (`loss`, or the error over `fit`'s task
    set), NaN where nothing bounds it. Loss falls with N and with D, so a fit run of `fit` among `runs` no larger
    and trained on no more tokens bounds the target from above: the lowest such run's measurement plus z times its
    noise (its measurement noise and the law's residual scatter, in quadrature). An error is also at most the task set's
    chance error, mean over tasks of 1 - chance (1 where chance is unknown)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    task_set = fit.task_set
    runs = runs.subset(np.isin(runs.runs, fit.runs))
    values = measured_values(runs, key, fit.loss_split, task_set)
    dominated = no_larger(runs, params, tokens) & np.isfinite(values)
    ceiling = float("inf")
    if dominated.any():
        value = float(values[dominated].min())
        noise = (loss_target_noise(fit, value) if key == "loss"
                 else error_target_noise(fit, value, examples))
        ceiling = value + z * float(np.hypot(noise, fit.rmse))
    if key != "loss" and task_set is not None:
        chance = task_chance(runs, task_set)
        ceiling = min(ceiling, float(np.mean(chance_ceilings(chance))))
    return ceiling if np.isfinite(ceiling) else float("nan")


def loss_floor(fit: Fit) -> float:
    """The loss no run can go below by the fitted law: its irreducible loss E, where the law is trusted (it has
    an E, E is positive, no exponent sits at a search bound, no term is held out and the fit runs span at least
    `TRUSTED_SIZES` model sizes: two sizes leave E barely identified); NaN otherwise."""
    floor = float(getattr(fit.law, "E", float("nan")))
    trusted = (not fit.at_bound and not fit.held_out and fit.kind == "loss"
               and len(np.unique(fit.inputs[0])) >= TRUSTED_SIZES)
    return floor if trusted and np.isfinite(floor) and floor > 0 else float("nan")


#: The fewest model sizes whose loss law's irreducible loss E bounds the interval from below (as `Forecast.warnings`
#: asks of a loss law it trusts).
TRUSTED_SIZES = 3


def below_every_run(runs: RunTable, forecast: Forecast) -> bool:
    """Whether a target sits below every run of the family (smaller and on fewer tokens than the smallest): the
    laws were fitted to larger runs and say nothing there that an interval could be trusted for."""
    return bool(len(runs)) and forecast.params < runs.params.min() and forecast.tokens < runs.tokens.min()


def bounded(runs: RunTable, laws: FittedLaws, forecast: Forecast, parts: dict[str, IntervalParts], level: float
            ) -> tuple[Forecast, dict[str, IntervalParts]]:
    """`forecast` and its interval parts with each quantity's floor and ceiling (see `IntervalParts`; the ceiling
    from the fit runs among `runs`); a forecast above its ceiling is moved down to it, with a warning."""
    examples = _task_examples(runs, laws)
    notes, errors, loss = list(forecast.unphysical), dict(forecast.errors), forecast.loss
    bounded = {}
    for key, part in parts.items():
        fit = laws.loss if key == "loss" else laws.error
        if fit is None:
            bounded[key] = part
            continue
        ceiling = measured_ceiling(runs, fit, key, forecast.params, forecast.tokens,
                                   examples.get(key, np.array([])), level)
        floor = loss_floor(fit) if key == "loss" else 0.0
        if np.isfinite(ceiling) and part.prediction > ceiling:
            notes.append(f"{key} ({fit.family}): the law forecasts {part.prediction:.4g}, above {ceiling:.4g}, what "
                         "a smaller fit run measured (or chance); shown at that")
            part = part.moved_to(ceiling)
            if key == "loss":
                loss = ceiling
            else:
                errors[key] = ceiling
        bounded[key] = dataclasses.replace(part, floor=floor, ceiling=ceiling)
    return dataclasses.replace(forecast, loss=loss, errors=errors, unphysical=tuple(notes)), bounded


def calibrated_intervals(
    runs: RunTable, laws: FittedLaws, method: Method, forecasts: Sequence[Forecast], split: str,
    tasks: str | Sequence[str] | None, level: float, seed: int = 0, calibration_runs: RunTable | None = None,
    options: IntervalOptions = DEFAULT_INTERVALS, evidence: pd.DataFrame | None = None,
    cache: dict | None = None, pool: RunTable | None = None,
) -> tuple[Calibration, list[Forecast], list[dict[str, Interval]], list[dict[str, IntervalParts]],
           list[dict[str, dict[str, float]]]]:
    """Intervals for `forecasts` of one family, fitted to `runs`, and their parts; with the `ensemble` error law
    the forecasts' errors become the mean of the plausible member laws' (the forecasts are returned).

    The extrapolation part is calibrated on the development suite's held-out forecasts (`options.suite`;
    `evidence`, default the shipped ones) and, with `options.own`, with equal weight on backtests of
    `calibration_runs` (default `runs`) that resemble each forecast (`backtest.resembling`). The defaults, the suite
    alone, were chosen by `benchmarks/generalisation.py`. The backtest (size-ahead when the method names its fit
    sets and the runs allow it, else rolling) also says which member laws are plausible: the ensemble's members
    and, with `options.structural`, the laws whose spread widens the interval. `cache` (a dict) keeps
    the calibration backtest for the next family forecast with the same `calibration_runs`."""
    table = (calibration_runs or runs).complete(split)
    if options.suite and evidence is None:
        evidence = load_suite_evidence()
    evidence = evidence if options.suite else None
    protocol = options.protocol
    if protocol == "auto":
        protocol = "size-ahead" if method.loss_fit_set and size_ahead_possible(table) else "rolling"
    examples = _task_examples(runs, laws)
    try:
        # without the runs' own backtests in the calibration, the backtest only ranks the member laws: no resampling
        n_resamples = 64 if options.own else 0
        key = (method, split, str(tasks), protocol, options.structural, n_resamples, level, seed)
        frame = None if cache is None else cache.get(key)
        if frame is None:
            frame = calibration_backtest(table, method, loss_split=split, tasks=tasks, level=level, seed=seed,
                                         protocol=protocol, structural=options.structural, n_resamples=n_resamples)
            if cache is not None:
                cache[key] = frame
        members: dict[str, list[str]] | None = {q: plausible_members(frame, q) for q in ("loss", "error")}
        source = frame.attrs["source"]
    except OvertrainError:
        frame, members, source = None, None, "no backtest possible on these runs"
    frame_key = None if frame is None else (key, options.distance)
    ensemble = method.error_law == ENSEMBLE
    found = (member_forecasts(runs, method, forecasts, split, tasks, members, pool) if options.structural or ensemble
             else [{} for _ in forecasts])
    spreads = [{key: structural_spread("loss" if key == "loss" else "error", list(values.values()))
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
        # forecasts (of one family or of several) that resemble the same backtests share one calibration
        key = ("calibration", None if own is None else own.index.to_numpy().tobytes(), frame_key, level,
               options.forms, source, options.own_prior, options.adaptive, id(evidence))
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = pooled_calibration(own, evidence, level, options.forms, source, options.own_prior,
                                       options.adaptive)
            if cache is not None:
                cache[key] = found
        return found

    # without the runs' own backtests the calibration is the same for every forecast (and every family)
    shared = None
    if not options.own:
        key = ("suite calibration", level, options.forms, options.adaptive, source, id(evidence))
        shared = None if cache is None else cache.get(key)
        if shared is None:
            shared = pooled_calibration(None, evidence, level, options.forms, source, adaptive=options.adaptive)
            if cache is not None:
                cache[key] = shared
    calibrations, combined, intervals, parts = [], [], [], []
    all_parts = batch_parts(forecasts, level=level, seed=seed, examples=examples, structural=spreads,
                            distance=options.distance)
    for f, members_of, part in zip(forecasts, found, all_parts, strict=True):
        calibration = shared or calibration_for(f)
        usable = calibration.finite()
        calibrations.append(calibration)
        if ensemble:
            f = _with_ensemble(f, members_of)
            part = {name: p if name == "loss" else p.moved_to(f.errors[name]) for name, p in part.items()}
        f, part = bounded(runs, laws, f, part, level)
        if below_every_run(runs, f):
            f = dataclasses.replace(f, unphysical=(*f.unphysical, "the target is smaller and trained on fewer tokens "
                                                   "than every fit run: the laws do not speak for it, so it has no "
                                                   "interval"))
            part = {}
        made = {name: p.interval(usable, level) for name, p in part.items()}
        collapsed = [name for name, interval in made.items()
                     if not interval.high - interval.low > 1e-6 * abs(interval.high)]
        if collapsed:  # a bound the forecast sits on leaves nothing to say how far it may be off
            f = dataclasses.replace(f, unphysical=(*f.unphysical, *(
                f"{name}: no interval, its bounds met at {made[name].low:.4g} (the forecast sits where the runs' "
                "measurements bound it, far outside what they can speak for)" for name in collapsed)))
            made = {name: interval for name, interval in made.items() if name not in collapsed}
        combined.append(f)
        parts.append(part)
        intervals.append(made)
    if not calibrations:
        calibrations.append(shared or pooled_calibration(frame if options.own else None, evidence, level,
                                                         options.forms, source, options.own_prior, options.adaptive))
    return calibrations[0], combined, intervals, parts, found


def forecast_families(runs: RunTable, families: Sequence[str], targets: Sequence[Target],
                      skipped: dict[str, str] | None = None, **options: Any) -> list[FamilyForecasts]:
    """`forecast_family` for each of `families` of `runs`, every family's intervals calibrated on backtests of all
    of `runs` (computed once). Given a `skipped` dict, a family that cannot be forecast is recorded there with the
    reason and the others are forecast; unless none can, which raises the first family's error."""
    cache: dict = {}
    results, first = [], None
    for name in families:
        try:
            with about(f"family {name!r}"):
                results.append(forecast_family(runs.family(name), targets, calibration_runs=runs, cache=cache,
                                               **options))
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

    def summary_frame(self) -> pd.DataFrame:
        """One row per (family, target): N, D, M, C, the forecasts, their interval bounds and the warnings."""
        return pd.concat([family.to_frame() for family in self.families], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        return {"predictions": [f.to_dict() for family in self.families for f in family.forecasts],
                "not_forecast": dict(self.skipped)}

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")


def predict(
    runs: RunTable, params: float | Sequence[float] | np.ndarray, tokens: float | Sequence[float] | None = None,
    *, multiplier: float | Sequence[float] | None = None, families: Sequence[str] | None = None, **options: Any,
) -> Prediction:
    """`overtrain forecast` from Python, with its defaults (every task the runs carry, the ensemble error law,
    90% intervals calibrated on the development suite and the runs' own backtests): every family of `runs` (or
    `families`) at each target, params with tokens or multiplier broadcast together as arrays; `options` as
    `forecast_family` takes them (`level`, `loss_split`, `tasks`, `error_law`, ...)."""
    if (tokens is None) == (multiplier is None):
        raise OvertrainError("give tokens or multiplier, not both")
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
    results = forecast_families(runs, list(families or runs.families), targets, skipped, **options)
    return Prediction(tuple(results), skipped)


@dataclass(frozen=True)
class FamilyPlan:
    """One family's cheapest run to reach the target at one inference volume (`plan.Plan`), with the forecast's
    intervals there and what they are built from (empty without runs)."""

    laws: FittedLaws
    plan: Any
    intervals: dict[str, Interval]
    parts: dict[str, IntervalParts]
    calibration: Calibration | None


def plan_families(
    fitted: Sequence[FittedLaws], runs: RunTable | None, volumes: Sequence[float], *, target_loss: float | None,
    target_error: float | None, budget: float | None = None, level: float = 0.9,
    progress: Callable[[str], None] | None = None,
) -> list[FamilyPlan]:
    """Every family's plan (`plan.plan`) at each inference volume, with calibrated intervals on the forecast at
    the plan when `runs` are given and `level` is not 0."""
    from overtrain.plan import plan

    say = progress or (lambda step: None)
    results = []
    for laws in fitted:
        say(f"{laws.family}: planning and calibrating the intervals")
        plans = [plan(laws, target_loss=target_loss, target_error=target_error, inference_tokens=t, budget=budget)
                 for t in volumes]
        intervals: list[dict] = [{} for _ in plans]
        parts: list[dict] = [{} for _ in plans]
        calibration = None
        if runs is not None and level:
            task_spec = laws.task_set.name if laws.task_set is not None else None
            calibration, _, intervals, parts, _ = calibrated_intervals(
                runs.family(laws.family), laws, Method(), [p.forecast for p in plans], laws.loss.loss_split,
                task_spec, level, calibration_runs=runs)
        results += [FamilyPlan(laws, p, i, part, calibration) for p, i, part in zip(plans, intervals, parts,
                                                                                       strict=True)]
    return results
