"""The phone tree's Twilio webhooks. Each view reads the form, asks the navigator, renders the step.

Every view is behind the signature check, answers valid TwiML whatever the input (a 4xx only for requests
that are not a call at all), and does database work through the time box so a slow database means
"one moment", never Twilio's "application error".
"""

from __future__ import annotations

import atexit
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from callbacks.businesstime import BusinessCalendar, NeverOpen
from callbacks.errors import CallbackError
from callbacks.guard import OptedOut, remove_from_dnc
from callbacks.phones import PhoneNumberRejected, mask, normalise
from callbacks.spool import Spool, SpoolFileInvalid, SpoolReplayer, replay_spool, take
from config.menus import Menu, menu_of
from config.schema import ContactCentre
from ivr.phone import journey, navigator
from ivr.phone.navigator import CallerInput, Decision, RequestCallback, Route, Situation, Step
from ivr.phone.prompts import AudioIndex
from ivr.phone.signature import twilio_signed
from ivr.phone.timebox import Timebox, TooSlow
from ivr.phone.twiml import Renderer, bare
from ivr.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__)
# "One moment" redirects before the configured fallback when the database stays slow.
MAX_DB_RETRIES = 2
MAX_PARAM = 64
# How often the web process moves spooled callback requests into the database.
SPOOL_REPLAY_SECONDS = 30.0
# Prepared TwiML: how many documents a process keeps, and for how long (see VoiceRuntime.rendered).
MAX_RENDERED = 512
RENDERED_SECONDS = 10.0
MAX_CALLERS_KNOWN = 4096
# An hour's average wait moves slowly: read once per this many seconds per queue and process.
RECENT_WAIT_SECONDS = 10.0
# The callback offer's routes: on a call whose database retries ran out, they keep the count (see _say).
_OFFER_ROUTES = ("offer", "number", "confirm")


@dataclass
class VoiceRuntime:
    """Per-app parts of the phone tree, built once in init_app."""

    timebox: Timebox
    audio: AudioIndex
    spool: Spool
    replayer: SpoolReplayer | None = None
    # The journey's batch writer (off the request path); None: each visit written in the time box, as it comes.
    journal: journey.JourneyWriter | None = None
    # Prepared TwiML: the document of a step already rendered (a menu's steps are the same for every caller),
    # kept RENDERED_SECONDS so that prompt audio rendered meanwhile (`ivr prompts render`) is picked up; None: off.
    rendered: dict[Any, tuple[float, str]] | None = None
    # Each queue's recent average wait (the hold announcement's estimate over the last hour), kept
    # RECENT_WAIT_SECONDS per process; None: read at every announcement.
    waits: dict[str, tuple[float, timedelta | None]] | None = None
    # Callers' numbers as normalised (E.164 or refused), per raw From.
    callers: dict[tuple[int, str], str | None] = field(default_factory=dict)




def _voice() -> VoiceRuntime:
    return current_app.extensions["ivr_voice"]


def _centre() -> ContactCentre:
    return runtime().centre


def _menu() -> Menu:
    return menu_of(_centre())


def _param(name: str, source: Any = None) -> str:
    value = (source if source is not None else request.values).get(name, "")
    return value[:MAX_PARAM] if isinstance(value, str) else ""


def _int(name: str, upper: int = 10) -> int:
    raw = _param(name)
    return min(int(raw), upper) if raw.isdecimal() and len(raw) < 4 else 0


def _language() -> str:
    centre = _centre()
    lang = _param("l")
    return lang if lang in centre.languages else centre.default_language


def _heard() -> CallerInput:
    # Digits are not capped by _param: a 10,000-digit Digits must be seen as garbage, not trimmed into a key.
    digits = request.form.get("Digits", "") or request.args.get("d", "")
    return CallerInput.parse(digits[:10_000], request.form.get("SpeechResult", "")[:2_000])


def _caller() -> str | None:
    """The caller's number in E.164 when it is one we may call back; None when withheld or refused."""
    raw = _param("From", request.form)
    if not raw or raw.lower() in ("anonymous", "restricted", "unknown", "private"):
        return None
    rules = _centre().phone_numbers
    known = _voice().callers
    key = (id(rules), raw)
    if key in known:
        return known[key]
    try:
        number: str | None = normalise(raw, rules)
    except PhoneNumberRejected:
        number = None
    if len(known) >= MAX_CALLERS_KNOWN:
        known.clear()
    known[key] = number
    return number


def _twiml(document: str) -> Response:
    return Response(document, mimetype="text/xml")


