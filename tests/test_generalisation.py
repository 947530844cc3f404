"""Forecasts that hold elsewhere: physical scales, interval parts and scores, ensembles, per-task laws at chance,
calibration on resembling backtests and on the suite's evidence, and no impossible number on any testbed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from typer.testing import CliRunner

import overtrain as ot
from overtrain.cli import app
from overtrain.errors import OvertrainError
from overtrain.fitting.chance import task_bounds
from overtrain.fitting.method import Method
from overtrain.forecasts import Target, within_design
from overtrain.laws import ENSEMBLE, TaskAveragedExponential
from overtrain.names import DEFAULT_ERROR_LAW
from overtrain.quantities import from_scale, physical, to_scale
from overtrain.runs.testbed import load_suite_choice, load_suite_evidence, load_suite_testbed, suite_names
from overtrain.trust.bootstrap import resample_predictions
from overtrain.trust.calibration import DEFAULT_INTERVALS, Calibration, pooled_calibration, resembling
from overtrain.trust.intervals import IntervalParts
from overtrain.trust.members import ensemble_mean, plausible_members
from overtrain.trust.parts import BoundParts
from overtrain.trust.prediction import ForecastRequest, forecast_family
from overtrain.trust.widths import coverage, interval_score

runner = CliRunner()


@pytest.mark.parametrize("quantity", ["loss", "error"])
def test_scales_invert_and_bounds_stay_physical(quantity: str) -> None:
    values = np.array([0.01, 0.3, 0.5, 0.9]) if quantity == "error" else np.array([0.5, 2.0, 3.7])
    assert np.allclose(from_scale(quantity, to_scale(quantity, values)), values)
    for half_width in (0.0, 0.5, 5.0, 50.0):
        parts = BoundParts.of(values[1:2], np.array([np.nan]), np.array([np.nan]), np.zeros(1), 0.9, quantity, 0.0, 1.0)
        low, high = (float(bound[0]) for bound in parts.at(half_width))
        assert low <= values[1] <= high
        assert low >= 0.0
        if quantity == "error":
            assert high <= 1.0


def test_physical_moves_impossible_values_inside() -> None:
    assert physical("error", -0.024) == 0.0
    assert physical("error", 1.3) == 1.0
    assert physical("loss", -2.0) > 0.0
    assert physical("loss", 2.5) == 2.5


def test_interval_score_matches_its_definition() -> None:
    # width 2; inside: 2; 0.5 below: 2 + 2/0.1 * 0.5 = 12; 1 above: 2 + 20 = 22
    scores = interval_score(np.array([1.0, 1.0, 1.0]), np.array([3.0, 3.0, 3.0]), np.array([2.0, 0.5, 4.0]), 0.9)
    assert np.allclose(scores, [2.0, 12.0, 22.0])


def test_ensemble_mean_is_the_logit_mean() -> None:
    values = np.array([[0.2, 0.4, np.nan], [np.nan, np.nan, np.nan]])
    mean = ensemble_mean("error", values)
    expected = 1 / (1 + np.exp(-(np.log(0.2 / 0.8) + np.log(0.4 / 0.6)) / 2))
    assert mean[0] == pytest.approx(expected)
    assert np.isnan(mean[1])


def test_parts_move_with_the_prediction() -> None:
    part = IntervalParts("error", 0.4, 0.3, 0.5, 0.0, 0.0, 10.0)
    moved = part.moved_to(0.45)
    shift = to_scale("error", 0.45) - to_scale("error", 0.4)
    assert moved.fit_low == pytest.approx(from_scale("error", to_scale("error", 0.3) + shift))
    assert moved.fit_low < 0.45 < moved.fit_high


def test_per_task_law_keeps_each_task_in_its_range_and_flat_tasks_at_their_error() -> None:
    chance = np.array([0.25, 0.0, 0.5])
    task_errors = np.array([[0.70, 0.60, 0.50], [0.995, 0.99, 0.999], [0.55, 0.45, 0.40]])
    ceiling, flat, flat_error = task_bounds(task_errors, chance)
    assert np.allclose(ceiling, [0.75, 1.0, 0.5])
    assert flat.tolist() == [False, True, False]
    law = TaskAveragedExponential(("a", "b", "c"), eps=(0.75, 5.0, 0.5), k=(40.0, 1.0, 90.0), gamma=(1.0, 1.0, 1.0),
                                  ceiling=tuple(ceiling), flat=tuple(map(float, flat)), flat_error=tuple(flat_error))
    per_task = law.task_errors(np.array([0.1, 3.0, 30.0]))
    assert np.all(per_task >= 0) and np.all(per_task <= ceiling[:, None] + 1e-12)
    assert np.allclose(per_task[1], flat_error[1])
    assert law.flat_tasks == ("b",)
    # far out (loss 0.1) the unclipped laws would be negative for task a and c
    assert per_task[0, 0] == 0.0 and per_task[2, 0] == 0.0


def test_small_fit_sets_are_resampled_by_residuals(testbed) -> None:
    """Six runs for three coefficients: every resample keeps every run (no degenerate draws), and the spread
    reflects the residual variance: about the law's own prediction, not pinned to it."""
    runs = testbed.family("rpj")
    fit = ot.fit_error(runs, "c4_val", "17", fit_set="paper-error")
    target = (np.full(400, 2.5),)
    samples = resample_predictions(fit, np.ones((1, fit.n_runs), dtype=bool), [target], 400, 0)[0]
    assert np.all(np.isfinite(samples))
    centre = fit.law.predict(2.5)
    assert np.median(samples) == pytest.approx(centre, abs=0.01)
    assert 0 < np.std(samples) < 0.1


