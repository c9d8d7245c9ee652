"""Recording a real offline voice session: audio, transcript, events, trace and report, each checked."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphflow.agent.session import AgentSession
from graphflow.cli.main import main
from graphflow.conversation.events import (
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    FunctionOutput,
    TurnEnded,
)
from graphflow.recording import FILES, RecordOptions, read_events, record_session
from graphflow.timebase import to_seconds

from ..fixtures import FIXTURES, ROOT, model_cache
from ..telemetry.voice import ANSWER, SAID, mover_session, run

TAIL_S = 9.0  # the session's tail of silence after the recording (mover_session)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """The WAV's samples, shaped (frames, channels), and its rate."""
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return pcm, w.getframerate()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[AgentSession, Path, Path]:
    """The session with a tool call and a barge-in, recorded; its input file; the recording's folder."""
    tmp = tmp_path_factory.mktemp("record")
    session = mover_session(tmp)
    recorder = record_session(session, RecordOptions(folder=str(tmp / "rec")))
    run(session)
    folder = recorder.finish()
    return session, tmp / "barge_in.wav", folder


def test_the_audio_has_both_sides_on_the_sessions_timeline(recorded: tuple[AgentSession, Path, Path]) -> None:
    session, source, folder = recorded
    pcm, rate = read_audio(folder / FILES["audio"])
    said, _ = read_audio(source)
    assert rate == 16000 and pcm.shape[1] == 2
    assert len(pcm) / rate == pytest.approx(len(said) / rate + TAIL_S, abs=0.03)  # the whole session
    # the user's side is the input itself, sample for sample (a replay plays it again), silence after
    user = pcm[:, 0]
    assert np.array_equal(user[: len(said)], said[:, 0]) and not user[len(said) :].any()
    # the agent's side sounds exactly while a reply was being heard
    agent = pcm[:, 1].astype(np.float64)
    heard = np.zeros(len(agent), bool)
    started = {e.reply_id: e.media for e in session.events if isinstance(e, AgentStartedSpeaking)}
    stops = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    for stop in stops:
        a, b = round(to_seconds(started[stop.reply_id]) * rate), round(to_seconds(stop.media) * rate)
        assert np.sqrt(np.mean(agent[a:b] ** 2)) > 1000, stop.reply_id
        heard[a:b] = True
    assert not agent[~heard].any()
    assert to_seconds(stops[-1].media) < len(pcm) / rate


def test_the_transcript_is_the_sessions_conversation(recorded: tuple[AgentSession, Path, Path]) -> None:
    session, _, folder = recorded
    lines = [json.loads(line) for line in (folder / FILES["transcript"]).read_text().splitlines()]
    assert [line["role"] for line in lines] == ["user", "agent", "user", "agent"]
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    stops = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert (
        [line["text"] for line in lines if line["role"] == "user"] == [t.text for t in turns] == [SAID, SAID]
    )
    agent = [line for line in lines if line["role"] == "agent"]
    assert [a["text"] for a in agent] == [s.heard for s in stops] and agent[1]["text"] == ANSWER
    assert [a["interrupted"] for a in agent] == [True, False]
    assert [a["end"] for a in agent] == [pytest.approx(to_seconds(s.media)) for s in stops]
    assert [u["end"] for u in lines if u["role"] == "user"] == [
        pytest.approx(to_seconds(t.media)) for t in turns
    ]
    assert all(line["start"] < line["end"] for line in lines)


def test_events_read_back_as_the_same_structs(recorded: tuple[AgentSession, Path, Path]) -> None:
    session, _, folder = recorded
    assert read_events(folder / FILES["events"]) == session.events
    decisions = [e for e in read_events(folder / FILES["events"]) if isinstance(e, TurnEnded)]
    assert len(decisions) == 2 and all(d.evidence is not None and d.reason == "fused" for d in decisions)


def test_the_trace_holds_the_turns_spans(recorded: tuple[AgentSession, Path, Path]) -> None:
    _, _, folder = recorded
    trace = json.loads((folder / FILES["trace"]).read_text())
    spans: list[dict[str, Any]] = trace["spans"]
    by_id = {s["id"]: s for s in spans}
    turns = [s for s in spans if s["name"] == "turn"]
    assert len(turns) == 2 and all(by_id[t["parent"]]["name"] == "session" for t in turns)
    tools = [s for s in spans if s["name"] == "execute_tool move"]
    assert [by_id[t["parent"]]["name"] for t in tools] == ["llm", "llm"]
    assert tools[0]["attributes"]["gen_ai.tool.call.result"] == ANSWER  # a recording keeps what was said
    assert all(s["start"] <= s["end"] for s in spans)
    [cut] = [s for s in spans if s["name"] == "interruption"]
    assert by_id[cut["parent"]] is turns[0]


