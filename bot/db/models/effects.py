"""The outbox of Discord effects: everything a committed change must still do on Discord.

A row is written in the same transaction as the change that causes it, under a unique
idempotency `key`, so a change has its effects exactly once whatever happens after the commit.
The bot's effect worker runs them, in `id` order per order, while Discord is ready; a worker
holds a row by its lease (`claimed_until`) while it runs it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from bot.db.types import BigIntPK, UTCDateTime, utcnow


class EffectStatus(StrEnum):
    PENDING = "pending"  # to do (or to retry at `next_attempt_at`)
    DONE = "done"
    DROPPED = "dropped"  # nothing left to do it on (the channel or ticket is gone); `last_error` says why


class DiscordEffect(SQLModel, table=True):
    __tablename__ = "discord_effects"
    __table_args__ = (
        Index("ix_discord_effects_due", "status", "next_attempt_at"),
        Index("ix_discord_effects_order", "order_id", "status", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    order_id: str = Field(sa_column=Column(String(64), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: EffectStatus = Field(default=EffectStatus.PENDING, sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
