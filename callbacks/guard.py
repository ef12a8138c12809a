"""Nobody can turn the line against a stranger: the do-not-call list, one-time codes that prove a web request's
number, and the caps the worker checks before it dials.

- Do not call. A number's owner presses the opt-out key on one of our calls (`OPT_OUT_KEY`), or a supervisor adds
  it. Every channel refuses a request for it before storing (`refuse_if_opted_out`) and the worker checks it
  before dialling (`screen_due`): a callback found on the list is `canceled` with the reason, never dialled.
- Codes. A web request for a queue with `verify: sms` waits in `phone_verifications` until the code texted to the
  number is typed. Only an HMAC of the code (keyed with the app's secret) is stored; it expires, allows a few
  tries, is good once, and the number gets a few codes an hour. Every limit is a row in the database, changed by
  compare-and-swap, so it holds across web processes.
- Caps. At most `limits.calls_per_number_per_day` attempts to one number in any 24 hours: a callback that would
  exceed it is postponed until the oldest attempt leaves the window, and missed (supervisors alerted) when that
  is past its deadline. At most `limits.dials_per_hour` attempts in any hour across all workers: reaching it opens
  the spending breaker, which pauses dispatch until the hour's count falls and alerts supervisors once per trip.

Nothing here does I/O beyond the session it is given; every function takes `now`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BindParameter, CursorResult, Exists, Update, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.alerts import raise_alert
from callbacks.attempts import DueCallback
from callbacks.calls import CALLBACK_CLOSED
from callbacks.db import one_of
from callbacks.errors import CallbackError, Conflict
from callbacks.history import record_event, transition
from callbacks.models import (
    CANCELED,
    MISSED,
    OPEN_STATUSES,
    Attempt,
    Callback,
    DispatchState,
    DoNotCall,
    PhoneVerification,
)
from callbacks.phones import mask
from config.schema import ContactCentre

# The key a person presses on our call to never be called again (offered before the agent is bridged).
OPT_OUT_KEY = "9"
# The key an opted-out caller presses in the phone menu to be called again.
OPT_IN_KEY = "1"
OPTED_OUT = "opted_out"
DNC_REASON = "the number is on the do-not-call list"
OPTED_OUT_REASON = "the customer pressed the opt-out key: never call this number again"
BREAKER_ROW = "dial_breaker"
GUARD_ACTOR = "dial guard"
DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
DNC_SOURCES = ("keypress", "supervisor", "cli")


class OptedOut(Conflict):
    """The number asked never to be called by us: no request is stored for it."""

    def __init__(self) -> None:
        super().__init__("do_not_call", "This number asked never to be called by us; no callback can be requested "
                                        "for it. Its owner can opt back in through our phone menu.", "phone")


class VerificationRequired(CallbackError):
    """The queue proves numbers by SMS code, and this API key is not one that verified the number itself."""

    status = 403

    def __init__(self, queue: str):
        super().__init__("number_not_verified",
                         f"Queue {queue!r} needs proof that the customer owns the number: use the web form, or an "
                         f"API key created with --verifies-numbers (a partner that checked the number itself).",
                         "phone")


def needs_code(centre: ContactCentre, queue: str | None) -> bool:
    """Whether a request for `queue` (the default queue when None; unknown queues are the service's to refuse)
    must prove its number with a code."""
    queue_id = queue or centre.default_queue
    return queue_id in centre.queues and centre.queues[queue_id].verify == "sms"


class TooManyCodes(CallbackError):
    """The number had its codes for this hour."""

    status = 429

    def __init__(self, retry_after: int):
        super().__init__("too_many_codes", "Too many codes were sent to this number; please try again later.",
                         "phone")
        self.retry_after = retry_after


# -- do not call -------------------------------------------------------------------------------------------------
def is_opted_out(session: Session, phone: str) -> bool:
    return session.get(DoNotCall, phone) is not None


def opted_out_clause(phone: str | BindParameter[Any]) -> Exists:
    """True when `phone` (E.164) is on the do-not-call list, for a caller's own statement."""
    return select(DoNotCall.phone).where(DoNotCall.phone == phone).exists()


def refuse_if_opted_out(session: Session, phone: str) -> None:
    """Raise OptedOut when `phone` (E.164) is on the do-not-call list."""
    if is_opted_out(session, phone):
        raise OptedOut()


def add_to_dnc(session: Session, phone: str, now: datetime, *, source: str, actor: str,
               reason: str | None = None) -> bool:
    """Put `phone` on the list; False when it was already there (the first entry is kept)."""
    if source not in DNC_SOURCES:
        raise ValueError(f"unknown do-not-call source {source!r}")
    if is_opted_out(session, phone):
        return False
    try:
        with session.begin_nested():
            session.add(DoNotCall(phone=phone, added_at=now, source=source, actor=actor[:160], reason=reason))
    except IntegrityError:
        return False  # added by someone else at the same moment
    return True


def never_call(session: Session, centre: ContactCentre, phone: str, now: datetime, *, source: str, actor: str,
               reason: str | None = None) -> tuple[bool, int]:
    """List `phone` and cancel its open callbacks at once (an attempt in flight is settled as `close_callback`
    says). Returns (newly listed, callbacks canceled)."""
    from callbacks.attempts import close_callback

    added = add_to_dnc(session, phone, now, source=source, actor=actor, reason=reason)
    canceled = 0
    for callback in session.scalars(select(Callback).where(Callback.phone == phone,
                                                           Callback.status.in_(OPEN_STATUSES)).with_for_update()):
        canceled += close_callback(session, centre, callback, CANCELED, now, actor=actor, reason=DNC_REASON)
    return added, canceled


def remove_from_dnc(session: Session, phone: str) -> bool:
    """Take `phone` off the list (its owner opted back in, or a supervisor's mistake); False when absent."""
    entry = session.get(DoNotCall, phone)
    if entry is None:
        return False
    session.delete(entry)
    session.flush()
    return True


def list_dnc(session: Session, limit: int = 500) -> list[DoNotCall]:
    """The list, newest first."""
    return list(session.scalars(select(DoNotCall).order_by(DoNotCall.added_at.desc()).limit(limit)))


def count_dnc(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DoNotCall)) or 0)


