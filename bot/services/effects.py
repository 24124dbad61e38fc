"""The effect worker: does the outbox's Discord effects in the bot process, in order per order (each kind
in its own line, all of them after the ticket's channel is made), only while Discord is ready, retrying
with backoff on the database's clock. A failure that may pass (Discord down or
slow, rate limits, the bot not connected yet, a permission an admin can still grant) is retried, never
given up; an effect is dropped only when there is nothing left to do it on (its ticket's channel is gone).

Processes without a bot never run effects: they write them and leave them for the bot's worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.clock import database_now
from bot.db.models import DiscordEffect, EffectStatus, Escrow, Order, Ticket
from bot.db.repos import effects as repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as ticket_repo
from bot.services.errors import GuaranteeError, error_text
from bot.services.escrow.announcements import Line, Notice, Removal
from bot.services.escrow.results import MARKETPLACE, Change
from bot.services.guilds import chosen_officer_role, config_of
from bot.services.outbox import Kind, lease_for
from bot.services.tickets.port import ChannelGoneError
from bot.services.timers.schedule import TimerNotice, still_holds
from bot.services.worker import PollingWorker

if TYPE_CHECKING:
    from bot.services.escrow.callbacks import CallbackWorker

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
BATCH = 64
CONCURRENCY = 8  # effects of different orders in flight at once: one slow call holds up only its own order
CLOSE_GRACE_SECONDS = 5.0
TICKET_KINDS = frozenset({Kind.OPEN_TICKET.value, Kind.TELL_REQUESTER.value})  # the tickets feature does these
NO_TICKET_KINDS = TICKET_KINDS | {Kind.LOG_POST.value}  # done without a snapshot of the order's ticket
NO_TICKET_KINDS |= {Kind.CLOSE_TICKET.value}  # closing reads its ticket itself, step by step


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 5 minutes; never gives up."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 300))


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    """An order's ticket as it is now: what an effect shows (read when the effect runs, so it is never stale)."""

    ticket: Ticket
    order: Order
    escrow: Escrow | None
    officer_role_id: int | None  # chosen with `/guarantee setup`; None: the role named OFFICER_ROLE_NAME


class DiscordSide(Protocol):
    """The Discord side of the escrow's effects (implemented in `cogs.escrow`)."""

    def ready(self) -> bool:
        """Connected, with the guild cache filled: effects may run."""
        ...

    async def refresh_summary(self, snapshot: TicketSnapshot) -> None: ...

    async def post_line(self, snapshot: TicketSnapshot, line: Line) -> None: ...

    async def tell(self, snapshot: TicketSnapshot, notice: Notice) -> None: ...

    async def remove_party(self, snapshot: TicketSnapshot, removal: Removal) -> None:
        """A party whose email changed: tell them to verify again (`removal.tell`: a DM, else a mention in the
        ticket), or take them out of the ticket's channel (their permission overwrite removed)."""
        ...

    async def post_log(self, notice: LogNotice) -> None: ...

    async def timer_notice(self, snapshot: TicketSnapshot, notice: TimerNotice) -> None:
        """What a fired timer says (`bot.services.timers`), pinging only whom it concerns."""
        ...


@dataclass(frozen=True, slots=True)
class LogNotice:
    """A notice to a server's officers in its log channel (pinging the officer role, unless `ping` is off: a
    record such as the audit chain's daily anchor)."""

    guild_id: int
    channel_id: int
    officer_role_id: int | None
    text: str
    ping: bool = True

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> LogNotice:
        role = data.get("officer_role_id")
        return cls(
            int(data["guild_id"]), int(data["channel_id"]), int(role) if role else None, str(data["text"]),
            ping=bool(data.get("ping", True)),
        )  # fmt: skip


class TicketEffects(Protocol):
    """The tickets' own effects (implemented by `bot.services.tickets.opening.ChannelMaker`); each finishes
    its effect itself, in the transaction that records what it did."""

    async def perform_open(self, effect: DiscordEffect) -> object: ...

    async def perform_tell(self, effect: DiscordEffect, payload: dict[str, Any]) -> None: ...


class ClosingEffects(Protocol):
    """Closing a ticket (implemented by `bot.services.closing.closer.TicketCloser`, whose Discord side is in
    `cogs.closing`); it finishes its effect itself, in the transaction that records the ticket closed."""

    async def perform_close(self, effect: DiscordEffect) -> None: ...


class NotReadyError(Exception):
    """Discord is not connected (or its cache not filled yet): try again later."""


