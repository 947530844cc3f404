"""Downstream tasks: metadata (chance level, number of examples), named task sets, average top-1 error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from overtrain.errors import OvertrainError

#: The paper's 17-task subset: tasks on which some 0.154B model is at least 10 points above chance.
PAPER_17: tuple[str, ...] = (
    "arc_easy", "bigbench_cs_algorithms", "bigbench_dyck_languages", "bigbench_novel_concepts",
    "bigbench_operators", "bigbench_qa_wikidata", "boolq", "commonsense_qa", "copa", "coqa",
    "hellaswag_zeroshot", "hellaswag", "lambada_openai", "piqa", "pubmed_qa_labeled", "squad", "winograd",
)

#: The paper's 46 evaluation tasks: the 17 above plus 29 more.
PAPER_46: tuple[str, ...] = (
    *PAPER_17,
    "agi_eval_lsat_ar", "agi_eval_lsat_rc", "agi_eval_lsat_lr", "agi_eval_sat_en", "arc_challenge", "bbq",
    "bigbench_conceptual_combinations", "bigbench_conlang_translation", "bigbench_elementary_math_qa",
    "bigbench_misconceptions", "bigbench_language_identification", "bigbench_logical_deduction",
    "bigbench_repeat_copy_logic", "bigbench_strange_stories", "bigbench_strategy_qa",
    "bigbench_understanding_fables", "enterprise_pii_classification", "jeopardy", "logi_qa", "math_qa", "mmlu",
    "mmlu_zeroshot", "openbook_qa", "siqa", "simple_arithmetic_nospaces", "simple_arithmetic_withspaces",
    "winogender_mc_female", "winogender_mc_male", "winogrande",
)

#: Named task sets; any other spec is "all" or a comma-separated list of task names.
TASK_SETS: dict[str, tuple[str, ...]] = {"17": PAPER_17, "46": PAPER_46}

TASK_COLUMNS = ("task", "category", "shots", "n_examples", "chance")


@dataclass(frozen=True)
class TaskSet:
    """A named, ordered set of tasks whose average top-1 error a law forecasts."""

    name: str
    tasks: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tasks)


def resolve_task_set(spec: str | Sequence[str] | TaskSet, available: Iterable[str]) -> TaskSet:
    """Turn `spec` ("17", "46", "all", "a,b,c" or a list) into a TaskSet of tasks the runs carry."""
    available = list(available)
    if isinstance(spec, TaskSet):
        name, tasks = spec.name, spec.tasks
    elif isinstance(spec, str) and spec in TASK_SETS:
        name, tasks = spec, TASK_SETS[spec]
    elif isinstance(spec, str) and spec == "all":
        name, tasks = "all", tuple(available)
    else:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        tasks = tuple(t.strip() for t in items if t.strip())
        name = ",".join(tasks) if len(tasks) <= 3 else f"{len(tasks)} tasks"
    if not tasks:
        raise OvertrainError(f"task set {spec!r} is empty")
    if len(set(tasks)) != len(tasks):
        raise OvertrainError(f"task set {spec!r} names a task twice")
    missing = [t for t in tasks if t not in available]
    if missing:
        known = ", ".join(sorted(TASK_SETS)) + ", all"
        raise OvertrainError(
            f"task set {name!r}: task {missing[0]!r} is not in the runs"
            + (f" ({len(missing)} tasks missing)" if len(missing) > 1 else "")
            + f"; named sets are {known}"
        )
    return TaskSet(name, tasks)


def empty_task_table() -> pd.DataFrame:
    """A task-metadata table with no rows and the standard columns."""
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("chance",) else object) for c in TASK_COLUMNS}).set_index(
        "task"
    )


def average_error(accuracies: pd.DataFrame) -> pd.Series:
    """Average top-1 error per run: mean over tasks (columns) of 1 - accuracy."""
    return (1.0 - accuracies).mean(axis=1)
