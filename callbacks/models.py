"""The store: callbacks, their append-only history, attempts, agents, keys, supervisors, inbound calls."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no zone support) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: store one fixed, zone-less form so comparisons hold.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


# A callback's life. Open statuses hold the one-open-request-per-number-per-queue rule.
PENDING, DIALING = "pending", "dialing"
COMPLETED, UNREACHABLE, MISSED, CANCELED = "completed", "unreachable", "missed", "canceled"
OPEN_STATUSES = (PENDING, DIALING)
FINAL_STATUSES = (COMPLETED, UNREACHABLE, MISSED, CANCELED)
_OPEN_SQL = text("status IN ('pending', 'dialing')")


class Callback(Base):
    """A promise to call a customer back before `deadline_at`."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # Short code read to callers and shown on the form ("K7P-4QX").
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    # sha256 of the secret in the customer's status link; the link itself is never stored.
    status_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    queue: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime]
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    deadline_at: Mapped[datetime]
    # What the queue's SLA alone would have promised (the quoted `deadline_at` is later when the capacity forecast
    # could not keep it); NULL for callbacks taken before quotes existed.
    sla_deadline_at: Mapped[datetime | None]
    # Where the promise came from: sla, forecast (the SLA could not be kept), window (the customer's own), or
    # ceiling (overloaded: the forecast was beyond the queue's ceiling; the customer was told so).
    deadline_from: Mapped[str | None] = mapped_column(String(16))
    # When the dispatcher may next start an attempt (window start, retry delay).
    next_attempt_at: Mapped[datetime]
    attempts_made: Mapped[int] = mapped_column(Integer, default=0)
    # The fencing token: the one attempt allowed to ring and bridge while the callback is `dialing`
    # (`callbacks.attempts`). Cleared when that attempt ends or the callback closes; a call placed for any other
    # attempt is hung up, never bridged.
    live_attempt_id: Mapped[int | None] = mapped_column(Integer)
    at_risk_since: Mapped[datetime | None]
    at_risk_reason: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    # When the conversation that kept the callback started (completed callbacks only).
    conversation_at: Mapped[datetime | None]
    # The API key that asked (API requests only): a key with the `own` scope sees only its own callbacks.
    api_key_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Bumped on every change: compare-and-swap updates check it.
    version: Mapped[int] = mapped_column(Integer, default=1)

    events: Mapped[list[CallbackEvent]] = relationship(
        back_populates="callback", order_by="CallbackEvent.id", cascade="all, delete-orphan", passive_deletes=True
    )
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="callback", order_by="Attempt.number", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        # The dedupe rule, enforced by the database so that two requests at the same instant give one row.
        Index(
            "uq_callbacks_open_phone_queue",
            "phone",
            "queue",
            unique=True,
            sqlite_where=_OPEN_SQL,
            postgresql_where=_OPEN_SQL,
        ),
        Index("ix_callbacks_due", "status", "next_attempt_at"),
        Index("ix_callbacks_deadline", "status", "deadline_at"),
        Index("ix_callbacks_requested_at", "requested_at"),
        Index("ix_callbacks_ended", "status", "ended_at"),
        # Every callback of a number (the per-number daily cap counts their attempts).
        Index("ix_callbacks_phone", "phone"),
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


# `Callback.status IN ('pending', 'dialing')` with the statuses written into the statement: nothing for the driver
# to expand at every execution (an IN of bound values is rendered again each time), the partial index's predicate.
CALLBACK_IS_OPEN = Callback.status.in_([literal_column(f"'{status}'") for status in OPEN_STATUSES])


class CallbackEvent(Base):
    """Append-only history: every transition of a callback with time, actor and reason."""

    __tablename__ = "callback_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(160))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    callback: Mapped[Callback] = relationship(back_populates="events")

    __table_args__ = (Index("ix_callback_events_kind_at", "kind", "at"),)


