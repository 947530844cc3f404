"""Do forecasts hold on runs they never saw? The development suite, per testbed and pooled. Run by hand:

    python benchmarks/generalisation.py [--testbeds a,b] [--json FILE]

Each testbed of the suite (`overtrain.runs.testbed.suite_names`) says what a team would have trained first (its fit
runs) and what it would then forecast (its targets). Every method below sees only the fit runs of every family of
the testbed (its intervals are calibrated on backtests of those), and forecasts each target from its N and D.
Per testbed and method: mean |relative error| of loss and of average error on the targets, how many targets fall
inside their 90% intervals, the median interval half-width relative to the forecast, and the interval (Winkler)
score relative to the truth (lower is better: width plus 20x any miss).

The methods differ in their intervals, and the paper's in its laws too:
- `paper`: the paper's laws, intervals calibrated as before this suite existed: rolling backtests over every fit
  set, no structural term;
- `default`: what `overtrain forecast` does (`overtrain.names.DEFAULT_ERROR_LAW`,
  `overtrain.trust.calibration.DEFAULT_INTERVALS`): intervals calibrated on the other testbeds' held-out forecasts
  and, with equal weight, on the testbed's own backtests that resemble each forecast, without the plausible laws'
  disagreement, the extrapolation part constant for loss and growing with log compute distance for error (the
  distance measured against the fit runs' compute together);
- ablations of the default, one change each: the other error law (exponential or ensemble), the loss law fitted to
  all of a testbed's families at once (one exponent and E, A, B per family), the structural term, the other
  combinations of the width's form and of what the compute distance is measured against, how the runs' own
  backtests weigh beside the suite's evidence, widths that follow each forecast's fit part.

DCLM's pooled recipes are each forecast through the pooled law moved by the recipe's own offset (`recipe_offsets` in
its `suite.json`), and targets a testbed's loss law cannot speak for (its fit runs share one M) are refused, as
`overtrain forecast` refuses them. The default also forecasts each task (`--per-task`); those forecasts are summarised
apart and written to the evidence as `task` rows, which calibrate the per-task intervals.

The default is chosen leave one testbed out (see `choose`): for each testbed, the method with the lowest mean
relative interval score on the other testbeds that may choose (the paper's six targets never do), among those whose
intervals hold 80-95% of the loss and of the error targets there. The table says
which method each fold chose. `gadre2024` is the paper's six targets (paper fit sets, 17 tasks): reported, never
used to choose; `gadre2024-small` forecasts its 0.411B runs from the smaller ones, with the paper's fit sets as they
apply there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from overtrain.decide.shared import recipe_forecasts
from overtrain.errors import OvertrainError
from overtrain.fitting.method import PAPER_METHOD, Method, base_method
from overtrain.forecasts import Target, beyond_design, fit_laws
from overtrain.laws import ENSEMBLE
from overtrain.names import DEFAULT_ERROR_LAW
from overtrain.quantities import physical, to_scale
from overtrain.runs.testbed import (
    SUITE_CHOICE_FILE,
    SUITE_EVIDENCE_FILE,
    SuiteTestbed,
    load_suite_testbed,
    suite_names,
    without_judged_runs,
)
from overtrain.trust.calibration import DEFAULT_INTERVALS, IntervalOptions
from overtrain.trust.parts import DISTANCES, FORMS, fit_width
from overtrain.trust.prediction import Evidence, ForecastRequest, forecast_family
from overtrain.trust.widths import interval_score

LEVEL = 0.9
#: The share of the choosing testbeds' loss targets a loss law's 90% intervals must hold to be chosen (the issue's
#: bounds).
LOSS_COVERAGE = (0.80, 0.95)
#: The share of the choosing testbeds' loss targets, and of their error targets, that interval options' 90% intervals
#: must hold to be chosen (the issue's bounds; coverage is the constraint, the interval score the choice).
COVERAGE = LOSS_COVERAGE
#: Interval options that score lowest replace the default's only where they score lower than the default in at least
#: this share of paired bootstrap resamples of the targets (`chance_better`): a shipped default moves on evidence
#: beyond the noise of a few dozen targets, not on a difference in the third digit.
SWITCH_CONFIDENCE = 0.95
#: Interval options whose mean relative interval score is within this of the default's tie with it, and ties keep the
#: default: near-identical options (e.g. one backtest more or less) differ on a handful of targets by a hair, which a
#: paired resample then calls "lower" in every draw.
SCORE_TIE = 0.005
RESAMPLES = 2000


@dataclass(frozen=True)
class Candidate:
    """A method of the comparison: laws and interval options."""

    name: str
    method: Method
    options: IntervalOptions


DEFAULT_METHOD = replace(PAPER_METHOD, error_law=DEFAULT_ERROR_LAW)
#: How many suite forecasts the runs' own backtests are weighed against (`IntervalOptions.own_prior`).
OWN_PRIORS = (10.0, 40.0, 160.0)
#: The point forecast's error law: the paper's exponential or the ensemble of the plausible laws, whichever is not
#: the shipped default is the ablation.
ERROR_LAWS = {"exponential": "exponential error law", ENSEMBLE: "ensemble error law"}
OTHER_ERROR_LAW = next(law for law in ERROR_LAWS if law != DEFAULT_ERROR_LAW)
CANDIDATES = (
    Candidate("paper", PAPER_METHOD, IntervalOptions(resembling=False, structural=False, protocol="rolling",
                                                     suite=False, own=True, loss_form="log-distance",
                                                     error_form="log-distance")),
    Candidate("default", DEFAULT_METHOD, DEFAULT_INTERVALS),
    Candidate(ERROR_LAWS[OTHER_ERROR_LAW], replace(PAPER_METHOD, error_law=OTHER_ERROR_LAW), DEFAULT_INTERVALS),
    Candidate("pooled loss law", replace(DEFAULT_METHOD, loss_pooled=True), DEFAULT_INTERVALS),
    Candidate(f"{'without' if DEFAULT_INTERVALS.structural else 'with'} structural term", DEFAULT_METHOD,
              replace(DEFAULT_INTERVALS, structural=not DEFAULT_INTERVALS.structural)),
    *(Candidate(f"widths: loss {loss}, error {error}" + ("" if distance == "total" else ", from the largest fit run"),
                DEFAULT_METHOD, replace(DEFAULT_INTERVALS, distance=distance, loss_form=loss, error_form=error))
      for distance in DISTANCES for loss in FORMS for error in FORMS
      if (distance, loss, error) != (DEFAULT_INTERVALS.distance, *DEFAULT_INTERVALS.forms)
      and (distance == DEFAULT_INTERVALS.distance or "log-distance" in (loss, error))),
    Candidate("own backtests only", DEFAULT_METHOD, replace(DEFAULT_INTERVALS, suite=False, own=True,
                                                            own_prior=None)),
    Candidate("own backtests and suite evidence, equal weights", DEFAULT_METHOD,
              replace(DEFAULT_INTERVALS, own=True, own_prior=None)),
    Candidate("own and suite, every backtest", DEFAULT_METHOD, replace(DEFAULT_INTERVALS, own=True,
                                                                         resembling=False)),
    *(Candidate(f"own and suite, own weighed n / (n + {prior:g})", DEFAULT_METHOD,
                replace(DEFAULT_INTERVALS, own=True, own_prior=prior)) for prior in OWN_PRIORS),
    Candidate("widths follow the fit part", DEFAULT_METHOD, replace(DEFAULT_INTERVALS, adaptive=True)),
    Candidate("sides apart where the misses are one-sided", DEFAULT_METHOD,
              replace(DEFAULT_INTERVALS, sides=("loss", "error", "task"))),
    Candidate("error sides apart where its misses are one-sided", DEFAULT_METHOD,
              replace(DEFAULT_INTERVALS, sides=("error", "task"))),
    Candidate(f"widths follow the fit part, own weighed n / (n + {OWN_PRIORS[1]:g})", DEFAULT_METHOD,
              replace(DEFAULT_INTERVALS, adaptive=True, own=True, own_prior=OWN_PRIORS[1])),
)
DEFAULT_NAME = "default"  # what `overtrain forecast` does: DEFAULT_ERROR_LAW and DEFAULT_INTERVALS
EVIDENCE_COLUMNS = ["testbed", "family", "run", "quantity", "true", "prediction", "fit_low", "fit_high", "sigma",
                    "structural", "distance"]


def forecast_testbed(testbed: SuiteTestbed, candidate: Candidate, evidence: pd.DataFrame) -> pd.DataFrame:
    """One row per (target, quantity): truth, forecast, interval and its parts; `evidence` is the other testbeds'
    held-out forecasts the intervals may be calibrated on."""
    fit_tables = {family: testbed.fit_runs(family) for family in testbed.families}
    calibration_runs = testbed.runs.drop(
        [r for family in testbed.families for r in testbed.runs.family(family).runs if r not in fit_tables[family].runs]
    )
    rows = []
    for family in testbed.families:
        targets = testbed.target_runs(family)
        if len(targets) == 0:
            continue
        method = replace(candidate.method, loss_fit_set=testbed.fit_loss_set, error_fit_set=testbed.fit_error_set)
        tasks = None if testbed.tasks is None else (
            testbed.tasks if isinstance(testbed.tasks, str) else ",".join(testbed.tasks))
        try:
            loss_fit = fit_laws(fit_tables[family], base_method(method), loss_split=testbed.loss_split,
                                tasks="none", pooled_runs=calibration_runs).loss
        except OvertrainError:
            loss_fit = None
        beyond = [None if loss_fit is None else beyond_design(loss_fit, p, t)
                  for p, t in zip(targets.params, targets.tokens, strict=True)]
        if any(beyond):
            print(f"  {testbed.name}/{family}: {candidate.name}: {sum(map(bool, beyond))} targets refused "
                  f"({next(b for b in beyond if b)})", file=sys.stderr)
            targets = targets.subset(np.array([b is None for b in beyond]))
        try:
            request = ForecastRequest(testbed.loss_split, tasks or "none", method, level=LEVEL,
                                      intervals=candidate.options, per_task=candidate.name == DEFAULT_NAME)
            result = forecast_family(
                fit_tables[family], [Target(p, t) for p, t in zip(targets.params, targets.tokens, strict=True)],
                request, Evidence(calibration=calibration_runs, suite=evidence))
        except OvertrainError as error:
            print(f"  {testbed.name}/{family}: {candidate.name}: cannot forecast ({error})", file=sys.stderr)
            continue
        forecasts = list(result.forecasts)
        if testbed.recipe_offsets:
            recipes = targets.column("recipe")
            fit_recipes = fit_tables[family].column("recipe")
            for recipe in dict.fromkeys(recipes):
                where = np.flatnonzero(recipes == recipe)
                own = fit_tables[family].subset(fit_recipes == recipe)
                moved = recipe_forecasts(dataclasses.replace(result, forecasts=tuple(forecasts[i] for i in where)),
                                         own, LEVEL, candidate.options.distance, fit_tables[family])
                for i, trusted in zip(where, moved, strict=True):
                    forecasts[i] = trusted
        loss_true = targets.frame[f"loss:{testbed.loss_split}"].to_numpy(dtype=float)
        error_true = (targets.error(result.laws.error.task_set).to_numpy(dtype=float)
                      if result.laws.error is not None else np.full(len(targets), np.nan))
        for run, trusted, lt, et in zip(targets.runs, forecasts, loss_true, error_true, strict=True):
            f, intervals = trusted.forecast, trusted.intervals
            quantities = [("loss", "loss", lt, f.loss)]
            if f.errors:
                name = next(iter(f.errors))
                quantities.append(("error", name, et, f.errors[name]))
            for quantity, key, truth, prediction in quantities:
                if not np.isfinite(truth):
                    continue
                interval, part = intervals[key], trusted.parts[key]
                rows.append({
                    "testbed": testbed.name, "family": family, "run": run, "quantity": quantity, "true": truth,
                    "pred": prediction, "low": interval.low, "high": interval.high,
                    **{k: v for k, v in part.to_dict().items() if k != "quantity"},
                })
            for task in trusted.tasks:
                truth = 1.0 - float(targets.frame.loc[run, f"acc:{task.task}"])
                if np.isfinite(truth) and task.low is not None:
                    rows.append({"testbed": testbed.name, "family": family, "run": f"{run}/{task.task}",
                                 "quantity": "task", "true": truth, "pred": task.error, "low": task.low,
                                 "high": task.high,
                                 **{k: v for k, v in task.part.to_dict().items() if k != "quantity"}})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["rel_err"] = frame["pred"] / frame["true"] - 1
        frame["inside"] = (frame["low"] <= frame["true"]) & (frame["true"] <= frame["high"])
        frame["half_width"] = (frame["high"] - frame["low"]) / 2 / frame["pred"]
        frame["score"] = interval_score(frame["low"], frame["high"], frame["true"], LEVEL) / frame["true"]
    return frame


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per quantity: targets, mean |rel err|, coverage, median half-width, mean relative interval score."""
    return frame.groupby("quantity").agg(
        targets=("run", "size"), mean_abs_rel_err=("rel_err", lambda x: float(np.mean(np.abs(x)))),
        inside=("inside", "sum"), coverage=("inside", "mean"), median_half_width=("half_width", "median"),
        score=("score", "mean"))


