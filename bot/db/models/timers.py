"""Timers: reminders and escalations due at a time (PRODUCT.md §5), kept in the database so they survive
restarts and fire once, whichever process gets to them first.

A timer is set in the transaction of the change that starts it (a ticket opened, an escrow funded, delivered
or disputed), one per order, kind and `generation` (what started it: the ticket's opening, the escrow's
version). Firing sets `fired_at` once (compare-and-set on `fired_at IS NULL`) and, in the same transaction,
writes its message to the outbox, or nothing when the change it waited for happened meanwhile (`outcome`
says which). A timer never moves money.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db.types import BigIntPK, UTCDateTime, utcnow


class TimerOutcome(StrEnum):
    FIRED = "fired"  # its message was written to the outbox
    OBSOLETE = "obsolete"  # what it waited for happened before it was due: nothing was said


class Timer(SQLModel, table=True):
    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("order_id", "kind", "generation", name="uq_timers_order_kind_generation"),
        Index("ix_timers_due", "fired_at", "due_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    order_id: str = Field(
        sa_column=Column(String(64), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    generation: int = Field(sa_column=Column(Integer, nullable=False))
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))  # the once-key of its message
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    fired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    outcome: TimerOutcome | None = Field(default=None, sa_column=Column(String(16)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
