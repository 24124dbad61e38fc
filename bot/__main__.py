"""`guarantor` (also `python -m bot`): run the service and the operators' tools.

The entry point owns lifetimes: it loads settings, builds the runtime or the bot, and
tears them down on SIGINT/SIGTERM. Nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import aiohttp
import click
import discord
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from bot.db.event_store import UnsupportedDatabase
from bot.logs import configure_logging
from bot.runtime import PortUnavailable, Runtime, freeze_heap
from bot.settings import ConfigError, Settings, load_settings
from cogs.client import GuarantorBot, create_bot

if TYPE_CHECKING:
    from bot.services.closing.retention import Purge

log = logging.getLogger("guarantor")
console = Console()
T = TypeVar("T")

TRIGGER_TYPES = ("order.agreed", "order.updated", "order.delivered", "order.completed", "order.cancelled")
RECEIVE_ONLY_NOTICE = (
    "receive-only: serving the webhook server alone and processing nothing; events are stored for the "
    "process that works them (and runs the bot)"
)
WEBHOOK_ONLY_NOTICE = (
    "no DISCORD_TOKEN set: running the webhook server alone; agreed orders are accepted and stored, "
    "and tickets are opened once a bot is connected"
)


NO_SMTP_NOTICE = (
    "no SMTP_URL set: emails are compared, not proven with one-time codes; anyone who knows a party's email "
    "can pass as them, and tickets tell the officers 'email matched, not proven'"
)


NO_AUDIT_KEY_NOTICE = (
    "no AUDIT_KEY set: the audit chain is unkeyed (plain SHA-256); whoever can write the database can edit an "
    "entry and recompute every hash after it; only anchors held outside the database would show it"
)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"guarantor: {message}", err=True)
    sys.exit(code)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc), code=2)
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Turn an unreachable or unmigrated database into one readable line."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        fail(
            f"database error: {str(exc.orig).splitlines()[0]} (is it reachable, and migrated with 'guarantor migrate'?)"
        )
    except (DBAPIError, OSError) as exc:
        fail(f"cannot reach the database: {exc}")
    except UnsupportedDatabase as exc:
        fail(str(exc))
    except PortUnavailable as exc:
        fail(str(exc), code=2)


def run_with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        runtime = Runtime(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.engine.dispose()

    with database_errors():
        return asyncio.run(main())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


@click.group()
def cli() -> None:
    """Guarantor: escrow tickets on Discord for OpenTaskAI marketplace orders."""


@cli.command()
@click.option(
    "--receive-only",
    is_flag=True,
    help="Serve the webhooks and process nothing: another process (on PostgreSQL) works the stored events.",
)
def run(receive_only: bool) -> None:
    """Migrate, start the webhook server and, with DISCORD_TOKEN, the bot."""
    settings = settings_or_exit()
    with database_errors():
        try:
            asyncio.run(serve(settings, receive_only=receive_only))
        except discord.LoginFailure:
            fail("DISCORD_TOKEN was rejected by Discord", code=2)


async def serve(settings: Settings, *, receive_only: bool = False) -> None:
    if settings.smtp_server is None and not receive_only:
        log.warning(NO_SMTP_NOTICE)
    if settings.audit_key is None and not receive_only:
        log.warning(NO_AUDIT_KEY_NOTICE)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if settings.discord_token is None or receive_only:
        runtime = Runtime(settings)
        await runtime.start(process=not receive_only)
        _settle()
        log.warning(RECEIVE_ONLY_NOTICE if receive_only else WEBHOOK_ONLY_NOTICE)
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await runtime.close()
        return
    bot = create_bot(settings)
    async with bot:
        # The webhook server comes up first and stays up while Discord is unreachable: the
        # marketplace must never be turned away because of Discord. (The bot's setup_hook
        # would start the runtime too; a second start does nothing.)
        await bot.runtime.start()
        _settle()
        await _connect_until_stopped(bot, settings.discord_token.get_secret_value(), stop)
        log.info("shutting down")


def _settle() -> None:
    log.info("started; %d objects left out of garbage collection", freeze_heap())


async def _connect_until_stopped(bot: GuarantorBot, token: str, stop: asyncio.Event) -> None:
    delay = 5.0
    while not stop.is_set():
        connection = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({connection, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not connection.done():
            await bot.close()
            await asyncio.gather(connection, return_exceptions=True)
            return
        try:
            connection.result()  # a login failure or a crash is raised here
            return
        except (OSError, aiohttp.ClientError) as exc:
            log.warning("cannot reach Discord (%s); webhooks are still served; retrying in %.0f s", exc, delay)
            await bot.http.close()  # the next login opens a new session, on a new connector
            bot.http.connector = discord.utils.MISSING
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 300.0)


@cli.command()
@click.argument(
    "event_type",
    type=click.Choice(["order.agreed", "order.updated", "order.delivered", "order.completed", "order.cancelled"]),
)
@click.option("--order", "order_id", default=None, help="The order id (default: a new one, trigger-<random>).")
@click.option("--url", default=None, help="Where to post (default: this configuration's own webhook server).")
def trigger(event_type: str, order_id: str | None, url: str | None) -> None:
    """Sign a realistic sample EVENT_TYPE with the first configured secret and post it; print the answer."""
    import secrets

    from webhooks.trigger import post, sample

    settings = settings_or_exit()
    order_id = order_id or f"trigger-{secrets.token_hex(4)}"
    if url is None:
        host = "127.0.0.1" if settings.webhook_host in ("0.0.0.0", "::", "") else settings.webhook_host
        url = f"http://{host}:{settings.webhook_port}/webhooks/marketplace"
    document = sample(event_type, order_id, datetime.now(UTC))
    secret = settings.marketplace_webhook_secrets[0].get_secret_value()
    try:
        answer = asyncio.run(post(url, secret, document))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        fail(f"cannot post to {url}: {exc or type(exc).__name__} (is `guarantor run` serving there?)")
    click.echo(f"{event_type} for order {order_id} → {url}")
    click.echo(f"HTTP {answer.status} {answer.body}")
    if answer.status >= 300:
        sys.exit(1)
    click.echo(f"see it with: guarantor orders show {order_id}")


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = settings_or_exit()

    async def work(runtime: Runtime) -> tuple[tuple[str, ...], tuple[str, ...]]:
        from bot.db.migrate import upgrade

        return await upgrade(runtime.engine)

    before, after = run_with_runtime(settings, work)
    if before == after:
        click.echo(f"database already up to date ({', '.join(after)})")
    else:
        click.echo(f"database migrated from {', '.join(before) or 'empty'} to {', '.join(after)}")


@cli.group()
def orders() -> None:
    """Inspect orders received from the marketplace."""


@orders.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def orders_list(limit: int, as_json: bool) -> None:
    """The newest orders first."""
    settings = settings_or_exit()
    rows = run_with_runtime(settings, lambda runtime: runtime.reports.list(limit=limit))
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Orders ({len(rows)})",
        ["order", "amount", "seller", "buyer", "terms v.", "created", "cancelled"],
        [
            [
                r["order_id"],
                f"{r['amount']} {r['currency']}",
                r["seller_email"],
                r["buyer_email"],
                r["terms_version"],
                r["created_at"][:19],
                (r["cancelled_at"] or "")[:19],
            ]
            for r in rows
        ],
    )


@orders.command("show")
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def orders_show(order_id: str, as_json: bool) -> None:
    """Current terms, every earlier version, and the events received for one order."""
    settings = settings_or_exit()
    report = run_with_runtime(settings, lambda runtime: runtime.reports.show(order_id))
    if report is None:
        fail(f"no order and no events for {order_id!r}")
    if as_json:
        print_json(report)
        return
    _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    order = report["order"]
    if order is None:
        console.print(f"[bold]{report['order_id']}[/]: no agreement received yet; events are waiting for it")
    else:
        print_table(f"Order {report['order_id']}", ["field", "value"], [[k, v] for k, v in order.items()])
        print_table(
            "Terms versions",
            ["event", "type", "applied", "amount", "agreed at", "note"],
            [
                [
                    t["event_id"],
                    t["event_type"],
                    t["applied"],
                    f"{t['amount']} {t['currency']}",
                    t["agreed_at"][:19],
                    t["note"],
                ]
                for t in report["terms_history"]
            ],
        )
    print_table(
        "Events",
        ["webhook id", "type", "status", "attempts", "received", "last error"],
        [
            [e["webhook_id"], e["type"], e["status"], e["attempts"], e["received_at"][:19], e["last_error"]]
            for e in report["events"]
        ],
    )
    transcript = (report.get("ticket") or {}).get("transcript")
    if transcript is not None:
        console.print(f"[bold]Transcript[/] in {transcript['folder']}", soft_wrap=True)
        console.print(f"SHA-256 of its HTML page: {transcript['html_sha256']}", soft_wrap=True)
        print_table(
            "Transcript files",
            ["file", "bytes"],
            [[f["path"], f["bytes"]] for f in transcript["files"]] or [["(none left: purged)", ""]],
        )
    for key, value in report.items():
        if key not in {"order_id", "order", "terms_history", "events"}:
            console.print(f"[bold]{key}[/]")
            print_json(value)


@cli.group()
def audit() -> None:
    """The hash-chained audit log of escrow actions."""


def _anchor(_context: click.Context, _param: click.Parameter, value: str | None) -> Any:
    from bot.services.escrow.audit import Anchor

    if value is None:
        return None
    try:
        return Anchor.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@audit.command("verify")
@click.option(
    "--anchor",
    metavar="SEQ:HASH",
    callback=_anchor,
    help="A chain head held elsewhere (a callback's audit seq and hash, the log channel's daily line): "
    "entry SEQ must still have hash HASH.",
)
def audit_verify(anchor: Any) -> None:
    """Check every audit entry against the chain (keyed ones with AUDIT_KEY), the chain head, the optional
    anchor, purged notes and every escrow's state; exit 1 naming the first bad entry."""
    from rich.progress import Progress

    from bot.services.escrow import audit as audit_log

    settings = settings_or_exit()

    async def work(runtime: Runtime) -> audit_log.Verification:
        async with runtime.sessions() as session:
            total = await audit_log.count(session=session)
            with Progress(console=Console(stderr=True), transient=True) as progress:
                task = progress.add_task("verifying the audit chain", total=total)

                def advance(n: int) -> None:
                    progress.advance(task, n)

                return await audit_log.verify(session=session, progress=advance, anchor=anchor)

    result = run_with_runtime(settings, work)
    if not result.ok:
        fail(result.describe())
    if settings.audit_key is None:
        click.echo(NO_AUDIT_KEY_NOTICE, err=True)
    click.echo(result.describe())


