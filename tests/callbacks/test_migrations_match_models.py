"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from callbacks.db import SCHEMA_HEAD, head_revision, migrations_head
from callbacks.models import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_database_is_at_the_newest_migration(db):
    assert db.schema_revision() == head_revision()


def test_the_release_knows_its_newest_migration() -> None:
    assert migrations_head() == SCHEMA_HEAD, (
        f"the migrations' newest revision is {migrations_head()}: set SCHEMA_HEAD in callbacks/db.py to it")


def test_a_database_never_migrated_is_at_nothing(tmp_path) -> None:
    from callbacks.db import Database

    fresh = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        assert fresh.schema_revision() is None
    finally:
        fresh.dispose()
