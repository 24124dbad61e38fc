"""Fault injection and simulated latency for the fake Discord HTTP routes.

A route is `(method, path)` exactly as discord.py's `Route` spells it, e.g.
`("POST", "/channels/{channel_id}/messages")`. `Faults.fail(route, status, times=N)` makes the
next N calls of that route answer with an error; 429s are handled the way discord.py's
`HTTPClient.request` handles them (sleep `retry_after` and retry, up to 5 tries, or raise
`discord.RateLimited` when `retry_after` exceeds `max_ratelimit_timeout`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

import discord

Route = tuple[str, str]

CREATE_CHANNEL: Route = ("POST", "/guilds/{guild_id}/channels")
EDIT_CHANNEL: Route = ("PATCH", "/channels/{channel_id}")
DELETE_CHANNEL: Route = ("DELETE", "/channels/{channel_id}")
GET_CHANNEL: Route = ("GET", "/channels/{channel_id}")
SEND_MESSAGE: Route = ("POST", "/channels/{channel_id}/messages")
EDIT_MESSAGE: Route = ("PATCH", "/channels/{channel_id}/messages/{message_id}")
DELETE_MESSAGE: Route = ("DELETE", "/channels/{channel_id}/messages/{message_id}")
GET_MESSAGE: Route = ("GET", "/channels/{channel_id}/messages/{message_id}")
HISTORY: Route = ("GET", "/channels/{channel_id}/messages")
PIN_MESSAGE: Route = ("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
PINS: Route = ("GET", "/channels/{channel_id}/messages/pins")
OPEN_DM: Route = ("POST", "/users/@me/channels")
EDIT_PERMISSIONS: Route = ("PUT", "/channels/{channel_id}/permissions/{target}")
DELETE_PERMISSIONS: Route = ("DELETE", "/channels/{channel_id}/permissions/{target}")
CREATE_ROLE: Route = ("POST", "/guilds/{guild_id}/roles")
ADD_ROLE: Route = ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
REMOVE_ROLE: Route = ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
GET_MEMBER: Route = ("GET", "/guilds/{guild_id}/members/{user_id}")
GET_USER: Route = ("GET", "/users/{user_id}")
LEAVE_GUILD: Route = ("DELETE", "/users/@me/guilds/{guild_id}")
INTERACTION_CALLBACK: Route = ("POST", "/interactions/{webhook_id}/{webhook_token}/callback")
FOLLOWUP: Route = ("POST", "/webhooks/{webhook_id}/{webhook_token}")
EDIT_ORIGINAL: Route = ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original")

_ERRORS: dict[int, tuple[int, str]] = {
    400: (50035, "Invalid Form Body"),
    403: (50013, "Missing Permissions"),
    404: (10003, "Unknown Channel"),
    429: (0, "You are being rate limited."),
}


class FakeResponse(NamedTuple):
    """What `discord.HTTPException` reads from an aiohttp response."""

    status: int
    reason: str


def http_error(status: int, code: int | None = None, message: str | None = None) -> discord.HTTPException:
    """The exception discord.py raises for this status, with Discord's JSON error body."""
    default_code, default_message = _ERRORS.get(status, (0, "Server Error"))
    body = {"code": default_code if code is None else code, "message": message or default_message}
    response = FakeResponse(status, body["message"])
    if status == 403:
        return discord.Forbidden(response, body)  # type: ignore[arg-type]
    if status == 404:
        return discord.NotFound(response, body)  # type: ignore[arg-type]
    if status >= 500:
        return discord.DiscordServerError(response, body)  # type: ignore[arg-type]
    return discord.HTTPException(response, body)  # type: ignore[arg-type]


@dataclass
class Fault:
    status: int
    times: int
    retry_after: float = 0.0
    code: int | None = None
    message: str | None = None


@dataclass
class Faults:
    """Per-route scripted failures, latency and a log of every call made through a route."""

    latency: dict[Route, float] = field(default_factory=dict)
    default_latency: float = 0.0
    max_ratelimit_timeout: float | None = None
    calls: list[Route] = field(default_factory=list)
    failures: list[tuple[Route, int]] = field(default_factory=list)
    _pending: dict[Route, list[Fault]] = field(default_factory=lambda: defaultdict(list))

    def fail(
        self,
        route: Route,
        status: int,
        *,
        times: int = 1,
        retry_after: float = 0.01,
        code: int | None = None,
        message: str | None = None,
    ) -> None:
        """Make the next `times` calls of `route` answer `status` (429, 403, 404, 5xx, ...)."""
        self._pending[route].append(Fault(status, times, retry_after, code, message))

    def clear(self) -> None:
        self._pending.clear()

    def count(self, route: Route) -> int:
        """How many requests (including retried ones) reached `route`."""
        return self.calls.count(route)

    def _next(self, route: Route) -> Fault | None:
        queue = self._pending.get(route)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    async def gate(self, route: Route) -> None:
        """Run before a route's effect: wait the latency, then raise a scripted fault if any.

        Mirrors `discord.http.HTTPClient.request`: a 429 sleeps `retry_after` and retries (5 tries),
        500/502/504 retry after a (shortened) back-off, other errors raise at once.
        """
        delay = self.latency.get(route, self.default_latency)
        for _ in range(5):
            self.calls.append(route)
            if delay:
                await asyncio.sleep(delay)
            fault = self._next(route)
            if fault is None:
                return
            self.failures.append((route, fault.status))
            if fault.status == 429:
                if self.max_ratelimit_timeout and fault.retry_after > self.max_ratelimit_timeout:
                    raise discord.RateLimited(fault.retry_after)
                await asyncio.sleep(fault.retry_after)
                continue
            if fault.status in {500, 502, 504, 524}:
                await asyncio.sleep(fault.retry_after)
                continue
            raise http_error(fault.status, fault.code, fault.message)
        raise http_error(fault.status if fault else 500)
