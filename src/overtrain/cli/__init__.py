"""The `overtrain` command line: a thin layer over the Python API, its commands in groups (`paper`: reproduce, runs;
`forecasting`: forecast, backtest, fit, point-forecast; `deciding`: plan, design, compare). Every command imports the
machinery it needs when it runs: `overtrain --help` loads typer, rich and numpy only."""

from __future__ import annotations

from overtrain._version import __version__
from overtrain.cli import deciding, forecasting, paper
from overtrain.cli.app import app, main

__all__ = ["app", "main"]


def version_command() -> None:
    """Print the version (hidden: `overtrain --version` is the documented way; kept for one release)."""
    print(__version__)


#: The commands in the order `overtrain --help` lists them.
COMMANDS = {
    "reproduce": paper.reproduce_command, "runs": paper.runs_command,
    "forecast": forecasting.forecast_command, "backtest": forecasting.backtest_command,
    "fit": forecasting.fit_command, "point-forecast": forecasting.point_forecast_command,
    "plan": deciding.plan_command, "design": deciding.design_command, "compare": deciding.compare_command,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)
app.command("version", hidden=True)(version_command)
#: `overtrain predict` was the name of `point-forecast` (a name `ot.predict` means otherwise): kept for one release.
app.command("predict", hidden=True)(forecasting.predict_command)