def test_the_report_gives_the_sessions_figures(recorded: tuple[AgentSession, Path, Path]) -> None:
    session, _, folder = recorded
    report = json.loads((folder / FILES["report"]).read_text())
    assert report["format"] == 1 and report["audio"]["channels"] == ["user", "agent"]
    assert set(report["files"].values()) == {p.name for p in folder.iterdir()}
    summary = report["summary"]
    assert summary["turns"] == 2 and summary["interruptions"] == 1 and summary["errors"] == 0
    assert summary["tool_calls"] == len([e for e in session.events if isinstance(e, FunctionOutput)]) == 2
    v2v = [m.voice_to_voice_ms for m in session.metrics]
    assert summary["latency_ms"]["voice_to_voice"]["count"] == 2
    assert summary["latency_ms"]["voice_to_voice"]["mean"] == pytest.approx(np.mean(v2v))  # type: ignore[arg-type]
    assert summary["latency_ms"]["voice_to_voice"]["max"] == pytest.approx(max(v2v))  # type: ignore[type-var]
    replies = report["replies"]
    assert [r["reply_id"] for r in replies] == [m.reply_id for m in session.metrics]
    for reply, metrics in zip(replies, session.metrics, strict=True):
        assert reply["latency_ms"]["end_of_turn"] == metrics.end_of_turn_ms
        assert reply["latency_ms"]["llm_ttft"] == metrics.llm_ttft_ms
        assert reply["llm"]["tool_calls"] == 1
    assert [r["interrupted"] for r in replies] == [True, False]
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    assert [(t["text"], t["reason"], t["probability"]) for t in report["turns"]] == [
        (e.text, str(e.reason), e.probability) for e in turns
    ]
    assert report["turns"][0]["evidence"]["audio"] == pytest.approx(turns[0].evidence.audio)  # type: ignore[union-attr]
    assert [c["name"] for c in report["tool_calls"]] == ["move", "move"]
    assert all(c["duration_ms"] == pytest.approx(250) for c in report["tool_calls"])
    assert report["duration_s"] == pytest.approx(report["audio"]["seconds"])
    assert report["clock"]["media_zero_ns"] == session.playout.timeline.base


@pytest.mark.timeout(180)  # real Whisper, Smart Turn and Piper on 2 cores
def test_graphflow_run_records_a_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_cache()
    fixture = FIXTURES / "cmd_go_forward_ten_meters.wav"
    folder = tmp_path / "rec"
    args = [
        "run",
        str(ROOT / "graphs/voice_agent.py"),
        "--input",
        str(fixture),
        "--fast",
        "--record",
        str(folder),
    ]
    assert main(args) == 0
    assert f"recorded the session in {folder}" in capsys.readouterr().err
    report = json.loads((folder / FILES["report"]).read_text())
    said, _ = read_audio(fixture)
    pcm, rate = read_audio(folder / FILES["audio"])
    assert report["summary"]["turns"] == 1 and "forward" in report["turns"][0]["text"].lower()
    [reply] = report["replies"]
    # the session lasts the input, its 3 s tail of silence, or until the answer was heard, whichever is last
    assert len(pcm) / rate == pytest.approx(max(len(said) / rate + 3.0, reply["stopped_s"]), abs=0.03)
    assert np.array_equal(pcm[: len(said), 0], said[:, 0])
    assert reply["interrupted"] is False and reply["latency_ms"]["voice_to_voice"] > 0
    lines = (folder / FILES["transcript"]).read_text().splitlines()
    assert [json.loads(line)["role"] for line in lines] == ["user", "agent"]
    assert len(read_events(folder / FILES["events"])) == len(
        (folder / FILES["events"]).read_text().splitlines()
    )


async def test_a_worker_records_each_job_in_a_folder_of_its_own(tmp_path: Path) -> None:
    from livekit.protocol import agent as proto
    from livekit.protocol import models

    from graphflow.worker.job import JobContext

    sets = (f"record.folder={tmp_path}",)
    folders = set()
    for job_id in ("AJ_one", "AJ_two"):
        job = proto.Job(id=job_id, room=models.Room(name="support"))
        ctx = JobContext(job, url="ws://127.0.0.1:7880", token="unused", session_overrides=sets)
        folders.add(ctx.session_options.record.folder)
    assert folders == {str(tmp_path / "AJ_one"), str(tmp_path / "AJ_two")}
