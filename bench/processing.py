"""Event processing: stored marketplace events of every type, in realistic per-order sequences, turned
into orders, escrows and audit entries from cold, against the database's own write speed in the same run.

    .venv/bin/python bench/processing.py [--orders 2000] [--workers 1] [--database-url URL] [--in-process]

For each order: `order.agreed`; for some, newer terms (`order.updated`), a delivery, a completion, a
cancellation, a redelivered event and an event of an unknown type, some of them stored before their
agreement (out of order). The events are stored first (as the intake does), then:

  1. baseline: the same rows written again by a plain batched INSERT into a scratch copy of the table
     (what the database itself can take: the ceiling for any processor);
  2. processing: `--workers` processors (`EventProcessor.process_due`) working the backlog together,
     from cold, until nothing is left; events/s and the ratio to the baseline. On PostgreSQL with more
     than one worker each runs in a process of its own, as in production (`--in-process`: all in this
     process, on one event loop, as always on SQLite and with one worker).

  3. latency (`--burst N`, default 1,000): `guarantor run` on a fresh database takes a burst of N signed
     `order.agreed` events at full speed (32 connections); for each, the time from its storing to its
     order's creation: p50 and p99.

Targets: >= 2,000 events/s on SQLite; >= 3,000 on PostgreSQL with two workers; webhook-to-order
p99 < 1 s during a 1,000-event burst. Every stored event is checked to be processed (or ignored)
exactly once, and every agreed order to exist.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bot.db.engine import create_engine, create_sessionmaker  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import EventStatus, Order, WebhookEvent  # noqa: E402
from bot.db.types import utcnow  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import Settings  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TARGETS = {"sqlite": 2000.0, "postgresql": 3000.0}


def terms(n: int, *, hour: int = 9, amount: str = "120.50") -> dict[str, Any]:
    return {
        "order_id": f"bench-{n}",
        "gig_url": f"https://opentaskai.com/gigs/{n}-logo",
        "seller": {"email": f"seller{n}@example.com", "name": "Sam Seller"},
        "buyer": {"email": f"buyer{n}@example.com", "name": "Bea Buyer"},
        "amount": amount,
        "currency": "USD",
        "delivery_due": "2026-12-20T12:00:00+00:00",
        "deliverables": "A logo in SVG and PNG, three revisions.",
        "agreed_at": f"2026-11-25T{hour:02d}:00:00Z",
    }


def sequence(n: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """One order's events, in the order the marketplace sends them (a few arrive out of order)."""
    order_id = f"bench-{n}"
    events: list[tuple[str, dict[str, Any]]] = [("order.agreed", terms(n))]
    if rng.random() < 0.2:
        events.append(("order.updated", terms(n, hour=11, amount="150.00")))
    if rng.random() < 0.1:
        events.append(("order.cancelled", {"order_id": order_id, "reason": "changed plans"}))
    else:
        if rng.random() < 0.6:
            events.append(("order.delivered", {"order_id": order_id, "delivered_at": "2026-11-27T10:00:00Z"}))
            if rng.random() < 0.7:
                events.append(("order.completed", {"order_id": order_id, "completed_at": "2026-11-28T10:00:00Z"}))
    if rng.random() < 0.02:
        events.append(("order.teleported", {"order_id": order_id}))
    if len(events) > 1 and rng.random() < 0.05:  # a fact before its agreement
        events[0], events[1] = events[1], events[0]
    return events


def rows(orders: int, seed: int) -> list[dict[str, Any]]:
    """The stored rows of every order's events, interleaved as a day of traffic would be."""
    rng = random.Random(seed)
    per_order = [sequence(n, rng) for n in range(orders)]
    stored: list[dict[str, Any]] = []
    cursors = [0] * orders
    live = list(range(orders))
    while live:
        n = rng.choice(live)
        kind, data = per_order[n][cursors[n]]
        cursors[n] += 1
        if cursors[n] == len(per_order[n]):
            live.remove(n)
        body = {"type": kind, "timestamp": "2026-11-25T10:00:00Z", "data": data}
        stored.append(
            {
                "webhook_id": f"msg-{len(stored)}",
                "type": kind,
                "order_id": data["order_id"],
                "body": json.dumps(body, separators=(",", ":")),
                "received_at": utcnow(),
                "status": EventStatus.PENDING.value,
                "attempts": 0,
            }
        )
    return stored


async def empty(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        names = (await connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ))).scalars()  # fmt: skip
        await connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


async def insert(engine: Any, table: Any, batch: list[dict[str, Any]], size: int = 500) -> float:
    started = time.perf_counter()
    for i in range(0, len(batch), size):
        async with engine.begin() as connection:
            await connection.execute(table.insert(), batch[i : i + size])
    return time.perf_counter() - started


