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
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from sqlalchemy.exc import InterfaceError, OperationalError

from callbacks.db import DatabaseUnavailable
from callbacks.digits import to_ascii
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.models import CANCELED, DIALING, PENDING, Callback
from callbacks.phones import mask
from callbacks.policy import MAX_WINDOW_AHEAD, MIN_WINDOW, WindowClosed, WindowUnavailable, promise_for
from callbacks.service import MAX_NAME, MAX_NOTE
from ivr.runtime import runtime
from ivr.web import i18n, ui
from ivr.web.ratelimit import RateLimited, check_phone, limiter, per_client_limit

bp = Blueprint("callback_form", __name__, url_prefix="/callback", template_folder="templates")
csrf = CSRFProtect()

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


def _error(sub: Submission, exc: InvalidRequest, lang: str) -> None:
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
        sub.errors["name"] = i18n.gettext("name_too_long", lang, limit=MAX_NAME)
    if len(values["note"].strip()) > MAX_NOTE:
        sub.errors["note"] = i18n.gettext("note_too_long", lang, limit=MAX_NOTE)
    if not values["queue"]:
        values["queue"] = centre.default_queue
    if values["queue"] not in centre.queues:
        sub.errors["queue"] = i18n.gettext("unknown_queue", lang)

    day_text, from_text, to_text = values["window_date"], values["window_from"].strip(), values["window_to"].strip()
    if not (day_text or from_text or to_text):
        return sub
    day = date.fromisoformat(day_text) if day_text in dict(window_days(now, lang)) else None
    if day is None:
        sub.errors["window_date"] = i18n.gettext("day_invalid" if day_text else "day_missing", lang)
    times: list[tuple[int, int] | None] = []
    for name, text in (("window_from", from_text), ("window_to", to_text)):
        parsed = _parse_time(text) if text else None
        if parsed is None:
            sub.errors[name] = i18n.gettext("time_invalid" if text else "time_missing", lang)
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
        return i18n.gettext("hours_minutes", lang, hours=minutes // 60, minutes=minutes % 60)
    if minutes >= 60:
        return i18n.gettext("hours_only", lang, hours=minutes // 60)
    return i18n.gettext("minutes_only", lang, minutes=minutes)


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
                note = i18n.gettext("quote_overloaded", lang, when=when)
            elif quote.source != "sla":
                note = i18n.gettext("quote_busy", lang, usual=_duration_text(queue.sla.deadline, lang))
            else:
                note = ""
            out.append({"queue": queue_id, "source": quote.source, "deadline": quote.deadline.isoformat(),
                        "text": i18n.gettext("quote_line", lang, queue=i18n.queue_name(queue, queue_id, lang),
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


def _status_words(callback: Callback, lang: str, now: datetime) -> tuple[str, str, str]:
    """(css state, headline, explanation) for where the request stands."""
    when = _promise_text(callback, lang, now)
    if callback.status == PENDING:
        key = "pending_retry" if callback.attempts_made else "pending"
        return "waiting", i18n.gettext(f"status_{key}", lang), i18n.gettext(f"detail_{key}", lang, when=when)
    if callback.status == DIALING:
        return "calling", i18n.gettext("status_dialing", lang), i18n.gettext("detail_dialing", lang)
    return (
        callback.status,
        i18n.gettext(f"status_{callback.status}", lang),
        i18n.gettext(f"detail_{callback.status}", lang, attempts=callback.attempts_made),
    )


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
        return _render_form(sub, lang, banner=i18n.gettext("form_has_errors", lang), status=422)
    assert sub.phone is not None
    try:
        # Counted only for complete, valid requests: a customer fixing a typo does not use up their number's quota.
        check_phone(sub.phone)
    except RateLimited as exc:
        sub.errors["phone"] = i18n.gettext("rate_limited_phone", lang, minutes=math.ceil(exc.retry_after / 60))
        response = _render_form(sub, lang, banner=i18n.gettext("form_has_errors", lang), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    try:
        result = rt.service.request(
            phone=sub.phone,
            channel="web",
            actor=CUSTOMER_ACTOR,
            queue=sub.values["queue"],
            language=lang if lang in rt.centre.languages else None,
            name=sub.values["name"] or None,
            note=sub.values["note"] or None,
            window_start=sub.window_start,
            window_end=sub.window_end,
        )
    except InvalidRequest as exc:
        _error(sub, exc, lang)
        return _render_form(sub, lang, banner=i18n.gettext("form_has_errors", lang), status=422)
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


@bp.get("/status/<token>")
def status(token: str) -> Response:
    """Where the request stands, with a Cancel button while it is open."""
    lang = i18n.current_language()
    messages = [i18n.gettext(key, lang) for key in get_flashed_messages() if key in i18n.MESSAGES]
    return _render_status(token, lang, messages=messages)


@bp.post("/status/<token>/cancel")
@limiter.limit(per_client_limit)
def cancel(token: str) -> Response:
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
def protect_with_csrf() -> None:
    """Check the CSRF token on this blueprint's unsafe requests (a `before_request` other HTML areas may reuse)."""
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


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


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> Response:
    """A missing or stale token: nothing is stored or changed; show the page again with a fresh token."""
    lang = i18n.current_language()
    token = (request.view_args or {}).get("token")
    if request.endpoint == "callback_form.cancel" and token:
        try:
            return _render_status(token, lang, messages=[i18n.gettext("csrf_failed_action", lang)], status=400)
        except NotFound as missing:  # raised inside an error handler, no other handler would catch it: a 500
            return _not_found(missing)
    sub = Submission(values={name: (request.form.get(name) or "") for name in FIELDS})
    return _render_form(sub, lang, banner=i18n.gettext("csrf_failed", lang), status=400)


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
    # CSRFProtect's global check would also refuse the JSON API and Twilio's webhooks (registered after this):
    # turn it off and let each HTML blueprint call protect_with_csrf() in its before_request.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    i18n.init_app(app)
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
    app.register_blueprint(ui)
    app.register_blueprint(bp)


__all__ = ["bp", "csrf", "init_app", "protect_with_csrf", "read_submission", "ui", "window_days"]
