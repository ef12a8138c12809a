"""The claim's statements keep their indexes under the plan PostgreSQL gives a prepared statement.

psycopg prepares a statement on its fifth run; from then on PostgreSQL may use a generic plan, made with no value
for the parameters. A look at rest that is fast with each run's `now` can then scan every open callback: a tick at
rest went from 4 to 15 ms at 100,000 open callbacks that way. These tests plan the statement as the generic plan
would and read the plan (no timing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from scheduler.dispatcher import agents_to_claim
from tests.conftest import DEFAULT_NOW

OPEN_CALLBACKS = """
INSERT INTO callbacks (public_id, reference, status_token_hash, queue, phone, language, channel, status, priority,
                       requested_at, deadline_at, next_attempt_at, attempts_made, version)
SELECT md5('p' || i), 'T' || i, md5('t' || i) || md5('u' || i), 'general', '+98912' || lpad(i::text, 7, '0'), 'fa',
       'api', 'pending', 0, :now - interval '1 hour', :now + interval '3 days',
       :now + interval '1 day' + (i % 1000) * interval '1 s', 0, 1
FROM generate_series(1, 20000) AS i
"""


def generic_plan(db: Any, statement: Any) -> str:
    """EXPLAIN of `statement` prepared and planned as PostgreSQL's generic plan (its values given at EXECUTE)."""
    compiled = statement.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
    values = [compiled.params[name] for name in compiled.positiontup]
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE claim_look AS {compiled.string}")
        arguments = sql.SQL(", ").join(sql.Literal(value) for value in values).as_string(cursor)
        cursor.execute(f"EXPLAIN EXECUTE claim_look({arguments})")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        conn.rollback()
    return plan


def test_a_claim_at_rest_reads_the_due_index_not_every_open_callback(pg_db: Any) -> None:
    with pg_db.engine.begin() as conn:
        conn.execute(text(OPEN_CALLBACKS), {"now": DEFAULT_NOW})
        conn.execute(text("INSERT INTO agents (name, phone, on_shift, shift_changed_at, queues, created_at) "
                          "VALUES ('a', '+989350000001', true, :now, '[]', :now)"), {"now": DEFAULT_NOW})
        conn.execute(text("ANALYZE callbacks"))
    plan = generic_plan(pg_db, agents_to_claim(DEFAULT_NOW + timedelta(minutes=1), 400))
    assert "ix_callbacks_due" in plan, plan
    assert "Seq Scan on callbacks" not in plan, plan
