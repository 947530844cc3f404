"""Convert the runs of Brandfonbrener et al. (2024), "Loss-to-loss prediction: scaling laws for all datasets", into an
overtrain runs table, for local development use only.

    python tools/convert_loss_to_loss.py SOURCE OUT_DIR [--rev REV]

SOURCE is a clone of https://github.com/KempnerInstitute/loss-to-loss-notebooks: a bare git directory (files are
read with `git show REV:path`) or a checked-out directory. Read: `data/sweep.csv` (529 runs of iso-FLOP sweeps from
2e17 to 4.84e19 FLOPs on six pre-training datasets) and `data/extrapolation.csv` (one 3.3B run at 1e21 FLOPs per
dataset). The repository states no licence, so its data may not be redistributed: write the table outside the
repository (`.testbeds/` is ignored by git) and never commit it. `benchmarks/recipes.py --loss-to-loss OUT_DIR`
uses it as a testbed no method or calibration of overtrain was chosen on.

Written: `runs.csv` (run, family = the training dataset, params, tokens, `loss:c4_val` and the other datasets'
validation losses, the OLMo evaluation suite's eight accuracies and each one's own loss, `taskloss:<task>`, the
cross-entropy of the correct answer as OLMo logs it), `tasks.csv` (task, chance) and `README.md` (what
was read, with sha256). Every model is evaluated on the same validation sets, so losses compare across families.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd

FILES = ("data/sweep.csv", "data/extrapolation.csv")
REPOSITORY = "https://github.com/KempnerInstitute/loss-to-loss-notebooks"
LOSSES = {"c4_val": "c4_val", "fineweb_100b_val": "fineweb_val", "fineweb_edu_100b_val": "fineweb_edu_val",
          "proof_pile_2_val": "proof_pile_2_val", "slimpajama_val": "slimpajama_val", "smollm_val": "smollm_val",
          "starcoder_val": "starcoder_val"}
# the OLMo evaluation suite's tasks as the runs log them (length-normalised accuracy where that is what OLMo reports)
TASKS = {"arc_challenge": ("arc_challenge_test_len_norm", 0.25), "arc_easy": ("arc_easy_test_acc", 0.25),
         "boolq": ("boolq_test_acc", 0.5), "hellaswag": ("hellaswag_test_len_norm", 0.25),
         "openbook_qa": ("openbook_qa_test_len_norm", 0.25), "piqa": ("piqa_test_len_norm", 0.5),
         "sciq": ("sciq_test_acc", 0.25), "winogrande": ("winogrande_test_acc", 0.5)}


# each task's own loss as the runs log it: the cross-entropy of the correct continuation (OLMo's downstream CE loss)
TASK_LOSSES = {task: column.rsplit("_", 2)[0] + "_ce_loss" if column.endswith("_len_norm")
               else column.removesuffix("_acc") + "_ce_loss" for task, (column, _) in TASKS.items()}


def read(source: Path, path: str, rev: str) -> str:
    if (source / path).is_file():
        return (source / path).read_text(encoding="utf-8")
    result = subprocess.run(["git", "--git-dir", str(source), "show", f"{rev}:{path}"], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{source}: cannot read {path} at {rev}: {result.stderr.strip()}")
    return result.stdout


def convert(texts: dict[str, str]) -> pd.DataFrame:
    """One row per finished run: the runs-table columns, sorted by run id."""
    frames = []
    for path in FILES:
        raw = pd.read_csv(io.StringIO(texts[path]))
        raw = raw[raw["state"] == "finished"]
        table = pd.DataFrame({"run": raw["name"] + "|" + raw["id"], "family": raw["data"],
                              "params": raw["params"].astype(float), "tokens": raw["tokens"].astype(float),
                              "iso_flop": raw["iso_flop"].astype(float)})
        for column, split in LOSSES.items():
            table[f"loss:{split}"] = raw[f"eval/{column}/CrossEntropyLoss"].astype(float)
        for task, (column, _) in TASKS.items():
            table[f"acc:{task}"] = raw[f"eval/downstream/{column}"].astype(float)
            table[f"taskloss:{task}"] = raw[f"eval/downstream_ce_loss/{TASK_LOSSES[task]}"].astype(float)
        frames.append(table)
    runs = pd.concat(frames, ignore_index=True).sort_values("run", kind="stable").reset_index(drop=True)
    if runs["run"].duplicated().any():
        raise SystemExit(f"duplicate run ids: {sorted(runs.loc[runs['run'].duplicated(), 'run'])[:3]}")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args(argv)
    texts = {path: read(args.source, path, args.rev) for path in FILES}
    runs = convert(texts)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False, lineterminator="\n", float_format="%.17g")
    pd.DataFrame([{"task": t, "chance": c} for t, (_, c) in TASKS.items()]).to_csv(
        args.out / "tasks.csv", index=False, lineterminator="\n")
    digests = "\n".join(f"- `{p}`: sha256 `{hashlib.sha256(texts[p].encode()).hexdigest()}`" for p in FILES)
    (args.out / "README.md").write_text(
        f"# loss-to-loss testbed (local only)\n\nConverted by `tools/convert_loss_to_loss.py` from {REPOSITORY} "
        f"({args.rev}). The source states no licence: do not redistribute.\n\n{digests}\n\n{len(runs)} runs, "
        f"{runs['family'].nunique()} families.\n", encoding="utf-8")
    print(f"wrote {len(runs)} runs of {runs['family'].nunique()} families to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
