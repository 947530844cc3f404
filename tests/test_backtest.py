"""Backtests, method choice, intervals and their calibration, warnings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from overtrain import fit_error, fit_loss, point_forecast
from overtrain.cli import app
from overtrain.fitting.method import DEFAULT_METHOD, PAPER_METHOD, Method
from overtrain.runs.fitsets import PRESETS
from overtrain.trust.backtest import BacktestOptions, backtest, summarize_backtest
from overtrain.trust.calibration import Calibration
from overtrain.trust.choice import Candidates, _best, _unsound, select_method
from overtrain.trust.intervals import forecast_intervals
from overtrain.trust.protocols import fit_set_masks, size_ahead_masks
from overtrain.trust.widths import calibrate_scale, coverage


@pytest.fixture(scope="module")
def small(testbed):
    """The runs the issue allows method choice on: models up to 0.411B."""
    return testbed.select("params<=4.2e8")


def test_fit_sets_hold_only_smaller_cheaper_runs(small) -> None:
    runs = small.family("rpj")
    targets, masks, distances = fit_set_masks(runs.params, runs.flops, (1, 10, 100))
    assert len(targets) > 0
    for target, mask, distance in zip(targets, masks, distances, strict=True):
        assert not mask[target]
        assert np.all(runs.params[mask] < runs.params[target])
        assert np.all(runs.flops[mask] <= runs.flops[target])
        assert distance == pytest.approx(runs.flops[target] / runs.flops[mask].sum())


def test_batched_backtest_equals_fitting_each_fit_set_alone(small) -> None:
    runs = small.family("rw_original")
    frame = backtest(runs, PAPER_METHOD, tasks="17")
    targets, masks, _ = fit_set_masks(runs.params, runs.flops, (1, 3, 10, 30, 100, 300))
    for row in frame.sample(6, random_state=0).itertuples():
        index = next(i for i, t in enumerate(targets) if runs.runs[t] == row.run and masks[i].sum() == row.fit_runs)
        chosen = runs.where().drop([r for r, keep in zip(runs.runs, masks[index], strict=True) if not keep])
        loss = fit_loss(chosen, "c4_val")
        error = fit_error(chosen, "c4_val", "17")
        alone = point_forecast(loss, error, params=row.params, tokens=row.tokens)
        assert row.loss_pred == pytest.approx(alone.loss, rel=1e-7)
        assert row.error_pred == pytest.approx(alone.errors["17"], rel=1e-6)


def test_reach_is_measured_from_the_most_expensive_fit_run(small, tmp_path: Path) -> None:
    """Beside the paper's C / fit C (the fit runs' compute together), the reach: target compute over the most
    expensive fit run's, in forecasts, in backtest frames, and through a law file (one written before it was kept
    reads back with C / fit C)."""
    runs = small.family("rpj")
    loss, error = fit_loss(runs, "c4_val"), fit_error(runs, "c4_val", "17")
    target = point_forecast(loss, error, params=1.4e9, tokens=2.8e10)
    assert target.reach == pytest.approx(target.flops / runs.flops.max(), rel=1e-12)
    assert target.flops_ratio == pytest.approx(target.flops / runs.flops.sum(), rel=1e-12)
    assert target.reach > target.flops_ratio
    frame = backtest(runs, PAPER_METHOD, tasks="17")
    targets, masks, _ = fit_set_masks(runs.params, runs.flops, (1, 3, 10, 30, 100, 300))
    for row in frame.sample(5, random_state=1).itertuples():
        index = next(i for i, t in enumerate(targets) if runs.runs[t] == row.run and masks[i].sum() == row.fit_runs)
        assert row.reach == pytest.approx(row.flops / runs.flops[masks[index]].max(), rel=1e-12)
    document = loss.to_dict()
    assert type(loss).from_dict(document).largest_flops == loss.largest_flops
    old = type(loss).from_dict({k: v for k, v in document.items() if k != "largest_flops"})
    assert point_forecast(old, None, params=1.4e9, tokens=2.8e10).reach == pytest.approx(target.flops_ratio, rel=1e-12)


def test_calibrated_scale_is_the_smallest_that_reaches_the_level(small) -> None:
    frame = backtest(small.family("c4_original"), PAPER_METHOD, tasks="17", options=BacktestOptions(n_resamples=32))
    frame = frame[np.isfinite(frame["loss_pred"])]
    scale = calibrate_scale(frame, "loss", 0.9)
    assert coverage(frame, "loss", scale, 0.9).mean() >= 0.9
    assert scale == 0 or coverage(frame, "loss", scale * 0.98, 0.9).mean() < 0.9


def test_held_out_coverage_on_the_small_testbed_is_near_the_level(small) -> None:
    summary = summarize_backtest(small, tasks="17", options=BacktestOptions(n_resamples=32))
    for quantity in ("loss", "error"):
        assert 0.8 <= summary.held_out_coverage[quantity] <= 0.95, summary.held_out_coverage
    assert set(summary.by_distance().columns) >= {"forecasts", "loss_coverage", "error_coverage"}


def test_intervals_widen_with_level_and_hold_the_forecast(testbed) -> None:
    runs = testbed.family("rpj")
    loss = fit_loss(runs, fit_set="paper-loss")
    error = fit_error(runs, "c4_val", "17", fit_set="paper-error")
    f = point_forecast(loss, error, params=6.9e9, multiplier=20)
    calibration = Calibration.of(0.01, 0.02, 0.9, "test")
    narrow = forecast_intervals(f, calibration, level=0.8)
    wide = forecast_intervals(f, calibration, level=0.95)
    for name, value in (("loss", f.loss), ("17", f.errors["17"])):
        assert narrow[name].low < value < narrow[name].high
        assert wide[name].low < narrow[name].low and wide[name].high > narrow[name].high
    extrapolation = 0.01 * np.log10(f.flops_ratio) * f.loss
    assert wide["loss"].high - f.loss >= extrapolation * 1.96 / 1.96  # at least the model-error part


def test_method_selection_reports_every_candidate(small) -> None:
    selection = select_method(small.family("rpj"), tasks="17")
    assert len(selection.loss_scores) == 3 and len(selection.error_scores) >= 3
    assert selection.method.label in selection.reason()
    best = min(selection.loss_scores, key=selection.loss_scores.get)
    chosen = f"{selection.method.loss_law}/{selection.method.loss_objective}"
    # the best backtest score wins, unless it does not beat the development suite's choice beyond its noise
    assert chosen == best or f"kept the development suite's choice {chosen}: {best} is ahead" in selection.reason()


def test_warnings_for_unsafe_forecasts(testbed) -> None:
    runs = testbed.family("rpj")
    thin = fit_loss(runs, fit_set="shape=d=96_l=8_h=4 | shape=d=512_l=8_h=4,M=20")
    f = point_forecast(thin, params=6.9e9, multiplier=20)
    text = " ".join(f.warnings())
    assert "2 model sizes" in text and "x the loss fit set's compute" in text
    assert point_forecast(fit_loss(runs, fit_set="paper-loss"), params=2e8, multiplier=20).warnings() == []


def test_backtest_command_writes_figure_and_json(tmp_path: Path) -> None:
    figure = tmp_path / "backtest.png"
    result = CliRunner().invoke(app, ["backtest", "--where", "params<=4.2e8,family=rpj", "--tasks", "17",
                                      "--plot", str(figure), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["method"] == DEFAULT_METHOD.label and document["forecasts"] and document["by_distance"]
    assert figure.stat().st_size > 10_000


def test_forecast_command_gives_calibrated_intervals_and_can_choose_the_law() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["forecast", "--family", "rpj", "--tasks", "17", "--fit-loss", "paper-loss",
                                 "--fit-error", "paper-error", "--target", "params=6.9e9,multiplier=20", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (entry,) = document["predictions"]
    assert entry["intervals"]["loss"]["low"] < entry["loss"] < entry["intervals"]["loss"]["high"]
    assert entry["intervals"]["error"]["level"] == 0.9 and entry["intervals"]["error"]["task_set"] == "17"
    assert any("calibrated" in n for n in document["notes"])
    chosen = runner.invoke(app, ["forecast", "--family", "rpj", "--tasks", "17", "--law", "auto", "--interval", "0",
                                 "--target", "params=6.9e9,multiplier=20", "--json"])
    assert chosen.exit_code == 0, chosen.output
    assert any(n.startswith("rpj: chose ") for n in json.loads(chosen.stdout)["notes"])


def test_cheap_extension_matches_its_definition(testbed) -> None:
    """`+cheap` adds exactly the runs of smaller models, inside the set's multiplier range, that cost no more than
    the set's second most expensive run; checked run by run against that definition."""
    for family in testbed.families:
        runs = testbed.family(family)
        base = set(runs.select("paper-loss").runs)
        base_rows = [i for i, r in enumerate(runs.runs) if r in base]
        second = sorted(runs.flops[i] for i in base_rows)[-2]
        largest = max(runs.params[i] for i in base_rows)
        low, high = min(runs.multiplier[i] for i in base_rows), max(runs.multiplier[i] for i in base_rows)
        expected = base | {r for i, r in enumerate(runs.runs) if runs.params[i] < largest and runs.flops[i] <= second
                           and low <= runs.multiplier[i] <= high}
        extended = runs.select("paper-loss+cheap")
        assert set(extended.runs) == expected and len(expected) > len(base)
        assert extended.multiplier.min() == 20 and extended.flops.sum() < 1.1 * runs.select("paper-loss").flops.sum()


