"""Typed ports: declared on a Node class, bound to each node instance.

A node class declares ``inp = Input(AudioFrame)`` and ``out = Output(AudioFrame)``; each
instance then has its own :class:`InputPort` / :class:`OutputPort` under those names. The
same objects are used to connect the graph (``g.connect(a.out, b.inp)``) and, at run time,
to move frames (``self.out.push(frame)`` from a synchronous handler, ``await
self.out.send(frame)`` from async code, ``await self.inp.get()`` in a ``run`` loop).

An output port stamps what a frame leaves unset: ``created`` (0) becomes the clock time
and ``generation`` (:data:`~graphflow.frames.base.UNSET_GENERATION`) the run's current
generation (``Node.generation``) at the moment the frame is first pushed or sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from msgspec.structs import force_setattr

from graphflow.errors import ConfigError
from graphflow.frames import AudioFormat, EndOfStream, Frame
from graphflow.frames.types import FrameType, carries_audio, is_frame_type, type_name

if TYPE_CHECKING:
    from graphflow.node import Node
    from graphflow.runtime.edge_queue import EdgeQueue
    from graphflow.runtime.wiring import RunState

F = TypeVar("F", bound=Frame)


class _Ready:
    """An awaitable that is already done: ``send`` returns it when no queue is full."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]


READY: Awaitable[None] = _Ready()


def _check_type(frame_type: object, format: AudioFormat | None) -> None:
    if not is_frame_type(frame_type):
        raise ConfigError(f"a port carries Frame subclasses (or a union of them), not {frame_type!r}")
    if format is not None and not carries_audio(frame_type):
        raise ConfigError(f"an audio format was given for a {type_name(frame_type)} port")


class Input(Generic[F]):
    """Declares an input port on a Node class; instances get an :class:`InputPort`.

    ``frame_type`` is a Frame subclass, or a union (``AudioFrame | VADEvent``) for a port
    that carries several kinds of frame in one ordered stream.
    """

    @overload
    def __init__(
        self: Input[F],
        frame_type: type[F],
        *,
        format: AudioFormat | None = None,
        required: bool = True,
        handler: str = "on_frame",
        doc: str = "",
    ) -> None: ...
    @overload
    def __init__(
        self: Input[Frame],
        frame_type: UnionType,
        *,
        format: AudioFormat | None = None,
        required: bool = True,
        handler: str = "on_frame",
        doc: str = "",
    ) -> None: ...
    def __init__(
        self,
        frame_type: type[F] | FrameType,
        *,
        format: AudioFormat | None = None,
        required: bool = True,
        handler: str = "on_frame",
        doc: str = "",
    ) -> None:
        _check_type(frame_type, format)
        self.frame_type: FrameType = frame_type
        self.format = format
        self.required = required
        self.handler = handler
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Input[F]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> InputPort[F]: ...
    def __get__(self, obj: object | None, owner: type) -> Input[F] | InputPort[F]:
        if obj is None:
            return self
        raise AttributeError(f"{type(obj).__name__} was not initialised by Node.__init__")


class Output(Generic[F]):
    """Declares an output port on a Node class; ``follows`` names an input whose format it keeps."""

    @overload
    def __init__(
        self: Output[F],
        frame_type: type[F],
        *,
        format: AudioFormat | None = None,
        follows: str | None = None,
        doc: str = "",
    ) -> None: ...
    @overload
    def __init__(
        self: Output[Frame],
        frame_type: UnionType,
        *,
        format: AudioFormat | None = None,
        follows: str | None = None,
        doc: str = "",
    ) -> None: ...
    def __init__(
        self,
        frame_type: type[F] | FrameType,
        *,
        format: AudioFormat | None = None,
        follows: str | None = None,
        doc: str = "",
    ) -> None:
        _check_type(frame_type, format)
        self.frame_type: FrameType = frame_type
        self.format = format
        self.follows = follows
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Output[F]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> OutputPort[F]: ...
    def __get__(self, obj: object | None, owner: type) -> Output[F] | OutputPort[F]:
        if obj is None:
            return self
        raise AttributeError(f"{type(obj).__name__} was not initialised by Node.__init__")


