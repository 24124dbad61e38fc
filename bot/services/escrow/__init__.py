"""Escrow: the state machine of PRODUCT.md §4, its audit chain, and the callbacks that report it.

Owns: the transition table (`rules`, the only place a transition is written down), the
decisions about who may act and with which note (`service`), what an action comes to
(`results`), what the marketplace's events do to an escrow (`marketplace`), the hash-chained
log (`audit`) and the outbox of `escrow.state_changed` callbacks (`callbacks`).

Never: reads Discord (people come in as `guilds.Actor`), or announces anything itself: a
committed `Change` is handed to `bot.services.effects`.
"""
