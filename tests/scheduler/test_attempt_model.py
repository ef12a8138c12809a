"""A stateful model of the callback promise: hypothesis interleaves everything that can happen to callbacks and
their calls, and the promise is checked after every step.

What happens, in any order: customers ask and cancel; two workers (one with its clock minutes off) claim, check,
send and record their dials as separate steps, so a worker can stall between any two of them (and between its
last check and the send), or crash and forget what it held; the provider answers 429, 5xx or times out, with or
without placing the call, and can be unreachable for its lookups; the phone network rings, answers, presses 1,
talks and hangs up, with every status callback lost, duplicated, reordered or late; agents go off shift; time
jumps by seconds or minutes; sweeps and the watchdog run. One queue dials the agent first, another the customer.

After every step:
- at most one attempt of a callback is live, and a `dialing` callback names a live attempt;
- an agent is reserved exactly while an attempt of theirs has not ended;
- nothing is ever bridged (a customer dialed from an agent's whisper, a customer let through to an agent) for an
  attempt that is not its callback's live one; at most one customer leg per callback is up;
- a call placed for an attempt that was not live (only possible in the instant between a worker's last check and
  its send) is never bridged.
At the end (faults stop, time runs on, the network finishes its calls): every callback has ended, by its deadline
plus a bounded settle time; no agent is reserved and no attempt is open; every stray call was canceled or ended;
each attempt's outcome is in the history exactly once, each callback ended exactly once, and the SLA figures count
what the rows say.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from callbacks.agents import add_agent, set_shift
from callbacks.attempts import LIVE_STATES, SETTLE, Placed
from callbacks.clock import FrozenClock
from callbacks.db import Database, upgrade
from callbacks.errors import CallbackError
from callbacks.models import FINAL_STATUSES, Agent, Attempt, Callback, CallbackEvent, StrayCall
from callbacks.service import CallbackService
from callbacks.sla import sla_figures
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG
from scheduler.dispatcher import Claimed, Dispatcher, TickReport
from scheduler.watchdog import Watchdog
from telephony.fake import FakeProvider
from telephony.provider import (
    CallInfo,
    CallRequest,
    CallsLimitExceeded,
    OutcomeUnknown,
    ProviderTransientError,
)
from tests.conftest import DEFAULT_NOW
from tests.support.phone import assert_valid_twiml

BASE_URL = "https://support.example.com"
TOKEN = "test-auth-token"
CALLER_ID = "+14155550100"
PHONES = ["+989121110001", "+989121110002", "+989121110003", "+989121110004"]
QUEUES = ["general", "billing"]  # general: agent first; billing (in this model): customer first
# A callback ends at the latest this long after its deadline: a conversation started in time, then a lease for the
# sweep to notice a lost status, then the provider's records settling.
END_BOUND = timedelta(minutes=2) + timedelta(minutes=2) * 2 + SETTLE + timedelta(minutes=5)

_template: dict[str, Path] = {}


def sqlite_template() -> Path:
    if "path" not in _template:
        folder = Path(tempfile.mkdtemp(prefix="ivr-model-"))
        path = folder / "template.sqlite3"
        upgrade(f"sqlite:///{path}")
        _template["path"] = path
    return _template["path"]


class OffsetClock:
    """A worker's clock: the shared frozen clock plus a fixed error."""

    def __init__(self, base: FrozenClock, offset: timedelta):
        self.base, self.offset = base, offset

    def now(self) -> datetime:
        return self.base.now() + self.offset


@dataclass
class Leg:
    """One call leg as the phone network sees it."""

    sid: str
    attempt_id: int
    leg: str  # agent | customer
    callback_id: int | None
    url: str | None  # TwiML fetched when answered (None for a Dial child without a url)
    status_url: str
    parent: str | None = None
    status: str = "queued"
    sequence: int = 0
    stage: str = ""  # whisper, dialing, talking
    child: str | None = None
    placed_live: bool = True
    dial_action: str | None = None
    dial_done: str | None = None  # the <Dial action> Twilio requests on this leg when its child ends


