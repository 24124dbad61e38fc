"""A transcript's header, read from the database: the order's terms (emails masked), the parties,
the officer who claimed the ticket, and the escrow's audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repos import closing as repo
from bot.db.types import utcnow
from bot.services.closing.transcript import AuditLine, Header, Person, Terms
from bot.services.errors import NotFoundError
from bot.services.tickets.verification import mask_email, mask_emails_in


class NoTicketError(NotFoundError):
    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"Order {order_id} has no ticket, so there is no transcript to make.")


def _person(discord_id: int | None, names: Mapping[int, str], email: str | None = None) -> Person | None:
    if discord_id is None:
        return None
    masked = mask_email(email) if email else None
    return Person(discord_id=discord_id, name=names.get(discord_id) or f"user {discord_id}", email=masked)


def build_header(source: repo.TranscriptSource, *, names: Mapping[int, str], now: datetime) -> Header:
    """The header from the rows; `names` are the display names Discord showed, by user id."""
    order, ticket = source.order, source.ticket
    freelancer = _person(ticket.freelancer_id, names, order.seller_email)
    assert freelancer is not None
    audit = tuple(
        AuditLine(
            seq=entry.seq,
            at=entry.created_at,
            action=entry.action,
            actor=entry.actor,
            role=entry.role,
            from_state=entry.from_state,
            to_state=entry.to_state,
            note=mask_emails_in(entry.note) if entry.note is not None else None,
            note_purged=entry.note is None and entry.note_sha256 is not None,
        )
        for entry in source.audit
    )
    return Header(
        order_id=order.id,
        guild_id=ticket.guild_id,
        channel_id=ticket.channel_id,
        terms=Terms(
            amount=order.amount,
            currency=order.currency,
            delivery_due=order.delivery_due,
            deliverables=mask_emails_in(order.deliverables),
        ),
        escrow_state=source.escrow.state if source.escrow is not None else "none",
        freelancer=freelancer,
        buyer=_person(ticket.buyer_id, names, order.buyer_email),
        officer=_person(ticket.claimed_by, names),
        audit=audit,
        generated_at=now,
    )


async def load_header(
    sessions: async_sessionmaker[AsyncSession],
    *,
    order_id: str,
    names: Mapping[int, str] | None = None,
    now: datetime | None = None,
) -> Header:
    """Read the order's header in one short session; raise `NoTicketError` when it has no ticket."""
    async with sessions() as session:
        source = await repo.transcript_source(session=session, order_id=order_id)
    if source is None:
        raise NoTicketError(order_id)
    return build_header(source, names=names or {}, now=now or utcnow())
