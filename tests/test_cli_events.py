"""`guarantor events list [--failed]` and `guarantor events retry ID|--all-failed`: a way out of FAILED."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select, update

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import EventStatus, WebhookEvent
from tests.test_cli import invoke, seed
from tests.webhooks.events import agreed


def fail_events(database_url: str, *webhook_ids: str) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine).begin() as session:
            await session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.webhook_id.in_(webhook_ids))  # type: ignore[attr-defined]
                .values(status=EventStatus.FAILED.value, attempts=8, last_error="OperationalError: database is locked")
            )
        await engine.dispose()

    asyncio.run(work())


def statuses(database_url: str) -> dict[str, tuple[str, int]]:
    async def work() -> dict[str, tuple[str, int]]:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            rows = (await session.scalars(select(WebhookEvent))).all()
        await engine.dispose()
        return {row.webhook_id: (row.status, row.attempts) for row in rows}

    return asyncio.run(work())


def test_failed_events_are_listed_and_one_is_put_back_in_line(database_url, tmp_path, monkeypatch) -> None:
    seed(database_url, ("m1", agreed("o1")), ("m2", agreed("o2")), ("m3", agreed("o3")))
    fail_events(database_url, "m1", "m2")
    listed = invoke(["events", "list", "--failed", "--json"], database_url, tmp_path, monkeypatch)
    assert listed.exit_code == 0, listed.output
    assert sorted(row["webhook_id"] for row in json.loads(listed.output)) == ["m1", "m2"]
    table = invoke(["events", "list", "--failed"], database_url, tmp_path, monkeypatch)
    assert "Failed events (2)" in table.output and "database is locked" in table.output

    retried = invoke(["events", "retry", "m1"], database_url, tmp_path, monkeypatch)
    assert retried.exit_code == 0 and "1 event(s) put back in line: m1" in retried.output
    assert statuses(database_url)["m1"] == ("pending", 0)  # a fresh retry budget
    assert statuses(database_url)["m2"] == ("failed", 8)


def test_all_failed_events_are_put_back_and_bad_input_is_refused(database_url, tmp_path, monkeypatch) -> None:
    seed(database_url, ("m1", agreed("o1")), ("m2", agreed("o2")))
    fail_events(database_url, "m1", "m2")
    unknown = invoke(["events", "retry", "nope"], database_url, tmp_path, monkeypatch)
    assert unknown.exit_code == 1 and "No failed event with webhook id 'nope'" in unknown.output
    both = invoke(["events", "retry", "m1", "--all-failed"], database_url, tmp_path, monkeypatch)
    neither = invoke(["events", "retry"], database_url, tmp_path, monkeypatch)
    assert both.exit_code == neither.exit_code == 2 and "--all-failed" in neither.output
    assert statuses(database_url) == {"m1": ("failed", 8), "m2": ("failed", 8)}  # nothing changed

    everything = invoke(["events", "retry", "--all-failed"], database_url, tmp_path, monkeypatch)
    assert everything.exit_code == 0 and "2 event(s)" in everything.output
    assert statuses(database_url) == {"m1": ("pending", 0), "m2": ("pending", 0)}
