"""The one exception users see: a problem with their input, said in one line."""

from __future__ import annotations


class OvertrainError(Exception):
    """Bad input or an impossible request; the message is one line naming the file, run and problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
