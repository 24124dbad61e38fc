"""The retention purge: what goes, what stays, once, verifiably, and a dry run that changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlmodel import col

from bot.db.models import (
    AuditEntry,
    CallbackDelivery,
    Order,
    OrderTerms,
    Ticket,
    TicketRequest,
    TicketState,
    WebhookEvent,
)
from bot.db.types import utcnow
from bot.runtime import Runtime
from bot.services.closing import retention as retention_module
from bot.services.closing.retention import PURGED, DailyPurge, Retention, redact_callback, redact_event
from bot.services.closing.storage import save_transcript
from bot.services.escrow import audit
from tests.services.closing.support import message, transcript
from tests.services.closing.world import GUILD, closed_ticket
from tests.webhooks.events import agreed, event

DAYS = 180
TABLES = ("tickets", "ticket_requests", "orders", "order_terms", "webhook_events", "callback_deliveries")
TABLES += ("audit_entries", "audit_head", "escrows")
PERSONAL = ("example.com", "Sam Seller", "Bo Buyer", "u-1", "chat/42", "send drafts", "changed plans", "files sent")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def retention(sessions, data_dir: Path) -> Retention:
    return Retention(sessions, data_dir=data_dir, retention_days=DAYS)


async def with_transcript(sessions, data_dir: Path, order_id: str, **ticket) -> Path:
    """A closed ticket (200 days ago unless said otherwise) and its saved transcript (two pages, one file)."""
    await closed_ticket(sessions, order_id, **ticket)
    t = transcript(message("done", attachments=()), order_id=order_id, guild_id=GUILD)
    saved = await save_transcript(t, data_dir=data_dir, fetcher=None)
    (saved.directory / "attachments").mkdir()
    (saved.directory / "attachments" / "1-logo.png").write_bytes(b"p" * 1000)
    return saved.directory


async def snapshot(sessions) -> dict[str, list[tuple]]:
    async with sessions() as session:
        return {
            t: [tuple(r) for r in (await session.execute(text(f"SELECT * FROM {t} ORDER BY 1"))).all()] for t in TABLES
        }


async def rows(sessions, model, *where):
    async with sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def test_a_dry_run_lists_what_would_go_and_changes_nothing(sessions, retention, data_dir) -> None:
    folder = await with_transcript(sessions, data_dir, "ord_old")
    await with_transcript(sessions, data_dir, "ord_recent", closed_at=utcnow() - timedelta(days=DAYS - 1))
    await closed_ticket(sessions, "ord_live", state=TicketState.OPEN)
    before = await snapshot(sessions)
    [plan] = await retention.plan()
    assert (plan.order_id, plan.guild_id, plan.files) == ("ord_old", GUILD, 3)
    assert plan.file_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    counts = (plan.request_emails, plan.order_records, plan.event_bodies, plan.callback_notes, plan.audit_notes)
    assert counts == (1, 2, 2, 2, 2)
    assert await snapshot(sessions) == before
    assert folder.is_dir() and len(list(folder.rglob("*"))) == 4


async def test_a_purge_removes_the_personal_records_and_keeps_amounts_states_and_ids(
    sessions, retention, data_dir
) -> None:
    folder = await with_transcript(sessions, data_dir, "ord_old")
    kept = await with_transcript(sessions, data_dir, "ord_recent", closed_at=utcnow() - timedelta(days=10))
    async with sessions.begin() as session:  # the closing officer's reason may name people too
        await session.execute(update(Ticket).values(close_reason="refunded: ask bo.buyer@example.com"))
    [done] = await retention.purge()
    assert (done.order_id, done.files, done.request_emails, done.order_records) == ("ord_old", 3, 1, 2)
    assert (done.event_bodies, done.callback_notes, done.audit_notes) == (2, 2, 2)

    assert not folder.exists() and kept.is_dir()
    [ticket] = await rows(sessions, Ticket, col(Ticket.order_id) == "ord_old")
    assert ticket.purged_at is not None and ticket.state == "closed" and ticket.freelancer_id
    assert ticket.close_reason is None
    [request] = await rows(sessions, TicketRequest, col(TicketRequest.order_id) == "ord_old")
    assert request.email == PURGED
    [order] = await rows(sessions, Order, col(Order.id) == "ord_old")
    assert (order.amount, order.currency, order.gig_url) == (
        Decimal("120.50"),
        "USD",
        "https://opentaskai.com/gigs/ord_old-logo",
    )
    assert (order.seller_email, order.buyer_email, order.deliverables) == (PURGED, PURGED, PURGED)
    assert (order.seller_name, order.buyer_name, order.seller_user_id, order.conversation_url) == (None,) * 4
    assert order.delivery_note is None and order.delivered_at is not None
    [terms] = await rows(sessions, OrderTerms, col(OrderTerms.order_id) == "ord_old")
    assert (terms.seller_email, terms.amount) == (PURGED, Decimal("120.50"))
    for row in await rows(sessions, WebhookEvent, col(WebhookEvent.order_id) == "ord_old"):
        assert not any(word in row.body for word in PERSONAL), row.body
        assert json.loads(row.body)["data"]["order_id"] == "ord_old"
    [agreed_row] = await rows(
        sessions, WebhookEvent, col(WebhookEvent.type) == "order.agreed", col(WebhookEvent.order_id) == "ord_old"
    )
    agreed_body = json.loads(agreed_row.body)
    assert agreed_body["data"]["amount"] == "120.50" and agreed_body["data"]["seller"] == PURGED
    for row in await rows(sessions, CallbackDelivery, col(CallbackDelivery.order_id) == "ord_old"):
        assert not any(word in row.body for word in PERSONAL), row.body
    entries = await rows(sessions, AuditEntry, col(AuditEntry.order_id) == "ord_old")
    assert [e.action for e in entries] == ["fund", "deliver", "refund", "purge"]
    assert [e.note is None for e in entries[:3]] == [True, True, True]
    assert all(e.note_sha256 for e in (entries[0], entries[2]))
    purge = entries[-1]
    assert (purge.actor, purge.role, purge.from_state, purge.to_state) == (
        "retention",
        "system",
        "refunded",
        "refunded",
    )
    assert purge.note == done.describe()
    assert "3 transcript files" in purge.note and "2 audit notes" in purge.note and "2 event bodies" in purge.note

    # The ticket closed 10 days ago keeps everything.
    [recent] = await rows(sessions, Order, col(Order.id) == "ord_recent")
    assert recent.seller_email == "seller@example.com"


async def test_audit_verify_passes_after_a_purge_and_counts_the_purged_notes(sessions, retention, data_dir) -> None:
    await with_transcript(sessions, data_dir, "ord_a")
    await with_transcript(sessions, data_dir, "ord_b")
    assert len(await retention.purge()) == 2
    async with sessions() as session:
        result = await audit.verify(session=session)
    assert result.ok, result.describe()
    assert (result.checked, result.purged) == (8, 4)


async def test_a_purge_is_done_once(sessions, retention, data_dir) -> None:
    await with_transcript(sessions, data_dir, "ord_once")
    assert len(await retention.purge()) == 1
    after = await snapshot(sessions)
    assert await retention.plan() == []
    assert await retention.purge() == []
    assert await retention.purge_one("ord_once") is None
    assert await snapshot(sessions) == after


async def test_two_purges_at_once_purge_a_ticket_once(sessions, data_dir) -> None:
    await with_transcript(sessions, data_dir, "ord_race")
    one = Retention(sessions, data_dir=data_dir, retention_days=DAYS)
    other = Retention(sessions, data_dir=data_dir, retention_days=DAYS)
    results = await asyncio.gather(one.purge_one("ord_race"), other.purge_one("ord_race"))
    assert sorted(r is None for r in results) == [False, True]
    entries = await rows(sessions, AuditEntry, col(AuditEntry.action) == "purge")
    assert len(entries) == 1


async def test_a_failed_file_delete_rolls_the_purge_back_and_the_next_run_finishes(
    sessions, retention, data_dir, monkeypatch
) -> None:
    folder = await with_transcript(sessions, data_dir, "ord_fail")
    before = await snapshot(sessions)

    def refuse(directory: Path) -> None:
        raise PermissionError(f"cannot delete {directory.name}")

    monkeypatch.setattr(retention_module, "_delete", refuse)
    with pytest.raises(PermissionError):
        await retention.purge()
    assert await snapshot(sessions) == before and folder.is_dir()
    monkeypatch.undo()
    assert [p.order_id for p in await retention.purge()] == ["ord_fail"]
    assert not folder.exists()


async def purges(sessions, order_id: str) -> int:
    """How many purge entries the audit chain holds for the order."""
    async with sessions() as session:
        rows = await session.execute(select(AuditEntry.action).where(col(AuditEntry.order_id) == order_id))
    return [action for (action,) in rows].count(retention_module.ACTION)


async def test_the_daily_job_purges_what_is_due_once_a_day(sessions, data_dir) -> None:
    await with_transcript(sessions, data_dir, "ord_daily", closed_at=utcnow() - timedelta(days=31))
    day = utcnow()
    job = DailyPurge(Retention(sessions, data_dir=data_dir, retention_days=30), clock=lambda: day)
    assert await job.work() == 0 and not (data_dir / "transcripts").exists()  # the first pass purges
    assert await purges(sessions, "ord_daily") == 1
    await with_transcript(sessions, data_dir, "ord_later", closed_at=utcnow() - timedelta(days=31))
    await job.work()  # the same day: nothing more
    assert (data_dir / "transcripts").exists()
    day += timedelta(days=1)
    await job.work()  # the next day's pass
    assert not (data_dir / "transcripts").exists()
    assert await purges(sessions, "ord_later") == 1 and await purges(sessions, "ord_daily") == 1


async def test_the_daily_job_keeps_what_is_not_due_and_retries_a_failed_day(sessions, data_dir, monkeypatch) -> None:
    folder = await with_transcript(sessions, data_dir, "ord_young", closed_at=utcnow() - timedelta(days=10))
    job = DailyPurge(Retention(sessions, data_dir=data_dir, retention_days=30))
    await job.work()
    assert folder.is_dir() and await purges(sessions, "ord_young") == 0
    old = await with_transcript(sessions, data_dir, "ord_old", closed_at=utcnow() - timedelta(days=40))
    job.last_day = None

    def refuse(directory: Path) -> None:
        raise PermissionError(f"cannot delete {directory.name}")

    monkeypatch.setattr(retention_module, "_delete", refuse)
    with pytest.raises(PermissionError):
        await job.work()
    assert job.last_day is None and old.is_dir()  # the day is not done: the next poll tries again
    monkeypatch.undo()
    await job.work()
    assert not old.exists() and folder.is_dir()


async def test_guarantor_run_purges_at_start_and_a_receiver_does_not(sessions, settings) -> None:
    await closed_ticket(sessions, "ord_due")  # closed 200 days ago: past the default 180
    receiver = Runtime(settings)
    try:
        await receiver.start(serve_webhooks=False, process=False)
        assert receiver.purges._task is None  # `--receive-only` works no stored data
    finally:
        await receiver.close()
    assert await purges(sessions, "ord_due") == 0
    runtime = Runtime(settings)
    try:
        await runtime.start(serve_webhooks=False)
        for _ in range(200):  # the first pass runs as the worker starts; wait for it without a clock of our own
            if runtime.purges.last_day is not None:
                break
            await asyncio.sleep(0.01)
        assert await purges(sessions, "ord_due") == 1
    finally:
        await runtime.close()


async def test_a_ticket_without_transcript_files_is_purged_all_the_same(sessions, retention) -> None:
    await closed_ticket(sessions, "ord_nofiles")
    [done] = await retention.purge()
    assert (done.files, done.file_bytes, done.request_emails) == (0, 0, 1)


@pytest.mark.parametrize(
    "document",
    [
        agreed("ord_r"),
        event("order.updated", agreed("ord_r")["data"]),
        event("order.delivered", {"order_id": "ord_r", "delivered_at": "2026-11-26T10:00:00Z", "note": "to a@b.io"}),
        event("order.completed", {"order_id": "ord_r", "completed_at": "2026-11-27T10:00:00Z"}),
        event("order.cancelled", {"order_id": "ord_r", "reason": "Bo Buyer changed plans"}),
        {
            "type": "order.future",
            "timestamp": "2026-11-25T10:00:00Z",
            "data": {"order_id": "ord_r", "who": "Sam Seller"},
            "extra": {"email": "x@example.com"},
        },
    ],
)
def test_an_event_body_keeps_type_order_amount_and_dates_only(document: dict) -> None:
    body = json.dumps(document)
    redacted = redact_event(body)
    assert redact_event(redacted) == redacted  # idempotent
    kept = json.loads(redacted)
    assert kept["type"] == document["type"] and kept["timestamp"] == document["timestamp"]
    assert kept["data"]["order_id"] == "ord_r"
    assert not any(word in redacted for word in ("@", "Sam Seller", "Bo Buyer", "chat/42", "A vector logo"))
    for key in ("amount", "currency", "delivery_due", "agreed_at", "delivered_at", "completed_at"):
        assert kept["data"].get(key) == document["data"].get(key)


def test_a_body_that_holds_nothing_personal_is_left_as_it_was() -> None:
    body = json.dumps(event("order.completed", {"order_id": "o", "completed_at": "2026-11-27T10:00:00Z"}), indent=2)
    assert redact_event(body) is body
    assert redact_event("not json") == redact_event(redact_event("not json")) == json.dumps(PURGED)


def test_a_callback_body_loses_only_its_note() -> None:
    body = json.dumps(
        {"type": "escrow.state_changed", "data": {"order_id": "o", "note": "mail a@b.io", "to": "funded"}}
    )
    redacted = json.loads(redact_callback(body))
    assert redacted["data"] == {"order_id": "o", "note": PURGED, "to": "funded"}
    assert redact_callback(redact_callback(body)) == redact_callback(body)
    no_note = json.dumps({"type": "escrow.state_changed", "data": {"order_id": "o", "note": None}})
    assert redact_callback(no_note) is no_note
