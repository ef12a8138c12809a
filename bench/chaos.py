"""A chaos run: real worker processes on PostgreSQL, stopped, resumed and killed at random, one with its clock
minutes fast, dialing through the real `twilio` client into a Twilio stand-in that fails at random, while a
pretend phone network answers, presses 1, talks and hangs up through our signed TwiML webhooks and loses,
repeats and reorders status callbacks.

    .venv/bin/python -m bench.chaos [SECONDS]        (default 300; BENCH_DATABASE_URL, default the local server)

The stand-in keeps every call the provider saw (the journal). At the end (chaos stops, the system settles for two
leases) it reports callbacks and calls, and what must be zero: a customer bridged twice for one attempt or while
another conversation of the same callback was up, a call bridged for an attempt that was not live, callbacks
stuck dialing, agents left reserved without a live attempt.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bench.throughput import ACCOUNT, fresh_database
from callbacks.agents import add_agent
from callbacks.attempts import LIVE_STATES
from callbacks.clock import SystemClock
from callbacks.db import Database
from callbacks.errors import CallbackError
from callbacks.models import Agent, Attempt, Callback, StrayCall
from config import ContactCentre, load_contact_centre
from config.settings import EXAMPLE_CONFIG

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "https://support.example.com"
TOKEN = "chaos-token"
CALLER_ID = "+14155550100"
WORKERS = 3
AGENTS = 6
CUSTOMERS = [f"+98912{i:07d}" for i in range(40)]


def chaos_centre() -> ContactCentre:
    """The example centre on a fast clock: short leases, quick retries, open around the clock."""
    centre = load_contact_centre(EXAMPLE_CONFIG)
    dispatch = centre.dispatch.model_copy(update={"lease": timedelta(seconds=30), "tick": timedelta(seconds=1),
                                                  "calls_per_second": 20.0, "wrap_up": timedelta(seconds=2)})
    queues = {}
    for name, queue in centre.queues.items():
        retry = queue.retry.model_copy(update={"delays": [timedelta(seconds=20)], "max_attempts": 3,
                                               "ring_timeout": timedelta(seconds=10),
                                               "min_talk_time": timedelta(seconds=2)})
        sla = queue.sla.model_copy(update={"clock": "wall", "deadline": timedelta(hours=2)})
        queues[name] = queue.model_copy(update={"retry": retry, "sla": sla})
    queues["billing"] = queues["billing"].model_copy(update={"dial_order": "customer_first"})
    return centre.model_copy(update={"dispatch": dispatch, "queues": queues})


# -- a worker process --------------------------------------------------------------------------------------------
class OffsetClock:
    def __init__(self, seconds: float):
        self.offset = timedelta(seconds=seconds)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def worker_main(args: dict[str, Any]) -> None:
    """`python -m bench.chaos --worker '<json>'`: the real worker (APScheduler timers) on its own clock."""
    from scheduler.worker import Worker
    from telephony.twilio import TwilioProvider

    db = Database(args["url"], pool_size=3, max_overflow=2)
    provider = TwilioProvider(ACCOUNT, "bench-token", base_url=args["twilio"])
    worker = Worker(db, chaos_centre(), provider, OffsetClock(args.get("offset", 0)), base_url=BASE_URL,
                    caller_id=CALLER_ID, worker_id=args["id"])
    worker.run()


# -- the provider: a Twilio stand-in that fails at random ------------------------------------------------------
def make_stub(rng: random.Random) -> Any:
    from telephony.twilio_standin import TwilioStub

    class ChaoticStub(TwilioStub):
        faults = True

        def _create_call(self, request: Any, account: str) -> Any:
            roll = rng.random()
            if self.faults and roll < 0.04:
                self.fail_next(429, 20429, "Too Many Requests")
            elif self.faults and roll < 0.08:
                self.fail_next(503, None, "Service Unavailable", placed=roll < 0.06)
            elif self.faults and roll < 0.10:
                self.fail_next(504, None, "stalled past the client's timeout", placed=True, stall=11)
            return super()._create_call(request, account)

        def add_child(self, parent: str, to: str) -> str:
            """A leg Twilio creates itself for a TwiML <Dial> on `parent`."""
            sid = f"CH{next(self._ids):032x}"
            now = format_datetime(datetime.now(UTC), usegmt=True)
            with self._lock:
                self.calls[sid] = {"sid": sid, "account_sid": ACCOUNT, "to": to, "from": CALLER_ID,
                                   "status": "queued", "direction": "outbound-dial", "date_created": now,
                                   "date_updated": now, "duration": None, "answered_by": None,
                                   "parent_call_sid": parent, "api_version": "2010-04-01", "start_time": None,
                                   "end_time": None, "price": None, "uri": f"/Calls/{sid}.json"}
            return sid

    return ChaoticStub()


# -- the phone network -------------------------------------------------------------------------------------------
@dataclass
class Leg:
    sid: str
    attempt: int
    leg: str
    url: str | None
    status_url: str
    parent: str | None = None
    stage: str = "new"
    next_at: float = 0.0
    sequence: int = 0
    child: str | None = None
    action: str | None = None  # where the agent's key press goes
    ended: bool = False


@dataclass
class Network:
    """Rings, answers, presses and hangs up like people do; Twilio's status callbacks arrive late, twice or never."""

    stub: Any
    client: Any
    rng: random.Random
    lossy: bool = True
    legs: dict[str, Leg] = field(default_factory=dict)
    outbox: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    # (attempt, customer leg sid, connected at, ended at): every conversation a customer had with an agent.
    conversations: list[list[Any]] = field(default_factory=list)
    twiml_errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def post(self, url: str, form: dict[str, str]) -> Any:
        parts = urlsplit(url)
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        return self.client.post(parts.path + (f"?{parts.query}" if parts.query else ""), data=form,
                                headers={"X-Twilio-Signature": signature})

    def twiml(self, url: str, form: dict[str, str]) -> Any:
        response = self.post(url, form)
        if response.status_code != 200:
            self.twiml_errors.append(f"{url}: {response.status_code}")
            return etree.fromstring(b"<Response><Hangup/></Response>")
        return etree.fromstring(response.data)

    def emit(self, leg: Leg, status: str, **extra: str) -> None:
        leg.sequence += 1
        self.stub.set_status(leg.sid, status, duration=int(extra["CallDuration"]) if "CallDuration" in extra
                             else None)
        form = {"CallSid": leg.sid, "CallStatus": status, "SequenceNumber": str(leg.sequence), **extra}
        roll = self.rng.random() if self.lossy else 1.0
        if roll < 0.08:
            return  # lost: Twilio does not retry a status callback
        delay = self.rng.uniform(0, 4) if roll < 0.2 else 0.0
        self.outbox.append((time.monotonic() + delay, leg.status_url, form))
        if roll > 0.95:
            self.outbox.append((time.monotonic() + delay + 0.5, leg.status_url, dict(form)))

    def end(self, leg: Leg, status: str, talk: int = 0) -> None:
        if leg.ended:
            return
        leg.ended = True
        leg.stage = "ended"
        self.emit(leg, status, **({"CallDuration": str(talk)} if status == "completed" else {}))
        for row in self.conversations:
            if row[1] in (leg.sid, leg.child, leg.parent) and row[3] is None:
                row[3] = time.monotonic()
        for other in (self.legs.get(leg.child or ""), self.legs.get(leg.parent or "")):
            if other is not None and not other.ended:
                self.end(other, "canceled" if other.stage in ("new", "ringing") else "completed", talk)

    def run(self) -> None:
        while not self.stop.is_set():
            self.step()
            time.sleep(0.05)

    def step(self) -> None:
        now = time.monotonic()
        for sid, call in list(self.stub.calls.items()):
            if sid not in self.legs and call.get("_url"):
                query = parse_qs(urlsplit(call["_url"]).query)
                kind = "customer" if "/customer" in call["_url"] else "agent"
                self.legs[sid] = Leg(sid, int(query["attempt"][0]), kind, call["_url"], call["_status_callback"],
                                     next_at=now + self.rng.uniform(0.1, 1.0))
        for leg in list(self.legs.values()):
            if leg.ended:
                continue
            if self.stub.calls[leg.sid]["status"] == "canceled":
                self.end(leg, "canceled")
                continue
            if now < leg.next_at:
                continue
            self.act(leg, now)
        due = [item for item in self.outbox if item[0] <= now]
        self.outbox = [item for item in self.outbox if item[0] > now]
        self.rng.shuffle(due)  # status callbacks arrive out of order
        for _at, url, form in due:
            self.post(url, form)

    def act(self, leg: Leg, now: float) -> None:
        if leg.stage == "new":
            leg.stage = "ringing"
            self.emit(leg, "ringing")
            leg.next_at = now + self.rng.uniform(0.5, 4)
        elif leg.stage == "ringing":
            if self.rng.random() < 0.15:
                self.end(leg, "no-answer")
                return
            self.answer(leg, now)
        elif leg.stage == "whisper":
            press = "1" if self.rng.random() < 0.9 else "2"
            root = self.twiml(leg.action or "", {"CallSid": leg.sid, "Digits": press})
            self.follow(leg, root, now)
        elif leg.stage == "talking" and leg.parent is None and (leg.child is None or
                                                                  self.legs[leg.child].stage == "talking"):
            self.end(leg, "completed", int(self.rng.uniform(3, 20)))

    def answer(self, leg: Leg, now: float) -> None:
        machine = leg.leg == "customer" and self.rng.random() < 0.1
        extra = {"AnsweredBy": "machine_end_beep" if machine else "human"} if leg.leg == "customer" else {}
        self.emit(leg, "in-progress", **extra)
        if leg.url is None:  # an agent's Dial child: answering connects the conversation
            self.connected(leg, now)
            return
        root = self.twiml(leg.url, {"CallSid": leg.sid, "CallStatus": "in-progress", **extra})
        self.follow(leg, root, now)

    def follow(self, leg: Leg, root: Any, now: float) -> None:
        gather, dial = root.find("Gather"), root.find("Dial")
        if gather is not None:
            leg.stage = "whisper"
            leg.action = gather.get("action")
            leg.next_at = now + self.rng.uniform(0.5, 2)
        elif dial is not None:
            number = dial.find("Number")
            child = self.stub.add_child(leg.sid, number.text)
            other = "customer" if leg.leg == "agent" else "agent"
            self.legs[child] = Leg(child, leg.attempt, other, number.get("url"), number.get("statusCallback"),
                                   parent=leg.sid, next_at=now + self.rng.uniform(0.2, 1))
            leg.child = child
            leg.stage = "dialing"
        elif leg.parent is not None and root.find("Hangup") is None:
            self.connected(leg, now)  # an empty document: the customer is let through to the agent
        else:
            self.end(leg, "completed", 1)

    def connected(self, leg: Leg, now: float) -> None:
        leg.stage = "talking"
        customer = leg if leg.leg == "customer" else self.legs[leg.parent or ""]
        parent = self.legs[leg.parent or ""]
        parent.stage = "talking"
        self.conversations.append([leg.attempt, customer.sid, now, None])


