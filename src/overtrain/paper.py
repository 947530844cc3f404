"""The paper's headline experiment as a declaration over the same machinery a user's forecast runs.

Gadre et al. (2024): per training distribution, fit the loss law (Eq. 4) to the `paper-loss` fit set on C4
eval loss and the error law (Eq. 5) to the `paper-error` fit set on the 17-task and 46-task average top-1
error; then forecast every 1.4B and 6.9B run (`paper-targets`) from its N and D alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from overtrain.errors import OvertrainError
from overtrain.fitting import Fit, fit_error, fit_loss
from overtrain.forecast import Comparison, compare
from overtrain.runs import RunTable
from overtrain.testbed import load_testbed

PAPER_LOSS_SPLIT = "c4_val"
PAPER_TASK_SETS = ("17", "46")
FAMILY_NAMES = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}


@dataclass(frozen=True)
class FamilyReproduction:
    """One training distribution: its loss fit, its error fits (one per task set), its target comparisons."""

    family: str
    loss_fit: Fit
    error_fits: tuple[Fit, ...]
    targets: tuple[Comparison, ...]

    def coefficients(self) -> dict[str, Any]:
        """Fitted coefficients in both forms, M*, fit-set compute, and each error law's (k, gamma, eps)."""
        law = self.loss_fit.law
        values: dict[str, Any] = {**law.coefficients(), **law.compute_form()}  # type: ignore[attr-defined]
        values["fit_flops_loss"] = self.loss_fit.fit_flops
        values["fit_flops_error"] = self.error_fits[0].fit_flops if self.error_fits else None
        for fit in self.error_fits:
            values[f"error_law_{fit.task_set.name}"] = fit.law.coefficients()  # type: ignore[union-attr]
        return values


@dataclass(frozen=True)
class Reproduction:
    """The headline reproduction over every training distribution in the runs."""

    loss_split: str
    families: tuple[FamilyReproduction, ...]

    @property
    def targets(self) -> list[Comparison]:
        return [t for f in self.families for t in f.targets]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `overtrain reproduce --json`."""
        first = self.families[0] if self.families else None
        return {
            "loss_split": self.loss_split,
            "fit_sets": {
                "loss": first.loss_fit.fit_set if first else None,
                "error": first.error_fits[0].fit_set if first and first.error_fits else None,
            },
            "targets": [t.to_dict() for t in self.targets],
            "coefficients": {f.family: f.coefficients() for f in self.families},
        }


def reproduce(
    runs: RunTable | None = None,
    *,
    loss_split: str = PAPER_LOSS_SPLIT,
    task_sets: Sequence[str] = PAPER_TASK_SETS,
    loss_fit_set: str = "paper-loss",
    error_fit_set: str = "paper-error",
    targets: str = "paper-targets",
    families: Sequence[str] | None = None,
) -> Reproduction:
    """Run the paper's headline experiment on `runs` (default: the bundled testbed)."""
    runs = load_testbed() if runs is None else runs
    results = []
    for family in families or runs.families:
        table = runs.family(family)
        loss = fit_loss(table, loss_split, fit_set=loss_fit_set)
        errors = tuple(fit_error(table, loss_split, tasks, fit_set=error_fit_set) for tasks in task_sets)
        chosen = table.select(targets).sorted_by("flops")
        if len(chosen) == 0:
            raise OvertrainError(f"targets {targets!r} select no runs of family {family!r} in {runs.source}")
        results.append(FamilyReproduction(family, loss, errors, tuple(compare(loss, errors, chosen))))
    return Reproduction(loss_split, tuple(results))
