"""The worker's side on PostgreSQL, each beside its floor measured in the same run:

- dialing: the real Dispatcher in 2 worker processes, real `twilio` client, against the Twilio stand-in; peer: 2
  processes calling the bare `twilio` client's `calls.create` as fast as they can against the same stand-in.
  Goal: >= 0.7 of the peer's rate.
- claiming: Dispatcher.claim in 2 processes (nothing dialed); peer: 2 processes running a raw
  `SELECT ... FOR UPDATE SKIP LOCKED LIMIT n` + `UPDATE` loop over the same rows. Goal: >= 0.5.
- tick: one Dispatcher.tick() at rest (nothing due) over many open callbacks (1,000,000; --quick 100,000);
  peer: the one indexed query that finds due work. Goal: < 20 ms.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text

from bench import throughput
from bench.harness import ROOT, Row, Run, database

ACCOUNT = throughput.ACCOUNT


def _centre() -> Any:
    from config import load_contact_centre
    from config.settings import EXAMPLE_CONFIG

    centre = load_contact_centre(EXAMPLE_CONFIG)
    # Pacing and the hourly spending breaker off: this measures how fast claims go, not how many we allow.
    return centre.model_copy(update={"dispatch": centre.dispatch.model_copy(
        update={"calls_per_second": 10_000, "tick": timedelta(seconds=1)}),
        "limits": centre.limits.model_copy(update={"dials_per_hour": 0})})


def _dispatcher(url: str, worker_id: str, twilio: str) -> Any:
    from callbacks.clock import SystemClock
    from callbacks.db import Database
    from scheduler.dispatcher import Dispatcher
    from telephony.twilio import TwilioProvider

    db = Database(url, pool_size=2, max_overflow=2)
    provider = TwilioProvider(ACCOUNT, "bench-token", base_url=twilio)
    return Dispatcher(db, _centre(), provider, SystemClock(), worker_id=worker_id,
                      base_url="https://support.example.com", caller_id="+14155550100", batch_size=100)


# -- child processes ----------------------------------------------------------------------------------------------


def child_bare_dial(args: dict[str, Any]) -> dict[str, float]:
    from twilio.rest import Client

    from telephony.twilio import RebasedHttpClient

    client = Client(ACCOUNT, "bench-token", http_client=RebasedHttpClient(args["twilio"]))
    started = time.time()
    for i in range(args["count"]):
        client.calls.create(to=f"+98912{i:07d}", from_="+14155550100", url="https://support.example.com/a",
                            method="POST", status_callback="https://support.example.com/s",
                            status_callback_method="POST",
                            status_callback_event=["initiated", "ringing", "answered", "completed"], timeout=20)
    return {"started": started, "ended": time.time(), "done": args["count"]}


def _wait_for_start(args: dict[str, Any]) -> float:
    """Both processes set up (imports, connections), then start together: a loop of a few milliseconds would
    otherwise measure how late the second process started."""
    time.sleep(max(0.0, args["start_at"] - time.time()))
    return time.time()


def child_claim(args: dict[str, Any]) -> dict[str, float]:
    dispatcher = _dispatcher(args["url"], args["id"], "http://127.0.0.1:9")
    with dispatcher.db.session() as session:  # a connection in the pool before the clock starts
        session.execute(text("SELECT 1"))
    started, done = _wait_for_start(args), 0
    while True:
        got = dispatcher.claim(datetime.now(UTC))
        if not got:
            break
        done += len(got)
    return {"started": started, "ended": time.time(), "done": done}


RAW_CLAIM = """
WITH due AS (
    SELECT id FROM callbacks WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY deadline_at LIMIT 100 FOR UPDATE SKIP LOCKED
)
UPDATE callbacks SET status = 'dialing', attempts_made = attempts_made + 1, version = version + 1
FROM due WHERE callbacks.id = due.id RETURNING callbacks.id
"""


# The claim's own writes with nothing else: what any claim that keeps an attempt's record, the callback's history
# and the agent's reservation must do, in one raw statement per 100. The due callbacks and free agents are taken
# with SKIP LOCKED and paired in order; each pair gets its attempt, the callback moves to `dialing` naming it,
# a history row is written and the agent is reserved. No deadline, queue, do-not-call, daily-cap or pacing check,
# no numbering after earlier attempts (every callback here has none), no Python between the steps.
RAW_CLAIM_WRITES = """
WITH due AS (
    SELECT id, row_number() OVER () AS n FROM (
        SELECT id FROM callbacks WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY deadline_at LIMIT 100 FOR UPDATE SKIP LOCKED) AS d
), free AS (
    SELECT id, row_number() OVER () AS n FROM (
        SELECT id FROM agents WHERE on_shift AND busy_call_sid IS NULL LIMIT 100 FOR UPDATE SKIP LOCKED) AS f
), attempt AS (
    INSERT INTO attempts (callback_id, number, state, agent_id, worker_id, provider, dial_order, created_at,
                          lease_until, sequence)
    SELECT due.id, 1, 'created', free.id, 'raw', 'twilio', 'agent_first', now(), now() + interval '2 minutes',
           CAST('{}' AS json)
    FROM due JOIN free ON free.n = due.n
    RETURNING id, callback_id, agent_id, number
), claimed AS (
    UPDATE callbacks SET status = 'dialing', attempts_made = attempts_made + 1, version = version + 1,
                         live_attempt_id = attempt.id
    FROM attempt WHERE callbacks.id = attempt.callback_id RETURNING callbacks.id, attempt.number
), history AS (
    INSERT INTO callback_events (callback_id, at, kind, from_status, to_status, actor, reason, details)
    SELECT claimed.id, now(), 'status', 'pending', 'dialing', 'worker raw', 'claimed for dialing',
           CAST(jsonb_build_object('attempt', claimed.number) AS json)
    FROM claimed
), reserved AS (
    UPDATE agents SET busy_call_sid = 'attempt:' || attempt.id, busy_since = now()
    FROM attempt WHERE agents.id = attempt.agent_id RETURNING agents.id
)
SELECT claimed.id, (SELECT count(*) FROM reserved) FROM claimed
"""


def _raw_loop(statement: str) -> Any:
    """A child running `statement` (one transaction each) until it returns no row: the raw peers of claiming."""

    def child(args: dict[str, Any]) -> dict[str, float]:
        engine = create_engine(args["url"])
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        started, done = _wait_for_start(args), 0
        while True:
            with engine.begin() as conn:
                got = conn.execute(text(statement)).all()
            if not got:
                break
            done += len(got)
        return {"started": started, "ended": time.time(), "done": done}

    return child


CHILDREN = {"bare_dial": child_bare_dial, "claim": child_claim, "raw_claim": _raw_loop(RAW_CLAIM),
            "raw_claim_writes": _raw_loop(RAW_CLAIM_WRITES)}


def in_processes(kind: str, payloads: list[dict[str, Any]]) -> float:
    """Run CHILDREN[kind] in one process per payload; items per second over the span they all ran."""
    procs = [subprocess.Popen([sys.executable, "-m", "bench.dispatch", kind, json.dumps(p)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for p in payloads]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"{kind} child failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return sum(r["done"] for r in results) / span


# -- tables -------------------------------------------------------------------------------------------------------


def dialing(run: Run) -> None:
    from telephony.twilio_standin import TwilioStub

    count = 600 if run.quick else 3000
    print(f"# Dialing: {count} due callbacks, 2 worker processes, PostgreSQL, the Twilio stand-in", flush=True)
    with TwilioStub() as stub:
        peer = in_processes("bare_dial", [{"twilio": stub.base_url, "count": count // 2}] * 2)
        stub.calls.clear()
        stub.requests.clear()
        ours = throughput.run(2, count, stub.base_url)
    run.add(Row("dialing", "dispatcher, 2 workers: calls placed", round(ours["per_second"], 1), "calls/s",
                peer=round(peer, 1), peer_name="bare twilio calls.create x2", goal=">= 0.7",
                detail={"lateness_p50_s": ours["p50"], "lateness_p99_s": ours["p99"]}))


def _seed_due(url: str, count: int) -> None:
    throughput.seed(url, count)
    engine = create_engine(url)
    with engine.begin() as conn:  # due now, not in 6 s
        conn.execute(text("UPDATE callbacks SET next_attempt_at = now() - interval '1 second'"))
        conn.execute(text("ANALYZE"))
    engine.dispose()


def claiming(run: Run) -> None:
    """Three rounds, each running the raw loop, the claim's writes and ours on freshly seeded rows, in turn; the
    medians are reported (one run of a few tenths of a second moves by half from one round to the next)."""
    count = 4000 if run.quick else 10000
    print(f"# Claiming: {count} due callbacks (and as many free agents), 2 processes, PostgreSQL, 3 rounds",
          flush=True)
    rates: dict[str, list[float]] = {"raw_claim": [], "raw_claim_writes": [], "claim": []}
    for _round in range(3):
        for kind, rate in rates.items():
            with database("postgresql") as url:
                _seed_due(url, count)
                start_at = time.time() + (6 if kind == "claim" else 4)
                rate.append(in_processes(kind, [{"url": url, "id": f"w{i}", "start_at": start_at}
                                                for i in range(2)]))
    peer, writes, ours = (statistics.median(rates[kind]) for kind in ("raw_claim", "raw_claim_writes", "claim"))
    samples = {kind: [round(r) for r in rate] for kind, rate in rates.items()}
    run.add(Row("claiming", "Dispatcher.claim, 2 processes (median of 3)", round(ours, 1), "claims/s",
                peer=round(peer, 1), peer_name="raw SKIP LOCKED loop x2", goal=">= 0.5", detail=samples))
    run.add(Row("claiming", "Dispatcher.claim, 2 processes, against the claim's writes", round(ours, 1), "claims/s",
                peer=round(writes, 1), peer_name="the claim's writes in one raw statement x2",
                detail={"writes_vs_raw_loop": round(writes / peer, 3)}))


SEED_OPEN = """
INSERT INTO callbacks (public_id, reference, status_token_hash, queue, phone, language, channel, status, priority,
                       requested_at, deadline_at, next_attempt_at, attempts_made, version)
