"""ticket closing: who closed a ticket and why, its transcript's files and digest, and each step as it is done

Revision ID: 0017_ticket_closing
Revises: 0013_email_proof
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0017_ticket_closing"
down_revision: str | None = "0013_email_proof"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place (ADD COLUMN), not a batch copy: that would lose the partial queue index SQLite cannot reflect.
    for column in (
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("transcript_html", sa.Text(), nullable=True),
        sa.Column("transcript_text", sa.Text(), nullable=True),
        sa.Column("transcript_sha256", sa.String(64), nullable=True),
        sa.Column("transcript_posted_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("parties_told_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
    ):
        op.add_column("tickets", column)


def downgrade() -> None:
    for name in (
        "parties_told_at", "transcript_posted_at", "transcript_sha256", "transcript_text", "transcript_html",
        "close_reason", "closed_by",
    ):  # fmt: skip
        op.drop_column("tickets", name)  # SQLite 3.35+ drops a column in place
