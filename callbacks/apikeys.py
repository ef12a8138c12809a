"""Keys for the JSON API: created and shown once, stored only as hashes, revoked by name."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from callbacks.db import Database
from callbacks.errors import InvalidRequest
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