class InputPort(Generic[F]):
    """One node's input port: where edges end; ``get()``/``async for`` read it in ``run``."""

    __slots__ = ("node", "name", "frame_type", "format", "required", "handler", "doc", "_queues", "_rt")

    def __init__(self, node: Node, spec: Input[F]) -> None:
        self.node = node
        self.name = spec.name
        self.frame_type = spec.frame_type
        self.format = spec.format
        self.required = spec.required
        self.handler = spec.handler
        self.doc = spec.doc
        self._queues: list[EdgeQueue] = []
        self._rt: RunState | None = None

    @property
    def qualname(self) -> str:
        """``node.port`` as used in messages and renders."""
        return f"{self.node.qualname or self.node.name}.{self.name}"

    async def get(self) -> Frame:
        """Next frame on this port (any of its edges); an :class:`EndOfStream` once all ended.

        Only for nodes that implement ``run``; handler nodes receive frames as calls.
        """
        if self._rt is None:
            raise ConfigError(f"port {self.qualname} is not part of a running graph")
        return await self._rt.read_port(self)

    async def __aiter__(self) -> AsyncIterator[Frame]:
        while True:
            frame = await self.get()
            if type(frame) is EndOfStream:
                return
            yield frame

    def __repr__(self) -> str:
        return f"<input {self.qualname}: {type_name(self.frame_type)}>"


class OutputPort(Generic[F]):
    """One node's output port: frames pushed here go to every connected input."""

    __slots__ = ("node", "name", "frame_type", "format", "follows", "doc", "_targets", "_deliver", "_rt")

    def __init__(self, node: Node, spec: Output[F]) -> None:
        self.node = node
        self.name = spec.name
        self.frame_type = spec.frame_type
        self.format = spec.format
        self.follows = spec.follows
        self.doc = spec.doc
        self._targets: tuple[Callable[[Frame], None], ...] = ()
        self._deliver: Callable[[Frame], None] = _nowhere
        self._rt: RunState | None = None

    def connect_targets(self, targets: tuple[Callable[[Frame], None], ...]) -> None:
        """Deliver to ``targets`` from now on (the run's wiring); one target is called directly."""
        self._targets = targets
        if not targets:
            self._deliver = _nowhere
        elif len(targets) == 1:
            self._deliver = targets[0]
        else:
            self._deliver = self._fan_out

    @property
    def qualname(self) -> str:
        """``node.port`` as used in messages and renders."""
        return f"{self.node.qualname or self.node.name}.{self.name}"

    def push(self, frame: F) -> None:
        """Deliver ``frame`` now (stamped): fused handlers run inline, queued edges enqueue it.

        A queue that is full under the block policy is remembered; the task driving this
        node waits for room before it takes its next frame (backpressure).
        """
        if not frame.created or frame.generation < 0:
            self._stamp(frame)
        self._deliver(frame)

    def send(self, frame: F) -> Awaitable[None]:
        """Push ``frame`` and return an awaitable that waits while a downstream queue is full."""
        if not frame.created or frame.generation < 0:
            self._stamp(frame)
        self._deliver(frame)
        rt = self._rt
        if rt is None:
            return READY
        if rt.pressure:
            return rt.relieve_pressure()
        return rt.ready

    def _fan_out(self, frame: Frame) -> None:
        for deliver in self._targets:
            deliver(frame)

    def _stamp(self, frame: F) -> None:
        """Fill in the unset ``created`` and ``generation`` of ``frame``, in place.

        In place, not a copy: a frame is its sender's until it first leaves a port, and an
        audio frame's copy would cost more than the whole hop. A frame already stamped
        (forwarded, or sent twice) is left as it is.
        """
        rt = self._rt
        if rt is None:
            return
        if not frame.created:
            force_setattr(frame, "created", rt.clock.now())
        if frame.generation < 0:
            force_setattr(frame, "generation", rt.generation)

    def __repr__(self) -> str:
        return f"<output {self.qualname}: {type_name(self.frame_type)}>"


def _nowhere(frame: Frame) -> None:
    """Where an unconnected output's frames go."""
