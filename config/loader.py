"""Load and validate the contact-centre YAML; every problem names the file, the YAML path and the line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.menus import phone_tree_problems
from config.problems import ConfigError, ConfigProblem, validation_problems
from config.schema import ContactCentre, promise_problems

# Checks over the validated model that need the whole file (cross-references, the menu's promises).
# Each yields (yaml path as a tuple, message).
Check = Callable[[ContactCentre], Iterator[tuple[tuple[Any, ...], str]]]


def _references(centre: ContactCentre) -> Iterator[tuple[tuple[Any, ...], str]]:
    if centre.default_queue not in centre.queues:
        yield ("default_queue",), f"{centre.default_queue!r} is not one of the queues {sorted(centre.queues)}"
    if centre.default_language not in centre.languages:
        yield ("default_language",), f"{centre.default_language!r} is not one of languages {centre.languages}"
    for queue_id, queue in centre.queues.items():
        missing = [lang for lang in centre.languages if lang not in queue.name]
        if queue.name and missing:
            yield ("queues", queue_id, "name"), f"no name in {missing} (languages are {centre.languages})"


def _promises(centre: ContactCentre) -> Iterator[tuple[tuple[Any, ...], str]]:
    for queue_id, queue in centre.queues.items():
        yield from promise_problems(queue_id, queue)


# Every whole-file check, in the order their problems are listed.
CHECKS: tuple[Check, ...] = (_references, _promises, phone_tree_problems)


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
        ConfigProblem(_dotted(loc), message, _line_of(root, loc)) for check in CHECKS for loc, message in check(centre)
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

