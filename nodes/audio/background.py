"""Background audio: an ambient loop and a "thinking" sound layered under the agent's voice.

:class:`BackgroundMixer` sits between the interruption gate and the sink. Each voice frame
passes on at once with the ambience mixed under it; while no voice is queued for the sink,
the mixer sends frames of background of its own, paced by the user's audio (one frame of
``frame_ms`` ahead of the sink's playhead). These frames belong to no reply
(``reply_id == ""``): a sink plays and records them but reports no reply for them.

The thinking sound plays, over the ambience, while a reply is due and nothing is heard:
``thinking_after_ms`` after the user's turn ended with no answer yet, or after the reply's
last voice so far while its text is not complete (a tool running, a slow next sentence).
It stops the moment voice comes, and at once on a cancellation — the mixer is a target
of the gate's barge-in — whose queued frames the flush drops. While playout is paused
(the user talking over the agent) nothing is sent.

``layer_background`` puts a mixer into a voice graph; ``SessionOptions.background``
turns it on (``enabled``) for a session.
"""

from __future__ import annotations

import msgspec
import numpy as np

from graphflow.conversation.playout import Playout, PlayoutEvent
from graphflow.errors import ConfigError
from graphflow.frames import AudioFrame, EndOfTurn, ReplyDelta, ReplyEnd, SpeechAudio, TurnKind, VADEvent
from graphflow.graph import Graph
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.cancellation import CancelInfo
from graphflow.timebase import MS, ns_to_samples, samples_to_ns
from nodes.audio.background_sounds import SoundLoop, ambience, thinking


class BackgroundOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The layers under the agent's voice: their sounds (a file, or ``""``: generated) and volumes."""

    enabled: bool = False
    """Put a background mixer in the session's graph (off: the graph is as without it)."""
    ambient_file: str = ""
    """The ambient loop (any format FFmpeg reads); empty: a generated soft room tone."""
    ambient_volume: float = 0.1
    """Gain of the ambience (0 turns it off; the generated one peaks at 0.5 before it)."""
    thinking_file: str = ""
    """The thinking loop; empty: a generated gentle two-tone pulse."""
    thinking_volume: float = 0.3
    """Gain of the thinking sound (0 turns it off)."""
    thinking_after_ms: int = 500
    """How long a due reply may stay silent before the thinking sound starts."""
    frame_ms: int = 20
    """Length of the background frames sent while the agent is silent."""
    rate: int = 16000
    """Rate of those frames until the voice's own rate is known."""


def check_options(options: BackgroundOptions) -> None:
    """Refuse volumes outside [0, 4], a negative threshold or a frame outside 5-100 ms."""
    o = options
    for field, volume in (("ambient_volume", o.ambient_volume), ("thinking_volume", o.thinking_volume)):
        if not 0.0 <= volume <= 4.0:
            raise ConfigError(f"background {field} must be within [0, 4], got {volume}")
    if o.thinking_after_ms < 0:
        raise ConfigError(f"background thinking_after_ms must be >= 0, got {o.thinking_after_ms}")
    if not 5 <= o.frame_ms <= 100 or o.rate <= 0:
        raise ConfigError(
            f"background frame_ms must be within 5-100 and rate > 0 (got {o.frame_ms}, {o.rate})"
        )


