"""Pooled loss fits (one exponent, E, A, B per family), the two-step error law through task losses, and how
`--law auto` weighs the development suite's choice against the runs' own backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import overtrain as ot
from overtrain.cli import app
from overtrain.errors import OvertrainError
from overtrain.fitting.fit import fit_error, fit_loss, fit_loss_pooled
from overtrain.fitting.method import Method
from overtrain.forecasts import Target
from overtrain.laws import SharedExponentLoss, TwoStepError
from overtrain.runs.tasks import empty_task_table
from overtrain.trust.backtest import backtest
from overtrain.trust.choice import SUITE_MARGIN, _choose, select_method
from overtrain.trust.prediction import ForecastRequest, forecast_families

ALPHA = 0.3
FAMILIES = {"a": (1.8, 400.0, 900.0), "b": (2.0, 300.0, 1500.0), "c": (1.9, 500.0, 1100.0)}
SIZES = (2e7, 5e7, 1e8, 2e8, 4e8)
MULTIPLIERS = (5.0, 20.0, 80.0)


def _sweep(noise: float = 0.0, seed: int = 0) -> ot.RunTable:
    """Runs of three families whose losses follow shared-exponent laws with one alpha and their own E, A, B."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, (E, A, B) in FAMILIES.items():
        law = SharedExponentLoss(E, A, B, ALPHA)
        for n in SIZES:
            for m in MULTIPLIERS:
                loss = law.predict(n, m * n) * (1 + noise * rng.standard_normal())
                rows.append({"run": f"{family}-{n:g}-{m:g}", "family": family, "params": n, "tokens": m * n,
                             "loss:val": loss})
    return ot.RunTable.from_frame(pd.DataFrame(rows))


def test_pooled_fit_recovers_shared_exponent_and_each_familys_coefficients() -> None:
    fits = fit_loss_pooled(_sweep(), "val")
    assert set(fits) == set(FAMILIES)
    for family, (E, A, B) in FAMILIES.items():
        law = fits[family].law
        assert law.alpha == pytest.approx(ALPHA, rel=1e-5)
        assert pytest.approx((E, A, B), rel=1e-4) == (law.E, law.A, law.B)
        assert fits[family].pooled == tuple(FAMILIES)
        assert fits[family].runs == tuple(r for r in _sweep().runs if r.startswith(family))


def test_pooled_exponent_minimises_the_summed_objective_by_brute_force() -> None:
    """With noise, the pooled alpha is the one minimising the sum over families of each family's least-squares
    objective at that alpha (found here by a dense grid and exact linear solves)."""
    runs = _sweep(noise=0.01, seed=3)
    fits = fit_loss_pooled(runs, "val")
    alphas = np.linspace(0.2, 0.4, 4001)
    total = np.zeros(len(alphas))
    for family in FAMILIES:
        table = runs.family(family)
        y = table.loss("val").to_numpy()
        for i, alpha in enumerate(alphas):
            basis = np.column_stack([np.ones(len(y)), table.params**-alpha, table.tokens**-alpha])
            coefficients = np.linalg.lstsq(basis, y, rcond=None)[0]
            total[i] += np.sum((y - basis @ coefficients) ** 2)
    assert fits["a"].law.alpha == pytest.approx(alphas[np.argmin(total)], abs=1e-4)
    separate = {f: fit_loss(runs.family(f), "val").law.alpha for f in FAMILIES}
    assert len({round(a, 3) for a in separate.values()}) > 1  # on their own the families disagree


def test_pooled_fit_refuses_a_family_that_cannot_carry_its_own_coefficients() -> None:
    runs = _sweep()
    thin = runs.drop([r for r in runs.runs if r.startswith("c") and not r.endswith("-20")])
    with pytest.raises(OvertrainError, match="family 'c'"):
        fit_loss_pooled(thin, "val")


def test_pooled_backtest_is_exact_on_noise_free_laws_and_auto_can_choose_it() -> None:
    runs = _sweep()
    frame = backtest(runs, Method(loss_pooled=True), loss_split="val", tasks=None)
    assert len(frame) > 0
    assert np.nanmax(np.abs(frame["loss_rel_err"])) < 1e-6
    selection = select_method(runs.family("a"), loss_split="val", tasks=None, pooled_runs=runs)
    assert any("pooled" in key for key in selection.loss_scores)


def test_forecast_with_pooling_predicts_each_familys_law() -> None:
    runs = _sweep()
    results = forecast_families(runs, runs.families, [Target(7e9, 1.4e11)],
                                ForecastRequest(method=Method(loss_pooled=True), level=None))
    for result in results:
        E, A, B = FAMILIES[result.laws.family]
        truth = SharedExponentLoss(E, A, B, ALPHA).predict(7e9, 1.4e11)
        assert result.forecasts[0].forecast.loss == pytest.approx(truth, rel=1e-5)
        assert "pooled over families" in result.method.label


def test_cli_pool_option(tmp_path) -> None:
    path = tmp_path / "runs.csv"
    _sweep().to_frame().to_csv(path)
    result = CliRunner().invoke(app, ["forecast", str(path), "--pool", "--interval", "0", "--json",
                                      "--target", "params=7e9,tokens=1.4e11"])
    assert result.exit_code == 0, result.output
    import json

    document = json.loads(result.output)
    expected = SharedExponentLoss(*FAMILIES["a"], ALPHA).predict(7e9, 1.4e11)
    assert document["predictions"][0]["loss"] == pytest.approx(expected, rel=1e-5)
    assert document["laws"][0]["loss"]["pooled"] == list(FAMILIES)


