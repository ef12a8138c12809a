"""Claim-and-dial throughput with 1, 2 and 4 worker processes on PostgreSQL against a local Twilio stand-in.

Each worker runs the real Dispatcher with the real `twilio` client (TWILIO_API_BASE_URL -> TwilioStub). Reports
callbacks claimed and dialed per second and dispatch lateness (dial time minus due time) p50/p99.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from callbacks.clock import SystemClock
from callbacks.db import Database, upgrade
from callbacks.models import Agent, Attempt, Callback
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ACCOUNT = "AC" + "0123456789abcdef" * 2


def fresh_database() -> tuple[str, Any]:
    admin = create_engine(make_url(PG), isolation_level="AUTOCOMMIT")
    name = f"ivr_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url, lambda: _drop(admin, name)


def _drop(admin: Any, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, count: int) -> None:
    """`count` callbacks all due 6 s from now (after the workers have started), and as many agents."""
    now = datetime.now(UTC)
    db = Database(url)
    with db.session() as session:
        rows = [{"public_id": uuid.uuid4().hex, "reference": f"B{i:07d}", "status_token_hash": secrets.token_hex(32),
                 "queue": "general", "phone": f"+98912{i:07d}", "language": "fa", "channel": "api",
                 "status": "pending", "priority": 0, "requested_at": now, "deadline_at": now + timedelta(hours=2),
                 "next_attempt_at": now + timedelta(seconds=6), "attempts_made": 0, "version": 1} for i in range(count)]
        for start in range(0, count, 2000):
            session.execute(insert(Callback), rows[start:start + 2000])
        session.execute(insert(Agent), [{"name": f"a{i}", "phone": f"+98935{i:07d}", "on_shift": True,
                                         "shift_changed_at": now, "queues": [], "created_at": now}
                                        for i in range(count)])
    db.dispose()


def worker_main(args: dict[str, Any]) -> None:
    """One worker process: dispatch until nothing is pending."""
    from scheduler.dispatcher import Dispatcher
    from telephony.twilio import TwilioProvider

    centre = load_contact_centre(EXAMPLE_CONFIG)
    # The hourly spending breaker off: this measures how fast claims go, not how many an hour we allow.
    centre = centre.model_copy(update={"dispatch": centre.dispatch.model_copy(
        update={"calls_per_second": 10_000, "tick": timedelta(seconds=1)}),
        "limits": centre.limits.model_copy(update={"dials_per_hour": 0})})
    db = Database(args["url"], pool_size=2, max_overflow=2)
    provider = TwilioProvider(ACCOUNT, "bench-token", base_url=args["twilio"])
    dispatcher = Dispatcher(db, centre, provider, SystemClock(), worker_id=args["id"],
                            base_url="https://support.example.com", caller_id="+14155550100", batch_size=100)
    while True:
        if dispatcher.tick().claimed:
            continue
        with db.session() as session:
            if not session.scalar(select(func.count()).select_from(Callback).where(Callback.status == "pending")):
                break
        time.sleep(0.02)
    db.dispose()


def run(workers: int, count: int, stub_url: str) -> dict[str, float]:
    url, drop = fresh_database()
    try:
        seed(url, count)
        start = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "bench.throughput", "--worker",
                                   json.dumps({"url": url, "twilio": stub_url, "id": f"w{i}"})], cwd=ROOT)
                 for i in range(workers)]
        for proc in procs:
            proc.wait()
        elapsed = time.monotonic() - start
        db = Database(url)
        with db.session() as session:
            rows = [(dial, due) for dial, due in session.execute(  # both are set on every dialed attempt
                select(Attempt.dial_started_at, Callback.next_attempt_at)
                .join(Callback, Callback.id == Attempt.callback_id)).all() if dial is not None and due is not None]
            first_dial = min(r[0] for r in rows)
            last_dial = max(r[0] for r in rows)
        db.dispose()
        lateness = sorted((dial - due).total_seconds() for dial, due in rows)
        span = (last_dial - first_dial).total_seconds() or elapsed
        return {"workers": workers, "dialed": len(rows), "per_second": len(rows) / span,
                "p50": statistics.median(lateness), "p99": lateness[int(len(lateness) * 0.99) - 1],
                "wall": elapsed}
    finally:
        drop()


def main(count: int = 3000) -> list[dict[str, float]]:
    from telephony.twilio_standin import TwilioStub

    results = []
    with TwilioStub() as stub:
        for workers in (1, 2, 4):
            results.append(run(workers, count, stub.base_url))
            stub.calls.clear()
            stub.requests.clear()
    return results


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker_main(json.loads(sys.argv[2]))
    else:
        for row in main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000):
            print(row)