@cli.command()
@click.option("--dry-run", is_flag=True, help="List what would be purged and change nothing.")
def purge(dry_run: bool) -> None:
    """Purge the records of tickets closed more than TRANSCRIPT_RETENTION_DAYS ago."""
    from rich.progress import Progress

    from bot.services.closing.retention import Retention

    settings = settings_or_exit()
    days = settings.transcript_retention_days

    async def work(runtime: Runtime) -> tuple[list[Purge], int]:
        retention = Retention(runtime.sessions, data_dir=settings.data_dir, retention_days=days)
        plans = await retention.plan()
        if plans:
            _print_purge_plan(plans, days)
            # DATA_DIR is relative to the working directory: say which folder the files are taken from.
            console.print(f"transcript files are taken from {(Path(settings.data_dir) / 'transcripts').resolve()}")
        if dry_run or not plans:
            return plans, 0
        done = 0
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("purging closed tickets' records", total=len(plans))
            for plan in plans:
                done += await retention.purge_one(plan.order_id) is not None
                progress.advance(task)
        return plans, done

    plans, done = run_with_runtime(settings, work)
    if not plans:
        click.echo(f"nothing to purge: no closed ticket is waiting past its {days} days")
    elif dry_run:
        click.echo(f"dry run: {len(plans)} tickets' records would be purged; nothing was changed")
    else:
        skipped = f" ({len(plans) - done} purged meanwhile by another run)" if done < len(plans) else ""
        click.echo(f"purged the records of {done} tickets{skipped}; each purge is an entry in the audit chain")


