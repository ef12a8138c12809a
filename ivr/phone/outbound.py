"""Twilio's status callbacks (`POST /twilio/status`, fixed) and the TwiML of our outbound callback calls.

Agent first (default): the worker rings the agent, `/twilio/outbound/agent` tells them who and why and waits for
1, `/twilio/outbound/agent/connect` dials the customer with the company's caller ID (answering-machine detection
on that leg), `/twilio/outbound/customer` speaks to a machine or lets a person through, `/twilio/outbound/dial-done`
tells the agent how it ended. Customer first: the worker rings the customer, `/twilio/outbound/customer` greets a
person and dials the reserved agent. Every URL carries the attempt id; every view is signature-checked and thin.

Callers waiting in an inbound queue: the worker rings a free agent; `/twilio/outbound/queue` tells them which queue
and how long its first caller has waited, `/twilio/outbound/queue/connect` answers their 1 with `<Dial><Queue>`
(Twilio takes the head of the queue), `/twilio/outbound/queue/bridge` (the `<Queue url>`, run on the caller taken)
records who was answered, `/twilio/outbound/queue/done` thanks the agent or tells them the caller had gone. These
URLs carry the agent call's id (`callbacks.inbound_queue`), and so do its status callbacks.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.exc import InterfaceError, OperationalError
from twilio.twiml.voice_response import VoiceResponse

from callbacks import inbound_queue
from callbacks.attempts import (
    AGENT_CONNECT_PATH,
    CUSTOMER_PATH,
    DIAL_DONE_PATH,
    LEGS,
    STATUS_PATH,
    LegStatus,
    apply_leg_status,
    attempt_url,
    live_attempt,
    mark_bridged,
)
from callbacks.calls import ANSWERED_BY, CALL_STATUSES, TERMINAL_CALL_STATUSES, is_machine
from callbacks.db import DatabaseUnavailable
from callbacks.guard import OPT_OUT_KEY, OPTED_OUT, opt_out_on_call
from callbacks.models import AgentCall, Attempt, InboundCall
from callbacks.policy import retry_time_for_message
from config.menus import DEFAULT_VOICES
from ivr.phone import journey
from ivr.phone.signature import twilio_signed
from ivr.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("twilio_status", __name__)
EVENTS = "initiated ringing answered completed"
# Seconds the agent has to press 1 after the whisper.
CONFIRM_SECONDS = 8
# Seconds a customer has to press the opt-out key after hearing the offer (then they are put through).
OPT_OUT_SECONDS = 3
OPT_OUT_PATH = "/twilio/outbound/customer/key"

TEXTS = {
    "en": {
        "whisper": "Callback for {who}, queue {queue}, speaks {language}. {note}Press 1 to connect.",
        "no_key": "No key pressed. The callback goes back to the queue. Goodbye.",
        "closed": "This callback was already resolved. Nothing to do. Goodbye.",
        "not_needed": "This call is no longer needed. Goodbye.",
        "machine_retry": "Hello, this is {centre} returning your call. We will try again at about {when}. Goodbye.",
        "machine_last": "Hello, this is {centre} returning your call. We could not reach you; please call us. Goodbye.",
        "connecting": "Hello, this is {centre} returning your call. Connecting you to an agent now.",
        "dial_done": "The call has ended. Thank you.",
        "not_reached": "The customer did not answer. We will try again later. Goodbye.",
        "queue_whisper": "A caller is waiting in {queue} for {wait}, speaks {language}. {more}"
                         "Press 1 to take the call.",
        "queue_more": "{count} callers are waiting. ",
        "minutes": "{count} minutes",
        "one_minute": "1 minute",
        "under_a_minute": "less than a minute",
        "queue_no_key": "No key pressed. The caller keeps waiting. Goodbye.",
        "caller_gone": "The caller has gone. Thank you.",
        "opt_out_offer": "Hello, this is {centre} returning your call. To never be called by us again, press 9. "
                         "Otherwise, please hold.",
        "opted_out": "You will not be called by us again. If you change your mind, call us and press 1 when "
                     "asked. Goodbye.",
        "customer_opted_out": "The customer asked never to be called again. Goodbye.",
        "unavailable": "Sorry, we cannot connect this call right now. Goodbye.",
    },
    "fa": {
        "whisper": "تماس برگشتی برای {who}، صف {queue}، زبان {language}. {note}برای وصل شدن ۱ را فشار دهید.",
        "no_key": "کلیدی فشار داده نشد. درخواست به صف برمی‌گردد. خدانگهدار.",
        "closed": "این درخواست پیش‌تر رسیدگی شده است. خدانگهدار.",
        "not_needed": "این تماس دیگر لازم نیست. خدانگهدار.",
        "machine_retry": "سلام، از {centre} با شما تماس گرفتیم. حدود ساعت {when} دوباره تماس می‌گیریم. خدانگهدار.",
        "machine_last": "سلام، از {centre} با شما تماس گرفتیم و موفق نشدیم. لطفاً با ما تماس بگیرید. خدانگهدار.",
        "connecting": "سلام، از {centre} با شما تماس گرفته‌ایم. اکنون به کارشناس وصل می‌شوید.",
        "dial_done": "تماس پایان یافت. سپاس.",
        "not_reached": "مشتری پاسخ نداد. بعداً دوباره تلاش می‌کنیم. خدانگهدار.",
        "queue_whisper": "تماس‌گیرنده‌ای {wait} در صف {queue} منتظر است، زبان {language}. {more}"
                         "برای پاسخ ۱ را فشار دهید.",
        "queue_more": "{count} نفر در صف هستند. ",
        "minutes": "{count} دقیقه",
        "one_minute": "یک دقیقه",
        "under_a_minute": "کمتر از یک دقیقه",
        "queue_no_key": "کلیدی فشار داده نشد. تماس‌گیرنده در صف می‌ماند. خدانگهدار.",
        "caller_gone": "تماس‌گیرنده دیگر در صف نیست. سپاس.",
        "opt_out_offer": "سلام، از {centre} با شما تماس گرفته‌ایم. اگر نمی‌خواهید دیگر هرگز با شما تماس بگیریم ۹ را "
                         "فشار دهید. در غیر این صورت لطفاً گوشی را نگه دارید.",
        "opted_out": "دیگر با شما تماس نمی‌گیریم. اگر نظرتان عوض شد، با ما تماس بگیرید و وقتی پرسیدیم ۱ را فشار دهید. "
                     "خدانگهدار.",
        "customer_opted_out": "مشتری خواست دیگر هرگز با او تماس نگیریم. خدانگهدار.",
        "unavailable": "متأسفیم، اکنون امکان وصل این تماس نیست. خدانگهدار.",
    },
}




def _text(lang: str, key: str, **values: str) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**values)


def _say(response: VoiceResponse, language: str, text: str) -> None:
    response.say(text, language=DEFAULT_VOICES.get(language, {}).get("language", "en-US"))


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def row_id(text: str) -> int:
    """A row id from our own callback URL: a positive 32-bit integer (ValueError otherwise, also for "²")."""
    if not text.isascii() or not text.isdecimal() or len(text) > 10 or not 0 < int(text) < 2**31:
        raise ValueError(text)
    return int(text)


def _attempt_id() -> int | None:
    return request.args.get("attempt", type=row_id)


def _caller_id() -> str:
    rt = runtime()
    return rt.settings.twilio_phone_number


def _goodbye(language: str, key: str) -> Response:
    response = VoiceResponse()
    _say(response, language, _text(language, key))
    response.hangup()
    return _twiml(response)


# -- status callbacks ------------------------------------------------------------------------------------------------
class BadStatus(ValueError):
    """A status callback we cannot apply; the message names the field."""


def _number(form: Any, name: str, limit: int = 10**9) -> int | None:
    value = form.get(name)
    if value in (None, ""):
        return None
    # isdecimal, not isdigit: "²" is a digit to Python but not a number to int().
    if not value.isdecimal() or len(value) > 10 or int(value) > limit:
        # The value is not repeated: a long run of digits in the log could be a phone number.
        raise BadStatus(f"{name} must be a whole number of at most 10 digits")
    return int(value)


def leg_status(form: Any) -> LegStatus:
    """A Twilio status callback's form as a LegStatus, checked against Twilio's own vocabulary."""
    status = (form.get("CallStatus") or "").lower()
    if status not in CALL_STATUSES:
        raise BadStatus(f"CallStatus must be one of Twilio's call statuses, got {status[:20]!r}")
    sid = form.get("CallSid") or ""
    if not sid or len(sid) > 64 or not sid.isascii() or not sid.isalnum():
        raise BadStatus("CallSid must be Twilio's call id")
    answered_by = form.get("AnsweredBy") or None
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise BadStatus(f"AnsweredBy is not one of Twilio's values, got {answered_by[:20]!r}")
    error_code = form.get("ErrorCode") or None
    if error_code is not None and (not error_code.isdecimal() or len(error_code) > 16):
        raise BadStatus("ErrorCode must be Twilio's numeric error code")
    return LegStatus(status=status, call_sid=sid, sequence=_number(form, "SequenceNumber"),
                     duration=_number(form, "CallDuration"), answered_by=answered_by, error_code=error_code)


@bp.post(STATUS_PATH)
@twilio_signed
def status() -> tuple[str, int]:
    """Apply a call status callback: outbound legs by attempt id, in SequenceNumber order; repeats ignored; a
    status naming a call that is not the leg's own changes nothing."""
    rt = runtime()
    attempt_id, leg = _attempt_id(), request.args.get("leg", "")
    now = rt.clock.now()
    agent_call_id = request.args.get("agent_call", type=row_id)
    try:
        for name, parsed in (("attempt", attempt_id), ("agent_call", agent_call_id)):
            if name in request.args and parsed is None:
                raise BadStatus(f"{name} must be the row id we sent")
        report = leg_status(request.form)
        if attempt_id is not None and leg not in LEGS:
            raise BadStatus(f"leg must be one of {list(LEGS)}")
    except BadStatus as exc:
        log.warning("status callback refused: %s", exc)
        return str(exc), 400
    if attempt_id is None and agent_call_id is None:
        from ivr.phone.webhooks import journey_writer

        journal = journey_writer(current_app)
        if journal is not None and report.call_sid:
            # An inbound call's end joins its journey's batch (in order with this process's visits of the call).
            journal.put(journey.Visit(report.call_sid, now, from_status=True, sequence=report.sequence,
                                      ended=report.status in TERMINAL_CALL_STATUSES))
            return "", 204
    with rt.db.session() as session:
        if attempt_id is not None:
            result = apply_leg_status(session, rt.centre, attempt_id, leg, report, now)
            if result in ("mismatch", "stray"):
                log.warning("attempt %s: status of call %s for leg %s not applied (%s)", attempt_id,
                            report.call_sid, leg, result)
        elif agent_call_id is not None:
            inbound_queue.apply_status(session, rt.centre, agent_call_id, report, now)
        else:
            _inbound_status(session, request.form, report, now)
    return "", 204


