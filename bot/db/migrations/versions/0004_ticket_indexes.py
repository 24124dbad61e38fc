"""ticket indexes: orders by gig key and by seller email (trimmed, lower case)

Revision ID: 0004_ticket_indexes
Revises: 0002_tickets
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types  # noqa: F401  (kept like every revision: types used by autogenerate)

revision: str = "0004_ticket_indexes"
down_revision: str | None = "0002_tickets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_gig_key", "orders", ["gig_key"], unique=False)
    # PostgreSQL stores trim(x) as TRIM(BOTH FROM x); written that way autogenerate sees no difference.
    trim = "TRIM(BOTH FROM seller_email)" if op.get_bind().dialect.name == "postgresql" else "trim(seller_email)"
    op.create_index("ix_orders_seller_email_key", "orders", [sa.text(f"lower({trim})")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_seller_email_key", table_name="orders")
    op.drop_index("ix_orders_gig_key", table_name="orders")
