"""Hypothesis over the phone webhooks: signed requests with random Digits, SpeechResult, CallSid, From, To, call
statuses and our own query parameters (node, language, retries, the number being confirmed, attempt ids), on
PostgreSQL. Twilio always gets valid TwiML (checked against its schema) or a 4xx; a status callback gets 204,
4xx or the database-down 503 with TwiML; never a 5xx page."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.support.phone import assert_valid_twiml, sign

pytestmark = pytest.mark.postgres
BASE = "https://support.example.com"
EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "25")) * 4

TREE = ["/twilio/voice", "/twilio/fallback", "/twilio/ivr/language", "/twilio/ivr/node", "/twilio/ivr/input",
        "/twilio/ivr/offer", "/twilio/ivr/number", "/twilio/ivr/number/confirm", "/twilio/ivr/queue/wait",
        "/twilio/ivr/queue/leave", "/twilio/ivr/queue/done", "/twilio/ivr/dial/done"]
LEGS = ["/twilio/outbound/agent", "/twilio/outbound/agent/connect", "/twilio/outbound/customer",
        "/twilio/outbound/dial-done", "/twilio/outbound/queue", "/twilio/outbound/queue/connect",
        "/twilio/outbound/queue/bridge", "/twilio/outbound/queue/done"]
STATUS = "/twilio/status"

# Text as a form can carry it (no lone surrogates: they cannot be encoded at all), NUL included.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
digits = st.one_of(st.text("0123456789*#", max_size=12), text, st.just("9" * 5000))
numbers = st.one_of(st.sampled_from(["+989121234567", "+442080000000", "+982191000000", "anonymous", "", "+1900555",
                                     "00989121234567", "+98912123456789012"]), text)
statuses = st.one_of(st.sampled_from(["queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed",
                                      "canceled"]), text)
small_ints = st.one_of(st.integers(-5, 20).map(str), st.sampled_from(["", "x", "1e9", "99999999999999999999"]), text)
form_fields = st.fixed_dictionaries({}, optional={
    "Digits": digits, "SpeechResult": text, "CallSid": st.one_of(st.just("CA" + "1" * 32), text),
    "From": numbers, "To": numbers, "Called": numbers, "CallStatus": statuses, "SequenceNumber": small_ints,
    "CallDuration": small_ints, "AnsweredBy": st.one_of(st.sampled_from(["human", "machine_start", "fax"]), text),
    "ErrorCode": small_ints, "QueuePosition": small_ints, "AvgQueueTime": small_ints, "QueueResult": text,
    "DialCallStatus": statuses, "Confidence": text,
})
# Status callbacks as Twilio sends them (so the fuzz reaches past validation), beside the random ones.
well_formed_status = st.fixed_dictionaries({
    "CallSid": st.sampled_from(["CA" + "1" * 32, "CA" + "2" * 32]),
    "CallStatus": st.sampled_from(["queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed",
                                   "canceled"]),
    "SequenceNumber": st.integers(0, 2**40).map(str)}, optional={
    "CallDuration": st.integers(0, 2**40).map(str), "AnsweredBy": st.sampled_from(["human", "machine_start"]),
    "ErrorCode": st.sampled_from(["21211", "13224"]),
})
query_fields = st.fixed_dictionaries({}, optional={
    "n": st.one_of(st.sampled_from(["main", "billing", "order", "callback", "agent", "hours", "nowhere"]), text),
    "l": st.one_of(st.sampled_from(["fa", "en", "de"]), text), "t": small_ints, "r": small_ints, "b": text,
    "s": st.sampled_from(["confirm", "", "x"]), "num": numbers, "d": digits, "attempt": small_ints,
    "leg": st.one_of(st.sampled_from(["agent", "customer", "x"]), text), "agent_call": small_ints,
})


@pytest.fixture(autouse=True)
def _no_phone_number_in_the_logs() -> None:
    """Off here: random digit strings in ids and error codes are logged as they should be, and are no one's number
    (the suite's own conversations keep checking the logs)."""


@pytest.fixture
def line(pg_db: Any, app_config: dict[str, Any], centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": pg_db, "CENTRE": centre, "CLOCK": clock,
                       "RATELIMIT_ENABLED": False})


def signed(app: Any, path: str, query: dict[str, str], form: dict[str, str]) -> Any:
    url = path + (f"?{urlencode(query)}" if query else "")
    token = app.extensions["ivr"].settings.twilio_auth_token
    return app.test_client().post(url, data=form, base_url=BASE,
                                  headers={"X-Twilio-Signature": sign(token, BASE + url, form)})


@pytest.mark.parametrize("group", ["tree", "legs", "status"])
def test_any_signed_webhook_gets_twiml_or_a_4xx(line, group):
    paths = {"tree": TREE, "legs": LEGS, "status": [STATUS]}[group]
    seen: Counter[str] = Counter()
    problems: list[str] = []

    forms = st.one_of(form_fields, well_formed_status) if group == "status" else form_fields

    @given(path=st.sampled_from(paths), query=query_fields, form=forms)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def fuzz(path: str, query: dict[str, str], form: dict[str, str]) -> None:
        answer = signed(line, path, query, form)
        seen[str(answer.status_code)] += 1
        problem = judge(path, answer)
        if problem:
            problems.append(f"{path}?{urlencode(query)} {form!r:.300}: {problem}")
        assert not problem, problems[-1]

    fuzz()
    print(f"{group}: {dict(seen)}")
    assert not problems


def judge(path: str, answer: Any) -> str | None:
    """What is wrong with this answer to Twilio, or None."""
    if 400 <= answer.status_code < 500:
        return None
    if path == STATUS and answer.status_code == 204:
        return None
    if answer.status_code not in (200, 503) or answer.mimetype != "text/xml":
        return f"{answer.status_code} {answer.mimetype}: {answer.data[:200]!r}"
    if answer.status_code == 503 and path != STATUS:
        return "503 on a webhook that must answer TwiML"
    try:
        assert_valid_twiml(answer.data)
    except (AssertionError, etree.XMLSyntaxError) as exc:  # reported as the finding
        return str(exc)[:300]
    return None


def test_unsigned_fuzz_is_refused_before_anything_else(line):
    """The same random requests without a valid signature: 403 every time, nothing else looked at."""

    @given(path=st.sampled_from([*TREE, *LEGS, STATUS]), form=form_fields)
    @settings(max_examples=EXAMPLES // 4, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def fuzz(path: str, form: dict[str, str]) -> None:
        answer = line.test_client().post(path, data=form, base_url=BASE, headers={"X-Twilio-Signature": "x"})
        assert answer.status_code == 403

    fuzz()


@pytest.mark.parametrize("query", ["attempt=99999999999999999999", "attempt=-3", "agent_call=9223372036854775808"])
@pytest.mark.parametrize("path", ["/twilio/outbound/agent", "/twilio/outbound/customer", "/twilio/outbound/queue"])
def test_an_id_beyond_any_row_in_our_own_url_is_an_unknown_call_not_a_500(line, path, query):
    name, _, value = query.partition("=")
    answer = signed(line, path, {name: value}, {"CallSid": "CA" + "2" * 32, "CallStatus": "in-progress"})
    assert answer.status_code == 200
    root = assert_valid_twiml(answer.data)
    assert root.find(".//Dial") is None and root.find("Hangup") is not None
