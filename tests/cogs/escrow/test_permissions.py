"""Each person clicking each button gets either the transition (or its form) or an ephemeral reason.
Nobody outside the order, and no officer who is a party, can move money."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.services.escrow.rules import Action, Role, State, pick_role, rule_for
from tests.harness._tickets import TicketView, yes_of

SETUP: dict[str, list[tuple[str, Action, str | None]]] = {
    "awaiting_funding": [],
    "funded": [("officer", Action.FUND, "REF")],
    "delivered": [("officer", Action.FUND, "REF"), ("freelancer", Action.DELIVER, None)],
    "delivered+approved": [
        ("officer", Action.FUND, "REF"),
        ("freelancer", Action.DELIVER, None),
        ("buyer", Action.APPROVE, None),
    ],
    "disputed": [("officer", Action.FUND, "REF"), ("buyer", Action.DISPUTE, "late")],
}
HELD = {"officer": {Role.OFFICER}, "buyer": {Role.BUYER}, "freelancer": {Role.FREELANCER}, "outsider": set()}


async def reach(ticket: TicketView, start: str) -> None:
    env = ticket.env
    for who, action, note in SETUP[start]:
        role = pick_role(action, State(ticket_state := (await ticket.escrow()).state), HELD[who])
        assert ticket_state
        member = getattr(env, who)
        await env.bot.runtime.escrow.act("ord_1", action, actor_id=member.id, actor_role=role, note=note)
    assert (await ticket.escrow()).state == start.split("+")[0]


@pytest.mark.parametrize("start", list(SETUP))
async def test_every_person_on_every_button(env, start: str) -> None:
    await env.agree_order()
    ticket = await env.open_ticket_and_join()
    await reach(ticket, start)
    state = State((await ticket.escrow()).state)
    approved = (await ticket.escrow()).approved_at is not None
    later: list[tuple[str, str]] = []
    for custom_id in ticket.buttons():
        action = Action(custom_id.split(":")[1])
        rule = rule_for(action, state)
        assert rule is not None  # every button shown is a rule of this state
        for who in ("outsider", "buyer", "freelancer", "officer"):
            allowed = pick_role(action, state, HELD[who]) in rule.roles
            version = (await ticket.escrow()).version
            if not allowed:
                result = await ticket.click(action.value, getattr(env, who))
                assert result.ephemeral and result.modal is None and result.content, (who, custom_id)
                assert (await ticket.escrow()).version == version, (who, custom_id)
            elif rule.confirm:  # money or the deal's fate: a question first, and nothing changes yet
                result = await ticket.click(action.value, getattr(env, who))
                assert result.ephemeral and result.modal is None and yes_of(result) is not None, (who, custom_id)
                assert "120.50 USD" in result.content, result.content
                assert (await ticket.escrow()).version == version
            elif rule.note_required(approved=approved) is not None:
                result = await ticket.click(action.value, getattr(env, who))
                assert result.modal is not None, (who, custom_id, result.content)
                assert (await ticket.escrow()).version == version
            else:
                later.append((who, action.value))
    later.sort(key=lambda item: item[1] != "claim")  # claims change no state: do them first
    for who, action_name in later:
        result = await ticket.click(action_name, getattr(env, who))
        assert result.ephemeral and (
            "Done" in result.content or "recorded" in result.content or "claimed" in result.content
        ), result.content


async def test_an_officer_who_is_the_freelancer_cannot_move_money(env) -> None:
    await env.agree_order()
    ticket = await env.open_ticket_and_join(freelancer=env.officer_party)
    await env.bot.runtime.escrow.act("ord_1", Action.FUND, actor_id=env.officer.id, actor_role=Role.OFFICER, note="R")
    for action in ("refund", "claim"):
        result = await ticket.click(action, env.officer_party)
        assert result.ephemeral and result.modal is None and "party to order ord_1" in result.content
        assert yes_of(result) is None  # refused before any question is asked
    done = await ticket.click("deliver", env.officer_party)  # as the freelancer they still deliver
    assert "marked delivered" in done.content
    result = await ticket.click("release", env.officer_party)
    assert result.modal is None and "party to order ord_1" in result.content
    assert (await ticket.escrow()).state == "delivered"


async def test_a_stale_button_on_a_finished_order_answers_that_it_is_final(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF")
    stale: dict[str, Any] = copy.deepcopy(ticket.summary)
    await ticket.click_and_write("refund", env.officer, "buyer asked")
    assert ticket.buttons() == ["guarantee:close:ord_1"]  # terminal: no escrow controls left, only closing
    result = await env.driver.click(stale, "guarantee:refund:ord_1", by=env.officer)
    assert result.ephemeral and "already refunded" in result.content and yes_of(result) is None
    result = await env.driver.click(stale, "guarantee:deliver:ord_1", by=env.freelancer)
    assert result.ephemeral and "final" in result.content
