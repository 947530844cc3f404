"""Speed and accuracy benchmarks of overtrain's fitting engine, run by hand (not by the test suite):

    python benchmarks/run.py [--quick] [--workflows] [--compare] [--json FILE]

Sections: (0) the workflows a user waits for, each beside the paper's procedure timed in the same run
(`paper_procedure.py`; `--workflows` runs only these; `--compare` only `overtrain compare` on databases of 10 to
1,000 recipes); (1) the engine against the paper's multi-start
Levenberg-Marquardt on the same fits (time per fit, ratio, objective each reaches); (2) end-to-end timings (commands
include interpreter start-up) and peak memory; (3) how cost grows with runs per fit and with simultaneous fits.
Times are medians of repeated runs; the machine is shared and noisy, so read ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import overtrain as ot
from baseline import fit_error_multistart, fit_loss_multistart
from overtrain.fitting.engine import fit_profile
from overtrain.fitting.solve import forget_solutions
from overtrain.laws import ExponentialError, SharedExponentLoss
from overtrain.trust.bootstrap import bootstrap, resample_weights


def median_time(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Both objectives are sums of squared residuals computed the same way; residuals carry about 1e-16 of the losses'
# size in rounding, which for a near-perfect fit (objective 1e-7 on losses near 3) is ~1e-11 of the objective.
SSE_TOLERANCE = 1e-9


def objective(law: object, inputs: tuple[np.ndarray, ...], y: np.ndarray) -> float:
    """Sum of squared residuals of a law, computed as the baseline computes its own."""
    residual = law.predict(*inputs) - y  # type: ignore[attr-defined]
    return float(residual @ residual)


def benchmark_fits(repeats: int) -> list[dict]:
    """Every fit of the comparison: (name, law, inputs, response)."""
    testbed = ot.load_testbed()
    cases = []
    for family in testbed.families:
        runs = testbed.family(family)
        loss_set, error_set = runs.select("paper-loss"), runs.select("paper-error")
        cases.append((f"{family} loss, paper fit set", SharedExponentLoss, (loss_set.params, loss_set.tokens),
                      loss_set.loss("c4_val").to_numpy()))
        cases.append((f"{family} loss, all {len(runs)} runs", SharedExponentLoss, (runs.params, runs.tokens),
                      runs.loss("c4_val").to_numpy()))
        for tasks in ("17", "46"):
            cases.append((f"{family} error {tasks}, paper fit set", ExponentialError,
                          (error_set.loss("c4_val").to_numpy(),), error_set.error(tasks).to_numpy()))
            cases.append((f"{family} error {tasks}, all runs", ExponentialError, (runs.loss("c4_val").to_numpy(),),
                          runs.error(tasks).to_numpy()))
    rpj = testbed.family("rpj").select("paper-loss")
    for split in rpj.splits:
        if split != "c4_val":
            cases.append((f"rpj loss on {split}, paper fit set", SharedExponentLoss, (rpj.params, rpj.tokens),
                          rpj.loss(split).to_numpy()))
    rows = []
    for name, law, inputs, y in cases:
        multistart = fit_loss_multistart if law is SharedExponentLoss else fit_error_multistart
        baseline_time = median_time(lambda m=multistart, i=inputs, y=y: m(*i, y), max(1, repeats // 5))
        _, baseline_sse = multistart(*inputs, y)
        engine_time = median_time(lambda law=law, i=inputs, y=y: fit_profile(law, i, y), repeats * 20)
        solution = fit_profile(law, inputs, y)
        engine_sse = objective(law.from_solution(solution.theta, solution.linear), inputs, y)
        rows.append({"fit": name, "runs": len(y), "baseline_s": baseline_time, "engine_s": engine_time,
                     "ratio": baseline_time / engine_time, "baseline_sse": baseline_sse, "engine_sse": engine_sse,
                     "relative_difference": engine_sse / baseline_sse - 1,
                     "engine_not_worse": bool(engine_sse <= baseline_sse * (1 + SSE_TOLERANCE))})
    return rows


def command_time(args: list[str], repeats: int) -> tuple[float, float]:
    """Median wall time of a command, and its peak resident memory in MiB."""
    times, peaks = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
        peaks.append(max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
    return statistics.median(times), max(peaks) / 1024


def paired_times(ours: list[str], paper: list[str], pairs: int) -> tuple[float, float, float]:
    """A command and the paper's script run alternately `pairs` times, so that the shared machine's drifting load
    falls on both alike: the medians of each and the median of the per-pair ratios."""
    times: list[tuple[float, float]] = []
    for _ in range(pairs):
        pair = []
        for args in (paper, ours):
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            pair.append(time.perf_counter() - start)
        times.append((pair[1], pair[0]))
    return (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times),
            statistics.median(t[0] / t[1] for t in times))


def traced(action: Callable[[], object]) -> float:
    """Peak memory allocated (MiB, via tracemalloc, which sees NumPy's buffers) while `action` runs."""
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def end_to_end(repeats: int) -> list[dict]:
    executable = [sys.executable, "-m", "overtrain"]
    rows = []
    seconds, peak = command_time([*executable, "reproduce"], repeats)
    rows.append({"what": "overtrain reproduce (with interpreter start-up)", "seconds": seconds, "peak_mib": peak})
    seconds, peak = command_time([*executable, "reproduce", "--json"], repeats)
    rows.append({"what": "overtrain reproduce --json", "seconds": seconds, "peak_mib": peak})
    with tempfile.TemporaryDirectory() as scratch:
        seconds, peak = command_time([*executable, "reproduce", "--all", "--output", f"{scratch}/paper", "--force"],
                                     max(1, repeats // 3))
    rows.append({"what": "overtrain reproduce --all (every figure, report, results.json)", "seconds": seconds,
                 "peak_mib": peak})
    seconds, peak = command_time([*executable, "backtest", "--tasks", "17", "--json"], max(1, repeats // 3))
    rows.append({"what": "overtrain backtest of the whole testbed (3 families, 64 resamples each forecast)",
                 "seconds": seconds, "peak_mib": peak})
    fit = ot.fit_loss(ot.load_testbed().family("rpj"), "c4_val", fit_set="paper-loss")
    seconds = median_time(lambda: bootstrap(fit, 10_000, seed=0), repeats)
    peak = traced(lambda: bootstrap(fit, 10_000, seed=0))
    rows.append({"what": "10,000 bootstrap fits, RedPajama loss fit set", "seconds": seconds, "peak_mib": peak})
    return rows


def workflows(repeats: int) -> list[dict]:
    """What a user waits for, each beside the paper's procedure timed in the same run (`paper_procedure.py`): in
    process, `overtrain.reproduce()` against the procedure's `run()` (same predictions, checked); end to end,
    commands against the procedure's script, run alternately with it; the ratio is the median of the per-pair
    ratios. Medians of `repeats` runs (fewer for the slow ones, at least 3 pairs)."""
    import paper_procedure

    testbed = ot.load_testbed()
    ours = {t.run: t.forecast.loss for t in ot.reproduce(testbed).targets}
    theirs = {row["run"]: row["loss_pred"] for row in paper_procedure.run()}
    assert set(ours) == set(theirs) and all(abs(ours[r] / theirs[r] - 1) < 1e-6 for r in ours), "predictions differ"
    paper_in_process = median_time(paper_procedure.run, repeats)
    def first_reproduce() -> object:
        forget_solutions()  # every run fits afresh, as a user's first call does
        return ot.reproduce(testbed)

    rows = [{"what": "in process: overtrain.reproduce() (testbed loaded, fits not kept between runs)",
             "seconds": median_time(first_reproduce, repeats * 5), "paper_seconds": paper_in_process}]
    script = [sys.executable, str(Path(__file__).resolve().parent / "paper_procedure.py")]
    executable = [sys.executable, "-m", "overtrain"]
    target = ["--target", "params=6.9e9,multiplier=20"]
    with tempfile.TemporaryDirectory() as scratch:
        commands = [
            ("overtrain --help", ["--help"], repeats),
            ("overtrain reproduce", ["reproduce"], repeats),
            ("overtrain forecast (default)", ["forecast", *target], max(1, repeats // 2)),
            ("overtrain forecast --law auto", ["forecast", "--law", "auto", *target], max(1, repeats // 3)),
            ("overtrain forecast --law auto --fit-loss paper-loss --fit-error paper-error",
             ["forecast", "--law", "auto", "--fit-loss", "paper-loss", "--fit-error", "paper-error", *target],
             max(1, repeats // 3)),
            ("overtrain backtest", ["backtest"], max(1, repeats // 2)),
            ("overtrain reproduce --all", ["reproduce", "--all", "--output", f"{scratch}/paper", "--force"],
             max(1, repeats // 3)),
        ]
        for name, args, count in commands:
            seconds, paper_seconds, ratio = paired_times([*executable, *args], script, max(3, count))
            rows.append({"what": f"end to end: {name}", "seconds": seconds, "paper_seconds": paper_seconds,
                         "ratio": ratio})
    rows[0]["ratio"] = rows[0]["seconds"] / rows[0]["paper_seconds"]
    return rows


def measured_run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall time, peak resident memory (MiB) and stdout of one command."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({process.returncode})")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def ordered_right(document: dict, shifts: dict[str, float], noise: float) -> tuple[int, int]:
    """Of the pairs whose true loss gap (log scale) exceeds 4x the noise of a gap between two runs, how many the
    comparison's loss ranking puts in their true order, and how many there are."""
    from recipe_database import true_loss

    position = {name: i for i, name in enumerate(document["ranking"]["loss"])}
    target = document["target"]
    kind = document["kind"]
    truth = {f: float(np.log(true_loss(target["params"], target["tokens"], s, kind))) for f, s in shifts.items()}
    ranked = [f for f in truth if f in position]
    margin = 4 * noise * np.sqrt(2)
    clear = [(a, b) for a in ranked for b in ranked if truth[a] < truth[b] and truth[b] - truth[a] > margin]
    return sum(position[a] < position[b] for a, b in clear), len(clear)


def compare_growth(pairs: int) -> list[dict]:
    """`overtrain compare` end to end on databases of recipes, each run alternately with the paper's script: DCLM's
    (272 recipes, the suite's 22 tasks, at 6.9B) and synthetic ones of 10 to 1,000 recipes (`recipe_database.py`),
    and on recipes each fitted alone (own laws: every recipe a 4-size sweep). Median wall time, peak memory, the
    ratio to the paper's script, the lines printed at 80 columns, and for the synthetic databases how many clearly
    separated pairs (true log gap above 4x the gap noise) the ranking orders right."""
    import pandas as pd

    from recipe_database import NOISE, database

    script = [sys.executable, str(Path(__file__).resolve().parent / "paper_procedure.py")]
    compare = [sys.executable, "-m", "overtrain", "compare"]
    target = ["--target", "params=6.9e9,multiplier=20"]
    env = {**os.environ, "COLUMNS": "80"}
    dclm = Path(ot.__file__).resolve().parent / "data" / "testbeds" / "dclm"
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        cases = [("DCLM database", 272, [str(dclm / "runs.csv"), "--task-info", str(dclm / "tasks.csv"), "--tasks",
                                         ",".join(json.loads((dclm / "suite.json").read_text())["tasks"])], None)]
        for families, kind in ((10, "scaled"), (100, "scaled"), (300, "scaled"), (1000, "scaled"),
                               (1000, "shifted")):
            runs, tasks, shifts = database(families, kind=kind)
            path, task_path = Path(scratch) / f"db{families}{kind}.csv", Path(scratch) / "tasks.csv"
            runs.to_csv(path, index=False)
            tasks.to_csv(task_path, index=False)
            cases.append((f"synthetic, {kind}", families, [str(path), "--task-info", str(task_path)],
                          (shifts, kind)))
        for families in (10, 100):
            frames = []
            for f in range(families):
                shift = 0.1 * f / families
                frames += [{"run": f"own{f}-{n:g}-{m:g}", "family": f"recipe-{f:04d}", "params": n, "tokens": m * n,
                            "loss:val": (1.8 + 400 * n**-0.3 + 900 * (m * n) ** -0.3) * np.exp(shift)}
                           for n in (2e7, 5e7, 1.2e8, 3e8) for m in (10.0, 20.0, 40.0)]
            path = Path(scratch) / f"own{families}.csv"
            pd.DataFrame(frames).to_csv(path, index=False)
            cases.append(("own laws, loss only", families, [str(path)], None))
        for name, families, args, truth in cases:
            times, paper, peaks = [], [], []
            for _ in range(pairs):
                paper.append(measured_run(script)[0])
                seconds, peak, text = measured_run([*compare, *args, *target], env)
                times.append(seconds)
                peaks.append(peak)
            row = {"what": name, "families": families, "seconds": statistics.median(times),
                   "paper_seconds": statistics.median(paper),
                   "ratio": statistics.median(t / p for t, p in zip(times, paper, strict=True)),
                   "peak_mib": max(peaks), "lines_at_80": len(text.splitlines()),
                   "widest_line": max(map(len, text.splitlines()))}
            if truth is not None:
                document = json.loads(measured_run([*compare, *args, *target, "--json"])[2])
                right, clear = ordered_right({**document, "kind": truth[1]}, truth[0], NOISE)
                row.update(ordered_right=right, clear_pairs=clear)
            rows.append(row)
            print(f"  {name}, {families} families: {row['seconds']:.1f} s", file=sys.stderr)
    return rows


def growth(repeats: int) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(0)
    truth = SharedExponentLoss(E=1.8, A=170.0, B=290.0, alpha=0.27)
    by_runs = []
    for n in (10, 100, 1_000, 10_000):
        params = np.exp(rng.uniform(np.log(1e7), np.log(1e9), n))
        tokens = params * np.exp(rng.uniform(np.log(5), np.log(640), n))
        y = truth.predict(params, tokens) + 0.01 * rng.standard_normal(n)
        seconds = median_time(lambda p=params, t=tokens, y=y: fit_profile(SharedExponentLoss, (p, t), y), repeats * 5)
        peak = traced(lambda p=params, t=tokens, y=y: fit_profile(SharedExponentLoss, (p, t), y))
        by_runs.append({"runs_per_fit": n, "seconds_per_fit": seconds, "fits_per_second": 1 / seconds,
                        "peak_mib": peak})
    runs = ot.load_testbed().family("rpj").select("paper-loss")
    inputs, y = (runs.params, runs.tokens), runs.loss("c4_val").to_numpy()
    by_fits = []
    for batch in (1, 10, 100, 1_000, 10_000, 100_000):
        weights = resample_weights(len(y), batch, seed=1)
        seconds = median_time(lambda w=weights: fit_profile(SharedExponentLoss, inputs, y, w),
                              repeats if batch < 100_000 else 1)
        peak = traced(lambda w=weights: fit_profile(SharedExponentLoss, inputs, y, w))
        by_fits.append({"simultaneous_fits": batch, "seconds": seconds, "fits_per_second": batch / seconds,
                        "peak_mib": peak})
    return by_runs, by_fits


def markdown(rows: list[dict], columns: list[str], formats: dict[str, str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format(row[c], formats.get(c, "")) if c in row else "" for c in columns)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--workflows", action="store_true", help="only the workflows against the paper's procedure")
    parser.add_argument("--compare", action="store_true", help="only `overtrain compare` on databases of recipes")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7

    if args.compare:
        rows = compare_growth(3 if args.quick else 5)
        print("## compare on databases of recipes (ratio = overtrain / paper's script)\n")
        print(markdown(rows, ["what", "families", "seconds", "paper_seconds", "ratio", "peak_mib", "lines_at_80",
                              "widest_line", "ordered_right", "clear_pairs"],
                       {"seconds": ".2f", "paper_seconds": ".2f", "ratio": ".2f", "peak_mib": ".0f"}))
        if args.json:
            args.json.write_text(json.dumps({"compare": rows}, indent=2) + "\n")
        return

    flows = workflows(repeats)
    print("## Workflows against the paper's procedure (ratio = overtrain / paper; below 1 is faster)\n")
    print(markdown(flows, ["what", "seconds", "paper_seconds", "ratio"],
                   {"seconds": ".4f", "paper_seconds": ".4f", "ratio": ".3f"}))
    if args.workflows:
        if args.json:
            args.json.write_text(json.dumps({"workflows": flows}, indent=2) + "\n")
        return

    fits = benchmark_fits(repeats)
    print("## Engine vs the paper's multi-start Levenberg-Marquardt (128 starts)\n")
    print(markdown(fits, ["fit", "runs", "baseline_s", "engine_s", "ratio", "baseline_sse", "engine_sse",
                          "relative_difference"],
                   {"baseline_s": ".4f", "engine_s": ".6f", "ratio": ".0f", "baseline_sse": ".10g",
                    "engine_sse": ".10g", "relative_difference": ".1e"}))
    ratios = [r["ratio"] for r in fits]
    loss_ratios = [r["ratio"] for r in fits if " loss" in r["fit"]]
    print(f"\nratio: median {statistics.median(ratios):.0f}x, minimum {min(ratios):.0f}x (loss-law fits: minimum "
          f"{min(loss_ratios):.0f}x); engine objective <= baseline (within {SSE_TOLERANCE:g} relative) on "
          f"{sum(r['engine_not_worse'] for r in fits)} of {len(fits)} fits")

    ends = end_to_end(repeats)
    print("\n## End to end\n")
    print(markdown(ends, ["what", "seconds", "peak_mib"], {"seconds": ".3f", "peak_mib": ".0f"}))

    by_runs, by_fits = growth(repeats)
    print("\n## Cost growth: runs in one fit\n")
    print(markdown(by_runs, ["runs_per_fit", "seconds_per_fit", "fits_per_second", "peak_mib"],
                   {"seconds_per_fit": ".5f", "fits_per_second": ".0f", "peak_mib": ".1f"}))
    print("\n## Cost growth: simultaneous fits (RedPajama loss fit set, bootstrap weights)\n")
    print(markdown(by_fits, ["simultaneous_fits", "seconds", "fits_per_second", "peak_mib"],
                   {"seconds": ".4f", "fits_per_second": ".0f", "peak_mib": ".1f"}))
    if args.json:
        args.json.write_text(json.dumps({"workflows": flows, "fits": fits, "end_to_end": ends, "runs_per_fit": by_runs,
                                         "simultaneous_fits": by_fits}, indent=2) + "\n")


if __name__ == "__main__":
    main()
