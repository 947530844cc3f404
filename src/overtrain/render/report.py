"""The paper, reproduced as a report: figures (PNG and SVG), `results.json`, `report.md`, `report.html`.

The HTML embeds its figures as inline SVG, so it needs no network and no other file to be read.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from overtrain.files import write_text_atomic
from overtrain.paper import PaperEvidence
from overtrain.parallel import fork_map
from overtrain.render import figures
from overtrain.render.tables import percent
from overtrain.runs.table import RunTable


@dataclass(frozen=True)
class Section:
    """One figure of the report: its file stem, title, caption, and how to draw it."""

    stem: str
    title: str
    caption: str
    draw: Callable[[], object]
    tables: tuple[tuple[str, list[str], list[list[str]]], ...] = ()  # (caption, header, rows) shown as tables


TASK_LABELS = {"arc_easy": "ARC-Easy", "lambada_openai": "LAMBADA", "openbook_qa": "OpenBookQA",
               "hellaswag_zeroshot": "HellaSwag (0-shot)", "hellaswag": "HellaSwag (10-shot)",
               "avg_subset": "17-task average", "avg": "46-task average"}


def per_task_table(caption: str, table: dict[str, dict[str, float]]) -> tuple[str, list[str], list[list[str]]]:
    """The paper's Table 2 or 7 as rows: one per task (and the averages), one column per family, the relative
    error of the 6.9B forecast in percent."""
    families = list(table)
    header = ["task", *(figures.FAMILY_LABELS.get(f, f) for f in families)]
    rows = [[TASK_LABELS.get(task, task), *(f"{100 * abs(table[f][task]):.2f}%" for f in families)]
            for task in table[families[0]]]
    return caption, header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def html_table(caption: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def sections(evidence: PaperEvidence, testbed: RunTable) -> list[Section]:
    """The report's figures with captions computed from the evidence."""
    held = [t for t in evidence.headline.targets if not t.in_error_fit_set]
    loss_mean = float(np.mean([t.loss_rel_err for t in held]))
    err17_mean = float(np.mean([t.error_rel_err("17") for t in held]))
    err46_mean = float(np.mean([t.error_rel_err("46") for t in held]))
    table2_rpj = evidence.table2["rpj"]
    ablation_17 = next(r for r in evidence.ablation if r["threshold"] == 10)
    mstar = {f.family: f.loss_fit.law.M_star for f in evidence.headline.families}  # type: ignore[attr-defined]
    split_errors = [(abs(v), split, family) for family, splits in evidence.other_splits.items()
                    for split, targets in splits.items() for v in targets.values()]
    worst = max(split_errors)
    c4_split = float(np.median([v for v, split, _ in split_errors if split == "c4_val"]))
    other_split = float(np.median([v for v, split, _ in split_errors if split != "c4_val"]))
    high_threshold = [r for r in evidence.ablation if r["threshold"] >= 30]
    high_error = float(np.mean([abs(r[f]) for r in high_threshold for f in evidence.other_splits]))
    low_error = float(np.mean([abs(ablation_17[f]) for f in evidence.other_splits]))
    paper_rpj = next(f for f in evidence.headline.families if f.family == "rpj")
    fitted_rows = [r for r in evidence.sweep if "unidentifiable" not in r]
    nearest = min(fitted_rows, key=lambda r: abs(np.log(r["fit_flops"] / paper_rpj.loss_fit.fit_flops)))
    largest = fitted_rows[-1]
    loss_keys = [k for k in largest if k.endswith(" loss")]
    paper_loss = float(np.mean([t.loss_rel_err for t in paper_rpj.targets if not t.in_error_fit_set]))
    return [
        Section("fig1_overview", "Figure 1: the two laws and their targets",
                f"Fitted on five small runs (loss) and six (error), the laws forecast the 1.4B and 6.9B runs: mean "
                f"relative error over the six held-out targets {percent(loss_mean)} (loss), {percent(err17_mean)} "
                f"(17-task error), {percent(err46_mean)} (46-task); the paper reports 1.48%, 3.66% and 2.63%.",
                lambda: figures.figure_overview(evidence, testbed)),
        Section("fig2_constant_slope", "Over-training follows constant-slope trends",
                "Every run's loss against compute, with the law's line for each multiplier: lines of equal slope, "
                "shifted by M, as in the paper's Figure 2.",
                lambda: figures.figure_constant_slope(evidence, testbed)),
        Section("fig3_error_vs_loss", "Average error against loss, every run",
                "17-task and 46-task average top-1 error against C4-eval loss with the fitted exponential, as in "
                "the paper's Figure 3: one curve per task set holds runs of every size and multiplier.",
                lambda: figures.figure_error_vs_loss(evidence, testbed)),
        Section("fig4_heatmaps", "Relative error over all runs",
                "Two-stage forecasts from the default fit sets for every run (size by multiplier), as in the "
                "paper's Figures 5, 11 and 12; the 1.4B and 6.9B cells equal the headline numbers. Boxed cells are "
                "the fit runs, whose small errors are fits, not forecasts; an arrow on a colour bar: some cells "
                "exceed its top.",
                lambda: figures.figure_heatmaps(evidence)),
        Section("fig5_per_task", "Tables 2 and 7: per-task error laws at 6.9B",
                "Per-task laws miss by far more than the averages (RedPajama: ARC-Easy "
                f"{percent(table2_rpj['arc_easy'])}"
                f", HellaSwag zero-shot {percent(table2_rpj['hellaswag_zeroshot'])}, 17-task average "
                f"{percent(table2_rpj['avg_subset'])}); values match the paper's Tables 2 and 7 (tests check 0.01 "
                "points).",
                lambda: figures.figure_per_task(evidence),
                (per_task_table("Table 2: relative error of the 6.9B forecast, error laws fitted with the 1.4B run",
                                evidence.table2),
                 per_task_table("Table 7: the same without the 1.4B run in the error fit set", evidence.table7))),
        Section("fig6_other_splits", "Other loss splits",
                f"The loss law refitted on each of the 8 evaluation splits: median relative error at the held-out "
                f"targets {percent(c4_split)} on C4 eval against {percent(other_split)} on the other splits; the worst "
                "is "
                f"{percent(worst[0])} ({worst[1]}, {figures.FAMILY_LABELS.get(worst[2], worst[2])}). Compare the "
                "paper's appendix figure on other validation sets.",
                lambda: figures.figure_other_splits(evidence)),
        Section("fig7_task_ablation", "Which tasks to average",
                f"Tasks kept when some 0.154B run is at least t points above chance; t = 10 keeps "
                f"{ablation_17['n_tasks']} tasks, the paper's 17, with mean relative error {percent(low_error)} at "
                "6.9B "
                f"over the three families; t >= 30 keeps {high_threshold[-1]['n_tasks']} to "
                f"{high_threshold[0]['n_tasks']} tasks and misses by {percent(high_error)} on average.",
                lambda: figures.figure_ablation(evidence)),
        Section("fig8_fit_compute", "Fit compute and forecast error",
                "RedPajama: the fit set grows through the runs up to 0.411B at M >= 10 plus the 1.4B run at M = 20 "
                "(M = 5 is left out: the paper finds the law does not hold there), cheapest first; the first "
                f"sets hold one model size and cannot identify the law. At the paper's fit compute "
                f"({paper_rpj.loss_fit.fit_flops:.2g} FLOPs) the cheapest-first set of {nearest['n_runs']} runs "
                f"misses the held-out loss by {percent(float(np.mean([abs(nearest[k]) for k in loss_keys])))} on "
                f"average, the paper's five chosen runs (stars) by {percent(paper_loss)}; all {largest['n_runs']} runs "
                f"({largest['fit_flops']:.2g} FLOPs) get "
                f"{percent(float(np.mean([abs(largest[k]) for k in loss_keys])))}. Which runs matter as much as how "
                "much compute.",
                lambda: figures.figure_sweep(evidence)),
        Section("fig9_mstar_rank", "Compute-optimal multipliers and rank agreement",
                "M* = " + ", ".join(f"{figures.FAMILY_LABELS.get(k, k)} {v:.2f}" for k, v in mstar.items())
                + f"; Spearman rank correlation between predicted and true 17-task error over the 9 runs with "
                f"N >= 1.4B: {evidence.spearman['spearman']:.3f}.",
                lambda: figures.figure_mstar_rank(evidence)),
    ]