class BackgroundMixer(Node):
    """Mixes an ambient loop under the voice and fills the silences; a thinking sound while a reply is late.

    Latency ``frame_ms``: a voice frame leaves in the call that brings it, but the sink may
    still be playing the background frame sent just before it.
    """

    Options = BackgroundOptions
    options: BackgroundOptions
    voice = Input(SpeechAudio, handler="on_voice")
    pace = Input(AudioFrame | VADEvent, required=False, handler="on_pace")
    turns = Input(EndOfTurn, required=False, handler="on_turn")
    replies = Input(ReplyDelta | ReplyEnd, required=False, handler="on_reply")
    out = Output(SpeechAudio, follows="voice")

    def __init__(
        self,
        options: BackgroundOptions | None = None,
        *,
        name: str | None = None,
        playout: Playout | None = None,
    ) -> None:
        super().__init__(options, name=name)
        check_options(self.options)
        o = self.options
        self.ambience = SoundLoop(o.ambient_file, ambience)
        self.thinking = SoundLoop(o.thinking_file, thinking)
        self.playout = playout or Playout()
        self.playout.listeners.append(self._on_playout)
        self.origin: int | None = None
        """Clock time of the ambience's first sample (its loop runs on from there)."""
        self.horizon = 0
        """Clock time at which everything sent so far will have been played."""
        self.due = False
        """A reply is on its way (a turn ended; its voice has not all come)."""
        self.text_done = False
        """The due reply's text is complete (the language model's ``ReplyEnd`` came)."""
        self.silent_since: int | None = None
        """Since when a due reply has been silent (the thinking sound starts ``thinking_after_ms`` later)."""
        self.rate = 0
        self.paused_left = 0
        self.seen_generation = 0
        self.thinking_plays = 0
        """How many times the thinking sound started."""
        self._thinking_from: int | None = None

    def latency(self) -> int:
        """One background frame: the most a reply's first voice waits behind at the sink."""
        return self.options.frame_ms * MS

    # ------------------------------------------------------------------ inputs
    def on_voice(self, frame: SpeechAudio) -> None:
        """Pass a voice frame on with the ambience under it."""
        self._follow_generation()
        now = self.now()
        self.rate = frame.rate
        self._stop_thinking()
        start = max(self.horizon, now)
        n = frame.samples_per_channel
        self.horizon = start + samples_to_ns(n, frame.rate)
        if frame.last or self.text_done:  # the reply's words are all on their way: no more thinking
            self._reply_over()
        elif self.due:  # more is to come (a tool may be running): silence from here on is thinking
            self.silent_since = self.horizon
        under = self._ambience(start, frame.rate, n)
        if under is None:
            self.out.push(frame)
            return
        self.out.push(msgspec.structs.replace(frame, samples=_mix(frame.samples, under)))

    def on_pace(self, frame: AudioFrame | VADEvent) -> None:
        """The user's audio keeps time: send background while nothing else is queued for the sink."""
        if isinstance(frame, VADEvent):
            return
        self._follow_generation()
        now = self.now()
        if self.origin is None:
            self.origin = now
        if self.playout.paused:
            return
        step = self.options.frame_ms * MS
        while self.horizon < now + step:
            start = max(self.horizon, now)
            self.horizon = start + step
            self._send_background(start)

    def on_turn(self, frame: EndOfTurn) -> None:
        """A turn ended: a reply is due (a tentative, preemptive turn is not decided yet)."""
        self._follow_generation()
        if frame.kind == TurnKind.PREEMPTIVE:
            return
        self.due, self.text_done = True, False
        self.silent_since = max(self.now(), self.horizon)

    def on_reply(self, frame: ReplyDelta | ReplyEnd) -> None:
        """The reply's text is complete: once its voice comes, what is left is speech, not thinking."""
        self._follow_generation()
        if isinstance(frame, ReplyEnd):
            if frame.text.strip() and not frame.error:
                self.text_done = True
            else:  # nothing will be said
                self._reply_over()

    def on_cancel(self, info: CancelInfo) -> object:
        """A barge-in: no reply is due any more; the thinking sound stops now."""
        was = self._thinking_from is not None
        self._reply_over()
        self.seen_generation = self.generation
        self.horizon = self.now()  # what was queued for the sink is flushed, and it fell silent
        self.paused_left = 0
        return {"thinking": was}

    # ----------------------------------------------------------------- helpers
    def _follow_generation(self) -> None:
        """A cancellation the mixer was not a target of (a typed turn) also ends the due reply."""
        generation = self.generation
        if generation != self.seen_generation:
            self.seen_generation = generation
            self._reply_over()

    def _reply_over(self) -> None:
        self.due = self.text_done = False
        self.silent_since = None
        self._stop_thinking()

    def _stop_thinking(self) -> None:
        self._thinking_from = None

    def _send_background(self, start: int) -> None:
        rate = self._rate()
        n = ns_to_samples(self.options.frame_ms * MS, rate)
        layers = [self._ambience(start, rate, n), self._thinking(start, rate, n)]
        present = [layer for layer in layers if layer is not None]
        if not present:
            return
        mix = np.sum(present, axis=0)
        pcm = np.clip(mix * 32768.0, -32768, 32767).astype(np.int16).reshape(-1, 1)
        media = self.playout.timeline.media(start)
        self.out.push(SpeechAudio(samples=pcm, rate=rate, pts=media))

    def _ambience(self, start: int, rate: int, n: int) -> np.ndarray | None:
        volume = self.options.ambient_volume
        if volume <= 0:
            return None
        origin = self.origin if self.origin is not None else start
        return self.ambience.read(rate, ns_to_samples(start - origin, rate), n) * volume

    def _thinking(self, start: int, rate: int, n: int) -> np.ndarray | None:
        volume, since = self.options.thinking_volume, self.silent_since
        if volume <= 0 or not self.due or since is None:
            return None
        begins = since + self.options.thinking_after_ms * MS
        if start < begins:
            return None
        if self._thinking_from is None:
            self._thinking_from = begins
            self.thinking_plays += 1
        return self.thinking.read(rate, ns_to_samples(start - self._thinking_from, rate), n) * volume

    def _rate(self) -> int:
        if self.rate:
            return self.rate
        declared = self.out.format
        return declared.rate if declared is not None and declared.rate else self.options.rate

    def _on_playout(self, event: PlayoutEvent) -> None:
        """Keep the playhead estimate across a pause: what was left plays after the resume."""
        if event.kind == "paused":
            self.paused_left = max(0, self.horizon - event.at)
        elif event.kind == "resumed":
            self.horizon = event.at + self.paused_left
            self.paused_left = 0