def test_resembling_keeps_like_fit_sets_and_falls_back() -> None:
    frame = pd.DataFrame({"fit_sizes": [2] * 12 + [3] * 12, "m_excursion": [0.0] * 6 + [0.6] * 6 + [0.0] * 12,
                          "loss_at_bound": [False] * 23 + [True]})
    chosen = resembling(frame, 4, 0.0)
    assert len(chosen) == 11  # 3+ sizes, inside the M range, not at a bound
    assert len(resembling(frame, 4, 0.0, at_bound=True)) == 12
    assert len(resembling(frame.iloc[:12], 4, 0.0)) == 12  # no 3-size fit set: every forecast


def test_plausible_members_drop_a_law_the_backtest_rejects() -> None:
    frame = pd.DataFrame({"error_true": [0.5, 0.5, 0.5], "error_pred:a": [0.51, 0.49, 0.5],
                          "error_pred:b": [0.52, 0.5, 0.49], "error_pred:c": [0.7, 0.3, 0.6]})
    assert plausible_members(frame, "error") == ["a", "b"]


def test_pooled_calibration_weights_two_sources_equally() -> None:
    """Own backtests that miss by 10% and suite forecasts that are exact: with equal weights, 90% coverage needs
    4 of 5 own forecasts covered, so the scale is the 4th smallest own miss, found by brute force."""
    misses = np.array([0.02, 0.04, 0.06, 0.08, 0.10])
    own = pd.DataFrame({"loss_pred": 1 + misses, "loss_true": 1.0, "loss_fit_low": np.nan, "loss_fit_high": np.nan,
                        "loss_sigma": 0.0, "loss_struct": 0.0, "distance": 9.0})
    suite = pd.DataFrame({"quantity": "loss", "prediction": [1.0] * 20, "true": 1.0, "fit_low": np.nan,
                          "fit_high": np.nan, "sigma": 0.0, "structural": 0.0, "distance": 9.0})
    calibration = pooled_calibration(own, suite, 0.9, ("log-distance", "log-distance"), "test")
    needed = np.log(1 + misses[3])  # on the log scale, at log10(1 + 9) = 1 decade
    assert calibration.loss_scale == pytest.approx(needed, rel=1e-6)
    both = pd.concat([own.assign(weight=1 / 5), pd.DataFrame({
        "loss_pred": 1.0, "loss_true": [1.0] * 20, "loss_fit_low": np.nan, "loss_fit_high": np.nan, "loss_sigma": 0.0,
        "loss_struct": 0.0, "distance": 9.0, "weight": 1 / 20})])
    inside = coverage(both, "loss", calibration.loss_scale, 0.9)
    assert np.average(inside, weights=both["weight"]) >= 0.9


