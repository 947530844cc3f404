"""Does `overtrain compare` pick the better data recipe at scale, and are its odds honest? Run by hand:

    python benchmarks/recipes.py [--json FILE] [--loss-to-loss DIR]

For every pair of families and each of loss and average error: is the forecast order right (decision accuracy),
the Brier score of the stated probability that the first family comes out better, and beside it the simple baseline,
the order of the pair's runs at the largest smaller scale. The gap drift the odds rest on is always measured without
the judged testbed.

1. The bundled testbed from the paper's fit sets (the 6.9B and over-trained 1.4B runs unseen): 1.4B and 6.9B at
   M = 20, the configurations all three families share (the 1.4B runs' errors are in the paper's error fit set, so
   there only loss is scored); baseline: the 0.411B runs at M = 20.
2. The bundled testbed size-ahead: every configuration (size S >= 0.41B, M) all three families trained, forecast
   from the runs of smaller models, with each family's own laws and with the shared shape; baseline: the next smaller
   size at the same M. (Porian et al.'s two datasets cannot be compared: each family's loss is on its own dataset's
   validation set.)
3. DCLM's model database: its recipes with a 6.9B M = 20 run and smaller runs, from the runs below 6.9B (each has
   2-3 runs with a loss, so the shared shape); baseline: the 1.4B M = 20 runs.
4. With `--loss-to-loss DIR` (a folder written by `tools/convert_loss_to_loss.py`, local only): Brandfonbrener et
   al.'s six pre-training datasets, no choice of overtrain's made on them: the 3.3B runs at 1e21 FLOPs from the whole
   iso-FLOP sweep, and each configuration of the sweep's two largest levels all six trained, from the levels below.
5. Calibration per group: per tenth of the stated probability (folded so that each pair is stated for the family
   favoured), the observed frequency where a bin holds at least 10 pairs, and the binomial p of the count; beside it
   how often a bin of those stated odds would lie within 0.1 of them if every one were exactly right: with the pairs
   independent (exactly, Poisson-binomial), and with pairs that share a family moving together as the odds model
   has them (`clustered_chances`, 4000 draws), with the chance of a miss as large as the one observed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from scipy.stats import binomtest

import overtrain as ot
from overtrain.decide.compare import CompareOptions, compare_families
from overtrain.decide.gaps import measure_gap_drift
from overtrain.fitting.method import DEFAULT_METHOD
from overtrain.forecasts import Target
from overtrain.quantities import to_scale
from overtrain.runs.readers.runs_table import read_task_table
from overtrain.runs.table import measured_values
from overtrain.runs.testbed import load_recipe_testbeds
from overtrain.trust.prediction import ForecastRequest


def pair_rows(comparison, truths: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]],
              where: str) -> list[dict]:
    """One row per (pair, quantity): the stated probability, the truth, the baseline's call."""
    rows = []
    families = [f.family for f in comparison.forecasts if f.family in truths]
    for key in comparison.quantities:
        for a, b in itertools.combinations(sorted(families), 2):
            if key not in truths[a] or key not in truths[b] or truths[a][key] == truths[b][key]:
                continue
            if not (comparison.has(a, key) and comparison.has(b, key)):
                continue
            first_better = truths[a][key] < truths[b][key]
            probability = comparison.probability(a, b, key)
            scale = "loss" if key == "loss" else "error"
            gap = float(to_scale(scale, comparison.value(b, key)) - to_scale(scale, comparison.value(a, key)))
            spread = next(o.gap_sd for o in comparison.odds if o.quantity == key and {o.first, o.second} == {a, b})
            row = {"where": where, "quantity": _quantity(key),
                   "first": a, "second": b, "probability": probability, "gap": gap, "gap_sd": spread,
                   "first_better": first_better,
                   "correct": (probability > 0.5) == first_better, "brier": (probability - first_better) ** 2}
            if a in baseline and b in baseline and key in baseline[a] and key in baseline[b]:
                row["baseline_correct"] = (baseline[a][key] < baseline[b][key]) == first_better
            rows.append(row)
    return rows


def value_rows(comparison, truths: dict[str, dict[str, float]], where: str) -> list[dict]:
    """One row per (family, quantity) with a truth: the forecast, the truth, and whether the interval holds it."""
    rows = []
    for forecast in comparison.forecasts:
        for key in comparison.quantities:
            truth = truths.get(forecast.family, {}).get(key)
            if truth is None or not comparison.has(forecast.family, key):
                continue
            value, interval = forecast.values[key], forecast.intervals.get(key)
            rows.append({"where": where, "quantity": _quantity(key), "family": forecast.family, "forecast": value,
                         "true": truth, "rel_err": value / truth - 1,
                         "inside": None if interval is None else bool(interval.low <= truth <= interval.high)})
    return rows


