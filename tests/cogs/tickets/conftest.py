"""The project's bot in the fake Discord, with agreed orders arriving by signed webhook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.db.models import DiscordEffect, Ticket, TicketRequest
from tests.harness._world import DiscordEnv
from tests.harness.plugin import MakeEnv
from tests.webhooks.events import agreed, dumps, signed_headers
from webhooks import create_app

GOOD_EMAIL = "seller@example.com"
Deliver = Callable[..., Awaitable[None]]


def gig(order_id: str = "ord_1") -> str:
    return f"https://opentaskai.com/gigs/{order_id}-logo"


@pytest.fixture
async def env(make_discord_env: MakeEnv) -> DiscordEnv:
    env = await make_discord_env()
    # Events and the effects they leave are worked by `deliver` in the test's own task, so each step is
    # deterministic (`work_effects` does the same for effects left by anything else).
    await env.bot.runtime.processor.close()  # type: ignore[attr-defined]
    await env.bot.runtime.effects.close()  # type: ignore[attr-defined]
    return env


async def expire_holds(env: DiscordEnv) -> None:
    """Time passes: every retry is due and every worker's hold on an effect has run out."""
    async with env.bot.runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        await session.execute(update(DiscordEffect).values(next_attempt_at=None, claimed_until=None))


async def work_effects(env: DiscordEnv) -> None:
    """What the effect worker would do now: every due effect in the outbox, until none is left."""
    while await env.bot.runtime.effects.work():  # type: ignore[attr-defined]
        await env.driver.settle()


@pytest.fixture
async def deliver(env: DiscordEnv, aiohttp_client: Any) -> Deliver:
    """POST a signed marketplace event to the real webhook app, then let the bot work it."""
    runtime = env.bot.runtime  # type: ignore[attr-defined]
    client = await aiohttp_client(create_app(intake=runtime.intake, verifier=runtime.verifier, health=runtime))

    async def post(document: dict[str, Any] | None = None, **changes: Any) -> None:
        body = dumps(document or agreed(**changes))
        response = await client.post("/webhooks/marketplace", data=body, headers=signed_headers(body))
        assert response.status == 202, await response.text()
        while await runtime.processor.process_due():
            pass
        await work_effects(env)
        await env.driver.settle()

    return post


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
