"""Closing's first half end to end: a ticket channel read through discord.py, its files downloaded
with aiohttp, both pages saved with the HTML digest (the closing flow then records it and posts them)."""

from __future__ import annotations

import hashlib

import pytest
from aiohttp import web

from bot.services.closing.storage import save_transcript
from cogs.closing._downloads import AiohttpAttachmentFetcher
from cogs.closing._history import read_transcript
from tests.cogs.closing.conftest import stored_message
from tests.services.closing.support import HOSTILE, active_markup
from tests.services.closing.world import closed_ticket


@pytest.fixture
async def cdn(aiohttp_server):
    async def file(request: web.Request) -> web.Response:
        return web.Response(body=request.match_info["name"].encode() * 100)

    app = web.Application()
    app.router.add_get("/attachments/{name}", file)
    return await aiohttp_server(app)


async def test_a_busy_ticket_channel_becomes_a_saved_transcript(env, sessions, cdn, settings) -> None:
    people = (env.freelancer.id, env.buyer.id, env.officer.id)
    await closed_ticket(sessions, "ord_flow", people=people, guild_id=env.guild.id)
    authors = (env.freelancer, env.buyer, env.guild.me)
    for n in range(600):
        stored_message(env.channel, authors[n % 3], HOSTILE[n % len(HOSTILE)] if n % 50 == 0 else f"line {n}")
    url = str(cdn.make_url("/attachments/brief.txt"))
    stored_message(env.channel, env.buyer, "the brief", attachments=[
        {"id": 9, "filename": "brief.txt", "size": 900, "url": url, "proxy_url": "", "content_type": "text/plain"},
    ])  # fmt: skip
    fetcher = AiohttpAttachmentFetcher(hosts={"127.0.0.1"}, schemes={"http"})
    try:
        transcript = await read_transcript(env.channel, sessions=sessions, order_id="ord_flow")
        saved = await save_transcript(transcript, data_dir=settings.data_dir, fetcher=fetcher)
    finally:
        await fetcher.close()
    assert saved.directory.parts[-3:] == ("transcripts", str(env.guild.id), "ord_flow")
    assert len(saved.transcript.messages) == 601
    assert (saved.directory / "attachments" / "9-brief.txt").read_bytes() == b"brief.txt" * 100
    html = saved.html.read_text()
    assert hashlib.sha256(saved.html.read_bytes()).hexdigest() == saved.html_sha256
    assert active_markup(html) == []
    assert "line 599" in html and "line 599" in saved.text.read_text()
    assert env.freelancer.display_name in html and "refunded" in html
