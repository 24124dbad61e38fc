"""`create_app`: the aiohttp application for the marketplace webhooks."""

from __future__ import annotations

from aiohttp import web

from bot.metrics import Metrics
from bot.services.events.contract import MAX_BODY_BYTES
from bot.services.events.intake import EventIntake
from bot.services.signing import SignatureVerifier
from webhooks import handlers
from webhooks.keys import HEALTH, INTAKE, VERIFIER, HealthProbe

WEBHOOK_PATH = "/webhooks/marketplace"


def create_app(
    *, intake: EventIntake, verifier: SignatureVerifier, health: HealthProbe, metrics: Metrics | None = None
) -> web.Application:
    # One byte over the limit is enough to know the body is too large (413).
    middlewares = [metrics.middleware()] if metrics is not None else []
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1, middlewares=middlewares)
    app[INTAKE] = intake
    app[VERIFIER] = verifier
    app[HEALTH] = health
    app.router.add_post(WEBHOOK_PATH, handlers.marketplace)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/openapi.json", handlers.openapi)
    return app
