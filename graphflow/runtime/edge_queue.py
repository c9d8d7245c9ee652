"""The bounded queue standing on a non-fused edge.

One producer port, one consumer. ``offer`` never blocks (it is called from synchronous
code): under the block policy a full queue takes the frame and registers itself as
*pressure*; the task that pushed waits in :meth:`wait_space` before taking its next frame.
A blocked producer is woken only once the queue has drained to half its bound (a low
watermark, as in GStreamer's queue), so producer and consumer hand over frames in
batches instead of switching tasks on every frame.
Under the drop policies the newest or the oldest data frame is dropped and counted.
Control frames and frames marked ``survive`` are never dropped.

Batching suits a stream, not the start of one: a producer that wakes a consumer which had
been idle for a while (:data:`HANDOFF_IDLE`: a reply's first token, its first audio) would
otherwise go on producing — a TTS pushes a whole sentence's frames, a stand-in LLM every
token — before the consumer sees the first frame. So when such a producer offers a second
frame before the woken consumer ran, it is asked to *hand off*: it yields once at its next
``send`` and the consumer takes what is queued. This holds for the first
:data:`HANDOFF_BURST` wakes after the idle spell; then the queue batches as usual. A
producer that offers one frame per wake (a paced audio stream) never yields for it, and
one that never finds its consumer idle that long (a throughput run) keeps its batches.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from graphflow.frames import Frame
from graphflow.queue_spec import Overflow, QueueSpec
from graphflow.runtime.stats import EdgeStats, LatencyStats
from graphflow.timebase import MS

HANDOFF_IDLE = 1 * MS
"""A consumer idle this long (clock ns) when a frame wakes it starts a burst."""
HANDOFF_BURST = 16
"""Hand-offs in one burst (then the queue batches as usual)."""


class EdgeQueue:
    """A bounded FIFO of frames with an overflow policy, counters and wake-ups."""

    __slots__ = (
        "label",
        "spec",
        "items",
        "max_frames",
        "max_time",
        "low_water",
        "queued_time",
        "pressure",
        "handoff",
        "consumer",
        "idle_since",
        "burst",
        "waking",
        "now",
        "space_waiters",
        "handler",
        "handler_async",
        "ended",
        "pushed",
        "dropped",
        "flushed",
        "high_water",
    )

    def __init__(
        self,
        label: str,
        spec: QueueSpec,
        pressure: list[EdgeQueue],
        now: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.label = label
        self.spec = spec
        self.items: deque[Frame] = deque()
        self.max_frames = spec.max_frames
        self.max_time = spec.max_time
        self.low_water = max(1, spec.max_frames // 2)
        self.queued_time = 0
        self.pressure = pressure
        self.handoff = False
        """Set when this queue woke an idle consumer: the producing task should yield once."""
        self.consumer: asyncio.Future[None] | None = None
        self.idle_since = 0
        self.burst = 0
        self.waking = False
        self.now = now
        self.space_waiters: list[asyncio.Future[None]] = []
        self.handler: Callable[[Frame], Any] | None = None
        self.handler_async = False
        self.ended = False
        self.pushed = 0
        self.dropped = 0
        self.flushed = 0
        self.high_water = 0

    # ------------------------------------------------------------------ producer
    def offer(self, frame: Frame) -> None:
        """Enqueue ``frame`` now, applying the overflow policy if the queue is full."""
        items = self.items
        items.append(frame)
        self.pushed += 1
        self.queued_time += frame.duration
        n = len(items)
        if (
            n > self.max_frames or (self.max_time and self.queued_time > self.max_time)
        ) and not frame.CONTROL:
            self._overflow()
            n = len(items)
        if n > self.high_water:
            self.high_water = n
        consumer = self.consumer
        if consumer is not None:
            self.consumer = None
            if not consumer.done():
                consumer.set_result(None)
                if self.now() - self.idle_since >= HANDOFF_IDLE:
                    self.burst = HANDOFF_BURST
                self.waking = self.burst > 0
        elif self.waking:
            self._hand_off()

    def wait(self, waiter: asyncio.Future[None]) -> None:
        """The consumer waits for a frame on ``waiter`` (resolved by the next offer)."""
        self.consumer = waiter
        self.idle_since = self.now()
        self.waking = False

    def _hand_off(self) -> None:
        """A second frame came before the woken consumer ran: the producing task should yield."""
        self.waking = False
        self.burst -= 1
        self.handoff = True
        pressure = self.pressure
        if not pressure or pressure[-1] is not self:
            pressure.append(self)

    def _overflow(self) -> None:
        policy = self.spec.overflow
        items = self.items
        if policy is Overflow.BLOCK:
            pressure = self.pressure
            if not pressure or pressure[-1] is not self:
                pressure.append(self)
            return
        if policy is Overflow.DROP_NEWEST:
            if not items[-1].survive:
                self._drop_at(len(items) - 1)
            return
        for i, victim in enumerate(items):
            if not victim.survive:
                self._drop_at(i)
                return

    def _drop_at(self, index: int) -> None:
        victim = self.items[index]
        del self.items[index]
        self.dropped += 1
        self.queued_time -= victim.duration

    def full(self) -> bool:
        """True while the queue holds more than its bound (a blocked producer must wait)."""
        return len(self.items) > self.max_frames or bool(
            self.max_time and self.queued_time > self.max_time and len(self.items) > 1
        )

    async def wait_space(self) -> None:
        """Wait until the queue is back within its bound."""
        loop = asyncio.get_running_loop()
        while self.full():
            waiter: asyncio.Future[None] = loop.create_future()
            self.space_waiters.append(waiter)
            await waiter

    # ------------------------------------------------------------------ consumer
    def pop(self) -> Frame:
        """Take the oldest frame (the queue must not be empty)."""
        items = self.items
        frame = items.popleft()
        self.queued_time -= frame.duration
        if self.space_waiters and len(items) <= self.low_water:
            self._wake_producers()
        return frame

    def _wake_producers(self) -> None:
        waiters, self.space_waiters = self.space_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def flush(self, floor: int) -> int:
        """Remove frames of generations before ``floor`` that do not survive; return how many."""
        items = self.items
        kept = [f for f in items if f.survive or f.generation >= floor]
        removed = len(items) - len(kept)
        if removed:
            items.clear()
            items.extend(kept)
            self.queued_time = sum(f.duration for f in kept)
            self.flushed += removed
            if self.space_waiters and not self.full():
                self._wake_producers()
        return removed

    def stats(self) -> EdgeStats:
        """Counters of this edge."""
        return EdgeStats(
            edge=self.label,
            fused=False,
            capacity=self.max_frames,
            pushed=self.pushed,
            dropped=self.dropped,
            flushed=self.flushed,
            high_water=self.high_water,
            depth=len(self.items),
            latency=None,
        )


class TracedEdgeQueue(EdgeQueue):
    """An edge queue that also records each frame's time in the queue (tracing on)."""

    __slots__ = ("stamps", "latency")

    def __init__(
        self, label: str, spec: QueueSpec, pressure: list[EdgeQueue], now: Callable[[], int], keep: int
    ) -> None:
        super().__init__(label, spec, pressure, now)
        self.stamps: deque[int] = deque()
        self.latency = LatencyStats(keep)

    def offer(self, frame: Frame) -> None:
        """Enqueue ``frame`` and remember when it arrived."""
        self.stamps.append(self.now())
        super().offer(frame)

    def pop(self) -> Frame:
        """Take the oldest frame and record how long it waited (data frames only)."""
        frame = super().pop()
        arrived = self.stamps.popleft()
        if not frame.CONTROL:
            self.latency.add(self.now() - arrived)
        return frame

    def _drop_at(self, index: int) -> None:
        del self.stamps[index]
        super()._drop_at(index)

    def flush(self, floor: int) -> int:
        """Flush as the base class does, forgetting arrival times of removed frames."""
        pairs = [
            (f, t) for f, t in zip(self.items, self.stamps, strict=True) if f.survive or f.generation >= floor
        ]
        removed = super().flush(floor)
        if removed:
            self.stamps = deque(t for _, t in pairs)
        return removed

    def stats(self) -> EdgeStats:
        """Counters of this edge plus the time frames spent queued."""
        return msgspec.structs.replace(super().stats(), latency=self.latency.summary())
