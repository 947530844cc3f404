"""A synthetic database of data recipes, as a data team keeps one: many recipes, each tried at one or two small
configurations, all drawn from known laws so that the true order at a big target is known.

Every recipe f shares the loss law L(N, D) = 1.8 + 400 N^-0.3 + 900 D^-0.3, scaled by its own quality factor
exp(s_f) (`scaled`, s_f uniform in [-0.05, 0.05]: a constant offset on the log scale, as `compare`'s shared shape
assumes) or moved by it (`shifted`, L + s_f with s_f uniform in [-0.15, 0.15]: an offset in E, which a log offset
measured at small sizes under-states at large ones), and three tasks whose errors are eps - k exp(-gamma L) of the
recipe's loss. Each recipe has runs at two of four configurations (N, M): (40M, 20), (120M, 20), (400M, 20),
(120M, 100); each run's loss and accuracies carry 0.4% relative noise. The truth at a target is the recipe's law
there and the tasks' mean error at that loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TASKS = {"t1": (0.75, 8.0, 1.0, 0.25), "t2": (0.72, 10.0, 1.1, 0.25), "t3": (0.48, 4.0, 1.2, 0.5)}
CONFIGURATIONS = ((4e7, 20.0), (1.2e8, 20.0), (4e8, 20.0), (1.2e8, 100.0))
NOISE = 0.004


KINDS = ("scaled", "shifted")


def true_loss(params: float, tokens: float, shift: float, kind: str = "scaled") -> float:
    law = 1.8 + 400 * params**-0.3 + 900 * tokens**-0.3
    return law * float(np.exp(shift)) if kind == "scaled" else law + shift


def true_error(loss: float) -> float:
    return float(np.mean([eps - k * np.exp(-gamma * loss) for eps, k, gamma, _ in TASKS.values()]))


def database(families: int, seed: int = 0, kind: str = "scaled"
             ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(runs table, task table, each recipe's shift) for `families` recipes."""
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-0.05, 0.05, families) if kind == "scaled" else rng.uniform(-0.15, 0.15, families)
    rows = []
    for f, shift in enumerate(shifts):
        name = f"recipe-{f:04d}"
        for c in sorted(rng.choice(len(CONFIGURATIONS), 2, replace=False)):
            params, multiplier = CONFIGURATIONS[c]
            loss = true_loss(params, multiplier * params, shift, kind)
            row = {"run": f"{name}-{c}", "family": name, "params": params, "tokens": multiplier * params,
                   "loss:val": loss * (1 + NOISE * rng.standard_normal())}
            for task, (eps, k, gamma, _) in TASKS.items():
                row[f"acc:{task}"] = 1 - (eps - k * np.exp(-gamma * loss)) * (1 + NOISE * rng.standard_normal())
            rows.append(row)
    tasks = pd.DataFrame({"task": list(TASKS), "chance": [v[3] for v in TASKS.values()],
                          "n_examples": [100000] * len(TASKS)})
    return pd.DataFrame(rows), tasks, {f"recipe-{f:04d}": float(s) for f, s in enumerate(shifts)}
