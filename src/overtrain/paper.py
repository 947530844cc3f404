"""The paper's headline experiment as a declaration over the same machinery a user's forecast runs.

Gadre et al. (2024): per training distribution, fit the loss law (Eq. 4) to the `paper-loss` fit set on C4
eval loss and the error law (Eq. 5) to the `paper-error` fit set on the 17-task and 46-task average top-1
error; then forecast every 1.4B and 6.9B run (`paper-targets`) from its N and D alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.fitting.fit import Fit, fit_error, fit_loss
from overtrain.forecasts import ScoredForecast, score_forecasts
from overtrain.runs.table import RunTable
from overtrain.runs.testbed import load_testbed

PAPER_LOSS_SPLIT = "c4_val"
PAPER_TASK_SETS = ("17", "46")
FAMILY_NAMES = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}


@dataclass(frozen=True)
class FamilyReproduction:
    """One training distribution: its loss fit, its error fits (one per task set), its target comparisons."""

    family: str
    loss_fit: Fit
    error_fits: tuple[Fit, ...]
    targets: tuple[ScoredForecast, ...]

    def coefficients(self) -> dict[str, Any]:
        """Fitted coefficients in both forms, M*, fit-set compute, and each error law's (k, gamma, eps)."""
        law = self.loss_fit.law
        values: dict[str, Any] = {**law.coefficients(), **law.compute_form()}  # type: ignore[attr-defined]
        values["fit_flops_loss"] = self.loss_fit.fit_flops
        values["fit_flops_error"] = self.error_fits[0].fit_flops if self.error_fits else None
        for fit in self.error_fits:
            values[f"error_law_{fit.task_set.name}"] = fit.law.coefficients()  # type: ignore[union-attr]
        return values


@dataclass(frozen=True)
class Reproduction:
    """The headline reproduction over every training distribution in the runs."""

    loss_split: str
    families: tuple[FamilyReproduction, ...]

    @property
    def targets(self) -> list[ScoredForecast]:
        return [t for f in self.families for t in f.targets]

    def summary_frame(self) -> pd.DataFrame:
        """One row per forecast (the results' convention: `summary_frame()` a frame; `to_frame()` the same)."""
        return self.to_frame()

    def summary(self) -> str:
        """A few lines a person reads: each target's predicted against true loss and errors with the |relative error|
        and compute ratio, and the mean |relative error| over the targets held out of every fit."""
        frame = self.summary_frame()
        fit_sets = self.to_dict()["fit_sets"]
        lines = [f"reproduction on {self.loss_split}: {len(frame)} forecasts of {len(self.families)} families, "
                 f"fit sets {fit_sets['loss']!r} (loss) and {fit_sets['error']!r} (error)"]
        if frame.empty:
            return lines[0]
        task_sets = [c[len("err"):-len("_pred")] for c in frame.columns if c.startswith("err") and c.endswith("_pred")]
        quantities = [("loss", "loss"), *((f"err{name}", f"error ({name} tasks)") for name in task_sets)]
        held_out = frame[~frame["in_error_fit_set"]]
        if len(held_out):
            means = ", ".join(f"{label} {held_out[f'{q}_rel_err'].mean():.2%}" for q, label in quantities)
            lines.append(f"  mean |relative error| over the {len(held_out)} held out: {means}")
        lines.append("  predicted vs true (|relative error|), C / fit C; *: in the error fit set")
        names = [row["run"] + ("*" if row["in_error_fit_set"] else "") for _, row in frame.iterrows()]
        width = max(map(len, names))
        for name, (_, row) in zip(names, frame.iterrows(), strict=True):
            values = "  ".join(f"{q} {row[f'{q}_pred']:.4f} vs {row[f'{q}_true']:.4f} ({row[f'{q}_rel_err']:.2%})"
                               for q, _ in quantities)
            lines.append(f"  {name:<{width}}  {values}  {row['flops_ratio_vs_loss_fit']:.3g}x")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per target: true and predicted loss and errors, relative errors, compute ratios."""
        return pd.DataFrame([t.to_dict() for t in self.targets])

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `overtrain reproduce --json`."""
        first = self.families[0] if self.families else None
        return {
            "loss_split": self.loss_split,
            "fit_sets": {
                "loss": first.loss_fit.fit_set if first else None,
                "error": first.error_fits[0].fit_set if first and first.error_fits else None,
            },
            "targets": [t.to_dict() for t in self.targets],
            "coefficients": {f.family: f.coefficients() for f in self.families},
        }


