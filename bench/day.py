"""A simulated day: 5,000 callback requests (Poisson arrivals over business hours), 10 agents, realistic talk
times and no-answer rates, run through the real dispatcher, status-callback handling and watchdog on SQLite with
an injected clock. Compares our ordering (earliest deadline first) with first-come-first-served on the same
arrivals and outcomes, and reports how long before each miss the at-risk alert fired.
"""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from callbacks.agents import add_agent, set_shift
from callbacks.attempts import LegStatus, apply_leg_status, mark_bridged
from callbacks.clock import FrozenClock
from callbacks.db import Database, upgrade
from callbacks.models import Callback
from callbacks.service import CallbackService
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG
from scheduler.dispatcher import Dispatcher
from scheduler.watchdog import Watchdog
from telephony.fake import FakeProvider

TEHRAN = ZoneInfo("Asia/Tehran")
OPEN = datetime(2026, 11, 22, 8, 0, tzinfo=TEHRAN)  # Sunday
CLOSE = OPEN + timedelta(hours=12)
TICK = timedelta(seconds=10)
QUEUES = [("general", 0.7), ("billing", 0.2), ("urgent", 0.1)]


@dataclass
class Plan:
    """What happens when we call one customer: drawn once per (callback, attempt), same for both orderings."""

    outcome: str  # human, busy, no-answer, machine
    ring: float
    talk: float


@dataclass
class Day:
    arrivals: list[tuple[datetime, str]]
    plans: dict[tuple[int, int], Plan] = field(default_factory=dict)


def make_day(requests: int, seed: int) -> Day:
    rng = random.Random(seed)
    rate = requests / (CLOSE - OPEN).total_seconds()
    at, arrivals = OPEN, []
    while len(arrivals) < requests:
        at += timedelta(seconds=rng.expovariate(rate))
        if at >= CLOSE:
            at = OPEN + timedelta(seconds=rng.uniform(0, (CLOSE - OPEN).total_seconds()))
        queue = rng.choices([q for q, _ in QUEUES], [w for _, w in QUEUES])[0]
        arrivals.append((at, queue))
    arrivals.sort()
    day = Day(arrivals)
    for i in range(requests):
        for attempt in range(1, 5):
            roll = rng.random()
            outcome = "human" if roll < 0.72 else "no-answer" if roll < 0.86 else "busy" if roll < 0.94 else "machine"
            talk = min(900.0, rng.lognormvariate(4.0, 0.5))  # median ~55 s, mean ~62 s
            day.plans[(i, attempt)] = Plan(outcome, rng.uniform(5, 20), talk)
    return day