def _print_purge_plan(plans: list[Purge], days: int) -> None:
    from bot.services.closing.render import human_size

    print_table(
        f"Records to purge: tickets closed more than {days} days ago ({len(plans)})",
        ["order", "server", "closed", "transcript files", "request emails", "order records", "event bodies",
         "callback notes", "audit notes"],
        [
            [p.order_id, p.guild_id, p.closed_at.isoformat()[:10], f"{p.files} ({human_size(p.file_bytes)})",
             p.request_emails, p.order_records, p.event_bodies, p.callback_notes, p.audit_notes]
            for p in plans
        ],
    )  # fmt: skip


@cli.group()
def events() -> None:
    """Marketplace events as they were stored, and a way out for those that failed."""


@events.command("list")
@click.option("--failed", "failed_only", is_flag=True, help="Only events that used up their retries.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def events_list(failed_only: bool, limit: int, as_json: bool) -> None:
    """The newest stored events first."""
    from bot.services.events.failures import FailedEvents

    settings = settings_or_exit()
    rows = run_with_runtime(
        settings, lambda runtime: FailedEvents(runtime.sessions).listing(failed_only=failed_only, limit=limit)
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        f"{'Failed events' if failed_only else 'Events'} ({len(rows)})",
        ["webhook id", "type", "order", "status", "attempts", "received", "last error"],
        [
            [
                r["webhook_id"],
                r["type"],
                r["order_id"],
                r["status"],
                r["attempts"],
                r["received_at"][:19],
                r["last_error"],
            ]
            for r in rows
        ],
    )


@events.command("retry")
@click.argument("webhook_id", required=False)
@click.option("--all-failed", is_flag=True, help="Every failed event.")
def events_retry(webhook_id: str | None, all_failed: bool) -> None:
    """Give a failed event (by webhook id), or every failed one, a fresh retry budget."""
    from bot.services.errors import GuaranteeError
    from bot.services.events.failures import FailedEvents

    if (webhook_id is None) == (not all_failed):
        fail("give one WEBHOOK_ID or --all-failed", code=2)
    settings = settings_or_exit()
    try:
        retried = run_with_runtime(settings, lambda runtime: FailedEvents(runtime.sessions).retry(webhook_id))
    except GuaranteeError as exc:
        fail(str(exc))
    click.echo(f"{len(retried)} event(s) put back in line: {', '.join(retried) or 'none were failed'}")


@cli.group()
def tickets() -> None:
    """Guarantee tickets opened on Discord."""


@tickets.command("list")
@click.option(
    "--state",
    type=click.Choice(["opening", "open", "orphaned", "closing", "closed"]),
    help="Only tickets in this state (default: all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tickets_list(state: str | None, as_json: bool) -> None:
    """Every ticket, oldest first, with its escrow state."""
    from bot.db.models import TicketState
    from bot.services.tickets.queries import TicketQueries, ticket_record

    settings = settings_or_exit()

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        items = await TicketQueries(runtime.sessions).listing(state=TicketState(state) if state else None)
        return [ticket_record(item) for item in items]

    rows = run_with_runtime(settings, work)
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Tickets ({len(rows)})",
        ["order", "state", "escrow", "amount", "channel", "freelancer", "buyer", "created"],
        [
            [
                r["order_id"],
                r["state"],
                r["escrow_state"],
                f"{r['amount']} {r['currency']}",
                r["channel_id"],
                r["freelancer_id"],
                r["buyer_id"],
                r["created_at"][:19],
            ]
            for r in rows
        ],
    )


def main() -> None:
    cli(prog_name="guarantor")


if __name__ == "__main__":
    main()
