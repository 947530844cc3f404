"""Calibration, the second of trust's three results: one extrapolation `Width` per quantity, learned from backtests
that resemble a forecast and from the development suite's held-out forecasts, and the options (`IntervalOptions`)
that say how."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.quantities import Quantity
from overtrain.trust.parts import adaptive_factor, distance_growth
from overtrain.trust.protocols import MIN_SMALLER_SIZES
from overtrain.trust.widths import POWERS, calibrate_interval, calibrate_width, evidence_frame, task_widths


@dataclass(frozen=True)
class Width:
    """One quantity's calibrated extrapolation half-width on the interval scale: `scale` times its growth with compute
    distance (`form`, see `distance_growth`) times how it follows the forecast's own fit part w,
    (max(w, MIN_FIT_WIDTH) / `reference`)^`power` (power 0: the same width for every forecast at one distance); the
    resampled fit part counted times `fit_factor`; below the forecast `below` instead of `scale` where the evidence
    misses to one side (`overtrain.trust.widths.one_sided`; NaN: the same on both sides)."""

    scale: float
    form: str = "log-distance"
    fit_factor: float = 1.0
    power: float = 0.0
    reference: float = 1.0
    below: float = float("nan")

    def describe(self) -> str:
        grows = "at any distance" if self.form == "constant" else "x log10(1 + compute distance)"
        adapts = "" if not self.power else f", times (fit part / {self.reference:.2g})^{self.power:g}"
        sides = "" if not np.isfinite(self.below) else f" above, {self.below:.3g} below"
        return f"{self.scale:.3g}{sides} {grows}{adapts}"


@dataclass(frozen=True)
class Calibration:
    """The extrapolation half-widths at `level`, one `Width` per quantity: the loss's (log scale), the average
    error's and each task's (logit scale; a task without its own, `task_scales`, takes `task`'s, and without that the
    error's), learned from forecasts up to the compute distance `evidence_reach`."""

    loss: Width
    error: Width
    level: float
    source: str
    #: The extrapolation width of one task's error (`task_forecasts`), calibrated on held-out per-task forecasts; its
    #: scale NaN where none were, and then the average error's.
    task: Width = Width(float("nan"))
    #: Each task's own extrapolation scale where the suite's held-out forecasts of that task calibrate one, pooled
    #: toward `task`'s (`overtrain.trust.widths.task_widths`); a task not in it takes `task`'s.
    task_scales: tuple[tuple[str, float], ...] = ()
    #: The largest compute distance among the forecasts the widths were learned on (inf: not recorded). Beyond it a
    #: width that does not grow with distance grows from there as log10(1 + d) / log10(1 + reach) (`half_width`), and
    #: the forecast says so.
    evidence_reach: float = float("inf")

    @classmethod
    def of(cls, loss_scale: float, error_scale: float, level: float, source: str) -> Calibration:
        """A calibration of two scales, both growing with log distance, the fit part counted in full."""
        return cls(Width(loss_scale), Width(error_scale), level, source)

    @property
    def loss_scale(self) -> float:
        """The loss width's scale (`loss.scale`)."""
        return self.loss.scale

    @property
    def error_scale(self) -> float:
        """The average error width's scale (`error.scale`)."""
        return self.error.scale

    def width(self, quantity: str) -> Width:
        """The width of `quantity` (`loss`, `error` or `task`): a task's is its own scale in the error's form and
        fit-part factor, or the error's scale where it has none."""
        if quantity == Quantity.LOSS:
            return self.loss
        if quantity == Quantity.ERROR:
            return self.error
        scale = self.task.scale if np.isfinite(self.task.scale) else self.error.scale
        return Width(scale, self.error.form, self.error.fit_factor, below=self.task.below)

    def describe(self) -> str:
        """One line: the calibrated extrapolation half-widths and how much of the resampled fit part counts."""
        def counted(factor: float) -> str:
            return "not counted" if factor == 0 else "in full" if factor == 1 else f"x{factor:g}"

        loss = f"loss {self.loss.describe()} on the log scale"
        if not np.isfinite(self.error.scale):  # nothing to calibrate the error on: runs without tasks
            return f"extrapolation half-width: {loss}; resampled fit part {counted(self.loss.fit_factor)}"
        return (f"extrapolation half-width: {loss}, error {self.error.describe()} on the logit scale; resampled fit "
                f"part {counted(self.loss.fit_factor)} (loss), {counted(self.error.fit_factor)} (error)")

    def for_task(self, task: str) -> Calibration:
        """This calibration with `task`'s own extrapolation scale as the task scale, where it has one."""
        own = dict(self.task_scales).get(task)
        if own is None or not np.isfinite(own):
            return self
        return dataclasses.replace(self, task=dataclasses.replace(self.task, scale=own, below=float("nan")))

    def finite(self) -> Calibration:
        """This calibration with a scale nothing could calibrate (NaN) taken as 0: no extrapolation part."""
        def zero(width: Width) -> Width:
            return width if np.isfinite(width.scale) else dataclasses.replace(width, scale=0.0)

        return dataclasses.replace(self, loss=zero(self.loss), error=zero(self.error))

    def form(self, quantity: str) -> str:
        """How the extrapolation half-width of `quantity` grows with compute distance (see `distance_growth`)."""
        return self.width(quantity).form

    def fit_factor(self, quantity: str) -> float:
        """How much of the resampled fit part the intervals of `quantity` carry (see `calibrate_interval`)."""
        return self.width(quantity).fit_factor

    def half_width(self, quantity: str, distance: float | np.ndarray, fit_width: float | np.ndarray = float("nan"),
                   below: bool = False) -> float | np.ndarray:
        """Extrapolation half-width of `quantity` at compute distance `distance`, on the interval scale, for a
        forecast whose fit part is `fit_width` (see `adaptive_factor`): the upper side's, or with `below` the lower
        side's."""
        width = self.width(quantity)
        scale = width.below if below and np.isfinite(width.below) else width.scale
        return (scale * distance_growth(width.form, distance) * self.beyond_evidence(quantity, distance)
                * adaptive_factor(fit_width, width.power, width.reference))

    def beyond_evidence(self, quantity: str, distance: float | np.ndarray) -> float | np.ndarray:
        """How much wider a width that does not grow with distance is beyond the evidence's reach:
        log10(1 + d) / log10(1 + reach) past it, 1 before (and always 1 for widths that grow with log distance)."""
        distance = np.asarray(distance, dtype=float)
        if self.form(quantity) != "constant" or not np.isfinite(self.evidence_reach):
            return np.ones_like(distance) if distance.ndim else 1.0
        factor = np.where(distance > self.evidence_reach,
                          np.log10(1.0 + distance) / np.log10(1.0 + self.evidence_reach), 1.0)
        return float(factor) if factor.ndim == 0 else factor

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON reads it: each quantity's width flattened as `<quantity>_<part>`."""
        return {"loss_scale": self.loss.scale, "error_scale": self.error.scale, "level": self.level,
                "source": self.source, "loss_form": self.loss.form, "error_form": self.error.form,
                "loss_fit_factor": self.loss.fit_factor, "error_fit_factor": self.error.fit_factor,
                "task_scale": self.task.scale, "loss_power": self.loss.power, "error_power": self.error.power,
                "loss_reference": self.loss.reference, "error_reference": self.error.reference,
                "loss_below": self.loss.below, "error_below": self.error.below, "task_below": self.task.below,
                "task_scales": dict(self.task_scales), "evidence_reach": self.evidence_reach}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Calibration:
        """Read `to_dict`'s output (a single `form`, as written before forms were per quantity, applies to both)."""
        form = str(document.get("form", "log-distance"))

        def number(name: str, default: float) -> float:
            return float(document.get(name, default))

        def width(quantity: str) -> Width:
            return Width(float(document[f"{quantity}_scale"]), str(document.get(f"{quantity}_form", form)),
                         number(f"{quantity}_fit_factor", 1.0), number(f"{quantity}_power", 0.0),
                         number(f"{quantity}_reference", 1.0), number(f"{quantity}_below", float("nan")))

        return cls(width("loss"), width("error"), float(document["level"]), str(document["source"]),
                   Width(number("task_scale", float("nan")), below=number("task_below", float("nan"))),
                   tuple((str(k), float(v)) for k, v in dict(document.get("task_scales", {})).items()),
                   number("evidence_reach", float("inf")))


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


@dataclass(frozen=True)
class IntervalOptions:
    """How intervals are calibrated: on backtests that resemble the forecast (`resembling`) or on all of them;
    with the plausible laws' disagreement (`structural`); how the extrapolation part of the loss and of the error grows
    with compute distance (`loss_form`, `error_form`, see `overtrain.trust.parts.distance_growth`) and what that
    distance is measured against (`distance`, see `overtrain.trust.parts.DISTANCES`); the backtest `protocol`
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
