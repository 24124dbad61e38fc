"""Orders and tickets as a Discord test meets them.

`Marketplace` posts signed marketplace events to the bot's real webhook app (its own intake and
verifier) and then works the stored events in the test's own task, so each step is deterministic.
`TicketView` is an order's ticket channel as the people in it see it: the summary (the channel's
FIRST message, which keeps the escrow buttons), the status lines after it, and the escrow state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.db.models import AuditEntry, Escrow, Order, Ticket
from bot.services.vocabulary import state_of_words
from tests.harness._recorder import InteractionResult
from tests.webhooks.events import agreed, dumps, signed_headers
from webhooks import create_app

if TYPE_CHECKING:
    from tests.harness._world import DiscordEnv

JsonDict = dict[str, Any]
ESCROW_FIELD = "Escrow"  # the summary embed's field that shows the escrow state


def escrow_field(embed: JsonDict | discord.Embed) -> str:
    """The Escrow field's value of a ticket summary or `/guarantee status` embed (raw dict or `discord.Embed`)."""
    data = embed.to_dict() if isinstance(embed, discord.Embed) else embed
    return next(str(f["value"]) for f in data.get("fields", []) if f["name"] == ESCROW_FIELD)


def shown_escrow_state(embed: JsonDict | discord.Embed) -> str:
    """The escrow state an embed shows, as the database spells it: "awaiting_funding", "refunded", ...
    (the embed says it in words: "Waiting for payment", "Refunded to the buyer", ...)."""
    return state_of_words(escrow_field(embed).split(" · ")[0])


YES = "guarantee:yes:"  # the custom ids of a question's **Yes** button
BACK = "guarantee:back:"  # ... and of its **No, go back**


def yes_of(result: InteractionResult) -> str | None:
    """The custom id of the **Yes** of the question a result shows, if it shows one."""
    return next((cid for cid in (result.message.custom_ids if result.message else []) if cid.startswith(YES)), None)


class Marketplace:
    """The marketplace's side: signed webhooks in, worked by the bot before `deliver` returns."""

    def __init__(self, env: DiscordEnv) -> None:
        self._env = env
        self._client: TestClient[Any, Any] | None = None
        self._runtime: Any = None

    async def deliver(self, document: JsonDict | None = None, **changes: Any) -> None:
        """POST `document` (default: `order.agreed` for ord_1 with `changes`), expect 202, then work it."""
        body = dumps(document or agreed(**changes))
        client = await self._client_for(self._env.bot.runtime)  # type: ignore[attr-defined]
        response = await client.post("/webhooks/marketplace", data=body, headers=signed_headers(body))
        assert response.status == 202, await response.text()
        await self.work()

    async def work(self) -> None:
        """Work every due stored event, then the Discord effects they left, as the bot's workers would."""
        while await self._env.bot.runtime.processor.process_due():  # type: ignore[attr-defined]
            pass
        await self.work_effects()

    async def work_effects(self) -> None:
        await self._env.driver.settle()
        while await self._env.bot.runtime.effects.work():  # type: ignore[attr-defined]
            await self._env.driver.settle()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _client_for(self, runtime: Any) -> TestClient[Any, Any]:
        if self._client is None or self._runtime is not runtime:  # a restarted bot has a new runtime
            await self.close()
            app = create_app(intake=runtime.intake, verifier=runtime.verifier, health=runtime, metrics=runtime.metrics)
            self._client, self._runtime = TestClient(TestServer(app)), runtime
            await self._client.start_server()
        return self._client


