"""One Silero VAD ONNX session per process, batching the windows of every session into one call.

Each VAD node owns a :class:`SileroStream` (the model's recurrent state and the last 64
samples of its previous input). ``await executor.probability(stream, window)`` queues one
512-sample window; every window queued in the same event-loop iteration (and any queued
while a batch is being computed) goes into one ``session.run`` with input ``[B, 576]`` and
state ``[2, B, 128]``, run in a worker thread. Batching is bit-exact: each row only sees
its own state and context.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphflow.errors import FrameError, ProviderError
from graphflow.models import ModelCache, ModelHub
from graphflow.runtime.stats import LatencyStats
from graphflow.timebase import to_ms

MODEL = "silero-vad"
"""Catalog name of the model."""
MODEL_FILE = "silero_vad.onnx"
"""The ONNX file used (8 kHz + 16 kHz, opset 16)."""
RATE = 16000
"""Sample rate the executor runs at."""
WINDOW = 512
"""New samples per model call (32 ms at 16 kHz)."""
CONTEXT = 64
"""Samples of the previous input prepended to each window."""
STATE_SHAPE = (2, 1, 128)
"""Shape of one stream's recurrent state."""


class SileroStream:
    """One audio stream's model state: recurrent state [2,1,128] and the 64-sample context."""

    __slots__ = ("state", "context", "windows")

    def __init__(self) -> None:
        self.state = np.zeros(STATE_SHAPE, np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self.windows = 0

    def reset(self) -> None:
        """Forget the past: zero state and context (a new, unrelated stream)."""
        self.state = np.zeros(STATE_SHAPE, np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self.windows = 0


@dataclass
class SileroStats:
    """Inference statistics: time per ``session.run`` (ns), overall and per batch size."""

    calls: LatencyStats = field(default_factory=lambda: LatencyStats(keep=100_000))
    """Wall time of each ``session.run`` (with stacking and splitting), in ns."""
    by_batch: dict[int, LatencyStats] = field(default_factory=dict)
    """The same, keyed by batch size."""
    windows: int = 0
    """Windows computed (sum of batch sizes)."""

    @property
    def batch_sizes(self) -> dict[int, int]:
        """Number of calls made at each batch size."""
        return {size: stats.count for size, stats in sorted(self.by_batch.items())}

    @property
    def max_batch(self) -> int:
        """Largest batch seen (0 before the first call)."""
        return max(self.by_batch, default=0)

    @property
    def mean_batch(self) -> float:
        """Windows per call."""
        return self.windows / self.calls.count if self.calls.count else 0.0

    def record(self, batch: int, ns: int) -> None:
        """Record one call of ``batch`` windows that took ``ns``."""
        self.calls.add(ns)
        self.windows += batch
        stats = self.by_batch.get(batch)
        if stats is None:
            stats = self.by_batch[batch] = LatencyStats(keep=10_000)
        stats.add(ns)


class SileroExecutor:
    """A shared Silero VAD session (1 intra-op, 1 inter-op thread) that batches streams."""

    def __init__(self, cache: ModelCache | None = None) -> None:
        import onnxruntime as ort

        path = (cache or ModelCache()).path(MODEL, MODEL_FILE)  # raises ModelMissing
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.session: Any = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.path = path
        self.stats = SileroStats()
        self._sr = np.array(RATE, np.int64)
        self._lock = threading.Lock()
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def shared(cls, hub: ModelHub) -> SileroExecutor:
        """The process's executor from ``hub`` (created on first use; ModelMissing if absent)."""
        return hub.shared(MODEL, lambda: cls(hub.cache))

    def run_batch(self, streams: Sequence[SileroStream], windows: Sequence[np.ndarray]) -> np.ndarray:
        """Speech probability of one window per stream, in one call; advances each stream.

        ``windows`` are float32 arrays of 512 samples in [-1, 1]; a stream may appear once.
        """
        batch = len(streams)
        if batch != len(windows):
            raise ValueError(f"{batch} streams but {len(windows)} windows")
        if batch == 0:
            return np.zeros(0, np.float32)
        if len({id(s) for s in streams}) != batch:
            raise ValueError("a stream may appear only once in a batch (its windows are sequential)")
        x = np.empty((batch, CONTEXT + WINDOW), np.float32)
        for i, (stream, window) in enumerate(zip(streams, windows, strict=True)):
            if window.shape != (WINDOW,):
                raise FrameError(f"a Silero window holds {WINDOW} samples, got shape {window.shape}")
            x[i, :CONTEXT] = stream.context
            x[i, CONTEXT:] = window
        state = np.concatenate([s.state for s in streams], axis=1) if batch > 1 else streams[0].state
        with self._lock:
            start = time.perf_counter_ns()
            try:
                prob, new_state = self.session.run(None, {"input": x, "state": state, "sr": self._sr})
            except Exception as exc:
                raise ProviderError(
                    f"Silero VAD inference failed: {exc}",
                    hint="the model file may be damaged: delete it and run "
                    "`graphflow models download silero-vad`",
                    retryable=False,
                ) from exc
            self.stats.record(batch, time.perf_counter_ns() - start)
        for i, stream in enumerate(streams):
            stream.state = np.ascontiguousarray(new_state[:, i : i + 1])
            stream.context = x[i, -CONTEXT:].copy()
            stream.windows += 1
        out: np.ndarray = prob[:, 0].astype(np.float32, copy=False)
        return out

    async def probability(self, stream: SileroStream, window: np.ndarray) -> float:
        """Speech probability of ``window`` (512 float32 samples), batched with other streams."""
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _Batcher(self, loop)
        return await batcher.submit(stream, window)


@dataclass
class _Request:
    stream: SileroStream
    window: np.ndarray
    future: asyncio.Future[float]


INLINE_BATCH = 0
"""Batches up to this many windows run on the event loop itself instead of a worker thread.

Measured: inline runs save the thread hop (~0.5 ms per window) for one session, but with
many sessions on 2 cores the worker thread lets ONNX Runtime use the other core without
the GIL; inline batches of up to 8 raised p99 frame lag at 16 sessions from 20 to 34 ms.
So every batch goes to the thread."""


class _Batcher:
    """Collects the requests of one event loop and runs them as batches, one at a time."""

    def __init__(self, executor: SileroExecutor, loop: asyncio.AbstractEventLoop) -> None:
        self.executor = executor
        self.loop = loop
        self.pending: list[_Request] = []
        self.scheduled = False
        self.busy = False

    def submit(self, stream: SileroStream, window: np.ndarray) -> asyncio.Future[float]:
        """Queue one window of ``stream`` for the next batch; resolves to its speech probability."""
        future: asyncio.Future[float] = self.loop.create_future()
        self.pending.append(_Request(stream, window, future))
        if not self.scheduled and not self.busy:
            self.scheduled = True
            self.loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        """Send the windows waiting now as one batch."""
        self.scheduled = False
        if self.busy:
            return
        batch: list[_Request] = []
        later: list[_Request] = []
        seen: set[int] = set()
        for request in self.pending:
            if request.future.cancelled():
                continue
            if id(request.stream) in seen:  # its previous window must be computed first
                later.append(request)
            else:
                seen.add(id(request.stream))
                batch.append(request)
        self.pending = later
        if not batch:
            return
        if len(batch) <= INLINE_BATCH:
            # a small batch costs less than the hop to a worker thread and back (and the
            # GIL hand-over): run it here, on the loop
            self.busy = True
            done: asyncio.Future[np.ndarray] = self.loop.create_future()
            try:
                done.set_result(self.executor.run_batch([r.stream for r in batch], [r.window for r in batch]))
            except Exception as exc:
                done.set_exception(exc)
            self.finish(batch, done)
            return
        self.busy = True
        work = self.loop.run_in_executor(
            None, self.executor.run_batch, [r.stream for r in batch], [r.window for r in batch]
        )
        work.add_done_callback(lambda done: self.finish(batch, done))

    def finish(self, batch: list[_Request], done: asyncio.Future[np.ndarray]) -> None:
        """Hand each request of ``batch`` its probability once ``done`` resolves."""
        self.busy = False
        if done.cancelled():
            for request in batch:
                request.future.cancel()
            return
        error = done.exception()
        if error is None:
            probs = done.result()
            for request, p in zip(batch, probs, strict=True):
                if not request.future.done():
                    request.future.set_result(float(p))
        else:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
        if self.pending and not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)


def benchmark(executor: SileroExecutor, batch: int, calls: int = 300) -> tuple[float, float]:
    """Median ms per ``run_batch`` call and per window at ``batch`` streams (noise input)."""
    rng = np.random.default_rng(0)
    streams = [SileroStream() for _ in range(batch)]
    times = []
    for _ in range(calls):
        windows = list(rng.uniform(-0.1, 0.1, (batch, WINDOW)).astype(np.float32))
        start = time.perf_counter_ns()
        executor.run_batch(streams, windows)
        times.append(time.perf_counter_ns() - start)
    per_call = to_ms(round(float(np.median(times))))
    return per_call, per_call / batch


async def _async_overhead(executor: SileroExecutor, windows: int) -> float:
    stream = SileroStream()
    window = np.zeros(WINDOW, np.float32)
    start = time.perf_counter_ns()
    for _ in range(windows):
        await executor.probability(stream, window)
    return to_ms(time.perf_counter_ns() - start) / windows


def main() -> None:
    """``python -m nodes.vad.silero_executor``: per-window cost at several batch sizes."""
    executor = SileroExecutor()
    benchmark(executor, 1, 50)  # warm up
    for batch in (1, 2, 8, 32, 128):
        per_call, per_window = benchmark(executor, batch)
        print(f"batch {batch:4d}: {per_call:7.3f} ms per call, {per_window:6.3f} ms per window")
    ms = asyncio.run(_async_overhead(executor, 1000))
    print(f"await probability() alone (thread hop included): {ms:.3f} ms per window")


if __name__ == "__main__":
    main()
