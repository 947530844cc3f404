"""The README's numbers come from the code: its plan example is recomputed here and must match what it says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
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


def test_the_worked_example_is_what_the_commands_print() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_example_sweep",
                                                  Path(__file__).parents[1] / "tools" / "make_example_sweep.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    shipped = Path(__file__).parents[1] / "docs" / "example-sweep.csv"
    assert shipped.read_text() == maker.sweep().to_csv(index=False, lineterminator="\n")
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


def _gap(recipes: dict, params: float) -> float:
    (e1, a1, b1, al1), (e2, a2, b2, al2) = recipes["web"], recipes["web-filtered"]
    tokens = 20 * params
    return (e1 + a1 * params**-al1 + b1 * tokens**-al1) - (e2 + a2 * params**-al2 + b2 * tokens**-al2)
