"""Pipecat 1.14 pieces for the peer benchmark: a paced microphone, a playing speaker, an
instrumented Silero VAD and fixed-delay STT / LLM / TTS stand-ins, wired the idiomatic
1.14 way (VAD and Smart Turn v3 live in the user context aggregator).

Every time stamp is ``time.perf_counter()`` seconds; ``SessionLog`` collects them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import STTSettings, TTSSettings
from pipecat.services.stt_latency import DEFAULT_TTFS_P99
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import (
    UserTurnStrategies,
    default_user_turn_start_strategies,
    default_user_turn_stop_strategies,
)
from pipecat.utils.time import time_now_iso8601
from pipecat.workers.runner import WorkerRunner

try:  # the worker's default idle timeout (seconds), for the settings record
    from pipecat.pipeline.worker import IDLE_TIMEOUT_SECS
except ImportError:  # pragma: no cover - other pipecat versions
    IDLE_TIMEOUT_SECS = None

RATE = 16000
FRAME = 320  # 20 ms
WINDOW = 512  # Silero window at 16 kHz (32 ms)
STT_DELAY_S = 0.150
LLM_TTFT_S = 0.200
TTS_FIRST_AUDIO_S = 0.100
REPLY_SECONDS = 4.0
REPLY = "Sure, here is what I found for you in one short reply."  # one sentence: one run_tts
STT_TTFS_P99_S = 0.5
"""The stand-in STT's ``ttfs_p99_latency`` (speech end → final transcript, p99): Pipecat asks
every STT service for its measured figure (it warns and assumes 1.0 s otherwise). The stand-in's
is stop_secs 0.2 + 150 ms ≈ 0.35 s; 0.5 s leaves room, and it never binds here because each
transcript is finalized, which releases the turn at once."""
TTS_PUSH_START_FRAME = True  # as Pipecat's own HTTP TTS services (DeepgramHttpTTSService, AWS Polly)
TTS_PUSH_STOP_FRAMES = True
ENABLE_RTVI = False  # no RTVI client here
IDLE_TIMEOUT_S: float | None = None  # a session ends when the mic has played everything


@dataclass
class SessionLog:
    """What one session saw, on the ``perf_counter`` clock."""

    t0: float | None = None  # wall time the first input frame was fed
    windows: list[tuple[float, bool, float]] = field(default_factory=list)  # media end s, speech?, at
    frame_lag: list[float] = field(default_factory=list)  # s, VAD receives frame k vs t0 + k·20 ms
    onsets: list[float] = field(default_factory=list)  # VAD reports SPEAKING (VADUserStartedSpeaking)
    stops: list[float] = field(default_factory=list)  # VAD reports QUIET (VADUserStoppedSpeaking)
    turns: list[float] = field(default_factory=list)  # LLMContextFrame reaches the LLM
    tts_calls: list[float] = field(default_factory=list)  # run_tts called (text reached the TTS)
    llm_timed: list[tuple[float, float]] = field(default_factory=list)  # stand-in LLM call: start, answer
    tts_timed: list[tuple[float, float]] = field(default_factory=list)  # stand-in TTS call: start, 1st audio
    played: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds) per chunk
    transcripts: list[str] = field(default_factory=list)  # STT script, one per utterance fed
    utterance: int = 0  # index into ``transcripts`` of the utterance being fed

    def speech_end(self, before: float) -> float | None:
        """Wall time of the end of the last window counted as speech, scored before ``before``."""
        ends = [end for end, speech, at in self.windows if speech and at <= before]
        return None if not ends or self.t0 is None else self.t0 + max(ends)

    def run_at(self, t: float) -> tuple[float, float] | None:
        """(start, end) of the run of back-to-back agent chunks playing at ``t``, if any."""
        start = end = None
        for s, seconds in self.played:
            if end is None or s - end > 1e-3:
                if start is not None and end is not None and start <= t <= end:
                    return start, end
                start = s
            end = s + seconds
        return (start, end) if start is not None and end is not None and start <= t <= end else None


class InstrumentedSileroVAD(SileroVADAnalyzer):
    """Pipecat's Silero analyzer, unchanged, recording each 32 ms window's speech verdict.

    A window counts as speech exactly when pipecat's ``_run_analyzer`` says so:
    ``confidence >= params.confidence and smoothed volume >= params.min_volume``.
    """

    def __init__(self, log: SessionLog, params: VADParams) -> None:
        super().__init__(sample_rate=RATE, params=params)
        self._log = log
        self._confidence = 0.0
        self._window = 0
        self._frames = 0
        self._reported = VADState.QUIET

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)
        self._confidence = float(np.asarray(confidence).reshape(-1)[0])
        return confidence

    def _get_smoothed_volume(self, audio: bytes) -> float:
        volume = super()._get_smoothed_volume(audio)  # called once per window, after confidence
        speech = self._confidence >= self.params.confidence and volume >= self.params.min_volume
        self._window += 1
        self._log.windows.append((self._window * WINDOW / RATE, speech, time.perf_counter()))
        return volume

    async def analyze_audio(self, buffer: bytes) -> VADState:
        if self._log.t0 is not None:
            self._log.frame_lag.append(time.perf_counter() - (self._log.t0 + self._frames * FRAME / RATE))
        self._frames += len(buffer) // 2 // FRAME
        state = await super().analyze_audio(buffer)
        # VADController reports exactly these transitions, right after this returns.
        if state in (VADState.SPEAKING, VADState.QUIET) and state != self._reported:
            (self._log.onsets if state == VADState.SPEAKING else self._log.stops).append(time.perf_counter())
            self._reported = state
        return state


class PacedInput(BaseInputTransport):
    """A microphone: pushes 20 ms frames at real-time pace from ``next_chunk`` until it says stop."""

    def __init__(self, log: SessionLog, next_chunk: Callable[[int], np.ndarray | None]) -> None:
        self.transport_params = TransportParams(audio_in_enabled=True, audio_in_sample_rate=RATE)
        super().__init__(self.transport_params)
        self._log, self._next_chunk = log, next_chunk
        self._feeder: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        self._feeder = self.create_task(self._feed(), "paced-input")

    async def _feed(self) -> None:
        k = 0
        while (chunk := self._next_chunk(k)) is not None:
            now = time.perf_counter()
            if self._log.t0 is None:
                self._log.t0 = now
            else:
                await asyncio.sleep(max(0.0, self._log.t0 + k * FRAME / RATE - now))
            await self.push_audio_frame(InputAudioRawFrame(chunk.tobytes(), RATE, 1))
            k += 1
        self.finished.set()

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_feeder()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._stop_feeder()
        await super().cancel(frame)

    async def _stop_feeder(self) -> None:
        if self._feeder is not None:
            await self.cancel_task(self._feeder)
            self._feeder = None


class PlayingOutput(BaseOutputTransport):
    """A speaker: each chunk plays for its duration, back to back; records when each started."""

    def __init__(self, log: SessionLog) -> None:
        self.transport_params = TransportParams(audio_out_enabled=True, audio_out_sample_rate=RATE)
        super().__init__(self.transport_params)
        self._log = log
        self._free_at = 0.0

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        now = time.perf_counter()
        start = self._free_at if now - self._free_at < 0.005 else now  # contiguous unless idle
        seconds = len(frame.audio) / 2 / frame.sample_rate
        self._log.played.append((start, seconds))
        self._free_at = start + seconds
        await asyncio.sleep(max(0.0, self._free_at - time.perf_counter()))
        return True


class StandInSTT(STTService):
    """Final transcript of the utterance being fed, ``STT_DELAY_S`` after each VAD stop."""

    def __init__(self, log: SessionLog) -> None:
        super().__init__(
            sample_rate=RATE,
            ttfs_p99_latency=STT_TTFS_P99_S,
            settings=STTSettings(model=None, language=None),
        )
        self._log = log
        self._pending: set[asyncio.Task[None]] = set()

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        yield None  # the audio is not recognised; the script is

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            text = self._log.transcripts[min(self._log.utterance, len(self._log.transcripts) - 1)]
            task = self.create_task(self._transcribe(text), "stand-in-stt")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _transcribe(self, text: str) -> None:
        await asyncio.sleep(STT_DELAY_S)
        await self.push_frame(TranscriptionFrame(text, "user", time_now_iso8601(), finalized=True))

    async def cleanup(self) -> None:
        """Cancel transcripts still due when the session ends (tasks of create_task are ours to end)."""
        await super().cleanup()
        for task in list(self._pending):
            await self.cancel_task(task)


class StandInLLM(FrameProcessor):
    """Answers each ``LLMContextFrame`` with the whole reply in one chunk after ``LLM_TTFT_S``."""

    def __init__(self, log: SessionLog) -> None:
        super().__init__()
        self._log = log
        self._reply: asyncio.Task[None] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            self._log.turns.append(time.perf_counter())
            await self._cancel_reply()
            self._reply = self.create_task(self._answer(), "stand-in-llm")
            return
        if isinstance(frame, InterruptionFrame):
            await self._cancel_reply()
        await self.push_frame(frame, direction)

    async def _answer(self) -> None:
        start = time.perf_counter()
        await asyncio.sleep(LLM_TTFT_S)
        self._log.llm_timed.append((start, time.perf_counter()))
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(REPLY))
        await self.push_frame(LLMFullResponseEndFrame())

    async def _cancel_reply(self) -> None:
        if self._reply is not None and not self._reply.done():
            await self.cancel_task(self._reply)
        self._reply = None

    async def cleanup(self) -> None:
        """Cancel a reply still in flight when the session ends (tasks of create_task are ours to end)."""
        await super().cleanup()
        await self._cancel_reply()


class StandInTTS(TTSService):
    """HTTP-style TTS: first audio ``TTS_FIRST_AUDIO_S`` after the text, then 4 s in 20 ms frames."""

    def __init__(self, log: SessionLog) -> None:
        self._log = log
        super().__init__(
            push_start_frame=TTS_PUSH_START_FRAME,
            push_stop_frames=TTS_PUSH_STOP_FRAMES,
            sample_rate=RATE,
            settings=TTSSettings(model=None, voice=None, language=None),
        )
        t = np.arange(int(REPLY_SECONDS * RATE)) / RATE
        self._audio = (np.sin(2 * np.pi * 220 * t) * 6000).astype(np.int16).tobytes()

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        start = time.perf_counter()
        self._log.tts_calls.append(start)
        await asyncio.sleep(TTS_FIRST_AUDIO_S)
        self._log.tts_timed.append((start, time.perf_counter()))
        step = FRAME * 2
        for i in range(0, len(self._audio), step):
            yield TTSAudioRawFrame(self._audio[i : i + step], RATE, 1, context_id=context_id)


@dataclass
class Session:
    worker: PipelineWorker
    input: PacedInput
    log: SessionLog
    output: PlayingOutput
    vad: SileroVADAnalyzer
    vad_in: str
    turn_analyzer: LocalSmartTurnAnalyzerV3
    strategies: UserTurnStrategies
    user_params: LLMUserAggregatorParams

    async def run(self) -> None:
        """Run until the mic has played everything, then cancel the pipeline."""
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        task = asyncio.create_task(runner.run())
        await self.input.finished.wait()
        await self.worker.cancel()
        await task


def build_session(
    log: SessionLog, next_chunk: Callable[[int], np.ndarray | None], vad_in: str = "aggregator"
) -> Session:
    """mic → STT → user aggregator (Silero VAD + Smart Turn v3) → LLM → TTS → speaker → assistant.

    ``vad_in="processor"`` instead runs the VAD in a ``VADProcessor`` right after the mic (the
    aggregator then takes its VAD frames), so Smart Turn inference no longer holds up the VAD.
    """
    # Pipecat's recommended turn stack, every parameter at its default: VADParams() is
    # confidence 0.7, start_secs 0.2, stop_secs 0.2 (the value Smart Turn and the STT
    # latency figures assume), min_volume 0.6; the stop strategy is Pipecat's default one.
    vad = InstrumentedSileroVAD(log, VADParams())
    turn_analyzer = LocalSmartTurnAnalyzerV3()
    strategies = UserTurnStrategies(stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=turn_analyzer)])
    in_aggregator = vad_in == "aggregator"
    user_params = LLMUserAggregatorParams(
        vad_analyzer=vad if in_aggregator else None, user_turn_strategies=strategies
    )
    pair = LLMContextAggregatorPair(LLMContext(), user_params=user_params)
    mic = PacedInput(log, next_chunk)
    front: list[FrameProcessor] = [mic] if in_aggregator else [mic, VADProcessor(vad_analyzer=vad)]
    speaker = PlayingOutput(log)
    pipeline = Pipeline(
        [
            *front,
            StandInSTT(log),
            pair.user(),
            StandInLLM(log),
            StandInTTS(log),
            speaker,
            pair.assistant(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        enable_rtvi=ENABLE_RTVI,
        idle_timeout_secs=IDLE_TIMEOUT_S,
    )
    return Session(worker, mic, log, speaker, vad, vad_in, turn_analyzer, strategies, user_params)


# ------------------------------------------------------------------ settings
WHY = {
    "LLMUserAggregatorParams.vad_analyzer": "the VAD lives in the user aggregator in Pipecat 1.14",
    "TransportParams(input).audio_in_enabled": "the paced mic feeds audio",
    "TransportParams(input).audio_in_sample_rate": "the fixtures are 16 kHz",
    "TransportParams(output).audio_out_enabled": "the speaker plays the agent's audio",
    "TransportParams(output).audio_out_sample_rate": "the stand-in TTS speaks 16 kHz",
    "PipelineParams.audio_out_sample_rate": "the stand-in TTS speaks 16 kHz (graphflow's output rate)",
    "PipelineWorker.enable_rtvi": "no RTVI client in a benchmark",
    "PipelineWorker.idle_timeout_secs": "the harness ends each session when the mic has played everything",
    "STTService.ttfs_p99_latency": "a stand-in has no built-in figure; Pipecat asks for the measured one "
    "(the stand-in's is about 0.35 s); never binds, the transcript is finalized",
    "TTSService.push_start_frame": "as Pipecat's own HTTP TTS services (DeepgramHttpTTSService, AWS Polly)",
    "TTSService.push_stop_frames": "as Pipecat's own HTTP TTS services (DeepgramHttpTTSService, AWS Polly)",
}
"""Why each setting the peer changes from Pipecat's defaults is changed."""


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return type(value).__name__