def _renderer() -> Renderer:
    rt = runtime()
    return Renderer(_menu(), rt.settings.public_base_url, _voice().audio.lookup_url(rt.settings.public_base_url))


def _say(step: Step) -> Response:
    tries = _int("t")
    if tries >= MAX_DB_RETRIES:
        step = _keeping_retries(step, tries)
    rendered = _voice().rendered
    if rendered is None:
        return _twiml(_renderer().render(step))
    rt = runtime()
    key = (id(rt.centre), rt.settings.public_base_url, step)
    now = time.monotonic()
    hit = rendered.get(key)
    if hit is not None and now - hit[0] < RENDERED_SECONDS:
        return _twiml(hit[1])
    document = _renderer().render(step)
    if len(rendered) >= MAX_RENDERED:
        rendered.clear()
    rendered[key] = (now, document)
    return _twiml(document)


def _keeping_retries(step: Step, tries: int) -> Step:
    """Carry the retry count through the callback offer, so a call whose database already failed books
    straight into the spool instead of waiting through "one moment" twice more."""

    def keep(route: Route) -> Route:
        if route.name in _OFFER_ROUTES and route.param("t") is None:
            return Route(route.name, (*route.params, ("t", str(tries))))
        return route

    listen = replace(step.listen, action=keep(step.listen.action)) if step.listen else None
    then = navigator.Redirect(keep(step.then.route)) if isinstance(step.then, navigator.Redirect) else step.then
    return replace(step, listen=listen, then=then)


def _record(**fields: Any) -> None:
    """Add to the call's journey; best effort (a slow database must not keep the caller waiting twice)."""
    call_sid = _param("CallSid", request.form)
    if not call_sid:
        return
    visit = journey.Visit(call_sid=call_sid, at=runtime().clock.now(), **fields)
    voice = _voice()
    if voice.journal is not None:
        voice.journal.put(visit)
    else:
        voice.timebox.try_run(journey.record, runtime().db, visit)


def journey_writer(app: Flask) -> journey.JourneyWriter | None:
    """This process's journey batch writer (None when visits are written as they come)."""
    voice = app.extensions.get("ivr_voice")
    return voice.journal if voice is not None else None


def _situation(queue: str | None, *, agents: bool) -> Situation:
    """Opening hours now, and (when `agents`) who can answer `queue`. Raises TooSlow."""
    rt = runtime()
    centre = _centre()
    now = rt.clock.now()
    calendar = BusinessCalendar.for_centre(centre)
    is_open = calendar.is_open(now)
    try:
        next_opening = None if is_open else calendar.next_opening(now)
    except NeverOpen:
        next_opening = None
    on_shift = 1
    free: tuple[str, ...] = ()
    if agents and is_open:
        staff = _voice().timebox.run(journey.staffing, rt.db, queue or centre.default_queue, now)
        on_shift, free = staff.on_shift, staff.free_numbers
    return Situation(
        is_open=is_open,
        next_opening=next_opening,
        zone=centre.zone,
        agents_on_shift=on_shift,
        free_agent_numbers=free,
        caller_known=_caller() is not None,
    )


def _queue_for(node_id: str) -> str:
    node = _menu().nodes.get(node_id)
    return (node.queue if node else None) or _centre().default_queue


def _retry_or_fallback(node_id: str, language: str) -> Response:
    """The database is slow: "one moment" and come back here (with the caller's input); then the fallback."""
    tries = _int("t")
    if tries >= MAX_DB_RETRIES:
        # No journey record here: it would wait on the same database once more.
        return _say(navigator.trouble(_menu(), node_id, language, Situation(caller_known=_caller() is not None)))
    params = [(k, v[:MAX_PARAM]) for k, v in request.args.items(multi=True) if k not in ("t", "d")]
    digits = request.form.get("Digits", "") or request.args.get("d", "")
    if digits and len(digits) <= 30:
        params.append(("d", digits))
    params.append(("t", str(tries + 1)))
    name = next(n for n, p in _paths().items() if p == request.path)
    return _say(navigator.one_moment(language, _menu(), Route(name, tuple(params))))


def _paths() -> dict[str, str]:
    from ivr.phone.twiml import PATHS

    return PATHS


def _present(decision: Decision, language: str) -> Step:
    """Present a node; transfer and callback nodes need the hours (and agents), others need nothing."""
    menu = _menu()
    node = menu.nodes[decision.node]
    if node.type in ("transfer", "callback"):
        situation = _situation(_queue_for(decision.node), agents=node.type == "transfer")
    else:
        situation = Situation(caller_known=_caller() is not None)
    return navigator.present(menu, decision, language, situation)