def fit_part_report(frame: pd.DataFrame) -> str:
    """Does the resampled fit part follow the misses? Per testbed and quantity: forecasts whose fit part reaches
    below 1e-3 error (pinned at the edge), and the rank correlation between the fit part's half-width on the interval
    scale and the |miss| on it (Spearman; NaN under 4 forecasts)."""
    lines = ["## The fit part against the misses (default), per testbed\n",
             "| testbed | quantity | forecasts | fit part below 1e-3 | rank correlation, fit-part width vs miss |",
             "| --- | --- | --- | --- | --- |"]
    for (testbed, quantity), rows in frame.groupby(["testbed", "quantity"], sort=False):
        width = np.asarray(fit_width(quantity, rows["prediction"], rows["fit_low"], rows["fit_high"]), dtype=float)
        miss = np.abs(np.asarray(to_scale(quantity, physical(quantity, rows["true"].to_numpy(dtype=float))))
                      - np.asarray(to_scale(quantity, physical(quantity, rows["pred"].to_numpy(dtype=float)))))
        known = np.isfinite(width) & np.isfinite(miss)
        rho = float(spearmanr(width[known], miss[known]).statistic) if known.sum() >= 4 else float("nan")
        pinned = int((rows["fit_low"] < 1e-3).sum()) if quantity == "error" else 0
        lines.append(f"| {testbed} | {quantity} | {len(rows)} | {pinned} | {rho:.2f} |")
    return "\n".join(lines) + "\n"


