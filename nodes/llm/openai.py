"""Client for OpenAI-compatible streaming chat completions (OpenAI, Ollama, vLLM, llama.cpp server).

Sends the whole conversation (with the assistant's tool calls and the tools' outputs)
and the agent's tools, and streams the reply through
:class:`~nodes.llm.openai_reply.ReplyStream`, which yields its text and its assembled
tool calls. Failures become ``ProviderError``: retryable for refused connections,
timeouts and broken streams; an HTTP error answer, an error event in the stream or a
malformed stream as :mod:`nodes.llm.openai_reply` maps it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.conversation.replies import Replies
from graphflow.errors import ConfigError, ProviderError
from graphflow.redact import redacted
from graphflow.timebase import MS
from nodes.llm.base import LLMNode
from nodes.llm.openai_reply import ReplyStream, http_error


@redacted("api_key")
class OpenAIChatOptions(msgspec.Struct, frozen=True):
    """Endpoint, model and sampling; ``api_key=""`` reads ``OPENAI_API_KEY`` (may stay empty).

    ``repr`` shows a set ``api_key`` as ``'***'`` (:mod:`graphflow.redact`).
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    expected_ttft_ms: int = 500
    """Estimated time to first token, for the latency budget only (a hosted small model;
    measure your endpoint)."""
    tool_choice: str = "auto"
    """Whether the model must call a tool when it is offered some: ``"auto"`` (the model
    decides), ``"none"`` (no call), ``"required"`` (at least one call) or a tool's name
    (a call to that tool). A forced choice (``"required"`` or a name) holds until the
    tools have answered the latest user (or system) message; the requests after that
    say ``"auto"``, so the model can answer instead of calling in a loop."""

    def __post_init__(self) -> None:
        if not self.tool_choice.strip():
            raise ConfigError(
                "OpenAIChatOptions.tool_choice is empty",
                hint='use "auto", "none", "required" or the name of a tool',
            )


class OpenAIChat(LLMNode):
    """Streams replies from an OpenAI-compatible ``/chat/completions`` endpoint.

    The tools offered come with each request (``stream(chat, tools)``: the agent's
    ``ToolSet.schemas()``); when there are any, the request carries ``tools`` and
    ``tool_choice`` (``OpenAIChatOptions.tool_choice``, ``"auto"`` unless
    set). ``last_usage`` is the token usage the server reported for the latest reply, if
    it did.
    """

    Options = OpenAIChatOptions
    options: OpenAIChatOptions

    def __init__(
        self,
        options: OpenAIChatOptions | None = None,
        *,
        name: str | None = None,
        replies: Replies | None = None,
    ) -> None:
        super().__init__(options or OpenAIChatOptions(), name=name, replies=replies)
        self.last_usage: dict[str, Any] | None = None
        self._client: Any = None

    def latency(self) -> int:
        """The endpoint's time to first token, estimated: ``expected_ttft_ms``."""
        return self.options.expected_ttft_ms * MS

    async def setup(self) -> None:
        """Open the HTTP client."""
        try:
            import httpx
        except ImportError as exc:
            raise ConfigError(
                "the OpenAI client needs httpx", hint="pip install 'graphflow[openai]'"
            ) from exc
        o = self.options
        key = o.api_key or os.environ.get("OPENAI_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(
            base_url=o.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(o.timeout_s, connect=o.connect_timeout_s),
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def request_body(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> dict[str, Any]:
        """The JSON body POSTed for a reply to the conversation in ``chat``, offering ``tools``."""
        o = self.options
        messages = chat.to_openai()
        body: dict[str, Any] = {
            "model": o.model,
            "messages": messages,
            "stream": True,
            "temperature": o.temperature,
            "max_tokens": o.max_tokens,
        }
        if tools.schemas:
            body["tools"] = list(tools.schemas)
            body["tool_choice"] = wire_tool_choice(o.tool_choice, answered=_tools_answered(messages))
        return body

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """POST the conversation with ``stream: true`` and yield text and tool calls."""
        import httpx

        o = self.options
        if self._client is None:
            raise ConfigError(f"the OpenAI client {self.name!r} streams only between setup() and close()")
        reply = ReplyStream(max_tokens=o.max_tokens)
        self.last_usage = None
        started = False
        try:
            async with self._client.stream(
                "POST", "/chat/completions", json=self.request_body(chat, tools)
            ) as response:
                if response.status_code >= 400:
                    raise http_error(o.base_url, response.status_code, await response.aread())
                started = True
                if response.headers.get("content-type", "").startswith("application/json"):
                    chunks = reply.feed_completion(await response.aread())
                    for chunk in chunks:
                        yield chunk
                else:
                    async with contextlib.aclosing(response.aiter_lines()) as lines:
                        async for line in lines:
                            for chunk in reply.feed(line):
                                yield chunk
                            if reply.done:
                                break
                for chunk in reply.finish():
                    yield chunk
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{o.base_url} timed out: {exc!r}", retryable=True) from exc
        except httpx.TransportError as exc:
            if started:
                raise ProviderError(
                    f"the connection to {o.base_url} broke in the middle of the reply: {exc!r}",
                    retryable=True,
                ) from exc
            raise ProviderError(
                f"cannot reach {o.base_url}: {exc!r}", hint="is the server running?", retryable=True
            ) from exc
        finally:
            self.last_usage = reply.usage


def wire_tool_choice(choice: str, *, answered: bool = False) -> str | dict[str, Any]:
    """``tool_choice`` as the request sends it: ``"auto"``, ``"none"`` and ``"required"`` as they
    are, a tool's name as ``{"type": "function", "function": {"name": ...}}``.

    ``answered``: the tools already answered the latest user (or system) message; a forced
    choice then becomes ``"auto"`` (forcing again would call the tools in a loop).
    """
    if choice in ("auto", "none"):
        return choice
    if answered:
        return "auto"
    if choice == "required":
        return choice
    return {"type": "function", "function": {"name": choice}}


def _tools_answered(messages: list[dict[str, Any]]) -> bool:
    """Whether a tool's output follows the latest user (or system) message."""
    for message in reversed(messages):
        role = message.get("role")
        if role == "tool":
            return True
        if role in ("user", "system"):
            return False
    return False
