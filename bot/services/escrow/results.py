"""What an escrow action comes to: the recorded `Change` (with the ticket as it stood), a question to answer
first (`ConfirmNeeded`: are you sure?), a form that is needed first (`NoteNeeded`), or one of the refusals
below, each a sentence for the person who acted (`refusals.py` words the ones about who may act)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import GuildConfig, Ticket
from bot.db.repos import tickets as ticket_repo
from bot.services.errors import ConflictError, GuaranteeError, PermissionDeniedError
from bot.services.escrow.rules import Action, Note, Role, State
from bot.services.guilds import chosen_officer_role, config_of

MARKETPLACE = "marketplace"  # the actor of whatever the marketplace's events do


class AlreadyDoneError(ConflictError):
    """Someone already did this (two officers clicked at once, or a replay)."""


class InvalidTransitionError(ConflictError):
    """The action does not apply to the escrow's current state."""


class SeparationOfDutiesError(PermissionDeniedError):
    """An officer who is a party to the order tried to act on it."""


class BuyerNotJoinedError(ConflictError):
    """Funding was confirmed before the buyer joined: nobody could tell whether the officer is the buyer."""


class NoteRequiredError(GuaranteeError):
    """The action needs a written note (payment reference, reason, resolution)."""


@dataclass(frozen=True, slots=True)
class TicketView:
    """The order's ticket as it stood when the change committed: where to show it, whom to tell."""

    guild_id: int
    channel_id: int | None
    summary_message_id: int | None
    freelancer_id: int
    buyer_id: int | None
    claimed_by: int | None
    officer_role_id: int | None  # chosen with `/guarantee setup`; None: the role named OFFICER_ROLE_NAME
    freelancer_unverified: bool = False  # the seller email changed: `freelancer_id` is nobody on the order now


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded action: what the Discord side announces and the callbacks report."""

    order_id: str
    action: Action
    actor: str
    role: Role
    source: State
    target: State
    version: int
    note: str | None
    source_event_id: str | None
    audit_seq: int
    approved: bool = False  # the buyer's approval is on record (after this change)
    ticket: TicketView | None = None
    callback_queued: bool = False
    effect_ids: tuple[int, ...] = ()  # its Discord effects in the outbox
    money: str = ""  # the order's amount and currency, "120.50 USD"
    replaced: int | None = None  # a take-over: the officer who held the ticket before

    @property
    def state_changed(self) -> bool:
        return self.source is not self.target


@dataclass(frozen=True, slots=True)
class ConfirmNeeded:
    """The action is allowed, and moves money or ends the deal: the person must say yes first, on a question
    naming the amount and who gets it. The answer is bound to `version`: a question opened on an older state
    is refused. `note`: the form that follows the yes, if the action needs one."""

    order_id: str
    action: Action
    version: int
    money: str
    freelancer_id: int | None
    buyer_id: int | None
    claimed_by: int | None
    note: Note | None = None


@dataclass(frozen=True, slots=True)
class NoteNeeded:
    """The action is allowed but needs a written note first: the form, bound to `version`."""

    order_id: str
    action: Action
    note: Note
    version: int


async def ticket_view(session: AsyncSession, order_id: str) -> TicketView | None:
    """The order's ticket as a change shows it, read in the change's transaction."""
    ticket = await ticket_repo.for_order(session=session, order_id=order_id)
    if ticket is None:
        return None
    return view_of(ticket, await config_of(session, ticket.guild_id), ticket.claimed_by)


def view_of(ticket: Ticket | None, config: GuildConfig | None, claimed_by: int | None) -> TicketView | None:
    if ticket is None:
        return None
    return TicketView(
        guild_id=ticket.guild_id,
        channel_id=ticket.channel_id,
        summary_message_id=ticket.summary_message_id,
        freelancer_id=ticket.freelancer_id,
        buyer_id=ticket.buyer_id,
        claimed_by=claimed_by,
        officer_role_id=chosen_officer_role(config),
        freelancer_unverified=ticket.freelancer_unverified,
    )
