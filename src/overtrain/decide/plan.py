"""Plan the big run (which N and D reach a target at least total compute) and design the small runs.

Total compute over a model's life: training 6 N D plus inference 2 N T for T tokens served. For a target loss
X, each N needs the D that solves L(N, D) = X (found by bisection in log D, so any loss law works); the plan
is the N that minimises 6 N D(N) + 2 N T. A target error is first turned into a target loss through the
error law, which rises with loss. With T = 0 the plan's M = D/N is the law's compute-optimal M*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting.fit import Fit
from overtrain.fitting.method import PAPER_METHOD
from overtrain.forecasts import FittedLaws, Forecast, Target
from overtrain.laws.loss import held_out_reason
from overtrain.quantities import Quantity
from overtrain.runs.table import RunTable, flops_from
from overtrain.sizes import size_text
from overtrain.trust.calibration import Calibration
from overtrain.trust.intervals import Interval, IntervalParts
from overtrain.trust.prediction import Evidence, ForecastRequest, calibrated_intervals

PARAMS_RANGE = (1e5, 1e15)
TOKENS_RANGE = (1e5, 1e20)
_BISECTION_STEPS = 80


def tokens_for_loss(loss_fit: Fit, params: np.ndarray, target: float) -> np.ndarray:
    """D such that L(N, D) = target, per N (NaN where even unlimited data cannot reach the target)."""
    params = np.asarray(params, dtype=float)
    low = np.full(params.shape, np.log(TOKENS_RANGE[0]))
    high = np.full(params.shape, np.log(TOKENS_RANGE[1]))
    reachable = np.asarray(loss_fit.predict(params, np.exp(high))) < target
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        above = np.asarray(loss_fit.predict(params, np.exp(middle))) > target
        low, high = np.where(above, middle, low), np.where(above, high, middle)
    return np.where(reachable, np.exp(high), np.nan)


def loss_for_error(error_fit: Fit, target: float, floor_loss: float) -> float:
    """The loss at which the error law reaches `target` (it rises with loss); bisection above `floor_loss`."""
    if len(error_fit.law.inputs) != 1 or error_fit.law.inputs[0] != Quantity.LOSS:
        raise OvertrainError(f"planning for an error target needs an error law of loss alone, not {error_fit.law.name}")
    floor = float(error_fit.predict(floor_loss))
    if target <= floor:
        raise OvertrainError(
            f"target error {target:g} is at or below the error floor {floor:.4g} of the fitted law (its error at the "
            f"irreducible loss {floor_loss:.4g}); no model reaches it"
        )
    low, high = floor_loss, floor_loss + 50.0
    if float(error_fit.predict(high)) < target:
        raise OvertrainError(f"target error {target:g} is above what the fitted error law predicts for any loss")
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if float(error_fit.predict(middle)) < target else (low, middle)
    return (low + high) / 2


def irreducible_loss(loss_fit: Fit) -> float:
    """The loss approached with unlimited N and D: E for the laws here."""
    return float(loss_fit.predict(PARAMS_RANGE[1] * 1e10, TOKENS_RANGE[1] * 1e10))


@dataclass(frozen=True)
class Plan(Target):
    """The cheapest run (N, D) that reaches a target, counting `inference_tokens` served over its life."""

    inference_tokens: float
    target_loss: float
    target_error: float | None
    forecast: Forecast

    @property
    def training_flops(self) -> float:
        """6 N D."""
        return self.flops

    @property
    def inference_flops(self) -> float:
        """2 N T: a forward pass per token served."""
        return 2.0 * self.params * self.inference_tokens

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.inference_flops

    def summary(self) -> str:
        """A few lines a person reads: the target, the run that reaches it, its compute, the forecast there."""
        goal = (f"loss {self.target_loss:.4f}" if self.target_error is None
                else f"error {self.target_error:.4f} (loss {self.target_loss:.4f})")
        errors = "".join(f", error ({name} tasks) {value:.4f}" for name, value in self.forecast.errors.items())
        lines = [
            f"plan ({self.forecast.loss_fit.family}): least total compute reaching {goal}",
            f"  run: N = {self.params:.4g} (shape {shape_for(self.params)}), D = {self.tokens:.4g}, "
            f"M = {self.multiplier:.4g}",
            f"  compute: training {self.training_flops:.3g} + inference {self.inference_flops:.3g} "
            f"({self.inference_tokens:.3g} tokens served) = total {self.total_flops:.3g} FLOPs",
            f"  forecast there: loss {self.forecast.loss:.4f}{errors}",
        ]
        lines += [f"  warning: {warning}" for warning in self.forecast.warnings()]
        return "\n".join(lines)

    def summary_frame(self) -> pd.DataFrame:
        """One row: the run (N, D, M, its shape), its compute and the forecast there (the results' convention)."""
        return pd.DataFrame([{
            "params": self.params, "tokens": self.tokens, "multiplier": self.multiplier,
            "shape": str(shape_for(self.params)), "inference_tokens": self.inference_tokens,
            "training_flops": self.training_flops, "inference_flops": self.inference_flops,
            "total_flops": self.total_flops, **self.forecast.row()}]).drop(columns="flops")

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params, "tokens": self.tokens, "multiplier": self.multiplier,
            "inference_tokens": self.inference_tokens, "target_loss": self.target_loss,
            "target_error": self.target_error, "training_flops": self.training_flops,
            "inference_flops": self.inference_flops, "total_flops": self.total_flops,
            "shape": str(shape_for(self.params)), "forecast": self.forecast.to_dict(),
        }


