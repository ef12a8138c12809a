"""No door left open: the nine findings of an attacker's probe, each shown closed.

1 simulator exposure, 2 bad input gives 500, 3 the streamed report breaking after a 200, 4 sessions after log-out,
5 login lockout telling who exists, 6 one rate-limit bucket behind a proxy, 7 the status webhook believing what it
is told, 8 API keys seeing everything, 9 headers and monitoring endpoints. The sweep of bad inputs over every
endpoint is in test_bad_input_sweep.py.
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from callbacks.apikeys import create_api_key
from config.settings import SettingsError
from tests.support.network import (
    BASE_URL,
    CALLER_ID,
    TOKEN,
    PhoneNetwork,
    add_agents,
    attempts_of,
    make_dispatcher,
    request_callback,
)
from tests.support.phone import sign
from tests.support.supervisor import add_account, csrf_for, log_in

BEARER = "Bearer "


def _client(app: Any, environ: dict[str, str]) -> Any:
    client = app.test_client()
    client.environ_base.update(environ)
    return client


def _app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any, **overrides: Any) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock, **overrides})


# -- 1. the simulator is never public by accident, never signs with a real token ----------------------------------
def test_a_twilio_token_without_its_account_sid_stops_the_app_naming_the_missing_variable(
    app_config, sqlite_db, centre, clock
):
    with pytest.raises(SettingsError, match="TWILIO_ACCOUNT_SID"):
        _app(app_config, sqlite_db, centre, clock, twilio_account_sid="", twilio_auth_token="real-token")
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        _app(app_config, sqlite_db, centre, clock, twilio_account_sid="AC" + "1" * 32, twilio_auth_token="")


def test_telephony_simulator_beside_real_credentials_is_refused(app_config, sqlite_db, centre, clock):
    with pytest.raises(SettingsError, match="TELEPHONY=simulator"):
        _app(app_config, sqlite_db, centre, clock, telephony="simulator")


def test_without_credentials_on_a_public_address_the_simulator_is_not_mounted(app_config, sqlite_db, centre, clock):
    app = _app(app_config, sqlite_db, centre, clock, twilio_account_sid="", twilio_auth_token="")
    client = app.test_client()
    assert "simulator" not in app.extensions
    assert client.get("/simulator/api/state").status_code == 404
    assert client.post("/simulator/api/calls", json={"from": "+989121234567", "to": "+982191000000"}).status_code == 404


def test_on_a_local_address_the_simulator_signs_with_its_own_account_only(app_config, sqlite_db, centre, clock):
    app = _app(app_config, sqlite_db, centre, clock, twilio_account_sid="", twilio_auth_token="",
               public_base_url="http://127.0.0.1:5000", SIMULATOR_THREAD=False)
    engine = app.extensions["simulator"].engine
    assert engine.auth_token not in ("", "test-auth-token")
    assert app.test_client().get("/simulator/api/state").status_code == 200


def test_a_public_demo_needs_the_explicit_flag(app_config, sqlite_db, centre, clock, caplog):
    app = _app(app_config, sqlite_db, centre, clock, twilio_account_sid="", twilio_auth_token="",
               simulator_public_demo=True, SIMULATOR_THREAD=False)
    assert "simulator" in app.extensions
    assert "SIMULATOR_PUBLIC_DEMO is set" in caplog.text


# -- 2. bad input: a 4xx naming the field, nothing saved -------------------------------------------------------------
BAD_API_QUERIES = [
    ("/api/v1/callbacks?cursor=9223372036854775808", "cursor"),
    ("/api/v1/callbacks?cursor=abc", "cursor"),
    ("/api/v1/callbacks?limit=%C2%B2", "limit"),
    ("/api/v1/callbacks?since=9999-12-31T23:59:59-05:00", "since"),
    ("/api/v1/callbacks?until=0001-01-01T00:00:00%2B05:00", "until"),
    ("/api/v1/callbacks?queue=%00", "queue"),
    ("/api/v1/reports/missed?since=9999-12-31T23:59:59-05:00", "since"),
    ("/api/v1/reports/missed?until=0001-01-01T00:00:00%2B05:00", "until"),
    ("/api/v1/callbacks/%00", "callback_id"),
]


@pytest.mark.parametrize(("url", "field"), BAD_API_QUERIES)
def test_a_bad_query_parameter_is_a_4xx_naming_it(client, auth, url, field):
    response = client.get(url, headers=auth)
    assert 400 <= response.status_code < 500, response.data
    assert response.get_json()["error"]["field"] == field


BAD_BODIES = [
    ('{"phone": "09121234567", "window_start": "9999-12-31T23:59:59-05:00"}', "window_start"),
    ('{"phone": "09121234567", "window_end": "0001-01-01T00:00:00+05:00"}', "window_end"),
    ('{"phone": "09121234567", "name": "\\ud800"}', "name"),
    ('{"phone": "09121234567", "note": "a\\u0000b"}', "note"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_a_bad_field_in_a_request_is_a_422_naming_it_and_nothing_is_saved(app, client, auth, body, field):
    response = client.post("/api/v1/callbacks", data=body, content_type="application/json", headers=auth)
    assert response.status_code == 422, response.data
    assert response.get_json()["error"]["field"] == field
    assert app.extensions["ivr"].service.list() == []


def test_json_nested_a_thousand_deep_is_malformed_not_a_crash(app, client, auth):
    body = '{"phone": ' + "[" * 1000 + "]" * 1000 + "}"
    response = client.post("/api/v1/callbacks", data=body, content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("path", ["/supervisor/reports/missed", "/supervisor/reports/missed.csv",
                                  "/supervisor/reports/sla", "/supervisor/reports/sla.json"])
def test_a_report_until_the_end_of_the_calendar_is_a_400_naming_until(app, client, path):
    log_in(client, add_account(app))
    response = client.get(f"{path}?until=9999-12-31")
    assert response.status_code == 400
    if path.endswith((".csv", ".json")):
        assert response.get_json()["error"]["field"] == "until"
    else:
        assert "until: " in response.get_data(as_text=True)  # the date in the page's own digits


@pytest.mark.parametrize(("lang", "words"), [("en", "contains a character"), ("fa", "نویسه‌ای دارد")])
def test_a_nul_typed_into_the_public_form_is_refused_in_the_readers_language(app, client, lang, words):
    response = client.post(f"/callback?lang={lang}", data={"phone": "09121234567", "name": "Sa\x00ra"})
    assert response.status_code == 422
    assert words in response.get_data(as_text=True) and "name" in response.get_data(as_text=True)
    assert app.extensions["ivr"].service.list() == []


def test_a_nul_behind_a_good_value_of_the_same_parameter_is_refused_naming_it(app, client, auth):
    response = client.get("/api/v1/callbacks?limit=5&queue=general&queue=%00", headers=auth)
    assert response.status_code == 422, response.data
    assert response.get_json()["error"]["field"] == "queue"


def test_a_nul_in_the_second_name_field_of_the_public_form_is_refused_and_nothing_is_saved(app, client):
    form = MultiDict([("phone", "09121234567"), ("name", "Sara"), ("name", "Sa\x00ra")])
    response = client.post("/callback?lang=en", data=form)
    assert response.status_code == 422
    assert "contains a character" in response.get_data(as_text=True) and "name" in response.get_data(as_text=True)
    assert app.extensions["ivr"].service.list() == []


# -- 3. a streamed report checks everything before its first byte ---------------------------------------------------
def test_the_streamed_missed_report_refuses_a_bad_range_before_sending_anything(client, auth):
    response = client.get("/api/v1/reports/missed?since=9999-12-31T23:59:59-05:00", headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "since"


# -- 4. sessions that end ---------------------------------------------------------------------------------------------
def _copy_cookies(source: Any, target: Any) -> None:
    for cookie in source._cookies.values():
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def test_a_copied_session_cookie_stops_working_at_log_out(app, client):
    log_in(client, add_account(app))
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert thief.get("/supervisor/board.json").status_code == 200
    assert client.post("/supervisor/logout", data={"csrf_token": csrf_for(client)}).status_code == 302
    assert thief.get("/supervisor/board.json").status_code == 401


def test_logout_all_from_the_command_line_ends_every_session(app, client):
    from cli.supervisor import supervisor_cli

    log_in(client, add_account(app))
    other = app.test_client()
    log_in(other, "boss@example.com")
    done = app.test_cli_runner().invoke(supervisor_cli, ["logout-all", "boss@example.com"])
    assert done.exit_code == 0, done.output
    assert client.get("/supervisor/board.json").status_code == 401
    assert other.get("/supervisor/board.json").status_code == 401
    assert log_in(client, "boss@example.com").status_code == 302  # logging in again works


# -- 5. log-in: the same answer for unknown and locked accounts; nobody locks a supervisor out ------------------------
def _login_error(html: str) -> str:
    match = re.search(r'id="login-error">([^<]*)<', html)
    assert match, "no error shown"
    return match.group(1)


def _timed_log_in(client: Any, email: str, password: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    response = log_in(client, email, password)
    return response.status_code, response.get_data(as_text=True), time.perf_counter() - started


def test_a_locked_account_and_an_unknown_email_answer_alike_in_the_same_time(app, client):
    add_account(app)
    for _ in range(5):
        log_in(client, "boss@example.com", "guess")
        log_in(client, "nobody@example.com", "guess")
    known = [_timed_log_in(client, "boss@example.com", "guess") for _ in range(3)]
    unknown = [_timed_log_in(client, "nobody@example.com", "guess") for _ in range(3)]
    assert {k[0] for k in known} == {u[0] for u in unknown} == {401}
    assert _login_error(known[0][1]) == _login_error(unknown[0][1])
    assert "too many times from here" in _login_error(known[0][1])
    # Both still pay for a password hash: a locked account no longer answers in 4 ms instead of 100.
    fast, slow = sorted([statistics.median(k[2] for k in known), statistics.median(u[2] for u in unknown)])
    assert fast > slow / 3


def test_a_stranger_guessing_does_not_lock_the_supervisor_out(app, clock):
    add_account(app)
    stranger = _client(app, {"REMOTE_ADDR": "203.0.113.9"})
    for _ in range(6):
        assert log_in(stranger, "boss@example.com", "guess").status_code == 401
    assert log_in(stranger, "boss@example.com").status_code == 401  # the stranger waits
    at_desk = _client(app, {"REMOTE_ADDR": "192.0.2.10"})
    assert log_in(at_desk, "boss@example.com").status_code == 302


# -- 6. behind a proxy each client has its own bucket; anonymous API traffic is limited ---------------------------
def _login_attempt(app: Any, forwarded_for: str) -> int:
    client = _client(app, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded_for})
    return int(log_in(client, "boss@example.com", "guess").status_code)


@pytest.mark.parametrize("trusted", ["127.0.0.1", "10.0.0.0/8 127.0.0.0/8", "1"])
def test_behind_a_trusted_proxy_one_client_cannot_use_up_everyones_login_limit(
    app_config, sqlite_db, centre, clock, trusted
):
    app = _app(app_config, sqlite_db, centre, clock, trusted_proxies=trusted, SUPERVISOR_LOGIN_RATE="1 per minute")
    add_account(app)
    assert _login_attempt(app, "203.0.113.1") == 401
    assert _login_attempt(app, "203.0.113.1") == 429
    assert _login_attempt(app, "198.51.100.7") == 401  # another visitor, same proxy: not limited


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(
    app_config, sqlite_db, centre, clock
):
    app = _app(app_config, sqlite_db, centre, clock, SUPERVISOR_LOGIN_RATE="1 per minute")
    add_account(app)
    assert _login_attempt(app, "203.0.113.1") == 401
    assert _login_attempt(app, "198.51.100.7") == 429


def test_requests_without_a_valid_api_key_are_limited_per_client(app_config, sqlite_db, centre, clock):
    app = _app(app_config, sqlite_db, centre, clock, API_UNAUTHENTICATED_RATE="3 per minute")
    rt = app.extensions["ivr"]
    key = create_api_key(rt.db, "partner", rt.clock.now())
    client = app.test_client()
    answers = [client.get("/api/v1/callbacks", headers={"Authorization": "Bearer ivr_guess"}).status_code
               for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert client.get("/api/v1/callbacks", headers={"Authorization": BEARER + key}).status_code == 200


# -- 7. the status webhook believes only what fits the leg -----------------------------------------------------------
@pytest.fixture
def two_attempts(app, client, clock):
    from telephony.fake import FakeProvider

    app.extensions["ivr"].settings.twilio_phone_number = CALLER_ID
    provider = FakeProvider(clock=clock)
    add_agents(app, 2)
    first = request_callback(app, phone="+989121234567")
    second = request_callback(app, phone="+989121234568")
    make_dispatcher(app, provider).tick()
    network = PhoneNetwork(client, provider)
    [a] = attempts_of(app, first)
    [b] = attempts_of(app, second)
    return network, a, b, first


def test_a_status_carrying_another_attempts_call_sid_changes_nothing(app, two_attempts):
    network, a, b, first = two_attempts
    response = network.post(f"{BASE_URL}/twilio/status?attempt={a.id}&leg=agent",
                            {"CallSid": b.agent_call_sid, "CallStatus": "busy", "SequenceNumber": "7"})
    assert response.status_code == 204
    [after] = attempts_of(app, first)
    assert after.agent_status is None and after.state == a.state


@pytest.mark.parametrize(("form", "named"), [
    ({"CallStatus": "x" * 500}, "CallStatus"),
    ({"CallStatus": "completed", "SequenceNumber": "²"}, "SequenceNumber"),
    ({"CallStatus": "completed", "CallDuration": "٣٣٣٣٣٣٣٣٣٣٣"}, "CallDuration"),
])
def test_a_status_with_a_value_twilio_never_sends_is_a_400_naming_it(app, two_attempts, form, named):
    network, a, _b, first = two_attempts
    response = network.post(f"{BASE_URL}/twilio/status?attempt={a.id}&leg=agent",
                            {"CallSid": a.agent_call_sid, **form})
    assert response.status_code == 400 and named in response.get_data(as_text=True)
    assert attempts_of(app, first)[0].agent_status is None


@pytest.mark.parametrize("query", ["agent_call=%C2%B2", "agent_call=99999999999999999999", "attempt=-1&leg=agent"])
def test_a_status_for_a_row_id_we_never_sent_is_a_400(app, client, query):
    network = PhoneNetwork(client, None)
    response = network.post(f"{BASE_URL}/twilio/status?{query}",
                            {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "SequenceNumber": "1"})
    assert response.status_code == 400


# -- 8. API keys with scopes ------------------------------------------------------------------------------------------
def test_a_key_with_the_own_scope_sees_and_cancels_only_its_own_requests(app, client, api_key):
    rt = app.extensions["ivr"]
    partner = {"Authorization": BEARER + create_api_key(rt.db, "partner", rt.clock.now(), scope="own")}
    everything = {"Authorization": BEARER + api_key}
    mine = client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=partner).get_json()
    theirs = client.post("/api/v1/callbacks", json={"phone": "09121234568"}, headers=everything).get_json()
    listed = client.get("/api/v1/callbacks", headers=partner).get_json()["callbacks"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert client.get(f"/api/v1/callbacks/{theirs['id']}", headers=partner).status_code == 404
    assert client.post(f"/api/v1/callbacks/{theirs['id']}/cancel", headers=partner).status_code == 404
    assert client.get(f"/api/v1/callbacks/{theirs['id']}", headers=everything).get_json()["status"] == "pending"
    # The same number through another key: the open request exists, and nothing of it is shown.
    again = client.post("/api/v1/callbacks", json={"phone": "09121234568"}, headers=partner)
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "phone"
    assert "09121234568" not in again.get_data(as_text=True) and theirs["id"] not in again.get_data(as_text=True)
    # A key with the `all` scope sees every channel's callbacks.
    assert len(client.get("/api/v1/callbacks", headers=everything).get_json()["callbacks"]) == 2


def test_the_command_line_creates_keys_with_a_scope(app):
    from cli.main import cli

    runner = app.test_cli_runner()
    done = runner.invoke(cli, ["api-key", "create", "crm", "--scope", "all"])
    assert done.exit_code == 0, done.output
    assert runner.invoke(cli, ["api-key", "create", "crm2", "--scope", "everything"]).exit_code != 0


# -- 9. security headers on every response; monitoring for the operator ------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/callbacks"), ("GET", "/no-such-page"),
                                              ("GET", "/api/v1/nothing"), ("POST", "/twilio/voice"),
                                              ("GET", "/healthz")])
def test_every_response_carries_the_security_headers(client, method, path):
    response = client.open(path, method=method)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_twiml_and_json_carry_the_strict_policy_pages_the_page_policy_and_a_pages_own_policy_stays_alone(client):
    strict = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    page = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    signed = {"CallSid": "CA" + "1" * 32}
    twiml = client.post("/twilio/fallback", data=signed, base_url=BASE_URL,
                        headers={"X-Twilio-Signature": sign(TOKEN, BASE_URL + "/twilio/fallback", signed)})
    assert twiml.mimetype == "text/xml" and twiml.headers.getlist("Content-Security-Policy") == [strict]
    assert client.get("/healthz").headers.getlist("Content-Security-Policy") == [strict]
    missing = client.get("/no-such-page")
    assert missing.mimetype == "text/html" and missing.headers.getlist("Content-Security-Policy") == [page]
    form = client.get("/callback?lang=en")
    [own] = form.headers.getlist("Content-Security-Policy")
    assert "default-src 'self'" in own
    for response in (twiml, missing, form):
        assert len(response.headers.getlist("X-Frame-Options")) == 1
        assert response.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]


def test_metrics_are_refused_to_the_public_and_served_to_the_operator(app_config, sqlite_db, centre, clock):
    app = _app(app_config, sqlite_db, centre, clock, metrics_token="scrape-secret")
    outsider = _client(app, {"REMOTE_ADDR": "203.0.113.5"})
    assert outsider.get("/metrics").status_code == 403
    assert outsider.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert outsider.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
    local = app.test_client()
    assert local.get("/metrics").status_code == 200
    # nginx on this machine without TRUSTED_PROXIES: every visitor would look local; forwarded means not local.
    assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 403


def test_readyz_tells_the_public_only_whether_it_is_ready(app_config, sqlite_db, centre, clock):
    app = _app(app_config, sqlite_db, centre, clock)
    outsider = _client(app, {"REMOTE_ADDR": "203.0.113.5"})
    public = outsider.get("/readyz")
    assert set(public.get_json()) == {"status"}
    assert "schema" in app.test_client().get("/readyz").get_json()
