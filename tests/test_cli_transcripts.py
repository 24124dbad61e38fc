"""`guarantor orders show ID` names a closed ticket's transcript: its folder, its digest and every file in it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import Ticket
from bot.services.closing.storage import save_transcript
from tests.services.closing.support import message, transcript
from tests.services.closing.world import GUILD, closed_ticket
from tests.test_cli import invoke


def seed(database_url: str, data_dir: Path, order_id: str) -> Path:
    """A closed ticket whose transcript was saved (with an attachment) and recorded, as closing does."""

    async def work() -> Path:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        await closed_ticket(sessions, order_id)
        saved = await save_transcript(transcript(message("bye"), order_id=order_id, guild_id=GUILD),
                                      data_dir=data_dir, fetcher=None)  # fmt: skip
        (saved.directory / "attachments").mkdir()
        (saved.directory / "attachments" / "9-brief.txt").write_bytes(b"x" * 900)
        async with sessions.begin() as session:
            await session.execute(
                update(Ticket).where(col(Ticket.order_id) == order_id).values(
                    transcript_html=str(saved.html), transcript_text=str(saved.text),
                    transcript_sha256=saved.html_sha256,
                )
            )  # fmt: skip
        await engine.dispose()
        return saved.directory

    return asyncio.run(work())


def test_orders_show_lists_the_transcript_files(database_url, tmp_path, monkeypatch) -> None:
    folder = seed(database_url, tmp_path / "data", "ord_t")
    shown = invoke(["orders", "show", "ord_t"], database_url, tmp_path, monkeypatch)
    assert shown.exit_code == 0, shown.output
    assert f"Transcript in {folder}" in shown.output
    for name in ("transcript-ord_t.html", "transcript-ord_t.txt", "attachments/9-brief.txt"):
        assert name in shown.output
    as_json = invoke(["orders", "show", "ord_t", "--json"], database_url, tmp_path, monkeypatch)
    record = json.loads(as_json.output)["ticket"]["transcript"]
    assert [f["path"] for f in record["files"]] == [
        "transcript-ord_t.html", "transcript-ord_t.txt", "attachments/9-brief.txt",
    ]  # fmt: skip
    assert record["files"][-1]["bytes"] == 900 and len(record["html_sha256"]) == 64

    for path in sorted(folder.rglob("*"), reverse=True):  # the retention purge took them
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
    shown = invoke(["orders", "show", "ord_t"], database_url, tmp_path, monkeypatch)
    assert "(none left: purged)" in shown.output
