"""The supervisor's console under /supervisor/: log-in, the live board, missed-callback report with each
callback's history, service-level figures. Views are thin: they parse the request, call board/reports/sla,
and render. Every page needs a logged-in supervisor; changes need the admin role and a CSRF token."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from callbacks import board as board_data
from callbacks import capacity, guard, i18n, reports, sla
from callbacks.accounts import ADMIN, authenticate, end_sessions_of, get_supervisor, password_fingerprint
from callbacks.clock import ensure_utc
from callbacks.models import Supervisor
from callbacks.phones import PhoneNumberRejected, mask, normalise
from callbacks.serialize import iso
from ivr.runtime import runtime
from ivr.supervisor.charts import Bar, Column, Segment, horizontal_bars, stacked_columns
from ivr.web import csrf
from ivr.web.i18n import pick_language, use_language
from ivr.web.ratelimit import client_key, limiter

bp = Blueprint(
    "supervisor",
    __name__,
    url_prefix="/supervisor",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

SESSION_KEY = "supervisor"
# A supervisor's log-in lasts a working day, counted on the injected clock.
SESSION_MAX_AGE = timedelta(hours=12)
PUBLIC_ENDPOINTS = {"supervisor.login", "supervisor.static"}
REPORT_PAGE_ROWS = 200
REPORT_EARLIEST, REPORT_LATEST = date(2000, 1, 1), date(2199, 12, 31)
DEFAULT_REPORT_DAYS = 7
DEFAULT_SLA_DAYS = 14
POLL_SECONDS = 5
_CSV_FLUSH_ROWS = 500




def _wants_json() -> bool:
    return (
        request.path.endswith(".json")
        or request.is_json
        or request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    )


# Refusals by their stable code (the JSON `code`), in the reader's language.
REFUSALS = {
    "csrf_failed": i18n.N_("The form expired or was not sent from this site. Please try again."),
    "forbidden": i18n.N_("Your role may look but not change."),
    "no_data": i18n.N_("No data for this period."),
}
# What the board shows for a call's kind and an agent's state (the board's own names are the keys).
CALL_KINDS = {"outbound": i18n.N_("Callback call"), "inbound": i18n.N_("Inbound")}
AGENT_STATES = {
    "free": i18n.N_("free"),
    "busy": i18n.N_("on a call"),
    "wrap_up": i18n.N_("wrapping up"),
    "off_shift": i18n.N_("off shift"),
}


def _error(status: int, code: str) -> Response:
    message = i18n.translate(REFUSALS[code], g.get("lang", i18n.SOURCE_LANGUAGE))
    if _wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
    else:
        response = Response(render_template("supervisor/message.html", message=message), mimetype="text/html")
    response.status_code = status
    return response


# -- who is asking -------------------------------------------------------------------------------------------
def _current_supervisor() -> Supervisor | None:
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        logged_in_at = datetime.fromisoformat(data["at"])
        supervisor_id = int(data["id"])
    except (KeyError, TypeError, ValueError):
        return None
    if runtime().clock.now() - logged_in_at > SESSION_MAX_AGE:
        return None
    supervisor = get_supervisor(runtime().db, supervisor_id)
    # A changed password ends every session made with the old one; log-out and `ivr supervisor logout-all` bump
    # the version, which ends every session (cookies are signed, not stored: this is how one is revoked).
    if supervisor is None or data.get("pw") != password_fingerprint(supervisor.password_hash):
        return None
    if data.get("v") != supervisor.session_version:
        return None
    return supervisor


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    """Language, CSRF on every POST, and a logged-in supervisor for everything but the log-in page."""
    supervisor = None if request.endpoint in PUBLIC_ENDPOINTS else _current_supervisor()
    g.supervisor = supervisor
    preferred = supervisor.language if supervisor else None
    # The console speaks every language with a catalogue, whichever the centre's phone tree uses.
    g.lang = use_language(pick_language(request, i18n.languages(), preferred=preferred,
                                        default=runtime().centre.default_language))
    if request.endpoint == "supervisor.static":
        return None
    if request.method == "POST":
        token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
        if not csrf.is_valid(token):
            return _error(400, "csrf_failed")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if supervisor is None:
        if _wants_json():
            response = jsonify({"error": {"code": "unauthorized", "message": "Log in to the supervisor console."}})
            response.status_code = 401
            return response
        return redirect(url_for("supervisor.login", next=request.full_path.rstrip("?")))
    return None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse the read-only viewer role (403)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.supervisor is None or g.supervisor.role != ADMIN:
            return _error(403, "forbidden")
        return view(*args, **kwargs)

    return wrapper


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "supervisor.static":
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    return response


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    lang = g.get("lang", "en")
    zone = runtime().centre.zone
    return {
        "dir": i18n.direction(lang),
        "fmt_dt": lambda value, with_date=True: i18n.local_datetime(value, lang, zone, with_date=with_date),
        "fmt_date": lambda value: i18n.local_date(value, lang),
        "fmt_num": lambda value, digits=0: i18n.number(value, lang, digits),
        "fmt_pct": lambda value: i18n.percent(value, lang),
        "fmt_dur": lambda value: i18n.duration(value, lang),
        "status_label": lambda value: i18n.status_label(value, lang),
        "alert_label": lambda value: i18n.alert_label(value, lang),
        "queue_label": lambda value: i18n.queue_name(runtime().centre, value, lang),
        "csrf_token": csrf.generate_csrf,
        "supervisor": g.get("supervisor"),
        "is_admin": g.get("supervisor") is not None and g.supervisor.role == ADMIN,
        "centre_name": runtime().centre.name,
        # The switch: this page in each other language the console speaks, named in that language.
        "console_languages": [(code, i18n.language_name(code), _lang_url(code)) for code in i18n.languages()
                            if code != lang],
    }


def _lang_url(language: str) -> str:
    """This page in another language (the switch keeps the filters)."""
    args = request.args.to_dict()
    args["lang"] = language
    return request.path + "?" + urlencode(args)


# -- log in and out ------------------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    """Only our own console pages: never an open redirect to another site."""
    default = url_for("supervisor.board")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/supervisor/") or target.startswith("//"):
        return default
    return target


def _login_rate() -> str:
    return current_app.config.get("SUPERVISOR_LOGIN_RATE", "20 per minute")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate, methods=["POST"])
def login() -> ResponseReturnValue:
    """The log-in form; five wrong passwords in a row lock the account for 15 minutes."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if _current_supervisor() is not None:
            return redirect(next_url)
        return render_template("supervisor/login.html", next_url=next_url, error=None, email="")
    rt = runtime()
    email = request.form.get("email", "")[:254]
    now = rt.clock.now()
    result = authenticate(rt.db, email, request.form.get("password", "")[:1024], now, address=client_key())
    if result.supervisor is None:
        if result.retry_at is not None:
            error = i18n.translate("The e-mail or password is wrong, too many times from here. Try again after "
                                   "{time}.", g.lang,
                                   time=i18n.local_datetime(result.retry_at, g.lang, rt.centre.zone))
        else:
            error = i18n.translate("The e-mail or password is wrong.", g.lang)
        return render_template("supervisor/login.html", next_url=next_url, error=error, email=email), 401
    # A fresh session: nothing from before the log-in survives it (session fixation).
    session.clear()
    session[SESSION_KEY] = {
        "id": result.supervisor.id,
        "at": now.isoformat(),
        "pw": password_fingerprint(result.supervisor.password_hash),
        "v": result.supervisor.session_version,
    }
    session.permanent = True
    return redirect(next_url)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    supervisor = g.get("supervisor")
    if supervisor is not None:
        # The cookie is only signed: clearing it here does nothing to a copy of it. Bumping the version does.
        end_sessions_of(runtime().db, supervisor.id, supervisor.session_version)
    session.clear()
    return redirect(url_for("supervisor.login"))


