"""Tickets: one private channel per agreed order, opened only after the checks pass.

The database decides, Discord follows. A ticket row is claimed first (`order_id` is UNIQUE,
so two racing opens give one row), together with its `ticket.open` effect (`opening`); the
`/guarantee open` that claimed it makes the channel at once, and if Discord fails it, the
effect worker finishes it later and the freelancer is told by DM. Nothing here imports discord.
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

from bot.db.clock import database_now
from bot.db.models import DiscordEffect, Order, Ticket, TicketState
from bot.db.repos import effects as effect_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import requests as request_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.effects import retry_later
from bot.services.errors import ConflictError, PermissionDeniedError
from bot.services.outbox import LEASE, Kind, held_until
from bot.services.tickets import opening, requests, reseat
from bot.services.tickets.joining import HeldEffects, Joined, JoinFlow
from bot.services.tickets.links import GigLink
from bot.services.tickets.port import TicketCard, TicketOpener
from bot.services.tickets.proof import CodeSent, EmailProof, Purpose, Redeemed, gig_subject
from bot.services.tickets.verification import (
    EmailMismatchError,
    GigMismatchError,
    check_gig_link,
    normalise_email,
    same_email,
)
from bot.services.timers import schedule as timers
from bot.services.timers.schedule import DEFAULT_PERIODS, TimerPeriods
from bot.services.vocabulary import OFFICER

log = logging.getLogger(__name__)


Found = tuple[Order, Ticket | None, str | None]  # an order, its ticket and its escrow state
NO_MATCH = "no match"  # `_match`: the email and gig link match no order
Match = Found | None | str


class OpenStatus(StrEnum):
    OPENED = "opened"  # a channel was made just now
    EXISTS = "exists"  # the order already had one
    REJOINED = "rejoined"  # the order's seller email had changed: whoever proved the new one is its freelancer now
    OPENING = "opening"  # being made right now (or waiting for a bot to connect)
    PENDING = "pending"  # the order is not known yet; the request waits for it


@dataclass(frozen=True, slots=True)
class OpenResult:
    status: OpenStatus
    order_id: str | None = None
    channel_id: int | None = None
    expires_at: datetime | None = None


class CancelledOrderError(ConflictError):
    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"Order {order_id} was cancelled on the marketplace, so it gets no guarantee ticket. "
            "If the deal is on again, agree it again on the marketplace."
        )


def _refuse_cancelled(found: Found) -> None:
    """A cancelled order never gets a ticket (nor pings the officers)."""
    order, ticket, _state = found
    if ticket is None and order.cancelled_at is not None:
        raise CancelledOrderError(order.id)


def _check_reopener(ticket: Ticket, guild_id: int, user_id: int) -> None:
    """Only the ticket's own freelancer, in its own server, may reopen it (else it could be taken over); once the
    order's seller email changed, whoever proved the new one."""
    mine = user_id == ticket.freelancer_id or ticket.freelancer_unverified
    if guild_id != ticket.guild_id or not mine:
        raise PermissionDeniedError(
            f"Order {ticket.order_id} already has a ticket whose channel was deleted. Only the freelancer "
            "who opened it can reopen it, in the server where it was opened; ask a Guarantor Officer of that server."
        )


