"""Reader for the paper's own format: open_lm model JSONs plus `evaluation_<stem>_heavy.json` files.

A directory holds either `models/` and `evals/` sub-directories (the released testbed's layout) or both kinds
of file side by side. Each model JSON gives one run: `dataset_name` (family), `hyperparameters.params` (N,
embeddings included), `hyperparameters.tokens` (D), `hyperparameters.chinchilla_multiplier` (M = 20 x this),
`hyperparameters.model` (shape) and `results[]` (one loss evaluation per split; the split is named by the
second-last component of `val_data[0]`, or by the file stem for the German split). An optional
`eval_metadata.csv` supplies task metadata.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.runs.table import ACC, LOSS, LOSS_LOWER, LOSS_UPPER, RunTable
from overtrain.runs.tasks import TASK_COLUMNS

#: The directory name `openlm` holds the OpenLM validation set, called `open_lm_val` in the paper's data card.
SPLIT_ALIASES = {"openlm": "open_lm_val", "de-en": "val_de-en_100"}
EVAL_PREFIX, EVAL_SUFFIX = "evaluation_", "_heavy.json"


def split_name(val_data_path: str) -> str:
    """The loss split an open_lm result belongs to, from its `val_data[0]` path."""
    parts = val_data_path.strip("/").split("/")
    stem = parts[-1].split(".")[0]
    if stem.startswith("val_de-en"):
        return stem
    directory = parts[-2] if len(parts) >= 2 else stem
    return SPLIT_ALIASES.get(directory, directory)


def read_openlm_dir(path: str | Path) -> RunTable:
    """Read a directory in the paper's JSON format into a RunTable.

    Parameters
    ----------
    path : str or Path
        A directory holding `models/` and `evals/`, or the model and `evaluation_<run>_heavy.json` files side by side.

    Returns
    -------
    RunTable
        One run per model JSON: family, shape, N, D, M, its loss on each split and its task accuracies."""
    root = Path(path)
    if not root.is_dir():
        raise OvertrainError(f"{root}: not a directory")
    if (root / "models").is_dir():
        model_files = sorted((root / "models").glob("*.json"))
        eval_dir = root / "evals"
    else:
        model_files = sorted(p for p in root.glob("*.json") if not p.name.startswith(EVAL_PREFIX))
        eval_dir = root
    if not model_files:
        raise OvertrainError(f"{root}: no open_lm model JSON files found")
    rows = [_read_model(f, eval_dir) for f in model_files]
    frame = pd.DataFrame(rows)
    tasks = read_eval_metadata(root / "eval_metadata.csv") if (root / "eval_metadata.csv").is_file() else None
    return RunTable.from_frame(frame, tasks, source=str(root))


def load_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise OvertrainError(f"{file}: malformed JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OvertrainError(f"{file}: cannot read ({exc})") from None


def _field(data: Any, file: Path, *keys: str) -> Any:
    value = data
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise OvertrainError(f"{file}: missing field {'.'.join(keys)!r}")
        value = value[key]
    return value


def _number(data: Any, file: Path, *keys: str) -> float:
    value = _field(data, file, *keys)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OvertrainError(f"{file}: field {'.'.join(keys)!r} = {value!r} is not a finite number")
    return float(value)


def _read_model(file: Path, eval_dir: Path) -> dict[str, Any]:
    data = load_json(file)
    if not isinstance(data, dict):
        raise OvertrainError(f"{file}: expected a JSON object, found {type(data).__name__}")
    run = file.stem
    shape = str(_field(data, file, "hyperparameters", "model"))
    row: dict[str, Any] = {
        "run": run,
        "family": str(_field(data, file, "dataset_name")),
        "shape": shape.rsplit("/", 1)[-1].removesuffix(".json"),
        "params": _number(data, file, "hyperparameters", "params"),
        "tokens": _number(data, file, "hyperparameters", "tokens"),
        "multiplier": 20.0 * _number(data, file, "hyperparameters", "chinchilla_multiplier"),
    }
    results = _field(data, file, "results")
    if not isinstance(results, list):
        raise OvertrainError(f"{file}: field 'results' is not a list")
    for i, result in enumerate(results):
        val_data = result.get("val_data") if isinstance(result, dict) else None
        if not isinstance(val_data, list) or not val_data or not isinstance(val_data[0], str):
            raise OvertrainError(f"{file}: results[{i}] has no val_data path")
        split = split_name(val_data[0])
        if LOSS + split in row:
            raise OvertrainError(f"{file}: results[{i}] repeats loss split {split!r}")
        row[LOSS + split] = _number(result, file, "loss")
        for key, prefix in (("loss_sequences_lower_95", LOSS_LOWER), ("loss_sequences_upper_95", LOSS_UPPER)):
            if key in result:
                row[prefix + split] = _number(result, file, key)
    eval_file = eval_dir / f"{EVAL_PREFIX}{run}{EVAL_SUFFIX}"
    if eval_file.is_file():
        accuracies = _field(load_json(eval_file), eval_file, "eval_metrics", "icl")
        if not isinstance(accuracies, dict):
            raise OvertrainError(f"{eval_file}: field 'eval_metrics.icl' is not an object")
        for task in accuracies:
            row[ACC + task] = _number(accuracies, eval_file, task)
    return row


def read_eval_metadata(file: Path) -> pd.DataFrame:
    """Task metadata from the paper's `eval_metadata.csv`; chance accuracy converted from percent to [0, 1]."""
    try:
        raw = pd.read_csv(file)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OvertrainError(f"{file}: cannot read task metadata ({exc})") from None
    columns = {"Eval Task": "task", "Task Category": "category", "#shots": "shots", "#datapoints": "n_examples",
               "Random baseline": "chance"}
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise OvertrainError(f"{file}: missing column {missing[0]!r}")
    tasks = raw[list(columns)].rename(columns=columns)
    tasks["chance"] = tasks["chance"].astype(float) / 100.0
    return tasks[list(TASK_COLUMNS)].set_index("task")
