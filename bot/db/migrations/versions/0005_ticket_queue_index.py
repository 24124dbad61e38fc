"""ticket queue index: live tickets of a guild in queue order (unclaimed first, then oldest)

Revision ID: 0005_ticket_queue_index
Revises: 0004_ticket_indexes
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types  # noqa: F401  (kept like every revision: types used by autogenerate)

revision: str = "0005_ticket_queue_index"
down_revision: str | None = "0004_ticket_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Partial: only the live states `/guarantee queue` lists by default (bot/db/models/tickets.py).
LIVE = "state IN ('opening', 'open')"


def upgrade() -> None:
    op.create_index(
        "ix_tickets_live_queue",
        "tickets",
        ["guild_id", sa.text("(claimed_by IS NOT NULL)"), "created_at", "id"],
        unique=False,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_live_queue", table_name="tickets")