def test_loss_and_error_widths_grow_each_by_their_own_form() -> None:
    """Held-out forecasts at 99x the fit compute, all missing by the same amount: with a constant loss width the
    loss scale is that miss; with a log-distance error width the error scale is half of it (log10(1 + 99) = 2
    decades). The calibration reads back from its dictionary, and one written with a single form applies it to both."""
    miss = 0.1
    rows = pd.DataFrame({"quantity": ["loss"] * 10 + ["error"] * 10,
                         "prediction": [np.exp(miss)] * 10 + [expit(logit(0.4) + miss)] * 10,
                         "true": [1.0] * 10 + [0.4] * 10, "fit_low": np.nan, "fit_high": np.nan, "sigma": 0.0,
                         "structural": 0.0, "distance": 99.0})
    calibration = pooled_calibration(None, rows, 0.9, ("constant", "log-distance"), "test")
    assert calibration.loss_scale == pytest.approx(miss, rel=1e-6)
    assert calibration.error_scale == pytest.approx(miss / 2, rel=1e-6)
    assert calibration.half_width("loss", 50.0) == pytest.approx(miss, rel=1e-6)
    # beyond the evidence's 99x a constant width grows as log10(1 + d) / log10(1 + 99): 3 / 2 at 999x
    assert calibration.evidence_reach == 99.0
    assert calibration.half_width("loss", 999.0) == pytest.approx(miss * 3 / 2, rel=1e-6)
    assert calibration.half_width("error", 999.0) == pytest.approx(miss / 2 * 3, rel=1e-6)
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    old = {k: v for k, v in calibration.to_dict().items() if not k.endswith("_form")} | {"form": "constant"}
    assert Calibration.from_dict(old).form("error") == "constant"


def test_the_shipped_defaults_are_the_development_suites_choice() -> None:
    """`benchmarks/generalisation.py --write-evidence` records what it chose; the code's defaults must be it."""
    choice = load_suite_choice()
    assert choice["error_law"]["chosen"] == DEFAULT_ERROR_LAW
    assert choice["intervals"]["options"] == json.loads(json.dumps(dataclasses.asdict(DEFAULT_INTERVALS)))


def test_suite_testbeds_load_with_their_licences() -> None:
    names = suite_names()
    assert {"gadre2024", "gadre2024-small", "cerebras", "datablations", "dclm", "obsscaling", "porian",
            "pythia"} <= set(names)
    for name in names:
        testbed = load_suite_testbed(name)
        for family in testbed.families:
            assert len(testbed.fit_runs(family)) > 0
            fit, targets = set(testbed.fit_runs(family).runs), set(testbed.target_runs(family).runs)
            assert not fit & targets, f"{name}/{family}: a run is both fitted and forecast"


def test_shipped_evidence_leaves_out_the_paper_targets() -> None:
    evidence = load_suite_evidence()
    assert len(evidence) > 0
    assert "gadre2024" not in set(evidence["testbed"])
    assert set(evidence["quantity"]) == {"loss", "error", "task"}


FAR = Target(1e12, 1e14)