SELECT md5('p' || i), 'T' || i, md5('t' || i) || md5('u' || i), (ARRAY['general', 'billing'])[1 + i % 2],
       '+98912' || lpad(i::text, 7, '0'), 'fa', 'api', 'pending', 0,
       now() - interval '1 hour', now() + interval '3 days', now() + interval '1 day' + (i % 1000) * interval '1 s',
       0, 1
FROM generate_series(1, :rows) AS i
"""


def tick(run: Run) -> None:
    rows = 100_000 if run.quick else 1_000_000
    print(f"# Tick at rest: {rows:,} open callbacks (none due), 2 free agents, PostgreSQL", flush=True)
    with database("postgresql") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(SEED_OPEN), {"rows": rows})
            now = datetime.now(UTC)
            for i in range(2):
                conn.execute(text("INSERT INTO agents (name, phone, on_shift, shift_changed_at, queues, created_at) "
                                  "VALUES (:n, :p, true, :now, '[]', :now)"),
                             {"n": f"a{i}", "p": f"+9893500000{i}", "now": now})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        peer_times = []
        with engine.connect() as conn:
            for _ in range(20):
                started = time.perf_counter()
                with conn.begin():
                    conn.execute(text("SELECT id FROM callbacks WHERE status = 'pending' AND next_attempt_at <= now() "
                                      "ORDER BY deadline_at LIMIT 100 FOR UPDATE SKIP LOCKED")).all()
                peer_times.append(time.perf_counter() - started)
        engine.dispose()
        dispatcher = _dispatcher(url, "tick", "http://127.0.0.1:9")
        times = []
        for _ in range(20):
            started = time.perf_counter()
            report = dispatcher.tick()
            times.append(time.perf_counter() - started)
            assert not report.claimed
        dispatcher.db.dispose()
    ours_ms, peer_ms = statistics.median(times) * 1000, statistics.median(peer_times) * 1000
    run.add(Row("tick", f"worker tick at rest, {rows:,} open (median of 20)", round(ours_ms, 2), "ms",
                peer=round(peer_ms, 2), peer_name="one due-work query", goal="< 20 ms", higher_is_better=False,
                detail={"p90_ms": sorted(times)[17] * 1000}))


if __name__ == "__main__":
    print(json.dumps(CHILDREN[sys.argv[1]](json.loads(sys.argv[2]))))
