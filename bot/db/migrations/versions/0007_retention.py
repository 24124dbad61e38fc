"""retention: tickets remember when their closed records were purged (`guarantor purge`, the daily job)

Revision ID: 0007_retention
Revises: 0005_ticket_queue_index
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0007_retention"
down_revision: str | None = "0005_ticket_queue_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of the table, which would drop the expression index of 0005).
    op.add_column("tickets", sa.Column("purged_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "purged_at")  # SQLite 3.35+ drops a column in place, as PostgreSQL does
