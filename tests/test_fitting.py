"""The fitting engine reaches the global least-squares optimum: synthetic recovery and brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import least_squares

from overtrain import ExponentialError, SharedExponentLoss, fit_error, fit_loss
from overtrain.errors import OvertrainError
from overtrain.fitting.engine import fit_profile, solve_linear
from overtrain.runs.table import RunTable

# The brute-force baselines wander through overflowing exponents on the way; that is their business.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

PARAMS = np.array([1.1e7, 7.9e7, 1.5e8, 4.1e8, 1.1e7, 7.9e7, 1.5e8, 4.1e8])
MULTIPLIERS = np.array([20, 20, 20, 20, 320, 80, 5, 40], dtype=float)


def synthetic_runs(law: SharedExponentLoss, noise: float = 0.0, seed: int = 0) -> RunTable:
    tokens = PARAMS * MULTIPLIERS
    loss = law.predict(PARAMS, tokens) + noise * np.random.default_rng(seed).standard_normal(len(PARAMS))
    frame = {"run": [f"r{i}" for i in range(len(PARAMS))], "params": PARAMS, "tokens": tokens, "loss:val": loss}
    return RunTable.from_frame(pd.DataFrame(frame))


@pytest.mark.parametrize(
    "truth",
    [
        SharedExponentLoss(E=1.8, A=166.0, B=287.0, alpha=0.27),
        SharedExponentLoss(E=1.2, A=400.0, B=1200.0, alpha=0.34),
        SharedExponentLoss(E=2.5, A=20.0, B=90.0, alpha=0.12),
    ],
)
def test_loss_law_recovers_known_coefficients(truth: SharedExponentLoss) -> None:
    fit = fit_loss(synthetic_runs(truth), "val")
    got = fit.law.coefficients()
    for name, value in truth.coefficients().items():
        assert got[name] == pytest.approx(value, rel=1e-6), name
    assert fit.sse < 1e-20
    assert fit.law.M_star == pytest.approx((truth.B / truth.A) ** (1 / truth.alpha), rel=1e-6)


@pytest.mark.parametrize("truth", [ExponentialError(0.85, 2.2, 0.71), ExponentialError(0.76, 1.3, 0.89),
                                   ExponentialError(0.5, 40.0, 2.5)])
def test_error_law_recovers_known_coefficients(truth: ExponentialError) -> None:
    loss = np.linspace(2.3, 5.5, 9)
    solution = fit_profile(ExponentialError, (loss,), truth.predict(loss))
    law = ExponentialError.from_solution(solution.theta, solution.linear)
    assert (law.eps, law.k, law.gamma) == pytest.approx((truth.eps, truth.k, truth.gamma), rel=1e-6)


def _brute_force_loss(params: np.ndarray, tokens: np.ndarray, y: np.ndarray) -> float:
    """Multi-start Levenberg-Marquardt on all four coefficients from a wide grid of starts; best objective."""
    best = np.inf
    for alpha in (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2):
        for scale in (1.0, 30.0, 300.0, 3000.0):
            for e in (0.5, 1.5, 2.5):
                start = [e, scale, scale, alpha]
                result = least_squares(
                    lambda p: p[0] + p[1] * params ** -p[3] + p[2] * tokens ** -p[3] - y,
                    start, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000,
                )
                if np.all(np.isfinite(result.x)):
                    best = min(best, float(np.sum(result.fun**2)))
    return best


@pytest.mark.parametrize("family", ["c4_original", "rpj", "rw_original"])
def test_loss_fit_is_at_least_as_good_as_brute_force(testbed, family: str) -> None:
    runs = testbed.family(family).select("paper-loss")
    fit = fit_loss(runs, "c4_val")
    brute = _brute_force_loss(runs.params, runs.tokens, runs.loss("c4_val").to_numpy())
    assert fit.sse <= brute * (1 + 1e-9)


@pytest.mark.parametrize("family", ["c4_original", "rpj", "rw_original"])
def test_loss_fit_on_every_run_matches_a_dense_profile_scan(testbed, family: str) -> None:
    """All runs of a family (a harder, larger fit): the exponent sits at the minimum of a dense 1-D scan."""
    runs = testbed.family(family)
    y = runs.loss("c4_val").to_numpy()
    fit = fit_loss(runs, "c4_val")
    alphas = np.geomspace(1e-3, 4.0, 20001)
    _, scan = solve_linear(SharedExponentLoss.basis((runs.params, runs.tokens), alphas[:, None]), y, np.ones_like(y))
    assert fit.sse <= scan.min() * (1 + 1e-12)
    assert fit.law.alpha == pytest.approx(alphas[np.argmin(scan)], rel=1e-3)


def test_error_fit_is_at_least_as_good_as_brute_force(testbed) -> None:
    for family in testbed.families:
        fit = fit_error(testbed.family(family), "c4_val", "17", fit_set="paper-error")
        def residuals(p: np.ndarray, loss: np.ndarray = fit.inputs[0], y: np.ndarray = fit.observed) -> np.ndarray:
            return p[2] - p[0] * np.exp(-p[1] * loss) - y

        best = min(
            np.sum(least_squares(residuals, [k, g, e], method="lm",
                                 xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000).fun ** 2)
            for k in (0.5, 2.0, 10.0) for g in (0.2, 0.7, 1.5, 3.0) for e in (0.6, 0.9)
        )
        assert fit.sse <= best * (1 + 1e-9)


def test_batched_fits_equal_one_at_a_time(testbed) -> None:
    runs = testbed.family("rpj").select("paper-error")
    inputs = (runs.params, runs.tokens)
    rng = np.random.default_rng(1)
    y = runs.loss("c4_val").to_numpy() + 0.01 * rng.standard_normal((7, len(runs)))
    batch = fit_profile(SharedExponentLoss, inputs, y)
    for i in range(len(y)):
        single = fit_profile(SharedExponentLoss, inputs, y[i])
        assert batch.theta[i] == pytest.approx(single.theta, rel=1e-9)
        np.testing.assert_allclose(batch.linear[i], single.linear, rtol=1e-8)


def test_integer_weights_equal_repeated_runs(testbed) -> None:
    runs = testbed.family("rw_original").select("paper-error")
    y = runs.loss("c4_val").to_numpy()
    weights = np.array([2.0, 1.0, 0.0, 3.0, 1.0, 1.0])
    weighted = fit_profile(SharedExponentLoss, (runs.params, runs.tokens), y, weights)
    keep = np.repeat(np.arange(len(y)), weights.astype(int))
    repeated = fit_profile(SharedExponentLoss, (runs.params[keep], runs.tokens[keep]), y[keep])
    assert weighted.theta == pytest.approx(repeated.theta, rel=1e-9)
    np.testing.assert_allclose(weighted.linear, repeated.linear, rtol=1e-7)


def test_unidentifiable_weights_give_nan_not_nonsense(testbed) -> None:
    """A resample holding only the smallest shape (one N, two M) cannot identify A: NaN, infinite objective."""
    runs = testbed.family("rpj").select("paper-loss")
    smallest = (runs.frame["shape"] == "d=96_l=8_h=4").to_numpy()
    assert smallest.sum() == 2
    weights = np.stack([np.where(smallest, 2.0, 0.0), np.ones(len(runs))])
    solution = fit_profile(SharedExponentLoss, (runs.params, runs.tokens), runs.loss("c4_val").to_numpy(), weights)
    assert np.isnan(solution.theta[0]) and np.all(np.isnan(solution.linear[0])) and solution.sse[0] == np.inf
    assert np.isfinite(solution.sse[1]) and np.all(np.isfinite(solution.linear[1]))


def test_fit_result_describes_itself(testbed) -> None:
    fit = fit_loss(testbed.family("rpj"), "c4_val", fit_set="paper-loss")
    text = fit.summary()
    assert "paper-loss" in text and "M_star=7.41913" in text
    document = fit.to_dict()
    assert document["runs"] == list(fit.runs) and document["alpha"] == fit.law.alpha
    assert document["sse"] == pytest.approx(np.sum(fit.residuals**2))
    with pytest.raises(ValueError):
        fit.observed[0] = 0.0
    with pytest.raises(AttributeError):
        fit.law.E = 0.0  # type: ignore[misc]


def test_fit_set_too_small_and_unidentifiable(testbed) -> None:
    runs = testbed.family("rpj")
    with pytest.raises(OvertrainError, match="has 3 runs but the shared-exponent law has 4 coefficients"):
        fit_loss(runs, fit_set="multiplier=20,params<=1e8 | shape=d=96_l=8_h=4,multiplier=320")
    one_multiplier = fit_loss(runs, fit_set="multiplier=20,params<=5e8")  # A and B not separable: B held out
    assert one_multiplier.law.unidentified == ("B",) and "every fit run has M = 20" in one_multiplier.held_out
    with pytest.raises(OvertrainError, match="selects no runs"):
        fit_loss(runs, fit_set="params>1e12")
    with pytest.raises(OvertrainError, match="mixes families"):
        fit_loss(testbed, fit_set="paper-loss")
    with pytest.raises(OvertrainError, match="has 2 runs but the exponential law has 3"):
        fit_error(runs, fit_set="shape=open_lm_1b")