def reproduce(
    runs: RunTable | None = None,
    *,
    loss_split: str = PAPER_LOSS_SPLIT,
    task_sets: Sequence[str] = PAPER_TASK_SETS,
    loss_fit_set: str = "paper-loss",
    error_fit_set: str = "paper-error",
    targets: str = "paper-targets",
    families: Sequence[str] | None = None,
) -> Reproduction:
    """Run the paper's headline experiment on `runs` (default: the bundled testbed).

    Parameters
    ----------
    runs : RunTable, optional
        The runs (default: the bundled 104-run testbed).
    loss_split : str
        The loss split.
    task_sets : sequence of str
        The task sets whose errors are forecast (the paper's `17` and `46`).
    loss_fit_set, error_fit_set, targets : str
        The paper's fit sets and targets, as presets or filters.
    families : sequence of str, optional
        The families to reproduce (default: all).

    Returns
    -------
    Reproduction
        Each family's fitted laws and each target's forecast beside its measurement (`summary_frame()`, `to_dict()`)."""
    runs = load_testbed() if runs is None else runs
    results = []
    for family in families or runs.families:
        table = runs.family(family)
        loss = fit_loss(table, loss_split, fit_set=loss_fit_set)
        errors = tuple(fit_error(table, loss_split, tasks, fit_set=error_fit_set, checkpoints=False)
                       for tasks in task_sets)
        chosen = table.select(targets).sorted_by("flops")
        if len(chosen) == 0:
            raise OvertrainError(f"targets {targets!r} select no runs of family {family!r} in {runs.source}")
        results.append(FamilyReproduction(family, loss, errors, tuple(score_forecasts(loss, errors, chosen))))
    return Reproduction(loss_split, tuple(results))


def paper_like(runs: RunTable) -> bool:
    """Whether runs are the paper's own kind (its loss split, and runs its target preset names), so that its fit
    sets and targets apply."""
    try:
        return PAPER_LOSS_SPLIT in runs.splits and len(runs.select("paper-targets")) > 0
    except OvertrainError:
        return False


def recipe_settings(runs: RunTable | None = None) -> dict[str, Any]:
    """`reproduce`'s settings for the paper's method on `runs`: on the testbed (or runs like it) the paper's own
    split, task sets, fit sets and targets; on other runs the same method, fitted on every run of a smaller model
    than the largest and forecasting the largest (its average error over all tasks, if the runs carry tasks)."""
    if runs is None or paper_like(runs):
        return {"loss_split": PAPER_LOSS_SPLIT, "task_sets": PAPER_TASK_SETS, "loss_fit_set": "paper-loss",
                "error_fit_set": "paper-error", "targets": "paper-targets"}
    largest = f"{float(runs.params.max()):.6g}"
    return {"loss_split": runs.default_split(), "task_sets": ["all"] if runs.task_names else [],
            "loss_fit_set": f"params<{largest}", "error_fit_set": f"params<{largest}", "targets": f"params>={largest}"}


# --- the rest of the paper's evidence (`overtrain reproduce --all`) --------------------------------------------

TABLE2_TASKS = ("arc_easy", "lambada_openai", "openbook_qa", "hellaswag_zeroshot", "hellaswag")
ABLATION_THRESHOLDS = tuple(range(-5, 45, 5))
SMALL_SHAPE_PARAMS = 1.6e8  # the 0.154B shape: tasks are chosen by how far above chance it scores


def _held_out_targets(runs: RunTable) -> RunTable:
    """The family's 1.4B run at its largest M and its 6.9B run: the paper's held-out targets."""
    large = runs.select("paper-targets")
    keep = [r for r in large.runs if not (large.frame.loc[r, "shape"] == "open_lm_1b"
                                          and large.frame.loc[r, "multiplier"] == 20)]
    return large.where().drop([r for r in large.runs if r not in keep])


