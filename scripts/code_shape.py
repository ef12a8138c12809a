"""The shape of the code at a commit: Python lines per folder, and the longest functions.

    python scripts/code_shape.py              # the working tree
    python scripts/code_shape.py 0830e61      # any commit, read with `git show` (nothing is checked out)
    python scripts/code_shape.py --top 20 --tests

Lines are physical lines of `.py` files (blank lines and comments included, as `wc -l` counts them). A function's
length runs from its `def` line to its last line (decorators excluded, nested functions included), as `ast` gives
them. Tests, benchmarks and migrations are left out unless `--tests` is given.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PRODUCT = ("callbacks", "cli", "config", "ivr", "scheduler", "telephony")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Function:
    path: str
    name: str
    lines: int


def python_files(revision: str | None) -> dict[str, str]:
    """Every tracked `.py` file at `revision` (None: the working tree's tracked files) and its text."""
    if revision is None:
        names = _git("ls-files", "*.py").splitlines()
        return {name: (ROOT / name).read_text(encoding="utf-8") for name in names if (ROOT / name).exists()}
    names = _git("ls-tree", "-r", "--name-only", revision).splitlines()
    return {name: _git("show", f"{revision}:{name}") for name in names if name.endswith(".py")}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout  # noqa: S603,S607


def counted(path: str, tests: bool) -> bool:
    top = PurePosixPath(path).parts[0]
    if "/migrations/" in path:
        return tests
    return top in PRODUCT or (tests and top in ("tests", "bench", "scripts"))


def folder_lines(files: dict[str, str]) -> dict[str, int]:
    """Lines of Python under each folder (a folder's count includes its subfolders)."""
    totals: dict[str, int] = defaultdict(int)
    for path, text in files.items():
        lines = len(text.splitlines())
        for parent in PurePosixPath(path).parents:
            if str(parent) != ".":
                totals[str(parent)] += lines
    return dict(totals)


def functions(path: str, text: str) -> Iterator[Function]:
    """Every function and method of one file with its length, named `Class.method` or `outer.inner`."""

    def walk(node: ast.AST, prefix: str) -> Iterator[Function]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield Function(path, name, (child.end_lineno or child.lineno) - child.lineno + 1)
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(ast.parse(text, filename=path), "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", help="a commit (default: the working tree)")
    parser.add_argument("--top", type=int, default=15, help="how many of the longest functions to list")
    parser.add_argument("--tests", action="store_true", help="count tests, bench, scripts and migrations too")
    args = parser.parse_args(argv)
    files = {p: t for p, t in python_files(args.revision).items() if counted(p, args.tests)}

    print(f"Python lines per folder ({args.revision or 'working tree'}):")
    totals = folder_lines(files)
    for folder in sorted(totals):
        depth = folder.count("/")
        modules = sum(1 for p in files if str(PurePosixPath(p).parent) == folder)
        print(f"  {'  ' * depth}{PurePosixPath(folder).name + '/':<{34 - 2 * depth}} {totals[folder]:>7,}"
              f"   ({modules} modules here)")
    print(f"  {'total':<34} {sum(len(t.splitlines()) for t in files.values()):>7,}   ({len(files)} modules)")

    longest = sorted((f for p, t in files.items() for f in functions(p, t)), key=lambda f: (-f.lines, f.path))
    print(f"\nThe {args.top} longest functions:")
    for function in longest[: args.top]:
        print(f"  {function.lines:>4}  {function.path}:{function.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
