"""Advice on a run table before anyone fits it: what is missing or makes a forecast unsafe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from overtrain.runs.table import ACC, LOSS, RunTable

#: Runs of one family at one N and D whose losses differ by more than this share are flagged: a spread that large
#: between runs the laws cannot tell apart suggests losses on different measures (another validation set, another
#: evaluation), as DCLM's model database mixes (its `*_swiglutorch` runs).
LOSS_SPREAD = 0.05


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _loss_spread(family: str, repeated: pd.DataFrame) -> list[str]:
    """A line for each configuration whose runs' losses on one split differ by more than `LOSS_SPREAD`."""
    lines = []
    for (params, tokens), group in repeated.groupby(["params", "tokens"], sort=True):
        for column in (c for c in group.columns if c.startswith(LOSS)):
            values = group[column].dropna()
            if len(values) > 1 and values.max() > (1 + LOSS_SPREAD) * values.min():
                lines.append(
                    f"family {family!r}: the {len(values)} runs at N = {params:.3g}, D = {tokens:.3g} differ in "
                    f"{column} by {100 * (values.max() / values.min() - 1):.0f}% ({values.min():.4g} to "
                    f"{values.max():.4g}): are their losses on one measure?")
    return lines


def diagnose(runs: RunTable) -> list[str]:
    """One line per problem found: thin sweeps, missing losses or tasks, inconsistent sizes, duplicates.

    Parameters
    ----------
    runs : RunTable
        The runs to check.

    Returns
    -------
    list of str
        The table's notes, then one line per problem found; empty when there is none."""
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
            problems += _loss_spread(family, part.frame[repeated])
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
