"""The bundled testbed of Gadre et al. (2024): 104 runs, 8 loss splits, 46 task accuracies (MIT licence).

Shipped as `data/testbed.csv` (runs-table format) with `data/tasks.csv` (task metadata) and `data/testbed.json`
(units, provenance, licence). `tools/build_testbed.py` regenerates them from the paper's JSON files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.runs.readers.runs_table import BUNDLED_TASKS_FILE, read_runs_table, read_task_table
from overtrain.runs.table import RunTable

DATA = Path(str(resources.files("overtrain") / "data"))
RUNS_FILE = DATA / "testbed.csv"
TASKS_FILE = BUNDLED_TASKS_FILE
SIDECAR_FILE = DATA / "testbed.json"

_cache: dict[str, RunTable] = {}


def load_testbed() -> RunTable:
    """The bundled 104-run testbed as a RunTable (read once per process; the table is immutable).

    Returns
    -------
    RunTable
        The paper's 104 runs with the bundled task metadata, from source `bundled testbed`."""
    if "testbed" not in _cache:
        runs = read_runs_table(RUNS_FILE)
        _cache["testbed"] = RunTable(runs.frame, read_task_table(TASKS_FILE), source="bundled testbed")
    return _cache["testbed"]


def load_testbed_metadata() -> dict[str, Any]:
    """Units, provenance and licence of the bundled testbed.

    Returns
    -------
    dict
        The contents of `data/testbed.json`: name, paper, source, licence, units, splits, model configs."""
    return json.loads(SIDECAR_FILE.read_text(encoding="utf-8"))


# --- the development suite ----------------------------------------------------------------------------------
#
# Released training runs of other labs, converted into runs tables by `tools/convert_<name>.py` and shipped in
# `data/testbeds/<name>/` with their licence and provenance (README.md). Each `suite.json` says what a team would
# have trained first (`fit`, a filter) and what it would then forecast (`targets`), the loss split and task set,
# and the families to use (null: every run, or every run of `pooled_families`, is one family). Methods and
# interval calibrations are chosen on this suite leaving one testbed out; the paper's six targets are reported,
# never used to choose.

SUITE_DIR = DATA / "testbeds"
SUITE_EVIDENCE_FILE = DATA / "suite_evidence.csv"
SUITE_CHOICE_FILE = DATA / "suite_choice.json"


@dataclass(frozen=True)
class SuiteTestbed:
    """One testbed of the development suite: its runs, and which of them are fitted and which forecast."""

    name: str
    runs: RunTable
    loss_split: str | None
    tasks: tuple[str, ...] | str | None
    fit: str
    targets: str
    families: tuple[str, ...]
    fit_loss_set: str | None = None
    fit_error_set: str | None = None
    chooses: bool = True
    #: Pooled recipes (`pooled_families`) each keep their own offset from the pooled law: a run's recipe is in the
    #: `recipe` column, and its forecast is the pooled law's moved by where its recipe's fit runs sit against it.
    recipe_offsets: bool = False

    def fit_runs(self, family: str) -> RunTable:
        """The runs of `family` a team would have trained first."""
        return self.runs.family(family).select(self.fit)

    def target_runs(self, family: str) -> RunTable:
        """The runs of `family` to forecast."""
        return self.runs.family(family).select(self.targets)


def _pooled(runs: RunTable, name: str) -> RunTable:
    """Every run as one family called `name` (for testbeds whose families are not training distributions), each
    run's own family kept as its `recipe`."""
    return RunTable(runs.frame.assign(recipe=runs.frame["family"], family=name), runs.tasks, runs.source)


def _shipped_testbed(name: str) -> tuple[RunTable, dict[str, Any]]:
    """A shipped testbed's runs, every family its own (with its task table where it has one), and its `suite.json`."""
    folder = SUITE_DIR / name
    spec = json.loads((folder / "suite.json").read_text(encoding="utf-8"))
    runs = read_runs_table(folder / "runs.csv")
    tasks = read_task_table(folder / "tasks.csv") if (folder / "tasks.csv").is_file() else runs.tasks
    return RunTable(runs.frame, tasks, f"{name} testbed"), spec


def suite_names() -> list[str]:
    """The testbeds of the development suite: the paper's (small runs only; its six targets) and the shipped ones."""
    shipped = sorted(p.name for p in SUITE_DIR.iterdir() if (p / "suite.json").is_file())
    return ["gadre2024-small", "gadre2024", *shipped]


def load_suite_testbed(name: str) -> SuiteTestbed:
    """A testbed of the development suite by name (see `suite_names`)."""
    if name in ("gadre2024", "gadre2024-small"):
        runs = load_testbed()
        families = tuple(runs.families)
        if name == "gadre2024":
            fit = "params<1e9 | shape=open_lm_1b,multiplier=20"
            return SuiteTestbed(name, runs, "c4_val", "17", fit, "params>=1e9,multiplier!=20 | params>=5e9", families,
                                "paper-loss", "paper-error", chooses=False)
        return SuiteTestbed(name, runs, "c4_val", "17", "params<3e8", "params>3e8,params<1e9,multiplier>=20",
                            families, "paper-loss", "paper-error")
    if not (SUITE_DIR / name / "suite.json").is_file():
        raise OvertrainError(f"no development testbed {name!r} (testbeds: {', '.join(suite_names())})")
    runs, spec = _shipped_testbed(name)
    families = spec.get("families")
    if families is None:
        if spec.get("pooled_families"):
            runs = runs.select(" | ".join(f"family={family}" for family in spec["pooled_families"]))
        runs, families = _pooled(runs, name), [name]
    tasks = spec.get("tasks")
    return SuiteTestbed(name, runs, spec.get("loss_split"), tuple(tasks) if isinstance(tasks, list) else tasks,
                        spec["fit"], spec["targets"], tuple(families), chooses=bool(spec.get("chooses", True)),
                        recipe_offsets=bool(spec.get("recipe_offsets", False)))


