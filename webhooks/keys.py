"""Typed keys for what the handlers share through the application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from bot.services.events.intake import EventIntake
from bot.services.signing import SignatureVerifier


@dataclass(frozen=True, slots=True)
class Backlog:
    events: int  # stored, not processed yet
    oldest_seconds: float  # how long the oldest of them has waited
    stalled: bool  # so long that processing is not keeping up (or not running)


class HealthProbe(Protocol):
    async def database_ok(self) -> bool: ...

    def discord_status(self) -> str: ...

    async def backlog(self) -> Backlog: ...


INTAKE = web.AppKey("intake", EventIntake)
VERIFIER = web.AppKey("verifier", SignatureVerifier)
HEALTH = web.AppKey("health", HealthProbe)
