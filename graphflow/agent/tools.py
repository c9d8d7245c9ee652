"""Function tools: typed Python functions a language model can call, and running its calls.

``@function_tool`` turns a function into a :class:`FunctionTool` with a name, a
description and the JSON schema of its parameters; :func:`invoke` runs one call from the
model's JSON arguments and always answers with a :class:`ToolResult` the model can read;
a :class:`ToolSet` holds the tools an agent offers and :func:`run_calls` runs the calls
of one reply concurrently. ``@function_tool(raw_schema=...)`` offers a function with a
ready JSON schema instead (it gets the arguments as one dict). See docs/tools.md.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

import msgspec

from graphflow.agent.deadline import tool_deadline
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tool_schema import ToolSpec, describe, describe_raw, explain
from graphflow.conversation.chat import ToolCallLike
from graphflow.errors import ConfigError, GraphflowError

__all__ = [
    "FunctionTool",
    "RunContext",
    "StopResponse",
    "ToolCallLike",
    "ToolError",
    "ToolResult",
    "ToolSet",
    "function_tool",
    "invoke",
    "run_calls",
]

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
C = TypeVar("C", bound=ToolCallLike)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
log = logging.getLogger(__name__)


class ToolError(GraphflowError):
    """Raised by a tool to tell the model something went wrong; the model reads ``message`` as is."""

    code = "tool.error"


class StopResponse(Exception):
    """Raised by a tool to end the reply: the model is not called again with the results."""

    def __init__(self, output: str = "") -> None:
        super().__init__(output)
        self.output = output


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one call: the text the model reads and what else the caller must act on.

    ``error`` is a stable code when the call failed (``tool.bad_arguments``,
    ``tool.unknown``, ``tool.raised``, ``tool.error``, ``tool.timeout``,
    ``tool.bad_output``) and ``output`` then explains it to the model; ``stop`` means the
    tool ended the reply; ``handoff`` is the agent the tool handed the conversation to.
    """

    call_id: str
    name: str
    output: str
    error: str = ""
    is_error: bool = False
    stop: bool = False
    handoff: object | None = None

    def to_message(self) -> dict[str, str]:
        """The result as an OpenAI chat-completions ``tool`` message."""
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.output}


class FunctionTool(Generic[P, R_co]):
    """A function the model can call: its name, description and the JSON schema of its parameters.

    Calling the tool object calls the function itself, so decorated functions stay
    usable (and testable) as plain Python. With ``raw_schema`` (``name``,
    ``description``, ``parameters``) the schema is taken as given and the function gets
    the arguments as one dict.
    """

    def __init__(
        self,
        fn: Callable[P, R_co],
        *,
        name: str | None = None,
        description: str | None = None,
        spec: ToolSpec | None = None,
        raw_schema: Mapping[str, Any] | None = None,
    ) -> None:
        raw_name = raw_schema.get("name") if raw_schema is not None else None
        self.name: str = (
            name or (raw_name if isinstance(raw_name, str) else "") or str(getattr(fn, "__name__", ""))
        )
        if not _NAME.match(self.name):
            raise ConfigError(
                f"{self.name!r} cannot be a tool name",
                hint="use 1 to 64 letters, digits, '_' or '-' (pass name=... to the decorator)",
            )
        if spec is None:
            spec = describe(fn, self.name) if raw_schema is None else describe_raw(fn, self.name, raw_schema)
        self.spec = spec
        self.description: str = self.spec.description if description is None else description
        self._fn = fn
        self._is_async = inspect.iscoroutinefunction(fn) or (
            not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)
        )
        functools.update_wrapper(self, fn)

    def __get__(self, instance: object, owner: type | None = None) -> FunctionTool[..., Any]:
        """A tool defined as a method, looked up on an object: the same tool bound to it."""
        if instance is None:
            return self
        bound = types.MethodType(self._fn, instance)
        return FunctionTool(bound, name=self.name, description=self.description, spec=self.spec)

    @property
    def fn(self) -> Callable[P, R_co]:
        """The function the tool runs."""
        return self._fn

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments: an object with ``properties`` and ``required``."""
        return self.spec.parameters

    @property
    def needs_context(self) -> bool:
        """Whether the function takes a :class:`RunContext`."""
        return self.spec.context is not None

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function (else it runs in a worker thread)."""
        return self._is_async

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the function directly, as if it were not a tool."""
        return self._fn(*args, **kwargs)

    def openai_schema(self) -> dict[str, Any]:
        """The tool as an entry of an OpenAI chat-completions ``tools`` list."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def with_function(self, stand_in: Callable[..., Any]) -> FunctionTool[..., Any]:
        """A tool with this one's name, description and schema that runs ``stand_in`` instead."""
        fn = stand_in.fn if isinstance(stand_in, FunctionTool) else stand_in
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None
        if signature is not None:
            try:
                signature.bind(*self.spec.positional, **dict.fromkeys(self.spec.keyword))
            except TypeError as e:
                raise ConfigError(
                    f"the stand-in for tool {self.name!r} cannot take its arguments: {e}",
                    hint=f"accept {', '.join(self.spec.positional + self.spec.keyword) or 'no arguments'}",
                ) from e
        return FunctionTool(fn, name=self.name, description=self.description, spec=self.spec)

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"


