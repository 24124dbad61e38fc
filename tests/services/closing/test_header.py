"""A transcript's header comes from the database: terms with emails masked, parties, officer, audit trail."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update

from bot.db.models import AuditEntry
from bot.services.closing.header import NoTicketError, load_header
from tests.services.closing.world import BUYER, FREELANCER, OFFICER, closed_ticket


async def test_header_holds_terms_parties_officer_and_the_audit_trail(sessions) -> None:
    await closed_ticket(sessions, "ord_h")
    header = await load_header(sessions, order_id="ord_h", names={FREELANCER: "Sam", OFFICER: "Olga"})
    assert (header.order_id, header.guild_id, header.escrow_state) == ("ord_h", 900, "refunded")
    assert (header.terms.amount, header.terms.currency) == (Decimal("120.50"), "USD")
    assert header.terms.deliverables == "A logo; send drafts to s***@e***.com"
    assert (header.freelancer.discord_id, header.freelancer.name, header.freelancer.email) == (
        FREELANCER, "Sam", "s***@e***.com",
    )  # fmt: skip
    assert header.buyer is not None and (header.buyer.name, header.buyer.email) == (f"user {BUYER}", "b***@e***.com")
    assert header.officer is not None and (header.officer.discord_id, header.officer.name) == (OFFICER, "Olga")
    assert [(line.action, line.from_state, line.to_state, line.actor) for line in header.audit] == [
        ("fund", "awaiting_funding", "funded", str(OFFICER)),
        ("deliver", "funded", "delivered", "marketplace"),
        ("refund", "delivered", "refunded", str(OFFICER)),
    ]
    assert header.audit[0].note == "payment reference PAY-1"
    assert header.audit[2].note == "refunded: the buyer changed plans; write to b***@e***.com"


async def test_a_purged_note_reads_as_purged(sessions) -> None:
    await closed_ticket(sessions, "ord_p")
    async with sessions.begin() as session:
        await session.execute(update(AuditEntry).values(note=None))
    header = await load_header(sessions, order_id="ord_p")
    assert header.audit[0].note is None and header.audit[0].note_purged


async def test_an_order_without_ticket_has_no_transcript(sessions) -> None:
    with pytest.raises(NoTicketError, match="no ticket"):
        await load_header(sessions, order_id="nope")
