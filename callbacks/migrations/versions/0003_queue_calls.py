"""queue calls: agents rung for callers waiting in inbound queues, and an index of the callers waiting

Revision ID: 0003_queue_calls
Revises: 0002_dispatch
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_queue_calls"
down_revision: str | None = "0002_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("enqueued_at IS NOT NULL AND answered_at IS NULL AND ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "agent_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("worker_id", sa.String(length=120), nullable=True),
        sa.Column("inbound_call_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dial_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bridged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("call_status", sa.String(length=16), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_agent_calls_agent_id_agents"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["inbound_call_id"], ["inbound_calls.id"],
                                name=op.f("fk_agent_calls_inbound_call_id_inbound_calls"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_agent_calls_call_sid")),
    )
    with op.batch_alter_table("agent_calls", schema=None) as batch_op:
        batch_op.create_index("ix_agent_calls_queue_state", ["queue", "state"], unique=False)
        batch_op.create_index("ix_agent_calls_state_claimed_until", ["state", "claimed_until"], unique=False)
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_calls_waiting", ["queue", "enqueued_at"], unique=False,
                              sqlite_where=WAITING, postgresql_where=WAITING)


def downgrade() -> None:
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_calls_waiting")
    with op.batch_alter_table("agent_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_calls_state_claimed_until")
        batch_op.drop_index("ix_agent_calls_queue_state")
    op.drop_table("agent_calls")
