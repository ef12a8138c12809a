"""Service-level figures per local day and queue, computed in SQL (the same numbers on SQLite and PostgreSQL),
and the phone tree's funnel."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from callbacks.sla import percentile, phone_tree_funnel, sla_figures
from tests.conftest import TEHRAN
from tests.support.supervisor import add_account, log_in, make_callback, make_inbound

NOV21_NOON = datetime(2026, 11, 21, 12, 0, tzinfo=TEHRAN)
# 00:10 on 22 November in Tehran is still 21 November in UTC: it must count on the 22nd.
NOV22_JUST_AFTER_MIDNIGHT = datetime(2026, 11, 22, 0, 10, tzinfo=TEHRAN)


def _requested_at(db, now, when, status, *, queue="general", attempts=None):
    return make_callback(
        db,
        now,
        status=status,
        queue=queue,
        requested_ago=now - when,
        attempts=attempts,
        deadline_in=(when + timedelta(hours=2)) - now,
        end_reason=status,
    )


@pytest.fixture
def saturday(app, clock):
    db = app.extensions["ivr"].db
    now = clock.now()
    for minutes in (10, 20, 30, 40):
        _requested_at(
            db,
            now,
            NOV21_NOON,
            "completed",
            attempts=[{"outcome": "connected", "bridged_at": NOV21_NOON + timedelta(minutes=minutes)}],
        )
    _requested_at(db, now, NOV21_NOON, "missed", attempts=[{"outcome": "no-answer"}])
    _requested_at(db, now, NOV21_NOON, "unreachable", attempts=[{"outcome": "no-answer"}] * 3)
    _requested_at(db, now, NOV21_NOON, "canceled")
    _requested_at(
        db,
        now,
        NOV22_JUST_AFTER_MIDNIGHT,
        "completed",
        queue="billing",
        attempts=[
            {"outcome": "busy"},
            {"outcome": "connected", "bridged_at": NOV22_JUST_AFTER_MIDNIGHT + timedelta(minutes=5)},
        ],
    )
    _requested_at(db, now, now - timedelta(minutes=5), "pending", queue="billing")
    return db


def test_figures_per_local_day_and_queue(saturday, centre):
    report = sla_figures(
        saturday, centre.zone, datetime(2026, 11, 20, tzinfo=TEHRAN), datetime(2026, 11, 23, tzinfo=TEHRAN)
    )
    cells = {(c.day.isoformat(), c.queue): c for c in report.cells}
    assert set(cells) == {("2026-11-21", "general"), ("2026-11-22", "billing")}
    general = cells[("2026-11-21", "general")]
    assert (general.requested, general.completed, general.missed, general.unreachable, general.canceled) == (
        7,
        4,
        1,
        1,
        1,
    )
    assert general.kept_share == pytest.approx(4 / 6)
    assert general.unreachable_share == pytest.approx(1 / 6)
    assert general.median_seconds == 25 * 60
    assert general.p90_seconds == 37 * 60  # percentile_cont: 30 + 0.7 * (40 - 30) minutes
    assert general.attempts_per_callback == pytest.approx(8 / 7)
    billing = cells[("2026-11-22", "billing")]
    assert (billing.requested, billing.completed, billing.open) == (2, 1, 1)
    assert billing.median_seconds == 5 * 60 and billing.attempts_per_callback == 2
    assert report.overall.requested == 9 and report.overall.kept_share == pytest.approx(5 / 7)
    assert report.overall.median_seconds == 20 * 60  # 5, 10, 20, 30, 40 minutes
    assert [q.queue for q in report.by_queue] == ["billing", "general"]
    assert [d.day.isoformat() for d in report.by_day] == ["2026-11-21", "2026-11-22"]


def test_figures_for_one_queue_and_an_empty_period(saturday, centre):
    report = sla_figures(
        saturday,
        centre.zone,
        datetime(2026, 11, 20, tzinfo=TEHRAN),
        datetime(2026, 11, 23, tzinfo=TEHRAN),
        queue="billing",
    )
    assert [c.queue for c in report.cells] == ["billing"]
    empty = sla_figures(
        saturday, centre.zone, datetime(2026, 10, 1, tzinfo=TEHRAN), datetime(2026, 10, 2, tzinfo=TEHRAN)
    )
    assert empty.cells == [] and empty.overall.kept_share is None and empty.overall.median_seconds is None


def test_percentile_interpolates_like_postgresql():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([10, 20, 30, 40], 0.5) == 25
    assert percentile([40, 10, 30, 20], 0.9) == pytest.approx(37)


@pytest.fixture
def calls(app, clock):
    db = app.extensions["ivr"].db
    start = clock.now() - timedelta(hours=1)
    make_inbound(db, start, ["language", "main", "billing"], outcome="human", answered=True)
    make_inbound(db, start, ["language", "main"], outcome="callback_requested")
    make_inbound(db, start, ["language", "main", "billing"], outcome="hung_up")
    make_inbound(db, start, ["language", "main", "billing"], outcome="hung_up", zero=2)
    make_inbound(db, start, ["language"], outcome="no_input", zero=1)
    make_inbound(db, start - timedelta(days=30), ["language"], outcome="hung_up")  # outside the period
    return db


def test_phone_tree_funnel_shows_where_callers_leave(calls, clock):
    funnel = phone_tree_funnel(calls, clock.now() - timedelta(days=1), clock.now())
    assert (funnel.calls, funnel.reached_person, funnel.left_callback, funnel.left_without_help) == (5, 1, 1, 3)
    assert (funnel.pressed_zero, funnel.zero_presses) == (2, 3)
    nodes = {n.node: (n.visits, n.left_here) for n in funnel.nodes}
    assert nodes == {"billing": (3, 2), "language": (5, 1), "main": (4, 0)}
    assert funnel.nodes[0].node == "billing"  # loses most callers
    assert dict(funnel.outcomes)["hung_up"] == 2


def test_sla_page_draws_charts_and_tables(app, client, saturday, calls):
    log_in(client, add_account(app))
    html = client.get("/supervisor/reports/sla?lang=en&since=2026-11-20&until=2026-11-22").get_data(as_text=True)
    assert html.count("<svg") == 2
    assert "71.4%" in html  # 5 kept of 7 decided
    assert "25m" in html and "37m" in html
    assert "billing" in html and "Left without help" in html
    html_fa = client.get("/supervisor/reports/sla?lang=fa&since=1405/08/29&until=1405/09/01").get_data(as_text=True)
    assert "۷۱٫۴٪" in html_fa and 'dir="rtl"' in html_fa


def test_sla_json(app, client, saturday):
    log_in(client, add_account(app))
    body = client.get("/supervisor/reports/sla.json?since=2026-11-21&until=2026-11-21").get_json()
    assert body["callbacks"]["overall"]["requested"] == 7
    assert body["callbacks"]["overall"]["median_seconds_to_conversation"] == 1500
    assert body["since"] == "2026-11-20T20:30:00Z"
