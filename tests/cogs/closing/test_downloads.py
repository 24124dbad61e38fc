"""Attachments downloaded with aiohttp from a local file server standing in for Discord's CDN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from bot.services.closing.storage import FetchError, TooLargeError, save_transcript
from bot.services.closing.transcript import Attachment
from cogs.closing._downloads import AiohttpAttachmentFetcher
from tests.services.closing.support import message, transcript

KB = 1024


async def chunked(request: web.Request) -> web.StreamResponse:
    """No Content-Length: 1 KB chunks for as long as the client reads (up to 64 KB)."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(64):
        await response.write(b"z" * KB)
        await asyncio.sleep(0)
    return response


def answer(**kwargs):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(**kwargs)

    return handler


async def moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ok/elsewhere")


@pytest.fixture
async def cdn(aiohttp_server):
    app = web.Application()
    app.router.add_get("/ok/{name}", answer(body=b"x" * 3000))
    app.router.add_get("/big", answer(body=b"y" * 5000))
    app.router.add_get("/liar", chunked)
    app.router.add_get("/gone", answer(status=404))
    app.router.add_get("/moved", moved)
    server = await aiohttp_server(app)
    fetcher = AiohttpAttachmentFetcher(hosts={"127.0.0.1"}, schemes={"http"})
    yield server, fetcher
    await fetcher.close()


async def test_a_file_is_streamed_to_its_destination(cdn, tmp_path: Path) -> None:
    server, fetcher = cdn
    assert await fetcher.fetch(str(server.make_url("/ok/a")), tmp_path / "a", max_bytes=3000) == 3000
    assert (tmp_path / "a").read_bytes() == b"x" * 3000


async def test_an_announced_size_over_the_limit_stops_before_the_body(cdn, tmp_path: Path) -> None:
    server, fetcher = cdn
    with pytest.raises(TooLargeError) as caught:
        await fetcher.fetch(str(server.make_url("/big")), tmp_path / "b", max_bytes=4000)
    assert caught.value.size == 5000
    assert not (tmp_path / "b").exists()


async def test_a_server_that_announces_nothing_is_cut_off_at_the_limit(cdn, tmp_path: Path) -> None:
    server, fetcher = cdn
    with pytest.raises(TooLargeError):
        await fetcher.fetch(str(server.make_url("/liar")), tmp_path / "c", max_bytes=10 * KB + 1)
    assert (tmp_path / "c").stat().st_size <= 10 * KB + 1


@pytest.mark.parametrize("path, words", [("/gone", "HTTP 404"), ("/moved", "HTTP 302")])
async def test_errors_and_redirects_are_failed_downloads(cdn, tmp_path: Path, path: str, words: str) -> None:
    server, fetcher = cdn
    with pytest.raises(FetchError, match=words):
        await fetcher.fetch(str(server.make_url(path)), tmp_path / "d", max_bytes=10 * KB)


@pytest.mark.parametrize(
    "url", ["https://example.com/a.png", "http://cdn.discordapp.com/a.png", "file:///etc/passwd", "ftp://x/y"]
)
async def test_only_discord_file_hosts_over_https_are_fetched(tmp_path: Path, url: str) -> None:
    fetcher = AiohttpAttachmentFetcher()
    with pytest.raises(FetchError, match="not a Discord file link"):
        await fetcher.fetch(url, tmp_path / "e", max_bytes=KB)
    await fetcher.close()


async def test_an_unreachable_host_is_a_failed_download(tmp_path: Path, unused_tcp_port: int) -> None:
    fetcher = AiohttpAttachmentFetcher(hosts={"127.0.0.1"}, schemes={"http"})
    with pytest.raises(FetchError, match="download failed"):
        await fetcher.fetch(f"http://127.0.0.1:{unused_tcp_port}/x", tmp_path / "f", max_bytes=KB)
    await fetcher.close()


async def test_saving_a_transcript_downloads_its_files_through_aiohttp(cdn, tmp_path: Path) -> None:
    server, fetcher = cdn
    files = (
        Attachment(1, "logo.png", 3000, "image/png", str(server.make_url("/ok/logo.png"))),
        Attachment(2, "stream.bin", 100, None, str(server.make_url("/liar"))),  # says 100 bytes, sends 64 KB
        Attachment(3, "old.pdf", 10, "application/pdf", str(server.make_url("/gone"))),
    )
    saved = await save_transcript(transcript(message("files", attachments=files)), data_dir=tmp_path, fetcher=fetcher)
    folder = saved.directory / "attachments"
    assert sorted(p.name for p in folder.iterdir()) == ["1-logo.png", "2-stream.bin"]
    assert (folder / "2-stream.bin").stat().st_size == 64 * KB  # within the 25 MB limit: what arrived is kept
    assert saved.attachment_bytes == 3000 + 64 * KB
    reasons = [a.not_saved for a in saved.transcript.attachments()]
    assert reasons == [None, None, "HTTP 404 from Discord (the link may have expired)"]
