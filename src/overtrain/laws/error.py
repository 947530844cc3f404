"""Error laws: average top-1 downstream error as a function of validation loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from overtrain.laws.base import LawTraits, coefficient_dict
from overtrain.laws.loss import SharedExponentLoss


@dataclass(frozen=True)
class ExponentialError(LawTraits):
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


@dataclass(frozen=True)
class ExponentialErrorLogM(LawTraits):
    """The paper's exponential plus a term in log M: Err(L, M) = eps - k exp(-gamma L) + delta ln M.

    At equal loss, over-trained small models score differently from compute-optimal ones in the testbed; the
    extra term lets the law say by how much.
    """

    eps: float
    k: float
    delta: float
    gamma: float

    name: ClassVar[str] = "exponential+logM"
    formula: ClassVar[str] = "Err(L, M) = ε - k·exp(-γ·L) + δ·ln M"
    inputs: ClassVar[tuple[str, ...]] = ("loss", "multiplier")
    theta_names: ClassVar[tuple[str, ...]] = ("gamma",)
    theta_grids: ClassVar[tuple[np.ndarray, ...]] = (np.geomspace(1e-3, 50.0, 257),)
    intercept: ClassVar[bool] = True
    n_coefficients: ClassVar[int] = 4

    def predict(self, loss: np.ndarray | float, multiplier: np.ndarray | float) -> np.ndarray | float:
        value = self.eps - self.k * np.exp(-self.gamma * np.asarray(loss, dtype=float)) + self.delta * np.log(
            np.asarray(multiplier, dtype=float)
        )
        return float(value) if value.ndim == 0 else value

    @staticmethod
    def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
        """Columns [1, -exp(-gamma L), ln M]: shape (..., n, 3)."""
        loss, multiplier = inputs
        gamma = np.asarray(theta, dtype=float)[..., :1]
        out = np.empty((*gamma.shape[:-1], len(loss), 3))
        out[..., 0] = 1.0
        out[..., 1] = -np.exp(-gamma * loss)
        out[..., 2] = np.log(multiplier)
        return out

    @staticmethod
    def design_problem(inputs: tuple[np.ndarray, ...]) -> str | None:
        if len(np.unique(inputs[0])) < 3:
            return "needs runs with at least 3 distinct losses"
        if len(np.unique(np.round(np.log(inputs[1]), 9))) < 2:
            return "needs runs at at least 2 token multipliers"
        return None

    @classmethod
    def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> ExponentialErrorLogM:
        return cls(eps=float(linear[0]), k=float(linear[1]), delta=float(linear[2]), gamma=float(np.ravel(theta)[0]))

    def coefficients(self) -> dict[str, float]:
        return coefficient_dict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, **self.coefficients()}


@dataclass(frozen=True)
class SigmoidError(LawTraits):
    """A sigmoid in loss whose ceiling is the task set's chance-level error eps_c (held fixed, not fitted):

    Err(L) = eps_c - k / (1 + exp(-gamma (L0 - L))).

    Poor models sit at chance; better ones approach the floor eps_c - k. The exponential law has no ceiling and
    can predict error above chance when extrapolating to weak models.
    """

    k: float
    gamma: float
    L0: float
    chance_error: float = float("nan")

    name: ClassVar[str] = "sigmoid"
    formula: ClassVar[str] = "Err(L) = ε_chance - k / (1 + exp(-γ·(L0 - L)))"
    inputs: ClassVar[tuple[str, ...]] = ("loss",)
    theta_names: ClassVar[tuple[str, ...]] = ("gamma", "L0")
    theta_grids: ClassVar[tuple[np.ndarray, ...]] = (np.geomspace(0.05, 30.0, 41), np.geomspace(0.5, 12.0, 41))
    intercept: ClassVar[bool] = False
    n_coefficients: ClassVar[int] = 3
    offset: ClassVar[str | None] = "chance_error"

    def predict(self, loss: np.ndarray | float) -> np.ndarray | float:
        loss = np.asarray(loss, dtype=float)
        value = self.chance_error - self.k / (1.0 + np.exp(-self.gamma * (self.L0 - loss)))
        return float(value) if value.ndim == 0 else value

    @staticmethod
    def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
        """The single column -1 / (1 + exp(-gamma (L0 - L))) for each (gamma, L0): shape (..., n, 1)."""
        (loss,) = inputs
        theta = np.asarray(theta, dtype=float)
        return (-1.0 / (1.0 + np.exp(-theta[..., :1] * (theta[..., 1:2] - loss))))[..., None]

    design_problem = ExponentialError.design_problem

    @classmethod
    def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> SigmoidError:
        gamma, location = np.ravel(theta)[:2]
        return cls(k=float(linear[0]), gamma=float(gamma), L0=float(location))

    def coefficients(self) -> dict[str, float]:
        return coefficient_dict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, **self.coefficients()}


def clipped_task_errors(law: TaskAveragedExponential | TwoStepError, task_loss: np.ndarray) -> np.ndarray:
    """Each task's error from its loss `task_loss` (tasks, ...): clip(eps_t - k_t exp(-gamma_t L_t), 0, ceiling_t),
    and a flat task's measured error where it is flat."""
    expand = (slice(None),) + (None,) * (task_loss.ndim - 1)
    eps, k, gamma = (np.asarray(v, dtype=float)[expand] for v in (law.eps, law.k, law.gamma))
    ceiling = np.asarray(law.ceiling or (1.0,) * len(law.tasks), dtype=float)[expand]
    value = np.clip(eps - k * np.exp(-gamma * task_loss), 0.0, ceiling)
    if law.flat:
        flat = np.asarray(law.flat, dtype=bool)[expand]
        value = np.where(flat, np.asarray(law.flat_error, dtype=float)[expand], value)
    return value


