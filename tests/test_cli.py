"""The command line: reproduce, runs; bad input gets one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overtrain.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("overtrain: error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_reproduce_json_has_the_documented_keys(expected: dict) -> None:
    result = run("reproduce", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    renamed = {"dataset": "family", "M": "multiplier"}  # the paper's names -> overtrain's vocabulary
    required = {renamed.get(key, key) for key in expected["targets"][0]}
    for target in document["targets"]:
        assert required <= set(target)
    assert set(document["coefficients"]) == {"c4_original", "rpj", "rw_original"}


def test_reproduce_tables_show_the_headline() -> None:
    result = run("reproduce")
    assert result.exit_code == 0
    assert "1.44B M=640" in result.stdout and "0.71%" in result.stdout and "1.48%" in result.stdout


def test_reproduce_on_a_directory_of_paper_jsons(openlm_dir: Path, expected: dict) -> None:
    result = run("reproduce", "--runs", str(openlm_dir), "--json")
    assert result.exit_code == 0, result.output
    got = {t["run"]: t for t in json.loads(result.stdout)["targets"]}
    for want in (t for t in expected["targets"] if t["dataset"] == "rpj"):
        assert abs(got[want["run"]]["loss_rel_err"] - want["loss_rel_err"]) < 1e-6
        assert abs(got[want["run"]]["err17_rel_err"] - want["err17_rel_err"]) < 1e-6


def test_runs_command_lists_what_was_read() -> None:
    result = run("runs")
    assert result.exit_code == 0
    assert "104 runs" in result.stdout and "rpj" in result.stdout and "35" in result.stdout


def test_malformed_json(openlm_dir: Path) -> None:
    (openlm_dir / "models" / "rpj-open_lm_7b-1.0.json").write_text("{oops")
    assert_one_line_error(run("reproduce", "--runs", str(openlm_dir)), "rpj-open_lm_7b-1.0.json", "malformed JSON")


def test_missing_file() -> None:
    assert_one_line_error(run("reproduce", "--runs", "no/such/dir"), "no/such/dir", "no such file")


def test_unknown_loss_split() -> None:
    assert_one_line_error(run("reproduce", "--loss-split", "c5_val"), "no loss split 'c5_val'")


def test_run_without_the_chosen_split(openlm_dir: Path) -> None:
    file = openlm_dir / "models" / "rpj-d=512_l=8_h=4-1.0.json"
    data = json.loads(file.read_text())
    data["results"] = [r for r in data["results"] if "c4_val" not in r["val_data"][0]]
    file.write_text(json.dumps(data))
    assert_one_line_error(
        run("reproduce", "--runs", str(openlm_dir)), "rpj-d=512_l=8_h=4-1.0", "no loss on split 'c4_val'"
    )


def test_task_missing_from_a_run(openlm_dir: Path) -> None:
    file = openlm_dir / "evals" / "evaluation_rpj-open_lm_1b-1.0_heavy.json"
    data = json.loads(file.read_text())
    del data["eval_metrics"]["icl"]["copa"]
    file.write_text(json.dumps(data))
    assert_one_line_error(
        run("reproduce", "--runs", str(openlm_dir)), "rpj-open_lm_1b-1.0", "no accuracy for task 'copa'"
    )


def test_fit_set_smaller_than_the_law() -> None:
    assert_one_line_error(
        run("reproduce", "--fit-loss", "M=20,shape=d=96_l=8_h=4 | M=20,shape=d=512_l=8_h=4 | M=320,N<2e7"),
        "has 3 runs", "4 coefficients",
    )


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [("--fit-loss", "paper-los", "unknown fit-set preset 'paper-los'"),
     ("--fit-error", "widht=3", "unknown filter column 'widht'"),
     ("--targets", "params>", "cannot read 'params>'"),
     ("--tasks", "18", "task '18' is not in the runs")],
)
def test_unknown_preset_filter_column_or_task_set(option: str, value: str, fragment: str) -> None:
    assert_one_line_error(run("reproduce", option, value), fragment)


def test_console_script_end_to_end(tmp_path: Path) -> None:
    """The installed entry point: exit codes and stderr as a user's shell sees them."""
    ok = subprocess.run([sys.executable, "-m", "overtrain", "reproduce", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["loss_split"] == "c4_val"
    bad = subprocess.run([sys.executable, "-m", "overtrain", "reproduce", "--runs", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
