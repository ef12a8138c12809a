"""callbacks.conversation_at: when the kept conversation started, for SLA figures without a join

Revision ID: 0004_conversation_at
Revises: 0003_queue_calls
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_conversation_at"
down_revision: str | None = "0003_queue_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_at", sa.DateTime(timezone=True), nullable=True))
    # Callbacks completed before this column existed: take the start of their connected attempt.
    op.execute(
        """
        UPDATE callbacks SET conversation_at = (
            SELECT MIN(COALESCE(attempts.bridged_at, attempts.answered_at, attempts.dial_started_at))
            FROM attempts
            WHERE attempts.callback_id = callbacks.id AND attempts.outcome IN ('connected', 'completed')
        )
        WHERE status = 'completed'
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("conversation_at")
