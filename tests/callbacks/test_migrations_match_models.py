"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from callbacks.db import head_revision
from callbacks.models import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_database_is_at_the_newest_migration(db):
    assert db.schema_revision() == head_revision()
