"""Which method forecasts best: backtest scores, and the choice among candidates with the development suite's say."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError, renamed
from overtrain.fitting.fit import fit_error, fit_loss, fit_loss_pooled
from overtrain.fitting.method import Method, base_method
from overtrain.quantities import Quantity
from overtrain.runs.table import RunTable
from overtrain.runs.testbed import load_suite_choice
from overtrain.trust.backtest import BacktestOptions, backtest
from overtrain.trust.protocols import DEFAULT_RATIOS, size_ahead_possible

# Chinchilla with the Huber objective is left out: twelve re-weighted two-exponent fits per fit set make it
# the one candidate that costs seconds rather than fractions of one.
CANDIDATE_LOSS = (("shared-exponent", "least-squares"), ("shared-exponent", "huber-log"),
                  ("chinchilla", "least-squares"))


#: The loss law offered pooled over families (one exponent, E, A, B per family) when the runs hold several.
POOLED_LOSS = "shared-exponent"


#: Error laws that need each task's own loss (`taskloss:<task>` columns); offered only to runs that carry them.
TASK_LOSS_LAWS = ("two-step",)


CANDIDATE_ERROR = ("exponential", "exponential+logM", "sigmoid", "per-task", "direct", "two-step", "ensemble")


def score(frame: pd.DataFrame, column: str, min_distance: float = 10.0) -> float:
    """Mean absolute relative error of `column` over predictions at least `min_distance` away; a failed or
    wild prediction (NaN, or off by more than 100%) counts as 100%."""
    far = frame[frame["distance"] >= min_distance][column].to_numpy(dtype=float)
    return float(np.mean(np.minimum(np.where(np.isfinite(far), np.abs(far), 1.0), 1.0))) if len(far) else np.nan


@dataclass(frozen=True)
class Selection:
    """The method chosen by backtest, and the evidence: every candidate's score."""

    method: Method
    protocol: str
    loss_scores: dict[str, float]
    error_scores: dict[str, float]
    min_distance: float
    forecasts: dict[str, int]
    ineligible: tuple[str, ...] = ()
    suite: str = ""

    def reason(self) -> str:
        where = f"at distance >= {self.min_distance:g} " if self.min_distance > 0 else ""
        skipped = (f"; not eligible: {', '.join(self.ineligible)}"
                   if self.ineligible else "")

        def scored(quantity: str, scores: dict[str, float]) -> str:
            count = self.forecasts.get(quantity, 0)
            if not count:
                return f"no {quantity} forecast {where}to score its {len(scores)} candidates by"
            return (f"mean |relative error| {where}over {count} {quantity} forecasts (candidates: "
                    + ", ".join(f"{k} {100 * v:.2f}%" for k, v in scores.items()) + ")")

        parts = [scored("loss", self.loss_scores)]
        if "error" in self.forecasts:
            parts.append(scored("error", self.error_scores))
        return (f"chose {self.method.label}: {self.protocol} backtest, {'; '.join(parts)}{skipped}"
                + (f"; {self.suite}" if self.suite else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method.label, "protocol": self.protocol, "min_distance": self.min_distance,
                "forecasts": self.forecasts, "loss_scores": self.loss_scores, "error_scores": self.error_scores,
                "ineligible": list(self.ineligible), "suite": self.suite, "reason": self.reason()}


TIE = 1e-4


def _capped_errors(values: np.ndarray) -> np.ndarray:
    """|relative error| per forecast as `score` counts it: a failed or wild forecast counts as 100%."""
    return np.minimum(np.where(np.isfinite(values), np.abs(values), 1.0), 1.0)


def _common_scores(
    frames: dict[str, pd.DataFrame], column: str, min_distance: float, protocol: str
) -> tuple[dict[str, float], int, list[str], dict[str, np.ndarray]]:
    """Each candidate's score over the forecasts of the first (the paper's) candidate: a target, and under the
    rolling protocol its fit set. A candidate that cannot make all of them is not scored (a law identifiable on
    fewer fit sets must not be judged on easier ones). Returns the scores, the count, the unscored, and each scored
    candidate's errors per forecast (same order for all, for paired comparisons)."""
    def keys(frame: pd.DataFrame) -> pd.Series:
        far = frame[frame["distance"] >= min_distance]
        if protocol == "size-ahead":
            return far["run"]
        return pd.Series([f"{run}@{flops!r}" for run, flops in zip(far["run"], far["fit_flops"].tolist(), strict=True)],
                         index=far.index, dtype=object)

    reference = sorted(set(keys(next(iter(frames.values())))))
    scores, partial, errors = {}, [], {}
    for key, frame in frames.items():
        mine = keys(frame)
        if not set(reference) <= set(mine):
            partial.append(f"{key} (cannot forecast every target)")
            continue
        far = frame[frame["distance"] >= min_distance]
        values = pd.Series(far[column].to_numpy(dtype=float), index=mine.to_numpy())
        values = values[~values.index.duplicated()].reindex(reference).to_numpy(dtype=float)
        errors[key] = _capped_errors(values)
        scores[key] = score(far[mine.isin(reference).to_numpy()], column, 0.0) if reference else float("nan")
    return scores, len(reference), partial, errors


def _best(scores: dict[str, float], preferred: Sequence[str] = ()) -> str:
    """The candidate with the lowest score; scores within `TIE` (0.01 percentage points) of the lowest tie, and
    ties go to the first tied candidate in `preferred`, else to the earliest candidate (the paper's choices come
    first). Five runs for four coefficients fit exactly under any objective, and their scores then differ only by
    rounding."""
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:
        return next(iter(scores))
    lowest = min(finite.values())
    tied = [k for k, v in finite.items() if v <= lowest + TIE]
    return next((k for k in preferred if k in tied), tied[0])


#: A candidate displaces the development suite's choice only when it beats it on the runs' own backtest by more
#: than this many standard errors of the paired difference in |relative error|.
SUITE_MARGIN = 2.0


def _choose(scores: dict[str, float], errors: dict[str, np.ndarray], preferred: Sequence[str]) -> tuple[str, str]:
    """The candidate to use and, when the development suite had a say, why.

    The suite's choice (the best-scoring of `preferred`) stands unless the runs' own best candidate beats it by
    more than `SUITE_MARGIN` standard errors of the paired per-forecast difference: a handful of backtest forecasts
    of one sweep is weaker evidence than held-out forecasts of other labs' runs, unless the gap is clear."""
    if not any(np.isfinite(v) for v in scores.values()):  # no backtest forecast to judge by
        pick = next((k for k in preferred if k in scores), next(iter(scores)))
        return pick, (f"without backtest evidence the development suite's choice {pick} stands" if pick in preferred
                      else f"without backtest evidence the first candidate, {pick}, stands")
    best = _best(scores, preferred)
    candidates = {k: scores[k] for k in preferred if k in scores and np.isfinite(scores[k])}
    if not candidates:
        return best, ""
    prior = _best(candidates)
    if best == prior:
        return best, f"{prior} is also the development suite's choice"
    difference = errors[prior] - errors[best]
    gain = float(np.mean(difference))
    spread = float(np.std(difference, ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else np.inf
    words = (f"{best} beats the development suite's choice {prior} by {100 * gain:.2f} points "
             f"(standard error {100 * spread:.2f} over {len(difference)} forecasts)")
    if gain > SUITE_MARGIN * spread:
        return best, words
    return prior, f"kept the development suite's choice {prior}: {words.replace(' beats', ' is ahead of', 1)}, " \
                  f"not by more than {SUITE_MARGIN:g} standard errors"


def suite_evidence(quantity: str) -> str:
    """What the development suite says about the `quantity` ("loss" or "error") law
    (`overtrain.runs.testbed.load_suite_choice`), in words: the evidence the runs' own backtests must beat."""
    choice = (load_suite_choice() or {}).get(f"{quantity}_law")
    if not choice:
        return ""
    scores = ", ".join(f"{name} {100 * value:.1f}%" for name, value in choice["scores"].items())
    return (f"the development suite's {quantity} law is {choice['chosen']} (mean |relative error| of held-out "
            f"forecasts over {', '.join(choice['testbeds'])}: {scores})")


def suite_candidates(quantity: str, methods: dict[str, Method]) -> list[str]:
    """The candidates (keys of `methods`) that use the development suite's choice of `quantity` law."""
    choice = (load_suite_choice() or {}).get(f"{quantity}_law", {}).get("chosen")
    if choice is None:
        return []
    if quantity == Quantity.ERROR:
        return [key for key, method in methods.items() if method.error_law == choice]
    return [key for key, method in methods.items() if _loss_label(method) == choice]


def _loss_label(method: Method) -> str:
    """A loss method's name without its fit set, as the suite's choice names it."""
    return f"{method.loss_law}/{method.loss_objective}" + (" pooled" if method.loss_pooled else "")


def _unsound(method: Method, runs: RunTable, loss_split: str, tasks: str | Sequence[str] | None,
             pooled_runs: RunTable | None = None) -> str | None:
    """Why `method` is not eligible for forecasts from `runs`, or None: its laws must fit its own fit sets (every
    run, under the rolling protocol) of every family with no exponent at a search bound, since a law that only fits
    by running off its search range says nothing about the targets. (An ensemble leaves out members at a bound;
    its base law is checked; a pooled loss law is fitted to `pooled_runs`.)"""
    method = base_method(method)
    if method.loss_pooled:
        try:
            pooled = fit_loss_pooled(pooled_runs or runs, loss_split, fit_set=method.loss_fit_set, law=method.loss_law)
        except OvertrainError as error:
            return str(error)
        if any(fit.at_bound for fit in pooled.values()):
            return "an exponent at a search bound"
        method = dataclasses.replace(method, loss_pooled=False)
    for family in runs.families:
        table = runs.family(family)
        try:
            fits = [fit_loss(table, loss_split, fit_set=method.loss_fit_set, law=method.loss_law,
                             objective=method.loss_objective)]
            if tasks is not None:
                fits.append(fit_error(table, loss_split, tasks, fit_set=method.error_fit_set, law=method.error_law))
        except OvertrainError as error:
            return str(error)
        if any(fit.at_bound for fit in fits):
            return f"an exponent at a search bound ({family})"
    return None


def _candidate(name: str, fit_set: str | None) -> str:
    return f"{name} on {fit_set}" if fit_set else name


@dataclass(frozen=True)
class Candidates:
    """What `select_method` chooses among and how it scores them: the fit sets a forecast will use (None: every
    run), the error laws, the rolling protocol's compute `ratios`, and the least compute distance of a scored
    forecast (None: 10x under the rolling protocol, every forecast under the size-ahead one)."""

    loss_fit_set: str | None = None
    error_fit_set: str | None = None
    error_laws: tuple[str, ...] = CANDIDATE_ERROR
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    min_distance: float | None = None


DEFAULT_CANDIDATES = Candidates()


def select_method(
    runs: RunTable, candidates: Candidates = DEFAULT_CANDIDATES, *, loss_split: str | None = None,
    tasks: str | Sequence[str] | None = "17", forecast_runs: RunTable | None = None,
    pooled_runs: RunTable | None = None, progress: Callable[[str], None] | None = None,
    pool_runs: RunTable | None = None,
) -> Selection:
    """Pick the loss law, objective (and fit set) with the lowest backtest loss error, then, with that loss
    method, the error law (and fit set) with the lowest backtest error error. Ties keep the paper's choice. Where
    the development suite chose a law (`overtrain.runs.testbed.load_suite_choice`), its candidates stand unless the
    runs' own backtest beats them clearly (`_choose`).

    Given the fit sets a forecast will use, and enough model sizes, the size-ahead protocol scores each candidate on the
    paper's recipe scaled down, the fit sets and their `+cheap` extensions included; otherwise the rolling protocol
    scores the laws at distances of at least 10x. With fit sets, a candidate whose laws hit a search bound on the fit
    sets of `forecast_runs` (default `runs`), the runs the forecast will be fitted to, is not eligible. Given
    `pooled_runs` (runs of several families, those of `runs` among them), the shared-exponent law fitted to all of
    them at once (`overtrain.fitting.fit.fit_loss_pooled`) is a loss candidate too, backtested on them and scored on
    the targets of `runs`. `progress` hears each candidate as it is backtested.

    Parameters
    ----------
    runs : RunTable
        One family's runs, backtested.
    candidates : Candidates
        The fit sets, error laws and compute ratios to choose among.
    loss_split : str, optional
        The loss split.
    tasks : str or sequence of str, optional
        The task set; None chooses the loss law alone.
    forecast_runs : RunTable, optional
        The runs the forecast will be fitted to (default `runs`).
    pooled_runs : RunTable, optional
        Runs of several families, for the pooled loss law.
    progress : callable, optional
        Told each candidate.
    pool_runs : RunTable, optional
        Deprecated name of `pooled_runs`.

    Returns
    -------
    Selection
        The chosen method, why, and every candidate's score."""
    if pool_runs is not None:
        renamed("select_method(pool_runs=...)", "select_method(pooled_runs=...)")
        pooled_runs = pool_runs if pooled_runs is None else pooled_runs
    loss_split = loss_split or runs.default_split()
    say = progress or (lambda step: None)
    forecast_runs = runs if forecast_runs is None else forecast_runs
    loss_fit_set, error_fit_set = candidates.loss_fit_set, candidates.error_fit_set
    protocol = "size-ahead" if loss_fit_set and size_ahead_possible(runs) else "rolling"
    options = BacktestOptions(protocol, candidates.ratios)
    min_distance = candidates.min_distance
    if min_distance is None:
        min_distance = 0.0 if protocol == "size-ahead" else 10.0
    if protocol == "size-ahead":
        error_base = error_fit_set or loss_fit_set
        loss_sets: tuple[str | None, ...] = (loss_fit_set, f"{loss_fit_set}+cheap")
        error_sets: tuple[str | None, ...] = (error_base, f"{error_base}+cheap")
    else:
        loss_sets, error_sets = (None,), (None,)

    def run(candidates: dict[str, Method], quantity: str, stage_tasks: str | Sequence[str] | None) -> tuple[
        dict[str, float], dict[str, Method], int, list[str], dict[str, np.ndarray]
    ]:
        """Backtest each eligible candidate; scores on the common forecasts, the methods, their count, the
        ineligible, the errors per forecast."""
        frames, methods, ineligible = {}, {}, []
        for key, method in candidates.items():
            say(f"backtesting {key}")
            why = _unsound(method, forecast_runs, loss_split, stage_tasks, pool)
            if why is not None:
                ineligible.append(f"{key} ({why})")
                continue
            try:
                if method.loss_pooled:
                    frame = backtest(pool, method, loss_split=loss_split, tasks=stage_tasks, options=options)
                    frames[key] = frame[frame["family"].isin(runs.families)].reset_index(drop=True)
                else:
                    frames[key] = backtest(runs, method, loss_split=loss_split, tasks=stage_tasks, options=options)
            except OvertrainError as error:
                ineligible.append(f"{key} ({error})")
                continue
            methods[key] = method
        if not frames:
            return {}, {}, 0, ineligible, {}
        scores, count, partial, errors = _common_scores(frames, f"{quantity}_rel_err", min_distance, protocol)
        return scores, methods, count, ineligible + partial, errors

    pool = None if pooled_runs is None else pooled_runs.complete(loss_split)
    loss_candidates = {_candidate(f"{law}/{objective}", fit_set):
                       Method(law, objective, loss_fit_set=fit_set, error_fit_set=error_sets[0])
                       for law, objective in CANDIDATE_LOSS for fit_set in loss_sets}
    if pool is not None and len(pool.families) > 1:
        loss_candidates.update({_candidate(f"{POOLED_LOSS}/least-squares pooled", fit_set):
                                Method(POOLED_LOSS, loss_fit_set=fit_set, error_fit_set=error_sets[0], loss_pooled=True)
                                for fit_set in loss_sets})
    loss_scores, loss_methods, loss_count, ineligible, loss_errors = run(loss_candidates, "loss", None)
    if not loss_scores:
        reasons = list(dict.fromkeys(entry.partition(" (")[2][:-1] for entry in ineligible))
        why = reasons[0] if len(reasons) == 1 else "; ".join(ineligible)
        raise OvertrainError(f"no candidate method can be backtested on these runs: {why}")
    counts = {"loss": loss_count}
    key, loss_note = _choose(loss_scores, loss_errors, suite_candidates("loss", loss_methods))
    chosen = loss_methods[key]
    notes = [suite_evidence("loss"), loss_note]
    error_scores: dict[str, float] = {}
    if tasks is not None:
        error_scores, error_methods, counts["error"], skipped, errors = run(
            {_candidate(error_law, fit_set): dataclasses.replace(chosen, error_law=error_law, error_fit_set=fit_set)
             for error_law in candidates.error_laws for fit_set in error_sets
             if runs.task_loss_names or error_law not in TASK_LOSS_LAWS
             }, "error", tasks)
        ineligible += skipped
        if error_scores:
            key, error_note = _choose(error_scores, errors, suite_candidates("error", error_methods))
            chosen = error_methods[key]
            notes += [suite_evidence("error"), error_note]
    return Selection(chosen, protocol, loss_scores, error_scores, min_distance, counts, tuple(ineligible),
                     "; ".join(n for n in notes if n))
