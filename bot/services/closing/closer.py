"""Closing a ticket: the `ticket.close` effect, done by the effect worker (PRODUCT.md §5).

In order, each step recorded on the ticket row as it is done, so that a closing stopped half-way (a crash,
Discord down) is finished by the next worker without doing a step twice:

1. read the channel's whole history (the `ClosingDiscord` port, `cogs.closing`) and save the transcript
   (`storage.save_transcript`: attachments, text and HTML pages); then, in one transaction, the ticket records
   its files and the HTML's SHA-256, and the audit chain gets its `close` entry (no state change). A transcript
   recorded before is never read again: the channel may be gone by then;
2. post both files to the server's log channel;
3. tell both parties (a DM; a mention in the ticket when their DMs are closed);
4. delete the channel, or lock it (`CLOSED_TICKET_ACTION=lock`); one already gone is fine. Then the ticket is
   `closed` and the effect done, in one transaction.

A Discord failure is raised, and the worker retries the effect later. A transcript that cannot be saved
(the disk is full, say) ends the closing: the ticket goes back to open with its channel untouched, and the
officer who closed it is told why, so they can close it again once it is fixed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.clock import database_now
from bot.db.models import DiscordEffect, EffectStatus, Order, Ticket, TicketState
from bot.db.repos import closing as repo
from bot.db.repos import effects as effect_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as ticket_repo
from bot.services.closing.header import load_header
from bot.services.closing.storage import AttachmentFetcher, save_transcript
from bot.services.closing.transcript import Transcript
from bot.services.escrow import audit
from bot.services.guilds import config_of
from bot.services.tickets.port import ChannelGoneError
from bot.services.vocabulary import OFFICER, money, state_words

log = logging.getLogger(__name__)

ACTION, ROLE = "close", "officer"


@dataclass(frozen=True, slots=True)
class TranscriptPost:
    """A closed ticket's transcript, for the server's log channel."""

    guild_id: int
    channel_id: int
    text: str
    files: tuple[Path, ...]


class ClosingDiscord(Protocol):
    """The Discord side of closing (implemented in `cogs.closing._port`). Raise for a failure that may pass."""

    @property
    def fetcher(self) -> AttachmentFetcher | None: ...

    async def read_transcript(self, ticket: Ticket) -> Transcript | None:
        """The ticket channel's whole history under its header; None when the channel is gone."""
        ...

    async def post_transcript(self, post: TranscriptPost) -> None:
        """Post the files in the log channel; `ChannelGoneError` when that channel is gone."""
        ...

    async def tell(self, ticket: Ticket, user_id: int, body: str) -> None:
        """A DM that says where it comes from; a mention in the ticket when their DMs are closed."""
        ...

    async def tell_officer(self, ticket: Ticket, officer_id: int, text: str) -> None:
        """`text` to the officer who closed: in the ticket (mentioning them), else by DM."""
        ...

    async def end_channel(self, ticket: Ticket, action: str) -> None:
        """Delete the channel (`delete`) or lock it (`lock`); nothing when it is gone already."""
        ...


class NotAttachedError(Exception):
    """No Discord side is attached (no bot in this process, or not connected yet): the effect waits."""