def _mix(samples: np.ndarray, under: np.ndarray) -> np.ndarray:
    """``under`` (float, [-1, 1]) added to every channel of ``samples``, in their own sample format."""
    if samples.dtype == np.int16:
        mixed = samples.astype(np.float32) + (under * 32768.0)[:, None]
        return np.clip(mixed, -32768, 32767).astype(np.int16)
    mixed_float: np.ndarray = np.clip(samples + under[:, None], -1.0, 1.0).astype(samples.dtype)
    return mixed_float


def layer_background(
    g: Graph,
    options: BackgroundOptions,
    gate: Node,
    sink: Node,
    pace: Node,
    turns: Node,
    replies: Node,
    playout: Playout,
) -> BackgroundMixer:
    """Put a mixer between ``gate`` and ``sink`` in ``g``; the gate's cancellation stops its thinking sound.

    The sink must play audio of no reply (``plays_unreported``, as the file and room sinks do).

    ``pace`` (the user's audio), ``turns`` (the turns that end) and ``replies`` (the language
    model's output) feed it by their ``out`` ports; the gate cancels it as it cancels the sink.
    """
    if not getattr(sink, "plays_unreported", False):
        raise ConfigError(
            f"background audio needs a sink that plays audio of no reply; {type(sink).__name__} does not",
            hint="use it with FileSink or RoomAudioSink, or set background.enabled=false",
        )
    mixer = BackgroundMixer(options, name="background", playout=playout)
    g.connect(gate.outputs["out"], mixer.voice)
    g.connect(mixer.out, sink.inputs["inp"])
    g.connect(pace.outputs["out"], mixer.pace)
    g.connect(turns.outputs["out"], mixer.turns)
    g.connect(replies.outputs["out"], mixer.replies)
    g.cancels(gate, mixer)
    return mixer
