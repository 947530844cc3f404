"""Reader and writer for the runs-table format (CSV, or Parquet with the `parquet` extra).

One row per run. Required: `run` (unique id), `params` (N, total parameters), `tokens` (D).
Intermediate checkpoints may be given as rows with a `checkpoint_of` run id, or as rows repeating a run id with a
`step` column (the last step is the run); see `overtrain.runs.table`.
Optional: `family`, `shape`, `multiplier` (default D/N), `flops` (default 6ND); `loss:<split>` columns (a plain
`loss` column is split `default`) with optional `loss_lower95:<split>` / `loss_upper95:<split>`;
`acc:<task>` accuracies in [0, 1] or `err:<task>` errors (accuracy = 1 - error).
A task-metadata table has columns `task, chance` and optionally `category, shots, n_examples`.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.files import write_atomic
from overtrain.runs.table import (
    ACC,
    CHECKPOINT_OF,
    LOSS,
    TASKLOSS,
    UNREAD,
    RunTable,
    flops_from,
    refuse_implausible,
)
from overtrain.runs.tasks import TASK_COLUMNS

ERR = "err:"
#: The bundled task table: the paper's tasks with their chance accuracies (also what other readers fall back on).
BUNDLED_TASKS_FILE = Path(str(resources.files("overtrain") / "data" / "tasks.csv"))
# pandas 3 parses floats exactly by default and deprecates the option that older versions need for it.
_EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def _delimiter(path: Path) -> str:
    """The CSV's delimiter: a comma, unless the header has none and is split by semicolons or tabs instead (as
    spreadsheets in many locales write CSV)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    if "," in header:
        return ","
    return max((";", "\t"), key=header.count) if (";" in header or "\t" in header) else ","


def read_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise OvertrainError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            try:
                return pd.read_parquet(path)
            except ImportError:
                raise OvertrainError(
                    f"{path}: reading Parquet needs the optional extra: pip install 'overtrain[parquet]'"
                ) from None
        return pd.read_csv(path, keep_default_na=False, na_values=[""], sep=_delimiter(path), **_EXACT_FLOATS)
    except OvertrainError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OvertrainError(f"{path}: cannot read as a table ({message})") from None


#: Columns read as they are named (besides the `loss:`, `loss_lower95:`, `loss_upper95:`, `acc:`, `err:` and
#: `taskloss:` families and a plain `loss`).
KNOWN_COLUMNS = ("run", "family", "shape", "params", "tokens", "multiplier", "flops", "step", CHECKPOINT_OF,
                 "recipe")
_PREFIXES = (LOSS, "loss_lower95:", "loss_upper95:", ACC, ERR, TASKLOSS)
_PLAIN_NAMES = {"name": "run", "model": "run", "model_name": "run", "id": "run", "run_id": "run",
                "n_params": "params", "num_params": "params", "parameters": "params", "model_size": "params",
                "n_tokens": "tokens", "num_tokens": "tokens", "train_tokens": "tokens", "data": "family",
                "dataset": "family"}


def read_runs_table(path: str | Path, tasks: str | Path | None = None, columns: dict[str, str] | None = None, *,
                    allow_implausible: bool = False) -> RunTable:
    """Read a runs table (CSV or Parquet) and an optional task-metadata table; `columns` renames a table's own
    column names to overtrain's (e.g. {"val_loss": "loss:val"}) before anything is read. Columns overtrain does
    not read are named in the table's notes, each with the name it may have meant. Sizes no model has been trained
    at (a unit slip: 50 for 50M) are refused unless `allow_implausible` (then they are a note).

    Parameters
    ----------
    path : str or Path
        The runs table: CSV (comma, semicolon or tab separated) or Parquet (`.parquet`, `.pq`).
    tasks : str or Path, optional
        A task-metadata table: `task, chance` and optionally `category, shots, n_examples`.
    columns : dict of str to str, optional
        The table's own column names renamed to overtrain's, OLD -> NEW.
    allow_implausible : bool
        Keep implausible sizes, with a note, instead of refusing them.

    Returns
    -------
    RunTable
        The runs (`err:<task>` read as accuracy 1 - error), the columns not read named in its notes."""
    path = Path(path)
    frame = read_frame(path)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame = renamed(frame, columns or {}, path)
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise OvertrainError(f"{path}: column {repeated[0]!r} appears more than once; keep one (or rename the "
                             "others with --column)")
    unread = [c for c in frame.columns if c not in KNOWN_COLUMNS and c != "loss" and not c.startswith(_PREFIXES)]
    if "run" not in frame.columns:
        hint = next((f"; map it: --column {c}=run" for c in unread if _PLAIN_NAMES.get(c.lower()) == "run"), "")
        raise OvertrainError(f"{path}: missing required column 'run'{hint}")
    if "loss" in frame.columns:
        frame = frame.rename(columns={"loss": LOSS + "default"})
    for column in [c for c in frame.columns if c.startswith(ERR)]:
        task = column[len(ERR) :]
        if ACC + task in frame.columns:
            raise OvertrainError(f"{path}: task {task!r} given both as {ACC + task} and {column}")
        errors = pd.to_numeric(frame[column], errors="coerce")
        bad = errors.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise OvertrainError(
                f"{path}: run {frame['run'].iloc[row]!r}: {column} = {frame[column].iloc[row]!r} is not a number"
            )
        frame[ACC + task] = 1.0 - errors
        frame = frame.drop(columns=column)
    task_table = read_task_table(Path(tasks)) if tasks is not None else None
    notes = (unread_note(unread),) if unread else ()
    runs = RunTable.from_frame(frame, task_table, source=str(path), notes=notes)
    if not allow_implausible:
        refuse_implausible(runs)
    return runs