class TicketService(JoinFlow):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        marketplace_host: str,
        pending_hours: int,
        proof: EmailProof | None = None,
        timer_periods: TimerPeriods = DEFAULT_PERIODS,
    ) -> None:
        self._sessions = sessions
        self.timer_periods = timer_periods  # an opened ticket's reminder (`bot.services.timers`)
        self.proof = proof or EmailProof(sessions, None)
        self._host = marketplace_host
        self._pending_hours = pending_hours
        self._opener: TicketOpener | None = None
        self.effects: HeldEffects | None = None  # the effect worker, which does the effects a join wrote held
        # SQLite has one writer at a time. Concurrent opens queue for it here, in order, instead of
        # in SQLite's busy handler, which sleeps (up to 100 ms a try) while holding a pooled connection.
        engine = sessions.kw.get("bind")
        self._one_writer = asyncio.Lock() if engine is not None and engine.dialect.name == "sqlite" else None
        self.channels = opening.ChannelMaker(sessions, self._writing)

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
        self.channels.opener = opener

    # ---- /guarantee open -----------------------------------------------------------------
    async def open(
        self, *, guild_id: int, user_id: int, channel_id: int | None, email: str, gig_link: str
    ) -> OpenResult | CodeSent:
        """Check the email and gig link. Compared only (no mail server): open the ticket on a match. Proven: mail a
        code to the order's seller address; the ticket opens on `redeem`. Anything else gets the same answer
        whether or not an order exists (a kept request; with a mail server, "a code was mailed if it matched")."""
        link = check_gig_link(gig_link, self._host)
        subject = gig_subject(link.key)
        proving = self.proof.enabled
        async with self._sessions() as session:
            await self.proof.check_limits(session, user_id=user_id, subject=subject)
            found = await self._match(session, link, email, cancelled_ok=proving)
            if found is None:  # no order for this gig yet: keep the request (and look again after writing it)
                kept = await self._keep_pending(session, guild_id, user_id, channel_id, email, link)
                found = NO_MATCH if kept is not None else await self._match(session, link, email, cancelled_ok=proving)
            claim, ticket, order_id = None, None, ""
            if isinstance(found, tuple) and not proving:  # read before the claim: its rollback expires the rows
                ticket, order_id = found[1], found[0].id
                claim = await self._claim(session, found, guild_id, user_id, channel_id, proven=False)
        if found is NO_MATCH or found is None:
            await self.proof.failed(user_id=user_id, subject=subject, guild_id=guild_id, label=f"the gig {link.key}")
            if not proving:
                return OpenResult(OpenStatus.PENDING)
        if proving:
            order = found[0] if isinstance(found, tuple) else None
            return await self.proof.send_code(
                purpose=Purpose.OPEN, user_id=user_id, guild_id=guild_id, channel_id=channel_id, subject=subject,
                order_id=order.id if order else None, to=order.seller_email if order else None,
            )  # fmt: skip
        assert isinstance(found, tuple)
        return await self._after_claim(claim, ticket, order_id, guild_id, user_id, channel_id, email=email)

    async def open_proven(self, proof: Redeemed) -> OpenResult:
        """The freelancer entered the right code for this order: open (or point at) its ticket."""
        async with self._sessions() as session:
            found = await self._order_row(session, proof.order_id)
            if found is None:
                raise ConflictError("The order changed just now; run `/guarantee open` again.")
            _refuse_cancelled(found)
            ticket = found[1]
            claim = await self._claim(session, found, proof.guild_id, proof.user_id, proof.channel_id, proven=True)
        return await self._after_claim(
            claim, ticket, proof.order_id, proof.guild_id, proof.user_id, proof.channel_id, proven=True
        )

    async def _claim(
        self, session: AsyncSession, found: Found, guild_id: int, user_id: int, channel_id: int | None, *, proven: bool
    ) -> tuple[DiscordEffect, TicketCard] | None:
        """Claim the ticket row of an order that has none, in the transaction of the read; None: it has one (or
        a racing open claimed it first)."""
        order, ticket, escrow_state = found
        if ticket is not None:
            return None
        order_id = order.id  # kept apart: a failed claim's rollback expires the rows read
        claimed = requests.new_ticket(
            order_id=order_id, guild_id=guild_id, freelancer_id=user_id, origin_channel_id=channel_id, proven=proven
        )
        session.add(claimed)
        effect = opening.open_effect(order_id, held_until=held_until(utcnow()))
        try:
            async with self._writing():
                (effect_id,) = await outbox.write(session, [effect])
                await timers.ticket_opened(
                    session, order_id, opening=effect_id, periods=self.timer_periods, now=utcnow()
                )
                await session.commit()  # `order_id` is UNIQUE: a racing open fails here
        except IntegrityError:
            await session.rollback()
            return None
        row = DiscordEffect(id=effect_id, order_id=order_id, kind=effect.kind.value, key=effect.key)
        return row, opening.card_of(claimed, order, escrow_state)

    async def _after_claim(
        self, claim: tuple[DiscordEffect, TicketCard] | None, ticket: Ticket | None, order_id: str, guild_id: int,
        user_id: int, channel_id: int | None, *, proven: bool = False, email: str | None = None,
    ) -> OpenResult:  # fmt: skip
        """Make the claimed ticket's channel, or point at (or reopen) the one the order has; a ticket whose seller
        email changed takes whoever just proved the new one as its freelancer (`reseat.rejoin`)."""
        if claim is not None:  # the session is back in the pool before Discord is called
            return await self._open_now(*claim, user_id, channel_id)
        if ticket is None:
            return await self._raced(order_id, user_id, channel_id)
        if ticket.freelancer_unverified and ticket.state == TicketState.OPEN:
            rejoined = await reseat.rejoin(
                self._sessions, self._require_opener(), self.effects, ticket, guild_id, user_id, proven=proven,
                email=email,
            )  # fmt: skip
            return OpenResult(OpenStatus.REJOINED, order_id, rejoined.channel_id)
        existing = await self._existing(ticket, user_id, channel_id)
        if existing is not None:
            return existing
        _check_reopener(ticket, guild_id, user_id)
        return await self._reclaim(ticket, guild_id, user_id, channel_id)

    async def _match(self, session: AsyncSession, link: GigLink, email: str, *, cancelled_ok: bool) -> Match:
        """The order of this gig whose seller email this is; None: the gig has no order yet; NO_MATCH: the gig's
        orders have another seller email."""
        try:
            found = await self._find_order(session, link, email)
        except GigMismatchError:  # this seller has another order; this gig none yet: it may still come
            return None
        except EmailMismatchError:
            return NO_MATCH
        if found is not None and not cancelled_ok:
            _refuse_cancelled(found)
        return found

    async def _order_row(self, session: AsyncSession, order_id: str) -> Found | None:
        order = await order_repo.get(session=session, order_id=order_id)
        if order is None:
            return None
        rows = await order_repo.for_gig(session=session, gig_key=order.gig_key)
        return next((row for row in rows if row[0].id == order_id), None)

    async def _keep_pending(
        self, session: AsyncSession, guild_id: int, user_id: int, channel_id: int | None, email: str, link: GigLink
    ) -> OpenResult | None:
        """No agreed order for this gig yet: keep the request until it comes. Serialised with the agreement's
        transaction on the gig (`lock_gig`) and checked again after the write, so a request is never left
        behind by an agreement that committed meanwhile (None then: open the ticket now)."""
        async with self._writing():
            await request_repo.lock_gig(session=session, gig_key=link.key)
            expires_at = await requests.keep_pending(
                session, guild_id=guild_id, channel_id=channel_id, user_id=user_id,
                email=normalise_email(email), gig_key=link.key, hours=self._pending_hours,
            )  # fmt: skip
            if await order_repo.for_gig(session=session, gig_key=link.key):
                await session.rollback()
                return None
            await session.commit()
        return OpenResult(OpenStatus.PENDING, expires_at=expires_at)

    async def _find_order(
        self, session: AsyncSession, link: GigLink, email: str
    ) -> tuple[Order, Ticket | None, str | None] | None:
        """The order this request is for, with its ticket and escrow state; None: not known yet."""
        candidates = await order_repo.for_gig(session=session, gig_key=link.key)
        if not candidates:
            # Another gig of this seller waits for its ticket: the link is wrong. (One for this very gig was
            # agreed since the read above: not a mismatch; the request then finds it.)
            others = await order_repo.unticketed_of_seller(session=session, email=normalise_email(email))
            if any(order.gig_key != link.key for order in others):
                raise GigMismatchError()
            return None
        mine = [row for row in candidates if same_email(email, row[0].seller_email)]
        if not mine:
            raise EmailMismatchError("seller")

        def free(row: tuple[Order, Ticket | None, str | None]) -> bool:
            order, ticket, _escrow = row
            busy = ticket is not None and ticket.state != TicketState.ORPHANED
            return not busy and order.cancelled_at is None

        # The oldest order still waiting for a ticket; if all have one, the newest that has one (to point at it).
        found = next((row for row in mine if free(row)), None)
        return found or next((row for row in reversed(mine) if row[1] is not None), mine[-1])

    async def _open_now(self, row: DiscordEffect, card: TicketCard, user_id: int, channel_id: int | None) -> OpenResult:
        """Make the channel of a ticket whose `ticket.open` effect this call holds. If Discord fails it for now,
        the effect worker finishes it and the freelancer is told by DM."""
        order_id = card.order.id
        try:
            opened = await self.channels.perform_open(row, card)
        except Exception as exc:
            log.warning("opening the ticket of order %s failed for now (%s); the effect worker retries", order_id, exc)
            await retry_later(self._sessions, row, exc)
            await self._tell_later(order_id, user_id, channel_id, tag=f"open{row.id}")
            return OpenResult(OpenStatus.OPENING, order_id)
        if opened.failure is not None:
            raise opened.failure
        return OpenResult(OpenStatus.OPENED, order_id, opened.channel_id)

    async def _tell_later(self, order_id: str, user_id: int, channel_id: int | None, *, tag: str) -> None:
        """The freelancer hears "being opened": the promise of a DM is kept by a `ticket.tell` effect."""
        async with self._sessions.begin() as session:
            effect = opening.tell_effect(order_id, user_id=user_id, fallback_channel_id=channel_id, tag=tag)
            await outbox.write(session, [effect])

    async def _raced(self, order_id: str, user_id: int, channel_id: int | None) -> OpenResult:
        """Another open of the same order claimed it first: point at its ticket, or say truthfully how it stands."""
        async with self._sessions() as session:
            raced = await repo.for_order(session=session, order_id=order_id)
        if raced is None:  # the winner's channel could not be made and its claim was undone
            raise ConflictError(
                f"The ticket of order {order_id} could not be opened just now. Run `/guarantee open` again."
            )
        if raced.state == TicketState.OPEN and raced.channel_id is not None:
            return OpenResult(OpenStatus.EXISTS, order_id, raced.channel_id)
        await self._tell_later(order_id, user_id, channel_id, tag=f"raced{raced.id}")
        return OpenResult(OpenStatus.OPENING, order_id)

    async def _existing(self, ticket: Ticket, user_id: int, channel_id: int | None) -> OpenResult | None:
        """What to answer when the order already has a ticket; None when it may be (re)opened."""
        if ticket.state in (TicketState.CLOSED, TicketState.CLOSING):
            raise ConflictError(
                f"Order {ticket.order_id} already had a ticket and it is closed. If something is still open, ask a "
                f"{OFFICER} in this server."
            )
        if ticket.state == TicketState.OPEN and ticket.channel_id is not None:
            if self._opener is None or await self._opener.channel_exists(ticket.guild_id, ticket.channel_id):
                return OpenResult(OpenStatus.EXISTS, ticket.order_id, ticket.channel_id)
            await self.channel_deleted(ticket.channel_id)
            return None
        if ticket.state == TicketState.OPENING:
            return await self._finish_opening(ticket, user_id, channel_id)
        return None  # orphaned: open a new channel

    async def _finish_opening(self, ticket: Ticket, user_id: int, channel_id: int | None) -> OpenResult:
        """A ticket still waiting for its channel: make it now if nobody is on it (left by a crash, or waiting
        for a retry); else it is under way here or in another process, and the freelancer is told by DM."""
        order_id = ticket.order_id
        async with self._sessions.begin() as session:
            now = await database_now(session)
            waiting = await effect_repo.pending_for_order(
                session=session, order_id=order_id, kind=Kind.OPEN_TICKET.value
            )
            if not waiting:
                effect = opening.open_effect(order_id, held_until=held_until(now))
                (effect_id,) = await outbox.write(session, [effect])
                row = DiscordEffect(id=effect_id, order_id=order_id, kind=effect.kind.value, key=effect.key)
            elif await effect_repo.claim(session=session, effect_id=int(waiting[0].id or 0), now=now, lease=LEASE):
                row = waiting[0]
            else:
                row = None
            found = await repo.card(session=session, ticket_id=int(ticket.id or 0)) if row is not None else None
        if row is None or found is None:
            await self._tell_later(order_id, user_id, channel_id, tag=f"opening{ticket.id}")
            return OpenResult(OpenStatus.OPENING, order_id)
        return await self._open_now(row, opening.card_of(*found), user_id, channel_id)

    async def _reclaim(self, ticket: Ticket, guild_id: int, user_id: int, origin: int | None) -> OpenResult:
        """Reopen an orphaned ticket in place (it keeps its buyer), in a new channel."""
        effect = opening.open_effect(ticket.order_id, held_until=held_until(utcnow()))
        async with self._sessions.begin() as session:
            moved = await repo.set_state(
                session=session, ticket_id=int(ticket.id or 0), expected=TicketState.ORPHANED,
                new=TicketState.OPENING, channel_id=None, summary_message_id=None, guild_id=guild_id,
                freelancer_id=user_id, origin_channel_id=origin, freelancer_unverified=False,
            )  # fmt: skip
            effect_ids = await outbox.write(session, [effect]) if moved else []
            if effect_ids:
                await timers.ticket_opened(
                    session, ticket.order_id, opening=effect_ids[0], periods=self.timer_periods, now=utcnow()
                )
        if not effect_ids:
            return await self._raced(ticket.order_id, user_id, origin)
        async with self._sessions() as session:
            found = await repo.card(session=session, ticket_id=int(ticket.id or 0))
        if found is None:
            return await self._raced(ticket.order_id, user_id, origin)
        row = DiscordEffect(id=effect_ids[0], order_id=ticket.order_id, kind=effect.kind.value, key=effect.key)
        return await self._open_now(row, opening.card_of(*found), user_id, origin)

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

    # ---- the Enter code form ---------------------------------------------------------------
    async def redeem(self, *, token: str, user_id: int, code: str) -> OpenResult | Joined:
        """A code typed into the Enter code form: on the right one, finish what it was asked for."""
        proof = await self.proof.redeem(token=token, user_id=user_id, code=code)
        return await (self.open_proven(proof) if proof.purpose is Purpose.OPEN else self.join_proven(proof))

    # ---- restarts ------------------------------------------------------------------------
    async def resume(self) -> int:
        """At start-up: expire old requests, and give every ticket left in `opening` and every requester not told
        yet an effect (rows from before the outbox); the effect worker does the rest. Returns how many tickets
        were waiting for their channel."""
        async with self._sessions.begin() as session:
            await requests.expire_due(session, now=utcnow())
            waiting = await repo.in_state(session=session, state=TicketState.OPENING)
            effects = [
                opening.open_effect(ticket.order_id)
                for ticket in waiting
                if not await effect_repo.pending_for_order(
                    session=session, order_id=ticket.order_id, kind=Kind.OPEN_TICKET.value
                )
            ]
            effects += [
                opening.tell_effect(r.order_id, user_id=r.user_id, fallback_channel_id=r.channel_id, request_id=r.id)
                for r in await request_repo.unnotified(session=session)
                if r.order_id is not None
            ]
            await outbox.write(session, effects)
        return len(waiting)