# -- one-time codes ------------------------------------------------------------------------------------------------
def code_hash(secret: str, public_id: str, code: str) -> str:
    """HMAC-SHA256 of the code, keyed with the app's secret and bound to its verification (no rainbow table of
    six-digit codes helps against a stolen database without the secret)."""
    return hmac.new(secret.encode(), f"{public_id}:{code}".encode(), hashlib.sha256).hexdigest()


def new_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _lock_number(session: Session, phone: str) -> None:
    # Two web processes asking for codes for one number at once must not both pass the hourly count. SQLite's
    # BEGIN IMMEDIATE already serialises writers; PostgreSQL takes a transaction-scoped advisory lock per number.
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(phone.encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))


def start_verification(session: Session, centre: ContactCentre, secret: str, phone: str,
                       request: dict[str, Any], now: datetime) -> tuple[PhoneVerification, str]:
    """A new code for `phone` with the request it unlocks; returns the row and the code (to text, never store).

    Raises TooManyCodes when the number had `codes_per_number_per_hour` codes in the last hour.
    """
    policy = centre.verification
    _purge_old_codes(session, now)
    _lock_number(session, phone)
    recent = list(session.scalars(
        select(PhoneVerification.created_at).where(PhoneVerification.phone == phone,
                                                   PhoneVerification.created_at > now - HOUR)
        .order_by(PhoneVerification.created_at)))
    if len(recent) >= policy.codes_per_number_per_hour:
        free_at = recent[len(recent) - policy.codes_per_number_per_hour] + HOUR
        raise TooManyCodes(max(1, int((free_at - now).total_seconds()) + 1))
    public_id = uuid.uuid4().hex
    code = new_code(policy.code_length)
    row = PhoneVerification(public_id=public_id, phone=phone, code_hash=code_hash(secret, public_id, code),
                            created_at=now, expires_at=now + policy.code_ttl, tries=0, request=request)
    session.add(row)
    session.flush()
    return row, code


