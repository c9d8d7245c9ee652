"""``graphflow bench turns``: scores from real runs of labelled cuts, a peer beside them, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphflow.bench.turns import CutResult, TurnBenchOptions, final_latency, score
from graphflow.cli.main import main

from ..fixtures import model_cache


def test_scores_count_caught_and_held() -> None:
    options = TurnBenchOptions()
    results = [
        CutResult("a", "complete", 320.0),
        CutResult("b", "complete", 480.0),
        CutResult("c", "complete", 900.0),
        CutResult("d", "complete", None),  # never decided: counts as the whole tail
        CutResult("e", "incomplete", None),
        CutResult("f", "incomplete", 2100.0),
        CutResult("g", "incomplete", 700.0),  # answered into a pause
    ]
    s = score(results, options)
    assert (s["complete"], s["incomplete"]) == (4, 3)
    assert s["caught"] == pytest.approx(0.5) and s["held"] == pytest.approx(2 / 3)
    assert s["decision_ms"]["max"] == 3000 and s["undecided_complete"] == 1


def test_one_cut_through_the_listening_half_with_a_peer_beside(tmp_path: Path) -> None:
    model_cache()
    peer = tmp_path / "peer.json"
    peer.write_text(
        json.dumps(
            {
                "peer": "other",
                "cuts": [{"id": "cmd_go_forward_ten_meters_c04", "label": "complete", "decision_ms": 350.0}],
            }
        )
    )
    out, png = tmp_path / "turns.json", tmp_path / "turns.png"
    only = "cmd_go_forward_ten_meters_c04"
    assert (
        main(["bench", "turns", "--only", only, "--peer", str(peer), "--json", str(out), "--plot", str(png)])
        == 0
    )
    doc = json.loads(out.read_text())
    [mine] = doc["cuts"]["graphflow"]
    assert mine["id"] == only and mine["label"] == "complete"
    # "go forward ten meters" ends the turn: decided (the time is the machine's; only that it came)
    assert mine["decision_ms"] is not None and mine["reason"] in ("fused", "max_delay")
    assert mine["evidence"]["audio"] > 0 and "forward" in mine["text"].lower()
    assert doc["scores"]["other"]["caught"] == 1.0 and doc["scores"]["graphflow"]["complete"] == 1
    assert png.read_bytes().startswith(b"\x89PNG")
    # what the detector was told, for the replay: the VAD's pause, the final that covers it
    kinds = [e["kind"] for e in mine["trace"]["vad"]]
    assert "SpeechStarted" in kinds and "SpeechPaused" in kinds
    [final] = [f for f in mine["trace"]["finals"] if f["text"]]
    assert "forward" in final["text"].lower() and final["at_ms"] > final["end_ms"]
    assert doc["scores"]["graphflow"]["final_ms"]["count"] == 1


def test_final_latency_counts_from_the_speech_end_and_the_vad_stop() -> None:
    trace = {
        "vad": [
            {"kind": "SpeechPaused", "pts_ms": 10.0, "at_ms": 80.0},
            {"kind": "SpeechStopped", "pts_ms": 10.0, "at_ms": 330.0},
        ],
        "finals": [{"text": "yes", "start_ms": -500.0, "end_ms": 10.0, "at_ms": 250.0}],
    }
    figures = final_latency([CutResult(id="a", label="complete", decision_ms=300.0, trace=trace)])
    assert figures["final_ms"]["p50"] == 240.0  # after the end of speech
    assert figures["final_after_stop_ms"]["p50"] == -80.0  # before the VAD called the stop
    assert final_latency([CutResult(id="b", label="complete", decision_ms=None)]) == {}


def test_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "turns", "--cuts", str(tmp_path / "none.tsv")]) == 2
    assert "none.tsv" in capsys.readouterr().err
    assert main(["bench", "turns", "--only", "no-such-cut"]) == 2
    assert "no cuts" in capsys.readouterr().err
    bad = tmp_path / "peer.json"
    bad.write_text("[1, 2]")
    assert main(["bench", "turns", "--peer", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "peer.json" in err and len(err.strip().splitlines()) == 1
