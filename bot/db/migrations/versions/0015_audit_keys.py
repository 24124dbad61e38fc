"""audit keys: each audit entry names the scheme of its hash (`sha256`, or `hmac-sha256` under AUDIT_KEY)

Entries made before this revision were chained with plain SHA-256 and say so.

Revision ID: 0015_audit_keys
Revises: 0012_callback_claims
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_audit_keys"
down_revision: str | None = "0012_callback_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("scheme", sa.String(16), nullable=False, server_default="sha256"))


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_column("scheme")