def per_task_errors(
    runs: RunTable, *, error_fit_set: str = "paper-error", tasks: Sequence[str] = TABLE2_TASKS,
    loss_split: str = PAPER_LOSS_SPLIT,
) -> dict[str, dict[str, float]]:
    """Paper Tables 2 and 7: relative error at 6.9B of each task's own error law, and of the 17- and 46-task
    averages, per family (two-stage: predicted loss -> error)."""
    result = {}
    for family in runs.families:
        table = runs.family(family)
        loss = fit_loss(table, loss_split, fit_set="paper-loss")
        target = table.where(shape="open_lm_7b")
        row = {}
        for name, spec in [*((t, [t]) for t in tasks), ("avg_subset", "17"), ("avg", "46")]:
            error = fit_error(table, loss_split, spec, fit_set=error_fit_set, checkpoints=False)
            (comparison,) = score_forecasts(loss, error, target)
            row[name] = comparison.error_rel_err(error.task_set.name)
        result[family] = row
    return result


def heatmap_errors(runs: RunTable, task_sets: Sequence[str] = PAPER_TASK_SETS) -> dict[str, list[dict]]:
    """Paper Figs. 5, 11, 12: relative error of every run's two-stage forecast from the default fit sets."""
    result = {}
    for family in runs.families:
        table = runs.family(family)
        loss = fit_loss(table, PAPER_LOSS_SPLIT, fit_set="paper-loss")
        errors = [fit_error(table, PAPER_LOSS_SPLIT, t, fit_set="paper-error") for t in task_sets]
        result[family] = [
            {"run": c.run, "params": c.forecast.params, "multiplier": c.multiplier, "loss": c.loss_rel_err,
             **{f"err{t}": c.error_rel_err(t) for t in task_sets}}
            for c in score_forecasts(loss, errors, table)
        ]
    return result