class TicketView:
    """An order's ticket channel: `summary` (raw dict of the first message), buttons, lines, escrow state."""

    def __init__(self, env: DiscordEnv, channel: Any, order_id: str) -> None:
        self.env, self.channel, self.order_id = env, channel, order_id

    @property
    def summary(self) -> JsonDict:
        """The channel's first message: terms, checks, the Escrow field, and the escrow buttons."""
        return self.env.messages(self.channel)[0]

    def buttons(self) -> list[str]:
        """Custom ids of the summary's buttons, in order (only **Close ticket** once the escrow is terminal)."""
        return [c["custom_id"] for row in self.summary.get("components", []) for c in row["components"]]

    def escrow_field(self) -> str:
        """The summary's Escrow field as shown, e.g. "Work delivered · buyer approved the work"."""
        return escrow_field(self.summary["embeds"][0])

    def field(self, name: str) -> str:
        """A field of the summary by name ("Buyer", "Guarantor Officer", ...)."""
        return next(str(f["value"]) for f in self.summary["embeds"][0].get("fields", []) if f["name"] == name)

    def next_step(self) -> str:
        """The summary's first block: who acts next and how (its embed's description)."""
        return str(self.summary["embeds"][0].get("description") or "")

    def summary_state(self) -> str:
        """The escrow state the summary shows, exactly ("refunded" is never mistaken for "funded")."""
        return shown_escrow_state(self.summary["embeds"][0])

    def lines(self) -> list[str]:
        """The content of every message after the summary (one line per change, joins, flags)."""
        return [m["content"] for m in self.env.messages(self.channel)[1:]]

    async def click(self, action: str, by: Any, order_id: str | None = None) -> InteractionResult:
        """Click `guarantee:<action>:<order_id>` on the summary as `by`."""
        return await self.env.driver.click(self.summary, f"guarantee:{action}:{order_id or self.order_id}", by=by)

    async def click_and_write(self, action: str, by: Any, note: str, order_id: str | None = None) -> InteractionResult:
        """Click an action that asks for a note, and submit the form with `note` (input custom id "note"). An
        action that asks "are you sure?" first (release, refund) is answered yes on the way."""
        shown = await self.click(action, by, order_id)
        if shown.modal is None and yes_of(shown) is not None:
            shown = await self.answer_yes(shown, by)
        assert shown.modal is not None, shown.content
        return await self.env.driver.submit_modal(shown, {"note": note}, by=by)

    async def click_and_confirm(self, action: str, by: Any, order_id: str | None = None) -> InteractionResult:
        """Click an action that asks "are you sure?" first (release, refund, cancel, take over), and say yes."""
        asked = await self.click(action, by, order_id)
        assert asked.modal is None and yes_of(asked) is not None, asked.content
        return await self.answer_yes(asked, by)

    async def answer_yes(self, asked: InteractionResult, by: Any) -> InteractionResult:
        """Click the **Yes** of a question the bot asked (`asked`: the click that asked it)."""
        yes = yes_of(asked)
        assert yes is not None, f"no question was asked: {asked.content!r}"
        return await self.env.driver.click(asked, yes, by=by)

    async def escrow(self, order_id: str | None = None) -> Escrow:
        """The escrow row in the database."""
        async with self.env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
            query = select(Escrow).where(Escrow.order_id == (order_id or self.order_id))  # type: ignore[arg-type]
            return (await session.scalars(query)).one()

    async def escrow_state(self) -> str:
        """The escrow state in the database ("funded", "refunded", ...)."""
        return str((await self.escrow()).state)

    async def audit(self) -> list[AuditEntry]:
        async with self.env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
            return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())  # type: ignore[arg-type]


async def find_ticket(env: DiscordEnv, order_id: str = "ord_1") -> TicketView:
    """The open ticket of `order_id`, found by the channel id its database row records."""
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        row = (await session.scalars(select(Ticket).where(Ticket.order_id == order_id))).one_or_none()  # type: ignore[arg-type]
    if row is None or row.channel_id is None:
        raise LookupError(f"order {order_id} has no ticket channel (state: {row and row.state})")
    channel = env.bot.get_channel(row.channel_id)
    if channel is None:
        raise LookupError(f"the ticket channel {row.channel_id} of order {order_id} is gone")
    return TicketView(env, channel, order_id)


async def open_and_join(env: DiscordEnv, order_id: str, *, freelancer: Any = None, buyer: Any = None) -> TicketView:
    """`/guarantee open` by the freelancer, then `/guarantee join` by the buyer, with the order's agreed terms."""
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        order = await session.get(Order, order_id)
    if order is None:
        raise LookupError(f"no agreed order {order_id}: `await env.agree_order({order_id!r})` first")
    opened = await env.driver.command(
        "guarantee open", by=freelancer or env.freelancer, channel=env.channel,
        email=order.seller_email, gig_link=order.gig_url,
    )  # fmt: skip
    assert "is open" in opened.content or "already has" in opened.content, opened.content
    joined = await env.driver.command(
        "guarantee join", by=buyer or env.buyer, channel=env.channel, order_id=order_id, email=order.buyer_email
    )
    assert "joined" in joined.content, joined.content
    return await find_ticket(env, order_id)
