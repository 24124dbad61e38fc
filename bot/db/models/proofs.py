"""Email proof: the one-time codes mailed to an order's registered address, and the failed checks that
lock a person or an order out for a while (PRODUCT.md §3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db.types import BigIntPK, Snowflake, UTCDateTime, utcnow


class EmailCode(SQLModel, table=True):
    """One person's code for one subject (an order's seller side by its gig, or its buyer side by its id).

    Only a salted hash of the code is kept. A request that matched nothing gets a row too, with no order and
    a code nobody was sent, so that every refusal looks and behaves the same whether or not an order exists.
    """

    __tablename__ = "email_codes"
    __table_args__ = (UniqueConstraint("user_id", "subject", name="ux_email_codes_person_subject"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    token: str = Field(sa_column=Column(String(43), nullable=False, unique=True))  # what the Enter code button carries
    user_id: int = Field(sa_column=Column(Snowflake, nullable=False))
    subject: str = Field(sa_column=Column(String(80), nullable=False))
    purpose: str = Field(sa_column=Column(String(8), nullable=False))  # open | join
    order_id: str | None = Field(default=None, sa_column=Column(String(64)))  # None: nothing matched, nothing sent
    guild_id: int = Field(sa_column=Column(Snowflake, nullable=False))
    channel_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    code_hash: str = Field(sa_column=Column(String(128), nullable=False))
    salt: str = Field(sa_column=Column(String(64), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    resend_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ProofFailure(SQLModel, table=True):
    """A failed check (an email that did not match, a wrong code), counted per person and per subject."""

    __tablename__ = "proof_failures"
    __table_args__ = (
        Index("ix_proof_failures_user", "user_id", "at"),
        Index("ix_proof_failures_subject", "subject", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    user_id: int = Field(sa_column=Column(Snowflake, nullable=False))
    subject: str = Field(sa_column=Column(String(80), nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