def simulate(day: Day, order: str, agents: int = 10) -> dict[str, Any]:
    centre = load_contact_centre(EXAMPLE_CONFIG)
    centre = centre.model_copy(update={"dispatch": centre.dispatch.model_copy(
        update={"calls_per_second": 1, "tick": TICK, "wrap_up": timedelta(seconds=15)})})
    folder = Path(tempfile.mkdtemp(prefix="ivr-day-"))
    url = f"sqlite:///{folder / 'day.sqlite3'}"
    upgrade(url)
    db = Database(url)
    clock = FrozenClock(OPEN - timedelta(minutes=1))
    service = CallbackService(db, centre, clock)
    provider = FakeProvider(clock=clock)
    dispatcher = Dispatcher(db, centre, provider, clock, worker_id="sim", base_url="https://s.example",
                            caller_id="+14155550100", order=order, sleep=lambda _s: None, batch_size=20)
    watchdog = Watchdog(db, centre, clock, worker_id="sim", order=order)
    names = [add_agent(db, f"agent {i}", f"+98935{i:07d}", clock.now(), "IR").name for i in range(agents)]
    index_of: dict[int, int] = {}
    events: list[tuple[datetime, int, Any]] = []
    counter = itertools.count()
    pending = list(enumerate(day.arrivals))
    next_watch = clock.now()
    end = OPEN + timedelta(days=1, hours=6)  # through Monday morning, when business-hour deadlines roll over
    shift_on = True

    def at(when: datetime, action: Any) -> None:
        heapq.heappush(events, (when, next(counter), action))

    def status(attempt_id: int, leg: str, state: str, seq: int, **kw: Any) -> Any:
        def apply() -> None:
            with db.session() as session:
                apply_leg_status(session, centre, attempt_id, leg, LegStatus(state, f"{leg}{attempt_id}", seq, **kw),
                                 clock.now())
        return apply

    def bridge(attempt_id: int) -> Any:
        def apply() -> None:
            with db.session() as session:
                mark_bridged(session, attempt_id, clock.now())
        return apply

    while clock.now() < end:
        now = clock.now()
        local = now.astimezone(TEHRAN)
        working = 8 <= local.hour < 20 and local.weekday() != 4
        if working != shift_on:
            for name in names:
                set_shift(db, name, working, now)
            shift_on = working
        while pending and pending[0][1][0] <= now:
            i, (_when, queue) = pending.pop(0)
            result = service.request(phone=f"+98912{i:07d}", channel="api", actor="sim", queue=queue)
            index_of[result.callback.id] = i
        while events and events[0][0] <= now:
            heapq.heappop(events)[2]()
        report = dispatcher.tick()
        for callback_id, attempt_id, dialed_at in report.dial_times:
            with db.session() as session:
                number = session.get(Callback, callback_id).attempts_made + 1
            plan = day.plans.get((index_of[callback_id], number), Plan("no-answer", 10, 0))
            t = dialed_at + timedelta(seconds=6)  # the agent answers and presses 1
            at(t, status(attempt_id, "agent", "in-progress", 1))
            at(t, bridge(attempt_id))
            t += timedelta(seconds=plan.ring)
            if plan.outcome == "human":
                end_at = t + timedelta(seconds=plan.talk)
                at(end_at, status(attempt_id, "customer", "completed", 2, duration=int(plan.talk)))
            elif plan.outcome == "machine":
                end_at = t + timedelta(seconds=12)
                at(end_at, status(attempt_id, "customer", "completed", 2, duration=12, answered_by="machine_start"))
            else:
                end_at = t + timedelta(seconds=30 if plan.outcome == "no-answer" else 0)
                at(end_at, status(attempt_id, "customer", plan.outcome, 2))
            at(end_at + timedelta(seconds=1), status(attempt_id, "agent", "completed", 3,
                                                     duration=int((end_at - dialed_at).total_seconds())))
        if now >= next_watch:
            watchdog.run()
            dispatcher.sweep()
            next_watch = now + timedelta(minutes=1)
        if not working and not events and not (pending and pending[0][1][0] <= now + TICK):
            # Nobody on shift: jump to the next event (an arrival, the next opening, or a deadline check).
            nxt = min([now + timedelta(minutes=15)] + ([pending[0][1][0]] if pending else []))
            clock.set(max(nxt, now + TICK))
        else:
            clock.advance(TICK)
    with db.session() as session:
        rows = list(session.scalars(select(Callback)))
    db.dispose()
    total = len(rows)
    kept = sum(1 for c in rows if c.status == "completed" and c.ended_at <= c.deadline_at)
    missed = [c for c in rows if c.status == "missed"]
    warned = [c for c in missed if c.at_risk_since is not None]
    leads = sorted((c.deadline_at - c.at_risk_since).total_seconds() / 60 for c in warned)
    per_queue = {}
    for queue, _w in QUEUES:
        in_queue = [c for c in rows if c.queue == queue]
        per_queue[queue] = sum(1 for c in in_queue if c.status == "completed" and c.ended_at <= c.deadline_at) / max(
            1, len(in_queue))
    return {
        "order": order, "requests": total, "kept": kept / total, "missed": len(missed),
        "unreachable": sum(c.status == "unreachable" for c in rows), "open_left": sum(c.is_open for c in rows),
        "warned_share": len(warned) / max(1, len(missed)),
        "lead_p50_min": statistics.median(leads) if leads else None,
        "lead_min_min": leads[0] if leads else None,
        "kept_by_queue": per_queue,
    }


def main(requests: int = 5000, seed: int = 7) -> list[dict[str, Any]]:
    day = make_day(requests, seed)
    return [simulate(day, "edf"), simulate(day, "fcfs")]


if __name__ == "__main__":
    for row in main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000):
        print(row)
