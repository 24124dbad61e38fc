"""Fifty officers click at once: exactly one transition, forty-nine clear "already done" answers."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.escrow import audit
from bot.services.escrow.results import AlreadyDoneError
from bot.services.escrow.rules import Action, Role, State
from tests.services.escrow.escrow_support import BUYER, FREELANCER, OFFICER, Sessions, make_world

ATTEMPTS = 50


async def delivered_and_approved(sessions: Sessions):
    world = make_world(sessions, callbacks_enabled=True)
    await world.order()
    await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY")
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    await world.escrow.act("ord_1", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)
    return world


async def race(world, action: Action, note: str | None = None) -> list[object]:
    async def attempt(n: int) -> object:
        return await world.escrow.act("ord_1", action, actor_id=5000 + n, actor_role=Role.OFFICER, note=note)

    return await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS)), return_exceptions=True)


@pytest.mark.parametrize(("action", "target"), [(Action.RELEASE, State.RELEASED), (Action.REFUND, State.REFUNDED)])
async def test_fifty_concurrent_attempts_give_one_transition(sessions: Sessions, action: Action, target) -> None:
    world = await delivered_and_approved(sessions)
    before = len(await world.entries())
    results = await race(world, action, note="reason")
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1
    assert len(losses) == ATTEMPTS - 1
    assert all(isinstance(r, AlreadyDoneError) for r in losses), {type(r).__name__ for r in losses}
    assert all("already" in str(r) for r in losses)
    escrow = await world.state()
    assert (escrow.state, escrow.version) == (target, 4)
    assert len(await world.entries()) == before + 1
    assert [row.webhook_id for row in await world.outbox()][-1] == "esc_ord_1_4"
    assert len(await world.outbox()) == 3
    async with sessions() as session:
        assert (await audit.verify(session=session)).ok


async def test_concurrent_release_and_refund_give_exactly_one_money_movement(sessions: Sessions) -> None:
    world = await delivered_and_approved(sessions)

    async def attempt(n: int) -> object:
        action = Action.RELEASE if n % 2 else Action.REFUND
        return await world.escrow.act("ord_1", action, actor_id=6000 + n, actor_role=Role.OFFICER, note="why")

    results = await asyncio.gather(*(attempt(n) for n in range(20)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    entries = [e for e in await world.entries() if e.to_state in ("released", "refunded")]
    assert len(entries) == 1
