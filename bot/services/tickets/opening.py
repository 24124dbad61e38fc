"""Making a ticket's channel, and telling the people who asked for it: the outbox's `ticket.open` and
`ticket.tell` effects.

The intent comes first: a ticket row in `opening` and its `ticket.open` effect are written in one
transaction. Whoever holds the effect (the `/guarantee open` that wrote it, or the effect worker)
makes the channel through the `TicketOpener` port, which adopts a channel and summary made before a
crash instead of making them again, then marks the ticket open and the effect done in one
transaction. A problem an admin must fix (no officer role, missing permissions) gives the ticket up:
its row goes, and the requesters are told why.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.clock import database_now
from bot.db.models import DiscordEffect, EffectStatus, Order, RequestState, Ticket, TicketRequest, TicketState
from bot.db.repos import effects as effect_repo
from bot.db.repos import requests as request_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services.errors import GuaranteeError
from bot.services.outbox import Effect, Kind
from bot.services.tickets.port import TicketCard, TicketOpener
from bot.services.tickets.verification import checks_passed
from bot.services.vocabulary import OFFICER, full_time, join_command

log = logging.getLogger(__name__)

Writing = Callable[[], contextlib.AbstractAsyncContextManager[None]]


PROVE_AGAIN = (
    "The marketplace has confirmed an order for a gig you asked about. Run `/guarantee open` again: if your email "
    "is the order's, I will mail you a one-time code to open its ticket with."
)


class BotNotConnectedError(Exception):
    """No Discord side is attached (webhook-only mode, or not connected yet): the effect waits."""


class NotYetError(Exception):
    """What the effect needs has not happened yet (its ticket is still being made): try again later."""


@dataclass(frozen=True, slots=True)
class Opened:
    """How a `ticket.open` ended: the channel, or the problem that gave the ticket up."""

    channel_id: int | None
    failure: GuaranteeError | None = None


def open_effect(order_id: str, *, held_until: Any = None) -> Effect:
    """Make the order's ticket channel (one effect per claim of the ticket: a reopen is a new one)."""
    return Effect(order_id, Kind.OPEN_TICKET, f"open:{order_id}:{uuid.uuid4().hex}", held_until=held_until)


def tell_effect(
    order_id: str, *, user_id: int, fallback_channel_id: int | None, request_id: int | None = None, tag: str = "",
    guild_id: int | None = None,
) -> Effect:  # fmt: skip
    """Tell `user_id` how their request for this order's ticket went, once it is decided (`guild_id`: the server
    they asked in, named in the DM)."""
    payload = {
        "user_id": user_id, "fallback_channel_id": fallback_channel_id, "request_id": request_id, "guild_id": guild_id,
    }  # fmt: skip
    key = f"tell:{order_id}:request:{request_id}" if request_id is not None else f"tell:{order_id}:{user_id}:{tag}"
    return Effect(order_id, Kind.TELL_REQUESTER, key, payload)


