"""The JSON API of DESIGN.md: keys, the fixed error shape, the right statuses, and a description that matches."""

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from sqlalchemy import func, select

from callbacks.apikeys import create_api_key, revoke_api_key
from callbacks.models import Callback

BASE = "https://support.example.com"
_described: dict[str, OpenAPI] = {}


@pytest.fixture
def api(client, auth, app):
    """Calls the API like a client on the public URL and checks every answer against the served description."""
    spec = client.get("/api/v1/openapi.json", base_url=BASE).get_json()
    key = json.dumps(spec, sort_keys=True)
    if key not in _described:
        _described[key] = OpenAPI.from_dict(spec)
    openapi = _described[key]

    def call(method, path, *, headers=None, check=True, **kwargs):
        response = client.open(path, method=method, base_url=BASE, headers={**auth, **(headers or {})}, **kwargs)
        if check:
            url = urlsplit(path)
            request = MockRequest(
                BASE,
                method.lower(),
                url.path,
                args=dict(parse_qsl(url.query)),
                headers={**auth, **(headers or {})},
                content_type=response.request.mimetype or "application/json",
            )
            openapi.validate_response(
                request,
                MockResponse(response.data, response.status_code, dict(response.headers), response.mimetype),
            )
        return response

    return call


def stored(app):
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(func.count()).select_from(Callback))


