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


def run(*args: str, **options):
    return runner.invoke(app, list(args), **options)


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
    result = run("reproduce", str(openlm_dir), "--json")
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
    assert_one_line_error(run("reproduce", str(openlm_dir)), "rpj-open_lm_7b-1.0.json", "malformed JSON")


def test_missing_file() -> None:
    assert_one_line_error(run("reproduce", "no/such/dir"), "no/such/dir", "no such file")


def test_unknown_loss_split() -> None:
    assert_one_line_error(run("reproduce", "--loss-split", "c5_val"), "no loss split 'c5_val'")


def test_run_without_the_chosen_split(openlm_dir: Path) -> None:
    file = openlm_dir / "models" / "rpj-d=512_l=8_h=4-1.0.json"
    data = json.loads(file.read_text())
    data["results"] = [r for r in data["results"] if "c4_val" not in r["val_data"][0]]
    file.write_text(json.dumps(data))
    assert_one_line_error(
        run("reproduce", str(openlm_dir)), "rpj-d=512_l=8_h=4-1.0", "no loss on split 'c4_val'"
    )


def test_task_missing_from_a_run(openlm_dir: Path) -> None:
    file = openlm_dir / "evals" / "evaluation_rpj-open_lm_1b-1.0_heavy.json"
    data = json.loads(file.read_text())
    del data["eval_metrics"]["icl"]["copa"]
    file.write_text(json.dumps(data))
    assert_one_line_error(
        run("reproduce", str(openlm_dir)), "rpj-open_lm_1b-1.0", "no accuracy for task 'copa'"
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
    bad = subprocess.run([sys.executable, "-m", "overtrain", "reproduce", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# --- issue 32: every command reads runs alike, names options alike, and reports usage errors in one line ---------

EXAMPLES = Path(__file__).parents[1] / "examples"
SWEEP = EXAMPLES / "sweep.csv"


def _renamed_sweep(tmp_path: Path) -> Path:
    """examples/sweep.csv with its loss column under another name, to be read with --column."""
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(SWEEP.read_text().replace("loss:val", "val_loss", 1))
    return renamed


def test_design_starts_from_a_users_runs(tmp_path: Path) -> None:
    design = ("design", "--target", "params=1.4e9,tokens=2.8e10", "--budget", "2e19", "--json")
    result = run(*design[:1], str(_renamed_sweep(tmp_path)), "--column", "val_loss=loss:val", *design[1:])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {e["run"] for e in document["evidence"]} == {"web-400m-m20", "web-filtered-400m-m20"}
    assert "renamed.csv" in document["expectation"] and "bundled testbed" not in document["expectation"]
    assert_one_line_error(run(*design[:1], "--column", "a=b", *design[1:]), "need a RUNS path")


def test_plan_reads_runs_with_the_shared_options(tmp_path: Path) -> None:
    result = run("plan", str(_renamed_sweep(tmp_path)), "--column", "val_loss=loss:val", "--budget", "1e21", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["best"]) == {"web", "web-filtered"}
    assert_one_line_error(run("plan", "--column", "a=b", "--budget", "1e21"), "need a RUNS path")
    laws = tmp_path / "laws.json"
    assert run("fit", str(SWEEP), "-o", str(laws)).exit_code == 0
    assert_one_line_error(run("plan", str(laws), "--sizes", str(SWEEP), "--budget", "1e21"), "law file", "--sizes")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [(("forecast", "--colum", "a=b"), ("forecast: no such option --colum (did you mean --column?)",)),
     (("design", "a.csv", "b.csv", "--target", "params=1e9,tokens=2e10", "--budget", "1e18"),
      ("design: ", "unexpected extra argument", "b.csv")),
     (("compare",), ("compare: ", "missing option --target")),
     (("forecast", "--target"), ("forecast: ", "--target", "needs a value")),
     (("backtest", "--interval", "wide"), ("backtest: ", "--interval", "'wide'")),
     (("reproduce", "--ou", "x"), ("reproduce: no such option --ou (did you mean --output?)",)),
     (("forcast",), ("no such command 'forcast'", "did you mean 'forecast'")),
     (("--bogus",), ("no such option --bogus",))],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    result = run(*args)
    assert_one_line_error(result, *fragments)
    assert "Usage:" not in result.output and "╭" not in result.output


def test_help_still_works() -> None:
    for args in (("--help",), ("forecast", "--help"), ("design", "--help")):
        result = run(*args)
        assert result.exit_code == 0 and "Usage" in result.stdout, result.output


def test_reproduce_takes_runs_and_output_like_its_siblings(tmp_path: Path) -> None:
    positional = run("reproduce", str(SWEEP), "--json")
    assert positional.exit_code == 0, positional.output
    assert positional.stdout == run("reproduce", "--runs", str(SWEEP), "--json").stdout  # the old name still works
    assert_one_line_error(run("reproduce", "-o", str(tmp_path / "x")), "--output is for --all")
    assert_one_line_error(run("reproduce", "--out", str(tmp_path / "x")), "--output is for --all")
    assert_one_line_error(run("reproduce", "--all"), "--all needs --output DIR")
    assert_one_line_error(run("reproduce", "--sizes", str(SWEEP)), "need a RUNS path")
    shown = run("reproduce", "--help", env={"COLUMNS": "200"}).stdout
    assert "--output" in shown and "--runs " not in shown and "--out " not in shown


def test_commands_reading_runs_name_them_alike() -> None:
    for command in ("reproduce", "runs", "forecast", "backtest", "fit", "design", "compare"):
        shown = run(command, "--help", env={"COLUMNS": "200"}).stdout
        assert "[OPTIONS] [RUNS]" in shown.replace("[runs]", "[RUNS]"), (command, shown.splitlines()[:3])
        for option in ("--sizes", "--task-info", "--column"):
            assert option in shown, (command, option)


def test_version_option_and_bare_overtrain() -> None:
    from overtrain import __version__

    assert run("--version").stdout.strip() == __version__
    assert run("version").stdout.strip() == __version__  # hidden, for one release
    assert "Print the version." not in run("--help", env={"COLUMNS": "200"}).stdout
    bare = run()
    assert bare.exit_code == 0 and "Usage" in bare.stdout and "forecast" in bare.stdout


def test_every_command_takes_its_defaults_from_one_method() -> None:
    """`forecast`, `backtest` and `compare` forecast with `DEFAULT_METHOD`'s error law (the suite's choice); `fit`
    fits one law, the exponential, as `plan` inverts it (an ensemble is a mean of forecasts: no formula)."""
    import inspect

    from overtrain.cli.deciding import compare_command
    from overtrain.cli.forecasting import backtest_command, fit_command, forecast_command
    from overtrain.fitting.method import DEFAULT_METHOD, PAPER_METHOD
    from overtrain.names import DEFAULT_ERROR_LAW

    def default(command: object, name: str = "error_law") -> object:
        return inspect.signature(command).parameters[name].default

    assert DEFAULT_METHOD.error_law == DEFAULT_ERROR_LAW
    assert default(forecast_command) is None  # None: DEFAULT_METHOD's, or the one law --law auto considers
    assert default(backtest_command) == default(compare_command) == DEFAULT_METHOD.error_law
    assert default(fit_command) == PAPER_METHOD.error_law == "exponential"
    for name in ("law", "objective"):
        assert default(backtest_command, name) == default(fit_command, name) == getattr(
            DEFAULT_METHOD, f"loss_{name}" if name == "objective" else "loss_law")


def test_results_speak_one_way() -> None:
    """Fits, forecasts, backtests, comparisons and the reproduction each give `summary_frame()` (a frame); fits and
    backtests also `summary()` (text)."""
    import pandas as pd

    import overtrain as ot
    from overtrain.decide.compare import compare_families
    from overtrain.fitting.fit import fit_loss

    runs = ot.read_runs(EXAMPLES / "sweep.csv")
    web = runs.family("web")
    fit = fit_loss(web, "val")
    backtest = ot.summarize_backtest(web, tasks="all")
    results = [fit, backtest, ot.predict(runs, "1.4B", multiplier=20), ot.reproduce(),
               compare_families(runs, ot.Target(1.4e9, 2.8e10))]
    for result in results:
        assert isinstance(result.summary_frame(), pd.DataFrame) and len(result.summary_frame()), type(result)
    assert list(fit.summary_frame().columns) == ["estimate", "std_err", "low", "high"]
    assert "rolling backtest of shared-exponent + ensemble" in backtest.summary() and fit.summary()
