"""Negotiation ("caps"): what each port actually carries — frame type and audio format.

In topological order, an input receives the most specific type common to what its edges
bring; an output carries its declared type and format, narrowed by the input it
``follows`` (a pass-through emits what it receives). The checks then compare what each
edge carries with what its input accepts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from graphflow.errors import CompileIssue
from graphflow.frames import ANY_AUDIO, AudioFormat
from graphflow.frames.types import FrameType, accepts, carries_audio, members, union
from graphflow.graph import Connection
from graphflow.node import Node
from graphflow.ports import InputPort, OutputPort


@dataclass
class Negotiated:
    """Resolved frame types of every port and formats of every audio output."""

    types: dict[OutputPort[Any], FrameType] = field(default_factory=dict)
    formats: dict[OutputPort[Any], AudioFormat] = field(default_factory=dict)
    issues: list[CompileIssue] = field(default_factory=list)


def _received(types: list[FrameType], fallback: FrameType) -> FrameType:
    """What an input receives: the union of what its edges carry (its own type if none)."""
    if not types:
        return fallback
    return union([m for t in types for m in members(t)])


def _narrow(declared: FrameType, received: FrameType) -> FrameType:
    """What an output that follows an input carries: the received classes it may pass on,
    plus its own declared classes that nothing received covers (events it adds itself)."""
    passed = [m for m in members(received) if accepts(declared, m)]
    added = [d for d in members(declared) if not any(issubclass(r, d) for r in passed)]
    kept = passed + added
    return union(kept) if kept else declared


def negotiate(order: list[Node], connections: list[Connection]) -> Negotiated:
    """Resolve types and formats in topological ``order`` (see the module docstring)."""
    incoming: dict[InputPort[Any], list[Connection]] = defaultdict(list)
    for conn in connections:
        incoming[conn.dst].append(conn)
    out = Negotiated()
    in_types: dict[InputPort[Any], FrameType] = {}
    in_formats: dict[InputPort[Any], AudioFormat] = {}
    for node in order:
        for iport in node.inputs.values():
            conns = incoming[iport]
            in_types[iport] = _received(
                [out.types.get(c.src, c.src.frame_type) for c in conns], iport.frame_type
            )
            formats = {out.formats[c.src] for c in conns if c.src in out.formats}
            passed_on = any(o.follows == iport.name for o in node.outputs.values())
            if len(formats) > 1 and passed_on:
                out.issues.append(
                    CompileIssue(
                        "graph.format_conflict",
                        f"{iport.qualname} receives audio in different formats: "
                        + ", ".join(sorted(str(f) for f in formats)),
                        nodes=(node.qualname,),
                        ports=(iport.qualname,),
                        hint="resample the inputs to one format before they meet",
                    )
                )
            in_formats[iport] = formats.pop() if len(formats) == 1 else ANY_AUDIO
        for oport in node.outputs.values():
            ftype: FrameType = oport.frame_type
            fmt = oport.format or ANY_AUDIO
            followed = node.inputs.get(oport.follows) if oport.follows else None
            if followed is not None:
                ftype = _narrow(ftype, in_types[followed])
                fmt = fmt.merged(in_formats[followed])
            out.types[oport] = ftype
            if carries_audio(ftype):
                out.formats[oport] = fmt
    for conn in connections:
        required = conn.dst.format
        if required is None or conn.src not in out.formats:
            continue
        produced = out.formats[conn.src]
        problems = produced.mismatches(required)
        if problems:
            out.issues.append(
                CompileIssue(
                    "graph.format_mismatch",
                    f"{conn.src.qualname} produces {produced} but {conn.dst.qualname} "
                    f"requires {required} ({'; '.join(problems)})",
                    nodes=(conn.src.node.qualname, conn.dst.node.qualname),
                    ports=(conn.src.qualname, conn.dst.qualname),
                    hint="put a resampler between them, or fix the producer's output format",
                )
            )
    return out