def test_requesting_a_callback_returns_201_with_the_promise(api, app, clock):
    response = api("POST", "/api/v1/callbacks", json={"phone": "0912 123 4567", "name": "Sara", "language": "en"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["phone"] == "+989121234567"
    assert body["status"] == "pending"
    assert body["deadline_at"] == "2026-11-22T08:30:00Z"  # 12:00 in Tehran, two business hours after 10:00
    assert body["status_url"].startswith(f"{BASE}/callback/status/")
    assert response.headers["Location"] == f"/api/v1/callbacks/{body['id']}"


def test_the_api_keeps_no_browser_session_whatever_cookie_comes_with_the_request(api, client):
    client.set_cookie("session", "a-cookie-the-api-never-reads", domain="support.example.com")
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"})
    assert response.status_code == 201
    assert not response.headers.get_all("Set-Cookie")
    assert "Cookie" not in response.headers.get("Vary", "")


def test_the_same_number_again_gets_the_open_request_with_200(api):
    first = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"}).get_json()
    again = api("POST", "/api/v1/callbacks", json={"phone": "+98 912 123 4567"})
    assert again.status_code == 200
    assert again.get_json()["id"] == first["id"]
    assert "status_url" not in again.get_json()


def test_a_window_makes_an_earlier_deadline(api):
    body = api(
        "POST",
        "/api/v1/callbacks",
        json={
            "phone": "09121234567",
            "window_start": "2026-11-22T10:30:00+03:30",
            "window_end": "2026-11-22T11:00:00+03:30",
        },
    ).get_json()
    assert (body["window_start"], body["deadline_at"]) == ("2026-11-22T07:00:00Z", "2026-11-22T07:30:00Z")


def test_fetching_a_callback_shows_its_history(api):
    created = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"}).get_json()
    body = api("GET", f"/api/v1/callbacks/{created['id']}").get_json()
    assert [e["to_status"] for e in body["history"]] == ["pending"]
    assert body["history"][0]["actor"] == "api:tests"
    assert body["attempts"] == []


def test_cancel_then_cancel_again_then_conflict_on_a_finished_one(api, app):
    created = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"}).get_json()
    first = api("POST", f"/api/v1/callbacks/{created['id']}/cancel", json={"reason": "sorted it out myself"})
    assert first.status_code == 200 and first.get_json()["status"] == "canceled"
    assert first.get_json()["end_reason"] == "sorted it out myself"
    assert api("POST", f"/api/v1/callbacks/{created['id']}/cancel").status_code == 200
    other = api("POST", "/api/v1/callbacks", json={"phone": "09351234567"}).get_json()
    with app.extensions["ivr"].db.session() as session:
        session.scalar(select(Callback).where(Callback.public_id == other["id"])).status = "completed"
    conflict = api("POST", f"/api/v1/callbacks/{other['id']}/cancel")
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "callback_closed"


def test_listing_filters_and_pages(api, clock):
    ids = []
    for phone in ("09121234567", "09351234567", "09191234567"):
        ids.append(api("POST", "/api/v1/callbacks", json={"phone": phone}).get_json()["id"])
        clock.advance(minutes=1)
    api("POST", f"/api/v1/callbacks/{ids[0]}/cancel")
    page = api("GET", "/api/v1/callbacks?status=pending&limit=1").get_json()
    assert [c["id"] for c in page["callbacks"]] == [ids[1]]
    rest = api("GET", f"/api/v1/callbacks?status=pending&limit=1&cursor={page['next_cursor']}").get_json()
    assert [c["id"] for c in rest["callbacks"]] == [ids[2]]
    since = (datetime(2026, 11, 22, 6, 31)).isoformat() + "Z"
    assert [c["id"] for c in api("GET", f"/api/v1/callbacks?since={since}").get_json()["callbacks"]] == ids[1:]


def test_the_missed_report_is_served_as_json(api, app, clock):
    created = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"}).get_json()
    with app.extensions["ivr"].db.session() as session:
        row = session.scalar(select(Callback).where(Callback.public_id == created["id"]))
        row.status, row.end_reason, row.ended_at = "missed", "no free agent", clock.now() + timedelta(hours=2)
    body = api("GET", "/api/v1/reports/missed").get_json()
    assert body["count"] == 1
    assert body["missed"][0]["reason"] == "no free agent"
    assert body["missed"][0]["phone"] == "+98912***4567"


# -- errors ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"phone": "09067123456"}, "phone", "phone_invalid"),
        ({"phone": "+44 20 7946 0018"}, "phone", "phone_country_not_allowed"),
        ({}, "phone", "phone_missing"),
        ({"phone": "09121234567", "colour": "blue"}, "colour", "unknown_field"),
        ({"phone": "09121234567", "queue": "sales"}, "queue", "unknown_queue"),
        ({"phone": "09121234567", "name": 42}, "name", "name_not_text"),
        ({"phone": "09121234567", "window_end": "tomorrow"}, "window_end", "invalid_time"),
        ({"phone": "09121234567", "window_end": "2026-11-22T12:00:00"}, "window_end", "naive_time"),
        (
            {"phone": "09121234567", "window_start": "2026-11-22T12:00:00Z", "window_end": "2026-11-22T11:00:00Z"},
            "window_end",
            "window_inverted",
        ),
    ],
)
def test_an_invalid_field_is_422_naming_the_field_and_nothing_is_stored(api, app, body, field, code):
    response = api("POST", "/api/v1/callbacks", json=body)
    assert response.status_code == 422
    assert response.get_json() == {
        "error": {"code": code, "message": response.get_json()["error"]["message"], "field": field}
    }
    assert stored(app) == 0


def test_malformed_json_is_400(api):
    response = api("POST", "/api/v1/callbacks", data="{phone:", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    response = api("POST", "/api/v1/callbacks", data="[1, 2]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_a_form_body_is_415(api):
    response = api("POST", "/api/v1/callbacks", data={"phone": "09121234567"})
    assert response.status_code == 415 and response.get_json()["error"]["code"] == "unsupported_media_type"


def test_a_huge_body_is_413(api):
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567", "note": "x" * 100_000})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-key", "Basic dXNlcjpwYXNz"])
def test_requests_without_a_valid_key_are_401(client, header, app):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(app) == 0


def test_a_revoked_key_stops_working(client, app):
    rt = app.extensions["ivr"]
    key = create_api_key(rt.db, "partner", rt.clock.now())
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/callbacks", headers=headers).status_code == 200
    assert revoke_api_key(rt.db, "partner", rt.clock.now())
    assert client.get("/api/v1/callbacks", headers=headers).status_code == 401