def evidence_of(frame: pd.DataFrame) -> pd.DataFrame:
    """Held-out forecasts as `overtrain.runs.testbed.load_suite_evidence` reads them, without any run that is one of
    the paper's six targets under another name (`overtrain.runs.testbed.without_judged_runs`)."""
    return without_judged_runs(frame[EVIDENCE_COLUMNS].reset_index(drop=True))


def chance_better(everything: pd.DataFrame, challenger: str, testbeds: list[str], seed: int = 0) -> float:
    """The share of paired bootstrap resamples of the targets (each testbed's resampled within it, the same draws for
    both methods) in which `challenger`'s mean relative interval score, averaged over `testbeds` as the choice
    averages it, is lower than the default's."""
    rng = np.random.default_rng(seed)
    keys = ["testbed", "family", "run", "quantity"]
    total = np.zeros(RESAMPLES)
    for testbed in testbeds:
        rows = everything[everything["testbed"] == testbed]
        paired = (rows[rows["method"] == challenger].set_index(keys)["score"]
                  - rows[rows["method"] == DEFAULT_NAME].set_index(keys)["score"]).dropna().to_numpy()
        total += paired[rng.integers(0, len(paired), (RESAMPLES, len(paired)))].mean(axis=1)
    return float(np.mean(total < 0))


