"""Convert DCLM's released model database into an overtrain testbed (runs.csv, tasks.csv, suite.json, README, LICENSE).

    python tools/convert_dclm.py SOURCE OUT_DIR [--rev REV]

SOURCE is a clone of https://github.com/mlfoundations/dclm: a bare git directory (files are read with
`git show REV:path`) or a checked-out/extracted directory. Read: `assets/DCLM_model_database.csv`,
`eval/eval_meta_data.csv`, `LICENSE` and, if present, `eval/additional_aggregation.json`. Runs offline; needs
numpy, pandas and (for a bare git directory only) the git command. The output is deterministic: rows sorted
by run id, floats written as the shortest text that reads back to the same double.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

DATABASE = "assets/DCLM_model_database.csv"
META = "eval/eval_meta_data.csv"
AGGREGATION = "eval/additional_aggregation.json"
LICENCE = "LICENSE"
REPOSITORY = "https://github.com/mlfoundations/dclm"

LOSS_SPLIT = "openlm_val"
LOSS_COLUMN = f"loss:{LOSS_SPLIT}"
NEOX_TOKENIZERS = ("EleutherAI/gpt-neox-20b", "tokenizers/gpt_neox_tokenizer.json")
#: open_lm configurations whose `eval_metrics.perplexity` is not on the measure the others share (see
#: `_loss_fall`): their losses are withheld, their accuracies kept.
OTHER_LOSS_MEASURE = "_swiglutorch"
SMALL_MODEL = "d=1024_l=24_h=8"
CHINCHILLA = 20  # tokens per parameter of DCLM's "1x" compute scale

# Evaluation-file naming: a prefix naming the evaluation, and a suffix naming the suite (and copies of it).
_FILE_PREFIX = re.compile(r"^(?:evaluation_|alexf_eval_)")
_FILE_SUFFIX = re.compile(r"_heavy(?:_copy\d*|_\d+)?$")

# What a run's name states about its length: `tokens=T`, `mult=M` (0p5 = 0.5), the older `<model>-M.M`
# suffix, or `cxM` / `ccxM` (only used when nothing else is stated; dataset names also contain `ccx100`).
_TOKENS = re.compile(r"(?:^|[-_])tokens=(\d+)")
_MULT = re.compile(r"(?:^|[-_])mult=(\d+(?:p\d+)?)")
_LEGACY = re.compile(r"-(\d+\.\d+)$")
_CX = re.compile(r"(?:^|_)c{1,2}x(\d+)(?=_|$)")

# The DCLM-7B ("hero") run: its row carries the planned schedule, not what the evaluated model saw.
PLANNED_TOKENS = {
    "hero-run-1--open_lm_7b_swiglutorch-warm=5000-lr=0p0005-wd=0p2-cd=3e-05-bs=2048-mult=30-seed=124"
    "-tokens=4133646336000": "planned 4.13T tokens (mult=30); the released DCLM-7B saw about 2.5T tokens "
    "before its cooldown (2.6T in all, per DCLM's README), and the evaluated checkpoint's count is not recorded",
}


@dataclass(frozen=True)
class DropRule:
    """A reason to leave a database row out, tested in order; a row counts under the first rule it meets."""

    key: str
    text: str
    test: Callable[[pd.Series], bool]


def _name_has(pattern: str) -> Callable[[pd.Series], bool]:
    regex = re.compile(pattern, re.IGNORECASE)
    return lambda row: bool(regex.search(row["source_file"]))


def _planned(row: pd.Series) -> bool:
    return row["stem"] in PLANNED_TOKENS


def _contradicts(row: pd.Series) -> bool:
    return stated_length_conflict(row["stem"], int(row["params"]), int(row["tokens"])) is not None


DROP_RULES = (
    DropRule("cooldown", "cooldown, continued or resumed training (a second schedule on top of a finished run: "
             "`_continued`, `_resumed-from-Cx1-pretrained`)", _name_has(r"cooldown|continued|resumed")),
    DropRule("averaged", "checkpoint averages (`avg=poly_64_avgckpt`: one run's weights averaged over its last "
             "checkpoints, an evaluation of that run, not the end of a schedule)", _name_has(r"avgckpt")),
    DropRule("instruction", "instruction-tuned models (`_oh_ft`: fine-tuned on OpenHermes after pre-training)",
             _name_has(r"(?:^|_)oh_ft(?:_|\.|$)")),
    DropRule("epoch", "per-epoch checkpoints (`epoch6`, `epoch_12`): intermediate, not the end of a schedule",
             _name_has(r"epoch_?\d+")),
    DropRule("variance", "variance-test reruns (`float32_nolpln ... variance_tests`): open_lm_val loss 3.32-3.34 "
             "against 2.54 for the same configuration, and no downstream scores", _name_has(r"variance_tests")),
    DropRule("planned", "the DCLM-7B row whose tokens are the plan, not what the model saw", _planned),
    DropRule("contradiction", "rows whose tokens contradict the multiplier (or token count) stated in their name",
             _contradicts),
)


# -- reading the source ------------------------------------------------------------------------------------
@dataclass
class Source:
    """A DCLM checkout: a bare git directory read at one revision, or a plain directory."""

    root: Path
    rev: str = "HEAD"
    bare: bool = False
    commit: str | None = None
    digests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path, rev: str, commit: str | None = None) -> Source:
        """Recognise the layout of `root`; its commit is `commit` if given, else what git says, else unknown."""
        root = root.resolve()
        if (root / DATABASE).is_file():
            source = cls(root, rev, commit=commit)
            if commit is None and (root / ".git").exists():
                found = _git(["-C", str(root), "rev-parse", "--verify", "HEAD^{commit}"], check=False)
                source.commit = found.strip() if found else None
            return source
        if (root / "HEAD").is_file() and (root / "objects").is_dir():
            source = cls(root, rev, bare=True)
            source.commit = str(_git(["--git-dir", str(root), "rev-parse", "--verify", f"{rev}^{{commit}}"])).strip()
            if commit is not None and not source.commit.startswith(commit):
                raise SystemExit(f"{root}: {rev} is commit {source.commit}, not {commit}")
            return source
        raise SystemExit(f"{root}: neither a DCLM checkout (no {DATABASE}) nor a bare git directory")

    def read(self, path: str, required: bool = True) -> str | None:
        """The text of one file of the source, or None if it is absent and not required."""
        if self.bare:
            text = _git(["--git-dir", str(self.root), "show", f"{self.commit}:{path}"], check=required)
        else:
            file = self.root / path
            text = file.read_text(encoding="utf-8") if file.is_file() else None
        if text is None:
            if required:
                raise SystemExit(f"{self.root}: missing {path}")
            return None
        self.digests[path] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return text


def _git(args: list[str], check: bool = True) -> str | None:
    """Run git and return its output; None on failure unless `check` (then exit with git's message)."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        if check:
            raise SystemExit("reading a bare git directory needs the git command") from None
        return None
    if done.returncode != 0:
        if check:
            raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
        return None
    return done.stdout


# -- naming and sizes ----------------------------------------------------------------------------------------
def file_stem(model_json: str) -> str:
    """The run part of an evaluation file name: no directory, `.json`, evaluation prefix or suite suffix."""
    stem = model_json.rsplit("/", 1)[-1]
    stem = stem[: -len(".json")] if stem.endswith(".json") else stem
    return _FILE_SUFFIX.sub("", _FILE_PREFIX.sub("", stem))


def stated_length_conflict(stem: str, params: int, tokens: int) -> str | None:
    """Why the token count contradicts what the run name states, or None if it agrees (or nothing is stated)."""
    stated_tokens = [int(t) for t in _TOKENS.findall(stem)]
    mults = [float(m.replace("p", ".")) for m in _MULT.findall(stem)]
    legacy = _LEGACY.search(stem)
    if legacy:
        mults.append(float(legacy.group(1)))
    if not mults and not stated_tokens:
        mults = [float(m) for m in _CX.findall(stem)[-1:]]
    for value in stated_tokens:
        if value != tokens:
            return f"name says tokens={value}, database says {tokens}"
    for mult in mults:
        if not math.isclose(CHINCHILLA * params * mult, tokens, rel_tol=1e-9):
            return f"name says {mult:g}x ({CHINCHILLA * params * mult:.4g} tokens), database says {tokens}"
    return None


def shortest(value: float) -> str:
    """A float as the shortest text that reads back to the same double (Python's repr); blank for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


# -- the conversion --------------------------------------------------------------------------------------
@dataclass
class Conversion:
    """Everything the output files are made of, with the bookkeeping the README reports."""

    runs: pd.DataFrame
    tasks: pd.DataFrame
    dropped: dict[str, list[str]]
    merged: list[list[str]]
    database_rows: int
    loss_withheld: dict[str, int]
    conflicts: list[str]
    sizes: dict[str, tuple[int, int]]
    other_measure: int = 0
    loss_fall: dict[str, list[float]] = field(default_factory=dict)
    loss_above: list[float] = field(default_factory=list)


def task_table(meta: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`task, chance, n_examples` for the database's task columns, from DCLM's evaluation metadata.

    gsm8k, agi_eval_sat_math, aqua and svamp have no row of their own: their CoT variants (same dataset file,
    both free-response, chance 0) supply it.
    """
    meta = meta.set_index("Eval Task")
    rows = []
    for task in columns:
        entry = task if task in meta.index else f"{task}_cot"
        chance = float(Decimal(str(meta.loc[entry, "Random baseline"]).strip()) / 100)
        rows.append({"task": task, "chance": chance, "n_examples": int(meta.loc[entry, "#datapoints"])})
    return pd.DataFrame(rows)


def task_columns(database: pd.DataFrame, meta: pd.DataFrame) -> list[str]:
    """Database columns that are accuracies of a task DCLM documents (directly or through its CoT variant)."""
    known = set(meta["Eval Task"])
    return [c for c in database.columns if c in known or f"{c}_cot" in known]


def convert(database: pd.DataFrame, meta: pd.DataFrame) -> Conversion:
    """Apply the drop rules, merge duplicate evaluations and build the runs and task tables."""
    tasks = task_columns(database, meta)
    frame = database.copy()
    frame["source_file"] = frame["Model JSON"].astype(str)
    frame["stem"] = frame["source_file"].map(file_stem)
    frame["params"] = frame["params"].map(lambda v: int(float(v)))
    frame["tokens"] = frame["tokens"].map(lambda v: int(float(v)))
    frame["run"] = frame["stem"] + "|" + frame["model"].astype(str)

    database_runs = frame[["run", "params", "tokens"]]
    dropped: dict[str, list[str]] = {rule.key: [] for rule in DROP_RULES}
    keep = []
    for index, row in frame.iterrows():
        rule = next((r for r in DROP_RULES if r.test(row)), None)
        if rule is None:
            keep.append(index)
        else:
            dropped[rule.key].append(row["run"])
    frame = frame.loc[keep]

    numeric = [*tasks, "eval_metrics.perplexity"]
    for column in numeric:
        frame[column] = frame[column].map(lambda v: float(v) if isinstance(v, str) and v.strip() else np.nan)
    groups = _duplicate_groups(frame)
    rows, merged, conflicts = [], [], []
    for members in groups:
        block = frame.loc[members].sort_values("creation_date", ascending=False, kind="stable")
        first = block.iloc[0].copy()
        if len(block) > 1:
            merged.append(sorted(block["source_file"]))
            for column in numeric:
                values = block[column].dropna().to_numpy()
                if len(values) and np.ptp(values) > 1e-6:
                    conflicts.append(f"{first['run']}: {column} differs between evaluations {sorted(values)}")
                first[column] = values[0] if len(values) else np.nan
            for column in ("tokenizer", "Dataset"):
                if block[column].nunique(dropna=True) > 1:
                    conflicts.append(f"{first['run']}: {column} differs between evaluations")
                first[column] = block[column].dropna().iloc[0] if block[column].notna().any() else np.nan
        rows.append(first)
    kept = pd.DataFrame(rows)

    neox = kept["tokenizer"].isin(NEOX_TOKENIZERS)
    has_loss = kept["eval_metrics.perplexity"].notna()
    withheld = kept.loc[has_loss & ~neox, "tokenizer"].fillna("(not recorded)").value_counts()
    fall = _loss_fall(kept[neox & has_loss])
    above = _loss_above(kept[neox & has_loss])
    other = kept["model"].astype(str).str.endswith(OTHER_LOSS_MEASURE)
    other_measure = int((other & neox & has_loss).sum())
    neox = neox & ~other
    runs = pd.DataFrame({
        "run": kept["run"].to_numpy(),
        "family": kept["Dataset"].astype(str).to_numpy(),
        "params": kept["params"].to_numpy(),
        "tokens": kept["tokens"].to_numpy(),
    })
    runs["multiplier"] = runs["tokens"] / runs["params"]
    runs[LOSS_COLUMN] = np.where(neox, kept["eval_metrics.perplexity"], np.nan)
    for task in tasks:
        runs[f"acc:{task}"] = kept[task].to_numpy(dtype=float)
    runs = runs.sort_values("run", kind="stable").reset_index(drop=True)
    _validate(runs)
    sizes = {run: (int(n), int(d)) for run, n, d in zip(database_runs["run"], database_runs["params"],
                                                        database_runs["tokens"], strict=True)}
    return Conversion(runs, task_table(meta, tasks), dropped, sorted(merged), len(database),
                      {str(k): int(v) for k, v in withheld.items()}, conflicts, sizes, other_measure, fall,
                      above)


def _loss_above(kept: pd.DataFrame) -> list[float]:
    """How far `*_swiglutorch` losses sit above the other configurations' at one recipe, N and D: the mean of one
    minus the mean of the other, per (recipe, N, D) that has both."""
    other = kept["model"].astype(str).str.endswith(OTHER_LOSS_MEASURE)
    gaps = []
    for _, block in kept.groupby(["Dataset", "params", "tokens"], sort=True):
        mask = other[block.index]
        if mask.any() and (~mask).any():
            losses = block["eval_metrics.perplexity"]
            gaps.append(float(losses[mask].mean() - losses[~mask].mean()))
    return gaps


def _loss_fall(kept: pd.DataFrame) -> dict[str, list[float]]:
    """How far one recipe's loss falls from its 0.41B run to its 1.4B runs at 1x, per 1.4B configuration: the
    evidence that `*_swiglutorch` losses are another measure (they barely fall over 28x the compute, while the same
    recipes' downstream errors fall as much as with `open_lm_1b`)."""
    small = kept[(kept["model"] == SMALL_MODEL) & (kept["tokens"] / kept["params"] < 21)]
    large = kept[kept["model"].astype(str).str.startswith("open_lm_1b") & (kept["tokens"] / kept["params"] < 21)]
    base = small.groupby("Dataset")["eval_metrics.perplexity"].mean()
    fall: dict[str, list[float]] = {}
    for (model, dataset), block in large.groupby(["model", "Dataset"], sort=True):
        if dataset in base.index:
            fall.setdefault(str(model), []).append(float(base[dataset] - block["eval_metrics.perplexity"].mean()))
    return fall


def _duplicate_groups(frame: pd.DataFrame) -> list[list[object]]:
    """Rows that are evaluations of one model: the same run id, or the same model_uuid (union of both)."""
    parent = {index: index for index in frame.index}

    def find(i: object) -> object:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key in ("run", "model_uuid"):
        for _, members in frame.groupby(key, sort=True, dropna=True):
            for other in members.index[1:]:
                parent[find(other)] = find(members.index[0])
    groups: dict[object, list[object]] = {}
    for index in frame.index:
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


def _validate(runs: pd.DataFrame) -> None:
    problems = []
    if runs["run"].duplicated().any():
        problems.append(f"duplicate run ids: {sorted(runs.loc[runs['run'].duplicated(), 'run'])}")
    if (runs[["params", "tokens"]] <= 0).any().any():
        problems.append("non-positive params or tokens")
    acc = runs[[c for c in runs.columns if c.startswith("acc:")]]
    if ((acc < 0) | (acc > 1)).any().any():
        problems.append("an accuracy outside [0, 1]")
    if acc.notna().sum(axis=1).eq(0).any():
        problems.append(f"runs without any accuracy: {list(runs.loc[acc.notna().sum(axis=1).eq(0), 'run'])}")
    loss = runs[LOSS_COLUMN].dropna()
    if ((loss <= 0) | (loss > 10)).any():
        problems.append("a loss outside (0, 10]")
    if problems:
        raise SystemExit("conversion failed: " + "; ".join(problems))


# -- the benchmark suite -------------------------------------------------------------------------------------
# Filters in overtrain's language; N = params, M = multiplier = D/N (tokens per parameter, 20 x DCLM's "Nx").
Clauses = tuple[tuple[tuple[str, str, str], ...], ...]
TARGETS: Clauses = ((("N", ">=", "6e9"),), (("N", ">=", "1e9"), ("N", "<", "2e9"), ("M", ">=", "700")))
FIT: Clauses = ((("N", "<", "2e9"), ("M", "<", "700")),)
_COLUMN = {"N": "params", "D": "tokens", "M": "multiplier"}
_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
MIN_FIT_POINTS = 3
MIN_FIT_SIZES = 2


def filter_text(clauses: Clauses) -> str:
    """Render clauses of (column, op, value) as overtrain filter text."""
    return " | ".join(",".join(f"{c}{op}{v}" for c, op, v in clause) for clause in clauses)


def filter_mask(runs: pd.DataFrame, clauses: Clauses) -> np.ndarray:
    """Evaluate the clauses (an OR of ANDs) on the runs table."""
    mask = np.zeros(len(runs), dtype=bool)
    for clause in clauses:
        part = np.ones(len(runs), dtype=bool)
        for column, op, value in clause:
            part &= _OPS[op](runs[_COLUMN[column]].to_numpy(dtype=float), float(value))
        mask |= part
    return mask


@dataclass
class Suite:
    """The suite and the per-family facts that chose its families and tasks."""

    families: list[str]
    tasks: list[str]
    table: pd.DataFrame
    fit: np.ndarray
    targets: np.ndarray


def choose_suite(runs: pd.DataFrame) -> Suite:
    """Families with a target and at least 3 fit (N, D) points over 2 sizes; tasks scored for all their runs."""
    fit, targets = filter_mask(runs, FIT), filter_mask(runs, TARGETS)
    if (fit & targets).any() or not (fit | targets).all():
        raise SystemExit("suite filters must split the runs into fit and targets")
    rows = []
    for family, block in runs.groupby("family", sort=True):
        in_fit, in_targets = fit[block.index], targets[block.index]
        fit_block, target_block = block[in_fit], block[in_targets]
        rows.append({
            "family": family,
            "fit_runs": len(fit_block),
            "fit_points": len(fit_block[["params", "tokens"]].drop_duplicates()),
            "fit_sizes": fit_block["params"].nunique(),
            "fit_points_with_loss": len(fit_block.dropna(subset=[LOSS_COLUMN])[["params", "tokens"]]
                                        .drop_duplicates()),
            "targets": len(target_block),
            "targets_with_loss": int(target_block[LOSS_COLUMN].notna().sum()),
        })
    table = pd.DataFrame(rows)
    chosen = table[(table["targets"] > 0) & (table["fit_points"] >= MIN_FIT_POINTS)
                   & (table["fit_sizes"] >= MIN_FIT_SIZES)]
    families = sorted(chosen["family"])
    members = runs[runs["family"].isin(families)]
    acc = [c for c in runs.columns if c.startswith("acc:")]
    tasks = [c[len("acc:") :] for c in acc if members[c].notna().all()]
    return Suite(families, tasks, chosen.reset_index(drop=True), fit, targets)


def suite_document(runs: pd.DataFrame, suite: Suite, core: list[str] | None) -> dict:
    """suite.json's content."""
    members = runs[runs["family"].isin(suite.families)]
    n_fit = int(suite.fit[members.index].sum())
    n_targets = int(suite.targets[members.index].sum())
    same = bool(core) and sorted(core) == sorted(suite.tasks)
    core_note = f" They are exactly DCLM's {len(suite.tasks)} CORE (low-variance) tasks." if same else ""
    notes = (
        "The suite pools the five families into one (`pooled_families`, `families` null): with 2-3 fit losses per "
        "family no per-family law is identified, so the suite asks what a team would get from one law across its "
        "recipes; a recipe's own difference from the pool is then part of the forecast error. "
        f"M is overtrain's multiplier D/N (tokens per parameter), i.e. 20 x DCLM's 'Nx': 1x = 20, 5x = 100, "
        f"35x = 700. Families: those with a target and at least {MIN_FIT_POINTS} distinct (N, D) fit points over "
        f"{MIN_FIT_SIZES}+ model sizes ({len(suite.families)} families, {n_fit} fit runs, {n_targets} targets). "
        f"Tasks: those scored for every run of these families ({len(suite.tasks)}).{core_note} "
        f"Caveats: the families have {_thinness(suite)}, fewer than the 4 coefficients of "
        "L(N, D) = E + A N^-a + B D^-a, so a per-family loss law is not identified without pooling or fixing a "
        "coefficient; 6.9B targets mostly have no loss (error targets only). "
        "The 1.4B x20 fit runs include architecture and hyperparameter variants (after '|' in the run id). "
        "c4_original-open_lm_7b-1.0, rpj-open_lm_7b-1.0 and rw_original-open_lm_7b-1.0 are the same runs as the "
        "6.9B targets of Gadre et al. (2024), bundled with overtrain: not unseen for work tuned on that testbed."
    )
    return {
        "name": "dclm",
        "loss_split": LOSS_SPLIT,
        "tasks": suite.tasks,
        "fit": filter_text(FIT),
        "targets": filter_text(TARGETS),
        "notes": notes,
        "pooled_families": suite.families,
        "families": None,
    }


# -- writing -----------------------------------------------------------------------------------------------------
def runs_csv(runs: pd.DataFrame) -> str:
    """runs.csv text: integers for N and D, shortest exact floats elsewhere, blanks where missing."""
    out = runs.copy().astype(object)
    for column in out.columns:
        if column in ("params", "tokens"):
            out[column] = runs[column].map(lambda v: str(int(v)))
        elif column not in ("run", "family"):
            out[column] = runs[column].map(shortest)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def tasks_csv(tasks: pd.DataFrame) -> str:
    """tasks.csv text."""
    out = tasks.copy().astype(object)
    out["chance"] = tasks["chance"].map(shortest)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _family_counts(runs: pd.DataFrame) -> tuple[int, int, int]:
    points = runs[["family", "params", "tokens"]].drop_duplicates().groupby("family").size()
    return runs["family"].nunique(), int((points >= 2).sum()), int((points >= 3).sum())


def _size_table(runs: pd.DataFrame) -> str:
    lines = ["| N | D/N | runs | with loss |", "| --- | --- | --- | --- |"]
    for (params, mult), block in runs.groupby(["params", "multiplier"], sort=True):
        lines.append(f"| {params / 1e9:.2f}B | {mult:g} | {len(block)} | {int(block[LOSS_COLUMN].notna().sum())} |")
    return "\n".join(lines)


def _loss_spread(runs: pd.DataFrame) -> float:
    """The largest loss range among runs of one family at one (N, D)."""
    with_loss = runs.dropna(subset=[LOSS_COLUMN])
    ranges = with_loss.groupby(["family", "params", "tokens"])[LOSS_COLUMN].agg(lambda v: v.max() - v.min())
    return float(ranges.max()) if len(ranges) else 0.0


def _thinness(suite: Suite) -> str:
    """How many fit points, and fit points with a loss, the chosen families have."""
    def span(column: str) -> str:
        low, high = int(suite.table[column].min()), int(suite.table[column].max())
        return str(low) if low == high else f"{low}-{high}"

    return f"{span('fit_points')} distinct (N, D) fit points each, with a loss at {span('fit_points_with_loss')}"


def _column_rows(withheld: str) -> list[tuple[str, str]]:
    return [
        ("`run`", "`<evaluation file name>\\|<model>`: the file name of the run's evaluation in DCLM's "
         "`exp_data/evals` without `evaluation_`, `.json` and the suite suffix (`_heavy`, `_heavy_copy`, "
         "`_heavy_copy2`, `_heavy_2`), then the database's `model` (open_lm configuration, e.g. `open_lm_1b`, "
         "`open_lm_1b_swiglutorch`, `d=1024_l=24_h=8`), which tells variants of one size apart. Unique."),
        ("`family`", "the database's `Dataset`: the training data set"),
        ("`params`", "N, the database's `params`: open_lm's parameter count with embeddings "
         "(411616256, 1439795200, 6889410560)"),
        ("`tokens`", "D, the database's `tokens` = 20 x N x the Chinchilla multiplier in the run name "
         "(checked against the name, see the drops)"),
        ("`multiplier`", "D/N, tokens per parameter (overtrain's M): 20 for DCLM's \"1x\", 100 for \"5x\", "
         "700 for \"35x\""),
        (f"`{LOSS_COLUMN}`", "the database's `eval_metrics.perplexity`, which despite its name is the mean "
         "cross-entropy (nats per token) on open_lm's validation set: DCLM's `eval/eval_openlm_ckpt.py` stores "
         "`evaluate_loop(...)[0][\"loss\"]` under that key. Kept only for GPT-NeoX-tokenised models "
         f"(`{NEOX_TOKENIZERS[0]}`, `{NEOX_TOKENIZERS[1]}`): a loss per token of another tokenizer is not "
         f"comparable. Withheld from: {withheld}."),
        ("`acc:<task>`", "top-1 accuracy in [0, 1] as the database gives it (DCLM's llm-foundry evaluation, "
         "float32 values written exactly); blank where the run was not evaluated on the task"),
    ]


def readme(conversion: Conversion, suite: Suite, document: dict, source: Source, core: list[str] | None) -> str:
    """README.md for the output directory, with every count computed from this conversion."""
    runs = conversion.runs
    n_families, two, three = _family_counts(runs)
    commit = source.commit or "<commit>"
    short = source.commit[:7] if source.commit else "<commit>"
    unknown = "" if source.commit else " (unknown: converted from a plain directory; pass `--commit`)"
    drops = "\n".join(f"| {rule.text} | {len(conversion.dropped[rule.key])} |" for rule in DROP_RULES)
    n_dropped = sum(len(v) for v in conversion.dropped.values())
    n_merged_rows = sum(len(group) for group in conversion.merged) - len(conversion.merged)
    merged = "\n".join(f"- {' + '.join(f'`{f}`' for f in group)}" for group in conversion.merged)
    withheld = ", ".join(f"`{k}` ({v})" for k, v in sorted(conversion.loss_withheld.items())) or "none"
    falls = "; ".join(f"`{model}` {min(v):.2f}-{max(v):.2f} ({len(v)} recipes)"
                      for model, v in sorted(conversion.loss_fall.items()))
    withheld += (f"; and from the {conversion.other_measure} runs of open_lm's `*{OTHER_LOSS_MEASURE}` "
                 "configurations, whose losses are not on the others' measure: from a recipe's 0.41B run to its 1.4B "
                 f"runs at 1x (28x the compute) the loss falls by {falls}, while the downstream errors fall "
                 f"alike; and at one recipe, N and D ({len(conversion.loss_above)} such) they sit "
                 f"{min(conversion.loss_above):.2f}-{max(conversion.loss_above):.2f} nats above the other "
                 "configurations' losses")
    columns = "\n".join(f"| {name} | {meaning} |" for name, meaning in _column_rows(withheld))
    contradictions = "\n".join(
        f"- `{run}`: {stated_length_conflict(run.split('|')[0], *conversion.sizes[run])}"
        for run in conversion.dropped["contradiction"]
    )
    planned = "\n".join(f"- `{run}`: {PLANNED_TOKENS[run.split('|')[0]]}" for run in conversion.dropped["planned"])
    listed = "\n".join(
        f"- {rule.key}: " + ", ".join(f"`{run}`" for run in sorted(conversion.dropped[rule.key]))
        for rule in DROP_RULES if rule.key not in ("planned", "contradiction") and conversion.dropped[rule.key]
    )
    conflicts = "\n".join(f"- {c}" for c in conversion.conflicts) or "none (they agree to 1e-6 where both have a value)"
    chosen = "\n".join(
        "| " + " | ".join(str(v) for v in row) + " |"
        for row in suite.table[["family", "fit_runs", "fit_points", "fit_points_with_loss", "targets",
                                "targets_with_loss"]].itertuples(index=False)
    )
    digests = "\n".join(f"- `{path}`: sha256 `{digest}`" for path, digest in sorted(source.digests.items()))
    core_line = ""
    if core is not None:
        same = sorted(core) == sorted(suite.tasks)
        core_line = (f"\n  DCLM's CORE set (`low_variance_datasets` in `{AGGREGATION}`) has {len(core)} tasks; "
                     f"this list {'is exactly that set' if same else 'differs from it'}.")
    spread_all = _loss_spread(runs)
    spread_targets = _loss_spread(runs[filter_mask(runs, TARGETS) & runs["family"].isin(suite.families)])
    far = runs[filter_mask(runs, TARGETS) & (runs["params"] < 6e9)]
    far_note = ""
    if len(far) and not far["family"].isin(suite.families).all():
        far_note = ("\n  The 1.4B run at M = 700 belongs to a family with a single fit point: a target in form only "
                    "unless\n  a benchmark adds that family.")
    return f"""# DCLM testbed (converted from mlfoundations/dclm)

Runs of the DataComp-LM project (Li et al., 2024, arXiv:2406.11794): open_lm models of 0.41B, 1.4B and 6.9B
parameters trained on many candidate pre-training data sets, with their open_lm validation loss and
{len(conversion.tasks)} downstream accuracies. Data only; converted by `tools/convert_dclm.py` (our code).

- Source: {REPOSITORY} at commit `{commit}`{unknown}.
- Licence: MIT, copyright (c) 2024 mlfoundations. The licence text is in `LICENSE` here and must ship with
  the data.

Files read, with their sha256:

{digests}

Regenerate (offline once the clone exists; needs numpy and pandas):

```bash
git clone {REPOSITORY}.git dclm && git -C dclm checkout {commit}
python tools/convert_dclm.py dclm src/overtrain/data/testbeds/dclm
```

The converter also reads a bare clone directly (with git):
`python tools/convert_dclm.py DCLM.git src/overtrain/data/testbeds/dclm --rev {short}`.
Its output is deterministic: rows sorted by run id, floats as the shortest text that reads back to the same
double.

## Contents

- `runs.csv`: {len(runs)} runs, {n_families} families ({two} with 2+ distinct (N, D) points, {three} with 3+),
  {len(conversion.tasks)} tasks; {int(runs[LOSS_COLUMN].notna().sum())} runs have a loss.
- `tasks.csv`: `task, chance, n_examples` for the {len(conversion.tasks)} tasks.
- `suite.json`: how a forecasting benchmark should use the testbed (below).
- `LICENSE`: DCLM's MIT licence.

| column | meaning |
| --- | --- |
{columns}

`tasks.csv`: `chance` is DCLM's "Random baseline" (percent / 100) in `{META}`, the version corrected in
September 2025 (DCLM issue #114, PR #115). It is DCLM's chance level, which for some tasks reflects label
imbalance rather than 1/choices (boolq 0.62, commonsense_qa 0.403), and 0 for free-response tasks.
`n_examples` is its `#datapoints`. gsm8k, agi_eval_sat_math, aqua and svamp have no row there: they take the
row of their CoT variant, which evaluates the same data file (both free-response, chance 0).

Runs by size:

{_size_table(runs)}

## What was left out, and why

{conversion.database_rows} database rows; {n_dropped} dropped, in this order (a row counts under the first rule
it meets):

| rule | rows |
| --- | --- |
{drops}

The rows whose tokens contradict their name, and the planned-tokens row:

{contradictions}
{planned}

The other dropped rows (run ids as they would have been):

{listed}

Duplicate evaluations ({n_merged_rows} rows) were merged, one run each: rows with the same run id once the
suite suffix is removed, or with the same `model_uuid`. Values come from the latest evaluation
(`creation_date`), gaps filled from the others, and the run id is the latest one's.

{merged}

Conflicts between merged evaluations: {conflicts}

## suite.json

- `fit`: `{document['fit']}`, the 0.41B and 1.4B runs not in the targets.
- `targets`: `{document['targets']}`, the 6.9B runs and the 1.4B run at 35x (M = 700).{far_note}
- `pooled_families` (fitted and forecast as one family, `families` null, since none identifies a law alone):
  those with at least one target and at least {MIN_FIT_POINTS} distinct (N, D) fit points over
  {MIN_FIT_SIZES}+ model sizes, the fewest that leave a law something to fit across sizes and multipliers:

| family | fit runs | fit (N, D) points | with loss | targets | with loss |
| --- | --- | --- | --- | --- | --- |
{chosen}

- `tasks`: every task scored for every run of those families ({len(suite.tasks)} tasks), a rule fixed before
  any forecast.{core_line}

## Caveats

- Thin for loss laws: the suite's families have {_thinness(suite)},
  fewer than the 4 coefficients of L(N, D) = E + A N^-a + B D^-a. Per-family loss laws need pooling across
  families or a fixed coefficient.
  Most 6.9B runs have no loss (`eval_metrics.perplexity` was not recorded), so most targets are error-only.
- Variants: runs of one family at one (N, D) include architecture variants (`open_lm_1b` vs
  `open_lm_1b_swiglutorch`, `open_lm_7b` vs `open_lm_7b_swiglutorch`) and hyperparameter sweeps (learning
  rate, weight decay, batch size, warmup: see the run id). They are separate runs, not replicates. Their
  losses differ by up to {spread_all:.2f} nats at one (N, D) in one family ({spread_targets:.2f} among the
  suite's targets), which no law in N and D alone can match.
- Overlap with Gadre et al. (2024)'s testbed (bundled with overtrain): `c4_original-open_lm_7b-1.0`,
  `rpj-open_lm_7b-1.0` and `rw_original-open_lm_7b-1.0` have exactly the downstream accuracies of that
  testbed's 6.9B runs at M = 20: they are the same runs (DCLM records no loss for them). Work tuned on
  Gadre's targets has seen these three. The C4, RedPajama and RefinedWeb runs at 0.41B and 1.4B here score
  differently from Gadre's runs of those sizes: different evaluations, probably different runs.
- `family` is DCLM's data set name. `rpj-open_lm_7b-1.0` is filed under `rpj_original` but carries the
  `dataset_uuid` of the separate `rpj` family (the Gadre-era RedPajama), while the other `rpj_original` runs
  carry another one.
- `params` is DCLM's nominal count per size: for runs with other tokenizers (`open_lm_1b_gemma`, `_llama`,
  `_mistral`, `_falcon`, `_arcade100k`, `open_lm_7b_swiglutorch_vocab129k`) the embedding matrices, hence the
  true count, differ, and their tokens are counted in their own tokenizer. Each is its own family.
- The DCLM-7B model (2.6T tokens) and its cooldown checkpoints are not in the testbed (see the drops).
"""


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="DCLM clone: bare git directory or checked-out directory")
    parser.add_argument("out", type=Path, help="output directory (created; its five files are overwritten)")
    parser.add_argument("--rev", default="HEAD", help="revision to read from a bare git directory")
    parser.add_argument("--commit", help="the source's commit, for a plain directory (checked for a git directory)")
    args = parser.parse_args(argv)

    source = Source.open(args.source, args.rev, args.commit)
    database = pd.read_csv(io.StringIO(source.read(DATABASE)), dtype=str, keep_default_na=False)
    database = database.replace("", np.nan)
    meta = pd.read_csv(io.StringIO(source.read(META)), dtype=str, keep_default_na=False)
    licence = source.read(LICENCE)
    aggregation = source.read(AGGREGATION, required=False)
    core = json.loads(aggregation).get("low_variance_datasets") if aggregation else None

    conversion = convert(database, meta)
    suite = choose_suite(conversion.runs)
    document = suite_document(conversion.runs, suite, core)

    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "runs.csv": runs_csv(conversion.runs),
        "tasks.csv": tasks_csv(conversion.tasks),
        "suite.json": json.dumps(document, indent=2) + "\n",
        "LICENSE": licence,
        "README.md": readme(conversion, suite, document, source, core),
    }
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8", newline="\n")
    for conflict in conversion.conflicts:
        print(f"warning: {conflict}", file=sys.stderr)
    print(f"{args.out}: {len(conversion.runs)} runs, {conversion.runs['family'].nunique()} families, "
          f"{len(conversion.tasks)} tasks; suite: {len(suite.families)} families, {len(suite.tasks)} tasks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
