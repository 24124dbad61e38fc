"""`guarantor purge [--dry-run]`: a table of what goes, then the purge; `audit verify` still passes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bot.db.engine import create_engine, create_sessionmaker
from bot.services.closing.storage import save_transcript
from tests.services.closing.support import message, transcript
from tests.services.closing.world import GUILD, closed_ticket
from tests.test_cli import invoke


def seed(database_url: str, data_dir: Path, *order_ids: str) -> None:
    """Tickets closed 200 days ago, each with a saved transcript."""

    async def work() -> None:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        for order_id in order_ids:
            await closed_ticket(sessions, order_id)
            await save_transcript(transcript(message("bye"), order_id=order_id, guild_id=GUILD), data_dir=data_dir,
                                  fetcher=None)  # fmt: skip
        await engine.dispose()

    asyncio.run(work())


def seller_emails(database_url: str) -> list[str]:
    async def work() -> list[str]:
        engine = create_engine(database_url)
        async with engine.connect() as connection:
            emails = list((await connection.execute(text("SELECT seller_email FROM orders ORDER BY id"))).scalars())
        await engine.dispose()
        return emails

    return asyncio.run(work())


def test_a_dry_run_shows_the_table_and_changes_nothing(database_url, tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    seed(database_url, data, "ord_p1", "ord_p2")
    result = invoke(["purge", "--dry-run"], database_url, tmp_path, monkeypatch, DATA_DIR=str(data))
    assert result.exit_code == 0, result.output
    assert "Records to purge: tickets closed more than 180 days ago (2)" in result.output
    assert "ord_p1" in result.output and "ord_p2" in result.output
    assert f"transcript files are taken from {(data / 'transcripts').resolve()}" in result.output
    assert "dry run: 2 tickets' records would be purged; nothing was changed" in result.output
    assert seller_emails(database_url) == ["seller@example.com", "seller@example.com"]
    assert len(list(data.rglob("*.html"))) == 2


def test_purge_then_audit_verify_still_passes_and_a_second_run_finds_nothing(
    database_url, tmp_path, monkeypatch
) -> None:
    data = tmp_path / "data"
    seed(database_url, data, "ord_p1")
    result = invoke(["purge"], database_url, tmp_path, monkeypatch, DATA_DIR=str(data))
    assert result.exit_code == 0, result.output
    assert "ord_p1" in result.output
    assert "purged the records of 1 tickets; each purge is an entry in the audit chain" in result.output
    assert seller_emails(database_url) == ["[purged]"] and not list(data.rglob("*.html"))

    verified = invoke(["audit", "verify"], database_url, tmp_path, monkeypatch)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact: 4 entries verified (2 with purged notes)" in verified.output

    again = invoke(["purge"], database_url, tmp_path, monkeypatch, DATA_DIR=str(data))
    assert again.exit_code == 0, again.output
    assert "nothing to purge: no closed ticket is waiting past its 180 days" in again.output


def test_the_retention_period_comes_from_the_settings(database_url, tmp_path, monkeypatch) -> None:
    seed(database_url, tmp_path / "data", "ord_p1")
    result = invoke(["purge", "--dry-run"], database_url, tmp_path, monkeypatch, TRANSCRIPT_RETENTION_DAYS="365")
    assert result.exit_code == 0, result.output
    assert "nothing to purge: no closed ticket is waiting past its 365 days" in result.output
