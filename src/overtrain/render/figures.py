"""Figures (matplotlib, no display needed): written whole as PNG, SVG or PDF by file suffix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.font_manager
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from overtrain.decide.plan import params_for_loss
from overtrain.files import write_atomic
from overtrain.forecasts import FamilyCurves, LawCurve, distinct_multipliers, family_curves
from overtrain.paper import FAMILY_NAMES
from overtrain.quantities import Quantity

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "overtrain"  # stable element ids: the same input draws the same file

# No dates or tool stamps in the files, so the same input gives the same bytes.
FIXED_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None, "Format": None, "Type": None},
                  "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


def save(figure: plt.Figure, path: str | Path) -> None:
    """Write a figure whole or not at all; the suffix picks the format."""
    path = Path(path)
    suffix = path.suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda temporary: figure.savefig(temporary, format=suffix, dpi=150, bbox_inches="tight",
                                                        metadata=FIXED_METADATA.get(suffix)))
    plt.close(figure)


#: Outside this range a tick label is written as a power of ten, inside as a plain number (0.05, 2.5, 300).
PLAIN_RANGE = (1e-3, 1e5)


class ReadableLogLocator(matplotlib.ticker.LogLocator):
    """Major ticks of a log axis whose labels (`ReadableLogFormatter`) fit side by side: over a wide range (more
    than `WIDE_DECADES`) powers of ten, every one or every few, as over any range beyond `PLAIN_RANGE` holding two
    powers of ten; else the most ticks, up to eight, of 1-9, 1-2-3-5, 1-2-5, 1-3 or 1 per decade, or of round
    numbers evenly stepped (2.6, 2.8, 3.0), whose labels, as wide as the axis lays them out, leave room between
    them."""

    WIDE_DECADES = 2.5

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        low, high = sorted((float(vmin), float(vmax)))
        if not (low > 0 and np.isfinite(high) and high > low):
            return super().tick_values(vmin, vmax)
        span = np.log10(high / low)
        decades = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
        if span > self.WIDE_DECADES:
            step = int(np.ceil(span / 7))
            return 10.0 ** decades[decades % step == 0]
        inside = lambda ticks: ticks[(ticks >= low * (1 - 1e-9)) & (ticks <= high * (1 + 1e-9))]  # noqa: E731
        candidates = [inside(np.array([s * 10.0**k for k in decades for s in subs]))
                      for subs in ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,))]
        candidates += [inside(matplotlib.ticker.MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high))
                       for n in (8, 5, 3)]
        if not (PLAIN_RANGE[0] <= low and high < PLAIN_RANGE[1]) and len(candidates[4]) >= 2:
            return candidates[4]  # powers of ten read better than 2x10^22, 5x10^22 where two fit
        fitting = [t for t in candidates if 2 <= len(t) <= 8 and self._fits(t, span)]
        return max(fitting, key=len) if fitting else super().tick_values(vmin, vmax)

    def _fits(self, ticks: np.ndarray, span: float) -> bool:
        """Whether labels at `ticks` leave at least half a character between them on this axis (`span` decades)."""
        axis = self.axis
        if axis is None or axis.axes is None:
            return bool(np.min(np.diff(np.log10(ticks))) >= span / 8)
        along_x = axis.axis_name == "x"
        box, (width, height) = axis.axes.get_position(), axis.axes.figure.get_size_inches() * 72
        length = box.width * width if along_x else box.height * height  # points
        size = matplotlib.font_manager.FontProperties(size=plt.rcParams[f"{axis.axis_name}tick.labelsize"]
                                                      ).get_size_in_points()
        labels = ReadableLogFormatter.labels(ticks)
        extent = np.array([0.6 * size * visible_length(label) if along_x else size for label in labels])
        room = np.diff(np.log10(ticks)) / span * length
        return bool(np.all(room >= (extent[1:] + extent[:-1]) / 2 + 0.5 * size))


def visible_length(label: str) -> int:
    """About how many characters wide a tick label reads (mathtext markup not counted)."""
    return len(label.replace("\\times", "x").replace("$", "").replace("{", "").replace("}", "").replace("^", ""))


class ReadableLogFormatter(matplotlib.ticker.Formatter):
    """Plain numbers (2.5, 0.05, 300) where every tick of the axis lies in `PLAIN_RANGE`, else 10^k or m x 10^k."""

    @staticmethod
    def labels(locs: Sequence[float] | np.ndarray) -> list[str]:
        """The labels of ticks at `locs`, in one style for the whole axis."""
        plain = all(PLAIN_RANGE[0] <= v < PLAIN_RANGE[1] for v in locs)
        labels = []
        for x in locs:
            exponent = int(np.floor(np.log10(x) + 1e-9))
            mantissa = x / 10.0**exponent
            labels.append(f"{x:.4g}" if plain else f"$10^{{{exponent}}}$" if np.isclose(mantissa, 1)
                          else f"${mantissa:.3g}\\times10^{{{exponent}}}$")
        return labels

    ticks: tuple[float, ...] = ()

    def set_locs(self, locs: Sequence[float]) -> None:
        self.ticks = tuple(float(v) for v in locs if v > 0)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.labels([*self.ticks, x])[-1] if x > 0 else ""


def readable_log_ticks(axis: plt.Axes) -> None:
    """Give the log axes of `axis` readable major labels (`ReadableLogLocator`, `ReadableLogFormatter`) and
    unlabelled minor ticks; a linear axis is left alone. Call after setting the scales."""
    for part in (axis.xaxis, axis.yaxis):
        if part.get_scale() != "log":
            continue
        part.set_major_locator(ReadableLogLocator())
        part.set_major_formatter(ReadableLogFormatter())
        part.set_minor_locator(matplotlib.ticker.LogLocator(subs=np.arange(2, 10)))
        part.set_minor_formatter(matplotlib.ticker.NullFormatter())


def backtest_figure(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Relative error of backtest forecasts against extrapolation distance, loss and error side by side."""
    quantities = [q for q in ("loss", "error") if f"{q}_rel_err" in frame]
    figure, axes = plt.subplots(1, len(quantities), figsize=(5.5 * len(quantities), 4.2), squeeze=False)
    families = sorted(frame["family"].unique())
    colours = plt.get_cmap("tab10")
    for axis, quantity in zip(axes[0], quantities, strict=True):
        for k, family in enumerate(families):
            part = frame[frame["family"] == family]
            values = 100 * np.abs(part[f"{quantity}_rel_err"].to_numpy(dtype=float))
            axis.scatter(part["distance"], np.clip(values, 1e-3, 1e3), s=14, alpha=0.7, color=colours(k),
                         label=family)
        axis.set_xscale("log")
        axis.set_yscale("log")
        readable_log_ticks(axis)
        axis.set_xlabel("extrapolation distance: target compute / fit-set compute")
        axis.set_ylabel(f"|relative error| of {quantity} forecast (%)")
        axis.grid(True, which="major", alpha=0.3)
        axis.set_title(f"{quantity}")
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


