"""Callers waiting in a queue are answered: the worker rings a free agent, who hears who waits and presses 1.

Played with the fake provider and signed Twilio webhooks (every TwiML answer checked against Twilio's schema);
the caller's side is the phone tree through `tests.support.phone.Caller`. Time is the injected clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from callbacks.attempts import AGENT_MISSED_PAUSE
from callbacks.models import PENDING, AgentCall, InboundCall
from telephony.fake import FakeProvider
from telephony.provider import CallInfo, OutcomeUnknown
from tests.support.network import (
    BASE_URL,
    CALLER_ID,
    PhoneNetwork,
    add_agents,
    agent,
    attempts_of,
    make_dispatcher,
    reload,
    request_callback,
    said,
)
from tests.support.phone import Caller

ENGLISH_LINE = "+442080000000"
WRAP_UP = timedelta(seconds=30)
CALLER_GONE = "تماس‌گیرنده دیگر در صف نیست"  # "the caller has gone" (agents hear the centre's language)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "twilio_phone_number": CALLER_ID}


@pytest.fixture
def provider(clock):
    return FakeProvider(clock=clock)


@pytest.fixture
def network(client, provider):
    return PhoneNetwork(client, provider)


def caller_waits_in_billing(app: Any, phone: str = "+989121234567") -> Caller:
    """A caller on the English line presses 1 (billing), then 0 (an agent), and is put in the billing queue."""
    caller = Caller(app.test_client(), app, caller=phone, called=ENGLISH_LINE).dial().press("1").press("0")
    assert caller.last.enqueued and caller.last.root.find("Enqueue").text == "billing"
    return caller


def journey(app: Any, caller: Caller) -> InboundCall:
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(InboundCall).where(InboundCall.call_sid == caller.call_sid))


def agent_calls(app: Any) -> list[AgentCall]:
    with app.extensions["ivr"].db.session() as session:
        return list(session.scalars(select(AgentCall).order_by(AgentCall.id)))


class AgentPhone:
    """The agent's side of one call the worker placed: Twilio's requests to our URLs, in Twilio's order."""

    def __init__(self, network: PhoneNetwork, index: int = -1):
        self.network = network
        self.request = network.provider.requests[index]
        self.sid = network.provider.calls_to(self.request.to)[-1].sid
        self.id = int(parse_qs(urlsplit(self.request.url).query)["agent_call"][0])
        self.sequence = 0
        self.root: Any = None

    def status(self, status: str, sequence: int | None = None, **extra: str) -> None:
        self.sequence = sequence if sequence is not None else self.sequence + 1
        form = {"CallSid": self.sid, "CallStatus": status, "SequenceNumber": str(self.sequence), **extra}
        response = self.network.post(self.request.status_callback, form)
        assert response.status_code == 204, response.data

    def answers(self) -> AgentPhone:
        self.status("ringing")
        self.status("in-progress")
        self.root = self.network.twiml(self.request.url, {"CallSid": self.sid, "CallStatus": "in-progress"})
        return self

    def presses(self, digits: str) -> AgentPhone:
        action = self.root.find("Gather").get("action")
        self.root = self.network.twiml(action, {"CallSid": self.sid, "Digits": digits})
        return self

    def takes(self, caller: Caller) -> None:
        """Twilio dequeues `caller` for this agent: the <Queue url> runs on the caller's leg."""
        queue = self.root.find("Dial/Queue")
        self.network.twiml(queue.get("url"), {"CallSid": caller.call_sid, "DequeingCallSid": self.sid,
                                              "QueueTime": "95"})

    def dial_ends(self, status: str, bridged: bool) -> Any:
        form = {"CallSid": self.sid, "DialCallStatus": status, "DialBridged": "true" if bridged else "false"}
        self.root = self.network.twiml(self.root.find("Dial").get("action"), form)
        return self.root

    def hangs_up(self, duration: int = 0) -> None:
        self.status("completed", CallDuration=str(duration))


