"""The laws beyond the paper: each recovers known coefficients and reaches a brute-force optimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overtrain import OvertrainError, RunTable, fit_error, fit_loss, point_forecast
from overtrain.fitting.engine import fit_profile, solve_linear
from overtrain.laws import ChinchillaLoss, ExponentialErrorLogM, SigmoidError, TaskAveragedExponential

PARAMS = np.array([1.1e7, 7.9e7, 1.5e8, 4.1e8, 1.1e7, 7.9e7, 1.5e8, 4.1e8, 2.0e7])
MULTIPLIERS = np.array([20, 20, 20, 20, 320, 80, 5, 40, 160], dtype=float)


def test_chinchilla_recovers_separate_exponents() -> None:
    truth = ChinchillaLoss(E=1.7, A=400.0, B=1100.0, alpha=0.34, beta=0.28)
    tokens = PARAMS * MULTIPLIERS
    frame = pd.DataFrame({"run": [f"r{i}" for i in range(len(PARAMS))], "params": PARAMS, "tokens": tokens,
                          "loss:val": truth.predict(PARAMS, tokens)})
    fit = fit_loss(RunTable.from_frame(frame), "val", law="chinchilla")
    assert fit.law.coefficients() == pytest.approx(truth.coefficients(), rel=1e-5)


def test_chinchilla_fit_reaches_the_dense_two_dimensional_optimum(testbed) -> None:
    runs = testbed.family("rpj").select("paper-loss")
    y = runs.loss("c4_val").to_numpy()
    fit = fit_loss(runs, "c4_val", law="chinchilla")
    axis = np.geomspace(0.1, 0.6, 251)
    theta = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    _, scan = solve_linear(ChinchillaLoss.basis((runs.params, runs.tokens), theta), y, np.ones_like(y))
    shared = fit_loss(runs, "c4_val")
    assert fit.sse <= scan.min() * (1 + 1e-9)
    assert fit.sse <= shared.sse * (1 + 1e-9)  # the shared exponent is a special case


def test_sigmoid_recovers_a_chance_bounded_curve_and_reaches_the_dense_optimum() -> None:
    loss = np.linspace(2.4, 6.0, 12)
    truth = SigmoidError(k=0.5, gamma=1.8, L0=3.2, chance_error=0.75)
    solution = fit_profile(SigmoidError, (loss,), truth.predict(loss) - 0.75)
    fitted = SigmoidError.from_solution(solution.theta, solution.linear)
    assert (fitted.k, fitted.gamma, fitted.L0) == pytest.approx((0.5, 1.8, 3.2), rel=1e-5)
    noisy = truth.predict(loss) + 0.01 * np.random.default_rng(0).standard_normal(len(loss)) - 0.75
    solution = fit_profile(SigmoidError, (loss,), noisy)
    axes = np.geomspace(0.3, 10, 301), np.geomspace(1.0, 8.0, 301)
    theta = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    _, scan = solve_linear(SigmoidError.basis((loss,), theta), noisy, np.ones_like(noisy), intercept=False)
    assert solution.sse <= scan.min() * (1 + 1e-9)


def test_sigmoid_error_is_bounded_by_chance(testbed) -> None:
    runs = testbed.family("rpj")
    fit = fit_error(runs, "c4_val", "17", fit_set="paper-error", law="sigmoid")
    expected_chance = np.mean([1 - testbed.tasks.loc[t, "chance"] for t in testbed.task_set("17").tasks])
    assert fit.law.chance_error == pytest.approx(expected_chance)
    assert fit.predict(50.0) == pytest.approx(expected_chance, abs=1e-6)
    assert np.all(fit.predict(np.linspace(1, 10, 50)) <= expected_chance + 1e-12)


def test_log_multiplier_error_law_recovers_its_coefficients() -> None:
    loss = np.array([4.6, 3.9, 3.5, 3.1, 4.0, 3.6, 3.7, 3.3])
    multiplier = np.array([20, 20, 20, 20, 320, 80, 5, 640], dtype=float)
    truth = ExponentialErrorLogM(eps=0.86, k=2.2, delta=-0.004, gamma=0.71)
    solution = fit_profile(ExponentialErrorLogM, (loss, multiplier), truth.predict(loss, multiplier))
    fitted = ExponentialErrorLogM.from_solution(solution.theta, solution.linear)
    assert fitted.coefficients() == pytest.approx(truth.coefficients(), rel=1e-6)


def test_per_task_law_averages_per_task_fits(testbed) -> None:
    runs = testbed.family("c4_original")
    fit = fit_error(runs, "c4_val", "arc_easy,piqa,hellaswag", fit_set="paper-error", law="per-task")
    assert isinstance(fit.law, TaskAveragedExponential) and fit.law.tasks == ("arc_easy", "piqa", "hellaswag")
    singles = [fit_error(runs, "c4_val", [t], fit_set="paper-error") for t in fit.law.tasks]
    assert fit.predict(2.4) == pytest.approx(np.mean([s.predict(2.4) for s in singles]), rel=1e-9)


def test_direct_error_law_forecasts_from_size(testbed) -> None:
    runs = testbed.family("rpj")
    loss = fit_loss(runs, "c4_val", fit_set="paper-loss")
    direct = fit_error(runs, "c4_val", "17", fit_set="paper-error", law="direct")
    f = point_forecast(loss, direct, params=6.9e9, multiplier=20)
    assert f.errors["17"] == pytest.approx(direct.law.predict(6.9e9, 1.38e11))


def test_huber_on_log_residuals_matches_least_squares_on_exact_data_and_resists_an_outlier() -> None:
    truth = ChinchillaLoss(E=1.7, A=400.0, B=1100.0, alpha=0.34, beta=0.34)
    tokens = PARAMS * MULTIPLIERS
    loss = truth.predict(PARAMS, tokens)
    frame = pd.DataFrame({"run": [f"r{i}" for i in range(len(PARAMS))], "params": PARAMS, "tokens": tokens,
                          "loss:val": loss})
    exact = fit_loss(RunTable.from_frame(frame), "val", objective="huber-log")
    assert exact.law.alpha == pytest.approx(0.34, rel=1e-5)
    frame.loc[8, "loss:val"] *= 1.15
    robust = fit_loss(RunTable.from_frame(frame), "val", objective="huber-log")
    plain = fit_loss(RunTable.from_frame(frame), "val")
    assert abs(robust.law.alpha - 0.34) < abs(plain.law.alpha - 0.34)
    assert robust.objective == "huber-log" and "huber-log" in robust.summary()


def test_unknown_law_and_objective(testbed) -> None:
    with pytest.raises(OvertrainError, match="unknown loss law 'kaplan'"):
        fit_loss(testbed.family("rpj"), law="kaplan")
    with pytest.raises(OvertrainError, match="unknown objective 'l1'"):
        fit_loss(testbed.family("rpj"), fit_set="paper-loss", objective="l1")


def test_law_family_is_a_deprecated_alias_of_law_class() -> None:
    """A "family" is a data recipe everywhere else: the law lookup is `law_class`; the old name warns for a release."""
    import pytest

    from overtrain.laws import ExponentialError, law_class, law_family

    assert law_class("exponential", "error") is ExponentialError
    with pytest.warns(DeprecationWarning, match="law_class"):
        assert law_family("exponential", "error") is ExponentialError