# -- the live board ------------------------------------------------------------------------------------------
@bp.get("/")
def board() -> str:
    return render_template(
        "supervisor/board.html",
        board_json=_board_json(),
        strings=_board_strings(),
        poll_ms=current_app.config.get("SUPERVISOR_POLL_SECONDS", POLL_SECONDS) * 1000,
    )


@bp.get("/board.json")
def board_json() -> Response:
    return jsonify(_board_json())


def _board_json() -> dict[str, Any]:
    rt = runtime()
    lang, zone = g.lang, rt.centre.zone
    now = rt.clock.now()
    snapshot = board_data.board(rt.db, now, centre=rt.centre)
    admin = g.supervisor.role == ADMIN

    def when(value: datetime | None, with_date: bool = False) -> str:
        return i18n.local_datetime(value, lang, zone, with_date=with_date)

    today = now.astimezone(zone).date()
    return {
        "now": iso(now),
        "csrf_token": csrf.generate_csrf(),
        "can_change": admin,
        "open_total": snapshot.open_total,
        "at_risk_total": snapshot.at_risk_total,
        "callbacks": [
            {
                "id": c.callback.public_id,
                "reference": c.callback.reference,
                "queue": i18n.queue_name(rt.centre, c.callback.queue, lang),
                "phone": mask(c.callback.phone),
                "name": c.callback.name,
                "status": c.callback.status,
                "status_label": i18n.status_label(c.callback.status, lang),
                "requested_at": iso(c.callback.requested_at),
                "deadline_at": iso(c.callback.deadline_at),
                "deadline_local": when(
                    c.callback.deadline_at, with_date=c.callback.deadline_at.astimezone(zone).date() != today
                ),
                "seconds_left": c.seconds_left(now),
                "attempts_made": c.callback.attempts_made,
                "at_risk": c.callback.at_risk_since is not None,
                "at_risk_reason": c.callback.at_risk_reason,
                "url": url_for("supervisor.callback_history", public_id=c.callback.public_id),
            }
            for c in snapshot.callbacks
        ],
        "calls": [
            {
                "kind": call.kind,
                "kind_label": i18n.translate(CALL_KINDS[call.kind], lang) if call.kind in CALL_KINDS else call.kind,
                "who": call.who,
                "where": call.where,
                "agent": call.agent,
                "state": call.state,
                "since_seconds": (now - call.started_at).total_seconds(),
                "url": url_for("supervisor.callback_history", public_id=call.callback_public_id)
                if call.callback_public_id
                else None,
            }
            for call in snapshot.calls
        ],
        "agents": [
            {
                "id": a.agent.id,
                "name": a.agent.name,
                "state": a.state,
                "state_label": i18n.translate(AGENT_STATES[a.state], lang) if a.state in AGENT_STATES else a.state,
                "since_local": when(
                    a.since, with_date=a.since is not None and a.since.astimezone(zone).date() != today
                ),
                "on_shift": a.agent.on_shift,
                "shift_url": url_for("supervisor.agent_shift", agent_id=a.agent.id),
            }
            for a in snapshot.agents
        ],
        "forecast": _forecast_json(now, lang, zone),
        "breaker": None if snapshot.breaker is None else {
            "open": snapshot.breaker.is_open,
            "dials_last_hour": snapshot.breaker.dials_last_hour,
            "cap": snapshot.breaker.cap,
            "text": i18n.translate(BREAKER_OPEN if snapshot.breaker.is_open else BREAKER_CLOSED, lang,
                                   count=snapshot.breaker.dials_last_hour, cap=snapshot.breaker.cap),
        },
        "alerts": [
            {
                "id": a.alert.id,
                "kind": a.alert.kind,
                "kind_label": i18n.alert_label(a.alert.kind, lang),
                "reason": a.alert.reason,
                "created_local": when(a.alert.created_at, with_date=True),
                "reference": a.callback_reference,
                "url": url_for("supervisor.callback_history", public_id=a.callback_public_id)
                if a.callback_public_id
                else None,
                "ack_url": url_for("supervisor.acknowledge_alert", alert_id=a.alert.id),
            }
            for a in snapshot.alerts
        ],
    }


