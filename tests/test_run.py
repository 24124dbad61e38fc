"""`guarantor run` as an operator starts it: webhook-only mode, health, clean shutdown."""

from __future__ import annotations

import asyncio
import re
import signal

import aiohttp

from tests.webhooks.events import agreed, dumps, signed_headers
from tests.webhooks.test_durability import free_port, start_server, wait_healthy


async def test_webhook_only_mode_serves_says_so_once_and_stops_cleanly_on_sigterm(database_url, tmp_path) -> None:
    port = free_port()
    server = start_server(database_url, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, base, server)
            async with http.get(f"{base}/healthz") as response:
                assert await response.json() == {
                    "status": "ok",
                    "database": "ok",
                    "discord": "disabled",
                    "backlog": {"events": 0, "oldest_seconds": 0.0},
                    "processing": "ok",
                }
            body = dumps(agreed("ord_run"))
            async with http.post(f"{base}/webhooks/marketplace", data=body, headers=signed_headers(body)) as response:
                assert response.status == 202
            async with http.get(f"{base}/openapi.json") as response:
                assert (await response.json())["openapi"].startswith("3.1")
        server.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.wait, 20)
    finally:
        if server.poll() is None:
            server.kill()
    assert code == 0
    stderr = server.stderr.read().decode() if server.stderr else ""
    assert stderr.count("no DISCORD_TOKEN set: running the webhook server alone") == 1, stderr
    assert stderr.count("no SMTP_URL set: emails are compared, not proven") == 1, stderr
    assert stderr.count("no AUDIT_KEY set: the audit chain is unkeyed") == 1, stderr
    assert "Traceback" not in stderr
    assert re.search(r"started; [1-9]\d{4,} objects left out of garbage collection", stderr), stderr
