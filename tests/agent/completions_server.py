"""A real HTTP server on 127.0.0.1 answering ``POST /v1/chat/completions`` with a handler of the test's."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""What answers each completion request."""


@contextlib.asynccontextmanager
async def completions_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on a free loopback port; yields the base URL (``http://…/v1``)."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()
