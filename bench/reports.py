"""Benchmark the supervisor's reports over a large PostgreSQL database: the missed-callback report (page, CSV
export: time to first byte, total, memory) and the SLA figures and phone-tree funnel.

    .venv/bin/python -m bench.reports --rows 1000000            # seeds (generate_series) then measures
    .venv/bin/python -m bench.reports --rows 1000000 --no-seed  # measures an already seeded database

The CSV export runs through the real Flask view (log-in, streaming response) in this process; memory is the
peak traced by tracemalloc while the whole body is consumed, and the process's peak RSS growth.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bench.seed_reports import DEFAULT_URL, NOW, seed
from callbacks.clock import FrozenClock
from callbacks.db import Database
from callbacks.models import Callback
from callbacks.reports import missed_by_reason, missed_count, missed_rows
from callbacks.sla import phone_tree_funnel, sla_figures
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG

PASSWORD = "bench password 123"


def timed(action: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time of `repeat` runs (the first warms the cache and counts too) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str) -> list[tuple[str, str, str]]:
    from ivr.app import create_app

    centre = load_contact_centre(EXAMPLE_CONFIG)
    db = Database(url)
    zone = centre.zone
    clock = FrozenClock(NOW)
    rows: list[tuple[str, str, str]] = []
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(Callback))
    rows.append(("callbacks in the database", f"{total:,}", ""))

    month = (NOW - timedelta(days=30), NOW)
    quarter = (NOW - timedelta(days=91), NOW + timedelta(days=1))

    seconds, page = timed(lambda: list(missed_rows(db, since=month[0], until=month[1], limit=200)))
    rows.append(("missed report: first page (200 rows, 30 days)", f"{seconds * 1000:.0f} ms", f"{len(page)} rows"))
    seconds, count = timed(lambda: missed_count(db, since=month[0], until=month[1]))
    rows.append(("missed report: count (30 days)", f"{seconds * 1000:.0f} ms", f"{count:,} missed"))
    seconds, reasons = timed(lambda: missed_by_reason(db, since=month[0], until=month[1]))
    rows.append(("missed report: by reason (30 days)", f"{seconds * 1000:.0f} ms", f"{len(reasons)} reasons"))

    app = create_app(
        {
            "TESTING": True,
            "secret_key": "bench",
            "public_base_url": "http://127.0.0.1:5000",
            "ratelimit_storage_url": "memory://",
            "DATABASE": db,
            "CENTRE": centre,
            "CLOCK": clock,
        }
    )
    from callbacks.accounts import add_supervisor

    try:
        add_supervisor(db, "bench@example.com", PASSWORD, NOW)
    except Exception:  # already there from an earlier run
        pass
    client = app.test_client()
    page_html = client.get("/supervisor/login?lang=en").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found is not None, "the log-in page has no CSRF token"
    token = found.group(1)
    client.post("/supervisor/login", data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token})

    since_day = (NOW - timedelta(days=91)).astimezone(zone).date().isoformat()
    until_day = NOW.astimezone(zone).date().isoformat()
    seconds, response = timed(lambda: client.get(f"/supervisor/reports/missed?since={since_day}&until={until_day}"), 3)
    rows.append(("missed report page, HTTP (90 days)", f"{seconds * 1000:.0f} ms", f"status {response.status_code}"))

    csv_url = f"/supervisor/reports/missed.csv?since={since_day}&until={until_day}"

    def export(trace: bool) -> tuple[float, float, int, int, int]:
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        response = client.get(csv_url, buffered=False)
        body = iter(response.response)
        first = next(body)
        first_byte = time.perf_counter() - started
        size, lines = len(first), first.count(b"\n")
        for chunk in body:
            size += len(chunk)
            lines += chunk.count(b"\n")
        total_seconds = time.perf_counter() - started
        peak = 0
        if trace:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        response.close()
        return first_byte, total_seconds, size, lines - 1, peak

    rss_before = rss_mb()
    first_byte, total_seconds, size, count, _ = export(trace=False)
    rss_growth = max(rss_mb() - rss_before, 0)
    rows.append(("CSV export (90 days): time to first byte", f"{first_byte * 1000:.0f} ms", ""))
    rows.append(
        (
            "CSV export (90 days): total",
            f"{total_seconds:.2f} s",
            f"{count:,} rows, {size / 1e6:.1f} MB, {count / total_seconds:,.0f} rows/s",
        )
    )
    *_, peak = export(trace=True)
    rows.append(("CSV export: peak Python memory (tracemalloc)", f"{peak / 1e6:.1f} MB", "whole export, 2nd run"))
    rows.append(("CSV export: process peak RSS growth", f"{rss_growth:.1f} MB", "1st run"))

    seconds, report = timed(lambda: sla_figures(db, zone, *month))
    rows.append(("SLA figures (30 days, per day x queue)", f"{seconds * 1000:.0f} ms", f"{len(report.cells)} cells"))
    seconds, report = timed(lambda: sla_figures(db, zone, *quarter))
    rows.append(
        (
            "SLA figures (all 90 days)",
            f"{seconds * 1000:.0f} ms",
            f"kept {report.overall.kept_share:.1%}, p50 {report.overall.median_seconds:.0f} s, "
            f"p90 {report.overall.p90_seconds:.0f} s",
        )
    )
    seconds, funnel = timed(lambda: phone_tree_funnel(db, *month))
    rows.append(("phone-tree funnel (30 days)", f"{seconds * 1000:.0f} ms", f"{funnel.calls:,} calls"))
    seconds, response = timed(lambda: client.get(f"/supervisor/reports/sla?since={since_day}&until={until_day}"), 1)
    rows.append(("SLA page, HTTP (90 days, with funnel)", f"{seconds * 1000:.0f} ms", f"status {response.status_code}"))
    seconds, response = timed(lambda: client.get("/supervisor/board.json"), 3)
    rows.append(("live board JSON", f"{seconds * 1000:.0f} ms", f"{len(response.get_json()['callbacks'])} shown"))
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--no-seed", action="store_true", help="Measure the database as it is")
    args = parser.parse_args()
    if not args.no_seed:
        started = time.perf_counter()
        seed(args.url, args.rows)
        print(f"seeded {args.rows:,} callbacks in {time.perf_counter() - started:.1f} s")
    table = measure(args.url)
    width = max(len(r[0]) for r in table)
    print(f"{'measure':{width}}  {'value':>10}  notes")
    for name, value, notes in table:
        print(f"{name:{width}}  {value:>10}  {notes}")


if __name__ == "__main__":
    main()
