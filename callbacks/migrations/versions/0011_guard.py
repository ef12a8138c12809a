"""Nobody can turn the line against a stranger: do-not-call list, SMS codes for web requests, partner keys that
verify numbers themselves, indexes for the per-number and hourly caps

Revision ID: 0011_guard
Revises: 0008_forecast
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_guard"
down_revision: str | None = "0008_forecast"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "do_not_call",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_do_not_call")),
    )
    op.create_table(
        "phone_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_verifications")),
        sa.UniqueConstraint("public_id", name=op.f("uq_phone_verifications_public_id")),
    )
    op.create_index("ix_phone_verifications_phone_created_at", "phone_verifications", ["phone", "created_at"],
                    unique=False)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verifies_numbers", sa.Boolean(), server_default=sa.text("false"),
                                      nullable=False))
    op.create_index("ix_attempts_created_at", "attempts", ["created_at"], unique=False)
    op.create_index("ix_callbacks_phone", "callbacks", ["phone"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_callbacks_phone", table_name="callbacks")
    op.drop_index("ix_attempts_created_at", table_name="attempts")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("verifies_numbers")
    op.drop_index("ix_phone_verifications_phone_created_at", table_name="phone_verifications")
    op.drop_table("phone_verifications")
    op.drop_table("do_not_call")
