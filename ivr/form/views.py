"""The public callback form `/callback` and the customer's status page `/callback/status/<token>`.

Thin views: read the form, ask CallbackService, render the answer in the customer's language (Persian, right to
left, or English). CSRF is checked on this blueprint's POSTs only (see `protect_with_csrf`): the JSON API and the
Twilio webhooks must never ask for a form token.

Also registers `ui`: the shared layout `base.html` and its stylesheet (`/assets/site.css`) for every HTML area.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import InterfaceError, OperationalError

from callbacks.db import DatabaseUnavailable
from callbacks.digits import to_ascii
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.guard import (
    OptedOut,
    TooManyCodes,
    check_code,
    forget_verification,
    pending_verification,
    refuse_if_opted_out,
    start_verification,
)
from callbacks.models import CANCELED, DIALING, PENDING, Callback
from callbacks.phones import mask
from callbacks.policy import MAX_WINDOW_AHEAD, MIN_WINDOW, WindowClosed, WindowUnavailable, promise_for
from callbacks.service import MAX_NAME, MAX_NOTE
from ivr.runtime import runtime
from ivr.web import csrf, i18n, ui
from ivr.web.ratelimit import RateLimited, check_phone, limiter, per_client_limit
from telephony.provider import ProviderError

bp = Blueprint("callback_form", __name__, url_prefix="/callback", template_folder="templates")

# Seconds a customer is asked to wait when the database is down (the same as the API's 503).
RETRY_AFTER_SECONDS = 5
FIELDS = ("phone", "name", "queue", "window_date", "window_from", "window_to", "note")
# The service names window errors after its own arguments; the form has a day and two times.
_FORM_FIELD = {"window_start": "window_from", "window_end": "window_to"}
_TIME = re.compile(r"^\s*(\d{1,2})[:.٫](\d{2})\s*$")
CUSTOMER_ACTOR = "customer:web"




# -- reading the form ---------------------------------------------------------------------------------------------
@dataclass
class Submission:
    """What the customer sent, checked field by field; `errors` maps a form field to a message in their language."""

    values: dict[str, str]
    phone: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    errors: dict[str, str] = field(default_factory=dict)


def window_days(now: datetime, lang: str) -> list[tuple[str, str]]:
    """(ISO date, label) for each day a customer may choose, today first, in the centre's timezone."""
    zone = runtime().centre.zone
    today = now.astimezone(zone).date()
    return [
        ((today + timedelta(days=n)).isoformat(), _day_label(today + timedelta(days=n), today, lang))
        for n in range(MAX_WINDOW_AHEAD.days)
    ]


def _day_label(day: date, today: date, lang: str) -> str:
    if day in (today, today + timedelta(days=1)):
        relative = i18n.relative_day(day, lang, today)
        return f"{relative.capitalize()} — {i18n.format_day(day, lang, today)}"
    return i18n.format_day(day, lang, today)


def _parse_time(text: str) -> tuple[int, int] | None:
    match = _TIME.match(to_ascii(text))
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    return (hour, minute) if hour < 24 and minute < 60 else None


