"""Would averaging several methods' loss forecasts beat choosing one? An experiment on runs up to 0.411B only
(the 1.4B and 6.9B targets stay unseen). Run by hand:

    python benchmarks/combination.py

Forecast combination (an equal-weight mean of the candidates' forecasts) often beats the single best candidate
when the candidates err in different directions. This scores, on the backtests `--law auto` uses, each loss
candidate alone, their mean and their median:

- size-ahead (the paper's recipe scaled down; 0.411B runs forecast from smaller sizes): the candidates differ in
  law, objective and fit set (the paper's and its `+cheap` extension);
- rolling (every run from every cheaper fit set, distances of 10x and more): the candidates differ in law and
  objective only.

overtrain does not offer combined forecasts: given to `--law auto`, the mean of the size-ahead candidates won the
small-run choice (2.44% against 3.35%) and then did worse than the paper's method on the six held-out targets
(1.87% / 4.33% / 2.88% against 1.48% / 3.66% / 2.62% mean relative error of loss / 17-task / 46-task error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import overtrain as ot
from overtrain.errors import OvertrainError
from overtrain.fitting.method import Method
from overtrain.trust.backtest import BacktestOptions, backtest
from overtrain.trust.choice import CANDIDATE_LOSS


def loss_predictions(runs: ot.RunTable, protocol: str) -> tuple[pd.DataFrame, pd.Series]:
    """Each candidate's loss forecast (columns) per forecast (rows) that every candidate makes; the truth."""
    fit_sets = ("paper-loss", "paper-loss+cheap") if protocol == "size-ahead" else (None,)
    columns, truth = {}, None
    for law, objective in CANDIDATE_LOSS:
        for fit_set in fit_sets:
            method = Method(law, objective, loss_fit_set=fit_set, error_fit_set=fit_set)
            try:
                frame = backtest(runs, method, tasks=None, options=BacktestOptions(protocol))
            except OvertrainError:
                continue  # the law cannot be identified on this fit set
            key = frame["run"]  # size-ahead: one forecast per target; rolling: one per (target, fit set)
            if protocol == "rolling":
                frame = frame[frame["distance"] >= 10]
                key = frame["run"] + "@" + frame["fit_flops"].map(repr)
            columns[method.label.split(" + ")[0]] = pd.Series(frame["loss_pred"].to_numpy(), index=key)
            truth = pd.Series(frame["loss_true"].to_numpy(), index=key) if truth is None else truth
    table = pd.DataFrame(columns).dropna()
    return table, truth.reindex(table.index)


def main() -> None:
    small = ot.load_testbed().select("params<=4.2e8")
    for protocol in ("size-ahead", "rolling"):
        table, truth = loss_predictions(small, protocol)
        scores = {name: table[name] for name in table}
        scores["mean of all"] = table.mean(axis=1)
        scores["median of all"] = table.median(axis=1)
        print(f"## {protocol}: mean |relative error| of loss over {len(table)} forecasts")
        for name, prediction in scores.items():
            error = np.minimum(np.abs(prediction - truth) / truth, 1.0)
            print(f"  {100 * float(error.mean()):6.2f}%  {name}")
        print()


if __name__ == "__main__":
    main()
