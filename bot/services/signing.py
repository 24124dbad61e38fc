"""Standard Webhooks signatures, in and out, with the `standardwebhooks` package."""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class SignatureError(Exception):
    """Missing, malformed, wrong or stale signature."""


class SignatureVerifier:
    """Accepts a message signed with any of the configured secrets (key rotation)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._webhooks = [Webhook(secret) for secret in secrets]
        if not self._webhooks:
            raise ValueError("at least one secret is required")

    def verify(self, body: str, webhook_id: str | None, timestamp: str | None, signature: str | None) -> None:
        if not (webhook_id and timestamp and signature):
            raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
        headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
        problem = "no matching signature"
        for webhook in self._webhooks:
            try:
                webhook.verify(body, headers, json_parse=False)
                return
            except WebhookVerificationError as exc:
                problem = str(exc)
            # The package raises plain ValueError / binascii.Error on malformed signature headers.
            except (ValueError, binascii.Error):
                raise SignatureError("malformed webhook-signature header") from None
        raise SignatureError(problem)


def sign(secret: str, webhook_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header value for an outgoing message."""
    return Webhook(secret).sign(webhook_id, timestamp, body)
