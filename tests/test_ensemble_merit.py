"""Laws join the error ensemble on merit: a backtest fit whose exponent sits at a search bound is scored by its
forecast (the bound says the exponent is not pinned down, not that the forecast missed), so the law that backtests best
joins, on sweeps where each law is the truth."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import overtrain as ot
from overtrain.fitting.method import DEFAULT_METHOD, Method
from overtrain.names import ENSEMBLE
from overtrain.runs.tasks import empty_task_table
from overtrain.trust.backtest import backtest
from overtrain.trust.members import member_scores, plausible_members
from overtrain.trust.prediction import ForecastRequest, forecast_family
from test_bounds import _sweep

#: Two tasks whose losses follow shared-exponent laws in N and D and whose errors are exponential in their own loss
#: (E, A, B, alpha, eps, k, gamma): the two-step law is the truth; the validation loss says less (it follows N only).
TASKS = {"t1": (2.5, 80.0, 120.0, 0.25, 0.75, 4.0, 1.2), "t2": (1.5, 50.0, 90.0, 0.35, 0.5, 6.0, 2.0)}
TARGET = ot.Target(7e9, 1.4e11)
ENSEMBLE_METHOD = dataclasses.replace(DEFAULT_METHOD, error_law=ENSEMBLE)


def _task_loss_sweep(seed: int) -> ot.RunTable:
    """15 runs (5 sizes x M = 5, 20, 80) with 0.3% loss noise and 0.15-point accuracy noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (2e7, 5e7, 1e8, 2e8, 4e8):
        for m in (5.0, 20.0, 80.0):
            row = {"run": f"r-{n:g}-{m:g}", "params": n, "tokens": m * n,
                   "loss:val": (3.0 + 100 * n**-0.3) * (1 + 0.003 * rng.standard_normal())}
            for task, (E, A, B, alpha, eps, k, gamma) in TASKS.items():
                task_loss = (E + A * n**-alpha + B * (m * n) ** -alpha) * (1 + 0.003 * rng.standard_normal())
                row[f"taskloss:{task}"] = task_loss
                row[f"acc:{task}"] = 1 - (eps - k * np.exp(-gamma * task_loss)) + 0.0015 * rng.standard_normal()
            rows.append(row)
    table = empty_task_table().reindex(list(TASKS))
    table["chance"] = [0.25, 0.5]
    return ot.RunTable.from_frame(pd.DataFrame(rows), tasks=table)


def _true_error(params: float, tokens: float) -> float:
    return float(np.mean([eps - k * np.exp(-gamma * (E + A * params**-a + B * tokens**-a))
                          for E, A, B, a, eps, k, gamma in TASKS.values()]))


@pytest.mark.parametrize("seed", range(4))
def test_the_two_step_law_joins_where_it_backtests_best_and_the_ensemble_lands_near_the_truth(seed: int) -> None:
    runs = _task_loss_sweep(seed)
    frame = backtest(runs, Method(error_law="two-step"), loss_split="val", tasks="all")
    result = forecast_family(runs, [TARGET], ForecastRequest("val", "all", ENSEMBLE_METHOD))
    trusted = result.forecasts[0]
    members = trusted.members["all"]
    truth = _true_error(TARGET.params, TARGET.tokens)
    assert trusted.forecast.errors["all"] == pytest.approx(truth, rel=0.03)
    if seed == 3:  # 12 of its 27 backtest fits sit at a bound; scored as misses, it was left out for `direct`
        assert int(frame["error_at_bound"].sum()) == 12
        assert "two-step" in members and float(np.nanmean(np.abs(frame["error_rel_err"]))) < 0.01


def test_a_law_whose_backtest_fits_sit_at_a_bound_is_scored_by_its_forecasts() -> None:
    """The plausibility scores: a forecast at a bound counts by its miss; only a failed fit counts 100%."""
    truth = np.array([0.4, 0.5, 0.6])
    frame = pd.DataFrame({"error_true": truth, "error_pred:a": truth * 1.01, "error_pred:b": truth * 1.012,
                          "error_at_bound:b": [True, True, True], "error_pred:c": [np.nan, 0.5, 0.6]})
    scores = member_scores(frame, "error")
    assert scores["b"] == pytest.approx(0.012) and scores["c"] == pytest.approx(1 / 3)
    assert plausible_members(frame, "error") == ["a", "b"]


def test_the_exponential_joins_where_it_is_the_truth() -> None:
    """A sweep whose task errors are exponential in the validation loss (no task losses): the exponential is
    plausible and the ensemble's forecast lands within 3% of the truth at 100x the sweep's compute."""
    target = ot.Target(1e10, 2e11)
    loss = 1.8 + 400 * target.params**-0.3 + 900 * target.tokens**-0.3
    truth = np.mean([eps - k * np.exp(-gamma * loss) for eps, k, gamma in ((0.75, 8.0, 1.0), (0.72, 10.0, 1.1),
                                                                            (0.48, 4.0, 1.2))])
    trusted = forecast_family(_sweep(0.001), [target], ForecastRequest(method=ENSEMBLE_METHOD)).forecasts[0]
    assert "exponential" in trusted.members["all"]
    assert trusted.forecast.errors["all"] == pytest.approx(truth, rel=0.03)


