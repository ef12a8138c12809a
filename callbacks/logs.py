"""How both processes log: JSON lines in production, readable text in development, phone numbers masked, and the
id of the web request a line belongs to.

The request id is a context variable: the web sets it for each request, the callback service writes it into the
new callback's first history row, and the worker reads it back from there for its lines about that callback's
attempts, so one id follows a callback from the request that asked for it to the calls that kept it.

Code masks numbers itself (`callbacks.phones.mask`); `MaskPhoneNumbers` is the last line of defence for text we
did not write (a library's message, an exception's text). Collected digits (what a caller typed) are never logged.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from callbacks.phones import mask

REQUEST_ID: ContextVar[str | None] = ContextVar("ivr_request_id", default=None)
# An E.164 number standing alone (not the tail of a longer token such as a call sid).
E164 = re.compile(r"(?<![\w+*])\+\d{7,15}(?!\d)")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose chatter production does not want: the twilio client writes every REST request at INFO, with
# its query (the numbers looked up) and headers; APScheduler writes a line per job run.
QUIET_LOGGERS = {"twilio.http_client": logging.WARNING, "apscheduler": logging.WARNING}
# The attributes every LogRecord has; anything else on a record came in `extra=` and is a field of the line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def current_request_id() -> str | None:
    """The id of the web request being served in this context, if any."""
    return REQUEST_ID.get()


@contextmanager
def request_id_scope(request_id: str | None) -> Iterator[None]:
    """Run a block on behalf of `request_id` (its log lines and the callbacks it creates carry it)."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


def mask_numbers(text: str) -> str:
    """`text` with every E.164 number in it masked."""
    # No "+", no number: most lines (and every field of most lines) skip the regular expression.
    return E164.sub(lambda m: mask(m.group(0)), text) if "+" in text else text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The extra fields of a record (those given with `extra=`, and the request id)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"}


class RequestContext(logging.Filter):
    """Adds the current request id to every record that does not carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = REQUEST_ID.get()
        if current is not None and getattr(record, "request_id", None) is None:
            record.request_id = current
        return True


class MaskPhoneNumbers(logging.Filter):
    """Masks any E.164 number in a record's message and string fields before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logging module's to report, not ours to hide
            return True
        masked = mask_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in fields_of(record).items():
            if isinstance(value, str) and (masked := mask_numbers(value)) != value:
                setattr(record, key, masked)
        if record.exc_info:
            # An exception's text may hold a number (a rejected phone, a failed request's URL): written masked.
            record.exc_text = mask_numbers(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class TextFormatter(logging.Formatter):
    """`2026-11-22 10:00:00,000 INFO ivr.web.requestlog: POST /twilio/voice 200 (call_sid=CA.. request_id=..)`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in fields_of(record).items() if v is not None}
        if not extra:
            return line
        first, _, rest = line.partition("\n")
        pairs = " ".join([f"{k}={v}" for k, v in extra.items()])
        return f"{first} ({pairs})" + (f"\n{rest}" if rest else "")


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, request id and the record's extra fields."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        ["asctime", "levelname", "name", "message"],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )


def formatter(style: Literal["text", "json"]) -> logging.Formatter:
    """The formatter of LOG_FORMAT."""
    return json_formatter() if style == "json" else TextFormatter()


def make_handler(style: Literal["text", "json"], stream: Any = None) -> logging.Handler:
    """A handler writing to stderr (journald and container logs read it) in `style`, numbers masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(style))
    handler.addFilter(RequestContext())
    handler.addFilter(MaskPhoneNumbers())
    return handler


def lean_records() -> None:
    """Records without what no line of ours writes (TEXT_FORMAT and the JSON fields use none of it): the file and
    line of the call (a walk up the stack for every record), the thread's and the process's names. The logging
    module's own switches for this (its documentation's "Optimization" section); a line per web request is most
    of what this process logs."""
    setattr(logging, "_srcfile", None)  # noqa: B010 (not in the typing stubs)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(style: Literal["text", "json"] = "text", level: str | int = "INFO") -> None:
    """Route every logger of this process to one handler in `style` (replacing any handlers the root had)."""
    lean_records()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(style))
    root.setLevel(level)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)


def would_be_written(record: logging.LogRecord, level: int = logging.INFO) -> bool:
    """Whether production logging (at `level`, with QUIET_LOGGERS) writes `record`."""
    floor = level
    for name, quiet in QUIET_LOGGERS.items():
        if record.name == name or record.name.startswith(name + "."):
            floor = max(floor, quiet)
    return record.levelno >= floor


__all__ = [
    "E164",
    "QUIET_LOGGERS",
    "REQUEST_ID",
    "MaskPhoneNumbers",
    "RequestContext",
    "TextFormatter",
    "configure_logging",
    "current_request_id",
    "fields_of",
    "formatter",
    "lean_records",
    "make_handler",
    "mask_numbers",
    "request_id_scope",
    "would_be_written",
]
