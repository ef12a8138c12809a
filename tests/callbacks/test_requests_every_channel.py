"""Callback requests through the one service every channel uses: stored durably, deduplicated, canceled, audited."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from callbacks.db import Database, DatabaseUnavailable
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.models import Callback, CallbackEvent, CustomerSms
from callbacks.service import CallbackService


@pytest.fixture
def service(db, centre, clock):
    return CallbackService(db, centre, clock)


def count(db, model=Callback):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_request_is_stored_with_its_deadline_and_history_before_it_is_acknowledged(service, db, clock):
    result = service.request(phone="0912 123 4567", channel="web", actor="web:127.0.0.1", name="  Sara   K ")
    assert result.created and result.status_token
    # A brand-new session (another process, after a crash) sees the stored request.
    fresh = Database(db.url)
    with fresh.session() as session:
        stored = session.scalar(select(Callback).where(Callback.public_id == result.callback.public_id))
        events = session.scalars(select(CallbackEvent).where(CallbackEvent.callback_id == stored.id)).all()
    fresh.dispose()
    assert stored.phone == "+989121234567"
    assert stored.name == "Sara K"
    assert stored.status == "pending"
    assert stored.requested_at == clock.now()
    assert stored.deadline_at > clock.now()
    assert [(e.kind, e.to_status, e.actor) for e in events] == [("status", "pending", "web:127.0.0.1")]
    assert events[0].details["phone"] == "+98912***4567"


def test_the_request_answered_is_the_request_stored_column_for_column(service, db):
    result = service.request(phone="09121234567", channel="api", actor="a", name="Sara", note="after five")
    with db.session() as session:
        stored = session.get_one(Callback, result.callback.id)
    columns = [column.key for column in Callback.__table__.columns]
    assert {c: getattr(result.callback, c) for c in columns} == {c: getattr(stored, c) for c in columns}


def test_a_number_is_validated_the_same_every_time_it_is_asked_in_any_form(service):
    for _ in range(2):
        assert service.validate_phone("0912 123 4567") == "+989121234567"
        assert service.validate_phone("+989121234567") == "+989121234567"
        with pytest.raises(InvalidRequest) as info:
            service.validate_phone("+989121234")
        assert info.value.code == "phone_invalid"
    # A centre whose policy changed (a number range denied) is asked again, not answered from memory.
    service.centre = service.centre.model_copy(update={"phone_numbers": service.centre.phone_numbers.model_copy(
        update={"denied_prefixes": ["+98912"]})})
    with pytest.raises(InvalidRequest) as info:
        service.validate_phone("+989121234567")
    assert info.value.code == "phone_denied"


def test_references_are_two_groups_of_four_readable_characters_and_differ(service):
    references = {service.request(phone=f"+98912{i:07d}", channel="api", actor="a").callback.reference
                  for i in range(50)}
    assert len(references) == 50
    assert all(re.fullmatch(r"[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", r) for r in references)


def test_a_second_request_for_the_same_number_and_queue_returns_the_first(service, db):
    first = service.request(phone="09121234567", channel="api", actor="a")
    again = service.request(phone="+989121234567", channel="web", actor="b")
    assert not again.created and again.status_token is None
    assert again.callback.public_id == first.callback.public_id
    other_queue = service.request(phone="09121234567", queue="billing", channel="api", actor="a")
    assert other_queue.created
    assert count(db) == 2


def test_after_a_cancel_the_same_number_may_ask_again(service):
    first = service.request(phone="09121234567", channel="api", actor="a")
    service.cancel(first.callback.public_id, actor="customer")
    assert service.request(phone="09121234567", channel="api", actor="a").created


def test_identical_requests_at_the_same_instant_store_one(service, db):
    barrier = threading.Barrier(8)

    def ask(_):
        barrier.wait()
        return service.request(phone="09121234567", channel="api", actor="race")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(8)))
    assert len({r.callback.public_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert count(db) == 1
    assert count(db, CallbackEvent) == 1


def test_cancel_writes_history_and_is_harmless_to_repeat(service, db):
    callback = service.request(phone="09121234567", channel="api", actor="a").callback
    canceled = service.cancel(callback.public_id, actor="customer", reason="no longer needed")
    assert canceled.status == "canceled" and canceled.end_reason == "no longer needed" and canceled.ended_at
    assert service.cancel(callback.public_id, actor="customer").status == "canceled"
    history = service.history(canceled)
    assert [(e.from_status, e.to_status) for e in history] == [(None, "pending"), ("pending", "canceled")]


def test_a_finished_callback_cannot_be_canceled(service, db):
    callback = service.request(phone="09121234567", channel="api", actor="a").callback
    with db.session() as session:
        session.get(Callback, callback.id).status = "completed"
    with pytest.raises(Conflict):
        service.cancel(callback.public_id, actor="customer")


def test_unknown_ids_and_tokens_are_not_found(service):
    with pytest.raises(NotFound):
        service.get("nope")
    with pytest.raises(NotFound):
        service.cancel("nope", actor="x")
    with pytest.raises(NotFound):
        service.get_by_token("x" * 32)


def test_the_status_token_finds_its_callback_and_only_its_hash_is_stored(service, db):
    result = service.request(phone="09121234567", channel="web", actor="a")
    assert service.get_by_token(result.status_token).public_id == result.callback.public_id
    with db.session() as session:
        stored = session.scalar(select(Callback))
        assert result.status_token not in (stored.status_token_hash, stored.public_id, stored.reference)


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"phone": "09067123456"}, "phone", "phone_invalid"),
        ({"phone": "09121234567", "queue": "sales"}, "queue", "unknown_queue"),
        ({"phone": "09121234567", "language": "de"}, "language", "unknown_language"),
        ({"phone": "09121234567", "name": "x" * 121}, "name", "name_too_long"),
        ({"phone": "09121234567", "note": "x" * 1001}, "note", "note_too_long"),
    ],
)
def test_every_field_is_validated_and_nothing_is_stored(service, db, fields, field, code):
    with pytest.raises(InvalidRequest) as info:
        service.request(channel="api", actor="a", **fields)
    assert (info.value.field, info.value.code) == (field, code)
    assert count(db) == 0


@contextmanager
def history_rows_refused(db):
    """The database itself refuses to write any history row (as a full disk would), after the callback's row."""
    with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER refuse_history BEFORE INSERT ON callback_events "
                                 "BEGIN SELECT RAISE(ABORT, 'disk full while writing the history'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse_history() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'disk full while writing the history'; END $$")
            conn.exec_driver_sql("CREATE TRIGGER refuse_history BEFORE INSERT ON callback_events "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_history()")
    try:
        yield
    finally:
        with db.engine.begin() as conn:  # the PostgreSQL database is shared by the tests that follow
            conn.exec_driver_sql("DROP TRIGGER refuse_history" + (" ON callback_events" if db.dialect != "sqlite"
                                                                   else ""))
            if db.dialect != "sqlite":
                conn.exec_driver_sql("DROP FUNCTION refuse_history()")


def test_a_failure_half_way_leaves_nothing_behind(service, db):
    # The callback's row and its history row are one transaction: never a callback without its history.
    with history_rows_refused(db), pytest.raises(DBAPIError, match="disk full while writing the history"):
        service.request(phone="09121234567", channel="api", actor="a")
    assert count(db) == 0
    assert count(db, CallbackEvent) == 0


def texting(centre):
    """The centre with the promise in writing switched on."""
    return centre.model_copy(update={"customer_sms": centre.customer_sms.model_copy(update={"enabled": True})})


def test_where_texts_are_on_the_promise_text_is_stored_with_the_request_and_only_once(db, centre, clock):
    service = CallbackService(db, texting(centre), clock)
    result = service.request(phone="09121234567", channel="api", actor="a", language="en")
    again = service.request(phone="+989121234567", channel="web", actor="b")
    assert not again.created
    with db.session() as session:
        [text] = session.scalars(select(CustomerSms)).all()
    assert (text.callback_id, text.kind, text.attempt_number, text.to) == (
        result.callback.id, "promise", 0, "+989121234567")
    assert text.body.startswith("We will call you back by today 12:00. Ref " + result.callback.reference)
    assert text.body.endswith(f"/callback/status/{result.status_token}")
    assert text.created_at == clock.now() and text.sent_at is None and text.claimed_by is None


def test_where_texts_are_on_a_failure_half_way_leaves_no_text_either(db, centre, clock):
    service = CallbackService(db, texting(centre), clock)
    with history_rows_refused(db), pytest.raises(DBAPIError, match="disk full while writing the history"):
        service.request(phone="09121234567", channel="api", actor="a")
    assert count(db) == count(db, CallbackEvent) == count(db, CustomerSms) == 0


def test_an_unreachable_database_is_reported_not_crashed(centre, clock, tmp_path):
    down = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    service = CallbackService(down, centre, clock)
    with pytest.raises(DatabaseUnavailable):
        service.request(phone="09121234567", channel="api", actor="a")
    down.dispose()


def test_listing_filters_by_status_time_and_queue(service, clock):
    a = service.request(phone="09121234567", channel="api", actor="a").callback
    clock.advance(minutes=5)
    b = service.request(phone="09351234567", queue="billing", channel="api", actor="a").callback
    service.cancel(a.public_id, actor="x")
    assert [c.public_id for c in service.list(status=["pending"])] == [b.public_id]
    assert [c.public_id for c in service.list(queue="general")] == [a.public_id]
    assert [c.public_id for c in service.list(since=b.requested_at)] == [b.public_id]
    assert [c.public_id for c in service.list(until=b.requested_at)] == [a.public_id]
    page = service.list(limit=1)
    assert [c.public_id for c in service.list(limit=1, after_id=page[-1].id)] == [b.public_id]


def test_a_caller_leaving_the_phone_queue_keeps_their_place(service, clock):
    joined = clock.now()
    clock.advance(minutes=7)
    callback = service.request(phone="09121234567", channel="phone", actor="caller:CA1", arrived_at=joined).callback
    assert callback.requested_at == joined
    assert callback.deadline_at == joined + timedelta(hours=2)
    assert callback.next_attempt_at == clock.now()
    # An arrival claimed from the future (or days ago) does not move the promise.
    other = service.request(
        phone="09351234567", channel="phone", actor="caller:CA2", arrived_at=clock.now() + timedelta(hours=1)
    ).callback
    assert other.requested_at == clock.now()


def test_a_new_callback_written_without_the_unit_of_work_keeps_the_models_defaults(db: Database, clock):
    """The request path writes its callback with plain INSERTs: a column a caller leaves out gets what the ORM would
    have given it (the model's default), not a NULL."""
    from callbacks.history import insert_new_callback

    now = clock.now()
    row = {"public_id": "p" * 32, "reference": "REF0000001", "status_token_hash": "h" * 64, "queue": "general",
           "phone": "+989121234567", "language": "fa", "channel": "api", "requested_at": now,
           "deadline_at": now + timedelta(hours=2), "next_attempt_at": now}
    event = {"at": now, "kind": "status", "to_status": "pending", "actor": "test", "reason": "requested"}
    with db.session() as session:
        answered = insert_new_callback(session, row, event)
    with db.session() as session:
        stored = session.get_one(Callback, answered.id)
        defaults = (stored.status, stored.priority, stored.attempts_made, stored.version)
    assert defaults == ("pending", 0, 0, 1)
    assert (answered.status, answered.priority, answered.attempts_made, answered.version) == defaults
