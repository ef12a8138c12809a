"""Fenced attempts: the callback names its one live attempt, the lease moves to the attempt, stray calls are kept

Revision ID: 0005_fencing
Revises: 0004_conversation_at
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_fencing"
down_revision: str | None = "0004_conversation_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Attempts in flight keep their callback's lease; dialing callbacks name their attempt in flight.
LEASE_FROM_CALLBACK = """
UPDATE attempts SET lease_until = (SELECT claimed_until FROM callbacks WHERE callbacks.id = attempts.callback_id)
WHERE attempts.state IN ('created', 'unknown', 'dialing', 'in_progress')
"""
LIVE_ATTEMPT = """
UPDATE callbacks SET live_attempt_id = (
    SELECT max(attempts.id) FROM attempts WHERE attempts.callback_id = callbacks.id
    AND attempts.state IN ('created', 'unknown', 'dialing', 'in_progress'))
WHERE status = 'dialing'
"""
LEASE_TO_CALLBACK = """
UPDATE callbacks SET claimed_until = (
    SELECT max(lease_until) FROM attempts WHERE attempts.callback_id = callbacks.id
    AND attempts.state IN ('created', 'unknown', 'dialing', 'in_progress'))
WHERE status = 'dialing'
"""


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_attempts_state_lease_until", ["state", "lease_until"], unique=False)
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_attempt_id", sa.Integer(), nullable=True))
    op.execute(LEASE_FROM_CALLBACK)
    op.execute(LIVE_ATTEMPT)
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
    op.create_table(
        "stray_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("agent_call_id", sa.Integer(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cancel_result", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_stray_calls_attempt_id_attempts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["agent_call_id"], ["agent_calls.id"],
                                name=op.f("fk_stray_calls_agent_call_id_agent_calls"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stray_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_stray_calls_call_sid")),
    )
    with op.batch_alter_table("stray_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stray_calls_attempt_id"), ["attempt_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stray_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stray_calls_attempt_id"))
    op.drop_table("stray_calls")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.execute(LEASE_TO_CALLBACK)
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("live_attempt_id")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_state_lease_until")
        batch_op.drop_column("lease_until")