@overload
def function_tool(fn: Callable[P, R_co], /) -> FunctionTool[P, R_co]: ...


@overload
def function_tool(
    *,
    name: str | None = None,
    description: str | None = None,
    raw_schema: Mapping[str, Any] | None = None,
) -> Callable[[Callable[P, R_co]], FunctionTool[P, R_co]]: ...


def function_tool(
    fn: Callable[P, R_co] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    raw_schema: Mapping[str, Any] | None = None,
) -> FunctionTool[P, R_co] | Callable[[Callable[P, R_co]], FunctionTool[P, R_co]]:
    """Make a function a tool: ``@function_tool``, or ``@function_tool(name=..., raw_schema=...)``."""
    if fn is not None:
        return FunctionTool(fn, name=name, description=description, raw_schema=raw_schema)

    def decorate(f: Callable[P, R_co]) -> FunctionTool[P, R_co]:
        return FunctionTool(f, name=name, description=description, raw_schema=raw_schema)

    return decorate


async def invoke(
    tool: FunctionTool[..., Any],
    arguments_json: str | bytes,
    context: RunContext | None,
    *,
    timeout_s: float | None,
    call_id: str | None = None,
) -> ToolResult:
    """Run ``tool`` with the model's JSON arguments; every failure becomes an error result.

    ``call_id`` defaults to the id of ``context.call``. A sync tool runs in a worker thread
    (a timeout stops waiting for it, not the thread). Cancelling ``invoke`` cancels the tool.
    """
    call_id = call_id if call_id is not None else (context.call.id if context is not None else "")

    def failed(code: str, output: str) -> ToolResult:
        return ToolResult(call_id=call_id, name=tool.name, output=output, error=code, is_error=True)

    if tool.needs_context and context is None:
        raise ConfigError(f"tool {tool.name!r} takes a RunContext but none was given")
    try:
        arguments = tool.spec.decoder.decode(arguments_json if arguments_json.strip() else b"{}")
    except msgspec.MsgspecError as e:
        return failed(
            "tool.bad_arguments", f"invalid arguments for {tool.name!r}: {explain(e, arguments_json)}"
        )
    args, kwargs = tool.spec.call_args(arguments, context)
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            with tool_deadline(deadline, timeout_s):  # a task the tool awaits pauses it
                value = await _call(tool, args, kwargs)
    except StopResponse as stop:
        return ToolResult(call_id=call_id, name=tool.name, output=stop.output, stop=True)
    except ToolError as e:
        return failed("tool.error", e.message)
    except Exception as e:
        if isinstance(e, TimeoutError) and deadline.expired():
            return failed("tool.timeout", f"the tool {tool.name!r} did not finish within {timeout_s:g} s")
        log.warning("tool %r raised", tool.name, exc_info=e)
        text = e.message if isinstance(e, GraphflowError) else str(e)
        return failed("tool.raised", f"the tool raised {type(e).__name__}" + (f": {text}" if text else ""))
    return _result(tool.name, call_id, value)


