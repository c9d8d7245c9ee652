"""One options struct builds a session; ``--set key=value`` changes it in run, bench and the worker."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from livekit.protocol import agent as proto
from livekit.protocol import models

from graphflow.agent.options import Provider, SessionOptions, with_overrides
from graphflow.agent.session import AgentSession
from graphflow.bench.latency import LatencyOptions
from graphflow.cli.main import main
from graphflow.errors import ConfigError
from graphflow.redact import mask_secrets
from graphflow.timebase import MS
from graphflow.worker.job import JobContext
from nodes.llm.base import LLMNode
from nodes.llm.openai import OpenAIChatOptions
from nodes.turn.detector import TurnDetector

from ..fixtures import FIXTURES, model_cache


def test_overrides_are_converted_and_validated_by_the_struct() -> None:
    o = with_overrides(
        SessionOptions(),
        ["turn.min_delay_ms=300", "stt.name=moonshine", "gate.join_below_words=3", "away_after_s=2.5"],
    )
    assert o.turn.min_delay_ms == 300 and o.stt.name == "moonshine"
    assert o.gate.join_below_words == 3 and o.away_after_s == 2.5
    assert o.turn.max_delay_ms == SessionOptions().turn.max_delay_ms  # the rest stays


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("turn.min_delay=300", "turn.min_delay"),  # a typo: the known keys are named
        ("turn.min_delay_ms=soon", "min_delay_ms"),  # not a number
        ("turn=300", "'turn' is a group"),
        ("turn.min_delay_ms", "key=value"),
    ],
)
def test_a_wrong_override_is_one_clear_error(change: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        with_overrides(SessionOptions(), [change])
    assert says in str(info.value) or says in info.value.hint
    if "min_delay=" in change:
        assert "min_delay_ms" in info.value.hint


def test_a_providers_options_keep_its_secrets() -> None:
    p = Provider.of("openai", OpenAIChatOptions(api_key="sk-very-secret", model="m"))
    assert "sk-very-secret" not in repr(p) and "sk-very-secret" not in repr(SessionOptions(llm=p))
    assert "'model': 'm'" in repr(p)


def test_a_benchmarks_json_masks_a_providers_secrets() -> None:
    options = SessionOptions(llm=Provider.of("openai", OpenAIChatOptions(api_key="sk-very-secret")))
    shown = json.dumps(mask_secrets(msgspec.to_builtins(LatencyOptions(recordings=(), session=options))))
    assert "sk-very-secret" not in shown and '"api_key": "***"' in shown


def test_the_session_builds_its_graph_from_the_options() -> None:
    options = with_overrides(SessionOptions(), ["turn.min_delay_ms=300", "llm.options.ttft_ms=150"])
    session = AgentSession(options)
    nodes = {n.name: n for n in session.graph.nodes()}
    turn, llm = nodes["turn"], nodes["llm"]
    assert isinstance(turn, TurnDetector) and turn.options.min_delay_ms == 300
    assert isinstance(llm, LLMNode) and llm.replies is session.replies  # given when it was made
    assert llm.latency() == 150 * MS  # the provider's options, converted by the registry


def test_an_unknown_provider_is_named() -> None:
    with pytest.raises(ConfigError, match="whispr"):
        AgentSession(with_overrides(SessionOptions(), ["stt.name=whispr"]))


def test_run_takes_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_cache()
    out = tmp_path / "t.jsonl"
    wav = str(FIXTURES / "cmd_go_forward_ten_meters.wav")
    status = main(
        ["run", "graphs/voice_agent.py", "-i", wav, "--fast", "-t", str(out), "--set", "llm.name=local"]
    )
    assert status == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [u["role"] for u in lines] == ["user", "agent"]
    capsys.readouterr()
    status = main(["run", "graphs/voice_agent.py", "-i", wav, "--fast", "--set", "turn.min_dlay_ms=3"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "turn.min_dlay_ms" in err


def test_bench_takes_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "--virtual", "--runs", "1", "--set", "vad.threshold=high"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "threshold" in err


async def test_a_jobs_sessions_get_the_workers_overrides() -> None:
    job = proto.Job(id="j1", type=proto.JobType.JT_ROOM, room=models.Room(name="r"))
    ctx = JobContext(job, url="ws://127.0.0.1:7880", token="t", session_overrides=("turn.min_delay_ms=250",))
    assert ctx.session_options.turn.min_delay_ms == 250
    plain = JobContext(job, url="ws://127.0.0.1:7880", token="t")
    assert plain.session_options == SessionOptions()
    assert (
        msgspec.json.decode(msgspec.json.encode(ctx.session_options), type=SessionOptions).turn.min_delay_ms
        == 250
    )