def _inbound_status(session: Any, form: Any, report: LegStatus, now: Any) -> bool:
    """An inbound call's status: record its end (in order; the phone tree owns the rest of its journey). False when
    the call has no row."""
    from sqlalchemy import select

    call = session.scalar(select(InboundCall).where(InboundCall.call_sid == report.call_sid))
    if call is None:
        return False
    if report.sequence is not None and report.sequence <= (call.last_sequence or -1):
        return True
    call.last_sequence = report.sequence
    if report.status in TERMINAL_CALL_STATUSES:
        inbound_queue.end_inbound_call(call, now)
    return True


# -- agent first -----------------------------------------------------------------------------------------------------
@bp.post("/twilio/outbound/agent")
@twilio_signed
def agent_whisper() -> Response:
    """The agent answered: who is to be called back and why; press 1 to connect."""
    rt = runtime()
    with rt.db.session() as session:
        live = live_attempt(session, _attempt_id())
        if live is None:
            return _not_live(rt.centre.default_language)
        attempt, callback = live
        # Agents hear the centre's own language; the customer's language is part of the whisper.
        language = rt.centre.default_language
        queue = rt.centre.queues.get(callback.queue)
        queue_name = (queue.name.get(language) or callback.queue) if queue else callback.queue
        who = callback.name or " ".join(callback.reference)
        note = f"{callback.note[:200]}. " if callback.note else ""
        attempt_id = attempt.id
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1, timeout=CONFIRM_SECONDS, input="dtmf", method="POST",
        action=attempt_url(rt.settings.public_base_url, AGENT_CONNECT_PATH, attempt_id),
    )
    _say(gather, language, _text(language, "whisper", who=who, queue=queue_name, note=note,
                                 language=callback.language))
    _say(response, language, _text(language, "no_key"))
    response.hangup()
    return _twiml(response)


