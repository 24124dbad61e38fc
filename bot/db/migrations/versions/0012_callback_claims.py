"""callback claims: a sender holds a callback (its lease) while it posts it, so no two processes send one

Revision ID: 0012_callback_claims
Revises: 0006_one_claim
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0012_callback_claims"
down_revision: str | None = "0006_one_claim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callback_deliveries") as batch:
        batch.add_column(sa.Column("claimed_until", bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_deliveries") as batch:
        batch.drop_column("claimed_until")
