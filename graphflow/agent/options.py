"""A voice session's settings in one typed struct, and ``--set key=value`` overrides for it.

:class:`SessionOptions` groups what a session builds: where audio comes from when no
other input is given (:class:`FileIO`), which provider does each stage's work (a
:class:`Provider`: a node registry name with its options), the VAD, turn detector and
interruption gate settings, the tool loop, when the user counts as away, and queue
bounds. ``graphflow run``, ``graphflow bench`` and the worker take ``--set
turn.min_delay_ms=300``-style overrides; :func:`with_overrides` applies them and the
struct validates and converts each value, naming the key that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from graphflow.agent.agent import DEFAULT_INSTRUCTIONS
from graphflow.agent.replies import ToolLoopOptions
from graphflow.errors import ConfigError
from graphflow.recording.recorder import RecordOptions
from graphflow.redact import mask_secrets
from nodes.audio.background import BackgroundOptions
from nodes.gate.interruption import GateOptions
from nodes.turn.options import TurnOptions
from nodes.vad.silero import SileroOptions

SHORT_NAMES = {
    "stt": {"whisper": "whisper_stt", "moonshine": "moonshine_stt", "openai": "openai_stt"},
    "llm": {"local": "local_responder", "openai": "openai_chat"},
    "tts": {"piper": "piper_tts", "espeak": "espeak_tts", "openai": "openai_tts"},
}
"""Short provider names per stage, and the registry names they stand for."""


class Provider(msgspec.Struct, frozen=True):
    """A stage's provider: a node registry name (or a short name such as ``whisper``) and its options."""

    name: str
    options: dict[str, Any] = {}

    @classmethod
    def of(cls, name: str, options: msgspec.Struct) -> Provider:
        """A provider with typed ``options`` (kept as the plain values the registry validates)."""
        values = msgspec.to_builtins(options)
        return cls(name, values if isinstance(values, dict) else {})

    def kind(self, stage: str) -> str:
        """The registry name, with a short name resolved for ``stage``."""
        return SHORT_NAMES.get(stage, {}).get(self.name, self.name)

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, options={mask_secrets(self.options)!r})"

    __str__ = __repr__


class FileIO(msgspec.Struct, frozen=True, kw_only=True):
    """The default input and output: a recording played in, the conversation written out."""

    input: str = ""
    output: str = ""
    paced: bool = True
    frame_ms: int = 20
    tail_silence_ms: int = 3000


class QueueOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Queue bounds of the session's own edges (every other edge has the engine's default)."""

    reference_frames: int = 256
    """Frames of the user's audio kept for a sink's echo reference (the oldest dropped)."""
    requests: int = 16
    """``say``/``generate`` requests waiting to enter the graph before the caller waits."""


class SessionOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a voice session builds, grouped by stage (see the module docstring)."""

    instructions: str = DEFAULT_INSTRUCTIONS
    files: FileIO = FileIO()
    stt: Provider = Provider("whisper")
    llm: Provider = Provider("local")
    tts: Provider = Provider("piper")
    vad: SileroOptions = SileroOptions()
    turn: TurnOptions = TurnOptions()
    gate: GateOptions = GateOptions()
    tool_loop: ToolLoopOptions = ToolLoopOptions()
    away_after_s: float = 15.0
    """The user counts as away after this long without a sound from either side."""
    queues: QueueOptions = QueueOptions()
    record: RecordOptions = RecordOptions()
    """Record the session into ``record.folder`` (docs/recording.md); empty: no recording."""
    trace: bool = False
    """Time every handler call and each frame's age (what the playground's live view shows)."""
    background: BackgroundOptions = BackgroundOptions()
    """An ambience and a thinking sound under the agent's voice (``background.enabled``; off by default)."""


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["turn.min_delay_ms=300", "stt.name=moonshine"]`` as a nested mapping of raw strings."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        path = [part for part in key.strip().split(".") if part]
        if not sep or not path:
            raise ConfigError(f"--set {pair!r}: expected key=value", hint="e.g. --set turn.min_delay_ms=300")
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {pair!r}: {part!r} was already given a value")
            node = child
        node[path[-1]] = value.strip()
    return tree


def with_overrides(options: SessionOptions, pairs: Iterable[str]) -> SessionOptions:
    """``options`` with the ``key=value`` overrides applied, converted and validated by the struct."""
    changes = parse_overrides(pairs)
    if not changes:
        return options
    base = msgspec.to_builtins(options)
    _check_keys(changes, base, SessionOptions, "")
    merged = _merge(base, changes)
    try:
        return msgspec.convert(merged, SessionOptions, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"--set: {exc}", hint="see docs/cli.md for the keys and their types") from None


def _check_keys(changes: dict[str, Any], base: dict[str, Any], struct: type, prefix: str) -> None:
    """Refuse a key the options do not have, with the keys they do have."""
    for key, value in changes.items():
        where = f"{prefix}{key}"
        if key not in base:
            if prefix.endswith("options."):
                continue  # a provider's options: the registry checks them against its node
            known = ", ".join(sorted(base))
            raise ConfigError(f"--set: no option {where!r}", hint=f"known here: {known}")
        if not isinstance(value, dict) and isinstance(base[key], dict) and not where.endswith(".options"):
            some = next(iter(base[key]), "key")
            raise ConfigError(f"--set: {where!r} is a group of options", hint=f"set one: {where}.{some}=...")
        if isinstance(value, dict):
            inner = base[key]
            if not isinstance(inner, dict):
                raise ConfigError(f"--set: {where!r} is a value, not a group", hint=f"use --set {where}=...")
            _check_keys(value, inner, struct, f"{where}.")


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
