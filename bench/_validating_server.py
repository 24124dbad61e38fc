"""A second baseline: verify and validate like guarantor, answer 202, store nothing.

What any in-process design pays before it stores anything: the gap between this and
`_bare_server.py` is the cost of checking an event; the gap between this and `guarantor run`
is the cost of storing it durably (and of everything else the bot runs beside).
"""

import os
import sys

from aiohttp import web

from bot.services.events.contract import parse_event_json
from bot.services.signing import SignatureVerifier

verifier = SignatureVerifier(os.environ["MARKETPLACE_WEBHOOK_SECRETS"].split(","))


async def handle(request: web.Request) -> web.Response:
    raw = await request.read()
    headers = request.headers
    verifier.verify(raw, headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"])
    parse_event_json(raw.decode())
    return web.Response(status=202, body=b'{"status":"accepted"}', content_type="application/json")


app = web.Application()
app.router.add_post("/webhooks/marketplace", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
