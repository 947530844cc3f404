"""`overtrain reproduce --all`: every figure and number of the paper, written whole into one directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overtrain.cli import app
from overtrain.paper import per_task_errors, reproduce, tasks_above_chance

FIGURES = ("fig1_overview", "fig2_constant_slope", "fig3_error_vs_loss", "fig4_heatmaps", "fig5_per_task",
           "fig6_other_splits", "fig7_task_ablation", "fig8_fit_compute", "fig9_mstar_rank")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "paper"
    result = CliRunner().invoke(app, ["reproduce", "--all", "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(("fit_set", "key"), [("paper-error", "table2_per_task_6.9B"),
                                              ("paper-error-no-1b", "table7_without_1.4B")])
def test_tables_2_and_7_match_the_paper(testbed, expected: dict, fit_set: str, key: str) -> None:
    ours = per_task_errors(testbed, error_fit_set=fit_set)
    for family, row in expected[key].items():
        for task, value in row.items():
            assert abs(ours[family][task] - value) < 1e-4, (family, task)  # 0.01 percentage points


def test_seventeen_tasks_are_the_threshold_ten_set(testbed) -> None:
    assert len(tasks_above_chance(testbed, 10)) == 17


def test_every_figure_and_number_is_written(report_dir: Path) -> None:
    for stem in FIGURES:
        for suffix in ("png", "svg"):
            assert (report_dir / f"{stem}.{suffix}").stat().st_size > 20_000, stem
    results = json.loads((report_dir / "results.json").read_text())
    for key in ("headline", "table2_per_task_6.9B", "table7_without_1.4B", "heatmaps", "other_loss_splits",
                "task_threshold_ablation", "fit_compute_sweep", "compute_optimal_multiplier",
                "rank_correlation_17_task_error"):
        assert results[key], key
    assert len(results["other_loss_splits"]["rpj"]) == 8
    assert [r["threshold"] for r in results["task_threshold_ablation"]] == list(range(-5, 45, 5))
    assert sorted(p.name for p in report_dir.iterdir()) == sorted(
        [f"{s}.{x}" for s in FIGURES for x in ("png", "svg")] + ["results.json", "report.md", "report.html"])


def test_heatmap_cells_of_the_targets_equal_the_headline(report_dir: Path) -> None:
    results = json.loads((report_dir / "results.json").read_text())
    headline = {t.run: t for t in reproduce().targets}
    for cells in results["heatmaps"].values():
        for cell in cells:
            if cell["run"] in headline:
                target = headline[cell["run"]]
                assert cell["loss"] == target.loss_rel_err
                assert cell["err17"] == target.error_rel_err("17") and cell["err46"] == target.error_rel_err("46")


def test_report_is_self_contained(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    assert page.count("<svg") >= len(FIGURES) and "<img" not in page and "<script" not in page
    assert "<link" not in page and 'href="http' not in page and 'src="http' not in page
    markdown = (report_dir / "report.md").read_text()
    for stem in FIGURES:
        assert f"({stem}.png)" in markdown


def test_the_report_is_deterministic(report_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert CliRunner().invoke(app, ["reproduce", "--all", "--output", str(again)]).exit_code == 0
    for path in report_dir.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_non_empty_directory_is_refused_without_force(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    refused = CliRunner().invoke(app, ["reproduce", "--all", "--output", str(tmp_path)])
    assert refused.exit_code == 2 and "not empty" in refused.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    missing = CliRunner().invoke(app, ["reproduce", "--all"])
    assert missing.exit_code == 2 and "--output" in missing.stderr