def total_compute(loss_fit: Fit, params: np.ndarray, target_loss: float, inference_tokens: float) -> np.ndarray:
    """6 N D(N) + 2 N T for each N (NaN where N cannot reach the target)."""
    params = np.asarray(params, dtype=float)
    return 6.0 * params * tokens_for_loss(loss_fit, params, target_loss) + 2.0 * params * inference_tokens


def _needs_both_terms(laws: FittedLaws) -> None:
    """Planning trades parameters against tokens, which a loss law holding a term out cannot do."""
    if laws.loss.held_out:
        raise OvertrainError(f"{laws.family}: cannot plan: {held_out_reason(laws.loss.inputs)}, and a plan trades "
                             "parameters against tokens")


def plan(
    laws: FittedLaws, *, target_loss: float | None = None, target_error: float | None = None,
    inference_tokens: float = 0.0, budget: float | None = None,
) -> Plan:
    """The (N, D) of least total compute that reaches `target_loss` or `target_error`.

    Parameters
    ----------
    laws : FittedLaws
        One family's fitted loss law (and error law, for `target_error`).
    target_loss, target_error : float, optional
        What the run must reach; one of the two.
    inference_tokens : float
        Tokens the model will serve: total compute counts 2 N per served token.
    budget : float, optional
        Training compute (6 N D) the planned run may not exceed, as `--budget` says.

    Returns
    -------
    Plan
        N, D, M, the training, inference and total compute and the forecast there."""
    if (target_loss is None) == (target_error is None):
        raise OvertrainError("give exactly one of a target loss or a target error")
    if inference_tokens < 0 or not np.isfinite(inference_tokens):
        raise OvertrainError(f"inference tokens must be a non-negative number, got {inference_tokens!r}")
    _needs_both_terms(laws)
    floor = irreducible_loss(laws.loss)
    if target_error is not None:
        if laws.error is None:
            raise OvertrainError("a target error needs an error law: fit runs that carry task accuracies")
        target_loss = loss_for_error(laws.error, target_error, floor)
    assert target_loss is not None
    if target_loss <= floor:
        raise OvertrainError(
            f"target loss {target_loss:.4g} is at or below the irreducible loss E = {floor:.4g} of the fitted law; "
            "no model reaches it"
        )
    log_params = np.linspace(*np.log(PARAMS_RANGE), 4001)
    totals = total_compute(laws.loss, np.exp(log_params), target_loss, inference_tokens)
    if not np.any(np.isfinite(totals)):
        raise OvertrainError(f"no model of 1e5 to 1e15 parameters reaches loss {target_loss:.4g}")
    best = int(np.nanargmin(totals))
    low, high = log_params[max(best - 1, 0)], log_params[min(best + 1, len(log_params) - 1)]
    for _ in range(_BISECTION_STEPS):  # golden-section search on the unimodal bracket
        a, b = high - 0.618 * (high - low), low + 0.618 * (high - low)
        fa, fb = total_compute(laws.loss, np.exp([a, b]), target_loss, inference_tokens)
        low, high = (low, b) if fa <= fb else (a, high)
    params = float(np.exp((low + high) / 2))
    tokens = float(tokens_for_loss(laws.loss, np.array([params]), target_loss)[0])
    result = Plan(params, tokens, inference_tokens, target_loss, target_error, laws.point_forecast(params, tokens))
    if budget is not None and result.training_flops > budget:
        raise OvertrainError(
            f"reaching loss {target_loss:.4g} needs {result.training_flops:.3g} training FLOPs at best "
            f"(N = {params:.3g}, D = {tokens:.3g}), beyond the budget of {budget:.3g}"
        )
    return result


