"""The HTTP side of outbound callbacks: `CallbackPoster` implemented with aiohttp. Redirects are not followed."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.escrow.callbacks import CallbackWorker
from bot.settings import Settings

TIMEOUT_SECONDS = 10.0


class AiohttpPoster:
    """POSTs with one shared client session, made on first use and closed by `close()`."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, headers: Mapping[str, str], body: str) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        # Never followed (PRODUCT.md §4): a 3xx is the answer, a failed delivery retried like any other; a 307/308
        # would otherwise send the signed body to wherever the receiver points.
        async with self._session.post(
            url, data=body.encode(), headers=dict(headers), allow_redirects=False
        ) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def callback_worker(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], poster: AiohttpPoster
) -> CallbackWorker | None:
    """The delivery worker when `MARKETPLACE_CALLBACK_URL` and `_SECRET` are set, else None."""
    if settings.marketplace_callback_url is None or settings.marketplace_callback_secret is None:
        return None
    return CallbackWorker(
        sessions,
        poster,
        url=str(settings.marketplace_callback_url),
        secret=settings.marketplace_callback_secret.get_secret_value(),
    )
