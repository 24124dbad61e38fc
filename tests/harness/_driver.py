"""Drive interactions through discord.py's real dispatch: `ConnectionState.parse_interaction_create`.

Every call builds the INTERACTION_CREATE payload Discord would send, feeds it to the bot's
connection state (→ `CommandTree`, view store, dynamic items, modals), then waits until the
tasks discord.py started for it have finished, and returns the recorded `InteractionResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
from collections.abc import Iterator
from typing import Any

import discord
from discord.ext import commands
from discord.ext import test as dpytest
from discord.ext.test import factories

from tests.harness import _payloads as p
from tests.harness._people import People
from tests.harness._recorder import InteractionResult, Recorder, Reply

JsonDict = dict[str, Any]
MessageLike = discord.Message | Reply | InteractionResult | JsonDict


@contextlib.contextmanager
def _tasks_created() -> Iterator[list[asyncio.Task[Any]]]:
    """The tasks the loop creates inside the block (what a dispatch scheduled).

    A task factory, not `asyncio.all_tasks()` before and after: that walks every live task twice
    per interaction, which made a burst of 1,000 interactions quadratic in the harness itself.
    """
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task[Any]] = []
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        assert isinstance(task, asyncio.Task)
        created.append(task)
        return task

    loop.set_task_factory(factory)
    try:
        yield created
    finally:
        loop.set_task_factory(previous)


class CommandUnavailable(Exception):
    """Discord would not show this command to this user here (default_permissions, guild only)."""


class InteractionDriver:
    """Members in payloads (the user acting, resolved options) come from `people`, Discord's side."""

    def __init__(self, bot: commands.Bot, recorder: Recorder, people: People) -> None:
        self.bot = bot
        self.recorder = recorder
        self.people = people

    # ---- public API ------------------------------------------------------------------------
    async def command(
        self,
        name: str,
        *,
        by: discord.abc.User,
        channel: Any = None,
        options: dict[str, Any] | None = None,
        wait: bool = True,
        **kwargs: Any,
    ) -> InteractionResult:
        """Invoke `/name` (e.g. "guarantee open") as member `by` in `channel` (a DM when omitted).

        Options go as keyword arguments, or in `options` for names that clash with this signature.
        """
        data = self._command_data(name, by, channel, {**(options or {}), **kwargs}, focused=None)
        return await self._dispatch(2, by, channel, data, wait=wait)

    async def autocomplete(
        self,
        name: str,
        focused: str,
        *,
        by: discord.abc.User,
        channel: Any = None,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> InteractionResult:
        """Ask for autocomplete choices of option `focused` (its partial value is among the options)."""
        values = {**(options or {}), **kwargs}
        values.setdefault(focused, "")
        data = self._command_data(name, by, channel, values, focused=focused)
        return await self._dispatch(4, by, channel, data)

    async def click(
        self, message: MessageLike, custom_id: str, *, by: discord.abc.User, wait: bool = True
    ) -> InteractionResult:
        """Click the button `custom_id` on `message` (a bot message, a `Reply` or a result) as `by`."""
        raw = self._message_dict(message)
        self._require_component(raw, custom_id)
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._dispatch(3, by, self._channel_of(raw), data, message=raw, wait=wait)

    async def select(
        self, message: MessageLike, custom_id: str, values: list[Any], *, by: discord.abc.User, wait: bool = True
    ) -> InteractionResult:
        """Pick `values` in the select menu `custom_id` on `message` (members/roles/channels for typed selects)."""
        raw = self._message_dict(message)
        component = self._require_component(raw, custom_id)
        channel = self._channel_of(raw)
        resolved = p.Resolved(self.people)
        me = channel.guild.me if getattr(channel, "guild", None) else None
        encoded = []
        for value in values:
            if isinstance(value, discord.abc.User):
                encoded.append(resolved.add_user(value, channel))
            elif isinstance(value, discord.Role):
                encoded.append(resolved.add_role(value))
            elif isinstance(value, discord.abc.GuildChannel):
                encoded.append(resolved.add_channel(value, me))
            else:
                encoded.append(str(value))
        data: JsonDict = {"custom_id": custom_id, "component_type": component.get("type", 3), "values": encoded}
        if resolved.data:
            data["resolved"] = resolved.data
        return await self._dispatch(3, by, channel, data, message=raw, wait=wait)

    async def submit_modal(
        self,
        modal: InteractionResult | str,
        values: dict[str, Any],
        *,
        by: discord.abc.User,
        channel: Any = None,
        wait: bool = True,
    ) -> InteractionResult:
        """Submit the modal shown in `modal` (a result whose response was a modal) with field `values`.

        `modal` may also be a bare modal custom id; the fields are then sent as text-input rows.
        """
        if isinstance(modal, InteractionResult):
            shown = modal.modal
            if shown is None:
                raise AssertionError(f"the interaction answered type {modal.response_type}, not a modal")
            data = {"custom_id": shown["custom_id"], "components": p.modal_submission(shown, values)}
            channel = channel if channel is not None else modal.channel
            message = modal.source_message
        else:
            data, message = {"custom_id": modal, "components": p.text_input_rows(values)}, None
        return await self._dispatch(5, by, channel, data, message=message, wait=wait)

    async def settle(self) -> None:
        """Let every pending discord.py event task finish."""
        await dpytest.run_all_events()

    # ---- payloads ----------------------------------------------------------------------------
    def _command_data(self, name: str, user: Any, channel: Any, options: dict, focused: str | None) -> JsonDict:
        guild = getattr(channel, "guild", None)
        command, guild_id = p.find_command(self.bot.tree, name, guild)
        self._check_visible(command, user, guild)
        leaf, resolved = p.encode_options(command, options, channel, focused, self.people)
        root, nested = p.nest(command, leaf)
        data: JsonDict = {"id": str(factories.make_id()), "name": root, "type": 1, "options": nested}
        if resolved:
            data["resolved"] = resolved
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    def _check_visible(self, command: Any, user: Any, guild: discord.Guild | None) -> None:
        root = command.root_parent or command
        if guild is None:
            if root.guild_only or (root.allowed_contexts and not root.allowed_contexts.dm_channel):
                raise CommandUnavailable(f"/{command.qualified_name} cannot be used in DMs")
            return
        needed, perms = root.default_permissions, self._member(guild, user).guild_permissions
        if needed is not None and not perms.administrator and not perms.is_superset(needed):
            raise CommandUnavailable(f"/{command.qualified_name} needs {needed!r}, which {user} lacks")

    def _base(self, kind: int, user: Any, channel: Any) -> JsonDict:
        state = self.bot._connection
        payload: JsonDict = {
            "id": str(factories.make_id()),
            "application_id": str(state.application_id or state.user.id),
            "type": kind,
            "token": secrets.token_urlsafe(24),
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"1": str(user.id)},
        }
        if getattr(channel, "guild", None) is not None:
            payload.update(
                guild_id=str(channel.guild.id),
                guild={"id": str(channel.guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=p.member_dict(self._member(channel.guild, user), channel),
                app_permissions=str(channel.permissions_for(channel.guild.me).value),
                context=0,
            )
            payload["authorizing_integration_owners"]["0"] = str(channel.guild.id)
        else:
            payload.update(user=self._user(user), context=1)
            payload["app_permissions"] = str(discord.Permissions.text().value)
        payload["channel_id"] = str(channel.id)
        payload["channel"] = p.channel_dict(channel)
        return payload

    def _member(self, guild: discord.Guild, user: discord.abc.User) -> discord.Member:
        """`user` as a member of `guild` on the Discord side (roles as they are now), never the bot's cache."""
        member = self.people.member_object(guild, user.id)
        if member is None:
            raise LookupError(f"{user} is not a member of {guild}")
        return member

    def _user(self, user: discord.abc.User) -> JsonDict:
        data = self.people.user(user.id)
        if data is None:
            raise LookupError(f"{user} is not a user of this fake Discord")
        return data

    async def dm_channel(self, user: discord.abc.User) -> discord.DMChannel:
        """The bot's DM channel with `user` (opened through the fake API if needed)."""
        return await (user._user if isinstance(user, discord.Member) else user).create_dm()

    async def _dispatch(
        self, kind: int, user: Any, channel: Any, data: JsonDict, *, message: JsonDict | None = None, wait: bool = True
    ) -> InteractionResult:
        if channel is None:
            channel = await self.dm_channel(user)
        payload = self._base(kind, user, channel)
        payload["data"] = data
        if message is not None:
            payload["message"] = copy.deepcopy(message)  # discord.py pops parts of what it parses
        result = InteractionResult(int(payload["id"]), payload["token"], channel, source_message=message)
        self.recorder.expect(result)
        with _tasks_created() as created:
            self.bot._connection.parse_interaction_create(payload)
        result.tasks = created
        if wait:
            await result.wait()
            await dpytest.run_all_events()
        return result

    # ---- messages ----------------------------------------------------------------------------
    def _message_dict(self, message: MessageLike) -> JsonDict:
        if isinstance(message, InteractionResult):
            if message.message is None:
                raise AssertionError("that interaction produced no message to click on")
            return message.message.data
        if isinstance(message, Reply):
            return message.data
        if isinstance(message, dict):
            return message
        from discord.ext.test import backend

        for data in backend._cur_config.messages.get(message.channel.id, []):
            if int(data["id"]) == message.id:
                return data
        raise LookupError(f"message {message.id} is not stored on the fake Discord (deleted?)")

    def _channel_of(self, raw: JsonDict) -> Any:
        channel_id = int(raw["channel_id"])
        channel = self.bot.get_channel(channel_id) or self.bot._connection._get_private_channel(channel_id)
        if channel is None:
            raise LookupError(f"channel {channel_id} no longer exists")
        return channel

    @staticmethod
    def _require_component(raw: JsonDict, custom_id: str) -> JsonDict:
        found = _find_component(raw.get("components") or [], custom_id)
        if found is None:
            ids = list(Reply(raw, False).custom_ids)
            raise LookupError(f"message {raw['id']} has no component {custom_id!r}; it has {ids}")
        if found.get("disabled"):
            raise AssertionError(f"component {custom_id!r} is disabled; Discord would not let it be used")
        return found


def _find_component(components: list[JsonDict], custom_id: str) -> JsonDict | None:
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        nested = (component.get("components") or []) + [c for c in (component.get("accessory"),) if c]
        found = _find_component(nested, custom_id)
        if found is not None:
            return found
    return None
