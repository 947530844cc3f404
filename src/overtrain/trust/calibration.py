"""Intervals calibrated on backtests: the forecasts that resemble one, the calibration they give, and a backtest's
summary of how often its intervals held the truth."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.fitting.method import DEFAULT_METHOD, PAPER_METHOD, Method
from overtrain.runs.table import RunTable
from overtrain.trust.backtest import calibration_backtest
from overtrain.trust.intervals import Calibration, Width
from overtrain.trust.protocols import CALIBRATING, MIN_SMALLER_SIZES, BacktestOptions
from overtrain.trust.widths import (
    POWERS,
    calibrate_interval,
    calibrate_width,
    coverage,
    evidence_frame,
    task_widths,
)

#: Fewer resembling backtest forecasts than this and the calibration falls back to every backtest forecast.
MIN_CALIBRATION_FORECASTS = 10


def resembling(frame: pd.DataFrame, fit_sizes: int, m_excursion: float, at_bound: bool = False) -> pd.DataFrame:
    """The backtest forecasts that resemble a forecast from `fit_sizes` model sizes at a target `m_excursion`
    decades outside the fit runs' M range: at least as many sizes (up to 3), M no further out than the forecast's
    or 2x, whichever is further, and, unless the forecast's own fit is `at_bound`, laws that fitted without an
    exponent at a search bound (such a forecast carries a warning and is not the one being made). All forecasts
    when fewer than `MIN_CALIBRATION_FORECASTS` qualify."""
    limit = max(m_excursion, np.log10(2.0)) + 1e-9
    keep = (frame["fit_sizes"] >= min(fit_sizes, MIN_SMALLER_SIZES)) & (frame["m_excursion"] <= limit)
    if not at_bound:
        for column in ("loss_at_bound", "error_at_bound"):
            if column in frame:
                keep &= ~frame[column].astype(bool)
    chosen = frame[keep]
    return chosen if len(chosen) >= MIN_CALIBRATION_FORECASTS else frame


def calibration_from(frame: pd.DataFrame, level: float, source: str, form: str = "log-distance") -> Calibration:
    """The extrapolation scales (and fit-part factors, see `overtrain.trust.widths.calibrate_interval`) for which
    `level` of the backtest forecasts in `frame` hold the truth."""
    loss_scale, loss_factor = calibrate_interval(frame, "loss", level, form)
    error_scale, error_factor = (calibrate_interval(frame, "error", level, form) if "error_fit_low" in frame
                                 else (float("nan"), 1.0))
    return Calibration(Width(loss_scale, form, loss_factor), Width(error_scale, form, error_factor), level,
                       f"{source}: {len(frame)} forecasts")


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
class BacktestSummary:
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
) -> BacktestSummary:
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
    BacktestSummary
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
    return BacktestSummary(method, level, frame, calibration, held_out, protocol)


@dataclass(frozen=True)
class IntervalOptions:
    """How intervals are calibrated: on backtests that resemble the forecast (`resembling`) or on all of them;
    with the plausible laws' disagreement (`structural`); how the extrapolation part of the loss and of the error grows
    with compute distance (`loss_form`, `error_form`, see `overtrain.trust.intervals.distance_growth`) and what that
    distance is measured against (`distance`, see `overtrain.trust.intervals.DISTANCES`); the backtest `protocol`
    (`auto`: size-ahead when the method names its fit sets and the runs allow it, else rolling); and whether the
    development suite's held-out forecasts count as evidence beside the runs' own backtests (`suite`), and whether those
    do (`own`); with both, how the two weigh (`own_prior`: equal weights, or the runs' own n backtest forecasts weighing
    n / (n + own_prior), see `pooled_calibration`); whether each width follows the forecast's own fit part
    (`adaptive`, see `overtrain.trust.widths.calibrate_width`); and of which quantities (`loss`, `error`, `task`) the
    lower and upper sides are calibrated apart where the evidence misses to one side (`sides`, see
    `overtrain.trust.widths.one_sided`)."""

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
    sides: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, str]:
        """(loss form, error form)."""
        return self.loss_form, self.error_form


#: The development suite's choice (`benchmarks/generalisation.py`, recorded in `data/suite_choice.json`): the suite's
#: held-out forecasts beside the runs' own resembling backtests, the two weighing equally, and the plausible laws'
#: disagreement as a part of the interval (2026-12-05: once laws join the ensemble on merit, their spread follows the
#: misses).
DEFAULT_INTERVALS = IntervalOptions(own=True, structural=True)


def pooled_calibration(
    own: pd.DataFrame | None, evidence: pd.DataFrame | None, level: float, forms: tuple[str, str], source: str,
    own_prior: float | None = None, adaptive: bool = False, sides: tuple[str, ...] = (),
) -> Calibration:
    """The extrapolation scales for which `level` of the forecasts hold the truth, counting the runs' own
    resembling backtests (`own`) and the suite's held-out forecasts (`evidence`, rows of
    `overtrain.runs.testbed.load_suite_evidence`) as two sources (either may be missing); `forms` are the loss's and the
    error's (see `IntervalOptions`). The two sources weigh equally, or with `own_prior` k the runs' own n backtest
    forecasts weigh n / (n + k): a sweep with many backtests is judged on its own misses, one with few on the
    suite's. With `adaptive`, each quantity's half-width may follow the forecast's own fit part (`POWERS`, see
    `overtrain.trust.widths.calibrate_width`); the quantities in `sides` with each side apart where the forecasts
    miss to one side."""
    scales, factors, powers, references, belows, counts = {}, {}, {}, {}, {}, []
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
            belows[quantity] = float("nan")
            continue
        shares = [1.0] * len(sources)
        if own_prior is not None and len(sources) == 2:
            n_own = float(np.isfinite(sources[0][f"{quantity}_pred"]).sum())
            shares = [n_own / (n_own + own_prior), own_prior / (n_own + own_prior)]
        pooled = pd.concat([f.assign(weight=share / len(f)) for f, share in zip(sources, shares, strict=True)],
                           ignore_index=True)
        scales[quantity], factors[quantity], powers[quantity], references[quantity], belows[quantity] = calibrate_width(
            pooled, quantity, level, form_of[quantity], POWERS if adaptive and quantity != "task" else (0.0,),
            quantity in sides)
    task_scales: tuple[tuple[str, float], ...] = ()
    if evidence is not None and np.isfinite(scales["task"]):
        task_rows = evidence[evidence["quantity"] == "task"]
        if len(task_rows):
            task_scales = task_widths(evidence_frame(evidence, "task"), task_rows["run"].str.rsplit("/", n=1).str[-1],
                                      level, form_of["task"], factors["task"], scales["task"])
    distances = [frame["distance"].to_numpy(dtype=float) for frame in (own, evidence)
                 if frame is not None and len(frame) and "distance" in frame]
    reach = np.concatenate(distances) if distances else np.array([])
    reach = float(np.max(reach[np.isfinite(reach)])) if np.isfinite(reach).any() else float("inf")
    parts = [source] if own is not None and len(own) else []
    if evidence is not None and len(evidence):
        parts.append("held-out forecasts of the development suite")
    described = " and ".join(parts) or "nothing (no backtest, no suite evidence)"
    widths = {quantity: Width(scales[quantity], form_of[quantity], factors[quantity], powers[quantity],
                              references[quantity], belows[quantity]) for quantity in ("loss", "error")}
    return Calibration(widths["loss"], widths["error"], level, f"{described}: {', '.join(counts)} forecasts",
                       Width(scales["task"], below=belows["task"]), task_scales, reach)
