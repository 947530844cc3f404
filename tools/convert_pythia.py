"""Convert the Pythia suite's lm-evaluation-harness results into a runs table and a task table.

    python tools/convert_pythia.py SOURCE OUT_DIR          # write runs.csv, tasks.csv and LICENSE into OUT_DIR
    python tools/convert_pythia.py SOURCE OUT_DIR --check  # verify OUT_DIR equals a fresh conversion

SOURCE is a git directory (bare, or a clone's `.git`) of github.com/EleutherAI/pythia, read at `--rev` (default
HEAD), or a checked-out copy. Read: `evals/pythia-v1/pythia-<size>[-deduped]/{zero,five}-shot/*_step<S>.json`
(Biderman et al., "Pythia: A Suite for Analyzing Large Language Models Across Training and Scaling", 2023: the
harness's accuracies of every model at checkpoints through training), `models/<SIZE>/pythia-<size>.yml` (the
GPT-NeoX configurations, for the parameter counts) and `LICENSE`. There are no losses.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testbed_source import Source, convert_main, to_csv

PINNED_COMMIT = "a19eecb807ec2c79a39ebf18108816e6ffffc1d5"
LICENSE_FILE = "LICENSE"
EVALS = "evals/pythia-v1"

#: size label -> (config directory, evaluation directory of the standard-Pile model). The standard 1B model was
#: trained in bf16 (the others in fp16); its evaluations are filed as `pythia-1b-bf16`.
SIZES = {
    "70m": ("70M", "pythia-70m"),
    "160m": ("160M", "pythia-160m"),
    "410m": ("410M", "pythia-410m"),
    "1b": ("1B", "pythia-1b-bf16"),
    "1.4b": ("1.4B", "pythia-1.4b"),
    "2.8b": ("2.8B", "pythia-2.8b"),
    "6.9b": ("6.9B", "pythia-6.9b"),
    "12b": ("12B", "pythia-12b"),
}
#: Parameter counts as the Pythia paper and model cards state them (embeddings and output layer included),
#: checked against the count computed from each configuration.
STATED_PARAMS = {
    "70m": 70_426_624, "160m": 162_322_944, "410m": 405_334_016, "1b": 1_011_781_632, "1.4b": 1_414_647_808,
    "2.8b": 2_775_208_960, "6.9b": 6_857_302_016, "12b": 11_846_072_320,
}
#: The GPT-NeoX-20B tokenizer's vocabulary, padded by GPT-NeoX to a multiple of 128 x the model-parallel degree.
TOKENIZER_VOCAB = 50277
#: Every Pythia model trains for 143,000 steps of 1024 sequences of 2048 tokens (the repository's README:
#: "143000 steps at a batch size of 2,097,152 tokens", 299,892,736,000 tokens in all).
TOKENS_PER_STEP = 1024 * 2048
FINAL_STEP = 143_000
#: Checkpoints converted: past the learning-rate warm-up (1% of training, 1430 steps), about doubling in tokens
#: up to the final step. The power-of-two checkpoints (steps 1-512, at most 1.1B tokens) all lie inside the
#: warm-up, where the models score at chance.
STEPS = (3000, 13000, 33000, 73000, 143000)
FAMILIES = {"": "pile", "-deduped": "pile_deduped"}
SHOTS = {"zero-shot": 0, "five-shot": 5}

# harness task -> (chance accuracy, examples scored). Chance is 1/k for k-way multiple choice (ARC has a few 3-
# and 5-way questions, so 0.25 is nominal there) and 0 for LAMBADA's exact next-word match. Each count is checked
# against every score: the harness's standard error is sqrt(p (1 - p) / (n - 1)).
TASKS = {
    "lambada_openai": (0.0, 5153),
    "piqa": (0.5, 1838),
    "winogrande": (0.5, 1267),
    "arc_easy": (0.25, 2376),
    "arc_challenge": (0.25, 1172),
    "sciq": (0.25, 1000),
    "logiqa": (0.25, 651),
}
#: Scored but left out: WSC (SuperGLUE's 104 yes/no questions, 63% "no": always answering "yes" scores 0.37, so
#: 0.5 is not its floor, and 104 examples are noisy).
LEFT_OUT = ("wsc",)
METRIC = "acc"


def neox_params(config: str) -> int:
    """Parameters of a GPT-NeoX model (untied input and output embeddings, LayerNorm, biases) from its config."""
    def value(key: str) -> int:
        found = re.search(rf'"{key}"\s*:\s*(\d+)', config)
        if found is None:
            raise SystemExit(f"config lacks {key}")
        return int(found.group(1))

    layers, width, parallel = value("num-layers"), value("hidden-size"), value("model-parallel-size")
    multiple = 128 * parallel
    vocab = math.ceil(TOKENIZER_VOCAB / multiple) * multiple
    return 2 * vocab * width + layers * (12 * width * width + 13 * width) + 2 * width


def read_eval(source: Source, path: str, model: str, step: int, shots: int) -> dict[str, float]:
    """The accuracies of one evaluation file, after checking it evaluates `model` at `step` with `shots` shots."""
    document = json.loads(source.read(path))
    config = document["config"]
    arguments = dict(part.split("=", 1) for part in config["model_args"].split(","))
    expected = f"EleutherAI/pythia-v1.1-{model.removeprefix('pythia-')}"
    if arguments.get("pretrained") != expected or arguments.get("revision") != f"step{step}":
        raise SystemExit(f"{path}: evaluates {config['model_args']}, expected {expected} at step{step}")
    if config["num_fewshot"] != shots:
        raise SystemExit(f"{path}: {config['num_fewshot']} shots, expected {shots}")
    scores = {}
    for task, (_, n) in TASKS.items():
        result = document["results"][task]
        p, stderr = result[METRIC], result[f"{METRIC}_stderr"]
        if 0 < p < 1 and round(p * (1 - p) / stderr**2 + 1) != n:
            raise SystemExit(f"{path}: {task} scored on {p * (1 - p) / stderr**2 + 1:.1f} examples, expected {n}")
        if abs(p * n - round(p * n)) > 1e-6:
            raise SystemExit(f"{path}: {task} accuracy {p} is not a multiple of 1/{n}")
        scores[task] = p
    return scores


def eval_file(files: list[str], folder: str, step: int) -> str:
    """The one evaluation file of `folder` at `step`."""
    found = [f for f in files if f.startswith(folder + "/") and f.endswith(f"_step{step}.json")]
    if len(found) != 1:
        raise SystemExit(f"{folder}: {len(found)} files at step {step}")
    return found[0]


def list_files(source: Source) -> list[str]:
    """Every file under the evaluations folder."""
    if source.git_dir is not None:
        listing = source._git("ls-tree", "-r", "--name-only", source.rev, EVALS)
        return listing.decode().split()
    return [str(p.relative_to(source.path)) for p in (source.path / EVALS).rglob("*.json")]


def convert(source: Source) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Build the runs and task tables; return them with notes."""
    files = list_files(source)
    rows = []
    for size, (config_dir, standard) in SIZES.items():
        params = neox_params(source.read(f"models/{config_dir}/pythia-{size}.yml").decode())
        if params != STATED_PARAMS[size]:
            raise SystemExit(f"pythia-{size}: {params} parameters from its config, stated {STATED_PARAMS[size]}")
        for suffix, family in FAMILIES.items():
            model = f"pythia-{size}{suffix}"
            folder = f"{EVALS}/{standard if not suffix else model}"
            for step in STEPS:
                row = {"run": f"{model}@step{step}", "family": family, "params": params,
                       "tokens": step * TOKENS_PER_STEP, "step": step}
                for shot_dir, shots in SHOTS.items():
                    path = eval_file(files, f"{folder}/{shot_dir}", step)
                    scores = read_eval(source, path, folder.rsplit("/", 1)[1], step, shots)
                    for task, value in scores.items():
                        row[f"acc:{task}" if shots == 0 else f"acc:{task}_5shot"] = value
                rows.append(row)
    runs = pd.DataFrame(rows)
    runs = runs[["run", "family", "params", "tokens", "step"]
                + [f"acc:{t}" for t in TASKS] + [f"acc:{t}_5shot" for t in TASKS]]
    runs = runs.sort_values(["family", "params", "tokens"], kind="mergesort").reset_index(drop=True)
    tasks = pd.DataFrame(
        [(task, chance, n, 0) for task, (chance, n) in TASKS.items()]
        + [(f"{task}_5shot", chance, n, 5) for task, (chance, n) in TASKS.items()],
        columns=["task", "chance", "n_examples", "shots"],
    )
    notes = [f"{len(runs)} runs: {runs['family'].nunique()} families x {len(SIZES)} sizes x {len(STEPS)} steps "
             f"{STEPS}; {len(tasks)} tasks; left out: {', '.join(LEFT_OUT)}"]
    return runs, tasks, notes


def build(source: Source) -> tuple[dict[str, bytes], list[str]]:
    """The output files (name -> bytes) and notes."""
    runs, tasks, notes = convert(source)
    files = {"runs.csv": to_csv(runs), "tasks.csv": to_csv(tasks), "LICENSE": source.read(LICENSE_FILE)}
    return files, notes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return convert_main(argv, __doc__.splitlines()[0], "EleutherAI/pythia", "pythia", PINNED_COMMIT, build)


if __name__ == "__main__":
    sys.exit(main())