@dataclass
class Network:
    """The phone network: calls at the provider, their TwiML conversations with our app, the status mailbox."""

    client: Any
    provider: FakeProvider
    db: Database
    legs: dict[str, Leg] = field(default_factory=dict)
    mailbox: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bridges: int = 0

    def post(self, url: str, form: dict[str, str]) -> Any:
        parts = urlsplit(url)
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        response = self.client.post(parts.path + (f"?{parts.query}" if parts.query else ""), data=form,
                                    headers={"X-Twilio-Signature": signature})
        assert response.status_code in (200, 204), (url, form, response.status_code, response.data)
        return response

    def twiml(self, url: str, form: dict[str, str]) -> Any:
        return assert_valid_twiml(self.post(url, form).data)

    def emit(self, leg: Leg, status: str, **extra: str) -> None:
        leg.sequence += 1
        leg.status = status
        self.mailbox.append((leg.status_url, {"CallSid": leg.sid, "CallStatus": status,
                                              "SequenceNumber": str(leg.sequence), **extra}))
        if leg.sid in self.provider.calls and self.provider.calls[leg.sid].status not in ("canceled",):
            self.provider.set_status(leg.sid, status, duration=int(extra.get("CallDuration", 0)) or None)

    def active(self) -> list[Leg]:
        # A call the worker canceled at the provider ends there; the network reports it like Twilio would.
        for leg in self.legs.values():
            info = self.provider.calls.get(leg.sid)
            if info is not None and info.status == "canceled" and leg.status not in TERMINAL:
                self.emit(leg, "canceled")
        # A <Dial> whose second leg ended without a conversation (canceled, not answered) requests its action
        # URL on the first leg, as Twilio does; our answer there says goodbye and the first leg hangs up.
        for leg in list(self.legs.values()):
            child = self.legs.get(leg.child or "")
            if leg.stage == "dialing" and leg.status not in TERMINAL and child is not None and \
                    child.status in TERMINAL:
                if leg.dial_done is not None:
                    root = self.twiml(leg.dial_done, {"CallSid": leg.sid, "DialCallStatus": child.status,
                                                      "DialCallSid": child.sid})
                    assert root.find("Dial") is None, "a dial-done answer must not dial again"
                self.end(leg, "completed", 0)
        return [leg for leg in self.legs.values() if leg.status not in TERMINAL]

    def end(self, leg: Leg, status: str, talk: int = 0) -> None:
        extra = {"CallDuration": str(talk)} if status == "completed" else {}
        self.emit(leg, status, **extra)

    def end_together(self, leg: Leg, status: str, talk: int) -> None:
        """A leg ends, and the other leg of its conversation with it."""
        self.end(leg, status, talk)
        other = self.legs.get(leg.child or "") or self.legs.get(leg.parent or "")
        if other is not None and other.status not in TERMINAL:
            self.end(other, "completed" if other.status == "in-progress" else "canceled", talk)


TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def attempt_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["attempt"][0])


class ModelProvider(FakeProvider):
    """The fake provider with the faults the model injects, and a note of calls placed for attempts not live."""

    def __init__(self, clock: FrozenClock, db: Database):
        super().__init__(clock=clock)
        self.db = db
        self.lookups_down = False
        self.placed_not_live: set[str] = set()

    def create_call(self, request: CallRequest) -> CallInfo:
        attempt_id = attempt_of(request.url)
        with self.db.session() as session:
            attempt = session.get(Attempt, attempt_id)
            live = attempt is not None and attempt.state != "ended" and attempt.callback.live_attempt_id == attempt_id
        before = set(self.calls)
        try:
            return super().create_call(request)
        finally:
            if not live:
                self.placed_not_live |= set(self.calls) - before

    def fetch_call(self, sid: str) -> CallInfo:
        if self.lookups_down:
            raise ProviderTransientError("provider unreachable")
        return super().fetch_call(sid)

    def list_calls(self, **filters: Any) -> list[CallInfo]:
        if self.lookups_down:
            raise ProviderTransientError("provider unreachable")
        return super().list_calls(**filters)


