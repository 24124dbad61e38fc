"""A walk through every flow and refusal, captured from outside (every message, edit, DM, reply, question,
form and button label the bot sends): no internal word reaches a user, every refusal says what to do next,
and no money moves without a question naming the amount and who gets it."""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from discord.ext.test import backend
from pydantic import SecretStr
from sqlalchemy import update

from bot import create_bot
from bot.db.models import TicketRequest
from bot.db.types import utcnow
from tests.harness._server import payload_of
from tests.harness._tickets import TicketView, yes_of
from tests.harness._world import DiscordEnv
from tests.webhooks.events import event, terms

# Words that are the code's, not the people's (docs/VOCABULARY.md). Code spans (`/guarantee join order_id:…`)
# are commands people type, and are left out before looking.
INTERNAL = {
    "a name as the code spells it": r"awaiting[_ ]funding|\bfunded\b|\b[a-z]+_[a-z_]+\b",
    "an event type": r"\border\.[a-z]+|escrow\.state",
    "a version": r"\bv\d+\b|\bversion\b",
    "an arrow between states": r"→",
    "a role as the code spells it": r"\((?:officer|marketplace|outsider)\)",
    "a ticket state as the code spells it": r"\borphaned\b",
    "a second word for the payment": r"\bfunds?\b",
    "a second word for the Guarantor Officer": r"\bguarantor\b(?! Officer)",
}
# What a refusal offers instead: an action, a command, someone to ask, or when to try again.
NEXT = re.compile(
    r"\bAsk\b|\bask\b|[Rr]un `/|try again|[Cc]lick \*\*|Look at|\bWait\b|\bwait\b|\bUse\b|\bCopy\b|\bPick\b|"
    r"\bJoin\b|say so|You don't need|[Nn]othing more|Send them|\bReport\b|If you|\b[Cc]heck\b|tell them"
)


def texts_of(payload: Any) -> list[str]:
    """Every string a person can read in a message, embed, component or modal payload."""
    found: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in {"content", "title", "description", "name", "value", "label", "placeholder", "text"}:
                if isinstance(value, str):
                    found.append(value)
            elif isinstance(value, dict | list):
                found += texts_of(value)
    elif isinstance(payload, list):
        for item in payload:
            found += texts_of(item)
    return found


