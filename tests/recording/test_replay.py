"""Replaying a recorded session: the same graph gives the same turns, a changed option a diff.

The recording is a real offline session (real Silero VAD and Smart Turn, the stand-in STT
and TTS, the local responder with a tool call and a barge-in: ``tests/telemetry/voice.py``),
recorded on the virtual clock. A replay plays channel 0 of its ``audio.wav`` through a
session built the same way (``build_session`` below, also the ``--graph`` of the command).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from graphflow.agent.options import Provider, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.cli.main import main
from graphflow.errors import ConfigError
from graphflow.models import ModelHub
from graphflow.recording import FILES, RecordOptions, record_session
from graphflow.recording.replay import load_recording, replay
from graphflow.recording.turn_diff import DiffOptions, Turn, diff_turns
from nodes.llm.local import LocalResponder, LocalResponderOptions
from nodes.turn.options import FusedOptions, TurnOptions

from ..fixtures import FIXTURES, ROOT, model_cache
from ..telemetry.voice import SAID, Mover, mover_session, run

GRAPH = "tests.recording.test_replay"
"""This module, as the ``--graph`` of ``graphflow replay``: its ``build_session`` makes the session."""


def build_session(options: SessionOptions) -> AgentSession:
    """The recorded session's graph and agent on ``options`` (what the replay runs)."""
    llm = LocalResponder(LocalResponderOptions(ttft_ms=200, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT([SAID] * 2, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    return AgentSession(options, hub=ModelHub(model_cache()), overrides=overrides, agent=Mover())


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the recorded session."""
    tmp = tmp_path_factory.mktemp("replay")
    session = mover_session(tmp)
    recorder = record_session(session, RecordOptions(folder=str(tmp / "rec")))
    run(session)
    return recorder.finish()


def test_an_unchanged_replay_gives_the_same_turns(recording: Path) -> None:
    recorded = load_recording(recording)
    assert [t.text for t in recorded.turns] == [SAID, SAID]
    result = replay(recorded, build=build_session)
    assert result.matches
    assert [line.status for line in result.diff] == ["same", "same"]
    for line in result.diff:
        assert line.recorded is not None and line.replayed is not None
        assert line.moved_ms == 0  # the virtual clock: the same audio is decided at the same instant
        assert (line.replayed.reason, line.replayed.probability, line.replayed.text) == (
            line.recorded.reason,
            line.recorded.probability,
            line.recorded.text,
        )
    # the recorded decisions are where the report puts them
    report = json.loads((recording / FILES["report"]).read_text())
    assert [t.speech_end_ms / 1000 for t in recorded.turns] == [
        pytest.approx(t["media_s"]) for t in report["turns"]
    ]


def test_the_command_passes_an_unchanged_replay(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(recording), "--graph", GRAPH]) == 0
    out = capsys.readouterr().out
    assert "the turns match: 2 same" in out
    assert out.count("fused -> fused") == 2


def test_a_longer_delay_moves_every_turn(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "diff.json"
    args = ["replay", str(recording), "--graph", GRAPH, "--set", "turn.fused.min_delay_ms=900"]
    assert main([*args, "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "the turns differ: 2 moved" in printed
    diff = json.loads(out.read_text())
    assert diff["matches"] is False and diff["set"] == ["turn.fused.min_delay_ms=900"]
    assert diff["counts"] == {"same": 0, "moved": 2, "changed": 0, "missing": 0, "new": 0}
    for line in diff["turns"]:
        assert line["status"] == "moved"
        # the silence asked for grew from 200 to 900 ms: the decision comes that much later, less
        # what the fused evidence had already waited beyond the old floor
        assert 600 < line["moved_ms"] < 720
        moved = line["replayed"]["decided_ms"] - line["recorded"]["decided_ms"]
        assert moved == pytest.approx(line["moved_ms"])
        assert line["recorded"]["reason"] == line["replayed"]["reason"] == "fused"
    # with a tolerance wider than the move, the same turns pass
    assert main([*args, "--tolerance-ms", "800"]) == 0


def test_a_silence_longer_than_the_pause_joins_two_turns(recording: Path) -> None:
    sets = ["turn.mode=silence", "turn.silence_delay_ms=3500"]
    result = replay(recording, sets=sets, build=build_session)
    assert not result.matches
    first, second = result.diff
    assert first.status == "missing" and first.replayed is None
    assert second.status == "moved" and second.replayed is not None and second.recorded is not None
    assert (second.recorded.reason, second.replayed.reason) == ("fused", "silence")
    assert second.replayed.text == f"{SAID} {SAID}"  # the pause no longer ends the first turn
    assert second.moved_ms is not None and second.moved_ms > 3000


def test_the_diff_matches_by_speech_end_and_reports_new_turns() -> None:
    def turn(end: float, decided: float, reason: str = "fused") -> Turn:
        return Turn(speech_end_ms=end, decided_ms=decided, text="", reason=reason, probability=0.5)

    recorded = [turn(1000, 1200), turn(5000, 5200), turn(9000, 9300)]
    replayed = [turn(1010, 1250), turn(5000, 5600), turn(7000, 7200), turn(9000, 9300, "model")]
    lines = diff_turns(recorded, replayed, DiffOptions(tolerance_ms=100, window_ms=500))
    assert [(line.status, line.moved_ms) for line in lines] == [
        ("same", 50),
        ("moved", 400),
        ("new", None),
        ("changed", 0),
    ]


def test_bad_input_gets_one_clear_line(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(*args: str) -> str:
        assert main(["replay", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("graphflow: ") and err.count("\n") == 1 and "Traceback" not in err
        return err

    assert "no such folder" in fails(str(tmp_path / "nowhere"))
    assert "it has no report.json" in fails(str(tmp_path))
    silent = tmp_path / "silent"
    shutil.copytree(recording, silent)
    (silent / FILES["audio"]).unlink()
    report = json.loads((silent / FILES["report"]).read_text())
    (silent / FILES["report"]).write_text(json.dumps({**report, "audio": None}))
    assert "recorded without audio" in fails(str(silent))
    (silent / FILES["report"]).write_text("{not json")
    assert "cannot be read" in fails(str(silent))
    typo = fails(str(recording), "--graph", GRAPH, "--set", "turn.fused.min_dely_ms=900")
    assert "no option 'turn.fused.min_dely_ms'" in typo
    with pytest.raises(ConfigError, match="not a recording"):
        load_recording(tmp_path)


@pytest.mark.timeout(180)  # real Whisper, Smart Turn and Piper on 2 cores, three times
def test_the_voice_agent_replays_a_recorded_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default graph, every stage a real local model: a four-turn call recorded, then replayed."""
    model_cache()
    folder = tmp_path / "rec"
    call = FIXTURES / "conv_constructed_4turn.wav"
    assert (
        main(["run", str(ROOT / "graphs/voice_agent.py"), "-i", str(call), "--fast", "--record", str(folder)])
        == 0
    )
    capsys.readouterr()
    assert main(["replay", str(folder)]) == 0
    assert "the turns match: 5 same" in capsys.readouterr().out
    out = tmp_path / "diff.json"
    assert main(["replay", str(folder), "--set", "turn.fused.min_delay_ms=600", "--json", str(out)]) == 1
    diff = json.loads(out.read_text())
    assert diff["counts"]["missing"] >= 1 and diff["counts"]["same"] == 0
    moved = [line["moved_ms"] for line in diff["turns"] if line["status"] == "moved"]
    assert moved and all(m == pytest.approx(400, abs=40) for m in moved)  # 600 ms asked for, not 200


def test_a_replay_runs_with_the_recorded_options_and_no_secret_is_kept(tmp_path: Path) -> None:
    # recorded with a 900 ms floor and a provider key: the replay needs no --set to match it,
    # and the key is not in the folder
    session = mover_session(tmp_path)
    slow = TurnOptions(fused=FusedOptions(min_delay_ms=900))
    options = msgspec.structs.replace(
        session.options, turn=slow, stt=Provider("whisper", {"api_key": "sk-not-in-the-folder"})
    )
    session = build_session(options)
    recorder = record_session(session, RecordOptions(folder=str(tmp_path / "rec")))
    run(session)
    folder = recorder.finish()
    report = (folder / FILES["report"]).read_text()
    assert "sk-not-in-the-folder" not in report
    kept = json.loads(report)["options"]
    assert kept["turn"]["fused"]["min_delay_ms"] == 900 and kept["stt"]["options"] == {"api_key": ""}
    result = replay(folder, build=build_session)
    assert result.matches and len(result.turns) == 2
    # the defaults would move every turn: the options did come from the recording
    assert not replay(folder, sets=["turn.fused.min_delay_ms=200"], build=build_session).matches
