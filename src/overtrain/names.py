"""The laws' names, for the command line's help before any law (or numpy) is loaded.

`overtrain.laws` builds its registries from the law classes and checks them against these names on import, so the
two cannot drift apart.
"""

from __future__ import annotations

LOSS_LAW_NAMES = ("shared-exponent", "chinchilla")
ERROR_LAW_NAMES = ("exponential", "exponential+logM", "sigmoid", "per-task", "direct", "two-step")
#: Not a law but the mean of the plausible error laws' forecasts (`overtrain.trust.backtest`).
ENSEMBLE = "ensemble"
#: The error law `forecast`, `backtest` and `compare` use unless told: the development suite's choice
#: (`benchmarks/generalisation.py`; a test holds it to `data/suite_choice.json`). `fit` and `plan` fit and invert one
#: law, the exponential (`overtrain.fitting.method.DEFAULT_METHOD`).
DEFAULT_ERROR_LAW = ENSEMBLE
#: The interval level every command builds at unless told: 90%.
DEFAULT_LEVEL = 0.9
