"""Bootstrap over runs: deterministic, and each resample is the fit of its resampled runs."""

from __future__ import annotations

import numpy as np
import pytest

from overtrain import SharedExponentLoss, fit_loss
from overtrain.fitting.engine import fit_profile
from overtrain.trust.bootstrap import bootstrap, resample_weights


@pytest.fixture(scope="module")
def rpj_fit(testbed):
    return fit_loss(testbed.family("rpj"), "c4_val", fit_set="paper-loss")


def test_bootstrap_is_deterministic_bit_for_bit(rpj_fit) -> None:
    first, second = bootstrap(rpj_fit, 500, seed=7), bootstrap(rpj_fit, 500, seed=7)
    assert np.array_equal(first.theta, second.theta) and np.array_equal(first.linear, second.linear)
    assert not np.array_equal(first.theta, bootstrap(rpj_fit, 500, seed=8).theta)


def test_each_resample_is_the_fit_of_its_repeated_runs(rpj_fit) -> None:
    weights = resample_weights(rpj_fit.n_runs, 40, seed=3)
    boot = bootstrap(rpj_fit, 40, seed=3)
    kept = [w for w in weights if np.isfinite(fit_profile(SharedExponentLoss, rpj_fit.inputs, rpj_fit.observed, w).sse)]
    assert len(kept) == len(boot.theta) and boot.n_failed == 40 - len(kept)
    for w, theta, linear in zip(kept, boot.theta, boot.linear, strict=True):
        rows = np.repeat(np.arange(rpj_fit.n_runs), w.astype(int))
        params, tokens = (v[rows] for v in rpj_fit.inputs)
        single = fit_profile(SharedExponentLoss, (params, tokens), rpj_fit.observed[rows])
        assert theta == pytest.approx(single.theta, rel=1e-7)
        np.testing.assert_allclose(linear, single.linear, rtol=1e-6)


def test_bootstrap_predictions_and_interval(rpj_fit) -> None:
    boot = bootstrap(rpj_fit, 2000, seed=0)
    values = boot.predict(6.9e9, 1.38e11)
    assert values.shape == (len(boot.theta),)
    manual = [SharedExponentLoss.from_solution(t, c).predict(6.9e9, 1.38e11) for t, c in
              zip(boot.theta[:5], boot.linear[:5], strict=True)]
    np.testing.assert_allclose(values[:5], manual, rtol=1e-12)
    low, high = boot.interval(6.9e9, 1.38e11, level=0.9)
    assert low < rpj_fit.predict(6.9e9, 1.38e11) < high
    assert (low, high) == tuple(np.percentile(values, [5, 95]))
