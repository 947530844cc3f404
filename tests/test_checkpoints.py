"""Intermediate checkpoints: rows that are not runs, kept out of the loss law, giving the error law's loss-to-error
step more points (synthetic ladders with known laws)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import overtrain as ot
from overtrain.cli import app
from overtrain.runs.readers.runs_table import read_runs_table, write_runs_table
from overtrain.runs.table import RunTable

TASKS = {"t1": (0.75, 8.0, 1.0, 0.25), "t2": (0.72, 10.0, 1.1, 0.25), "t3": (0.48, 4.0, 1.2, 0.5)}
SIZES = (2e7, 4e7, 8e7, 1.6e8, 3.2e8)


def true_loss(params: float, tokens: float) -> float:
    return 1.8 + 400 * params**-0.3 + 900 * tokens**-0.3


def true_error(loss: float) -> float:
    return float(np.mean([eps - k * np.exp(-gamma * loss) for eps, k, gamma, _ in TASKS.values()]))


def ladder_frame(seed: int, examples: int = 2000, task_loss: bool = False) -> pd.DataFrame:
    """Five sizes at M = 20, each evaluated at 10 steps (the last is the run). A checkpoint's loss sits above the
    law's at its tokens (its learning rate has not decayed); each task's error is eps - k exp(-gamma L) of the
    loss the checkpoint measured (of its task loss 0.2 + L with `task_loss`), drawn binomially over `examples`."""
    rng = np.random.default_rng(seed)
    rows = []
    for params in SIZES:
        for step in range(1, 11):
            tokens = 20 * params * step / 10
            loss = true_loss(params, tokens) + 0.08 * (1 - step / 10)
            row = {"run": f"r{params:g}", "step": 100 * step, "family": "ladder", "params": params,
                   "tokens": tokens, "loss:val": loss * (1 + 0.002 * rng.standard_normal())}
            for task, (eps, k, gamma, _) in TASKS.items():
                own = 0.2 + loss if task_loss else loss
                row[f"acc:{task}"] = 1 - rng.binomial(examples, eps - k * np.exp(-gamma * own)) / examples
                if task_loss:
                    row[f"taskloss:{task}"] = own * (1 + 0.002 * rng.standard_normal())
            rows.append(row)
    return pd.DataFrame(rows)


def task_table(examples: int = 2000) -> pd.DataFrame:
    return pd.DataFrame({"task": list(TASKS), "chance": [v[3] for v in TASKS.values()],
                         "n_examples": [examples] * len(TASKS)}).set_index("task")


def ladder(seed: int, **options: object) -> RunTable:
    return RunTable.from_frame(ladder_frame(seed, **options), tasks=task_table())  # type: ignore[arg-type]


def test_a_runs_earlier_steps_are_its_checkpoints_and_never_enter_the_loss_law() -> None:
    frame = ladder_frame(0)
    runs = RunTable.from_frame(frame, tasks=task_table())
    assert len(runs) == 5 and len(runs.checkpoints) == 45
    assert set(runs.frame["step"]) == {1000}  # the last step is the run
    assert runs.checkpoints.runs[0] == "r2e+07@step100"
    assert set(runs.checkpoints.column("checkpoint_of")) == set(runs.runs)
    finals = RunTable.from_frame(frame[frame["step"] == 1000], tasks=task_table())
    with_checkpoints, without = ot.fit_loss(runs, "val"), ot.fit_loss(finals, "val")
    assert with_checkpoints.law.coefficients() == without.law.coefficients()
    assert with_checkpoints.n_points == 5
    one_family = runs.where(params=4e7)
    assert one_family.checkpoints.runs == [f"r4e+07@step{100 * s}" for s in range(1, 10)]


def test_checkpoints_make_the_error_law_several_times_closer() -> None:
    """Over 30 ladders, the exponential law fitted to 5 runs misses the true error at 6.9B (from the true loss)
    by 47% (median; mean 52%, worst 223%); with their 45 checkpoints, by 14% (mean 17%). Medians: one fit that
    runs off (a 2e32 miss once) would set a mean alone. The law must use them and say so."""
    loss = true_loss(6.9e9, 20 * 6.9e9)
    truth = true_error(loss)
    misses = {True: [], False: []}
    for seed in range(30):
        runs = ladder(seed)
        for use in (True, False):
            fit = ot.fit_error(runs, "val", "all", checkpoints=use)
            misses[use].append(abs(float(fit.predict(loss)) / truth - 1))
    assert np.median(misses[True]) < 0.4 * np.median(misses[False])
    fit = ot.fit_error(ladder(0), "val", "all")
    assert fit.n_runs == 5 and fit.n_points == 50 and len(fit.checkpoints) == 45
    assert "5 runs and 45 checkpoints of 5 of them" in fit.summary()
    assert list(np.bincount(fit.units)) == [10] * 5
    again = ot.Fit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert again.checkpoints == fit.checkpoints and again.predict(2.5) == fit.predict(2.5)


def test_the_two_step_law_learns_its_second_step_from_checkpoints() -> None:
    """Step 1 (task loss from N and D) is fitted to the runs alone, identical with or without checkpoints; step 2
    (task error from task loss) learns from the checkpoints too, and comes closer to the true law."""
    task_loss = 0.2 + true_loss(6.9e9, 20 * 6.9e9)
    truth = [eps - k * np.exp(-gamma * task_loss) for eps, k, gamma, _ in TASKS.values()]
    misses = {True: [], False: []}
    for seed in range(10):
        runs = ladder(seed, task_loss=True)
        fits = {use: ot.fit_error(runs, "val", "all", law="two-step", checkpoints=use) for use in (True, False)}
        assert fits[True].law.alpha == fits[False].law.alpha and fits[True].law.E == fits[False].law.E
        for use, fit in fits.items():
            k, gamma, eps = np.array(fit.law.k), np.array(fit.law.gamma), np.array(fit.law.eps)
            misses[use].append(np.mean(np.abs((eps - k * np.exp(-gamma * task_loss)) / truth - 1)))
    assert len(fits[True].checkpoints) == 45
    assert np.median(misses[True]) < 0.5 * np.median(misses[False])


def test_checkpoints_survive_a_round_trip_through_a_file(tmp_path: Path) -> None:
    runs = ladder(1)
    path = tmp_path / "ladder.csv"
    write_runs_table(runs, path)
    back = read_runs_table(path)
    assert back.runs == runs.runs and back.checkpoints.runs == runs.checkpoints.runs
    assert np.array_equal(back.checkpoints.loss_values("val"), runs.checkpoints.loss_values("val"))


def test_forecast_fits_the_error_law_to_checkpoints_and_says_so(tmp_path: Path) -> None:
    path, tasks = tmp_path / "ladder.csv", tmp_path / "tasks.csv"
    ladder_frame(0).to_csv(path, index=False)
    task_table().reset_index().to_csv(tasks, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["forecast", str(path), "--task-info", str(tasks), "--target",
                                 "params=6.9B,multiplier=20", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    laws = document["laws"][0]
    assert laws["error"]["checkpoints"] == 45 and laws["loss"]["checkpoints"] == 0
    interval = document["predictions"][0]["intervals"]["error"]
    # inside, and below the task set's chance error (the interval says more than "anywhere up to chance")
    chance_error = float(np.mean([1 - v[3] for v in TASKS.values()]))
    assert 0 < interval["low"] < true_error(true_loss(6.9e9, 1.38e11)) < interval["high"] < chance_error - 0.05
    shown = runner.invoke(app, ["runs", str(path), "--task-info", str(tasks)], env={"COLUMNS": "80"})
    assert "45 intermediate checkpoints of 5 runs" in " ".join(shown.stdout.split())


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.assign(checkpoint_of=["nowhere"] + [""] * (len(f) - 1)).assign(run=[f"c{i}" for i in range(len(f))]),
     "checkpoint 'c0': checkpoint_of 'nowhere' names no run of the table"),
    (lambda f: f.assign(tokens=np.where(f["step"] == 100, 1e15, f["tokens"])),
     "tokens 1e+15 are more than its run"),
    (lambda f: f.assign(params=np.where(f["step"] == 100, 9e9, f["params"])),
     "params 9e+09 differs from its run"),
    (lambda f: f.assign(step=np.where(f["step"] == 100, 200, f["step"])),
     "run 'r2e+07' has two rows at step 200"),
    (lambda f: f.assign(step=np.where(f["step"] == 100, "early", f["step"].astype(str))),
     "run 'r2e+07' appears more than once but its step 'early' is not a number"),
])
def test_a_bad_checkpoint_is_one_line_naming_the_file_and_the_row(tmp_path: Path, change, message: str) -> None:
    path = tmp_path / "bad.csv"
    change(ladder_frame(0)).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["runs", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
