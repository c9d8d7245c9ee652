"""Whole sessions on recorded speech: an answer per user turn; barge-in keeps only what was heard."""

from __future__ import annotations

import itertools
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.cli.main import main
from graphflow.conversation.events import (
    AgentPaused,
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    TurnEnded,
    TurnMetrics,
    UserTranscript,
    UserTurnJoined,
)
from graphflow.models import ModelHub
from graphflow.render import describe
from graphflow.runtime.clock import VirtualClock
from nodes.llm.local import respond
from nodes.turn.options import TurnOptions

from ..fixtures import FIXTURES, ROOT, model_cache, read_wav, write_wav


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    """One set of loaded models for every session of this module (as a worker would share them)."""
    return ModelHub(model_cache())


def run_session(
    path: Path, hub: ModelHub, *, tail_silence_ms: int = 3000, turn: TurnOptions | None = None
) -> AgentSession:
    options = SessionOptions(
        files=FileIO(input=str(path), tail_silence_ms=tail_silence_ms), turn=turn or TurnOptions()
    )
    session = AgentSession(options, hub=hub)
    clock = VirtualClock()
    clock.run(session.run(clock))
    return session


def test_a_conversation_gets_an_answer_per_user_turn(hub: ModelHub, tmp_path: Path) -> None:
    # a question, a command and a statement, each followed by enough silence for the answer to
    # play (not "I tell you it is not poison, | she cried": the fused decision answers the complete
    # sentence before the pause, and "she cried" is a turn of its own)
    names = [
        "q_ls_251-137823-0002_testing_routine.wav",
        "cmd_go_forward_ten_meters.wav",
        "read_ls_3536-23268-0010.wav",
    ]
    gap = np.zeros(16000 * 9, np.int16)
    pcm = np.concatenate([np.concatenate([read_wav(n), gap]) for n in names])
    session = run_session(write_wav(tmp_path / "talk.wav", pcm), hub, tail_silence_ms=0)
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    answers = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert len(turns) == 3, [t.text for t in turns]
    assert "testing routine" in turns[0].text.lower() and "forward" in turns[1].text.lower()
    assert len(answers) == 3 and not any(a.interrupted for a in answers)
    assert "testing routine" in answers[0].heard  # the responder echoes the question
    roles = [m.role for m in session.chat.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert len(session.metrics) == 3 and all(m.voice_to_voice_ms for m in session.metrics)
    lines = sorted(session.transcript, key=lambda u: u.start)
    assert [u.role for u in lines] == ["user", "agent"] * 3
    assert all(a.start < b.start for a, b in itertools.pairwise(lines))
    finals = [e for e in session.events if isinstance(e, UserTranscript) and e.final]
    assert len(finals) >= 3


@pytest.mark.timeout(120)  # 7-38 s measured on 2 cores (the slower under load)
def test_barge_in_stops_the_agent_and_history_keeps_only_what_was_heard(
    hub: ModelHub, tmp_path: Path
) -> None:
    question = read_wav("q_ls_251-137823-0002_testing_routine.wav")  # speech ends ~2.66 s
    interruption = read_wav("read_arctic_axb_a0004.wav")
    # the agent starts answering ~0.8 s after the question; the user talks over it at 5.0 s
    pcm = np.zeros(16000 * 16, np.int16)
    pcm[: len(question)] = question
    pcm[16000 * 5 : 16000 * 5 + len(interruption)] = interruption
    session = run_session(write_wav(tmp_path / "barge.wav", pcm), hub, tail_silence_ms=0)
    stops = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    first = stops[0]
    assert first.interrupted
    assert any(isinstance(e, AgentPaused) for e in session.events)
    full = respond("This isn't part of your testing routine, is it?")
    assert first.heard and full.startswith(first.heard) and first.heard != full
    assistant = [m for m in session.chat.messages if m.role == "assistant"]
    assert assistant[0].content == first.heard and assistant[0].interrupted
    # the agent went quiet right after the user started: nothing of the old reply after the pause
    paused = next(e for e in session.events if isinstance(e, AgentPaused))
    assert first.media - paused.media < 400 * 1_000_000
    # and it answered the interruption
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    assert len(turns) == 2 and "glad" in turns[1].text.lower()
    assert len(stops) == 2 and not stops[1].interrupted


def test_graphflow_run_writes_audio_and_a_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_cache()
    out, transcript = tmp_path / "conv.wav", tmp_path / "t.jsonl"
    status = main(
        [
            "run",
            str(ROOT / "graphs/voice_agent.py"),
            "--input",
            str(FIXTURES / "cmd_go_forward_ten_meters.wav"),
            "--output",
            str(out),
            "--transcript",
            str(transcript),
            "--fast",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "user :" in printed and "forward" in printed.lower() and "agent:" in printed
    assert "voice-to-voice" in printed
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [line["role"] for line in lines] == ["user", "agent"]
    assert {"role", "text", "start", "end", "interrupted"} <= set(lines[1])
    assert lines[0]["end"] < lines[1]["start"]
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 16000
        seconds = w.getnframes() / 16000
    assert seconds >= lines[1]["end"] - 0.05


def test_the_voice_graph_renders_with_its_cancellation_edges() -> None:
    from graphs.voice_agent import build_graph

    view = describe(build_graph().compile())
    names = {n.name for n in view.nodes}
    assert {"source", "resampler", "vad", "stt", "turn", "llm", "tts", "gate", "sink"} <= names
    assert {(c.trigger, c.target) for c in view.cancels} == {
        ("gate", "llm"),
        ("gate", "tts"),
        ("gate", "sink"),
    }


def test_metrics_are_reported_per_exchange(hub: ModelHub) -> None:
    path = FIXTURES / "cmd_go_forward_ten_meters.wav"
    session = run_session(path, hub, turn=TurnOptions(preemptive=False))
    [metrics] = [e for e in session.events if isinstance(e, TurnMetrics)]
    assert metrics.llm_ttft_ms == pytest.approx(200, abs=1)  # the responder's configured time to first token
    assert metrics.voice_to_voice_ms is not None and metrics.end_of_turn_ms is not None
    assert metrics.voice_to_voice_ms >= metrics.end_of_turn_ms

    # preemptive generation (the default): the model started on the final transcript, so
    # less of its time to first token is left after the turn decision
    early = run_session(path, hub)
    [quicker] = [e for e in early.events if isinstance(e, TurnMetrics)]
    assert quicker.llm_ttft_ms is not None and quicker.llm_ttft_ms < 200
    assert quicker.voice_to_voice_ms is not None and quicker.voice_to_voice_ms < metrics.voice_to_voice_ms
    said = [(u.role, u.text) for u in early.transcript]
    assert said == [(u.role, u.text) for u in session.transcript]  # the same conversation, only sooner


def test_a_recorded_two_party_conversation_gets_an_answer_per_turn(hub: ModelHub) -> None:
    # seven turns of two people, ~1 s apart: the agent answers each, and the next speaker
    # talks over every answer but the last (a barge-in each time). Two of the turns have a
    # pause inside them that ends a turn early; the speaker goes on, the reply is cut unheard,
    # and the two fragments join into one message, answered as a whole.
    session = run_session(FIXTURES / "conv_katie_steve_diarization.wav", hub)
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    joined = [e for e in session.events if isinstance(e, UserTurnJoined)]
    started = [e for e in session.events if isinstance(e, AgentStartedSpeaking)]
    stopped = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    users = [m.content for m in session.chat.messages if m.role == "user"]
    assert len(users) == 7, users
    assert len(turns) == len(users) + len(joined)  # every extra turn was a fragment, joined
    assert "morning" in users[0].lower() and "right now" in users[-1].lower()
    assert len(started) == len(stopped) == 7
    assert [s.interrupted for s in stopped] == [True] * 6 + [False]
    assert stopped[-1].heard == respond(users[-1])
    for said, stop in zip(users, stopped, strict=True):
        assert respond(said).startswith(stop.heard)  # heard is a prefix of the reply to the whole turn