# --- the paper's figures (`overtrain reproduce --all`) ----------------------------------------------------------

FAMILY_LABELS = FAMILY_NAMES  # the bundled testbed's families as the paper names them
SIZE_MARKERS = ["o", "s", "^", "D", "P", "*", "X", "v"]


def _m_colour(multiplier: float) -> tuple:
    """A colour per token multiplier, on a log scale from 5 to 640."""
    position = (np.log(multiplier) - np.log(5)) / (np.log(640) - np.log(5))
    return plt.get_cmap("viridis")(float(np.clip(position, 0, 1)))


def _size_marker(params: float, sizes: list[float]) -> str:
    return SIZE_MARKERS[sizes.index(params) % len(SIZE_MARKERS)]


def _legends(axis: plt.Axes, sizes: list[float], multipliers: list[float],
             places: tuple[str, str] = ("upper right", "lower left")) -> None:
    """A legend of sizes (markers) and one of multipliers (colours), in the two corners the data leave free."""
    size_handles = [plt.Line2D([], [], marker=_size_marker(s, sizes), linestyle="", color="grey",
                               label=f"N={s / 1e9:.2f}B" if s >= 1e9 else f"N={s / 1e6:.0f}M") for s in sizes]
    m_handles = [plt.Line2D([], [], marker="o", linestyle="", color=_m_colour(m), label=f"M={m:g}")
                 for m in multipliers]
    first = axis.legend(handles=size_handles, fontsize=7, loc=places[0], title="size", title_fontsize=7)
    axis.add_artist(first)
    axis.legend(handles=m_handles, fontsize=7, loc=places[1], title="multiplier", title_fontsize=7, ncol=2)


def _family_runs(testbed: pd.DataFrame, family: str) -> pd.DataFrame:
    return testbed[testbed["family"] == family]


