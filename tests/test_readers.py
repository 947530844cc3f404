"""Readers: the paper's JSON format yields exactly the bundled table; bad files get one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from overtrain import (
    OvertrainError,
    load_testbed_metadata,
    read_openlm_dir,
    read_runs,
    read_runs_table,
    write_runs_table,
)
from overtrain.runs.readers.openlm import split_name
from overtrain.runs.testbed import RUNS_FILE


def test_reader_yields_exactly_the_bundled_rows(openlm_dir: Path, testbed) -> None:
    raw = read_openlm_dir(openlm_dir)
    assert len(raw) == 8
    bundled = testbed.frame.loc[raw.frame.index]
    pd.testing.assert_frame_equal(raw.frame, bundled[raw.frame.columns], check_exact=True)
    assert list(raw.frame.columns) == list(testbed.frame.columns)
    pd.testing.assert_frame_equal(raw.tasks, testbed.tasks, check_exact=True, check_dtype=False)


def test_bundled_testbed_shape_and_sidecar(testbed) -> None:
    assert len(testbed) == 104
    assert testbed.families == ["c4_original", "rpj", "rw_original"]
    assert sorted(testbed.splits) == sorted(
        ["c4_val", "open_lm_val", "paloma_c4_en", "paloma_redpajama", "paloma_falcon-refinedweb",
         "paloma_dolma_100_programing_languages", "paloma_ptb", "val_de-en_100"]
    )
    assert len(testbed.task_names) == 46
    for split in testbed.splits:
        bounds = testbed.loss_bounds(split)
        assert bounds is not None
        assert np.all(bounds["lower95"] <= testbed.loss(split)) and np.all(testbed.loss(split) <= bounds["upper95"])
    meta = load_testbed_metadata()
    assert meta["files"]["testbed.csv"]["rows"] == 104
    assert meta["files"]["testbed.csv"]["sha256"] == hashlib.sha256(RUNS_FILE.read_bytes()).hexdigest()
    assert "MIT" in meta["licence"]
    assert testbed.tasks.loc["arc_easy", "chance"] == 0.25 and testbed.tasks.loc["arc_easy", "n_examples"] == 2376


def test_derived_quantities(testbed) -> None:
    run = testbed.frame.loc["rpj-open_lm_1b-32.0"]
    assert run["multiplier"] == 640
    assert run["flops"] == 6 * run["params"] * run["tokens"]
    np.testing.assert_array_equal(testbed.multiplier, testbed.tokens / testbed.params)


@pytest.mark.parametrize(
    ("path", "split"),
    [
        ("training/eval_data/c4_val/shard-{0000000..0000010}.tar", "c4_val"),
        ("training/eval_data/val_tok_mult/openlm/shard_00000000.tar", "open_lm_val"),
        ("training/eval_data/val_tok_mult/paloma_ptb/00000001.tar", "paloma_ptb"),
        ("training/eval_data/val_tok_mult/de-en/val_de-en_100.tar", "val_de-en_100"),
    ],
)
def test_split_names(path: str, split: str) -> None:
    assert split_name(path) == split


def test_round_trip_through_csv_is_exact(tmp_path: Path, testbed) -> None:
    out = tmp_path / "runs.csv"
    write_runs_table(testbed, out)
    back = read_runs(out)
    pd.testing.assert_frame_equal(back.frame, testbed.frame, check_exact=True)


def test_round_trip_through_parquet_is_exact(tmp_path: Path, testbed) -> None:
    out = tmp_path / "runs.parquet"
    write_runs_table(testbed, out)
    pd.testing.assert_frame_equal(read_runs(out).frame, testbed.frame, check_exact=True)


def _corrupt(openlm_dir: Path, name: str, edit) -> Path:
    file = openlm_dir / "models" / name
    data = json.loads(file.read_text())
    edit(data)
    file.write_text(json.dumps(data))
    return file


def test_malformed_json_names_the_file_and_position(openlm_dir: Path) -> None:
    file = openlm_dir / "models" / "rpj-d=96_l=8_h=4-1.0.json"
    file.write_text('{"name": "x", ')
    with pytest.raises(OvertrainError, match=r"rpj-d=96_l=8_h=4-1\.0\.json: malformed JSON \(line 1"):
        read_openlm_dir(openlm_dir)


def test_missing_field_names_the_field(openlm_dir: Path) -> None:
    _corrupt(openlm_dir, "rpj-open_lm_7b-1.0.json", lambda d: d["hyperparameters"].pop("tokens"))
    with pytest.raises(OvertrainError, match=r"rpj-open_lm_7b-1\.0\.json: missing field 'hyperparameters\.tokens'"):
        read_openlm_dir(openlm_dir)


def test_non_positive_params_names_the_run(openlm_dir: Path) -> None:
    _corrupt(openlm_dir, "rpj-open_lm_7b-1.0.json", lambda d: d["hyperparameters"].update(params=0))
    with pytest.raises(OvertrainError, match=r"run 'rpj-open_lm_7b-1\.0': params = 0\.0 is not positive"):
        read_openlm_dir(openlm_dir)


def test_accuracy_outside_unit_interval(openlm_dir: Path) -> None:
    file = openlm_dir / "evals" / "evaluation_rpj-open_lm_7b-1.0_heavy.json"
    data = json.loads(file.read_text())
    data["eval_metrics"]["icl"]["copa"] = 55.0
    file.write_text(json.dumps(data))
    with pytest.raises(OvertrainError, match=r"run 'rpj-open_lm_7b-1\.0': acc:copa = 55\.0 is outside \[0, 1\]"):
        read_openlm_dir(openlm_dir)


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OvertrainError, match="no open_lm model JSON files"):
        read_openlm_dir(tmp_path)
    with pytest.raises(OvertrainError, match="no such file or directory"):
        read_runs(tmp_path / "nope")


def test_reading_never_modifies_inputs(openlm_dir: Path) -> None:
    before = {p: p.read_bytes() for p in openlm_dir.rglob("*") if p.is_file()}
    read_openlm_dir(openlm_dir)
    assert {p: p.read_bytes() for p in openlm_dir.rglob("*") if p.is_file()} == before


def test_csv_errors_name_file_run_and_problem(tmp_path: Path) -> None:
    file = tmp_path / "runs.csv"
    file.write_text("run,params,tokens,loss:val\na,1e7,2e8,3.5\nb,2e7,abc,3.4\n")
    with pytest.raises(OvertrainError, match=r"runs\.csv: run 'b': tokens = 'abc' is not a number"):
        read_runs_table(file)
    file.write_text("run,params,tokens,loss:val\na,1e7,2e8,3.5\na,2e7,4e8,3.4\n")
    with pytest.raises(OvertrainError, match=r"runs\.csv: duplicate run id 'a'"):
        read_runs_table(file)
    file.write_text("run,params,loss:val\na,1e7,3.5\n")
    with pytest.raises(OvertrainError, match=r"runs\.csv: missing required column 'tokens'"):
        read_runs_table(file)
    file.write_text("run,params,tokens,loss:val\na,1e7,2e8,inf\n")
    with pytest.raises(OvertrainError, match=r"run 'a': loss:val = inf is not finite"):
        read_runs_table(file)
