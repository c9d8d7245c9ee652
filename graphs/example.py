"""A small example graph: a tone through a DSP sub-graph, a level trigger and a queued player.

It shows each piece of the engine: a source node, a sub-graph (``dsp``), fused synchronous
hops, a bounded queue with a drop policy, and cancellation edges from the trigger to the
player and the speaker. ``graphflow render graphs/example.py`` draws it; running this
module plays two seconds of tone on a virtual clock and prints the run's statistics.
"""

from __future__ import annotations

from graphflow import Graph, Overflow, QueueSpec, RunOptions, VirtualClock
from nodes.audio.gain import Gain, GainOptions
from nodes.audio.level_trigger import LevelTrigger
from nodes.audio.tone import ToneOptions, ToneSource
from nodes.memory import FrameSink
from nodes.passthrough import AsyncPassthrough, Passthrough


def build_graph() -> Graph:
    """The example graph (fresh nodes on every call)."""
    dsp = Graph("dsp")
    gain = Gain(GainOptions(db=-6.0), name="gain")
    tap = Passthrough(name="tap")
    dsp.chain(gain, tap).expose_input("inp", gain.inp).expose_output("out", tap.out)

    trigger = LevelTrigger(name="trigger")
    player = AsyncPassthrough(name="player")
    speaker = FrameSink(name="speaker")
    graph = Graph("example")
    graph.chain(ToneSource(ToneOptions(seconds=2.0), name="mic"), dsp, trigger)
    graph.connect(trigger.out, player.inp, queue=QueueSpec.frames(10, Overflow.DROP_OLDEST))
    graph.connect(player.out, speaker.inp)
    graph.cancels(trigger, player, speaker)
    return graph


def main() -> None:
    """Run the example on a virtual clock and print what crossed each edge."""
    plan = build_graph().compile()
    clock = VirtualClock()
    runner = clock.run(plan.run(RunOptions(clock=clock, trace=True)))
    stats = runner.stats()
    print(f"{'edge':<40} {'fused':>5} {'frames':>6} {'dropped':>7} {'flushed':>7}")
    for edge in stats.edges:
        print(f"{edge.edge:<40} {edge.fused!s:>5} {edge.pushed:>6} {edge.dropped:>7} {edge.flushed:>7}")
    print(f"cancellations: {stats.cancellations}")


if __name__ == "__main__":
    main()
