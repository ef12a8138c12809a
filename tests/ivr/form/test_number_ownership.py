"""Nobody can aim our calls at a stranger from the web: in a queue with `verify: sms`, the request is stored only
once the code texted to the number is typed. Codes expire, are hashed at rest, allow a few tries, work once, and
every limit holds across web processes (they live in the database)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from callbacks.guard import add_to_dnc
from callbacks.models import PhoneVerification
from tests.support.form import count_callbacks, csrf_token, page, submit, text_of

STRANGER = "09121234567"
E164 = "+989121234567"


@pytest.fixture
def centre(centre: Any) -> Any:
    queues = {qid: q.model_copy(update={"verify": "sms"}) if qid == "general" else q
              for qid, q in centre.queues.items()}
    return centre.model_copy(update={"queues": queues})


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # The simulator in this process shows the texted codes: no Twilio credential, a local address.
    return {**app_config, "SIMULATOR_THREAD": False, "twilio_account_sid": "", "twilio_auth_token": "",
            "public_base_url": "http://127.0.0.1:5000"}


def texts_to(app: Any, phone: str) -> list[str]:
    """The SMS the simulator received for `phone` (what its softphone page shows)."""
    return [m["body"] for m in app.extensions["simulator"].engine.board.messages if m["to"] == phone]


def last_code(app: Any, phone: str = E164) -> str:
    match = re.search(r"\b(\d{6})\b", texts_to(app, phone)[-1])
    assert match, texts_to(app, phone)
    return match[1]


def enter_code(client: Any, code_page: Any, code: str) -> Any:
    doc = page(code_page)
    verification = doc.get_element_by_id("verify-body").getparent().xpath("input[@name='verification']")[0]
    return client.post("/callback/verify?lang=en", data={"csrf_token": csrf_token(code_page), "code": code,
                                                         "verification": verification.get("value")})


def test_a_web_request_is_stored_only_once_the_texted_code_is_typed(app, client, db):
    asked = submit(client, phone=STRANGER, name="Sara")
    assert asked.status_code == 200
    assert "Enter the code we texted you" in asked.get_data(as_text=True)
    assert count_callbacks(db) == 0, "nothing is stored before the number is proven"
    assert len(texts_to(app, E164)) == 1
    done = enter_code(client, asked, last_code(app))
    assert done.status_code == 201, done.get_data(as_text=True)
    assert count_callbacks(db) == 1


def test_the_code_is_kept_only_as_a_keyed_hash(app, client, db):
    submit(client, phone=STRANGER)
    code = last_code(app)
    with db.session() as session:
        row = session.scalar(select(PhoneVerification))
        stored = f"{row.code_hash} {row.request}"
    assert code not in stored
    assert len(row.code_hash) == 64


def test_guessing_the_code_is_cut_off_after_max_tries_even_across_processes(app, client, db, centre, clock,
                                                                           app_config):
    from ivr.app import create_app

    # A second web process on the same database (its own memory, its own session cookies).
    other = create_app({**app_config, "WTF_CSRF_ENABLED": False, "DATABASE": db, "CENTRE": centre,
                        "CLOCK": clock}).test_client()
    asked = submit(client, phone=STRANGER)
    right = last_code(app)
    wrong = "000000" if right != "000000" else "111111"
    for attempt in range(centre.verification.max_tries):
        # Alternate the two web processes: the count lives in the database, not in either of them.
        answer = enter_code(client if attempt % 2 else other, asked, wrong)
        assert answer.status_code == 422
    late = enter_code(client, asked, right)
    assert late.status_code == 422
    assert "Too many wrong codes" in text_of(late, "code-error")
    assert count_callbacks(db) == 0


def test_a_code_works_once(app, client, db):
    asked = submit(client, phone=STRANGER)
    code = last_code(app)
    assert enter_code(client, asked, code).status_code == 201
    again = enter_code(client, asked, code)
    assert again.status_code == 410
    assert "already used" in text_of(again, "code-error")
    assert count_callbacks(db) == 1


def test_a_code_expires(app, client, db, clock, centre):
    asked = submit(client, phone=STRANGER)
    clock.advance(seconds=centre.verification.code_ttl.total_seconds() + 1)
    late = enter_code(client, asked, last_code(app))
    assert late.status_code == 410
    assert "expired" in text_of(late, "code-error")
    assert count_callbacks(db) == 0


def test_a_flood_of_requests_for_one_number_sends_only_a_few_codes_an_hour(app, client, db, centre, clock):
    app.config["RATELIMIT_ENABLED"] = False  # the per-address and per-number request limits are another layer
    allowed = centre.verification.codes_per_number_per_hour
    for _ in range(allowed):
        assert submit(client, phone=STRANGER).status_code == 200
    refused = submit(client, phone=STRANGER)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert len(texts_to(app, E164)) == allowed
    clock.advance(hours=1, seconds=1)
    assert submit(client, phone=STRANGER).status_code == 200


def test_a_number_on_the_do_not_call_list_gets_no_code_and_no_request(app, client, db, clock):
    with db.session() as session:
        add_to_dnc(session, E164, clock.now(), source="cli", actor="test")
    refused = submit(client, phone=STRANGER)
    assert refused.status_code == 422
    assert "never to be called" in text_of(refused, "phone-error")
    assert texts_to(app, E164) == []
    assert count_callbacks(db) == 0


def test_queues_without_verification_store_at_once(app, client, db):
    stored = submit(client, phone=STRANGER, queue="billing")
    assert stored.status_code == 201
    assert texts_to(app, E164) == []


def test_old_codes_and_the_requests_waiting_on_them_are_deleted_after_a_day(app, client, db, clock):
    submit(client, phone=STRANGER, name="Sara")
    clock.advance(days=1, seconds=1)
    submit(client, phone="09121112233")
    with db.session() as session:
        phones = [row.phone for row in session.scalars(select(PhoneVerification))]
    assert phones == ["+989121112233"]