# The board polls every few seconds; the forecast (with its staffing search) is read again at most this often.
FORECAST_TTL = timedelta(seconds=30)


def _outlook(now: datetime) -> capacity.Outlook:
    rt = runtime()
    cache = current_app.extensions.setdefault("ivr.outlook", {})
    held = cache.get("value")
    if held is None or not held.now <= now < held.now + FORECAST_TTL:
        stats = cache.setdefault("stats", capacity.StatsCache())
        held = cache["value"] = capacity.outlook(rt.db, rt.centre, now, stats)
    return held


def _forecast_json(now: datetime, lang: str, zone: Any) -> dict[str, Any]:
    """Each queue's quote now against its SLA, the misses forecast for the rest of the day, the agents needed."""
    rt = runtime()
    seen = _outlook(now)
    today = now.astimezone(zone).date()

    def when(value: datetime) -> str:
        return i18n.local_datetime(value, lang, zone, with_date=value.astimezone(zone).date() != today)

    advice = seen.advice
    if advice is None:
        advice_text = ""
    elif advice.agents and advice.until is not None:
        advice_text = i18n.translate("{agents} more agents until {time} would keep every promise.", lang,
                                     agents=advice.agents,
                                     time=i18n.local_datetime(advice.until, lang, zone, with_date=False))
    else:
        advice_text = i18n.translate("The agents on shift keep every promise.", lang) if not advice.hopeless else ""
    notes = []
    if advice is not None and advice.hopeless:
        notes.append(i18n.translate("{count} promises cannot be kept whatever the staffing.", lang,
                                    count=advice.hopeless))
    if advice is not None and advice.late_quotes >= 1:
        notes.append(i18n.translate(
            "With the agents on shift, about {count} requests expected today would be promised later than the SLA.",
            lang, count=round(advice.late_quotes)))
    return {
        "queues": [
            {
                "queue": q.queue,
                "name": i18n.queue_name(rt.centre, q.queue, lang),
                "quote_local": when(q.quote.deadline),
                "sla_local": when(q.quote.sla_deadline),
                "source": q.quote.source,
                "source_label": i18n.translate("overloaded", lang) if q.quote.overloaded else (
                    i18n.translate("at the SLA", lang) if q.quote.source == "sla" else ""),
                "beyond_seconds": q.quote.beyond_sla.total_seconds(),
                "beyond": i18n.duration(q.quote.beyond_sla.total_seconds(), lang) if q.quote.beyond_sla else "",
                "misses_today": q.misses_today,
                "why": q.quote.why,
            }
            for q in seen.queues
        ],
        "advice": advice_text,
        "advice_agents": advice.agents if advice is not None else 0,
        "advice_until": iso(advice.until) if advice is not None and advice.until else None,
        "misses_today": advice.misses if advice is not None else sum(q.misses_today for q in seen.queues),
        "notes": notes,
    }


