"""Shared fixtures: an injected clock, the example configuration, real databases (SQLite and PostgreSQL), the app.

PostgreSQL: TEST_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres). Each xdist worker
gets its own database, migrated once; tables are emptied between tests. Outside CI a missing server skips those
tests with the reason printed; in CI (CI=true) it fails them.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from callbacks.clock import FrozenClock
from callbacks.db import Database, upgrade
from callbacks.models import Base
from config import ContactCentre, load_contact_centre
from config.settings import EXAMPLE_CONFIG

TEHRAN = ZoneInfo("Asia/Tehran")
# Sunday 22 November 2026, 10:00 in Tehran: a working day, mid-morning.
DEFAULT_NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TEHRAN)
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED = Path(os.environ.get("IVR_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture(autouse=True)
def _no_phone_number_in_the_logs() -> Iterator[None]:
    """Every test of the suite is also a test of its logs: a line production would write (INFO and up, quiet
    libraries excepted) that shows a phone number in full or a caller's typed digits fails the test that caused it.
    Works per test, so it holds under pytest-xdist too."""
    from tests.support.logs import Collector, leaks

    collector = Collector()
    root = logging.getLogger()
    level = root.level
    root.addHandler(collector)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(collector)
        root.setLevel(level)
    found = leaks(collector.records)
    if found:
        pytest.fail("unmasked phone numbers or typed digits in the logs:\n" + "\n".join(found[:20]), pytrace=False)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DEFAULT_NOW)


@pytest.fixture(scope="session")
def centre() -> ContactCentre:
    return load_contact_centre(EXAMPLE_CONFIG)


# -- databases ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once with Alembic; each test copies it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated PostgreSQL database of this xdist worker's own."""
    admin_url = make_url(PG_URL)
    # Unique per run as well as per xdist worker: two test runs on one server must not drop each other's database.
    name = f"ivr_test_{_worker_id(request)}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {admin_url.render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def make_database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if kind == "sqlite":
        path = tmp_path / "ivr.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return Database(f"sqlite:///{path}")
    db = Database(request.getfixturevalue("postgres_url"))
    _empty_postgres(db)
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: every test using it runs on SQLite and on PostgreSQL."""
    database = make_database(request.param, request, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = make_database("sqlite", request, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = make_database("postgres", request, tmp_path)
    yield database
    database.dispose()


# -- the app -----------------------------------------------------------------------------------------------------
@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Overrides for create_app; tests may add to it before asking for `app`."""
    return {
        "TESTING": True,
        "instance_path": tmp_path / "instance",
        "secret_key": "test-secret",
        "public_base_url": "https://support.example.com",
        "twilio_auth_token": "test-auth-token",
        "twilio_account_sid": "AC" + "0" * 32,
        "ratelimit_storage_url": "memory://",
    }


@pytest.fixture
def app(app_config: dict[str, Any], db: Database, centre: ContactCentre, clock: FrozenClock) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": db, "CENTRE": centre, "CLOCK": clock})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def api_key(app: Any) -> str:
    from callbacks.apikeys import create_api_key

    rt = app.extensions["ivr"]
    return create_api_key(rt.db, "tests", rt.clock.now(), scope="all")


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (Twilio schema and API description); skipped with a reason outside CI when absent."""
    if not (SHARED / "twilio").is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED}/twilio is missing (required in CI)")
        pytest.skip(f"{SHARED}/twilio not found; set IVR_SHARED_DIR")
    return SHARED
