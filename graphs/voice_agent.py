"""The voice agent: source → resampler → VAD → STT → turn detector → LLM → TTS → gate → sink.

The session builds the whole graph from :class:`~graphflow.agent.options.SessionOptions`;
this file only picks the defaults (every stage offline on local models: Silero VAD,
Whisper base, Smart Turn, the local responder, Piper).

``graphflow render graphs/voice_agent.py`` draws it; ``graphflow run graphs/voice_agent.py
--input in.wav --output out.wav`` talks to a recording, and ``--set turn.min_delay_ms=300``
changes any option.
"""

from __future__ import annotations

from graphflow.agent.options import SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.graph import Graph


def build_session(options: SessionOptions | None = None) -> AgentSession:
    """The default voice agent on ``options``."""
    return AgentSession(options)


def build_graph() -> Graph:
    """The default voice agent's graph (for rendering)."""
    return build_session().graph