@bp.post(AGENT_CONNECT_PATH)
@twilio_signed
def agent_connect() -> Response:
    """The agent pressed a key: on 1, dial the customer with our caller ID and machine detection."""
    rt = runtime()
    now = rt.clock.now()
    with rt.db.session() as session:
        if request.form.get("Digits") != "1":
            if live_attempt(session, _attempt_id()) is None:
                return _not_live(rt.centre.default_language)
            return _goodbye(rt.centre.default_language, "no_key")
        # Fenced: only the callback's live attempt dials the customer; a stale or closed one hangs up.
        live = mark_bridged(session, _attempt_id(), now)
        if live is None:
            return _not_live(rt.centre.default_language)
        attempt, callback = live
        phone, attempt_id = callback.phone, attempt.id
        ring = int(rt.centre.queue(callback.queue).retry.ring_timeout.total_seconds())
    base = rt.settings.public_base_url
    response = VoiceResponse()
    dial = response.dial(caller_id=_caller_id(), timeout=max(5, min(600, ring)), method="POST",
                         action=attempt_url(base, DIAL_DONE_PATH, attempt_id))
    extra = {"machine_detection": "Enable"} if rt.centre.dispatch.machine_detection else {}
    dial.number(phone, status_callback=attempt_url(base, STATUS_PATH, attempt_id, leg="customer"),
                status_callback_event=EVENTS, status_callback_method="POST",
                url=attempt_url(base, CUSTOMER_PATH, attempt_id), method="POST", **extra)
    return _twiml(response)


