"""The headline reproduction matches the paper's published numbers (expected.json)."""

from __future__ import annotations

import numpy as np
import pytest

from overtrain import fit_error, fit_loss, point_forecast, reproduce
from overtrain.paper import Reproduction

# ours -> the paper's expected.json, which calls a family a dataset and the multiplier M
PAPER_KEYS = {"family": "dataset", "multiplier": "M"}
TARGET_KEYS = (
    "params", "tokens", "multiplier", "flops", "loss_true", "loss_pred", "err17_true", "err17_pred", "err46_true",
    "err46_pred", "flops_ratio_vs_loss_fit", "flops_ratio_vs_error_fit",
)
REL_ERR_KEYS = ("loss_rel_err", "err17_rel_err", "err46_rel_err")


@pytest.fixture(scope="module")
def result() -> Reproduction:
    return reproduce()


@pytest.fixture(scope="module")
def document(result: Reproduction) -> dict:
    return result.to_dict()


def test_every_target_matches_the_paper(document: dict, expected: dict) -> None:
    ours = {(t["family"], t["run"]): t for t in document["targets"]}
    assert set(ours) == {(t["dataset"], t["run"]) for t in expected["targets"]}
    for want in expected["targets"]:
        got = ours[(want["dataset"], want["run"])]
        for key in TARGET_KEYS:
            assert got[key] == pytest.approx(want[PAPER_KEYS.get(key, key)], rel=1e-6), (want["run"], key)
        for key in REL_ERR_KEYS:
            assert abs(got[key] - want[key]) < 1e-6, (want["run"], key, got[key], want[key])
        assert got["in_error_fit_set"] == want["in_error_fit_set"]


def test_headline_numbers_quoted_in_the_issue(document: dict) -> None:
    rpj = {t["run"]: t for t in document["targets"] if t["family"] == "rpj"}
    assert round(100 * rpj["rpj-open_lm_1b-32.0"]["loss_rel_err"], 4) == 0.7103
    assert round(100 * rpj["rpj-open_lm_1b-32.0"]["err17_rel_err"], 4) == 3.6365
    assert round(100 * rpj["rpj-open_lm_7b-1.0"]["loss_rel_err"], 4) == 0.7320
    assert round(100 * rpj["rpj-open_lm_7b-1.0"]["err17_rel_err"], 4) == 0.0464


def test_paper_mean_relative_errors(result: Reproduction) -> None:
    """The paper's summary: 1.48% loss, 3.66% 17-task error over the six held-out targets."""
    held_out = [t for t in result.targets if not t.in_error_fit_set]
    assert len(held_out) == 6
    assert round(100 * np.mean([t.loss_rel_err for t in held_out]), 2) == 1.48
    assert round(100 * np.mean([t.error_rel_err("17") for t in held_out]), 2) == 3.66


def test_loss_law_coefficients_match_the_paper(document: dict, expected: dict) -> None:
    for family, want in expected["coefficients"].items():
        got = document["coefficients"][family]
        pairs = {"E": "E", "A": "A", "B": "B", "alpha": "alpha=beta", "eta": "eta", "a": "a", "b": "b",
                 "M_star": "M_star", "fit_flops_loss": "fit_flops_loss", "fit_flops_error": "fit_flops_error"}
        for ours, theirs in pairs.items():
            assert got[ours] == pytest.approx(want[theirs], rel=1e-6), (family, ours)
        code_a, code_b, code_exponent, code_e = want["code_params(alpha,beta,b,E)"]
        assert (got["A"], got["b"], -got["alpha"], got["E"]) == pytest.approx(
            (code_a, code_b, code_exponent, code_e), rel=1e-6
        )


def test_error_law_coefficients_match_the_paper_at_a_lower_objective(
    result: Reproduction, document: dict, expected: dict
) -> None:
    """The paper's Levenberg-Marquardt stopped within ~6e-6 of the optimum; ours is at or below its objective."""
    for family in result.families:
        want = expected["coefficients"][family.family]
        for fit, key in zip(family.error_fits, ("error_law_avg_subset(k,gamma,eps)", "error_law_avg(k,gamma,eps)"),
                            strict=True):
            k, gamma, eps = want[key]
            got = document["coefficients"][family.family][f"error_law_{fit.task_set.name}"]
            assert (got["k"], got["gamma"], got["eps"]) == pytest.approx((k, gamma, eps), rel=1e-5)
            theirs = np.sum((eps - k * np.exp(-gamma * fit.inputs[0]) - fit.observed) ** 2)
            assert fit.sse <= theirs * (1 + 1e-12)


def test_without_the_1b_run_the_error_fit_set_is_the_loss_fit_set(testbed, expected: dict) -> None:
    """Table 7's average-error columns, to the report's 0.01 percentage points.

    With 5 runs for 3 coefficients this objective is flat; the paper's optimizer stopped up to 3e-6 away in
    relative error, while ours agrees with scipy's Levenberg-Marquardt at xtol=1e-15 (see test_fitting).
    """
    for family, want in expected["table7_without_1.4B"].items():
        runs = testbed.family(family)
        for tasks, key in (("17", "avg_subset"), ("46", "avg")):
            fit = fit_error(runs, "c4_val", tasks, fit_set="paper-error-no-1b")
            target = runs.where(shape="open_lm_7b")
            loss = fit_loss(runs, "c4_val", fit_set="paper-loss")
            f = point_forecast(loss, fit, params=target.params[0], tokens=target.tokens[0])
            true = target.error(tasks).iloc[0]
            assert abs(abs(f.errors[tasks] - true) / true - want[key]) < 1e-4
