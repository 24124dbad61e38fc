"""Records what the bot answers to each interaction, by standing in for Discord's webhook API.

discord.py sends interaction responses, followups and edits of the original response through
`AsyncWebhookAdapter.request`; `Recorder.request` replaces it, keeps one `InteractionResult` per
interaction token and answers with the bodies Discord would send.
"""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from typing import Any

import discord
from discord.ext.test import backend, factories

from tests.harness._faults import Faults
from tests.harness._server import edit_stored_message, post_message

JsonDict = dict[str, Any]
EPHEMERAL = 64


@dataclass
class Reply:
    """One message the bot produced for an interaction (initial response, followup or edit)."""

    data: JsonDict
    ephemeral: bool

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def content(self) -> str:
        return self.data.get("content") or ""

    @property
    def embeds(self) -> list[discord.Embed]:
        return [discord.Embed.from_dict(e) for e in self.data.get("embeds") or []]

    @property
    def components(self) -> list[JsonDict]:
        return self.data.get("components") or []

    @property
    def custom_ids(self) -> list[str]:
        return list(_custom_ids(self.components))


def _custom_ids(components: list[JsonDict]) -> Any:
    for component in components:
        if component.get("custom_id"):
            yield component["custom_id"]
        yield from _custom_ids(component.get("components") or [])
        if component.get("component"):
            yield from _custom_ids([component["component"]])
        if component.get("accessory"):
            yield from _custom_ids([component["accessory"]])


@dataclass
class InteractionResult:
    """Everything the bot did in answer to one interaction."""

    id: int
    token: str
    channel: Any
    source_message: JsonDict | None = None
    response_type: int | None = None
    response: JsonDict | None = None
    original: Reply | None = None
    deferred: bool = False
    followups: list[Reply] = field(default_factory=list)
    edits: list[JsonDict] = field(default_factory=list)
    deleted_original: bool = False
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    dispatched_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    ack_seconds: float | None = None

    async def wait(self) -> InteractionResult:
        """Wait (at most 5 s) until every task discord.py started for this interaction has finished."""
        async with asyncio.timeout(5):
            while pending := [t for t in self.tasks if not t.done()]:
                await asyncio.gather(*pending, return_exceptions=True)
        return self

    def acknowledged_within(self, seconds: float = 3.0) -> bool:
        """Whether the first response came in time (Discord drops interactions not answered in 3 s)."""
        return self.ack_seconds is not None and self.ack_seconds <= seconds

    @property
    def responded(self) -> bool:
        return self.response_type is not None

    @property
    def ephemeral(self) -> bool:
        flags = int((self.response or {}).get("flags") or 0)
        return bool(flags & EPHEMERAL) or (self.original is not None and self.original.ephemeral)

    @property
    def message(self) -> Reply | None:
        """The response message as it stands now (after any edits), else the last followup."""
        return self.original or (self.followups[-1] if self.followups else None)

    @property
    def content(self) -> str:
        return self.message.content if self.message else ""

    @property
    def embeds(self) -> list[discord.Embed]:
        return self.message.embeds if self.message else []

    @property
    def components(self) -> list[JsonDict]:
        return self.message.components if self.message else []

    @property
    def modal(self) -> JsonDict | None:
        """The modal shown (`custom_id`, `title`, `components`), if the response was one."""
        return self.response if self.response_type == 9 else None

    @property
    def choices(self) -> list[JsonDict]:
        """Autocomplete choices (`{"name", "value"}`), if the response was one."""
        return (self.response or {}).get("choices", []) if self.response_type == 8 else []

    @property
    def texts(self) -> list[str]:
        """Content of the original response and all followups, in order."""
        return [r.content for r in ([self.original] if self.original else []) + self.followups]


def _payload(payload: JsonDict | None, multipart: list[JsonDict] | None) -> JsonDict:
    if payload is not None:
        return payload
    for part in multipart or []:
        if part.get("name") == "payload_json":
            return json.loads(part["value"])
    return {}


