"""A simulated day: 5,000 callback requests (Poisson arrivals over business hours), 10 agents, realistic talk
times and no-answer rates, run through the real service, dispatcher, status-callback handling and watchdog on
SQLite with an injected clock, until every callback has ended.

Same arrivals and outcomes in every run: our ordering (earliest deadline first) against first-come-first-served,
each customer quoted the fixed SLA (as before the capacity forecast) against the honest quote, and the honest quote
with the agents the board advises added at 12:00. A promise is kept when the callback completed before its
deadline, or ended unreachable after every attempt it was owed was made before it (DESIGN.md); "missed" is the
rest. Also reported: how long before each miss the at-risk alert fired, the extra delay promised over the SLA,
and callbacks completed per agent-hour against the capacity bound measured in the same run.

`python -m bench.day [REQUESTS]` prints the table (`bench.run` prints it beside the other benchmarks).
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
from callbacks.businesstime import BusinessCalendar
from callbacks.capacity import StatsCache, advise, plan_shift
from callbacks.clock import FrozenClock
from callbacks.db import Database, upgrade
from callbacks.models import OPEN_STATUSES, Attempt, Callback
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
    arrivals: list[tuple[datetime, str]]
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


def _centre(honest: bool) -> Any:
    centre = load_contact_centre(EXAMPLE_CONFIG)
    queues = {q: c.model_copy(update={"promise": c.promise.model_copy(update={"forecast": honest})})
              for q, c in centre.queues.items()}
    return centre.model_copy(update={"queues": queues, "dispatch": centre.dispatch.model_copy(
        update={"calls_per_second": 1, "tick": TICK, "wrap_up": timedelta(seconds=15)})})


def simulate(day: Day, order: str = "edf", agents: int = 10, *, honest: bool = False,
             advise_at: datetime | None = None, label: str = "") -> dict[str, Any]:
    """One run. `honest`: quotes from the capacity forecast (else the fixed SLA); `advise_at`: at that moment, add
    the agents the board advises until the end it advises."""
    centre = _centre(honest)
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
    # Until every callback has ended (promises quoted into Monday are kept on Monday), at most into Tuesday.
    end = OPEN + timedelta(days=2)
    shift_on = True
    on_shift_seconds = busy_on_shift_seconds = 0.0
    extra: list[str] = []
    extra_until: datetime | None = None
    advice_text = "-"
    sla_again_at: datetime | None = None
    calendar = BusinessCalendar.for_centre(centre)

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
        if advise_at is not None and not extra and now >= advise_at:
            # The supervisor does what the board says: N more agents, on shift from now until the advised end.
            with db.session() as session:
                stats = StatsCache().get(session, centre, now)
                _snap, advice, _rates, _end = advise(session, centre, calendar, stats, now)
            if advice is not None and advice.agents:
                assert advice.until is not None  # more agents always come with an end (callbacks.forecast)
                extra_until = advice.until
                advice_text = f"{advice.agents} until {advice.until.astimezone(TEHRAN):%H:%M}"
                for n in range(advice.agents):
                    name = add_agent(db, f"extra {n}", f"+98936{n:07d}", now, "IR").name
                    plan_shift(db, name, now, advice.until, now)
                    extra.append(name)
            else:
                advice_text = "none needed"
                extra.append("")
        if extra_until is not None and now >= extra_until:
            for name in extra:
                set_shift(db, name, False, now)
            extra_until = None
        while pending and pending[0][1][0] <= now:
            i, (_when, queue) = pending.pop(0)
            result = service.request(phone=f"+98912{i:07d}", channel="api", actor="sim", queue=queue)
            index_of[result.callback.id] = i
        while events and events[0][0] <= now:
            heapq.heappop(events)[2]()
        report = dispatcher.tick()
        for callback_id, attempt_id, dialed_at in report.dial_times:
            with db.session() as session:
                callback = session.get(Callback, callback_id)
                assert callback is not None  # the dispatcher has just dialed it
                number = callback.attempts_made + 1
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
            if advise_at is not None and extra and sla_again_at is None and now >= advise_at:
                if all(service.quote(q).source == "sla" for q, _w in QUEUES):
                    sla_again_at = now
            with db.session() as session:
                if not pending and not session.scalar(select(Callback.id).where(
                        Callback.status.in_(OPEN_STATUSES)).limit(1)) and not events:
                    break
        if working or extra_until is not None:
            staffed = agents * working + (len(extra) if extra_until is not None else 0)
            on_shift_seconds += staffed * TICK.total_seconds()
            with db.session() as session:
                waiting = session.scalar(select(Callback.id).where(
                    Callback.status.in_(OPEN_STATUSES), Callback.next_attempt_at <= now).limit(1))
            if waiting is not None:
                busy_on_shift_seconds += staffed * TICK.total_seconds()
        if not working and not events and not (pending and pending[0][1][0] <= now + TICK):
            # Nobody on shift: jump to the next event (an arrival, the next opening, or a deadline check).
            nxt = min([now + timedelta(minutes=15)] + ([pending[0][1][0]] if pending else []))
            clock.set(max(nxt, now + TICK))
        else:
            clock.advance(TICK)
    with db.session() as session:
        rows = list(session.scalars(select(Callback)))
        attempts = list(session.scalars(select(Attempt).where(Attempt.ended_at.is_not(None))))
    db.dispose()
    return _figures(rows, attempts, centre, label or ("honest quote" if honest else "fixed SLA"), order,
                    on_shift_seconds, busy_on_shift_seconds, advice_text,
                    sla_again_at - advise_at if sla_again_at and advise_at else None)


def _figures(rows: list[Callback], attempts: list[Attempt], centre: Any, label: str, order: str,
             on_shift_seconds: float, busy_on_shift_seconds: float, advice: str,
             back_to_sla: timedelta | None) -> dict[str, Any]:
    total = len(rows)
    in_time = [c for c in rows if c.status == "completed" and c.conversation_at is not None
               and c.conversation_at <= c.deadline_at]
    unreachable = [c for c in rows if c.status == "unreachable"]
    missed = [c for c in rows if c.status == "missed"]
    warned = [c for c in missed if c.at_risk_since is not None]
    leads = sorted((c.deadline_at - c.at_risk_since).total_seconds() / 60
                   for c in warned if c.at_risk_since is not None)
    extra = sorted(max(0.0, (c.deadline_at - (c.sla_deadline_at or c.deadline_at)).total_seconds() / 60)
                   for c in rows)
    completed = [c for c in rows if c.status == "completed"]
    # The agent is held from the claim to the end of the call, then wraps up.
    wrap = centre.dispatch.wrap_up.total_seconds()
    agent_seconds = sum((a.ended_at - a.created_at).total_seconds() + wrap for a in attempts
                        if a.outcome not in ("not_placed", "callback_closed") and a.ended_at is not None)
    per_completed = agent_seconds / max(1, len(completed))
    per_queue = {}
    for queue, _w in QUEUES:
        in_queue = [c for c in rows if c.queue == queue]
        kept_q = sum(1 for c in in_queue if c in in_time or c.status == "unreachable")
        per_queue[queue] = kept_q / max(1, len(in_queue))
    return {
        "label": label, "order": order, "requests": total,
        "kept": (len(in_time) + len(unreachable)) / total, "completed_in_time": len(in_time) / total,
        "missed": len(missed), "unreachable": len(unreachable), "open_left": sum(c.is_open for c in rows),
        "quoted_sla": sum(1 for c in rows if c.deadline_from in (None, "sla")) / total,
        "overloaded": sum(1 for c in rows if c.deadline_from == "ceiling"),
        "extra_mean_min": statistics.fmean(extra) if extra else 0.0,
        "extra_p90_min": extra[int(0.9 * (len(extra) - 1))] if extra else 0.0,
        "at_risk_flagged": sum(1 for c in rows if c.at_risk_since is not None),
        "warned_share": len(warned) / max(1, len(missed)),
        "warned_10min_share": sum(1 for x in leads if x >= 10) / max(1, len(missed)),
        "lead_p50_min": statistics.median(leads) if leads else None,
        "lead_min_min": leads[0] if leads else None,
        "per_agent_hour": len(completed) / max(1.0, busy_on_shift_seconds / 3600),
        "bound_per_agent_hour": 3600 / per_completed if per_completed else 0.0,
        "agent_seconds_per_completed": per_completed,
        "on_shift_hours": on_shift_seconds / 3600,
        "advice": advice,
        "back_to_sla_min": back_to_sla.total_seconds() / 60 if back_to_sla is not None else None,
        "kept_by_queue": per_queue,
    }


SCENARIOS = ("fixed SLA", "honest quote", "honest, board's agents at 12:00")


def run_scenario(args: tuple[int, int, str]) -> dict[str, Any]:
    requests, seed, scenario = args
    day = make_day(requests, seed)
    if scenario == "fixed SLA":
        return simulate(day, "edf", honest=False, label=scenario)
    if scenario == "honest quote":
        return simulate(day, "edf", honest=True, label=scenario)
    if scenario == "fcfs, fixed SLA":
        return simulate(day, "fcfs", honest=False, label=scenario)
    return simulate(day, "edf", honest=True, advise_at=OPEN + timedelta(hours=4), label=scenario)


def main(requests: int = 5000, seed: int = 7, scenarios: tuple[str, ...] = SCENARIOS,
         processes: int = 2) -> list[dict[str, Any]]:
    """The runs of one day side by side (each in its own process and database; same arrivals and outcomes)."""
    jobs = [(requests, seed, s) for s in scenarios]
    if processes <= 1:
        return [run_scenario(job) for job in jobs]
    from multiprocessing import get_context

    with get_context("spawn").Pool(processes) as pool:
        return pool.map(run_scenario, jobs)


HEADER = (f"{'requests':>8} {'promise':<34} {'kept':>6} {'in time':>8} {'missed':>6} {'unreach':>7} "
          f"{'quote=SLA':>9} {'extra mean/p90 min':>18} {'warned>=10m':>11} {'lead min':>8} "
          f"{'per agent-h':>11} {'bound':>6} {'advice':>14} {'SLA again':>9}")


def row_text(row: dict[str, Any]) -> str:
    low = f"{row['lead_min_min']:.0f}" if row["lead_min_min"] is not None else "-"
    warned = f"{row['warned_10min_share']:.0%}" if row["missed"] else "no miss"
    again = f"{row['back_to_sla_min']:.0f} min" if row["back_to_sla_min"] is not None else "-"
    label = row["label"] if row["order"] == "edf" or "fcfs" in row["label"] else f"{row['label']} ({row['order']})"
    return (f"{row['requests']:>8} {label:<34} {row['kept']:>6.1%} {row['completed_in_time']:>8.1%} "
            f"{row['missed']:>6} {row['unreachable']:>7} {row['quoted_sla']:>9.1%} "
            f"{row['extra_mean_min']:>8.0f} / {row['extra_p90_min']:<7.0f} {warned:>11} {low:>8} "
            f"{row['per_agent_hour']:>11.1f} {row['bound_per_agent_hour']:>6.1f} {row['advice']:>14} {again:>9}")


def table(requests: list[int], seed: int = 7, processes: int = 4) -> list[str]:
    """The issue's table: the overloaded day under each promise, and a lighter day with the honest quote; every
    run in its own process, all at once (each row is printed as its run ends, then the table in order)."""
    jobs = [(requests[0], seed, s) for s in SCENARIOS] + [(count, seed, "honest quote") for count in requests[1:]]
    print(HEADER, flush=True)
    if processes <= 1:
        rows = [run_scenario(job) for job in jobs]
    else:
        from multiprocessing import get_context

        rows = []
        with get_context("spawn").Pool(min(processes, len(jobs))) as pool:
            for row in pool.imap_unordered(run_scenario, jobs):
                print(row_text(row), flush=True)
                rows.append(row)
        order = {(count, scenario): n for n, (count, _seed, scenario) in enumerate(jobs)}
        rows.sort(key=lambda r: order[(r["requests"], r["label"])])
    return [HEADER, *(row_text(row) for row in rows)]


if __name__ == "__main__":
    counts = [int(a) for a in sys.argv[1:]] or [5000, 3000]
    lines = table(counts)
    print("\n# in order")
    print("\n".join(lines))
