"""Sessions that end (a per-supervisor session version), log-in throttles per e-mail and address, API keys with
scopes and the key behind each callback

Existing API keys get the `all` scope: what every key could do before scopes existed.

Revision ID: 0013_security
Revises: 0012_speed
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_security"
down_revision: str | None = "0012_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supervisors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=8), server_default="all", nullable=False))
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_callbacks_api_key_id"), ["api_key_id"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttles")),
        sa.UniqueConstraint("email", "address", name=op.f("uq_login_throttles_email")),
    )
    op.create_index(op.f("ix_login_throttles_last_failed_at"), "login_throttles", ["last_failed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_throttles_last_failed_at"), table_name="login_throttles")
    op.drop_table("login_throttles")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_api_key_id"))
        batch_op.drop_column("api_key_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("scope")
    with op.batch_alter_table("supervisors", schema=None) as batch_op:
        batch_op.drop_column("session_version")
