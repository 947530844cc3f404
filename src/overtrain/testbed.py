"""The bundled testbed of Gadre et al. (2024): 104 runs, 8 loss splits, 46 task accuracies (MIT licence).

Shipped as `data/testbed.csv` (runs-table format) with `data/tasks.csv` (task metadata) and `data/testbed.json`
(units, provenance, licence). `tools/build_testbed.py` regenerates them from the paper's JSON files.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from overtrain.readers.table import read_runs_table, read_task_table
from overtrain.runs import RunTable

DATA = Path(str(resources.files("overtrain") / "data"))
RUNS_FILE = DATA / "testbed.csv"
TASKS_FILE = DATA / "tasks.csv"
SIDECAR_FILE = DATA / "testbed.json"

_cache: dict[str, RunTable] = {}


def load_testbed() -> RunTable:
    """The bundled 104-run testbed as a RunTable (read once per process; the table is immutable)."""
    if "testbed" not in _cache:
        runs = read_runs_table(RUNS_FILE)
        _cache["testbed"] = RunTable(runs.frame, read_task_table(TASKS_FILE), source="bundled testbed")
    return _cache["testbed"]


def load_testbed_metadata() -> dict[str, Any]:
    """Units, provenance and licence of the bundled testbed."""
    return json.loads(SIDECAR_FILE.read_text(encoding="utf-8"))