def test_a_free_agent_is_rung_for_a_caller_waiting_in_billing_and_bridged_by_pressing_one(
    app, provider, network, clock
):
    [ag] = add_agents(app, queues=["billing"])
    caller = caller_waits_in_billing(app)
    clock.advance(seconds=95)
    report = make_dispatcher(app, provider).tick()
    assert (report.queue_claimed, report.queue_dialed, report.claimed) == (1, 1, 0)
    [ring] = provider.requests
    assert ring.to == ag.phone and ring.from_ == CALLER_ID and ring.timeout == 20
    assert ring.url.startswith(f"{BASE_URL}/twilio/outbound/queue?agent_call=")
    assert ring.status_callback.startswith(f"{BASE_URL}/twilio/status?agent_call=")
    assert agent(app, ag.id).busy_call_sid is not None

    phone = AgentPhone(network).answers()
    # Agents hear the centre's language (Persian): "a caller has waited one minute in Billing ... press 1".
    assert "یک دقیقه در صف امور مالی منتظر است" in said(phone.root) and "۱ را فشار دهید" in said(phone.root)
    assert phone.root.find("Gather").get("numDigits") == "1"
    phone.presses("1")
    queue = phone.root.find("Dial/Queue")
    assert queue.text == "billing" and "/twilio/outbound/queue/bridge" in queue.get("url")
    phone.takes(caller)
    # Taken from the queue: no longer waiting by our records, though their Enqueue ends only after the talk.
    assert journey(app, caller).answered_at == clock.now() and journey(app, caller).agent_id == ag.id
    assert make_dispatcher(app, provider).tick().queue_claimed == 0

    clock.advance(minutes=4)
    caller.post(caller.last.root.find("Enqueue").get("action"), {"QueueResult": "bridged", "QueueTime": "95"})
    assert caller.last.hangs_up
    assert "تماس پایان یافت" in said(phone.dial_ends("completed", bridged=True))  # the call has ended
    phone.hangs_up(duration=260)
    [made] = agent_calls(app)
    assert (made.outcome, made.talk_seconds, made.state) == ("bridged", 260, "ended")
    assert journey(app, caller).outcome == "human"
    freed = agent(app, ag.id)
    assert freed.busy_call_sid is None and freed.available_at == clock.now() + WRAP_UP


def test_never_more_agents_are_rung_than_callers_waiting(app, provider, network, clock):
    add_agents(app, 3)
    caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().queue_dialed == 1
    clock.advance(seconds=5)
    assert dispatcher.tick().queue_claimed == 0  # one caller, one agent ringing for them
    caller_waits_in_billing(app, phone="+989121234568")
    assert dispatcher.tick().queue_dialed == 1
    assert len(provider.requests) == 2


def test_an_agent_who_lets_it_ring_out_is_paused_and_the_next_free_agent_is_rung(app, provider, network, clock):
    first, second = add_agents(app, 2)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    phone = AgentPhone(network)
    phone.status("ringing")
    clock.advance(seconds=20)
    phone.status("no-answer")
    rested = agent(app, first.id)
    assert rested.busy_call_sid is None and rested.available_at == clock.now() + AGENT_MISSED_PAUSE
    assert agent_calls(app)[0].outcome == "no-answer"
    assert journey(app, caller).answered_at is None  # the caller keeps waiting
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_dialed == 1
    assert provider.requests[-1].to == second.phone


def test_an_agent_who_does_not_press_one_is_released_and_the_caller_keeps_waiting(app, provider, network, clock):
    [ag] = add_agents(app)
    caller_waits_in_billing(app)
    make_dispatcher(app, provider).tick()
    phone = AgentPhone(network).answers().presses("5")
    assert "کلیدی فشار داده نشد" in said(phone.root) and phone.root.find("Hangup") is not None  # no key pressed
    phone.hangs_up(duration=12)
    assert agent_calls(app)[0].outcome == "not_confirmed"
    assert agent(app, ag.id).available_at == clock.now() + WRAP_UP
    clock.advance(WRAP_UP)
    assert make_dispatcher(app, provider).tick().queue_dialed == 1  # the same agent is offered the caller again


