"""A real browser (headless Chromium) opens a saved transcript: everything readable, nothing runs.

Skipped, saying why, where Chromium is not installed (CI installs Debian's `chromium`: .ci/run).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.services.closing.storage import save_transcript
from bot.services.closing.transcript import Embed, EmbedField, Person
from tests.services.closing.support import (
    FREELANCER,
    HOSTILE,
    MARK,
    active_markup,
    message,
    status_line,
    tags_of,
    transcript,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium)"
)
# Without the background-networking flags Chromium phones home at start, and a closed network
# refuses it; --headless alone would then hang or fail.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def chromium(tmp_path: Path, name: str, *args: str) -> str:
    profile = tmp_path / f"profile-{name}"
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rendered_dom(tmp_path: Path, page: Path, name: str) -> str:
    return chromium(tmp_path, name, "--dump-dom", page.as_uri())


def left_a_mark(dom: str) -> bool:
    title = re.search(r"<title>(.*?)</title>", dom, re.DOTALL)
    ids = {value for _, attrs in tags_of(dom) for key, value in attrs if key == "id"}
    return (title is not None and MARK in title.group(1)) or MARK in ids


def test_the_hostile_payloads_do_run_in_a_page_that_does_not_escape_them(tmp_path: Path) -> None:
    """The control: the same payloads, pasted raw into a page, leave their mark in this browser."""
    page = tmp_path / "raw.html"
    page.write_text("<!DOCTYPE html><html><head><title>raw</title></head><body>" + "".join(HOSTILE) + "</body></html>")
    assert left_a_mark(rendered_dom(tmp_path, page, "control"))


async def test_a_saved_transcript_reads_in_a_browser_and_runs_nothing(tmp_path: Path) -> None:
    hostile_embed = Embed(
        title=HOSTILE[0], description=HOSTILE[2], fields=(EmbedField(HOSTILE[1], HOSTILE[5]),), footer=HOSTILE[8]
    )
    messages = [message(f"message {n} of the ticket") for n in range(40)]
    messages += [message(payload) for payload in HOSTILE]
    messages += [message("look", name=HOSTILE[1], embeds=(hostile_embed,)), status_line()]
    t = transcript(*messages, freelancer=Person(FREELANCER, HOSTILE[6], "j***@e***.com"))
    saved = await save_transcript(t, data_dir=tmp_path / "data", fetcher=None)

    dom = rendered_dom(tmp_path, saved.html, "transcript")
    assert not left_a_mark(dom)
    assert re.search(r"<title>Transcript of order ord_42</title>", dom)
    assert active_markup(dom) == []  # no on* attribute, no href but http(s), no script/img/iframe/svg
    assert "<script" not in dom and "<img" not in dom and "<iframe" not in dom
    text = html.unescape(dom)
    for expected in ("150.00 USD", "2026-12-07 12:00:00 UTC", "Logo in SVG", "Bob Buyer", "Olga Officer", "ref PAY-1"):
        assert expected in text, expected
    for n in range(40):
        assert f"message {n} of the ticket" in text
    for payload in HOSTILE:
        assert payload in text  # shown as the text it was

    screenshot = tmp_path / "transcript.png"
    chromium(tmp_path, "screenshot", "--window-size=1280,2400", f"--screenshot={screenshot}", saved.html.as_uri())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000
