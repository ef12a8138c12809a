"""The worker process: one per SQLite database (a second says why it refuses), many on PostgreSQL, APScheduler
as a timer only, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from callbacks.models import WorkerLock
from scheduler.worker import Worker, WorkerRefused
from telephony.fake import FakeProvider
from tests.conftest import ROOT
from tests.support.network import BASE_URL, CALLER_ID


def worker(db, centre, clock, name):
    return Worker(db, centre, FakeProvider(clock=clock), clock, base_url=BASE_URL, caller_id=CALLER_ID,
                  worker_id=name, sleep=lambda _s: None)


def test_a_second_worker_on_sqlite_refuses_to_start_and_says_why(sqlite_db, centre, clock):
    worker(sqlite_db, centre, clock, "first").register()
    with pytest.raises(WorkerRefused, match="SQLite allows only one worker"):
        worker(sqlite_db, centre, clock, "second").register()


def test_a_dead_workers_row_does_not_block_the_next_one_forever(sqlite_db, centre, clock):
    worker(sqlite_db, centre, clock, "first").register()
    clock.advance(minutes=3)  # no heartbeat for longer than the lease
    worker(sqlite_db, centre, clock, "second").register()


@pytest.mark.postgres
def test_several_workers_share_a_postgresql_database(pg_db, centre, clock):
    for name in ("a", "b", "c"):
        worker(pg_db, centre, clock, name).register()
    with pg_db.session() as session:
        assert sorted(session.scalars(select(WorkerLock.id))) == ["a", "b", "c"]


def test_the_timer_runs_interval_jobs_that_coalesce_and_never_overlap(sqlite_db, centre, clock):
    scheduler = worker(sqlite_db, centre, clock, "w").build_scheduler()
    jobs = scheduler.get_jobs()
    assert {j.id for j in jobs} == {"dispatch_job", "sweep_job", "watchdog_job", "customer_sms_job", "digest_job"}
    for job in jobs:
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time is None
    assert str(scheduler.timezone) == "UTC"


def test_run_once_runs_every_job(sqlite_db, centre, clock):
    w = worker(sqlite_db, centre, clock, "w")
    w.register()
    w.run_once()
    with sqlite_db.session() as session:
        assert session.get(WorkerLock, "w").heartbeat_at == clock.now()


SCRIPT = """
import sys
from callbacks.clock import SystemClock
from callbacks.db import Database
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG
from telephony.fake import FakeProvider
from scheduler.worker import Worker
db = Database(sys.argv[1])
w = Worker(db, load_contact_centre(EXAMPLE_CONFIG), FakeProvider(), SystemClock(), base_url="https://x.example",
           caller_id="+14155550100", worker_id="sigterm")
print("starting", flush=True)
w.run()
print("stopped cleanly", flush=True)
"""


def test_sigterm_stops_the_worker_cleanly_and_frees_the_database(sqlite_db, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, sqlite_db.url], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    registered = False
    while time.monotonic() < deadline and not registered:
        with sqlite_db.session() as session:
            registered = session.get(WorkerLock, "sigterm") is not None
        time.sleep(0.1)
    assert registered, proc.stderr.read() if proc.poll() is not None else "worker did not register"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped cleanly" in out
    with sqlite_db.session() as session:
        assert session.get(WorkerLock, "sigterm") is None


def test_the_worker_rolls_up_the_sla_figures_of_finished_days(sqlite_db, centre, clock):
    from datetime import timedelta

    from callbacks.models import SlaDay
    from tests.support.supervisor import make_callback

    make_callback(sqlite_db, clock.now(), status="completed", requested_ago=timedelta(days=2), end_reason="talked")
    w = worker(sqlite_db, centre, clock, "w")
    w.register()
    w.run_once()
    with sqlite_db.session() as session:
        rows = session.scalars(select(SlaDay)).all()
    assert [(r.queue, r.requested, r.completed) for r in rows] == [("general", 1, 1)]
