"""Trust: how far a forecast can be trusted, as three results and the steps between them.

- `backtest`: forecasts of a family's own runs from cheaper ones (`BacktestOptions`, `backtest`, `Backtest`),
  on the fit sets of `protocols`, the ensemble through its `members`;
- `calibration`: the extrapolation width per quantity learned from backtests and the suite's held-out forecasts
  (`Width`, `Calibration`, `IntervalOptions`), found by `widths`;
- `prediction`: the trusted forecast (`ForecastRequest`, `Evidence`, `Prediction`, `predict`), its interval built
  from `parts` and `bootstrap` in `intervals`, kept within `bounds`, per task in `task_forecasts`, its method chosen
  in `choice`.
"""
