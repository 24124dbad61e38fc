"""The port through which the ticket service reaches Discord (implemented in `cogs.tickets._channels`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from bot.db.models import Order, Ticket
from bot.services.errors import GuaranteeError


class TicketChannel(NamedTuple):
    channel_id: int
    summary_message_id: int


@dataclass(frozen=True, slots=True)
class TicketCard:
    """Everything the channel's first message shows."""

    ticket: Ticket
    order: Order
    checks: list[str] = field(default_factory=list)
    escrow_state: str | None = None
    approved: bool = False  # the buyer approved the work (a ticket reopened late in the deal)


class TicketOpener(Protocol):
    """The Discord side of a ticket, implemented in `bot/` (see `cogs.tickets._channels`).

    Failures the user or an admin can fix are raised as `GuaranteeError`s (missing
    permissions, no officer role, `ChannelGoneError`); anything else is transient.
    """

    async def create_channel(self, card: TicketCard) -> TicketChannel: ...

    async def channel_exists(self, guild_id: int, channel_id: int) -> bool: ...

    async def add_member(self, ticket: Ticket, user_id: int, *, announce: bool = True, side: str = "buyer") -> None:
        """Let a party (`side`: buyer, or freelancer) into the ticket; `announce`: say so in it."""
        ...

    async def notify(
        self, *, user_id: int, fallback_channel_id: int | None, text: str, ticket_channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> None:  # fmt: skip
        """Tell someone `text` by DM (from `guild_id`'s bot, linking the ticket), else with a mention in
        `fallback_channel_id`."""
        ...


class ChannelGoneError(GuaranteeError):
    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"The ticket channel of order {order_id} was deleted. "
            "The freelancer can open it again with `/guarantee open`."
        )