def flat_task_names(law: TaskAveragedExponential | TwoStepError) -> tuple[str, ...]:
    """The tasks of a per-task law that are at chance on every fit run, forecast at their measured error."""
    return tuple(t for t, f in zip(law.tasks, law.flat or (0.0,) * len(law.tasks), strict=True) if f)


@dataclass(frozen=True)
class TaskAveragedExponential(LawTraits):
    """Each task's error fitted with its own exponential law, kept within what the task can score, then averaged:

    Err(L) = mean over tasks t of clip(eps_t - k_t exp(-gamma_t L), 0, ceiling_t),

    with ceiling_t = 1 - chance_t (an error above chance is guessing badly, not a trend). A task still at chance on
    every fit run has no trend to extrapolate: it is forecast at its measured error (`flat_t`, `flat_error_t`)
    rather than by a law fitted to noise.
    """

    tasks: tuple[str, ...]
    eps: tuple[float, ...]
    k: tuple[float, ...]
    gamma: tuple[float, ...]
    ceiling: tuple[float, ...] = ()
    flat: tuple[float, ...] = ()
    flat_error: tuple[float, ...] = ()

    name: ClassVar[str] = "per-task"
    formula: ClassVar[str] = "Err(L) = mean_t clip(ε_t - k_t·exp(-γ_t·L), 0, 1 - chance_t)"
    inputs: ClassVar[tuple[str, ...]] = ("loss",)
    theta_names: ClassVar[tuple[str, ...]] = ("gamma",)
    n_coefficients: ClassVar[int] = 3
    per_task: ClassVar[type | None] = ExponentialError
    by_task: ClassVar[bool] = True
    batched: ClassVar[bool] = False

    def task_errors(self, loss: np.ndarray | float) -> np.ndarray:
        """Each task's forecast error: shape (tasks, *loss.shape)."""
        loss = np.asarray(loss, dtype=float)
        return clipped_task_errors(self, np.broadcast_to(loss, (len(self.tasks), *loss.shape)))

    def predict(self, loss: np.ndarray | float) -> np.ndarray | float:
        value = np.mean(self.task_errors(loss), axis=0)
        return float(value) if np.ndim(value) == 0 else value

    @property
    def flat_tasks(self) -> tuple[str, ...]:
        """The tasks at chance on every fit run, forecast at their measured error."""
        return flat_task_names(self)

    design_problem = ExponentialError.design_problem

    def coefficients(self) -> dict[str, float]:
        """Medians over tasks (the full per-task coefficients are in `to_dict`)."""
        medians = {f"median {name}": float(np.median(getattr(self, name))) for name in ("eps", "k", "gamma")}
        return {**medians, "tasks at chance": float(len(self.flat_tasks))}

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, "tasks": list(self.tasks), "eps": list(self.eps),
                "k": list(self.k), "gamma": list(self.gamma), "ceiling": list(self.ceiling),
                "flat": list(self.flat), "flat_error": list(self.flat_error)}