@bp.post(DIAL_DONE_PATH)
@twilio_signed
def dial_done() -> Response:
    """The customer leg ended; tell the agent and hang up (the status callbacks carry the outcome)."""
    rt = runtime()
    language = rt.centre.default_language
    key = "dial_done" if request.form.get("DialCallStatus") == "completed" else "not_reached"
    attempt_id = _attempt_id()
    if attempt_id is not None:
        with rt.db.session() as session:
            attempt = session.get(Attempt, attempt_id)
            if attempt is not None and attempt.outcome == OPTED_OUT:
                key = "customer_opted_out"  # the agent waited on the line: tell them why it ended
    return _goodbye(language, key)


# -- the customer's side ---------------------------------------------------------------------------------------------
@bp.post(CUSTOMER_PATH)
@twilio_signed
def customer_answered() -> Response:
    """The customer's phone answered: a machine hears when we will retry; a person is connected."""
    rt = runtime()
    now = rt.clock.now()
    answered_by = request.form.get("AnsweredBy") or None
    with rt.db.session() as session:
        live = live_attempt(session, _attempt_id())
        if live is None:
            # Nobody is bridged to a call whose attempt is not the live one (a stale worker's dial, a callback
            # canceled while the phone rang): a machine hears nothing, a person is told and the call ends.
            if is_machine(answered_by):
                return _twiml(_hangup())
            return _not_live(rt.centre.default_language)
        attempt, callback = live
        if answered_by:
            attempt.answered_by = answered_by[:24]
        language = callback.language
        queue = rt.centre.queue(callback.queue)
        if is_machine(answered_by):
            return _machine(rt, language, retry_time_for_message(queue, callback, now))
        attempt_id = attempt.id
    # A person: before anyone is bridged they may say "never call me again" with one key (no key: go on).
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=OPT_OUT_SECONDS, input="dtmf", method="POST",
                             action=attempt_url(rt.settings.public_base_url, OPT_OUT_PATH, attempt_id))
    _say(gather, language, _text(language, "opt_out_offer", centre=rt.centre.name))
    _continue_to_agent(response, attempt_id, language)
    return _twiml(response)


