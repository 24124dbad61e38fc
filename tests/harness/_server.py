"""The fake Discord REST API: dpytest's `FakeHttp` with the routes the project uses rewritten.

dpytest's own methods find their objects by reading the caller's frame locals, which breaks as
soon as anything sits between discord.py and them. The routes below look objects up by id
instead, keep message components and `channel_id`, enforce the permissions Discord enforces,
and pass through `Faults.gate` so a test can script failures and latency per route. Users and
members come from `People` (the Discord side). Like Discord's JSON, every answer is a fresh copy:
discord.py pops parts of the payloads it parses.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from typing import Any

import discord
from discord.ext.test import backend, factories

from tests.harness import _faults as routes
from tests.harness._faults import Faults, http_error
from tests.harness._people import People

JsonDict = dict[str, Any]
CATEGORY_LIMIT = 50
USER_MENTION = re.compile(r"<@!?([0-9]{15,21})>")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class HarnessHttp(backend.FakeHttp):
    """Installed on the configured bot by `_dpytest_fixes.configure`; state lives on the instance.

    Users and members come from `people` (the Discord side), never from the bot's member cache,
    which holds only the bot itself under the default intents.
    """

    faults: Faults
    people: People
    dm_channels: dict[int, int]

    # ---- lookups -------------------------------------------------------------------------
    def _messages(self, channel_id: int) -> list[JsonDict]:
        return backend._cur_config.messages.setdefault(int(channel_id), [])

    def _guild(self, guild_id: int) -> discord.Guild:
        guild = self.state._get_guild(int(guild_id))
        if guild is None:
            raise http_error(404, 10004, "Unknown Guild")
        return guild

    def _channel(self, channel_id: int) -> Any:
        channel_id = int(channel_id)
        for guild in self.state.guilds:
            channel = guild.get_channel(channel_id)
            if channel is not None:
                return channel
        channel = self.state._get_private_channel(channel_id)
        if channel is None:
            raise http_error(404, 10003, "Unknown Channel")
        return channel

    def _require(self, guild: discord.Guild, channel: Any, permission: str) -> None:
        perms = channel.permissions_for(guild.me) if channel is not None else guild.me.guild_permissions
        if not (getattr(perms, permission) or perms.administrator):
            raise http_error(403, 50013, "Missing Permissions")

    # ---- channels ------------------------------------------------------------------------
    async def create_channel(self, guild_id: int, channel_type: int, *, reason: str | None = None, **options: Any):
        await self.faults.gate(routes.CREATE_CHANNEL)
        guild = self._guild(guild_id)
        self._require(guild, None, "manage_channels")
        parent = guild.get_channel(int(options["parent_id"])) if options.get("parent_id") else None
        if parent is not None and len(parent.channels) >= CATEGORY_LIMIT:
            raise http_error(400, 50035, "Invalid Form Body: Maximum number of channels in category reached (50)")
        keys = ("name", "topic", "parent_id", "permission_overwrites", "nsfw", "rate_limit_per_user")
        data = factories.make_channel_dict(
            int(channel_type),
            guild_id=guild.id,
            position=options.get("position") or len(guild.channels) + 1,
            **{k: options[k] for k in keys if options.get(k) is not None},
        )
        data.setdefault("permission_overwrites", [])
        self.state.parse_channel_create(data)
        return data

    async def edit_channel(self, channel_id: int, *, reason: str | None = None, **options: Any):
        await self.faults.gate(routes.EDIT_CHANNEL)
        channel = self._channel(channel_id)
        self._require(channel.guild, channel, "manage_channels")
        data = factories.dict_from_channel(channel)
        data["type"] = channel.type.value
        data.update({k: v for k, v in options.items() if k in {"name", "topic", "parent_id", "position", "nsfw"}})
        if "permission_overwrites" in options:
            data["permission_overwrites"] = options["permission_overwrites"]
        self.state.parse_channel_update(data)
        return data

    async def delete_channel(self, channel_id: int, *, reason: str | None = None) -> JsonDict:
        await self.faults.gate(routes.DELETE_CHANNEL)
        channel = self._channel(channel_id)
        self._require(channel.guild, channel, "manage_channels")
        return delete_channel(channel)

    # ---- guilds --------------------------------------------------------------------------
    async def leave_guild(self, guild_id: int) -> None:
        """The bot leaves: Discord then sends GUILD_DELETE, and the guild is gone from the bot's cache."""
        await self.faults.gate(routes.LEAVE_GUILD)
        self._guild(guild_id)
        self.people.left_guilds.append(int(guild_id))
        self.state.parse_guild_delete({"id": str(guild_id)})  # type: ignore[arg-type]

    async def get_channel(self, channel_id: int) -> JsonDict:
        await self.faults.gate(routes.GET_CHANNEL)
        data = factories.dict_from_channel(self._channel(channel_id))
        data["type"] = int(data["type"].value)
        return data

    async def edit_channel_permissions(
        self, channel_id: int, target: int, allow: str, deny: str, type: int, *, reason: str | None = None
    ) -> None:
        await self.faults.gate(routes.EDIT_PERMISSIONS)
        channel = self._channel(channel_id)
        self._require(channel.guild, channel, "manage_roles")
        overwrite = {"id": int(target), "allow": str(allow), "deny": str(deny), "type": int(type)}
        _replace_overwrite(channel, int(target), overwrite)

    async def delete_channel_permissions(self, channel_id: int, target: int, *, reason: str | None = None) -> None:
        await self.faults.gate(routes.DELETE_PERMISSIONS)
        channel = self._channel(channel_id)
        self._require(channel.guild, channel, "manage_roles")
        _replace_overwrite(channel, int(target), None)

    # ---- messages ------------------------------------------------------------------------
    async def send_message(self, channel_id: int, *, params: Any) -> JsonDict:
        await self.faults.gate(routes.SEND_MESSAGE)
        channel = self._channel(channel_id)
        if isinstance(channel, discord.DMChannel):
            if channel.recipient is not None and channel.recipient.id in self.people.closed_dms:
                raise http_error(403, 50007, "Cannot send messages to this user")
        else:
            self._require(channel.guild, channel, "send_messages")
        data = post_message(channel, self.state.user, payload_of(params), files=params.files)
        message = self.state._get_message(data["id"])
        if message is not None:
            await backend.callbacks.dispatch_event("send_message", message)
        return copy.deepcopy(data)

    async def edit_message(self, channel_id: int, message_id: int, *, params: Any) -> JsonDict:
        await self.faults.gate(routes.EDIT_MESSAGE)
        self._channel(channel_id)
        return copy.deepcopy(edit_stored_message(int(channel_id), int(message_id), params.payload or {}))

    async def delete_message(self, channel_id: int, message_id: int, *, reason: str | None = None) -> None:
        await self.faults.gate(routes.DELETE_MESSAGE)
        channel = self._channel(channel_id)
        data = _find_message(int(channel_id), int(message_id))
        self._messages(channel_id).remove(data)
        payload = {"id": int(message_id), "channel_id": int(channel_id)}
        if getattr(channel, "guild", None) is not None:
            payload["guild_id"] = channel.guild.id
        self.state.parse_message_delete(payload)

    async def get_message(self, channel_id: int, message_id: int) -> JsonDict:
        await self.faults.gate(routes.GET_MESSAGE)
        self._channel(channel_id)
        return copy.deepcopy(_find_message(int(channel_id), int(message_id)))

    async def logs_from(
        self, channel_id: int, limit: int, before: int | None = None, after: int | None = None, around: Any = None
    ) -> list[JsonDict]:
        """Like Discord: at most `limit` (1-100) messages, newest first; with `after`, the ones right after it."""
        await self.faults.gate(routes.HISTORY)
        self._channel(channel_id)
        limit = max(1, min(int(limit), 100))
        messages = sorted(self._messages(channel_id), key=lambda m: int(m["id"]))
        if after is not None:
            # The `limit` messages just after `after`, still newest first: discord.py's oldest-first
            # history takes the page's first (newest) id as the next `after` and reverses the page.
            page = list(reversed([m for m in messages if int(m["id"]) > int(after)][:limit]))
        else:
            if before is not None:
                messages = [m for m in messages if int(m["id"]) < int(before)]
            page = list(reversed(messages))[:limit]
        return copy.deepcopy(page)  # only the page is copied: a long channel is read page by page

    async def pin_message(self, channel_id: int, message_id: int, reason: str | None = None) -> None:
        """Like Discord: needs Pin Messages (or Manage Messages); pinning a pinned message again changes nothing.
        (Discord also posts a "pinned a message" system message; the fake leaves it out, so a ticket's messages
        are the bot's own.)"""
        await self.faults.gate(routes.PIN_MESSAGE)
        channel = self._channel(channel_id)
        perms = channel.permissions_for(channel.guild.me)
        if not (perms.pin_messages or perms.manage_messages or perms.administrator):
            raise http_error(403, 50013, "Missing Permissions")
        data = _find_message(int(channel_id), int(message_id))
        if data.get("pinned"):
            return
        data["pinned"] = True
        self.state.parse_message_update(copy.deepcopy(data))

    async def pins_from(self, channel_id: int, limit: int | None = None, before: str | None = None) -> JsonDict:
        """The pinned messages, newest pin first, in Discord's current shape (`items` of `{pinned_at, message}`)."""
        await self.faults.gate(routes.PINS)
        self._channel(channel_id)
        pinned = [m for m in reversed(self._messages(channel_id)) if m.get("pinned")]
        items = [{"pinned_at": now_iso(), "message": copy.deepcopy(m)} for m in pinned[: limit or 50]]
        return {"items": items, "has_more": False}

    async def start_private_message(self, user_id: int) -> JsonDict:
        await self.faults.gate(routes.OPEN_DM)
        user = self.people.user(int(user_id))
        if user is None:
            raise http_error(400, 50033, "Invalid Recipients")
        channel_id = self.dm_channels.setdefault(int(user_id), factories.make_id())
        return {"id": channel_id, "type": 1, "recipients": [user]}

    # ---- roles and members ---------------------------------------------------------------
    async def create_role(self, guild_id: int, *, reason: str | None = None, **fields: Any) -> JsonDict:
        await self.faults.gate(routes.CREATE_ROLE)
        guild = self._guild(guild_id)
        self._require(guild, None, "manage_roles")
        return create_role(guild, **fields)

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str | None = None) -> None:
        await self.faults.gate(routes.ADD_ROLE)
        await self._member_roles(guild_id, user_id, add=int(role_id))

    async def remove_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str | None = None) -> None:
        await self.faults.gate(routes.REMOVE_ROLE)
        await self._member_roles(guild_id, user_id, remove=int(role_id))

    async def _member_roles(self, guild_id: int, user_id: int, *, add: int = 0, remove: int = 0) -> None:
        guild = self._guild(guild_id)
        self._require(guild, None, "manage_roles")
        if self.people.member(guild.id, int(user_id)) is None:
            raise http_error(404, 10007, "Unknown Member")
        roles = [r for r in self.people.roles_of(guild.id, int(user_id)) if r != remove] + ([add] if add else [])
        self.people.set_roles(guild.id, int(user_id), roles)
        if int(user_id) == self.state.self_id:
            # Without the members intent Discord still sends the bot its own GUILD_MEMBER_UPDATE.
            self.state.parse_guild_member_update({"guild_id": guild.id, **self.people.member(guild.id, int(user_id))})

    async def get_member(self, guild_id: int, member_id: int) -> JsonDict:
        await self.faults.gate(routes.GET_MEMBER)
        data = self.people.member(self._guild(guild_id).id, int(member_id))
        if data is None:
            raise http_error(404, 10007, "Unknown Member")
        return data

    async def get_user(self, user_id: int) -> JsonDict:
        await self.faults.gate(routes.GET_USER)
        data = self.people.user(int(user_id))
        if data is None:
            raise http_error(404, 10013, "Unknown User")
        return data

    # ---- application commands ------------------------------------------------------------
    async def bulk_upsert_global_commands(self, application_id: int, payload: list[JsonDict]) -> list[JsonDict]:
        return [_command_dict(application_id, command) for command in payload]

    async def bulk_upsert_guild_commands(self, application_id: int, guild_id: int, payload: list[JsonDict]):
        return [_command_dict(application_id, command, guild_id) for command in payload]


