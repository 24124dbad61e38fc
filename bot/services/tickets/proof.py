"""Email proof (PRODUCT.md §3): one-time codes mailed to the address the marketplace registered for the order,
and the limits on failed checks.

With a mail server (`SMTP_URL`), a matching email only earns a 6-digit code, mailed to the order's own
address (never the one typed); the ticket opens, or the buyer is added, once the code is entered. A code is
valid 10 minutes and for 5 tries, kept only as a salted scrypt hash, one per person and subject (the seller
side of a gig, the buyer side of an order id), and a new one may be asked for after 60 seconds.

Refusals never tell whether an address or an order exists: a request that matched nothing gets a code row
too (no order, a code nobody was sent), so every answer, try count, expiry and wait is the same either way.
Failed checks (emails that did not match, wrong codes) are counted per person and per subject; past the
limits both are refused for a while, and a subject that reaches its limit is announced to the officers in
the server's log channel (an outbox effect). Nothing here imports discord; mail goes through the `Mailer` port.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import EmailCode
from bot.db.repos import proofs as repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.errors import ConflictError, GuaranteeError, error_text
from bot.services.guilds import config_of
from bot.services.outbox import Effect, Kind, held_until
from bot.services.vocabulary import OFFICER, OFFICERS, relative_time

log = logging.getLogger(__name__)

CODE_VALID = timedelta(minutes=10)
RESEND_AFTER = timedelta(seconds=60)
TRIES = 5
WINDOW = timedelta(hours=1)  # failed checks count this long
PERSON_LIMIT = 10  # failed checks of one person in the window, any subject
SUBJECT_LIMIT = 15  # failed checks about one subject in the window, anyone's
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}

# ---- what people are told (one place, to be reworded freely) --------------------------------------------------
LOCKED_PERSON = (
    f"Too many failed checks from your account in the last hour. Try again in an hour, or ask a {OFFICER} in "
    "this server."
)
LOCKED_SUBJECT = (
    f"Too many failed checks for this order in the last hour, so I stopped checking it for now and told the "
    f"{OFFICERS}. Try again in an hour, or ask a {OFFICER} in this server."
)
TOO_EARLY = "I sent a code less than a minute ago: check your mail (and its spam folder). Ask again {when}."
WRONG = "That code is not right: check the email and type the code again ({left} tries left)."
LAST_TRY = "That code is not right, and that was its last try. Ask for a new code with the same command."
SPENT = "This code has no tries left. Ask for a new code with the same command."
EXPIRED = "This code has expired (a code is valid for 10 minutes). Ask for a new one with the same command."
USED = "This code was already used. Ask for a new one with the same command if you need to."
NOT_YOURS = "That code is not right. Ask for a new code with the same command."
MAIL_DOWN = (
    "I could not send the code email just now (the mail server did not answer). Nothing was changed: "
    "please try again in a minute."
)
MAIL_SUBJECT = "Your Guarantor code for order {order_id}"
MAIL_BODY = (
    "Your one-time code is {code}\n\n"
    "Enter it with the Enter code button in Discord to {what} order {order_id}. It is valid for 10 minutes.\n\n"
    "If you did not ask for it, ignore this email: someone typed your address in the marketplace's Discord "
    "server, and without this code they get nowhere. Officers never ask you for this code."
)
LOCKED_NOTICE = (
    "⚠️ Email checks for {label} are locked for an hour: {count} failed checks in the last hour, the last by "
    "<@{user_id}>. If this is not a party mistyping, someone may be trying to take the order over."
)


class Purpose(StrEnum):
    OPEN = "open"  # the freelancer's /guarantee open: the seller email of the gig's order
    JOIN = "join"  # the buyer's /guarantee join: the buyer email of the order


class ProofError(GuaranteeError):
    """A check or code refused; the text says what to do, never whether an order or address exists."""


class MailUnavailableError(GuaranteeError):
    def __init__(self) -> None:
        super().__init__(MAIL_DOWN)


class Mailer(Protocol):
    """Sends one plain-text email (implemented with aiosmtplib in `bot.mail`); raises when it could not."""

    async def send(self, *, to: str, subject: str, body: str) -> None: ...


class HeldEffects(Protocol):
    async def run_now(self, effect_ids: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class CodeSent:
    """The uniform answer: if anything matched, a code was mailed; `token` is what the Enter code button carries."""

    token: str
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class Redeemed:
    """The right code: the person proved the order's email for `purpose`, asked in this server and channel."""

    purpose: Purpose
    order_id: str
    user_id: int
    guild_id: int
    channel_id: int | None