# Codes (and the requests waiting on them, with names and notes) are kept this long, then deleted.
KEEP_CODES = timedelta(days=1)


def _purge_old_codes(session: Session, now: datetime, batch: int = 100) -> None:
    """Delete a batch of codes older than KEEP_CODES (oldest first: ids grow with time), so that pending requests'
    personal data does not pile up; each new code request takes out a little of the rubbish."""
    old = select(PhoneVerification.id).where(PhoneVerification.created_at < now - KEEP_CODES) \
        .order_by(PhoneVerification.id).limit(batch)
    session.execute(delete(PhoneVerification).where(PhoneVerification.id.in_(old.scalar_subquery()))
                    .execution_options(synchronize_session=False))


def forget_verification(session: Session, public_id: str) -> None:
    """The code could not be sent: it does not count against the number's hourly codes."""
    session.execute(update(PhoneVerification).where(PhoneVerification.public_id == public_id)
                    .values(expires_at=PhoneVerification.created_at, used_at=PhoneVerification.created_at,
                            created_at=PhoneVerification.created_at - HOUR)
                    .execution_options(synchronize_session=False))


def _changed(session: Session, statement: Update) -> int:
    """Rows an UPDATE changed (the compare-and-swap's answer)."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


@dataclass(frozen=True)
class CodeCheck:
    """What typing a code achieved: `result` is ok, wrong, expired, used, spent (no tries left) or unknown."""

    result: str
    request: dict[str, Any] | None = None
    phone: str | None = None
    tries_left: int = 0

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def pending_verification(session: Session, public_id: str) -> PhoneVerification | None:
    if not public_id or len(public_id) > 32:
        return None
    return session.scalar(select(PhoneVerification).where(PhoneVerification.public_id == public_id))


def check_code(session: Session, centre: ContactCentre, secret: str, public_id: str, code: str,
               now: datetime) -> CodeCheck:
    """Spend one try on `code`; on the right code mark the verification used (once) and return its request.

    Every try is counted by compare-and-swap before the code is compared, so parallel guesses from several
    processes share the same `max_tries`. Commit the session whatever the result: a wrong try must stay counted.
    """
    row = pending_verification(session, public_id)
    if row is None:
        return CodeCheck("unknown")
    max_tries = centre.verification.max_tries

    def _why_not() -> CodeCheck:
        session.refresh(row)
        if row.used_at is not None:
            return CodeCheck("used", phone=row.phone)
        if row.expires_at <= now:
            return CodeCheck("expired", phone=row.phone)
        return CodeCheck("spent", phone=row.phone)

    counted = _changed(session,
        update(PhoneVerification)
        .where(PhoneVerification.id == row.id, PhoneVerification.used_at.is_(None),
               PhoneVerification.expires_at > now, PhoneVerification.tries < max_tries)
        .values(tries=PhoneVerification.tries + 1)
        .execution_options(synchronize_session=False))
    if counted != 1:
        return _why_not()
    session.refresh(row)
    typed = "".join(ch for ch in code if ch.isdigit())[:20]
    if not hmac.compare_digest(code_hash(secret, row.public_id, typed), row.code_hash):
        left = max(0, max_tries - row.tries)
        return CodeCheck("wrong" if left else "spent", phone=row.phone, tries_left=left)
    won = _changed(session,
        update(PhoneVerification).where(PhoneVerification.id == row.id, PhoneVerification.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if won != 1:
        return CodeCheck("used", phone=row.phone)
    return CodeCheck("ok", request=dict(row.request), phone=row.phone)


# -- dial-time checks ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Breaker:
    """The spending breaker as the board and metrics show it."""

    cap: int
    dials_last_hour: int
    open_since: datetime | None

    @property
    def is_open(self) -> bool:
        return self.open_since is not None


def dials_in_last_hour(session: Session, now: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(Attempt).where(Attempt.created_at > now - HOUR)) or 0)


def breaker_state(session: Session, centre: ContactCentre, now: datetime) -> Breaker:
    row = session.get(DispatchState, BREAKER_ROW)
    return Breaker(centre.limits.dials_per_hour, dials_in_last_hour(session, now), row.at if row else None)


def _lock_breaker_row(session: Session) -> DispatchState:
    # Locked (PostgreSQL) or under BEGIN IMMEDIATE (SQLite): the claims of two workers count the hour one after
    # the other, so together they never start more than the cap.
    query = select(DispatchState).where(DispatchState.name == BREAKER_ROW).with_for_update()
    row = session.scalar(query)
    if row is None:
        try:
            with session.begin_nested():
                session.add(DispatchState(name=BREAKER_ROW, at=None))
        except IntegrityError:
            pass
        row = session.scalar(query)
    assert row is not None
    return row


def dial_budget(session: Session, centre: ContactCentre, now: datetime) -> int | None:
    """Attempts that may still start this hour (None: no cap). Opens the breaker (one alert per trip) at 0 and
    closes it when the hour's count has fallen below the cap."""
    cap = centre.limits.dials_per_hour
    if cap == 0:
        return None
    row = _lock_breaker_row(session)
    left = cap - dials_in_last_hour(session, now)
    if left <= 0 and row.at is None:
        row.at = now
        raise_alert(session, None, "dial_breaker", now,
                    f"spending breaker open: {cap} callback attempts started in the last hour (limits.dials_per_hour);"
                    f" dispatch is paused until the hour's count falls below it")
    elif left > 0 and row.at is not None:
        row.at = None
    return max(0, left)


