"""Sizes as people write them: 7B parameters, 2T tokens, a 1e22 FLOP budget; one reading for the runs tables, the
command line and the Python API."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from overtrain.errors import OvertrainError

#: Suffixes a size may carry, as overtrain prints them (7.00B parameters, 2T tokens).
SIZE_SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
#: How each size is written, for the message when one cannot be read.
_EXAMPLES = {"params": "7e9 or 7B", "tokens": "2e12 or 2T", "multiplier": "20"}


def size_number(raw: object) -> float | None:
    """A number, possibly with a size suffix (k, M, B or G, T): 7B is 7e9; None when it is not one."""
    text = str(raw).strip().replace("_", "")
    factor = SIZE_SUFFIXES.get(text[-1:], 1.0) if text and not text[-1:].isdigit() and text[-1:] != "." else 1.0
    number = text[:-1] if factor != 1.0 else text
    try:
        return float(number) * factor
    except ValueError:
        return None


def amount(text: str, option: str) -> float:
    """A non-negative number given to `option`, possibly with a size suffix (2T, 7B, 50M)."""
    value = size_number(text)
    if value is None or not math.isfinite(value) or value < 0:
        raise OvertrainError(f"{option}: cannot read {text!r} as an amount; write e.g. 1e22, 2T or 7B")
    return value


def size_values(value: Any, name: str) -> Any:
    """`value` (a number, a size string such as "7B", or a sequence or array of them) with every string read as a
    number; anything else as it is. A string that is no size is an error naming `name`."""
    if isinstance(value, str):
        number = size_number(value)
        if number is None:
            raise OvertrainError(f"{name}: cannot read {value!r} as a size; write e.g. "
                                 f"{_EXAMPLES.get(name, '7e9 or 7B')}")
        return number
    if isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.dtype.kind in "OUS"):
        items = np.asarray(value, dtype=object)
        return np.array([size_values(v, name) for v in items.ravel()], dtype=float).reshape(items.shape)
    return value


def size_text(value: float) -> str:
    """A size as overtrain prints it, and reads it back: 6.90B, 1.4T, 411M."""
    if value >= 1e12:
        return f"{value / 1e12:.3g}T"
    return f"{value / 1e9:.2f}B" if value >= 1e9 else f"{value / 1e6:.0f}M"
