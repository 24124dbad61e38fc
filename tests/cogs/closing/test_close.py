"""Closing a ticket end to end (PRODUCT.md §5): `/guarantee close` and the **Close ticket** button, the question,
then the `ticket.close` effect: the transcript saved with its digest in the audit chain, the files in the log
channel, both parties told, the channel deleted or locked; a transcript that cannot be saved, a closing stopped
half-way and finished by the next bot, closing twice, and everyone who may not close."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from discord.ext.test import backend
from sqlalchemy import select

from bot import create_bot
from bot.db.models import DiscordEffect, Ticket
from bot.services.escrow.results import AlreadyDoneError
from bot.services.outbox import LEASE, lease_for
from cogs.people import actor_of
from tests.cogs.closing.conftest import stored_message
from tests.harness import _faults as routes
from tests.harness._recorder import InteractionResult
from tests.harness._server import payload_of
from tests.harness._tickets import TicketView
from tests.harness._world import DiscordEnv

CLOSE, CLOSE_YES = "guarantee:close:", "guarantee:close-yes:"


Sent = list[tuple[int, dict[str, Any]]]


def spy(env: DiscordEnv, monkeypatch: pytest.MonkeyPatch, seen: Sent | None = None) -> Sent:
    """Every message payload the bot (this instance of it) sends, as (channel id, payload), files or not."""
    seen = [] if seen is None else seen
    original = env.bot.http.send_message

    async def sending(channel_id: int, *, params: Any) -> Any:
        seen.append((int(channel_id), payload_of(params)))
        return await original(channel_id, params=params)

    monkeypatch.setattr(env.bot.http, "send_message", sending)
    return seen


@pytest.fixture
def sent(discord_env: DiscordEnv, monkeypatch: pytest.MonkeyPatch) -> Sent:
    return spy(discord_env, monkeypatch)


def dms_to(env: DiscordEnv, sent: Sent, member: Any) -> list[str]:
    """What the bot sent `member` by DM (a restarted bot opens new DM channels: ask before and after)."""
    channel_id = env.bot.http.dm_channels.get(member.id)  # type: ignore[attr-defined]
    return [p.get("content", "") for cid, p in sent if cid == channel_id]


async def with_log_channel(env: DiscordEnv) -> Any:
    """`/guarantee setup` with a log channel for transcripts."""
    log_channel = backend.make_text_channel("guarantor-log", env.guild)
    result = await env.driver.command(
        "guarantee setup", by=env.admin, channel=env.channel, officer_role=env.officer_role, log_channel=log_channel
    )
    assert "Saved" in result.content, result.content
    return log_channel


async def refunded(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    await ticket.click_and_write("refund", env.officer, "the buyer changed plans")
    assert ticket.buttons() == [f"{CLOSE}{ticket.order_id}"]


def yes_of_close(asked: InteractionResult) -> str:
    ids = asked.message.custom_ids if asked.message else []
    return next(cid for cid in ids if cid.startswith(CLOSE_YES))


async def close_by_button(ticket: TicketView, by: Any) -> InteractionResult:
    """Click **Close ticket** on the summary and say yes."""
    asked = await ticket.env.driver.click(ticket.summary, f"{CLOSE}{ticket.order_id}", by=by)
    assert "This cannot be undone" in asked.content, asked.content
    return await ticket.env.driver.click(asked, yes_of_close(asked), by=by)


async def ticket_row(env: DiscordEnv, order_id: str = "ord_1") -> Ticket:
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        return (await session.scalars(select(Ticket).where(Ticket.order_id == order_id))).one()  # type: ignore[arg-type]


async def close_effects(env: DiscordEnv) -> list[DiscordEffect]:
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        query = select(DiscordEffect).where(DiscordEffect.kind == "ticket.close")  # type: ignore[arg-type]
        return list((await session.scalars(query)).all())


def transcript_dir(env: DiscordEnv, order_id: str = "ord_1") -> Path:
    return Path(env.bot.settings.data_dir) / "transcripts" / str(env.guild.id) / order_id  # type: ignore[attr-defined]


async def test_an_officer_closes_a_refunded_ticket_and_its_channel_is_deleted(ticket, sent) -> None:
    env = ticket.env
    log_channel = await with_log_channel(env)
    await refunded(ticket)
    done = await close_by_button(ticket, env.officer)
    assert done.ephemeral and "Closing the ticket of order ord_1" in done.content
    assert (await ticket_row(env)).state == "closing"
    await env.work_effects()

    row = await ticket_row(env)
    assert row.state == "closed" and row.closed_at is not None and row.closed_by == env.officer.id
    assert row.channel_id is None and env.bot.get_channel(ticket.channel.id) is None
    html, text = transcript_dir(env) / "transcript-ord_1.html", transcript_dir(env) / "transcript-ord_1.txt"
    assert row.transcript_html == str(html) and row.transcript_text == str(text)
    assert row.transcript_sha256 == hashlib.sha256(html.read_bytes()).hexdigest()
    assert "released" not in text.read_text() and "refunded by" in text.read_text()  # the channel's lines are in it
    entries = await ticket.audit()
    assert [e.action for e in entries] == ["fund", "refund", "close"]
    assert entries[-1].from_state == entries[-1].to_state == "refunded"
    assert entries[-1].actor == str(env.officer.id) and row.transcript_sha256 in (entries[-1].note or "")

    (posted,) = env.messages(log_channel)  # with files: the payload goes as multipart
    assert "Transcript of the ticket of order ord_1" in posted["content"] and row.transcript_sha256 in posted["content"]
    files = [a["filename"] for a in posted["attachments"]]
    assert files == ["transcript-ord_1.html", "transcript-ord_1.txt"]
    for party in (env.freelancer, env.buyer):
        (told,) = [dm for dm in dms_to(env, sent, party) if "closed the ticket" in dm]
        assert "Automatic notice" in told and "channel is deleted" in told
    (effect,) = await close_effects(env)
    assert effect.status == "done"


async def test_the_command_asks_with_the_reason_and_records_it(ticket, sent) -> None:
    env = ticket.env
    log_channel = await with_log_channel(env)
    await refunded(ticket)
    asked = await env.driver.command(
        "guarantee close", by=env.officer, channel=ticket.channel, reason="deal finished\nall good"
    )
    assert asked.ephemeral and "Close the ticket of order ord_1 (120.50 USD, refunded to the buyer)" in asked.content
    assert "> deal finished\n> all good" in asked.content
    assert f"posted to {log_channel.mention}" in asked.content
    back = await env.driver.click(asked, "guarantee:back:ord_1", by=env.officer)
    assert "Nothing was done" in back.content and (await ticket_row(env)).state == "open"
    asked = await env.driver.command("guarantee close", by=env.officer, channel=ticket.channel, reason="deal finished")
    await env.driver.click(asked, yes_of_close(asked), by=env.officer)
    await env.work_effects()
    row = await ticket_row(env)
    assert row.state == "closed" and row.close_reason == "deal finished"
    assert (await ticket.audit())[-1].note.endswith("reason: deal finished")  # type: ignore[union-attr]
    (posted,) = env.messages(log_channel)
    assert "> deal finished" in posted["content"]


async def refunded_with_locking(make_discord_env, settings, monkeypatch) -> tuple[DiscordEnv, Sent, TicketView]:
    """A bot with CLOSED_TICKET_ACTION=lock and a log channel, and a refunded ticket ready to close."""
    locking = settings.model_copy(update={"closed_ticket_action": "lock"})
    env = await make_discord_env(factory=lambda: create_bot(locking, serve_webhooks=False))
    sent = spy(env, monkeypatch)
    await with_log_channel(env)
    await env.agree_order()
    ticket = await env.open_ticket_and_join()
    await refunded(ticket)
    return env, sent, ticket


async def test_locking_keeps_the_channel_read_only_under_closed_tickets(make_discord_env, settings, monkeypatch):
    env, sent, ticket = await refunded_with_locking(make_discord_env, settings, monkeypatch)
    asked = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer)
    assert "locked (read-only)" in asked.content
    await env.driver.click(asked, yes_of_close(asked), by=env.officer)
    await env.work_effects()

    row = await ticket_row(env)
    channel = env.bot.get_channel(ticket.channel.id)
    assert row.state == "closed" and row.channel_id == ticket.channel.id and channel is not None
    assert channel.name == "closed-ord_1" and channel.category is not None and channel.category.name == "Closed tickets"
    for party in (env.freelancer, env.buyer):
        permissions = channel.permissions_for(party)
        assert permissions.view_channel and permissions.read_message_history and not permissions.send_messages
    assert not channel.permissions_for(env.outsider).view_channel
    assert ticket.buttons() == []  # nothing is left to click on a closed ticket
    assert transcript_dir(env).joinpath("transcript-ord_1.html").is_file()
    assert any("channel stays, read-only" in dm for dm in dms_to(env, sent, env.buyer))


async def test_a_party_with_closed_dms_is_told_in_the_ticket_pinging_only_them(make_discord_env, settings, monkeypatch):
    env, sent, ticket = await refunded_with_locking(make_discord_env, settings, monkeypatch)  # the channel stays
    env.close_dms(env.buyer)
    before = len(sent)
    asked = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer)
    await env.driver.click(asked, yes_of_close(asked), by=env.officer)
    await env.work_effects()

    assert (await ticket_row(env)).state == "closed"
    closing = sent[before:]
    in_ticket = [p for cid, p in closing if cid == ticket.channel.id and f"<@{env.buyer.id}>" in p.get("content", "")]
    assert len(in_ticket) == 1, in_ticket
    mentions = in_ticket[0]["allowed_mentions"]
    assert mentions["users"] == [str(env.buyer.id)] or mentions["users"] == [env.buyer.id]
    assert mentions.get("parse", []) == [] and not mentions.get("roles")
    assert "closed" in in_ticket[0]["content"]
    assert any("closed" in dm for dm in dms_to(env, sent, env.freelancer))  # the other party by DM, as usual


async def test_a_transcript_that_cannot_be_saved_leaves_the_channel_and_tells_the_officer(ticket, sent) -> None:
    env = ticket.env
    await with_log_channel(env)
    await refunded(ticket)
    blocker = Path(env.bot.settings.data_dir) / "transcripts"  # type: ignore[attr-defined]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")  # the disk refuses the transcript's folder
    await close_by_button(ticket, env.officer)
    await env.work_effects()

    row = await ticket_row(env)
    assert row.state == "open" and row.transcript_sha256 is None
    assert env.bot.get_channel(ticket.channel.id) is not None
    (told,) = [line for line in ticket.lines() if "could not be saved" in line]
    assert told.startswith(env.officer.mention) and "(not a directory)" in told and "**Close ticket**" in told
    assert [e.action for e in await ticket.audit()] == ["fund", "refund"]  # no close entry
    (effect,) = await close_effects(env)
    assert effect.status == "dropped" and "not a directory" in (effect.last_error or "")
    assert not any("closed the ticket" in dm for dm in dms_to(env, sent, env.buyer))

    blocker.unlink()  # fixed: the officer closes it again
    await close_by_button(ticket, env.officer)
    await env.work_effects()
    assert (await ticket_row(env)).state == "closed"


async def test_a_closing_stopped_after_the_transcript_is_finished_by_the_next_bot(ticket, sent, monkeypatch) -> None:
    env = ticket.env
    log_channel = await with_log_channel(env)
    await refunded(ticket)
    env.faults.fail(routes.DELETE_CHANNEL, 403, times=1)  # the channel cannot go yet (think: the process died)
    await close_by_button(ticket, env.officer)
    await env.work_effects()
    row = await ticket_row(env)
    assert row.state == "closing" and row.transcript_sha256 is not None and row.parties_told_at is not None
    assert env.bot.get_channel(ticket.channel.id) is not None
    reads = env.faults.count(routes.HISTORY)
    told = [dms_to(env, sent, party) for party in (env.freelancer, env.buyer)]
    assert [sum("closed the ticket" in dm for dm in dms) for dms in told] == [1, 1]

    await env.restart()  # a new bot on the same database; the old one's hold on the effect runs out
    sent_now = spy(env, monkeypatch)
    await env.expire_holds()
    await env.work_effects()
    finished = await ticket_row(env)
    assert finished.state == "closed" and env.bot.get_channel(ticket.channel.id) is None
    assert finished.transcript_sha256 == row.transcript_sha256  # the transcript saved once, its digest kept
    assert env.faults.count(routes.HISTORY) == reads  # the channel's history was not read again
    assert [e.action for e in await ticket.audit()] == ["fund", "refund", "close"]  # one close entry
    assert len(env.messages(log_channel)) == 1  # the files were posted once
    assert sent_now == []  # and the parties were told once


async def test_closing_twice_is_harmless(ticket) -> None:
    env = ticket.env
    await refunded(ticket)
    first = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer)
    assert "no log channel is set" in first.content and "`/guarantee setup`" in first.content
    second = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer)
    await env.driver.click(first, yes_of_close(first), by=env.officer)
    again = await env.driver.click(second, yes_of_close(second), by=env.officer)
    assert "already being closed" in again.content
    clicked = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer)
    assert "already being closed" in clicked.content
    await env.work_effects()
    with pytest.raises(AlreadyDoneError, match="already closed"):  # its channel is gone: no button to click
        await env.bot.runtime.closing.question(actor_of(env.officer, env.officer_role_name), order_id="ord_1")
    assert len(await close_effects(env)) == 1
    assert [e.action for e in await ticket.audit()].count("close") == 1


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], "the order must first be cancelled"),
        ([("fund", "PAY-1")], "the payment must first be released to the freelancer or refunded to the buyer"),
        ([("fund", "PAY-1"), ("dispute", "empty files")], "the dispute must first be decided"),
    ],
)
async def test_a_ticket_whose_payment_is_not_settled_cannot_be_closed(ticket, steps, expected) -> None:
    env = ticket.env
    for action, note in steps:
        await ticket.click_and_write(action, env.buyer if action == "dispute" else env.officer, note)
    assert not any(button.startswith(CLOSE) for button in ticket.buttons())
    refused = await env.driver.command("guarantee close", by=env.officer, channel=ticket.channel)
    assert refused.ephemeral and "cannot be closed yet" in refused.content and expected in refused.content
    assert (await ticket_row(env)).state == "open" and await close_effects(env) == []


async def test_only_officers_close_tickets(ticket) -> None:
    env = ticket.env
    await refunded(ticket)
    for who in (env.buyer, env.freelancer, env.outsider):
        refused = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=who)
        assert "Only a Guarantor Officer can close a ticket" in refused.content
    refused = await env.driver.command("guarantee close", by=env.buyer, channel=ticket.channel)
    assert "Only a Guarantor Officer can close a ticket" in refused.content
    elsewhere = await env.driver.command("guarantee close", by=env.officer, channel=env.channel)
    assert "This is not a ticket channel" in elsewhere.content
    assert (await ticket_row(env)).state == "open" and await close_effects(env) == []


async def test_an_officer_who_is_a_party_cannot_close_the_ticket(discord_env) -> None:
    env = discord_env
    await env.agree_order()
    ticket = await env.open_ticket_and_join(freelancer=env.officer_party)
    await ticket.click_and_confirm("cancel", env.officer)
    refused = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer_party)
    assert "You are a party to order ord_1" in refused.content and "Ask another officer" in refused.content
    assert (await ticket_row(env)).state == "open" and await close_effects(env) == []
    asked = await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.officer)  # another officer may
    await env.driver.click(asked, yes_of_close(asked), by=env.officer)
    await env.work_effects()
    assert (await ticket_row(env)).state == "closed"


def test_closing_holds_its_effect_long_enough_for_a_long_history() -> None:
    assert lease_for("ticket.close") >= 6 * LEASE and lease_for("summary.refresh") == LEASE


async def test_a_long_busy_ticket_is_read_whole_through_rate_limits(ticket) -> None:
    env = ticket.env
    await with_log_channel(env)
    await refunded(ticket)
    before = len(env.messages(ticket.channel))
    for n in range(2000):
        stored_message(ticket.channel, (env.freelancer, env.buyer)[n % 2], f"message {n}")
    env.faults.fail(routes.HISTORY, 429, times=3, retry_after=0.01)  # waited out by discord.py, page by page
    await close_by_button(ticket, env.officer)
    await env.work_effects()
    assert (await ticket_row(env)).state == "closed"
    text = (transcript_dir(env) / "transcript-ord_1.txt").read_text()
    assert "message 0" in text and "message 1999" in text and text.index("message 0") < text.index("message 1999")
    assert env.faults.count(routes.HISTORY) == 3 + (before + 2000) // 100 + 1  # 100 a page, the 429s retried


async def test_files_too_large_for_the_log_channel_are_named_instead(ticket) -> None:
    env = ticket.env
    log_channel = await with_log_channel(env)
    await refunded(ticket)
    env.faults.fail(routes.SEND_MESSAGE, 413, code=40005, message="Request entity too large")
    await close_by_button(ticket, env.officer)
    await env.work_effects()
    assert (await ticket_row(env)).state == "closed"  # not retried for ever
    (posted,) = env.messages(log_channel)
    assert "Transcript of the ticket of order ord_1" in posted["content"] and posted["attachments"] == []
    assert "`transcript-ord_1.html`, `transcript-ord_1.txt`) are too large to attach" in posted["content"]
