"""A caller asks for a callback while the database is down: the promise is kept on local disk and stored later.

Told as the caller's story through signed webhooks (every answer checked against Twilio's TwiML schema), with the
database really failing underneath (every statement raises, as when the server is gone), not a patched service.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from callbacks.models import Callback
from callbacks.phones import mask
from callbacks.spool import Spool, SpooledRequest, replay_spool
from cli.spool import spool_cli
from tests.support.phone import Caller, local

ENGLISH_LINE = "+442080000000"
CALLER = "+989121234567"


@pytest.fixture
def line(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})


@contextmanager
def database_down(app: Any) -> Iterator[None]:
    """Every statement fails like a vanished database server, until the block ends (the database comes back)."""
    engine = app.extensions["ivr"].db.engine

    def refuse(*_: Any) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def spool_of(app: Any) -> Spool:
    return app.extensions["ivr_voice"].spool


def replay(app: Any) -> tuple[int, int]:
    rt = app.extensions["ivr"]
    return replay_spool(rt.service, spool_of(app).directory, rt.clock.now())


def callbacks(app: Any) -> list[Callback]:
    with app.extensions["ivr"].db.session() as session:
        return list(session.scalars(select(Callback)))


def ask_for_callback_while_down(app: Any) -> Caller:
    """Main menu, `4` for a callback, `1` this number: the database fails twice ("one moment"), then the spool."""
    caller = Caller(app.test_client(), app, called=ENGLISH_LINE).dial().press("4").expect("press 1")
    caller.press("1").expect("One moment please")
    caller.follow().expect("One moment please")
    caller.follow()
    return caller


def test_a_caller_asking_for_a_callback_while_the_database_is_down_hears_the_promised_time(line: Any) -> None:
    with database_down(line):
        caller = ask_for_callback_while_down(line)
    # Sunday 10:00 in Tehran plus the general queue's two business hours.
    caller.expect("We have your number and will call you back by Sunday at 12:00")
    assert caller.last.hangs_up
    [path] = spool_of(line).pending()
    spooled = json.loads(path.read_text())
    assert spooled["phone"] == CALLER and spooled["queue"] == "general" and spooled["language"] == "en"
    assert spooled["call_sid"] == caller.call_sid and spooled["channel"] == "phone"
    assert datetime.fromisoformat(spooled["deadline_at"]) == local(line, 2026, 11, 22, 12, 0)
    assert callbacks(line) == []


def test_a_twilio_retry_of_the_same_webhook_repeats_the_promise_without_a_second_request(line: Any) -> None:
    clock = line.extensions["ivr"].clock
    with database_down(line):
        caller = Caller(line.test_client(), line, called=ENGLISH_LINE).dial().press("4").press("1")
        caller.follow()
        last_retry = caller.last.redirect
        assert last_retry is not None
        caller.follow().expect("call you back by Sunday at 12:00")
        clock.advance(minutes=3)  # a promise counted from now would be 12:03
        caller.post(last_retry, {})  # Twilio did not get our answer and asks again
        caller.expect("call you back by Sunday at 12:00")
    assert len(spool_of(line).pending()) == 1


def test_when_the_database_is_back_the_replay_stores_the_promised_callback_and_deletes_the_file(line: Any) -> None:
    rt = line.extensions["ivr"]
    with database_down(line):
        caller = ask_for_callback_while_down(line)
    rt.clock.advance(minutes=45)  # the database came back three quarters of an hour later

    assert replay(line) == (1, 0)

    [callback] = callbacks(line)
    assert callback.phone == CALLER and callback.queue == "general" and callback.channel == "phone"
    assert callback.deadline_at == local(line, 2026, 11, 22, 12, 0)  # what the caller heard, not 12:45
    assert callback.requested_at == local(line, 2026, 11, 22, 10, 0)
    [requested] = rt.service.history(callback)
    assert requested.actor == f"spool:{caller.call_sid}"
    assert requested.reason == "requested by phone, recorded late"
    assert requested.details["recorded_late"] is True and requested.at == rt.clock.now()
    assert spool_of(line).pending() == []
    assert replay(line) == (0, 0)  # nothing left, nothing doubled
    assert len(callbacks(line)) == 1


def test_a_replay_while_the_database_is_still_down_keeps_the_file(line: Any) -> None:
    with database_down(line):
        ask_for_callback_while_down(line)
        assert replay(line) == (0, 1)
    assert len(spool_of(line).pending()) == 1
    assert replay(line) == (1, 0)


def test_a_number_that_already_waits_for_a_callback_is_not_doubled_by_the_replay(line: Any) -> None:
    booked = Caller(line.test_client(), line, called=ENGLISH_LINE).dial().press("4").press("1")
    booked.expect("Your reference is")
    with database_down(line):
        ask_for_callback_while_down(line)
    assert replay(line) == (1, 0)
    assert len(callbacks(line)) == 1
    assert spool_of(line).pending() == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"version": 1, "call_sid": "CAx", "queue": "general"}), "phone missing"),
        (
            json.dumps(
                {
                    "version": 1,
                    "call_sid": "CA" + "9" * 32,
                    "phone": "+19005550100",
                    "queue": "general",
                    "language": "en",
                    "channel": "phone",
                    "arrived_at": None,
                    "requested_at": "2026-11-22T06:30:00+00:00",
                    "deadline_at": "2026-11-22T08:30:00+00:00",
                }
            ),
            "phone",
        ),
        (
            json.dumps(
                {
                    "version": 1,
                    "call_sid": "CA" + "8" * 32,
                    "phone": CALLER,
                    "queue": "general",
                    "language": "en",
                    "channel": "phone",
                    "arrived_at": None,
                    "requested_at": "2026-10-01T06:30:00+00:00",
                    "deadline_at": "2026-10-01T08:30:00+00:00",
                }
            ),
            "taken_at_out_of_range",
        ),
    ],
    ids=["not-json", "fields-missing", "refused-number", "weeks-old"],
)
def test_a_file_that_can_never_be_stored_is_quarantined_with_its_reason(line: Any, content: str, reason: str) -> None:
    spool = spool_of(line)
    spool.directory.mkdir(parents=True)
    (spool.directory / "CAbroken.json").write_text(content)

    assert replay(line) == (0, 0)

    assert spool.pending() == []
    [(path, why)] = spool.rejected()
    assert path.name == "CAbroken.json" and path.read_text() == content
    assert reason in why
    assert callbacks(line) == []


def test_the_spool_survives_a_restart_and_the_new_process_replays_it(
    line: Any, app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any
) -> None:
    from ivr.app import create_app

    with database_down(line):
        ask_for_callback_while_down(line)
    clock.advance(minutes=10)

    # A new web process on the same instance folder, with the periodic replay asked for.
    restarted = create_app(
        {**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock, "IVR_SPOOL_REPLAY_SECONDS": 3600}
    )
    replayer = restarted.extensions["ivr_voice"].replayer
    try:
        assert not replayer.running  # not before it serves: CLI commands build the app too
        assert restarted.test_client().get("/healthz").status_code == 200
        assert replayer.first_pass.wait(10)
    finally:
        replayer.stop()
    [callback] = callbacks(restarted)
    assert callback.deadline_at == local(restarted, 2026, 11, 22, 12, 0)
    assert spool_of(restarted).pending() == []


def test_a_transfer_with_the_database_down_offers_a_callback_and_books_it_without_more_waiting(line: Any) -> None:
    with database_down(line):
        caller = Caller(line.test_client(), line, called=ENGLISH_LINE, caller="anonymous").dial()
        caller.press("0").expect("One moment please")  # who is on shift? the database does not say
        caller.follow().expect("One moment please")
        caller.follow().expect("our system is having trouble right now, but we can still call you back")
        caller.expect("We cannot see your number")
        caller.press("09121112233#").expect("You entered 0 9 1 2 1 1 1 2 2 3 3")
        caller.press("1").expect("We have your number and will call you back by Sunday at 12:00")
    [path] = spool_of(line).pending()
    assert json.loads(path.read_text())["phone"] == "+989121112233"


def test_the_backlog_shows_in_metrics_and_readiness_while_the_database_is_down(line: Any) -> None:
    client = line.test_client()
    with database_down(line):
        ask_for_callback_while_down(line)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["callback_spool_pending"] == 1
        assert "ivr_callback_spool_pending 1.0" in client.get("/metrics").text
    replay(line)
    assert "ivr_callback_spool_pending 0.0" in client.get("/metrics").text
    assert client.get("/readyz").json["callback_spool_pending"] == 0


def test_an_operator_lists_and_replays_the_spool_from_the_command_line(line: Any) -> None:
    with database_down(line):
        caller = ask_for_callback_while_down(line)
        runner = line.test_cli_runner()
        listed = runner.invoke(spool_cli, ["list"])
        assert caller.call_sid in listed.output and mask(CALLER) in listed.output
        assert CALLER not in listed.output
        assert "1 waiting, 0 rejected" in listed.output
        still_down = runner.invoke(spool_cli, ["replay"])
        assert still_down.exit_code == 1 and "stored 0, still waiting 1" in still_down.output
    replayed = runner.invoke(spool_cli, ["replay"])
    assert replayed.exit_code == 0 and "stored 1, still waiting 0" in replayed.output
    assert len(callbacks(line)) == 1


def test_retries_of_one_call_arriving_together_keep_one_file_and_one_promise(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    at = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
    retries = [
        SpooledRequest(
            "CA" + "1" * 32, CALLER, "general", "en", at + timedelta(seconds=i), at + timedelta(hours=2, seconds=i)
        )
        for i in range(8)
    ]
    start = threading.Barrier(len(retries))

    def put(request: SpooledRequest) -> SpooledRequest:
        start.wait()
        return spool.put(request)

    with ThreadPoolExecutor(len(retries)) as pool:
        heard = list(pool.map(put, retries))
    [path] = spool.pending()
    kept = spool.read(path)
    assert kept in retries and all(promise == kept for promise in heard)
    assert sorted(p.name for p in spool.directory.iterdir()) == [path.name]
