"""Several tasks in order, with a way back to an earlier one, summarised in one message at the end.

::

    group = TaskGroup(TaskGroupOptions(name="signup"))
    group.add(GetEmailTask, id="email", description="the user's email address")
    group.add(GetPhoneNumberTask, id="phone", description="the user's phone number")
    result = await group  # in a tool or a hook
    result.get("email", EmailResult).address

The tasks share one conversation (each sees what was said since the group began). From
the second task on, each gets a ``go_back`` tool: the user says "actually my email is
wrong" and the model re-opens that task; once it is done again, the group carries on with
the first task that has no result. When the group ends, its conversation leaves the
session's history (it stays in :attr:`TaskGroup.chat`) and one system message summarises
the results, before the call that awaited the group so the call still meets its output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from graphflow.agent.task import AgentTask, TaskAbandoned
from graphflow.agent.task_runner import current_runner
from graphflow.agent.tools import FunctionTool, ToolError, function_tool
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import ToolRule
from graphflow.errors import ConfigError

T = TypeVar("T")
GO_BACK = "go_back"
"""The name of the tool that re-opens an earlier task of the group."""
CHANGE_WORDS = r"wrong|change|mistake|fix|typo|actually"
"""Words that, with a task's id, make the offline responder go back to that task."""


class TaskGroupOptions(msgspec.Struct, frozen=True):
    """A group's name (in the history), whether it summarises, whether an abandoned task ends it."""

    name: str = "TaskGroup"
    summarize: bool = True
    return_exceptions: bool = False
    """Keep going when a task is abandoned (its :class:`TaskAbandoned` becomes its result)."""


@dataclass(frozen=True)
class TaskEntry:
    """One task of a group: how to make it, its id and what it collects."""

    factory: Callable[[], AgentTask[Any]]
    id: str
    description: str


@dataclass(frozen=True)
class TaskGroupResult:
    """Each task's result by id, and the summary put in the history."""

    results: dict[str, Any]
    summary: str

    def get(self, task_id: str, kind: type[T]) -> T:
        """The result of task ``task_id``, checked to be a ``kind``."""
        value = self.results.get(task_id)
        if not isinstance(value, kind):
            raise ConfigError(f"task {task_id!r} gave {type(value).__name__}, not {kind.__name__}")
        return value


class GoBack(Exception):
    """Ends the task in charge so that the group re-opens ``task_id``."""

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id


class TaskGroup:
    """Runs its tasks in order (module docstring); ``await group`` gives a :class:`TaskGroupResult`."""

    def __init__(self, options: TaskGroupOptions | None = None) -> None:
        self.options = options or TaskGroupOptions()
        self.entries: list[TaskEntry] = []
        self.chat = ChatContext()
        """The conversation the group had, once it has ended."""

    def add(self, factory: Callable[[], AgentTask[Any]], *, id: str, description: str) -> TaskGroup:
        """Add a task (made by ``factory`` each time it runs), known as ``id``; returns the group."""
        if not re.fullmatch(r"[A-Za-z0-9_]+", id) or any(e.id == id for e in self.entries):
            raise ConfigError(f"task id {id!r} must be a new word of letters, digits or _")
        self.entries.append(TaskEntry(factory, id, description))
        return self

    def __await__(self) -> Generator[Any, None, TaskGroupResult]:
        return self.run().__await__()

    async def run(self) -> TaskGroupResult:
        """Run the tasks until each has a result (from a tool or a hook the session runs)."""
        if not self.entries:
            raise ConfigError(
                "a task group needs at least one task", hint="group.add(factory, id=..., description=...)"
            )
        runner = current_runner()
        marker = runner.open_region(self.options.name)
        results: dict[str, Any] = {}
        summary = ""
        try:
            while (entry := next((e for e in self.entries if e.id not in results), None)) is not None:
                task = entry.factory()
                task.context_from, task.keep_items = marker, True
                self._equip(task, [e for e in self.entries if e.id in results])
                try:
                    results[entry.id] = await task
                except GoBack as back:
                    results.pop(back.task_id, None)
                except TaskAbandoned as exc:
                    if not self.options.return_exceptions:
                        raise
                    results[entry.id] = exc
        finally:
            summary = self.summary(results) if self.options.summarize and results else ""
            runner.close_region(marker, self.chat, summary)
        return TaskGroupResult(results=results, summary=summary)

    def summary(self, results: dict[str, Any]) -> str:
        """One line per task with a result: what it collected."""
        lines = [f"{e.description}: {_describe(results[e.id])}" for e in self.entries if e.id in results]
        return f"{self.options.name} collected: " + "; ".join(lines) + "."

    def _equip(self, task: AgentTask[Any], done: list[TaskEntry]) -> None:
        """Give ``task`` a tool (and an offline rule) to go back to the tasks in ``done``."""
        if not done:
            return
        ids = [e.id for e in done]
        steps = ", ".join(f"{e.id} ({e.description})" for e in done)
        tools = task.tools
        tools.add(_go_back_tool(task, ids, steps))
        task.tools = tools
        rule = ToolRule(
            when=rf"(?=.*\b(?:{CHANGE_WORDS})\b).*?\b(?P<task_id>{'|'.join(ids)})\b",
            call=GO_BACK,
            arguments={"task_id": '"{task_id}"'},
        )
        task.rules = (rule, *task.rules)


def _go_back_tool(task: AgentTask[Any], ids: list[str], steps: str) -> FunctionTool[..., Any]:
    """The tool that ends ``task`` so that the group re-opens one of ``ids``."""
    schema = {
        "name": GO_BACK,
        "description": f"Go back to an earlier step whose answer the user wants to change: {steps}.",
        "parameters": {
            "type": "object",
            "properties": {"task_id": {"type": "string", "enum": ids}},
            "required": ["task_id"],
        },
    }

    def go_back(raw_arguments: dict[str, Any]) -> str:
        task_id = str(raw_arguments.get("task_id", ""))
        if task_id not in ids:
            raise ToolError(f"there is no earlier step {task_id!r}; the steps are: {steps}")
        task.fail(GoBack(task_id))
        return f"going back to the step {task_id}"

    return function_tool(raw_schema=schema)(go_back)


def _describe(value: object) -> str:
    """A result in a few words: its ``summary()``, its text, or its JSON."""
    if isinstance(value, TaskAbandoned):
        return f"not given ({value.message})"
    summary = getattr(value, "summary", None)
    if callable(summary):
        return str(summary())
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, ValueError):
        return repr(value)
