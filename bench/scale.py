"""Scale: 100,000 orders and 10,000 open tickets in the database (bulk-inserted with SQL), then
`/guarantee queue` and `/guarantee status` through the test harness (p50/p99 over --calls each,
target p99 < 50 ms), webhook ingest with wrk against `guarantor run` on that database (pieces of
bench/webhook_ingest.py), and this process's peak RSS (VmHWM, target < 200 MB).

    .venv/bin/python bench/scale.py [--orders 100000] [--tickets 10000] [--calls 200]
    .venv/bin/python bench/scale.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/scale

The PostgreSQL database is dropped and recreated (schema `public`): give it one of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from _discord import Burst, burst, settings_for, start_env, vm_hwm_mb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine
from bot.db.migrate import upgrade
from bot.db.models import Order, Ticket, TicketState
from bot.db.types import utcnow
from tests.harness._world import DiscordEnv

TARGET_P99_MS, TARGET_RSS_MB, CHUNK = 50.0, 200.0, 5000


async def fresh_schema(engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)


async def insert_chunks(
    engine: AsyncEngine, table: object, count: int, row: Callable[[int], dict[str, object]]
) -> None:
    """Rows made a chunk at a time, so the setup does not inflate the RSS measured later."""
    for start in range(0, count, CHUNK):
        async with engine.begin() as connection:
            rows = [row(n) for n in range(start, min(count, start + CHUNK))]
            await connection.execute(table.insert(), rows)  # type: ignore[attr-defined]


async def bulk_orders(engine: AsyncEngine, count: int) -> None:
    now = utcnow()

    def row(n: int) -> dict[str, object]:
        return {
            "id": f"s-{n}", "gig_url": f"https://opentaskai.com/gigs/s-{n}", "gig_key": f"opentaskai.com/gigs/s-{n}",
            "seller_email": f"seller{n}@example.com", "buyer_email": f"buyer{n}@example.com",
            "amount": Decimal("120.50"), "currency": "USD", "delivery_due": now + timedelta(days=20),
            "deliverables": "A logo in SVG and PNG, three revisions.", "agreed_at": now - timedelta(minutes=n),
            "terms_version": 1, "terms_event_id": f"msg_s_{n}", "created_at": now, "updated_at": now,
        }  # fmt: skip

    await insert_chunks(engine, Order.__table__, count, row)  # type: ignore[attr-defined]


async def bulk_tickets(engine: AsyncEngine, count: int, orders: int, guild_id: int, freelancer_id: int) -> list[str]:
    now, picked = utcnow(), random.Random(7).sample(range(orders), count)

    def row(i: int) -> dict[str, object]:
        n = picked[i]
        return {
            "order_id": f"s-{n}", "guild_id": guild_id, "state": TicketState.OPEN.value, "freelancer_id": freelancer_id,
            "channel_id": 10**17 + i, "summary_message_id": 2 * 10**17 + i, "created_at": now - timedelta(seconds=i),
            "opened_at": now - timedelta(seconds=i), "updated_at": now,
        }  # fmt: skip

    await insert_chunks(engine, Ticket.__table__, count, row)  # type: ignore[attr-defined]
    return [f"s-{n}" for n in picked]


def timed(results: Burst) -> str:
    handled = sorted(r.handled_seconds * 1000 for r in results.results)  # type: ignore[attr-defined]

    def pct(p: float) -> float:
        return handled[min(len(handled) - 1, int(p / 100 * len(handled)))]

    ack = results.ack_percentile(99)
    return f"answered p50 {pct(50):6.1f} ms  p99 {pct(99):6.1f} ms   (ack p99 {ack:.1f} ms)"


async def commands(env: DiscordEnv, order_ids: list[str], calls: int) -> tuple[Burst, Burst]:
    """Each call on its own (one in flight), timed from dispatch to the final answer."""

    def call(name: str, **options: object):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            result = await env.driver.command(name, by=env.officer, channel=env.channel, **options)
            result.handled_seconds = time.perf_counter() - started  # type: ignore[attr-defined]
            return result

        return run

    rng = random.Random(11)
    queue = await burst(env.driver, [call("guarantee queue", page=rng.randint(1, 20)) for _ in range(calls)], 1)
    status = await burst(
        env.driver, [call("guarantee status", order_id=rng.choice(order_ids)) for _ in range(calls)], 1
    )
    for result in (*queue.results[:1], *status.results[:1]):
        assert result.embeds or result.content, "an empty answer"
    return queue, status


def ingest(database_url: str, tmp: Path, seconds: int) -> str:
    import webhook_ingest as wi

    port = wi.free_port()
    script = wi.lua_script(20_000, tmp)
    env = os.environ | {
        "MARKETPLACE_WEBHOOK_SECRETS": wi.SECRET, "WEBHOOK_PORT": str(port), "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url, "DISCORD_TOKEN": "", "BENCH_CWD": str(tmp),
    }  # fmt: skip
    with wi.serving([sys.executable, "-m", "bot", "run"], env, port):
        result = wi.run_wrk(port, script, seconds, connections=32)
    wi.show("ingest", result)
    return f"{result['rps']:.0f} req/s, p99 {result['p99']:.2f} ms (target < {wi.TARGET_P99_MS} ms)"


async def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bot").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'scale.db'}"
        engine = create_engine(url)
        started = time.perf_counter()
        await fresh_schema(engine)
        await bulk_orders(engine, args.orders)
        monkeypatch = pytest.MonkeyPatch()
        env = await start_env(settings_for(url, Path(tmp)), monkeypatch, extra_guilds=0)
        try:
            ticketed = await bulk_tickets(engine, args.tickets, args.orders, env.guild.id, env.freelancer.id)
            print(f"setup: {args.orders} orders, {args.tickets} open tickets, {time.perf_counter() - started:.1f} s")
            queue, status = await commands(env, ticketed, args.calls)
            print(f"/guarantee queue : {timed(queue)}")
            print(f"/guarantee status: {timed(status)}   (target p99 < {TARGET_P99_MS:.0f} ms)")
            print(f"peak RSS (bot + harness, this process): {vm_hwm_mb():.0f} MB (target < {TARGET_RSS_MB:.0f} MB)")
        finally:
            await env.close()
            monkeypatch.undo()
            await engine.dispose()
        if not args.no_ingest:
            print(f"webhook ingest on this database: {ingest(url, Path(tmp), args.duration)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--duration", type=int, default=4, help="seconds of wrk load for the ingest step")
    parser.add_argument("--no-ingest", action="store_true")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
