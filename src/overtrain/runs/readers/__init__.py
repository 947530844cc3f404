"""Readers: each input format becomes a RunTable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from overtrain.errors import OvertrainError
from overtrain.runs.readers.lmeval import is_lm_eval_dir, read_lm_eval_dir
from overtrain.runs.readers.openlm import read_openlm_dir
from overtrain.runs.readers.runs_table import read_runs_table, read_task_table, with_known_chance, write_runs_table
from overtrain.runs.table import RunTable, refuse_implausible

__all__ = ["read_lm_eval_dir", "read_openlm_dir", "read_runs", "read_runs_table", "write_runs_table"]


def read_runs(path: str | Path, *, sizes: str | Path | Sequence[str | Path] | None = None,
              task_info: str | Path | None = None, columns: dict[str, str] | None = None,
              allow_implausible: bool = False) -> RunTable:
    """Read runs from any supported source.

    - a runs table (CSV, or Parquet with the `parquet` extra);
    - a directory of open_lm model JSONs and `evaluation_*_heavy.json` files (the paper's format);
    - a directory of lm-evaluation-harness `results*.json` files, with `sizes`, a runs table giving each
      run's `params` and `tokens` (several tables are joined on `run`, e.g. losses from training logs).

    `task_info` is an optional task-metadata table (`task, chance[, category, shots, n_examples]`); without it,
    tasks the bundled task table knows get its chance accuracy. `columns` renames a runs table's own column names
    to overtrain's before reading (e.g. {"val_loss": "loss:val"}).

    A run whose params or tokens no model has been trained at (a unit slip: 50 for 50M) is an error naming it,
    unless `allow_implausible` acknowledges such sizes (they are then a note of the table).

    Parameters
    ----------
    path : str or Path
        A runs table or a directory of open_lm or harness results.
    sizes : path or sequence of paths, optional
        Runs tables giving each harness run's `params` and `tokens`.
    task_info : path, optional
        The task-metadata table.
    columns : dict, optional
        The table's column names mapped to overtrain's.
    allow_implausible : bool
        Accept sizes no model has been trained at.

    Returns
    -------
    RunTable
        One row per run (checkpoints kept apart); bad input raises `OvertrainError` naming the file and the row.
    """
    path = Path(path)
    if not path.exists():
        raise OvertrainError(f"{path}: no such file or directory")
    if path.is_dir():
        is_openlm = (path / "models").is_dir() or any(
            not p.name.startswith(("evaluation_", "results")) for p in path.glob("*.json")
        )
        if is_openlm:
            runs = read_openlm_dir(path)
        elif is_lm_eval_dir(path):
            if not sizes:
                raise OvertrainError(
                    f"{path}: lm-evaluation-harness results need a sizes table with run, params, tokens (--sizes)"
                )
            runs = read_lm_eval_dir(path, sizes)
        else:
            raise OvertrainError(f"{path}: no open_lm model JSONs or lm-evaluation-harness results found")
    else:
        runs = read_runs_table(path, columns=columns, allow_implausible=True)
    if not allow_implausible:
        refuse_implausible(runs)
    if task_info is not None:
        return runs.with_tasks(read_task_table(Path(task_info)))
    return with_known_chance(runs)
