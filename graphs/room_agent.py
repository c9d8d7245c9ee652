"""The voice agent in a LiveKit room: the voice_agent graph with room nodes at both ends.

``graphflow dev graphs/room_agent.py`` registers a worker; every room the server dispatches
to it gets the agent: it joins, follows the first participant who publishes a
microphone, listens (Silero VAD, Whisper, Smart Turn), answers (the local responder,
Piper) on its own audio track, and publishes both sides' transcriptions on
``lk.transcription``. What the participant types (``lk.chat``) is a turn too: it
interrupts the agent and gets an answer. ``GRAPHFLOW_AGENT_NAME`` registers it for explicit dispatch only.
Every session of a worker process shares one :class:`ModelHub` (one copy of each model,
VAD windows batched across sessions).
"""

from __future__ import annotations

import os

from livekit import rtc

from graphflow.agent.options import SessionOptions
from graphflow.agent.pipeline import IOFactory, PipelineIO, StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.conversation.playout import Playout, Timeline
from graphflow.graph import Graph
from graphflow.models import ModelHub
from graphflow.worker.job import JobContext
from graphflow.worker.settings import WorkerOptions
from nodes.room.chat import RoomChatInput, RoomChatOptions
from nodes.room.sink import RoomAudioSink
from nodes.room.source import RoomAudioSource, RoomSourceOptions
from nodes.room.transcription import RoomTranscriber

worker_options = WorkerOptions(agent_name=os.environ.get("GRAPHFLOW_AGENT_NAME", ""))
"""Automatic dispatch unless ``GRAPHFLOW_AGENT_NAME`` is set."""

MODELS = ModelHub()
"""The models every session of this worker process shares."""


def room_io(room: rtc.Room, participant: str = "") -> IOFactory:
    """Room nodes for a pipeline: the participant's microphone in, the agent's track out."""

    def make(timeline: Timeline, playout: Playout) -> PipelineIO:
        # 16 kHz in 10 ms frames, as the VAD and the STT take it: the SDK converts in its
        # native receiver, so no resampler holds audio back before the VAD
        options = RoomSourceOptions(participant=participant, rate=16000, frame_ms=10)
        source = RoomAudioSource(options, name="source", room=room, timeline=timeline)
        sink = RoomAudioSink(name="sink", room=room, playout=playout)
        transcriber = RoomTranscriber(name="transcriber", room=room, source=source)
        chat = RoomChatInput(RoomChatOptions(participant=participant), name="chat", room=room)
        return PipelineIO(source, sink, transcriber, typed=chat)

    return make


def build_room_session(
    room: rtc.Room,
    participant: str = "",
    *,
    options: SessionOptions | None = None,
    hub: ModelHub | None = None,
    overrides: StageOverrides | None = None,
) -> AgentSession:
    """A voice session talking with ``participant`` (default: the first who speaks) in ``room``."""
    return AgentSession(options, hub=hub or MODELS, overrides=overrides, io=room_io(room, participant))


async def prewarm(options: SessionOptions | None = None) -> None:
    """Load the models of the sessions to come (``options``, with the worker's ``--set``) once per
    worker process, before it takes jobs (so no first words are lost)."""
    session = AgentSession(options, io=room_io(rtc.Room()), hub=MODELS)
    for node in session.graph.nodes():
        if node.name in ("vad", "stt", "turn", "tts"):
            await node.setup()


async def entrypoint(ctx: JobContext) -> None:
    """Join the room, wait for someone, talk with them for as long as the job lasts."""
    await ctx.connect()
    participant = await ctx.wait_for_participant(timeout_s=60.0)
    ctx.run_session(build_room_session(ctx.room, participant.identity, options=ctx.session_options))


def build_graph() -> Graph:
    """The graph of a room session (for ``graphflow render``; nothing connects)."""
    return AgentSession(io=room_io(rtc.Room())).graph
