"""Registry: nodes by name with checked options; third-party nodes through entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from graphflow import ConfigError, Graph
from graphflow.registry import NodeRegistry
from nodes.audio.gain import Gain, GainOptions
from nodes.audio.tone import ToneSource

from .helpers import run_plan


def test_builtin_nodes_are_discovered_by_entry_point() -> None:
    registry = NodeRegistry.discover()
    assert {"passthrough", "tone", "frame_sink"} <= set(registry.names())
    assert registry.get("tone") is ToneSource


def test_create_checks_options() -> None:
    registry = NodeRegistry()
    registry.register("gain", Gain)
    node = registry.create("gain", name="g", options={"db": -6})
    assert isinstance(node, Gain) and node.options == GainOptions(db=-6.0) and node.name == "g"
    with pytest.raises(ConfigError) as info:
        registry.create("gain", options={"db": "loud"})
    assert info.value.code == "config.bad_options" and "Expected `float`" in str(info.value)
    with pytest.raises(ConfigError) as info:
        registry.create("gain", options={"decibels": 3})
    assert "db" in info.value.hint


def test_unknown_names_suggest_close_matches() -> None:
    registry = NodeRegistry()
    registry.register("gain", Gain)
    with pytest.raises(ConfigError) as info:
        registry.create("gian")
    assert info.value.code == "config.unknown_node" and "gain" in info.value.hint


def test_only_node_classes_register_and_names_are_unique() -> None:
    registry = NodeRegistry()
    with pytest.raises(ConfigError, match="not a Node subclass"):
        registry.register("x", object)
    registry.register("gain", Gain, origin="pkg-a")
    with pytest.raises(ConfigError, match="registered twice"):
        registry.register("gain", ToneSource, origin="pkg-b")


def test_a_third_party_package_adds_nodes_without_code_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "graphflow_echo.py").write_text(
        "from graphflow import Frame, Input, Node, Output\n"
        "class Echo(Node):\n"
        "    inp = Input(Frame)\n"
        "    out = Output(Frame, follows='inp')\n"
        "    def on_frame(self, frame):\n"
        "        self.out.push(frame)\n"
        "        self.out.push(frame)\n"
    )
    dist = tmp_path / "graphflow_echo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: graphflow-echo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[graphflow.nodes]\necho = graphflow_echo:Echo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = NodeRegistry.discover()
    echo = registry.create("echo", name="echo")

    from nodes.memory import FrameSink, FrameSource

    from .helpers import text_frames

    sink = FrameSink()
    run_plan(Graph().chain(FrameSource(text_frames(2)), echo, sink).compile())
    assert len(sink.frames) == 4
    sys.modules.pop("graphflow_echo", None)


def test_a_broken_entry_point_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "graphflow_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: graphflow-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[graphflow.nodes]\nbroken = no_such_module:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="'broken' from graphflow-broken"):
        NodeRegistry.discover()