@pytest.mark.parametrize(("name", "error_law"), [
    *((name, law) for name in ("gadre2024", "gadre2024-small")
      for law in ("exponential", "per-task", ENSEMBLE)),
    ("datablations", ENSEMBLE), ("porian", ENSEMBLE),  # loss only: no error law
])
def test_no_forecast_or_bound_outside_what_a_run_can_measure(name: str, error_law: str) -> None:
    """Every testbed's targets and a far target (1e12 parameters on 1e14 tokens): loss above 0, errors in [0, 1],
    for the point forecast and both bounds. (ObsScaling has no losses: nothing here can forecast it yet.)"""
    testbed = load_suite_testbed(name)
    family = testbed.families[0]
    targets = testbed.target_runs(family)
    tasks = None if testbed.tasks is None else (testbed.tasks if isinstance(testbed.tasks, str)
                                                 else ",".join(testbed.tasks))
    fit_runs = testbed.fit_runs(family)
    # a law whose fit runs all share one M speaks for that M only (DCLM's losses are all at M = 20)
    loss_fit = ot.fit_loss(fit_runs.complete(testbed.loss_split or fit_runs.default_split()),
                           testbed.loss_split or fit_runs.default_split(), fit_set=testbed.fit_loss_set)
    far = Target(FAR.params, FAR.params * 20) if loss_fit.held_out else FAR
    targets = targets.subset(within_design(loss_fit, targets))
    method = Method(error_law=error_law, loss_fit_set=testbed.fit_loss_set, error_fit_set=testbed.fit_error_set)
    result = forecast_family(fit_runs, [*map(Target, targets.params, targets.tokens), far],
                             ForecastRequest(testbed.loss_split, tasks or "none", method))
    for trusted in result.forecasts:
        f = trusted.forecast
        assert f.loss > 0
        assert trusted.intervals["loss"].low > 0
        for name_, error in f.errors.items():
            assert 0.0 <= error <= 1.0
            interval = trusted.intervals[name_]
            assert 0.0 <= interval.low <= error <= interval.high <= 1.0


