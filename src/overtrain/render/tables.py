"""Rich tables for the terminal: what a person reads after `overtrain reproduce`, `runs`, `forecast`."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from overtrain.decide.comparison import CROSSING_DECADES, LEADERS, TOP, RecipeComparison
from overtrain.decide.plan import Design, Plan, shape_for
from overtrain.decide.ranking import DRAWS
from overtrain.forecasts import FittedLaws, ScoredForecast
from overtrain.names import ENSEMBLE
from overtrain.paper import FAMILY_NAMES, Reproduction
from overtrain.quantities import Quantity
from overtrain.runs.table import RunTable
from overtrain.sizes import size_text
from overtrain.trust.backtest import Backtest
from overtrain.trust.prediction import FamilyForecasts, TrustedForecast


class Table(RichTable):
    """A rich table that never cuts a word (a number, a name, an interval): each column is at least as wide as its
    longest word, so a narrow terminal wraps cells at spaces instead of ending them with '…'."""

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(*cells, **options)
        for column, cell in zip(self.columns, cells, strict=False):
            if isinstance(cell, str):
                words = Text.from_markup(cell).plain.split()
                column.min_width = max(column.min_width or 0, max(map(len, words), default=0))


def percent(value: float) -> str:
    """A fraction as a percentage with two decimals: 0.0148 -> '1.48%'."""
    return f"{100 * value:.2f}%"


def _ratio(value: float) -> str:
    """A compute ratio: 343x; 0.44x and 5.9e+08x at either end."""
    return f"{value:.2g}x" if value >= 1e5 or value < 10 else f"{value:.0f}x"


def _target_name(t: ScoredForecast) -> str:
    return f"{size_text(t.forecast.params)} M={t.multiplier:g}"


def reproduction_tables(result: Reproduction) -> list[Table]:
    """Loss forecasts, error forecasts, and the fitted laws: four tables that fit 80 columns."""
    task_sets = [f.task_set.name for f in result.families[0].error_fits] if result.families else []  # type: ignore[union-attr]
    held_out = [t for t in result.targets if not t.in_error_fit_set]

    loss = Table(title=f"Loss forecasts ({result.loss_split})", title_justify="left")
    for column in ("family", "target", "C / fit C", "true", "predicted", "rel err"):
        loss.add_column(column, justify="left" if column in ("family", "target") else "right")
    for t in result.targets:
        loss.add_row(
            FAMILY_NAMES.get(t.family, t.family), _target_name(t) + ("*" if t.in_error_fit_set else ""),
            _ratio(t.forecast.flops_ratio),
            f"{t.loss_true:.4f}", f"{t.forecast.loss:.4f}", percent(t.loss_rel_err),
            style="dim" if t.in_error_fit_set else None,
        )
    if held_out:
        loss.add_section()
        loss.add_row("mean", f"{len(held_out)} held out", "", "", "",
                     percent(sum(t.loss_rel_err for t in held_out) / len(held_out)), style="bold")
        if len(held_out) < len(result.targets):
            loss.caption = "*: in the error fit set, so the means exclude it"

    errors_by_set = []
    for name in task_sets:
        error = Table(title=f"Average top-1 error forecasts ({name} tasks)", title_justify="left")
        for column in ("family", "target", "true", "predicted", "rel err"):
            error.add_column(column, justify="left" if column in ("family", "target") else "right",
                             no_wrap=column == "target")
        for t in result.targets:
            error.add_row(FAMILY_NAMES.get(t.family, t.family), _target_name(t) + ("*" if t.in_error_fit_set else ""),
                          f"{t.errors_true[name]:.4f}", f"{t.forecast.errors[name]:.4f}",
                          percent(t.error_rel_err(name)), style="dim" if t.in_error_fit_set else None)
        if held_out:
            error.add_section()
            error.add_row("mean", f"{len(held_out)} held out", "", "",
                          percent(sum(t.error_rel_err(name) for t in held_out) / len(held_out)), style="bold")
        if len(held_out) < len(result.targets):
            error.caption = "*: in the error fit set, so the means exclude it"
        errors_by_set.append(error)

    laws = Table(title="Loss law L(N, D) = E + A·N^-α + B·D^-α", title_justify="left")
    for column in ("family", "E", "A", "B", "α", "η = α/2", "M*", "fit C"):
        laws.add_column(column, justify="left" if column == "family" else "right")
    errors = Table(title="Error law Err(L) = ε - k·exp(-γ·L)", title_justify="left")
    for column in ("family", "tasks", "k", "γ", "ε", "fit C"):
        errors.add_column(column, justify="left" if column in ("family", "tasks") else "right")
    for family in result.families:
        law = family.loss_fit.law
        name = FAMILY_NAMES.get(family.family, family.family)
        values = (law.E, law.A, law.B, law.alpha, law.eta, law.M_star)  # type: ignore[attr-defined]
        laws.add_row(name, *["—" if v is None else f"{v:.4g}" for v in values],
                     f"{family.loss_fit.fit_flops:.3g}")
        for fit in family.error_fits:
            errors.add_row(name, fit.task_set.name, *[f"{v:.5g}" for v in (fit.law.k, fit.law.gamma, fit.law.eps)],  # type: ignore[attr-defined,union-attr]
                           f"{fit.fit_flops:.3g}")
    return [loss, *errors_by_set, laws, errors]


def runs_table(runs: RunTable) -> Table:
    """What was read, per family: runs, sizes, multipliers, compute."""
    table = Table(title=f"{len(runs)} runs from {runs.source}", title_justify="left")
    for column in ("family", "runs", "N range", "D range", "M range", "C range"):
        table.add_column(column, justify="left" if column == "family" else "right")
    for family in runs.describe()["families"]:
        (n_low, n_high), (d_low, d_high), (m_low, m_high), (c_low, c_high) = (
            family[key] for key in ("params", "tokens", "multiplier", "flops"))
        table.add_row(family["family"], str(family["runs"]), f"{size_text(n_low)} – {size_text(n_high)}",
                      f"{d_low:.3g} – {d_high:.3g}", f"{m_low:.3g} – {m_high:.3g}", f"{c_low:.3g} – {c_high:.3g}")
    table.caption = f"loss splits: {', '.join(runs.splits) or 'none'}; tasks: {len(runs.task_names)}"
    held = runs.checkpoints
    if held is not None:
        table.caption += (f"; {len(held)} intermediate checkpoints of {len(set(held.column('checkpoint_of')))} runs"
                          " (for the error law's loss-to-error step, never the loss law)")
    return table


def family_notes(results: list[FamilyForecasts]) -> list[str]:
    """What each family's forecasts rest on (how the method was chosen, how the intervals were calibrated, which laws
    the ensemble averaged), one line per distinct text, naming every family it is true of."""
    said: dict[str, list[str]] = {}
    for r in results:
        texts = [] if r.selection is None else [r.selection.reason()]
        if r.calibration is not None:
            texts.append(f"intervals calibrated on {r.calibration.source}; {r.calibration.describe()}")
        if r.method.error_law == ENSEMBLE and r.forecasts and r.forecasts[0].forecast.errors:
            members = r.forecasts[0].members.get(next(iter(r.forecasts[0].forecast.errors)), {})
            texts.append("error forecast = mean on the logit scale of the laws the backtest finds plausible "
                         f"({', '.join(members) or 'none'})")
        for text in texts:
            said.setdefault(text, []).append(r.laws.family)
    return [f"{', '.join(families)}: {text}" for text, families in said.items()]


def forecast_table(forecasts: list[TrustedForecast]) -> Table:
    """One row per (family, target): N, D, M, C, predicted loss and error with intervals, compute ratio."""
    table = Table(title="Forecasts", title_justify="left")
    for column in ("family", "N", "D", "M", "loss", "error", "C / fit C"):
        table.add_column(column, justify="left" if column == "family" else "right",
                         no_wrap=column in ("family", "loss", "error"))  # names and intervals stay whole
    for trusted in forecasts:
        f, intervals = trusted.forecast, trusted.intervals
        loss = f"{f.loss:.4f}"
        if "loss" in intervals:
            loss += f"\n{intervals['loss'].low:.3f}–{intervals['loss'].high:.3f}"
        error = "—" if f.error is None else f"{f.error:.4f}"
        name = next(iter(f.errors), None)
        if name in intervals:
            error += f"\n{intervals[name].low:.3f}–{intervals[name].high:.3f}"
        table.add_row(f.loss_fit.family, size_text(f.params), f"{f.tokens:.3g}", f"{f.multiplier:.3g}", loss, error,
                      _ratio(f.flops_ratio))
    if forecasts:
        first = forecasts[0].forecast
        tasks = "" if not first.errors else f"; error: average top-1 over task set {next(iter(first.errors))!r}"
        level = next(iter(forecasts[0].intervals.values()), None)
        bracket = f"; below each forecast its {100 * level.level:g}% interval" if level is not None else ""
        table.caption = f"loss: split {first.loss_fit.loss_split!r}{tasks}{bracket}"
    return table


def task_tables(forecasts: list[TrustedForecast]) -> list[Table]:
    """Each task's forecast, one table per (family, target) so it fits 80 columns: accuracy with its interval and
    the task's chance accuracy; tasks still at chance on every fit run are marked."""
    tables = []
    for trusted in forecasts:
        if not trusted.tasks:
            continue
        f = trusted.forecast
        table = Table(title=f"Each task: {f.loss_fit.family} at N = {size_text(f.params)}, D = {f.tokens:.3g}",
                      title_justify="left")
        for column in ("task", "accuracy", "chance"):
            table.add_column(column, justify="left" if column == "task" else "right", no_wrap=column == "accuracy")
        bracket = ""
        for task in trusted.tasks:
            accuracy = f"{task.accuracy:.3f}"
            if task.low is not None and task.high is not None:
                accuracy += f" ({1 - task.high:.3f}–{1 - task.low:.3f})"
                level = next(iter(trusted.intervals.values()), None)
                bracket = "" if level is None else f"; in brackets its {100 * level.level:g}% interval"
            chance = "?" if not np.isfinite(task.chance_error) else f"{1 - task.chance_error:.3g}"
            table.add_row(task.task + (" (at chance)" if task.at_chance else ""), accuracy, chance)
        table.caption = (f"top-1 accuracy = 1 - error{bracket}; a task at chance on every fit run is forecast at "
                         "what those runs measured")
        tables.append(table)
    return tables


