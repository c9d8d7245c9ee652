"""Every compile error names the nodes and ports involved; all problems are reported at once."""

from __future__ import annotations

import pytest

from graphflow import (
    AudioFormat,
    AudioFrame,
    CompileError,
    ConfigError,
    Frame,
    Graph,
    Input,
    Node,
    Output,
    SampleFormat,
    TextFrame,
)
from nodes.audio.gain import Gain
from nodes.audio.tone import ToneOptions, ToneSource
from nodes.memory import FrameSink, FrameSource
from nodes.passthrough import AsyncPassthrough, Passthrough


class Needs16k(Node):
    inp = Input(AudioFrame, format=AudioFormat(16000, 1, SampleFormat.S16))

    def on_frame(self, frame: AudioFrame) -> None:
        pass


class TextOnly(Node):
    inp = Input(TextFrame)

    def on_frame(self, frame: TextFrame) -> None:
        pass


def issues(graph: Graph) -> list[tuple[str, str]]:
    with pytest.raises(CompileError) as info:
        graph.compile()
    return [(i.code, i.message) for i in info.value.issues]


def test_type_mismatch_names_both_ports() -> None:
    tone = ToneSource(name="mic")
    text = TextOnly(name="reader")
    [(code, message)] = issues(Graph().connect(tone.out, text.inp))
    assert code == "graph.type_mismatch"
    assert "mic.out emits AudioFrame" in message and "reader.inp accepts TextFrame" in message


def test_passthrough_carries_its_input_type_to_typed_consumers() -> None:
    g = Graph().chain(ToneSource(), Passthrough(), Needs16k())
    plan = g.compile()
    assert plan.edges[-1].frame_type == "AudioFrame"


def test_format_mismatch_names_both_ports_and_fields() -> None:
    tone = ToneSource(ToneOptions(rate=48000), name="mic")
    vad = Needs16k(name="vad")
    [(code, message)] = issues(Graph().chain(tone, Gain(name="gain"), vad))
    assert code == "graph.format_mismatch"
    assert "gain.out produces 48000Hz/1ch/s16" in message and "vad.inp requires 16000Hz/1ch/s16" in message
    assert "rate 48000 != 16000" in message


def test_fan_in_of_different_formats_is_a_conflict() -> None:
    a, b = ToneSource(ToneOptions(rate=16000), name="a"), ToneSource(ToneOptions(rate=8000), name="b")
    sink = Gain(name="mix")
    g = Graph().connect(a.out, sink.inp).connect(b.out, sink.inp)
    codes = [code for code, _ in issues(g)]
    assert "graph.format_conflict" in codes


def test_unconnected_required_input() -> None:
    [(code, message)] = issues(Graph().add(FrameSink(name="lonely")))
    assert code == "graph.unconnected_input"
    assert "lonely.inp" in message


def test_cycle_reports_its_path() -> None:
    a, b = Passthrough(name="a"), Passthrough(name="b")
    src = FrameSource([], name="src")
    g = Graph().connect(src.out, a.inp).connect(a.out, b.inp).connect(b.out, a.inp)
    [(code, message)] = issues(g)
    assert code == "graph.cycle"
    assert "a.out -> b.inp" in message and "b.out -> a.inp" in message


def test_duplicate_names() -> None:
    g = Graph().chain(FrameSource([], name="x"), FrameSink(name="x"))
    codes = [code for code, _ in issues(g)]
    assert "graph.duplicate_name" in codes


def test_unnamed_nodes_get_unique_names() -> None:
    g = Graph().chain(FrameSource([]), Passthrough(), Passthrough(), FrameSink())
    assert [n.name for n in g.compile().nodes] == [
        "frame_source",
        "passthrough",
        "passthrough_2",
        "frame_sink",
    ]


def test_cancel_edge_to_node_not_in_graph() -> None:
    src, sink, stray = FrameSource([], name="src"), FrameSink(name="sink"), Passthrough(name="stray")
    g = Graph().chain(src, sink).cancels(src, stray)
    [(code, message)] = issues(g)
    assert code == "graph.cancel_unknown_node"
    assert "src -> stray" in message