def test_the_issues_impossible_forecast_is_now_physical_and_says_so() -> None:
    result = runner.invoke(app, ["forecast", "--family", "rpj", "--error-law", "per-task", "--target",
                                 "params=1e12,tokens=1e14", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    prediction = document["predictions"][0]
    assert 0.0 <= prediction["error"] <= 1.0
    interval = next(v for k, v in prediction["intervals"].items() if k != "loss")
    assert 0.0 <= interval["low"] <= interval["high"] <= 1.0
    assert prediction["intervals"]["loss"]["low"] > 0


def test_task_losses_are_read_and_checked(tmp_path) -> None:
    path = tmp_path / "runs.csv"
    path.write_text("run,params,tokens,loss,acc:piqa,taskloss:piqa\na,1e8,2e9,3.1,0.6,0.71\nb,3e8,6e9,2.9,0.65,0.64\n")
    runs = ot.read_runs(path)
    assert runs.task_loss_names == ["piqa"]
    assert runs.task_loss("piqa").tolist() == [0.71, 0.64]
    path.write_text("run,params,tokens,loss,taskloss:piqa\na,1e8,2e9,3.1,-0.5\n")
    result = runner.invoke(app, ["runs", str(path)])
    assert result.exit_code == 2
    assert "run 'a': taskloss:piqa = -0.5 is not positive" in result.output


def test_forecast_warns_when_plausible_laws_disagree_beyond_the_interval(testbed) -> None:
    from overtrain.trust.intervals import Interval
    from overtrain.trust.prediction import TrustedForecast

    runs = testbed.family("rpj")
    laws = ot.fit_laws(runs, ot.Method(loss_fit_set="paper-loss", error_fit_set="paper-error"), loss_split="c4_val",
                       tasks="17")
    f = laws.point_forecast(7e9, 3e12)
    narrow = TrustedForecast(f, {"17": Interval(0.30, 0.32, 0.9)}, members={"17": {"exponential": 0.272,
                                                                                  "direct": 0.379}})
    wide = TrustedForecast(f, {"17": Interval(0.25, 0.40, 0.9)}, members={"17": {"exponential": 0.272,
                                                                                "direct": 0.379}})
    assert any("disagree" in w and "direct 0.379" in w for w in narrow.warnings())
    assert not any("disagree" in w for w in wide.warnings())


def test_forecasts_with_intervals_are_deterministic() -> None:
    args = ["forecast", "--family", "rw_original", "--fit-loss", "paper-loss", "--fit-error", "paper-error",
            "--tasks", "17", "--target", "params=6.9e9,multiplier=20", "--json"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    interval = json.loads(first.output)["predictions"][0]["intervals"]["loss"]
    assert interval["low"] < interval["high"]


def test_ties_go_to_the_preferred_candidate_then_the_earliest() -> None:
    from overtrain.trust.choice import _best

    scores = {"exponential": 0.031, "sigmoid": 0.05, "ensemble": 0.031}
    assert _best(scores) == "exponential"
    assert _best(scores, ["ensemble"]) == "ensemble"
    assert _best({"exponential": 0.03, "ensemble": 0.04}, ["ensemble"]) == "exponential"


def test_the_ensemble_backtests_through_its_members(testbed) -> None:
    from overtrain.fitting.method import Method
    from overtrain.trust.backtest import backtest

    small = testbed.select("params<=4.2e8").family("rpj")
    frame = backtest(small, Method(error_law=ENSEMBLE), loss_split="c4_val", tasks="17")
    members = [c for c in frame.columns if c.startswith("error_pred:")]
    assert {"error_pred:exponential", "error_pred:sigmoid"} <= set(members)
    plausible = [f"error_pred:{name}" for name in plausible_members(frame, "error")]
    assert np.allclose(frame["error_pred"], ensemble_mean("error", frame[plausible].to_numpy()), equal_nan=True)


def test_a_loss_law_is_not_fitted_to_fewer_points_than_coefficients() -> None:
    """DCLM's fit runs: 9 losses at two (N, D) points, 411M and 1.4B at M = 20. E + A N^-alpha passes through both
    points for every alpha, so the objective is flat along alpha and the exponent it returned was wherever rounding
    settled (it differed between BLAS kernels). Refused, with the reason, rather than forecast."""
    testbed = load_suite_testbed("dclm")
    fit_runs = testbed.fit_runs(testbed.families[0]).complete(testbed.loss_split)
    assert len(np.unique(np.column_stack([fit_runs.params, fit_runs.tokens]), axis=0)) == 2
    with pytest.raises(OvertrainError, match="2 distinct points of \\(params, tokens\\) for 3 coefficients"):
        ot.fit_loss(fit_runs, testbed.loss_split, fit_set=testbed.fit_loss_set)


def test_evidence_never_holds_a_judged_target_under_another_name() -> None:
    """DCLM's database re-hosts the paper's three 6.9B runs at M = 20; the shipped evidence held their forecasts
    (3 error rows and 66 task rows). The check finds a target by its measurements, not its name: each paper target
    renamed is found, the same runs with every task moved by 0.01 are not, and the shipped evidence holds none."""
    from overtrain.runs.testbed import judged_runs

    targets = ot.load_testbed().select("paper-targets")
    tasks = [c.removeprefix("acc:") for c in targets.frame.columns if c.startswith("acc:")][:22]

    def evidence(shift: float) -> pd.DataFrame:
        rows = [{"testbed": "elsewhere", "run": f"renamed-{i}/{task}", "quantity": "task",
                 "true": 1.0 - float(targets.frame[f"acc:{task}"].iloc[i]) + shift}
                for i in range(len(targets)) for task in tasks if np.isfinite(targets.frame[f"acc:{task}"].iloc[i])]
        return pd.DataFrame(rows)

    assert judged_runs(evidence(0.0), targets) == {f"renamed-{i}" for i in range(len(targets))}
    assert judged_runs(evidence(0.01), targets) == set()
    assert judged_runs(load_suite_evidence(), targets) == set()
