"""Background audio in a real session on the virtual clock: ambience, the thinking sound, a barge-in.

Each session hears "go forward ten meters" twice, two seconds apart (a recorded fixture):
real Silero VAD and Smart Turn, the stand-in STT and TTS (a 424 Hz tone per sentence), the
local responder with a configurable time to first token (and, once, a tool that takes two
seconds between two sentences). What the sink played is read back from the conversation
WAV it writes (channel 1, the agent), 16 kHz.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.options import FileIO, SessionOptions, with_overrides
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.agent.tools import function_tool
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStartedSpeaking, AgentStoppedSpeaking, TurnEnded
from graphflow.conversation.model import ToolRule
from graphflow.conversation.playout import Playout
from graphflow.errors import ConfigError
from graphflow.graph import Graph
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from graphflow.timebase import to_seconds
from nodes.audio.background import BackgroundMixer, BackgroundOptions, layer_background
from nodes.audio.background_sounds import THINKING_TONES_HZ
from nodes.audio.survive import Survive
from nodes.gate.interruption import InterruptionGate
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import model_cache, said_twice

RATE = 16000
SAID = "go forward ten meters"
FILE_TONE_HZ = 1000.0  # the thinking sound given as a file
VOICE_HZ = RATE / (2 * np.pi * 6)  # the stand-in TTS's tone: sin(n / 6)


class Looker(Agent):
    """Says it will look, then looks for two seconds (a slow tool), then answers."""

    def __init__(self) -> None:
        rule = ToolRule(when="forward", call="look", say="Let me check.", then="{output}")
        super().__init__(rules=[rule])

    @function_tool
    async def look(self) -> str:
        """Look it up (slowly)."""
        await asyncio.sleep(2.0)  # on the session's clock
        return "The way is clear."


def session(
    tmp_path: Path,
    background: BackgroundOptions,
    *,
    ttft_ms: int = 200,
    agent: Agent | None = None,
    gap_s: float = 2.0,
) -> AgentSession:
    """Run the session (see the module docstring) and return it; its WAV is ``tmp_path/out.wav``."""
    path = said_twice("cmd_go_forward_ten_meters.wav", tmp_path / "said.wav", gap_s=gap_s)
    llm = LocalResponder(LocalResponderOptions(ttft_ms=ttft_ms, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT([SAID] * 2, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    files = FileIO(input=str(path), output=str(tmp_path / "out.wav"), tail_silence_ms=6000)
    options = SessionOptions(files=files, background=background)
    running = AgentSession(options, hub=ModelHub(model_cache()), overrides=overrides, agent=agent)
    clock = VirtualClock()
    clock.run(running.run(clock))
    return running


def agent_channel(tmp_path: Path) -> np.ndarray:
    """What the sink played (the agent's channel of the conversation WAV), as floats."""
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.getframerate() == RATE
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
    return pcm[:, 1].astype(np.float64)


def at(seconds: float) -> int:
    """The sample index of ``seconds``."""
    return round(seconds * RATE)


def band_rms(audio: np.ndarray, hz: float, width: float = 40.0, window: int = 640) -> np.ndarray:
    """RMS of ``audio`` within ``hz ± width`` per ``window`` samples (40 ms, Hann)."""
    n = len(audio) // window
    frames = audio[: n * window].reshape(n, window) * np.hanning(window)
    spectrum = np.abs(np.fft.rfft(frames, axis=1)) / window
    freqs = np.fft.rfftfreq(window, 1 / RATE)
    band = (freqs > hz - width) & (freqs < hz + width)
    rms: np.ndarray = np.sqrt((spectrum[:, band] ** 2).sum(axis=1))
    return rms


def windows(start: float, stop: float) -> slice:
    """The 40 ms windows of :func:`band_rms` that lie wholly between ``start`` and ``stop`` (s)."""
    return slice(int(np.ceil(start / 0.04)), int(np.floor(stop / 0.04)))


def replies(agent: AgentSession) -> list[tuple[float, float, str]]:
    """Each reply heard: when it started and stopped (s, input timeline), and what was heard."""
    starts = {e.reply_id: to_seconds(e.media) for e in agent.events if isinstance(e, AgentStartedSpeaking)}
    return [
        (starts[e.reply_id], to_seconds(e.media), e.heard)
        for e in agent.events
        if isinstance(e, AgentStoppedSpeaking)
    ]


def decided(agent: AgentSession) -> list[float]:
    """When each turn was decided (s, input timeline)."""
    base = agent.playout.timeline.base or 0
    return [to_seconds(e.at - base) for e in agent.events if isinstance(e, TurnEnded)]


def mixer(agent: AgentSession) -> BackgroundMixer:
    """The session's background mixer."""
    [node] = [n for n in agent.graph.nodes() if isinstance(n, BackgroundMixer)]
    return node


def test_the_ambience_plays_under_the_voice_and_in_its_silences(tmp_path: Path) -> None:
    for name in ("off", "on"):
        (tmp_path / name).mkdir()
    off = session(tmp_path / "off", BackgroundOptions())
    on = session(tmp_path / "on", BackgroundOptions(enabled=True, thinking_volume=0))
    assert not any(isinstance(n, BackgroundMixer) for n in off.graph.nodes())
    # the background is no reply: the conversation is the same, each reply a frame later at most
    assert [h for _, _, h in replies(on)] == [h for _, _, h in replies(off)] and len(replies(on)) == 2
    for (a, b, _), (c, d, _) in zip(replies(on), replies(off), strict=True):
        assert 0 <= a - c <= 0.02 and 0 <= b - d <= 0.02
    quiet, loud = agent_channel(tmp_path / "off"), agent_channel(tmp_path / "on")
    quiet, loud = quiet[: at(13.2)], loud[: at(13.2)]  # the input and its tail (the runs end a frame apart)
    silent = np.ones(len(loud), bool)  # where the agent says nothing in either session
    for a, b, _ in replies(on) + replies(off):
        silent[at(a) - 160 : at(b) + 160] = False
    assert silent.sum() > 6 * RATE
    assert not quiet[silent].any()  # without it, silence is silence
    assert np.sqrt(np.mean(loud[silent] ** 2)) > 200  # with it, the ambience (gain 0.1, peak 0.5)
    every_second = [np.sqrt(np.mean(loud[i : i + RATE] ** 2)) for i in range(0, at(13), RATE)]
    assert min(every_second) > 150  # and without a gap, voice or not
    # under the voice: the ambience's low rumble beside the voice's 424 Hz tone
    for a, b, _ in replies(on):
        voice_on, voice_off = loud[at(a + 0.1) : at(b - 0.1)], quiet[at(a + 0.1) : at(b - 0.1)]
        assert band_rms(voice_on, VOICE_HZ).mean() > 500
        assert band_rms(voice_on, 150, 80).mean() > 10 * band_rms(voice_off, 150, 80).mean() + 5


def test_thinking_plays_while_the_model_is_slow_and_stops_when_the_voice_starts(tmp_path: Path) -> None:
    tone = tmp_path / "thinking.wav"  # the sound as a file of the user's, at another rate
    t = np.arange(44100) / 44100
    with wave.open(str(tone), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes((np.sin(2 * np.pi * FILE_TONE_HZ * t) * 16000).astype("<i2").tobytes())
    background = BackgroundOptions(
        enabled=True, ambient_volume=0, thinking_file=str(tone), thinking_volume=0.5, thinking_after_ms=300
    )
    agent = session(tmp_path, background, ttft_ms=1500)
    audio = agent_channel(tmp_path)
    thinking = band_rms(audio, FILE_TONE_HZ)
    for turn, (start, stop, _) in zip(decided(agent), replies(agent), strict=True):
        assert start - turn == pytest.approx(1.6, abs=0.05)  # 1.5 s to the first token, 0.1 s to speech
        # nothing before the threshold, the tone all the way from it to the voice
        assert not audio[at(turn) : at(turn + 0.29)].any()
        waiting = thinking[windows(turn + 0.3, start)]
        assert len(waiting) > 25 and waiting.min() > 1000
        # from the first word on, the voice alone
        speaking = thinking[windows(start, stop)]
        assert speaking.max() < 20 and band_rms(audio[at(start) : at(stop)], VOICE_HZ).mean() > 500
    assert mixer(agent).thinking_plays == 2


def test_a_barge_in_stops_the_thinking_sound(tmp_path: Path) -> None:
    background = BackgroundOptions(enabled=True, ambient_volume=0, thinking_after_ms=300)
    agent = session(tmp_path, background, ttft_ms=4000)  # the first answer never comes in time
    assert agent.runner is not None
    [cut] = agent.runner.cancellations
    assert cut.info.reason == "barge-in"
    assert cut.reports["background"] == {"thinking": True}
    base = agent.playout.timeline.base or 0
    cancelled = to_seconds(cut.info.fired_at - base)
    first, second = decided(agent)
    assert first + 0.3 < cancelled < second
    audio = agent_channel(tmp_path)
    tones = np.maximum(*(band_rms(audio, hz) for hz in THINKING_TONES_HZ))
    # the thinking sound played from the threshold on, while the user started talking over it
    assert tones[windows(first + 0.3, cancelled - 0.5)].max() > 1000
    # after the cancel: not a sample until the next turn's thinking sound
    assert not audio[at(cancelled) : at(second + 0.3)].any()
    assert tones[windows(second + 0.3, second + 0.6)].max() > 1000
    [(start, _, heard)] = replies(agent)  # only the second answer was ever heard
    assert start > second + 4.0 and heard.startswith("I heard you say")
    assert mixer(agent).thinking_plays == 2


def test_thinking_plays_while_a_tool_runs_between_the_words(tmp_path: Path) -> None:
    background = BackgroundOptions(enabled=True, ambient_volume=0, thinking_after_ms=300)
    agent = session(tmp_path, background, agent=Looker(), gap_s=6.0)  # no barge-in this time
    [(start, stop, heard), _] = replies(agent)
    assert heard == "Let me check. The way is clear."  # one reply: words, the tool's two seconds, words
    audio = agent_channel(tmp_path)[at(start) : at(stop)]
    speaking = band_rms(audio, VOICE_HZ) > 100
    thinking = np.maximum(*(band_rms(audio, hz) for hz in THINKING_TONES_HZ)) > 500
    assert not (speaking & thinking).any()
    first_words_end = np.argmin(speaking) * 0.04  # the first window after "Let me check."
    assert 0.5 < first_words_end < 1.0
    when = np.flatnonzero(thinking) * 0.04
    assert len(when) >= 4 and first_words_end + 0.25 < when.min() and when.max() < 2.3
    assert speaking[int(2.3 / 0.04) :].sum() > 10  # then the answer, with no thinking under it
    assert mixer(agent).thinking_plays == 2


def test_options_are_checked_and_set_from_the_command_line() -> None:
    options = with_overrides(
        SessionOptions(), ["background.enabled=true", "background.thinking_after_ms=800"]
    )
    assert options.background == BackgroundOptions(enabled=True, thinking_after_ms=800)
    assert SessionOptions().background.enabled is False
    with pytest.raises(ConfigError, match="ambient_volume"):
        BackgroundMixer(BackgroundOptions(ambient_volume=-1))
    with pytest.raises(ConfigError, match="thinking_after_ms"):
        BackgroundMixer(BackgroundOptions(thinking_after_ms=-5))
    # a sink that would take the background for replies is refused, by name
    gate, other = InterruptionGate(name="gate"), Survive(name="sink")
    with pytest.raises(ConfigError, match="Survive does not"):
        layer_background(Graph("g"), BackgroundOptions(), gate, other, other, other, other, Playout())
