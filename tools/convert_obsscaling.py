"""Convert the ObsScaling base-model benchmark table into a runs table and a task table.

    python tools/convert_obsscaling.py SOURCE OUT_DIR          # write runs.csv, tasks.csv and LICENSE into OUT_DIR
    python tools/convert_obsscaling.py SOURCE OUT_DIR --check  # verify OUT_DIR equals a fresh conversion

SOURCE is a git directory (bare, or a clone's `.git`) of github.com/ryoungj/ObsScaling, read at `--rev`
(default HEAD), or a checked-out / extracted copy of the repository. The input is
`eval_results/base_llm_benchmark_eval.csv` (Ruan et al., "Observational Scaling Laws and the Predictability of
Language Model Performance"): public base models with their parameter count N and pretraining tokens D as
their developers reported them, and benchmark accuracies. There are no losses.
"""

from __future__ import annotations

import io
import math
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testbed_source import Source, convert_main, to_csv

PINNED_COMMIT = "4d6e1e43fd2635d04654aa77d1df9d5266ea0382"
TABLE = "eval_results/base_llm_benchmark_eval.csv"
LICENSE_FILE = "LICENSE"
MODEL, FAMILY, SIZE, DATA, FLOPS = (
    "Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)")

# source column -> (task name, chance accuracy, examples scored, shots). Chance: 1/k for k-way multiple choice
# (ARC-Challenge has a few 3- and 5-way questions, so 0.25 is nominal there), 0 for exact-match generation.
# Examples: ARC-C, HellaSwag, Winogrande, GSM8K and HumanEval scores measured with the harness are multiples of
# 1/n for these n; MMLU (57 subjects) and XWinograd (6 languages) scores are averages over subsets.
TASKS = {
    "MMLU": ("mmlu_5shot", 0.25, 14042, 5),
    "ARC-C": ("arc_challenge_25shot", 0.25, 1172, 25),
    "HellaSwag": ("hellaswag_10shot", 0.25, 10042, 10),
    "Winograd": ("winogrande_5shot", 0.5, 1267, 5),
    "XWinograd": ("xwinograd", 0.5, 4449, 0),
    "GSM8K": ("gsm8k_5shot", 0.0, 1319, 5),
    "HumanEval": ("humaneval_pass1", 0.0, 164, 0),
}
# Left out: TruthfulQA (the leaderboard's MC2 score is a probability mass, with no clean chance level).
LEFT_OUT = ("TruthfulQA",)
SOURCE_COLUMNS = [MODEL, FAMILY, SIZE, DATA, FLOPS, "MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K",
                  "XWinograd", "HumanEval"]

# Mixture-of-experts models: the table's "size" mixes active and total parameter counts across them, so N is
# not comparable with the dense models'.
MIXTURE_OF_EXPERTS = (
    "Qwen/Qwen2-57B-A14B",
    "mistralai/Mixtral-8x7B-v0.1",
    "mistralai/Mixtral-8x22B-v0.1",
    "deepseek-ai/DeepSeek-V2",
    "deepseek-ai/DeepSeek-Coder-V2-Base",
    "deepseek-ai/deepseek-moe-16b-base",
    "ai21labs/Jamba-v0.1",
)

# Hand corrections of source typos: model -> (column, value in the source, corrected value).
CORRECTIONS = {
    # BTLM-3B-8K was trained on 627B tokens of SlimPajama; the table says 627T.
    "cerebras/btlm-3b-8k-base": (DATA, "627.0", "0.627"),
    # OpenLLaMA 7B v2 has 7B parameters (its name); the table says 13B.
    "openlm-research/open_llama_7b_v2": (SIZE, "13.0", "7.0"),
}


def exact_count(text: str, scale: int) -> int:
    """A decimal number of units (e.g. '6.05' billions) as an exact whole count."""
    value = Decimal(text) * scale
    if value != value.to_integral_value():
        raise ValueError(f"{text} x {scale} is not a whole number")
    return int(value)


