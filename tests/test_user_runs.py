"""Bring your own runs: CSV round trip, lm-evaluation-harness ingestion, fit/predict, and every bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from overtrain import RunTable, read_runs, reproduce, write_runs_table
from overtrain.cli import app
from overtrain.forecasts import fit_laws, parse_target
from overtrain.lawfile import load_laws
from overtrain.runs.checks import diagnose

FIXTURES = Path(__file__).parent / "fixtures"
LM_EVAL = FIXTURES / "lm_eval"
SIZES = LM_EVAL / "sizes.csv"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("overtrain: error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(scope="module")
def testbed_csv(tmp_path_factory: pytest.TempPathFactory, testbed) -> Path:
    path = tmp_path_factory.mktemp("csv") / "testbed.csv"
    write_runs_table(testbed, path)
    return path


def test_csv_round_trip_reproduces_the_redpajama_forecasts(testbed_csv: Path) -> None:
    paper = {t.run: t for t in reproduce().targets if t.family == "rpj"}
    targets = [f"params={t.forecast.params!r},tokens={t.forecast.tokens!r}" for t in paper.values()]
    args = ["forecast", testbed_csv, "--family", "rpj", "--fit-loss", "paper-loss", "--fit-error", "paper-error",
            "--tasks", "17", "--loss-split", "c4_val", "--error-law", "exponential", "--json"]
    for target in targets:
        args += ["--target", target]
    result = run(*args)
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 3
    for prediction, expected in zip(predictions, paper.values(), strict=True):
        assert prediction["loss"] == expected.forecast.loss
        assert prediction["error"] == expected.forecast.errors["17"]
        assert prediction["params"] == expected.forecast.params and prediction["tokens"] == expected.forecast.tokens


def test_lm_eval_results_ingest_with_the_documented_metric_choice() -> None:
    runs = read_runs(LM_EVAL, sizes=SIZES)
    assert len(runs) == 9 and runs.families == ["acme-web"]
    assert sorted(runs.task_names) == ["arc_easy", "hellaswag", "lambada_openai", "piqa", "winogrande"]
    modern = json.loads((LM_EVAL / "acme__tiny-20m" / "results_2026-01-01T00-00-00.000000.json").read_text())
    legacy = json.loads((LM_EVAL / "tiny-20m-m320" / "results.json").read_text())
    assert runs.frame.loc["acme/tiny-20m", "acc:arc_easy"] == modern["results"]["arc_easy"]["acc_norm,none"]
    assert runs.frame.loc["acme/tiny-20m", "acc:winogrande"] == modern["results"]["winogrande"]["acc,none"]
    assert runs.frame.loc["tiny-20m-m320", "acc:hellaswag"] == legacy["results"]["hellaswag"]["acc_norm"]
    assert runs.tasks.loc["hellaswag", "n_examples"] == 10042


def test_lm_eval_end_to_end_forecast_recovers_the_known_sweep() -> None:
    """The fixture's losses follow L = 1.9 + 180 N^-0.28 + 300 D^-0.28 exactly (tools/make_lm_eval_fixture.py)."""
    result = run("forecast", LM_EVAL, "--sizes", SIZES, "--fit-loss", "N<1e9", "--fit-error", "N<1e9",
                 "--target", "params=2.8e9,multiplier=80", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (prediction,) = document["predictions"]
    truth = read_runs(LM_EVAL, sizes=SIZES).where(params=2.8e9)
    assert prediction["loss"] == pytest.approx(1.9 + 180 * 2.8e9**-0.28 + 300 * 2.24e11**-0.28, rel=1e-9)
    assert prediction["loss"] == pytest.approx(truth.loss("val").iloc[0], rel=1e-9)
    assert prediction["error"] == pytest.approx(truth.error("all").iloc[0], rel=0.01)
    loss_law = document["laws"][0]["loss"]
    assert (loss_law["E"], loss_law["A"], loss_law["B"], loss_law["alpha"]) == pytest.approx((1.9, 180, 300, 0.28))


def test_fit_then_predict_without_the_runs(tmp_path: Path) -> None:
    law_file = tmp_path / "law.json"
    fitted = run("fit", LM_EVAL, "--sizes", SIZES, "--fit-loss", "N<1e9", "--fit-error", "N<1e9", "-o", law_file)
    assert fitted.exit_code == 0, fitted.output
    document = json.loads(law_file.read_text())
    assert document["format"] == "overtrain-laws" and document["overtrain_version"]
    assert document["data"]["source"] == str(LM_EVAL) and len(document["laws"][0]["loss"]["data"]["runs"]) == 8
    direct = run("forecast", LM_EVAL, "--sizes", SIZES, "--fit-loss", "N<1e9", "--fit-error", "N<1e9",
                 "--error-law", "exponential", "--target", "N=7e9,D=2e12", "--interval", "0", "--json")
    saved = run("point-forecast", law_file, "--target", "N=7e9,D=2e12", "--json")
    assert saved.exit_code == 0, saved.output
    # a law file keeps the average's laws, not each task's: predict gives no per-task forecasts, the rest is equal
    from_file = json.loads(saved.stdout)["predictions"]
    from_runs = json.loads(direct.stdout)["predictions"]
    n_tasks = len(document["laws"][0]["error"]["task_set"]["tasks"])
    assert all(p.pop("tasks") == [] for p in from_file) and all(len(p.pop("tasks")) == n_tasks for p in from_runs)
    assert from_file == from_runs
    (laws,) = load_laws(law_file)
    assert laws.loss.law.alpha == pytest.approx(0.28)


def test_default_fit_sets_use_every_complete_run(testbed) -> None:
    laws = fit_laws(testbed.family("rw_original"), tasks="17")
    assert laws.loss.n_runs == 35 and laws.error.n_runs == 35
    assert laws.loss.loss_split == "c4_val" and laws.error.task_set.name == "17"


def test_runs_command_reports_what_was_read_and_warns() -> None:
    result = run("runs", LM_EVAL, "--sizes", SIZES)
    assert result.exit_code == 0, result.output
    assert "9 runs" in result.stdout and "acme-web" in result.stdout
    # the harness does not record chance accuracies; the bundled task table knows these five tasks
    assert result.stdout.strip().endswith("no problems found")
    tasks = read_runs(LM_EVAL, sizes=SIZES).tasks
    assert tasks.loc["arc_easy", "chance"] == 0.25 and tasks.loc["winogrande", "chance"] == 0.5
    assert run("runs").stdout.strip().endswith("no problems found")


def test_runs_command_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("run,params,tokens,loss\na,1e7,-2e8,3.5\nb,2e7,4e8,nan\nc,x,4e8,3.1\nc,3e7,6e8,1.2\n")
    result = run("runs", bad)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in result.output
    assert any("run 'a': tokens = -200000000.0 is not positive" in line for line in lines)
    assert any("run 'b': loss:default = 'nan' is not a number" in line for line in lines)
    assert any("run 'c': params = 'x' is not a number" in line for line in lines)
    assert any("duplicate run id 'c'" in line for line in lines)
    first = one_line_error(run("forecast", bad, "--target", "N=1e9,M=20"), "bad.csv", "and 3 more problems")
    assert "run 'c'" in first or "duplicate" in first


def test_thin_sweeps_are_diagnosed(testbed) -> None:
    assert diagnose(testbed) == []
    thin = testbed.family("rpj").select("multiplier=20,params<2e8")
    problems = diagnose(thin)
    assert any("3 model size" not in p and "every run has M = 20" in p for p in problems)


def test_runs_of_one_configuration_whose_losses_disagree_are_diagnosed() -> None:
    rows = [{"run": f"{n:g}-{k}", "family": "f", "params": n, "tokens": 20 * n, "loss:val": loss}
            for n in (1e7, 3e7, 1e8) for k, loss in enumerate((3.0, 3.01) if n < 1e8 else (3.0, 3.45))]
    problems = diagnose(RunTable.from_frame(pd.DataFrame(rows)))
    spread = [p for p in problems if "are their losses on one measure" in p]
    # only N = 1e8 is flagged: 3.45 / 3.0 is 15% apart; 3.01 / 3.0 is within the 5% replicates may differ by
    assert spread == ["family 'f': the 2 runs at N = 1e+08, D = 2e+09 differ in loss:val by 15% (3 to 3.45): are "
                      "their losses on one measure?"]


@pytest.mark.parametrize(
    ("csv", "fragments"),
    [
        ("run,tokens,loss\na,2e8,3.5\n", ["missing required column 'params'"]),
        ("run,params,tokens,loss\na,1e7,2e8,inf\n", ["run 'a': loss:default = inf is not finite"]),
        ("run,params,tokens,loss,acc:copa\na,1e7,2e8,3.5,1.2\n", ["run 'a': acc:copa = 1.2 is outside [0, 1]"]),
        ("run,params,tokens,loss,err:copa\na,1e7,2e8,3.5,lots\n", ["run 'a': err:copa = 'lots' is not a number"]),
        ("run,params,tokens,loss\na,0,2e8,3.5\n", ["run 'a': params = 0.0 is not positive"]),
    ],
)
def test_malformed_tables(tmp_path: Path, csv: str, fragments: list[str]) -> None:
    path = tmp_path / "runs.csv"
    path.write_text(csv)
    one_line_error(run("forecast", path, "--target", "N=1e9,M=20"), str(path), *fragments)


SWEEP = "run,params,tokens,loss:val,acc:copa\n" + "".join(
    f"r{i},{n:g},{n * m:g},{1.9 + 180 * n**-0.28 + 300 * (n * m) ** -0.28!r},{0.5 + 0.01 * i}\n"
    for i, (n, m) in enumerate(
        [(2e7, 20), (6e7, 20), (1.5e8, 20), (4e8, 20), (2e7, 320), (6e7, 80), (2e7, 80), (2e7, 40)]
    )
)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--loss-split", "c4"], ["no loss split 'c4'"]),
        (["--tasks", "piqa"], ["task 'piqa' is not in the runs"]),
        (["--fit-loss", "params>1e12"], ["loss fit set 'params>1e12' selects no runs"]),
        (["--fit-error", "params>1e8"], ["error fit set 'params>1e8' has 2 runs", "3 coefficients"]),
        (["--fit-loss", "widht<3"], ["unknown filter column 'widht'"]),
    ],
)
def test_bad_fit_requests(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    path = tmp_path / "sweep.csv"
    path.write_text(SWEEP)
    one_line_error(run("forecast", path, "--target", "N=1e9,M=20", *args), *fragments)


@pytest.mark.parametrize(
    ("target", "fragment"),
    [("tokens=2e12", "missing params"), ("params=7e9", "exactly one of tokens or multiplier"),
     ("params=-7e9,tokens=2e12", "params must be a positive number"), ("params=7e9,tokens=0", "tokens must be"),
     ("params=7e9,M=20,D=1e11", "exactly one of tokens or multiplier"), ("size=7e9", "cannot read 'size=7e9'"),
     ("params=big,M=20", "params = 'big' is not a number")],
)
def test_bad_targets(tmp_path: Path, target: str, fragment: str) -> None:
    path = tmp_path / "sweep.csv"
    path.write_text(SWEEP)
    one_line_error(run("forecast", path, "--target", target), fragment)
    with pytest.raises(Exception, match=fragment.replace("(", r"\(")):
        parse_target(target)


def test_inputs_untouched_and_failed_outputs_not_written(tmp_path: Path) -> None:
    path = tmp_path / "sweep.csv"
    path.write_text(SWEEP)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    law_file = tmp_path / "law.json"
    one_line_error(run("fit", path, "--fit-loss", "params>1e12", "-o", law_file), "selects no runs")
    assert not law_file.exists()
    assert run("fit", path, "-o", law_file).exit_code == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["law.json", "sweep.csv"]


def test_bad_law_files(tmp_path: Path) -> None:
    path = tmp_path / "law.json"
    path.write_text("{}")
    one_line_error(run("point-forecast", path, "--target", "N=1e9,M=20"), "not an overtrain law file")
    path.write_text("[1,")
    one_line_error(run("point-forecast", path, "--target", "N=1e9,M=20"), "malformed JSON")
    one_line_error(run("point-forecast", tmp_path / "nope.json", "--target", "N=1e9,M=20"), "no such file")


def test_harness_results_without_sizes_or_unmatched(tmp_path: Path) -> None:
    one_line_error(run("forecast", LM_EVAL, "--target", "N=1e9,M=20"), "need a sizes table")
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("\n".join(SIZES.read_text().splitlines()[:-1]) + "\n")  # drop the 2.8B run
    one_line_error(run("forecast", LM_EVAL, "--sizes", sizes, "--target", "N=1e9,M=20"),
                   "acme__xl-2800m-m80", "matches no run")


def test_forecast_json_entries_have_the_documented_keys() -> None:
    result = run("forecast", "--family", "rpj", "--target", "params=7e9,tokens=2e12", "--tasks", "none", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["predictions"]
    assert {"params", "tokens", "loss", "error"} <= set(entry) and entry["error"] is None
    assert np.isfinite(entry["loss"])


def test_a_run_is_matched_by_the_last_part_of_its_checkpoint_path(tmp_path: Path) -> None:
    results = tmp_path / "out" / "whatever"
    results.mkdir(parents=True)
    (results / "results_2026.json").write_text(json.dumps({
        "results": {"arc_easy": {"acc,none": 0.5}, "piqa": {"acc,none": 0.6}},
        "config": {"model_args": "pretrained=/checkpoints/tiny-20m,dtype=bfloat16"}}))
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("run,params,tokens,loss\ntiny-20m,2e7,4e8,4.7\n")
    runs = read_runs(tmp_path / "out", sizes=sizes)
    assert runs.runs == ["tiny-20m"] and runs.accuracy_values("all").tolist() == [[0.5, 0.6]]


def test_two_results_files_of_one_run_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "tiny-20m"
    folder.mkdir(parents=True)
    for stamp, value in (("2026-01-01", 0.5), ("2026-02-01", 0.55)):
        (folder / f"results_{stamp}.json").write_text(json.dumps({"results": {"arc_easy": {"acc,none": value}}}))
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("run,params,tokens,loss\ntiny-20m,2e7,4e8,4.7\n")
    runs = read_runs(tmp_path / "out", sizes=sizes)
    assert runs.accuracy_values("all").tolist() == [[0.55]]
    assert diagnose(runs)[0] == ("run 'tiny-20m': task 'arc_easy' is in results_2026-01-01.json and "
                                 "results_2026-02-01.json; kept results_2026-02-01.json, the later one")


def test_losses_from_training_logs_join_the_sizes_table(tmp_path: Path) -> None:
    logs = tmp_path / "losses.csv"
    logs.write_text("run,loss:train\nacme/tiny-20m,4.9\nacme/base-150m,3.6\n")
    runs = read_runs(LM_EVAL, sizes=[SIZES, logs])
    losses = runs.frame["loss:train"]
    assert losses["acme/tiny-20m"] == 4.9 and losses["acme/base-150m"] == 3.6 and losses.isna().sum() == 7
    result = run("runs", LM_EVAL, "--sizes", SIZES, "--sizes", logs)
    assert result.exit_code == 0 and "train" in result.stdout
    clash = tmp_path / "clash.csv"
    clash.write_text("run,params\nacme/tiny-20m,1e7\n")
    bad = run("runs", LM_EVAL, "--sizes", SIZES, "--sizes", clash)
    assert bad.exit_code == 2 and "column 'params' is already given" in bad.output
