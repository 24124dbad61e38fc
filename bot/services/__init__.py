"""The domain: plain async Python that never imports discord, aiohttp or an adapter.

One folder per feature, in the order data flows through them:

* `events/`  — the marketplace's events, from a verified request to an applied order;
* `tickets/` — a freelancer's request, its checks, and the ticket (one per order);
* `escrow/`  — the state machine, its audit chain and the callbacks to the marketplace.

Beside them: `guilds` (server settings and who is an officer), `effects` (what runs after a
commit), `reports` (operators' read views), `signing`, `errors`, `worker`. Services take ids and
values and return results or raise `GuaranteeError`s; they reach Discord only through ports
(`tickets.port.TicketOpener`, `effects.EscrowAnnouncer`) that `cogs/` implements.
"""