def _capped_until(times: list[datetime], cap: int) -> datetime:
    """When one more attempt fits under the cap again, given the attempts' times in the window (ascending)."""
    return times[len(times) - cap] + DAY


def screen_due(session: Session, centre: ContactCentre, due: list[DueCallback], now: datetime) -> list[DueCallback]:
    """The due callbacks (locked by the caller, in dispatch order) that may be dialled now.

    A number on the do-not-call list: the callback is canceled with the reason. A number at its daily cap: the
    callback waits until an attempt leaves the 24-hour window, or is missed (alerted) when that is too late for
    its deadline. The spending breaker open: nothing is dialled (the callbacks stay pending, untouched).
    """
    if not due:
        return []
    budget = dial_budget(session, centre, now)
    if budget == 0:
        return []
    dialect = session.get_bind().dialect.name
    phones = sorted({cb.phone for cb in due})
    conn = session.connection()  # rows of columns: read through Core (a claim screens every batch)
    blocked = set(conn.scalars(select(DoNotCall.phone).where(one_of(DoNotCall.phone, phones, dialect))))
    recent: dict[str, list[datetime]] = defaultdict(list)
    for phone, at in conn.execute(
            select(Callback.phone, Attempt.created_at).join(Attempt, Attempt.callback_id == Callback.id)
            .where(one_of(Callback.phone, phones, dialect), Attempt.created_at > now - DAY)
            .order_by(Attempt.created_at)):
        recent[phone].append(at)
    cap = centre.limits.calls_per_number_per_day
    allowed: list[DueCallback] = []
    for callback in due:
        if callback.phone in blocked:
            transition(session, _row(session, callback.id), CANCELED, now=now, actor=GUARD_ACTOR, reason=DNC_REASON,
                       details={"phone": mask(callback.phone), "not_dialed": True})
            continue
        times = recent[callback.phone]
        if len(times) >= cap:
            _hold_for_cap(session, centre, _row(session, callback.id), _capped_until(times, cap), cap, now)
            continue
        if budget is not None and len(allowed) >= budget:
            break
        times.append(now)  # a second callback of the same number in this batch counts this one
        allowed.append(callback)
    return allowed