def payload_of(params: Any) -> JsonDict:
    """A message's JSON payload as discord.py sends it: as it is, or, with files, the multipart's `payload_json`."""
    if params.payload is not None:
        return dict(params.payload)
    for part in params.multipart or []:
        if part.get("name") == "payload_json":
            return dict(json.loads(part["value"]))
    return {}


def _file_size(file: discord.File) -> int:
    """The bytes a file would upload (its stream is left where it was)."""
    stream = file.fp
    here = stream.tell()
    size = stream.seek(0, 2) - file._original_pos  # type: ignore[attr-defined]
    stream.seek(here)
    return int(size)


def _command_dict(application_id: int, command: JsonDict, guild_id: int | None = None) -> JsonDict:
    data = {"id": factories.make_id(), "application_id": application_id, "version": 1, **command}
    data.setdefault("description", "")
    if guild_id is not None:
        data["guild_id"] = guild_id
    return data


def _find_message(channel_id: int, message_id: int) -> JsonDict:
    for data in backend._cur_config.messages.get(channel_id, []):
        if int(data["id"]) == message_id:
            return data
    raise http_error(404, 10008, "Unknown Message")


def _replace_overwrite(channel: Any, target_id: int, overwrite: JsonDict | None) -> None:
    data = factories.dict_from_channel(channel)
    data["type"] = channel.type.value
    kept = [o for o in data.get("permission_overwrites", []) if int(o["id"]) != target_id]
    data["permission_overwrites"] = kept + ([overwrite] if overwrite else [])
    channel._state.parse_channel_update(data)


