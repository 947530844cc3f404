"""The laws, by name: each a small frozen dataclass with its formula, coefficients, traits and `predict`."""

from __future__ import annotations

from overtrain.errors import OvertrainError, renamed
from overtrain.laws.base import Law
from overtrain.laws.error import (
    ExponentialError,
    ExponentialErrorLogM,
    SigmoidError,
    TaskAveragedExponential,
    TwoStepError,
)
from overtrain.laws.loss import ChinchillaLoss, DirectError, SharedExponentLoss
from overtrain.names import ENSEMBLE, ERROR_LAW_NAMES, LOSS_LAW_NAMES
from overtrain.quantities import Quantity

LOSS_LAWS: dict[str, type] = {law.name: law for law in (SharedExponentLoss, ChinchillaLoss)}
ERROR_LAWS: dict[str, type] = {
    law.name: law
    for law in (ExponentialError, ExponentialErrorLogM, SigmoidError, TaskAveragedExponential, DirectError,
                TwoStepError)
}

if (tuple(LOSS_LAWS), tuple(ERROR_LAWS)) != (LOSS_LAW_NAMES, ERROR_LAW_NAMES):
    raise RuntimeError("overtrain.names lists other laws than overtrain.laws registers")

__all__ = [
    "ENSEMBLE",
    "ERROR_LAWS",
    "LOSS_LAWS",
    "ChinchillaLoss",
    "DirectError",
    "ExponentialError",
    "ExponentialErrorLogM",
    "Law",
    "SharedExponentLoss",
    "SigmoidError",
    "TaskAveragedExponential",
    "TwoStepError",
    "law_class",
    "law_family",
]


def law_family(name: str | type, kind: str) -> type:
    """Deprecated: `law_class` (a "family" is a data recipe everywhere else)."""
    renamed("overtrain.laws.law_family", "overtrain.laws.law_class")
    return law_class(name, kind)


def law_class(name: str | type, kind: str) -> type:
    """The law class called `name` among the loss or error laws."""
    if isinstance(name, type):
        return name
    registry = LOSS_LAWS if kind == Quantity.LOSS else ERROR_LAWS
    if name not in registry:
        raise OvertrainError(f"unknown {kind} law {name!r} (known: {', '.join(registry)})")
    return registry[name]
