"""The one way callbacks are requested, read and canceled, whatever the channel."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from callbacks.apikeys import ApiKeyRevoked
from callbacks.attempts import close_callback
from callbacks.businesstime import BusinessCalendar
from callbacks.capacity import (
    Background,
    BacklogCache,
    LiveState,
    Since,
    StatsCache,
    live_state_columns,
    live_state_of,
    live_state_params,
    note_quote,
    quote_from,
    since_columns,
)
from callbacks.clock import Clock, ensure_utc
from callbacks.db import Database, DatabaseUnavailable
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.forecast import Quote
from callbacks.guard import OptedOut, opted_out_clause
from callbacks.history import insert_new_callback
from callbacks.logs import current_request_id
from callbacks.models import (
    CALLBACK_IS_OPEN,
    CANCELED,
    OPEN_STATUSES,
    PENDING,
    Alert,
    ApiKey,
    Callback,
    CallbackEvent,
)
from callbacks.phones import PhoneNumberRejected, mask, normalise
from callbacks.policy import Promise, WindowUnavailable, promise_for, queue_deadline
from callbacks.sms import promise_message
from config.schema import ContactCentre, PhonePolicy

CHANNELS = ("phone", "web", "api", "supervisor")
MAX_NAME = 120
MAX_NOTE = 1000
MAX_QUEUE_WAIT = timedelta(hours=6)
# A request taken while the database was down (the local spool) may be recorded this much later, no more:
# anything older or in the future is a wrong clock or a corrupt file, not a caller.
MAX_RECORDED_LATE = timedelta(days=7)
_CLOCK_SKEW = timedelta(minutes=1)
_ACCEPTED_NUMBERS = 512
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_reference() -> str:
    """A short code customers can read out: no 0/O, 1/I/L."""
    # One draw for all eight characters (its base-31 digits), not one each: as uniform, an eighth of the calls.
    draw = secrets.randbelow(len(_REFERENCE_ALPHABET) ** 8)
    chars = []
    for _ in range(8):
        draw, digit = divmod(draw, len(_REFERENCE_ALPHABET))
        chars.append(_REFERENCE_ALPHABET[digit])
    return f"{''.join(chars[:4])}-{''.join(chars[4:])}"


@dataclass
class RequestResult:
    """A stored callback; `created` is False when an open request for the same number and queue was returned."""

    callback: Callback
    created: bool
    # The secret for the customer's status link; only known at creation (only its hash is stored).
    status_token: str | None = None


def promise_start(taken_at: datetime, arrived_at: datetime | None) -> datetime:
    """When a request's promise counts from: a recent arrival in the phone queue (keeps the caller's place),
    else the moment the request was taken."""
    if arrived_at is not None and taken_at - MAX_QUEUE_WAIT <= arrived_at <= taken_at:
        return arrived_at
    return taken_at


def _db_guard(exc: Exception) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"the database did not answer: {type(exc).__name__}")


class CallbackService:
    """Request, read and cancel callbacks. Every method reads `now` once from the injected clock."""

    def __init__(self, db: Database, centre: ContactCentre, clock: Clock, *, background: Background | None = None):
        """`background`: runs the backlog's next reading off the request (see BacklogCache); None: inline."""
        self.db = db
        self.centre = centre
        self.clock = clock
        self.calendar = BusinessCalendar.for_centre(centre)
        self.stats = StatsCache()
        # Numbers in E.164 that validate_phone accepted (at most a few hundred), with the policy that accepted them.
        self._accepted: dict[str, PhonePolicy] = {}
        self.backlogs = BacklogCache(background=background, sessions=db.session if background else None)
        # What every request reads first, in one statement: whether its API key is still active, the do-not-call
        # list, the open request for the number and queue, and what the quote reads fresh: the live state and the
        # requests that came since the backlog's reading (built once; bound per request).
        live = live_state_columns()
        self._live_columns = slice(3, 3 + len(live))
        self._since_queues = tuple(centre.queues)
        self._request_reads = select(
            select(ApiKey.id).where(ApiKey.id == bindparam("api_key"), ApiKey.revoked_at.is_(None)).scalar_subquery(),
            opted_out_clause(bindparam("phone")),
            select(Callback.id).where(Callback.phone == bindparam("phone"), Callback.queue == bindparam("queue"),
                                      CALLBACK_IS_OPEN).limit(1).scalar_subquery(),
            *live, *since_columns(self._since_queues, db.dialect))

    # -- validation -------------------------------------------------------------------------------------------
    def validate_phone(self, raw: object) -> str:
        """The number in E.164, or InvalidRequest saying why it is refused."""
        # The API validates a number before counting it against its limit, then `request` validates it again: a
        # number this service accepted, given back in E.164, is accepted as it is (normalising is idempotent).
        policy = self.centre.phone_numbers
        if isinstance(raw, str) and self._accepted.get(raw) is policy:
            return raw
        try:
            e164 = normalise(raw, policy)
        except PhoneNumberRejected as exc:
            raise InvalidRequest(exc.code, exc.message, "phone") from None
        if len(self._accepted) >= _ACCEPTED_NUMBERS:
            self._accepted.clear()
        self._accepted[e164] = policy
        return e164

    def _validate(
        self,
        *,
        queue: str | None,
        language: str | None,
        name: str | None,
        note: str | None,
        channel: str,
    ) -> tuple[str, str, str | None, str | None]:
        queue_id = queue or self.centre.default_queue
        if not isinstance(queue_id, str) or queue_id not in self.centre.queues:
            raise InvalidRequest(
                "unknown_queue", f"Unknown queue {queue_id!r}; expected one of {sorted(self.centre.queues)}.", "queue"
            )
        lang = language or self.centre.default_language
        if not isinstance(lang, str) or lang not in self.centre.languages:
            raise InvalidRequest(
                "unknown_language", f"Unknown language {lang!r}; expected one of {self.centre.languages}.", "language"
            )
        if name is not None:
            if not isinstance(name, str):
                raise InvalidRequest("name_not_text", "The name must be text.", "name")
            name = " ".join(name.split()) or None
            if name and len(name) > MAX_NAME:
                raise InvalidRequest("name_too_long", f"The name is longer than {MAX_NAME} characters.", "name")
        if note is not None:
            if not isinstance(note, str):
                raise InvalidRequest("note_not_text", "The note must be text.", "note")
            note = note.strip() or None
            if note and len(note) > MAX_NOTE:
                raise InvalidRequest("note_too_long", f"The note is longer than {MAX_NOTE} characters.", "note")
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        return queue_id, lang, name, note

    # -- the promise --------------------------------------------------------------------------------------------
    def quote(self, queue: str | None = None) -> Quote:
        """What a request of `queue` placed now would be promised (the form shows it before submitting)."""
        queue_id = queue if queue in self.centre.queues else self.centre.default_queue
        now = self.clock.now()
        sla = queue_deadline(self.centre.queue(queue_id), now, self.calendar)
        try:
            with self.db.session() as session:
                return self._quote(session, queue_id, now, sla, now)
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc

    def quotes(self) -> dict[str, Quote]:
        """What a request placed now would be promised, for every queue (one reading of the store when every
        agent serves every queue)."""
        now = self.clock.now()
        out: dict[str, Quote] = {}
        try:
            with self.db.session() as session:
                stats = self.stats.get(session, self.centre, now)
                shared = None
                for queue_id, queue in self.centre.queues.items():
                    if shared is None or not shared.everyone:
                        shared = self.backlogs.read(session, self.centre, self.calendar, stats, now, queue_id)
                    sla = queue_deadline(queue, now, self.calendar)
                    out[queue_id] = quote_from(shared, self.centre, self.calendar, queue_id, now, sla)
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc
        return out

    def _quote(self, session: Session, queue_id: str, requested_at: datetime, deadline: datetime, now: datetime,
               window_start: datetime | None = None, live: LiveState | None = None,
               since: Since | None = None) -> Quote:
        stats = self.stats.get(session, self.centre, now)
        snapshot = self.backlogs.read(session, self.centre, self.calendar, stats, now, queue_id, live, since)
        return quote_from(snapshot, self.centre, self.calendar, queue_id, requested_at, deadline,
                          window_start=window_start, window=window_start is not None)

    def _promise(self, session: Session, queue_id: str, requested_at: datetime, promise: Promise,
                 window_end: datetime | None, now: datetime, recorded_late: bool, live: LiveState,
                 since: Since) -> Quote:
        """The deadline a new request gets: the SLA (or the customer's window) when the forecast keeps it, else an
        honest later time; a window the forecast cannot keep is refused with the earliest time we can."""
        sla = queue_deadline(self.centre.queue(queue_id), requested_at, self.calendar)
        if recorded_late:
            # The caller was already told the SLA's promise while the database was down: that is what we owe.
            return Quote(promise.deadline_at, sla, promise.deadline_from, None)
        if promise.deadline_from == "window":
            kept = self._quote(session, queue_id, requested_at, promise.deadline_at, now,
                               window_start=promise.first_attempt_at, live=live, since=since)
            if kept.source != "sla":
                self._window_unavailable(kept)
            return Quote(promise.deadline_at, sla, "window", kept.start)
        quote = self._quote(session, queue_id, requested_at, sla, now, live=live, since=since)
        if window_end is not None and quote.deadline > window_end:
            self._window_unavailable(quote)
        return quote

    def _window_unavailable(self, quote: Quote) -> None:
        raise WindowUnavailable(quote.deadline, self.centre.timezone)

    # -- commands ---------------------------------------------------------------------------------------------
    def request(
        self,
        *,
        phone: object,
        channel: str,
        actor: str,
        queue: str | None = None,
        language: str | None = None,
        name: str | None = None,
        note: str | None = None,
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        arrived_at: datetime | None = None,
        taken_at: datetime | None = None,
        api_key_id: int | None = None,
    ) -> RequestResult:
        """Validate and store a callback request, or return the open one for the same number and queue.

        `arrived_at` is when a caller who leaves the phone queue for a callback joined it: the promise and the
        dispatcher's ordering count from then, so leaving the queue keeps their place.
        `api_key_id`: the API key it comes through, read from a per-process cache by the caller; the key must still
        be active when this transaction reads (ApiKeyRevoked, nothing stored), so a revoked key stops at once.
        `taken_at` is set only for a request recorded late (taken while the database was down, replayed from the
        spool): the promise counts from then (or from a recent arrival before it), so the stored deadline is the
        one the caller was told; at most MAX_RECORDED_LATE ago. The history says it was recorded late.
        The row is committed before this returns: acknowledging a request means it is durable.
        """
        now = self.clock.now()
        taken = _taken_time(now, taken_at)
        # Only a recent arrival in the past keeps a place; anything else is a caller's clock or a bug.
        requested_at = promise_start(taken, ensure_utc(arrived_at) if arrived_at is not None else None)
        e164 = self.validate_phone(phone)
        queue_id, lang, name, note = self._validate(
            queue=queue, language=language, name=name, note=note, channel=channel
        )
        window_start, window_end = _aware("window_start", window_start), _aware("window_end", window_end)
        queue_cfg = self.centre.queue(queue_id)
        promise = promise_for(queue_cfg, requested_at, self.calendar, window_start, window_end)
        next_attempt_at = max(promise.first_attempt_at, now)

        token = secrets.token_urlsafe(24)
        try:
            # One transaction: the key, the do-not-call list, the open request for the number, the quote and the row.
            with self.db.session() as session:
                # One statement: the key, the do-not-call list, the open request, what the quote reads fresh.
                reading, since_params = self.backlogs.since_params(queue_id)
                values = session.execute(self._request_reads, {
                    "api_key": api_key_id, "phone": e164, "queue": queue_id, **live_state_params(now, queue_id),
                    **since_params}).one()
                active_key, opted_out, open_id = values[:3]
                if api_key_id is not None and active_key is None:
                    raise ApiKeyRevoked()
                # Before anything else is read or stored: a number that asked never to be called gets nothing.
                if opted_out:
                    raise OptedOut()
                if open_id is not None:
                    return RequestResult(session.get_one(Callback, open_id), created=False)
                live = live_state_of(values[self._live_columns])
                since = Since(reading, dict(zip(self._since_queues, values[self._live_columns.stop:], strict=True)))
                quote = self._promise(session, queue_id, requested_at, promise, window_end, now,
                                      recorded_late=taken_at is not None, live=live, since=since)
                reference = new_reference()
                row = {
                    "public_id": uuid.uuid4().hex,
                    "reference": reference,
                    "status_token_hash": token_hash(token),
                    "queue": queue_id,
                    "phone": e164,
                    "name": name,
                    "language": lang,
                    "note": note,
                    "channel": channel,
                    "status": PENDING,
                    "priority": queue_cfg.priority,
                    "requested_at": requested_at,
                    "window_start": window_start,
                    "window_end": window_end,
                    "deadline_at": quote.deadline,
                    "sla_deadline_at": quote.sla_deadline,
                    "deadline_from": quote.source,
                    "next_attempt_at": next_attempt_at,
                    "attempts_made": 0,
                    "version": 1,
                    "api_key_id": api_key_id,
                    # Set before the row is written (one INSERT, not an INSERT and an UPDATE).
                    "at_risk_since": now if quote.overloaded else None,
                    "at_risk_reason": _overloaded_reason(quote) if quote.overloaded else None,
                }
                event = {
                    "at": now,
                    "kind": "status",
                    "from_status": None,
                    "to_status": PENDING,
                    "actor": actor[:160],
                    "reason": f"requested by {channel}" + (", recorded late" if taken_at is not None else ""),
                    "details": _request_details(channel, e164, quote, requested_at, taken,
                                                recorded_late=taken_at is not None),
                }
                # The promise in writing goes in the same statement: no other transaction can have written one for a
                # callback this one is writing (so no savepoint to guard against it).
                text = promise_message(self.centre, phone=e164, language=lang, reference=reference,
                                       deadline_at=quote.deadline, overloaded=quote.source == "ceiling", token=token,
                                       now=now)
                callback = insert_new_callback(session, row, event, text)
                self._after_promise(session, callback, quote, now, flagged=live.over_sla_since is not None)
        except IntegrityError:
            # Another request for the same number and queue won the race (the partial unique index).
            existing = self._open_request(e164, queue_id)
            if existing is None:
                raise
            return RequestResult(existing, created=False)
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc
        return RequestResult(callback, created=True, status_token=token)

    def _after_promise(self, session: Session, callback: Callback, quote: Quote, now: datetime, *,
                       flagged: bool) -> None:
        """In the request's transaction: supervisors hear when quotes first exceed the SLA or a customer was told
        we are overloaded (that promise is at risk from the start). `flagged`: the queue's quotes were flagged as
        beyond its SLA when this request read (only a change is written)."""
        if quote.source in ("sla", "forecast", "ceiling") and (quote.source != "sla") != flagged:
            note_quote(session, self.centre, callback.queue, quote, now)
        if quote.overloaded:
            # Not `raise_alert`: its look for an earlier alert and its savepoint guard against another transaction's
            # alert for the same callback, and no other transaction can see a callback this one has just written.
            session.add(Alert(callback_id=callback.id, kind="overloaded", created_at=now,
                              reason=callback.at_risk_reason))

    def cancel(self, callback_id: str, *, actor: str, reason: str = "canceled by the customer") -> Callback:
        """Cancel an open callback; canceling a canceled one returns it unchanged; a finished one is a conflict."""
        for _ in range(5):
            now = self.clock.now()
            try:
                with self.db.session() as session:
                    callback = session.scalar(select(Callback).where(Callback.public_id == callback_id))
                    if callback is None:
                        raise NotFound("callback_not_found", "No callback with that id.", "id")
                    if callback.status == CANCELED:
                        return callback
                    if not callback.is_open:
                        raise Conflict(
                            "callback_closed", f"The callback is already {callback.status}; it cannot be canceled."
                        )
                    # The attempt in flight, if any, is settled with it: an agent still ringing is free at once.
                    if close_callback(session, self.centre, callback, CANCELED, now, actor=actor, reason=reason):
                        return callback
            except (OperationalError, InterfaceError) as exc:
                raise _db_guard(exc) from exc
        raise Conflict("callback_busy", "The callback is changing right now; try again.")

    # -- queries ----------------------------------------------------------------------------------------------
    def _open_request(self, e164: str, queue_id: str) -> Callback | None:
        try:
            with self.db.session() as session:
                return _open_request(session, e164, queue_id)
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc

    def open_request_for(self, phone: str, queue: str | None = None) -> Callback | None:
        """The open callback for an E.164 number in `queue` (default queue when None)."""
        return self._open_request(phone, queue or self.centre.default_queue)

    def get(self, callback_id: str) -> Callback:
        try:
            with self.db.session() as session:
                callback = session.scalar(select(Callback).where(Callback.public_id == callback_id))
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc
        if callback is None:
            raise NotFound("callback_not_found", "No callback with that id.", "id")
        return callback

    def get_by_token(self, token: str) -> Callback:
        """The callback a customer's status link points at."""
        if not token or len(token) > 100:
            raise NotFound("callback_not_found", "This link is not valid.")
        try:
            with self.db.session() as session:
                callback = session.scalar(select(Callback).where(Callback.status_token_hash == token_hash(token)))
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc
        if callback is None:
            raise NotFound("callback_not_found", "This link is not valid.")
        return callback

    def history(self, callback: Callback) -> list[CallbackEvent]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(CallbackEvent).where(CallbackEvent.callback_id == callback.id).order_by(CallbackEvent.id)
                )
            )

    def list(
        self,
        *,
        status: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        queue: str | None = None,
        limit: int = 100,
        after_id: int | None = None,
        api_key_id: int | None = None,
    ) -> list[Callback]:
        """Callbacks requested in [since, until), oldest first, keyset-paginated by internal id; only those
        requested with `api_key_id` when given."""
        query = select(Callback).order_by(Callback.id).limit(limit)
        if api_key_id is not None:
            query = query.where(Callback.api_key_id == api_key_id)
        if status:
            query = query.where(Callback.status.in_(status))
        if since:
            query = query.where(Callback.requested_at >= ensure_utc(since))
        if until:
            query = query.where(Callback.requested_at < ensure_utc(until))
        if queue:
            query = query.where(Callback.queue == queue)
        if after_id:
            query = query.where(Callback.id > after_id)
        try:
            with self.db.session() as session:
                return list(session.scalars(query))
        except (OperationalError, InterfaceError) as exc:
            raise _db_guard(exc) from exc

    def count_open(self) -> int:
        with self.db.session() as session:
            return session.scalar(  # a count is never NULL
                select(func.count()).select_from(Callback).where(Callback.status.in_(OPEN_STATUSES))) or 0


