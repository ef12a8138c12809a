"""Reports read from the store: missed callbacks with reasons (streamed, never loaded whole), one callback's
full history, and the daily digest e-mailed to supervisors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select

from callbacks.clock import ensure_utc
from callbacks.db import Database
from callbacks.models import MISSED, OPEN_STATUSES, Agent, Alert, Attempt, Callback, CallbackEvent
from callbacks.phones import mask
from callbacks.serialize import iso
from config.schema import ContactCentre

MISSED_COLUMNS = (
    "id",
    "reference",
    "queue",
    "phone",
    "requested_at",
    "deadline_at",
    "missed_at",
    "attempts_made",
    "reason",
)
_MISSED_SELECT = (
    Callback.id,
    Callback.public_id,
    Callback.reference,
    Callback.queue,
    Callback.phone,
    Callback.requested_at,
    Callback.deadline_at,
    Callback.ended_at,
    Callback.attempts_made,
    Callback.end_reason,
)


def missed_filters(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    reason: str | None = None,
    api_key_id: int | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for missed callbacks whose deadline fell in [since, until), in `queue`, reason containing text
    (requested with `api_key_id` when given)."""
    clauses: list[ColumnElement[bool]] = [Callback.status == MISSED]
    if api_key_id is not None:
        clauses.append(Callback.api_key_id == api_key_id)
    if since:
        clauses.append(Callback.deadline_at >= ensure_utc(since))
    if until:
        clauses.append(Callback.deadline_at < ensure_utc(until))
    if queue:
        clauses.append(Callback.queue == queue)
    if reason:
        clauses.append(Callback.end_reason.contains(reason, autoescape=True))
    return clauses