def _quantity(key: str) -> str:
    return "loss" if key == "loss" else f"error{key}" if key.isdigit() else key


def values(runs: ot.RunTable, tasks: list[str], split: str | None = None) -> dict[str, dict[str, float]]:
    """Each family's measured loss and average errors, the mean over its runs that measure them (a quantity none of
    its runs measures is left out)."""
    split = split or ("c4_val" if "c4_val" in runs.splits else runs.splits[0])
    out = {}
    for family in runs.families:
        table = runs.family(family)
        row = {}
        for key in ("loss", *tasks):
            task_set = None if key == "loss" else table.task_set(key)
            measured = measured_values(table, "loss" if key == "loss" else task_set.name, split, task_set)
            if np.isfinite(measured).any():
                row["loss" if key == "loss" else task_set.name] = float(np.nanmean(measured))
        out[family] = row
    return out


def bundled() -> tuple[list[dict], list[dict]]:
    testbed = ot.load_testbed()
    hidden = [r for f in testbed.families
              for r in testbed.family(f).select("paper-targets").drop([f"{f}-open_lm_1b-1.0"]).runs]
    seen = testbed.drop(hidden)
    rows, forecasts = [], []
    for params in sorted(set(testbed.select("paper-targets").where(multiplier=20).params)):
        truth_runs = testbed.where(multiplier=20, params=float(params))
        small = testbed.where(multiplier=20, params=float(testbed.select("params<=4.2e8").params.max()))
        truths, baseline = values(truth_runs, ["17", "46"]), values(small, ["17", "46"])
        for tasks in ("17", "46"):
            paper_fit_sets = replace(DEFAULT_METHOD, loss_fit_set="paper-loss", error_fit_set="paper-error")
            comparison = compare_families(seen, Target(params, 20 * params),
                                          ForecastRequest("c4_val", tasks, paper_fit_sets),
                                          CompareOptions(drift=measure_gap_drift(["gadre2024-small"])))
            where = f"bundled {params / 1e9:.1f}B M=20"
            # the 1.4B M = 20 runs are in the paper's error fit set: their errors are fits, not forecasts
            in_fit = params < 2e9
            for found, kept in ((pair_rows(comparison, truths, baseline, where), rows),
                                (value_rows(comparison, truths, where), forecasts)):
                kept += [r for r in found if (tasks == "17" or r["quantity"] != "loss")
                         and not (in_fit and r["quantity"] != "loss")]
    return rows, forecasts


def bundled_size_ahead(shapes: tuple[str, ...] = ("own", "shared")) -> tuple[list[dict], list[dict]]:
    """Each configuration (size S, multiplier M) that every family of the bundled testbed trained at S >= 0.41B,
    forecast from the runs of smaller models only (the default method: every run below S, no fit sets), scored
    on loss and 17- and 46-task error; the baseline is the order at the next smaller size at the same M."""
    testbed = ot.load_testbed()
    drift = measure_gap_drift(["gadre2024-small"])  # the shared shape's odds, measured without this testbed
    sizes = sorted(set(np.round(testbed.params, -6)))
    rows, forecasts = [], []
    for size in (s for s in sizes if s >= 4e8):
        here = testbed.select(f"params>{0.9 * size},params<{1.1 * size}")
        shared = set.intersection(*(set(np.round(here.family(f).multiplier)) for f in here.families))
        below = testbed.select(f"params<{0.9 * size}")
        previous = max(s for s in sizes if s < 0.9 * size)
        for m in sorted(shared):
            truth_runs = here.select(f"multiplier>{0.99 * m},multiplier<{1.01 * m}")
            smaller = below.select(f"params>{0.9 * previous},multiplier>{0.99 * m},multiplier<{1.01 * m}")
            truths, baseline = values(truth_runs, ["17", "46"]), values(smaller, ["17", "46"])
            target = Target(float(np.median(truth_runs.params)), float(np.median(truth_runs.tokens)))
            for tasks in ("17", "46"):
                for shape in shapes:
                    comparison = compare_families(below, target, ForecastRequest("c4_val", tasks),
                                                  CompareOptions(shape, drift))
                    where = f"bundled size-ahead {size / 1e9:.2f}B M={m:g} ({shape})"
                    for found, kept in ((pair_rows(comparison, truths, baseline, where), rows),
                                        (value_rows(comparison, truths, where), forecasts)):
                        kept += [r for r in found if tasks == "17" or r["quantity"] != "loss"]
    return rows, forecasts


