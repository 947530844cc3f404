"""What the figures show a reader: the law through its runs, colours told apart, tick labels that read."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import matplotlib.collections
import matplotlib.colors
import matplotlib.legend
import numpy as np
import pandas as pd
import pytest

import overtrain as ot
from overtrain.render.figures import backtest_figure, forecast_figure

SWEEP = Path(__file__).resolve().parents[1] / "examples" / "sweep.csv"


def _lab(colour) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour."""
    rgb = np.asarray(matplotlib.colors.to_rgb(colour))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))  # every colour drawn here is far above the linear toe
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.fixture(scope="module")
def sweep_figure():
    runs = ot.read_runs(SWEEP)
    prediction = ot.predict(runs, 1.4e9, multiplier=20)
    figure = forecast_figure(runs, [f.laws for f in prediction.families],
                             [t for f in prediction.families for t in f.forecasts])
    figure.canvas.draw()
    yield prediction, figure


def _run_colours(axis) -> dict[tuple[float, float], tuple]:
    """Each drawn run's (compute, loss) and its marker's colour."""
    return {tuple(c.get_offsets()[0]): tuple(c.get_edgecolor()[0][:3]) for c in axis.collections
            if isinstance(c, matplotlib.collections.PathCollection) and len(c.get_offsets()) == 1}


def test_the_forecast_figure_draws_the_law_through_each_fit_run_at_its_own_m_and_on_to_the_target(sweep_figure):
    prediction, figure = sweep_figure
    for family, axis in zip(prediction.families, figure.axes, strict=False):
        fit = family.laws.loss
        colours = _run_colours(axis)
        lines = [line for line in axis.get_lines() if len(line.get_xdata()) > 1]
        for n, d, loss in zip(*fit.inputs, fit.observed, strict=True):
            flops = 6 * n * d
            colour = next(c for (x, y), c in colours.items() if np.isclose(x, flops) and np.isclose(y, loss))
            mine = [line for line in lines if np.allclose(matplotlib.colors.to_rgb(line.get_color()), colour)
                    and line.get_xdata().min() <= flops <= line.get_xdata().max()]
            assert mine, f"no law line in the colour of the run at M = {d / n:g}"
            drawn = [np.exp(np.interp(np.log(flops), np.log(line.get_xdata()), np.log(line.get_ydata())))
                     for line in mine]
            assert min(abs(value / loss - 1) for value in drawn) < 0.01  # the fit's residuals are under 0.5%
        target = family.forecasts[0].forecast
        reaching = [line for line in lines if line.get_xdata().min() <= target.flops <= line.get_xdata().max()]
        assert any(np.isclose(np.exp(np.interp(np.log(target.flops), np.log(line.get_xdata()),
                                               np.log(line.get_ydata()))), target.loss, rtol=1e-3)
                   for line in reaching)


def test_the_forecast_figure_colours_each_m_apart_and_names_it(sweep_figure):
    _, figure = sweep_figure
    for axis in figure.axes[:2]:
        by_m = {}
        for (flops, _), colour in _run_colours(axis).items():
            by_m.setdefault(colour, flops)
        assert len(by_m) == 3  # M = 20, 80, 160
        distances = [np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.combinations(by_m, 2)]
        assert min(distances) > 40, distances
        line_colours = {tuple(matplotlib.colors.to_rgb(line.get_color())) for line in axis.get_lines()}
        assert set(by_m) <= line_colours  # each M's law drawn in its runs' colour
        texts = [t.get_text() for legend in axis.findobj(matplotlib.legend.Legend) for t in legend.get_texts()]
        assert {"M = 20", "M = 80", "M = 160"} <= set(texts)


def _check_ticks(axis, name: str) -> None:
    """The axis' log scales carry at least two labels, plain numbers where every tick is, none overlapping."""
    for part in (axis.xaxis, axis.yaxis):
        if part.get_scale() != "log":
            continue
        low, high = sorted(part.get_view_interval())
        labels = [t for t in part.get_ticklabels() if t.get_visible() and t.get_text()
                  and low <= (t.get_position()[0] if part is axis.xaxis else t.get_position()[1]) <= high]
        assert len(labels) >= 2, (name, [t.get_text() for t in labels])
        assert not any(t.get_text() for t in part.get_ticklabels(minor=True)), name
        values = [t.get_position()[0] if part is axis.xaxis else t.get_position()[1] for t in labels]
        if all(1e-3 <= v < 1e5 for v in values):
            for label, value in zip(labels, values, strict=True):
                assert re.fullmatch(r"\d+(\.\d+)?", label.get_text()), (name, label.get_text())
                assert float(label.get_text()) == pytest.approx(value, rel=1e-3)
        assert not any(re.search(r"times ?10\^\{?0\}?", t.get_text()) for t in labels), name
        boxes = [t.get_window_extent() for t in labels]
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), (name, [t.get_text() for t in labels])


def _backtest_frame(distance: tuple[float, float], errors: tuple[float, float]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"family": family, "distance": d, "loss_rel_err": e, "error_rel_err": 3 * e}
            for family in ("web", "web-filtered")
            for d, e in zip(np.geomspace(*distance, 5), np.geomspace(*errors, 5)[rng.permutation(5)], strict=True)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("distance", "errors"), [((1.05, 7.2), (0.004, 0.038)), ((0.4, 150), (1e-4, 0.4)),
                                                  ((1.5, 2.2), (0.02, 0.03))])
def test_backtest_figure_ticks_read_as_plain_numbers_that_do_not_overlap(distance, errors) -> None:
    figure = backtest_figure(_backtest_frame(distance, errors), "backtest")
    figure.canvas.draw()
    for axis in figure.axes:
        _check_ticks(axis, f"backtest {distance} {errors}")


def test_forecast_figure_ticks_read_and_do_not_overlap(sweep_figure) -> None:
    _, figure = sweep_figure
    for axis in figure.axes:
        _check_ticks(axis, "forecast")


def test_the_error_panel_says_when_the_forecast_is_a_mean_of_other_laws() -> None:
    """Runs whose error depends on M at a given loss (task losses that follow their own laws): the ensemble's
    forecast is the mean of the direct and two-step laws, off the drawn exponential curve; the legend says so."""
    from overtrain.trust.prediction import ForecastRequest, forecast_family
    from test_ensemble_merit import _task_loss_sweep

    runs = _task_loss_sweep(0)
    from overtrain.fitting.method import DEFAULT_METHOD
    from overtrain.names import ENSEMBLE

    ensemble = dataclasses.replace(DEFAULT_METHOD, error_law=ENSEMBLE)
    result = forecast_family(runs, [ot.Target(7e9, 1.4e11)], ForecastRequest("val", "all", ensemble))
    members = sorted(result.forecasts[0].members["all"])
    assert "exponential" not in members and members
    figure = forecast_figure(runs, [result.laws], list(result.forecasts))
    texts = [t.get_text() for t in figure.axes[1].get_legend().get_texts()]
    assert f"exponential law; targets: mean of {', '.join(members)}" in texts