def test_size_ahead_fit_sets_follow_the_papers_recipe(small) -> None:
    runs = small.family("rpj")
    targets, loss_masks, error_masks, distances = size_ahead_masks(runs, "paper-loss", "paper-error")
    largest = runs.params.max()
    assert sorted(targets) == sorted(np.flatnonzero(runs.params == largest))  # only sizes with 3 smaller sizes
    smaller_recipe = runs.select("params<4e8").select("paper-loss").runs
    for target, loss_mask, error_mask, distance in zip(targets, loss_masks, error_masks, distances, strict=True):
        assert [r for r, keep in zip(runs.runs, loss_mask, strict=True) if keep] == list(smaller_recipe)
        assert np.all(runs.params[error_mask] <= runs.params[target])
        assert np.all(runs.flops[error_mask] < runs.flops[target])
        compute_optimal = (runs.params == largest) & (runs.multiplier == 20)
        assert bool(error_mask[compute_optimal][0]) == (runs.multiplier[target] > 20)
        assert distance == pytest.approx(runs.flops[target] / runs.flops[loss_mask].sum())


def test_size_ahead_backtest_equals_fitting_each_fit_set_alone(small) -> None:
    runs = small.family("c4_original")
    method = Method(loss_fit_set="paper-loss", error_fit_set="paper-error")
    frame = backtest(runs, method, options=BacktestOptions("size-ahead"))
    targets, loss_masks, error_masks, _ = size_ahead_masks(runs, "paper-loss", "paper-error")
    assert list(frame["run"]) == [runs.runs[t] for t in targets]
    for row, loss_mask, error_mask in list(zip(frame.itertuples(), loss_masks, error_masks, strict=True))[::3]:
        keep = {"loss": loss_mask, "error": error_mask}
        chosen = {k: runs.drop([r for r, m in zip(runs.runs, mask, strict=True) if not m]) for k, mask in keep.items()}
        alone = point_forecast(fit_loss(chosen["loss"], "c4_val"), fit_error(chosen["error"], "c4_val", "17"),
                         params=row.params, tokens=row.tokens)
        assert row.loss_pred == pytest.approx(alone.loss, rel=1e-7)
        assert row.error_pred == pytest.approx(alone.errors["17"], rel=1e-6)


