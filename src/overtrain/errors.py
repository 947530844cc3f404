"""What users are told is wrong: the one exception they see (a problem with their input, said in one line), and
the warning that a name they used has moved."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


class OvertrainError(Exception):
    """Bad input or an impossible request; the message is one line naming the file, run and problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@contextmanager
def about(subject: str) -> Iterator[None]:
    """Say which `subject` (e.g. "family 'web'") an OvertrainError raised inside is about, as its first words."""
    try:
        yield
    except OvertrainError as error:
        raise OvertrainError(f"{subject}: {error}") from error


def renamed(old: str, new: str, stacklevel: int = 2) -> None:
    """Warn that `old` is now `new` and goes in the next release, pointing at the caller `stacklevel` frames up from
    the function that calls this (2: that function's caller)."""
    warnings.warn(f"{old} is now {new}; the old name goes in the next release", DeprecationWarning,
                  stacklevel=stacklevel + 1)


class InputProblems(OvertrainError):
    """Several problems found in one input; the message is the first, `problems` holds them all."""

    def __init__(self, problems: list[str]) -> None:
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''}; `overtrain runs` lists them all)" if more else ""
        super().__init__(problems[0] + suffix)
        self.problems = list(problems)