def dclm() -> tuple[list[dict], list[dict], dict[str, str]]:
    """DCLM's recipes with a 6.9B M = 20 run and smaller runs, each recipe its own family, compared from the runs
    below 6.9B (too thin to be fitted alone: the shared shape, its gap drift measured without DCLM)."""
    testbed = next(t for t in load_recipe_testbeds() if t.name == "dclm")
    table = testbed.runs
    target = table.where(multiplier=20).select("params>6e9")
    small = table.select("params<6e9")
    recipes = [f for f in target.families if f in set(small.families)]
    chosen = small.subset(np.isin(small.column("family"), recipes))
    params = float(np.median(target.params))
    truths = values(target.subset(np.isin(target.column("family"), recipes)), [testbed.tasks], testbed.loss_split)
    largest = chosen.where(multiplier=20, params=float(chosen.where(multiplier=20).params.max()))
    baseline = values(largest, [testbed.tasks], testbed.loss_split)
    comparison = compare_families(chosen, Target(params, 20 * params),
                                  ForecastRequest(testbed.loss_split, testbed.tasks),
                                  CompareOptions(drift=measure_gap_drift(["dclm"])))
    where = f"dclm 6.9B M=20 ({comparison.shape})"
    return (pair_rows(comparison, truths, baseline, where), value_rows(comparison, truths, where),
            comparison.skipped)


def loss_to_loss(folder: Path) -> tuple[list[dict], list[dict]]:
    """Brandfonbrener et al.'s iso-FLOP sweeps on six pre-training datasets, all evaluated on C4 and the OLMo suite
    (converted locally by `tools/convert_loss_to_loss.py`; no method or drift was chosen on it): the 3.3B runs at
    1e21 FLOPs forecast from the whole sweep, and every configuration of the two largest sweep levels that all six
    trained, forecast from the levels below; both shapes, the gap drift from the shipped testbeds. The baseline is
    each family's run at the largest level below, at the multiplier nearest the target's."""
    raw = ot.read_runs(folder / "runs.csv")
    table = ot.RunTable(raw.frame, read_task_table(folder / "tasks.csv"), "loss-to-loss testbed")
    level = table.column("iso_flop")
    levels = sorted(set(level))
    cases = [(table.subset(level == levels[-1]), table.subset(level < levels[-1]), "3.3B targets (1e21 FLOPs)")]
    for target_level in levels[-3:-1]:
        here = table.subset(level == target_level)
        configs = pd.Series([f"{n:.2g}" for n in here.params])
        shared = [c for c in configs.unique()
                  if len(set(np.asarray(here.column("family"))[np.asarray(configs == c)])) == len(table.families)]
        for config in shared:
            cases.append((here.subset(np.asarray(configs == config)), table.subset(level < target_level),
                          f"{float(config) / 1e9:.2g}B at {target_level:.3g} FLOPs"))
    rows, forecasts = [], []
    for truth_runs, below, where in cases:
        target = Target(float(np.median(truth_runs.params)), float(np.median(truth_runs.tokens)))
        below_level = below.column("iso_flop")
        last = below.subset(below_level == below_level.max())
        nearest = np.abs(np.log(last.multiplier / target.multiplier))
        keep = np.zeros(len(last), dtype=bool)
        for family in last.families:
            mine = np.flatnonzero(np.asarray(last.column("family")) == family)
            keep[mine[np.argmin(nearest[mine])]] = True
        truths, baseline = values(truth_runs, ["all"], "c4_val"), values(last.subset(keep), ["all"], "c4_val")
        for shape in ("own", "shared"):
            comparison = compare_families(below, target, ForecastRequest("c4_val", "all"), CompareOptions(shape))
            rows += pair_rows(comparison, truths, baseline, f"loss-to-loss {where} ({shape})")
            forecasts += value_rows(comparison, truths, f"loss-to-loss {where} ({shape})")
    return rows, forecasts