def why_not_saved(exc: BaseException) -> str:
    """What went wrong with the disk, in words an officer can act on (never a path of the server)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "an unexpected error; the bot's log says more"


class TicketCloser:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, data_dir: str | os.PathLike[str], action: str,
        retention_days: int,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self._data_dir = data_dir
        self._action = action
        self._retention_days = retention_days
        self.discord: ClosingDiscord | None = None

    def attach(self, discord: ClosingDiscord | None) -> None:
        self.discord = discord

    async def perform_close(self, effect: DiscordEffect) -> None:
        """Do what is left of the closing, step by step; finish the effect with the ticket closed (or given back)."""
        port = self.discord
        if port is None:
            raise NotAttachedError("the bot is not connected to Discord")
        payload = json.loads(effect.payload)
        by, reason = int(payload["by"]), payload.get("reason")
        ticket, order = await self._load(effect.order_id)
        if ticket is None or order is None or ticket.state != TicketState.CLOSING:
            await self._finish(effect, EffectStatus.DONE, "the ticket is not being closed")
            return
        if ticket.transcript_sha256 is None:
            if not await self._save(port, ticket, effect, by, reason):
                return
            ticket, order = await self._load(effect.order_id)
            assert ticket is not None and order is not None
        if ticket.transcript_posted_at is None:
            await self._post(port, ticket, order, by, reason)
        if ticket.parties_told_at is None:
            await self._tell(port, ticket, order)
        await port.end_channel(ticket, self._action)
        await self._closed(ticket, effect)
        log.info("ticket of order %s closed (%s)", ticket.order_id, self._action)

    # ---- the steps -----------------------------------------------------------------------------
    async def _save(
        self, port: ClosingDiscord, ticket: Ticket, effect: DiscordEffect, by: int, reason: str | None
    ) -> bool:
        transcript = await port.read_transcript(ticket)  # a Discord failure is raised: the effect is retried
        if transcript is None:  # the channel is gone (deleted by hand): the record keeps the header and audit trail
            transcript = Transcript(header=await load_header(self._sessions, order_id=ticket.order_id), messages=())
        try:
            saved = await save_transcript(transcript, data_dir=self._data_dir, fetcher=port.fetcher)
        except Exception as exc:
            log.exception("the transcript of order %s could not be saved; the ticket stays open", ticket.order_id)
            await self._give_up(port, ticket, effect, by, why_not_saved(exc))
            return False
        async with self._sessions.begin() as session:
            escrow = await escrow_repo.get(session=session, order_id=ticket.order_id)
            state = escrow.state if escrow is not None else "none"
            recorded = await repo.record_step(
                session=session, ticket_id=int(ticket.id or 0), unset="transcript_sha256",
                transcript_html=str(saved.html), transcript_text=str(saved.text), transcript_sha256=saved.html_sha256,
            )  # fmt: skip
            if recorded:  # once, with the digest it records
                note = f"transcript sha256 {saved.html_sha256}" + (f"\nreason: {reason}" if reason else "")
                record = audit.Record(ticket.order_id, ACTION, str(by), ROLE, state, state, note=note)
                await audit.append(session=session, record=record)
        log.info(
            "transcript of order %s saved: %d messages, %d attachments (%d listed only)", ticket.order_id,
            len(saved.transcript.messages), saved.attachments_saved, saved.attachments_listed,
        )  # fmt: skip
        return True

    async def _post(self, port: ClosingDiscord, ticket: Ticket, order: Order, by: int, reason: str | None) -> None:
        async with self._sessions() as session:
            config = await config_of(session, ticket.guild_id)
            escrow = await escrow_repo.get(session=session, order_id=ticket.order_id)
        log_channel = config.log_channel_id if config is not None else None
        files = tuple(Path(p) for p in (ticket.transcript_html, ticket.transcript_text) if p)
        if log_channel is None:
            log.warning("guild %s has no log channel: the transcript of order %s is not posted", ticket.guild_id,
                        ticket.order_id)  # fmt: skip
        else:
            state = state_words(escrow.state if escrow is not None else None)
            text = (
                f"📄 Transcript of the ticket of order {order.id} ({money(order.amount, order.currency)}, {state}), "
                f"closed by <@{by}>."
                + (f" Reason:\n{quote(reason)}" if reason else "")
                + f"\nSHA-256 of the HTML page, as the audit log records it: `{ticket.transcript_sha256}`"
            )
            try:
                await port.post_transcript(TranscriptPost(ticket.guild_id, log_channel, text, files))
            except ChannelGoneError:
                log.warning("the log channel of guild %s is gone: the transcript of order %s is not posted",
                            ticket.guild_id, ticket.order_id)  # fmt: skip
        await self._step(ticket, "transcript_posted_at")

    async def _tell(self, port: ClosingDiscord, ticket: Ticket, order: Order) -> None:
        channel = "its channel is deleted" if self._action == "delete" else "its channel stays, read-only"
        body = (
            f"**Order {order.id} · {money(order.amount, order.currency)}:** a {OFFICER} closed the ticket; {channel}. "
            f"A transcript of it is kept for {self._retention_days} days. If something is still open, ask a "
            f"{OFFICER} in this server."
        )
        for user_id in (ticket.freelancer_id, ticket.buyer_id):
            if user_id is not None:
                await port.tell(ticket, user_id, body)
        await self._step(ticket, "parties_told_at")

    async def _step(self, ticket: Ticket, column: str) -> None:
        async with self._sessions.begin() as session:
            now = await database_now(session)
            await repo.record_step(session=session, ticket_id=int(ticket.id or 0), unset=column, **{column: now})

    async def _closed(self, ticket: Ticket, effect: DiscordEffect) -> None:
        gone = self._action == "delete" or ticket.channel_id is None
        async with self._sessions.begin() as session:
            now = await database_now(session)
            channel = {"channel_id": None, "summary_message_id": None} if gone else {}
            await ticket_repo.set_state(
                session=session, ticket_id=int(ticket.id or 0), expected=TicketState.CLOSING, new=TicketState.CLOSED,
                closed_at=now, **channel,
            )  # fmt: skip
            done = EffectStatus.DONE
            await effect_repo.finish(session=session, effect_ids=[int(effect.id or 0)], now=now, status=done)

    async def _give_up(self, port: ClosingDiscord, ticket: Ticket, effect: DiscordEffect, by: int, why: str) -> None:
        """The transcript could not be saved: the ticket is open again, its channel untouched; the officer is told."""
        back = TicketState.OPEN if ticket.channel_id is not None else TicketState.ORPHANED
        async with self._sessions.begin() as session:
            now = await database_now(session)
            await ticket_repo.set_state(
                session=session, ticket_id=int(ticket.id or 0), expected=TicketState.CLOSING, new=back
            )
            await effect_repo.finish(
                session=session, effect_ids=[int(effect.id or 0)], now=now, status=EffectStatus.DROPPED,
                note=f"transcript not saved: {why}",
            )  # fmt: skip
        text = (
            f"The ticket of order {ticket.order_id} was not closed: its transcript could not be saved ({why}). "
            "The channel stays as it is. Ask the server's operator to fix that, then click **Close ticket** again "
            "or run `/guarantee close`."
        )
        try:
            await port.tell_officer(ticket, by, text)
        except Exception:
            log.exception("could not tell officer %s that order %s was not closed", by, ticket.order_id)

    # ---- reads ---------------------------------------------------------------------------------
    async def _load(self, order_id: str) -> tuple[Ticket | None, Order | None]:
        async with self._sessions() as session:
            ticket = await ticket_repo.for_order(session=session, order_id=order_id, fresh=True)
            order = await order_repo.get(session=session, order_id=order_id)
        return ticket, order

    async def _finish(self, effect: DiscordEffect, status: EffectStatus, note: str | None = None) -> None:
        async with self._sessions.begin() as session:
            now = await database_now(session)
            ids = [int(effect.id or 0)]
            await effect_repo.finish(session=session, effect_ids=ids, now=now, status=status, note=note)


def quote(text: str) -> str:
    """Every line of a person's text as a quote, so no line can pass for the bot's own."""
    return "\n".join(f"> {part}" for part in text.splitlines() or [""])
