"""Comparing families (data recipes) at a target: known orders, a known crossing, odds from the joint uncertainty."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from typer.testing import CliRunner

import overtrain as ot
from overtrain.cli import app
from overtrain.decide.compare import CompareOptions, compare_families
from overtrain.decide.comparison import Spread
from overtrain.decide.gaps import GapDrift, gap_changes, replicate_noise
from overtrain.decide.ranking import Standing, crossings
from overtrain.forecasts import Target, quantity_column
from overtrain.laws import SharedExponentLoss
from overtrain.quantities import to_scale

# "steady" is better at small scale, "steep" improves faster (larger A, B but lower E): their laws cross.
LAWS = {"steady": SharedExponentLoss(2.1, 150.0, 300.0, 0.3), "steep": SharedExponentLoss(1.9, 320.0, 650.0, 0.3),
        "worse": SharedExponentLoss(2.3, 200.0, 400.0, 0.3)}
SIZES = (2e7, 5e7, 1e8, 2e8, 4e8)
MULTIPLIERS = (5.0, 20.0, 80.0)


def _families() -> ot.RunTable:
    rows = [{"run": f"{name}-{n:g}-{m:g}", "family": name, "params": n, "tokens": m * n,
             "loss:val": law.predict(n, m * n)}
            for name, law in LAWS.items() for n in SIZES for m in MULTIPLIERS]
    return ot.RunTable.from_frame(pd.DataFrame(rows))


def _true_crossing(multiplier: float) -> float:
    """N where the two crossing families' true laws give the same loss at `multiplier` (by root finding)."""
    gap = lambda log_n: LAWS["steady"].predict(np.exp(log_n), multiplier * np.exp(log_n)) - LAWS["steep"].predict(  # noqa: E731
        np.exp(log_n), multiplier * np.exp(log_n))
    return float(np.exp(brentq(gap, np.log(1e7), np.log(1e12))))


def test_known_order_odds_and_crossing() -> None:
    crossing = _true_crossing(20.0)
    assert 2e8 < crossing < 5e10  # the crossing lies between the fitted sizes and far targets
    for params in (crossing / 8, crossing * 8):
        target = Target(params, 20 * params)
        comparison = compare_families(_families(), target)
        truth = sorted(LAWS, key=lambda name: LAWS[name].predict(target.params, target.tokens))
        assert comparison.ranking("loss") == truth
        best, middle, worst = truth
        # every pair favoured in its true order; the odds are no sharper than how far these families' gaps moved
        # between their own sizes (one pair crosses), which is what the drift of loss gaps is measured on
        for first, second in ((best, middle), (best, worst), (middle, worst)):
            assert comparison.probability(first, second, "loss") > 0.5
        assert comparison.drift.source("loss") == "the compared runs"
        found = next(o.crossing_params for o in comparison.odds if {o.first, o.second} == {"steady", "steep"})
        assert found == pytest.approx(crossing, rel=1e-3)


def test_a_family_that_cannot_be_forecast_is_reported() -> None:
    frame = _families().to_frame()
    thin = pd.DataFrame([{"run": "thin-1", "family": "thin", "params": 1e8, "tokens": 2e9, "loss:val": 3.0}])
    runs = ot.RunTable.from_frame(pd.concat([frame, thin], ignore_index=True))
    comparison = compare_families(runs, Target(1e9, 2e10), options=CompareOptions("own"))
    assert "thin" in comparison.skipped and "thin" not in comparison.ranking("loss")
    assert len(comparison.ranking("loss")) == 3
    # by default a family too thin to be fitted alone makes every family share one shape, and it is compared
    shared = compare_families(runs, Target(1e9, 2e10))
    assert shared.shape == "shared" and "1 of 4 families cannot be fitted alone" in shared.shape_reason
    assert "thin" in shared.ranking("loss") and not shared.skipped


