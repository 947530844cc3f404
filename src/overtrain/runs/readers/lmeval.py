"""Reader for lm-evaluation-harness output: `results*.json` files plus a sizes table keyed by run.

The harness records accuracies but not N or D, so a sizes table (runs-table format: `run, params, tokens`
and optionally `family`, `loss:<split>` ...) supplies them. A results file belongs to the run whose id equals
its directory name (the harness writes `<output_path>/<model name with / as __>/results_<time>.json`), its
`model_name`, or the `pretrained=` value of its `config.model_args` (with `/` or as `__`). Several files of
one run are merged task by task, later file names (timestamps) winning.

Metric per task, documented choice: `acc_norm` when present, else `acc`, else `exact_match`; read from v0.4
keys (`"acc_norm,none"`; any filter after the comma, `none` preferred) or older bare keys (`"acc_norm"`).
Tasks with none of these (perplexity-only, for example) are skipped. Harness v0.4 `n-samples` become the
task metadata's `n_examples`; chance accuracies come from the bundled task table where it knows the task
(`--task-info` overrides them). A run may also be named by the last part of its `pretrained=` path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from overtrain.errors import InputProblems, OvertrainError
from overtrain.runs.readers.openlm import load_json
from overtrain.runs.readers.runs_table import known_chance, read_frame
from overtrain.runs.table import ACC, RunTable
from overtrain.runs.tasks import TASK_COLUMNS

METRICS = ("acc_norm", "acc", "exact_match")
#: Harness task names that the bundled task table spells otherwise.
HARNESS_NAMES = {"openbookqa": "openbook_qa"}


def is_lm_eval_dir(path: Path) -> bool:
    """Whether a directory holds lm-evaluation-harness results files."""
    return next(path.rglob("results*.json"), None) is not None


def task_metric(values: dict[str, Any]) -> tuple[str, float] | None:
    """The chosen metric of one task's results, as (name, value), or None when it has none of METRICS."""
    for metric in METRICS:
        candidates = [metric, f"{metric},none", *sorted(k for k in values if k.startswith(f"{metric},"))]
        for key in candidates:
            value = values.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return metric, float(value)
    return None


def _run_keys(file: Path, data: dict[str, Any]) -> list[str]:
    keys = [file.parent.name]
    names = [data.get("model_name")]
    config = data.get("config")
    if isinstance(config, dict) and isinstance(config.get("model_args"), str):
        for part in config["model_args"].split(","):
            name, _, value = part.partition("=")
            if name.strip() == "pretrained":
                names.append(value.strip())
    for name in names:
        if isinstance(name, str) and name:
            keys += [name, name.replace("/", "__"), name.rstrip("/").rsplit("/", 1)[-1]]
    return keys


def sizes_frame(tables: Sequence[Path]) -> pd.DataFrame:
    """The runs tables that supply what the harness does not record, joined on `run`: the first lists the runs
    (with params and tokens), each further one adds columns (e.g. losses from training logs) for some of them."""
    frames = []
    for table in tables:
        frame = read_frame(table)
        if "run" not in frame.columns:
            raise OvertrainError(f"{table}: missing required column 'run'")
        frame = frame.assign(run=frame["run"].astype(str)).set_index("run")
        if frame.index.duplicated().any():
            raise OvertrainError(f"{table}: run {frame.index[frame.index.duplicated()][0]!r} appears twice")
        frames.append((table, frame))
    merged = frames[0][1]
    for table, frame in frames[1:]:
        clashing = [c for c in frame.columns if c in merged.columns]
        if clashing:
            raise OvertrainError(f"{table}: column {clashing[0]!r} is already given by an earlier --sizes table")
        unknown = [r for r in frame.index if r not in merged.index]
        if unknown:
            raise OvertrainError(f"{table}: run {unknown[0]!r} is not in {frames[0][0]}")
        merged = merged.join(frame)
    return merged.reset_index()


def read_lm_eval_dir(path: str | Path, sizes: str | Path | Sequence[str | Path]) -> RunTable:
    """Read harness results under `path`, with N and D (and anything else) from the `sizes` table (or several,
    joined on `run`: see `sizes_frame`).

    Parameters
    ----------
    path : str or Path
        The directory searched, sub-directories included, for the harness's `results*.json` files.
    sizes : str, Path or sequence of them
        The runs table giving each run's `run`, `params` and `tokens`; further tables add columns for its runs.

    Returns
    -------
    RunTable
        Every run of the first sizes table, with an `acc:<task>` column per task its results files score."""
    root = Path(path)
    tables = [Path(sizes)] if isinstance(sizes, str | Path) else [Path(t) for t in sizes]
    sizes = tables[0]
    frame = sizes_frame(tables)
    runs = [str(r) for r in frame["run"]]
    files = sorted(root.rglob("results*.json"), key=lambda p: (p.name, str(p)))
    if not files:
        raise OvertrainError(f"{root}: no lm-evaluation-harness results*.json files found")
    accuracies: dict[str, dict[str, float]] = {run: {} for run in runs}
    origin: dict[tuple[str, str], Path] = {}
    notes: list[str] = []
    n_examples: dict[str, int] = {}
    problems: list[str] = []
    for file in files:
        try:
            data = load_json(file)
        except OvertrainError as error:
            problems.append(str(error))
            continue
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict):
            problems.append(f"{file}: no 'results' object; not an lm-evaluation-harness results file")
            continue
        keys = _run_keys(file, data)
        run = next((k for k in keys if k in accuracies), None)
        if run is None:
            problems.append(f"{file}: matches no run of {sizes} (tried {', '.join(dict.fromkeys(keys))}); "
                            "add a row whose run is the results directory name or the model name")
            continue
        for task, values in results.items():
            chosen = task_metric(values) if isinstance(values, dict) else None
            if chosen is None:
                continue
            if not math.isfinite(chosen[1]):
                problems.append(f"{file}: task {task!r}: {chosen[0]} = {chosen[1]!r} is not finite")
                continue
            if (run, task) in origin:
                notes.append(f"run {run!r}: task {task!r} is in {origin[run, task].name} and {file.name}; kept "
                             f"{file.name}, the later one")
            origin[run, task] = file
            accuracies[run][task] = chosen[1]
        samples = data.get("n-samples")
        if isinstance(samples, dict):
            for task, counts in samples.items():
                if isinstance(counts, dict) and isinstance(counts.get("effective"), int):
                    n_examples[task] = counts["effective"]
    table = pd.DataFrame.from_dict(accuracies, orient="index")
    table.columns = [ACC + str(c) for c in table.columns]
    clashing = [c for c in table.columns if c in frame.columns]
    if clashing:
        raise OvertrainError(f"{sizes}: column {clashing[0]!r} is also read from the harness results")
    merged = frame.set_index(frame["run"].astype(str)).drop(columns="run").join(table)
    names = sorted({t[len(ACC):] for t in table.columns} | set(n_examples))
    known = known_chance(names, HARNESS_NAMES)
    tasks = pd.DataFrame(
        {"task": names, "category": None, "shots": None,
         "n_examples": [n_examples.get(t, float("nan")) for t in names],
         "chance": [known.get(t, float("nan")) for t in names]}
    )[list(TASK_COLUMNS)].set_index("task")
    try:
        run_table = RunTable.from_frame(merged.rename_axis("run").reset_index(), tasks, source=str(root),
                                        notes=tuple(notes))
    except OvertrainError as found:
        if not problems:
            raise
        raise InputProblems(problems + getattr(found, "problems", [str(found)])) from None
    if problems:
        raise InputProblems(problems)
    return run_table
