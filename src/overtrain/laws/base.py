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


class Law(Protocol):
    """A fitted law: a name, its formula, its coefficients, and `predict`."""

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
