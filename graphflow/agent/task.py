"""A task: an agent that holds the conversation until it has a result, then hands it back.

``result = await GetEmailTask()`` in a tool or a hook makes the task the agent in charge:
its instructions and tools answer the user's turns until one of its tools calls
:meth:`AgentTask.complete` (the awaiting code gets the result) or
:meth:`AgentTask.abandon` (it raises :class:`TaskAbandoned`). The session's
:class:`~graphflow.agent.task_runner.TaskRunner` owns the awaiting code meanwhile, so
the reply that started the task ends and later turns reach the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from graphflow.agent.agent import Agent
from graphflow.agent.tools import FunctionTool
from graphflow.conversation.chat import ChatContext, ChatMessage
from graphflow.conversation.model import ToolRule
from graphflow.errors import GraphflowError

if TYPE_CHECKING:
    from graphflow.agent.task_runner import TaskRunner

T = TypeVar("T")


class TaskAbandoned(GraphflowError):
    """The task ended without a result: the user gave up, the session ended, or the agent was handed over."""

    code = "task.abandoned"


class Outcome:
    """How a task ended: its result, or the exception its awaiting code raises."""

    __slots__ = ("error", "result")

    def __init__(self, result: object = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error

    def apply(self, future: asyncio.Future[Any]) -> None:
        """Resolve ``future`` with this outcome (if nothing resolved it yet)."""
        if future.done():
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.result)


class AgentTask(Agent, Generic[T]):
    """An agent with a goal: awaiting it runs a sub-conversation and returns a result of type ``T``.

    The task speaks with the session's models (it brings no stages of its own); while it
    runs, the model sees its instructions and the conversation since it began, and only
    its tools. When it ends, that sub-conversation leaves the session's history for
    :attr:`chat` (the caller reads the result, not the whole exchange).
    """

    def __init__(
        self,
        instructions: str,
        *,
        tools: Sequence[FunctionTool[..., Any] | Callable[..., Any]] = (),
        rules: Sequence[ToolRule] = (),
        name: str = "",
    ) -> None:
        super().__init__(instructions, tools=tools, rules=rules, name=name)
        self.chat = ChatContext(instructions)
        """The sub-conversation the task had, once it has ended."""
        self.context_from: ChatMessage | None = None
        """Where the conversation the model sees begins (None: where the task began; a group's start)."""
        self.keep_items = False
        """Leave the sub-conversation in the session's history when the task ends (a group summarises it)."""
        self.runner: TaskRunner | None = None
        """The runner the task runs on (set when it starts)."""
        self.done = False
        """True once :meth:`complete` or :meth:`abandon` was called."""

    def complete(self, result: T) -> None:
        """End the task with ``result`` (from one of its tools): the awaiting code gets it after them."""
        self._finish(Outcome(result=result))

    def abandon(self, reason: str) -> None:
        """End the task without a result: the awaiting code raises :class:`TaskAbandoned` with ``reason``."""
        self._finish(Outcome(error=TaskAbandoned(reason)))

    def fail(self, error: BaseException) -> None:
        """End the task by raising ``error`` in the awaiting code."""
        self._finish(Outcome(error=error))

    async def on_enter(self) -> None:
        """Called when the task takes over: by default the model opens from the task's instructions."""
        if self.session is not None:
            await self.session.generate_reply()

    def _finish(self, outcome: Outcome) -> None:
        if self.done:
            return
        self.done = True
        if self.runner is not None:
            self.runner.finish(self, outcome)

    def __await__(self) -> Generator[Any, None, T]:
        from graphflow.agent.task_runner import current_runner

        return current_runner().run_task(self).__await__()
