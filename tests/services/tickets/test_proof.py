"""EmailProof on its own: codes mailed through a real SMTP server, checked per person, hashed at rest."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import EmailCode, ProofFailure
from bot.mail import SmtpMailer
from bot.services.tickets import proof
from bot.services.tickets.proof import EmailProof, ProofError, Purpose
from bot.settings import parse_smtp_url
from tests.mailbox import Mailbox


@pytest.fixture
def emails(sessions, mailbox: Mailbox) -> EmailProof:
    return EmailProof(sessions, SmtpMailer(parse_smtp_url(mailbox.url), "g@example.com"))


async def send(emails: EmailProof, user_id: int = 7, to: str | None = "buyer@example.com") -> proof.CodeSent:
    return await emails.send_code(
        purpose=Purpose.JOIN, user_id=user_id, guild_id=1, channel_id=None, subject="order:ord_1",
        order_id="ord_1", to=to,
    )  # fmt: skip


async def test_the_right_code_is_redeemed_once_by_its_owner(sessions, emails, mailbox):
    sent = await send(emails)
    code = mailbox.mails[0].code
    with pytest.raises(ProofError, match="not right"):  # the token of someone else's code
        await emails.redeem(token=sent.token, user_id=8, code=code)
    redeemed = await emails.redeem(token=sent.token, user_id=7, code=f" {code[:3]} {code[3:]} ")
    assert (redeemed.purpose, redeemed.order_id, redeemed.user_id, redeemed.guild_id) == (Purpose.JOIN, "ord_1", 7, 1)
    with pytest.raises(ProofError, match="already used"):
        await emails.redeem(token=sent.token, user_id=7, code=code)
    async with sessions() as session:
        (row,) = (await session.scalars(select(EmailCode))).all()
        failures = (await session.scalars(select(ProofFailure))).all()
    assert code not in row.code_hash and row.attempts == 1 and row.used_at is not None
    assert [(f.user_id, f.subject) for f in failures] == [(8, "user:8")]


async def test_a_code_nobody_was_sent_is_never_right(sessions, emails, mailbox):
    sent = await send(emails, to=None)
    assert mailbox.mails == []
    async with sessions() as session:
        (row,) = (await session.scalars(select(EmailCode))).all()
    assert row.order_id is None
    with pytest.raises(ProofError, match="4 tries left"):
        await emails.redeem(token=sent.token, user_id=7, code="000000")
