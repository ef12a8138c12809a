"""Log lines as an operator reads them: JSON in production, text in development, numbers masked wherever they
come from, the request id on every line; and the detector the whole suite's log check relies on."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from callbacks.logs import make_handler, request_id_scope
from tests.support.logs import leaks_in

NUMBER = "+989121234567"
MASKED = "+98912***4567"


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True


def test_production_lines_are_json_objects_with_the_request_id_and_fields(written):
    logger, stream = written
    logger.addHandler(make_handler("json", stream))
    with request_id_scope("req-0123456789"):
        logger.info("POST /twilio/status 204", extra={"call_sid": "CA" + "1" * 32, "attempt_id": 7})
    line = json.loads(stream.getvalue())
    assert line["level"] == "INFO" and line["logger"] == "tests.logs" and line["message"] == "POST /twilio/status 204"
    assert line["request_id"] == "req-0123456789" and line["call_sid"] == "CA" + "1" * 32 and line["attempt_id"] == 7
    assert line["time"].startswith("20")


def test_development_lines_are_text_with_the_fields_at_the_end(written):
    logger, stream = written
    logger.addHandler(make_handler("text", stream))
    logger.warning("attempt 7 of callback K7Q2: call not placed", extra={"error_code": "20429"})
    text = stream.getvalue()
    assert "WARNING tests.logs: attempt 7 of callback K7Q2: call not placed (error_code=20429)" in text


@pytest.mark.parametrize("style", ["text", "json"])
def test_a_number_is_masked_in_the_message_the_fields_and_an_exceptions_text(written, style):
    logger, stream = written
    logger.addHandler(make_handler(style, stream))
    try:
        raise ValueError(f"Twilio refused To={NUMBER}")
    except ValueError:
        logger.exception("could not call %s", NUMBER, extra={"to": NUMBER})
    out = stream.getvalue()
    assert NUMBER not in out
    assert out.count(MASKED) >= 3


def test_the_suites_log_check_sees_full_numbers_and_typed_digits_but_not_masked_ones_or_ids():
    assert leaks_in(f"callback for {NUMBER}") == [NUMBER]
    assert leaks_in("the caller typed 09121234567") == ["09121234567"]
    assert leaks_in(f"callback for {MASKED}, call CA{'0' * 31}1, request 9f8e7d6c5b4a, 2026-11-22 10:00") == []
    assert leaks_in("attempt 42 of callback K7Q2 pressed 1") == []


def test_lean_records_write_the_same_lines_without_walking_the_stack(written, monkeypatch):
    from callbacks.logs import lean_records

    for switch in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, switch, getattr(logging, switch))  # put back after the test
    logger, stream = written
    logger.addHandler(make_handler("json", stream))
    seen: list[logging.LogRecord] = []
    logger.addFilter(lambda record: seen.append(record) or True)
    logger.info("POST /twilio/voice 200", extra={"call_sid": "CA" + "2" * 32, "caller": NUMBER})
    lean_records()
    logger.info("POST /twilio/voice 200", extra={"call_sid": "CA" + "2" * 32, "caller": NUMBER})
    before, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {k: v for k, v in before.items() if k != "time"} == {k: v for k, v in after.items() if k != "time"}
    assert after["caller"] == MASKED
    assert seen[0].lineno > 0 and seen[1].lineno == 0  # the caller's line was not looked up
