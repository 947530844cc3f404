"""How far can overtrain's forecasts be trusted on the bundled testbed? Run by hand (not by the test suite):

    python benchmarks/trust.py [--resamples 64] [--json FILE]

1. Backtest the paper's method on runs up to 0.411B only (the 1.4B and 6.9B runs stay unseen): errors by
   extrapolation distance; coverage of 90% intervals, in-sample and with each family held out of calibration.
2. Choose a method by the size-ahead backtest on those runs (`--law auto` with the paper's fit sets): laws,
   objectives and the `+cheap` fit sets; eligibility checked on the fit sets the final forecast uses.
3. Final check on the paper's six held-out targets (1.4B at the largest M, 6.9B at M = 20), paper fit sets:
   the paper's method and the chosen one side by side, each with 90% intervals calibrated on its own
   small-run backtest (an ensemble error law or a pooled loss law: as `overtrain forecast` does), and whether the truth
   falls inside.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

import overtrain as ot
from overtrain.fitting.method import PAPER_METHOD, Method
from overtrain.laws import ENSEMBLE
from overtrain.trust.backtest import BacktestOptions, summarize_backtest
from overtrain.trust.choice import Candidates, select_method
from overtrain.trust.intervals import forecast_intervals
from overtrain.trust.prediction import Evidence, ForecastRequest, forecast_family

LEVEL = 0.9


def six_targets_forecast(method: Method, task_sets=("17", "46")) -> list[dict]:
    """The six targets forecast by `overtrain forecast` itself (its default intervals), from each family's runs
    without the targets (a pooled loss law: every family's runs without the targets)."""
    testbed = ot.load_testbed()
    unseen = testbed.drop([r for f in testbed.families
                           for r in testbed.family(f).select("paper-targets").drop([f"{f}-open_lm_1b-1.0"]).runs])
    rows = []
    for family in testbed.families:
        runs = testbed.family(family)
        targets = runs.select("paper-targets").drop([f"{family}-open_lm_1b-1.0"])
        by_task_set = {t: forecast_family(
            runs.drop(targets.runs), [ot.Target(p, d) for p, d in zip(targets.params, targets.tokens, strict=True)],
            ForecastRequest("c4_val", t, method, level=LEVEL), Evidence(pooled_runs=unseen))
            for t in task_sets}
        loss_true = targets.loss("c4_val")
        for i, run in enumerate(targets.runs):
            first = by_task_set[task_sets[0]].forecasts[i]
            row = {"target": run, "C / loss fit C": first.forecast.flops_ratio,
                   "loss_rel_err": abs(first.forecast.loss / loss_true[run] - 1),
                   "loss_inside": first.intervals["loss"].contains(loss_true[run]),
                   "loss_interval": [first.intervals["loss"].low, first.intervals["loss"].high],
                   "loss_true": float(loss_true[run])}
            for t, result in by_task_set.items():
                truth = float(targets.error(t)[run])
                trusted = result.forecasts[i]
                row[f"err{t}_rel_err"] = abs(trusted.forecast.errors[t] / truth - 1)
                row[f"err{t}_inside"] = trusted.intervals[t].contains(truth)
            rows.append(row)
    return rows


def six_targets(method: Method, calibration: ot.uncertainty.Calibration, task_sets=("17", "46")) -> list[dict]:
    if method.error_law == ENSEMBLE or method.loss_pooled:
        return six_targets_forecast(method, task_sets)
    testbed = ot.load_testbed()
    rows = []
    for family in testbed.families:
        runs = testbed.family(family)
        loss = ot.fit_loss(runs, "c4_val", fit_set=method.loss_fit_set or "paper-loss", law=method.loss_law,
                           objective=method.loss_objective)
        errors = [ot.fit_error(runs, "c4_val", t, fit_set=method.error_fit_set or "paper-error", law=method.error_law)
                  for t in task_sets]
        targets = runs.select("paper-targets").drop([f"{family}-open_lm_1b-1.0"])
        for comparison in ot.score_forecasts(loss, errors, targets):
            examples = {t: testbed.tasks["n_examples"].reindex(list(runs.task_set(t).tasks)).to_numpy(dtype=float)
                        for t in task_sets}
            intervals = forecast_intervals(comparison.forecast, calibration, level=LEVEL, examples=examples)
            row = {"target": comparison.run, "C / loss fit C": comparison.forecast.flops_ratio,
                   "loss_rel_err": comparison.loss_rel_err,
                   "loss_inside": intervals["loss"].contains(comparison.loss_true),
                   "loss_interval": [intervals["loss"].low, intervals["loss"].high], "loss_true": comparison.loss_true}
            for t in task_sets:
                row[f"err{t}_rel_err"] = comparison.error_rel_err(t)
                if t in intervals:
                    row[f"err{t}_inside"] = intervals[t].contains(comparison.errors_true[t])
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    small = ot.load_testbed().select("params<=4.2e8")
    report: dict = {}

    start = time.perf_counter()
    summary = summarize_backtest(small, PAPER_METHOD, tasks="17", options=BacktestOptions(n_resamples=args.resamples))
    seconds = time.perf_counter() - start
    print(f"## Backtest of the paper's method on runs up to 0.411B ({len(summary.frame)} forecasts, {seconds:.1f} s)\n")
    print(summary.by_distance().to_string(float_format=lambda v: f"{v:.3f}"))
    coverage = {q: float(summary.frame[f"{q}_inside"].mean()) for q in ("loss", "error")}
    print(f"\n90% interval coverage: in-sample {coverage}; each family held out of calibration "
          f"{summary.held_out_coverage}\n")
    report["backtest"] = {"seconds": seconds, "coverage": coverage, "held_out_coverage": summary.held_out_coverage,
                          "calibration": summary.calibration.to_dict()}

    start = time.perf_counter()
    selection = select_method(small, Candidates("paper-loss", "paper-error"), tasks="17",
                              forecast_runs=ot.load_testbed().select("paper-error+cheap"), pooled_runs=small)
    print(f"## Method chosen by backtest ({time.perf_counter() - start:.1f} s)\n\n{selection.reason()}\n")
    report["selection"] = {"method": selection.method.label, "reason": selection.reason()}

    for name, method in (("paper", PAPER_METHOD), ("chosen", selection.method)):
        laws_only = dataclasses.replace(method, loss_fit_set=None, error_fit_set=None)
        calibration = summary.calibration if laws_only == PAPER_METHOD else summarize_backtest(
            small, laws_only, tasks="17", options=BacktestOptions(n_resamples=args.resamples)).calibration
        rows = six_targets(method, calibration)
        print(f"## Six held-out targets, {name} method: {method.label}\n")
        print("| target | C / fit C | loss rel err | in 90% | err17 rel err | in 90% | err46 rel err | in 90% |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['target']} | {r['C / loss fit C']:.0f} | {100 * r['loss_rel_err']:.2f}% | {r['loss_inside']} "
                  f"| {100 * r['err17_rel_err']:.2f}% | {r.get('err17_inside', '-')} | {100 * r['err46_rel_err']:.2f}% "
                  f"| {r.get('err46_inside', '-')} |")
        means = {k: float(np.mean([r[k] for r in rows])) for k in ("loss_rel_err", "err17_rel_err", "err46_rel_err")}
        print("\nmean: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in means.items()) + "\n")
        report[name] = {"method": method.label, "rows": rows, "means": means,
                        "calibration": calibration.to_dict()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
