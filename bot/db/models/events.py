"""Marketplace webhook events, stored verbatim before they are acknowledged."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from bot.db.types import BigIntPK, UTCDateTime, utcnow


class EventStatus(StrEnum):
    PENDING = "pending"  # stored, not processed yet (or waiting for a retry)
    WAITING = "waiting"  # refers to an order whose agreement has not arrived yet
    PROCESSED = "processed"
    IGNORED = "ignored"  # unknown type, or nothing to do: stored and kept, no effect
    FAILED = "failed"  # gave up after the retry budget; kept for an operator


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    webhook_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(64), nullable=False))
    order_id: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    status: EventStatus = Field(default=EventStatus.PENDING, sa_column=Column(String(16), nullable=False))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
