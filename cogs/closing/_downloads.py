"""Attachments downloaded with aiohttp: the `AttachmentFetcher` port of `bot.services.closing.storage`.

Only Discord's file hosts over https are fetched (a transcript never makes the bot fetch an
address a user typed), redirects are not followed, and the size limit holds twice: an announced
`Content-Length` over it stops the download before the body is read, and the bytes are counted
as they stream in (after any decompression), so a server that announces nothing, or less than it
sends, is cut off at the limit.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bot.services.closing.storage import FetchError, TooLargeError

DISCORD_FILE_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
CHUNK = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10, sock_read=30)


class AiohttpAttachmentFetcher:
    """One client session, made on first use (or given) and closed by `close()`."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        hosts: Collection[str] = DISCORD_FILE_HOSTS,
        schemes: Collection[str] = ("https",),
        timeout: aiohttp.ClientTimeout = TIMEOUT,
    ) -> None:
        self._session, self._owned = session, session is None
        self._hosts, self._schemes, self._timeout = frozenset(hosts), frozenset(schemes), timeout

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in self._schemes or (parts.hostname or "").lower() not in self._hosts:
            raise FetchError(f"not a Discord file link ({parts.hostname or 'no host'})")

    async def fetch(self, url: str, destination: Path, *, max_bytes: int) -> int:
        self._check(url)
        if self._session is None or self._session.closed:
            self._session, self._owned = aiohttp.ClientSession(timeout=self._timeout), True
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status} from Discord (the link may have expired)")
                if response.content_length is not None and response.content_length > max_bytes:
                    raise TooLargeError(max_bytes, response.content_length)
                return await _stream(response, destination, max_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchError(f"download failed ({type(exc).__name__})") from None

    async def close(self) -> None:
        if self._session is not None and self._owned:
            await self._session.close()
        self._session = None


async def _stream(response: aiohttp.ClientResponse, destination: Path, max_bytes: int) -> int:
    written = 0
    with destination.open("wb") as file:
        async for chunk in response.content.iter_chunked(CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise TooLargeError(max_bytes)
            file.write(chunk)
    return written
