"""Keys for the JSON API: created and shown once, stored only as hashes, revoked by name."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.errors import CallbackError, InvalidRequest
from callbacks.models import ApiKey

KEY_PREFIX = "ivr_"
# own: the key sees and cancels only the callbacks requested with it; all: every callback of every channel.
SCOPE_OWN, SCOPE_ALL = "own", "all"
SCOPES = (SCOPE_OWN, SCOPE_ALL)


def hash_key(key: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(db: Database, name: str, now: datetime, scope: str = SCOPE_OWN, *,
                   verifies_numbers: bool = False) -> str:
    """Store a new key's hash under `name` with `scope` and return the key (shown once). `verifies_numbers`: a
    partner who proves the customer owns the number before calling us (its requests skip the SMS code)."""
    if scope not in SCOPES:
        raise InvalidRequest("scope_invalid", f"Unknown scope {scope!r}; expected one of {SCOPES}.", "scope")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
            raise InvalidRequest("api_key_exists", f"An API key named {name!r} already exists.", "name")
        session.add(ApiKey(name=name, key_hash=hash_key(key), created_at=now, scope=scope,
                           verifies_numbers=verifies_numbers))
    return key


def revoke_api_key(db: Database, name: str, now: datetime) -> bool:
    with db.session() as session:
        result = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
            update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
        ))
        return result.rowcount == 1


def find_api_key(session: Session, key: str) -> ApiKey | None:
    """The active key matching `key`, or None (unknown or revoked)."""
    found = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    return found if found is not None and found.revoked_at is None else None


class ApiKeyRevoked(CallbackError):
    """The key was revoked after this process last read it (the request's own transaction saw it)."""

    status = 401

    def __init__(self) -> None:
        super().__init__("unauthorized", "The API key is not valid or has been revoked.")


@dataclass(frozen=True)
class KeyFacts:
    """What a request needs to know of an active key (a key never changes but for its revocation)."""

    id: int
    name: str
    scope: str
    verifies_numbers: bool


# How long a process keeps an active key's facts. Only for views whose own transaction checks that the key is
# still active (the callback create, `CallbackService.request(api_key_id=...)`): revocation is not delayed by it.
KEY_FACTS_TTL = timedelta(minutes=5)
KEY_FACTS_MAX = 1024


class ApiKeyCache:
    """Active keys' facts by hash, kept `ttl` of the injected clock per process: a create needs no transaction of
    its own to look its key up. Unknown and revoked keys are never kept (a new key works at once; a guess always
    asks the store). A cached key's revocation is caught by the caller's own transaction (`ApiKeyRevoked`), which
    then drops it with `forget`."""

    def __init__(self, db: Database, clock: Clock, ttl: timedelta = KEY_FACTS_TTL, size: int = KEY_FACTS_MAX):
        self.db, self.clock, self.ttl, self.size = db, clock, ttl, size
        self._lock = threading.Lock()
        self._facts: dict[str, tuple[datetime, KeyFacts]] = {}

    def find(self, key: str) -> KeyFacts | None:
        digest, now = hash_key(key), self.clock.now()
        with self._lock:
            cached = self._facts.get(digest)
        if cached is not None and cached[0] <= now < cached[0] + self.ttl:
            return cached[1]
        with self.db.session() as session:
            found = find_api_key(session, key)
            facts = None if found is None else KeyFacts(found.id, found.name, found.scope,
                                                        bool(found.verifies_numbers))
        with self._lock:
            if facts is None:
                self._facts.pop(digest, None)
            else:
                if len(self._facts) >= self.size:
                    self._facts.clear()  # more keys in use than partners we have: a misuse, not worth an LRU
                self._facts[digest] = (now, facts)
        return facts

    def forget(self, key_id: int) -> None:
        with self._lock:
            for digest in [d for d, (_at, facts) in self._facts.items() if facts.id == key_id]:
                del self._facts[digest]