def test_every_problem_is_reported_at_once() -> None:
    tone = ToneSource(name="mic")
    g = Graph().connect(tone.out, TextOnly(name="t").inp).add(FrameSink(name="lonely"))
    codes = sorted(code for code, _ in issues(g))
    assert codes == ["graph.type_mismatch", "graph.unconnected_input"]


def test_node_without_handler_or_run() -> None:
    class Lazy(Node):
        inp = Input(Frame)

    g = Graph().chain(FrameSource([]), Lazy(name="lazy"))
    [(code, message)] = issues(g)
    assert code == "node.missing_handler" and "lazy" in message


def test_options_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(ConfigError, match="takes GainOptions"):
        Gain(ToneOptions())  # type: ignore[arg-type]


def test_chain_needs_default_ports() -> None:
    class TwoOut(Node):
        a = Output(Frame)
        b = Output(Frame)

        async def run(self) -> None:
            pass

    with pytest.raises(ConfigError, match="2 outputs"):
        Graph().chain(TwoOut(), FrameSink())


def test_subgraph_flattens_with_qualified_names_and_checks_inside() -> None:
    inner = Graph("inner")
    p = AsyncPassthrough(name="p")
    inner.add(p).expose_input("inp", p.inp).expose_output("out", p.out)
    g = Graph("outer").chain(FrameSource([], name="src"), inner, FrameSink(name="sink"))
    plan = g.compile()
    assert [n.name for n in plan.nodes] == ["src", "inner.p", "sink"]
    assert plan.node("inner.p").group == ("inner",)
    with pytest.raises(ConfigError, match="exposes no output 'nope'"):
        inner.output("nope")


def test_union_ports_carry_several_kinds_of_frame_in_one_stream() -> None:
    class Mixed(Node):
        out = Output(AudioFrame | TextFrame)

        async def run(self) -> None:
            pass

    class Both(Node):
        inp = Input(AudioFrame | TextFrame)

        def on_frame(self, frame: Frame) -> None:
            pass

    plan = Graph().chain(Mixed(name="m"), Passthrough(name="p"), Both(name="b")).compile()
    assert plan.edges[-1].frame_type == "AudioFrame | TextFrame"
    found = dict(issues(Graph().chain(Mixed(name="m"), Needs16k(name="vad"))))
    assert "m.out emits AudioFrame | TextFrame but vad.inp accepts AudioFrame" in found["graph.type_mismatch"]


def test_ports_refuse_non_frame_types() -> None:
    with pytest.raises(ConfigError, match="carries Frame subclasses"):
        Input(int)  # type: ignore[type-var]


def test_a_following_union_output_keeps_the_events_it_adds() -> None:
    class Annotate(Node):
        inp = Input(AudioFrame)
        out = Output[Frame](AudioFrame | TextFrame, follows="inp")

        def on_frame(self, frame: AudioFrame) -> None:
            pass

    class AudioOnly(Node):
        inp = Input(AudioFrame)

        def on_frame(self, frame: AudioFrame) -> None:
            pass

    tone = ToneSource(name="mic")
    plan = Graph().chain(tone, Annotate(name="a"), Passthrough(name="p")).compile()
    assert plan.edges[-1].frame_type == "AudioFrame | TextFrame"
    found = dict(issues(Graph().chain(ToneSource(name="mic"), Annotate(name="a"), AudioOnly(name="x"))))
    assert "a.out emits AudioFrame | TextFrame" in found["graph.type_mismatch"]


def test_a_bad_latency_is_a_compile_error_naming_the_node() -> None:
    class Negative(Passthrough):
        def latency(self) -> int:
            return -1

    class Fractional(Passthrough):
        def latency(self) -> int:
            return 0.5  # type: ignore[return-value]

    class Broken(Passthrough):
        def latency(self) -> int:
            raise ValueError("no options")

    g = Graph().chain(
        FrameSource([], name="src"), Negative(name="neg"), Fractional(name="frac"), Broken(name="broken")
    )
    found = issues(g)
    assert [code for code, _ in found] == ["node.bad_latency"] * 3
    neg, frac, broken = (message for _, message in found)
    assert "Negative 'neg' declares a latency of -1" in neg
    assert "Fractional 'frac' declares a latency of 0.5" in frac
    assert "Broken 'broken': latency() raised ValueError: no options" in broken
