"""What every law is: a named formula with coefficients, split for variable projection.

A law family is a frozen dataclass whose fields are its coefficients. Its prediction is linear in all
coefficients but a few exponents `theta` (one or two): prediction = basis(inputs, theta) @ linear, where
column 0 of the basis is the constant term when `intercept`. The fitting engine searches `theta` on the
product of `theta_grids` and solves `linear` exactly (variable projection).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar, Protocol, Self

import numpy as np


class LawTraits:
    """What a law can do, declared rather than probed: every law class states each trait (these are the defaults
    of a law of the average error or of the loss that the batched engine fits directly)."""

    #: The law of one task the engine fits task by task, for a law averaged over tasks; None for a law of the average.
    per_task: ClassVar[type | None] = None
    #: Whether the law needs each task's own loss (`taskloss:<task>` columns of the runs).
    needs_task_loss: ClassVar[bool] = False
    #: The name of a fitted constant added to the law's linear part (`chance_error`: the task set's error at chance,
    #: measured on the runs, not fitted); None for none.
    offset: ClassVar[str | None] = None
    #: Whether the law forecasts each task (`task_errors`) as well as their average.
    by_task: ClassVar[bool] = False
    #: The terms the law holds out because the runs cannot identify them (`laws.loss.identifiable_form`).
    unidentified: ClassVar[tuple[str, ...]] = ()
    #: The law a law with held-out terms reduces; None for a law with every term.
    full: ClassVar[type | None] = None
    #: The compute-optimal multiplier M*, for loss laws that trade parameters against tokens; None otherwise.
    M_star: ClassVar[float | None] = None
    #: Whether the law has a compute form L(C, M) (`compute_form()`).
    has_compute_form: ClassVar[bool] = False
    #: The tasks forecast at their measured error because they sat at chance on every fit run.
    flat_tasks: ClassVar[tuple[str, ...]] = ()
    #: The step-1 terms a law of task losses holds out.
    held_terms: ClassVar[tuple[str, ...]] = ()
    #: Whether the batched engine fits the law itself (it has a basis and a grid); a law fitted task by task, or
    #: through task losses, is not.
    batched: ClassVar[bool] = True
    #: A law that screens its own grid (a pooled law sums its groups' objectives) gives the function here; None: the
    #: engine screens the law's basis on the grid.
    screen: ClassVar[None] = None


class Law(Protocol):
    """A fitted law: a name, its formula, its coefficients, and `predict`; its traits (`LawTraits`) say what it
    needs and how it is fitted."""

    name: ClassVar[str]
    formula: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    theta_names: ClassVar[tuple[str, ...]]
    theta_grids: ClassVar[tuple[np.ndarray, ...]]
    intercept: ClassVar[bool]
    n_coefficients: ClassVar[int]

    def predict(self, *inputs: np.ndarray | float) -> np.ndarray | float: ...

    @staticmethod
    def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray: ...

    @staticmethod
    def design_problem(inputs: tuple[np.ndarray, ...]) -> str | None: ...

    @classmethod
    def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> Self: ...

    def coefficients(self) -> dict[str, float]: ...

    def to_dict(self) -> dict[str, Any]: ...


def coefficient_dict(law: object) -> dict[str, float]:
    """The coefficients of a dataclass law as plain floats."""
    return {k: float(v) for k, v in asdict(law).items()}  # type: ignore[call-overload]
