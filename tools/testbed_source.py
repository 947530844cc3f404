"""What the testbed converters share: reading a source repository, writing CSV bytes, and the command line."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


class Source:
    """Read files of the source repository from a git directory or from a plain directory."""

    def __init__(self, path: Path, rev: str = "HEAD") -> None:
        self.path = path
        self.rev = rev
        git_dir = path if (path / "HEAD").is_file() and (path / "objects").is_dir() else None
        self.git_dir = git_dir
        self.work_tree_git = path / ".git" if git_dir is None and (path / ".git").exists() else None
        if git_dir is None and not path.is_dir():
            raise SystemExit(f"{path}: not a git directory nor a directory")

    def _git(self, *args: str, git_dir: Path | None = None) -> bytes:
        cmd = ["git", f"--git-dir={git_dir or self.git_dir}", *args]
        return subprocess.run(cmd, check=True, capture_output=True).stdout

    def read(self, name: str) -> bytes:
        """The bytes of one file of the repository."""
        if self.git_dir is not None:
            return self._git("show", f"{self.rev}:{name}")
        return (self.path / name).read_bytes()

    def commit(self) -> str | None:
        """The commit read, when known."""
        if self.git_dir is not None:
            return self._git("rev-parse", f"{self.rev}^{{commit}}").decode().strip()
        if self.work_tree_git is not None:
            return self._git("rev-parse", "HEAD", git_dir=self.work_tree_git).decode().strip()
        return None


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes: LF line ends, integers as integers, floats in shortest round-trip form, blanks for missing."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def convert_main(
    argv: list[str] | None, description: str, repository: str, name: str, pinned_commit: str,
    build: Callable[[Source], tuple[dict[str, bytes], list[str]]],
) -> int:
    """The converters' command line: SOURCE OUT [--rev REV] [--check]; writes each file whole or not at all."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("source", type=Path, help=f"git directory or checked-out copy of {repository}")
    parser.add_argument("out", type=Path, help=f"output directory (e.g. src/overtrain/data/testbeds/{name})")
    parser.add_argument("--rev", default="HEAD", help="revision to read from a git directory (default HEAD)")
    parser.add_argument("--check", action="store_true", help="compare with the files in OUT instead of writing")
    args = parser.parse_args(argv)
    source = Source(args.source, args.rev)
    commit = source.commit()
    files, notes = build(source)
    print(f"source commit: {commit or 'unknown (plain directory)'}")
    if commit is not None and commit != pinned_commit:
        print(f"warning: the testbed documents commit {pinned_commit}", file=sys.stderr)
    for note in notes:
        print(note)
    if args.check:
        stale = [n for n, data in files.items() if not (args.out / n).is_file() or (args.out / n).read_bytes() != data]
        print("check: " + ("differs: " + ", ".join(stale) if stale else "all files equal a fresh conversion"))
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for file_name, data in files.items():
        with tempfile.NamedTemporaryFile(dir=args.out, delete=False) as handle:
            handle.write(data)
        Path(handle.name).chmod(0o644)
        Path(handle.name).replace(args.out / file_name)
        print(f"wrote {args.out / file_name}")
    return 0
