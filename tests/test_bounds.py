"""Never past what is possible or already measured: error bounds within [0, chance], below what a smaller fit run
measured, loss bounds above 0 (the law's fitted irreducible loss is no floor); each task's forecast inside its own
range; targets the runs cannot speak for have no interval; a pooled recipe forecast through its own offset."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

import overtrain as ot
from overtrain.decide.shared import recipe_forecasts
from overtrain.fitting.method import DEFAULT_METHOD
from overtrain.forecasts import Target
from overtrain.runs.table import RunTable
from overtrain.runs.testbed import load_suite_testbed
from overtrain.trust.calibration import DEFAULT_INTERVALS, Calibration
from overtrain.trust.intervals import IntervalParts
from overtrain.trust.prediction import ForecastRequest, forecast_family

EXAMPLES = Path(__file__).parents[1] / "examples"
Z = NormalDist().inv_cdf(0.95)


def _families() -> list[tuple[str, RunTable, str | None]]:
    """(label, one family's fit runs, task spec) for every testbed with downstream tasks and a loss."""
    found = []
    paper = load_suite_testbed("gadre2024")
    for family in paper.families:
        found.append((f"gadre2024/{family}", paper.fit_runs(family), "17"))
    # DCLM's fit runs sit at two (N, D) points: no loss law of three coefficients can be fitted to them
    # (`tests/test_generalisation.py::test_a_loss_law_is_not_fitted_to_fewer_points_than_coefficients`)
    sweep = ot.read_runs(EXAMPLES / "sweep.csv")
    for family in sweep.families:
        found.append((f"examples/{family}", sweep.family(family), None))
    return found


def _targets(runs: RunTable) -> list[Target]:
    """Near and far targets: the largest fit size and 10x, 100x it, at 20 and 500 tokens per parameter (at 20 only
    where every run with a loss has M = 20: the law speaks for nothing else)."""
    largest = float(runs.params.max())
    measured = runs.multiplier[np.isfinite(runs.column(f"loss:{runs.default_split()}"))]
    multipliers = (20.0,) if np.allclose(measured, 20.0) else (20.0, 500.0)
    return [Target(largest * f, largest * f * m) for f in (1.0, 10.0, 100.0) for m in multipliers]


def _chance_error(runs: RunTable, tasks: tuple[str, ...]) -> float:
    chance = pd.to_numeric(runs.tasks["chance"].reindex(list(tasks)), errors="coerce").to_numpy(dtype=float)
    return float(np.mean(np.where(np.isfinite(chance), 1.0 - chance, 1.0)))


@pytest.mark.parametrize(("label", "runs", "tasks"), _families(), ids=[f[0] for f in _families()])
def test_no_bound_leaves_what_is_possible_or_already_measured(label: str, runs: RunTable, tasks: str | None) -> None:
    result = forecast_family(runs, _targets(runs), ForecastRequest(tasks=tasks))
    error_fit = result.laws.error
    task_set = error_fit.task_set
    chance_error = _chance_error(runs, task_set.tasks)
    fitted = runs.subset(np.isin(runs.runs, error_fit.runs))
    measured = fitted.error_values(task_set)
    noise = np.nan_to_num(fitted.error_noise(task_set))
    for trusted in result.forecasts:
        f = trusted.forecast
        error, loss = trusted.intervals[task_set.name], trusted.intervals["loss"]
        assert 0.0 <= error.low <= f.errors[task_set.name] <= error.high <= chance_error + 1e-12, (label, f)
        smaller = (fitted.params <= f.params) & (fitted.tokens <= f.tokens)
        if smaller.any():
            # beyond the smallest-error smaller run's measurement by more than its noise and the law's scatter
            allowed = np.min(measured[smaller] + Z * (noise[smaller] + error_fit.rmse))
            assert error.high <= allowed + 1e-12, (label, f.params, f.tokens, error.high, allowed)
        assert 0.0 < loss.low <= f.loss <= loss.high
        for task in trusted.tasks:
            assert 0.0 <= task.low <= task.error <= task.high <= 1.0, (label, task)
            if np.isfinite(task.chance_error):
                assert task.high <= task.chance_error + 1e-12, (label, task)


def test_the_fitted_irreducible_loss_is_no_floor() -> None:
    """Porian's RefinedWeb targets (1.3e19-2.6e19 FLOPs) mostly measured below the E fitted to the cheap runs; a
    bound at that E would shut them out. Each interval reaches below E, where those truths lie."""
    testbed = load_suite_testbed("porian")
    family = "rw_base_cosine"
    targets = testbed.target_runs(family)
    method = dataclasses.replace(DEFAULT_METHOD, loss_fit_set=testbed.fit_loss_set)
    request = ForecastRequest(testbed.loss_split, "none", method,
                              intervals=dataclasses.replace(DEFAULT_INTERVALS, suite=False))
    result = forecast_family(testbed.fit_runs(family),
                             [Target(p, t) for p, t in zip(targets.params, targets.tokens, strict=True)], request)
    floor = result.laws.loss.law.E
    truths = targets.frame[f"loss:{testbed.loss_split}"].to_numpy(dtype=float)
    assert (truths < floor).sum() >= 7  # the data: 7 of the 8 targets measured below the fitted E
    for trusted in result.forecasts:
        assert trusted.intervals["loss"].low < floor


def test_the_readme_plan_upper_bound_no_longer_passes_chance(testbed: RunTable) -> None:
    """The plan example's error interval reached 0.813 with the 17 tasks' chance error at 0.64: now it cannot."""
    runs = testbed.family("rpj")
    paper_fit_sets = dataclasses.replace(DEFAULT_METHOD, loss_fit_set="paper-loss", error_fit_set="paper-error")
    result = forecast_family(runs, [Target(10.99e9, 8.16e10)], ForecastRequest(tasks="17", method=paper_fit_sets))
    interval = result.forecasts[0].intervals["17"]
    assert interval.high <= _chance_error(runs, result.laws.task_set.tasks) < 0.813


def test_a_target_below_every_run_has_no_interval() -> None:
    sweep = ot.read_runs(EXAMPLES / "sweep.csv").family("web")
    small = float(sweep.params.min())
    result = forecast_family(sweep, [Target(small / 4, small / 4 * 20), Target(small * 40, small * 800)])
    below, above = result.forecasts
    assert below.intervals == {} and all(t.low is None for t in below.tasks)
    assert any("no interval" in w for w in below.warnings())
    assert set(above.intervals) == {"loss", "all"}


def test_each_task_is_forecast_with_the_average_laws_fit_runs() -> None:
    """The per-task forecasts average to nearly the average law's forecast on a sweep drawn from per-task
    exponentials (the average of exponentials is close to, not exactly, one exponential), and each task's
    interval holds the task's true error at the examples' target (`tools/make_examples.py` draws them)."""
    sweep = ot.read_runs(EXAMPLES / "sweep.csv").family("web")
    target = Target(1.4e9, 1.4e9 * 20)
    result = forecast_family(sweep, [target])
    trusted = result.forecasts[0]
    tasks = {t.task: t for t in trusted.tasks}
    assert set(tasks) == {"arc_easy", "hellaswag", "piqa"}
    assert np.mean([t.error for t in tasks.values()]) == pytest.approx(trusted.forecast.errors["all"], abs=0.02)
    # the examples' true laws (tools/make_examples.py): loss E + A N^-a + B D^-a, task error eps - k exp(-gamma L)
    E, A, B, alpha = 1.85, 160.0, 280.0, 0.27
    loss = E + A * target.params**-alpha + B * target.tokens**-alpha
    truth = {"arc_easy": 0.80 - 6.0 * np.exp(-0.9 * loss), "hellaswag": 0.78 - 9.0 * np.exp(-1.1 * loss),
             "piqa": 0.52 - 3.5 * np.exp(-1.2 * loss)}
    for name, task in tasks.items():
        assert task.low <= truth[name] <= task.high, (name, task, truth[name])
    document = trusted.to_dict()
    assert [t["task"] for t in document["tasks"]] == list(tasks)


def test_a_recipe_is_forecast_through_its_own_offset() -> None:
    """Two recipes drawn from one loss law, the second 3% higher on every run: pooled, each one's forecast through
    its offset recovers its own truth, where the pooled law's sits between them."""
    rng = np.random.default_rng(0)
    rows = []
    for recipe, factor in (("a", 1.0), ("b", 1.03)):
        for n in (5e7, 1e8, 2e8, 4e8):
            for m in (10, 20, 40, 80):
                loss = (1.8 + 400 * n**-0.3 + 900 * (m * n) ** -0.3) * factor * (1 + 0.001 * rng.standard_normal())
                rows.append({"run": f"{recipe}-{n:g}-{m}", "family": "pool", "recipe": recipe, "params": n,
                             "tokens": m * n, "loss:val": loss})
    runs = RunTable.from_frame(pd.DataFrame(rows))
    target = Target(4e9, 8e10)
    truth = 1.8 + 400 * target.params**-0.3 + 900 * target.tokens**-0.3
    result = forecast_family(runs, [target])
    recipes = runs.column("recipe")
    for recipe, factor in (("a", 1.0), ("b", 1.03)):
        [moved] = recipe_forecasts(result, runs.subset(recipes == recipe), 0.9)
        assert moved.forecast.loss == pytest.approx(truth * factor, rel=0.01)
        assert moved.intervals["loss"].low <= truth * factor <= moved.intervals["loss"].high
    assert truth < result.forecasts[0].forecast.loss < truth * 1.03


def test_a_ceiling_caps_the_interval_of_a_moved_forecast() -> None:
    part = IntervalParts("error", 0.3, 0.25, 0.36, 0.0, 0.0, 10.0)
    moved = dataclasses.replace(part.moved_to(0.2), ceiling=0.21)
    interval = moved.interval(Calibration.of(0.05, 0.3, 0.9, "test"), 0.9)
    assert interval.high == pytest.approx(0.21)
    assert interval.low < 0.2
    free = part.moved_to(0.2).interval(Calibration.of(0.05, 0.3, 0.9, "test"), 0.9)
    assert free.high > 0.21 and free.low == pytest.approx(interval.low)


def _sweep(noise: float, seed: int = 0) -> RunTable:
    """A sweep drawn from known laws: loss 1.8 + 400 N^-0.3 + 900 D^-0.3 and three tasks' errors
    eps - k exp(-gamma L), each run's loss and accuracies perturbed by relative noise `noise`."""
    rng = np.random.default_rng(seed)
    tasks = {"t1": (0.75, 8.0, 1.0, 0.25), "t2": (0.72, 10.0, 1.1, 0.25), "t3": (0.48, 4.0, 1.2, 0.5)}
    rows = []
    for n in (2e7, 4e7, 8e7, 1.6e8, 3.2e8):
        for m in (10, 20, 40, 80):
            loss = 1.8 + 400 * n**-0.3 + 900 * (m * n) ** -0.3
            row = {"run": f"r-{n:g}-{m}", "family": "clean", "params": n, "tokens": m * n,
                   "loss:val": loss * (1 + noise * rng.standard_normal())}
            for task, (eps, k, gamma, _) in tasks.items():
                error = eps - k * np.exp(-gamma * loss)
                row[f"acc:{task}"] = 1 - error * (1 + noise * rng.standard_normal())
            rows.append(row)
    task_table = pd.DataFrame({"task": list(tasks), "chance": [v[3] for v in tasks.values()],
                               "n_examples": [100000] * 3}).set_index("task")
    return RunTable.from_frame(pd.DataFrame(rows), tasks=task_table)


def test_a_clean_sweep_gets_a_sharper_interval_than_a_noisy_one() -> None:
    """The runs' own backtests weigh beside the suite's evidence (`DEFAULT_INTERVALS`): a clean sweep's intervals
    come out sharper than the suite's evidence alone would make them (its error interval half as wide), and a noisy
    sweep's wider than the clean one's; they hold the truth at 100x the sweep's compute. Its own backtests alone make
    the error interval a tenth of the noisy sweep's."""
    target = Target(1e10, 2e11)  # 30x the largest size at M = 20: 100x the sweep's compute
    truth = 1.8 + 400 * target.params**-0.3 + 900 * target.tokens**-0.3
    clean_runs = _sweep(0.001)
    clean = forecast_family(clean_runs, [target]).forecasts[0]
    suite_only = forecast_family(clean_runs, [target], ForecastRequest(
        intervals=dataclasses.replace(DEFAULT_INTERVALS, own=False))).forecasts[0]
    noisy = forecast_family(_sweep(0.03), [target]).forecasts[0]
    assert clean.forecast.flops_ratio > 95
    for trusted in (clean, noisy):
        assert trusted.intervals["loss"].low <= truth <= trusted.intervals["loss"].high

    def width(trusted: object, key: str) -> float:
        return trusted.intervals[key].high - trusted.intervals[key].low  # type: ignore[attr-defined]

    for key in ("loss", "all"):
        assert width(clean, key) < width(suite_only, key), key
        assert width(noisy, key) > width(clean, key), key
    assert width(clean, "all") < 0.6 * width(suite_only, "all")
    true_error = np.mean([eps - k * np.exp(-gamma * truth) for eps, k, gamma in
                          ((0.75, 8.0, 1.0), (0.72, 10.0, 1.1), (0.48, 4.0, 1.2))])
    assert clean.intervals["all"].low <= true_error <= clean.intervals["all"].high
    own_only = ForecastRequest(intervals=dataclasses.replace(DEFAULT_INTERVALS, suite=False))
    own_clean = forecast_family(clean_runs, [target], own_only).forecasts[0]
    own_noisy = forecast_family(_sweep(0.03), [target], own_only).forecasts[0]
    assert own_clean.intervals["all"].low <= true_error <= own_clean.intervals["all"].high
    assert width(own_clean, "all") < 0.1 * width(own_noisy, "all")


def test_a_one_size_sweep_refuses_another_size(tmp_path: Path) -> None:
    """Every run at one N: the runs cannot say how the loss moves with size, so a forecast at another size is
    refused with the reason (exit 2), while one at their size is made."""
    from typer.testing import CliRunner

    from overtrain.cli import app

    rows = [{"run": f"r{m}", "family": "one", "params": 1.5e8, "tokens": 1.5e8 * m,
             "loss:val": 2.0 + 900 * (1.5e8 * m) ** -0.3} for m in (5, 10, 20, 40, 80)]
    path = tmp_path / "one_size.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["forecast", str(path), "--target", "params=6.9B,multiplier=20"])
    assert refused.exit_code == 2
    assert "every fit run has N = 1.5e+08" in refused.stderr and "cannot forecast N = 6.9e+09" in refused.stderr
    made = runner.invoke(app, ["forecast", str(path), "--target", "params=1.5e8,tokens=3e10"])
    assert made.exit_code == 0, made.output


def test_two_step_and_direct_laws_hold_out_what_one_token_count_cannot_identify() -> None:
    """Every run at one D: step 1 of the two-step law (each task's loss in N and D) and the direct law hold B out,
    as the loss law does, instead of refusing the sweep; the two-step recovers each task's loss at that D."""
    rows = []
    tokens = 2e10
    for n in (2.5e7, 5e7, 1e8, 2e8, 4e8):
        loss = 2.0 + 400 * n**-0.3 + 900 * tokens**-0.3
        row = {"run": f"r{n:g}", "family": "one-d", "params": n, "tokens": tokens, "loss:val": loss}
        for task, (shift, eps, k, gamma) in {"a": (0.3, 0.75, 8.0, 1.0), "b": (0.5, 0.7, 9.0, 1.1)}.items():
            task_loss = shift + 1.5 * (400 * n**-0.3 + 900 * tokens**-0.3)
            row[f"taskloss:{task}"] = task_loss
            row[f"acc:{task}"] = 1 - (eps - k * np.exp(-gamma * task_loss))
        rows.append(row)
    runs = RunTable.from_frame(pd.DataFrame(rows))
    two_step = ot.fit_error(runs, "val", "all", law="two-step")
    assert two_step.law.held_terms == ("B",) and "every fit run has D = 2e+10" in two_step.held_out
    n = 8e8
    expected = 0.3 + 1.5 * (400 * n**-0.3 + 900 * tokens**-0.3)
    assert two_step.law.task_losses(n, tokens)[0] == pytest.approx(expected, rel=1e-3)
    direct = ot.fit_error(runs, "val", "all", law="direct")
    assert direct.law.unidentified == ("B",)


def test_forecast_per_task_prints_each_task_within_80_columns() -> None:
    import os
    import subprocess
    import sys

    overtrain = Path(sys.executable).with_name("overtrain")
    result = subprocess.run([str(overtrain), "forecast", str(EXAMPLES / "sweep.csv"), "--target",
                             "params=1.4B,multiplier=20", "--per-task"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Each task: ") == 2  # one table per family's target
    for task in ("arc_easy", "hellaswag", "piqa"):
        assert result.stdout.count(f"│ {task} ") == 2
    assert not [line for line in result.stdout.splitlines() if len(line.rstrip()) > 80 or "…" in line]


def test_an_average_at_chance_is_capped_at_chance_error(tmp_path: Path) -> None:
    """Runs that score at chance on two 4-choice tasks of 100 examples: what they measured plus its binomial noise
    (z x 0.043) lies above the chance error 0.75, so only the cap at chance keeps the interval's upper bound at
    0.75 (`overtrain.trust.bounds.measured_ceiling`)."""
    rng = np.random.default_rng(3)
    sizes = [2e7, 6e7, 1.5e8, 4e8, 1e9]
    rows = [{"run": f"r{n:g}-{m:g}", "family": "hard", "params": n, "tokens": m * n,
             "loss:val": 1.8 + 400 * n**-0.3 + 900 * (m * n) ** -0.3,
             "acc:a": 0.25 + rng.normal(0, 0.01), "acc:b": 0.25 + rng.normal(0, 0.01)}
            for n in sizes for m in (20.0, 40.0)]
    runs_path, tasks_path = tmp_path / "runs.csv", tmp_path / "tasks.csv"
    pd.DataFrame(rows).to_csv(runs_path, index=False)
    pd.DataFrame({"task": ["a", "b"], "chance": [0.25, 0.25], "n_examples": [100, 100]}).to_csv(tasks_path,
                                                                                                index=False)
    runs = ot.read_runs(runs_path, task_info=tasks_path)
    measured = runs.error_values(runs.task_set("all"))
    assert measured.min() + Z * np.sqrt(0.75 * 0.25 / 100 / 2) > 0.75  # the measurements alone would not cap it
    result = forecast_family(runs, [Target(1e10, 2e11)], ForecastRequest(tasks="all"))
    interval = result.forecasts[0].intervals["all"]
    assert interval.high == pytest.approx(0.75, abs=1e-12)