def _changed(prefix: str, used: dict[str, Any], default: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"setting": f"{prefix}.{k}", "value": _jsonable(v), "default": _jsonable(default.get(k))}
        for k, v in used.items()
        if _jsonable(v) != _jsonable(default.get(k))
    ]


def _names(items: list[Any] | None) -> list[str]:
    return [type(item).__name__ for item in items or []]


def settings(session: Session) -> dict[str, Any]:
    """What ``session`` runs with, read from its built objects, next to Pipecat's own defaults.

    ``not_default`` lists every setting that differs from the installed Pipecat's default
    (the stand-ins' delays aside: they are the benchmark's fixed model times).
    """
    strategies = session.strategies
    stop = (strategies.stop or [None])[0]
    smart = session.turn_analyzer.params.model_dump()
    fields = dataclasses.fields(LLMUserAggregatorParams)
    user = {f.name: getattr(session.user_params, f.name) for f in fields}
    user_default = {f.name: getattr(LLMUserAggregatorParams(), f.name) for f in fields}
    user["user_turn_strategies"] = user_default["user_turn_strategies"] = None  # compared below
    worker_params = session.worker.params.model_dump()
    worker_default = PipelineParams().model_dump()
    inp, out = session.input.transport_params.model_dump(), session.output.transport_params.model_dump()
    transport_default = TransportParams().model_dump()
    worker = {"enable_rtvi": ENABLE_RTVI, "idle_timeout_secs": IDLE_TIMEOUT_S}
    stt = {"ttfs_p99_latency": STT_TTFS_P99_S}
    tts = {"push_start_frame": TTS_PUSH_START_FRAME, "push_stop_frames": TTS_PUSH_STOP_FRAMES}
    start_used, stop_used = _names(strategies.start), _names(strategies.stop)
    start_default = _names(default_user_turn_start_strategies())
    stop_default = _names(default_user_turn_stop_strategies())
    changed = [
        *_changed("VADParams", session.vad.params.model_dump(), VADParams().model_dump()),
        *_changed("SmartTurnParams", smart, SmartTurnParams().model_dump()),
        *_changed("LLMUserAggregatorParams", user, user_default),
        *_changed("TransportParams(input)", inp, transport_default),
        *_changed("TransportParams(output)", out, transport_default),
        *_changed("PipelineParams", worker_params, worker_default),
        *_changed("PipelineWorker", worker, {"enable_rtvi": True, "idle_timeout_secs": IDLE_TIMEOUT_SECS}),
        *_changed("STTService", stt, {"ttfs_p99_latency": None}),
        *_changed("TTSService", tts, {"push_start_frame": False, "push_stop_frames": False}),
        *_changed(
            "UserTurnStrategies",
            {"start": start_used, "stop": stop_used},
            {"start": start_default, "stop": stop_default},
        ),
    ]
    for row in changed:
        row["why"] = WHY.get(row["setting"], "")
    return {
        "vad": {
            "analyzer": "SileroVADAnalyzer",
            "in": "VADProcessor" if session.vad_in == "processor" else "LLMUserAggregatorParams.vad_analyzer",
            "params": session.vad.params.model_dump(),
            "pipecat_defaults": VADParams().model_dump(),
        },
        "turn": {
            "start_strategies": start_used,
            "stop_strategies": stop_used,
            "pipecat_default_strategies": {"start": start_default, "stop": stop_default},
            "wait_for_transcript": getattr(stop, "wait_for_transcript", None),
            "analyzer": type(session.turn_analyzer).__name__,
            "params": smart,
            "pipecat_defaults": SmartTurnParams().model_dump(),
        },
        "user_aggregator": {k: _jsonable(v) for k, v in user.items() if k != "user_turn_strategies"},
        "stt": {**stt, "pipecat_fallback_ttfs_p99": DEFAULT_TTFS_P99, "stand_in_delay_s": STT_DELAY_S},
        "llm": {"stand_in_first_token_s": LLM_TTFT_S},
        "tts": {**tts, "stand_in_first_audio_s": TTS_FIRST_AUDIO_S, "reply_s": REPLY_SECONDS},
        "transport": {
            "audio_in_sample_rate": inp["audio_in_sample_rate"],
            "audio_out_sample_rate": out["audio_out_sample_rate"],
            "audio_out_10ms_chunks": out["audio_out_10ms_chunks"],
        },
        "pipeline": {**_jsonable(worker_params), **worker},
        "not_default": changed,
    }
