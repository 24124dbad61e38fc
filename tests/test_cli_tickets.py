"""`guarantor tickets list`: every ticket with its state, as a table or JSON."""

from __future__ import annotations

import asyncio
import json

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import Ticket, TicketState
from bot.services.events.processor import EventProcessor
from tests.services.helpers import order_book, store
from tests.test_cli import invoke
from tests.webhooks.events import agreed


def seed_tickets(database_url: str) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        for n, order_id in enumerate(("ord_a", "ord_b")):
            await store(sessions, f"msg_{n}", agreed(order_id))
        await EventProcessor(sessions, order_book(sessions)).process_due()
        async with sessions.begin() as session:
            session.add(Ticket(order_id="ord_a", guild_id=1, freelancer_id=10, state=TicketState.OPEN, channel_id=99))
            session.add(Ticket(order_id="ord_b", guild_id=1, freelancer_id=11, state=TicketState.ORPHANED))
        await engine.dispose()

    asyncio.run(work())


def test_tickets_list_json_filters_by_state(database_url, tmp_path, monkeypatch) -> None:
    seed_tickets(database_url)
    result = invoke(["tickets", "list", "--state", "open", "--json"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (row["order_id"], row["state"], row["channel_id"], row["amount"]) == ("ord_a", "open", 99, "120.50")
    assert "seller@example.com" not in result.output


def test_tickets_list_table_shows_all(database_url, tmp_path, monkeypatch) -> None:
    seed_tickets(database_url)
    result = invoke(["tickets", "list"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "Tickets (2)" in result.output and "ord_a" in result.output and "orphaned" in result.output


def test_tickets_list_rejects_an_unknown_state(database_url, tmp_path, monkeypatch) -> None:
    result = invoke(["tickets", "list", "--state", "lost"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 2 and "'lost' is not one of" in result.output