# The words the board's script shows, by the names it knows them by.
BOARD_SCRIPT_WORDS = {
    "none_waiting": i18n.N_("Nobody is waiting for a callback."),
    "no_calls": i18n.N_("No calls right now."),
    "no_agents": i18n.N_("No agents yet. Add one with: ivr agent add NAME PHONE"),
    "no_alerts": i18n.N_("No open alerts."),
    "overdue": i18n.N_("overdue"),
    "put_on_shift": i18n.N_("Put on shift"),
    "take_off_shift": i18n.N_("Take off shift"),
    "acknowledge": i18n.N_("Acknowledge"),
    "updated": i18n.N_("Updated"),
    "update_failed": i18n.N_("Cannot reach the server; retrying…"),
    "at_risk": i18n.N_("At risk"),
    "shown_of": i18n.N_("{shown} of {total} shown"),
    "forecast": i18n.N_("Promises and capacity"),
    "quote_now": i18n.N_("Promised now"),
    "sla_now": i18n.N_("SLA"),
    "beyond_sla": i18n.N_("Beyond the SLA"),
    "misses_today": i18n.N_("Forecast misses today"),
}


def _board_strings() -> dict[str, str]:
    return i18n.strings(g.lang, BOARD_SCRIPT_WORDS)


@bp.post("/agents/<int:agent_id>/shift")
@admin_required
def agent_shift(agent_id: int) -> ResponseReturnValue:
    """Put an agent on (on=1) or off (on=0) shift."""
    on = (request.form.get("on") or (request.get_json(silent=True) or {}).get("on") or "") in ("1", "true", True, 1)
    agent = board_data.set_agent_shift(runtime().db, agent_id, on, runtime().clock.now())
    if _wants_json() or request.headers.get("X-CSRFToken"):
        return jsonify({"id": agent.id, "name": agent.name, "on_shift": agent.on_shift})
    return redirect(url_for("supervisor.board"))


