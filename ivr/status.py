"""Twilio's status callbacks (`POST /twilio/status`, fixed) and the TwiML of our outbound callback calls.

Agent first (default): the worker rings the agent, `/twilio/outbound/agent` tells them who and why and waits for
1, `/twilio/outbound/agent/connect` dials the customer with the company's caller ID (answering-machine detection
on that leg), `/twilio/outbound/customer` speaks to a machine or lets a person through, `/twilio/outbound/dial-done`
tells the agent how it ended. Customer first: the worker rings the customer, `/twilio/outbound/customer` greets a
person and dials the reserved agent. Every URL carries the attempt id; every view is signature-checked and thin.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, request
from twilio.twiml.voice_response import VoiceResponse

from callbacks.dispatch import (
    AGENT_CONNECT_PATH,
    CUSTOMER_PATH,
    DIAL_DONE_PATH,
    STATUS_PATH,
    LegStatus,
    apply_leg_status,
    attempt_url,
    is_machine,
    mark_bridged,
    retry_time_for_message,
)
from callbacks.models import Attempt, Callback, InboundCall
from config.menus import DEFAULT_VOICES
from ivr.signature import twilio_signed

bp = Blueprint("twilio_status", __name__)
EVENTS = "initiated ringing answered completed"
# Seconds the agent has to press 1 after the whisper.
CONFIRM_SECONDS = 8

TEXTS = {
    "en": {
        "whisper": "Callback for {who}, queue {queue}, speaks {language}. {note}Press 1 to connect.",
        "no_key": "No key pressed. The callback goes back to the queue. Goodbye.",
        "closed": "This callback was already resolved. Nothing to do. Goodbye.",
        "machine_retry": "Hello, this is {centre} returning your call. We will try again at about {when}. Goodbye.",
        "machine_last": "Hello, this is {centre} returning your call. We could not reach you; please call us. Goodbye.",
        "connecting": "Hello, this is {centre} returning your call. Connecting you to an agent now.",
        "dial_done": "The call has ended. Thank you.",
        "not_reached": "The customer did not answer. We will try again later. Goodbye.",
    },
    "fa": {
        "whisper": "تماس برگشتی برای {who}، صف {queue}، زبان {language}. {note}برای وصل شدن ۱ را فشار دهید.",
        "no_key": "کلیدی فشار داده نشد. درخواست به صف برمی‌گردد. خدانگهدار.",
        "closed": "این درخواست پیش‌تر رسیدگی شده است. خدانگهدار.",
        "machine_retry": "سلام، از {centre} با شما تماس گرفتیم. حدود ساعت {when} دوباره تماس می‌گیریم. خدانگهدار.",
        "machine_last": "سلام، از {centre} با شما تماس گرفتیم و موفق نشدیم. لطفاً با ما تماس بگیرید. خدانگهدار.",
        "connecting": "سلام، از {centre} با شما تماس گرفته‌ایم. اکنون به کارشناس وصل می‌شوید.",
        "dial_done": "تماس پایان یافت. سپاس.",
        "not_reached": "مشتری پاسخ نداد. بعداً دوباره تلاش می‌کنیم. خدانگهدار.",
    },
}


def _rt() -> Any:
    from flask import current_app

    return current_app.extensions["ivr"]


def _text(lang: str, key: str, **values: str) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**values)


def _say(response: VoiceResponse, language: str, text: str) -> None:
    response.say(text, language=DEFAULT_VOICES.get(language, {}).get("language", "en-US"))


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _attempt_id() -> int | None:
    return request.args.get("attempt", type=int)


def _load(session: Any, attempt_id: int | None) -> tuple[Attempt | None, Callback | None]:
    attempt = session.get(Attempt, attempt_id) if attempt_id else None
    return attempt, (attempt.callback if attempt is not None else None)


def _caller_id() -> str:
    rt = _rt()
    return rt.extras.get("caller_id") or rt.settings.twilio_phone_number


def _goodbye(language: str, key: str) -> Response:
    response = VoiceResponse()
    _say(response, language, _text(language, key))
    response.hangup()
    return _twiml(response)


# -- status callbacks ------------------------------------------------------------------------------------------------
@bp.post(STATUS_PATH)
@twilio_signed
def status() -> tuple[str, int]:
    """Apply a call status callback: outbound legs by attempt id, in SequenceNumber order; repeats ignored."""
    rt = _rt()
    attempt_id, leg = _attempt_id(), request.args.get("leg", "")
    now = rt.clock.now()
    with rt.db.session() as session:
        if attempt_id is not None:
            apply_leg_status(session, rt.centre, attempt_id, leg, LegStatus.from_twilio(request.form), now)
        else:
            _inbound_status(session, request.form, now)
    return "", 204


# Journey outcomes after which the call was meant to end; any other outcome at hang-up means the caller gave up.
FINAL_JOURNEY_OUTCOMES = frozenset(
    {"human", "callback_requested", "goodbye", "hung_up", "fallback_number", "database_down", "no_input"}
)


def _inbound_status(session: Any, form: Any, now: Any) -> None:
    """An inbound call's status: record its end (in order; the phone tree owns the rest of its journey)."""
    from sqlalchemy import select

    call = session.scalar(select(InboundCall).where(InboundCall.call_sid == form.get("CallSid", "")))
    report = LegStatus.from_twilio(form)
    if call is None or (report.sequence is not None and report.sequence <= (call.last_sequence or -1)):
        return
    call.last_sequence = report.sequence
    if report.status in ("completed", "busy", "no-answer", "failed", "canceled") and call.ended_at is None:
        call.ended_at = now
        if call.outcome not in FINAL_JOURNEY_OUTCOMES:
            # The caller hung up before the tree finished with them: where they left is what the funnel needs.
            call.outcome = "hung_up"
            call.outcome_node = next((v.get("node") for v in reversed(call.path or []) if v.get("node")), None)


