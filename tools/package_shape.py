"""The package's shape, measured from its source: rooms, floors of imports, the largest file, the longest parameter
lists. Run from the repository root (`python tools/package_shape.py [--json]`).

- A room is a top-level module or folder of `src/overtrain` (a folder counts once, whatever it holds).
- Floors: the longest chain of imports between rooms, counting the imports made when a module loads (not those
  inside functions, nor under TYPE_CHECKING); and counting every import (functions' too, as the command line
  imports what a command needs when it runs). A room on floor 1 imports no other room.
- Parameter lists count every parameter a function or method takes, `self` and `cls` excluded; public means a name
  without a leading underscore, defined at module level or on a public class. A command of the command line (a
  `*_command` function of `overtrain.cli`) is counted apart: each of its parameters is one of the command's options.
- Probes on laws: `getattr`/`hasattr` calls whose object is a law (its source names `law` or `family`): a trait the
  law should declare. Per-law dispatch: functions that branch on both how a law is fitted task by task
  (`per_task`) and through task losses (`needs_task_loss`). Quantity checks: comparisons with the strings "loss" or
  "error". The longest function in `trust/`, by lines of code (its docstring left out). With `--files`, each
  folder's files with their lines and the start of their docstring: what each file is for.
"""

from __future__ import annotations

import argparse
import ast
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = {"__init__", "__main__", "_version"}


@dataclass(frozen=True)
class Signature:
    """A function and how many parameters it takes."""

    where: str
    params: int
    public: bool
    command: bool = False


def room_of(module: str) -> str:
    """The room a dotted module name belongs to (`overtrain.trust.backtest` -> `trust`)."""
    return module.split(".")[1]


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(tree: ast.Module, name: str, is_package: bool, everywhere: bool = False) -> set[str]:
    """Modules of the package imported when `name` loads (module level, not under TYPE_CHECKING), or with
    `everywhere` anywhere in it (but under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node) if everywhere or isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(inner, ast.ImportFrom):
                if inner.level:
                    base = name.split(".")[: len(name.split(".")) - inner.level + (1 if is_package else 0)]
                    target = ".".join([*base, inner.module] if inner.module else base)
                else:
                    target = inner.module or ""
                if target.startswith("overtrain"):
                    found.add(target)
            elif isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names if alias.name.startswith("overtrain"))
    return found


def signatures(tree: ast.Module, name: str) -> list[Signature]:
    found = []

    def visit(body: list[ast.stmt], prefix: str, public: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                every += [a for a in (args.vararg, args.kwarg) if a is not None]
                count = sum(a.arg not in ("self", "cls") for a in every)
                command = name.startswith("overtrain.cli") and node.name.endswith("_command")
                found.append(Signature(f"{prefix}{node.name}", count, public and not node.name.startswith("_"),
                                       command))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.", public and not node.name.startswith("_"))

    visit(tree.body, f"{name}:", True)
    return found


def law_probes(tree: ast.Module) -> int:
    """`getattr`/`hasattr` calls on a law (the object's source names `law` or `family`)."""
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id in ("getattr", "hasattr") and node.args
               and any(word in ast.unparse(node.args[0]) for word in ("law", "family")))


