"""Escrow tests click on a ticket with both parties in it: the harness's `ticket` fixture (a
`tests.harness._tickets.TicketView` of order ord_1), on the tickets side's `env` and `sent`."""

from __future__ import annotations

from tests.cogs.tickets import conftest as guarantee

env, sent = guarantee.env, guarantee.sent