def backtest_table(summary: Backtest) -> Table:
    """Backtest errors and interval coverage per decade of extrapolation distance."""
    by_distance = summary.by_distance()
    table = Table(title=f"Backtest: {summary.method.label}", title_justify="left")
    table.add_column("distance")
    for column in by_distance.columns:
        table.add_column(column.replace("_mean_abs_rel_err", " |rel err|").replace("_", " "), justify="right")
    for label, row in by_distance.iterrows():
        cells = [str(int(v)) if k == "forecasts" else f"{100 * v:.1f}%" for k, v in row.items()]
        table.add_row(str(label), *cells)
    scales = summary.calibration
    table.caption = (f"{100 * summary.level:g}% intervals; {scales.describe()}; the table's coverage is of intervals "
                     "calibrated on these same forecasts, so it flatters them" + held_out_note(summary))
    return table


def held_out_note(summary: Backtest) -> str:
    """What the held-out coverage means for a user's forecast, in one sentence (empty without one): each family's
    forecasts judged by intervals calibrated without it, as a forecast of new runs is."""
    coverage = summary.held_out_coverage
    if not coverage:
        return ""
    held = ", ".join(f"{q} {100 * v:.0f}%" for q, v in coverage.items())
    level = f"{100 * summary.level:g}%"
    short = [q for q, v in coverage.items() if v < summary.level - 0.05]
    verdict = (f"about the {level} they state: trust them as stated" if not short else
               f"fewer than the {level} they state: a new run lands outside its {' and '.join(short)} interval "
               "more often than they say, so read them as narrower than their level")
    return (f". Judged as a new run's are, each family's forecasts against intervals calibrated without it: {held} "
            f"inside, {verdict}")


