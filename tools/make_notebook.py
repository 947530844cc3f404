"""Write `examples/walkthrough.ipynb` from `examples/walkthrough.py`, whose cells are marked `# %%` (code) and
`# %% [markdown]` (text, each line a comment), so the notebook and the script the tests run cannot drift apart.
Run from the repository root:

    python tools/make_notebook.py [--check]

`--check` only verifies that the shipped notebook is what this script writes. The notebook carries no outputs:
run it (Jupyter, VS Code) in its own folder or from the repository root.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPT, NOTEBOOK = EXAMPLES / "walkthrough.py", EXAMPLES / "walkthrough.ipynb"


def cells(script: str) -> list[tuple[str, str]]:
    """(kind, source) of each cell of a percent-format script."""
    found: list[tuple[str, list[str]]] = []
    for line in script.splitlines():
        if line.startswith("# %%"):
            found.append(("markdown" if "[markdown]" in line else "code", []))
        elif found:
            kind, lines = found[-1]
            if kind == "markdown":
                line = line[2:] if line.startswith("# ") else line.removeprefix("#")
            lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in found]


def notebook(script: str) -> str:
    """The notebook's JSON text (nbformat 4.5, no outputs)."""
    built = []
    for k, (kind, source) in enumerate(cells(script)):
        cell = {"cell_type": kind, "id": f"cell-{k}", "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        built.append(cell)
    document = {"cells": built, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                            "name": "python3"},
                                             "language_info": {"name": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = notebook(SCRIPT.read_text(encoding="utf-8"))
    if args.check:
        same = NOTEBOOK.is_file() and NOTEBOOK.read_text(encoding="utf-8") == text
        print(f"{NOTEBOOK}: {'as written from ' + SCRIPT.name if same else 'DIFFERS from ' + SCRIPT.name}")
        sys.exit(0 if same else 1)
    NOTEBOOK.write_text(text, encoding="utf-8")
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
