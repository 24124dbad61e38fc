"""Tickets: one private channel per agreed order, opened only after the checks pass.

The database decides, Discord follows. A ticket row is claimed first (`order_id` is
UNIQUE, so two racing opens give one row), the channel is made through the
`TicketOpener` port that `bot/` implements, then the row is marked open. A row left in
`opening` by a crash or by webhook-only mode is finished by `resume()` once a bot is
connected. Nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Order, Ticket, TicketState
from bot.db.repos import audit as audit_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import requests as request_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services.errors import ConflictError, GuaranteeError, NotFoundError, PermissionDeniedError
from bot.services.escrow.rules import Role
from bot.services.tickets import requests
from bot.services.tickets.links import GigLink
from bot.services.tickets.port import ChannelGoneError, TicketCard, TicketOpener
from bot.services.tickets.verification import (
    EmailMismatchError,
    GigMismatchError,
    check_gig_link,
    checks_passed,
    normalise_email,
    same_email,
)

log = logging.getLogger(__name__)


class OpenStatus(StrEnum):
    OPENED = "opened"  # a channel was made just now
    EXISTS = "exists"  # the order already had one
    OPENING = "opening"  # being made right now (or waiting for a bot to connect)
    PENDING = "pending"  # the order is not known yet; the request waits for it


@dataclass(frozen=True, slots=True)
class OpenResult:
    status: OpenStatus
    order_id: str | None = None
    channel_id: int | None = None
    expires_at: datetime | None = None


def _check_reopener(ticket: Ticket, guild_id: int, user_id: int) -> None:
    """Only the ticket's own freelancer, in its own server, may reopen it (else it could be taken over)."""
    if guild_id != ticket.guild_id or user_id != ticket.freelancer_id:
        raise PermissionDeniedError(
            f"Order {ticket.order_id} already has a guarantee ticket whose channel was deleted. Only the freelancer "
            "who opened it can reopen it, in the server where it was opened; ask an officer of that server."
        )