class ChannelMaker:
    """Does the `ticket.open` and `ticket.tell` effects (the effect worker calls it by name)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], writing: Writing) -> None:
        self._sessions = sessions
        self._writing = writing
        self.opener: TicketOpener | None = None

    def _require_opener(self) -> TicketOpener:
        if self.opener is None:
            raise BotNotConnectedError("the bot is not connected to Discord")
        return self.opener

    async def perform_open(self, effect: DiscordEffect, card: TicketCard | None = None) -> Opened:
        """Make the channel of the effect's ticket (still `opening`), mark it open and the effect done."""
        opener = self._require_opener()
        if card is None:
            card = await self._card(effect.order_id)
        if card is None or card.ticket.state != TicketState.OPENING:
            await self._finish(effect, EffectStatus.DONE, "the ticket is no longer being opened")
            return Opened(card.ticket.channel_id if card is not None else None)
        try:
            channel = await opener.create_channel(card)
        except GuaranteeError as exc:
            await self._give_up(card.ticket, effect, exc)
            return Opened(None, exc)
        async with self._sessions() as session:
            await session.connection()  # before the writer's turn (see `TicketService._writing`)
            async with self._writing():
                marked = await repo.mark_open(
                    session=session, ticket_id=int(card.ticket.id or 0), channel_id=channel.channel_id,
                    summary_message_id=channel.summary_message_id, at=utcnow(),
                )  # fmt: skip
                await effect_repo.finish(
                    session=session, effect_ids=[int(effect.id or 0)], now=utcnow(), status=EffectStatus.DONE
                )
                await session.commit()
        if not marked:
            log.warning("ticket of order %s moved while its channel %s was made", effect.order_id, channel.channel_id)
        log.info("ticket for order %s opened in channel %s", effect.order_id, channel.channel_id)
        return Opened(channel.channel_id)

    async def _card(self, order_id: str) -> TicketCard | None:
        async with self._sessions() as session:
            ticket = await repo.for_order(session=session, order_id=order_id)
            found = await repo.card(session=session, ticket_id=int(ticket.id or 0)) if ticket is not None else None
        if found is None:
            return None
        return card_of(*found)

    async def _give_up(self, ticket: Ticket, effect: DiscordEffect, failure: GuaranteeError) -> None:
        """The channel cannot be made until an admin acts: undo the claim, and tell the requesters why."""
        async with self._sessions.begin() as session:
            if ticket.opened_at is not None:  # it had a channel once: back to orphaned, buyer kept
                await repo.set_state(
                    session=session, ticket_id=int(ticket.id or 0), expected=TicketState.OPENING,
                    new=TicketState.ORPHANED,
                )  # fmt: skip
            else:
                row = await session.get(Ticket, ticket.id)
                if row is not None and row.state == TicketState.OPENING:
                    await session.delete(row)
            for request in await request_repo.unnotified(session=session, order_id=ticket.order_id):
                if request.state == RequestState.FULFILLED:
                    request.outcome = str(failure)
            await effect_repo.finish(
                session=session, effect_ids=[int(effect.id or 0)], now=await database_now(session),
                status=EffectStatus.DROPPED, note=str(failure),
            )  # fmt: skip
        log.info("ticket of order %s given up: %s", ticket.order_id, failure)

    async def perform_tell(self, effect: DiscordEffect, payload: dict[str, Any]) -> None:
        """Tell the requester how it went (a DM, else a mention where they asked), once it is decided."""
        opener = self._require_opener()
        request_id = payload.get("request_id")
        async with self._sessions() as session:
            ticket = await repo.for_order(session=session, order_id=effect.order_id)
            request = await session.get(TicketRequest, request_id) if request_id is not None else None
        notice = _notice(effect.order_id, ticket, request)
        if notice is None:
            raise NotYetError(f"the ticket of order {effect.order_id} is still being opened")
        text, ticket_channel_id = notice
        guild_id = ticket.guild_id if ticket is not None else payload.get("guild_id")
        if guild_id is None and request is not None:
            guild_id = request.guild_id
        await opener.notify(
            user_id=int(payload["user_id"]), fallback_channel_id=payload.get("fallback_channel_id"), text=text,
            ticket_channel_id=ticket_channel_id, guild_id=guild_id,
        )  # fmt: skip
        async with self._sessions.begin() as session:
            if request is not None:
                stored = await session.get(TicketRequest, request.id)
                if stored is not None:
                    stored.notified_at = utcnow()
            await effect_repo.finish(
                session=session, effect_ids=[int(effect.id or 0)], now=await database_now(session),
                status=EffectStatus.DONE,
            )  # fmt: skip

    async def _finish(self, effect: DiscordEffect, status: EffectStatus, note: str | None = None) -> None:
        async with self._sessions.begin() as session:
            await effect_repo.finish(
                session=session, effect_ids=[int(effect.id or 0)], now=await database_now(session), status=status,
                note=note,
            )  # fmt: skip


def card_of(ticket: Ticket, order: Order, escrow_state: str | None, approved: bool = False) -> TicketCard:
    return TicketCard(ticket, order, checks_passed(order, ticket), escrow_state, approved)


def _notice(order_id: str, ticket: Ticket | None, request: TicketRequest | None) -> tuple[str, int | None] | None:
    """What to tell the requester now, with the ticket channel to point at; None = not decided yet."""
    if request is not None and request.state == RequestState.TO_PROVE:
        return PROVE_AGAIN, None
    if request is not None and request.state == RequestState.EXPIRED:
        return _expired(request), None
    if request is not None and request.state == RequestState.REJECTED:
        return f"The marketplace confirmed order {order_id}, but I could not open its ticket. {request.outcome}", None
    if ticket is not None and ticket.state == TicketState.OPEN:
        return (
            f"The marketplace confirmed order {order_id}: its ticket is open. Next: ask the buyer to run "
            f"{join_command(order_id)} in the server; a {OFFICER} then posts payment instructions in the ticket.",
            ticket.channel_id,
        )
    if ticket is not None and ticket.state == TicketState.OPENING:
        return None
    if request is not None and request.outcome:
        return (
            f"The marketplace confirmed order {order_id}, but the ticket could not be opened: {request.outcome}",
            None,
        )
    return f"The ticket of order {order_id} could not be opened. Run `/guarantee open` again.", None


def _expired(request: TicketRequest) -> str:
    return (
        f"Your request for a ticket for the gig https://{request.gig_key} has expired: the marketplace did not "
        f"confirm an agreed order for it by {full_time(request.expires_at)}. If the deal is still on, make sure you "
        "and the buyer agreed the order on the marketplace, then run `/guarantee open` again."
    )
