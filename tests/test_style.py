"""The code base stays ruff clean, and CI runs exactly the README's test command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean() -> None:
    """ruff comes with the `test` extra, so it is installed wherever the tests are."""
    folders = ["src", "tests", "tools", "benchmarks", "examples"]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *folders], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    code = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert code[0].endswith("overtrain reproduce") and "pip install ." in code[0]
    assert code[1].endswith("pytest") and "pip install -e '.[test]'" in code[1]
    assert "pip install -e '.\\[test\\]'" in (ROOT / ".ci/run").read_text()
