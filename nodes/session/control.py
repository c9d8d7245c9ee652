"""The session's own way into its graph: turns the program asks for, merged with the user's.

:class:`SessionControl` sits between the turn detector and the language model. It
forwards the user's turns, and adds the ones a program asks for — ``say`` (speak this
text as it is) and ``generate`` (reply now, with one-off instructions) — from a
bounded queue. It ends when the user's turns end, so the session ends as before.
"""

from __future__ import annotations

import asyncio
import contextlib

from graphflow.errors import ConfigError
from graphflow.frames import EndOfStream, EndOfTurn, TurnKind
from graphflow.node import Node
from graphflow.ports import Input, Output

CONTROL_QUEUE = 16
"""Default: requests waiting to enter the graph before ``request`` blocks."""


class SessionControl(Node):
    """Forwards the user's turns and adds requested ones (``say``, ``generate``)."""

    inp = Input(EndOfTurn)
    out = Output(EndOfTurn, follows="inp")

    def __init__(self, *, name: str | None = None, capacity: int = CONTROL_QUEUE) -> None:
        super().__init__(name=name)
        self.queue: asyncio.Queue[EndOfTurn] = asyncio.Queue(max(1, capacity))

    async def request(self, text: str, kind: TurnKind, reply_id: str = "") -> None:
        """Send a turn into the graph (``kind``: ``SAY`` or ``GENERATE``; ``reply_id``: its reply's id)."""
        if self._rt is None:
            raise ConfigError("the session is not running", hint="call this while session.run() is running")
        turn = EndOfTurn(
            text=text, kind=kind, reply_id=reply_id, created=self.now(), generation=self.generation
        )
        await self.queue.put(turn)

    async def run(self) -> None:
        """Forward both streams until the user's turns end."""
        injected = asyncio.ensure_future(self._forward_requests())
        try:
            while not isinstance(frame := await self.inp.get(), EndOfStream):
                if isinstance(frame, EndOfTurn):
                    await self.out.send(frame)
        finally:
            injected.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await injected

    async def _forward_requests(self) -> None:
        while True:
            turn = await self.queue.get()
            await self.out.send(turn)
