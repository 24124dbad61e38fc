"""The published contract: an OpenAPI 3.1 document built from the same pydantic models
that validate requests, so it cannot drift. `python -m webhooks.openapi` rewrites
`webhooks/openapi.json`; a test fails when the committed copy is stale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.services.events.contract import (
    MAX_BODY_BYTES,
    CancelledData,
    CompletedData,
    DeliveredData,
    Envelope,
    TermsData,
)

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
_REF = "#/components/schemas/{model}"
_SIGNATURE_HEADERS = {
    "webhook-id": "Unique message id; a repeated id is a duplicate (answered 200, no second effect).",
    "webhook-timestamp": "Unix seconds; rejected when more than 5 minutes from the server's clock.",
    "webhook-signature": 'Space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>" signatures.',
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }


def build() -> dict[str, Any]:
    models: list[type[BaseModel]] = [Envelope, TermsData, DeliveredData, CompletedData, CancelledData]
    _, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas = definitions["$defs"]
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "fields": {
                "type": "array",
                "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
            },
        },
    }
    data_by_type = {
        "order.agreed": "TermsData",
        "order.updated": "TermsData",
        "order.delivered": "DeliveredData",
        "order.completed": "CompletedData",
        "order.cancelled": "CancelledData",
    }
    accepted = {"type": "object", "properties": {"status": {"type": "string"}, "webhook_id": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Guarantor marketplace webhooks",
            "version": "1.0.0",
            "description": "Order events from OpenTaskAI, signed per the Standard Webhooks specification. "
            "The body is verified over its raw bytes. `data` is validated by `type`: "
            + ", ".join(f"`{t}` → {m}" for t, m in data_by_type.items())
            + "; unknown types are stored and answered 202 with no effect.",
        },
        "paths": {
            "/webhooks/marketplace": {
                "post": {
                    "operationId": "receiveMarketplaceEvent",
                    "parameters": [
                        {
                            "name": name,
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": text,
                        }
                        for name, text in _SIGNATURE_HEADERS.items()
                    ],
                    "requestBody": {
                        "required": True,
                        "description": f"At most {MAX_BODY_BYTES} bytes.",
                        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Envelope")}}},
                    },
                    "responses": {
                        "202": {
                            "description": "New event stored durably.",
                            "content": {"application/json": {"schema": accepted}},
                        },
                        "200": {
                            "description": "Duplicate webhook-id; nothing done twice.",
                            "content": {"application/json": {"schema": accepted}},
                        },
                        "400": _error("Body is not JSON or fails the schema; `fields` names each bad field."),
                        "401": _error("Missing, malformed, wrong or stale signature."),
                        "413": _error(f"Body over {MAX_BODY_BYTES} bytes."),
                        "415": _error("Content type is not application/json."),
                        "503": _error("Database unavailable; retry later."),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "responses": {
                        "200": {"description": "Database reachable; `discord` tells the bot's status."},
                        "503": {"description": "Database unavailable."},
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OPENAPI_FILE.write_text(render())
    print(f"wrote {OPENAPI_FILE}")
