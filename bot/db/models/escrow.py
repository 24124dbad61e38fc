"""Escrow: one row per order (state + version for compare-and-set), the hash-chained audit
log with its one-row chain head, and the outbox of callbacks to the marketplace."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db.types import BigIntPK, UTCDateTime, utcnow


class Escrow(SQLModel, table=True):
    __tablename__ = "escrows"

    order_id: str = Field(sa_column=Column(String(64), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True))
    state: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    version: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    payment_reference: str | None = Field(default=None, sa_column=Column(Text))
    approved_by: str | None = Field(default=None, sa_column=Column(String(32)))  # Discord id or "marketplace"
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    flag: str | None = Field(default=None, sa_column=Column(Text))  # the latest thing officers must look at
    # The version the latest change of the order's terms gave the escrow (`order.updated` before funding): a
    # question or form opened on an older version was opened on the old terms, and is refused saying so.
    terms_changed_version: int | None = Field(default=None, sa_column=Column(Integer))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AuditEntry(SQLModel, table=True):
    """Append-only. `hash` covers every field but the note's text, which it covers through
    `note_sha256`, so a retention purge (note set to NULL) is told apart from an edit. `scheme` says how
    `hash` was made (`bot/services/escrow/audit.py`): `sha256` (no `AUDIT_KEY`) or `hmac-sha256`."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("order_id", "source_event_id", "action", name="uq_audit_event_action"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    seq: int = Field(sa_column=Column(Integer, nullable=False, unique=True))
    order_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    actor: str = Field(sa_column=Column(String(32), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    from_state: str = Field(sa_column=Column(String(32), nullable=False))
    to_state: str = Field(sa_column=Column(String(32), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    note_sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    source_event_id: str | None = Field(default=None, sa_column=Column(String(255)))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))
    scheme: str = Field(default="sha256", sa_column=Column(String(16), nullable=False, server_default="sha256"))


class AuditHead(SQLModel, table=True):
    """One row (id=1): the last sequence number and hash, locked by every append."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    seq: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class CallbackDelivery(SQLModel, table=True):
    """An `escrow.state_changed` callback waiting for (or done with) delivery."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (Index("ix_callback_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    webhook_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    order_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_status: int | None = Field(default=None, sa_column=Column(Integer))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))  # a sender's lease
