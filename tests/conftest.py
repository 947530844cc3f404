"""Shared fixtures: the bundled testbed, the paper's expected numbers, a raw open_lm directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overtrain import RunTable, load_testbed

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def testbed() -> RunTable:
    return load_testbed()


@pytest.fixture(scope="session")
def expected() -> dict:
    """The paper's results (a copy of shared/gadre2024/expected.json)."""
    return json.loads((FIXTURES / "expected_gadre2024.json").read_text())


@pytest.fixture()
def openlm_dir(tmp_path: Path) -> Path:
    """A writable copy of 8 RedPajama runs in the paper's raw JSON format."""
    import shutil

    target = tmp_path / "openlm_rpj"
    shutil.copytree(FIXTURES / "openlm_rpj", target)
    return target
