"""The same answer on every machine: every command's output under two OpenBLAS kernels and one and two threads.

A discrete choice made on a computed value (a grid point, a bound flag, a quantile of a few values) must not flip
with the last bits a BLAS kernel computes. `tools/snapshot_outputs.py --outputs` records every command's JSON and
printed table on the bundled testbed and the examples; `--same` holds two records to 1e-6 relative (JSON) and to the
character (printed). The kernels are OpenBLAS's (numpy's wheels ship a build that picks its kernel at run time and
honours OPENBLAS_CORETYPE); Sandybridge (AVX) and Haswell (AVX2, FMA) run on any x86-64 machine of the last decade.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "snapshot_outputs.py"

#: (kernel, threads): two kernels, one and two threads; each differs from the first in one or both.
MACHINES = [("Haswell", 1), ("Sandybridge", 2), ("Sandybridge", 1), ("Haswell", 2)]


def _runs_both_kernels() -> bool:
    """Whether this CPU runs both kernels: Haswell's needs AVX2 and FMA (Linux says so in /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def _openblas() -> bool:
    import numpy as np

    config = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = json.dumps(config.get("Build Dependencies", {}).get("blas", {})).lower()
    return "openblas" in blas


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not _openblas() or not _runs_both_kernels(),
                    reason="the kernels named are OpenBLAS's on x86-64 with AVX2 and FMA")
def test_every_output_is_the_same_under_two_blas_kernels_and_two_thread_counts(tmp_path: Path) -> None:
    def start(kernel: str, threads: int) -> tuple[Path, subprocess.Popen]:
        path = tmp_path / f"{kernel}-{threads}.json"
        env = {**os.environ, "OPENBLAS_CORETYPE": kernel, "OPENBLAS_NUM_THREADS": str(threads),
               "OMP_NUM_THREADS": str(threads), "OPENBLAS_VERBOSE": "2"}
        process = subprocess.Popen([sys.executable, str(TOOL), "--outputs", str(path)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return path, process

    records = []
    for pair in (MACHINES[:2], MACHINES[2:]):  # two at a time: the machines CI runs on have two cores
        started = [start(*machine) for machine in pair]
        for (path, process), machine in zip(started, pair, strict=True):
            out, err = process.communicate(timeout=900)
            assert process.returncode == 0, (machine, err[-2000:])
            # OpenBLAS says which kernel it runs when OPENBLAS_VERBOSE=2: the setting took
            assert f"Core: {machine[0]}" in out + err, (machine, (out + err)[-500:])
            records.append(path)
    first = records[0]
    outputs = json.loads(first.read_text())
    assert len(outputs) >= 39 and all(output["exit"] == 0 for output in outputs.values())
    for other in records[1:]:
        result = subprocess.run([sys.executable, str(TOOL), "--same", str(first), str(other)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (other.name, result.stderr[:3000])
        assert "0 differences" in result.stdout


def test_the_comparison_finds_a_number_that_differs(tmp_path: Path) -> None:
    """`--same` is not blind: a JSON number moved by 1e-5 relative, or one printed digit, is a difference."""
    sys.path.insert(0, str(TOOL.parent))
    try:
        import snapshot_outputs
    finally:
        sys.path.remove(str(TOOL.parent))
    base = {"forecast": {"exit": 0, "json": json.dumps({"loss": 2.5, "intervals": [0.1, 0.4]}),
                         "text": "loss 2.5000\n"}}
    same = {"forecast": {"exit": 0, "json": json.dumps({"loss": 2.5 * (1 + 1e-9), "intervals": [0.1, 0.4]}),
                         "text": "loss 2.5000\n"}}
    moved = {"forecast": {"exit": 0, "json": json.dumps({"loss": 2.5, "intervals": [0.1 * (1 + 1e-5), 0.4]}),
                          "text": "loss 2.5000\n"}}
    printed = {"forecast": {"exit": 0, "json": base["forecast"]["json"], "text": "loss 2.5001\n"}}
    assert snapshot_outputs.differences(base, same) == []
    assert snapshot_outputs.differences(base, moved) == ["forecast: /intervals[0]: 0.1 against 0.100001"]
    assert snapshot_outputs.differences(base, printed) == ["forecast: printed 'loss 2.5000' against 'loss 2.5001'"]
