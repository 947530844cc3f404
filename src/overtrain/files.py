"""Output files are written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from overtrain.errors import OvertrainError
from overtrain.interrupts import checkpoint


def check_writable(path: str | Path) -> Path:
    """`path` if a file can be written there (its folder exists and is a folder), else a one-line error; checked
    before any work so that a long command does not fail at its end."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise OvertrainError(f"{path}: cannot write there, folder {str(folder) or '.'!r} does not exist")
    if path.is_dir():
        raise OvertrainError(f"{path}: is a folder, not a file")
    if not os.access(folder, os.W_OK):
        raise OvertrainError(f"{path}: cannot write into folder {str(folder)!r} (permission denied)")
    return path


#: The figure formats a `--plot` file may be written in, by its suffix.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def check_figure(path: str | Path) -> Path:
    """`path` if a figure can be written there in a format its suffix names (`FIGURE_SUFFIXES`), else a one-line
    error, before any work."""
    path = check_writable(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        formats = ", ".join(FIGURE_SUFFIXES[:-1]) + f" or {FIGURE_SUFFIXES[-1]}"
        raise OvertrainError(f"{path}: a figure is written as {formats}, chosen by the file's suffix, not "
                             f"{path.suffix or 'no suffix'!r}")
    return path


def write_atomic(path: str | Path, write: Callable[[str], object]) -> None:
    """Call `write(temporary_path)`, then rename the finished file over `path`; on failure leave no file."""
    path = check_writable(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        checkpoint()  # a Ctrl-C heard while writing leaves no file, even if something swallowed it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file whole or not at all."""
    write_atomic(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
