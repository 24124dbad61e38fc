"""An operator's way out of FAILED: events that used up their retries are listed and put back in line.

An event fails for good only after `processor.MAX_ATTEMPTS` tries (about four minutes of errors); once the
cause is fixed, `guarantor events retry` gives it (or every failed one) a fresh retry budget.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import EventStatus
from bot.db.repos import events as event_repo
from bot.services.errors import NotFoundError


class FailedEvents:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def listing(self, *, failed_only: bool, limit: int) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await event_repo.listing(
                session=session, status=EventStatus.FAILED if failed_only else None, limit=limit
            )
        return [
            {
                "webhook_id": row.webhook_id,
                "type": row.type,
                "order_id": row.order_id,
                "status": row.status,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "received_at": row.received_at.isoformat(),
            }
            for row in rows
        ]

    async def retry(self, webhook_id: str | None) -> list[str]:
        """Put one failed event (by webhook id) or, with None, every failed event back in line."""
        async with self._sessions.begin() as session:
            retried = await event_repo.retry_failed(
                session=session, webhook_ids=None if webhook_id is None else [webhook_id]
            )
        if webhook_id is not None and not retried:
            raise NotFoundError(
                f"No failed event with webhook id {webhook_id!r} (see `guarantor events list --failed`)."
            )
        return retried
