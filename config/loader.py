"""Load and validate the contact-centre YAML; every problem names the file, the YAML path and the line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.schema import ContactCentre


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


# Checks over the validated model that need the whole file (cross-references, the menu's promises).
# Each yields (yaml path as a tuple, message).
Check = Callable[[ContactCentre], Iterator[tuple[tuple[Any, ...], str]]]
_checks: list[Check] = []


def register_check(check: Check) -> Check:
    """Add a whole-file check run by every load (used by the phone tree for its menu promises)."""
    if check not in _checks:
        _checks.append(check)
    return check


@register_check
def _references(centre: ContactCentre) -> Iterator[tuple[tuple[Any, ...], str]]:
    if centre.default_queue not in centre.queues:
        yield ("default_queue",), f"{centre.default_queue!r} is not one of the queues {sorted(centre.queues)}"
    if centre.default_language not in centre.languages:
        yield ("default_language",), f"{centre.default_language!r} is not one of languages {centre.languages}"
    for queue_id, queue in centre.queues.items():
        missing = [lang for lang in centre.languages if lang not in queue.name]
        if queue.name and missing:
            yield ("queues", queue_id, "name"), f"no name in {missing} (languages are {centre.languages})"


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


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node along `loc` (pydantic's error location)."""
    node, line = root, None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if node is None:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    if node is not None:
        line = node.start_mark.line + 1
    return line


def parse_contact_centre(text: str, file: str = "<string>") -> ContactCentre:
    """Validate YAML text; raise ConfigError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            file, [ConfigProblem("", f"not valid YAML: {problem}", mark.line + 1 if mark else None)]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(file, [ConfigProblem("", "expected a mapping of settings at the top of the file")])
    try:
        centre = ContactCentre.model_validate(data)
    except ValidationError as exc:
        problems = [ConfigProblem(_dotted(loc), msg, _line_of(root, loc)) for loc, msg in validation_problems(exc)]
        raise ConfigError(file, problems) from None
    problems = [
        ConfigProblem(_dotted(loc), message, _line_of(root, loc)) for check in _checks for loc, message in check(centre)
    ]
    if problems:
        raise ConfigError(file, problems)
    return centre


def load_contact_centre(path: str | Path) -> ContactCentre:
    """Read and validate the contact-centre YAML file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), [ConfigProblem("", "the file is not UTF-8 text")]) from None
    return parse_contact_centre(text, str(path))


# The phone tree registers its checks (menu promises) on import; imported last to avoid a cycle.
import config.menus  # noqa: E402, F401
