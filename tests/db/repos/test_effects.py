"""The outbox's lines: closing a ticket waits for every earlier effect of its order (their lines and summary
belong in the transcript); other kinds wait only for their own kind and the channel."""

from __future__ import annotations

from bot.db.clock import database_now
from bot.db.repos import effects as repo
from bot.services import outbox
from bot.services.outbox import Effect, Kind


async def due_kinds(sessions) -> list[str]:
    async with sessions() as session:
        return [e.kind for e in await repo.due(session=session, now=await database_now(session), limit=10)]


async def test_closing_waits_for_every_earlier_effect_of_its_order(sessions) -> None:
    async with sessions.begin() as session:
        await outbox.write(session, [
            Effect("ord_1", Kind.REFRESH_SUMMARY, "refresh"),
            Effect("ord_1", Kind.TELL_PARTY, "tell"),
            Effect("ord_1", Kind.CLOSE_TICKET, "close"),
            Effect("ord_2", Kind.CLOSE_TICKET, "close-2"),
        ])  # fmt: skip
    assert await due_kinds(sessions) == ["summary.refresh", "party.tell", "ticket.close"]  # ord_2's alone
    async with sessions.begin() as session:
        rows = await repo.for_order(session=session, order_id="ord_1")
        (close,) = [row for row in rows if row.kind == "ticket.close"]
        assert await repo.waits_behind(session=session, effect=close)
        now = await database_now(session)
        done = [int(row.id or 0) for row in rows if row.kind != "ticket.close"]
        await repo.finish(session=session, effect_ids=done, now=now, status=repo.EffectStatus.DONE)
        assert not await repo.waits_behind(session=session, effect=close)
    assert await due_kinds(sessions) == ["ticket.close", "ticket.close"]
