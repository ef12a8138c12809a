"""Several worker processes on one PostgreSQL database, and workers killed with -9 at the worst moments:
every callback is dialed exactly once per attempt, none is left behind, and the promise is still kept."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from callbacks.db import Database, upgrade
from callbacks.models import COMPLETED, Agent, Attempt, Callback
from tests.conftest import ROOT
from tests.support.worker_process import FAULT_ENV

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def fresh_pg(postgres_url):
    """A migrated PostgreSQL database of its own (the worker processes connect to it by URL)."""
    admin_url = make_url(postgres_url).set(database="postgres")
    name = f"ivr_proc_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, callbacks: int, agents: int) -> datetime:
    """`callbacks` due callbacks (deadline in two hours) and `agents` agents on shift."""
    now = datetime.now(UTC)
    db = Database(url)
    rows = [{
        "public_id": uuid.uuid4().hex, "reference": f"R{i:07d}", "status_token_hash": secrets.token_hex(32),
        "queue": "general", "phone": f"+98912{i:07d}", "language": "fa", "channel": "api", "status": "pending",
        "priority": 0, "requested_at": now - timedelta(minutes=5), "deadline_at": now + timedelta(hours=2),
        "next_attempt_at": now - timedelta(minutes=1), "attempts_made": 0, "version": 1,
    } for i in range(callbacks)]
    with db.session() as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(Callback), rows[start:start + 2000])
        session.execute(insert(Agent), [{"name": f"agent {i}", "phone": f"+98935{i:07d}", "on_shift": True,
                                         "shift_changed_at": now, "queues": [], "created_at": now}
                                        for i in range(agents)])
    db.dispose()
    return now


def spawn(url: str, journal: Path, worker_id: str, **extra: object) -> subprocess.Popen:
    env = {**os.environ}
    fault = extra.pop("fault", None)
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = str(fault)
    args = {"url": url, "journal": str(journal), "worker_id": worker_id, **extra}
    return subprocess.Popen([sys.executable, "-m", "tests.support.worker_process", json.dumps(args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def journal_attempts(journal: Path) -> Counter:
    """Calls placed per attempt id, from the shared journal."""
    if not journal.exists():
        return Counter()
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return Counter(int(parse_qs(urlsplit(e["url"]).query)["attempt"][0]) for e in lines)


def check_every_callback_dialed_once(url: str, journal: Path, expected: int) -> None:
    calls = journal_attempts(journal)
    assert max(calls.values()) == 1, "an attempt was dialed twice"
    db = Database(url)
    with db.session() as session:
        statuses = Counter(session.scalars(select(Callback.status)))
        attempts = {a.id: a for a in session.scalars(select(Attempt))}
        recorded = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.agent_call_sid.is_not(None)))
    db.dispose()
    assert statuses == {"dialing": expected}, statuses  # none left behind
    assert len(attempts) == expected and recorded == expected
    assert Counter(attempts[a].callback_id for a in calls).most_common(1)[0][1] == 1
    assert len(calls) == expected


def check_every_callback_kept_once(url: str, journal: Path, expected: int) -> None:
    calls = journal_attempts(journal)
    assert calls, "no call was placed"
    assert max(calls.values()) == 1, "an attempt was dialed twice"
    db = Database(url)
    with db.session() as session:
        statuses = Counter(session.scalars(select(Callback.status)))
        attempts = {a.id: a for a in session.scalars(select(Attempt))}
        late = session.scalar(select(func.count()).select_from(Callback)
                              .where(Callback.ended_at > Callback.deadline_at))
        dialed_per_callback = Counter(attempts[a].callback_id for a in calls)
    db.dispose()
    assert statuses == {COMPLETED: expected}, statuses
    assert late == 0
    # Each callback was dialed exactly once: its one call completed it (attempts never dialed were not counted).
    assert len(dialed_per_callback) == expected and set(dialed_per_callback.values()) == {1}


@pytest.mark.parametrize("workers", [2, 4])
def test_several_workers_dial_ten_thousand_callbacks_each_exactly_once(fresh_pg, tmp_path, workers):
    # One agent per callback and calls left ringing: this proves claiming and dialing (the status-callback path
    # is exercised by the crash tests and the outcome tests).
    seed(fresh_pg, 10_000, agents=10_000)
    journal = tmp_path / "calls.jsonl"
    procs = [spawn(fresh_pg, journal, f"w{i}", max_seconds=50, network=False, batch=200) for i in range(workers)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=58)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    check_every_callback_dialed_once(fresh_pg, journal, 10_000)
    assert all(r["dialed"] > 0 for r in results), f"a worker got no work: {results}"


@pytest.mark.parametrize("point", ["after_claim", "after_accept"])
def test_a_worker_killed_mid_dispatch_leaves_nothing_dialed_twice_or_forgotten(fresh_pg, tmp_path, point):
    seed(fresh_pg, 30, agents=30)
    journal = tmp_path / "calls.jsonl"
    doomed = spawn(fresh_pg, journal, "doomed", fault=point, batch=10)
    doomed.communicate(timeout=30)
    assert doomed.returncode == -signal.SIGKILL
    placed_before = sum(journal_attempts(journal).values())
    assert placed_before == (1 if point == "after_accept" else 0)
    db = Database(fresh_pg)
    with db.session() as session:
        stuck = session.scalar(select(func.count()).select_from(Callback).where(Callback.status == "dialing"))
    db.dispose()
    assert stuck == 10  # claimed by the dead worker, held by its lease
    # A worker started "after the lease" (its clock 3 minutes ahead) takes the claims back and finishes the job.
    rescuer = spawn(fresh_pg, journal, "rescuer", offset=180, recover=True, max_seconds=40)
    _out, err = rescuer.communicate(timeout=50)
    assert rescuer.returncode == 0, err[-2000:]
    check_every_callback_kept_once(fresh_pg, journal, 30)
