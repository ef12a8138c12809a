"""Hand-written fakes of the provider interface, public so that any test (ours or yours) can use them.

`FakeProvider` keeps calls in memory and can be told how the next requests fail. `JournalProvider` appends every
placed call to a file shared by processes, so multi-process and crash tests can count calls after a `kill -9`.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from callbacks.clock import Clock, SystemClock
from telephony.provider import (
    CANCELABLE_STATUSES,
    CallInfo,
    CallRequest,
    ProviderError,
    ProviderPermanentError,
)


@dataclass
class _Failure:
    error: ProviderError
    # True when the provider did place the call before the error reached us (a timeout after acceptance).
    placed: bool


@dataclass
class FakeProvider:
    """An in-memory provider: records requests, answers like Twilio, fails when told to."""

    clock: Clock = field(default_factory=SystemClock)
    name: str = "fake"
    requests: list[CallRequest] = field(default_factory=list)
    calls: dict[str, CallInfo] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    # Numbers for which create_call raises ProviderPermanentError (Twilio 21211, invalid 'To').
    invalid_numbers: set[str] = field(default_factory=set)
    # Sids of calls cancel_call was asked to stop, in order (whether or not it was too late).
    cancel_requests: list[str] = field(default_factory=list)
    _failures: deque[_Failure] = field(default_factory=deque)
    _cancel_failures: deque[ProviderError] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting ------------------------------------------------------------------------------------------------
    def fail_next(self, error: ProviderError, *, placed: bool = False) -> None:
        """Make the next create_call raise `error`; with placed=True the call exists anyway (a lost answer)."""
        self._failures.append(_Failure(error, placed))

    def set_status(
        self, sid: str, status: str, *, duration: int | None = None, answered_by: str | None = None
    ) -> CallInfo:
        """Move a call on, as the phone network would (tests then post the matching status callback)."""
        with self._lock:
            call = replace(
                self.calls[sid],
                status=status,
                duration=duration if duration is not None else self.calls[sid].duration,
                answered_by=answered_by or self.calls[sid].answered_by,
            )
            self.calls[sid] = call
            return call

    def fail_next_cancel(self, error: ProviderError) -> None:
        """Make the next cancel_call raise `error` (the call is left as it is)."""
        self._cancel_failures.append(error)

    def add_child(self, parent_sid: str, to: str, from_: str) -> CallInfo:
        """A leg Twilio creates itself for a TwiML <Dial> on `parent_sid`."""
        with self._lock:
            call = CallInfo(self._sid(), to, from_, "queued", self.clock.now(), parent_sid=parent_sid)
            self.calls[call.sid] = call
            return call

    def calls_to(self, number: str) -> list[CallInfo]:
        return [c for c in self.calls.values() if c.to == number]

    # -- the interface --------------------------------------------------------------------------------------------
    def create_call(self, request: CallRequest) -> CallInfo:
        with self._lock:
            self.requests.append(request)
            if request.to in self.invalid_numbers:
                raise ProviderPermanentError(f"The 'To' number {request.to} is not a valid phone number.", code="21211",
                                             status=400)
            failure = self._failures.popleft() if self._failures else None
            if failure is not None and not failure.placed:
                raise failure.error
            call = CallInfo(self._sid(), request.to, request.from_, "queued", self.clock.now())
            self.calls[call.sid] = call
            if failure is not None:
                raise failure.error
            return call

    def fetch_call(self, sid: str) -> CallInfo:
        with self._lock:
            if sid not in self.calls:
                raise ProviderPermanentError(f"no call {sid}", code="20404", status=404)
            return self.calls[sid]

    def list_calls(
        self, *, to: str | None = None, from_: str | None = None, parent_sid: str | None = None,
        created_after: datetime | None = None, limit: int = 50,
    ) -> list[CallInfo]:
        with self._lock:
            found = [
                c for c in reversed(list(self.calls.values()))
                if (to is None or c.to == to)
                and (from_ is None or c.from_ == from_)
                and (parent_sid is None or c.parent_sid == parent_sid)
                and (created_after is None or (c.created_at is not None and c.created_at >= created_after))
            ]
            return found[:limit]

    def cancel_call(self, sid: str) -> CallInfo:
        with self._lock:
            self.cancel_requests.append(sid)
            if self._cancel_failures:
                raise self._cancel_failures.popleft()
            if sid not in self.calls:
                raise ProviderPermanentError(f"no call {sid}", code="20404", status=404)
            call = self.calls[sid]
            if call.status in CANCELABLE_STATUSES:  # like Twilio: an answered or ended call is left as it is
                call = self.calls[sid] = replace(call, status="canceled")
            return call

    def send_sms(self, *, to: str, from_: str, body: str) -> str:
        with self._lock:
            sid = "SM" + f"{next(self._ids):032x}"
            self.messages.append({"sid": sid, "to": to, "from": from_, "body": body})
            return sid

    def _sid(self) -> str:
        return "CA" + f"{next(self._ids):032x}"


class JournalProvider:
    """A provider that appends each placed call to a JSON-lines file shared by every process using it.

    Appends take an exclusive `flock`, so lines from concurrent workers never interleave; a call is in the
    journal before `create_call` returns, like a real provider that accepted it before our process died.
    """

    name = "journal"

    def __init__(self, path: Path | str, clock: Clock | None = None):
        self.path = Path(path)
        # Canceled calls go to a file of their own, so that the journal stays one line per placed call.
        self.canceled_path = self.path.with_name(self.path.name + ".canceled")
        self.clock = clock or SystemClock()
        self._count = itertools.count(1)

    def create_call(self, request: CallRequest) -> CallInfo:
        now = self.clock.now()
        sid = f"CA{os.getpid():08x}{next(self._count):024x}"
        line = json.dumps({"sid": sid, "to": request.to, "from": request.from_, "url": request.url,
                           "status_callback": request.status_callback, "created_at": now.isoformat()})
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            # Flushed to the kernel before we return: a kill -9 right after cannot lose it (power loss is
            # not what the crash tests model).
            fh.write(line + "\n")
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
        return CallInfo(sid, request.to, request.from_, "queued", now)

    def entries(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def canceled(self) -> set[str]:
        """Sids of the calls `cancel_call` stopped (by any process)."""
        if not self.canceled_path.exists():
            return set()
        with open(self.canceled_path, encoding="utf-8") as fh:
            return {line.strip() for line in fh if line.strip()}

    def _info(self, entry: dict[str, str], canceled: set[str] | None = None) -> CallInfo:
        created = datetime.fromisoformat(entry["created_at"]).astimezone(UTC)
        status = "canceled" if entry["sid"] in (canceled if canceled is not None else self.canceled()) else "queued"
        return CallInfo(entry["sid"], entry["to"], entry["from"], status, created)

    def fetch_call(self, sid: str) -> CallInfo:
        for entry in self.entries():
            if entry["sid"] == sid:
                return self._info(entry)
        raise ProviderPermanentError(f"no call {sid}", code="20404", status=404)

    def cancel_call(self, sid: str) -> CallInfo:
        """Journal calls never ring past `queued`, so a cancel always takes."""
        info = self.fetch_call(sid)
        if info.status != "canceled":
            with open(self.canceled_path, "a", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.write(sid + "\n")
                fh.flush()
                fcntl.flock(fh, fcntl.LOCK_UN)
        return replace(info, status="canceled")

    def list_calls(
        self, *, to: str | None = None, from_: str | None = None, parent_sid: str | None = None,
        created_after: datetime | None = None, limit: int = 50,
    ) -> list[CallInfo]:
        canceled = self.canceled()
        found = [self._info(e, canceled) for e in reversed(self.entries())
                 if (to is None or e["to"] == to) and (from_ is None or e["from"] == from_) and parent_sid is None]
        if created_after is not None:
            found = [c for c in found if c.created_at is not None and c.created_at >= created_after]
        return found[:limit]

    def send_sms(self, *, to: str, from_: str, body: str) -> str:
        return f"SM{next(self._count):032x}"


__all__ = ["FakeProvider", "JournalProvider"]
