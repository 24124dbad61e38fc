"""Standard Webhooks signatures, in and out.

Outgoing messages are signed by the `standardwebhooks` package. Incoming ones are checked
here with the standard library: the package's `verify` re-parses the timestamp into
datetimes, re-signs through string formatting and base64 round trips, and costs more than
twice this on every request of the webhook's hot path. `tests/services/test_signing.py`
holds this check to the package's own answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook

TOLERANCE_SECONDS = 5 * 60
_SECRET_PREFIX = "whsec_"
_MAX_TIMESTAMP_DIGITS = 12


class SignatureError(Exception):
    """Missing, malformed, wrong or stale signature."""


def _secret_key(secret: str) -> bytes:
    # As the package reads secrets: an optional "whsec_" prefix, base64 with or without padding.
    key = base64.b64decode(secret.removeprefix(_SECRET_PREFIX) + "==")
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


class SignatureVerifier:
    """Accepts a message signed with any of the configured secrets (key rotation)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._keys = [_secret_key(secret) for secret in secrets]
        if not self._keys:
            raise ValueError("at least one secret is required")

    def verify(self, body: str | bytes, webhook_id: str | None, timestamp: str | None, signature: str | None) -> None:
        if not (webhook_id and timestamp and signature):
            raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
            raise SignatureError("webhook-timestamp must be whole Unix seconds")
        age = time.time() - int(timestamp)
        if age > TOLERANCE_SECONDS:
            raise SignatureError("message timestamp too old")
        if age < -TOLERANCE_SECONDS:
            raise SignatureError("message timestamp too new")

        try:
            # Stored and echoed back: it must be text. (aiohttp hands over bytes that are not UTF-8
            # as surrogate escapes, which a database refuses: a 503 for every event of the batch.)
            msg_id = webhook_id.encode("utf-8")
        except UnicodeEncodeError:
            raise SignatureError("malformed webhook-id header: not UTF-8") from None
        signed = b"%s.%s.%s" % (
            msg_id,
            timestamp.encode(),
            body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape"),
        )
        offered = [
            value.encode("utf-8", "surrogateescape")  # only compared: the exact bytes sent
            for version, _, value in (part.partition(",") for part in signature.split(" "))
            if version == "v1" and value
        ]
        if not offered:
            raise SignatureError("malformed webhook-signature header: no v1 signature")
        for key in self._keys:
            expected = base64.b64encode(hmac.digest(key, signed, hashlib.sha256))
            # Every offered signature is compared, so the time taken does not tell which one matched.
            if sum(hmac.compare_digest(expected, value) for value in offered):
                return
        raise SignatureError("no matching signature")


def sign(secret: str, webhook_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header value for an outgoing message."""
    return Webhook(secret).sign(webhook_id, timestamp, body)
