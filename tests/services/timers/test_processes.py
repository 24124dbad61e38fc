"""Across processes on PostgreSQL: two `guarantor run` processes side by side fire every due timer exactly once
between them (each logs what it fired), and a third started afterwards (a redeploy) fires nothing again."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import update

from bot.db.clock import database_now
from bot.db.models import Timer
from tests.services.timers.support import notices, timers
from tests.services.timers.test_workers import delivered_orders
from tests.webhooks.test_durability import free_port, start_server, wait_healthy

ORDERS = 30
FIRED = re.compile(r"timer (\w+) of order (\w+) fired")


async def test_two_processes_fire_each_due_timer_once_and_a_restart_fires_nothing(
    database_url: str, sessions, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("processes side by side need PostgreSQL (set TEST_DATABASE_URL)")
    await delivered_orders(sessions, ORDERS)
    async with sessions.begin() as session:  # their time has come (by the database's clock, as the processes see it)
        await session.execute(update(Timer).values(due_at=await database_now(session) - timedelta(minutes=1)))

    async def run(names: list[str]) -> str:
        ports = [free_port() for _ in names]
        for name in names:
            (tmp_path / name).mkdir()
        servers = [start_server(database_url, port, tmp_path / name) for port, name in zip(ports, names, strict=True)]
        try:
            async with aiohttp.ClientSession() as http:
                for port, server in zip(ports, servers, strict=True):
                    await wait_healthy(http, f"http://127.0.0.1:{port}", server)
            async with asyncio.timeout(60):  # the processes' own first pass fires them; polled, not slept on
                while True:
                    if all(t.fired_at is not None for t in await timers(sessions)):
                        break
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # each fire's log line follows its commit: let the last ones be written
        finally:
            for server in servers:
                server.terminate()
        logs = ""
        for server in servers:
            _out, err = await asyncio.to_thread(server.communicate, timeout=30)
            logs += err.decode()
        return logs

    fired = Counter(FIRED.findall(await run(["a", "b"])))
    assert len(fired) == 2 * ORDERS and set(fired.values()) == {1}, fired.most_common(3)
    assert {kind for kind, _order in fired} == {"approval_reminder", "approval_overdue"}
    assert len(await notices(sessions)) == 2 * ORDERS

    assert FIRED.findall(await run(["c"])) == []  # restarted: nothing fires twice
    assert len(await notices(sessions)) == 2 * ORDERS
