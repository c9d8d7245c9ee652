"""One error model for the engine and its nodes.

Every error graphflow raises is a :class:`GraphflowError`: it carries a stable ``code``
(``"graph.type_mismatch"``, ``"node.failed"``, ...), a message that says what happened,
a ``hint`` that says what to do, whether retrying may help (``retryable``) and the
original exception as ``__cause__``. Retries and provider fallbacks read the same object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GraphflowError(Exception):
    """Base of every graphflow error: a stable code, a message, a hint and retryability."""

    code: str = "graphflow.error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        code: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(GraphflowError):
    """Options or arguments that cannot work (unknown node name, bad option value)."""

    code = "config.invalid"


@dataclass(frozen=True)
class CompileIssue:
    """One problem found while compiling a graph, naming the nodes and ports involved."""

    code: str
    message: str
    nodes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    hint: str = ""

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class CompileError(GraphflowError):
    """A graph that cannot run; ``issues`` lists every problem found, not just the first."""

    code = "graph.invalid"

    def __init__(self, issues: Sequence[CompileIssue]) -> None:
        self.issues = tuple(issues)
        lines = [f"graph does not compile ({len(self.issues)} problem(s)):"]
        lines += [f"  - {issue}" for issue in self.issues]
        super().__init__("\n".join(lines), code=self.issues[0].code if self.issues else None)

    def __str__(self) -> str:
        return self.message


class NodeError(GraphflowError):
    """A node raised while running; names the node, the phase and the frame type it handled."""

    code = "node.failed"

    def __init__(
        self,
        node: str,
        *,
        phase: str,
        frame_type: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.node = node
        self.phase = phase
        self.frame_type = frame_type
        what = f"node {node!r} failed in {phase}"
        if frame_type:
            what += f" while handling a {frame_type} frame"
        if cause is not None:
            what += f": {type(cause).__name__}: {cause}"
        retryable = isinstance(cause, GraphflowError) and cause.retryable
        super().__init__(what, hint="see the cause below for the node's own error", retryable=retryable)


class FrameError(GraphflowError):
    """A frame that cannot be processed: wrong format, NaN samples, broken payload."""

    code = "frame.invalid"


class ProviderError(GraphflowError):
    """A model or remote provider failed; ``retryable`` says whether another try may succeed."""

    code = "provider.failed"
