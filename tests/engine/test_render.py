"""Rendering: DOT and Mermaid text from one description; SVG/PNG through Graphviz."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow.cli.main import main
from graphflow.compiler.plan import CompiledGraph
from graphflow.render import GraphvizMissing, describe, render, to_dot, to_mermaid
from graphflow.render.dot import CRITICAL_COLOR
from graphs import voice_agent
from graphs.example import build_graph

ROOT = Path(__file__).resolve().parents[2]


def test_description_has_nodes_edges_and_cancel_edges() -> None:
    view = describe(build_graph().compile())
    assert {n.name for n in view.nodes} == {"mic", "dsp.gain", "dsp.tap", "trigger", "player", "speaker"}
    assert {(c.trigger, c.target) for c in view.cancels} == {("trigger", "player"), ("trigger", "speaker")}
    queued = [e for e in view.edges if not e.fused]
    assert [(e.src, e.dst, e.label) for e in queued] == [("trigger", "player", "10 frames, drop-oldest")]


def test_dot_draws_ports_queues_and_dashed_cancel_edges() -> None:
    dot = to_dot(describe(build_graph().compile()))
    assert dot.startswith('digraph "example" {')
    for name in ("mic", "dsp.gain", "dsp.tap", "trigger", "player", "speaker"):
        assert f'"{name}" [label=<' in dot
    assert 'subgraph "cluster_dsp"' in dot
    assert "out: AudioFrame 16000Hz/1ch/s16" in dot
    assert '[label="10 frames, drop-oldest", style=bold]' in dot
    cancel_lines = [line for line in dot.splitlines() if "style=dashed" in line]
    assert len(cancel_lines) == 2
    assert all('"trigger" ->' in line and "#d62728" in line for line in cancel_lines)


def check_mermaid(text: str) -> None:
    """Structural check of the Mermaid flowchart subset the renderer writes."""
    lines = text.rstrip("\n").split("\n")
    if lines[0] == "---":  # front matter: a quoted title only
        assert re.match(r'^title: "[^"]*"$', lines[1]) and lines[2] == "---", lines[:3]
        lines = lines[3:]
    assert lines[0] == "flowchart LR"
    declared: set[str] = set()
    depth = 0
    links = 0
    node = re.compile(r'^\s*(n_\w+)\["[^"]*"\]$')
    edge = re.compile(r'^\s*(n_\w+) (-->|==>|-\.->)\|"[^"]*"\| (n_\w+)$')
    for line in lines[1:]:
        if m := node.match(line):
            declared.add(m.group(1))
        elif line.strip().startswith("subgraph "):
            depth += 1
            assert re.match(r'^\s*subgraph n_\w+\["[^"]*"\]$', line), line
        elif line.strip() == "end":
            depth -= 1
        elif m := edge.match(line):
            assert m.group(1) in declared and m.group(3) in declared, line
            links += 1
        elif line.strip().startswith("linkStyle "):
            indices = line.split()[1].split(",")
            assert all(0 <= int(i) < links for i in indices)
        elif line.strip().startswith(("classDef ", "class ")):
            continue
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    assert depth == 0


def test_mermaid_is_pasteable_flowchart_text() -> None:
    text = to_mermaid(describe(build_graph().compile()))
    check_mermaid(text)
    assert '-.->|"cancel"| n_player' in text
    assert "linkStyle 5,6 stroke:#d62728,stroke-dasharray:5 5" in text


def test_latency_is_drawn_only_when_asked() -> None:
    view = describe(build_graph().compile())
    assert view.title == "" and all(n.budget == "" and not n.critical for n in view.nodes)
    assert not any(e.critical for e in view.edges)
    assert "budget" not in to_dot(view) and "budget" not in to_mermaid(view)


def voice_plan() -> CompiledGraph:
    """The voice agent as ``graphflow render graphs/voice_agent.py`` compiles it."""
    return voice_agent.build_graph().compile()


def test_description_carries_budgets_and_the_critical_path() -> None:
    view = describe(voice_plan(), latency=True)
    budgets = {n.name: n.budget for n in view.nodes}
    assert budgets["vad"] == "352 ms" and budgets["stt"] == "500 ms" and budgets["gate"] == "0 ms"
    assert [n.name for n in view.nodes if n.critical] == list(voice_plan().critical_path)
    critical = [(e.src, e.dst) for e in view.edges if e.critical]
    assert critical == [
        ("source", "resampler"),
        ("resampler", "vad"),
        ("vad", "stt"),
        ("stt", "turn"),
        ("turn", "control"),
        ("control", "llm"),
        ("llm", "tts"),
        ("tts", "gate"),
        ("gate", "sink"),
    ]
    assert view.title == "voice_agent: latency budget 1845 ms on the critical path"


def test_dot_labels_budgets_and_highlights_the_critical_path() -> None:
    dot = to_dot(describe(voice_plan(), latency=True))
    assert "budget 352 ms" in dot and "budget 250 ms" in dot
    highlighted = [line for line in dot.splitlines() if "penwidth=3" in line]
    assert len(highlighted) == 9 and all(CRITICAL_COLOR in line for line in highlighted)
    assert '"vad":"out_out":e -> "stt":"in_inp":w' in highlighted[2]
    title = 'label="voice_agent: latency budget 1845 ms on the critical path"; labelloc=t;'
    assert dot.splitlines()[-2].strip().startswith(title)


def test_mermaid_labels_budgets_and_styles_the_critical_links() -> None:
    text = to_mermaid(describe(voice_plan(), latency=True))
    check_mermaid(text)
    assert text.startswith('---\ntitle: "voice_agent: latency budget 1845 ms on the critical path"\n---\n')
    assert "<br/>budget 500 ms<br/>" in text
    assert "linkStyle 0,1,3,8,11,13,15,17,19 stroke:#e6550d,stroke-width:3px" in text
    path = ",".join(f"n_{name}" for name in voice_plan().critical_path)
    assert f"class {path} critical" in text


def test_svg_and_png_through_graphviz() -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Graphviz `dot` is missing in CI: scripts/ensure-system-deps should install it")
        pytest.skip(
            "Graphviz `dot` not installed: run scripts/ensure-system-deps (or apt-get install graphviz)"
        )
    plan = build_graph().compile()
    svg = render(plan, "svg").decode()
    assert "<svg" in svg and "dsp.gain" in svg and "stroke-dasharray" in svg
    png = render(plan, "png")
    assert png.startswith(b"\x89PNG")
    svg = render(voice_plan(), "svg", latency=True).decode()
    assert "latency budget 1845 ms" in svg and "budget 352 ms" in svg


def test_missing_graphviz_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizMissing) as info:
        render(build_graph().compile(), "svg")
    assert "apt-get install graphviz" in info.value.hint
    assert "--format dot" in info.value.hint


def test_cli_renders_a_file_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(ROOT / "graphs/example.py"), "--format", "mermaid"]) == 0
    check_mermaid(capsys.readouterr().out)
    out = tmp_path / "g.dot"
    assert main(["render", f"{ROOT / 'graphs/example.py'}:build_graph", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


def test_cli_draws_the_latency_budget(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(ROOT / "graphs/voice_agent.py"), "--latency", "--format", "mermaid"]) == 0
    text = capsys.readouterr().out
    check_mermaid(text)
    assert "latency budget 1845 ms" in text and "budget 352 ms" in text
    assert main(["render", str(ROOT / "graphs/voice_agent.py")]) == 0
    assert "budget" not in capsys.readouterr().out


def test_cli_renders_a_module_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "graphs.example"]) == 0
    assert "digraph" in capsys.readouterr().out


def test_cli_reports_a_broken_graph_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from graphflow import Graph\n"
        "from nodes.memory import FrameSink\n"
        "def build_graph():\n"
        "    return Graph().add(FrameSink(name='lonely'))\n"
    )
    assert main(["render", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "graph.unconnected_input" in err and "lonely.inp" in err
    assert main(["render", f"{bad}:nope"]) == 2
    assert "has no 'nope'" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "graphflow"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("graphflow ")