def _draw(job: tuple[Section, Path]) -> list[Path]:
    """Draw one section's figure and write it as PNG and SVG into the folder."""
    section, out = job
    figure = section.draw()
    paths = []
    for suffix in ("png", "svg"):
        path = out / f"{section.stem}.{suffix}"
        figure.savefig(path.with_suffix(".tmp"), format=suffix, dpi=130, bbox_inches="tight",
                       metadata=figures.FIXED_METADATA[suffix])
        path.with_suffix(".tmp").replace(path)
        paths.append(path)
    figures.plt.close(figure)
    return paths


def _draw_all(jobs: list[tuple[Section, Path]], say: Callable[[str], None]) -> list[list[Path]]:
    """Every figure, drawn side by side (`overtrain.parallel`: drawing, not fitting, is what takes the time; each
    figure comes out byte for byte as drawn alone)."""
    return fork_map([functools.partial(_draw, job) for job in jobs],
                    lambda index: say(f"figure: {jobs[index][0].title}"))


def write_report(
    evidence: PaperEvidence, testbed: RunTable, out: Path, progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every figure (PNG and SVG), results.json, report.md and report.html into `out`."""
    say = progress or (lambda step: None)
    written: list[Path] = []
    svgs: dict[str, str] = {}
    chosen = sections(evidence, testbed)
    for section, paths in zip(chosen, _draw_all([(section, out) for section in chosen], say), strict=True):
        written += paths
        svgs[section.stem] = (out / f"{section.stem}.svg").read_text(encoding="utf-8")
    say("results.json and the report")
    results = out / "results.json"
    write_text_atomic(results, json.dumps(evidence.to_dict(), indent=2, allow_nan=False, default=float) + "\n")
    markdown = ["# The paper, reproduced", "",
                "Gadre et al. (2024), *Language models scale reliably with over-training and on downstream tasks*, "
                "reproduced by overtrain from the bundled testbed. Numbers: `results.json`.", ""]
    body = []
    for section in chosen:
        markdown += [f"## {section.title}", "", f"![{section.title}]({section.stem}.png)", "", section.caption, ""]
        for caption, header, rows in section.tables:
            markdown += [f"**{caption}**", "", *markdown_table(header, rows), ""]
        svg = svgs[section.stem]
        svg = svg[svg.index("<svg"):]
        tables = "".join(html_table(*table) for table in section.tables)
        body.append(f"<section><h2>{html.escape(section.title)}</h2>{svg}"
                    f"<p>{html.escape(section.caption)}</p>{tables}</section>")
    write_text_atomic(out / "report.md", "\n".join(markdown))
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>overtrain: the paper, reproduced"
            "</title><style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}"
            "svg{max-width:100%;height:auto}section{margin-bottom:3em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:right}caption{text-align:left;"
            "font-weight:bold}</style></head><body>"
            "<h1>The paper, reproduced</h1><p>Gadre et al. (2024), reproduced by overtrain from the bundled "
            "testbed; numbers in results.json.</p>" + "".join(body) + "</body></html>\n")
    write_text_atomic(out / "report.html", page)
    return [*written, results, out / "report.md", out / "report.html"]
