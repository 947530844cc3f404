"""overtrain: forecast what a large language-model training run will achieve before paying for it.

    import overtrain as ot
    runs = ot.load_testbed().family("rpj")
    loss = ot.fit_loss(runs, "c4_val", fit_set="paper-loss")
    err = ot.fit_error(runs, "c4_val", tasks="17", fit_set="paper-error")
    f = ot.forecast(loss, err, params=6.9e9, multiplier=20)

    laws = ot.fit_laws(ot.read_runs("sweep.csv"))          # defaults made for a user's sweep
    laws.forecast(params=7e9, tokens=2e12)

    ot.predict(ot.read_runs("sweep.csv"), [1e9, 7e9], multiplier=20).summary_frame()  # as `overtrain forecast`
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from overtrain._version import __version__

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
    "overtrain.fitting.engine": ("fit_profile",),
    "overtrain.fitting.fit": ("Fit", "fit_error", "fit_loss"),
    "overtrain.fitting.method": ("Method",),
    "overtrain.forecast": ("Comparison", "FittedLaws", "Forecast", "Forecasts", "Target", "compare", "fit_laws",
                           "forecast", "parse_target"),
    "overtrain.lawfile": ("load_laws", "save_laws"),
    "overtrain.paper": ("Reproduction", "reproduce"),
    "overtrain.trust.backtest": ("BacktestOptions", "BacktestSummary", "backtest", "summarize_backtest"),
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
    from overtrain.fitting.engine import fit_profile
    from overtrain.fitting.fit import Fit, fit_error, fit_loss
    from overtrain.fitting.method import Method
    from overtrain.forecast import (
        Comparison,
        FittedLaws,
        Forecast,
        Forecasts,
        Target,
        compare,
        fit_laws,
        forecast,
        parse_target,
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
    from overtrain.trust.backtest import BacktestOptions, BacktestSummary, backtest, summarize_backtest
    from overtrain.trust.calibration import Calibration, IntervalOptions
    from overtrain.trust.choice import Candidates, select_method
    from overtrain.trust.prediction import Evidence, ForecastRequest, Prediction, forecast_families, predict


class _Package(types.ModuleType):
    """The package, keeping a public function whose name is also a module's (`forecast`, `backtest`, `plan`): when
    that module is imported, the import system would set the package attribute to the module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
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
    "BacktestOptions",
    "BacktestSummary",
    "Calibration",
    "Candidates",
    "CompareOptions",
    "Comparison",
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
    "SharedExponentLoss",
    "Target",
    "TaskSet",
    "__version__",
    "backtest",
    "compare",
    "compare_families",
    "design",
    "diagnose",
    "fit_error",
    "fit_laws",
    "fit_loss",
    "fit_profile",
    "forecast",
    "forecast_families",
    "load_laws",
    "load_testbed",
    "load_testbed_metadata",
    "parse_filter",
    "parse_target",
    "plan",
    "plan_families",
    "predict",
    "read_lm_eval_dir",
    "read_openlm_dir",
    "read_runs",
    "read_runs_table",
    "reproduce",
    "save_laws",
    "select_method",
    "summarize_backtest",
    "write_runs_table",
]
