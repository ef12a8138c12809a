"""Seed a PostgreSQL database with N callbacks (plus attempts and phone-tree journeys) for the report benchmark.

Everything is generated inside PostgreSQL with generate_series: 1,000,000 callbacks take seconds, not minutes.
Shape: requests spread evenly over the 90 days before `now`; ~80% completed (one attempt, 2-120 minutes to
the conversation), ~8% missed (three reasons), ~6% unreachable (three unanswered attempts), ~5% canceled, and
the newest ~1% still open (some at risk). One inbound call journey per five callbacks.

    .venv/bin/python -m bench.seed_reports --rows 1000000 --url postgresql+psycopg://postgres@127.0.0.1:5432/ivr_bench_reports
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from callbacks.db import upgrade

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/ivr_bench_reports"
# The benchmark's "now": fixed, so runs are comparable.
NOW = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)

CALLBACKS_SQL = """
INSERT INTO callbacks (id, public_id, reference, status_token_hash, queue, phone, name, language, note, channel,
    status, priority, requested_at, deadline_at, next_attempt_at, attempts_made, at_risk_since, at_risk_reason,
    ended_at, end_reason, conversation_at, version)
SELECT i,
       md5('p' || i),
       'B' || i,
       md5('t' || i) || md5('u' || i),
       (ARRAY['general', 'billing', 'urgent'])[1 + i % 3],
       '+98912' || lpad((i % 10000000)::text, 7, '0'),
       NULL, CASE WHEN i % 4 = 0 THEN 'en' ELSE 'fa' END, NULL, 'web',
       s.status, 0, s.requested_at, s.requested_at + interval '2 hours', s.requested_at,
       CASE s.status WHEN 'completed' THEN 1 + (i % 7 = 0)::int WHEN 'unreachable' THEN 3 WHEN 'missed' THEN i % 3
                     WHEN 'canceled' THEN 0 ELSE 0 END,
       CASE WHEN s.status = 'pending' AND i % 5 = 0 THEN :now ELSE NULL END,
       CASE WHEN s.status = 'pending' AND i % 5 = 0 THEN 'backlog of 12 ahead, 2 agents free' ELSE NULL END,
       CASE WHEN s.status IN ('pending', 'dialing') THEN NULL
            WHEN s.status = 'missed' THEN s.requested_at + interval '2 hours'
            ELSE s.requested_at + ((5 + i % 115) || ' minutes')::interval END,
       CASE s.status WHEN 'missed' THEN (ARRAY['no free agent before the deadline',
                                             'provider failure (Twilio 503)',
                                             'worker down: no attempt before the deadline'])[1 + i % 3]
                     WHEN 'unreachable' THEN 'all 3 attempts unanswered'
                     WHEN 'canceled' THEN 'canceled by the customer'
                     WHEN 'completed' THEN 'talked' ELSE NULL END,
       CASE WHEN s.status = 'completed' THEN s.requested_at + ((5 + i % 115) || ' minutes')::interval END,
       1
FROM generate_series(1, :rows) AS i
CROSS JOIN LATERAL (
    SELECT :now - (:rows - i) * (interval '90 days' / :rows) AS requested_at,
           CASE WHEN i > :rows - greatest(:rows / 100, 1) THEN 'pending'
                WHEN (i::bigint * 7919) % 100 < 80 THEN 'completed'
                WHEN (i::bigint * 7919) % 100 < 88 THEN 'missed'
                WHEN (i::bigint * 7919) % 100 < 94 THEN 'unreachable'
                ELSE 'canceled' END AS status
) AS s
"""

ATTEMPTS_SQL = """
INSERT INTO attempts (callback_id, number, state, outcome, created_at, dial_started_at, answered_at, bridged_at,
                      ended_at, talk_seconds)
SELECT c.id, n, 'ended',
       CASE WHEN c.status = 'completed' AND n = c.attempts_made THEN 'connected'
            WHEN n % 2 = 0 THEN 'busy' ELSE 'no-answer' END,
       c.requested_at + (n * 3 || ' minutes')::interval,
       c.requested_at + (n * 3 || ' minutes')::interval,
       CASE WHEN c.status = 'completed' AND n = c.attempts_made THEN c.ended_at END,
       CASE WHEN c.status = 'completed' AND n = c.attempts_made THEN c.ended_at END,
       c.requested_at + (n * 3 + 1 || ' minutes')::interval,
       CASE WHEN c.status = 'completed' AND n = c.attempts_made THEN 60 + c.id % 400 END
FROM callbacks c CROSS JOIN LATERAL generate_series(1, c.attempts_made) AS n
"""

INBOUND_SQL = """
INSERT INTO inbound_calls (call_sid, caller_masked, started_at, ended_at, path, outcome, outcome_node, zero_presses,
                           answered_at)
SELECT 'CA' || md5('call' || i),
       '+98912***' || lpad((i % 10000)::text, 4, '0'),
       :now - (:calls - i) * (interval '90 days' / :calls),
       :now - (:calls - i) * (interval '90 days' / :calls) + interval '3 minutes',
       CASE i % 5
         WHEN 0 THEN '[{"node": "language"}]'::json
         WHEN 1 THEN '[{"node": "language"}, {"node": "main"}]'::json
         ELSE '[{"node": "language"}, {"node": "main"}, {"node": "billing", "input": "2"}]'::json END,
       (ARRAY['no_input', 'callback_requested', 'human', 'hung_up', 'human'])[1 + i % 5],
       (ARRAY['language', 'main', 'billing', 'billing', 'billing'])[1 + i % 5],
       CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 5 IN (2, 4) THEN :now - (:calls - i) * (interval '90 days' / :calls) + interval '1 minute' END
FROM generate_series(1, :calls) AS i
"""


def seed(url: str, rows: int) -> dict[str, float]:
    """Recreate the database at `url`, migrate it, fill it; returns seconds per step."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    upgrade(url)
    timings: dict[str, float] = {}
    engine = create_engine(url)
    params = {"rows": rows, "now": NOW, "calls": max(rows // 5, 1)}
    with engine.begin() as conn:
        for name, sql in (("callbacks", CALLBACKS_SQL), ("attempts", ATTEMPTS_SQL), ("inbound_calls", INBOUND_SQL)):
            started = time.perf_counter()
            conn.execute(text(sql), params)
            timings[name] = time.perf_counter() - started
        conn.execute(text("SELECT setval(pg_get_serial_sequence('callbacks', 'id'), :rows)"), params)
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    timings["vacuum_analyze"] = time.perf_counter() - started
    engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    for step, seconds in seed(args.url, args.rows).items():
        print(f"{step:16} {seconds:8.1f} s")


if __name__ == "__main__":
    main()
