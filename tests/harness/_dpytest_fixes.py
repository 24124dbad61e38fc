"""Fixes for dpytest 0.7.0 against discord.py 2.7, applied per test and undone after it.

Each fix patches a module-level helper of dpytest (never one of `FakeHttp`'s methods, which
read their caller's frame locals), or installs `HarnessHttp`, whose routes look objects up by id.
"""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.ext import test as dpytest
from discord.ext.test import backend, callbacks, factories, runner
from discord.ext.test.utils import PeekableQueue

from tests.harness import _server
from tests.harness._faults import Faults
from tests.harness._people import People


def dict_from_overwrite(target: discord.Member | discord.Role | discord.Object, overwrite: discord.PermissionOverwrite):
    """dpytest writes `type` as "role"/"member"; discord.py 2.x reads 0 (role) / 1 (member)."""
    allow, deny = overwrite.pair()
    is_role = isinstance(target, discord.Role) or (isinstance(target, discord.Object) and target.type is discord.Role)
    kind = 0 if is_role else 1
    return {"id": target.id, "type": kind, "allow": str(allow.value), "deny": str(deny.value)}


def dict_from_channel(channel: Any) -> dict[str, Any]:
    """Every guild channel kind, with an int `type`, `parent_id` and `topic` (dpytest drops them)."""
    data = {
        "id": channel.id,
        "name": channel.name,
        "type": channel.type.value,
        "position": channel.position,
        "guild_id": channel.guild.id,
        "permission_overwrites": [dict_from_overwrite(k, v) for k, v in channel.overwrites.items()],
        "parent_id": channel.category_id,
    }
    if isinstance(channel, discord.TextChannel):
        data.update(topic=channel.topic, nsfw=channel.nsfw)
    return data


def dict_from_message(message: discord.Message) -> dict[str, Any]:
    """dpytest's message dict lacks `channel_id`, `components` and `flags`: add them."""
    data = _original_dict_from_message(message)
    data["channel_id"] = message.channel.id
    data["timestamp"] = message.created_at.isoformat()
    data["components"] = [component.to_dict() for component in message.components]
    data["flags"] = message.flags.value
    if message.guild is not None:
        data["guild_id"] = message.guild.id
    return data


_original_dict_from_message = factories.dict_from_message
_original_make_role_dict = factories.make_role_dict


def _with_colors(data: dict[str, Any], secondary: int | None = None, tertiary: int | None = None) -> dict[str, Any]:
    """discord.py 2.7 reads a role's colour from `colors.primary_color`; dpytest only writes `color`."""
    data["colors"] = {"primary_color": data["color"], "secondary_color": secondary, "tertiary_color": tertiary}
    return data


def make_role_dict(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return _with_colors(_original_make_role_dict(*args, **kwargs))


def dict_from_role(role: discord.Role) -> dict[str, Any]:
    data = {
        "id": role.id,
        "name": role.name,
        "color": role.colour.value,
        "hoist": role.hoist,
        "position": role.position,
        "permissions": str(role.permissions.value),
        "managed": role.managed,
        "mentionable": role.mentionable,
    }
    secondary, tertiary = role.secondary_colour, role.tertiary_colour
    return _with_colors(data, secondary and secondary.value, tertiary and tertiary.value)


def find_user_mentions(content: str | None, guild: discord.Guild | None) -> list[discord.User]:
    """dpytest looks mentions up in `guild.members`, which holds only the bot under the default intents."""
    state = backend.get_state()
    found = (state.http.people.user_object(state, int(m["id"])) for m in _server.user_mentions(content, guild))
    return [user for user in found if user is not None]


def reset_dpytest() -> None:
    """Forget dpytest's module-level state from a previous test (config, queues, callbacks)."""
    runner._cur_config = None
    backend._cur_config = None
    runner.sent_queue = PeekableQueue()
    runner.error_queue = PeekableQueue()
    callbacks._callbacks.clear()


def apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch dpytest's helpers for this test; `monkeypatch` undoes it all afterwards."""
    monkeypatch.setattr(factories, "dict_from_overwrite", dict_from_overwrite)
    monkeypatch.setattr(factories, "dict_from_channel", dict_from_channel)
    monkeypatch.setattr(factories, "dict_from_message", dict_from_message)
    monkeypatch.setattr(factories, "make_role_dict", make_role_dict)
    monkeypatch.setattr(factories, "dict_from_role", dict_from_role)
    monkeypatch.setattr(backend, "delete_channel", _server.delete_channel)
    monkeypatch.setattr(backend, "find_user_mentions", find_user_mentions)
    monkeypatch.setattr(runner, "sent_queue", PeekableQueue())
    monkeypatch.setattr(runner, "error_queue", PeekableQueue())


def configure(bot: discord.Client, faults: Faults, people: People) -> _server.HarnessHttp:
    """`dpytest.configure` with no default guild, then install `HarnessHttp` and re-attach the tree."""
    dpytest.configure(bot, guilds=[], text_channels=0, voice_channels=0, members=0)
    http = bot.http
    http.__class__ = _server.HarnessHttp
    http.faults = faults
    http.people = people
    http.dm_channels = {}
    state = bot._connection
    tree = getattr(bot, "tree", None)
    if tree is not None:
        state._command_tree = tree
    state.application_id = state.user.id
    return http