class ToolSet:
    """The tools an agent offers, by name."""

    def __init__(self, tools: Iterable[FunctionTool[..., Any] | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, FunctionTool[..., Any]] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: FunctionTool[..., Any] | Callable[..., Any]) -> FunctionTool[..., Any]:
        """Add a tool (a plain function is made one); a second tool of the same name is an error."""
        made = tool if isinstance(tool, FunctionTool) else FunctionTool(tool)
        if made.name in self._tools:
            raise ConfigError(f"two tools are named {made.name!r}", hint="pass name=... to one of them")
        self._tools[made.name] = made
        return made

    def find(self, name: str) -> FunctionTool[..., Any] | None:
        """The tool called ``name``, or None (see :meth:`unknown` for what to tell the model)."""
        return self._tools.get(name)

    def unknown(self, name: str) -> str:
        """What to tell a model that asked for a tool not in the set."""
        available = ", ".join(self._tools) or "none"
        return f"unknown tool {name!r}; available: {available}"

    @property
    def names(self) -> tuple[str, ...]:
        """The tools' names, in the order they were added."""
        return tuple(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """Every tool as an OpenAI chat-completions ``tools`` entry."""
        return [tool.openai_schema() for tool in self._tools.values()]

    def replace(self, name: str, stand_in: Callable[..., Any]) -> ToolSet:
        """A copy in which tool ``name`` runs ``stand_in`` (same name and schema); for tests."""
        tool = self._tools.get(name)
        if tool is None:
            raise ConfigError(f"cannot replace {self.unknown(name)}")
        other = ToolSet()
        other._tools = {n: tool.with_function(stand_in) if n == name else t for n, t in self._tools.items()}
        return other

    async def call(
        self, call: ToolCallLike, context: RunContext | None, *, timeout_s: float | None
    ) -> ToolResult:
        """Run one call of the model; an unknown tool gives an error result naming the available ones."""
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolResult(
                call_id=call.id,
                name=call.name,
                output=self.unknown(call.name),
                error="tool.unknown",
                is_error=True,
            )
        return await invoke(tool, call.arguments, context, timeout_s=timeout_s, call_id=call.id)

    def __iter__(self) -> Iterator[FunctionTool[..., Any]]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __repr__(self) -> str:
        return f"ToolSet({', '.join(self._tools)})"


async def run_calls(
    toolset: ToolSet,
    calls: Sequence[C],
    context_factory: Callable[[C], RunContext | None] | None,
    *,
    timeout_s: float | None,
    parallel: bool = True,
) -> list[ToolResult]:
    """Run the calls of one reply, concurrently unless ``parallel`` is False; results in call order.

    Every call is answered on its own, so one failing tool never cancels the others;
    cancelling ``run_calls`` cancels every call still running. ``context_factory`` makes
    each call's :class:`RunContext` (before any call starts).
    """
    contexts = [context_factory(call) if context_factory is not None else None for call in calls]
    for call, context in zip(calls, contexts, strict=True):
        tool = toolset.find(call.name)
        if tool is not None and tool.needs_context and context is None:
            raise ConfigError(f"tool {call.name!r} takes a RunContext but the context factory gave none")
    if not parallel:
        return [
            await toolset.call(c, ctx, timeout_s=timeout_s) for c, ctx in zip(calls, contexts, strict=True)
        ]
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(toolset.call(c, ctx, timeout_s=timeout_s), name=f"tool {c.name} {c.id}")
            for c, ctx in zip(calls, contexts, strict=True)
        ]
    return [task.result() for task in tasks]


# ------------------------------------------------------------------ helpers
async def _call(tool: FunctionTool[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    if tool.is_async:
        return await tool.fn(*args, **kwargs)
    value = await asyncio.to_thread(tool.fn, *args, **kwargs)
    return await value if inspect.isawaitable(value) else value


def _result(name: str, call_id: str, value: Any) -> ToolResult:
    """The result of a call that returned ``value``."""
    from graphflow.agent.agent import Agent  # an agent module imports this one

    if isinstance(value, Agent):
        who = getattr(value, "name", "") or type(value).__name__
        return ToolResult(call_id=call_id, name=name, output=f"handoff to {who}", handoff=value)
    if isinstance(value, str):
        return ToolResult(call_id=call_id, name=name, output=value)
    try:
        output = msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError) as e:
        return ToolResult(
            call_id=call_id,
            name=name,
            output=f"the tool returned a {type(value).__name__}, which cannot be sent as JSON ({e})",
            error="tool.bad_output",
            is_error=True,
        )
    return ToolResult(call_id=call_id, name=name, output=output)
