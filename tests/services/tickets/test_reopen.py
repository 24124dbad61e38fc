"""Reopening an orphaned ticket (its channel was deleted by hand): only its freelancer, in its server."""

from __future__ import annotations

import pytest

from bot.services.errors import PermissionDeniedError
from bot.services.tickets.service import OpenStatus, TicketService
from tests.services.tickets.test_service import GIG, agree, all_tickets


async def open_(service: TicketService, *, guild_id: int = 1, user_id: int = 7, channel_id: int = 5):
    return await service.open(
        guild_id=guild_id, user_id=user_id, channel_id=channel_id, email="seller@example.com", gig_link=GIG
    )


async def orphaned(sessions, processor, service, opener):
    await agree(sessions, processor)
    await open_(service)
    opener.gone.add(1001)
    assert await service.channel_deleted(1001)
    (ticket,) = await all_tickets(sessions)
    return ticket


def snapshot(ticket) -> tuple:
    return (ticket.state, ticket.guild_id, ticket.freelancer_id, ticket.channel_id, ticket.origin_channel_id)


@pytest.mark.parametrize(("guild_id", "user_id"), [(1, 8), (2, 7), (2, 8)], ids=["other-user", "other-guild", "both"])
async def test_someone_else_cannot_take_over_an_orphan(sessions, processor, service, opener, guild_id, user_id):
    before = snapshot(await orphaned(sessions, processor, service, opener))
    with pytest.raises(PermissionDeniedError, match="ask a Guarantor Officer of that server"):
        await open_(service, guild_id=guild_id, user_id=user_id, channel_id=99)
    (ticket,) = await all_tickets(sessions)
    assert snapshot(ticket) == before and len(opener.cards) == 1


async def test_the_freelancer_reopens_it_in_the_same_server(sessions, processor, service, opener):
    await orphaned(sessions, processor, service, opener)
    result = await open_(service, channel_id=6)
    assert (result.status, result.channel_id) == (OpenStatus.OPENED, 1002)
    (ticket,) = await all_tickets(sessions)
    assert (ticket.guild_id, ticket.freelancer_id, ticket.channel_id, ticket.origin_channel_id) == (1, 7, 1002, 6)


async def test_a_deleted_channel_noticed_by_someone_else_is_not_taken_over(sessions, processor, service, opener):
    await agree(sessions, processor)
    await open_(service)
    opener.gone.add(1001)
    with pytest.raises(PermissionDeniedError):
        await open_(service, user_id=8)
    (ticket,) = await all_tickets(sessions)
    assert (ticket.state, ticket.freelancer_id, ticket.channel_id) == ("orphaned", 7, None)
    assert (await open_(service)).status is OpenStatus.OPENED
