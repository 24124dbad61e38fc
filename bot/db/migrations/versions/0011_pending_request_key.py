"""pending request key: one waiting ticket request per person and gig

Revision ID: 0011_pending_request_key
Revises: 0005_ticket_queue_index
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_pending_request_key"
down_revision: str | None = "0005_ticket_queue_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "state = 'pending'"


def upgrade() -> None:
    # Duplicates from before the key: the newest waiting request of a person and gig stays, the others expire.
    op.execute(
        "UPDATE ticket_requests SET state = 'expired' WHERE state = 'pending' AND EXISTS ("
        "SELECT 1 FROM ticket_requests AS newer WHERE newer.state = 'pending' AND newer.user_id = "
        "ticket_requests.user_id AND newer.gig_key = ticket_requests.gig_key AND newer.id > ticket_requests.id)"
    )
    op.create_index(
        "ux_ticket_requests_pending",
        "ticket_requests",
        ["user_id", "gig_key"],
        unique=True,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ux_ticket_requests_pending", table_name="ticket_requests")
