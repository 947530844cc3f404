"""What a run measures and a forecast gives (`Quantity`: a loss, an average error, one task's error), and the scales
intervals are built on so they never leave what a run can measure.

A loss is above 0 and an average top-1 error lies in [0, 1]. Intervals are built on log(loss) and logit(error),
where any half-width maps back to a physical bound.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class Quantity(StrEnum):
    """What a forecast gives: the `LOSS` on a validation split, the average top-1 `ERROR` over a task set, or one
    `TASK`'s error. A member is its name as a string (it equals "loss", prints as loss, and is written so in JSON)."""

    LOSS = "loss"
    ERROR = "error"
    TASK = "task"

    @classmethod
    def of(cls, key: str) -> Quantity:
        """The scale behind a forecast's key: the loss's under `loss`, an error's under anything else (a task set's
        name, `error` or `task`)."""
        return cls.LOSS if key == cls.LOSS else cls.ERROR

    @property
    def bounded(self) -> bool:
        """Whether it lies in [0, 1] (an error, on the logit scale) rather than only above 0 (a loss, on the log
        scale)."""
        return self is not Quantity.LOSS


#: Errors are kept this far inside (0, 1) before their logit is taken.
ERROR_EDGE = 1e-4


def to_scale(quantity: str, value: np.ndarray | float) -> np.ndarray | float:
    """The scale intervals are built on: log(loss) for loss, logit(error) for an error (`quantity` a `Quantity` or a
    forecast's key)."""
    value = np.asarray(value, dtype=float)
    if Quantity.of(quantity).bounded:
        clipped = np.clip(value, ERROR_EDGE, 1 - ERROR_EDGE)
        out = np.log(clipped / (1 - clipped))
    else:
        out = np.log(np.maximum(value, 1e-12))
    return float(out) if out.ndim == 0 else out


def from_scale(quantity: str, value: np.ndarray | float) -> np.ndarray | float:
    """The inverse of `to_scale`: exp for loss, the logistic function for error."""
    value = np.asarray(value, dtype=float)
    out = 1.0 / (1.0 + np.exp(-np.clip(value, -700.0, 700.0))) if Quantity.of(quantity).bounded else np.exp(value)
    return float(out) if out.ndim == 0 else out


def scale_slope(quantity: str, value: np.ndarray | float) -> np.ndarray | float:
    """d to_scale / d value at `value`: turns a standard deviation of loss or error into one on the scale."""
    value = np.asarray(value, dtype=float)
    if Quantity.of(quantity).bounded:
        clipped = np.clip(value, ERROR_EDGE, 1 - ERROR_EDGE)
        out = 1.0 / (clipped * (1 - clipped))
    else:
        out = 1.0 / np.maximum(value, 1e-12)
    return float(out) if out.ndim == 0 else out


def physical(quantity: str, value: np.ndarray | float) -> np.ndarray | float:
    """`value` moved into what a run can measure: a loss above 0, an error in [0, 1] (non-finite values as they
    are)."""
    value = np.asarray(value, dtype=float)
    inside = np.clip(value, 0.0, 1.0) if Quantity.of(quantity).bounded else np.maximum(value, 1e-12)
    out = np.where(np.isfinite(value), inside, value)
    return float(out) if out.ndim == 0 else out


def shift_on_scale(quantity: str, values: np.ndarray | float, old: np.ndarray | float, new: np.ndarray | float
                   ) -> np.ndarray | float:
    """`values` (e.g. an interval's bounds around `old`) moved with their centre from `old` to `new` on the
    interval scale; NaN stays NaN."""
    shift = to_scale(quantity, physical(quantity, new)) - to_scale(quantity, physical(quantity, old))
    return from_scale(quantity, to_scale(quantity, physical(quantity, values)) + shift)