def bench_settings(url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        marketplace_webhook_secrets=SECRET,  # type: ignore[arg-type]
        webhook_port=0,
        data_dir=tempfile.mkdtemp(),
    )


async def drain(runtimes: list[Runtime]) -> int:
    """Every runtime's processor works the backlog until nothing is left; returns the statements sent."""
    from sqlalchemy import event as sa_event

    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    async def one(runtime: Runtime) -> None:
        while await runtime.processor.process_due():
            pass

    for runtime in runtimes:
        sa_event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    for _ in range(3):  # waiting facts are released after their agreement: a pass or two more
        await asyncio.gather(*(one(runtime) for runtime in runtimes))
    return statements


async def run_in_process(url: str, workers: int) -> tuple[float, float, int, Any]:
    """`workers` Runtimes in this process, on its one event loop (one Python thread between them)."""
    runtimes = [Runtime(bench_settings(url)) for _ in range(workers)]
    started, cpu_started = time.perf_counter(), time.process_time()
    statements = await drain(runtimes)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for runtime in runtimes[1:]:
        await runtime.engine.dispose()
    return seconds, cpu, statements, runtimes[0].engine


def worker_process(url: str, go: Any, results: Any) -> None:
    """One worker as production runs it: a process of its own with its own Runtime on the same database.
    It says it is ready, waits for the common start, drains the backlog and sends back its CPU time,
    statements and the moment it finished (`time.monotonic`, one clock for every process on the host)."""

    async def work() -> dict[str, float]:
        runtime = Runtime(bench_settings(url))
        results.put({"ready": True})
        go.wait()
        cpu_started = time.process_time()
        statements = await drain([runtime])
        report = {"cpu": time.process_time() - cpu_started, "statements": statements, "finished": time.monotonic()}
        await runtime.engine.dispose()
        return report

    results.put(asyncio.run(work()))