class EffectWorker(PollingWorker):
    name = "guarantor-effects"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tickets: TicketEffects,
        *,
        callbacks: CallbackWorker | None = None,
        closing: ClosingEffects | None = None,
        on_failure: Callable[[BaseException], None] = lambda _exc: None,
        poll_seconds: float = POLL_SECONDS,
        concurrency: int = CONCURRENCY,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self._tickets = tickets
        self._callbacks = callbacks
        self._closing = closing
        self._on_failure = on_failure  # metrics: the Discord errors behind retried effects
        self._discord: DiscordSide | None = None
        self._concurrency = concurrency
        self._running: set[asyncio.Task[None]] = set()
        self._in_background = False

    def attach(self, discord: DiscordSide | None) -> None:
        """Connect (or, with None, disconnect) the Discord side; without it nothing runs."""
        self._discord = discord
        if discord is not None:
            self.wake()

    @property
    def ready(self) -> bool:
        return self._discord is not None and self._discord.ready()

    async def escrow_changed(self, changes: Sequence[Change]) -> None:
        """Escrow changes committed (their effects are in the outbox): get their callbacks sent, and their
        effects done: at once for changes whose maker holds them (a person's click), else by the worker."""
        if any(change.callback_queued for change in changes) and self._callbacks is not None:
            self._callbacks.wake()
        held = [effect_id for change in changes for effect_id in change.effect_ids]
        if held and any(change.actor != MARKETPLACE for change in changes):
            await self.run_now(held)
        else:
            self.wake()

    async def run_now(self, effect_ids: Sequence[int]) -> None:
        """Do effects this process wrote held, in order. One still behind another in its order's line, or
        behind one that failed just now, goes back to the worker, which keeps the line."""
        async with self._sessions() as session:
            rows = [row for i in effect_ids if (row := await repo.get(session=session, effect_id=i)) is not None]
            mine = [int(row.id or 0) for row in rows]  # in this batch, order is kept by doing them one by one
            behind = {row.id for row in rows if await repo.waits_behind(session=session, effect=row, besides=mine)}
        snapshot: TicketSnapshot | None = None
        failed: set[str] = set()
        for row in rows:
            if not self.ready or row.id in behind or failed & {row.kind, Kind.OPEN_TICKET.value}:
                failed.add(row.kind)
                async with self._sessions.begin() as session:
                    await repo.release(session=session, effect_ids=[int(row.id or 0)])
                continue
            if snapshot is None and row.kind not in NO_TICKET_KINDS:
                snapshot = await self.snapshot(row.order_id)
            if not await self.run_held(row, snapshot):
                failed.add(row.kind)
        if failed:
            self.wake()

    # ---- the passes ----------------------------------------------------------------------
    async def work(self) -> int:
        """Take the due effects there is room for and do them; returns how many were taken. Run by `start()`,
        a pass does not wait for them: one slow Discord call (a long 429) holds up only its own order's line,
        while the next pass takes the others. Called directly (tests, tools), it waits for all it took."""
        room = self._concurrency - len(self._running)
        if not self.ready or room <= 0:
            return 0
        async with self._sessions.begin() as session:
            now = await database_now(session)
            due = await repo.due(session=session, now=now, limit=min(BATCH, room))
            mine = [
                e
                for e in due
                if await repo.claim(session=session, effect_id=int(e.id or 0), now=now, lease=lease_for(e.kind))
            ]
        tasks = [asyncio.create_task(self._done_then_wake(effect)) for effect in mine]
        self._running.update(tasks)
        if not self._in_background:
            await asyncio.gather(*tasks)
        return len(mine)

    async def _done_then_wake(self, effect: DiscordEffect) -> None:
        try:
            await self.run_held(effect)
        except asyncio.CancelledError:  # shutting down mid-effect: let another worker take it at once
            await asyncio.shield(self._let_go(effect))
            raise
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)
            self.wake()  # room for another, and the next in this order's line may be due

    def start(self) -> None:
        self._in_background = True
        super().start()

    async def close(self) -> None:
        """Stop taking effects; give the ones in flight a moment to finish, then stop them (their holds go)."""
        await super().close()
        self._in_background = False
        running, self._running = list(self._running), set()
        if running:
            await asyncio.wait(running, timeout=CLOSE_GRACE_SECONDS)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _let_go(self, effect: DiscordEffect) -> None:
        async with self._sessions.begin() as session:
            await repo.release(session=session, effect_ids=[int(effect.id or 0)])

    async def run_held(self, effect: DiscordEffect, snapshot: TicketSnapshot | None = None) -> bool:
        """Do an effect this process holds (claimed, or written held); True when it is finished."""
        try:
            if not self.ready:
                raise NotReadyError("Discord is not ready")
            finished = await self._perform(effect, snapshot)
        except ChannelGoneError as exc:
            await self._finish(effect, EffectStatus.DROPPED, str(exc))
            return True
        except Exception as exc:
            self._on_failure(exc.__cause__ or exc)
            await self._retry(effect, exc)
            return False
        if finished:
            await self._finish(effect, EffectStatus.DONE)
        return True

    async def _perform(self, effect: DiscordEffect, snapshot: TicketSnapshot | None) -> bool:
        """Do it; False when the effect finished itself (in the transaction that recorded its result)."""
        payload: dict[str, Any] = json.loads(effect.payload)
        kind = Kind(effect.kind)
        if kind is Kind.OPEN_TICKET:
            await self._tickets.perform_open(effect)
            return False
        if kind is Kind.TELL_REQUESTER:
            await self._tickets.perform_tell(effect, payload)
            return False
        if kind is Kind.CLOSE_TICKET:
            if self._closing is None:
                raise NotReadyError("closing is not set up in this process")
            await self._closing.perform_close(effect)
            return False
        discord = self._discord
        if discord is None:
            raise NotReadyError("Discord is not attached")
        if kind is Kind.LOG_POST:
            await discord.post_log(LogNotice.from_payload(payload))
            return True
        snapshot = snapshot or await self.snapshot(effect.order_id)
        if snapshot is None or snapshot.ticket.channel_id is None:
            raise ChannelGoneError(effect.order_id)
        if kind is Kind.REFRESH_SUMMARY:
            await discord.refresh_summary(snapshot)
        elif kind is Kind.POST_LINE:
            await discord.post_line(snapshot, Line.from_payload(payload))
        elif kind is Kind.TIMER_NOTICE:
            await self._timer_notice(discord, snapshot, TimerNotice.from_payload(payload))
        elif kind is Kind.REMOVE_PARTY:
            await discord.remove_party(snapshot, Removal.from_payload(payload))
        else:
            await discord.tell(snapshot, Notice.from_payload(payload))
        return True

    @staticmethod
    async def _timer_notice(discord: DiscordSide, snapshot: TicketSnapshot, notice: TimerNotice) -> None:
        """A timer's message, unless what it is about changed since it fired (then it is no longer true)."""
        if still_holds(notice.kind, snapshot.ticket, snapshot.order, snapshot.escrow):
            await discord.timer_notice(snapshot, notice)
        else:
            log.info("timer notice %s of order %s is no longer true; not sent", notice.kind, snapshot.order.id)

    async def snapshot(self, order_id: str) -> TicketSnapshot | None:
        async with self._sessions() as session:
            ticket = await ticket_repo.for_order(session=session, order_id=order_id)
            order = await order_repo.get(session=session, order_id=order_id)
            if ticket is None or order is None:
                return None
            escrow = await escrow_repo.get(session=session, order_id=order_id)
            config = await config_of(session, ticket.guild_id)
        return TicketSnapshot(ticket, order, escrow, chosen_officer_role(config))

    async def _finish(self, effect: DiscordEffect, status: EffectStatus, note: str | None = None) -> None:
        async with self._sessions.begin() as session:
            now = await database_now(session)
            await repo.finish(session=session, effect_ids=[int(effect.id or 0)], now=now, status=status, note=note)
        if status is EffectStatus.DROPPED:
            log.info("effect %s of order %s dropped: %s", effect.kind, effect.order_id, note)

    async def _retry(self, effect: DiscordEffect, exc: Exception) -> None:
        await retry_later(self._sessions, effect, exc)


async def retry_later(sessions: async_sessionmaker[AsyncSession], effect: DiscordEffect, exc: Exception) -> None:
    """Let go of an effect that failed for now: due again after a backoff on the database's clock."""
    error = str(exc) if isinstance(exc, GuaranteeError | NotReadyError) else error_text(exc)
    async with sessions.begin() as session:
        now = await database_now(session)
        row = await repo.get(session=session, effect_id=int(effect.id or 0))
        attempts = max(row.attempts if row is not None else 0, 1)
        await repo.retry(session=session, effect_id=int(effect.id or 0), at=now + backoff(attempts), error=error)
    log.warning("effect %s of order %s failed (attempt %d); retried later: %s", effect.kind, effect.order_id,
                attempts, error)  # fmt: skip
