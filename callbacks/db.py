"""Engines and sessions: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) by default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Engine,
    String,
    any_,
    bindparam,
    column,
    create_engine,
    event,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration: a new migration changes it too (tests/callbacks/test_migrations_match_models.py says so
# when it does not). Known here so that a worker or a readiness check needs no Alembic to compare.
SCHEMA_HEAD = "0013_security"
VERSION_TABLE = "alembic_version"


def one_of(column: Any, values: Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(:array)`, one statement text whatever the number of values
    (an IN-list is a new text for every length, which the driver parses again and the server plans again)."""
    condition: ColumnElement[bool]
    if dialect == "postgresql":
        condition = column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    else:
        condition = column.in_(list(values))
    return condition


class DatabaseUnavailable(Exception):
    """The database could not be reached or answered with an error; nothing was written."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see "begin" below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # BEGIN IMMEDIATE takes the write lock up front: a read-then-write transaction (a claim,
            # a dedupe check) cannot fail half-way with "database is locked" after reading stale data.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("connect_timeout", 5)
    return create_engine(url, connect_args=connect_args, **kwargs)


class Database:
    """An engine with its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def new_session(self) -> Session:
        return self._sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    def schema_revision(self) -> str | None:
        """The Alembic revision(s) the database is at, comma-separated (None when never migrated).

        Read from Alembic's version table without importing Alembic: the worker asks at start and the web's
        readiness check at every probe, and Alembic with its templates is about 10 MiB in a process."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(VERSION_TABLE):
                return None
            versions = select(column("version_num", String)).select_from(table(VERSION_TABLE))
            heads = conn.execute(versions).scalars().all()
        return ",".join(sorted(heads)) or None

    def server_time(self) -> datetime:
        """The database server's own clock (aware UTC): the one clock every worker on every machine shares, used
        only to notice a worker whose clock has drifted (deadlines and leases use the injected clock)."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                text_value = conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
                return datetime.fromisoformat(text_value).replace(tzinfo=UTC)
            value: datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        return value.astimezone(UTC)

    def has_table(self, name: str) -> bool:
        return inspect(self.engine).has_table(name)


def alembic_config(url: str) -> Any:
    """An Alembic Config for our migrations against `url` (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision our migrations define, like Database.schema_revision: what this release's worker and
    web processes need the database at (`SCHEMA_HEAD`, checked against the migrations by the tests)."""
    return SCHEMA_HEAD


def migrations_head() -> str | None:
    """The newest revision(s) the migrations folder defines, comma-separated, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return ",".join(sorted(heads)) or None


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema at `url` up to `revision` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
