"""Guarantee tickets: one per order, the pending requests that wait for an order, guild settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Text, false, text
from sqlmodel import Field, SQLModel, col

from bot.db.types import BigIntPK, Snowflake, UTCDateTime, utcnow


class TicketState(StrEnum):
    OPENING = "opening"  # the row exists, the Discord channel is being made (resumed after a restart)
    OPEN = "open"  # the channel exists and carries the summary message
    ORPHANED = "orphaned"  # the channel was deleted by hand; `/guarantee open` makes a new one
    CLOSING = "closing"  # an officer closed it: its `ticket.close` effect saves the transcript, then the channel goes
    CLOSED = "closed"  # closed by an officer


class RequestState(StrEnum):
    PENDING = "pending"  # waiting for the agreement event
    FULFILLED = "fulfilled"  # the event arrived and the checks passed: a ticket was opened
    REJECTED = "rejected"  # the event arrived and a check failed
    TO_PROVE = "to_prove"  # the event arrived; emails are proven with codes, so the requester asks again
    EXPIRED = "expired"  # nothing arrived in time


class GuildConfig(SQLModel, table=True):
    """What `/guarantee setup` chose for a guild; missing values fall back to the settings."""

    __tablename__ = "guild_configs"

    guild_id: int = Field(sa_column=Column(Snowflake, primary_key=True, autoincrement=False))
    officer_role_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    category_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    log_channel_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    updated_by: int | None = Field(default=None, sa_column=Column(Snowflake))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Ticket(SQLModel, table=True):
    """The order's ticket. `order_id` is UNIQUE: a second open finds this row instead of making one."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_queue", "guild_id", "state", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    order_id: str = Field(
        sa_column=Column(String(64), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    guild_id: int = Field(sa_column=Column(Snowflake, nullable=False))
    state: TicketState = Field(default=TicketState.OPENING, sa_column=Column(String(16), nullable=False))
    freelancer_id: int = Field(sa_column=Column(Snowflake, nullable=False, index=True))
    buyer_id: int | None = Field(default=None, sa_column=Column(Snowflake, index=True))
    channel_id: int | None = Field(default=None, sa_column=Column(Snowflake, unique=True))
    summary_message_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    # Where the freelancer asked: the fallback for a mention when their DMs are closed.
    origin_channel_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    claimed_by: int | None = Field(default=None, sa_column=Column(Snowflake))
    # Proven with an emailed one-time code (SMTP_URL set); false: the email was compared, not proven.
    freelancer_proven: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    buyer_proven: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    # The order's seller email changed (`order.updated` before funding): `freelancer_id` is no longer verified,
    # was removed from the channel, acts as nobody, and whoever proves the new email with `/guarantee open`
    # becomes the freelancer. (The buyer's side needs no flag: `buyer_id` is cleared and `/guarantee join` works.)
    freelancer_unverified: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    opened_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # Closing (`bot.services.closing.closer`): who asked and why, then each step as it is done, so a closing
    # resumed after a crash skips what is done (a saved transcript is never read again from a channel).
    closed_by: int | None = Field(default=None, sa_column=Column(Snowflake))
    close_reason: str | None = Field(default=None, sa_column=Column(Text))
    transcript_html: str | None = Field(default=None, sa_column=Column(Text))
    transcript_text: str | None = Field(default=None, sa_column=Column(Text))
    transcript_sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    transcript_posted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    parties_told_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # Set by the retention purge (TRANSCRIPT_RETENTION_DAYS after closing): its records are gone, never purged twice.
    purged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


# `/guarantee queue`'s default page (live tickets: unclaimed first, then oldest first) read in index
# order instead of sorting every live ticket of the guild (migration 0005_ticket_queue_index). Partial:
# a query uses it only when it names these states as literals (SQLite does not match bound parameters).
LIVE_QUEUE_PREDICATE = "state IN ('opening', 'open')"
Index(
    "ix_tickets_live_queue",
    col(Ticket.guild_id),
    col(Ticket.claimed_by).is_not(None),
    col(Ticket.created_at),
    col(Ticket.id),
    sqlite_where=text(LIVE_QUEUE_PREDICATE),
    postgresql_where=text(LIVE_QUEUE_PREDICATE),
)


class TicketRequest(SQLModel, table=True):
    """A `/guarantee open` made before the order's agreement event arrived."""

    __tablename__ = "ticket_requests"
    __table_args__ = (
        Index("ix_ticket_requests_gig", "gig_key", "state"),
        # One waiting request per person and gig: two opens at once refresh one request, not make two.
        Index(
            "ux_ticket_requests_pending",
            "user_id",
            "gig_key",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    guild_id: int = Field(sa_column=Column(Snowflake, nullable=False))
    channel_id: int | None = Field(default=None, sa_column=Column(Snowflake))
    user_id: int = Field(sa_column=Column(Snowflake, nullable=False))
    email: str = Field(sa_column=Column(String(320), nullable=False))
    gig_key: str = Field(sa_column=Column(Text, nullable=False))
    state: RequestState = Field(default=RequestState.PENDING, sa_column=Column(String(16), nullable=False))
    order_id: str | None = Field(default=None, sa_column=Column(String(64)))
    outcome: str | None = Field(default=None, sa_column=Column(Text))  # what the requester was told
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    notified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