class TicketService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, marketplace_host: str, pending_hours: int
    ) -> None:
        self._sessions = sessions
        self._host = marketplace_host
        self._pending_hours = pending_hours
        self._opener: TicketOpener | None = None
        self._inflight: set[str] = set()
        # SQLite has one writer at a time. Concurrent opens queue for it here, in order, instead of
        # in SQLite's busy handler, which sleeps (up to 100 ms a try) while holding a pooled connection.
        engine = sessions.kw.get("bind")
        self._one_writer = asyncio.Lock() if engine is not None and engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """Around the commit of a write transaction of the open path: one at a time on SQLite, no wait elsewhere.

        The session must hold its connection before it waits for its turn (it does once it has read
        anything; else `await session.connection()`): whoever has the turn then never waits for the pool.
        """
        if self._one_writer is None:
            yield
            return
        async with self._one_writer:
            yield

    def attach(self, opener: TicketOpener | None) -> None:
        """Connect (or, with None, disconnect) the Discord side."""
        self._opener = opener

    # ---- /guarantee open -----------------------------------------------------------------
    async def open(
        self, *, guild_id: int, user_id: int, channel_id: int | None, email: str, gig_link: str
    ) -> OpenResult:
        link = check_gig_link(gig_link, self._host)
        claimed: Ticket | None = None
        reserved = False
        try:
            async with self._sessions() as session:
                found = await self._find_order(session, link, email)
                if found is None:
                    async with self._writing():
                        request = await requests.keep_pending(
                            session, guild_id=guild_id, channel_id=channel_id, user_id=user_id,
                            email=normalise_email(email), gig_key=link.key, hours=self._pending_hours,
                        )  # fmt: skip
                        await session.commit()
                    return OpenResult(OpenStatus.PENDING, expires_at=request.expires_at)
                order, ticket, escrow_state = found
                order_id = order.id  # kept apart: a failed claim's rollback expires the rows read
                if ticket is None:  # the usual case: claim the row in the same transaction as the read
                    claimed = requests.new_ticket(
                        order_id=order_id, guild_id=guild_id, freelancer_id=user_id, origin_channel_id=channel_id
                    )
                    session.add(claimed)
                    try:
                        async with self._writing():
                            await session.commit()  # `order_id` is UNIQUE: a racing open fails here
                    except IntegrityError:
                        claimed = None
                    else:  # in flight from the commit on (no await between): another open waits for us
                        reserved = self._reserve(order_id)
            if claimed is not None:
                if not reserved:
                    return OpenResult(OpenStatus.OPENING, order_id)
                return await self._open_channel(claimed, order, escrow_state)
        finally:
            if reserved:
                self._inflight.discard(order_id)
        if ticket is None:
            return await self._raced(order_id)
        existing = await self._existing(ticket)
        if existing is not None:
            return existing
        _check_reopener(ticket, guild_id, user_id)
        if not await self._reclaim(ticket, guild_id, user_id, channel_id):
            return await self._raced(order_id)
        return await self.finish(int(ticket.id or 0))

    async def _find_order(
        self, session: AsyncSession, link: GigLink, email: str
    ) -> tuple[Order, Ticket | None, str | None] | None:
        """The order this request is for, with its ticket and escrow state; None: not known yet."""
        candidates = await order_repo.for_gig(session=session, gig_key=link.key)
        if not candidates:
            if await order_repo.unticketed_of_seller(session=session, email=normalise_email(email)):
                raise GigMismatchError()
            return None
        mine = [row for row in candidates if same_email(email, row[0].seller_email)]
        if not mine:
            raise EmailMismatchError("seller")

        def free(row: tuple[Order, Ticket | None, str | None]) -> bool:
            order, ticket, _escrow = row
            busy = ticket is not None and ticket.state != TicketState.ORPHANED
            return not busy and order.cancelled_at is None

        # The oldest order still waiting for a ticket; if all have one, the newest (to point at it).
        return next((row for row in mine if free(row)), mine[-1])

    async def _raced(self, order_id: str) -> OpenResult:
        """Another open of the same order claimed it first: point at its ticket."""
        async with self._sessions() as session:
            raced = await repo.for_order(session=session, order_id=order_id)
        assert raced is not None
        return OpenResult(OpenStatus.EXISTS if raced.channel_id else OpenStatus.OPENING, order_id, raced.channel_id)

    async def _existing(self, ticket: Ticket) -> OpenResult | None:
        """What to answer when the order already has a ticket; None when it may be (re)opened."""
        if ticket.state == TicketState.CLOSED:
            raise ConflictError(f"Order {ticket.order_id} already had a ticket and it is closed. Ask an officer.")
        if ticket.state == TicketState.OPEN and ticket.channel_id is not None:
            if self._opener is None or await self._opener.channel_exists(ticket.guild_id, ticket.channel_id):
                return OpenResult(OpenStatus.EXISTS, ticket.order_id, ticket.channel_id)
            await self.channel_deleted(ticket.channel_id)
            return None
        if ticket.state == TicketState.OPENING:
            if ticket.order_id in self._inflight or self._opener is None:
                return OpenResult(OpenStatus.OPENING, ticket.order_id)
            return await self.finish(int(ticket.id or 0))  # left over from a restart: finish it now
        return None  # orphaned: open a new channel

    async def _reclaim(self, ticket: Ticket, guild_id: int, user_id: int, origin: int | None) -> bool:
        """Reopen an orphaned ticket in place (it keeps its buyer); False when someone else moved it first."""
        async with self._sessions.begin() as session:
            return await repo.set_state(
                session=session, ticket_id=int(ticket.id or 0), expected=TicketState.ORPHANED,
                new=TicketState.OPENING, channel_id=None, summary_message_id=None, guild_id=guild_id,
                freelancer_id=user_id, origin_channel_id=origin,
            )  # fmt: skip

    # ---- making the channel --------------------------------------------------------------
    async def finish(self, ticket_id: int) -> OpenResult:
        """Make the channel of a ticket in `opening` and mark it open."""
        async with self._sessions() as session:
            found = await repo.card(session=session, ticket_id=ticket_id)
        if found is None or found[0].state != TicketState.OPENING:
            raise ConflictError("That ticket is no longer being opened; run `/guarantee open` again.")
        return await self._make_channel(*found)

    def _reserve(self, order_id: str) -> bool:
        """Mark the order's channel as being made here; False when it already is (or no bot is connected)."""
        if self._opener is None or order_id in self._inflight:
            return False
        self._inflight.add(order_id)
        return True

    async def _make_channel(self, ticket: Ticket, order: Order, escrow_state: str | None) -> OpenResult:
        """Make the channel of a ticket just read in `opening`, unless that is under way already."""
        if not self._reserve(ticket.order_id):
            return OpenResult(OpenStatus.OPENING, ticket.order_id)
        try:
            return await self._open_channel(ticket, order, escrow_state)
        finally:
            self._inflight.discard(ticket.order_id)

    async def _open_channel(self, ticket: Ticket, order: Order, escrow_state: str | None) -> OpenResult:
        """Make the channel and mark the ticket open; the caller reserved the order (`_reserve`) until then."""
        opener = self._opener
        if opener is None:
            return OpenResult(OpenStatus.OPENING, ticket.order_id)
        try:
            card = TicketCard(ticket, order, checks_passed(order), escrow_state)
            channel = await opener.create_channel(card)
        except GuaranteeError:
            await self._abandon(ticket)
            raise
        ticket_id = int(ticket.id or 0)
        async with self._sessions() as session:
            await session.connection()  # before the writer's turn (see `_writing`)
            async with self._writing():
                await repo.mark_open(
                    session=session, ticket_id=ticket_id, channel_id=channel.channel_id,
                    summary_message_id=channel.summary_message_id, at=utcnow(),
                )  # fmt: skip
                await session.commit()
        log.info("ticket for order %s opened in channel %s", ticket.order_id, channel.channel_id)
        return OpenResult(OpenStatus.OPENED, ticket.order_id, channel.channel_id)

    async def _abandon(self, ticket: Ticket) -> None:
        """Undo a claim whose channel could not be made: nothing is left behind."""
        async with self._sessions.begin() as session:
            if ticket.opened_at is not None:  # it had a channel once: back to orphaned, buyer kept
                await repo.set_state(
                    session=session, ticket_id=int(ticket.id or 0), expected=TicketState.OPENING,
                    new=TicketState.ORPHANED,
                )  # fmt: skip
            else:
                await repo.delete_opening(session=session, ticket_id=int(ticket.id or 0))

    async def channel_deleted(self, channel_id: int) -> bool:
        """A ticket channel disappeared (deleted by hand): the order may get a new one."""
        async with self._sessions.begin() as session:
            ticket = await repo.for_channel(session=session, channel_id=channel_id)
            if ticket is None or ticket.state != TicketState.OPEN:
                return False
            moved = await repo.set_state(
                session=session, ticket_id=int(ticket.id or 0), expected=TicketState.OPEN, new=TicketState.ORPHANED,
                channel_id=None, summary_message_id=None,
            )  # fmt: skip
        if moved:
            log.warning(
                "ticket channel %s of order %s was deleted; the ticket can be reopened", channel_id, ticket.order_id
            )
        return moved

    # ---- /guarantee join -----------------------------------------------------------------
    async def join(self, *, guild_id: int, user_id: int, order_id: str, email: str) -> Ticket:
        """Verify the buyer's email and add them to the order's ticket channel."""
        async with self._sessions() as session:
            order = await order_repo.get(session=session, order_id=order_id.strip())
            if order is None:
                raise NotFoundError(
                    f"No agreed order with id {order_id.strip()!r}. Copy the order id from the order page on the "
                    "marketplace; if the deal was agreed just now, wait a minute and try again."
                )
            if not same_email(email, order.buyer_email):
                raise EmailMismatchError("buyer")
            ticket = await repo.for_order(session=session, order_id=order.id)
        ticket = _joinable(ticket, order.id, guild_id, user_id)
        if ticket.buyer_id != user_id:
            async with self._sessions.begin() as session:
                if not await repo.claim_buyer(
                    session=session, ticket_id=int(ticket.id or 0), user_id=user_id, expected=None
                ):
                    raise ConflictError("Another account already joined this ticket as the buyer. Ask an officer.")
                # Checked after the claim, in its transaction, so an officer action committed meanwhile is seen too.
                if await audit_repo.acted_as(session=session, order_id=order.id, actor=str(user_id), role=Role.OFFICER):
                    raise PermissionDeniedError(
                        f"You already acted as an officer on order {order.id}, so you cannot also join it as its "
                        "buyer: one person cannot hold both roles. Ask another officer or a server admin."
                    )
        try:
            await self._require_opener().add_member(ticket, user_id)
        except GuaranteeError as exc:
            async with self._sessions.begin() as session:
                await repo.claim_buyer(session=session, ticket_id=int(ticket.id or 0), user_id=None, expected=user_id)
            if isinstance(exc, ChannelGoneError) and ticket.channel_id is not None:
                await self.channel_deleted(ticket.channel_id)
            raise
        ticket.buyer_id = user_id
        return ticket

    def _require_opener(self) -> TicketOpener:
        if self._opener is None:
            raise ConflictError("The bot is not connected to Discord right now; try again in a minute.")
        return self._opener

    # ---- agreement events and restarts ---------------------------------------------------
    async def resume(self) -> int:
        """At start-up: finish tickets left in `opening`, tell requesters what happened; returns tickets finished."""
        async with self._sessions.begin() as session:
            await request_repo.expire(session=session, now=utcnow())
            opening = await repo.in_state(session=session, state=TicketState.OPENING)
            waiting = {
                request.order_id for request in await request_repo.unnotified(session=session) if request.order_id
            }
        for order_id in sorted({ticket.order_id for ticket in opening} | waiting):
            await self.finish_order(order_id)
        return len(opening)

    async def finish_order(self, order_id: str) -> None:
        """After an agreement resolved waiting requests (or at start-up): make the order's channel if its
        ticket is still `opening`, then tell every requester what happened."""
        if self._opener is None:
            return  # webhook-only: the rows wait for a bot
        failure: str | None = None
        async with self._sessions() as session:
            ticket = await repo.for_order(session=session, order_id=order_id)
        if ticket is not None and ticket.state == TicketState.OPENING and order_id not in self._inflight:
            try:
                await self.finish(int(ticket.id or 0))
            except GuaranteeError as exc:
                failure = str(exc)
            except Exception:
                log.exception("opening the ticket of order %s failed; it is retried at the next start", order_id)
                return
        await requests.notify_requesters(self._sessions, self._opener, order_id, failure)


def _joinable(ticket: Ticket | None, order_id: str, guild_id: int, user_id: int) -> Ticket:
    if ticket is None or ticket.state in {TicketState.OPENING, TicketState.ORPHANED}:
        raise ConflictError(
            f"Order {order_id} has no open ticket yet. Ask the freelancer to run `/guarantee open`, then try again."
        )
    if ticket.state == TicketState.CLOSED:
        raise ConflictError(f"The ticket of order {order_id} is closed.")
    if ticket.guild_id != guild_id:
        raise ConflictError(f"The ticket of order {order_id} is in another server; run `/guarantee join` there.")
    if ticket.freelancer_id == user_id:
        raise PermissionDeniedError(
            "You opened this ticket as the freelancer; the buyer must join with their own account."
        )
    if ticket.buyer_id is not None and ticket.buyer_id != user_id:
        raise ConflictError("Another account already joined this ticket as the buyer. Ask an officer.")
    return ticket
