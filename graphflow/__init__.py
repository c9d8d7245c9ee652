"""graphflow: real-time voice agents as typed dataflow graphs.

Compose nodes into a :class:`Graph`, ``compile()`` it into an immutable plan, and run the
plan with a clock. See ``docs/`` for the concepts (frames, ports, queues, cancellation).
"""

from graphflow.compiler.plan import CompiledGraph
from graphflow.errors import (
    CompileError,
    CompileIssue,
    ConfigError,
    FrameError,
    GraphflowError,
    NodeError,
    ProviderError,
)
from graphflow.frames import (
    ANY_AUDIO,
    AudioFormat,
    AudioFrame,
    ControlFrame,
    EndOfStream,
    Frame,
    SampleFormat,
    TextFrame,
)
from graphflow.graph import Graph
from graphflow.node import Node, NodeKind, NoOptions
from graphflow.ports import Input, InputPort, Output, OutputPort
from graphflow.queue_spec import Overflow, QueueSpec
from graphflow.runtime import (
    CancelInfo,
    CancelReport,
    GraphRunner,
    RealtimeClock,
    RunOptions,
    VirtualClock,
)

__version__ = "0.1.0"

__all__ = [
    "ANY_AUDIO",
    "AudioFormat",
    "AudioFrame",
    "CancelInfo",
    "CancelReport",
    "CompileError",
    "CompileIssue",
    "CompiledGraph",
    "ConfigError",
    "ControlFrame",
    "EndOfStream",
    "Frame",
    "FrameError",
    "Graph",
    "GraphRunner",
    "GraphflowError",
    "Input",
    "InputPort",
    "Node",
    "NodeError",
    "NodeKind",
    "NoOptions",
    "Output",
    "OutputPort",
    "Overflow",
    "ProviderError",
    "QueueSpec",
    "RealtimeClock",
    "RunOptions",
    "SampleFormat",
    "TextFrame",
    "VirtualClock",
    "__version__",
]