def other_splits(runs: RunTable) -> dict[str, dict[str, dict[str, float]]]:
    """The loss law refitted on each evaluation split: relative error at the held-out 1.4B and 6.9B targets."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for family in runs.families:
        table = runs.family(family)
        targets = _held_out_targets(table)
        result[family] = {}
        for split in table.splits:
            loss = fit_loss(table, split, fit_set="paper-loss")
            result[family][split] = {c.run: c.loss_rel_err for c in score_forecasts(loss, None, targets)}
    return result


def tasks_above_chance(runs: RunTable, points: float) -> tuple[str, ...]:
    """Tasks on which some 0.154B run scores at least `points` percentage points above chance."""
    small = runs.select(f"params<{SMALL_SHAPE_PARAMS},params>1e8")
    chosen = []
    for task in runs.task_names:
        chance = runs.tasks["chance"].get(task, np.nan)
        if np.isfinite(chance) and (small.accuracy([task])[task] - chance).max() >= points / 100:
            chosen.append(task)
    return tuple(chosen)


def task_threshold_ablation(runs: RunTable, thresholds: Sequence[int] = ABLATION_THRESHOLDS) -> list[dict]:
    """Task sets chosen by threshold t (t = 10 gives the 17 tasks): size and relative error at 6.9B."""
    rows = []
    for threshold in thresholds:
        tasks = tasks_above_chance(runs, threshold)
        row: dict[str, Any] = {"threshold": threshold, "n_tasks": len(tasks)}
        if tasks:
            for family in runs.families:
                table = runs.family(family)
                loss = fit_loss(table, PAPER_LOSS_SPLIT, fit_set="paper-loss")
                error = fit_error(table, PAPER_LOSS_SPLIT, list(tasks), fit_set="paper-error")
                (comparison,) = score_forecasts(loss, error, table.where(shape="open_lm_7b"))
                row[family] = comparison.error_rel_err(error.task_set.name)
        rows.append(row)
    return rows


SWEEP_POOL = "params<=4.2e8,M>=10 | shape=open_lm_1b,M=20"


def fit_compute_sweep(runs: RunTable, family: str = "rpj", smallest: int = 5) -> list[dict]:
    """Grow the fit set through the pool of cheap runs (models up to 0.411B at M >= 10, where the paper finds
    the law holds, plus the 1.4B run at M = 20), cheapest first; forecast the held-out targets from the first n.
    Sets that cannot identify a law (one model size, one multiplier) are reported as such."""
    table = runs.family(family)
    pool = table.select(SWEEP_POOL).sorted_by("flops")
    targets = _held_out_targets(table)
    rows = []
    for n in range(smallest, len(pool) + 1):
        chosen = pool.where().drop(pool.runs[n:])
        row: dict[str, Any] = {"n_runs": n, "fit_flops": chosen.total_flops, "last_run": pool.runs[n - 1]}
        try:
            loss = fit_loss(chosen, PAPER_LOSS_SPLIT)
            error = fit_error(chosen, PAPER_LOSS_SPLIT, "17")
        except OvertrainError as problem:
            row["unidentifiable"] = str(problem)
            rows.append(row)
            continue
        if loss.held_out:  # the paper's law needs every coefficient; a law holding one out is not it
            row["unidentifiable"] = f"loss fit set of {n} runs: {loss.held_out}"
            rows.append(row)
            continue
        for c in score_forecasts(loss, error, targets):
            row[f"{c.run} loss"] = c.loss_rel_err
            row[f"{c.run} err17"] = c.error_rel_err("17")
        rows.append(row)
    return rows


def spearman_large_runs(result: Reproduction) -> dict[str, Any]:
    """Rank correlation between predicted and true 17-task error over the runs with N >= 1.4B."""
    pairs = [(t.forecast.errors["17"], t.errors_true["17"], t.run) for t in result.targets]
    predicted, true, names = zip(*pairs, strict=True)
    ranks = pd.DataFrame({"predicted": predicted, "true": true}).rank(method="average")
    return {"runs": list(names), "spearman": float(np.corrcoef(ranks["predicted"], ranks["true"])[0, 1])}


@dataclass(frozen=True)
class PaperEvidence:
    """Everything `overtrain reproduce --all` shows, as numbers (figures and report are drawn from these)."""

    headline: Reproduction
    table2: dict[str, dict[str, float]]
    table7: dict[str, dict[str, float]]
    heatmaps: dict[str, list[dict]]
    other_splits: dict[str, dict[str, dict[str, float]]]
    ablation: list[dict]
    sweep: list[dict]
    spearman: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline.to_dict(),
            "table2_per_task_6.9B": self.table2,
            "table7_without_1.4B": self.table7,
            "heatmaps": self.heatmaps,
            "other_loss_splits": self.other_splits,
            "task_threshold_ablation": self.ablation,
            "fit_compute_sweep": {"family": "rpj", "pool": SWEEP_POOL, "rows": self.sweep},
            "compute_optimal_multiplier": {f.family: f.loss_fit.law.M_star for f in self.headline.families},  # type: ignore[attr-defined]
            "rank_correlation_17_task_error": self.spearman,
        }


def reproduce_all(runs: RunTable | None = None, progress: Callable[[str], None] | None = None) -> PaperEvidence:
    """Every experiment of the paper that the testbed supports; `progress` hears the name of each step."""
    runs = load_testbed() if runs is None else runs
    say = progress or (lambda step: None)
    say("headline forecasts")
    headline = reproduce(runs)
    say("per-task error laws (Tables 2 and 7)")
    table2 = per_task_errors(runs)
    table7 = per_task_errors(runs, error_fit_set="paper-error-no-1b")
    say("relative-error heat maps")
    heatmaps = heatmap_errors(runs)
    say("other loss splits")
    splits = other_splits(runs)
    say("task-set ablation")
    ablation = task_threshold_ablation(runs)
    say("fit-compute sweep")
    sweep = fit_compute_sweep(runs)
    return PaperEvidence(headline, table2, table7, heatmaps, splits, ablation, sweep, spearman_large_runs(headline))


def design_evidence(runs: RunTable | None = None) -> list[dict]:
    """How the paper's recipe of small runs fared on `runs` (default: the bundled testbed): each held-out target
    (the testbed's 1.4B/6.9B runs; on other runs, the largest model's), its distance (compute over the loss fit
    set's) and relative errors (loss, and average error over the first task set: `err17_rel_err` on the testbed),
    from the headline reproduction as `recipe_settings` sets it up."""
    settings = recipe_settings(runs)
    result = reproduce(runs, **settings)
    first = settings["task_sets"][:1]
    return [{"run": t.run, "distance": t.forecast.flops_ratio, "loss_rel_err": t.loss_rel_err,
             **{f"err{name}_rel_err": t.error_rel_err(name) for name in first}}
            for t in result.targets if not t.in_error_fit_set]
