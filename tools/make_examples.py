"""Write `examples/`, the worked example of the README and of `examples/README.md`: a made-up sweep of two data
recipes as a team would log it, drawn from known laws with measurement noise.

- `examples/sweep.csv`: run, family, params, tokens, a validation loss and three task accuracies per run;
- `examples/harness/`: the `web` recipe's runs as lm-evaluation-harness (v0.4) would write them, one results file
  per checkpoint, with `examples/sizes.csv` giving what the harness does not know (params, tokens, the loss);
- `examples/candidates.csv`: `web`'s runs and four candidate recipes tried with two small runs each.

Run from the repository root:

    python tools/make_examples.py [--check]

`--check` only verifies that the shipped files are what this script writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# recipe: (E, A, B, alpha) of its loss law; each task: (eps, k, gamma) of its error law in loss, and chance
RECIPES = {"web": (1.85, 160.0, 280.0, 0.27), "web-filtered": (1.80, 170.0, 300.0, 0.27)}
TASKS = {"arc_easy": (0.80, 6.0, 0.9), "hellaswag": (0.78, 9.0, 1.1), "piqa": (0.52, 3.5, 1.2)}
CHANCE = {"arc_easy": 0.25, "hellaswag": 0.25, "piqa": 0.5}
EXAMPLES_PER_TASK = {"arc_easy": 2376, "hellaswag": 10042, "piqa": 1838}
HARNESS_RECIPE = "web"
DESIGN = [(n, 20.0) for n in (2e7, 6e7, 1.5e8, 4e8)] + [(2e7, 160.0), (6e7, 80.0)]
# candidate recipes tried against `web` with two small runs each (M = 20): (E, A, B, alpha) as above
CANDIDATES = {"dedup": (1.84, 158.0, 275.0, 0.27), "quality": (1.79, 178.0, 305.0, 0.27),
              "code-mix": (1.88, 150.0, 285.0, 0.27), "books-mix": (1.86, 166.0, 284.0, 0.27)}
CANDIDATE_DESIGN = [(6e7, 20.0), (1.5e8, 20.0)]


def runs(recipes: dict[str, tuple[float, float, float, float]], design: list[tuple[float, float]],
         rng: np.random.Generator) -> pd.DataFrame:
    """Each recipe's runs of the design (params, M), loss and task errors drawn from its laws with noise."""
    rows = []
    for family, (E, A, B, alpha) in recipes.items():
        for params, multiplier in design:
            tokens = params * multiplier
            loss = E + A * params**-alpha + B * tokens**-alpha
            row = {"run": f"{family}-{params / 1e6:.0f}m-m{multiplier:g}", "family": family, "params": params,
                   "tokens": tokens, "loss:val": round(loss * (1 + 0.004 * rng.standard_normal()), 4)}
            for task, (eps, k, gamma) in TASKS.items():
                error = np.clip(eps - k * np.exp(-gamma * loss) + 0.01 * rng.standard_normal(), 0.0, 1 - CHANCE[task])
                row[f"acc:{task}"] = round(1 - float(error), 4)
            rows.append(row)
    return pd.DataFrame(rows)


def sweep() -> pd.DataFrame:
    return runs(RECIPES, DESIGN, np.random.default_rng(2026))


def candidates(table: pd.DataFrame) -> pd.DataFrame:
    """`web`'s sweep and four candidate recipes with two small runs each."""
    base = table[table["family"] == "web"]
    return pd.concat([base, runs(CANDIDATES, CANDIDATE_DESIGN, np.random.default_rng(2027))], ignore_index=True)


def harness_files(table: pd.DataFrame) -> dict[str, str]:
    """The harness recipe's runs as lm-evaluation-harness results files (path under `examples/` -> text), and
    the sizes table; the results hold each task's acc_norm (what overtrain reads) and a lower plain acc."""
    runs = table[table["family"] == HARNESS_RECIPE]
    files = {}
    for _, run in runs.iterrows():
        results = {task: {"alias": task, "acc,none": round(run[f"acc:{task}"] - 0.02, 4), "acc_stderr,none": 0.01,
                          "acc_norm,none": run[f"acc:{task}"], "acc_norm_stderr,none": 0.01} for task in TASKS}
        document = {"results": results,
                    "n-samples": {task: {"original": n, "effective": n} for task, n in EXAMPLES_PER_TASK.items()},
                    "config": {"model": "hf", "model_args": f"pretrained=/checkpoints/{run['run']},dtype=bfloat16",
                               "batch_size": 16},
                    "model_name": f"/checkpoints/{run['run']}"}
        files[f"harness/{run['run']}/results_2026-11-30T12-00-00.000000.json"] = json.dumps(document, indent=2) + "\n"
    sizes = runs[["run", "family", "params", "tokens", "loss:val"]].assign(
        params=runs["params"].map("{:g}".format), tokens=runs["tokens"].map("{:g}".format))
    files["sizes.csv"] = sizes.to_csv(index=False, lineterminator="\n")
    return files


def examples() -> dict[str, str]:
    """Every file this script writes under `examples/`: path -> text."""
    table = sweep()
    return {"sweep.csv": table.to_csv(index=False, lineterminator="\n"), **harness_files(table),
            "candidates.csv": candidates(table).to_csv(index=False, lineterminator="\n")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    files = examples()
    if args.check:
        differ = [name for name, text in files.items()
                  if not (EXAMPLES / name).is_file() or (EXAMPLES / name).read_text(encoding="utf-8") != text]
        print(f"{EXAMPLES}: {'as written by this script' if not differ else 'DIFFERS: ' + ', '.join(differ)}")
        sys.exit(1 if differ else 0)
    for name, text in files.items():
        (EXAMPLES / name).parent.mkdir(parents=True, exist_ok=True)
        (EXAMPLES / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files under {EXAMPLES}")


if __name__ == "__main__":
    main()