def run_processes(url: str, workers: int) -> tuple[float, list[float], int]:
    """`workers` worker processes (spawned), started together; seconds from the common start to the last
    one finishing, CPU seconds and statements summed over them."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    children = [context.Process(target=worker_process, args=(url, go, results)) for _ in range(workers)]
    for child in children:
        child.start()
    for _ in children:
        assert results.get(timeout=120) == {"ready": True}
    started = time.monotonic()
    go.set()
    reports = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0, child.exitcode
    seconds = max(report["finished"] for report in reports) - started
    return seconds, [report["cpu"] for report in reports], sum(int(report["statements"]) for report in reports)


async def measure(url: str, orders: int, workers: int, seed: int, *, processes: bool) -> dict[str, Any]:
    engine = create_engine(url)
    await upgrade(engine)
    if url.startswith("postgresql"):  # a database used before (by tests, by a run): start from empty tables
        await empty(url)
    table = WebhookEvent.__table__  # type: ignore[attr-defined]
    stored = rows(orders, seed)
    async with engine.begin() as connection:  # the baseline writes into a scratch twin of the table
        await connection.execute(text("DROP TABLE IF EXISTS bench_baseline"))
        await connection.execute(text("CREATE TABLE bench_baseline AS SELECT * FROM webhook_events WHERE 1 = 0"))
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text

    baseline_table = Table(
        "bench_baseline", MetaData(), Column("webhook_id", String), Column("type", String),
        Column("order_id", String), Column("body", Text), Column("received_at", DateTime(timezone=True)),
        Column("status", String), Column("attempts", Integer),
    )  # fmt: skip
    baseline_seconds = await insert(engine, baseline_table, stored)
    await insert(engine, table, stored)
    await engine.dispose()

    if processes:
        seconds, per_worker, statements = run_processes(url, workers)
        cpu, engine = sum(per_worker), create_engine(url)
    else:
        seconds, cpu, statements, engine = await run_in_process(url, workers)
        per_worker = [cpu]
    async with create_sessionmaker(engine)() as session:
        statuses = dict(
            (await session.execute(select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status))).all()
        )  # type: ignore[arg-type]
        made = await session.scalar(select(func.count()).select_from(Order))
        await session.execute(text("DROP TABLE IF EXISTS bench_baseline"))
        await session.commit()
    await engine.dispose()
    agreed = len({r["order_id"] for r in stored})
    left = len(stored) - statuses.get("processed", 0) - statuses.get("ignored", 0)
    return {
        "events": len(stored),
        "baseline": len(stored) / baseline_seconds,
        "rate": len(stored) / seconds,
        "seconds": seconds,
        "cpu": cpu,
        "per_worker": per_worker,
        "left": left,
        "orders_ok": float(made == agreed),
        "statements": statements / len(stored),
    }


async def burst_latency(url: str, events: int, data_dir: str) -> dict[str, float]:
    """Post `events` signed agreements to a real `guarantor run` at full speed; storing → order, per event."""
    import os
    import socket

    import aiohttp
    from standardwebhooks.webhooks import Webhook

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "MARKETPLACE_WEBHOOK_SECRETS": SECRET, "WEBHOOK_PORT": str(port), "DATABASE_URL": url, "LOG_LEVEL": "WARNING",
        "DISCORD_TOKEN": "", "METRICS_PORT": "", "DATA_DIR": data_dir, "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=data_dir, stderr=asyncio.subprocess.DEVNULL
    )
    webhook, now = Webhook(SECRET), utcnow()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            bodies = [json.dumps({"type": "order.agreed", "timestamp": "2026-11-25T10:00:00Z", "data": terms(n)})
                      for n in range(events)]  # fmt: skip
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(events):
                queue.put_nowait(n)

            async def sender() -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    msg_id = f"burst-{n}"
                    headers = {
                        "content-type": "application/json", "webhook-id": msg_id,
                        "webhook-timestamp": str(int(now.timestamp())),
                        "webhook-signature": webhook.sign(msg_id, now, bodies[n]),
                    }  # fmt: skip
                    async with http.post(
                        f"http://127.0.0.1:{port}/webhooks/marketplace", data=bodies[n], headers=headers
                    ) as r:
                        assert r.status == 202, r.status

            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(32)))
            posting = time.perf_counter() - started
        engine = create_engine(url)
        query = text(
            "SELECT w.received_at, o.created_at FROM webhook_events w JOIN orders o ON o.id = w.order_id "
            "WHERE w.type = 'order.agreed'"
        )
        async with asyncio.timeout(120):
            while True:
                async with engine.connect() as connection:
                    rows = (await connection.execute(query)).all()
                if len(rows) == events:
                    break
                await asyncio.sleep(0.2)
        await engine.dispose()
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)

    def aware(value: Any) -> Any:
        from datetime import UTC, datetime

        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    lags = sorted((aware(made) - aware(stored)).total_seconds() for stored, made in rows)
    return {"p50": lags[len(lags) // 2], "p99": lags[int(len(lags) * 0.99) - 1], "ingest": events / posting}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--burst", type=int, default=1000, help="events of the latency burst (0: skip it)")
    parser.add_argument(
        "--in-process", action="store_true", help="PostgreSQL: run the workers in this process, on one event loop"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        processes = url.startswith("postgresql") and args.workers > 1 and not args.in_process
        result = asyncio.run(measure(url, args.orders, args.workers, args.seed, processes=processes))
        latency = None
        if args.burst:
            burst_url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'burst.db'}"
            if args.database_url:  # the same PostgreSQL database: start from empty tables
                asyncio.run(empty(burst_url))
            latency = asyncio.run(burst_latency(burst_url, args.burst, tmp))
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    target = TARGETS[backend]
    where = "in processes of their own" if processes else "in this process"
    print(f"{backend}, {args.workers} worker(s) {where}, {int(result['events'])} stored events of {args.orders} orders")
    print(f"  baseline (plain batched INSERT): {result['baseline']:9.0f} rows/s")
    print(
        f"  processing from cold:            {result['rate']:9.0f} events/s  ({result['seconds']:.1f} s; "
        f"{result['rate'] / result['baseline']:.2f} of the baseline; target >= {target:.0f})"
    )
    each = f": {' + '.join(f'{cpu:.1f}' for cpu in result['per_worker'])} s" if processes else ""
    print(
        f"  CPU of {'the workers:        ' if processes else 'this process:       '}"
        f"     {result['events'] / result['cpu']:9.0f} events per CPU second "
        f"({result['cpu']:.1f} s{each}; on a busy machine events/s falls below it)"
    )
    print(f"  statements sent per event:       {result['statements']:9.2f}")
    ok = result["left"] == 0 and result["orders_ok"] == 1.0
    print(f"  check: {'ok' if ok else 'FAILED'} ({int(result['left'])} events not processed)")
    if latency is not None:
        print(
            f"  burst of {args.burst} at full ingest speed ({latency['ingest']:.0f} events/s posted): webhook-to-order "
            f"p50 {latency['p50'] * 1000:.0f} ms, p99 {latency['p99'] * 1000:.0f} ms (target p99 < 1000 ms)"
        )


if __name__ == "__main__":
    main()
