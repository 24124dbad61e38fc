"""What a committed change asks of the world outside the database, and the one place that runs it.

Applying an event (`OrderBook.apply`) returns its effects; the processor runs them here once
the event's transaction has committed. An escrow action by a person runs its effects here too
(`escrow_changed`). An effect that fails is logged; the database already holds the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.services.escrow.results import Change

if TYPE_CHECKING:
    from bot.services.escrow.callbacks import CallbackWorker
    from bot.services.tickets.service import TicketService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenPendingTicket:
    """Requests that waited for this order were resolved: make its ticket channel, tell the requesters."""

    order_id: str


@dataclass(frozen=True, slots=True)
class AnnounceEscrowChange:
    """Show the change in the order's ticket and tell whoever acts next; deliver its callback."""

    change: Change


Effect = OpenPendingTicket | AnnounceEscrowChange


class EscrowAnnouncer(Protocol):
    """The Discord side of an escrow change (implemented in `cogs.escrow`)."""

    async def announce(self, change: Change) -> None: ...


class EffectRunner:
    """Runs effects after their transaction: tickets, announcements, callback delivery."""

    def __init__(self, tickets: TicketService, callbacks: CallbackWorker | None = None) -> None:
        self._tickets = tickets
        self._callbacks = callbacks
        self._announcer: EscrowAnnouncer | None = None

    def attach(self, announcer: EscrowAnnouncer | None) -> None:
        """Connect (or, with None, disconnect) the Discord side of escrow announcements."""
        self._announcer = announcer

    async def run(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            try:
                if isinstance(effect, OpenPendingTicket):
                    await self._tickets.finish_order(effect.order_id)
                else:
                    await self._announce(effect.change)
            except Exception:
                log.exception("after-commit effect %s failed", type(effect).__name__)

    async def escrow_changed(self, changes: Sequence[Change]) -> None:
        await self.run([AnnounceEscrowChange(change) for change in changes])

    async def _announce(self, change: Change) -> None:
        if change.callback_queued and self._callbacks is not None:
            self._callbacks.wake()
        if self._announcer is not None:
            await self._announcer.announce(change)
