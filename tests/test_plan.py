"""Planning the big run and designing the small runs: consistency, monotonicity, brute force, impossibility."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from overtrain import OvertrainError, fit_error, fit_loss
from overtrain.cli import app
from overtrain.decide.plan import design, open_lm_params, plan, shape_for, under_budget
from overtrain.forecasts import FittedLaws


@pytest.fixture(scope="module")
def laws(testbed) -> FittedLaws:
    runs = testbed.family("rpj")
    return FittedLaws(fit_loss(runs, fit_set="paper-loss"), fit_error(runs, "c4_val", "17", fit_set="paper-error"))


@pytest.fixture(scope="module")
def target_error(testbed) -> float:
    return float(testbed.family("rpj").where(shape="open_lm_7b").error("17").iloc[0])


def test_forecast_at_the_plan_meets_the_target(laws: FittedLaws, target_error: float) -> None:
    for tokens in (0.0, 1e12, 1e13):
        p = plan(laws, target_error=target_error, inference_tokens=tokens)
        assert abs(p.forecast.error / target_error - 1) < 1e-3
        assert abs(p.forecast.loss / p.target_loss - 1) < 1e-3
    p = plan(laws, target_loss=2.6)
    assert abs(p.forecast.loss / 2.6 - 1) < 1e-3


def test_more_inference_never_plans_a_larger_model(laws: FittedLaws) -> None:
    sizes = [plan(laws, target_loss=2.45, inference_tokens=t).params for t in (0, 1e10, 1e11, 1e12, 1e13, 1e14)]
    assert all(a >= b for a, b in itertools.pairwise(sizes))


def test_no_inference_plans_the_compute_optimal_multiplier(laws: FittedLaws) -> None:
    for target in (2.3, 2.45, 2.8):
        assert plan(laws, target_loss=target).multiplier == pytest.approx(laws.loss.law.M_star, rel=1e-3)


def test_plan_is_the_brute_force_minimum(laws: FittedLaws) -> None:
    p = plan(laws, target_loss=2.45, inference_tokens=1e12)
    law = laws.loss.law
    params = np.geomspace(1e8, 1e11, 200001)
    remaining = 2.45 - law.E - law.A * params**-law.alpha
    tokens = np.full_like(params, np.nan)
    tokens[remaining > 0] = (law.B / remaining[remaining > 0]) ** (1 / law.alpha)
    total = 6 * params * tokens + 2 * params * 1e12
    assert p.total_flops <= np.nanmin(total) * (1 + 1e-6)
    assert p.params == pytest.approx(params[np.nanargmin(total)], rel=1e-3)


def test_budget_buys_the_best_loss_at_the_compute_optimal_multiplier(laws: FittedLaws) -> None:
    rows = under_budget(laws, 5.7e21, np.geomspace(1, 1000, 2001))
    best = min(rows, key=lambda r: r["loss"])
    assert best["multiplier"] == pytest.approx(laws.loss.law.M_star, rel=0.01)
    assert all(6 * r["params"] * r["tokens"] == pytest.approx(5.7e21) for r in rows)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"target_loss": 1.5}, "below the irreducible loss"),
     ({"target_error": 0.05}, "below the error floor"),
     ({"target_loss": 2.2, "budget": 1e20}, "beyond the budget"),
     ({}, "exactly one of")],
)
def test_impossible_targets_are_refused(laws: FittedLaws, kwargs: dict, message: str) -> None:
    with pytest.raises(OvertrainError, match=message):
        plan(laws, **kwargs)


def test_design_follows_the_paper_recipe_within_budget() -> None:
    proposal = design(6.9e9, 1.38e11, 2.4e19, [{"distance": 236.0, "loss_rel_err": 0.007, "err17_rel_err": 0.0005}])
    assert proposal.flops == pytest.approx(2.4e19)
    multipliers = sorted(r.multiplier for r in proposal.runs)
    assert multipliers == pytest.approx([20, 20, 20, 20, 320]) and min(multipliers) > 5
    sizes = sorted({r.params for r in proposal.runs})
    assert len(sizes) == 4 and all(b / a == pytest.approx(3) for a, b in itertools.pairwise(sizes))
    assert proposal.distance == pytest.approx(6 * 6.9e9 * 1.38e11 / 2.4e19)
    assert "0.70%" in proposal.expectation()
    with pytest.raises(OvertrainError, match="as large as the target"):
        design(1e8, 2e9, 1e21, [])


def test_design_says_what_to_expect_from_a_users_runs() -> None:
    """design(runs=...): the evidence is the paper's method on those runs (fit the smaller models, forecast the
    largest), named in the expectation."""
    from overtrain import read_runs

    sweep = read_runs(Path(__file__).parents[1] / "examples" / "sweep.csv")
    proposal = design(5e8, 1e10, 1.2e19, runs=sweep)
    assert {e["run"] for e in proposal.evidence} == {"web-400m-m20", "web-filtered-400m-m20"}
    assert all(set(e) == {"run", "distance", "loss_rel_err", "errall_rel_err"} for e in proposal.evidence)
    assert "held-out runs of" in proposal.expectation() and "sweep.csv" in proposal.expectation()
    assert "average error (all tasks) off by" in proposal.expectation()


def test_plan_and_design_commands(tmp_path: Path, target_error: float) -> None:
    runner = CliRunner()
    figure = tmp_path / "plan.png"
    result = runner.invoke(app, ["plan", "--family", "rpj", "--fit-loss", "paper-loss", "--fit-error", "paper-error",
                                 "--tasks", "17", "--target-error", str(target_error), "--inference-tokens", "1e12",
                                 "--plot", str(figure), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["plans"]
    assert entry["inference_tokens"] == 1e12 and entry["intervals"]["loss"]["low"] < entry["forecast"]["loss"]
    assert figure.stat().st_size > 20_000
    impossible = runner.invoke(app, ["plan", "--family", "rpj", "--fit-loss", "paper-loss", "--target-loss", "1.0"])
    assert impossible.exit_code == 2 and "irreducible loss" in impossible.stderr
    designed = runner.invoke(app, ["design", "--target", "params=6.9e9,tokens=1.38e11", "--budget", "2.4e19"])
    assert designed.exit_code == 0 and "the paper's recipe forecast" in designed.stdout


def test_parameter_count_is_exact_for_the_testbed_shapes(testbed) -> None:
    """Widths and depths from the open_lm configurations (the four small ones ship in the sidecar)."""
    shapes = {"d=96_l=8_h=4": (96, 8), "d=512_l=8_h=4": (512, 8), "d=576_l=24_h=8": (576, 24),
              "d=1024_l=24_h=8": (1024, 24), "open_lm_1b": (2048, 24), "open_lm_7b": (4096, 32)}
    for name, (width, depth) in shapes.items():
        assert open_lm_params(width, depth) == testbed.where(shape=name).params[0], name


@pytest.mark.parametrize("params", [1.05e7, 7.9e7, 4.1e8, 1.44e9, 6.9e9, 3e10])
def test_shape_for_a_parameter_count(params: float) -> None:
    shape = shape_for(params)
    assert abs(shape.params / params - 1) <= 0.02
    assert shape.params == open_lm_params(shape.width, shape.depth)
    # a power of two of heads, at least 2, of 32 to 128 dimensions each: shapes people train (no h=1, no h=19)
    assert shape.width % shape.heads == 0 and 32 <= shape.width // shape.heads <= 128
    assert shape.heads >= 2 and shape.heads & (shape.heads - 1) == 0