def _finish_step(step: Step, **extra: Any) -> Response:
    fields: dict[str, Any] = {"node": step.node, "outcome": step.outcome}
    if isinstance(step.then, navigator.Enqueue):
        fields.update(enqueued=True, queue=step.then.queue)
    if isinstance(step.then, navigator.DialAgents):
        fields.update(queue=_queue_for(step.node))
    if isinstance(step.then, navigator.Hangup):
        fields.update(ended=True)
    fields.update(extra)
    _record(**fields)
    return _say(step)


# -- the views ----------------------------------------------------------------------------------------


@bp.post("/twilio/voice")
@twilio_signed
def incoming() -> Response:
    """A call comes in: record it, fix its language (by the number called, or ask), play the first node."""
    centre, menu = _centre(), _menu()
    caller = _caller()
    called = _param("To", request.form) or _param("Called", request.form)
    language = navigator.language_for_call(menu, list(centre.languages), centre.default_language, called)
    _record(
        node="start" if language else "language",
        caller=caller,
        caller_masked=mask(caller) if caller else "(withheld)",
        called=called[:20] or None,
        language=language,
    )
    if language is None:
        return _say(navigator.language_menu(menu, list(centre.languages)))
    return _node_response(Decision(menu.start), language)


@bp.post("/twilio/fallback")
@twilio_signed
def fallback() -> Response:
    """The number's fallback URL (`ivr twilio configure` sets it): Twilio asks it when the voice URL failed or took
    over 15 s. Nothing here waits on the database: the caller is offered a callback (spooled if need be)."""
    centre, menu = _centre(), _menu()
    called = _param("To", request.form) or _param("Called", request.form)
    language = navigator.language_for_call(menu, list(centre.languages), centre.default_language, called)
    log.error("Twilio used the fallback URL (error %s on the voice URL)", _param("ErrorCode", request.form) or "?")
    situation = Situation(caller_known=_caller() is not None)
    return _say(navigator.trouble(menu, menu.start, language or centre.default_language, situation))


def _node_response(decision: Decision, language: str, recorded_input: str | None = None) -> Response:
    try:
        step = _present(decision, language)
    except TooSlow:
        return _retry_or_fallback(decision.node, language)
    return _finish_step(step, input=recorded_input, escaped=decision.escaped, language=language)


@bp.post("/twilio/ivr/language")
@twilio_signed
def language_chosen() -> Response:
    centre, menu = _centre(), _menu()
    heard = _heard()
    chosen, _ = navigator.choose_language(
        menu, list(centre.languages), centre.default_language, heard, _int("r"), Situation()
    )
    if chosen is None:
        return _say(navigator.language_menu(menu, list(centre.languages), _int("r") + 1, sorry=True))
    if heard.wants_human:
        return _node_response(Decision(menu.operator, escaped=True), chosen, "0")
    if heard.kind == "keys" and heard.keys in menu.language.keys:
        return _node_response(Decision(menu.start), chosen, heard.keys)
    return _node_response(Decision(menu.operator, sorry=True), chosen, heard.kind)


@bp.post("/twilio/ivr/node")
@twilio_signed
def node_view() -> Response:
    """Play a node (a message moving on, a repeat, a retry after "one moment")."""
    menu = _menu()
    node_id = _param("n")
    language = _language()
    if node_id not in menu.nodes:
        return _node_response(Decision(menu.start, sorry=True), language, "unknown-node")
    back = _param("b")
    return _node_response(
        Decision(node_id, _int("r", menu.max_retries), back=back if back in menu.nodes else None), language
    )


@bp.post("/twilio/ivr/input")
@twilio_signed
def input_view() -> Response:
    """What the caller pressed or said at a node."""
    menu = _menu()
    node_id = _param("n")
    language = _language()
    if node_id not in menu.nodes:
        return _node_response(Decision(menu.start, sorry=True), language, "unknown-node")
    back = _param("b")
    stage = "confirm" if _param("s") == "confirm" else ""
    decision = navigator.decide(
        menu,
        node_id,
        _heard(),
        _int("r", menu.max_retries),
        back=back if back in menu.nodes else None,
        stage=stage,
    )
    return _node_response(decision, language, decision.recorded_input)


def _offer_node() -> tuple[str, str]:
    menu = _menu()
    node_id = _param("n")
    return (node_id if node_id in menu.nodes else menu.operator), _language()


