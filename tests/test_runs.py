"""The run table: selection, losses, task errors, and the errors that name what is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overtrain import PAPER_17, PAPER_46, OvertrainError, RunTable, parse_filter
from overtrain.runs.tasks import average_error


def test_paper_fit_sets_select_the_papers_runs(testbed) -> None:
    rpj = testbed.family("rpj")
    assert sorted(rpj.select("paper-loss").runs) == sorted(
        ["rpj-d=96_l=8_h=4-1.0", "rpj-d=512_l=8_h=4-1.0", "rpj-d=576_l=24_h=8-1.0", "rpj-d=1024_l=24_h=8-1.0",
         "rpj-d=96_l=8_h=4-16.0"]
    )
    assert sorted(rpj.select("paper-error").runs) == sorted([*rpj.select("paper-loss").runs, "rpj-open_lm_1b-1.0"])
    assert sorted(rpj.select("paper-targets").runs) == ["rpj-open_lm_1b-1.0", "rpj-open_lm_1b-32.0",
                                                       "rpj-open_lm_7b-1.0"]


def test_filters_and_aliases(testbed) -> None:
    small = testbed.select("N<=4.2e8,M=20")
    assert len(small) == 12 and set(small.frame["shape"]) == {"d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8",
                                                              "d=1024_l=24_h=8"}
    assert len(testbed.select("family=rpj | family=rw_original")) == 70
    assert len(testbed.select("family!=rpj,params>1e9")) == 6
    assert len(testbed.select("loss:c4_val<3")) == len(testbed.frame.query("`loss:c4_val` < 3"))
    assert parse_filter("shape=d=96_l=8_h=4").clauses[0][0].value == "d=96_l=8_h=4"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("widht=3", "unknown filter column 'widht'"),
        ("params<=lots", "params is numeric but 'lots' is not a number"),
        ("params", "unknown fit-set preset 'params'"),
        ("paper-los", "unknown fit-set preset 'paper-los'"),
        ("params<=1e9,", "cannot read ''"),
        ("params<=1e9 | ", "empty clause"),
    ],
)
def test_bad_filters_say_what_is_wrong(testbed, spec: str, message: str) -> None:
    with pytest.raises(OvertrainError, match=message.replace("(", r"\(")):
        testbed.select(spec)


def test_average_error_is_mean_of_one_minus_accuracy(testbed) -> None:
    run = testbed.frame.loc["rpj-open_lm_7b-1.0"]
    manual = sum(1 - run[f"acc:{t}"] for t in PAPER_17) / 17
    assert testbed.error("17")["rpj-open_lm_7b-1.0"] == pytest.approx(manual, rel=1e-15)
    assert len(testbed.task_set("46")) == 46 and set(PAPER_17) < set(PAPER_46)
    assert testbed.task_set("arc_easy,piqa").tasks == ("arc_easy", "piqa")
    np.testing.assert_allclose(average_error(pd.DataFrame({"a": [1.0, 0.5], "b": [0.0, 0.5]})), [0.5, 0.5])


def test_seventeen_tasks_are_those_a_small_model_beats_chance_on_by_ten_points(testbed) -> None:
    """The paper's definition, computed from the data: some 0.154B run >= 10 points above chance."""
    small = testbed.where(shape="d=576_l=24_h=8")
    above = [t for t in testbed.task_names
             if (small.accuracy([t])[t] - testbed.tasks.loc[t, "chance"]).max() >= 0.10]
    assert sorted(above) == sorted(PAPER_17)


def test_missing_split_task_and_family(testbed) -> None:
    with pytest.raises(OvertrainError, match="no loss split 'c5_val'"):
        testbed.loss("c5_val")
    with pytest.raises(OvertrainError, match="task 'mmmlu' is not in the runs"):
        testbed.error(["mmmlu"])
    with pytest.raises(OvertrainError, match="no runs of family 'pile'"):
        testbed.family("pile")


def test_a_run_without_a_split_or_task_is_named() -> None:
    frame = pd.DataFrame({"run": ["a", "b"], "params": [1e7, 2e7], "tokens": [2e8, 4e8],
                          "loss:val": [3.5, np.nan], "acc:copa": [0.6, np.nan], "acc:piqa": [0.55, 0.6]})
    runs = RunTable.from_frame(frame, source="mine.csv")
    with pytest.raises(OvertrainError, match=r"mine\.csv: run 'b' has no loss on split 'val'"):
        runs.loss("val")
    with pytest.raises(OvertrainError, match=r"mine\.csv: run 'b' has no accuracy for task 'copa'"):
        runs.error("copa,piqa")


def test_a_run_table_pickles_and_copies_as_its_runs(testbed) -> None:
    import copy
    import pickle

    table = testbed.family("rpj").select("paper-loss")
    for restored in (pickle.loads(pickle.dumps(table)), copy.deepcopy(table)):
        assert restored.runs == table.runs and restored.source == table.source
        assert (restored.loss_values("c4_val") == table.loss_values("c4_val")).all()
