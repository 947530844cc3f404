"""Backtests, the first of trust's three results: each family's forecasts of its own runs from cheaper ones under a
method (`backtest_family`, on the fit sets of `overtrain.trust.protocols`), the ensemble backtested through its members
(`calibration_backtest`), and a backtest judged with calibrated intervals (`Backtest`).

The ensemble error "law" (`overtrain.laws.ENSEMBLE`) forecasts the mean, on the logit scale, of the plausible member
laws' forecasts (`overtrain.trust.members`); its fit part (resampling) is the exponential law's, moved to the mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError, renamed
from overtrain.fitting.chance import chance_error, task_chance, task_losses
from overtrain.fitting.fit import ErrorResponses, error_inputs, fit_error, fit_loss, solve_error_laws
from overtrain.fitting.method import DEFAULT_METHOD, PAPER_METHOD, Method, base_method
from overtrain.fitting.solve import digest, solve_law, solve_pooled
from overtrain.laws import ENSEMBLE, law_class
from overtrain.laws.loss import identifiable_form
from overtrain.quantities import Quantity, physical, shift_on_scale
from overtrain.runs.fitsets import resolve_fit_set
from overtrain.runs.table import RunTable
from overtrain.runs.tasks import TaskSet
from overtrain.trust.bootstrap import fit_part_bounds, resample_predictions, sample_bounds
from overtrain.trust.calibration import Calibration, calibration_from
from overtrain.trust.members import ensemble_mean, member_methods, plausible_members
from overtrain.trust.parts import error_target_noise, loss_target_noise, structural_spread
from overtrain.trust.protocols import DEFAULT_RATIOS, distinct_per_mask, multiplier_excursion, protocol_masks
from overtrain.trust.widths import calibrate_interval, coverage


@dataclass(frozen=True)
class BacktestOptions:
    """How a backtest runs: its `protocol` (see the module notes), the compute `ratios` of the rolling protocol, and,
    with `n_resamples`, the fit part of each forecast's interval at `level` from fits to resampled fit sets (drawn
    with `seed`); with `structural`, each forecast also carries the member laws' forecasts and their spread
    (`overtrain.trust.backtest.with_structure`)."""

    protocol: str = "rolling"
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    level: float = 0.9
    n_resamples: int = 0
    seed: int = 0
    structural: bool = False


#: A backtest's forecasts alone; and the backtest intervals are calibrated on, every forecast with its fit part.
DEFAULT_BACKTEST, CALIBRATING = BacktestOptions(), BacktestOptions(n_resamples=64)


def _predict(law_class: type, theta: np.ndarray, linear: np.ndarray, constants: dict, *inputs: float) -> float:
    if not np.all(np.isfinite(theta)):
        return float("nan")
    law = dataclasses.replace(law_class.from_solution(theta, linear), **constants)
    return float(law.predict(*inputs))


def backtest_family(
    runs: RunTable, method: Method, *, loss_split: str, task_set: TaskSet | None,
    options: BacktestOptions = DEFAULT_BACKTEST, loss_override: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Backtest one family under `method`: one row per (target, fit set). With `options.n_resamples`, also the fit
    part of each forecast's interval (`*_fit_low`, `*_fit_high`) and the target's measurement noise
    (`*_sigma`), from which `overtrain.trust.widths` calibrates intervals. `loss_override` gives the
    loss forecasts and at-bound flags instead of the family's own fits (a pooled fit's, `pooled_loss_forecasts`);
    the fit part then still comes from the family's own resampled fits."""
    loss_law, error_law = law_class(method.loss_law, "loss"), law_class(method.error_law, "error")
    loss_law = identifiable_form(loss_law, (runs.params, runs.tokens))[0]  # a sweep of one D, N or M: see fit_loss
    protocol, ratios, level, n_resamples, seed = (options.protocol, options.ratios, options.level, options.n_resamples,
                                                  options.seed)
    targets, masks, error_masks, distances = protocol_masks(
        runs, method, protocol, ratios, loss_law, error_law, task_set is not None)
    if len(targets) == 0:
        return pd.DataFrame()
    loss = runs.loss_values(loss_split)
    weights = masks.astype(float)
    own_pred = None
    if loss_override is None or n_resamples:
        theta, linear, loss_bound = solve_law(loss_law, (runs.params, runs.tokens), loss, method.loss_objective,
                                              weights)
        own_pred = np.array([_predict(loss_law, theta[b], linear[b], {}, runs.params[t], runs.tokens[t])
                             for b, t in enumerate(targets)])
        loss_pred = own_pred
    if loss_override is not None:
        loss_pred, loss_bound = loss_override
    loss_pred = physical("loss", loss_pred)
    frame = pd.DataFrame({
        "family": runs.families[0], "run": [runs.runs[t] for t in targets], "params": runs.params[targets],
        "tokens": runs.tokens[targets], "multiplier": runs.multiplier[targets], "flops": runs.flops[targets],
        "fit_runs": masks.sum(axis=1), "fit_sizes": distinct_per_mask(runs.params, masks),
        "m_excursion": [multiplier_excursion(runs.multiplier[t], runs.multiplier[m])
                        for t, m in zip(targets, masks, strict=True)],
        "error_fit_runs": error_masks.sum(axis=1), "fit_flops": weights @ runs.flops, "distance": distances,
        "reach": runs.flops[targets] / np.where(masks, runs.flops, 0.0).max(axis=1),
        "loss_true": loss[targets], "loss_pred": loss_pred, "loss_at_bound": np.asarray(loss_bound, dtype=bool),
    })
    frame["loss_rel_err"] = (frame["loss_pred"] - frame["loss_true"]) / frame["loss_true"]
    loss_samples = None
    if n_resamples:
        whole = fit_loss(runs, loss_split, law=loss_law, objective=method.loss_objective)
        loss_samples = resample_predictions(
            whole, masks, [(np.full(n_resamples, runs.params[t]), np.full(n_resamples, runs.tokens[t]))
                           for t in targets], n_resamples, seed)
        if loss_override is not None:  # the family's own spread, centred on the pooled forecast
            loss_samples = shift_on_scale("loss", loss_samples, own_pred[:, None], loss_pred[:, None])
        bounds = np.array([sample_bounds(row, level) for row in loss_samples])
        frame["loss_fit_low"], frame["loss_fit_high"] = bounds[:, 0], bounds[:, 1]
        frame["loss_sigma"] = [loss_target_noise(whole, p) if np.isfinite(p) else np.nan for p in loss_pred]
    if task_set is None:
        return frame
    error = runs.error_values(task_set)
    inputs = error_inputs(error_law, runs, loss_split)
    weights = error_masks.astype(float)
    laws, error_bound = solve_error_laws(error_law, inputs, weights, ErrorResponses(
        errors=error, task_errors=1.0 - runs.accuracy_values(task_set).T,
        task_losses=task_losses(runs, task_set) if error_law.needs_task_loss else None,
        chance=task_chance(runs, task_set), tasks=task_set.tasks,
        chance_offset=chance_error(runs, task_set) if error_law.offset == "chance_error" else 0.0))
    known = {"params": runs.params[targets], "tokens": runs.tokens[targets], "multiplier": runs.multiplier[targets],
             "loss": loss_pred}
    error_pred = np.array([float(law.predict(*(known[n][b] for n in error_law.inputs))) if law is not None else np.nan
                           for b, law in enumerate(laws)])
    error_pred = physical("error", error_pred)
    frame["error_at_bound"] = np.asarray(error_bound, dtype=bool)
    frame["error_true"] = error[targets]
    frame["error_pred"] = error_pred
    if n_resamples and error_law.batched and loss_samples is not None:
        whole = fit_error(runs, loss_split, task_set, law=error_law, checkpoints=False)
        inputs_per_mask = []
        for b, t in enumerate(targets):
            losses = np.where(np.isfinite(loss_samples[b]), loss_samples[b], loss_pred[b])
            known = {"loss": losses, "params": np.full(n_resamples, runs.params[t]),
                     "tokens": np.full(n_resamples, runs.tokens[t]),
                     "multiplier": np.full(n_resamples, runs.multiplier[t])}
            inputs_per_mask.append(tuple(known[name] for name in error_law.inputs))
        samples = resample_predictions(whole, error_masks, inputs_per_mask, n_resamples, seed + 1)
        bounds = np.array([fit_part_bounds("error", row, p, level) for row, p in zip(samples, error_pred, strict=True)])
        frame["error_fit_low"], frame["error_fit_high"] = bounds[:, 0], bounds[:, 1]
        examples = pd.to_numeric(runs.tasks["n_examples"].reindex(list(task_set.tasks)), errors="coerce")
        frame["error_sigma"] = [error_target_noise(whole, p, examples.to_numpy(dtype=float))
                                if np.isfinite(p) else np.nan for p in error_pred]
    frame["error_rel_err"] = (frame["error_pred"] - frame["error_true"]) / frame["error_true"]
    return frame


