"""Handlers: verify, validate, store, answer. Nothing is acknowledged before it is stored."""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from bot.services.events.contract import MAX_BODY_BYTES, NotJsonError, PayloadError, parse_event_json
from bot.services.events.intake import IncomingEvent, StorageUnavailable
from bot.services.signing import SignatureError
from webhooks.keys import HEALTH, INTAKE, VERIFIER

log = logging.getLogger(__name__)

STORE_TIMEOUT_SECONDS = 10.0
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def _problem(status: int, error: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": error, "message": message, **extra}, status=status)


def _is_json(content_type: str | None) -> bool:
    # What `request.content_type` answers, without parsing the parameters on every request.
    return content_type is not None and content_type.partition(";")[0].strip().lower() == "application/json"


def _answer(status: int, word: bytes, webhook_id: str) -> web.Response:
    # Built by hand: this runs for every event, and json.dumps of one string is all it needs.
    body = b'{"status":"%s","webhook_id":%s}' % (word, json.dumps(webhook_id).encode())
    return web.Response(body=body, status=status, content_type="application/json")


async def marketplace(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _problem(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    headers = request.headers
    if not _is_json(headers.get(hdrs.CONTENT_TYPE)):
        return _problem(415, "unsupported_media_type", "send the event as application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _problem(400, "invalid_json", "the body is not UTF-8 JSON")

    webhook_id = headers.get("webhook-id")
    try:
        request.app[VERIFIER].verify(
            raw, webhook_id, headers.get("webhook-timestamp"), headers.get("webhook-signature")
        )
    except SignatureError as exc:
        return _problem(401, "invalid_signature", str(exc))
    assert webhook_id is not None  # verify() checked it

    try:
        event = parse_event_json(body)
    except NotJsonError:
        return _problem(400, "invalid_json", "the body is not valid JSON")
    except PayloadError as exc:
        return _problem(400, "invalid_payload", "the event does not match the schema", fields=exc.fields)
    if len(webhook_id) > 255:
        return _problem(400, "invalid_payload", "webhook-id is longer than 255 characters")

    incoming = IncomingEvent(webhook_id=webhook_id, type=event.type, order_id=event.order_id, body=body)
    try:
        is_new = await request.app[INTAKE].store(incoming, within=STORE_TIMEOUT_SECONDS)
    except StorageUnavailable:
        return _problem(503, "unavailable", "the event could not be stored; retry later", retry_after=5)
    if is_new:
        return _answer(202, b"accepted", webhook_id)
    return _answer(200, b"duplicate", webhook_id)


async def healthz(request: web.Request) -> web.Response:
    """200 while events are taken in (`degraded` when processing stalls behind them); 503 when they cannot be."""
    health = request.app[HEALTH]
    database = await health.database_ok()
    body: dict[str, Any] = {
        "status": "ok" if database else "degraded",
        "database": "ok" if database else "unavailable",
        "discord": health.discord_status(),
    }
    if database:
        try:
            backlog = await health.backlog()
        except Exception as exc:  # never a 500: the answer says what it could not find out
            log.warning("health check: the processing backlog could not be read: %s", type(exc).__name__)
            body |= {"status": "degraded", "backlog": None, "processing": "unknown"}
        else:
            body["backlog"] = {"events": backlog.events, "oldest_seconds": round(backlog.oldest_seconds, 1)}
            body["processing"] = "stalled" if backlog.stalled else "ok"
            if backlog.stalled:
                body["status"] = "degraded"
    return web.json_response(body, status=200 if database else 503)


@cache
def _openapi_document() -> bytes:
    return OPENAPI_PATH.read_bytes()


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(body=_openapi_document(), content_type="application/json")
