"""Advice on a run table before anyone fits it: what is missing or makes a forecast unsafe."""

from __future__ import annotations

import numpy as np

from overtrain.runs import ACC, LOSS, RunTable


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def diagnose(runs: RunTable) -> list[str]:
    """One line per problem found: thin sweeps, missing losses or tasks, inconsistent sizes, duplicates."""
    problems: list[str] = list(runs.notes)
    frame = runs.frame
    for family in runs.families:
        part = runs.family(family)
        sizes = len(np.unique(part.params))
        multipliers = len(np.unique(np.round(part.multiplier, 6)))
        if sizes < 3:
            problems.append(f"family {family!r}: {sizes} model size(s); a forecast needs at least 3 to be trusted")
        if multipliers < 2:
            problems.append(
                f"family {family!r}: every run has M = {part.multiplier[0]:g}; the loss law cannot separate "
                "the parameter and token terms without a run at another multiplier"
            )
        repeated = part.frame.duplicated(subset=["params", "tokens"], keep=False)
        if repeated.any():
            problems.append(f"family {family!r}: runs {_some(list(part.frame.index[repeated]))} share N and D")
    for column in [c for c in frame.columns if c.startswith((LOSS, ACC))]:
        missing = list(frame.index[frame[column].isna()])
        if missing:
            problems.append(f"{column}: missing for {len(missing)} of {len(runs)} runs ({_some(missing)})")
    derived = frame["tokens"] / frame["params"]
    off = frame.index[np.abs(frame["multiplier"] / derived - 1) > 0.05]
    if len(off):
        problems.append(f"multiplier differs from tokens/params by more than 5% for runs {_some(list(off))}")
    if runs.task_names:
        unknown = [t for t in runs.task_names if t not in runs.tasks.index or np.isnan(runs.tasks.loc[t, "chance"])]
        if unknown:
            problems.append(f"no chance accuracy for {len(unknown)} tasks ({_some(unknown)}); give --task-info")
    return problems
