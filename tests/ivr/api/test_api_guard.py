"""The API cannot be used to aim calls at a stranger either: queues with `verify: sms` take requests only from keys
of partners who verified the number themselves; numbers on the do-not-call list are refused with 409."""

import pytest

from callbacks.apikeys import create_api_key
from callbacks.guard import add_to_dnc
from tests.ivr.api import test_callback_api as described

# The API fixture of the main API tests: every answer is checked against the served description.
api = described.api
stored = described.stored


@pytest.fixture
def centre(centre):
    queues = {qid: q.model_copy(update={"verify": "sms"}) if qid == "general" else q
              for qid, q in centre.queues.items()}
    return centre.model_copy(update={"queues": queues})


def test_an_ordinary_key_cannot_request_for_a_queue_that_needs_a_proven_number(api, app):
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "number_not_verified" and error["field"] == "phone"
    assert stored(app) == 0


def test_a_partner_key_that_verifies_numbers_may(api, app, client):
    rt = app.extensions["ivr"]
    partner = create_api_key(rt.db, "partner", rt.clock.now(), verifies_numbers=True)
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567"},
                   headers={"Authorization": f"Bearer {partner}"})
    assert response.status_code == 201
    assert stored(app) == 1


def test_queues_without_verification_take_any_key(api, app):
    assert api("POST", "/api/v1/callbacks", json={"phone": "09121234567", "queue": "billing"}).status_code == 201


def test_a_number_on_the_do_not_call_list_is_refused_with_409(api, app, clock):
    rt = app.extensions["ivr"]
    with rt.db.session() as session:
        add_to_dnc(session, "+989121234567", clock.now(), source="supervisor", actor="boss")
    response = api("POST", "/api/v1/callbacks", json={"phone": "09121234567", "queue": "billing"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "do_not_call"
    assert stored(app) == 0
