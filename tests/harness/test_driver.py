"""The driver goes through discord.py's real dispatch: tree, checks, views, dynamic items, modals."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord import app_commands

from tests.harness._driver import CommandUnavailable, _tasks_created
from tests.harness._testcog import PANEL_BUTTON, PANEL_SELECT


async def test_slash_command_receives_every_option_type(env, seen):
    result = await env.driver.command(
        "harness echo",
        by=env.freelancer,
        channel=env.channel,
        text="hi",
        count=3,
        who=env.buyer,
        role=env.officer_role,
        where=env.channel,
    )
    text, count, who, role, where = seen.last("echo")
    assert (text, count) == ("hi", 3)
    assert isinstance(who, discord.Member) and who.id == env.buyer.id
    assert role == env.officer_role
    assert where == env.channel
    assert result.response_type == 4 and result.content == "hi x3" and result.ephemeral


async def test_ephemeral_reply_stays_out_of_the_channel_and_public_reply_lands_in_it(env):
    ephemeral = await env.driver.command("harness slow", by=env.buyer, channel=env.channel)
    public = await env.driver.command("harness whoami", by=env.buyer, channel=env.channel)
    assert ephemeral.ephemeral and not public.ephemeral
    assert [m["content"] for m in env.messages(env.channel)] == [public.content]


async def test_member_permissions_come_from_their_roles(env):
    admin = await env.driver.command("harness whoami", by=env.admin, channel=env.channel)
    outsider = await env.driver.command("harness whoami", by=env.outsider, channel=env.channel)
    assert admin.content.endswith("manage_guild=True")
    assert outsider.content.endswith("manage_guild=False")


async def test_check_failure_reaches_tree_on_error(env):
    errors = []

    async def on_error(interaction, error):
        errors.append(error)
        await interaction.response.send_message("nope", ephemeral=True)

    env.bot.tree.on_error = on_error
    denied = await env.driver.command("harness guarded", by=env.outsider, channel=env.channel)
    allowed = await env.driver.command("harness guarded", by=env.admin, channel=env.channel)
    assert [type(e) for e in errors] == [app_commands.MissingPermissions]
    assert denied.content == "nope" and allowed.content == "welcome"


async def test_the_projects_tree_answers_a_check_failure_ephemerally(env):
    result = await env.driver.command("harness guarded", by=env.outsider, channel=env.channel)
    assert result.ephemeral
    assert "Manage Server permission" in result.content and "Ask a server admin" in result.content


async def test_default_permissions_hide_a_command_like_discord_does(env):
    with pytest.raises(CommandUnavailable):
        await env.driver.command("harness-admin ping", by=env.outsider, channel=env.channel)
    result = await env.driver.command("harness-admin ping", by=env.admin, channel=env.channel)
    assert result.content == "pong"


async def test_command_in_a_dm(env):
    result = await env.driver.command("harness whoami", by=env.buyer)
    assert result.content.startswith("guild=None")
    assert isinstance(result.channel, discord.DMChannel) and result.channel.recipient.id == env.buyer.id


async def test_unknown_option_is_refused_before_dispatch(env):
    with pytest.raises(TypeError, match="no option 'colour'"):
        await env.driver.command("harness pick", by=env.buyer, channel=env.channel, colour="red")


async def test_autocomplete_answers_with_choices_for_the_focused_option(env):
    result = await env.driver.autocomplete("harness pick", "fruit", by=env.buyer, channel=env.channel, fruit="ap")
    assert result.response_type == 8
    assert [c["value"] for c in result.choices] == ["apple", "apricot"]


async def test_deferral_then_followup_is_recorded(env):
    result = await env.driver.command("harness slow", by=env.buyer, channel=env.channel)
    assert result.response_type == 5 and result.deferred and result.ephemeral
    assert result.acknowledged_within(3.0)
    assert [f.content for f in result.followups] == ["done"]
    assert result.followups[0].ephemeral


async def test_modal_is_recorded_and_its_submission_reaches_on_submit(env, seen):
    shown = await env.driver.command("harness form", by=env.buyer, channel=env.channel)
    assert shown.modal["custom_id"] == "harness:form"
    assert shown.modal["title"] == "Harness form"
    submitted = await env.driver.submit_modal(shown, {"reason": "late", "amount": "12"}, by=env.buyer)
    assert seen.last("form") == {"reason": "late", "amount": "12"}
    assert submitted.content == "got late" and submitted.ephemeral


async def test_modal_rejects_fields_it_does_not_have(env):
    shown = await env.driver.command("harness form", by=env.buyer, channel=env.channel)
    with pytest.raises(KeyError, match="colour"):
        await env.driver.submit_modal(shown, {"colour": "red"}, by=env.buyer)


async def test_button_and_select_on_a_bot_sent_message(env, seen):
    await env.driver.command("harness panel", by=env.officer, channel=env.channel)
    panel = env.bot._connection._get_message(int(env.messages(env.channel)[0]["id"]))
    clicked = await env.driver.click(panel, PANEL_BUTTON, by=env.officer)
    assert clicked.content == f"confirmed by {env.officer.id}" and clicked.ephemeral
    picked = await env.driver.select(panel, PANEL_SELECT, ["blue"], by=env.buyer)
    assert seen.last("select") == ["blue"]
    assert picked.response_type == 7
    assert env.messages(env.channel)[0]["content"] == "picked blue"


async def test_dynamic_item_click_edits_the_message(env):
    await env.driver.command("harness panel", by=env.officer, channel=env.channel)
    counter = env.last_message(env.channel)
    await env.driver.click(counter, "harness:count:0", by=env.buyer)
    stored = env.messages(env.channel)[-1]
    assert stored["content"] == "count 1"
    assert stored["components"][0]["components"][0]["custom_id"] == "harness:count:1"
    with pytest.raises(LookupError, match="harness:count:0"):
        await env.driver.click(counter, "harness:count:0", by=env.buyer)


async def test_persistent_view_and_dynamic_item_survive_a_restart(env, seen):
    await env.driver.command("harness panel", by=env.officer, channel=env.channel)
    panel_id, counter_id = (int(m["id"]) for m in env.messages(env.channel))
    old_bot = env.bot
    await env.restart()
    assert env.bot is not old_bot and old_bot.is_closed()
    panel = await env.channel.fetch_message(panel_id)
    counter = await env.channel.fetch_message(counter_id)
    clicked = await env.driver.click(panel, PANEL_BUTTON, by=env.officer)
    await env.driver.click(counter, "harness:count:0", by=env.buyer)
    assert clicked.content == f"confirmed by {env.officer.id}"
    assert (await env.channel.fetch_message(counter_id)).content == "count 1"


async def test_the_other_guild_is_separate(env):
    assert env.stranger.guild == env.other_guild
    assert not env.is_member(env.guild, env.stranger)
    assert not env.is_member(env.other_guild, env.freelancer)
    with pytest.raises(LookupError):
        await env.driver.command("harness whoami", by=env.freelancer, channel=env.other_channel)
    result = await env.driver.command("harness whoami", by=env.stranger, channel=env.other_channel)
    assert result.content.startswith(f"guild={env.other_guild.id}")


async def test_an_option_named_user_is_passed_through(env):
    result = await env.driver.command("harness officer", by=env.outsider, channel=env.channel, user=env.officer)
    assert result.content == f"{env.officer.id} has 1 role(s)"


async def test_edits_of_the_original_response_are_recorded_and_applied(env):
    result = await env.driver.command("harness draft", by=env.buyer, channel=env.channel, wait=False)
    await result.wait()
    assert result.response_type == 4 and not result.ephemeral
    assert [edit["content"] for edit in result.edits] == ["final"]
    assert result.content == "final" and result.embeds[0].title == "Final"
    assert env.messages(env.channel)[-1]["content"] == "final"


async def test_tasks_created_sees_only_the_block_and_restores_the_factory() -> None:
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()
    outside = asyncio.create_task(asyncio.sleep(0))
    with _tasks_created() as created:
        inside = [asyncio.create_task(asyncio.sleep(0), name=f"t{n}") for n in range(3)]
    later = asyncio.create_task(asyncio.sleep(0))
    assert created == inside and [t.get_name() for t in created] == ["t0", "t1", "t2"]
    assert loop.get_task_factory() is factory
    await asyncio.gather(outside, *inside, later)
