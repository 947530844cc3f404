"""The development suite's headline figures, as `docs/development-suite.md` quotes them, are what
`benchmarks/generalisation.py` measures: the results table (paper -> default, every testbed with targets, pooled over
the testbeds that choose), the per-task figures and the fit part's pins. The quick setting runs the two methods the
table compares on the testbeds that forecast anything (DCLM is refused, ObsScaling has no loss), about 10 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "development-suite.md").read_text(encoding="utf-8")
TESTBEDS = ("gadre2024-small", "gadre2024", "cerebras", "datablations", "porian")
CHOOSING = ("gadre2024-small", "cerebras", "datablations", "porian")


@pytest.fixture(scope="module")
def forecasts(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("suite") / "suite.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generalisation.py"), "--testbeds",
                             ",".join(TESTBEDS), "--methods", "paper,default", "--json", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(out.read_text())
    return pd.concat([pd.DataFrame(document["forecasts"]), pd.DataFrame(document["per_task"])], ignore_index=True)


def _row(frame: pd.DataFrame, label: str, quantity: str) -> str:
    paper, default = (frame[frame["method"] == m] for m in ("paper", "default"))
    return (f"| {label} | {quantity} | {np.mean(np.abs(paper['rel_err'])) * 100:.2f}% -> "
            f"{np.mean(np.abs(default['rel_err'])) * 100:.2f}% | "
            f"{int(paper['inside'].sum())}/{len(paper)} -> {int(default['inside'].sum())}/{len(default)} | "
            f"{paper['half_width'].median() * 100:.1f}% -> {default['half_width'].median() * 100:.1f}% | "
            f"{paper['score'].mean():.3f} -> {default['score'].mean():.3f} |")


def test_the_results_table_is_what_the_benchmark_measures(forecasts: pd.DataFrame) -> None:
    tasks = {"gadre2024-small": "17-task error", "gadre2024": "17-task error", "cerebras": "7-task error"}
    for testbed in TESTBEDS:
        for quantity in ("loss", "error"):
            rows = forecasts[(forecasts["testbed"] == testbed) & (forecasts["quantity"] == quantity)]
            if len(rows) == 0:
                continue
            label = testbed + (" (six targets)" if testbed == "gadre2024" else "")
            assert _row(rows, label, "loss" if quantity == "loss" else tasks[testbed]) in DOC
    for quantity in ("loss", "error"):
        rows = forecasts[forecasts["testbed"].isin(CHOOSING) & (forecasts["quantity"] == quantity)]
        assert _row(rows, "pooled, testbeds that choose", quantity) in DOC


def test_the_per_task_figures_and_the_fit_parts_pins_are_what_the_benchmark_measures(forecasts: pd.DataFrame
                                                                                      ) -> None:
    tasks = forecasts[(forecasts["quantity"] == "task") & (forecasts["method"] == "default")]
    inside = int(tasks["inside"].sum())
    assert (f"{inside} of {len(tasks)} task truths inside their 90%\nintervals ({inside / len(tasks):.1%}"
            in DOC)
    assert f"median half-width {tasks['half_width'].median():.1%}" in " ".join(DOC.split())
    errors = forecasts[(forecasts["quantity"] == "error") & (forecasts["method"] == "default")]
    pinned = int((errors["fit_low"] < 1e-3).sum())
    assert f"{pinned} of {len(errors)} rows" in DOC
