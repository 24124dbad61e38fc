"""Everything with a lifetime, in one place: database, intake, processor, workers, webhook server.

The bot's `setup_hook` starts a `Runtime` and its `close()` stops it; in webhook-only
mode the entry point does the same without a bot.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import text

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.db.repos import events as event_repo
from bot.db.types import utcnow
from bot.mail import SmtpMailer
from bot.metrics import Metrics, MetricsServer
from bot.services.closing.closer import TicketCloser
from bot.services.closing.retention import DailyPurge, Retention
from bot.services.closing.service import ClosingService
from bot.services.effects import EffectWorker
from bot.services.escrow.anchors import DailyAnchors
from bot.services.escrow.marketplace import MarketplaceEscrow
from bot.services.escrow.service import EscrowService
from bot.services.events.intake import STUCK_SECONDS, EventIntake
from bot.services.events.order_book import OrderBook
from bot.services.events.processor import EventProcessor
from bot.services.guilds import GuildSettings
from bot.services.reports import OrderReports
from bot.services.signing import SignatureVerifier
from bot.services.tickets.proof import EmailProof
from bot.services.tickets.service import TicketService
from bot.services.timers.firing import TimerWorker
from bot.services.timers.schedule import TimerPeriods
from bot.settings import Settings
from webhooks import create_app
from webhooks.callbacks import AiohttpPoster, callback_worker
from webhooks.keys import Backlog

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
# An event stored this long ago and still not processed: processing stalls (no worker, or a stuck one).
PROCESSING_STALL_SECONDS = 120.0


def freeze_heap() -> int:
    """Leave every object alive now out of the cyclic garbage collector's passes (`gc.freeze`).

    `guarantor run` calls it once started, and the bot again when Discord's guild cache is filled
    (not `Runtime.start`: tests start hundreds of runtimes in one process). What exists then (modules,
    models, caches) lives as long as the process, yet every full collection walked it, a pause
    of ~110 ms that, landing in a burst, held back every interaction's acknowledgement
    (bench/ticket_burst.py). Returns how many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class PortUnavailable(RuntimeError):
    """A port from the settings cannot be listened on (taken, or not this machine's address)."""

    def __init__(self, key: str, host: str, port: int, cause: OSError) -> None:
        super().__init__(f"{key} {port} on {host} cannot be listened on: {cause.strerror or cause}")


