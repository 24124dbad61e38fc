"""Scale-out on PostgreSQL: two `guarantor run --receive-only` receivers behind the marketplace and one
worker process; a signed burst across both, one receiver SIGKILLed mid-burst (its unanswered events sent
again to the other, as the marketplace retries): every acknowledged event is applied exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.db.engine import create_engine
from bot.db.models import AuditEntry, EventStatus, Order, OrderTerms, WebhookEvent
from tests.webhooks.events import agreed, dumps, event, signed_headers
from tests.webhooks.test_durability import free_port, start_server, wait_healthy

ORDERS = 300
SEED = int(os.environ.get("SCALE_OUT_SEED", "11"))


async def test_two_receivers_one_worker_and_a_receiver_killed_mid_burst(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("receivers side by side need PostgreSQL (set TEST_DATABASE_URL)")
    rng = random.Random(SEED)
    ports = [free_port() for _ in range(3)]
    dirs = [tmp_path / name for name in ("a", "b", "worker")]
    for directory in dirs:
        directory.mkdir()
    receivers = [
        start_server(database_url, port, d, "--receive-only") for port, d in zip(ports[:2], dirs, strict=False)
    ]
    worker = start_server(database_url, ports[2], dirs[2])
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    # Each order: its agreement, then its delivery (the marketplace sends them in order).
    messages = [(f"agree_{n}", agreed(f"ord_{n}")) for n in range(ORDERS)]
    rng.shuffle(messages)  # agreements interleave; every delivery still follows its agreement
    messages += [
        (f"deliver_{n}", event("order.delivered", {"order_id": f"ord_{n}", "delivered_at": "2026-11-26T10:00:00Z"}))
        for n in range(ORDERS)
    ]
    acknowledged: set[str] = set()
    unanswered: list[tuple[str, dict]] = []
    killed = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as http:
            for base, server in zip(bases, [*receivers, worker], strict=True):
                await wait_healthy(http, base, server)

            async def send(base: str, msg_id: str, document: dict) -> bool:
                body = dumps(document)
                try:
                    headers = signed_headers(body, msg_id=msg_id)
                    async with http.post(f"{base}/webhooks/marketplace", data=body, headers=headers) as response:
                        if response.status in (200, 202):
                            acknowledged.add(msg_id)
                            return True
                except aiohttp.ClientError:
                    pass
                return False

            async def one(index: int, msg_id: str, document: dict) -> None:
                base = bases[index % 2] if not killed.is_set() else bases[1]
                if not await send(base, msg_id, document):
                    unanswered.append((msg_id, document))
                if index == len(messages) // 3 and not killed.is_set():
                    receivers[0].send_signal(signal.SIGKILL)  # mid-burst, with requests in flight
                    killed.set()

            numbered = list(enumerate(messages))
            for start in range(0, len(numbered), 50):  # 50 in flight at a time
                await asyncio.gather(*(one(i, msg_id, doc) for i, (msg_id, doc) in numbered[start : start + 50]))
            for msg_id, document in unanswered:  # the marketplace sends what was not answered again
                assert await send(bases[1], msg_id, document), msg_id
            assert acknowledged == {msg_id for msg_id, _ in messages}

        engine = create_engine(database_url)
        try:
            async with asyncio.timeout(120):  # the worker applies everything
                while True:
                    async with engine.connect() as connection:
                        done = await connection.scalar(
                            select(func.count())
                            .select_from(WebhookEvent)
                            .where(
                                WebhookEvent.status == EventStatus.PROCESSED  # type: ignore[arg-type]
                            )
                        )
                    if done == len(messages):
                        break
                    await asyncio.sleep(0.25)
            async with engine.connect() as connection:
                stored = await connection.scalar(select(func.count()).select_from(WebhookEvent))
                orders = await connection.scalar(select(func.count()).select_from(Order))
                terms = await connection.scalar(select(func.count()).select_from(OrderTerms))
                delivered = await connection.scalar(
                    select(func.count()).select_from(Order).where(Order.delivered_at.is_not(None))  # type: ignore[union-attr]
                )
                per_event = (
                    await connection.execute(
                        select(AuditEntry.source_event_id, func.count()).group_by(AuditEntry.source_event_id)
                    )
                ).all()
        finally:
            await engine.dispose()
        assert stored == len(messages)  # each message once, whichever receiver it reached (and how often)
        assert orders == ORDERS and terms == ORDERS and delivered == ORDERS  # each applied exactly once
        assert len(per_event) == ORDERS and all(count == 1 for _, count in per_event)  # one flag per delivery
    finally:
        for process in [*receivers, worker]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*receivers, worker]:
            await asyncio.to_thread(process.wait, 20)
