"""SLA figures from a daily rollup: one row per local day and queue, written once every callback of the day is
final (counts, and the waits to conversation by the second), so a quarter's figures read some 270 rows

Revision ID: 0012_speed
Revises: 0011_guard
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_speed"
down_revision: str | None = "0011_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_days",
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("canceled", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("unreachable", sa.Integer(), nullable=False),
        sa.Column("attempts_closed", sa.Integer(), nullable=False),
        sa.Column("waits", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("zone", "day", "queue", name=op.f("pk_sla_days")),
    )


def downgrade() -> None:
    op.drop_table("sla_days")
