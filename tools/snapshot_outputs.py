"""Every command's output on the bundled testbed and the examples: as digests, run before and after a change that
must not change what `overtrain` prints (a restructuring); or whole, run on two machines (two BLAS kernels, two thread
counts) that must print the same. Run from the repository root:

    python tools/snapshot_outputs.py --write before.json     # on the code before
    python tools/snapshot_outputs.py --check before.json     # on the code after: exit 1 naming what differs

    OPENBLAS_CORETYPE=Haswell python tools/snapshot_outputs.py --outputs a.json
    OPENBLAS_CORETYPE=Sandybridge OPENBLAS_NUM_THREADS=2 python tools/snapshot_outputs.py --outputs b.json
    python tools/snapshot_outputs.py --same a.json b.json    # exit 1 naming every value that differs

Each command runs in process (as `overtrain ...`, with `--json`), and its output is digested after replacing the
temporary directory it wrote into by a fixed name; the report (`reproduce --all`) is digested file by file. Without
--write or --check it prints the digests. `--outputs` keeps each command's JSON, its printed table (the same command
without `--json`) and the report's text files; `--same` holds the JSON numbers of two such files to 1e-6 relative
(1e-9 absolute) and the printed text to the character: a printed number that differs between machines is a discrete
choice made on floating-point noise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from overtrain.cli import app

TARGET = ["--target", "params=6.9e9,multiplier=20"]
SWEEP, CANDIDATES = "examples/sweep.csv", "examples/candidates.csv"


def commands(scratch: Path) -> dict[str, list[str]]:
    """The commands whose output must stay the same, by name."""
    laws = str(scratch / "laws.json")
    return {
        "reproduce": ["reproduce", "--json"],
        "reproduce --runs sweep": ["reproduce", SWEEP, "--json"],  # the name of the first snapshots: comparable
        "runs": ["runs", "--json"],
        "runs sweep": ["runs", SWEEP, "--json"],
        "forecast": ["forecast", *TARGET, "--json"],
        "forecast paper fit sets, 17 tasks": ["forecast", *TARGET, "--fit-loss", "paper-loss", "--fit-error",
                                              "paper-error", "--tasks", "17", "--json"],
        "forecast sweep, per task": ["forecast", SWEEP, "--target", "params=1.4B,multiplier=20", "--target",
                                     "params=1.4B,tokens=1T", "--per-task", "--json"],
        "forecast --law auto, rpj": ["forecast", *TARGET, "--law", "auto", "--family", "rpj", "--json"],
        "backtest": ["backtest", "--json"],
        "backtest sweep": ["backtest", SWEEP, "--json"],
        "fit": ["fit", "--json", "-o", laws],
        "predict": ["point-forecast", laws, *TARGET, "--json"],
        "plan": ["plan", "--family", "rpj", "--fit-loss", "paper-loss", "--fit-error", "paper-error", "--tasks",
                 "17", "--target-error", "0.47163718062288623", "--inference-tokens", "0", "--inference-tokens",
                 "1e12", "--json"],
        "plan --budget": ["plan", "--budget", "1e21", "--json"],
        "design": ["design", *TARGET, "--budget", "2.4e19", "--json"],
        "compare": ["compare", *TARGET, "--json"],
        "compare sweep": ["compare", SWEEP, "--target", "params=1.4B,multiplier=20", "--json", "--pairs"],
        "compare candidates": ["compare", CANDIDATES, "--target", "params=1.4B,multiplier=20", "--baseline", "web",
                               "--json"],
    }


def outputs(printed: bool = False) -> dict[str, dict[str, Any]]:
    """Each command's exit code and output (the scratch directory's name replaced by a fixed one): `json`, its
    JSON output as text; with `printed`, `text`, what it prints without --json. The report's files as `report: NAME`
    (`bytes` for its figures and page, `text` for its Markdown, `json` for its results)."""
    runner = CliRunner()
    found: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, args in commands(Path(scratch)).items():
            print(f"  {name}", file=sys.stderr)
            result = runner.invoke(app, args)
            found[name] = {"exit": result.exit_code, "json": result.stdout.replace(scratch, "<scratch>")}
            if printed:
                table = runner.invoke(app, [arg for arg in args if arg != "--json"])
                found[name]["text"] = table.stdout.replace(scratch, "<scratch>")
        print("  reproduce --all (the report)", file=sys.stderr)
        report = Path(scratch) / "report"
        result = runner.invoke(app, ["reproduce", "--all", "--output", str(report)])
        for path in sorted(report.iterdir()) if report.is_dir() else []:
            kind = {".json": "json", ".md": "text"}.get(path.suffix, "bytes")
            content = path.read_text() if kind != "bytes" else hashlib.sha256(path.read_bytes()).hexdigest()
            found[f"report: {path.name}"] = {"exit": result.exit_code, kind: content}
    return found


def digests() -> dict[str, str]:
    """Each command's exit code and output digest."""
    def digest(output: dict[str, Any]) -> str:
        if "bytes" in output:
            return output["bytes"]
        return hashlib.sha256(output.get("json", output.get("text", "")).encode()).hexdigest()

    return {name: f"{output['exit']}:{digest(output)}" for name, output in outputs().items()}