BUDGET_MULTIPLIERS = np.array([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000], dtype=float)


def under_budget(laws: FittedLaws, budget: float, multipliers: Sequence[float] | None = None) -> list[dict]:
    """For a training budget C: at each M, N = sqrt(C / 6M), D = M N, and the forecast loss and error. By default
    M runs over 1, 2, 5, 10, ... 2000 and the law's compute-optimal M*, where the budget buys the lowest loss;
    the row of lowest loss is marked `best`."""
    if budget <= 0 or not np.isfinite(budget):
        raise OvertrainError(f"the budget must be a positive number of FLOPs, got {budget!r}")
    _needs_both_terms(laws)
    if multipliers is None:
        m_star = laws.loss.law.M_star
        grid = np.unique(np.concatenate([BUDGET_MULTIPLIERS, [] if m_star is None else [m_star]]))
    else:
        grid = np.asarray(multipliers, dtype=float)
    rows = []
    for m in grid:
        params = float(np.sqrt(budget / (6.0 * m)))
        f = laws.point_forecast(params, m * params)
        rows.append({"multiplier": float(m), "params": params, "tokens": m * params, "loss": f.loss, "error": f.error,
                     "best": False})
    rows[min(range(len(rows)), key=lambda i: rows[i]["loss"])]["best"] = True
    return rows


# --- designing the small runs --------------------------------------------------------------------------------

DESIGN_MULTIPLIER = 20.0
OVERTRAINED_MULTIPLIER = 320.0
SIZE_RATIO = 3.0
N_SIZES = 4
#: Smaller models than this say little about large ones (the testbed's smallest is 11M parameters).
MIN_DESIGN_PARAMS = 1e7


#: Where the evidence of `design` comes from by default (`RunTable.source` of the bundled testbed).
TESTBED = "bundled testbed"


