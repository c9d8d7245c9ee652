"""The Node base class: typed ports, typed options, a lifecycle, and three ways to process.

A node does its work in one of three ways; the engine picks how to drive it:

* ``def on_frame(self, frame)`` — a **synchronous handler**. Chains of such nodes are
  fused: the upstream task calls them as plain functions, no queue in between.
* ``async def on_frame(self, frame)`` — an **async handler**. The node gets a bounded
  input queue and a task; a cancellation aborts the handler call in flight.
* ``async def run(self)`` — full control (sources, timers): read ports with
  ``await self.inp.get()`` and write with ``await self.out.send(frame)``.

A pass-through node is therefore::

    class Passthrough(Node):
        inp = Input(Frame)
        out = Output(Frame, follows="inp")

        def on_frame(self, frame: Frame) -> None:
            self.out.push(frame)
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec

from graphflow.errors import ConfigError
from graphflow.ports import Input, InputPort, Output, OutputPort

if TYPE_CHECKING:
    from graphflow.runtime.cancellation import CancelHandle, CancelInfo
    from graphflow.runtime.clock import Clock
    from graphflow.runtime.wiring import RunState


class NoOptions(msgspec.Struct, frozen=True):
    """Options of a node that has none."""


class NodeKind(enum.Enum):
    """How the scheduler drives a node."""

    SYNC = "sync"
    """Synchronous handlers, fused into the upstream task."""
    ASYNC = "async"
    """Async handlers, fed by a queue and run in the node's own task."""
    RUN = "run"
    """A ``run`` coroutine that reads and writes its ports itself."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Node:
    """Base of every stage: subclass it, declare ports and ``Options``, implement a handler."""

    Options: ClassVar[type[msgspec.Struct]] = NoOptions
    """The typed options struct of this node class."""

    _input_specs: ClassVar[dict[str, Input[Any]]] = {}
    _output_specs: ClassVar[dict[str, Output[Any]]] = {}

    options: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inputs: dict[str, Input[Any]] = {}
        outputs: dict[str, Output[Any]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Input):
                    inputs[attr] = value
                elif isinstance(value, Output):
                    outputs[attr] = value
        cls._input_specs = inputs
        cls._output_specs = outputs

    def __init__(self, options: msgspec.Struct | None = None, *, name: str | None = None) -> None:
        if options is None:
            options = self.Options()
        elif not isinstance(options, self.Options):
            raise ConfigError(
                f"{type(self).__name__} takes {self.Options.__name__} options, got {type(options).__name__}"
            )
        self.options = options
        self.name: str = name or ""
        self.qualname: str = ""
        self.inputs: dict[str, InputPort[Any]] = {}
        self.outputs: dict[str, OutputPort[Any]] = {}
        for attr, ispec in self._input_specs.items():
            iport = InputPort(self, ispec)
            self.inputs[attr] = iport
            setattr(self, attr, iport)
        for attr, ospec in self._output_specs.items():
            oport = OutputPort(self, ospec)
            self.outputs[attr] = oport
            setattr(self, attr, oport)
        self._rt: RunState | None = None
        self.now: Callable[[], int] = _not_running
        self.floor = 0

    # ----------------------------------------------------------------- lifecycle
    async def setup(self) -> None:
        """Acquire resources (models, connections) before the first frame."""

    async def close(self) -> None:
        """Release resources; called once after the run, whether it failed or not."""

    def on_end(self) -> Awaitable[None] | None:
        """All inputs ended: emit any last frames (``async def`` allowed in async nodes)."""
        return None

    def on_cancel(self, info: CancelInfo) -> object:
        """Called on each cancellation target after its in-flight work was aborted.

        Return a report of what had been done (e.g. the text already spoken); it is
        collected into the :class:`~graphflow.runtime.cancellation.CancelReport`.
        """
        return None

    # ------------------------------------------------------------------ run time
    @property
    def clock(self) -> Clock:
        """The run's clock (only while the node is part of a running graph)."""
        if self._rt is None:
            raise ConfigError(f"node {self.name!r} is not part of a running graph")
        return self._rt.clock

    @property
    def generation(self) -> int:
        """The run's current generation (turn epoch); output ports stamp it on frames that have none."""
        return self._rt.generation if self._rt is not None else 0

    def report(self, error: BaseException) -> None:
        """Tell the run's observers about an error this node handled and survived."""
        from graphflow.errors import GraphflowError
        from graphflow.runtime.events import NodeIssue

        if self._rt is None:
            return
        code = error.code if isinstance(error, GraphflowError) else type(error).__name__
        retryable = error.retryable if isinstance(error, GraphflowError) else False
        self._rt.emit(
            NodeIssue(at=self.now(), node=self.qualname, code=code, message=str(error), retryable=retryable)
        )

    def publish(self, payload: object) -> None:
        """Tell the run's observers about ``payload`` (one event path for everything a node reports).

        Observers get it at once, on this task, as a :class:`~graphflow.runtime.events.NodeEvent`;
        outside a run it goes nowhere.
        """
        from graphflow.runtime.events import NodeEvent

        if self._rt is not None:
            self._rt.emit(NodeEvent(at=self.now(), node=self.qualname, payload=payload))

    def spawn(self, work: Coroutine[Any, Any, None], name: str = "") -> asyncio.Task[None]:
        """Start background work owned by the run (awaited or cancelled when the run ends).

        A failure in it fails the run like a failure in a handler, naming this node.
        """
        if self._rt is None:
            work.close()
            raise ConfigError(f"node {self.name!r} is not running; cannot spawn work")
        named = _named(self.qualname or self.name, work)
        try:
            return self._rt.spawn(named, name=f"{self.qualname}:{name or 'work'}")
        except BaseException:
            named.close()
            work.close()
            raise

    def cancel(self, reason: str = "") -> CancelHandle:
        """Fire this node's cancellation edges (two-phase flush of their targets).

        Phase one happens before this returns: targets stop taking old frames, their
        queues are flushed and their in-flight work is cancelled. Await the handle for
        phase two's :class:`~graphflow.runtime.cancellation.CancelReport`.
        """
        if self._rt is None:
            raise ConfigError(f"node {self.name!r} is not running; cannot cancel")
        return self._rt.cancel_from(self, reason)

    # --------------------------------------------------------------- description
    def latency(self) -> int:
        """The latency this stage adds of its own, in ns; 0 (the default) adds none.

        Override it from the node's options: how long the stage holds data before its
        output for that data leaves (a frame to fill, a window, a wait, a model's time to
        answer). The compiler sums it along every path; the largest sum is the graph's
        latency budget.
        """
        return 0

    @classmethod
    def kind(cls) -> NodeKind:
        """How the scheduler drives this node class."""
        if cls.run is not Node.run:
            return NodeKind.RUN
        handlers = {spec.handler for spec in cls._input_specs.values()}
        if any(inspect.iscoroutinefunction(getattr(cls, h, None)) for h in handlers):
            return NodeKind.ASYNC
        return NodeKind.SYNC

    async def run(self) -> None:
        """Override for full control of the node's loop (sources, timers, multiplexing)."""
        raise NotImplementedError

    def default_name(self) -> str:
        """The name given to an unnamed node when it joins a graph."""
        return _snake(type(self).__name__)

    def default_input(self) -> InputPort[Any]:
        """The input used by ``Graph.chain``: the only one, or the one named ``inp``."""
        return _default_port(self, self.inputs, "inp", "input")

    def default_output(self) -> OutputPort[Any]:
        """The output used by ``Graph.chain``: the only one, or the one named ``out``."""
        return _default_port(self, self.outputs, "out", "output")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or '(unnamed)'}>"


P = TypeVar("P")


def _default_port(node: Node, ports: dict[str, P], preferred: str, what: str) -> P:
    if len(ports) == 1:
        return next(iter(ports.values()))
    if preferred in ports:
        return ports[preferred]
    raise ConfigError(
        f"{node!r} has {len(ports)} {what}s ({', '.join(ports) or 'none'}); "
        f"name the port instead of relying on a default",
        hint=f"use g.connect(...) with an explicit port, e.g. node.{next(iter(ports), preferred)}",
    )


async def _named(node: str, work: Coroutine[Any, Any, None]) -> None:
    from graphflow.errors import GraphflowError, NodeError

    try:
        await work
    except (NodeError, asyncio.CancelledError):
        raise
    except Exception as exc:
        if isinstance(exc, GraphflowError) and exc.code == "node.failed":
            raise
        raise NodeError(node, phase="background work", cause=exc) from exc


def _not_running() -> int:
    raise ConfigError("node is not part of a running graph; its clock is not set")
