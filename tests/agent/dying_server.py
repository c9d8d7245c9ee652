"""An OpenAI-compatible chat server in a process of its own, streaming slowly, so a test can kill it.

``python -m tests.agent.dying_server PORT LOG`` serves ``POST /v1/chat/completions`` on
127.0.0.1:PORT: every reply streams ``REPLY`` one word per ``GAP_S`` seconds, and each
word is written to LOG as it is sent (so a test knows how far the reply got).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web

REPLY = "Sure thing. Let me tell you a long story about a lighthouse keeper and the sea"
"""What every reply says: a first sentence, then a long one."""
GAP_S = 0.15
"""Seconds between two words."""


def chunk(text: str) -> bytes:
    """One server-sent event carrying ``text`` as a content delta."""
    event = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(event)}\n\n".encode()


def serve(port: int, log: Path) -> None:
    """Serve until killed."""

    async def completions(request: web.Request) -> web.StreamResponse:
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = REPLY.split(" ")
        for i, word in enumerate(words):
            text = word if i == 0 else " " + word
            await response.write(chunk(text))
            with log.open("a") as out:
                out.write(text)
            await asyncio.sleep(GAP_S)
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
