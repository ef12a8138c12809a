"""Honest promises: the SLA's own deadline beside the quoted one, planned agent shifts, the customer SMS outbox

Revision ID: 0008_forecast
Revises: 0005_fencing
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_forecast"
down_revision: str | None = "0005_fencing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deadline_from", sa.String(length=16), nullable=True))
    op.create_table(
        "agent_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_agent_shifts_agent_id_agents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_shifts")),
    )
    op.create_index(op.f("ix_agent_shifts_agent_id"), "agent_shifts", ["agent_id"], unique=False)
    op.create_index("ix_agent_shifts_ends_at", "agent_shifts", ["ends_at"], unique=False)
    op.create_table(
        "customer_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=200), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], name=op.f("fk_customer_sms_callback_id_callbacks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_sms")),
        sa.UniqueConstraint("callback_id", "kind", "attempt_number", name="uq_customer_sms_callback_kind_attempt"),
    )
    op.create_index(op.f("ix_customer_sms_callback_id"), "customer_sms", ["callback_id"], unique=False)
    op.create_index("ix_customer_sms_unsent", "customer_sms", ["sent_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customer_sms_unsent", table_name="customer_sms")
    op.drop_index(op.f("ix_customer_sms_callback_id"), table_name="customer_sms")
    op.drop_table("customer_sms")
    op.drop_index("ix_agent_shifts_ends_at", table_name="agent_shifts")
    op.drop_index(op.f("ix_agent_shifts_agent_id"), table_name="agent_shifts")
    op.drop_table("agent_shifts")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("deadline_from")
        batch_op.drop_column("sla_deadline_at")