@dataclass(frozen=True)
class RecipeTestbed:
    """A development testbed whose families are data recipes measured on one validation set and one task set, so
    a gap between two families means the same at every scale."""

    name: str
    runs: RunTable
    loss_split: str
    tasks: str | tuple[str, ...]


def load_recipe_testbeds() -> list[RecipeTestbed]:
    """The development suite's testbeds of several recipes at matched configurations: the paper's runs up to 0.411B
    (C4, RedPajama, RefinedWeb; its 1.4B and 6.9B targets left out) and DCLM's model database with every recipe its
    own family (its 22 core tasks). Porian et al.'s two families are not here: each family's loss is on its own
    dataset's validation set."""
    paper = load_testbed().select("params<1e9")
    dclm, spec = _shipped_testbed("dclm")
    return [RecipeTestbed("gadre2024-small", paper, "c4_val", "17"),
            RecipeTestbed("dclm", dclm, spec["loss_split"], tuple(spec["tasks"]))]


def load_suite_evidence(exclude: str | None = None) -> pd.DataFrame:
    """The development suite's held-out forecasts by the default method, with what their intervals are built from
    (`overtrain.trust.intervals.IntervalParts`) and the truth: the evidence intervals are calibrated on beside a user's
    own backtests. Written by `benchmarks/generalisation.py --write-evidence`; `exclude` leaves one testbed out. Empty
    where the file is absent."""
    if not SUITE_EVIDENCE_FILE.is_file():
        return pd.DataFrame(columns=["testbed", "family", "run", "quantity", "prediction", "true"])
    if "evidence" not in _evidence_cache:
        _evidence_cache["evidence"] = pd.read_csv(SUITE_EVIDENCE_FILE)
    frame = _evidence_cache["evidence"]
    return frame[frame["testbed"] != exclude] if exclude else frame


_evidence_cache: dict[str, pd.DataFrame] = {}


#: Per-task errors closer than this on `SAME_RUN_SHARE` of the tasks two runs share (and at least 3) are one run's,
#: whatever its name: a re-hosted run's evaluation differs from the original only in the digits kept (1e-9 here);
#: independent runs agree on a few small tasks at most (a 100-example task's error moves in steps of 0.01): 3 of
#: 22 at most in DCLM's database, against 22 of 22 for the re-hosted runs.
SAME_RUN_TOLERANCE = 1e-6
SAME_RUN_SHARE = 0.8


def judged_runs(evidence: pd.DataFrame, judged: RunTable) -> set[str]:
    """The runs of `evidence` (held-out forecasts, one row per quantity; a task's row names its run `RUN/task`) that
    are runs of `judged` under another name: their measured per-task errors agree with one judged run's within
    `SAME_RUN_TOLERANCE` on `SAME_RUN_SHARE` of the tasks they share, and on at least 3. DCLM's database re-hosts
    the paper's three 6.9B runs at M = 20 (C4, RedPajama, RefinedWeb) with their evaluations. Returns the
    evidence's run ids (without `/task`)."""
    rows = evidence[evidence["quantity"] == "task"]
    if rows.empty or len(judged) == 0:
        return set()
    parts = rows["run"].str.rpartition("/")
    base, task, truth = parts[0].to_numpy(), parts[2].to_numpy(), rows["true"].to_numpy(dtype=float)
    found = set()
    for run_id in dict.fromkeys(base):
        mine = base == run_id
        agree, shared = np.zeros(len(judged), dtype=int), np.zeros(len(judged), dtype=int)
        for name, value in zip(task[mine], truth[mine], strict=True):
            column = f"acc:{name}"
            if column in judged.frame:
                error = 1.0 - judged.frame[column].to_numpy(dtype=float)
                shared += np.isfinite(error)
                agree += np.abs(error - value) < SAME_RUN_TOLERANCE
        if np.any((agree >= 3) & (agree >= SAME_RUN_SHARE * shared)):
            found.add(run_id)
    return found


def without_judged_runs(evidence: pd.DataFrame) -> pd.DataFrame:
    """`evidence` without every row of a run that is one of the paper's six targets under another name
    (`judged_runs` against the bundled testbed's `paper-targets`): judged targets are never evidence."""
    targets = load_testbed().select("paper-targets")
    found = judged_runs(evidence, targets)
    if not found:
        return evidence
    base = evidence["run"].str.rpartition("/")[0].where(evidence["quantity"] == "task", evidence["run"])
    return evidence[~base.isin(found)].reset_index(drop=True)


def load_suite_choice() -> dict[str, Any] | None:
    """What the development suite chose and by how much (`error_law`: the candidates' mean |relative error| of
    held-out forecasts, and the chosen law; `intervals`: mean interval scores), written by
    `benchmarks/generalisation.py --write-evidence`; None where the file is absent."""
    if not SUITE_CHOICE_FILE.is_file():
        return None
    return json.loads(SUITE_CHOICE_FILE.read_text(encoding="utf-8"))
