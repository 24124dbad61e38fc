"""Outbound `escrow.state_changed` callbacks: a transactional outbox and its delivery worker.

A transition queues its callback in its own transaction, so a committed transition always
has one. The worker POSTs each one signed per Standard Webhooks, at least once, and in
order per order: a callback waits while an earlier one for the same order is undelivered.
Failures are retried with exponential backoff; the schedule lives in the database, so it
survives restarts. HTTP is a port (`CallbackPoster`); `bot/http_callbacks.py` implements it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.clock import database_now
from bot.db.models import CallbackDelivery
from bot.db.repos import callbacks as callback_repo
from bot.db.types import utcnow
from bot.services.errors import error_text
from bot.services.signing import sign
from bot.services.worker import PollingWorker

log = logging.getLogger(__name__)

EVENT_TYPE = "escrow.state_changed"
POLL_SECONDS = 5.0
BATCH = 64
LEASE = timedelta(minutes=2)  # longer than one post takes (10 s timeout): a sender that died lets go after it
PENDING, DELIVERED = "pending", "delivered"


class CallbackPoster(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: str) -> int:
        """POST `body`; return the HTTP status (raise on a network failure)."""
        ...


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at one hour; never gives up."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


async def queue(*, session: AsyncSession, webhook_id: str, order_id: str, data: Mapping[str, object]) -> None:
    """Add a callback to the outbox inside the caller's transaction."""
    body = json.dumps(
        {"type": EVENT_TYPE, "timestamp": utcnow().isoformat(), "data": dict(data)},
        separators=(",", ":"),
        sort_keys=True,
    )
    session.add(CallbackDelivery(webhook_id=webhook_id, order_id=order_id, body=body))
    await session.flush()


class CallbackWorker(PollingWorker):
    name = "guarantor-callbacks"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        poster: CallbackPoster,
        *,
        url: str,
        secret: str,
        poll_seconds: float = POLL_SECONDS,
        retry_after: Callable[[int], timedelta] = backoff,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self._poster = poster
        self._url = url
        self._secret = secret
        self._poll_seconds = poll_seconds
        self._retry_after = retry_after
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def deliver_due(self, limit: int = BATCH) -> int:
        """Try every due callback once (each order's first in line, held by this sender while it posts it, so
        no other process sends it or the next one of its order); returns how many were delivered."""
        async with self._sessions.begin() as session:
            now = await database_now(session)
            due = await callback_repo.due(session=session, now=now, limit=limit)
            mine = [
                callback
                for callback in due
                if await callback_repo.claim(session=session, callback_id=int(callback.id or 0), now=now, lease=LEASE)
            ]
        delivered = 0
        for callback in mine:
            delivered += await self._attempt(callback)
        return delivered

    async def _attempt(self, callback: CallbackDelivery) -> bool:
        now = utcnow()
        headers = {
            "content-type": "application/json",
            "webhook-id": callback.webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(self._secret, callback.webhook_id, now, callback.body),
        }
        status: int | None = None
        error: str | None = None
        try:
            status = await self._poster.post(self._url, headers, callback.body)
        except Exception as exc:
            error = error_text(exc)
        ok = status is not None and 200 <= status < 300
        await self._record(callback.id, ok=ok, status=status, error=error, at=now)
        if not ok:
            log.warning("callback %s for order %s failed (%s)", callback.webhook_id, callback.order_id, error or status)
        return ok

    async def _record(
        self, callback_id: int | None, *, ok: bool, status: int | None, error: str | None, at: datetime
    ) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(CallbackDelivery, callback_id)
            if row is None or row.status != PENDING:
                return
            row.attempts += 1
            row.last_status = status
            row.claimed_until = None
            if ok:
                row.status, row.delivered_at, row.last_error = DELIVERED, at, None
            else:
                row.last_error = error or f"HTTP {status}"
                # The database's clock: a process whose clock jumped must not delay (or hurry) the order's callbacks.
                row.next_attempt_at = await database_now(session) + self._retry_after(row.attempts)

    async def work(self) -> int:
        return await self.deliver_due()
