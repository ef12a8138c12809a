"""Callback requests taken while the database is down: kept on local disk, stored in the database later.

One JSON file per request under `<instance>/spool/`, named by the call's CallSid so a Twilio retry of the same
webhook finds the request it already took (and the caller hears the same promise). A file is written to a
temporary name, fsynced, then hard-linked into place: like rename it is atomic, but unlike rename it never
replaces a file that is already there, so the first promise made to a call stands. The caller hears the promise
only after that, so an acknowledged request is on disk.

`replay_spool` moves the files into the database through `CallbackService.request` (which dedupes by number
and queue), deleting each only after its row is committed; a file that can never be stored (unreadable, a
number the centre refuses, an unknown queue) goes to `spool/rejected/` with a `.reason` file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from callbacks.businesstime import BusinessCalendar
from callbacks.db import DatabaseUnavailable
from callbacks.errors import CallbackError
from callbacks.phones import mask
from callbacks.policy import promise_for
from callbacks.service import CallbackService, promise_start
from config.schema import ContactCentre

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
REJECTED = "rejected"
# Temporary files older than this were left by a crash mid-write; their callers never heard a promise.
_STALE_TEMP_SECONDS = 3600
_SID = re.compile(r"[A-Za-z0-9]{2,64}")


class SpoolFileInvalid(ValueError):
    """A spool file that can never become a callback (not JSON, fields missing or malformed)."""


@dataclass(frozen=True)
class SpooledRequest:
    """One callback request taken without the database, and the promise the caller heard."""

    call_sid: str
    phone: str  # E.164, already accepted by the centre's phone policy
    queue: str
    language: str
    requested_at: datetime
    deadline_at: datetime  # what the caller was told
    arrived_at: datetime | None = None  # when they joined the phone queue, if known
    channel: str = "phone"

    @property
    def file_name(self) -> str:
        if _SID.fullmatch(self.call_sid):
            return f"{self.call_sid}.json"
        # No usable CallSid: one file per number and queue (the database dedupes those anyway).
        digest = hashlib.sha256(f"{self.phone}|{self.queue}".encode()).hexdigest()[:24]
        return f"nosid-{digest}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "call_sid": self.call_sid,
            "phone": self.phone,
            "queue": self.queue,
            "language": self.language,
            "channel": self.channel,
            "arrived_at": self.arrived_at.isoformat() if self.arrived_at else None,
            "requested_at": self.requested_at.isoformat(),
            "deadline_at": self.deadline_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: object) -> SpooledRequest:
        """Parse a spool file's content; SpoolFileInvalid says what is wrong with it."""
        if not isinstance(data, dict):
            raise SpoolFileInvalid("not a JSON object")
        if data.get("version") != FORMAT_VERSION:
            raise SpoolFileInvalid(f"unknown version {data.get('version')!r}")
        text = {}
        for key in ("call_sid", "phone", "queue", "language", "channel"):
            value = data.get(key)
            if not isinstance(value, str) or not value or len(value) > 64:
                raise SpoolFileInvalid(f"{key} missing or not short text")
            text[key] = value
        arrived = data.get("arrived_at")
        return cls(
            **text,
            requested_at=_aware(data.get("requested_at"), "requested_at"),
            deadline_at=_aware(data.get("deadline_at"), "deadline_at"),
            arrived_at=_aware(arrived, "arrived_at") if arrived is not None else None,
        )


