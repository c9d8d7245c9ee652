"""End-to-end encryption with mismatched keys, on a real server: a clear issue, never noise.

A caller speaks a recording into an encrypted room; the agent's microphone source runs
in a graph. With the same key the speech comes through; with another key, or with no
key on the agent's side, the frames the SDK delivers are noise and silence — the source
passes none of it on and reports why.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit import rtc

from graphflow import Graph, RunOptions
from graphflow.frames import AudioFrame
from graphflow.livekit.room import E2EESettings, RoomSettings, connect_room
from graphflow.livekit.server import LiveKitServer
from graphflow.runtime.events import NodeIssue, RunEvent
from nodes.memory import FrameSink
from nodes.room.source import RoomAudioSource, RoomSourceOptions
from tests.fixtures import FIXTURES
from tests.livekit.peer import Peer, token
from tests.waiting import WAIT

pytestmark = [pytest.mark.livekit, pytest.mark.slow]

SPEECH = FIXTURES / "cmd_go_forward_ten_meters.wav"  # 2.8 s
AGENT_KEY, CALLER_KEY = "the agent's passphrase", "the caller's own passphrase"


class Heard:
    """What the agent's source passed on, and the issues its run reported."""

    def __init__(self, source: RoomAudioSource, sink: FrameSink) -> None:
        self.source, self.sink = source, sink
        self.issues: list[NodeIssue] = []

    def on_event(self, event: RunEvent) -> None:
        """Keep the issues."""
        if isinstance(event, NodeIssue):
            self.issues.append(event)

    @property
    def frames(self) -> list[AudioFrame]:
        """The audio frames the source emitted."""
        return [f for f in self.sink.frames if isinstance(f, AudioFrame)]

    def loud_ms(self) -> int:
        """Milliseconds of emitted audio louder than a quiet room."""
        return sum(20 for f in self.frames if np.abs(f.samples).max() > 1000)


async def listen(server: LiveKitServer, room: str, agent_key: str | None, caller_key: str | None) -> Heard:
    """The agent (key ``agent_key``) listens while the caller (key ``caller_key``) says ``SPEECH``."""
    e2ee = E2EESettings.shared(agent_key) if agent_key is not None else None
    settings = RoomSettings(url=server.url, token=token(server, "agent", room, agent=True), e2ee=e2ee)
    agent = await asyncio.wait_for(connect_room(settings), WAIT)
    caller = Peer(server, "caller", room)
    sdk = E2EESettings.shared(caller_key).to_sdk() if caller_key is not None else None
    await asyncio.wait_for(caller.join(rtc.RoomOptions(encryption=sdk)), WAIT)
    source = RoomAudioSource(RoomSourceOptions(e2ee_wait_ms=1000), name="source", room=agent)
    heard = Heard(source, FrameSink(name="heard"))
    runner = Graph(room).chain(source, heard.sink).compile().runner(RunOptions(observers=(heard,)))
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(caller.speak(SPEECH), WAIT)
        source.stop()
        await asyncio.wait_for(task, WAIT)
    finally:
        if not task.done():
            runner.stop(drain=False)
            await asyncio.wait_for(task, WAIT)
        await caller.leave()
        await agent.disconnect()
    return heard


def codes(heard: Heard) -> list[str]:
    """The codes of the issues reported."""
    return [i.code for i in heard.issues]


def test_the_same_key_passes_the_speech_on(livekit_server: LiveKitServer) -> None:
    heard = asyncio.run(listen(livekit_server, "e2ee-same-key", AGENT_KEY, AGENT_KEY))
    assert codes(heard) == []
    assert heard.loud_ms() > 1000  # the speech, decrypted


def test_another_key_is_reported_and_its_noise_is_held_back(livekit_server: LiveKitServer) -> None:
    heard = asyncio.run(listen(livekit_server, "e2ee-other-key", AGENT_KEY, CALLER_KEY))
    assert codes(heard) == ["livekit.e2ee_decrypt_failed"]
    issue = heard.issues[0]
    assert "'caller'" in issue.message and "key differs" in issue.message
    assert AGENT_KEY not in issue.message and CALLER_KEY not in issue.message
    assert heard.source.undecrypted_samples > 48000  # over a second of frames that did not decrypt
    assert heard.frames == []  # none of it reached the graph: no noise, no silence passed as speech


def test_an_encrypted_caller_and_no_key_here_is_reported_and_not_listened_to(
    livekit_server: LiveKitServer,
) -> None:
    heard = asyncio.run(listen(livekit_server, "e2ee-no-key", None, CALLER_KEY))
    assert codes(heard) == ["livekit.e2ee_no_key"]
    assert "'caller'" in heard.issues[0].message and "no key" in heard.issues[0].message
    assert heard.frames == []  # the encrypted bytes were never decoded as audio