@bp.post("/twilio/ivr/offer")
@twilio_signed
def offer_view() -> Response:
    """`1` call me back on this number, `2` another number."""
    node_id, language = _offer_node()
    heard = _heard()
    try:
        situation = _situation(_queue_for(node_id), agents=heard.wants_human)
    except TooSlow:
        return _retry_or_fallback(node_id, language)
    result = navigator.offer_input(_menu(), node_id, language, heard, _int("r"), situation)
    return _book_or_say(result, node_id, language, heard)


@bp.post("/twilio/ivr/number")
@twilio_signed
def number_view() -> Response:
    """A callback number typed in: read it back, or ask again."""
    node_id, language = _offer_node()
    heard = _heard()
    if heard.wants_human:
        try:
            situation = _situation(_queue_for(node_id), agents=True)
        except TooSlow:
            return _retry_or_fallback(node_id, language)
        result = navigator.number_entered(_menu(), node_id, language, heard, None, _int("r"), situation)
        return _book_or_say(result, node_id, language, heard)
    e164 = None
    if heard.kind == "keys" and heard.keys.isdecimal():
        try:
            e164 = normalise(heard.keys, _centre().phone_numbers)
        except PhoneNumberRejected:
            e164 = None
    step = navigator.number_entered(_menu(), node_id, language, heard, e164, _int("r"), Situation())
    if isinstance(step, RequestCallback):
        return _book_or_say(step, node_id, language, heard)
    return _finish_step(step, input="number" if e164 else "invalid-number")


@bp.post("/twilio/ivr/number/confirm")
@twilio_signed
def confirm_view() -> Response:
    node_id, language = _offer_node()
    e164 = _number_in_url()
    if e164 is None:
        return _say(navigator.number_entry(_menu(), node_id, language, sorry=True))
    heard = _heard()
    result = navigator.confirm_input(_menu(), node_id, language, heard, e164)
    return _book_or_say(result, node_id, language, heard)


@bp.post("/twilio/ivr/optin")
@twilio_signed
def optin_view() -> Response:
    """The caller heard their number is on the do-not-call list: `1` takes it off and books the callback."""
    node_id, language = _offer_node()
    e164 = _number_in_url()
    if e164 is None:
        return _say(navigator.number_entry(_menu(), node_id, language, sorry=True))
    heard = _heard()
    result = navigator.opt_in_input(_menu(), node_id, language, heard, e164)
    if isinstance(result, RequestCallback):
        if e164 != _caller():
            # Only the number's owner, calling from it, may take it off the list.
            return _say(navigator.number_entry(_menu(), node_id, language, sorry=True))
        rt = runtime()
        with rt.db.session() as session:
            remove_from_dnc(session, e164)
        log.info("%s opted back in by keypress on call %s", mask(e164), _param("CallSid", request.form))
    return _book_or_say(result, node_id, language, heard)


def _number_in_url() -> str | None:
    """The number our own read-back URL carries (`num`), checked again: the URL is signed by Twilio, but it is
    ours, so it is input all the same. None when it is not a number we may call."""
    try:
        return normalise(_param("num"), _centre().phone_numbers)
    except PhoneNumberRejected:
        return None


def _book_or_say(result: Step | RequestCallback, node_id: str, language: str, heard: CallerInput) -> Response:
    if isinstance(result, Step):
        return _finish_step(result, input=heard.keys or heard.kind)
    phone = result.phone or _caller()
    if phone is None:
        return _say(navigator.number_entry(_menu(), node_id, language))
    try:
        booked = _voice().timebox.run(
            _request_callback, runtime(), phone, _queue_for(node_id), language, _param("CallSid", request.form),
            _voice().journal,
        )
    except TooSlow:
        if _int("t") >= MAX_DB_RETRIES:
            return _spool_callback(phone, node_id, language)
        return _retry_or_fallback(node_id, language)
    except OptedOut:
        log.info("callback refused at %s: %s is on the do-not-call list", node_id, mask(phone))
        step = navigator.opted_out(_menu(), node_id, language, phone, own=phone == _caller())
        return _finish_step(step, input=heard.keys or heard.kind)
    except CallbackError as exc:
        log.info("callback refused at %s: %s", node_id, exc.message)
        return _say(navigator.number_entry(_menu(), node_id, language, sorry=True))
    callback, created = booked
    step = navigator.booked(
        _menu(), node_id, language, callback.deadline_at, callback.reference, not created, _centre().zone,
        promise=callback.deadline_from,
    )
    return _finish_step(step, callback_id=callback.id, input=heard.keys or heard.kind)