def _aware(value: object, key: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)  # type: ignore[arg-type]  # not a str: TypeError, caught below
    except (TypeError, ValueError):
        raise SpoolFileInvalid(f"{key} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise SpoolFileInvalid(f"{key} has no timezone offset")
    return parsed


def take(
    centre: ContactCentre,
    calendar: BusinessCalendar,
    *,
    call_sid: str,
    phone: str,
    queue: str,
    language: str,
    now: datetime,
    arrived_at: datetime | None = None,
) -> SpooledRequest:
    """The request and its promise, computed without the database exactly as `CallbackService.request` will
    when it is replayed with `taken_at=requested_at` (same start, same queue policy, same business calendar)."""
    promise = promise_for(centre.queue(queue), promise_start(now, arrived_at), calendar)
    return SpooledRequest(
        call_sid=call_sid[:64],
        phone=phone,
        queue=queue,
        language=language,
        requested_at=now,
        deadline_at=promise.deadline_at,
        arrived_at=arrived_at,
    )


def _fsync_dir(directory: Path) -> None:
    # A new, renamed or deleted name is durable only once its directory is flushed too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The directory of spooled requests."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)

    @property
    def rejected_dir(self) -> Path:
        return self.directory / REJECTED

    def put(self, request: SpooledRequest) -> SpooledRequest:
        """Write `request` durably, unless its call already has one: returns what the spool holds for the call."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / request.file_name
        if final.exists():
            return self.read(final)
        fd, temp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)  # mode 0600: personal data
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(request.to_json(), handle, ensure_ascii=False, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, final)
            except FileExistsError:
                # A concurrent retry of the same webhook won: its promise is the one to repeat.
                return self.read(final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        _fsync_dir(self.directory)
        return request

    def pending(self) -> list[Path]:
        """Files waiting for the database, oldest name first (temporary files and rejected ones excluded)."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if p.is_file())

    def count(self) -> int:
        return len(self.pending())

    def read(self, path: Path) -> SpooledRequest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SpoolFileInvalid(f"not JSON: {exc}") from None
        return SpooledRequest.from_json(data)

    def remove(self, path: Path) -> None:
        """Delete a file whose request the database now holds."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        _fsync_dir(self.directory)

    def quarantine(self, path: Path, reason: str, now: datetime) -> None:
        """Move a file that can never be stored to rejected/, with the reason beside it (for a person to read)."""
        self.rejected_dir.mkdir(exist_ok=True)
        target = self.rejected_dir / path.name
        note = self.rejected_dir / f"{path.name}.reason"
        note.write_text(f"{now.isoformat()} {reason}\n", encoding="utf-8")
        os.replace(path, target)
        _fsync_dir(self.rejected_dir)
        _fsync_dir(self.directory)
        log.error("spooled callback request %s rejected: %s", path.name, reason)

    def rejected(self) -> list[tuple[Path, str]]:
        """Quarantined files and why."""
        if not self.rejected_dir.is_dir():
            return []
        found = []
        for path in sorted(self.rejected_dir.glob("*.json")):
            note = path.with_name(f"{path.name}.reason")
            found.append((path, note.read_text(encoding="utf-8").strip() if note.is_file() else "(no reason recorded)"))
        return found

    def remove_stale_temporaries(self) -> None:
        # File ages are the file system's wall clock, not the injected one (which may be frozen in tests).
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for temp in self.directory.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()

    @contextlib.contextmanager
    def locked(self, *, wait: bool) -> Iterator[bool]:
        """One replay at a time per machine (web workers' threads and the CLI): True when this one holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def replay_spool(
    service: CallbackService, spool_dir: str | os.PathLike[str], now: datetime, *, wait: bool = False
) -> tuple[int, int]:
    """Move spooled requests into the database: (stored, kept for later).

    A file is deleted only after its callback is committed (or an open one for the number already exists);
    kept when the database is still unavailable; quarantined when it can never be stored. With `wait`, waits
    for a replay running elsewhere on this machine instead of leaving the work to it.
    """
    spool = Spool(spool_dir)
    if not spool.pending():
        return 0, 0
    stored = 0
    with spool.locked(wait=wait) as held:
        if not held:
            return 0, spool.count()
        spool.remove_stale_temporaries()
        for path in spool.pending():
            try:
                request = spool.read(path)
            except FileNotFoundError:
                continue
            except SpoolFileInvalid as exc:
                spool.quarantine(path, str(exc), now)
                continue
            try:
                result = service.request(
                    phone=request.phone,
                    queue=request.queue,
                    language=request.language,
                    channel=request.channel,
                    actor=f"spool:{request.call_sid}",
                    arrived_at=request.arrived_at,
                    taken_at=request.requested_at,
                )
            except CallbackError as exc:
                spool.quarantine(path, f"{exc.code}: {exc.message}", now)
                continue
            except (DatabaseUnavailable, SQLAlchemyError, OSError) as exc:
                log.warning("callback spool kept for later, the database is unavailable: %s", exc)
                break
            except Exception:  # our bug, not the file's: keep it, try the others
                log.exception("could not replay spooled callback request %s", path.name)
                continue
            if result.created and result.callback.deadline_at != request.deadline_at:
                # Only when the queue's policy or calendar changed between the call and the replay.
                log.warning(
                    "callback for %s stored with deadline %s; the caller was promised %s",
                    mask(request.phone),
                    result.callback.deadline_at.isoformat(),
                    request.deadline_at.isoformat(),
                )
            spool.remove(path)
            stored += 1
        return stored, spool.count()


class SpoolReplayer:
    """Runs `replay` at once and then every `interval` seconds on a daemon thread, until stopped."""

    def __init__(self, replay: Callable[[], object], interval: float):
        self.replay = replay
        self.interval = interval
        self.first_pass = threading.Event()  # set after the first replay (tests and start-up checks wait on it)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="callback-spool-replay", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end after the replay in progress, and wait for it up to `timeout` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.replay()
            except Exception:  # the thread must outlive any one bad pass
                log.exception("callback spool replay failed")
            finally:
                self.first_pass.set()
            self._stop.wait(self.interval)


__all__ = ["Spool", "SpoolFileInvalid", "SpoolReplayer", "SpooledRequest", "replay_spool", "take"]
