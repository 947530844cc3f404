"""Convert the Cerebras-GPT model card's evaluation tables into a runs table and a task table.

    python tools/convert_cerebras.py SOURCE OUT_DIR --rev 93c3c2dccc2efc7f6bb98c0d813510e4aa639bd1
    python tools/convert_cerebras.py SOURCE OUT_DIR --rev 93c3c2dccc2efc7f6bb98c0d813510e4aa639bd1 --check

SOURCE is a git directory of github.com/Azure/azureml-assets, which carries Cerebras' model card of Cerebras-GPT
(Dey et al. 2023, "Cerebras-GPT: Open Compute-Optimal Language Models Trained on the Cerebras Wafer-Scale Cluster")
as `assets/models/system/cerebras-Cerebras-GPT-111M/description.md`. The card's training table gives each model's
training tokens (all at 20 tokens per parameter); its 0-shot table gives the Pile test cross-entropy and seven
lm-evaluation-harness accuracies of the seven models, 111M to 13B: a ladder with a loss and downstream scores.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testbed_source import Source, convert_main, to_csv

PINNED_COMMIT = "93c3c2dccc2efc7f6bb98c0d813510e4aa639bd1"
CARD = "assets/models/system/cerebras-Cerebras-GPT-111M/description.md"
LICENSE_FILE = "LICENSE.txt"
#: The card's 0-shot column -> (task, chance accuracy, examples the harness scores). Chance: 1/k for k-way multiple
#: choice, 0 for LAMBADA's exact next word. Examples: the harness's test or validation split of each task.
TASKS = {
    "Hella-Swag": ("hellaswag", 0.25, 10042),
    "PIQA": ("piqa", 0.5, 1838),
    "Wino-Grande": ("winogrande", 0.5, 1267),
    "Lambada": ("lambada_openai", 0.0, 5153),
    "ARC-e": ("arc_easy", 0.25, 2376),
    "ARC-c": ("arc_challenge", 0.25, 1172),
    "OpenBookQA": ("openbookqa", 0.25, 500),
}
TOKENS_PER_PARAMETER = 20


def _table(text: str, heading: str, header: bool = False) -> pd.DataFrame:
    """The first markdown table after the line starting with `heading` (pipes optional at the ends), or from that
    line on with `header` (a table whose header row is the line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(heading))
    rows = []
    for line in lines[start if header else start + 1:]:
        if "|" not in line:
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r"-+", c) for c in cells):
            continue
        rows.append(cells)
    return pd.DataFrame(rows[1:], columns=rows[0])


def convert(card: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(runs, tasks, notes) from the card's text."""
    training = _table(card, "Model Params | Sequence Length", header=True)
    zero_shot = _table(card, "#### 0-shot Evaluation")
    tokens = {row["Model Params"]: float(row["Tokens"]) for _, row in training.iterrows()}
    runs = []
    for _, row in zero_shot.iterrows():
        size = row["Params"]
        d = tokens[size]
        runs.append({"run": f"Cerebras-GPT-{size}", "family": "cerebras-gpt",
                     "params": round(d / TOKENS_PER_PARAMETER), "tokens": round(d),
                     "loss:pile_test": float(row["PILE test xent"]),
                     **{f"acc:{task}": float(row[column]) for column, (task, _, _) in TASKS.items()}})
    tasks = pd.DataFrame([{"task": task, "chance": chance, "n_examples": n} for task, chance, n in TASKS.values()])
    notes = [f"{len(runs)} runs, {len(TASKS)} tasks"]
    return pd.DataFrame(runs), tasks, notes


def build(source: Source) -> tuple[dict[str, bytes], list[str]]:
    """The output files (name -> bytes) and notes."""
    runs, tasks, notes = convert(source.read(CARD).decode("utf-8"))
    files = {"runs.csv": to_csv(runs), "tasks.csv": to_csv(tasks), "LICENSE": source.read(LICENSE_FILE)}
    return files, notes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return convert_main(argv, __doc__.splitlines()[0], "Azure/azureml-assets", "cerebras", PINNED_COMMIT, build)


if __name__ == "__main__":
    sys.exit(main())