class Shown:
    """Everything the bot showed anyone, in order."""

    def __init__(self, env: DiscordEnv, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        http, recorder = env.bot.http, env.recorder
        send, edit, answer = http.send_message, http.edit_message, recorder.request

        async def sent(channel_id: int, *, params: Any) -> Any:
            self.texts += texts_of(payload_of(params))  # with files, the payload is part of a multipart
            return await send(channel_id, params=params)

        async def edited(channel_id: int, message_id: int, *, params: Any) -> Any:
            self.texts += texts_of(dict(params.payload or {}))
            return await edit(channel_id, message_id, params=params)

        async def answered(route: Any, session: Any = None, **kwargs: Any) -> Any:
            body = kwargs.get("payload") or {}
            for part in kwargs.get("multipart") or []:
                if part.get("name") == "payload_json":
                    body = json.loads(part["value"])
            self.texts += texts_of(body)
            return await answer(route, session, **kwargs)

        monkeypatch.setattr(http, "send_message", sent)
        monkeypatch.setattr(http, "edit_message", edited)
        monkeypatch.setattr(recorder, "request", answered)

    def internal_words(self) -> list[tuple[str, str]]:
        """(what, text) for every text that shows an internal word; user text (quoted notes) is left out."""
        found = []
        for text in self.texts:
            plain = re.sub(r"`[^`]*`", "", text)
            plain = "\n".join(line for line in plain.splitlines() if not line.startswith("> "))
            plain = re.sub(r"https?://\S+|<[@#&!:]*\d+>|<t:\d+:\w>", "", plain)
            for what, pattern in INTERNAL.items():
                if re.search(pattern, plain):
                    found.append((what, text))
        return found


class Walk:
    def __init__(self, env: DiscordEnv) -> None:
        self.env = env
        self.refusals: list[str] = []

    async def command(self, name: str, by: Any, **options: Any) -> Any:
        return await self.env.driver.command(name, by=by, channel=self.env.channel, **options)

    async def refused(self, result: Any) -> None:
        assert result.ephemeral and result.content, result
        self.refusals.append(result.content)

    async def click_refused(self, ticket: TicketView, action: str, by: Any) -> None:
        result = await ticket.click(action, by)
        assert result.modal is None and yes_of(result) is None, (action, result.content)
        await self.refused(result)

    async def close(self, ticket: TicketView, by: Any, reason: str | None = None) -> None:
        """`/guarantee close` in the ticket, its question, the yes; then the closing itself."""
        options = {"reason": reason} if reason else {}
        asked = await self.env.driver.command("guarantee close", by=by, channel=ticket.channel, options=options)
        yes = next(c for c in (asked.message.custom_ids if asked.message else []) if c.startswith("guarantee:close-"))
        await self.env.driver.click(asked, yes, by=by)
        await self.env.work_effects()

    async def money(self, ticket: TicketView, action: str, by: Any, counterpart: Any, note: str | None) -> Any:
        """A money action, through its question: it must name the amount and who gets it."""
        asked = await ticket.click(action, by)
        assert yes_of(asked) is not None and "**120.50 USD**" in asked.content, (action, asked.content)
        assert counterpart.mention in asked.content, (action, asked.content)
        answered = await ticket.answer_yes(asked, by)
        if note is None:
            return answered
        return await self.env.driver.submit_modal(answered, {"note": note}, by=by)


async def test_the_walk(discord_env: DiscordEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    env = discord_env
    shown = Shown(env, monkeypatch)
    walk = Walk(env)
    gig = "https://opentaskai.com/gigs/ord_1-logo"

    # before the agreement: a request is kept; refusals of every check
    await walk.command("guarantee open", env.freelancer, email="seller@example.com", gig_link=gig)
    await env.agree_order()
    for email, link in [
        ("someone@else.com", gig),
        ("seller@example.com", "https://evil.example/gigs/ord_1-logo"),
        ("seller@example.com", "ht!tp://not a link"),
    ]:
        await walk.refused(await walk.command("guarantee open", env.outsider, email=email, gig_link=link))
    await walk.command("guarantee open", env.freelancer, email="seller@example.com", gig_link=gig)  # exists
    await walk.refused(await walk.command("guarantee join", env.buyer, order_id="nope", email="buyer@example.com"))
    await walk.refused(await walk.command("guarantee join", env.outsider, order_id="ord_1", email="x@example.com"))
    await walk.refused(
        await walk.command("guarantee join", env.freelancer, order_id="ord_1", email="buyer@example.com")
    )
    await walk.refused(await walk.command("guarantee queue", env.buyer))
    await walk.refused(await walk.command("guarantee status", env.outsider, order_id="ord_1"))
    await walk.refused(await walk.command("guarantee setup", env.outsider, officer_role=env.officer_role))
    await walk.command("guarantee officer", env.outsider, user=env.officer)
    await walk.command("guarantee officer", env.outsider, user=env.buyer)
    ticket = await env.ticket()
    await walk.click_refused(ticket, "fund", env.officer)  # the buyer has not joined
    await walk.command("guarantee join", env.buyer, order_id="ord_1", email="buyer@example.com")
    await walk.command("guarantee join", env.buyer, order_id="ord_1", email="buyer@example.com")  # in already
    await walk.refused(await walk.command("guarantee join", env.outsider, order_id="ord_1", email="buyer@example.com"))

    # a deal to its release, with refusals for everyone who may not
    for action, who in [("fund", env.buyer), ("fund", env.outsider), ("cancel", env.freelancer), ("claim", env.buyer)]:
        await walk.click_refused(ticket, action, who)
    await ticket.click("claim", env.officer_party)
    await walk.click_refused(ticket, "take_over", env.officer_party)  # it is theirs already
    await ticket.click_and_confirm("take_over", env.officer)
    await ticket.click_and_write("fund", env.officer, "BANK-77")
    for action, who in [
        ("deliver", env.buyer),
        ("deliver", env.officer),
        ("refund", env.freelancer),
        ("dispute", env.officer),
    ]:
        await walk.click_refused(ticket, action, who)
    await ticket.click("deliver", env.freelancer)
    for action, who in [("approve", env.freelancer), ("approve", env.officer), ("release", env.buyer)]:
        await walk.click_refused(ticket, action, who)
    back = await env.driver.click(await ticket.click("release", env.officer), "guarantee:back:ord_1", by=env.officer)
    assert "Nothing was done" in back.content
    await ticket.click("approve", env.buyer)
    await walk.click_refused(ticket, "approve", env.buyer)  # approved already
    stale = copy.deepcopy(ticket.summary)
    await walk.money(ticket, "release", env.officer, env.freelancer, None)
    for action, who in [("refund", env.officer), ("dispute", env.buyer)]:  # a screen that still shows the buttons
        await walk.refused(await env.driver.click(stale, f"guarantee:{action}:ord_1", by=who))
    await walk.command("guarantee status", env.buyer, order_id="ord_1")
    await walk.command("guarantee queue", env.officer)

    # a dispute that ends in a refund; a cancellation; the marketplace's own steps and flags
    await env.agree_order("ord_2")
    link = "https://opentaskai.com/gigs/other"  # ord_2 waits for its ticket: another gig's link is a mistake
    await walk.refused(await walk.command("guarantee open", env.freelancer, email="seller@example.com", gig_link=link))
    second = await env.open_ticket_and_join("ord_2")
    await second.click_and_write("fund", env.officer, "BANK-78")
    await second.click_and_write("dispute", env.buyer, "the files are empty")
    await walk.money(second, "refund", env.officer, env.buyer, "no files arrived")
    await env.agree_order("ord_3")
    third = await env.open_ticket_and_join("ord_3")
    await walk.money(third, "cancel", env.officer, env.buyer, None)
    await env.agree_order("ord_4")
    fourth = await env.open_ticket_and_join("ord_4")
    await env.deliver(event("order.delivered", {"order_id": "ord_4", "delivered_at": "2026-11-26T10:00:00+00:00"}))
    await fourth.click_and_write("fund", env.officer, "BANK-79")
    await env.deliver(event("order.completed", {"order_id": "ord_4", "completed_at": "2026-11-27T10:00:00+00:00"}))
    await env.deliver(event("order.cancelled", {"order_id": "ord_4", "reason": "changed plans"}))
    await env.agree_order("ord_5")
    await env.open_ticket_and_join("ord_5")
    await env.deliver(event("order.cancelled", {"order_id": "ord_5", "reason": "changed plans"}))

    # closing: refused while the payment is held, to a buyer and outside a ticket; a transcript that cannot be
    # saved (the officer is told in the ticket); then closed, with a reason (the log channel, both parties)
    log_channel = backend.make_text_channel("closing-log", env.guild)
    await walk.command("guarantee setup", env.admin, officer_role=env.officer_role, log_channel=log_channel)
    await walk.refused(await env.driver.command("guarantee close", by=env.officer, channel=fourth.channel))
    await walk.refused(await env.driver.command("guarantee close", by=env.buyer, channel=second.channel))
    await walk.refused(await walk.command("guarantee close", env.officer))
    blocker = Path(env.bot.settings.data_dir) / "transcripts"  # type: ignore[attr-defined]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way")
    await walk.close(third, env.officer)
    blocker.unlink()
    await walk.close(third, env.officer)
    await walk.close(second, env.officer, reason="resolved: refunded")
    await walk.refused(await env.driver.click(ticket.summary, "guarantee:close:ord_1", by=env.freelancer))
    assert [any(what in text for text in shown.texts) for what in ("could not be saved", "Transcript of the ticket of "
            "order ord_2", "a Guarantor Officer closed the ticket")] == [True, True, True]  # fmt: skip

    # new terms before funding: a form opened on the old ones, both parties' emails changed, both verify again
    await env.agree_order("ord_6")
    sixth = await env.open_ticket_and_join("ord_6")
    opened_form = await sixth.click("fund", env.officer)
    new_terms = terms("ord_6", agreed_at="2026-11-25T11:00:00+00:00", amount="999.00", deliverables="Two logos",
                      seller={"email": "agency@example.com"}, buyer={"email": "buyer2@example.com"})  # fmt: skip
    await env.deliver(event("order.updated", new_terms))
    await walk.refused(await env.driver.submit_modal(opened_form, {"note": "BANK-81"}, by=env.officer))
    await walk.command("guarantee join", env.buyer, order_id="ord_6", email="buyer2@example.com")
    agency = env.add_member("agency", "0066")
    gig6 = new_terms["gig_url"]
    await walk.command("guarantee open", agency, email="agency@example.com", gig_link=gig6)
    await walk.command("guarantee status", agency, order_id="ord_6")

    # a request nothing arrives for, and a freelancer in a hurry
    await walk.command("guarantee open", env.outsider, email="o@example.com", gig_link="https://opentaskai.com/gigs/zz")
    async with env.bot.runtime.sessions.begin() as session:
        await session.execute(update(TicketRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    await env.bot.runtime.processor.expire_requests()
    await env.work_effects()
    for _ in range(12):
        last = await walk.command("guarantee open", env.buyer, email="b@example.com", gig_link="bad link")
    await walk.refused(last)

    assert shown.internal_words() == []
    assert [text for text in walk.refusals if not NEXT.search(text)] == []
    assert len(shown.texts) > 100 and len(walk.refusals) >= 25  # the walk saw what it claims to


async def test_the_walk_with_email_codes(make_discord_env, settings, mailbox, monkeypatch) -> None:
    """The same, with a mail server: codes asked for, mistyped, asked for too early, entered."""
    proving = settings.model_copy(update={"smtp_url": SecretStr(mailbox.url), "smtp_from": "g@example.com"})
    env = await make_discord_env(factory=lambda: create_bot(proving, serve_webhooks=False))
    shown = Shown(env, monkeypatch)
    walk = Walk(env)
    await env.agree_order()

    async def enter(asked: Any, code: str, by: Any) -> Any:
        (reply,) = [r for r in asked.followups if any(c.startswith("guarantee:code:") for c in r.custom_ids)]
        form = await env.driver.click(reply, reply.custom_ids[0], by=by)
        return await env.driver.submit_modal(form, {"code": code}, by=by)

    gig = "https://opentaskai.com/gigs/ord_1-logo"
    asked = await walk.command("guarantee open", env.freelancer, email="seller@example.com", gig_link=gig)
    await walk.refused(await walk.command("guarantee open", env.freelancer, email="seller@example.com", gig_link=gig))
    code = mailbox.mails[0].code
    await walk.refused(await enter(asked, f"{(int(code) + 1) % 10**6:06d}", env.freelancer))
    assert "is open" in (await enter(asked, code, env.freelancer)).content
    asked = await walk.command("guarantee join", env.buyer, order_id="ord_1", email="buyer@example.com")
    joined = await enter(asked, mailbox.mails[-1].code, env.buyer)
    assert "joined the ticket of order ord_1" in joined.content
    ticket = await env.ticket()

    # the freelancer's email changes before funding: whoever proves the new one with a code is the freelancer
    new_terms = terms("ord_1", agreed_at="2026-11-25T11:00:00+00:00", seller={"email": "agency@example.com"})
    await env.deliver(event("order.updated", new_terms))
    agency = env.add_member("agency", "0067")
    asked = await walk.command("guarantee open", agency, email="agency@example.com", gig_link=gig)
    assert mailbox.mails[-1].recipients == ["agency@example.com"]
    rejoined = await enter(asked, mailbox.mails[-1].code, agency)
    assert "You are now the freelancer of order ord_1" in rejoined.content, rejoined.content
    await ticket.click_and_write("fund", env.officer, "BANK-80")
    assert "marked delivered" in (await ticket.click("deliver", agency)).content

    assert shown.internal_words() == []
    assert [text for text in walk.refusals if not NEXT.search(text)] == []