def figure_overview(evidence, testbed) -> plt.Figure:
    """Paper Fig. 1 per family: reducible loss vs compute (fit runs, targets, law lines per M); 17-task error
    vs loss (fit runs, targets, the fitted exponential)."""
    families = evidence.headline.families
    figure, axes = plt.subplots(2, len(families), figsize=(5.2 * len(families), 8.4), squeeze=False)
    frame = testbed.frame
    for column, fam in enumerate(families):
        law, error_fit = fam.loss_fit.law, fam.error_fits[0]
        runs = _family_runs(frame, fam.family)
        fit_runs, targets = runs.loc[list(fam.loss_fit.runs)], runs.loc[[t.run for t in fam.targets]]
        sizes = sorted(set(fit_runs["params"]) | set(targets["params"]))
        axis = axes[0, column]
        compute = np.geomspace(runs["flops"].min() / 2, runs["flops"].max() * 3, 200)
        multipliers = sorted(set(fit_runs["multiplier"]) | set(targets["multiplier"]))
        for m in multipliers:
            axis.plot(compute, law.predict_compute(compute, m) - law.E, color=_m_colour(m), lw=1.2)
        for group, filled in ((fit_runs, True), (targets, False)):
            for _, run in group.iterrows():
                axis.scatter(run["flops"], run["loss:c4_val"] - law.E, color=_m_colour(run["multiplier"]),
                             marker=_size_marker(run["params"], sizes), s=45 if filled else 90,
                             facecolors=None if filled else "none", linewidths=1.5, zorder=3)
        axis.set_xscale("log")
        axis.set_yscale("log")
        readable_log_ticks(axis)
        axis.set_xlabel("compute C = 6ND (FLOPs)")
        axis.set_ylabel("reducible C4-eval loss  L - E")
        axis.set_title(f"{FAMILY_LABELS.get(fam.family, fam.family)}: loss law (filled: fit, open: targets)",
                       fontsize=9)
        _legends(axis, sizes, multipliers)
        axis = axes[1, column]
        error_runs = runs.loc[list(error_fit.runs)]
        grid = np.linspace(min(runs["loss:c4_val"].min(), 2.2), error_runs["loss:c4_val"].max() + 0.2, 200)
        axis.plot(grid, error_fit.law.predict(grid), color="black", lw=1.2, label="fitted Err(L)")
        for group, filled in ((error_runs, True), (targets, False)):
            for _, run in group.iterrows():
                axis.scatter(run["loss:c4_val"], testbed.error("17")[run.name],
                             color=_m_colour(run["multiplier"]), marker=_size_marker(run["params"], sizes),
                             s=45 if filled else 90, facecolors=None if filled else "none", linewidths=1.5, zorder=3)
        axis.set_xlabel("C4-eval loss")
        axis.set_ylabel("average top-1 error, 17 tasks")
        axis.set_title("error law (filled: fit, open: targets)", fontsize=9)
        axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    return figure


def figure_constant_slope(evidence, testbed) -> plt.Figure:
    """Loss vs compute for every run, with the law's parallel lines for each M."""
    families = evidence.headline.families
    figure, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 4.6), squeeze=False)
    for axis, fam in zip(axes[0], families, strict=True):
        runs = _family_runs(testbed.frame, fam.family)
        sizes = sorted(set(runs["params"]))
        compute = np.geomspace(runs["flops"].min() / 2, runs["flops"].max() * 2, 200)
        for m in sorted(set(runs["multiplier"])):
            axis.plot(compute, fam.loss_fit.law.predict_compute(compute, m), color=_m_colour(m), lw=1)
        for _, run in runs.iterrows():
            axis.scatter(run["flops"], run["loss:c4_val"], color=_m_colour(run["multiplier"]),
                         marker=_size_marker(run["params"], sizes), s=30, zorder=3)
        axis.set_xscale("log")
        axis.set_yscale("log")
        readable_log_ticks(axis)
        axis.set_xlabel("compute C (FLOPs)")
        axis.set_ylabel("C4-eval loss")
        axis.set_title(f"{FAMILY_LABELS.get(fam.family, fam.family)}: every run, law lines per M", fontsize=9)
        _legends(axis, sizes, sorted(set(runs["multiplier"])))
    figure.tight_layout()
    return figure


def figure_error_vs_loss(evidence, testbed) -> plt.Figure:
    """Average error vs loss for every run, 17 and 46 tasks, with the fitted exponential."""
    families = evidence.headline.families
    figure, axes = plt.subplots(2, len(families), figsize=(5.2 * len(families), 8.2), squeeze=False)
    for column, fam in enumerate(families):
        runs = _family_runs(testbed.frame, fam.family)
        sizes = sorted(set(runs["params"]))
        for row, fit in enumerate(fam.error_fits):
            axis = axes[row, column]
            grid = np.linspace(runs["loss:c4_val"].min() - 0.1, runs["loss:c4_val"].max() + 0.1, 200)
            axis.plot(grid, fit.law.predict(grid), color="black", lw=1.2)
            errors = testbed.error(fit.task_set.name)
            for _, run in runs.iterrows():
                axis.scatter(run["loss:c4_val"], errors[run.name], color=_m_colour(run["multiplier"]),
                             marker=_size_marker(run["params"], sizes), s=30, zorder=3)
            axis.set_xlabel("C4-eval loss")
            axis.set_ylabel(f"average top-1 error, {fit.task_set.name} tasks")
            axis.set_title(f"{FAMILY_LABELS.get(fam.family, fam.family)}, {fit.task_set.name} tasks", fontsize=9)
            if row == 0:
                _legends(axis, sizes, sorted(set(runs["multiplier"])), places=("lower right", "upper left"))
    figure.tight_layout()
    return figure


