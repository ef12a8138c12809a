"""The quote's search for the first place a new request fits skips places that must fail: it gives exactly the
quote of the plain walk over every place in deadline order, on random backlogs (busy, idle, with closed hours, with
requests taken since the reading), and takes far fewer steps on a long one."""

from __future__ import annotations

import bisect
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbacks.forecast import AttemptStats, Backlog, Capacity, Quote, Staffed, work_for
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG

TEHRAN = ZoneInfo("Asia/Tehran")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TEHRAN)
STATS = AttemptStats(answer_rate=0.7, answered_seconds=100.0, unanswered_seconds=60.0, sample=500)


def walked_quote(backlog: Backlog, queue_id, queue, stats, sla_deadline, ceiling, *, ready_at=None, window=False,
                 extra=0.0) -> Quote:
    """The quote as the forecast gave it before the search: one step per place in deadline order."""
    ready = max(ready_at or backlog.now, backlog.now)
    new = work_for(queue_id, queue, stats, deadline=sla_deadline, attempts_made=0, ready_at=ready, window=window)
    k = bisect.bisect_right(backlog._deadlines, sla_deadline)
    start = found = None
    while k <= len(backlog.work):
        before = (backlog._before[k] if k < len(backlog.work) else backlog._total) + extra
        start = backlog._start(before, ready, new.tail)
        if start is None:
            break
        needed = start + new.tail
        low = sla_deadline if k == 0 or backlog._deadlines[k - 1] <= sla_deadline else backlog._deadlines[k - 1]
        candidate = max(low, needed if needed <= sla_deadline else needed + queue.quote_margin)
        high = backlog._deadlines[k] if k < len(backlog.work) else None
        if (high is None or candidate < high) and backlog._spare_after[k] >= new.seconds + extra:
            found = candidate
            break
        k += 1
    return backlog._answer(found, start, queue_id, sla_deadline, ceiling)  # the search is what differs


def random_backlog(rng: random.Random, queues) -> Backlog:
    spans = []
    for _ in range(rng.randint(0, 6)):
        start = NOW + timedelta(minutes=rng.randint(-60, 3 * 24 * 60))
        spans.append(Staffed(start, start + timedelta(minutes=rng.randint(5, 10 * 60)), rng.choice([1, 2, 5, 10])))
    work = []
    for i in range(rng.choice([0, 5, 50, 400])):
        queue_id = rng.choice(list(queues))
        deadline = NOW + timedelta(minutes=rng.randint(-30, 2 * 24 * 60))
        work.append(work_for(queue_id, queues[queue_id], STATS, deadline=deadline,
                             attempts_made=rng.randint(0, queues[queue_id].retry.max_attempts),
                             ready_at=NOW + timedelta(minutes=rng.randint(-10, 120)), in_flight=rng.random() < 0.1,
                             ident=i + 1, window=rng.random() < 0.1))
    return Backlog(NOW, Capacity(NOW, spans), work, ahead=rng.choice([0.0, 600.0, 36000.0]))


@pytest.mark.parametrize("seed", range(40))
def test_the_search_gives_the_quote_of_the_plain_walk_on_random_backlogs(seed):
    rng = random.Random(seed)
    queues = load_contact_centre(EXAMPLE_CONFIG).queues
    for _ in range(10):
        backlog = random_backlog(rng, queues)
        for _ in range(5):
            queue_id = rng.choice(list(queues))
            sla = NOW + timedelta(minutes=rng.randint(10, 24 * 60))
            ceiling = sla + timedelta(hours=rng.choice([0, 2, 8, 48]))
            kwargs = {"ready_at": rng.choice([None, NOW + timedelta(minutes=rng.randint(0, 300))]),
                      "window": rng.random() < 0.2, "extra": rng.choice([0.0, 100.0, 5000.0, 200000.0])}
            expected = walked_quote(backlog, queue_id, queues[queue_id], STATS, sla, ceiling, **kwargs)
            assert backlog.quote(queue_id, queues[queue_id], STATS, sla, ceiling, **kwargs) == expected


class CountingCapacity(Capacity):
    """A capacity that counts how often the forecast asks when some work is done (one ask per place tried)."""

    asked = 0

    def reach(self, work: float) -> datetime | None:
        self.asked += 1
        return super().reach(work)


def test_a_quote_beyond_the_sla_over_a_long_backlog_takes_a_few_steps_not_one_per_callback():
    queues = load_contact_centre(EXAMPLE_CONFIG).queues
    general = queues["general"]
    # 1,000 open for 10 agents until 20:00: a request now is quoted well beyond its SLA.
    work = [work_for("general", general, STATS, deadline=NOW + timedelta(minutes=30 + i // 4), attempts_made=0,
                     ready_at=NOW, ident=i + 1) for i in range(1000)]
    capacity = CountingCapacity(NOW, [Staffed(NOW, NOW + timedelta(hours=10), 10)])
    backlog = Backlog(NOW, capacity, work)
    sla, ceiling = NOW + timedelta(hours=2), NOW + timedelta(hours=10)
    capacity.asked = 0
    quote = backlog.quote("general", general, STATS, sla, ceiling)
    steps = capacity.asked
    assert quote.source == "forecast"
    assert quote == walked_quote(backlog, "general", general, STATS, sla, ceiling)
    assert capacity.asked - steps > 100  # the plain walk: one step per callback between the SLA and the quote
    assert steps < 20
