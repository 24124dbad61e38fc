"""one claim, one escrow per order: a ticket's claim lives on the ticket only; every order has its escrow

Revision ID: 0006_one_claim
Revises: 0003_escrow
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_one_claim"
down_revision: str | None = "0003_escrow"
branch_labels: str | Sequence[str] | None = None
# The claim moves onto `tickets` (the tickets branch) and escrows are made for `orders` (the foundation).
depends_on: str | Sequence[str] | None = "0002_tickets"


def upgrade() -> None:
    # A claim recorded only on the escrow (its ticket row had none) moves to the ticket.
    op.execute(
        "UPDATE tickets SET claimed_by = "
        "(SELECT escrows.claimed_by FROM escrows WHERE escrows.order_id = tickets.order_id) "
        "WHERE claimed_by IS NULL AND EXISTS "
        "(SELECT 1 FROM escrows WHERE escrows.order_id = tickets.order_id AND escrows.claimed_by IS NOT NULL)"
    )
    with op.batch_alter_table("escrows") as batch:
        batch.drop_column("claimed_by")
    # Orders that arrived before escrows existed get theirs now (the order book makes one with each new order).
    op.execute(
        "INSERT INTO escrows (order_id, state, version, created_at, updated_at) "
        "SELECT orders.id, 'awaiting_funding', 0, orders.created_at, orders.created_at FROM orders "
        "WHERE NOT EXISTS (SELECT 1 FROM escrows WHERE escrows.order_id = orders.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("escrows") as batch:
        batch.add_column(sa.Column("claimed_by", sa.BigInteger(), nullable=True))