def figure_heatmaps(evidence) -> plt.Figure:
    """Relative error of every run's forecast, model size x multiplier, per family and quantity."""
    quantities = ["loss", *[f"err{f.task_set.name}" for f in evidence.headline.families[0].error_fits]]
    families = list(evidence.heatmaps)
    figure, axes = plt.subplots(len(quantities), len(families), figsize=(5.4 * len(families), 3.6 * len(quantities)),
                                squeeze=False)
    fitted = {f.family: {"loss": set(f.loss_fit.runs), **{f"err{e.task_set.name}": set(e.runs) for e in f.error_fits}}
              for f in evidence.headline.families}
    for column, family in enumerate(families):
        cells = pd.DataFrame(evidence.heatmaps[family])
        sizes, multipliers = sorted(cells["params"].unique()), sorted(cells["multiplier"].unique())
        for row, quantity in enumerate(quantities):
            grid = np.full((len(sizes), len(multipliers)), np.nan)
            boxed = []
            for _, cell in cells.iterrows():
                place = (sizes.index(cell["params"]), multipliers.index(cell["multiplier"]))
                grid[place] = 100 * abs(cell[quantity])
                if cell["run"] in fitted.get(family, {}).get(quantity, ()):
                    boxed.append(place)
            axis = axes[row, column]
            top = max(10, np.nanpercentile(grid, 95))
            image = axis.imshow(grid, cmap="Reds", vmin=0, vmax=top, aspect="auto")
            for i in range(len(sizes)):
                for j in range(len(multipliers)):
                    if np.isfinite(grid[i, j]):
                        dark = grid[i, j] > 0.6 * top
                        axis.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7,
                                  color="white" if dark else "black")
            for i, j in boxed:  # a fit run's small error is the fit, not a forecast
                axis.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#1f4e9c", lw=1.6))
            axis.set_xticks(range(len(multipliers)), [f"{m:g}" for m in multipliers], fontsize=7)
            axis.set_yticks(range(len(sizes)), [f"{s / 1e9:.2f}B" if s >= 1e9 else f"{s / 1e6:.0f}M" for s in sizes],
                            fontsize=7)
            axis.set_xlabel("token multiplier M")
            axis.set_ylabel("parameters N")
            axis.set_title(f"{FAMILY_LABELS.get(family, family)}: |relative error| of {quantity} (%); boxed: fit runs",
                           fontsize=8)
            figure.colorbar(image, ax=axis, fraction=0.04, extend="max" if np.nanmax(grid) > top else "neither")
    figure.tight_layout()
    return figure


def _grouped_bars(axis: plt.Axes, groups: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        positions = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
        axis.bar(positions, 100 * np.abs(np.asarray(values, dtype=float)), width, label=name)
    axis.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=7)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=7)
    axis.grid(True, axis="y", alpha=0.3)