def test_an_agent_who_reaches_an_empty_queue_hears_the_caller_has_gone_and_nobody_else_is_rung(
    app, provider, network, clock
):
    first, _second = add_agents(app, 2)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    phone = AgentPhone(network).answers().presses("1")
    # The caller hung up a moment ago; Twilio's status callback for their call has not reached us yet.
    provider.calls[caller.call_sid] = CallInfo(caller.call_sid, ENGLISH_LINE, caller.caller, "completed")
    assert CALLER_GONE in said(phone.dial_ends("completed", bridged=False))
    phone.hangs_up(duration=15)
    assert agent_calls(app)[0].outcome == "caller_gone"
    assert agent(app, first.id).busy_call_sid is None
    # Before ringing the next agent for them, the worker asks the provider whether the caller is still there.
    dispatcher.sweep()
    assert journey(app, caller).ended_at == clock.now()
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_claimed == 0


def test_a_caller_who_hung_up_before_the_agent_answered_is_not_offered(app, provider, network, clock):
    add_agents(app)
    caller = caller_waits_in_billing(app)
    make_dispatcher(app, provider).tick()
    network.post(f"{BASE_URL}/twilio/status", {"CallSid": caller.call_sid, "CallStatus": "completed",
                                               "SequenceNumber": "5"})
    phone = AgentPhone(network).answers()
    assert CALLER_GONE in said(phone.root) and phone.root.find("Gather") is None
    phone.hangs_up(duration=3)
    assert agent_calls(app)[0].outcome == "caller_gone"


def test_callers_on_the_line_go_before_a_callback_that_can_wait(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, queue="billing")
    caller_waits_in_billing(app)
    report = make_dispatcher(app, provider).tick()
    assert (report.queue_dialed, report.claimed) == (1, 0)
    assert reload(app, callback).status == PENDING
    assert "/twilio/outbound/queue?" in provider.requests[0].url


def test_a_callback_that_would_miss_its_deadline_by_waiting_goes_before_a_caller(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, queue="urgent")  # owed within 30 minutes
    clock.advance(minutes=26)  # four minutes left: it cannot wait for one inbound conversation and wrap-up
    caller_waits_in_billing(app)
    report = make_dispatcher(app, provider).tick()
    assert (report.claimed, report.queue_claimed) == (1, 0)
    assert reload(app, callback).status == "dialing"
    assert "attempt=" in provider.requests[0].url


def test_agents_for_waiting_callers_keep_to_the_calls_per_second_pacing(app, provider, network, clock):
    add_agents(app, 3)
    for n in range(3):
        caller_waits_in_billing(app, phone=f"+98912123456{n}")
    dispatcher = make_dispatcher(app, provider)
    # One call a second, a two-second tick: two calls now, the third when the next slot comes.
    assert dispatcher.tick().queue_dialed == 2
    assert dispatcher.tick().queue_claimed == 0
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_dialed == 1


def test_agent_status_callbacks_apply_in_sequence_order_once(app, provider, network, clock):
    [ag] = add_agents(app)
    caller_waits_in_billing(app)
    make_dispatcher(app, provider).tick()
    phone = AgentPhone(network)
    phone.status("no-answer", 3)
    ended_at = clock.now()
    clock.advance(seconds=10)
    phone.status("ringing", 1)  # late and older: ignored
    phone.status("no-answer", 3)  # a repeat: ignored
    [made] = agent_calls(app)
    assert (made.outcome, made.ended_at, made.sequence) == ("no-answer", ended_at, 3)
    assert agent(app, ag.id).available_at == ended_at + AGENT_MISSED_PAUSE
    unsigned = app.test_client().post(f"/twilio/status?agent_call={made.id}", data={"CallStatus": "completed"})
    assert unsigned.status_code == 403


