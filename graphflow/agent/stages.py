"""Which model does each stage's work for the agent in charge, switched on handoff without touching the graph.

A session's graph has one STT, one LLM and one TTS node. An agent may bring its own
(``Agent(stt=..., llm=..., tts=...)``): the agent a session starts with puts its nodes
in the graph itself (so ``graphflow render`` shows them). When the conversation is
handed to another agent, its own nodes become the graph nodes' *providers*: the graph's
STT node keeps segmenting but asks the provider for text, the session's replies keep
running the tool loop but stream from the provider's model, the TTS node keeps
splitting sentences but speaks with the provider's voice (resampled to the graph's
rate). An agent's own LLM node in the graph is the model of the graph's LLM stage. An agent without
a stage of its own uses the session's default for it.

A provider is set up (its model loaded) when the handoff happens — a handoff whose
models fail to load fails, and the old agent carries on — and closed when the session
ends, so handing back and forth does not load a model twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphflow.errors import ConfigError
from graphflow.hosting import HostedNodes
from graphflow.node import Node

STAGES = ("stt", "llm", "tts")
"""The stages an agent may bring its own node for."""


@dataclass
class StageSet:
    """One node (or None) per stage."""

    stt: Node | None = None
    llm: Node | None = None
    tts: Node | None = None

    def get(self, stage: str) -> Node | None:
        """The node of ``stage`` (``"stt"``, ``"llm"`` or ``"tts"``)."""
        node: Node | None = getattr(self, stage)
        return node


class AgentStages:
    """The graph's stage nodes, the session's defaults, and the providers agents brought."""

    def __init__(self, graph: StageSet, defaults: StageSet | None = None) -> None:
        self.graph = graph
        """The stage nodes in the graph."""
        self.defaults = defaults or StageSet()
        """What an agent without a stage of its own uses (None: the graph's node itself)."""
        self._hosted = {
            stage: HostedNodes(node) for stage in STAGES if (node := graph.get(stage)) is not None
        }
        self._current: dict[str, Node | None] = dict.fromkeys(self._hosted)

    def plan(self, agent: object) -> dict[str, Node | None]:
        """The provider each graph stage needs for ``agent`` (None: the graph node does the work).

        Raises ConfigError when a graph node cannot take another node's work.
        """
        plan: dict[str, Node | None] = {}
        for stage, hosted in self._hosted.items():
            host = hosted.host
            wanted = getattr(agent, stage, None) or self.defaults.get(stage) or host
            if wanted is host or wanted is getattr(host, "model", None):
                plan[stage] = None
                continue
            if not _takes_providers(host) or not isinstance(wanted, _provider_type(host)):
                raise ConfigError(
                    f"the graph's {stage} node {host.name!r} ({type(host).__name__}) cannot use "
                    f"{type(wanted).__name__} {wanted.name!r} as its provider",
                    hint="an agent's stage must be the same kind of node as the graph's "
                    "(LLMNode, SentenceTTS, SegmentedSTT)",
                )
            plan[stage] = wanted
        return plan

    async def prepare(self, agent: object) -> dict[str, Node | None]:
        """Set up the providers ``agent`` needs (a failure leaves everything as it was)."""
        plan = self.plan(agent)
        for stage, provider in plan.items():
            if provider is not None:
                await self._hosted[stage].start(provider)
        return plan

    def current(self) -> dict[str, Node | None]:
        """The providers in use now."""
        return dict(self._current)

    def provider(self, stage: str) -> Node | None:
        """The provider ``stage`` uses now (None: the graph's node does the work)."""
        return self._current.get(stage)

    def apply(self, plan: dict[str, Node | None]) -> None:
        """Make the graph's stage nodes use ``plan``'s providers (the LLM's: through the replies)."""
        for stage, provider in plan.items():
            self._current[stage] = provider
            host = self._hosted[stage].host
            if hasattr(host, "provider"):
                host.provider = provider

    async def close(self) -> None:
        """Close every provider that was set up (when the session ends)."""
        first: Exception | None = None
        for stage, hosted in self._hosted.items():
            self._current[stage] = None
            if hasattr(hosted.host, "provider"):
                hosted.host.provider = None
            first = first or await hosted.close()
        if first is not None:
            raise first


def _takes_providers(host: Node) -> bool:
    """Whether ``host`` can do its work with another node (STT and TTS stages, every LLM stage)."""
    from nodes.llm.base import LLMNode

    return hasattr(host, "provider") or isinstance(host, LLMNode)


def _provider_type(host: Node) -> type[Node]:
    """The class a provider of ``host`` must be: the stage's base class."""
    from nodes.llm.base import LLMNode
    from nodes.stt.segmenter import SegmentedSTT
    from nodes.tts.sentences import SentenceTTS

    for base in (LLMNode, SentenceTTS, SegmentedSTT):
        if isinstance(host, base):
            return base
    return type(host)
