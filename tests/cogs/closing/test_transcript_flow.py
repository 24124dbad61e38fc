"""Closing's first half end to end: a ticket channel read through discord.py, its files downloaded
with aiohttp, both pages saved with the HTML digest (the closing flow then records it and posts them)."""

from __future__ import annotations

import hashlib
import html

import pytest
from aiohttp import web

from bot.services.closing.storage import save_transcript
from cogs.closing._downloads import AiohttpAttachmentFetcher
from cogs.closing._history import read_transcript
from tests.cogs.closing.conftest import stored_message
from tests.services.closing.support import HOSTILE, active_markup
from tests.services.closing.test_browser import CHROMIUM, left_a_mark, rendered_dom
from tests.services.closing.world import closed_ticket


@pytest.fixture
async def cdn(aiohttp_server):
    async def file(request: web.Request) -> web.Response:
        return web.Response(body=request.match_info["name"].encode() * 100)

    app = web.Application()
    app.router.add_get("/attachments/{name}", file)
    return await aiohttp_server(app)


async def busy_ticket_saved(env, sessions, cdn, settings, order_id: str, lines: int, hostile_every: int):
    """A closed ticket's channel with `lines` lines (every `hostile_every`th a hostile payload, by the freelancer, the
    buyer and the bot in turn) and a file, read through discord.py and saved with the file downloaded."""
    people = (env.freelancer.id, env.buyer.id, env.officer.id)
    await closed_ticket(sessions, order_id, people=people, guild_id=env.guild.id)
    authors = (env.freelancer, env.buyer, env.guild.me)
    for n in range(lines):
        text = HOSTILE[n % len(HOSTILE)] if n % hostile_every == 0 else f"line {n}"
        stored_message(env.channel, authors[n % 3], text)
    url = str(cdn.make_url("/attachments/brief.txt"))
    stored_message(env.channel, env.buyer, "the brief", attachments=[
        {"id": 9, "filename": "brief.txt", "size": 900, "url": url, "proxy_url": "", "content_type": "text/plain"},
    ])  # fmt: skip
    fetcher = AiohttpAttachmentFetcher(hosts={"127.0.0.1"}, schemes={"http"})
    try:
        transcript = await read_transcript(env.channel, sessions=sessions, order_id=order_id)
        return await save_transcript(transcript, data_dir=settings.data_dir, fetcher=fetcher)
    finally:
        await fetcher.close()


async def test_a_busy_ticket_channel_becomes_a_saved_transcript(env, sessions, cdn, settings) -> None:
    saved = await busy_ticket_saved(env, sessions, cdn, settings, "ord_flow", lines=600, hostile_every=50)
    assert saved.directory.parts[-3:] == ("transcripts", str(env.guild.id), "ord_flow")
    assert len(saved.transcript.messages) == 601
    assert (saved.directory / "attachments" / "9-brief.txt").read_bytes() == b"brief.txt" * 100
    html = saved.html.read_text()
    assert hashlib.sha256(saved.html.read_bytes()).hexdigest() == saved.html_sha256
    assert active_markup(html) == []
    assert "line 599" in html and "line 599" in saved.text.read_text()
    assert env.freelancer.display_name in html and "refunded" in html


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium)")
async def test_a_transcript_the_flow_saved_reads_in_a_browser_and_runs_nothing(env, sessions, cdn, settings, tmp_path):
    """The file closing writes (read through discord.py, files downloaded), not a made-up transcript, opened in a
    real browser: every line there as text, the hostile ones included, and nothing in it runs."""
    saved = await busy_ticket_saved(env, sessions, cdn, settings, "ord_seen", lines=120, hostile_every=10)
    dom = rendered_dom(tmp_path, saved.html, "flow")
    assert not left_a_mark(dom)
    assert active_markup(dom) == [] and "<script" not in dom and "<img" not in dom
    text = html.unescape(dom)
    assert all(f"line {n}" in text for n in range(120) if n % 10)
    assert all(payload in text for payload in HOSTILE)  # shown as the text it was
    assert "brief.txt" in text and env.buyer.display_name in text