def laws_table(laws: list[FittedLaws]) -> Table:
    """The fitted laws of each family: law, fit set, runs and residual size, then the coefficients on their own
    line (so the table fits 80 columns)."""
    table = Table(title="Fitted laws", title_justify="left")
    table.add_column("family")
    table.add_column("law, fit set and coefficients")
    for law in laws:
        for fit in (law.loss, law.error):
            if fit is None:
                continue
            values: dict[str, float | None] = dict(fit.law.coefficients())
            if fit.law.has_compute_form:
                values["M*"] = fit.law.M_star
            coefficients = "  ".join(f"{k}={'unknown' if v is None else format(v, '.4g')}" for k, v in values.items())
            flag = " (exponent at search bound)" if fit.at_bound else ""
            held = fit.law.unidentified
            if held:
                flag += f" ({' and '.join(held)} held out: not identified)"
            table.add_row(law.family, f"{fit.quantity}: {fit.law.name}{flag}, {fit.n_runs} runs{fit.checkpoint_note()},"
                                      f" rmse {fit.rmse:.3g}\n"
                          f"fit set: {fit.fit_set}\n{coefficients}")
    return table


def plan_table(plans: list[tuple[str, Plan, dict]]) -> list[Table]:
    """The cheapest run reaching the target per (family, inference volume), then its forecast with intervals.
    Inference compute (2NT) is the total less the training compute; the JSON output has it."""
    runs = Table(title="Plans: least total compute reaching the target", title_justify="left")
    for column in ("family", "served T", "N", "D", "M", "train C", "total C"):
        runs.add_column(column, justify="left" if column == "family" else "right")
    first = plans[0][1] if plans else None
    goal = "" if first is None else (f" (target: loss {first.target_loss:.4f})" if first.target_error is None
                                     else f" (target: error {first.target_error:.4f})")
    checks = Table(title=f"Forecast at each plan{goal}", title_justify="left")
    for column in ("family", "served T", "loss", "loss interval", "error", "error interval"):
        checks.add_column(column, justify="left" if column == "family" else "right")
    for family, p, intervals in plans:
        runs.add_row(family, f"{p.inference_tokens:.2g}", size_text(p.params), f"{p.tokens:.3g}", f"{p.multiplier:.3g}",
                     f"{p.training_flops:.3g}", f"{p.total_flops:.3g}")
        name = next(iter(p.forecast.errors), None)
        loss_interval = intervals.get("loss")
        error_interval = intervals.get(name) if name is not None else None
        checks.add_row(
            family, f"{p.inference_tokens:.2g}", f"{p.forecast.loss:.4f}",
            "—" if loss_interval is None else f"{loss_interval.low:.3f}–{loss_interval.high:.3f}",
            "—" if name is None else f"{p.forecast.errors[name]:.4f}",
            "—" if error_interval is None else f"{error_interval.low:.3f}–{error_interval.high:.3f}",
        )
    runs.caption = "C: FLOPs (training 6ND; total adds inference 2NT over the T tokens served)"
    return [runs, checks]