TASKS = {"t1": (2.5, 80.0, 120.0, 0.25, 0.75, 4.0, 1.2, 0.25),  # E, A, B, alpha, eps, k, gamma, chance
         "t2": (1.5, 50.0, 90.0, 0.35, 0.5, 6.0, 2.0, 0.5)}


def _task_sweep() -> ot.RunTable:
    """One family whose task losses follow shared-exponent laws and whose task errors are exponential in them."""
    rows = []
    for n in SIZES:
        for m in MULTIPLIERS:
            row = {"run": f"r-{n:g}-{m:g}", "params": n, "tokens": m * n, "loss:val": 3.0 + 100 * n**-0.3}
            for task, (E, A, B, alpha, eps, k, gamma, _) in TASKS.items():
                task_loss = E + A * n**-alpha + B * (m * n) ** -alpha
                row[f"taskloss:{task}"] = task_loss
                row[f"acc:{task}"] = 1 - (eps - k * np.exp(-gamma * task_loss))
            rows.append(row)
    tasks = empty_task_table().reindex(list(TASKS))
    tasks["chance"] = [v[-1] for v in TASKS.values()]
    return ot.RunTable.from_frame(pd.DataFrame(rows), tasks=tasks)


def test_two_step_law_recovers_both_steps_and_forecasts_far_runs() -> None:
    runs = _task_sweep()
    fit = fit_error(runs, "val", list(TASKS), law="two-step")
    law = fit.law
    assert isinstance(law, TwoStepError)
    for i, (E, A, B, alpha, eps, k, gamma, _) in enumerate(TASKS.values()):
        assert (law.E[i], law.A[i], law.B[i], law.alpha[i]) == pytest.approx((E, A, B, alpha), rel=1e-4)
        assert (law.eps[i], law.k[i], law.gamma[i]) == pytest.approx((eps, k, gamma), rel=1e-4)
    n, d = 7e9, 1.4e11
    truth = np.mean([np.clip(eps - k * np.exp(-gamma * (E + A * n**-alpha + B * d**-alpha)), 0, 1 - chance)
                     for E, A, B, alpha, eps, k, gamma, chance in TASKS.values()])
    assert fit.predict(n, d) == pytest.approx(truth, rel=1e-4)
    frame = backtest(runs, Method(error_law="two-step"), loss_split="val", tasks=list(TASKS))
    assert np.nanmax(np.abs(frame["error_rel_err"])) < 1e-4


def test_two_step_law_names_the_run_without_a_task_loss() -> None:
    frame = _task_sweep().to_frame()
    frame.loc[frame.index[2], "taskloss:t2"] = np.nan
    runs = ot.RunTable.from_frame(frame, tasks=_task_sweep().tasks)
    with pytest.raises(OvertrainError, match=r"taskloss:t2 on every fit run; run 'r-2e\+07-80'"):
        fit_error(runs, "val", list(TASKS), law="two-step")


def test_the_suites_choice_stands_unless_the_runs_beat_it_clearly() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.02, 0.08, 20)
    noisy = base + rng.normal(0.0, 0.02, 20) - 0.002  # ahead by 0.2 points, within the noise
    clear = base - 0.02  # ahead by 2 points on every forecast
    scores = {"suite": float(base.mean()), "noisy": float(noisy.mean()), "clear": float(clear.mean())}
    chosen, why = _choose({k: scores[k] for k in ("suite", "noisy")}, {"suite": base, "noisy": noisy}, ["suite"])
    difference = base - noisy
    assert difference.mean() < SUITE_MARGIN * difference.std(ddof=1) / np.sqrt(20)
    assert chosen == "suite" and "kept the development suite's choice" in why
    chosen, why = _choose(scores, {"suite": base, "noisy": noisy, "clear": clear}, ["suite"])
    assert chosen == "clear" and "beats the development suite's choice suite by 2.00 points" in why
    assert _choose(scores, {"suite": base, "noisy": noisy, "clear": clear}, [])[0] == "clear"


def test_pooled_fit_part_resamples_every_family_and_centres_on_the_pooled_forecast() -> None:
    from overtrain.trust.bootstrap import resample_predictions, sample_bounds

    exact = fit_loss_pooled(_sweep(), "val")["b"]
    one = np.ones((1, exact.n_runs), dtype=bool)
    target = [(np.full(200, 7e9), np.full(200, 1.4e11))]
    samples = resample_predictions(exact, one, target, 200, seed=0)[0]
    assert np.allclose(samples, exact.predict(7e9, 1.4e11), rtol=1e-6)  # no residuals, no noise: no spread
    noisy = fit_loss_pooled(_sweep(noise=0.01, seed=5), "val")["b"]
    target = [(np.full(400, 7e9), np.full(400, 1.4e11))]
    samples = resample_predictions(noisy, one, target, 400, seed=0)[0]
    low, high = sample_bounds(samples, 0.9)
    assert low < noisy.predict(7e9, 1.4e11) < high
    assert abs(np.median(samples) / noisy.predict(7e9, 1.4e11) - 1) < 0.01
    again = resample_predictions(noisy, one, target, 400, seed=0)[0]
    assert np.array_equal(samples, again)
