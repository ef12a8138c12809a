"""Only supervisors see the console: anonymous visitors are sent to log in (401 for JSON), viewers look but
cannot change, every form needs its CSRF token, and guessing passwords locks the account."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest

from callbacks.accounts import set_password
from callbacks.agents import list_agents
from tests.support.supervisor import (
    PASSWORD,
    add_account,
    csrf_for,
    csrf_from,
    log_in,
    make_agent,
    make_alert,
    make_callback,
)

HTML_PAGES = [
    "/supervisor/",
    "/supervisor/reports/missed",
    "/supervisor/reports/missed?since=2026-11-01&until=2026-11-30&queue=general&reason=agent",
    "/supervisor/reports/missed.csv",
    "/supervisor/reports/sla",
    "/supervisor/callbacks/{callback}",
]
JSON_PAGES = ["/supervisor/board.json", "/supervisor/reports/sla.json", "/supervisor/callbacks/{callback}.json"]


@pytest.fixture
def seeded(app, clock):
    rt = app.extensions["ivr"]
    callback = make_callback(rt.db, clock.now(), at_risk_reason="backlog")
    agent = make_agent(rt.db, clock.now(), "Sara")
    alert = make_alert(rt.db, clock.now(), callback, reason="backlog")
    return {"callback": callback.public_id, "agent_id": agent.id, "alert_id": alert.id}


@pytest.mark.parametrize("page", HTML_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, seeded, page):
    response = client.get(page.format(**seeded))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/supervisor/login?next=/supervisor/")


@pytest.mark.parametrize("page", JSON_PAGES)
def test_anonymous_json_requests_get_401(client, seeded, page):
    response = client.get(page.format(**seeded))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_anonymous_cannot_change_shifts_even_with_a_csrf_token(app, client, seeded):
    token = csrf_from(client.get("/supervisor/login").get_data(as_text=True))
    response = client.post(f"/supervisor/agents/{seeded['agent_id']}/shift", data={"on": "0", "csrf_token": token})
    assert response.status_code == 302 and "/supervisor/login" in response.headers["Location"]
    assert list_agents(app.extensions["ivr"].db)[0].on_shift is True


@pytest.mark.parametrize("page", HTML_PAGES + JSON_PAGES)
def test_a_viewer_sees_every_page_and_report(app, client, seeded, page):
    log_in(client, add_account(app, "viewer@example.com", role="viewer"))
    assert client.get(page.format(**seeded)).status_code == 200


def test_a_viewer_cannot_change_shifts_or_acknowledge_alerts(app, client, seeded):
    log_in(client, add_account(app, "viewer@example.com", role="viewer"))
    token = csrf_for(client)
    response = client.post(f"/supervisor/agents/{seeded['agent_id']}/shift", data={"on": "0", "csrf_token": token})
    assert response.status_code == 403
    assert list_agents(app.extensions["ivr"].db)[0].on_shift is True
    response = client.post(
        f"/supervisor/alerts/{seeded['alert_id']}/ack", headers={"X-CSRFToken": token, "Accept": "application/json"}
    )
    assert response.status_code == 403
    board = client.get("/supervisor/board.json").get_json()
    assert board["can_change"] is False
    assert [a["id"] for a in board["alerts"]] == [seeded["alert_id"]]


def test_an_admin_takes_an_agent_off_shift_and_back(app, client, seeded):
    log_in(client, add_account(app))
    token = csrf_for(client)
    url = f"/supervisor/agents/{seeded['agent_id']}/shift"
    response = client.post(url, data={"on": "0"}, headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 200 and response.get_json()["on_shift"] is False
    board = client.get("/supervisor/board.json").get_json()
    assert board["agents"][0]["state"] == "off_shift"
    assert client.post(url, data={"on": "1", "csrf_token": token}).status_code == 302
    assert list_agents(app.extensions["ivr"].db)[0].on_shift is True


@pytest.mark.parametrize(
    "path,data",
    [
        ("/supervisor/agents/{agent_id}/shift", {"on": "0"}),
        ("/supervisor/alerts/{alert_id}/ack", {}),
        ("/supervisor/logout", {}),
    ],
)
def test_forms_without_a_csrf_token_are_refused(app, client, seeded, path, data):
    log_in(client, add_account(app))
    response = client.post(path.format(**seeded), data=data)
    assert response.status_code == 400
    response = client.post(path.format(**seeded), data={**data, "csrf_token": "forged"})
    assert response.status_code == 400
    assert list_agents(app.extensions["ivr"].db)[0].on_shift is True
    assert client.get("/supervisor/board.json").status_code == 200  # still logged in: logout was refused too
    assert len(client.get("/supervisor/board.json").get_json()["alerts"]) == 1


def test_the_login_form_needs_its_csrf_token(app, client):
    add_account(app)
    response = client.post("/supervisor/login", data={"email": "boss@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/supervisor/board.json").status_code == 401


def test_logging_in_and_out(app, client):
    add_account(app)
    response = log_in(client, "Boss@Example.com ")
    assert response.status_code == 302 and response.headers["Location"] == "/supervisor/"
    assert client.get("/supervisor/board.json").status_code == 200
    assert client.post("/supervisor/logout", data={"csrf_token": csrf_for(client)}).status_code == 302
    assert client.get("/supervisor/board.json").status_code == 401


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client):
    add_account(app)
    wrong = log_in(client, "boss@example.com", "not the password")
    unknown = log_in(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong" in wrong.get_data(as_text=True) and "wrong" in unknown.get_data(as_text=True)


def test_five_wrong_passwords_make_that_address_wait_a_minute_then_longer(app, client, clock):
    add_account(app)
    for _ in range(5):
        assert log_in(client, "boss@example.com", "guess").status_code == 401
    waiting = log_in(client, "boss@example.com")
    assert waiting.status_code == 401
    assert "too many times from here" in waiting.get_data(as_text=True)
    clock.advance(seconds=59)
    assert log_in(client, "boss@example.com").status_code == 401
    clock.advance(seconds=2)
    assert log_in(client, "boss@example.com", "guess").status_code == 401  # the sixth: two minutes now
    clock.advance(minutes=1, seconds=30)
    assert log_in(client, "boss@example.com").status_code == 401
    clock.advance(minutes=1)
    assert log_in(client, "boss@example.com").status_code == 302


def test_a_successful_login_resets_the_failure_count(app, client):
    add_account(app)
    for _ in range(4):
        log_in(client, "boss@example.com", "guess")
    assert log_in(client, "boss@example.com").status_code == 302
    other = app.test_client()
    for _ in range(4):
        log_in(other, "boss@example.com", "guess")
    assert log_in(other, "boss@example.com").status_code == 302


def test_a_session_lasts_a_working_day(app, client, clock):
    log_in(client, add_account(app))
    clock.advance(hours=11)
    assert client.get("/supervisor/board.json").status_code == 200
    clock.advance(hours=1, seconds=1)
    assert client.get("/supervisor/board.json").status_code == 401


def test_changing_the_password_ends_existing_sessions(app, client):
    email = add_account(app)
    log_in(client, email)
    set_password(app.extensions["ivr"].db, email, "a brand new password")
    assert client.get("/supervisor/board.json").status_code == 401


def test_login_never_redirects_off_site(app, client):
    add_account(app)
    page = client.get("/supervisor/login?next=https://evil.example/steal")
    response = client.post(
        "/supervisor/login",
        data={
            "email": "boss@example.com",
            "password": PASSWORD,
            "next": "https://evil.example/steal",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert response.headers["Location"] == "/supervisor/"


def test_login_returns_to_the_page_asked_for(app, client):
    add_account(app)
    first = client.get("/supervisor/reports/sla?queue=billing")
    target = unquote(first.headers["Location"].split("next=", 1)[1])
    page = client.get(first.headers["Location"])
    assert f'name="next" value="{target}"' in page.get_data(as_text=True)
    response = client.post(
        "/supervisor/login",
        data={
            "email": "boss@example.com",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert response.headers["Location"] == "/supervisor/reports/sla?queue=billing"


def test_session_cookie_is_secure_and_http_only_behind_https(app, client):
    add_account(app)
    response = log_in(client, "boss@example.com")
    cookie = next(c for c in response.headers.get_all("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_session_cookie_is_not_secure_on_plain_http(app_config, db, centre, clock):
    from ivr.app import create_app

    app = create_app(
        {**app_config, "public_base_url": "http://127.0.0.1:5000", "DATABASE": db, "CENTRE": centre, "CLOCK": clock}
    )
    client = app.test_client()
    add_account(app)
    cookie = next(
        c for c in log_in(client, "boss@example.com").headers.get_all("Set-Cookie") if c.startswith("session=")
    )
    assert "Secure" not in cookie


def test_console_pages_forbid_framing_and_foreign_scripts(app, client):
    log_in(client, add_account(app))
    response = client.get("/supervisor/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_api_and_webhooks_are_not_subject_to_the_consoles_csrf(client, auth):
    response = client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=auth)
    assert response.status_code == 201


def test_clock_is_not_read_from_the_wall_for_lockout(app, client, clock):
    add_account(app)
    for _ in range(5):
        log_in(client, "boss@example.com", "guess")
    clock.advance(timedelta(minutes=16))
    assert log_in(client, "boss@example.com").status_code == 302
