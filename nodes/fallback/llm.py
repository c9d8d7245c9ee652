"""FallbackLLM: one language-model stage that asks a list of LLM providers in turn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.conversation.replies import Replies
from graphflow.errors import ProviderError
from nodes.fallback.availability import FallbackOptions, ProviderPool
from nodes.llm.base import LLMNode


class FallbackLLM(LLMNode):
    """Streams each reply from the first available provider that starts answering in time.

    Only this node is in the graph; the providers are plain :class:`LLMNode` objects it
    sets up, closes and streams from, with the history and tools of each request, so
    tools and handoffs work as with a single provider. Availability changes are published
    to the run's observers.

    A provider is left for the next one when it raises a
    :class:`~graphflow.errors.ProviderError` or its first chunk does not arrive within
    ``attempt_timeout_s``. Once a provider has yielded a chunk the reply is its own: a
    failure after that ends the reply with the error (``ReplyEnd.error``) instead of
    asking another provider, because the words already sent cannot be taken back and
    must not be spoken twice. When no provider answers, the reply ends with an error
    naming every failure and the node waits for the next turn.
    """

    Options = FallbackOptions
    options: FallbackOptions

    def __init__(
        self,
        providers: Sequence[LLMNode],
        options: FallbackOptions | None = None,
        *,
        name: str | None = None,
        replies: Replies | None = None,
    ) -> None:
        super().__init__(options or FallbackOptions(), name=name, replies=replies)
        self.pool = ProviderPool(self, providers, self.options, lambda event: self.publish(event))
        """The providers and their availability."""

    def latency(self) -> int:
        """The first provider's: it answers unless it fails or is late."""
        return self.pool.providers[0].latency()

    async def setup(self) -> None:
        """Set up every provider (they are not in the graph)."""
        await self.pool.setup()

    async def close(self) -> None:
        """Close every provider."""
        await self.pool.close()

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """The reply of the first provider that answers, chunk by chunk (see the class docstring)."""
        errors: list[tuple[str, ProviderError]] = []
        for provider, status in self.pool.candidates():
            async with contextlib.aclosing(provider.stream(chat, tools)) as chunks:
                scope = self.pool.deadline()
                try:
                    async with scope:
                        first = await anext(chunks, None)
                except ProviderError as exc:
                    error = exc
                except TimeoutError:
                    if not scope.expired():
                        raise
                    error = self.pool.timed_out(status, "sent no reply")
                else:
                    self.pool.succeeded(status)
                    if first is None:
                        return  # an empty reply is an answer too
                    yield first
                    try:
                        async for chunk in chunks:
                            yield chunk
                    except ProviderError as exc:  # mid-reply: the reply ends with this error
                        self.pool.failed(status, exc)
                        raise
                    return
            self.pool.failed(status, error)
            errors.append((status.name, error))
        raise self.pool.exhausted(errors)
