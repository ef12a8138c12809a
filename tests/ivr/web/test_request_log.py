"""One log line per request: a Twilio webhook's line names its call, its attempt and the callback it was about;
every response carries the request id its lines carry; a customer's private status link never reaches the logs."""

from __future__ import annotations

import logging

import pytest

from telephony.fake import FakeProvider
from tests.support.network import CALLER_ID, PhoneNetwork, add_agents, make_dispatcher, request_callback


@pytest.fixture
def app_config(app_config):
    return {**app_config, "twilio_phone_number": CALLER_ID}


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ivr.requests"]


def test_each_status_webhook_of_an_attempt_is_one_line_with_call_attempt_and_callback(app, client, clock, caplog):
    provider = FakeProvider(clock=clock)
    add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    with caplog.at_level(logging.INFO, logger="ivr.requests"):
        call = PhoneNetwork(client, provider).agent_first_call("completed", talk=60)
    statuses = [r for r in request_lines(caplog) if r.endpoint == "twilio_status.status"]
    assert len(statuses) == 7  # agent: ringing, in-progress, completed; customer: initiated, ringing, .., completed
    assert {r.attempt_id for r in statuses} == {call["attempt"]}
    assert {r.callback for r in statuses} == {callback.reference}
    assert {r.call_sid for r in statuses} == {call["agent_sid"], call["customer_sid"]}
    finished = [r for r in statuses if r.call_status == "completed"]
    assert len(finished) == 2 and all(r.status == 204 for r in finished)
    assert all(r.getMessage().startswith("POST /twilio/status 204") for r in statuses)
    assert len({r.request_id for r in statuses}) == 7  # one id per request


def test_a_request_id_from_the_proxy_is_kept_and_a_missing_or_odd_one_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-Id": "nginx-4f1c2a9b7e"})
    assert kept.headers["X-Request-Id"] == "nginx-4f1c2a9b7e"
    made = client.get("/healthz").headers["X-Request-Id"]
    odd = client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert len(made) == 32 and len(odd) == 32 and made != odd


def test_a_status_link_is_logged_by_its_route_not_its_private_token(client, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.requests"):
        client.get("/callback/status/a-secret-token-of-someone", headers={"Accept-Language": "en"})
    [line] = request_lines(caplog)
    assert line.getMessage().startswith("GET /callback/status/<token> ")
    assert "a-secret-token-of-someone" not in line.getMessage()


def test_request_ids_differ_per_request_and_per_process() -> None:
    import subprocess
    import sys

    from ivr.web.requestlog import new_request_id

    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    script = "from ivr.web.requestlog import new_request_id; print(new_request_id())"
    other = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
             for _ in range(2)}
    assert len(other) == 2 and not other & ids