def figure_per_task(evidence) -> plt.Figure:
    """Paper Tables 2 and 7 as bars: per-task relative error at 6.9B, with and without the 1.4B run."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for axis, (table, title) in zip(axes, ((evidence.table2, "Table 2: error laws fitted with the 1.4B run"),
                                           (evidence.table7, "Table 7: without the 1.4B run")), strict=True):
        groups = list(next(iter(table.values())))
        _grouped_bars(axis, groups, {FAMILY_LABELS.get(f, f): [table[f][g] for g in groups] for f in table},
                      "|relative error| at 6.9B (%)")
        names = {"avg_subset": "17-task average", "avg": "46-task average"}
        axis.set_xticks(range(len(groups)), [names.get(g, g) for g in groups], rotation=30, ha="right", fontsize=7)
        axis.set_yscale("log")
        readable_log_ticks(axis)
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def figure_other_splits(evidence) -> plt.Figure:
    """The loss law refitted on each evaluation split: relative error at the held-out targets."""
    families = list(evidence.other_splits)
    figure, axes = plt.subplots(1, len(families), figsize=(5.4 * len(families), 4.4), squeeze=False)
    for axis, family in zip(axes[0], families, strict=True):
        splits = evidence.other_splits[family]
        groups = list(splits)
        targets = list(next(iter(splits.values())))
        _grouped_bars(axis, groups, {t.split("-", 1)[1]: [splits[g][t] for g in groups] for t in targets},
                      "|relative error| of loss (%)")
        axis.set_title(FAMILY_LABELS.get(family, family), fontsize=9)
    figure.tight_layout()
    return figure


def figure_ablation(evidence) -> plt.Figure:
    """Task sets chosen by how far above chance the 0.154B model scores: size and error at 6.9B."""
    rows = pd.DataFrame(evidence.ablation)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(rows["threshold"], rows["n_tasks"], marker="o", color="black")
    left.set_xlabel("threshold t (points above chance, some 0.154B run)")
    left.set_ylabel("tasks in the set")
    left.axvline(10, color="grey", ls="--", lw=0.8)
    for family in [c for c in rows.columns if c not in ("threshold", "n_tasks")]:
        right.plot(rows["threshold"], 100 * rows[family].abs(), marker="o", label=FAMILY_LABELS.get(family, family))
    right.axvline(10, color="grey", ls="--", lw=0.8, label="t = 10: the 17 tasks")
    right.set_xlabel("threshold t")
    right.set_ylabel("|relative error| of average error at 6.9B (%)")
    right.legend(fontsize=8)
    figure.tight_layout()
    return figure


def figure_sweep(evidence) -> plt.Figure:
    """Relative error of the held-out RedPajama targets as the fit set grows, against fit compute and runs."""
    rows = pd.DataFrame(evidence.sweep)
    columns = [c for c in rows.columns if c.endswith((" loss", " err17"))]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    paper = {t.run: t for t in evidence.headline.targets if t.family == "rpj"}
    paper_compute = next(f for f in evidence.headline.families if f.family == "rpj").loss_fit.fit_flops
    for axis, x, label in ((axes[0], rows["fit_flops"], "fit-set compute (FLOPs)"),
                           (axes[1], rows["n_runs"], "runs in the fit set")):
        for column in columns:
            run, quantity = column.rsplit(" ", 1)
            target = paper.get(run)
            name = f"{target.forecast.params / 1e9:.1f}B at M = {target.multiplier:g}" if target else run
            axis.plot(x, 100 * rows[column].abs(), marker=".",
                      label=f"{name}: {'loss' if quantity == Quantity.LOSS else '17-task error'}")
        held = [t for t in paper.values() if not t.in_error_fit_set]
        position = [paper_compute if axis is axes[0] else 5] * len(held)
        axis.scatter(position, [100 * t.loss_rel_err for t in held], marker="*", s=160, color="black", zorder=4,
                     label="paper's fit sets: loss")
        axis.scatter(position, [100 * t.error_rel_err("17") for t in held], marker="*", s=160, color="red",
                     zorder=4, label="paper's fit sets: 17-task error")
        axis.set_xscale("log" if axis is axes[0] else "linear")
        axis.set_yscale("log")
        readable_log_ticks(axis)
        axis.set_xlabel(label)
        axis.set_ylabel("|relative error| (%)")
        axis.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right", framealpha=0.9)
    figure.suptitle("RedPajama: held-out targets as the fit set grows, cheapest run first", fontsize=9)
    figure.tight_layout()
    return figure


def figure_mstar_rank(evidence) -> plt.Figure:
    """Compute-optimal multipliers M* per family, and predicted vs true 17-task error for the large runs."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    families = evidence.headline.families
    m_star = [f.loss_fit.law.M_star for f in families]  # None where the fit set cannot identify it
    left.bar([FAMILY_LABELS.get(f.family, f.family) for f in families], [np.nan if m is None else m for m in m_star],
             color="steelblue")
    left.set_ylabel("compute-optimal multiplier M*")
    for k, m in enumerate(m_star):
        left.text(k, 0 if m is None else m, "unknown" if m is None else f"{m:.2f}", ha="center", va="bottom")
    for t in evidence.headline.targets:
        right.scatter(t.errors_true["17"], t.forecast.errors["17"], color=_m_colour(t.multiplier), s=60,
                      marker="*" if t.forecast.params > 5e9 else "o")
    span = [min(t.errors_true["17"] for t in evidence.headline.targets) - 0.01,
            max(t.errors_true["17"] for t in evidence.headline.targets) + 0.01]
    right.plot(span, span, color="grey", ls="--", lw=0.8)
    multipliers = sorted({t.multiplier for t in evidence.headline.targets})
    right.legend(handles=[plt.Line2D([], [], marker="o", linestyle="", color=_m_colour(m), label=f"M={m:g}")
                          for m in multipliers], fontsize=7, loc="upper left")
    right.set_xlabel("true 17-task error")
    right.set_ylabel("predicted 17-task error")
    right.set_title(f"runs with N >= 1.4B: Spearman {evidence.spearman['spearman']:.3f} (star: 6.9B)", fontsize=9)
    figure.tight_layout()
    return figure


