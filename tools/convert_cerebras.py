"""Convert the Cerebras-GPT evaluation tables (Pile test loss and downstream accuracies) into a runs table.

    python tools/convert_cerebras.py SOURCE OUT_DIR --rev 244523ac819393945c812bdbc0dc7d07d3d344b9
    python tools/convert_cerebras.py SOURCE OUT_DIR --rev 244523ac819393945c812bdbc0dc7d07d3d344b9 --check

SOURCE is a git directory of github.com/Cerebras/modelzoo. The Cerebras-GPT README (Dey et al., "Cerebras-GPT:
Open Compute-Optimal Language Models Trained on the Cerebras Wafer-Scale Cluster", arXiv:2304.03208) was removed
from the repository in December 2024, so read the pinned commit with `--rev`. Read: the README's training table
and its 0-shot and 5-shot evaluation tables, the model configurations beside it (for the parameter counts) and
`LICENSE`.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_pythia import STATED_PARAMS as PYTHIA_PARAMS
from convert_pythia import TOKENS_PER_STEP as PYTHIA_TOKENS_PER_STEP
from testbed_source import Source, convert_main, to_csv

PINNED_COMMIT = "244523ac819393945c812bdbc0dc7d07d3d344b9"
FOLDER = "src/cerebras/modelzoo/models/nlp/gpt3/configs/Cerebras_GPT"
README = f"{FOLDER}/README.md"
LICENSE_FILE = "LICENSE"
LOSS = "loss:pile_test"
SEQUENCE = 2048

#: README model label -> family. NeoX-20B and GPT-J-6B (one model each) and OPT (no loss) are left out, and none
#: of their token counts is in the source.
FAMILIES = {"Cerebras": "cerebras_gpt", "Cerebras muP": "cerebras_gpt_mup", "Pythia": "pythia",
            "Pythia deduped": "pythia_deduped"}
LEFT_OUT = ("NeoX", "GPT-J", "GPTJ", "OPT")
#: Cerebras size label -> configuration file (the muP models have `<stem>_mup.yaml`).
CONFIGS = {"111M": "111m", "256M": "256m", "590M": "590m", "1.3B": "1p3b", "2.7B": "2p7b", "6.7B": "6p7b",
           "13B": "13b_bs720"}
PYTHIA_SIZES = {"70M": "70m", "160M": "160m", "410M": "410m", "1B": "1b", "1.4B": "1.4b", "2.8B": "2.8b",
                "6.9B": "6.9b", "12B": "12b"}
PYTHIA_STEPS = 143_000

# README column -> (task, chance, examples). Chance 1/k for k-way multiple choice (ARC's 0.25 is nominal), 0 for
# LAMBADA's exact last word. The README gives 3 decimals.
TASKS = {
    "Hella- Swag": ("hellaswag", 0.25, 10042),
    "PIQA": ("piqa", 0.5, 1838),
    "Wino- Grande": ("winogrande", 0.5, 1267),
    "Lambada": ("lambada", 0.0, 5153),
    "ARC-e": ("arc_easy", 0.25, 2376),
    "ARC-c": ("arc_challenge", 0.25, 1172),
    "OpenBookQA": ("openbookqa", 0.25, 500),
}


def markdown_table(text: str, heading: str) -> pd.DataFrame:
    """The first pipe table after `heading`, all cells as text, with the model label carried down blank cells."""
    start = text.index(heading)
    lines = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            lines.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif lines:
            break
    header, body = lines[0], lines[2:]
    table = pd.DataFrame(body, columns=header)
    table["Model"] = table["Model"].replace("", pd.NA).ffill()
    return table


def training_table(text: str) -> pd.DataFrame:
    """The README's training table (rows without outer pipes), the first column renamed `Model`."""
    lines = text[text.index("Model Params |"):].splitlines()
    rows = []
    for line in lines[2:]:
        if "|" not in line:
            break
        rows.append([cell.strip() for cell in line.split("|")])
    header = ["Model", *(cell.strip() for cell in lines[0].split("|")[1:])]
    return pd.DataFrame(rows, columns=header)


def gpt3_params(config: str) -> int:
    """Parameters of a Cerebras GPT-3-style model (tied embeddings, learned positions, biases) from its config."""
    def value(key: str) -> int:
        found = re.search(rf"^\s*{key}:\s*(\d+)", config, re.MULTILINE)
        if found is None:
            raise SystemExit(f"config lacks {key}")
        return int(found.group(1))

    if not re.search(r"share_embedding_weights:\s*True", config):
        raise SystemExit("config does not tie its embeddings")
    vocab, positions = value("vocab_size"), value("max_position_embeddings")
    width, layers, ffn = value("hidden_size"), value("num_hidden_layers"), value("filter_size")
    block = 4 * width * width + 4 * width + 2 * width * ffn + ffn + width + 4 * width
    return (vocab + positions) * width + layers * block + 2 * width


def label_count(label: str) -> float:
    """'111M' -> 1.11e8, '1.3B' -> 1.3e9."""
    return float(label[:-1]) * {"M": 1e6, "B": 1e9}[label[-1]]


