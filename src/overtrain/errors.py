"""The one exception users see: a problem with their input, said in one line."""

from __future__ import annotations

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


class InputProblems(OvertrainError):
    """Several problems found in one input; the message is the first, `problems` holds them all."""

    def __init__(self, problems: list[str]) -> None:
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''}; `overtrain runs` lists them all)" if more else ""
        super().__init__(problems[0] + suffix)
        self.problems = list(problems)
