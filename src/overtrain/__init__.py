"""overtrain: forecast what a large language-model training run will achieve before paying for it.

    import overtrain as ot
    runs = ot.load_testbed().family("rpj")
    loss = ot.fit_loss(runs, "c4_val", fit_set="paper-loss")
    err = ot.fit_error(runs, "c4_val", tasks="17", fit_set="paper-error")
    f = ot.forecast(loss, err, params=6.9e9, multiplier=20)

    laws = ot.fit_laws(ot.read_runs("sweep.csv"))          # defaults made for a user's sweep
    laws.forecast(params=7e9, tokens=2e12)
"""

from __future__ import annotations

from overtrain._version import __version__
from overtrain.checks import diagnose
from overtrain.errors import OvertrainError
from overtrain.filters import parse_filter
from overtrain.fitsets import PRESETS, FitSet
from overtrain.fitting import Fit, fit_error, fit_loss
from overtrain.forecast import Comparison, FittedLaws, Forecast, Target, compare, fit_laws, forecast, parse_target
from overtrain.lawfile import load_laws, save_laws
from overtrain.laws import ExponentialError, SharedExponentLoss
from overtrain.paper import Reproduction, reproduce
from overtrain.readers import read_lm_eval_dir, read_openlm_dir, read_runs, read_runs_table, write_runs_table
from overtrain.runs import RunTable
from overtrain.tasks import PAPER_17, PAPER_46, TaskSet
from overtrain.testbed import load_testbed, load_testbed_metadata
from overtrain.varpro import fit_profile

__all__ = [
    "PAPER_17",
    "PAPER_46",
    "PRESETS",
    "Comparison",
    "ExponentialError",
    "Fit",
    "FitSet",
    "FittedLaws",
    "Forecast",
    "OvertrainError",
    "Reproduction",
    "RunTable",
    "SharedExponentLoss",
    "Target",
    "TaskSet",
    "__version__",
    "compare",
    "diagnose",
    "fit_error",
    "fit_laws",
    "fit_loss",
    "fit_profile",
    "forecast",
    "load_laws",
    "load_testbed",
    "load_testbed_metadata",
    "parse_filter",
    "parse_target",
    "read_lm_eval_dir",
    "read_openlm_dir",
    "read_runs",
    "read_runs_table",
    "reproduce",
    "save_laws",
    "write_runs_table",
]