# -- the run -------------------------------------------------------------------------------------------------------
def spawn(url: str, twilio: str, worker_id: str, offset: float) -> subprocess.Popen[bytes]:
    args = {"url": url, "twilio": twilio, "id": worker_id, "offset": offset}
    return subprocess.Popen([sys.executable, "-m", "bench.chaos", "--worker", json.dumps(args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(seconds: int = 300, seed: int = 7) -> dict[str, Any]:
    from ivr.app import create_app

    rng = random.Random(seed)
    url, drop = fresh_database()
    db = Database(url)
    centre = chaos_centre()
    stub = make_stub(rng)
    twilio = stub.start()
    app = create_app({"TESTING": True, "instance_path": Path("/tmp") / f"chaos-{os.getpid()}",
                      "secret_key": "chaos", "public_base_url": BASE_URL, "twilio_auth_token": TOKEN,
                      "twilio_account_sid": "AC" + "0" * 32, "twilio_phone_number": CALLER_ID,
                      "ratelimit_storage_url": "memory://", "DATABASE": db, "CENTRE": centre,
                      "CLOCK": SystemClock()})
    network = Network(stub, app.test_client(), rng)
    clock = SystemClock()
    for i in range(AGENTS):
        add_agent(db, f"agent {i}", f"+98935{i:07d}", clock.now(), "IR")
    service = app.extensions["ivr"].service
    # w0 runs with its clock three minutes fast: leases and lookups are wrong for it, fencing is not.
    offsets = [0.0, 180.0, 0.0][:WORKERS]
    workers = [spawn(url, twilio, f"w{i}", offsets[i]) for i in range(WORKERS)]
    stopped: dict[int, float] = {}
    events: Counter[str] = Counter()
    threading.Thread(target=network.run, daemon=True).start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            time.sleep(1)
            for _ in range(2):  # two requests a second; a few customers cancel
                try:
                    service.request(phone=rng.choice(CUSTOMERS), channel="api", actor="chaos",
                                    queue=rng.choice(["general", "general", "billing"]))
                except CallbackError:
                    pass
            if rng.random() < 0.15:
                with db.session() as session:
                    ids = list(session.scalars(select(Callback.public_id).where(Callback.status.in_(("pending",
                                                                                                      "dialing")))))
                if ids:
                    service.cancel(rng.choice(ids), actor="customer")
                    events["cancel"] += 1
            for index, since in list(stopped.items()):
                if time.monotonic() > since:
                    workers[index].send_signal(signal.SIGCONT)
                    del stopped[index]
                    events["SIGCONT"] += 1
            roll, index = rng.random(), rng.randrange(WORKERS)
            if roll < 0.06 and index not in stopped:
                workers[index].send_signal(signal.SIGSTOP)  # a GC pause, a slow network, a laptop lid
                stopped[index] = time.monotonic() + rng.uniform(5, 90)
                events["SIGSTOP"] += 1
            elif roll < 0.09 and index not in stopped:
                workers[index].kill()
                workers[index].wait()
                workers[index] = spawn(url, twilio, f"w{index}-{events['kill -9']}", offsets[index])
                events["kill -9"] += 1
        # Chaos stops: everyone resumes, faults end, and the system gets two leases to settle.
        for index in list(stopped):
            workers[index].send_signal(signal.SIGCONT)
        stub.faults = False
        network.lossy = False
        settle_until = time.monotonic() + 2 * centre.dispatch.lease.total_seconds() + 30
        while time.monotonic() < settle_until or any(not leg.ended for leg in network.legs.values()):
            time.sleep(1)
            if time.monotonic() > settle_until + 120:
                break
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        network.stop.set()
    report = summarise(db, stub, network, events, seconds)
    db.dispose()
    stub.stop()
    drop()
    return report


def summarise(db: Database, stub: Any, network: Network, events: Counter[str], seconds: int) -> dict[str, Any]:
    with db.session() as session:
        statuses = Counter(session.scalars(select(Callback.status)))
        attempt_callback = dict(session.execute(select(Attempt.id, Attempt.callback_id)).all())
        open_attempts = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.state.in_(LIVE_STATES)))
        live = {f"attempt:{a}" for a in session.scalars(select(Attempt.id).where(Attempt.state.in_(LIVE_STATES)))}
        leaked = [a.name for a in session.scalars(select(Agent).where(Agent.busy_call_sid.is_not(None)))
                  if a.busy_call_sid not in live]
        strays = set(session.scalars(select(StrayCall.call_sid)))
        attempts = session.scalar(select(func.count()).select_from(Attempt))
    per_attempt = Counter(row[0] for row in network.conversations)
    twice_per_attempt = sum(1 for n in per_attempt.values() if n > 1)
    overlapping = 0
    by_callback: dict[int, list[list[Any]]] = {}
    for row in network.conversations:
        by_callback.setdefault(attempt_callback.get(row[0], -1), []).append(row)
    for rows in by_callback.values():
        rows.sort(key=lambda r: r[2])
        for earlier, later in itertools.pairwise(rows):
            if earlier[3] is None or later[2] < earlier[3]:
                overlapping += 1
    stray_bridged = sum(1 for leg in network.legs.values()
                        if (leg.sid in strays or leg.parent in strays) and leg.stage == "talking")
    parents = [c for c in stub.calls.values() if c.get("_url")]
    return {
        "seconds": seconds, "workers": WORKERS, "agents": AGENTS, **{k: events[k] for k in
                                                                      ("SIGSTOP", "SIGCONT", "kill -9", "cancel")},
        "callbacks": sum(statuses.values()), "by_status": dict(statuses), "attempts": attempts,
        "calls_placed": len(parents), "calls_total": len(stub.calls), "conversations": len(network.conversations),
        "stray_calls": len(strays),
        "duplicates": twice_per_attempt + overlapping + stray_bridged,
        "stuck": statuses.get("dialing", 0) + (open_attempts or 0),
        "agents_leaked": len(leaked), "twiml_errors": len(network.twiml_errors),
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"# Chaos run: {report['seconds']} s, {report['workers']} worker processes on PostgreSQL (one 3 min fast), "
          f"{report['agents']} agents")
    print(f"SIGSTOP {report['SIGSTOP']}, kill -9 {report['kill -9']}, customer cancels {report['cancel']}")
    print(f"callbacks {report['callbacks']} {report['by_status']}, attempts {report['attempts']}, calls placed "
          f"{report['calls_placed']} ({report['calls_total']} legs), conversations {report['conversations']}, "
          f"stray calls canceled {report['stray_calls']}")
    print(f"duplicates {report['duplicates']} (must be 0), stuck {report['stuck']} (0), agents leaked "
          f"{report['agents_leaked']} (0), webhook errors {report['twiml_errors']}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker_main(json.loads(sys.argv[2]))
    else:
        print_report(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
