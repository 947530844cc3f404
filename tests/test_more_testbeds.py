"""The development suite's testbeds with downstream scores added for issue 33: each loads through the suite loader
and holds values read by hand from its source."""

from __future__ import annotations

import pytest

from overtrain.runs.testbed import load_suite_testbed, suite_names


def _row(testbed, run: str) -> dict:
    return testbed.runs.frame.loc[run].to_dict()


def test_pythia_loads_with_its_counts_and_hand_read_values() -> None:
    assert "pythia" in suite_names()
    testbed = load_suite_testbed("pythia")
    frame = testbed.runs.frame
    assert len(frame) == 80
    assert testbed.loss_split is None
    assert testbed.families == ("pile", "pile_deduped")
    assert sorted(set(frame["step"])) == [3000, 13000, 33000, 73000, 143000]
    for family in testbed.families:
        assert len(testbed.fit_runs(family)) == 20
        assert sorted(testbed.target_runs(family).params) == [6_857_302_016, 11_846_072_320]
    # the Pythia paper's parameter counts; tokens = step x 2,097,152 (299,892,736,000 at the end)
    row = _row(testbed, "pythia-12b@step143000")
    assert row["params"] == 11_846_072_320 and row["tokens"] == 299_892_736_000
    assert _row(testbed, "pythia-70m-deduped@step3000")["params"] == 70_426_624
    # evals/pythia-v1/pythia-12b/zero-shot/12b_step143000.json: lambada_openai acc 0.7046380749078207 (3631/5153),
    # piqa acc 0.7600652883569097 (1397/1838)
    assert row["acc:lambada_openai"] == pytest.approx(3631 / 5153, abs=1e-12)
    assert row["acc:piqa"] == pytest.approx(0.7600652883569097, abs=1e-12)
    # .../pythia-70m-deduped/five-shot/*_step3000.json: arc_easy acc 0.3434343434343434 (816/2376)
    assert _row(testbed, "pythia-70m-deduped@step3000")["acc:arc_easy_5shot"] == pytest.approx(816 / 2376)
    # the standard 1B model's evaluations are filed as pythia-1b-bf16: step 33000 sciq acc 0.816
    assert _row(testbed, "pythia-1b@step33000")["acc:sciq"] == pytest.approx(0.816)
    tasks = testbed.runs.tasks
    assert tasks.loc["lambada_openai", "chance"] == 0.0 and tasks.loc["piqa", "chance"] == 0.5
    assert tasks.loc["arc_challenge", "n_examples"] == 1172
    assert "wsc" not in tasks.index


def test_cerebras_loads_with_its_counts_and_hand_read_values() -> None:
    assert "cerebras" in suite_names()
    testbed = load_suite_testbed("cerebras")
    frame = testbed.runs.frame
    assert len(frame) == 28
    assert testbed.loss_split == "pile_test"
    assert testbed.families == ("cerebras_gpt", "pythia", "pythia_deduped")
    assert frame.groupby("family").size().to_dict() == {"cerebras_gpt": 7, "cerebras_gpt_mup": 5, "pythia": 8,
                                                         "pythia_deduped": 8}
    assert [len(testbed.fit_runs(f)) for f in testbed.families] == [4, 5, 5]
    assert [len(testbed.target_runs(f)) for f in testbed.families] == [2, 2, 2]
    # the README's 0-shot table: Cerebras 13B, Pile test xent 1.572, HellaSwag 0.513; muP 590M xent 2.155
    big = _row(testbed, "cerebras_gpt-13B")
    assert big["loss:pile_test"] == 1.572 and big["acc:hellaswag"] == 0.513
    assert _row(testbed, "cerebras_gpt_mup-590M")["loss:pile_test"] == 2.155
    # training table: 174335 steps x 720 sequences x 2048 tokens (257B); 1.3B: 24334 x 528 x 2048, 1,316M params
    assert big["tokens"] == 174335 * 720 * 2048
    small = _row(testbed, "cerebras_gpt-1.3B")
    assert small["tokens"] == 24334 * 528 * 2048 and round(small["params"] / 1e6) == 1316
    # 5-shot table: Pythia 12B Winogrande 0.662
    assert _row(testbed, "pythia-12B")["acc:winogrande_5shot"] == 0.662
    # the deduplicated 1.4B's loss (1.889, above the 1B's 1.858) is withheld, its accuracies kept
    deduped = _row(testbed, "pythia_deduped-1.4B")
    assert deduped["loss:pile_test"] != deduped["loss:pile_test"] and deduped["acc:hellaswag"] == 0.403
    assert testbed.runs.tasks.loc["openbookqa", "n_examples"] == 500
