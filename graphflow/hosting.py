"""Nodes run by another node instead of the graph: a fallback node's providers, an agent's own models.

A node in a running graph may hand work to other nodes that are not part of the graph
(a :class:`~nodes.fallback.llm.FallbackLLM` asks its providers; a TTS stage
speaks with the voice of the agent now in charge). :class:`HostedNodes` attaches such
a node to its host's run — the same clock, the same observers, a name under the host's —
sets it up, and closes and detaches it when the host is done with it.
"""

from __future__ import annotations

from collections.abc import Callable

from graphflow.errors import ConfigError
from graphflow.node import Node


class HostedNodes:
    """The nodes one host runs outside the graph, started on demand and closed together."""

    def __init__(self, host: Node) -> None:
        self.host = host
        self._started: list[Node] = []
        self._clocks: dict[int, Callable[[], int]] = {}

    def __contains__(self, node: object) -> bool:
        return any(node is started for started in self._started)

    async def start(self, node: Node) -> None:
        """Attach ``node`` to the host's run and set it up (nothing to do if it was started already)."""
        if node in self:
            return
        self.attach(node)
        try:
            await node.setup()
        except BaseException:
            self.detach(node)
            raise
        self._started.append(node)

    def attach(self, node: Node) -> None:
        """Give ``node`` the host's run (clock, observers, spawning) without setting it up."""
        if node._rt is not None:
            raise ConfigError(
                f"node {node.name!r} hosted by {self.host.qualname!r} is part of a running graph",
                hint="a hosted node (a provider, an agent's own model) is not added to the graph itself",
            )
        self._clocks[id(node)] = node.now
        node._rt = self.host._rt
        node.now = self.host.now
        node.qualname = f"{self.host.qualname}.{node.name or node.default_name()}"
        node.floor = 0

    def detach(self, node: Node) -> None:
        """Take the host's run back from ``node``."""
        now = self._clocks.pop(id(node), None)
        if now is None:
            return
        node._rt = None
        node.now = now

    async def close(self) -> Exception | None:
        """Close every started node (last first) and detach it; the first error, if any, is returned."""
        first: Exception | None = None
        started, self._started = self._started, []
        for node in reversed(started):
            try:
                await node.close()
            except Exception as exc:
                first = first or exc
            self.detach(node)
        return first
