"""timers: reminders and escalations kept in the database, fired once

Revision ID: 0014_timers
Revises: 0012_callback_claims
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0014_timers"
down_revision: str | None = "0012_callback_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("due_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_id", "kind", "generation", name="uq_timers_order_kind_generation"),
    )
    op.create_index("ix_timers_due", "timers", ["fired_at", "due_at"])
    op.create_index("ix_timers_order_id", "timers", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_timers_order_id", table_name="timers")
    op.drop_index("ix_timers_due", table_name="timers")
    op.drop_table("timers")
