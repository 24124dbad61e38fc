"""The baseline: a bare aiohttp handler that reads the body and answers 200."""

import sys

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


app = web.Application()
app.router.add_post("/webhooks/marketplace", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
