"""One click or form is one service call and one database session: the service decides who the person is,
what the action needs and the transition in one transaction. Its Discord effects are rows in the same
transaction, done right after the commit from the outbox (each a small unit of work of its own)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.services.effects import EffectWorker
from bot.services.escrow.results import Change
from tests.harness._tickets import TicketView as Ticket
from tests.harness._tickets import yes_of


@contextmanager
def checkouts(env: Any) -> Iterator[list[str]]:
    """Every connection the bot takes from its pool inside the block (one per session)."""
    pool = env.bot.runtime.engine.sync_engine.pool
    taken: list[str] = []

    def on_checkout(*_args: object) -> None:
        taken.append("checkout")

    event.listen(pool, "checkout", on_checkout)
    try:
        yield taken
    finally:
        event.remove(pool, "checkout", on_checkout)


@pytest.fixture
def committed(monkeypatch: pytest.MonkeyPatch) -> list[Change]:
    """The changes a click committed, kept back from the effect worker until the test lets them go."""
    kept: list[Change] = []

    async def keep(_worker: EffectWorker, changes: Sequence[Change]) -> None:
        kept.extend(changes)

    monkeypatch.setattr(EffectWorker, "escrow_changed", keep)
    return kept


async def let_go(env: Any, changes: list[Change], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    await env.bot.runtime.effects.escrow_changed(changes)


async def test_a_click_that_acts_is_one_session(ticket: Ticket, committed, monkeypatch) -> None:
    env = ticket.env
    with checkouts(env) as taken:
        result = await ticket.click("claim", env.officer)
    assert "claimed" in result.content
    assert len(taken) == 1, taken
    (change,) = committed
    assert change.ticket is not None and change.ticket.claimed_by == env.officer.id  # the result carries the state
    assert change.effect_ids  # its effects were written in the same transaction
    assert ticket.field("Guarantor Officer") == "not claimed yet"  # and not done yet
    await let_go(env, committed, monkeypatch)
    assert ticket.field("Guarantor Officer") == env.officer.mention


async def test_a_click_that_opens_a_form_and_the_form_are_one_session_each(ticket: Ticket, committed) -> None:
    env = ticket.env
    with checkouts(env) as taken:
        shown = await ticket.click("fund", env.officer)
    assert shown.modal is not None and len(taken) == 1 and committed == []
    with checkouts(env) as taken:
        done = await env.driver.submit_modal(shown, {"note": "REF-1"}, by=env.officer)
    assert "held in escrow" in done.content
    assert len(taken) == 1, taken
    assert [c.target.value for c in committed] == ["funded"]


async def test_a_question_its_yes_and_its_form_are_one_session_each(ticket: Ticket) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    committed: list[Change] = []

    async def keep(_worker: EffectWorker, changes: Sequence[Change]) -> None:
        committed.extend(changes)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EffectWorker, "escrow_changed", keep)
        with checkouts(env) as taken:
            asked = await ticket.click("refund", env.officer)
        assert yes_of(asked) is not None and len(taken) == 1 and committed == []
        with checkouts(env) as taken:
            shown = await ticket.answer_yes(asked, env.officer)
        assert shown.modal is not None and len(taken) == 1 and committed == []
        with checkouts(env) as taken:
            done = await env.driver.submit_modal(shown, {"note": "seller asked"}, by=env.officer)
    assert "refunded to the buyer" in done.content and len(taken) == 1, taken
    assert [c.target.value for c in committed] == ["refunded"]


async def test_a_refused_click_is_one_session(ticket: Ticket, committed) -> None:
    env = ticket.env
    with checkouts(env) as taken:
        refused = await ticket.click("fund", env.outsider)
    assert "not part of order ord_1" in refused.content and len(taken) == 1 and committed == []
