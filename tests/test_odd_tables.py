"""Odd tables thrown at `runs`, `forecast` and `fit` (property-based): missing, renamed and duplicated columns; text,
NaN, inf, negative, huge and percent values; a BOM, CRLF line ends, other delimiters; one run, one size, one D.
Never a traceback, never an impossible number, the input untouched."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
import typer.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from overtrain.cli import app

COLUMNS = ("run", "family", "params", "tokens", "loss:val", "acc:arc_easy", "err:piqa", "taskloss:arc_easy")
ODD_VALUES = ("", "nan", "inf", "-inf", "-1", "0", "1e30", "57", "abc", "50M", "1,5", " 3 ")
OTHER_NAMES = ("val_loss", "loss", "acc_piqa", "Params", "tokens ", "run", "params", "loss:val", "notes")


@st.composite
def odd_tables(draw: st.DrawFn) -> bytes:
    n_runs = draw(st.integers(1, 7))
    one_size = draw(st.booleans())
    one_d = draw(st.booleans())
    header, columns = [], []
    for name in COLUMNS:
        fate = draw(st.sampled_from(("keep", "keep", "keep", "drop", "rename", "twice")))
        if fate == "drop":
            continue
        shown = draw(st.sampled_from(OTHER_NAMES)) if fate == "rename" else name
        for _ in range(2 if fate == "twice" else 1):
            header.append(shown)
            columns.append(name)
    rows = []
    for i in range(n_runs):
        params = 5e7 if one_size else 5e7 * 2.0 ** i
        tokens = 1e9 if one_d else params * (20 if i % 3 else 80)
        loss = 1.8 + 400 * params**-0.3 + 900 * tokens**-0.3
        values = {"run": f"r{i}", "family": draw(st.sampled_from(("a", "a", "b"))), "params": f"{params:g}",
                  "tokens": f"{tokens:g}", "loss:val": f"{loss:.4f}",
                  "acc:arc_easy": f"{1 - (0.75 - 8 * math.exp(-loss)):.4f}",
                  "err:piqa": f"{0.5 - 3 * math.exp(-1.2 * loss):.4f}", "taskloss:arc_easy": f"{loss + 0.3:.4f}"}
        cells = []
        for name in columns:
            odd = draw(st.booleans()) and draw(st.integers(0, 5)) == 0
            cells.append(draw(st.sampled_from(ODD_VALUES)) if odd else values[name])
        rows.append(cells)
    delimiter = draw(st.sampled_from((",", ",", ";", "\t")))
    ending = draw(st.sampled_from(("\n", "\r\n")))
    text = ending.join(delimiter.join(f'"{c}"' if delimiter in c else c for c in line) for line in [header, *rows])
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text + ending).encode()


@pytest.fixture(scope="module", autouse=True)
def _command_built_once() -> object:
    """The command line built once, not for every one of thousands of calls (half their time)."""
    command = typer.main.get_command(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda _: command)
        yield


def _physical(document: dict) -> bool:
    """Every forecast and interval bound a run could have: a loss above 0, an error in [0, 1]."""
    for prediction in document["predictions"]:
        if not (prediction["loss"] > 0 and math.isfinite(prediction["loss"])):
            return False
        if any(not 0 <= e <= 1 for e in prediction["errors"].values()):
            return False
        for key, interval in prediction["intervals"].items():
            bounds = (interval["low"], interval["high"])
            if key == "loss" and not all(0 < b < math.inf for b in bounds):
                return False
            if key != "loss" and not all(0 <= b <= 1 for b in bounds):
                return False
    return True


ODD = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large]}


@settings(max_examples=1000, **ODD)
@given(table=odd_tables())
def test_odd_tables_never_raise_a_traceback_nor_print_the_impossible(tmp_path_factory, table: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("odd")) / "runs.csv"
    path.write_bytes(table)
    runner = CliRunner()
    commands = (["runs", str(path), "--json"], ["fit", str(path)],
                ["forecast", str(path), "--target", "params=1e9,multiplier=20", "--interval", "0", "--error-law",
                 "exponential", "--json"])
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exception is None or isinstance(result.exception, SystemExit), (command, result.exception)
        assert result.exit_code in (0, 2), (command, result.exit_code, result.output)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert result.stderr.strip().startswith("overtrain: error: "), result.stderr
        elif command[0] == "forecast":
            assert _physical(json.loads(result.stdout)), result.stdout
    assert path.read_bytes() == table


@settings(max_examples=40, **ODD)
@given(table=odd_tables())
def test_odd_tables_forecast_with_the_defaults(tmp_path_factory, table: bytes) -> None:
    """The default forecast (ensemble, calibrated intervals) on odd tables: the same promises."""
    path = Path(tmp_path_factory.mktemp("odd")) / "runs.csv"
    path.write_bytes(table)
    result = CliRunner().invoke(app, ["forecast", str(path), "--target", "params=1e9,multiplier=20", "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 2) and "Traceback" not in result.output
    if result.exit_code == 0:
        assert _physical(json.loads(result.stdout)), result.stdout
    assert path.read_bytes() == table