@dataclass(frozen=True)
class TwoStepError(LawTraits):
    """Two steps through each task's own loss (Bhagia et al., 2024), averaged over tasks:

    L_t(N, D) = E_t + A_t N^-alpha_t + B_t D^-alpha_t (step 1, fitted to the runs' `taskloss:<task>`),
    Err(N, D) = mean over tasks t of clip(eps_t - k_t exp(-gamma_t L_t(N, D)), 0, 1 - chance_t) (step 2).

    A task's own loss (e.g. of the correct answer) tracks its accuracy more closely than the validation loss does.
    Tasks at chance on every fit run are forecast at their measured error, as in the per-task law.
    """

    tasks: tuple[str, ...]
    E: tuple[float, ...]
    A: tuple[float, ...]
    B: tuple[float, ...]
    alpha: tuple[float, ...]
    eps: tuple[float, ...]
    k: tuple[float, ...]
    gamma: tuple[float, ...]
    ceiling: tuple[float, ...] = ()
    flat: tuple[float, ...] = ()
    flat_error: tuple[float, ...] = ()
    #: The step-1 terms held out (fixed at 0) because every fit run shares one size, token count or multiplier
    #: (`laws.loss.identifiable_form`).
    held_terms: tuple[str, ...] = ()

    name: ClassVar[str] = "two-step"
    formula: ClassVar[str] = ("Err(N, D) = mean_t clip(ε_t - k_t·exp(-γ_t·L_t(N, D)), 0, 1 - chance_t), "
                              "L_t = E_t + A_t·N^-α_t + B_t·D^-α_t")
    inputs: ClassVar[tuple[str, ...]] = ("params", "tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("alpha", "gamma")
    n_coefficients: ClassVar[int] = 4
    needs_task_loss: ClassVar[bool] = True
    by_task: ClassVar[bool] = True
    batched: ClassVar[bool] = False

    def task_losses(self, params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray:
        """Step 1: each task's forecast loss, shape (tasks, *params.shape)."""
        params, tokens = np.broadcast_arrays(np.asarray(params, dtype=float), np.asarray(tokens, dtype=float))
        expand = (slice(None),) + (None,) * params.ndim
        E, A, B, alpha = (np.asarray(v, dtype=float)[expand] for v in (self.E, self.A, self.B, self.alpha))
        return E + A * params**-alpha + B * tokens**-alpha

    def task_errors(self, params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray:
        """Step 2: each task's forecast error, shape (tasks, *params.shape)."""
        return clipped_task_errors(self, self.task_losses(params, tokens))

    def predict(self, params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray | float:
        value = np.mean(self.task_errors(params, tokens), axis=0)
        return float(value) if np.ndim(value) == 0 else value

    @property
    def flat_tasks(self) -> tuple[str, ...]:
        """The tasks at chance on every fit run, forecast at their measured error."""
        return flat_task_names(self)

    design_problem = SharedExponentLoss.design_problem  # step 1 is that law, task by task

    def coefficients(self) -> dict[str, float]:
        """Medians over tasks (the full per-task coefficients are in `to_dict`)."""
        medians = {f"median {name}": float(np.median(getattr(self, name))) for name in ("alpha", "gamma")}
        return {**medians, "tasks at chance": float(len(self.flat_tasks))}

    def to_dict(self) -> dict[str, Any]:
        fields = ("tasks", "E", "A", "B", "alpha", "eps", "k", "gamma", "ceiling", "flat", "flat_error", "held_terms")
        return {"law": self.name, "formula": self.formula, **{name: list(getattr(self, name)) for name in fields}}
