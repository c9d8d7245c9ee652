"""The voice agent through a real room: dispatch, an answer, transcriptions, barge-in, odd formats.

A test participant publishes a recorded fixture as its microphone; the worker gets the
job by dispatch and runs ``graphs/room_agent.py`` (Silero VAD, Whisper, Smart Turn,
the local responder, Piper); the participant receives the agent's track and the
``lk.transcription`` text streams, and Whisper, reading the agent's audio as received,
must hear what the agent said it said.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
import soxr
from livekit import api

from graphflow.bench.wer import wer
from graphflow.conversation.events import AgentStartedSpeaking, TurnEnded
from graphflow.livekit.server import LiveKitServer
from graphflow.models import ModelHub
from graphflow.worker.job import JobContext
from graphflow.worker.settings import WorkerOptions
from graphflow.worker.worker import Worker
from graphs.room_agent import build_room_session
from nodes.room.chat import CHAT_TOPIC, RoomChatInput
from nodes.room.source import RoomAudioSource
from tests.fixtures import FIXTURES, manifest, model_cache
from tests.livekit.peer import Peer
from tests.livekit.test_worker import access, running
from tests.waiting import until

# up to 24 s measured (with the models' loading), on 2 cores
pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.timeout(90)]

QUESTION = "q_ls_251-137823-0002_testing_routine.wav"
"""A question: the responder answers it at length (long enough to barge in on)."""
COMMAND = "cmd_go_forward_ten_meters.wav"


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    """One set of models for every session of the module, as a worker process shares them."""
    return ModelHub(model_cache())


@pytest.fixture(scope="module")
def whisper() -> Iterator[object]:
    """Whisper base, to read back what the participant received."""
    from faster_whisper import WhisperModel

    yield WhisperModel(str(model_cache().path("whisper-base")), compute_type="int8")


def transcribe(model: object, pcm: np.ndarray, rate: int) -> str:
    """Whisper's reading of int16 mono ``pcm``."""
    x = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, 16000)
    segments, _ = model.transcribe(x, beam_size=1, language="en")  # type: ignore[attr-defined]
    return " ".join(s.text.strip() for s in segments)


class VoiceJobs:
    """The room agent's entrypoint, keeping each job's session for the test to inspect."""

    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub
        self.contexts: dict[str, JobContext] = {}

    async def __call__(self, ctx: JobContext) -> None:
        self.contexts[ctx.room_name] = ctx
        await ctx.connect()
        participant = await ctx.wait_for_participant(timeout_s=30)
        ctx.run_session(build_room_session(ctx.room, participant.identity, hub=self.hub))


@contextlib.asynccontextmanager
async def voice_worker(server: LiveKitServer, hub: ModelHub, name: str) -> AsyncIterator[VoiceJobs]:
    """A worker running the voice agent for explicit dispatch under ``name``."""
    jobs = VoiceJobs(hub)
    async with running(Worker(jobs, WorkerOptions(agent_name=name), access=access(server))):
        yield jobs


async def listening(jobs: VoiceJobs, room: str) -> None:
    """Return once the room's session follows the participant's microphone (its graph runs)."""

    def following() -> bool:
        ctx = jobs.contexts.get(room)
        if ctx is None or not ctx.sessions:
            return False
        source = next(n for n in ctx.sessions[0].graph.nodes() if isinstance(n, RoomAudioSource))
        return bool(source.track_sid)

    await until(following, "the agent following the microphone", timeout=60)
    await asyncio.sleep(0.3)  # the first frames on their way


def dispatched(name: str) -> api.RoomConfiguration:
    """A room configuration that dispatches the agent ``name`` when the participant joins."""
    return api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=name)])


def agent_audio(peer: Peer) -> tuple[np.ndarray, list[float]]:
    """What the participant received from the agent (samples at 48 kHz) and arrival times of loud frames."""
    for identity, heard in peer.heard.items():
        if identity.startswith("agent-"):
            return heard.samples(), heard.loud_at()
    return np.zeros(0, np.int16), []


def finals(peer: Peer, sender_prefix: str) -> list[str]:
    """Final transcriptions the participant received from senders whose identity starts so."""
    return [
        text
        for attributes, sender, text in peer.texts
        if attributes.get("lk.transcription_final") == "true" and sender.startswith(sender_prefix)
    ]


def silenced_after(loud: list[float], onset: float, gap: float = 0.3) -> float:
    """Seconds from ``onset`` to the last loud frame of the reply it interrupted.

    The interrupted reply ends at the first pause longer than ``gap`` after ``onset`` (what
    comes later is the answer to the interruption).
    """
    last = onset
    for t in loud:
        if t <= onset:
            continue
        if t - last > gap:
            break
        last = t
    return last - onset


