"""What a session's trace includes, in one struct."""

from __future__ import annotations

import msgspec

TRACER_NAME = "graphflow"
"""The instrumentation scope of graphflow's spans and metrics."""


class TraceOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How a session is traced.

    ``content``: attach what was said and done (the user's words, the agent's words,
    tool arguments and results) as span attributes; off by default, so a trace carries
    timings, decisions and sizes but nothing a caller said. ``attributes``: added to the
    session's span (a room name, a job id).
    """

    content: bool = False
    attributes: dict[str, str] = {}
