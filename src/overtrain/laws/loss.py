"""Loss laws: validation loss as a function of parameters N and tokens D (or multiplier M = D/N)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from overtrain.laws.base import LawTraits, coefficient_dict


@dataclass(frozen=True)
class SharedExponentLoss(LawTraits):
    """Gadre et al. (2024) Eq. 4: one exponent shared by parameters and tokens.

    L(N, D) = E + A N^-alpha + B D^-alpha, with D = M N; equivalently
    L(C, M) = E + (a M^eta + b M^-eta) C^-eta with C = 6 N D, eta = alpha / 2, a = A 6^eta, b = B 6^eta,
    and compute-optimal multiplier M* = (b / a)^(1 / (2 eta)).
    """

    E: float
    A: float
    B: float
    alpha: float

    name: ClassVar[str] = "shared-exponent"
    formula: ClassVar[str] = "L(N, D) = E + A·N^-α + B·D^-α"
    unidentified: ClassVar[tuple[str, ...]] = ()
    has_compute_form: ClassVar[bool] = True
    must_vary: ClassVar[tuple[str, ...]] = ("params", "tokens", "multiplier")  # across fit runs (design_problem)
    inputs: ClassVar[tuple[str, ...]] = ("params", "tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("alpha",)
    theta_grids: ClassVar[tuple[np.ndarray, ...]] = (np.geomspace(1e-3, 4.0, 257),)
    intercept: ClassVar[bool] = True
    n_coefficients: ClassVar[int] = 4

    def predict(self, params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray | float:
        """Loss of a model with `params` parameters trained on `tokens` tokens."""
        params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
        value = self.E + self.A * params**-self.alpha + self.B * tokens**-self.alpha
        return float(value) if value.ndim == 0 else value

    def predict_compute(self, flops: np.ndarray | float, multiplier: np.ndarray | float) -> np.ndarray | float:
        """Loss at compute C = 6ND and multiplier M: E + (a M^eta + b M^-eta) C^-eta."""
        flops, multiplier = np.asarray(flops, dtype=float), np.asarray(multiplier, dtype=float)
        value = self.E + (self.a * multiplier**self.eta + self.b * multiplier**-self.eta) * flops**-self.eta
        return float(value) if value.ndim == 0 else value

    @property
    def eta(self) -> float:
        """Compute exponent eta = alpha / 2."""
        return self.alpha / 2.0

    @property
    def a(self) -> float:
        """a = A 6^eta."""
        return self.A * 6.0**self.eta

    @property
    def b(self) -> float:
        """b = B 6^eta."""
        return self.B * 6.0**self.eta

    @property
    def M_star(self) -> float | None:
        """Compute-optimal multiplier M* = (b / a)^(1 / (2 eta)) = (B / A)^(1 / alpha); None when A or B is
        unidentified or not positive (loss would then not trade parameters against tokens)."""
        if self.unidentified or not (self.A > 0 and self.B > 0 and self.alpha > 0):
            return None
        return float((self.b / self.a) ** (1.0 / (2.0 * self.eta)))

    @staticmethod
    def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
        """Columns [1, N^-alpha, D^-alpha] for each alpha in `theta` (..., 1): shape (..., n, 3)."""
        params, tokens = inputs
        alpha = np.asarray(theta, dtype=float)[..., :1]
        out = np.empty((*alpha.shape[:-1], len(params), 3))
        out[..., 0] = 1.0
        out[..., 1] = np.exp(-alpha * np.log(params))
        out[..., 2] = np.exp(-alpha * np.log(tokens))
        return out

    @staticmethod
    def design_problem(inputs: tuple[np.ndarray, ...]) -> str | None:
        """Why these runs cannot identify A and B separately, or None: needs 2+ sizes, 2+ token counts and 2+
        multipliers."""
        params, tokens = inputs
        if len(np.unique(params)) < 2:
            return "needs runs of at least 2 model sizes"
        if len(np.unique(tokens)) < 2:
            return "needs runs of at least 2 token counts (all runs share one D, so B is not separable from E)"
        if len(np.unique(np.round(np.log(tokens / params), 9))) < 2:
            return "needs runs at at least 2 token multipliers (all runs share one M, so A and B are not separable)"
        return None

    @classmethod
    def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> SharedExponentLoss:
        return cls(E=float(linear[0]), A=float(linear[1]), B=float(linear[2]), alpha=float(np.ravel(theta)[0]))

    def coefficients(self) -> dict[str, float]:
        """(E, A, B, alpha) of L(N, D)."""
        return coefficient_dict(self)

    def compute_form(self) -> dict[str, float | None]:
        """(E, a, b, eta) of L(C, M), and M*."""
        return {"E": self.E, "a": self.a, "b": self.b, "eta": self.eta, "M_star": self.M_star}

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, **self.coefficients(), **self.compute_form(),
                **_unidentified_entry(self)}


@dataclass(frozen=True)
class ChinchillaLoss(LawTraits):
    """Hoffmann et al. (2022) form with separate exponents: L(N, D) = E + A N^-alpha + B D^-beta."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    name: ClassVar[str] = "chinchilla"
    formula: ClassVar[str] = "L(N, D) = E + A·N^-α + B·D^-β"
    unidentified: ClassVar[tuple[str, ...]] = ()
    must_vary: ClassVar[tuple[str, ...]] = ("params", "tokens", "multiplier")
    inputs: ClassVar[tuple[str, ...]] = ("params", "tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    theta_grids: ClassVar[tuple[np.ndarray, ...]] = (np.geomspace(0.02, 2.0, 49), np.geomspace(0.02, 2.0, 49))
    intercept: ClassVar[bool] = True
    n_coefficients: ClassVar[int] = 5

    def predict(self, params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray | float:
        """Loss of a model with `params` parameters trained on `tokens` tokens."""
        params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
        value = self.E + self.A * params**-self.alpha + self.B * tokens**-self.beta
        return float(value) if value.ndim == 0 else value

    @staticmethod
    def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
        """Columns [1, N^-alpha, D^-beta] for each (alpha, beta) in `theta` (..., 2): shape (..., n, 3)."""
        params, tokens = inputs
        theta = np.asarray(theta, dtype=float)
        out = np.empty((*theta.shape[:-1], len(params), 3))
        out[..., 0] = 1.0
        out[..., 1] = np.exp(-theta[..., :1] * np.log(params))
        out[..., 2] = np.exp(-theta[..., 1:2] * np.log(tokens))
        return out

    design_problem = SharedExponentLoss.design_problem

    @classmethod
    def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> ChinchillaLoss:
        alpha, beta = np.ravel(theta)[:2]
        return cls(E=float(linear[0]), A=float(linear[1]), B=float(linear[2]), alpha=float(alpha), beta=float(beta))

    def coefficients(self) -> dict[str, float]:
        """(E, A, B, alpha, beta)."""
        return coefficient_dict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, **self.coefficients(), **_unidentified_entry(self)}


def _unidentified_entry(law: object) -> dict[str, list[str]]:
    unidentified = type(law).unidentified  # type: ignore[attr-defined]
    return {"unidentified": list(unidentified)} if unidentified else {}


# term: (its own exponent in a two-exponent law, its basis column, the input that must still vary)
_TERMS = {"A": ("alpha", 1, 1), "B": ("beta", 2, 0)}


def _holding_out(parent: type, term: str) -> type:
    """`parent` with the term `term` ("A" or "B") held out: fixed at 0, what it contributed absorbed elsewhere.

    For runs that all share one token count D0, B D0^-alpha is a constant that E absorbs and B cannot be told
    from E; likewise A when every run has one size. For runs that all share one multiplier M0, B (M0 N)^-alpha is
    A's term again and A absorbs it. The reduced law fits what the runs identify: with B held out, L = E' + A'
    N^-alpha, which forecasts any size at D0 (or at M0). `full` is the law it reduces.
    """
    own_exponent, column, kept = _TERMS[term]
    dropped = own_exponent if len(parent.theta_names) == 2 else None
    keep = [i for i, name in enumerate(parent.theta_names) if name != dropped]

    def full_theta(theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return theta if dropped is None else np.concatenate([theta[..., :1], theta[..., :1]], axis=-1)

    class HeldOut(parent):  # type: ignore[misc, valid-type]
        full = parent
        unidentified = (term,) if dropped is None else (term, dropped)
        must_vary = ("params",) if kept == 0 else ("tokens",)
        n_coefficients = parent.n_coefficients - (1 if dropped is None else 2)
        theta_names = tuple(parent.theta_names[i] for i in keep)
        theta_grids = tuple(parent.theta_grids[i] for i in keep)

        @staticmethod
        def basis(inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
            return np.delete(parent.basis(inputs, full_theta(theta)), column, axis=-1)

        @staticmethod
        def design_problem(inputs: tuple[np.ndarray, ...]) -> str | None:
            if len(np.unique(inputs[kept])) < 2:
                return f"needs runs of at least 2 {'model sizes' if kept == 0 else 'token counts'}"
            return None

        @classmethod
        def from_solution(cls, theta: np.ndarray, linear: np.ndarray) -> Any:
            return super().from_solution(full_theta(theta), np.insert(np.ravel(linear)[:2], column, 0.0))

    HeldOut.__name__ = HeldOut.__qualname__ = f"{parent.__name__}Without{term}"
    return HeldOut


SharedExponentLossWithoutA = _holding_out(SharedExponentLoss, "A")
SharedExponentLossWithoutB = _holding_out(SharedExponentLoss, "B")
ChinchillaLossWithoutA = _holding_out(ChinchillaLoss, "A")
ChinchillaLossWithoutB = _holding_out(ChinchillaLoss, "B")
_HELD_OUT = {(law.full, law.unidentified[0]): law for law in (
    SharedExponentLossWithoutA, SharedExponentLossWithoutB, ChinchillaLossWithoutA, ChinchillaLossWithoutB)}


def holding_out(law: type, term: str) -> type:
    """The loss law `law` with term "A" or "B" held out (see `_holding_out`)."""
    if (law, term) not in _HELD_OUT:
        raise ValueError(f"the {law.name} law has no form without {term}")
    return _HELD_OUT[(law, term)]


def shared_quantity(inputs: tuple[np.ndarray, ...]) -> tuple[str, float] | None:
    """The one quantity every run shares, of size N ("params"), tokens D ("tokens") and multiplier M
    ("multiplier"), with its value; None when the runs vary in all three, or share both N and D (too few runs for
    any law: `design_problem`)."""
    params, tokens = inputs
    if len(params) == 0:
        return None
    one_size, one_count = len(np.unique(params)) == 1, len(np.unique(tokens)) == 1
    if one_size and one_count:
        return None
    if one_size:
        return "params", float(params[0])
    if one_count:
        return "tokens", float(tokens[0])
    if len(np.unique(np.round(np.log(tokens / params), 9))) == 1:
        return "multiplier", float(tokens[0] / params[0])
    return None


def held_out_reason(inputs: tuple[np.ndarray, ...]) -> str | None:
    """Why these runs cannot identify every coefficient of a loss law (see `shared_quantity`), or None."""
    shared = shared_quantity(inputs)
    if shared is None:
        return None
    name, value = shared
    if name == "multiplier":
        return (f"every fit run has M = {value:.3g}, so the runs cannot tell how much of the loss falls with size "
                "and how much with tokens")
    symbol, how = ("N", "model size") if name == "params" else ("D", "token count")
    return f"every fit run has {symbol} = {value:.3g}, so the runs cannot say how loss changes with {how}"


_HELD_FOR = {"params": "A", "tokens": "B", "multiplier": "B"}  # the term runs sharing that quantity cannot see


def identifiable_form(law: type, inputs: tuple[np.ndarray, ...]) -> tuple[type, str | None]:
    """The form of a loss law these runs can identify, and why it differs, or (law, None).

    Runs that all share one token count cannot identify B (nor beta), runs of one size cannot identify A (nor
    alpha), and runs that all share one multiplier M0 cannot tell A from B (A N^-alpha + B (M0 N)^-alpha is one
    term in N): that term is held out rather than fitted to nothing.
    """
    shared = shared_quantity(inputs)
    if shared is None or (law, "A") not in _HELD_OUT:
        return law, None
    name, value = shared
    reduced = _HELD_OUT[(law, _HELD_FOR[name])]
    held = " and ".join(reduced.unidentified)
    if name == "multiplier":
        consequence = (f"{held} held out (A absorbs the tokens' term); forecasts hold at M = {value:.3g} only, and "
                       "M* is unknown")
    else:
        how = "model size" if name == "params" else "token count"
        consequence = (f"{held} held out (fixed at 0, E absorbs the term); forecasts at other {how}s keep that term "
                       "at its fitted value, and M* is unknown")
    return reduced, f"{held_out_reason(inputs)}: {consequence}"


@dataclass(frozen=True)
class DirectError(SharedExponentLoss):
    """Average error straight from size and data, skipping the loss: Err(N, D) = E + A N^-alpha + B D^-alpha."""

    name: ClassVar[str] = "direct"
    formula: ClassVar[str] = "Err(N, D) = E + A·N^-α + B·D^-α"

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "formula": self.formula, **self.coefficients()}


DirectErrorWithoutA = _holding_out(DirectError, "A")
DirectErrorWithoutB = _holding_out(DirectError, "B")
_HELD_OUT.update({(DirectError, "A"): DirectErrorWithoutA, (DirectError, "B"): DirectErrorWithoutB})