def pooled_loss_forecasts(
    tables: dict[str, RunTable], method: Method, loss_split: str, protocol: str, ratios: Sequence[float],
    with_error: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each family's backtest loss forecasts (and at-bound flags) from the loss law fitted to every family at once.

    For a forecast of family f's target from fit set S (the protocol's), each other family contributes the runs
    a team would have had then: smaller models than the target, no costlier than S's most expensive run, and
    under the size-ahead protocol only those the method's loss fit set selects. One batched pooled fit per
    forecast (`overtrain.fitting.solve.solve_pooled`); families whose runs cannot carry their own coefficients sit out.
    """
    loss_law, error_law = law_class(method.loss_law, "loss"), law_class(method.error_law, "error")
    names = list(tables)
    params = np.concatenate([tables[f].params for f in names])
    tokens = np.concatenate([tables[f].tokens for f in names])
    flops = np.concatenate([tables[f].flops for f in names])
    group = np.concatenate([np.full(len(tables[f]), g) for g, f in enumerate(names)])
    loss = np.concatenate([tables[f].loss_values(loss_split) for f in names])
    selected = np.ones(len(params), dtype=bool)
    if protocol == "size-ahead":
        spec = resolve_fit_set(method.loss_fit_set)
        selected = np.concatenate([spec.mask(tables[f].columns) for f in names])
    key = digest(repr((names, method.loss_law, method.loss_fit_set, error_law.n_coefficients, protocol,
                       tuple(ratios), with_error)), [params, tokens, flops, group, loss, selected])
    if key in _POOLED:
        return _POOLED[key]
    rows, places = [], []
    for g, name in enumerate(names):
        targets, masks, _, _ = protocol_masks(tables[name], method, protocol, ratios, loss_law, error_law, with_error)
        for t, mask in zip(targets, masks, strict=True):
            available = (params < tables[name].params[t]) & (flops <= tables[name].flops[mask].max()) & selected
            weights = np.where(group == g, 0.0, available.astype(float))
            weights[group == g] = mask
            rows.append(weights)
            places.append((g, tables[name].params[t], tables[name].tokens[t]))
    predictions = {name: ([], []) for name in names}
    if rows:
        theta, linear, at_bound = solve_pooled(loss_law, (params, tokens), group, loss, np.array(rows))
        for b, (g, n, d) in enumerate(places):
            value = _predict(loss_law, theta[b], linear[b, g], {}, n, d) if np.all(np.isfinite(linear[b, g])) \
                else float("nan")
            predictions[names[g]][0].append(value)
            predictions[names[g]][1].append(bool(at_bound[b]))
    result = {name: (np.array(p, dtype=float), np.array(b, dtype=bool)) for name, (p, b) in predictions.items()}
    if len(_POOLED) >= 64:
        _POOLED.pop(next(iter(_POOLED)))
    _POOLED[key] = result
    return result


#: Recent pooled backtest forecasts: the member laws of an ensemble share the pooled loss law's.
_POOLED: dict[bytes, dict[str, tuple[np.ndarray, np.ndarray]]] = {}


def backtest(
    runs: RunTable, method: Method = DEFAULT_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", options: BacktestOptions = DEFAULT_BACKTEST,
) -> pd.DataFrame:
    """Backtest every family of `runs` under `method` as `options` say; one row per (target, fit set). The ensemble
    error law is backtested through its members (`calibration_backtest`).

    Parameters
    ----------
    runs : RunTable
        The runs to backtest (every family).
    method : Method
        Laws and fit sets (default: the method `forecast` uses).
    loss_split : str, optional
        The loss split (default: the runs').
    tasks : str or sequence of str, optional
        The task set; None backtests the loss alone.
    options : BacktestOptions
        Protocol, compute ratios and resampling.

    Returns
    -------
    pandas.DataFrame
        One row per (target, fit set): the target, the distance, predicted and true loss and error, relative errors
        and, with resampling, the fit part's bounds. `summarize_backtest` calibrates intervals on it."""
    loss_split = loss_split or runs.default_split()
    if method.error_law == ENSEMBLE:
        if tasks is not None:
            return calibration_backtest(runs, method, loss_split=loss_split, tasks=tasks,
                                        options=dataclasses.replace(options, structural=False))
        method = base_method(method)
    tables = {family: runs.family(family).complete(loss_split, tasks) for family in runs.families}
    pooled = (pooled_loss_forecasts(tables, method, loss_split, options.protocol, options.ratios, tasks is not None)
              if method.loss_pooled else {})
    frames = [backtest_family(table, method, loss_split=loss_split,
                              task_set=None if tasks is None else table.task_set(tasks), options=options,
                              loss_override=pooled.get(family))
              for family, table in tables.items()]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise OvertrainError(f"{runs.source}: no fit set of cheaper runs can identify the laws; nothing to backtest")
    result = pd.concat(frames, ignore_index=True)
    result.attrs["method"] = method.label
    return result


_KEY = ["family", "run", "fit_flops"]


def with_structure(
    frame: pd.DataFrame, runs: RunTable, method: Method, *, loss_split: str, tasks: str | Sequence[str] | None,
    options: BacktestOptions = DEFAULT_BACKTEST,
) -> pd.DataFrame:
    """`frame` (a backtest of `method`) with each member law's forecast (`loss_pred:<law>`, `error_pred:<law>`;
    NaN where the member is not eligible) and the spread of the plausible ones on the interval scale
    (`loss_struct`, `error_struct`; see `plausible_members`)."""
    frame = frame.copy()
    for quantity in ("loss", "error") if "error_pred" in frame else ("loss",):
        for name, member in member_methods(method, quantity).items():
            try:
                other = backtest(runs, base_method(member), loss_split=loss_split,
                                 tasks=tasks if quantity == Quantity.ERROR else None,
                                 options=BacktestOptions(options.protocol, options.ratios))
            except OvertrainError:
                continue
            # a fit whose exponent sits at a search bound is scored by its forecast like any other (the bound is
            # information about the fit, not a miss); how many did is kept beside it
            frame = frame.merge(other[_KEY].assign(**{
                f"{quantity}_pred:{name}": other[f"{quantity}_pred"],
                f"{quantity}_at_bound:{name}": other[f"{quantity}_at_bound"].astype(bool)}), on=_KEY, how="left")
        columns = [f"{quantity}_pred:{name}" for name in plausible_members(frame, quantity)]
        frame[f"{quantity}_struct"] = [structural_spread(quantity, row) for row in frame[columns].to_numpy()]
    return frame


def calibration_backtest(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", options: BacktestOptions = CALIBRATING,
) -> pd.DataFrame:
    """The backtest intervals are calibrated on: `method` under `options.protocol` (the rolling protocol uses the
    method's laws on its own fit sets) with each forecast's fit part and, with `options.structural`, its member
    spread."""
    loss_split = loss_split or runs.default_split()
    protocol, structural = options.protocol, options.structural
    if protocol == "rolling":
        method = dataclasses.replace(method, loss_fit_set=None, error_fit_set=None)
    frame = backtest(runs, base_method(method), loss_split=loss_split, tasks=tasks, options=options)
    if structural or method.error_law == ENSEMBLE:
        frame = with_structure(frame, runs, method, loss_split=loss_split, tasks=tasks, options=options)
    if method.error_law == ENSEMBLE and "error_pred" in frame:
        columns = [f"error_pred:{name}" for name in plausible_members(frame, "error")]
        mean = ensemble_mean("error", frame[columns].to_numpy(dtype=float)) if columns else frame["error_pred"]
        mean = np.where(np.isfinite(mean), mean, frame["error_pred"])
        if "error_fit_low" in frame:
            for bound in ("error_fit_low", "error_fit_high"):
                frame[bound] = shift_on_scale("error", frame[bound].to_numpy(dtype=float),
                                              frame["error_pred"].to_numpy(dtype=float), mean)
        frame["error_pred"] = mean
        frame["error_rel_err"] = frame["error_pred"] / frame["error_true"] - 1
        if not structural:
            frame["error_struct"] = 0.0
    frame.attrs["source"] = f"{protocol} backtest of {runs.source} ({method.label})"
    return frame


def calibrate(
    runs: RunTable, method: Method = PAPER_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", options: BacktestOptions = CALIBRATING,
) -> tuple[Calibration, pd.DataFrame]:
    """Calibrate the extrapolation part of the intervals on every forecast of a backtest of `runs` (see
    `calibration_backtest`). Returns the calibration and the backtest."""
    frame = calibration_backtest(runs, method, loss_split=loss_split or runs.default_split(), tasks=tasks,
                                 options=options)
    return calibration_from(frame, options.level, frame.attrs["source"]), frame


@dataclass(frozen=True)
class Backtest:
    """A backtest with calibrated intervals: errors by distance, and how often intervals held the truth."""

    method: Method
    level: float
    frame: pd.DataFrame
    calibration: Calibration
    held_out_coverage: dict[str, float]
    protocol: str = "rolling"

    def summary(self) -> str:
        """A few lines a person reads: the method, its forecasts and how often intervals held the truth."""
        coverage = ", ".join(f"{q} {self.frame[f'{q}_inside'].mean():.1%}" for q in ("loss", "error")
                             if f"{q}_inside" in self.frame)
        held = ", ".join(f"{q} {v:.1%}" for q, v in self.held_out_coverage.items())
        lines = [f"{self.protocol} backtest of {self.method.label}: {len(self.frame)} forecasts",
                 f"  {100 * self.level:g}% intervals: {self.calibration.describe()}",
                 f"  inside (calibrated on these forecasts): {coverage or 'none'}"]
        if held:
            lines.append(f"  inside, each family against intervals calibrated without it: {held}")
        return "\n".join(lines)

    def summary_frame(self) -> pd.DataFrame:
        """Per decade of extrapolation distance (`by_distance`): the results' convention, `summary_frame()` a frame."""
        return self.by_distance()

    def by_distance(self) -> pd.DataFrame:
        """Per decade of extrapolation distance: forecasts, mean |relative error|, interval coverage."""
        decade = np.floor(np.log10(self.frame["distance"])).astype(int)
        columns = {"forecasts": ("run", "size"),
                   "loss_mean_abs_rel_err": ("loss_rel_err", lambda x: float(np.nanmean(np.abs(x))))}
        if "loss_inside" in self.frame:
            columns["loss_coverage"] = ("loss_inside", "mean")
        if "error_rel_err" in self.frame:
            columns["error_mean_abs_rel_err"] = ("error_rel_err", lambda x: float(np.nanmean(np.abs(x))))
        if "error_inside" in self.frame:
            columns["error_coverage"] = ("error_inside", "mean")
        table = self.frame.groupby(decade).agg(**columns)
        table.index = [f"{10.0**d:g}-{10.0 ** (d + 1):g}x" for d in table.index]
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method.label,
            "protocol": self.protocol,
            "level": self.level,
            "calibration": self.calibration.to_dict(),
            "coverage": {q: float(self.frame[f"{q}_inside"].mean()) for q in ("loss", "error")
                         if f"{q}_inside" in self.frame},
            "held_out_coverage": self.held_out_coverage,
            "by_distance": self.by_distance().reset_index(names="distance").to_dict(orient="records"),
            "forecasts": self.frame.replace({np.nan: None}).to_dict(orient="records"),
        }


