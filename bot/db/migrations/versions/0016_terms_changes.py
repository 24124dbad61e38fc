"""terms changes before funding: the escrow version they gave, and a freelancer whose email changed

Revision ID: 0016_terms_changes
Revises: 0013_email_proof
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_terms_changes"
down_revision: str | None = "0013_email_proof"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0003_escrow",)


def upgrade() -> None:
    # In place (ADD COLUMN), not a batch copy: that would lose the partial queue index SQLite cannot reflect.
    op.add_column("escrows", sa.Column("terms_changed_version", sa.Integer(), nullable=True))
    op.add_column(
        "tickets", sa.Column("freelancer_unverified", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("tickets", "freelancer_unverified")  # SQLite 3.35+ drops a column in place
    op.drop_column("escrows", "terms_changed_version")
