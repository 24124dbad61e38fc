"""Events stored but not yet processed when the process dies are processed exactly once after
a restart, and two processors (two processes) on one database process each event once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import EventStatus, Order, OrderTerms, WebhookEvent
from bot.db.models.escrow import AuditEntry, Escrow
from bot.runtime import Runtime
from bot.settings import Settings
from tests.services.helpers import Sessions
from tests.webhooks.events import agreed, dumps, event
from tests.webhooks.test_durability import free_port, start_server

ORDERS = 1200  # 2,400 events: more than two batches (`processor.BATCH`), so a kill can land between two
KILL_AFTER_PROCESSED = 12


async def store_history(sessions: Sessions, orders: int) -> None:
    """Per order: agreed, then cancelled (which moves the escrow and writes audit entries); stored as the intake
    stores them, in one transaction here (there are thousands)."""
    async with sessions.begin() as session:
        for n in range(orders):
            for msg_id, document in (
                (f"agreed_{n}", agreed(f"ord_{n}")),
                (f"cancelled_{n}", event("order.cancelled", {"order_id": f"ord_{n}", "reason": "r"})),
            ):
                order_id = document["data"]["order_id"]
                body = dumps(document)
                session.add(WebhookEvent(webhook_id=msg_id, type=document["type"], order_id=order_id, body=body))


async def count(engine: AsyncEngine, model: type, *where: object) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(await connection.scalar(query) or 0)


async def processed(engine: AsyncEngine) -> int:
    return await count(engine, WebhookEvent, WebhookEvent.status != EventStatus.PENDING)


async def assert_each_processed_once(engine: AsyncEngine, orders: int) -> None:
    assert await processed(engine) == 2 * orders
    assert await count(engine, Order) == orders
    assert await count(engine, OrderTerms) == orders
    assert await count(engine, Escrow) == orders
    statuses = await count(engine, WebhookEvent, WebhookEvent.status != EventStatus.PROCESSED)
    assert statuses == 0, "events left waiting or failed"
    async with engine.connect() as connection:
        twice = "SELECT order_id, source_event_id, action FROM audit_entries GROUP BY 1, 2, 3 HAVING count(*) > 1"
        assert (await connection.execute(text(twice))).all() == []
    audit = await count(engine, AuditEntry)
    assert audit > 0 and audit % orders == 0, audit  # the same history gives the same entries per order
    async with engine.connect() as connection:
        # No worker failed on any event; an agreement is applied at its first attempt, a cancel at
        # most at its second (marked waiting while the other worker committed the agreement, then released).
        outcome = "CASE WHEN last_error IS NULL THEN 'ok' ELSE 'failed' END"
        query = f"SELECT type, attempts, {outcome}, count(*) FROM webhook_events GROUP BY 1, 2, 3"
        rows = {(kind, attempts, result): n for kind, attempts, result, n in await connection.execute(text(query))}
        assert sum(rows.values()) == 2 * orders, rows
        assert rows.get(("order.agreed", 1, "ok")) == orders, rows
        assert all(result == "ok" and attempts <= 2 for (_kind, attempts, result) in rows), rows


async def drain(runtime: Runtime) -> None:
    while await runtime.processor.process_due():
        pass


async def test_sigkill_while_processing_then_restart_processes_each_event_once(
    settings: Settings, sessions: Sessions, engine: AsyncEngine, tmp_path: Path
) -> None:
    await store_history(sessions, ORDERS)
    server = start_server(settings.database_url, free_port(), tmp_path)  # `guarantor run` starts processing
    try:
        async with asyncio.timeout(30):
            while await processed(engine) < KILL_AFTER_PROCESSED:
                assert server.poll() is None, "the server exited"
                await asyncio.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        _stop(server)
    done_at_kill = await processed(engine)
    assert done_at_kill < 2 * ORDERS, "the kill came too late to test anything"

    runtime = Runtime(settings)  # the restarted process
    try:
        await drain(runtime)
    finally:
        await runtime.engine.dispose()
    await assert_each_processed_once(engine, ORDERS)


async def test_two_processors_on_one_database_process_each_event_once(
    settings: Settings, sessions: Sessions, engine: AsyncEngine
) -> None:
    await store_history(sessions, ORDERS)
    first, second = Runtime(settings), Runtime(settings)  # two engines, as two processes would have
    try:
        await asyncio.gather(drain(first), drain(second))
    finally:
        await first.engine.dispose()
        await second.engine.dispose()
    await assert_each_processed_once(engine, ORDERS)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.kill()
    server.wait(5)
    if server.stderr:
        server.stderr.close()
