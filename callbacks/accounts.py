"""Supervisor accounts: argon2 password hashes, roles, sessions that end, and a growing delay after repeated failed
log-ins for one e-mail from one address."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.db import Database
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.models import LoginThrottle, Supervisor

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ADMIN, VIEWER = "admin", "viewer"
ROLES = (ADMIN, VIEWER)
# Wrong passwords allowed in a row for one e-mail from one address before each further try must wait.
FREE_ATTEMPTS = 5
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106 low-memory profile); parameters travel inside each hash, so
    raising them later only needs check_needs_rehash on the next successful login.

    Imported on the first hash or log-in: every web process imports this module for the supervisors' pages, and
    most never see a log-in."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so that a wrong address costs as long as a wrong password.

    Made on a process's first log-in, whatever its answer (so that first answer's time says nothing either), not at
    import: hashing takes argon2's 64 MiB and tens of milliseconds in every process that imports this module."""
    return _hasher().hash(secrets.token_urlsafe(16))


def normalise_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidRequest("email_invalid", f"{raw!r} is not an e-mail address.", "email")
    return email


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            "password_too_short", f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", "password"
        )
    return _hasher().hash(password)


def generate_password() -> str:
    """A random password of about 120 bits that reads without ambiguity."""
    return secrets.token_urlsafe(15)


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the stored hash: kept in the session so that a password change ends old sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def add_supervisor(
    db: Database, email: str, password: str, now: datetime, role: str = ADMIN, language: str | None = None
) -> Supervisor:
    """Create an account; the e-mail is the login and must be new."""
    if role not in ROLES:
        raise InvalidRequest("role_invalid", f"Unknown role {role!r}; expected one of {ROLES}.", "role")
    email = normalise_email(email)
    password_hash = hash_password(password)
    with db.session() as session:
        if session.scalar(select(Supervisor.id).where(Supervisor.email == email)) is not None:
            raise Conflict("supervisor_exists", f"A supervisor with e-mail {email} already exists.", "email")
        supervisor = Supervisor(
            email=email,
            password_hash=password_hash,
            role=role,
            language=language,
            failed_logins=0,
            created_at=now,
            session_version=1,
        )
        session.add(supervisor)
    return supervisor


def set_password(db: Database, email: str, password: str) -> Supervisor:
    """Replace a password and lift any lockout."""
    password_hash = hash_password(password)
    with db.session() as session:
        supervisor = _by_email(session, email)
        supervisor.password_hash = password_hash
        supervisor.failed_logins = 0
        supervisor.locked_until = None
        supervisor.session_version = (supervisor.session_version or 1) + 1
        return supervisor


def end_sessions(db: Database, email: str) -> Supervisor:
    """End every console session of this supervisor (a copied cookie included): `ivr supervisor logout-all`."""
    with db.session() as session:
        supervisor = _by_email(session, email)
        supervisor.session_version = (supervisor.session_version or 1) + 1
        return supervisor


def end_sessions_of(db: Database, supervisor_id: int, version: int) -> None:
    """Log-out: end the sessions made at `version` (a session already ended stays ended; nothing else changes)."""
    with db.session() as session:
        session.execute(
            update(Supervisor)
            .where(Supervisor.id == supervisor_id, Supervisor.session_version == version)
            .values(session_version=version + 1)
        )


def set_role(db: Database, email: str, role: str) -> Supervisor:
    if role not in ROLES:
        raise InvalidRequest("role_invalid", f"Unknown role {role!r}; expected one of {ROLES}.", "role")
    with db.session() as session:
        supervisor = _by_email(session, email)
        supervisor.role = role
        return supervisor


def list_supervisors(db: Database) -> list[Supervisor]:
    with db.session() as session:
        return list(session.scalars(select(Supervisor).order_by(Supervisor.email)))


def get_supervisor(db: Database, supervisor_id: int) -> Supervisor | None:
    with db.session() as session:
        return session.get(Supervisor, supervisor_id)


def _by_email(session: Session, email: str) -> Supervisor:
    found = session.scalar(select(Supervisor).where(Supervisor.email == normalise_email(email)))
    if found is None:
        raise NotFound("supervisor_not_found", f"No supervisor with e-mail {email}.", "email")
    return found


@dataclass(frozen=True)
class LoginResult:
    """`supervisor` when the password was right; `retry_at` when this e-mail from this address must wait."""

    supervisor: Supervisor | None
    retry_at: datetime | None = None


def login_delay(failures: int) -> timedelta:
    """How long one e-mail from one address waits after `failures` wrong passwords in a row: nothing for the first
    few, then a delay doubling from a minute up to a quarter of an hour."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(FIRST_DELAY * (1 << min(failures - FREE_ATTEMPTS, 16)), MAX_DELAY)


def authenticate(db: Database, email: str, password: str, now: datetime, address: str = "") -> LoginResult:
    """Check a log-in from a client `address`.

    Failures count per typed e-mail and address (`LoginThrottle`), whether the account exists or not, so that the
    answers (wrong, or wait until...) and their time (one argon2 verification each) say nothing about who has an
    account, and a stranger's guessing slows down only the stranger. While an e-mail must wait at an address, even
    the right password is refused there (guessing cannot continue); elsewhere it still works.
    """
    typed = (email or "").strip().lower()[:254]
    try:
        email = normalise_email(email)
    except InvalidRequest:
        email = ""
    address = (address or "")[:64]
    _dummy_hash()
    try:
        return _authenticate(db, typed, email, password, now, address)
    except IntegrityError:  # a concurrent failure for the same e-mail and address was recorded first
        return LoginResult(None)


def _authenticate(db: Database, typed: str, email: str, password: str, now: datetime, address: str) -> LoginResult:
    with db.session() as session:
        throttle = session.scalar(
            select(LoginThrottle).where(LoginThrottle.email == typed, LoginThrottle.address == address)
            .with_for_update()
        )
        # FOR UPDATE serialises concurrent logins on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
        supervisor = (
            session.scalar(select(Supervisor).where(func.lower(Supervisor.email) == email).with_for_update())
            if email
            else None
        )
        if throttle is not None and throttle.retry_at is not None and throttle.retry_at > now:
            _verify(_dummy_hash(), password)  # the same time as any other answer
            return LoginResult(None, throttle.retry_at)
        right = _verify(supervisor.password_hash if supervisor is not None else _dummy_hash(), password)
        if supervisor is None or not right:
            if throttle is None:
                throttle = LoginThrottle(email=typed, address=address, failures=0, last_failed_at=now)
                session.add(throttle)
            throttle.failures = (throttle.failures or 0) + 1
            throttle.last_failed_at = now
            delay = login_delay(throttle.failures)
            throttle.retry_at = now + delay if delay else None
            # Forget old failures (a day without one) as new ones come: the table stays small.
            session.execute(delete(LoginThrottle).where(LoginThrottle.last_failed_at < now - FORGET_AFTER))
            return LoginResult(None, throttle.retry_at)
        if throttle is not None:
            session.delete(throttle)
        supervisor.failed_logins = 0
        supervisor.locked_until = None
        supervisor.last_login_at = now
        if _hasher().check_needs_rehash(supervisor.password_hash):
            supervisor.password_hash = _hasher().hash(password)
        return LoginResult(supervisor)


def _verify(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
