"""Which error law travels on runs that carry each task's own loss? Run by hand on the loss-to-loss testbed, which
is local only (no licence; `tools/convert_loss_to_loss.py` writes it to `.testbeds/loss-to-loss`):

    python benchmarks/error_laws.py .testbeds/loss-to-loss [--laws exponential,two-step,...]

Brandfonbrener et al.'s iso-FLOP sweeps on six pre-training datasets, every run evaluated on C4 and on the OLMo
suite's eight tasks with each task's accuracy and loss (`taskloss:<task>`). For each of the three largest compute
levels (the 3.3B runs at 1e21 FLOPs, then the sweep's two largest levels), every family's runs at that level
(10 <= M <= 200 here as in the fit) are forecast from its runs at the levels below (5 <= M <= 200), with each error
law: mean |relative error| of the 8-task average error and its mean signed error (bias). No interval: this compares
point forecasts. The shipped suite has no testbed with task losses, so nothing here chooses a default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import overtrain as ot
from overtrain.errors import OvertrainError
from overtrain.fitting.method import Method
from overtrain.forecasts import Target
from overtrain.runs.readers.runs_table import read_task_table
from overtrain.trust.prediction import ForecastRequest, forecast_family

LAWS = ("exponential", "two-step", "per-task", "direct", "sigmoid")
FIT_M = (5.0, 200.0)
TARGET_M = (10.0, 200.0)


def forecasts(folder: Path, laws: list[str]) -> pd.DataFrame:
    """One row per (level, family, target run, law): the forecast error's relative error."""
    raw = ot.read_runs(folder / "runs.csv")
    table = ot.RunTable(raw.frame, read_task_table(folder / "tasks.csv"), "loss-to-loss testbed")
    level = table.column("iso_flop")
    rows = []
    for cut in sorted(set(level))[-3:]:
        below = table.subset((level < cut) & (table.multiplier >= FIT_M[0]) & (table.multiplier <= FIT_M[1]))
        here = table.subset((level == cut) & (table.multiplier >= TARGET_M[0]) & (table.multiplier <= TARGET_M[1]))
        for family in here.families:
            fit, targets = below.family(family), here.family(family)
            truth = targets.error_values(targets.task_set("all"))
            for law in laws:
                try:
                    result = forecast_family(fit, [Target(p, t) for p, t in zip(targets.params, targets.tokens,
                                                                                  strict=True)],
                                             ForecastRequest("c4_val", "all", Method(error_law=law), level=None,
                                                             per_task=False))
                except OvertrainError as error:
                    print(f"  {family} at {cut:.2g}: {law}: cannot forecast ({error})")
                    continue
                for trusted, true in zip(result.forecasts, truth, strict=True):
                    rows.append({"level": f"{cut:.2g} FLOPs", "family": family, "law": law,
                                 "rel_err": trusted.forecast.error / true - 1})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the converted loss-to-loss testbed")
    parser.add_argument("--laws", default=",".join(LAWS))
    args = parser.parse_args()
    frame = forecasts(args.folder, args.laws.split(","))
    frame["abs_err"] = frame["rel_err"].abs()

    def table(by: list[str]) -> str:
        return frame.groupby(by).agg(forecasts=("rel_err", "size"), mean_abs_rel_err=("abs_err", "mean"),
                                     bias=("rel_err", "mean")).to_string(float_format=lambda v: f"{v:.4f}")

    print("## Per compute level\n")
    print(table(["level", "law"]))
    print("\n## All levels\n")
    print(table(["law"]))
    print(f"\n{len(frame)} forecasts; {np.unique(frame['family']).size} families")


if __name__ == "__main__":
    main()