def test_a_family_without_accuracies_is_compared_on_loss_with_its_own_laws(tmp_path) -> None:
    # "worse" was never evaluated downstream: the others are compared on both quantities, it on loss alone, each
    # with its own laws; `forecast` of every family says which family lacks what, on one line
    frame = _families().to_frame().reset_index()
    error = 0.8 - 2.0 * np.exp(-frame["loss:val"])
    for task in ("acc:t1", "acc:t2"):
        frame[task] = np.where(frame["family"] == "worse", np.nan, 1 - error)
    target = Target(1e9, 2e10)
    comparison = compare_families(ot.RunTable.from_frame(frame), target)
    error_key = next(k for k in comparison.quantities if k != "loss")
    assert comparison.shape == "own" and not comparison.skipped
    assert sorted(comparison.ranking("loss")) == sorted(LAWS) and sorted(comparison.ranking(error_key)) == [
        "steady", "steep"]
    truth = sorted(LAWS, key=lambda name: LAWS[name].predict(target.params, target.tokens))
    assert comparison.ranking("loss") == truth
    assert {(o.first, o.second) for o in comparison.odds if o.quantity == error_key} == {("steady", "steep")}
    runs = tmp_path / "runs.csv"
    frame.to_csv(runs, index=False)
    for command in (["plan", str(runs), "--target-loss", "2.8"], ["fit", str(runs)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and "Traceback" not in result.output, command
        line = result.stderr.strip()
        assert "\n" not in line and line.startswith("overtrain: error: family 'worse': ") and str(runs) in line
    # forecast shows the families it can forecast and says which it cannot, and why
    shown = CliRunner().invoke(app, ["forecast", str(runs), "--target", "params=1e9,tokens=2e10", "--json"])
    document = json.loads(shown.stdout)
    assert shown.exit_code == 0 and {p["family"] for p in document["predictions"]} == {"steady", "steep"}
    assert any(note.startswith("warning: not forecast: family 'worse': ") and str(runs) in note
               for note in document["notes"])


# Recipes that share one shape: each family's loss is the shape's times exp(offset), its error the error at the
# shape's loss moved by its own offset on the logit scale. The thin families' largest runs: 4e8 parameters, M = 20.
SHAPE = SharedExponentLoss(1.9, 300.0, 600.0, 0.3)
OFFSETS = {"a": (0.00, 0.10), "b": (0.03, -0.20), "c": (-0.02, 0.05), "d": (0.05, 0.00)}


def _shared_shape_families() -> ot.RunTable:
    rows = []
    for name, (loss_offset, error_offset) in OFFSETS.items():
        sizes = SIZES if name == "a" else SIZES[-2:]  # "a" is a full sweep; the others are thin
        for n in sizes:
            for m in (MULTIPLIERS if name == "a" else (20.0,)):
                shape = SHAPE.predict(n, m * n)
                logit = to_scale("error", 0.8 - 2.0 * np.exp(-shape)) + error_offset
                error = 1 / (1 + np.exp(-logit))
                loss = shape * np.exp(loss_offset)
                rows.append({"run": f"{name}-{n:g}-{m:g}", "family": name, "params": n, "tokens": m * n,
                             "loss:val": loss, "acc:t1": 1 - error, "acc:t2": 1 - error})
    return ot.RunTable.from_frame(pd.DataFrame(rows))


SYNTHETIC_DRIFT = GapDrift({"loss": (4e-4, 1e-4), "error": (0.01, 0.002)}, {"loss": 1, "error": 1}, ("synthetic",))
SHARED_TARGET = Target(7e9, 1.4e11)
#: Decades of compute from the thin families' largest runs (4e8 parameters, M = 20) to the target.
DECADES_AHEAD = float(np.log10(SHARED_TARGET.flops / (6 * 4e8 * 8e9)))


def _check_shared_odds(comparison, pairs, scatter=lambda quantity: 0.0) -> str:
    """For each pair of thin families and each quantity both are forecast on: the forecast gap is the true offset
    gap (their largest runs share one configuration, so the shared law's miss there cancels) and the odds are
    Phi(gap / gap_sd) with gap_sd^2 the synthetic drift plus `scatter(quantity)`. Returns the error's key."""
    error_key = next(k for k in comparison.quantities if k != "loss")
    for first, second in pairs:
        for key, index, quantity in (("loss", 0, "loss"), (error_key, 1, "error")):
            if not (comparison.has(first, key) and comparison.has(second, key)):
                continue
            gap = OFFSETS[second][index] - OFFSETS[first][index]
            forecast_gap = (to_scale(quantity, comparison.value(second, key))
                            - to_scale(quantity, comparison.value(first, key)))
            assert forecast_gap == pytest.approx(gap, abs=1e-9)
            spread = np.sqrt(SYNTHETIC_DRIFT.variance(key, DECADES_AHEAD) + scatter(quantity))
            assert comparison.probability(first, second, key) == pytest.approx(NormalDist().cdf(gap / spread),
                                                                               abs=1e-9)
            odds = next(o for o in comparison.odds if o.quantity == key and {o.first, o.second} == {first, second})
            assert odds.gap_sd == pytest.approx(spread, rel=1e-12)
    return error_key


def test_shared_shape_offsets_and_odds_from_the_gap_drift() -> None:
    comparison = compare_families(_shared_shape_families(), SHARED_TARGET,
                                  options=CompareOptions("shared", SYNTHETIC_DRIFT))
    assert comparison.shape == "shared" and not comparison.skipped
    _check_shared_odds(comparison, (("b", "c"), ("c", "d"), ("b", "d")))
    assert comparison.ranking("loss") == sorted(OFFSETS, key=lambda f: OFFSETS[f][0])
    for forecast in comparison.forecasts:
        for key, interval in forecast.intervals.items():
            assert interval.low < forecast.values[key] < interval.high
            assert interval.low >= 0 and (key == "loss" or interval.high <= 1)


def test_shared_shape_error_intervals_grow_with_each_familys_distance_from_its_own_runs() -> None:
    """Without drift, every family's interval is the shared forecast's moved by its offset, except the extrapolation
    part, which grows with the distance from the family's own runs: the thin families (two runs, all alike) get
    equal error intervals on the logit scale, wider than the full sweep's; loss widths (constant form) are equal among
    the thin families and wider than the sweep's, which their distance takes beyond the evidence the widths were
    learned on (`Calibration.beyond_evidence`)."""
    still = GapDrift({"loss": (0.0, 0.0), "error": (0.0, 0.0)}, {"loss": 1, "error": 1}, ("synthetic",))
    comparison = compare_families(_shared_shape_families(), SHARED_TARGET, options=CompareOptions("shared", still))
    error_key = next(k for k in comparison.quantities if k != "loss")

    def width(family: str, key: str) -> float:
        forecast = next(f for f in comparison.forecasts if f.family == family)
        interval, quantity = forecast.intervals[key], "loss" if key == "loss" else "error"
        return float(to_scale(quantity, interval.high) - to_scale(quantity, interval.low))

    thin = [width(f, error_key) for f in ("b", "c", "d")]
    assert thin == pytest.approx([thin[0]] * 3, rel=1e-9) and thin[0] > width("a", error_key) * 1.05
    thin_loss = [width(f, "loss") for f in "bcd"]
    assert thin_loss == pytest.approx([thin_loss[0]] * 3, rel=1e-9) and thin_loss[0] >= width("a", "loss")


def test_a_family_without_a_loss_is_compared_on_error(tmp_path) -> None:
    # "d" reports downstream accuracies but no loss on the split: it is ranked and given odds on error alone
    frame = _shared_shape_families().to_frame().reset_index()
    frame.loc[frame["family"] == "d", "loss:val"] = np.nan
    comparison = compare_families(ot.RunTable.from_frame(frame), SHARED_TARGET,
                                  options=CompareOptions("shared", SYNTHETIC_DRIFT))
    error_key = _check_shared_odds(comparison, (("b", "c"), ("c", "d"), ("b", "d")))
    assert not comparison.skipped and comparison.quantities == ["loss", error_key]
    assert comparison.ranking("loss") == sorted("abc", key=lambda f: OFFSETS[f][0])
    assert comparison.ranking(error_key) == sorted(OFFSETS, key=lambda f: OFFSETS[f][1])
    assert not any(o.quantity == "loss" and "d" in (o.first, o.second) for o in comparison.odds)
    row = comparison.to_frame().set_index("family").loc["d"]
    assert np.isnan(row["loss"]) and np.isnan(row["loss_rank"]) and row[f"{quantity_column(error_key)}_rank"] == 2
    runs = tmp_path / "runs.csv"
    frame.to_csv(runs, index=False)
    result = CliRunner().invoke(app, ["compare", str(runs), "--target", "params=7e9,tokens=1.4e11",
                                      "--shape", "shared"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.split("│")[1:2] and x.split("│")[1].strip() == "d")
    assert "—" in line


def test_replicate_scatter_enters_the_shared_shape_odds() -> None:
    # every run of the shared-shape families trained twice, once moved up and once down by the same step on the log
    # loss and the logit error: the pooled variance between replicates is 2 step^2 on each (one degree of freedom
    # per configuration) and the offsets, each the mean of a replicate pair, are unchanged
    steps = {"loss": 0.01, "error": 0.05}
    frame = _shared_shape_families().to_frame().reset_index()
    twins = []
    for sign in (1.0, -1.0):
        twin = frame.copy()
        twin["run"] = twin["run"] + ("+" if sign > 0 else "-")
        twin["loss:val"] = twin["loss:val"] * np.exp(sign * steps["loss"])
        for task in ("acc:t1", "acc:t2"):
            logit = to_scale("error", 1 - twin[task].to_numpy()) + sign * steps["error"]
            twin[task] = 1 - 1 / (1 + np.exp(-logit))
        twins.append(twin)
    runs = ot.RunTable.from_frame(pd.concat(twins, ignore_index=True))
    configs = len(frame)
    noise = replicate_noise(runs, "val", "all")
    for quantity, step in steps.items():
        assert noise[quantity][1] == configs
        assert noise[quantity][0] == pytest.approx(2 * step**2, rel=1e-9)
    assert replicate_noise(_shared_shape_families(), "val", "all") == {"loss": (0.0, 0), "error": (0.0, 0)}
    comparison = compare_families(runs, SHARED_TARGET, options=CompareOptions("shared", SYNTHETIC_DRIFT))
    # one run of each at the target (2 s^2) and each offset the mean of its 2 largest runs (s^2 / 2 each)
    _check_shared_odds(comparison, (("b", "c"), ("c", "d"), ("b", "d")),
                       lambda quantity: 2 * steps[quantity] ** 2 * (2 + 1 / 2 + 1 / 2))
    assert comparison.to_dict()["replicate_scatter"]["error"] == {
        "variance": pytest.approx(2 * steps["error"] ** 2), "degrees_of_freedom": configs, "in_odds": True}


def test_gap_changes_and_drift_recover_known_values() -> None:
    # family f's loss at a configuration: exp(base + slope_f * log10 C): a pair's gap changes by
    # (slope_a - slope_b) x decades exactly
    slopes = {"p": 0.0, "q": 0.01, "r": -0.02}
    rows = [{"run": f"{f}-{n:g}", "family": f, "params": n, "tokens": 20 * n,
             "loss:val": float(np.exp(1.0 + s * np.log10(120 * n * n)))} for f, s in slopes.items() for n in SIZES]
    changes = gap_changes(ot.RunTable.from_frame(pd.DataFrame(rows)), "val", "all")
    assert len(changes) == 3 * 10 and set(changes["quantity"]) == {"loss"}
    assert changes["span"].nunique() == 10 and set(changes["families"]) == {3}
    observed = np.sort(np.abs(changes["change"].to_numpy()) / changes["decades"].to_numpy())
    assert observed == pytest.approx(np.sort(np.repeat([0.01, 0.02, 0.03], 10)), rel=1e-9)
    x = np.linspace(0.2, 3.0, 12)
    synthetic = pd.DataFrame({"quantity": ["loss"] * 12 + ["error"] * 12, "decades": np.concatenate([x, x]),
                              "change": np.concatenate([np.sqrt(0.004 + 0.002 * x), np.sqrt(0.03 + 0 * x)])})
    drift = GapDrift.fit({"synthetic": synthetic})
    assert drift.coefficients["loss"] == pytest.approx((0.004, 0.002), rel=1e-9)
    assert drift.coefficients["error"] == pytest.approx((0.03, 0.0), abs=1e-12)
    # the compared runs' own loss gap changes replace the testbeds' where they hold enough pairs
    own = pd.DataFrame({"quantity": ["loss"] * 12, "decades": x, "change": np.sqrt(0.01 * x),
                        "span": [f"span{i}" for i in range(12)], "families": 2})
    mixed = drift.with_own(own)
    assert mixed.coefficients["loss"] == pytest.approx((0.0, 0.01), abs=1e-12) and mixed.pairs["loss"] == 12
    assert mixed.coefficients["error"] == drift.coefficients["error"]
    assert mixed.source("loss") == "the compared runs" and mixed.source("error") == "synthetic"
    assert drift.with_own(own.iloc[:5]) == drift
    # 12 pairs of one span measuring 5 families are only 4 independent changes: not enough
    assert drift.with_own(own.assign(span="one", families=5)) == drift


def test_odds_and_ranking_chances_match_a_monte_carlo_of_the_joint_model() -> None:
    """Each family's run lands at its forecast plus an independent normal miss on the log scale: the pair odds,
    P(best) and P(top 2) agree with a brute-force simulation of that model, for every family at once."""
    rng = np.random.default_rng(0)
    values = np.array([2.40, 2.45, 2.43, 2.60])
    sd = np.array([0.03, 0.04, 0.05, 0.02])
    standing = Standing("loss", ("a", "b", "c", "d"), values, sd)
    n = 400_000
    draws = to_scale("loss", values)[None, :] + sd[None, :] * rng.standard_normal((n, 4))
    brute = (draws[:, :, None] < draws[:, None, :]).mean(axis=0)
    odds = standing.probabilities()
    off_diagonal = ~np.eye(4, dtype=bool)
    assert np.allclose(odds[off_diagonal], brute[off_diagonal], atol=0.004)
    assert standing.probability("a", "b") == pytest.approx(odds[0, 1], abs=1e-12)
    best, top2 = standing.chances(2)
    order = np.argsort(draws, axis=1)
    assert np.allclose(best, np.bincount(order[:, 0], minlength=4) / n, atol=0.01)
    assert np.allclose(top2, (np.bincount(order[:, 0], minlength=4) + np.bincount(order[:, 1], minlength=4)) / n,
                       atol=0.01)
    assert best.sum() == pytest.approx(1.0) and top2.sum() == pytest.approx(2.0)
    assert np.array_equal(standing.chances(2)[0], best)  # seeded: the same draws every time


def test_crossings_are_found_between_grid_points() -> None:
    sizes = np.logspace(8, 11, 241)
    curves = np.array([2.0 + 0.1 * np.log10(sizes / 1e9), np.full(241, 2.0 + 0.1 * np.log10(3.0)),
                       np.full(241, 5.0)])
    found = crossings(curves, sizes, 1e9)
    assert found[0, 1] == pytest.approx(3e9, rel=1e-9) and found[1, 0] == found[0, 1]
    assert np.isnan(found[0, 2]) and np.isnan(found[1, 2])


def test_cli_compare_json_and_figure(tmp_path) -> None:
    path = tmp_path / "runs.csv"
    _families().to_frame().to_csv(path, index=False)
    figure = tmp_path / "compare.png"
    result = CliRunner().invoke(app, ["compare", str(path), "--target", "params=7e9,multiplier=20", "--json",
                                      "--plot", str(figure)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["ranking"]["loss"]) == set(LAWS) and len(document["odds"]) == 3
    assert figure.stat().st_size > 10_000
    bad = CliRunner().invoke(app, ["compare", str(path), "--target", "params=7e9"])
    assert bad.exit_code != 0 and "tokens or multiplier" in bad.output


def test_cheaper_matches_a_monte_carlo_of_the_cost_model() -> None:
    from types import SimpleNamespace

    from overtrain.decide.cheaper import cheaper

    rng = np.random.default_rng(1)
    plan_a, plan_b = SimpleNamespace(total_flops=1e21), SimpleNamespace(total_flops=1.3e21)
    spread_a, spread_b = Spread(0.01, 0.0, 0.05), Spread(0.02, 0.0, 0.04)
    slope_a, slope_b, moved_a, moved_b = -0.05, -0.04, 0.02**2, 0.03**2
    n = 400_000
    # a miss both share (sd sqrt(x_A x_B)), each family's share of the gap's drift, and its fit part
    shared = np.sqrt(spread_a.extrapolation * spread_b.extrapolation) * rng.standard_normal(n)
    miss_a = shared + np.sqrt(moved_a) * rng.standard_normal(n) + spread_a.fit * rng.standard_normal(n)
    miss_b = shared + np.sqrt(moved_b) * rng.standard_normal(n) + spread_b.fit * rng.standard_normal(n)
    cost_a = np.log(plan_a.total_flops) - miss_a / slope_a
    cost_b = np.log(plan_b.total_flops) - miss_b / slope_b
    stated = cheaper((plan_a, spread_a, slope_a, moved_a), (plan_b, spread_b, slope_b, moved_b))
    assert stated == pytest.approx(np.mean(cost_a < cost_b), abs=0.004)


def test_plan_says_which_family_reaches_the_target_more_cheaply(tmp_path) -> None:
    path = tmp_path / "runs.csv"
    _families().to_frame().to_csv(path, index=False)
    result = CliRunner().invoke(app, ["plan", str(path), "--target-loss", "2.5", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    costs = {p["family"]: p["total_flops"] for p in document["plans"]}
    assert len(document["cheaper"]) == 3
    for row in document["cheaper"]:
        first_cheaper = costs[row["first"]] < costs[row["second"]]
        assert (row["probability"] > 0.5) == first_cheaper  # the odds favour the cheaper plan


# --- a database of recipes (issue 26): a ranking, not a pair dump; tasks that fit the runs ----------------------

def _database(families: int, seed: int = 0) -> tuple[ot.RunTable, np.ndarray]:
    """Recipes each tried at two of four small configurations, drawn from one loss law scaled by the recipe's own
    factor exp(shift) (shift uniform in +-0.05) with 0.4% noise, three tasks' errors an exponential of the loss: the
    true order at any target is the order of the shifts."""
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-0.05, 0.05, families)
    configurations = ((4e7, 20.0), (1.2e8, 20.0), (4e8, 20.0), (1.2e8, 100.0))
    tasks = {"t1": (0.75, 8.0, 1.0), "t2": (0.72, 10.0, 1.1), "t3": (0.48, 4.0, 1.2)}
    rows = []
    for f, shift in enumerate(shifts):
        for c in sorted(rng.choice(4, 2, replace=False)):
            n, m = configurations[c]
            loss = (1.8 + 400 * n**-0.3 + 900 * (m * n) ** -0.3) * np.exp(shift)
            row = {"run": f"r{f}-{c}", "family": f"recipe-{f:03d}", "params": n, "tokens": m * n,
                   "loss:val": loss * (1 + 0.004 * rng.standard_normal())}
            for task, (eps, k, gamma) in tasks.items():
                row[f"acc:{task}"] = 1 - (eps - k * np.exp(-gamma * loss)) * (1 + 0.004 * rng.standard_normal())
            rows.append(row)
    table = pd.DataFrame({"task": list(tasks), "chance": [0.25, 0.25, 0.5], "n_examples": [100000] * 3})
    return ot.RunTable.from_frame(pd.DataFrame(rows), tasks=table.set_index("task")), shifts


def test_a_database_is_ranked_right_where_the_true_gaps_exceed_the_noise() -> None:
    """80 recipes through one shared shape: every pair whose true loss gap (on the log scale) exceeds 4x the noise
    of the gap between two runs (0.4% each) is in its true order, the ranking chances sum as probabilities do, and
    the true best recipe is among the three the comparison thinks most likely best."""
    runs, shifts = _database(80)
    comparison = compare_families(runs, Target(6.9e9, 1.38e11))
    assert comparison.shape == "shared" and len(comparison.ranking("loss")) == 80
    position = {name: i for i, name in enumerate(comparison.ranking("loss"))}
    truth = {f"recipe-{f:03d}": s for f, s in enumerate(shifts)}
    margin = 4 * 0.004 * np.sqrt(2)
    clear = [(a, b) for a in truth for b in truth if truth[a] < truth[b] and truth[b] - truth[a] > margin]
    assert len(clear) > 1500
    assert all(position[a] < position[b] for a, b in clear)
    best, within = comparison.chances("loss", 5)
    assert best.sum() == pytest.approx(1.0) and within.sum() == pytest.approx(5.0)
    standing = comparison.standings["loss"]
    likeliest = [standing.families[i] for i in np.argsort(-best)[:3]]
    assert min(truth, key=truth.get) in likeliest


def test_the_dclm_database_reads_as_a_ranking_in_80_columns() -> None:
    """DCLM's 272 recipes at 6.9B with the suite's 22 tasks: at most 150 lines at 80 columns, none wider, the
    leader of each quantity named with its chance of being best, long names given labels and a legend."""
    import os

    path = Path(__file__).resolve().parents[1] / "src/overtrain/data/testbeds/dclm"
    tasks = json.loads((path / "suite.json").read_text())["tasks"]
    result = CliRunner().invoke(app, ["compare", str(path / "runs.csv"), "--task-info", str(path / "tasks.csv"),
                                      "--tasks", ",".join(tasks), "--target", "params=6.9e9,multiplier=20",
                                      "--baseline", "rpj"], env={**os.environ, "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) <= 150 and max(map(len, lines)) <= 80
    assert sum("leader:" in line for line in lines) == 2 and "P(best)" in result.stdout
    assert "(baseline)" in result.stdout and "Families" in result.stdout and "[1]" in result.stdout


def test_without_tasks_the_error_averages_the_tasks_every_family_was_evaluated_on() -> None:
    runs, _ = _database(6)
    frame = runs.to_frame()
    frame.loc[frame["family"] == "recipe-002", "acc:t3"] = np.nan
    comparison = compare_families(ot.RunTable.from_frame(frame, tasks=runs.tasks), Target(6.9e9, 1.38e11))
    assert comparison.tasks.used == ("t1", "t2") and comparison.tasks.dropped == {"t3": ("recipe-002",)}
    assert "t1,t2" in comparison.quantities and len(comparison.ranking("t1,t2")) == 6
    assert "1 dropped (t3), lacked by 1 families, most: recipe-002 (1)" in comparison.tasks.describe()
    frame.loc[frame["family"] == "recipe-003", ["acc:t1", "acc:t2"]] = np.nan
    with pytest.raises(ot.OvertrainError, match="no task was scored for every compared family"):
        compare_families(ot.RunTable.from_frame(frame, tasks=runs.tasks), Target(6.9e9, 1.38e11))


def test_json_holds_the_leading_pairs_and_every_pair_when_asked(tmp_path) -> None:
    runs, _ = _database(12)
    path = tmp_path / "db.csv"
    runs.to_frame().to_csv(path, index=False)
    tasks = tmp_path / "tasks.csv"
    runs.tasks.reset_index().to_csv(tasks, index=False)
    base = ["compare", str(path), "--task-info", str(tasks), "--target", "params=6.9e9,multiplier=20", "--json"]
    leading = json.loads(CliRunner().invoke(app, base).stdout)
    every = json.loads(CliRunner().invoke(app, [*base, "--pairs"]).stdout)
    assert len(every["odds"]) == 2 * 12 * 11 // 2 and every["odds_of"] == "every pair"
    assert len(leading["odds"]) == 2 * 3 and leading["standing"]["top_k"] == 5
    assert [row["family"] for row in leading["standing"]["loss"]] == leading["ranking"]["loss"]
    unknown = CliRunner().invoke(app, [*base, "--baseline", "nope"])
    assert unknown.exit_code == 2 and "no family 'nope'" in unknown.stderr


@pytest.mark.parametrize("sd", [(0.05, 0.06), (0.03, 0.003), (0.002, 0.04), (0.0, 0.02)])
def test_two_families_have_one_chance_of_being_best(sd: tuple[float, float]) -> None:
    """With two families "which is best" and "which beats the other" are one question: one number, to 1e-6 (the
    ranking counted draws and printed 0.74 where the pair table printed 0.75)."""
    standing = Standing("loss", ("web", "web-filtered"), np.array([2.7976, 2.8404]), np.array(sd))
    best, _ = standing.chances(1)
    assert best[0] == pytest.approx(standing.probability("web", "web-filtered"), abs=1e-6)
    assert best.sum() == pytest.approx(1.0, abs=1e-9)


def test_the_sweeps_ranking_and_pair_table_agree() -> None:
    sweep = ot.read_runs(Path(__file__).resolve().parents[1] / "examples" / "sweep.csv")
    comparison = compare_families(sweep, Target(1.4e9, 2.8e10))
    for key, standing in comparison.standings.items():
        best, _ = comparison.chances(key, 1)
        first, second = standing.families
        assert best[0] == pytest.approx(standing.probability(first, second), abs=1e-6), key
