"""email proof: one-time codes, failed checks, and whether each ticket's parties were proven

Revision ID: 0013_email_proof
Revises: 0011_pending_request_key
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0013_email_proof"
down_revision: str | None = "0011_pending_request_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_codes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(43), nullable=False, unique=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resend_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("user_id", "subject", name="ux_email_codes_person_subject"),
    )
    op.create_table(
        "proof_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_proof_failures_user", "proof_failures", ["user_id", "at"])
    op.create_index("ix_proof_failures_subject", "proof_failures", ["subject", "at"])
    # In place (ADD COLUMN), not a batch copy: that would lose the partial queue index SQLite cannot reflect.
    op.add_column("tickets", sa.Column("freelancer_proven", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("tickets", sa.Column("buyer_proven", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("tickets", "buyer_proven")  # SQLite 3.35+ drops a column in place
    op.drop_column("tickets", "freelancer_proven")
    op.drop_index("ix_proof_failures_subject", table_name="proof_failures")
    op.drop_index("ix_proof_failures_user", table_name="proof_failures")
    op.drop_table("proof_failures")
    op.drop_table("email_codes")