__all__ = ["CallbackService", "DBAPIError", "RequestResult", "promise_start"]


def _open_request(session: Session, e164: str, queue_id: str) -> Callback | None:
    return session.scalar(
        select(Callback).where(Callback.phone == e164, Callback.queue == queue_id, CALLBACK_IS_OPEN))


def _taken_time(now: datetime, taken_at: datetime | None) -> datetime:
    """When the request was taken: now, or for a request recorded late (from the spool) the time it was taken,
    at most MAX_RECORDED_LATE ago and never ahead of now."""
    if taken_at is None:
        return now
    if taken_at.tzinfo is None:
        raise InvalidRequest("naive_time", "Times need a timezone offset (e.g. +03:30 or Z).", "taken_at")
    taken = ensure_utc(taken_at)
    if not now - MAX_RECORDED_LATE <= taken <= now + _CLOCK_SKEW:
        raise InvalidRequest(
            "taken_at_out_of_range",
            f"A request can be recorded at most {MAX_RECORDED_LATE.days} days late, and not ahead of now.",
            "taken_at",
        )
    return min(taken, now)


def _aware(field: str, value: datetime | None) -> datetime | None:
    """A customer's window bound in UTC; a time without an offset is refused naming its field."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidRequest("naive_time", "Times need a timezone offset (e.g. +03:30 or Z).", field)
    return ensure_utc(value)


def _overloaded_reason(quote: Quote) -> str:
    return f"overloaded: the forecast is beyond the queue's ceiling ({quote.why})"[:300]


def _request_details(channel: str, e164: str, quote: Quote, requested_at: datetime, taken: datetime, *,
                     recorded_late: bool) -> dict[str, Any]:
    """What the first history row of a request records: channel, masked number, the promise and where it came
    from, and the web request's id (its log lines and the worker's share it)."""
    return {
        "channel": channel,
        **({"request_id": current_request_id()} if current_request_id() else {}),
        "phone": mask(e164),
        "deadline_from": quote.source,
        "deadline_at": quote.deadline.isoformat(),
        **({"sla_deadline_at": quote.sla_deadline.isoformat(), "forecast": quote.why}
           if quote.deadline != quote.sla_deadline else {}),
        **({"waiting_since": requested_at.isoformat()} if requested_at != taken else {}),
        **({"recorded_late": True, "taken_at": taken.isoformat()} if recorded_late else {}),
    }