def plan_figure(laws, plans: list, multipliers: np.ndarray | None = None) -> plt.Figure:
    """Left: total compute against M for each inference volume, cheapest points marked. Right: iso-loss
    curves in (N, D) with the target's curve bold, the plans, and the compute-optimal line D = M* N."""
    target = plans[0].target_loss
    grid = np.geomspace(1, 3000, 300) if multipliers is None else multipliers
    params = params_for_loss(laws.loss, grid, target)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = plt.get_cmap("plasma")
    for k, p in enumerate(plans):
        total = 6 * params * grid * params + 2 * params * p.inference_tokens
        colour = colours(k / max(len(plans), 2))
        served = f"{p.inference_tokens:.0e}" if p.inference_tokens else "0"
        left.plot(grid, total, color=colour, label=f"T = {served} tokens served")
        left.scatter([p.multiplier], [p.total_flops], color=colour, marker="*", s=150, zorder=3)
    m_star = laws.loss.law.M_star
    if m_star is not None:
        left.axvline(m_star, color="grey", ls="--", lw=0.8, label=f"M* = {m_star:.2f}")
    left.set_xscale("log")
    left.set_yscale("log")
    readable_log_ticks(left)
    left.set_xlabel("token multiplier M = D / N")
    left.set_ylabel("total compute 6ND + 2NT (FLOPs)")
    goal = f"loss {target:.4f}"
    if plans[0].target_error is not None:
        tasks = laws.task_set.name if laws.task_set is not None else ""
        goal = f"{tasks}{'-task' if tasks.isdigit() else ''} error {plans[0].target_error:.4f} (loss {target:.4f})"
    left.set_title(f"reaching {goal.strip()}: cheapest M marked", fontsize=9)
    left.legend(fontsize=7)
    n_axis = np.geomspace(min(p.params for p in plans) / 30, max(p.params for p in plans) * 30, 200)
    d_axis = np.geomspace(min(p.tokens for p in plans) / 30, max(p.tokens for p in plans) * 30, 200)
    n_mesh, d_mesh = np.meshgrid(n_axis, d_axis)
    loss = laws.loss.predict(n_mesh, d_mesh)
    levels = np.sort(np.unique(np.round(target + np.array([-0.3, -0.2, -0.1, 0.1, 0.2, 0.4]), 3)))
    contours = right.contour(n_mesh, d_mesh, loss, levels=levels, colors="grey", linewidths=0.7)
    right.clabel(contours, fontsize=6, fmt="%.2f")
    right.contour(n_mesh, d_mesh, loss, levels=[target], colors="black", linewidths=2)
    if m_star is not None:
        right.plot(n_axis, m_star * n_axis, color="grey", ls="--", lw=0.8, label="D = M* N (compute-optimal)")
    for k, p in enumerate(plans):
        right.scatter([p.params], [p.tokens], color=colours(k / max(len(plans), 2)), marker="*", s=150, zorder=3,
                      label=f"plan, T = {p.inference_tokens:.0e}: M = {p.multiplier:.0f}" if p.inference_tokens
                      else f"plan, T = 0: M = {p.multiplier:.1f}")
    right.set_xscale("log")
    right.set_yscale("log")
    readable_log_ticks(right)
    right.set_xlim(n_axis[0], n_axis[-1])
    right.set_ylim(d_axis[0], d_axis[-1])
    right.set_xlabel("parameters N")
    right.set_ylabel("training tokens D")
    right.set_title("iso-loss curves; bold: the target", fontsize=9)
    right.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    return figure


