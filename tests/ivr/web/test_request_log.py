"""One log line per request: a Twilio webhook's line names its call, its attempt and the callback it was about;
every response carries the request id its lines carry; a customer's private status link never reaches the logs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from callbacks.logs import make_handler
from telephony.fake import FakeProvider
from tests.support.network import CALLER_ID, PhoneNetwork, add_agents, make_dispatcher, request_callback
from tests.support.phone import sign


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


@pytest.fixture
def written_as(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO]]:
    """The request lines as production writes them (the same handler, formatter and filters), in `style`."""
    style = request.param
    stream = io.StringIO()
    handler = make_handler(style, stream)
    requests_log = logging.getLogger("ivr.requests")
    requests_log.addHandler(handler)
    try:
        yield style, stream
    finally:
        requests_log.removeHandler(handler)


def menu_step(client: Any, app: Any) -> tuple[Any, str]:
    """A caller pressing 1 in the main menu: one signed webhook, as Twilio sends it."""
    url = app.extensions["ivr"].settings.public_base_url + "/twilio/ivr/input?n=main&l=en"
    sid = "CA" + "5" * 32
    params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+989121234567", "To": "+982191000001",
              "CallStatus": "in-progress", "Direction": "inbound", "Digits": "1"}
    response = client.post("/twilio/ivr/input?n=main&l=en", data=params, base_url="https://support.example.com",
                           headers={"X-Twilio-Signature": sign("test-auth-token", url, params)})
    assert response.status_code == 200, response.data
    return response, sid


@pytest.mark.parametrize("written_as", ["text"], indirect=True)
def test_a_webhooks_line_reads_the_same_to_an_operator_in_text(app, client, written_as):
    _, stream = written_as
    response, sid = menu_step(client, app)
    request_id = response.headers["X-Request-Id"]
    [line] = stream.getvalue().splitlines()
    pattern = (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ivr\.requests: POST /twilio/ivr/input 200 (\d+\.\d)ms "
               rf"\(endpoint=voice\.input_view status=200 duration_ms=\1 request_id={request_id} call_sid={sid} "
               r"call_status=in-progress\)")
    assert re.fullmatch(pattern, line), line


@pytest.mark.parametrize("written_as", ["json"], indirect=True)
def test_a_webhooks_line_reads_the_same_to_an_operator_in_json(app, client, written_as):
    _, stream = written_as
    response, sid = menu_step(client, app)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    duration = line["duration_ms"]
    assert isinstance(duration, float)
    assert list(line.items()) == [
        ("time", line["time"]), ("level", "INFO"), ("logger", "ivr.requests"),
        ("message", f"POST /twilio/ivr/input 200 {duration:.1f}ms"), ("endpoint", "voice.input_view"),
        ("status", 200), ("duration_ms", duration), ("request_id", response.headers["X-Request-Id"]),
        ("call_sid", sid), ("call_status", "in-progress"),
    ]


@pytest.mark.parametrize("written_as", ["text"], indirect=True)
def test_a_number_in_an_unknown_path_is_masked_in_its_line(client, written_as):
    _, stream = written_as
    client.get("/+989121234567")
    [line] = stream.getvalue().splitlines()
    assert "GET /+98912***4567 404" in line and "+989121234567" not in line


def test_the_line_of_a_request_that_creates_a_callback_names_it(client, auth, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.requests"):
        created = client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=auth)
        again = client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=auth)
    assert (created.status_code, again.status_code) == (201, 200)
    lines = [r for r in request_lines(caplog) if r.getMessage().startswith("POST /api/v1/callbacks")]
    assert [getattr(r, "callback", None) for r in lines] == [created.json["reference"]] * 2
