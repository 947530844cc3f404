"""overtrain: forecast what a large language-model training run will achieve before paying for it.

    import overtrain as ot
    runs = ot.load_testbed().family("rpj")
    loss = ot.fit_loss(runs, "c4_val", fit_set="paper-loss")
    err = ot.fit_error(runs, "c4_val", tasks="17", fit_set="paper-error")
    f = ot.point_forecast(loss, err, params=6.9e9, multiplier=20)

    laws = ot.fit_laws(ot.read_runs("sweep.csv"))          # defaults made for a user's sweep
    laws.point_forecast(params=7e9, tokens=2e12)

    ot.predict(ot.read_runs("sweep.csv"), [1e9, 7e9], multiplier=20).summary_frame()  # as `overtrain forecast`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from overtrain._version import __version__
from overtrain.errors import renamed

#: Where each public name lives, by module; a module loads on first use, so `import overtrain` (and the command
#: line's help) costs next to nothing until something is used.
_HOMES = {name: module for module, names in {
    "overtrain.errors": ("OvertrainError",),
    "overtrain.runs.checks": ("diagnose",),
    "overtrain.runs.filters": ("parse_filter",),
    "overtrain.runs.fitsets": ("PRESETS", "FitSet"),
    "overtrain.runs.readers": (
        "read_lm_eval_dir", "read_openlm_dir", "read_runs", "read_runs_table", "write_runs_table",
    ),
    "overtrain.runs.table": ("RunTable",),
    "overtrain.runs.tasks": ("PAPER_17", "PAPER_46", "TaskSet"),
    "overtrain.runs.testbed": ("load_testbed", "load_testbed_metadata"),
    "overtrain.laws": ("ExponentialError", "SharedExponentLoss"),
    "overtrain.fitting.fit": ("Fit", "fit_error", "fit_loss"),
    "overtrain.fitting.method": ("Method",),
    "overtrain.forecasts": ("FittedLaws", "Forecast", "Forecasts", "ScoredForecast", "Target", "fit_laws",
                            "parse_target", "point_forecast", "score_forecasts"),
    "overtrain.lawfile": ("load_laws", "save_laws"),
    "overtrain.paper": ("Reproduction", "reproduce"),
    "overtrain.trust.backtest": ("Backtest", "BacktestOptions", "backtest", "summarize_backtest"),
    "overtrain.trust.calibration": ("Calibration", "IntervalOptions"),
    "overtrain.trust.choice": ("Candidates", "select_method"),
    "overtrain.trust.prediction": ("Evidence", "ForecastRequest", "Prediction", "forecast_families", "predict"),
    "overtrain.decide.plan": ("design", "plan", "plan_families"),
    "overtrain.decide.compare": ("CompareOptions", "compare_families"),
}.items() for name in names}

if TYPE_CHECKING:
    from overtrain.decide.compare import CompareOptions, compare_families
    from overtrain.decide.plan import design, plan, plan_families
    from overtrain.errors import OvertrainError
    from overtrain.fitting.fit import Fit, fit_error, fit_loss
    from overtrain.fitting.method import Method
    from overtrain.forecasts import (
        FittedLaws,
        Forecast,
        Forecasts,
        ScoredForecast,
        Target,
        fit_laws,
        parse_target,
        point_forecast,
        score_forecasts,
    )
    from overtrain.lawfile import load_laws, save_laws
    from overtrain.laws import ExponentialError, SharedExponentLoss
    from overtrain.paper import Reproduction, reproduce
    from overtrain.runs.checks import diagnose
    from overtrain.runs.filters import parse_filter
    from overtrain.runs.fitsets import PRESETS, FitSet
    from overtrain.runs.readers import read_lm_eval_dir, read_openlm_dir, read_runs, read_runs_table, write_runs_table
    from overtrain.runs.table import RunTable
    from overtrain.runs.tasks import PAPER_17, PAPER_46, TaskSet
    from overtrain.runs.testbed import load_testbed, load_testbed_metadata
    from overtrain.trust.backtest import Backtest, BacktestOptions, backtest, summarize_backtest
    from overtrain.trust.calibration import Calibration, IntervalOptions
    from overtrain.trust.choice import Candidates, select_method
    from overtrain.trust.prediction import Evidence, ForecastRequest, Prediction, forecast_families, predict


#: Names that moved or left the public API, kept for one release: each use warns and gives the object now at
#: (module, name).
_DEPRECATED = {
    "forecast": ("overtrain.forecasts", "point_forecast"),  # `overtrain forecast` is `predict`
    "compare": ("overtrain.forecasts", "score_forecasts"),  # `overtrain compare` is `compare_families`
    "Comparison": ("overtrain.forecasts", "ScoredForecast"),
    "fit_profile": ("overtrain.fitting.engine", "fit_profile"),  # the engine's, not a user's
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        module, new = _DEPRECATED[name]
        where = f"overtrain.{new}" if new in _HOMES else f"{module}.{new}"
        renamed(f"overtrain.{name}", where)
        return getattr(importlib.import_module(module), new)
    if name not in _HOMES:
        raise AttributeError(f"module 'overtrain' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "PAPER_17",
    "PAPER_46",
    "PRESETS",
    "Backtest",
    "BacktestOptions",
    "Calibration",
    "Candidates",
    "CompareOptions",
    "Evidence",
    "ExponentialError",
    "Fit",
    "FitSet",
    "FittedLaws",
    "Forecast",
    "ForecastRequest",
    "Forecasts",
    "IntervalOptions",
    "Method",
    "OvertrainError",
    "Prediction",
    "Reproduction",
    "RunTable",
    "ScoredForecast",
    "SharedExponentLoss",
    "Target",
    "TaskSet",
    "__version__",
    "backtest",
    "compare_families",
    "design",
    "diagnose",
    "fit_error",
    "fit_laws",
    "fit_loss",
    "forecast_families",
    "load_laws",
    "load_testbed",
    "load_testbed_metadata",
    "parse_filter",
    "parse_target",
    "plan",
    "plan_families",
    "point_forecast",
    "predict",
    "read_lm_eval_dir",
    "read_openlm_dir",
    "read_runs",
    "read_runs_table",
    "reproduce",
    "save_laws",
    "score_forecasts",
    "select_method",
    "summarize_backtest",
    "write_runs_table",
]