def test_unsound_candidates_are_not_eligible(testbed) -> None:
    """Chinchilla fitted with the M <= 10 runs of small models runs its exponent off the search range: such a
    candidate must not be chosen, however it backtests."""
    runs = testbed.family("rpj")
    with_short_runs = PRESETS["paper-loss"].expression + " | params<2e7 | params<1e8,M<=40 | params<2e8,M<=10"
    assert fit_loss(runs, fit_set=with_short_runs, law="chinchilla").at_bound
    assert "search bound" in _unsound(Method("chinchilla", loss_fit_set=with_short_runs), runs, "c4_val", None)
    assert _unsound(Method(loss_fit_set="paper-loss", error_fit_set="paper-error"), runs, "c4_val", "17") is None
    # a law that cannot be fitted at all says why (the sigmoid needs every task's chance accuracy)
    no_chance = runs.with_tasks(runs.tasks.assign(chance=float("nan")))
    assert "chance accuracy" in _unsound(Method(error_law="sigmoid"), no_chance, "c4_val", "17")


def test_ties_go_to_the_earliest_candidate() -> None:
    assert _best({"paper": 0.033500, "other": 0.033499}) == "paper"
    assert _best({"paper": 0.0335, "other": 0.0300}) == "other"
    assert _best({"paper": float("nan"), "other": 0.05}) == "other"


def test_selection_with_fit_sets_uses_the_size_ahead_protocol(small, testbed) -> None:
    selection = select_method(small, Candidates("paper-loss", "paper-error"), tasks="17", forecast_runs=testbed)
    assert selection.protocol == "size-ahead" and selection.forecasts == {"loss": 23, "error": 23}
    assert "shared-exponent/least-squares on paper-loss+cheap" in selection.loss_scores
    assert "exponential on paper-error+cheap" in selection.error_scores
    chosen = f"{selection.method.loss_law}/{selection.method.loss_objective} on {selection.method.loss_fit_set}"
    assert selection.loss_scores[chosen] <= min(selection.loss_scores.values()) + 1e-4
    assert "size-ahead" in selection.reason() and json.dumps(selection.to_dict())


def test_size_ahead_backtest_command() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["backtest", "--where", "params<=4.2e8,family=rw_original", "--tasks", "17",
                                 "--protocol", "size-ahead", "--fit-loss", "paper-loss", "--fit-error", "paper-error",
                                 "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["protocol"] == "size-ahead" and len(document["forecasts"]) == 8
    missing = runner.invoke(app, ["backtest", "--protocol", "size-ahead"])
    assert missing.exit_code == 2 and "needs --fit-loss" in missing.output and "Traceback" not in missing.output