def gig_subject(gig_key: str) -> str:
    return "gig:" + hashlib.sha256(gig_key.encode()).hexdigest()[:40]


def order_subject(order_id: str) -> str:
    return f"order:{order_id}"


async def _hash(code: str, salt: bytes) -> str:
    """scrypt in a thread: it is meant to be slow (a stolen hash must not give the code away)."""
    digest = await asyncio.to_thread(hashlib.scrypt, code.encode(), salt=salt, **SCRYPT)
    return digest.hex()


class EmailProof:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mailer: Mailer | None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._mailer = mailer
        self.clock = clock
        self.effects: HeldEffects | None = None  # does the lock notices right after they are written

    @property
    def enabled(self) -> bool:
        """Codes are mailed (SMTP_URL set); otherwise emails are compared, not proven."""
        return self._mailer is not None

    # ---- limits -------------------------------------------------------------------------------------------
    async def check_limits(self, session: AsyncSession, *, user_id: int, subject: str) -> None:
        since = self.clock() - WINDOW
        person, about = await repo.failures(session=session, since=since, user_id=user_id, subject=subject)
        if person >= PERSON_LIMIT:
            raise ProofError(LOCKED_PERSON)
        if about >= SUBJECT_LIMIT:
            raise ProofError(LOCKED_SUBJECT)

    async def failed(self, *, user_id: int, subject: str, guild_id: int, label: str) -> None:
        """Count a failed check (in its own transaction); the one that reaches the subject's limit tells the
        officers in the server's log channel."""
        async with self._sessions.begin() as session:
            held = await self._count_failure(session, user_id=user_id, subject=subject, guild_id=guild_id, label=label)
        if held and self.effects is not None:
            await self.effects.run_now(held)

    async def _count_failure(
        self, session: AsyncSession, *, user_id: int, subject: str, guild_id: int, label: str
    ) -> list[int]:
        now = self.clock()
        await repo.forget_failures(session=session, before=now - WINDOW)
        await repo.add_failure(session=session, user_id=user_id, subject=subject, at=now)
        _person, count = await repo.failures(session=session, since=now - WINDOW, user_id=user_id, subject=subject)
        if count != SUBJECT_LIMIT:
            return []
        log.warning("email checks for %s locked after %d failures in the last hour", label, count)
        config = await config_of(session, guild_id)
        if config is None or config.log_channel_id is None:
            log.warning("server %s has no log channel (/guarantee setup): the lock is not announced", guild_id)
            return []
        payload = {
            "guild_id": guild_id,
            "channel_id": config.log_channel_id,
            "officer_role_id": config.officer_role_id,
            "text": LOCKED_NOTICE.format(label=label, count=count, user_id=user_id),
        }
        key = f"locked:{subject}:{now.isoformat()}"
        return await outbox.write(session, [Effect(subject[:64], Kind.LOG_POST, key, payload, held_until(now))])

    # ---- codes --------------------------------------------------------------------------------------------
    async def send_code(
        self, *, purpose: Purpose, user_id: int, guild_id: int, channel_id: int | None, subject: str,
        order_id: str | None, to: str | None,
    ) -> CodeSent:  # fmt: skip
        """Mail a new code to `to` (the order's registered address) for `order_id`; with `to` None (nothing
        matched) store a code nobody gets. Refused while the person's last code is under a minute old. The code is
        stored only once the mail went out: a mail server that is down leaves nothing behind."""
        now = self.clock()
        async with self._sessions() as session:
            existing = await repo.code_of(session=session, user_id=user_id, subject=subject)
        if existing is not None and existing.used_at is None and now < existing.resend_at:
            raise ProofError(TOO_EARLY.format(when=relative_time(existing.resend_at)))
        code = f"{secrets.randbelow(10**6):06d}"
        salt = secrets.token_bytes(16)
        if to is not None and order_id is not None:
            await self._mail(to, code, order_id, purpose)
        values: dict[str, Any] = {
            "token": secrets.token_urlsafe(24), "purpose": purpose.value, "order_id": order_id if to else None,
            "guild_id": guild_id, "channel_id": channel_id, "code_hash": await _hash(code, salt), "salt": salt.hex(),
            "attempts": 0, "created_at": now, "expires_at": now + CODE_VALID, "resend_at": now + RESEND_AFTER,
            "used_at": None,
        }  # fmt: skip
        try:
            async with self._sessions.begin() as session:
                if existing is None:
                    session.add(EmailCode(user_id=user_id, subject=subject, **values))
                    await session.flush()
                elif not await repo.replace(
                    session=session, code_id=int(existing.id or 0), seen_token=existing.token, values=values
                ):
                    raise ConflictError("You asked for two codes at once; use the newest one, or ask again.")
        except IntegrityError:
            raise ConflictError("You asked for two codes at once; use the newest one, or ask again.") from None
        return CodeSent(str(values["token"]), purpose)

    async def _mail(self, to: str, code: str, order_id: str, purpose: Purpose) -> None:
        assert self._mailer is not None
        what = "open the guarantee ticket of" if purpose is Purpose.OPEN else "join the guarantee ticket of"
        try:
            await self._mailer.send(
                to=to,
                subject=MAIL_SUBJECT.format(order_id=order_id),
                body=MAIL_BODY.format(code=code, what=what, order_id=order_id),
            )
        except Exception as exc:
            log.warning("the code email for order %s could not be sent: %s", order_id, error_text(exc))
            raise MailUnavailableError() from None

    async def redeem(self, *, token: str, user_id: int, code: str) -> Redeemed:
        """Check a code typed into the Enter code form; the right one is used up at once (never twice)."""
        now = self.clock()
        async with self._sessions() as session:
            row = await repo.by_token(session=session, token=token)
            await self.check_limits(session, user_id=user_id, subject=row.subject if row else f"user:{user_id}")
        if row is None or row.user_id != user_id:
            await self.failed(user_id=user_id, subject=f"user:{user_id}", guild_id=0, label="a code")
            raise ProofError(NOT_YOURS)
        if row.used_at is not None:
            raise ProofError(USED)
        if now >= row.expires_at:
            raise ProofError(EXPIRED)
        if row.attempts >= TRIES:
            raise ProofError(SPENT)
        typed = "".join(code.split())
        right = row.order_id is not None and hmac.compare_digest(
            await _hash(typed, bytes.fromhex(row.salt)), row.code_hash
        )
        async with self._sessions.begin() as session:
            if not await repo.count_try(
                session=session, code_id=int(row.id or 0), attempts=row.attempts, used_at=now if right else None
            ):
                raise ConflictError("That code is being checked right now; look at your other answer.")
            held = [] if right else await self._count_failure(
                session, user_id=user_id, subject=row.subject, guild_id=row.guild_id, label=_label(row)
            )  # fmt: skip
        if held and self.effects is not None:
            await self.effects.run_now(held)
        if not right:
            left = TRIES - row.attempts - 1
            raise ProofError(WRONG.format(left=left) if left > 0 else LAST_TRY)
        assert row.order_id is not None
        return Redeemed(Purpose(row.purpose), row.order_id, user_id, row.guild_id, row.channel_id)


def _label(row: EmailCode) -> str:
    return f"order {row.order_id}" if row.order_id else "a request that matched no order"
