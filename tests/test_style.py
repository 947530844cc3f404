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


#: The package's rooms from the bottom up: data flows readers -> run table -> laws -> fitting -> forecasts -> trust ->
#: decisions -> renderers -> command line.
LAYERS = ["errors", "interrupts", "names", "quantities", "sizes", "parallel", "files", "runs", "laws", "fitting",
          "forecasts", "lawfile", "paper", "trust", "decide", "render", "cli"]


def test_each_room_imports_only_rooms_below_it() -> None:
    """Every import of the package, at load time or inside a function, goes down the layers (or stays in its room)."""
    import ast

    package = ROOT / "src" / "overtrain"
    rooms = {p.relative_to(package).with_suffix("").parts[0] for p in package.rglob("*.py")}
    assert rooms - {"__init__", "__main__", "_version"} == set(LAYERS)
    upward = []
    for path in sorted(package.rglob("*.py")):
        room = path.relative_to(package).with_suffix("").parts[0]
        if room in ("__init__", "__main__", "_version"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("overtrain."):
                other = node.module.split(".")[1]
                if other != "_version" and LAYERS.index(other) > LAYERS.index(room):
                    upward.append(f"{path.relative_to(package)} imports {node.module}")
    assert not upward, upward


def test_laws_are_asked_and_quantities_are_a_type() -> None:
    """What `tools/package_shape.py` measures of the vocabulary stays as issue 34 left it: no law probed with
    getattr/hasattr, the per-law error fit written once, and "loss"/"error" compared as strings only where a runs
    table names its columns."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("package_shape", ROOT / "tools" / "package_shape.py")
    shape = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("package_shape", shape)  # its dataclasses look their module up
    spec.loader.exec_module(shape)
    measured = shape.shape(ROOT / "src" / "overtrain")
    assert measured["law_probes"] == 0
    assert measured["per_law_dispatch"] == ["overtrain.fitting.fit:solve_error_laws"]
    assert measured["quantity_string_checks"] == 1  # runs/readers/runs_table.py: a column named `loss`
    assert measured["public_functions_over_8"] == []
