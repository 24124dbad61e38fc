"""The aiosmtplib mailer against a real SMTP server (aiosmtpd): it logs in and sends, or raises."""

from __future__ import annotations

import aiosmtplib
import pytest

from bot.mail import SmtpMailer
from bot.settings import parse_smtp_url
from tests.mailbox import Mailbox

SENDER = "Guarantor <guarantor@example.com>"


async def test_the_mailer_logs_in_and_sends(mailbox: Mailbox) -> None:
    mailer = SmtpMailer(parse_smtp_url(mailbox.url), SENDER)
    await mailer.send(to="seller@example.com", subject="Hi", body="Your code is 123456")
    (mail,) = mailbox.mails
    assert mail.recipients == ["seller@example.com"] and mail.code == "123456" and mailbox.logins == ["guarantor"]
    assert mail.message["From"] == SENDER and mail.message["Subject"] == "Hi"


async def test_a_server_that_is_down_raises(mailbox: Mailbox) -> None:
    mailbox.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await SmtpMailer(parse_smtp_url(mailbox.url), SENDER, timeout=2).send(to="a@example.com", subject="x", body="y")
    assert mailbox.mails == []
