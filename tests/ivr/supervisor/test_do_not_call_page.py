"""The supervisor's do-not-call page: admins list, add and remove numbers; viewers see masked numbers only."""

from __future__ import annotations

import pytest

from callbacks.guard import add_to_dnc, is_opted_out
from callbacks.models import CANCELED
from tests.support.network import reload, request_callback
from tests.support.supervisor import add_account, csrf_for, log_in

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def listed(app, phone):
    with app.extensions["ivr"].db.session() as session:
        return is_opted_out(session, phone)


def test_an_admin_adds_a_number_and_its_open_callback_is_canceled(app, client):
    log_in(client, add_account(app))
    callback = request_callback(app, "+989121234567")
    response = client.post("/supervisor/dnc?lang=en", data={"phone": "0912 123 4567", "csrf_token": csrf_for(client)})
    assert response.status_code == 303
    assert listed(app, "+989121234567")
    assert reload(app, callback).status == CANCELED
    page = client.get("/supervisor/dnc?lang=en").get_data(as_text=True)
    assert "+989121234567" in page and "will never be called" in page


def test_an_admin_removes_a_number(app, client, clock):
    log_in(client, add_account(app))
    with app.extensions["ivr"].db.session() as session:
        add_to_dnc(session, "+989121234567", clock.now(), source="keypress", actor="test")
    response = client.post("/supervisor/dnc/remove", data={"phone": "+989121234567", "csrf_token": csrf_for(client)})
    assert response.status_code == 303
    assert not listed(app, "+989121234567")


def test_a_bad_number_is_refused_with_the_reason(app, client):
    log_in(client, add_account(app))
    response = client.post("/supervisor/dnc?lang=en", data={"phone": "hello", "csrf_token": csrf_for(client)})
    assert response.status_code == 400
    assert "not a number we could call" in response.get_data(as_text=True)


def test_a_viewer_sees_masked_numbers_and_cannot_change_the_list(app, client, clock):
    log_in(client, add_account(app, "viewer@example.com", role="viewer"))
    with app.extensions["ivr"].db.session() as session:
        add_to_dnc(session, "+989121234567", clock.now(), source="keypress", actor="test")
    page = client.get("/supervisor/dnc?lang=fa").get_data(as_text=True)
    assert "+989121234567" not in page and "4567" in page
    assert "dnc-add" not in page
    refused = client.post("/supervisor/dnc", data={"phone": "09121112233", "csrf_token": csrf_for(client)})
    assert refused.status_code == 403
    assert not listed(app, "+989121112233")
