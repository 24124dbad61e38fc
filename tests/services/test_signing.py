"""The incoming signature check, held to the `standardwebhooks` package's own answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot.services.signing import SignatureError, SignatureVerifier, sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"

ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
bodies = st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
offsets = st.integers(min_value=-290, max_value=290)


def library_accepts(secret: str, body: str, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):
        return False
    return True


def ours_accepts(verifier: SignatureVerifier, body: str, headers: dict[str, str]) -> bool:
    try:
        verifier.verify(body, headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"])
    except SignatureError:
        return False
    return True


def signed(secret: str, msg_id: str, body: str, offset: int = 0) -> dict[str, str]:
    when = datetime.fromtimestamp(int(time.time()) + offset, UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body),
    }


@given(msg_id=ids, body=bodies, offset=offsets)
def test_accepts_what_the_package_signs(msg_id: str, body: str, offset: int) -> None:
    headers = signed(SECRET, msg_id, body, offset)
    assert library_accepts(SECRET, body, headers)
    assert ours_accepts(SignatureVerifier([SECRET]), body, headers)
    assert ours_accepts(SignatureVerifier([OTHER, SECRET]), body, headers)  # key rotation
    when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    ours_signed = {**headers, "webhook-signature": sign(SECRET, msg_id, when, body)}  # outgoing signing, same scheme
    assert ours_accepts(SignatureVerifier([SECRET]), body, ours_signed)


@given(msg_id=ids, body=bodies, tampered=st.sampled_from(["id", "body", "timestamp", "secret"]))
def test_refuses_what_the_package_refuses(msg_id: str, body: str, tampered: str) -> None:
    headers = signed(SECRET, msg_id, body)
    if tampered == "id":
        headers["webhook-id"] = msg_id + "x"
    elif tampered == "body":
        body += " "
    elif tampered == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)
    else:
        headers = signed(OTHER, msg_id, body)
    assert not library_accepts(SECRET, body, headers)
    assert not ours_accepts(SignatureVerifier([SECRET]), body, headers)


@given(signature=st.text(max_size=120), timestamp=st.one_of(st.text(max_size=20), st.integers().map(str)))
def test_garbage_headers_are_a_signature_error_and_never_accepted(signature: str, timestamp: str) -> None:
    verifier = SignatureVerifier([SECRET])
    with pytest.raises(SignatureError):
        verifier.verify("{}", "msg_1", timestamp, signature)


def test_several_signatures_in_one_header() -> None:
    body = '{"a":1}'
    good = signed(SECRET, "msg_1", body)
    other = signed(OTHER, "msg_1", body)["webhook-signature"]
    header = f"v2,abc {other} {good['webhook-signature']}"
    assert ours_accepts(SignatureVerifier([SECRET]), body, {**good, "webhook-signature": header})
    assert library_accepts(SECRET, body, {**good, "webhook-signature": header})


@pytest.mark.parametrize("offset, accepted", [(-299, True), (299, True), (-301, False), (301, False), (-86_400, False)])
def test_timestamp_tolerance_is_five_minutes(offset: int, accepted: bool) -> None:
    body = "{}"
    headers = signed(SECRET, "msg_1", body, offset)
    assert ours_accepts(SignatureVerifier([SECRET]), body, headers) is accepted
    assert library_accepts(SECRET, body, headers) is accepted


@pytest.mark.parametrize(
    "timestamp", ["1e9", " 1700000000", "1_700_000_000", "\u0661\u0667" + "\u0660" * 8, "-1", "9" * 13]
)
def test_timestamp_must_be_whole_unix_seconds(timestamp: str) -> None:
    with pytest.raises(SignatureError, match="whole Unix seconds"):
        SignatureVerifier([SECRET]).verify("{}", "msg_1", timestamp, "v1,abc")


def test_bytes_and_text_bodies_verify_alike() -> None:
    body = '{"name":"Zoë"}'
    headers = signed(SECRET, "msg_1", body)
    verifier = SignatureVerifier([SECRET])
    assert ours_accepts(verifier, body, headers)
    verifier.verify(body.encode(), headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"])


def test_empty_or_missing_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        SignatureVerifier([])
    with pytest.raises(ValueError):
        SignatureVerifier(["whsec_"])


def test_a_webhook_id_that_is_not_utf8_is_refused_even_when_signed() -> None:
    # aiohttp decodes header bytes that are not UTF-8 as surrogate escapes ("msg_\\xe9" -> "msg_\\udce9").
    raw_id = b"msg_\xe9"
    when = datetime.fromtimestamp(int(time.time()), UTC)
    body = "{}"
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    timestamp = str(int(when.timestamp()))
    mac = hmac.new(key, raw_id + b"." + timestamp.encode() + b"." + body.encode(), hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(mac).decode()
    with pytest.raises(SignatureError, match="not UTF-8"):
        SignatureVerifier([SECRET]).verify(body, raw_id.decode("utf-8", "surrogateescape"), timestamp, signature)