def delete_channel(channel: Any) -> JsonDict:
    """Delete a guild channel server-side: the bot gets `on_guild_channel_delete`; children are orphaned."""
    state = channel._state
    for child in getattr(channel, "channels", []):
        data = factories.dict_from_channel(child)
        data["type"] = child.type.value
        data["parent_id"] = None
        state.parse_channel_update(data)
    data = factories.dict_from_channel(channel)
    data["type"] = channel.type.value
    state.parse_channel_delete(data)
    backend._cur_config.messages.pop(channel.id, None)
    return data


def post_message(channel: Any, author: discord.abc.User, payload: JsonDict, *, files: Any = None) -> JsonDict:
    """Store a message the way Discord would echo it back, components and all, and dispatch it."""
    data = factories.make_message_dict(
        channel,
        author,
        content=payload.get("content") or "",
        tts=bool(payload.get("tts")),
        embeds=[discord.Embed.from_dict(e) for e in payload.get("embeds") or []],
    )
    data["mentions"] = user_mentions(payload.get("content"), getattr(channel, "guild", None))
    data["channel_id"] = channel.id
    data["components"] = payload.get("components") or []
    data["flags"] = int(payload.get("flags") or 0)
    data["attachments"] = [
        factories.make_attachment_dict(
            f.filename or "file", _file_size(f), "https://cdn.invalid/" + (f.filename or "file"), ""
        )
        for f in files or []
    ]
    if payload.get("message_reference"):
        data["message_reference"] = payload["message_reference"]
    state = backend.get_state()
    state.parse_message_create(copy.deepcopy(data))  # discord.py pops parts of what it parses
    backend._cur_config.messages.setdefault(channel.id, []).append(data)
    return data