def summarize_backtest(
    runs: RunTable, method: Method = DEFAULT_METHOD, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", options: BacktestOptions = CALIBRATING,
    progress: Callable[[str], None] | None = None,
) -> Backtest:
    """Backtest, calibrate intervals on it, and mark which forecasts fall inside. With several families,
    `held_out_coverage` also calibrates on all families but one and checks coverage on the one left out.
    The intervals are built as a forecast's are by default: without the laws' disagreement unless
    `options.structural`. `progress` hears each step.

    Parameters
    ----------
    runs : RunTable
        The runs to backtest (every family).
    method : Method
        Laws and fit sets (default: the method `forecast` uses).
    loss_split : str, optional
        The loss split.
    tasks : str or sequence of str, optional
        The task set.
    options : BacktestOptions
        Protocol, compute ratios, level and resampling.
    progress : callable, optional
        Told each step.

    Returns
    -------
    Backtest
        The forecasts with their intervals, errors and coverage by distance (`summary()`, `summary_frame()`)."""
    level, protocol = options.level, options.protocol
    (progress or (lambda step: None))(f"backtesting ({protocol})")
    calibration, frame = calibrate(runs, method, loss_split=loss_split, tasks=tasks, options=options)
    frame = frame.copy()
    held_out: dict[str, float] = {}
    for quantity, scale in (("loss", calibration.loss_scale), ("error", calibration.error_scale)):
        if f"{quantity}_fit_low" not in frame:
            continue
        finite = np.isfinite(frame[f"{quantity}_pred"]).to_numpy()
        inside = np.zeros(len(frame), dtype=bool)
        inside[finite] = coverage(frame[finite], quantity, scale, level, calibration.form(quantity),
                                  calibration.fit_factor(quantity))
        frame[f"{quantity}_inside"] = inside
        families = frame["family"].unique()
        if len(families) > 1:
            hits = []
            for family in families:
                train = frame[finite & (frame["family"] != family).to_numpy()]
                test = frame[finite & (frame["family"] == family).to_numpy()]
                train_scale, train_factor = calibrate_interval(train, quantity, level, calibration.form(quantity))
                hits.extend(coverage(test, quantity, train_scale, level, calibration.form(quantity), train_factor))
            held_out[quantity] = float(np.mean(hits))
    return Backtest(method, level, frame, calibration, held_out, protocol)


def __getattr__(name: str) -> Any:
    if name == "BacktestSummary":  # the old name of `Backtest`, kept for one release
        renamed("BacktestSummary", "Backtest")
        return Backtest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