def _error(sub: Submission, exc: InvalidRequest | OptedOut, lang: str) -> None:
    """Put the service's error next to the field it names, in the customer's language."""
    centre = runtime().centre
    form_field = _FORM_FIELD.get(exc.field or "", exc.field or "phone")
    params: dict[str, Any] = {
        "countries": i18n.country_names(centre.phone_numbers.allowed_countries, lang),
        "days": MAX_WINDOW_AHEAD.days,
    }
    if exc.code == "window_too_short":
        queue = centre.queues.get(sub.values["queue"]) or centre.queue(None)
        params["minutes"] = int(max(MIN_WINDOW, queue.retry.attempt_duration).total_seconds() // 60)
    now = runtime().clock.now()
    if isinstance(exc, WindowClosed):
        if exc.suggested is None:
            sub.errors.setdefault(form_field, exc.message)
            return
        params["suggestion"] = i18n.format_window(*exc.suggested, lang, centre.zone, now)
    if isinstance(exc, WindowUnavailable):
        params["earliest"] = i18n.format_when(exc.earliest, lang, centre.zone, now)
    sub.errors.setdefault(form_field, i18n.error_message(exc.code, lang, exc.message, **params))


def read_submission(form: dict[str, str], lang: str, now: datetime) -> Submission:
    """Check every field at once (so the customer sees all problems together), without storing anything."""
    rt = runtime()
    centre = rt.centre
    sub = Submission(values={name: (form.get(name) or "") for name in FIELDS})
    values = sub.values
    try:
        sub.phone = rt.service.validate_phone(values["phone"])
    except InvalidRequest as exc:
        _error(sub, exc, lang)
    if len(" ".join(values["name"].split())) > MAX_NAME:
        sub.errors["name"] = i18n.translate("Please shorten the name to {limit} characters.", lang, limit=MAX_NAME)
    if len(values["note"].strip()) > MAX_NOTE:
        sub.errors["note"] = i18n.translate("Please shorten the note to {limit} characters.", lang, limit=MAX_NOTE)
    if not values["queue"]:
        values["queue"] = centre.default_queue
    if values["queue"] not in centre.queues:
        sub.errors["queue"] = i18n.translate("Please choose a subject from the list.", lang)

    day_text, from_text, to_text = values["window_date"], values["window_from"].strip(), values["window_to"].strip()
    if not (day_text or from_text or to_text):
        return sub
    day = date.fromisoformat(day_text) if day_text in dict(window_days(now, lang)) else None
    if day is None:
        sub.errors["window_date"] = i18n.error_message("day_invalid" if day_text else "day_missing", lang, "")
    times: list[tuple[int, int] | None] = []
    for name, text in (("window_from", from_text), ("window_to", to_text)):
        parsed = _parse_time(text) if text else None
        if parsed is None:
            sub.errors[name] = i18n.error_message("time_invalid" if text else "time_missing", lang, "")
        times.append(parsed)
    start, end = times
    if day is None or start is None or end is None:
        return sub
    zone = centre.zone
    sub.window_start = datetime(day.year, day.month, day.day, *start, tzinfo=zone)
    sub.window_end = datetime(day.year, day.month, day.day, *end, tzinfo=zone)
    if "queue" not in sub.errors:
        try:
            # The same pure rule the service applies, run here too so window errors show with all the others.
            promise_for(centre.queue(values["queue"]), now, rt.service.calendar, sub.window_start, sub.window_end)
        except InvalidRequest as exc:
            _error(sub, exc, lang)
    return sub


# -- rendering -----------------------------------------------------------------------------------------------------
def _duration_text(value: timedelta, lang: str) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes >= 60 and minutes % 60:
        return i18n.translate("{hours} h {minutes} min", lang, hours=minutes // 60, minutes=minutes % 60)
    if minutes >= 60:
        return i18n.translate("{hours} hours", lang, hours=minutes // 60)
    return i18n.translate("{minutes} minutes", lang, minutes=minutes)


def quotes(lang: str) -> list[dict[str, Any]]:
    """What each queue would promise a request placed now (shown before submitting); empty if the store is down."""
    rt = runtime()
    now = rt.clock.now()
    out = []
    try:
        for queue_id, quote in rt.service.quotes().items():
            queue = rt.centre.queues[queue_id]
            when = i18n.format_when(quote.deadline, lang, rt.centre.zone, now)
            if quote.overloaded:
                note = i18n.translate("We are overloaded right now and cannot promise a time; we will do our best "
                                      "to call before {when}.", lang, when=when)
            elif quote.source != "sla":
                note = i18n.translate("We are busier than usual: normally we call within "
                                      "{usual}.", lang, usual=_duration_text(queue.sla.deadline, lang))
            else:
                note = ""
            out.append({"queue": queue_id, "source": quote.source, "deadline": quote.deadline.isoformat(),
                        "text": i18n.translate("{queue}: we will call you before "
                                               "{when}.", lang, queue=i18n.queue_name(queue, queue_id, lang),
                                             when=when), "note": note})
    except (DatabaseUnavailable, OperationalError, InterfaceError):
        return []
    return out


def _render_form(sub: Submission | None, lang: str, *, banner: str | None = None, status: int = 200) -> Response:
    rt = runtime()
    now = rt.clock.now()
    centre = rt.centre
    values = sub.values if sub else {name: "" for name in FIELDS}
    queues = [(qid, i18n.queue_name(q, qid, lang)) for qid, q in centre.queues.items()]
    html = render_template(
        "callback_form/request.html",
        values=values,
        errors=sub.errors if sub else {},
        banner=banner,
        queues=queues,
        selected_queue=values.get("queue") or centre.default_queue,
        days=window_days(now, lang),
        zone=i18n.zone_name(centre.zone, lang),
        max_name=MAX_NAME,
        max_note=MAX_NOTE,
        quotes=quotes(lang),
    )
    return Response(html, status=status, mimetype="text/html")


def _status_url(token: str) -> str:
    return runtime().settings.public_base_url.rstrip("/") + url_for("callback_form.status", token=token)


def _promise_text(callback: Callback, lang: str, now: datetime) -> str:
    return i18n.format_when(callback.deadline_at, lang, runtime().centre.zone, now)


def _window_text(callback: Callback, lang: str, now: datetime) -> str | None:
    if callback.window_start is None or callback.window_end is None:
        return None
    return i18n.format_window(callback.window_start, callback.window_end, lang, runtime().centre.zone, now)


# A request's state as its customer reads it: (headline, explanation) by status ("pending_retry": pending after
# an attempt). The explanation may hold {when} (the promise) and {attempts}.
STATUS_WORDS: dict[str, tuple[str | None, str]] = {
    "pending": (i18n.N_("Waiting"), i18n.N_("We will call you before {when}.")),
    "pending_retry": (i18n.N_("Waiting to try again"), i18n.N_("We have not reached you yet. We will try again "
                                                               "before {when}.")),
    "dialing": (i18n.N_("We are calling you"), i18n.N_("Your phone should ring now. Please answer it.")),
    "completed": (i18n.N_("Done"), i18n.N_("We talked with you. Thank you.")),
    "unreachable": (i18n.N_("We could not reach you"), i18n.N_("We tried {attempts} times and could not reach you. "
                                                               "You can ask again at any time.")),
    "missed": (None, i18n.N_("We could not call you in time. We are sorry; a supervisor has been told.")),
    "canceled": (i18n.N_("Canceled"), i18n.N_("This request was canceled; we will not call.")),
}


def _status_words(callback: Callback, lang: str, now: datetime) -> tuple[str, str, str]:
    """(css state, headline, explanation) for where the request stands."""
    when = _promise_text(callback, lang, now)
    key = "pending_retry" if callback.status == PENDING and callback.attempts_made else callback.status
    headline, detail = STATUS_WORDS[key]
    # "Missed" needs its context: the reports' "Missed" (a count) reads differently in Persian.
    title = i18n.translate(headline, lang) if headline else i18n.ptranslate("callback status", "Missed", lang)
    text = i18n.translate(detail, lang, when=when, attempts=callback.attempts_made)
    css = {PENDING: "waiting", DIALING: "calling"}.get(callback.status, callback.status)
    return css, title, text


def _render_status(token: str, lang: str, *, messages: list[str] | None = None, status: int = 200) -> Response:
    rt = runtime()
    callback = rt.service.get_by_token(token)
    now = rt.clock.now()
    state, headline, detail = _status_words(callback, lang, now)
    queue = rt.centre.queues.get(callback.queue)
    html = render_template(
        "callback_form/status.html",
        callback=callback,
        token=token,
        state=state,
        headline=headline,
        detail=detail,
        messages=messages or [],
        promise=_promise_text(callback, lang, now),
        window=_window_text(callback, lang, now),
        requested=i18n.format_when(callback.requested_at, lang, rt.centre.zone, now),
        queue_name=i18n.queue_name(queue, callback.queue, lang) if queue else callback.queue,
        masked_phone=mask(callback.phone),
        attempts=i18n.digits(callback.attempts_made, lang),
        can_cancel=callback.is_open,
        is_canceled=callback.status == CANCELED,
    )
    return Response(html, status=status, mimetype="text/html")


def _page(template: str, status: int, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


# -- views -----------------------------------------------------------------------------------------------------------
@bp.route("", methods=["GET", "POST"])
@limiter.limit(per_client_limit, methods=["POST"])
def request_form() -> Response:
    """The form; on POST, store the request and answer with its reference, promise and status link."""
    lang = i18n.current_language()
    if request.method == "GET":
        return _render_form(None, lang)
    rt = runtime()
    sub = read_submission(request.form.to_dict(), lang, rt.clock.now())
    if sub.errors:
        return _render_form(sub, lang, banner=i18n.translate("Please correct the marked fields.", lang), status=422)
    assert sub.phone is not None
    try:
        # Counted only for complete, valid requests: a customer fixing a typo does not use up their number's quota.
        check_phone(sub.phone)
    except RateLimited as exc:
        sub.errors["phone"] = i18n.translate("This number has asked for too many callbacks. Please try again in "
                                             "{minutes} minutes.", lang, minutes=math.ceil(exc.retry_after / 60))
        response = _render_form(sub, lang, banner=i18n.translate("Please correct the marked fields.", lang), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    payload = {
        "phone": sub.phone,
        "queue": sub.values["queue"],
        "language": lang if lang in rt.centre.languages else None,
        "name": sub.values["name"] or None,
        "note": sub.values["note"] or None,
        "window_start": sub.window_start.isoformat() if sub.window_start else None,
        "window_end": sub.window_end.isoformat() if sub.window_end else None,
    }
    if rt.centre.queue(sub.values["queue"]).verify == "sms":
        return _send_code(sub, payload, lang)
    return _store(sub, payload, lang)


def _store(sub: Submission, payload: dict[str, Any], lang: str) -> Response:
    """Store the request (its number proven, or not asked to be) and answer with its promise."""
    rt = runtime()
    try:
        result = rt.service.request(
            phone=payload["phone"],
            channel="web",
            actor=CUSTOMER_ACTOR,
            queue=payload["queue"],
            language=payload["language"],
            name=payload["name"],
            note=payload["note"],
            window_start=datetime.fromisoformat(payload["window_start"]) if payload["window_start"] else None,
            window_end=datetime.fromisoformat(payload["window_end"]) if payload["window_end"] else None,
        )
    except (InvalidRequest, OptedOut) as exc:
        _error(sub, exc, lang)
        return _render_form(sub, lang, banner=i18n.translate("Please correct the marked fields.", lang), status=422)
    now = rt.clock.now()
    callback = result.callback
    context = {
        "promise": _promise_text(callback, lang, now),
        "window": _window_text(callback, lang, now),
        "overloaded": callback.deadline_from == "ceiling" and result.created,
    }
    if not result.created:
        # Someone (perhaps not this customer) already asked for this number: say when we will call, and nothing
        # that would let them follow or cancel the other request.
        return _page("callback_form/existing.html", 200, **context)
    assert result.status_token is not None
    return _page(
        "callback_form/created.html",
        201,
        reference=callback.reference,
        # The link works wherever the customer reached us; the text shows the public address to keep.
        status_path=url_for(".status", token=result.status_token),
        status_url=_status_url(result.status_token),
        **context,
    )


# -- proving the number: a code by SMS ---------------------------------------------------------------------------------
CODE_TEXT = {
    "fa": "کد تأیید درخواست تماس {centre}: {code}\nاگر شما درخواست نکرده‌اید، این پیام را نادیده بگیرید.",
    "en": "{centre} callback request code: {code}\nIf you did not ask for it, ignore this message.",
}


class _SimulatorSms:
    """The simulator mounted in this process: its SMS inbox, shown on the softphone page."""

    name = "simulator"

    def __init__(self, engine: Any):
        self.engine = engine

    def send_sms(self, *, to: str, from_: str, body: str) -> str:
        return str(self.engine.send_message({"To": to, "From": from_, "Body": body})["sid"])


def sms_sender() -> Any:
    """What sends the code: `SMS_PROVIDER` (tests), the simulator mounted here, else the configured provider."""
    app = current_app
    given = app.config.get("SMS_PROVIDER")
    if given is not None:
        return given
    sender = app.extensions.get("ivr_sms")
    if sender is None:
        simulator = app.extensions.get("simulator")
        if simulator is not None:
            sender = _SimulatorSms(simulator.engine)
        else:
            from telephony import provider_for

            sender = provider_for(runtime().settings)
        app.extensions["ivr_sms"] = sender
    return sender


def _send_code(sub: Submission, payload: dict[str, Any], lang: str) -> Response:
    """Keep the request aside, text a one-time code to the number, and ask for it."""
    rt = runtime()
    now = rt.clock.now()
    phone = payload["phone"]
    try:
        with rt.db.session() as session:
            refuse_if_opted_out(session, phone)  # never text a number that asked us to leave it alone
            verification, code = start_verification(session, rt.centre, rt.settings.resolved_secret_key(), phone,
                                                     payload, now)
            public_id = verification.public_id
    except OptedOut as exc:
        _error(sub, exc, lang)
        return _render_form(sub, lang, banner=i18n.translate("Please correct the marked fields.", lang), status=422)
    except TooManyCodes as exc:
        sub.errors["phone"] = i18n.error_message("too_many_codes", lang, "", minutes=math.ceil(exc.retry_after / 60))
        response = _render_form(sub, lang, banner=i18n.translate("Please correct the marked fields.", lang), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    body = CODE_TEXT.get(lang, CODE_TEXT["en"]).format(centre=rt.centre.name, code=code)
    try:
        sms_sender().send_sms(to=phone, from_=rt.settings.twilio_phone_number, body=body)
    except ProviderError as exc:
        current_app.logger.warning("verification code to %s not sent: %s", mask(phone), exc)
        with rt.db.session() as session:
            forget_verification(session, public_id)
        return _render_form(sub, lang, status=503,
                            banner=i18n.translate("We could not send the code right now. Please try again in a "
                                                  "minute.", lang))
    return _render_verify(public_id, phone, lang)


def _render_verify(public_id: str, phone: str, lang: str, *, error: str | None = None, status: int = 200,
                   dead: bool = False) -> Response:
    minutes = int(runtime().centre.verification.code_ttl.total_seconds() // 60)
    return _page("callback_form/verify.html", status, verification=public_id, error=error, dead=dead,
                 masked_phone=mask(phone), minutes=i18n.digits(minutes, lang))


@bp.post("/verify")
@limiter.limit(per_client_limit)
def verify() -> Response:
    """The code the customer typed: right, the request is stored now; wrong, try again (a few times)."""
    lang = i18n.current_language()
    rt = runtime()
    public_id = (request.form.get("verification") or "")[:40]
    code = to_ascii(request.form.get("code") or "").strip()
    with rt.db.session() as session:
        pending = pending_verification(session, public_id)
        phone = pending.phone if pending is not None else ""
    if pending is None:
        return _render_verify("", "", lang, error=i18n.error_message("code_unknown", lang, ""), status=404, dead=True)
    if not code:
        return _render_verify(public_id, phone, lang, error=i18n.error_message("code_missing", lang, ""), status=422)
    # Committed whatever the answer: a wrong try stays counted.
    with rt.db.session() as session:
        check = check_code(session, rt.centre, rt.settings.resolved_secret_key(), public_id, code, rt.clock.now())
    if check.result == "wrong":
        return _render_verify(public_id, phone, lang, status=422,
                              error=i18n.error_message("code_wrong", lang, "", tries=check.tries_left))
    if not check.ok or check.request is None:
        error = i18n.error_message(f"code_{check.result}", lang, check.result)
        return _render_verify(public_id, phone, lang, error=error,
                              status=410 if check.result in ("expired", "used") else 422, dead=True)
    values = {name: "" for name in FIELDS}
    values.update(phone=check.request["phone"], queue=check.request["queue"])
    return _store(Submission(values=values, phone=check.request["phone"]), check.request, lang)


# What the status page says after a cancel, by the key flashed across the redirect.
FLASHES = {
    "canceled_now": i18n.N_("Your request is canceled."),
    "cancel_busy": i18n.N_("We are updating this request right now; please try again in a moment."),
    "cancel_too_late": i18n.N_("This request has already ended, so it cannot be canceled."),
}


@bp.get("/status/<token>")
def status(token: str) -> Response:
    """Where the request stands, with a Cancel button while it is open."""
    lang = i18n.current_language()
    messages = [i18n.translate(FLASHES[key], lang) for key in get_flashed_messages() if key in FLASHES]
    return _render_status(token, lang, messages=messages)


@bp.post("/status/<token>/cancel")
@limiter.limit(per_client_limit)
def cancel(token: str) -> ResponseReturnValue:
    """Cancel the request behind the link, then show its new state (post/redirect/get)."""
    rt = runtime()
    callback = rt.service.get_by_token(token)
    try:
        rt.service.cancel(callback.public_id, actor=CUSTOMER_ACTOR, reason="canceled by the customer on the web")
        flash("canceled_now")
    except Conflict as exc:
        flash("cancel_busy" if exc.code == "callback_busy" else "cancel_too_late")
    return redirect(url_for(".status", token=token), code=303)


# -- protection and errors -----------------------------------------------------------------------------------------
def protect_with_csrf() -> Response | None:
    """Check the CSRF token on this blueprint's unsafe requests; a refused one is answered by `_csrf_refused`."""
    if current_app.config.get("WTF_CSRF_ENABLED", True) and csrf.refusal() is not None:
        return _csrf_refused()
    return None


bp.before_request(protect_with_csrf)


@bp.after_request
def _private_page_headers(response: Response) -> Response:
    # The status link is the only secret a customer holds: keep it out of caches, search engines and other
    # sites' Referer headers. "same-origin", not "no-referrer": Flask-WTF checks the Referer on HTTPS POSTs.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Robots-Tag", "noindex, nofollow")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    )
    return response


def _csrf_refused() -> Response:
    """A missing or stale token: nothing is stored or changed; show the page again with a fresh token."""
    lang = i18n.current_language()
    token = (request.view_args or {}).get("token")
    if request.endpoint == "callback_form.cancel" and token:
        try:
            expired = i18n.translate("This page had expired, so nothing was changed. Please try again.", lang)
            return _render_status(token, lang, messages=[expired], status=400)
        except NotFound as missing:  # raised inside an error handler, no other handler would catch it: a 500
            return _not_found(missing)
    sub = Submission(values={name: (request.form.get(name) or "") for name in FIELDS})
    return _render_form(sub, lang, banner=i18n.translate("This form had expired, so nothing was sent. Please check "
                                                         "it and send it again.", lang), status=400)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _page("callback_form/not_found.html", 404)


@bp.errorhandler(404)
def _no_such_page(exc: Exception) -> Response:
    return _page("callback_form/not_found.html", 404)


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded) -> Response:
    current = limiter.current_limit
    retry_after = max(1, int(current.reset_at - time.time())) if current else 60
    lang = i18n.current_language()
    response = _page("callback_form/rate_limited.html", 429, minutes=i18n.digits(math.ceil(retry_after / 60), lang))
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(DatabaseUnavailable)
@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _database_down(exc: Exception) -> Response:
    current_app.logger.error("database unavailable on %s %s: %s", request.method, request.path, exc)
    response = _page("callback_form/unavailable.html", 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    """Register the form, its status pages and the shared layout; check CSRF only where a view asks for it."""
    # No app-wide check: it would also refuse the JSON API and Twilio's webhooks. Each HTML blueprint checks in its
    # own before_request (protect_with_csrf here).
    csrf.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(ui)
    app.register_blueprint(bp)


__all__ = ["bp", "init_app", "protect_with_csrf", "read_submission", "ui", "window_days"]
