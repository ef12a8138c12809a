"""What can be wrong with the contact-centre YAML, said the way an operator reads it (file, line, YAML path)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the file: where (YAML path, line) and what was expected."""

    path: str
    message: str
    line: int | None = None

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {self.path or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """The configuration file cannot be used; `problems` lists every reason."""

    def __init__(self, file: str, problems: list[ConfigProblem]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))



def validation_problems(exc: ValidationError) -> Iterator[tuple[tuple[Any, ...], str]]:
    """pydantic's errors as (YAML location, message an operator understands)."""
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check its spelling and indentation)"
        elif err["type"] == "missing":
            msg = "required setting is missing"
        yield loc, msg
