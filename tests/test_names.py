"""One name, one thing: names that moved keep working for one release and warn with the new name."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import overtrain as ot
from overtrain.cli import app


@pytest.fixture(scope="module")
def laws() -> ot.FittedLaws:
    rpj = ot.load_testbed().family("rpj")
    return ot.fit_laws(rpj, ot.Method(loss_fit_set="paper-loss", error_fit_set="paper-error"), loss_split="c4_val",
                       tasks="17")


@pytest.mark.parametrize(("old", "new"), [("forecast", "point_forecast"), ("compare", "score_forecasts"),
                                          ("Comparison", "ScoredForecast")])
def test_old_package_names_warn_and_give_the_new_object(old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"overtrain.{old} is now overtrain.{new}"):
        value = getattr(ot, old)
    assert value is getattr(ot, new)
    assert old not in ot.__all__ and new in ot.__all__


def test_the_engine_is_no_longer_public_but_still_reachable() -> None:
    from overtrain.fitting.engine import fit_profile

    with pytest.warns(DeprecationWarning, match="overtrain.fitting.engine.fit_profile"):
        assert ot.fit_profile is fit_profile
    assert "fit_profile" not in ot.__all__


def test_the_old_point_forecast_gives_the_same_forecast(laws: ot.FittedLaws) -> None:
    new = laws.point_forecast("6.9B", multiplier=20)
    with pytest.warns(DeprecationWarning, match="point_forecast"):
        old = laws.forecast("6.9B", multiplier=20)
    assert (old.loss, old.errors) == (new.loss, new.errors)
    with pytest.warns(DeprecationWarning):
        through_package = ot.forecast(laws.loss, laws.error, params=6.9e9, multiplier=20)
    assert through_package.loss == new.loss


def test_pool_is_the_old_name_of_pooled_runs() -> None:
    runs = ot.load_testbed()
    with pytest.warns(DeprecationWarning, match="pooled_runs"):
        evidence = ot.Evidence(pool=runs)
    assert evidence.pooled_runs is runs
    pooled = ot.Method(loss_pooled=True)
    new = ot.fit_laws(runs.family("rpj"), pooled, loss_split="c4_val", tasks="none", pooled_runs=runs)
    with pytest.warns(DeprecationWarning, match="pooled_runs"):
        old = ot.fit_laws(runs.family("rpj"), pooled, loss_split="c4_val", tasks="none", pool=runs)
    assert old.loss.law == new.loss.law


def test_importing_modules_never_hides_a_function_of_the_package() -> None:
    import overtrain.decide.plan
    import overtrain.forecasts
    import overtrain.trust.backtest  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these is deprecated
        assert callable(ot.point_forecast) and callable(ot.backtest) and callable(ot.plan) and callable(ot.predict)
    assert not hasattr(ot, "_Package")


def test_the_old_command_name_still_runs_and_says_it_is_deprecated(tmp_path: Path) -> None:
    path = tmp_path / "laws.json"
    runner = CliRunner()
    sweep = Path(__file__).resolve().parents[1] / "examples" / "sweep.csv"
    assert runner.invoke(app, ["fit", str(sweep), "-o", str(path)]).exit_code == 0
    target = ["--target", "params=7B,multiplier=20", "--json"]
    new = runner.invoke(app, ["point-forecast", str(path), *target])
    old = runner.invoke(app, ["predict", str(path), *target])
    assert new.exit_code == 0 and old.exit_code == 0, (new.output, old.output)
    assert json.loads(new.stdout)["predictions"] == json.loads(old.stdout)["predictions"]
    assert "`predict` is now `point-forecast`" in old.stderr
    assert "point-forecast" in runner.invoke(app, ["--help"]).output
    assert "predict " not in runner.invoke(app, ["--help"]).output


def test_loss_and_error_are_a_type_that_reads_and_writes_as_before(laws: ot.FittedLaws) -> None:
    from overtrain.quantities import Quantity, from_scale, to_scale

    assert Quantity("loss") is Quantity.LOSS and Quantity.of("17") is Quantity.ERROR
    assert Quantity.of("loss").value == "loss"
    assert not Quantity.LOSS.bounded and Quantity.ERROR.bounded and Quantity.TASK.bounded
    assert to_scale(Quantity.ERROR, 0.5) == to_scale("17", 0.5) == 0.0  # logit: a task set's key is an error
    assert from_scale(Quantity.LOSS, to_scale("loss", 2.5)) == pytest.approx(2.5, rel=1e-15)  # log
    assert json.dumps({"kind": Quantity.LOSS}) == '{"kind": "loss"}' and f"{Quantity.ERROR} law" == "error law"
    document = laws.loss.to_dict()
    assert document["kind"] == "loss"  # law files keep their field
    again = type(laws.loss).from_dict(document)
    assert again.quantity is Quantity.LOSS
    with pytest.warns(DeprecationWarning, match="Fit.quantity"):
        assert laws.error.kind is Quantity.ERROR


def test_forecasts_summarise_themselves_in_the_numbers_of_their_frames() -> None:
    runs = ot.read_runs(Path(__file__).resolve().parents[1] / "examples" / "sweep.csv")
    prediction = ot.predict(runs, ["1B", "7B"], multiplier=20, families=["web"])
    text, frame = prediction.summary(), prediction.summary_frame()
    assert text.splitlines()[0] == f"web: {prediction.families[0].method.label}"
    row = frame.iloc[1]
    assert f"N 7.00B, D 140.00B (M 20): loss {row['loss']:.4g} [{row['loss_low']:.4g}, {row['loss_high']:.4g}]" in text
    point = ot.fit_laws(runs.family("web")).point_forecast("7B", multiplier=20)
    assert point.summary() == f"N 7.00B, D 140.00B (M 20): loss {point.loss:.4g}, error (all tasks) {point.error:.4g}"


def test_the_backtest_result_has_the_name_of_its_idea() -> None:
    import overtrain.trust.backtest as module

    with pytest.warns(DeprecationWarning, match="Backtest"):
        assert module.BacktestSummary is ot.Backtest
    with pytest.raises(AttributeError):
        module.NoSuchName  # noqa: B018


def test_each_old_name_warns_at_the_line_that_used_it(laws: ot.FittedLaws) -> None:
    """The warning names the user's own line (its file is this test), not overtrain's insides."""
    runs = ot.load_testbed()
    uses = [lambda: ot.forecast, lambda: laws.forecast("1B", multiplier=20), lambda: laws.loss.kind,
            lambda: ot.Evidence(pool=runs),
            lambda: ot.fit_laws(runs.family("rpj"), ot.Method(loss_pooled=True), loss_split="c4_val", tasks="none",
                                pool=runs)]
    for use in uses:
        with pytest.warns(DeprecationWarning, match="the old name goes in the next release") as record:
            use()
        assert [Path(w.filename).name for w in record] == [Path(__file__).name], [str(w.message) for w in record]