def test_a_lost_answer_from_the_provider_is_looked_up_before_the_agent_is_freed(app, provider, network, clock):
    [ag] = add_agents(app)
    caller_waits_in_billing(app)
    provider.fail_next(OutcomeUnknown("read timeout"), placed=True)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    assert agent_calls(app)[0].state == "unknown" and agent(app, ag.id).busy_call_sid is not None
    assert dispatcher.tick().queue_claimed == 0  # still counted as ringing for the caller
    clock.advance(seconds=11)
    dispatcher.sweep()
    [made] = agent_calls(app)
    assert made.call_sid == provider.calls_to(ag.phone)[0].sid and made.state == "dialing"
    provider.set_status(made.call_sid, "no-answer")
    clock.advance(minutes=3)
    dispatcher.sweep()
    assert agent_calls(app)[0].outcome == "no-answer" and agent(app, ag.id).busy_call_sid is None



# -- callers who leave while an agent is rung for them -------------------------------------------------------------
def leaves_for_a_callback(caller: Caller) -> None:
    """In the queue the caller presses 1, Twilio posts the Enqueue's action, and they ask to be called back."""
    caller.post(caller.last.root.find("Enqueue").get("action"), {"QueueResult": "leave", "QueueTime": "20"})
    caller.press("1").expect("We will call you back by")


def hangs_up_in_the_queue(network: PhoneNetwork, caller: Caller) -> None:
    network.post(f"{BASE_URL}/twilio/status", {"CallSid": caller.call_sid, "CallStatus": "completed",
                                               "SequenceNumber": "5"})


def attempt_token(app: Any, callback: Any) -> str:
    from callbacks.attempts import reservation_token

    return reservation_token(attempts_of(app, callback)[0].id)


def test_an_agent_rung_for_a_caller_who_left_for_a_callback_is_canceled_freed_at_once_and_rings_for_the_callback(
    app, provider, network, clock
):
    [ag] = add_agents(app)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().queue_dialed == 1
    phone = AgentPhone(network)
    phone.status("ringing")
    clock.advance(seconds=20)
    leaves_for_a_callback(caller)
    [callback] = callbacks_of(app)

    clock.advance(seconds=2)
    report = dispatcher.tick()
    assert (report.queue_canceled, report.claimed, report.dialed, report.queue_claimed) == (1, 1, 1, 0)
    assert provider.cancel_requests == [phone.sid] and provider.calls[phone.sid].status == "canceled"
    [made] = agent_calls(app)
    assert (made.state, made.outcome, made.ended_at) == ("ended", "caller_left", clock.now())
    # Free at once (no missed-call pause), so this very tick the agent is rung for the caller's callback.
    assert reload(app, callback).status == "dialing"
    assert provider.requests[-1].to == ag.phone and "attempt=" in provider.requests[-1].url
    assert agent(app, ag.id).busy_call_sid == attempt_token(app, callback)

    # Twilio's status callback for the canceled call comes afterwards: it changes nothing.
    clock.advance(seconds=1)
    phone.status("canceled")
    [after] = agent_calls(app)
    assert (after.outcome, after.ended_at, after.sequence, after.call_status) == \
        ("caller_left", made.ended_at, made.sequence, "ringing")
    assert agent(app, ag.id).busy_call_sid == attempt_token(app, callback)
    assert dispatcher.tick().queue_canceled == 0 and provider.cancel_requests == [phone.sid]


def test_an_agent_rung_for_a_caller_who_hung_up_is_canceled_at_the_next_tick(app, provider, network, clock):
    [ag] = add_agents(app)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    phone = AgentPhone(network)
    phone.status("ringing")
    hangs_up_in_the_queue(network, caller)
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_canceled == 1
    assert provider.cancel_requests == [phone.sid]
    freed = agent(app, ag.id)
    assert freed.busy_call_sid is None and freed.available_at == clock.now()