def budget_table(family: str, rows: list[dict]) -> Table:
    """Best reachable loss and error at each M for a fixed training budget; the best M in bold."""
    table = Table(title=f"{family}: what the budget buys at each M", title_justify="left")
    for column in ("M", "N", "D", "loss", "error"):
        table.add_column(column, justify="right")
    for row in rows:
        error = "—" if row["error"] is None else f"{row['error']:.4f}"
        m = row["multiplier"]
        label = (f"{m:.3g}" if m < 1000 else f"{m:.0f}") + (" (best)" if row["best"] else "")
        table.add_row(label, size_text(row["params"]),
                      f"{row['tokens']:.3g}", f"{row['loss']:.4f}", error, style="bold" if row["best"] else None)
    return table


def design_table(design: Design) -> Table:
    """The proposed small runs, their cost, and the evidence on what accuracy to expect."""
    table = Table(title="Small runs to train first", title_justify="left")
    for column in ("N", "M", "D", "C", "shape (open_lm)"):
        table.add_column(column, justify="right")
    for run in design.runs:
        table.add_row(size_text(run.params), f"{run.multiplier:.3g}", f"{run.tokens:.3g}", f"{run.flops:.3g}",
                      str(shape_for(run.params)))
    table.caption = (f"total {design.flops:.3g} FLOPs; the target needs {design.distance:.0f}x that")
    return table


#: Names longer than this are shown in the terminal by a short label, with a legend of the full names.
LABEL_AFTER = 28


def _quantity_name(key: str) -> str:
    return "loss" if key == Quantity.LOSS else f"error ({key})"


