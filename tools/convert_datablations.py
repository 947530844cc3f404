"""Convert the final C4 validation losses of the datablations runs into a runs table.

    python tools/convert_datablations.py SOURCE OUT_DIR          # write runs.csv and LICENSE into OUT_DIR
    python tools/convert_datablations.py SOURCE OUT_DIR --check  # verify OUT_DIR equals a fresh conversion

SOURCE is a git directory (bare, or a clone's `.git`) of github.com/huggingface/datablations, read at `--rev`
(default HEAD), or a checked-out / extracted copy of the repository. The losses are the `NAMES_TO_VAL_LOSSES`
table of `plotstables/return.ipynb` (Muennighoff et al., "Scaling Data-Constrained Language Models"), read as
data: the notebook is parsed as JSON and the dict literals with `ast`, nothing is executed. Parameters N,
tokens D and unique tokens U are decoded from each run name with the repository's own naming rule,
`{parameters}{tokens}{unique_tokens}{optional specifier}`, and its `PARAMS_MAP` table of N per size name.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testbed_source import Source, convert_main, to_csv

PINNED_COMMIT = "13701315b163f1c54642b94ad237b2699187c3ee"
NOTEBOOK = "plotstables/return.ipynb"
LICENSE_FILE = "LICENSE.md"
TABLES = ("NAMES_TO_VAL_LOSSES", "TOKENS_MAP", "PARAMS_MAP")
LOSS_COLUMN = "loss:c4_val"
COLUMNS = ["run", "family", "params", "tokens", LOSS_COLUMN, "unique_tokens", "epochs", "seed", "variant"]

# The optional specifier after the (N, D, U) fields of a run name: the replicate seed runs of the
# IsoFLOP configurations ("seedK", "c4seedK", "c4v2seedK"), one "c4opt4" run, and deduplicated C4 ("dedup").
SPECIFIER = re.compile(r"^(?:(?:c4)?(?:v2)?seed(?P<seed>\d+)|c4opt\d+|dedup)$")
FIELD = re.compile(r"^(?P<whole>\d+)(?:(?P<m>m)|b(?P<frac>\d*))$")


def notebook_tables(notebook: bytes) -> dict[str, dict]:
    """The dict literals NAMES_TO_VAL_LOSSES, TOKENS_MAP and PARAMS_MAP of the notebook, parsed without exec."""
    cells = json.loads(notebook)["cells"]
    found: dict[str, dict] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        text = "".join(cell["source"])
        if "NAMES_TO_VAL_LOSSES = {" not in text:
            continue
        for node in ast.parse(text).body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                continue
            name = node.targets[0].id
            if name not in TABLES:
                continue
            if not isinstance(node.value, ast.Dict) or name in found:
                raise SystemExit(f"{NOTEBOOK}: {name} is not a single dict literal")
            keys = [ast.literal_eval(k) for k in node.value.keys if k is not None]
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates or len(keys) != len(node.value.keys):
                raise SystemExit(f"{NOTEBOOK}: {name} has duplicate or unpacked keys {duplicates}")
            found[name] = ast.literal_eval(node.value)
    missing = [t for t in TABLES if t not in found]
    if missing:
        raise SystemExit(f"{NOTEBOOK}: tables not found: {missing}")
    return found


def field_count(field: str) -> int:
    """Exact count of a name field: '100m' -> 1e8, '55b' -> 5.5e10, '1b25' -> 1.25e9, '4b8' -> 4.8e9."""
    match = FIELD.match(field)
    if match is None:
        raise ValueError(f"cannot read token field {field!r}")
    whole = int(match["whole"])
    if match["m"]:
        return whole * 10**6
    frac = match["frac"]
    return whole * 10**9 + (int(frac) * 10 ** (9 - len(frac)) if frac else 0)


def split_name(name: str, params_map: dict[str, float]) -> tuple[str, str, str, str]:
    """Split a run name into (size name, tokens field, unique-tokens field, specifier).

    The rule is the repository's: the size name is the shortest prefix (2+ characters) found in PARAMS_MAP;
    the unique-tokens field is the last 4 characters of the name (3 when it ends in a digit preceded by 'b' or
    'm'), shortened from the left until it holds at most one 'b' and one 'm'; the tokens field lies between.
    The specifier is whatever follows the first character that is not a digit, 'b' or 'm'.
    """
    core = re.match(r"^[0-9bm]*", name).group(0)
    specifier = name[len(core):]
    size = next((core[:i] for i in range(2, len(core)) if core[:i] in params_map), None)
    if size is None:
        raise ValueError(f"{name}: no size name of PARAMS_MAP at its start")
    ends_in_unit = core[-1] in "bm"
    start = 4 if ends_in_unit or core[-2] not in "bm" else 3
    unique = core[-start:]
    while unique.count("b") > 1 or unique.count("m") > 1:
        unique = unique[1:]
    tokens = core[len(size) : len(core) - len(unique)]
    return size, tokens, unique, specifier


def convert(tables: dict[str, dict]) -> tuple[pd.DataFrame, list[str]]:
    """Build the runs table; return it with notes on what was dropped or checked."""
    losses: dict[str, float] = tables["NAMES_TO_VAL_LOSSES"]
    params_map: dict[str, float] = tables["PARAMS_MAP"]
    tokens_map: dict[str, float] = tables["TOKENS_MAP"]
    rows, unfinished = [], []
    for name, loss in losses.items():
        if loss == 0:  # the notebook marks runs that had not finished with 0 and skips them
            unfinished.append(name)
            continue
        size, tokens_field, unique_field, specifier = split_name(name, params_map)
        spec = SPECIFIER.match(specifier) if specifier else None
        if specifier and spec is None:
            raise SystemExit(f"{name}: unknown specifier {specifier!r}")
        tokens, unique = field_count(tokens_field), field_count(unique_field)
        for field, count in ((tokens_field, tokens), (unique_field, unique)):
            if field in tokens_map and abs(tokens_map[field] * 1e9 - count) > 1e-9 * count:
                raise SystemExit(f"{name}: field {field!r} decodes to {count}, TOKENS_MAP says {tokens_map[field]}e9")
        if unique > tokens:
            raise SystemExit(f"{name}: unique tokens {unique} exceed tokens {tokens}")
        params = params_map[size]
        if abs(params - round(params)) > 1e-6:
            raise SystemExit(f"{name}: PARAMS_MAP[{size!r}] = {params} is not a whole number")
        seed = spec["seed"] if spec is not None else None
        rows.append({
            "run": name,
            "family": "c4-dedup" if specifier == "dedup" else "c4",
            "params": round(params),
            "tokens": tokens,
            LOSS_COLUMN: float(loss),
            "unique_tokens": unique,
            "epochs": tokens / unique,
            "seed": int(seed) if seed is not None else None,
            "variant": specifier or "base",
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["seed"] = frame["seed"].astype("Int64")
    frame = frame.sort_values(["family", "params", "tokens", "unique_tokens", "run"], kind="mergesort")
    frame = frame.reset_index(drop=True)
    if frame["run"].duplicated().any():
        raise SystemExit("duplicate run names")
    notes = [f"{len(losses)} entries in NAMES_TO_VAL_LOSSES",
             f"dropped {len(unfinished)} unfinished runs (loss 0): {', '.join(sorted(unfinished))}",
             f"kept {len(frame)} runs: " + ", ".join(f"{f} {n}" for f, n in frame["family"].value_counts().items())]
    return frame, notes


def build(source: Source) -> tuple[dict[str, bytes], list[str]]:
    """The output files (name -> bytes) and notes."""
    tables = notebook_tables(source.read(NOTEBOOK))
    frame, notes = convert(tables)
    return {"runs.csv": to_csv(frame), "LICENSE": source.read(LICENSE_FILE)}, notes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return convert_main(argv, __doc__.splitlines()[0], "huggingface/datablations", "datablations", PINNED_COMMIT, build)


if __name__ == "__main__":
    sys.exit(main())
