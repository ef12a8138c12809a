"""The telephony provider interface the dispatcher dials through, and its domain errors.

A provider places one outbound call per `create_call`, tells us about a call by its id, lists calls to a
number so that a lost answer can be reconciled before we dial again, and cancels a call nobody has answered yet
(an agent rung for a caller who left the queue). Status changes come back as webhooks to
`POST /twilio/status` (see `callbacks.attempts.apply_leg_status`), not through this interface.

Implementations: `telephony.twilio.TwilioProvider` (the REST API), `telephony.fake.FakeProvider`
(in memory, for tests), and the simulator (built elsewhere against this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from callbacks.calls import ACTIVE_CALL_STATUSES as ACTIVE_STATUSES
from callbacks.calls import CANCELABLE_CALL_STATUSES as CANCELABLE_STATUSES
from callbacks.calls import TERMINAL_CALL_STATUSES as TERMINAL_STATUSES


class ProviderError(Exception):
    """A provider call failed. `code` is the provider's error code when it gave one (Twilio: 21211, ...)."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class ProviderTransientError(ProviderError):
    """The request was certainly not carried out (refused before processing): safe to retry later."""


class CallsLimitExceeded(ProviderTransientError):
    """Too many requests (HTTP 429): not processed, safe to retry after a pause."""


class ProviderPermanentError(ProviderError):
    """Retrying will not help: the number is invalid, unreachable or not allowed (Twilio 21211, 21214, ...)."""


class OutcomeUnknown(ProviderError):
    """The request may or may not have placed a call (timeout, connection lost, 5xx).

    Never dial again before looking the call up with `list_calls`: the Calls API has no idempotency key.
    """


@dataclass(frozen=True)
class CallRequest:
    """One outbound call: who to ring, what TwiML to run when answered, where to report its status."""

    to: str
    from_: str
    url: str
    status_callback: str
    # Seconds to let it ring before giving up (Twilio's Timeout, 5..600).
    timeout: int = 30
    # "Enable" / "DetectMessageEnd" for answering-machine detection, None for none.
    machine_detection: str | None = None
    status_callback_events: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")


@dataclass(frozen=True)
class CallInfo:
    """What the provider knows about a call."""

    sid: str
    to: str
    from_: str
    status: str
    created_at: datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    parent_sid: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@runtime_checkable
class Provider(Protocol):
    """Small on purpose: everything else (limits, banned numbers, retries) is the dispatcher's business."""

    name: str

    def create_call(self, request: CallRequest) -> CallInfo:
        """Place a call. Raises ProviderTransientError, CallsLimitExceeded, ProviderPermanentError or OutcomeUnknown."""
        ...

    def fetch_call(self, sid: str) -> CallInfo:
        """The call with this id (ProviderPermanentError when the provider has no such call)."""
        ...

    def list_calls(
        self, *, to: str | None = None, from_: str | None = None, parent_sid: str | None = None,
        created_after: datetime | None = None, limit: int = 50,
    ) -> list[CallInfo]:
        """Recent calls matching every given filter, newest first."""
        ...

    def cancel_call(self, sid: str) -> CallInfo:
        """Stop a call that is still queued or ringing (Twilio: update the call with Status=canceled).

        Returns the call as the provider shows it afterwards: status `canceled` when the cancel took (its status
        callback follows, reporting `canceled`). A call already answered is left alone, as Twilio does (ending a
        call in progress would take Status=completed): any other status in the answer (`in-progress`,
        `completed`, `no-answer`, ...) means it was too late and nothing changed. Raises ProviderPermanentError
        when the provider has no such call, ProviderTransientError when the request was refused before
        processing, OutcomeUnknown when it may or may not have been carried out (look the call up later).
        """
        ...

    def send_sms(self, *, to: str, from_: str, body: str) -> str:
        """Send a text message (supervisor alerts); returns the provider's message id."""
        ...


__all__ = [
    "ACTIVE_STATUSES",
    "CANCELABLE_STATUSES",
    "TERMINAL_STATUSES",
    "CallInfo",
    "CallRequest",
    "CallsLimitExceeded",
    "OutcomeUnknown",
    "Provider",
    "ProviderError",
    "ProviderPermanentError",
    "ProviderTransientError",
]