def test_two_callers_waiting_and_one_leaves_cancels_only_the_newest_of_two_ringing_agent_calls(
    app, provider, network, clock
):
    first, second = add_agents(app, 2)
    leaving = caller_waits_in_billing(app)
    caller_waits_in_billing(app, phone="+989121234568")
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().queue_dialed == 2
    older, newer = AgentPhone(network, 0), AgentPhone(network, 1)
    older.status("ringing")
    newer.status("ringing")
    clock.advance(seconds=10)
    hangs_up_in_the_queue(network, leaving)
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_canceled == 1
    # The newest is canceled: Twilio hands the remaining caller to whichever agent presses 1 first, and the
    # oldest has rung longest.
    assert provider.cancel_requests == [newer.sid]
    kept, canceled = agent_calls(app)
    assert (kept.id, kept.state, kept.outcome) == (older.id, "in_progress", None)
    assert (canceled.id, canceled.state, canceled.outcome) == (newer.id, "ended", "caller_left")
    assert agent(app, first.id).busy_call_sid is not None
    assert agent(app, second.id).busy_call_sid is None and agent(app, second.id).available_at == clock.now()
    # Idempotent: one caller, one agent call ringing for them; neither this worker nor another cancels again.
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_canceled == 0
    assert make_dispatcher(app, provider, worker_id="w2").tick().queue_canceled == 0
    assert provider.cancel_requests == [newer.sid] and len(provider.requests) == 2


def test_two_workers_at_once_cancel_a_surplus_agent_call_once(app, provider, network, clock):
    import threading

    add_agents(app)
    caller = caller_waits_in_billing(app)
    make_dispatcher(app, provider).tick()
    AgentPhone(network).status("ringing")
    hangs_up_in_the_queue(network, caller)
    workers = [make_dispatcher(app, provider, worker_id=f"w{n}") for n in range(2)]
    start = threading.Barrier(2)
    canceled: list[int] = []

    def run(worker: Any) -> None:
        start.wait()
        canceled.append(worker.inbound.cancel_surplus(clock.now()))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(canceled) == [0, 1]
    assert len(provider.cancel_requests) == 1


def test_a_cancel_that_comes_after_the_agent_answered_leaves_the_call_and_they_hear_the_caller_has_gone(
    app, provider, network, clock
):
    [ag] = add_agents(app)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    phone = AgentPhone(network)
    phone.status("ringing")
    hangs_up_in_the_queue(network, caller)
    # The agent picks up just before the worker's tick; Twilio has not told us yet.
    provider.set_status(phone.sid, "in-progress")
    clock.advance(seconds=2)
    assert dispatcher.tick().queue_canceled == 0
    assert provider.cancel_requests == [phone.sid] and provider.calls[phone.sid].status == "in-progress"
    [made] = agent_calls(app)
    assert (made.state, made.outcome) == ("in_progress", None)
    assert agent(app, ag.id).busy_call_sid is not None
    phone.status("in-progress")
    phone.root = network.twiml(phone.request.url, {"CallSid": phone.sid, "CallStatus": "in-progress"})
    assert CALLER_GONE in said(phone.root) and phone.root.find("Hangup") is not None
    phone.hangs_up(duration=4)
    assert agent_calls(app)[0].outcome == "caller_gone"
    assert agent(app, ag.id).available_at == clock.now() + WRAP_UP  # released with wrap-up, as before
    assert dispatcher.tick().queue_canceled == 0 and len(provider.cancel_requests) == 1