def missed_rows(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    reason: str | None = None,
    batch: int = 1000,
    mask_phone: bool = True,
    limit: int | None = None,
    api_key_id: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Missed callbacks whose deadline fell in [since, until), oldest deadline first, fetched in batches.

    Keyset pages on (deadline_at, id), each read in its own short transaction: on SQLite every transaction
    takes the write lock (BEGIN IMMEDIATE), so one transaction held open for a long export would stall the
    worker; on PostgreSQL it avoids a long snapshot holding back vacuum. Memory stays at one batch.
    """
    clauses = missed_filters(since=since, until=until, queue=queue, reason=reason, api_key_id=api_key_id)
    after: tuple[datetime, int] | None = None
    produced = 0
    while True:
        size = batch if limit is None else min(batch, limit - produced)
        if size <= 0:
            return
        query = select(*_MISSED_SELECT).where(*clauses).order_by(Callback.deadline_at, Callback.id).limit(size)
        if after is not None:
            # (deadline, id) > (last deadline, last id), spelled out so that PostgreSQL can use the
            # (status, deadline_at) index for the range instead of rescanning from the start each batch.
            query = query.where(
                Callback.deadline_at >= after[0],
                or_(Callback.deadline_at > after[0], Callback.id > after[1]),
            )
        with db.session() as session:
            rows = session.execute(query).all()
        for row in rows:
            yield {
                "id": row.public_id,
                "reference": row.reference,
                "queue": row.queue,
                "phone": mask(row.phone) if mask_phone else row.phone,
                "requested_at": iso(row.requested_at),
                "deadline_at": iso(row.deadline_at),
                "missed_at": iso(row.ended_at),
                "attempts_made": row.attempts_made,
                "reason": row.end_reason,
            }
        produced += len(rows)
        if len(rows) < size:
            return
        after = (rows[-1].deadline_at, rows[-1].id)


def missed_count(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    reason: str | None = None,
) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Callback)
                .where(*missed_filters(since=since, until=until, queue=queue, reason=reason))
            )
            or 0
        )


def missed_by_reason(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    reason: str | None = None,
    limit: int = 20,
) -> list[tuple[str, int]]:
    """The commonest reasons among the filtered missed callbacks, with counts (most first)."""
    count = func.count().label("n")
    query = (
        select(Callback.end_reason, count)
        .where(*missed_filters(since=since, until=until, queue=queue, reason=reason))
        .group_by(Callback.end_reason)
        .order_by(count.desc(), Callback.end_reason)
        .limit(limit)
    )
    with db.session() as session:
        return [(r or "", int(n)) for r, n in session.execute(query).all()]


# -- one callback's history ----------------------------------------------------------------------------------
@dataclass
class AttemptRow:
    attempt: Attempt
    agent_name: str | None


@dataclass
class CallbackHistory:
    """Everything known about one callback: the row, every event, every attempt with its outcome, its alerts."""

    callback: Callback
    events: list[CallbackEvent]
    attempts: list[AttemptRow]
    alerts: list[Alert] = field(default_factory=list)


def callback_history(db: Database, public_id: str) -> CallbackHistory | None:
    with db.session() as session:
        callback = session.scalar(select(Callback).where(Callback.public_id == public_id))
        if callback is None:
            return None
        events = list(
            session.scalars(
                select(CallbackEvent).where(CallbackEvent.callback_id == callback.id).order_by(CallbackEvent.id)
            )
        )
        attempts = [
            AttemptRow(attempt, agent_name)
            for attempt, agent_name in session.execute(
                select(Attempt, Agent.name)
                .outerjoin(Agent, Agent.id == Attempt.agent_id)
                .where(Attempt.callback_id == callback.id)
                .order_by(Attempt.number)
            ).all()
        ]
        alerts = list(session.scalars(select(Alert).where(Alert.callback_id == callback.id).order_by(Alert.id)))
    return CallbackHistory(callback, events, attempts, alerts)


def history_json(history: CallbackHistory) -> dict[str, Any]:
    """The history as JSON (the same shapes the API uses)."""
    from callbacks.serialize import attempt_json, callback_json, event_json

    return {
        "callback": callback_json(history.callback),
        "events": [event_json(e) for e in history.events],
        "attempts": [{**attempt_json(a.attempt), "agent": a.agent_name} for a in history.attempts],
        "alerts": [
            {
                "kind": a.kind,
                "created_at": iso(a.created_at),
                "reason": a.reason,
                "acknowledged_at": iso(a.acknowledged_at),
            }
            for a in history.alerts
        ],
    }


# -- the daily digest ----------------------------------------------------------------------------------------
def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day as aware datetimes (correct across DST changes)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def daily_digest(
    db: Database, centre: ContactCentre, now: datetime, *, language: str = "en", max_listed: int = 30
) -> tuple[str, str]:
    """Subject and plain text of the supervisors' e-mail about the previous local day (the worker sends it)."""
    from callbacks import i18n
    from callbacks.sla import sla_figures

    zone = centre.zone
    day = now.astimezone(zone).date() - timedelta(days=1)
    start, end = local_day_bounds(day, zone)
    figures = sla_figures(db, zone, start, end)
    total = figures.overall
    missed = list(missed_rows(db, since=start, until=end, limit=max_listed))
    missed_total = missed_count(db, since=start, until=end)
    reasons = missed_by_reason(db, since=start, until=end, limit=5)
    with db.session() as session:
        open_now = session.scalar(select(func.count()).where(Callback.status.in_(OPEN_STATUSES))) or 0
        at_risk_now = (
            session.scalar(
                select(func.count()).where(Callback.status.in_(OPEN_STATUSES), Callback.at_risk_since.is_not(None))
            )
            or 0
        )
    lang = language

    def n(value: float | None) -> str:
        return i18n.number(value, lang)

    kept = i18n.percent(total.kept_share, lang)
    subject = i18n.translate("{centre} digest for {day}: {kept} kept, {missed} missed", lang, centre=centre.name,
                             day=i18n.local_date(day, lang), kept=kept, missed=missed_total)
    figures_lines = [
        (i18n.ptranslate("count of callbacks", "Requested", lang), n(total.requested)),
        (i18n.translate("Completed", lang), n(total.completed)),
        (i18n.translate("Missed", lang), n(total.missed)),
        (i18n.translate("Unreachable", lang), n(total.unreachable)),
        (i18n.ptranslate("count of callbacks", "Canceled", lang), n(total.canceled)),
        (i18n.translate("Kept", lang), kept),
        (i18n.translate("Median to conversation", lang), i18n.duration(total.median_seconds, lang)),
        (i18n.translate("90th percentile", lang), i18n.duration(total.p90_seconds, lang)),
        (i18n.translate("Attempts per callback", lang), i18n.number(total.attempts_per_callback, lang, 2)),
    ]
    lines = [subject, "", *(f"{label}: {value}" for label, value in figures_lines), ""]
    lines.append(i18n.translate("Open now: {open}, at risk now: {at_risk}", lang, open=n(open_now),
                                at_risk=n(at_risk_now)))
    if figures.by_queue:
        lines += ["", i18n.translate("Per queue:", lang)]
        missed_word = i18n.translate("missed", lang)
        for q in figures.by_queue:
            assert q.queue is not None  # the per-queue figures each name their queue
            lines.append(
                f"  {i18n.queue_name(centre, str(q.queue), lang)}: {i18n.percent(q.kept_share, lang)} "
                f"({n(q.completed)}/{n(q.decided)}), {missed_word} {n(q.missed)}"
            )
    if reasons:
        lines += ["", i18n.translate("By reason", lang) + ":"]
        lines += [f"  {n(count)} × {r or '?'}" for r, count in reasons]
    if missed:
        lines += ["", i18n.translate("Missed callbacks ({count}):", lang, count=missed_total)]
        for row in missed:
            deadline = datetime.fromisoformat(row["deadline_at"].replace("Z", "+00:00"))
            lines.append(
                f"  {row['reference']}  {row['queue']}  {row['phone']}  "
                f"{i18n.local_datetime(deadline, lang, zone)}  {row['reason'] or ''}"
            )
        if missed_total > len(missed):
            lines.append(f"  … +{missed_total - len(missed)}")
    return subject, "\n".join(lines) + "\n"