@bp.post("/alerts/<int:alert_id>/ack")
@admin_required
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    changed = board_data.acknowledge_alert(runtime().db, alert_id, g.supervisor.email, runtime().clock.now())
    if _wants_json() or request.headers.get("X-CSRFToken"):
        return jsonify({"id": alert_id, "acknowledged": True, "changed": changed})
    return redirect(url_for("supervisor.board"))


# -- do not call --------------------------------------------------------------------------------------------
DNC_FLASHES = {
    "dnc_added_now": i18n.N_("{phone} will never be called."),
    "dnc_removed_now": i18n.N_("{phone} was taken off the list."),
}
DNC_SOURCES = {
    "keypress": i18n.N_("the owner pressed the opt-out key"),
    "supervisor": i18n.N_("a supervisor"),
    "cli": i18n.N_("the command line"),
}
BREAKER_OPEN = i18n.N_("Dialling is paused: {count} calls started in the last hour reached the cap of {cap}. It "
                       "resumes by itself when the hour's count falls.")
BREAKER_CLOSED = i18n.N_("Calls in the last hour: {count} of {cap}.")


@bp.get("/dnc")
def dnc_page() -> str:
    """The do-not-call list (admins see full numbers and may add or remove; viewers see masked numbers)."""
    rt = runtime()
    admin = g.supervisor.role == ADMIN
    with rt.db.session() as session:
        entries = [{"phone": e.phone, "shown": e.phone if admin else mask(e.phone), "added_at": e.added_at,
                    "source": i18n.translate(DNC_SOURCES[e.source], g.get("lang", "en"))
                    if e.source in DNC_SOURCES else e.source, "reason": e.reason} for e in guard.list_dnc(session)]
    flashed = [str(m) for m in get_flashed_messages()]
    messages = [i18n.translate(DNC_FLASHES[key], g.get("lang", "en"), phone=mask(phone)) for key, phone in
                (m.split("|", 1) for m in flashed if "|" in m) if key in DNC_FLASHES]
    return render_template("supervisor/dnc.html", entries=entries, messages=messages)


@bp.post("/dnc")
@admin_required
def dnc_add() -> ResponseReturnValue:
    rt = runtime()
    try:
        phone = normalise(request.form.get("phone") or "", rt.centre.phone_numbers)
    except PhoneNumberRejected as exc:
        return _render_error(400, i18n.translate("That is not a number we could call: {why}", g.get("lang", "en"),
                                                   why=exc.message))
    with rt.db.session() as session:
        guard.never_call(session, rt.centre, phone, rt.clock.now(), source="supervisor", actor=g.supervisor.email,
                         reason=(request.form.get("reason") or "").strip()[:300] or None)
    flash(f"dnc_added_now|{phone}")
    return redirect(url_for("supervisor.dnc_page"), code=303)


@bp.post("/dnc/remove")
@admin_required
def dnc_remove() -> ResponseReturnValue:
    rt = runtime()
    phone = (request.form.get("phone") or "")[:20]
    with rt.db.session() as session:
        if guard.remove_from_dnc(session, phone):
            flash(f"dnc_removed_now|{phone}")
    return redirect(url_for("supervisor.dnc_page"), code=303)


def _render_error(status: int, message: str) -> Response:
    return Response(render_template("supervisor/message.html", message=message), status=status)


# -- reports -------------------------------------------------------------------------------------------------
@dataclass
class ReportFilter:
    """Dates are local calendar days in the centre's timezone; `until_day` is included."""

    since_day: date
    until_day: date
    queue: str | None
    reason: str | None
    errors: list[str]
    # The query parameters at fault (the first is named in a JSON or CSV refusal).
    fields: list[str] = field(default_factory=list)

    def bounds(self) -> tuple[datetime, datetime]:
        zone = runtime().centre.zone
        start, _ = reports.local_day_bounds(self.since_day, zone)
        _, end = reports.local_day_bounds(self.until_day, zone)
        return start, end

    def query_args(self) -> dict[str, Any]:  # Any: url_for's **values would otherwise meet its typed flags
        args = {"since": self.since_day.isoformat(), "until": self.until_day.isoformat()}
        if self.queue:
            args["queue"] = self.queue
        if self.reason:
            args["reason"] = self.reason
        return args


