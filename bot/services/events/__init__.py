"""Inbound events: the marketplace's contract, durable intake, processing, and the order book.

Owns: validating event bodies (`contract`), storing them before any 2xx (`intake`), working
the stored copies (`processor`) and applying each to its order (`order_book`), which then calls
the tickets' and the escrow's steps by name and returns the effects to run after the commit.

Never: verifies HTTP signatures itself (that is `bot.services.signing`, called by `webhooks/`),
talks to Discord, or decides an escrow transition (the escrow folder does).
"""
