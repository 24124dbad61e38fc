"""A real `guarantor run` process, SIGKILLed during a burst, loses no event it acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import select

from bot.db.engine import create_engine
from bot.db.models import WebhookEvent
from tests.conftest import TEST_SECRET
from tests.webhooks.events import agreed, dumps, signed_headers

ROOT = Path(__file__).parents[2]
BURST = 1000
KILL_AFTER_ACKS = 60
STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database_url: str, port: int, workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "MARKETPLACE_", "WEBHOOK_", "DATABASE_"))
    }
    env |= {
        "MARKETPLACE_WEBHOOK_SECRETS": TEST_SECRET,
        "DATABASE_URL": database_url,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "METRICS_PORT": "",
        "DATA_DIR": str(workdir / "data"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_healthy(http: aiohttp.ClientSession, base: str, server: subprocess.Popen[bytes]) -> None:
    async with asyncio.timeout(STARTUP_SECONDS):  # generous: the machine may be busy; usually ~1.5 s
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "server exited"
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def test_sigkill_mid_burst_loses_nothing_acknowledged(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(database_url, port, tmp_path)
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def send(http: aiohttp.ClientSession, index: int) -> None:
        body = dumps(agreed(f"ord_{index}"))
        msg_id = f"burst_{index}"
        try:
            async with http.post(
                f"{base}/webhooks/marketplace", data=body, headers=signed_headers(body, msg_id=msg_id)
            ) as r:
                if 200 <= r.status < 300:
                    acknowledged.append(msg_id)
                    if len(acknowledged) >= KILL_AFTER_ACKS:
                        enough.set()
        except (TimeoutError, aiohttp.ClientError):
            pass  # the process died under this request: not acknowledged, the sender retries

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            await wait_healthy(http, base, server)
            burst = [asyncio.create_task(send(http, i)) for i in range(BURST)]
            async with asyncio.timeout(STARTUP_SECONDS):
                await enough.wait()
            server.send_signal(signal.SIGKILL)
            acknowledged_at_kill = len(acknowledged)
            await asyncio.gather(*burst)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(5)
        if server.stderr:
            server.stderr.close()

    assert acknowledged_at_kill >= KILL_AFTER_ACKS
    assert len(acknowledged) < BURST, "the kill came too late to test anything"
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            stored = set((await connection.scalars(select(WebhookEvent.webhook_id))).all())  # type: ignore[call-overload]
    finally:
        await engine.dispose()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events were lost: {sorted(missing)[:5]}"