def test_forecast_on_runs_with_task_losses_from_the_command_line(tmp_path) -> None:
    """The default and the ensemble through `overtrain forecast` on a runs table with `taskloss:` columns: both land
    within 3% of the truth, and the ensemble names the laws it averaged."""
    from typer.testing import CliRunner

    from overtrain.cli.app import app

    runs = _task_loss_sweep(3)
    path, tasks = tmp_path / "runs.csv", tmp_path / "tasks.csv"
    runs.frame.reset_index().to_csv(path, index=False)
    pd.DataFrame({"task": list(TASKS), "chance": [0.25, 0.5]}).to_csv(tasks, index=False)
    truth = _true_error(TARGET.params, TARGET.tokens)
    target = ["--target", "params=7e9,tokens=1.4e11", "--task-info", str(tasks)]
    for extra in ([], ["--error-law", "ensemble"]):
        result = CliRunner().invoke(app, ["forecast", str(path), *target, *extra, "--json"])
        assert result.exit_code == 0, result.output
        prediction = json.loads(result.stdout)["predictions"][0]
        assert prediction["errors"]["all"] == pytest.approx(truth, rel=0.03), extra
    shown = CliRunner().invoke(app, ["forecast", str(path), *target, "--error-law", "ensemble"],
                               env={"COLUMNS": "100"})
    assert "laws the backtest finds plausible (two-step)" in " ".join(shown.output.split())


#: exp(-g L) with g this small is 1 - g L to a part in 1e3 over the sweep: error linear in the loss, a law whose
#: exponent the fit finds at the lower edge of its search range (1e-3).
FLAT = 5e-4
LINEAR_NOISE = 5e-4  # relative on every loss, absolute on every accuracy


def _linear(c: float, s: float, chance: float) -> tuple[float, float, float, float]:
    """(eps, k, gamma, chance) of eps - k exp(-gamma L) that is c + s L to within 1e-3 over the sweep."""
    return (c + s / FLAT, s / FLAT, FLAT, chance)


#: Two-step truth where one task bends and the other is linear in its loss: every two-step fit has an exponent at a
#: bound (E, A, B, alpha, eps, k, gamma, chance); the runs' own loss follows a law of its own.
BENT_AND_LINEAR = {"t1": (2.0, 80.0, 120.0, 0.25, 0.742, 57.0, 2.0, 0.25),
                   "t2": (1.5, 50.0, 90.0, 0.35, *_linear(-0.8, 0.7, 0.5))}
#: Exponential truth, linear in the loss (its exponent at the lower edge of the search range): (eps, k, gamma, chance)
LINEAR_EXPONENTIAL = {"t1": _linear(0.16, 0.07, 0.25), "t2": _linear(0.1, 0.075, 0.25), "t3": _linear(0.05, 0.055, 0.5)}


def _val_loss(n: float, d: float) -> float:
    return 1.8 + 400 * n**-0.3 + 900 * d**-0.3


def _sweep_of(seed: int, laws: dict, task_losses: bool) -> ot.RunTable:
    """15 runs (5 sizes x M = 5, 20, 80) drawn from `laws`: two-step laws of task losses, or exponentials in the
    validation loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (2e7, 5e7, 1e8, 2e8, 4e8):
        for m in (5.0, 20.0, 80.0):
            loss = _val_loss(n, m * n)
            row = {"run": f"r-{n:g}-{m:g}", "params": n, "tokens": m * n,
                   "loss:val": loss * (1 + LINEAR_NOISE * rng.standard_normal())}
            for task, law in laws.items():
                if task_losses:
                    E, A, B, alpha, eps, k, gamma, _ = law
                    own = E + A * n**-alpha + B * (m * n) ** -alpha
                    row[f"taskloss:{task}"] = own * (1 + LINEAR_NOISE * rng.standard_normal())
                else:
                    eps, k, gamma, _ = law
                    own = loss
                row[f"acc:{task}"] = 1 - (eps - k * np.exp(-gamma * own)) + LINEAR_NOISE * rng.standard_normal()
            rows.append(row)
    table = empty_task_table().reindex(list(laws))
    table["chance"] = [law[-1] for law in laws.values()]
    return ot.RunTable.from_frame(pd.DataFrame(rows), tasks=table)


def test_a_law_whose_fits_all_sit_at_a_bound_joins_when_it_is_the_truth() -> None:
    """Before laws joined on merit, the two-step sweep had no plausible law and its forecast was the exponential's,
    16% high on every seed; the linear exponential sweep averaged `direct` alone. Both truths now join, and the
    ensemble lands within 3% of the truth."""
    n, d = TARGET.params, TARGET.tokens
    two_step = float(np.mean([min(eps - k * np.exp(-gamma * (E + A * n**-a + B * d**-a)), 1 - chance)
                              for E, A, B, a, eps, k, gamma, chance in BENT_AND_LINEAR.values()]))
    linear = float(np.mean([eps - k * np.exp(-gamma * _val_loss(n, d)) for eps, k, gamma, _ in
                            LINEAR_EXPONENTIAL.values()]))
    for seed in range(4):
        for laws, task_losses, law, truth in ((BENT_AND_LINEAR, True, "two-step", two_step),
                                              (LINEAR_EXPONENTIAL, False, "exponential", linear)):
            runs = _sweep_of(seed, laws, task_losses)
            trusted = forecast_family(runs, [TARGET], ForecastRequest("val", "all", ENSEMBLE_METHOD)).forecasts[0]
            assert law in trusted.members["all"], (seed, law, trusted.members)
            assert trusted.forecast.errors["all"] == pytest.approx(truth, rel=0.03), (seed, law)
