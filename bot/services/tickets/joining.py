"""`/guarantee join`: the buyer proves the order's buyer email (compared, or with an emailed code) and is added
to its ticket channel. Part of `TicketService` (a mixin: it shares the service's sessions, proof and opener)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Ticket, TicketState
from bot.db.repos import audit as audit_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.errors import ConflictError, GuaranteeError, PermissionDeniedError
from bot.services.escrow.announcements import Notice
from bot.services.escrow.rules import Action, Role, State
from bot.services.outbox import Kind, held_until
from bot.services.tickets.port import ChannelGoneError, TicketOpener
from bot.services.tickets.proof import CodeSent, EmailProof, Purpose, Redeemed, order_subject
from bot.services.tickets.verification import same_email
from bot.services.vocabulary import OFFICER, join_command, relative_time


class HeldEffects(Protocol):
    """Does effects written held, right after their commit (`bot.services.effects.EffectWorker`)."""

    async def run_now(self, effect_ids: Sequence[int]) -> None: ...


@dataclass(frozen=True, slots=True)
class Joined:
    """How a `/guarantee join` went: the ticket, and whether the person was in it already."""

    ticket: Ticket
    already: bool = False


def joined_effects(ticket: Ticket, buyer_id: int, state: str | None, version: int | None) -> list[outbox.Effect]:
    """A buyer joined: the summary is rebuilt (it names them from now on; done right after the add, by the worker
    after a crash), and the officer who claimed the ticket hears it is their turn to post payment instructions
    (if payment is what the order waits for)."""
    order_id, at = ticket.order_id, held_until(utcnow())
    key = f"{order_id}:join:{ticket.id}:{buyer_id}:{version}"
    effects = [outbox.Effect(order_id, Kind.REFRESH_SUMMARY, f"summary:{key}", held_until=at)]
    if ticket.claimed_by is not None and state == State.AWAITING_FUNDING:
        turn = Notice(ticket.claimed_by, State.AWAITING_FUNDING, turn=Action.FUND, joined=buyer_id)
        effects.append(outbox.Effect(order_id, Kind.TELL_PARTY, f"tell:{key}:{ticket.claimed_by}", turn.payload(), at))
    return effects


class JoinFlow:
    _sessions: async_sessionmaker[AsyncSession]
    _opener: TicketOpener | None
    proof: EmailProof
    effects: HeldEffects | None
    channel_deleted: Callable[[int], Awaitable[bool]]

    async def join(self, *, guild_id: int, user_id: int, order_id: str, email: str) -> Joined | CodeSent:
        """Check the buyer's email. Compared only: add them to the order's ticket channel on a match. Proven:
        mail a code to the order's buyer address (added on `redeem`). A wrong email and an unknown order get
        the same answer."""
        order_id = order_id.strip()
        subject = order_subject(order_id)
        async with self._sessions() as session:
            await self.proof.check_limits(session, user_id=user_id, subject=subject)
            order = await order_repo.get(session=session, order_id=order_id)
        matched = order if order is not None and same_email(email, order.buyer_email) else None
        if matched is None:
            await self.proof.failed(user_id=user_id, subject=subject, guild_id=guild_id, label=f"order {order_id}")
            if not self.proof.enabled:
                raise JoinRefusedError()
        if self.proof.enabled:
            return await self.proof.send_code(
                purpose=Purpose.JOIN, user_id=user_id, guild_id=guild_id, channel_id=None, subject=subject,
                order_id=matched.id if matched else None, to=matched.buyer_email if matched else None,
            )  # fmt: skip
        assert matched is not None
        return await self._join_verified(guild_id, user_id, matched.id, proven=False, email=email)

    async def join_proven(self, proof: Redeemed) -> Joined:
        """The buyer entered the right code for this order: add them to its ticket."""
        return await self._join_verified(proof.guild_id, proof.user_id, proof.order_id, proven=True)

    async def _join_verified(
        self, guild_id: int, user_id: int, order_id: str, *, proven: bool, email: str | None = None
    ) -> Joined:
        """Add the buyer (someone in already is told so, and nothing is posted); the summary is rebuilt right
        after, from what the database then says. `email`: the one compared, checked again as the buyer is seated
        (a proven email needs no second look: a change of the order's buyer email expires its codes)."""
        async with self._sessions() as session:
            ticket = await repo.for_order(session=session, order_id=order_id)
        order_id = ticket.order_id if ticket is not None else order_id
        ticket = _joinable(ticket, order_id, guild_id, user_id)
        if ticket.buyer_id == user_id:  # in already: access made sure of, nothing announced
            await self._require_opener().add_member(ticket, user_id, announce=False)
            return Joined(ticket, already=True)
        held = await self._claim_buyer(ticket, order_id, user_id, proven=proven, email=email)
        ticket.buyer_proven = proven
        try:
            await self._require_opener().add_member(ticket, user_id)
        except GuaranteeError as exc:
            async with self._sessions.begin() as session:
                await repo.claim_buyer(session=session, ticket_id=int(ticket.id or 0), user_id=None, expected=user_id)
            if isinstance(exc, ChannelGoneError) and ticket.channel_id is not None:
                await self.channel_deleted(ticket.channel_id)
            raise
        finally:  # the summary shows what the database says now: the buyer joined, or (undone) not
            if self.effects is not None:
                await self.effects.run_now(held)
        ticket.buyer_id = user_id
        return Joined(ticket)

    async def _claim_buyer(
        self, ticket: Ticket, order_id: str, user_id: int, *, proven: bool, email: str | None = None
    ) -> list[int]:
        """Record the buyer on the ticket, with the summary's refresh and the claiming officer's "your turn"
        (held: done right after, by `_join_verified`). Returns the effects' ids."""
        async with self._sessions.begin() as session:
            ticket_id = int(ticket.id or 0)
            # Who the parties are is part of every escrow decision: an officer action deciding at this very
            # moment loses its compare-and-set and looks again (and then sees the buyer). The escrow is taken
            # before the ticket, in the order every other change takes them (no two wait on each other) ...
            version = await escrow_repo.bump_version(session=session, order_id=order_id)
            if not await repo.claim_buyer(
                session=session, ticket_id=ticket_id, user_id=user_id, expected=None, proven=proven
            ):
                raise ConflictError(
                    f"Another account already joined this ticket as the buyer. If that is not you, ask a {OFFICER} "
                    "in this server."
                )
            # ... and one committed first is seen here, after the write, in this transaction; so are new terms
            # (they bump the version too): an email compared against the old buyer email no longer counts.
            if email is not None:
                order = await order_repo.get(session=session, order_id=order_id)
                if order is None or not same_email(email, order.buyer_email):
                    raise JoinRefusedError()
            if await audit_repo.acted_as(session=session, order_id=order_id, actor=str(user_id), role=Role.OFFICER):
                raise PermissionDeniedError(
                    f"You already acted as a {OFFICER} on order {order_id}, so you cannot also join it as its "
                    "buyer: one person cannot hold both roles. Ask another officer or a server admin."
                )
            escrow = await escrow_repo.get(session=session, order_id=order_id)
            state = escrow.state if escrow is not None else None
            return await outbox.write(session, joined_effects(ticket, user_id, state, version))

    def _require_opener(self) -> TicketOpener:
        if self._opener is None:
            raise ConflictError(
                f"I am not connected to Discord right now; try again {relative_time(utcnow() + timedelta(minutes=1))}."
            )
        return self._opener


class JoinRefusedError(GuaranteeError):
    """The same sentence for an order id that does not exist and an email that is not its buyer's."""

    def __init__(self) -> None:
        super().__init__(
            "Email check failed: I found no order with this id and this buyer email. Copy the order id from the "
            "order page on the marketplace and use the email of your marketplace account; if the deal was agreed "
            "just now, wait a minute and try again."
        )


def _joinable(ticket: Ticket | None, order_id: str, guild_id: int, user_id: int) -> Ticket:
    if ticket is None or ticket.state in {TicketState.OPENING, TicketState.ORPHANED}:
        raise ConflictError(
            f"Order {order_id} has no open ticket yet. Ask the freelancer to run `/guarantee open`, then try again."
        )
    if ticket.state in (TicketState.CLOSED, TicketState.CLOSING):
        raise ConflictError(
            f"The ticket of order {order_id} is closed, so nobody can join it. If something is still open, ask a "
            f"{OFFICER} in this server."
        )
    if ticket.guild_id != guild_id:
        raise ConflictError(f"The ticket of order {order_id} is in another server; run `/guarantee join` there.")
    if ticket.freelancer_id == user_id:
        raise PermissionDeniedError(
            "You opened this ticket as the freelancer; the buyer must join with their own account. Send them "
            f"{join_command(order_id)}."
        )
    if ticket.buyer_id is not None and ticket.buyer_id != user_id:
        raise ConflictError(
            f"Another account already joined this ticket as the buyer. If that is not you, ask a {OFFICER} in this "
            "server."
        )
    return ticket