def test_a_key_revoked_after_its_first_request_cannot_request_another_callback(client, app):
    # The create reads its key's facts from the process's cache; its own transaction still sees the revocation.
    rt = app.extensions["ivr"]
    key = create_api_key(rt.db, "partner", rt.clock.now())
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=headers).status_code == 201
    assert revoke_api_key(rt.db, "partner", rt.clock.now())
    refused = client.post("/api/v1/callbacks", json={"phone": "09121234568"}, headers=headers)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    # Not even the open request of a number it asked for before is shown.
    assert client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=headers).status_code == 401
    assert stored(app) == 1


def test_a_callback_request_through_the_api_is_one_transaction(client, app, auth):
    from sqlalchemy import event

    assert client.post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=auth).status_code == 201
    engine = app.extensions["ivr"].db.engine
    transactions = []
    listener = lambda *_args: transactions.append(1)  # noqa: E731
    event.listen(engine, "begin", listener)
    try:
        assert client.post("/api/v1/callbacks", json={"phone": "09121234568"}, headers=auth).status_code == 201
    finally:
        event.remove(engine, "begin", listener)
    assert len(transactions) == 1  # the key's facts come from the process's cache, not a transaction of its own


def test_api_keys_are_stored_only_as_hashes(app, api_key):
    from callbacks.models import ApiKey

    with app.extensions["ivr"].db.session() as session:
        rows = session.scalars(select(ApiKey)).all()
    assert all(api_key not in (r.key_hash, r.name) for r in rows)


def test_unknown_callback_is_404(api):
    response = api("GET", "/api/v1/callbacks/does-not-exist")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "callback_not_found"


def test_bad_list_parameters_are_422(api):
    assert api("GET", "/api/v1/callbacks?status=lost").status_code == 422
    assert api("GET", "/api/v1/callbacks?limit=100000").status_code == 422
    assert api("GET", "/api/v1/callbacks?since=yesterday").status_code == 422
    assert api("GET", "/api/v1/callbacks?colour=blue").get_json()["error"]["field"] == "colour"


def test_one_number_asking_too_often_gets_429_with_retry_after(api, app):
    for _ in range(5):  # the example allows 5 per hour per number
        assert api("POST", "/api/v1/callbacks", json={"phone": "09121234567"}).status_code in (200, 201)
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    # Another number from the same client is still served.
    assert api("POST", "/api/v1/callbacks", json={"phone": "09351234567"}).status_code == 201


def test_a_client_hammering_the_api_gets_429_not_a_slower_server(api, app):
    codes = [
        api("POST", "/api/v1/callbacks", json={"phone": f"0912{n:07d}"}, check=False).status_code for n in range(35)
    ]
    assert codes.count(429) == 5  # 30 per minute per client address
    assert set(codes[:30]) <= {201, 422}


def test_a_database_outage_is_503_with_retry_after_and_nothing_half_written(api, app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    service = app.extensions["ivr"].service

    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(service.db, "session", down)
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    monkeypatch.undo()
    assert stored(app) == 0


def test_the_openapi_description_is_valid_and_served_without_a_key(client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json", base_url=BASE)
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["servers"] == [{"url": f"{BASE}/api/v1"}]
    assert set(spec["paths"]) == {"/callbacks", "/callbacks/{id}", "/callbacks/{id}/cancel", "/reports/missed"}
    json.dumps(spec)


def test_partners_get_the_quoted_deadline_and_the_slas_own(api, app, clock):
    from callbacks.agents import add_agent, set_shift

    rt = app.extensions["ivr"]
    body = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"}).get_json()
    assert (body["deadline_at"], body["sla_deadline_at"], body["deadline_from"]) == (
        "2026-11-22T08:30:00Z", "2026-11-22T08:30:00Z", "sla")
    # Nobody on shift until tomorrow: the honest promise is later than the SLA, and the partner can see both.
    name = add_agent(rt.db, "Agent", "+989350000001", clock.now(), "IR").name
    set_shift(rt.db, name, False, clock.now())
    later = api("POST", "/api/v1/callbacks", json={"phone": "09121234568", "queue": "urgent"}).get_json()
    assert later["sla_deadline_at"] == "2026-11-22T07:00:00Z"  # 30 minutes on the clock
    assert later["deadline_at"] > later["sla_deadline_at"]
    assert later["deadline_from"] == "ceiling" and later["overloaded"] is True
    assert later["at_risk"] is True
