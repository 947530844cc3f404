"""Write `docs/example-sweep.csv`, the README's worked example: a made-up sweep of two data recipes, as a team would
log it (run, family, params, tokens, a validation loss, three task accuracies), drawn from known laws with
measurement noise. Run from the repository root:

    python tools/make_example_sweep.py [--check]

`--check` only verifies that the shipped file is what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "docs" / "example-sweep.csv"
# recipe: (E, A, B, alpha) of its loss law; each task: (eps, k, gamma) of its error law in loss, and chance
RECIPES = {"web": (1.85, 160.0, 280.0, 0.27), "web-filtered": (1.80, 170.0, 300.0, 0.27)}
TASKS = {"arc_easy": (0.80, 6.0, 0.9), "hellaswag": (0.78, 9.0, 1.1), "piqa": (0.52, 3.5, 1.2)}
CHANCE = {"arc_easy": 0.25, "hellaswag": 0.25, "piqa": 0.5}
DESIGN = [(n, 20.0) for n in (2e7, 6e7, 1.5e8, 4e8)] + [(2e7, 160.0), (6e7, 80.0)]


def sweep() -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    rows = []
    for family, (E, A, B, alpha) in RECIPES.items():
        for params, multiplier in DESIGN:
            tokens = params * multiplier
            loss = E + A * params**-alpha + B * tokens**-alpha
            row = {"run": f"{family}-{params / 1e6:.0f}m-m{multiplier:g}", "family": family, "params": params,
                   "tokens": tokens, "loss:val": round(loss * (1 + 0.004 * rng.standard_normal()), 4)}
            for task, (eps, k, gamma) in TASKS.items():
                error = np.clip(eps - k * np.exp(-gamma * loss) + 0.01 * rng.standard_normal(), 0.0, 1 - CHANCE[task])
                row[f"acc:{task}"] = round(1 - float(error), 4)
            rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = sweep().to_csv(index=False, lineterminator="\n")
    if args.check:
        same = OUT.is_file() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT}: {'as written by this script' if same else 'DIFFERS from what this script writes'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