@bp.post(OPT_OUT_PATH)
@twilio_signed
def customer_key() -> Response:
    """The customer pressed a key during the opt-out offer: 9 lists the number and ends the call politely (the
    callback is canceled, the agent freed); any other key goes on to the agent."""
    rt = runtime()
    now = rt.clock.now()
    if (request.form.get("Digits") or "")[:1] == OPT_OUT_KEY:
        with rt.db.session() as session:
            callback = opt_out_on_call(session, rt.centre, _attempt_id(), now)
            language = callback.language if callback is not None else rt.centre.default_language
        log.info("callback attempt %s: the customer opted out by keypress", _attempt_id())
        return _goodbye(language, "opted_out")
    with rt.db.session() as session:
        live = live_attempt(session, _attempt_id())
        if live is None:
            return _not_live(rt.centre.default_language)
        attempt_id, language = live[0].id, live[1].language
    response = VoiceResponse()
    _continue_to_agent(response, attempt_id, language)
    return _twiml(response)


def _continue_to_agent(response: VoiceResponse, attempt_id: int, language: str) -> None:
    """After the opt-out offer: agent first, nothing more (the end of the document bridges the customer to the
    agent who dialed them); customer first, dial the reserved agent (fenced: a closed callback hangs up)."""
    rt = runtime()
    now = rt.clock.now()
    with rt.db.session() as session:
        live = live_attempt(session, attempt_id)
        if live is None:
            _say(response, language, _text(language, "not_needed"))
            response.hangup()
            return
        attempt, _callback = live
        if attempt.dial_order != "customer_first":
            return
        if attempt.agent is None or mark_bridged(session, attempt.id, now) is None:
            _say(response, language, _text(language, "closed"))
            response.hangup()
            return
        agent_phone = attempt.agent.phone
    base = rt.settings.public_base_url
    _say(response, language, _text(language, "connecting", centre=rt.centre.name))
    dial = response.dial(caller_id=_caller_id(), timeout=30, method="POST",
                         action=attempt_url(base, DIAL_DONE_PATH, attempt_id))
    dial.number(agent_phone, status_callback=attempt_url(base, STATUS_PATH, attempt_id, leg="agent"),
                status_callback_event=EVENTS, status_callback_method="POST")


def _hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def _not_live(language: str) -> Response:
    """The answer for a call placed for an attempt that is not (or no longer) the live one: never bridged."""
    return _goodbye(language, "not_needed")


def _machine(rt: Any, language: str, when: Any) -> Response:
    response = VoiceResponse()
    if when is None:
        _say(response, language, _text(language, "machine_last", centre=rt.centre.name))
    else:
        local = when.astimezone(rt.centre.zone).strftime("%H:%M")
        _say(response, language, _text(language, "machine_retry", centre=rt.centre.name, when=local))
    response.hangup()
    return _twiml(response)


# -- an agent rung for a caller waiting in an inbound queue ------------------------------------------------------------
def _agent_call_id() -> int | None:
    return request.args.get("agent_call", type=row_id)


def _waited(language: str, waited: Any) -> str:
    minutes = int(waited.total_seconds() // 60)
    if minutes < 1:
        return _text(language, "under_a_minute")
    return _text(language, "one_minute") if minutes == 1 else _text(language, "minutes", count=str(minutes))


def _caller_gone(language: str) -> Response:
    return _goodbye(language, "caller_gone")


@bp.post(inbound_queue.QUEUE_AGENT_PATH)
@twilio_signed
def queue_agent_whisper() -> Response:
    """The agent answered: which queue, how long its first caller has waited; press 1 to take the call."""
    rt = runtime()
    now = rt.clock.now()
    language = rt.centre.default_language
    agent_call_id = _agent_call_id()
    with rt.db.session() as session:
        call = inbound_queue.open_agent_call(session, agent_call_id)
        head = inbound_queue.head_of_queue(session, call.queue, now) if call is not None else None
        if call is None or head is None:
            inbound_queue.note_outcome(session, agent_call_id, inbound_queue.CALLER_GONE)
            return _caller_gone(language)
    queue = rt.centre.queues.get(head.queue)
    queue_name = (queue.name.get(language) or head.queue) if queue else head.queue
    more = _text(language, "queue_more", count=str(head.waiting)) if head.waiting > 1 else ""
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1, timeout=CONFIRM_SECONDS, input="dtmf", method="POST",
        action=inbound_queue.agent_call_url(rt.settings.public_base_url, inbound_queue.QUEUE_CONNECT_PATH,
                                            agent_call_id or 0),
    )
    _say(gather, language, _text(language, "queue_whisper", queue=queue_name, wait=_waited(language, head.longest_wait),
                                 language=head.language or language, more=more))
    _say(response, language, _text(language, "queue_no_key"))
    response.hangup()
    return _twiml(response)