def _request_callback(
    rt: Any, phone: str, queue: str, language: str, call_sid: str, journal: journey.JourneyWriter | None = None
) -> tuple[Any, bool]:
    """Store the callback (durably, before the caller hears the promise); keep a queue leaver's arrival time."""
    if journal is not None:
        journal.flush(1.0)  # this process's visits of the call (its queue arrival) first
    arrived = journey.arrival(rt.db, call_sid) if call_sid else None
    result = rt.service.request(
        phone=phone,
        queue=queue,
        language=language,
        channel="phone",
        actor=f"caller:{call_sid or 'unknown'}",
        arrived_at=arrived,
    )
    return result.callback, result.created


def _spool_callback(phone: str, node_id: str, language: str) -> Response:
    """The database stayed down: keep the request on local disk (stored later) and tell the caller its promise.

    A retry of this webhook for the same call finds the file it already wrote and repeats that promise.
    """
    rt, centre = runtime(), _centre()
    taken = take(
        centre,
        BusinessCalendar.for_centre(centre),
        call_sid=_param("CallSid", request.form),
        phone=phone,
        queue=_queue_for(node_id),
        language=language,
        now=rt.clock.now(),
    )
    try:
        kept = _voice().spool.put(taken)
    except (OSError, SpoolFileInvalid):
        log.exception("could not spool the callback request of %s", mask(phone))
        return _say(navigator.trouble(_menu(), node_id, language))
    log.warning("database unavailable: callback request of %s spooled as %s", mask(phone), taken.file_name)
    # No journey record (the database is down); the spooled file is the record of this request.
    return _say(navigator.recorded(_menu(), node_id, language, kept.deadline_at, centre.zone))


@bp.post("/twilio/ivr/queue/wait")
@twilio_signed
def wait_view() -> Response:
    """Twilio's waitUrl: position and expected wait, hold music, `1` to leave for a callback."""
    node_id, language = _offer_node()
    position = _int("QueuePosition", 10_000) if _param("QueuePosition", request.form).isdecimal() else None
    queue = _queue_for(node_id)
    expected: int | None = None
    if position:
        history = _recent_wait(queue)
        if history is not None:
            expected = round(history.total_seconds() * position / 60)
        else:
            avg = _int("AvgQueueTime", 100_000)
            per_caller = avg if avg > 0 else _menu().human.default_handle_time
            expected = round(per_caller * position / 60)
    return _say(navigator.hold(_menu(), node_id, language, position, expected))


def _recent_wait(queue: str) -> timedelta | None:
    """The queue's average wait over the last hour (None without history or when the database is slow)."""
    rt, voice = runtime(), _voice()
    now = time.monotonic()
    if voice.waits is not None:
        known = voice.waits.get(queue)
        if known is not None and now - known[0] < RECENT_WAIT_SECONDS:
            return known[1]
    try:
        history = voice.timebox.run(journey.recent_wait, rt.db, queue, rt.clock.now())
    except TooSlow:
        return None
    if voice.waits is not None:
        voice.waits[queue] = (now, history)
    return history


@bp.post("/twilio/ivr/queue/leave")
@twilio_signed
def leave_view() -> Response:
    node_id, language = _offer_node()
    return _finish_step(navigator.leave_input(_menu(), node_id, language, _heard()))


@bp.post("/twilio/ivr/queue/done")
@twilio_signed
def queue_done_view() -> Response:
    """After the Enqueue: talked to an agent, hung up, or left / dropped from the queue (callback offer)."""
    node_id, language = _offer_node()
    result = _param("QueueResult", request.form) or "error"
    waited = _param("QueueTime", request.form)
    bridged = result == "bridged" and waited.isdecimal() and len(waited) < 7
    answered = timedelta(seconds=int(waited)) if bridged else None
    try:
        situation = _situation(_queue_for(node_id), agents=False)
    except TooSlow:
        situation = Situation(caller_known=_caller() is not None)
    step = navigator.queue_result(_menu(), node_id, language, result, situation)
    if result == "bridged":
        _resolve_callbacks()
    return _finish_step(step, answered_after=answered, input=f"queue:{result[:20]}")


@bp.post("/twilio/ivr/dial/done")
@twilio_signed
def dial_done_view() -> Response:
    node_id, language = _offer_node()
    status = _param("DialCallStatus", request.form) or "failed"
    situation = Situation(caller_known=_caller() is not None, is_open=True)
    step = navigator.dial_result(_menu(), node_id, language, status, situation)
    if status == "completed":
        _resolve_callbacks()
    return _finish_step(step, input=f"dial:{status[:20]}")