def quantity_checks(tree: ast.Module) -> int:
    """Comparisons (== or !=) with the strings "loss" or "error"."""
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Compare)
               and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
               and any(isinstance(c, ast.Constant) and c.value in ("loss", "error")
                       for c in (node.left, *node.comparators)))


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines, its docstring left out (documenting the parameters does not make a function longer)."""
    lines = (node.end_lineno or node.lineno) - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= (first.end_lineno or first.lineno) - first.lineno + 1
    return lines


def functions_of(tree: ast.Module, name: str) -> list[tuple[str, int, str]]:
    """(where, lines of code, source) of every function and method."""
    return [(f"{name}:{node.name}", code_lines(node), ast.unparse(node))
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def shape(package: Path = ROOT / "src" / "overtrain") -> dict:
    """The measures of the package in `package` (a folder named overtrain)."""
    files = sorted(package.rglob("*.py"))
    edges: dict[str, set[str]] = {}
    every_edge: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    every_signature: list[Signature] = []
    probes = checks = 0
    dispatch: list[str] = []
    trust_functions: list[tuple[str, int]] = []
    for path in files:
        name = module_name(path, package)
        text = path.read_text()
        sizes[str(path.relative_to(package))] = len(text.splitlines())
        tree = ast.parse(text)
        every_signature += signatures(tree, name)
        probes += law_probes(tree)
        checks += quantity_checks(tree)
        for where, length, source in functions_of(tree, name):
            if "per_task" in source and "needs_task_loss" in source and where.count(":") == 1:
                dispatch.append(where)
            if name.startswith("overtrain.trust."):
                trust_functions.append((where, length))
        if name.count(".") == 0 or room_of(name) in INFRASTRUCTURE:
            continue
        room = room_of(name)
        for graph, everywhere in ((edges, False), (every_edge, True)):
            targets = {room_of(t) for t in imports_of(tree, name, path.name == "__init__.py", everywhere) if "." in t}
            graph.setdefault(room, set()).update(t for t in targets if t != room and t not in INFRASTRUCTURE)

    def floors_of(graph: dict[str, set[str]]) -> dict[str, int]:
        @cache
        def floor(room: str) -> int:
            return 1 + max((floor(other) for other in graph.get(room, ())), default=0)

        return {room: floor(room) for room in graph}

    floors, every_floor = floors_of(edges), floors_of(every_edge)
    functions = [s for s in every_signature if not s.command]
    commands = [s for s in every_signature if s.command]
    longest = max(functions, key=lambda s: s.params)
    longest_public = max((s for s in functions if s.public), key=lambda s: s.params)
    longest_command = max(commands, key=lambda s: s.params)
    largest = max(sizes, key=sizes.get)
    longest_trust = max(trust_functions, key=lambda item: item[1], default=("none", 0))
    # a dispatch written inside another function counts once, at the outermost
    dispatch = [d for d in dispatch if not any(d != other and d.startswith(other) for other in dispatch)]
    return {
        "law_probes": probes,
        "per_law_dispatch": sorted(set(dispatch)),
        "quantity_string_checks": checks,
        "longest_function_in_trust": {"function": longest_trust[0], "lines": longest_trust[1]},
        "files": len(files),
        "lines": sum(sizes.values()),
        "rooms": len(floors),
        "floors": max(floors.values()),
        "floors_counting_every_import": max(every_floor.values()),
        "largest_file": {"path": largest, "lines": sizes[largest]},
        "longest_parameter_list": {"function": longest.where, "params": longest.params},
        "longest_public_parameter_list": {"function": longest_public.where, "params": longest_public.params},
        "longest_command": {"function": longest_command.where, "params": longest_command.params},
        "public_functions_over_8": sorted(s.where for s in functions if s.public and s.params > 8),
        "private_functions_over_8": sorted(s.where for s in functions if not s.public and s.params > 8),
        "files_by_folder": files_by_folder(package, files),
        "room_floors": dict(sorted(floors.items(), key=lambda item: (item[1], item[0]))),
        "room_floors_counting_every_import": dict(sorted(every_floor.items(), key=lambda item: (item[1], item[0]))),
    }


def files_by_folder(package: Path, files: list[Path]) -> dict[str, list[dict]]:
    """Each folder's files: the path, its lines and what its docstring says first (up to a colon or a full stop)."""
    folders: dict[str, list[dict]] = {}
    for path in files:
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        folder = str(path.parent.relative_to(package)) if path.parent != package else "."
        first = " ".join(doc.split("\n\n")[0].split())
        about = first.split(": ")[0].split(". ")[0]
        folders.setdefault(folder, []).append({"file": path.name, "lines": len(text.splitlines()),
                                               "about": about if len(about) <= 100 else about[:99] + "…"})
    return dict(sorted(folders.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the measures as JSON")
    parser.add_argument("--files", action="store_true", help="also list each folder's files, a line each")
    parser.add_argument("--package", type=Path, default=ROOT / "src" / "overtrain",
                        help="the package folder to measure (default: this checkout's)")
    arguments = parser.parse_args()
    measured = shape(arguments.package)
    if arguments.json:
        print(json.dumps(measured, indent=1))
        return
    print(f"{measured['files']} files, {measured['lines']:,} lines; {measured['rooms']} rooms on "
          f"{measured['floors']} floors ({measured['floors_counting_every_import']} counting every import)")
    largest = measured["largest_file"]
    print(f"largest file: {largest['path']} ({largest['lines']} lines)")
    for key in ("longest_parameter_list", "longest_public_parameter_list", "longest_command"):
        print(f"{key.replace('_', ' ')}: {measured[key]['function']} ({measured[key]['params']} parameters)")
    for key in ("public_functions_over_8", "private_functions_over_8"):
        print(f"{key.replace('_', ' ').replace('over 8', 'over 8 parameters')}: {len(measured[key])}")
        for name in measured[key]:
            print(f"  {name}")
    print(f"getattr/hasattr probes on laws: {measured['law_probes']}")
    print(f"places the per-law dispatch is written: {len(measured['per_law_dispatch'])}")
    for name in measured["per_law_dispatch"]:
        print(f"  {name}")
    print(f"string checks on \"loss\"/\"error\": {measured['quantity_string_checks']}")
    trust = measured["longest_function_in_trust"]
    print(f"longest function in trust/: {trust['function']} ({trust['lines']} lines)")
    for room, level in measured["room_floors"].items():
        print(f"  floor {level}: {room}")
    if arguments.files:
        for folder, entries in measured["files_by_folder"].items():
            print(f"{folder}/")
            for entry in entries:
                print(f"  {entry['file']:<22} {entry['lines']:>4}  {entry['about']}")


if __name__ == "__main__":
    main()