def chance_within(stated: np.ndarray, tolerance: float = 0.1) -> float:
    """P(the frequency observed in a bin lies within `tolerance` of the mean stated probability) if every stated
    probability were exactly right and the pairs independent: the count right follows the Poisson-binomial
    distribution of `stated`, computed exactly by convolution."""
    counts = np.array([1.0])
    for p in stated:
        counts = np.convolve(counts, [1 - p, p])
    observed = np.arange(len(counts)) / len(stated)
    return float(counts[np.abs(observed - stated.mean()) <= tolerance + 1e-12].sum())


def folded(stated: np.ndarray, first_better: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs restated for the family favoured: its stated probability (>= 0.5), whether it came out better (any
    leading axes of `first_better`, e.g. draws, kept), and the tenth of probability the pair falls in."""
    first = stated >= 0.5
    favoured = np.where(first, stated, 1 - stated)
    return favoured, np.where(first, first_better, ~first_better), np.minimum((favoured * 10).astype(int), 9)


def tenth(bin_: int) -> str:
    return f"{bin_ / 10:.1f}-{(bin_ + 1) / 10:.1f}"


def family_spreads(rows: pd.DataFrame) -> dict[str, float]:
    """Each family's variance on the interval scale in one comparison (one `where` and quantity), as the odds model
    has it: the variance of a pair's gap (`gap_sd` squared) is the sum of two families' parts (fit part, target
    noise, their share of the drift and of the replicate scatter), solved for the parts (>= 0) by least squares over
    the comparison's pairs, each of which the model fits exactly."""
    families = sorted(set(rows["first"]) | set(rows["second"]))
    index = {f: i for i, f in enumerate(families)}
    design = np.zeros((len(rows), len(families)))
    for row, (a, b) in enumerate(zip(rows["first"], rows["second"], strict=True)):
        design[row, index[a]] = design[row, index[b]] = 1.0
    variance = rows["gap_sd"].to_numpy(dtype=float) ** 2
    parts = nnls(design, variance)[0]
    if not np.allclose(design @ parts, variance, rtol=1e-6, atol=1e-12):
        raise ValueError(f"{rows['where'].iloc[0]}: the pairs' variances are not sums of family parts")
    return dict(zip(families, parts, strict=True))


def clustered_chances(rows: pd.DataFrame, draws: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Per tenth of the stated probability, how often the observed frequency would lie within 0.1 of the stated,
    and how often it would miss by at least as much as it did, if the odds model held: each comparison's families
    drawn around their forecasts with the variances of `family_spreads`, so that pairs sharing a family move
    together as they do in the data."""
    rng = np.random.default_rng(seed)
    stated = rows["probability"].to_numpy(dtype=float)
    outcomes = np.zeros((draws, len(rows)), dtype=bool)
    for _, group in rows.groupby(["where", "quantity"], sort=False):
        spreads = family_spreads(group)
        families = sorted(spreads)
        noise = rng.standard_normal((draws, len(families))) * np.sqrt([spreads[f] for f in families])
        column = {f: noise[:, i] for i, f in enumerate(families)}
        for position, row in zip(rows.index.get_indexer(group.index), group.itertuples(), strict=True):
            gap = row.gap + column[row.second] - column[row.first]
            outcomes[:, position] = gap > 0  # first better: its value below the second's
    favoured, observed, bins = folded(stated, rows["first_better"].to_numpy(dtype=bool))
    happened = folded(stated, outcomes)[1]
    table = {}
    for b in np.unique(bins):
        members = bins == b
        mean = favoured[members].mean()
        simulated = happened[:, members].mean(axis=1)
        miss = abs(observed[members].mean() - mean)
        table[tenth(b)] = {
            "clustered chance within 0.1": float(np.mean(np.abs(simulated - mean) <= 0.1 + 1e-12)),
            "clustered p": float(np.mean(np.abs(simulated - mean) >= miss - 1e-12))}
    return pd.DataFrame(table).T


def calibration(rows: pd.DataFrame) -> pd.DataFrame:
    """Stated probability (for the favoured family) against the observed frequency, per tenth, and how often a bin
    of that size would lie within 0.1 if the stated odds were exactly right (pairs independent)."""
    favoured, happened, bins = folded(rows["probability"].to_numpy(dtype=float),
                                      rows["first_better"].to_numpy(dtype=bool))
    frame = pd.DataFrame({"bin": bins, "stated": favoured, "happened": happened})
    table = frame.groupby("bin").agg(pairs=("stated", "size"), stated=("stated", "mean"),
                                     observed=("happened", "mean"))
    table["chance within 0.1"] = [chance_within(frame.loc[frame["bin"] == b, "stated"].to_numpy())
                                  for b in table.index]
    table.index = [tenth(b) for b in table.index]
    table["within 0.1"] = np.where(table["pairs"] >= 10, (table["stated"] - table["observed"]).abs() <= 0.1, None)
    table = table.join(clustered_chances(rows))
    # how surprising the count right is if the stated odds held and the pairs were independent (they are not: pairs
    # that share a family move together, so this understates how often a bin misses by chance)
    table["binomial p"] = [binomtest(round(row.observed * row.pairs), int(row.pairs), row.stated).pvalue
                           for row in table.itertuples()]
    return table


def grouped(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the group each row's `where` belongs to (its target sizes dropped from the name)."""
    return frame.assign(group=frame["where"].str.replace(r" [0-9.]+B M=[0-9.]+", "", regex=True)
                        .str.replace(r" [0-9.e+]+B at [0-9.e+]+ FLOPs", " size-ahead", regex=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--loss-to-loss", type=Path, help="a folder written by tools/convert_loss_to_loss.py")
    args = parser.parse_args()
    dclm_rows, dclm_values, skipped = dclm()
    results = [bundled(), bundled_size_ahead(), (dclm_rows, dclm_values)]
    if args.loss_to_loss:
        results.append(loss_to_loss(args.loss_to_loss))
    frame = grouped(pd.concat([pd.DataFrame(pairs) for pairs, _ in results], ignore_index=True))
    forecasts = grouped(pd.concat([pd.DataFrame(found) for _, found in results], ignore_index=True))
    print("## Pairs ordered right, Brier score of the stated odds, and the baseline (order at the largest small "
          "scale) on the pairs it can call, with the forecast's accuracy on those (accuracy_there)\n")
    called = frame.assign(called_correct=frame["correct"].where(frame["baseline_correct"].notna()))
    summary = called.groupby(["group", "quantity"], sort=False).agg(
        pairs=("first", "size"), decision_accuracy=("correct", "mean"), brier=("brier", "mean"),
        baseline_pairs=("baseline_correct", "count"), baseline_accuracy=("baseline_correct", "mean"),
        accuracy_there=("called_correct", "mean"))
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\n## Each family's forecast against its truth: mean |relative error|, and how many truths fall inside "
          "the 90% intervals\n")
    print(forecasts.groupby(["group", "quantity"], sort=False).agg(
        forecasts=("family", "size"), mean_abs_rel_err=("rel_err", lambda x: float(np.mean(np.abs(x)))),
        mean_rel_err=("rel_err", "mean"), inside=("inside", "sum")).to_string(float_format=lambda v: f"{v:.3f}"))
    if skipped:
        print(f"\nnot compared: {len(skipped)} ({'; '.join(f'{k}: {v}' for k, v in list(skipped.items())[:5])})",
              file=sys.stdout)
    scored = frame[np.isfinite(frame["probability"].astype(float))]
    eligible = []
    for group, rows in scored.groupby("group", sort=False):
        print(f"\n## Calibration of the stated odds: {group}\n")
        table = calibration(rows)
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        eligible.append(table[table["pairs"] >= 10].assign(group=group))
    bins = pd.concat(eligible)
    for group, rows in scored[scored["quantity"] != "loss"].groupby("group", sort=False):
        print(f"\n## Calibration of the stated odds on error alone: {group}\n")
        print(calibration(rows).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\n## Bins of at least 10 pairs within 0.1: {int(bins['within 0.1'].sum())} of {len(bins)}\n")
    print("If every stated probability were exactly right, bins within 0.1 expected (and the chance that all are), "
          "with the pairs independent and with pairs that share a family moving together (as the odds model has "
          "them):\n")
    for group, rows in [("all", bins), *bins.groupby("group", sort=False)]:
        print(f"- {group}: {int(rows['within 0.1'].sum())} of {len(rows)}; independent "
              f"{rows['chance within 0.1'].sum():.1f} ({rows['chance within 0.1'].prod():.2g}); clustered "
              f"{rows['clustered chance within 0.1'].sum():.1f} ({rows['clustered chance within 0.1'].prod():.2g})")
    if args.json:
        args.json.write_text(json.dumps({"pairs": frame.replace({np.nan: None}).to_dict(orient="records"),
                                         "forecasts": forecasts.replace({np.nan: None}).to_dict(orient="records"),
                                         "summary": summary.reset_index().to_dict(orient="records"),
                                         "not_compared": skipped}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
