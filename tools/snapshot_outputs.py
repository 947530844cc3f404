"""Every command's JSON output on the bundled testbed and the examples, as digests: run before and after a change
that must not change what `overtrain` prints (a restructuring), and compare. Run from the repository root:

    python tools/snapshot_outputs.py --write before.json     # on the code before
    python tools/snapshot_outputs.py --check before.json     # on the code after: exit 1 naming what differs

Each command runs in process (as `overtrain ...`, with `--json`), and its output is digested after replacing the
temporary directory it wrote into by a fixed name; the report (`reproduce --all`) is digested file by file. Without
--write or --check it prints the digests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

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
        "predict": ["predict", laws, *TARGET, "--json"],
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


def digests() -> dict[str, str]:
    """Each command's exit code and output digest (the scratch directory's name replaced by a fixed one)."""
    runner = CliRunner()
    found = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, args in commands(Path(scratch)).items():
            print(f"  {name}", file=sys.stderr)
            result = runner.invoke(app, args)
            text = result.stdout.replace(scratch, "<scratch>")
            found[name] = f"{result.exit_code}:{hashlib.sha256(text.encode()).hexdigest()}"
        print("  reproduce --all (the report)", file=sys.stderr)
        report = Path(scratch) / "report"
        result = runner.invoke(app, ["reproduce", "--all", "--output", str(report)])
        for path in sorted(report.iterdir()) if report.is_dir() else []:
            found[f"report: {path.name}"] = f"{result.exit_code}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the digests to this file")
    parser.add_argument("--check", type=Path, help="compare with the digests in this file; exit 1 if any differ")
    args = parser.parse_args()
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