def _row(session: Session, callback_id: int) -> Callback:
    """The whole callback a claim read a few columns of (and locked): to change it through the usual paths."""
    callback = session.get(Callback, callback_id)
    assert callback is not None  # locked by the caller
    return callback


def _hold_for_cap(session: Session, centre: ContactCentre, callback: Callback, free_at: datetime, cap: int,
                  now: datetime) -> None:
    queue = centre.queue(callback.queue)
    reason = f"daily cap: {cap} calls to this number in 24 hours (limits.calls_per_number_per_day)"
    if free_at + queue.retry.attempt_duration > callback.deadline_at:
        missed = f"missed: {reason}; the next allowed call is after the deadline"
        if transition(session, callback, MISSED, now=now, actor=GUARD_ACTOR, reason=missed,
                      details={"next_allowed_at": free_at.isoformat()}):
            raise_alert(session, callback, "missed", now, missed)
        return
    callback.next_attempt_at = free_at
    callback.version += 1
    record_event(session, callback, "capped", at=now, actor=GUARD_ACTOR, reason=f"postponed: {reason}",
                 details={"next_attempt_at": free_at.isoformat()})
    session.flush()


# -- the opt-out key on our call -------------------------------------------------------------------------------------
def _locked(session: Session, model: Any, ident: int) -> Any:
    return session.scalar(select(model).where(model.id == ident).with_for_update()
                          .execution_options(populate_existing=True))


def opt_out_on_call(session: Session, centre: ContactCentre, attempt_id: int | None, now: datetime) -> Callback | None:
    """The person on the attempt's call pressed the opt-out key: list the number, cancel its callback with the
    reason, end the attempt (its agent is free at once). Returns the callback, None for an unknown attempt.

    The number is listed even when the attempt is no longer the live one: whoever pressed asked not to be called.
    """
    from callbacks.attempts import close_callback, finish_attempt

    found = session.get(Attempt, attempt_id) if attempt_id else None
    if found is None:
        return None
    # Lock order everywhere: callback, then attempt (callbacks.attempts).
    callback: Callback = _locked(session, Callback, found.callback_id)
    attempt: Attempt = _locked(session, Attempt, found.id)
    actor = "customer:keypress"
    add_to_dnc(session, callback.phone, now, source="keypress", actor=actor,
               reason=f"pressed {OPT_OUT_KEY} on callback {callback.reference}")
    if callback.is_open and callback.live_attempt_id == attempt.id:
        close_callback(session, centre, callback, CANCELED, now, actor=actor, reason=OPTED_OUT_REASON,
                       details={"attempt": attempt.number, "outcome": OPTED_OUT})
    # An attempt already bridged (agent first: the agent is waiting on the line) is left alone by close_callback.
    finish_attempt(session, centre, callback, attempt, OPTED_OUT, now, actor=actor, detail=OPTED_OUT_REASON)
    if attempt.outcome == CALLBACK_CLOSED and attempt.ended_at == now:
        attempt.outcome = OPTED_OUT  # ended just now by close_callback: say why
    return callback


__all__ = [
    "DNC_REASON",
    "OPTED_OUT",
    "OPT_IN_KEY",
    "OPT_OUT_KEY",
    "Breaker",
    "CodeCheck",
    "OptedOut",
    "TooManyCodes",
    "VerificationRequired",
    "add_to_dnc",
    "breaker_state",
    "check_code",
    "count_dnc",
    "dial_budget",
    "is_opted_out",
    "list_dnc",
    "needs_code",
    "never_call",
    "opt_out_on_call",
    "opted_out_clause",
    "refuse_if_opted_out",
    "remove_from_dnc",
    "screen_due",
    "start_verification",
]
