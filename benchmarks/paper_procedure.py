"""The paper's headline experiment as its own procedure would run it, end to end, without overtrain: the yardstick
`benchmarks/run.py` times overtrain's commands against. Run by hand:

    python benchmarks/paper_procedure.py [--json]

It reads the bundled testbed with the standard library (as the paper's scripts read their JSON files), chooses the
17-task set by the paper's rule (tasks on which some 0.154B model scores at least 10 points above chance), and
per training distribution fits the loss law (Eq. 4) to the paper's loss fit set and the error law (Eq. 5) to its
error fit set, each by Levenberg-Marquardt from the 128-point grid of starts (`baseline.py`), for the 17- and
46-task average error; then predicts every 1.4B and 6.9B run. It prints each target's predictions.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import fit_error_multistart, fit_loss_multistart

DATA = Path(__file__).resolve().parents[1] / "src" / "overtrain" / "data"
SMALL_SHAPES = ("d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8")
SELECTION_SHAPE = "d=576_l=24_h=8"  # the 0.154B model whose accuracy above chance chooses the 17 tasks
ABOVE_CHANCE = 0.10


def read_runs() -> list[dict]:
    with open(DATA / "testbed.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_chance() -> dict[str, float]:
    with open(DATA / "tasks.csv", newline="", encoding="utf-8") as handle:
        return {row["task"]: float(row["chance"]) for row in csv.DictReader(handle)}


def in_loss_fit_set(run: dict) -> bool:
    multiplier = float(run["multiplier"])
    return (run["shape"] in SMALL_SHAPES and multiplier == 20) or (run["shape"] == SMALL_SHAPES[0]
                                                                   and multiplier == 320)


def in_error_fit_set(run: dict) -> bool:
    return in_loss_fit_set(run) or (run["shape"] == "open_lm_1b" and float(run["multiplier"]) == 20)


def run() -> list[dict]:
    """The procedure from reading the data to the targets' predictions."""
    runs = read_runs()
    chance = read_chance()
    tasks = [c[len("acc:"):] for c in runs[0] if c.startswith("acc:")]
    selection = [r for r in runs if r["shape"] == SELECTION_SHAPE]
    task_sets = {
        "17": [t for t in tasks if max(float(r[f"acc:{t}"]) for r in selection) - chance[t] >= ABOVE_CHANCE],
        "46": tasks,
    }

    def error(run: dict, names: list[str]) -> float:
        return float(np.mean([1.0 - float(run[f"acc:{t}"]) for t in names]))

    predictions = []
    for family in sorted({r["family"] for r in runs}):
        mine = [r for r in runs if r["family"] == family]
        loss_fit = [r for r in mine if in_loss_fit_set(r)]
        error_fit = [r for r in mine if in_error_fit_set(r)]
        (E, A, B, alpha), _ = fit_loss_multistart(
            np.array([float(r["params"]) for r in loss_fit]), np.array([float(r["tokens"]) for r in loss_fit]),
            np.array([float(r["loss:c4_val"]) for r in loss_fit]))
        error_laws = {}
        for name, names in task_sets.items():
            error_laws[name], _ = fit_error_multistart(np.array([float(r["loss:c4_val"]) for r in error_fit]),
                                                       np.array([error(r, names) for r in error_fit]))
        for run in (r for r in mine if float(r["params"]) >= 1e9):
            loss = E + A * float(run["params"]) ** -alpha + B * float(run["tokens"]) ** -alpha
            row = {"run": run["run"], "loss_pred": loss, "loss_true": float(run["loss:c4_val"])}
            for name, (eps, k, gamma) in error_laws.items():
                row[f"err{name}_pred"] = eps - k * np.exp(-gamma * loss)
            predictions.append(row)
    return predictions


def main() -> None:
    predictions = run()
    if "--json" in sys.argv:
        print(json.dumps(predictions, indent=1))
        return
    for row in predictions:
        print(f"{row['run']:40s} loss {row['loss_pred']:.4f} (true {row['loss_true']:.4f})  "
              f"err17 {row['err17_pred']:.4f}  err46 {row['err46_pred']:.4f}")


if __name__ == "__main__":
    main()
