"""One click or form is one database session: the service decides who the person is, what the
action needs and the transition in one transaction, and the announcer reads nothing back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.harness._tickets import TicketView as Ticket


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


async def test_a_click_that_acts_is_one_session_announcement_included(ticket: Ticket) -> None:
    env = ticket.env
    with checkouts(env) as taken:
        result = await ticket.click("claim", env.officer)
    assert "claimed" in result.content
    assert "claimed by" in ticket.escrow_field()  # the summary was updated from what the change carried
    assert len(taken) == 1, taken


async def test_a_click_that_opens_a_form_and_the_form_are_one_session_each(ticket: Ticket) -> None:
    env = ticket.env
    with checkouts(env) as taken:
        shown = await ticket.click("fund", env.officer)
    assert shown.modal is not None and len(taken) == 1
    with checkouts(env) as taken:
        done = await env.driver.submit_modal(shown, {"note": "REF-1"}, by=env.officer)
    assert "now funded" in done.content
    assert len(taken) == 1, taken


async def test_a_refused_click_is_one_session(ticket: Ticket) -> None:
    env = ticket.env
    with checkouts(env) as taken:
        refused = await ticket.click("fund", env.outsider)
    assert "Only the officer" in refused.content and len(taken) == 1