class Runtime:
    """Builds the services in the order data flows through them: webhook → intake → processor →
    order book → tickets and escrow → effects (Discord, callbacks)."""

    def __init__(self, settings: Settings, *, discord_status: Callable[[], str] = lambda: "disabled") -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.sessions = create_sessionmaker(self.engine, audit_key=settings.audit_key_bytes)
        self.verifier = SignatureVerifier(secret.get_secret_value() for secret in settings.marketplace_webhook_secrets)
        self.reports = OrderReports(self.sessions)
        self.guilds = GuildSettings(self.sessions)
        smtp = settings.smtp_server
        mailer = SmtpMailer(smtp, settings.smtp_from or "") if smtp is not None else None
        self.proof = EmailProof(self.sessions, mailer)
        periods = TimerPeriods.of(
            unclaimed_minutes=settings.unclaimed_reminder_minutes, approval_hours=settings.approval_reminder_hours,
            dispute_hours=settings.dispute_escalation_hours,
        )  # fmt: skip
        self.tickets = TicketService(
            self.sessions, marketplace_host=settings.marketplace_host, pending_hours=settings.pending_request_hours,
            proof=self.proof, timer_periods=periods,
        )  # fmt: skip
        self.callback_poster = AiohttpPoster()
        self.callbacks = callback_worker(settings, self.sessions, self.callback_poster)
        self.metrics = Metrics()
        self.closer = TicketCloser(
            self.sessions, data_dir=settings.data_dir, action=settings.closed_ticket_action,
            retention_days=settings.transcript_retention_days,
        )  # fmt: skip
        self.effects = EffectWorker(
            self.sessions,
            self.tickets.channels,
            callbacks=self.callbacks,
            closing=self.closer,
            on_failure=self.metrics.observe_discord_error,
        )
        self.tickets.effects = self.proof.effects = self.effects
        self.closing = ClosingService(self.sessions, channel_action=settings.closed_ticket_action, effects=self.effects)
        self.escrow = EscrowService(
            self.sessions, callbacks_enabled=settings.callbacks_enabled, effects=self.effects, timer_periods=periods
        )
        self.orders = OrderBook(MarketplaceEscrow(self.escrow), email_proof=self.proof.enabled, timer_periods=periods)
        self.timers = TimerWorker(self.sessions, effects=self.effects)  # reminders and escalations, fired once
        self.processor = EventProcessor(self.sessions, self.orders, self.effects, busy=lambda: self.intake.busy())
        self.intake = EventIntake(self.engine, on_stored=self.processor.wake)
        # The audit chain's head, stated once a day in each log channel (PRODUCT.md §7).
        self.anchors = DailyAnchors(
            self.sessions, official_guild_ids=settings.official_guild_ids, on_written=self.effects.wake
        )
        # Closed tickets' records past TRANSCRIPT_RETENTION_DAYS, purged at start and once a day (PRODUCT.md §5).
        self.purges = DailyPurge(
            Retention(self.sessions, data_dir=settings.data_dir, retention_days=settings.transcript_retention_days)
        )
        self._discord_status = discord_status
        self.processing = True  # this process works the stored events (False: `--receive-only`)
        self._metrics_server: MetricsServer | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._started = False

    async def start(self, *, serve_webhooks: bool = True, process: bool = True) -> None:
        """Migrate and start the workers (and the webhook server); a second call does nothing. Without
        `process` (`guarantor run --receive-only`) only the webhook server and its writer run."""
        if self._started:
            return
        self._started = True
        self.processing = process
        await upgrade(self.engine)
        self.intake.start()
        if process:
            await self.tickets.resume()
            self.processor.start()
            self.effects.start()
            self.anchors.start()
            self.timers.start()
            self.purges.start()
            if self.callbacks is not None:
                self.callbacks.start()
        if serve_webhooks:
            await self._start_webhooks()
            if self.settings.metrics_port is not None:
                self._metrics_server = MetricsServer(
                    self.metrics, self.sessions, self.settings.metrics_host, self.settings.metrics_port
                )
                try:
                    await self._metrics_server.start()
                except OSError as exc:
                    raise PortUnavailable(
                        "METRICS_PORT", self.settings.metrics_host, self.settings.metrics_port, exc
                    ) from exc

    async def _start_webhooks(self) -> None:
        app = create_app(intake=self.intake, verifier=self.verifier, health=self, metrics=self.metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.settings.webhook_host, self.settings.webhook_port)
        try:
            await self._site.start()
        except OSError as exc:
            raise PortUnavailable("WEBHOOK_PORT", self.settings.webhook_host, self.settings.webhook_port, exc) from exc
        log.info("webhook server listening on http://%s:%d", self.settings.webhook_host, self.webhook_port)

    @property
    def webhook_port(self) -> int:
        """The bound port (useful when the setting was 0)."""
        if self._runner is None or not self._runner.addresses:
            return self.settings.webhook_port
        return int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Stop taking requests, let in-flight ones finish, then drain the writer and close the database."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._metrics_server is not None:
            await self._metrics_server.close()
            self._metrics_server = None
        await self.intake.close()
        await self.processor.close()
        await self.timers.close()
        await self.effects.close()
        await self.anchors.close()
        await self.purges.close()
        if self.callbacks is not None:
            await self.callbacks.close()
        await self.callback_poster.close()
        await self.engine.dispose()
        self._started = False

    async def database_ok(self) -> bool:
        """The database answers, and the event writer is alive to store what arrives."""
        if self._started and not self.intake.running:
            log.warning("health check: the event writer is not running")
            return False
        if self.intake.stuck():
            log.warning("health check: the event writer has been stuck on one batch for over %.0f s", STUCK_SECONDS)
            return False
        try:
            async with asyncio.timeout(2):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("database health check failed: %s", exc)
            return False
        return True

    def discord_status(self) -> str:
        return self._discord_status()

    async def backlog(self) -> Backlog:
        """Stored events not processed yet: how many, how old the oldest is, and whether processing stalls."""
        async with self.sessions() as session:
            count, oldest = await event_repo.backlog(session=session)
        age = max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        return Backlog(count, age, stalled=age > PROCESSING_STALL_SECONDS)