def test_a_failed_cancel_breaks_nothing_and_the_sweep_cancels_the_call_once_it_looks_it_up(
    app, provider, network, clock
):
    [ag] = add_agents(app)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    phone = AgentPhone(network)
    phone.status("ringing")
    hangs_up_in_the_queue(network, caller)
    provider.fail_next_cancel(OutcomeUnknown("read timeout"))
    clock.advance(seconds=2)
    report = dispatcher.tick()
    assert (report.queue_canceled, report.queue_claimed) == (0, 0)
    assert agent_calls(app)[0].state == "in_progress" and agent(app, ag.id).busy_call_sid is not None
    assert dispatcher.tick().queue_canceled == 0 and len(provider.cancel_requests) == 1  # not asked every tick
    clock.advance(seconds=11)
    dispatcher.sweep()
    assert provider.cancel_requests == [phone.sid, phone.sid]
    [made] = agent_calls(app)
    assert (made.state, made.outcome) == ("ended", "caller_left")
    assert agent(app, ag.id).available_at == clock.now()


class StatusFirstProvider(FakeProvider):
    """Twilio's status callback for the canceled call outruns its answer to the cancel request."""

    phone: AgentPhone | None = None

    def cancel_call(self, sid: str) -> CallInfo:
        info = super().cancel_call(sid)
        assert self.phone is not None
        self.phone.status(info.status)
        return info


def test_a_canceled_calls_status_callback_arriving_first_frees_the_agent_without_a_pause(app, network, clock):
    provider = StatusFirstProvider(clock=clock)
    network.provider = provider
    [ag] = add_agents(app)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    provider.phone = AgentPhone(network)
    provider.phone.status("ringing")
    leaves_for_a_callback(caller)
    clock.advance(seconds=2)
    report = dispatcher.tick()
    assert (report.queue_canceled, report.claimed) == (1, 1)
    [made] = agent_calls(app)
    assert (made.state, made.outcome, made.call_status) == ("ended", "caller_left", "canceled")
    [callback] = callbacks_of(app)
    assert agent(app, ag.id).busy_call_sid == attempt_token(app, callback)


def callbacks_of(app: Any) -> list[Any]:
    from callbacks.models import Callback

    with app.extensions["ivr"].db.session() as session:
        return list(session.scalars(select(Callback).order_by(Callback.id)))


def test_a_failed_cancel_of_a_call_the_agent_then_answered_leaves_an_ordinary_call(app, provider, network, clock):
    [ag] = add_agents(app)
    caller = caller_waits_in_billing(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    phone = AgentPhone(network)
    phone.status("ringing")
    hangs_up_in_the_queue(network, caller)
    provider.fail_next_cancel(OutcomeUnknown("read timeout"))
    clock.advance(seconds=2)
    dispatcher.tick()
    provider.set_status(phone.sid, "in-progress")
    clock.advance(seconds=11)
    dispatcher.sweep()
    assert provider.cancel_requests == [phone.sid]  # not asked again: it was answered
    [made] = agent_calls(app)
    assert (made.state, made.outcome) == ("in_progress", None)
    phone.answers()
    assert CALLER_GONE in said(phone.root)
    phone.hangs_up(duration=3)
    assert agent_calls(app)[0].outcome == "caller_gone"
    assert agent(app, ag.id).available_at == clock.now() + WRAP_UP


def test_a_status_carrying_another_agent_calls_sid_changes_nothing_and_nonsense_is_refused(
    app, provider, network, clock
):
    add_agents(app, 2)
    caller_waits_in_billing(app)
    caller_waits_in_billing(app, phone="+989121234568")
    assert make_dispatcher(app, provider).tick().queue_dialed == 2
    first, second = AgentPhone(network, 0), AgentPhone(network, 1)
    before = [(c.state, c.call_status) for c in agent_calls(app)]
    stolen = network.post(first.request.status_callback,
                          {"CallSid": second.sid, "CallStatus": "busy", "SequenceNumber": "3"})
    assert stolen.status_code == 204
    assert [(c.state, c.call_status) for c in agent_calls(app)] == before
    for form in ({"CallStatus": "x" * 500}, {"CallStatus": "busy", "SequenceNumber": "²"}):
        refused = network.post(first.request.status_callback, {"CallSid": first.sid, **form})
        assert refused.status_code == 400
    assert [(c.state, c.call_status) for c in agent_calls(app)] == before
