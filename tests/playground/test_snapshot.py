"""The live figures: rates from the engine's counters, bounded buffers, the drawn graph's edge order."""

from __future__ import annotations

import re

import msgspec
import pytest

from graphflow.conversation.events import AgentStateChanged, TurnMetrics, UserStateChanged
from graphflow.playground.drawing import compact_dot, draw
from graphflow.playground.snapshot import MAX_PENDING, Snapshot, Snapshotter, encode
from graphflow.render import describe
from graphflow.render.image import GraphvizMissing, to_image
from graphflow.timebase import MS
from tests.engine.helpers import run_plan
from tests.engine.test_cancellation import build, t


def test_a_snapshot_gives_rates_queues_handler_times_and_each_cancellation_once() -> None:
    frames = [t(f"a{i}", 10 * i) for i in range(6)] + [t("STOP", 120), t("b0", 130), t("b1", 140)]
    g, trigger, _, _ = build(frames)
    runner = run_plan(g.compile(), trace=True)
    snap = msgspec.json.decode(encode(Snapshotter().take(runner)), type=Snapshot)

    assert snap.nodes["trigger"].frames == 9  # every frame it handled
    assert snap.nodes["src"].frames == 10  # a source handles none: what it sent (and the end)
    # traced: the worker takes 50 ms a frame; a2 was cut 20 ms in by the cancellation
    assert snap.nodes["worker"].handler_ms == pytest.approx((4 * 50 + 20) / 5)
    edge = snap.edges["trigger.out -> worker.inp"]
    assert edge.capacity > 0 and edge.depth == 0 and edge.dropped == 0
    [cancel] = snap.cancels
    assert cancel.trigger == "trigger" and cancel.targets == ["sink", "worker"]
    assert cancel.propagation_ms == pytest.approx(trigger.reports[0].propagation_ns / MS)
    assert snap.cancellations == 1
    again = Snapshotter()
    again.take(runner)
    assert again.take(runner).cancels == []  # handed over once, then cleared


def test_rates_are_over_the_interval_since_the_previous_snapshot() -> None:
    g, _, _, _ = build([t(f"a{i}", 10 * i) for i in range(5)])
    runner = run_plan(g.compile())
    snapper = Snapshotter()
    first = snapper.take(runner)
    assert first.nodes["trigger"].fps == 0.0  # no interval yet
    assert first.nodes["trigger"].handler_ms == -1.0  # not traced
    assert snapper.take(runner).nodes["trigger"].frames == 5


def test_a_flood_of_events_keeps_the_newest_few_and_counts_the_rest() -> None:
    snapper = Snapshotter()
    g, _, _, _ = build([t("a0")])
    runner = run_plan(g.compile())
    for i in range(1000):
        snapper.on_event(TurnMetrics(at=i, reply_id=f"r{i}", voice_to_voice_ms=float(i)))
    snapper.on_event(UserStateChanged(at=1, old="listening", new="speaking"))
    snapper.on_event(AgentStateChanged(at=2, old="listening", new="thinking"))
    snap = snapper.take(runner)
    assert len(snap.turns) == MAX_PENDING
    assert [turn["reply_id"] for turn in snap.turns][-1] == "r999"
    assert snap.dropped == 1000 - MAX_PENDING
    assert (snap.user, snap.agent) == ("speaking", "thinking")
    assert snapper.take(runner).turns == []
    assert len(encode(snap)) < 8000  # one data packet


def test_the_drawn_graph_numbers_edges_in_dot_order() -> None:
    g, _, _, _ = build([t("a0")])
    plan = g.compile()
    drawn = draw(plan)
    assert drawn.nodes == ["src", "trigger", "worker", "sink"]
    assert [e.label for e in drawn.edges] == [e.label for e in plan.edges]
    assert [(c.trigger, c.target) for c in drawn.cancels] == [("trigger", "worker"), ("trigger", "sink")]
    source = compact_dot(describe(plan))
    arrows = re.findall(r'^\s+"(\w+)" -> "(\w+)"', source, re.MULTILINE)
    expected = [(e.src, e.dst) for e in drawn.edges] + [(c.trigger, c.target) for c in drawn.cancels]
    assert arrows == expected
    try:
        svg = to_image(source, "svg").decode()
    except GraphvizMissing:
        pytest.skip("Graphviz is not installed")
    # Graphviz numbers edge elements in the order of the source: the page relies on it
    for number, (src, dst) in enumerate(expected, 1):
        found = re.search(rf'<g id="edge{number}" class="edge">\s*<title>([^<]*)</title>', svg)
        assert found and found.group(1) == f"{src}&#45;&gt;{dst}"