#: How far two machines' JSON numbers may differ, relative to the larger, and at least (absolute): a billionth of an
#: error or a loss is no difference a run could measure (a bound at 3e-8 error, where a resampled law runs past 0,
#: moves by 1e-6 of itself between kernels: its logit is 17 from the forecast's).
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-9


def numbers_differ(first: Any, second: Any, where: str = "") -> list[str]:
    """Where two JSON documents differ: numbers by more than `RELATIVE_TOLERANCE`, anything else at all."""
    if isinstance(first, dict) and isinstance(second, dict):
        if first.keys() != second.keys():
            return [f"{where or '/'}: keys {sorted(first.keys() ^ second.keys())} in one only"]
        return [d for key in first for d in numbers_differ(first[key], second[key], f"{where}/{key}")]
    if isinstance(first, list) and isinstance(second, list):
        if len(first) != len(second):
            return [f"{where}: {len(first)} items against {len(second)}"]
        return [d for i, (a, b) in enumerate(zip(first, second, strict=True))
                for d in numbers_differ(a, b, f"{where}[{i}]")]
    numeric = (int, float)
    if (isinstance(first, numeric) and isinstance(second, numeric) and not isinstance(first, bool)
            and not isinstance(second, bool)):
        if abs(first - second) <= max(RELATIVE_TOLERANCE * max(abs(first), abs(second)), ABSOLUTE_TOLERANCE):
            return []
    elif first == second:
        return []
    return [f"{where}: {first!r} against {second!r}"]


def differences(first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]]) -> list[str]:
    """Every difference between two `outputs`: exit codes, JSON numbers beyond the tolerance, printed text, bytes."""
    found = []
    for name in sorted(set(first) | set(second)):
        a, b = first.get(name), second.get(name)
        if a is None or b is None:
            found.append(f"{name}: in one only")
            continue
        for kind in sorted(set(a) | set(b)):
            if kind == "json":
                try:
                    documents = json.loads(a.get(kind, "")), json.loads(b.get(kind, ""))
                except json.JSONDecodeError:
                    documents = a.get(kind), b.get(kind)
                found += [f"{name}: {d}" for d in numbers_differ(*documents)]
            elif kind == "text" and a.get(kind) != b.get(kind):
                lines = [(x, y) for x, y in zip(a[kind].splitlines(), b[kind].splitlines(), strict=False) if x != y]
                found += [f"{name}: printed {x.strip()!r} against {y.strip()!r}" for x, y in lines[:3]] or [
                    f"{name}: printed text differs in length"]
            elif kind not in ("json", "text", "bytes") and a.get(kind) != b.get(kind):
                found.append(f"{name}: {kind} {a.get(kind)!r} against {b.get(kind)!r}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the digests to this file")
    parser.add_argument("--check", type=Path, help="compare with the digests in this file; exit 1 if any differ")
    parser.add_argument("--outputs", type=Path, help="write every output whole (JSON and printed) to this file")
    parser.add_argument("--same", type=Path, nargs=2, metavar=("A", "B"),
                        help="compare two --outputs files; exit 1 naming every value that differs")
    args = parser.parse_args()
    if args.same:
        first, second = (json.loads(path.read_text()) for path in args.same)
        found_differences = differences(first, second)
        for line in found_differences:
            print(f"differs: {line}", file=sys.stderr)
        print(f"{len(first)} outputs, {len(found_differences)} differences")
        sys.exit(1 if found_differences else 0)
    if args.outputs:
        args.outputs.write_text(json.dumps(outputs(printed=True), indent=1) + "\n")
        return
    found = digests()
    if args.write:
        args.write.write_text(json.dumps(found, indent=2) + "\n")
    if args.check:
        expected = json.loads(args.check.read_text())
        differ = [name for name in sorted(set(found) | set(expected)) if found.get(name) != expected.get(name)]
        for name in differ:
            print(f"differs: {name}", file=sys.stderr)
        print(f"{len(found) - len(differ)} of {len(found)} outputs identical")
        sys.exit(1 if differ else 0)
    if not args.write:
        print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
