"""``graphflow run TARGET --input in.wav``: talk to a recording, print the conversation and timings."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.agent.session import AgentSession
from graphflow.cli.overrides import add_set_argument
from graphflow.conversation.events import AgentStoppedSpeaking, SessionError, SessionEvent, TurnEnded
from graphflow.errors import ConfigError
from graphflow.loading import load_attribute
from graphflow.recording import write_transcript
from graphflow.timebase import to_seconds


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``run`` sub-command."""
    parser = commands.add_parser(
        "run",
        help="run a voice graph on an audio file",
        description="Run TARGET's build_session() on an audio file: the agent listens to the recording "
        "at real-time pace and answers; prints the conversation and per-turn timings.",
    )
    parser.add_argument("target", help="file.py or module with build_session() (e.g. graphs/voice_agent.py)")
    parser.add_argument(
        "--input", "-i", required=True, help="audio file to listen to (any format FFmpeg reads)"
    )
    parser.add_argument(
        "--output", "-o", default="", help="write the conversation here (WAV: you left, agent right)"
    )
    parser.add_argument("--transcript", "-t", type=Path, help="write one JSON object per utterance here")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="record the session here: audio.wav, transcript.jsonl, events.jsonl, trace.json, report.json",
    )
    parser.add_argument("--fast", action="store_true", help="feed audio as fast as possible (virtual clock)")
    parser.add_argument("--stt", help="speech-to-text provider (whisper, moonshine, openai)")
    parser.add_argument("--tts", help="text-to-speech provider (piper, espeak, openai)")
    parser.add_argument("--llm", help="language model (local, openai)")
    add_set_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the session, run it, print and write what happened."""
    location = args.target.partition(":")[0]
    factory = load_attribute(f"{location}:build_session")
    sets = [f"files.input={args.input}", f"files.output={args.output}"]
    sets += [f"record.folder={args.record}"] if args.record else []
    sets += [f"{key}.name={getattr(args, key)}" for key in ("stt", "tts", "llm") if getattr(args, key)]
    options = with_overrides(SessionOptions(), [*sets, *args.set])
    session = factory(options)
    if not isinstance(session, AgentSession):
        raise ConfigError(f"{location}:build_session returned {type(session).__name__}, not an AgentSession")
    session.subscribe(_print_event)
    try:
        if args.fast:
            from graphflow.runtime.clock import VirtualClock

            clock = VirtualClock()
            clock.run(session.run(clock))
        else:
            asyncio.run(session.run())
    finally:  # a session that failed is recorded too, up to where it stopped (see AgentSession.run)
        if session.recorder is not None:
            print(f"recorded the session in {session.recorder.folder}", file=sys.stderr)
    _print_summary(session)
    if args.transcript:
        write_transcript(args.transcript, session.transcript)
        print(f"wrote {args.transcript}", file=sys.stderr)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 1 if any(e.fatal for e in session.errors) else 0


def _print_event(event: SessionEvent) -> None:
    t = f"{to_seconds(event.media):7.2f}s"
    if isinstance(event, TurnEnded):
        print(f"{t}  user : {event.text}   [turn: {event.reason}, p={event.probability:.2f}]", flush=True)
    elif isinstance(event, AgentStoppedSpeaking):
        cut = "  [interrupted]" if event.interrupted else ""
        print(f"{t}  agent: {event.heard}{cut}", flush=True)
    elif isinstance(event, SessionError):
        print(f"{t}  error in {event.node or 'session'}: [{event.code}] {event.message}", flush=True)


def _print_summary(session: AgentSession) -> None:
    if not session.metrics:
        print("no exchanges")
        return
    print("\nper-turn timings (ms)")
    header = ("reply", "end of turn", "transcript", "LLM TTFT", "TTS TTFB", "voice-to-voice")
    print(f"{header[0]:<8} {header[1]:>12} {header[2]:>11} {header[3]:>9} {header[4]:>9} {header[5]:>15}")
    for m in session.metrics:
        print(
            f"{m.reply_id:<8} {_ms(m.end_of_turn_ms):>12} {_ms(m.transcript_ms):>11} {_ms(m.llm_ttft_ms):>9} "
            f"{_ms(m.tts_ttfb_ms):>9} {_ms(m.voice_to_voice_ms):>15}"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