def covers_honestly(everything: pd.DataFrame, candidate: str, testbeds: list[str]) -> bool:
    """Whether `candidate`'s 90% intervals hold `COVERAGE` of the loss targets and of the error targets of
    `testbeds`, each quantity pooled over them."""
    rows = everything[(everything["method"] == candidate) & everything["testbed"].isin(testbeds)]
    shares = rows.groupby("quantity")["inside"].mean()
    return all(COVERAGE[0] <= share <= COVERAGE[1] for share in shares)


def pick_intervals(everything: pd.DataFrame, scores: pd.DataFrame, candidates: list[str], testbeds: list[str]
                   ) -> tuple[str, str, float, str]:
    """The interval options chosen on `testbeds`: the lowest mean relative interval score among the candidates
    whose coverage is honest there (`covers_honestly`; coverage is the constraint, the score the choice). A default
    that is honest is replaced only by one that scores lower by more than `SCORE_TIE` and lower in
    `SWITCH_CONFIDENCE` of paired resamples. Returns (chosen, lowest scoring honest candidate, the chance it beats
    the default, NaN where not measured, and why, in words)."""
    eligible = [c for c in candidates if covers_honestly(everything, c, testbeds)] or candidates
    means = scores.loc[eligible, testbeds].mean(axis=1)
    best = str(means.idxmin())
    if best == DEFAULT_NAME:
        return best, best, float("nan"), "the default scores lowest"
    if DEFAULT_NAME not in eligible:
        return best, best, float("nan"), f"lowest honest: {best}; the default is not honest"
    if means[best] > means[DEFAULT_NAME] - SCORE_TIE:
        return (DEFAULT_NAME, best, float("nan"),
                f"lowest honest: {best}, {means[best]:.4f} against {means[DEFAULT_NAME]:.4f}: a tie")
    chance = chance_better(everything, best, testbeds)
    return ((best if chance >= SWITCH_CONFIDENCE else DEFAULT_NAME), best, chance,
            f"lowest honest: {best}, lower than the default in {chance:.0%} of resamples")