@dataclass(frozen=True)
class Design:
    """Small runs to train before the target: the paper's recipe, scaled to the budget."""

    target_params: float
    target_tokens: float
    runs: tuple[Target, ...]
    evidence: list[dict]
    source: str = TESTBED  # the runs the evidence comes from

    @property
    def flops(self) -> float:
        return sum(r.flops for r in self.runs)

    @property
    def distance(self) -> float:
        """Target compute over the design's compute: how far the forecast will extrapolate."""
        return float(flops_from(self.target_params, self.target_tokens)) / self.flops

    def expectation(self) -> str:
        """What accuracy to expect, from the evidence at comparable distance (within a factor of 3)."""
        near = [e for e in self.evidence if self.distance / 3 <= e["distance"] <= self.distance * 3]
        where_from = "the bundled testbed" if self.source == TESTBED else self.source
        if not near:
            span = ", ".join(f"{d:.0f}x" for d in sorted({round(e["distance"]) for e in self.evidence}))
            on = "" if self.source == TESTBED else f" on {where_from}"
            return (f"no evidence at {self.distance:.0f}x; the paper's recipe was checked{on} at {span}: "
                    "forecast at your own risk and backtest your runs (`overtrain backtest`)")
        loss = [abs(e["loss_rel_err"]) for e in near]
        error_key = next((k for k in near[0] if k.startswith("err") and k.endswith("_rel_err")), None)
        error = [abs(e[error_key]) for e in near] if error_key else []
        low, high = min(e["distance"] for e in near), max(e["distance"] for e in near)
        where = f"at {low:.0f}x" if round(low) == round(high) else f"at {low:.0f}x to {high:.0f}x"
        runs = "run" if len(near) == 1 else "runs"

        def spread(values: list[float]) -> str:
            if len(values) == 1:
                return f"{100 * values[0]:.2f}%"
            return f"{100 * min(values):.2f}% to {100 * max(values):.2f}% (mean {100 * np.mean(values):.2f}%)"

        beyond = ""
        if self.distance > high * 1.05:
            beyond = (f"; {self.distance:.0f}x is {self.distance / high:.1f}x further than any of them, and "
                      "backtest misses grow with distance: expect worse")
        errors = ""
        if error_key:
            task_set = error_key.removeprefix("err").removesuffix("_rel_err")
            label = f"{task_set}-task average error" if task_set.isdigit() else f"average error ({task_set} tasks)"
            errors = f", {label} off by {spread(error)}"
        return (f"at {self.distance:.0f}x, the paper's recipe forecast {len(near)} held-out {runs} of {where_from} "
                f"{where}: loss off by {spread(loss)}{errors}{beyond}")

    def summary(self) -> str:
        """A few lines a person reads: the runs to train, their compute, and what accuracy to expect."""
        lines = [f"design for N = {size_text(self.target_params)}, D = {size_text(self.target_tokens)}: "
                 f"{len(self.runs)} runs, {self.flops:.3g} FLOPs ({self.distance:.0f}x short of the target)"]
        lines += [f"  N = {size_text(r.params)} (shape {shape_for(r.params)}), M = {r.multiplier:.3g}, "
                  f"D = {size_text(r.tokens)}" for r in self.runs]
        lines.append(f"  {self.expectation()}")
        return "\n".join(lines)

    def summary_frame(self) -> pd.DataFrame:
        """One row per run to train: N, M, D, C and the shape (the results' convention)."""
        return pd.DataFrame([{"params": r.params, "multiplier": r.multiplier, "tokens": r.tokens, "flops": r.flops,
                              "shape": str(shape_for(r.params))} for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation(),
            "target": {"params": self.target_params, "tokens": self.target_tokens},
            "runs": [{"params": r.params, "multiplier": r.multiplier, "tokens": r.tokens, "flops": r.flops,
                      "shape": str(shape_for(r.params))} for r in self.runs],
            "target_shape": str(shape_for(self.target_params)),
            "flops": self.flops, "distance": self.distance, "evidence": self.evidence,
        }


def design(target_params: float, target_tokens: float, budget: float, evidence: list[dict] | None = None,
           runs: RunTable | None = None) -> Design:
    """Four sizes a factor 3 apart at M = 20 plus the smallest at M = 320 (the paper's recipe; M = 5 is
    avoided, the law holds poorly there), scaled so the runs spend `budget` FLOPs and the largest stays below
    the target. `evidence` holds past forecasts (distance, relative errors) to say what accuracy to expect;
    by default, how the paper's recipe fared on `runs` (default: the bundled testbed; `paper.design_evidence`).

    Parameters
    ----------
    target_params : float
        N of the target run.
    target_tokens : float
        D of the target run.
    budget : float
        FLOPs the small runs spend together (6 N D each).
    evidence : list of dict, optional
        Past forecasts (`distance`, `loss_rel_err`, `err<tasks>_rel_err`) to say what accuracy to expect.
    runs : RunTable, optional
        The runs the evidence comes from when `evidence` is not given (default: the bundled testbed).

    Returns
    -------
    Design
        The small runs, their compute, distance to the target and expected accuracy (`expectation()`, `to_dict()`)."""
    for name, value in (("target params", target_params), ("target tokens", target_tokens), ("budget", budget)):
        if not np.isfinite(value) or value <= 0:
            raise OvertrainError(f"{name} must be a positive number, got {value!r}")
    shares = SIZE_RATIO ** (-2.0 * np.arange(N_SIZES))
    per_top = 6.0 * (DESIGN_MULTIPLIER * shares.sum() + OVERTRAINED_MULTIPLIER * shares[-1])
    top = float(np.sqrt(budget / per_top))
    if top >= target_params:
        raise OvertrainError(
            f"the budget {budget:.3g} FLOPs would train small runs as large as the target ({target_params:.3g} "
            "parameters); spend less, or train the target itself"
        )
    sizes = top / SIZE_RATIO ** np.arange(N_SIZES)
    if sizes[-1] < MIN_DESIGN_PARAMS:
        needed = per_top * (MIN_DESIGN_PARAMS * SIZE_RATIO ** (N_SIZES - 1)) ** 2
        raise OvertrainError(
            f"the budget {budget:.3g} FLOPs buys small runs of {sizes[-1]:.2g} to {sizes[0]:.2g} parameters; the "
            f"smallest should have at least {MIN_DESIGN_PARAMS:.0e} (the testbed's smallest has 11M): spend at "
            f"least {needed:.2g} FLOPs"
        )
    small = [Target(float(s), float(s) * DESIGN_MULTIPLIER) for s in sizes]
    small.append(Target(float(sizes[-1]), float(sizes[-1]) * OVERTRAINED_MULTIPLIER))
    if evidence is None:
        from overtrain.paper import design_evidence

        evidence = design_evidence(runs)
    return Design(target_params, target_tokens, tuple(sorted(small, key=lambda r: r.flops)), evidence,
                  TESTBED if runs is None else runs.source)


def params_for_loss(loss_fit: Fit, multipliers: np.ndarray, target: float) -> np.ndarray:
    """N such that L(N, M N) = target, per M (NaN where unreachable): for the frontier over M."""
    multipliers = np.asarray(multipliers, dtype=float)
    low = np.full(multipliers.shape, np.log(PARAMS_RANGE[0]))
    high = np.full(multipliers.shape, np.log(PARAMS_RANGE[1]))
    reachable = np.asarray(loss_fit.predict(np.exp(high), multipliers * np.exp(high))) < target
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        params = np.exp(middle)
        above = np.asarray(loss_fit.predict(params, multipliers * params)) > target
        low, high = np.where(above, middle, low), np.where(above, high, middle)
    return np.where(reachable, np.exp(high), np.nan)


# --- model shapes ---------------------------------------------------------------------------------------------

OPEN_LM_VOCAB = 50432


def open_lm_params(width: int, depth: int, vocab: int = OPEN_LM_VOCAB) -> int:
    """Total parameters of an open_lm transformer (the testbed's architecture, exact for its six shapes):
    per layer 4 d^2 attention, 3 d h SwiGLU with h = 256 ceil(8d / 3 / 256), 2 d norm gains; untied input and
    output embeddings 2 V d; a final norm d."""
    hidden = 256 * int(np.ceil(8 * width / 3 / 256))
    return depth * (4 * width * width + 3 * width * hidden + 2 * width) + 2 * vocab * width + width


@dataclass(frozen=True)
class Shape:
    """A transformer shape: width (d_model), depth (layers), heads, and its exact parameter count."""

    width: int
    depth: int
    heads: int
    params: int

    def __str__(self) -> str:
        return f"d={self.width}_l={self.depth}_h={self.heads}"


def shape_for(params: float, vocab: int = OPEN_LM_VOCAB) -> Shape:
    """A shape near `params` parameters (widths in steps of 32, of 128 from 1024): among shapes within 2% of the
    count, the one whose width-to-depth ratio is nearest 64 (N / 1e9)^0.25, which passes near the testbed's
    0.411B, 1.4B and 6.9B shapes (ratios 43, 85, 128); the nearest count when none is within 2%. Heads: a power
    of two giving heads of about 64 dimensions, at least 2."""
    aspect = 64 * (params / 1e9) ** 0.25
    best: tuple[float, float, int, int] | None = None
    for depth in range(2, 129):
        for width in (*range(32, 1024, 32), *range(1024, 16385, 128)):
            count = open_lm_params(width, depth, vocab)
            miss = abs(count / params - 1)
            key = (0.0 if miss <= 0.02 else miss, abs(np.log(width / depth / aspect)), width, depth)
            if best is None or key < best:
                best = key
            if count > params * 1.02:
                break
    assert best is not None
    width, depth = best[2], best[3]
    heads = max(2, 2 ** round(np.log2(width / 64)))
    while width % heads:
        heads //= 2
    return Shape(width, depth, heads, open_lm_params(width, depth, vocab))


@dataclass(frozen=True)
class FamilyPlan:
    """One family's cheapest run to reach the target at one inference volume (`Plan`), with the forecast's
    intervals there and what they are built from (empty without runs)."""

    laws: FittedLaws
    plan: Plan
    intervals: dict[str, Interval]
    parts: dict[str, IntervalParts]
    calibration: Calibration | None


def plan_families(
    fitted: Sequence[FittedLaws], runs: RunTable | None, volumes: Sequence[float], *, target_loss: float | None,
    target_error: float | None, budget: float | None = None, level: float = 0.9,
    progress: Callable[[str], None] | None = None,
) -> list[FamilyPlan]:
    """Every family's plan (`plan`) at each inference volume, with calibrated intervals on the forecast at
    the plan when `runs` are given and `level` is not 0.

    Parameters
    ----------
    fitted : sequence of FittedLaws
        Each family's fitted laws.
    runs : RunTable or None
        The runs the intervals are calibrated on (None: no intervals).
    volumes : sequence of float
        Inference volumes: tokens each planned model will serve.
    target_loss, target_error : float or None
        What the run must reach; one of the two.
    budget : float, optional
        Training compute (6 N D) not to exceed.
    level : float
        Interval level of the forecast at each plan; 0 for none.
    progress : callable, optional
        Told each family as it is planned.

    Returns
    -------
    list of FamilyPlan
        Per family, per volume: the plan, its intervals, what they are built from and the calibration."""
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
            request = ForecastRequest(laws.loss.loss_split, task_spec, PAPER_METHOD, level=level)
            calibrated = calibrated_intervals(runs.family(laws.family), laws, [p.forecast for p in plans], request,
                                              Evidence(calibration=runs))
            calibration, intervals, parts = calibrated.calibration, calibrated.intervals, calibrated.parts
        results += [FamilyPlan(laws, p, i, part, calibration) for p, i, part in zip(plans, intervals, parts,
                                                                                       strict=True)]
    return results
