"""`guarantor trigger EVENT_TYPE`: a signed sample event posted to a running `guarantor run`, which stores
and applies it, as a newcomer's first step and an operator's end-to-end check."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.services.events.contract import parse_event_json
from tests.test_cli import invoke
from tests.webhooks.test_durability import free_port, start_server, wait_healthy
from webhooks.trigger import EVENT_TYPES, sample


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_sample_passes_the_contract(event_type: str) -> None:
    event = parse_event_json(json.dumps(sample(event_type, "ord_t", datetime.now(UTC))))
    assert event.type == event_type and event.order_id == "ord_t"


async def test_trigger_posts_to_the_running_server_and_the_order_arrives(database_url, tmp_path, monkeypatch) -> None:
    port = free_port()
    server = start_server(database_url, port, tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, f"http://127.0.0.1:{port}", server)
        env = {"WEBHOOK_PORT": str(port), "WEBHOOK_HOST": "127.0.0.1"}
        run = lambda args: invoke(args, database_url, tmp_path, monkeypatch, **env)  # noqa: E731
        agreed = await asyncio.to_thread(run, ["trigger", "order.agreed", "--order", "ord_first"])
        assert agreed.exit_code == 0, agreed.output
        assert "HTTP 202" in agreed.output and "guarantor orders show ord_first" in agreed.output
        delivered = await asyncio.to_thread(run, ["trigger", "order.delivered", "--order", "ord_first"])
        assert delivered.exit_code == 0 and "HTTP 202" in delivered.output
        async with asyncio.timeout(20):
            while True:
                shown = await asyncio.to_thread(run, ["orders", "show", "ord_first", "--json"])
                report = json.loads(shown.output) if shown.exit_code == 0 else None
                if report and report["order"] and report["order"]["delivered_at"]:  # the server applied both
                    break
                await asyncio.sleep(0.2)
        assert report["order"]["amount"] == "120.50" and [e["type"] for e in report["events"]] == [
            "order.agreed",
            "order.delivered",
        ]
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 20)


def test_trigger_without_a_server_says_so_in_one_line(database_url, tmp_path, monkeypatch) -> None:
    result = invoke(["trigger", "order.agreed"], database_url, tmp_path, monkeypatch, WEBHOOK_PORT=str(free_port()))
    assert result.exit_code == 1 and "cannot post to http://127.0.0.1:" in result.output
    assert "is `guarantor run` serving there?" in result.output and "Traceback" not in result.output


def test_an_unknown_event_type_is_refused(database_url, tmp_path, monkeypatch) -> None:
    result = invoke(["trigger", "order.teleported"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 2 and "order.agreed" in result.output
