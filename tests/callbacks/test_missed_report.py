"""The missed-callback report: filtered by local dates, queue and reason; each row opens the callback's full
history; the same rows as a streamed CSV, through the API and on the command line; the daily digest."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest

from callbacks.reports import MISSED_COLUMNS, daily_digest, missed_count, missed_rows
from tests.conftest import TEHRAN
from tests.support.supervisor import add_account, log_in, make_callback


def _missed(db, now, *, deadline, queue="general", reason="no free agent before the deadline", attempts=None):
    return make_callback(
        db,
        now,
        status="missed",
        queue=queue,
        deadline_in=deadline - now,
        requested_ago=timedelta(hours=3) + (now - deadline),
        end_reason=reason,
        attempts=attempts,
    )


@pytest.fixture
def week_of_misses(app, clock):
    """Misses on 20, 21 (two), 22 November (Tehran), in two queues with two reasons."""
    db = app.extensions["ivr"].db
    now = clock.now()
    return {
        "nov20": _missed(db, now, deadline=datetime(2026, 11, 20, 23, 50, tzinfo=TEHRAN)),
        "nov21a": _missed(
            db,
            now,
            deadline=datetime(2026, 11, 21, 0, 10, tzinfo=TEHRAN),
            queue="billing",
            reason="provider failure (503)",
        ),
        "nov21b": _missed(
            db,
            now,
            deadline=datetime(2026, 11, 21, 12, 0, tzinfo=TEHRAN),
            attempts=[{"outcome": "no-answer"}, {"outcome": "busy"}],
        ),
        "nov22": _missed(db, now, deadline=datetime(2026, 11, 22, 9, 0, tzinfo=TEHRAN)),
    }


def test_missed_rows_filter_by_deadline_queue_and_reason(app, week_of_misses):
    db = app.extensions["ivr"].db
    day21 = dict(since=datetime(2026, 11, 21, tzinfo=TEHRAN), until=datetime(2026, 11, 22, tzinfo=TEHRAN))
    assert [r["reference"] for r in missed_rows(db, **day21)] == [
        week_of_misses["nov21a"].reference,
        week_of_misses["nov21b"].reference,
    ]
    assert [r["queue"] for r in missed_rows(db, **day21, queue="billing")] == ["billing"]
    assert [r["reason"] for r in missed_rows(db, reason="provider")] == ["provider failure (503)"]
    assert missed_count(db, **day21) == 2
    assert list(missed_rows(db, reason="100%_")) == []  # LIKE wildcards are matched literally


def test_missed_rows_stream_in_keyset_batches_without_losing_ties(app, clock):
    db = app.extensions["ivr"].db
    deadline = datetime(2026, 11, 21, 12, 0, tzinfo=TEHRAN)
    made = [_missed(db, clock.now(), deadline=deadline) for _ in range(7)]
    rows = list(missed_rows(db, batch=2))
    assert sorted(r["id"] for r in rows) == sorted(c.public_id for c in made)
    assert len(rows) == 7
    assert [r["id"] for r in missed_rows(db, batch=3, limit=4)] == [r["id"] for r in rows[:4]]


def test_report_page_filters_by_local_dates_queue_and_reason(app, client, week_of_misses):
    log_in(client, add_account(app))
    html = client.get("/supervisor/reports/missed?lang=en&since=2026-11-21&until=2026-11-21").get_data(as_text=True)
    assert week_of_misses["nov21a"].reference in html and week_of_misses["nov21b"].reference in html
    assert week_of_misses["nov20"].reference not in html and week_of_misses["nov22"].reference not in html
    assert "2 missed callbacks" in html
    html = client.get("/supervisor/reports/missed?since=2026-11-20&until=2026-11-22&queue=billing").get_data(
        as_text=True
    )
    assert week_of_misses["nov21a"].reference in html and week_of_misses["nov21b"].reference not in html
    html = client.get("/supervisor/reports/missed?since=2026-11-20&until=2026-11-22&reason=provider").get_data(
        as_text=True
    )
    assert week_of_misses["nov21a"].reference in html and week_of_misses["nov20"].reference not in html


def test_persian_readers_filter_with_solar_hijri_dates(app, client, week_of_misses):
    log_in(client, add_account(app))
    # 1 Azar 1405 = 22 November 2026; 30 Aban 1405 = 21 November 2026 (Persian digits accepted).
    html = client.get("/supervisor/reports/missed?lang=fa&since=۱۴۰۵/۰۸/۳۰&until=1405/08/30").get_data(as_text=True)
    assert week_of_misses["nov21b"].reference in html and week_of_misses["nov22"].reference not in html
    assert 'value="1405/08/30"' in html  # the form shows the Jalali date back
    assert "۱۴۰۵/۰۸/۳۰ ۱۲:۰۰" in html  # deadlines in Jalali with Persian digits
    assert 'dir="rtl"' in html


def test_a_bad_date_is_reported_not_a_crash(app, client, week_of_misses):
    log_in(client, add_account(app))
    response = client.get("/supervisor/reports/missed?lang=en&since=yesterday")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "since: " in page and "is not a date" in page


def test_csv_download_streams_the_filtered_rows(app, client, week_of_misses):
    log_in(client, add_account(app))
    response = client.get("/supervisor/reports/missed.csv?since=2026-11-20&until=2026-11-21")
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert 'filename="missed-callbacks-2026-11-20-2026-11-21.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0].keys()) == MISSED_COLUMNS
    assert [r["reference"] for r in rows] == [week_of_misses[k].reference for k in ("nov20", "nov21a", "nov21b")]
    assert rows[2]["attempts_made"] == "2" and rows[2]["reason"] == "no free agent before the deadline"


def test_csv_neutralises_formulas_in_reasons(app, client, clock):
    _missed(app.extensions["ivr"].db, clock.now(), deadline=clock.now() - timedelta(hours=1), reason="=HYPERLINK(1)")
    log_in(client, add_account(app))
    body = client.get("/supervisor/reports/missed.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in body


def test_each_row_links_to_the_callbacks_full_history(app, client, week_of_misses):
    callback = week_of_misses["nov21b"]
    log_in(client, add_account(app))
    report = client.get("/supervisor/reports/missed?lang=en&since=2026-11-21&until=2026-11-21").get_data(as_text=True)
    assert f'href="/supervisor/callbacks/{callback.public_id}"' in report
    page = client.get(f"/supervisor/callbacks/{callback.public_id}?lang=en").get_data(as_text=True)
    assert callback.reference in page and callback.phone in page  # admins see the full number
    assert "no-answer" in page and "busy" in page
    assert "requested by web" in page and "no free agent before the deadline" in page
    history = client.get(f"/supervisor/callbacks/{callback.public_id}.json").get_json()
    assert [a["outcome"] for a in history["attempts"]] == ["no-answer", "busy"]
    assert [e["to_status"] for e in history["events"]] == ["pending", "missed"]


def test_viewers_see_masked_numbers_in_the_history(app, client, week_of_misses):
    callback = week_of_misses["nov21b"]
    log_in(client, add_account(app, "viewer@example.com", role="viewer"))
    page = client.get(f"/supervisor/callbacks/{callback.public_id}").get_data(as_text=True)
    assert callback.phone not in page and "***" in page


def test_unknown_callback_history_is_404(app, client):
    log_in(client, add_account(app))
    assert client.get("/supervisor/callbacks/nope").status_code == 404


def test_json_through_the_api_still_works(client, auth, week_of_misses):
    response = client.get("/api/v1/reports/missed?queue=billing", headers=auth)
    assert response.status_code == 200
    assert [r["reference"] for r in response.get_json()["missed"]] == [week_of_misses["nov21a"].reference]


def test_command_line_report_in_every_format(app, week_of_misses):
    from cli.main import cli

    runner = app.test_cli_runner()
    result = runner.invoke(
        cli, ["report", "missed", "--since", "2026-11-21", "--until", "2026-11-22", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(io.StringIO(result.output)))) == 2
    result = runner.invoke(cli, ["report", "missed", "--format", "json", "--reason", "provider"])
    assert [r["queue"] for r in json.loads(result.output)] == ["billing"]
    result = runner.invoke(cli, ["report", "missed"])
    assert "4 missed callback(s)" in result.output


def test_daily_digest_summarises_yesterday(app, clock, centre):
    db = app.extensions["ivr"].db
    now = clock.now()  # Sunday 22 November 10:00 Tehran: the digest covers Saturday 21 November
    yesterday = datetime(2026, 11, 21, 11, 0, tzinfo=TEHRAN)
    for _ in range(3):
        make_callback(
            db,
            now,
            status="completed",
            requested_ago=now - yesterday,
            attempts=[{"outcome": "connected", "bridged_at": yesterday + timedelta(minutes=12)}],
        )
    _missed(db, now, deadline=datetime(2026, 11, 21, 13, 0, tzinfo=TEHRAN), reason="no free agent before the deadline")
    make_callback(db, now, at_risk_reason="backlog")
    subject, text = daily_digest(db, centre, now)
    assert subject == "Example Support digest for 2026-11-21: 75.0% kept, 1 missed"
    assert "Requested: 4" in text and "Completed: 3" in text and "Missed: 1" in text
    assert "Median to conversation: 12m" in text
    assert "Open now: 1, at risk now: 1" in text
    assert "no free agent before the deadline" in text
    subject_fa, _ = daily_digest(db, centre, now, language="fa")
    assert "۱۴۰۵/۰۸/۳۰" in subject_fa and "۷۵٫۰٪" in subject_fa
