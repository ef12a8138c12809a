"""SLA figures over many callbacks (1,000,000; --quick 100,000) and 90 days on PostgreSQL. Goal: < 0.5 s.
Peer: one `count(*)` over the same 90 days (the least any report must read when it reads the rows)."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.harness import Row, Run, database
from bench.seed_reports import NOW, seed


def _median(action, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(run: Run) -> None:
    from callbacks.db import Database
    from callbacks.models import Callback
    from callbacks.sla import roll_up, sla_figures

    rows = 100_000 if run.quick else 1_000_000
    print(f"# SLA figures: {rows:,} callbacks over 90 days, PostgreSQL", flush=True)
    with database("postgresql") as url:
        seed(url, rows)
        db = Database(url)
        zone = ZoneInfo("Asia/Tehran")
        since, until = NOW - timedelta(days=90), NOW
        live, _ = _median(lambda: sla_figures(db, zone, since, until), 1)
        # The daily rollup, as the worker keeps it (once; then a minute's check finds nothing to do).
        started = time.perf_counter()
        rows_written = roll_up(db, zone, NOW)
        print(f"    rollup: {rows_written} rows written in {time.perf_counter() - started:.1f} s")

        def count() -> int:
            with db.session() as session:
                return int(session.scalar(select(func.count()).select_from(Callback).where(
                    Callback.requested_at >= since, Callback.requested_at < until)) or 0)

        peer, _ = _median(count)
        seconds, _ = _median(lambda: sla_figures(db, zone, since, until))
        db.dispose()
    run.add(Row("sla", f"SLA figures, 90 days, {rows:,} callbacks (live query)", round(live * 1000, 1), "ms",
                peer=round(peer * 1000, 1), peer_name="count(*) of the rows", higher_is_better=False))
    run.add(Row("sla", f"SLA figures, 90 days, {rows:,} callbacks (daily rollup)", round(seconds * 1000, 1), "ms",
                peer=round(peer * 1000, 1), peer_name="count(*) of the rows", goal="< 500 ms",
                higher_is_better=False))