def renamed(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> pd.DataFrame:
    """`frame` with its columns renamed as `columns` says (OLD -> NEW); a name the table lacks, or a new name it
    already has, is an error naming both."""
    for old, new in columns.items():
        if old not in frame.columns:
            listed = ", ".join(map(str, frame.columns[:12])) + (", ..." if len(frame.columns) > 12 else "")
            raise OvertrainError(f"{path}: --column {old}={new}: no column {old!r} (columns: {listed})")
        if new in frame.columns and new != old:
            raise OvertrainError(f"{path}: --column {old}={new}: the table already has a column {new!r}")
    return frame.rename(columns=columns)


def suggested_name(column: str) -> str | None:
    """The overtrain column a table's own column name most likely means (val_loss -> loss:val, acc_piqa ->
    acc:piqa, eval/c4_en-validation/CrossEntropyLoss -> loss:c4_en-validation), or None."""
    lower = column.lower()
    if lower in _PLAIN_NAMES:
        return _PLAIN_NAMES[lower]
    for pattern, prefix in ((r"^(?:acc|accuracy)[_\-.:/](.+)$", ACC), (r"^(.+?)[_\-.:/](?:acc|accuracy)$", ACC),
                            (r"^(?:err|error)[_\-.:/](.+)$", ERR)):
        match = re.match(pattern, column, flags=re.IGNORECASE)
        if match:
            return prefix + match.group(1)
    if "loss" in lower:
        parts = [p for p in re.split(r"/", column) if p]
        if len(parts) >= 2 and "loss" in parts[-1].lower():
            return LOSS + parts[-2]
        name = re.sub(r"(?i)(cross[_\-]?entropy[_\-]?)?loss", "", column).strip("_-.: ")
        return LOSS + (name or "default")
    return None


def unread_note(unread: list[str]) -> str:
    """One line naming the columns not read, each with the --column that would read it where one is likely."""
    shown = []
    for column in unread[:6]:
        guess = suggested_name(column)
        shown.append(f"{column!r}" + (f" (--column {column}={guess}?)" if guess else ""))
    more = f" and {len(unread) - 6} more" if len(unread) > 6 else ""
    return (f"{len(unread)} column{'s' * (len(unread) != 1)} {UNREAD}: {', '.join(shown)}{more}; overtrain reads "
            "run, family, params, tokens, loss:<split>, acc:<task> (or err:<task>), taskloss:<task>")


def read_task_table(path: Path) -> pd.DataFrame:
    """Read task metadata: `task, chance` (accuracy of random guessing, in [0, 1]) and optional columns."""
    frame = read_frame(path)
    for required in ("task", "chance"):
        if required not in frame.columns:
            raise OvertrainError(f"{path}: missing required column {required!r}")
    for column in TASK_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA
    chance = pd.to_numeric(frame["chance"], errors="coerce")
    bad = chance.isna() | (chance < 0) | (chance > 1)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise OvertrainError(f"{path}: task {frame['task'].iloc[row]!r}: chance = {frame['chance'].iloc[row]!r} "
                             "is not an accuracy in [0, 1]")
    frame["chance"] = chance.astype(float)
    return frame[list(TASK_COLUMNS)].set_index("task")


def known_chance(tasks: list[str], aliases: dict[str, str] | None = None) -> dict[str, float]:
    """Chance accuracy of those of `tasks` the bundled task table knows (arc_easy, hellaswag, piqa, winogrande...,
    also under the names in `aliases`): runs tables and harness results rarely record it, and the sigmoid and
    per-task laws need it."""
    bundled = _bundled_chance()
    aliases = aliases or {}
    return {task: bundled[aliases.get(task, task)] for task in tasks if aliases.get(task, task) in bundled}


@functools.cache
def _bundled_chance() -> dict[str, float]:
    return {str(task): float(chance) for task, chance in read_task_table(BUNDLED_TASKS_FILE)["chance"].items()}


def with_known_chance(runs: RunTable) -> RunTable:
    """`runs` with the chance accuracy of each task it carries that its task table lacks and the bundled one
    knows."""
    missing = [t for t in runs.task_names if t not in runs.tasks.index or pd.isna(runs.tasks.loc[t, "chance"])]
    known = known_chance(missing) if missing else {}
    if not known:
        return runs
    tasks = runs.tasks.reindex(runs.tasks.index.union(list(known)))
    tasks.loc[list(known), "chance"] = [known[t] for t in known]
    return runs.with_tasks(tasks)


def write_runs_table(runs: RunTable, path: str | Path) -> None:
    """Write runs as a CSV (or Parquet by suffix) that `read_runs_table` reads back exactly.

    Parameters
    ----------
    runs : RunTable
        The runs, with their checkpoints.
    path : str or Path
        Where to write: Parquet for a `.parquet` or `.pq` suffix, else CSV.

    Returns
    -------
    None
        The file is written whole or not at all; `flops` only where it is not 6 N D, no task metadata."""
    path = Path(path)
    frame = runs.to_frame()
    if runs.checkpoints is not None:
        frame = pd.concat([frame, runs.checkpoints.to_frame()], ignore_index=True)
    if (frame["flops"] == flops_from(frame["params"], frame["tokens"])).all():
        frame = frame.drop(columns="flops")
    if path.suffix.lower() in (".parquet", ".pq"):
        write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))


def write_task_table(tasks: pd.DataFrame, path: str | Path) -> None:
    """Write task metadata as CSV."""
    write_atomic(Path(path), lambda tmp: tasks.reset_index().to_csv(tmp, index=False, lineterminator="\n"))
