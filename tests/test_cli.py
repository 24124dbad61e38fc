"""The `guarantor` command line, run in-process with click's runner on a real database."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.__main__ import cli
from bot.db.engine import create_engine, create_sessionmaker
from bot.runtime import Runtime
from bot.services.events.processor import EventProcessor
from cogs.client import create_bot
from tests.conftest import TEST_SECRET
from tests.services.helpers import order_book, store
from tests.webhooks.events import agreed, event


def invoke(args: list[str], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Result:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    environment = {
        "DATABASE_URL": database_url,
        "MARKETPLACE_WEBHOOK_SECRETS": TEST_SECRET,
        "LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner().invoke(cli, args, env=environment | env)


def seed(database_url: str, *documents: tuple[str, dict]) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        for msg_id, document in documents:
            await store(sessions, msg_id, document)
        await EventProcessor(sessions, order_book(sessions)).process_due()
        await engine.dispose()

    asyncio.run(work())


def test_orders_show_json_has_terms_history_and_events(database_url, tmp_path, monkeypatch) -> None:
    seed(
        database_url,
        ("msg_1", agreed("ord_7")),
        ("msg_2", event("order.updated", agreed("ord_7", amount="150.00", agreed_at="2026-11-26T09:00:00Z")["data"])),
    )
    result = invoke(["orders", "show", "ord_7", "--json"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["order"]["amount"] == "150.00"
    assert report["order"]["terms_version"] == 2
    assert [t["event_id"] for t in report["terms_history"]] == ["msg_1", "msg_2"]
    statuses = [(e["webhook_id"], e["status"]) for e in report["events"]]
    assert statuses == [("msg_1", "processed"), ("msg_2", "processed")]


def test_orders_show_an_event_waiting_for_its_agreement(database_url, tmp_path, monkeypatch) -> None:
    seed(database_url, ("msg_c", event("order.cancelled", {"order_id": "ord_9", "reason": "changed mind"})))
    result = invoke(["orders", "show", "ord_9", "--json"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["order"] is None
    assert report["events"][0]["status"] == "waiting"


def test_orders_show_unknown_order_fails_with_one_line(database_url, tmp_path, monkeypatch) -> None:
    result = invoke(["orders", "show", "nope"], database_url, tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert "no order and no events for 'nope'" in result.output


def test_orders_list_table_and_json(database_url, tmp_path, monkeypatch) -> None:
    seed(database_url, ("msg_a", agreed("ord_a")), ("msg_b", agreed("ord_b")))
    as_json = invoke(["orders", "list", "--json"], database_url, tmp_path, monkeypatch)
    assert as_json.exit_code == 0, as_json.output
    assert sorted(row["order_id"] for row in json.loads(as_json.output)) == ["ord_a", "ord_b"]
    table = invoke(["orders", "list"], database_url, tmp_path, monkeypatch)
    assert table.exit_code == 0 and "ord_a" in table.output and "120.50 USD" in table.output


def test_missing_secret_is_one_line_and_exit_code_2(database_url, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MARKETPLACE_WEBHOOK_SECRETS", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["orders", "list"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 2
    assert result.output.strip() == "guarantor: MARKETPLACE_WEBHOOK_SECRETS is required but not set"


def test_a_short_audit_key_stops_start_up_with_one_line_and_exit_code_2(database_url, tmp_path, monkeypatch) -> None:
    result = invoke(["run"], database_url, tmp_path, monkeypatch, AUDIT_KEY="too-short")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("guarantor: AUDIT_KEY is invalid: it must be at least 32 characters long")


def test_migrate_is_idempotent(empty_database_url, tmp_path, monkeypatch) -> None:
    first = invoke(["migrate"], empty_database_url, tmp_path, monkeypatch)
    assert first.exit_code == 0 and "database migrated from empty" in first.output
    second = invoke(["migrate"], empty_database_url, tmp_path, monkeypatch)
    assert second.exit_code == 0 and "already up to date" in second.output


def test_unmigrated_database_gives_a_readable_error(empty_database_url, tmp_path, monkeypatch) -> None:
    result = invoke(["orders", "list"], empty_database_url, tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert "guarantor migrate" in result.output
    assert "Traceback" not in result.output


async def test_orders_show_reports_escrow_ticket_and_callbacks(settings) -> None:
    runtime = Runtime(settings)
    try:
        await store(runtime.sessions, "msg_s", agreed("ord_s"))
        await runtime.processor.process_due()
        report = await runtime.reports.show("ord_s")
    finally:
        await runtime.engine.dispose()
    assert report is not None
    assert report["escrow"]["state"] == "awaiting_funding"
    assert "ticket" not in report  # no ticket opened yet
    assert report["callbacks"] == []


async def test_the_bot_freezes_its_heap_again_once_discord_is_ready(settings) -> None:
    bot = create_bot(settings)
    try:
        gc.unfreeze()
        await bot.on_ready()  # discord.py calls it once the guild cache is filled
        assert gc.get_freeze_count() > 10_000
    finally:
        await bot.runtime.engine.dispose()


async def test_health_is_degraded_when_the_event_writer_died(settings) -> None:
    runtime = Runtime(settings)
    await runtime.start(serve_webhooks=False)
    try:
        assert await runtime.database_ok()
        await runtime.intake.close()  # the writer is gone; posts would get 503
        assert not await runtime.database_ok()
    finally:
        await runtime.close()


def test_run_on_an_sqlite_too_old_says_so_in_one_line(database_url, tmp_path, monkeypatch) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    result = invoke(["run"], database_url, tmp_path, monkeypatch, WEBHOOK_PORT="0")
    assert result.exit_code == 1
    assert "guarantor: SQLite 3.31.1 is too old to store webhook events" in result.output
    assert "Traceback" not in result.output


def test_a_taken_metrics_port_stops_start_up_with_one_line(database_url, tmp_path, monkeypatch) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(["run"], database_url, tmp_path, monkeypatch, WEBHOOK_PORT="0", METRICS_PORT=str(port))
    assert result.exit_code == 2, result.output
    assert f"METRICS_PORT {port} on 127.0.0.1 cannot be listened on" in result.output
    assert "Traceback" not in result.output


def test_a_token_without_official_servers_stops_run_with_one_line(database_url, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": database_url, "MARKETPLACE_WEBHOOK_SECRETS": TEST_SECRET, "DISCORD_TOKEN": "abc.def"}
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("guarantor: OFFICIAL_GUILD_IDS is required when DISCORD_TOKEN is set")