def _report_filter(default_days: int) -> ReportFilter:
    rt = runtime()
    today = rt.clock.now().astimezone(rt.centre.zone).date()
    errors: list[str] = []
    fields: list[str] = []

    def day(name: str, fallback: date) -> date:
        try:
            found = i18n.parse_date(request.args.get(name)) or fallback
        except ValueError as exc:
            errors.append(f"{name}: {exc}")
            fields.append(name)
            return fallback
        if not REPORT_EARLIEST <= found <= REPORT_LATEST:
            # A day's bounds in the centre's zone, converted to UTC, overflow at the ends of the calendar.
            errors.append(i18n.translate("{name}: {day} is not between {first} and {last}.", g.get("lang", "en"),
                                         name=name, day=found.isoformat(), first=REPORT_EARLIEST.year,
                                         last=REPORT_LATEST.year))
            fields.append(name)
            return fallback
        return found

    since_day = day("since", today - timedelta(days=default_days - 1))
    until_day = day("until", today)
    if until_day < since_day:
        since_day, until_day = until_day, since_day
    queue = request.args.get("queue") or None
    if queue is not None and queue not in rt.centre.queues:
        errors.append(f"queue: unknown queue {queue!r}")
        fields.append("queue")
        queue = None
    reason = (request.args.get("reason") or "").strip()[:200] or None
    return ReportFilter(since_day, until_day, queue, reason, errors, fields)


def _refuse_filter(flt: ReportFilter) -> Response:
    """A CSV or JSON report asked with a filter we cannot read: 400 naming the parameter (never a guess)."""
    response = jsonify({"error": {"code": "invalid_filter", "message": "; ".join(flt.errors), "field": flt.fields[0]}})
    response.status_code = 400
    return response


def _filter_form(flt: ReportFilter) -> dict[str, Any]:
    return {
        "since_value": i18n.date_input_value(flt.since_day, g.lang),
        "until_value": i18n.date_input_value(flt.until_day, g.lang),
        "queues": [(q, i18n.queue_name(runtime().centre, q, g.lang)) for q in runtime().centre.queues],
        "flt": flt,
    }


@bp.get("/reports/missed")
def missed_report() -> tuple[str, int]:
    flt = _report_filter(DEFAULT_REPORT_DAYS)
    since, until = flt.bounds()
    db = runtime().db
    rows = list(
        reports.missed_rows(db, since=since, until=until, queue=flt.queue, reason=flt.reason, limit=REPORT_PAGE_ROWS)
    )
    for row in rows:
        for name in ("deadline_at", "missed_at", "requested_at"):
            row[name + "_dt"] = datetime.fromisoformat(row[name].replace("Z", "+00:00")) if row[name] else None
    total = reports.missed_count(db, since=since, until=until, queue=flt.queue, reason=flt.reason)
    all_reasons = reports.missed_by_reason(db, since=since, until=until, queue=flt.queue)
    by_reason = (
        reports.missed_by_reason(db, since=since, until=until, queue=flt.queue, reason=flt.reason)
        if flt.reason
        else all_reasons
    )
    return render_template(
        "supervisor/missed.html",
        rows=rows,
        total=total,
        by_reason=by_reason,
        reason_choices=[r for r, _ in all_reasons if r],
        csv_url=url_for("supervisor.missed_csv", **flt.query_args()),
        **_filter_form(flt),
    ), (400 if flt.errors else 200)


