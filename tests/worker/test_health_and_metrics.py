"""The worker's health, state and metrics endpoints; metrics fed by a real session run offline."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStoppedSpeaking
from graphflow.errors import ConfigError
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from graphflow.worker.health import HealthOptions, HealthServer, JobEntry, WorkerInfo
from graphflow.worker.metrics import STAGES, WorkerMetrics
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import model_cache, said_twice

UTTERANCE = "cmd_go_forward_ten_meters.wav"


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text: (name, sorted labels) → value."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class FakeWorker:
    """Stands in for the worker's own state: the health server only reads ``info()``."""

    def __init__(self) -> None:
        self.connected = True

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            worker_id="AW_test",
            agent_name="helper",
            url="ws://127.0.0.1:7880",
            connected=self.connected,
            status="available",
            load=0.25,
            jobs=[JobEntry(job_id="AJ_1", room="room-1", started_at=1700000000.5)],
            sessions=1,
            version="0.1.0",
        )


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with http.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


def test_endpoints_report_health_state_and_metrics() -> None:
    worker, metrics = FakeWorker(), WorkerMetrics()

    async def main() -> None:
        async with (
            HealthServer(
                HealthOptions(host="127.0.0.1", port=0), info=worker.info, metrics=metrics
            ) as server,
            aiohttp.ClientSession() as http,
        ):
            assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
            assert (await get(http, server.url + "/"))[::2] == (200, "OK")
            worker.connected = False
            status, _, text = await get(http, server.url + "/")
            assert status == 503 and "not connected" in text

            status, kind, text = await get(http, server.url + "/worker")
            assert status == 200 and kind.startswith("application/json")
            info = msgspec.json.decode(text, type=WorkerInfo)
            assert info == worker.info()
            raw = msgspec.json.decode(text)
            assert raw["jobs"] == [
                {"job_id": "AJ_1", "room": "room-1", "started_at": 1700000000.5, "status": "running"}
            ]
            assert {
                "worker_id",
                "agent_name",
                "url",
                "connected",
                "status",
                "load",
                "sessions",
                "version",
            } <= set(raw)

            metrics.job_started()
            metrics.job_started()
            metrics.job_finished("success")
            metrics.set_load(0.5, "full")
            status, kind, text = await get(http, server.url + "/metrics")
            assert status == 200 and kind.startswith("text/plain") and "version=" in kind
            for name in (
                "graphflow_jobs_running",
                "graphflow_frame_lag_seconds",
                "graphflow_stage_latency_seconds",
            ):
                assert f"# TYPE {name}" in text
            assert "graphflow_jobs_running 1.0" in text
            assert 'graphflow_jobs_total{status="success"} 1.0' in text
            assert 'graphflow_jobs_total{status="failed"} 0.0' in text
            assert "graphflow_worker_load 0.5" in text
            assert 'graphflow_worker_status{status="full"} 1.0' in text
            assert 'graphflow_worker_status{status="available"} 0.0' in text
            assert "graphflow_sessions_running 0.0" in text
        # closed: the port no longer answers
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await get(http, server.url + "/")

    asyncio.run(main())


def test_health_is_503_when_the_worker_cannot_say() -> None:
    def broken() -> WorkerInfo:
        raise RuntimeError("no state")

    async def main() -> tuple[int, str]:
        async with (
            HealthServer(HealthOptions(port=0), info=broken, metrics=WorkerMetrics()) as server,
            aiohttp.ClientSession() as http,
        ):
            status, _, text = await get(http, server.url + "/")
            return status, text

    status, text = asyncio.run(main())
    assert status == 503 and "unavailable" in text


def test_metrics_refuse_unknown_states_and_registries_are_separate() -> None:
    a, b = WorkerMetrics(), WorkerMetrics()
    a.job_started()
    a.job_finished("cancelled")
    with pytest.raises(ConfigError):
        a.job_finished("exploded")
    with pytest.raises(ConfigError):
        a.set_load(0.1, "busy")
    assert samples(a)[("graphflow_jobs_total", (("status", "cancelled"),))] == 1
    assert samples(b)[("graphflow_jobs_total", (("status", "cancelled"),))] == 0
    assert samples(a)[("graphflow_jobs_running", ())] == 0


