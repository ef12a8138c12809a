"""SLA figures over whole past days come from the daily rollup, and agree with the live query over the callbacks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from callbacks.models import Callback, SlaDay
from callbacks.sla import histogram_percentile, percentile, roll_up, sla_figures
from tests.callbacks.test_sla_figures import NOV21_NOON, saturday  # noqa: F401 (the fixture)
from tests.conftest import TEHRAN

PERIODS = [
    (datetime(2026, 11, 20, tzinfo=TEHRAN), datetime(2026, 11, 23, tzinfo=TEHRAN), None),
    (datetime(2026, 11, 20, tzinfo=TEHRAN), datetime(2026, 11, 23, tzinfo=TEHRAN), "general"),
    (datetime(2026, 11, 21, 6, tzinfo=TEHRAN), datetime(2026, 11, 22, 20, tzinfo=TEHRAN), None),  # partial days
    (datetime(2026, 11, 1, tzinfo=TEHRAN), datetime(2026, 12, 1, tzinfo=TEHRAN), None),
]


def figures(db, centre):
    return [sla_figures(db, centre.zone, since, until, queue).as_json() for since, until, queue in PERIODS]


def test_the_rollup_and_the_live_query_agree(saturday, centre, clock):  # noqa: F811
    live = figures(saturday, centre)
    assert roll_up(saturday, centre.zone, clock.now()) == 1  # 21 November, general (the 22nd is today)
    assert figures(saturday, centre) == live
    clock.advance(timedelta(days=3))
    # The 22nd still has an open callback: not rolled up (its figures would still change).
    assert roll_up(saturday, centre.zone, clock.now()) == 0
    with saturday.session() as session:
        session.execute(update(Callback).where(Callback.status == "pending").values(status="canceled"))
    live = figures(saturday, centre)
    assert roll_up(saturday, centre.zone, clock.now()) == 1  # the 22nd, billing
    assert roll_up(saturday, centre.zone, clock.now()) == 0  # idempotent
    assert figures(saturday, centre) == live


def test_whole_past_days_are_read_from_the_rollup(saturday, centre, clock):  # noqa: F811
    roll_up(saturday, centre.zone, clock.now())
    with saturday.session() as session:
        assert session.scalars(select(SlaDay.day)).all() == [NOV21_NOON.date()]
        # Were the callbacks of the 21st read again, their figures would now be gone.
        session.execute(delete(Callback).where(Callback.requested_at < datetime(2026, 11, 22, tzinfo=TEHRAN)))
    report = sla_figures(saturday, centre.zone, datetime(2026, 11, 20, tzinfo=TEHRAN),
                         datetime(2026, 11, 23, tzinfo=TEHRAN))
    general = next(c for c in report.cells if c.queue == "general")
    assert (general.requested, general.completed, general.median_seconds) == (7, 4, 25 * 60)


@pytest.mark.parametrize("seed", range(20))
def test_a_histograms_percentile_is_percentile_cont_over_its_values(seed):
    rng = random.Random(seed)
    values = [rng.randint(0, 50) for _ in range(rng.randint(1, 40))]
    histogram: dict[int, int] = {}
    for v in values:
        histogram[v] = histogram.get(v, 0) + 1
    for fraction in (0.5, 0.9, 0.0, 1.0):
        assert histogram_percentile(histogram, fraction) == pytest.approx(percentile(values, fraction))
