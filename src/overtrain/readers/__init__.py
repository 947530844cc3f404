"""Readers: each input format becomes a RunTable."""

from __future__ import annotations

from pathlib import Path

from overtrain.errors import OvertrainError
from overtrain.readers.openlm import read_openlm_dir
from overtrain.readers.table import read_runs_table, write_runs_table
from overtrain.runs import RunTable

__all__ = ["read_openlm_dir", "read_runs", "read_runs_table", "write_runs_table"]


def read_runs(path: str | Path, tasks: str | Path | None = None) -> RunTable:
    """Read runs from any supported source: a runs table (CSV/Parquet) or a directory of open_lm JSONs."""
    path = Path(path)
    if path.is_dir():
        return read_openlm_dir(path)
    if not path.exists():
        raise OvertrainError(f"{path}: no such file or directory")
    return read_runs_table(path, tasks)