def stand_ins() -> StageOverrides:
    """Stand-in STT, LLM and TTS: a session that loads no speech models but the VAD's and the turn's."""
    llm = LocalResponder(LocalResponderOptions(ttft_ms=200, tokens_per_second=0), name="llm")
    return StageOverrides(stt=StandInSTT([], name="stt"), llm=llm, tts=StandInTTS(name="tts"))


def session_with_barge_in(tmp_path: Path, hub: ModelHub) -> AgentSession:
    """The utterance, then the same utterance again while the agent answers (stand-in stages)."""
    path = said_twice(UTTERANCE, tmp_path / "barge_in.wav")
    script = ["go forward ten meters"] * 2
    llm = LocalResponder(LocalResponderOptions(ttft_ms=200, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT(script, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    session = AgentSession(
        SessionOptions(files=FileIO(input=str(path), tail_silence_ms=6000)), hub=hub, overrides=overrides
    )
    return session


def test_watch_turns_a_session_into_latency_lag_and_interruption_metrics(tmp_path: Path) -> None:
    hub = ModelHub(model_cache())
    session = session_with_barge_in(tmp_path, hub)
    metrics = WorkerMetrics()
    finish = metrics.watch(session)
    metrics.watch(session)  # watching twice follows it once
    assert metrics.sessions_running == 1
    clock = VirtualClock()
    clock.run(session.run(clock))

    # the run is over: the session is let go at the next collection, its totals counted
    got = samples(metrics)
    assert metrics.sessions_running == 0 and got[("graphflow_sessions_running", ())] == 0
    turns = len(session.metrics)
    assert turns == 2
    for stage in STAGES:
        assert got[("graphflow_stage_latency_seconds_count", (("stage", stage),))] == turns
    v2v = sum(m.voice_to_voice_ms or 0 for m in session.metrics) / 1000
    assert got[("graphflow_stage_latency_seconds_sum", (("stage", "voice_to_voice"),))] == pytest.approx(v2v)
    assert got[("graphflow_frame_lag_seconds_count", ())] == session.frame_lag.count > 0
    assert got[("graphflow_frame_lag_seconds_sum", ())] == pytest.approx(session.frame_lag.total / 1e9)
    interrupted = sum(isinstance(e, AgentStoppedSpeaking) and e.interrupted for e in session.events)
    assert interrupted == 1 and got[("graphflow_interruptions_total", ())] == 1
    assert session.runner is not None
    dropped = sum(e.dropped for e in session.runner.stats().edges)
    assert sum(v for (name, _), v in got.items() if name == "graphflow_queue_drops_total") == dropped

    # nothing is counted twice: the hook and later collections add nothing more
    finish()
    assert samples(metrics) == got


def test_frame_lag_is_read_while_the_session_runs() -> None:
    # a session that has not run yet: its frame lag is read at every collection
    session = AgentSession(overrides=stand_ins())
    metrics = WorkerMetrics()
    finish = metrics.watch(session)
    session.frame_lag.add(3_000_000)  # 3 ms: between 2^21 and 2^22 ns
    got = samples(metrics)
    assert got[("graphflow_sessions_running", ())] == 1
    assert got[("graphflow_frame_lag_seconds_count", ())] == 1
    assert got[("graphflow_frame_lag_seconds_bucket", (("le", "0.004194304"),))] == 1
    assert got[("graphflow_frame_lag_seconds_bucket", (("le", "0.002097152"),))] == 0
    session.frame_lag.add(1_000_000)
    finish()
    session.frame_lag.add(1_000_000)  # let go: no longer counted
    got = samples(metrics)
    assert got[("graphflow_frame_lag_seconds_count", ())] == 2
    assert got[("graphflow_frame_lag_seconds_sum", ())] == pytest.approx(0.004)
    assert got[("graphflow_sessions_running", ())] == 0


def test_a_session_nobody_holds_any_more_is_let_go() -> None:
    metrics = WorkerMetrics()
    session = AgentSession(overrides=stand_ins())
    metrics.watch(session)
    assert metrics.sessions_running == 1
    del session
    gc.collect()
    assert metrics.sessions_running == 0