def cerebras_sizes(source: Source, text: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(family label, size label) -> (params, tokens) for the Cerebras-GPT models."""
    training = training_table(text)
    sizes = {}
    for _, row in training.iterrows():
        label = row["Model"]
        tokens = int(row["Number of Steps"]) * int(row["Batch Size"]) * int(row["Sequence Length"])
        if not math.isclose(tokens, float(row["Tokens"]), rel_tol=5e-3):
            raise SystemExit(f"Cerebras-GPT {label}: {tokens} tokens from steps x batch, README says {row['Tokens']}")
        for family, suffix in (("Cerebras", ""), ("Cerebras muP", "_mup")):
            stem = CONFIGS[label].replace("_bs720", "") if suffix else CONFIGS[label]
            try:
                config = source.read(f"{FOLDER}/{stem}{suffix}.yaml").decode()
            except (subprocess.CalledProcessError, OSError):  # muP models exist up to 2.7B only
                if suffix:
                    continue
                raise
            params = gpt3_params(config)
            if abs(params / label_count(label) - 1) > 0.02:
                raise SystemExit(f"{family} {label}: {params} parameters from its config")
            if suffix:  # a muP model trains as long as its standard counterpart
                steps = int(re.search(r"max_steps:\s*(\d+)", config).group(1))
                batch = int(re.search(r"^\s*batch_size:\s*(\d+)", config, re.MULTILINE).group(1))
                if steps * batch * SEQUENCE != tokens:
                    raise SystemExit(f"{family} {label}: {steps} x {batch} x {SEQUENCE} != {tokens} tokens")
            sizes[(family, label)] = (params, tokens)
    return sizes


def withheld_losses(runs: pd.DataFrame) -> pd.Series:
    """Losses above that of a smaller model of the same family trained on no more tokens: a larger model on at
    least as much data does not end with a higher loss, so such a value is a typo or a broken evaluation."""
    bad = pd.Series(False, index=runs.index)
    for i, row in runs.iterrows():
        smaller = runs[(runs["family"] == row["family"]) & (runs["params"] < row["params"])
                       & (runs["tokens"] <= row["tokens"])]
        bad[i] = bool((smaller[LOSS] < row[LOSS]).any())
    return bad


def convert(source: Source, text: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Build the runs and task tables; return them with notes."""
    sizes = cerebras_sizes(source, text)
    zero = markdown_table(text, "#### 0-shot Evaluation")
    five = markdown_table(text, "#### 5-shot Evaluation").set_index(["Model", "Count"])
    rows, dropped = [], sorted(set(zero["Model"]) - set(FAMILIES))
    if set(dropped) - set(LEFT_OUT):
        raise SystemExit(f"unexpected models in the README: {dropped}")
    for _, row in zero[zero["Model"].isin(FAMILIES)].iterrows():
        label, count = row["Model"], row["Count"]
        if label.startswith("Pythia"):
            params, tokens = PYTHIA_PARAMS[PYTHIA_SIZES[count]], PYTHIA_STEPS * PYTHIA_TOKENS_PER_STEP
        else:
            params, tokens = sizes[(label, count)]
        family = FAMILIES[label]
        out = {"run": f"{family}-{count}", "family": family, "params": params, "tokens": tokens,
               LOSS: float(row["PILE test xent"])}
        for column, (task, _, _) in TASKS.items():
            out[f"acc:{task}"] = float(row[column])
        for column, (task, _, _) in TASKS.items():
            out[f"acc:{task}_5shot"] = float(five.loc[(label, count), column])
        rows.append(out)
    runs = pd.DataFrame(rows)
    bad = withheld_losses(runs)
    notes = [f"{len(runs)} models kept; left out: {', '.join(dropped)}"]
    for _, row in runs[bad].iterrows():
        notes.append(f"withheld the loss of {row['run']} ({row[LOSS]}): above a smaller model's of its family")
    runs.loc[bad, LOSS] = math.nan
    runs = runs.sort_values(["family", "params"], kind="mergesort").reset_index(drop=True)
    tasks = pd.DataFrame(
        [(task, chance, n, 0) for task, chance, n in TASKS.values()]
        + [(f"{task}_5shot", chance, n, 5) for task, chance, n in TASKS.values()],
        columns=["task", "chance", "n_examples", "shots"],
    )
    return runs, tasks, notes


def build(source: Source) -> tuple[dict[str, bytes], list[str]]:
    """The output files (name -> bytes) and notes."""
    try:
        text = source.read(README).decode()
    except (subprocess.CalledProcessError, OSError) as error:
        raise SystemExit(f"{README} is not at {source.rev}: pass --rev {PINNED_COMMIT}") from error
    runs, tasks, notes = convert(source, text)
    files = {"runs.csv": to_csv(runs), "tasks.csv": to_csv(tasks), "LICENSE": source.read(LICENSE_FILE)}
    return files, notes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return convert_main(argv, __doc__.splitlines()[0], "Cerebras/modelzoo", "cerebras", PINNED_COMMIT, build)


if __name__ == "__main__":
    sys.exit(main())
