"""`/metrics` after a scripted session: every family PRODUCT.md §8 lists is there, and the counters moved."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import MetricsServer
from tests.harness import _faults as routes
from tests.harness._tickets import TicketView
from tests.webhooks.events import agreed, dumps, signed_headers

FAMILIES = {
    "guarantor_webhook_requests": "counter",  # webhook requests by status
    "guarantor_webhook_request_seconds": "histogram",  # and their latency
    "guarantor_events": "gauge",  # events by status
    "guarantor_oldest_unprocessed_event_seconds": "gauge",  # the age of the oldest unprocessed one
    "guarantor_events_processed": "counter",  # events processed (per second: its rate)
    "guarantor_tickets": "gauge",  # tickets by state
    "guarantor_escrow_transitions": "counter",  # escrow transitions by action
    "guarantor_callbacks": "gauge",  # callbacks pending and failing
    "guarantor_discord_api_errors": "counter",  # Discord API errors by status
    "guarantor_interaction_ack_seconds": "histogram",  # interaction acknowledgement latency
    "guarantor_timers_fired": "counter",  # timers fired
    "guarantor_discord_effects": "gauge",  # the outbox of Discord effects
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_scrape_after_a_session_has_every_family_and_moved_counters(ticket: TicketView) -> None:
    env = ticket.env
    runtime = env.bot.runtime
    server = MetricsServer(runtime.metrics, runtime.sessions, "127.0.0.1", 0)
    await server.start()
    try:
        body = dumps(agreed("ord_m"))
        headers = signed_headers(body, msg_id="msg_metrics")
        client = await env.marketplace._client_for(runtime)  # the real webhook app, with its middleware
        assert (await client.post("/webhooks/marketplace", data=body, headers=headers)).status == 202
        assert (await client.post("/webhooks/marketplace", data=body, headers=headers)).status == 200
        assert (
            await client.post("/webhooks/marketplace", data=body, headers={"content-type": "application/json"})
        ).status == 401
        await env.marketplace.work()
        await ticket.click("claim", env.officer)
        await ticket.click_and_write("fund", env.officer, "REF-1")
        env.faults.fail(routes.EDIT_MESSAGE, 503, times=50)  # a Discord error behind an effect
        await ticket.click("deliver", env.freelancer)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    finally:
        await server.close()
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    for name, kind in FAMILIES.items():
        assert families.get(name) == kind, (name, families.get(name))
    got = samples(text)
    assert got[("guarantor_webhook_requests_total", (("status", "202"),))] >= 1
    assert got[("guarantor_webhook_requests_total", (("status", "200"),))] >= 1
    assert got[("guarantor_webhook_requests_total", (("status", "401"),))] == 1
    assert got[("guarantor_webhook_request_seconds_count", ())] >= 3
    assert got[("guarantor_events_processed_total", ())] >= 2  # ord_1's agreement (the fixture's) and ord_m's
    assert got[("guarantor_tickets", (("state", "open"),))] == 1
    for action in ("claim", "fund", "deliver"):
        assert got[("guarantor_escrow_transitions_total", (("action", action),))] == 1
    assert got[("guarantor_discord_api_errors_total", (("status", "503"),))] >= 1
    assert got[("guarantor_interaction_ack_seconds_count", ())] >= 4  # open, join, claim, fund form, ...
    assert got[("guarantor_discord_effects", (("status", "pending"),))] >= 1  # the summary edit waits for a retry
    assert got[("guarantor_oldest_unprocessed_event_seconds", ())] == 0.0
