"""Callbacks as JSON: one shape for the API, the form's status page and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callbacks.models import Attempt, Callback, CallbackEvent


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def callback_json(callback: Callback) -> dict[str, Any]:
    return {
        "id": callback.public_id,
        "reference": callback.reference,
        "status": callback.status,
        "phone": callback.phone,
        "name": callback.name,
        "language": callback.language,
        "queue": callback.queue,
        "note": callback.note,
        "channel": callback.channel,
        "requested_at": iso(callback.requested_at),
        "window_start": iso(callback.window_start),
        "window_end": iso(callback.window_end),
        "deadline_at": iso(callback.deadline_at),
        "sla_deadline_at": iso(callback.sla_deadline_at),
        "deadline_from": callback.deadline_from,
        "overloaded": callback.deadline_from == "ceiling",
        "next_attempt_at": iso(callback.next_attempt_at) if callback.is_open else None,
        "attempts_made": callback.attempts_made,
        "at_risk": callback.at_risk_since is not None and callback.is_open,
        "ended_at": iso(callback.ended_at),
        "end_reason": callback.end_reason,
    }


def event_json(event: CallbackEvent) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": event.actor,
        "reason": event.reason,
        "details": event.details or {},
    }


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "state": attempt.state,
        "outcome": attempt.outcome,
        "created_at": iso(attempt.created_at),
        "answered_at": iso(attempt.answered_at),
        "ended_at": iso(attempt.ended_at),
        "talk_seconds": attempt.talk_seconds,
        "error_code": attempt.error_code,
        "error_message": attempt.error_message,
    }
