"""A small, safe filter language for selecting runs, parsed without eval.

    params<=4.2e8,multiplier=20 | shape=d=96_l=8_h=4,multiplier=320

Commas join conditions with AND, `|` joins clauses with OR. A condition is `column op value` with op one of
`= == != < <= > >=`; the column name ends at the first operator, so values may contain `=`. Numeric columns
compare numbers (equality to a relative 1e-9), text columns compare text. `N`, `D`, `M`, `C` stand for
params, tokens, multiplier and flops.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError

ALIASES = {"N": "params", "D": "tokens", "M": "multiplier", "C": "flops"}

_CONDITION = re.compile(r"^\s*([A-Za-z_][\w:.\-]*?)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$")
_ORDER: dict[str, Callable[[object, object], object]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Condition:
    """One comparison `column op value`."""

    column: str
    op: str
    value: str

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of `frame` satisfy the condition."""
        if self.column not in frame.columns:
            known = ", ".join(c for c in frame.columns if ":" not in c)
            raise OvertrainError(f"unknown filter column {self.column!r} (columns: {known}, loss:<split>, acc:<task>)")
        series = np.asarray(frame[self.column])
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            try:
                value = float(self.value)
            except ValueError:
                raise OvertrainError(
                    f"filter {self}: {self.column} is numeric but {self.value!r} is not a number"
                ) from None
            data = series.astype(float)
            with np.errstate(invalid="ignore"):
                close = (np.abs(data - value) <= 1e-9 * abs(value)) | (data == value)  # np.isclose, rtol 1e-9
            if self.op in ("=", "=="):
                return close
            if self.op == "!=":
                return ~close
            strict = np.asarray(_ORDER[self.op](data, value), dtype=bool)
            return strict | close if self.op in ("<=", ">=") else strict & ~close
        text = series.astype(str)
        if self.op in ("=", "=="):
            return text == self.value
        if self.op == "!=":
            return text != self.value
        return np.asarray(_ORDER[self.op](text, self.value), dtype=bool)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


@dataclass(frozen=True)
class Filter:
    """An OR of clauses, each an AND of conditions; the empty filter selects every run."""

    clauses: tuple[tuple[Condition, ...], ...]

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of `frame` the filter selects."""
        if not self.clauses:
            return np.ones(len(frame), dtype=bool)
        selected = np.zeros(len(frame), dtype=bool)
        for clause in self.clauses:
            keep = np.ones(len(frame), dtype=bool)
            for condition in clause:
                keep &= condition.mask(frame)
            selected |= keep
        return selected

    def __str__(self) -> str:
        return " | ".join(",".join(str(c) for c in clause) for clause in self.clauses) or "all runs"


def parse_filter(text: str | Sequence[str]) -> Filter:
    """Parse the filter language; several strings are OR-ed like `|`.

    Parameters
    ----------
    text : str or sequence of str
        A filter such as `params<=4.2e8,multiplier=20 | shape=open_lm_1b` (`,` is AND, `|` is OR).

    Returns
    -------
    Filter
        The parsed filter (`mask(frame)`); an empty one selects every run."""
    return _parse(tuple([text] if isinstance(text, str) else text))


@functools.lru_cache(maxsize=256)
def _parse(texts: tuple[str, ...]) -> Filter:
    parts = [p for p in texts if p.strip()]
    clauses: list[tuple[Condition, ...]] = []
    for part in parts:
        for clause_text in part.split("|"):
            if not clause_text.strip():
                raise OvertrainError(f"filter {part!r}: empty clause around '|'")
            conditions = []
            for condition_text in clause_text.split(","):
                match = _CONDITION.match(condition_text)
                if match is None or not match.group(3):
                    raise OvertrainError(
                        f"filter {part!r}: cannot read {condition_text.strip()!r}; "
                        "write column<op>value with op one of = != < <= > >="
                    )
                column, op, value = match.groups()
                conditions.append(Condition(ALIASES.get(column, column), op, value))
            clauses.append(tuple(conditions))
    return Filter(tuple(clauses))
