"""Tickets: a freelancer's request, the checks it must pass, and the one ticket per order.

Owns: `/guarantee open` and `join` (`service`), requests that wait for their agreement
(`requests`, also the one place a ticket row is made), the email and gig-link checks
(`verification`, `links`), what officers and parties read (`queries`), and the port through
which the Discord side makes channels (`port`).

Never: changes an escrow's state, or imports discord: channels are made by `cogs.tickets`
through `port.TicketOpener`.
"""
