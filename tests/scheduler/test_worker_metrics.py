"""What the worker tells Prometheus and its logs: claims, calls by outcome, how late each call was, provider errors
by code, leases lost, job times, agents free and promises at risk; and one line per call it placed, carrying the id
of the web request that asked for the callback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import func, select

from callbacks.models import Callback
from scheduler.worker import Worker
from telephony.fake import FakeProvider
from telephony.provider import CallsLimitExceeded
from tests.support.network import BASE_URL, CALLER_ID, add_agents, request_callback


@pytest.fixture
def provider(clock):
    return FakeProvider(clock=clock)


@pytest.fixture
def worker(app, provider, clock) -> Worker:
    rt = app.extensions["ivr"]
    return Worker(rt.db, rt.centre, provider, clock, base_url=BASE_URL, caller_id=CALLER_ID, worker_id="w-metrics",
                  sleep=lambda _s: None)


def scrape(worker: Worker) -> str:
    return generate_latest(worker.metrics.registry).decode()


def value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def ask_by_api(client: Any, auth: dict[str, str], request_id: str, phone: str = "09121234567") -> dict[str, Any]:
    answer = client.post("/api/v1/callbacks", json={"phone": phone, "queue": "general"},
                         headers={**auth, "X-Request-Id": request_id})
    assert answer.status_code == 201, answer.json
    assert answer.headers["X-Request-Id"] == request_id
    return answer.json


def test_a_callback_dialed_30_s_after_it_was_due_is_claimed_counted_and_timed(app, client, auth, worker, clock):
    add_agents(app, 2)
    ask_by_api(client, auth, "partner-req-0001")
    clock.advance(seconds=30)
    worker.dispatch_job()
    text = scrape(worker)
    assert value(text, 'ivr_dispatch_claims_total{kind="callback"}') == 1
    assert value(text, 'ivr_calls_placed_total{kind="attempt",outcome="accepted"}') == 1
    assert value(text, 'ivr_dispatch_lateness_seconds_sum{queue="general"}') == 30
    assert value(text, 'ivr_dispatch_lateness_seconds_bucket{le="30.0",queue="general"}') == 1
    assert value(text, 'ivr_dispatch_lateness_seconds_bucket{le="10.0",queue="general"}') == 0
    assert value(text, "ivr_agents_on_shift") == 2
    assert value(text, "ivr_agents_free") == 1  # the other is reserved for the call
    assert value(text, "ivr_worker_database_up") == 1


def test_the_worker_writes_one_line_per_call_with_the_request_id_of_the_web_request(app, client, auth, worker,
                                                                                   provider, caplog):
    add_agents(app, 1)
    created = ask_by_api(client, auth, "partner-req-0002")
    with caplog.at_level(logging.INFO, logger="scheduler.worker"):
        worker.dispatch_job()
    [line] = [r for r in caplog.records if r.name == "scheduler.worker" and getattr(r, "attempt_id", None)]
    [sid] = provider.calls
    assert line.request_id == "partner-req-0002"
    assert line.callback == created["reference"]
    assert line.call_sid == sid
    assert line.outcome == "accepted"
    assert f"call {sid} placed" in line.getMessage()
    with app.extensions["ivr"].db.session() as session:
        assert session.get(Callback, _id(app, created)).live_attempt_id == line.attempt_id


def _id(app: Any, created: dict[str, Any]) -> int:
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(Callback.id).where(Callback.public_id == created["id"]))


def test_a_refused_dial_is_counted_by_its_error_code_and_logged_as_not_placed(app, client, auth, worker, provider,
                                                                             caplog):
    add_agents(app, 1)
    ask_by_api(client, auth, "partner-req-0003")
    provider.fail_next(CallsLimitExceeded("too many calls", code="20429", status=429))
    with caplog.at_level(logging.INFO, logger="scheduler.worker"):
        worker.dispatch_job()
    text = scrape(worker)
    assert value(text, 'ivr_provider_errors_total{code="20429",operation="create_call"}') == 1
    assert value(text, 'ivr_calls_placed_total{kind="attempt",outcome="not_placed"}') == 1
    assert value(text, 'ivr_calls_placed_total{kind="attempt",outcome="accepted"}') is None
    [line] = [r for r in caplog.records if getattr(r, "attempt_id", None)]
    assert line.outcome == "not_placed" and line.error_code == "20429" and line.request_id == "partner-req-0003"


class BrokenWatchdog:
    def run(self) -> None:
        raise RuntimeError("the watchdog broke")


def test_every_job_is_timed_and_a_failing_one_is_counted(app, worker, clock):
    worker.run_once()
    text = scrape(worker)
    for job in ("dispatch", "sweep", "watchdog", "digest"):
        assert value(text, f'ivr_worker_job_duration_seconds_count{{task="{job}"}}') == 1
        assert value(text, f'ivr_worker_job_last_success_timestamp_seconds{{task="{job}"}}') > 0
    assert value(text, 'ivr_worker_job_failures_total{task="watchdog"}') is None
    worker.watchdog = BrokenWatchdog()
    worker.run_once()  # the failure is logged and counted; the timer would run on
    text = scrape(worker)
    assert value(text, 'ivr_worker_job_failures_total{task="watchdog"}') == 1
    assert value(text, 'ivr_worker_job_duration_seconds_count{task="watchdog"}') == 2
    assert value(text, 'ivr_worker_job_duration_seconds_count{task="sweep"}') == 2


def test_promises_at_risk_and_callbacks_waiting_are_gauged_per_queue(app, worker, clock):
    add_agents(app, 1)
    for i in range(12):  # 12 urgent callbacks of 2 minutes each for one agent within 30 minutes
        request_callback(app, f"+98912{i:07d}", queue="urgent")
        clock.advance(seconds=10)
    worker.watchdog_job()
    text = scrape(worker)
    with app.extensions["ivr"].db.session() as session:
        flagged = session.scalar(select(func.count()).select_from(Callback).where(Callback.at_risk_since.is_not(None)))
    assert flagged > 0
    assert value(text, 'ivr_promises_at_risk{queue="urgent"}') == flagged
    assert value(text, "ivr_watchdog_flagged_at_risk_total") == flagged
    assert value(text, 'ivr_callbacks_due{queue="urgent"}') == 12
    assert value(text, 'ivr_callbacks_due_oldest_seconds{queue="urgent"}') == 120  # the first, 12 x 10 s ago
    assert value(text, "ivr_agents_free") == 1


def test_each_queues_quote_is_gauged_against_its_sla_after_a_watchdog_round(app, worker, clock):
    add_agents(app, 1)
    worker.watchdog_job()
    text = scrape(worker)
    # One idle agent keeps every promise: a request now is promised the urgent queue's 30-minute SLA.
    assert value(text, 'ivr_quote_seconds{queue="urgent"}') == 30 * 60
    assert value(text, 'ivr_quote_sla_seconds{queue="urgent"}') == 30 * 60
    assert value(text, 'ivr_quote_over_sla_seconds{queue="urgent"}') == 0
    assert value(text, 'ivr_quote_overloaded{queue="urgent"}') == 0
    assert value(text, 'ivr_quote_over_sla_seconds{queue="general"}') == 0

    for i in range(12):  # 12 urgent callbacks of 2 minutes each for one agent: a new one waits for them all
        request_callback(app, f"+98912{i:07d}", queue="urgent")
    worker.watchdog_job()
    text = scrape(worker)
    quote, sla = value(text, 'ivr_quote_seconds{queue="urgent"}'), value(text, 'ivr_quote_sla_seconds{queue="urgent"}')
    assert sla == 30 * 60 and quote is not None and quote > sla
    assert value(text, 'ivr_quote_over_sla_seconds{queue="urgent"}') == quote - sla
    assert value(text, 'ivr_quote_overloaded{queue="urgent"}') == 0  # still within the 4-hour ceiling

    clock.advance(seconds=30)
    worker.dispatch_job()
    worker.watchdog_job()  # the next round's reading replaces the last one's
    assert value(scrape(worker), 'ivr_quote_sla_seconds{queue="urgent"}') == 30 * 60