def convert(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Build the runs and task tables from the source table (all cells as text); return them with notes."""
    if list(table.columns) != SOURCE_COLUMNS:
        raise SystemExit(f"{TABLE}: unexpected columns {list(table.columns)}")
    if table[MODEL].duplicated().any():
        raise SystemExit(f"{TABLE}: duplicate models {sorted(table[MODEL][table[MODEL].duplicated()])}")
    notes = [f"{len(table)} models in {TABLE}"]
    absent = [m for m in MIXTURE_OF_EXPERTS if m not in set(table[MODEL])]
    if absent:
        raise SystemExit(f"{TABLE}: mixture-of-experts models not found: {absent}")
    moe = table[MODEL].isin(MIXTURE_OF_EXPERTS)
    notes.append(f"dropped {int(moe.sum())} mixture-of-experts models: {', '.join(sorted(table[MODEL][moe]))}")
    table = table[~moe]
    no_tokens = table[DATA].isna()
    notes.append(f"dropped {int(no_tokens.sum())} models without a token count: "
                 + ", ".join(sorted(table[MODEL][no_tokens])))
    table = table[~no_tokens].copy()
    if table[[MODEL, FAMILY, SIZE, FLOPS]].isna().any().any():
        raise SystemExit(f"{TABLE}: a kept model lacks its family, size or FLOPs")
    # The FLOPs column is 6 N D of the table's own N and D (so it repeats the typos corrected below).
    for _, row in table.iterrows():
        implied = 6 * float(row[SIZE]) * float(row[DATA])
        if not math.isclose(implied, float(row[FLOPS]), rel_tol=1e-6):
            raise SystemExit(f"{row[MODEL]}: FLOPs {row[FLOPS]} != 6 N D = {implied}")
    for model, (column, wrong, right) in CORRECTIONS.items():
        where = table[MODEL] == model
        if where.sum() != 1:
            raise SystemExit(f"{TABLE}: {model} to correct is not kept exactly once")
        value = table.loc[where, column].iloc[0]
        if Decimal(value) == Decimal(wrong):
            table.loc[where, column] = right
            notes.append(f"corrected {model}: {column} {value} -> {right}")
        elif Decimal(value) == Decimal(right):
            notes.append(f"no correction needed any more for {model}: {column} is {value}")
        else:
            raise SystemExit(f"{model}: {column} is {value}, expected {wrong} (typo) or {right}")
    runs = pd.DataFrame({
        "run": table[MODEL],
        "family": table[FAMILY],
        "params": [exact_count(v, 10**9) for v in table[SIZE]],
        "tokens": [exact_count(v, 10**12) for v in table[DATA]],
    })
    for column, (task, _, _, _) in TASKS.items():
        accuracy = pd.to_numeric(table[column], errors="raise").astype(float)
        if ((accuracy < 0) | (accuracy > 1)).any():
            raise SystemExit(f"{TABLE}: {column} outside [0, 1]")
        runs["acc:" + task] = accuracy.to_numpy()
    runs = runs.sort_values(["family", "params", "tokens", "run"], kind="mergesort").reset_index(drop=True)
    notes.append(f"kept {len(runs)} models in {runs['family'].nunique()} families; left out columns: "
                 f"{', '.join(LEFT_OUT)}; blanks: " + ", ".join(
                     f"{c[4:]} {int(runs[c].isna().sum())}" for c in runs.columns if c.startswith("acc:")))
    tasks = pd.DataFrame(
        [(task, chance, n, shots) for task, chance, n, shots in TASKS.values()],
        columns=["task", "chance", "n_examples", "shots"],
    )
    return runs, tasks, notes


def build(source: Source) -> tuple[dict[str, bytes], list[str]]:
    """The output files (name -> bytes) and notes."""
    table = pd.read_csv(io.BytesIO(source.read(TABLE)), dtype=str, keep_default_na=False, na_values=[""])
    runs, tasks, notes = convert(table)
    files = {"runs.csv": to_csv(runs), "tasks.csv": to_csv(tasks), "LICENSE": source.read(LICENSE_FILE)}
    return files, notes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return convert_main(argv, __doc__.splitlines()[0], "ryoungj/ObsScaling", "obsscaling", PINNED_COMMIT, build)


if __name__ == "__main__":
    sys.exit(main())
