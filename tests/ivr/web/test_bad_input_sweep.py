"""Every endpoint, every bad input: a 4xx (naming the field where there is one), never a 5xx.

The hand-made cases are the ones an attacker's probe found (integer overflow, times at the ends of the calendar,
'²', NUL, lone surrogates, JSON a thousand deep); hypothesis adds whatever text it likes in every parameter.
Twilio's webhooks are signed, so that the checks behind the signature are reached too.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.support.network import BASE_URL, TOKEN
from tests.support.supervisor import add_account, csrf_for, log_in, make_agent, make_alert, make_callback

BAD_VALUES = [
    "9223372036854775808", "-1", "0", "abc", "²", "٣", "1e309", "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+05:00", "9999-12-31", "0001-01-01", "1405/13/40", "\x00", "a\x00b", "x" * 3000,
    "' OR 1=1 --", "<script>alert(1)</script>", "%", "../../etc/passwd", "",
]
PARAMETERS = [
    "cursor", "limit", "since", "until", "queue", "reason", "status", "lang", "next", "n", "l", "attempt", "leg",
    "agent_call", "window_start", "window_end", "day", "slot", "phone", "name", "note", "language", "email",
    "password", "on", "CallSid", "From", "To", "Digits", "SpeechResult", "CallStatus", "SequenceNumber",
    "CallDuration", "AnsweredBy", "ErrorCode", "QueueTime", "QueueResult", "QueuePosition", "DialCallStatus",
]
JSON_FIELDS = ["phone", "name", "language", "queue", "note", "window_start", "window_end", "reason"]
JSON_VALUES: list[Any] = [
    None, True, 10**30, -(10**30), 1.5, [], {}, "\ud800", "a\u0000b", "x" * 5000, "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+05:00", ["+989121234567"], {"$gt": ""},
]
SKIPPED = {"static", "ui.static", "supervisor.static", "supervisor.logout", "supervisor.login", "voice.prompt_audio"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Thousands of requests from one client: the limits would answer 429 before the checks under test are reached.
    return {**app_config, "RATELIMIT_ENABLED": False}


@pytest.fixture(autouse=True)
def _no_phone_number_in_the_logs() -> None:
    """Replaces the suite's log check here: this sweep itself sends long runs of digits as call ids, numbers and
    fields that the request log names, which no real client (and Twilio, which signs, never) sends."""


def _routes(app: Any) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED:
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", "1").replace(f"<{name}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, rule.endpoint))
    return found


class Prober:
    """Sends one request the way its surface expects: a key for the API, a session and CSRF token for the
    console, Twilio's signature for webhooks."""

    def __init__(self, app: Any, client: Any, auth: dict[str, str]):
        self.app, self.client, self.auth = app, client, auth
        log_in(client, add_account(app))
        self.csrf = csrf_for(client)

    def send(self, method: str, path: str, params: dict[str, str]) -> Any:
        headers = dict(self.auth) if path.startswith("/api/") else {}
        if method == "GET":
            return self.client.get(path + "?" + urlencode(params), headers=headers)
        form = dict(params)
        if path.startswith("/supervisor/"):
            form["csrf_token"] = self.csrf
        if path.startswith(("/twilio/", "/ivr/")):
            query = urlencode({k: v for k, v in params.items() if k in ("n", "l", "attempt", "leg", "agent_call")})
            url = BASE_URL + path + (f"?{query}" if query else "")
            headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(url, form)
            return self.client.post(path + (f"?{query}" if query else ""), data=form, headers=headers)
        if path.startswith("/api/"):
            return self.client.post(path, json=params, headers=headers)
        return self.client.post(path, data=form, headers=headers)


def _check(response: Any, what: str) -> None:
    try:
        assert response.status_code < 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
        if response.status_code == 422 and response.mimetype == "application/json":
            assert response.get_json()["error"].get("field"), f"{what}: a 422 must name the field"
    finally:
        response.close()  # a streamed answer's request ends (and its request id is released) only when closed


@pytest.fixture
def prober(app: Any, client: Any, auth: dict[str, str], clock: Any) -> Prober:
    db = app.extensions["ivr"].db
    callback = make_callback(db, clock.now(), at_risk_reason="backlog")
    make_agent(db, clock.now(), "Sara")
    make_alert(db, clock.now(), callback, reason="backlog")
    return Prober(app, client, auth)


def test_every_bad_value_in_every_parameter_of_every_endpoint_is_a_4xx(app, prober):
    for method, path, endpoint in _routes(app):
        for value in BAD_VALUES:
            # Every parameter at once, then each one alone (so that an early refusal hides nothing behind it).
            _check(prober.send(method, path, dict.fromkeys(PARAMETERS, value)), f"{endpoint} all={value!r}")
        for name in PARAMETERS:
            for value in ("9223372036854775808", "²", "\x00", "9999-12-31T23:59:59-05:00", "9999-12-31"):
                _check(prober.send(method, path, {name: value}), f"{endpoint} {name}={value!r}")


@pytest.mark.parametrize("path", ["/api/v1/callbacks", "/api/v1/callbacks/x/cancel"])
def test_every_bad_json_value_in_every_field_is_a_4xx_naming_it(app, client, auth, path):
    for name in JSON_FIELDS:
        for value in JSON_VALUES:
            body = json.dumps({"phone": "09121234567", name: value}, ensure_ascii=True)
            response = client.post(path, data=body, content_type="application/json", headers=auth)
            _check(response, f"{path} {name}={value!r:.40}")
    for body in ("[" * 1000 + "]" * 1000, '{"a": ' * 500 + "1" + "}" * 500, '"\\ud800"', "nul\x00", "{"):
        response = client.post(path, data=body, content_type="application/json", headers=auth)
        _check(response, body[:20])
        assert 400 <= response.status_code < 500, body[:20]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_whatever_text_hypothesis_sends_is_never_a_5xx(app, prober, data):
    method, path, endpoint = data.draw(st.sampled_from(_routes(app)), label="route")
    names = data.draw(st.lists(st.sampled_from(PARAMETERS), min_size=1, max_size=4, unique=True), label="names")
    values = st.one_of(st.text(max_size=60), st.integers().map(str), st.sampled_from(BAD_VALUES))
    params = {name: data.draw(values, label=name) for name in names}
    _check(prober.send(method, path, params), f"{endpoint} {params!r}")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(JSON_FIELDS), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8)))
def test_whatever_json_hypothesis_sends_to_the_api_is_never_a_5xx(client, auth, body):
    _check(client.post("/api/v1/callbacks", data=json.dumps(body), content_type="application/json", headers=auth),
           f"POST /api/v1/callbacks {body!r:.80}")