class Agent(Base):
    """A person who takes calls on `phone` while on shift."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    on_shift: Mapped[bool] = mapped_column(Boolean, default=True)
    shift_changed_at: Mapped[datetime]
    # Queues this agent serves; empty = all.
    queues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Set while a call leg of ours is ringing or up on the agent's phone; cleared by its status callback.
    busy_call_sid: Mapped[str | None] = mapped_column(String(64))
    busy_since: Mapped[datetime | None]
    # End of the last call plus wrap-up: not offered work before this.
    available_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AgentShift(Base):
    """A shift planned ahead for an agent: the capacity forecast counts them only within their planned shifts
    (an agent with none planned is assumed to work every opening span)."""

    __tablename__ = "agent_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_agent_shifts_ends_at", "ends_at"),)


class Attempt(Base):
    """One try at reaching the customer. Written and committed before the provider is asked to dial."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    # created -> dialing -> in_progress -> ended; `unknown` when the provider's answer was lost.
    state: Mapped[str] = mapped_column(String(16), default="created")
    outcome: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    worker_id: Mapped[str | None] = mapped_column(String(120))
    provider: Mapped[str | None] = mapped_column(String(16))
    customer_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    agent_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    dial_started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    bridged_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    answered_by: Mapped[str | None] = mapped_column(String(24))
    # Highest status-callback SequenceNumber applied per leg ({"customer": 3, "agent": 2}).
    sequence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    # agent_first or customer_first: which leg is dialed by the REST API and which by TwiML <Dial>.
    dial_order: Mapped[str | None] = mapped_column(String(16))
    # Until then the worker that started the attempt may still place its call; afterwards the sweep asks the
    # provider what became of it (a lost answer, a lost status callback, a dead or stalled worker).
    lease_until: Mapped[datetime | None]
    # Last status applied per leg (Twilio's CallStatus: queued, ringing, in-progress, completed, busy, ...).
    agent_status: Mapped[str | None] = mapped_column(String(16))
    customer_status: Mapped[str | None] = mapped_column(String(16))

    callback: Mapped[Callback] = relationship(back_populates="attempts")
    agent: Mapped[Agent | None] = relationship()

    __table_args__ = (
        UniqueConstraint("callback_id", "number", name="uq_attempts_callback_number"),
        Index("ix_attempts_state", "state"),
        Index("ix_attempts_state_lease_until", "state", "lease_until"),
        # The spending breaker counts the attempts started in the last hour (`callbacks.guard`).
        Index("ix_attempts_created_at", "created_at"),
    )


class ApiKey(Base):
    """A key for the JSON API; only its hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # A partner who proved the customer owns the number before calling us: its requests skip the SMS code of
    # queues with `verify: sms`.
    verifies_numbers: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # own: sees and cancels only the callbacks requested with it; all: every channel's (keys made before scopes
    # existed were migrated to `all`, which is what they could do then).
    scope: Mapped[str] = mapped_column(String(8), server_default="all")


class Supervisor(Base):
    """A person who sees the board and reports; `viewer` may look but not change."""

    __tablename__ = "supervisors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    language: Mapped[str | None] = mapped_column(String(8))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    # In every console session; bumped by log-out, a password change and `ivr supervisor logout-all`, which ends
    # every session carrying an older number (a copied cookie included).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed console log-ins for one typed e-mail from one client address, and when the next try is allowed.

    Keyed by what was typed (known account or not, so both answer alike) and by address, so that a stranger's
    guessing slows down the stranger, never the supervisor at their own desk.
    """

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("email", "address"),)


_WAITING_SQL = text("enqueued_at IS NOT NULL AND answered_at IS NULL AND ended_at IS NULL")


class InboundCall(Base):
    """The journey of one call into the phone tree."""

    __tablename__ = "inbound_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    caller_masked: Mapped[str | None] = mapped_column(String(24))
    # E.164 of the caller when valid: used to close their open callbacks when they reach an agent.
    caller: Mapped[str | None] = mapped_column(String(20), index=True)
    called: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(8))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # [{"node": "billing", "at": "...", "input": "2"}] with sensitive digits left out.
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_node: Mapped[str | None] = mapped_column(String(80))
    queue: Mapped[str | None] = mapped_column(String(40))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id", ondelete="SET NULL"))
    zero_presses: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    last_sequence: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_inbound_calls_started_at", "started_at"),
        # Callers waiting in a queue right now (the worker reads this every tick to ring agents for them).
        Index("ix_inbound_calls_waiting", "queue", "enqueued_at", sqlite_where=_WAITING_SQL,
              postgresql_where=_WAITING_SQL),
    )


class AgentCall(Base):
    """A call to a free agent for a caller waiting in an inbound queue: whisper, press 1, `<Dial><Queue>`.

    Written and committed (with the agent reserved through `Agent.busy_call_sid`) before the provider is asked
    to dial; its id is in the TwiML and status-callback URLs.
    """

    __tablename__ = "agent_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The Twilio queue name (the same string the caller's <Enqueue> used, InboundCall.queue).
    queue: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # created -> dialing -> in_progress -> ended; `unknown` when the provider's answer was lost.
    state: Mapped[str] = mapped_column(String(16), default="created")
    # bridged, caller_gone, caller_left, not_confirmed, no-answer, busy, failed, canceled, not_placed
    # (caller_left on a call not ended yet: the worker is canceling it, see callbacks.inbound_queue)
    outcome: Mapped[str | None] = mapped_column(String(32))
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    worker_id: Mapped[str | None] = mapped_column(String(120))
    # The caller Twilio took from the queue for this agent (known when the <Queue url> runs on their call).
    inbound_call_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_calls.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    dial_started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    bridged_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # The sweep looks the call up with the provider after this (a lost answer, a lost status callback).
    claimed_until: Mapped[datetime | None]
    call_status: Mapped[str | None] = mapped_column(String(16))
    # Highest status-callback SequenceNumber applied.
    sequence: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_agent_calls_queue_state", "queue", "state"),
        Index("ix_agent_calls_state_claimed_until", "state", "claimed_until"),
    )


