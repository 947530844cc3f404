"""The README's numbers come from the code. Every command of README.md and examples/README.md runs from another
directory (with a copy of `examples/` and `docs/`, as a fresh clone has them), and the output lines the pages
show must be what it prints; the plan example and the worked example are recomputed and compared."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq
from typer.testing import CliRunner

from overtrain.cli import app
from overtrain.sizes import size_text

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = ("README.md", "examples/README.md", "docs/development-suite.md", "docs/recipes-evidence.md", "docs/speed.md",
         "docs/method.md")
BOX = str.maketrans("", "", "│┃┏┓┗┛━┡┩╇┳┻─┼├┤└┘┌┐┬┴╭╮╰╯═║")
# Commands of the pages that are not overtrain's (installing it, the harness itself) or are benchmarks
NOT_RUN = ("python3 -m venv", "lm_eval ", "python benchmarks/", "python tools/", "pip ")


def _normal(line: str) -> str:
    return " ".join(line.translate(BOX).split())


def page_commands(text: str) -> list[tuple[str, list[str]]]:
    """Each shell command in the page's bash/console blocks, with the output lines shown under it (console
    blocks: after a `$ ` line, up to the next). Continuation lines (`\\`) are joined, comments dropped."""
    found: list[tuple[str, list[str]]] = []
    for language, body in re.findall(r"```(bash|console)\n(.*?)```", text, flags=re.S):
        pending = ""
        indent = min((len(x) - len(x.lstrip()) for x in body.splitlines() if x.strip()), default=0)
        for line in (x[indent:] for x in body.splitlines()):
            if language == "console" and not line.startswith("$ ") and not pending:
                if found:
                    found[-1][1].append(line)
                continue
            line = line.removeprefix("$ ") if not pending else line
            pending += re.sub(r"\s+#\s.*$", "", line).rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            if pending.strip():
                found.append((" ".join(pending.split()), []))
            pending = ""
    return found


def shown_lines_printed(shown: list[str], printed: str) -> str | None:
    """Why the printed output does not hold the shown lines in order (`...` skips any lines), or None."""
    lines = [n for n in map(_normal, printed.splitlines()) if n]
    at, free = 0, True
    for want in map(_normal, shown):
        if not want:
            continue
        if want == "...":
            free = True
            continue
        if free:
            hits = [i for i in range(at, len(lines)) if lines[i] == want]
            if not hits:
                return f"not printed (after line {at}): {want!r}"
            at = hits[0] + 1
        elif at >= len(lines) or lines[at] != want:
            return f"expected next: {want!r}, printed: {lines[at] if at < len(lines) else '<end>'!r}"
        else:
            at += 1
        free = False
    return None


def test_every_command_of_the_pages_runs_and_prints_what_they_show(tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    for folder in ("examples", "docs"):
        shutil.copytree(ROOT / folder, work / folder)
    overtrain = Path(sys.executable).with_name("overtrain")
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    ran = 0
    for page in PAGES:
        for command, shown in page_commands((ROOT / page).read_text(encoding="utf-8")):
            if command.startswith(NOT_RUN) or command.startswith(".venv/"):
                continue
            assert command.startswith("overtrain "), (page, command)
            result = subprocess.run([str(overtrain), *command.split()[1:]], cwd=work, env=env, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 0, (page, command, result.stderr)
            # a terminal shows both streams: the tables on stdout, then the warnings on stderr
            problem = shown_lines_printed(shown, result.stdout + result.stderr)
            assert problem is None, (page, command, problem)
            wide = [line for line in (result.stdout + result.stderr).splitlines()
                    if len(line.rstrip()) > 80 or "…" in line]
            assert not wide, (command, "cut or wider than the 80-column terminal", wide[:2])
            ran += 1
    assert ran >= 15


def _row(plan: dict) -> str:
    served = plan["inference_tokens"]
    m = plan["multiplier"]
    loss, error = plan["intervals"]["loss"], plan["intervals"]["error"]
    cells = ["0" if served == 0 else f"{served:.0e}", size_text(plan["params"]), f"{plan['tokens']:.3g}",
             f"{m:.2g}" if m < 100 else f"{m:.0f}", f"{plan['training_flops']:.3g}",
             "0" if served == 0 else f"{plan['inference_flops']:.3g}", f"{plan['total_flops']:.3g}",
             f"{plan['forecast']['loss']:.4f} ({loss['low']:.2f}–{loss['high']:.2f})",
             f"{plan['forecast']['errors']['17']:.4f} ({error['low']:.3f}–{error['high']:.3f})"]
    return "| " + " | ".join(cells) + " |"


def test_the_plan_example_is_what_the_command_prints() -> None:
    result = CliRunner().invoke(app, [
        "plan", "--family", "rpj", "--fit-loss", "paper-loss", "--fit-error", "paper-error", "--tasks", "17",
        "--target-error", "0.47163718062288623", "--inference-tokens", "0", "--inference-tokens", "1e12",
        "--inference-tokens", "1e13", "--json"])
    assert result.exit_code == 0, result.output
    plans = json.loads(result.output)["plans"]
    assert len(plans) == 3
    for plan in plans:
        assert _row(plan) in README, _row(plan)
    assert f"M* = {plans[0]['multiplier']:.2f}" in README


def test_the_worked_example_is_what_the_commands_print() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "tools" / "make_examples.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    for name, text in maker.examples().items():
        assert (ROOT / "examples" / name).read_text(encoding="utf-8") == text, name
    shipped = ROOT / "examples" / "sweep.csv"
    result = CliRunner().invoke(app, ["forecast", str(shipped), "--target", "params=1.4B,multiplier=20", "--json"])
    assert result.exit_code == 0, result.output
    text = " ".join(README.split())
    for prediction in json.loads(result.output)["predictions"]:
        family, loss = prediction["family"], prediction["intervals"]["loss"]
        stated = f"{prediction['loss']:.3f} ({loss['low']:.3f}-{loss['high']:.3f})"
        assert f"`{family}` loss {prediction['loss']:.3f} (90% interval {loss['low']:.3f}-{loss['high']:.3f})" in text \
            or f"`{family}` {stated}" in text
        E, A, B, alpha = maker.RECIPES[family]
        truth = E + A * 1.4e9**-alpha + B * 2.8e10**-alpha
        assert f"{truth:.3f}" in text and loss["low"] < truth < loss["high"]
    crossing = brentq(lambda log_n: _gap(maker.RECIPES, np.exp(log_n)), np.log(1e8), np.log(1e12))
    assert f"at {np.exp(crossing) / 1e9:.1f}B" in text


def test_the_candidates_example_quotes_the_true_losses() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "tools" / "make_examples.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    text = " ".join((ROOT / "examples" / "README.md").read_text(encoding="utf-8").split())
    recipes = {"web": maker.RECIPES["web"], **maker.CANDIDATES}
    result = CliRunner().invoke(app, ["compare", str(ROOT / "examples" / "candidates.csv"), "--target",
                                      "params=1.4B,multiplier=20", "--json"])
    assert result.exit_code == 0, result.output
    families = {row["family"]: row for row in json.loads(result.output)["families"]}
    for family, (E, A, B, alpha) in recipes.items():
        truth = E + A * 1.4e9**-alpha + B * 2.8e10**-alpha
        assert f"{truth:.3f} (`{family}`)" in text
        assert families[family]["loss_low"] < truth < families[family]["loss_high"]


def _gap(recipes: dict, params: float) -> float:
    (e1, a1, b1, al1), (e2, a2, b2, al2) = recipes["web"], recipes["web-filtered"]
    tokens = 20 * params
    return (e1 + a1 * params**-al1 + b1 * tokens**-al1) - (e2 + a2 * params**-al2 + b2 * tokens**-al2)


def test_the_walkthrough_runs_and_its_notebook_is_written_from_it(tmp_path: Path, monkeypatch) -> None:
    import importlib.util
    import runpy

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the script finds its sweep from any working directory
    names = runpy.run_path(str(tmp_path / "examples" / "walkthrough.py"))
    frame = names["frame"]
    assert len(frame) == 4
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "tools" / "make_examples.py")
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    assert names["truth"] == examples.RECIPES  # the walkthrough's truths are the laws the sweep was drawn from
    page = " ".join((ROOT / "examples" / "README.md").read_text(encoding="utf-8").split())
    for row in frame.itertuples():  # the truths the walkthrough prints fall inside the intervals, as the page says
        E, A, B, alpha = names["truth"][row.family]
        truth = E + A * row.params**-alpha + B * row.tokens**-alpha
        assert row.loss_low < truth < row.loss_high and f"{truth:.3f}" in page
    assert list(names["comparison"].to_frame()["family"]) == ["web", "web-filtered"]
    spec = importlib.util.spec_from_file_location("make_notebook", ROOT / "tools" / "make_notebook.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    script = (ROOT / "examples" / "walkthrough.py").read_text(encoding="utf-8")
    assert (ROOT / "examples" / "walkthrough.ipynb").read_text(encoding="utf-8") == maker.notebook(script)


@pytest.mark.parametrize("start", ["examples", "."])
def test_the_notebook_finds_the_sweep_where_jupyter_starts_it(tmp_path: Path, monkeypatch, start: str) -> None:
    """Jupyter runs a notebook in its own folder, with no `__file__`; from the repository root it works too."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path / start)
    notebook = json.loads((tmp_path / "examples" / "walkthrough.ipynb").read_text(encoding="utf-8"))
    first = "".join(next(c for c in notebook["cells"] if c["cell_type"] == "code")["source"])
    names: dict = {"__name__": "__main__"}
    exec(compile(first, "walkthrough.ipynb", "exec"), names)
    assert len(names["runs"]) == 12 and names["runs"].source.endswith("sweep.csv")


def test_the_readme_python_example_prints_what_it_says() -> None:
    block = re.search(r"```python\n(.*?)```", README, flags=re.S).group(1)
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)
    f = names["f"]
    said = re.search(r"f\.loss, f\.error, f\.flops_ratio\s+# ([\d.]+), ([\d.]+), (\d+)x", block)
    assert said is not None
    assert f"{f.loss:.3f}" == said.group(1) and f"{f.error:.3f}" == said.group(2)
    assert f"{f.flops_ratio:.0f}" == said.group(3)
