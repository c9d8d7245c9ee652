"""What a running tool may know and do: the call it serves, the session, the speech under way.

A tool asks for it by declaring a parameter annotated :class:`RunContext`; the parameter
is filled in when the tool runs and never appears in the schema the model sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from graphflow.conversation.chat import ToolCallLike
from graphflow.frames.agent import ToolCall

NO_CALL = ToolCall(id="", name="", arguments="{}")
"""The call a context describes when it was made outside of a model's request (tests, scripts)."""


class RunContext:
    """The context handed to a tool: the session, its user data, the current speech and the call.

    ``session`` is the agent session running the tool and ``userdata`` whatever the program
    attached to it; ``speech`` is the handle of the reply being spoken, if any. The two
    methods act on that speech through callables given by whoever runs the tools; without
    them they do nothing, so a tool can be run with a bare ``RunContext()`` in a test.
    """

    __slots__ = ("_disallow", "_wait", "call", "interruptible", "session", "speech", "userdata")

    def __init__(
        self,
        *,
        session: object = None,
        userdata: Any = None,
        speech: object | None = None,
        call: ToolCallLike = NO_CALL,
        wait_for_playout: Callable[[], Awaitable[None]] | None = None,
        disallow_interruptions: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.userdata: Any = userdata
        self.speech = speech
        self.call = call
        self.interruptible = True
        """False once the tool called :meth:`disallow_interruptions`."""
        self._wait = wait_for_playout
        self._disallow = disallow_interruptions

    async def wait_for_playout(self) -> None:
        """Wait until the speech under way has been played out (at once when nothing plays)."""
        if self._wait is not None:
            await self._wait()

    def disallow_interruptions(self) -> None:
        """Ask that the user not be able to interrupt the speech under way while the tool runs."""
        self.interruptible = False
        if self._disallow is not None:
            self._disallow()

    def __repr__(self) -> str:
        return f"RunContext(call={self.call.name!r}/{self.call.id!r}, interruptible={self.interruptible})"