def comparison_figure(comparison, runs=None) -> plt.Figure:
    """Each family's forecast against compute at the target's M, with its interval band, and its runs (filled: at
    the target's M); the target marked."""
    from overtrain.runs.table import measured_values
    from overtrain.runs.tasks import TaskSet

    keys = comparison.quantities
    figure, axes = plt.subplots(1, len(keys), figsize=(5.6 * len(keys), 4.4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for axis, key in zip(axes[0], keys, strict=True):
        for k, (family, points) in enumerate(comparison.curve.items()):
            if not comparison.has(family, key):
                continue
            flops = np.array([p["flops"] for p in points])
            colour = colours(k % 10)
            if runs is not None and family in runs.families:
                mine = runs.family(family)
                task_set = TaskSet(key, comparison.task_names) if key != Quantity.LOSS else None
                values = measured_values(mine, key, comparison.loss_split, task_set)
                same_m = np.isclose(mine.multiplier, comparison.target.multiplier, rtol=0.05)
                axis.scatter(mine.flops, values, s=18, color=colour, facecolors=np.where(
                    same_m[:, None], np.array([colour]), np.array([[0.0, 0.0, 0.0, 0.0]])), linewidths=1, zorder=3)
            axis.plot(flops, [p[key] for p in points], color=colour, label=FAMILY_LABELS.get(family, family))
            if all(f"{key}_low" in p for p in points):
                axis.fill_between(flops, [p[f"{key}_low"] for p in points], [p[f"{key}_high"] for p in points],
                                  color=colour, alpha=0.12, lw=0)
            axis.scatter([comparison.target.flops], [comparison.value(family, key)], color=colour, zorder=3, s=25)
        axis.axvline(comparison.target.flops, color="black", ls=":", lw=1)
        axis.set_xscale("log")
        readable_log_ticks(axis)
        axis.set_xlabel(f"training compute C = 6ND (FLOPs) at M = {comparison.target.multiplier:.3g}")
        axis.set_ylabel("loss" if key == Quantity.LOSS else f"average top-1 error ({key} tasks)")
        axis.set_title(f"{Quantity.of(key)}: forecasts and {100 * comparison.level:g}% bands, "
                       "runs (filled: at the target's M); dotted: the target", fontsize=9)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


class MultiplierColours:
    """One colour per distinct multiplier M (`distinct_multipliers`), told apart by eye and in colour-blind
    vision: viridis at evenly spaced ranks from its darkest to a green still dark enough on white."""

    DARKEST, LIGHTEST = 0.0, 0.9

    def __init__(self, multipliers: Sequence[float] | np.ndarray) -> None:
        self.multipliers = distinct_multipliers(multipliers)
        ranks = np.linspace(self.DARKEST, self.LIGHTEST, len(self.multipliers)) if len(self.multipliers) > 1 else [0.4]
        self.colours = [plt.get_cmap("viridis")(float(r)) for r in ranks]

    def index(self, multiplier: float) -> int:
        """The position of the distinct multiplier nearest `multiplier` (on a log scale)."""
        return int(np.argmin(np.abs(np.log(np.asarray(self.multipliers)) - np.log(multiplier))))

    def __call__(self, multiplier: float) -> tuple:
        """The colour of the distinct multiplier nearest `multiplier`."""
        return self.colours[self.index(multiplier)]


def forecast_figure(runs, laws: list, forecasts: list, curves: Sequence[FamilyCurves] | None = None) -> plt.Figure:
    """Per family, top: its runs' loss against compute (filled: the loss law's fit runs), the fitted law at each M
    of its fit runs and its targets (`FamilyCurves.loss`; dashed beyond the dearest fit run), a runs' and law's
    colour per M named in the legend, and each target's forecast with its interval. Bottom, where the family has an
    error law: its runs' average error against loss, the error law (`FamilyCurves.error`), and each target's error
    forecast with its interval. `curves` (by family) default to `family_curves` of the forecasts."""
    with_error = any(law.error is not None for law in laws)
    figure, axes = plt.subplots(2 if with_error else 1, len(laws), figsize=(5.8 * len(laws), 8.8 if with_error
                                                                             else 4.6), squeeze=False)
    drawn = {c.family: c for c in curves or ()}
    for column, law in enumerate(laws):
        axis = axes[0][column]
        fit = law.loss
        mine = [f for f in forecasts if f.forecast.loss_fit.family == law.family]
        lines = drawn.get(law.family) or family_curves(runs, law, [t.forecast for t in mine])
        table = runs.family(law.family).complete(fit.loss_split)
        fitted = set(fit.runs)
        flops, loss, multiplier = table.column("flops"), table.loss_values(fit.loss_split), table.column("multiplier")
        colour = MultiplierColours([*multiplier, *(c.multiplier for c in lines.loss)])
        for run, c, value, m in zip(table.runs, flops, loss, multiplier, strict=True):
            axis.scatter(c, value, s=28, color=colour(m), facecolors=None if run in fitted else "none",
                         linewidths=1.2, zorder=3)
        for curve in lines.loss:
            inside = curve.x <= curve.fitted_to
            axis.plot(curve.x[inside], curve.y[inside], color=colour(curve.multiplier), lw=1.2)
            beyond = np.flatnonzero(~inside)
            if len(beyond):  # from the last point inside on, so the two parts join
                tail = np.arange(max(beyond[0] - 1, 0), len(curve.x))
                axis.plot(curve.x[tail], curve.y[tail], color=colour(curve.multiplier), lw=1.2, ls="--")
        law_at = {colour.index(c.multiplier) for c in lines.loss}
        handles = [plt.Line2D([], [], marker="o", ms=5, color=colour.colours[k], lw=1.2 if k in law_at else 0,
                              label=f"M = {float(f'{m:.3g}'):g}") for k, m in enumerate(colour.multipliers)]
        others = [plt.Line2D([], [], color="0.4", lw=1.2, ls="--", label="the law beyond the fit runs")]
        for trusted in mine:
            f = trusted.forecast
            interval = trusted.intervals.get("loss")
            below = 0 if interval is None else f.loss - interval.low
            above = 0 if interval is None else interval.high - f.loss
            others.append(axis.errorbar(
                [f.flops], [f.loss], yerr=[[below], [above]], fmt="*", ms=14, color="crimson", capsize=4, zorder=4,
                label=f"target {f.params / 1e9:.3g}B, M = {f.multiplier:.3g}: {f.loss:.3f}"
                + ("" if interval is None else f" [{interval.low:.3f}, {interval.high:.3f}]")))
        axis.set_xscale("log")
        axis.set_yscale("log")
        readable_log_ticks(axis)
        axis.set_xlabel("training compute C = 6ND (FLOPs)")
        axis.set_ylabel(f"loss ({fit.loss_split})")
        axis.set_title(f"{FAMILY_LABELS.get(law.family, law.family)}: runs (filled: fit runs), the law at each M"
                       + (" and the target" if mine else ""), fontsize=9)
        axis.grid(True, which="major", alpha=0.3)
        axis.add_artist(axis.legend(handles=handles, fontsize=7, title="runs and law per M = D/N", title_fontsize=7,
                                    loc="upper right", ncol=2 if len(handles) > 5 else 1))
        axis.legend(handles=others, fontsize=7, loc="lower left")  # the runs fall from upper left to lower right
        if with_error:
            _error_panel(axes[1][column], runs, law, mine, lines.error, colour)
    figure.tight_layout()
    return figure


def _error_panel(axis: plt.Axes, runs, law, mine: list, curve: LawCurve | None, colour: MultiplierColours) -> None:
    """A family's runs' average error against their loss (coloured by M as above), the error law (`curve`), and
    each target's error forecast."""
    fit = law.error
    if fit is None or fit.task_set is None:
        axis.set_axis_off()
        axis.text(0.5, 0.5, "no error law (the runs carry no tasks)", ha="center", va="center", fontsize=9,
                  transform=axis.transAxes)
        return
    table = runs.family(law.family).complete(fit.loss_split, fit.task_set)
    loss, error = table.loss_values(fit.loss_split), table.error_values(fit.task_set)
    fitted = set(fit.runs)
    for run, value, measured, m in zip(table.runs, loss, error, table.column("multiplier"), strict=True):
        axis.scatter(value, measured, s=28, color=colour(m), facecolors=None if run in fitted else "none",
                     linewidths=1.2, zorder=3)
    key = fit.task_set.name
    # an ensemble's forecast is the mean of its plausible laws' (`TrustedForecast.members`), off the drawn law
    members = {name for trusted in mine for name in trusted.members.get(key, {})}
    if curve is not None:
        axis.plot(curve.x, curve.y, color="0.3", lw=1, label=f"{fit.law.name} law" + (
            f"; targets: mean of {', '.join(sorted(members))}" if members - {fit.law.name} else ""))
    for trusted in mine:
        f = trusted.forecast
        if key not in f.errors:
            continue
        interval = trusted.intervals.get("error") or trusted.intervals.get(key)
        below = 0 if interval is None else f.errors[key] - interval.low
        above = 0 if interval is None else interval.high - f.errors[key]
        axis.errorbar([f.loss], [f.errors[key]], yerr=[[below], [above]], fmt="*", ms=14, color="crimson",
                      capsize=4, zorder=4, label=f"target {f.params / 1e9:.3g}B, M = {f.multiplier:.3g}: "
                      f"{f.errors[key]:.3f}" + ("" if interval is None else f" [{interval.low:.3f}, "
                                                                              f"{interval.high:.3f}]"))
    axis.set_xlabel(f"loss ({fit.loss_split})")
    axis.set_ylabel(f"average top-1 error ({key})")
    axis.set_title("error against loss: runs (filled: the error law's fit runs), the law"
                   + (" and the target" if mine else ""), fontsize=9)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(fontsize=7)
