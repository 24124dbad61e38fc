"""The project's bot in the fake Discord (`env`, the harness's `discord_env`), with agreed orders
arriving by signed webhook through the harness's `deliver` fixture."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Ticket, TicketRequest
from tests.harness._world import DiscordEnv
from tests.webhooks.events import terms

GOOD_EMAIL = "seller@example.com"


def gig(order_id: str = "ord_1") -> str:
    return str(terms(order_id)["gig_url"])


@pytest.fixture
def env(discord_env: DiscordEnv) -> DiscordEnv:
    """The harness's `discord_env`: agreed orders come through its `deliver` (a plugin fixture too)."""
    return discord_env


async def expire_holds(env: DiscordEnv) -> None:
    await env.expire_holds()


async def work_effects(env: DiscordEnv) -> None:
    await env.work_effects()


async def tickets(env: DiscordEnv) -> list[Ticket]:
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        return list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())  # type: ignore[arg-type]


async def requests(env: DiscordEnv) -> list[TicketRequest]:
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        return list((await session.scalars(select(TicketRequest))).all())


def ticket_channels(env: DiscordEnv, guild: Any = None) -> list[Any]:
    return [c for c in (guild or env.guild).text_channels if c.name.startswith("guarantee-")]


async def open_ticket(env: DiscordEnv, *, email: str = GOOD_EMAIL, link: str | None = None, by: Any = None) -> Any:
    return await env.driver.command(
        "guarantee open", by=by or env.freelancer, channel=env.channel, email=email, gig_link=link or gig()
    )


@pytest.fixture
def sent(env: DiscordEnv, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict[str, Any]]]:
    """Every message payload the bot sends through the REST API, as (channel id, JSON payload)."""
    seen: list[tuple[int, dict[str, Any]]] = []
    original = env.bot.http.send_message

    async def spy(channel_id: int, *, params: Any) -> Any:
        seen.append((int(channel_id), dict(params.payload or {})))
        return await original(channel_id, params=params)

    monkeypatch.setattr(env.bot.http, "send_message", spy)
    return seen
