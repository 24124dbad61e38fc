"""Prometheus metrics (PRODUCT.md §8) on `METRICS_HOST:METRICS_PORT`, with `prometheus-client`.

Two kinds. What happens in this process is counted where it happens, by the adapters: webhook
requests and their latency (a middleware of the webhook app), interaction acknowledgements, Discord
API errors (`observe_discord_error`). What the database knows — events by status and the age of the
oldest unprocessed one, tickets by state, escrow transitions by action, callbacks pending and failing,
Discord effects waiting, timers fired — is read from it, so every process (receivers, the worker)
reports the same cluster-wide truth; those reads are cached for a few seconds, a scrape never waits
on a slow query. docs/OPERATIONS.md lists the metrics and alert rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repos import stats as stats_repo

log = logging.getLogger(__name__)

STATS_MAX_AGE_SECONDS = 5.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)


@dataclass
class Snapshot:
    """What the database says, as of `taken` (monotonic seconds)."""

    taken: float = float("-inf")
    events: dict[str, int] = field(default_factory=dict)
    oldest_unprocessed_seconds: float = 0.0
    tickets: dict[str, int] = field(default_factory=dict)
    transitions: dict[str, int] = field(default_factory=dict)
    callbacks_pending: int = 0
    callbacks_failing: int = 0
    effects: dict[str, int] = field(default_factory=dict)
    timers_fired: dict[str, int] = field(default_factory=dict)


class DatabaseCollector(Collector):
    """The database's numbers, from the last snapshot `refresh` took (scrapes are synchronous)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield _by("gauge", "guarantor_events", "Stored marketplace events by status.", "status", s.events)
        processed = CounterMetricFamily("guarantor_events_processed", "Stored events processed (rate = events/s).")
        processed.add_metric([], s.events.get("processed", 0) + s.events.get("ignored", 0))
        yield processed
        yield GaugeMetricFamily(
            "guarantor_oldest_unprocessed_event_seconds",
            "How long the oldest stored event not processed yet has waited.",
            value=s.oldest_unprocessed_seconds,
        )
        yield _by("gauge", "guarantor_tickets", "Tickets by state.", "state", s.tickets)
        yield _by(
            "counter", "guarantor_escrow_transitions", "Escrow actions recorded in the audit chain, by action.",
            "action", s.transitions,
        )  # fmt: skip
        # `failing`: pending, and their last attempt failed
        callbacks = {"pending": s.callbacks_pending, "failing": s.callbacks_failing}
        yield _by("gauge", "guarantor_callbacks", "Callbacks to the marketplace not delivered yet.", "state", callbacks)
        yield _by(
            "gauge", "guarantor_discord_effects", "Discord effects in the outbox, by status.", "status", s.effects
        )
        yield _by("counter", "guarantor_timers_fired", "Timers that fired, by kind.", "kind", s.timers_fired)

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            self.snapshot = Snapshot(time.monotonic(), **(await stats_repo.read(session=session)))


def _by(kind: str, name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
    """One family of `counts` by `label` (sorted, so scrapes read the same)."""
    family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


class Metrics:
    """This process's metrics, in a registry of its own (tests start many runtimes in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_requests = Counter(
            "guarantor_webhook_requests", "Marketplace webhook requests answered, by status.", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.webhook_latency = Histogram(
            "guarantor_webhook_request_seconds", "Time to answer a marketplace webhook request.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.discord_errors = Counter(
            "guarantor_discord_api_errors", "Discord API calls that failed, by HTTP status.", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.interaction_ack = Histogram(
            "guarantor_interaction_ack_seconds",
            "From an interaction's creation to its first answer (Discord's limit: 3 s).",
            buckets=ACK_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.database = DatabaseCollector()
        self.registry.register(self.database)

    def observe_discord_error(self, exc: BaseException) -> None:
        """A Discord call failed: count it by its HTTP status (failures that are not Discord's are not counted)."""
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            self.discord_errors.labels(str(status)).inc()

    def middleware(self) -> Middleware:
        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                self._count(request, exc.status, started)
                raise
            self._count(request, response.status, started)
            return response

        return measure

    def _count(self, request: web.Request, status: int, started: float) -> None:
        if request.path.startswith("/webhooks/"):
            self.webhook_requests.labels(str(status)).inc()
            self.webhook_latency.observe(time.perf_counter() - started)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MetricsServer:
    """`GET /metrics` on its own host and port; the database numbers are refreshed when a scrape finds
    them older than `STATS_MAX_AGE_SECONDS`."""

    def __init__(self, metrics: Metrics, sessions: async_sessionmaker[AsyncSession], host: str, port: int) -> None:
        self._metrics, self._sessions, self._host, self._port = metrics, sessions, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("metrics at http://%s:%d/metrics", self._host, self.port)

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, _request: web.Request) -> web.Response:
        if time.monotonic() - self._metrics.database.snapshot.taken > STATS_MAX_AGE_SECONDS:
            try:
                await self._metrics.database.refresh(self._sessions)
            except Exception:
                log.warning("metrics: could not read the database's numbers; serving the last ones", exc_info=True)
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
