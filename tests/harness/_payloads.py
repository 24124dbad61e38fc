"""Build INTERACTION_CREATE payloads the way Discord sends them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import discord
from discord import app_commands
from discord.ext.test import factories

from tests.harness._people import People

JsonDict = dict[str, Any]
Where = discord.abc.GuildChannel | discord.DMChannel
OptionType = discord.AppCommandOptionType


def member_dict(member: discord.Member, channel: Any | None = None) -> JsonDict:
    """A guild member as Discord sends it in an interaction, with permissions in `channel`."""
    perms = channel.permissions_for(member) if channel is not None else member.guild_permissions
    joined = member.joined_at or dt.datetime.now(dt.UTC)
    return {
        "user": factories.dict_from_user(member._user),
        "roles": [str(r.id) for r in member.roles if not r.is_default()],
        "joined_at": joined.isoformat(),
        "nick": member.nick,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": str(perms.value),
    }


def channel_dict(channel: Any) -> JsonDict:
    if isinstance(channel, discord.DMChannel):
        recipients = [factories.dict_from_user(channel.recipient)] if channel.recipient else []
        return {"id": str(channel.id), "type": 1, "recipients": recipients}
    data = factories.dict_from_channel(channel) or {"id": channel.id, "name": channel.name}
    data["type"] = channel.type.value
    return data


def role_dict(role: discord.Role) -> JsonDict:
    return factories.dict_from_role(role)


class Resolved:
    """The `resolved` block: users, members, roles and channels referenced by option values.

    Users and members are resolved the way Discord does, from `people`: a user who is a member of
    the interaction's guild comes with their member data (roles, permissions in the channel).
    """

    def __init__(self, people: People) -> None:
        self.people = people
        self.data: JsonDict = {}

    def add_user(self, user: discord.abc.User, channel: Any) -> str:
        data = self.people.user(user.id)
        if data is None:
            raise LookupError(f"{user} is not a user of this fake Discord; Discord could not resolve them")
        self.data.setdefault("users", {})[str(user.id)] = data
        guild = getattr(channel, "guild", None)
        member = self.people.member_object(guild, user.id) if guild is not None else None
        if member is not None:
            payload = member_dict(member, channel)
            payload.pop("user")
            self.data.setdefault("members", {})[str(user.id)] = payload
        return str(user.id)

    def add_role(self, role: discord.Role) -> str:
        self.data.setdefault("roles", {})[str(role.id)] = role_dict(role)
        return str(role.id)

    def add_channel(self, target: Any, me: discord.Member | None) -> str:
        data = {"id": str(target.id), "name": target.name, "type": target.type.value}
        if getattr(target, "category_id", None):
            data["parent_id"] = str(target.category_id)
        if me is not None:
            data["permissions"] = str(target.permissions_for(me).value)
        self.data.setdefault("channels", {})[str(target.id)] = data
        return str(target.id)


def find_command(tree: app_commands.CommandTree, name: str, guild: discord.Guild | None) -> tuple[Any, int | None]:
    """The `app_commands.Command` for a full name like "guarantee open", and its guild id if guild-bound."""
    root_name, *rest = name.split()
    guild_id = None
    root = tree.get_command(root_name, guild=guild) if guild is not None else None
    if root is not None:
        guild_id = guild.id if guild is not None else None
    else:
        root = tree.get_command(root_name)
    command = root
    for part in rest:
        command = command.get_command(part) if isinstance(command, app_commands.Group) else None
        if command is None:
            break
    if command is None or isinstance(command, app_commands.Group):
        raise LookupError(f"no slash command /{name} on the bot's tree")
    return command, guild_id


def encode_options(
    command: Any, options: dict[str, Any], channel: Any, focused: str | None, people: People
) -> tuple[list, JsonDict]:
    """Turn keyword arguments into typed command options, plus their `resolved` data."""
    resolved = Resolved(people)
    me = channel.guild.me if getattr(channel, "guild", None) else None
    params = {p.name: p for p in command._params.values()} | {p.display_name: p for p in command._params.values()}
    encoded = []
    for key, value in options.items():
        param = params.get(key)
        if param is None:
            raise TypeError(f"/{command.qualified_name} has no option {key!r}; it has {sorted(command._params)}")
        encoded.append({"name": param.display_name, "type": param.type.value, "value": _encode(param.type, value)})
        if key == focused or param.display_name == focused:
            encoded[-1]["focused"] = True
            encoded[-1]["value"] = str(value)
        elif param.type in (OptionType.user, OptionType.mentionable) and isinstance(value, discord.abc.User):
            resolved.add_user(value, channel)
        elif isinstance(value, discord.Role):
            resolved.add_role(value)
        elif param.type is OptionType.channel:
            resolved.add_channel(value, me)
    return encoded, resolved.data


def _encode(kind: OptionType, value: Any) -> Any:
    if isinstance(value, discord.abc.Snowflake) and not isinstance(value, str | int):
        return str(value.id)
    if kind is OptionType.integer:
        return int(value)
    if kind is OptionType.number:
        return float(value)
    return value


def nest(command: Any, options: list[JsonDict]) -> tuple[str, list[JsonDict]]:
    """Wrap leaf options in subcommand / subcommand-group options, returning the root name."""
    node = command
    while node.parent is not None:
        kind = 1 if node is command else 2
        options = [{"name": node.name, "type": kind, "options": options}]
        node = node.parent
    return node.name, options


def modal_submission(shown: JsonDict, values: dict[str, Any]) -> list[JsonDict]:
    """The `components` of a modal submit, shaped like the modal that was shown, with `values` filled in."""

    def fill(component: JsonDict) -> JsonDict:
        if component.get("type") == 1:
            return {"type": 1, "components": [fill(c) for c in component.get("components", [])]}
        if component.get("type") == 18:
            return {"type": 18, "id": component.get("id", 0), "component": fill(component["component"])}
        custom_id = component.get("custom_id")
        if component.get("type") == 4:
            return {"type": 4, "id": component.get("id", 0), "custom_id": custom_id, "value": values.get(custom_id, "")}
        if custom_id is not None:
            chosen = values.get(custom_id, [])
            return {"type": component["type"], "custom_id": custom_id, "values": list(chosen)}
        return component

    unknown = set(values) - {cid for cid in _ids(shown.get("components", []))}
    if unknown:
        raise KeyError(f"the modal {shown.get('custom_id')!r} has no field(s) {sorted(unknown)}")
    return [fill(c) for c in shown.get("components", [])]


def _ids(components: list[JsonDict]) -> Any:
    for component in components:
        if "custom_id" in component:
            yield component["custom_id"]
        yield from _ids(component.get("components", []))
        if "component" in component:
            yield from _ids([component["component"]])


def text_input_rows(values: dict[str, str]) -> list[JsonDict]:
    """Modal submit components for plain text inputs, one action row each."""
    return [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in values.items()]
