"""Regenerate the bundled testbed (src/overtrain/data/) from the paper's released JSON files.

    python tools/build_testbed.py [SOURCE_DIR]          # default ../shared/gadre2024
    python tools/build_testbed.py [SOURCE_DIR] --check  # verify the bundled files equal a fresh conversion

The bundled table is exactly what `overtrain.runs.readers.read_openlm_dir` yields on SOURCE_DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from overtrain.runs.readers.openlm import read_openlm_dir
from overtrain.runs.readers.runs_table import write_runs_table, write_task_table
from overtrain.runs.testbed import DATA

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "gadre2024"


def sidecar(source: Path, runs_csv: Path) -> dict:
    configs = {p.stem: json.loads(p.read_text()) for p in sorted((source / "model_configs").glob("*.json"))}
    return {
        "name": "Gadre et al. (2024) over-training testbed",
        "paper": "Gadre et al., 'Language models scale reliably with over-training and on downstream tasks', "
        "arXiv:2403.08540, ICLR 2025",
        "source": "the paper's released exp_data (model JSONs and evaluation_*_heavy.json files), data only",
        "licence": "MIT (see LICENSE-testbed.txt)",
        "converted_by": "tools/build_testbed.py via overtrain.runs.readers.read_openlm_dir",
        "files": {
            "testbed.csv": {"rows": len(pd.read_csv(runs_csv)),
                            "sha256": hashlib.sha256(runs_csv.read_bytes()).hexdigest()},
            "tasks.csv": "task metadata from eval_metadata.csv; chance converted from percent to [0, 1]",
        },
        "units": {
            "run": "model JSON file stem, <family>-<shape>-<chinchilla_multiplier>",
            "family": "training distribution: c4_original (C4), rpj (RedPajama), rw_original (RefinedWeb)",
            "shape": "open_lm model configuration name (d=width_l=layers_h=heads, or open_lm_1b / open_lm_7b)",
            "params": "N, total parameters including embeddings (count)",
            "tokens": "D, training tokens (count)",
            "multiplier": "M, tokens per parameter, nominal: 20 x chinchilla_multiplier (equals D/N here)",
            "flops": "not stored: C = 6 N D, derived when the table is read",
            "loss:<split>": "validation cross-entropy, nats per token, on the named split",
            "loss_lower95:<split>, loss_upper95:<split>": "95% interval of the loss over sequences",
            "acc:<task>": "top-1 accuracy in [0, 1] (eval_metrics.icl)",
        },
        "splits": {
            "c4_val": "C4 eval (the paper's loss split)",
            "open_lm_val": "OpenLM eval (directory 'openlm' in the release)",
            "paloma_c4_en": "Paloma C4", "paloma_redpajama": "Paloma RedPajama",
            "paloma_falcon-refinedweb": "Paloma RefinedWeb",
            "paloma_dolma_100_programing_languages": "Paloma code (100 programming languages)",
            "paloma_ptb": "Paloma Penn Treebank", "val_de-en_100": "German",
        },
        "model_configs": configs,
    }


def build(source: Path, out: Path) -> None:
    runs = read_openlm_dir(source)
    out.mkdir(parents=True, exist_ok=True)
    write_runs_table(runs, out / "testbed.csv")
    write_task_table(runs.tasks, out / "tasks.csv")
    shutil.copyfile(source / "LICENSE.txt", out / "LICENSE-testbed.txt")
    text = json.dumps(sidecar(source, out / "testbed.csv"), indent=2) + "\n"
    (out / "testbed.json").write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--check", action="store_true", help="compare with the bundled files instead of writing")
    args = parser.parse_args()
    if not args.check:
        build(args.source, DATA)
        print(f"wrote {DATA}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(args.source, Path(tmp))
        names = ("testbed.csv", "tasks.csv", "testbed.json", "LICENSE-testbed.txt")
        differ = [n for n in names if (Path(tmp) / n).read_bytes() != (DATA / n).read_bytes()]
    print("bundled testbed is up to date" if not differ else f"differs: {', '.join(differ)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