@bp.post(inbound_queue.QUEUE_CONNECT_PATH)
@twilio_signed
def queue_agent_connect() -> Response:
    """The agent pressed a key: on 1, take the caller at the head of the queue (`<Dial><Queue>`, FIFO)."""
    rt = runtime()
    now = rt.clock.now()
    language = rt.centre.default_language
    agent_call_id = _agent_call_id()
    with rt.db.session() as session:
        call = inbound_queue.open_agent_call(session, agent_call_id)
        if call is not None and request.form.get("Digits") != "1":
            inbound_queue.note_outcome(session, agent_call_id, inbound_queue.NOT_CONFIRMED)
            return _goodbye(language, "queue_no_key")
        if call is None or inbound_queue.head_of_queue(session, call.queue, now) is None:
            inbound_queue.note_outcome(session, agent_call_id, inbound_queue.CALLER_GONE)
            return _caller_gone(language)
        inbound_queue.confirm(session, call, now)
        queue = call.queue
    base = rt.settings.public_base_url
    response = VoiceResponse()
    dial = response.dial(method="POST", timeout=max(5, min(600, CONFIRM_SECONDS)),
                         action=inbound_queue.agent_call_url(base, inbound_queue.QUEUE_DONE_PATH, agent_call_id or 0))
    # The queue's `url` runs on the caller Twilio takes, before they are connected: it tells us who it was.
    dial.queue(queue, url=inbound_queue.agent_call_url(base, inbound_queue.QUEUE_BRIDGE_PATH, agent_call_id or 0),
               method="POST")
    return _twiml(response)


@bp.post(inbound_queue.QUEUE_BRIDGE_PATH)
@twilio_signed
def queue_caller_taken() -> Response:
    """Runs on the caller's leg as Twilio takes them from the queue for the agent: they are answered now."""
    rt = runtime()
    with rt.db.session() as session:
        inbound_queue.bridge(session, _agent_call_id(), request.form.get("CallSid", ""), rt.clock.now())
    return _twiml(VoiceResponse())  # nothing to say: the caller is connected to the agent straight away


@bp.post(inbound_queue.QUEUE_DONE_PATH)
@twilio_signed
def queue_agent_done() -> Response:
    """The `<Dial><Queue>` ended: the conversation is over, or the queue was empty (the caller had gone)."""
    rt = runtime()
    language = rt.centre.default_language
    agent_call_id = _agent_call_id()
    with rt.db.session() as session:
        call = session.get(AgentCall, agent_call_id) if agent_call_id else None
        bridged = (call is not None and call.bridged_at is not None) or request.form.get("DialBridged") == "true"
        if not bridged:
            inbound_queue.note_outcome(session, agent_call_id, inbound_queue.CALLER_GONE)
    return _goodbye(language, "dial_done" if bridged else "caller_gone")


def _database_down(exc: Exception) -> Response:
    """The database is gone mid-call. A leg hears a short apology and hangs up: whether its attempt is still the
    live one cannot be checked, so nobody is bridged (the attempt's lease runs out and the sweep settles it with
    the provider). A status callback is refused with 503 and an empty document: Twilio does not retry it, and the
    sweep reads the call's outcome from the provider instead. Either way Twilio gets TwiML, never an error page."""
    log.error("database unavailable on %s: %s", request.path, exc)
    if request.path == STATUS_PATH:
        return Response(str(VoiceResponse()), status=503, mimetype="text/xml")
    return _goodbye(runtime().centre.default_language, "unavailable")


for _error in (DatabaseUnavailable, OperationalError, InterfaceError):
    bp.register_error_handler(_error, _database_down)


def init_app(app: Flask) -> None:
    # Signed by Twilio, about our own calls: nothing for the limiter to count (see ivr.phone.webhooks).
    from ivr.web.ratelimit import exempt_twilio_blueprint

    exempt_twilio_blueprint(bp)
    app.register_blueprint(bp)
