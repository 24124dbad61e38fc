"""The mail side of email proof: `Mailer` (bot.services.tickets.proof) implemented with aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from bot.settings import SmtpServer

TIMEOUT_SECONDS = 15.0


class SmtpMailer:
    """One connection per mail (codes are rare): `smtps` is TLS from the start, `smtp` upgrades with STARTTLS
    when the server offers it; with a user name it logs in."""

    def __init__(self, server: SmtpServer, sender: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._server = server
        self._sender = sender
        self._timeout = timeout

    async def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        server = self._server
        await aiosmtplib.send(
            message,
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.tls,
            start_tls=False if server.tls else None,
            timeout=self._timeout,
        )