def choose(everything: pd.DataFrame, scores: pd.DataFrame, testbeds: list[SuiteTestbed], choosing: list[str]
           ) -> tuple[dict[str, str], dict]:
    """Print the two-step choice, leaving one testbed out; return each testbed's chosen interval method, and the
    choice on every testbed that may choose (what `overtrain.runs.testbed.load_suite_choice` reads)."""
    errors = everything.assign(abs_err=everything["rel_err"].abs()).groupby(["testbed", "method"])["abs_err"].mean()
    errors = errors.unstack("testbed").reindex([c.name for c in CANDIDATES])  # a method may have no forecasts
    print("\n## Choice, in two steps, each leaving one testbed out\n")
    print("1. The error law of the point forecast, by mean |relative error| over a testbed's forecasts (ties, within"
          " 1e-4, keep the paper's exponential):\n")
    other = ERROR_LAWS[OTHER_ERROR_LAW]
    point = [other, DEFAULT_NAME]
    law_of = {DEFAULT_NAME: DEFAULT_ERROR_LAW, other: OTHER_ERROR_LAW}

    def lowest_law(means: pd.Series) -> str:
        """The ensemble only where it is lower than the exponential by more than 1e-4."""
        by_law = {law_of[name]: means[name] for name in point}
        return ENSEMBLE if by_law[ENSEMBLE] < by_law["exponential"] - 1e-4 else "exponential"

    print(errors.loc[point, [c for c in choosing if c in errors.columns]].to_string(
        float_format=lambda v: f"{v:.4f}"))
    laws_of: dict[str, str] = {}
    for testbed in testbeds:
        others = [t for t in choosing if t != testbed.name and t in errors.columns]
        if others:
            means = errors.loc[point, others].mean(axis=1)
            laws_of[testbed.name] = ERROR_LAWS[lowest_law(means)]
            print(f"- {testbed.name}: {laws_of[testbed.name]}")
    loss_errors = everything[everything["quantity"] == "loss"].assign(abs_err=lambda f: f["rel_err"].abs())
    loss_errors = (loss_errors.groupby(["testbed", "method"])["abs_err"].mean().unstack("testbed")
                   .reindex([c.name for c in CANDIDATES]))
    loss_point = [DEFAULT_NAME, "pooled loss law"]
    losses = everything[(everything["quantity"] == "loss") & everything["testbed"].isin(choosing)]
    loss_coverage = {m: float(losses[losses["method"] == m]["inside"].mean()) for m in loss_point}
    honest = [m for m in loss_point if LOSS_COVERAGE[0] <= loss_coverage[m] <= LOSS_COVERAGE[1]]
    print("\n1b. The loss law, by mean |relative error| of the loss forecasts (pooled over families where a testbed "
          "has several; ties, within 1e-4, keep the paper's per-family fit), among the laws whose 90% loss intervals "
          f"hold {LOSS_COVERAGE[0]:.0%}-{LOSS_COVERAGE[1]:.0%} of the loss targets of the testbeds that choose "
          "(coverage is the constraint):\n")
    print(loss_errors.loc[loss_point, [c for c in choosing if c in loss_errors.columns]].to_string(
        float_format=lambda v: f"{v:.4f}"))
    print("\ncoverage of those loss targets: " + ", ".join(f"{m} {v:.1%}" for m, v in loss_coverage.items())
          + f"; within the constraint: {', '.join(honest) or 'none'}")
    for testbed in testbeds:
        others = [t for t in choosing if t != testbed.name and t in loss_errors.columns]
        if others:
            means = loss_errors.loc[loss_point, others].mean(axis=1)
            pooled_wins = means["pooled loss law"] < means[DEFAULT_NAME] - 1e-4 and "pooled loss law" in honest
            print(f"- {testbed.name}: {'pooled loss law' if pooled_wins else 'per family'}")
    interval_candidates = [c.name for c in CANDIDATES if c.method.error_law == DEFAULT_ERROR_LAW
                           and not c.method.loss_pooled]
    print("\n2. The interval options (with the default error law), by mean relative interval score, among those whose "
          f"90% intervals hold {COVERAGE[0]:.0%}-{COVERAGE[1]:.0%} of the loss and of the error targets (coverage is "
          f"the constraint); the lowest replaces an honest default only if it scores lower in {SWITCH_CONFIDENCE:.0%} "
          "of paired bootstrap resamples of the targets:\n")
    scored = [c for c in choosing if c in scores.columns]
    rows = everything[everything["testbed"].isin(scored)]
    table = pd.DataFrame({"score": scores.loc[interval_candidates, scored].mean(axis=1),
                          **{f"{q} coverage": rows[rows["quantity"] == q].groupby("method")["inside"].mean()
                             .reindex(interval_candidates) for q in ("loss", "error")}})
    table["honest"] = [covers_honestly(everything, c, scored) for c in table.index]
    print(table.sort_values("score").to_string(float_format=lambda v: f"{v:.4f}"))
    choices: dict[str, str] = {}
    for testbed in testbeds:
        others = [t for t in choosing if t != testbed.name and t in scores.columns]
        if not others:
            continue
        choices[testbed.name], _, _, why = pick_intervals(everything, scores, interval_candidates, others)
        print(f"- {testbed.name}: {choices[testbed.name]} ({why})")
    used = [c for c in choosing if c in errors.columns]
    law_scores = errors.loc[point, used].mean(axis=1)
    chosen_law = lowest_law(law_scores)
    interval_scores = scores.loc[interval_candidates, used].mean(axis=1)
    chosen_intervals, best, chance, why = pick_intervals(everything, scores, interval_candidates, used)
    print(f"- every testbed that may choose: {chosen_intervals} ({why})")
    loss_used = [c for c in choosing if c in loss_errors.columns]
    loss_scores = loss_errors.loc[loss_point, loss_used].mean(axis=1)
    loss_names = {DEFAULT_NAME: "shared-exponent/least-squares",
                  "pooled loss law": "shared-exponent/least-squares pooled"}
    chosen_loss = loss_names["pooled loss law" if loss_scores["pooled loss law"] < loss_scores[DEFAULT_NAME] - 1e-4
                             and "pooled loss law" in honest else DEFAULT_NAME]
    suite_choice = {
        "testbeds": used,
        "loss_law": {"scores": {loss_names[k]: float(v) for k, v in loss_scores.items()}, "chosen": chosen_loss,
                     "testbeds": loss_used,
                     "coverage": {loss_names[k]: v for k, v in loss_coverage.items()}},
        "error_law": {"scores": {law_of[k]: float(v) for k, v in law_scores.items()}, "chosen": chosen_law,
                      "testbeds": used},
        "intervals": {"scores": {k: float(v) for k, v in interval_scores.sort_values().items()},
                      "lowest": best, "lower_than_default_in": None if not np.isfinite(chance) else chance,
                      "switch_confidence": SWITCH_CONFIDENCE, "score_tie": SCORE_TIE,
                      "coverage_bounds": list(COVERAGE), "why": why,
                      "chosen": chosen_intervals,
                      "options": asdict(next(c.options for c in CANDIDATES if c.name == chosen_intervals))},
    }
    return choices, suite_choice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbeds", help="comma-separated subset of the suite")
    parser.add_argument("--json", type=Path, help="write every forecast and summary here")
    parser.add_argument("--methods", help="comma-separated subset of the methods (default: all)")
    parser.add_argument("--write-evidence", action="store_true",
                        help=f"write the default's held-out forecasts (choosing testbeds) to {SUITE_EVIDENCE_FILE}")
    args = parser.parse_args()
    names = args.testbeds.split(",") if args.testbeds else suite_names()
    testbeds = [load_suite_testbed(name) for name in names]
    choosing = [t.name for t in testbeds if t.chooses]
    frames = []
    candidates = [c for c in CANDIDATES if not args.methods or c.name in args.methods.split(",")]
    for candidate in candidates:
        own_only = replace(candidate, options=replace(candidate.options, suite=False))
        first = {}
        for testbed in testbeds:
            start = time.perf_counter()
            first[testbed.name] = forecast_testbed(testbed, own_only, pd.DataFrame(columns=EVIDENCE_COLUMNS))
            print(f"{testbed.name}: {candidate.name} (parts): {len(first[testbed.name])} forecasts, "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
        if candidate.name == DEFAULT_NAME and args.write_evidence:
            written = pd.concat([evidence_of(first[name]) for name in choosing
                                 if len(first[name])], ignore_index=True)
            written.to_csv(SUITE_EVIDENCE_FILE, index=False, float_format="%.10g", lineterminator="\n")
            print(f"wrote {len(written)} held-out forecasts to {SUITE_EVIDENCE_FILE}", file=sys.stderr)
        for testbed in testbeds:
            frame = first[testbed.name]
            if candidate.options.suite:
                others = [evidence_of(first[name]) for name in choosing if name != testbed.name and len(first[name])]
                evidence = pd.concat(others, ignore_index=True) if others else pd.DataFrame(columns=EVIDENCE_COLUMNS)
                frame = forecast_testbed(testbed, candidate, evidence)
            frames.append(frame.assign(method=candidate.name))
    everything = pd.concat(frames, ignore_index=True)
    per_task = everything[(everything["quantity"] == "task") & (everything["method"] == DEFAULT_NAME)]
    everything = everything[everything["quantity"] != "task"]
    scores = everything.groupby(["testbed", "method"])["score"].mean().unstack("testbed")
    print("## Per testbed and method\n")
    table = everything.groupby(["testbed", "method", "quantity"], sort=False).agg(
        targets=("run", "size"), mean_abs_rel_err=("rel_err", lambda x: float(np.mean(np.abs(x)))),
        inside=("inside", "sum"), median_half_width=("half_width", "median"), score=("score", "mean"))
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    choices, suite_choice = (choose(everything, scores, testbeds, choosing) if len(candidates) == len(CANDIDATES)
                             else ({}, {}))
    if args.write_evidence and suite_choice:
        SUITE_CHOICE_FILE.write_text(json.dumps(suite_choice, indent=2) + "\n", encoding="utf-8")
        print(f"wrote the suite's choice to {SUITE_CHOICE_FILE}", file=sys.stderr)
    chosen_rows = [everything[(everything["testbed"] == name) & (everything["method"] == method)]
                   for name, method in choices.items()]
    print("\n## Pooled over the suite's targets: each testbed by its fold's choice, by the default, by the paper's\n")
    pooled = {"fold's choice": summarise(pd.concat(chosen_rows)) if chosen_rows else pd.DataFrame(),
              "default": summarise(everything[everything["method"] == DEFAULT_NAME]),
              "paper": summarise(everything[everything["method"] == "paper"])}
    for name, summary in pooled.items():
        print(f"{name}:\n{summary.to_string(float_format=lambda v: f'{v:.4f}')}\n")
    print(fit_part_report(everything[everything["method"] == DEFAULT_NAME]))
    if len(per_task):
        print("## Each task's forecast by the default (`overtrain forecast --per-task`), per testbed and pooled\n")
        by_testbed = per_task.groupby("testbed").apply(summarise, include_groups=False)
        print(by_testbed.to_string(float_format=lambda v: f"{v:.4f}"))
        print(f"\npooled:\n{summarise(per_task).to_string(float_format=lambda v: f'{v:.4f}')}\n")
    if args.json:
        document = {"forecasts": everything.replace({np.nan: None}).to_dict(orient="records"),
                    "per_task": per_task.replace({np.nan: None}).to_dict(orient="records"),
                    "scores": scores.to_dict(), "choices": choices,
                    "pooled": {k: v.to_dict() for k, v in pooled.items()}}
        args.json.write_text(json.dumps(document, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
