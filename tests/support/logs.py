"""What must never be in a log line: a phone number in full (E.164 or as typed) or the digits a caller keyed in."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from callbacks.logs import E164, fields_of, would_be_written

# A national number or typed digits: seven or more digits standing alone (not inside a call sid, a hex id or a
# masked number such as +98912***4567).
TYPED_DIGITS = re.compile(r"(?<![\w+*.:/-])\d{7,}(?![\w*])")


def leaks_in(text: str) -> list[str]:
    """Every full phone number or run of typed digits in `text`."""
    return [m.group(0) for m in E164.finditer(text)] + [m.group(0) for m in TYPED_DIGITS.finditer(text)]


def leaks(records: Iterable[logging.LogRecord]) -> list[str]:
    """`logger: message` of each record production would write whose message or fields show a number."""
    found = []
    for record in records:
        if not would_be_written(record):
            continue
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        texts = [message, *(str(v) for v in fields_of(record).values() if v is not None)]
        shown = [leak for text in texts for leak in leaks_in(text)]
        if shown:
            found.append(f"{record.name}: {message!r} shows {shown}")
    return found


class Collector(logging.Handler):
    """Keeps every record that reaches the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
