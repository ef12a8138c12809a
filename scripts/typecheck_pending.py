"""Type errors left in the packages `pyproject.toml` marks "not yet checked", counted per package.

    python scripts/typecheck_pending.py                  # callbacks scheduler ivr
    python scripts/typecheck_pending.py callbacks -v     # one package, with every error

Runs mypy with the project's settings minus the `ignore_errors` overrides, so the figures are what `make test`
would report once a package is taken off that list (strict on callbacks/ and config/, default elsewhere).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ERROR = re.compile(r"^(?P<path>[^:]+\.py):\d+(?::\d+)?: error: ")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def config_without_pending(pyproject: Path) -> tuple[str, list[str]]:
    """The [tool.mypy] settings with no `ignore_errors` override (as TOML), and the modules those overrides named."""
    mypy = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mypy"]
    lines = ["[tool.mypy]"] + [f"{key} = {toml_value(value)}" for key, value in mypy.items() if key != "overrides"]
    pending: list[str] = []
    for override in mypy.get("overrides", []):
        if override.get("ignore_errors"):
            pending += override["module"]
            continue
        lines += ["", "[[tool.mypy.overrides]]"] + [f"{key} = {toml_value(value)}" for key, value in override.items()]
    return "\n".join(lines) + "\n", pending


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=["callbacks", "scheduler", "ivr"])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every error too")
    args = parser.parse_args(argv)
    text, pending = config_without_pending(ROOT / "pyproject.toml")
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "mypy.toml"
        config.write_text(text, encoding="utf-8")
        result = subprocess.run(  # noqa: S603 - our own interpreter running mypy on our own packages
            [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", ".mypy_cache/pending",
             *args.packages],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
    errors = [(match["path"], line) for line in result.stdout.splitlines() if (match := ERROR.match(line))]
    if args.verbose:
        print("\n".join(line for _path, line in errors))
    per_package = Counter(Path(path).parts[0] for path, _line in errors)
    files = Counter(Path(path).parts[0] for path in {path for path, _line in errors})
    print(f"not yet checked in pyproject.toml: {', '.join(pending)}")
    for package in args.packages:
        print(f"  {package + '/':<12} {per_package[package]:>4} errors in {files[package]} files")
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()
    print(f"  {'total':<12} {len(errors):>4} errors   (mypy: {summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