class _Labels:
    """Short labels ([1], [2], ...) for long family names, in the order they are first shown."""

    def __init__(self) -> None:
        self.order: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        """The name or its label, as rich markup."""
        return escape(self.plain(name))

    def plain(self, name: str) -> str:
        """The name or its label, as plain text."""
        if len(name) <= LABEL_AFTER:
            return name
        return self.order.setdefault(name, f"[{len(self.order) + 1}]")

    def legend(self) -> RichTable | None:
        if not self.order:
            return None
        legend = RichTable(title="Families", title_justify="left", show_header=False, box=None)
        legend.add_column("label", no_wrap=True)
        legend.add_column("family", overflow="fold")
        for name, label in self.order.items():
            legend.add_row(Text(label), Text(name, overflow="fold"))
        return legend


def comparison_warnings(comparison: RecipeComparison) -> list[str]:
    """What a reader of the comparison must know before trusting it (the command line prints it on stderr): that
    families too thin to be fitted alone made every family share one law."""
    if not comparison.thin:
        return []
    thin = list(comparison.thin)
    names = ", ".join(thin[:3]) + (", ..." if len(thin) > 3 else "")
    fitted = len(comparison.forecasts) - len(thin)
    return [f"{len(thin)} of {len(comparison.forecasts)} families cannot be fitted alone ({names}), so every family is "
            "compared through one law fitted to all of them, each offset by its largest runs: forecasts differ from "
            "`forecast`'s own laws" + (f"; --shape own compares the {fitted} that can be" if fitted >= 2 else "")]


def comparison_tables(comparison: RecipeComparison, top: int = TOP, baseline: str | None = None,
                      pairs: bool = False) -> list[Any]:
    """Each quantity's ranking at the target (the `top` best, and `baseline`), with intervals, P(best) and P(among
    the best k); then the odds for the pairs among the leaders and against the baseline (every pair with `pairs`);
    what the odds rest on; what could not be compared. Long names get short labels and a legend."""
    keys = [k for k in comparison.quantities if k in comparison.standings]
    target = comparison.target
    label = _Labels()
    tables: list[Any] = []
    k = comparison.top_k
    for key in keys:
        standing = comparison.standings[key]
        best, within = comparison.chances(key, k)
        order = list(standing.order())
        rows = order[:top]
        if baseline is not None and baseline in standing.families and standing.index(baseline) not in rows:
            rows.append(standing.index(baseline))
        shown = f"the best {top} of {len(standing.families)}" if len(standing.families) > top else "every family"
        table = Table(title=f"{_quantity_name(key).capitalize()} at N = {size_text(target.params)}, M = "
                            f"{target.multiplier:.3g}: {shown}", title_justify="left")
        for column in ("#", "family", "forecast", f"{100 * comparison.level:g}% interval", "P(best)",
                       *((f"P(top {k})",) if k > 1 else ())):
            table.add_column(column, justify="left" if column == "family" else "right")
        for i in rows:
            name = standing.families[i]
            interval = comparison.forecast_of(name).intervals.get(key)
            span = "—" if interval is None else f"{interval.low:.3f}–{interval.high:.3f}"
            mark = " (baseline)" if name == baseline else ""
            table.add_row(str(order.index(i) + 1), label(name) + mark, f"{standing.values[i]:.4f}", span,
                          _chance(best[i]), *((_chance(within[i]),) if k > 1 else ()))
        leader = standing.families[order[0]]
        drawn = f", P(top {k}) from {DRAWS} joint draws" if k > 1 else ""
        table.caption = (f"leader: {label(leader)}, P(best) {_chance(best[order[0]])}; P(best) integrated over each "
                         f"family's miss{drawn} (the pair odds' model)")
        tables.append(table)
    tables.append(_odds_table(comparison, keys, baseline, pairs, label))
    if comparison.tasks is not None and comparison.tasks.dropped:
        tables.append(Text(comparison.tasks.describe(label.plain)))
    if comparison.skipped:
        skipped = Table(title=f"Not compared: {len(comparison.skipped)}", title_justify="left")
        skipped.add_column("family")
        skipped.add_column("why")
        for name, why in list(comparison.skipped.items())[:5]:
            skipped.add_row(label(name), escape(why))
        if len(comparison.skipped) > 5:
            skipped.caption = f"and {len(comparison.skipped) - 5} more (--json lists every one)"
        tables.append(skipped)
    legend = label.legend()
    return tables if legend is None else [*tables, legend]


