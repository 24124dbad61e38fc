"""Typed keys for what the handlers share through the application."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bot.services.events.intake import EventIntake
from bot.services.signing import SignatureVerifier


class HealthProbe(Protocol):
    async def database_ok(self) -> bool: ...

    def discord_status(self) -> str: ...


INTAKE = web.AppKey("intake", EventIntake)
VERIFIER = web.AppKey("verifier", SignatureVerifier)
HEALTH = web.AppKey("health", HealthProbe)
