"""The run table: one row per training run, with every derived quantity computed in one place.

Columns of `RunTable.frame` (index: run id):

- `family` (training distribution; runs of different families are never fitted together), `shape`;
- `params` N (total parameters, embeddings included), `tokens` D;
- `multiplier` M = D / N unless the source states it, `flops` C = 6 N D unless the source states it;
- `loss:<split>` with optional `loss_lower95:<split>` / `loss_upper95:<split>` bounds;
- `acc:<task>`, top-1 accuracy in [0, 1];
- `taskloss:<task>`, optional, a per-task loss (e.g. the loss of the correct answer), positive: the first step of
  a two-step error forecast (Bhagia et al., 2024).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from overtrain.errors import InputProblems, OvertrainError
from overtrain.fitsets import FitSet, resolve_fit_set
from overtrain.tasks import TaskSet, average_error, empty_task_table, resolve_task_set

LOSS = "loss:"
LOSS_LOWER = "loss_lower95:"
LOSS_UPPER = "loss_upper95:"
ACC = "acc:"
TASKLOSS = "taskloss:"
ID_COLUMNS = ("family", "shape")
SIZE_COLUMNS = ("params", "tokens", "multiplier", "flops")
DEFAULT_FAMILY = "default"


def flops_from(params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray | float:
    """Training compute C = 6 N D (the paper's approximation)."""
    return 6.0 * params * tokens


@dataclass(frozen=True)
class RunTable:
    """An immutable, validated table of training runs.

    Build one with `RunTable.from_frame` (readers do); select with `where`, `select`, `family`.
    """

    frame: pd.DataFrame
    tasks: pd.DataFrame = field(default_factory=empty_task_table)
    source: str = "<memory>"

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, tasks: pd.DataFrame | None = None, source: str = "<memory>"
    ) -> RunTable:
        """Validate a frame with a `run` column (or run-id index) and derive M and C where absent.

        Every problem is collected; if there are any, InputProblems is raised with all of them.
        """
        frame = frame.copy()
        if "run" in frame.columns:
            frame = frame.set_index("run")
        frame.index = frame.index.map(str)
        frame.index.name = "run"
        for required in ("params", "tokens"):
            if required not in frame.columns:
                raise OvertrainError(f"{source}: missing required column {required!r}")
        problems = [f"{source}: duplicate run id {run!r}" for run in frame.index[frame.index.duplicated()].unique()]
        for column, default in (("family", DEFAULT_FAMILY), ("shape", "")):
            present = column in frame.columns
            frame[column] = frame[column].astype(object).fillna(default).astype(str) if present else default
        for column in frame.columns:
            if column in SIZE_COLUMNS or column.startswith((LOSS, LOSS_LOWER, LOSS_UPPER, TASKLOSS)):
                frame[column] = _numeric(frame[column], column, source, problems, positive=True,
                                         required=column in ("params", "tokens"))
            elif column.startswith(ACC):
                frame[column] = _numeric(frame[column], column, source, problems, positive=False, unit=True)
        if problems:
            raise InputProblems(problems)
        for column in ("multiplier", "flops"):
            if column not in frame.columns:
                frame[column] = np.nan
        frame["multiplier"] = frame["multiplier"].fillna(frame["tokens"] / frame["params"])
        frame["flops"] = frame["flops"].fillna(flops_from(frame["params"], frame["tokens"]))
        ordered = [*ID_COLUMNS, *SIZE_COLUMNS]
        frame = frame[ordered + [c for c in frame.columns if c not in ordered]]
        return cls(frame, empty_task_table() if tasks is None else tasks, source)

    # -- what is in it --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def runs(self) -> list[str]:
        return list(self.frame.index)

    @property
    def families(self) -> list[str]:
        return sorted(self.frame["family"].unique())

    @property
    def splits(self) -> list[str]:
        return [c[len(LOSS) :] for c in self.frame.columns if c.startswith(LOSS)]

    @property
    def task_names(self) -> list[str]:
        return [c[len(ACC) :] for c in self.frame.columns if c.startswith(ACC)]

    @property
    def task_loss_names(self) -> list[str]:
        """The tasks with a per-task loss column (`taskloss:<task>`)."""
        return [c[len(TASKLOSS) :] for c in self.frame.columns if c.startswith(TASKLOSS)]

    def task_loss(self, task: str) -> pd.Series:
        """The per-task loss of every run on `task` (NaN where a run has none)."""
        if TASKLOSS + task not in self.frame.columns:
            raise OvertrainError(f"{self.source}: no task loss for {task!r} (column {TASKLOSS + task})")
        return self.frame[TASKLOSS + task].rename(task)

    @property
    def params(self) -> np.ndarray:
        return self.frame["params"].to_numpy(dtype=float)

    @property
    def tokens(self) -> np.ndarray:
        return self.frame["tokens"].to_numpy(dtype=float)

    @property
    def multiplier(self) -> np.ndarray:
        return self.frame["multiplier"].to_numpy(dtype=float)

    @property
    def flops(self) -> np.ndarray:
        return self.frame["flops"].to_numpy(dtype=float)

    @property
    def total_flops(self) -> float:
        """Sum of the training compute of all runs in the table."""
        return float(self.flops.sum())

    def loss(self, split: str) -> pd.Series:
        """The loss of every run on `split`; every run must have it."""
        column = LOSS + split
        if column not in self.frame.columns:
            raise OvertrainError(
                f"{self.source}: no loss split {split!r} (splits: {', '.join(self.splits) or 'none'})"
            )
        values = self.frame[column]
        if values.isna().any():
            run = values.index[values.isna()][0]
            raise OvertrainError(f"{self.source}: run {run!r} has no loss on split {split!r}")
        return values.rename(split)

    def loss_bounds(self, split: str) -> pd.DataFrame | None:
        """The 95% bounds of the loss on `split`, when the source carries them."""
        lower, upper = LOSS_LOWER + split, LOSS_UPPER + split
        if lower not in self.frame.columns or upper not in self.frame.columns:
            return None
        return self.frame[[lower, upper]].set_axis(["lower95", "upper95"], axis=1)

    def loss_noise(self, split: str) -> np.ndarray:
        """Measurement standard deviation of each run's loss on `split`, from its 95% bounds:
        (upper - lower) / (2 x 1.96); 0 where the source gives no bounds."""
        bounds = self.loss_bounds(split)
        if bounds is None:
            return np.zeros(len(self))
        sigma = (bounds["upper95"] - bounds["lower95"]).to_numpy(dtype=float) / (2 * 1.959964)
        return np.where(np.isfinite(sigma) & (sigma > 0), sigma, 0.0)

    def error_noise(self, tasks: str | Sequence[str] | TaskSet) -> np.ndarray:
        """Binomial standard deviation of each run's average error over a task set:
        sqrt(sum_t a_t (1 - a_t) / n_t) / T, with n_t the task's number of examples (tasks without it add 0)."""
        accuracy = self.accuracy(tasks)
        examples = pd.to_numeric(self.tasks["n_examples"].reindex(accuracy.columns), errors="coerce").to_numpy()
        variance = accuracy.to_numpy() * (1 - accuracy.to_numpy()) / examples
        return np.sqrt(np.nansum(variance, axis=1)) / accuracy.shape[1]

    def task_set(self, spec: str | Sequence[str] | TaskSet) -> TaskSet:
        """Resolve a task-set spec against the tasks these runs carry."""
        return resolve_task_set(spec, self.task_names)

    def accuracy(self, tasks: str | Sequence[str] | TaskSet) -> pd.DataFrame:
        """Top-1 accuracy per run (rows) and task (columns); every run must have every task."""
        task_set = self.task_set(tasks)
        frame = self.frame[[ACC + t for t in task_set.tasks]]
        missing = frame.isna()
        if missing.to_numpy().any():
            run = missing.any(axis=1).idxmax()
            task = missing.columns[missing.loc[run].to_numpy()][0][len(ACC) :]
            raise OvertrainError(f"{self.source}: run {run!r} has no accuracy for task {task!r}")
        return frame.set_axis(list(task_set.tasks), axis=1)

    def error(self, tasks: str | Sequence[str] | TaskSet) -> pd.Series:
        """Average top-1 error over a task set: mean over tasks of (1 - accuracy)."""
        return average_error(self.accuracy(tasks)).rename(f"error:{self.task_set(tasks).name}")

    # -- selection ------------------------------------------------------------------------------------------
    def _subset(self, mask: np.ndarray | pd.Series) -> RunTable:
        return RunTable(self.frame[np.asarray(mask, dtype=bool)], self.tasks, self.source)

    def where(self, **equals: object) -> RunTable:
        """Runs whose columns equal the given values, e.g. `where(family="rpj", multiplier=20)`."""
        mask = np.ones(len(self), dtype=bool)
        for column, value in equals.items():
            if column not in self.frame.columns:
                raise OvertrainError(f"unknown column {column!r}")
            series = self.frame[column]
            if pd.api.types.is_numeric_dtype(series):
                mask &= np.isclose(series.to_numpy(dtype=float), float(value), rtol=1e-9, atol=0.0)  # type: ignore[arg-type]
            else:
                mask &= (series == value).to_numpy()
        return self._subset(mask)

    def family(self, name: str) -> RunTable:
        """The runs of one training distribution."""
        if name not in self.families:
            raise OvertrainError(f"{self.source}: no runs of family {name!r} (families: {', '.join(self.families)})")
        return self.where(family=name)

    def select(self, spec: str | FitSet) -> RunTable:
        """Runs selected by a fit-set preset name or a filter expression."""
        return self._subset(resolve_fit_set(spec).mask(self.frame))

    def complete(self, split: str, tasks: str | Sequence[str] | TaskSet | None = None) -> RunTable:
        """The runs that have a loss on `split` (and, if given, an accuracy for every task of `tasks`)."""
        columns = [LOSS + split] if LOSS + split in self.frame.columns else []
        if not columns:
            self.loss(split)  # raises: unknown split
        if tasks is not None:
            columns += [ACC + t for t in self.task_set(tasks).tasks]
        return self._subset(self.frame[columns].notna().all(axis=1).to_numpy())

    def drop(self, runs: Iterable[str]) -> RunTable:
        """The table without the named runs."""
        return self._subset(~self.frame.index.isin(list(runs)))

    def sorted_by(self, column: str = "flops") -> RunTable:
        """The same runs ordered by a column (cheapest first for flops)."""
        return RunTable(self.frame.sort_values(column, kind="stable"), self.tasks, self.source)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table with `run` as a column."""
        return self.frame.reset_index()

    def __repr__(self) -> str:
        return (
            f"RunTable({len(self)} runs, families={self.families}, {len(self.splits)} loss splits, "
            f"{len(self.task_names)} tasks, source={self.source!r})"
        )


def _numeric(
    series: pd.Series, column: str, source: str, problems: list[str], *, positive: bool, required: bool = False,
    unit: bool = False,
) -> pd.Series:
    """`series` as float; each bad value adds a problem naming the file, run, column and value."""
    values = pd.to_numeric(series, errors="coerce").astype(float)
    number = values.to_numpy()
    blank = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    with np.errstate(invalid="ignore"):
        checks = [
            (np.isnan(number) & blank & required, lambda raw, value: "is missing"),
            (np.isnan(number) & ~blank, lambda raw, value: f"= {raw!r} is not a number"),
            (np.isinf(number), lambda raw, value: f"= {value!r} is not finite"),
            (np.isfinite(number) & positive & (number <= 0), lambda raw, value: f"= {value!r} is not positive"),
            (np.isfinite(number) & unit & ((number < 0) | (number > 1)),
             lambda raw, value: f"= {value!r} is outside [0, 1]"),
        ]
    for i in np.flatnonzero(np.any([mask for mask, _ in checks], axis=0)):
        describe = next(say for mask, say in checks if mask[i])
        problems.append(f"{source}: run {series.index[i]!r}: {column} {describe(series.iloc[i], float(number[i]))}")
    return values
