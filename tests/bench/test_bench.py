"""The benchmark's measuring code: injected delays come out as the right numbers; outputs are valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphflow.bench.latency import LatencyOptions, run_latency
from graphflow.bench.recordings import resolve
from graphflow.bench.report import document, ratios, summarize
from graphflow.bench.scaling import ScalePoint, max_sessions
from graphflow.cli.main import main
from graphflow.errors import ConfigError

from ..fixtures import FIXTURES, model_cache

Q = "q_ls_251-137823-0002_testing_routine.wav"


def options(**changes: object) -> LatencyOptions:
    base = {"recordings": tuple(resolve([Q], fixtures_dir=FIXTURES)), "virtual": True}
    return LatencyOptions(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("ttft", "first_byte", "stt"), [(200, 100, 150), (350, 40, 250)])
def test_injected_delays_come_out_as_the_measured_figures(ttft: int, first_byte: int, stt: int) -> None:
    model_cache()
    results = run_latency(options(llm_ttft_ms=ttft, tts_first_byte_ms=first_byte, stt_delay_ms=stt))
    summary = summarize(results)
    assert summary["llm_ttft_ms"]["p50"] == pytest.approx(ttft)
    assert summary["tts_ttfb_ms"]["p50"] == pytest.approx(first_byte)
    # virtual time: the engine itself takes no time, so nothing is left over
    assert summary["engine_added_ms"]["max"] == pytest.approx(0, abs=1e-6)
    assert summary["model_ms"]["samples"] == pytest.approx([ttft + first_byte] * 2)
    assert summary["sink_ms"]["max"] == pytest.approx(0, abs=1e-6)
    v2v = summary["voice_to_voice_ms"]["samples"]
    eot = summary["end_of_turn_ms"]["samples"]
    assert [a - b for a, b in zip(v2v, eot, strict=True)] == pytest.approx([ttft + first_byte] * len(v2v))
    # the question, then the interruption: two exchanges, one barge-in, silent at once
    assert summary["voice_to_voice_ms"]["count"] == 2
    assert summary["barge_in_ms"]["count"] == 1 and summary["barge_in_ms"]["max"] == pytest.approx(
        0, abs=1e-6
    )
    assert results[0].interrupted == 1


def test_stt_stand_in_delay_shows_in_the_transcript_latency() -> None:
    model_cache()
    fast = summarize(run_latency(options(stt_delay_ms=100, barge_in=False)))
    slow = summarize(run_latency(options(stt_delay_ms=400, barge_in=False)))
    assert slow["transcript_ms"]["p50"] - fast["transcript_ms"]["p50"] == pytest.approx(300)


def test_sessions_within_the_lag_budget() -> None:
    def point(n: int, lag: float) -> ScalePoint:
        return ScalePoint(n, 1, 1.0, lag, lag, 10.0, 10.0, 10.0, 1.0, 1.0, n)

    assert max_sessions([point(1, 3.0), point(8, 12.0), point(32, 25.0)]) == 8
    assert max_sessions([point(4, 30.0)]) == 0


def test_smoke_bench_writes_valid_json_and_a_plot(tmp_path: Path) -> None:
    # one fixture, one run, real time: checks the outputs, never the speed
    model_cache()
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    status = main(
        [
            "bench",
            "cmd_go_forward_ten_meters.wav",
            "--fixtures-dir",
            str(FIXTURES),
            "--runs",
            "1",
            "--no-barge-in",
            "--sessions",
            "1,2",
            "--json",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    doc = json.loads(out.read_text())
    for key in ("voice_to_voice_ms", "engine_added_ms", "end_of_turn_ms", "frame_lag_ms"):
        assert {"p50", "p90", "p99", "max", "samples"} <= set(doc["summary"][key])
    assert doc["summary"]["voice_to_voice_ms"]["count"] == 1
    assert [p["sessions"] for p in doc["scaling"]] == [1, 2]
    assert doc["machine"]["python"] and doc["options"]["mode"] == "standin"
    assert png.read_bytes().startswith(b"\x89PNG")
    # every stage's declared budget beside what it took: the stand-ins declare their delays
    budget = {row["stage"]: row for row in doc["budget"]}
    assert budget["first token"]["budget_ms"] == 200 and budget["first audio"]["budget_ms"] == 100
    assert budget["first token"]["measured_ms"]["count"] == 1


def test_document_carries_peer_figures_and_ratios() -> None:
    peer = {"per_hop_us": {"10": 9.0}, "engine_added_ms": {"p50": 6.0, "p99": 9.0}, "sessions_at_lag_20ms": 4}
    doc = document(options(), [], [], {}, {"pipecat": peer})
    assert doc["peers"]["pipecat"]["per_hop_us"]["10"] == 9.0
    assert doc["summary"]["barge_in_ms"]["count"] == 0
    doc["summary"]["engine_added_ms"] = {"p50": 0.5, "p99": 1.0}
    doc["summary"]["engine_added_configured_ms"] = {"p50": 1.5, "p99": 3.0}
    doc["sessions_at_lag_20ms"] = 16
    row = ratios(doc, {"per_hop_us": 0.9, "fused_per_hop_us": 0.18})["pipecat"]
    # this peer measured only the configured-delay figure: it is compared with ours
    assert row["engine_added_ms.p50"] == pytest.approx(0.25)
    assert row["engine_added_ms.p99"] == pytest.approx(1 / 3)
    assert row["per_hop_us"] == pytest.approx(0.1) and row["fused_per_hop_us"] == pytest.approx(0.02)
    assert row["sessions_at_lag_20ms"] == pytest.approx(4.0)
    # a peer that measured its model calls is compared figure for figure
    peer["engine_added_configured_ms"] = {"p50": 6.0, "p99": 9.0}
    peer["engine_added_ms"] = {"p50": 2.0, "p99": 4.0}
    row = ratios(doc)["pipecat"]
    assert row["engine_added_ms.p50"] == pytest.approx(0.25)
    assert row["engine_added_configured_ms.p99"] == pytest.approx(1 / 3)


def test_default_fixture_set_is_one_list_of_existing_fixtures(tmp_path: Path) -> None:
    from graphflow.bench.recordings import default_set

    names = default_set(FIXTURES)
    assert len(names) == 8 and all((FIXTURES / name).is_file() for name in names)
    with pytest.raises(ConfigError, match=r"bench-set\.txt"):
        default_set(tmp_path)


def test_a_stage_over_its_budget_is_flagged() -> None:
    from graphflow.bench.latency import RunResult
    from graphflow.bench.report import budget_rows
    from graphflow.conversation.events import TurnMetrics

    run = RunResult("x.wav", 0, budgets_ms={"vad": 352.0, "stt": 500.0, "llm": 200.0})
    run.turns = [TurnMetrics(at=0, reply_id="r", vad_ms=340.0, transcript_ms=1100.0, llm_ttft_ms=204.0)]
    rows = {row["stage"]: row for row in budget_rows([run])}
    assert not rows["VAD end of speech"]["over"] and not rows["first token"]["over"]  # within the slack
    assert rows["final transcript"]["over"]  # 760 ms against 500
    assert rows["final transcript"]["measured_ms"]["p50"] == 760.0