@dataclass
class WorkerState:
    """One worker process: its dispatcher and what it holds in memory between steps."""

    dispatcher: Dispatcher
    clock: OffsetClock
    claimed: list[Claimed] = field(default_factory=list)
    checked: list[Claimed] = field(default_factory=list)  # passed the last check, not sent yet
    placed: list[Placed] = field(default_factory=list)  # sent, not recorded yet


class PromiseModel(RuleBasedStateMachine):
    database = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        from ivr.app import create_app

        self.clock = FrozenClock(DEFAULT_NOW)
        self.db = self.make_database()
        centre = load_contact_centre(EXAMPLE_CONFIG)
        billing = centre.queues["billing"].model_copy(update={"dial_order": "customer_first"})
        dispatch = centre.dispatch.model_copy(update={"calls_per_second": 50.0})
        self.centre = centre.model_copy(update={"queues": {**centre.queues, "billing": billing},
                                                "dispatch": dispatch})
        self.app = create_app({"TESTING": True, "instance_path": self.folder / "instance", "secret_key": "model",
                               "public_base_url": BASE_URL, "twilio_auth_token": TOKEN,
                               "twilio_account_sid": "AC" + "0" * 32,
                               "twilio_phone_number": CALLER_ID, "ratelimit_storage_url": "memory://",
                               "DATABASE": self.db, "CENTRE": self.centre, "CLOCK": self.clock,
                               "SIMULATOR_THREAD": False})
        self.service = CallbackService(self.db, self.centre, self.clock)
        self.provider = ModelProvider(self.clock, self.db)
        self.network = Network(self.app.test_client(), self.provider, self.db)
        for i in range(2):
            add_agent(self.db, f"agent {i}", f"+98935000000{i}", self.clock.now(), "IR")
        self.workers = [self.make_worker("w1", timedelta(0)), self.make_worker("w2", timedelta(minutes=3))]
        self.sids = itertools.count(1)

    def make_database(self) -> Database:
        self.folder = Path(tempfile.mkdtemp(prefix="ivr-model-run-"))
        path = self.folder / "model.sqlite3"
        shutil.copy(sqlite_template(), path)
        return Database(f"sqlite:///{path}")

    def make_worker(self, worker_id: str, offset: timedelta) -> WorkerState:
        clock = OffsetClock(self.clock, offset)
        return WorkerState(Dispatcher(self.db, self.centre, self.provider, clock, worker_id=worker_id,
                                      base_url=BASE_URL, caller_id=CALLER_ID, sleep=lambda _s: None), clock)

    def teardown(self) -> None:
        try:
            if getattr(self, "checking_end", True):
                self.run_to_the_end()
                self.check_the_end()
        finally:
            self.db.dispose()
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- customers ---------------------------------------------------------------------------------------------
    @initialize(queues=st.lists(st.sampled_from(QUEUES), min_size=1, max_size=3))
    def customers_are_waiting(self, queues: list[str]) -> None:
        for phone, queue in zip(PHONES, queues, strict=False):
            self.customer_asks(phone, queue)

    @rule(phone=st.sampled_from(PHONES), queue=st.sampled_from(QUEUES))
    def customer_asks(self, phone: str, queue: str) -> None:
        try:
            self.service.request(phone=phone, channel="api", actor="model", queue=queue)
        except CallbackError:
            pass

    @rule(index=st.integers(0, 20))
    def customer_cancels(self, index: int) -> None:
        with self.db.session() as session:
            open_ids = list(session.scalars(select(Callback.public_id).where(Callback.status.in_(("pending",
                                                                                                  "dialing")))))
        if open_ids:
            self.service.cancel(open_ids[index % len(open_ids)], actor="customer")

    @rule(which=st.integers(0, 1), on=st.booleans())
    def agent_shift(self, which: int, on: bool) -> None:
        set_shift(self.db, f"agent {which}", on, self.clock.now())

    # -- time ----------------------------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1, 5, 20, 60, 150, 400]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    # -- workers: claim, check, send and record are separate steps (a worker can stall between any two) --------
    @rule(w=st.integers(0, 1))
    def claim(self, w: int) -> None:
        worker = self.workers[w]
        now = worker.clock.now()
        worker.claimed += [c for c in worker.dispatcher.claim_round(now) if isinstance(c, Claimed)]

    @precondition(lambda self: any(w.claimed for w in self.workers))
    @rule(w=st.integers(0, 1))
    def check(self, w: int) -> None:
        """The check right before the send: what is no longer dialable ends `not_placed` here."""
        worker = self.workers[w]
        if not worker.claimed:
            return
        item = worker.claimed.pop(0)
        if item.attempt_id in worker.dispatcher.dialable([item.attempt_id]):
            worker.checked.append(item)
        else:
            worker.dispatcher._not_dialed(item)

    @precondition(lambda self: any(w.checked for w in self.workers))
    @rule(w=st.integers(0, 1), fault=st.sampled_from(["none", "none", "none", "429", "5xx", "timeout_placed",
                                                       "invalid"]))
    def send(self, w: int, fault: str) -> None:
        worker = self.workers[w]
        if not worker.checked:
            return
        item = worker.checked.pop(0)
        if fault == "429":
            self.provider.fail_next(CallsLimitExceeded("Too Many Requests", status=429))
        elif fault == "5xx":
            self.provider.fail_next(OutcomeUnknown("HTTP 503"), placed=False)
        elif fault == "timeout_placed":
            self.provider.fail_next(OutcomeUnknown("read timeout"), placed=True)
        elif fault == "invalid":
            self.provider.invalid_numbers.add(item.phone)
        before = set(self.provider.calls)
        try:
            worker.dispatcher.dial(item, TickReport(), worker.placed)
        finally:
            self.provider.invalid_numbers.discard(item.phone)
        for sid in set(self.provider.calls) - before:
            self.new_leg(sid, item)

    @precondition(lambda self: any(w.checked for w in self.workers))
    @rule(w=st.integers(0, 1))
    def stall_past_the_lease(self, w: int) -> None:
        """SIGSTOP between a worker's last check and its send, for longer than the lease: meanwhile the other
        worker settles the attempt with the provider and dials the callback again."""
        if not self.workers[w].checked:
            return
        self.clock.advance(self.centre.dispatch.lease + SETTLE + timedelta(seconds=5))
        other = self.workers[1 - w]
        other.dispatcher.sweep()
        self.dial_all(other)

    def dial_all(self, worker: WorkerState) -> None:
        """A whole, uneventful tick of one worker."""
        report = TickReport()
        items = [c for c in worker.dispatcher.claim_round(worker.clock.now()) if isinstance(c, Claimed)]
        allowed = worker.dispatcher.dialable([c.attempt_id for c in items])
        for item in items:
            if item.attempt_id not in allowed:
                worker.dispatcher._not_dialed(item)
                continue
            before = set(self.provider.calls)
            worker.dispatcher.dial(item, report, worker.placed)
            for sid in set(self.provider.calls) - before:
                self.new_leg(sid, item)
        worker.dispatcher.record(worker.placed)

    @rule(w=st.integers(0, 1))
    def tick(self, w: int) -> None:
        self.dial_all(self.workers[w])

    @precondition(lambda self: any(w.placed for w in self.workers))
    @rule(w=st.integers(0, 1))
    def record(self, w: int) -> None:
        worker = self.workers[w]
        worker.dispatcher.record(worker.placed)

    @rule(w=st.integers(0, 1))
    def crash(self, w: int) -> None:
        """kill -9: whatever the worker held in memory is gone."""
        worker = self.workers[w]
        worker.claimed.clear()
        worker.checked.clear()
        worker.placed.clear()

    @rule(w=st.integers(0, 1))
    def sweep(self, w: int) -> None:
        self.workers[w].dispatcher.sweep()

    @rule(w=st.integers(0, 1))
    def watchdog(self, w: int) -> None:
        Watchdog(self.db, self.centre, self.workers[w].clock, worker_id=f"w{w + 1}").run()

    @rule(down=st.booleans())
    def provider_lookups(self, down: bool) -> None:
        self.provider.lookups_down = down

    # -- the phone network -----------------------------------------------------------------------------------------
    def new_leg(self, sid: str, item: Claimed) -> None:
        request = next(r for r in reversed(self.provider.requests) if attempt_of(r.url) == item.attempt_id)
        leg = "customer" if item.dial_order == "customer_first" else "agent"
        self.network.legs[sid] = Leg(sid, item.attempt_id, leg, item.callback_id, request.url,
                                     request.status_callback, placed_live=sid not in self.provider.placed_not_live)

    def pick(self, index: int, *stages: str) -> Leg | None:
        legs = [leg for leg in self.network.active() if leg.stage in stages]
        return legs[index % len(legs)] if legs else None

    @rule(index=st.integers(0, 20))
    def phone_rings(self, index: int) -> None:
        leg = self.pick(index, "")
        if leg is not None and leg.status == "queued":
            self.network.emit(leg, "ringing")

    @rule(index=st.integers(0, 20), machine=st.booleans())
    def phone_answered(self, index: int, machine: bool) -> None:
        leg = self.pick(index, "")
        if leg is not None:
            if leg.status == "queued":
                self.network.emit(leg, "ringing")
            self.answer(leg, machine)

    def answer(self, leg: Leg, machine: bool) -> None:
        answered_by = "machine_end_beep" if machine and leg.leg == "customer" else "human"
        extra = {"AnsweredBy": answered_by} if leg.leg == "customer" else {}
        self.network.emit(leg, "in-progress", **extra)
        if leg.url is None:  # an agent's Dial child: answering connects the conversation
            leg.stage = "talking"
            parent = self.network.legs[leg.parent or ""]
            parent.stage = "talking"
            return
        root = self.network.twiml(leg.url, {"CallSid": leg.sid, "CallStatus": "in-progress",
                                            "AnsweredBy": answered_by})
        gather, dial = root.find("Gather"), root.find("Dial")
        if gather is not None:
            leg.stage = "whisper"
            leg.dial_action = gather.get("action")
        elif dial is not None:
            self.bridged(leg, dial)
        elif leg.parent is not None and root.find("Hangup") is None:
            # An empty document lets the customer through to the agent who dialed them: a bridge.
            self.assert_live(leg.attempt_id, "customer let through to the agent")
            self.assert_one_customer_up(leg)
            leg.stage = "talking"
            self.network.legs[leg.parent].stage = "talking"
        else:
            self.network.end_together(leg, "completed", 1)

    @rule(index=st.integers(0, 20))
    def agent_takes_the_call(self, index: int) -> None:
        """An agent's phone rings, they answer, hear the whisper and press 1 at once."""
        legs = [leg for leg in self.network.active() if leg.stage == "" and leg.leg == "agent" and leg.parent is None]
        if legs:
            leg = legs[index % len(legs)]
            if leg.status == "queued":
                self.network.emit(leg, "ringing")
            self.answer(leg, machine=False)
            if leg.stage == "whisper" and leg.dial_action is not None:
                self.press(leg, "1")

    @rule(index=st.integers(0, 20), digit=st.sampled_from(["1", "1", "1", "2"]))
    def agent_presses(self, index: int, digit: str) -> None:
        leg = self.pick(index, "whisper")
        if leg is not None and leg.dial_action is not None:
            self.press(leg, digit)

    def press(self, leg: Leg, digit: str) -> None:
        assert leg.dial_action is not None
        root = self.network.twiml(leg.dial_action, {"CallSid": leg.sid, "Digits": digit})
        dial = root.find("Dial")
        if dial is not None:
            self.bridged(leg, dial)
        elif leg.parent is not None and root.find("Hangup") is None:
            # A customer's key at the opt-out offer other than 9: the empty document lets them through.
            self.assert_live(leg.attempt_id, "customer let through to the agent")
            self.assert_one_customer_up(leg)
            leg.stage = "talking"
            self.network.legs[leg.parent].stage = "talking"
        else:
            self.network.end(leg, "completed", 5)

    def bridged(self, leg: Leg, dial: Any) -> None:
        """Our TwiML dialed the second leg: it must be the live attempt's."""
        self.assert_live(leg.attempt_id, "second leg dialed")
        number = dial.find("Number")
        child = self.provider.add_child(leg.sid, number.text, dial.get("callerId") or CALLER_ID)
        other = "customer" if leg.leg == "agent" else "agent"
        self.network.legs[child.sid] = Leg(child.sid, leg.attempt_id, other, leg.callback_id, number.get("url"),
                                           number.get("statusCallback"), parent=leg.sid)
        leg.child = child.sid
        leg.dial_done = dial.get("action")
        leg.stage = "dialing"
        self.network.bridges += 1

    @rule(index=st.integers(0, 20), talk=st.sampled_from([5, 40, 200]))
    def hang_up(self, index: int, talk: int) -> None:
        leg = self.pick(index, "talking")
        if leg is not None:
            self.network.end_together(leg, "completed", talk)

    @rule(index=st.integers(0, 20), status=st.sampled_from(["no-answer", "busy", "failed"]))
    def not_answered(self, index: int, status: str) -> None:
        leg = self.pick(index, "")
        if leg is not None and leg.status in ("queued", "ringing"):
            self.network.end(leg, status)
            parent = self.network.legs.get(leg.parent or "")
            if parent is not None and parent.status not in TERMINAL:
                self.network.end(parent, "completed", 10)

    # -- status callbacks: delivered in any order, lost, duplicated, late ------------------------------------------
    @precondition(lambda self: self.network.mailbox)
    @rule(index=st.integers(0, 50), fate=st.sampled_from(["deliver", "deliver", "deliver", "lose", "duplicate"]))
    def status_callback(self, index: int, fate: str) -> None:
        url, form = self.network.mailbox[index % len(self.network.mailbox)]
        if fate != "duplicate":
            self.network.mailbox.remove((url, form))
        if fate != "lose":
            self.network.post(url, form)

    # -- the promise, after every step -------------------------------------------------------------------------
    def assert_live(self, attempt_id: int, what: str) -> None:
        with self.db.session() as session:
            attempt = session.get(Attempt, attempt_id)
            assert attempt is not None and attempt.state != "ended", f"{what} for ended attempt {attempt_id}"
            assert attempt.callback.status == "dialing" and attempt.callback.live_attempt_id == attempt_id, \
                f"{what} for attempt {attempt_id} that is not its callback's live one"

    def assert_one_customer_up(self, leg: Leg) -> None:
        up = [other for other in self.network.legs.values()
              if other.callback_id == leg.callback_id and other.leg == "customer" and other.stage == "talking"
              and other.status not in TERMINAL and other.sid != leg.sid]
        assert not up, f"a second customer leg is up for callback {leg.callback_id}"

    @invariant()
    def one_live_attempt_per_callback(self) -> None:
        with self.db.session() as session:
            open_per_callback = session.execute(
                select(Attempt.callback_id, func.count()).where(Attempt.state.in_(LIVE_STATES))
                .group_by(Attempt.callback_id).having(func.count() > 1)).all()
            assert not open_per_callback, f"several attempts open: {open_per_callback}"
            for callback in session.scalars(select(Callback).where(Callback.status == "dialing")):
                live = session.get(Attempt, callback.live_attempt_id) if callback.live_attempt_id else None
                assert live is not None and live.state in LIVE_STATES, f"callback {callback.id} dials nothing"

    @invariant()
    def agents_reserved_exactly_while_their_attempt_is_open(self) -> None:
        with self.db.session() as session:
            holding = {f"attempt:{a.id}": a.agent_id for a in session.scalars(
                select(Attempt).where(Attempt.state.in_(LIVE_STATES)))}
            reserved = {agent.busy_call_sid: agent.id for agent in session.scalars(
                select(Agent).where(Agent.busy_call_sid.is_not(None)))}
        assert reserved == {token: agent for token, agent in holding.items() if agent is not None}

    @invariant()
    def nothing_placed_for_a_dead_attempt_is_ever_up(self) -> None:
        for leg in self.network.legs.values():
            if not leg.placed_live:
                assert leg.stage in ("", "whisper") and leg.child is None, f"stray call {leg.sid} went further"

    # -- the end ---------------------------------------------------------------------------------------------------
    def run_to_the_end(self) -> None:
        """Faults stop; the network answers and finishes every call; time runs on past every deadline."""
        self.provider.lookups_down = False
        for worker in self.workers:
            self.crash(self.workers.index(worker))
        with self.db.session() as session:
            last_deadline = session.scalar(select(func.max(Callback.deadline_at))) or self.clock.now()
        end = max(last_deadline, self.clock.now()) + END_BOUND
        while self.clock.now() < end or self.network.active():
            assert self.clock.now() < end + timedelta(hours=1), "calls never end"
            for leg in list(self.network.active()):
                if leg.status == "queued":
                    self.network.emit(leg, "ringing")
                elif leg.stage == "talking":
                    self.network.end_together(leg, "completed", 30)
                elif leg.stage == "whisper" and leg.dial_action is not None:
                    self.press(leg, "1")
                elif leg.status == "ringing" and leg.stage == "":
                    self.answer(leg, machine=False)
            while self.network.mailbox:
                self.status_callback(0, "deliver")
            for worker in self.workers:
                self.dial_all(worker)
                worker.dispatcher.sweep()
            Watchdog(self.db, self.centre, self.workers[0].clock, worker_id="end").run()
            with self.db.session() as session:
                busy = session.scalar(select(func.count()).select_from(Attempt).where(
                    Attempt.state.in_(LIVE_STATES))) or self.network.active()
            # Small steps while calls are in flight; otherwise on to the next retries and deadlines.
            self.clock.advance(seconds=20 if busy else 120)

    def check_the_end(self) -> None:
        with self.db.session() as session:
            callbacks = list(session.scalars(select(Callback)))
            for callback in callbacks:
                assert callback.status in FINAL_STATUSES, f"callback {callback.id} is still {callback.status}"
                assert callback.ended_at is not None, f"callback {callback.id} has no end time"
                assert callback.ended_at <= callback.deadline_at + END_BOUND, \
                    f"callback {callback.id} ended {callback.ended_at - callback.deadline_at} after its deadline"
                finals = session.scalar(select(func.count()).select_from(CallbackEvent).where(
                    CallbackEvent.callback_id == callback.id, CallbackEvent.to_status.in_(FINAL_STATUSES),
                    CallbackEvent.kind == "status"))
                assert finals == 1, f"callback {callback.id} ended {finals} times"
            assert session.scalar(select(func.count()).select_from(Attempt).where(
                Attempt.state.in_(LIVE_STATES))) == 0
            assert session.scalar(select(func.count()).select_from(Agent).where(Agent.busy_call_sid.is_not(None))) == 0
            for attempt in session.scalars(select(Attempt)):
                counted = [e for e in session.scalars(select(CallbackEvent).where(
                    CallbackEvent.callback_id == attempt.callback_id, CallbackEvent.kind == "attempt"))
                    if (e.details or {}).get("attempt") == attempt.number]
                assert len(counted) == 1, f"attempt {attempt.id} counted {len(counted)} times"
            stray_sids = set(session.scalars(select(StrayCall.call_sid)))
        for sid in self.provider.placed_not_live:
            assert self.provider.calls[sid].status in TERMINAL
        assert {sid for sid in self.provider.placed_not_live if self.network.legs[sid].status != "canceled"} <= \
            stray_sids | {sid for sid, leg in self.network.legs.items() if leg.status in TERMINAL}
        if callbacks:
            since = min(c.requested_at for c in callbacks)
            figures = sla_figures(self.db, self.centre.zone, since, max(c.requested_at for c in callbacks)
                                  + timedelta(seconds=1)).overall
            statuses = [c.status for c in callbacks]
            assert (figures.requested, figures.completed, figures.missed, figures.unreachable, figures.canceled) == (
                len(statuses), statuses.count("completed"), statuses.count("missed"), statuses.count("unreachable"),
                statuses.count("canceled"))


# IVR_MODEL_EXAMPLES=1000 for a long exploration; the suite runs a short one on every change.
MODEL_SETTINGS = settings(max_examples=int(os.environ.get("IVR_MODEL_EXAMPLES", "25")), stateful_step_count=50,
                          deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


TestPromiseOnSQLite = PromiseModel.TestCase
TestPromiseOnSQLite.settings = MODEL_SETTINGS
