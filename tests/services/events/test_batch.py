"""Set-based processing (`bot/db/repos/batch.py`): a batch applied as a whole leaves exactly what the same
events leave applied one at a time, each in its own transaction, and costs a few statements whatever its size."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.db.models import (
    AuditEntry,
    CallbackDelivery,
    DiscordEffect,
    Escrow,
    Order,
    OrderTerms,
    Ticket,
    TicketRequest,
    Timer,
    WebhookEvent,
)
from bot.services.escrow import audit
from bot.services.events.processor import EventProcessor
from bot.services.tickets import requests as ticket_requests
from bot.services.tickets.links import gig_key
from tests.services.helpers import Sessions, order_book, store
from tests.webhooks.events import agreed, event, terms


def _orders(prefix: str) -> list[str]:
    return [f"{prefix}{n}" for n in range(6)]


def first_events(prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """Agreements (one after its own delivery), a newer and an older update, a duplicate agreement."""
    o = _orders(prefix)
    return [
        ("d5", event("order.delivered", {"order_id": o[5], "delivered_at": "2026-11-26T10:00:00Z"})),
        *[(f"a{n}", agreed(order_id)) for n, order_id in enumerate(o)],
        ("u1", event("order.updated", terms(o[1], amount="300", agreed_at="2026-11-25T12:00:00Z"))),
        ("s1", event("order.updated", terms(o[1], amount="1", agreed_at="2026-11-25T08:00:00Z"))),
        ("a0-again", agreed(o[0])),
        ("x", event("order.teleported", {"order_id": o[0]})),
    ]


def second_events(prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """After orders 2 and 3 were funded: deliveries, completions (twice), cancellations, locked terms."""
    o = _orders(prefix)
    delivered = {"delivered_at": "2026-11-27T10:00:00Z"}
    completed = {"completed_at": "2026-11-28T10:00:00Z"}
    return [
        ("d0", event("order.delivered", {"order_id": o[0], **delivered})),
        ("c0", event("order.completed", {"order_id": o[0], **completed})),
        ("d2", event("order.delivered", {"order_id": o[2], **delivered})),
        ("c2", event("order.completed", {"order_id": o[2], **completed})),
        ("c2-again", event("order.completed", {"order_id": o[2], **completed})),
        ("u3", event("order.updated", terms(o[3], amount="999", agreed_at="2026-11-25T13:00:00Z"))),
        ("x3", event("order.cancelled", {"order_id": o[3], "reason": "buyer left"})),
        ("x4", event("order.cancelled", {"order_id": o[4], "reason": "changed plans"})),
        ("d4", event("order.delivered", {"order_id": o[4], **delivered})),
        ("c1", event("order.completed", {"order_id": o[1], **completed})),
        ("w9", event("order.delivered", {"order_id": f"{prefix}9", **delivered})),  # never agreed: waits
    ]


async def prepare(sessions: Sessions, prefix: str) -> None:
    """Requests waiting for orders 0 (the seller's email: a ticket) and 1 (another email: rejected)."""
    o = _orders(prefix)
    async with sessions.begin() as session:
        for n, email in ((0, "seller@example.com"), (1, "someone@example.com")):
            await ticket_requests.keep_pending(
                session, guild_id=1, channel_id=2, user_id=10 + n, email=email,
                gig_key=gig_key(terms(o[n])["gig_url"]), hours=1,
            )  # fmt: skip


async def fund(sessions: Sessions, prefix: str) -> None:
    o = _orders(prefix)
    async with sessions.begin() as session:
        await session.execute(update(Escrow).where(Escrow.order_id.in_([o[2], o[3]])).values(state="funded"))  # type: ignore[attr-defined]


async def snapshot(sessions: Sessions, prefix: str) -> dict[str, Any]:
    """Everything the events wrote for the orders of `prefix`, with the prefix and the chain's numbers taken out."""

    def plain(row: Any, drop: set[str]) -> dict[str, Any]:
        values = row.model_dump(exclude=drop | {"id", "created_at", "updated_at", "received_at", "resolved_at"})
        return {k: (v.replace(prefix, "*") if isinstance(v, str) else v) for k, v in values.items()}

    def ours(order_id: str | None) -> bool:
        return order_id is not None and order_id.startswith(prefix)

    async with sessions() as session:
        everything = {
            model.__name__: (await session.scalars(select(model))).all()
            for model in (
                Order, OrderTerms, Escrow, AuditEntry, DiscordEffect, Ticket, TicketRequest, WebhookEvent,
                CallbackDelivery,
            )
        }  # fmt: skip
    entries = sorted((e for e in everything["AuditEntry"] if ours(e.order_id)), key=lambda e: e.seq)
    rank = {e.seq: n for n, e in enumerate(entries)}  # the chain's numbers: in the same order, not the same values

    def terms_masked(values: dict[str, Any]) -> dict[str, Any]:
        """A terms entry's note holds the terms' digests, which name each prefix's own gig link (`verify` below
        checks every note against its `note_sha256`)."""
        if values["note"] is not None:
            values["note"] = re.sub(r"[0-9a-f]{64}", "#", values["note"])
        return values

    def effect(row: DiscordEffect) -> dict[str, Any]:
        values = plain(row, {"claimed_until", "payload"})
        key = re.sub(r"request:\d+|[0-9a-f]{32}", "#", values["key"])  # a request's id, a channel's random name
        values["key"] = re.sub(r":(\d+)", lambda m: f":#{rank[int(m.group(1))]}", key)
        return values

    def callback(row: CallbackDelivery) -> str:
        data = json.loads(row.body)["data"]
        data["audit"]["seq"], data["audit"]["hash"], data["at"] = rank[data["audit"]["seq"]], "", ""
        return json.dumps([row.webhook_id, data], sort_keys=True).replace(prefix, "*")

    return {
        "orders": sorted((plain(r, set()) for r in everything["Order"] if ours(r.id)), key=str),
        "terms": sorted((plain(r, set()) for r in everything["OrderTerms"] if ours(r.order_id)), key=str),
        "escrows": sorted((plain(r, {"approved_at"}) for r in everything["Escrow"] if ours(r.order_id)), key=str),
        "audit": [terms_masked(plain(e, {"seq", "hash", "prev_hash", "note_sha256"})) for e in entries],
        "effects": sorted((effect(r) for r in everything["DiscordEffect"] if ours(r.order_id)), key=str),
        "tickets": sorted((plain(r, {"opened_at"}) for r in everything["Ticket"] if ours(r.order_id)), key=str),
        "requests": sorted(
            (plain(r, {"expires_at"}) for r in everything["TicketRequest"] if ours(r.order_id)), key=str
        ),
        "callbacks": sorted(callback(r) for r in everything["CallbackDelivery"] if ours(r.order_id)),
        "events": sorted(
            (r.webhook_id.replace(prefix, "*"), r.status, r.attempts, r.last_error, r.processed_at is not None)
            for r in everything["WebhookEvent"]
            if r.webhook_id.startswith(prefix)
        ),
    }


async def store_all(sessions: Sessions, prefix: str, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [await store(sessions, f"{prefix}{msg_id}", document) for msg_id, document in events]


async def test_a_batch_leaves_what_one_event_at_a_time_leaves(sessions: Sessions, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.services.events.processor")  # a batch applied one by one says so
    processor = EventProcessor(sessions, order_book(sessions, callbacks_enabled=True))
    for prefix in ("batch-", "single-"):
        await prepare(sessions, prefix)

    async def run(prefix: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        ids = await store_all(sessions, prefix, events)
        if prefix == "batch-":
            assert await processor.process_due() == len(ids)  # all of them in one batch
        else:
            for event_id in ids:
                await processor.process_one(event_id)  # each in its own transaction, without a batch

    for prefix in ("batch-", "single-"):
        await run(prefix, first_events(prefix))
    await processor.process_due()  # the delivery that came before its agreement is released and applied
    for prefix in ("batch-", "single-"):
        await fund(sessions, prefix)
        await run(prefix, second_events(prefix))

    batched, single = await snapshot(sessions, "batch-"), await snapshot(sessions, "single-")
    assert batched == single
    assert "failed as a whole" not in caplog.text  # the batches were applied as batches, not one by one
    # and the run did reach every branch it is meant to compare
    assert {a["action"] for a in batched["audit"]} >= {"flag", "cancel", "deliver", "approve", "terms"}
    assert len(batched["tickets"]) == 1 and {r["state"] for r in batched["requests"]} == {"fulfilled", "rejected"}
    assert ("*w9", "waiting", 1, None, False) in batched["events"]
    assert len(batched["callbacks"]) == 2  # the state changes: a delivery after funding, a cancellation
    async with sessions() as session:
        assert (await audit.verify(session=session)).ok  # one chain, whichever way its entries were written


async def seated(sessions: Sessions, processor: EventProcessor, prefix: str) -> None:
    """Order 0 agreed with its freelancer's request waiting (user 10: a ticket), its buyer (user 20) joined and
    the ticket open; order 1 agreed and its payment held."""
    await prepare(sessions, prefix)
    for event_id in await store_all(sessions, prefix, [("a0", agreed(f"{prefix}0")), ("a1", agreed(f"{prefix}1"))]):
        await processor.process_one(event_id)
    async with sessions.begin() as session:
        channel = 1000 + len(prefix)
        opened = {"buyer_id": 20, "state": "open", "channel_id": channel}
        await session.execute(update(Ticket).where(col(Ticket.order_id) == f"{prefix}0").values(**opened))
        await session.execute(update(Escrow).where(col(Escrow.order_id) == f"{prefix}1").values(state="funded"))


def voiding_events(prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """Both emails of order 0 changed twice, then order 0 cancelled; order 1 delivered."""
    o0, o1 = f"{prefix}0", f"{prefix}1"
    emails = [{"buyer": {"email": f"b{n}@example.com"}, "seller": {"email": f"s{n}@example.com"}} for n in (2, 3)]
    return [
        ("u1", event("order.updated", terms(o0, **emails[0], agreed_at="2026-11-25T12:00:00Z"))),
        ("u2", event("order.updated", terms(o0, **emails[1], agreed_at="2026-11-25T13:00:00Z"))),
        ("x0", event("order.cancelled", {"order_id": o0, "reason": "changed plans"})),
        ("d1", event("order.delivered", {"order_id": o1, "delivered_at": "2026-11-27T10:00:00Z"})),
    ]


async def what_parties_see(sessions: Sessions, prefix: str) -> dict[str, Any]:
    """The effects of the prefix's orders (kind, whom), their tickets' seats and their timers."""
    async with sessions() as session:
        effects = await session.scalars(select(DiscordEffect).where(col(DiscordEffect.order_id).startswith(prefix)))
        tickets = (await session.scalars(select(Ticket).where(col(Ticket.order_id).startswith(prefix)))).all()
        timers = (await session.scalars(select(Timer).where(col(Timer.order_id).startswith(prefix)))).all()
        whom = sorted((e.kind, json.loads(e.payload).get("user_id")) for e in effects.all())
    return {
        "effects": whom,
        "seats": [(t.freelancer_id, t.freelancer_unverified, t.buyer_id) for t in tickets],
        "timers": sorted((t.kind, t.order_id.replace(prefix, "*")) for t in timers),
    }


async def test_new_terms_that_void_both_parties_leave_the_same_in_a_batch_as_one_at_a_time(sessions, caplog) -> None:
    """A party voided by the first change of a batch is removed and told once; later events of the batch (the
    second change, a cancellation) see the emptied seats, as they do one transaction each."""
    caplog.set_level(logging.INFO, logger="bot.services.events.processor")
    processor = EventProcessor(sessions, order_book(sessions))
    for prefix in ("batch-", "single-"):
        await seated(sessions, processor, prefix)
    ids = await store_all(sessions, "batch-", voiding_events("batch-"))
    assert await processor.process_due() == len(ids)
    for event_id in await store_all(sessions, "single-", voiding_events("single-")):
        await processor.process_one(event_id)
    batched, single = await what_parties_see(sessions, "batch-"), await what_parties_see(sessions, "single-")
    assert batched == single
    assert "failed as a whole" not in caplog.text
    removed = [whom for kind, whom in batched["effects"] if kind == "party.remove"]
    assert sorted(set(removed)) == [10, 20] and len(removed) == 4  # each told, then taken out, once
    assert batched["seats"] == [(10, True, None)]
    assert ("unclaimed", "*0") in batched["timers"] and ("approval_reminder", "*1") in batched["timers"]


async def test_a_batch_sends_the_same_few_statements_whatever_its_size(sessions: Sessions, engine: AsyncEngine) -> None:
    processor = EventProcessor(sessions, order_book(sessions))
    await processor.process_due()  # the first pass's sweep of expired requests is behind us
    counts: list[int] = []
    for size in (8, 64):
        statements = 0

        def count(*_args: object) -> None:
            nonlocal statements
            statements += 1

        for n in range(size):
            order_id = f"o{size}-{n}"
            await store(sessions, f"a-{order_id}", agreed(order_id))
            delivered = {"order_id": order_id, "delivered_at": "2026-11-27T10:00:00Z"}
            await store(sessions, f"d-{order_id}", event("order.delivered", delivered))
        sa_event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            assert await processor.process_due() == 2 * size
        finally:
            sa_event.remove(engine.sync_engine, "before_cursor_execute", count)
        counts.append(statements)
    # per batch, not per event (give or take a connection's own set-up statements on PostgreSQL)
    assert abs(counts[0] - counts[1]) <= 2 and max(counts) <= 25, counts


async def test_two_workers_share_interleaved_events_of_the_same_orders_without_a_failure(sessions: Sessions) -> None:
    """Each worker's batch holds some events of orders the other's batch holds too, and makes orders the other has
    updates for: the second waits for the first's orders before it reads anything (PostgreSQL: advisory locks in
    key order), so neither ever fails, times out or deadlocks, and nothing is applied twice."""
    delivered = {"delivered_at": "2026-11-27T10:00:00Z"}
    for step in range(3):
        for n in range(24):
            order_id = f"o{n}"
            document = [
                agreed(order_id),
                event("order.updated", terms(order_id, amount="200", agreed_at="2026-11-25T12:00:00Z")),
                event("order.delivered", {"order_id": order_id, **delivered}),
            ][step]
            await store(sessions, f"{step}-{order_id}", document)
    workers = [EventProcessor(sessions, order_book(sessions)) for _ in range(2)]

    async def drain(worker: EventProcessor) -> None:
        while await worker.process_due(limit=20):
            pass

    await asyncio.gather(*(drain(worker) for worker in workers))
    await workers[0].process_due()  # an update that waited for its agreement in the other batch
    async with sessions() as session:
        rows = (await session.scalars(select(WebhookEvent))).all()
        orders = (await session.scalars(select(Order))).all()
        flags = (await session.scalars(select(AuditEntry))).all()
        assert (await audit.verify(session=session)).ok
    assert {(row.status, row.last_error) for row in rows} == {("processed", None)}
    assert {(o.terms_version, str(o.amount), o.delivered_at is not None) for o in orders} == {(2, "200.00", True)}
    actions = [entry.action for entry in flags]
    assert len(orders) == 24 and actions.count("flag") == 24  # each delivery flagged once (no payment held yet)
    assert actions.count("terms") == 24 and len(actions) == 48  # and each new amount recorded once