class StrayCall(Base):
    """A call the provider placed for an attempt or agent call that was no longer live when we learned of it
    (a stalled worker's late dial, an answer that came back after the sweep settled the attempt).

    Never bridged: its TwiML hangs up, the worker cancels it while it rings. Kept so that the lost-call lookup
    never adopts it and supervisors can see how often it happens.
    """

    __tablename__ = "stray_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"), index=True)
    agent_call_id: Mapped[int | None] = mapped_column(ForeignKey("agent_calls.id", ondelete="SET NULL"))
    found_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    # The provider's answer to our cancel (canceled, or the status it had when it was too late), when asked.
    cancel_result: Mapped[str | None] = mapped_column(String(16))


class Alert(Base):
    """A supervisor alert (at risk, missed, digest) and where it was delivered."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    # {"email": "sent", "webhook": "error: 500", ...}
    deliveries: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))

    __table_args__ = (
        UniqueConstraint("callback_id", "kind", name="uq_alerts_callback_kind"),
        Index("ix_alerts_created_at", "created_at"),
    )


class CustomerSms(Base):
    """A text message owed to a customer (the promise, a failed attempt's next try): the durable outbox.

    Written in the same transaction as the change it tells of; the worker sends it afterwards, claiming it first,
    so a crash loses nothing (a claim left by a dead worker is taken over: at worst a message goes twice).
    """

    __tablename__ = "customer_sms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    # promise | retry
    kind: Mapped[str] = mapped_column(String(16))
    # The attempt a retry message follows (0 for the promise): one message per callback, kind and attempt.
    attempt_number: Mapped[int] = mapped_column(Integer, default=0)
    to: Mapped[str] = mapped_column(String(20))
    # The text; the status link in it is blanked once sent (the link is the customer's secret).
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # sent | skipped (no longer true when its turn came) | error: ...
    result: Mapped[str | None] = mapped_column(String(200))
    provider_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("callback_id", "kind", "attempt_number", name="uq_customer_sms_callback_kind_attempt"),
        Index("ix_customer_sms_unsent", "sent_at", "id"),
    )


class WorkerLock(Base):
    """Workers alive, each with a heartbeat: SQLite allows one, PostgreSQL many."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    # Last time the dispatcher started a call (calls-per-second pacing across workers).
    last_dial_at: Mapped[datetime | None]


class DispatchState(Base):
    """Named moments shared by all workers, changed with row locks or compare-and-swap.

    `dial_pacing`: the next free calls-per-second slot (pacing across workers); `digest`: the last digest sent.
    """

    __tablename__ = "dispatch_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime | None]


class DoNotCall(Base):
    """A number we never call: its owner pressed the opt-out key on one of our calls, or a supervisor added it.

    Checked by every channel before a request is stored and by the worker before it dials.
    """

    __tablename__ = "do_not_call"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    added_at: Mapped[datetime]
    # keypress (the owner, on our call), supervisor, cli
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(160))
    reason: Mapped[str | None] = mapped_column(Text)


class PhoneVerification(Base):
    """A one-time code texted to a number so that a web request for it is stored only by the number's owner.

    Only an HMAC of the code is kept. The request itself waits here (`request`) until the code is typed.
    """

    __tablename__ = "phone_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The form's handle on this code (random; guessing one gets another person's pending request nowhere
    # without the code as well).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    # Set once, by compare-and-swap, when the right code is typed: a code is good for one request only.
    used_at: Mapped[datetime | None]
    # The form's fields, stored when the code is confirmed.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_phone_verifications_phone_created_at", "phone", "created_at"),)


class SlaDay(Base):
    """The SLA figures of one local day (in `zone`) and queue, written once every callback requested that day is
    final (`callbacks.sla.roll_up`): counts, and `waits` = {seconds from request to conversation: how many}."""

    __tablename__ = "sla_days"

    zone: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    requested: Mapped[int]
    completed: Mapped[int]
    canceled: Mapped[int]
    missed: Mapped[int]
    unreachable: Mapped[int]
    attempts_closed: Mapped[int]
    waits: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime]