class Recorder:
    """Fake Discord side of interaction webhooks; `results[token]` per interaction."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.results: dict[str, InteractionResult] = {}

    def expect(self, result: InteractionResult) -> None:
        self.results[result.token] = result

    async def request(self, route: Any, session: Any = None, *, payload: JsonDict | None = None, **kwargs: Any):
        """Answer like Discord, with a fresh copy of the body (discord.py pops parts of what it parses)."""
        return copy.deepcopy(await self._answer(route, payload, kwargs))

    async def _answer(self, route: Any, payload: JsonDict | None, kwargs: dict[str, Any]) -> Any:
        await self.faults.gate((route.method, route.path))
        body = _payload(payload, kwargs.get("multipart"))
        result = self.results.get(route.webhook_token)
        if result is None:
            raise discord.NotFound(_Gone(), {"code": 10015, "message": "Unknown Webhook"})  # type: ignore[arg-type]
        if route.path.endswith("/callback"):
            if result.responded:
                raise discord.HTTPException(
                    _Gone(400), {"code": 40060, "message": "Interaction has already been acknowledged."}
                )
            return self._callback(result, body)
        message_id = route.url.rsplit("/messages/", 1)[1] if "/messages/" in route.url else None
        if route.method == "POST":
            reply = self._post(result, body)
            result.followups.append(reply)
            return reply.data
        if message_id == "@original":
            return self._original(result, route.method, body)
        return self._followup_message(result, route.method, int(message_id or 0), body)

    def _callback(self, result: InteractionResult, body: JsonDict) -> JsonDict:
        kind, data = int(body["type"]), body.get("data") or {}
        result.ack_seconds = asyncio.get_running_loop().time() - result.dispatched_at
        result.response_type, result.response = kind, data
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        message = None
        if kind == 4:
            result.original = self._post(result, data)
            message = result.original.data
        elif kind in (5, 6):
            result.deferred = True
        elif kind == 7 and result.source_message is not None:
            message = self._edit(result.source_message, data)
            # the message the interaction came from, as it now reads, is this response's message
            result.original = Reply(message, bool(int(message.get("flags") or 0) & EPHEMERAL))
        interaction = {
            "id": str(result.id),
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": ephemeral,
        }
        if message is not None:
            interaction["response_message_id"] = str(message["id"])
        resource: JsonDict = {"type": kind}
        if message is not None:
            resource["message"] = message
        return {"interaction": interaction, "resource": resource}

    def _post(self, result: InteractionResult, data: JsonDict) -> Reply:
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if ephemeral:
            message = factories.make_message_dict(result.channel, backend.get_state().user, content=data.get("content"))
            message.update(
                channel_id=result.channel.id,
                embeds=data.get("embeds") or [],
                components=data.get("components") or [],
                flags=int(data.get("flags") or 0),
            )
        else:
            message = post_message(result.channel, backend.get_state().user, data)
        return Reply(message, ephemeral)

    def _edit(self, message: JsonDict, data: JsonDict) -> JsonDict:
        channel_id = int(message["channel_id"])
        if any(int(m["id"]) == int(message["id"]) for m in backend._cur_config.messages.get(channel_id, [])):
            return edit_stored_message(channel_id, int(message["id"]), data)
        message.update({k: v for k, v in data.items() if k in {"content", "embeds", "components"} and v is not None})
        return message

    def _original(self, result: InteractionResult, method: str, body: JsonDict) -> JsonDict | None:
        if method == "PATCH":
            result.edits.append(body)
            if result.original is None and result.response_type == 5:
                flags = int((result.response or {}).get("flags") or 0)
                result.original = self._post(result, {**body, "flags": flags | int(body.get("flags") or 0)})
                return result.original.data
            target = result.original.data if result.original else result.source_message
            if target is None:
                raise discord.NotFound(_Gone(), {"code": 10008, "message": "Unknown Message"})  # type: ignore[arg-type]
            return self._edit(target, body)
        if result.original is None:
            raise discord.NotFound(_Gone(), {"code": 10008, "message": "Unknown Message"})  # type: ignore[arg-type]
        if method == "DELETE":
            result.deleted_original = True
            return None
        return result.original.data

    def _followup_message(self, result: InteractionResult, method: str, message_id: int, body: JsonDict) -> Any:
        for reply in result.followups:
            if reply.id == message_id:
                if method == "PATCH":
                    reply.data = self._edit(reply.data, body)
                return None if method == "DELETE" else reply.data
        raise discord.NotFound(_Gone(), {"code": 10008, "message": "Unknown Message"})  # type: ignore[arg-type]


class _Gone:
    def __init__(self, status: int = 404) -> None:
        self.status = status
        self.reason = "Not Found" if status == 404 else "Bad Request"
