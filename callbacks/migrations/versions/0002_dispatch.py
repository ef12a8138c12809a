"""dispatch: dial order and per-leg call status on attempts, shared dispatch state (pacing, digest)

Revision ID: 0002_dispatch
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_dispatch"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dial_order", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("agent_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("customer_status", sa.String(length=16), nullable=True))
    op.create_table(
        "dispatch_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dispatch_state")),
    )


def downgrade() -> None:
    op.drop_table("dispatch_state")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("customer_status")
        batch_op.drop_column("agent_status")
        batch_op.drop_column("dial_order")
