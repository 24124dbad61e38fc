"""Email proof with one-time codes (PRODUCT.md §3), against a real SMTP server: the code goes to the order's
registered address, the ticket opens (or the buyer is added) only after the right code, and every refusal is
the same whether or not an order or an address exists."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot import create_bot
from bot.db.models import EmailCode
from bot.db.types import utcnow
from bot.services.tickets import proof
from bot.services.tickets.opening import PROVE_AGAIN
from cogs.tickets import _replies
from tests.cogs.tickets.conftest import gig, ticket_channels, tickets
from tests.harness._recorder import Reply
from tests.harness._world import DiscordEnv
from tests.mailbox import Mailbox


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def env(make_discord_env, settings, mailbox: Mailbox) -> DiscordEnv:
    proving = settings.model_copy(update={"smtp_url": SecretStr(mailbox.url), "smtp_from": "g@example.com"})
    world = await make_discord_env(factory=lambda: create_bot(proving, serve_webhooks=False))
    world.clock = Clock()
    world.bot.runtime.proof.clock = world.clock
    return world


async def ask_open(env, *, email="seller@example.com", link=None, by=None):
    result = await env.driver.command(
        "guarantee open", by=by or env.freelancer, channel=env.channel, email=email, gig_link=link or gig()
    )
    return result


async def ask_join(env, *, email="buyer@example.com", order_id="ord_1", by=None):
    return await env.driver.command(
        "guarantee join", by=by or env.buyer, channel=env.channel, order_id=order_id, email=email
    )


def code_button(result) -> tuple[Reply, str]:
    (reply,) = [r for r in result.followups if any(c.startswith("guarantee:code:") for c in r.custom_ids)]
    (custom_id,) = reply.custom_ids
    return reply, custom_id


async def enter(env, result, code: str, *, by=None):
    reply, custom_id = code_button(result)
    shown = await env.driver.click(reply, custom_id, by=by or env.freelancer)
    assert shown.modal is not None and shown.modal["title"] == _replies.CODE_FORM_TITLE
    return await env.driver.submit_modal(shown, {"code": code}, by=by or env.freelancer)


async def codes(env) -> list[EmailCode]:
    async with env.bot.runtime.sessions() as session:
        return list((await session.scalars(select(EmailCode).order_by(EmailCode.id))).all())


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_the_code_goes_to_the_registered_address_and_opens_the_ticket(env, mailbox):
    await env.agree_order()
    asked = await ask_open(env, email="  SELLER@example.com ")
    assert asked.ephemeral and _replies.CODE_SENT_OPEN in asked.texts
    assert await tickets(env) == [] and ticket_channels(env) == []
    (mail,) = mailbox.mails
    assert mail.recipients == ["seller@example.com"] and "ord_1" in mail.message["Subject"]
    (row,) = await codes(env)
    assert mail.code not in (row.code_hash, row.salt) and len(row.code_hash) == 64  # only a salted hash is kept
    done = await enter(env, asked, mail.code)
    assert "is open" in done.content
    (channel,) = ticket_channels(env)
    summary = str(env.messages(channel)[0]["embeds"])
    assert "Freelancer's email proven with a one-time code" in summary and "not proven" not in summary


async def test_the_code_goes_to_the_order_address_never_the_typed_one(env, mailbox):
    await env.agree_order(seller={"email": "real.seller@example.com", "name": "Sam"})
    await ask_open(env, email="REAL.seller@example.com")
    assert [m.recipients for m in mailbox.mails] == [["real.seller@example.com"]]


async def test_wrong_email_unknown_gig_and_right_email_answer_alike(env, mailbox):
    await env.agree_order()
    right = await ask_open(env)
    wrong_email = await ask_open(env, email="attacker@example.com", by=env.outsider)
    unknown = await ask_open(env, link=gig("ord_404"), by=env.buyer)
    assert right.texts == wrong_email.texts == unknown.texts == [_replies.CODE_SENT_OPEN]
    assert [m.recipients for m in mailbox.mails] == [["seller@example.com"]]  # only the real one was mailed
    # A code for a request that matched nothing fails exactly as a wrong one does.
    assert (await enter(env, wrong_email, "123456", by=env.outsider)).content == proof.WRONG.format(left=4)
    assert (await enter(env, right, wrong(mailbox.mails[0].code))).content == proof.WRONG.format(left=4)


async def test_five_wrong_tries_spend_the_code(env, mailbox):
    await env.agree_order()
    asked = await ask_open(env)
    code = mailbox.mails[0].code
    answers = [(await enter(env, asked, wrong(code))).content for _ in range(5)]
    assert answers == [proof.WRONG.format(left=n) for n in (4, 3, 2, 1)] + [proof.LAST_TRY]
    assert (await enter(env, asked, code)).content == proof.SPENT
    assert await tickets(env) == []


async def test_an_expired_code_opens_nothing(env, mailbox):
    await env.agree_order()
    asked = await ask_open(env)
    env.clock.advance(minutes=10)
    assert (await enter(env, asked, mailbox.mails[0].code)).content == proof.EXPIRED
    assert await tickets(env) == []


async def test_a_used_code_cannot_be_replayed(env, mailbox):
    await env.agree_order()
    asked = await ask_open(env)
    code = mailbox.mails[0].code
    assert "is open" in (await enter(env, asked, code)).content
    assert (await enter(env, asked, code)).content == proof.USED
    assert len(await tickets(env)) == 1


async def test_a_new_code_only_after_a_minute_and_it_replaces_the_old_one(env, mailbox):
    await env.agree_order()
    first = await ask_open(env)
    env.clock.advance(seconds=30)
    early = await ask_open(env)
    when = f"<t:{int((env.clock.now + timedelta(seconds=30)).timestamp())}:R>"  # when, in the reader's own words
    assert early.content == proof.TOO_EARLY.format(when=when) and len(mailbox.mails) == 1
    env.clock.advance(seconds=31)
    second = await ask_open(env)
    old, new = (m.code for m in mailbox.mails)
    assert len(await codes(env)) == 1  # one live code per person and order
    assert (await enter(env, first, old)).content == proof.NOT_YOURS  # the old button's code is gone
    assert "is open" in (await enter(env, second, new)).content


async def test_someone_elses_code_does_not_work(env, mailbox):
    await env.agree_order()
    await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com", gig_link=gig()
    )
    freelancer_code = mailbox.mails[-1].code
    # Someone who knows the seller's email asks too: a code goes to the seller, not to them.
    intruder = await ask_open(env, by=env.outsider)
    assert mailbox.mails[-1].recipients == ["seller@example.com"]
    assert (await enter(env, intruder, freelancer_code, by=env.outsider)).content.startswith("That code is not right")
    assert await tickets(env) == []


async def test_the_mail_server_down_is_said_plainly_and_a_retry_works(env, mailbox):
    await env.agree_order()
    mailbox.stop()
    down = await ask_open(env)
    assert down.ephemeral and down.content == proof.MAIL_DOWN and code_button_missing(down)
    assert await codes(env) == [] and await tickets(env) == []
    mailbox.start()
    again = await ask_open(env)  # no wait: nothing was stored
    assert "is open" in (await enter(env, again, mailbox.mails[0].code)).content


def code_button_missing(result) -> bool:
    return not any(c.startswith("guarantee:code:") for r in result.followups for c in r.custom_ids)


async def test_the_buyer_joins_with_a_code_sent_to_the_buyer_address(env, mailbox):
    await env.agree_order()
    opened = await ask_open(env)
    await enter(env, opened, mailbox.mails[0].code)
    unknown = await ask_join(env, order_id="nope", by=env.outsider)
    asked = await ask_join(env, email="Buyer@Example.com")
    assert asked.texts == unknown.texts == [_replies.CODE_SENT_JOIN]
    (mail,) = mailbox.to("buyer@example.com")
    joined = await enter(env, asked, mail.code, by=env.buyer)
    assert "joined the ticket of order ord_1" in joined.content
    (channel,) = ticket_channels(env)
    assert channel.permissions_for(env.buyer).view_channel
    assert env.messages(channel)[-1]["content"].endswith(
        "joined as the buyer: their email was proven with a one-time code."
    )
    assert "Buyer's email proven with a one-time code" in str(env.messages(channel)[0]["embeds"])


async def test_a_request_kept_before_the_order_asks_for_a_code_when_it_arrives(env, mailbox):
    early = await ask_open(env)
    assert early.texts == [_replies.CODE_SENT_OPEN] and mailbox.mails == []
    await env.agree_order()
    assert await tickets(env) == []  # no ticket without the code
    dm = env.messages(await env.driver.dm_channel(env.freelancer))
    (told,) = [m["content"] for m in dm]  # in the frame of every DM: where it comes from, that it is automatic
    assert told.endswith(PROVE_AGAIN) and "Automatic notice" in told and "never ask for money in DMs" in told
    env.clock.advance(minutes=1)  # the first request's code (one nobody got) is a minute old
    asked = await ask_open(env)
    assert "is open" in (await enter(env, asked, mailbox.mails[0].code)).content


async def test_failed_checks_lock_a_person_out_for_an_hour(env, mailbox):
    await env.agree_order()
    for n in range(proof.PERSON_LIMIT // 2):  # half with each command (each has its own per-minute cooldown)
        await ask_join(env, order_id=f"guess{n}", by=env.outsider)
        await ask_open(env, email=f"guess{n}@example.com", link=gig(f"guess{n}"), by=env.outsider)
    assert (await ask_join(env, by=env.outsider)).content == proof.LOCKED_PERSON
    assert mailbox.mails == []
    assert (await ask_join(env)).texts == [_replies.CODE_SENT_JOIN]  # others are not locked out
    env.clock.advance(hours=1, seconds=1)
    assert (await ask_join(env, by=env.outsider)).texts == [_replies.CODE_SENT_JOIN]


async def fail_on(env, order_id: str, times: int) -> None:
    """`times` wrong emails for `order_id`, from as many people as the per-person limit needs."""
    people = [env.add_member(f"guesser{order_id}{n}", f"{n + 100:04}") for n in range(times // 5 + 1)]
    for n in range(times):
        await ask_join(env, order_id=order_id, email=f"guess{n}@example.com", by=people[n // 5])
        env.clock.advance(seconds=61)


async def test_an_order_is_locked_after_too_many_failures_and_the_officers_are_told(env, mailbox, sent):
    log = await env.guild.create_text_channel("guarantor-log")
    await env.driver.command(
        "guarantee setup", by=env.admin, channel=env.channel, officer_role=env.officer_role, log_channel=log
    )
    await env.agree_order()
    await fail_on(env, "ord_1", proof.SUBJECT_LIMIT)
    (notice,) = [payload for channel_id, payload in sent if channel_id == log.id]
    assert notice["content"].startswith(f"{env.officer_role.mention} ⚠️ Email checks for order ord_1 are locked")
    assert notice["allowed_mentions"] == {"parse": [], "roles": [env.officer_role.id]}
    # Now even the buyer with the right email is refused, and so is an order id that does not exist, alike.
    locked = await ask_join(env)
    assert locked.content == proof.LOCKED_SUBJECT and mailbox.mails == []
    await fail_on(env, "no_such_order", proof.SUBJECT_LIMIT)
    assert (await ask_join(env, order_id="no_such_order")).content == locked.content
    env.clock.advance(hours=1, seconds=1)
    assert (await ask_join(env)).texts == [_replies.CODE_SENT_JOIN]


async def test_wrong_codes_count_toward_the_order_lock(env, mailbox):
    await env.agree_order()
    people = [env.add_member(f"p{n}", f"{n + 200:04}") for n in range(4)]
    for person in people:
        asked = await ask_join(env, by=person)  # each knows the buyer's email: a code goes to the buyer
        for _ in range(4):
            await enter(env, asked, "000000", by=person)
    assert (await ask_join(env)).content == proof.LOCKED_SUBJECT  # 16 wrong codes ≥ 15


async def test_a_code_mailed_to_the_old_address_is_void_once_the_terms_change_that_email(env, mailbox):
    from tests.webhooks.events import event, terms

    await env.agree_order()
    opened = await enter(env, await ask_open(env), mailbox.mails[-1].code)
    assert "is open" in opened.content
    asked = await ask_join(env)  # a code to the buyer's address as it was
    old_code = mailbox.mails[-1].code
    later = terms("ord_1", agreed_at="2026-11-25T11:00:00+00:00", buyer={"email": "new.buyer@example.com"})
    await env.deliver(event("order.updated", later))
    refused = await enter(env, asked, old_code, by=env.buyer)
    assert refused.content == proof.EXPIRED
    assert (await tickets(env))[0].buyer_id is None

    env.clock.advance(seconds=61)  # a new code may be asked for
    asked = await ask_join(env, email="new.buyer@example.com")
    assert mailbox.mails[-1].recipients == ["new.buyer@example.com"]
    joined = await enter(env, asked, mailbox.mails[-1].code, by=env.buyer)
    assert "joined the ticket of order ord_1" in joined.content, joined.content
