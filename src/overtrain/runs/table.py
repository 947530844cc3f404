"""The run table: one row per training run, with every derived quantity computed in one place.

Columns of `RunTable.frame` (index: run id):

- `family` (training distribution; runs of different families are never fitted together), `shape`;
- `params` N (total parameters, embeddings included), `tokens` D;
- `multiplier` M = D / N unless the source states it, `flops` C = 6 N D unless the source states it;
- `loss:<split>` with optional `loss_lower95:<split>` / `loss_upper95:<split>` bounds;
- `acc:<task>`, top-1 accuracy in [0, 1];
- `taskloss:<task>`, optional, a per-task loss (e.g. the loss of the correct answer), positive: the first step of
  a two-step error forecast (Bhagia et al., 2024).

Intermediate checkpoints are not runs: a row with a `checkpoint_of` run id, or, where a `step` column repeats a run
id, every row of that run but its last step, is kept apart (`RunTable.checkpoints`). A checkpoint's loss sits above
a finished run's at the same tokens (its learning rate has not decayed), so it never enters a loss law; its loss
and accuracies do hold the loss-to-error relation, which error laws of the loss alone may learn from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import InputProblems, OvertrainError
from overtrain.quantities import Quantity
from overtrain.runs.fitsets import FitSet, resolve_fit_set
from overtrain.runs.tasks import TaskSet, empty_task_table, resolve_task_set
from overtrain.sizes import size_number

LOSS = "loss:"
LOSS_LOWER = "loss_lower95:"
LOSS_UPPER = "loss_upper95:"
ACC = "acc:"
TASKLOSS = "taskloss:"
ID_COLUMNS = ("family", "shape")
CHECKPOINT_OF = "checkpoint_of"
STEP = "step"
SIZE_COLUMNS = ("params", "tokens", "multiplier", "flops")
DEFAULT_FAMILY = "default"


def flops_from(params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray | float:
    """Training compute C = 6 N D (the paper's approximation)."""
    return 6.0 * params * tokens


class _Columns:
    """A run table's source frame as numpy arrays, each converted once and shared by every table selected from it."""

    def __init__(self, frame: pd.DataFrame, notes: tuple[str, ...] = (), checkpoints: RunTable | None = None
                 ) -> None:
        self.frame = frame
        self.notes = notes
        self.checkpoints = checkpoints
        self.names = list(frame.columns)
        self.known = set(self.names)
        self.index = frame.index.to_numpy(dtype=object)
        self.task_sets: dict[object, TaskSet] = {}
        self._arrays: dict[object, Any] = {}

    def column(self, name: str) -> np.ndarray:
        """One column: float for numeric columns, object otherwise."""
        if name not in self._arrays:
            series = self.frame[name]
            numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            self._arrays[name] = series.to_numpy(dtype=float if numeric else object)
        return self._arrays[name]

    def task_column(self, tasks: pd.DataFrame, name: str) -> dict[str, float]:
        """A numeric column of a task-metadata table by task (NaN where not a number), read once per table."""
        key = ("tasks", id(tasks), name)
        if key not in self._arrays or self._arrays[key][0] is not tasks:
            values = pd.to_numeric(tasks[name], errors="coerce") if name in tasks.columns else pd.Series(dtype=float)
            self._arrays[key] = (tasks, dict(zip(map(str, values.index), values.to_numpy(dtype=float), strict=True)))
        return self._arrays[key][1]

    def block(self, names: tuple[str, ...]) -> np.ndarray:
        """Several float columns as one (columns, runs) array, laid out as pandas keeps a block."""
        key = ("block", names)
        if key not in self._arrays:
            self._arrays[key] = np.ascontiguousarray(np.array([self.column(n) for n in names], dtype=float))
        return self._arrays[key]


class ColumnView:
    """The columns of a run table by name, as numpy arrays (what filters and fit sets read)."""

    def __init__(self, table: RunTable) -> None:
        self._table = table

    @property
    def columns(self) -> list[str]:
        return self._table._store.names

    def __getitem__(self, name: str) -> np.ndarray:
        return self._table.column(name)

    def __len__(self) -> int:
        return len(self._table)


class RunTable:
    """An immutable, validated table of training runs.

    Build one with `RunTable.from_frame` (readers do); select with `where`, `select`, `family`. A selection is a
    view: it keeps the rows it holds and reads the columns of its source as numpy arrays converted once, so
    selecting runs and averaging errors cost microseconds; `frame` (pandas) is built only when asked for.
    """

    __slots__ = ("_cache", "_frame", "_rows", "_store", "source", "tasks")

    def __init__(self, frame: pd.DataFrame, tasks: pd.DataFrame | None = None, source: str = "<memory>",
                 notes: tuple[str, ...] = (), checkpoints: pd.DataFrame | None = None) -> None:
        tasks = empty_task_table() if tasks is None else tasks
        held = None if checkpoints is None or not len(checkpoints) else RunTable(checkpoints, tasks, source)
        self._init(_Columns(frame, tuple(notes), held), None, frame, tasks, source)

    def _init(self, store: _Columns, rows: np.ndarray | None, frame: pd.DataFrame | None, tasks: pd.DataFrame,
              source: str) -> None:
        for name, value in (("_store", store), ("_rows", rows), ("_frame", frame), ("_cache", {}),
                            ("tasks", tasks), ("source", source)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RunTable is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple:
        """Pickled (and copied) as the runs it holds."""
        held = self.checkpoints
        return RunTable, (self.frame, self.tasks, self.source, self.notes, None if held is None else held.frame)

    def _view(self, rows: np.ndarray) -> RunTable:
        """The runs at positions `rows` of this table."""
        table = object.__new__(RunTable)
        base = rows if self._rows is None else self._rows[rows]
        table._init(self._store, np.asarray(base, dtype=np.intp), None, self.tasks, self.source)
        return table

    def with_tasks(self, tasks: pd.DataFrame, source: str | None = None) -> RunTable:
        """The same runs with another task-metadata table (and source name)."""
        table = object.__new__(RunTable)
        table._init(self._store, self._rows, self._frame, tasks, self.source if source is None else source)
        return table

    @property
    def checkpoints(self) -> RunTable | None:
        """The intermediate checkpoints of this table's runs (column `checkpoint_of` names each one's run), or
        None; they are never runs of the table (see the module docstring)."""
        held = self._store.checkpoints
        if held is None:
            return None
        if "checkpoints" not in self._cache:
            mine = held.subset(np.isin(held.column(CHECKPOINT_OF), self._ids()))
            self._cache["checkpoints"] = mine if len(mine) else None
        return self._cache["checkpoints"]

    @property
    def notes(self) -> tuple[str, ...]:
        """What the reader had to decide for you (e.g. which of two results files of a run it kept)."""
        return self._store.notes

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, tasks: pd.DataFrame | None = None, source: str = "<memory>",
        notes: tuple[str, ...] = (),
    ) -> RunTable:
        """Validate a frame with a `run` column (or run-id index) and derive M and C where absent.

        A frame with no rows is refused (nothing to fit or show); every other problem is collected, and if there
        are any, InputProblems is raised with all of them.
        """
        frame = frame.copy()
        if "run" in frame.columns:
            frame = frame.set_index("run")
        frame.index = frame.index.map(str)
        frame.index.name = "run"
        for required in ("params", "tokens"):
            if required not in frame.columns:
                raise OvertrainError(f"{source}: missing required column {required!r}")
        if not len(frame):
            raise OvertrainError(f"{source}: no runs (a header and no rows)")
        frame, of = _checkpoint_rows(frame, source)
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
        notes = (*notes, *implausible(frame, source))
        checkpoints = _checked_checkpoints(frame, of, source)
        return cls(frame[of.isna().to_numpy()].drop(columns=[CHECKPOINT_OF], errors="ignore"),
                   empty_task_table() if tasks is None else tasks, source, notes, checkpoints)

    # -- what is in it --------------------------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """The runs as a pandas frame (index: run id), built on first use."""
        if self._frame is None:
            object.__setattr__(self, "_frame", self._store.frame.iloc[self._rows])
        return self._frame

    def column(self, name: str) -> np.ndarray:
        """One column of every run as a numpy array (float for numeric columns); read-only."""
        if name not in self._cache:
            if name not in self._store.known:
                raise OvertrainError(f"{self.source}: no column {name!r}")
            values = self._store.column(name)
            values = values if self._rows is None else values[self._rows]
            values = values.view()
            values.flags.writeable = False
            self._cache[name] = values
        return self._cache[name]

    @property
    def columns(self) -> ColumnView:
        """Every column by name, as numpy arrays."""
        return ColumnView(self)

    def __len__(self) -> int:
        return len(self._store.index) if self._rows is None else len(self._rows)

    def _ids(self) -> np.ndarray:
        """The run ids of this table's rows (object array)."""
        return self._store.index if self._rows is None else self._store.index[self._rows]

    @property
    def runs(self) -> list[str]:
        return list(self._ids())

    @property
    def families(self) -> list[str]:
        return sorted(set(self.column("family")))

    @property
    def splits(self) -> list[str]:
        return [c[len(LOSS) :] for c in self._store.names if c.startswith(LOSS)]

    def default_split(self) -> str:
        """The loss split to fit when none is named: the only one, else `default`, else the paper's `c4_val`."""
        splits = self.splits
        if not splits:
            unread = next((note for note in self.notes if UNREAD in note), "")
            raise OvertrainError(f"{self.source}: no loss columns (loss:<split>) to fit a loss law to"
                                 + (f"; {unread}" if unread else ""))
        if len(splits) == 1:
            return splits[0]
        for preferred in ("default", "c4_val"):
            if preferred in splits:
                return preferred
        raise OvertrainError(f"{self.source}: several loss splits ({', '.join(splits)}); choose one with --loss-split")

    @property
    def task_names(self) -> list[str]:
        return [c[len(ACC) :] for c in self._store.names if c.startswith(ACC)]

    @property
    def task_loss_names(self) -> list[str]:
        """The tasks with a per-task loss column (`taskloss:<task>`)."""
        return [c[len(TASKLOSS) :] for c in self._store.names if c.startswith(TASKLOSS)]

    @property
    def index(self) -> pd.Index:
        """The run ids as a pandas index."""
        if "index" not in self._cache:
            self._cache["index"] = pd.Index(self._ids(), dtype=object, name="run")
        return self._cache["index"]

    def _series(self, values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(np.array(values), index=self.index, name=name)

    def task_loss(self, task: str) -> pd.Series:
        """The per-task loss of every run on `task` (NaN where a run has none)."""
        if TASKLOSS + task not in self._store.known:
            raise OvertrainError(f"{self.source}: no task loss for {task!r} (column {TASKLOSS + task})")
        return self._series(self.column(TASKLOSS + task), task)

    @property
    def params(self) -> np.ndarray:
        return self.column("params").copy()

    @property
    def tokens(self) -> np.ndarray:
        return self.column("tokens").copy()

    @property
    def multiplier(self) -> np.ndarray:
        return self.column("multiplier").copy()

    @property
    def flops(self) -> np.ndarray:
        return self.column("flops").copy()

    @property
    def total_flops(self) -> float:
        """Sum of the training compute of all runs in the table."""
        return float(self.column("flops").sum())

    def loss_values(self, split: str) -> np.ndarray:
        """The loss of every run on `split` as a read-only array; every run must have it."""
        column = LOSS + split
        if column not in self._store.known:
            raise OvertrainError(
                f"{self.source}: no loss split {split!r} (splits: {', '.join(self.splits) or 'none'})"
            )
        values = self.column(column)
        missing = np.isnan(values)
        if missing.any():
            raise OvertrainError(f"{self.source}: run {self.runs[int(np.argmax(missing))]!r} has no loss on split "
                                 f"{split!r}")
        return values

    def loss(self, split: str) -> pd.Series:
        """The loss of every run on `split`; every run must have it."""
        return self._series(self.loss_values(split), split)

    def loss_bounds(self, split: str) -> pd.DataFrame | None:
        """The 95% bounds of the loss on `split`, when the source carries them."""
        lower, upper = LOSS_LOWER + split, LOSS_UPPER + split
        if lower not in self._store.known or upper not in self._store.known:
            return None
        return pd.DataFrame({"lower95": self.column(lower), "upper95": self.column(upper)},
                            index=self.index)

    def loss_noise(self, split: str) -> np.ndarray:
        """Measurement standard deviation of each run's loss on `split`, from its 95% bounds:
        (upper - lower) / (2 x 1.96); 0 where the source gives no bounds."""
        lower, upper = LOSS_LOWER + split, LOSS_UPPER + split
        if lower not in self._store.known or upper not in self._store.known:
            return np.zeros(len(self))
        sigma = (self.column(upper) - self.column(lower)) / (2 * 1.959964)
        return np.where(np.isfinite(sigma) & (sigma > 0), sigma, 0.0)

    def error_noise(self, tasks: str | Sequence[str] | TaskSet) -> np.ndarray:
        """Binomial standard deviation of each run's average error over a task set:
        sqrt(sum_t a_t (1 - a_t) / n_t) / T, with n_t the task's number of examples (tasks without it add 0)."""
        task_set = self.task_set(tasks)
        accuracy = self.accuracy_values(task_set)
        variance = accuracy * (1 - accuracy) / self.task_examples(task_set)
        return np.sqrt(np.nansum(variance, axis=1)) / accuracy.shape[1]

    def task_examples(self, tasks: str | Sequence[str] | TaskSet) -> np.ndarray:
        """Each task's number of examples from the task table (NaN where unknown)."""
        task_set = self.task_set(tasks)
        key = ("examples", task_set.tasks)
        if key not in self._cache:
            known = self._store.task_column(self.tasks, "n_examples")
            self._cache[key] = np.array([known.get(t, np.nan) for t in task_set.tasks], dtype=float)
        return self._cache[key]

    def task_set(self, spec: str | Sequence[str] | TaskSet) -> TaskSet:
        """Resolve a task-set spec against the tasks these runs carry."""
        if isinstance(spec, TaskSet) and all(ACC + t in self._store.known for t in spec.tasks):
            return spec
        key = ("task set", spec if isinstance(spec, str | TaskSet) else tuple(spec))
        if key not in self._store.task_sets:
            self._store.task_sets[key] = resolve_task_set(spec, self.task_names)
        return self._store.task_sets[key]

    def _accuracy_block(self, task_set: TaskSet) -> np.ndarray:
        """Top-1 accuracy as (tasks, runs); every run must have every task."""
        key = ("accuracy", task_set.tasks)
        if key not in self._cache:
            block = self._store.block(tuple(ACC + t for t in task_set.tasks))
            block = block if self._rows is None else block[:, self._rows]
            missing = np.isnan(block)
            if missing.any():
                task, run = np.argwhere(missing)[np.argmin(np.argwhere(missing)[:, 1])]
                raise OvertrainError(f"{self.source}: run {self.runs[run]!r} has no accuracy for task "
                                     f"{task_set.tasks[task]!r}")
            block = block.view()
            block.flags.writeable = False
            self._cache[key] = block
        return self._cache[key]

    def accuracy_values(self, tasks: str | Sequence[str] | TaskSet) -> np.ndarray:
        """Top-1 accuracy per run (rows) and task (columns) as a read-only array; every run must have every task."""
        return self._accuracy_block(self.task_set(tasks)).T

    def accuracy(self, tasks: str | Sequence[str] | TaskSet) -> pd.DataFrame:
        """Top-1 accuracy per run (rows) and task (columns); every run must have every task."""
        task_set = self.task_set(tasks)
        return pd.DataFrame(np.array(self.accuracy_values(task_set)), index=self.index, columns=list(task_set.tasks))

    def error_values(self, tasks: str | Sequence[str] | TaskSet) -> np.ndarray:
        """Average top-1 error over a task set, mean over tasks of (1 - accuracy), as a read-only array."""
        task_set = self.task_set(tasks)
        key = ("error", task_set.tasks)
        if key not in self._cache:
            block = self._accuracy_block(task_set)
            values = (1.0 - block).sum(axis=0) / len(task_set)
            values.flags.writeable = False
            self._cache[key] = values
        return self._cache[key]

    def error(self, tasks: str | Sequence[str] | TaskSet) -> pd.Series:
        """Average top-1 error over a task set: mean over tasks of (1 - accuracy)."""
        task_set = self.task_set(tasks)
        return self._series(self.error_values(task_set), f"error:{task_set.name}")

    # -- selection ------------------------------------------------------------------------------------------
    def subset(self, mask: np.ndarray | pd.Series) -> RunTable:
        """The runs where `mask` (one boolean per run) is true."""
        return self._view(np.flatnonzero(np.asarray(mask, dtype=bool)))

    def where(self, **equals: object) -> RunTable:
        """Runs whose columns equal the given values, e.g. `where(family="rpj", multiplier=20)`."""
        mask = np.ones(len(self), dtype=bool)
        for column, value in equals.items():
            if column not in self._store.known:
                raise OvertrainError(f"unknown column {column!r}")
            values = self.column(column)
            if values.dtype == float:
                mask &= np.isclose(values, float(value), rtol=1e-9, atol=0.0)  # type: ignore[arg-type]
            else:
                mask &= values == value
        return self.subset(mask)

    def family(self, name: str) -> RunTable:
        """The runs of one training distribution."""
        key = ("family", name)
        if key not in self._cache:
            if name not in self.families:
                raise OvertrainError(f"{self.source}: no runs of family {name!r} (families: "
                                     f"{', '.join(self.families)})")
            self._cache[key] = self.subset(self.column("family") == name)
        return self._cache[key]

    def select(self, spec: str | FitSet) -> RunTable:
        """Runs selected by a fit-set preset name or a filter expression."""
        key = ("select", spec)
        if key not in self._cache:
            self._cache[key] = self.subset(resolve_fit_set(spec).mask(self.columns))
        return self._cache[key]

    def complete(self, split: str, tasks: str | Sequence[str] | TaskSet | None = None) -> RunTable:
        """The runs that have a loss on `split` (and, if given, an accuracy for every task of `tasks`)."""
        if LOSS + split not in self._store.known:
            self.loss(split)  # raises: unknown split
        names = [LOSS + split]
        if tasks is not None:
            names += [ACC + t for t in self.task_set(tasks).tasks]
        keep = np.ones(len(self), dtype=bool)
        for name in names:
            keep &= ~np.isnan(self.column(name))
        return self if keep.all() else self.subset(keep)

    def drop(self, runs: Iterable[str]) -> RunTable:
        """The table without the named runs."""
        return self.subset(~np.isin(self._ids(), list(runs)))

    def sorted_by(self, column: str = "flops") -> RunTable:
        """The same runs ordered by a column (cheapest first for flops)."""
        return self._view(np.argsort(self.column(column), kind="stable"))

    def describe(self) -> dict[str, Any]:
        """What was read, JSON-ready: the source, each family's run count and ranges of N, D, M and C, the loss
        splits and the tasks."""
        def span(values: np.ndarray) -> list[float]:
            return [float(values.min()), float(values.max())]

        families = []
        for name in self.families:
            part = self.family(name)
            families.append({"family": name, "runs": len(part), "params": span(part.params),
                             "tokens": span(part.tokens), "multiplier": span(part.multiplier),
                             "flops": span(part.flops)})
        held = self.checkpoints
        return {"source": self.source, "runs": len(self), "checkpoints": 0 if held is None else len(held),
                "families": families, "loss_splits": self.splits, "tasks": self.task_names}

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table with `run` as a column."""
        return self.frame.reset_index()

    def __repr__(self) -> str:
        return (
            f"RunTable({len(self)} runs, families={self.families}, {len(self.splits)} loss splits, "
            f"{len(self.task_names)} tasks, source={self.source!r})"
        )


#: Sizes no language model has been trained at (and none is likely to be soon): a value outside is a unit slip.
PLAUSIBLE = {"params": (1e4, 1e14), "tokens": (1e5, 1e16)}
IMPLAUSIBLE = "outside what any model has been trained at"
#: How a reader's note about columns it did not read reads (`readers.table.unread_note`).
UNREAD = "not read"


#: How a refusal of implausible sizes says to acknowledge them, on the command line and in Python.
ACKNOWLEDGE = "if the sizes are right, acknowledge them with --allow-implausible (allow_implausible=True in Python)"


def _implausible_rows(values: np.ndarray, column: str) -> np.ndarray:
    low, high = PLAUSIBLE[column]
    return np.flatnonzero((values < low) | (values > high))


def implausible(frame: pd.DataFrame, source: str) -> list[str]:
    """One note per size column with values no training run has, naming the runs (a unit slip, e.g. 1e30)."""
    notes = []
    for column, (low, high) in PLAUSIBLE.items():
        values = frame[column].to_numpy(dtype=float)
        odd = _implausible_rows(values, column)
        if len(odd):
            shown = ", ".join(f"{frame.index[i]!r} ({values[i]:.3g})" for i in odd[:3])
            notes.append(f"{source}: {column} of {len(odd)} run{'s' * (len(odd) > 1)} {IMPLAUSIBLE} ({low:g} to "
                         f"{high:g}): {shown}{' ...' if len(odd) > 3 else ''}; a unit slip?")
    return notes


def refuse_implausible(runs: RunTable) -> None:
    """Raise, naming the file, the first run and its size, when a run's params or tokens are outside what any model
    has been trained at (`PLAUSIBLE`): a unit slip (50 for 50M) fits and forecasts plausible-looking nonsense."""
    for column, (low, high) in PLAUSIBLE.items():
        values = runs.column(column)
        odd = _implausible_rows(values, column)
        if len(odd):
            more = f" (and {len(odd) - 1} more run{'s' * (len(odd) > 2)})" if len(odd) > 1 else ""
            raise OvertrainError(
                f"{runs.source}: run {runs.runs[odd[0]]!r}: {column} = {values[odd[0]]:.3g} is {IMPLAUSIBLE} "
                f"({low:g} to {high:g}), a unit slip?{more}; {ACKNOWLEDGE}")


def _checkpoint_rows(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.Series]:
    """`frame` with each checkpoint row given an id of its own, and which run each row is a checkpoint of (NaN for
    a run): rows with a `checkpoint_of`, and, where a `step` column repeats a run id, that run's earlier steps
    (ids `<run>@step<step>`)."""
    owners = (frame[CHECKPOINT_OF].map(_run_id) if CHECKPOINT_OF in frame.columns
              else pd.Series(np.nan, index=frame.index)).to_numpy(dtype=object)
    if STEP in frame.columns and frame.index.duplicated().any():
        steps = pd.to_numeric(frame[STEP], errors="coerce").to_numpy(dtype=float)
        repeated = frame.index.duplicated(keep=False)
        if (repeated & np.isnan(steps)).any():
            row = int(np.argmax(repeated & np.isnan(steps)))
            raise OvertrainError(f"{source}: run {frame.index[row]!r} appears more than once but its step "
                                 f"{frame[STEP].iloc[row]!r} is not a number")
        keys = pd.MultiIndex.from_arrays([frame.index, steps])
        if keys.duplicated().any():
            row = int(np.argmax(keys.duplicated()))
            raise OvertrainError(f"{source}: run {frame.index[row]!r} has two rows at step {steps[row]:g}")
        last = pd.Series(steps, index=frame.index).groupby(level=0).transform("max").to_numpy()
        earlier = repeated & (steps < last)
        ids = frame.index.to_numpy(dtype=object).copy()
        owners[earlier] = ids[earlier]
        ids[earlier] = [f"{run}@step{step:g}" for run, step in zip(ids[earlier], steps[earlier], strict=True)]
        frame.index = pd.Index(ids, name="run")
    return frame, pd.Series(owners, index=frame.index, dtype=object)


def _run_id(value: object) -> object:
    """A run id as text, or NaN for an empty cell."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    return text or np.nan


def _checked_checkpoints(frame: pd.DataFrame, of: pd.Series, source: str) -> pd.DataFrame | None:
    """The checkpoint rows of a validated `frame` (with their `checkpoint_of`), each checked against its run:
    the run exists and is no checkpoint itself, the size is the run's, the tokens are at most the run's."""
    held = of.notna().to_numpy()
    if not held.any():
        return None
    checkpoints = frame[held].assign(**{CHECKPOINT_OF: of[held].to_numpy()})
    runs = frame[~held]
    for run, owner in checkpoints[CHECKPOINT_OF].items():
        if owner not in runs.index:
            raise OvertrainError(f"{source}: checkpoint {run!r}: checkpoint_of {owner!r} names no run of the table")
        if not np.isclose(checkpoints.at[run, "params"], runs.at[owner, "params"], rtol=1e-6):
            raise OvertrainError(f"{source}: checkpoint {run!r}: params {checkpoints.at[run, 'params']:g} differs "
                                 f"from its run {owner!r} ({runs.at[owner, 'params']:g})")
        if checkpoints.at[run, "tokens"] > runs.at[owner, "tokens"] * (1 + 1e-9):
            raise OvertrainError(f"{source}: checkpoint {run!r}: tokens {checkpoints.at[run, 'tokens']:g} are more "
                                 f"than its run {owner!r} was trained on ({runs.at[owner, 'tokens']:g})")
    checkpoints["family"] = runs["family"].reindex(checkpoints[CHECKPOINT_OF]).to_numpy()
    return checkpoints


def _numeric(
    series: pd.Series, column: str, source: str, problems: list[str], *, positive: bool, required: bool = False,
    unit: bool = False,
) -> pd.Series:
    """`series` as float (sizes may carry a suffix: 50M, 7B, 2T); each bad value adds a problem naming the file,
    run, column and value."""
    values = pd.to_numeric(series, errors="coerce").astype(float)
    if column in SIZE_COLUMNS and not pd.api.types.is_numeric_dtype(series):
        suffixed = values.isna() & series.notna()
        if suffixed.any():
            values[suffixed] = [np.nan if (number := size_number(v)) is None else number for v in series[suffixed]]
    number = values.to_numpy()
    blank = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    with np.errstate(invalid="ignore"):
        checks = [
            (np.isnan(number) & blank & required, lambda raw, value: "is missing"),
            (np.isnan(number) & ~blank, lambda raw, value: f"= {raw!r} is not a number"),
            (np.isinf(number), lambda raw, value: f"= {value!r} is not finite"),
            (np.isfinite(number) & positive & (number <= 0), lambda raw, value: f"= {value!r} is not positive"),
            (np.isfinite(number) & unit & ((number < 0) | (number > 1)),
             lambda raw, value: f"= {value!r} is outside [0, 1]" + (
                 f" (it looks like a percentage: write {value / 100:.4g})" if 1 < value <= 100 else "")),
        ]
    for i in np.flatnonzero(np.any([mask for mask, _ in checks], axis=0)):
        describe = next(say for mask, say in checks if mask[i])
        problems.append(f"{source}: run {series.index[i]!r}: {column} {describe(series.iloc[i], float(number[i]))}")
    return values


def measured_values(runs: RunTable, key: str, split: str, task_set: TaskSet | None) -> np.ndarray:
    """Each run's loss on `split` (key `loss`) or average error over `task_set`, NaN where the run lacks it (an
    error needs an accuracy for every task of the set)."""
    if key == Quantity.LOSS:
        return runs.column(LOSS + split).astype(float)
    if task_set is None:
        return np.full(len(runs), np.nan)
    measured = np.ones(len(runs), dtype=bool)
    for task in task_set.tasks:
        measured &= ~np.isnan(runs.column(ACC + task))
    values = np.full(len(runs), np.nan)
    if measured.any():
        values[measured] = runs.subset(measured).error_values(task_set)
    return values


def no_larger(runs: RunTable, params: float, tokens: float) -> np.ndarray:
    """Which runs are no larger than `params` and trained on no more than `tokens` tokens: loss falls with N and with
    D, so each such run's measurement bounds from above what a run of that size and data could measure."""
    return (runs.params <= params * (1 + 1e-9)) & (runs.tokens <= tokens * (1 + 1e-9))