# -- agent first -----------------------------------------------------------------------------------------------------
@bp.post("/twilio/outbound/agent")
@twilio_signed
def agent_whisper() -> Response:
    """The agent answered: who is to be called back and why; press 1 to connect."""
    rt = _rt()
    with rt.db.session() as session:
        attempt, callback = _load(session, _attempt_id())
        if attempt is None or callback is None or not callback.is_open:
            return _goodbye(rt.centre.default_language, "closed")
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
    rt = _rt()
    now = rt.clock.now()
    with rt.db.session() as session:
        attempt, callback = _load(session, _attempt_id())
        if attempt is None or callback is None or not callback.is_open:
            return _goodbye(rt.centre.default_language, "closed")
        if request.form.get("Digits") != "1":
            return _goodbye(rt.centre.default_language, "no_key")
        mark_bridged(session, attempt.id, now)
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
    language = _rt().centre.default_language
    key = "dial_done" if request.form.get("DialCallStatus") == "completed" else "not_reached"
    return _goodbye(language, key)


# -- the customer's side ---------------------------------------------------------------------------------------------
@bp.post(CUSTOMER_PATH)
@twilio_signed
def customer_answered() -> Response:
    """The customer's phone answered: a machine hears when we will retry; a person is connected."""
    rt = _rt()
    now = rt.clock.now()
    answered_by = request.form.get("AnsweredBy") or None
    with rt.db.session() as session:
        attempt, callback = _load(session, _attempt_id())
        if attempt is None or callback is None:
            return _goodbye(rt.centre.default_language, "closed")
        if answered_by:
            attempt.answered_by = answered_by[:24]
        language = callback.language
        queue = rt.centre.queue(callback.queue)
        if is_machine(answered_by):
            return _machine(rt, language, retry_time_for_message(queue, callback, now))
        if attempt.dial_order != "customer_first":
            return _twiml(VoiceResponse())  # agent first: an empty document bridges the customer to the agent
        if not callback.is_open or attempt.agent is None:
            return _goodbye(language, "closed")
        mark_bridged(session, attempt.id, now)
        agent_phone, attempt_id = attempt.agent.phone, attempt.id
    base = rt.settings.public_base_url
    response = VoiceResponse()
    _say(response, language, _text(language, "connecting", centre=rt.centre.name))
    dial = response.dial(caller_id=_caller_id(), timeout=30, method="POST",
                         action=attempt_url(base, DIAL_DONE_PATH, attempt_id))
    dial.number(agent_phone, status_callback=attempt_url(base, STATUS_PATH, attempt_id, leg="agent"),
                status_callback_event=EVENTS, status_callback_method="POST")
    return _twiml(response)


def _machine(rt: Any, language: str, when: Any) -> Response:
    response = VoiceResponse()
    if when is None:
        _say(response, language, _text(language, "machine_last", centre=rt.centre.name))
    else:
        local = when.astimezone(rt.centre.zone).strftime("%H:%M")
        _say(response, language, _text(language, "machine_retry", centre=rt.centre.name, when=local))
    response.hangup()
    return _twiml(response)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
