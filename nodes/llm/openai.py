"""Client for OpenAI-compatible streaming chat completions (OpenAI, Ollama, vLLM, llama.cpp server).

Streams ``choices[0].delta.content`` as reply text and assembles streamed ``tool_calls``
into :class:`~graphflow.frames.ToolCall` records. Failures become ``ProviderError``:
retryable for refused connections, timeouts and 5xx answers; not for 4xx; and a clear
message for a malformed stream.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from graphflow.agent.chat import ChatContext
from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import ToolCall
from graphflow.nodes.llm.base import Chunk, LLMNode


class OpenAIChatOptions(msgspec.Struct, frozen=True):
    """Endpoint, model and sampling; ``api_key=""`` reads ``OPENAI_API_KEY`` (may stay empty)."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0


class OpenAIChat(LLMNode):
    """Streams replies from an OpenAI-compatible ``/chat/completions`` endpoint."""

    Options = OpenAIChatOptions
    options: OpenAIChatOptions

    def __init__(
        self,
        options: OpenAIChatOptions | None = None,
        *,
        name: str | None = None,
        chat: ChatContext | None = None,
    ) -> None:
        super().__init__(options or OpenAIChatOptions(), name=name, chat=chat)
        self.tools: list[dict[str, Any]] = []
        self._client: Any = None

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
            await self._client.aclose()

    async def stream(self, chat: ChatContext) -> AsyncGenerator[Chunk, None]:
        """POST the conversation with ``stream: true`` and yield text and tool calls."""
        import httpx

        o = self.options
        body: dict[str, Any] = {
            "model": o.model,
            "messages": chat.to_openai(),
            "stream": True,
            "temperature": o.temperature,
            "max_tokens": o.max_tokens,
        }
        if self.tools:
            body["tools"] = self.tools
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    raise ProviderError(
                        f"{o.base_url} answered HTTP {response.status_code}: {detail}",
                        hint="check the model name and API key" if response.status_code < 500 else "",
                        retryable=response.status_code >= 500 or response.status_code == 429,
                    )
                calls: dict[int, dict[str, str]] = {}
                async with contextlib.aclosing(response.aiter_lines()) as lines:
                    async for line in lines:
                        for chunk in _parse_line(line, calls):
                            yield chunk
                for call in _finish_calls(calls):
                    yield Chunk(tool_call=call)
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{o.base_url} timed out: {exc!r}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                f"cannot reach {o.base_url}: {exc!r}", hint="is the server running?", retryable=True
            ) from exc


def _parse_line(line: str, calls: dict[int, dict[str, str]]) -> list[Chunk]:
    """Text chunks in one server-sent-events line; tool-call pieces go into ``calls``."""
    line = line.strip()
    if not line or line.startswith(":") or not line.startswith("data:"):
        return []
    data = line[5:].strip()
    if data == "[DONE]":
        return []
    try:
        event = json.loads(data)
        choices = event.get("choices") or []
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ProviderError(f"malformed chunk in the reply stream: {data[:120]!r}", retryable=True) from exc
    if "error" in event:
        raise ProviderError(f"the server reported an error mid-stream: {event['error']}", retryable=True)
    out = []
    for choice in choices:
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise ProviderError(f"malformed delta in the reply stream: {delta!r}", retryable=True)
        if delta.get("content"):
            out.append(Chunk(str(delta["content"])))
        for piece in delta.get("tool_calls") or []:
            slot = calls.setdefault(int(piece.get("index", 0)), {"id": "", "name": "", "arguments": ""})
            slot["id"] = piece.get("id") or slot["id"]
            function = piece.get("function") or {}
            slot["name"] += function.get("name") or ""
            slot["arguments"] += function.get("arguments") or ""
    return out


def _finish_calls(calls: dict[int, dict[str, str]]) -> list[ToolCall]:
    return [ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"]) for i, c in sorted(calls.items())]