def user_mentions(content: str | None, guild: discord.Guild | None) -> list[JsonDict]:
    """The `mentions` Discord puts in a message: each mentioned user, with `member` when in the guild."""
    people: People = backend.get_state().http.people
    found = []
    for user_id in dict.fromkeys(int(m) for m in USER_MENTION.findall(content or "")):
        user = people.user(user_id)
        if user is None:
            continue
        member = people.member(guild.id, user_id) if guild is not None else None
        if member is not None:
            del member["user"]
            user["member"] = member
        found.append(user)
    return found


def edit_stored_message(channel_id: int, message_id: int, payload: JsonDict) -> JsonDict:
    data = _find_message(channel_id, message_id)
    for key in ("content", "embeds", "components", "flags"):
        if key in payload and payload[key] is not None:
            data[key] = payload[key]
    data["edited_timestamp"] = now_iso()
    backend.get_state().parse_message_update(copy.deepcopy(data))
    return data


def create_role(guild: discord.Guild, *, position: int | None = None, **fields: Any) -> JsonDict:
    """Create a role from the fields discord.py 2.7 sends (`colors`, string `permissions`, ...)."""
    colors = fields.get("colors") or {}
    data = factories.make_role_dict(
        fields.get("name") or "new role",
        colour=int(colors.get("primary_color") or fields.get("color") or 0),
        hoist=bool(fields.get("hoist")),
        permissions=int(fields.get("permissions") or 0),
        mentionable=bool(fields.get("mentionable")),
        position=position if position is not None else max((r.position for r in guild.roles), default=0) + 1,
    )
    backend.get_state().parse_guild_role_create({"guild_id": guild.id, "role": data})
    return data
