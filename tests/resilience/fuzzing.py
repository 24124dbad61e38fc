"""Hypothesis strategies for odd webhook requests, and a way to drive them from a thread.

`examples()` reads `HYPOTHESIS_PROFILE` (`resilience`, the default, is sized for the normal
suite; `ci-long` runs thousands of examples). Seeds are random unless pytest's
`--hypothesis-seed` fixes one.
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.webhooks.events import dumps, event, signed_headers, terms

settings.register_profile(
    "resilience", max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
settings.register_profile(
    "ci-long", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def examples() -> settings:
    name = os.environ.get("HYPOTHESIS_PROFILE", "resilience")
    try:
        return settings(settings.get_profile(name))
    except Exception:  # another suite's profile name: fall back to ours
        return settings(settings.get_profile("resilience"))


STRANGE_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ud800", "\udfff", "\u202e", "💥" * 40, "null", "NaN", "0", "-1", "1e309", "é" * 300]
)
TEXT = st.one_of(st.text(max_size=40), STRANGE_TEXT, st.text(min_size=2000, max_size=5000))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), TEXT, st.just(10**400)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
TYPES = st.sampled_from(
    ["order.agreed", "order.updated", "order.delivered", "order.completed", "order.cancelled", "order.unknown"]
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    copy = dict(document)
    if len(path) == 1 and delete:
        copy.pop(path[0], None)
    else:
        copy[path[0]] = _replace(copy[path[0]], path[1:], value, delete)
    return copy


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    order_id = draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
    kind = draw(TYPES)
    if kind in ("order.agreed", "order.updated"):
        return event(kind, terms(order_id))
    data = {"order_id": order_id, "delivered_at": "2026-11-25T10:00:00Z", "completed_at": "2026-11-25T10:00:00Z"}
    return event(kind, data)


@st.composite
def mutated_events(draw: st.DrawFn) -> str:
    """A valid event with one field replaced by a value of another type, or removed."""
    document = draw(valid_events())
    path = draw(st.sampled_from(_paths(document)))
    mutated = _replace(document, path, draw(JSON), delete=draw(st.booleans()))
    return json.dumps(mutated, separators=(",", ":"))  # NaN / Infinity come out as bare literals


@st.composite
def odd_json_texts(draw: st.DrawFn) -> str:
    base = dumps(draw(valid_events()))
    shape = draw(st.integers(0, 6))
    if shape == 0:  # deep nesting inside an otherwise valid event
        depth = draw(st.integers(1, 30_000))
        return base[:-1] + ',"x":' + "[" * depth + "]" * depth + "}"
    if shape == 1:  # duplicate keys: the later one wins in Python's json
        return base[:-1] + ',"type":' + json.dumps(draw(st.one_of(TYPES, TEXT))) + "}"
    if shape == 2:  # non-standard literals
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "0x10", "'a'", "undefined"]))
        return base.replace('"120.50"', literal)
    if shape == 3:  # truncated
        return base[: draw(st.integers(0, len(base) - 1))]
    if shape == 4:  # escapes that decode to what databases dislike
        escape = draw(st.sampled_from(["\\u0000", "\\ud800", "\\udfff", "\\ud83d\\udca5", "\\u202e"]))
        target = draw(st.sampled_from(['"order_id":"', '"type":"', '"deliverables":"', '"currency":"']))
        return base.replace(target, target + escape, 1)
    if shape == 5:  # around the size limit
        return base[:-1] + ',"pad":"' + "p" * draw(st.integers(60_000, 70_000)) + '"}'
    return json.dumps(draw(JSON))


BODIES = st.one_of(
    mutated_events(),
    odd_json_texts(),
    st.builds(lambda d: dumps(d), valid_events()),
    st.binary(max_size=300),
    st.builds(lambda t: t.encode("utf-8", "surrogatepass"), st.text(max_size=50)),
)

HEADER_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " _-.,=/+:;", max_size=40)
TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=20)
# A few ids every run draws from again and again: re-deliveries, with the same or another body.
SHARED_IDS = st.sampled_from([f"msg_shared_{n}" for n in range(8)])


@dataclass
class Request:
    body: bytes
    headers: dict[str, str]
    signed: bool  # correctly signed with the test secret
    webhook_id: str | None


@st.composite
def requests(draw: st.DrawFn) -> Request:
    body = draw(BODIES)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    fresh = st.uuids().map(lambda u: f"msg_{u.hex}")
    webhook_id = draw(st.one_of(fresh, SHARED_IDS, TOKEN.map(lambda t: f"{t}_" * 20)))  # some over 255 chars
    # Not UTF-8 (lone surrogates, random bytes): sign what a lenient sender would; it is a 400 anyway.
    text = raw.decode("utf-8", "replace")
    mode = draw(st.sampled_from(["signed", "signed", "signed", "unsigned", "wrong_secret", "stale", "garbage"]))
    headers: dict[str, str] = {"content-type": "application/json"}
    if mode in ("signed", "stale"):
        when = datetime.now(UTC) - (timedelta(hours=2) if mode == "stale" else timedelta(0))
        headers = signed_headers(text, msg_id=webhook_id, when=when)
    elif mode == "wrong_secret":
        headers = signed_headers(text, msg_id=webhook_id, secret="whsec_" + "QUJD" * 8)
    elif mode == "garbage":
        headers |= {
            "webhook-id": webhook_id,
            "webhook-timestamp": draw(st.one_of(HEADER_TEXT, st.integers().map(str), st.just("1" * 40))),
            "webhook-signature": draw(st.one_of(HEADER_TEXT, st.just("v1,"), st.just("v1,!!!"), st.just("v1a,abc"))),
        }
    headers["content-type"] = draw(
        st.sampled_from(["application/json"] * 8 + ["application/json; charset=utf-8", "text/plain", "", "a/b"])
    )
    for name, value in draw(st.dictionaries(TOKEN.map(lambda t: f"x-{t}"), HEADER_TEXT, max_size=3)).items():
        headers[name] = value
    return Request(raw, headers, mode == "signed" and text.encode() == raw, webhook_id)