def _resolve_callbacks() -> None:
    """Inbound closes outbound: a caller who talked to an agent no longer needs the callback they asked for."""
    caller, call_sid = _caller(), _param("CallSid", request.form)
    if caller and call_sid:
        rt = runtime()
        # Best effort within the time box: if it cannot be done now, the worker's call will reach them anyway.
        try:
            _voice().timebox.try_run(journey.resolve_callbacks, rt.db, rt.centre, caller, rt.clock.now(), call_sid)
        except Exception:
            log.exception("could not close the open callbacks of %s", mask(caller))


@bp.get("/ivr/prompts/<lang>/<name>")
def prompt_audio(lang: str, name: str) -> Response:
    """Rendered prompt audio (public: it is what every caller hears anyway)."""
    return send_from_directory(_voice().audio.directory / lang, name, mimetype="audio/wav")


def _recover(exc: Exception) -> ResponseReturnValue:
    """Never a 500 to Twilio: anything unexpected becomes a valid apology with a way on."""
    if isinstance(exc, HTTPException) and exc.code and exc.code < 500:
        return exc.get_response()
    if isinstance(exc, CallbackError) and exc.status < 500:
        # Refused at the edge (a NUL in a field, which Twilio never sends): nothing reached the database; the caller,
        # if there is one, still hears the apology and a way on, like any other garbage from the network.
        log.warning("voice webhook on %s refused: %s", request.path, exc.message)
    else:
        log.exception("voice webhook failed on %s", request.path)
    try:
        menu = _menu()
        language = _language()
        return _say(navigator.trouble(menu, menu.operator, language))
    except Exception:  # the last resort must not fail
        log.exception("even the apology failed on %s", request.path)
        return _twiml(bare("Sorry, something went wrong. Please call again.", hangup=True))


bp.register_error_handler(Exception, _recover)


def init_app(app: Flask, *, timebox_seconds: float | None = None) -> None:
    """Register the phone tree's webhooks on `app` (needs runtime(app) from create_app)."""
    seconds = timebox_seconds or float(app.config.get("IVR_DB_TIMEOUT", 2.0))
    rt = app.extensions.get("ivr")
    instance = rt.settings.instance_path if rt is not None else app.instance_path
    audio_dir = app.config.get("IVR_PROMPTS_DIR") or f"{instance}/prompts"
    spool = Spool(app.config.get("IVR_SPOOL_DIR") or f"{instance}/spool")
    voice = VoiceRuntime(timebox=Timebox(seconds), audio=AudioIndex(audio_dir), spool=spool)
    if app.config.get("IVR_TWIML_CACHE", not app.testing):
        voice.rendered = {}
        voice.waits = {}
    # Batched off the request path unless IVR_JOURNEY_BATCH is false (default: batched, except under TESTING).
    if rt is not None and app.config.get("IVR_JOURNEY_BATCH", not app.testing):
        db = rt.db
        voice.journal = journey.JourneyWriter(lambda visits: journey.record_many(db, visits))
        atexit.register(voice.journal.close)
    app.extensions["ivr_voice"] = voice
    if rt is not None:
        rt.spool = spool
        _start_spool_replay(app, rt, voice)
    # Only Twilio gets in (signed), and a caller must never hear a rate limit: nothing for the limiter to count.
    from ivr.web.ratelimit import exempt_twilio_blueprint

    exempt_twilio_blueprint(bp)
    app.register_blueprint(bp)


def _start_spool_replay(app: Flask, rt: Any, voice: VoiceRuntime) -> None:
    """Replay the spool when this process starts serving, then every IVR_SPOOL_REPLAY_SECONDS (0: never;
    default off under TESTING). Started on the first request, not here: `ivr` CLI commands build the app too and
    must not grow a thread, and a gunicorn worker forked after `--preload` would not inherit one."""
    interval = float(app.config.get("IVR_SPOOL_REPLAY_SECONDS", 0 if app.testing else SPOOL_REPLAY_SECONDS) or 0)
    if interval <= 0:
        return
    # rt.service and rt.clock are read at each pass (tests swap them).
    voice.replayer = SpoolReplayer(lambda: replay_spool(rt.service, voice.spool.directory, rt.clock.now()), interval)

    @app.before_request
    def _replay_spool_in_background() -> None:
        if voice.replayer is not None:
            voice.replayer.start()


__all__ = ["bp", "init_app"]