def _chance(value: float) -> str:
    return "<0.01" if 0 < value < 0.005 else f"{value:.2f}"


def _odds_table(comparison: RecipeComparison, keys: list[str], baseline: str | None, every: bool, label: _Labels
                ) -> Table:
    """The odds that the first of a pair comes out better, per quantity, for the pairs among each quantity's
    leaders and each leader against the baseline (every pair with `every`), and where their laws cross."""
    shared = comparison.shape == "shared"
    if every:
        names = [f.family for f in comparison.forecasts]
        chosen = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        title = "Odds, pair by pair"
    else:
        chosen = comparison.leader_pairs(LEADERS, baseline)
        few = len(comparison.forecasts) <= LEADERS
        title = ("Odds, pair by pair" if few else f"Odds among the {LEADERS} leaders"
                 + (f" and against {label(baseline)}" if baseline else ""))
    table = Table(title=title, title_justify="left")
    for column in ("first", "second", *(f"P(first better): {_quantity_name(k)}" for k in keys),
                   *(() if shared else ("laws cross (N)",))):
        table.add_column(column, justify="left" if column in ("first", "second") else "right")
    for a, b in chosen:
        cells = [f"{comparison.probability(a, b, k):.2f}"
                 if a in comparison.standings[k].families and b in comparison.standings[k].families else "—"
                 for k in keys]
        crossings = []
        for k in keys:
            found = comparison.crossings.get(k)
            standing = comparison.standings[k]
            if found is not None and a in standing.families and b in standing.families:
                at = found[standing.index(a), standing.index(b)]
                if np.isfinite(at):
                    crossings.append(f"{Quantity.of(k)} at {size_text(at)}")
        table.add_row(label(a), label(b), *cells, *(() if shared else (", ".join(crossings) or "—",)))
    drift = comparison.drift
    spread = "" if drift is None else "; ".join(
        f"{q} {drift.variance(q, 1.0) ** 0.5:.3f} over a decade ({drift.pairs[q]} pairs of {drift.source(q)})"
        for q in dict.fromkeys(Quantity.of(k) for k in keys))
    moved = f"how far gaps between recipes moved with scale (rms on the log/logit scale: {spread})"
    scatter = "; ".join(f"{q} {comparison.scatter_used(q) ** 0.5:.3f} ({comparison.scatter[q][1]} degrees of freedom)"
                        for q in comparison.scatter if comparison.scatter_used(q) > 0)
    if shared and scatter:
        moved += f" and the scatter between replicates of these runs (rms: {scatter})"
    more = ("; odds can be near 1 between overlapping intervals: the extrapolation miss that widens the intervals is "
            "shared by families fitted alike and cancels from their gap"
            + ("" if every or len(comparison.forecasts) <= LEADERS else "; every pair in --json, or here with --pairs"))
    if shared:
        table.caption = (f"shared shape ({comparison.shape_reason}): one law fitted to all families' runs, each family "
                         f"offset by its largest runs; odds from {moved}{more}")
    else:
        table.caption = (f"odds from each family's fit and target noise and {moved}; crossings within "
                         f"{CROSSING_DECADES:g} decades of the target's size{more}")
    return table


def cheaper_table(rows: list[dict]) -> Table:
    """For every pair of families and inference volume: each one's total compute to reach the target and the
    probability that the first gets there more cheaply."""
    table = Table(title="Which family reaches the target more cheaply", title_justify="left")
    for column in ("first", "second", "served T", "first C", "second C", "P(first cheaper)"):
        table.add_column(column, justify="left" if column in ("first", "second") else "right")
    for row in rows:
        table.add_row(escape(row["first"]), escape(row["second"]), f"{row['inference_tokens']:.2g}",
                      f"{row['first_flops']:.3g}", f"{row['second_flops']:.3g}", f"{row['probability']:.2f}")
    table.caption = ("from each forecast's fit part and share of how far gaps between recipes move with scale (as "
                     "compare's odds), and the extrapolation miss both share where their slopes differ; each miss "
                     "turned into compute by the law's slope at the plan")
    return table
