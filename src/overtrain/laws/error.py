"""Error laws: average top-1 downstream error as a function of validation loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from overtrain.laws.base import coefficient_dict


@dataclass(frozen=True)
class ExponentialError:
    """Gadre et al. (2024) Eq. 5: Err(L) = eps - k exp(-gamma L).

    eps is the error approached as loss grows (chance-level error), eps - k exp(-gamma L) falls toward 0 as
    loss falls.
    """

    eps: float
    k: float
    gamma: float

    name: ClassVar[str] = "exponential"
    formula: ClassVar[str] = "Err(L) = ε - k·exp(-γ·L)"
    inputs: ClassVar[tuple[str, ...]] = ("loss",)
    theta_names: ClassVar[tuple[str, ...]] = ("gamma",)
    theta_grids: ClassVar[tuple[np.ndarray, ...]] = (np.geomspace(1e-3, 50.0, 257),)
    intercept: ClassVar[bool] = True
    n_coefficients: ClassVar[int] = 3

    def predict(self, loss: np.ndarray | float) -> np.ndarray | float:
        """Average top-1 error at validation loss `loss`."""
        value = self.eps - self.k * np.exp(-self.gamma * np.asarray(loss, dtype=float))
        return float(value) if value.ndim == 0 else value

    @staticmethod
    def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
        """Columns [1, -exp(-gamma L)] for each gamma in `theta` (..., 1): shape (..., n, 2)."""
        (loss,) = inputs
        gamma = np.asarray(theta, dtype=float)[..., :1]
        out = np.empty((*gamma.shape[:-1], len(loss), 2))
        out[..., 0] = 1.0
        out[..., 1] = -np.exp(-gamma * loss)
        return out

    @staticmethod
    def design_problem(inputs: tuple[np.ndarray, ...]) -> str | None:
        """Why these runs cannot identify the law, or None: needs 3+ distinct losses."""
        if len(np.unique(inputs[0])) < 3:
            return "needs runs with at least 3 distinct losses"
        return None

    @classmethod
    def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> ExponentialError:
        return cls(eps=float(linear[0]), k=float(linear[1]), gamma=float(np.ravel(theta)[0]))

    def coefficients(self) -> dict[str, float]:
        """(eps, k, gamma)."""
        return coefficient_dict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, **self.coefficients()}