def _csv_safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(rows: Iterator[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text in chunks of a few hundred rows, header first: memory stays at one chunk."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    pending = 0
    for row in rows:
        writer.writerow({**row, "reason": _csv_safe(row.get("reason"))})
        pending += 1
        if pending >= _CSV_FLUSH_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


@bp.get("/reports/missed.csv")
def missed_csv() -> Response:
    """The filtered report as a CSV download, streamed batch by batch (never loaded whole)."""
    flt = _report_filter(DEFAULT_REPORT_DAYS)
    if flt.errors:
        return _refuse_filter(flt)
    since, until = flt.bounds()
    rows = reports.missed_rows(runtime().db, since=since, until=until, queue=flt.queue, reason=flt.reason)
    filename = f"missed-callbacks-{flt.since_day.isoformat()}-{flt.until_day.isoformat()}.csv"
    response = Response(stream_with_context(csv_lines(rows, reports.MISSED_COLUMNS)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/callbacks/<public_id>")
def callback_history(public_id: str) -> str:
    history = reports.callback_history(runtime().db, public_id[:64])
    if history is None:
        abort(404)
    phone = history.callback.phone if g.supervisor.role == ADMIN else mask(history.callback.phone)
    return render_template("supervisor/history.html", h=history, c=history.callback, phone=phone)


@bp.get("/callbacks/<public_id>.json")
def callback_history_json(public_id: str) -> Response:
    history = reports.callback_history(runtime().db, public_id[:64])
    if history is None:
        return _error(404, "no_data")
    body = reports.history_json(history)
    if g.supervisor.role != ADMIN:
        body["callback"]["phone"] = mask(history.callback.phone)
    return jsonify(body)


@bp.get("/reports/sla")
def sla_report() -> tuple[str, int]:
    flt = _report_filter(DEFAULT_SLA_DAYS)
    since, until = flt.bounds()
    rt = runtime()
    figures = sla.sla_figures(rt.db, rt.centre.zone, since, until, flt.queue)
    funnel = sla.phone_tree_funnel(rt.db, since, until)
    return render_template(
        "supervisor/sla.html",
        figures=figures,
        funnel=funnel,
        kept_chart=_kept_chart(figures),
        funnel_chart=_funnel_chart(funnel),
        json_url=url_for("supervisor.sla_json", **flt.query_args()),
        **_filter_form(flt),
    ), (400 if flt.errors else 200)


@bp.get("/reports/sla.json")
def sla_json() -> Response:
    flt = _report_filter(DEFAULT_SLA_DAYS)
    if flt.errors:
        return _refuse_filter(flt)
    since, until = flt.bounds()
    rt = runtime()
    return jsonify(
        {
            "since": iso(ensure_utc(since)),
            "until": iso(ensure_utc(until)),
            "callbacks": sla.sla_figures(rt.db, rt.centre.zone, since, until, flt.queue).as_json(),
            "phone_tree": sla.phone_tree_funnel(rt.db, since, until).as_json(),
        }
    )


def _kept_chart(figures: sla.SlaReport) -> Markup:
    lang = g.lang
    kept, unreachable, missed = (i18n.translate(text, lang) for text in ("Kept", "Unreachable", "Missed"))
    columns = []
    for day in figures.by_day:
        label = i18n.local_date(day.day, lang)[-5:]
        columns.append(
            Column(
                label=label,
                title=f"{i18n.local_date(day.day, lang)}: {i18n.percent(day.kept_share, lang)}",
                segments=(
                    Segment(day.completed, "kept", f"{kept}: {i18n.number(day.completed, lang)}"),
                    Segment(
                        day.unreachable,
                        "unreachable",
                        f"{unreachable}: {i18n.number(day.unreachable, lang)}",
                    ),
                    Segment(day.missed, "missed", f"{missed}: {i18n.number(day.missed, lang)}"),
                ),
            )
        )
    return stacked_columns(columns, label=i18n.translate("Share kept per day", lang))


def _funnel_chart(funnel: sla.Funnel) -> Markup:
    lang = g.lang
    if not funnel.calls:
        return Markup("")
    bars = [
        Bar(i18n.translate("Calls", lang), funnel.calls, "calls", i18n.number(funnel.calls, lang)),
        Bar(
            i18n.translate("Reached a person", lang),
            funnel.reached_person,
            "kept",
            i18n.percent(funnel.share(funnel.reached_person), lang),
        ),
        Bar(
            i18n.translate("Left a callback request", lang),
            funnel.left_callback,
            "unreachable",
            i18n.percent(funnel.share(funnel.left_callback), lang),
        ),
        Bar(
            i18n.translate("Left without help", lang),
            funnel.left_without_help,
            "missed",
            i18n.percent(funnel.share(funnel.left_without_help), lang),
        ),
    ]
    return horizontal_bars(bars, label=i18n.translate("Phone tree", lang))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
