"""The Smart Turn v3.2 executor: one ONNX session per process, shared and batched.

Every :class:`~nodes.turn.detector.TurnDetector` of a process asks the
:class:`~graphflow.models.ModelHub` for the same :class:`SmartTurnExecutor`
(``SmartTurnExecutor.shared(hub)``). ``await executor.predict(features)`` queues the
request; requests that arrive while a call is running (or in the same event-loop tick)
go into the next call together, as one ``[B, 80, 800]`` batch run in a worker thread, so
the event loop never waits for the model.

Model: ``smart-turn-v3.2-cpu.onnx`` (int8) from pipecat-ai, input ``input_features``
float32 ``[B, 80, 800]``, output ``logits`` float32 ``[B, 1]`` which is already the
probability that the turn is complete.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from graphflow.errors import FrameError, ProviderError
from graphflow.models import ModelCache, ModelHub
from graphflow.runtime.stats import LatencyStats
from nodes.turn.features import N_FRAMES, N_MELS, smart_turn_features

MODEL_NAME = "smart-turn"
"""Catalog name of the model."""
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
"""The ONNX file inside the model's cache directory."""
HUB_KEY = "smart-turn-v3.2"
"""Key of the shared executor in a :class:`ModelHub`."""


NICE = 10
"""How much lower than the event loop's the Smart Turn threads' scheduling priority is."""


def _lower_priority(nice: int) -> None:
    """Lower this thread's priority by ``nice`` (Linux; elsewhere, or when refused, it stays)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError:
        pass


class SmartTurnExecutor:
    """A lazily loaded ONNX session for Smart Turn; batches concurrent ``predict`` calls.

    ``threads`` is onnxruntime's intra-op thread count (1, as pipecat uses, suits many
    sessions on one box; 2 halves the latency of one call on this 2-core machine).
    ``max_batch`` bounds how many requests go into one call. Features and model calls run
    on two threads of the executor's own whose scheduling priority is lowered by ``nice``:
    a turn decision may wait a little for a core, the event loop that moves every
    session's audio does not.
    """

    def __init__(
        self, path: Path, *, threads: int = 1, max_batch: int = 16, keep_samples: int = 0, nice: int = NICE
    ) -> None:
        self.path = path
        self.threads = threads
        self.max_batch = max_batch
        self.call_time = LatencyStats(keep_samples)
        """Wall time of each model call (one batch), in ns."""
        self.calls = 0
        """Model calls made."""
        self.items = 0
        """Requests answered (sum of batch sizes)."""
        self.batch_sizes: list[int] = []
        """Size of each of the last 1000 calls' batches."""
        self._session: Any = None
        self._pool = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="smart-turn", initializer=_lower_priority, initargs=(nice,)
        )
        self._lock = threading.Lock()
        self._pending: list[tuple[npt.NDArray[np.float32], asyncio.Future[float]]] = []
        self._worker: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ creation
    @classmethod
    def from_cache(cls, cache: ModelCache) -> SmartTurnExecutor:
        """An executor for the cached model; raises ``ModelMissing`` (with the download command)."""
        return cls(cache.path(MODEL_NAME, MODEL_FILE))

    @classmethod
    def shared(cls, hub: ModelHub) -> SmartTurnExecutor:
        """The one executor of ``hub`` (created on first use; raises ``ModelMissing``)."""
        path = hub.cache.path(MODEL_NAME, MODEL_FILE)
        return hub.shared(HUB_KEY, lambda: cls(path))

    def load(self) -> None:
        """Create the onnxruntime session now (blocking; thread-safe, idempotent)."""
        with self._lock:
            self._load_locked()

    async def warmup(self) -> None:
        """Load the session in a worker thread so the first decision does not pay for it."""
        if self._session is None:
            await asyncio.to_thread(self.load)

    def _load_locked(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The model is int8. On x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) onnxruntime's
        # default u8s8 kernel saturates its 16-bit sums: the same audio scored 0.90 there and
        # 0.94 elsewhere. The exact u8u8 kernel gives every CPU the same probabilities; CPUs
        # with VNNI ignore the option.
        options.add_session_config_entry("session.x64quantprecision", "1")
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ProviderError(
                f"cannot load Smart Turn from {self.path}: {exc}",
                hint="the file may be damaged: run `graphflow models download smart-turn` again",
                retryable=False,
            ) from exc

    # ------------------------------------------------------------------- running
    def run_batch(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities for a ``[B, 80, 800]`` batch, computed now (blocking; thread-safe)."""
        with self._lock:
            self._load_locked()
            start = time.perf_counter_ns()
            try:
                out = self._session.run(None, {"input_features": features})[0]
            except Exception as exc:
                raise ProviderError(f"Smart Turn inference failed: {exc}", retryable=False) from exc
            self.call_time.add(time.perf_counter_ns() - start)
            self.calls += 1
            self.items += len(features)
            self.batch_sizes.append(len(features))
            del self.batch_sizes[:-1000]
        probs: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32).reshape(len(features))
        return probs

    async def features(
        self, window: npt.NDArray[np.int16] | npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Smart Turn features of a 16 kHz ``window``, computed on the executor's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, smart_turn_features, window)

    async def predict(self, features: npt.NDArray[np.float32]) -> float:
        """Probability that the turn is complete, for ``[80, 800]`` features (batched)."""
        if features.shape != (N_MELS, N_FRAMES) or features.dtype != np.float32:
            raise FrameError(
                f"Smart Turn takes float32 features shaped ({N_MELS}, {N_FRAMES}), "
                f"got {features.dtype} {features.shape}",
                hint="compute them with nodes.turn.features.smart_turn_features",
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((features, future))
        worker = self._worker
        if worker is None or worker.done() or worker.get_loop() is not loop:
            self._worker = loop.create_task(self._serve(), name="smart-turn:batch")
        return await future

    async def _serve(self) -> None:
        """Run queued requests in batches until none is left."""
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            live = [(f, fut) for f, fut in batch if not fut.done()]
            if not live:
                continue
            stacked = np.stack([f for f, _ in live])
            try:
                probs = await asyncio.get_running_loop().run_in_executor(self._pool, self.run_batch, stacked)
            except asyncio.CancelledError:
                for _, fut in live + self._pending:
                    fut.cancel()
                self._pending.clear()
                raise
            except Exception as exc:
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), p in zip(live, probs, strict=True):
                if not fut.done():
                    fut.set_result(float(p))

    @property
    def queued(self) -> int:
        """Requests waiting for the next model call."""
        return len(self._pending)

    @property
    def busy(self) -> bool:
        """True while a batch is being served."""
        return self._worker is not None and not self._worker.done()

    async def drain(self) -> None:
        """Wait until the calls in flight on this event loop have finished."""
        worker = self._worker
        if worker is not None and not worker.done() and worker.get_loop() is asyncio.get_running_loop():
            await asyncio.wait({worker})