async def test_the_agent_answers_through_the_room(
    livekit_server: LiveKitServer, hub: ModelHub, whisper: object
) -> None:
    room = f"voice-{uuid.uuid4().hex[:8]}"
    async with voice_worker(livekit_server, hub, "voice-e2e") as jobs:
        peer = await Peer(livekit_server, "caller", room).join(room_config=dispatched("voice-e2e"))
        try:
            await peer.open_microphone()
            await listening(jobs, room)
            await peer.speak(FIXTURES / QUESTION, lead_ms=1000)
            await until(
                lambda: [u for u in jobs.contexts[room].sessions[0].transcript if u.role == "agent"],
                "the agent's answer in the session's transcript",
                timeout=45,
                interval=0.1,
            )
            await asyncio.sleep(0.5)  # the last audio and text streams arrive
            said = next(u.text for u in jobs.contexts[room].sessions[0].transcript if u.role == "agent")
            samples, loud = agent_audio(peer)
            assert loud, "no audible agent audio arrived"
            heard = transcribe(whisper, samples, 48000)
            assert wer(said, heard) <= 0.25, (said, heard)
            assert "question" in said.lower()
            published = finals(peer, "agent-")
            assert published and all(text in said for text in published), (published, said)
            user = finals(peer, "caller")
            assert user and wer(manifest()[QUESTION].transcript, user[0]) <= 0.25, user
            for attributes, _, _ in peer.texts:
                assert {"lk.segment_id", "lk.transcribed_track_id", "lk.transcription_final"} <= set(
                    attributes
                )
            session = jobs.contexts[room].sessions[0]
            assert session.metrics and session.metrics[0].voice_to_voice_ms is not None
        finally:
            await peer.leave()


async def test_barge_in_through_the_room_silences_the_agent(
    livekit_server: LiveKitServer, hub: ModelHub
) -> None:
    room = f"barge-{uuid.uuid4().hex[:8]}"
    async with voice_worker(livekit_server, hub, "voice-barge") as jobs:
        peer = await Peer(livekit_server, "caller", room).join(room_config=dispatched("voice-barge"))
        try:
            await peer.open_microphone()
            await listening(jobs, room)
            await peer.speak(FIXTURES / QUESTION, lead_ms=1000)
            await until(lambda: agent_audio(peer)[1], "the caller to hear the agent", timeout=30)
            await asyncio.sleep(0.8)  # the agent is speaking now
            onset, _ = await peer.speak(FIXTURES / COMMAND, tail_ms=3000)
            _, loud = agent_audio(peer)
            silent_after = silenced_after(loud, onset)
            # Silero's onset, the gate's pause and the sink's cleared queue: the agent falls
            # silent well within a second of the user starting to talk over it
            assert silent_after < 1.5, f"agent audible until {silent_after:.2f} s after the user's onset"
            assert loud and loud[0] < onset  # it was talking before
            session = jobs.contexts[room].sessions[0]
            stopped = [e for e in session.transcript if e.role == "agent"]
            assert stopped and stopped[0].interrupted
            heard = [m for m in session.chat.messages if m.role == "assistant"]
            assert heard and heard[0].interrupted and heard[0].content == stopped[0].text
            whole = (
                "That's a good question. You asked: are you testing your routine? Let me think about that."
            )
            assert len(stopped[0].text) < len(whole)
        finally:
            await peer.leave()


async def test_an_8khz_stereo_microphone_is_understood(livekit_server: LiveKitServer, hub: ModelHub) -> None:
    room = f"narrow-{uuid.uuid4().hex[:8]}"
    async with voice_worker(livekit_server, hub, "voice-8k") as jobs:
        peer = await Peer(livekit_server, "phone", room).join(room_config=dispatched("voice-8k"))
        try:
            await peer.open_microphone(8000, 2)
            await listening(jobs, room)
            await peer.speak(FIXTURES / COMMAND, rate=8000, channels=2)
            await until(
                lambda: finals(peer, "phone"),
                "the final transcription of the phone",
                timeout=30,
                interval=0.1,
            )
            assert wer("go forward ten meters", finals(peer, "phone")[0]) <= 0.34
            assert not [e for e in jobs.contexts[room].sessions[0].errors if e.fatal]
        finally:
            await peer.leave()


async def test_typed_chat_is_a_turn_that_interrupts_the_agent(
    livekit_server: LiveKitServer, hub: ModelHub
) -> None:
    room = f"chat-{uuid.uuid4().hex[:8]}"
    async with voice_worker(livekit_server, hub, "voice-chat") as jobs:
        peer = await Peer(livekit_server, "typist", room).join(room_config=dispatched("voice-chat"))
        try:
            await peer.open_microphone()
            await listening(jobs, room)  # the session's graph runs: the chat input is set up
            session = jobs.contexts[room].sessions[0]
            chat = next(n for n in session.graph.nodes() if isinstance(n, RoomChatInput))
            first = "I would like to hear all about the mountains, the rivers and the old towns nearby"
            await peer.room.local_participant.send_text(first, topic=CHAT_TOPIC)
            await until(lambda: any(isinstance(e, AgentStartedSpeaking) for e in session.events), "an answer")
            await asyncio.sleep(1.0)  # the agent is speaking now
            await peer.room.local_participant.send_text("Thanks a lot", topic=CHAT_TOPIC)
            await until(lambda: len([u for u in session.transcript if u.role == "agent"]) >= 2, "two answers")
            answered, thanked = [u for u in session.transcript if u.role == "agent"][:2]
            assert answered.interrupted and answered.text and thanked.text.startswith("You're welcome")
            users = [m.content for m in session.chat.messages if m.role == "user"]
            assert users == [first, "Thanks a lot"]
            typed = [e for e in session.events if isinstance(e, TurnEnded)]
            assert [e.kind for e in typed] == ["typed", "typed"]
            assert chat.received == 2 and not session.errors
        finally:
            await peer.leave()
