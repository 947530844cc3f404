"""The README's numbers come from the code: its plan example is recomputed here and must match what it says."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from overtrain.cli import app
from overtrain.render.tables import _size

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _row(plan: dict) -> str:
    served = plan["inference_tokens"]
    m = plan["multiplier"]
    loss, error = plan["intervals"]["loss"], plan["intervals"]["17"]
    cells = ["0" if served == 0 else f"{served:.0e}", _size(plan["params"]), f"{plan['tokens']:.3g}",
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
