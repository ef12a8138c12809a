"""Supervisor accounts: argon2 password hashes, roles, and a lockout after repeated failed logins."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callbacks.db import Database
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.models import Supervisor

ADMIN, VIEWER = "admin", "viewer"
ROLES = (ADMIN, VIEWER)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

# argon2id with the library's defaults (RFC 9106 low-memory profile); parameters travel inside each hash,
# so raising them later only needs check_needs_rehash on the next successful login.
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
    return _hasher.hash(password)


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
        return supervisor


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
    """`supervisor` when the password was right and the account open; `locked_until` when it is locked."""

    supervisor: Supervisor | None
    locked_until: datetime | None = None


def authenticate(db: Database, email: str, password: str, now: datetime) -> LoginResult:
    """Check a login. Every failure counts; the 5th in a row locks the account for 15 minutes.

    While locked, even the right password is refused (and not checked), so guessing cannot continue.
    """
    try:
        email = normalise_email(email)
    except InvalidRequest:
        email = ""
    with db.session() as session:
        # FOR UPDATE serialises concurrent logins on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
        supervisor = (
            session.scalar(select(Supervisor).where(func.lower(Supervisor.email) == email).with_for_update())
            if email
            else None
        )
        if supervisor is None:
            _verify(_DUMMY_HASH, password)
            return LoginResult(None)
        if supervisor.locked_until is not None and supervisor.locked_until > now:
            return LoginResult(None, supervisor.locked_until)
        if not _verify(supervisor.password_hash, password):
            supervisor.failed_logins = (supervisor.failed_logins or 0) + 1
            if supervisor.failed_logins >= MAX_FAILED_LOGINS:
                supervisor.failed_logins = 0
                supervisor.locked_until = now + LOCKOUT
                return LoginResult(None, supervisor.locked_until)
            return LoginResult(None)
        supervisor.failed_logins = 0
        supervisor.locked_until = None
        supervisor.last_login_at = now
        if _hasher.check_needs_rehash(supervisor.password_hash):
            supervisor.password_hash = _hasher.hash(password)
        return LoginResult(supervisor)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
