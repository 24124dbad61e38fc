"""A ticket with both parties in it, in the fake Discord, ready for escrow clicks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import AuditEntry, Escrow
from tests.cogs.tickets import conftest as guarantee
from tests.cogs.tickets.conftest import open_ticket, ticket_channels
from tests.harness._world import DiscordEnv

# The tickets side's fixtures: the bot in the fake Discord, signed events delivered to it, sent payloads.
env, deliver, sent = guarantee.env, guarantee.deliver, guarantee.sent


class Ticket:
    """The order's ticket channel and its summary message, as the people in it see them."""

    def __init__(self, env: DiscordEnv, channel: Any) -> None:
        self.env, self.channel = env, channel

    @property
    def summary(self) -> dict[str, Any]:
        return self.env.messages(self.channel)[0]

    def buttons(self) -> list[str]:
        return [c["custom_id"] for row in self.summary.get("components", []) for c in row["components"]]

    def escrow_field(self) -> str:
        return next(f["value"] for f in self.summary["embeds"][0]["fields"] if f["name"] == "Escrow")

    def lines(self) -> list[str]:
        return [m["content"] for m in self.env.messages(self.channel)[1:]]

    async def click(self, action: str, by: Any, order_id: str = "ord_1") -> Any:
        return await self.env.driver.click(self.summary, f"guarantee:{action}:{order_id}", by=by)

    async def click_and_write(self, action: str, by: Any, note: str, order_id: str = "ord_1") -> Any:
        shown = await self.click(action, by, order_id)
        assert shown.modal is not None, shown.content
        return await self.env.driver.submit_modal(shown, {"note": note}, by=by)

    async def escrow(self, order_id: str = "ord_1") -> Escrow:
        async with self.env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
            return (await session.scalars(select(Escrow).where(Escrow.order_id == order_id))).one()  # type: ignore[arg-type]

    async def audit(self) -> list[AuditEntry]:
        async with self.env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
            return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())  # type: ignore[arg-type]


async def make_ticket(env: DiscordEnv, deliver: Any, *, freelancer: Any = None, buyer: Any = None) -> Ticket:
    await deliver()
    await open_ticket(env, by=freelancer or env.freelancer)
    joined = await env.driver.command(
        "guarantee join", by=buyer or env.buyer, channel=env.channel, order_id="ord_1", email="buyer@example.com"
    )
    assert "joined" in joined.content, joined.content
    (channel,) = ticket_channels(env)
    return Ticket(env, channel)


@pytest.fixture
async def ticket(env: DiscordEnv, deliver: Any) -> Ticket:
    return await make_ticket(env, deliver)
